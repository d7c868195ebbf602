#include "checks/group_checker.h"

#include <algorithm>

#include "absl/container/btree_map.h"
#include "absl/container/btree_set.h"
#include "absl/strings/str_format.h"

namespace meridian::checks {
namespace {

bool Contains(const std::vector<int64_t>& partitions, int64_t partition) {
  return std::find(partitions.begin(), partitions.end(), partition) != partitions.end();
}

class GroupChecker {
 public:
  GroupChecker(const History& history, const absl::btree_map<int64_t, int64_t>& member_of_process)
      : member_of_process_(member_of_process) {
    for (const Operation& op : history.operations) {
      if (!op.ok()) continue;
      const bool member = member_of_process.contains(op.process);
      if (member && op.f == Function::kAssign) assigns_.push_back(&op);
      if (member && op.f == Function::kCommit) commits_.push_back(&op);
      if (member && op.f == Function::kPoll) polls_.push_back(&op);
      for (const Commit& start : op.starts) {
        deleted_below_[start.partition] = std::max(deleted_below_[start.partition], start.offset);
      }
      if (op.f == Function::kSend) sends_.push_back(&op);
    }
  }

  CheckReport Run() {
    CheckAssignments();
    for (const Operation* commit : commits_) CheckCommit(*commit);
    CheckSkips();
    report_.checker = "group";
    report_.verdict = report_.findings.empty() ? Verdict::kValid : Verdict::kInvalid;
    report_.notes.push_back(absl::StrFormat("%d processes, %d assigns, %d commits, %d polls",
                                            member_of_process_.size(), assigns_.size(),
                                            commits_.size(), polls_.size()));
    return report_;
  }

 private:
  void Add(std::string kind, std::string detail, std::vector<int64_t> ids) {
    std::sort(ids.begin(), ids.end());
    report_.findings.push_back(Finding{std::move(kind), std::move(detail), std::move(ids)});
  }

  void CheckAssignments() {
    // (generation, partition) -> the first member assign that holds it.
    absl::btree_map<std::pair<int64_t, int64_t>, const Operation*> owner;
    for (const Operation* assign : assigns_) {
      if (assign->generation < 0) continue;
      for (int64_t partition : assign->partitions) {
        auto [it, fresh] = owner.try_emplace({assign->generation, partition}, assign);
        if (!fresh && Member(*it->second) != Member(*assign)) {
          Add("double-assignment",
              absl::StrFormat("partition %d went to members %d and %d (processes %d and %d) in "
                              "generation %d",
                              partition, Member(*it->second), Member(*assign), it->second->process,
                              assign->process, assign->generation),
              {it->second->id, assign->id});
        }
      }
    }
  }

  void CheckCommit(const Operation& commit) {
    if (commit.generation < 0) return;
    const Operation* own = nullptr;
    for (const Operation* assign : assigns_) {
      if (Member(*assign) == Member(commit) && assign->generation == commit.generation) {
        own = assign;
      }
    }
    for (const Commit& c : commit.commits) {
      if (own == nullptr || !Contains(own->partitions, c.partition)) {
        Add("unowned-commit",
            absl::StrFormat("member %d (process %d) committed partition %d in generation %d "
                            "without it",
                            Member(commit), commit.process, c.partition, commit.generation),
            {commit.id});
      }
      for (const Operation* assign : assigns_) {
        if (assign->generation > commit.generation && assign->complete_ns < commit.invoke_ns &&
            Contains(assign->partitions, c.partition)) {
          Add("zombie-commit",
              absl::StrFormat("generation %d committed partition %d after generation %d had "
                              "given it to process %d",
                              commit.generation, c.partition, assign->generation, assign->process),
              {assign->id, commit.id});
          break;
        }
      }
      CheckAhead(commit, c);
    }
  }

  void CheckAhead(const Operation& commit, const Commit& c) {
    int64_t allowed = 0;
    for (const Operation* poll : polls_) {
      if (poll->complete_ns > commit.complete_ns) continue;
      for (const Read& read : poll->reads) {
        if (read.partition == c.partition) allowed = std::max(allowed, read.offset + 1);
      }
    }
    for (const Operation* earlier : commits_) {
      if (earlier->complete_ns >= commit.invoke_ns) continue;
      for (const Commit& e : earlier->commits) {
        if (e.partition == c.partition) allowed = std::max(allowed, e.offset);
      }
    }
    // A member started at the log start (retention had deleted what lay below it) may commit
    // that start before it reads anything: nothing below it can be given any more.
    for (const Operation* assign : assigns_) {
      // A process is sequential: its own assign that completed at the commit's instant came
      // first (the simulator's clock often does not move between two steps of one client).
      const bool before =
          assign->complete_ns < commit.invoke_ns ||
          (assign->process == commit.process && assign->complete_ns == commit.invoke_ns);
      if (!before) continue;
      for (const Commit& start : assign->starts) {
        if (start.partition == c.partition) allowed = std::max(allowed, start.offset);
      }
    }
    if (c.offset > allowed) {
      Add("commit-ahead",
          absl::StrFormat("process %d committed offset %d of partition %d; the group had been "
                          "given records below %d only",
                          commit.process, c.offset, c.partition, allowed),
          {commit.id});
    }
  }

  void CheckSkips() {
    absl::btree_map<int64_t, std::pair<int64_t, int64_t>> last_commit;  // partition -> (time, off)
    for (const Operation* commit : commits_) {
      for (const Commit& c : commit->commits) {
        auto& last = last_commit[c.partition];
        if (commit->complete_ns >= last.first) last = {commit->complete_ns, c.offset};
      }
    }
    absl::btree_set<std::pair<int64_t, int64_t>> polled;  // (partition, value)
    for (const Operation* poll : polls_) {
      for (const Read& read : poll->reads) polled.insert({read.partition, read.value});
    }
    for (const Operation* send : sends_) {
      auto last = last_commit.find(send->partition);
      if (last == last_commit.end()) continue;
      for (size_t i = 0; i < send->values.size() && i < send->offsets.size(); i++) {
        const auto deleted = deleted_below_.find(send->partition);
        if (deleted != deleted_below_.end() && send->offsets[i] < deleted->second) continue;
        if (send->offsets[i] < last->second.second &&
            !polled.contains({send->partition, send->values[i]})) {
          Add("group-skip",
              absl::StrFormat("value %d at offset %d of partition %d is below the group's "
                              "committed offset %d but no member polled it",
                              send->values[i], send->offsets[i], send->partition,
                              last->second.second),
              {send->id});
        }
      }
    }
  }

  int64_t Member(const Operation& op) const { return member_of_process_.at(op.process); }

  const absl::btree_map<int64_t, int64_t>& member_of_process_;
  std::vector<const Operation*> assigns_, commits_, polls_, sends_;
  // Partition -> an offset below which retention had deleted the log (assigns' starts).
  absl::btree_map<int64_t, int64_t> deleted_below_;
  CheckReport report_;
};

}  // namespace

absl::StatusOr<CheckReport> CheckGroup(const History& history,
                                       const absl::btree_map<int64_t, int64_t>& member_of_process) {
  return GroupChecker(history, member_of_process).Run();
}

}  // namespace meridian::checks

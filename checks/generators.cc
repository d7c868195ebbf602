#include "checks/generators.h"

#include <string>
#include <utility>

#include "absl/container/btree_map.h"
#include "absl/strings/str_cat.h"
#include "checks/assert.h"

namespace meridian::checks {

uint64_t SplitMix64::Next() {
  uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

int64_t SplitMix64::Below(int64_t bound) {
  CHECKS_ASSERT(bound > 0);
  return static_cast<int64_t>(Next() % static_cast<uint64_t>(bound));
}

namespace {

// Drives `processes_count` single-threaded clients through invoke -> effect -> complete, one
// step of one random client at a time, so operations overlap in every possible way. The effect
// (the instant the model changes) always falls between invocation and completion.
// `Model` provides Invoke(rng, &op) to fill the request and Apply(rng, &op) -> bool to take
// effect and fill the results (false: the operation could not happen and completes as fail).
template <typename Model>
void Simulate(int64_t processes_count, int64_t operations_count, int percent_indeterminate,
              int percent_fail, SplitMix64* rng, Model* model, History* history) {
  CHECKS_ASSERT(processes_count > 0);
  CHECKS_ASSERT(percent_indeterminate + percent_fail <= 100);
  struct Client {
    int64_t process = 0;
    int stage = 0;  // 0 idle, 1 invoked, 2 took effect (or never will)
    Operation op;
  };
  std::vector<Client> clients(processes_count);
  int64_t process_next = 0;
  for (Client& c : clients) c.process = process_next++;
  int64_t invoked = 0;
  int64_t in_flight = 0;
  int64_t time_ns = history->operations.empty() ? 0 : history->operations.back().complete_ns;
  while (invoked < operations_count || in_flight > 0) {
    time_ns += 1 + rng->Below(10);
    Client& c = clients[rng->Below(processes_count)];
    if (c.stage == 0) {
      if (invoked == operations_count) continue;
      c.op = Operation{};
      c.op.process = c.process;
      c.op.invoke_ns = time_ns;
      const int64_t fate = rng->Below(100);
      c.op.outcome = fate < percent_indeterminate                  ? Outcome::kInfo
                     : fate < percent_indeterminate + percent_fail ? Outcome::kFail
                                                                   : Outcome::kOk;
      model->Invoke(rng, &c.op);
      invoked++;
      in_flight++;
      c.stage = 1;
    } else if (c.stage == 1) {
      const bool happens = c.op.ok() || (c.op.indeterminate() && rng->Chance(50));
      if (happens && !model->Apply(rng, &c.op) && c.op.ok()) c.op.outcome = Outcome::kFail;
      c.stage = 2;
    } else {
      c.op.complete_ns = time_ns;
      if (!c.op.ok()) {  // only ok completions carry results
        c.op.offsets.clear();
        c.op.reads.clear();
        if (c.op.f == Function::kRead) c.op.value = kValueNone;
      }
      if (c.op.indeterminate()) {
        model->Crashed(c.process);
        c.process = process_next++;  // a crashed client never acts again
      }
      history->operations.push_back(std::move(c.op));
      in_flight--;
      c.stage = 0;
    }
  }
}

class LogModel {
 public:
  LogModel(const LogWorkload& workload) : workload_(workload), logs_(workload.partitions_count) {}

  void Invoke(SplitMix64* rng, Operation* op) {
    if (!positions_.contains(op->process)) {
      op->f = Function::kAssign;
      if (op->outcome == Outcome::kFail) op->outcome = Outcome::kOk;  // keeps consumers simple
      for (int64_t p = 0; p < workload_.partitions_count; p++) op->partitions.push_back(p);
      positions_[op->process] = std::vector<int64_t>(workload_.partitions_count, 0);
    } else if (rng->Chance(workload_.percent_send)) {
      op->f = Function::kSend;
      op->partition = rng->Below(workload_.partitions_count);
      const int64_t values_count = 1 + rng->Below(workload_.batch_values_max);
      for (int64_t i = 0; i < values_count; i++) op->values.push_back(value_next_++);
    } else if (rng->Chance(5)) {
      op->f = Function::kCommit;
      const std::vector<int64_t>& positions = positions_.at(op->process);
      for (int64_t p = 0; p < workload_.partitions_count; p++) {
        op->commits.push_back(Commit{p, positions[p]});
      }
    } else {
      op->f = Function::kPoll;
    }
  }

  bool Apply(SplitMix64* rng, Operation* op) {
    if (op->f == Function::kSend) {
      std::vector<int64_t>& log = logs_[op->partition];
      for (int64_t value : op->values) {
        op->offsets.push_back(static_cast<int64_t>(log.size()));
        log.push_back(value);
      }
    } else if (op->f == Function::kPoll) {
      std::vector<int64_t>& positions = positions_.at(op->process);
      for (int64_t p = 0; p < workload_.partitions_count; p++) {
        const int64_t count = rng->Below(workload_.poll_records_max + 1);
        for (int64_t i = 0; i < count && positions[p] < Size(p); i++, positions[p]++) {
          op->reads.push_back(Read{p, positions[p], logs_[p][positions[p]]});
        }
      }
    }
    return true;
  }

  void Crashed(int64_t process) { positions_.erase(process); }

  int64_t Size(int64_t partition) const { return static_cast<int64_t>(logs_[partition].size()); }
  int64_t At(int64_t partition, int64_t offset) const { return logs_[partition][offset]; }

 private:
  const LogWorkload workload_;
  std::vector<std::vector<int64_t>> logs_;
  absl::btree_map<int64_t, std::vector<int64_t>> positions_;  // process -> next offset
  int64_t value_next_ = 0;
};

void AppendFinalDrain(const LogWorkload& workload, const LogModel& model, History* history) {
  int64_t process = 0;
  int64_t time_ns = 0;
  for (const Operation& op : history->operations) {
    process = std::max(process, op.process + 1);
    time_ns = std::max(time_ns, op.complete_ns == kTimeNsInfinite ? op.invoke_ns : op.complete_ns);
  }
  Operation assign;
  assign.process = process;
  assign.f = Function::kAssign;
  assign.outcome = Outcome::kOk;
  for (int64_t p = 0; p < workload.partitions_count; p++) assign.partitions.push_back(p);
  assign.invoke_ns = ++time_ns;
  assign.complete_ns = ++time_ns;
  history->operations.push_back(assign);
  constexpr int64_t kDrainRecordsMax = 1000;
  std::vector<int64_t> positions(workload.partitions_count, 0);
  bool more = true;
  while (more) {
    more = false;
    Operation poll;
    poll.process = process;
    poll.f = Function::kPoll;
    poll.outcome = Outcome::kOk;
    poll.invoke_ns = ++time_ns;
    for (int64_t p = 0; p < workload.partitions_count; p++) {
      for (int64_t i = 0; i < kDrainRecordsMax && positions[p] < model.Size(p); i++) {
        poll.reads.push_back(Read{p, positions[p], model.At(p, positions[p])});
        positions[p]++;
      }
      more = more || positions[p] < model.Size(p);
    }
    poll.complete_ns = ++time_ns;
    history->operations.push_back(std::move(poll));
  }
}

class RegisterModel {
 public:
  explicit RegisterModel(const RegisterWorkload& workload) : workload_(workload) {}

  void Invoke(SplitMix64* rng, Operation* op) {
    if (workload_.keys_count > 1) op->key = absl::StrCat("k", rng->Below(workload_.keys_count));
    const int64_t kind = rng->Below(100);
    if (kind < workload_.percent_read) {
      op->f = Function::kRead;
    } else if (kind < workload_.percent_read + workload_.percent_write) {
      op->f = Function::kWrite;
      op->value = rng->Below(workload_.values_count);
    } else {
      op->f = Function::kCas;
      op->expected = rng->Below(workload_.values_count);
      op->value = rng->Below(workload_.values_count);
    }
  }

  bool Apply(SplitMix64* rng, Operation* op) {
    auto [it, inserted] = values_.try_emplace(op->key, kValueNone);
    switch (op->f) {
      case Function::kRead:
        op->value = it->second;
        return true;
      case Function::kWrite:
        it->second = op->value;
        return true;
      case Function::kCas:
        if (it->second != op->expected) return false;
        it->second = op->value;
        return true;
      default:
        CHECKS_ASSERT_MSG(false, "not a register operation");
    }
    return false;
  }

  void Crashed(int64_t process) {}

 private:
  const RegisterWorkload workload_;
  absl::btree_map<std::string, int64_t> values_;
};

}  // namespace

History GenerateLogHistory(const LogWorkload& workload, uint64_t seed) {
  CHECKS_ASSERT(workload.partitions_count > 0);
  CHECKS_ASSERT(workload.batch_values_max > 0);
  SplitMix64 rng(seed);
  LogModel model(workload);
  History history;
  Simulate(workload.processes_count, workload.operations_count, workload.percent_indeterminate,
           workload.percent_fail, &rng, &model, &history);
  if (workload.final_drain) AppendFinalDrain(workload, model, &history);
  FinishHistory(&history);
  return history;
}

History GenerateRegisterHistory(const RegisterWorkload& workload, uint64_t seed) {
  CHECKS_ASSERT(workload.keys_count > 0);
  CHECKS_ASSERT(workload.values_count > 0);
  SplitMix64 rng(seed);
  RegisterModel model(workload);
  History history;
  Simulate(workload.processes_count, workload.operations_count, workload.percent_indeterminate, 0,
           &rng, &model, &history);
  FinishHistory(&history);
  return history;
}

}  // namespace meridian::checks

// core/replica's durable files damaged at rest (core/replica/README.md; core/raft design.md
// "Damaged replicas" (3) and (4)): the hard state kept in two copies, every copy of it lost, the
// snapshot lost. Each time the replica must open again rather than keep its node down, and
// must not serve or vote with what it lost. The three-voter rules (an amnesiac learns every
// voter's term first) are core/raft's LostHardState tests and //tests:raft_cluster_test's
// VoteWithLostHardState; here, what the driver does with the files.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <map>

#include "core/replica/mark_table.h"
#include "core/replica/replica.h"
#include "core/replica/storage.h"
#include "io/probe.h"
#include "sim/sim_disk.h"
#include "tests/log/log_test_support.h"

namespace meridian::tests::log {
namespace {

using core::replica::StoredHardState;
using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr int kEntries = 20;
const std::string kDir = "raft";

core::replica::ReplicaOptions SingleVoter() {
  core::replica::ReplicaOptions options;
  options.raft.id = SimNode::kNode;
  options.raft.bootstrap.voters.insert(SimNode::kNode);
  options.dir = kDir;
  options.log_segment_bytes = core::log::Log::kSegmentBytesMin;  // Compaction removes some.
  return options;
}

bool AwaitLeadership(io::Runtime& rt, core::replica::Replica& replica) {
  for (int i = 0; i < 100 && replica.role() != core::raft::Role::kLeader; i++) {
    (void)rt.Sleep(milliseconds(50));
  }
  return replica.role() == core::raft::Role::kLeader;
}

// Flips one bit of `path` at `offset`, durably (as damage at rest is: it survives a restart).
void FlipBit(io::Runtime& rt, const std::string& path, uint64_t offset) {
  absl::StatusOr<std::unique_ptr<io::File>> file =
      rt.disk().Open(path, io::OpenMode::kOpenExisting);
  ASSERT_TRUE(file.ok()) << file.status();
  std::vector<uint8_t> byte(1);
  ASSERT_TRUE((*file)->ReadAt(offset, byte).ok());
  byte[0] ^= 0x04;
  ASSERT_TRUE((*file)->WriteAt(offset, byte).ok());
  ASSERT_TRUE((*file)->Sync().ok());
}

// Whether one of Replica::restart_findings says `what`.
bool Said(const std::vector<std::string>& findings, std::string_view what) {
  return std::any_of(findings.begin(), findings.end(),
                     [&](const std::string& f) { return f.find(what) != std::string::npos; });
}

const std::string kHardState = kDir + "/hard_state";
const uint64_t kCopy1 = core::replica::kHardStateCopyBytes;

TEST(HardStateCopies, OneDamagedCopyIsSurvivedAndEveryDamagedCopyIsDamageNotEio) {
  SimNode node(20261211);
  ASSERT_TRUE(node.Run([&](io::Runtime& rt) {
    ASSERT_TRUE(rt.disk().CreateDir(kDir).ok());
    const StoredHardState first{{core::raft::Term(3), io::NodeId(2), core::raft::Index(5)}, 1};
    const StoredHardState second{{core::raft::Term(4), io::NodeId(1), core::raft::Index(9)}, 2};
    ASSERT_TRUE(core::replica::StoreHardState(rt.disk(), kDir, first).ok());
    ASSERT_TRUE(core::replica::StoreHardState(rt.disk(), kDir, second).ok());
    absl::StatusOr<core::replica::LoadedHardState> loaded =
        core::replica::LoadHardState(rt.disk(), kDir);
    ASSERT_TRUE(loaded.ok()) << loaded.status();
    EXPECT_EQ(loaded->stored, second);
    EXPECT_EQ(loaded->copies_current, 2u);
    FlipBit(rt, kHardState, 20);  // Copy 0's term.
    loaded = core::replica::LoadHardState(rt.disk(), kDir);
    ASSERT_TRUE(loaded.ok()) << loaded.status();
    EXPECT_EQ(loaded->stored, second) << "copy 1 still holds the newest state";
    EXPECT_EQ(loaded->copies_current, 1u);
    FlipBit(rt, kHardState, kCopy1 + 20);
    loaded = core::replica::LoadHardState(rt.disk(), kDir);
    EXPECT_TRUE(core::replica::IsDamagedAtRest(loaded.status())) << loaded.status();
    // An I/O error is DataLoss too, but not damage: Open must return it, not repair around it.
    node.disk().set_rates({.io_error_ppm = 1'000'000});
    loaded = core::replica::LoadHardState(rt.disk(), kDir);
    EXPECT_TRUE(absl::IsDataLoss(loaded.status())) << loaded.status();
    EXPECT_FALSE(core::replica::IsDamagedAtRest(loaded.status()));
    node.disk().set_rates({});
  }));
}

// What makes the newest copy tell itself apart: a running replica stores each term or vote
// change with a sequence above the last one it stored, not only above what it read at Open (a
// torn store between two copies of one sequence could not say which is newer). Node 1 of the
// voters {1, 2} runs alone and grants node 2's vote requests of terms 5 and then 7.
TEST(HardStateCopies, EachStoreOfARunningReplicaCarriesAHigherSequence) {
  SimNode node(20261203);
  // Node 2 exists (the vote responses go somewhere) but runs nothing.
  node.world().AddNode(io::NodeId(SimNode::kNode.value() + 1), "host2", [](io::Runtime&) {});
  ASSERT_TRUE(node.Run([&](io::Runtime& rt) {
    core::replica::ReplicaOptions options = SingleVoter();
    options.raft.bootstrap.voters.insert(io::NodeId(SimNode::kNode.value() + 1));
    absl::StatusOr<std::shared_ptr<core::replica::Replica>> opened =
        core::replica::Replica::Open(rt, options, nullptr);
    ASSERT_TRUE(opened.ok()) << opened.status();
    core::replica::Replica& replica = **opened;
    // Past an election timeout: a follower that might still hear a leader refuses votes.
    (void)rt.Sleep(seconds(2));
    uint64_t sequence = 0;
    for (uint64_t term : {5, 7}) {
      replica.Deliver(core::raft::Message{.type = core::raft::MessageType::kVote,
                                          .from = io::NodeId(SimNode::kNode.value() + 1),
                                          .to = SimNode::kNode,
                                          .term = core::raft::Term(term)});
      (void)rt.Sleep(milliseconds(200));
      absl::StatusOr<core::replica::LoadedHardState> loaded =
          core::replica::LoadHardState(rt.disk(), kDir);
      ASSERT_TRUE(loaded.ok()) << loaded.status();
      EXPECT_EQ(loaded->stored.state.term, core::raft::Term(term));
      EXPECT_GT(loaded->stored.sequence, sequence)
          << "term " << term << " stored again at " << sequence;
      sequence = loaded->stored.sequence;
    }
    replica.Shutdown();
  }));
}

// A learner's commit index is stored at most kLearnerCommitStoreInterval after it grows, asleep
// or awake (Replica::LearnerCommitStoreDue): a learner restarted with a commit far behind would
// serve near reads and be judged for promotion on less than it knew. Node 1 is a learner of
// voter 2, which runs nothing; the test hands node 1 voter 2's append by hand.
TEST(HardStateCopies, ALearnerThatIsAwakeStoresWhatItKnowsCommitted) {
  SimNode node(20261205);
  const io::NodeId voter(SimNode::kNode.value() + 1);
  node.world().AddNode(voter, "host2", [](io::Runtime&) {});
  ASSERT_TRUE(node.Run([&](io::Runtime& rt) {
    core::replica::ReplicaOptions options = SingleVoter();
    options.raft.bootstrap.voters = {voter};
    options.raft.bootstrap.learners = {SimNode::kNode};
    absl::StatusOr<std::shared_ptr<core::replica::Replica>> opened =
        core::replica::Replica::Open(rt, options, nullptr);
    ASSERT_TRUE(opened.ok()) << opened.status();
    core::replica::Replica& replica = **opened;
    replica.Deliver(FirstCommittedAppend(voter, "committed"));
    (void)rt.Sleep(core::replica::Replica::kLearnerCommitStoreInterval * 2);
    ASSERT_EQ(replica.commit(), core::raft::Index(1));
    EXPECT_FALSE(replica.quiesced());
    absl::StatusOr<core::replica::LoadedHardState> loaded =
        core::replica::LoadHardState(rt.disk(), kDir);
    ASSERT_TRUE(loaded.ok()) << loaded.status();
    EXPECT_EQ(loaded->stored.state.commit, core::raft::Index(1));
    replica.Shutdown();
  }));
}

// Node 1 of the voters {1, 2, 3}; nodes 2 and 3 exist but run nothing, so node 1 hears no
// leader and, with pre-vote, never moves to a new term: nothing it must store changes.
core::replica::ReplicaOptions VoterOfThreeAlone(SimNode& node) {
  core::replica::ReplicaOptions options = SingleVoter();
  for (uint32_t peer : {2u, 3u}) {
    node.world().AddNode(io::NodeId(peer), fmt::format("host{}", peer), [](io::Runtime&) {});
    options.raft.bootstrap.voters.insert(io::NodeId(peer));
  }
  return options;
}

// A hard state that never left its first value (a new voter's, as a seeded group stores it:
// sequence 1, term 0) with one copy damaged is rewritten whole at Open, like any other: the
// other copy is all that stands between the replica and amnesia. After that the replica stores
// nothing while nothing changes: the hard state is written for a new term, vote or (learner)
// commit, not on every turn of the driver.
TEST(HardStateCopies, AnUnchangedHardStateIsRepairedAtOpenAndThenNotRewritten) {
  SimNode node(20261216);
  const core::replica::ReplicaOptions options = VoterOfThreeAlone(node);
  ASSERT_TRUE(node.Run([&](io::Runtime& rt) {
    ASSERT_TRUE(rt.disk().CreateDir(kDir).ok());
    ASSERT_TRUE(core::replica::StoreHardState(rt.disk(), kDir, {{}, 1}).ok());
    FlipBit(rt, kHardState, kCopy1 + 20);
    absl::StatusOr<std::shared_ptr<core::replica::Replica>> opened =
        core::replica::Replica::Open(rt, options, nullptr);
    ASSERT_TRUE(opened.ok()) << opened.status();
    absl::StatusOr<core::replica::LoadedHardState> loaded =
        core::replica::LoadHardState(rt.disk(), kDir);
    ASSERT_TRUE(loaded.ok()) << loaded.status();
    EXPECT_EQ(loaded->copies_current, 2u) << "the damaged copy was not rewritten";
    const uint64_t sequence = loaded->stored.sequence;
    (void)rt.Sleep(seconds(5));  // Several election timeouts of failed pre-votes.
    EXPECT_NE((*opened)->role(), core::raft::Role::kLeader);
    loaded = core::replica::LoadHardState(rt.disk(), kDir);
    ASSERT_TRUE(loaded.ok()) << loaded.status();
    EXPECT_EQ(loaded->stored.state, core::raft::HardState{});
    EXPECT_EQ(loaded->stored.sequence, sequence) << "stored again with nothing changed";
    (*opened)->Shutdown();
  }));
}

// Every copy of the hard state lost, in a group of three whose other voters are silent: the
// replica must not store a hard state before raft has learned the voters' term (one stored
// would read, at the next restart, as a replica that lost nothing, and it could then vote in a
// term it already voted in). So after a while alone the loss is still on disk, and reported
// again by the next Open.
TEST(ReplicaDamageAtRest, AnAmnesiacStoresNoHardStateUntilItHasLearnedTheTerm) {
  SimNode node(20261217);
  const core::replica::ReplicaOptions options = VoterOfThreeAlone(node);
  ASSERT_TRUE(node.Run([&](io::Runtime& rt) {
    ASSERT_TRUE(rt.disk().CreateDir(kDir).ok());
    const StoredHardState voted{{core::raft::Term(4), io::NodeId(2), core::raft::Index(0)}, 3};
    ASSERT_TRUE(core::replica::StoreHardState(rt.disk(), kDir, voted).ok());
    FlipBit(rt, kHardState, 20);
    FlipBit(rt, kHardState, kCopy1 + 20);
  }));
  for (int incarnation = 0; incarnation < 2; incarnation++) {
    ASSERT_TRUE(node.Run([&](io::Runtime& rt) {
      absl::StatusOr<std::shared_ptr<core::replica::Replica>> opened =
          core::replica::Replica::Open(rt, options, nullptr);
      ASSERT_TRUE(opened.ok()) << opened.status();
      EXPECT_TRUE(Said((*opened)->restart_findings(), "every copy of the hard state is damaged"))
          << "incarnation " << incarnation;
      (void)rt.Sleep(seconds(5));
      (*opened)->Shutdown();
      EXPECT_TRUE(
          core::replica::IsDamagedAtRest(core::replica::LoadHardState(rt.disk(), kDir).status()))
          << "a hard state was stored before the term was learned";
    }));
  }
}

// First incarnation: a single voter commits kEntries proposals (and compacts them when asked).
// `options_in` makes the replica's options in the incarnation (the default: SingleVoter()).
using OptionsIn = std::function<core::replica::ReplicaOptions(io::Runtime&)>;
void WriteEntries(SimNode& node, bool compact, const OptionsIn& options_in = nullptr) {
  ASSERT_TRUE(node.Run([&](io::Runtime& rt) {
    absl::StatusOr<std::shared_ptr<core::replica::Replica>> opened = core::replica::Replica::Open(
        rt, options_in != nullptr ? options_in(rt) : SingleVoter(), nullptr);
    ASSERT_TRUE(opened.ok()) << opened.status();
    ASSERT_TRUE(AwaitLeadership(rt, **opened));
    for (int i = 0; i < kEntries; i++) {
      const std::string entry = fmt::format("e{}", i) + std::string(300, 'x');
      ASSERT_TRUE((*opened)->ProposeAndWait(entry, rt.Now() + seconds(5)).ok());
    }
    if (compact) {
      ASSERT_TRUE((*opened)->Compact((*opened)->applied(), "state").ok());
      ASSERT_EQ((*opened)->snapshot_index(), core::raft::Index(kEntries + 1));
    }
    (void)rt.Sleep(milliseconds(500));  // The durable mark catches up.
    (*opened)->Shutdown();
  }));
}

// Every copy of the hard state lost: the replica opens (a single voter has no other voter to
// ask, so it rejoins at once, at the highest term its log shows, its vote counted as cast) and
// leads a later term with every committed entry. Then Open has stored a hard state again.
TEST(ReplicaDamageAtRest, EveryCopyOfTheHardStateLostStillOpensAndLeadsALaterTerm) {
  SimNode node(20261212);
  WriteEntries(node, /*compact=*/false);
  core::raft::Term term_before;
  ASSERT_TRUE(node.Run([&](io::Runtime& rt) {
    absl::StatusOr<core::replica::LoadedHardState> loaded =
        core::replica::LoadHardState(rt.disk(), kDir);
    ASSERT_TRUE(loaded.ok());
    term_before = loaded->stored.state.term;
    FlipBit(rt, kHardState, 0);
    FlipBit(rt, kHardState, kCopy1);
  }));
  ASSERT_TRUE(node.Run([&](io::Runtime& rt) {
    absl::StatusOr<std::shared_ptr<core::replica::Replica>> opened =
        core::replica::Replica::Open(rt, SingleVoter(), nullptr);
    ASSERT_TRUE(opened.ok()) << opened.status();
    ASSERT_TRUE(AwaitLeadership(rt, **opened));
    EXPECT_GT((*opened)->term(), term_before) << "a term it could have voted in, led again";
    absl::StatusOr<core::raft::Index> next =
        (*opened)->ProposeAndWait("after", rt.Now() + seconds(5));
    ASSERT_TRUE(next.ok()) << next.status();
    EXPECT_EQ(next->value(), kEntries + 3u) << "the old no-op, the entries, a new no-op";
    (*opened)->Shutdown();
    absl::StatusOr<core::replica::LoadedHardState> loaded =
        core::replica::LoadHardState(rt.disk(), kDir);
    ASSERT_TRUE(loaded.ok()) << loaded.status();
    EXPECT_EQ(loaded->copies_current, 2u);
  }));
}

// A replica whose durable mark lives in the node-wide table (as the broker's do), with both of
// the table's images damaged and its log intact: the replica opens (the log's end is a true
// mark, the table's entry for it is reset there), reports it, and leads with every entry.
TEST(ReplicaDamageAtRest, ADamagedMarkTableWithAnIntactLogOpensAtTheLogsEnd) {
  SimNode node(20261220);
  const auto options_with = [](std::shared_ptr<core::replica::DurableMarkTable> table) {
    core::replica::ReplicaOptions options = SingleVoter();
    options.mark_table = std::move(table);
    return options;
  };
  bool table_opened = false;  // The table lives as long as the first incarnation's replica.
  WriteEntries(node, /*compact=*/false, [&](io::Runtime& rt) {
    absl::StatusOr<std::unique_ptr<core::replica::DurableMarkTable>> table =
        core::replica::DurableMarkTable::Open(rt, rt.disk(), "marks");
    table_opened = table.ok();
    return options_with(table.ok() ? std::move(*table) : nullptr);
  });
  ASSERT_TRUE(table_opened);
  ASSERT_TRUE(node.Run([&](io::Runtime& rt) {
    FlipBit(rt, "marks/marks.0", 30);
    FlipBit(rt, "marks/marks.1", 30);
  }));
  ASSERT_TRUE(node.Run([&](io::Runtime& rt) {
    absl::StatusOr<std::unique_ptr<core::replica::DurableMarkTable>> table =
        core::replica::DurableMarkTable::Open(rt, rt.disk(), "marks");
    ASSERT_TRUE(table.ok()) << table.status();
    ASSERT_TRUE((*table)->damaged());
    absl::StatusOr<std::shared_ptr<core::replica::Replica>> opened =
        core::replica::Replica::Open(rt, options_with(std::move(*table)), nullptr);
    ASSERT_TRUE(opened.ok()) << opened.status();
    EXPECT_TRUE(Said((*opened)->restart_findings(), "the durable mark is damaged"));
    ASSERT_TRUE(AwaitLeadership(rt, **opened));
    absl::StatusOr<core::raft::Index> next =
        (*opened)->ProposeAndWait("after", rt.Now() + seconds(5));
    ASSERT_TRUE(next.ok()) << next.status();
    EXPECT_EQ(next->value(), kEntries + 3u) << "the old no-op, the entries, a new no-op";
    (*opened)->Shutdown();
  }));
}

// Every entry a replica applies, by node.
class AppliedEntries final : public core::replica::ReplicaObserver {
 public:
  void OnApply(io::NodeId, const core::raft::Entry& entry) override { entries.push_back(entry); }
  void OnLeader(io::NodeId, core::raft::Term, const core::raft::RaftLog&) override {}
  void OnFailStop(io::NodeId, const absl::Status&) override {}
  std::vector<core::raft::Entry> entries;
};

// An append from `leader` in `term`: `entries` (data at consecutive indexes from prev + 1, all
// of `entry_term`, 0: `term`) after (prev_term, prev_index), committing through `commit`.
core::raft::Message AppendOf(io::NodeId leader, uint64_t term, uint64_t prev_term,
                             uint64_t prev_index, const std::vector<std::string>& entries,
                             uint64_t commit, uint64_t entry_term = 0) {
  core::raft::Message append{.type = core::raft::MessageType::kAppend,
                             .from = leader,
                             .to = SimNode::kNode,
                             .term = core::raft::Term(term)};
  append.log_term = core::raft::Term(prev_term);
  append.log_index = core::raft::Index(prev_index);
  for (size_t i = 0; i < entries.size(); i++) {
    append.entries.push_back(core::raft::Entry{core::raft::Term(entry_term ? entry_term : term),
                                               core::raft::Index(prev_index + 1 + i),
                                               core::raft::EntryKind::kNormal, entries[i]});
  }
  append.commit = core::raft::Index(commit);
  return append;
}

// Every file of `dir` and its bytes.
std::map<std::string, std::vector<uint8_t>> CopyDir(io::Runtime& rt, const std::string& dir) {
  std::map<std::string, std::vector<uint8_t>> files;
  absl::StatusOr<std::vector<std::string>> names = rt.disk().ListDir(dir);
  EXPECT_TRUE(names.ok()) << names.status();
  for (const std::string& name : names.ok() ? *names : std::vector<std::string>()) {
    absl::StatusOr<std::unique_ptr<io::File>> file =
        rt.disk().Open(dir + "/" + name, io::OpenMode::kOpenExisting);
    EXPECT_TRUE(file.ok()) << file.status();
    if (!file.ok()) continue;
    absl::StatusOr<uint64_t> size = (*file)->Size();
    EXPECT_TRUE(size.ok()) << size.status();
    std::vector<uint8_t>& bytes = files[name];
    bytes.resize(size.ok() ? *size : 0);
    EXPECT_TRUE((*file)->ReadAt(0, bytes).ok());
  }
  return files;
}

// A replica's log brought back as it was before a truncation (what a node-wide log's cut past
// the truncation's record recovers: core/raft's DamagedReplica.ARecoveredPastLog* tests), with
// the hard state and durable mark of the log that replaced it. The stored commit counted the
// replacing entries; cut to the recovered log's end, it made the replica apply, at Open, an entry
// the group had replaced (`meridian-sim --scenario=geo-3x3 --seed=30 --election_faults=figure8`,
// 2026-12-04). Below its durable mark only the snapshot is known committed: the replica applies
// nothing at Open, and what its leader's appends match afterwards.
TEST(ReplicaDamageAtRest, ALogRecoveredFromBeforeATruncationAppliesNothingItHolds) {
  SimNode node(20261221);
  const core::replica::ReplicaOptions options = VoterOfThreeAlone(node);
  std::map<std::string, std::vector<uint8_t>> before_truncation;
  ASSERT_TRUE(node.Run([&](io::Runtime& rt) {
    absl::StatusOr<std::shared_ptr<core::replica::Replica>> opened =
        core::replica::Replica::Open(rt, options, nullptr);
    ASSERT_TRUE(opened.ok()) << opened.status();
    core::replica::Replica& replica = **opened;
    replica.Deliver(AppendOf(io::NodeId(2), 1, 0, 0, {"a", "stale"}, 1));
    (void)rt.Sleep(milliseconds(200));
    ASSERT_EQ(replica.commit(), core::raft::Index(1));
    before_truncation = CopyDir(rt, kDir + "/log");
    replica.Deliver(AppendOf(io::NodeId(3), 2, 1, 1, {"b", "c"}, 3));
    (void)rt.Sleep(milliseconds(200));
    ASSERT_EQ(replica.commit(), core::raft::Index(3));
    // The hard state is stored with a new term (not with every commit): term 3's leader's
    // heartbeat stores commit 3.
    replica.Deliver(AppendOf(io::NodeId(2), 3, 2, 3, {}, 3));
    (void)rt.Sleep(milliseconds(200));
    replica.Shutdown();
    absl::StatusOr<core::replica::LoadedHardState> loaded =
        core::replica::LoadHardState(rt.disk(), kDir);
    ASSERT_TRUE(loaded.ok()) << loaded.status();
    ASSERT_GE(loaded->stored.state.commit, core::raft::Index(2)) << "nothing to cut";
  }));
  ASSERT_FALSE(before_truncation.empty());
  ASSERT_TRUE(node.Run([&](io::Runtime& rt) {
    absl::StatusOr<std::vector<std::string>> names = rt.disk().ListDir(kDir + "/log");
    ASSERT_TRUE(names.ok()) << names.status();
    for (const std::string& name : *names)
      ASSERT_TRUE(rt.disk().Remove(kDir + "/log/" + name).ok());
    for (const auto& [name, bytes] : before_truncation) {
      absl::StatusOr<std::unique_ptr<io::File>> file =
          rt.disk().Open(kDir + "/log/" + name, io::OpenMode::kCreateNew);
      ASSERT_TRUE(file.ok()) << file.status();
      ASSERT_TRUE((*file)->WriteAt(0, bytes).ok());
      ASSERT_TRUE((*file)->Sync().ok());
    }
    ASSERT_TRUE(rt.disk().SyncDir(kDir + "/log").ok());
  }));
  ASSERT_TRUE(node.Run([&](io::Runtime& rt) {
    AppliedEntries applied;
    absl::StatusOr<std::shared_ptr<core::replica::Replica>> opened =
        core::replica::Replica::Open(rt, options, &applied);
    ASSERT_TRUE(opened.ok()) << opened.status();
    core::replica::Replica& replica = **opened;
    EXPECT_TRUE(Said(replica.restart_findings(), "below the i3 it had made durable"));
    (void)rt.Sleep(milliseconds(200));
    EXPECT_EQ(replica.commit(), core::raft::Index(0));
    for (const core::raft::Entry& entry : applied.entries) EXPECT_NE(entry.data, "stale");
    // Term 3's leader probes, matches at i1 and replaces the rest: all of it applies.
    replica.Deliver(AppendOf(io::NodeId(2), 3, 1, 1, {"b", "c"}, 3, /*entry_term=*/2));
    (void)rt.Sleep(milliseconds(200));
    EXPECT_EQ(replica.commit(), core::raft::Index(3));
    std::vector<std::string> data;
    for (const core::raft::Entry& entry : applied.entries) data.push_back(entry.data);
    EXPECT_EQ(data, (std::vector<std::string>{"a", "b", "c"}));
    replica.Shutdown();
  }));
}

// The snapshot lost, with the log compacted past its start: the replica opens with an empty log
// and serves nothing it lost (applied and commit 0), and, below its durable mark, does not lead
// (a single voter has no leader to send it the snapshot again; in a group, its leader does).
TEST(ReplicaDamageAtRest, ALostSnapshotOpensEmptyAndServesNothingItLost) {
  SimNode node(20261213);
  WriteEntries(node, /*compact=*/true);
  ASSERT_TRUE(node.Run([&](io::Runtime& rt) { FlipBit(rt, kDir + "/snapshot", 30); }));
  ASSERT_TRUE(node.Run([&](io::Runtime& rt) {
    absl::StatusOr<std::shared_ptr<core::replica::Replica>> opened =
        core::replica::Replica::Open(rt, SingleVoter(), nullptr);
    ASSERT_TRUE(opened.ok()) << opened.status();
    (void)rt.Sleep(seconds(3));
    core::replica::Replica& replica = **opened;
    EXPECT_NE(replica.role(), core::raft::Role::kLeader);
    EXPECT_EQ(replica.applied(), core::raft::Index(0));
    EXPECT_EQ(replica.commit(), core::raft::Index(0));
    absl::StatusOr<std::vector<core::raft::Entry>> read =
        replica.ReadCommitted(core::raft::Index(1), 1 << 20);
    ASSERT_TRUE(read.ok()) << read.status();
    EXPECT_TRUE(read->empty());
    EXPECT_TRUE(replica.failure().ok()) << replica.failure();
    replica.Shutdown();
  }));
}

// What Open found damaged and recovered from is reported (Replica::restart_findings; the broker
// logs each line and counts the replica): nothing after a clean restart; one damaged copy of
// the hard state; every copy; a flipped bit in the first log segment (damage before the tail:
// cut, and the log short of what it had made durable, until it is fetched again); and a
// damaged snapshot.
TEST(ReplicaRestartFindings, EachDamageAtRestIsReportedAndACleanRestartReportsNone) {
  SimNode node(20261214);
  WriteEntries(node, /*compact=*/false);
  const auto findings_after_open = [&](const std::function<void(io::Runtime&)>& damage) {
    std::vector<std::string> findings;
    EXPECT_TRUE(node.Run([&](io::Runtime& rt) {
      damage(rt);
      absl::StatusOr<std::shared_ptr<core::replica::Replica>> opened =
          core::replica::Replica::Open(rt, SingleVoter(), nullptr);
      ASSERT_TRUE(opened.ok()) << opened.status();
      findings = (*opened)->restart_findings();
      (void)AwaitLeadership(rt, **opened);
      (void)rt.Sleep(milliseconds(500));  // The durable mark catches up.
      (*opened)->Shutdown();
    }));
    return findings;
  };
  std::vector<std::string> found = findings_after_open([](io::Runtime&) {});
  EXPECT_TRUE(found.empty()) << found.front();
  found = findings_after_open([](io::Runtime& rt) { FlipBit(rt, kHardState, 20); });
  EXPECT_TRUE(Said(found, "a copy of the hard state was damaged")) << found.size();
  found = findings_after_open([](io::Runtime& rt) {
    FlipBit(rt, kHardState, 20);
    FlipBit(rt, kHardState, kCopy1 + 20);
  });
  EXPECT_TRUE(Said(found, "every copy of the hard state is damaged")) << found.size();
  found = findings_after_open([](io::Runtime& rt) {
    absl::StatusOr<std::vector<std::string>> names = rt.disk().ListDir(kDir + "/log");
    ASSERT_TRUE(names.ok()) << names.status();
    std::vector<std::string> segments;
    for (const std::string& name : *names) {
      if (name.ends_with(".seg")) segments.push_back(name);
    }
    ASSERT_GE(segments.size(), 2u);
    std::sort(segments.begin(), segments.end());
    FlipBit(rt, kDir + "/log/" + segments.front(), 200);  // Inside an early batch.
  });
  EXPECT_TRUE(Said(found, "recovery cut the log")) << found.size();
  EXPECT_TRUE(Said(found, "damage before the tail")) << found.size();
  EXPECT_TRUE(Said(found, "below the i24 it had made durable")) << found.size();
  // A single voter has no peer to fetch the lost entries from: the next restart finds no new
  // cut (the loss was acknowledged), but its log still short of what it had made durable.
  found = findings_after_open([](io::Runtime&) {});
  EXPECT_FALSE(Said(found, "recovery cut the log")) << found.size();
  EXPECT_TRUE(Said(found, "below the i24 it had made durable")) << found.size();

  SimNode compacted(20261215);
  WriteEntries(compacted, /*compact=*/true);
  ASSERT_TRUE(compacted.Run([&](io::Runtime& rt) {
    FlipBit(rt, kDir + "/snapshot", 30);
    absl::StatusOr<std::shared_ptr<core::replica::Replica>> opened =
        core::replica::Replica::Open(rt, SingleVoter(), nullptr);
    ASSERT_TRUE(opened.ok()) << opened.status();
    EXPECT_TRUE(Said((*opened)->restart_findings(), "the snapshot is damaged"));
    (*opened)->Shutdown();
  }));
}

// A follower installed a snapshot whose last entry its own log holds with another term (its old
// entries diverged) and crashed before resetting its log. At restart the log must be reset to
// continue after the snapshot: the entries after it belong to the diverged history. (Mutation
// survivor of 2026-12-03: "same index and same term" weakened to "same index or same term".)
TEST(ReplicaRestart, ALogThatDivergesAtTheSnapshotsLastEntryIsReset) {
  SimNode node(20261214);
  WriteEntries(node, /*compact=*/false);  // Indexes 1 (no-op) to kEntries + 1, one term.
  const core::raft::Index snapshot_index(5);
  ASSERT_TRUE(node.Run([&](io::Runtime& rt) {
    absl::StatusOr<core::replica::LoadedHardState> loaded =
        core::replica::LoadHardState(rt.disk(), kDir);
    ASSERT_TRUE(loaded.ok()) << loaded.status();
    const core::raft::Term later = loaded->stored.state.term.next();
    core::raft::Snapshot snapshot;
    snapshot.meta.index = snapshot_index;
    snapshot.meta.term = later;  // The log holds index 5 with an earlier term.
    snapshot.meta.membership.voters.insert(SimNode::kNode);
    snapshot.data = "state";
    ASSERT_TRUE(core::replica::StoreSnapshot(rt.disk(), kDir, snapshot).ok());
    StoredHardState stored = loaded->stored;
    stored.state.term = later;
    stored.state.vote = core::raft::kNoNode;
    stored.state.commit = snapshot_index;
    stored.sequence++;
    ASSERT_TRUE(core::replica::StoreHardState(rt.disk(), kDir, stored).ok());
  }));
  io::probe::Reset();
  ASSERT_TRUE(node.Run([&](io::Runtime& rt) {
    absl::StatusOr<std::shared_ptr<core::replica::Replica>> opened =
        core::replica::Replica::Open(rt, SingleVoter(), nullptr);
    ASSERT_TRUE(opened.ok()) << opened.status();
    ASSERT_TRUE(AwaitLeadership(rt, **opened));
    absl::StatusOr<core::raft::Index> next =
        (*opened)->ProposeAndWait("after", rt.Now() + seconds(5));
    ASSERT_TRUE(next.ok()) << next.status();
    EXPECT_EQ(*next, core::raft::Index(snapshot_index.value() + 2))
        << "the snapshot, a new no-op, the proposal: nothing of the diverged entries after it";
    (*opened)->Shutdown();
  }));
  EXPECT_TRUE(io::probe::Snapshot().contains(
      "replica: log reset to continue after the snapshot at restart"));
}

// The broker stops a group it no longer hosts and deletes its directory while a compaction of
// it may be writing its snapshot (seed 159 of region-loss-regional: an old epoch's group
// removed after a promotion). The compaction then fails; the replica, already shut down, must
// not report a fail-stop, which takes its whole node down.
TEST(ReplicaShutdown, ACompactionFailingAfterShutdownIsNoFailStop) {
  SimNode node(20261215);
  ASSERT_TRUE(node.Run([&](io::Runtime& rt) {
    core::replica::ReplicaOptions options = SingleVoter();
    int fail_stops = 0;
    options.on_fail_stop = [&](const absl::Status&) { fail_stops++; };
    absl::StatusOr<std::shared_ptr<core::replica::Replica>> opened =
        core::replica::Replica::Open(rt, options, nullptr);
    ASSERT_TRUE(opened.ok()) << opened.status();
    std::shared_ptr<core::replica::Replica> replica = *opened;
    ASSERT_TRUE(AwaitLeadership(rt, *replica));
    for (int i = 0; i < kEntries; i++) {
      ASSERT_TRUE(replica->ProposeAndWait(fmt::format("e{}", i), rt.Now() + seconds(5)).ok());
    }
    std::optional<absl::Status> compacted;
    rt.Spawn("compaction", [&] {
      compacted = replica->Compact(replica->applied(), "state", rt.Now() + seconds(5));
    });
    const std::string tmp = kDir + "/snapshot.tmp";
    for (int i = 0; i < 10'000 && !rt.disk().Exists(tmp).value_or(false); i++) {
      (void)rt.Sleep(std::chrono::microseconds(1));
    }
    ASSERT_TRUE(rt.disk().Exists(tmp).value_or(false)) << "the snapshot write never began";
    replica->Shutdown();
    ASSERT_TRUE(rt.disk().Remove(tmp).ok());  // As the group's directory removal does.
    for (int i = 0; i < 1000 && !compacted.has_value(); i++) (void)rt.Sleep(milliseconds(1));
    ASSERT_TRUE(compacted.has_value());
    EXPECT_FALSE(compacted->ok()) << "the race was not hit: the snapshot was stored";
    EXPECT_EQ(fail_stops, 0) << "a shut-down replica reported a fail-stop";
  }));
}

}  // namespace
}  // namespace meridian::tests::log

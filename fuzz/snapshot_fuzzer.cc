// Fuzz target: snapshots, as a node reads them from its disk (`<replica dir>/snapshot`) or from a
// peer's InstallSnapshot, and the state machine data inside them.
//
// Input: any bytes, used as
//   1. a snapshot file: core/replica DecodeSnapshot returns a snapshot or a status, never crashes;
//      a snapshot that decodes re-encodes to bytes that decode to the same snapshot;
//   2. snapshot data of each state machine a snapshot restores: a partition's (PartitionState),
//      the controller's (ClusterMetadata), a "__consumer_offsets" partition's (GroupLedger). A
//      restore that succeeds must re-encode to data that restores to the same encoding; one
//      that fails must leave the state as it was (empty here: it encodes as a fresh one does).
// Anything else (an abort, a sanitizer report) is a bug in the code under test.
// Seeds: fuzz/corpus/snapshot (make_corpus.cc).
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "core/broker/group_ledger.h"
#include "core/broker/partition_state.h"
#include "core/cluster/metadata.h"
#include "core/replica/storage.h"
#include "io/assert.h"

namespace meridian::fuzz {
namespace {

void SnapshotFile(std::span<const uint8_t> bytes) {
  absl::StatusOr<core::raft::Snapshot> snapshot = core::replica::DecodeSnapshot(bytes);
  if (!snapshot.ok()) return;
  const std::vector<uint8_t> encoded = core::replica::EncodeSnapshot(*snapshot);
  absl::StatusOr<core::raft::Snapshot> again = core::replica::DecodeSnapshot(encoded);
  MERIDIAN_CHECK(again.ok(), "a snapshot re-encoded does not decode: {}",
                 again.status().ToString());
  MERIDIAN_CHECK(core::replica::EncodeSnapshot(*again) == encoded, "snapshot round trip differs");
}

// A state machine restored from `data`: round-trips when accepted, unchanged when refused.
template <typename State, typename Restore>
void StateData(std::string_view data, Restore restore) {
  const std::string fresh = State().EncodeSnapshot();
  State state;
  if (!restore(state, data).ok()) {
    MERIDIAN_CHECK(state.EncodeSnapshot() == fresh, "a refused restore changed the state");
    return;
  }
  const std::string encoded = state.EncodeSnapshot();
  State again;
  const absl::Status restored = restore(again, encoded);
  MERIDIAN_CHECK(restored.ok(), "re-encoded snapshot data refused: {}", restored.ToString());
  MERIDIAN_CHECK(again.EncodeSnapshot() == encoded, "snapshot data round trip differs");
}

}  // namespace
}  // namespace meridian::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace meridian;
  const std::span<const uint8_t> bytes(data, size);
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  fuzz::SnapshotFile(bytes);
  fuzz::StateData<core::broker::PartitionState>(
      text, [](core::broker::PartitionState& state, std::string_view d) {
        return state.RestoreSnapshot(core::raft::Index(7), d);
      });
  fuzz::StateData<core::cluster::ClusterMetadata>(
      text, [](core::cluster::ClusterMetadata& state, std::string_view d) {
        return state.RestoreSnapshot(d);
      });
  (void)core::broker::GroupLedger::DecodeSnapshot(text);
  return 0;
}

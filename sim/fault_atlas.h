// sim::FaultAtlas: the simulator's promise never to corrupt more than a correct protocol could
// survive. Every at-rest corruption and misdirected write is charged to the store it lands in
// (one replica's storage: its log, hard state, snapshot and durable mark, StoreOf) and the node
// whose copy it damaged; a store may be damaged on at most `copies_damaged_max` nodes. Replicas
// of one partition use the same relative paths on every node, so with a budget of
// replication_factor - quorum (for 3 replicas: 1) a majority of every group keeps a whole,
// undamaged copy. A checker failure is then a real bug, never a false alarm caused by
// destroying more than the product can survive.
//
// The unit is the whole store, not a sector, because of what damage means in this product:
// core/log's recovery cuts a log at its first bad byte, so damage anywhere in a replica's log
// costs that replica everything from there on. Damage on every replica of a group, each at a
// different place, would leave every copy short of the end (single-region-3 seed 44: two bit
// flips and a misdirected write in three copies of one group, and no replica could lead).
// Meridian does not yet repair a hole in the middle of a log while keeping the valid entries
// after it (sim/README.md "Known gaps"), so the atlas keeps that pattern out.
//
// A server lost for good (its region lost for good) has lost every copy it held: that is a
// failure of the same group as a damaged copy, and the two together must stay within the
// budget. The atlas does not know which groups a server hosts, so a server lost for good counts
// as one damaged copy of every store; the nemesis declares such servers before the run starts
// (Nemesis::Install), so a damage charged before the loss counts too. With the default budget
// of 1, a run that loses servers for good damages only those servers.
#pragma once

#include <cstdint>
#include <string>

#include "absl/container/btree_map.h"
#include "absl/container/btree_set.h"
#include "io/node_id.h"

namespace meridian::sim {

class FaultAtlas {
 public:
  static constexpr uint64_t kSectorBytes = 512;

  explicit FaultAtlas(uint32_t copies_damaged_max = 1) : copies_damaged_max_(copies_damaged_max) {}

  // The store `path` belongs to: everything before a "/log/" component (a replica's log
  // segments belong with its hard state), else the file's directory, else the path itself.
  // "groups/3/log/00000000000000000048.seg" and "groups/3/hard_state" are both "groups/3".
  static std::string StoreOf(const std::string& path);
  // "wal" and "marks": the node-wide log and durable-mark table (BrokerOptions::node_wide_log),
  // which every group of a node writes. Damage there is one damaged copy of every store, as a
  // server lost for good is.
  static bool IsNodeWideStore(const std::string& store);

  // Whether damaging bytes [offset, offset + bytes) of `path` on `node` stays within budget; if
  // so, the damage is recorded and true returned. Only the store of `path` matters (see above).
  bool TryCharge(const std::string& path, uint64_t offset, uint64_t bytes, io::NodeId node);
  // `node` will be, or is, lost for good: from now on it counts as a damaged copy of every store.
  void ChargeLossForGood(io::NodeId node);
  bool lost_for_good(io::NodeId node) const { return lost_for_good_.contains(node); }
  uint64_t stores_damaged() const { return damaged_.size(); }
  // Whether any store was damaged on `node`.
  bool damaged_on(io::NodeId node) const { return damaged_nodes_.contains(node); }
  uint32_t copies_damaged_max() const { return copies_damaged_max_; }

 private:
  uint32_t copies_damaged_max_;
  absl::btree_map<std::string, absl::btree_set<io::NodeId>> damaged_;  // store -> nodes
  absl::btree_set<io::NodeId> EveryStoreDamaged() const;

  absl::btree_set<io::NodeId> damaged_nodes_;
  absl::btree_set<io::NodeId> lost_for_good_;
  absl::btree_set<io::NodeId> node_wide_damaged_;
};

}  // namespace meridian::sim

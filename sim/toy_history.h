// The toy journal's run as a history in checks/' format (docs/history-format.md), so every
// simulation run is also judged by the independent log checker, and can be written to a file
// for `meridian-check`.
//
// Mapping: each server is a partition (server id - 1); each client is a process whose appends
// are sends of one value (ok sends carry the journal offset the server returned); the final
// audit is a drain: per audited server, a fresh consumer process (1000 + server id) assigns
// that partition and polls everything its recovery found. Servers whose disks the simulator
// damaged are left out: a single-copy journal cannot keep what the disk destroyed, and the
// toy checker already judges them (loss there must be reported or injected, never silent).
#pragma once

#include <vector>

#include "absl/container/btree_set.h"
#include "checks/history.h"
#include "sim/toy_journal.h"

namespace meridian::sim::toy {

checks::History BuildHistory(const JournalObserver& observer,
                             const std::vector<io::NodeId>& servers,
                             const absl::btree_set<io::NodeId>& left_out, io::Instant audit_after);

// Runs checks/' log checker; returns one line per finding ("log checker: <kind>: <detail>").
std::vector<std::string> CheckWithLogChecker(const checks::History& history);

}  // namespace meridian::sim::toy

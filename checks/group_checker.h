// The consumer-group checker: what a group's members observed, against what a group promises.
// Run over the same history as the log checker (which judges the records); this one judges the
// group: assignments, generations and commits (docs/checks.md "Consumer groups").
//
// `member_of_process` names the group's processes and the member each belongs to (a member
// records under a new process after every info outcome, the Jepsen convention, so one member
// may own several processes). Their assign and commit operations carry the generation they
// acted in (history format "generation"). Anomalies:
//   double-assignment  two members were given the same partition in the same generation;
//   zombie-commit      a commit acknowledged in generation g for a partition that a later
//                      generation had already been handed out with (that assign completed
//                      before the commit was invoked): the fence let a zombie through;
//   unowned-commit     a commit acknowledged for a partition its member was not assigned in the
//                      generation it committed as;
//   commit-ahead       a committed offset past every record the group had been given from that
//                      partition (1 + the highest offset polled by a member, an offset
//                      already committed, or a log start an earlier assign's `starts` reports):
//                      the next owner would skip records nobody read;
//   group-skip         an acknowledged record below the group's last committed offset of its
//                      partition that no member ever polled (records retention had deleted, as
//                      some assign's `starts` reports, are not counted).
#ifndef MERIDIAN_CHECKS_GROUP_CHECKER_H_
#define MERIDIAN_CHECKS_GROUP_CHECKER_H_

#include <cstdint>

#include "absl/container/btree_map.h"
#include "absl/status/statusor.h"
#include "checks/history.h"
#include "checks/verdict.h"

namespace meridian::checks {

absl::StatusOr<CheckReport> CheckGroup(const History& history,
                                       const absl::btree_map<int64_t, int64_t>& member_of_process);

}  // namespace meridian::checks

#endif  // MERIDIAN_CHECKS_GROUP_CHECKER_H_

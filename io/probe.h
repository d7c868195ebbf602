// Coverage probes (FoundationDB's CODE_PROBE, TigerBeetle's marks): code marks a rare path with
// MERIDIAN_PROBE("leader stepped down on check-quorum"), and a simulation sweep reports which
// probes were hit, so the team sees whether the fault mix reaches the paths that matter.
//
// Probes only count; they never change behaviour, so a process-wide tally does not break
// determinism. Names are stable strings; the tally is ordered by name.
#pragma once

#include <cstdint>
#include <string>

#include "absl/container/btree_map.h"

namespace meridian::io::probe {

void Hit(const char* name);
// Everything hit since the last Reset, by name.
absl::btree_map<std::string, uint64_t> Snapshot();
void Reset();

}  // namespace meridian::io::probe

#define MERIDIAN_PROBE(name) ::meridian::io::probe::Hit(name)

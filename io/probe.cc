#include "io/probe.h"

namespace meridian::io::probe {
namespace {

absl::btree_map<std::string, uint64_t>& Tally() {
  static auto* tally = new absl::btree_map<std::string, uint64_t>();
  return *tally;
}

}  // namespace

void Hit(const char* name) { Tally()[name]++; }
absl::btree_map<std::string, uint64_t> Snapshot() { return Tally(); }
void Reset() { Tally().clear(); }

}  // namespace meridian::io::probe

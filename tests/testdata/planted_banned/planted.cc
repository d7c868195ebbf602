// Planted violations of docs/architecture.md's determinism rules. tests:banned_apis_test checks
// that tests/banned_apis.sh reports each one. Never compiled.
#include <unistd.h>

#include <chrono>
#include <random>
#include <thread>
#include <unordered_map>

void Planted() {
  std::thread worker([] {});
  int r = rand();
  std::random_device device;
  auto now = std::chrono::steady_clock::now();
  const char* home = getenv("HOME");
  std::unordered_map<int, int> order_varies;
  absl::flat_hash_set<int> also_varies;
  absl::flat_hash_map<int, int> allowed_lookup;  // determinism: lookup-only
  // std::thread commented_out;
}

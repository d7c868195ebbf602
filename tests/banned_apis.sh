#!/usr/bin/env bash
# Fails if C++ sources under the given paths use an API that docs/architecture.md bans in core/
# and sim/: threads, global randomness, wall or real clocks, the environment, direct syscalls, and
# hash containers whose iteration order varies per process. A line may opt out only with a
# trailing comment "determinism: <why this cannot affect behaviour>", e.g. "determinism:
# lookup-only" for a hash map that is never iterated, or "determinism: wall-time report only"
# for a CLI printing how long a run took. Every exemption is thus visible and reviewable.
# Usage: banned_apis.sh PATH... (files or directories); prints offending lines as file:line: text.
set -euo pipefail

banned_patterns=(
  'std::thread|std::jthread|std::async|<thread>|pthread_'
  '\brand\(|\bsrand\(|random_device|\bdrand48'
  'system_clock|steady_clock|high_resolution_clock|gettimeofday|clock_gettime|\btime\((NULL|nullptr|0)\)'
  '\bgetenv\(|secure_getenv|\benviron\b'
  '#include <(unistd|fcntl|sys/[a-z_]+|pthread|sys/syscall)\.h>|\bsyscall\('
  'std::unordered_(map|set|multimap|multiset)|absl::(flat|node)_hash_(map|set)'
)

files=()
for path in "$@"; do
  [ -n "$path" ] || continue
  [ -e "$path" ] || { echo "banned_apis: no such file or directory: $path" >&2; exit 2; }
  while IFS= read -r -d '' file; do
    files+=("$file")
  done < <(find "$path" \( -name '*.h' -o -name '*.cc' -o -name '*.hpp' -o -name '*.cpp' \) \
             -print0 | sort -z)
done
checked=${#files[@]}
status=0
if [ "$checked" -gt 0 ]; then
  for pattern in "${banned_patterns[@]}"; do
    # One grep per pattern over every file (one per file and pattern timed out under load).
    # Skip comment-only lines; allow the documented opt-out.
    hits=$(grep -nHE "$pattern" "${files[@]}" | grep -vE '^[^:]+:[0-9]+:\s*//' \
           | grep -v 'determinism: ' || true)
    if [ -n "$hits" ]; then
      echo "$hits"
      status=1
    fi
  done
fi
echo "banned_apis: checked $checked files" >&2
if [ "$status" -ne 0 ]; then
  echo "banned_apis: the lines above break the determinism rules of docs/architecture.md" >&2
fi
exit "$status"

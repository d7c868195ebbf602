#!/usr/bin/env bash
# Fails if C++ sources under the given directories use an API that DESIGN.md bans in core/ and
# sim/: threads, global randomness, wall or real clocks, the environment, direct syscalls, and
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

status=0
checked=0
for path in "$@"; do
  [ -n "$path" ] || continue
  [ -e "$path" ] || { echo "banned_apis: no such file or directory: $path" >&2; exit 2; }
  mapfile -d '' files < <(find "$path" \( -name '*.h' -o -name '*.cc' -o -name '*.hpp' \
                                         -o -name '*.cpp' \) -print0 | sort -z)
  [ "${#files[@]}" -gt 0 ] || continue
  checked=$((checked + ${#files[@]}))
  # One grep per pattern over all the files (not one per file: spawning thousands of processes
  # took most of a minute on a loaded 2-core machine). -H prints file:line:text as before.
  for pattern in "${banned_patterns[@]}"; do
    # Skip comment-only lines; allow the documented opt-out for lookup-only hash containers.
    hits=$(grep -HnE -- "$pattern" "${files[@]}" | grep -vE '^[^:]+:[0-9]+:\s*//' \
           | grep -v 'determinism: ' || true)
    if [ -n "$hits" ]; then
      echo "$hits"
      status=1
    fi
  done
done
echo "banned_apis: checked $checked files" >&2
if [ "$status" -ne 0 ]; then
  echo "banned_apis: the lines above break the determinism rules of DESIGN.md" >&2
fi
exit "$status"

#!/usr/bin/env bash
# The determinism rule, enforced: core/ and sim/ must be free of banned APIs, and the checker
# must catch each kind of ban in a planted file (so it cannot silently pass everything).
set -uo pipefail
checker="$1"; shift
planted="$1"; shift

# The workspace is where the checker script really lives (runfiles are symlinks to it).
workspace=$(cd "$(dirname "$(readlink -f "$checker")")/.." && pwd)
[ -d "$workspace/core" ] && [ -d "$workspace/sim" ] || { echo "FAIL: no core/ or sim/ under $workspace"; exit 1; }
files=$(find "$workspace/core" "$workspace/sim" \( -name '*.h' -o -name '*.cc' \) | wc -l)
[ "$files" -gt 50 ] || { echo "FAIL: only $files sources found under $workspace: wrong tree?"; exit 1; }
if ! "$checker" "$workspace/core" "$workspace/sim"; then
  echo "FAIL: banned APIs found in core/ or sim/ (lines above)"
  exit 1
fi
echo "ok: no banned APIs in $files source files of core/ and sim/"

output=$("$checker" "$planted" 2>&1)
if [ $? -eq 0 ]; then
  echo "FAIL: the checker passed a directory of planted violations"
  exit 1
fi
for expected in std::thread 'rand()' random_device steady_clock getenv unistd.h \
                std::unordered_map absl::flat_hash_set; do
  if ! grep -qF -- "$expected" <<< "$output"; then
    echo "FAIL: planted use of $expected was not reported"
    echo "$output"
    exit 1
  fi
done
if grep -q 'allowed_lookup' <<< "$output"; then
  echo "FAIL: a line marked 'determinism: lookup-only' was reported"
  exit 1
fi
if grep -q 'commented_out' <<< "$output"; then
  echo "FAIL: a comment line was reported"
  exit 1
fi
echo "ok: every planted violation was reported"

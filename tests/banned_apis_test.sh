#!/usr/bin/env bash
# The determinism rule, enforced: core/ and sim/ must be free of banned APIs, and the checker
# must catch each kind of ban in a planted file (so it cannot silently pass everything).
# Usage: banned_apis_test.sh CHECKER PLANTED_DIR SOURCE... (the sources are declared inputs:
# //tests:core_and_sim_sources, so the test is sandboxed and cached like any other).
set -uo pipefail
checker="$1"; shift
planted="$1"; shift

files=$#
if [ "$files" -le 50 ]; then
  echo "FAIL: only $files sources of core/ and sim/ given: lost roots in tests/BUILD.bazel?"
  exit 1
fi
for directory in core/raft core/log core/broker core/client core/replica core/wire sim; do
  # grep -c, not -q: -q exits at the first match and, under pipefail, printf's SIGPIPE would
  # fail the pipeline (this test failed that way once the list outgrew the pipe buffer).
  if ! printf '%s\n' "$@" | grep -c "^$directory/" >/dev/null; then
    echo "FAIL: no source of $directory/ among the inputs (SOURCE_ROOTS in tests/BUILD.bazel)"
    exit 1
  fi
done
if ! "$checker" "$@"; then
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

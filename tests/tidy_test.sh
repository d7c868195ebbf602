#!/usr/bin/env bash
# The house style, enforced: every source file passes tests/tidy.py (functions of at most 70
# lines, 100 columns, clang-format-14 clean, assertion floors of core/raft, core/log and
# core/replica), and the checker reports each kind of planted
# violation and none of the planted near misses (so it cannot silently pass everything).
# Usage: tidy_test.sh TIDY_PY CLANG_FORMAT_STYLE PLANTED_DIR SOURCE...
set -uo pipefail
tidy="$1"; style="$2"; planted="$3"; shift 3
clang_format=/usr/bin/clang-format-14
python=/usr/bin/python3
[ -x "$clang_format" ] || { echo "FAIL: $clang_format is missing: run bazel/setup.sh"; exit 1; }
if [ "$#" -le 150 ]; then
  echo "FAIL: only $# sources given: lost roots in tests/BUILD.bazel?"
  exit 1
fi

if ! "$python" "$tidy" --clang-format="$clang_format" --style="$style" "$@"; then
  echo "FAIL: the lines above break the house style (STYLE.md; exceptions are listed in tidy.py)"
  exit 1
fi
echo "ok: $# source files are tidy"

output=$("$python" "$tidy" --no-exceptions --clang-format="$clang_format" --style="$style" \
         --assertion-floor="$planted=0.7" "$planted"/*.cc 2>&1)
if [ $? -eq 0 ]; then
  echo "FAIL: the checker passed a directory of planted violations"
  echo "$output"
  exit 1
fi
for expected in 'long_function.cc:78: function TooLong is 71 lines' \
                'long_function.cc:152: function TooLongMember is 71 lines' \
                'long_line.cc:5: 101 columns' \
                'unformatted.cc:2: not clang-format clean' \
                "$planted: 0.67 assertions per function"; do
  if ! grep -qF -- "$expected" <<< "$output"; then
    echo "FAIL: planted violation not reported: $expected"
    echo "$output"
    exit 1
  fi
done
for near_miss in JustRight 'long_line.cc:7' 'long_function.cc: not clang-format'; do
  if grep -qF -- "$near_miss" <<< "$output"; then
    echo "FAIL: a planted near miss was reported: $near_miss"
    echo "$output"
    exit 1
  fi
done
output=$("$python" "$tidy" --no-exceptions --clang-format="$clang_format" --style="$style" \
         --assertion-floor="$planted=0.6" "$planted"/*.cc 2>&1)
if grep -qF -- "assertions per function" <<< "$output"; then
  echo "FAIL: a package at 0.67 assertions per function was reported under a floor of 0.6"
  echo "$output"
  exit 1
fi
echo "ok: every planted violation was reported, and no near miss"

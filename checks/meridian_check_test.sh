#!/usr/bin/env bash
# The meridian-check binary itself: flag parsing, exit codes and which checker it says ran.
# Usage: meridian_check_test.sh MERIDIAN_CHECK TESTDATA_DIR
set -uo pipefail
check="$1"
data="$2"
failures=0

expect() {  # expect EXIT_CODE TEXT ARGS...: runs the binary, checks its exit code and output
  local want_code="$1" want_text="$2"
  shift 2
  local out code
  out=$("$check" "$@" 2>&1)
  code=$?
  if [ "$code" -ne "$want_code" ]; then
    echo "FAIL: meridian-check $* exited $code, want $want_code; output:"; echo "$out"
    failures=$((failures + 1))
  elif ! grep -qF -- "$want_text" <<< "$out"; then
    echo "FAIL: meridian-check $* did not print \"$want_text\"; output:"; echo "$out"
    failures=$((failures + 1))
  fi
}

expect 0 "checker log: valid" "$data/log_valid.jsonl"
expect 0 "checker linearizability/log: valid" --checker=all "$data/log_valid.jsonl"
expect 1 "checker log: invalid (1 lost-write)" "$data/log_lost_write.jsonl"
expect 1 "checker linearizability/register: invalid" "$data/register_stale_read.jsonl"
expect 1 "checker linearizability/kv: invalid" --checker=linearizability --model=kv \
  "$data/register_stale_read.jsonl"
expect 1 "checker linearizability/register: invalid" --info_window_ns=0 \
  "$data/register_stale_read.jsonl"
expect 3 "usage: meridian-check" "$data/log_valid.jsonl" "$data/log_valid.jsonl"
expect 3 "cannot open history file" "$data/no_such_file.jsonl"
expect 3 "unknown model" --checker=linearizability --model=queue "$data/log_valid.jsonl"
# A mistyped flag is bad usage (3), never "anomalies found" (1), which a CI script acts on.
expect 3 "unknown flag --chcker" --chcker=log "$data/log_valid.jsonl"
expect 3 "time_limit_s" --time_limit_s=soon "$data/log_valid.jsonl"
expect 0 "--unseen_is_anomaly" --help

html="${TEST_TMPDIR:-/tmp}/report.html"
expect 1 "HTML report: $html" --html="$html" "$data/log_lost_write.jsonl"
grep -q 'class="op ok f-send bad"' "$html" || { echo "FAIL: no highlighted send in $html"; failures=$((failures + 1)); }

if [ "$failures" -ne 0 ]; then
  echo "$failures failures"
  exit 1
fi
echo "PASS"

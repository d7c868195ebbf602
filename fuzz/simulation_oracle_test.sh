#!/bin/bash
# The simulation fuzz target's oracle catches a wrong system: its corpus replay with a broker bug
# planted (MERIDIAN_FUZZ_PLANTED_BUG) must abort, name a violation and print the meridian-sim
# command that replays the failing run, and that command must fail the same way.
# Usage: simulation_oracle_test.sh CORPUS_TEST CORPUS_DIR MERIDIAN_SIM
set -u
corpus_test=$1
corpus_dir=$2
meridian_sim=$3
out=$(mktemp)
trap 'rm -f "$out"' EXIT

# Without a planted bug every seed passes (what simulation_corpus_test checks too).
if ! "$corpus_test" "$corpus_dir" >"$out" 2>&1; then
  echo "FAIL: the corpus fails with no bug planted:"; tail -20 "$out"; exit 1
fi

# client-key-hash (the producer routes keys by FNV-1a, not murmur2) is caught by any keyed run
# of two or more partitions, whatever its schedule; fetch-above-hwm and ack-before-quorum depend
# on the schedule, and which seeds catch them can move when scheduling changes (the seeds of
# dee3ec3 stopped catching ack-before-quorum when the broker began coalescing responses, and
# seed-acks-before-quorum-lost was added): then add a seed that does.
for bug in client-key-hash fetch-above-hwm ack-before-quorum; do
  if MERIDIAN_FUZZ_PLANTED_BUG=$bug "$corpus_test" "$corpus_dir" >"$out" 2>&1; then
    echo "FAIL: with --bug=$bug planted, every simulation seed passed: the oracle is blind"
    exit 1
  fi
  if ! grep -q '^violation: ' "$out"; then
    echo "FAIL: --bug=$bug: the run died without naming a violation:"; tail -20 "$out"; exit 1
  fi
  repro=$(grep -o 'reproduce with: bazel run //sim:meridian-sim -- .*' "$out" | head -1)
  if [[ -z $repro || $repro != *"--bug=$bug"* || $repro != *"--schedule="* ]]; then
    echo "FAIL: --bug=$bug: no meridian-sim command with the bug and the schedule:"
    tail -20 "$out"; exit 1
  fi
  # The printed command, run as printed (its --schedule is single-quoted for a shell).
  args=${repro#reproduce with: bazel run //sim:meridian-sim -- }
  eval "set -- $args"
  "$meridian_sim" "$@" >"$out" 2>/dev/null
  rc=$?
  if [[ $rc -ne 1 ]] || ! grep -q '"violations":\["' "$out"; then
    echo "FAIL: --bug=$bug: the printed command did not fail the same way (exit $rc):"
    cut -c1-400 "$out"; exit 1
  fi
  echo "ok: --bug=$bug caught; the printed command replays the failure"
done
echo PASS

#!/usr/bin/env bash
# The meridian-sim command line, as users and CI rely on it:
# - --seed=N prints one JSON line with the promised keys; the same seed in another process
#   prints the same trace_hash (determinism across processes, not just within one);
# - a planted per-process nondeterminism (hash-set iteration order) is caught by exactly that
#   cross-process comparison;
# - a failing run exits 1 and prints its repro line; bad usage exits 2; --trace writes a trace.
set -uo pipefail
sim="$1"
check="$2"
fail() { echo "FAIL: $*"; exit 1; }
hash_of() { grep -o '"trace_hash":"[0-9a-f]*"' <<< "$1"; }

out=$("$sim" --seed=1 --duration=5 --heal=10) || fail "seed 1 failed: $out"
[ "$(wc -l <<< "$out")" -eq 1 ] || fail "expected one line, got: $out"
for key in seed scenario workload topics partitions virtual_s wall_s events trace_hash faults ops verdict repro; do
  grep -q "\"$key\":" <<< "$out" || fail "key $key missing from: $out"
done
grep -q '"verdict":"ok"' <<< "$out" || fail "seed 1 verdict: $out"

for seed in 1 2 3; do
  a=$("$sim" --seed=$seed --duration=5 --heal=10); b=$("$sim" --seed=$seed --duration=5 --heal=10)
  [ "$(hash_of "$a")" = "$(hash_of "$b")" ] || fail "seed $seed replayed differently: $(hash_of "$a") vs $(hash_of "$b")"
done
[ "$(hash_of "$("$sim" --seed=1 --duration=5 --heal=10)")" != "$(hash_of "$("$sim" --seed=2 --duration=5 --heal=10)")" ] \
  || fail "seeds 1 and 2 gave the same trace"
echo "ok: same seed, same trace_hash across processes; different seeds differ"

planted=$(for i in 1 2 3 4 5 6 7 8; do hash_of "$("$sim" --seed=1 --duration=5 --heal=10 --plant_nondeterminism)"; done | sort -u | wc -l)
[ "$planted" -ge 2 ] || fail "planted hash-order nondeterminism not caught (1 distinct hash in 8 processes)"
echo "ok: planted nondeterminism gave $planted distinct trace hashes in 8 processes"

# The first seed of 1..20 that catches the planted bug (which one depends on the workload's
# details; that one does is what matters) must exit 1 and print its repro line.
status=0
for seed in $(seq 1 20); do
  out=$("$sim" --seed=$seed --duration=5 --heal=10 --clients=3 --buggify=off \
        --bug=ack-before-quorum --kinds=crash 2>&1); status=$?
  [ "$status" -eq 0 ] || break
done
[ "$status" -eq 1 ] || fail "a failing run must exit 1 (got $status): $out"
grep -q "FAILED: reproduce with: bazel run //sim:meridian-sim -- --seed=$seed" <<< "$out" \
  || fail "no repro line: $out"
echo "ok: failing run exits 1 with its repro line"

"$sim" --seed=x >/dev/null 2>&1; [ $? -eq 2 ] || fail "bad --seed must exit 2"
"$sim" --seed=1 --scenario=nowhere >/dev/null 2>&1; [ $? -eq 2 ] || fail "bad --scenario must exit 2"
"$sim" --seed=1 --kinds=meteor >/dev/null 2>&1; [ $? -eq 2 ] || fail "bad --kinds must exit 2"
"$sim" --seeds=5..1 >/dev/null 2>&1; [ $? -eq 2 ] || fail "bad --seeds must exit 2"
"$sim" --seed=1 --bogus >/dev/null 2>&1; [ $? -eq 2 ] || fail "an unknown flag must exit 2"
"$sim" --seed=1 --duration=soon >/dev/null 2>&1; [ $? -eq 2 ] || fail "a flag value that does not parse must exit 2"
help=$("$sim" --help) || fail "--help must exit 0"
grep -q -- "^    --scenario (default: " <<< "$help" || fail "--help does not list --scenario: $help"

trace="${TEST_TMPDIR:-/tmp}/trace.txt"
"$sim" --seed=3 --duration=2 --heal=5 --trace="$trace" >/dev/null || fail "traced run failed"
grep -q 'nemesis: heal' "$trace" || fail "trace lacks the heal"
[ "$(wc -l < "$trace")" -gt 100 ] || fail "trace suspiciously short"
echo "ok: --trace wrote $(wc -l < "$trace") lines"

# --schedule: the schedule a trace lists, given back explicitly, replays the run exactly; one
# outside the generator's envelope, or for a scenario that scripts its own faults, exits 2.
schedule=$(sed -n 's/^schedule\[[0-9]*\] //p' "$trace" | paste -sd';')
[ -n "$schedule" ] || fail "the trace lists no schedule"
a=$("$sim" --seed=3 --duration=2 --heal=5) || fail "seed 3 failed: $a"
b=$("$sim" --seed=3 --duration=2 --heal=5 --schedule="$schedule") || fail "--schedule run failed: $b"
[ "$(hash_of "$a")" = "$(hash_of "$b")" ] || fail "--schedule of the generated schedule ran differently"
grep -q -- "--schedule='" <<< "$b" || fail "the repro line lacks --schedule: $b"
out=$("$sim" --seed=1 --schedule='crash@1s(target=1,length=9s,rate_ppm=0)' 2>&1); status=$?
[ "$status" -eq 2 ] && grep -q "its length must be 200ms to 4s" <<< "$out" \
  || fail "a crash of 9s must be refused with exit 2 (got $status): $out"
"$sim" --seed=1 --schedule='crash@1s' >/dev/null 2>&1; [ $? -eq 2 ] || fail "a malformed --schedule must exit 2"
"$sim" --seed=2 --workload=raft --replicas=1 --damage_at_rest >/dev/null 2>&1; [ $? -eq 2 ] \
  || fail "--damage_at_rest with one replica must exit 2 (it asserted in the runner)"
# Not given, damage at rest is on from 3 replicas (the default sweep runs it) and off below, where
# a lone replica cannot repair (seed 2 of one replica also took a partition, which split nothing:
# an assertion in the nemesis until 2026-12-05).
"$sim" --seed=2 --workload=raft --replicas=1 >/dev/null || fail "one replica, seed 2, failed"
# --election_window sets the raft workload's window (its replay line keeps it); where it would
# set nothing it is refused, not ignored.
out=$("$sim" --workload=raft --seed=1 --election_window=1 2>/dev/null)
grep -q '"replication_window":1' <<< "$out" && grep -q -- '--election_window=1"' <<< "$out" \
  || fail "--election_window=1 must narrow the raft workload's window: $out"
"$sim" --workload=raft --seed=1 --election_window_on_controller >/dev/null 2>&1; [ $? -eq 2 ] \
  || fail "--election_window_on_controller with the raft workload must exit 2"
"$sim" --seed=1 --election_faults=none --election_window=1 >/dev/null 2>&1; [ $? -eq 2 ] \
  || fail "--election_window with no election schedule must exit 2"
out=$("$sim" --workload=raft --seed=3 --bug=vote-without-log-check --damage_at_rest=false 2>/dev/null)
grep -q -- '--bug=vote-without-log-check --damage_at_rest=false"' <<< "$out" \
  || fail "a repro line must keep --damage_at_rest=false: $out"
"$sim" --seed=1 --scenario=spike-10x --schedule='crash@1s(target=1,length=1s,rate_ppm=0)' \
  >/dev/null 2>&1; [ $? -eq 2 ] || fail "--schedule for a scripted scenario must exit 2"
echo "ok: --schedule replays a traced schedule exactly and refuses what the generator never draws"

history="${TEST_TMPDIR:-/tmp}/history.jsonl"
"$sim" --seed=4 --duration=5 --heal=10 --history="$history" >/dev/null || fail "run with --history failed"
verdict=$("$check" "$history") || fail "meridian-check rejected seed 4's history: $verdict"
grep -q 'verdict: valid' <<< "$verdict" || fail "meridian-check: $verdict"
# $seed: the failing seed found above.
"$sim" --seed=$seed --duration=5 --heal=10 --clients=3 --buggify=off --bug=ack-before-quorum \
  --kinds=crash --history="$history" >/dev/null 2>&1
"$check" "$history" >/dev/null; [ $? -eq 1 ] || fail "meridian-check passed a history with lost acknowledged writes"
echo "ok: --history feeds meridian-check, which passes a valid run and fails ack-before-quorum"

sweep=$("$sim" --seeds=1..5 --duration=5 --heal=10) || fail "sweep failed: $sweep"
grep -q '"seeds":5,"failed":0' <<< "$sweep" || fail "sweep summary: $sweep"
echo "ok: sweep summary"
# The raft workload, behind the same runner: its planted bugs by name, a sweep summary with the
# first failing seed and its election schedules, the common repro line, and shrinking.
out=$("$sim" --workload=raft --seeds=1..5 --bug=vote-without-log-check 2>&1); status=$?
[ "$status" -eq 1 ] || fail "raft sweep with vote-without-log-check must exit 1 (got $status): $out"
# Which seed fails first moves whenever the runner's schedules change; the summary and the
# failing seed's repro line must agree on it.
first=$(grep -o '"first_failed_seed":[0-9]*' <<< "$out" | cut -d: -f2)
[ -n "$first" ] && [ "$first" -ge 1 ] || fail "raft sweep summary: $out"
grep -q '"workload":"raft","scenario":"raft-3","election_faults":{' <<< "$out" \
  || fail "raft sweep summary keys: $out"
grep -q "\"repro\":\"bazel run //sim:meridian-sim -- --seed=$first --workload=raft --duration=20 --heal=20 --replicas=3 --bug=vote-without-log-check\"" \
  <<< "$out" || fail "raft repro line: $out"
out=$("$sim" --workload=raft --seed="$first" --bug=vote-without-log-check --shrink 2>/dev/null); status=$?
[ "$status" -eq 1 ] && grep -q "^replay: .*--workload=raft .*--faults=" <<< "$out" \
  || fail "raft shrink ($status): $out"
"$sim" --workload=raft --seed=1 --scenario=geo-3x3 >/dev/null 2>&1; [ $? -eq 2 ] \
  || fail "--scenario with the raft workload must exit 2"
"$sim" --seed=1 --replicas=5 >/dev/null 2>&1; [ $? -eq 2 ] \
  || fail "--replicas with the broker workload must exit 2"
"$sim" --seed=1 --workload=toy >/dev/null 2>&1; [ $? -eq 2 ] || fail "the toy workload is gone"
"$sim" --workload=raft --seed=1 --election_faults=none >/dev/null || fail "raft seed 1 failed"
"$sim" --workload=raft --seed=1 --bug=nonsense >/dev/null 2>&1; [ $? -eq 2 ] \
  || fail "bad raft --bug must exit 2"
"$sim" --workload=raft --seed=1 --election_faults=x >/dev/null 2>&1; [ $? -eq 2 ] \
  || fail "bad --election_faults must exit 2"
"$sim" --workload=raft --seed=1 --transfers=maybe >/dev/null 2>&1; [ $? -eq 2 ] \
  || fail "bad --transfers must exit 2"
"$sim" --seed=1 --transfers=on >/dev/null 2>&1; [ $? -eq 2 ] \
  || fail "--transfers with the broker workload must exit 2"
"$sim" --workload=raft --seed=1 --slow_acks=sometimes >/dev/null 2>&1; [ $? -eq 2 ] \
  || fail "bad --slow_acks must exit 2"
out=$("$sim" --workload=raft --seed=1 --slow_acks=on 2>/dev/null)
grep -q '"slow_acks":[1-9].*--slow_acks=on"' <<< "$out" || fail "raft --slow_acks=on: $out"
"$sim" --workload=raft --seed=1 --lease_rivals=often >/dev/null 2>&1; [ $? -eq 2 ] \
  || fail "bad --lease_rivals must exit 2"
out=$("$sim" --workload=raft --seed=1 --lease_rivals=on 2>/dev/null)
grep -q '"lease_rivals":[1-9].*--lease_rivals=on"' <<< "$out" || fail "raft --lease_rivals=on: $out"
"$sim" --workload=raft --seed=1 --membership=sometimes >/dev/null 2>&1; [ $? -eq 2 ] \
  || fail "bad --membership must exit 2"
out=$("$sim" --workload=raft --seed=1 --membership=on 2>/dev/null)
grep -q '"membership_changes":[1-9].*--membership=on"' <<< "$out" || fail "raft --membership=on: $out"
out=$("$sim" --workload=raft --seed=1 --transfers=on --bug=lease-read-during-transfer 2>/dev/null)
grep -q '"transfers":[1-9].*--transfers=on"' <<< "$out" || fail "raft --transfers=on: $out"
# The broker workload aims the same election schedules at its controller's group or partition 0's.
out=$("$sim" --seed=1 --election_faults=vote_restart 2>/dev/null)
grep -q '"election_faults":{"schedule":"vote_restart","target":"[a-z0-9-]*","episodes":[1-9].*--election_faults=vote_restart"' \
  <<< "$out" || fail "broker --election_faults=vote_restart: $out"
out=$("$sim" --seeds=1..2 2>/dev/null)
grep -q '"workload":"broker",.*"election_faults":{' <<< "$out" || fail "broker sweep summary: $out"
# The aimed group's replication window is in the JSON; the controller's only with the flag, which
# the replay command keeps.
out=$("$sim" --seed=1 --election_faults=figure8 2>/dev/null)
grep -q '"election_faults":{"schedule":"figure8","target":"[a-z0-9-]*","episodes":[0-9]*,"window":[014]}' \
  <<< "$out" || fail "broker election window: $out"
out=$("$sim" --seed=1 --election_faults=figure8 --election_window_on_controller 2>/dev/null)
grep -q '"repro":"[^"]*--election_window_on_controller' <<< "$out" \
  || fail "--election_window_on_controller must be in the replay command: $out"
"$sim" --seed=1 --election_faults=x >/dev/null 2>&1; [ $? -eq 2 ] \
  || fail "bad broker --election_faults must exit 2"
echo "ok: raft workload"

# A seed that dies (an assertion inside a node, a fatal signal) still names the command that
# replays it, on stderr, before the process dies of it (io/fatal_context.h; issue 17): a sweep
# killed by a seed used to end with the assertion alone, no seed to replay.
# ack-before-fsync trips a replica's assertion ("acknowledging index 1 beyond the synced log")
# at once, on every seed.
died="bazel run //sim:meridian-sim -- --seed=1 --workload=raft --duration=20 --heal=20 --replicas=3 --bug=ack-before-fsync"
err=$("$sim" --workload=raft --seeds=1..40 --bug=ack-before-fsync 2>&1 >/dev/null); status=$?
[ "$status" -eq 134 ] || fail "a seed dying of an assertion must kill the sweep by SIGABRT (got $status): $err"
grep -q 'assertion failed: .*beyond the synced log' <<< "$err" || fail "no assertion: $err"
grep -qF "*** the process died during: seed 1; reproduce with: $died" <<< "$err" \
  || fail "the dying sweep did not name its seed and replay command: $err"
# The printed command is itself a meridian-sim command.
err=$("$sim" ${died#bazel run //sim:meridian-sim -- } 2>&1 >/dev/null); status=$?
[ "$status" -eq 134 ] && grep -qF "seed 1; reproduce with: $died" <<< "$err" \
  || fail "the printed replay command did not die the same way ($status): $err"
# The seed named is the one that died, not the first of the sweep (--plant_crash kills seed N as
# it starts); a fatal signal (SIGSEGV) names it too, in sweeps and single runs.
err=$("$sim" --workload=raft --seeds=1..4 --plant_crash=3:assert 2>&1 >/dev/null); status=$?
[ "$status" -eq 134 ] && grep -qF "*** the process died during: seed 3; reproduce with: bazel run //sim:meridian-sim -- --seed=3 --workload=raft " <<< "$err" \
  || fail "raft seed 3's planted assertion ($status): $err"
err=$("$sim" --seeds=1..4 --duration=2 --heal=5 --plant_crash=2:segv 2>&1 >/dev/null); status=$?
[ "$status" -eq 139 ] && grep -qF "*** the process died during: seed 2; reproduce with: bazel run //sim:meridian-sim -- --seed=2 " <<< "$err" \
  || fail "broker seed 2's planted SIGSEGV ($status): $err"
err=$("$sim" --seed=5 --workload=raft --plant_crash=5:segv 2>&1 >/dev/null); status=$?
[ "$status" -eq 139 ] && grep -qF "seed 5; reproduce with: bazel run //sim:meridian-sim -- --seed=5 --workload=raft " <<< "$err" \
  || fail "a single raft run's planted SIGSEGV ($status): $err"
"$sim" --seed=1 --plant_crash=x >/dev/null 2>&1; [ $? -eq 2 ] || fail "bad --plant_crash must exit 2"
echo "ok: a seed that dies names its replay command"
echo "1 passed, 0 failed"

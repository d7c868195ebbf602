#!/usr/bin/env bash
# The meridian CLI against three real meridian-node processes on loopback ports.
#
# Creates a topic (3 partitions, replication factor 3), produces 10,000 keyed lines in two
# halves, kill -9s the leader of partition 0 between the halves and restarts it afterwards, then
# consumes from the beginning and checks that every line came back exactly once and that every
# partition's offsets run 0..n-1 without a gap. Also checks a few CLI errors (unknown topic: exit
# 1 with a clear message; bad flag: exit 2; nothing listening: exit 1). Every wait polls with a
# deadline and says what it waited for; every process is killed at exit.
#
# Usage: cli_test.sh MERIDIAN_NODE MERIDIAN  (Bazel passes both; see tests/broker/BUILD.bazel)
# CLI_TEST_NODE_ARGS: extra flags for every node (cli_per_partition_log_test:
# --node_wide_log=false). With the node-wide log (the default) it also checks that its metrics
# moved; without it, that the data directory holds none.
set -euo pipefail

NODE_BIN=$(realpath "$1")
CLI_BIN=$(realpath "$2")
WORK=$(mktemp -d "${TEST_TMPDIR:-/tmp}/cli_test.XXXXXX")
TOPIC=cli-test
RECORDS=10000
HALF=$((RECORDS / 2))
declare -a NODE_PID CLIENT_PORT PEER_PORT KAFKA_PORT METRICS_PORT

source "${TEST_SRCDIR:-$0.runfiles}/meridian/tests/cluster_lib.sh"  # cleanup, fail, wait_until, pick_ports

make_certs "$CLI_BIN" 3  # Peer links and the client port run mutual TLS (cluster_lib.sh).
pick_cluster_ports  # CLIENT_PORT, PEER_PORT, METRICS_PORT, SPARE_PORT, BOOTSTRAP (cluster_lib.sh)

start_node() {
  # shellcheck disable=SC2046,SC2086  # The TLS flags and CLI_TEST_NODE_ARGS are word lists.
  start_cluster_node "$NODE_BIN" "$1" --leader_balance_delay_ms=2000 $(node_tls_flags "$1") \
    ${CLI_TEST_NODE_ARGS:-}
}

# cli [--timeout=S] ARGS...: the CLI against this cluster (default budget 20 s per operation).
cli() {
  local timeout=--timeout=20
  if [[ "${1:-}" == --timeout=* ]]; then timeout=$1; shift; fi
  "$CLI_BIN" --bootstrap="$BOOTSTRAP" "$timeout" "${CLI_TLS_FLAGS[@]}" "$@"
}


# Every partition of the topic has a leader and no replica lags (all unreachable-free).
topic_caught_up() {
  local out
  out=$(cli --timeout=2 cluster status 2>&1) || return 1
  echo "$out" >"$WORK/status.txt"
  awk -v t="$TOPIC" '
    $1 == t { rows++; if ($3 == "-" || $0 ~ /unreachable/ || gsub(/\(lag 0\)/, "") != 3) bad++ }
    END { exit !(rows == 3 && bad == 0) }' <<<"$out"
}


# Every partition replica on node NODE sleeps (core/raft/design.md "Quiescence").
all_quiesced() {
  local hosted quiesced
  hosted=$(metric "$1" meridian_partitions_hosted) || return 1
  quiesced=$(metric "$1" meridian_quiesced_partitions) || return 1
  [ -n "$hosted" ] && [ "$hosted" = "$quiesced" ]
}

partition_leader() {
  cli cluster status | awk -v t="$TOPIC" -v p="$1" '$1 == t && $2 == p { print $3 }'
}

# expect_exit CODE STDERR_PATTERN COMMAND...: runs a CLI command that must fail this way.
expect_exit() {
  local want=$1 pattern=$2 rc=0
  shift 2
  "$@" >"$WORK/err.out" 2>"$WORK/err.txt" || rc=$?
  [ "$rc" -eq "$want" ] || fail "'$*' exited $rc, want $want; stderr: $(cat "$WORK/err.txt")"
  grep -qE -e "$pattern" "$WORK/err.txt" ||
    fail "'$*': stderr lacks /$pattern/: $(cat "$WORK/err.txt")"
  echo "  ok: exit $rc: $(head -n 1 "$WORK/err.txt")"
}

echo "== starting 3 nodes (client ports ${CLIENT_PORT[*]}, peer ports ${PEER_PORT[*]}, in $WORK)"
started_ms=$(now_ms)
for i in 1 2 3; do start_node "$i"; done
wait_until 60 "3 registered nodes and a controller leader in 'cluster status'" cluster_ready
echo "  cluster ready in $(($(now_ms) - started_ms)) ms"

echo "== CLI errors"
expect_exit 1 "topic 'no-such-topic' does not exist" cli consume no-such-topic --from-beginning
expect_exit 1 "topic 'no-such-topic' does not exist" cli produce no-such-topic </dev/null
expect_exit 2 "unknown flag --bogus" cli produce "$TOPIC" --bogus
expect_exit 2 "--partitions='abc' is not an integer" \
  cli topic create x --partitions=abc --replication-factor=3
expect_exit 2 "unknown subcommand 'frobnicate'" cli frobnicate
# The node refuses bad retention settings before it says it is up.
rc=0
"$NODE_BIN" --node_id=9 --data_dir="$WORK/bad" --segment_bytes=10 --insecure_plaintext >/dev/null 2>"$WORK/err.txt" || rc=$?
[ "$rc" -eq 2 ] && grep -q -- "--segment_bytes must be in" "$WORK/err.txt" \
  || fail "meridian-node --segment_bytes=10 exited $rc: $(cat "$WORK/err.txt")"
echo "  ok: exit 2: $(head -n 1 "$WORK/err.txt")"
expect_exit 1 "cannot reach any node at 127.0.0.1:$SPARE_PORT" \
  "$CLI_BIN" --bootstrap="127.0.0.1:$SPARE_PORT" --timeout=1 topic list

echo "== topic create $TOPIC: 3 partitions, replication factor 3"
cli topic create "$TOPIC" --partitions=3 --replication-factor=3 || fail "topic create failed"
expect_exit 1 "topic '$TOPIC' already exists" \
  cli topic create "$TOPIC" --partitions=3 --replication-factor=3
expect_exit 1 "the new total must be in 4..1024" cli topic add-partitions "$TOPIC" --total=2
expect_exit 2 "--total" cli topic add-partitions "$TOPIC"
# topic alter: retention after creation (validate_only first: nothing changes), one setting at a
# time; refusals: nothing to alter, an unknown topic, the internal topic.
expect_exit 2 "nothing to alter" cli topic alter "$TOPIC"
expect_exit 2 "--retention-ms='-5' is not an integer" cli topic alter "$TOPIC" --retention-ms=-5
expect_exit 1 "topic 'nope' does not exist" cli topic alter nope --retention-ms=1000
expect_exit 1 "internal" cli topic alter __consumer_offsets --retention-ms=1000
cli topic alter "$TOPIC" --retention-ms=86400000 --validate-only | grep -q "nothing changed" ||
  fail "topic alter --validate-only"
cli topic describe "$TOPIC" | grep -q "retention unlimited, unlimited" ||
  fail "validate-only changed the topic: $(cli topic describe "$TOPIC" | head -n 1)"
cli topic alter "$TOPIC" --retention-ms=86400000 || fail "topic alter --retention-ms"
cli topic alter "$TOPIC" --retention-bytes=1073741824 || fail "topic alter --retention-bytes"
cli topic describe "$TOPIC" | grep -q "retention 1073741824 bytes, 86400000 ms" ||
  fail "topic alter: $(cli topic describe "$TOPIC" | head -n 1)"
cli topic alter "$TOPIC" --retention-bytes=0 --retention-ms=0 >/dev/null || fail "topic alter back"
cli topic alter --help | grep -q -- "--validate-only" || fail "topic alter --help"
cli topic describe "$TOPIC"
cli topic describe "$TOPIC" | grep -q "strong" || fail "a 3-region cluster places strong topics"

echo "== consistency modes and placement constraints (one node in each of r1, r2, r3)"
expect_exit 2 "--consistency='bogus': use strong, regional or spread" \
  cli topic create geo --partitions=1 --replication-factor=1 --consistency=bogus
expect_exit 2 "--home-region needs --consistency=regional" \
  cli topic create geo --partitions=1 --replication-factor=3 --home-region=r1
expect_exit 2 "--observers-per-region needs --consistency=regional" \
  cli topic create geo --partitions=1 --replication-factor=3 --consistency=strong \
  --observers-per-region=1
expect_exit 1 "home region 'mars' .where a strong topic's leaders are preferred. has no" \
  cli topic create geo --partitions=1 --replication-factor=3 --consistency=strong \
  --home-region=mars
expect_exit 1 "home region 'r1', which has 1 node" \
  cli topic create geo --partitions=1 --replication-factor=3 --consistency=regional \
  --home-region=r1
expect_exit 1 "'mars' has no registered node" \
  cli topic create geo --partitions=1 --replication-factor=1 --consistency=regional \
  --home-region=mars
expect_exit 1 "needs replication factor >= 3" \
  cli topic create geo --partitions=1 --replication-factor=1 --consistency=strong
cli topic create geo --partitions=2 --replication-factor=1 --consistency=regional \
  --home-region=r2 --observers-per-region=1 || fail "regional topic create failed"
cli topic describe geo >"$WORK/geo.txt"
cat "$WORK/geo.txt"
grep -q "regional (home r2, 1 observer per other region)" "$WORK/geo.txt" \
  || fail "describe does not show the regional mode"
# Each partition: voter node 2 (r2), observers nodes 1 and 3 (the other regions), epoch 0.
[ "$(grep -cE '^  [01] .* 2 +1,3 +0$' "$WORK/geo.txt")" = 2 ] \
  || fail "regional placement is not voter 2, observers 1,3"
cli topic delete geo || fail "topic delete geo failed"
# A strong topic led from r2: every partition lists node 2 (the only r2 node) first, and the
# leader balancer (--leader_balance_delay_ms=2000 here) moves every leadership there.
cli topic create led --partitions=3 --replication-factor=3 --consistency=strong \
  --home-region=r2 || fail "strong topic create with a home region failed"
cli topic describe led | grep -q "strong (leaders in r2)" \
  || fail "describe does not show the strong topic's leader region"
[ "$(cli topic describe led | grep -cE '^  [012] .* 2,[13],[13] +- +0$')" = 3 ] \
  || fail "a strong topic with home region r2 does not list node 2 first"
for _ in $(seq 1 60); do
  [ "$(cli topic describe led | grep -cE '^  [012] +2 ')" = 3 ] && break
  sleep 0.5
done
cli topic describe led
[ "$(cli topic describe led | grep -cE '^  [012] +2 ')" = 3 ] \
  || fail "leadership did not move to the preferred leaders in r2 within 30 s"
cli topic delete led || fail "topic delete led failed"
# Two replicas over single-node regions fit neither mode: spread, and describe says so.
cli topic create pair --partitions=1 --replication-factor=2 || fail "topic create pair failed"
cli topic describe pair | grep -q "spread (no region-loss guarantee)" \
  || fail "an RF-2 topic over single-node regions is not reported as spread"
cli topic delete pair || fail "topic delete pair failed"
# Placement constraints: voters per region (strong, spread), observers per region (regional).
expect_exit 2 "--voters-in='r1': use REGION=N" \
  cli topic create cons --partitions=1 --replication-factor=1 --consistency=spread --voters-in=r1
expect_exit 2 "--voters-in: region 'r1' is named twice" \
  cli topic create cons --partitions=1 --replication-factor=2 --consistency=spread \
  --voters-in=r1=1,r1=1
expect_exit 2 "--observers-in needs --consistency=regional" \
  cli topic create cons --partitions=1 --replication-factor=3 --consistency=strong \
  --observers-in=r1=1
expect_exit 1 "keeps at most 1 voter.s. in a region" \
  cli topic create cons --partitions=1 --replication-factor=3 --consistency=strong \
  --voters-in=r1=2,r2=1
expect_exit 1 "region 'r1' was asked for 2 voter.s. but has 1 node" \
  cli topic create cons --partitions=1 --replication-factor=2 --consistency=spread \
  --voters-in=r1=2
cli topic create cons --partitions=2 --replication-factor=2 --consistency=spread \
  --voters-in=r1=1,r3=1 || fail "topic create with voters per region failed"
cli topic describe cons | grep -q "spread (no region-loss guarantee), voters r1=1,r3=1" \
  || fail "describe does not show the voters per region"
[ "$(cli topic describe cons | grep -cE '^  [01] .* [13],[13] +- +0$')" = 2 ] \
  || fail "voters per region r1=1,r3=1 did not place nodes 1 and 3"
cli topic delete cons || fail "topic delete cons failed"
cli topic create obs --partitions=2 --replication-factor=1 --consistency=regional \
  --home-region=r2 --observers-in=r3=1 || fail "topic create with observers per region failed"
cli topic describe obs | grep -q "regional (home r2, observers r3=1)" \
  || fail "describe does not show the observers per region"
[ "$(cli topic describe obs | grep -cE '^  [01] .* 2 +3 +0$')" = 2 ] \
  || fail "observers per region r3=1 did not place voter 2, observer 3 only"
cli topic delete obs || fail "topic delete obs failed"

echo "== topic reassign: a one-replica partition moves to another node, its records with it"
cli topic create moved --partitions=1 --replication-factor=1 --consistency=spread \
  || fail "topic create moved failed"
seq 1 100 | cli produce moved >/dev/null || fail "produce to moved failed"
from=$(cli topic describe moved | awk '$1 == "0" { print $4 }')
to=$((from % 3 + 1))
expect_exit 1 "distinct" cli topic reassign moved --partition=0 --replicas="$to,$to"
expect_exit 1 "node 9 is not registered" cli topic reassign moved --partition=0 --replicas=9
expect_exit 2 "--replicas is required" cli topic reassign moved --partition=0
cli topic reassign moved --partition=0 --replicas="$to" || fail "topic reassign moved failed"
moved_done() {
  cli --timeout=2 topic describe moved >"$WORK/moved.txt" 2>&1 || return 1
  awk -v to="$to" '$1 == "0" && $4 == to { found = 1 } END { exit !found }' "$WORK/moved.txt" &&
    ! grep -q reassigning "$WORK/moved.txt"
}
moved_started_ms=$(now_ms)
wait_until 60 "moved/0 reassigned from node $from to node $to" moved_done
echo "  moved from node $from to node $to in $(($(now_ms) - moved_started_ms)) ms"
[ "$(cli consume moved --from-beginning --max-messages=100 | sort -n | uniq | wc -l)" = 100 ] \
  || fail "moved/0 lost records in the reassignment"
cli topic delete moved || fail "topic delete moved failed"

echo "== topic alter --consistency: a spread topic becomes regional in r2, its records with it"
cli topic create modal --partitions=2 --replication-factor=1 --consistency=spread \
  || fail "topic create modal failed"
seq 1 200 | cli produce modal >/dev/null || fail "produce to modal failed"
expect_exit 1 "topic 'modal' is already spread" cli topic alter modal --consistency=spread
expect_exit 1 "topic 'modal' cannot become strong: .*replication factor >= 3" \
  cli topic alter modal --consistency=strong
expect_exit 1 "cannot become regional: .*'mars'" \
  cli topic alter modal --consistency=regional --home-region=mars
expect_exit 2 "nothing to alter" cli topic alter modal --home-region=r2
cli topic alter modal --consistency=regional --home-region=r2 --validate-only |
  grep -q "nothing changed" || fail "topic alter --consistency --validate-only"
cli topic describe modal | grep -q "changing" && fail "validate-only started a mode change"
cli topic alter modal --consistency=regional --home-region=r2 | tee "$WORK/modal.txt"
grep -q "changing to regional (home r2, 1 observer per other region)" "$WORK/modal.txt" \
  || fail "topic alter --consistency does not say the change is under way"
modal_done() {
  cli --timeout=2 topic describe modal >"$WORK/modal.txt" 2>&1 || return 1
  grep -q "regional (home r2, 1 observer per other region)" "$WORK/modal.txt" &&
    ! grep -q "changing" "$WORK/modal.txt"
}
modal_started_ms=$(now_ms)
wait_until 60 "topic modal moved to regional in r2" modal_done
echo "  spread -> regional in $(($(now_ms) - modal_started_ms)) ms"
cat "$WORK/modal.txt"
# Each partition: voter node 2 (r2), observers nodes 1 and 3 (the other regions), epoch 0.
[ "$(grep -cE '^  [01] .* 2 +1,3 +0$' "$WORK/modal.txt")" = 2 ] \
  || fail "after the mode change the placement is not voter 2, observers 1,3"
[ "$(cli consume modal --from-beginning --max-messages=200 | sort -n | uniq | wc -l)" = 200 ] \
  || fail "topic modal lost records in the mode change"
cli topic delete modal || fail "topic delete modal failed"

seq 1 "$RECORDS" | awk '{ printf "key-%d,line %d of the cli test\n", $1 % 1000, $1 }' \
  >"$WORK/input.txt"

produce_half() {
  local what=$1 from=$2 t0 rc=0
  t0=$(now_ms)
  sed -n "${from},$((from + HALF - 1))p" "$WORK/input.txt" |
    cli produce "$TOPIC" --key-separator=, 2>"$WORK/produce.txt" || rc=$?
  cat "$WORK/produce.txt"
  [ "$rc" -eq 0 ] || fail "produce ($what) exited $rc"
  grep -q "$HALF records acknowledged, 0 failed" "$WORK/produce.txt" ||
    fail "produce ($what) did not acknowledge all $HALF records"
  echo "  $what: $HALF records in $(($(now_ms) - t0)) ms"
}

echo "== produce the first half"
produce_half "first half" 1

leader=$(partition_leader 0)
[[ "$leader" =~ ^[123]$ ]] || fail "cluster status names no leader for partition 0: '$leader'"
# Idle, the groups go to sleep: no heartbeats, no election timers. Killing the leader then is
# what only node liveness can reveal to its followers.
for i in 1 2 3; do wait_until 20 "every partition replica on node $i to quiesce" all_quiesced "$i"; done
echo "  every partition group sleeps: the leader of partition 0 is killed while idle"
echo "== kill -9 node $leader (leader of partition 0, pid ${NODE_PID[$leader]})"
kill -9 "${NODE_PID[$leader]}"
wait "${NODE_PID[$leader]}" 2>/dev/null || true

echo "== produce the second half with node $leader down"
produce_half "second half" $((HALF + 1))
new_leader=$(partition_leader 0)
echo "  partition 0 is now led by node $new_leader"
[ "$new_leader" != "$leader" ] ||
  fail "the killed node $leader still shows as leader of partition 0"

echo "== restart node $leader"
restarted_ms=$(now_ms)
start_node "$leader"
wait_until 60 "node $leader to rejoin" cluster_ready
# Every replica of the restarted node must catch up, even in a partition whose leader did not
# change and that takes no new writes (a follower that lost appends used to stay behind there).
caught_up_deadline=$(($(now_ms) + 30000))
until topic_caught_up; do
  if [ "$(now_ms)" -ge "$caught_up_deadline" ]; then
    cat "$WORK/status.txt" >&2
    fail "a replica of $TOPIC still lags 30 s after node $leader restarted"
  fi
  sleep 0.2
done
echo "  node $leader rejoined and caught up in $(($(now_ms) - restarted_ms)) ms"
cli cluster status

echo "== consume --from-beginning --print-key --print-offset"
consume_ms=$(now_ms)
cli consume "$TOPIC" --from-beginning --print-key --print-offset --key-separator=, \
  >"$WORK/output.txt" 2>"$WORK/consume.txt" || fail "consume exited $?: $(cat "$WORK/consume.txt")"
echo "  $(cat "$WORK/consume.txt") in $(($(now_ms) - consume_ms)) ms"

got=$(wc -l <"$WORK/output.txt")
[ "$got" -eq "$RECORDS" ] || fail "consumed $got lines, want $RECORDS"
cut -f2- "$WORK/output.txt" | sort >"$WORK/got.txt"
sort "$WORK/input.txt" >"$WORK/want.txt"
if ! cmp -s "$WORK/got.txt" "$WORK/want.txt"; then
  echo "missing (<) / unexpected (>) lines:" >&2
  diff "$WORK/want.txt" "$WORK/got.txt" | head -n 20 >&2
  fail "the consumed lines differ from the produced ones"
fi
duplicates=$(uniq -d "$WORK/got.txt" | wc -l)
[ "$duplicates" -eq 0 ] || fail "$duplicates lines came back more than once"
echo "  all $RECORDS lines came back, each exactly once"

# Offsets per partition: sorted, they must be exactly 0, 1, ..., n-1.
cut -f1 "$WORK/output.txt" | tr ':' ' ' | sort -k1,1n -k2,2n |
  awk '{ if ($2 != next_offset[$1] + 0) {
           printf "partition %s: offset %s where %d was due\n", $1, $2, next_offset[$1]; bad = 1
         }
         next_offset[$1] = $2 + 1 }
       END { for (p in next_offset) printf "  partition %s: offsets 0..%d\n", p, next_offset[p] - 1
             exit bad }' \
  >"$WORK/offsets.txt" || { cat "$WORK/offsets.txt" >&2; fail "offsets have gaps or repeats"; }
sort "$WORK/offsets.txt"
partitions=$(wc -l <"$WORK/offsets.txt")
[ "$partitions" -eq 3 ] || fail "records came from $partitions partitions, want 3"

echo "== consumer groups: consume --group in two runs, describe, reset-offsets"
FIRST=$((RECORDS / 3))
cli consume "$TOPIC" --group=g1 --from-beginning --max-messages="$FIRST" --print-key --key-separator=, \
  >"$WORK/group1.txt" 2>"$WORK/err.txt" || fail "group consume 1 exited $?: $(cat "$WORK/err.txt")"
[ "$(wc -l <"$WORK/group1.txt")" -eq "$FIRST" ] || fail "group consume 1 printed the wrong count"
cli group describe g1 >"$WORK/describe.txt" || fail "group describe failed"
committed=$(awk '$1 == "'"$TOPIC"'" { sum += $3 } END { print sum + 0 }' "$WORK/describe.txt")
[ "$committed" -eq "$FIRST" ] || { cat "$WORK/describe.txt" >&2; fail "committed $committed, want $FIRST"; }
# The second run starts at the committed offsets (--from-beginning: where the first run printed
# nothing, so committed nothing): together the runs read every line once.
cli consume "$TOPIC" --group=g1 --from-beginning --print-key --key-separator=, >"$WORK/group2.txt" 2>"$WORK/err.txt" \
  || fail "group consume 2 exited $?: $(cat "$WORK/err.txt")"
sort "$WORK/group1.txt" "$WORK/group2.txt" >"$WORK/group-all.txt"
if ! cmp -s "$WORK/group-all.txt" "$WORK/want.txt"; then
  cat "$WORK/describe.txt" "$WORK/err.txt" >&2
  diff "$WORK/want.txt" "$WORK/group-all.txt" | head -n 10 >&2
  fail "the group's two runs ($(wc -l <"$WORK/group1.txt") + $(wc -l <"$WORK/group2.txt") lines)" \
    "did not read every line exactly once"
fi
# The last member's leave is answered once the empty generation is written (even when the
# coordinator moves meanwhile: the member then asks the new one), so this wait is short.
# (fail prints the last poll's output.)
g1_empty() { cli group list >"$WORK/last-poll.txt" 2>&1 && grep -q "^g1 *empty" "$WORK/last-poll.txt"; }
wait_until 10 "group list shows g1 as empty" g1_empty
expect_exit 2 "exactly one of --to-earliest" cli group reset-offsets g1 --topic="$TOPIC"
expect_exit 1 "topic 'nope' does not exist" cli group reset-offsets g1 --topic=nope --to-earliest
expect_exit 1 "group 'nobody' does not exist" cli group describe nobody
cli group reset-offsets g1 --topic="$TOPIC" --to-earliest || fail "reset-offsets failed"
cli consume "$TOPIC" --group=g1 >"$WORK/group3.txt" 2>/dev/null || fail "group consume 3 failed"
[ "$(wc -l <"$WORK/group3.txt")" -eq "$RECORDS" ] || fail "after the reset the group re-read $(wc -l <"$WORK/group3.txt") lines"
# A live member blocks a reset; SIGTERM (like Ctrl-C, which a background job ignores) ends
# --follow cleanly, committing what it printed.
"$CLI_BIN" --bootstrap="$BOOTSTRAP" "${CLI_TLS_FLAGS[@]}" consume "$TOPIC" --group=g1 --follow \
  >"$WORK/follow.txt" 2>"$WORK/follow-err.txt" &
MEMBER_PID=$!
g1_stable() { cli group list | grep -q '^g1 *stable'; }
wait_until 20 "the follower joined g1" g1_stable
expect_exit 1 "stop its consumers first" cli group reset-offsets g1 --topic="$TOPIC" --to-latest
expect_exit 1 "group 'g1' has live members" cli group delete g1
FOLLOWED=50
seq 1 "$FOLLOWED" | awk '{ printf "followed-%d\n", $1 }' | cli produce "$TOPIC" 2>/dev/null \
  || fail "produce to the followed topic failed"
follower_printed() { [ "$(wc -l <"$WORK/follow.txt")" -ge "$FOLLOWED" ]; }
wait_until 20 "the follower printed the $FOLLOWED new lines" follower_printed
kill -TERM "$MEMBER_PID"
wait "$MEMBER_PID" || fail "consume --group --follow exited $? on SIGTERM: $(cat "$WORK/follow-err.txt")"
# Its way out is not cut short by the signal: it committed what it printed and its leave was
# answered, so the group is empty now, not once its 10 s session times out.
wait_until 3 "group list shows g1 as empty right after its last member stopped" g1_empty
cli group describe g1 >"$WORK/describe.txt" || fail "group describe failed"
committed=$(awk '$1 == "'"$TOPIC"'" { sum += $3 } END { print sum + 0 }' "$WORK/describe.txt")
[ "$committed" -eq $((RECORDS + FOLLOWED)) ] ||
  { cat "$WORK/describe.txt" >&2; fail "committed $committed after SIGTERM, want $((RECORDS + FOLLOWED))"; }
# group delete: only once the group is empty; its offsets go with it.
cli group delete --help | grep -q "Exit codes: 0 deleted" || fail "group delete --help"
cli group delete g1 | grep -q "deleted group 'g1'" || fail "group delete g1"
expect_exit 1 "group 'g1' does not exist" cli group describe g1
expect_exit 1 "group 'g1' does not exist" cli group delete g1
expect_exit 2 "expected 1 argument" cli group delete g1 g2
echo "  two runs of one group read every line once; describe, list, reset-offsets and delete work"
echo "== quota set | describe (issue 13): recorded by the controller, enforced, removable"
expect_exit 2 "give one of --client or --topic" cli quota set --bytes-per-s=10
expect_exit 2 "give one of --client or --topic" cli quota set --client=a --topic=b
expect_exit 2 "--requests-per-s='-1' is not an integer" cli quota set --topic=x --requests-per-s=-1
expect_exit 2 "printable ASCII" cli quota set --client="a b" --requests-per-s=1
cli quota set --client=meridian-cli --bytes-per-s=1000000 || fail "quota set --client failed"
cli quota set --topic=quota-test --requests-per-s=4 || fail "quota set --topic failed"
cli quota describe >"$WORK/quotas.txt"
cat "$WORK/quotas.txt"
grep -q "client meridian-cli .*1000000 bytes/s" "$WORK/quotas.txt" || fail "client quota not listed"
grep -q "topic quota-test .*4 requests/s" "$WORK/quotas.txt" || fail "topic quota not listed"
# A topic held to 4 requests a second still takes every record: the producer waits out each
# Throttled answer (retry_after_ms) and retries; nothing is lost or duplicated.
cli topic create quota-test --partitions=2 --replication-factor=3 || fail "create quota-test"
for batch in 1 2 3 4 5 6; do
  seq $((batch * 100 - 99)) $((batch * 100)) | awk '{ printf "q-%d\n", $1 }' |
    cli produce quota-test 2>>"$WORK/quota-produce.txt" || fail "throttled produce failed"
done
cli consume quota-test --from-beginning | sort >"$WORK/quota-got.txt"
seq 1 600 | awk '{ printf "q-%d\n", $1 }' | sort >"$WORK/quota-want.txt"
cmp -s "$WORK/quota-got.txt" "$WORK/quota-want.txt" || fail "records lost or repeated under a quota"
cli quota set --topic=quota-test --remove || fail "quota remove failed"
cli quota describe | grep -q "topic quota-test" && fail "a removed quota is still listed"
expect_exit 1 "no quota is set for 'quota-test'" cli quota set --topic=quota-test --remove
echo "  600 records through a 4 requests/s topic quota, each exactly once; quota removed"

if [[ "${CLI_TEST_NODE_ARGS:-}" == *--node_wide_log=false* ]]; then
  if [ -e "$WORK/n1/wal" ] || [ -e "$WORK/n1/marks" ]; then
    fail "--node_wide_log=false, yet wal/ or marks/ in the data dir"
  fi
  echo "  per-partition logs: no wal/ or marks/ in the data dir"
else
  syncs=$(metric 1 meridian_wal_syncs_total) || fail "no /metrics on node 1"
  writes=$(metric 1 meridian_mark_table_writes_total) || fail "no /metrics on node 1"
  [ -n "$syncs" ] && [ "${syncs%.*}" -gt 0 ] || fail "node-wide log on, but no WAL sync counted"
  [ -n "$writes" ] && [ "${writes%.*}" -gt 0 ] || fail "node-wide log on, but no mark table write"
  [ -d "$WORK/n1/wal" ] && [ -d "$WORK/n1/marks" ] || fail "no wal/ or marks/ in the data dir"
  echo "  node-wide log: $syncs WAL syncs, $writes mark-table writes on node 1"
fi

echo "PASS: $RECORDS lines through a kill -9 of partition 0's leader (node $leader), none lost," \
  "none duplicated, offsets contiguous in all 3 partitions; consumer groups via the CLI"

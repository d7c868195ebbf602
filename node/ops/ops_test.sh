#!/usr/bin/env bash
# Operations surface of meridian-node against three real processes on loopback (issue 13 items
# 4-6, docs/operations.md):
#   - promtool must be installed (bazel/setup.sh installs Debian's prometheus): this test FAILS
#     without it rather than skipping;
#   - alerts.yml passes `promtool check rules`, and `promtool test rules alerts_test.yml` shows
#     its alerts firing on synthetic series; a copy with one rule broken must fail that test;
#   - a bad --log_level exits 2 with a clear message; log lines are `ts=... level=... node=...
#     event=...`; --log_level=warn drops info events, info drops debug ones, debug keeps them;
#   - /healthz is 200 at once; /readyz is 503 with a reason while node 1 runs alone (no
#     controller quorum, so not registered), then 200 on every node once all three run;
#   - after records are produced with the CLI, every node's /metrics passes
#     `promtool check metrics`, the produce counters add up to what was sent, and every metric
#     name the dashboard and the alert rules use exists in a real scrape (a made-up name must not);
#   - after kill -9 of node 3, a survivor reports under-replicated partitions and the controller
#     leader reports node 3 unreachable.
# Usage: ops_test.sh MERIDIAN_NODE MERIDIAN OPS_DIR
set -euo pipefail

NODE_BIN=$(realpath "$1")
CLI_BIN=$(realpath "$2")
OPS_DIR=$(realpath "$3")
WORK=$(mktemp -d "${TEST_TMPDIR:-/tmp}/ops_test.XXXXXX")
TOPIC=ops-test
RECORDS=500
declare -a NODE_PID CLIENT_PORT PEER_PORT METRICS_PORT

source "${TEST_SRCDIR:-$0.runfiles}/meridian/tests/cluster_lib.sh"  # cleanup, fail, wait_until, pick_ports

if ! command -v promtool >/dev/null; then
  fail "promtool is not installed: run bazel/setup.sh (it installs Debian's prometheus package)"
fi


# http PORT PATH: prints "CODE" on the first line, then the body (HTTP/1.0 over bash's /dev/tcp).
http() {
  local response
  response=$( (exec 3<>"/dev/tcp/127.0.0.1/$1" && printf 'GET %s HTTP/1.0\r\n\r\n' "$2" >&3 &&
    cat <&3) 2>/dev/null) || return 1
  sed -n '1s/^HTTP\/1\.0 \([0-9]*\).*/\1/p' <<<"$response"
  sed '1,/^\r$/d' <<<"$response"
}
code_of() { http "$1" "$2" | head -n 1; }
code_is() { [ "$(code_of "$1" "$2")" = "$3" ]; }  # code_is PORT PATH CODE (for wait_until)
scrape() { http "${METRICS_PORT[$1]}" /metrics | tail -n +2; }


# --- The alert rules, before any node runs.
promtool check rules "$OPS_DIR/alerts.yml" || fail "promtool check rules refused alerts.yml"
promtool test rules "$OPS_DIR/alerts_test.yml" || fail "alerts_test.yml: the rules did not fire as expected"
# Planted: under-replication that needs 100 partitions to fire must fail the unit test.
mkdir -p "$WORK/planted"
sed 's/sum by (instance) (meridian_under_replicated_partitions) > 0/sum by (instance) (meridian_under_replicated_partitions) > 100/' \
  "$OPS_DIR/alerts.yml" >"$WORK/planted/alerts.yml"
cmp -s "$OPS_DIR/alerts.yml" "$WORK/planted/alerts.yml" && fail "the planted rule change did not apply"
cp "$OPS_DIR/alerts_test.yml" "$WORK/planted/"
if promtool test rules "$WORK/planted/alerts_test.yml" >/dev/null 2>&1; then
  fail "promtool test rules passed a rule that cannot fire: the unit test proves nothing"
fi
# Planted: consumer lag that fires without growing (an idle group far behind) must fail it too.
sed '/and sum by (group, topic) (delta(meridian:group_lag_records\[10m\])) > 0/d' \
  "$OPS_DIR/alerts.yml" >"$WORK/planted/alerts.yml"
cmp -s "$OPS_DIR/alerts.yml" "$WORK/planted/alerts.yml" && fail "the planted lag rule change did not apply"
if promtool test rules "$WORK/planted/alerts_test.yml" >/dev/null 2>&1; then
  fail "promtool test rules passed a lag rule that fires on a lag that does not grow"
fi
python3 -c 'import json, sys; json.load(open(sys.argv[1]))' "$OPS_DIR/dashboard.json" ||
  fail "dashboard.json is not JSON"

make_certs "$CLI_BIN" 3  # Peer links and the client port run mutual TLS (cluster_lib.sh).
read -r -a PORTS <<<"$(pick_ports 9)"
for i in 1 2 3; do
  CLIENT_PORT[$i]=${PORTS[$((i - 1))]}
  PEER_PORT[$i]=${PORTS[$((i + 2))]}
  METRICS_PORT[$i]=${PORTS[$((i + 5))]}
done
BOOTSTRAP="127.0.0.1:${CLIENT_PORT[1]},127.0.0.1:${CLIENT_PORT[2]},127.0.0.1:${CLIENT_PORT[3]}"

node_args() {
  local i=$1 peers="" j
  for j in 1 2 3; do
    [ "$j" = "$i" ] || peers="$peers${peers:+,}$j=127.0.0.1:${PEER_PORT[$j]}"
  done
  echo --node_id="$i" --data_dir="$WORK/n$i" --listen="127.0.0.1:${CLIENT_PORT[$i]}" \
    --peer_listen="127.0.0.1:${PEER_PORT[$i]}" --region="r$i" --peers="$peers" \
    --metrics_listen="127.0.0.1:${METRICS_PORT[$i]}" $(node_tls_flags "$i")
}
start_node() {  # start_node I [EXTRA FLAG...]
  local i=$1
  shift
  # shellcheck disable=SC2046
  "$NODE_BIN" $(node_args "$i") "$@" >>"$WORK/n$i.log" 2>&1 &
  NODE_PID[$i]=$!
}

# --- Flags and logs.
set +e
bad=$("$NODE_BIN" $(node_args 1) --log_level=loud 2>&1)
code=$?
set -e
[ "$code" -eq 2 ] || fail "--log_level=loud exited $code, not 2"
grep -q "log_level: 'loud' is not a log level (debug, info, warn or error)" <<<"$bad" ||
  fail "--log_level=loud said: $bad"

# --- Health and readiness: node 1 alone has no controller quorum, so it cannot register.
start_node 1
wait_until 10 "node 1's /healthz" code_is "${METRICS_PORT[1]}" /healthz 200
readyz=$(http "${METRICS_PORT[1]}" /readyz)
[ "$(head -n 1 <<<"$readyz")" = 503 ] || fail "/readyz of a lone node: $readyz"
grep -q "^not ready: " <<<"$readyz" || fail "/readyz 503 without a reason: $readyz"
[ "$(code_of "${METRICS_PORT[1]}" /nothing)" = 404 ] || fail "/nothing is not 404"
start_node 2 --log_level=debug
start_node 3 --log_level=warn
for i in 1 2 3; do
  wait_until 30 "node $i's /readyz" code_is "${METRICS_PORT[$i]}" /readyz 200
done
grep -qE '^ts=[0-9T:.-]+Z level=info node=1 event=up clients=127\.0\.0\.1:[0-9]+ ' "$WORK/n1.log" ||
  fail "node 1 logged no structured 'up' event"
grep -q 'event=up' "$WORK/n3.log" && fail "node 3 (--log_level=warn) logged an info event"
grep -q 'event=client_connected' "$WORK/n1.log" && fail "node 1 (info) logged a debug event"
"$CLI_BIN" "${CLI_TLS_FLAGS[@]}" --bootstrap="127.0.0.1:${CLIENT_PORT[2]}" --timeout=20 topic list >/dev/null ||
  fail "topic list"
grep -qE 'level=debug node=2 event=client_connected peer=127\.0\.0\.1:[0-9]+$' "$WORK/n2.log" ||
  fail "node 2 (--log_level=debug) logged no client_connected event"

# --- Records, then /metrics under promtool.
"$CLI_BIN" "${CLI_TLS_FLAGS[@]}" --bootstrap="$BOOTSTRAP" --timeout=20 topic create "$TOPIC" --partitions=3 \
  --replication-factor=3 >/dev/null || fail "topic create"
for i in 1 2 3; do
  wait_until 30 "node $i ready with the topic's partitions" code_is "${METRICS_PORT[$i]}" /readyz 200
done
seq 1 "$RECORDS" | sed 's/^/key-/; s/$/,value/' |
  "$CLI_BIN" "${CLI_TLS_FLAGS[@]}" --bootstrap="$BOOTSTRAP" --timeout=20 produce "$TOPIC" --key-separator=, \
    2>"$WORK/produce.txt" || fail "produce: $(cat "$WORK/produce.txt")"
"$CLI_BIN" "${CLI_TLS_FLAGS[@]}" --bootstrap="$BOOTSTRAP" --timeout=20 consume "$TOPIC" --from-beginning \
  --max-messages="$RECORDS" >/dev/null || fail "consume"
# A group reads every record and commits what it printed.
"$CLI_BIN" "${CLI_TLS_FLAGS[@]}" --bootstrap="$BOOTSTRAP" --timeout=20 consume "$TOPIC" \
  --group=ops-group --from-beginning --max-messages="$RECORDS" >/dev/null || fail "group consume"
: >"$WORK/all.prom"
for i in 1 2 3; do
  scrape "$i" >"$WORK/n$i.prom"
  promtool check metrics <"$WORK/n$i.prom" >"$WORK/promtool.txt" 2>&1 ||
    fail "promtool check metrics refused node $i's /metrics: $(cat "$WORK/promtool.txt")"
  cat "$WORK/n$i.prom" >>"$WORK/all.prom"
done
# Planted: a counter without its _total suffix must make promtool fail (the check has teeth).
sed 's/meridian_produce_requests_total/meridian_produce_requests/' "$WORK/n1.prom" |
  promtool check metrics >/dev/null 2>&1 && fail "promtool accepted a counter without _total"
sum_of() { awk -v m="$1" '$1 == m || index($1, m "{") == 1 { s += $2 } END { print s + 0 }' "$2"; }
produced=$(sum_of meridian_produce_records_total "$WORK/all.prom")
[ "$produced" -eq "$RECORDS" ] || fail "meridian_produce_records_total sums to $produced"
watermarks=$(awk '/^meridian_partition_high_watermark\{topic="ops-test",/ { split($1, a, "partition=\""); split(a[2], b, "\"");
  if ($2 > max[b[1]]) max[b[1]] = $2 } END { for (p in max) s += max[p]; print s + 0 }' "$WORK/all.prom")
[ "$watermarks" -eq "$RECORDS" ] || fail "high watermarks add up to $watermarks"
leaders=$(awk '/^meridian_partition_is_leader\{topic="ops-test",/ { s += $2 } END { print s + 0 }' \
  "$WORK/all.prom")
[ "$leaders" -eq 3 ] || fail "not 3 leaders of ops-test but $leaders"
[ "$(sum_of meridian_log_fsync_latency_seconds_count "$WORK/all.prom")" -gt 0 ] ||
  fail "no fsync was timed"
# The node-wide log (the default) times the fsyncs every acknowledgement waits for: the WAL's
# group syncs and the durable-mark images after them, at least one each per produce round.
for timed in meridian_wal_sync_latency_seconds_count meridian_mark_table_write_latency_seconds_count; do
  [ "$(sum_of "$timed" "$WORK/all.prom")" -gt 0 ] || fail "$timed is 0 after $RECORDS records"
done
# The group's coordinator exports its commits, one per partition read; the lag is the leaders'
# watermarks minus the commits, as the recording rule meridian:group_lag_records joins them.
group_lag() {  # group_lag FILE: the sum of ops-group's lag over the partitions it committed.
  awk '/^meridian_partition_high_watermark\{topic="ops-test",/ { split($1, a, "partition=\"");
    split(a[2], b, "\""); if ($2 > hwm[b[1]]) hwm[b[1]] = $2 }
    /^meridian_group_committed_offset\{group="ops-group",topic="ops-test",/ { split($1, a,
    "partition=\""); split(a[2], b, "\""); committed[b[1]] = $2 }
    END { n = 0; for (p in committed) { n++; s += hwm[p] - committed[p] } print n, s + 0 }' "$1"
}
[ "$(group_lag "$WORK/all.prom")" = "3 0" ] || fail "ops-group (partitions, lag): $(group_lag "$WORK/all.prom")"
[ "$(grep -c '^meridian_group_generation{group="ops-group"} [1-9]' "$WORK/all.prom")" -eq 1 ] ||
  fail "not one coordinator exports ops-group's generation"
[ "$(sum_of meridian_group_rebalances_total "$WORK/all.prom")" -ge 1 ] || fail "no rebalance counted"
seq 1 100 | "$CLI_BIN" "${CLI_TLS_FLAGS[@]}" --bootstrap="$BOOTSTRAP" --timeout=20 produce "$TOPIC" \
  2>"$WORK/produce.txt" || fail "produce: $(cat "$WORK/produce.txt")"
(scrape 1; scrape 2; scrape 3) >"$WORK/after.prom"
[ "$(group_lag "$WORK/after.prom")" = "3 100" ] ||
  fail "after 100 more records, ops-group (partitions, lag): $(group_lag "$WORK/after.prom")"

# --- Every metric the dashboard and the alerts use exists in a real scrape.
families=$(awk '/^# TYPE / { print $3 }' "$WORK/all.prom" | sort -u)
missing_names() {  # missing_names FILE...: names used there that no node exports.
  grep -ohE 'meridian_[a-z0-9_]+' "$@" | sort -u | while read -r name; do
    base=$(sed -E 's/_(bucket|sum|count)$//' <<<"$name")
    grep -qx "$name" <<<"$families" || grep -qx "$base" <<<"$families" || echo "$name"
  done
}
missing=$(missing_names "$OPS_DIR/dashboard.json" "$OPS_DIR/alerts.yml")
[ -z "$missing" ] || fail "used by the dashboard or alerts but not exported: $missing"
echo 'expr: meridian_no_such_metric_total' >"$WORK/planted/made_up.yml"
[ "$(missing_names "$WORK/planted/made_up.yml")" = meridian_no_such_metric_total ] ||
  fail "the name check did not catch a made-up metric"

# --- A healthy cluster settles with nothing under-replicated, offline or unreachable.
healthy() {
  local scraped
  scraped=$(scrape 1; scrape 2; scrape 3)
  [ "$(awk '$1 == "meridian_under_replicated_partitions" || $1 == "meridian_offline_partitions" ||
    $1 ~ /^meridian_peer_unreachable\{/ { s += $2 } END { print s + 0 }' <<<"$scraped")" -eq 0 ]
}
wait_until 20 "no under-replicated, offline or unreachable report while all nodes run" healthy

# --- Under-replication and unreachability as seen after kill -9 of node 3.
kill -9 "${NODE_PID[3]}"
wait "${NODE_PID[3]}" 2>/dev/null || true
under_replicated() {
  [ "$( (scrape 1; scrape 2) | awk '$1 == "meridian_under_replicated_partitions" { s += $2 }
    END { print s + 0 }')" -gt 0 ]
}
wait_until 20 "a survivor to report under-replicated partitions" under_replicated
node3_unreachable() {  # Not `| grep -q`: with pipefail, the scrape's SIGPIPE would fail it.
  local scraped
  scraped=$(scrape 1; scrape 2)
  grep -q '^meridian_peer_unreachable{peer_node="3",peer_region="r3"} 1$' <<<"$scraped"
}
wait_until 20 "the controller leader to report node 3 unreachable" node3_unreachable
for i in 1 2; do
  scrape "$i" | promtool check metrics >/dev/null 2>&1 || fail "node $i's /metrics after the kill"
done
echo "PASS: promtool accepts the rules and metrics; health, readiness, logs and alerts work"

#!/usr/bin/env bash
# A bounded burst against a real meridian-node on loopback (issue 13 item 3): one node with
# --buffered_bytes_max at its 16 MiB minimum and 1 MiB awaiting commit per partition, then
# twelve `meridian produce` processes at once, each writing 4 MiB of lines over 16 partitions
# (each can have 16 batches of up to 256 KiB in flight: ~48 MiB offered at once). Checks, from
# the node's /metrics, that its buffered bytes never passed the bound, and that every line came
# back exactly once (a shed produce is retried by the client after retry_after_ms, never lost).
# Reports how many requests were shed. The burst is bounded in size; every wait has a deadline.
#
# Usage: burst_test.sh MERIDIAN_NODE MERIDIAN
set -euo pipefail

NODE_BIN=$(realpath "$1")
CLI_BIN=$(realpath "$2")
WORK=$(mktemp -d "${TEST_TMPDIR:-/tmp}/burst_test.XXXXXX")
TOPIC=burst
PRODUCERS=12
LINES=8000  # Per producer, 512 bytes each: 4 MiB.
declare -a NODE_PID

source "${TEST_SRCDIR:-$0.runfiles}/meridian/tests/cluster_lib.sh"  # cleanup, fail, wait_until, pick_ports

read -r -a PORTS <<<"$(pick_ports 2)"
CLIENT_PORT=${PORTS[0]}
METRICS_PORT=${PORTS[1]}
BUFFERED_MAX=$((16 << 20))

# The node refuses bounds and quotas out of range before it says it is up (exit 2).
refused() {  # refused FLAG MESSAGE
  local rc=0
  "$NODE_BIN" --node_id=9 --data_dir="$WORK/bad" --insecure_plaintext "$1" >/dev/null \
    2>"$WORK/err.txt" || rc=$?
  [ "$rc" -eq 2 ] && grep -q -- "$2" "$WORK/err.txt" \
    || fail "meridian-node $1 exited $rc: $(cat "$WORK/err.txt")"
  echo "  ok: exit 2: $(head -n 1 "$WORK/err.txt")"
}
refused --buffered_bytes_max=1000 "--buffered_bytes_max must be at least 16 MiB"
refused --connections_max=0 "--connections_max and --fetches_in_flight_max must be >= 1"
refused --shed_retry_after_ms=0 "--shed_retry_after_ms must be in 1..30000"
refused --topic_quota_bytes_per_s=2000000000000 "quota flags must be at most"

# One node, no peer links: plaintext says so explicitly (tls_test covers TLS).
"$NODE_BIN" --node_id=1 --data_dir="$WORK/n1" --listen="127.0.0.1:$CLIENT_PORT" \
  --metrics_listen="127.0.0.1:$METRICS_PORT" --buffered_bytes_max="$BUFFERED_MAX" \
  --partition_pending_bytes_max=$((1 << 20)) --insecure_plaintext >>"$WORK/n1.log" 2>&1 &
NODE_PID[1]=$!

cli() { "$CLI_BIN" --bootstrap="127.0.0.1:$CLIENT_PORT" --timeout=60 "$@"; }
metric() {  # metric NAME: its value in the node's /metrics
  (exec 3<>"/dev/tcp/127.0.0.1/$METRICS_PORT" && printf 'GET /metrics HTTP/1.0\r\n\r\n' >&3 &&
    cat <&3) 2>/dev/null | awk -v m="$1" '$1 == m { printf "%d\n", $2 }'
}
ready() { "$CLI_BIN" --bootstrap="127.0.0.1:$CLIENT_PORT" --timeout=2 topic list >/dev/null 2>&1; }
wait_until 30 "the node to serve" ready

# The node registers itself with its own controller shortly after it serves.
created() { cli topic create "$TOPIC" --partitions=16 --replication-factor=1 2>"$WORK/create.txt"; }
wait_until 30 "topic create (last: $(cat "$WORK/create.txt" 2>/dev/null))" created
for p in $(seq 1 "$PRODUCERS"); do
  seq 1 "$LINES" | awk -v p="$p" '{ printf "k%d-%d,p%d-%d-%0500d\n", p, $1, p, $1, $1 }' \
    >"$WORK/in$p.txt"
done

echo "== $PRODUCERS producers at once, $((PRODUCERS * LINES)) lines, $((PRODUCERS * 4)) MiB"
pids=()
for p in $(seq 1 "$PRODUCERS"); do
  cli produce "$TOPIC" --key-separator=, --file="$WORK/in$p.txt" 2>"$WORK/produce$p.txt" &
  pids+=($!)
done
for i in "${!pids[@]}"; do
  wait "${pids[$i]}" || fail "producer $((i + 1)) failed: $(cat "$WORK/produce$((i + 1)).txt")"
done

peak=$(metric meridian_buffered_bytes_peak)
bound=$(metric meridian_buffered_bytes_max)
shed=$(metric meridian_shed_requests_total)
echo "  buffered bytes peak $peak of $bound; $shed requests shed"
[ -n "$peak" ] && [ -n "$bound" ] || fail "no buffered-bytes metrics on /metrics"
[ "$bound" -eq "$BUFFERED_MAX" ] || fail "the bound on /metrics is $bound, not $BUFFERED_MAX"
[ "$peak" -le "$bound" ] || fail "the node buffered $peak bytes, over its bound of $bound"

cli consume "$TOPIC" --from-beginning --print-key --key-separator=, >"$WORK/out.txt" \
  2>"$WORK/consume.txt" || fail "consume failed: $(cat "$WORK/consume.txt")"
sort "$WORK/out.txt" >"$WORK/got.txt"
cat "$WORK"/in*.txt | sort >"$WORK/want.txt"
cmp -s "$WORK/got.txt" "$WORK/want.txt" || fail "lines lost or repeated: $(diff "$WORK/want.txt" \
  "$WORK/got.txt" | head -n 5)"
echo "PASS: $((PRODUCERS * LINES)) lines from $PRODUCERS producers at once, each exactly once;" \
  "buffered peak $peak <= $bound bytes; $shed requests shed"

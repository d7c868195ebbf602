#!/usr/bin/env bash
# Hostile input against three live meridian-node processes while an honest client produces
# (issue 10 item 6). The cluster runs plaintext peer links, so a hostile peer's hello claiming
# a member is believed and its garbage reaches the broker (with TLS it is refused at the
# handshake: tls_test.sh). hostile_input.py sends every class of bad bytes to every node's
# native, Kafka and peer ports, and holds a flood of idle connections, while `meridian produce`
# writes batches of numbered lines to the topic 'honest'. Afterwards:
#  - every node is still up (same pid) and answers /metrics;
#  - no node's resident memory grew past its limit (--buffered_bytes_max at its 16 MiB minimum,
#    plus RSS_SLACK_MIB for connections and buffers it does not count) while under attack;
#  - the nodes counted what they refused (peer messages dropped, peer connections refused);
#  - every line of every batch `meridian produce` acknowledged is in the topic, once.
# Semantic forgeries (a raft Heartbeat from a second leader, acks beyond the log) are refused
# by raft itself: //core/raft:raft_hostile_input_test.
#
# Usage: hostile_input_test.sh MERIDIAN_NODE MERIDIAN HOSTILE_INPUT_PY
set -euo pipefail

NODE_BIN=$(realpath "$1")
CLI_BIN=$(realpath "$2")
HOSTILE=$(realpath "$3")
WORK=$(mktemp -d "${TEST_TMPDIR:-/tmp}/hostile_input_test.XXXXXX")
TOPIC=honest
BATCH=200              # Lines per `meridian produce` invocation.
RSS_SLACK_MIB=48       # Above the RSS before the attack and the 16 MiB buffered-bytes bound.
declare -a NODE_PID CLIENT_PORT PEER_PORT KAFKA_PORT METRICS_PORT
CLI_TLS_FLAGS=()

source "${TEST_SRCDIR:-$0.runfiles}/meridian/tests/cluster_lib.sh"  # cleanup, fail, wait_until, pick_ports

pick_cluster_ports  # CLIENT_PORT, PEER_PORT, KAFKA_PORT, METRICS_PORT, BOOTSTRAP (cluster_lib.sh)

start_node() {
  start_cluster_node "$NODE_BIN" "$1" --kafka_listen="127.0.0.1:${KAFKA_PORT[$1]}" \
    --insecure_plaintext --buffered_bytes_max=$((16 << 20))
}

cli() {  # cli [--timeout=S] ARGS...: the CLI against this cluster (default budget 20 s)
  local timeout=--timeout=20
  if [[ "${1:-}" == --timeout=* ]]; then timeout=$1; shift; fi
  "$CLI_BIN" --bootstrap="$BOOTSTRAP" "$timeout" "$@"
}


rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }

for i in 1 2 3; do start_node "$i"; done
wait_until 60 "three registered nodes" cluster_ready
cli topic create "$TOPIC" --partitions=3 --replication-factor=3 >/dev/null || fail "topic create"

# The honest producer: batch k is lines "k-1".."k-BATCH"; a batch whose produce exits 0 was
# acknowledged, and is recorded in acked.txt. Runs until told to stop.
: >"$WORK/acked.txt"
(
  k=0
  while [ ! -e "$WORK/stop" ]; do
    k=$((k + 1))
    if seq -f "$k-%g" 1 "$BATCH" | cli produce "$TOPIC" 2>>"$WORK/produce.log"; then
      echo "$k" >>"$WORK/acked.txt"
    fi
  done
) &
PRODUCER=$!
# On any exit, stop the producer loop too (cleanup waits for every background job).
trap 'touch "$WORK/stop"; kill "$PRODUCER" 2>/dev/null || true; cleanup' EXIT
wait_until 30 "the first acknowledged batch" test -s "$WORK/acked.txt"

declare -a RSS_BEFORE RSS_MAX
for i in 1 2 3; do RSS_BEFORE[$i]=$(rss_kib "${NODE_PID[$i]}"); RSS_MAX[$i]=${RSS_BEFORE[$i]}; done
dropped_before=$(metric 2 meridian_peer_messages_dropped_total)
refused_before=$(metric 2 meridian_peer_connections_refused_total)

echo "== hostile input to every port of every node"
python3 "$HOSTILE" --client="${CLIENT_PORT[1]},${CLIENT_PORT[2]},${CLIENT_PORT[3]}" \
  --kafka="${KAFKA_PORT[1]},${KAFKA_PORT[2]},${KAFKA_PORT[3]}" \
  --peer="${PEER_PORT[1]},${PEER_PORT[2]},${PEER_PORT[3]}" --members=1,2,3 \
  --flood=100 --rounds=3 >"$WORK/hostile.txt" 2>&1 &
ATTACK=$!
while kill -0 "$ATTACK" 2>/dev/null; do
  for i in 1 2 3; do
    kill -0 "${NODE_PID[$i]}" 2>/dev/null || fail "node $i died under hostile input"
    rss=$(rss_kib "${NODE_PID[$i]}")
    [ "$rss" -gt "${RSS_MAX[$i]}" ] && RSS_MAX[$i]=$rss
  done
  sleep 0.2
done
wait "$ATTACK" || fail "the attacker failed: $(tail -5 "$WORK/hostile.txt")"
echo "  $(grep -c '^class ' "$WORK/hostile.txt") hostile connections sent; $(head -n 1 "$WORK/hostile.txt")"

for i in 1 2 3; do
  kill -0 "${NODE_PID[$i]}" 2>/dev/null || fail "node $i died under hostile input"
  metric "$i" meridian_uptime_seconds >/dev/null || fail "node $i stopped answering /metrics"
  grown=$(((RSS_MAX[$i] - RSS_BEFORE[$i]) / 1024))
  echo "  node $i: up; resident memory ${RSS_BEFORE[$i]} KiB before, ${RSS_MAX[$i]} KiB at most (+$grown MiB)"
  [ "$grown" -le $((16 + RSS_SLACK_MIB)) ] ||
    fail "node $i grew by $grown MiB under attack (bound: 16 MiB buffered + $RSS_SLACK_MIB MiB)"
done
dropped_after=$(metric 2 meridian_peer_messages_dropped_total)
refused_after=$(metric 2 meridian_peer_connections_refused_total)
[ "${dropped_after%.*}" -gt "${dropped_before%.*}" ] ||
  fail "node 2 dropped no forged peer envelope ($dropped_before -> $dropped_after)"
[ "${refused_after%.*}" -gt "${refused_before%.*}" ] ||
  fail "node 2 refused no hostile peer connection ($refused_before -> $refused_after)"
echo "  node 2 dropped $((${dropped_after%.*} - ${dropped_before%.*})) forged peer envelopes and refused $((${refused_after%.*} - ${refused_before%.*})) peer connections"

echo "== the honest client's acknowledged records"
# Two more batches after the attack: the cluster still takes writes.
batches_then=$(wc -l <"$WORK/acked.txt")
acked_at_least() { [ "$(wc -l <"$WORK/acked.txt")" -ge "$1" ]; }
wait_until 60 "two batches acknowledged after the attack" acked_at_least $((batches_then + 2))
touch "$WORK/stop"
wait "$PRODUCER" || true
acked=$(wc -l <"$WORK/acked.txt")
# Every line of an acknowledged batch is in the topic exactly once (a batch whose produce
# failed may be there in part: it is not counted).
expected=$((acked * BATCH))
cli consume "$TOPIC" --from-beginning >"$WORK/consumed.txt" 2>"$WORK/consume.log" ||
  fail "consume failed: $(tail -3 "$WORK/consume.log")"
missing=0
while read -r k; do
  got=$(grep -c "^$k-" "$WORK/consumed.txt" || true)
  if [ "$got" -ne "$BATCH" ]; then
    echo "batch $k: $got of $BATCH lines" >&2
    missing=$((missing + 1))
  fi
done <"$WORK/acked.txt"
[ "$missing" -eq 0 ] || fail "$missing acknowledged batches incomplete or duplicated"
dups=$(sort "$WORK/consumed.txt" | uniq -d | wc -l)
[ "$dups" -eq 0 ] || fail "$dups lines consumed twice"
echo "  ok: all $expected lines of $acked acknowledged batches read back once ($(wc -l <"$WORK/produce.log") produce log lines)"
echo "PASS: three nodes stayed up and within memory under hostile input; nothing acknowledged lost"

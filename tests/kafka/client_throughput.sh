#!/usr/bin/env bash
# Produce throughput of a real Kafka client next to Meridian's own, in one run (issue 16): three
# meridian-node processes on loopback with their Kafka listeners, the same N records of SIZE
# bytes produced by kcat (librdkafka 2.0.2, acks=all, idempotent) to one topic and by
# `meridian produce` (core/client, acks=quorum, idempotent) to another, each topic 3 partitions
# and 3 replicas, every record acknowledged after an fsync on a quorum either way. Prints
# records/s and MB/s for each and the ratio. Not a test (timings are not judged in CI); a
# benchmark of the two client paths, run by hand:
#
#   bazel build -c opt //node:meridian-node //node:meridian
#   tests/kafka/client_throughput.sh bazel-bin/node/meridian-node bazel-bin/node/meridian [N] [SIZE] [CODEC]
#
# CODEC (none, gzip, snappy, lz4, zstd; default none) is kcat's compression.type: the listener
# decompresses each batch on produce (docs/kafka.md "Compression"), so the run shows that cost.
#
# Both tools read the same file of keyed lines; each line is one record. The tools differ in
# batching: librdkafka's defaults (linger 5 ms, 1 MB batches, 5 requests in flight per
# connection) against meridian produce's (one batch in flight per partition).
set -euo pipefail

NODE_BIN=$(realpath "$1")
CLI_BIN=$(realpath "$2")
RECORDS=${3:-100000}
SIZE=${4:-1024}
CODEC=${5:-none}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/client_throughput.XXXXXX")
declare -a NODE_PID CLIENT_PORT PEER_PORT KAFKA_PORT

source "$(dirname "$0")/../cluster_lib.sh"  # cleanup, fail, wait_until, pick_ports, make_certs

command -v kcat >/dev/null || fail "kcat is not installed (bazel/setup.sh installs it)"
make_certs "$CLI_BIN" 3
read -r -a PORTS <<<"$(pick_ports 9)"
for i in 1 2 3; do
  CLIENT_PORT[$i]=${PORTS[$((i - 1))]}
  PEER_PORT[$i]=${PORTS[$((i + 2))]}
  KAFKA_PORT[$i]=${PORTS[$((i + 5))]}
done
BOOTSTRAP="127.0.0.1:${CLIENT_PORT[1]},127.0.0.1:${CLIENT_PORT[2]},127.0.0.1:${CLIENT_PORT[3]}"
KAFKA="127.0.0.1:${KAFKA_PORT[1]},127.0.0.1:${KAFKA_PORT[2]},127.0.0.1:${KAFKA_PORT[3]}"
for i in 1 2 3; do
  peers=""
  for j in 1 2 3; do
    [ "$j" = "$i" ] || peers="$peers${peers:+,}$j=127.0.0.1:${PEER_PORT[$j]}"
  done
  "$NODE_BIN" --node_id="$i" --data_dir="$WORK/n$i" --listen="127.0.0.1:${CLIENT_PORT[$i]}" \
    --peer_listen="127.0.0.1:${PEER_PORT[$i]}" --kafka_listen="127.0.0.1:${KAFKA_PORT[$i]}" \
    --region="r$i" --peers="$peers" --log_level=warn $(node_tls_flags "$i") \
    >>"$WORK/n$i.log" 2>&1 &
  NODE_PID[$i]=$!
done

cli() { "$CLI_BIN" --bootstrap="$BOOTSTRAP" "${CLI_TLS_FLAGS[@]}" "$@"; }
wait_until 60 "a controller leader and 3 nodes" cluster_ready
for topic in via-kafka via-meridian; do
  cli topic create "$topic" --partitions=3 --replication-factor=3 >/dev/null || fail "create"
done
led() { cli cluster status 2>/dev/null | grep -cE "^  via-(kafka|meridian) +[0-2] +[1-3] " | grep -q 6; }
wait_until 60 "every partition led" led

# N lines "key-K:" + filler to SIZE bytes (the key is part of the line for both tools).
python3 - "$RECORDS" "$SIZE" >"$WORK/input.txt" <<'EOF'
import sys
n, size = int(sys.argv[1]), int(sys.argv[2])
for i in range(n):
    head = f"key-{i % 997}:{i} "
    print(head + "x" * max(0, size - len(head)))
EOF
BYTES=$(($(wc -c <"$WORK/input.txt") - RECORDS))  # Without the newlines.

rate() {  # NAME MS
  python3 -c "
import sys
name, ms, n, b = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
print(f'  {name}: {n} records of ~{b // n} B in {ms} ms: {n * 1000 / ms:,.0f} records/s, '
      f'{b / 1e6 * 1000 / ms:.1f} MB/s')" "$1" "$2" "$RECORDS" "$BYTES"
}

echo "== $RECORDS records of $SIZE bytes, 3 partitions x 3 replicas, acks after a quorum fsync"
t0=$(now_ms)
kcat -b "$KAFKA" -P -t via-kafka -K: -X acks=all -X enable.idempotence=true -z "$CODEC" \
  -l "$WORK/input.txt" 2>"$WORK/kcat.err" || fail "kcat -P: $(tail -n 3 "$WORK/kcat.err")"
kafka_ms=$(($(now_ms) - t0))
rate "kcat (librdkafka 2.0.2, acks=all, idempotent, compression $CODEC)" "$kafka_ms"
t0=$(now_ms)
cli produce via-meridian --file="$WORK/input.txt" --key-separator=: 2>"$WORK/meridian.err" ||
  fail "meridian produce: $(tail -n 3 "$WORK/meridian.err")"
meridian_ms=$(($(now_ms) - t0))
rate "meridian produce (core/client, acks=quorum, idempotent)" "$meridian_ms"
python3 -c "import sys; print(f'  kcat / meridian produce: {int(sys.argv[2]) / int(sys.argv[1]):.2f}x')" \
  "$kafka_ms" "$meridian_ms"
# Both topics must hold every record (a benchmark that lost records would measure nothing).
for topic in via-kafka via-meridian; do
  got=$(cli consume "$topic" --from-beginning 2>/dev/null | wc -l)
  [ "$got" -eq "$RECORDS" ] || fail "$topic holds $got records, not $RECORDS"
done
echo "  both topics hold all $RECORDS records"

#!/bin/bash
# What idle partitions cost: CPU time (user + system, from /proc) of three local meridian-node
# processes over an idle window, first with no topic, then with one topic of N partitions x 3
# replicas. Nothing is produced: the difference is what raft ticks, heartbeats and their
# bookkeeping cost. core/broker/README.md "Multi-raft" has a run.
#
# Usage: node/bench/idle_cost.sh BIN_DIR [PARTITIONS=300] [WINDOW_S=20] [NODE_FLAGS...]
#   NODE_FLAGS go to every meridian-node (e.g. --quiesce_idle_partitions=false to measure
#   groups that heartbeat for ever, as before quiescence).
#   BIN_DIR holds meridian-node and meridian (e.g. bazel-bin/node after
#   `bazel build -c opt //node:meridian-node //node:meridian`). Uses 127.0.0.1:8111-8113 and
#   :8211-8213 and a fresh directory under ${TMPDIR:-/tmp}.
set -euo pipefail
BIN=${1:?usage: idle_cost.sh BIN_DIR [PARTITIONS] [WINDOW_S]}
PARTITIONS=${2:-300}
WINDOW=${3:-20}
shift $(( $# < 3 ? $# : 3 ))
NODE_FLAGS=("$@")
DIR=$(mktemp -d "${TMPDIR:-/tmp}/meridian-idle.XXXXXX")
pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$DIR"; }
trap cleanup EXIT
peers() { for j in 1 2 3; do [ "$j" != "$1" ] && printf '%s=127.0.0.1:821%s,' "$j" "$j"; done | sed 's/,$//'; }
for i in 1 2 3; do
  "$BIN/meridian-node" --node_id=$i --data_dir="$DIR/n$i" --region=r$i --insecure_plaintext \
    --listen=127.0.0.1:811$i --peer_listen=127.0.0.1:821$i --peers="$(peers $i)" \
    ${NODE_FLAGS[@]+"${NODE_FLAGS[@]}"} >"$DIR/n$i.log" 2>&1 &
  pids+=($!)
done
M=("$BIN/meridian" --bootstrap=127.0.0.1:8111,127.0.0.1:8112)
for _ in $(seq 1 120); do "${M[@]}" cluster status >/dev/null 2>&1 && break; sleep 0.5; done
ticks() {  # utime + stime of every node, in clock ticks
  local sum=0
  for p in "${pids[@]}"; do sum=$((sum + $(awk '{print $14 + $15}' "/proc/$p/stat"))); done
  echo $sum
}
hz=$(getconf CLK_TCK)
measure() {
  local before after
  before=$(ticks); sleep "$WINDOW"; after=$(ticks)
  awk -v t=$((after - before)) -v hz="$hz" 'BEGIN { printf "%.2f", t / hz }'
}
sleep 3
idle0=$(measure)
"${M[@]}" topic create idle --partitions="$PARTITIONS" --replication-factor=3 >/dev/null
sleep 15  # elections and the first heartbeats settle
idle1=$(measure)
replicas=$((PARTITIONS * 3))
echo "no topic:                      $idle0 CPU-s over ${WINDOW}s (3 nodes)"
echo "$PARTITIONS partitions x 3 replicas: $idle1 CPU-s over ${WINDOW}s (3 nodes)"
awk -v a="$idle0" -v b="$idle1" -v r=$replicas -v w="$WINDOW" 'BEGIN {
  printf "per idle replica: %.3f ms of CPU per second\n", (b - a) * 1000 / r / w }'

#!/bin/bash
# What a retained log costs in memory: resident set size (VmRSS, /proc) of three local
# meridian-node processes before and after MB megabytes are produced into one partition of
# three replicas with unlimited retention, and of a follower restarted afterwards (it reads its
# log back at start). Raft keeps entry data only in its entry cache (--raft_entry_cache_bytes,
# core/raft/README.md "Elided entries"); run once with the default and once with
# --raft_entry_cache_bytes=1073741824 to see what holding the whole log (the old behaviour) costs.
#
# Usage: node/bench/memory_by_retention.sh BIN_DIR [MB=200] [NODE_FLAGS...]
#   BIN_DIR holds meridian-node and meridian (e.g. bazel-bin/node after
#   `bazel build -c opt //node:meridian-node //node:meridian`). Uses 127.0.0.1:8111-8113 and
#   :8211-8213 and a fresh directory under ${TMPDIR:-/tmp}.
set -euo pipefail
BIN=${1:?usage: memory_by_retention.sh BIN_DIR [MB] [NODE_FLAGS...]}
MB=${2:-200}
shift $(( $# < 2 ? $# : 2 ))
NODE_FLAGS=("$@")
DIR=$(mktemp -d "${TMPDIR:-/tmp}/meridian-memory.XXXXXX")
declare -A pids
cleanup() { kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$DIR"; }
trap cleanup EXIT
peers() { for j in 1 2 3; do [ "$j" != "$1" ] && printf '%s=127.0.0.1:821%s,' "$j" "$j"; done | sed 's/,$//'; }
start() {
  "$BIN/meridian-node" --node_id=$1 --data_dir="$DIR/n$1" --region=r$1 --insecure_plaintext \
    --listen=127.0.0.1:811$1 --peer_listen=127.0.0.1:821$1 --peers="$(peers $1)" \
    ${NODE_FLAGS[@]+"${NODE_FLAGS[@]}"} >>"$DIR/n$1.log" 2>&1 &
  pids[$1]=$!
}
rss_mib() { awk '/^VmRSS/ { printf "%.0f", $2 / 1024 }' "/proc/${pids[$1]}/status"; }
row() { printf '%-34s %6s %6s %6s MiB\n' "$1" "$(rss_mib 1)" "$(rss_mib 2)" "$(rss_mib 3)"; }
for i in 1 2 3; do start $i; done
M=("$BIN/meridian" --bootstrap=127.0.0.1:8111,127.0.0.1:8112,127.0.0.1:8113)
for _ in $(seq 1 120); do "${M[@]}" cluster status >/dev/null 2>&1 && break; sleep 0.5; done
"${M[@]}" topic create kept --partitions=1 --replication-factor=3 >/dev/null
sleep 3
printf '%-34s %6s %6s %6s\n' "flags: ${NODE_FLAGS[*]:-(defaults)}" node1 node2 node3
row "topic created, empty"
# 1000-byte lines (999 characters and the newline), MB * 1000 of them.
head -c 999 /dev/zero | tr '\0' 'x' | awk -v n=$((MB * 1000)) '{ for (i = 0; i < n; i++) print }' \
  >"$DIR/lines"
"${M[@]}" produce kept --file="$DIR/lines" 2>"$DIR/produce.err" ||
  { cat "$DIR/produce.err"; exit 1; }
sleep 2
row "after ${MB} MB produced"
kill -9 "${pids[3]}"; wait "${pids[3]}" 2>/dev/null || true
start 3
sleep 20  # it rejoins, reopens its replica (reading its log back) and catches up
row "node 3 restarted (kill -9)"

# Shared helpers of the real-process shell tests (tests/broker/cli_test.sh, tls_test.sh,
# hostile_input_test.sh, tests/kafka/kafka_test.sh, node/ops/ops_test.sh). Source it after
# setting WORK (the test's scratch directory) and declaring NODE_PID (pids of the nodes it
# started, by node number):
#   source "${TEST_SRCDIR:-$0.runfiles}/meridian/tests/cluster_lib.sh"
# It installs an EXIT trap that kills every node in NODE_PID and removes WORK.

cleanup() {
  local pid
  for pid in "${NODE_PID[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

# fail MESSAGE: prints it, the last 'cluster status' a test saved in $WORK/status.txt (if any)
# and the tail of each node's log ($WORK/n<i>.log), then exits 1.
fail() {
  echo "FAIL: $*" >&2
  if [ -s "$WORK/last-poll.txt" ]; then
    echo "--- what the last poll printed:" >&2
    cat "$WORK/last-poll.txt" >&2
  fi
  if [ -s "$WORK/status.txt" ]; then
    echo "--- the last 'cluster status' polled:" >&2
    cat "$WORK/status.txt" >&2
  fi
  local log
  for log in "$WORK"/n*.log; do
    [ -f "$log" ] || continue
    echo "--- last lines of $(basename "$log" .log)'s log:" >&2
    tail -n 15 "$log" >&2
  done
  exit 1
}

now_ms() { date +%s%3N; }

# wait_until SECONDS WHAT COMMAND...: polls COMMAND every 0.2 s until it succeeds. A COMMAND may
# save its output in $WORK/last-poll.txt: fail shows the last one.
wait_until() {
  local seconds=$1 what=$2
  shift 2
  local deadline=$(($(now_ms) + seconds * 1000))
  until "$@"; do
    [ "$(now_ms)" -lt "$deadline" ] || fail "timed out after ${seconds}s waiting for $what"
    sleep 0.2
  done
  rm -f "$WORK/last-poll.txt"  # What a poll saves for fail to show, once it has passed.
}

# pick_ports N: N free loopback ports, the way io/posix/ports.h's PickFreeLoopbackPort finds
# them: below the ephemeral range (no outgoing connection can hold one), all held at once so
# they differ.
pick_ports() {
  if command -v python3 >/dev/null; then
    python3 -c '
import random, socket, sys
end = int(open("/proc/sys/net/ipv4/ip_local_port_range").read().split()[0])
held = []
while len(held) < int(sys.argv[1]):
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", random.randrange(10000, end)))
        held.append(s)
    except OSError:
        s.close()
print(" ".join(str(s.getsockname()[1]) for s in held))' "$1"
  else  # Random ports that nothing listens on now.
    local used ports=() port
    used=$(ss -Htln 2>/dev/null | awk '{print $4}' | sed 's/.*://')
    while [ ${#ports[@]} -lt "$1" ]; do
      port=$((10000 + RANDOM % 22000))
      grep -qx "$port" <<<"$used" || [[ " ${ports[*]} " == *" $port "* ]] || ports+=("$port")
    done
    echo "${ports[*]}"
  fi
}

# pick_cluster_ports: free loopback ports for three nodes, by node number: CLIENT_PORT,
# PEER_PORT, KAFKA_PORT and METRICS_PORT; SPARE_PORT, which nothing listens on; BOOTSTRAP and
# KAFKA_BOOTSTRAP, the three client and Kafka addresses comma-separated.
pick_cluster_ports() {
  local ports i
  read -r -a ports <<<"$(pick_ports 13)"
  for i in 1 2 3; do
    CLIENT_PORT[$i]=${ports[$((i - 1))]}
    PEER_PORT[$i]=${ports[$((i + 2))]}
    KAFKA_PORT[$i]=${ports[$((i + 5))]}
    METRICS_PORT[$i]=${ports[$((i + 8))]}
  done
  SPARE_PORT=${ports[12]}
  BOOTSTRAP="127.0.0.1:${CLIENT_PORT[1]},127.0.0.1:${CLIENT_PORT[2]},127.0.0.1:${CLIENT_PORT[3]}"
  KAFKA_BOOTSTRAP="127.0.0.1:${KAFKA_PORT[1]},127.0.0.1:${KAFKA_PORT[2]},127.0.0.1:${KAFKA_PORT[3]}"
}

# start_cluster_node NODE_BIN I [FLAGS...]: node I of three (region rI, data in $WORK/nI) on the
# ports of pick_cluster_ports, the other two as its peers, plus FLAGS; its output goes to
# $WORK/nI.log, its pid to NODE_PID[I].
start_cluster_node() {
  local bin=$1 i=$2 peers="" j
  shift 2
  for j in 1 2 3; do
    [ "$j" = "$i" ] || peers="$peers${peers:+,}$j=127.0.0.1:${PEER_PORT[$j]}"
  done
  "$bin" --node_id="$i" --data_dir="$WORK/n$i" --listen="127.0.0.1:${CLIENT_PORT[$i]}" \
    --peer_listen="127.0.0.1:${PEER_PORT[$i]}" --metrics_listen="127.0.0.1:${METRICS_PORT[$i]}" \
    --region="r$i" --peers="$peers" "$@" >>"$WORK/n$i.log" 2>&1 &
  NODE_PID[$i]=$!
}

# make_certs MERIDIAN_CLI NODE_COUNT: a CA and certificates in $WORK/certs with `meridian certs`
# (cluster id "test", nodes 1..NODE_COUNT, the client principal "tester"). Afterwards
# `node_tls_flags I` prints node I's TLS flags (mutual TLS on peer links and on the client port)
# and CLI_TLS_FLAGS holds the CLI's.
make_certs() {
  "$1" certs --dir="$WORK/certs" --cluster-id=test --nodes="$(seq -s, 1 "$2")" \
    --clients=tester >/dev/null || fail "meridian certs failed"
  CLI_TLS_FLAGS=(--tls-ca="$WORK/certs/ca.pem" --tls-cert="$WORK/certs/tester.pem"
                 --tls-key="$WORK/certs/tester.key")
}
node_tls_flags() {
  echo "--tls_ca=$WORK/certs/ca.pem --tls_cert=$WORK/certs/node-$1.pem" \
    "--tls_key=$WORK/certs/node-$1.key --cluster_id=test --client_tls=mutual"
}

# metric NODE NAME: the value of an unlabelled metric on node NODE's /metrics (the caller's
# METRICS_PORT array), or failure if the node does not answer.
metric() {
  local out
  out=$( (exec 3<>"/dev/tcp/127.0.0.1/${METRICS_PORT[$1]}" &&
    printf 'GET /metrics HTTP/1.0\r\n\r\n' >&3 && cat <&3) 2>/dev/null) || return 1
  awk -v m="$2" '$1 == m { print $2 }' <<<"$out"
}

# cluster_ready [NODES]: true when `cli --timeout=2 cluster status` (the caller's cli function)
# shows a controller leader and NODES (default 3) registered nodes up; saves the output in
# $WORK/status.txt for fail().
cluster_ready() {
  local out
  out=$(cli --timeout=2 cluster status 2>&1) || return 1
  echo "$out" >"$WORK/status.txt"
  grep -q '^controller leader: node' <<<"$out" &&
    [ "$(grep -cE '^  [0-9]+ .* up, ' <<<"$out")" -eq "${1:-3}" ]
}

#!/usr/bin/env bash
# Peer authentication and client TLS against real meridian-node processes (issue 10 item 2).
#
# Three nodes run mutual TLS on peer links and on the client port (certificates from `meridian
# certs`). A hostile peer (hostile_peer.py) dials node 2's peer port and sends a hello claiming
# node 1 plus a forged message, once per forgery: plaintext, TLS without a certificate, a node 1
# certificate from another CA, node 3's valid certificate claiming node 1, a node 1 certificate
# of another cluster, a client certificate. Each must be refused (node 2's
# meridian_peer_connections_refused_total goes up by one, its log says why), and nothing it sent
# may reach the broker (meridian_peer_messages_dropped_total, which counts every undecodable peer
# message the broker sees, does not move). The control: a node run with --insecure_plaintext
# takes the same forgery, and its broker does see the forged message (the dropped counter moves)
# — the hole the TLS path closes. Also: the start-up refusals (no TLS and no
# --insecure_plaintext, contradicting flags, a certificate of another node), and that the CLI
# works with a client certificate and is refused without one, and that the ACLs let a read-only
# principal consume but not produce or create topics.
#
# Usage: tls_test.sh MERIDIAN_NODE MERIDIAN HOSTILE_PEER_PY
set -euo pipefail

NODE_BIN=$(realpath "$1")
CLI_BIN=$(realpath "$2")
HOSTILE=$(realpath "$3")
WORK=$(mktemp -d "${TEST_TMPDIR:-/tmp}/tls_test.XXXXXX")
declare -a NODE_PID CLIENT_PORT PEER_PORT METRICS_PORT

source "${TEST_SRCDIR:-$0.runfiles}/meridian/tests/cluster_lib.sh"  # cleanup, fail, wait_until, ...

make_certs "$CLI_BIN" 3
"$CLI_BIN" certs --dir="$WORK/certs" --cluster-id=test --nodes=1,2,3 --clients=bob >/dev/null
# The ACLs: the test's own principal may do everything, bob may only read `secure`.
printf 'tester * all\nbob secure consume  # read-only\n' >"$WORK/acl.txt"
# Node 1 of another cluster, from the same CA; node 1 of this cluster, from another CA.
mkdir -p "$WORK/other" && cp "$WORK/certs/ca.pem" "$WORK/certs/ca.key" "$WORK/other/"
"$CLI_BIN" certs --dir="$WORK/other" --cluster-id=other --nodes=1 >/dev/null
"$CLI_BIN" certs --dir="$WORK/rogue" --cluster-id=test --nodes=1 >/dev/null

read -r -a PORTS <<<"$(pick_ports 13)"
for i in 1 2 3 4; do
  CLIENT_PORT[$i]=${PORTS[$((i - 1))]}
  PEER_PORT[$i]=${PORTS[$((i + 3))]}
  METRICS_PORT[$i]=${PORTS[$((i + 7))]}
done
BOOTSTRAP="127.0.0.1:${CLIENT_PORT[1]},127.0.0.1:${CLIENT_PORT[2]},127.0.0.1:${CLIENT_PORT[3]}"

start_node() {  # start_node I [FLAG...]: node I of the three-node TLS cluster, or with FLAGs
  local i=$1 peers="" j
  shift
  for j in 1 2 3; do
    [ "$j" = "$i" ] || peers="$peers${peers:+,}$j=127.0.0.1:${PEER_PORT[$j]}"
  done
  # shellcheck disable=SC2046
  "$NODE_BIN" --node_id="$i" --data_dir="$WORK/n$i" --listen="127.0.0.1:${CLIENT_PORT[$i]}" \
    --peer_listen="127.0.0.1:${PEER_PORT[$i]}" --metrics_listen="127.0.0.1:${METRICS_PORT[$i]}" \
    --peers="$peers" "$@" >>"$WORK/n$i.log" 2>&1 &
  NODE_PID[$i]=$!
}

# metric I NAME: node I's value of NAME (empty if absent).
metric() {
  python3 - "${METRICS_PORT[$1]}" "$2" <<'PY'
import sys, urllib.request
text = urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/metrics", timeout=5).read()
for line in text.decode().splitlines():
    if line.split(" ")[0] == sys.argv[2]:
        print(int(float(line.split(" ")[1])))
PY
}
metric_above() { [ "$(metric "$1" "$2" 2>/dev/null)" -gt "$3" ] 2>/dev/null; }
cli() {  # cli [--timeout=S] ARGS...
  local timeout=--timeout=20
  if [[ "${1:-}" == --timeout=* ]]; then timeout=$1; shift; fi
  "$CLI_BIN" --bootstrap="$BOOTSTRAP" "$timeout" "${CLI_TLS_FLAGS[@]}" "$@"
}

echo "== start-up refusals"
expect_start_refused() {  # expect_start_refused TEXT FLAG...
  local text=$1 rc=0
  shift
  "$NODE_BIN" --node_id=1 --data_dir="$WORK/refused" "$@" >/dev/null 2>"$WORK/err.txt" || rc=$?
  [ "$rc" -eq 2 ] && grep -qF -- "$text" "$WORK/err.txt" ||
    fail "expected exit 2 with '$text', got $rc: $(cat "$WORK/err.txt")"
  echo "  ok: exit 2: $(head -n 1 "$WORK/err.txt")"
}
expect_start_refused "peer links need TLS"
expect_start_refused "contradict each other" --insecure_plaintext --tls_ca="$WORK/certs/ca.pem"
# shellcheck disable=SC2046
expect_start_refused "but this node is 'node-1.test.meridian'" $(node_tls_flags 2)

echo "== a three-node cluster with mutual TLS"
for i in 1 2 3; do
  # shellcheck disable=SC2046
  start_node "$i" $(node_tls_flags "$i") --acl_file="$WORK/acl.txt"
done
wait_until 60 "three registered nodes answering over TLS" cluster_ready
wait_until 30 "node 2's broker metrics" metric_above 2 meridian_peer_messages_dropped_total -1
cli topic create secure --partitions=1 --replication-factor=3 >/dev/null || fail "topic create"

echo "== forged peer connections to node 2"
dropped_before=$(metric 2 meridian_peer_messages_dropped_total)
forge() {  # forge WHAT EXPECTED_LOG ARGS...: one forgery against node 2, which must refuse it
  local what=$1 expected=$2 before
  shift 2
  before=$(metric 2 meridian_peer_connections_refused_total)
  python3 "$HOSTILE" "${PEER_PORT[2]}" "$@" >/dev/null
  wait_until 10 "node 2 to count the refusal of: $what" \
    metric_above 2 meridian_peer_connections_refused_total "$before"
  grep -q "refused: .*$expected" "$WORK/n2.log" || fail "no log line '$expected' for: $what"
  echo "  ok: refused, counted and logged: $what"
}
C=$WORK/certs
forge "plaintext" "wrong version number" 1 test
forge "TLS without a certificate" "did not return a certificate" 1 test --tls
forge "node 1's name from another CA" "certificate refused: unable to get local issuer" 1 test --tls \
  --cert "$WORK/rogue/node-1.pem" --key "$WORK/rogue/node-1.key"
forge "node 3's certificate claiming node 1" "hello claims n1 but the certificate names n3" \
  1 test --tls --cert "$C/node-3.pem" --key "$C/node-3.key"
forge "node 1 of cluster 'other'" "is not a node certificate of cluster 'test'" 1 test --tls \
  --cert "$WORK/other/node-1.pem" --key "$WORK/other/node-1.key"
forge "a client's certificate" "'tester' is not a node certificate" 1 test --tls \
  --cert "$C/tester.pem" --key "$C/tester.key"
dropped_after=$(metric 2 meridian_peer_messages_dropped_total)
[ "$dropped_after" = "$dropped_before" ] ||
  fail "a forged message reached node 2's broker (dropped $dropped_before -> $dropped_after)"
echo "  ok: no forged message reached the broker (peer messages dropped stays $dropped_after)"

echo "== the cluster still serves; clients need their certificate"
printf 'a,1\nb,2\n' | cli produce secure --key-separator=, 2>/dev/null || fail "produce over TLS"
[ "$(cli consume secure --from-beginning --max-messages=2 | wc -l)" -eq 2 ] ||
  fail "consume over TLS"
echo "  ok: produce and consume with the client certificate"
rc=0
"$CLI_BIN" --bootstrap="$BOOTSTRAP" --timeout=2 --tls-ca="$C/ca.pem" topic list \
  >/dev/null 2>"$WORK/err.txt" || rc=$?
[ "$rc" -eq 1 ] && grep -q "certificate required" "$WORK/err.txt" ||
  fail "a client without a certificate got exit $rc: $(cat "$WORK/err.txt")"
metric_above 2 meridian_client_tls_handshake_failures_total 0 ||
  metric_above 1 meridian_client_tls_handshake_failures_total 0 ||
  fail "the refused client was not counted"
echo "  ok: a client without a certificate is refused and counted"

echo "== per-principal ACLs (--acl_file)"
bob() {
  "$CLI_BIN" --bootstrap="$BOOTSTRAP" --timeout=5 --tls-ca="$C/ca.pem" --tls-cert="$C/bob.pem" \
    --tls-key="$C/bob.key" "$@"
}
expect_denied() {  # expect_denied TEXT COMMAND...
  local text=$1 rc=0
  shift
  "$@" >/dev/null 2>"$WORK/err.txt" </dev/null || rc=$?
  [ "$rc" -eq 1 ] && grep -qF -- "$text" "$WORK/err.txt" ||
    fail "expected exit 1 with '$text', got $rc: $(cat "$WORK/err.txt")"
  echo "  ok: $(head -n 1 "$WORK/err.txt")"
}
echo "from bob" >"$WORK/one.txt"
expect_denied "not authorized: principal 'bob' may not produce topic 'secure'" \
  bob produce secure --file="$WORK/one.txt"
expect_denied "not authorized: principal 'bob' may not admin topic 'mine'" \
  bob topic create mine --partitions=1 --replication-factor=1
[ "$(bob consume secure --from-beginning --max-messages=2 2>/dev/null | wc -l)" -eq 2 ] ||
  fail "bob could not consume what the ACLs let him read"
echo "  ok: bob consumes 'secure'"
denied=0
for i in 1 2 3; do denied=$((denied + $(metric "$i" meridian_client_requests_denied_total))); done
[ "$denied" -ge 2 ] || fail "denials counted: $denied"
echo "  ok: $denied denials counted in meridian_client_requests_denied_total"

echo "== the control: the same forgery against a plaintext node"
NODE_PID[4]=0
"$NODE_BIN" --node_id=4 --data_dir="$WORK/n4" --listen="127.0.0.1:${CLIENT_PORT[4]}" \
  --peer_listen="127.0.0.1:${PEER_PORT[4]}" --metrics_listen="127.0.0.1:${METRICS_PORT[4]}" \
  --peers="1=127.0.0.1:${PEER_PORT[1]}" --insecure_plaintext >>"$WORK/n4.log" 2>&1 &
NODE_PID[4]=$!
wait_until 30 "node 4's broker metrics" metric_above 4 meridian_peer_messages_dropped_total -1
before=$(metric 4 meridian_peer_messages_dropped_total)
python3 "$HOSTILE" "${PEER_PORT[4]}" 1 "" >/dev/null
wait_until 10 "the forged message to reach node 4's broker" \
  metric_above 4 meridian_peer_messages_dropped_total "$before"
echo "  ok: in plaintext mode the forged message reached the broker as node 1's"
echo "PASS: six forged peer connections refused, counted and logged; plaintext control accepts one"

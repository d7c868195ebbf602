#!/usr/bin/env bash
# The Kafka listener over TLS with client certificates and ACLs (--kafka_tls=mutual,
# --acl_file), against one real meridian-node and a real Kafka client (kcat 1.7.1, librdkafka
# 2.0.2):
#
#  0. --kafka_tls without --kafka_listen, with a bad value, or with --insecure_plaintext stops
#     the node before it starts (exit 2);
#  1. plaintext Kafka to the TLS port gets nothing, nor does TLS without a client certificate;
#  2. kcat with the certificate of principal "tester" lists the broker, produces 100 lines to
#     "orders" (its ACL allows it) and reads them back;
#  3. the same kcat producing to "secret" (no rule lets tester produce there) is refused with
#     TOPIC_AUTHORIZATION_FAILED, and the node logs the denial with the principal's name.
#
# Node certificates name node-<id>.<cluster>.meridian, not an address, so Kafka clients turn
# off host name verification (ssl.endpoint.identification.algorithm=none); the CA still
# verifies the chain (docs/kafka.md "TLS and ACLs").
#
# Usage: kafka_tls_test.sh MERIDIAN_NODE MERIDIAN
set -euo pipefail

NODE_BIN=$(realpath "$1")
CLI_BIN=$(realpath "$2")
WORK=$(mktemp -d "${TEST_TMPDIR:-/tmp}/kafka_tls_test.XXXXXX")
declare -a NODE_PID

source "${TEST_SRCDIR:-$0.runfiles}/meridian/tests/cluster_lib.sh"  # cleanup, fail, wait_until, pick_ports

command -v kcat >/dev/null || fail "kcat is not installed (bazel/setup.sh installs it)"
make_certs "$CLI_BIN" 1
read -r CLIENT_PORT KAFKA_PORT <<<"$(pick_ports 2)"
KAFKA="127.0.0.1:$KAFKA_PORT"
cat >"$WORK/acl.txt" <<EOF
tester orders all
tester secret admin,consume
EOF

# Bad --kafka_tls use is refused before the node starts (exit 2, one line saying why).
refused_start() {
  local want=$1 rc=0
  shift
  "$NODE_BIN" --node_id=1 --data_dir="$WORK/bad" --listen="127.0.0.1:$CLIENT_PORT" "$@" \
    >/dev/null 2>"$WORK/bad.err" || rc=$?
  [ "$rc" -eq 2 ] && grep -q -- "$want" "$WORK/bad.err" \
    || fail "meridian-node $* exited $rc, not 2 with '$want': $(cat "$WORK/bad.err")"
}
refused_start "--kafka_tls needs --kafka_listen" --kafka_tls=tls $(node_tls_flags 1)
refused_start "--kafka_tls must be off, tls or mutual" --kafka_listen="$KAFKA" --kafka_tls=yes \
  $(node_tls_flags 1)
refused_start "--kafka_tls needs TLS flags" --kafka_listen="$KAFKA" --kafka_tls=mutual \
  --insecure_plaintext

"$NODE_BIN" --node_id=1 --data_dir="$WORK/n1" --listen="127.0.0.1:$CLIENT_PORT" \
  --kafka_listen="$KAFKA" --kafka_tls=mutual --acl_file="$WORK/acl.txt" \
  $(node_tls_flags 1) >>"$WORK/n1.log" 2>&1 &
NODE_PID[1]=$!

cli() { "$CLI_BIN" --bootstrap="127.0.0.1:$CLIENT_PORT" --timeout=20 "${CLI_TLS_FLAGS[@]}" "$@"; }
TLS=(-X security.protocol=ssl -X "ssl.ca.location=$WORK/certs/ca.pem"
     -X ssl.endpoint.identification.algorithm=none)
AS_TESTER=("${TLS[@]}" -X "ssl.certificate.location=$WORK/certs/tester.pem"
           -X "ssl.key.location=$WORK/certs/tester.key")

echo "== one node, Kafka listener with mutual TLS and ACLs"
listed() { timeout 10 kcat -b "$KAFKA" "${AS_TESTER[@]}" -L -m 3 >"$WORK/list.txt" 2>&1; }
wait_until 60 "kcat -L over TLS" listed
grep -q "^  broker 1 at 127.0.0.1:$KAFKA_PORT" "$WORK/list.txt" \
  || fail "kcat -L over TLS did not list broker 1: $(cat "$WORK/list.txt")"
for topic in orders secret; do
  cli topic create "$topic" --partitions=1 --replication-factor=1 >/dev/null \
    || fail "topic create $topic"
done

echo "== 1. no TLS, or TLS without a client certificate: nothing"
if timeout 10 kcat -b "$KAFKA" -L -m 3 >"$WORK/plain.txt" 2>&1 \
  && grep -q "broker 1 at" "$WORK/plain.txt"; then
  fail "plaintext Kafka was served on the TLS port"
fi
if timeout 10 kcat -b "$KAFKA" "${TLS[@]}" -L -m 3 >"$WORK/nocert.txt" 2>&1 \
  && grep -q "broker 1 at" "$WORK/nocert.txt"; then
  fail "a Kafka client without a certificate was served under --kafka_tls=mutual"
fi
echo "  refused: plaintext, and TLS without a certificate"

echo "== 2. principal tester produces to and consumes 'orders'"
seq 1 100 | sed 's/^/line-/' >"$WORK/want.txt"
kcat -b "$KAFKA" "${AS_TESTER[@]}" -P -t orders -p 0 -l "$WORK/want.txt" 2>"$WORK/produce.err" \
  || fail "kcat -P to orders: $(cat "$WORK/produce.err")"
timeout 30 kcat -b "$KAFKA" "${AS_TESTER[@]}" -C -t orders -o beginning -e -q >"$WORK/got.txt" \
  2>"$WORK/consume.err" || fail "kcat -C of orders: $(cat "$WORK/consume.err")"
cmp -s "$WORK/want.txt" "$WORK/got.txt" \
  || fail "read back $(wc -l <"$WORK/got.txt") lines, not the 100 produced"
echo "  100 lines produced and read back over mutual TLS"

echo "== 3. principal tester may not produce to 'secret'"
echo "nope" | timeout 30 kcat -b "$KAFKA" "${AS_TESTER[@]}" -P -t secret -p 0 \
  -X message.timeout.ms=5000 >"$WORK/denied.out" 2>"$WORK/denied.err" || true
grep -qi "authoriz" "$WORK/denied.err" \
  || fail "kcat -P to secret was not refused as unauthorized: $(cat "$WORK/denied.err")"
grep -q "principal 'tester' may not produce topic 'secret'" "$WORK/n1.log" \
  || fail "the node did not log the denial with the principal's name"
timeout 30 kcat -b "$KAFKA" "${AS_TESTER[@]}" -C -t secret -o beginning -e -q \
  >"$WORK/secret.txt" 2>/dev/null || true
[ ! -s "$WORK/secret.txt" ] || fail "a refused produce reached 'secret': $(cat "$WORK/secret.txt")"
echo "  refused (TOPIC_AUTHORIZATION_FAILED), logged with the principal, nothing written"
echo "PASS"

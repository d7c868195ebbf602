#!/usr/bin/env bash
# Operator errors at start-up (issue 10 item 4): meridian-node refuses each (unknown flags and
# values that do not parse too) with exit 2 and a message naming the flag, before it says it is up — never "up" and exit 0, never a silent
# acceptance. A client port already taken fails the start (exit 1, start_failed), not later.
# Bounds and quotas out of range: burst_test.sh; TLS flags: tls_test.sh.
#
# Usage: startup_refusals_test.sh MERIDIAN_NODE
set -euo pipefail

NODE_BIN=$(realpath "$1")
WORK=$(mktemp -d "${TEST_TMPDIR:-/tmp}/startup_refusals_test.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

refused() {  # refused MESSAGE FLAG... : exit 2, MESSAGE on stderr, and never "up"
  local message=$1 rc=0
  shift
  # A node that accepts the flags starts and serves: the timeout ends it (exit 124, a failure).
  timeout 20 "$NODE_BIN" "$@" >"$WORK/out.txt" 2>"$WORK/err.txt" </dev/null || rc=$?
  [ "$rc" -eq 2 ] || fail "meridian-node $* exited $rc, want 2: $(cat "$WORK/err.txt")"
  grep -q -- "$message" "$WORK/err.txt" ||
    fail "meridian-node $* did not say '$message': $(cat "$WORK/err.txt")"
  if grep -q "event=up" "$WORK/out.txt" "$WORK/err.txt"; then fail "meridian-node $* said it was up"; fi
  echo "  ok: exit 2: $(grep -v WARNING "$WORK/err.txt" | head -n 1)"
}

BASE=(--insecure_plaintext --listen=127.0.0.1:19999)  # Refused before any bind.
touch "$WORK/a-file"
refused "--node_id is required" --data_dir="$WORK/d" "${BASE[@]}"
refused "--data_dir is required" --node_id=1 "${BASE[@]}"
refused "exists and is not a directory" --node_id=1 --data_dir="$WORK/a-file" "${BASE[@]}"
refused "--peers needs --peer_listen" --node_id=1 --data_dir="$WORK/d" "${BASE[@]}" \
  --peers=2=127.0.0.1:9002
refused "is not an IPv4 address (host names are not resolved)" --node_id=1 --data_dir="$WORK/d" \
  "${BASE[@]}" --peer_listen=127.0.0.1:9001 --peers=2=node2.example:9002
refused "--peers lists this node's own id 1" --node_id=1 --data_dir="$WORK/d" "${BASE[@]}" \
  --peer_listen=127.0.0.1:9001 --peers=1=127.0.0.1:9001
refused "--peers lists node 2 twice" --node_id=1 --data_dir="$WORK/d" "${BASE[@]}" \
  --peer_listen=127.0.0.1:9001 --peers=2=127.0.0.1:9002,2=127.0.0.1:9003
refused "is not id=ip:port" --node_id=1 --data_dir="$WORK/d" "${BASE[@]}" \
  --peer_listen=127.0.0.1:9001 --peers=127.0.0.1:9002
refused "is not an IPv4 address" --node_id=1 --data_dir="$WORK/d" --insecure_plaintext \
  --listen=localhost.example:9092
refused "--connection_idle_timeout_ms must be in 1000..86400000" --node_id=1 \
  --data_dir="$WORK/d" "${BASE[@]}" --connection_idle_timeout_ms=10
refused "--request_read_timeout_ms must be in 100..600000" --node_id=1 --data_dir="$WORK/d" \
  "${BASE[@]}" --request_read_timeout_ms=0
refused "--connections_per_address_max must be >= 1" --node_id=1 --data_dir="$WORK/d" \
  "${BASE[@]}" --connections_per_address_max=0
refused "--requests_in_flight_per_connection_max must be in 1..4096" --node_id=1 \
  --data_dir="$WORK/d" "${BASE[@]}" --requests_in_flight_per_connection_max=5000
refused "--replica_replacement_delay_ms must be 0 (never) or at least 5000; got 100" --node_id=1 \
  --data_dir="$WORK/d" "${BASE[@]}" --replica_replacement_delay_ms=100
refused "--replica_balance_delay_ms must be 0 (never) or at least 5000; got 1" --node_id=1 \
  --data_dir="$WORK/d" "${BASE[@]}" --replica_balance_delay_ms=1
refused "--region_failback_delay_ms must be 0 (never) or at least 5000; got 4999" --node_id=1 \
  --data_dir="$WORK/d" "${BASE[@]}" --region_failback_delay_ms=4999
refused "unknown flag --bogus" --bogus=1 --node_id=1 --data_dir="$WORK/d" "${BASE[@]}"
refused "--node_id=x: Illegal value" --node_id=x --data_dir="$WORK/d" "${BASE[@]}"
refused "--data_dir needs a value" --node_id=1 "${BASE[@]}" --data_dir

# --help: exit 0, on stdout, every flag the node accepts (those of node/limit_flags.cc too).
rc=0
"$NODE_BIN" --help >"$WORK/help.txt" 2>"$WORK/err.txt" </dev/null || rc=$?
[ "$rc" -eq 0 ] || fail "meridian-node --help exited $rc, want 0: $(cat "$WORK/err.txt")"
for flag in --node_id --data_dir --peers --connection_idle_timeout_ms --connections_max; do
  grep -q -- "^    $flag " "$WORK/help.txt" || fail "meridian-node --help does not list $flag"
done
echo "  ok: --help exits 0 and lists $(grep -c '^    --' "$WORK/help.txt") flags"

# A client port another process holds: the start fails (exit 1) and the log says why.
python3 - "$NODE_BIN" "$WORK" <<'PY' || fail "a taken client port"
import socket, subprocess, sys
node, work = sys.argv[1], sys.argv[2]
holder = socket.socket()
holder.bind(("127.0.0.1", 0))
holder.listen()
port = holder.getsockname()[1]
run = subprocess.run([node, "--node_id=1", f"--data_dir={work}/taken", "--insecure_plaintext",
                      f"--listen=127.0.0.1:{port}"], capture_output=True, text=True, timeout=60)
said = run.stdout + run.stderr
if run.returncode != 1 or "start_failed" not in said or "Address already in use" not in said \
        or "event=up" in said:
    sys.exit(f"exit {run.returncode}: {said}")
print(f"  ok: exit 1: client port {port} taken: start_failed")
PY
echo "startup refusals: every operator error refused before 'up'"

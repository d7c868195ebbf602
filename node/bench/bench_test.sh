#!/usr/bin/env bash
# //node:meridian_bench_test — meridian-bench's regression guard. Runs the bench's --quick cases
# against three real meridian-node processes and fails only if the bench fails, i.e. if some
# acknowledged record was not read back exactly once (or a cluster did not start); never on
# timing. When Debian's nats-server is installed, a tiny JetStream case runs too; otherwise that
# part is skipped with a message saying so.
# Usage: bench_test.sh PATH_TO_MERIDIAN_BENCH PATH_TO_MERIDIAN_NODE
set -euo pipefail
bench="$1"
node="$2"

echo "bench_test: meridian --quick cases"
"$bench" --node_binary="$node" --quick --disk_probe_ms=50

if command -v nats-server >/dev/null 2>&1 || [ -x /usr/sbin/nats-server ]; then
  echo "bench_test: nats-server is installed: a tiny case side by side with JetStream"
  "$bench" --node_binary="$node" --quick --peer=jetstream --cases=1024:16:quorum:1 \
      --disk_probe_ms=0 --e2e_ms=0
else
  echo "bench_test: SKIPPED the JetStream peer case: nats-server is not installed" \
       "(bazel/setup.sh installs Debian's nats-server)"
fi
echo "bench_test: passed"

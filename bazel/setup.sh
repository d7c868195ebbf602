#!/usr/bin/env bash
# Installs every Debian 12 package that building and testing Meridian need, and nothing else.
# Idempotent: does nothing (and needs no root) when everything is already installed; otherwise
# runs `apt-get update` once and installs exactly what is missing.
set -euo pipefail

packages=(
  bazel-bootstrap          # Bazel 4.2.3, the build
  g++                      # the default compiler (GCC 12)
  clang-14                 # --config=clang, and libFuzzer for fuzz/
  clang-format-14          # //tests:tidy_test: the house format, with .clang-format
  libclang-rt-14-dev       # clang's sanitizer and fuzzer runtimes
  libabsl-dev              # Abseil 20220623
  libflatbuffers-dev       # FlatBuffers 2.0.8 runtime headers
  flatbuffers-compiler     # flatc
  libboost-context-dev     # Boost.Context 1.74, the fibers
  libfmt-dev               # fmt 9.1
  libgtest-dev             # GoogleTest 1.12
  libgmock-dev             # GoogleMock (gmock_main)
  librapidcheck-dev        # rapidcheck, with its GoogleTest integration
  libssl-dev               # OpenSSL 3.0: TLS on peer links and client connections (io/posix)
  zlib1g-dev libsnappy-dev liblz4-dev libzstd-dev  # Kafka's batch codecs (core/kafka)
  openssl                  # the openssl CLI, for inspecting `meridian certs` output
  chromium                 # headless: checks/ renders its HTML reports in a test
  nats-server              # meridian-bench --peer=jetstream, and its tiny peer case in the tests
  gnuplot-nox              # docs/benchmarks.md's plots (bench/plot.sh)
  prometheus               # promtool: //node:ops_test checks /metrics and node/ops/alerts.yml
  kcat                     # the Kafka listener's real-client tests (tests/kafka)
  librdkafka-dev           # librdkafka, the C Kafka client those tests run
  python3-confluent-kafka  # the Python client over librdkafka (idempotent producer test)
  python3-kafka            # the pure-Python Kafka client
  iproute2 iptables faketime  # tests/jepsen: namespaces, partitions, clock skew
)

missing=()
for package in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$package")
  fi
done

if [ "${#missing[@]}" -eq 0 ]; then
  echo "setup: all ${#packages[@]} build and test packages are installed"
  exit 0
fi

echo "setup: missing Debian packages: ${missing[*]}"
if [ "$(id -u)" -ne 0 ]; then
  echo "setup: installing them needs root. Run: sudo $0   (or: sudo apt-get install ${missing[*]})" >&2
  exit 1
fi
if ! command -v apt-get >/dev/null; then
  echo "setup: apt-get not found; Meridian's setup supports Debian 12 (bookworm) only" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q "${missing[@]}"
echo "setup: installed ${#missing[@]} packages"

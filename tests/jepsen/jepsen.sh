#!/usr/bin/env bash
# Jepsen-style runs of real meridian-node processes (tests/jepsen/README.md).
#
#   jepsen.sh HARNESS NODE SHIM [--short] [--out-root=DIR] [meridian-jepsen flags...]
#
# Makes one network namespace per node plus one for the harness (the client) and one holding a
# bridge; every namespace gets a veth into the bridge and an address in 10.77.0.0/24, which exists
# only inside these namespaces. Names carry this script's pid (mj<pid>...), so concurrent runs do
# not collide; every exit path removes them (trap), and namespaces left behind by a run whose
# process is gone are removed at the next start. Without namespaces (not root, no `ip netns`)
# the harness runs on loopback behind its fault-injecting proxy instead; the mode is printed.
#
# --short runs the suite of the bazel test (every fault class, a few minutes in all) and then
# the power-cut proof: coordinated power cuts must lose nothing by default and must lose
# acknowledged records (the checker says lost-write) with --unsafe_ack_before_fsync_for_tests.
set -uo pipefail

HARNESS=$(realpath "$1")
NODE=$(realpath "$2")
SHIM=$(realpath "$3")
shift 3
SHORT=0
OUT_ROOT=""
declare -a FLAGS=()
for arg in "$@"; do
  case "$arg" in
    --short) SHORT=1 ;;
    --out-root=*) OUT_ROOT=${arg#--out-root=} ;;
    *) FLAGS+=("$arg") ;;
  esac
done
# Under `bazel test` the runs go to the test's undeclared outputs (bazel-testlogs/.../
# test.outputs), without the data directories of runs that passed.
PRUNE=0
if [ -z "$OUT_ROOT" ] && [ -n "${TEST_UNDECLARED_OUTPUTS_DIR:-}" ]; then
  OUT_ROOT=$TEST_UNDECLARED_OUTPUTS_DIR/jepsen
  PRUNE=1
fi
[ -n "$OUT_ROOT" ] || OUT_ROOT=/tmp/meridian-jepsen/$(date +%Y%m%d-%H%M%S)-$$
mkdir -p "$OUT_ROOT"
NODES=5
for arg in "${FLAGS[@]+"${FLAGS[@]}"}"; do
  case "$arg" in --nodes=*) NODES=${arg#--nodes=} ;; esac
done

PREFIX="mj$$"
MODE=loopback

delete_namespaces() {  # delete_namespaces PREFIX: kills what runs inside, then removes them
  local ns
  for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep -E "^$1[bcn][0-9]*$"); do
    ip netns pids "$ns" 2>/dev/null | xargs -r kill -9 2>/dev/null
    ip netns del "$ns" 2>/dev/null
  done
}

cleanup() { [ "$MODE" = namespaces ] && delete_namespaces "$PREFIX"; }
trap cleanup EXIT
trap 'exit 130' INT TERM

remove_stale() {  # namespaces of earlier runs whose script is gone
  local ns pid
  for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep -E '^mj[0-9]+b$'); do
    pid=${ns#mj}
    pid=${pid%b}
    kill -0 "$pid" 2>/dev/null || delete_namespaces "mj$pid"
  done
}

# add_namespace NAME VETH IP: a namespace with a veth into the bridge and one address.
add_namespace() {
  ip netns add "$1" &&
    ip -n "${PREFIX}b" link add "$2" type veth peer name eth0 netns "$1" &&
    ip -n "${PREFIX}b" link set "$2" master br0 up &&
    ip -n "$1" addr add "$3/24" dev eth0 &&
    ip -n "$1" link set eth0 up &&
    ip -n "$1" link set lo up
}

make_namespaces() {
  [ "$(id -u)" = 0 ] || return 1
  command -v ip >/dev/null && command -v iptables >/dev/null || return 1
  remove_stale
  MODE=namespaces  # from here on, cleanup removes whatever was made
  ip netns add "${PREFIX}b" 2>/dev/null || return 1
  ip -n "${PREFIX}b" link add br0 type bridge && ip -n "${PREFIX}b" link set br0 up &&
    ip -n "${PREFIX}b" link set lo up || return 1
  add_namespace "${PREFIX}c" vc 10.77.0.2 || return 1
  local i
  for i in $(seq 1 "$NODES"); do
    add_namespace "${PREFIX}n$i" "v$i" "10.77.0.$((10 + i))" || return 1
  done
  ip netns exec "${PREFIX}n1" iptables -S >/dev/null 2>&1 || return 1
}

if make_namespaces; then
  echo "jepsen.sh: mode: network namespaces ${PREFIX}{b,c,n1..n$NODES}, bridge, 10.77.0.0/24"
else
  cleanup
  MODE=loopback
  echo "jepsen.sh: mode: LOOPBACK with the harness's fault-injecting TCP proxy (no network" \
    "namespaces here: need root, ip netns and iptables)"
fi

# one_run NAME FLAGS...: one harness run into $OUT_ROOT/NAME; its exit status.
one_run() {
  local name=$1
  shift
  local -a run=("$HARNESS" "--node_binary=$NODE" "--powercut_shim=$SHIM" "--out=$OUT_ROOT/$name")
  if [ "$MODE" = namespaces ]; then
    run=(ip netns exec "${PREFIX}c" "${run[@]}" --net=namespaces "--netns_prefix=$PREFIX")
  else
    run+=(--net=loopback)
  fi
  echo "jepsen.sh: run $name: $*"
  "${run[@]}" "$@" >"$OUT_ROOT/$name.out" 2>&1
  local status=$?
  [ "$PRUNE" = 1 ] && [ "$status" = 0 ] && rm -rf "$OUT_ROOT/$name"/n*/disk "$OUT_ROOT/$name"/n*/journal
  sed -n '/^network mode/,$p' "$OUT_ROOT/$name.out" | grep -v '^  n[0-9]' | sed "s/^/  [$name] /"
  return $status
}

if [ "$SHORT" = 0 ]; then
  one_run run "${FLAGS[@]+"${FLAGS[@]}"}"
  status=$?
  echo "jepsen.sh: everything is in $OUT_ROOT/run"
  exit $status
fi

# The short suite: each fault class for a few seconds. Bit flips get three times as long, so
# several injections damage more than one replica of a partition over the run (a damaged
# replica repairs from its peers and votes only as if it still held what it lost; README.md,
# Findings).
declare -a FAILED=()
T=${JEPSEN_SHORT_SECONDS:-5}
for nemesis in kill pause partition oneway region leader clock disk powercut bitflip; do
  limit=$T
  [ "$nemesis" = bitflip ] && limit=$((3 * T))
  one_run "$nemesis" "--nemesis=$nemesis" "--time_limit=$limit" --seed=$RANDOM \
    "${FLAGS[@]+"${FLAGS[@]}"}" || FAILED+=("$nemesis")
done
# The power-cut proof: coordinated power cuts of every node, with consumers only at the end (a
# record a consumer read before the cut is not "lost-write" to the checker, even if the cut
# destroys it). Default: nothing acknowledged may be lost. With fsync after the ack: the checker
# must find lost-write.
PROOF=(--nemesis=powercut-all "--time_limit=$((2 * T))" --consumers=0 --partitions=8
  --powercut_sync_delay_us=50000)
one_run powercut-all-safe "${PROOF[@]}" --seed=$RANDOM "${FLAGS[@]+"${FLAGS[@]}"}" ||
  FAILED+=(powercut-all-safe)
one_run powercut-all-UNSAFE "${PROOF[@]}" --seed=$RANDOM --unsafe_ack_before_fsync_for_tests \
  --expect=lost-write "${FLAGS[@]+"${FLAGS[@]}"}" || FAILED+=("powercut-all-UNSAFE (expected lost-write)")
echo "jepsen.sh: per run (acknowledged, lost, indeterminate):"
for summary in "$OUT_ROOT"/*/summary.txt; do
  echo "  $(basename "$(dirname "$summary")"): $(grep '^operations:' "$summary")"
done
echo "jepsen.sh: mode $MODE; everything is in $OUT_ROOT"
if [ "${#FAILED[@]}" -gt 0 ]; then
  echo "jepsen.sh: FAILED: ${FAILED[*]}"
  exit 1
fi
echo "jepsen.sh: PASSED: every fault class, nothing acknowledged lost; the unsafe flag loses data"

#!/usr/bin/env bash
# Real Kafka clients (kcat 1.7.1 and librdkafka 2.0.2, python3-confluent-kafka 1.7.0,
# python3-kafka 2.0.2 — none written here) against three real meridian-node processes with
# their Kafka listeners on (core/kafka, docs/kafka.md):
#
#  1. `kcat -L` lists the 3 brokers at their Kafka ports, the topics and partitions with
#     leaders; kafka-python shows each broker's region as its rack; kafka-python creates a
#     topic through CreateTopics (sent to the controller) and reads its retention.ms back with
#     DescribeConfigs; kafka-python grows a topic with CreatePartitions (validate_only first,
#     which changes nothing; a count that does not grow and an unknown topic refused).
#  2. `kcat -P` of 100,000 keyed lines plus a few with headers, `kcat -C -e` back: byte for byte
#     the same lines, headers included, offsets 0..n-1 per partition, produce order kept; and
#     kafka-python's own producer and consumer (no librdkafka) round-tripping 1,000 records.
#  2c. Compression: kcat -z gzip, snappy, lz4 and zstd (librdkafka's codecs) and kafka-python's
#     gzip producer: every line back byte for byte (Meridian decompresses and stores them plain).
#  3. The same with an idempotent kcat across a kill -9 of partition 0's leader in the middle of
#     the stream: every line exactly once, in order per partition.
#  4. An idempotent confluent-kafka producer across a second leader kill, consumed back and
#     checked (tests/kafka/idempotent_producer.py); its murmur2 partitioner places every key
#     where Meridian's own client (`meridian produce`) places it.
#  5. Raw protocol probes (tests/kafka/raw_probe.py): ApiVersions fallback, hostile group
#     requests answered with the protocol's errors, codec 5 and bytes that are not gzip refused,
#     a 2 GiB frame closes only its connection.
#  6. Consumer groups: two confluent-kafka members through a rebalance each way
#     (tests/kafka/consumer_group.py), their committed offsets read back by `meridian group
#     describe` and by kafka-python (OffsetFetch); `kcat -G` reading a topic; kafka-python's
#     KafkaConsumer with a group_id committing, a second one resuming there; a "simple" commit
#     (assign() + commit, no generation) into an empty group; kafka-python's ListGroups (sent to
#     every broker) lists each of those groups once; kafka-python's DescribeGroups shows a live
#     member (Stable, range, its client id, host, subscription and partitions), then Empty once
#     it left; an unknown group is Dead.
#  6b. DeleteGroups: kafka-python's delete_consumer_groups refused for a group with a live
#     member (NON_EMPTY_GROUP; `meridian group delete` exits 1), then deleting empty groups (their
#     offsets gone, Dead) and an unknown one (GROUP_ID_NOT_FOUND); `meridian group delete`.
#  6c. AlterConfigs through kafka-python and confluent-kafka (retention changed, the whole set
#     replaced, refusals with Kafka's codes); IncrementalAlterConfigs v0 written with
#     kafka-python's protocol classes (no client here has it); `meridian topic alter`.
#  7. Reads near the client: kcat with client.rack set to a follower's region reads a topic
#     whole, and that follower's meridian_fetch_follower_bytes_total shows it served them
#     (KIP-392 preferred_read_replica); then `meridian consume --region` does the same.
#
# Needs kcat, python3-confluent-kafka and python3-kafka (bazel/setup.sh installs them): fails,
# never skips, without them. Uses /usr/bin/python3 (Debian's, which has those modules).
#
# Usage: kafka_test.sh MERIDIAN_NODE MERIDIAN IDEMPOTENT_PRODUCER_PY RAW_PROBE_PY CONSUMER_GROUP_PY
set -euo pipefail

NODE_BIN=$(realpath "$1")
CLI_BIN=$(realpath "$2")
PRODUCER_PY=$(realpath "$3")
PROBE_PY=$(realpath "$4")
GROUP_PY=$(realpath "$5")
PYTHON=/usr/bin/python3
WORK=$(mktemp -d "${TEST_TMPDIR:-/tmp}/kafka_test.XXXXXX")
RECORDS=100000  # issue 16: 100,000 kcat lines, across a leader kill too
declare -a NODE_PID CLIENT_PORT PEER_PORT KAFKA_PORT METRICS_PORT

source "${TEST_SRCDIR:-$0.runfiles}/meridian/tests/cluster_lib.sh"  # cleanup, fail, wait_until, pick_ports

make_certs "$CLI_BIN" 3  # Peer links and the client port run mutual TLS (cluster_lib.sh).
pick_cluster_ports  # CLIENT_PORT, PEER_PORT, KAFKA_PORT, METRICS_PORT, BOOTSTRAP (cluster_lib.sh)
KAFKA=$KAFKA_BOOTSTRAP

start_node() {
  # shellcheck disable=SC2046  # The TLS flags are a word list.
  start_cluster_node "$NODE_BIN" "$1" --kafka_listen="127.0.0.1:${KAFKA_PORT[$1]}" \
    $(node_tls_flags "$1")
}

cli() { "$CLI_BIN" --bootstrap="$BOOTSTRAP" --timeout=20 "${CLI_TLS_FLAGS[@]}" "$@"; }

# Every node registered, a controller leader, and every node's Kafka address in Metadata.
cluster_ready() {
  local out
  out=$(timeout 10 kcat -b "$KAFKA" -L -m 3 2>/dev/null) || return 1
  [ "$(grep -c '^  broker [123] at 127.0.0.1:' <<<"$out")" -eq 3 ] && grep -q '(controller)' <<<"$out"
}

# Every partition of topic $1 has a leader, all replicas caught up.
topic_caught_up() {
  cli cluster status 2>/dev/null | awk -v t="$1" '
    $1 == t { rows++; if ($3 == "-" || $0 ~ /unreachable/ || gsub(/\(lag 0\)/, "") != 3) bad++ }
    END { exit !(rows == 3 && bad == 0) }'
}

partition_leader() {
  cli cluster status | awk -v t="$1" -v p="$2" '$1 == t && $2 == p { print $3 }'
}

kill_node() {
  kill -9 "${NODE_PID[$1]}"
  wait "${NODE_PID[$1]}" 2>/dev/null || true
}

# kcat_consume TOPIC OUT: every record from the beginning to the end, as "partition offset
# key:value [headers]" lines.
kcat_consume() {
  timeout 120 kcat -b "$KAFKA" -C -t "$1" -o beginning -e -q -f '%p %o %k:%s [%h]\n' >"$2" ||
    fail "kcat -C of $1 exited $?"
}

# check_partition_order FILE: offsets 0..n-1 per partition, and the line numbers (the values'
# "line N") increasing within each partition.
check_partition_order() {
  sort -k1,1n -k2,2n "$1" | awk '
    { if ($2 != next_offset[$1] + 0) { printf "partition %s: offset %s where %d was due\n", $1, $2, next_offset[$1]; bad = 1 }
      next_offset[$1] = $2 + 1
      match($0, /line [0-9]+/); n = substr($0, RSTART + 5, RLENGTH - 5) + 0
      if ($1 in last && n <= last[$1]) { printf "partition %s: line %d after line %d\n", $1, n, last[$1]; bad = 1 }
      last[$1] = n }
    END { for (p in next_offset) printf "  partition %s: offsets 0..%d\n", p, next_offset[p] - 1
          exit bad }' >"$WORK/order.txt" || { cat "$WORK/order.txt" >&2; fail "$1: offsets or order"; }
  sort "$WORK/order.txt"
}

echo "== starting 3 nodes (Kafka ports ${KAFKA_PORT[*]})"
for i in 1 2 3; do start_node "$i"; done
wait_until 60 "3 brokers and a controller in 'kcat -L'" cluster_ready

echo "== 1. metadata: kcat -L, racks and CreateTopics through kafka-python"
cli topic create lines --partitions=3 --replication-factor=3 >/dev/null || fail "topic create"
"$PYTHON" - "$KAFKA" <<'EOF' || fail "kafka-python: racks, CreateTopics or DescribeConfigs"
import sys, time
from kafka import KafkaClient
from kafka.admin import ConfigResource, ConfigResourceType, KafkaAdminClient, NewTopic
servers = sys.argv[1].split(",")
client = KafkaClient(bootstrap_servers=servers)
client.poll(future=client.cluster.request_update())
racks = {b.nodeId: b.rack for b in client.cluster.brokers()}
print(f"  kafka-python: brokers and racks {sorted(racks.items())}")
assert racks == {1: "r1", 2: "r2", 3: "r3"}, racks
admin = KafkaAdminClient(bootstrap_servers=servers)
admin.create_topics([NewTopic("created-by-kafka-python", 2, 3,
                              topic_configs={"retention.ms": "3600000"})])
print("  kafka-python: CreateTopics created-by-kafka-python (2 partitions, retention.ms)")
# DescribeConfigs reads it back (a node may learn of the new topic a moment after the controller).
resource = ConfigResource(ConfigResourceType.TOPIC, "created-by-kafka-python")
for attempt in range(50):
    result = admin.describe_configs([resource])[0].resources[0]
    if result[0] == 0:
        break
    time.sleep(0.2)
error, _, _, name, entries = result[:5]
configs = {entry[0]: entry[1] for entry in entries}
print(f"  kafka-python: DescribeConfigs {name}: {sorted(configs.items())}")
assert error == 0 and configs["retention.ms"] == "3600000", result
assert configs["cleanup.policy"] == "delete", configs
EOF
"$PYTHON" - "$KAFKA" <<'EOF' || fail "kafka-python: CreatePartitions"
import sys, time
from kafka import KafkaConsumer
from kafka.admin import KafkaAdminClient, NewPartitions, NewTopic
from kafka.errors import InvalidPartitionsError, UnknownTopicOrPartitionError
servers = sys.argv[1].split(",")
admin = KafkaAdminClient(bootstrap_servers=servers)
admin.create_topics([NewTopic("grown-by-kafka-python", 1, 3)])
def partitions():
    consumer = KafkaConsumer(bootstrap_servers=servers)
    found = consumer.partitions_for_topic("grown-by-kafka-python")
    consumer.close()
    return len(found or ())
for attempt in range(50):  # Until some node's metadata has the new topic.
    if partitions() == 1:
        break
    time.sleep(0.2)
admin.create_partitions({"grown-by-kafka-python": NewPartitions(3)}, validate_only=True)
time.sleep(1)
assert partitions() == 1, f"validate_only grew the topic to {partitions()} partitions"
admin.create_partitions({"grown-by-kafka-python": NewPartitions(3)})
for attempt in range(50):
    if partitions() == 3:
        break
    time.sleep(0.2)
assert partitions() == 3, partitions()
print("  kafka-python: CreatePartitions grown-by-kafka-python 1 -> 3 (validate_only first: still 1)")
for topic, count, error in [("grown-by-kafka-python", 3, InvalidPartitionsError),
                            ("no-such-topic", 2, UnknownTopicOrPartitionError)]:
    try:
        admin.create_partitions({topic: NewPartitions(count)})
        raise AssertionError(f"CreatePartitions {topic} to {count} was accepted")
    except error as refused:
        print(f"  kafka-python: CreatePartitions {topic} to {count}: {type(refused).__name__}")
EOF
wait_until 30 "every partition of 'lines' led" topic_caught_up lines
timeout 10 kcat -b "$KAFKA" -L >"$WORK/metadata.txt" || fail "kcat -L"
sed 's/^/  /' "$WORK/metadata.txt"
for i in 1 2 3; do
  grep -q "broker $i at 127.0.0.1:${KAFKA_PORT[$i]}" "$WORK/metadata.txt" || fail "broker $i missing"
done
grep -q 'topic "lines" with 3 partitions' "$WORK/metadata.txt" || fail "topic lines missing"
grep -q 'topic "created-by-kafka-python" with 2 partitions' "$WORK/metadata.txt" ||
  fail "the topic kafka-python created is missing"
[ "$(grep -cE 'partition [012], leader [123], replicas: [123],[123],[123]' "$WORK/metadata.txt")" -ge 3 ] ||
  fail "partitions without a leader or 3 replicas"

echo "== 2. kcat -P of $RECORDS keyed lines and 3 with headers; kcat -C -e back"
seq 1 "$RECORDS" | awk '{ printf "key-%d:line %d of the kcat test\n", $1 % 997, $1 }' >"$WORK/input.txt"
t0=$(now_ms)
timeout 120 kcat -b "$KAFKA" -P -t lines -K: -l "$WORK/input.txt" 2>"$WORK/produce.err" ||
  fail "kcat -P exited $?: $(cat "$WORK/produce.err")"
echo "  $RECORDS lines produced in $(($(now_ms) - t0)) ms"
for n in 1 2 3; do
  echo "hkey-$n:header line $((RECORDS + n))" |
    timeout 30 kcat -b "$KAFKA" -P -t lines -K: -H "trace=t$n" -H "empty=" ||
    fail "kcat -P with headers"
done
kcat_consume lines "$WORK/output.txt"
got=$(wc -l <"$WORK/output.txt")
[ "$got" -eq $((RECORDS + 3)) ] || fail "consumed $got lines, want $((RECORDS + 3))"
cut -d' ' -f3- "$WORK/output.txt" | sed 's/ \[[^]]*\]$//' | sort >"$WORK/got.txt"
{ cat "$WORK/input.txt"; for n in 1 2 3; do echo "hkey-$n:header line $((RECORDS + n))"; done; } |
  sort >"$WORK/want.txt"
cmp -s "$WORK/got.txt" "$WORK/want.txt" || {
  diff "$WORK/want.txt" "$WORK/got.txt" | head -n 10 >&2
  fail "consumed lines differ from the produced ones"
}
for n in 1 2 3; do
  grep -q " hkey-$n:header line $((RECORDS + n)) \[trace=t$n,empty=\]$" "$WORK/output.txt" ||
    fail "headers of line $((RECORDS + n)) did not come back: $(grep "hkey-$n" "$WORK/output.txt")"
done
echo "  all $((RECORDS + 3)) lines came back byte for byte (3 with their headers)"
check_partition_order "$WORK/output.txt"

echo "== 2b. kafka-python (a pure-Python client): 1,000 records with headers, produced and read back"
"$PYTHON" - "$KAFKA" <<'EOF' || fail "kafka-python produce/consume"
import sys
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
servers = sys.argv[1].split(",")
producer = KafkaProducer(bootstrap_servers=servers, acks="all")
sent = [producer.send("created-by-kafka-python", key=b"k%d" % (i % 10), value=b"v%d" % i,
                      headers=[("h", b"x%d" % i)]) for i in range(1000)]
producer.flush()
placed = [f.get(timeout=30) for f in sent]
consumer = KafkaConsumer(bootstrap_servers=servers, enable_auto_commit=False,
                         consumer_timeout_ms=10000)
consumer.assign([TopicPartition("created-by-kafka-python", p) for p in range(2)])
consumer.seek_to_beginning()
got = {m.value: (m.partition, m.offset, m.headers) for m in consumer}
assert len(got) == 1000, f"consumed {len(got)} of 1000"
for i, meta in enumerate(placed):
    value = b"v%d" % i
    assert got[value] == (meta.partition, meta.offset, [("h", b"x%d" % i)]), (value, got[value])
print("  kafka-python: 1000 records back at the offsets their producer was given, headers intact")
EOF

echo "== 2c. compressed batches: kcat -z gzip|snappy|lz4|zstd, kafka-python gzip"
COMPRESSED=20000
seq 1 "$COMPRESSED" | awk '{ printf "key-%d:compressible line %d of the codec test\n", $1 % 97, $1 }' \
  >"$WORK/compressed-in.txt"
sort "$WORK/compressed-in.txt" >"$WORK/compressed-want.txt"
for topic in codec-gzip codec-snappy codec-lz4 codec-zstd codec-python-gzip; do
  cli topic create "$topic" --partitions=3 --replication-factor=3 >/dev/null || fail "topic create $topic"
  wait_until 30 "every partition of '$topic' led" topic_caught_up "$topic"
done
for codec in gzip snappy lz4 zstd; do
  # linger.ms: batches of many records, so each is compressed as a whole.
  timeout 120 kcat -b "$KAFKA" -P -t "codec-$codec" -K: -z "$codec" -X linger.ms=50 \
    -l "$WORK/compressed-in.txt" 2>"$WORK/codec.err" ||
    fail "kcat -P -z $codec exited $?: $(cat "$WORK/codec.err")"
  kcat_consume "codec-$codec" "$WORK/codec-out.txt"
  cut -d' ' -f3- "$WORK/codec-out.txt" | sed 's/ \[[^]]*\]$//' | sort >"$WORK/got.txt"
  cmp -s "$WORK/got.txt" "$WORK/compressed-want.txt" || {
    diff "$WORK/compressed-want.txt" "$WORK/got.txt" | head -n 10 >&2
    fail "$codec: consumed lines differ from the produced ones ($(wc -l <"$WORK/got.txt") lines)"
  }
  check_partition_order "$WORK/codec-out.txt"
  echo "  $codec: $COMPRESSED lines back byte for byte"
done
"$PYTHON" - "$KAFKA" <<'EOF' || fail "kafka-python gzip produce/consume"
import sys
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
servers = sys.argv[1].split(",")
producer = KafkaProducer(bootstrap_servers=servers, acks="all", compression_type="gzip",
                         linger_ms=20)
sent = [producer.send("codec-python-gzip", key=b"k%d" % (i % 10), value=b"gzip value %d" % i)
        for i in range(2000)]
producer.flush()
placed = [f.get(timeout=30) for f in sent]
consumer = KafkaConsumer(bootstrap_servers=servers, enable_auto_commit=False,
                         consumer_timeout_ms=10000)
partitions = consumer.partitions_for_topic("codec-python-gzip")
consumer.assign([TopicPartition("codec-python-gzip", p) for p in partitions])
consumer.seek_to_beginning()
got = {m.value: (m.partition, m.offset) for m in consumer}
assert len(got) == 2000, f"consumed {len(got)} of 2000"
for i, meta in enumerate(placed):
    assert got[b"gzip value %d" % i] == (meta.partition, meta.offset), i
print("  kafka-python gzip: 2000 records back at the offsets their producer was given")
EOF

echo "== 3. idempotent kcat -P across a kill -9 of partition 0's leader mid-stream"
cli topic create killed --partitions=3 --replication-factor=3 >/dev/null || fail "topic create"
wait_until 30 "every partition of 'killed' led" topic_caught_up killed
leader=$(partition_leader killed 0)
[[ "$leader" =~ ^[123]$ ]] || fail "no leader for killed/0: '$leader'"
HALF=$((RECORDS / 2))
{ head -n "$HALF" "$WORK/input.txt"; sleep 3; tail -n +"$((HALF + 1))" "$WORK/input.txt"; } |
  timeout 180 kcat -b "$KAFKA" -P -t killed -K: -X enable.idempotence=true \
    -X message.timeout.ms=120000 2>"$WORK/kill-produce.err" &
producer=$!
sleep 1.5
echo "  kill -9 node $leader (leader of killed/0) while kcat is producing"
kill_node "$leader"
wait "$producer" || fail "kcat -P across the kill exited $?: $(tail -n 5 "$WORK/kill-produce.err")"
# (librdkafka logs the lost connection; a lost record would say "Delivery failed".)
if grep -qiE "delivery failed|failed to produce" "$WORK/kill-produce.err"; then
  fail "kcat reported failed deliveries: $(grep -iE "delivery failed|failed to produce" "$WORK/kill-produce.err" | head -n 3)"
fi
kcat_consume killed "$WORK/killed.txt"
cut -d' ' -f3- "$WORK/killed.txt" | sed 's/ \[[^]]*\]$//' | sort >"$WORK/got.txt"
sort "$WORK/input.txt" >"$WORK/want.txt"
cmp -s "$WORK/got.txt" "$WORK/want.txt" || {
  diff "$WORK/want.txt" "$WORK/got.txt" | head -n 10 >&2
  fail "across the kill: consumed lines differ from the produced ones (lost or duplicated)"
}
echo "  all $RECORDS lines came back exactly once"
check_partition_order "$WORK/killed.txt"
start_node "$leader"
wait_until 60 "node $leader back" cluster_ready
wait_until 60 "every replica of 'killed' caught up" topic_caught_up killed

echo "== 4. confluent-kafka idempotent producer across a leader kill; partitioner agreement"
cli topic create idempotent --partitions=3 --replication-factor=3 >/dev/null || fail "topic create"
wait_until 30 "every partition of 'idempotent' led" topic_caught_up idempotent
leader=$(partition_leader idempotent 0)
"$PYTHON" "$PRODUCER_PY" "$KAFKA" idempotent 100000 "kill -9 ${NODE_PID[$leader]}" \
  "$WORK/kafka-keys.txt" || fail "the confluent-kafka idempotent producer test failed"
wait "${NODE_PID[$leader]}" 2>/dev/null || true
start_node "$leader"
wait_until 60 "node $leader back" cluster_ready
# Placement uses live nodes only: until the controller hears the restarted node again, an RF 3
# topic is refused (NotEnoughReplicas naming it), so creation is retried until it is placed.
create_native_keys() {
  cli topic create native-keys --partitions=3 --replication-factor=3 >/dev/null 2>&1 ||
    cli topic describe native-keys >/dev/null 2>&1
}
wait_until 30 "'native-keys' created on three live nodes" create_native_keys
wait_until 30 "every partition of 'native-keys' led" topic_caught_up native-keys
seq 0 499 | sed 's/^/key-/; s/$/,x/' | cli produce native-keys --key-separator=, 2>/dev/null ||
  fail "meridian produce"
timeout 60 kcat -b "$KAFKA" -C -t native-keys -o beginning -e -q -f '%k %p\n' | sort >"$WORK/native-keys.txt"
sort "$WORK/kafka-keys.txt" >"$WORK/kafka-keys.sorted"
[ "$(wc -l <"$WORK/native-keys.txt")" -eq 500 ] || fail "native-keys: $(wc -l <"$WORK/native-keys.txt") keys"
cmp -s "$WORK/native-keys.txt" "$WORK/kafka-keys.sorted" || {
  diff "$WORK/native-keys.txt" "$WORK/kafka-keys.sorted" | head -n 10 >&2
  fail "librdkafka's murmur2 partitioner and Meridian's place keys differently"
}
echo "  all 500 keys: librdkafka (murmur2_random) and 'meridian produce' chose the same partitions"

echo "== 5. raw protocol probes"
"$PYTHON" "$PROBE_PY" 127.0.0.1 "${KAFKA_PORT[1]}" lines || fail "raw protocol probes"
timeout 10 kcat -b "127.0.0.1:${KAFKA_PORT[1]}" -L >/dev/null || fail "node 1 died"

echo "== 6. consumer groups: confluent-kafka members through rebalances, kcat -G, kafka-python"
GROUP_RECORDS=3000
cli topic create grouped --partitions=3 --replication-factor=3 >/dev/null || fail "topic create"
wait_until 30 "every partition of 'grouped' led" topic_caught_up grouped
t0=$(now_ms)
timeout 300 "$PYTHON" "$GROUP_PY" "$KAFKA" grouped cg-confluent "$GROUP_RECORDS" \
  "$WORK/cg-committed.txt" || fail "the confluent-kafka consumer group test failed"
echo "  (the two-member group test took $(($(now_ms) - t0)) ms)"
cli group describe cg-confluent >"$WORK/cg-describe.txt" || fail "meridian group describe"
sed 's/^/  /' "$WORK/cg-describe.txt"
awk '$1 == "grouped" { print $2, $3 }' "$WORK/cg-describe.txt" | sort -n >"$WORK/cg-described.txt"
cmp -s "$WORK/cg-described.txt" "$WORK/cg-committed.txt" ||
  fail "meridian group describe and the members' committed offsets differ"
"$PYTHON" - "$KAFKA" "$WORK/cg-committed.txt" <<'EOF' || fail "kafka-python OffsetFetch of cg-confluent"
import sys
from kafka import KafkaConsumer, TopicPartition
want = dict(tuple(map(int, line.split())) for line in open(sys.argv[2]))
consumer = KafkaConsumer(bootstrap_servers=sys.argv[1].split(","), group_id="cg-confluent",
                         enable_auto_commit=False)
got = {p: consumer.committed(TopicPartition("grouped", p)) for p in want}
assert got == want, (got, want)
print(f"  kafka-python OffsetFetch of cg-confluent: {got}, as the members committed")
consumer.close(autocommit=False)
EOF
timeout 120 kcat -b "$KAFKA" -G kcat-group -X auto.offset.reset=earliest -e -q \
  -f '%p %o %s\n' grouped >"$WORK/kcat-group.txt" || fail "kcat -G exited $?"
got=$(cut -d' ' -f3 "$WORK/kcat-group.txt" | sort -u | wc -l)
[ "$got" -eq "$GROUP_RECORDS" ] || fail "kcat -G consumed $got distinct records of $GROUP_RECORDS"
echo "  kcat -G (balanced consumer, group kcat-group): all $GROUP_RECORDS records"
"$PYTHON" - "$KAFKA" "$GROUP_RECORDS" <<'EOF' || fail "kafka-python KafkaConsumer with a group_id"
import sys
from kafka import KafkaConsumer, TopicPartition
from kafka.structs import OffsetAndMetadata
servers, count = sys.argv[1].split(","), int(sys.argv[2])
options = dict(bootstrap_servers=servers, group_id="kp-group", auto_offset_reset="earliest",
               enable_auto_commit=False, session_timeout_ms=6000, heartbeat_interval_ms=500,
               consumer_timeout_ms=15000)
consumer = KafkaConsumer("grouped", **options)
values = {m.value for m in consumer}
assert len(values) == count, f"consumed {len(values)} of {count}"
consumer.commit()
partitions = [TopicPartition("grouped", p) for p in range(3)]
ends = consumer.end_offsets(partitions)
committed = {tp: consumer.committed(tp) for tp in partitions}
assert committed == ends, (committed, ends)
consumer.close(autocommit=False)
print(f"  kafka-python group kp-group: {count} records, committed the high watermarks")
again = KafkaConsumer("grouped", **dict(options, consumer_timeout_ms=8000))
rest = list(again)
assert rest == [], f"a second member of kp-group read {len(rest)} records again"
again.close(autocommit=False)
print("  kafka-python: a new member of kp-group resumed at the committed offsets (nothing left)")
manual = KafkaConsumer(bootstrap_servers=servers, group_id="kp-manual", enable_auto_commit=False)
manual.assign([partitions[0]])
manual.commit({partitions[0]: OffsetAndMetadata(5, "")})
assert manual.committed(partitions[0]) == 5, manual.committed(partitions[0])
manual.close(autocommit=False)
print("  kafka-python: assign() + commit (generation -1, no member) into empty group kp-manual")
EOF
"$PYTHON" - "$KAFKA" <<'EOF' || fail "kafka-python ListGroups"
import sys
from kafka.admin import KafkaAdminClient
admin = KafkaAdminClient(bootstrap_servers=sys.argv[1].split(","))
groups = sorted(admin.list_consumer_groups())  # ListGroups to every broker, merged.
names = [name for name, _ in groups]
want = ["cg-confluent", "kcat-group", "kp-group", "kp-manual"]
assert all(name in names for name in want) and len(names) == len(set(names)), groups
assert all(protocol == "consumer" for _, protocol in groups), groups
print(f"  kafka-python ListGroups: {names}")
EOF
"$PYTHON" - "$KAFKA" <<'EOF' || fail "kafka-python DescribeGroups"
import sys, time
from kafka import KafkaConsumer
from kafka.admin import KafkaAdminClient
servers = sys.argv[1].split(",")
admin = KafkaAdminClient(bootstrap_servers=servers)
member = KafkaConsumer("grouped", bootstrap_servers=servers, group_id="kp-describe",
                       client_id="describe-me", enable_auto_commit=False,
                       session_timeout_ms=6000, heartbeat_interval_ms=500)
for attempt in range(100):  # Until it has joined and been given its partitions.
    member.poll(timeout_ms=200)
    if member.assignment():
        break
group = admin.describe_consumer_groups(["kp-describe"])[0]
print(f"  kafka-python DescribeGroups kp-describe: {group.state}, {group.protocol_type}/"
      f"{group.protocol}, members {[(m.client_id, m.client_host) for m in group.members]}")
assert (group.error_code, group.state, group.protocol_type) == (0, "Stable", "consumer"), group
assert group.protocol == "range", group
assert len(group.members) == 1, group.members
described = group.members[0]
assert described.client_id == "describe-me" and described.client_host == "/127.0.0.1", described
assert described.member_metadata.subscription == ["grouped"], described.member_metadata
partitions = {(topic, p) for topic, ps in described.member_assignment.assignment for p in ps}
assert partitions == {("grouped", 0), ("grouped", 1), ("grouped", 2)}, described
member.close(autocommit=False)  # LeaveGroup: the group empties.
for attempt in range(50):
    group = admin.describe_consumer_groups(["kp-describe"])[0]
    if group.state == "Empty":
        break
    time.sleep(0.2)
assert group.state == "Empty" and group.members == [], group
manual, never = admin.describe_consumer_groups(["kp-manual", "never-joined"])
assert manual.state == "Empty" and never.state == "Dead", (manual, never)
print("  kafka-python DescribeGroups: kp-describe Empty after its member left; kp-manual Empty,"
      " never-joined Dead")
EOF

echo "== 6b. DeleteGroups: kafka-python and meridian group delete"
"$PYTHON" - "$KAFKA" "$CLI_BIN" --bootstrap="$BOOTSTRAP" --timeout=20 "${CLI_TLS_FLAGS[@]}" <<'EOF' ||
import subprocess, sys, time
from kafka import KafkaConsumer, TopicPartition
from kafka.admin import KafkaAdminClient
from kafka.errors import GroupIdNotFoundError, NoError, NonEmptyGroupError
servers, cli = sys.argv[1].split(","), sys.argv[2:]
admin = KafkaAdminClient(bootstrap_servers=servers)
member = KafkaConsumer("grouped", bootstrap_servers=servers, group_id="kp-delete",
                       enable_auto_commit=False, session_timeout_ms=6000,
                       heartbeat_interval_ms=500)
for attempt in range(100):  # Until it has joined and been given its partitions.
    member.poll(timeout_ms=200)
    if member.assignment():
        break
refused = admin.delete_consumer_groups(["kp-delete"])
assert refused == [("kp-delete", NonEmptyGroupError)], refused
run = subprocess.run(cli + ["group", "delete", "kp-delete"], capture_output=True, text=True)
assert run.returncode == 1 and "has live members" in run.stderr, (run.returncode, run.stderr)
print("  kafka-python DeleteGroups kp-delete with a live member: NonEmptyGroupError;"
      " meridian group delete: exit 1")
member.close(autocommit=False)  # LeaveGroup: the group empties.
for attempt in range(50):
    if admin.describe_consumer_groups(["kp-delete"])[0].state == "Empty":
        break
    time.sleep(0.2)
results = dict(admin.delete_consumer_groups(["kp-group", "kp-delete", "never-joined"]))
want = {"kp-group": NoError, "kp-delete": NoError, "never-joined": GroupIdNotFoundError}
assert results == want, results
states = [g.state for g in admin.describe_consumer_groups(["kp-group", "kp-delete"])]
assert states == ["Dead", "Dead"], states
check = KafkaConsumer(bootstrap_servers=servers, group_id="kp-group", enable_auto_commit=False)
committed = [check.committed(TopicPartition("grouped", p)) for p in range(3)]
assert committed == [None, None, None], committed
check.close(autocommit=False)
print(f"  kafka-python DeleteGroups: {sorted((g, e.__name__) for g, e in results.items())};"
      " both Dead, kp-group's offsets gone")
EOF
  fail "kafka-python DeleteGroups"
cli group delete kcat-group | grep -q "deleted group 'kcat-group'" || fail "meridian group delete"
rc=0
cli group delete kcat-group 2>"$WORK/delete.err" || rc=$?
[ "$rc" -eq 1 ] && grep -q "group 'kcat-group' does not exist" "$WORK/delete.err" ||
  fail "a second meridian group delete exited $rc: $(cat "$WORK/delete.err")"
echo "  meridian group delete kcat-group: deleted; again: exit 1, does not exist"

echo "== 6c. AlterConfigs: kafka-python, confluent-kafka; IncrementalAlterConfigs (raw, kafka-python)"
"$PYTHON" - "$KAFKA" <<'EOF' || fail "AlterConfigs / IncrementalAlterConfigs"
import sys, time
from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient, ConfigResource as CfResource
from kafka.admin import ConfigResource, ConfigResourceType, KafkaAdminClient
from kafka.protocol.api import Request, Response
from kafka.protocol.types import Array, Boolean, Int8, Int16, Int32, Schema, String
servers, topic = sys.argv[1].split(","), "created-by-kafka-python"
admin = KafkaAdminClient(bootstrap_servers=servers)

def configs():  # name -> (value, read_only), from whichever node answers.
    result = admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic)])
    resource = result[0].resources[0]
    assert resource[0] == 0, resource
    return {entry[0]: (entry[1], entry[2]) for entry in resource[4]}

def wait_for(want):  # Every node's metadata follows the controller a moment later.
    for attempt in range(50):
        got = {name: configs()[name][0] for name in want}
        if got == want:
            return
        time.sleep(0.2)
    raise AssertionError(f"configs {got}, want {want}")

before = configs()
assert before["retention.ms"] == ("3600000", False), before
assert before["cleanup.policy"] == ("delete", True), before
# kafka-python's AlterConfigs (v1) sets the whole set: retention.bytes goes back to -1.
response = admin.alter_configs(
    [ConfigResource(ConfigResourceType.TOPIC, topic, configs={"retention.ms": "7200000"})])
assert [r[0] for r in response.resources] == [0], response
wait_for({"retention.ms": "7200000", "retention.bytes": "-1"})
refused = admin.alter_configs([
    ConfigResource(ConfigResourceType.TOPIC, topic, configs={"segment.bytes": "1"}),
    ConfigResource(ConfigResourceType.TOPIC, "no-such-topic", configs={"retention.ms": "1"}),
    ConfigResource(ConfigResourceType.BROKER, "1", configs={"log.retention.ms": "1"})])
assert [r[0] for r in refused.resources] == [40, 3, 42], refused
print("  kafka-python AlterConfigs: retention.ms 7200000 (retention.bytes back to -1);"
      " unknown config 40, unknown topic 3, a broker 42")

cf = AdminClient({"bootstrap.servers": sys.argv[1]})
for future in cf.alter_configs(
        [CfResource("TOPIC", topic, set_config={"retention.bytes": "1048576"})]).values():
    future.result(timeout=30)
wait_for({"retention.bytes": "1048576", "retention.ms": "-1"})
for resource in [CfResource("TOPIC", topic, set_config={"cleanup.policy": "compact"}),
                 CfResource("BROKER", "1", set_config={"log.retention.ms": "1"})]:
    for future in cf.alter_configs([resource]).values():
        try:
            future.result(timeout=30)
            raise AssertionError(f"{resource} was altered")
        except KafkaException as refusal:
            assert refusal.args[0].code() == KafkaError.INVALID_REQUEST, refusal
print("  confluent-kafka AlterConfigs: retention.bytes 1048576 (retention.ms back to -1);"
      " cleanup.policy and a broker refused with INVALID_REQUEST")

# No client here speaks IncrementalAlterConfigs (librdkafka has it from 2.2, kafka-python
# 2.0.2 not at all): the request is written with kafka-python's protocol classes and sent on
# its admin client's connection.
class IncrementalAlterConfigsResponse_v0(Response):
    API_KEY, API_VERSION = 44, 0
    SCHEMA = Schema(("throttle_time_ms", Int32), ("responses", Array(
        ("error_code", Int16), ("error_message", String("utf-8")), ("resource_type", Int8),
        ("resource_name", String("utf-8")))))

class IncrementalAlterConfigsRequest_v0(Request):
    API_KEY, API_VERSION, RESPONSE_TYPE = 44, 0, IncrementalAlterConfigsResponse_v0
    SCHEMA = Schema(("resources", Array(
        ("resource_type", Int8), ("resource_name", String("utf-8")),
        ("configs", Array(("name", String("utf-8")), ("config_operation", Int8),
                          ("value", String("utf-8")))))), ("validate_only", Boolean))

def incremental(entries):  # [(name, operation: 0 SET, 1 DELETE, 2 APPEND, value)] -> codes
    request = IncrementalAlterConfigsRequest_v0(resources=[(2, topic, entries)],
                                                validate_only=False)
    future = admin._send_request_to_node(admin._client.least_loaded_node(), request)
    admin._wait_for_futures([future])
    return [r[0] for r in future.value.responses]

assert incremental([("retention.ms", 0, "60000")]) == [0]
wait_for({"retention.ms": "60000", "retention.bytes": "1048576"})
assert incremental([("retention.bytes", 1, None)]) == [0]
wait_for({"retention.ms": "60000", "retention.bytes": "-1"})
assert incremental([("retention.ms", 2, "5")]) == [40]
print("  IncrementalAlterConfigs: SET retention.ms kept retention.bytes; DELETE retention.bytes"
      " back to -1; APPEND refused (40)")
EOF
cli topic alter created-by-kafka-python --retention-ms=0 >/dev/null || fail "meridian topic alter"
cli topic describe created-by-kafka-python | grep -q "retention unlimited, unlimited" ||
  fail "meridian topic alter: $(cli topic describe created-by-kafka-python | head -n 1)"
echo "  meridian topic alter --retention-ms=0: what kafka-python set is back to unlimited"

echo "== 7. reads near the client: client.rack (KIP-392) and meridian consume --region"
follower_bytes() {
  curl -sf "http://127.0.0.1:${METRICS_PORT[$1]}/metrics" |
    awk '$1 == "meridian_fetch_follower_bytes_total" { print $2 }'
}
cli topic create near --partitions=1 --replication-factor=3 >/dev/null || fail "topic create near"
near_caught_up() {
  cli cluster status 2>/dev/null | awk '
    $1 == "near" { rows++; if ($3 == "-" || $0 ~ /unreachable/ || gsub(/\(lag 0\)/, "") != 3) bad++ }
    END { exit !(rows == 1 && bad == 0) }'
}
wait_until 30 "partition near/0 led, replicas caught up" near_caught_up
seq 1 2000 | sed 's/^/near line /' | timeout 60 kcat -b "$KAFKA" -P -t near || fail "kcat -P near"
wait_until 30 "near's replicas caught up" near_caught_up
LEADER=$(partition_leader near 0)
NEAR=$((LEADER % 3 + 1))
before=$(follower_bytes "$NEAR")
timeout 120 kcat -b "$KAFKA" -C -t near -o beginning -e -q -X client.rack="r$NEAR" \
  -X fetch.wait.max.ms=100 >"$WORK/near-kcat.txt" || fail "kcat -C with client.rack exited $?"
got=$(wc -l <"$WORK/near-kcat.txt")
[ "$got" -eq 2000 ] || fail "kcat with client.rack=r$NEAR read $got of 2000 lines"
after=$(follower_bytes "$NEAR")
echo "  kcat client.rack=r$NEAR (leader node $LEADER): 2000 lines; node $NEAR's" \
  "meridian_fetch_follower_bytes_total $before -> $after"
[ "${after%.*}" -gt "${before%.*}" ] || fail "node $NEAR (a follower in r$NEAR) served nothing"
before=$after
cli consume near --from-beginning --region="r$NEAR" >"$WORK/near-cli.txt" ||
  fail "meridian consume --region exited $?"
cmp -s "$WORK/near-cli.txt" "$WORK/near-kcat.txt" || fail "consume --region read other lines"
after=$(follower_bytes "$NEAR")
echo "  meridian consume --region=r$NEAR: the same 2000 lines; node $NEAR's follower bytes" \
  "$before -> $after"
[ "${after%.*}" -gt "${before%.*}" ] || fail "consume --region: node $NEAR served nothing"

echo "PASS: kcat, kafka-python and confluent-kafka against Meridian's Kafka listener"

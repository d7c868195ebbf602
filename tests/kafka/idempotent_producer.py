"""An idempotent librdkafka producer (python3-confluent-kafka) against Meridian's Kafka listener,
across a leader kill, then everything consumed back and checked.

Usage: idempotent_producer.py BOOTSTRAP TOPIC COUNT KILL_COMMAND OUT_PARTITIONS_FILE

Produces COUNT keyed records (key "key-<i % 500>", value "value-<i>") with
enable.idempotence=True and the murmur2 partitioner (Kafka's Java default, and Meridian's
own); after half of them are handed to the producer (not flushed: batches are in flight) it
runs KILL_COMMAND (the caller's kill -9 of a partition leader). Then it flushes and consumes
each partition from the beginning (assign(), no group: Meridian has no consumer groups yet) up
to its high watermark, and checks that every acknowledged record is there exactly once and in
produce order within its partition. Writes "key partition" lines for every acknowledged record
to OUT_PARTITIONS_FILE (the caller compares them with Meridian's own partitioner).
Exit 0 on success; 1 with a reason on stderr otherwise.
"""
import subprocess
import sys
import time

from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition


def fail(why):
    print(f"FAIL: {why}", file=sys.stderr)
    sys.exit(1)


def produce(bootstrap, topic, count, kill_command):
    acked, failed = {}, []

    def delivered(err, msg):
        if err is not None:
            failed.append((msg.value().decode(), str(err)))
            return
        acked[msg.value().decode()] = (msg.partition(), msg.offset(), msg.key().decode())

    producer = Producer({
        "bootstrap.servers": bootstrap,
        "enable.idempotence": True,
        "partitioner": "murmur2_random",
        "linger.ms": 5,
        "message.timeout.ms": 120000,
    })
    started = time.monotonic()
    for i in range(count):
        while True:
            try:
                producer.produce(topic, key=f"key-{i % 500}", value=f"value-{i}",
                                 on_delivery=delivered)
                break
            except BufferError:
                producer.poll(0.05)
        producer.poll(0)
        if i == count // 2:
            print(f"  {i} records handed to the producer; running: {kill_command}", flush=True)
            subprocess.run(kill_command, shell=True, check=True)
    remaining = producer.flush(150)
    elapsed = time.monotonic() - started
    if remaining != 0:
        fail(f"{remaining} records still undelivered after flush")
    print(f"  produced: {len(acked)} acknowledged, {len(failed)} failed, {elapsed:.1f} s", flush=True)
    for value, why in failed[:5]:
        print(f"  failed: {value}: {why}", file=sys.stderr)
    if failed:
        fail(f"{len(failed)} records failed delivery (an idempotent producer retries them)")
    return acked


def consume(bootstrap, topic, partitions):
    consumer = Consumer({
        "bootstrap.servers": bootstrap,
        "group.id": "unused-no-groups",  # Required by the client; assign() needs no group.
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
    })
    ends = {}
    for p in partitions:
        low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=30)
        ends[p] = high
    consumer.assign([TopicPartition(topic, p, 0) for p in partitions])
    got = {p: [] for p in partitions}
    deadline = time.monotonic() + 120
    while any(len(got[p]) < ends[p] for p in partitions):
        if time.monotonic() > deadline:
            fail(f"consumed {[len(got[p]) for p in partitions]}, high watermarks {ends}")
        msg = consumer.poll(1.0)
        if msg is None:
            continue
        if msg.error():
            if msg.error().code() == KafkaError._PARTITION_EOF:
                continue
            fail(f"consume error: {msg.error()}")
        if msg.offset() != len(got[msg.partition()]):
            fail(f"partition {msg.partition()}: offset {msg.offset()} where "
                 f"{len(got[msg.partition()])} was due")
        got[msg.partition()].append(msg.value().decode())
    consumer.close()
    return got


def check(acked, got):
    seen = {}
    for p, values in got.items():
        for offset, value in enumerate(values):
            if value in seen:
                fail(f"{value} is in the log twice: {seen[value]} and {(p, offset)}")
            seen[value] = (p, offset)
    for value, (p, offset, key) in acked.items():
        if seen.get(value) != (p, offset):
            fail(f"acknowledged {value} at {p}/{offset}, the log has it at {seen.get(value)}")
    for p, values in got.items():
        numbers = [int(v.split("-")[1]) for v in values]
        if numbers != sorted(numbers):
            fail(f"partition {p}: records out of produce order")
    print(f"  consumed: {sum(len(v) for v in got.values())} records, every acknowledged one "
          f"exactly once, in produce order per partition "
          f"({', '.join(f'p{p}: {len(v)}' for p, v in sorted(got.items()))})", flush=True)


def main():
    bootstrap, topic, count, kill_command, out = sys.argv[1:6]
    acked = produce(bootstrap, topic, int(count), kill_command)
    partitions = sorted({p for p, _, _ in acked.values()})
    if len(partitions) < 2:
        fail(f"records went to partitions {partitions} only")
    check(acked, consume(bootstrap, topic, partitions))
    with open(out, "w") as f:
        for key, p in sorted({(key, p) for p, _, key in acked.values()}):
            f.write(f"{key} {p}\n")


if __name__ == "__main__":
    main()

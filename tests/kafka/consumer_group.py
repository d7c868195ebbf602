"""A consumer group of two librdkafka members (python3-confluent-kafka) against Meridian's Kafka
listener, through a rebalance in each direction.

Usage: consumer_group.py BOOTSTRAP TOPIC GROUP COUNT OUT_COMMITTED_FILE

Produces COUNT/2 records (values "rec-<i>") to TOPIC, then:
  1. member 1 subscribes alone: it gets every partition and consumes those records, committing;
  2. member 2 subscribes: a rebalance splits the partitions between them (each gets some, none
     is owned by both at any time either member can see);
  3. the other COUNT/2 records are produced, and both consume until every record has been seen
     by the group (at least once; each member sees some), committing;
  4. member 2 closes (LeaveGroup): member 1 gets every partition back;
  5. member 1 commits its final positions, which must be every partition's high watermark.
Writes "partition offset" lines (the committed offsets as the group's members read them back)
to OUT_COMMITTED_FILE. Exit 0 on success; 1 with a reason on stderr otherwise.
"""
import sys
import time

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition


def fail(why):
    print(f"FAIL: {why}", file=sys.stderr)
    sys.exit(1)


class Member:
    def __init__(self, name, bootstrap, topic, group):
        self.name, self.assigned, self.seen = name, set(), {}
        self.rebalances = 0
        self.consumer = Consumer({
            "bootstrap.servers": bootstrap,
            "group.id": group,
            "client.id": name,
            "session.timeout.ms": 6000,
            "heartbeat.interval.ms": 300,
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            "partition.assignment.strategy": "range",
        })
        self.consumer.subscribe([topic], on_assign=self.on_assign, on_revoke=self.on_revoke)

    def on_assign(self, consumer, partitions):
        self.assigned = {p.partition for p in partitions}
        self.rebalances += 1
        print(f"  {self.name}: assigned {sorted(self.assigned)}", flush=True)

    def on_revoke(self, consumer, partitions):
        self.commit()  # Before the partitions move: the next owner starts here.
        self.assigned = set()

    def poll(self, budget_s=0.2):
        deadline = time.monotonic() + budget_s
        while time.monotonic() < deadline:
            msg = self.consumer.poll(0.05)
            if msg is None:
                continue
            if msg.error():
                if msg.error().code() != KafkaError._PARTITION_EOF:
                    print(f"  {self.name}: {msg.error()}", flush=True)
                continue
            if msg.partition() not in self.assigned:
                fail(f"{self.name} got a record of partition {msg.partition()} it does not own")
            self.seen[msg.value().decode()] = (msg.partition(), msg.offset())

    def commit(self):
        try:
            self.consumer.commit(asynchronous=False)
        except KafkaException as e:
            # Nothing consumed yet, or a rebalance under way: the next commit covers it.
            if e.args[0].code() not in (KafkaError._NO_OFFSET, KafkaError.REBALANCE_IN_PROGRESS,
                                        KafkaError.ILLEGAL_GENERATION,
                                        KafkaError.UNKNOWN_MEMBER_ID):
                raise


def produce(bootstrap, topic, first, end):
    producer = Producer({"bootstrap.servers": bootstrap, "partitioner": "murmur2_random"})
    for i in range(first, end):
        producer.produce(topic, key=f"k{i}", value=f"rec-{i}")
        producer.poll(0)
    if producer.flush(60) != 0:
        fail("records left undelivered")


def poll_until(members, condition, what, timeout_s=90):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for m in members:
            m.poll()
        owners = [m.assigned for m in members]
        for a in range(len(owners)):
            for b in range(a + 1, len(owners)):
                if owners[a] & owners[b]:
                    fail(f"partitions {owners[a] & owners[b]} owned by two members at once")
        if condition():
            return
    fail(f"timed out waiting for: {what}")


def main():
    bootstrap, topic, group, count, out = sys.argv[1:6]
    count = int(count)
    produce(bootstrap, topic, 0, count // 2)
    probe = Consumer({"bootstrap.servers": bootstrap, "group.id": "unused"})
    partitions = sorted(probe.list_topics(topic, timeout=30).topics[topic].partitions)
    everything = set(partitions)
    one = Member("member-1", bootstrap, topic, group)
    poll_until([one], lambda: one.assigned == everything and len(one.seen) == count // 2,
               "member 1 owning every partition and consuming the first half")
    one.commit()
    print(f"  member-1 alone: {len(one.seen)} records", flush=True)
    two = Member("member-2", bootstrap, topic, group)
    poll_until([one, two], lambda: one.assigned and two.assigned and
               one.assigned | two.assigned == everything, "the partitions split between the two")
    split = (sorted(one.assigned), sorted(two.assigned))
    print(f"  after the rebalance: member-1 {split[0]}, member-2 {split[1]}", flush=True)
    produce(bootstrap, topic, count // 2, count)
    ends = {p: probe.get_watermark_offsets(TopicPartition(topic, p), timeout=30)[1]
            for p in partitions}
    probe.close()
    seen = lambda: set(one.seen) | set(two.seen)
    poll_until([one, two], lambda: len(seen()) == count, "every record consumed by the group")
    one.commit()
    two.commit()
    two.consumer.close()  # LeaveGroup: member 1 takes everything back.
    poll_until([one], lambda: one.assigned == everything, "member 1 owning every partition again")
    one.poll(1.0)
    one.commit()
    committed = one.consumer.committed([TopicPartition(topic, p) for p in partitions], timeout=30)
    one.consumer.close()
    got = {tp.partition: tp.offset for tp in committed}
    if got != ends:
        fail(f"committed {got}, want the high watermarks {ends}")
    if len(seen()) != count:
        fail(f"the group consumed {len(seen())} distinct records of {count}")
    if not two.seen:
        fail("member 2 consumed nothing")
    with open(out, "w") as f:
        for p in partitions:
            f.write(f"{p} {got[p]}\n")
    print(f"  every one of {count} records consumed by the group (member-1 {len(one.seen)}, "
          f"member-2 {len(two.seen)}); committed {got} (assignments seen: member-1 "
          f"{one.rebalances}, member-2 {two.rebalances})", flush=True)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Hostile input against live meridian-node processes (issue 10 item 6), one class at a time,
for hostile_input_test.sh. Each class opens its own connections to every node given, sends its
bytes, and waits briefly for the node to answer or close (never for ever). Prints one line per
class: "class NAME: N connections, closed by the node: C".

Classes on the native client port: random bytes; a frame with a bad CRC32C; a 4 GiB length
prefix; a frame declared at 5 MiB and cut off after 100 bytes; frames with a valid CRC and
random FlatBuffers bytes; a frame with a valid CRC and a random payload of the longest
allowed length. On the Kafka port: random bytes; a size prefix of 2^31-1; a valid size and
random request bytes. On the peer port, after a hello claiming a member (plaintext cluster):
random bytes; a bad CRC; a 4 GiB length; frames with a valid CRC and random envelopes; and a
hello claiming a non-member. Plus a flood: FLOOD connections held open on each client port
for the whole run (the honest client must still be served beside them).

Usage: hostile_input.py --client=PORT,... --kafka=PORT,... --peer=PORT,... --members=1,2,3
       [--flood=N] [--rounds=N] [--seed=N]
"""
import argparse
import os
import random
import socket
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hostile_peer import frame  # noqa: E402  (io/frame.h framing, CRC32C)

CLIENT_FRAME_MAX = (5 << 20) + (64 << 10)  # wire::kClientMessageBytesMax


def send_and_watch(port, data, wait=0.3):
    """Sends `data` on a new connection and reports whether the node closed it within `wait`."""
    try:
        sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    except OSError:
        return None  # Refused (a bound, or a restart): not a crash; the test checks liveness.
    closed = False
    try:
        sock.sendall(data)
        sock.settimeout(wait)
        try:
            while True:
                chunk = sock.recv(65536)
                if not chunk:
                    closed = True
                    break
        except socket.timeout:
            pass
    except OSError:
        closed = True  # Reset by the node.
    sock.close()
    return closed


def client_classes(rng):
    yield "client: random bytes", rng.randbytes(1024)
    bad = rng.randbytes(64)
    yield "client: bad CRC", struct.pack("<II", len(bad), 0xDEADBEEF) + bad
    yield "client: 4 GiB length", struct.pack("<II", 0xFFFFFFFF, 0) + rng.randbytes(64)
    yield "client: truncated 5 MiB frame", struct.pack("<II", 5 << 20, 0) + rng.randbytes(100)
    yield "client: garbage FlatBuffers", b"".join(
        frame(rng.randbytes(rng.randint(1, 512))) for _ in range(8))
    yield "client: largest frame of garbage", frame(rng.randbytes(CLIENT_FRAME_MAX))


def kafka_classes(rng):
    yield "kafka: random bytes", rng.randbytes(1024)
    yield "kafka: 2 GiB size", struct.pack(">i", 0x7FFFFFFF) + rng.randbytes(64)
    body = rng.randbytes(200)
    yield "kafka: garbage request", struct.pack(">i", len(body)) + body


def peer_classes(rng, member, stranger):
    hello = frame(struct.pack("<I", member))
    yield "peer: random bytes after a member's hello", hello + rng.randbytes(1024)
    bad = rng.randbytes(64)
    yield "peer: bad CRC", hello + struct.pack("<II", len(bad), 0xDEADBEEF) + bad
    yield "peer: 4 GiB length", hello + struct.pack("<II", 0xFFFFFFFF, 0)
    yield "peer: garbage envelopes", hello + b"".join(
        frame(rng.randbytes(rng.randint(1, 2048))) for _ in range(32))
    yield "peer: a non-member's hello", frame(struct.pack("<I", stranger)) + frame(b"forged")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--client", required=True)
    parser.add_argument("--kafka", default="")
    parser.add_argument("--peer", required=True)
    parser.add_argument("--members", required=True)
    parser.add_argument("--flood", type=int, default=0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    ports = lambda text: [int(p) for p in text.split(",") if p]  # noqa: E731
    clients, kafkas, peers = ports(args.client), ports(args.kafka), ports(args.peer)
    members = [int(m) for m in args.members.split(",")]
    rng = random.Random(args.seed)
    held = []
    for port in clients:
        for _ in range(args.flood):
            try:
                held.append(socket.create_connection(("127.0.0.1", port), timeout=5))
            except OSError:
                break
    print(f"flood: {len(held)} connections held open", flush=True)
    for _ in range(args.rounds):
        attacks = []
        for port in clients:
            attacks += [(name, port, data) for name, data in client_classes(rng)]
        for port in kafkas:
            attacks += [(name, port, data) for name, data in kafka_classes(rng)]
        for index, port in enumerate(peers):
            # Claim a member other than the node listening there (its own id is refused anyway).
            member = members[(index + 1) % len(members)]
            attacks += [(name, port, data)
                        for name, data in peer_classes(rng, member, max(members) + 50)]
        for name, port, data in attacks:
            closed = send_and_watch(port, data)
            print(f"class {name} -> port {port}: closed by the node: {closed}", flush=True)
            time.sleep(0.05)
    for sock in held:
        sock.close()


if __name__ == "__main__":
    main()

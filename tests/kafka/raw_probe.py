"""Raw Kafka protocol probes against one Meridian Kafka listener (no client library between us
and the bytes): the answers a client library would hide.

Usage: raw_probe.py HOST PORT TOPIC

1. ApiVersions v3 (a flexible version, as librdkafka 2.0 sends first): UNSUPPORTED_VERSION (35)
   in a v0 body listing the served ranges, with Produce among them (KIP-511).
2. Hostile group requests get the protocol's errors and the connection stays open: a
   transaction coordinator asked for (15), a JoinGroup offering no protocol (23), an empty group
   id (24); at the coordinator FindCoordinator names: a protocol type other than "consumer"
   (23), ConsumerProtocol metadata that does not parse (42), an unknown member's heartbeat (25),
   and an OffsetFetch of a group nobody committed to (offset -1).
3. A batch of codec 5 (no codec Kafka defines) in a Produce: UNSUPPORTED_COMPRESSION_TYPE (76);
   a gzip batch whose records are not gzip: CORRUPT_MESSAGE (2).
4. A frame that claims 2 GiB: the connection is closed; a new connection is served.
Exit 0 if all hold; 1 with the reason otherwise.
"""
import socket
import struct
import sys
import time


def fail(why):
    print(f"FAIL: {why}", file=sys.stderr)
    sys.exit(1)


def request(sock, key, version, correlation, body=b""):
    header = struct.pack(">hhih", key, version, correlation, 5) + b"probe"
    if version >= 3 and key == 18:
        header += b"\x00"  # Header v2: no tagged fields.
        body = b"\x06probe\x021\x00"  # compact client software name and version, no tags.
    payload = header + body
    sock.sendall(struct.pack(">i", len(payload)) + payload)
    size = struct.unpack(">i", recv_exactly(sock, 4))[0]
    response = recv_exactly(sock, size)
    got = struct.unpack(">i", response[:4])[0]
    if got != correlation:
        fail(f"api {key}: correlation id {got}, want {correlation}")
    return response[4:]


def recv_exactly(sock, n):
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            fail(f"connection closed after {len(data)} of {n} bytes")
        data += chunk
    return data


def crc32c(data):
    """CRC32C (Castagnoli, reflected polynomial 0x82F63B78), bit by bit: slow and obviously so."""
    crc = 0xFFFFFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


def string(s):
    return struct.pack(">h", len(s)) + s.encode()


def check_api_versions(sock):
    body = request(sock, 18, 3, 1)
    error, count = struct.unpack(">hi", body[:6])
    if error != 35:
        fail(f"ApiVersions v3: error {error}, want 35 (UNSUPPORTED_VERSION)")
    ranges = {}
    for i in range(count):
        key, low, high = struct.unpack(">hhh", body[6 + 6 * i:12 + 6 * i])
        ranges[key] = (low, high)
    if ranges.get(18) != (0, 2) or 0 not in ranges or 1 not in ranges:
        fail(f"ApiVersions ranges: {ranges}")
    body = request(sock, 18, 2, 2)
    if struct.unpack(">h", body[:2])[0] != 0:
        fail("ApiVersions v2 failed")
    print(f"  ApiVersions v3 -> error 35 with {count} ranges; v2 -> ok")


def join_v0(group, protocol_type, protocols):
    body = string(group) + struct.pack(">i", 10000) + string("") + string(protocol_type)
    body += struct.pack(">i", len(protocols))
    for name, metadata in protocols:
        body += string(name) + struct.pack(">i", len(metadata)) + metadata
    return body


def expect_error(sock, name, key, version, correlation, body, want, error_at=0):
    response = request(sock, key, version, correlation, body)
    at = len(response) - 2 if error_at is None else error_at
    error = struct.unpack(">h", response[at:at + 2])[0]
    if error != want:
        fail(f"{name}: error {error}, want {want}")
    print(f"  {name} -> error {error}, connection open")
    return response


def check_group_apis(sock):
    expect_error(sock, "FindCoordinator v2 for a transaction", 10, 2, 10,
                 string("tx") + b"\x01", 15, 4)
    expect_error(sock, "JoinGroup v0 without protocols", 11, 0, 11, join_v0("g", "consumer", []),
                 23)
    expect_error(sock, "Heartbeat v0 of group ''", 12, 0, 12,
                 string("") + struct.pack(">i", 1) + string("m"), 24)
    for attempt in range(100):  # The first FindCoordinator creates __consumer_offsets.
        found = request(sock, 10, 0, 13, string("probe-group"))
        error, node = struct.unpack(">hi", found[:6])
        if error == 0:
            break
        time.sleep(0.2)
    else:
        fail(f"FindCoordinator v0: error {error}")
    host_length = struct.unpack(">h", found[6:8])[0]
    host = found[8:8 + host_length].decode()
    port = struct.unpack(">i", found[8 + host_length:12 + host_length])[0]
    print(f"  FindCoordinator v0 -> node {node} at {host}:{port}")
    with socket.create_connection((host, port), timeout=30) as coordinator:
        expect_error(coordinator, "JoinGroup v0 of protocol type 'connect'", 11, 0, 14,
                     join_v0("probe-group", "connect", [("range", b"")]), 23)
        expect_error(coordinator, "JoinGroup v0 with garbage subscription bytes", 11, 0, 15,
                     join_v0("probe-group", "consumer", [("range", b"\x00\x00\x7f\xff")]), 42)
        expect_error(coordinator, "Heartbeat v0 of an unknown member", 12, 0, 16,
                     string("probe-group") + struct.pack(">i", 1) + string("nobody"), 25)
        fetched = expect_error(coordinator, "OffsetFetch v2 of a group without commits", 9, 2, 17,
                               string("probe-group") + struct.pack(">i", 1) + string("t") +
                               struct.pack(">ii", 1, 0), 0, None)
        if struct.unpack(">q", fetched[4 + 2 + 1 + 4 + 4:4 + 2 + 1 + 4 + 4 + 8])[0] != -1:
            fail("OffsetFetch: a partition without a commit must answer offset -1")


def produce_error(sock, topic, batch, correlation_id):
    body = (struct.pack(">h", -1) + struct.pack(">hi", -1, 10000) + struct.pack(">i", 1) +
            string(topic) + struct.pack(">ii", 1, 0) + struct.pack(">i", len(batch)) + batch)
    response = request(sock, 0, 7, correlation_id, bytes(body))
    # responses[1]: topic, partitions[1]: index, error.
    offset = 4 + 2 + len(topic) + 4 + 4
    return struct.unpack(">h", response[offset:offset + 2])[0]


def check_compressed_batch(sock, topic):
    # Batches with a valid CRC32C (checked before the attributes) whose attributes name codec 5
    # (no codec Kafka defines) and gzip over bytes that are not gzip.
    for codec, want, name in ((5, 76, "UNSUPPORTED_COMPRESSION_TYPE"),
                              (1, 2, "CORRUPT_MESSAGE")):
        batch = bytearray(61 + 8)
        struct.pack_into(">qii", batch, 0, 0, len(batch) - 12, -1)
        batch[16] = 2
        struct.pack_into(">h", batch, 21, codec)
        struct.pack_into(">i", batch, 57, 1)  # One record.
        struct.pack_into(">I", batch, 17, crc32c(bytes(batch[21:])))
        error = produce_error(sock, topic, batch, 30 + codec)
        if error != want:
            fail(f"codec {codec} batch: error {error}, want {want} ({name})")
        print(f"  Produce of a codec {codec} batch of zeros -> error {want} ({name})")


def main():
    host, port, topic = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    with socket.create_connection((host, port), timeout=20) as sock:
        check_api_versions(sock)
        check_group_apis(sock)
        check_compressed_batch(sock, topic)
    with socket.create_connection((host, port), timeout=20) as sock:
        sock.sendall(struct.pack(">i", 0x7fffffff) + b"\x00" * 64)
        try:
            answered = sock.recv(1)
        except ConnectionResetError:
            answered = b""
        if answered != b"":
            fail("a 2 GiB frame was answered instead of closing the connection")
    print("  a frame claiming 2 GiB -> connection closed")
    with socket.create_connection((host, port), timeout=20) as sock:
        check_api_versions(sock)
    print("  a new connection is served")


if __name__ == "__main__":
    main()

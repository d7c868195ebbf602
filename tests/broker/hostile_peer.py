#!/usr/bin/env python3
"""A hostile peer: dials a meridian-node peer port and sends a hello claiming a node id, then a
forged message (opaque bytes standing in for a raft Append/Heartbeat envelope), in io/frame.h
frames ([u32 length][u32 CRC32C][payload], little-endian). With --cert/--key/--ca it speaks TLS
first (presenting that certificate; it does not check the server's, as an attacker would not).

Usage: hostile_peer.py PORT CLAIMED_ID CLUSTER_ID [--tls [--cert F --key F]]
Exits 0 whatever the node does with it: the test judges by the node's metrics and log.
"""
import socket
import ssl
import struct
import sys
import time


def _crc32c_table():
    table = []
    for i in range(256):
        crc = i
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
        table.append(crc)
    return table


_TABLE = _crc32c_table()


def crc32c(data):
    crc = 0xFFFFFFFF
    for byte in data:
        crc = (crc >> 8) ^ _TABLE[(crc ^ byte) & 0xFF]
    return crc ^ 0xFFFFFFFF


def frame(payload):
    return struct.pack("<II", len(payload), crc32c(payload)) + payload


def main():
    port, claimed, cluster = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    args = sys.argv[4:]
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    if "--tls" in args:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        if "--cert" in args:
            context.load_cert_chain(args[args.index("--cert") + 1],
                                    args[args.index("--key") + 1])
        try:
            sock = context.wrap_socket(sock)
        except (ssl.SSLError, OSError) as error:
            print(f"hostile_peer: handshake failed on our side: {error}")
            return
    hello = struct.pack("<I", claimed) + cluster.encode()
    forged = b"forged AppendEntries term=999 leader=n%d" % claimed
    try:
        sock.sendall(frame(hello) + frame(forged))
        time.sleep(0.5)
        sock.recv(1)  # Waits for the node to close the connection (or the timeout).
    except (ssl.SSLError, OSError) as error:
        print(f"hostile_peer: connection ended: {error}")
    sock.close()


if __name__ == "__main__":
    main()

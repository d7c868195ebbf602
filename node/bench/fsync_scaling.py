#!/usr/bin/env python3
"""Per-partition logs or one node-wide log? How fdatasync behaves for N partitions each
appending BYTES per replication round, laid out both ways (core/broker/README.md "One log per
partition").

- per-partition: N files, one thread each, pwrite BYTES + fdatasync in a loop (what a node
  does today: each partition group syncs its own log, up to 16 syncs at once on the runtime's
  helper threads);
- node-wide: one file, one thread, pwrite N*BYTES + fdatasync in a loop (a shared write-ahead
  log, as TiKV's raft-engine: one write and one sync per round for every partition);
- syncfs: N files, one thread, pwrite BYTES to each, then one syncfs(2) for all of them (the
  cheapest change that also gives one sync per round: keep the per-partition files, sync the
  filesystem; it also flushes whatever else is dirty on that filesystem).

For each N it prints rounds per second each partition gets (its batches/s) and the MB/s the
disk took, both ways, and the ratio. Usage: fsync_scaling.py DIR [SECONDS] [BYTES] [COUNTS...]"""
import ctypes, os, sys, threading, time

LIBC = ctypes.CDLL("libc.so.6", use_errno=True)

def run(directory, files, seconds, size):
    """Each of `files` threads appends `size` bytes per fdatasync to its own file."""
    paths = [os.path.join(directory, f"fsync-scaling-{i}") for i in range(files)]
    counts = [0] * files
    stop = time.monotonic() + seconds
    block = os.urandom(size)
    def worker(i):
        fd = os.open(paths[i], os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o644)
        offset = 0
        while time.monotonic() < stop:
            os.pwrite(fd, block, offset)
            os.fdatasync(fd)
            offset += size
            counts[i] += 1
        os.close(fd)
    threads = [threading.Thread(target=worker, args=(i,)) for i in range(files)]
    start = time.monotonic()
    for t in threads: t.start()
    for t in threads: t.join()
    elapsed = time.monotonic() - start
    for p in paths: os.unlink(p)
    return counts, elapsed

def run_syncfs(directory, files, seconds, size):
    """One thread writes `size` bytes to each of `files` files per round, then one syncfs."""
    paths = [os.path.join(directory, f"fsync-scaling-syncfs-{i}") for i in range(files)]
    fds = [os.open(p, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o644) for p in paths]
    directory_fd = os.open(directory, os.O_RDONLY)
    block = os.urandom(size)
    rounds, offset = 0, 0
    start = time.monotonic()
    while time.monotonic() < start + seconds:
        for fd in fds:
            os.pwrite(fd, block, offset)
        if LIBC.syncfs(directory_fd) != 0:
            raise OSError(ctypes.get_errno(), "syncfs")
        offset += size
        rounds += 1
    elapsed = time.monotonic() - start
    for fd in fds + [directory_fd]: os.close(fd)
    for p in paths: os.unlink(p)
    return rounds / elapsed

if __name__ == "__main__":
    directory = sys.argv[1]
    seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 3
    size = int(sys.argv[3]) if len(sys.argv) > 3 else 4096
    counts = [int(c) for c in sys.argv[4:]] or [1, 4, 16, 64, 256]
    print(f"{size} bytes per partition per round, {seconds:g} s per layout")
    print(f"{'partitions':>10} | {'per-partition logs':>28} | {'one node-wide log':>28} | "
          f"{'N files, one syncfs':>23} | ratio")
    print(f"{'':>10} | {'rounds/s each':>14} {'MB/s':>8} {'min':>4} | {'rounds/s each':>14} "
          f"{'MB/s':>8} {'':>4} | {'rounds/s each':>14} {'MB/s':>8} | node-wide/per-partition")
    for n in counts:
        spread, elapsed = run(directory, n, seconds, size)
        each = sum(spread) / n / elapsed
        slowest = min(spread) / elapsed
        shared, shared_elapsed = run(directory, 1, seconds, size * n)
        rounds = shared[0] / shared_elapsed
        synced = run_syncfs(directory, n, seconds, size)
        print(f"{n:>10} | {each:>14.1f} {sum(spread) * size / elapsed / 1e6:>8.1f} "
              f"{slowest:>4.0f} | {rounds:>14.1f} {rounds * n * size / 1e6:>8.1f} {'':>4} | "
              f"{synced:>14.1f} {synced * n * size / 1e6:>8.1f} | {rounds / each:.2f}", flush=True)

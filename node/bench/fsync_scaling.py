#!/usr/bin/env python3
"""How fdatasync throughput scales with the number of files synced concurrently.

One thread per file, each appending BYTES with pwrite and fdatasync in a loop for SECONDS;
prints total syncs/s and MB/s for each file count. A node-wide log makes every partition's
batch one write into one file (one sync per round for the whole node); one log per partition
makes it one sync per active partition per round, concurrently. If the syncs/s summed over N
files grows with N (the filesystem commits concurrent fdatasyncs together), per-partition logs
pay little for it; if it stays flat, N partitions share one disk's sync rate.
Usage: fsync_scaling.py DIR [SECONDS] [BYTES] [COUNTS...]"""
import os, sys, threading, time

def run(directory, files, seconds, size):
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
    total = sum(counts)
    return total / elapsed, total * size / elapsed / 1e6

if __name__ == "__main__":
    directory = sys.argv[1]
    seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 3
    size = int(sys.argv[3]) if len(sys.argv) > 3 else 4096
    counts = [int(c) for c in sys.argv[4:]] or [1, 4, 16, 64, 256]
    print(f"{'files':>6} {'syncs/s':>10} {'MB/s':>8} {'per file/s':>11}")
    for n in counts:
        rate, mbs = run(directory, n, seconds, size)
        print(f"{n:>6} {rate:>10.0f} {mbs:>8.1f} {rate / n:>11.1f}", flush=True)

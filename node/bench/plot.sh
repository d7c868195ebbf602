#!/usr/bin/env bash
# Plots meridian-bench's JSON lines (--json_out=FILE) with gnuplot (Debian's gnuplot-nox,
# installed by bazel/setup.sh): records/s against records in flight, and produce latency
# p50/p99/p999 against records in flight, for one producer at acks=quorum, both systems.
# Usage: node/bench/plot.sh RESULTS.jsonl OUTPUT_PREFIX   (writes PREFIX-throughput.png and
# PREFIX-latency.png). Only cases with producers=1 and acks=quorum are plotted, per record size.
set -euo pipefail
results="$1"
prefix="$2"
if ! command -v gnuplot >/dev/null; then
  echo "plot.sh: gnuplot is missing (bazel/setup.sh installs it)" >&2
  exit 1
fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# One whitespace-separated row per case: the numbers gnuplot needs, "nan" for JSON null.
field() { sed -n "s/.*\"$1\":\\(\"\\?[^,}\"]*\\).*/\\1/p" | tr -d '"' | sed 's/^null$/nan/'; }
while IFS= read -r line; do
  [ -n "$line" ] || continue
  bytes=$(field record_bytes <<< "$line"); acks=$(field acks <<< "$line")
  producers=$(field producers <<< "$line")
  [ "$acks" = quorum ] && [ "$producers" = 1 ] || continue
  row=""
  for key in in_flight meridian_records_per_s jetstream_records_per_s meridian_p50_ms \
             meridian_p99_ms meridian_p999_ms jetstream_p50_ms jetstream_p99_ms \
             jetstream_p999_ms; do
    row="$row $(field "$key" <<< "$line")"
  done
  echo "$row" >> "$work/b$bytes.dat"
done < "$results"
if ! ls "$work"/b*.dat >/dev/null 2>&1; then
  echo "plot.sh: no quorum single-producer cases in $results" >&2
  exit 1
fi

plots_tp=""; plots_lat=""
for file in "$work"/b*.dat; do
  bytes=$(basename "$file" .dat | tr -d b)
  plots_tp="$plots_tp '$file' u 1:2 w lp lw 2 t 'Meridian ${bytes} B (fsync before ack)',"
  plots_tp="$plots_tp '$file' u 1:3 w lp lw 2 dt 2 t 'JetStream ${bytes} B (fsync on a timer)',"
  if [ "$bytes" = 1024 ] || [ -z "$plots_lat" ]; then
    plots_lat="'$file' u 1:4 w lp lw 2 t 'Meridian p50 (${bytes} B)',"
    plots_lat="$plots_lat '$file' u 1:5 w lp lw 2 t 'Meridian p99',"
    plots_lat="$plots_lat '$file' u 1:6 w lp lw 2 t 'Meridian p999',"
    plots_lat="$plots_lat '$file' u 1:7 w lp dt 2 lw 2 t 'JetStream p50',"
    plots_lat="$plots_lat '$file' u 1:8 w lp dt 2 lw 2 t 'JetStream p99',"
    plots_lat="$plots_lat '$file' u 1:9 w lp dt 2 lw 2 t 'JetStream p999'"
  fi
done
gnuplot <<GNUPLOT
set terminal pngcairo size 900,540 font 'sans,10'
set logscale x 2
set grid
set key top left
set xlabel 'records in flight (one producer, acks=quorum)'
set output '${prefix}-throughput.png'
set title 'meridian-bench: throughput, 3 nodes on loopback'
set ylabel 'records/s'
plot ${plots_tp%,}
set output '${prefix}-latency.png'
set title 'meridian-bench: produce latency percentiles'
set ylabel 'ms'
set logscale y 10
plot ${plots_lat}
GNUPLOT
echo "plot.sh: wrote ${prefix}-throughput.png and ${prefix}-latency.png"

#!/usr/bin/env bash
# fuzz/run.sh [seconds] [target...]: builds every libFuzzer target with --config=fuzz (clang-14,
# libraries instrumented, ASan+UBSan) and runs each in turn for `seconds` (default 3600), one
# at a time, merging new inputs into a work directory. Prints exec/s and libFuzzer's final
# coverage (cov: edges, ft: features) per target, and where any crash went.
#
#   fuzz/run.sh            # an hour per target
#   fuzz/run.sh 180        # three minutes per target
#   fuzz/run.sh 60 history # one target
#
# Work directory: $FUZZ_WORK (default /tmp/meridian-fuzz/<target>/): the growing corpus is in
# corpus/, crash/leak/timeout/oom inputs in artifacts/, the log in fuzz.log. The seed corpus in
# fuzz/corpus/<target>/ is read, never written: to keep an interesting input, copy it there (or
# into fuzz/crashes/<target>/ while its bug is open) and commit it.
# Extra bazel startup options (a separate output base, say) may come in $BAZEL_STARTUP.
set -euo pipefail

cd "$(dirname "$0")/.."
seconds="${1:-3600}"
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  # Every libFuzzer target in fuzz/BUILD.bazel.
  targets=(client_codec broker_session broker_peer raft_message log_recovery wal_recovery snapshot
    acl history kafka_request kafka_session kafka_record_batch simulation)
fi
work_root="${FUZZ_WORK:-/tmp/meridian-fuzz}"
bazel_cmd=(bazel ${BAZEL_STARTUP:-})

labels=()
for target in "${targets[@]}"; do labels+=("//fuzz:${target}"); done
# --keep_going: a target that does not build is reported below; the others still run.
"${bazel_cmd[@]}" build --config=fuzz --jobs=2 --keep_going "${labels[@]}" || true
bin_dir="$("${bazel_cmd[@]}" info --config=fuzz bazel-bin)"

summary=()
for target in "${targets[@]}"; do
  work="${work_root}/${target}"
  mkdir -p "${work}/corpus" "${work}/artifacts"
  if [ ! -x "${bin_dir}/fuzz/${target}" ]; then
    summary+=("$(printf '%-15s did not build (see the bazel output above)' "${target}")")
    continue
  fi
  # One simulated run takes seconds to a minute under ASan+UBSan; every other input, well under 1 s.
  timeout=30
  if [ "${target}" = simulation ]; then timeout=300; fi
  echo "=== ${target}: ${seconds}s, corpus ${work}/corpus (seeds fuzz/corpus/${target})"
  set +e
  "${bin_dir}/fuzz/${target}" "${work}/corpus" "fuzz/corpus/${target}" \
    -max_total_time="${seconds}" -max_len=65536 -timeout="${timeout}" -rss_limit_mb=4096 \
    -print_final_stats=1 -artifact_prefix="${work}/artifacts/" \
    > "${work}/fuzz.log" 2>&1
  status=$?
  set -e
  # The last status line libFuzzer printed ("#N DONE/pulse cov: C ft: F ... exec/s: E").
  last="$(grep -E '^#[0-9]+' "${work}/fuzz.log" | tail -1)"
  execs="$(grep -E '^stat::number_of_executed_units' "${work}/fuzz.log" | awk '{print $2}')"
  rate="$(grep -E '^stat::average_exec_per_sec' "${work}/fuzz.log" | awk '{print $2}')"
  cov="$(sed -nE 's/.*cov: ([0-9]+).*/\1/p' <<< "${last}")"
  ft="$(sed -nE 's/.*ft: ([0-9]+).*/\1/p' <<< "${last}")"
  corpus_files="$(find "${work}/corpus" -type f | wc -l)"
  verdict="ok"
  if [ "${status}" -ne 0 ]; then
    verdict="CRASH (exit ${status}): $(ls "${work}/artifacts" | head -3 | tr '\n' ' ')"
  fi
  line="$(printf '%-15s %6ss  execs %-9s exec/s %-6s cov %-6s ft %-6s corpus %-5s %s' \
    "${target}" "${seconds}" "${execs:-?}" "${rate:-?}" "${cov:-?}" "${ft:-?}" \
    "${corpus_files}" "${verdict}")"
  echo "${line}"
  summary+=("${line}")
done

echo
echo "=== summary (logs and artifacts under ${work_root}/<target>/)"
for line in "${summary[@]}"; do echo "${line}"; done

"""meridian_fuzz_target: one libFuzzer binary plus the cc_test that replays its seed corpus.

A target is one .cc defining LLVMFuzzerTestOneInput. It becomes:
  <name>               the libFuzzer binary (clang only: -fsanitize=fuzzer,address,undefined),
                       tagged "manual" so `bazel build //...` with gcc never sees those flags.
                       Build it with --config=fuzz (clang, every library instrumented) or
                       --config=clang (only the target's own file instrumented); see README.md.
  <name>_corpus_test   the same .cc linked with corpus_runner.cc, replaying every file under
                       fuzz/corpus/<name>/ in plain `bazel test //...` (gcc or clang).
"""

load("//bazel:defs.bzl", "meridian_cc_binary", "meridian_cc_test")

FUZZER_FLAGS = ["-fsanitize=fuzzer,address,undefined"]

def meridian_fuzz_target(name, srcs, deps, size = "small"):
    meridian_cc_binary(
        name = name,
        testonly = True,
        srcs = srcs,
        copts = FUZZER_FLAGS,
        linkopts = FUZZER_FLAGS,
        tags = ["manual", "fuzzer"],
        deps = deps,
    )
    meridian_cc_test(
        name = name + "_corpus_test",
        size = size,
        srcs = srcs,
        args = ["fuzz/corpus/" + name],
        data = native.glob(["corpus/%s/*" % name]),
        deps = deps + [":corpus_runner"],
        visibility = ["//tests:__pkg__"],  # Its sources are checked by //tests:tidy_test.
    )

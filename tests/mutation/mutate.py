#!/usr/bin/env python3
"""Mutation testing of core/raft, core/replica, core/log, core/broker, core/cluster, core/client
and core/kafka (issue 17 item 7): how many small, realistic source changes do the tests notice?

For each mutant (one operator applied at one site of one file) it rebuilds, runs the module's
kill suite (its unit tests, the cross-module tests that drive it, and a short simulation sweep)
and records one outcome:
  killed      a test or the sweep failed (including an assertion abort or a timeout);
  survived    everything passed: a blind spot, or an equivalent mutant (same behaviour);
  uncompiled  the mutant does not build (not counted in the kill rate).

Run by hand, not in CI, from a clean tree (it refuses a dirty one, and restores each file after
its mutant, even on Ctrl-C):
  python3 tests/mutation/mutate.py --list                    # count sites per file and operator
  python3 tests/mutation/mutate.py --sample=60 --seed=1      # sample 60 sites, run them
  python3 tests/mutation/mutate.py --only=core/raft/raft.cc:812:rel:0   # one mutant again
Results go to mutation-results.jsonl (one line per mutant, appended) and a summary at the end:
kill rate per module, and every survivor with its diff, to be explained (tests/mutation/README.md).
"""
import argparse, json, os, random, re, subprocess, sys, time

MODULES = {
    "core/raft": {
        "tests": ["//core/raft/..."],
        "sweeps": [["--workload=raft", "--seeds=1..300"],
                   ["--workload=raft", "--seeds=1..100", "--election_faults=figure8"],
                   ["--workload=raft", "--seeds=1..100", "--election_faults=vote_restart"],
                   ["--scenario=geo-3x3", "--seeds=1..40"]],
    },
    "core/replica": {
        "tests": ["//core/replica/...", "//tests/log:replica_damage_test",
                  "//tests/log:replica_disk_full_test", "//tests/log:replica_failstop_test",
                  "//tests/log:replica_lease_test", "//tests/log:group_at_rest_test",
                  "//tests/jepsen:powercut_test",
                  "//tests/broker:broker_sim_test", "//tests/broker:broker_health_sim_test"],
        "sweeps": [["--workload=raft", "--seeds=1..300", "--damage_at_rest"],
                   ["--scenario=single-region-3", "--seeds=1..40"]],
    },
    "core/log": {
        "tests": ["//core/log/...", "//tests/log:log_test", "//tests/log:log_model_test",
                  "//tests/log:log_sim_faults_test", "//tests/log:log_posix_test",
                  "//tests/log:replica_damage_test", "//tests/jepsen:powercut_test"],
        "sweeps": [["--workload=raft", "--seeds=1..300", "--damage_at_rest"],
                   ["--scenario=single-region-3", "--seeds=1..40"]],
    },
    "core/broker": {
        "tests": ["//core/broker/...", "//tests/broker:broker_sim_test",
                  "//tests/broker:broker_health_sim_test", "//tests/broker:group_sim_test",
                  "//tests/broker:client_side_group_sim_test",
                  "//tests/broker:replacement_sim_test", "//tests/broker:failback_sim_test",
                  "//tests/broker:regime_gate_sim_test", "//tests/kafka:kafka_sim_test",
                  "//tests/broker:cli_test"],
        "sweeps": [["--scenario=single-region-3", "--seeds=1..40"],
                   ["--scenario=geo-3x3", "--seeds=1..40"],
                   ["--scenario=region-loss-regional", "--seeds=1..10"]],
    },
    "core/cluster": {
        "tests": ["//core/cluster/...", "//tests/broker:broker_sim_test",
                  "//tests/broker:replacement_sim_test", "//tests/broker:failback_sim_test"],
        "sweeps": [["--scenario=single-region-3", "--seeds=1..40"],
                   ["--scenario=geo-3x3", "--seeds=1..40"],
                   ["--scenario=region-loss-regional", "--seeds=1..10"]],
    },
    "core/client": {
        "tests": ["//core/client/...", "//tests/broker:group_sim_test",
                  "//tests/broker:client_side_group_sim_test", "//tests/broker:broker_sim_test"],
        "sweeps": [["--scenario=single-region-3", "--seeds=1..40"],
                   ["--scenario=geo-3x3", "--seeds=1..40"]],
    },
    "core/kafka": {
        "tests": ["//core/kafka/...", "//tests/kafka:kafka_sim_test"],
        "sweeps": [],
    },
}
# A survivor of the fast suite above is run again against these (--confirm), before it is
# called a survivor: the long whole-stack tests kill what the short sweeps miss.
CONFIRM = ["//tests:raft_cluster_test", "//sim:simulation_test", "//sim:broker_workload_test",
           "//tests/log:log_model_sweep_test", "//tests/log:log_sim_faults_sweep_test",
           "//tests/broker:group_sim_test", "//tests/jepsen:jepsen_short_test"]
SIM = "//sim:meridian-sim"
BAZEL = ["bazel"]
# A swapped && or || inside a chain of the other compiles as C++'s precedence reads it; without
# this, -Werror=parentheses (bazel/defs.bzl's -Wall -Werror) refused such mutants as uncompiled.
BUILD_FLAGS = ["-c", "opt", "--jobs=2", "--copt=-Wno-error=parentheses"]

# Lines that decide nothing a test could observe, or that exist only for planted bugs.
SKIP_LINE = re.compile(
    r"MERIDIAN_(CHECK|UNREACHABLE|PROBE)|fmt::format|^\s*//|^\s*#|static_assert|planted|"
    r"ForTests|for_tests|ForPlantedBug|bugs_\.|testing\.|\bbug\b|ToString|operator<<|"
    r"Invariants\(\);|\.reserve\(")
# `if (...planted_bug == ...) {` on one line: its body runs only under that planted bug.
PLANTED_ONLY_BLOCK = re.compile(r"^\s*if \(.*planted_bug == [^|&]*\) \{$")
# Bodies of debug-text functions (`X::ToString() const {` to the closing `}` at column 0):
# what they print decides nothing.
DEBUG_TEXT_FUNCTION = re.compile(r"::ToString\(\) const \{$")

# (name, pattern, replacement function). Patterns match clang-formatted code: binary operators
# have a space on each side, templates do not.
def _swap(table):
    return lambda m: table[m.group(0)]

OPERATORS = [
    ("rel", re.compile(r" (<=|>=|<|>|==|!=) "),
     _swap({" <= ": " < ", " < ": " <= ", " >= ": " > ", " > ": " >= ", " == ": " != ",
            " != ": " == "})),
    ("logic", re.compile(r" (&&|\|\|) "), _swap({" && ": " || ", " || ": " && "})),
    ("minmax", re.compile(r"std::(min|max)\("), _swap({"std::min(": "std::max(",
                                                       "std::max(": "std::min("})),
    ("offby1", re.compile(r" ([+-]) 1\b"), _swap({" + 1": " + 2", " - 1": " - 2"})),
    ("next", re.compile(r"\.(next|prev)\(\)"), lambda m: ""),
    ("bool", re.compile(r"return (true|false);"),
     _swap({"return true;": "return false;", "return false;": "return true;"})),
    ("negate", re.compile(r"\bif \("), None),  # Wraps the whole condition: negate_if.
    ("drop", re.compile(r"^(\s*)([A-Za-z_][\w:.>-]*(\(.*\)|\s*[-+*/]?=\s.*|\+\+|--));\s*$"),
     lambda m: m.group(1) + ";"),
]


def code_end(line):
    """Where the line's code ends: the start of a `//` comment outside a string or character
    literal, else the line's length. Text in comments is not code under test (a mutant of
    `// ... index + 1.` once counted as a survivor)."""
    quote = None
    i = 0
    while i < len(line):
        c = line[i]
        if quote is not None:
            if c == "\\":
                i += 1
            elif c == quote:
                quote = None
        elif c == '"' or (c == "'" and not (i > 0 and line[i - 1].isalnum())):
            quote = c  # A quote after a digit or letter is a digit separator (50'000).
        elif line.startswith("//", i):
            return i
        i += 1
    return len(line)


def code_matches(pattern, line):
    end = code_end(line)
    return [m for m in pattern.finditer(line) if m.start() < end]


def sources(module):
    return sorted(os.path.join(module, f) for f in os.listdir(module)
                  if f.endswith(".cc") and not f.endswith("_test.cc"))


def sites(path):
    """Every (line number, operator, occurrence) a mutant can be made at in `path`."""
    found = []
    with open(path) as f:
        lines = f.read().split("\n")
    in_debug_text = False
    planted_block_end = None  # The closing line of an `if (...planted...) {` block, when in one.
    for number, line in enumerate(lines, 1):
        if DEBUG_TEXT_FUNCTION.search(line):
            in_debug_text = True
        elif in_debug_text and line == "}":
            in_debug_text = False
        if planted_block_end is None and PLANTED_ONLY_BLOCK.match(line):
            # What runs only under a planted bug is the bug, not code under test.
            planted_block_end = line[:len(line) - len(line.lstrip())] + "}"
        elif planted_block_end is not None and line == planted_block_end:
            planted_block_end = None
            continue
        skipped = in_debug_text or planted_block_end is not None or SKIP_LINE.search(line)
        if skipped or line.strip().startswith(("return absl::", "absl::Status ")):
            continue
        for name, pattern, _ in OPERATORS:
            if name == "drop" and "return" in line:
                continue  # The pattern only matches whole statements ending in ';'.
            for occurrence, _ in enumerate(code_matches(pattern, line)):
                if name != "negate" or mutate_line(line, name, occurrence) is not None:
                    found.append((number, name, occurrence))
    return found


def negate_if(line, start):
    """`if (c)` -> `if (!(c))`, `if (init; c)` -> `if (init; !(c))`; None when the condition
    does not close on this line."""
    depth, semicolon = 0, None
    for i in range(start + 3, len(line)):
        if line[i] in "([{":
            depth += 1
        elif line[i] in ")]}":
            depth -= 1
            if depth == 0:
                begin = (semicolon + 2) if semicolon is not None else start + 4
                return line[:begin] + "!(" + line[begin:i] + ")" + line[i:]
        elif line[i] == ";" and depth == 1:
            semicolon = i
    return None


def mutate_line(line, operator, occurrence):
    name, pattern, replace = next(op for op in OPERATORS if op[0] == operator)
    matches = code_matches(pattern, line)
    m = matches[occurrence]
    if name == "negate":
        return negate_if(line, m.start())
    return line[:m.start()] + replace(m) + line[m.end():]


def run(cmd, timeout):
    start = time.monotonic()
    try:
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                           errors="replace",  # Test logs may hold any bytes.
                           timeout=timeout)
        return p.returncode, p.stdout[-3000:], time.monotonic() - start
    except subprocess.TimeoutExpired as e:
        out = e.stdout.decode(errors="replace") if isinstance(e.stdout, bytes) else (e.stdout or "")
        return "timeout", out[-3000:], time.monotonic() - start


def kill_suite(module, args):
    """Returns (outcome, detail). The sweeps first: they need one binary, so a mutant they kill
    costs one link, not one per test."""
    spec = dict(MODULES[module])
    if args.confirm:
        spec["tests"] = spec["tests"] + CONFIRM
    code, out, _ = run(BAZEL + ["build"] + BUILD_FLAGS + [SIM], args.build_timeout)
    if code != 0:
        return "uncompiled", out[-600:] if "rror" in out else f"build exit {code}"
    sim = os.path.join(args.bin_dir, "sim", "meridian-sim")
    for sweep in spec["sweeps"]:
        code, out, _ = run([sim] + sweep, args.sweep_timeout)
        if code != 0:
            last = [l for l in out.splitlines() if "seed" in l][-1:] or [str(code)]
            return "killed", "sweep " + " ".join(sweep) + ": " + last[0][:300]
    code, out, _ = run(BAZEL + ["test"] + BUILD_FLAGS +
                       ["--notest_keep_going", "--test_output=errors",
                        f"--test_timeout={args.test_timeout}"] + spec["tests"],
                       args.build_timeout + args.test_timeout * 3)
    if code != 0:
        failed = re.findall(r"(//\S+)\s+(?:FAILED|TIMEOUT)", out)
        if not failed and ("error:" in out or "ERROR:" in out) and "FAILED" not in out:
            return "uncompiled", out[-600:]  # A test file the mutant breaks (rare).
        return "killed", "test: " + (", ".join(failed) or f"bazel test exit {code}")
    return "survived", ""


def module_of(path):
    return next(m for m in MODULES if path.startswith(m + "/"))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--modules", default=",".join(MODULES))
    ap.add_argument("--list", action="store_true")
    ap.add_argument("--sample", type=int, default=30)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--only", action="append", default=[], help="FILE:LINE:OPERATOR:OCCURRENCE")
    ap.add_argument("--skip", type=int, default=0, help="skip the first N sampled mutants")
    ap.add_argument("--confirm", action="store_true",
                    help="add the long whole-stack tests (CONFIRM) to every kill suite")
    ap.add_argument("--results", default="mutation-results.jsonl")
    ap.add_argument("--bin_dir", default="bazel-bin")
    ap.add_argument("--build_timeout", type=int, default=1200)
    ap.add_argument("--test_timeout", type=int, default=180)
    ap.add_argument("--sweep_timeout", type=int, default=120)
    args = ap.parse_args()
    modules = args.modules.split(",")
    every = [(path, *site) for m in modules for path in sources(m) for site in sites(path)]
    if args.list:
        per = {}
        for path, _, op, _ in every:
            per.setdefault(path, {}).setdefault(op, 0)
            per[path][op] += 1
        for path, ops in per.items():
            print(f"{path:40} {sum(ops.values()):5}  " +
                  " ".join(f"{k}={v}" for k, v in sorted(ops.items())))
        print(f"{'total':40} {len(every):5}")
        return 0
    if subprocess.run(["git", "diff", "--quiet", "--"] + modules).returncode != 0:
        sys.exit("the tree has changes under the mutated modules: commit or stash them first")
    if args.only:
        chosen = []
        for spec in args.only:
            path, line, op, occ = spec.rsplit(":", 3)
            chosen.append((path, int(line), op, int(occ)))
    else:
        chosen = random.Random(args.seed).sample(every, min(args.sample, len(every)))[args.skip:]
    results = []
    for i, (path, number, op, occ) in enumerate(chosen, 1):
        with open(path) as f:
            original = f.read()
        lines = original.split("\n")
        before = lines[number - 1]
        after = mutate_line(before, op, occ)
        lines[number - 1] = after
        start = time.monotonic()
        try:
            with open(path, "w") as f:
                f.write("\n".join(lines))
            outcome, detail = kill_suite(module_of(path), args)
        finally:
            with open(path, "w") as f:
                f.write(original)
        record = {"file": path, "line": number, "operator": op, "occurrence": occ,
                  "before": before.strip(), "after": after.strip(), "outcome": outcome,
                  "detail": detail, "seconds": round(time.monotonic() - start),
                  "suite": "confirm" if args.confirm else "fast"}
        results.append(record)
        with open(args.results, "a") as f:
            f.write(json.dumps(record) + "\n")
        print(f"[{i}/{len(chosen)}] {outcome:10} {path}:{number} {op}  {before.strip()[:60]!r}"
              f" -> {after.strip()[:60]!r}  ({record['seconds']} s) {detail[:120]}", flush=True)
    summarize(results)
    return 0


def summarize(results):
    print("\nmodule          killed survived uncompiled  kill rate")
    for m in MODULES:
        rs = [r for r in results if r["file"].startswith(m + "/")]
        k = sum(r["outcome"] == "killed" for r in rs)
        s = sum(r["outcome"] == "survived" for r in rs)
        u = sum(r["outcome"] == "uncompiled" for r in rs)
        rate = f"{100 * k / (k + s):.0f}%" if k + s else "-"
        print(f"{m:15} {k:6} {s:8} {u:10}  {rate:>9}")
    for r in results:
        if r["outcome"] == "survived":
            print(f"survivor {r['file']}:{r['line']}:{r['operator']}:{r['occurrence']}\n"
                  f"  - {r['before']}\n  + {r['after']}")


if __name__ == "__main__":
    sys.exit(main())

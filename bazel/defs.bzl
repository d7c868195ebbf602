"""Meridian's C++ rule wrappers: every project target compiles with the same strict warnings.

External (Debian) libraries are not built by Bazel, so these flags touch only our code.
"""

MERIDIAN_COPTS = [
    "-Wall",
    "-Wextra",
    "-Werror",
    "-Wno-unused-parameter",
    # Designated initializers that rely on default member initializers are the idiom here.
    "-Wno-missing-field-initializers",
]

# Optimised in every build mode (fastbuild and asan too). For the libraries the simulator runs in
# its hot loop — io/, sim/ and the protocol code of core/ that production runs as well — since the
# loop (absl::btree, fibers) is ~20x slower at -O0 and sweeps of hundreds of seeds must stay
# cheap in CI. (It was SIM_COPTS, a name narrower than its use: it builds production libraries.)
ALWAYS_OPTIMIZED_COPTS = ["-O2"]

def _with_copts(kwargs):
    kwargs["copts"] = MERIDIAN_COPTS + kwargs.pop("copts", [])
    return kwargs

def meridian_cc_library(**kwargs):
    native.cc_library(**_with_copts(kwargs))

def meridian_cc_binary(**kwargs):
    native.cc_binary(**_with_copts(kwargs))

def meridian_cc_test(**kwargs):
    native.cc_test(**_with_copts(kwargs))

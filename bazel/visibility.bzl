"""Who may depend on whom: the dependency table of README.md and docs/architecture.md, as Bazel
visibility lists. Each package's BUILD.bazel loads its layer's list as its default_visibility,
so a dependency that breaks the layering (core/ on sim/, node/ or tests/; checks/ on io/ or
core/; anything on a test) fails to build instead of waiting for a reviewer. One exception is
granted on its target: //io:command_line (Abseil only) is visible to checks/ too.
"""

# core/: all protocol logic. Used by the production binaries, the simulator, the tests and the
# fuzz targets; never by io/ (below it) or checks/ (which knows nothing of core/).
CORE_VISIBILITY = [
    "//core:__subpackages__",
    "//fuzz:__subpackages__",
    "//node:__subpackages__",
    "//sim:__subpackages__",
    "//tests:__subpackages__",
]

# io/: the interfaces and the fiber runtime, under everything of ours except checks/.
IO_VISIBILITY = [
    "//core:__subpackages__",
    "//fuzz:__subpackages__",
    "//io:__subpackages__",
    "//node:__subpackages__",
    "//sim:__subpackages__",
    "//tests:__subpackages__",
]

# checks/: the history format and checkers, for whoever writes histories (the simulator, the
# demo) and the tests; never for core/, whose bugs it must not be able to share.
CHECKS_VISIBILITY = [
    "//checks:__subpackages__",
    "//fuzz:__subpackages__",
    "//node:__subpackages__",
    "//sim:__subpackages__",
    "//tests:__subpackages__",
]

"""source_files: our C++ sources, collected from targets, as declared inputs of a test.

The repository checks (//tests:banned_apis_test, //tests:tidy_test) read source files. Reading
the tree from outside the sandbox made them flaky and uncachable; a glob cannot cross package
boundaries. So an aspect walks `deps`, `srcs`, `hdrs` and `data` from a list of root targets and
collects every source file of this repository (not external ones, not generated ones) that those
targets compile. A package is covered as soon as one of the roots reaches one of its targets.
"""

_EXTENSIONS = ["h", "cc"]

SourceFilesInfo = provider(
    doc = "Source files of this repository reached from a target.",
    fields = {"files": "depset of File"},
)

def _ours(file):
    return file.is_source and file.owner.workspace_root == "" and file.extension in _EXTENSIONS

def _collect_impl(target, ctx):
    direct = []
    for name in ["srcs", "hdrs", "textual_hdrs"]:
        for dep in getattr(ctx.rule.attr, name, []):
            direct += [f for f in dep.files.to_list() if _ours(f)]
    transitive = []
    for name in ["deps", "srcs", "data"]:
        for dep in getattr(ctx.rule.attr, name, []):
            if type(dep) == "Target" and SourceFilesInfo in dep:
                transitive.append(dep[SourceFilesInfo].files)
    return [SourceFilesInfo(files = depset(direct, transitive = transitive))]

_collect = aspect(
    implementation = _collect_impl,
    attr_aspects = ["deps", "srcs", "data"],
)

def _source_files_impl(ctx):
    files = depset(transitive = [root[SourceFilesInfo].files for root in ctx.attr.roots])
    prefixes = ctx.attr.prefixes
    if prefixes:
        files = depset([
            f
            for f in files.to_list()
            if [p for p in prefixes if f.short_path.startswith(p)]
        ])
    return [DefaultInfo(files = files, runfiles = ctx.runfiles(transitive_files = files))]

source_files = rule(
    implementation = _source_files_impl,
    doc = "The .h/.cc files of this repository that `roots` reach, optionally only those " +
          "under `prefixes` (e.g. \"core/\").",
    attrs = {
        "roots": attr.label_list(aspects = [_collect]),
        "prefixes": attr.string_list(),
    },
)

"""flatbuffer_cc_library: runs Debian's flatc on .fbs schemas and yields a cc_library.

    flatbuffer_cc_library(name = "client_fbs", srcs = ["client.fbs"])

gives `#include "<package>/client_generated.h"` to whoever depends on :client_fbs.
"""

def flatbuffer_cc_library(name, srcs, visibility = None, object_api = False):
    """object_api = True also generates the `FooT` native structs with Pack/UnPack."""
    headers = [src.replace(".fbs", "_generated.h") for src in srcs]
    flags = "--cpp --scoped-enums" + (" --gen-object-api" if object_api else "")
    native.genrule(
        name = name + "_flatc",
        srcs = srcs,
        outs = headers,
        tools = ["@flatbuffers//:flatc"],
        cmd = "$(execpath @flatbuffers//:flatc) " + flags + " -I " + native.package_name() + " -o $(RULEDIR) $(SRCS)",
    )
    native.cc_library(
        name = name,
        hdrs = headers,
        deps = ["@flatbuffers"],
        visibility = visibility,
    )

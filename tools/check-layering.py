#!/usr/bin/python3
"""The library's private headers (lib/*.h; lib/include/brownout/ is public)
are for lib/ and its white-box tests (tests/unit/) only. `make
check-layering` compiles every module with only its own include paths
(Makefile, LAYERS); this catches what include paths cannot: a file outside
lib/ and tests/unit/ that names a private header by its path ("../lib/x.h",
"lib/x.h"). And the names say which is which (as curl's Curl_): a
function a private header declares is Bo_..., one a public header declares
is bo_..., one a daemon header (daemon/*.h: brownoutd's modules, which the
CLI's worker shares) declares is bd_...; any other prefix there is
reported. Prints FILE:LINE and what is wrong for each, exits 1 if any.
    tools/check-layering.py [ROOT]"""
import os
import re
import subprocess
import sys

INCLUDE = re.compile(r'^\s*#\s*include\s*[<"]([^">]*)[">]')
# a function declared or defined at the start of a line: "type name(" or
# "type *name(" (static inline ones in headers too)
DECL = re.compile(r'^(?:static\s+)?(?:inline\s+)?(?:BO_INLINE\s+)?(?:const\s+)?'
                  r'(?:struct\s+|enum\s+|unsigned\s+)?\w+[\s*]+\**((?:[bB]o|bd)_\w+)\s*\(')
WANT = {"public": "bo_", "private": "Bo_", "daemon": "bd_"}
WHAT = {"bo_": "the public API", "Bo_": "the library's internals", "bd_": "brownoutd's modules"}


def names(root, f, want):
    """(line, name) of the functions f declares with a prefix other than want"""
    out = []
    with open(os.path.join(root, f), errors="replace") as fh:
        for n, line in enumerate(fh, 1):
            m = None if line.startswith("typedef") else DECL.match(line)
            if m and not m.group(1).startswith(want):
                out.append((n, m.group(1)))
    return out


def private(rel):
    """rel (relative to the root) is a private library header"""
    parts = rel.split(os.sep)
    return parts[0] == "lib" and len(parts) > 1 and parts[1] != "include"


def main():
    root = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else
                           os.path.join(os.path.dirname(__file__), ".."))
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "--", "*.c", "*.h"],
                           cwd=root, check=True, capture_output=True, text=True).stdout.split()
    bad = 0
    for f in files:
        kind = None
        if f.endswith(".h"):
            if f.startswith("lib/include/"):
                kind = "public"
            elif f.startswith("lib/"):
                kind = "private"
            elif f.startswith("daemon/"):
                kind = "daemon"
        if kind:
            want = WANT[kind]
            for n, name in names(root, f, want):
                print(f"check-layering: {f}:{n}: {name} is declared in a {kind} header: name it "
                      f"{want}{name[3:]} ({', '.join(k + ' is ' + v for k, v in WHAT.items())})",
                      file=sys.stderr)
                bad = 1
        if f.startswith(("lib/", "tests/unit/")):
            continue
        with open(os.path.join(root, f), errors="replace") as fh:
            for n, line in enumerate(fh, 1):
                m = INCLUDE.match(line)
                if not m:
                    continue
                hdr = m.group(1)
                # relative to the file (as "" includes are first), or to the
                # root (as with -I.)
                for p in (os.path.join(os.path.dirname(f), hdr), hdr):
                    rel = os.path.normpath(p)
                    if private(rel):
                        print(f"check-layering: {f}:{n} includes the library's private header "
                              f"{rel} (\"{hdr}\"); use the public <brownout/...> headers",
                              file=sys.stderr)
                        bad = 1
                        break
    return bad


if __name__ == "__main__":
    sys.exit(main())

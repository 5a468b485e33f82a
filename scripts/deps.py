#!/usr/bin/env python3
"""deps.py — draw the file-level include and call graph inside each source
folder and report cycles.

Calls come from the linker's view, not from reading C: for every object
file of a folder, `nm` lists the global functions it defines and the ones
it uses; file A calls file B when A uses a symbol B defines. Includes come
from the `#include "..."` lines of each .c file, mapped to the .c file of
the same stem (the header's owner). A cycle is a strongly connected
component of more than one file in either graph.

    scripts/deps.py BUILD_DIR [FOLDER ...]     # default: every module folder
    scripts/deps.py BUILD_DIR server/http --dot > http.dot

Exit 1 when any folder has a cycle, 0 otherwise.
"""
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FOLDERS = ["common", "db", "server", "server/cli", "server/http",
           "corehook", "ueclient"]
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)


def objects(build, folder):
    """{source stem: object path} for the folder's own sources."""
    out = {}
    src = os.path.join(ROOT, folder)
    stems = {f[:-2] for f in os.listdir(src) if f.endswith(".c")}
    for dirpath, _, files in os.walk(build):
        if "CMakeFiles" not in dirpath or dirpath.endswith("CMakeFiles"):
            continue
        rel = dirpath.split("CMakeFiles", 1)[0].rstrip("/")
        if os.path.relpath(rel, build) != folder and not (
                folder.count("/") and os.path.relpath(rel, build)
                == folder.rsplit("/", 1)[0]):
            continue
        for f in files:
            if not f.endswith(".c.o"):
                continue
            sub = os.path.relpath(dirpath, os.path.join(rel, "CMakeFiles"))
            sub = sub.split("/", 1)[1] if "/" in sub else ""
            here = os.path.normpath(os.path.join(
                os.path.relpath(rel, build), sub))
            stem = f[:-4]
            if here == folder and stem in stems and stem not in out:
                out[stem] = os.path.join(dirpath, f)
    return out


def symbols(obj):
    defined, used = set(), set()
    res = subprocess.run(["nm", "-g", obj], capture_output=True, text=True,
                         check=True)
    for line in res.stdout.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[1] in "TDBR":
            defined.add(parts[2])
        elif len(parts) == 2 and parts[0] == "U":
            used.add(parts[1])
    return defined, used


def call_graph(objs):
    defs, uses = {}, {}
    for stem, obj in objs.items():
        defs[stem], uses[stem] = symbols(obj)
    owner = {s: stem for stem, ss in defs.items() for s in ss}
    return {a: {owner[s] for s in uses[a] if s in owner and owner[s] != a}
            for a in objs}


def include_graph(folder, stems):
    g = {}
    for stem in stems:
        with open(os.path.join(ROOT, folder, stem + ".c")) as f:
            text = f.read()
        g[stem] = set()
        for inc in INCLUDE.findall(text):
            base = os.path.basename(inc)[:-2] if inc.endswith(".h") else None
            if base and base in stems and base != stem and \
                    os.path.exists(os.path.join(ROOT, folder, inc)):
                g[stem].add(base)
    return g


def sccs(g):
    """Tarjan: components of more than one node."""
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(g.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in sorted(g):
        if v not in index:
            visit(v)
    return out


def main(argv):
    if len(argv) < 2:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    build = os.path.abspath(argv[1])
    dot = "--dot" in argv
    folders = [a.rstrip("/") for a in argv[2:] if a != "--dot"] or FOLDERS
    bad = 0
    for folder in folders:
        objs = objects(build, folder)
        if not objs:
            print(f"{folder}: no object files under {build}",
                  file=sys.stderr)
            return 2
        calls = call_graph(objs)
        incs = include_graph(folder, set(objs))
        if dot:
            print(f'digraph "{folder}" {{')
            for a in sorted(calls):
                for b in sorted(calls[a]):
                    print(f'  "{a}" -> "{b}";')
            print("}")
            continue
        for kind, g in (("call", calls), ("include", incs)):
            for comp in sccs(g):
                bad += 1
                print(f"{folder}: {kind} cycle: {' <-> '.join(comp)}")
        if not dot:
            edges = sum(len(v) for v in calls.values())
            print(f"{folder}: {len(objs)} files, {edges} call edges")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

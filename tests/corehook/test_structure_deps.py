"""structure_deps_corehook: no file-level call or include cycle inside
corehook/, common/ and ueclient/ (issue 19: "no include or call cycle
inside a folder"), drawn by scripts/deps.py from the build's object files
(nm) and the sources' #include lines. The detector itself is checked too:
two object files that call each other, compiled here, form a cycle it
reports, and a chain that only calls down does not.

    test_structure_deps.py BUILD_DIR FOLDER...
"""
import importlib.util
import os
import re
import subprocess
import sys
import tempfile
import unittest

SRC = os.environ.get("PROVCA_SRC") or os.path.dirname(os.path.dirname(
    os.path.dirname(os.path.abspath(__file__))))
DEPS = os.path.join(SRC, "scripts", "deps.py")
BUILD = None
FOLDERS = []


def load_deps():
    spec = importlib.util.spec_from_file_location("deps", DEPS)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


class StructureDeps(unittest.TestCase):
    def test_folders_have_no_cycle(self):
        """deps.py exits 0 and reports every folder's files and edges."""
        res = subprocess.run([sys.executable, DEPS, BUILD] + FOLDERS,
                             capture_output=True, text=True, timeout=120)
        self.assertEqual(res.returncode, 0,
                         f"cycles found:\n{res.stdout}{res.stderr}")
        self.assertNotIn("cycle", res.stdout)
        for folder in FOLDERS:
            m = re.search(rf"^{re.escape(folder)}: (\d+) files, (\d+) call "
                          r"edges$", res.stdout, re.M)
            self.assertIsNotNone(m, f"no line for {folder}:\n{res.stdout}")
            srcs = [f for f in os.listdir(os.path.join(SRC, folder))
                    if f.endswith(".c")]
            # Every source file of the folder was drawn (an object missing
            # from the graph could hide a cycle).
            self.assertEqual(int(m.group(1)), len(srcs), folder)
            self.assertGreater(int(m.group(2)), 0, folder)

    def test_corehook_layers(self):
        """The core is on top and the context's services at the bottom:
        only the daemon calls corehook.c, ch_ctx.c calls no corehook file,
        and the rules (verify.c) call down to their fast paths, never the
        other way."""
        self.assertIn("corehook", FOLDERS)
        deps = load_deps()
        calls = deps.call_graph(deps.objects(BUILD, "corehook"))
        callers = {f for f, to in calls.items() if "corehook" in to}
        self.assertEqual(callers, {"serve"})
        self.assertIn("corehook", calls["serve"])
        self.assertEqual(calls["ch_ctx"], set())
        self.assertIn("ch_ctx", calls["corehook"])
        self.assertEqual(calls["verify_fast"], set())
        self.assertEqual(calls["verify"], {"verify_fast"})

    def test_detector_reports_a_call_cycle(self):
        """Two objects calling each other are one cycle; a.c -> b.c only is
        none (the check can fail)."""
        deps = load_deps()
        with tempfile.TemporaryDirectory() as d:
            srcs = {
                "a": "int b(int);\nint a(int x) { return x ? b(x - 1) : 0; }\n",
                "b": "int a(int);\nint b(int x) { return a(x); }\n",
                "c": "int a(int);\nint c(int x) { return a(x); }\n",
            }
            objs = {}
            for stem, text in srcs.items():
                with open(os.path.join(d, stem + ".c"), "w") as f:
                    f.write(text)
                objs[stem] = os.path.join(d, stem + ".o")
                subprocess.run(["cc", "-c", "-o", objs[stem],
                                os.path.join(d, stem + ".c")], check=True)
            g = deps.call_graph(objs)
            self.assertEqual(g, {"a": {"b"}, "b": {"a"}, "c": {"a"}})
            self.assertEqual(deps.sccs(g), [["a", "b"]])
            del objs["b"]
            g = deps.call_graph(objs)
            self.assertEqual(deps.sccs(g), [])


if __name__ == "__main__":
    BUILD = os.path.abspath(sys.argv[1])
    FOLDERS = [a for a in sys.argv[2:] if not a.startswith("-")]
    unittest.main(argv=[sys.argv[0]] + [a for a in sys.argv[2:]
                                        if a.startswith("-")])

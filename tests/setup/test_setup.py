"""First contact with a fresh clone: scripts/npm_check.cjs (the Node.js
engines check scripts/setup.sh runs before npm), the suites `make test`
must always register, docs that name only files in the project, and no
__pycache__ written into the source tree."""
import json
import os
import re
import subprocess
import tempfile
import unittest

SRC = os.environ["PROVCA_SRC"]
BUILD = os.path.dirname(os.environ["PROVCA_BIN"])
SANITIZE = os.environ.get("PROVCA_SANITIZE", "0") == "1"
NODE = os.environ.get("PROVCA_NODE") or "node"
CHECK = os.path.join(SRC, "scripts", "npm_check.cjs")
LOCKS = [os.path.join(SRC, "web", "package-lock.json"),
         os.path.join(SRC, "tests", "browser", "package-lock.json")]


def node(*args):
    return subprocess.run([NODE, CHECK, *args], capture_output=True,
                          text=True, timeout=60)


def node_major():
    out = subprocess.run([NODE, "--version"], capture_output=True,
                         text=True, check=True).stdout
    return int(out.strip().lstrip("v").split(".")[0])


class EnginesTest(unittest.TestCase):
    def lock(self, engines):
        d = tempfile.mkdtemp(prefix="provca-lock-")
        self.addCleanup(lambda: subprocess.run(["rm", "-rf", d]))
        p = os.path.join(d, "package-lock.json")
        with open(p, "w") as f:
            json.dump({"lockfileVersion": 3, "packages": {
                "": {"name": "x"},
                "node_modules/needs-node": {"version": "9.9.9",
                                            "engines": {"node": engines}}}}, f)
        return p

    def test_the_pinned_packages_accept_node_18(self):
        for lock in LOCKS:
            with open(lock) as f:
                pk = json.load(f)["packages"]
            for where, meta in pk.items():
                want = meta.get("engines", {}).get("node")
                if want is None:
                    continue
                m = re.fullmatch(r">=\s*(\d+)(\.\d+)*", want.strip())
                self.assertIsNotNone(m, f"{lock}: {where}: {want}")
                self.assertLessEqual(int(m.group(1)), 18,
                                     f"{lock}: {where} needs node {want}")

    def test_this_node_satisfies_both_lock_files(self):
        p = node("engines", *LOCKS)
        self.assertEqual(p.returncode, 0, p.stderr)

    def test_too_old_node_is_refused_naming_the_package(self):
        want = ">=%d" % (node_major() + 1)
        p = node("engines", self.lock(want))
        self.assertEqual(p.returncode, 1)
        self.assertIn("needs-node@9.9.9 needs node " + want, p.stderr)

    def test_ranges_it_reads(self):
        major = node_major()
        for rng, ok in ((">=%d" % major, 0), (">=%d.0.0" % (major - 1), 0),
                        ("^%d.0.0" % major, 0), ("^%d.0.0" % (major + 1), 1),
                        (">=%d || ^%d.0.0" % (major + 5, major), 0),
                        ("~%d" % major, 1)):
            p = node("engines", self.lock(rng))
            self.assertEqual(p.returncode, ok, f"{rng}: {p.stderr}")

    def test_current_sees_a_version_other_than_the_lock(self):
        d = tempfile.mkdtemp(prefix="provca-nm-")
        self.addCleanup(lambda: subprocess.run(["rm", "-rf", d]))
        os.makedirs(os.path.join(d, "node_modules", "pkg"))
        with open(os.path.join(d, "package-lock.json"), "w") as f:
            json.dump({"packages": {"": {}, "node_modules/pkg":
                                    {"version": "1.61.1"}}}, f)
        with open(os.path.join(d, "node_modules", "pkg", "package.json"), "w") as f:
            json.dump({"name": "pkg", "version": "1.65.1"}, f)
        p = node("current", d)
        self.assertEqual(p.returncode, 1)
        self.assertIn("have 1.65.1, lock pins 1.61.1", p.stderr)
        with open(os.path.join(d, "node_modules", "pkg", "package.json"), "w") as f:
            json.dump({"name": "pkg", "version": "1.61.1"}, f)
        self.assertEqual(node("current", d).returncode, 0)


class SetupScriptTest(unittest.TestCase):
    """scripts/setup.sh with a node that reports an old version: it stops
    before npm, names the package and the versions, and never says ok."""

    def test_too_old_node_stops_setup(self):
        d = tempfile.mkdtemp(prefix="provca-oldnode-")
        self.addCleanup(lambda: subprocess.run(["rm", "-rf", d]))
        real = subprocess.run(["/bin/sh", "-c", "command -v " + NODE],
                              capture_output=True, text=True,
                              check=True).stdout.strip()
        pre = os.path.join(d, "old.cjs")
        with open(pre, "w") as f:
            f.write("Object.defineProperty(process, 'version', "
                    "{ value: 'v16.20.2' });\n")
        fake = os.path.join(d, "node")
        with open(fake, "w") as f:
            f.write('#!/bin/sh\n[ "$1" = --version ] && { echo v16.20.2; '
                    'exit 0; }\nexec %s -r %s "$@"\n' % (real, pre))
        os.chmod(fake, 0o755)
        env = dict(os.environ, PATH=d + ":" + os.environ.get("PATH", ""))
        p = subprocess.run(["bash", os.path.join(SRC, "scripts", "setup.sh"),
                            "test"], capture_output=True, text=True,
                           env=env, timeout=300)
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        self.assertIn("setup: Node.js v16.20.2 is too old", p.stderr)
        self.assertIn("playwright-core@", p.stderr)
        self.assertIn("needs node >=18; this node is v16.20.2", p.stderr)
        self.assertNotIn("setup: ok", p.stdout + p.stderr)
        self.assertNotIn("npm ci", p.stdout + p.stderr)


class RegisteredTest(unittest.TestCase):
    def registered(self):
        p = subprocess.run(["ctest", "-N"], cwd=BUILD, capture_output=True,
                           text=True, timeout=60, check=True)
        return set(re.findall(r"Test\s+#\d+: (\S+)", p.stdout))

    def test_suites_with_tools_are_always_registered(self):
        names = self.registered()
        want = {"browser_portal", "nas_tshark", "aka_osmo_crosscheck",
                "e2e_attach", "server_cli"}
        if not SANITIZE:
            want |= {"fuzz_nas", "fuzz_prov"}
        self.assertEqual(want - names, set())


class TreeTest(unittest.TestCase):
    def test_docs_name_only_files_in_the_project(self):
        docs = [os.path.join(SRC, "README.md")]
        for d in ("docs",):
            for n in sorted(os.listdir(os.path.join(SRC, d))):
                if n.endswith(".md"):
                    docs.append(os.path.join(SRC, d, n))
        for p in docs:
            with open(p) as f:
                text = f.read()
            self.assertNotIn("../shared", text, p)
            for link in re.findall(r"\]\(([^)#]+)\)", text):
                if re.match(r"[a-z]+:", link):
                    continue
                target = os.path.normpath(os.path.join(os.path.dirname(p), link))
                self.assertTrue(target.startswith(SRC + os.sep), f"{p}: {link}")
                self.assertTrue(os.path.exists(target), f"{p}: {link} missing")

    def test_no_pycache_in_the_source_tree(self):
        self.assertEqual(os.environ.get("PYTHONDONTWRITEBYTECODE"), "1")
        with open(os.path.join(SRC, ".gitignore")) as f:
            self.assertIn("__pycache__/", f.read().split())
        left = []
        for root, dirs, _ in os.walk(SRC):
            dirs[:] = [d for d in dirs if d not in ("node_modules", "third_party", ".git")
                       and not d.startswith("build")]
            left += [os.path.join(root, d) for d in dirs if d == "__pycache__"]
        self.assertEqual(left, [])


if __name__ == "__main__":
    unittest.main()

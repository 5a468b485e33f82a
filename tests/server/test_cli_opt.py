"""ca-server's shared option helper (server/cli/cli_opt.c) through the
binary: an unknown option, a missing value, a bad --limit / --after and
--help behave the same in every subcommand that uses it, exit 2 with the
subcommand's usage, and nothing is opened or changed when they refuse."""
import os
import shutil
import sqlite3
import subprocess
import tempfile
import unittest

BIN = os.path.join(os.environ.get("PROVCA_BIN", "build/bin"), "ca-server")


def run(*args):
    return subprocess.run([BIN, *args], capture_output=True, text=True,
                          timeout=120)


class CliOptTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="provca-cliopt-")
        cls.data = os.path.join(cls.tmp, "data")
        p = run("init", "--data", cls.data, "--plain-keys", "--example-oids",
                "--root-dir", os.path.join(cls.tmp, "root"))
        assert p.returncode == 0, p.stderr

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def audit_rows(self):
        p = run("audit", "--data", self.data, "--json", "--limit", "1000")
        self.assertEqual(p.returncode, 0, p.stderr)
        return p.stdout

    def refused(self, args, usage_head, needle=None):
        p = run(*args)
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertEqual(p.stdout, "")
        lines = p.stderr.strip().splitlines()
        # the usage ends stderr; a multi-line usage (ca) continues its
        # first line with indented lines
        first = [i for i, l in enumerate(lines) if l.startswith("usage: ")]
        self.assertTrue(first, p.stderr)
        self.assertTrue(lines[first[0]].startswith("usage: " + usage_head),
                        p.stderr)
        self.assertTrue(all(l.startswith(" ") for l in lines[first[0] + 1:]),
                        p.stderr)
        if needle is not None:
            self.assertIn(needle, p.stderr)
        return p

    def test_unknown_option_in_every_group(self):
        before = self.audit_rows()
        cases = [
            (["list"], "ca-server list "),
            (["show", "X"], "ca-server show "),
            (["audit"], "ca-server audit "),
            (["revoke", "X"], "ca-server revoke "),
            (["crl"], "ca-server crl "),
            (["backup"], "ca-server backup "),
            (["enroll"], "ca-server enroll "),
            (["manufacturer", "list"], "ca-server manufacturer "),
            (["principal", "list"], "ca-server principal "),
            (["principal", "add"], "ca-server principal add "),
            (["config", "show"], "ca-server config "),
            (["init"], "ca-server init "),
            (["user", "add"], "ca-server user add "),
            (["ca", "list"], "ca-server ca list "),
            (["ca", "add"], "ca-server ca list "),
        ]
        for args, head in cases:
            with self.subTest(args=args):
                self.refused([*args, "--data", self.data, "--bogus"], head,
                             "--bogus")
        self.assertEqual(self.audit_rows(), before)

    def test_missing_value(self):
        p = self.refused(["list", "--data", self.data, "--limit"],
                         "ca-server list ", "--limit")
        self.assertIn("requires an argument", p.stderr)
        self.refused(["audit", "--data", self.data, "--actor"],
                     "ca-server audit ", "requires an argument")
        self.refused(["revoke", "X", "--data", self.data, "--reason"],
                     "ca-server revoke ", "requires an argument")
        self.refused(["ca", "add", "--data", self.data, "--cert"],
                     "ca-server ca list ", "requires an argument")
        self.refused(["init", "--data", self.data + "-new", "--plain-keys",
                      "--pen", "0"], "ca-server init ",
                     "--pen must be a positive decimal number")
        self.assertFalse(os.path.exists(self.data + "-new"))

    def test_bad_limit_and_after(self):
        for cmd in ("list", "audit"):
            for bad in ("0", "1001", "-1", "ten", "5x", ""):
                with self.subTest(cmd=cmd, limit=bad):
                    self.refused([cmd, "--data", self.data, "--limit", bad],
                                 "ca-server " + cmd,
                                 "ca-server: --limit is 1..1000")
            for bad in ("-1", "abc", "1.5"):
                with self.subTest(cmd=cmd, after=bad):
                    self.refused([cmd, "--data", self.data, "--after", bad],
                                 "ca-server " + cmd,
                                 "ca-server: bad --after cursor")
        # the edges are accepted
        for cmd in ("list", "audit"):
            for good in ("1", "1000"):
                p = run(cmd, "--data", self.data, "--limit", good,
                        "--after", "0")
                self.assertEqual(p.returncode, 0, p.stderr)

    def test_option_a_subcommand_refuses(self):
        # options the shared table knows but this verb does not take
        self.refused(["suspend", "X", "--data", self.data, "--reason",
                      "superseded"], "ca-server suspend ")
        self.refused(["principal", "renew", "n", "--data", self.data,
                      "--role", "admin", "--out", self.tmp],
                     "ca-server principal renew ",
                     "a renewal keeps the role")
        self.refused(["signer", "add", "--data", self.data, "--role",
                      "admin", "--name", "s", "--out", self.tmp],
                     "ca-server principal add ",
                     "signer add takes no --role")

    def test_help_prints_usage_and_exits_0(self):
        for args, head in [(["list"], "ca-server list "),
                           (["audit"], "ca-server audit "),
                           (["principal", "disable"],
                            "ca-server principal disable --data DIR NAME"),
                           (["principal", "revoke"],
                            "ca-server principal revoke NAME"),
                           (["config"], "ca-server config "),
                           (["ca", "list"], "ca-server ca list ")]:
            with self.subTest(args=args):
                p = run(*args, "--help")
                self.assertEqual(p.returncode, 0, p.stderr)
                self.assertTrue(p.stdout.startswith("usage: " + head),
                                p.stdout)
                self.assertEqual(p.stderr, "")

    def users(self):
        con = sqlite3.connect(os.path.join(self.data, "registry.db"))
        try:
            return con.execute("SELECT name, role, manufacturer_id, "
                               "disabled FROM portal_users ORDER BY name"
                               ).fetchall()
        finally:
            con.close()

    def test_user_add_on_the_shared_loop(self):
        pw = os.path.join(self.tmp, "pw")
        with open(pw, "w") as f:
            f.write("correct horse battery staple\n")
        before = self.users()
        for args, needle in [
                (["--name", "ann", "--role", "admin"], None),
                (["--name", "ann", "--role", "root", "--password-file", pw],
                 None),
                (["--name", "ann", "--role", "admin", "--password-file"],
                 "requires an argument"),
                (["--name", "ann", "--role", "admin", "--password-file", pw,
                  "--json"], "takes no --json"),
                (["--name", "ann", "--role", "manufacturer",
                  "--manufacturer-id", "nosuch", "--password-file", pw],
                 "no manufacturer nosuch")]:
            with self.subTest(args=args):
                p = run("user", "add", "--data", self.data, *args)
                self.assertEqual(p.returncode, 2, p.stderr)
                if needle is not None:
                    self.assertIn(needle, p.stderr)
        self.assertEqual(self.users(), before)
        p = run("user", "add", "--data", self.data, "--name", "ann",
                "--role", "admin", "--password-file", pw)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stdout, "user ann added (admin)\n")
        self.assertIn(("ann", "admin", None, 0), self.users())
        self.assertIn('"user.create"', self.audit_rows())
        p = run("user", "add", "--data", self.data, "--name", "ann",
                "--role", "admin", "--password-file", pw)
        self.assertNotEqual(p.returncode, 0)
        self.assertEqual([u for u in self.users() if u[0] == "ann"],
                         [("ann", "admin", None, 0)])


if __name__ == "__main__":
    unittest.main()

"""File-key custody and the offline Root, without a token.

`ca-server init` refuses to write unencrypted key files unless told
`--plain-keys`, and leaves nothing behind when it refuses; with a passphrase
(file or environment variable) every key file is PKCS#8 PBES2 with scrypt
and AES-256-CBC (checked with `openssl asn1parse`); the Root key goes to the
offline folder only; `serve` opens encrypted keys with the passphrase from a
variable, logs each key's custody (file-encrypted / file-plain) without the
passphrase, starts with the Root folder gone, and refuses while an
unencrypted Root key sits in the data folder (an encrypted one is not
refused)."""
import os
import shutil
import subprocess
import sys
import unittest

SRC = os.environ.get("PROVCA_SRC", os.path.abspath(
    os.path.join(os.path.dirname(__file__), "..", "..")))
sys.path.insert(0, os.path.join(SRC, "tests", "e2e"))
import harness  # noqa: E402

CS = harness.prog("ca-server")
PASS = "tr0ub4dor&3-custody"


def cs(*args, ok=True, env=None):
    p = subprocess.run([CS, *args], capture_output=True, text=True,
                       timeout=300, env=env)
    if ok and p.returncode != 0:
        raise AssertionError(f"{args}: rc={p.returncode} {p.stderr}")
    return p


class KeyCustodyTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.world = harness.World()
        cls.tmp = cls.world.tmp
        cls.env = dict(os.environ, PROVCA_TEST_KEY_PASS=PASS)
        cls.enc = os.path.join(cls.tmp, "enc")
        cls.init_out = cs("init", "--example-oids", "--data", cls.enc, "--key-pass-env",
                          "PROVCA_TEST_KEY_PASS", env=cls.env).stdout
        cls.plain = os.path.join(cls.tmp, "plain")
        cs("init", "--example-oids", "--data", cls.plain, "--plain-keys", "--root-dir",
           os.path.join(cls.tmp, "vault"))

    @classmethod
    def tearDownClass(cls):
        cls.world.close()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def serve(self, data, *extra, env=None):
        old = os.environ.copy()
        if env:
            os.environ.update(env)
        try:
            srv = harness.Proc([CS, "serve", "--data", data, "--listen",
                                "127.0.0.1:0", *extra],
                               r"listening on https://127\.0\.0\.1:(\d+)",
                               os.path.join(self.tmp, "serve-%s.log" %
                                            os.path.basename(data)))
        finally:
            os.environ.clear()
            os.environ.update(old)
        self.world.stoppers.append(srv.stop)
        return srv

    def test_init_without_passphrase_or_plain_keys_is_refused(self):
        d = os.path.join(self.tmp, "nopass")
        p = cs("init", "--example-oids", "--data", d, ok=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("--plain-keys", p.stderr)
        self.assertFalse(os.path.exists(d))
        self.assertFalse(os.path.exists(d + "-root"))
        p = cs("init", "--example-oids", "--data", d, "--plain-keys", "--key-pass-env",
               "PROVCA_TEST_KEY_PASS", ok=False, env=self.env)
        self.assertEqual(p.returncode, 1)
        self.assertFalse(os.path.exists(d))

    def test_key_files_are_scrypt_aes256(self):
        for f in ("enc/device-ca.key", "enc/infra-ca.key", "enc/server.key",
                  "enc-root/root-ca.key"):
            path = os.path.join(self.tmp, f)
            self.assertEqual(os.stat(path).st_mode & 0o777, 0o600, f)
            with open(path) as fh:
                self.assertIn("BEGIN ENCRYPTED PRIVATE KEY", fh.read())
            out = subprocess.run(["openssl", "asn1parse", "-in", path],
                                 capture_output=True, text=True,
                                 check=True).stdout
            self.assertIn("PBES2", out, f)
            self.assertRegex(out, r"OBJECT\s+:scrypt\n", f)
            self.assertIn("aes-256-cbc", out, f)
            # N = 16384 (0x4000), r = 8, p = 1.
            self.assertRegex(out, r"INTEGER\s+:4000\n.*INTEGER\s+:08\n"
                             r".*INTEGER\s+:01\n")
        self.assertFalse(os.path.exists(os.path.join(self.enc,
                                                     "root-ca.key")))
        self.assertIn(self.enc + "-root/root-ca.key", self.init_out)
        # The plain CA: Root in the named folder, nothing encrypted.
        self.assertTrue(os.path.exists(os.path.join(self.tmp, "vault",
                                                    "root-ca.key")))
        with open(os.path.join(self.plain, "device-ca.key")) as fh:
            self.assertIn("BEGIN PRIVATE KEY", fh.read())

    def test_commands_take_the_passphrase_from_a_variable(self):
        p = cs("manufacturer", "list", "--data", self.enc, ok=False)
        self.assertIn("passphrase", p.stderr)
        p = cs("manufacturer", "list", "--data", self.enc, "--key-pass-env",
               "PROVCA_TEST_KEY_PASS", ok=False, env=dict(
                   os.environ, PROVCA_TEST_KEY_PASS="wrong"))
        self.assertIn("wrong passphrase", p.stderr)
        cs("manufacturer", "list", "--data", self.enc, "--key-pass-env",
           "PROVCA_TEST_KEY_PASS", env=self.env)

    def test_serve_logs_custody(self):
        srv = self.serve(self.enc, "--key-pass-env", "PROVCA_TEST_KEY_PASS",
                         env={"PROVCA_TEST_KEY_PASS": PASS})
        log = srv.stderr()
        self.assertIn("key custody: device-ca file-encrypted, infra-ca "
                      "file-encrypted, tls file-encrypted, cmp-signer "
                      "file-encrypted", log)
        self.assertNotIn(PASS, log)
        srv.stop()
        srv = self.serve(self.plain)
        self.assertIn("key custody: device-ca file-plain, infra-ca "
                      "file-plain, tls file-plain, cmp-signer file-plain",
                      srv.stderr())
        srv.stop()

    def test_serve_never_opens_the_root_and_refuses_a_plain_one(self):
        vault = os.path.join(self.tmp, "vault")
        os.rename(vault, vault + ".away")
        try:
            srv = self.serve(self.plain)  # the Root folder is gone
            srv.stop()
            shutil.copy(os.path.join(vault + ".away", "root-ca.key"),
                        os.path.join(self.plain, "root-ca.key"))
            p = cs("serve", "--data", self.plain, "--listen", "127.0.0.1:0",
                   ok=False)
            self.assertNotEqual(p.returncode, 0)
            self.assertIn("unencrypted Root key", p.stderr)
        finally:
            if os.path.exists(os.path.join(self.plain, "root-ca.key")):
                os.unlink(os.path.join(self.plain, "root-ca.key"))
            os.rename(vault + ".away", vault)
        # An encrypted Root key in the data folder is not refused.
        shutil.copy(os.path.join(self.enc + "-root", "root-ca.key"),
                    os.path.join(self.enc, "root-ca.key"))
        try:
            srv = self.serve(self.enc, "--key-pass-env",
                             "PROVCA_TEST_KEY_PASS",
                             env={"PROVCA_TEST_KEY_PASS": PASS})
            srv.stop()
        finally:
            os.unlink(os.path.join(self.enc, "root-ca.key"))


if __name__ == "__main__":
    unittest.main()

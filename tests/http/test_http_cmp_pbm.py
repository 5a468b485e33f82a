"""CMP with MAC-based protection (issue 18): one-time secrets made by an
administrator (`ca-server cmp-secret create`) or a manufacturer
(POST /api/v1/cmp-secrets) let a factory line without a certificate enroll
one device each with the real `openssl cmp -cmd ir -ref REF -secret ...`
at /.well-known/cmp/p/pbm. A secret is stored encrypted, used up by the
enrollment that uses it, and refused after use, after expiry, with the
wrong value or for anything but an ir — each with a PKIFailureInfo and
nothing stored."""
import json
import os
import re
import sqlite3
import subprocess
import time
import unittest

from httptest import CA, Server, run


def sh(*cmd):
    return subprocess.run(list(cmd), capture_output=True, text=True, timeout=120)


class CmpPbmTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.ca = CA()
        cls.m1 = cls.ca.principal("pbm-m1", "manufacturer", "acme")
        cls.other = cls.ca.principal("pbm-o1", "manufacturer", "zeta")
        cls.op = cls.ca.principal("pbm-op", "operator")
        cls.srv = Server(cls.ca)
        cls.n = 0

    @classmethod
    def tearDownClass(cls):
        # A clean exit (under the sanitizer build: no leak report).
        rc = cls.srv.stop()
        log = cls.srv.stderr()
        cls.ca.cleanup()
        if rc != 0 or "Sanitizer" in log:
            raise AssertionError("ca-server exited %s: %s" % (rc, log[-3000:]))

    def path(self, name):
        return os.path.join(self.ca.tmp, name)

    def newkey(self):
        CmpPbmTest.n += 1
        key = self.path("pbm-%d.key" % CmpPbmTest.n)
        p = sh("openssl", "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", key)
        self.assertEqual(p.returncode, 0, p.stderr)
        return key

    def secrets(self, mfr="acme", *args):
        p = run("cmp-secret", "create", "--data", self.ca.data, "--manufacturer", mfr, *args)
        return [tuple(l.split("\t")) for l in p.stdout.splitlines()]

    def db(self, sql, *args):
        con = sqlite3.connect(os.path.join(self.ca.data, "registry.db"))
        try:
            with con:
                return con.execute(sql, args).fetchall()
        finally:
            con.close()

    def rows(self):
        return tuple(self.db("SELECT count(*) FROM " + t)[0][0]
                     for t in ("devices", "certificates", "audit"))

    def used(self, ref):
        return self.db("SELECT used_at > 0, device_id FROM cmp_secrets WHERE ref = ?", ref)[0]

    def ir(self, ref, secret, subject, out, *args, cmd="ir", path=".well-known/cmp/p/pbm"):
        if os.path.exists(out):
            os.unlink(out)
        auth = ["-ref", ref, "-secret", "pass:" + secret] if ref else []
        return sh("openssl", "cmp", "-cmd", cmd, "-server", "127.0.0.1:%d" % self.srv.port,
                  "-path", path, "-tls_used", "-tls_trusted", self.ca.root, "-tls_host", "127.0.0.1",
                  *auth, "-newkey", self.newkey(), "-subject", subject, "-certout", out, *args)

    def test_cli_makes_encrypted_one_time_secrets(self):
        s = self.secrets("acme", "--count", "3", "--valid-hours", "2")
        self.assertEqual(len(s), 3)
        self.assertEqual(len({r for r, _, _ in s}), 3)
        for ref, secret, expires in s:
            self.assertRegex(ref, r"^pbm-[0-9a-f]{16}$")
            self.assertRegex(secret, r"^[0-9a-f]{32}$")
            self.assertRegex(expires, r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
            row = self.db("SELECT manufacturer_id, created_by, expires_at - created_at, used_at,"
                          " secret_enc FROM cmp_secrets WHERE ref = ?", ref)[0]
            self.assertEqual(row[:4], ("acme", "cli", 7200, 0))
            self.assertNotIn(secret.encode(), row[4])
            self.assertNotIn(bytes.fromhex(secret), row[4])
            self.assertEqual(self.db("SELECT actor FROM audit WHERE action = 'cmp_secret.create'"
                                     " AND target = ?", ref), [("cli",)])
        key = os.path.join(self.ca.data, "cmp-secrets.key")
        self.assertEqual(os.stat(key).st_mode & 0o777, 0o600)
        js = json.loads(run("cmp-secret", "create", "--data", self.ca.data, "--manufacturer", "acme",
                            "--json").stdout)
        self.assertEqual(len(js), 1)
        self.assertEqual(sorted(js[0]), ["expires_at", "ref", "secret"])
        # Refusals make nothing.
        before = self.db("SELECT count(*) FROM cmp_secrets")
        for args in (["--manufacturer", "nobody"], ["--manufacturer", "acme", "--count", "0"],
                     ["--manufacturer", "acme", "--valid-hours", "721"], []):
            p = run("cmp-secret", "create", "--data", self.ca.data, *args, check=False)
            self.assertNotEqual(p.returncode, 0, args)
        self.assertEqual(self.db("SELECT count(*) FROM cmp_secrets"), before)

    def test_ir_with_a_secret_enrolls_once(self):
        (ref, secret, _), (ref2, secret2, _) = self.secrets("acme", "--count", "2")
        out = self.path("pbm-d1.pem")
        p = self.ir(ref, secret, "/serialNumber=PBM-0001/CN=Sensor 5/OU=rev.A", out, "-implicit_confirm")
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIn("received IP", p.stdout + p.stderr)
        t = sh("openssl", "x509", "-in", out, "-noout", "-subject", "-ext", "subjectAltName").stdout
        self.assertIn("serialNumber = PBM-0001, O = Maker acme, CN = acme-", t)
        self.assertIn("URI:urn:dev:org:32473-acme:PBM-0001", t)
        v = sh("openssl", "verify", "-CAfile", self.ca.root, "-untrusted",
               os.path.join(self.ca.data, "device-ca.crt"), out)
        self.assertEqual(v.returncode, 0, v.stdout + v.stderr)
        dev = self.db("SELECT device_id, manufacturer_id, serial, model, hw_version, status FROM devices"
                      " WHERE serial = 'PBM-0001'")
        self.assertEqual(dev[0][1:], ("acme", "PBM-0001", "Sensor 5", "rev.A", "active"))
        self.assertEqual(self.used(ref), (1, dev[0][0]))
        self.assertEqual(self.db("SELECT actor FROM audit WHERE action = 'device.issue' AND target = ?",
                                 dev[0][0]), [(ref,)])
        # Single use: the same secret again is refused (the answer is
        # MAC-protected with it, so the client shows the reason).
        before = self.rows()
        p = self.ir(ref, secret, "/serialNumber=PBM-0002/CN=Sensor 5", out, "-implicit_confirm")
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("PKIFailureInfo: notAuthorized", p.stdout + p.stderr)
        self.assertIn("was used already", p.stdout + p.stderr)
        self.assertFalse(os.path.exists(out))
        self.assertEqual(self.rows(), before)
        # The batch's other secret is a secret of its own.
        p = self.ir(ref2, secret2, "/serialNumber=PBM-0002/CN=Sensor 5", out, "-implicit_confirm")
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertEqual(self.used(ref2)[0], 1)

    def test_refusals_store_nothing_and_use_nothing(self):
        (ref, secret, _), = self.secrets()
        out = self.path("pbm-bad.pem")
        before = self.rows()
        cases = [
            # Wrong secret: the answer cannot be MAC-protected with it.
            (lambda: self.ir(ref, "0" * 32, "/serialNumber=PBM-B1/CN=S", out, "-implicit_confirm",
                             "-unprotected_errors"), "badMessageCheck", "does not verify"),
            (lambda: self.ir("pbm-0000000000000000", secret, "/serialNumber=PBM-B2/CN=S", out,
                             "-implicit_confirm", "-unprotected_errors"), "notAuthorized",
             "no one-time secret"),
            # A reference longer than any ProvCA makes names nothing.
            (lambda: self.ir("r" * 80, secret, "/serialNumber=PBM-B8/CN=S", out, "-implicit_confirm",
                             "-unprotected_errors"), "badRequest", "must name a one-time secret"),
            # A secret serves an ir only.
            (lambda: self.ir(ref, secret, "/serialNumber=PBM-B3/CN=S", out, "-implicit_confirm",
                             cmd="cr"), "badRequest", "ir only"),
            # Proof of possession.
            (lambda: self.ir(ref, secret, "/serialNumber=PBM-B4/CN=S", out, "-implicit_confirm",
                             "-popo", "-1"), "badPOP", ""),
            (lambda: self.ir(ref, secret, "/CN=S", out, "-implicit_confirm"), "badCertTemplate",
             "serialNumber"),
            # A signed request on the MAC path.
            (lambda: self.ir(None, None, "/serialNumber=PBM-B6/CN=S", out, "-implicit_confirm",
                             "-cert", self.m1.cert, "-key", self.m1.key, "-trusted", self.ca.root),
             "wrongIntegrity", "MAC-protected"),
        ]
        for run_case, info, text in cases:
            p = run_case()
            self.assertNotEqual(p.returncode, 0, info)
            self.assertIn("PKIFailureInfo: " + info, p.stdout + p.stderr)
            self.assertIn(text, p.stdout + p.stderr)
            self.assertFalse(os.path.exists(out))
            self.assertEqual(self.used(ref), (0, None), info)
        self.assertEqual(self.rows(), before)
        # Expired: refused although it was never used.
        self.db("UPDATE cmp_secrets SET expires_at = ? WHERE ref = ?", int(time.time()) - 1, ref)
        p = self.ir(ref, secret, "/serialNumber=PBM-B7/CN=S", out, "-implicit_confirm")
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("PKIFailureInfo: notAuthorized", p.stdout + p.stderr)
        self.assertIn("has expired", p.stdout + p.stderr)
        self.assertEqual(self.used(ref), (0, None))
        self.assertEqual(self.rows(), before)

    def test_manufacturers_and_admins_make_secrets_over_the_api(self):
        st, _, data = self.srv.curl(self.m1, "POST", "/api/v1/cmp-secrets", {"count": 2, "valid_hours": 1})
        self.assertEqual(st, 201, data)
        doc = json.loads(data)
        self.assertEqual(doc["manufacturer_id"], "acme")
        self.assertEqual(len(doc["secrets"]), 2)
        ref, secret = doc["secrets"][0]["ref"], doc["secrets"][0]["secret"]
        self.assertEqual(self.db("SELECT manufacturer_id, created_by, expires_at - created_at"
                                 " FROM cmp_secrets WHERE ref = ?", ref), [("acme", "pbm-m1", 3600)])
        # Only for its own devices; an admin names the manufacturer.
        st, _, data = self.srv.curl(self.m1, "POST", "/api/v1/cmp-secrets", {"manufacturer_id": "zeta"})
        self.assertEqual(st, 403, data)
        st, _, data = self.srv.curl(self.ca.admin, "POST", "/api/v1/cmp-secrets", {})
        self.assertEqual(st, 422, data)
        st, _, data = self.srv.curl(self.ca.admin, "POST", "/api/v1/cmp-secrets", {"manufacturer_id": "nobody"})
        self.assertEqual(st, 422, data)
        st, _, data = self.srv.curl(self.ca.admin, "POST", "/api/v1/cmp-secrets", {"count": 1001,
                                                                                   "manufacturer_id": "zeta"})
        self.assertEqual(st, 422, data)
        st, _, data = self.srv.curl(self.op, "POST", "/api/v1/cmp-secrets", {"manufacturer_id": "acme"})
        self.assertEqual(st, 403, data)
        st, _, data = self.srv.curl(self.ca.admin, "POST", "/api/v1/cmp-secrets", {"manufacturer_id": "zeta"})
        self.assertEqual(st, 201, data)
        zref, zsecret = json.loads(data)["secrets"][0]["ref"], json.loads(data)["secrets"][0]["secret"]
        self.assertEqual(self.db("SELECT created_by FROM cmp_secrets WHERE ref = ?", zref), [("admin",)])
        # Each enrolls a device of its own manufacturer.
        for r, s, mfr in ((ref, secret, "acme"), (zref, zsecret, "zeta")):
            out = self.path("api-%s.pem" % mfr)
            p = self.ir(r, s, "/serialNumber=API-%s/CN=S" % mfr, out, "-implicit_confirm")
            self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
            self.assertEqual(self.db("SELECT manufacturer_id FROM devices WHERE serial = ?", "API-" + mfr),
                             [(mfr,)])
            self.assertTrue(re.search(r"O = Maker %s" % mfr,
                                      sh("openssl", "x509", "-in", out, "-noout", "-subject").stdout))


if __name__ == "__main__":
    unittest.main()

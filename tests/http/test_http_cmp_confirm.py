"""CMP certificate confirmation (issue 18): the real `openssl cmp` without
-implicit_confirm (its default) enrolls by ir, cr and p10cr, renews by kur
and on the MAC route, and sends certConf in a second HTTP exchange, which
the server answers with pkiConf after checking the sender, the
transactionID, the recipNonce and the certHash against the row it stored
at issuance. A rejecting certConf revokes the certificate
(cessationOfOperation); a certConf for another sender's certificate or an
unknown transaction is a CMP error and changes nothing."""
import base64
import os
import sqlite3
import subprocess
import unittest
import urllib.parse

from cryptography.x509 import ocsp

from httptest import CA, Ident, Server, run


def sh(*cmd):
    return subprocess.run(list(cmd), capture_output=True, text=True, timeout=120)


class CmpConfirmTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.ca = CA()
        cls.m1 = cls.ca.principal("cc-m1", "manufacturer", "acme")
        cls.m2 = cls.ca.principal("cc-m2", "manufacturer", "acme")
        cls.srv = Server(cls.ca)
        cls.n = 0
        # A CA that certifies none of ProvCA's certificates: trusting
        # only it, the client rejects what it gets (certConf rejection).
        cls.alien = os.path.join(cls.ca.tmp, "alien.crt")
        p = sh("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
               "-nodes", "-keyout", os.path.join(cls.ca.tmp, "alien.key"), "-subj", "/CN=Alien",
               "-days", "2", "-out", cls.alien)
        assert p.returncode == 0, p.stderr

    @classmethod
    def tearDownClass(cls):
        rc = cls.srv.stop()
        log = cls.srv.stderr()
        cls.ca.cleanup()
        if rc != 0 or "Sanitizer" in log:
            raise AssertionError("ca-server exited %s: %s" % (rc, log[-3000:]))

    def path(self, name):
        return os.path.join(self.ca.tmp, name)

    def newkey(self):
        CmpConfirmTest.n += 1
        key = self.path("cc-%d.key" % CmpConfirmTest.n)
        p = sh("openssl", "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", key)
        self.assertEqual(p.returncode, 0, p.stderr)
        return key

    def cmp(self, cmd, who, *args):
        return sh("openssl", "cmp", "-cmd", cmd, "-server", "127.0.0.1:%d" % self.srv.port,
                  "-path", ".well-known/cmp", "-tls_used", "-tls_cert", who.cert, "-tls_key", who.key,
                  "-tls_trusted", self.ca.root, "-tls_host", "127.0.0.1",
                  "-cert", who.cert, "-key", who.key, "-trusted", self.ca.root, *args)

    def db(self, sql, *args):
        con = sqlite3.connect(os.path.join(self.ca.data, "registry.db"))
        try:
            return con.execute(sql, args).fetchall()
        finally:
            con.close()

    def snapshot(self):
        return (self.db("SELECT * FROM devices ORDER BY seq"),
                self.db("SELECT id, revoked, revoked_reason FROM certificates ORDER BY id"),
                self.db("SELECT * FROM cmp_confirms ORDER BY id"),
                self.db("SELECT count(*) FROM audit"))

    def serial_hex(self, cert):
        s = sh("openssl", "x509", "-in", cert, "-noout", "-serial").stdout.strip().split("=")[1]
        return s.lower()

    def confirm_row(self, cert):
        return self.db("SELECT sender, issuer, state, confirmed_at > 0 FROM cmp_confirms"
                       " WHERE serial_hex = ?", self.serial_hex(cert))

    def assert_confirmed(self, p, cert, sender, issuer):
        out = p.stdout + p.stderr
        self.assertEqual(p.returncode, 0, out)
        self.assertIn("sending CERTCONF", out)
        self.assertIn("received PKICONF", out)
        self.assertEqual(self.confirm_row(cert), [(sender, issuer, "accepted", 1)])
        self.assertEqual(self.db("SELECT actor, details LIKE '%\"result\":\"accepted\"%' FROM audit"
                                 " WHERE action = 'cmp.cert_conf' ORDER BY id DESC LIMIT 1"),
                         [(sender[2:], 1)])

    def test_ir_cr_p10cr_without_implicit_confirm_are_confirmed(self):
        for cmd, serial in (("ir", "CC-IR-1"), ("cr", "CC-CR-1")):
            out = self.path(serial + ".pem")
            p = self.cmp(cmd, self.m1, "-newkey", self.newkey(), "-subject",
                         "/serialNumber=%s/CN=Sensor 1" % serial, "-certout", out)
            self.assert_confirmed(p, out, "p:cc-m1", "device")
            self.assertEqual(self.db("SELECT status FROM devices WHERE serial = ?", serial),
                             [("active",)])
        key, csr, out = self.newkey(), self.path("p10.csr"), self.path("p10.pem")
        p = sh("openssl", "req", "-new", "-key", key, "-subj", "/serialNumber=CC-P10-1/CN=Sensor 1",
               "-out", csr)
        self.assertEqual(p.returncode, 0, p.stderr)
        p = self.cmp("p10cr", self.m1, "-csr", csr, "-certout", out)
        self.assert_confirmed(p, out, "p:cc-m1", "device")

    def test_the_second_exchange_is_a_certconf_answered_by_pkiconf(self):
        reqs = [self.path("rq%d.der" % i) for i in (1, 2)]
        rsps = [self.path("rs%d.der" % i) for i in (1, 2)]
        out = self.path("CC-IR-2.pem")
        p = self.cmp("ir", self.m1, "-newkey", self.newkey(), "-subject", "/serialNumber=CC-IR-2/CN=S",
                     "-certout", out, "-reqout", ",".join(reqs), "-rspout", ",".join(rsps))
        self.assert_confirmed(p, out, "p:cc-m1", "device")

        def body_tag(f):
            t = sh("openssl", "asn1parse", "-inform", "DER", "-in", f).stdout.splitlines()
            return [l for l in t if "d=1" in l][1].split("cont [")[1].split("]")[0].strip()
        # ir [0], ip [1] (no implicitConfirm granted), certConf [24], pkiConf [19].
        self.assertEqual([body_tag(reqs[0]), body_tag(rsps[0]), body_tag(reqs[1]), body_tag(rsps[1])],
                         ["0", "1", "24", "19"])
        self.assertNotIn("implicitConfirm", sh("openssl", "asn1parse", "-inform", "DER",
                                               "-in", rsps[0]).stdout)

    def test_kur_without_implicit_confirm_is_confirmed(self):
        who = self.ca.principal("cc-kur", "manufacturer", "acme")
        out = self.path("kur.pem")
        p = self.cmp("kur", who, "-newkey", self.newkey(), "-certout", out)
        self.assert_confirmed(p, out, "p:cc-kur", "infra")
        self.assertIn("received KUP", p.stdout + p.stderr)

    def test_a_rejecting_certconf_revokes(self):
        out = self.path("CC-REJ-1.pem")
        p = self.cmp("ir", self.m1, "-newkey", self.newkey(), "-subject", "/serialNumber=CC-REJ-1/CN=S",
                     "-certout", out, "-out_trusted", self.alien)
        text = p.stdout + p.stderr
        self.assertNotEqual(p.returncode, 0, text)
        self.assertIn("rejecting newly enrolled cert", text)
        self.assertIn("sending CERTCONF", text)
        self.assertIn("received PKICONF", text)
        # Revoked with cessationOfOperation (5), audited both ways.
        self.assertEqual(self.db("SELECT status, reason FROM devices WHERE serial = 'CC-REJ-1'"),
                         [("revoked", 5)])
        did = self.db("SELECT device_id FROM devices WHERE serial = 'CC-REJ-1'")[0][0]
        self.assertEqual(self.db("SELECT actor FROM audit WHERE action = 'device.revoke' AND target = ?",
                                 did), [("cc-m1",)])
        self.assertEqual(self.db("SELECT count(*) FROM audit WHERE action = 'cmp.cert_conf' AND"
                                 " target = ? AND details LIKE '%\"result\":\"rejected\"%'", did), [(1,)])
        self.assertEqual(self.db("SELECT state FROM cmp_confirms WHERE target = ?", did), [("rejected",)])
        # OCSP says so at once (the certificate from the registry: the
        # client kept none).
        der = self.db("SELECT der FROM certificates WHERE device_id = ?", did)[0][0]
        self.assertEqual(self.ocsp_status(der), (ocsp.OCSPCertStatus.REVOKED, "cessation_of_operation"))
        # As after a refused enrollment, the serial may enroll again.
        out2 = self.path("CC-REJ-1b.pem")
        p = self.cmp("ir", self.m1, "-newkey", self.newkey(), "-subject", "/serialNumber=CC-REJ-1/CN=S",
                     "-certout", out2)
        self.assert_confirmed(p, out2, "p:cc-m1", "device")
        self.assertEqual(self.db("SELECT status FROM devices WHERE serial = 'CC-REJ-1' ORDER BY seq"),
                         [("revoked",), ("active",)])

    def test_a_rejected_kur_revokes_only_the_new_certificate(self):
        who = self.ca.principal("cc-kur2", "manufacturer", "acme")
        out = self.path("kur2.pem")
        p = self.cmp("kur", who, "-newkey", self.newkey(), "-certout", out, "-out_trusted", self.alien)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("received PKICONF", p.stdout + p.stderr)
        rows = self.db("SELECT c.serial_hex, c.revoked, c.revoked_reason FROM certificates c JOIN"
                       " principals p ON c.principal_id = p.id WHERE p.name = 'cc-kur2' ORDER BY c.id")
        self.assertEqual(len(rows), 2)
        self.assertEqual(rows[0][1], 0)
        self.assertEqual(rows[1][1:], (1, 5))
        self.assertEqual(self.confirm_row_by_serial(rows[1][0]), [("rejected",)])
        # The old certificate still works.
        p = self.cmp("genm", who)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)

    def ocsp_status(self, der):
        cert, req, out = self.path("o.der"), self.path("o-req.der"), self.path("o-resp.der")
        with open(cert, "wb") as f:
            f.write(der)
        pem = self.path("o.pem")
        p = sh("openssl", "x509", "-inform", "DER", "-in", cert, "-out", pem)
        self.assertEqual(p.returncode, 0, p.stderr)
        p = sh("openssl", "ocsp", "-issuer", os.path.join(self.ca.data, "device-ca.crt"), "-cert", pem,
               "-no_nonce", "-reqout", req)
        self.assertEqual(p.returncode, 0, p.stderr)
        with open(req, "rb") as f:
            b64 = urllib.parse.quote(base64.b64encode(f.read()).decode(), safe="")
        p = sh("curl", "-sS", "--cacert", self.ca.root, "-o", out, self.srv.base + "/ocsp/" + b64)
        self.assertEqual(p.returncode, 0, p.stderr)
        with open(out, "rb") as f:
            r = ocsp.load_der_ocsp_response(f.read())
        return r.certificate_status, (r.revocation_reason.name if r.revocation_reason else None)

    def confirm_row_by_serial(self, serial):
        return self.db("SELECT state FROM cmp_confirms WHERE serial_hex = ?", serial)

    def test_a_foreign_or_unknown_certconf_is_refused_and_changes_nothing(self):
        reqs = [self.path("f%d.der" % i) for i in (1, 2)]
        out = self.path("CC-F-1.pem")
        # m1 enrolls and confirms; -reqout keeps its certConf (f2.der).
        p = self.cmp("ir", self.m1, "-newkey", self.newkey(), "-subject", "/serialNumber=CC-F-1/CN=S",
                     "-certout", out, "-reqout", ",".join(reqs))
        self.assert_confirmed(p, out, "p:cc-m1", "device")
        before = self.snapshot()
        # m2 sends m1's certConf (same certHash), re-protected by m2 in a
        # fresh transaction: no certificate of m2's awaits it.
        p = self.cmp("ir", self.m2, "-reqin", reqs[1], "-reqin_new_tid", "-newkey", self.newkey(),
                     "-subject", "/serialNumber=CC-F-2/CN=S", "-unprotected_errors", "-certout", self.path("never.pem"))
        text = p.stdout + p.stderr
        self.assertNotEqual(p.returncode, 0, text)
        self.assertIn("PKIFailureInfo: badRequest", text)
        self.assertIn("StatusString: \"unexpected pkibody\"", text)
        # m2 sends it as m1 signed it (m1's transaction): not m2's signature.
        p = self.cmp("ir", self.m2, "-reqin", reqs[1], "-newkey", self.newkey(),
                     "-subject", "/serialNumber=CC-F-3/CN=S", "-unprotected_errors", "-certout", self.path("never.pem"))
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("badRequest", p.stdout + p.stderr)
        # m1 itself, in an unknown transaction.
        p = self.cmp("ir", self.m1, "-reqin", reqs[1], "-reqin_new_tid", "-newkey", self.newkey(),
                     "-subject", "/serialNumber=CC-F-4/CN=S", "-unprotected_errors", "-certout", self.path("never.pem"))
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("StatusString: \"unexpected pkibody\"", p.stdout + p.stderr)
        self.assertEqual(self.snapshot(), before)

    def test_a_repeated_certconf_is_answered_again_and_each_check_holds(self):
        reqs = [self.path("r%d.der" % i) for i in (1, 2)]
        out = self.path("CC-R-1.pem")
        p = self.cmp("ir", self.m1, "-newkey", self.newkey(), "-subject", "/serialNumber=CC-R-1/CN=S",
                     "-certout", out, "-reqout", ",".join(reqs))
        self.assert_confirmed(p, out, "p:cc-m1", "device")
        serial = self.serial_hex(out)
        rsp = self.path("r-rsp.der")

        def resend():
            if os.path.exists(rsp):
                os.unlink(rsp)
            p = self.cmp("ir", self.m1, "-reqin", reqs[1], "-newkey", self.newkey(),
                         "-subject", "/serialNumber=CC-R-9/CN=S", "-certout", self.path("never.pem"),
                         "-rspout", rsp, "-unprotected_errors")
            t = sh("openssl", "asn1parse", "-inform", "DER", "-in", rsp).stdout
            return p.stdout + p.stderr, [l for l in t.splitlines() if "d=1" in l][1]
        before = self.snapshot()
        # The same certConf again (its pkiConf lost): pkiConf again, nothing changes.
        text, body = resend()
        self.assertIn("cont [ 19 ]", body, text)
        self.assertEqual(self.snapshot(), before)
        # The recipNonce must echo the ip's senderNonce (OpenSSL checks it
        # against the nonce the row kept).
        (nonce, cert_hash), = self.db("SELECT nonce, cert_hash FROM cmp_confirms WHERE serial_hex = ?",
                                      serial)
        self.db_write("UPDATE cmp_confirms SET nonce = ? WHERE serial_hex = ?", "00" * 16, serial)
        text, body = resend()
        self.assertIn("cont [ 23 ]", body, text)  # error
        self.assertIn("recipnonce unmatched", text)
        # The certHash must be the certificate's (and the row still pending:
        # a mismatch settles nothing).
        self.db_write("UPDATE cmp_confirms SET nonce = ?, cert_hash = ?, state = 'pending'"
                      " WHERE serial_hex = ?", nonce, "ab" * 32, serial)
        text, body = resend()
        self.assertIn("cont [ 23 ]", body, text)
        self.assertIn("certHash is not that of the certificate", text)
        self.assertEqual(self.db("SELECT state FROM cmp_confirms WHERE serial_hex = ?", serial),
                         [("pending",)])
        self.assertEqual(self.db("SELECT status FROM devices WHERE serial = 'CC-R-1'"), [("active",)])
        self.assertEqual(len(cert_hash), 64)

    def db_write(self, sql, *args):
        con = sqlite3.connect(os.path.join(self.ca.data, "registry.db"))
        try:
            with con:
                con.execute(sql, args)
        finally:
            con.close()

    def test_mac_route_certconf_with_the_used_secret(self):
        lines = run("cmp-secret", "create", "--data", self.ca.data, "--manufacturer", "acme",
                    "--count", "2").stdout.splitlines()
        (ref, secret), (ref2, secret2) = [tuple(l.split("\t")[:2]) for l in lines]
        reqs = [self.path("m%d.der" % i) for i in (1, 2)]
        out = self.path("CC-PBM-1.pem")

        def pbm(r, s, *args):
            return sh("openssl", "cmp", "-cmd", "ir", "-server", "127.0.0.1:%d" % self.srv.port,
                      "-path", ".well-known/cmp/p/pbm", "-tls_used", "-tls_trusted", self.ca.root,
                      "-tls_host", "127.0.0.1", "-ref", r, "-secret", "pass:" + s,
                      "-newkey", self.newkey(), *args)
        p = pbm(ref, secret, "-subject", "/serialNumber=CC-PBM-1/CN=S", "-certout", out,
                "-reqout", ",".join(reqs))
        self.assert_confirmed(p, out, "s:" + ref, "device")
        self.assertEqual(self.db("SELECT used_at > 0 FROM cmp_secrets WHERE ref = ?", ref), [(1,)])
        before = self.snapshot()
        # The other secret's holder cannot confirm (or reject) it.
        p = pbm(ref2, secret2, "-subject", "/serialNumber=CC-PBM-2/CN=S", "-reqin", reqs[1],
                "-reqin_new_tid", "-unprotected_errors", "-certout", self.path("never.pem"))
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("StatusString: \"unexpected pkibody\"", p.stdout + p.stderr)
        self.assertEqual(self.snapshot(), before)
        self.assertEqual(self.db("SELECT used_at FROM cmp_secrets WHERE ref = ?", ref2), [(0,)])


if __name__ == "__main__":
    unittest.main()

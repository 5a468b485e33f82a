"""CMP (issue 18 §1, first part): the real `openssl cmp` client enrolls a
device by p10cr over HTTPS at /.well-known/cmp, signing with the
manufacturer principal's certificate, and an administrator revokes by rr
(OCSP and CRL at once); the device is recorded as REST
enrollment records it (and a repeat is idempotent); refusals come back as
CMP messages with a PKIFailureInfo and store nothing."""
import base64
import os
import sqlite3
import subprocess
import unittest
import urllib.parse

from cryptography.x509 import ocsp

from httptest import CA, Server


def sh(*cmd):
    return subprocess.run(list(cmd), capture_output=True, text=True, timeout=120)


class CmpTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.ca = CA()
        cls.m1 = cls.ca.principal("cmp-m1", "manufacturer", "acme")
        cls.m2 = cls.ca.principal("cmp-m2", "manufacturer", "acme")
        cls.srv = Server(cls.ca)

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()
        cls.ca.cleanup()

    def path(self, name):
        return os.path.join(self.ca.tmp, name)

    def csr(self, name, subject):
        key, csr = self.path(name + ".key"), self.path(name + ".csr")
        p = sh("openssl", "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
               "-nodes", "-keyout", key, "-subj", subject, "-out", csr)
        self.assertEqual(p.returncode, 0, p.stderr)
        return csr

    def cmp(self, csr, out, tls=None, signer=None):
        tls = tls or self.m1
        signer = signer or tls
        if os.path.exists(out):
            os.unlink(out)
        return sh("openssl", "cmp", "-cmd", "p10cr", "-server", "127.0.0.1:%d" % self.srv.port,
                  "-path", ".well-known/cmp", "-tls_used", "-tls_cert", tls.cert, "-tls_key", tls.key,
                  "-tls_trusted", self.ca.root, "-tls_host", "127.0.0.1",
                  "-cert", signer.cert, "-key", signer.key,
                  "-srvcert", os.path.join(self.ca.data, "server.crt"),
                  "-csr", csr, "-certout", out, "-implicit_confirm")

    def test_genm_gets_a_protected_genp(self):
        p = sh("openssl", "cmp", "-cmd", "genm", "-server", "127.0.0.1:%d" % self.srv.port,
               "-path", ".well-known/cmp", "-tls_used", "-tls_cert", self.m1.cert, "-tls_key", self.m1.key,
               "-tls_trusted", self.ca.root, "-tls_host", "127.0.0.1", "-cert", self.m1.cert,
               "-key", self.m1.key, "-srvcert", os.path.join(self.ca.data, "server.crt"))
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIn("received GENP", p.stdout + p.stderr)

    def rr(self, who, cert):
        return sh("openssl", "cmp", "-cmd", "rr", "-server", "127.0.0.1:%d" % self.srv.port,
                  "-path", ".well-known/cmp", "-tls_used", "-tls_cert", who.cert, "-tls_key", who.key,
                  "-tls_trusted", self.ca.root, "-tls_host", "127.0.0.1", "-cert", who.cert,
                  "-key", who.key, "-srvcert", os.path.join(self.ca.data, "server.crt"),
                  "-oldcert", cert)

    def ocsp_status(self, cert):
        req, out = self.path("rr-req.der"), self.path("rr-resp.der")
        p = sh("openssl", "ocsp", "-issuer", os.path.join(self.ca.data, "device-ca.crt"), "-cert", cert,
               "-no_nonce", "-reqout", req)
        self.assertEqual(p.returncode, 0, p.stderr)
        with open(req, "rb") as f:
            b64 = urllib.parse.quote(base64.b64encode(f.read()).decode(), safe="")
        p = sh("curl", "-sS", "--cacert", self.ca.root, "-o", out, self.srv.base + "/ocsp/" + b64)
        self.assertEqual(p.returncode, 0, p.stderr)
        with open(out, "rb") as f:
            return ocsp.load_der_ocsp_response(f.read()).certificate_status

    def test_rr_by_an_admin_revokes_at_once(self):
        csr = self.csr("rr", "/serialNumber=CMP-RR-1/CN=Sensor 9")
        cert = self.path("rr.pem")
        p = self.cmp(csr, cert)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertEqual(self.ocsp_status(cert), ocsp.OCSPCertStatus.GOOD)
        # A manufacturer may not revoke: notAuthorized, nothing changes.
        p = self.rr(self.m1, cert)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("notAuthorized", p.stdout + p.stderr)
        self.assertEqual(self.ocsp_status(cert), ocsp.OCSPCertStatus.GOOD)
        p = self.rr(self.ca.admin, cert)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIn("received RP", p.stdout + p.stderr)
        self.assertEqual(self.ocsp_status(cert), ocsp.OCSPCertStatus.REVOKED)
        con = sqlite3.connect(os.path.join(self.ca.data, "registry.db"))
        st = con.execute("SELECT status FROM devices WHERE serial = 'CMP-RR-1'").fetchone()
        con.close()
        self.assertEqual(st, ("revoked",))
        crl = self.path("rr.crl")
        p = sh("curl", "-sS", "--cacert", self.ca.root, "-o", crl, self.srv.base + "/crl/device-ca.crl")
        text = sh("openssl", "crl", "-inform", "DER", "-in", crl, "-noout", "-text").stdout
        serial = sh("openssl", "x509", "-in", cert, "-noout", "-serial").stdout.strip().split("=")[1]
        self.assertIn(serial.upper().lstrip("0"), text.replace(":", "").upper())
        # Again: already revoked.
        p = self.rr(self.ca.admin, cert)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("certRevoked", p.stdout + p.stderr)

    def rows(self):
        con = sqlite3.connect(os.path.join(self.ca.data, "registry.db"))
        try:
            return (con.execute("SELECT count(*) FROM devices").fetchone()[0],
                    con.execute("SELECT count(*) FROM certificates WHERE issuer = 'device'").fetchone()[0])
        finally:
            con.close()

    def test_p10cr_enrolls_like_rest_and_is_idempotent(self):
        csr = self.csr("d1", "/serialNumber=CMP-0001/CN=Sensor 9/OU=rev.C")
        out = self.path("d1.pem")
        p = self.cmp(csr, out)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIn("received CP", p.stderr + p.stdout)
        text = sh("openssl", "x509", "-in", out, "-noout", "-subject", "-ext", "subjectAltName").stdout
        self.assertIn("serialNumber = CMP-0001", text)
        self.assertIn("URI:urn:dev:org:32473-acme:CMP-0001", text)
        p = sh("openssl", "verify", "-CAfile", self.ca.root, "-untrusted",
               os.path.join(self.ca.data, "device-ca.crt"), out)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        con = sqlite3.connect(os.path.join(self.ca.data, "registry.db"))
        row = con.execute("SELECT d.manufacturer_id, d.serial, d.model, d.hw_version, d.status"
                          " FROM devices d WHERE d.serial = 'CMP-0001'").fetchone()
        audit = con.execute("SELECT actor FROM audit WHERE action = 'device.issue'"
                            " ORDER BY id DESC LIMIT 1").fetchone()
        con.close()
        self.assertEqual(row, ("acme", "CMP-0001", "Sensor 9", "rev.C", "active"))
        self.assertEqual(audit, ("cmp-m1",))
        with open(out) as f:
            first = f.read()
        before = self.rows()
        p = self.cmp(csr, self.path("d1b.pem"))
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        with open(self.path("d1b.pem")) as f:
            self.assertEqual(f.read(), first)
        self.assertEqual(self.rows(), before)

    def test_refusals_are_cmp_errors_and_store_nothing(self):
        before = self.rows()
        # No serialNumber in the subject: badCertTemplate.
        p = self.cmp(self.csr("bad", "/CN=Sensor 9"), self.path("bad.pem"))
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("badCertTemplate", p.stdout + p.stderr)
        self.assertIn("serialNumber", p.stdout + p.stderr)
        # Signed with another manufacturer's key than the TLS certificate's.
        p = self.cmp(self.csr("other", "/serialNumber=CMP-0002/CN=S"), self.path("o.pem"),
                     tls=self.m1, signer=self.m2)
        self.assertNotEqual(p.returncode, 0)
        self.assertFalse(os.path.exists(self.path("o.pem")))
        self.assertEqual(self.rows(), before)


if __name__ == "__main__":
    unittest.main()

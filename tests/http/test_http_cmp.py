"""CMP (issue 18): the real `openssl cmp` client against /.well-known/cmp
over HTTPS, every request signed with the caller's principal certificate.
A manufacturer enrolls devices by p10cr, ir and cr (recorded as REST
enrollment records them, repeats idempotent); any principal renews its own
certificate by kur; an administrator revokes by rr with the request's
CRLReason (OCSP and CRL at once); answers are signed by the CMP signer
(Infrastructure CA, digitalSignature, id-kp-cmcRA), verified against the
Root alone; refusals are CMP messages with a PKIFailureInfo and store
nothing."""
import base64
import hashlib
import json
import os
import sqlite3
import subprocess
import unittest
import urllib.parse

from cryptography.x509 import ocsp

from httptest import CA, Ident, Server


def sh(*cmd):
    return subprocess.run(list(cmd), capture_output=True, text=True, timeout=120)


class CmpTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.ca = CA()
        cls.m1 = cls.ca.principal("cmp-m1", "manufacturer", "acme")
        cls.m2 = cls.ca.principal("cmp-m2", "manufacturer", "acme")
        cls.op = cls.ca.principal("cmp-op", "operator")
        cls.srv = Server(cls.ca)

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

    def newkey(self, name):
        key = self.path(name + ".key")
        p = sh("openssl", "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", key)
        self.assertEqual(p.returncode, 0, p.stderr)
        return key

    def csr(self, name, subject):
        key, csr = self.path(name + ".key"), self.path(name + ".csr")
        p = sh("openssl", "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
               "-nodes", "-keyout", key, "-subj", subject, "-out", csr)
        self.assertEqual(p.returncode, 0, p.stderr)
        return csr

    def cmp(self, cmd, who, *args, signer=None, trust=True):
        """openssl cmp over mTLS as who, signed by signer (default who);
        answers checked against the Root alone."""
        signer = signer or who
        extra = ["-trusted", self.ca.root] if trust else []
        return sh("openssl", "cmp", "-cmd", cmd, "-server", "127.0.0.1:%d" % self.srv.port,
                  "-path", ".well-known/cmp", "-tls_used", "-tls_cert", who.cert, "-tls_key", who.key,
                  "-tls_trusted", self.ca.root, "-tls_host", "127.0.0.1",
                  "-cert", signer.cert, "-key", signer.key, *extra, *args)

    def enroll(self, cmd, subject, key, out, who=None, *args):
        if os.path.exists(out):
            os.unlink(out)
        return self.cmp(cmd, who or self.m1, "-newkey", key, "-subject", subject, "-certout", out,
                        "-implicit_confirm", *args)

    def p10cr(self, csr, out, tls=None, signer=None):
        if os.path.exists(out):
            os.unlink(out)
        return self.cmp("p10cr", tls or self.m1, "-csr", csr, "-certout", out, "-implicit_confirm",
                        signer=signer)

    def db(self, sql, *args):
        con = sqlite3.connect(os.path.join(self.ca.data, "registry.db"))
        try:
            return con.execute(sql, args).fetchall()
        finally:
            con.close()

    def rows(self):
        return (self.db("SELECT count(*) FROM devices")[0][0],
                self.db("SELECT count(*) FROM certificates")[0][0],
                self.db("SELECT count(*) FROM audit")[0][0])

    def device(self, serial):
        return self.db("SELECT manufacturer_id, serial, model, hw_version, status FROM devices"
                       " WHERE serial = ?", serial)

    def last_audit(self, action):
        return self.db("SELECT actor, target FROM audit WHERE action = ? ORDER BY id DESC LIMIT 1",
                       action)[0]

    def text(self, cert, *opts):
        return sh("openssl", "x509", "-in", cert, "-noout", *opts).stdout

    def verify_device(self, cert):
        p = sh("openssl", "verify", "-CAfile", self.ca.root, "-untrusted",
               os.path.join(self.ca.data, "device-ca.crt"), cert)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)

    # ---- the CMP signer ----

    def test_answers_are_signed_by_the_cmp_signer(self):
        signer = os.path.join(self.ca.data, "cmp-signer.crt")
        t = self.text(signer, "-subject", "-issuer", "-ext", "keyUsage,extendedKeyUsage")
        self.assertIn("CN = CMP signer", t)
        self.assertIn("issuer=O = ProvCA, CN = ProvCA Infrastructure CA", t)
        self.assertIn("Digital Signature", t)
        self.assertIn("CMC Registration Authority", t)
        p = sh("openssl", "verify", "-CAfile", self.ca.root, "-untrusted",
               os.path.join(self.ca.data, "infra-ca.crt"), signer)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        # Trusting only the Root (the chain comes in extraCerts) ...
        p = self.cmp("genm", self.m1)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIn("received GENP", p.stdout + p.stderr)
        # ... or pinning the signer; the TLS key signs no CMP answer.
        p = self.cmp("genm", self.m1, "-srvcert", signer, trust=False)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        p = self.cmp("genm", self.m1, "-srvcert", os.path.join(self.ca.data, "server.crt"), trust=False)
        self.assertNotEqual(p.returncode, 0)

    def test_an_older_data_folder_gets_its_signer_at_first_serve(self):
        ca = CA()
        try:
            ca.manufacturer("acme")
            for f in ("cmp-signer.crt", "cmp-signer.key"):
                os.unlink(os.path.join(ca.data, f))
            srv = Server(ca)
            try:
                key = os.path.join(ca.data, "cmp-signer.key")
                self.assertEqual(os.stat(key).st_mode & 0o777, 0o600)
                t = self.text(os.path.join(ca.data, "cmp-signer.crt"), "-ext", "extendedKeyUsage")
                self.assertIn("CMC Registration Authority", t)
                p = sh("openssl", "cmp", "-cmd", "genm", "-server", "127.0.0.1:%d" % srv.port,
                       "-path", ".well-known/cmp", "-tls_used", "-tls_cert", ca.admin.cert,
                       "-tls_key", ca.admin.key, "-tls_trusted", ca.root, "-tls_host", "127.0.0.1",
                       "-cert", ca.admin.cert, "-key", ca.admin.key, "-trusted", ca.root)
                self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
            finally:
                srv.stop()
            # The next start loads the same signer.
            with open(os.path.join(ca.data, "cmp-signer.crt")) as f:
                first = f.read()
            Server(ca).stop()
            with open(os.path.join(ca.data, "cmp-signer.crt")) as f:
                self.assertEqual(f.read(), first)
        finally:
            ca.cleanup()

    # ---- enrollment ----

    def test_p10cr_enrolls_like_rest_and_is_idempotent(self):
        csr = self.csr("d1", "/serialNumber=CMP-0001/CN=Sensor 9/OU=rev.C")
        out = self.path("d1.pem")
        p = self.p10cr(csr, out)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIn("received CP", p.stderr + p.stdout)
        text = self.text(out, "-subject", "-ext", "subjectAltName")
        self.assertIn("serialNumber = CMP-0001", text)
        self.assertIn("URI:urn:dev:org:32473-acme:CMP-0001", text)
        self.verify_device(out)
        self.assertEqual(self.device("CMP-0001"), [("acme", "CMP-0001", "Sensor 9", "rev.C", "active")])
        self.assertEqual(self.last_audit("device.issue")[0], "cmp-m1")
        with open(out) as f:
            first = f.read()
        before = self.rows()
        p = self.p10cr(csr, self.path("d1b.pem"))
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        with open(self.path("d1b.pem")) as f:
            self.assertEqual(f.read(), first)
        self.assertEqual(self.rows(), before)

    def test_ir_and_cr_enroll_from_the_template_like_rest(self):
        key = self.newkey("ir1")
        out = self.path("ir1.pem")
        p = self.enroll("ir", "/serialNumber=IR-0001/CN=Sensor 7/OU=rev.D", key, out)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIn("received IP", p.stdout + p.stderr)
        self.verify_device(out)
        text = self.text(out, "-subject", "-ext", "subjectAltName,keyUsage")
        self.assertIn("serialNumber = IR-0001, O = Maker acme, CN = acme-", text)
        self.assertIn("URI:urn:dev:org:32473-acme:IR-0001", text)
        self.assertIn("Digital Signature, Key Agreement", text)
        # The certificate certifies the template's key.
        pub = sh("openssl", "pkey", "-in", key, "-pubout").stdout
        self.assertEqual(sh("openssl", "x509", "-in", out, "-noout", "-pubkey").stdout, pub)
        self.assertEqual(self.device("IR-0001"), [("acme", "IR-0001", "Sensor 7", "rev.D", "active")])
        actor, dev = self.last_audit("device.issue")
        self.assertEqual(actor, "cmp-m1")
        spki = subprocess.run(["openssl", "pkey", "-in", key, "-pubout", "-outform", "DER"],
                              capture_output=True, timeout=60).stdout
        self.assertEqual(self.db("SELECT spki_sha256 FROM certificates WHERE device_id = ?", dev),
                         [(hashlib.sha256(spki).hexdigest(),)])
        # Idempotent: the same serial and key get the same certificate.
        with open(out) as f:
            first = f.read()
        before = self.rows()
        p = self.enroll("ir", "/serialNumber=IR-0001/CN=Sensor 7/OU=rev.D", key, self.path("ir1b.pem"))
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        with open(self.path("ir1b.pem")) as f:
            self.assertEqual(f.read(), first)
        self.assertEqual(self.rows(), before)
        # cr: the same path for a line that already holds certificates.
        p = self.enroll("cr", "/serialNumber=CR-0001/CN=Sensor 7", self.newkey("cr1"), self.path("cr1.pem"))
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIn("received CP", p.stdout + p.stderr)
        self.verify_device(self.path("cr1.pem"))
        self.assertEqual(self.device("CR-0001"), [("acme", "CR-0001", "Sensor 7", "", "active")])

    def test_enrollment_refusals_are_cmp_errors_and_store_nothing(self):
        taken = self.newkey("taken")
        p = self.enroll("ir", "/serialNumber=TAKEN-1/CN=S", taken, self.path("taken.pem"))
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        before = self.rows()
        out = self.path("bad.pem")
        cases = [
            # No serialNumber in the subject.
            (lambda: self.p10cr(self.csr("bad", "/CN=Sensor 9"), out), "badCertTemplate"),
            (lambda: self.enroll("ir", "/CN=Sensor 9", self.newkey("b1"), out), "badCertTemplate"),
            # Proof of possession: RAVerified is not accepted from a line.
            (lambda: self.enroll("ir", "/serialNumber=BAD-1/CN=S", self.newkey("b2"), out, None,
                                 "-popo", "0"), "badPOP"),
            # An administrator does not enroll devices.
            (lambda: self.enroll("ir", "/serialNumber=BAD-2/CN=S", self.newkey("b3"), out,
                                 self.ca.admin), "notAuthorized"),
            (lambda: self.enroll("cr", "/serialNumber=BAD-3/CN=S", self.newkey("b4"), out, self.op),
             "notAuthorized"),
            # A key already certified for another device.
            (lambda: self.enroll("ir", "/serialNumber=BAD-4/CN=S", taken, out), "duplicateCertReq"),
        ]
        for run_case, info in cases:
            p = run_case()
            self.assertNotEqual(p.returncode, 0, info)
            self.assertIn("PKIFailureInfo: " + info, p.stdout + p.stderr)
            self.assertFalse(os.path.exists(out))
        # Signed with another manufacturer's key than the TLS certificate's.
        p = self.p10cr(self.csr("other", "/serialNumber=CMP-0002/CN=S"), out, tls=self.m1, signer=self.m2)
        self.assertNotEqual(p.returncode, 0)
        self.assertFalse(os.path.exists(out))
        self.assertEqual(self.rows(), before)

    # ---- kur ----

    def test_kur_renews_the_callers_own_certificate(self):
        who = self.ca.principal("cmp-kur", "manufacturer", "acme")
        key, out = self.newkey("kur1"), self.path("kur1.pem")
        p = self.cmp("kur", who, "-newkey", key, "-certout", out, "-implicit_confirm")
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIn("received KUP", p.stdout + p.stderr)
        t = self.text(out, "-subject", "-issuer", "-ext", "extendedKeyUsage")
        self.assertIn("subject=O = ProvCA, OU = manufacturer, CN = cmp-kur", t)
        self.assertIn("CN = ProvCA Infrastructure CA", t)
        self.assertIn("TLS Web Client Authentication", t)
        self.assertEqual(self.last_audit("principal.renew"), ("cmp-kur", "cmp-kur"))
        self.assertEqual(self.db("SELECT count(*) FROM certificates c JOIN principals p"
                                 " ON c.principal_id = p.id WHERE p.name = 'cmp-kur'"), [(2,)])
        # The new certificate authenticates (TLS and CMP) and enrolls.
        new = Ident("cmp-kur", out, key)
        p = self.enroll("ir", "/serialNumber=KUR-1/CN=S", self.newkey("kur-dev"), self.path("kd.pem"), new)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        # oldCertID must name the certificate the request came with.
        before = self.rows()
        p = self.cmp("kur", who, "-newkey", self.newkey("kur2"), "-oldcert", self.m1.cert,
                     "-certout", self.path("kur2.pem"), "-implicit_confirm")
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("PKIFailureInfo: badCertId", p.stdout + p.stderr)
        # A key certified for a device is refused.
        p = self.cmp("kur", who, "-newkey", self.path("kur-dev.key"), "-certout", self.path("kur3.pem"),
                     "-implicit_confirm")
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("PKIFailureInfo: duplicateCertReq", p.stdout + p.stderr)
        self.assertEqual(self.rows(), before)
        # An operator renews itself too.
        p = self.cmp("kur", self.op, "-newkey", self.newkey("kur-op"), "-certout", self.path("kop.pem"),
                     "-implicit_confirm")
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIn("CN = cmp-op", self.text(self.path("kop.pem"), "-subject"))

    def test_kur_keeps_the_self_renewal_cap(self):
        who = self.ca.principal("cmp-cap", "operator")
        with open(os.path.join(self.ca.data, "config.json")) as f:
            n = json.load(f)["principal_max_valid_certs"]
        self.assertGreaterEqual(n, 2)
        for i in range(n - 1):
            p = self.cmp("kur", who, "-newkey", self.newkey("cap%d" % i), "-certout",
                         self.path("cap%d.pem" % i), "-implicit_confirm")
            self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        before = self.rows()
        p = self.cmp("kur", who, "-newkey", self.newkey("capx"), "-certout", self.path("capx.pem"),
                     "-implicit_confirm")
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("PKIFailureInfo: notAuthorized", p.stdout + p.stderr)
        self.assertIn("principal_max_valid_certs", p.stdout + p.stderr)
        self.assertEqual(self.rows(), before)

    # ---- rr ----

    def rr(self, who, cert, *args):
        return self.cmp("rr", who, "-oldcert", cert, *args)

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
            r = ocsp.load_der_ocsp_response(f.read())
        return r.certificate_status, (r.revocation_reason.name if r.revocation_reason else None)

    def test_rr_by_an_admin_revokes_at_once_with_its_reason(self):
        cert = self.path("rr.pem")
        p = self.p10cr(self.csr("rr", "/serialNumber=CMP-RR-1/CN=Sensor 9"), cert)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertEqual(self.ocsp_status(cert), (ocsp.OCSPCertStatus.GOOD, None))
        # A manufacturer may not revoke: notAuthorized, nothing changes.
        p = self.rr(self.m1, cert)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("notAuthorized", p.stdout + p.stderr)
        # certificateHold is a suspension, not a revocation.
        p = self.rr(self.ca.admin, cert, "-revreason", "6")
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("PKIFailureInfo: badRequest", p.stdout + p.stderr)
        self.assertEqual(self.ocsp_status(cert), (ocsp.OCSPCertStatus.GOOD, None))
        p = self.rr(self.ca.admin, cert, "-revreason", "1")
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIn("received RP", p.stdout + p.stderr)
        self.assertEqual(self.ocsp_status(cert), (ocsp.OCSPCertStatus.REVOKED, "key_compromise"))
        self.assertEqual(self.db("SELECT status, reason FROM devices WHERE serial = 'CMP-RR-1'"),
                         [("revoked", 1)])
        crl = self.path("rr.crl")
        p = sh("curl", "-sS", "--cacert", self.ca.root, "-o", crl, self.srv.base + "/crl/device-ca.crl")
        text = sh("openssl", "crl", "-inform", "DER", "-in", crl, "-noout", "-text").stdout
        serial = self.text(cert, "-serial").strip().split("=")[1]
        self.assertIn(serial.upper().lstrip("0"), text.replace(":", "").upper())
        self.assertIn("Key Compromise", text)
        # Again: already revoked.
        p = self.rr(self.ca.admin, cert)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("certRevoked", p.stdout + p.stderr)

    def test_rr_without_a_reason_is_unspecified(self):
        cert = self.path("rr2.pem")
        p = self.enroll("ir", "/serialNumber=CMP-RR-2/CN=S", self.newkey("rr2"), cert)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        p = self.rr(self.ca.admin, cert)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertEqual(self.db("SELECT status, reason FROM devices WHERE serial = 'CMP-RR-2'"),
                         [("revoked", 0)])


if __name__ == "__main__":
    unittest.main()

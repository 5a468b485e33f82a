"""The read-only plain-HTTP listener (issue 18 §2) and the RFC 9039 device
URNs (§3): a CA made with --plain-url/--plain-listen, certificates whose
CRL/OCSP/caIssuers URLs name it, `openssl ocsp` (POST), curl GET with the
RFC 6960 A.1 path read back by `openssl ocsp -respin`, GnuTLS `ocsptool
--ask` following the AIA URL, `openssl verify -crl_check -crl_download`,
unauthorized for a foreign issuer, the per-serial cache, nothing else
reachable, and every issued URN checked against a grammar written from
RFC 9039 section 3.2."""
import base64
import datetime
import json
import os
import re
import socket
import sqlite3
import subprocess
import time
import unittest
import urllib.parse

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509 import ocsp
from cryptography.x509.oid import NameOID

from httptest import CA, Server, pg_sql, run

# ---- RFC 9039 section 3.2, rule by rule (independent of the C code) ----
ALPHA = "A-Za-z"
DIGIT = "0-9"
DEVUNRESERVEDNODASH = "[" + ALPHA + DIGIT + ".]"
DEVUNRESERVED = "[" + ALPHA + DIGIT + ".-]"
IDENTIFIER = DEVUNRESERVED + "+"
IDENTIFIERNODASH = DEVUNRESERVEDNODASH + "+"
PRODUCT = IDENTIFIERNODASH
SERIAL = IDENTIFIER
POSNUMBER = "[1-9][0-9]*"
HEXSTRING = "(?:[0-9a-f][0-9a-f])+"
SUBTYPE = "[A-Z][0-9A-Z]*"  # LALPHA as the RFC writes it
SUBIDS = "(?::" + IDENTIFIER + ")*"
BODY = "|".join([
    "mac:" + HEXSTRING,
    "ow:" + HEXSTRING,
    "org:" + POSNUMBER + "-" + IDENTIFIER + SUBIDS,
    "os:" + POSNUMBER + "-" + SERIAL + SUBIDS,
    "ops:" + POSNUMBER + "-" + PRODUCT + "-" + SERIAL + SUBIDS,
    SUBTYPE + ":" + IDENTIFIER + SUBIDS,
])
COMPONENTPART = "(?:_" + IDENTIFIER + ")*"
DEVURN = re.compile("urn:dev:(?:" + BODY + ")" + COMPONENTPART)

VALIDITY = 3600  # ocsp_validity_seconds' default


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def sh(*cmd, ok=True, data=None):
    p = subprocess.run(list(cmd), capture_output=True, timeout=120, input=data)
    if ok and p.returncode != 0:
        raise AssertionError("%s failed: %s%s" % (cmd, p.stdout.decode(errors="replace"),
                                                  p.stderr.decode(errors="replace")))
    return p


def san_uris(pem):
    text = sh("openssl", "x509", "-noout", "-ext", "subjectAltName", data=pem.encode()).stdout.decode()
    return re.findall(r"URI:(\S+)", text)


def read_text(path):
    with open(path) as f:
        return f.read()


def foreign_leaf(tmp):
    """A certificate and its issuer from a CA ProvCA has never seen."""
    now = datetime.datetime.utcnow()
    day = datetime.timedelta(days=1)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Elsewhere CA")])
    ca_cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
               .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - day).not_valid_after(now + day)
               .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
               .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "other")]))
            .issuer_name(name).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - day).not_valid_after(now + day).sign(ca_key, hashes.SHA256()))
    paths = []
    for n, c in (("foreign-ca.pem", ca_cert), ("foreign-leaf.pem", leaf)):
        p = os.path.join(tmp, n)
        with open(p, "wb") as f:
            f.write(c.public_bytes(serialization.Encoding.PEM))
        paths.append(p)
    return paths


class PlainHttpTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.port = free_port()
        cls.plain = "http://127.0.0.1:%d" % cls.port
        cls.ca = CA(extra_init=("--plain-url", cls.plain, "--plain-listen", "127.0.0.1:%d" % cls.port))
        cls.ca.manufacturer("acme")
        run("manufacturer", "add", "--data", cls.ca.data, "--id", "ouimfr", "--name", "OUI Maker",
            "--oui", "00A0C6")
        cls.devca = os.path.join(cls.ca.data, "device-ca.crt")
        cls.devices = {}
        for mfr, serial, model in (("acme", "SN-0001", "Sensor-1"),
                                   ("acme", "SN 1/2 (b)", "Sensor 1"),
                                   ("ouimfr", "R.1-2 x:y", "Gate-way v2.0"),
                                   ("ouimfr", "Z'()+,-./:=?", "m:odel'\"_%~")):
            cls.devices[serial] = cls.enroll(mfr, serial, model)
        cls.srv = Server(cls.ca)
        deadline = time.time() + 30
        while time.time() < deadline and not any("plain HTTP" in b for b in cls.srv.banner):
            time.sleep(0.1)

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()
        cls.ca.cleanup()

    @classmethod
    def enroll(cls, mfr, serial, model):
        key = ec.generate_private_key(ec.SECP256R1())
        csr = (x509.CertificateSigningRequestBuilder()
               .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "d")]))
               .sign(key, hashes.SHA256()))
        path = os.path.join(cls.ca.tmp, "csr-%d.pem" % len(getattr(cls, "devices", {})))
        with open(path, "wb") as f:
            f.write(csr.public_bytes(serialization.Encoding.PEM))
        out = json.loads(run("enroll", "--data", cls.ca.data, "--csr", path, "--manufacturer-id", mfr,
                             "--serial", serial, "--model", model, "--json").stdout)
        leaf = os.path.join(cls.ca.tmp, out["device_id"] + ".pem")
        with open(leaf, "w") as f:
            f.write(out["certificate"])
        out["leaf"] = leaf
        return out

    def ocsp_post(self, leaf, issuer=None, extra=()):
        return sh("openssl", "ocsp", "-issuer", issuer or self.devca, "-cert", leaf, "-url",
                  self.plain + "/ocsp", "-CAfile", self.ca.root, *extra, ok=False)

    def ocsp_get(self, leaf, safe=""):
        req = os.path.join(self.ca.tmp, "req.der")
        sh("openssl", "ocsp", "-issuer", self.devca, "-cert", leaf, "-no_nonce", "-reqout", req)
        with open(req, "rb") as f:
            b64 = base64.b64encode(f.read()).decode()
        path = "/ocsp/" + urllib.parse.quote(b64, safe=safe)
        out = os.path.join(self.ca.tmp, "resp.der")
        p = sh("curl", "-sS", "-o", out, "-w", "%{http_code} %{content_type}", self.plain + path)
        with open(out, "rb") as f:
            return p.stdout.decode(), f.read(), out

    # ---- certificate URLs ----

    def test_certificate_urls_use_plain_http(self):
        text = sh("openssl", "x509", "-noout", "-ext", "crlDistributionPoints,authorityInfoAccess",
                  "-in", self.devices["SN-0001"]["leaf"]).stdout.decode()
        self.assertIn("URI:%s/crl/device-ca.crl" % self.plain, text)
        self.assertIn("OCSP - URI:%s/ocsp" % self.plain, text)
        self.assertIn("CA Issuers - URI:%s/ca/device-ca.crt" % self.plain, text)
        with open(os.path.join(self.ca.data, "config.json")) as f:
            cfg = json.load(f)
        self.assertEqual(cfg["plain_http_base_url"], self.plain)
        self.assertEqual(cfg["ocsp_validity_seconds"], VALIDITY)

    # ---- OCSP ----

    def test_openssl_ocsp_post_good_with_next_update(self):
        p = self.ocsp_post(self.devices["SN-0001"]["leaf"], extra=("-resp_text",))
        out = p.stdout.decode() + p.stderr.decode()
        self.assertEqual(p.returncode, 0, out)
        self.assertIn("Response verify OK", out)
        self.assertIn(": good", out)
        this = re.search(r"This Update: (.+ GMT)", out).group(1)
        nxt = re.search(r"Next Update: (.+ GMT)", out).group(1)
        fmt = "%b %d %H:%M:%S %Y GMT"
        delta = datetime.datetime.strptime(" ".join(nxt.split()), fmt) - \
            datetime.datetime.strptime(" ".join(this.split()), fmt)
        self.assertEqual(delta.total_seconds(), VALIDITY)

    def test_get_rfc6960_a1_verifies_and_is_cached(self):
        leaf = self.devices["SN 1/2 (b)"]["leaf"]
        st, der, path = self.ocsp_get(leaf)
        self.assertEqual(st, "200 application/ocsp-response")
        r = ocsp.load_der_ocsp_response(der)
        self.assertEqual(r.response_status, ocsp.OCSPResponseStatus.SUCCESSFUL)
        self.assertEqual(r.certificate_status, ocsp.OCSPCertStatus.GOOD)
        self.assertEqual((r.next_update - r.this_update).total_seconds(), VALIDITY)
        p = sh("openssl", "ocsp", "-respin", path, "-issuer", self.devca, "-cert", leaf,
               "-CAfile", self.ca.root, ok=False)
        out = p.stdout.decode() + p.stderr.decode()
        self.assertIn("Response verify OK", out)
        self.assertIn(": good", out)
        # Same certificate, no nonce: the signed answer is kept, byte for byte.
        time.sleep(1.1)
        st2, der2, _ = self.ocsp_get(leaf, safe="/+=")  # unencoded base64 too
        self.assertEqual(st2, "200 application/ocsp-response")
        self.assertEqual(der2, der)

    def test_status_change_reaches_ocsp_and_crl_at_once(self):
        dev = self.enroll("acme", "SN-REV-%d" % time.time_ns(), "Sensor-1")
        _, before, _ = self.ocsp_get(dev["leaf"])
        self.assertEqual(ocsp.load_der_ocsp_response(before).certificate_status, ocsp.OCSPCertStatus.GOOD)
        p = sh("openssl", "verify", "-crl_check", "-crl_download", "-CAfile", self.ca.root,
               "-untrusted", self.devca, dev["leaf"], ok=False)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIn(b": OK", p.stdout)
        run("revoke", dev["device_id"], "--data", self.ca.data, "--reason", "keyCompromise")
        _, after, _ = self.ocsp_get(dev["leaf"])
        r = ocsp.load_der_ocsp_response(after)
        self.assertEqual(r.certificate_status, ocsp.OCSPCertStatus.REVOKED)
        self.assertEqual(r.revocation_reason, x509.ReasonFlags.key_compromise)
        p = sh("openssl", "verify", "-crl_check", "-crl_download", "-CAfile", self.ca.root,
               "-untrusted", self.devca, dev["leaf"], ok=False)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn(b"certificate revoked", p.stdout + p.stderr)

    def test_ocsptool_ask_follows_aia(self):
        p = sh("ocsptool", "--ask", "--load-cert", self.devices["SN-0001"]["leaf"],
               "--load-issuer", self.devca, "--outfile", os.path.join(self.ca.tmp, "gnutls.der"), ok=False)
        out = p.stdout.decode() + p.stderr.decode()
        self.assertEqual(p.returncode, 0, out)
        self.assertIn("Connecting to '127.0.0.1:%d'" % self.port, out)
        self.assertIn("Certificate Status: good", out)
        self.assertIn("Verifying OCSP Response: Success.", out)

    def test_foreign_issuer_is_unauthorized(self):
        ca_pem, leaf = foreign_leaf(self.ca.tmp)
        p = self.ocsp_post(leaf, issuer=ca_pem)
        out = p.stdout.decode() + p.stderr.decode()
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("Responder Error: unauthorized (6)", out)
        self.assertNotIn("unknown", out)

    def test_malformed_get_is_ocsp_malformed_request(self):
        out = os.path.join(self.ca.tmp, "m.der")
        p = sh("curl", "-sS", "-o", out, "-w", "%{http_code}", self.plain + "/ocsp/%21not-base64%21")
        self.assertEqual(p.stdout, b"200")
        with open(out, "rb") as f:
            r = ocsp.load_der_ocsp_response(f.read())
        self.assertEqual(r.response_status, ocsp.OCSPResponseStatus.MALFORMED_REQUEST)

    # ---- nothing else on the plain listener ----

    def test_only_crls_ca_certificates_and_ocsp(self):
        for path, want in (("/ca/root-ca.crt", "200"), ("/ca/device-ca.crt", "200"),
                           ("/ca/chain.pem", "200"), ("/crl/device-ca.crl", "200"),
                           ("/crl/infra-ca.crl", "200"), ("/healthz", "404"), ("/metrics", "404"),
                           ("/api/v1/devices", "404"), ("/index.html", "404"), ("/openapi.yaml", "404"),
                           ("/devices/" + self.devices["SN-0001"]["device_id"], "404")):
            p = sh("curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", self.plain + path)
            self.assertEqual(p.stdout.decode(), want, path)
        p = sh("curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "-X", "POST", "-H",
               "Content-Type: application/json", "--data", "{}", self.plain + "/api/v1/devices")
        self.assertEqual(p.stdout, b"404")
        p = sh("curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", self.plain + "/ocsp")
        self.assertEqual(p.stdout, b"405")
        with open(self.ca.root, "rb") as f:
            root = x509.load_pem_x509_certificate(f.read())
        der = sh("curl", "-sS", self.plain + "/ca/root-ca.crt").stdout
        self.assertEqual(der, root.public_bytes(serialization.Encoding.DER))

    # ---- RFC 9039 ----

    def test_every_issued_urn_follows_rfc9039(self):
        if self.ca.db:  # the registry on PostgreSQL
            ders = [bytes.fromhex(r[0]) for r in pg_sql(
                self.ca.db, "SELECT encode(der, 'hex') FROM certificates WHERE issuer = 'device'")]
        else:
            con = sqlite3.connect(os.path.join(self.ca.data, "registry.db"))
            ders = [r[0] for r in con.execute("SELECT der FROM certificates WHERE issuer = 'device'")]
            con.close()
        self.assertGreaterEqual(len(ders), 4)
        for der in ders:
            pem = x509.load_der_x509_certificate(der).public_bytes(serialization.Encoding.PEM).decode()
            for urn in san_uris(pem):
                self.assertRegex(urn, "^" + DEVURN.pattern + "$")
                self.assertNotIn("%", urn)
        self.assertEqual(san_uris(read_text(self.devices["SN-0001"]["leaf"])),
                         ["urn:dev:org:32473-acme:SN-0001"])
        self.assertEqual(san_uris(read_text(self.devices["SN 1/2 (b)"]["leaf"])),
                         ["urn:dev:org:32473-acme:SN.201.2F2.20.28b.29"])
        self.assertEqual(san_uris(read_text(self.devices["R.1-2 x:y"]["leaf"])),
                         ["urn:dev:ops:32473-Gate.2Dway.20v2.2E0-R.2E1-2.20x.3Ay"])

    def test_grammar_checker_refuses_old_forms(self):
        for bad in ("urn:dev:ops:00A0C9-Sensor%201-SN%2Dp256", "urn:dev:ops:32473-Sen sor-1",
                    "urn:dev:org:32473-acme.SN%2D0001", "urn:dev:org:0-acme"):
            self.assertIsNone(re.fullmatch(DEVURN, bad), bad)


class PlainHttpOffTest(unittest.TestCase):
    def test_off_by_default(self):
        ca = CA()
        try:
            srv = Server(ca)
            try:
                time.sleep(0.5)
                self.assertFalse(any("plain HTTP" in b for b in srv.banner), srv.banner)
            finally:
                srv.stop()
            with open(os.path.join(ca.data, "config.json")) as f:
                cfg = json.load(f)
            self.assertEqual(cfg["plain_http_listen"], "")
            self.assertEqual(cfg["plain_http_base_url"], "")
        finally:
            ca.cleanup()


if __name__ == "__main__":
    unittest.main()

"""Device CA rollover (`ca-server ca ...`).

Device A is issued by the first Device CA. A new Device CA is certified by
the Root ceremony, added and activated; device B is issued by it. Both
devices then resolve with their OWN chains (and verify under the Root with
`openssl verify`), each names its own CA's CRL and caIssuers URLs; revoking
A lists it on the old CA's CRL (verified with the old CA's certificate)
and not on the new one's; OCSP answers A revoked when asked with the old CA
as issuer, B good with the new CA, and unknown for a serial asked under the
wrong CA. `ca-server ca list` shows the states; a restart of serve keeps
all of it; retiring the old CA keeps its final CRL published. The error
paths: a certificate the Root did not certify, a key that is not the
certificate's, an unknown id, retiring the issuing CA -- each refused with
nothing changed."""
import json
import os
import shutil
import ssl
import subprocess
import sys
import unittest
import urllib.request

from cryptography import x509
from cryptography.x509 import ocsp
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtensionOID, AuthorityInformationAccessOID

SRC = os.environ.get("PROVCA_SRC", os.path.abspath(
    os.path.join(os.path.dirname(__file__), "..", "..")))
sys.path.insert(0, os.path.join(SRC, "tests", "e2e"))
import harness  # noqa: E402

CS = harness.prog("ca-server")


def cs(*args, ok=True):
    p = subprocess.run([CS, *args], capture_output=True, text=True,
                       timeout=300)
    if ok and p.returncode != 0:
        raise AssertionError(f"{args}: rc={p.returncode} {p.stderr}")
    return p


def pem_certs(text):
    """Every certificate of a PEM text, in order (cryptography 38 has no
    load_pem_x509_certificates)."""
    if isinstance(text, bytes):
        text = text.decode()
    end = "-----END CERTIFICATE-----"
    return [x509.load_pem_x509_certificate((part + end + "\n").encode())
            for part in text.split(end) if part.strip()]


class RolloverTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.world = harness.World()
        cls.tmp = cls.world.tmp
        cls.ca = cls.world.ca()
        cls.data = cls.ca.data
        cls.rootkey = os.path.join(os.path.dirname(cls.data), "data-root",
                                   "root-ca.key")
        cls.root = cls.load(cls.ca.root)
        cls.old_ca_path = os.path.join(cls.data, "device-ca.crt")
        cls.old_ca = cls.load(cls.old_ca_path)
        cls.port = cls.ca.port
        cls.a = cls.enroll("A")
        cls.a2 = cls.enroll("A2")
        cls.as_before_the_ca_set()
        # The ceremony (offline Root), then add + activate; serve restarts
        # on the same port (the devices' URLs name it).
        cls.new_ca_path = cls.path("dev-ca-2.crt")
        key, csr = cls.keypair("dev-ca-2")
        cs("root", "certify-intermediate", "--data", cls.data, "--root-key",
           cls.rootkey, "--kind", "device", "--csr", csr, "--out",
           cls.new_ca_path, "--cn", "Rollover Device CA 2")
        cls.new_ca = cls.load(cls.new_ca_path)
        cls.new_ca_key = key
        out = cs("ca", "add", "--data", cls.data, "--cert", cls.new_ca_path,
                 "--key", key).stdout
        cls.new_id = int(out.split()[2])
        cs("ca", "activate", str(cls.new_id), "--data", cls.data)
        cls.old_id = json.loads(cs("ca", "list", "--data", cls.data,
                                   "--json").stdout)[0]["id"]
        cls.ca.start(port=cls.port)
        cls.b = cls.enroll("B")

    @classmethod
    def tearDownClass(cls):
        cls.world.close()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    @classmethod
    def as_before_the_ca_set(cls):
        """The registry as migration 5 leaves one written before it: no CA
        set, device certificates without ca_id. The next open adopts them
        for the data folder's Device CA."""
        import sqlite3
        cls.ca.stop()
        if cls.ca.db:  # the registry on PostgreSQL (pg_run.py)
            harness.pgdb.sql(cls.ca.db, "UPDATE certificates SET ca_id = NULL; DELETE FROM cas")
            return
        db = sqlite3.connect(os.path.join(cls.data, "registry.db"))
        with db:
            db.execute("UPDATE certificates SET ca_id = NULL")
            db.execute("DELETE FROM cas")
        db.close()

    @staticmethod
    def load(path):
        with open(path, "rb") as f:
            return x509.load_pem_x509_certificate(f.read())

    @classmethod
    def path(cls, n):
        return os.path.join(cls.tmp, n)

    @classmethod
    def restart(cls):
        cls.ca.stop()
        cls.ca.start(port=cls.port)

    @classmethod
    def keypair(cls, name):
        key, csr = cls.path(name + ".key"), cls.path(name + ".csr")
        subprocess.run(["openssl", "req", "-new", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:P-256", "-nodes", "-keyout", key,
                        "-subj", "/CN=" + name, "-out", csr], check=True,
                       capture_output=True, timeout=60)
        return key, csr

    @classmethod
    def enroll(cls, name):
        _, csr = cls.keypair("dev-" + name)
        out = json.loads(cs("enroll", "--data", cls.data, "--csr", csr,
                            "--manufacturer-id", "acme", "--serial",
                            "SN-" + name, "--model", "M1", "--json").stdout)
        cert = cls.path("dev-%s.crt" % name)
        with open(cert, "w") as f:
            f.write(out["certificate"])
        return {"id": out["device_id"], "cert": cert,
                "x509": x509.load_pem_x509_certificate(
                    out["certificate"].encode())}

    def get(self, path, ident=None, accept=None):
        ctx = ssl.create_default_context(cafile=self.ca.root)
        if ident:
            ctx.load_cert_chain(*ident)
        req = urllib.request.Request(self.ca.url + path)
        if accept:
            req.add_header("Accept", accept)
        with urllib.request.urlopen(req, context=ctx, timeout=30) as r:
            return r.headers["Content-Type"], r.read()

    def post(self, path, body, ctype):
        ctx = ssl.create_default_context(cafile=self.ca.root)
        req = urllib.request.Request(self.ca.url + path, data=body,
                                     headers={"Content-Type": ctype})
        with urllib.request.urlopen(req, context=ctx, timeout=30) as r:
            return r.read()

    def lookup_chain(self, dev):
        ctype, body = self.get("/devices/" + dev["id"], self.ca.operator)
        self.assertEqual(ctype, "application/pem-certificate-chain")
        pem = pem_certs(body)
        _, js = self.get("/devices/" + dev["id"], self.ca.operator,
                         "application/json")
        doc = json.loads(js)
        self.assertEqual(pem_certs(doc["chain"]), pem[1:])
        return pem

    def openssl_verify(self, dev, inter_path):
        v = subprocess.run(["openssl", "verify", "-CAfile", self.ca.root,
                            "-untrusted", inter_path, dev["cert"]],
                           capture_output=True, text=True, timeout=60)
        return v.returncode, v.stdout + v.stderr

    def crl(self, path):
        ctype, der = self.get(path)
        self.assertEqual(ctype, "application/pkix-crl")
        f = self.path("served-%s" % os.path.basename(path))
        with open(f, "wb") as out:
            out.write(der)
        return f, x509.load_der_x509_crl(der)

    def openssl_crl_verify(self, crl_path, ca_path):
        p = subprocess.run(["openssl", "crl", "-inform", "DER", "-in",
                            crl_path, "-CAfile", ca_path, "-noout"],
                           capture_output=True, text=True, timeout=60)
        return p.returncode, p.stdout + p.stderr

    def ocsp(self, dev, issuer_path):
        """Ask with openssl's request (issuer hashes from issuer_path) and
        check the answer with `openssl ocsp -respin ... -VAfile`."""
        req, resp = self.path("ocsp.req"), self.path("ocsp.resp")
        subprocess.run(["openssl", "ocsp", "-issuer", issuer_path, "-cert",
                        dev["cert"], "-reqout", req, "-no_nonce"], check=True,
                       capture_output=True, timeout=60)
        with open(req, "rb") as f:
            body = f.read()
        der = self.post("/ocsp", body, "application/ocsp-request")
        with open(resp, "wb") as f:
            f.write(der)
        r = ocsp.load_der_ocsp_response(der)
        self.assertEqual(r.response_status, ocsp.OCSPResponseStatus.SUCCESSFUL)
        p = subprocess.run(["openssl", "ocsp", "-respin", resp, "-issuer",
                            issuer_path, "-cert", dev["cert"], "-VAfile",
                            issuer_path, "-no_nonce"],
                           capture_output=True, text=True, timeout=60)
        return r, p.returncode, p.stdout + p.stderr

    def ca_list(self):
        """The Device CAs of `ca list` (the Infrastructure CA the data
        folder adopted at open is listed too, with role infra)."""
        rows = json.loads(cs("ca", "list", "--data", self.data,
                             "--json").stdout)
        infra = [r for r in rows if r["role"] == "infra"]
        self.assertEqual([r["state"] for r in infra], ["issuing"])
        return [r for r in rows if r["role"] == "device"]

    # ---- the checks --------------------------------------------------

    def check_chains(self):
        a, b = self.lookup_chain(self.a), self.lookup_chain(self.b)
        self.assertEqual(a, [self.a["x509"], self.old_ca, self.root])
        self.assertEqual(b, [self.b["x509"], self.new_ca, self.root])
        self.assertEqual(self.a["x509"].issuer, self.old_ca.subject)
        self.assertEqual(self.b["x509"].issuer, self.new_ca.subject)
        rc, out = self.openssl_verify(self.a, self.old_ca_path)
        self.assertEqual(rc, 0, out)
        rc, out = self.openssl_verify(self.b, self.new_ca_path)
        self.assertEqual(rc, 0, out)
        # Not under the other CA.
        rc, _ = self.openssl_verify(self.b, self.old_ca_path)
        self.assertNotEqual(rc, 0)

    def urls_of(self, cert):
        ext = cert.extensions
        cdp = [n.value for dp in ext.get_extension_for_oid(
            ExtensionOID.CRL_DISTRIBUTION_POINTS).value for n in dp.full_name]
        aia = [d.access_location.value for d in ext.get_extension_for_oid(
            ExtensionOID.AUTHORITY_INFORMATION_ACCESS).value
            if d.access_method == AuthorityInformationAccessOID.CA_ISSUERS]
        return cdp, aia

    def test_1_each_device_names_and_resolves_its_own_ca(self):
        self.check_chains()
        base = self.ca.url
        self.assertEqual(self.urls_of(self.a["x509"]),
                         ([base + "/crl/device-ca.crl"],
                          [base + "/ca/device-ca.crt"]))
        n = self.new_id
        self.assertEqual(self.urls_of(self.b["x509"]),
                         ([base + "/crl/device-ca-%d.crl" % n],
                          [base + "/ca/device-ca-%d.crt" % n]))
        # The caIssuers URLs answer each CA's own certificate.
        _, der = self.get("/ca/device-ca.crt")
        self.assertEqual(x509.load_der_x509_certificate(der), self.old_ca)
        _, der = self.get("/ca/device-ca-%d.crt" % n)
        self.assertEqual(x509.load_der_x509_certificate(der), self.new_ca)
        # New issuance goes to the new CA: the published chain is its.
        _, chain = self.get("/ca/chain.pem")
        self.assertEqual(pem_certs(chain), [self.new_ca, self.root])

    def test_2_ca_list_states_and_audit(self):
        rows = self.ca_list()
        self.assertEqual([(r["id"], r["state"]) for r in rows],
                         [(self.old_id, "active"), (self.new_id, "issuing")])
        self.assertEqual(rows[1]["subject"],
                         "/O=ProvCA/CN=Rollover Device CA 2")
        text = cs("ca", "list", "--data", self.data).stdout
        self.assertIn("\tissuing\t", text)
        audit = json.loads(cs("audit", "--data", self.data, "--json").stdout)
        acts = [(r["action"], r["target"]) for r in audit
                if r["action"].startswith("ca.")]
        self.assertIn(("ca.add", str(self.new_id)), acts)
        # Adopted twice: at the first open after init, and again after the
        # registry was put back as before the CA set (A's row adopted);
        # each time the Infrastructure CA right after the Device CA.
        adopts = [(r["target"], r["details"]["role"]) for r in audit
                  if r["action"] == "ca.adopt"]
        self.assertEqual(adopts, [
            ("1", "device"), ("2", "infra"), (str(self.old_id), "device"),
            (str(self.old_id + 1), "infra")])
        self.assertIn(("ca.activate", str(self.new_id)), acts)
        # The added key lives in DIR (0600); the registry holds none.
        keys = [f for f in os.listdir(self.data)
                if f.startswith("device-ca-") and f.endswith(".key")]
        self.assertEqual(len(keys), 1)
        self.assertEqual(os.stat(os.path.join(self.data, keys[0])).st_mode
                         & 0o777, 0o600)

    def test_3_revoke_old_device_crl_and_ocsp_per_ca(self):
        self.ca.revoke(self.a["id"])
        self.check_revocation()

    def check_revocation(self):
        f, crl = self.crl("/crl/device-ca.crl")
        rc, out = self.openssl_crl_verify(f, self.old_ca_path)
        self.assertEqual(rc, 0, out)
        self.assertIn("verify OK", out)
        self.assertIsNotNone(crl.get_revoked_certificate_by_serial_number(
            self.a["x509"].serial_number))
        self.assertEqual(crl.issuer, self.old_ca.subject)
        f2, crl2 = self.crl("/crl/device-ca-%d.crl" % self.new_id)
        rc, out = self.openssl_crl_verify(f2, self.new_ca_path)
        self.assertEqual(rc, 0, out)
        self.assertEqual(crl2.issuer, self.new_ca.subject)
        self.assertEqual(len(crl2), 0)
        # The old CA's CRL does not verify with the new CA's certificate.
        rc, _ = self.openssl_crl_verify(f, self.new_ca_path)
        self.assertNotEqual(rc, 0)

        r, rc, out = self.ocsp(self.a, self.old_ca_path)
        self.assertEqual(r.certificate_status, ocsp.OCSPCertStatus.REVOKED)
        self.assertEqual(rc, 0, out)
        self.assertIn("revoked", out)
        self.assertIn("Response verify OK", out)
        r, rc, out = self.ocsp(self.b, self.new_ca_path)
        self.assertEqual(r.certificate_status, ocsp.OCSPCertStatus.GOOD)
        self.assertEqual(rc, 0, out)
        self.assertIn(": good", out)
        # A's certificate asked with the new CA as issuer: OpenSSL's ID then
        # carries the old CA's name hash with the new CA's key hash, an
        # issuer this responder does not serve, so the answer is the
        # unsigned status unauthorized (never "unknown" signed by a CA).
        req = self.path("ocsp-mixed.req")
        subprocess.run(["openssl", "ocsp", "-issuer", self.new_ca_path, "-cert",
                        self.a["cert"], "-reqout", req, "-no_nonce"], check=True,
                       capture_output=True, timeout=60)
        with open(req, "rb") as f:
            der = self.post("/ocsp", f.read(), "application/ocsp-request")
        self.assertEqual(ocsp.load_der_ocsp_response(der).response_status,
                         ocsp.OCSPResponseStatus.UNAUTHORIZED)

    def test_4_restart_keeps_everything(self):
        self.restart()
        self.check_chains()
        self.check_revocation()
        self.assertEqual([r["state"] for r in self.ca_list()],
                         ["active", "issuing"])

    def test_5_refusals_change_nothing(self):
        before = self.ca_list()
        files = sorted(os.listdir(self.data))
        # Not certified by this Root: a self-signed CA.
        key = self.path("rogue.key")
        crt = self.path("rogue.crt")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec",
                        "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                        "-keyout", key, "-subj", "/CN=rogue", "-out", crt,
                        "-addext", "basicConstraints=critical,CA:TRUE",
                        "-addext", "keyUsage=critical,keyCertSign,cRLSign"],
                       check=True, capture_output=True, timeout=60)
        p = cs("ca", "add", "--data", self.data, "--cert", crt, "--key", key,
               ok=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("not certified by this data folder's Root", p.stderr)
        # Certified by the Root, but with a key that is not its.
        _, csr3 = self.keypair("dev-ca-3")
        crt3 = self.path("dev-ca-3.crt")
        cs("root", "certify-intermediate", "--data", self.data, "--root-key",
           self.rootkey, "--kind", "device", "--csr", csr3, "--out", crt3)
        before = self.ca_list()
        p = cs("ca", "add", "--data", self.data, "--cert", crt3,
               "--key", key, ok=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("does not match", p.stderr)
        # Already in the set.
        p = cs("ca", "add", "--data", self.data, "--cert", self.new_ca_path,
               "--key", self.new_ca_key, ok=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("already in the CA set", p.stderr)
        p = cs("ca", "activate", "99", "--data", self.data, ok=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("no Device CA with id 99", p.stderr)
        p = cs("ca", "retire", str(self.new_id), "--data", self.data,
               ok=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("is issuing", p.stderr)
        self.assertEqual(self.ca_list(), before)
        self.assertEqual(sorted(os.listdir(self.data)), files)

    def test_6_retired_ca_keeps_its_final_crl(self):
        cs("ca", "retire", str(self.old_id), "--data", self.data)
        rows = self.ca_list()
        self.assertEqual(rows[0]["state"], "retired")
        self.assertIsNotNone(rows[0]["retired_at"])
        self.restart()
        f, crl = self.crl("/crl/device-ca.crl")
        rc, out = self.openssl_crl_verify(f, self.old_ca_path)
        self.assertEqual(rc, 0, out)
        self.assertIsNotNone(crl.get_revoked_certificate_by_serial_number(
            self.a["x509"].serial_number))
        # Its nextUpdate is the CA certificate's end: nothing re-signs it.
        self.assertEqual(crl.next_update, self.old_ca.not_valid_after)
        # Devices of the retired CA still resolve with their own chain.
        self.assertEqual(self.lookup_chain(self.a),
                         [self.a["x509"], self.old_ca, self.root])
        # A retired CA signs no OCSP answer, and no other CA answers for its
        # devices: the unsigned status unauthorized (its final CRL stands).
        req = self.path("ocsp-retired.req")
        subprocess.run(["openssl", "ocsp", "-issuer", self.old_ca_path, "-cert",
                        self.a["cert"], "-reqout", req, "-no_nonce"], check=True,
                       capture_output=True, timeout=60)
        with open(req, "rb") as f:
            der = self.post("/ocsp", f.read(), "application/ocsp-request")
        self.assertEqual(ocsp.load_der_ocsp_response(der).response_status,
                         ocsp.OCSPResponseStatus.UNAUTHORIZED)
        p = cs("ca", "activate", str(self.old_id), "--data", self.data,
               ok=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("retired", p.stderr)
        # Its devices' status no longer changes: nothing would publish it.
        p = cs("revoke", self.a2["id"], "--data", self.data, "--reason",
               "keyCompromise", ok=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("which is retired", p.stderr)
        show = json.loads(cs("show", self.a2["id"], "--data", self.data,
                             "--json").stdout)
        self.assertEqual(show["status"], "active")
        _, again = self.crl("/crl/device-ca.crl")
        self.assertEqual(again.public_bytes(serialization.Encoding.DER),
                         crl.public_bytes(serialization.Encoding.DER))


class RolloverEncryptedKeysTest(unittest.TestCase):
    """A data folder whose keys are encrypted: an added Device CA's key
    file must be encrypted with the same passphrase (a plain one is refused
    and nothing is copied); the copy in DIR stays encrypted, and the new
    CA issues."""
    VAR = "PROVCA_TEST_ROLLOVER_PASS"

    def setUp(self):
        self.tmp = harness.World().tmp
        self.addCleanup(shutil.rmtree, self.tmp, True)
        os.environ[self.VAR] = "rollover-passphrase"
        self.addCleanup(os.environ.pop, self.VAR, None)
        self.data = os.path.join(self.tmp, "data")
        self.off = os.path.join(self.tmp, "off")
        cs("init", "--example-oids", "--data", self.data, "--key-pass-env", self.VAR,
           "--root-dir", self.off, "--hostname", "127.0.0.1")
        cs("manufacturer", "add", "--data", self.data, "--id", "acme",
           "--name", "Acme", "--key-pass-env", self.VAR)

    def test_added_key_must_be_encrypted_like_the_folder(self):
        plain = os.path.join(self.tmp, "dca2.key")
        csr = os.path.join(self.tmp, "dca2.csr")
        crt = os.path.join(self.tmp, "dca2.crt")
        enc = os.path.join(self.tmp, "dca2.enc.key")
        subprocess.run(["openssl", "req", "-new", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:P-256", "-nodes", "-keyout", plain,
                        "-subj", "/CN=dca2", "-out", csr], check=True,
                       capture_output=True, timeout=60)
        cs("root", "certify-intermediate", "--data", self.data, "--root-key",
           os.path.join(self.off, "root-ca.key"), "--key-pass-env", self.VAR,
           "--kind", "device", "--csr", csr, "--out", crt)
        before = sorted(os.listdir(self.data))
        p = cs("ca", "add", "--data", self.data, "--cert", crt, "--key",
               plain, "--key-pass-env", self.VAR, ok=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("is not encrypted", p.stderr)
        self.assertEqual(sorted(os.listdir(self.data)), before)
        subprocess.run(["openssl", "pkcs8", "-topk8", "-in", plain, "-v2",
                        "aes-256-cbc", "-passout", "env:" + self.VAR, "-out",
                        enc], check=True, capture_output=True, timeout=60)
        out = cs("ca", "add", "--data", self.data, "--cert", crt, "--key",
                 enc, "--key-pass-env", self.VAR).stdout
        new_id = out.split()[2]
        added = [f for f in os.listdir(self.data) if f not in before]
        self.assertEqual(len(added), 1)
        with open(os.path.join(self.data, added[0])) as f:
            self.assertTrue(f.read().startswith(
                "-----BEGIN ENCRYPTED PRIVATE KEY-----"))
        # Without the passphrase the folder (and the new key) cannot open.
        p = cs("ca", "activate", new_id, "--data", self.data, ok=False)
        self.assertEqual(p.returncode, 1)
        cs("ca", "activate", new_id, "--data", self.data, "--key-pass-env",
           self.VAR)
        key = os.path.join(self.tmp, "dev.key")
        dcsr = os.path.join(self.tmp, "dev.csr")
        subprocess.run(["openssl", "req", "-new", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:P-256", "-nodes", "-keyout", key,
                        "-subj", "/CN=dev", "-out", dcsr], check=True,
                       capture_output=True, timeout=60)
        doc = json.loads(cs("enroll", "--data", self.data, "--csr", dcsr,
                            "--manufacturer-id", "acme", "--serial", "SN-E",
                            "--model", "M", "--json", "--key-pass-env",
                            self.VAR).stdout)
        leaf = x509.load_pem_x509_certificate(doc["certificate"].encode())
        self.assertEqual(leaf.issuer, RolloverTest.load(crt).subject)


if __name__ == "__main__":
    unittest.main()

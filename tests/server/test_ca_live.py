"""A running serve follows the CA set without a restart (issue 16).

One `ca-server serve` runs through every step, never restarted:
1. `root renew-intermediate --kind device`: `ca list` shows CA 1's renewed
   certificate hash (the registry's row follows the renewal), and the next
   enrollment over HTTPS is chained to the renewed certificate, which
   /ca/device-ca.crt serves.
2. `ca-server crl --ca ID` prints (PEM) or writes (DER) one Device CA's
   CRL, signed by that CA; an unknown id, a bad id and --ca with --issuer
   are refused.
3. A new Device CA is certified by the Root ceremony and added: enrollment
   stays with CA 1 (added is active, not issuing). `ca activate` through
   the CLI: the next enrollment (single and batch) is issued by the new CA
   and chained to it; /ca/chain.pem and /ca/device-ca-<id>.crt follow, and
   its devices' CRL and caIssuers URLs resolve on the plain-HTTP listener.
4. `ca retire 1`: CA 1's key signs nothing -- OCSP about its device is
   refused (unauthorized) where it was answered before, a revocation of
   its device is refused, and its final CRL stays as it was (same bytes);
   the new CA keeps issuing.
5. Infrastructure CA rollover: a new one certified (--kind infra), added
   and activated through the CLI; a principal added next is certified by
   it (chain, CRL distribution point /crl/infra-ca-<id>.crl) and
   authenticates to the running serve next to the old principals; its
   revocation is refused at once and listed on the new CA's CRL only; the
   first CA, whose principals still hold valid certificates, does not
   retire (and the issuing one never does).
6. A CA 1 row left with the certificate from before an older renewal
   follows its renewed file at the next open (audit ca.renewal)."""
import hashlib
import json
import os
import shutil
import socket
import ssl
import subprocess
import sys
import unittest
import urllib.request

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509 import ocsp
from cryptography.x509.oid import NameOID

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
    end = "-----END CERTIFICATE-----"
    return [x509.load_pem_x509_certificate((part + end + "\n").encode())
            for part in text.split(end) if part.strip()]


def csr_pem(name):
    key = ec.generate_private_key(ec.SECP256R1())
    req = x509.CertificateSigningRequestBuilder().subject_name(x509.Name(
        [x509.NameAttribute(NameOID.COMMON_NAME, name)])).sign(
            key, hashes.SHA256())
    return req.public_bytes(serialization.Encoding.PEM).decode()


def issued_by(cert, ca):
    """Raise unless ca's key signed cert (EC CAs; cryptography 38 has no
    verify_directly_issued_by)."""
    ca.public_key().verify(cert.signature, cert.tbs_certificate_bytes,
                           ec.ECDSA(cert.signature_hash_algorithm))


def der(cert):
    return cert.public_bytes(serialization.Encoding.DER)


class LiveCASetTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.world = harness.World()
        cls.tmp = cls.world.tmp
        cls.ca = cls.world.ca(start=False)
        cls.data = cls.ca.data
        # The plain-HTTP listener on: the certificates of the CAs a
        # rollover adds name their CRL and caIssuers URLs on it.
        t = socket.socket()
        t.bind(("127.0.0.1", 0))
        port = t.getsockname()[1]
        t.close()
        cls.plain = "http://127.0.0.1:%d" % port
        cfgpath = os.path.join(cls.data, "config.json")
        with open(cfgpath) as f:
            cfg = json.load(f)
        cfg["plain_http_listen"] = "127.0.0.1:%d" % port
        cfg["plain_http_base_url"] = cls.plain
        with open(cfgpath, "w") as f:
            json.dump(cfg, f, indent=1)
        cls.ca.start()
        cls.rootkey = os.path.join(os.path.dirname(cls.data), "data-root",
                                   "root-ca.key")
        with open(cls.ca.root, "rb") as f:
            cls.root = x509.load_pem_x509_certificate(f.read())
        cls.n = 0

    @classmethod
    def tearDownClass(cls):
        cls.world.close()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def setUp(self):
        # The same serve throughout: nothing here restarts it.
        self.assertIsNotNone(self.ca.server)

    def ca_list(self):
        return {c["id"]: c for c in json.loads(cs(
            "ca", "list", "--data", self.data, "--json").stdout)}

    def enroll(self):
        LiveCASetTest.n += 1
        status, body = self.ca.api("POST", "/api/v1/devices", {
            "csr": csr_pem("d%d" % self.n), "serial": "LIVE-%d" % self.n,
            "model": "M1"}, ident=self.ca.mfr)
        self.assertEqual(status, 201, body)
        doc = json.loads(body)
        cert = x509.load_pem_x509_certificate(doc["certificate"].encode())
        return doc, cert, pem_certs(doc["chain"])

    def get(self, path):
        status, body = self.ca.api("GET", path)
        self.assertEqual(status, 200, path)
        return body

    def plain_get(self, url):
        """GET a URL a certificate names, over plain HTTP (no TLS)."""
        self.assertTrue(url.startswith(self.plain + "/"), url)
        with urllib.request.urlopen(url, timeout=30) as resp:
            self.assertEqual(resp.status, 200, url)
            return resp.read()

    def ocsp(self, cert, issuer):
        req = ocsp.OCSPRequestBuilder().add_certificate(
            cert, issuer, hashes.SHA1()).build()
        ctx = ssl.create_default_context(cafile=self.ca.root)
        r = urllib.request.Request(
            self.ca.url + "/ocsp", data=req.public_bytes(
                serialization.Encoding.DER),
            headers={"Content-Type": "application/ocsp-request"})
        with urllib.request.urlopen(r, context=ctx, timeout=30) as resp:
            return ocsp.load_der_ocsp_response(resp.read())

    def certify_new_ca(self, name):
        key, csr = (os.path.join(self.tmp, name + ".key"),
                    os.path.join(self.tmp, name + ".csr"))
        subprocess.run(["openssl", "req", "-new", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:P-256", "-nodes", "-keyout", key,
                        "-subj", "/CN=" + name, "-out", csr], check=True,
                       capture_output=True, timeout=60)
        out = os.path.join(self.tmp, name + ".crt")
        cs("root", "certify-intermediate", "--data", self.data, "--root-key",
           self.rootkey, "--kind", "device", "--csr", csr, "--out", out,
           "--cn", name)
        with open(out, "rb") as f:
            return out, key, x509.load_pem_x509_certificate(f.read())

    def test_1_renewal_is_followed_by_ca_list_and_serve(self):
        path = os.path.join(self.data, "device-ca.crt")
        with open(path, "rb") as f:
            old = x509.load_pem_x509_certificate(f.read())
        self.assertEqual(self.ca_list()[1]["certificate_sha256"],
                         hashlib.sha256(der(old)).hexdigest())
        _, cert, chain = self.enroll()
        self.assertEqual(chain[0], old)
        p = cs("root", "renew-intermediate", "--data", self.data,
               "--root-key", self.rootkey, "--kind", "device")
        self.assertIn("CA 1 of the CA set follows", p.stdout)
        with open(path, "rb") as f:
            new = x509.load_pem_x509_certificate(f.read())
        self.assertNotEqual(new.serial_number, old.serial_number)
        row = self.ca_list()[1]
        self.assertEqual(row["certificate_sha256"],
                         hashlib.sha256(der(new)).hexdigest())
        self.assertEqual(row["state"], "issuing")
        # The running serve: next enrollment chained to the renewed cert.
        _, cert, chain = self.enroll()
        self.assertEqual(chain, [new, self.root])
        issued_by(cert, new)
        self.assertEqual(self.get("/ca/device-ca.crt"), der(new))
        LiveCASetTest.ca1 = new
        LiveCASetTest.ca1_old = old
        LiveCASetTest.ca1_device = cert

    def test_2_crl_of_one_ca(self):
        p = cs("crl", "--data", self.data, "--ca", "1")
        crl = x509.load_pem_x509_crl(p.stdout.encode())
        self.assertEqual(crl.issuer, self.ca1.subject)
        self.assertTrue(crl.is_signature_valid(self.ca1.public_key()))
        out = os.path.join(self.tmp, "ca1.crl")
        cs("crl", "--data", self.data, "--ca", "1", "--out", out)
        with open(out, "rb") as f:
            self.assertEqual(x509.load_der_x509_crl(f.read()).issuer,
                             self.ca1.subject)
        p = cs("crl", "--data", self.data, "--ca", "99", ok=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("no such Device CA", p.stderr)
        for bad in (["--ca", "x"], ["--ca", "0"],
                    ["--ca", "1", "--issuer", "infra"]):
            p = cs("crl", "--data", self.data, *bad, ok=False)
            self.assertEqual(p.returncode, 2, (bad, p.stderr))

    def test_3_activate_without_restart(self):
        path, key, new = self.certify_new_ca("Live Device CA 2")
        out = cs("ca", "add", "--data", self.data, "--cert", path, "--key",
                 key).stdout
        new_id = int(out.split()[2])
        # Added is active, not issuing: CA 1 still signs.
        _, cert, chain = self.enroll()
        self.assertEqual(chain[0], self.ca1)
        self.assertEqual(self.get("/ca/device-ca-%d.crt" % new_id), der(new))
        cs("ca", "activate", str(new_id), "--data", self.data)
        doc, cert, chain = self.enroll()
        self.assertEqual(chain, [new, self.root])
        issued_by(cert, new)
        self.assertEqual(cert.issuer, new.subject)
        # Its URLs resolve on the plain listener (RFC 5280: http): the
        # new CA's CRL, signed by it, and its certificate.
        dp = cert.extensions.get_extension_for_class(
            x509.CRLDistributionPoints).value[0].full_name[0].value
        self.assertEqual(dp, "%s/crl/device-ca-%d.crl" % (self.plain, new_id))
        crl = x509.load_der_x509_crl(self.plain_get(dp))
        self.assertTrue(crl.is_signature_valid(new.public_key()))
        aia = [d.access_location.value for d in
               cert.extensions.get_extension_for_class(
                   x509.AuthorityInformationAccess).value
               if d.access_method == x509.oid.AuthorityInformationAccessOID.CA_ISSUERS]
        self.assertEqual(aia, ["%s/ca/device-ca-%d.crt" % (self.plain, new_id)])
        self.assertEqual(self.plain_get(aia[0]), der(new))
        status, body = self.ca.api("POST", "/api/v1/devices/batch", {
            "devices": [{"csr": csr_pem("b1"), "serial": "LIVE-B1",
                         "model": "M1"}]}, ident=self.ca.mfr)
        self.assertEqual(status, 200, body)
        batch = json.loads(body)
        self.assertEqual(pem_certs(batch["chain"]), [new, self.root])
        issued_by(x509.load_pem_x509_certificate(
            batch["results"][0]["certificate"].encode()), new)
        self.assertEqual(pem_certs(self.get("/ca/chain.pem").decode()),
                         [new, self.root])
        crl = x509.load_pem_x509_crl(cs("crl", "--data", self.data, "--ca",
                                        str(new_id)).stdout.encode())
        self.assertTrue(crl.is_signature_valid(new.public_key()))
        LiveCASetTest.ca2 = new

    def test_4_retire_without_restart(self):
        dev = self.ca1_device
        r = self.ocsp(dev, self.ca1)
        self.assertEqual(r.response_status,
                         ocsp.OCSPResponseStatus.SUCCESSFUL)
        self.assertEqual(r.certificate_status, ocsp.OCSPCertStatus.GOOD)
        cs("ca", "retire", "1", "--data", self.data)
        self.assertEqual(self.ca_list()[1]["state"], "retired")
        final = self.get("/crl/device-ca.crl")
        # Its key signs nothing: no OCSP answer about its devices ...
        r = self.ocsp(dev, self.ca1)
        self.assertEqual(r.response_status,
                         ocsp.OCSPResponseStatus.UNAUTHORIZED)
        # ... no revocation of one of them, and no new CRL.
        dev_id = dev.subject.get_attributes_for_oid(
            NameOID.COMMON_NAME)[0].value
        p = cs("revoke", dev_id, "--data", self.data, "--reason",
               "keyCompromise", ok=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("retired", p.stderr)
        after = self.get("/crl/device-ca.crl")
        self.assertEqual(after, final)
        crl = x509.load_der_x509_crl(after)
        self.assertTrue(crl.is_signature_valid(self.ca1.public_key()))
        self.assertIsNone(crl.get_revoked_certificate_by_serial_number(
            dev.serial_number))
        # The new CA keeps issuing, still the same serve.
        _, cert, chain = self.enroll()
        self.assertEqual(chain[0], self.ca2)

    def principal(self, name):
        out = os.path.join(self.tmp, "p-" + name)
        cs("principal", "add", "--data", self.data, "--name", name, "--role",
           "operator", "--out", out)
        crt = os.path.join(out, name + ".crt")
        with open(crt, "rb") as f:
            cert = x509.load_pem_x509_certificate(f.read())
        with open(os.path.join(out, name + "-chain.pem")) as f:
            chain = pem_certs(f.read())
        return (crt, os.path.join(out, name + ".key")), cert, chain

    def lookup_as(self, ident):
        status, _ = self.ca.api("GET", "/api/v1/principals", ident=ident) \
            if ident == self.ca.admin else self.ca.api(
                "GET", "/devices/" + self.lookup_id, ident=ident)
        return status

    def test_5_infrastructure_ca_rollover_without_restart(self):
        doc, _, _ = self.enroll()
        LiveCASetTest.lookup_id = doc["device_id"]
        with open(self.ca.infra, "rb") as f:
            infra1 = x509.load_pem_x509_certificate(f.read())
        rows = self.ca_list()
        old_id = [i for i, r in rows.items() if r["role"] == "infra"][0]
        self.assertEqual(rows[old_id]["state"], "issuing")
        key, csr = (os.path.join(self.tmp, "infra2.key"),
                    os.path.join(self.tmp, "infra2.csr"))
        subprocess.run(["openssl", "req", "-new", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:P-256", "-nodes", "-keyout", key,
                        "-subj", "/CN=infra2", "-out", csr], check=True,
                       capture_output=True, timeout=60)
        path = os.path.join(self.tmp, "infra2.crt")
        cs("root", "certify-intermediate", "--data", self.data, "--root-key",
           self.rootkey, "--kind", "infra", "--csr", csr, "--out", path,
           "--cn", "Live Infrastructure CA 2")
        with open(path, "rb") as f:
            infra2 = x509.load_pem_x509_certificate(f.read())
        p = cs("ca", "add", "--data", self.data, "--kind", "infra", "--cert",
               path, "--key", key)
        self.assertIn("Infrastructure CA", p.stdout)
        new_id = int(p.stdout.split()[2])
        self.assertEqual(self.ca_list()[new_id]["role"], "infra")
        self.assertEqual(self.ca_list()[new_id]["state"], "active")
        cs("ca", "activate", str(new_id), "--data", self.data)
        rows = self.ca_list()
        self.assertEqual((rows[old_id]["state"], rows[new_id]["state"]),
                         ("active", "issuing"))
        # A new principal is certified by the new CA and, without a
        # restart, authenticates next to the old ones.
        op2, cert, chain = self.principal("op2")
        issued_by(cert, infra2)
        self.assertEqual(chain, [infra2, self.root])
        dp = cert.extensions.get_extension_for_class(
            x509.CRLDistributionPoints).value[0].full_name[0].value
        self.assertTrue(dp.endswith("/crl/infra-ca-%d.crl" % new_id), dp)
        if dp.startswith("http:"):
            crl = x509.load_der_x509_crl(self.plain_get(dp))
            self.assertTrue(crl.is_signature_valid(infra2.public_key()))
        self.assertEqual(self.lookup_as(op2), 200)
        self.assertEqual(self.lookup_as(self.ca.operator), 200)
        self.assertEqual(self.lookup_as(self.ca.admin), 200)
        # Its revocation: refused at once, listed on the new CA's CRL
        # only (signed by the new CA), not on the first one's.
        cs("principal", "revoke", "op2", "--data", self.data, "--reason",
           "keyCompromise")
        self.assertIn(self.lookup_as(op2), (401, 403))
        crl2 = x509.load_der_x509_crl(self.get("/crl/infra-ca-%d.crl" %
                                               new_id))
        self.assertTrue(crl2.is_signature_valid(infra2.public_key()))
        self.assertIsNotNone(crl2.get_revoked_certificate_by_serial_number(
            cert.serial_number))
        crl1 = x509.load_der_x509_crl(self.get("/crl/infra-ca.crl"))
        self.assertTrue(crl1.is_signature_valid(infra1.public_key()))
        self.assertIsNone(crl1.get_revoked_certificate_by_serial_number(
            cert.serial_number))
        # The first CA's principals keep working, so it does not retire.
        p = cs("ca", "retire", str(old_id), "--data", self.data, ok=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("valid principal certificate", p.stderr)
        self.assertEqual(self.ca_list()[old_id]["state"], "active")
        self.assertEqual(self.lookup_as(self.ca.operator), 200)
        p = cs("ca", "retire", str(new_id), "--data", self.data, ok=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("issuing", p.stderr)

    def test_6_a_row_left_behind_by_an_older_renewal_follows_its_file(self):
        """A registry whose CA 1 row kept the certificate from before a
        renewal (renew-intermediate before rows followed it) is repaired
        at the next open: same subject and key, notBefore not earlier."""
        old_der = der(self.ca1_old)
        old_hash = hashlib.sha256(old_der).hexdigest()
        if self.ca.db:      # the registry on PostgreSQL (under pg_run.py)
            harness.pgdb.sql(self.ca.db, "UPDATE cas SET cert_der ="
                             " decode(:'der', 'hex'), cert_sha256 = :'hash'"
                             " WHERE id = 1", der=old_der.hex(), hash=old_hash)
        else:
            import sqlite3
            db = sqlite3.connect(os.path.join(self.data, "registry.db"))
            with db:
                db.execute("UPDATE cas SET cert_der = ?, cert_sha256 = ?"
                           " WHERE id = 1", (old_der, old_hash))
            db.close()
        self.assertEqual(self.ca_list()[1]["certificate_sha256"],
                         hashlib.sha256(der(self.ca1)).hexdigest())
        audit = json.loads(cs("audit", "--data", self.data, "--action",
                              "ca.renewal", "--json").stdout)
        self.assertEqual([(r["target"], r["details"]["role"])
                          for r in audit], [("1", "device")])
        # The running serve answers with the renewed certificate.
        self.assertEqual(self.get("/ca/device-ca.crt"), der(self.ca1))
        _, _, chain = self.enroll()
        self.assertEqual(chain[0], self.ca2)


if __name__ == "__main__":
    unittest.main()

"""The offline Root's ceremonies (`ca-server root ...`).

The Device and Infrastructure CA certificates name the Root's CRL
(<base>/crl/root-ca.crl) as their CRL distribution point; init publishes a
first, empty Root CRL with a nextUpdate a year out, and serve answers it.
`root certify-intermediate` certifies a new CA from a CSR (OpenSSL verifies
it under the Root, with the intermediate profile); `root crl --revoke`
signs the next Root CRL listing it, which serve publishes without a restart
and `openssl verify -crl_check_all` honours; `root renew-intermediate`
re-certifies the Device CA's key, under which devices issued before still
verify. Each ceremony needs the Root key named explicitly (an encrypted one
with its passphrase from a variable), refuses a key that is not the Root's
without changing anything, and writes one audit row."""
import datetime
import json
import os
import shutil
import subprocess
import sys
import unittest
import urllib.request
import ssl

from cryptography import x509
from cryptography.x509.oid import ExtensionOID

SRC = os.environ.get("PROVCA_SRC", os.path.abspath(
    os.path.join(os.path.dirname(__file__), "..", "..")))
sys.path.insert(0, os.path.join(SRC, "tests", "e2e"))
import harness  # noqa: E402

CS = harness.prog("ca-server")
PASS = "root-ceremony-passphrase"
VAR = "PROVCA_TEST_ROOT_PASS"


def cs(*args, ok=True):
    env = dict(os.environ, **{VAR: PASS})
    p = subprocess.run([CS, *args], capture_output=True, text=True,
                       timeout=300, env=env)
    if ok and p.returncode != 0:
        raise AssertionError(f"{args}: rc={p.returncode} {p.stderr}")
    return p


def load(path):
    with open(path, "rb") as f:
        return x509.load_pem_x509_certificate(f.read())


class RootCeremonyTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.world = harness.World()
        cls.tmp = cls.world.tmp
        cls.data = os.path.join(cls.tmp, "data")
        cls.rootkey = os.path.join(cls.tmp, "offline", "root-ca.key")
        # Under tests/pg/pg_run.py (pg_server_root_ceremony) the registry is
        # a fresh PostgreSQL database.
        cls.db, db_args = harness.pgdb.init_args()
        cs("init", "--example-oids", "--data", cls.data, "--key-pass-env", VAR, "--root-dir",
           os.path.dirname(cls.rootkey), "--hostname", "127.0.0.1", *db_args)
        cls.root = os.path.join(cls.data, "root-ca.crt")
        cls.srv = None

    @classmethod
    def tearDownClass(cls):
        cls.world.close()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def path(self, n):
        return os.path.join(self.tmp, n)

    def ceremony(self, *args, ok=True):
        return cs("root", *args, "--data", self.data, "--root-key",
                  self.rootkey, "--key-pass-env", VAR, ok=ok)

    def audit(self, action):
        out = cs("audit", "--data", self.data, "--action", action, "--json",
                 "--key-pass-env", VAR).stdout
        return json.loads(out)

    def served_crl(self):
        os.environ[VAR] = PASS
        try:
            if self.srv is None:
                type(self).srv = harness.Proc(
                    [CS, "serve", "--data", self.data, "--listen",
                     "127.0.0.1:0", "--key-pass-env", VAR],
                    r"listening on https://127\.0\.0\.1:(\d+)",
                    self.path("serve.log"))
                self.world.stoppers.append(self.srv.stop)
        finally:
            del os.environ[VAR]
        ctx = ssl.create_default_context(cafile=self.root)
        url = "https://127.0.0.1:%d/crl/root-ca.crl" % self.srv.port
        with urllib.request.urlopen(url, context=ctx, timeout=30) as r:
            self.assertEqual(r.headers["Content-Type"], "application/pkix-crl")
            return x509.load_der_x509_crl(r.read())

    def csr(self, name):
        key, csr = self.path(name + ".key"), self.path(name + ".csr")
        subprocess.run(["openssl", "req", "-new", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:P-256", "-nodes", "-keyout", key,
                        "-subj", "/CN=" + name, "-out", csr], check=True,
                       capture_output=True, timeout=60)
        return csr

    def test_1_intermediates_name_the_root_crl_which_is_served(self):
        for f in ("device-ca.crt", "infra-ca.crt"):
            cdp = load(os.path.join(self.data, f)).extensions \
                .get_extension_for_oid(
                    ExtensionOID.CRL_DISTRIBUTION_POINTS).value
            self.assertEqual([n.value for dp in cdp for n in dp.full_name],
                             ["https://127.0.0.1:8443/crl/root-ca.crl"], f)
        crl = self.served_crl()
        self.assertTrue(crl.is_signature_valid(load(self.root).public_key()))
        self.assertEqual(len(crl), 0)
        left = crl.next_update - datetime.datetime.utcnow()
        self.assertGreater(left.days, 360)
        self.assertFalse(os.path.exists(os.path.join(self.data,
                                                     "root-ca.key")))

    def test_2_certify_then_revoke_an_intermediate(self):
        out = self.path("dev2.crt")
        self.ceremony("certify-intermediate", "--kind", "device", "--csr",
                  self.csr("dev2"), "--out", out, "--cn", "Test Device CA 2")
        v = subprocess.run(["openssl", "verify", "-x509_strict", "-CAfile",
                            self.root, out], capture_output=True, text=True)
        self.assertEqual(v.returncode, 0, v.stdout + v.stderr)
        cert = load(out)
        self.assertEqual(cert.extensions.get_extension_for_class(
            x509.BasicConstraints).value.path_length, 0)
        self.assertTrue(cert.extensions.get_extension_for_class(
            x509.NameConstraints).critical)
        sn = "%X" % cert.serial_number
        rows = self.audit("root.certify-intermediate")
        self.assertEqual([r["target"] for r in rows], ["%040x" % cert.serial_number])
        before = self.served_crl()
        self.ceremony("crl", "--revoke", sn, "--reason", "cACompromise")
        crl = self.served_crl()  # no restart
        self.assertTrue(crl.is_signature_valid(load(self.root).public_key()))
        e = crl.get_revoked_certificate_by_serial_number(cert.serial_number)
        self.assertIsNotNone(e)
        self.assertEqual(e.extensions.get_extension_for_class(
            x509.CRLReason).value.reason, x509.ReasonFlags.ca_compromise)
        num = crl.extensions.get_extension_for_class(x509.CRLNumber).value
        self.assertEqual(num.crl_number, before.extensions.get_extension_for_class(
            x509.CRLNumber).value.crl_number + 1)
        self.assertEqual(len(self.audit("root.crl")), 1)
        pem = self.path("root-crl.pem")
        subprocess.run(["openssl", "crl", "-inform", "DER", "-in",
                        os.path.join(self.data, "root-ca.crl"), "-out", pem],
                       check=True)
        v = subprocess.run(["openssl", "verify", "-crl_check", "-CAfile",
                            self.root, "-CRLfile", pem, out],
                           capture_output=True, text=True)
        self.assertNotEqual(v.returncode, 0)
        self.assertIn("certificate revoked", v.stdout + v.stderr)

    def test_3_renew_keeps_devices_valid(self):
        cs("manufacturer", "add", "--data", self.data, "--id", "acme",
           "--name", "Acme", "--key-pass-env", VAR)
        doc = json.loads(cs("enroll", "--data", self.data, "--csr",
                            self.csr("dev-before"), "--manufacturer-id",
                            "acme", "--serial", "RN-1", "--model", "M",
                            "--json", "--key-pass-env", VAR).stdout)
        leaf = self.path("before.pem")
        with open(leaf, "w") as f:
            f.write(doc["certificate"])
        old = load(os.path.join(self.data, "device-ca.crt"))
        self.ceremony("renew-intermediate", "--kind", "device")
        new = load(os.path.join(self.data, "device-ca.crt"))
        self.assertNotEqual(old.serial_number, new.serial_number)
        self.assertEqual(old.subject, new.subject)
        self.assertEqual(old.public_key().public_numbers(),
                         new.public_key().public_numbers())
        self.assertTrue(os.path.exists(os.path.join(
            self.data, "device-ca.%X.crt" % old.serial_number)))
        v = subprocess.run(["openssl", "verify", "-x509_strict", "-CAfile",
                            self.root, "-untrusted",
                            os.path.join(self.data, "device-ca.crt"), leaf],
                           capture_output=True, text=True)
        self.assertEqual(v.returncode, 0, v.stdout + v.stderr)
        with open(os.path.join(self.data, "device-chain.pem"), "rb") as f:
            self.assertEqual(x509.load_pem_x509_certificate(f.read()), new)
        self.assertEqual(len(self.audit("root.renew-intermediate")), 1)
        # The CA opens with the renewed certificate and issues under it.
        doc = json.loads(cs("enroll", "--data", self.data, "--csr",
                            self.csr("dev-after"), "--manufacturer-id",
                            "acme", "--serial", "RN-2", "--model", "M",
                            "--json", "--key-pass-env", VAR).stdout)
        self.assertEqual(x509.load_pem_x509_certificate(
            doc["certificate"].encode()).issuer, new.subject)

    def test_4_wrong_or_locked_root_key_changes_nothing(self):
        crl = os.path.join(self.data, "root-ca.crl")
        with open(crl, "rb") as f:
            before = f.read()
        n = len(cs("audit", "--data", self.data, "--json", "--limit", "1000",
                   "--key-pass-env", VAR).stdout)
        p = cs("root", "crl", "--data", self.data, "--root-key",
               os.path.join(self.data, "device-ca.key"), "--key-pass-env",
               VAR, ok=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("is not the key of", p.stderr)
        p = cs("root", "crl", "--data", self.data, "--root-key",
               self.rootkey, ok=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("passphrase", p.stderr)
        p = cs("root", "crl", "--data", self.data, ok=False)
        self.assertEqual(p.returncode, 2)
        with open(crl, "rb") as f:
            self.assertEqual(f.read(), before)
        self.assertEqual(len(cs("audit", "--data", self.data, "--json",
                                "--limit", "1000", "--key-pass-env",
                                VAR).stdout), n)


if __name__ == "__main__":
    unittest.main()

"""A principal's certificates from the command line.

Renewal: `principal renew` certifies a new key for the same principal (role
and manufacturer kept, OpenSSL verifies it under the Infrastructure CA),
leaves the earlier certificate valid unless --revoke-previous, which lists
them as superseded; disabled or unknown principals and role changes are
refused without a trace.

Revocation: revoking a principal's certificate from the command line: the
Infrastructure CA's CRL lists it with its reason (parsed and signature-checked
with Python's cryptography package, and `openssl verify -crl_check` refuses
the certificate), the Device CA's CRL does not, principal certificates name
the CRL's URL, the audit log records it, and every refusal leaves the
registry as it was."""
import json
import os
import shutil
import sqlite3
import subprocess
import tempfile
import unittest

from cryptography import x509
from cryptography.x509.oid import ExtensionOID

BIN = os.path.join(os.environ.get("PROVCA_BIN", "build/bin"), "ca-server")


def run(*args, ok=True):
    p = subprocess.run([BIN, *args], capture_output=True, text=True,
                       timeout=300)
    if ok and p.returncode != 0:
        raise AssertionError(f"{args}: rc={p.returncode} {p.stderr}")
    return p


def load_cert(path):
    with open(path, "rb") as f:
        return x509.load_pem_x509_certificate(f.read())


class PrincipalRevokeTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="provca-prevoke-")
        cls.data = os.path.join(cls.tmp, "data")
        run("init", "--example-oids", "--data", cls.data, "--plain-keys", "--hostname", "ca.example")
        for name in ("op-a", "op-b", "op-c"):
            run("principal", "add", "--data", cls.data, "--role",
                "operator", "--name", name, "--out",
                os.path.join(cls.tmp, name))
        run("signer", "add", "--data", cls.data, "--name", "sig-a",
            "--out", os.path.join(cls.tmp, "sig-a"))
        cls.infra = load_cert(os.path.join(cls.data, "infra-ca.crt"))

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def cert(self, name):
        return load_cert(os.path.join(self.tmp, name, name + ".crt"))

    def crl(self, issuer=None):
        out = os.path.join(self.tmp, f"{issuer or 'default'}.crl")
        args = ["crl", "--data", self.data, "--out", out]
        if issuer:
            args += ["--issuer", issuer]
        run(*args)
        with open(out, "rb") as f:
            return x509.load_der_x509_crl(f.read()), out

    def dump(self):
        con = sqlite3.connect(os.path.join(self.data, "registry.db"))
        rows = list(con.iterdump())
        con.close()
        return rows

    def refused(self, args, needle, code):
        before = self.dump()
        p = run(*args, ok=False)
        self.assertEqual(p.returncode, code, p.stderr)
        self.assertIn(needle, p.stderr)
        self.assertEqual(self.dump(), before, "refusal changed the registry")

    def listed(self):
        p = run("principal", "list", "--data", self.data, "--json")
        return {x["name"]: x for x in json.loads(p.stdout)}

    def test_principal_certificates_name_the_infra_crl(self):
        for name in ("op-a", "sig-a"):
            cdp = self.cert(name).extensions.get_extension_for_oid(
                ExtensionOID.CRL_DISTRIBUTION_POINTS).value
            uris = [n.value for dp in cdp for n in dp.full_name]
            self.assertEqual(uris,
                             ["https://ca.example:8443/crl/infra-ca.crl"])

    def test_revoke_lists_certificate_on_infra_crl_only(self):
        op = self.cert("op-b")
        run("principal", "revoke", "op-b", "--data", self.data, "--reason",
            "keyCompromise")
        crl, path = self.crl("infra")
        self.assertEqual(crl.issuer, self.infra.subject)
        self.assertTrue(crl.is_signature_valid(self.infra.public_key()))
        entry = crl.get_revoked_certificate_by_serial_number(
            op.serial_number)
        self.assertIsNotNone(entry, "revoked principal not on infra CRL")
        self.assertEqual(entry.extensions.get_extension_for_class(
            x509.CRLReason).value.reason, x509.ReasonFlags.key_compromise)
        # Other principals are not listed.
        self.assertIsNone(crl.get_revoked_certificate_by_serial_number(
            self.cert("op-a").serial_number))
        # The Device CA's CRL (the default) does not carry it.
        dcrl, _ = self.crl()
        self.assertIsNone(dcrl.get_revoked_certificate_by_serial_number(
            op.serial_number))
        # OpenSSL agrees, independently.
        pem = os.path.join(self.tmp, "infra-crl.pem")
        subprocess.run(["openssl", "crl", "-inform", "DER", "-in", path,
                        "-out", pem], check=True)
        chain = os.path.join(self.tmp, "root+infra.pem")
        with open(chain, "wb") as f:
            for n in ("root-ca.crt", "infra-ca.crt"):
                with open(os.path.join(self.data, n), "rb") as g:
                    f.write(g.read())
        bad = subprocess.run(["openssl", "verify", "-crl_check", "-CAfile",
                              chain, "-CRLfile", pem,
                              os.path.join(self.tmp, "op-b", "op-b.crt")],
                             capture_output=True, text=True)
        self.assertNotEqual(bad.returncode, 0)
        self.assertIn("certificate revoked", bad.stdout + bad.stderr)
        good = subprocess.run(["openssl", "verify", "-crl_check", "-CAfile",
                               chain, "-CRLfile", pem,
                               os.path.join(self.tmp, "op-a", "op-a.crt")],
                              capture_output=True, text=True)
        self.assertEqual(good.returncode, 0, good.stdout + good.stderr)
        # Listed as revoked; the principal row itself is unchanged.
        p = self.listed()["op-b"]
        self.assertTrue(p["certificate_revoked"])
        self.assertEqual(p["status"], "active")
        self.assertFalse(self.listed()["op-a"]["certificate_revoked"])
        # Audited with reason and serial.
        a = json.loads(run("audit", "--data", self.data, "--target", "op-b",
                           "--json").stdout)
        rev = [x for x in a if x["action"] == "principal.revoke"]
        self.assertEqual(len(rev), 1, a)
        detail = json.dumps(rev[0])
        self.assertIn("keyCompromise", detail)
        self.assertIn(format(op.serial_number, "X"), detail.upper())

    def test_next_revocation_gets_next_crl_number(self):
        before, _ = self.crl("infra")
        n0 = before.extensions.get_extension_for_class(x509.CRLNumber).value
        run("principal", "revoke", "sig-a", "--data", self.data, "--reason",
            "superseded")
        after, _ = self.crl("infra")
        n1 = after.extensions.get_extension_for_class(x509.CRLNumber).value
        self.assertGreater(n1.crl_number, n0.crl_number)
        entry = after.get_revoked_certificate_by_serial_number(
            self.cert("sig-a").serial_number)
        self.assertEqual(entry.extensions.get_extension_for_class(
            x509.CRLReason).value.reason, x509.ReasonFlags.superseded)

    def test_refusals_leave_registry_unchanged(self):
        run("principal", "revoke", "op-c", "--data", self.data, "--reason",
            "unspecified")
        self.refused(["principal", "revoke", "op-c", "--data", self.data,
                      "--reason", "keyCompromise"], "already revoked", 1)
        self.refused(["principal", "revoke", "nobody", "--data", self.data,
                      "--reason", "keyCompromise"], "unknown principal", 1)
        self.refused(["principal", "revoke", "op-a", "--data", self.data,
                      "--reason", "certificateHold"],
                     "unknown revocation reason", 2)
        self.refused(["principal", "revoke", "op-a", "--data", self.data],
                     "--reason is required", 2)
        self.refused(["principal", "revoke", "bad name", "--data", self.data,
                      "--reason", "superseded"], "principal name", 1)
        self.refused(["crl", "--data", self.data, "--out",
                      os.path.join(self.tmp, "x.crl"), "--issuer", "root"],
                     "--issuer must be device or infra", 2)
        self.assertFalse(os.path.exists(os.path.join(self.tmp, "x.crl")))
        # unspecified is expressed by leaving the reason out (RFC 5280).
        crl, _ = self.crl("infra")
        entry = crl.get_revoked_certificate_by_serial_number(
            self.cert("op-c").serial_number)
        self.assertIsNotNone(entry)
        self.assertEqual(len(entry.extensions), 0)

    def test_renew_keeps_role_and_revokes_previous_when_asked(self):
        run("manufacturer", "add", "--data", self.data, "--id", "acme",
            "--name", "Acme")
        run("principal", "add", "--data", self.data, "--role",
            "manufacturer", "--name", "mf-r", "--manufacturer-id", "acme",
            "--out", os.path.join(self.tmp, "mf-r"))
        first = self.cert("mf-r")
        p = run("principal", "renew", "mf-r", "--data", self.data, "--out",
                os.path.join(self.tmp, "mf-r2"))
        self.assertIn("principal mf-r renewed", p.stdout)
        second = load_cert(os.path.join(self.tmp, "mf-r2", "mf-r.crt"))
        self.assertEqual(second.subject, first.subject)
        self.assertNotEqual(second.serial_number, first.serial_number)
        self.assertNotEqual(second.public_key().public_numbers(),
                            first.public_key().public_numbers())
        v = subprocess.run(
            ["openssl", "verify", "-x509_strict", "-CAfile",
             os.path.join(self.data, "root-ca.crt"), "-untrusted",
             os.path.join(self.data, "infra-ca.crt"),
             os.path.join(self.tmp, "mf-r2", "mf-r.crt")],
            capture_output=True, text=True)
        self.assertEqual(v.returncode, 0, v.stdout + v.stderr)
        listed = self.listed()["mf-r"]
        self.assertEqual(listed["manufacturer_id"], "acme")
        self.assertEqual(int(listed["certificate_serial"], 16), second.serial_number)
        crl, _ = self.crl("infra")
        self.assertIsNone(crl.get_revoked_certificate_by_serial_number(
            first.serial_number), "renewal alone revoked the old one")
        # From a CSR, revoking both earlier certificates.
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.hazmat.primitives.serialization import Encoding
        key = ec.generate_private_key(ec.SECP256R1())
        csr = x509.CertificateSigningRequestBuilder().subject_name(
            x509.Name([])).sign(key, hashes.SHA256())
        path = os.path.join(self.tmp, "mf-r3.csr")
        with open(path, "wb") as f:
            f.write(csr.public_bytes(Encoding.PEM))
        p = run("principal", "renew", "mf-r", "--data", self.data, "--csr",
                path, "--revoke-previous")
        third = x509.load_pem_x509_certificate(p.stdout.encode())
        self.assertEqual(third.public_key().public_numbers(),
                         key.public_key().public_numbers())
        crl, _ = self.crl("infra")
        for c in (first, second):
            e = crl.get_revoked_certificate_by_serial_number(c.serial_number)
            self.assertIsNotNone(e)
            self.assertEqual(e.extensions.get_extension_for_class(
                x509.CRLReason).value.reason, x509.ReasonFlags.superseded)
        self.assertIsNone(crl.get_revoked_certificate_by_serial_number(
            third.serial_number))
        a = json.loads(run("audit", "--data", self.data, "--target", "mf-r",
                           "--action", "principal.renew", "--json").stdout)
        self.assertEqual(len(a), 2, a)

    def test_renew_refusals_leave_registry_unchanged(self):
        out = os.path.join(self.tmp, "never")
        self.refused(["principal", "renew", "nobody", "--data", self.data,
                      "--out", out], "unknown principal", 1)
        self.refused(["principal", "renew", "op-a", "--data", self.data,
                      "--role", "admin", "--out", out], "keeps the role", 2)
        self.refused(["principal", "renew", "op-a", "--data", self.data],
                     "one of --csr or --out", 2)
        run("principal", "add", "--data", self.data, "--role", "operator",
            "--name", "op-off", "--out", os.path.join(self.tmp, "op-off"))
        run("principal", "disable", "op-off", "--data", self.data)
        self.refused(["principal", "renew", "op-off", "--data", self.data,
                      "--out", out], "disabled", 1)
        self.assertFalse(os.path.exists(out))


if __name__ == "__main__":
    unittest.main()

"""Revoking a principal's certificate from the command line: the
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
        run("init", "--data", cls.data, "--hostname", "ca.example")
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
        self.assertTrue(p["cert_revoked"])
        self.assertEqual(p["status"], "active")
        self.assertFalse(self.listed()["op-a"]["cert_revoked"])
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


if __name__ == "__main__":
    unittest.main()

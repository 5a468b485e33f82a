"""Issuance's two CSR paths through `ca-server enroll`: the fast path (EC
P-256/P-384 with an uncompressed point, no OpenSSL decoder) and the general
path (RSA, compressed EC points). Each good request gives a certificate
that passes `openssl verify -x509_strict` with the chain and carries the
request's key as sent; each tampered one (signature, signed subject,
swapped key, point off the curve) is refused and stores nothing, in DER
and PEM."""
import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import unittest

from cryptography import x509
from cryptography.hazmat.primitives import serialization

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import csr_forge as cf  # noqa: E402

BIN = os.path.join(os.environ.get("PROVCA_BIN", "build/bin"), "ca-server")


def run(*args, ok=True):
    p = subprocess.run([BIN, *args], capture_output=True, text=True,
                       timeout=300)
    if ok and p.returncode != 0:
        raise AssertionError(f"{args}: rc={p.returncode} {p.stderr}")
    return p


class CsrPathsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="provca-csr-")
        cls.data = os.path.join(cls.tmp, "data")
        run("init", "--example-oids", "--data", cls.data, "--plain-keys", "--hostname", "ca.example")
        run("manufacturer", "add", "--data", cls.data, "--id", "acme",
            "--name", "Acme Devices")
        cls.n = 0

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def write(self, data):
        CsrPathsTest.n += 1
        p = os.path.join(self.tmp, f"r{self.n}.csr")
        with open(p, "wb") as f:
            f.write(data)
        return p

    def rows(self):
        con = sqlite3.connect(os.path.join(self.data, "registry.db"))
        try:
            return con.execute("SELECT count(*) FROM certificates").fetchone()[0]
        finally:
            con.close()

    def enroll(self, csr, serial, ok=True):
        return run("enroll", "--data", self.data, "--csr", self.write(csr),
                   "--manufacturer-id", "acme", "--serial", serial,
                   "--model", "M1", "--json", ok=ok)

    def assert_issued(self, csr, serial, key, key_type, ku_enc, bits=None):
        doc = json.loads(self.enroll(csr, serial).stdout)
        pem = doc["certificate"].encode()
        leaf = os.path.join(self.tmp, serial + ".pem")
        with open(leaf, "wb") as f:
            f.write(pem)
        v = subprocess.run(
            ["openssl", "verify", "-x509_strict", "-CAfile",
             os.path.join(self.data, "root-ca.crt"), "-untrusted",
             os.path.join(self.data, "device-ca.crt"), leaf],
            capture_output=True, text=True)
        self.assertEqual(v.returncode, 0, v.stdout + v.stderr)
        self.assertIn(": OK", v.stdout)
        cert = x509.load_pem_x509_certificate(pem)
        self.assertEqual(cert.public_key().public_numbers(),
                         key.public_key().public_numbers())
        self.assertEqual(cert.subject.get_attributes_for_oid(
            x509.oid.NameOID.SERIAL_NUMBER)[0].value, serial)
        ski = cert.extensions.get_extension_for_class(
            x509.SubjectKeyIdentifier).value
        # RFC 5280 method 1: SHA-1 of the key bits as sent.
        want = (hashlib.sha1(bits).digest() if bits is not None else
                x509.SubjectKeyIdentifier.from_public_key(key.public_key()).digest)
        self.assertEqual(ski.digest, want)
        ku = cert.extensions.get_extension_for_class(x509.KeyUsage)
        self.assertTrue(ku.critical)
        self.assertEqual(ku.value.key_encipherment, ku_enc)
        self.assertEqual(ku.value.key_agreement, not ku_enc)
        shown = json.loads(run("show", doc["device_id"], "--data", self.data,
                               "--json").stdout)
        self.assertEqual(shown["key_type"], key_type)
        return cert

    def assert_refused(self, csr, needle):
        before = self.rows()
        p = self.enroll(csr, "REFUSED-1", ok=False)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn(needle, p.stderr)
        self.assertEqual(self.rows(), before)

    # ---- fast path ---------------------------------------------------

    def test_fast_path_issues_p256_and_p384(self):
        k = cf.p256()
        self.assert_issued(cf.make(k), "F-256", k, "EC-P256", False)
        k = cf.p256()
        self.assert_issued(cf.make(k, der=False), "F-256-PEM", k, "EC-P256",
                           False)
        k = cf.p384()
        self.assert_issued(cf.make(k), "F-384", k, "EC-P384", False)

    def test_fast_path_refuses_tampered_requests(self):
        for kf in (cf.p256, cf.p384):
            k, other = kf(), kf()
            der = cf.make(k)
            for bad, needle in (
                    (cf.flip_signature(der), "signature does not verify"),
                    (cf.flip_subject(der), "signature does not verify"),
                    (cf.swap_key(der, k, other), "signature does not verify"),
                    (cf.off_curve(der, k), "public key unreadable")):
                with self.subTest(curve=kf.__name__, needle=needle):
                    self.assert_refused(bad, needle)
                    self.assert_refused(cf.to_pem(bad), needle)
            self.assert_refused(der + b"\x00", "trailing bytes")

    # ---- general path ------------------------------------------------

    def test_general_path_rsa(self):
        k = cf.rsa2048()
        der = cf.make(k)
        self.assert_issued(der, "G-RSA", k, "RSA-2048", True)
        self.assert_refused(cf.flip_signature(cf.make(k)),
                            "signature does not verify")
        self.assert_refused(cf.flip_subject(cf.make(k)),
                            "signature does not verify")

    def test_general_path_compressed_point(self):
        k = cf.p256()
        der = cf.compressed(k)
        comp = k.public_key().public_bytes(
            serialization.Encoding.X962,
            serialization.PublicFormat.CompressedPoint)
        cert = self.assert_issued(der, "G-COMP", k, "EC-P256", False, comp)
        # The key exactly as sent: compressed.
        self.assertIn(b"\x03\x22\x00" + comp,
                      cert.public_bytes(serialization.Encoding.DER))
        self.assert_refused(cf.flip_signature(cf.compressed(k)),
                            "signature does not verify")

    def spki_hash(self, serial):
        con = sqlite3.connect(os.path.join(self.data, "registry.db"))
        try:
            return con.execute(
                "SELECT c.spki_sha256 FROM certificates c JOIN devices d"
                " ON d.device_id = c.device_id WHERE d.serial = ?",
                (serial,)).fetchone()[0]
        finally:
            con.close()

    def test_one_key_however_its_point_is_encoded(self):
        # Uncompressed first (fast path), then the same key compressed
        # (general path) for another device: the same key, refused.
        k = cf.p256()
        uncompressed_spki = k.public_key().public_bytes(
            serialization.Encoding.DER,
            serialization.PublicFormat.SubjectPublicKeyInfo)
        self.enroll(cf.make(k), "K-U1")
        self.assertEqual(self.spki_hash("K-U1"),
                         hashlib.sha256(uncompressed_spki).hexdigest())
        self.assert_refused(cf.compressed(k), "already bound to live device")
        # Compressed first: stored under the uncompressed key's hash, so
        # the uncompressed form for another device is refused too.
        k2 = cf.p256()
        self.enroll(cf.compressed(k2), "K-C2")
        self.assertEqual(self.spki_hash("K-C2"), hashlib.sha256(
            k2.public_key().public_bytes(
                serialization.Encoding.DER,
                serialization.PublicFormat.SubjectPublicKeyInfo)).hexdigest())
        self.assert_refused(cf.make(k2), "already bound to live device")
        # The same serial with the same key in the other encoding is a
        # repeat of that enrollment, not a conflict.
        again = json.loads(self.enroll(cf.make(k2), "K-C2").stdout)
        first = json.loads(run("show", again["device_id"], "--data",
                               self.data, "--json").stdout)
        self.assertEqual(again["device_id"], first["device_id"])

    def test_explicit_curve_parameters_refused(self):
        # The same P-256 key with its curve spelled out (RFC 5480 forbids
        # it) would hash differently from its named-curve form.
        key = os.path.join(self.tmp, "explicit.key")
        req = os.path.join(self.tmp, "explicit.csr")
        subprocess.run(["openssl", "ecparam", "-name", "prime256v1",
                        "-param_enc", "explicit", "-genkey", "-noout",
                        "-out", key], check=True, capture_output=True)
        subprocess.run(["openssl", "req", "-new", "-key", key, "-subj",
                        "/CN=explicit", "-outform", "DER", "-out", req],
                       check=True, capture_output=True)
        with open(req, "rb") as f:
            der = f.read()
        self.assertIn(bytes.fromhex("06072a8648ce3d0101"), der)  # prime-field
        self.assert_refused(der, "explicit curve parameters")


if __name__ == "__main__":
    unittest.main()

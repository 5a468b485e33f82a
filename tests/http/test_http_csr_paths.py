"""The batch and single enrollment endpoints on both CSR paths: the fast
path (EC P-256/P-384, uncompressed point) and the general path (RSA,
compressed point). Good requests are issued with their key as sent and a
certificate that verifies with the chain; tampered ones (signature, signed
subject, swapped key, point off the curve, not PEM) are refused per item
with 400 invalid-csr and the detail the API has always given, while the
other items of the batch are issued in order."""
import json
import os
import sys
import unittest

from cryptography import x509

from httptest import ServerTest, PROBLEM

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "server"))
import csr_forge as cf  # noqa: E402

BAD_SIG = "the request's signature does not verify with its key"
NOT_PEM = "not a PEM PKCS#10 certificate request"


class CsrPathsTest(ServerTest):
    def test_batch_mixes_paths_and_refusals_per_item(self):
        k256, k384, krsa, kc, other = cf.p256(), cf.p384(), cf.rsa2048(), cf.p256(), cf.p256()
        d256 = cf.make(k256)
        drsa = cf.make(krsa)
        cases = [
            (cf.to_pem(d256), 201, None),
            (cf.to_pem(cf.make(k384)), 201, None),
            (cf.to_pem(drsa), 201, None),
            (cf.to_pem(cf.compressed(kc)), 201, None),
            (cf.to_pem(cf.flip_signature(cf.make(cf.p256()))), 400, BAD_SIG),
            (cf.to_pem(cf.flip_subject(cf.make(cf.p384()))), 400, BAD_SIG),
            (cf.to_pem(cf.swap_key(cf.make(other), other, cf.p256())), 400, BAD_SIG),
            (cf.to_pem(cf.off_curve(cf.make(other), other)), 400, BAD_SIG),
            (cf.to_pem(cf.flip_signature(cf.make(cf.rsa2048()))), 400, BAD_SIG),
            (b"-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n",
             400, NOT_PEM),
        ]
        items = [{"csr": c.decode(), "serial": "CP-%d" % i, "model": "M"}
                 for i, (c, _, _) in enumerate(cases)]
        # A bad CSR is reported as such even when an attribute is bad too.
        items.append({"csr": cases[4][0].decode(), "serial": "bad\x07serial", "model": "M"})
        cases.append((None, 400, BAD_SIG))
        st, _, data = self.srv.curl(self.mfr_a, "POST", "/api/v1/devices/batch", {"devices": items})
        self.assertEqual(st, 200, data)
        doc = json.loads(data)
        self.assertEqual([r["index"] for r in doc["results"]], list(range(len(cases))))
        self.assertEqual([r["status"] for r in doc["results"]], [c[1] for c in cases])
        for r, (_, status, detail) in zip(doc["results"], cases):
            if status == 400:
                self.assertEqual(r["problem"]["type"], PROBLEM + "invalid-csr")
                self.assertEqual(r["problem"]["detail"], detail)
        self.assertEqual((doc["created"], doc["failed"]), (4, len(cases) - 4))
        chain = [x509.load_pem_x509_certificate(p.encode() if isinstance(p, str) else p)
                 for p in [doc["chain"]] if p]
        self.assertTrue(chain)
        keys = [k256, k384, krsa, kc]
        for r, k in zip(doc["results"][:4], keys):
            cert = x509.load_pem_x509_certificate(r["certificate"].encode())
            self.assertEqual(cert.public_key().public_numbers(), k.public_key().public_numbers())
            st, _, pem = self.srv.curl(self.operator, "GET", "/devices/" + r["device_id"])
            self.assertEqual(st, 200)
            self.assertTrue(pem.decode().startswith(r["certificate"].strip()))
        # Every issued certificate verifies strictly with the chain.
        import subprocess
        import tempfile
        with tempfile.TemporaryDirectory() as d:
            for r in doc["results"][:4]:
                leaf = os.path.join(d, r["device_id"] + ".pem")
                with open(leaf, "w") as f:
                    f.write(r["certificate"])
                v = subprocess.run(["openssl", "verify", "-x509_strict", "-CAfile", self.ca.root,
                                    "-untrusted", os.path.join(self.ca.data, "device-ca.crt"), leaf],
                                   capture_output=True, text=True)
                self.assertEqual(v.returncode, 0, v.stdout + v.stderr)

    def test_single_enroll_refuses_tampered_on_both_paths(self):
        for bad in (cf.flip_signature(cf.make(cf.p256())), cf.flip_subject(cf.make(cf.rsa2048()))):
            st, _, data = self.srv.curl(self.mfr_a, "POST", "/api/v1/devices",
                                        {"csr": cf.to_pem(bad).decode(), "serial": "CS-1", "model": "M"})
            self.assertProblem(st, data, 400, "invalid-csr")
            self.assertEqual(json.loads(data)["detail"], BAD_SIG)
        k = cf.p384()
        st, _, data = self.srv.curl(self.mfr_a, "POST", "/api/v1/devices",
                                    {"csr": cf.to_pem(cf.make(k)).decode(), "serial": "CS-2", "model": "M"})
        self.assertEqual(st, 201, data)
        cert = x509.load_pem_x509_certificate(json.loads(data)["certificate"].encode())
        self.assertEqual(cert.public_key().public_numbers(), k.public_key().public_numbers())


if __name__ == "__main__":
    unittest.main()

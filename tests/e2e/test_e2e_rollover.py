"""End-to-end, issue 16 item 3 (rollover): device A is issued by the first
Device CA; a new Device CA is certified by the Root ceremony, added and
activated (serve restarted on the same port, the devices' URLs name it);
device B is issued by the new one. corehook, anchored at the Root only,
provisions and registers both: each lookup carries the device's own chain.
Then A is revoked and corehook refuses it while B still registers.
Infrastructure CA rollover (serve never restarted): a corehook on an
operator and a provisioning signer of the new Infrastructure CA provisions
and registers a device, and one on the old CA's principals still does.
Exit 77 (skipped) until all three programs are built."""
import json
import os
import sys
import unittest

from cryptography import x509

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import World, prog, run  # noqa: E402


def certs(pem):
    end = "-----END CERTIFICATE-----"
    return [x509.load_pem_x509_certificate((p + end + "\n").encode())
            for p in pem.split(end) if p.strip()]


class Rollover(unittest.TestCase):
    def setUp(self):
        self.w = World()
        self.addCleanup(self.w.close)
        self.ca = self.w.ca()

    def context(self, device_id):
        st, body = self.ca.api("GET", "/devices/%s" % device_id,
                               ident=self.ca.operator)
        self.assertEqual(st, 200, body)
        return json.loads(body)

    def roll_over(self):
        """Ceremony, add, activate; serve restarted on its port."""
        tmp = self.w.tmp
        key, csr = (os.path.join(tmp, "dca2.key"),
                    os.path.join(tmp, "dca2.csr"))
        crt = os.path.join(tmp, "dca2.crt")
        run("openssl", "req", "-new", "-newkey", "ec", "-pkeyopt",
            "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-subj",
            "/CN=dca2", "-out", csr)
        rootkey = os.path.join(os.path.dirname(self.ca.data), "data-root",
                               "root-ca.key")
        run(prog("ca-server"), "root", "certify-intermediate", "--data",
            self.ca.data, "--root-key", rootkey, "--kind", "device",
            "--csr", csr, "--out", crt, "--cn", "E2E Device CA 2")
        out = run(prog("ca-server"), "ca", "add", "--data", self.ca.data,
                  "--cert", crt, "--key", key).stdout
        new_id = out.split()[2]
        run(prog("ca-server"), "ca", "activate", new_id, "--data",
            self.ca.data)
        port = self.ca.port
        self.ca.stop()
        self.ca.start(port=port)
        with open(crt, "rb") as f:
            return x509.load_pem_x509_certificate(f.read())

    def provision_and_register(self, core, dev, device_id):
        rc, out = dev.attach(core.address)
        self.assertEqual(rc, 0, out)
        self.assertTrue(out["provisioned"])
        self.assertTrue(out["registered"])
        self.assertIn(out["kamf_fp"], core.fingerprints())
        self.assertIn("provision device=%s outcome=provisioned" % device_id,
                      core.log())

    def test_devices_of_old_and_new_device_ca_provision_and_register(self):
        with open(os.path.join(self.ca.data, "device-ca.crt"), "rb") as f:
            old_ca = x509.load_pem_x509_certificate(f.read())
        a = self.w.device("rollA", self.ca)
        a_id = a.enroll()["device_id"]
        new_ca = self.roll_over()
        b = self.w.device("rollB", self.ca)
        b_id = b.enroll()["device_id"]
        # Each lookup carries its own CA in the chain.
        self.assertEqual(certs(self.context(a_id)["chain"])[0], old_ca)
        self.assertEqual(certs(self.context(b_id)["chain"])[0], new_ca)
        self.assertNotEqual(old_ca, new_ca)
        # corehook is anchored at the Root alone (corehook init --ca-root):
        # neither Device CA is configured, both verify through it.
        core = self.w.core("core1", self.ca)
        with open(core.config) as f:
            anchors = [e["ca_root"] for e in json.load(f)["allow_list"]]
        self.assertEqual(len(anchors), 1)
        with open(anchors[0]) as f:
            anchor = certs(f.read())
        with open(self.ca.root) as f:
            self.assertEqual(anchor, certs(f.read()))
        self.provision_and_register(core, a, a_id)
        self.provision_and_register(core, b, b_id)
        # Both register again with their stored credentials.
        for d in (a, b):
            rc, out = d.attach(core.address)
            self.assertEqual(rc, 0, out)
            self.assertFalse(out["provisioned"])
            self.assertTrue(out["registered"])

    def test_corehook_on_principals_of_a_rolled_over_infrastructure_ca(self):
        """Infrastructure CA rollover with serve running throughout: a
        corehook whose operator (client) and provisioning signer
        certificates come from the new Infrastructure CA provisions and
        registers a device, next to a corehook on the old CA's principals,
        which keeps working."""
        tmp = self.w.tmp
        key, csr = (os.path.join(tmp, "ica2.key"),
                    os.path.join(tmp, "ica2.csr"))
        crt = os.path.join(tmp, "ica2.crt")
        run("openssl", "req", "-new", "-newkey", "ec", "-pkeyopt",
            "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-subj",
            "/CN=ica2", "-out", csr)
        rootkey = os.path.join(os.path.dirname(self.ca.data), "data-root",
                               "root-ca.key")
        run(prog("ca-server"), "root", "certify-intermediate", "--data",
            self.ca.data, "--root-key", rootkey, "--kind", "infra",
            "--csr", csr, "--out", crt, "--cn", "E2E Infrastructure CA 2")
        out = run(prog("ca-server"), "ca", "add", "--data", self.ca.data,
                  "--kind", "infra", "--cert", crt, "--key", key).stdout
        run(prog("ca-server"), "ca", "activate", out.split()[2], "--data",
            self.ca.data)
        with open(crt, "rb") as f:
            ica2 = x509.load_pem_x509_certificate(f.read())
        op2 = self.ca.principal("op2", "operator")
        signer2 = self.ca.principal("op2-signer", "signer")
        for p in (op2, signer2):
            with open(p[0], "rb") as f:
                self.assertEqual(x509.load_pem_x509_certificate(
                    f.read()).issuer, ica2.subject)
        old = self.w.core("core-old", self.ca)
        operator, self.ca.operator = self.ca.operator, op2
        try:
            new = self.w.core("core-new", self.ca, signer=signer2)
        finally:
            self.ca.operator = operator
        for core, name in ((new, "infraN"), (old, "infraO")):
            dev = self.w.device(name, self.ca)
            dev_id = dev.enroll()["device_id"]
            self.provision_and_register(core, dev, dev_id)


if __name__ == "__main__":
    harness.require_programs()
    unittest.main(verbosity=2)

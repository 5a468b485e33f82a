"""End-to-end: ca-server, corehook and ueclient on loopback, the whole
attach story and the ways it must refuse. Exit 77 (skipped) until all
three programs are built."""
import json
import os
import shutil
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import World, is_reject_with_container, free_udp_port, prog, run  # noqa: E402

# 5GMM causes of docs/protocol.md
ILLEGAL_UE, ILLEGAL_ME, PLMN_NOT_ALLOWED, CONGESTION = 3, 6, 11, 22
EX_REFUSED, EX_TIMEOUT = 3, 4


class Base(unittest.TestCase):
    def setUp(self):
        self.w = World()
        self.addCleanup(self.w.close)
        self.ca = self.w.ca()

    def enrolled(self, name):
        d = self.w.device(name, self.ca)
        d.enroll()
        return d


class HappyPath(Base):
    def test_provisioned_registered_and_fingerprints_match(self):
        core = self.w.core("core1", self.ca)
        d = self.enrolled("happy")
        self.assertRegex(d.info["device_id"], r"^[A-Za-z0-9._-]{1,64}$")
        self.assertRegex(d.info["certificate_url"],
                         r"^https://[^/]+:%d/.*%s$" % (self.ca.port, d.info["device_id"]))
        rc, out = d.attach(core.address)
        self.assertEqual(rc, 0, out)
        self.assertTrue(out["provisioned"])
        self.assertTrue(out["registered"])
        self.assertRegex(out["supi"], r"^imsi-00101\d{10}$")
        self.assertIn(out["kamf_fp"], core.fingerprints())
        creds = d.credentials()
        self.assertEqual(creds["supi"], out["supi"])
        self.assertEqual(creds["device_id"], d.info["device_id"])
        self.assertEqual(os.stat(os.path.join(d.dir, "credentials.json")).st_mode & 0o777, 0o600)
        # the second switch-on registers directly
        rc, out2 = d.attach(core.address)
        self.assertEqual(rc, 0, out2)
        self.assertFalse(out2["provisioned"])
        self.assertTrue(out2["registered"])
        self.assertIn(out2["kamf_fp"], core.fingerprints())
        self.assertNotEqual(out2["kamf_fp"], out["kamf_fp"])

    def test_pcap_decodes_in_tshark_with_every_message_named(self):
        self.assertIsNotNone(shutil.which("tshark"),
                             "MISSING TOOL: tshark (Debian package tshark; make setup-test)")
        core = self.w.core("core1", self.ca)
        d = self.enrolled("pcap")
        trace = os.path.join(self.w.tmp, "attach.pcap")
        rc, out = d.attach(core.address, extra=("--pcap", trace))
        self.assertEqual(rc, 0, out)
        p = run("tshark", "-r", trace, "-T", "fields", "-e", "nas_5gs.mm.message_type")
        types = [int(t, 0) for t in p.stdout.split() if t]
        self.assertEqual(types[:2], [0x41, 0x44])      # provisioning request, reject #9
        for t in (0x41, 0x44, 0x56, 0x57, 0x42):
            self.assertIn(t, types)
        info = run("tshark", "-r", trace).stdout
        for name in ("Registration request", "Registration reject",
                     "Authentication request", "Authentication response",
                     "Registration accept"):
            self.assertIn(name, info)
        self.assertNotIn("Malformed", info)


class Refusals(Base):
    def test_revoked_between_enroll_and_attach(self):
        core = self.w.core("core1", self.ca)
        d = self.enrolled("revoked")
        self.ca.revoke(d.info["device_id"])
        rc, out = d.attach(core.address)
        self.assertEqual(rc, EX_REFUSED, out)
        self.assertEqual(out["cause"], ILLEGAL_ME)
        self.assertIn("revoked", out["error"])
        self.assertFalse(d.has_credentials())

    def test_unknown_device_id(self):
        core = self.w.core("core1", self.ca)
        d = self.enrolled("unknown")
        path = os.path.join(d.dir, "device.json")
        info = dict(d.info)
        info["certificate_url"] = info["certificate_url"].rsplit("/", 1)[0] + "/no-such-device"
        with open(path, "w") as f:
            json.dump(info, f)
        rc, out = d.attach(core.address)
        self.assertEqual(rc, EX_REFUSED, out)
        self.assertEqual(out["cause"], ILLEGAL_UE)
        self.assertFalse(d.has_credentials())

    def test_url_not_on_allow_list(self):
        core = self.w.core("core1", self.ca, allow_url="https://ca.other.example:8443")
        d = self.enrolled("notallowed")
        rc, out = d.attach(core.address)
        self.assertEqual(rc, EX_REFUSED, out)
        self.assertEqual(out["cause"], PLMN_NOT_ALLOWED)
        self.assertFalse(d.has_credentials())


class ForgedRejects(Base):
    def assert_ignored(self, rc, out, d):
        self.assertEqual(rc, EX_TIMEOUT, out)
        self.assertGreaterEqual(out["ignored"], 1)
        self.assertFalse(out["provisioned"])
        refused = [e["text"] for e in out["events"] if e["kind"] == "refuse"]
        self.assertTrue(any("ignored as if it never came" in t for t in refused), refused)
        self.assertFalse(d.has_credentials())

    def test_tampered_reject_is_ignored(self):
        core = self.w.core("core1", self.ca)

        def flip(data):
            if is_reject_with_container(data):
                b = bytearray(data)
                b[len(b) // 2] ^= 0x01
                return bytes(b)
            return data
        relay = self.w.relay(core.port, flip)
        d = self.enrolled("tampered")
        rc, out = d.attach("127.0.0.1:%d" % relay.port)
        self.assert_ignored(rc, out, d)

    def test_replayed_reject_is_ignored(self):
        core = self.w.core("core1", self.ca)
        recorded = []

        def record(data):
            if is_reject_with_container(data):
                recorded.append(data)
            return data
        relay = self.w.relay(core.port, record)
        d = self.enrolled("replay")
        rc, out = d.attach("127.0.0.1:%d" % relay.port)
        self.assertEqual(rc, 0, out)
        self.assertTrue(recorded)
        # The same device starts again without credentials; the relay
        # answers every new request with the reject of the earlier run.
        os.unlink(os.path.join(d.dir, "credentials.json"))
        relay.down = lambda data: recorded[0] if is_reject_with_container(data) else data
        rc, out = d.attach("127.0.0.1:%d" % relay.port)
        self.assert_ignored(rc, out, d)
        self.assertTrue(any("nonce" in e["text"] for e in out["events"]))

    def test_signer_from_another_root_is_ignored(self):
        # The core carries the other CA's Infrastructure CA with the other
        # signer: a chain, but not to the device's Root.
        other = self.w.ca("other-ca", start=False)
        core = self.w.core("core1", self.ca, signer=other.signer)
        d = self.enrolled("foreign")
        self.assertFalse(os.path.exists(os.path.join(d.dir, "ca-certs.pem")))
        rc, out = d.attach(core.address)
        self.assert_ignored(rc, out, d)


class Availability(Base):
    def test_ca_down_then_back(self):
        core = self.w.core("core1", self.ca)
        d = self.enrolled("cadown")
        port = self.ca.port
        self.ca.stop()
        rc, out = d.attach(core.address, extra=("--rounds", "1"))
        self.assertEqual(rc, EX_REFUSED, out)
        self.assertEqual(out["cause"], CONGESTION)
        self.assertIn("retry later", out["error"])
        self.assertFalse(d.has_credentials())
        self.ca.start(port)
        rc, out = d.attach(core.address)
        self.assertEqual(rc, 0, out)
        self.assertTrue(out["provisioned"] and out["registered"])

    def test_two_cores_first_down(self):
        core = self.w.core("core2", self.ca)
        dead = "127.0.0.1:%d" % free_udp_port()
        d = self.enrolled("twocores")
        rc, out = d.attach(dead, core.address)
        self.assertEqual(rc, 0, out)
        self.assertEqual(out["core"], core.address)
        self.assertTrue(out["provisioned"])
        self.assertTrue(any(e.get("peer") == dead for e in out["events"]))

    def test_sqn_rolled_back_resynchronises(self):
        core = self.w.core("core1", self.ca)
        d = self.enrolled("sqn")
        rc, out = d.attach(core.address)
        self.assertEqual(rc, 0, out)
        # Put the USIM's SQN_MS far ahead of the network's counter.
        creds = d.credentials()
        creds["sqn_ms"] = "0000ffff0000"
        with open(os.path.join(d.dir, "credentials.json"), "w") as f:
            json.dump(creds, f)
        rc, out = d.attach(core.address)
        self.assertEqual(rc, 0, out)
        self.assertEqual(out["resyncs"], 1)
        self.assertTrue(out["registered"])
        self.assertIn(out["kamf_fp"], core.fingerprints())
        self.assertGreater(int(d.credentials()["sqn_ms"], 16), 0x0000ffff0000)


class Swarm(Base):
    def test_swarm_completes_without_failure(self):
        count, conc = (50, 10) if harness.SANITIZE else (200, 20)
        core = self.w.core("core1", self.ca)
        p = run(prog("ueclient"), "swarm", "--count", str(count), "--concurrency", str(conc),
                "--ca", self.ca.url, "--cert", self.ca.mfr[0], "--key", self.ca.mfr[1],
                "--root", self.ca.root, "--manufacturer-id", "acme",
                "--core", core.address, "--deadline-s", "900", "--json", check=False, timeout=1200)
        out = json.loads(p.stdout)
        self.assertEqual(out["failed"], 0, out["failures"])
        self.assertEqual(out["completed"], count)
        self.assertEqual(out["provisioning_ms"]["n"], count)
        self.assertGreater(out["flows_per_s"], 0)
        self.assertLessEqual(out["registration_ms"]["p50"], out["registration_ms"]["p99"])
        self.assertEqual(p.returncode, 0)
        print("swarm %d/%d: %.1f flows/s, provisioning p50/p95/p99 %s/%s/%s ms" % (
            count, conc, out["flows_per_s"], out["provisioning_ms"]["p50"],
            out["provisioning_ms"]["p95"], out["provisioning_ms"]["p99"]), file=sys.stderr)


if __name__ == "__main__":
    harness.require_programs()
    unittest.main(verbosity=2)

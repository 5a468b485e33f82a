"""End-to-end, issue 15 item 6: the onboarding request's identifiers.
A device whose policy.json names the core's onboarding public key (the
core's SUCI home network key: profile + key id) sends its whole signed
provisioning request concealed with SUCI's ECIES; its trace (and the
core's) holds neither the DeviceID nor the certificate URL, and tshark
decodes it without "Malformed". A device without the key onboards as
before, its identifiers in clear. A policy naming a key id the core does
not hold, or a tag that does not verify, is refused (#96, nothing
stored) and the device does not fall back to clear. The swarm conceals
too when given a policy file naming the key (`ueclient swarm --policy`)."""
import json
import os
import shutil
import sys
import unittest

from cryptography.hazmat.primitives import serialization

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import World, pcap_nas_messages, prog, run  # noqa: E402

EX_REFUSED = 3
INVALID_MANDATORY_INFO = 96


def onboarding_pub(core, profile):
    """The public half of the core's key hn-3.pem, as a policy names it."""
    with open(os.path.join(core.dir, "suci-keys", "hn-3.pem"), "rb") as f:
        key = serialization.load_pem_private_key(f.read(), None)
    pub = key.public_key()
    if profile == "A":
        return pub.public_bytes(serialization.Encoding.Raw,
                                serialization.PublicFormat.Raw).hex()
    return pub.public_bytes(serialization.Encoding.X962,
                            serialization.PublicFormat.CompressedPoint).hex()


def metric(text, name):
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError("no metric %s" % name)


class ConcealedOnboarding(unittest.TestCase):
    def setUp(self):
        harness.require_programs()
        self.assertIsNotNone(shutil.which("tshark"),
                             "MISSING TOOL: tshark (Debian package tshark; make setup-test)")
        self.w = World()
        self.addCleanup(self.w.close)
        self.ca = self.w.ca()

    def device(self, name, core=None, profile=None, key_id=3):
        d = self.w.device(name, self.ca)
        d.enroll()
        if core is not None:
            policy = {"cores": [{"plmn": "00101", "address": core.address,
                                 "onboarding_key": {
                                     "profile": profile, "key_id": key_id,
                                     "public_key": onboarding_pub(core, profile)}}]}
            with open(os.path.join(d.dir, "policy.json"), "w") as f:
                json.dump(policy, f)
        return d

    def trace_text(self, trace):
        """Everything tshark shows of a trace, and its raw bytes."""
        info = run("tshark", "-r", trace).stdout
        self.assertNotIn("Malformed", info)
        verbose = run("tshark", "-r", trace, "-V", "-x").stdout
        with open(trace, "rb") as f:
            raw = f.read()
        return verbose, raw

    def onboard_concealed(self, profile):
        ctrace = os.path.join(self.w.tmp, "core-%s.pcap" % profile)
        core = self.w.core("core-" + profile, self.ca, suci=profile, pcap=ctrace)
        d = self.device("ob-" + profile, core, profile)
        trace = os.path.join(self.w.tmp, "ue-%s.pcap" % profile)
        rc, out = d.attach(core.address, extra=("--pcap", trace))
        self.assertEqual(rc, 0, out)
        self.assertTrue(out["provisioned"])
        self.assertTrue(out["registered"])
        self.assertIn(out["kamf_fp"], core.fingerprints())
        story = " ".join(e["text"] for e in out["events"])
        self.assertIn("concealed (ECIES Profile %s)" % profile, story)
        devid = d.info["device_id"]
        url = d.info["certificate_url"]
        host = url.split("/")[2]
        for t in (trace, ctrace):
            verbose, raw = self.trace_text(t)
            for secret in (devid, url, host):
                self.assertNotIn(secret, verbose)
                self.assertNotIn(secret.encode(), raw)
            self.assertNotIn(devid.encode().hex(), verbose.replace(" ", ""))
        # the request on the wire: payload container type E, contents
        # version 3, the profile and key id, then ECIES output padded to 64
        req = pcap_nas_messages(trace)[0]
        self.assertEqual(req[:3], b"\x7e\x00\x41")
        i = req.index(b"\x7b")
        body = req[i + 3:i + 3 + int.from_bytes(req[i + 1:i + 3], "big")]
        self.assertEqual(body[:3], bytes([3, 1 if profile == "A" else 2, 3]))
        eph = 32 if profile == "A" else 33
        self.assertEqual((len(body) - 3 - eph - 8) % 64, 0)
        m = core.metrics()
        self.assertEqual(metric(m, "corehook_provisioning_concealed_total"), 1)
        self.assertEqual(metric(m, 'corehook_provisionings_total{outcome="provisioned"}'), 1)
        # the second switch-on registers with the stored credentials
        rc, out = d.attach(core.address)
        self.assertEqual(rc, 0, out)
        self.assertFalse(out["provisioned"])
        return core

    def test_profile_a_conceals_device_id_and_url(self):
        core = self.onboard_concealed("A")
        # a device without the key still onboards at the same core, and
        # what an eavesdropper sees is its DeviceID and URL in clear
        d = self.device("plain")
        trace = os.path.join(self.w.tmp, "plain.pcap")
        rc, out = d.attach(core.address, extra=("--pcap", trace))
        self.assertEqual(rc, 0, out)
        self.assertTrue(out["provisioned"])
        self.assertTrue(out["registered"])
        verbose, raw = self.trace_text(trace)
        self.assertIn(d.info["certificate_url"].encode(), raw)
        self.assertIn(d.info["device_id"].encode(), raw)
        m = core.metrics()
        self.assertEqual(metric(m, "corehook_provisioning_concealed_total"), 1)
        self.assertEqual(metric(m, 'corehook_provisionings_total{outcome="provisioned"}'), 2)

    def test_profile_b_conceals_device_id_and_url(self):
        self.onboard_concealed("B")

    def test_unknown_key_id_refused_without_falling_back(self):
        core = self.w.core("core-k", self.ca, suci="A")
        d = self.device("ob-k", core, "A", key_id=4)
        trace = os.path.join(self.w.tmp, "k.pcap")
        rc, out = d.attach(core.address, extra=("--pcap", trace))
        self.assertEqual(rc, EX_REFUSED, out)
        self.assertEqual(out["cause"], INVALID_MANDATORY_INFO)
        self.assertFalse(d.has_credentials())
        verbose, raw = self.trace_text(trace)
        self.assertNotIn(d.info["device_id"].encode(), raw)
        self.assertIn("outcome=unconcealable", core.log())
        self.assertIn("key id 4, which this core does not hold", core.log())
        m = core.metrics()
        self.assertGreaterEqual(
            metric(m, 'corehook_provisionings_total{outcome="unconcealable"}'), 1)
        self.assertEqual(metric(m, 'corehook_provisionings_total{outcome="provisioned"}'), 0)

    def test_bad_tag_refused_with_96_and_nothing_stored(self):
        """A concealed request to a key the core holds whose tag does not
        verify (a forged or damaged one): #96, counted, no row stored."""
        core = self.w.core("core-t", self.ca, suci="A")
        body = bytes([3, 1, 3]) + os.urandom(32 + 128 + 8)
        nas = (b"\x7e\x00\x41\x7d\x00\x01\x00\x8e\x7b"
               + len(body).to_bytes(2, "big") + body)
        ans = core.nas(nas)
        self.assertEqual(ans[:3], b"\x7e\x00\x44")
        self.assertEqual(ans[3], INVALID_MANDATORY_INFO)
        self.assertIn("MAC tag does not verify", core.log())
        m = core.metrics()
        self.assertEqual(
            metric(m, 'corehook_provisionings_total{outcome="unconcealable"}'), 1)
        self.assertEqual(metric(m, "corehook_provisioning_concealed_total"), 1)
        self.assertEqual(core.db_rows("SELECT COUNT(*) FROM subscription")[0][0], 0)

    def swarm(self, core, policy, *extra, count=4):
        path = os.path.join(self.w.tmp, "swarm-policy-%d.json" % len(os.listdir(self.w.tmp)))
        with open(path, "w") as f:
            json.dump(policy, f)
        p = run(prog("ueclient"), "swarm", "--count", str(count), "--concurrency", "2",
                "--ca", self.ca.url, "--cert", self.ca.mfr[0], "--key", self.ca.mfr[1],
                "--root", self.ca.root, "--manufacturer-id", "acme", "--policy", path,
                "--deadline-s", "300", "--json", *extra, check=False, timeout=600)
        return p.returncode, json.loads(p.stdout)

    def test_swarm_conceals_with_policy_file(self):
        """Every swarm device's request goes concealed to the key the
        policy file names (the core counts each as concealed); with --core
        the listed address keeps the file's key, so a key id the core does
        not hold is refused #96 for every device, never sent in clear."""
        ctrace = os.path.join(self.w.tmp, "core-swarm.pcap")
        core = self.w.core("core-s", self.ca, suci="B", pcap=ctrace)
        key = {"profile": "B", "key_id": 3, "public_key": onboarding_pub(core, "B")}
        rc, out = self.swarm(core, {"cores": [{"address": core.address, "onboarding_key": key}]})
        self.assertEqual(rc, 0, out)
        self.assertEqual(out["completed"], 4, out)
        self.assertEqual(out["failed"], 0, out)
        m = core.metrics()
        self.assertEqual(metric(m, "corehook_provisioning_concealed_total"), 4)
        self.assertEqual(metric(m, 'corehook_provisionings_total{outcome="provisioned"}'), 4)
        for req in pcap_nas_messages(ctrace):
            if req[:3] == b"\x7e\x00\x41" and b"\x7b" in req[3:]:
                self.assertNotIn(b"https://", req)
        key["key_id"] = 4
        rc, out = self.swarm(core, {"cores": [{"address": core.address, "onboarding_key": key}]},
                             "--core", core.address, count=2)
        self.assertEqual(out["completed"], 0, out)
        self.assertEqual(out["failed"], 2, out)
        self.assertIn("96", json.dumps(out["failures"]))
        m = core.metrics()
        self.assertEqual(metric(m, "corehook_provisioning_concealed_total"), 6)
        self.assertEqual(
            metric(m, 'corehook_provisionings_total{outcome="unconcealable"}'), 2)
        self.assertEqual(metric(m, 'corehook_provisionings_total{outcome="provisioned"}'), 4)


if __name__ == "__main__":
    unittest.main()

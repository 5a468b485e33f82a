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
SYNCH_FAILURE = 21
REQ_LABEL = b"ProvCA provisioning request v2\x00"
SNN = b"5G:mnc001.mcc001.3gppnetwork.org"
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
        # both sides name the NAS algorithms of the security mode command
        self.assertEqual(out["nas_integrity"], "128-NIA2")
        self.assertEqual(out["nas_ciphering"], "128-NEA2")
        self.assertIn("kamf-fp=%s nia=128-NIA2 nea=128-NEA2" % out["kamf_fp"],
                      core.log())
        msgs = [e.get("message") for e in out["events"]]
        for m in ("Security mode command", "Security mode complete",
                  "Registration accept", "Registration complete"):
            self.assertIn(m, msgs)
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
        for t in (0x41, 0x44, 0x56, 0x57, 0x5D):
            self.assertIn(t, types)
        # after 5G-AKA: SMC (type 3), SMC complete (4), accept and
        # complete integrity protected and ciphered (2)
        p = run("tshark", "-r", trace, "-T", "fields", "-e",
                "nas_5gs.security_header_type")
        hdrs = [h.split(",")[0] for h in p.stdout.split()]
        harness.check_security_headers(self, hdrs)
        info = run("tshark", "-r", trace).stdout
        for name in ("Registration request", "Registration reject",
                     "Authentication request", "Authentication response",
                     "Security mode command"):
            self.assertIn(name, info)
        self.assertNotIn("Malformed", info)
        verbose = run("tshark", "-r", trace, "-V").stdout
        self.assertIn("Integrity protected with new 5GS security context", verbose)
        self.assertIn("Integrity protected and ciphered (2)", verbose)


class ConcealedSuci(Base):
    def attach_with(self, profile, scheme):
        if shutil.which("tshark") is None:
            self.skipTest("tshark not installed")
        core = self.w.core("core-" + profile, self.ca, suci=profile)
        key = os.path.join(core.dir, "suci-keys", "hn-3.pem")
        self.assertEqual(os.stat(key).st_mode & 0o777, 0o600)
        d = self.enrolled("suci-" + profile)
        trace = os.path.join(self.w.tmp, "suci-%s.pcap" % profile)
        rc, out = d.attach(core.address, extra=("--pcap", trace))
        self.assertEqual(rc, 0, out)
        self.assertTrue(out["registered"])
        self.assertIn(out["kamf_fp"], core.fingerprints())
        msin = out["supi"][len("imsi-00101"):]
        # the subscription delivered the key: the first normal
        # registration is already concealed
        creds = d.credentials()
        self.assertEqual(creds["hn_key"]["scheme"], scheme)
        self.assertEqual(creds["hn_key"]["key_id"], 3)
        story = " ".join(e["text"] for e in out["events"])
        self.assertRegex(story, r"suci-0-001-01-12-%d-3-[0-9a-f]{90}" % scheme)
        p = run("tshark", "-r", trace, "-T", "fields", "-e",
                "nas_5gs.mm.suci.scheme_id", "-e", "nas_5gs.mm.suci.pki",
                "-e", "nas_5gs.mm.suci.msin")
        rows = [r.split("\t") for r in p.stdout.splitlines() if r.strip()]
        self.assertIn([str(scheme), "3", ""], rows)
        self.assertNotIn(msin, run("tshark", "-r", trace, "-V", "-x").stdout)
        self.assertNotIn("Malformed", run("tshark", "-r", trace).stdout)
        return core, d

    def test_profile_a_registration(self):
        self.attach_with("A", 1)

    def test_profile_b_registration_and_null_scheme_refused(self):
        core, d = self.attach_with("B", 2)
        # a device that still conceals nothing is refused by this core
        path = os.path.join(d.dir, "credentials.json")
        with open(path) as f:
            creds = json.load(f)
        del creds["hn_key"]
        with open(path, "w") as f:
            json.dump(creds, f)
        rc, out = d.attach(core.address)
        self.assertEqual(rc, EX_REFUSED, out)
        self.assertEqual(out["cause"], ILLEGAL_UE)
        self.assertIn("outcome=suci-refused scheme=0", core.log())


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


def tlv(tag, value):
    return bytes([tag]) + len(value).to_bytes(2, "big") + value


def request_body(url, nonce, counter, snn=SNN):
    """The signed part of a version-2 provisioning request
    (docs/protocol.md), built independently of the C codec."""
    return (b"\x02" + tlv(1, url.encode()) + tlv(2, nonce) + tlv(3, snn) +
            tlv(4, counter.to_bytes(8, "big")))


def with_payload(nas, old_payload, new_payload):
    """nas (a provisioning Registration request) with its Payload container
    contents replaced."""
    i = nas.index(old_payload)
    assert nas[i - 3] == 0x7B and int.from_bytes(nas[i - 2:i], "big") == len(old_payload)
    return nas[:i - 2] + len(new_payload).to_bytes(2, "big") + new_payload


class Possession(Base):
    """Issue 14: only the device can start a provisioning, a replay is
    refused, and working credentials are never broken."""

    def freshness(self, core, dev):
        return core.db_rows("SELECT counter FROM device_freshness WHERE device_id = ?", dev)

    def states(self, core, dev):
        return sorted(core.db_rows("SELECT supi, state FROM subscription WHERE device_id = ?", dev))

    def test_attack_as_found_replay_forged_and_foreign_key_change_nothing(self):
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        core = self.w.core("core1", self.ca)
        d = self.enrolled("victim")
        dev, url = d.info["device_id"], d.info["certificate_url"]
        trace = os.path.join(self.w.tmp, "victim.pcap")
        rc, out = d.attach(core.address, extra=("--pcap", trace))
        self.assertEqual(rc, 0, out)
        supi = out["supi"][len("imsi-"):]
        captured = harness.pcap_nas_messages(trace)[0]
        self.assertEqual(captured[:3], b"\x7e\x00\x41")
        before_rows, before_ctr = self.states(core, dev), self.freshness(core, dev)
        self.assertEqual(before_rows, [(supi, "active")])
        # 1. The captured request, word for word, from another address.
        ans = core.nas(captured)
        self.assertEqual(ans[:3], b"\x7e\x00\x44")
        self.assertEqual(ans[3], SYNCH_FAILURE)
        self.assertLess(len(ans), 100)                 # no container
        # 2. The seed's unsigned request naming the same URL.
        start = captured.index(b"\x02\x01" + len(url).to_bytes(2, "big") + url.encode())
        payload = captured[start:]
        v1 = b"\x01" + tlv(1, url.encode()) + tlv(2, os.urandom(16))
        ans = core.nas(with_payload(captured, payload, v1))
        self.assertEqual(ans[:4], bytes([0x7E, 0x00, 0x44, ILLEGAL_UE]))
        # 3. A version-2 request with a higher counter but no signature.
        body = request_body(url, os.urandom(16), 2 ** 62)
        ans = core.nas(with_payload(captured, payload, body))
        self.assertEqual(ans[:4], bytes([0x7E, 0x00, 0x44, ILLEGAL_UE]))
        # 4. Signed, but with another device's key (a stolen URL).
        thief = self.enrolled("thief")
        with open(os.path.join(thief.dir, "device.key"), "rb") as f:
            tkey = serialization.load_pem_private_key(f.read(), None)
        sig = tkey.sign(REQ_LABEL + body, ec.ECDSA(hashes.SHA256()))
        ans = core.nas(with_payload(captured, payload, body + tlv(5, sig)))
        self.assertEqual(ans[:4], bytes([0x7E, 0x00, 0x44, ILLEGAL_UE]))
        # Nothing changed: no new row, nothing pending, counter unchanged.
        self.assertEqual(self.states(core, dev), before_rows)
        self.assertEqual(self.freshness(core, dev), before_ctr)
        log = core.log()
        self.assertIn("device=%s outcome=replay cause=21" % dev, log)
        self.assertIn("outcome=unsigned cause=3", log)
        self.assertIn("device=%s outcome=bad_signature cause=3" % dev, log)
        # The device still registers with its existing credentials.
        rc, out = d.attach(core.address)
        self.assertEqual(rc, 0, out)
        self.assertFalse(out["provisioned"])
        self.assertEqual(out["supi"], "imsi-" + supi)
        self.assertIn(out["kamf_fp"], core.fingerprints())
        # The same request signed with the device's own key (built here,
        # independently of the C codec) is accepted: the format is as
        # documented, and the counter moves.
        with open(os.path.join(d.dir, "device.key"), "rb") as f:
            dkey = serialization.load_pem_private_key(f.read(), None)
        sig = dkey.sign(REQ_LABEL + body, ec.ECDSA(hashes.SHA256()))
        ans = core.nas(with_payload(captured, payload, body + tlv(5, sig)))
        self.assertEqual(ans[:4], bytes([0x7E, 0x00, 0x44, 9]))
        self.assertEqual(self.freshness(core, dev), [(2 ** 62,)])

    def test_second_provisioning_old_works_until_new_completes_aka(self):
        core = self.w.core("core1", self.ca)
        d = self.enrolled("twice")
        dev = d.info["device_id"]
        rc, out = d.attach(core.address)
        self.assertEqual(rc, 0, out)
        old_supi = out["supi"]
        old = d.copy("old")                             # the old credentials
        rc, out = d.attach(core.address, extra=("--reprovision", "--provision-only"))
        self.assertEqual(rc, 0, out)
        self.assertTrue(out["provisioned"])
        self.assertFalse(out["registered"])
        self.assertTrue(out["pending"])
        new_supi = out["supi"]
        self.assertNotEqual(new_supi, old_supi)
        self.assertEqual(d.credentials()["supi"], old_supi)
        self.assertEqual(self.states(core, dev), sorted([(old_supi[5:], "active"),
                                                          (new_supi[5:], "pending")]))
        listing = run(prog("corehook"), "subscribers", "list", "--config", core.config).stdout
        self.assertRegex(listing, r"%s\s+pending" % new_supi[5:])
        # The old credentials still register while the new ones are pending.
        rc, out = old.attach(core.address)
        self.assertEqual(rc, 0, out)
        self.assertEqual(out["supi"], old_supi)
        # The device registers with the new ones: they become active.
        rc, out = d.attach(core.address)
        self.assertEqual(rc, 0, out)
        self.assertEqual(out["supi"], new_supi)
        self.assertFalse(os.path.exists(os.path.join(d.dir, "credentials-pending.json")))
        self.assertEqual(d.credentials()["supi"], new_supi)
        self.assertEqual(self.states(core, dev), sorted([(old_supi[5:], "retired"),
                                                          (new_supi[5:], "active")]))
        keys = core.db_rows("SELECT hex(ki), hex(opc) FROM subscription WHERE supi = ?",
                            old_supi[5:])
        self.assertEqual(keys, [("0" * 32, "0" * 32)])
        # Only the new one works now.
        rc, out = old.attach(core.address)
        self.assertEqual(rc, EX_REFUSED, out)
        self.assertEqual(out["cause"], ILLEGAL_UE)
        self.assertIn("no subscription", out["error"])
        rc, out = d.attach(core.address)
        self.assertEqual(rc, 0, out)
        self.assertEqual(out["supi"], new_supi)


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

    def test_lost_uplinks_recovered_by_network_timers(self):
        """T3560 at 300 ms, the UE's own timer at 4 s with no
        retransmission of its own: the relay loses the first
        Authentication response and the first Security mode complete. The
        core sends the Authentication request again (the same bytes) and
        the Security mode command again (the next COUNT); ueclient answers
        each with what it sent before (RES* stored, the USIM not asked
        twice, so no synch failure) and registers."""
        core = self.w.core("core1", self.ca,
                           config_extra={"t3560_ms": 300, "t3550_ms": 300})
        lost = []

        def lose_first(data):
            kind = ("auth-response" if data[:3] == b"\x7e\x00\x57" else
                    "smc-complete" if data[:2] == b"\x7e\x04" else None)
            if kind is not None and kind not in lost:
                lost.append(kind)
                return None
            return data
        relay = self.w.relay(core.port, upf=lose_first)
        d = self.enrolled("lossy")
        rc, out = d.attach("127.0.0.1:%d" % relay.port,
                           extra=("--timeout-ms", "4000", "--retransmits", "0",
                                  "--attempt-ms", "20000"))
        self.assertEqual(rc, 0, out)
        self.assertTrue(out["provisioned"] and out["registered"], out)
        self.assertEqual(sorted(lost), ["auth-response", "smc-complete"])
        self.assertEqual(out["resyncs"], 0)
        self.assertEqual(out["ignored"], 0, out)
        self.assertIn(out["kamf_fp"], core.fingerprints())
        text = " ".join(e["text"] for e in out["events"])
        self.assertIn("Authentication request again (the network's retransmission", text)
        self.assertIn("Security mode command again (the network's retransmission, "
                      "MAC verified, downlink NAS COUNT 1)", text)
        m = core.metrics()
        self.assertIn('corehook_nas_retransmissions_total{timer="T3560"} 2\n', m)
        self.assertIn('corehook_nas_procedures_aborted_total{timer="T3560"} 0\n', m)


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

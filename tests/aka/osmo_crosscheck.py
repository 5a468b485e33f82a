#!/usr/bin/python3
"""Cross-check ProvCA's MILENAGE against osmo-auc-gen (libosmocore), an
independent implementation: for random K, OP, RAND, SQN and AMF, AUTN, RES,
CK, IK and AK must agree; an AUTS we make must be accepted by osmo-auc-gen
with the SQN_MS we put in; an AUTN osmo-auc-gen makes must pass our USIM
check. Also pins the CLI contract of `av` (exit 2 and a message on bad hex).

usage: osmo_crosscheck.py PATH/TO/aka_tool
"""
import os
import shutil
import subprocess
import sys
import unittest

TOOL = None
OSMO = shutil.which("osmo-auc-gen")
SNN = "5G:mnc001.mcc001.3gppnetwork.org"
ROUNDS = 12


def rnd(n):
    return os.urandom(n).hex()


def run(args, expect_rc=0):
    p = subprocess.run(args, capture_output=True, text=True, timeout=30)
    if p.returncode != expect_rc:
        raise AssertionError("%s: exit %d (wanted %d)\nstdout: %s\nstderr: %s"
                             % (args[:2], p.returncode, expect_rc, p.stdout,
                                p.stderr))
    return p


def fields(text):
    """NAME: value lines (osmo uses a tab, we a space) into a dict."""
    out = {}
    for line in text.splitlines():
        if ":" in line:
            name, _, val = line.partition(":")
            out[name.strip()] = val.strip()
    return out


def ours(k, op, rand, sqn, amf):
    p = run([TOOL, "av", "--k", k, "--op", op, "--rand", rand, "--sqn", sqn,
             "--amf", amf, "--snn", SNN])
    f = fields(p.stdout)
    want = ["OPc", "MAC-A", "MAC-S", "XRES", "CK", "IK", "AK", "AK*", "AUTN",
            "XRES*", "HXRES*", "K_AUSF", "K_SEAF"]
    names = [l.split(":")[0] for l in p.stdout.splitlines()]
    if names != want:
        raise AssertionError("av printed %r" % names)
    return f


def osmo(k, rand, amf, sqn=None, op=None, opc=None, auts=None):
    args = [OSMO, "-3", "-a", "milenage", "-k", k, "-r", rand, "-f", amf]
    args += ["-O", op] if op else ["-o", opc]
    if sqn is not None:
        args += ["-s", str(int(sqn, 16))]
    if auts is not None:
        args += ["-A", auts]
    p = subprocess.run(args, capture_output=True, text=True, timeout=30)
    return p.returncode, fields(p.stdout)


class OsmoCrossCheck(unittest.TestCase):
    def setUp(self):
        # scripts/setup.sh installs it; a missing checker is a failure, not
        # a skip, so the cross-check cannot silently stop running.
        self.assertIsNotNone(OSMO, "osmo-auc-gen not found (libosmocore-utils)")

    def test_vectors_agree_for_random_inputs(self):
        for _ in range(ROUNDS):
            k, op, rand, sqn, amf = rnd(16), rnd(16), rnd(16), rnd(6), rnd(2)
            f = ours(k, op, rand, sqn, amf)
            rc, o = osmo(k, rand, amf, sqn=sqn, op=op)
            self.assertEqual(rc, 0)
            self.assertEqual(int(o["SQN"]), int(sqn, 16))
            self.assertEqual(f["AUTN"], o["AUTN"].lower())
            self.assertEqual(f["XRES"], o["RES"].lower())
            self.assertEqual(f["CK"], o["CK"].lower())
            self.assertEqual(f["IK"], o["IK"].lower())
            ak = bytes(a ^ b for a, b in zip(bytes.fromhex(o["AUTN"][:12]),
                                             bytes.fromhex(sqn)))
            self.assertEqual(f["AK"], ak.hex())
            self.assertEqual(f["MAC-A"], o["AUTN"][16:].lower())
            # The same values from OPc instead of OP.
            rc, o2 = osmo(k, rand, amf, sqn=sqn, opc=f["OPc"])
            self.assertEqual(o2["AUTN"].lower(), f["AUTN"])

    def test_our_auts_recovers_sqn_ms_in_osmo(self):
        for _ in range(ROUNDS):
            k, opc, rand = rnd(16), rnd(16), rnd(16)
            sqn_ms = "%012x" % (int.from_bytes(os.urandom(6), "big")
                                & 0x7fffffffffff)
            auts = fields(run([TOOL, "auts", k, opc, rand, sqn_ms]).stdout)["AUTS"]
            self.assertEqual(len(auts), 28)
            rc, o = osmo(k, rand, "8000", opc=opc, auts=auts)
            self.assertEqual(rc, 0)
            self.assertEqual(int(o["SQN.MS"]), int(sqn_ms, 16))
            back = fields(run([TOOL, "resync", k, opc, rand, auts]).stdout)
            self.assertEqual(back["SQN_MS"], sqn_ms)
            # A flipped bit: osmo refuses it and so do we.
            bad = "%028x" % (int(auts, 16) ^ (1 << (os.urandom(1)[0] % 112)))
            rc, o = osmo(k, rand, "8000", opc=opc, auts=bad)
            self.assertNotIn("SQN.MS", o)
            p = run([TOOL, "resync", k, opc, rand, bad], expect_rc=1)
            self.assertEqual(p.stdout, "")

    def test_osmo_autn_passes_our_usim(self):
        for _ in range(ROUNDS):
            k, opc, rand = rnd(16), rnd(16), rnd(16)
            sqn = int.from_bytes(os.urandom(6), "big") | 1
            amf = "%04x" % (int(rnd(2), 16) | 0x8000)
            rc, o = osmo(k, rand, amf, sqn="%012x" % sqn, opc=opc)
            self.assertEqual(rc, 0)
            p = run([TOOL, "usim", k, opc, rand, o["AUTN"], SNN,
                     "%012x" % (sqn - 1)])
            u = fields(p.stdout)
            self.assertEqual(u["result"], "ok")
            self.assertEqual(u["SQN"], "%012x" % sqn)
            f = fields(run([TOOL, "av", "--k", k, "--opc", opc, "--rand", rand,
                            "--sqn", "%012x" % sqn, "--amf", amf,
                            "--snn", SNN]).stdout)
            self.assertEqual(u["RES*"], f["XRES*"])
            self.assertEqual(u["K_AUSF"], f["K_AUSF"])
            # Replayed: synch failure whose AUTS osmo accepts.
            p = run([TOOL, "usim", k, opc, rand, o["AUTN"], SNN,
                     "%012x" % sqn], expect_rc=1)
            u = fields(p.stdout)
            self.assertEqual(u["result"], "synch failure")
            rc, o = osmo(k, rand, amf, opc=opc, auts=u["AUTS"])
            self.assertEqual(int(o["SQN.MS"]), sqn)


class AvCli(unittest.TestCase):
    BASE = ["--k", "465b5ce8b199b49faa5f0a2ee238a6bc",
            "--op", "cdc202d5123e20f62b6d676ac72cb318",
            "--rand", "23553cbe9637a89d218ae64dae47bf35",
            "--sqn", "ff9bb4d0b607", "--amf", "b9b9"]

    def test_test_set_1(self):
        f = fields(run([TOOL, "av"] + self.BASE).stdout)
        self.assertEqual(f["OPc"], "cd63cb71954a9f4e48a5994e37a02baf")
        self.assertEqual(f["MAC-S"], "01cfaf9ec4e871e9")
        self.assertEqual(f["AK*"], "451e8beca43b")
        self.assertNotIn("XRES*", f)

    def test_bad_input_exits_2_with_message(self):
        cases = [
            (["--k", "00"] + self.BASE[2:], "--k: expected 32 hex digits"),
            (self.BASE[:5] + ["zz" * 16] + self.BASE[6:],
             "--rand: 'z' is not a hex digit"),
            (self.BASE[:8], "--amf is required"),
            (self.BASE + ["--opc", "00" * 16], "exactly one of --op and --opc"),
            (self.BASE + ["--bogus"], "unknown option '--bogus'"),
        ]
        for args, msg in cases:
            p = run([TOOL, "av"] + args, expect_rc=2)
            self.assertIn(msg, p.stderr)
            self.assertEqual(p.stdout, "")


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit("usage: osmo_crosscheck.py PATH/TO/aka_tool")
    TOOL = sys.argv.pop(1)
    unittest.main(verbosity=2)

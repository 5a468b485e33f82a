#!/usr/bin/python3
"""test_sec_tools.py — the checking commands: every vector of
nas_security.json through `corehook nas-sec nia2|nea2|kdf`, TS 33.501 Annex
C.4 through `ueclient suci conceal` and `corehook suci deconceal` (hex and
PEM key files), exit 2 on bad input, a bad tag refused.
"""
import json
import os
import subprocess
import tempfile
import unittest

BIN = os.environ["PROVCA_BIN"]
VEC = os.path.join(os.environ["PROVCA_VECTORS"], "nas_security.json")
COREHOOK = os.path.join(BIN, "corehook")
UECLIENT = os.path.join(BIN, "ueclient")

# TS 33.501 C.4.3 / C.4.4 (MSIN 001002086).
C4 = {
    "A": dict(
        hn_priv="c53c22208b61860b06c62e5406a7b330c2b577aa5558981510d128247d38bd1d",
        hn_pub="5a8d38864820197c3394b92613b20b91633cbd897119273bf8e4a6f4eec0a650",
        eph="c80949f13ebe61af4ebdbd293ea4f942696b9e815d7e8f0096bbf6ed7de62256",
        out="b2e92f836055a255837debf850b528997ce0201cb82adfe4be1f587d07d8457d"
            "cb02352410cddd9e730ef3fa87"),
    "B": dict(
        hn_priv="f1ab1074477ebcc7f554ea1c5fc368b1616730155e0041ac447d6301975fecda",
        hn_pub="0272da71976234ce833a6907425867b82e074d44ef907dfb4b3e21c1c2256ebcd1",
        eph="99798858a1dc6a2c68637149a4b1dbfd1fdff5addd62a2142f06699ed7602529",
        out="039aab8376597021e855679a9778ea0b67396e68c66df32c0f41e9acca2da9b9d1"
            "46a33fc2716ac7dae96aa30a4d"),
}


def run(*argv):
    return subprocess.run(list(argv), capture_output=True, text=True,
                          timeout=60)


def one_line(res, name):
    """The value of the single NAME: line of a successful run."""
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert len(lines) == 1 and lines[0].startswith(name + ": "), res.stdout
    return lines[0][len(name) + 2:]


class NasSecTool(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        with open(VEC) as f:
            cls.v = json.load(f)

    def alg(self, cmd, v, msg):
        return run(COREHOOK, "nas-sec", cmd, "--key", v["key"], "--count",
                   v["count"], "--bearer", str(v["bearer"]), "--direction",
                   str(v["direction"]), "--length", str(v["length"]),
                   "--msg", msg)

    def test_every_nea2_vector(self):
        self.assertGreaterEqual(len(self.v["nea2"]), 3)
        for v in self.v["nea2"]:
            self.assertEqual(one_line(self.alg("nea2", v, v["plaintext"]),
                                      "OUT"), v["ciphertext"])
            self.assertEqual(one_line(self.alg("nea2", v, v["ciphertext"]),
                                      "OUT"), v["plaintext"])

    def test_every_nia2_vector(self):
        sets = self.v["nia2"] + self.v["nia2_octet_padded"]
        self.assertGreaterEqual(len(sets), 7)
        for v in sets:
            self.assertEqual(one_line(self.alg("nia2", v, v["message"]),
                                      "MAC"), v["mac"])

    def test_every_kdf_vector(self):
        self.assertGreaterEqual(len(self.v["kdf_nas"]), 3)
        for v in self.v["kdf_nas"]:
            got = one_line(run(COREHOOK, "nas-sec", "kdf", "--kamf", v["kamf"],
                               "--alg-type", str(v["alg_type"]),
                               "--alg-id", str(v["alg_id"])), "KEY")
            self.assertEqual(got, v["key"])

    def test_bad_input_exits_2(self):
        v = self.v["nia2"][0]   # 58 bits: 8 octets
        good = ["--key", v["key"], "--count", v["count"], "--bearer", "24",
                "--direction", "0", "--length", "58", "--msg", v["message"]]
        bad = [
            ["nia3"] + good,
            ["nia2"] + good[:-2],                           # no --msg
            ["nia2"] + good[:-1] + [v["message"] + "00"],   # too long
            ["nia2"] + good[:-1] + [v["message"][:-2] + "41"],  # bit 59 set
            ["nia2"] + good[:5] + ["32"] + good[6:],         # bearer 32
            ["nia2"] + good[:7] + ["2"] + good[8:],          # direction 2
            ["nia2"] + good[:3] + ["38a6f0"] + good[4:],     # short COUNT
            ["nia2"] + good[:1] + ["zz" * 16] + good[2:],    # key not hex
            ["nia2"] + good + ["--key", v["key"]],           # repeated
            ["nea2"] + good[:9] + ["0"] + good[10:],         # length 0
            ["kdf", "--kamf", "00" * 32, "--alg-type", "3", "--alg-id", "2"],
            ["kdf", "--kamf", "00" * 31, "--alg-type", "1", "--alg-id", "2"],
            ["kdf", "--kamf", "00" * 32, "--alg-type", "1"],
        ]
        for argv in bad:
            res = run(COREHOOK, "nas-sec", *argv)
            self.assertEqual(res.returncode, 2, argv)
            self.assertEqual(res.stdout, "")
            self.assertIn("corehook nas-sec:", res.stderr)


class SuciTool(unittest.TestCase):
    def conceal(self, p, *extra):
        c = C4[p]
        return run(UECLIENT, "suci", "conceal", "--supi",
                   "imsi-27401001002086", "--mnc-digits", "2", "--profile", p,
                   "--hn-pub", c["hn_pub"], "--hn-key-id", "3",
                   "--routing-indicator", "678", *extra)

    def test_annex_c4_both_profiles(self):
        for p, scheme in (("A", 1), ("B", 2)):
            c = C4[p]
            suci = one_line(self.conceal(p, "--eph-key", c["eph"]), "SUCI")
            self.assertEqual(suci, "suci-0-274-01-678-%d-3-%s" %
                             (scheme, c["out"]))
            supi = one_line(run(COREHOOK, "suci", "deconceal", "--suci", suci,
                                "--hn-key", c["hn_priv"]), "SUPI")
            self.assertEqual(supi, "imsi-27401001002086")

    def test_random_ephemeral_and_pem_key_file(self):
        with tempfile.TemporaryDirectory() as d:
            for p, alg in (("A", ["-algorithm", "X25519"]),
                           ("B", ["-algorithm", "EC", "-pkeyopt",
                                  "ec_paramgen_curve:P-256"])):
                key = os.path.join(d, "hn-%s.pem" % p)
                subprocess.run(["openssl", "genpkey", *alg, "-out", key],
                               check=True, capture_output=True)
                der = subprocess.run(["openssl", "pkey", "-in", key, "-pubout",
                                      "-outform", "DER"], check=True,
                                     capture_output=True).stdout
                pub = der[-32:] if p == "A" else der[-65:]
                res = run(UECLIENT, "suci", "conceal", "--supi",
                          "imsi-001010000000042", "--mnc-digits", "2",
                          "--profile", p, "--hn-pub", pub.hex(),
                          "--hn-key-id", "1")
                suci = one_line(res, "SUCI")
                self.assertNotIn("0000000042", suci)
                again = one_line(run(UECLIENT, "suci", "conceal", "--supi",
                                     "imsi-001010000000042", "--mnc-digits",
                                     "2", "--profile", p, "--hn-pub",
                                     pub.hex(), "--hn-key-id", "1"), "SUCI")
                self.assertNotEqual(suci, again)
                self.assertEqual(one_line(run(COREHOOK, "suci", "deconceal",
                                              "--suci", suci, "--hn-key", key),
                                          "SUPI"), "imsi-001010000000042")

    def test_bad_tag_refused(self):
        c = C4["B"]
        suci = "suci-0-274-01-678-2-3-" + c["out"][:-1] + "e"
        res = run(COREHOOK, "suci", "deconceal", "--suci", suci, "--hn-key",
                  c["hn_priv"])
        self.assertEqual(res.returncode, 1)
        self.assertEqual(res.stdout, "")
        self.assertIn("MAC tag does not verify", res.stderr)

    def test_bad_input_exits_2(self):
        c = C4["A"]
        for extra in (["--profile", "C"], ["--mnc-digits", "4"],
                      ["--hn-pub", c["hn_pub"][:-2]],
                      ["--routing-indicator", "12345"],
                      ["--eph-key", "00"], ["--supi", "imsi-12"]):
            argv = ["--supi", "imsi-27401001002086", "--mnc-digits", "2",
                    "--profile", "A", "--hn-pub", c["hn_pub"],
                    "--hn-key-id", "1"]
            name = extra[0]
            if name in argv:
                argv[argv.index(name) + 1] = extra[1]
            else:
                argv += extra
            res = run(UECLIENT, "suci", "conceal", *argv)
            self.assertEqual(res.returncode, 2, extra)
            self.assertEqual(res.stdout, "")
        for argv in (["--suci", "suci-0-274-01-0-1-1-zz", "--hn-key",
                      c["hn_priv"]],
                     ["--suci", "suci-0-274-01-0-1-1-" + c["out"],
                      "--hn-key", C4["B"]["hn_priv"][:-2]],
                     ["--suci", "suci-0-274-01-0-1-1-" + c["out"]]):
            res = run(COREHOOK, "suci", "deconceal", *argv)
            self.assertEqual(res.returncode, 2, argv)


if __name__ == "__main__":
    unittest.main()

#!/usr/bin/python3
"""tshark_check.py — write a pcap of one full ProvCA exchange with the pcap
writer (nas_trace) and check that Wireshark's own NAS-5GS dissector names
every message, shows the same RAND, AUTN, RES*, AUTS and SUCI (null scheme
and Profile A), the security header types of the protected registration
(integrity protected with new context; integrity protected and ciphered),
MAC, sequence numbers and selected algorithms, and reports no malformed
packet and no expert warning or error.

Usage: tshark_check.py NAS_TRACE_BINARY
"""
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

NAS_TRACE = None

EXPECTED_NAMES = [
    "Registration request",
    "Registration reject",
    "Registration request",
    "Authentication request",
    "Authentication failure",
    "Authentication response",
    "Registration accept",
    "Authentication reject",
    "Registration request",     # Profile A SUCI, UE security capability
    "Security mode command",    # header type 3: readable
    "", "", "",                 # ciphered: complete, accept, complete
]
EXPECTED_TYPES = ["0x41", "0x44", "0x41", "0x56", "0x59", "0x57", "0x42",
                  "0x58", "0x41", "0x5d", "", "", ""]
# Wireshark 4.0 knows no Payload container IE in a Registration reject (TS
# 24.501 has none there); it shows our 0x7B container as a Note, never as
# malformed. Any other expert item fails the test.
REJECT_NOTE = ("Extraneous Data, dissector bug or later version "
               "spec(report to wireshark.org)")
PI_NOTE = 0x00400000


class TsharkTrace(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="nas-tshark-")
        cls.pcap = os.path.join(cls.tmp, "trace.pcap")
        out = subprocess.run([NAS_TRACE, cls.pcap], check=True,
                             capture_output=True, text=True).stdout
        cls.values = dict(line.split("=", 1) for line in out.split())
        env = dict(os.environ, HOME=cls.tmp)  # no user profile
        cls.env = env

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def tshark(self, *args):
        r = subprocess.run(["tshark", "-n", "-r", self.pcap] + list(args),
                           capture_output=True, text=True, env=self.env,
                           timeout=120)
        self.assertEqual(r.returncode, 0, r.stderr)
        return r.stdout

    def fields(self, *names):
        out = self.tshark("-T", "fields", "-E", "separator=|",
                          "-E", "occurrence=a", "-E", "aggregator=,",
                          *[a for n in names for a in ("-e", n)])
        return [line.split("|") for line in out.splitlines()]

    def test_every_message_named(self):
        rows = self.fields("_ws.col.Protocol", "_ws.col.Info",
                           "nas_5gs.mm.message_type")
        self.assertEqual(len(rows), len(EXPECTED_NAMES))
        for row, name, mtype in zip(rows, EXPECTED_NAMES, EXPECTED_TYPES):
            self.assertEqual(row[0], "NAS-5GS")
            self.assertTrue(row[1].startswith(name), row[1])
            self.assertEqual(row[2], mtype)
        self.assertIn("UE identity cannot be derived by the network",
                      rows[1][1])
        self.assertIn("Synch failure", rows[4][1])

    def test_auth_values_match(self):
        rows = self.fields("gsm_a.dtap.rand", "gsm_a.dtap.autn",
                           "gsm_a.dtap.auts", "nas_eps.emm.res")
        self.assertEqual(rows[3][0], self.values["rand"])
        self.assertEqual(rows[3][1], self.values["autn"])
        self.assertEqual(rows[4][2], self.values["auts"])
        self.assertEqual(rows[5][3], self.values["res_star"])
        # nothing else carries them
        for i, row in enumerate(rows):
            if i not in (3, 4, 5):
                self.assertEqual(row, ["", "", "", ""])

    def test_registration_fields(self):
        rows = self.fields("nas_5gs.mm.5gs_reg_type", "nas_5gs.mm.for",
                           "nas_5gs.mm.type_id", "nas_5gs.mm.pld_cont_type",
                           "nas_5gs.mm.pld_cont", "nas_5gs.mm.suci.msin",
                           "nas_5gs.mm.suci.routing_indicator",
                           "nas_5gs.mm.suci.scheme_id")
        prov, normal = rows[0], rows[2]
        self.assertEqual(prov[0], "5")          # onboarding
        self.assertEqual(prov[1], "1")          # FOR
        self.assertEqual(prov[2], "0")          # no identity
        self.assertEqual(prov[3], "14")         # ProvCA payload type 0xE
        self.assertTrue(prov[4].replace(":", "").startswith(
            self.values["payload_req"]), prov[4])
        self.assertEqual(normal[0], "1")        # initial registration
        self.assertEqual(normal[2], "1")        # SUCI
        self.assertEqual(normal[5], "0123456789")
        self.assertEqual(normal[6], "0000")
        self.assertEqual(normal[7], "0")        # null scheme
        concealed = rows[8]
        self.assertEqual(concealed[2], "1")     # SUCI
        self.assertEqual(concealed[5], "")      # no MSIN in clear
        self.assertEqual(concealed[7], "1")     # ECIES Profile A
        out = self.fields("nas_5gs.mm.suci.scheme_output",
                          "nas_5gs.mm.suci.pki")[8]
        self.assertEqual(out[0].replace(":", ""), self.values["suci_out"])
        self.assertEqual(out[1], "1")

    def test_security_header_types(self):
        rows = self.fields("nas_5gs.security_header_type",
                           "nas_5gs.msg_auth_code", "nas_5gs.seq_no",
                           "nas_5gs.mm.nas_sec_algo_enc",
                           "nas_5gs.mm.nas_sec_algo_ip")
        for row in rows[:9]:
            self.assertEqual(row, ["0", "", "", "", ""])
        # SMC: type 3 with the plain command inside, NEA2/NIA2, COUNT 0
        self.assertEqual(rows[9][0], "3,0")
        self.assertEqual(rows[9][1], "0x" + self.values["smc_mac"])
        self.assertEqual(rows[9][2:], ["0", "2", "2"])
        self.assertEqual([r[0] for r in rows[10:]], ["4", "2", "2"])
        self.assertEqual([r[2] for r in rows[10:]], ["0", "1", "1"])
        info = self.tshark("-V")
        self.assertIn("Integrity protected with new 5GS security context (3)",
                      info)
        self.assertIn("Integrity protected and ciphered with new 5GS security"
                      " context (4)", info)
        self.assertIn("Integrity protected and ciphered (2)", info)

    def test_no_malformed_or_expert_problem(self):
        verbose = self.tshark("-V")
        self.assertNotIn("Malformed", verbose)
        self.assertNotIn("[Severity level: Error]", verbose)
        self.assertNotIn("[Severity level: Warning]", verbose)
        rows = self.fields("_ws.expert.severity", "_ws.expert.message",
                           "_ws.malformed")
        for i, row in enumerate(rows):
            if i == 1:
                # the reject's container: exactly one note, nothing worse
                self.assertEqual(int(row[0]), PI_NOTE)
                self.assertEqual(row[1], REJECT_NOTE)
            else:
                self.assertEqual(row, ["", "", ""], "frame %d" % (i + 1))

    def test_direction_tags(self):
        rows = self.fields("exported_pdu.ipv4_src", "exported_pdu.ipv4_dst",
                           "exported_pdu.src_port", "exported_pdu.dst_port")
        ue = ["192.0.2.2", "192.0.2.1", "40000", "4997"]
        core = ["192.0.2.1", "192.0.2.2", "4997", "40000"]
        expect = [ue, core, ue, core, ue, ue, core, core, ue, core, ue, core,
                  ue]
        self.assertEqual(rows, expect)


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit("usage: tshark_check.py NAS_TRACE_BINARY")
    NAS_TRACE = sys.argv.pop(1)
    if shutil.which("tshark") is None:
        sys.exit("tshark not installed (scripts/setup.sh installs it)")
    unittest.main(verbosity=2)

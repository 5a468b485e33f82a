"""ca-server's command line end to end: init, enroll, show/list, revoke,
CRL, principals, backup and every bad-input case, checked against real
values (certificate fields parsed back, OpenSSL and GnuTLS chain checks,
CRL contents, registry rows)."""
import datetime
import json
import os
import re
import shutil
import sqlite3
import subprocess
import tempfile
import unittest

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID, ExtendedKeyUsageOID

BIN = os.path.join(os.environ.get("PROVCA_BIN", "build/bin"), "ca-server")
SANITIZE = os.environ.get("PROVCA_SANITIZE", "0") == "1"
OID_ARC = os.environ.get("PROVCA_OID_ARC", "1.3.6.1.4.1.32473.7243")
EKU_DEVICE = OID_ARC + ".1"
EKU_SIGNER = OID_ARC + ".2"


def run(*args, ok=True):
    p = subprocess.run([BIN, *args], capture_output=True, text=True,
                       timeout=600)
    if ok and p.returncode != 0:
        raise AssertionError(f"{args}: rc={p.returncode} {p.stderr}")
    return p


def slurp(path):
    with open(path, "rb") as f:
        return f.read()


def cert_text(pem):
    """OpenSSL's rendering of a certificate's extensions. The cryptography
    package (48) cannot parse the project's 2.25 EKU OIDs, so extension
    checks read OpenSSL's text instead."""
    p = subprocess.run(["openssl", "x509", "-noout", "-text",
                        "-certopt", "no_pubkey,no_sigdump"],
                       input=pem if isinstance(pem, bytes) else pem.encode(),
                       capture_output=True, check=True)
    return p.stdout.decode()


def ext(text, name):
    """The value lines under the extension header `name`."""
    lines = text.splitlines()
    for i, ln in enumerate(lines):
        if ln.strip().startswith(name + ":"):
            out = []
            for nxt in lines[i + 1:]:
                if nxt.startswith(" " * 16):
                    out.append(nxt.strip())
                else:
                    break
            return ln.strip(), out
    raise AssertionError(f"{name} missing")


def csr_for(key, der=False):
    req = x509.CertificateSigningRequestBuilder().subject_name(
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "dev")])
    ).sign(key, hashes.SHA256())
    return req.public_bytes(serialization.Encoding.DER if der else
                            serialization.Encoding.PEM)


class CliTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="provca-cli-")
        cls.data = os.path.join(cls.tmp, "data")
        run("init", "--example-oids", "--data", cls.data, "--plain-keys", "--hostname", "ca.example",
            "--hostname", "192.0.2.7", "--org", "Test Org")
        run("manufacturer", "add", "--data", cls.data, "--id", "acme",
            "--name", "Acme Devices")
        run("manufacturer", "add", "--data", cls.data, "--id", "oui",
            "--name", "OUI Corp", "--oui", "00A0c6")

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def path(self, name):
        return os.path.join(self.tmp, name)

    def write(self, name, data):
        with open(self.path(name), "wb") as f:
            f.write(data)
        return self.path(name)

    def enroll(self, key, serial, mfr="acme", der=False, extra=()):
        f = self.write(f"{mfr}-{serial.replace('/', '_')}.csr",
                       csr_for(key, der))
        p = run("enroll", "--data", self.data, "--csr", f,
                "--manufacturer-id", mfr, "--serial", serial, "--model",
                "Sensor-1", "--hardware-version", "rev.B", "--json", *extra)
        return json.loads(p.stdout)

    def dump(self):
        con = sqlite3.connect(os.path.join(self.data, "registry.db"))
        rows = list(con.iterdump())
        con.close()
        files = sorted(os.listdir(self.data))
        return rows, files

    def assert_refused(self, args, needle, code=1):
        before = self.dump()
        p = run(*args, ok=False)
        self.assertEqual(p.returncode, code, p.stderr)
        lines = p.stderr.strip().splitlines()
        self.assertTrue(lines, "no error message")
        self.assertIn(needle, lines[0])
        self.assertEqual(self.dump(), before, "refused command changed state")

    # ---- init ---------------------------------------------------------

    def test_init_hierarchy_verifies_strictly(self):
        d = self.data
        for args in (
            ["-CAfile", f"{d}/root-ca.crt", f"{d}/device-ca.crt",
             f"{d}/infra-ca.crt"],
            ["-CAfile", f"{d}/root-ca.crt", "-untrusted", f"{d}/infra-ca.crt",
             f"{d}/server.crt", f"{d}/admin/admin.crt"],
        ):
            p = subprocess.run(["openssl", "verify", "-x509_strict", *args],
                               capture_output=True, text=True)
            self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
            self.assertEqual(p.stdout.count(": OK"), 2)
        root = x509.load_pem_x509_certificate(slurp(f"{d}/root-ca.crt"))
        self.assertEqual(root.public_key().curve.name, "secp384r1")
        bc = root.extensions.get_extension_for_class(x509.BasicConstraints)
        self.assertTrue(bc.critical)
        self.assertEqual(bc.value.path_length, 1)
        dev = x509.load_pem_x509_certificate(slurp(f"{d}/device-ca.crt"))
        self.assertEqual(dev.public_key().curve.name, "secp256r1")
        self.assertEqual(dev.extensions.get_extension_for_class(
            x509.BasicConstraints).value.path_length, 0)
        ku = dev.extensions.get_extension_for_class(x509.KeyUsage)
        self.assertTrue(ku.critical)
        self.assertTrue(ku.value.key_cert_sign and ku.value.crl_sign)
        nc = dev.extensions.get_extension_for_class(x509.NameConstraints)
        self.assertTrue(nc.critical)
        self.assertEqual(len(nc.value.excluded_subtrees), 2)
        srv = x509.load_pem_x509_certificate(slurp(f"{d}/server.crt"))
        san = srv.extensions.get_extension_for_class(
            x509.SubjectAlternativeName).value
        self.assertEqual(sorted(san.get_values_for_type(x509.DNSName)),
                         ["ca.example", "localhost"])
        self.assertEqual(sorted(str(a) for a in san.get_values_for_type(
            x509.IPAddress)), ["127.0.0.1", "192.0.2.7", "::1"])
        self.assertEqual(list(srv.extensions.get_extension_for_class(
            x509.ExtendedKeyUsage).value), [ExtendedKeyUsageOID.SERVER_AUTH])
        for key in ("device-ca.key", "infra-ca.key",
                    "server.key", "admin/admin.key", "admin/admin.p12"):
            self.assertEqual(os.stat(f"{d}/{key}").st_mode & 0o777, 0o600,
                             key)
        # The Root key is offline: beside the data folder, never in it.
        self.assertFalse(os.path.exists(f"{d}/root-ca.key"))
        self.assertEqual(os.stat(f"{d}-root/root-ca.key").st_mode & 0o777,
                         0o600)
        self.assertEqual(slurp(f"{d}-root/root-ca.crt"),
                         slurp(f"{d}/root-ca.crt"))
        cfg = json.loads(slurp(f"{d}/config.json"))
        self.assertEqual(cfg["public_base_url"], "https://ca.example:8443")
        for k in ("listen", "body_limit", "worker_threads", "keep_alive_timeout_ms",
                  "device_validity_days", "crl_next_update_hours",
                  "session_idle_seconds", "session_absolute_seconds",
                  "hsts_max_age",
                  "log_level"):
            self.assertIn(k, cfg)
        p = subprocess.run(["openssl", "pkcs12", "-in",
                            f"{d}/admin/admin.p12", "-passin",
                            f"file:{d}/admin/admin.p12.pass", "-nokeys"],
                           capture_output=True, text=True)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("CN = admin", p.stdout)
        self.assertEqual(p.stdout.count("BEGIN CERTIFICATE"), 3)

    def test_init_refuses_existing_ca_and_leaves_nothing_on_failure(self):
        p = run("init", "--example-oids", "--data", self.data, "--plain-keys", ok=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("already holds a CA", p.stderr)
        other = self.path("nonempty")
        os.mkdir(other)
        self.write("nonempty/file", b"x")
        p = run("init", "--example-oids", "--data", other, "--plain-keys", ok=False)
        self.assertEqual(p.returncode, 1)
        self.assertEqual(os.listdir(other), ["file"])
        bad = self.path("badhost")
        p = run("init", "--example-oids", "--data", bad, "--plain-keys", "--hostname", "a,b",
                ok=False)
        self.assertEqual(p.returncode, 1)
        self.assertFalse(os.path.exists(bad))
        self.assertFalse([n for n in os.listdir(self.tmp)
                          if n.startswith(".badhost")])
        p = run("init", ok=False)
        self.assertEqual(p.returncode, 2)

    def test_init_refuses_documentation_oid_arc_unless_told(self):
        d = self.path("docarc")
        for extra in ((), ("--pen", "99999")):
            p = run("init", "--data", d, "--plain-keys", *extra, ok=False)
            self.assertEqual(p.returncode, 1)
            self.assertIn("RFC 5612", p.stderr)
            self.assertIn("--example-oids", p.stderr)
            self.assertFalse(os.path.exists(d))
        p = run("init", "--data", d, "--plain-keys", "--pen", "0", ok=False)
        self.assertEqual(p.returncode, 2)
        p = run("init", "--data", d, "--plain-keys", "--example-oids", "--plain-url", "https://x", ok=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("--plain-url", p.stderr)
        run("init", "--data", d, "--plain-keys", "--example-oids", "--pen", "99999")
        with open(os.path.join(d, "config.json")) as f:
            self.assertEqual(json.load(f)["device_urn_pen"], 99999)

    def test_encrypted_keys_and_wrong_passphrase(self):
        d = self.path("enc")
        pf = self.write("pass", b"correct horse\n")
        wrong = self.write("wrong", b"battery staple\n")
        run("init", "--example-oids", "--data", d, "--key-pass-file", pf)
        self.assertIn(b"ENCRYPTED PRIVATE KEY",
                      slurp(f"{d}/device-ca.key"))
        p = run("manufacturer", "add", "--data", d, "--id", "x", "--name",
                "X", "--key-pass-file", wrong, ok=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("wrong passphrase", p.stderr)
        p = run("manufacturer", "list", "--data", d, ok=False)
        self.assertIn("passphrase file is needed", p.stderr)
        run("manufacturer", "add", "--data", d, "--id", "x", "--name", "X",
            "--key-pass-file", pf)
        p = subprocess.run(["openssl", "pkcs12", "-in", f"{d}/admin/admin.p12",
                            "-passin", f"file:{pf}", "-nokeys"],
                           capture_output=True, text=True)
        self.assertEqual(p.returncode, 0, p.stderr)

    def test_not_a_ca_folder(self):
        empty = self.path("empty")
        os.makedirs(empty, exist_ok=True)
        p = run("list", "--data", empty, ok=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("not a ProvCA data folder", p.stderr)

    # ---- issuance -----------------------------------------------------

    def test_device_certificate_profile(self):
        key = ec.generate_private_key(ec.SECP256R1())
        r = self.enroll(key, "SN-0001")
        self.assertTrue(r["created"])
        cert = x509.load_pem_x509_certificate(r["certificate"].encode())
        did = r["device_id"]
        self.assertRegex(did, r"^acme-[a-z2-7]{16}$")
        self.assertEqual(r["cert_url"],
                         f"https://ca.example:8443/devices/{did}")
        subj = cert.subject
        self.assertEqual(subj.get_attributes_for_oid(
            NameOID.SERIAL_NUMBER)[0].value, "SN-0001")
        self.assertEqual(subj.get_attributes_for_oid(
            NameOID.ORGANIZATION_NAME)[0].value, "Acme Devices")
        self.assertEqual(subj.get_attributes_for_oid(
            NameOID.COMMON_NAME)[0].value, did)
        self.assertGreaterEqual(cert.serial_number.bit_length(), 128)
        self.assertEqual(cert.not_valid_after,
                         datetime.datetime(9999, 12, 31, 23, 59, 59))
        t = cert_text(r["certificate"])
        self.assertEqual(ext(t, "X509v3 Subject Alternative Name")[1],
                         ["URI:urn:dev:org:32473-acme:SN-0001"])
        hdr, ku = ext(t, "X509v3 Key Usage")
        self.assertIn("critical", hdr)
        self.assertEqual(ku, ["Digital Signature, Key Agreement"])
        self.assertEqual(ext(t, "X509v3 Extended Key Usage")[1], [EKU_DEVICE])
        self.assertEqual(ext(t, "X509v3 CRL Distribution Points")[1],
                         ["Full Name:",
                          "URI:https://ca.example:8443/crl/device-ca.crl"])
        self.assertEqual(ext(t, "Authority Information Access")[1],
                         ["OCSP - URI:https://ca.example:8443/ocsp",
                          "CA Issuers - URI:https://ca.example:8443/ca/"
                          "device-ca.crt"])
        self.assertEqual(len(ext(t, "X509v3 Subject Key Identifier")[1]), 1)
        self.assertEqual(len(ext(t, "X509v3 Authority Key Identifier")[1]), 1)
        self.assertIn("CA:FALSE", ext(t, "X509v3 Basic Constraints")[1])
        leaf = self.write("leaf.pem", r["certificate"].encode())
        chain = self.write("chain.pem", (r["certificate"] +
                                         r["chain"]).encode())
        p = subprocess.run(["openssl", "verify", "-x509_strict",
                            "-purpose", "any", "-CAfile",
                            f"{self.data}/root-ca.crt", "-untrusted",
                            f"{self.data}/device-ca.crt", leaf],
                           capture_output=True, text=True)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        p = subprocess.run(["certtool", "--verify-chain", "--infile", chain],
                           capture_output=True, text=True)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIn("Chain verification output: Verified", p.stdout)
        # The registry row agrees with the certificate.
        con = sqlite3.connect(f"{self.data}/registry.db")
        row = con.execute("SELECT d.serial, d.model, d.hw_version, d.status,"
                          " c.serial_hex, c.key_type, c.issuer FROM devices d"
                          " JOIN certificates c USING (device_id)"
                          " WHERE device_id = ?", (did,)).fetchone()
        con.close()
        self.assertEqual(row, ("SN-0001", "Sensor-1", "rev.B", "active",
                               format(cert.serial_number, "040x"), "EC-P256",
                               "device"))
        # Idempotent: same key and serial, DER this time.
        r2 = self.enroll(key, "SN-0001", der=True)
        self.assertFalse(r2["created"])
        self.assertEqual(r2["device_id"], did)
        self.assertEqual(r2["certificate"], r["certificate"])

    def test_rsa_profile_and_oui_urn(self):
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        r = self.enroll(key, "R 1/2", mfr="oui")
        t = cert_text(r["certificate"])
        self.assertEqual(ext(t, "X509v3 Key Usage")[1],
                         ["Digital Signature, Key Encipherment"])
        self.assertEqual(ext(t, "X509v3 Subject Alternative Name")[1],
                         ["URI:urn:dev:ops:32473-Sensor.2D1-R.201.2F2"])
        con = sqlite3.connect(f"{self.data}/registry.db")
        kt = con.execute("SELECT key_type FROM certificates WHERE device_id"
                         " = ?", (r["device_id"],)).fetchone()
        con.close()
        self.assertEqual(kt, ("RSA-2048",))

    def test_show_and_list(self):
        r = self.enroll(ec.generate_private_key(ec.SECP256R1()), "SHOW-1")
        p = run("show", r["device_id"], "--data", self.data, "--json")
        s = json.loads(p.stdout)
        self.assertEqual(s["serial"], "SHOW-1")
        self.assertEqual(s["manufacturer_name"], "Acme Devices")
        self.assertEqual(s["status"], "active")
        self.assertIsNone(s["reason"])
        self.assertEqual(s["certificate"], r["certificate"])
        p = run("list", "--data", self.data, "--manufacturer-id", "acme",
                "--json")
        ids = [d["device_id"] for d in json.loads(p.stdout)]
        self.assertIn(r["device_id"], ids)
        p = run("list", "--data", self.data, "--manufacturer-id", "oui",
                "--status", "revoked", "--json")
        self.assertEqual(json.loads(p.stdout), [])

    # ---- bad input: one line, non-zero, nothing changed ---------------

    def test_bad_input_changes_nothing(self):
        good = self.write("good.csr", csr_for(ec.generate_private_key(
            ec.SECP256R1())))
        pem = slurp(good)
        trunc = self.write("trunc.csr", pem[:len(pem) // 2])
        der = csr_for(ec.generate_private_key(ec.SECP256R1()), der=True)
        garbage = self.write("garbage.csr", der + b"\x00")
        tampered = bytearray(der)
        tampered[-5] ^= 0x55
        tampered = self.write("tampered.csr", bytes(tampered))
        p192 = self.write("p192.csr", csr_for(ec.generate_private_key(
            ec.SECP192R1())))
        rsa1k = self.write("rsa1k.csr", csr_for(rsa.generate_private_key(
            public_exponent=65537, key_size=1024)))

        def enroll(csr, serial="BAD-1", model="M", mfr="acme"):
            return ["enroll", "--data", self.data, "--csr", csr,
                    "--manufacturer-id", mfr, "--serial", serial,
                    "--model", model]

        self.assert_refused(enroll(trunc), "not a PKCS#10")
        self.assert_refused(enroll(garbage), "trailing bytes")
        self.assert_refused(enroll(tampered), "signature does not verify")
        self.assert_refused(enroll(p192), "not accepted")
        self.assert_refused(enroll(rsa1k), "RSA-1024")
        self.assert_refused(enroll(good, serial="X" * 65), "serial")
        self.assert_refused(enroll(good, model="bad\x07model"), "model")
        self.assert_refused(enroll(good, serial="a\x1bb"), "serial")
        self.assert_refused(enroll(good, mfr="ghost"), "unknown manufacturer")
        self.assert_refused(enroll(self.path("missing.csr")), "missing.csr")
        self.assert_refused(["revoke", "nope-123", "--data", self.data,
                             "--reason", "keyCompromise"], "unknown device")
        self.assert_refused(["revoke", "bad/id", "--data", self.data,
                             "--reason", "keyCompromise"], "DeviceID")
        self.assert_refused(["show", "x" * 65, "--data", self.data],
                            "DeviceID")
        self.assert_refused(["revoke", "x", "--data", self.data, "--reason",
                             "bogus"], "unknown revocation reason", code=2)
        self.assert_refused(["enroll", "--data", self.data], "required",
                            code=2)
        self.assert_refused(["manufacturer", "add", "--data", self.data,
                             "--id", "acme", "--name", "Dup"],
                            "already exists")
        self.assert_refused(["principal", "add", "--data", self.data,
                             "--role", "root", "--name", "n", "--out",
                             self.path("p")], "role")

    def test_key_of_another_live_device_is_refused(self):
        key = ec.generate_private_key(ec.SECP256R1())
        first = self.enroll(key, "KEY-1")
        csr = self.write("key-reuse.csr", csr_for(key))
        args = ["enroll", "--data", self.data, "--csr", csr, "--serial",
                "KEY-2", "--model", "M", "--manufacturer-id"]
        self.assert_refused(args + ["acme"], "public key is already bound "
                            "to live device " + first["device_id"])
        self.assert_refused(args + ["oui"], "another manufacturer")
        # The same manufacturer, serial and key is still the same device.
        self.assertEqual(self.enroll(key, "KEY-1")["device_id"],
                         first["device_id"])

    # ---- revocation and CRL -------------------------------------------

    def test_revocation_and_crl(self):
        ids = [self.enroll(ec.generate_private_key(ec.SECP256R1()),
                           f"CRL-{i}")["device_id"] for i in range(4)]
        run("revoke", ids[0], "--data", self.data, "--reason",
            "keyCompromise")
        run("suspend", ids[1], "--data", self.data)
        run("suspend", ids[2], "--data", self.data)
        run("reinstate", ids[2], "--data", self.data)
        self.assert_refused(["revoke", ids[0], "--data", self.data,
                             "--reason", "superseded"], "is revoked")
        self.assert_refused(["reinstate", ids[3], "--data", self.data],
                            "is active")
        out = self.path("dev.crl")
        run("crl", "--data", self.data, "--out", out)
        p = subprocess.run(["openssl", "crl", "-inform", "DER", "-in", out,
                            "-CAfile", f"{self.data}/device-chain.pem",
                            "-verify", "-noout"], capture_output=True,
                           text=True)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn("verify OK", p.stderr + p.stdout)
        crl = x509.load_der_x509_crl(slurp(out))
        con = sqlite3.connect(f"{self.data}/registry.db")
        expected = {int(s, 16): (st, r) for s, st, r in con.execute(
            "SELECT c.serial_hex, d.status, d.reason FROM devices d JOIN"
            " certificates c USING (device_id) WHERE d.status <> 'active'")}
        serial_of = dict(con.execute(
            "SELECT device_id, serial_hex FROM certificates WHERE"
            " device_id IS NOT NULL"))
        con.close()
        got = {}
        for e in crl:
            try:
                reason = e.extensions.get_extension_for_class(
                    x509.CRLReason).value.reason.name
            except x509.ExtensionNotFound:
                reason = "unspecified"
            got[e.serial_number] = reason
        self.assertEqual(set(got), set(expected))
        self.assertEqual(got[int(serial_of[ids[0]], 16)], "key_compromise")
        self.assertEqual(got[int(serial_of[ids[1]], 16)], "certificate_hold")
        self.assertNotIn(int(serial_of[ids[2]], 16), got)
        self.assertNotIn(int(serial_of[ids[3]], 16), got)
        number = crl.extensions.get_extension_for_class(x509.CRLNumber)
        self.assertGreaterEqual(number.value.crl_number, 1)
        p = run("audit", "--data", self.data, "--target", ids[0], "--json")
        actions = [a["action"] for a in json.loads(p.stdout)]
        self.assertEqual(actions, ["device.issue", "device.revoke"])

    # ---- principals and backup ----------------------------------------

    def test_principals(self):
        out = self.path("op")
        run("principal", "add", "--data", self.data, "--role", "operator",
            "--name", "op-1", "--out", out)
        p = subprocess.run(["openssl", "pkcs12", "-in", f"{out}/op-1.p12",
                            "-passin", f"file:{out}/op-1.p12.pass",
                            "-nokeys"], capture_output=True, text=True)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(os.stat(f"{out}/op-1.key").st_mode & 0o777, 0o600)
        cert = x509.load_pem_x509_certificate(slurp(f"{out}/op-1.crt"))
        self.assertEqual(list(cert.extensions.get_extension_for_class(
            x509.ExtendedKeyUsage).value), [ExtendedKeyUsageOID.CLIENT_AUTH])
        key = ec.generate_private_key(ec.SECP256R1())
        csr = self.write("m.csr", csr_for(key))
        p = run("principal", "add", "--data", self.data, "--role",
                "manufacturer", "--manufacturer-id", "acme", "--name",
                "acme-bot", "--csr", csr)
        mc = x509.load_pem_x509_certificate(p.stdout.encode())
        self.assertEqual(mc.public_key().public_numbers(),
                         key.public_key().public_numbers())
        run("signer", "add", "--data", self.data, "--name", "op-signer",
            "--out", self.path("sig"))
        with open(self.path("sig/op-signer.crt"), "rb") as f:
            t = cert_text(f.read())
        self.assertEqual(ext(t, "X509v3 Extended Key Usage")[1], [EKU_SIGNER])
        p = subprocess.run(["openssl", "verify", "-x509_strict", "-CAfile",
                            f"{self.data}/root-ca.crt", "-untrusted",
                            f"{self.data}/infra-ca.crt",
                            self.path("sig/op-signer.crt"),
                            f"{out}/op-1.crt"], capture_output=True, text=True)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        run("principal", "disable", "op-1", "--data", self.data)
        lst = json.loads(run("principal", "list", "--data", self.data,
                             "--json").stdout)
        by = {x["name"]: x for x in lst}
        self.assertEqual(by["op-1"]["status"], "disabled")
        self.assertEqual(by["acme-bot"]["manufacturer_id"], "acme")
        self.assertEqual(by["op-signer"]["role"], "signer")
        self.assertEqual(by["admin"]["role"], "admin")
        # One encoder with the HTTP API: its key names and value forms.
        self.assertIsNone(by["admin"]["manufacturer_id"])
        self.assertRegex(by["op-1"]["certificate_sha256"], "^[0-9a-f]{64}$")
        self.assertRegex(by["op-1"]["certificate_serial"], "^[0-9a-f]+$")
        self.assertIs(by["op-1"]["certificate_revoked"], False)
        self.assertRegex(by["op-1"]["not_after"],
                         r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
        self.assertRegex(by["op-1"]["created_at"],
                         r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
        self.assertNotIn("cert_sha256", by["op-1"])
        self.assert_refused(["principal", "disable", "op-1", "--data",
                             self.data], "already disabled")

    def test_backup_passes_integrity_check(self):
        out = self.path("backup.db")
        run("backup", "--data", self.data, "--out", out)
        con = sqlite3.connect(out)
        self.assertEqual(con.execute("PRAGMA integrity_check").fetchone(),
                         ("ok",))
        self.assertGreaterEqual(con.execute(
            "SELECT count(*) FROM manufacturers").fetchone()[0], 2)
        con.close()
        p = run("backup", "--data", self.data, "--out", out, ok=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("File exists", p.stderr)

    def test_registry_wal_and_backup_are_owner_only(self):
        old = os.umask(0o022)
        try:
            d = self.path("modes")
            run("init", "--example-oids", "--data", d, "--plain-keys")
            con = sqlite3.connect(f"{d}/registry.db")
            con.execute("SELECT count(*) FROM devices").fetchone()
            for name in ("registry.db", "registry.db-wal", "registry.db-shm"):
                self.assertEqual(os.stat(f"{d}/{name}").st_mode & 0o777,
                                 0o600, name)
            con.close()
            out = self.path("modes-backup.db")
            run("backup", "--data", d, "--out", out)
            self.assertEqual(os.stat(out).st_mode & 0o777, 0o600)
        finally:
            os.umask(old)

    # ---- scale ---------------------------------------------------------

    def test_batch_enrollment_at_scale(self):
        n = 1000 if SANITIZE else 10000
        d = self.path("scale")
        run("init", "--example-oids", "--data", d, "--plain-keys")
        run("manufacturer", "add", "--data", d, "--id", "bulk", "--name",
            "Bulk")
        # One key per device: a key live on another device is refused.
        csrs = [self.write(f"bulk{i}.csr", csr_for(
                ec.generate_private_key(ec.SECP256R1()))) for i in range(n)]
        lines = [f"{csrs[i]}\tbulk\tB{i:06d}\tBulk-M\n"
                 for i in range(n)]
        batch = self.write("batch.tsv", "".join(lines).encode())
        p = run("enroll", "--data", d, "--batch", batch)
        out = [ln.split("\t") for ln in p.stdout.splitlines()]
        self.assertEqual(len(out), n)
        self.assertEqual(len({o[0] for o in out}), n)
        con = sqlite3.connect(f"{d}/registry.db")
        self.assertEqual(con.execute("PRAGMA integrity_check").fetchone(),
                         ("ok",))
        self.assertEqual(con.execute(
            "SELECT count(*), count(DISTINCT device_id) FROM devices"
        ).fetchone(), (n, n))
        self.assertEqual(con.execute(
            "SELECT count(DISTINCT serial_hex) FROM certificates WHERE"
            " issuer = 'device'").fetchone()[0], n)
        con.close()


class PublicUrlTest(unittest.TestCase):
    """init --public-url, then `config set public-url`: certificates issued
    afterwards carry the new CDP/AIA/certificate URL; a bad URL changes
    nothing."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="provca-url-")
        self.data = os.path.join(self.tmp, "data")
        self.cfg = os.path.join(self.data, "config.json")
        run("init", "--example-oids", "--data", self.data, "--plain-keys", "--hostname", "ca-one.example",
            "--public-url", "https://ca-one.example:9443")
        run("manufacturer", "add", "--data", self.data, "--id", "acme",
            "--name", "Acme Devices")

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def issue(self, serial):
        csr = os.path.join(self.tmp, serial + ".csr")
        with open(csr, "wb") as f:
            f.write(csr_for(ec.generate_private_key(ec.SECP256R1())))
        r = json.loads(run("enroll", "--data", self.data, "--csr", csr,
                           "--manufacturer-id", "acme", "--serial", serial,
                           "--model", "m", "--json").stdout)
        t = cert_text(r["certificate"])
        return (r["cert_url"], r["device_id"],
                ext(t, "X509v3 CRL Distribution Points")[1],
                ext(t, "Authority Information Access")[1])

    def urls(self, base, did):
        return (f"{base}/devices/{did}",
                ["Full Name:", f"URI:{base}/crl/device-ca.crl"],
                ["OCSP - URI:" + base + "/ocsp",
                 "CA Issuers - URI:" + base + "/ca/device-ca.crt"])

    def test_issue_change_issue(self):
        one = "https://ca-one.example:9443"
        two = "https://provca.example.net"
        url1, did1, cdp1, aia1 = self.issue("SN-1")
        self.assertEqual((url1, cdp1, aia1), self.urls(one, did1))
        p = run("config", "--data", self.data, "set", "public-url", two)
        self.assertIn(two, p.stdout)
        with open(self.cfg) as f:
            cfg = json.load(f)
        self.assertEqual(cfg["public_base_url"], two)
        self.assertEqual(cfg["org"], "ProvCA")  # other settings kept
        shown = json.loads(run("config", "--data", self.data, "show").stdout)
        self.assertEqual(shown["public_base_url"], two)
        url2, did2, cdp2, aia2 = self.issue("SN-2")
        self.assertEqual((url2, cdp2, aia2), self.urls(two, did2))
        # The first device keeps the certificate it was issued.
        first = json.loads(run("show", did1, "--data", self.data,
                               "--json").stdout)
        self.assertIn(f"URI:{one}/crl/device-ca.crl",
                      cert_text(first["certificate"]))
        audit = json.loads(run("audit", "--data", self.data, "--action",
                               "config set", "--json").stdout)
        self.assertEqual(len(audit), 1)
        self.assertEqual(audit[0]["details"], {"old": one, "new": two})

    def test_bad_url_changes_nothing(self):
        before = slurp(self.cfg)
        names = sorted(os.listdir(self.data))
        for bad in ("http://ca.example", "https://ca.example/",
                    "https://", "https://a b", "https://" + "a" * 300):
            p = run("config", "--data", self.data, "set", "public-url", bad,
                    ok=False)
            self.assertEqual(p.returncode, 1, bad)
            self.assertIn("public-url not changed: public URL must be "
                          "https://host[:port]", p.stderr)
            self.assertEqual(slurp(self.cfg), before)
        self.assertEqual(sorted(os.listdir(self.data)), names)
        p = run("config", "--data", os.path.join(self.tmp, "nope"), "set",
                "public-url", "https://x.example", ok=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("cannot read config", p.stderr)
        p = run("config", "--data", self.data, "set", "org", "x", ok=False)
        self.assertEqual(p.returncode, 2)

    def test_init_refuses_a_bad_public_url(self):
        d = os.path.join(self.tmp, "other")
        p = run("init", "--example-oids", "--data", d, "--plain-keys", "--public-url", "https://x.example/",
                ok=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("public base URL must be https://host[:port]", p.stderr)
        self.assertFalse(os.path.exists(d))


class BannerTest(unittest.TestCase):
    """The lines `ca-server serve` prints (what `make run` shows) work when
    pasted: a manufacturer and its principal, one enrollment over HTTPS,
    and the administrator's lookup answering the device's chain."""

    def test_pasted_lines_enroll_and_look_up_a_device(self):
        tmp = tempfile.mkdtemp(prefix="provca-banner-")
        data = os.path.join(tmp, "data")
        srv = None
        try:
            run("init", "--example-oids", "--data", data, "--plain-keys", "--hostname", "localhost")
            srv = subprocess.Popen([BIN, "serve", "--data", data, "--listen",
                                    "127.0.0.1:0"], stdout=subprocess.PIPE,
                                   stderr=subprocess.DEVNULL, text=True)
            lines = []
            for ln in srv.stdout:
                lines.append(ln.rstrip("\n"))
                if "/devices/$ID" in ln:
                    break
            self.assertTrue(lines and lines[0].startswith("listening on"),
                            lines)
            start = next(i for i, ln in enumerate(lines)
                         if ln.startswith("try it:"))
            script = "\n".join(ln[2:] for ln in lines[start:]
                               if ln.startswith("  "))
            self.assertEqual(len(script.splitlines()), 6, script)
            p = subprocess.run(["bash", "-c", script], cwd=tmp, text=True,
                               capture_output=True, timeout=120)
            self.assertEqual(p.returncode, 0, p.stderr)
            mfr = [d for d in os.listdir(data) if d.startswith("try-")]
            self.assertEqual(len(mfr), 1)
            with open(os.path.join(data, mfr[0], "device.json")) as f:
                dev = json.load(f)
            did = dev["device_id"]
            self.assertTrue(did.startswith(mfr[0][4:] + "-"), did)
            pems = [x509.load_pem_x509_certificate(b.encode()) for b in
                    re.findall(r"^-----BEGIN CERTIFICATE-----$.*?"
                               r"^-----END CERTIFICATE-----$", p.stdout,
                               re.S | re.M)]
            root = x509.load_pem_x509_certificate(
                slurp(os.path.join(data, "root-ca.crt")))
            self.assertEqual(len(pems), 3)
            self.assertEqual(pems[0].subject.get_attributes_for_oid(
                NameOID.COMMON_NAME)[0].value, did)
            self.assertEqual(pems[0].issuer, pems[1].subject)
            self.assertEqual(pems[2], root)
            self.assertEqual(pems[0].public_bytes(serialization.Encoding.PEM)
                             .decode(), dev["certificate"])
        finally:
            if srv is not None:
                srv.terminate()
                srv.wait(timeout=30)
                srv.stdout.close()
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    unittest.main()

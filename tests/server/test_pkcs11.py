"""Key custody on a PKCS#11 token (SoftHSM2 in a temporary folder).

Keys are generated IN the token (pkcs11-tool --keypairgen: sensitive, never
extractable); `ca-server init` names them by RFC 7512 URI; the Device CA, the
Infrastructure CA and the TLS server then sign from the token: a TLS
handshake (curl) with the token's TLS key, enrollment over HTTPS (the fast
issuance path) and on the command line, revocation, the Device CA's CRL
(`openssl crl -verify`, `openssl verify -crl_check`), an OCSP answer
(`openssl ocsp` verifies it), and a full provisioning round in which
corehook's signer key is in the token and the device checks the signature.
No private-key file in the data folder matches a token key; the Root key is
offline beside it; `serve` logs each key's custody without the PIN, and
refuses to start while an unencrypted Root key sits in the data folder."""
import concurrent.futures
import json
import os
import shutil
import subprocess
import sys
import unittest

from cryptography import x509
from cryptography.hazmat.primitives import serialization

SRC = os.environ.get("PROVCA_SRC", os.path.abspath(
    os.path.join(os.path.dirname(__file__), "..", "..")))
sys.path.insert(0, os.path.join(SRC, "tests", "e2e"))
import harness  # noqa: E402

MODULE = "/usr/lib/softhsm/libsofthsm2.so"
PIN = "314159"
KEYS = {"device-ca": "01", "infra-ca": "02", "tls": "03", "signer": "04",
        "cmp": "06"}


def tool(*args):
    return subprocess.run(["pkcs11-tool", "--module", MODULE,
                           "--token-label", "provca-test", "--login",
                           "--pin", PIN, *args], capture_output=True,
                          text=True, timeout=120, check=True).stdout


def uri(label):
    return "pkcs11:token=provca-test;object=%s;type=private" % label


def token_pub(label):
    der = subprocess.run(["pkcs11-tool", "--module", MODULE, "--token-label",
                          "provca-test", "--read-object", "--type", "pubkey",
                          "--label", label], capture_output=True,
                         timeout=60, check=True).stdout
    return serialization.load_der_public_key(der)


def pubbytes(k):
    return k.public_bytes(serialization.Encoding.DER,
                          serialization.PublicFormat.SubjectPublicKeyInfo)


class TokenCA(harness.CA):
    """harness.CA whose Device CA, Infrastructure CA, TLS and provisioning
    signer keys live in the token."""

    def __init__(self, tmp, pinfile, name="ca"):
        self.tmp = tmp
        self.dir = os.path.join(tmp, name)
        self.data = os.path.join(self.dir, "data")
        os.makedirs(self.dir)
        self.init_out = harness.run(
            harness.prog("ca-server"), "init", "--example-oids", "--data", self.data, "--plain-keys",
            "--hostname", "localhost", "--hostname", "127.0.0.1",
            "--device-key", uri("device-ca"), "--infra-key", uri("infra-ca"),
            "--tls-key", uri("tls"), "--cmp-key", uri("cmp"),
            "--pkcs11-module", MODULE,
            "--pkcs11-pin-file", pinfile,
            # Under tests/pg/pg_run.py (pg_server_pkcs11): on PostgreSQL.
            *harness.pgdb.init_args()[1]).stdout
        self.root = os.path.join(self.data, "root-ca.crt")
        self.infra = os.path.join(self.data, "infra-ca.crt")
        self.admin = (os.path.join(self.data, "admin", "admin.crt"),
                      os.path.join(self.data, "admin", "admin.key"))
        harness.run(harness.prog("ca-server"), "manufacturer", "add",
                    "--data", self.data, "--id", "acme", "--name", "Acme")
        self.mfr = self.principal("acme-factory", "manufacturer", "acme")
        self.operator = self.principal("op1", "operator")
        self.signer = self.token_signer()
        self.server = None
        self.port = None

    def token_signer(self):
        out = os.path.join(self.dir, "p-op1-signer")
        os.makedirs(out)
        csr = os.path.join(out, "op1-signer.csr")
        subprocess.run(["openssl", "req", "-new", "-engine", "pkcs11",
                        "-keyform", "engine", "-key", uri("signer") +
                        ";pin-value=" + PIN,  # openssl's CLI, test token
                        "-subj", "/CN=op1-signer", "-out", csr],
                       check=True, capture_output=True, timeout=60)
        cert = harness.run(harness.prog("ca-server"), "signer", "add",
                           "--data", self.data, "--name", "op1-signer",
                           "--csr", csr).stdout
        crt = os.path.join(out, "op1-signer.crt")
        with open(crt, "w") as f:
            f.write(cert)
        with open(os.path.join(out, "op1-signer-chain.pem"), "w") as f:
            for p in (self.infra, self.root):
                with open(p) as g:
                    f.write(g.read())
        return (crt, uri("signer"))


class TokenCore(harness.Core):
    """harness.Core whose provisioning signer key is the token's."""

    def __init__(self, tmp, name, ca, pinfile):
        self.dir = os.path.join(tmp, name)
        os.makedirs(self.dir)
        self.config = os.path.join(self.dir, "corehook.json")
        harness.run(harness.prog("corehook"), "init", "--config", self.config,
                    "--ca-url", ca.url, "--client-cert", ca.operator[0],
                    "--client-key", ca.operator[1], "--ca-root", ca.root,
                    "--signer-cert", ca.signer[0], "--signer-chain",
                    ca.signer[0][:-len(".crt")] + "-chain.pem",
                    "--signer-key", ca.signer[1])
        with open(self.config) as f:
            cfg = json.load(f)
        cfg["listen"] = {"nas_udp": "127.0.0.1:0", "http": "127.0.0.1:0"}
        cfg["signer"]["pkcs11_module"] = MODULE
        cfg["signer"]["pkcs11_pin_file"] = pinfile
        with open(self.config, "w") as f:
            json.dump(cfg, f, indent=1)
        self.proc = harness.Proc(
            [harness.prog("corehook"), "serve", "--config", self.config],
            r"nas udp 127\.0\.0\.1:(\d+)", os.path.join(self.dir,
                                                        "corehook.log"))
        self.port = self.proc.port
        self.address = "127.0.0.1:%d" % self.port


class Pkcs11Test(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        harness.require_programs()
        for need in ("softhsm2-util", "pkcs11-tool"):
            if shutil.which(need) is None:
                raise AssertionError(need + " missing: run scripts/setup.sh "
                                     "test (softhsm2, opensc)")
        if not os.path.exists(MODULE):
            raise AssertionError(MODULE + " missing (softhsm2)")
        cls.world = harness.World()
        cls.tmp = cls.world.tmp
        tokdir = os.path.join(cls.tmp, "tokens")
        os.makedirs(tokdir)
        conf = os.path.join(cls.tmp, "softhsm2.conf")
        with open(conf, "w") as f:
            f.write("directories.tokendir = %s\nobjectstore.backend = file\n"
                    "log.level = ERROR\n" % tokdir)
        os.environ["SOFTHSM2_CONF"] = conf
        subprocess.run(["softhsm2-util", "--init-token", "--free", "--label",
                        "provca-test", "--so-pin", "27182818", "--pin", PIN],
                       check=True, capture_output=True, timeout=60)
        for label, kid in KEYS.items():
            tool("--keypairgen", "--key-type", "EC:prime256v1", "--id", kid,
                 "--label", label, "--sensitive")
        cls.pinfile = os.path.join(cls.tmp, "pin")
        fd = os.open(cls.pinfile, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.write(fd, (PIN + "\n").encode())
        os.close(fd)
        cls.ca = TokenCA(cls.tmp, cls.pinfile)
        cls.world.stoppers.append(cls.ca.stop)
        cls.ca.start()

    @classmethod
    def tearDownClass(cls):
        cls.world.close()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def path(self, name):
        return os.path.join(self.tmp, name)

    def openssl(self, *args):
        p = subprocess.run(["openssl", *args], capture_output=True, text=True,
                           timeout=60)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        return p.stdout + p.stderr

    def test_keys_stay_in_the_token(self):
        listing = tool("--list-objects", "--type", "privkey")
        blocks = listing.split("Private Key Object")[1:]
        self.assertEqual(len(blocks), len(KEYS))
        for b in blocks:
            self.assertIn("sensitive", b)
            self.assertIn("never extractable", b)
        # The certificates carry the token's public keys.
        d = self.ca.data
        for label, f in (("device-ca", "device-ca.crt"),
                         ("infra-ca", "infra-ca.crt"), ("tls", "server.crt"),
                         ("cmp", "cmp-signer.crt"),
                         ("signer", "p-op1-signer/op1-signer.crt")):
            base = d if label != "signer" else self.ca.dir
            with open(os.path.join(base, f), "rb") as fh:
                cert = x509.load_pem_x509_certificate(fh.read())
            self.assertEqual(pubbytes(cert.public_key()),
                             pubbytes(token_pub(label)), label)
        # No private key in the data folder is one of the token's.
        token = {pubbytes(token_pub(k)) for k in KEYS}
        found = 0
        for top, _, files in os.walk(d):
            for n in files:
                with open(os.path.join(top, n), "rb") as fh:
                    data = fh.read()
                if b"PRIVATE KEY" not in data:
                    continue
                found += 1
                k = serialization.load_pem_private_key(data, None)
                self.assertNotIn(pubbytes(k.public_key()), token, n)
        self.assertEqual(found, 1)  # admin/admin.key, the admin's own
        for n in ("device-ca.key", "infra-ca.key", "server.key", "cmp-signer.key",
                  "root-ca.key"):
            self.assertFalse(os.path.exists(os.path.join(d, n)), n)
        with open(os.path.join(d, "config.json")) as f:
            cfg = json.load(f)
        self.assertEqual(cfg["device_ca_key"], uri("device-ca"))
        self.assertEqual(cfg["cmp_signer_key"], uri("cmp"))
        self.assertNotIn(PIN, json.dumps(cfg))
        # The Root is offline, beside the data folder.
        self.assertTrue(os.path.exists(d + "-root/root-ca.key"))
        self.assertIn(d + "-root/root-ca.key", self.ca.init_out)

    def test_serve_logs_custody_without_pin(self):
        log = self.ca.server.stderr()
        self.assertIn("key custody: device-ca pkcs11 " + uri("device-ca"),
                      log)
        self.assertIn("infra-ca pkcs11 " + uri("infra-ca"), log)
        self.assertIn("tls pkcs11 " + uri("tls"), log)
        self.assertIn("cmp-signer pkcs11 " + uri("cmp"), log)
        self.assertNotIn(PIN, log)

    def test_tls_handshake_with_token_key(self):
        p = subprocess.run(["curl", "-sS", "--cacert", self.ca.root, "-o",
                            "/dev/null", "-w", "%{http_code}",
                            self.ca.url + "/ca/root-ca.crt"],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(p.stdout, "200", p.stderr)
        pem = subprocess.run(
            ["openssl", "s_client", "-connect", "127.0.0.1:%d" % self.ca.port,
             "-CAfile", self.ca.root, "-verify_return_error"],
            input="", capture_output=True, text=True, timeout=60).stdout
        start = pem.index("-----BEGIN CERTIFICATE-----")
        end = pem.index("-----END CERTIFICATE-----") + 25
        leaf = x509.load_pem_x509_certificate(pem[start:end].encode())
        self.assertEqual(pubbytes(leaf.public_key()),
                         pubbytes(token_pub("tls")))

    def test_cmp_answer_signed_in_token(self):
        # A genm's genp is signed by the CMP signer, whose key is the
        # token's (its certificate carries the token's public key, above):
        # openssl cmp verifies it against the Root alone.
        crt, key = self.ca.admin
        p = subprocess.run(
            ["openssl", "cmp", "-cmd", "genm", "-server", "127.0.0.1:%d" % self.ca.port,
             "-path", ".well-known/cmp", "-tls_used", "-tls_cert", crt, "-tls_key", key,
             "-tls_trusted", self.ca.root, "-tls_host", "127.0.0.1", "-cert", crt, "-key", key,
             "-trusted", self.ca.root],
            capture_output=True, text=True, timeout=60)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIn("received GENP", p.stdout + p.stderr)

    def enroll_http(self, serial):
        dev = harness.Device(self.tmp, serial, self.ca, serial=serial)
        info = dev.enroll()
        return dev, info

    def test_enroll_revoke_crl_ocsp(self):
        dev, info = self.enroll_http("P11-1")
        leaf = os.path.join(dev.dir, "device.crt")
        self.assertTrue(os.path.exists(leaf), os.listdir(dev.dir))
        chain_args = ["-CAfile", self.ca.root, "-untrusted",
                      os.path.join(self.ca.data, "device-ca.crt")]
        self.assertIn(": OK", self.openssl("verify", "-x509_strict",
                                           *chain_args, leaf))
        # OCSP good, then revoked, each answer verified by openssl.
        for want in ("good", "revoked"):
            if want == "revoked":
                self.ca.revoke(info["device_id"])
            req, resp = self.path("o-%s.req" % want), self.path(
                "o-%s.der" % want)
            self.openssl("ocsp", "-issuer", os.path.join(
                self.ca.data, "device-ca.crt"), "-cert", leaf, "-reqout",
                req, "-no_nonce")
            subprocess.run(["curl", "-sS", "--cacert", self.ca.root,
                            "--data-binary", "@" + req, "-H",
                            "Content-Type: application/ocsp-request", "-o",
                            resp, self.ca.url + "/ocsp"], check=True,
                           timeout=60)
            out = self.openssl("ocsp", "-respin", resp, "-issuer",
                               os.path.join(self.ca.data, "device-ca.crt"),
                               "-cert", leaf, "-CAfile", self.ca.root,
                               "-VAfile", os.path.join(self.ca.data,
                                                       "device-ca.crt"))
            self.assertIn("Response verify OK", out)
            self.assertIn(": " + want, out)
        # The Device CA's CRL, signed in the token, lists it.
        der = self.path("dev.crl")
        subprocess.run(["curl", "-sS", "--cacert", self.ca.root, "-o", der,
                        self.ca.url + "/crl/device-ca.crl"], check=True,
                       timeout=60)
        pem = self.path("dev-crl.pem")
        out = self.openssl("crl", "-inform", "DER", "-in", der, "-out", pem,
                           "-CAfile", os.path.join(self.ca.data,
                                                   "device-ca.crt"),
                           "-verify")
        self.assertIn("verify OK", out)
        with open(leaf, "rb") as f:
            serial = x509.load_pem_x509_certificate(f.read()).serial_number
        with open(der, "rb") as f:
            crl = x509.load_der_x509_crl(f.read())
        self.assertIsNotNone(
            crl.get_revoked_certificate_by_serial_number(serial))
        bundle = self.path("crl-bundle.pem")
        with open(bundle, "w") as f:
            for p in (self.ca.root, os.path.join(self.ca.data,
                                                 "device-ca.crt"), pem):
                with open(p) as g:
                    f.write(g.read())
        p = subprocess.run(["openssl", "verify", "-crl_check", "-CAfile",
                            bundle, leaf], capture_output=True, text=True)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("certificate revoked", p.stdout + p.stderr)

    def test_cli_enroll_signs_in_token(self):
        key = subprocess.run(["openssl", "req", "-new", "-newkey", "ec",
                              "-pkeyopt", "ec_paramgen_curve:P-256",
                              "-nodes", "-keyout", self.path("cli.key"),
                              "-subj", "/CN=x", "-outform", "DER", "-out",
                              self.path("cli.csr")], capture_output=True,
                             timeout=60)
        self.assertEqual(key.returncode, 0, key.stderr)
        doc = json.loads(harness.run(
            harness.prog("ca-server"), "enroll", "--data", self.ca.data,
            "--csr", self.path("cli.csr"), "--manufacturer-id", "acme",
            "--serial", "P11-CLI", "--model", "M1", "--json").stdout)
        leaf = self.path("cli.pem")
        with open(leaf, "w") as f:
            f.write(doc["certificate"])
        self.assertIn(": OK", self.openssl(
            "verify", "-x509_strict", "-CAfile", self.ca.root, "-untrusted",
            os.path.join(self.ca.data, "device-ca.crt"), leaf))

    def test_concurrent_enrollments_sign_in_token(self):
        """Eight clients at once: the per-thread signers of the fast path
        share the one token key; every certificate verifies."""
        csrs = []
        for i in range(24):
            k = self.path("cc%d.key" % i)
            p = subprocess.run(["openssl", "req", "-new", "-newkey", "ec",
                                "-pkeyopt", "ec_paramgen_curve:P-256",
                                "-nodes", "-keyout", k, "-subj", "/CN=x"],
                               capture_output=True, text=True, timeout=60)
            self.assertEqual(p.returncode, 0, p.stderr)
            csrs.append(p.stdout)
        results = [None] * len(csrs)

        def one(i):
            results[i] = self.ca.api("POST", "/api/v1/devices", {
                "csr": csrs[i], "serial": "CC-%d" % i, "model": "M",
                "manufacturer_id": "acme"}, ident=self.ca.mfr)

        with concurrent.futures.ThreadPoolExecutor(8) as ex:
            list(ex.map(one, range(len(csrs))))
        for i, (st, body) in enumerate(results):
            self.assertEqual(st, 201, body)
            leaf = self.path("cc%d.pem" % i)
            with open(leaf, "w") as f:
                f.write(json.loads(body)["certificate"])
            self.assertIn(": OK", self.openssl(
                "verify", "-x509_strict", "-CAfile", self.ca.root,
                "-untrusted", os.path.join(self.ca.data, "device-ca.crt"),
                leaf))

    def test_provisioning_with_token_signer(self):
        core = TokenCore(self.tmp, "core-p11", self.ca, self.pinfile)
        self.world.stoppers.append(core.stop)
        dev, _ = self.enroll_http("P11-PROV")
        rc, out = dev.attach(core.address)
        self.assertEqual(rc, 0, (out, core.log()))
        self.assertTrue(dev.has_credentials())
        self.assertIn("key custody pkcs11 " + uri("signer"), core.log())
        self.assertNotIn(PIN, core.log())

    def test_zz_rollover_to_a_device_ca_key_in_the_token(self):
        """Rollover (issue 16 item 3) with the new Device CA's key generated
        in the token: `ca add --key pkcs11:...` keeps the URI (no key file),
        the new CA issues, its CRL is signed in the token. Runs last: the
        issuing CA changes."""
        tool("--keypairgen", "--key-type", "EC:prime256v1", "--id", "05",
             "--label", "device-ca-2", "--sensitive")
        csr, crt = self.path("dca2.csr"), self.path("dca2.crt")
        self.openssl("req", "-new", "-engine", "pkcs11", "-keyform", "engine",
                     "-key", uri("device-ca-2") + ";pin-value=" + PIN,
                     "-subj", "/CN=dca2", "-out", csr)
        rootkey = os.path.join(os.path.dirname(self.ca.data), "data-root",
                               "root-ca.key")
        ca_server = harness.prog("ca-server")
        harness.run(ca_server, "root", "certify-intermediate", "--data",
                    self.ca.data, "--root-key", rootkey, "--kind", "device",
                    "--csr", csr, "--out", crt, "--cn", "Token Device CA 2")
        before = sorted(os.listdir(self.ca.data))
        out = harness.run(ca_server, "ca", "add", "--data", self.ca.data,
                          "--cert", crt, "--key", uri("device-ca-2")).stdout
        new_id = out.split()[2]
        self.assertEqual(sorted(os.listdir(self.ca.data)), before)
        harness.run(ca_server, "ca", "activate", new_id, "--data",
                    self.ca.data)
        rows = json.loads(harness.run(ca_server, "ca", "list", "--data",
                                      self.ca.data, "--json").stdout)
        self.assertEqual([(r["role"], r["state"]) for r in rows],
                         [("device", "active"), ("infra", "issuing"),
                          ("device", "issuing")])
        port = self.ca.port
        self.ca.stop()
        self.ca.start(port=port)
        # serve names the issuing Device CA's key: the new one's URI.
        self.assertIn("key custody: device-ca pkcs11 " + uri("device-ca-2"),
                      self.ca.server.stderr())
        with open(crt, "rb") as f:
            new_ca = x509.load_pem_x509_certificate(f.read())
        dev, _ = self.enroll_http("SN-TOKEN-ROLL")
        leaf = os.path.join(dev.dir, "device.crt")
        with open(leaf, "rb") as f:
            self.assertEqual(x509.load_pem_x509_certificate(f.read()).issuer,
                             new_ca.subject)
        self.assertIn(": OK", self.openssl("verify", "-x509_strict",
                                           "-CAfile", self.ca.root,
                                           "-untrusted", crt, leaf))
        st, body = self.ca.api("GET", "/crl/device-ca-%s.crl" % new_id)
        self.assertEqual(st, 200)
        crl = x509.load_der_x509_crl(body)
        self.assertTrue(crl.is_signature_valid(token_pub("device-ca-2")))

    def test_serve_never_needs_the_root_folder(self):
        d = self.ca.data
        os.rename(d + "-root", d + "-root.away")
        try:
            srv = harness.Proc([harness.prog("ca-server"), "serve", "--data",
                                d, "--listen", "127.0.0.1:0"],
                               r"listening on https://127\.0\.0\.1:(\d+)",
                               self.path("serve-noroot.log"))
            try:
                p = subprocess.run(
                    ["curl", "-sS", "--cacert", self.ca.root, "-o",
                     "/dev/null", "-w", "%{http_code}",
                     "https://127.0.0.1:%d/ca/root-ca.crt" % srv.port],
                    capture_output=True, text=True, timeout=60)
                self.assertEqual(p.stdout, "200", p.stderr)
            finally:
                srv.stop()
        finally:
            os.rename(d + "-root.away", d + "-root")

    def test_serve_refuses_plain_root_key_in_data(self):
        d = self.ca.data
        shutil.copy(d + "-root/root-ca.key", os.path.join(d, "root-ca.key"))
        try:
            p = subprocess.run([harness.prog("ca-server"), "serve", "--data",
                                d, "--listen", "127.0.0.1:0"],
                               capture_output=True, text=True, timeout=60)
        finally:
            os.unlink(os.path.join(d, "root-ca.key"))
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("unencrypted Root key", p.stderr)


if __name__ == "__main__":
    unittest.main()

"""corehook as a UDM: Nudm_UEAU over HTTP/2 (h2c, prior knowledge) driven by
an AUSF stand-in (Python's h2), replaying the request shapes a real Open5GS
AUSF sent (tests/corehook/fixtures/sbi/observed-ausf-to-udm.jsonl). Every
vector is checked by the device side (aka_tool's USIM functions, and K_SEAF
by an independent Python KDF): AUTN verifies, RES* == XRES*, K_AUSF and
K_SEAF match. Also: resynchronisation, unknown SUPI, serving network and
caller refusals, problem+json causes, 100 concurrent streams on one
connection, and a stand-in NRF that records NFRegister, heartbeats (with
one 404 forcing a re-registration) and the DELETE at SIGTERM."""
import datetime
import hashlib
import hmac
import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import threading
import time
import unittest
import urllib.request

import h2.config
import h2.connection
import h2.events
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, x25519
from cryptography.x509.oid import NameOID

BIN = os.environ.get("PROVCA_BIN", os.path.join(os.getcwd(), "bin"))
COREHOOK = os.path.join(BIN, "corehook")
SEED = os.path.join(BIN, "ch_sbi_seed")
AKA_TOOL = os.path.join(BIN, "aka_tool")
UECLIENT = os.path.join(BIN, "ueclient")
HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.join(HERE, "fixtures", "sbi", "observed-ausf-to-udm.jsonl")
SNN = "5G:mnc001.mcc001.3gppnetwork.org"
AUSF_ID = "cb027826-f271-41f1-9f0d-91e2997f4d29"
KI = "465b5ce8b199b49faa5f0a2ee238a6bc"
OP = "cdc202d5123e20f62b6d676ac72cb318"


def run(*args, check=True):
    p = subprocess.run(list(args), capture_output=True, text=True, timeout=120)
    if check and p.returncode != 0:
        raise AssertionError("%s: %d %s%s" % (" ".join(args), p.returncode, p.stdout, p.stderr))
    return p


def usim(opc, rand, autn, sqn_ms="000000000000"):
    """The device side: aka_tool usim (common/aka USIM functions)."""
    p = run(AKA_TOOL, "usim", KI, opc, rand, autn, SNN, sqn_ms, check=False)
    return dict(line.split(": ", 1) for line in p.stdout.splitlines())


def kseaf_ref(kausf_hex):
    """K_SEAF = KDF(K_AUSF, 0x6C, SNN) (TS 33.501 A.6), independently."""
    snn = SNN.encode()
    s = b"\x6c" + snn + len(snn).to_bytes(2, "big")
    return hmac.new(bytes.fromhex(kausf_hex), s, hashlib.sha256).hexdigest()


class H2Client:
    """An HTTP/2 client with prior knowledge, one connection, many streams."""

    def __init__(self, port, source="127.0.0.1", tls=None):
        self.port = port
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=30,
                                             source_address=(source, 0))
        if tls is not None:
            self.sock = tls.wrap_socket(self.sock, server_hostname="127.0.0.1")
        self.conn = h2.connection.H2Connection(
            h2.config.H2Configuration(client_side=True, header_encoding="utf-8"))
        self.conn.initiate_connection()
        self.sock.sendall(self.conn.data_to_send())
        self.results = {}

    def close(self):
        self.sock.close()

    def send(self, method, path, body=None, ctype="application/json"):
        sid = self.conn.get_next_available_stream_id()
        data = None
        if body is not None:
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
        hdrs = [(":method", method), (":scheme", "http"),
                (":authority", "127.0.0.1:%d" % self.port), (":path", path),
                ("accept", "application/json,application/problem+json"),
                ("user-agent", "AUSF"), ("3gpp-sbi-max-rsp-time", "10000")]
        if data is not None:
            hdrs += [("content-type", ctype), ("content-length", str(len(data)))]
        self.conn.send_headers(sid, hdrs, end_stream=data is None)
        if data is not None:
            for i in range(0, len(data), 16384):
                self.conn.send_data(sid, data[i:i + 16384],
                                    end_stream=i + 16384 >= len(data))
            if not data:
                self.conn.end_stream(sid)
        self.sock.sendall(self.conn.data_to_send())
        self.results[sid] = {"status": None, "headers": {}, "body": b"", "done": False}
        return sid

    def wait(self, sids):
        while not all(self.results[s]["done"] for s in sids):
            data = self.sock.recv(65536)
            if not data:
                raise AssertionError("connection closed")
            for ev in self.conn.receive_data(data):
                r = self.results.get(getattr(ev, "stream_id", None))
                if isinstance(ev, h2.events.ResponseReceived):
                    r["headers"] = dict(ev.headers)
                    r["status"] = int(r["headers"][":status"])
                elif isinstance(ev, h2.events.DataReceived):
                    r["body"] += ev.data
                    self.conn.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
                elif isinstance(ev, (h2.events.StreamEnded, h2.events.StreamReset)):
                    r["done"] = True
            self.sock.sendall(self.conn.data_to_send())
        return [self.results.pop(s) for s in sids]

    def request(self, method, path, body=None, ctype="application/json"):
        r = self.wait([self.send(method, path, body, ctype)])[0]
        if r["body"]:
            r["json"] = json.loads(r["body"])
        return r


class StandInNrf(threading.Thread):
    """An NRF on loopback (h2 server side) recording what the UDM sends;
    the second heartbeat is answered 404 (the NRF forgot the UDM)."""

    def __init__(self, tls=None):
        """tls: None (h2c), or a list of server SSLContexts used for one
        connection each, the last one for every later connection."""
        super().__init__(daemon=True)
        self.tls = tls
        self.handshakes = []            # (context index, error or peer CN)
        self.lsock = socket.socket()
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(8)
        self.port = self.lsock.getsockname()[1]
        self.records = []
        self.patches = 0
        self.lock = threading.Lock()

    def run(self):
        while True:
            try:
                s, _ = self.lsock.accept()
            except OSError:
                return
            threading.Thread(target=self.serve, args=(s,), daemon=True).start()

    def answer(self, method, path, body):
        with self.lock:
            self.records.append((method, path, body))
            if method == "PUT":
                prof = json.loads(body[1])
                prof["heartBeatTimer"] = 1
                return 201, json.dumps(prof).encode()
            if method == "PATCH":
                self.patches += 1
                return (404, b"") if self.patches == 2 else (204, b"")
            return 204, b""

    def tls_wrap(self, s):
        """The TLS handshake with the next context; None if it failed."""
        with self.lock:
            i = min(len(self.handshakes), len(self.tls) - 1)
            self.handshakes.append((i, None))
            slot = len(self.handshakes) - 1
        s.settimeout(30)
        try:
            t = self.tls[i].wrap_socket(s, server_side=True)
        except (ssl.SSLError, OSError) as e:
            with self.lock:
                self.handshakes[slot] = (i, "failed: %s" % e)
            s.close()
            return None
        cn = None
        peer = t.getpeercert()
        if peer:
            cn = dict(x[0] for x in peer["subject"]).get("commonName")
        with self.lock:
            self.handshakes[slot] = (i, "ok alpn=%s client=%s" % (t.selected_alpn_protocol(), cn))
        t.settimeout(None)
        return t

    def serve(self, s):
        if self.tls is not None and (s := self.tls_wrap(s)) is None:
            return
        conn = h2.connection.H2Connection(
            h2.config.H2Configuration(client_side=False, header_encoding="utf-8"))
        conn.initiate_connection()
        s.sendall(conn.data_to_send())
        streams = {}
        while True:
            data = s.recv(65536)
            if not data:
                s.close()
                return
            for ev in conn.receive_data(data):
                if isinstance(ev, h2.events.RequestReceived):
                    streams[ev.stream_id] = [dict(ev.headers), b""]
                elif isinstance(ev, h2.events.DataReceived):
                    streams[ev.stream_id][1] += ev.data
                    conn.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
                elif isinstance(ev, h2.events.StreamEnded):
                    hdrs, body = streams.pop(ev.stream_id)
                    st, out = self.answer(hdrs[":method"], hdrs[":path"],
                                          (hdrs.get("content-type"), body.decode()))
                    rh = [(":status", str(st))]
                    if out:
                        rh.append(("content-type", "application/json"))
                    conn.send_headers(ev.stream_id, rh, end_stream=not out)
                    if out:
                        conn.send_data(ev.stream_id, out, end_stream=True)
            s.sendall(conn.data_to_send())


def signer_files(folder):
    """A provisioning signer corehook accepts (self-signed, signer EKU)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sbi-test signer")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.ExtendedKeyUsage(
                [x509.ObjectIdentifier("1.3.6.1.4.1.32473.7243.2")]), critical=False)
            .sign(key, hashes.SHA256()))
    with open(os.path.join(folder, "signer.crt"), "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
    fd = os.open(os.path.join(folder, "signer.key"), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM,
                                  serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()))


def issue(name, issuer=None, issuer_key=None, server=False, ca=False, dns=None):
    """A P-256 key and certificate (self-signed when issuer is None); server
    certificates name 127.0.0.1, or the DNS name dns."""
    key = ec.generate_private_key(ec.SECP256R1())
    subj = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.timezone.utc)
    b = (x509.CertificateBuilder().subject_name(subj)
         .issuer_name(issuer.subject if issuer is not None else subj)
         .public_key(key.public_key()).serial_number(x509.random_serial_number())
         .not_valid_before(now - datetime.timedelta(hours=1))
         .not_valid_after(now + datetime.timedelta(days=1))
         .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if server:
        import ipaddress
        b = b.add_extension(x509.SubjectAlternativeName(
            [x509.DNSName(dns) if dns else
             x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
    cert = b.sign(issuer_key if issuer_key is not None else key, hashes.SHA256())
    return key, cert


def write_pem(folder, name, key, cert):
    with open(os.path.join(folder, name + ".crt"), "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
    with open(os.path.join(folder, name + ".key"), "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM,
                                  serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()))


class SbiTlsTest(unittest.TestCase):
    """The SBI over TLS (ALPN h2), a client certificate from the configured
    CA required: with one the AUSF gets its vector; without, or with one
    from another CA, the handshake is refused and counted."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="provca-sbi-tls-")
        signer_files(cls.tmp)
        ca_key, ca = issue("sbi-test CA", ca=True)
        write_pem(cls.tmp, "ca", ca_key, ca)
        write_pem(cls.tmp, "udm", *issue("udm", ca, ca_key, server=True))
        write_pem(cls.tmp, "ausf", *issue("ausf", ca, ca_key))
        write_pem(cls.tmp, "rogue", *issue("ausf"))
        cls.cfg = os.path.join(cls.tmp, "corehook.json")
        run(COREHOOK, "init", "--config", cls.cfg, "--op", OP,
            "--signer-cert", os.path.join(cls.tmp, "signer.crt"),
            "--signer-key", os.path.join(cls.tmp, "signer.key"),
            "--sbi-listen", "127.0.0.1:0")
        with open(cls.cfg) as f:
            doc = json.load(f)
        del doc["allow_list"]
        doc["listen"] = {"nas_udp": "127.0.0.1:0", "http": "127.0.0.1:0"}
        doc["sbi"]["tls"] = {"cert": "udm.crt", "key": "udm.key", "client_ca": "ca.crt"}
        with open(cls.cfg, "w") as f:
            json.dump(doc, f)
        out = run(SEED, cls.cfg, "dev-sbi-tls", KI).stdout.split()
        cls.supi, cls.opc = out[0], out[1]
        cls.log = open(os.path.join(cls.tmp, "corehook.log"), "wb")
        cls.proc = subprocess.Popen([COREHOOK, "serve", "--config", cls.cfg],
                                    stdout=subprocess.PIPE, stderr=cls.log, text=True)
        cls.port = None
        for _ in range(10):
            m = re.match(r"^sbi https://127\.0\.0\.1:(\d+)$", cls.proc.stdout.readline().strip())
            if m:
                cls.port = int(m.group(1))
                break
        if cls.port is None:
            cls.proc.kill()
            raise AssertionError("corehook serve did not announce the TLS SBI")

    @classmethod
    def tearDownClass(cls):
        cls.proc.send_signal(signal.SIGTERM)
        rc = cls.proc.wait(timeout=60)
        cls.log.close()
        shutil.rmtree(cls.tmp, ignore_errors=True)
        assert rc == 0, rc

    def ctx(self, client):
        c = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        c.load_verify_locations(os.path.join(self.tmp, "ca.crt"))
        if client is not None:
            c.load_cert_chain(os.path.join(self.tmp, client + ".crt"),
                              os.path.join(self.tmp, client + ".key"))
        c.set_alpn_protocols(["h2"])
        return c

    def test_vector_over_tls_with_client_certificate(self):
        c = H2Client(self.port, tls=self.ctx("ausf"))
        try:
            self.assertEqual(c.sock.selected_alpn_protocol(), "h2")
            r = c.request("POST", "/nudm-ueau/v1/imsi-%s/security-information/"
                          "generate-auth-data" % self.supi,
                          {"servingNetworkName": SNN, "ausfInstanceId": AUSF_ID})
            self.assertEqual(r["status"], 200, r["body"])
            av = r["json"]["authenticationVector"]
            u = usim(self.opc, av["rand"], av["autn"])
            self.assertEqual(u["RES*"], av["xresStar"])
            self.assertEqual(u["K_AUSF"], av["kausf"])
            r = c.request("POST", "/nudm-ueau/v1/imsi-%s/auth-events" % self.supi,
                          {"nfInstanceId": AUSF_ID, "success": True, "timeStamp": "t",
                           "authType": "5G_AKA", "servingNetworkName": SNN})
            self.assertEqual(r["status"], 201)
            self.assertTrue(r["headers"]["location"].startswith(
                "https://127.0.0.1:%d/nudm-ueau/v1/" % self.port))
        finally:
            c.close()

    def test_refused_without_or_with_foreign_certificate(self):
        for client in (None, "rogue"):
            with self.assertRaises((ssl.SSLError, OSError, AssertionError)):
                c = H2Client(self.port, tls=self.ctx(client))
                try:
                    c.request("POST", "/nudm-ueau/v1/imsi-%s/security-information/"
                              "generate-auth-data" % self.supi,
                              {"servingNetworkName": SNN, "ausfInstanceId": AUSF_ID})
                finally:
                    c.close()


class NrfTlsTest(unittest.TestCase):
    """The NRF over TLS (https nrf_uri): nghttp2's client on OpenSSL with
    ALPN h2 verifies the NRF's certificate against sbi.nrf_tls.ca and its
    host name, and presents its client certificate. The stand-in NRF shows
    first a certificate from an unknown CA, then one for another host name
    (both refused by corehook, which retries), then the right one."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="provca-sbi-nrf-tls-")
        signer_files(cls.tmp)
        ca_key, ca = issue("nrf-test CA", ca=True)
        write_pem(cls.tmp, "ca", ca_key, ca)
        write_pem(cls.tmp, "nrf", *issue("nrf", ca, ca_key, server=True, dns="localhost"))
        write_pem(cls.tmp, "other", *issue("nrf", ca, ca_key, server=True,
                                           dns="nrf.other.example"))
        write_pem(cls.tmp, "stranger", *issue("nrf", server=True, dns="localhost"))
        write_pem(cls.tmp, "udm", *issue("udm", ca, ca_key))
        ctxs = []
        for name in ("stranger", "other", "nrf"):
            c = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            c.load_cert_chain(os.path.join(cls.tmp, name + ".crt"),
                              os.path.join(cls.tmp, name + ".key"))
            c.load_verify_locations(os.path.join(cls.tmp, "ca.crt"))
            c.verify_mode = ssl.CERT_REQUIRED
            c.set_alpn_protocols(["h2"])
            ctxs.append(c)
        cls.nrf = StandInNrf(tls=ctxs)
        cls.nrf.start()
        cls.cfg = os.path.join(cls.tmp, "corehook.json")
        run(COREHOOK, "init", "--config", cls.cfg, "--op", OP,
            "--signer-cert", os.path.join(cls.tmp, "signer.crt"),
            "--signer-key", os.path.join(cls.tmp, "signer.key"),
            "--sbi-listen", "127.0.0.1:0", "--nrf", "https://localhost:%d" % cls.nrf.port)
        with open(cls.cfg) as f:
            doc = json.load(f)
        del doc["allow_list"]
        doc["listen"] = {"nas_udp": "127.0.0.1:0", "http": "127.0.0.1:0"}
        doc["sbi"]["heartbeat_seconds"] = 30
        # a config with an https NRF and no CA file is refused at start
        with open(cls.cfg, "w") as f:
            json.dump(doc, f)
        p = run(COREHOOK, "serve", "--config", cls.cfg, check=False)
        assert p.returncode != 0 and "nrf_tls.ca" in p.stderr, (p.returncode, p.stderr)
        doc["sbi"]["nrf_tls"] = {"ca": "ca.crt", "cert": "udm.crt", "key": "udm.key"}
        with open(cls.cfg, "w") as f:
            json.dump(doc, f)
        cls.nf_id = doc["sbi"]["nf_instance_id"]
        cls.log = open(os.path.join(cls.tmp, "corehook.log"), "wb")
        cls.proc = subprocess.Popen([COREHOOK, "serve", "--config", cls.cfg],
                                    stdout=subprocess.PIPE, stderr=cls.log, text=True)
        cls.port = None
        for _ in range(10):
            m = re.match(r"^sbi http://127\.0\.0\.1:(\d+)$", cls.proc.stdout.readline().strip())
            if m:
                cls.port = int(m.group(1))
                break
        if cls.port is None:
            cls.proc.kill()
            raise AssertionError("corehook serve did not announce the SBI")

    @classmethod
    def tearDownClass(cls):
        if cls.proc.poll() is None:
            cls.proc.kill()
            cls.proc.wait()
        cls.log.close()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def test_suci_without_home_network_keys_unsupported(self):
        """No suci.profile here: a Profile A SUCI's scheme is not served."""
        c = H2Client(self.port)
        try:
            r = c.request("POST", "/nudm-ueau/v1/suci-0-001-01-0-1-1-%s/security-information/"
                          "generate-auth-data" % ("ab" * 45),
                          {"servingNetworkName": SNN, "ausfInstanceId": AUSF_ID})
        finally:
            c.close()
        self.assertEqual(r["status"], 501, r["body"])
        self.assertEqual(r["json"]["cause"], "UNSUPPORTED_PROTECTION_SCHEME")

    def test_zz_register_over_tls_after_refusing_bad_certificates(self):
        deadline = time.time() + 60
        while time.time() < deadline:
            with self.nrf.lock:
                if any(r[0] == "PUT" for r in self.nrf.records):
                    break
            time.sleep(0.2)
        self.proc.send_signal(signal.SIGTERM)
        self.assertEqual(self.proc.wait(timeout=60), 0)
        with self.nrf.lock:
            hs = list(self.nrf.handshakes)
            recs = list(self.nrf.records)
        self.assertEqual([h[0] for h in hs[:3]], [0, 1, 2], hs)
        self.assertTrue(hs[0][1].startswith("failed"), hs)
        self.assertTrue(hs[1][1].startswith("failed"), hs)
        self.assertEqual(hs[2][1], "ok alpn=h2 client=udm", hs)
        kinds = [r[0] for r in recs]
        self.assertEqual(kinds[0], "PUT")
        self.assertEqual(kinds[-1], "DELETE")
        path = "/nnrf-nfm/v1/nf-instances/" + self.nf_id
        self.assertTrue(all(r[1] == path for r in recs))
        prof = json.loads(recs[0][2][1])
        self.assertEqual(prof["nfType"], "UDM")
        with open(self.log.name, "rb") as f:
            log = f.read().decode()
        self.assertRegex(log, r"nrf tls localhost:%d: certificate: "
                              r"(unable to get local issuer|self[- ]signed)" % self.nrf.port)
        self.assertIn("nrf tls localhost:%d: certificate: hostname mismatch" % self.nrf.port,
                      log)
        self.assertIn("nrf registered nf=%s status=201" % self.nf_id, log)
        self.assertIn("nrf deregistered status=204", log)


class SbiTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="provca-sbi-")
        signer_files(cls.tmp)
        cls.nrf = StandInNrf()
        cls.nrf.start()
        cls.cfg = os.path.join(cls.tmp, "corehook.json")
        run(COREHOOK, "init", "--config", cls.cfg, "--op", OP,
            "--signer-cert", os.path.join(cls.tmp, "signer.crt"),
            "--signer-key", os.path.join(cls.tmp, "signer.key"),
            "--sbi-listen", "127.0.0.1:0", "--nrf", "http://127.0.0.1:%d" % cls.nrf.port)
        with open(cls.cfg) as f:
            doc = json.load(f)
        cls.assertTrue(cls, re.match(r"^[0-9a-f-]{36}$", doc["sbi"]["nf_instance_id"]))
        del doc["allow_list"]
        doc["listen"] = {"nas_udp": "127.0.0.1:0", "http": "127.0.0.1:0"}
        doc["sbi"]["heartbeat_seconds"] = 30
        doc["sbi"]["allow_nf_instances"] = [AUSF_ID]
        with open(cls.cfg, "w") as f:
            json.dump(doc, f)
        cls.nf_id = doc["sbi"]["nf_instance_id"]
        cls.hn_pub = {}
        # Home network keys as an operator makes them: a Profile A key
        # (id 1), then a Profile B key (id 2) configured; both are loaded.
        for prof, kid in (("A", 1), ("B", 2)):
            doc["suci"] = {"profile": prof, "key_id": kid}
            with open(cls.cfg, "w") as f:
                json.dump(doc, f)
            key = run(COREHOOK, "suci", "keygen", "--config", cls.cfg).stdout
            with open(re.search(r"^KEY: (.+)$", key, re.M).group(1), "rb") as f:
                k = serialization.load_pem_private_key(f.read(), None)
            if prof == "A":
                assert isinstance(k, x25519.X25519PrivateKey)
                raw = k.public_key().public_bytes(serialization.Encoding.Raw,
                                                  serialization.PublicFormat.Raw)
            else:
                raw = k.public_key().public_bytes(serialization.Encoding.X962,
                                                  serialization.PublicFormat.CompressedPoint)
            cls.hn_pub[prof] = raw.hex()
        out = run(SEED, cls.cfg, "dev-sbi-1", KI).stdout.split()
        cls.supi, cls.opc = out[0], out[1]
        assert cls.supi == "001010000000001", cls.supi
        # A second device whose subscription stays pending until an
        # auth-event confirms it (test_auth_event_confirms_pending).
        cls.supi2 = run(SEED, cls.cfg, "dev-sbi-2", KI).stdout.split()[0]
        cls.db = os.path.join(cls.tmp, doc.get("database", "corehook.db"))
        cls.log = open(os.path.join(cls.tmp, "corehook.log"), "wb")
        cls.proc = subprocess.Popen([COREHOOK, "serve", "--config", cls.cfg],
                                    stdout=subprocess.PIPE, stderr=cls.log, text=True)
        cls.port = cls.http = None
        deadline = time.time() + 60
        while cls.port is None and time.time() < deadline:
            line = cls.proc.stdout.readline()
            if not line:
                break
            m = re.match(r"^sbi http://127\.0\.0\.1:(\d+)$", line.strip())
            if m:
                cls.port = int(m.group(1))
            m = re.match(r"^http (http://\S+)$", line.strip())
            if m:
                cls.http = m.group(1)
        if cls.port is None:
            cls.proc.kill()
            raise AssertionError("corehook serve did not announce the SBI")
        cls.c = H2Client(cls.port)

    @classmethod
    def tearDownClass(cls):
        cls.c.close()
        if cls.proc.poll() is None:
            cls.proc.kill()
            cls.proc.wait()
        cls.log.close()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def gad(self, ident, body=None, client=None):
        body = body if body is not None else {"servingNetworkName": SNN, "ausfInstanceId": AUSF_ID}
        return (client or self.c).request(
            "POST", "/nudm-ueau/v1/%s/security-information/generate-auth-data" % ident, body)

    def check_vector(self, r, sqn_ms="000000000000"):
        """The device side accepts the vector: returns the USIM's result."""
        self.assertEqual(r["status"], 200, r["body"])
        self.assertEqual(r["headers"]["content-type"], "application/json")
        j = r["json"]
        self.assertEqual(j["authType"], "5G_AKA")
        self.assertEqual(j["supi"], "imsi-" + self.supi)
        av = j["authenticationVector"]
        self.assertEqual(av["avType"], "5G_HE_AKA")
        u = usim(self.opc, av["rand"], av["autn"], sqn_ms)
        self.assertEqual(u["result"], "ok", u)
        self.assertEqual(u["RES*"], av["xresStar"])
        self.assertEqual(u["K_AUSF"], av["kausf"])
        self.assertEqual(u["K_SEAF"], kseaf_ref(av["kausf"]))
        return u

    def problem(self, r, status, cause):
        self.assertEqual(r["status"], status, r["body"])
        self.assertEqual(r["headers"]["content-type"], "application/problem+json")
        self.assertEqual(r["json"]["status"], status)
        if cause is not None:
            self.assertEqual(r["json"]["cause"], cause)

    def test_replay_recorded_exchanges(self):
        """Every exchange the real AUSF made, answered the way it accepted."""
        last_rand = None
        with open(FIXTURES) as f:
            rows = [json.loads(l) for l in f if '"request"' in l]
        self.assertEqual(len(rows), 9)
        for row in rows:
            req, want = row["request"], row["response"]
            body = dict(req["body"])
            if "resynchronizationInfo" in body:
                # The recorded AUTS belongs to that run's UE: make ours, the
                # USIM claiming SQN_MS far ahead for the last RAND we sent.
                auts = run(AKA_TOOL, "auts", KI, self.opc, last_rand, "000000100000").stdout
                body["resynchronizationInfo"] = {"rand": last_rand,
                                                 "auts": auts.split(": ")[1].strip()}
            r = self.c.request(req["method"], req["path"], body)
            self.assertEqual(r["status"], want["status"], (req["path"], r["body"]))
            if want["body"] is not None:
                self.assertEqual(r["headers"]["content-type"], want["headers"]["content-type"])
                self.assertEqual(sorted(r["json"].keys()), sorted(want["body"].keys()))
            else:
                self.assertEqual(r["body"], b"")
            if "location" in want["headers"]:
                self.assertRegex(r["headers"]["location"],
                                 r"^http://127\.0\.0\.1:%d/nudm-ueau/v1/imsi-%s/auth-events/"
                                 r"[0-9a-f-]{36}$" % (self.port, self.supi))
                self.assertEqual(r["json"], body)
            if want["status"] == 200:
                u = self.check_vector(r, "000000100000" if "resynchronizationInfo" in body
                                      else "000000000000")
                if "resynchronizationInfo" in body:
                    self.assertGreater(int(u["SQN"], 16), 0x100000)
                last_rand = r["json"]["authenticationVector"]["rand"]
            if want["status"] == 404:
                self.problem(r, 404, "USER_NOT_FOUND")

    def test_sqn_steps_and_is_shared(self):
        """Two vectors: the second SQN is fresh after the first."""
        u1 = self.check_vector(self.gad("imsi-" + self.supi))
        u2 = self.check_vector(self.gad("imsi-" + self.supi), u1["SQN"])
        self.assertGreater(int(u2["SQN"], 16), int(u1["SQN"], 16))

    def test_resync_bad_auts_rejected(self):
        r = self.gad("imsi-" + self.supi, {"servingNetworkName": SNN, "ausfInstanceId": AUSF_ID,
                                          "resynchronizationInfo": {"rand": "00" * 16,
                                                                    "auts": "11" * 14}})
        self.problem(r, 403, "AUTHENTICATION_REJECTED")

    def test_errors(self):
        self.problem(self.gad("imsi-001010000000099"), 404, "USER_NOT_FOUND")
        self.problem(self.gad("imsi-" + self.supi, {"servingNetworkName": "5G:mnc002.mcc001."
                                                    "3gppnetwork.org", "ausfInstanceId": AUSF_ID}),
                     403, "SERVING_NETWORK_NOT_AUTHORIZED")
        self.problem(self.gad("imsi-" + self.supi, {"ausfInstanceId": AUSF_ID}),
                     400, "MANDATORY_IE_MISSING")
        self.problem(self.gad("suci-0-001-01-0000-1-1-abcdef0123"), 403,
                     "INVALID_SCHEME_OUTPUT")
        self.problem(self.gad("suci-0-001-01-0000-3-1-abcdef0123"), 400,
                     "MANDATORY_IE_INCORRECT")
        self.problem(self.gad("nai-x"), 400, "MANDATORY_IE_INCORRECT")
        self.problem(self.c.request("POST", "/nudm-ueau/v1/imsi-%s/security-information/"
                                    "generate-auth-data" % self.supi, b"{not json"),
                     400, "MANDATORY_IE_INCORRECT")
        self.problem(self.c.request("POST", "/nudm-ueau/v1/imsi-%s/auth-events" % self.supi,
                                    {"nfInstanceId": AUSF_ID, "timeStamp": "x",
                                     "authType": "5G_AKA", "servingNetworkName": SNN}),
                     400, "MANDATORY_IE_MISSING")
        self.problem(self.c.request("GET", "/nudm-ueau/v1/imsi-%s/nothing" % self.supi),
                     404, None)
        big = {"servingNetworkName": SNN, "ausfInstanceId": AUSF_ID, "pad": "x" * 20000}
        self.problem(self.gad("imsi-" + self.supi, big), 413, None)

    def conceal(self, profile, key_id, pub=None):
        """The device side: ueclient suci conceal (common/suci.c)."""
        p = run(UECLIENT, "suci", "conceal", "--supi", "imsi-" + self.supi,
                "--mnc-digits", "2", "--profile", profile,
                "--hn-pub", pub or self.hn_pub[profile], "--hn-key-id", str(key_id))
        return re.search(r"^SUCI: (suci-\S+)$", p.stdout, re.M).group(1)

    def test_suci_profiles_deconcealed(self):
        """A Profile A and a Profile B SUCI are opened with corehook's home
        network keys (the SIDF role): the vector names the right SUPI and
        the USIM accepts it."""
        for prof, scheme, kid in (("A", 1, 1), ("B", 2, 2)):
            suci = self.conceal(prof, kid)
            self.assertTrue(suci.startswith("suci-0-001-01-0-%d-%d-" % (scheme, kid)), suci)
            self.assertNotIn(self.supi[5:], suci)
            self.check_vector(self.gad(suci))
        null = "suci-0-001-01-0-0-0-" + self.supi[5:]
        self.check_vector(self.gad(null))

    def test_suci_not_deconcealed_refused(self):
        """TS 29.503 §6.3.7.3: a SUCI whose output does not verify is 403
        INVALID_SCHEME_OUTPUT; a key id the UDM has no key for (or a key of
        the other profile) is 403 INVALID_HN_PUBLIC_KEY_IDENTIFIER."""
        for prof, kid in (("A", 1), ("B", 2)):
            suci = self.conceal(prof, kid)
            head, out = suci.rsplit("-", 1)
            tag = bytearray.fromhex(out[-16:])
            tag[3] ^= 0x01
            self.problem(self.gad(head + "-" + out[:-16] + tag.hex()), 403,
                         "INVALID_SCHEME_OUTPUT")
            flipped = bytearray.fromhex(out)
            flipped[len(flipped) - 12] ^= 0x80   # ciphertext (MSIN), tag kept
            self.problem(self.gad(head + "-" + flipped.hex()), 403, "INVALID_SCHEME_OUTPUT")
        self.problem(self.gad(self.conceal("A", 9)), 403, "INVALID_HN_PUBLIC_KEY_IDENTIFIER")
        # key id 1 holds the Profile A key: a Profile B SUCI naming it
        self.problem(self.gad(self.conceal("B", 1)), 403, "INVALID_HN_PUBLIC_KEY_IDENTIFIER")
        with urllib.request.urlopen(self.http + "/metrics", timeout=30) as resp:
            text = resp.read().decode()
        for cause in ("INVALID_SCHEME_OUTPUT", "INVALID_HN_PUBLIC_KEY_IDENTIFIER"):
            m = re.search(r'^corehook_sbi_failures_total\{cause="%s"\} (\d+)$' % cause,
                          text, re.M)
            self.assertGreaterEqual(int(m.group(1)), 2)

    def test_caller_not_allowed(self):
        other = "11111111-2222-4333-8444-555555555555"
        self.check_vector(self.gad("imsi-" + self.supi))
        self.problem(self.gad("imsi-" + self.supi, {"servingNetworkName": SNN,
                                                    "ausfInstanceId": other}), 403, None)
        with urllib.request.urlopen(self.http + "/metrics", timeout=30) as resp:
            text = resp.read().decode()
        m = re.search(r'^corehook_sbi_failures_total\{cause="CALLER_NOT_ALLOWED"\} (\d+)$',
                      text, re.M)
        self.assertIsNotNone(m)
        self.assertGreaterEqual(int(m.group(1)), 1)
        self.assertRegex(text, r'(?m)^corehook_sbi_vectors_total [1-9]')

    def test_caller_address_not_allowed(self):
        """A caller from an address off sbi.allow_addresses gets 403."""
        c = H2Client(self.port, source="127.0.0.2")
        try:
            self.problem(self.gad("imsi-" + self.supi, client=c), 403, None)
        finally:
            c.close()

    def test_incomplete_request_reset_after_budget(self):
        """A request whose body never ends is reset after the 10 s budget;
        the connection keeps serving other streams."""
        c = H2Client(self.port)
        try:
            sid = c.conn.get_next_available_stream_id()
            c.conn.send_headers(sid, [(":method", "POST"), (":scheme", "http"),
                                      (":authority", "x"), (":path", "/nudm-ueau/v1/imsi-%s/"
                                      "security-information/generate-auth-data" % self.supi),
                                      ("content-type", "application/json")])
            c.conn.send_data(sid, b'{"servingNetworkName":')
            c.sock.sendall(c.conn.data_to_send())
            c.results[sid] = {"status": None, "headers": {}, "body": b"", "done": False}
            t0 = time.time()
            r = c.wait([sid])[0]
            self.assertIsNone(r["status"])
            self.assertGreaterEqual(time.time() - t0, 9.5)
            self.assertLess(time.time() - t0, 20)
            self.check_vector(self.gad("imsi-" + self.supi, client=c))
        finally:
            c.close()

    def test_auth_event_per_event_path(self):
        ev = {"nfInstanceId": AUSF_ID, "success": True, "timeStamp": "2026-12-07T19:10:38Z",
              "authType": "5G_AKA", "servingNetworkName": SNN}
        r = self.c.request("POST", "/nudm-ueau/v1/imsi-%s/auth-events" % self.supi, ev)
        self.assertEqual(r["status"], 201)
        path = r["headers"]["location"].split("127.0.0.1:%d" % self.port, 1)[1]
        self.assertEqual(self.c.request("DELETE", path)["status"], 204)
        self.problem(self.c.request("DELETE", path), 404, "DATA_NOT_FOUND")
        r = self.c.request("POST", "/nudm-ueau/v1/imsi-%s/auth-events" % self.supi, ev)
        path = r["headers"]["location"].split("127.0.0.1:%d" % self.port, 1)[1]
        r = self.c.request("PUT", path, dict(ev, authRemovalInd=True))
        self.assertEqual(r["status"], 204)
        self.problem(self.c.request("POST", "/nudm-ueau/v1/imsi-001010000000099/auth-events",
                                    ev), 404, "USER_NOT_FOUND")

    def state(self, supi):
        import sqlite3
        db = sqlite3.connect(self.db, timeout=30)
        try:
            return [r[0] for r in db.execute(
                "SELECT state FROM subscription WHERE supi = ?", (supi,))]
        finally:
            db.close()

    def test_auth_event_confirms_pending(self):
        """A new subscription is pending until the AUSF reports a successful
        authentication with it; a failed one leaves it pending."""
        self.assertEqual(self.state(self.supi2), ["pending"])
        ev = {"nfInstanceId": AUSF_ID, "success": False, "timeStamp": "2026-12-07T19:10:38Z",
              "authType": "5G_AKA", "servingNetworkName": SNN}
        path = "/nudm-ueau/v1/imsi-%s/auth-events" % self.supi2
        self.assertEqual(self.c.request("POST", path, ev)["status"], 201)
        self.assertEqual(self.state(self.supi2), ["pending"])
        self.assertEqual(self.c.request("POST", path, dict(ev, success=True))["status"], 201)
        self.assertEqual(self.state(self.supi2), ["active"])
        # confirming again changes nothing
        self.assertEqual(self.c.request("POST", path, dict(ev, success=True))["status"], 201)
        self.assertEqual(self.state(self.supi2), ["active"])

    def test_hundred_concurrent_streams(self):
        c = H2Client(self.port)
        try:
            c.request("POST", "/nudm-ueau/v1/imsi-001010000000099/security-information/"
                      "generate-auth-data", {"servingNetworkName": SNN, "ausfInstanceId": AUSF_ID})
            body = {"servingNetworkName": SNN, "ausfInstanceId": AUSF_ID}
            sids = [c.send("POST", "/nudm-ueau/v1/imsi-%s/security-information/"
                           "generate-auth-data" % self.supi, body) for _ in range(100)]
            rs = c.wait(sids)
        finally:
            c.close()
        sqns = set()
        for r in rs:
            r["json"] = json.loads(r["body"])
            sqns.add(self.check_vector(r)["SQN"])
        self.assertEqual(len(sqns), 100)

    def test_zz_nrf_register_heartbeat_deregister(self):
        """Last: SIGTERM the daemon and read what the stand-in NRF saw."""
        deadline = time.time() + 30
        while time.time() < deadline:
            with self.nrf.lock:
                puts = [r for r in self.nrf.records if r[0] == "PUT"]
                if len(puts) >= 2 and self.nrf.patches >= 3:
                    break
            time.sleep(0.2)
        self.proc.send_signal(signal.SIGTERM)
        self.assertEqual(self.proc.wait(timeout=60), 0)
        path = "/nnrf-nfm/v1/nf-instances/" + self.nf_id
        recs = list(self.nrf.records)
        kinds = [r[0] for r in recs]
        self.assertEqual(kinds[0], "PUT")
        self.assertEqual(kinds[-1], "DELETE")
        self.assertTrue(all(r[1] == path for r in recs))
        # PUT, PATCH, PATCH (404), PUT again, PATCH..., DELETE
        i = kinds.index("PATCH")
        self.assertEqual(kinds[i:i + 3], ["PATCH", "PATCH", "PUT"])
        ctype, body = recs[0][2]
        self.assertEqual(ctype, "application/json")
        prof = json.loads(body)
        self.assertEqual(prof["nfType"], "UDM")
        self.assertEqual(prof["nfInstanceId"], self.nf_id)
        self.assertEqual(prof["nfStatus"], "REGISTERED")
        svc = prof["nfServices"][0]
        self.assertEqual(svc["serviceName"], "nudm-ueau")
        self.assertEqual(svc["versions"][0]["apiVersionInUri"], "v1")
        self.assertEqual(svc["scheme"], "http")
        self.assertEqual(svc["nfServiceStatus"], "REGISTERED")
        self.assertEqual(svc["ipEndPoints"], [{"ipv4Address": "127.0.0.1", "port": self.port}])
        self.assertEqual(prof["udmInfo"]["supiRanges"],
                         [{"start": "001010000000001", "end": "001019999999999"}])
        patch = [r for r in recs if r[0] == "PATCH"][0][2]
        self.assertEqual(patch[0], "application/json-patch+json")
        self.assertEqual(json.loads(patch[1]),
                         [{"op": "replace", "path": "/nfStatus", "value": "REGISTERED"}])
        with open(self.log.name, "rb") as f:
            log = f.read().decode()
        self.assertIn("nrf deregistered status=204", log)
        # No key material in the log: K, OPc, and no 32/64-hex values.
        self.assertNotIn(KI, log)
        self.assertNotIn(self.opc, log)
        self.assertIsNone(re.search(r"[0-9a-f]{32}", log))


if __name__ == "__main__":
    unittest.main()

"""httptest — shared fixtures for the ca-server HTTP tests: a CA made with
`ca-server init`, principals made with `ca-server principal add`, a real
server on 127.0.0.1:0 that is always stopped, curl and http.client clients,
CSR generation."""
import http.client
import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import unittest

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

BIN = os.environ.get("PROVCA_BIN", os.path.join(os.getcwd(), "bin"))
SRC = os.environ.get("PROVCA_SRC", os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))
SANITIZE = os.environ.get("PROVCA_SANITIZE", "0") == "1"
CA_SERVER = os.path.join(BIN, "ca-server")
PROBLEM = "https://provca.dev/problems/"


def run(*args, check=True, **kw):
    """Run ca-server with args; return CompletedProcess (text)."""
    p = subprocess.run([CA_SERVER, *args], capture_output=True, text=True, timeout=120, **kw)
    if check and p.returncode != 0:
        raise AssertionError("ca-server %s failed (%d): %s%s" % (" ".join(args), p.returncode, p.stdout, p.stderr))
    return p


def write_file(path, text):
    with open(path, "w") as f:
        f.write(text)


def load_pems(data):
    """Every certificate of a PEM bundle, in order."""
    if isinstance(data, str):
        data = data.encode()
    marker = b"-----END CERTIFICATE-----"
    out = []
    for part in data.split(marker)[:-1]:
        out.append(x509.load_pem_x509_certificate(part + marker + b"\n"))
    return out


def make_csr(cn="device"):
    """A fresh P-256 key and its PEM CSR."""
    key = ec.generate_private_key(ec.SECP256R1())
    csr = (x509.CertificateSigningRequestBuilder()
           .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
           .sign(key, hashes.SHA256()))
    return key, csr.public_bytes(serialization.Encoding.PEM).decode()


class Ident:
    """A client identity: certificate + key files, or none."""

    def __init__(self, name, cert=None, key=None):
        self.name, self.cert, self.key = name, cert, key


sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "pg"))
import pgdb  # noqa: E402  (tests/pg: a fresh PostgreSQL database per CA under pg_run.py)

PG_BIN = pgdb.PG_BIN
pg_sql = pgdb.sql


class CA:
    """A temporary CA data folder with principals. With PROVCA_PG_URL set
    (the suite runs under tests/pg/pg_run.py) the registry is a fresh
    PostgreSQL database instead of DATA/registry.db: the same tests, the
    other engine."""

    def __init__(self, extra_init=()):
        self.tmp = tempfile.mkdtemp(prefix="provca-http-")
        self.data = os.path.join(self.tmp, "data")
        self.db, db_args = pgdb.init_args()
        run("init", "--example-oids", "--data", self.data, "--plain-keys", "--hostname", "localhost", "--hostname", "127.0.0.1",
            *db_args, *extra_init)
        self.root = os.path.join(self.data, "root-ca.crt")
        self.admin = Ident("admin", os.path.join(self.data, "admin", "admin.crt"),
                           os.path.join(self.data, "admin", "admin.key"))
        self.mfrs = set()

    def manufacturer(self, mid, name=None):
        if mid not in self.mfrs:
            run("manufacturer", "add", "--data", self.data, "--id", mid, "--name", name or ("Maker " + mid))
            self.mfrs.add(mid)

    def principal(self, name, role, mfr=None):
        out = os.path.join(self.tmp, "p-" + name)
        args = ["principal", "add", "--data", self.data, "--name", name, "--role", role, "--out", out]
        if mfr:
            self.manufacturer(mfr)
            args += ["--manufacturer-id", mfr]
        run(*args)
        return Ident(name, os.path.join(out, name + ".crt"), os.path.join(out, name + ".key"))

    def cleanup(self):
        shutil.rmtree(self.tmp, ignore_errors=True)


def stranger_identity(tmp):
    """A client certificate from a CA the server has never seen."""
    ca_key = ec.generate_private_key(ec.SECP256R1())
    now = __import__("datetime").datetime.utcnow()
    dt = __import__("datetime").timedelta
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Stranger CA")])
    ca_cert = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
               .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - dt(days=1)).not_valid_after(now + dt(days=30))
               .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
               .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "admin")]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt(days=1)).not_valid_after(now + dt(days=30))
            .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    cpath, kpath = os.path.join(tmp, "stranger.crt"), os.path.join(tmp, "stranger.key")
    with open(cpath, "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM) + ca_cert.public_bytes(serialization.Encoding.PEM))
    with open(kpath, "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()))
    return Ident("stranger", cpath, kpath)


class Server:
    """`ca-server serve` on an ephemeral loopback port."""

    def __init__(self, ca, extra=()):
        self.ca = ca
        self.log = open(os.path.join(ca.tmp, "server.log"), "ab")
        self.proc = subprocess.Popen([CA_SERVER, "serve", "--data", ca.data, "--listen", "127.0.0.1:0", *extra],
                                     stdout=subprocess.PIPE, stderr=self.log, text=True)
        self.port = None
        self.banner = []
        deadline = time.time() + 60
        while time.time() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                break
            self.banner.append(line)
            m = re.match(r"listening on https://127\.0\.0\.1:(\d+)$", line.strip())
            if m:
                self.port = int(m.group(1))
                break
        if self.port is None:
            self.stop()
            raise AssertionError("server did not start: " + "".join(self.banner) + self.stderr())
        # Keep draining stdout (the rest of the banner) so the pipe never fills.
        threading.Thread(target=self._drain, daemon=True).start()
        self.base = "https://127.0.0.1:%d" % self.port

    def _drain(self):
        for line in self.proc.stdout:
            self.banner.append(line)

    def stderr(self):
        if not self.log.closed:
            self.log.flush()
        with open(self.log.name, "rb") as f:
            return f.read().decode(errors="replace")

    def stop(self, sig=signal.SIGTERM, timeout=30):
        """Stop the server; return its exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if not self.log.closed:
            self.log.close()
        if self.proc.stdout and not self.proc.stdout.closed:
            try:
                self.proc.stdout.close()
            except Exception:  # noqa: BLE001 — the drain thread may hold it
                pass
        return self.proc.returncode

    # ---- clients ----

    def curl(self, ident, method, path, body=None, headers=(), ctype="application/json"):
        """One request with curl. Returns (status, headers dict, body bytes);
        status 0 when the TLS handshake or connection failed."""
        out = os.path.join(self.ca.tmp, "curl-%d.out" % threading.get_ident())
        hdr = os.path.join(self.ca.tmp, "curl-%d.hdr" % threading.get_ident())
        for stale in (out, hdr):  # curl writes nothing for an empty body
            if os.path.exists(stale):
                os.unlink(stale)
        cmd = ["curl", "-sS", "--max-time", "60", "--cacert", self.ca.root, "-X", method,
               "-o", out, "-D", hdr, "-w", "%{http_code}", self.base + path]
        if ident is not None and ident.cert:
            cmd += ["--cert", ident.cert, "--key", ident.key]
        for h in headers:
            cmd += ["-H", h]
        if body is not None:
            data = body if isinstance(body, (bytes, str)) else json.dumps(body)
            bfile = out + ".req"
            with open(bfile, "wb") as f:
                f.write(data.encode() if isinstance(data, str) else data)
            cmd += ["-H", "Content-Type: " + ctype, "--data-binary", "@" + bfile]
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=90)
        status = int(p.stdout.strip() or "0")
        if p.returncode != 0:
            return 0, {}, p.stderr.encode()
        hs = {}
        with open(hdr, "rb") as f:  # the last response's headers win
            for line in f.read().decode(errors="replace").splitlines():
                if ":" in line:
                    k, v = line.split(":", 1)
                    hs[k.strip().lower()] = v.strip()
        data = b""
        if os.path.exists(out):
            with open(out, "rb") as f:
                data = f.read()
        return status, hs, data

    def ssl_context(self, ident):
        ctx = ssl.create_default_context(cafile=self.ca.root)
        if ident is not None and ident.cert:
            ctx.load_cert_chain(ident.cert, ident.key)
        return ctx

    def conn(self, ident):
        return http.client.HTTPSConnection("127.0.0.1", self.port, context=self.ssl_context(ident), timeout=120)


def jreq(conn, method, path, body=None, headers=None):
    """JSON request over a keep-alive http.client connection."""
    h = {"Content-Type": "application/json"} if body is not None else {}
    h.update(headers or {})
    conn.request(method, path, body=json.dumps(body) if body is not None else None, headers=h)
    r = conn.getresponse()
    data = r.read()
    return r.status, r, data


class ServerTest(unittest.TestCase):
    """Base class: one CA + principals + server per test class."""

    @classmethod
    def setUpClass(cls):
        cls.ca = CA()
        try:
            cls.operator = cls.ca.principal("op1", "operator")
            cls.mfr_a = cls.ca.principal("mfr-a", "manufacturer", "ACME")
            cls.mfr_b = cls.ca.principal("mfr-b", "manufacturer", "BETA")
            cls.admin = cls.ca.admin
            cls.srv = Server(cls.ca)
        except BaseException:
            cls.ca.cleanup()
            raise

    @classmethod
    def tearDownClass(cls):
        try:
            rc = cls.srv.stop()
            # A clean SIGTERM stop exits 0; under the sanitizers a leak or
            # memory error at shutdown makes it non-zero.
            if rc != 0:
                raise AssertionError("server exited %d: %s" % (rc, cls.srv.stderr()[-4000:]))
        finally:
            cls.ca.cleanup()

    def enroll(self, ident, serial, model="M1", key_csr=None):
        _, csr = key_csr or make_csr()
        st, h, data = self.srv.curl(ident, "POST", "/api/v1/devices",
                                    {"csr": csr, "serial": serial, "model": model, "hardware_version": "1.0"})
        return st, (json.loads(data) if data[:1] == b"{" else data)

    def assertProblem(self, st, data, status, slug):
        self.assertEqual(st, status, data)
        doc = json.loads(data)
        self.assertEqual(doc["type"], PROBLEM + slug, doc)
        self.assertEqual(doc["status"], status)
        self.assertIn("title", doc)

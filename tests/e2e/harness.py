"""harness — start ca-server, corehook and ueclient on loopback for the
end-to-end tests, and stop every process again even when a test fails.

Only documented interfaces are used: `ca-server init/manufacturer add/
principal add/serve` (serve prints `listening on https://127.0.0.1:PORT`),
the admin HTTP API for revocation, `corehook init/serve` (serve prints
`nas udp 127.0.0.1:PORT`) and `ueclient init/enroll/attach/swarm --json`.
"""
import http.client
import json
import os
import re
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "pg"))
import pgdb  # noqa: E402

BIN = os.environ.get("PROVCA_BIN", "")
SANITIZE = os.environ.get("PROVCA_SANITIZE", "0") == "1"
def require_programs():
    """Exit 1 (a failure, never a skip) when a program is not built."""
    missing = [p for p in ("ca-server", "corehook", "ueclient")
               if not os.access(os.path.join(BIN, p), os.X_OK)]
    if missing:
        print("e2e: not built: %s (build the tree first)" % ", ".join(missing))
        sys.exit(1)


def prog(name):
    return os.path.join(BIN, name)


def run(*args, check=True, timeout=120):
    p = subprocess.run(list(args), capture_output=True, text=True, timeout=timeout)
    if check and p.returncode != 0:
        raise AssertionError("%s failed (%d):\n%s%s" % (" ".join(args), p.returncode, p.stdout, p.stderr))
    return p


def free_udp_port():
    """A loopback UDP port nobody listens on (bound, then released)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Proc:
    """A started program whose first matching stdout line gives its port."""

    def __init__(self, argv, pattern, logpath, timeout=60):
        self.log = open(logpath, "ab")
        self.logpath = logpath
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=self.log, text=True)
        self.port = None
        self.lines = []
        deadline = time.time() + timeout
        while time.time() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                break
            self.lines.append(line)
            m = re.search(pattern, line)
            if m:
                self.port = int(m.group(1))
                break
        if self.port is None:
            self.stop()
            raise AssertionError("%s did not start: %s %s" % (argv[0], "".join(self.lines), self.stderr()))
        # keep draining stdout so the program never blocks on a full pipe
        threading.Thread(target=self._drain, daemon=True).start()

    def _drain(self):
        for line in self.proc.stdout:
            self.lines.append(line)

    def stderr(self):
        self.log.flush()
        with open(self.logpath, "rb") as f:
            return f.read().decode(errors="replace")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        self.log.close()


class Relay:
    """A UDP relay between the UE and a core; `down` transforms what the
    core sends and `upf` what the UE sends (return None to drop, bytes to
    forward)."""

    def __init__(self, core_port, down=None, upf=None):
        self.core = ("127.0.0.1", core_port)
        self.down = down
        self.upf = upf
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.up = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.up.connect(self.core)
        self.ue = None
        self.stopped = False
        self.seen_down = []
        self.threads = [threading.Thread(target=self._ul, daemon=True),
                        threading.Thread(target=self._dl, daemon=True)]
        for t in self.threads:
            t.start()

    def _ul(self):
        self.sock.settimeout(0.2)
        while not self.stopped:
            try:
                data, addr = self.sock.recvfrom(65535)
            except (socket.timeout, OSError):
                continue
            self.ue = addr
            out = self.upf(data) if self.upf else data
            if out is not None:
                self.up.send(out)

    def _dl(self):
        self.up.settimeout(0.2)
        while not self.stopped:
            try:
                data = self.up.recv(65535)
            except (socket.timeout, ConnectionRefusedError, OSError):
                continue
            self.seen_down.append(data)
            out = self.down(data) if self.down else data
            if out is not None and self.ue is not None:
                self.sock.sendto(out, self.ue)

    def stop(self):
        self.stopped = True
        for t in self.threads:
            t.join(timeout=2)
        self.sock.close()
        self.up.close()


def pcap_nas_messages(path):
    """The NAS messages of a ueclient/corehook trace, in order: each record
    is Wireshark's exported-PDU tags (ending with tag 0) then the PDU."""
    out = []
    with open(path, "rb") as f:
        data = f.read()
    off = 24                                    # pcap global header
    while off + 16 <= len(data):
        incl = int.from_bytes(data[off + 8:off + 12], "little")
        rec = data[off + 16:off + 16 + incl]
        off += 16 + incl
        p = 0
        while p + 4 <= len(rec):
            tag = int.from_bytes(rec[p:p + 2], "big")
            n = int.from_bytes(rec[p + 2:p + 4], "big")
            p += 4 + ((n + 3) & ~3)
            if tag == 0:
                break
        out.append(rec[p:])
    return out


def check_security_headers(test, hdrs):
    """The NAS security header types of an attach trace, in order: plain
    messages (0) up to 5G-AKA's end, then the Security mode command (3),
    its complete (4), and the Registration accept and complete (2). A slow
    run (sanitizers, a loaded machine) may see the network's T3560 or
    T3550 fire once: a Security mode command or accept sent again, and the
    UE's answer again; those repeats are allowed, nothing else is."""
    k = next((i for i, h in enumerate(hdrs) if h != "0"), len(hdrs))
    test.assertGreater(k, 0, hdrs)
    test.assertRegex("".join(hdrs[k:]), r"^3[34]*4[34]*2{2,}$", hdrs)


def is_reject_with_container(data):
    """Registration reject (0x7E 0x00 0x44) carrying a Payload container."""
    return len(data) > 100 and data[0] == 0x7E and data[2] == 0x44


class CA:
    """A ca-server data folder with a manufacturer, an operator and a
    provisioning signer, and its HTTPS service."""

    def __init__(self, tmp, name="ca"):
        self.tmp = tmp
        self.dir = os.path.join(tmp, name)
        self.data = os.path.join(self.dir, "data")
        os.makedirs(self.dir)
        # Under tests/pg/pg_run.py the registry is a fresh PostgreSQL database.
        self.db, db_args = pgdb.init_args()
        run(prog("ca-server"), "init", "--example-oids", "--data", self.data, "--plain-keys", "--hostname", "localhost",
            "--hostname", "127.0.0.1", *db_args)
        self.root = os.path.join(self.data, "root-ca.crt")
        self.infra = os.path.join(self.data, "infra-ca.crt")
        self.admin = (os.path.join(self.data, "admin", "admin.crt"),
                      os.path.join(self.data, "admin", "admin.key"))
        run(prog("ca-server"), "manufacturer", "add", "--data", self.data, "--id", "acme",
            "--name", "Acme Sensors")
        self.mfr = self.principal("acme-factory", "manufacturer", "acme")
        self.operator = self.principal("op1", "operator")
        self.signer = self.principal("op1-signer", "signer")
        self.server = None
        self.port = None

    def principal(self, name, role, mfr=None):
        out = os.path.join(self.dir, "p-" + name)
        args = [prog("ca-server"), "principal", "add", "--data", self.data, "--name", name,
                "--role", role, "--out", out]
        if mfr:
            args += ["--manufacturer-id", mfr]
        run(*args)
        return (os.path.join(out, name + ".crt"), os.path.join(out, name + ".key"))

    @property
    def url(self):
        return "https://127.0.0.1:%d" % self.port

    def start(self, port=0):
        """Serve on a fixed loopback port (picked now when 0) so that the
        certificate URLs it issues (public_base_url) name that port."""
        if port == 0:
            t = socket.socket()
            t.bind(("127.0.0.1", 0))
            port = t.getsockname()[1]
            t.close()
            cfgpath = os.path.join(self.data, "config.json")
            with open(cfgpath) as f:
                cfg = json.load(f)
            cfg["public_base_url"] = "https://127.0.0.1:%d" % port
            with open(cfgpath, "w") as f:
                json.dump(cfg, f, indent=1)
        self.server = Proc([prog("ca-server"), "serve", "--data", self.data, "--listen",
                            "127.0.0.1:%d" % port],
                           r"listening on https://127\.0\.0\.1:(\d+)",
                           os.path.join(self.dir, "server.log"))
        self.port = self.server.port

    def stop(self):
        if self.server is not None:
            self.server.stop()
            self.server = None

    def api(self, method, path, body=None, ident=None):
        ctx = ssl.create_default_context(cafile=self.root)
        cert, key = ident or self.admin
        ctx.load_cert_chain(cert, key)
        c = http.client.HTTPSConnection("127.0.0.1", self.port, context=ctx, timeout=30)
        hdr = {"Accept": "application/json"}
        data = None
        if body is not None:
            data = json.dumps(body)
            hdr["Content-Type"] = "application/json"
        c.request(method, path, body=data, headers=hdr)
        r = c.getresponse()
        out = r.status, r.read()
        c.close()
        return out

    def metrics(self):
        """ca-server's Prometheus text."""
        status, body = self.api("GET", "/metrics")
        if status != 200:
            raise AssertionError("metrics: HTTP %d" % status)
        return body.decode()

    def revoke(self, device_id, reason="keyCompromise"):
        status, body = self.api("POST", "/api/v1/devices/%s/revoke" % device_id, {"reason": reason})
        if status != 200:
            raise AssertionError("revoke: HTTP %d %s" % (status, body))


class Core:
    """corehook with a config from `corehook init`, listening on loopback."""

    def __init__(self, tmp, name, ca, signer=None, allow_url=None, pcap=None,
                 config_extra=None, suci=None):
        self.dir = os.path.join(tmp, name)
        os.makedirs(self.dir)
        self.config = os.path.join(self.dir, "corehook.json")
        signer = signer or ca.signer
        run(prog("corehook"), "init", "--config", self.config, "--ca-url", allow_url or ca.url,
            "--client-cert", ca.operator[0], "--client-key", ca.operator[1],
            "--ca-root", ca.root, "--signer-cert", signer[0],
            # ca-server's NAME-chain.pem (Infra CA, Root): corehook carries
            # the Infra CA, so the device needs only its Root.
            "--signer-chain", signer[0][:-len(".crt")] + "-chain.pem",
            "--signer-key", signer[1])
        with open(self.config) as f:
            cfg = json.load(f)
        cfg.setdefault("listen", {})
        cfg["listen"]["nas_udp"] = "127.0.0.1:0"
        cfg["listen"]["http"] = "127.0.0.1:0"
        for k, v in (config_extra or {}).items():
            cfg[k] = v
        if suci:
            # SUCI concealment: the profile's key pair made by the command
            cfg["suci"] = {"profile": suci, "key_id": 3, "routing_indicator": "12"}
        with open(self.config, "w") as f:
            json.dump(cfg, f, indent=1)
        if suci:
            run(prog("corehook"), "suci", "keygen", "--config", self.config)
        argv = [prog("corehook"), "serve", "--config", self.config]
        if pcap:
            argv += ["--pcap", pcap]
        self.proc = Proc(argv, r"nas udp 127\.0\.0\.1:(\d+)", os.path.join(self.dir, "corehook.log"))
        self.port = self.proc.port
        self.address = "127.0.0.1:%d" % self.port

    def log(self):
        return self.proc.stderr()

    def fingerprints(self):
        return re.findall(r"kamf-fp=([0-9a-f]{16})", self.log())

    def metrics(self):
        """corehook's Prometheus text from its HTTP endpoint."""
        deadline = time.time() + 10
        while time.time() < deadline:
            m = re.search(r"^http (http://127\.0\.0\.1:\d+)$", "".join(self.proc.lines), re.M)
            if m:
                with urllib.request.urlopen(m.group(1) + "/metrics", timeout=30) as r:
                    return r.read().decode()
            time.sleep(0.1)
        raise AssertionError("corehook printed no http line")

    def db_rows(self, sql, *params):
        """Rows of a query on the core's subscriber store (SQLite)."""
        import sqlite3
        with open(self.config) as f:
            path = json.load(f).get("database", "corehook.db")
        if not os.path.isabs(path):
            path = os.path.join(self.dir, path)
        db = sqlite3.connect(path, timeout=30)
        try:
            return db.execute(sql, params).fetchall()
        finally:
            db.close()

    def nas(self, data, timeout=10):
        """Send one NAS message from a fresh UDP socket (another UE address)
        and return the answer."""
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.settimeout(timeout)
        try:
            s.sendto(data, ("127.0.0.1", self.port))
            return s.recv(65535)
        finally:
            s.close()

    def stop(self):
        self.proc.stop()


class Device:
    """A ueclient state folder."""

    def __init__(self, tmp, name, ca, serial=None, key_type=None):
        self.dir = os.path.join(tmp, "ue-" + name)
        self.ca = ca
        args = ["--key-type", key_type] if key_type else []
        run(prog("ueclient"), "init", "--state", self.dir, "--manufacturer-id", "acme",
            "--serial", serial or ("SN-" + name + "-%d" % os.getpid()), "--model", "sensor-1",
            *args)

    def enroll(self):
        run(prog("ueclient"), "enroll", "--state", self.dir, "--ca", self.ca.url,
            "--cert", self.ca.mfr[0], "--key", self.ca.mfr[1], "--root", self.ca.root)
        with open(os.path.join(self.dir, "device.json")) as f:
            self.info = json.load(f)
        return self.info

    def attach(self, *cores, extra=(), timeout=120):
        args = [prog("ueclient"), "attach", "--state", self.dir, "--json",
                "--timeout-ms", "300", "--retransmits", "2", "--attempt-ms", "1500"]
        for c in cores:
            args += ["--core", c]
        p = run(*args, *extra, check=False, timeout=timeout)
        try:
            out = json.loads(p.stdout)
        except ValueError:
            raise AssertionError("attach printed no JSON (%d): %s %s" % (p.returncode, p.stdout, p.stderr))
        return p.returncode, out

    def copy(self, name):
        """A second state folder holding this device's state as it is now
        (its credentials, key and counter)."""
        other = Device.__new__(Device)
        other.dir = self.dir + "-" + name
        other.ca = self.ca
        other.info = getattr(self, "info", None)
        shutil.copytree(self.dir, other.dir)
        return other

    def has_credentials(self):
        return os.path.exists(os.path.join(self.dir, "credentials.json"))

    def credentials(self):
        with open(os.path.join(self.dir, "credentials.json")) as f:
            return json.load(f)


class World:
    """Everything one test needs, torn down in one place."""

    def __init__(self):
        self.tmp = tempfile.mkdtemp(prefix="provca-e2e-")
        self.stoppers = []

    def ca(self, name="ca", start=True):
        ca = CA(self.tmp, name)
        self.stoppers.append(ca.stop)
        if start:
            ca.start()
        return ca

    def core(self, name, ca, **kw):
        c = Core(self.tmp, name, ca, **kw)
        self.stoppers.append(c.stop)
        return c

    def relay(self, core_port, down=None, upf=None):
        r = Relay(core_port, down, upf)
        self.stoppers.append(r.stop)
        return r

    def device(self, name, ca, key_type=None):
        return Device(self.tmp, name, ca, key_type=key_type)

    def close(self):
        for stop in reversed(self.stoppers):
            try:
                stop()
            except Exception as e:  # keep stopping the rest
                print("e2e: stop failed: %s" % e, file=sys.stderr)
        if os.environ.get("PROVCA_E2E_KEEP") != "1":
            shutil.rmtree(self.tmp, ignore_errors=True)

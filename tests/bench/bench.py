#!/usr/bin/python3
"""bench.py — the `make bench` driver: measures ProvCA side by side with its
peers (openssl speed, cfssl, nginx) on this machine, loopback only, and
writes bench/results/<date>.json and .md.

Stages (docs/performance.md explains each figure):
  1 ceilings     openssl speed ECDSA P-256 sign/verify, ECDH P-256
  2 issuance     POST /api/v1/devices at concurrency 1 and 8, the batch
                 endpoint, and cfssl serve signing the same CSRs
  3 lookup       GET /devices/{id} (PEM, JSON) keep-alive at 1/4/16 and a
                 handshake per request, vs nginx serving the same bytes
  4 provisioning ueclient swarm against corehook + ca-server
  5 scale        big registry: bytes per device, lookup small vs big, CRL
                 with many revoked entries, ca-server RSS idle and under
                 many open connections
  6 hsm          issuance c8 and batch with the Device CA key in SoftHSM2
                 (PKCS#11) next to the same runs with the file key, as a
                 ratio
  7 postgresql   issuance c8 and lookup keep-alive c8 with the registry on
                 a throwaway PostgreSQL 15 next to the same runs on SQLite,
                 then two nodes on the one PostgreSQL database; ca-server's
                 and PostgreSQL's CPU per request, ratios PG/SQLite

Sizes come from --scale (smoke | full; env BENCH_SCALE). Every process this
script starts is stopped at exit, on failure and on SIGINT/SIGTERM.
"""
import argparse
import datetime
import errno
import json
import os
import random
import re
import selectors
import shutil
import signal
import socket
import sqlite3
import ssl
import subprocess
import sys
import tempfile
import threading
import time

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.dirname(os.path.dirname(HERE))

# Every size the run uses. smoke: seconds per stage, to check the harness;
# full: the figures for docs/performance.md (well under 30 minutes).
SCALES = {
    "smoke": dict(
        speed_s=1, csr_c1=60, csr_c8=200, issue_cap_s=10,
        batch_size=50, batch_n=4, batch_conc=(1, 2),
        registry=2000, lookup_s=1.5, lookup_conc=(1, 4, 16), hs_conc=4,
        swarm=((4, 20), (16, 60)), swarm_deadline=20,
        scale_big=20000, crl_revoked=5000, conns=100, conns_timeout_s=15, perf_s=2),
    "full": dict(
        speed_s=3, csr_c1=1500, csr_c8=6000, issue_cap_s=20,
        batch_size=500, batch_n=12, batch_conc=(1, 2),
        registry=1000000, lookup_s=6, lookup_conc=(1, 4, 16), hs_conc=4,
        swarm=((8, 400), (32, 1200), (64, 2400), (128, 3000)),
        swarm_deadline=30,
        scale_big=10000000, crl_revoked=1000000, conns=1000, conns_timeout_s=60,
        perf_s=5),
}

DEFAULT_STAGES = "1,2,3,4,5,6,7"

TARGETS = {
    "issuance_c8_vs_cfssl": 2.0,
    "batch_vs_ceiling": 0.5,
    "lookup_keepalive_vs_nginx": 0.8,
    "lookup_handshake_vs_nginx": 0.9,
    "provisioning_flows_per_s": 1000,
    "provisioning_p99_ms": 50,
    "lookup_big_vs_small": 1.5,
    "bytes_per_device": 2048,
}


# ---------------------------------------------------------------- processes

class Procs:
    """Every started process, stopped in reverse order at exit."""

    def __init__(self):
        self.items = []
        self.lock = threading.Lock()

    def add(self, p):
        with self.lock:
            self.items.append(p)
        return p

    def stop(self, p):
        if p.poll() is None:
            try:
                p.terminate()
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        with self.lock:
            if p in self.items:
                self.items.remove(p)

    def stop_all(self):
        for p in list(reversed(self.items)):
            try:
                self.stop(p)
            except Exception as e:  # keep stopping the rest
                print("bench: stop failed: %s" % e, file=sys.stderr)


PROCS = Procs()


def log(msg):
    print("bench: " + msg, flush=True)


def free_port(kind=socket.SOCK_STREAM):
    s = socket.socket(socket.AF_INET, kind)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def server_port():
    """A free loopback port below the usual ephemeral range (32768-60999),
    so that no client connection of this run can be holding it."""
    for _ in range(200):
        port = random.randrange(20000, 32000)
        s = socket.socket()
        try:
            s.bind(("127.0.0.1", port))
            return port
        except OSError:
            continue
        finally:
            s.close()
    return free_port()


def start(argv, pattern, logpath, timeout=120, env=None):
    """Start argv; wait for a stdout/stderr line matching pattern (group 1 is
    returned when present). Output goes to logpath, read back as it grows."""
    lf = open(logpath, "ab")
    skip = lf.tell()
    p = PROCS.add(subprocess.Popen(argv, stdout=lf, stderr=subprocess.STDOUT,
                                   env=env, start_new_session=True))
    lf.close()
    if pattern is None:
        return p, None
    deadline = time.time() + timeout
    while time.time() < deadline:
        with open(logpath, "rb") as f:
            f.seek(skip)
            text = f.read().decode(errors="replace")
        m = re.search(pattern, text)
        if m:
            return p, (m.group(1) if m.groups() else None)
        if p.poll() is not None:
            break
        time.sleep(0.05)
    PROCS.stop(p)
    with open(logpath, "rb") as f:
        tail = f.read().decode(errors="replace")[-2000:]
    raise RuntimeError("%s did not start:\n%s" % (argv[0], tail))


def run(argv, timeout=3600, check=True, **kw):
    p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, **kw)
    if check and p.returncode != 0:
        raise RuntimeError("%s failed (%d): %s%s" % (" ".join(argv), p.returncode,
                                                    p.stdout[-2000:], p.stderr[-2000:]))
    return p


def cpu_seconds(pid):
    """utime + stime of pid (all threads), from /proc/<pid>/stat."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def proc_status(pid):
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmRSS", "VmHWM", "Threads"):
                out[k] = int(v.split()[0])
    return out


# ------------------------------------------------------------------ loadgen

class Loadgen:
    def __init__(self, binpath, workdir):
        self.bin = binpath
        self.work = workdir
        self.commands = []

    def run(self, base, items, *, cert=None, key=None, cacert, post_path=None,
            accept=None, concurrency=1, requests=0, duration=0, handshake=False,
            resume=False, server_pid=None, label="run"):
        """Run loadgen once; items is a path to a paths or bodies file.
        Adds server CPU seconds (from /proc) when server_pid is given."""
        argv = [self.bin, "--base", base, "--cacert", cacert,
                "--concurrency", str(concurrency)]
        if cert:
            argv += ["--cert", cert, "--key", key]
        if post_path:
            argv += ["--bodies", items, "--post-path", post_path]
        else:
            argv += ["--paths", items]
        if accept:
            argv += ["--accept", accept]
        if requests:
            argv += ["--requests", str(requests)]
        if duration:
            argv += ["--duration", str(duration)]
        if handshake:
            argv.append("--handshake")
        if resume:
            argv.append("--resume")
        self.commands.append(" ".join(argv))
        c0 = cpu_seconds(server_pid) if server_pid else None
        p = run(argv, check=False, timeout=max(120, 4 * (duration or 30)))
        c1 = cpu_seconds(server_pid) if server_pid else None
        try:
            r = json.loads(p.stdout.strip().splitlines()[-1])
        except (ValueError, IndexError):
            raise RuntimeError("loadgen %s printed no result (%d): %s" %
                               (label, p.returncode, p.stderr[-1000:]))
        if server_pid:
            r["server_cpu_s"] = round(c1 - c0, 3)
        r["label"] = label
        if r["non2xx"] or r["failed"]:
            log("warning: %s: %d non-2xx answers, %d failed requests (rps counts 2xx only)"
                % (label, r["non2xx"], r["failed"]))
        if r["ok"] == 0:
            raise RuntimeError("loadgen %s: no successful request: %s %s" %
                               (label, r, p.stderr[-500:]))
        return r


# ---------------------------------------------------------------------- CSRs

def make_csrs(n, prefix, path):
    """n distinct P-256 CSRs as one JSON body per line for POST /api/v1/devices
    (serial prefix-i). Returns the list of CSR PEMs too, for cfssl."""
    pems = []
    with open(path, "w") as f:
        for i in range(n):
            k = ec.generate_private_key(ec.SECP256R1())
            serial = "%s-%07d" % (prefix, i)
            csr = x509.CertificateSigningRequestBuilder().subject_name(x509.Name([
                x509.NameAttribute(NameOID.SERIAL_NUMBER, serial),
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Acme Sensors"),
                x509.NameAttribute(NameOID.COMMON_NAME, serial),
            ])).sign(k, hashes.SHA256())
            pem = csr.public_bytes(serialization.Encoding.PEM).decode()
            pems.append((serial, pem))
            f.write(json.dumps({"csr": pem, "serial": serial, "model": "bench-1",
                                "hardware_version": "1.0"}) + "\n")
    return pems


def write_batches(pems, size, path):
    with open(path, "w") as f:
        for i in range(0, len(pems) - size + 1, size):
            devs = [{"csr": pem, "serial": s, "model": "bench-1",
                     "hardware_version": "1.0"} for s, pem in pems[i:i + size]]
            f.write(json.dumps({"devices": devs}) + "\n")


def write_cfssl_bodies(pems, path):
    with open(path, "w") as f:
        for _, pem in pems:
            f.write(json.dumps({"certificate_request": pem}) + "\n")


# ------------------------------------------------------------------ the CA

class CA:
    """A ca-server data folder with a manufacturer, an operator, a signer.
    init_extra: more `ca-server init` options (a token key)."""

    def __init__(self, binpath, work, name="ca", init_extra=()):
        self.bin = binpath
        self.dir = os.path.join(work, name)
        self.data = os.path.join(self.dir, "data")
        os.makedirs(self.dir)
        cs = os.path.join(binpath, "ca-server")
        run([cs, "init", "--example-oids", "--data", self.data, "--plain-keys", "--hostname", "localhost",
             "--hostname", "127.0.0.1", *init_extra])
        self.root = os.path.join(self.data, "root-ca.crt")
        self.infra = os.path.join(self.data, "infra-ca.crt")
        run([cs, "manufacturer", "add", "--data", self.data, "--id", "acme",
             "--name", "Acme Sensors"])
        self.mfr = self.principal("acme-factory", "manufacturer", "acme")
        self.operator = self.principal("op1", "operator")
        self.signer = self.principal("op1-signer", "signer")
        self.port = None
        self.proc = None
        self.db = os.path.join(self.data, "registry.db")

    def principal(self, name, role, mfr=None):
        out = os.path.join(self.dir, "p-" + name)
        argv = [os.path.join(self.bin, "ca-server"), "principal", "add", "--data",
                self.data, "--name", name, "--role", role, "--out", out]
        if mfr:
            argv += ["--manufacturer-id", mfr]
        run(argv)
        return (os.path.join(out, name + ".crt"), os.path.join(out, name + ".key"))

    @property
    def url(self):
        return "https://127.0.0.1:%d" % self.port

    def serve_argv(self):
        return [os.path.join(self.bin, "ca-server"), "serve", "--data", self.data,
                "--listen", "127.0.0.1:%d" % self.port]

    def start(self, preload=None):
        """Serve on a fresh loopback port named in public_base_url (the
        certificate URLs it hands out must name it); a port somebody took
        in between is retried. preload: an LD_PRELOAD library (experiments
        only). Returns the server's pid."""
        env = None
        if preload:
            env = dict(os.environ, LD_PRELOAD=preload)
        last = None
        for _ in range(5):
            self.port = server_port()
            cfgpath = os.path.join(self.data, "config.json")
            with open(cfgpath) as f:
                cfg = json.load(f)
            cfg["public_base_url"] = "https://127.0.0.1:%d" % self.port
            with open(cfgpath, "w") as f:
                json.dump(cfg, f, indent=1)
            try:
                self.proc, _ = start(self.serve_argv(),
                                     r"listening on https://127\.0\.0\.1:(\d+)\n",
                                     os.path.join(self.dir, "server.log"), env=env)
                return self.proc.pid
            except RuntimeError as e:
                last = e
                if "Address already in use" not in str(e):
                    raise
        raise last

    def stop(self):
        if self.proc is not None:
            PROCS.stop(self.proc)
            self.proc = None

    def get(self, path, accept=None):
        return tls_get(self.port, self.root, self.operator, path, accept)


def tls_get(port, root, ident, path, accept=None):
    """One GET over mTLS with the identity (cert, key); (status, body)."""
    ctx = ssl.create_default_context(cafile=root)
    ctx.load_cert_chain(*ident)
    s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=30),
                        server_hostname="127.0.0.1")
    return http_get(s, path, accept)


def http_get(s, path, accept=None, close=True):
    """One HTTP/1.1 GET on socket s; returns (status, body). Minimal reader
    (Content-Length bodies only, as both servers answer)."""
    hdr = "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n" % path
    if accept:
        hdr += "Accept: %s\r\n" % accept
    if close:
        hdr += "Connection: close\r\n"
    s.sendall((hdr + "\r\n").encode())
    buf = b""
    while b"\r\n\r\n" not in buf:
        d = s.recv(65536)
        if not d:
            break
        buf += d
    head, _, body = buf.partition(b"\r\n\r\n")
    status = int(head.split()[1])
    m = re.search(rb"(?i)content-length:\s*(\d+)", head)
    n = int(m.group(1)) if m else 0
    while len(body) < n:
        d = s.recv(65536)
        if not d:
            break
        body += d
    if close:
        s.close()
    return status, body


def resumption_probe(port, root, cert, key, path):
    """Does a second connection resume the first one's TLS session?"""
    ctx = ssl.create_default_context(cafile=root)
    ctx.load_cert_chain(cert, key)
    s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port)),
                        server_hostname="127.0.0.1")
    http_get(s, path, close=False)
    sess = s.session
    version = s.version()
    s.close()
    s2 = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port)),
                         server_hostname="127.0.0.1", session=sess)
    reused = s2.session_reused
    http_get(s2, path, close=False)
    s2.close()
    return {"tls_version": version, "resumed": bool(reused)}


# ------------------------------------------------------------------- stages

class Profiler:
    """perf record of some processes in a background thread while a load
    runs; a no-op where perf cannot sample."""

    def __init__(self, R, pids, seconds, name):
        self.th = None
        ctx = R.get("_ctx", {})
        if not ctx.get("perf", {}).get("available"):
            return
        self.out = os.path.join(ctx["outdir"], "%s-perf-%s.txt" % (ctx["stamp"], name))
        self.rel = os.path.relpath(self.out, SRC)
        self.R = R
        self.name = name
        self.th = threading.Thread(target=perf_profile, args=(pids, seconds, self.out))
        self.th.start()

    def done(self):
        if self.th is not None:
            self.th.join()
            if os.path.exists(self.out):
                self.R.setdefault("profiles", {})[self.name] = self.rel


def disk_flush_ms(folder, n=300):
    """Latency of one durable write on the registry's file system: append
    4 KiB + fdatasync, n times (as SQLite's WAL commit does). Returns the
    p50 and p90 in ms. A durable answer waits for at least one of these."""
    path = os.path.join(folder, "flush-probe.bin")
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
    t = []
    try:
        block = b"\x5a" * 4096
        for i in range(n):
            t0 = time.perf_counter()
            os.pwrite(fd, block, i * 4096)
            os.fdatasync(fd)
            t.append((time.perf_counter() - t0) * 1000.0)
    finally:
        os.close(fd)
        os.unlink(path)
    t.sort()
    return round(t[len(t) // 2], 3), round(t[int(len(t) * 0.9)], 3)


def stage_ceilings(R, S, work):
    argv = ["openssl", "speed", "-elapsed", "-seconds", str(S["speed_s"]),
            "ecdsap256", "ecdhp256"]
    out = run(argv).stdout
    m = re.search(r"256 bits ecdsa \(nistp256\)\s+\S+s\s+\S+s\s+([\d.]+)\s+([\d.]+)", out)
    e = re.search(r"256 bits ecdh \(nistp256\)\s+\S+s\s+([\d.]+)", out)
    if not m or not e:
        raise RuntimeError("cannot parse openssl speed output:\n" + out[-800:])
    sign, verify, ecdh = float(m.group(1)), float(m.group(2)), float(e.group(1))
    cores = os.cpu_count() or 1
    per_core = 1.0 / (1.0 / sign + 1.0 / verify)
    R["ceilings"] = {
        "command": " ".join(argv), "ecdsa_p256_sign_per_s": sign,
        "ecdsa_p256_verify_per_s": verify, "ecdh_p256_per_s": ecdh, "cores": cores,
        "issuance_ceiling_per_core": round(per_core, 1),
        "issuance_ceiling": round(per_core * cores, 1),
    }
    log("ceilings: sign %.0f/s verify %.0f/s ecdh %.0f/s -> issuance ceiling %.0f certs/s"
        % (sign, verify, ecdh, per_core * cores))
    # The disk: with c requests in flight, each answered only after a
    # flush that follows its write, Little's law caps durable issuance at
    # c / flush latency even if every flush served all c.
    p50, p90 = disk_flush_ms(work)
    R["ceilings"].update(fdatasync_ms_p50=p50, fdatasync_ms_p90=p90,
                         durable_c8_bound=int(8 / (p50 / 1000.0)) if p50 > 0 else None)
    log("ceilings: 4 KiB append + fdatasync p50 %.2f ms p90 %.2f ms -> durable c8 bound %s/s"
        % (p50, p90, R["ceilings"]["durable_c8_bound"]))


def stage_issuance(R, S, ca, lg, work, binp):
    res = {"runs": []}
    R["issuance"] = res
    log("issuance: generating %d P-256 CSRs" % (S["csr_c1"] + S["csr_c8"] +
                                                 S["batch_size"] * S["batch_n"] * len(S["batch_conc"])))
    c1 = os.path.join(work, "csr-c1.jsonl")
    c8 = os.path.join(work, "csr-c8.jsonl")
    make_csrs(S["csr_c1"], "B1", c1)
    pems8 = make_csrs(S["csr_c8"], "B8", c8)
    cfssl_bodies = os.path.join(work, "cfssl.jsonl")
    write_cfssl_bodies(pems8, cfssl_bodies)
    batch_files = []
    for i, conc in enumerate(S["batch_conc"]):
        pb = make_csrs(S["batch_size"] * S["batch_n"], "BB%d" % i,
                       os.path.join(work, "csr-bb%d.jsonl" % i))
        bf = os.path.join(work, "batch%d.jsonl" % i)
        write_batches(pb, S["batch_size"], bf)
        batch_files.append((conc, bf))

    size0 = db_bytes(ca.db)
    pid = ca.start()
    mfr = dict(cert=ca.mfr[0], key=ca.mfr[1], cacert=ca.root)
    for conc, f, n in ((1, c1, S["csr_c1"]), (8, c8, S["csr_c8"])):
        prof = Profiler(R, [pid], S["perf_s"], "issuance-c8") if conc == 8 else None
        r = lg.run(ca.url, f, post_path="/api/v1/devices", concurrency=conc,
                   requests=n, duration=S["issue_cap_s"], server_pid=pid,
                   label="ours single c%d" % conc, **mfr)
        r.update(server="ca-server", mode="single", certs_per_s=r["rps"],
                 cpu_ms_per_cert=round(1000 * r["server_cpu_s"] / max(r["ok"], 1), 3))
        if prof is not None:
            prof.done()
        res["runs"].append(r)
        log("issuance ca-server c%d: %.0f certs/s p50 %.1f ms p99 %.1f ms, %.2f ms CPU/cert"
            % (conc, r["rps"], r["p50_ms"], r["p99_ms"], r["cpu_ms_per_cert"]))
    for conc, bf in batch_files:
        r = lg.run(ca.url, bf, post_path="/api/v1/devices/batch", concurrency=conc,
                   requests=S["batch_n"], duration=S["issue_cap_s"] * 2, server_pid=pid,
                   label="ours batch c%d" % conc, **mfr)
        certs = r["ok"] * S["batch_size"]
        r.update(server="ca-server", mode="batch", batch_size=S["batch_size"],
                 certs_per_s=round(certs / r["seconds"], 1),
                 cpu_ms_per_cert=round(1000 * r["server_cpu_s"] / max(certs, 1), 3))
        res["runs"].append(r)
        log("issuance ca-server batch of %d c%d: %.0f certs/s, %.2f ms CPU/cert"
            % (S["batch_size"], conc, r["certs_per_s"], r["cpu_ms_per_cert"]))
    ca.stop()
    shim = R.get("_ctx", {}).get("shim")
    if shim:
        # Experiment (not a target figure): the same server with
        # TCP_NODELAY on accepted sockets, through an LD_PRELOAD shim.
        cx = os.path.join(work, "csr-cx.jsonl")
        make_csrs(S["csr_c1"], "BX", cx)
        pid = ca.start(preload=shim)
        r = lg.run(ca.url, cx, post_path="/api/v1/devices", concurrency=1,
                   requests=S["csr_c1"], duration=S["issue_cap_s"], server_pid=pid,
                   label="experiment nodelay single c1", **mfr)
        r.update(server="ca-server+TCP_NODELAY (experiment)", mode="single",
                 certs_per_s=r["rps"],
                 cpu_ms_per_cert=round(1000 * r["server_cpu_s"] / max(r["ok"], 1), 3))
        res["runs"].append(r)
        log("issuance ca-server+TCP_NODELAY c1: %.0f certs/s p50 %.1f ms p99 %.1f ms"
            % (r["rps"], r["p50_ms"], r["p99_ms"]))
        ca.stop()
    issued = count_devices(ca.db)
    res["registry_bytes_per_issued_device"] = round(
        (db_bytes(ca.db) - size0) / max(issued, 1), 1)
    res["issued_devices"] = issued

    # cfssl: the same CSRs (those of the concurrency-8 run), same load client.
    cf = stage_cfssl(S, ca, lg, work, cfssl_bodies)
    res["runs"].extend(cf)


SOFTHSM_MODULE = "/usr/lib/softhsm/libsofthsm2.so"


def softhsm_token(work):
    """A SoftHSM2 token in work/ (SOFTHSM2_CONF for every process started
    from here on) with one P-256 key generated in it (sensitive); returns
    the `ca-server init` options naming it as the Device CA key."""
    for need in ("softhsm2-util", "pkcs11-tool"):
        if shutil.which(need) is None:
            raise RuntimeError(need + " missing: scripts/setup.sh test installs softhsm2 and opensc")
    tokdir = os.path.join(work, "tokens")
    os.makedirs(tokdir)
    conf = os.path.join(work, "softhsm2.conf")
    with open(conf, "w") as f:
        f.write("directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\n" % tokdir)
    os.environ["SOFTHSM2_CONF"] = conf
    pin = "%06d" % random.randrange(10 ** 6)
    run(["softhsm2-util", "--init-token", "--free", "--label", "provca-bench",
         "--so-pin", "27182818", "--pin", pin])
    run(["pkcs11-tool", "--module", SOFTHSM_MODULE, "--token-label", "provca-bench",
         "--login", "--pin", pin, "--keypairgen", "--key-type", "EC:prime256v1",
         "--id", "01", "--label", "device-ca", "--sensitive"])
    pinfile = os.path.join(work, "token.pin")
    fd = os.open(pinfile, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.write(fd, (pin + "\n").encode())
    os.close(fd)
    return ["--device-key", "pkcs11:token=provca-bench;object=device-ca;type=private",
            "--pkcs11-module", SOFTHSM_MODULE, "--pkcs11-pin-file", pinfile]


def stage_hsm(R, S, lg, work, binp):
    """Issuance c8 and batch (c1) against two data folders made the same
    way but for the Device CA key -- a file, and a key in SoftHSM2 -- run
    one after the other with the same sizes, CSRs made fresh for each."""
    res = {"runs": []}
    R["hsm"] = res
    token = softhsm_token(work)
    cas = [("file", CA(binp, work, "ca-file")),
           ("softhsm2", CA(binp, work, "ca-hsm", init_extra=token))]
    for custody, ca in cas:
        c8 = os.path.join(work, "hsm-%s-c8.jsonl" % custody)
        make_csrs(S["csr_c8"], "H8" + custody[0], c8)
        bf = os.path.join(work, "hsm-%s-batch.jsonl" % custody)
        write_batches(make_csrs(S["batch_size"] * S["batch_n"], "HB" + custody[0],
                                os.path.join(work, "hsm-%s-bb.jsonl" % custody)),
                      S["batch_size"], bf)
        pid = ca.start()
        mfr = dict(cert=ca.mfr[0], key=ca.mfr[1], cacert=ca.root)
        r = lg.run(ca.url, c8, post_path="/api/v1/devices", concurrency=8,
                   requests=S["csr_c8"], duration=S["issue_cap_s"], server_pid=pid,
                   label="%s key single c8" % custody, **mfr)
        r.update(custody=custody, mode="single c8", certs_per_s=r["rps"],
                 cpu_ms_per_cert=round(1000 * r["server_cpu_s"] / max(r["ok"], 1), 3))
        res["runs"].append(r)
        b = lg.run(ca.url, bf, post_path="/api/v1/devices/batch", concurrency=1,
                   requests=S["batch_n"], duration=S["issue_cap_s"] * 2, server_pid=pid,
                   label="%s key batch c1" % custody, **mfr)
        certs = b["ok"] * S["batch_size"]
        b.update(custody=custody, mode="batch c1", batch_size=S["batch_size"],
                 certs_per_s=round(certs / b["seconds"], 1),
                 cpu_ms_per_cert=round(1000 * b["server_cpu_s"] / max(certs, 1), 3))
        res["runs"].append(b)
        ca.stop()
        log("hsm: %s key: c8 %.0f certs/s (%.2f ms CPU/cert), batch %.0f certs/s (%.2f ms CPU/cert)"
            % (custody, r["certs_per_s"], r["cpu_ms_per_cert"], b["certs_per_s"],
               b["cpu_ms_per_cert"]))
    for mode in ("single c8", "batch c1"):
        f = pick(res["runs"], custody="file", mode=mode)
        h = pick(res["runs"], custody="softhsm2", mode=mode)
        res["ratio_" + mode.replace(" ", "_")] = {
            "certs_per_s": ratio(h["certs_per_s"], f["certs_per_s"]),
            "cpu_ms_per_cert": ratio(h["cpu_ms_per_cert"], f["cpu_ms_per_cert"])}
        log("hsm: %s softhsm2 / file: %.3f of the rate, %.3f of the CPU per cert"
            % (mode, res["ratio_" + mode.replace(" ", "_")]["certs_per_s"],
               res["ratio_" + mode.replace(" ", "_")]["cpu_ms_per_cert"]))


# ---------------------------------------------------------- 7 postgresql

sys.path.insert(0, os.path.join(SRC, "tests", "pg"))
import pg_run  # noqa: E402  (tests/pg: the throwaway PostgreSQL 15 cluster)


def pg_cpu_seconds(data):
    """utime + stime of every process of the cluster in data (postmaster
    and its children, from /proc), plus the postmaster's cutime + cstime:
    what backends that already exited used."""
    with open(os.path.join(data, "postmaster.pid")) as f:
        master = int(f.readline())
    total = 0.0
    tck = os.sysconf("SC_CLK_TCK")
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue  # exited in between
        pid, ppid = int(d), int(fields[1])
        if pid == master:
            total += sum(int(x) for x in fields[11:15]) / tck
        elif ppid == master:
            total += (int(fields[11]) + int(fields[12])) / tck
    return total


def pg_sql(url, text):
    """Rows of one query on url through psql (fields split on '|')."""
    p = run([os.path.join(pg_run.PG_BIN, "psql"), "-X", "-q", "-A", "-t",
             "-v", "ON_ERROR_STOP=1", "-d", url, "-c", text], timeout=120)
    return [line.split("|") for line in p.stdout.splitlines() if line]


def engine_device_ids(ca, url):
    """Every DeviceID in the registry of ca (SQLite file, or url)."""
    if url:
        return [r[0] for r in pg_sql(url, "SELECT device_id FROM devices")]
    c = sqlite3.connect(ca.db)
    try:
        return [r[0] for r in c.execute("SELECT device_id FROM devices")]
    finally:
        c.close()


def pg_lookup_paths(ids, out, n=20000, seed=7):
    """n GET paths of DeviceIDs drawn at random from ids, one per line."""
    rnd = random.Random(seed)
    with open(out, "w") as f:
        for _ in range(n):
            f.write("/devices/%s\n" % rnd.choice(ids))


def pg_measured(runs, data=None):
    """Run the loadgen calls in runs (callables, each returning a result
    with server_cpu_s) at once; (their results, CPU seconds the
    PostgreSQL cluster in folder data used over the whole window, 0 when
    data is None)."""
    c0 = pg_cpu_seconds(data) if data else None
    out = [None] * len(runs)
    errs = []

    def go(i, fn):
        try:
            out[i] = fn()
        except Exception as e:  # reported after the join
            errs.append(e)
    th = [threading.Thread(target=go, args=(i, fn)) for i, fn in enumerate(runs)]
    for t in th:
        t.start()
    for t in th:
        t.join()
    if errs:
        raise errs[0]
    pg_s = round(pg_cpu_seconds(data) - c0, 3) if data else 0.0
    return out, pg_s


def pg_row(rs, pg_s, engine, nodes, kind, conc):
    """One figure from one or several loadgen results run at once: rate of
    2xx answers over the longest run, p50/p99 (the worst node's), CPU per
    request of ca-server (all nodes) and of PostgreSQL."""
    ok = sum(r["ok"] for r in rs)
    secs = max(r["seconds"] for r in rs)
    cs = sum(r["server_cpu_s"] for r in rs)
    row = {"engine": engine, "nodes": nodes, "kind": kind, "concurrency": conc,
           "ok": ok, "non2xx": sum(r["non2xx"] for r in rs),
           "failed": sum(r["failed"] for r in rs), "seconds": secs,
           "rps": round(ok / secs, 1) if secs else 0.0,
           "p50_ms": max(r["p50_ms"] for r in rs), "p99_ms": max(r["p99_ms"] for r in rs),
           "server_cpu_s": round(cs, 3), "pg_cpu_s": pg_s,
           "ca_cpu_us_per_req": round(1e6 * cs / max(ok, 1), 1),
           "pg_cpu_us_per_req": round(1e6 * pg_s / max(ok, 1), 1),
           "per_node": [{k: r[k] for k in ("ok", "rps", "p50_ms", "p99_ms", "server_cpu_s")}
                        for r in rs]}
    log("postgresql: %-10s %d node%s %-8s c%d: %7.0f req/s p50 %.2f ms p99 %.2f ms,"
        " ca-server %.0f µs/req, postgres %.0f µs/req" % (
            engine, nodes, "" if nodes == 1 else "s", kind, conc, row["rps"],
            row["p50_ms"], row["p99_ms"], row["ca_cpu_us_per_req"], row["pg_cpu_us_per_req"]))
    return row


def pg_issue_and_lookup(S, lg, work, engine, nodes, url, data):
    """Issuance (fresh CSRs, POST /api/v1/devices, c8 in all, split over
    the nodes) then lookup keep-alive (GET /devices/{id} over the devices
    the registry holds, c8 in all) against nodes (started CAs, each with
    its pid in .pid); two figures."""
    conc = 8 // len(nodes)
    n = S["csr_c8"] // len(nodes)
    ca0 = nodes[0]
    mfr = dict(cert=ca0.mfr[0], key=ca0.mfr[1], cacert=ca0.root)
    op = dict(cert=ca0.operator[0], key=ca0.operator[1], cacert=ca0.root)
    bodies = []
    for i in range(len(nodes)):
        f = os.path.join(work, "pg-%s-%d-%d.jsonl" % (engine, len(nodes), i))
        make_csrs(n, "P%s%d%d" % (engine[0].upper(), len(nodes), i), f)
        bodies.append(f)
    runs = [(lambda ca=ca, f=f, i=i: lg.run(
        ca.url, f, post_path="/api/v1/devices", concurrency=conc, requests=n,
        duration=S["issue_cap_s"], server_pid=ca.pid,
        label="%s %d-node issuance node %d c%d" % (engine, len(nodes), i, conc), **mfr))
        for i, (ca, f) in enumerate(zip(nodes, bodies))]
    rs, pg_s = pg_measured(runs, data)
    iss = pg_row(rs, pg_s, engine, len(nodes), "issuance", 8)
    paths = os.path.join(work, "pg-%s-%d-paths.txt" % (engine, len(nodes)))
    pg_lookup_paths(engine_device_ids(ca0, url), paths)
    runs = [(lambda ca=ca, i=i: lg.run(
        ca.url, paths, concurrency=conc, duration=S["lookup_s"], server_pid=ca.pid,
        label="%s %d-node lookup node %d c%d" % (engine, len(nodes), i, conc), **op))
        for i, ca in enumerate(nodes)]
    rs, pg_s = pg_measured(runs, data)
    return iss, pg_row(rs, pg_s, engine, len(nodes), "lookup", 8)


def pg_second_node(ca, name):
    """A second node on ca's database: a copy of its data folder (keys,
    certificates, config naming the database), its own log and port."""
    node = CA.__new__(CA)
    node.__dict__.update(ca.__dict__)
    node.dir = os.path.join(os.path.dirname(ca.dir), name)
    node.data = os.path.join(node.dir, "data")
    os.makedirs(node.dir)
    shutil.copytree(ca.data, node.data)
    node.proc = node.port = None
    return node


def pg_check_registry(url, expect):
    """The two-node run left one device per 201 and no duplicate
    certificate serial: counts read from the database."""
    (n_dev, n_cert, n_serial), = [[int(x) for x in r] for r in pg_sql(
        url, "SELECT (SELECT count(*) FROM devices), (SELECT count(*) FROM certificates"
        " WHERE issuer = 'device'), (SELECT count(DISTINCT serial_hex) FROM certificates"
        " WHERE issuer = 'device')")]
    if n_dev != expect or n_cert != expect or n_serial != expect:
        raise RuntimeError("postgresql: %d devices, %d device certificates, %d distinct"
                           " serials after %d acknowledged enrollments"
                           % (n_dev, n_cert, n_serial, expect))
    return {"devices": n_dev, "device_certificates": n_cert, "distinct_serials": n_serial}


def stage_postgresql(R, S, lg, work, binp):
    """Issuance c8 and lookup keep-alive c8 against two CAs made alike but
    for the registry -- SQLite in the data folder, and a throwaway
    PostgreSQL 15 cluster this stage starts (pg_run.py's) -- one after the
    other, then two `serve` nodes on the PostgreSQL database with the load
    split across both (c4 each, at once). The cluster is stopped on every
    way out of the stage."""
    res = {"runs": []}
    R["postgresql"] = res
    if not os.path.exists(os.path.join(pg_run.PG_BIN, "initdb")):
        raise RuntimeError("PostgreSQL 15 missing: scripts/setup.sh bench installs postgresql-15")
    cluster = pg_run.Cluster(work)
    started = []
    try:
        cluster.start()
        url = cluster.url()
        res["server"] = run([os.path.join(pg_run.PG_BIN, "postgres"), "--version"]).stdout.strip()
        res["server_options"] = cluster.opts.replace(cluster.dir, "$PGDIR")
        cas = [("sqlite", CA(binp, work, "ca-sqlite"), None),
               ("postgresql", CA(binp, work, "ca-pg", init_extra=("--db", url)), url)]
        for engine, ca, u in cas:
            ca.pid = ca.start()
            started.append(ca)
            res["runs"].extend(pg_issue_and_lookup(S, lg, work, engine, [ca], u,
                                                   cluster.data if u else None))
            ca.stop()
        before = int(pg_sql(url, "SELECT count(*) FROM devices")[0][0])
        a, b = cas[1][1], pg_second_node(cas[1][1], "ca-pg-b")
        for node in (a, b):
            node.pid = node.start()
            started.append(node)
        two = pg_issue_and_lookup(S, lg, work, "postgresql", [a, b], url, cluster.data)
        res["runs"].extend(two)
        for node in (a, b):
            node.stop()
        res["two_node_check"] = pg_check_registry(url, before + two[0]["ok"])
    finally:
        for ca in started:
            ca.stop()
        cluster.stop()
    pg_ratios(res)


def pg_ratios(res):
    """PostgreSQL ÷ SQLite (one node each) and two nodes ÷ one node."""
    for kind in ("issuance", "lookup"):
        s = pick(res["runs"], engine="sqlite", nodes=1, kind=kind)
        p = pick(res["runs"], engine="postgresql", nodes=1, kind=kind)
        p2 = pick(res["runs"], engine="postgresql", nodes=2, kind=kind)
        res["ratio_" + kind] = {
            "rps": ratio(p["rps"], s["rps"]),
            "p50_ms": ratio(p["p50_ms"], s["p50_ms"]),
            "ca_cpu_us_per_req": ratio(p["ca_cpu_us_per_req"], s["ca_cpu_us_per_req"]),
            "total_cpu_us_per_req": ratio(p["ca_cpu_us_per_req"] + p["pg_cpu_us_per_req"],
                                          s["ca_cpu_us_per_req"] + s["pg_cpu_us_per_req"]),
            "two_nodes_rps_vs_one": ratio(p2["rps"], p["rps"])}
        r = res["ratio_" + kind]
        log("postgresql: %s PostgreSQL ÷ SQLite: %.3f of the rate, ca-server CPU/req %.3f,"
            " ca-server+postgres CPU/req %.3f; two nodes ÷ one: %.3f of the rate" % (
                kind, r["rps"], r["ca_cpu_us_per_req"], r["total_cpu_us_per_req"],
                r["two_nodes_rps_vs_one"]))


def stage_cfssl(S, ca, lg, work, bodies):
    runs = []
    if shutil.which("cfssl") is None:
        log("cfssl: not installed, skipped")
        return runs
    # cfssl reads an unencrypted PEM key: an equivalent P-256 CA (the Device
    # CA's key stays in the CA's data folder, possibly encrypted).
    cdir = os.path.join(work, "cfssl")
    os.makedirs(cdir)
    k = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Bench Device CA")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(k.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now).not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .sign(k, hashes.SHA256()))
    with open(os.path.join(cdir, "ca.pem"), "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
    with open(os.path.join(cdir, "ca-key.pem"), "wb") as f:
        f.write(k.private_bytes(serialization.Encoding.PEM,
                                serialization.PrivateFormat.TraditionalOpenSSL,
                                serialization.NoEncryption()))
    port = server_port()
    argv = ["cfssl", "serve", "-address", "127.0.0.1", "-port", str(port),
            "-ca", os.path.join(cdir, "ca.pem"), "-ca-key", os.path.join(cdir, "ca-key.pem"),
            "-loglevel", "2"]
    p, _ = start(argv, None, os.path.join(cdir, "cfssl.log"))
    wait_tcp(port)
    n = sum(1 for _ in open(bodies))
    for conc in (1, 8):
        r = lg.run("http://127.0.0.1:%d" % port, bodies, post_path="/api/v1/cfssl/sign",
                   cacert=ca.root, concurrency=conc, requests=n if conc == 8 else S["csr_c1"],
                   duration=S["issue_cap_s"], server_pid=p.pid, label="cfssl c%d" % conc)
        r.update(server="cfssl", mode="single", certs_per_s=r["rps"],
                 cpu_ms_per_cert=round(1000 * r["server_cpu_s"] / max(r["ok"], 1), 3),
                 command_server=" ".join(argv))
        runs.append(r)
        log("issuance cfssl c%d: %.0f certs/s p50 %.1f ms p99 %.1f ms, %.2f ms CPU/cert"
            % (conc, r["rps"], r["p50_ms"], r["p99_ms"], r["cpu_ms_per_cert"]))
    PROCS.stop(p)
    return runs


def wait_tcp(port, timeout=10):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("nothing listens on port %d" % port)


# ---------------------------------------------------------- registry filler

def db_bytes(path):
    """Bytes the registry occupies: the database file plus its WAL."""
    total = 0
    for suffix in ("", "-wal"):
        if os.path.exists(path + suffix):
            total += os.path.getsize(path + suffix)
    return total


def count_devices(path):
    c = sqlite3.connect(path)
    try:
        return c.execute("SELECT count(*) FROM devices").fetchone()[0]
    finally:
        c.close()


def fill_registry(path, target, chunk=500000):
    """Grow the registry to `target` devices by replicating the rows real
    issuance wrote (device, certificate, audit entry) with distinct
    DeviceIDs, serials, certificate serial numbers and hashes. The
    certificate DER is copied from the real sample (so lookups return real
    bytes of the right size); ca-server must be stopped. Returns seconds."""
    c = sqlite3.connect(path, isolation_level=None)
    t0 = time.time()
    try:
        # No WAL while filling (every page would be written twice); the
        # registry is put back in WAL mode, as ca-server runs it, at the end.
        c.execute("PRAGMA journal_mode=DELETE")
        c.execute("PRAGMA synchronous=OFF")
        c.execute("PRAGMA cache_size=-400000")
        have = c.execute("SELECT count(*) FROM devices").fetchone()[0]
        c.execute("CREATE TEMP TABLE sample AS SELECT row_number() OVER () - 1 AS k,"
                  " d.manufacturer_id, d.model, d.hw_version, c.der, c.spki_sha256,"
                  " c.key_type, c.not_before, c.not_after, c.principal_id"
                  " FROM devices d JOIN certificates c ON c.device_id = d.device_id"
                  " WHERE d.device_id NOT LIKE 'bench%' LIMIT 1000")
        k = c.execute("SELECT count(*) FROM sample").fetchone()[0]
        if k == 0:
            raise RuntimeError("fill: no issued device to replicate")
        audit = c.execute("SELECT actor, action, details FROM audit WHERE"
                          " action = 'device.issue' LIMIT 1").fetchone()
        start_i = c.execute("SELECT count(*) FROM devices WHERE device_id LIKE 'bench%'"
                            ).fetchone()[0]
        n = target - have
        i = start_i
        end = start_i + max(n, 0)
        while i < end:
            j = min(end, i + chunk)
            c.execute("BEGIN")
            c.execute(
                "WITH RECURSIVE s(i) AS (SELECT ?1 UNION ALL SELECT i + 1 FROM s"
                " WHERE i + 1 < ?2)"
                " INSERT INTO devices(device_id, manufacturer_id, serial, model,"
                " hw_version, created_at, updated_at)"
                " SELECT printf('bench%09d', i), x.manufacturer_id, printf('BS%09d', i),"
                " x.model, x.hw_version, strftime('%s','now'), strftime('%s','now')"
                " FROM s JOIN sample x ON x.k = s.i % ?3", (i, j, k))
            c.execute(
                "WITH RECURSIVE s(i) AS (SELECT ?1 UNION ALL SELECT i + 1 FROM s"
                " WHERE i + 1 < ?2)"
                " INSERT INTO certificates(issuer, serial_hex, der, sha256, spki_sha256,"
                " key_type, not_before, not_after, device_id, principal_id, created_at)"
                " SELECT 'device', printf('7b%030x', i), x.der, printf('be%062x', i),"
                " x.spki_sha256, x.key_type, x.not_before, x.not_after,"
                " printf('bench%09d', i), x.principal_id, strftime('%s','now')"
                " FROM s JOIN sample x ON x.k = s.i % ?3", (i, j, k))
            if audit is not None:
                c.execute(
                    "WITH RECURSIVE s(i) AS (SELECT ?1 UNION ALL SELECT i + 1 FROM s"
                    " WHERE i + 1 < ?2)"
                    " INSERT INTO audit(at, actor, action, target, details)"
                    " SELECT strftime('%s','now'), ?3, ?4, printf('bench%09d', i), ?5"
                    " FROM s", (i, j, audit[0], audit[1], audit[2]))
            c.execute("COMMIT")
            i = j
            log("fill: %d / %d devices (%.0f s)" % (have + (i - start_i), target,
                                                    time.time() - t0))
        c.execute("PRAGMA journal_mode=WAL")
    finally:
        c.close()
    return time.time() - t0


def lookup_paths(path, n_dev, out, n=20000, seed=1):
    """Random DeviceIDs spread over the whole registry (replicated ones)."""
    rnd = random.Random(seed)
    with open(out, "w") as f:
        for _ in range(n):
            f.write("/devices/bench%09d\n" % rnd.randrange(n_dev))


def stage_lookup(R, S, ca, lg, work):
    res = {"runs": []}
    R["lookup"] = res
    t = fill_registry(ca.db, S["registry"])
    n_bench = count_bench(ca.db)
    res["registry_devices"] = count_devices(ca.db)
    res["fill_seconds"] = round(t, 1)
    paths = os.path.join(work, "lookup-paths.txt")
    lookup_paths(ca.db, n_bench, paths)
    pid = ca.start()
    op = dict(cert=ca.operator[0], key=ca.operator[1], cacert=ca.root)
    st, pem = ca.get("/devices/bench%09d" % 0)
    st2, doc = ca.get("/devices/bench%09d" % 0, "application/json")
    if st != 200 or st2 != 200:
        raise RuntimeError("lookup: GET answered %d/%d" % (st, st2))
    res["pem_bytes"], res["json_bytes"] = len(pem), len(doc)
    res["resumption_ours"] = resumption_probe(ca.port, ca.root, *ca.operator,
                                              "/devices/bench000000000")
    # nginx serves the same bytes; started now, measured interleaved.
    ng = Nginx(work, ca, pem, doc) if shutil.which("nginx") else None
    if ng is not None:
        res["resumption_nginx"] = resumption_probe(ng.port, ca.root, *ca.operator,
                                                   "/devices/x")
        res["nginx_config"] = ng.confpath
    servers = [("ca-server", ca.url, pid, paths)]
    if ng is not None:
        npaths = os.path.join(work, "nginx-paths.txt")
        with open(npaths, "w") as f:
            f.write("/devices/x\n")
        servers.append(("nginx", ng.url, ng.pids(), npaths))
    for fmt, accept in (("pem", None), ("json", "application/json")):
        for conc in S["lookup_conc"]:
            for name, url, spid, pth in servers:
                if name == "nginx" and fmt == "json":
                    pth = os.path.join(work, "nginx-json-paths.txt")
                    with open(pth, "w") as f:
                        f.write("/json/x\n")
                prof = None
                if name == "ca-server" and fmt == "pem" and conc == S["lookup_conc"][-1]:
                    prof = Profiler(R, [spid], min(S["perf_s"], S["lookup_s"]), "lookup-pem-c%d" % conc)
                r = lg_multi(lg, url, pth, spid, accept=accept, concurrency=conc,
                             duration=S["lookup_s"], label="%s %s c%d" % (name, fmt, conc),
                             **op)
                if prof is not None:
                    prof.done()
                r.update(server=name, format=fmt, mode="keep-alive")
                res["runs"].append(r)
                log("lookup %-9s %s keep-alive c%-2d: %7.0f req/s p50 %.2f ms p99 %.2f ms"
                    % (name, fmt, conc, r["rps"], r["p50_ms"], r["p99_ms"]))
    for resume in (True, False):
        for name, url, spid, pth in servers:
            r = lg_multi(lg, url, pth, spid, concurrency=S["hs_conc"],
                         duration=S["lookup_s"], handshake=True, resume=resume,
                         label="%s pem handshake%s" % (name, " resume" if resume else ""),
                         **op)
            r.update(server=name, format="pem",
                     mode="handshake+resume" if resume else "full handshake")
            res["runs"].append(r)
            log("lookup %-9s pem %-16s c%d: %7.0f req/s p50 %.2f ms p99 %.2f ms"
                % (name, r["mode"], S["hs_conc"], r["rps"], r["p50_ms"], r["p99_ms"]))
    if ng is not None:
        ng.stop()
    ca.stop()
    shim = R.get("_ctx", {}).get("shim")
    if shim:
        pid = ca.start(preload=shim)
        for conc in (S["lookup_conc"][0], S["lookup_conc"][-1]):
            r = lg_multi(lg, ca.url, paths, pid, concurrency=conc, duration=S["lookup_s"],
                         label="experiment nodelay pem c%d" % conc, **op)
            r.update(server="ca-server+TCP_NODELAY (experiment)", format="pem",
                     mode="keep-alive")
            res["runs"].append(r)
            log("lookup ca-server+TCP_NODELAY pem keep-alive c%-2d: %7.0f req/s p50 %.2f ms"
                " p99 %.2f ms" % (conc, r["rps"], r["p50_ms"], r["p99_ms"]))
        ca.stop()


def count_bench(path):
    c = sqlite3.connect(path)
    try:
        return c.execute("SELECT count(*) FROM devices WHERE device_id LIKE 'bench%'"
                         ).fetchone()[0]
    finally:
        c.close()


def lg_multi(lg, url, paths, pids, **kw):
    """loadgen against a server of one or several processes (nginx)."""
    if isinstance(pids, list):
        c0 = sum(cpu_seconds(p) for p in pids)
        r = lg.run(url, paths, **kw)
        r["server_cpu_s"] = round(sum(cpu_seconds(p) for p in pids) - c0, 3)
    else:
        r = lg.run(url, paths, server_pid=pids, **kw)
    r["cpu_us_per_req"] = round(1e6 * r["server_cpu_s"] / max(r["ok"], 1), 1)
    return r


class Nginx:
    """nginx: 2 workers, TLS 1.3 only, client certificates required from the
    CA's Infrastructure CA, the ca-server's own TLS key and certificate,
    serving the same PEM / JSON bytes as static files."""

    def __init__(self, work, ca, pem, doc):
        self.ca = ca
        self.dir = os.path.join(work, "nginx")
        www = os.path.join(self.dir, "www")
        os.makedirs(www)
        os.chmod(self.dir, 0o755)
        os.chmod(www, 0o755)
        for name, data in (("chain.pem", pem), ("doc.json", doc)):
            with open(os.path.join(www, name), "wb") as f:
                f.write(data)
            os.chmod(os.path.join(www, name), 0o644)
        self.port = server_port()
        d = self.dir
        conf = """worker_processes 2;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections 4096; }}
http {{
  access_log {d}/access.log;
  client_body_temp_path {d}/tmp-body;
  proxy_temp_path {d}/tmp-proxy;
  fastcgi_temp_path {d}/tmp-fcgi;
  uwsgi_temp_path {d}/tmp-uwsgi;
  scgi_temp_path {d}/tmp-scgi;
  keepalive_requests 100000000;
  keepalive_timeout 60s;
  server {{
    listen 127.0.0.1:{port} ssl;
    ssl_protocols TLSv1.3;
    ssl_certificate {crt};
    ssl_certificate_key {key};
    ssl_client_certificate {cli};
    ssl_verify_client on;
    ssl_verify_depth 3;
    ssl_session_cache shared:SSL:10m;
    ssl_session_tickets on;
    ssl_session_timeout 5m;
    root {www};
    location /devices/ {{ default_type application/pem-certificate-chain; try_files /chain.pem =404; }}
    location /json/ {{ default_type application/json; try_files /doc.json =404; }}
  }}
}}
""".format(d=d, port=self.port, crt=os.path.join(ca.data, "server.crt"),
           key=os.path.join(ca.data, "server.key"), cli=client_ca(ca), www=www)
        self.confpath = os.path.join(d, "nginx.conf")
        with open(self.confpath, "w") as f:
            f.write(conf)
        argv = ["nginx", "-p", d, "-c", self.confpath, "-e", os.path.join(d, "error.log"),
                "-g", "daemon off;"]
        self.proc = PROCS.add(subprocess.Popen(argv, stdout=subprocess.DEVNULL,
                                               stderr=open(os.path.join(d, "stderr.log"), "wb"),
                                               start_new_session=True))
        wait_tcp(self.port)
        self.url = "https://127.0.0.1:%d" % self.port
        st, body = self.get("/devices/x")
        if st != 200 or body != pem:
            raise RuntimeError("nginx does not serve the PEM (%d)" % st)

    def get(self, path):
        return tls_get(self.port, self.ca.root, self.ca.operator, path)

    def pids(self):
        """The master and its workers (all CPU nginx spends)."""
        out = [self.proc.pid]
        for d in os.listdir("/proc"):
            if d.isdigit():
                try:
                    with open("/proc/%s/stat" % d) as f:
                        if int(f.read().rsplit(")", 1)[1].split()[1]) == self.proc.pid:
                            out.append(int(d))
                except (OSError, ValueError, IndexError):
                    pass
        return out

    def stop(self):
        PROCS.stop(self.proc)


def client_ca(ca):
    """The CA that issues operator certificates (the Infrastructure CA),
    with the Root, as nginx's ssl_client_certificate."""
    path = os.path.join(ca.dir, "client-ca.pem")
    with open(path, "w") as f:
        for p in (ca.infra, ca.root):
            with open(p) as g:
                f.write(g.read())
    return path


# ------------------------------------------------------------ provisioning

def perf_works():
    """perf record with a software clock works here? (hardware counters
    are often absent in VMs: `perf stat -e instructions true` says so)."""
    if shutil.which("perf") is None:
        return {"available": False, "why": "perf not installed"}
    p = run(["perf", "stat", "-e", "instructions", "true"], check=False)
    hw = "not supported" not in p.stderr and p.returncode == 0
    q = run(["perf", "record", "-e", "cpu-clock", "-o", "/dev/null", "true"], check=False)
    return {"available": q.returncode == 0, "hardware_counters": hw,
            "why": "" if q.returncode == 0 else q.stderr.strip()[-200:]}


def perf_profile(pids, seconds, out):
    """Sample the given processes for `seconds` (cpu-clock, DWARF call
    graphs: the Release build keeps no frame pointers) and write to out the
    split by library and the functions with the most inclusive time."""
    data = out + ".data"
    argv = ["perf", "record", "-q", "-e", "cpu-clock", "-F", "199", "--call-graph",
            "dwarf,16384", "-p", ",".join(str(p) for p in pids), "-o", data, "--",
            "sleep", str(seconds)]
    p = run(argv, check=False, timeout=seconds + 120)
    if p.returncode != 0 or not os.path.exists(data):
        return None
    parts = ["# " + " ".join(argv).replace(data, "perf.data")]
    for title, extra in (("by library (self time)", ["--no-children", "--sort", "dso",
                                                      "--percent-limit", "0.5", "-g", "none"]),
                         ("by function, inclusive (children)", [
                             "--children", "--sort", "sym", "--percent-limit", "3",
                             "-g", "none"])):
        rep = run(["perf", "report", "-i", data, "--stdio"] + extra, check=False,
                  timeout=600)
        lines = [l for l in rep.stdout.splitlines() if l.strip() and not l.startswith("#")]
        parts.append("## " + title)
        parts += lines[:60]
        if not lines:
            os.unlink(data)
            return None  # no samples: the load ended before perf attached
    os.unlink(data)
    text = "\n".join(parts) + "\n"
    with open(out, "w") as f:
        f.write(text)
    return text


def stage_provisioning(R, S, ca, work, binp, outdir, stamp):
    res = {"levels": []}
    R["provisioning"] = res
    res["perf"] = R.get("_ctx", {}).get("perf")
    pid = ca.start()
    cdir = os.path.join(work, "core")
    os.makedirs(cdir)
    cfg = os.path.join(cdir, "corehook.json")
    ch = os.path.join(binp, "corehook")
    run([ch, "init", "--config", cfg, "--ca-url", ca.url, "--client-cert", ca.operator[0],
         "--client-key", ca.operator[1], "--ca-root", ca.root, "--signer-cert",
         ca.signer[0], "--signer-chain", ca.signer[0][:-len(".crt")] + "-chain.pem",
         "--signer-key", ca.signer[1]])
    with open(cfg) as f:
        c = json.load(f)
    c.setdefault("listen", {})
    c["listen"]["nas_udp"] = "127.0.0.1:0"
    c["listen"]["http"] = "127.0.0.1:0"
    with open(cfg, "w") as f:
        json.dump(c, f, indent=1)
    core, port = start([ch, "serve", "--config", cfg], r"nas udp 127\.0\.0\.1:(\d+)",
                       os.path.join(cdir, "corehook.log"))
    res["corehook_command"] = "%s serve --config %s" % (ch, cfg)
    for conc, count in S["swarm"]:
        sdir = os.path.join(work, "swarm-c%d" % conc)
        base = [os.path.join(binp, "ueclient"), "swarm", "--count", str(count),
                "--concurrency", str(conc), "--ca", ca.url, "--cert", ca.mfr[0],
                "--key", ca.mfr[1], "--root", ca.root,
                "--manufacturer-id", "acme", "--core", "127.0.0.1:%s" % port,
                "--set", sdir, "--deadline-s", str(S["swarm_deadline"]), "--json"]
        level = {"concurrency": conc, "count": count}
        # The measured pass keeps each simulated device's credentials in
        # memory (--volatile): the devices' own flash is not part of the
        # network under test, and writing thousands of credentials files on
        # this machine's disk cost ~30 % of the swarm's CPU.
        for phase, extra in (("first", []), ("reprovision", ["--reprovision", "--volatile"])):
            argv = base + extra
            if phase == "reprovision":
                # Only the devices the first pass started have keys and a
                # certificate; the second pass measures exactly those.
                started = level["first"]["total"] - level["first"]["not_started"]
                if started < 1:
                    break
                argv[argv.index("--count") + 1] = str(started)
            c0, k0 = cpu_seconds(pid), cpu_seconds(core.pid)
            prof = None
            if phase == "reprovision" and conc == S["swarm"][-1][0]:
                prof = Profiler(R, [pid, core.pid], S["perf_s"], "provisioning")
            p = run(argv, check=False, timeout=S["swarm_deadline"] + 300)
            if prof is not None:
                prof.done()
            try:
                j = json.loads(p.stdout)
            except ValueError:
                raise RuntimeError("swarm printed no JSON (%d): %s" % (p.returncode,
                                                                      p.stderr[-1000:]))
            j["command"] = " ".join(argv)
            j["ca_cpu_s"] = round(cpu_seconds(pid) - c0, 3)
            j["corehook_cpu_s"] = round(cpu_seconds(core.pid) - k0, 3)
            level[phase] = j
            log("provisioning c%-3d %-11s: %d/%d done, %.0f flows/s, prov p50/p99 %s/%s ms,"
                " reg p50/p99 %s/%s ms%s" % (
                    conc, phase, j["completed"], j["total"], j["flows_per_s"],
                    j["provisioning_ms"]["p50"], j["provisioning_ms"]["p99"],
                    j["registration_ms"]["p50"], j["registration_ms"]["p99"],
                    (", failures %s" % j["failures"]) if j["failures"] else ""))
        res["levels"].append(level)
    PROCS.stop(core)
    ca.stop()


# ------------------------------------------------------------------- scale

def hold_connections(port, root, ident, n, timeout):
    """Open n TCP connections at once and take each through a TLS handshake
    with the client certificate, without closing any; returns (sockets,
    TCP connections established, TLS handshakes completed) after at most
    timeout s. A connect the server has not accepted yet stays pending (its
    SYN waits in the listen backlog) rather than counting as refused; TLS
    starts on a socket only once its TCP connect completed, and each socket
    is polled only for what its handshake waits on (no busy loop)."""
    try:
        import resource
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        want = n + 256
        if soft < want:
            resource.setrlimit(resource.RLIMIT_NOFILE,
                               (want if hard == resource.RLIM_INFINITY else min(want, hard), hard))
    except (ImportError, ValueError, OSError):
        pass
    ctx = ssl.create_default_context(cafile=root)
    ctx.load_cert_chain(*ident)
    sel = selectors.DefaultSelector()
    raws, tls, connected, done = [], [], 0, 0
    for _ in range(n):
        raw = socket.socket()
        raw.setblocking(False)
        # Spread over eight loopback addresses: the server holds at most
        # max_connections_per_address (256) connections per address.
        raw.bind(("127.0.0.%d" % (1 + len(raws) % 8), 0))
        err = raw.connect_ex(("127.0.0.1", port))
        if err not in (0, errno.EINPROGRESS, errno.EAGAIN):
            raw.close()
            log("scale: stopped opening connections at %d: %s" % (len(raws), os.strerror(err)))
            break
        raws.append(raw)
        sel.register(raw, selectors.EVENT_WRITE, "connect")
    deadline = time.time() + timeout
    pending = len(raws)
    while pending and time.time() < deadline:
        for key, _ in sel.select(timeout=0.2):
            s, state = key.fileobj, key.data
            if state == "connect":
                sel.unregister(s)
                if s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) != 0:
                    pending -= 1
                    continue
                connected += 1
                s = ctx.wrap_socket(s, server_hostname="127.0.0.1",
                                    do_handshake_on_connect=False)
                tls.append(s)
            else:
                sel.unregister(s)
            try:
                s.do_handshake()
                pending -= 1
                done += 1
            except ssl.SSLWantReadError:
                sel.register(s, selectors.EVENT_READ, "tls")
            except ssl.SSLWantWriteError:
                sel.register(s, selectors.EVENT_WRITE, "tls")
            except (OSError, ssl.SSLError):
                pending -= 1
    sel.close()
    # wrap_socket took over the descriptors of the connected ones.
    return tls + [r for r in raws if r.fileno() >= 0], connected, done


def lookup_latency(ca, lg, work, n_bench, S, label, preload=None):
    paths = os.path.join(work, "scale-paths-%s.txt" % label)
    lookup_paths(ca.db, n_bench, paths, seed=7)
    op = dict(cert=ca.operator[0], key=ca.operator[1], cacert=ca.root)
    pid = ca.start(preload=preload)
    lg.run(ca.url, paths, concurrency=1, duration=max(1, S["lookup_s"] / 4),
           label="warm-up %s" % label, **op)
    r = lg.run(ca.url, paths, concurrency=1, duration=S["lookup_s"], server_pid=pid,
               label="lookup %s" % label, **op)
    r["registry_devices"] = count_devices(ca.db)
    return r, pid


def stage_scale(R, S, ca, lg, work):
    res = {}
    R["scale"] = res
    if count_bench(ca.db) < S["registry"]:
        fill_registry(ca.db, S["registry"])
    small = count_devices(ca.db)
    shim = R.get("_ctx", {}).get("shim")
    if shim:
        # The stock server's ~40 ms Nagle/delayed-ACK stall hides the
        # database; with TCP_NODELAY the registry's share is visible.
        res["lookup_small_nodelay"], _ = lookup_latency(ca, lg, work, count_bench(ca.db), S,
                                                        "small-nodelay", preload=shim)
        ca.stop()
    r_small, _ = lookup_latency(ca, lg, work, count_bench(ca.db), S, "small")
    ca.stop()
    t = fill_registry(ca.db, S["scale_big"])
    res["fill_seconds"] = round(t, 1)
    c = sqlite3.connect(ca.db)
    c.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    page = c.execute("PRAGMA page_size").fetchone()[0]
    pages = c.execute("PRAGMA page_count").fetchone()[0]
    free = c.execute("PRAGMA freelist_count").fetchone()[0]
    c.close()
    big = count_devices(ca.db)
    res["registry_devices"] = big
    res["database_bytes"] = db_bytes(ca.db)
    res["bytes_per_device"] = round(res["database_bytes"] / big, 1)
    res["pages"] = {"page_size": page, "page_count": pages, "freelist": free}
    if shim:
        res["lookup_big_nodelay"], _ = lookup_latency(ca, lg, work, count_bench(ca.db), S,
                                                      "big-nodelay", preload=shim)
        ca.stop()
        res["lookup_nodelay_p50_ratio"] = round(res["lookup_big_nodelay"]["p50_ms"] /
                                                res["lookup_small_nodelay"]["p50_ms"], 3)
        res["lookup_nodelay_p99_ratio"] = round(res["lookup_big_nodelay"]["p99_ms"] /
                                                res["lookup_small_nodelay"]["p99_ms"], 3)
    r_big, pid = lookup_latency(ca, lg, work, count_bench(ca.db), S, "big")
    res["lookup_small"] = r_small
    res["lookup_big"] = r_big
    res["lookup_p50_ratio"] = round(r_big["p50_ms"] / r_small["p50_ms"], 3)
    res["lookup_p99_ratio"] = round(r_big["p99_ms"] / r_small["p99_ms"], 3)
    log("scale: %d -> %d devices, %.0f bytes/device, lookup p50 %.3f -> %.3f ms (x%.2f)"
        % (small, big, res["bytes_per_device"], r_small["p50_ms"], r_big["p50_ms"],
           res["lookup_p50_ratio"]))

    # Memory: idle (after one request), then with many connections held open.
    time.sleep(1)
    res["rss_idle_kib"] = proc_status(pid)["VmRSS"]
    socks, connected, done = hold_connections(ca.port, ca.root, ca.operator, S["conns"],
                                              S["conns_timeout_s"])
    st = proc_status(pid)
    res["rss_connections_kib"] = st["VmRSS"]
    res["connections_opened"] = len(socks)
    res["connections_tcp_established"] = connected
    res["connections_tls_established"] = done
    res["server_threads"] = st["Threads"]
    for s in socks:
        try:
            s.close()
        except OSError:
            pass
    log("scale: ca-server RSS idle %d KiB, with %d connections (%d TLS up) %d KiB"
        % (res["rss_idle_kib"], len(socks), done, res["rss_connections_kib"]))
    ca.stop()

    # CRL with many revoked entries, generated by `ca-server crl`.
    n = min(S["crl_revoked"], count_bench(ca.db))
    c = sqlite3.connect(ca.db, isolation_level=None)
    c.execute("PRAGMA synchronous=OFF")
    c.execute("BEGIN")
    c.execute("UPDATE devices SET status = 'revoked', reason = 1, revoked_at ="
              " strftime('%s','now'), version = version + 1 WHERE device_id IN"
              " (SELECT device_id FROM devices WHERE device_id LIKE 'bench%'"
              " AND status = 'active' ORDER BY device_id LIMIT ?)", (n,))
    c.execute("UPDATE counters SET value = value + 1 WHERE name = 'crl_generation'")
    c.execute("COMMIT")
    c.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    revoked = c.execute("SELECT count(*) FROM devices WHERE status <> 'active'").fetchone()[0]
    c.close()
    out = os.path.join(work, "device.crl")
    argv = [os.path.join(ca.bin, "ca-server"), "crl", "--data", ca.data, "--out", out]
    t0 = time.time()
    run(argv)
    res["crl_seconds"] = round(time.time() - t0, 2)
    res["crl_command"] = " ".join(argv)
    res["crl_revoked"] = revoked
    res["crl_bytes"] = os.path.getsize(out)
    with open(out, "rb") as f:
        crl = x509.load_der_x509_crl(f.read())
    res["crl_entries_checked"] = len(crl)
    log("scale: CRL with %d revoked entries in %.2f s (%d bytes)"
        % (len(crl), res["crl_seconds"], res["crl_bytes"]))


# ------------------------------------------------------------------ report

def pick(runs, **kw):
    for r in runs:
        if all(r.get(k) == v for k, v in kw.items()):
            return r
    return None


def ratio(a, b):
    return round(a / b, 3) if a is not None and b else None


def verdict(value, target, higher_is_better=True):
    if value is None:
        return "not measured"
    ok = value >= target if higher_is_better else value <= target
    return "met" if ok else "missed"


def summarise(R):
    """The headline ratios against the issue's targets."""
    rows = []
    ceil = R.get("ceilings", {}).get("issuance_ceiling")
    iss = R.get("issuance", {}).get("runs", [])
    o8 = pick(iss, server="ca-server", mode="single", concurrency=8)
    o1 = pick(iss, server="ca-server", mode="single", concurrency=1)
    f8 = pick(iss, server="cfssl", concurrency=8)
    f1 = pick(iss, server="cfssl", concurrency=1)
    batches = [r for r in iss if r.get("mode") == "batch"]
    best_b = max(batches, key=lambda r: r["certs_per_s"]) if batches else None

    def row(name, ours, peer, peer_name, target, higher=True, unit=""):
        v = ratio(ours, peer) if peer_name else ours
        rows.append({"metric": name, "ours": ours, "peer": peer, "peer_name": peer_name,
                     "ratio": v if peer_name else None, "target": target,
                     "verdict": verdict(v, target, higher) if target is not None else "",
                     "unit": unit})

    if o1:
        row("issuance c1, certs/s (ours ÷ cfssl)", o1["certs_per_s"],
            f1 and f1["certs_per_s"], "cfssl", None)
    if o8:
        row("issuance c8, certs/s (ours ÷ cfssl)", o8["certs_per_s"],
            f8 and f8["certs_per_s"], "cfssl", TARGETS["issuance_c8_vs_cfssl"])
        row("issuance c8 ÷ crypto ceiling", o8["certs_per_s"], ceil, "ceiling", None)
    if best_b:
        row("batch issuance ÷ crypto ceiling (certs/s)", best_b["certs_per_s"], ceil,
            "ceiling", TARGETS["batch_vs_ceiling"])
    if f8:
        row("cfssl c8 ÷ crypto ceiling", f8["certs_per_s"], ceil, "ceiling", None)
    lk = R.get("lookup", {}).get("runs", [])
    for fmt in ("pem", "json"):
        for r in [x for x in lk if x["server"] == "ca-server" and x["format"] == fmt
                  and x["mode"] == "keep-alive"]:
            n = pick(lk, server="nginx", format=fmt, mode="keep-alive",
                     concurrency=r["concurrency"])
            row("lookup %s keep-alive c%d, req/s (ours ÷ nginx)" % (fmt, r["concurrency"]),
                r["rps"], n and n["rps"], "nginx", TARGETS["lookup_keepalive_vs_nginx"])
    for mode in ("handshake+resume", "full handshake"):
        r = pick(lk, server="ca-server", mode=mode)
        n = pick(lk, server="nginx", mode=mode)
        if r:
            row("lookup pem %s c%d, req/s (ours ÷ nginx)" % (mode, r["concurrency"]),
                r["rps"], n and n["rps"], "nginx", TARGETS["lookup_handshake_vs_nginx"])
    xp = "ca-server+TCP_NODELAY (experiment)"
    for r in [x for x in lk if x["server"] == xp]:
        n = pick(lk, server="nginx", format=r["format"], mode=r["mode"],
                 concurrency=r["concurrency"])
        row("experiment TCP_NODELAY: lookup pem keep-alive c%d (ours ÷ nginx)"
            % r["concurrency"], r["rps"], n and n["rps"], "nginx", None)
    xi = pick(iss, server=xp)
    if xi:
        row("experiment TCP_NODELAY: issuance c1 (ours ÷ cfssl)", xi["certs_per_s"],
            f1 and f1["certs_per_s"], "cfssl", None)
    pv = R.get("provisioning", {}).get("levels", [])
    if pv:
        best = max(pv, key=lambda L: L.get("reprovision", {}).get("flows_per_s", 0))
        rp = best.get("reprovision", {})
        row("provisioning flows/s (best level, c%d)" % best["concurrency"],
            rp.get("flows_per_s"), None, None, TARGETS["provisioning_flows_per_s"])
        row("provisioning p99 ms at that level", rp.get("provisioning_ms", {}).get("p99"),
            None, None, TARGETS["provisioning_p99_ms"], higher=False)
    sc = R.get("scale", {})
    if "lookup_p50_ratio" in sc:
        row("lookup p50 at %d ÷ at %d devices" % (sc["lookup_big"]["registry_devices"],
                                                  sc["lookup_small"]["registry_devices"]),
            sc["lookup_big"]["p50_ms"], sc["lookup_small"]["p50_ms"], "small registry",
            TARGETS["lookup_big_vs_small"], higher=False)
        if "lookup_big_nodelay" in sc:
            row("same, server with TCP_NODELAY (experiment)",
                sc["lookup_big_nodelay"]["p50_ms"], sc["lookup_small_nodelay"]["p50_ms"],
                "small registry", TARGETS["lookup_big_vs_small"], higher=False)
        row("database bytes per device", sc["bytes_per_device"], None, None,
            TARGETS["bytes_per_device"], higher=False)
    pg = R.get("postgresql", {})
    for kind in ("issuance", "lookup"):
        s = pick(pg.get("runs", []), engine="sqlite", nodes=1, kind=kind)
        p = pick(pg.get("runs", []), engine="postgresql", nodes=1, kind=kind)
        if s and p:
            row("%s c8 on PostgreSQL, req/s (÷ SQLite)" % kind, p["rps"], s["rps"],
                "SQLite", None)
            row("%s c8, ca-server + postgres CPU µs/req (PostgreSQL ÷ SQLite)" % kind,
                p["ca_cpu_us_per_req"] + p["pg_cpu_us_per_req"],
                s["ca_cpu_us_per_req"] + s["pg_cpu_us_per_req"], "SQLite", None)
    return rows


def fmt(v):
    if v is None:
        return "–"
    if isinstance(v, float):
        return "%.3g" % v if abs(v) < 10 else "%.0f" % v
    return str(v)


def markdown(R, commands):
    L = []
    for name in ("ceilings", "issuance", "lookup", "provisioning", "scale", "hsm",
                 "postgresql"):
        if name in R and name in R.get("errors", {}):
            R.setdefault("partial", {})[name] = R.pop(name)
    m = R["meta"]
    L.append("# ProvCA benchmark — %s (%s scale)" % (m["date"], m["scale"]))
    L.append("")
    L.append("Machine: %s, %d cores, %s; %s; SQLite %s; git %s. Client and servers "
             "share the machine, loopback only. Load average at start %s, at end %s. "
             "`%s` took %.0f s." % (
                 m["cpu"], m["cores"], m["kernel"], m["openssl"], m["sqlite"], m["git"],
                 "/".join("%.1f" % x for x in m["loadavg_start"]),
                 "/".join("%.1f" % x for x in m.get("loadavg_end", (0, 0, 0))),
                 m["command"], m.get("seconds", 0)))
    L.append("")
    L.append("## Against the targets")
    L.append("")
    L.append("| metric | ours | peer / base | ratio | target | verdict |")
    L.append("| --- | ---: | ---: | ---: | ---: | --- |")
    for r in R["summary"]:
        L.append("| %s | %s | %s | %s | %s | %s |" % (
            r["metric"], fmt(r["ours"]), fmt(r["peer"]), fmt(r["ratio"]),
            fmt(r["target"]), r["verdict"]))
    if "ceilings" in R:
        c = R["ceilings"]
        L += ["", "## 1. Ceilings (`%s`)" % c["command"], "",
              "| ECDSA P-256 sign/s | verify/s | ECDH P-256 op/s | issuance ceiling per core"
              " (1 verify + 1 sign) | × %d cores |" % c["cores"],
              "| ---: | ---: | ---: | ---: | ---: |",
              "| %.0f | %.0f | %.0f | %.0f | %.0f |" % (
                  c["ecdsa_p256_sign_per_s"], c["ecdsa_p256_verify_per_s"],
                  c["ecdh_p256_per_s"], c["issuance_ceiling_per_core"],
                  c["issuance_ceiling"])]
        if c.get("fdatasync_ms_p50") is not None:
            L += ["", "Disk: 4 KiB append + `fdatasync` in the work folder (as a WAL commit"
                  " does), 300 times: p50 %.2f ms, p90 %.2f ms. Durable issuance with 8"
                  " requests in flight cannot exceed 8 ÷ p50 = %.0f certs/s (Little's law),"
                  " even if one flush served all 8." % (
                      c["fdatasync_ms_p50"], c["fdatasync_ms_p90"], c["durable_c8_bound"])]
    if "issuance" in R:
        ceil = R.get("ceilings", {}).get("issuance_ceiling")
        L += ["", "## 2. Issuance", "",
              "| server | mode | concurrency | requests ok | certs/s | p50 ms | p99 ms |"
              " server CPU ms/cert | ÷ ceiling |",
              "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
        for r in R["issuance"]["runs"]:
            mode = r["mode"] + (" ×%d" % r["batch_size"] if r["mode"] == "batch" else "")
            L.append("| %s | %s | %d | %d | %.0f | %.1f | %.1f | %.2f | %s |" % (
                r["server"], mode, r["concurrency"], r["ok"], r["certs_per_s"],
                r["p50_ms"], r["p99_ms"], r["cpu_ms_per_cert"], fmt(ratio(r["certs_per_s"], ceil))))
        L.append("")
        L.append("Registry growth per issued device (real issuance, %d devices): %s bytes." % (
            R["issuance"].get("issued_devices", 0),
            fmt(R["issuance"].get("registry_bytes_per_issued_device"))))
    if "lookup" in R:
        lk = R["lookup"]
        L += ["", "## 3. Lookup (registry of %d devices; PEM %d bytes, JSON %d bytes)" % (
            lk["registry_devices"], lk["pem_bytes"], lk["json_bytes"]), "",
            "TLS session resumption: ca-server %s, nginx %s." % (
                lk.get("resumption_ours"), lk.get("resumption_nginx")), "",
            "| server | format | connection | concurrency | req/s | p50 ms | p99 ms |"
            " server CPU µs/req | ours ÷ nginx |",
            "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
        for r in lk["runs"]:
            n = pick(lk["runs"], server="nginx", format=r["format"], mode=r["mode"],
                     concurrency=r["concurrency"])
            rr = ratio(r["rps"], n["rps"]) if (n and r["server"] != "nginx") else None
            L.append("| %s | %s | %s | %d | %.0f | %.2f | %.2f | %.0f | %s |" % (
                r["server"], r["format"], r["mode"], r["concurrency"], r["rps"],
                r["p50_ms"], r["p99_ms"], r["cpu_us_per_req"], fmt(rr)))
    if "provisioning" in R:
        pv = R["provisioning"]
        L += ["", "## 4. Provisioning (`ueclient swarm` → corehook → ca-server)", "",
              "perf: %s" % json.dumps(pv.get("perf")),
              "",
              "| concurrency | phase | completed/total | flows/s | prov p50/p95/p99 ms |"
              " reg p50/p95/p99 ms | whole flow p99 ms | retransmissions |"
              " CPU s ca-server / corehook | failures |",
              "| ---: | --- | ---: | ---: | --- | --- | ---: | ---: | --- | --- |"]
        for lv in pv["levels"]:
            for ph in ("first", "reprovision"):
                j = lv.get(ph)
                if not j:
                    continue
                p, g = j["provisioning_ms"], j["registration_ms"]
                L.append("| %d | %s | %d/%d | %.0f | %s/%s/%s | %s/%s/%s | %s | %s | %.1f / %.1f | %s |" % (
                    lv["concurrency"], ph, j["completed"], j["total"], j["flows_per_s"],
                    p["p50"], p["p95"], p["p99"], g["p50"], g["p95"], g["p99"],
                    j.get("flow_ms", {}).get("p99", "–"), j.get("retransmissions", "–"),
                    j["ca_cpu_s"], j["corehook_cpu_s"],
                    "; ".join("%s ×%d" % (f["cause"], f["count"]) for f in j["failures"]) or "none"))
    if "scale" in R:
        s = R["scale"]
        L += ["", "## 5. Scale", "",
              "| figure | value |", "| --- | ---: |",
              "| devices | %d |" % s["registry_devices"],
              "| database bytes (file + WAL) | %d |" % s["database_bytes"],
              "| bytes per device | %.0f |" % s["bytes_per_device"],
              "| lookup c1 p50 / p99 ms at %d devices | %.3f / %.3f |" % (
                  s["lookup_small"]["registry_devices"], s["lookup_small"]["p50_ms"],
                  s["lookup_small"]["p99_ms"]),
              "| lookup c1 p50 / p99 ms at %d devices | %.3f / %.3f |" % (
                  s["lookup_big"]["registry_devices"], s["lookup_big"]["p50_ms"],
                  s["lookup_big"]["p99_ms"]),
              "| big ÷ small p50 / p99 | %.2f / %.2f |" % (s["lookup_p50_ratio"],
                                                            s["lookup_p99_ratio"])]
        if "lookup_big_nodelay" in s:
            L += ["| with TCP_NODELAY (experiment): p50 / p99 ms small | %.3f / %.3f |" % (
                      s["lookup_small_nodelay"]["p50_ms"], s["lookup_small_nodelay"]["p99_ms"]),
                  "| with TCP_NODELAY (experiment): p50 / p99 ms big | %.3f / %.3f |" % (
                      s["lookup_big_nodelay"]["p50_ms"], s["lookup_big_nodelay"]["p99_ms"]),
                  "| with TCP_NODELAY (experiment): big ÷ small p50 / p99 | %.2f / %.2f |" % (
                      s["lookup_nodelay_p50_ratio"], s["lookup_nodelay_p99_ratio"])]
        L += [
              "| CRL generation, %d revoked entries (`ca-server crl`) | %.2f s, %d bytes |" % (
                  s["crl_entries_checked"], s["crl_seconds"], s["crl_bytes"]),
              "| ca-server RSS idle | %d KiB |" % s["rss_idle_kib"],
              "| ca-server RSS, %d connections open (%d TCP, %d TLS established; %d threads) | %d KiB |" % (
                  s["connections_opened"], s.get("connections_tcp_established", 0),
                  s["connections_tls_established"], s.get("server_threads", 0),
                  s["rss_connections_kib"]),
              "| registry fill time (replication through SQL) | %.0f s |" % s["fill_seconds"]]
    if "hsm" in R and "ratio_single_c8" in R["hsm"]:
        h = R["hsm"]
        L += ["", "## 6. Device CA key in SoftHSM2 vs a file (same run)", "",
              "| custody | mode | certs/s | server CPU ms/cert | p50 ms | p99 ms |",
              "| --- | --- | ---: | ---: | ---: | ---: |"]
        for r in h["runs"]:
            L.append("| %s | %s | %.0f | %.3f | %.1f | %.1f |" % (
                r["custody"], r["mode"], r["certs_per_s"], r["cpu_ms_per_cert"],
                r["p50_ms"], r["p99_ms"]))
        L += ["", "softhsm2 ÷ file: single c8 %s of the rate (%s of the CPU per cert), "
              "batch %s of the rate (%s of the CPU per cert)." % (
                  fmt(h["ratio_single_c8"]["certs_per_s"]),
                  fmt(h["ratio_single_c8"]["cpu_ms_per_cert"]),
                  fmt(h["ratio_batch_c1"]["certs_per_s"]),
                  fmt(h["ratio_batch_c1"]["cpu_ms_per_cert"]))]
    L += markdown_postgresql(R)
    if R.get("profiles"):
        L += ["", "## Profiles (perf record -e cpu-clock)", ""]
        for k, v in sorted(R["profiles"].items()):
            L.append("- %s: `%s`" % (k, v))
    if R.get("errors"):
        L += ["", "## Stages that failed", ""]
        for k, v in R["errors"].items():
            L.append("- **%s**: %s" % (k, v.strip().splitlines()[-1] if v.strip() else v))
    L += ["", "## Exact commands", "", "```"]
    L += commands
    L += ["```", ""]
    return "\n".join(L)


# -------------------------------------------------------------------- main

def markdown_postgresql(R):
    """Section 7 of the report: the engines side by side, two nodes."""
    if "postgresql" not in R or "ratio_lookup" not in R["postgresql"]:
        return []
    p = R["postgresql"]
    L = ["", "## 7. Registry on PostgreSQL vs SQLite, and two nodes (same run)", "",
         "%s, `%s`. On %d cores shared by the load client, the nodes and the database"
         " this shows correctness under load more than scaling; the CPU per request of"
         " each process is what carries over to bigger machines." % (
             p["server"], p["server_options"], os.cpu_count() or 0), "",
         "| engine | nodes | load | concurrency | requests ok | req/s | p50 ms | p99 ms |"
         " ca-server CPU µs/req | postgres CPU µs/req |",
         "| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for r in p["runs"]:
        L.append("| %s | %d | %s | %d | %d | %.0f | %.2f | %.2f | %.0f | %s |" % (
            r["engine"], r["nodes"], r["kind"], r["concurrency"], r["ok"], r["rps"],
            r["p50_ms"], r["p99_ms"], r["ca_cpu_us_per_req"],
            "–" if r["engine"] == "sqlite" else "%.0f" % r["pg_cpu_us_per_req"]))
    L.append("")
    for kind in ("issuance", "lookup"):
        q = p["ratio_" + kind]
        L.append("- %s, PostgreSQL ÷ SQLite: rate %s, p50 %s, ca-server CPU per request %s,"
                 " ca-server + postgres CPU per request %s; two nodes ÷ one node on"
                 " PostgreSQL: rate %s." % (kind, fmt(q["rps"]), fmt(q["p50_ms"]),
                                           fmt(q["ca_cpu_us_per_req"]),
                                           fmt(q["total_cpu_us_per_req"]),
                                           fmt(q["two_nodes_rps_vs_one"])))
    c = p.get("two_node_check", {})
    L.append("- after the two-node run the database held %s devices, %s device"
             " certificates, %s distinct certificate serials: one per acknowledged"
             " enrollment." % (c.get("devices"), c.get("device_certificates"),
                               c.get("distinct_serials")))
    return L


def meta(scale, argv):
    cpu = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = re.search(r"model name\s*:\s*(.*)", f.read()).group(1)
    except (OSError, AttributeError):
        pass
    git = run(["git", "-C", SRC, "rev-parse", "--short", "HEAD"], check=False).stdout.strip()
    return {"date": datetime.datetime.now().strftime("%Y-%m-%dT%H:%M:%S"), "scale": scale,
            "cpu": cpu, "cores": os.cpu_count(), "kernel": os.uname().release, "git": git,
            "openssl": run(["openssl", "version"], check=False).stdout.strip(),
            "sqlite": sqlite3.sqlite_version, "loadavg_start": os.getloadavg(),
            "command": "BENCH_SCALE=%s bash tests/bench/run.sh" % scale}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bin", required=True, help="folder with ca-server, corehook, ueclient, loadgen")
    ap.add_argument("--scale", default=os.environ.get("BENCH_SCALE", "full"),
                    choices=sorted(SCALES))
    ap.add_argument("--stages", default=os.environ.get("BENCH_STAGES", DEFAULT_STAGES),
                    help="comma-separated stage numbers")
    ap.add_argument("--out", default=os.path.join(SRC, "bench", "results"))
    ap.add_argument("--no-docs", dest="update_docs", action="store_false",
                    help="do not put a full run's table into docs/performance.md")
    ap.add_argument("--shim", default=None,
                    help="TCP_NODELAY LD_PRELOAD library for the experiment runs")
    ap.add_argument("--keep", action="store_true", default=os.environ.get("BENCH_KEEP") == "1")
    a = ap.parse_args()
    S = dict(SCALES[a.scale])
    # BENCH_SET="lookup_s=6,perf_s=4": override single sizes (numbers only).
    for kv in filter(None, os.environ.get("BENCH_SET", "").split(",")):
        k, _, v = kv.partition("=")
        if k.strip() not in S or isinstance(S[k.strip()], tuple):
            ap.error("BENCH_SET: unknown or non-numeric size %r" % k)
        S[k.strip()] = type(S[k.strip()])(float(v)) if "." in v else int(v)
    stages = {int(x) for x in a.stages.split(",") if x.strip()}
    binp = os.path.abspath(a.bin)
    os.makedirs(a.out, exist_ok=True)
    work = tempfile.mkdtemp(prefix="provca-bench-", dir=os.environ.get("BENCH_TMP"))
    os.chmod(work, 0o755)

    def on_signal(sig, frame):
        raise KeyboardInterrupt()
    signal.signal(signal.SIGTERM, on_signal)

    R = {"meta": meta(a.scale, sys.argv), "sizes": S, "errors": {}}
    R["meta"]["stages"] = sorted(stages)
    if a.stages != DEFAULT_STAGES:
        R["meta"]["command"] = "BENCH_STAGES=%s %s" % (a.stages, R["meta"]["command"])
    stamp = R["meta"]["date"].replace(":", "")
    lg = Loadgen(os.path.join(binp, "loadgen"), work)
    R["_ctx"] = {"outdir": a.out, "stamp": stamp, "perf": perf_works(),
                 "shim": os.path.abspath(a.shim) if a.shim else None}
    R["meta"]["perf"] = R["_ctx"]["perf"]
    t_start = time.time()
    ca = None
    try:
        if 1 in stages:
            guarded(R, "ceilings", stage_ceilings, R, S, work)
        if stages & {2, 3, 4, 5}:
            ca = CA(binp, work)
        if stages & {2, 3, 5}:
            guarded(R, "issuance", stage_issuance, R, S, ca, lg, work, binp)
        if 3 in stages:
            guarded(R, "lookup", stage_lookup, R, S, ca, lg, work)
        if 4 in stages:
            guarded(R, "provisioning", stage_provisioning, R, S, ca, work, binp, a.out, stamp)
        if 5 in stages:
            guarded(R, "scale", stage_scale, R, S, ca, lg, work)
        if 6 in stages:
            guarded(R, "hsm", stage_hsm, R, S, lg, work, binp)
        if 7 in stages:
            guarded(R, "postgresql", stage_postgresql, R, S, lg, work, binp)
    except KeyboardInterrupt:
        R["errors"]["interrupted"] = "stopped by a signal"
        log("interrupted")
    finally:
        PROCS.stop_all()
        R["meta"]["seconds"] = round(time.time() - t_start, 1)
        R.pop("_ctx", None)
        R["summary"] = summarise(R)
        R["loadgen_commands"] = lg.commands
        cmds = [R["meta"]["command"]]
        if "ceilings" in R:
            cmds.append(R["ceilings"]["command"])
        cmds += sorted(set(lg.commands), key=lg.commands.index)
        for lv in R.get("provisioning", {}).get("levels", []):
            for ph in ("first", "reprovision"):
                if ph in lv:
                    cmds.append(lv[ph]["command"])
        if "scale" in R and "crl_command" in R["scale"]:
            cmds.append(R["scale"]["crl_command"])
        cmds = [c.replace(work, "$WORK").replace(SRC + "/", "") for c in cmds]
        R["meta"]["loadavg_end"] = os.getloadavg()
        base = os.path.join(a.out, stamp + ("" if a.scale == "full" else "-" + a.scale))
        try:
            with open(base + ".json", "w") as f:
                json.dump(R, f, indent=1, default=str)
            with open(base + ".md", "w") as f:
                f.write(markdown(R, cmds))
            log("results: %s.json, %s.md (%.0f s)" % (base, base, R["meta"]["seconds"]))
            if a.scale == "full" and a.update_docs:
                update_docs(R, base)
        finally:
            if a.keep:
                log("work folder kept: %s" % work)
            else:
                shutil.rmtree(work, ignore_errors=True)
    return 1 if R["errors"] else 0


def update_docs(R, base):
    """Put a full run's target table between the markers of
    docs/performance.md, so the document keeps the latest figures."""
    path = os.path.join(SRC, "docs", "performance.md")
    try:
        with open(path) as f:
            doc = f.read()
    except OSError:
        return
    start, end = "<!-- latest-table -->", "<!-- /latest-table -->"
    if start not in doc or end not in doc:
        return
    md = markdown(dict(R), [])
    table = md[md.index("| metric |"):md.index("\n\n", md.index("| metric |"))]
    m = R["meta"]
    text = ("%s run %s (`%s`, %.0f s; load average %s at start), details in "
            "`%s.md`:\n\n%s\n" % (m["scale"].capitalize(), m["date"], m["command"], m.get("seconds", 0),
                                   "/".join("%.1f" % x for x in m["loadavg_start"]),
                                   os.path.relpath(base, SRC), table))
    if R.get("errors"):
        text += "\nStages that failed: %s.\n" % ", ".join(sorted(R["errors"]))
    doc = doc[:doc.index(start) + len(start)] + "\n" + text + doc[doc.index(end):]
    with open(path, "w") as f:
        f.write(doc)
    log("docs/performance.md: latest table updated")


def guarded(R, name, fn, *args):
    """Run one stage; a failure is recorded and the next stage still runs."""
    t0 = time.time()
    try:
        fn(*args)
    except KeyboardInterrupt:
        raise
    except Exception as e:  # one stage's failure must not hide the others
        import traceback
        R["errors"][name] = "%s\n%s" % (e, traceback.format_exc())
        log("stage %s failed: %s" % (name, e))
    finally:
        R.setdefault("stage_seconds", {})[name] = round(time.time() - t0, 1)


if __name__ == "__main__":
    sys.exit(main())

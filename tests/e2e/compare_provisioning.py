"""compare_provisioning.py — provisioning flows/s and server CPU of two builds
in one run (not a ctest test): per build, its own ca-server, corehook and
`ueclient swarm`; a first pass enrolls, provisions and registers, the
measured pass is `--reprovision --volatile` as in tests/bench/bench.py's
provisioning stage. Prints flows/s and corehook, ca-server and ueclient CPU
ms per flow (from /proc/PID/stat and os.times: CPU, not wall clock, so a
loaded machine changes it little), the ratios and the load average.
A build whose `ca-server init` has no --plain-keys or --example-oids (older
trees) is run without them.

With COMPARE_CALLGRIND=DIR in the environment, both servers run under
`valgrind --tool=callgrind` (dumps in DIR) and the measured pass also gives
instructions per flow, which the machine's load does not change (use a
small COUNT and CONCURRENCY: valgrind is ~50x slower).

Usage: compare_provisioning.py NEW_BIN BASE_BIN COUNT CONCURRENCY [ROUNDS]
"""
import glob, json, os, subprocess, sys
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness
from harness import World

def cpu(pid, part=None):
    """CPU seconds of pid: user + system, or only "user" / "sys"."""
    with open("/proc/%d/stat" % pid) as f:
        v = f.read().rsplit(")", 1)[1].split()
    ticks = {"user": int(v[11]), "sys": int(v[12])}
    return (ticks[part] if part else ticks["user"] + ticks["sys"]) / os.sysconf("SC_CLK_TCK")


CG = os.environ.get("COMPARE_CALLGRIND")
LABEL = ["x"]
if CG:
    os.makedirs(CG, exist_ok=True)
    _proc_init = harness.Proc.__init__
    def _cg_init(self, argv, *a, **k):
        if len(argv) > 1 and argv[1] == "serve":
            argv = ["valgrind", "--tool=callgrind", "--max-threads=2100", "--callgrind-out-file=%s/%s-%s.%%p" % (
                CG, os.path.basename(argv[0]), LABEL[0])] + argv
            k["timeout"] = 300
        _proc_init(self, argv, *a, **k)
    harness.Proc.__init__ = _cg_init


def cg_zero(pid):
    """Zero the callgrind counters of pid (no-op without COMPARE_CALLGRIND)."""
    if CG:
        subprocess.run(["callgrind_control", "-z", str(pid)], capture_output=True, check=True)


def cg_dump(pid, label):
    """Dump pid's counters now; their instruction total (0 without callgrind)."""
    if not CG:
        return 0
    before = set(glob.glob(os.path.join(CG, "*")))
    subprocess.run(["callgrind_control", "-d", label, str(pid)], capture_output=True, check=True)
    new = [f for f in glob.glob(os.path.join(CG, "*")) if f not in before]
    for line in open(max(new, key=os.path.getmtime)):
        if line.startswith("summary:") or line.startswith("totals:"):
            return int(line.split()[1])
    return 0


def make_ca(w, name, binp):
    """A started CA from binp (its own ca-server)."""
    harness.BIN = binp
    h = subprocess.run([os.path.join(binp, "ca-server"), "init", "--help"],
                       capture_output=True, text=True)
    real_run = harness.run
    # Older trees: init without --plain-keys / --example-oids.
    drop = {o for o in ("--plain-keys", "--example-oids")
            if o[2:] not in h.stdout + h.stderr}
    if drop:
        harness.run = lambda *a, **k: real_run(*[x for x in a if x not in drop], **k)
    try:
        return w.ca(name)
    finally:
        harness.run = real_run


NEW, BASE = sys.argv[1], sys.argv[2]
N, C = int(sys.argv[3]), int(sys.argv[4])
VARIANTS = [("base", BASE), ("new", NEW)]
rounds = int(sys.argv[5]) if len(sys.argv) > 5 else 1
harness.BIN = NEW
w = World()
try:
    print("load average at start: %s" % " ".join(open("/proc/loadavg").read().split()[:3]), flush=True)
    cas = {}
    for name, binp in VARIANTS:
        LABEL[0] = name
        cas[name] = make_ca(w, "ca-" + name, binp)
    res = {}
    for r in range(rounds):
        for name, binp in VARIANTS:
            harness.BIN = binp
            LABEL[0] = "%s-%d" % (name, r)
            ca = cas[name]
            core = w.core("core-%s-%d" % (name, r), ca)
            sdir = os.path.join(w.tmp, "set-%s-%d" % (name, r))
            base = [os.path.join(binp, "ueclient"), "swarm", "--count", str(N), "--concurrency", str(C),
                    "--ca", ca.url, "--cert", ca.mfr[0], "--key", ca.mfr[1], "--root", ca.root,
                    "--manufacturer-id", "acme", "--core", core.address, "--set", sdir,
                    "--deadline-s", "600", "--json"]
            for phase, extra in (("first", []), ("reprovision", ["--reprovision", "--volatile"])):
                if phase == "reprovision":
                    cg_zero(core.proc.proc.pid)
                    cg_zero(ca.server.proc.pid)
                k0 = cpu(core.proc.proc.pid)
                ks0 = cpu(core.proc.proc.pid, "sys")
                a0 = cpu(ca.server.proc.pid)
                r0 = os.times()
                p = subprocess.run(base + extra, capture_output=True, text=True, timeout=900)
                r1 = os.times()
                kc = cpu(core.proc.proc.pid) - k0
                ks = cpu(core.proc.proc.pid, "sys") - ks0
                ac = cpu(ca.server.proc.pid) - a0
                uc = (r1.children_user + r1.children_system) - (r0.children_user + r0.children_system)
                j = json.loads(p.stdout)
                done = max(1, j["completed"])
                if phase == "reprovision" and CG:
                    ki = cg_dump(core.proc.proc.pid, "core-" + LABEL[0]) / done
                    ai = cg_dump(ca.server.proc.pid, "ca-" + LABEL[0]) / done
                    print("   instructions per flow: corehook %.0f, ca-server %.0f" % (ki, ai), flush=True)
                    res.setdefault(name + "_ki", []).append(ki)
                    res.setdefault(name + "_ai", []).append(ai)
                print("   corehook CPU %.3f ms/flow (system %.3f), ca-server CPU %.3f ms/flow, ueclient CPU %.3f ms/flow" % (
                    1000 * kc / done, 1000 * ks / done, 1000 * ac / done, 1000 * uc / done), flush=True)
                if phase == "reprovision":
                    res.setdefault(name + "_cpu", []).append(1000 * kc / done)
                    res.setdefault(name + "_ca", []).append(1000 * ac / done)
                    res.setdefault(name + "_sys", []).append(1000 * ks / done)
                    res.setdefault(name, []).append(j["flows_per_s"])
                if j["failed"]: print("FAILURES", json.dumps(j["failures"])[:2000], flush=True)
                print("%s round %d %-11s: %d/%d done, failed %d, %.1f flows/s, prov p50/p99 %s/%s ms" % (
                    name, r, phase, j["completed"], j["total"], j["failed"], j["flows_per_s"],
                    j["provisioning_ms"]["p50"], j["provisioning_ms"]["p99"]), flush=True)
            core.stop()
    mean = lambda k: sum(res[k]) / len(res[k])
    b, n = mean("base"), mean("new")
    print("mean reprovision flows/s: base %.1f, new %.1f, new/base = %.3f" % (b, n, n / b))
    for k, label in (("_cpu", "corehook"), ("_sys", "corehook system"), ("_ca", "ca-server")):
        bc, nc = mean("base" + k), mean("new" + k)
        print("mean %s CPU ms/flow (reprovision): base %.3f, new %.3f, new/base = %.3f" % (
            label, bc, nc, nc / bc if bc else 0))
    if CG:
        for k, label in (("_ki", "corehook"), ("_ai", "ca-server")):
            print("mean %s instructions/flow: base %.0f, new %.0f, new/base = %.3f" % (
                label, mean("base" + k), mean("new" + k), mean("new" + k) / mean("base" + k)))
    bs, ns = mean("base_cpu") + mean("base_ca"), mean("new_cpu") + mean("new_ca")
    print("mean corehook+ca-server CPU ms/flow: base %.3f, new %.3f, new/base = %.3f" % (bs, ns, ns / bs))
    print("load average at end: %s" % " ".join(open("/proc/loadavg").read().split()[:3]), flush=True)
finally:
    w.close()

"""compare_provisioning.py — provisioning flows/s of two builds in one run
(not a ctest test): one ca-server (from the first build), one corehook per
build and `ueclient swarm` of the same build; a first pass enrolls,
provisions and registers, the measured pass is `--reprovision --volatile`
as in tests/bench/bench.py's provisioning stage. Prints flows/s and
corehook CPU ms per flow for each, and the ratios.

Usage: compare_provisioning.py NEW_BIN BASE_BIN COUNT CONCURRENCY [ROUNDS]
"""
import json, os, subprocess, sys
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness
from harness import World

def cpu(pid):
    with open("/proc/%d/stat" % pid) as f:
        v = f.read().rsplit(")", 1)[1].split()
    return (int(v[11]) + int(v[12])) / os.sysconf("SC_CLK_TCK")


NEW, BASE = sys.argv[1], sys.argv[2]
N, C = int(sys.argv[3]), int(sys.argv[4])
VARIANTS = [("base", BASE), ("new", NEW)]
rounds = int(sys.argv[5]) if len(sys.argv) > 5 else 1
harness.BIN = NEW
w = World()
try:
    ca = w.ca()
    res = {}
    for r in range(rounds):
        for name, binp in VARIANTS:
            harness.BIN = binp
            core = w.core("core-%s-%d" % (name, r), ca)
            sdir = os.path.join(w.tmp, "set-%s-%d" % (name, r))
            base = [os.path.join(binp, "ueclient"), "swarm", "--count", str(N), "--concurrency", str(C),
                    "--ca", ca.url, "--cert", ca.mfr[0], "--key", ca.mfr[1], "--root", ca.root,
                    "--manufacturer-id", "acme", "--core", core.address, "--set", sdir,
                    "--deadline-s", "600", "--json"]
            for phase, extra in (("first", []), ("reprovision", ["--reprovision", "--volatile"])):
                k0 = cpu(core.proc.proc.pid)
                r0 = os.times()
                p = subprocess.run(base + extra, capture_output=True, text=True, timeout=900)
                r1 = os.times()
                kc = cpu(core.proc.proc.pid) - k0
                uc = (r1.children_user + r1.children_system) - (r0.children_user + r0.children_system)
                j = json.loads(p.stdout)
                print("   corehook CPU %.2f ms/flow, ueclient CPU %.2f ms/flow" % (
                    1000 * kc / max(1, j["completed"]), 1000 * uc / max(1, j["completed"])), flush=True)
                if phase == "reprovision":
                    res.setdefault(name + "_cpu", []).append(1000 * kc / max(1, j["completed"]))
                if j["failed"]: print("FAILURES", json.dumps(j["failures"])[:2000], flush=True)
                print("%s round %d %-11s: %d/%d done, failed %d, %.1f flows/s, prov p50/p99 %s/%s ms" % (
                    name, r, phase, j["completed"], j["total"], j["failed"], j["flows_per_s"],
                    j["provisioning_ms"]["p50"], j["provisioning_ms"]["p99"]), flush=True)
                if phase == "reprovision":
                    res.setdefault(name, []).append(j["flows_per_s"])
            core.stop()
    b, n = sum(res["base"]) / len(res["base"]), sum(res["new"]) / len(res["new"])
    print("mean reprovision flows/s: base %.1f, new %.1f, new/base = %.3f" % (b, n, n / b))
    bc, nc = sum(res["base_cpu"]) / rounds, sum(res["new_cpu"]) / rounds
    print("mean corehook CPU ms/flow (reprovision): base %.3f, new %.3f, new/base = %.3f" % (bc, nc, nc / bc))
finally:
    w.close()

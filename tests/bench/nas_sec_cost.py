#!/usr/bin/python3
"""nas_sec_cost.py — what NAS security mode control costs per provisioning +
registration flow, in instructions (callgrind), for issue 15's 15 % budget.

No build or setting runs a registration without the Security mode command
(NAS security is not optional), so the two are not raced against each
other: instead corehook (and optionally the ueclient swarm) run under
`valgrind --tool=callgrind` for N complete flows — enroll, provisioning
through a real ca-server, registration with 5G-AKA, Security mode
command/complete, protected Registration accept/complete — and the
instructions spent in the NAS security calls (common/nas_sec.c: the K_NAS
derivation, protecting and opening messages) and in handling the extra
uplink message (the Security mode complete: corehook_handle's share of one
call) are set against the whole process's instructions per flow.
Instruction counts do not depend on the machine's load, which wall-clock
flows/s on a shared 2-core machine does.

    tests/bench/nas_sec_cost.py --bin build/bin [--flows 20] [--ue]

Prints one `NAME: value` line per figure. Needs valgrind (Debian package
valgrind; `scripts/setup.sh bench`)."""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "e2e"))

SEC_FUNCS = ("nas_sec_ctx_init", "nas_sec_protect", "nas_sec_unprotect")


def inclusive(outfile):
    """{function: inclusive Ir} and the program total of a callgrind file."""
    p = subprocess.run(["callgrind_annotate", "--inclusive=yes", "--threshold=100",
                        outfile], capture_output=True, text=True, check=True)
    total, fns = None, {}
    for line in p.stdout.splitlines():
        m = re.match(r"^\s*([\d,]+)\s+(?:\([^)]*\)\s+)?PROGRAM TOTALS", line)
        if m:
            total = int(m.group(1).replace(",", ""))
            continue
        m = re.match(r"^\s*([\d,]+)\s+(?:\([^)]*\)\s+)?\S*:(\w+)(?:'\d+)? ", line + " ")
        if m:
            name = m.group(2)
            fns[name] = max(fns.get(name, 0), int(m.group(1).replace(",", "")))
    return total, fns


def calls(outfile, fn):
    """How many times fn was called (callgrind's calls= lines)."""
    n = 0
    cur = None
    with open(outfile) as f:
        names = {}
        for line in f:
            m = re.match(r"^(c?)fn=\((\d+)\)(?: (.*))?$", line.strip())
            if m:
                if m.group(3):
                    names[m.group(2)] = m.group(3)
                cur = names.get(m.group(2)) if m.group(1) else None
                continue
            m = re.match(r"^calls=(\d+)", line)
            if m and cur == fn:
                n += int(m.group(1))
    return n


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bin", required=True)
    ap.add_argument("--flows", type=int, default=20)
    ap.add_argument("--ue", action="store_true", help="the swarm under callgrind too")
    a = ap.parse_args()
    os.environ["PROVCA_BIN"] = os.path.abspath(a.bin)
    if shutil.which("valgrind") is None or shutil.which("callgrind_annotate") is None:
        sys.exit("MISSING TOOL: valgrind (Debian package valgrind; scripts/setup.sh bench)")
    import harness
    from harness import Proc, World, prog, run

    w = World()
    try:
        ca = w.ca()
        core_dir = os.path.join(w.tmp, "core")
        os.makedirs(core_dir)
        cfg = os.path.join(core_dir, "corehook.json")
        run(prog("corehook"), "init", "--config", cfg, "--ca-url", ca.url,
            "--client-cert", ca.operator[0], "--client-key", ca.operator[1],
            "--ca-root", ca.root, "--signer-cert", ca.signer[0],
            "--signer-chain", ca.signer[0][:-len(".crt")] + "-chain.pem",
            "--signer-key", ca.signer[1])
        with open(cfg) as f:
            doc = json.load(f)
        doc["listen"] = {"nas_udp": "127.0.0.1:0", "http": "127.0.0.1:0"}
        # The spec's 6 s T3560/T3550 (corehook's default), and the run
        # waits them out so that the timer thread's work on the answered
        # entries is counted; that no retransmission happened is checked.
        doc["workers"] = 1
        with open(cfg, "w") as f:
            json.dump(doc, f)
        cg_core = os.path.join(w.tmp, "callgrind.corehook")
        core = Proc(["valgrind", "--tool=callgrind", "--callgrind-out-file=" + cg_core,
                     prog("corehook"), "serve", "--config", cfg],
                    r"nas udp 127\.0\.0\.1:(\d+)", os.path.join(core_dir, "corehook.log"),
                    timeout=300)
        w.stoppers.append(core.stop)
        # Count from here: the start (configuration, store, keys) is not
        # part of a flow.
        run("callgrind_control", "--zero", str(core.proc.pid))
        cg_ue = os.path.join(w.tmp, "callgrind.ueclient")
        argv = [prog("ueclient"), "swarm", "--count", str(a.flows), "--concurrency", "1",
                "--ca", ca.url, "--cert", ca.mfr[0], "--key", ca.mfr[1], "--root", ca.root,
                "--manufacturer-id", "acme", "--core", "127.0.0.1:%d" % core.port,
                "--volatile", "--timeout-ms", "20000", "--max-timeout-ms", "20000",
                "--attempt-ms", "120000", "--deadline-s", "3600", "--json"]
        if a.ue:
            # the swarm's own start (enrolment of every device included)
            # is counted: an upper bound of its per-flow work
            argv = ["valgrind", "--tool=callgrind", "--callgrind-out-file=" + cg_ue] + argv
        p = subprocess.run(argv, capture_output=True, text=True, timeout=7200)
        out = json.loads(p.stdout)
        if out["completed"] != a.flows or out["retransmissions"] != 0:
            sys.exit("swarm: %s" % json.dumps(out)[:2000])
        time.sleep(7)   # every entry armed comes due (and is found stale)
        m = re.search(r"^http (http://\S+)$", "".join(core.lines), re.M)
        with urllib.request.urlopen(m.group(1) + "/metrics", timeout=60) as r:
            metrics = r.read().decode()
        if re.search(r'^corehook_nas_retransmissions_total\{timer="T35[56]0"\} [1-9]',
                     metrics, re.M):
            sys.exit("a retransmission happened: the flows were too slow")
        log = core.stderr()
        core.stop()     # callgrind writes its file at exit
        if log.count("registration supi=") < a.flows:
            sys.exit("corehook logged fewer registrations than flows")
        procs = [("corehook", cg_core)] + ([("ueclient", cg_ue)] if a.ue else [])
        for name, f in procs:
            total, fns = inclusive(f)
            sec = sum(fns.get(fn, 0) for fn in SEC_FUNCS)
            print("%s_ir_total: %d" % (name, total))
            print("%s_ir_per_flow: %d" % (name, total // a.flows))
            for fn in SEC_FUNCS:
                print("%s_ir_%s_per_flow: %d" % (name, fn, fns.get(fn, 0) // a.flows))
            print("%s_nas_sec_share: %.2f %%" % (name, 100.0 * sec / total))
            if name == "corehook":
                n = calls(f, "corehook_handle")
                h = fns.get("corehook_handle", 0)
                # What is left of corehook_handle once the provisioning,
                # the SUCI, the vector, RES* and the store are taken out
                # (work the SMC does not add), averaged over its calls: the
                # cost of taking one more uplink message (session, cache,
                # decode, log line), which the Security mode complete adds.
                heavy = sum(fns.get(fn, 0) for fn in (
                    "corehook_provision_from", "ch_suci_supi", "corehook_av_generate",
                    "corehook_res_confirm", "corehook_confirm", "aka_fingerprint"))
                light = (h - heavy - sec) / max(1, n)
                print("corehook_handle_calls: %d" % n)
                # T3560/T3550 bookkeeping: arming in the workers, the
                # timer thread finding each answered entry stale
                for fn in ("ch_nas_timers_arm", "retx_main"):
                    print("corehook_ir_%s_per_flow: %d" % (fn, fns.get(fn, 0) // a.flows))
                print("corehook_ir_per_message: %d" % light)
                smc = sec + light * a.flows
                print("corehook_smc_share: %.2f %%" % (100.0 * smc / total))
                # The CA fetch's TLS handshakes depend on how long corehook
                # (slow under callgrind) keeps the connection: the share
                # without the fetch is the conservative figure.
                fetch = fns.get("ch_fetch", 0)
                print("corehook_ir_ca_fetch_per_flow: %d" % (fetch // a.flows))
                print("corehook_smc_share_without_ca_fetch: %.2f %%" % (
                    100.0 * smc / (total - fetch)))
        print("flows: %d" % a.flows)
    finally:
        w.close()


if __name__ == "__main__":
    main()

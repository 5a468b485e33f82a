#!/usr/bin/env python3
"""test_pg_corehook.py — two corehook processes serving one operator from
one subscriber store on PostgreSQL (run under pg_run.py: PROVCA_PG_URL).
The CA's registry is on PostgreSQL too (harness.CA, its own database); the
subscriber store gets a database of its own, named by both cores'
"database" key. Checks, in the store itself:
  - a swarm spread over both cores at once: every device provisioned and
    registered, every MSIN (and SUPI) handed out once;
  - one device registering alternately at the two cores: each 5G-AKA
    vector's SQN is the next one (SEQ + 1), never reused, and the USIM
    accepts every one (no resynchronisation);
  - copies of one device registering at both cores at once: the SQN
    advances exactly once per vector sent;
  - pending -> active: a re-provisioning at one core leaves the active
    subscription active and the new one pending; registering with it at
    the other core activates it and retires the old one, keys zeroed.
"""
import json
import os
import subprocess
import sys
import threading
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "e2e"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import pg_run  # noqa: E402
import pgdb  # noqa: E402
from harness import World, prog, run  # noqa: E402

IND_BITS = 5    # corehook's default sqn_ind_bits


def seq(sqn):
    return sqn >> IND_BITS


class TwoCores(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if not pgdb.enabled():
            raise AssertionError("run under tests/pg/pg_run.py (PROVCA_PG_URL)")
        cls.w = World()
        cls.ca = cls.w.ca()
        cls.store = pgdb.fresh_db()
        extra = {"database": cls.store}
        cls.a = cls.w.core("coreA", cls.ca, config_extra=extra)
        cls.b = cls.w.core("coreB", cls.ca, config_extra=extra)

    @classmethod
    def tearDownClass(cls):
        cls.w.close()

    def q(self, text, **params):
        return pgdb.sql(self.store, text, **params)

    def sqn_of(self, supi):
        supi = supi[len("imsi-"):] if supi.startswith("imsi-") else supi
        rows = self.q("SELECT sqn FROM subscription WHERE supi = :'s'"
                      " AND state <> 'retired'", s=supi)
        self.assertEqual(len(rows), 1, rows)
        return int(rows[0][0])

    def enrolled(self, name):
        d = self.w.device(name, self.ca)
        d.enroll()
        return d

    def test_both_cores_use_the_postgresql_store(self):
        self.assertEqual(self.q("SELECT max(version) FROM schema_migrations"), [["3"]])
        for core in (self.a, self.b):
            with open(core.config) as f:
                self.assertEqual(json.load(f)["database"], self.store)
            self.assertFalse(os.path.exists(os.path.join(core.dir, "corehook.db")))

    def swarm(self, core, count, conc, out):
        p = run(prog("ueclient"), "swarm", "--count", str(count), "--concurrency", str(conc),
                "--ca", self.ca.url, "--cert", self.ca.mfr[0], "--key", self.ca.mfr[1],
                "--root", self.ca.root, "--manufacturer-id", "acme",
                "--core", core.address, "--deadline-s", "600", "--json",
                check=False, timeout=900)
        out[core.address] = (p.returncode, p.stdout, p.stderr)

    def test_concurrent_provisioning_gives_unique_msins(self):
        count, conc = (16, 4) if harness.SANITIZE else (40, 8)
        before = int(self.q("SELECT count(*) FROM subscription")[0][0])
        out = {}
        ts = [threading.Thread(target=self.swarm, args=(c, count, conc, out))
              for c in (self.a, self.b)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        for addr, (rc, stdout, stderr) in out.items():
            try:
                res = json.loads(stdout)
            except ValueError:
                raise AssertionError("swarm at %s printed no JSON (%d): %s" % (addr, rc, stderr))
            self.assertEqual(res["failed"], 0, res.get("failures"))
            self.assertEqual(res["completed"], count)
            self.assertEqual(rc, 0)
        rows = self.q("SELECT count(*), count(DISTINCT msin), count(DISTINCT supi),"
                      " count(*) FILTER (WHERE state = 'active')"
                      " FROM subscription")
        total, msins, supis, active = (int(v) for v in rows[0])
        self.assertEqual(total, before + 2 * count)
        self.assertEqual(msins, total)
        self.assertEqual(supis, total)
        self.assertGreaterEqual(active, 2 * count)
        # The cursor is past every MSIN handed out.
        cur = self.q("SELECT next_msin FROM msin_cursor")
        mx = self.q("SELECT max(msin) FROM subscription")
        self.assertEqual(len(cur), 1)
        self.assertEqual(int(cur[0][0]), int(mx[0][0]) + 1)

    def test_sqn_never_reused_alternating_cores(self):
        d = self.enrolled("alt")
        rc, out = d.attach(self.a.address)
        self.assertEqual(rc, 0, out)
        self.assertTrue(out["provisioned"] and out["registered"], out)
        supi = out["supi"]
        last = self.sqn_of(supi)
        self.assertEqual(int(d.credentials()["sqn_ms"], 16), last)
        for i in range(6):
            core = (self.b, self.a)[i % 2]
            rc, out = d.attach(core.address)
            self.assertEqual(rc, 0, out)
            self.assertTrue(out["registered"], out)
            self.assertEqual(out["core"], core.address)
            self.assertEqual(out["resyncs"], 0, out)
            now = self.sqn_of(supi)
            self.assertEqual(seq(now), seq(last) + 1, (hex(last), hex(now)))
            self.assertEqual(int(d.credentials()["sqn_ms"], 16), now)
            last = now

    def test_sqn_steps_once_per_vector_under_concurrency(self):
        d = self.enrolled("conc")
        rc, out = d.attach(self.a.address)
        self.assertEqual(rc, 0, out)
        supi = out["supi"]
        start = self.sqn_of(supi)
        copies = [d.copy("c%d" % i) for i in range(6)]
        res = [None] * len(copies)

        def go(i):
            res[i] = copies[i].attach((self.a, self.b)[i % 2].address)
        ts = [threading.Thread(target=go, args=(i,)) for i in range(len(copies))]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        seen = set()
        for rc, o in res:
            self.assertEqual(rc, 0, o)
            self.assertTrue(o["registered"], o)
            self.assertEqual(o["resyncs"], 0, o)
        for c in copies:
            seen.add(int(c.credentials()["sqn_ms"], 16))
        # Six vectors, six distinct SQNs, the store six steps on.
        self.assertEqual(len(seen), len(copies), [hex(s) for s in seen])
        end = self.sqn_of(supi)
        self.assertEqual(seq(end), seq(start) + len(copies))
        self.assertEqual(max(seen), end)

    def test_pending_until_registered_at_the_other_core(self):
        d = self.enrolled("pend")
        rc, out = d.attach(self.a.address)
        self.assertEqual(rc, 0, out)
        old = out["supi"][len("imsi-"):]
        dev = d.info["device_id"]
        rc, out = d.attach(self.b.address, extra=("--reprovision", "--provision-only"))
        self.assertEqual(rc, 0, out)
        self.assertTrue(out["provisioned"], out)
        self.assertTrue(out["pending"], out)
        # The USIM keeps the new subscription beside the active one until
        # 5G-AKA with it succeeds.
        with open(os.path.join(d.dir, "credentials-pending.json")) as f:
            new = json.load(f)["supi"][len("imsi-"):]
        self.assertEqual(d.credentials()["supi"], "imsi-" + old)
        self.assertNotEqual(new, old)
        states = dict(tuple(r) for r in self.q(
            "SELECT supi, state FROM subscription WHERE device_id = :'d'", d=dev))
        self.assertEqual(states, {old: "active", new: "pending"})
        rc, out = d.attach(self.a.address)
        self.assertEqual(rc, 0, out)
        self.assertTrue(out["registered"], out)
        self.assertEqual(out["supi"], "imsi-" + new)
        rows = self.q("SELECT supi, state, encode(ki, 'hex'), encode(opc, 'hex'),"
                      " retired_at > 0 FROM subscription WHERE device_id = :'d'"
                      " ORDER BY id", d=dev)
        self.assertEqual(rows[0][0], old)
        self.assertEqual(rows[0][1:], ["retired", "0" * 32, "0" * 32, "t"])
        self.assertEqual(rows[1][:2], [new, "active"])
        self.assertNotEqual(rows[1][2], "0" * 32)

    def test_unreachable_store_is_a_clear_error(self):
        with open(self.a.config) as f:
            cfg = json.load(f)
        cfg["database"] = "postgresql://provca@127.0.0.1:%d/none" % pg_run.free_port()
        path = os.path.join(self.w.tmp, "unreachable.json")
        with open(path, "w") as f:
            json.dump(cfg, f)
        os.chmod(path, 0o600)
        p = run(prog("corehook"), "subscribers", "list", "--config", path, check=False)
        self.assertEqual(p.returncode, 1, p.stderr)
        self.assertIn("PostgreSQL unreachable", p.stderr)

    def test_z_postgresql_stopped_then_back(self):
        d = self.enrolled("down")
        rc, out = d.attach(self.a.address)
        self.assertEqual(rc, 0, out)
        supi = out["supi"]
        before = self.sqn_of(supi)
        r = pg_run.server_stop(os.environ["PROVCA_PG_DATA"])
        self.assertEqual(r.returncode, 0, r.stderr)
        try:
            for core in (self.a, self.b):
                rc, out = d.attach(core.address, timeout=60)
                self.assertNotEqual(rc, 0, out)
                self.assertFalse(out["registered"], out)
                self.assertIsNone(core.proc.proc.poll())
        finally:
            r = pg_run.server_start(os.environ["PROVCA_PG_DATA"], os.environ["PROVCA_PG_OPTS"])
            self.assertEqual(r.returncode, 0, r.stderr)
        # No vector went out while the SQN could not be stored.
        self.assertEqual(self.sqn_of(supi), before)
        self.assertEqual(int(d.credentials()["sqn_ms"], 16), before)
        for core in (self.b, self.a):
            rc, out = d.attach(core.address)
            self.assertEqual(rc, 0, out)
            self.assertTrue(out["registered"], out)
            self.assertEqual(out["resyncs"], 0, out)
        self.assertEqual(seq(self.sqn_of(supi)), seq(before) + 2)


if __name__ == "__main__":
    harness.require_programs()
    unittest.main(verbosity=2)

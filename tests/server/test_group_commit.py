"""Group commit of single enrollments (server/ca_issue.c): concurrent
requests that collide — the same serial and key, the same serial with
another key, one key under two serials — are decided inside the writer's
transaction exactly as one at a time would be (one device, the others
answered 200 with its certificate or refused 409, nothing half-written);
the writer's deferred checkpoints keep the WAL bounded; and DeviceIDs and
certificate serials issued one after another sort in issue order (their
indexes take new entries on one page)."""
import json
import os
import re
import sqlite3
import sys
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "http"))

from cryptography import x509  # noqa: E402

from httptest import SANITIZE, ServerTest, jreq, make_csr  # noqa: E402

CLIENTS = 8


class GroupCommit(ServerTest):

    def race(self, bodies):
        """POST each body on its own keep-alive connection, all released at
        once; [(status, document)] in body order."""
        conns = [self.srv.conn(self.mfr_a) for _ in bodies]
        for c in conns:  # handshakes first: the POSTs then arrive together
            c.connect()
        go = threading.Barrier(len(bodies))
        out = [None] * len(bodies)
        errors = []

        def client(i):
            try:
                go.wait()
                st, _, data = jreq(conns[i], "POST", "/api/v1/devices", bodies[i])
                out[i] = (st, json.loads(data))
            except Exception as e:  # noqa: BLE001 — reported below
                errors.append(repr(e))
            finally:
                conns[i].close()

        threads = [threading.Thread(target=client, args=(i,)) for i in range(len(bodies))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(errors, [])
        return out

    def db_rows(self, sql, *args):
        db = sqlite3.connect(os.path.join(self.ca.data, "registry.db"))
        try:
            return db.execute(sql, args).fetchall()
        finally:
            db.close()

    def test_same_serial_and_key_at_once_is_one_device_and_one_certificate(self):
        _, csr = make_csr()
        out = self.race([{"csr": csr, "serial": "GC-SAME", "model": "M"}] * CLIENTS)
        statuses = sorted(st for st, _ in out)
        self.assertEqual(statuses, [200] * (CLIENTS - 1) + [201])
        self.assertEqual(len({d["device_id"] for _, d in out}), 1)
        self.assertEqual(len({d["certificate"] for _, d in out}), 1)
        self.assertEqual(self.db_rows("SELECT count(*) FROM devices WHERE serial = 'GC-SAME'"), [(1,)])
        did = out[0][1]["device_id"]
        self.assertEqual(self.db_rows("SELECT count(*) FROM certificates WHERE device_id = ?", did), [(1,)])
        self.assertEqual(self.db_rows("SELECT count(*) FROM audit WHERE action = 'device.issue'"
                                      " AND target = ?", did), [(1,)])

    def test_same_serial_other_keys_at_once_is_one_device_and_409s(self):
        bodies = [{"csr": make_csr()[1], "serial": "GC-KEYS", "model": "M"} for _ in range(CLIENTS)]
        out = self.race(bodies)
        statuses = sorted(st for st, _ in out)
        self.assertEqual(statuses, [201] + [409] * (CLIENTS - 1))
        winner = [d for st, d in out if st == 201][0]
        for st, d in out:
            if st == 409:
                self.assertIn(winner["device_id"], d["detail"])
        self.assertEqual(self.db_rows("SELECT device_id FROM devices WHERE serial = 'GC-KEYS'"),
                         [(winner["device_id"],)])
        self.assertEqual(self.db_rows("SELECT count(*) FROM certificates c JOIN devices d"
                                      " USING (device_id) WHERE d.serial = 'GC-KEYS'"), [(1,)])

    def test_one_key_under_several_serials_at_once_is_one_device_and_key_in_use(self):
        _, csr = make_csr()
        bodies = [{"csr": csr, "serial": "GC-KEY-%d" % i, "model": "M"} for i in range(CLIENTS)]
        out = self.race(bodies)
        statuses = sorted(st for st, _ in out)
        self.assertEqual(statuses, [201] + [409] * (CLIENTS - 1))
        for st, d in out:
            if st == 409:
                self.assertTrue(d["type"].endswith("key-in-use"), d)
        self.assertEqual(self.db_rows("SELECT count(*) FROM devices WHERE serial LIKE 'GC-KEY-%'"),
                         [(1,)])

    def test_wal_stays_bounded_under_sustained_enrollment(self):
        # Each device writes ~7 WAL frames (the schema's indexes, and since
        # migration 5 the certificate's CA). The writer checkpoints
        # (PASSIVE) every 1,000 frames after answering, and the next group
        # restarts the WAL from its start; under load one more interval
        # can be written while a checkpoint waits for readers. So the WAL
        # stays below ~2,400 frames, while without checkpoints these
        # 480-800 devices would leave 3,400-5,600 frames: the bound
        # tells the two apart with a wide margin.
        per = 60 if SANITIZE else 100
        work = [[make_csr()[1] for _ in range(per)] for _ in range(CLIENTS)]
        errors, statuses = [], []
        db = os.path.join(self.ca.data, "registry.db")
        db0 = os.path.getsize(db)

        def client(n):
            conn = self.srv.conn(self.mfr_a)
            try:
                for i, csr in enumerate(work[n]):
                    st, _, _ = jreq(conn, "POST", "/api/v1/devices",
                                    {"csr": csr, "serial": "GC-W%d-%d" % (n, i), "model": "M"})
                    statuses.append(st)
            except Exception as e:  # noqa: BLE001 — reported below
                errors.append(repr(e))
            finally:
                conn.close()

        threads = [threading.Thread(target=client, args=(n,)) for n in range(CLIENTS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(errors, [])
        self.assertEqual(statuses, [201] * (per * CLIENTS))
        wal = os.path.join(self.ca.data, "registry.db-wal")
        self.assertLess(os.path.getsize(wal), 2400 * 4120)
        # The WAL's size alone cannot tell a checkpoint happened (too few
        # frames to pass the bound without one); the database file can:
        # only a checkpoint (the server is still running) copies the new
        # devices' pages into it. ~1.7 KB per device; at least a third.
        self.assertGreater(os.path.getsize(db) - db0, per * CLIENTS * 600,
                           "no checkpoint copied the new devices into the database")
        self.assertEqual(self.db_rows("SELECT count(*) FROM devices WHERE serial LIKE 'GC-W%'"),
                         [(per * CLIENTS,)])

    def test_consecutive_device_ids_and_serials_sort_in_issue_order(self):
        conn = self.srv.conn(self.mfr_a)
        docs = []
        try:
            for i in range(6):
                st, _, data = jreq(conn, "POST", "/api/v1/devices",
                                   {"csr": make_csr()[1], "serial": "GC-ORDER-%d" % i, "model": "M"})
                self.assertEqual(st, 201, data)
                docs.append(json.loads(data))
                time.sleep(0.005)  # a new millisecond: the prefix decides
        finally:
            conn.close()
        ids = [d["device_id"] for d in docs]
        for did in ids:
            self.assertRegex(did, r"^ACME-[a-z2-7]{16}$")
        self.assertEqual(ids, sorted(ids))
        serials = [x509.load_pem_x509_certificate(d["certificate"].encode()).serial_number
                   for d in docs]
        self.assertEqual(serials, sorted(serials))
        for sn in serials:  # 20 bytes, positive, no padding octet
            self.assertEqual(sn.bit_length(), 159)
        # After the 30-bit time prefix, 128 random bits: no two alike.
        self.assertEqual(len({sn & ((1 << 128) - 1) for sn in serials}), len(serials))
        self.assertEqual(len({re.sub(r"^ACME-.{6}", "", i) for i in ids}), len(ids))


if __name__ == "__main__":
    unittest.main()

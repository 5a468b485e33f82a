"""Concurrency and crash safety: 8 clients enrolling 2,000 devices at once
(400 under the sanitizers), and kill -9 in the middle of batch enrollment
followed by a restart that finds every certificate a client received."""
import json
import os
import signal
import sqlite3
import threading
import unittest

from cryptography import x509

from httptest import CA, SANITIZE, Server, ServerTest, jreq, make_csr

CLIENTS = 8
TOTAL = 400 if SANITIZE else 2000


class Concurrency(ServerTest):

    def test_eight_clients_enroll_distinct_devices_without_5xx(self):
        per = TOTAL // CLIENTS
        # CSRs first, so the clients hit the server as hard as they can.
        work = [[make_csr()[1] for _ in range(per)] for _ in range(CLIENTS)]
        results = [[] for _ in range(CLIENTS)]
        errors = []

        def client(n):
            ident = self.mfr_a if n % 2 == 0 else self.mfr_b
            conn = self.srv.conn(ident)
            try:
                for i, csr in enumerate(work[n]):
                    st, _, data = jreq(conn, "POST", "/api/v1/devices",
                                       {"csr": csr, "serial": "C%d-%d" % (n, i), "model": "L"})
                    results[n].append((st, data))
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
        statuses = [st for r in results for st, _ in r]
        self.assertEqual(len(statuses), per * CLIENTS)
        self.assertEqual(set(statuses), {201}, [d[:200] for r in results for st, d in r if st != 201][:3])
        docs = [json.loads(d) for r in results for _, d in r]
        ids = {d["device_id"] for d in docs}
        serials = {x509.load_pem_x509_certificate(d["certificate"].encode()).serial_number for d in docs}
        self.assertEqual(len(ids), per * CLIENTS)
        self.assertEqual(len(serials), per * CLIENTS)
        db = sqlite3.connect(os.path.join(self.ca.data, "registry.db"))
        try:
            rows = db.execute("SELECT count(*) FROM devices WHERE serial LIKE 'C%'").fetchone()[0]
        finally:
            db.close()
        self.assertEqual(rows, per * CLIENTS)
        st, _, data = self.srv.curl(None, "GET", "/metrics")
        self.assertNotRegex(data.decode(), r'status="5\d\d"')


class CrashSafety(unittest.TestCase):

    def setUp(self):
        self.ca = CA()
        self.mfr = self.ca.principal("mfr-k", "manufacturer", "KILL")
        self.op = self.ca.principal("op-k", "operator")
        self.srv = Server(self.ca)

    def tearDown(self):
        try:
            rc = self.srv.stop()
            self.assertEqual(rc, 0, self.srv.stderr()[-4000:])
        finally:
            self.ca.cleanup()

    def test_kill_9_mid_batch_keeps_every_delivered_certificate(self):
        received = []  # (device_id, certificate PEM) the client got
        batch, batches = 50, (4 if SANITIZE else 8)
        work = [[{"csr": make_csr()[1], "serial": "K%d-%d" % (b, i), "model": "K"} for i in range(batch)]
                for b in range(batches)]
        half = threading.Event()

        def client():
            conn = self.srv.conn(self.mfr)
            try:
                for b in range(batches):
                    st, _, data = jreq(conn, "POST", "/api/v1/devices/batch", {"devices": work[b]})
                    if st != 200:
                        return
                    for r in json.loads(data)["results"]:
                        received.append((r["device_id"], r["certificate"]))
                    if b == batches // 2:
                        half.set()
            except Exception:  # noqa: BLE001 — the server dies under us
                pass
            finally:
                half.set()
                conn.close()

        t = threading.Thread(target=client)
        t.start()
        half.wait(300)
        self.srv.proc.send_signal(signal.SIGKILL)  # mid-way through the next batch
        self.srv.proc.wait()
        t.join(120)
        self.assertGreater(len(received), 0)
        self.assertLess(len(received), batch * batches)

        self.srv = Server(self.ca)
        for dev, cert in received:
            st, _, pem = self.srv.curl(self.op, "GET", "/devices/" + dev)
            self.assertEqual(st, 200, dev)
            self.assertTrue(pem.decode().startswith(cert.strip()), dev)
        db = sqlite3.connect(os.path.join(self.ca.data, "registry.db"))
        try:
            self.assertEqual(db.execute("PRAGMA integrity_check").fetchone()[0], "ok")
            n = db.execute("SELECT count(*) FROM devices WHERE serial LIKE 'K%'").fetchone()[0]
        finally:
            db.close()
        # Whole batches only: the one in flight was committed entirely or not at all.
        self.assertEqual(n % batch, 0)
        self.assertGreaterEqual(n, len(received))


if __name__ == "__main__":
    unittest.main()

"""ca-server on PostgreSQL (run by pg_run.py, which passes PROVCA_PG_URL,
PROVCA_PG_DATA and PROVCA_PG_OPTS): `init --db` makes the schema; one node
enrolls, looks up, revokes and answers CRL and OCSP; two nodes (`serve` on
two copies of the same data folder, one database) decide the same
enrollment once, keep DeviceIDs and serials unique under concurrent
enrollments, see each other's revocations, principal disables and CRL
numbers on the very next request; a node killed with SIGKILL mid-stream
loses no acknowledged certificate; PostgreSQL stopped mid-run gives 503
problem+json (never a crash), and the nodes recover when it returns;
`backup` explains the PostgreSQL way."""
import base64
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import unittest
import urllib.parse

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "http"))
sys.path.insert(0, HERE)

import pg_run  # noqa: E402
from httptest import CA, PG_BIN, Server, make_csr, run  # noqa: E402


def psql(url, sql):
    """One value of sql on the database url names, as text."""
    p = subprocess.run([os.path.join(PG_BIN, "psql"), "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1",
                        "-d", url, "-c", sql], capture_output=True, text=True, timeout=60)
    if p.returncode != 0:
        raise AssertionError("psql %s: %s" % (sql, p.stderr))
    return p.stdout.strip()


def body(data):
    return json.loads(data) if data[:1] == b"{" else data


class Nodes(unittest.TestCase):
    """One CA on one database, two serving nodes (A on the data folder,
    B on a copy of it: nothing shared but the database)."""

    @classmethod
    def setUpClass(cls):
        cls.ca = CA()
        try:
            assert cls.ca.db is not None, "run under pg_run.py"
            cls.operator = cls.ca.principal("op1", "operator")
            cls.mfr = cls.ca.principal("mfr-a", "manufacturer", "ACME")
            cls.doomed = cls.ca.principal("op-doomed", "operator")
            cls.data_b = os.path.join(cls.ca.tmp, "data-b")
            shutil.copytree(cls.ca.data, cls.data_b)
            # B serves the concurrent tests with two pooled connections.
            cfg_b = os.path.join(cls.data_b, "config.json")
            with open(cfg_b) as f:
                cfg = json.load(f)
            cfg["db_pool"] = 2
            with open(cfg_b, "w") as f:
                json.dump(cfg, f)
            cls.a = Server(cls.ca)
            cls.b = cls.node_b()
        except BaseException:
            cls.ca.cleanup()
            raise

    @classmethod
    def node_b(cls, tag="b"):
        """A node on the copy (its own files, log and pool)."""
        c = type("Copy", (), {})()
        c.tmp = os.path.join(cls.ca.tmp, "node-" + tag)
        os.makedirs(c.tmp, exist_ok=True)
        c.data, c.root = cls.data_b, cls.ca.root
        return Server(c)

    @classmethod
    def tearDownClass(cls):
        try:
            for srv in (cls.a, cls.b):
                rc = srv.stop()
                if rc != 0:
                    raise AssertionError("node exited %d: %s" % (rc, srv.stderr()[-4000:]))
        finally:
            cls.ca.cleanup()

    def enroll(self, srv, serial, kc=None):
        _, csr = kc or make_csr()
        st, _, data = srv.curl(self.mfr, "POST", "/api/v1/devices",
                               {"csr": csr, "serial": serial, "model": "M1", "hardware_version": "1"})
        return st, body(data)

    def ocsp_status(self, srv, cert):
        with open(os.path.join(self.ca.data, "device-ca.crt"), "rb") as f:
            issuer = x509.load_pem_x509_certificate(f.read())
        req = ocsp.OCSPRequestBuilder().add_certificate(cert, issuer, hashes.SHA1()).build()
        b64 = base64.b64encode(req.public_bytes(serialization.Encoding.DER)).decode()
        st, _, der = srv.curl(None, "GET", "/ocsp/" + urllib.parse.quote(b64, safe=""))
        self.assertEqual(st, 200, der)
        return ocsp.load_der_ocsp_response(der).certificate_status

    def crl(self, srv):
        st, _, der = srv.curl(None, "GET", "/crl/device.crl")
        self.assertEqual(st, 200, der)
        crl = x509.load_der_x509_crl(der)
        return crl, crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number

    def test_1_init_made_the_schema_on_postgresql_not_a_file(self):
        self.assertFalse(os.path.exists(os.path.join(self.ca.data, "registry.db")))
        shown = json.loads(run("config", "show", "--data", self.data_b).stdout)
        self.assertEqual((shown["db"], shown["db_pool"]), (self.ca.db, 2))
        shown = json.loads(run("config", "show", "--data", self.ca.data).stdout)
        self.assertEqual((shown["db"], shown["db_pool"]), (self.ca.db, 32))
        # Every migration of the PostgreSQL list, the newest included.
        with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                               "db", "reg_pg_migrations.c")) as f:
            latest = max(int(v) for v in re.findall(r'^\t\{ (\d+), "', f.read(), re.M))
        self.assertGreaterEqual(latest, 6)
        self.assertEqual(psql(self.ca.db, "SELECT max(version) FROM schema_migrations"), str(latest))
        self.assertEqual(psql(self.ca.db, "SELECT count(*) FROM principals"), "4")
        # A second init on the same database is refused, and leaves no folder.
        other = os.path.join(self.ca.tmp, "again")
        p = run("init", "--example-oids", "--plain-keys", "--data", other, "--db", self.ca.db, check=False)
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        self.assertIn("already holds a registry", p.stderr)
        self.assertFalse(os.path.exists(other))
        self.assertEqual(psql(self.ca.db, "SELECT count(*) FROM principals"), "4")

    def test_2_enroll_lookup_revoke_crl_ocsp_across_nodes(self):
        st, d = self.enroll(self.a, "X-1")
        self.assertEqual(st, 201, d)
        cert = x509.load_pem_x509_certificate(d["certificate"].encode())
        st, _, pem = self.b.curl(self.operator, "GET", "/devices/" + d["device_id"])
        self.assertEqual(st, 200, pem)
        self.assertEqual(load_first(pem), cert)
        self.assertEqual(self.ocsp_status(self.b, cert), ocsp.OCSPCertStatus.GOOD)
        crl_b0, n_b0 = self.crl(self.b)
        self.assertIsNone(crl_b0.get_revoked_certificate_by_serial_number(cert.serial_number))
        st, _, data = self.a.curl(self.ca.admin, "POST", "/api/v1/devices/%s/revoke" % d["device_id"],
                                  {"reason": "keyCompromise"})
        self.assertEqual(st, 200, data)
        # B's very next lookup, OCSP answer and CRL know.
        st, _, data = self.b.curl(self.operator, "GET", "/devices/" + d["device_id"],
                                  headers=["Accept: application/json"])
        self.assertEqual(st, 200, data)
        self.assertEqual(json.loads(data)["status"]["state"], "revoked")
        self.assertEqual(self.ocsp_status(self.b, cert), ocsp.OCSPCertStatus.REVOKED)
        crl_b1, n_b1 = self.crl(self.b)
        self.assertIsNotNone(crl_b1.get_revoked_certificate_by_serial_number(cert.serial_number))
        self.assertGreater(n_b1, n_b0)
        # A revocation on B, then A's CRL: numbers keep increasing across nodes.
        st, d2 = self.enroll(self.b, "X-2")
        self.assertEqual(st, 201, d2)
        st, _, data = self.b.curl(self.ca.admin, "POST", "/api/v1/devices/%s/revoke" % d2["device_id"],
                                  {"reason": "superseded"})
        self.assertEqual(st, 200, data)
        crl_a2, n_a2 = self.crl(self.a)
        serial2 = x509.load_pem_x509_certificate(d2["certificate"].encode()).serial_number
        self.assertIsNotNone(crl_a2.get_revoked_certificate_by_serial_number(serial2))
        self.assertGreater(n_a2, n_b1)
        _, n_b3 = self.crl(self.b)
        self.assertEqual(n_b3, n_a2)  # nothing changed: the same CRL

    def test_3_same_enrollment_to_both_nodes_at_once_is_one_device(self):
        for i in range(5):
            kc = make_csr()
            res = [None, None]

            def go(k, srv):
                res[k] = self.enroll(srv, "RACE-%d" % i, kc)
            ts = [threading.Thread(target=go, args=(0, self.a)), threading.Thread(target=go, args=(1, self.b))]
            for t in ts:
                t.start()
            for t in ts:
                t.join()
            codes = sorted(r[0] for r in res)
            self.assertEqual(codes, [200, 201], res)
            self.assertEqual(res[0][1]["device_id"], res[1][1]["device_id"])
            self.assertEqual(res[0][1]["certificate"], res[1][1]["certificate"])
            self.assertEqual(psql(self.ca.db, "SELECT count(*) FROM devices WHERE serial = 'RACE-%d'" % i), "1")

    def test_4_concurrent_enrollments_on_both_nodes_are_unique(self):
        got, lock = [], threading.Lock()

        def stream(srv, tag):
            for i in range(15):
                st, d = self.enroll(srv, "C-%s-%d" % (tag, i))
                with lock:
                    got.append((st, d))
        ts = [threading.Thread(target=stream, args=(srv, "%s%d" % (n, k)))
              for n, srv in (("a", self.a), ("b", self.b)) for k in range(3)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        self.assertEqual([st for st, _ in got], [201] * 90, [d for st, d in got if st != 201][:3])
        ids = {d["device_id"] for _, d in got}
        serials = {x509.load_pem_x509_certificate(d["certificate"].encode()).serial_number for _, d in got}
        self.assertEqual((len(ids), len(serials)), (90, 90))
        self.assertEqual(psql(self.ca.db, "SELECT count(*) FROM devices WHERE serial LIKE 'C-%'"), "90")
        # One audit order: ids strictly increasing with no duplicates.
        self.assertEqual(psql(self.ca.db, "SELECT count(DISTINCT id) = count(*) FROM audit"), "t")

    def test_5_principal_disabled_on_a_is_refused_on_b_next_request(self):
        st, _, data = self.b.curl(self.doomed, "GET", "/devices/none")
        self.assertEqual(st, 404, data)
        st, _, data = self.a.curl(self.ca.admin, "POST", "/api/v1/principals/op-doomed/disable", {})
        self.assertEqual(st, 200, data)
        st, _, data = self.b.curl(self.doomed, "GET", "/devices/none")
        self.assertIn(st, (401, 403), data)

    def test_6_postgresql_stopped_is_503_and_nodes_recover(self):
        st, d = self.enroll(self.a, "DOWN-0")
        self.assertEqual(st, 201, d)
        before = psql(self.ca.db, "SELECT count(*) FROM devices")
        r = pg_run.server_stop(os.environ["PROVCA_PG_DATA"])
        self.assertEqual(r.returncode, 0, r.stderr)
        try:
            for srv in (self.a, self.b):
                st, h, data = srv.curl(self.mfr, "POST", "/api/v1/devices",
                                       {"csr": make_csr()[1], "serial": "DOWN-1", "model": "M1"})
                self.assertEqual(st, 503, data)
                self.assertEqual(h["content-type"], "application/problem+json")
                self.assertEqual(json.loads(data)["status"], 503)
                st, h, data = srv.curl(self.operator, "GET", "/devices/" + d["device_id"])
                self.assertEqual(st, 503, data)
                self.assertIsNone(srv.proc.poll())
        finally:
            r = pg_run.server_start(os.environ["PROVCA_PG_DATA"], os.environ["PROVCA_PG_OPTS"])
            self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(psql(self.ca.db, "SELECT count(*) FROM devices"), before)
        for srv in (self.a, self.b):
            deadline = time.time() + 30
            while True:
                st, _, pem = srv.curl(self.operator, "GET", "/devices/" + d["device_id"])
                if st == 200 or time.time() > deadline:
                    break
                time.sleep(0.5)
            self.assertEqual(st, 200, pem)
        st, d1 = self.enroll(self.b, "DOWN-1")
        self.assertEqual(st, 201, "%s\n%s" % (d1, self.b.stderr()[-3000:]))

    def test_7_kill_9_mid_stream_loses_no_acknowledged_certificate(self):
        victim = self.node_b("victim")
        acked, lock, stop = [], threading.Lock(), threading.Event()

        def stream(k):
            i = 0
            while not stop.is_set():
                st, d = self.enroll(victim, "K-%d-%d" % (k, i))
                i += 1
                if st == 201:
                    with lock:
                        acked.append(d)
        ts = [threading.Thread(target=stream, args=(k,)) for k in range(4)]
        for t in ts:
            t.start()
        deadline = time.time() + 60
        while len(acked) < 20 and time.time() < deadline:
            time.sleep(0.05)
        victim.proc.send_signal(signal.SIGKILL)
        stop.set()
        for t in ts:
            t.join()
        victim.stop()
        self.assertGreaterEqual(len(acked), 20)
        for d in acked:
            st, _, pem = self.a.curl(self.operator, "GET", "/devices/" + d["device_id"])
            self.assertEqual(st, 200, d["device_id"])
            self.assertEqual(load_first(pem), x509.load_pem_x509_certificate(d["certificate"].encode()))
        # No half-written device: every device row has its certificate.
        self.assertEqual(psql(self.ca.db, "SELECT count(*) FROM devices d LEFT JOIN certificates c"
                              " ON c.device_id = d.device_id WHERE c.id IS NULL"), "0")

    def test_8_backup_explains_the_postgresql_way(self):
        out = os.path.join(self.ca.tmp, "backup.db")
        p = run("backup", "--data", self.ca.data, "--out", out, check=False)
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        self.assertIn("pg_dump --format=custom --file='%s' '%s'" % (out, self.ca.db), p.stderr)
        self.assertFalse(os.path.exists(out))

    def test_9_refusals_unreachable_database_and_a_password_in_the_url(self):
        import socket
        with socket.socket() as s:  # bound, never listening: nothing answers
            s.bind(("127.0.0.1", 0))
            dead = "postgresql://provca@127.0.0.1:%d/provca" % s.getsockname()[1]
            p = subprocess.run([os.path.join(os.environ["PROVCA_BIN"], "ca-server"), "serve", "--data",
                                self.data_b, "--listen", "127.0.0.1:0", "--db", dead],
                               capture_output=True, text=True, timeout=60)
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        self.assertIn("PostgreSQL unreachable", p.stderr)
        other = os.path.join(self.ca.tmp, "pw")
        p = run("init", "--example-oids", "--plain-keys", "--data", other, "--db",
                "postgresql://provca:secret@127.0.0.1/provca", check=False)
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        self.assertIn("without a password", p.stderr)
        self.assertFalse(os.path.exists(other))


def load_first(pem):
    """The first certificate of a PEM chain."""
    return x509.load_pem_x509_certificate(pem)


if __name__ == "__main__":
    unittest.main(verbosity=2)

"""The registry's indexes after migration 4: certificates_by_principal holds
only principals' certificates (device certificates add no entry), every
query that reads it still searches it (EXPLAIN QUERY PLAN), and a registry
made before the migration gets it when ca-server next opens it."""
import os
import shutil
import sqlite3
import subprocess
import tempfile
import unittest

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

BIN = os.path.join(os.environ.get("PROVCA_BIN", "build/bin"), "ca-server")

# The statements of db/reg_records.c that read certificates by principal.
COLS = ("p.id, p.name, p.role, coalesce(p.manufacturer_id, ''), p.status,"
        " c.sha256, c.serial_hex, coalesce(c.revoked, 0), c.not_after,"
        " p.created_at, p.updated_at FROM principals p")
CURRENT = (" LEFT JOIN certificates c ON c.id = (SELECT max(id) FROM"
           " certificates WHERE principal_id = p.id)")
PRINCIPAL_GET = "SELECT " + COLS + CURRENT + " WHERE p.name = ?"
PRINCIPAL_LIST = "SELECT " + COLS + CURRENT + " ORDER BY p.name"
# db/reg_infra.c: a principal's certificates, picked and revoked.
REVOKE_PICK = ("SELECT c.serial_hex FROM certificates c"
               " JOIN principals p ON p.id = c.principal_id"
               " WHERE p.name = ?1 AND c.revoked = 0 ORDER BY c.id")
REVOKE_MARK = ("UPDATE certificates SET revoked = 1, revoked_reason = ?2,"
               " revoked_at = ?3 WHERE revoked = 0 AND principal_id ="
               " (SELECT id FROM principals WHERE name = ?1)")


def run(*args):
    p = subprocess.run([BIN, *args], capture_output=True, text=True,
                       timeout=300)
    if p.returncode != 0:
        raise AssertionError(f"{args}: rc={p.returncode} {p.stderr}")
    return p


def index_entries(db, name):
    rows = db.execute("SELECT coalesce(sum(ncell), 0) FROM dbstat"
                      " WHERE name = ? AND pagetype = 'leaf'", (name,))
    return rows.fetchone()[0]


class RegistryIndexTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="provca-idx-")
        cls.data = os.path.join(cls.tmp, "data")
        cls.db = os.path.join(cls.data, "registry.db")
        run("init", "--example-oids", "--data", cls.data, "--plain-keys", "--hostname", "ca.example")
        run("manufacturer", "add", "--data", cls.data, "--id", "acme",
            "--name", "Acme")
        run("principal", "add", "--data", cls.data, "--name", "op-1",
            "--role", "operator", "--out", os.path.join(cls.tmp, "op"))
        lines = []
        for i in range(20):
            key = ec.generate_private_key(ec.SECP256R1())
            csr = x509.CertificateSigningRequestBuilder().subject_name(
                x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "d")])
            ).sign(key, hashes.SHA256())
            path = os.path.join(cls.tmp, "d%d.csr" % i)
            with open(path, "wb") as f:
                f.write(csr.public_bytes(serialization.Encoding.PEM))
            lines.append("%s\tacme\tSN-%d\tm1\n" % (path, i))
        batch = os.path.join(cls.tmp, "batch.tsv")
        with open(batch, "w") as f:
            f.writelines(lines)
        run("enroll", "--data", cls.data, "--batch", batch)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def connect(self):
        db = sqlite3.connect(self.db)
        self.addCleanup(db.close)
        return db

    def test_device_certificates_add_no_principal_index_entry(self):
        db = self.connect()
        devices = db.execute("SELECT count(*) FROM certificates"
                             " WHERE device_id IS NOT NULL").fetchone()[0]
        principals = db.execute("SELECT count(*) FROM certificates"
                                " WHERE principal_id IS NOT NULL").fetchone()[0]
        self.assertEqual(devices, 20)
        self.assertGreaterEqual(principals, 1)
        self.assertEqual(index_entries(db, "certificates_by_principal"),
                         principals)
        # The other certificate indexes still hold every row.
        total = db.execute("SELECT count(*) FROM certificates").fetchone()[0]
        self.assertEqual(index_entries(db, "certificates_by_spki"), total)
        self.assertEqual(db.execute(
            "SELECT max(version) FROM schema_migrations").fetchone()[0], 7)

    def test_principal_queries_search_the_partial_index(self):
        db = self.connect()
        for sql, args in ((PRINCIPAL_GET, ("op-1",)), (PRINCIPAL_LIST, ()),
                          (REVOKE_PICK, ("op-1",)),
                          (REVOKE_MARK, ("op-1", 1, 0))):
            plan = [r[3] for r in db.execute("EXPLAIN QUERY PLAN " + sql,
                                             args)]
            self.assertTrue(any("INDEX certificates_by_principal"
                                " (principal_id=?)" in p for p in plan),
                            (sql, plan))
            self.assertFalse(any(p.startswith("SCAN certificates")
                                 for p in plan), plan)
        # And it answers: op-1's current certificate is found through it.
        row = db.execute(PRINCIPAL_GET, ("op-1",)).fetchone()
        self.assertEqual(row[1], "op-1")
        self.assertEqual(len(row[5]), 64)

    def test_older_registry_is_migrated_on_open(self):
        old = os.path.join(self.tmp, "old")
        shutil.copytree(self.data, old)
        path = os.path.join(old, "registry.db")
        db = sqlite3.connect(path)
        # As version 3 left it: migrations 5 (the CA set), 6 (CMP
        # one-time secrets) and 7 (CMP confirmations) undone too.
        db.executescript(
            "DROP TABLE cmp_confirms;"
            "DROP TABLE cmp_secrets;"
            "ALTER TABLE certificates DROP COLUMN ca_id;"
            "DROP TABLE cas;"
            "DROP INDEX certificates_by_principal;"
            "CREATE INDEX certificates_by_principal"
            "  ON certificates(principal_id);"
            "DELETE FROM schema_migrations WHERE version >= 4;")
        self.assertEqual(index_entries(db, "certificates_by_principal"),
                         db.execute("SELECT count(*) FROM certificates")
                         .fetchone()[0])
        db.close()
        out = run("principal", "list", "--data", old).stdout
        self.assertIn("op-1", out)
        db = sqlite3.connect(path)
        self.addCleanup(db.close)
        sql = db.execute("SELECT sql FROM sqlite_master"
                         " WHERE name = 'certificates_by_principal'")
        self.assertIn("WHERE principal_id IS NOT NULL", sql.fetchone()[0])
        self.assertEqual(index_entries(db, "certificates_by_principal"),
                         db.execute("SELECT count(*) FROM certificates"
                                    " WHERE principal_id IS NOT NULL")
                         .fetchone()[0])
        self.assertEqual(db.execute(
            "SELECT max(version) FROM schema_migrations").fetchone()[0], 7)
        # The data folder's Device CA adopted the device certificates, its
        # Infrastructure CA the principal ones.
        self.assertEqual(db.execute("SELECT id, role, state FROM cas")
                         .fetchall(), [(1, "device", "issuing"),
                                       (2, "infra", "issuing")])
        self.assertEqual(db.execute(
            "SELECT count(*) FROM certificates WHERE device_id IS NOT NULL"
            " AND ca_id = 1").fetchone()[0], 20)
        self.assertEqual(db.execute(
            "SELECT count(*) FROM certificates WHERE principal_id IS NOT NULL"
            " AND (ca_id IS NOT 2)").fetchone()[0], 0)


if __name__ == "__main__":
    unittest.main()

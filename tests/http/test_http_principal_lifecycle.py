"""A principal's certificates over HTTP: revocation and renewal.

Revocation: an admin revokes an operator's certificate (API) or the CLI
does it while the server runs; the very next request with that certificate
is refused, even on a kept-alive connection that was authenticated before;
the Infrastructure CA's CRL at /crl/infra-ca.crl lists it with its reason
(parsed and signature-checked with Python's cryptography).

Renewal: a principal renews its own certificate from a CSR, authenticated
by the current one (POST /api/v1/renew), or an admin renews any principal
(CSR or generated PKCS#12); the new certificate keeps the role and
manufacturer and verifies under the Infrastructure CA with OpenSSL; with
revoke_previous the earlier ones stop working and go on the CRL as
superseded. Every bad request gets its precise problem and changes
nothing."""
import base64
import json
import os
import subprocess
import unittest

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

from httptest import Ident, ServerTest, jreq, make_csr, run


class PrincipalRevoke(ServerTest):

    def lookup_dev(self):
        if not hasattr(self.__class__, "_dev"):
            st, doc = self.enroll(self.mfr_a, "PRV-1")
            self.assertEqual(st, 201, doc)
            self.__class__._dev = doc["device_id"]
        return "/devices/" + self.__class__._dev

    def infra_crl(self):
        st, h, data = self.srv.curl(None, "GET", "/crl/infra-ca.crl")
        self.assertEqual(st, 200)
        self.assertEqual(h["content-type"], "application/pkix-crl")
        crl = x509.load_der_x509_crl(data)
        with open(os.path.join(self.ca.data, "infra-ca.crt"), "rb") as f:
            infra = x509.load_pem_x509_certificate(f.read())
        self.assertEqual(crl.issuer, infra.subject)
        self.assertTrue(crl.is_signature_valid(infra.public_key()))
        return crl

    @staticmethod
    def serial(ident):
        with open(ident.cert, "rb") as f:
            return x509.load_pem_x509_certificate(f.read()).serial_number

    def principals(self):
        st, _, data = self.srv.curl(self.ca.admin, "GET", "/api/v1/principals")
        self.assertEqual(st, 200)
        return {p["name"]: p for p in json.loads(data)["principals"]}

    def test_api_revoke_refuses_next_request_and_lists_on_crl(self):
        p = self.ca.principal("op-api", "operator")
        conn = self.srv.conn(p)
        st, _, _ = jreq(conn, "GET", self.lookup_dev())
        self.assertEqual(st, 200)
        self.assertIsNone(self.infra_crl().get_revoked_certificate_by_serial_number(
            self.serial(p)))
        st, _, data = self.srv.curl(self.ca.admin, "POST", "/api/v1/principals/op-api/revoke",
                                    {"reason": "keyCompromise"})
        self.assertEqual(st, 200, data)
        doc = json.loads(data)
        self.assertEqual(doc["name"], "op-api")
        self.assertTrue(doc["certificate_revoked"])
        self.assertEqual(doc["reason"], "keyCompromise")
        self.assertEqual(int(doc["certificate_serial"], 16), self.serial(p))
        # The kept-alive connection authenticated before is refused now.
        st, _, data = jreq(conn, "GET", self.lookup_dev())
        self.assertEqual(st, 401, data)
        conn.close()
        st, _, data = self.srv.curl(p, "GET", self.lookup_dev())
        self.assertProblem(st, data, 401, "unauthenticated")
        entry = self.infra_crl().get_revoked_certificate_by_serial_number(self.serial(p))
        self.assertIsNotNone(entry)
        self.assertEqual(entry.extensions.get_extension_for_class(x509.CRLReason).value.reason,
                         x509.ReasonFlags.key_compromise)
        self.assertTrue(self.principals()["op-api"]["certificate_revoked"])
        # Audited under the admin's name.
        st, _, data = self.srv.curl(self.ca.admin, "GET",
                                    "/api/v1/audit?action=principal.revoke&target=op-api")
        entries = json.loads(data)["entries"]
        self.assertEqual(len(entries), 1, entries)
        self.assertEqual(entries[0]["actor"], "admin")
        # Revoking it again is a conflict and changes nothing.
        st, _, data = self.srv.curl(self.ca.admin, "POST", "/api/v1/principals/op-api/revoke",
                                    {"reason": "superseded"})
        self.assertProblem(st, data, 409, "invalid-state")
        entry = self.infra_crl().get_revoked_certificate_by_serial_number(self.serial(p))
        self.assertEqual(entry.extensions.get_extension_for_class(x509.CRLReason).value.reason,
                         x509.ReasonFlags.key_compromise)

    def test_cli_revoke_while_serving_takes_effect_on_next_request(self):
        p = self.ca.principal("op-cli", "operator")
        conn = self.srv.conn(p)
        st, _, _ = jreq(conn, "GET", self.lookup_dev())
        self.assertEqual(st, 200)
        run("principal", "revoke", "op-cli", "--data", self.ca.data, "--reason",
            "cessationOfOperation")
        st, _, data = jreq(conn, "GET", self.lookup_dev())
        self.assertEqual(st, 401, data)
        conn.close()
        entry = self.infra_crl().get_revoked_certificate_by_serial_number(self.serial(p))
        self.assertIsNotNone(entry, "CLI revocation not on the served CRL")
        self.assertEqual(entry.extensions.get_extension_for_class(x509.CRLReason).value.reason,
                         x509.ReasonFlags.cessation_of_operation)

    def test_bad_requests_change_nothing(self):
        self.ca.principal("op-keep", "operator")
        for body, status, slug in (
                ({"reason": "certificateHold"}, 422, "invalid-field"),
                ({"reason": "removeFromCRL"}, 422, "invalid-field"),
                ({"reason": "nonsense"}, 422, "invalid-field"),
                ({}, 422, "invalid-field"),
                ([], 400, "malformed-json")):
            st, _, data = self.srv.curl(self.ca.admin, "POST", "/api/v1/principals/op-keep/revoke", body)
            self.assertProblem(st, data, status, slug)
        st, _, data = self.srv.curl(self.ca.admin, "POST", "/api/v1/principals/op-keep/revoke",
                                    "{not json")
        self.assertEqual(st, 400, data)
        st, _, data = self.srv.curl(self.ca.admin, "POST", "/api/v1/principals/nobody/revoke",
                                    {"reason": "superseded"})
        self.assertProblem(st, data, 404, "not-found")
        self.assertFalse(self.principals()["op-keep"]["certificate_revoked"])
        st, _, _ = self.srv.curl(self.operator, "GET", self.lookup_dev())
        self.assertEqual(st, 200)


class PrincipalRenew(ServerTest):

    def lookup(self, ident):
        st, _, _ = self.srv.curl(ident, "GET", "/api/v1/devices" if ident.name.startswith("m")
                                 else "/devices/none-such")
        return st

    def save_ident(self, name, tag, cert_pem, key):
        d = os.path.join(self.ca.tmp, "renew-%s-%s" % (name, tag))
        os.makedirs(d, exist_ok=True)
        cert, keyf = os.path.join(d, "c.pem"), os.path.join(d, "k.pem")
        with open(cert, "w") as f:
            f.write(cert_pem)
        with open(keyf, "wb") as f:
            f.write(key.private_bytes(serialization.Encoding.PEM,
                                      serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption()))
        os.chmod(keyf, 0o600)
        return Ident(name, cert, keyf)

    def check_cert(self, pem, name, role):
        c = x509.load_pem_x509_certificate(pem.encode())
        self.assertEqual(c.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value, name)
        self.assertEqual(c.subject.get_attributes_for_oid(NameOID.ORGANIZATIONAL_UNIT_NAME)[0].value,
                         role)
        path = os.path.join(self.ca.tmp, "check-%s.pem" % name)
        with open(path, "w") as f:
            f.write(pem)
        v = subprocess.run(["openssl", "verify", "-x509_strict", "-CAfile", self.ca.root,
                            "-untrusted", os.path.join(self.ca.data, "infra-ca.crt"), path],
                           capture_output=True, text=True)
        self.assertEqual(v.returncode, 0, v.stdout + v.stderr)
        return c

    def crl_reason(self, serial):
        st, _, data = self.srv.curl(None, "GET", "/crl/infra-ca.crl")
        self.assertEqual(st, 200)
        e = x509.load_der_x509_crl(data).get_revoked_certificate_by_serial_number(serial)
        if e is None:
            return None
        return e.extensions.get_extension_for_class(x509.CRLReason).value.reason

    def test_self_renewal_then_renewal_revoking_previous(self):
        old = self.ca.principal("op-self", "operator")
        # No device needed: a 404 for an unknown DeviceID proves the
        # operator got past authentication (401 otherwise).
        self.assertEqual(self.lookup(old), 404)
        key2, csr2 = make_csr("ignored")
        st, _, data = self.srv.curl(old, "POST", "/api/v1/renew", {"csr": csr2})
        self.assertEqual(st, 200, data)
        doc = json.loads(data)
        self.assertEqual((doc["name"], doc["role"]), ("op-self", "operator"))
        c2 = self.check_cert(doc["certificate"], "op-self", "operator")
        self.assertEqual(c2.public_key().public_numbers(), key2.public_key().public_numbers())
        new = self.save_ident("op-self", "2", doc["certificate"], key2)
        self.assertEqual(self.lookup(new), 404)
        self.assertEqual(self.lookup(old), 404, "without revoke_previous the old one stays valid")
        # Renew again from the new certificate, revoking every earlier one.
        key3, csr3 = make_csr()
        st, _, data = self.srv.curl(new, "POST", "/api/v1/renew",
                                    {"csr": csr3, "revoke_previous": True})
        self.assertEqual(st, 200, data)
        third = self.save_ident("op-self", "3", json.loads(data)["certificate"], key3)
        self.assertEqual(self.lookup(third), 404)
        self.assertEqual(self.lookup(old), 401)
        self.assertEqual(self.lookup(new), 401)
        with open(old.cert, "rb") as f:
            s1 = x509.load_pem_x509_certificate(f.read()).serial_number
        self.assertEqual(self.crl_reason(s1), x509.ReasonFlags.superseded)
        self.assertEqual(self.crl_reason(c2.serial_number), x509.ReasonFlags.superseded)
        # Audited: two renewals, the second revoking two certificates.
        st, _, data = self.srv.curl(self.ca.admin, "GET",
                                    "/api/v1/audit?action=principal.renew&target=op-self")
        entries = json.loads(data)["entries"]
        self.assertEqual(len(entries), 2, entries)
        self.assertEqual([e["actor"] for e in entries], ["op-self", "op-self"])
        self.assertIn('"2"', json.dumps(entries[1]))

    def test_admin_renews_a_manufacturer_with_a_generated_pkcs12(self):
        self.ca.principal("mfr-r", "manufacturer", "RENEWCO")
        st, _, data = self.srv.curl(self.ca.admin, "POST", "/api/v1/principals/mfr-r/renew",
                                    {"generate": True, "p12_password": "renew-p12-pw"})
        self.assertEqual(st, 200, data)
        doc = json.loads(data)
        self.assertEqual((doc["name"], doc["role"]), ("mfr-r", "manufacturer"))
        key, cert, _ = pkcs12.load_key_and_certificates(base64.b64decode(doc["p12"]),
                                                        b"renew-p12-pw")
        self.assertEqual(cert.public_bytes(serialization.Encoding.PEM).decode(),
                         doc["certificate"])
        self.check_cert(doc["certificate"], "mfr-r", "manufacturer")
        ident = self.save_ident("mfr-r", "p12", doc["certificate"], key)
        # Still RENEWCO's principal: it enrolls for RENEWCO.
        st, body = self.enroll(ident, "RN-1")
        self.assertEqual(st, 201, body)
        st, _, data = self.srv.curl(self.ca.admin, "GET", "/api/v1/devices/" + body["device_id"])
        self.assertEqual(st, 200, data)
        self.assertEqual(json.loads(data)["manufacturer"]["id"], "RENEWCO")

    def test_bad_renewals_change_nothing(self):
        p = self.ca.principal("op-bad", "operator")
        csr = make_csr()[1]
        cases = (
            ("/api/v1/principals/nobody/renew", self.ca.admin, {"csr": csr}, 404, "not-found"),
            ("/api/v1/principals/op-bad/renew", self.ca.admin, {"csr": "nope"}, 400, "invalid-csr"),
            ("/api/v1/principals/op-bad/renew", self.ca.admin,
             {"csr": csr, "generate": True, "p12_password": "12345678"}, 422, "invalid-field"),
            ("/api/v1/principals/op-bad/renew", self.ca.admin,
             {"generate": True, "p12_password": "short"}, 422, "invalid-field"),
            ("/api/v1/principals/op-bad/renew", self.ca.admin,
             {"csr": csr, "revoke_previous": "yes"}, 422, "invalid-field"),
            ("/api/v1/principals/op-bad/renew", self.ca.admin, [], 400, "malformed-json"),
            ("/api/v1/renew", p, {"generate": True, "p12_password": "12345678"}, 422,
             "invalid-field"),
            ("/api/v1/renew", p, {}, 422, "invalid-field"),
        )
        for path, who, body, status, slug in cases:
            st, _, data = self.srv.curl(who, "POST", path, body)
            self.assertProblem(st, data, status, slug)
        st, _, data = self.srv.curl(self.ca.admin, "GET",
                                    "/api/v1/audit?action=principal.renew&target=op-bad")
        self.assertEqual(json.loads(data)["entries"], [])
        # A disabled principal is not renewed (409), by anyone.
        st, _, _ = self.srv.curl(self.ca.admin, "POST", "/api/v1/principals/op-bad/disable")
        self.assertEqual(st, 200)
        st, _, data = self.srv.curl(self.ca.admin, "POST", "/api/v1/principals/op-bad/renew",
                                    {"csr": csr})
        self.assertProblem(st, data, 409, "invalid-state")


class SlowBodies(ServerTest):
    """Clients that send a body slowly hold nothing shared, and whatever
    happened meanwhile counts when the body is complete."""

    def raw(self, ident=None):
        import socket
        import ssl
        ctx = ssl.create_default_context(cafile=self.ca.root)
        if ident is not None:
            ctx.load_cert_chain(ident.cert, ident.key)
        raw = socket.create_connection(("127.0.0.1", self.srv.port), timeout=60)
        return ctx.wrap_socket(raw, server_hostname="127.0.0.1")

    def test_revoked_while_the_body_arrives_is_refused(self):
        p = self.ca.principal("op-slow", "operator")
        body = json.dumps({"csr": make_csr()[1]}).encode()
        s = self.raw(p)
        try:
            s.sendall(b"POST /api/v1/renew HTTP/1.1\r\nHost: x\r\n"
                      b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n"
                      % len(body) + body[:20])
            import time
            time.sleep(0.5)  # the server has authenticated and waits for the body
            run("principal", "revoke", "op-slow", "--data", self.ca.data, "--reason",
                "keyCompromise")
            s.sendall(body[20:])
            head = s.recv(64)
        finally:
            s.close()
        self.assertTrue(head.startswith(b"HTTP/1.1 401"), head)
        st, _, data = self.srv.curl(self.ca.admin, "GET",
                                    "/api/v1/audit?action=principal.renew&target=op-slow")
        self.assertEqual(json.loads(data)["entries"], [])

    def test_slow_bodies_do_not_starve_the_registry(self):
        # More slow uploads than pooled registry connections (32), each
        # with a session cookie (looked up in the registry): an operator's
        # lookup must still be answered at once.
        body_len = 100000
        held = []
        try:
            for _ in range(40):
                s = self.raw()
                s.sendall(b"POST /api/v1/portal/login HTTP/1.1\r\nHost: x\r\n"
                          b"Cookie: __Host-provca_session=" + b"ab" * 32 + b"\r\n"
                          b"Content-Type: application/json\r\n"
                          b"Content-Length: %d\r\n\r\n{" % body_len)
                held.append(s)
            # Starved, the lookup would wait until the server's request
            # timeout (30 s) drops the uploads; 20 s is far beyond an
            # answer but short of that.
            p = subprocess.run(
                ["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "20",
                 "--cacert", self.ca.root, "--cert", self.operator.cert, "--key",
                 self.operator.key, self.srv.base + "/devices/none-such"],
                capture_output=True, text=True, timeout=60)
            self.assertEqual(p.stdout.strip(), "404", p.stderr)
        finally:
            for s in held:
                s.close()


class ExpiredOnResumption(ServerTest):
    """A resumed TLS session skips the certificate checks of a full
    handshake; the server still refuses a certificate past its notAfter."""

    def short_lived_operator(self, name, seconds):
        """An operator whose client certificate (from the Infrastructure CA,
        registered as ca-server stores one) expires in `seconds`; returns
        (ident, not_after)."""
        import datetime
        import hashlib
        import sqlite3

        from httptest import pg_sql

        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import ec

        self.ca.principal(name, "operator")
        with open(os.path.join(self.ca.data, "infra-ca.crt"), "rb") as f:
            infra = x509.load_pem_x509_certificate(f.read())
        with open(os.path.join(self.ca.data, "infra-ca.key"), "rb") as f:
            infra_key = serialization.load_pem_private_key(f.read(), None)
        # A client certificate from the Infrastructure CA valid for a few
        # seconds more, registered under op-exp as ca-server stores one.
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.timezone.utc)
        not_after = now + datetime.timedelta(seconds=seconds)
        cert = (x509.CertificateBuilder()
                .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
                .issuer_name(infra.subject).public_key(key.public_key())
                .serial_number(x509.random_serial_number())
                .not_valid_before(now - datetime.timedelta(minutes=1)).not_valid_after(not_after)
                .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH]),
                               critical=False)
                .sign(infra_key, hashes.SHA256()))
        der = cert.public_bytes(serialization.Encoding.DER)
        spki = key.public_key().public_bytes(serialization.Encoding.DER,
                                             serialization.PublicFormat.SubjectPublicKeyInfo)
        row = (format(cert.serial_number, "X"), der, hashlib.sha256(der).hexdigest(),
               hashlib.sha256(spki).hexdigest(), int(now.timestamp()) - 60,
               int(not_after.timestamp()), name, int(now.timestamp()))
        if self.ca.db:  # the registry on PostgreSQL
            pg_sql(self.ca.db, "INSERT INTO certificates(issuer, serial_hex, der, sha256, spki_sha256,"
                   " key_type, not_before, not_after, principal_id, created_at) VALUES ('infra',"
                   " :'s', decode(:'d', 'hex'), :'h', :'k', 'EC-P256', :'nb', :'na',"
                   " (SELECT id FROM principals WHERE name = :'n'), :'at')",
                   s=row[0], d=der.hex(), h=row[2], k=row[3], nb=row[4], na=row[5], n=name, at=row[7])
        else:
            con = sqlite3.connect(os.path.join(self.ca.data, "registry.db"), timeout=30)
            with con:
                con.execute(
                    "INSERT INTO certificates(issuer, serial_hex, der, sha256, spki_sha256, key_type,"
                    " not_before, not_after, principal_id, created_at) VALUES ('infra', ?, ?, ?, ?,"
                    " 'EC-P256', ?, ?, (SELECT id FROM principals WHERE name = ?), ?)", row)
            con.close()
        ident = PrincipalRenew.save_ident(self, name, "short", cert.public_bytes(
            serialization.Encoding.PEM).decode(), key)
        return ident, not_after

    def test_resumed_session_with_an_expired_certificate_is_refused(self):
        import socket
        import ssl
        import time

        ident, not_after = self.short_lived_operator("op-exp", 4)
        ctx = self.srv.ssl_context(ident)
        ctx.minimum_version = ctx.maximum_version = ssl.TLSVersion.TLSv1_3

        def get(session=None):
            with socket.create_connection(("127.0.0.1", self.srv.port)) as raw:
                with ctx.wrap_socket(raw, server_hostname="127.0.0.1", session=session) as s:
                    s.sendall(b"GET /devices/none-such HTTP/1.1\r\nHost: x\r\n"
                              b"Connection: close\r\n\r\n")
                    head = s.recv(64)
                    while s.recv(4096):
                        pass
                    return head, s.session, s.session_reused

        head, session, _ = get()
        self.assertTrue(head.startswith(b"HTTP/1.1 404"), head)  # authenticated
        time.sleep(max(0.0, not_after.timestamp() - time.time()) + 1.5)
        head, _, reused = get(session)
        self.assertTrue(reused, "the server did not resume the session")
        self.assertTrue(head.startswith(b"HTTP/1.1 401"), head)

    def test_kept_alive_connection_is_refused_once_its_certificate_expires(self):
        # The validity period is read once per connection and checked
        # against the clock on every request on it.
        import time

        ident, not_after = self.short_lived_operator("op-exp-ka", 4)
        keep = self.srv.conn(ident)
        try:
            keep.request("GET", "/devices/none-such")
            r = keep.getresponse()
            self.assertProblem(r.status, r.read(), 404, "not-found")  # authenticated
            # Requests every 0.3 s keep the connection open (the server
            # closes one idle for keep_alive_timeout_ms) until it expires.
            while time.time() < not_after.timestamp() + 1.2:
                keep.request("GET", "/devices/none-such")
                r = keep.getresponse()
                r.read()
                if r.status == 401:
                    break
                self.assertEqual(r.status, 404)
                time.sleep(0.3)
            # (the certificate holds whole seconds)
            self.assertGreaterEqual(time.time(), int(not_after.timestamp()))
            keep.request("GET", "/devices/none-such")
            r = keep.getresponse()
            self.assertProblem(r.status, r.read(), 401, "unauthenticated")
        finally:
            keep.close()


if __name__ == "__main__":
    unittest.main()

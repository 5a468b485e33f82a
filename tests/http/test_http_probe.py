"""What a hostile probe found in ca-server (issue 13, part 2), one class per
finding: static files limited to the portal's assets, the 401 challenge,
\\u0000 inside JSON strings, TLS suites, RSA exponents, explicit curve
parameters, portal sign-in throttling by address, connection limits per
address, and self-renewal key reuse and certificate caps."""
import http.client
import json
import os
import re
import shutil
import socket
import subprocess
import time
import unittest

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from httptest import ServerTest, make_csr, PROBLEM


class StaticAssetsOnly(ServerTest):
    """Only the portal's own assets come out of web/; build files do not."""

    def test_build_files_in_the_web_folder_are_404(self):
        for path in ("/CMakeLists.txt", "/package.json", "/package-lock.json",
                     "/node_modules/chart.js/package.json"):
            st, _, data = self.srv.curl(None, "GET", path)
            self.assertEqual(st, 404, path)
            self.assertEqual(json.loads(data)["type"], PROBLEM + "not-found", path)

    def test_portal_assets_are_still_served(self):
        for path, ctype in (("/", "text/html; charset=utf-8"),
                            ("/index.html", "text/html; charset=utf-8"),
                            ("/js/app.js", "text/javascript; charset=utf-8"),
                            ("/css/app.css", "text/css; charset=utf-8"),
                            ("/img/logo.svg", "image/svg+xml"),
                            ("/openapi.yaml", "application/yaml")):
            st, h, data = self.srv.curl(None, "GET", path)
            self.assertEqual((st, h.get("content-type")), (200, ctype), path)
            self.assertGreater(len(data), 0, path)


class Challenge401(ServerTest):
    """RFC 9110 §15.5.2: a 401 carries WWW-Authenticate."""

    WANT = 'MutualTLS realm="provca", Session realm="provca-portal"'

    def test_api_401_names_both_schemes(self):
        for method, path in (("GET", "/api/v1/devices"), ("GET", "/devices/nope"),
                             ("POST", "/api/v1/renew")):
            st, h, data = self.srv.curl(None, method, path, body={} if method == "POST" else None)
            self.assertEqual(st, 401, path)
            self.assertEqual(h.get("www-authenticate"), self.WANT, path)
            self.assertEqual(json.loads(data)["type"], PROBLEM + "unauthenticated")

    def test_wrong_portal_password_401_has_the_challenge(self):
        st, h, _ = self.srv.curl(None, "POST", "/api/v1/portal/login",
                                 body={"name": "nobody", "password": "wrong-password"})
        self.assertEqual(st, 401)
        self.assertEqual(h.get("www-authenticate"), self.WANT)

    def test_other_errors_carry_no_challenge(self):
        st, h, _ = self.srv.curl(self.mfr_a, "GET", "/api/v1/audit")
        self.assertEqual(st, 403)
        self.assertNotIn("www-authenticate", h)


class NulInJsonStrings(ServerTest):
    """A \\u0000 inside a JSON string is refused, naming the field."""

    def raw(self, ident, path, text):
        return self.srv.curl(ident, "POST", path, body=text.encode())

    def test_enroll_model_with_nul_is_422_naming_model_and_stores_nothing(self):
        _, csr = make_csr()
        body = json.dumps({"csr": csr, "serial": "NUL-1", "model": "MODEL"}).replace(
            "MODEL", "m\\u0000<script>")
        st, _, data = self.raw(self.mfr_a, "/api/v1/devices", body)
        self.assertProblem(st, data, 422, "invalid-field")
        self.assertIn('"model"', json.loads(data)["detail"])
        st, _, data = self.srv.curl(self.mfr_a, "GET", "/api/v1/devices?serial=NUL-1")
        self.assertEqual((st, json.loads(data)["devices"]), (200, []))

    def test_nul_in_a_member_name_and_in_a_batch_item_are_refused(self):
        _, csr = make_csr()
        item = json.dumps({"csr": csr, "serial": "NUL-2", "model": "M", "hardware_version": "HW"})
        body = '{"devices": [%s]}' % item.replace('"HW"', '"1\\u0000"')
        st, _, data = self.raw(self.mfr_a, "/api/v1/devices/batch", body)
        self.assertProblem(st, data, 422, "invalid-field")
        self.assertIn('"hardware_version"', json.loads(data)["detail"])
        st, _, data = self.raw(self.mfr_a, "/api/v1/devices",
                               '{"csr": %s, "serial": "NUL-3", "model": "M", "x\\u0000y": 1}'
                               % json.dumps(csr))
        self.assertProblem(st, data, 422, "invalid-field")

    def test_admin_route_refuses_nul_in_principal_name(self):
        _, csr = make_csr()
        body = '{"name": "nul-op\\u0000../x", "role": "operator", "csr": %s}' % json.dumps(csr)
        st, _, data = self.raw(self.admin, "/api/v1/principals", body)
        self.assertProblem(st, data, 422, "invalid-field")
        self.assertIn('"name"', json.loads(data)["detail"])
        st, _, data = self.srv.curl(self.admin, "GET", "/api/v1/principals")
        self.assertNotIn("nul-op", [p["name"] for p in json.loads(data)["principals"]])

    def test_an_escaped_backslash_before_u0000_is_ordinary_text(self):
        _, csr = make_csr()
        body = json.dumps({"csr": csr, "serial": "NUL-4", "model": "m\\u0000"})
        self.assertIn("\\\\u0000", body)
        st, _, data = self.raw(self.mfr_a, "/api/v1/devices", body)
        self.assertEqual(st, 201, data)
        dev = json.loads(data)["device_id"]
        st, _, data = self.srv.curl(self.mfr_a, "GET", "/api/v1/devices/" + dev)
        self.assertEqual((st, json.loads(data)["model"]), (200, "m\\u0000"))


class TlsSuites(ServerTest):
    """TLS 1.2 offers ECDHE with AES-GCM / ChaCha20-Poly1305 only."""

    def s_client(self, *args):
        p = subprocess.run(["openssl", "s_client", "-connect", "127.0.0.1:%d" % self.srv.port,
                            "-CAfile", self.ca.root, "-verify_return_error", *args],
                           input="", capture_output=True, text=True, timeout=60)
        return p.returncode, p.stdout + p.stderr

    def test_cbc_suites_are_refused(self):
        for suite in ("ECDHE-ECDSA-AES128-SHA", "ECDHE-ECDSA-AES128-SHA256",
                      "ECDHE-ECDSA-AES256-SHA", "ECDHE-ECDSA-AES256-SHA384",
                      "ECDHE-RSA-AES128-SHA", "AES128-SHA"):
            rc, out = self.s_client("-tls1_2", "-cipher", suite)
            self.assertNotEqual(rc, 0, suite)
            self.assertRegex(out, r"handshake failure|no shared cipher|no cipher", suite)

    def test_aead_suites_are_accepted(self):
        for suite in ("ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-ECDSA-AES256-GCM-SHA384",
                      "ECDHE-ECDSA-CHACHA20-POLY1305"):
            rc, out = self.s_client("-tls1_2", "-cipher", suite)
            self.assertEqual(rc, 0, out)
            self.assertIn("Cipher is " + suite, out)
        rc, out = self.s_client("-tls1_3")
        self.assertEqual(rc, 0, out)
        self.assertRegex(out, r"Cipher is TLS_(AES_(128|256)_GCM_SHA(256|384)|CHACHA20_POLY1305_SHA256)")

    def test_testssl_finds_no_cbc_and_no_lucky13(self):
        self.assertTrue(shutil.which("testssl"),
                        "testssl missing: scripts/setup.sh test installs Debian's testssl.sh")
        p = subprocess.run(["testssl", "--quiet", "--color", "0", "--warnings", "off", "--ip", "one",
                            "--cipher-per-proto", "--lucky13",
                            "127.0.0.1:%d" % self.srv.port],
                           capture_output=True, text=True, timeout=500)
        out = p.stdout
        self.assertIn("LUCKY13", out, out[-3000:])
        self.assertRegex(out, r"LUCKY13 \(CVE-2013-0169\), experimental\s+not vulnerable", out[-3000:])
        # Hexcode, OpenSSL name, key exchange ("ECDH 253"), encryption, bits.
        rows = re.findall(r"(?m)^\s*x[0-9a-f]+\s+(\S+)\s+\S+ \d+\s+(\S+)\s+\d+", out)
        self.assertIn(("ECDHE-ECDSA-AES128-GCM-SHA256", "AESGCM"), rows, out)
        self.assertEqual({enc for _, enc in rows}, {"AESGCM", "ChaCha20"}, out)


def rsa_csr(e, bits=2048, cn="device"):
    """A PEM CSR for a fresh RSA key with public exponent e."""
    key = rsa.generate_private_key(public_exponent=e, key_size=bits)
    csr = (x509.CertificateSigningRequestBuilder()
           .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
           .sign(key, hashes.SHA256()))
    return key, csr.public_bytes(serialization.Encoding.PEM).decode()


class RsaExponent(ServerTest):
    """RSA keys with a public exponent below 65537 are refused."""

    def test_enroll_with_exponent_3_is_422_and_stores_nothing(self):
        st, doc = self.enroll(self.mfr_a, "RSA-E3", key_csr=rsa_csr(3))
        self.assertEqual(st, 422, doc)
        self.assertEqual(doc["type"], PROBLEM + "invalid-field")
        self.assertIn("RSA public exponent 3 not accepted", doc["detail"])
        st, _, data = self.srv.curl(self.mfr_a, "GET", "/api/v1/devices?serial=RSA-E3")
        self.assertEqual((st, json.loads(data)["devices"]), (200, []))

    def test_batch_item_with_exponent_3_is_refused_and_65537_is_issued(self):
        items = [{"csr": rsa_csr(3)[1], "serial": "RSA-B3", "model": "M"},
                 {"csr": rsa_csr(65537)[1], "serial": "RSA-B65537", "model": "M"}]
        st, _, data = self.srv.curl(self.mfr_a, "POST", "/api/v1/devices/batch", {"devices": items})
        self.assertEqual(st, 200, data)
        res = json.loads(data)["results"]
        self.assertEqual([r["status"] for r in res], [422, 201], res)
        self.assertIn("exponent", res[0]["problem"]["detail"])

    def test_principal_with_exponent_3_is_refused(self):
        _, csr = rsa_csr(3, cn="rsa-op")
        st, _, data = self.srv.curl(self.admin, "POST", "/api/v1/principals",
                                    {"name": "rsa-op", "role": "operator", "csr": csr})
        self.assertProblem(st, data, 422, "invalid-field")
        self.assertIn("RSA public exponent 3", json.loads(data)["detail"])


def explicit_p256_csr(tmp, name):
    """A P-256 CSR whose key spells the curve out (openssl -param_enc explicit)."""
    key, req = os.path.join(tmp, name + ".key"), os.path.join(tmp, name + ".csr")
    subprocess.run(["openssl", "ecparam", "-name", "prime256v1", "-param_enc", "explicit",
                    "-genkey", "-noout", "-out", key], check=True, capture_output=True)
    subprocess.run(["openssl", "req", "-new", "-key", key, "-subj", "/CN=" + name, "-out", req],
                   check=True, capture_output=True)
    with open(req) as f:
        pem = f.read()
    der = x509.load_pem_x509_csr(pem.encode()).public_bytes(serialization.Encoding.DER)
    assert bytes.fromhex("06072a8648ce3d0101") in der  # prime-field: the curve spelled out
    return pem


class ExplicitCurveParameters(ServerTest):
    """An EC key with explicit parameters is refused for that reason."""

    WANT = "explicit curve parameters not accepted"

    def test_enroll_says_explicit_parameters_not_signature(self):
        csr = explicit_p256_csr(self.ca.tmp, "explicit-1")
        st, _, data = self.srv.curl(self.mfr_a, "POST", "/api/v1/devices",
                                    {"csr": csr, "serial": "EXP-1", "model": "M"})
        self.assertProblem(st, data, 400, "invalid-csr")
        detail = json.loads(data)["detail"]
        self.assertIn(self.WANT, detail)
        self.assertIn("RFC 5480", detail)
        self.assertNotIn("signature", detail)

    def test_batch_item_says_explicit_parameters(self):
        items = [{"csr": explicit_p256_csr(self.ca.tmp, "explicit-2"), "serial": "EXP-2", "model": "M"}]
        st, _, data = self.srv.curl(self.mfr_a, "POST", "/api/v1/devices/batch", {"devices": items})
        self.assertEqual(st, 200, data)
        res = json.loads(data)["results"][0]
        self.assertEqual(res["status"], 400, res)
        self.assertIn(self.WANT, res["problem"]["detail"])

    def test_principal_and_self_renewal_say_explicit_parameters(self):
        csr = explicit_p256_csr(self.ca.tmp, "explicit-op")
        st, _, data = self.srv.curl(self.admin, "POST", "/api/v1/principals",
                                    {"name": "explicit-op", "role": "operator", "csr": csr})
        self.assertProblem(st, data, 400, "invalid-csr")
        self.assertIn(self.WANT, json.loads(data)["detail"])
        st, _, data = self.srv.curl(self.operator, "POST", "/api/v1/renew", {"csr": csr})
        self.assertIn(st, (400, 422), data)
        self.assertIn(self.WANT, json.loads(data)["detail"])


class PortalThrottle(ServerTest):
    """Failed sign-ins from one address never lock a user out elsewhere;
    guessing from that address is slowed per (name, address) and per address."""

    PW = "a long enough password 1"

    def login(self, addr, name, pw):
        c = http.client.HTTPSConnection("127.0.0.1", self.srv.port, source_address=(addr, 0),
                                        context=self.srv.ssl_context(None), timeout=60)
        try:
            c.request("POST", "/api/v1/portal/login", json.dumps({"name": name, "password": pw}),
                      {"Content-Type": "application/json"})
            r = c.getresponse()
            return r.status, r.getheader("Retry-After"), r.read()
        finally:
            c.close()

    def test_wrong_passwords_from_one_address_do_not_lock_the_admin_out(self):
        st, _, data = self.srv.curl(self.admin, "POST", "/api/v1/portal/users",
                                    {"name": "padm", "role": "admin", "password": self.PW})
        self.assertEqual(st, 201, data)
        # The attacker at 127.0.0.2: five wrong guesses, then even the right
        # password is refused there for a while.
        for i in range(5):
            st, _, data = self.login("127.0.0.2", "padm", "wrong guess %d" % i)
            self.assertEqual(st, 401, data)
        st, retry, data = self.login("127.0.0.2", "padm", self.PW)
        self.assertProblem(st, data, 429, "too-many-requests")
        self.assertTrue(1 <= int(retry) <= 30, retry)
        # The administrator at 127.0.0.1 signs in at once.
        st, _, data = self.login("127.0.0.1", "padm", self.PW)
        self.assertEqual(st, 200, data)
        self.assertEqual(json.loads(data)["user"]["name"], "padm")
        # Still locked for the attacker's address.
        st, _, _ = self.login("127.0.0.2", "padm", self.PW)
        self.assertEqual(st, 429)

    def test_guessing_across_names_from_one_address_is_slowed(self):
        # 20 failures from one address over many names: the 20th locks the
        # address for every name; another address is unaffected.
        for i in range(20):
            st, _, data = self.login("127.0.0.3", "spray%d" % i, "wrong")
            self.assertEqual(st, 401, (i, data))
        st, retry, data = self.login("127.0.0.3", "fresh-name", "wrong")
        self.assertProblem(st, data, 429, "too-many-requests")
        self.assertTrue(1 <= int(retry) <= 30, retry)
        st, _, _ = self.login("127.0.0.4", "fresh-name", "wrong")
        self.assertEqual(st, 401)


class SelfRenewal(ServerTest):
    """POST /api/v1/renew: the new key is nobody else's, and one principal
    holds at most principal_max_valid_certs valid certificates."""

    def csr_for(self, keyfile, cn="x"):
        with open(keyfile, "rb") as f:
            key = serialization.load_pem_private_key(f.read(), None)
        csr = (x509.CertificateSigningRequestBuilder()
               .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
               .sign(key, hashes.SHA256()))
        return csr.public_bytes(serialization.Encoding.PEM).decode()

    def renewals(self, name):
        st, _, data = self.srv.curl(self.admin, "GET",
                                    "/api/v1/audit?action=principal.renew&target=" + name)
        self.assertEqual(st, 200, data)
        return len(json.loads(data)["entries"])

    def test_a_devices_key_is_refused_with_409(self):
        p = self.ca.principal("op-replay-d", "operator")
        kc = make_csr()
        st, doc = self.enroll(self.mfr_a, "REPLAY-1", key_csr=kc)
        self.assertEqual(st, 201, doc)
        st, _, data = self.srv.curl(p, "POST", "/api/v1/renew", {"csr": kc[1]})
        self.assertProblem(st, data, 409, "key-in-use")
        self.assertIn("device " + doc["device_id"], json.loads(data)["detail"])
        # Revoked devices' keys stay theirs too.
        st, _, _ = self.srv.curl(self.admin, "POST", "/api/v1/devices/%s/revoke" % doc["device_id"],
                                 {"reason": "keyCompromise"})
        self.assertEqual(st, 200)
        st, _, data = self.srv.curl(p, "POST", "/api/v1/renew", {"csr": kc[1]})
        self.assertProblem(st, data, 409, "key-in-use")
        self.assertEqual(self.renewals("op-replay-d"), 0)

    def test_another_principals_key_is_refused_and_its_own_is_not(self):
        p = self.ca.principal("op-replay-p", "operator")
        other = self.ca.principal("op-victim", "operator")
        st, _, data = self.srv.curl(p, "POST", "/api/v1/renew", {"csr": self.csr_for(other.key)})
        self.assertProblem(st, data, 409, "key-in-use")
        self.assertIn("principal op-victim", json.loads(data)["detail"])
        # An admin cannot bind it either.
        st, _, data = self.srv.curl(self.admin, "POST", "/api/v1/principals/op-replay-p/renew",
                                    {"csr": self.csr_for(other.key)})
        self.assertProblem(st, data, 409, "key-in-use")
        self.assertEqual(self.renewals("op-replay-p"), 0)
        # Its own current key is its own.
        st, _, data = self.srv.curl(p, "POST", "/api/v1/renew", {"csr": self.csr_for(p.key)})
        self.assertEqual(st, 200, data)
        self.assertEqual(self.renewals("op-replay-p"), 1)

    def test_valid_certificates_are_capped_at_three(self):
        p = self.ca.principal("op-cap", "operator")  # 1 valid
        for _ in range(2):                            # 2, 3 valid
            st, _, data = self.srv.curl(p, "POST", "/api/v1/renew", {"csr": make_csr()[1]})
            self.assertEqual(st, 200, data)
        st, _, data = self.srv.curl(p, "POST", "/api/v1/renew", {"csr": make_csr()[1]})
        self.assertProblem(st, data, 409, "invalid-state")
        detail = json.loads(data)["detail"]
        self.assertIn("already holds 3 valid certificates", detail)
        self.assertIn("principal_max_valid_certs 3", detail)
        self.assertEqual(self.renewals("op-cap"), 2)
        # Revoking the earlier ones in the same renewal makes room.
        st, _, data = self.srv.curl(p, "POST", "/api/v1/renew",
                                    {"csr": make_csr()[1], "revoke_previous": True})
        self.assertEqual(st, 200, data)
        self.assertEqual(self.renewals("op-cap"), 3)

    def test_the_cap_comes_from_config(self):
        from httptest import Server, write_file
        p = self.ca.principal("op-cap1", "operator")
        cfg_path = os.path.join(self.ca.data, "config.json")
        with open(cfg_path) as f:
            cfg_text = f.read()
        cfg = json.loads(cfg_text)
        self.assertEqual(cfg["principal_max_valid_certs"], 3)
        cfg["principal_max_valid_certs"] = 1
        write_file(cfg_path, json.dumps(cfg))
        try:
            srv = Server(self.ca)
        finally:
            write_file(cfg_path, cfg_text)
        try:
            st, _, data = srv.curl(p, "POST", "/api/v1/renew", {"csr": make_csr()[1]})
            self.assertProblem(st, data, 409, "invalid-state")
            self.assertIn("principal_max_valid_certs 1", json.loads(data)["detail"])
        finally:
            self.assertEqual(srv.stop(), 0)


class ConnectionLimits(ServerTest):
    """One address holding idle TCP connections (no TLS bytes) gets at most
    max_connections_per_address of them, each cut at the handshake timeout;
    another address's lookups keep answering meanwhile."""

    FLOOD = 200
    LIMIT = 8
    HANDSHAKE_MS = 3000

    def metric(self, srv, name):
        st, _, data = srv.curl(None, "GET", "/metrics")
        self.assertEqual(st, 200)
        m = re.search(r"(?m)^%s (\d+)$" % name, data.decode())
        self.assertIsNotNone(m, name)
        return int(m.group(1))

    def lookup(self, srv, ident, path):
        """One request from 127.0.0.1 on a fresh connection: (status, seconds)."""
        t0 = time.monotonic()
        c = http.client.HTTPSConnection("127.0.0.1", srv.port, context=srv.ssl_context(ident),
                                        timeout=20)
        try:
            c.request("GET", path)
            r = c.getresponse()
            r.read()
            return r.status, time.monotonic() - t0
        finally:
            c.close()

    def open_flood(self, port):
        socks = []
        for _ in range(self.FLOOD):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.2", 0))
            s.settimeout(10)
            s.connect(("127.0.0.1", port))
            s.setblocking(False)
            socks.append(s)
        return socks

    @staticmethod
    def closed(s):
        try:
            return s.recv(1) == b""
        except BlockingIOError:
            return False
        except OSError:
            return True  # reset by the server

    def test_flood_from_one_address_is_bounded_and_lookups_still_answer(self):
        from httptest import Server, write_file
        _, doc = self.enroll(self.mfr_a, "FLOOD-1")
        dev = doc["device_id"]
        cfg_path = os.path.join(self.ca.data, "config.json")
        with open(cfg_path) as f:
            cfg_text = f.read()
        cfg = json.loads(cfg_text)
        self.assertEqual((cfg["max_connections_per_address"], cfg["tls_handshake_timeout_ms"]),
                         (256, 5000))
        cfg.update(worker_threads=32, max_connections_per_address=self.LIMIT,
                   tls_handshake_timeout_ms=self.HANDSHAKE_MS)
        write_file(cfg_path, json.dumps(cfg))
        try:
            srv = Server(self.ca)
        finally:
            write_file(cfg_path, cfg_text)
        socks = []
        try:
            t_flood = time.monotonic()
            socks = self.open_flood(srv.port)
            # While 127.0.0.2 floods, 127.0.0.1 is answered: the operator's
            # lookup and the health check, each on a new connection.
            for _ in range(5):
                st, took = self.lookup(srv, self.operator, "/devices/" + dev)
                self.assertEqual(st, 200)
                self.assertLess(took, 10, "lookup took %.1f s during the flood" % took)
                st, _ = self.lookup(srv, None, "/healthz")
                self.assertEqual(st, 200)
            # Everything beyond the limit is closed by the server at once;
            # the rest when the handshake timeout runs out.
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                still = [s for s in socks if not self.closed(s)]
                if not still:
                    break
                time.sleep(0.2)
            self.assertEqual(still, [], "flood connections still open after 30 s")
            self.assertGreaterEqual(time.monotonic() - t_flood, self.HANDSHAKE_MS / 1000.0 - 0.5)
            self.assertEqual(self.metric(srv, "provca_connections_refused_total"),
                             self.FLOOD - self.LIMIT)
            self.assertEqual(self.metric(srv, "provca_tls_handshake_timeouts_total"), self.LIMIT)
            # 127.0.0.2 is welcome again once its connections are gone.
            c = http.client.HTTPSConnection("127.0.0.1", srv.port, source_address=("127.0.0.2", 0),
                                            context=srv.ssl_context(None), timeout=20)
            c.request("GET", "/healthz")
            self.assertEqual(c.getresponse().status, 200)
            c.close()
        finally:
            for s in socks:
                s.close()
            self.assertEqual(srv.stop(), 0)


if __name__ == "__main__":
    unittest.main()

"""The authorization matrix: every API route × {no certificate, operator,
manufacturer A, manufacturer B, admin, disabled principal, certificate from
an unknown CA} → the expected status. The route list comes from the
server's own table, so a new route without an expectation fails here."""
import http.client
import json
import os
import unittest

from httptest import ServerTest, make_csr, run, stranger_identity, CA_SERVER

TLS_FAIL = 0  # the handshake itself is refused
# Not an OCSPRequest: answered 200 with an OCSP malformedRequest response.
OCSP_JUNK = b"\x30\x00"


class AuthorizationMatrix(ServerTest):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.disabled = cls.ca.principal("gone", "admin")
        st, _, data = cls.srv.curl(cls.ca.admin, "POST", "/api/v1/principals/gone/disable")
        assert st == 200, data
        cls.stranger = stranger_identity(cls.ca.tmp)
        cls.counter = 0
        # One device of manufacturer A for lookups, one per admin action.
        cls.dev = {}
        for what in ("lookup", "revoke", "suspend", "reinstate"):
            _, csr = make_csr()
            st, _, data = cls.srv.curl(cls.mfr_a, "POST", "/api/v1/devices",
                                       {"csr": csr, "serial": "S-" + what, "model": "M"})
            assert st == 201, data
            cls.dev[what] = json.loads(data)["device_id"]
        st, _, data = cls.srv.curl(cls.ca.admin, "POST", "/api/v1/devices/%s/suspend" % cls.dev["reinstate"])
        assert st == 200, data

    def next(self):
        AuthorizationMatrix.counter += 1
        return AuthorizationMatrix.counter

    def enroll_body(self):
        return {"csr": make_csr()[1], "serial": "MX-%d" % self.next(), "model": "M"}

    def principal_body(self):
        return {"name": "np-%d" % self.next(), "role": "operator", "csr": make_csr()[1]}

    def throwaway_principal(self):
        name = "tp-%d" % self.next()
        st, _, data = self.srv.curl(self.ca.admin, "POST", "/api/v1/principals",
                                    {"name": name, "role": "operator", "csr": make_csr()[1]})
        self.assertEqual(st, 201, data)
        return name

    def test_every_route_against_every_identity(self):
        d = self.dev
        N, OK = 401, None  # OK: filled per route below
        # route key -> (method, path factory, body factory, {identity: status})
        pub = {"none": 200, "op": 200, "a": 200, "b": 200, "admin": 200, "disabled": 200}
        matrix = {
            ("GET", "/devices/{id}"): (lambda: "/devices/" + d["lookup"], None,
                                      {"none": N, "op": 200, "a": 403, "b": 403, "admin": 200, "disabled": N}),
            ("GET", "/DeviceID={id}"): (lambda: "/DeviceID=" + d["lookup"], None,
                                       {"none": N, "op": 200, "a": 403, "b": 403, "admin": 200, "disabled": N}),
            ("POST", "/api/v1/devices"): (lambda: "/api/v1/devices", self.enroll_body,
                                         {"none": N, "op": 403, "a": 201, "b": 201, "admin": 403, "disabled": N}),
            ("POST", "/api/v1/devices/batch"): (lambda: "/api/v1/devices/batch",
                                               lambda: {"devices": [self.enroll_body()]},
                                               {"none": N, "op": 403, "a": 200, "b": 200, "admin": 403, "disabled": N}),
            ("GET", "/api/v1/devices"): (lambda: "/api/v1/devices", None,
                                        {"none": N, "op": 403, "a": 200, "b": 200, "admin": 200, "disabled": N}),
            # B asking for A's device: the same 404 as an unknown DeviceID.
            ("GET", "/api/v1/devices/{id}"): (lambda: "/api/v1/devices/" + d["lookup"], None,
                                             {"none": N, "op": 403, "a": 200, "b": 404, "admin": 200, "disabled": N}),
            ("POST", "/api/v1/devices/{id}/revoke"): (lambda: "/api/v1/devices/%s/revoke" % d["revoke"],
                                                     lambda: {"reason": "keyCompromise"},
                                                     {"none": N, "op": 403, "a": 403, "b": 403, "admin": 200, "disabled": N}),
            ("POST", "/api/v1/devices/{id}/suspend"): (lambda: "/api/v1/devices/%s/suspend" % d["suspend"], None,
                                                      {"none": N, "op": 403, "a": 403, "b": 403, "admin": 200, "disabled": N}),
            ("POST", "/api/v1/devices/{id}/reinstate"): (lambda: "/api/v1/devices/%s/reinstate" % d["reinstate"], None,
                                                        {"none": N, "op": 403, "a": 403, "b": 403, "admin": 200, "disabled": N}),
            ("GET", "/api/v1/audit"): (lambda: "/api/v1/audit", None,
                                      {"none": N, "op": 403, "a": 403, "b": 403, "admin": 200, "disabled": N}),
            ("GET", "/api/v1/principals"): (lambda: "/api/v1/principals", None,
                                           {"none": N, "op": 403, "a": 403, "b": 403, "admin": 200, "disabled": N}),
            ("POST", "/api/v1/principals"): (lambda: "/api/v1/principals", self.principal_body,
                                            {"none": N, "op": 403, "a": 403, "b": 403, "admin": 201, "disabled": N}),
            ("POST", "/api/v1/principals/{name}/disable"): (
                lambda: "/api/v1/principals/%s/disable" % self.throwaway_principal(), None,
                {"none": N, "op": 403, "a": 403, "b": 403, "admin": 200, "disabled": N}),
            ("POST", "/api/v1/principals/{name}/revoke"): (
                lambda: "/api/v1/principals/%s/revoke" % self.throwaway_principal(),
                lambda: {"reason": "superseded"},
                {"none": N, "op": 403, "a": 403, "b": 403, "admin": 200, "disabled": N}),
            ("POST", "/api/v1/principals/{name}/renew"): (
                lambda: "/api/v1/principals/%s/renew" % self.throwaway_principal(),
                lambda: {"csr": make_csr()[1]},
                {"none": N, "op": 403, "a": 403, "b": 403, "admin": 200, "disabled": N}),
            # Every certificate principal renews itself (a fresh CSR each).
            ("POST", "/api/v1/renew"): (lambda: "/api/v1/renew", lambda: {"csr": make_csr()[1]},
                                       {"none": N, "op": 200, "a": 200, "b": 200, "admin": 200,
                                        "disabled": N}),
            ("GET", "/ca/root.pem"): (lambda: "/ca/root.pem", None, pub),
            ("GET", "/ca/device-ca.pem"): (lambda: "/ca/device-ca.pem", None, pub),
            ("GET", "/ca/chain.pem"): (lambda: "/ca/chain.pem", None, pub),
            ("GET", "/ca/infra-ca.pem"): (lambda: "/ca/infra-ca.pem", None, pub),
            ("GET", "/ca/device-ca.crt"): (lambda: "/ca/device-ca.crt", None, pub),
            ("GET", "/ca/root-ca.crt"): (lambda: "/ca/root-ca.crt", None, pub),
            ("GET", "/ca/device-ca-{id}"): (lambda: "/ca/device-ca-1.crt", None, pub),
            ("GET", "/crl/device-ca-{id}"): (lambda: "/crl/device-ca-1.crl", None, pub),
            ("GET", "/crl/infra-ca-{id}"): (lambda: "/crl/infra-ca-2.crl", None, pub),
            ("GET", "/crl/device.crl"): (lambda: "/crl/device.crl", None, pub),
            ("GET", "/crl/device-ca.crl"): (lambda: "/crl/device-ca.crl", None, pub),
            ("GET", "/crl/infra-ca.crl"): (lambda: "/crl/infra-ca.crl", None, pub),
            ("GET", "/crl/root-ca.crl"): (lambda: "/crl/root-ca.crl", None, pub),
            ("POST", "/ocsp"): (lambda: "/ocsp", lambda: OCSP_JUNK, pub),
            ("GET", "/ocsp/{request}"): (lambda: "/ocsp/MAA%3D", None, pub),
            # Bytes go out as application/ocsp-request: 415 once a
            # principal is let in (any principal: kur is everyone's).
            ("POST", "/.well-known/cmp"): (lambda: "/.well-known/cmp", lambda: OCSP_JUNK,
                                           {"none": N, "op": 415, "a": 415, "b": 415, "admin": 415,
                                            "disabled": N}),
            ("POST", "/api/v1/cmp-secrets"): (lambda: "/api/v1/cmp-secrets", lambda: {"count": 1},
                                              {"none": N, "op": 403, "a": 201, "b": 201,
                                               "admin": 422, "disabled": N}),
            # The MAC route is public: the one-time secret authenticates.
            ("POST", "/.well-known/cmp/p/pbm"): (lambda: "/.well-known/cmp/p/pbm",
                                                 lambda: OCSP_JUNK,
                                                 {w: 415 for w in pub}),
            ("GET", "/healthz"): (lambda: "/healthz", None, pub),
            ("GET", "/metrics"): (lambda: "/metrics", None, pub),
        }
        routes = run("serve", "--routes").stdout.split("\n")
        api = [tuple(l.split()[:2]) for l in routes if l and "/api/v1/portal/" not in l]
        self.assertEqual(sorted(api), sorted(matrix.keys()),
                         "route table and authorization matrix disagree")
        idents = {"none": None, "op": self.operator, "a": self.mfr_a, "b": self.mfr_b,
                  "admin": self.ca.admin, "disabled": self.disabled}
        failures = []
        # Admin last, so state-changing admin calls run after the refusals.
        order = ["none", "disabled", "op", "a", "b", "admin"]
        for (method, pattern), (path, body, expect) in matrix.items():
            for who in order:
                b = body() if body else None
                ctype = "application/ocsp-request" if isinstance(b, bytes) else "application/json"
                st, h, data = self.srv.curl(idents[who], method, path(), b, ctype=ctype)
                if st != expect[who]:
                    failures.append("%s %s as %s: %d (want %d) %s" % (method, pattern, who, st, expect[who], data[:200]))
                elif st >= 400:
                    doc = json.loads(data)
                    if h.get("content-type") != "application/problem+json" or doc["status"] != st:
                        failures.append("%s %s as %s: not problem+json" % (method, pattern, who))
            # A certificate from an unknown CA never gets past the handshake.
            st, _, _ = self.srv.curl(self.stranger, method, path(), body() if body else None)
            if st != TLS_FAIL:
                failures.append("%s %s as stranger: %d (want handshake failure)" % (method, pattern, st))
        self.assertEqual(failures, [])

    def test_401_and_403_are_distinct_problems(self):
        st, h, data = self.srv.curl(None, "GET", "/api/v1/audit")
        self.assertProblem(st, data, 401, "unauthenticated")
        st, h, data = self.srv.curl(self.operator, "GET", "/api/v1/audit")
        self.assertProblem(st, data, 403, "forbidden")

    def test_disabling_takes_effect_on_the_next_request(self):
        p = self.ca.principal("short-lived", "operator")
        st, _, _ = self.srv.curl(p, "GET", "/devices/" + self.dev["lookup"])
        self.assertEqual(st, 200)
        st, _, data = self.srv.curl(self.ca.admin, "POST", "/api/v1/principals/short-lived/disable")
        self.assertEqual(st, 200, data)
        self.assertEqual(json.loads(data)["status"], "disabled")
        st, _, data = self.srv.curl(p, "GET", "/devices/" + self.dev["lookup"])
        self.assertProblem(st, data, 401, "unauthenticated")
        # Public routes still work for it, as for anyone.
        st, _, _ = self.srv.curl(p, "GET", "/healthz")
        self.assertEqual(st, 200)

    def test_tls_12_and_13_with_session_resumption(self):
        import socket
        import ssl
        for version in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3):
            ctx = self.srv.ssl_context(self.operator)
            ctx.minimum_version = ctx.maximum_version = version
            with socket.create_connection(("127.0.0.1", self.srv.port)) as raw:
                with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as s:
                    s.sendall(b"GET /devices/%s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
                              % self.dev["lookup"].encode())
                    head = s.recv(64)
                    self.assertTrue(head.startswith(b"HTTP/1.1 200"), head)
                    while s.recv(4096):
                        pass
                    session = s.session
            self.assertIsNotNone(session)
            with socket.create_connection(("127.0.0.1", self.srv.port)) as raw:
                with ctx.wrap_socket(raw, server_hostname="127.0.0.1", session=session) as s:
                    s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                    self.assertTrue(s.recv(64).startswith(b"HTTP/1.1 200"))
                    self.assertTrue(s.session_reused, version)

    def test_resumption_after_the_client_closes_without_close_notify(self):
        # Python's ssl (like most HTTP clients) ends a kept-alive connection
        # with a TCP FIN and no close_notify. OpenSSL 3.0 takes that for a
        # fatal error and drops the session unless the server ignores the
        # unexpected EOF; the client then never resumes.
        import socket
        import ssl
        ctx = self.srv.ssl_context(self.operator)
        ctx.minimum_version = ctx.maximum_version = ssl.TLSVersion.TLSv1_3
        s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", self.srv.port)),
                            server_hostname="127.0.0.1")
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        buf = b""
        while b"\r\n\r\n" not in buf:
            buf += s.recv(4096)
        self.assertTrue(buf.startswith(b"HTTP/1.1 200"), buf[:64])
        session = s.session
        self.assertTrue(session.has_ticket)
        s.close()  # no unwrap(): the FIN arrives without close_notify
        for _ in range(2):
            with socket.create_connection(("127.0.0.1", self.srv.port)) as raw:
                with ctx.wrap_socket(raw, server_hostname="127.0.0.1", session=session) as s2:
                    self.assertTrue(s2.session_reused)
                    s2.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                    self.assertTrue(s2.recv(64).startswith(b"HTTP/1.1 200"))
                    session = s2.session

    def test_disabling_from_the_cli_takes_effect_on_the_next_request(self):
        # The principal is cached per connection and in the table shared by
        # all connections; another process (the CLI) writes the registry
        # while the server runs. Every way back in is refused at once.
        import ssl
        p = self.ca.principal("cli-off", "operator")
        path = "/devices/" + self.dev["lookup"]
        keep = self.srv.conn(p)
        try:
            for _ in range(3):  # the per-connection cache is filled and used
                keep.request("GET", path)
                r = keep.getresponse()
                r.read()
                self.assertEqual(r.status, 200)
            for _ in range(2):  # new connections: the shared table
                st, _, _ = self.srv.curl(p, "GET", path)
                self.assertEqual(st, 200)
            ctx = self.srv.ssl_context(p)
            ctx.maximum_version = ssl.TLSVersion.TLSv1_2
            other = http.client.HTTPSConnection("127.0.0.1", self.srv.port, context=ctx,
                                                timeout=60)
            other.request("GET", path)
            r = other.getresponse()
            r.read()
            self.assertEqual(r.status, 200)
            run("principal", "disable", "cli-off", "--data", self.ca.data)
            keep.request("GET", path)
            r = keep.getresponse()
            data = r.read()
            self.assertProblem(r.status, data, 401, "unauthenticated")
            other.request("GET", path)
            r = other.getresponse()
            data = r.read()
            self.assertProblem(r.status, data, 401, "unauthenticated")
            st, _, data = self.srv.curl(p, "GET", path)
            self.assertProblem(st, data, 401, "unauthenticated")
            other.close()
        finally:
            keep.close()

    def test_resumed_session_of_a_disabled_principal_is_refused(self):
        # A resumed TLS session carries the certificate it was made with;
        # the principal behind it is still checked on every request.
        import socket
        import ssl
        p = self.ca.principal("resumer", "operator")
        path = "/devices/" + self.dev["lookup"]

        def get(ctx, session=None):
            with socket.create_connection(("127.0.0.1", self.srv.port)) as raw:
                with ctx.wrap_socket(raw, server_hostname="127.0.0.1", session=session) as s:
                    s.sendall(b"GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
                              % path.encode())
                    data = b""
                    while True:
                        chunk = s.recv(4096)
                        if not chunk:
                            break
                        data += chunk
                    return data, s.session, s.session_reused

        for version in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3):
            ctx = self.srv.ssl_context(p)
            ctx.minimum_version = ctx.maximum_version = version
            data, session, _ = get(ctx)
            self.assertTrue(data.startswith(b"HTTP/1.1 200"), data[:80])
            data, session, reused = get(ctx, session)
            self.assertTrue(reused, version)
            self.assertTrue(data.startswith(b"HTTP/1.1 200"), data[:80])
            if version == ssl.TLSVersion.TLSv1_2:
                continue
            st, _, body = self.srv.curl(self.ca.admin, "POST", "/api/v1/principals/resumer/disable")
            self.assertEqual(st, 200, body)
            data, _, reused = get(ctx, session)
            self.assertTrue(reused, version)
            self.assertTrue(data.startswith(b"HTTP/1.1 401"), data[:80])

    def test_unknown_route_and_wrong_method(self):
        st, _, data = self.srv.curl(self.ca.admin, "GET", "/api/v1/nothing-here")
        self.assertProblem(st, data, 404, "not-found")
        st, _, data = self.srv.curl(self.ca.admin, "DELETE", "/api/v1/nothing-here")
        self.assertProblem(st, data, 404, "not-found")
        st, h, data = self.srv.curl(self.ca.admin, "DELETE", "/api/v1/devices")
        self.assertProblem(st, data, 405, "method-not-allowed")
        self.assertEqual(h.get("allow"), "POST, GET")
        st, h, data = self.srv.curl(self.ca.admin, "PUT", "/healthz", {"x": 1})
        self.assertProblem(st, data, 405, "method-not-allowed")


class ReadersSnapshot(ServerTest):
    """A reader route (GET /devices/{id}) reads its change stamp, its
    principal and its device in one read transaction. That transaction
    must neither take a write (the portal session fallback) nor outlive
    the request (a later request on the connection must see new commits)."""

    def test_session_fallback_of_a_reader_writes_outside_its_snapshot(self):
        # A certificate that is no active principal falls back to the portal
        # session, whose lookup writes last_seen; six connections doing so
        # commit between each other's snapshots. Inside a held snapshot the
        # write failed with SQLITE_BUSY_SNAPSHOT: 503 instead of 404.
        import threading
        st, _, data = self.srv.curl(self.ca.admin, "POST", "/api/v1/portal/users",
                                    {"name": "padm", "role": "admin",
                                     "password": "a long enough password 1"})
        self.assertEqual(st, 201, data)
        c = http.client.HTTPSConnection("127.0.0.1", self.srv.port,
                                        context=self.srv.ssl_context(None), timeout=60)
        c.request("POST", "/api/v1/portal/login",
                  json.dumps({"name": "padm", "password": "a long enough password 1"}),
                  {"Content-Type": "application/json"})
        r = c.getresponse()
        r.read()
        self.assertEqual(r.status, 200)
        cookie = r.getheader("Set-Cookie").split(";")[0]
        c.close()
        off = self.ca.principal("op-off", "operator")
        run("principal", "disable", "--data", self.ca.data, "op-off")
        counts = {}
        lock = threading.Lock()
        n = 100 if os.environ.get("PROVCA_SANITIZE") else 300

        def worker():
            k = self.srv.conn(off)
            try:
                for _ in range(n):
                    k.request("GET", "/devices/none-such", headers={"Cookie": cookie})
                    r = k.getresponse()
                    r.read()
                    with lock:
                        counts[r.status] = counts.get(r.status, 0) + 1
            finally:
                k.close()
        ts = [threading.Thread(target=worker) for _ in range(6)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        self.assertEqual(counts, {404: 6 * n})

    def test_disable_after_a_lookup_refuses_the_next_request_of_another_kind(self):
        # The snapshot of a lookup ends with it: the next request on the same
        # kept-alive connection (not a reader) reads a fresh change stamp and
        # sees the CLI's disable. A leaked snapshot served it 200.
        adm = self.ca.principal("adm2", "admin")
        k = self.srv.conn(adm)
        try:
            for _ in range(2):
                k.request("GET", "/api/v1/audit?limit=1")
                r = k.getresponse()
                r.read()
                self.assertEqual(r.status, 200)
            k.request("GET", "/devices/none-such")
            r = k.getresponse()
            r.read()
            self.assertEqual(r.status, 404)
            run("principal", "disable", "--data", self.ca.data, "adm2")
            k.request("GET", "/api/v1/audit?limit=1")
            r = k.getresponse()
            data = r.read()
            self.assertProblem(r.status, data, 401, "unauthenticated")
        finally:
            k.close()


class CrossSiteBrowserRequests(ServerTest):
    """A browser that holds an administrator's client certificate presents it
    on cross-site requests too: a page elsewhere must not be able to change
    state with it (a form POST needs no body the server parses)."""

    def user_disabled(self, name):
        st, _, data = self.srv.curl(self.ca.admin, "GET", "/api/v1/portal/users")
        self.assertEqual(st, 200, data)
        return [u for u in json.loads(data)["users"] if u["name"] == name][0]["disabled"]

    def test_cross_site_state_change_with_a_certificate_is_refused(self):
        st, _, data = self.srv.curl(self.ca.admin, "POST", "/api/v1/portal/users",
                                    {"name": "victim", "role": "admin",
                                     "password": "a long enough password 1"})
        self.assertEqual(st, 201, data)
        path = "/api/v1/portal/users/victim/disable"
        for hdrs in (["Origin: https://evil.example"],
                     ["Origin: null"],
                     ["Origin: http://127.0.0.1:%d" % self.srv.port],
                     ["Sec-Fetch-Site: cross-site"],
                     ["Sec-Fetch-Site: same-site"]):
            st, _, data = self.srv.curl(self.ca.admin, "POST", path,
                                        "x=1", hdrs, ctype="application/x-www-form-urlencoded")
            self.assertProblem(st, data, 403, "csrf-token-invalid")
            self.assertFalse(self.user_disabled("victim"), hdrs)
        # The server's own pages and non-browser clients still work.
        st, _, data = self.srv.curl(self.ca.admin, "POST", path, None,
                                    ["Origin: https://127.0.0.1:%d" % self.srv.port,
                                     "Sec-Fetch-Site: same-origin"])
        self.assertEqual(st, 200, data)
        self.assertTrue(self.user_disabled("victim"))
        st, _, data = self.srv.curl(self.ca.admin, "POST", "/api/v1/portal/users/victim/enable")
        self.assertEqual(st, 200, data)
        self.assertFalse(self.user_disabled("victim"))
        # Reads are not state changes.
        st, _, _ = self.srv.curl(self.ca.admin, "GET", "/api/v1/portal/users", None,
                                 ["Origin: https://evil.example", "Sec-Fetch-Site: cross-site"])
        self.assertEqual(st, 200)


if __name__ == "__main__":
    unittest.main()

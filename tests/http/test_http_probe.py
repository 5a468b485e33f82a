"""What a hostile probe found in ca-server (issue 13, part 2), one class per
finding: static files limited to the portal's assets, the 401 challenge,
\\u0000 inside JSON strings, TLS suites, RSA exponents, explicit curve
parameters, portal sign-in throttling by address, connection limits per
address, and self-renewal key reuse and certificate caps."""
import json
import os
import unittest

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


if __name__ == "__main__":
    unittest.main()

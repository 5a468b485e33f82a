"""web/openapi.yaml documents exactly the routes the server registers
(`ca-server serve --routes` against the YAML's paths and methods), and is a
valid OpenAPI 3.1 document by the official schema (an npm validator pinned
in tests/http/openapi/, installed by scripts/setup.sh test)."""
import os
import subprocess
import unittest

import yaml

from httptest import SRC, run


class OpenAPIMatchesRouteTable(unittest.TestCase):

    def test_yaml_and_route_table_agree(self):
        table = set()
        for line in run("serve", "--routes").stdout.splitlines():
            method, pattern, roles = line.split()
            table.add((method, pattern))
        self.assertGreaterEqual(len(table), 18)
        with open(os.path.join(SRC, "web", "openapi.yaml")) as f:
            doc = yaml.safe_load(f)
        self.assertTrue(doc["openapi"].startswith("3.1."))
        documented = set()
        for path, ops in doc["paths"].items():
            for method in ops:
                if method in ("get", "post", "put", "patch", "delete"):
                    documented.add((method.upper(), path))
        self.assertEqual(sorted(table - documented), [], "registered but not documented")
        self.assertEqual(sorted(documented - table), [], "documented but not registered")

    def test_public_routes_are_documented_without_security(self):
        with open(os.path.join(SRC, "web", "openapi.yaml")) as f:
            doc = yaml.safe_load(f)
        for line in run("serve", "--routes").stdout.splitlines():
            method, pattern, roles = line.split()
            op = doc["paths"][pattern][method.lower()]
            self.assertEqual(roles == "public", op.get("security") == [], pattern)


class OpenAPIValidates(unittest.TestCase):

    def validate(self, path):
        here = os.path.join(SRC, "tests", "http", "openapi")
        if not os.path.isdir(os.path.join(here, "node_modules", "@seriousme")):
            self.fail("tests/http/openapi/node_modules missing: run scripts/setup.sh test")
        return subprocess.run(["node", os.path.join(here, "validate.mjs"), path],
                              capture_output=True, text=True, timeout=120)

    def test_document_is_valid_openapi_3_1(self):
        p = self.validate(os.path.join(SRC, "web", "openapi.yaml"))
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertEqual(p.stdout.strip(), "valid 3.1")

    def test_validator_refuses_mutual_tls_under_3_0(self):
        # Declared 3.0.3 (as it was), the document (mutualTLS, 3.1 type
        # arrays) does not pass: the validator checks against the declared
        # version's schema.
        import tempfile
        with open(os.path.join(SRC, "web", "openapi.yaml")) as f:
            text = f.read().replace("openapi: 3.1.0", "openapi: 3.0.3", 1)
        with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as f:
            f.write(text)
        try:
            p = self.validate(f.name)
        finally:
            os.unlink(f.name)
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        self.assertIn('"instancePath"', p.stdout)


if __name__ == "__main__":
    unittest.main()

"""web/openapi.yaml documents exactly the routes the server registers:
`ca-server serve --routes` against the YAML's paths and methods."""
import os
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
        self.assertTrue(doc["openapi"].startswith("3."))
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


if __name__ == "__main__":
    unittest.main()

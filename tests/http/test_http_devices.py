"""Device lifecycle over HTTPS: enrollment (idempotent, conflicts, batch,
isolation), lookup (PEM, JSON, ETag/304), listing and pagination,
revocation end to end (lookup + CRL), input errors that change nothing,
metrics, the access log, static files and the start banner."""
import json
import os
import re
import signal
import unittest

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from httptest import Server, ServerTest, load_pems, make_csr, run, PROBLEM, write_file


def device_count(srv, ident):
    """All devices visible to ident, following the cursor."""
    n, cursor = 0, None
    while True:
        path = "/api/v1/devices?limit=1000" + ("&cursor=" + cursor if cursor else "")
        st, _, data = srv.curl(ident, "GET", path)
        assert st == 200, data
        doc = json.loads(data)
        n += len(doc["devices"])
        cursor = doc["next_cursor"]
        if not cursor:
            return n


class Enrollment(ServerTest):

    def test_enroll_returns_201_with_certificate_and_repeat_is_200_same_certificate(self):
        kc = make_csr()
        st, doc = self.enroll(self.mfr_a, "E-1", key_csr=kc)
        self.assertEqual(st, 201, doc)
        self.assertTrue(doc["created"])
        self.assertRegex(doc["device_id"], r"^[A-Za-z0-9._-]{1,64}$")
        self.assertEqual(doc["certificate_url"], self.certificate_url(doc["device_id"]))
        cert = x509.load_pem_x509_certificate(doc["certificate"].encode())
        self.assertEqual(cert.public_key().public_bytes(serialization.Encoding.DER,
                                                        serialization.PublicFormat.SubjectPublicKeyInfo),
                         kc[0].public_key().public_bytes(serialization.Encoding.DER,
                                                         serialization.PublicFormat.SubjectPublicKeyInfo))
        self.assertIn("BEGIN CERTIFICATE", doc["chain"])
        st2, doc2 = self.enroll(self.mfr_a, "E-1", key_csr=kc)
        self.assertEqual(st2, 200, doc2)
        self.assertFalse(doc2["created"])
        self.assertEqual(doc2["device_id"], doc["device_id"])
        self.assertEqual(doc2["certificate"], doc["certificate"])

    def certificate_url(self, dev):
        with open(os.path.join(self.ca.data, "config.json")) as f:
            cfg = json.load(f)
        return cfg["public_base_url"] + "/devices/" + dev

    def test_second_key_for_same_serial_is_409_and_changes_nothing(self):
        st, doc = self.enroll(self.mfr_a, "E-2")
        self.assertEqual(st, 201)
        before = device_count(self.srv, self.mfr_a)
        st, data = self.enroll(self.mfr_a, "E-2")
        self.assertEqual(st, 409, data)
        self.assertEqual(data["type"], PROBLEM + "conflict")
        self.assertEqual(device_count(self.srv, self.mfr_a), before)

    def test_key_of_another_live_device_is_409_key_in_use_until_revoked(self):
        kc = make_csr()
        st, d1 = self.enroll(self.mfr_a, "KU-1", key_csr=kc)
        self.assertEqual(st, 201, d1)
        before = device_count(self.srv, self.admin)
        st, data = self.enroll(self.mfr_a, "KU-2", key_csr=kc)
        self.assertEqual(st, 409, data)
        self.assertEqual(data["type"], PROBLEM + "key-in-use")
        self.assertIn(d1["device_id"], data["detail"])
        # Another manufacturer learns that the key is taken, not by whom.
        st, data = self.enroll(self.mfr_b, "KU-1", key_csr=kc)
        self.assertEqual(st, 409, data)
        self.assertEqual(data["type"], PROBLEM + "key-in-use")
        self.assertNotIn(d1["device_id"], data["detail"])
        st, _, out = self.srv.curl(self.mfr_b, "POST", "/api/v1/devices/batch",
                                   {"devices": [{"csr": kc[1], "serial": "KU-3", "model": "M"}]})
        self.assertEqual(st, 200, out)
        item = json.loads(out)["results"][0]
        self.assertEqual((item["status"], item["problem"]["type"]), (409, PROBLEM + "key-in-use"))
        self.assertEqual(device_count(self.srv, self.admin), before)
        # The same request again is still the same certificate.
        st, d2 = self.enroll(self.mfr_a, "KU-1", key_csr=kc)
        self.assertEqual((st, d2["device_id"]), (200, d1["device_id"]))
        st, _, out = self.srv.curl(self.admin, "POST", "/api/v1/devices/%s/revoke" % d1["device_id"],
                                   {"reason": "superseded"})
        self.assertEqual(st, 200, out)
        st, data = self.enroll(self.mfr_b, "KU-1", key_csr=kc)
        self.assertEqual(st, 201, data)

    def test_same_serial_under_two_manufacturers_is_two_devices(self):
        st1, d1 = self.enroll(self.mfr_a, "SHARED-1")
        st2, d2 = self.enroll(self.mfr_b, "SHARED-1")
        self.assertEqual((st1, st2), (201, 201))
        self.assertNotEqual(d1["device_id"], d2["device_id"])

    def test_manufacturer_cannot_enroll_or_list_under_another_id(self):
        _, csr = make_csr()
        st, _, data = self.srv.curl(self.mfr_a, "POST", "/api/v1/devices",
                                    {"csr": csr, "serial": "X-1", "model": "M", "manufacturer_id": "BETA"})
        self.assertProblem(st, data, 403, "forbidden")
        st, _, data = self.srv.curl(self.mfr_a, "GET", "/api/v1/devices?manufacturer=BETA")
        self.assertProblem(st, data, 403, "forbidden")
        st, d = self.enroll(self.mfr_b, "B-ONLY")
        self.assertEqual(st, 201)
        st, _, data = self.srv.curl(self.mfr_a, "GET", "/api/v1/devices?serial=B-ONLY")
        self.assertEqual(st, 200)
        self.assertEqual(json.loads(data)["devices"], [])
        st, _, data = self.srv.curl(self.mfr_a, "GET", "/api/v1/devices?limit=1000")
        ids = [x["manufacturer_id"] for x in json.loads(data)["devices"]]
        self.assertTrue(ids and set(ids) == {"ACME"}, ids)
        # The manufacturer's own certificate does not open the operator lookup.
        st, _, data = self.srv.curl(self.mfr_a, "GET", "/devices/" + d["device_id"])
        self.assertProblem(st, data, 403, "forbidden")
        # The admin sees both.
        st, _, data = self.srv.curl(self.ca.admin, "GET", "/api/v1/devices?serial=B-ONLY")
        self.assertEqual([x["device_id"] for x in json.loads(data)["devices"]], [d["device_id"]])

    def test_batch_with_one_bad_item_enrolls_the_others_in_order(self):
        items = [{"csr": make_csr()[1], "serial": "BA-%d" % i, "model": "M"} for i in range(5)]
        items[2] = {"csr": "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n",
                    "serial": "BA-2", "model": "M"}
        items[3]["serial"] = 17  # wrong type
        st, _, data = self.srv.curl(self.mfr_a, "POST", "/api/v1/devices/batch", {"devices": items})
        self.assertEqual(st, 200, data)
        doc = json.loads(data)
        self.assertEqual([r["index"] for r in doc["results"]], [0, 1, 2, 3, 4])
        self.assertEqual([r["status"] for r in doc["results"]], [201, 201, 400, 422, 201])
        self.assertEqual(doc["results"][2]["problem"]["type"], PROBLEM + "invalid-csr")
        self.assertEqual(doc["results"][3]["problem"]["type"], PROBLEM + "invalid-field")
        self.assertEqual((doc["created"], doc["existing"], doc["failed"]), (3, 0, 2))
        for i in (0, 1, 4):
            r = doc["results"][i]
            st, _, pem = self.srv.curl(self.operator, "GET", "/devices/" + r["device_id"])
            self.assertEqual(st, 200)
            self.assertTrue(pem.decode().startswith(r["certificate"].strip()))
        st, _, data = self.srv.curl(self.mfr_a, "GET", "/api/v1/devices?serial=BA-2")
        self.assertEqual(json.loads(data)["devices"], [])

    def test_batch_limits(self):
        st, _, data = self.srv.curl(self.mfr_a, "POST", "/api/v1/devices/batch", {"devices": []})
        self.assertProblem(st, data, 422, "invalid-field")
        big = {"devices": [{"csr": "x", "serial": str(i), "model": "m"} for i in range(1001)]}
        st, _, data = self.srv.curl(self.mfr_a, "POST", "/api/v1/devices/batch", big)
        self.assertProblem(st, data, 422, "invalid-field")
        st, _, data = self.srv.curl(self.mfr_a, "POST", "/api/v1/devices/batch", {"items": []})
        self.assertProblem(st, data, 422, "invalid-field")

    def test_search_q_matches_serial_or_device_id_exactly_within_own_devices(self):
        st, a = self.enroll(self.mfr_a, "Q-ONE")
        self.assertEqual(st, 201, a)
        st, a2 = self.enroll(self.mfr_a, "Q-ONE-2")
        self.assertEqual(st, 201, a2)
        st, b = self.enroll(self.mfr_b, "Q-ONE")
        self.assertEqual(st, 201, b)

        def ids(ident, query):
            st, _, data = self.srv.curl(ident, "GET", "/api/v1/devices?" + query)
            self.assertEqual(st, 200, data)
            return sorted(x["device_id"] for x in json.loads(data)["devices"])

        # By serial: exact (Q-ONE-2 is not a match), own devices only.
        self.assertEqual(ids(self.mfr_a, "q=Q-ONE"), [a["device_id"]])
        self.assertEqual(ids(self.mfr_b, "q=Q-ONE"), [b["device_id"]])
        self.assertEqual(ids(self.admin, "q=Q-ONE"), sorted([a["device_id"], b["device_id"]]))
        # By DeviceID; another manufacturer's DeviceID finds nothing.
        self.assertEqual(ids(self.mfr_a, "q=" + a2["device_id"]), [a2["device_id"]])
        self.assertEqual(ids(self.mfr_a, "q=" + b["device_id"]), [])
        self.assertEqual(ids(self.mfr_a, "q=Q-ON"), [])
        # Combines with the other filters.
        self.assertEqual(ids(self.mfr_a, "q=Q-ONE&status=revoked"), [])
        st, _, data = self.srv.curl(self.mfr_a, "GET", "/api/v1/devices?q=" + "x" * 65)
        self.assertProblem(st, data, 400, "invalid-query")

    def test_pagination_walks_every_device_once(self):
        st, _, data = self.srv.curl(self.mfr_b, "POST", "/api/v1/devices/batch",
                                    {"devices": [{"csr": make_csr()[1], "serial": "PG-%02d" % i, "model": "P"}
                                                 for i in range(25)]})
        self.assertEqual(st, 200, data)
        seen, cursor, pages = [], None, 0
        while True:
            st, _, data = self.srv.curl(self.mfr_b, "GET", "/api/v1/devices?limit=7" +
                                        ("&cursor=" + cursor if cursor else ""))
            self.assertEqual(st, 200, data)
            doc = json.loads(data)
            self.assertLessEqual(len(doc["devices"]), 7)
            seen += [x["device_id"] for x in doc["devices"] if x["serial"].startswith("PG-")]
            pages += 1
            cursor = doc["next_cursor"]
            if not cursor:
                break
        self.assertEqual(len(seen), 25)
        self.assertEqual(len(set(seen)), 25)
        self.assertGreaterEqual(pages, 4)
        for q, slug in (("limit=0", "invalid-query"), ("limit=1001", "invalid-query"),
                        ("limit=abc", "invalid-query"), ("cursor=-4", "invalid-query"),
                        ("status=dead", "invalid-query")):
            st, _, data = self.srv.curl(self.mfr_b, "GET", "/api/v1/devices?" + q)
            self.assertProblem(st, data, 400, slug)


class Lookup(ServerTest):

    def test_pem_chain_json_context_and_etag(self):
        st, d = self.enroll(self.mfr_a, "L-1", model="Sensor")
        self.assertEqual(st, 201)
        dev = d["device_id"]
        st, h, pem = self.srv.curl(self.operator, "GET", "/devices/" + dev)
        self.assertEqual(st, 200)
        self.assertEqual(h["content-type"], "application/pem-certificate-chain")
        certs = load_pems(pem)
        self.assertEqual(len(certs), 3)  # device, Device CA, Root
        self.assertEqual(certs[0].public_bytes(serialization.Encoding.PEM).decode().strip(), d["certificate"].strip())
        etag = h["etag"]
        st, h2, body = self.srv.curl(self.operator, "GET", "/devices/" + dev, headers=["If-None-Match: " + etag])
        self.assertEqual((st, body), (304, b""))
        st, h3, pem2 = self.srv.curl(self.operator, "GET", "/DeviceID=" + dev)
        self.assertEqual((st, pem2, h3["etag"]), (200, pem, etag))

        st, h, data = self.srv.curl(self.operator, "GET", "/devices/" + dev, headers=["Accept: application/json"])
        self.assertEqual(st, 200)
        self.assertEqual(h["content-type"], "application/json")
        self.assertNotEqual(h["etag"], etag)
        ctx = json.loads(data)
        self.assertEqual(ctx["device_id"], dev)
        self.assertEqual(ctx["manufacturer"]["id"], "ACME")
        self.assertEqual(ctx["manufacturer"]["name"], "Maker ACME")
        self.assertEqual((ctx["serial"], ctx["model"], ctx["hardware_version"]), ("L-1", "Sensor", "1.0"))
        self.assertEqual(ctx["status"], {"state": "active", "reason": None, "since": None})
        self.assertEqual(ctx["certificate"].strip(), d["certificate"].strip())
        self.assertEqual(len(load_pems(ctx["chain"].encode())), 2)
        self.assertEqual(ctx["key_type"], "EC-P256")
        self.assertRegex(ctx["not_before"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
        self.assertTrue(ctx["urls"]["crl"].endswith("/crl/device.crl"))
        self.assertTrue(ctx["urls"]["root_ca"].endswith("/ca/root.pem"))
        self.assertEqual(int(ctx["certificate_serial"], 16), certs[0].serial_number)
        jtag = h["etag"]
        st, _, _ = self.srv.curl(self.operator, "GET", "/devices/" + dev,
                                 headers=["Accept: application/json", "If-None-Match: W/\"x\", " + jtag])
        self.assertEqual(st, 304)

        # Suspension changes the tag; reinstating gives the context back.
        st, _, _ = self.srv.curl(self.ca.admin, "POST", "/api/v1/devices/%s/suspend" % dev)
        self.assertEqual(st, 200)
        st, h, data = self.srv.curl(self.operator, "GET", "/devices/" + dev,
                                    headers=["Accept: application/json", "If-None-Match: " + jtag])
        self.assertEqual(st, 200)
        self.assertEqual(json.loads(data)["status"]["state"], "suspended")
        self.assertEqual(json.loads(data)["status"]["reason"], "certificateHold")
        st, _, data = self.srv.curl(self.ca.admin, "POST", "/api/v1/devices/%s/reinstate" % dev)
        self.assertEqual(st, 200)
        self.assertEqual(json.loads(data)["status"]["state"], "active")
        st, _, data = self.srv.curl(self.ca.admin, "POST", "/api/v1/devices/%s/reinstate" % dev)
        self.assertProblem(st, data, 409, "invalid-state")

    def test_revocation_by_another_process_shows_on_the_next_kept_alive_lookup(self):
        # A lookup reads its device in the read transaction that its
        # identification's change stamp opened; that transaction must end
        # with the request, so a commit by another process (the CLI) is
        # seen by the very next request on the same kept-alive connection
        # (PEM and JSON), and no transaction is left behind.
        st, d = self.enroll(self.mfr_a, "KA-1")
        self.assertEqual(st, 201)
        dev = d["device_id"]
        keep = self.srv.conn(self.operator)

        def get(accept=None):
            keep.request("GET", "/devices/" + dev,
                         headers={"Accept": accept} if accept else {})
            r = keep.getresponse()
            return r.status, r.getheader("ETag"), r.read()
        try:
            for _ in range(3):  # the connection's principal cache is used
                st, tag, _ = get("application/json")
                self.assertEqual(st, 200)
            st, ptag, pem = get()
            self.assertEqual(st, 200)
            self.assertEqual(len(load_pems(pem)), 3)
            run("revoke", dev, "--data", self.ca.data, "--reason", "keyCompromise")
            st, tag2, data = get("application/json")
            self.assertEqual(st, 200)
            self.assertEqual(json.loads(data)["status"]["state"], "revoked")
            self.assertEqual(json.loads(data)["status"]["reason"], "keyCompromise")
            self.assertNotEqual(tag2, tag)
            st, ptag2, _ = get()
            self.assertEqual(st, 200)
            self.assertNotEqual(ptag2, ptag)
            keep.request("GET", "/devices/no-such-device")
            r = keep.getresponse()
            self.assertProblem(r.status, r.read(), 404, "not-found")
        finally:
            keep.close()
        st, _, data = self.srv.curl(None, "GET", "/metrics")
        self.assertEqual(st, 200)
        self.assertIn("\nprovca_db_errors_total 0\n", data.decode())

    def test_unknown_and_malformed_ids_are_404(self):
        for path in ("/devices/no-such-device", "/DeviceID=nope", "/devices/bad%20id", "/devices/" + "a" * 65):
            st, _, data = self.srv.curl(self.operator, "GET", path)
            self.assertProblem(st, data, 404, "not-found")

    def test_revocation_shows_in_next_lookup_and_next_crl(self):
        st, d = self.enroll(self.mfr_a, "R-1")
        dev = d["device_id"]
        serial = x509.load_pem_x509_certificate(d["certificate"].encode()).serial_number
        st, h, crl0 = self.srv.curl(None, "GET", "/crl/device.crl")
        self.assertEqual(st, 200)
        self.assertEqual(h["content-type"], "application/pkix-crl")
        self.assertIsNone(x509.load_der_x509_crl(crl0).get_revoked_certificate_by_serial_number(serial))
        st, _, data = self.srv.curl(self.ca.admin, "POST", "/api/v1/devices/%s/revoke" % dev,
                                    {"reason": "keyCompromise"})
        self.assertEqual(st, 200, data)
        self.assertEqual(json.loads(data)["status"]["state"], "revoked")
        st, _, data = self.srv.curl(self.operator, "GET", "/devices/" + dev, headers=["Accept: application/json"])
        self.assertEqual(st, 200)
        ctx = json.loads(data)
        self.assertEqual(ctx["status"]["state"], "revoked")
        self.assertEqual(ctx["status"]["reason"], "keyCompromise")
        self.assertIsNotNone(ctx["status"]["since"])
        st, _, crl1 = self.srv.curl(None, "GET", "/crl/device.crl")
        crl = x509.load_der_x509_crl(crl1)
        with open(os.path.join(self.ca.data, "device-ca.crt"), "rb") as f:
            dev_ca = x509.load_pem_x509_certificate(f.read())
        self.assertTrue(crl.is_signature_valid(dev_ca.public_key()))
        entry = crl.get_revoked_certificate_by_serial_number(serial)
        self.assertIsNotNone(entry)
        self.assertEqual(entry.extensions.get_extension_for_class(x509.CRLReason).value.reason,
                         x509.ReasonFlags.key_compromise)
        # Revoking again is a state error; a bad reason is a field error.
        st, _, data = self.srv.curl(self.ca.admin, "POST", "/api/v1/devices/%s/revoke" % dev,
                                    {"reason": "keyCompromise"})
        self.assertProblem(st, data, 409, "invalid-state")
        st, d2 = self.enroll(self.mfr_a, "R-2")
        for body in ({"reason": "certificateHold"}, {"reason": "bogus"}, {"reason": 1}, {}):
            st, _, data = self.srv.curl(self.ca.admin, "POST", "/api/v1/devices/%s/revoke" % d2["device_id"], body)
            self.assertProblem(st, data, 422, "invalid-field")
        st, _, data = self.srv.curl(self.ca.admin, "POST", "/api/v1/devices/unknown-dev/revoke",
                                    {"reason": "keyCompromise"})
        self.assertProblem(st, data, 404, "not-found")
        # After revocation the serial may be enrolled again with a new key.
        st, d3 = self.enroll(self.mfr_a, "R-1")
        self.assertEqual(st, 201, d3)
        self.assertNotEqual(d3["device_id"], dev)

    def test_public_ca_files(self):
        with open(os.path.join(self.ca.data, "root-ca.crt"), "rb") as f:
            root = f.read()
        st, h, data = self.srv.curl(None, "GET", "/ca/root.pem")
        self.assertEqual(st, 200)
        self.assertEqual(x509.load_pem_x509_certificate(data), x509.load_pem_x509_certificate(root))
        st, h, data = self.srv.curl(None, "GET", "/ca/chain.pem")
        chain = load_pems(data)
        self.assertEqual(len(chain), 2)
        self.assertEqual(chain[1], x509.load_pem_x509_certificate(root))
        st, h, data = self.srv.curl(None, "GET", "/ca/device-ca.pem")
        self.assertEqual(x509.load_pem_x509_certificate(data), chain[0])
        st, _, data = self.srv.curl(None, "GET", "/healthz")
        self.assertEqual((st, json.loads(data)), (200, {"status": "ok"}))


class BadInput(ServerTest):
    """Each malformed request gets its precise problem and changes nothing."""

    def test_each_bad_request_is_refused_precisely(self):
        before = device_count(self.srv, self.ca.admin)
        good_csr = make_csr()[1]
        cases = [
            ("not json", "{nope", "application/json", 400, "malformed-json"),
            ("array", "[1,2]", "application/json", 422, "invalid-field"),
            ("empty", "", "application/json", 400, "malformed-json"),
            ("wrong ctype", json.dumps({"csr": good_csr, "serial": "Z", "model": "M"}), "text/plain", 415,
             "unsupported-media-type"),
            ("missing serial", {"csr": good_csr, "model": "M"}, None, 422, "invalid-field"),
            ("missing csr", {"serial": "Z1", "model": "M"}, None, 422, "invalid-field"),
            ("serial number", {"csr": good_csr, "serial": 5, "model": "M"}, None, 422, "invalid-field"),
            ("model object", {"csr": good_csr, "serial": "Z2", "model": {}}, None, 422, "invalid-field"),
            ("long serial", {"csr": good_csr, "serial": "S" * 65, "model": "M"}, None, 422, "invalid-field"),
            ("long model", {"csr": good_csr, "serial": "Z3", "model": "m" * 65}, None, 422, "invalid-field"),
            ("empty serial", {"csr": good_csr, "serial": "", "model": "M"}, None, 422, "invalid-field"),
            ("garbage csr", {"csr": "hello", "serial": "Z4", "model": "M"}, None, 400, "invalid-csr"),
            ("huge csr", {"csr": "A" * 20000, "serial": "Z5", "model": "M"}, None, 422, "invalid-field"),
            ("control chars", {"csr": good_csr, "serial": "Z6\u0001", "model": "M"}, None, 422, "invalid-field"),
        ]
        for name, body, ctype, status, slug in cases:
            with self.subTest(name):
                st, h, data = self.srv.curl(self.mfr_a, "POST", "/api/v1/devices", body, ctype=ctype or "application/json")
                self.assertProblem(st, data, status, slug)
                self.assertEqual(h["content-type"], "application/problem+json")
        # A CSR whose signature does not verify.
        key, csr = make_csr()
        other = make_csr()[1]
        tampered = csr[:60] + other[60:120] + csr[120:]
        st, _, data = self.srv.curl(self.mfr_a, "POST", "/api/v1/devices",
                                    {"csr": tampered, "serial": "Z7", "model": "M"})
        self.assertIn(st, (400,), data)
        self.assertEqual(device_count(self.srv, self.ca.admin), before)

    def test_oversized_body_is_413_and_changes_nothing(self):
        body = json.dumps({"csr": "x" * (1024 * 1024 + 10), "serial": "BIG", "model": "M"})
        st, _, data = self.srv.curl(self.mfr_a, "POST", "/api/v1/devices", body)
        self.assertProblem(st, data, 413, "body-too-large")
        # Chunked upload without Content-Length is capped the same way.
        st, _, data = self.srv.curl(self.mfr_a, "POST", "/api/v1/devices", body,
                                    headers=["Transfer-Encoding: chunked"])
        self.assertProblem(st, data, 413, "body-too-large")
        st, _, data = self.srv.curl(self.mfr_a, "GET", "/api/v1/devices?serial=BIG")
        self.assertEqual(json.loads(data)["devices"], [])

    def test_principal_create_errors(self):
        csr = make_csr()[1]
        for body, status, slug in (
                ({"name": "x1", "role": "god", "csr": csr}, 422, "invalid-field"),
                ({"name": "x2", "role": "manufacturer", "csr": csr}, 422, "invalid-field"),
                ({"name": "x3", "role": "operator", "csr": "nope"}, 400, "invalid-csr"),
                ({"role": "operator", "csr": csr}, 422, "invalid-field"),
                ({"name": "op1", "role": "operator", "csr": csr}, 409, "conflict")):
            st, _, data = self.srv.curl(self.ca.admin, "POST", "/api/v1/principals", body)
            self.assertProblem(st, data, status, slug)
        st, _, data = self.srv.curl(self.ca.admin, "GET", "/api/v1/principals")
        names = [p["name"] for p in json.loads(data)["principals"]]
        self.assertFalse({"x1", "x2", "x3"} & set(names))
        st, _, data = self.srv.curl(self.ca.admin, "POST", "/api/v1/principals/nobody/disable")
        self.assertProblem(st, data, 404, "not-found")


class Operations(ServerTest):
    """Metrics, access log, audit, static files, banner and clean stop."""

    def test_metrics_count_requests_and_issuance(self):
        self.enroll(self.mfr_a, "MET-1")
        self.srv.curl(None, "GET", "/api/v1/devices")
        st, h, data = self.srv.curl(None, "GET", "/metrics")
        self.assertEqual(st, 200)
        self.assertTrue(h["content-type"].startswith("text/plain; version=0.0.4"))
        text = data.decode()
        self.assertRegex(text, r'provca_http_requests_total\{route="/api/v1/devices",status="201"\} [1-9]')
        self.assertRegex(text, r'provca_http_requests_total\{route="/api/v1/devices",status="401"\} [1-9]')
        self.assertRegex(text, r"provca_certificates_issued_total [1-9]")
        self.assertIn('provca_http_request_duration_seconds_bucket{le="+Inf"}', text)
        self.assertIn("provca_db_errors_total 0", text)

    def test_audit_log_lists_actions_with_cursor(self):
        st, d = self.enroll(self.mfr_a, "AUD-1")
        self.srv.curl(self.ca.admin, "POST", "/api/v1/devices/%s/suspend" % d["device_id"])
        entries, cursor = [], None
        while True:
            st, _, data = self.srv.curl(self.ca.admin, "GET", "/api/v1/audit?limit=2" +
                                        ("&cursor=" + cursor if cursor else ""))
            self.assertEqual(st, 200, data)
            doc = json.loads(data)
            entries += doc["entries"]
            cursor = doc["next_cursor"]
            if not cursor:
                break
        ids = [e["id"] for e in entries]
        self.assertEqual(ids, sorted(set(ids)))
        mine = [e for e in entries if e["target"] == d["device_id"]]
        self.assertEqual([e["actor"] for e in mine][-1], "admin")
        self.assertIn("mfr-a", [e["actor"] for e in mine])

    def test_access_log_has_one_line_per_request_without_secrets(self):
        self.srv.curl(self.operator, "GET", "/healthz?token=x")
        self.srv.curl(None, "GET", "/api/v1/principals")
        log = self.srv.stderr()
        self.assertRegex(log, r'\d{4}-\d\d-\d\dT[\d:.]+Z op1 GET "/healthz" 200 [\d.]+ms')
        self.assertRegex(log, r'Z - GET "/api/v1/principals" 401 ')
        self.assertNotIn("token=x", log)
        self.assertNotIn("PRIVATE KEY", log)

    def test_hsts_only_when_configured(self):
        cfg_path = os.path.join(self.ca.data, "config.json")
        with open(cfg_path) as f:
            cfg_text = f.read()
        self.assertEqual(json.loads(cfg_text)["hsts_max_age"], 0)
        for ident, path in ((None, "/healthz"), (self.admin, "/api/v1/devices"), (None, "/nope")):
            _, h, _ = self.srv.curl(ident, "GET", path)
            self.assertNotIn("strict-transport-security", h, path)
        cfg = json.loads(cfg_text)
        cfg["hsts_max_age"] = 31536000
        write_file(cfg_path, json.dumps(cfg))
        try:
            srv = Server(self.ca)
        finally:
            write_file(cfg_path, cfg_text)
        try:
            # Every response: public, API, problem documents, static files.
            for ident, path, st in ((None, "/healthz", 200), (self.admin, "/api/v1/devices", 200),
                                    (None, "/api/v1/devices", 401), (None, "/nope", 404),
                                    (None, "/", 200)):
                got, h, _ = srv.curl(ident, "GET", path)
                self.assertEqual(got, st, path)
                self.assertEqual(h.get("strict-transport-security"), "max-age=31536000", path)
        finally:
            self.assertEqual(srv.stop(), 0)

    def test_banner_names_url_bundle_and_curl_line(self):
        # tests/server/test_cli.py runs the pasted lines; here: what they name.
        text = "".join(self.srv.banner)
        self.assertIn("listening on https://127.0.0.1:%d" % self.srv.port, text)
        self.assertIn(os.path.join(self.ca.data, "admin", "admin.p12"), text)
        self.assertIn("URL='https://127.0.0.1:%d'" % self.srv.port, text)
        self.assertIn("DATA='%s'" % os.path.realpath(self.ca.data), text)
        self.assertRegex(text, r"curl -sS --cacert '\S+root-ca.crt' --cert \"\$DATA/admin/admin.crt\" "
                               r"--key \"\$DATA/admin/admin.key\" \"\$URL/devices/\$ID\"")

    def test_static_files_with_mime_types_and_no_escape(self):
        web = os.path.join(self.ca.tmp, "web")
        os.makedirs(os.path.join(web, "js"))
        write_file(os.path.join(web, "index.html"), "<!doctype html><title>portal</title>")
        write_file(os.path.join(web, "js", "app.js"), "console.log(1)")
        write_file(os.path.join(self.ca.tmp, "secret.txt"), "TOP-SECRET-CONTENT")
        os.symlink(os.path.join(self.ca.tmp, "secret.txt"), os.path.join(web, "leak.txt"))
        from httptest import Server
        s = Server(self.ca, ["--web", web])
        try:
            st, h, data = s.curl(None, "GET", "/")
            self.assertEqual((st, h["content-type"], data), (200, "text/html; charset=utf-8",
                                                             b"<!doctype html><title>portal</title>"))
            self.assertIn("frame-ancestors 'none'", h["content-security-policy"])
            st, h, data = s.curl(None, "GET", "/js/app.js")
            self.assertEqual((st, h["content-type"]), (200, "text/javascript; charset=utf-8"))
            st, h2, _ = s.curl(None, "GET", "/js/app.js", headers=["If-None-Match: " + h["etag"]])
            self.assertEqual(st, 304)
            for bad in ("/leak.txt", "/../secret.txt", "/js/../../secret.txt", "/.hidden", "/nothing.css"):
                st, _, data = s.curl(None, "GET", bad)
                self.assertEqual(st, 404, bad)
                self.assertNotIn(b"TOP-SECRET-CONTENT", data)
        finally:
            s.stop()

    def test_sigterm_stops_cleanly(self):
        from httptest import Server
        s = Server(self.ca)
        st, _, _ = s.curl(None, "GET", "/healthz")
        self.assertEqual(st, 200)
        self.assertEqual(s.stop(signal.SIGTERM), 0)
        self.assertIn("stopped", s.stderr())


if __name__ == "__main__":
    unittest.main()

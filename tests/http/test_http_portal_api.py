"""The routes the portal needed: a manufacturer's own device with its status
history (GET /api/v1/devices/{id}), principals generated as PKCS#12, the
audit log's time range, the Infrastructure CA, and every URL a device
certificate names (CRL, caIssuers, OCSP) actually served."""
import base64
import datetime
import json
import os
import subprocess
import time
import unittest
from urllib.parse import quote, urlparse

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509 import ocsp
from cryptography.x509.oid import AuthorityInformationAccessOID, NameOID

from httptest import Ident, ServerTest, load_pems, make_csr


def iso(ts):
    return datetime.datetime.fromtimestamp(ts, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class DeviceRecord(ServerTest):

    def test_owner_reads_its_device_with_enrollment_time_and_history(self):
        t0 = int(time.time())
        st, doc = self.enroll(self.mfr_a, "REC-1", model="R1")
        self.assertEqual(st, 201, doc)
        dev = doc["device_id"]
        st, h, data = self.srv.curl(self.mfr_a, "GET", "/api/v1/devices/" + dev)
        self.assertEqual(st, 200, data)
        self.assertEqual(h["content-type"], "application/json")
        rec = json.loads(data)
        self.assertEqual(rec["device_id"], dev)
        self.assertEqual(rec["manufacturer"]["id"], "ACME")
        self.assertEqual(rec["serial"], "REC-1")
        self.assertEqual(rec["model"], "R1")
        self.assertEqual(rec["status"]["state"], "active")
        self.assertEqual(rec["certificate"], doc["certificate"])
        enrolled = datetime.datetime.strptime(rec["enrolled_at"], "%Y-%m-%dT%H:%M:%SZ").replace(
            tzinfo=datetime.timezone.utc).timestamp()
        self.assertLessEqual(abs(enrolled - t0), 5)
        self.assertEqual(len(rec["history"]), 1, rec["history"])
        first = rec["history"][0]
        self.assertEqual((first["event"], first["action"], first["actor"]), ("issued", "device.issue", "mfr-a"))
        self.assertEqual(first["at"], rec["enrolled_at"])
        self.assertIsNone(first["reason"])
        cert = x509.load_pem_x509_certificate(rec["certificate"].encode())
        self.assertEqual(first["certificate_serial"], "%040x" % cert.serial_number)

    def test_history_lists_every_status_change_with_reason_and_actor(self):
        st, doc = self.enroll(self.mfr_a, "REC-2")
        self.assertEqual(st, 201, doc)
        dev = doc["device_id"]
        for action, body in (("suspend", None), ("reinstate", None), ("revoke", {"reason": "keyCompromise"})):
            st, _, data = self.srv.curl(self.admin, "POST", "/api/v1/devices/%s/%s" % (dev, action), body)
            self.assertEqual(st, 200, data)
        # The manufacturer sees what the administrator did to its device.
        st, _, data = self.srv.curl(self.mfr_a, "GET", "/api/v1/devices/" + dev)
        self.assertEqual(st, 200, data)
        rec = json.loads(data)
        hist = rec["history"]
        self.assertEqual([e["event"] for e in hist], ["issued", "suspended", "reinstated", "revoked"])
        self.assertEqual([e["actor"] for e in hist], ["mfr-a", "admin", "admin", "admin"])
        self.assertEqual([e["reason"] for e in hist], [None, "certificateHold", None, "keyCompromise"])
        self.assertEqual([(e["from"], e["to"]) for e in hist],
                         [(None, None), ("active", "suspended"), ("suspended", "active"), ("active", "revoked")])
        self.assertEqual(rec["status"]["state"], "revoked")
        self.assertEqual(rec["status"]["reason"], "keyCompromise")
        ats = [e["at"] for e in hist]
        self.assertEqual(ats, sorted(ats))
        # The admin sees the same record.
        st, _, data = self.srv.curl(self.admin, "GET", "/api/v1/devices/" + dev)
        self.assertEqual(st, 200, data)
        self.assertEqual(json.loads(data)["history"], hist)

    def test_another_manufacturers_device_answers_exactly_like_an_unknown_one(self):
        st, doc = self.enroll(self.mfr_a, "REC-3")
        self.assertEqual(st, 201, doc)
        st_b, h_b, data_b = self.srv.curl(self.mfr_b, "GET", "/api/v1/devices/" + doc["device_id"])
        st_u, h_u, data_u = self.srv.curl(self.mfr_b, "GET", "/api/v1/devices/ACME-AAAAAAAAAAAAAAAA")
        self.assertProblem(st_b, data_b, 404, "not-found")
        # Identical but for the instance (the request's own path).
        doc_b, doc_u = json.loads(data_b), json.loads(data_u)
        self.assertEqual(doc_b.pop("instance"), "/api/v1/devices/" + doc["device_id"])
        doc_u.pop("instance")
        self.assertEqual((st_b, doc_b), (st_u, doc_u))
        self.assertEqual(h_b["content-type"], h_u["content-type"])
        # Operators use /devices/{id}; this route is not theirs.
        st, _, data = self.srv.curl(self.operator, "GET", "/api/v1/devices/" + doc["device_id"])
        self.assertProblem(st, data, 403, "forbidden")

    def test_a_principal_named_like_the_device_does_not_enter_its_history(self):
        st, doc = self.enroll(self.mfr_a, "REC-4")
        self.assertEqual(st, 201, doc)
        dev = doc["device_id"]
        st, _, data = self.srv.curl(self.admin, "POST", "/api/v1/principals",
                                    {"name": dev, "role": "operator", "csr": make_csr()[1]})
        self.assertEqual(st, 201, data)
        st, _, data = self.srv.curl(self.mfr_a, "GET", "/api/v1/devices/" + dev)
        self.assertEqual([e["event"] for e in json.loads(data)["history"]], ["issued"])


class GeneratedPrincipal(ServerTest):

    def test_generate_returns_a_pkcs12_that_authenticates_as_the_new_principal(self):
        st, _, data = self.srv.curl(self.admin, "POST", "/api/v1/principals",
                                    {"name": "gen-op", "role": "operator", "generate": True,
                                     "p12_password": "correct horse battery"})
        self.assertEqual(st, 201, data)
        doc = json.loads(data)
        self.assertEqual((doc["name"], doc["role"]), ("gen-op", "operator"))
        self.assertNotIn("key", doc)
        blob = base64.b64decode(doc["p12"], validate=True)
        with self.assertRaises(ValueError):
            pkcs12.load_key_and_certificates(blob, b"wrong password")
        key, cert, extra = pkcs12.load_key_and_certificates(blob, b"correct horse battery")
        self.assertEqual(cert.public_bytes(serialization.Encoding.PEM).decode(), doc["certificate"])
        self.assertEqual(cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value, "gen-op")
        self.assertEqual(key.public_key().public_numbers(), cert.public_key().public_numbers())
        infra = load_pems(doc["chain"])[0]
        self.assertEqual(cert.issuer, infra.subject)
        self.assertIn(infra.subject, [c.subject for c in extra])
        # The bundle's key and certificate are a working operator identity.
        d = os.path.join(self.ca.tmp, "gen-op")
        os.makedirs(d)
        ident = Ident("gen-op", os.path.join(d, "c.pem"), os.path.join(d, "k.pem"))
        with open(ident.cert, "wb") as f:
            f.write(cert.public_bytes(serialization.Encoding.PEM))
        with open(ident.key, "wb") as f:
            f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption()))
        st, dev = self.enroll(self.mfr_a, "GEN-1")
        self.assertEqual(st, 201, dev)
        st, _, data = self.srv.curl(ident, "GET", "/devices/" + dev["device_id"], headers=["Accept: application/json"])
        self.assertEqual(st, 200, data)
        self.assertEqual(json.loads(data)["device_id"], dev["device_id"])
        st, _, data = self.srv.curl(self.admin, "GET", "/api/v1/principals")
        names = {p["name"]: p for p in json.loads(data)["principals"]}
        self.assertEqual(names["gen-op"]["status"], "active")

    def test_generate_for_a_manufacturer_binds_its_id(self):
        st, _, data = self.srv.curl(self.admin, "POST", "/api/v1/principals",
                                    {"name": "gen-mfr", "role": "manufacturer", "manufacturer_id": "ACME",
                                     "generate": True, "p12_password": "12345678"})
        self.assertEqual(st, 201, data)
        st, _, data = self.srv.curl(self.admin, "GET", "/api/v1/principals")
        p = {p["name"]: p for p in json.loads(data)["principals"]}["gen-mfr"]
        self.assertEqual((p["role"], p["manufacturer_id"]), ("manufacturer", "ACME"))

    def test_bad_generate_requests_change_nothing(self):
        cases = [
            ({"name": "g1", "role": "operator", "generate": True}, 422, "p12_password"),
            ({"name": "g2", "role": "operator", "generate": True, "p12_password": "short"}, 422, "8 characters"),
            ({"name": "g3", "role": "operator", "generate": True, "p12_password": "long enough",
              "csr": make_csr()[1]}, 422, "not both"),
            ({"name": "g4", "role": "operator", "generate": "yes", "p12_password": "long enough"}, 422, "true or false"),
            ({"name": "g5", "role": "operator", "csr": make_csr()[1], "p12_password": "long enough"}, 422, "generate"),
            ({"name": "g6", "role": "operator"}, 422, "csr"),
        ]
        for body, status, words in cases:
            st, _, data = self.srv.curl(self.admin, "POST", "/api/v1/principals", body)
            self.assertProblem(st, data, status, "invalid-field")
            self.assertIn(words, json.loads(data)["detail"])
        st, _, data = self.srv.curl(self.admin, "GET", "/api/v1/principals")
        names = {p["name"] for p in json.loads(data)["principals"]}
        self.assertFalse(names & {"g1", "g2", "g3", "g4", "g5", "g6"})
        # Only an administrator may generate.
        st, _, data = self.srv.curl(self.mfr_a, "POST", "/api/v1/principals",
                                    {"name": "g7", "role": "admin", "generate": True, "p12_password": "long enough"})
        self.assertProblem(st, data, 403, "forbidden")


class AuditTimeRange(ServerTest):

    def audit(self, query):
        st, _, data = self.srv.curl(self.admin, "GET", "/api/v1/audit?" + query)
        self.assertEqual(st, 200, data)
        return json.loads(data)["entries"]

    def test_since_and_until_select_in_sql_in_both_formats(self):
        st, early = self.enroll(self.mfr_a, "AUD-1")
        self.assertEqual(st, 201, early)
        # Audit times have one-second resolution: put a clear gap between.
        time.sleep(2.2)
        cut = int(time.time()) - 1
        st, late = self.enroll(self.mfr_a, "AUD-2")
        self.assertEqual(st, 201, late)
        both = {early["device_id"], late["device_id"]}

        for since in (str(cut), iso(cut), iso(cut).replace("Z", "+00:00"), iso(cut).replace("T", " "),
                      datetime.datetime.fromtimestamp(cut, datetime.timezone(datetime.timedelta(hours=2)))
                      .strftime("%Y-%m-%dT%H:%M:%S.250+02:00"),
                      datetime.datetime.fromtimestamp(cut, datetime.timezone(-datetime.timedelta(hours=5, minutes=30)))
                      .strftime("%Y-%m-%dt%H:%M:%S-05:30")):
            got = {e["target"] for e in self.audit("action=device.issue&since=" + quote(since))} & both
            self.assertEqual(got, {late["device_id"]}, since)
        got = {e["target"] for e in self.audit("action=device.issue&until=" + iso(cut))} & both
        self.assertEqual(got, {early["device_id"]})
        # Inclusive bounds: an entry exactly at since..until is in.
        entries = self.audit("device=" + late["device_id"])
        self.assertEqual(len(entries), 1)
        at = entries[0]["at"]
        self.assertEqual(len(self.audit("device=%s&since=%s&until=%s" % (late["device_id"], at, at))), 1)
        # Far in the future: nothing, even though the page limit allows it.
        self.assertEqual(self.audit("since=" + iso(int(time.time()) + 86400)), [])

    def test_device_actor_and_action_filters(self):
        st, doc = self.enroll(self.mfr_b, "AUD-3")
        self.assertEqual(st, 201, doc)
        dev = doc["device_id"]
        st, _, data = self.srv.curl(self.admin, "POST", "/api/v1/devices/%s/suspend" % dev)
        self.assertEqual(st, 200, data)
        entries = self.audit("device=" + dev)
        self.assertEqual([(e["action"], e["actor"]) for e in entries],
                         [("device.issue", "mfr-b"), ("device.suspend", "admin")])
        self.assertEqual(self.audit("target=" + dev), entries)
        self.assertEqual([e["action"] for e in self.audit("device=%s&actor=admin" % dev)], ["device.suspend"])
        self.assertEqual([e["actor"] for e in self.audit("device=%s&action=device.issue" % dev)], ["mfr-b"])

    def test_bad_times_are_400(self):
        for q in ("since=yesterday", "since=2024-13-01T00:00:00Z", "until=2024-02-30T00:00:00Z",
                  "since=2024-05-01", "since=2024-05-01T10:00:00", "since=-5", "since=",
                  "since=2024-05-02T00:00:00Z&until=2024-05-01T00:00:00Z",
                  "device=a&target=b"):
            st, _, data = self.srv.curl(self.admin, "GET", "/api/v1/audit?" + q)
            self.assertProblem(st, data, 400, "invalid-query")


class CertificateURLsAreServed(ServerTest):

    def file(self, name):
        with open(os.path.join(self.ca.data, name), "rb") as f:
            return f.read()

    def device(self, serial):
        st, doc = self.enroll(self.mfr_a, serial)
        self.assertEqual(st, 201, doc)
        return doc["device_id"], x509.load_pem_x509_certificate(doc["certificate"].encode())

    def test_infra_ca_pem(self):
        st, h, data = self.srv.curl(None, "GET", "/ca/infra-ca.pem")
        self.assertEqual(st, 200)
        self.assertEqual(h["content-type"], "application/x-pem-file")
        served = x509.load_pem_x509_certificate(data)
        on_disk = load_pems(self.file("infra-ca.crt"))[0]
        self.assertEqual(served, on_disk)
        # It is the issuer of the principals' client certificates.
        with open(self.operator.cert, "rb") as f:
            self.assertEqual(load_pems(f.read())[0].issuer, served.subject)

    def path_of(self, url):
        u = urlparse(url)
        self.assertEqual("%s://%s" % (u.scheme, u.netloc), "https://localhost:8443")
        return u.path

    def test_every_url_in_a_device_certificate_is_served(self):
        _, cert = self.device("URL-1")
        device_ca = load_pems(self.file("device-ca.crt"))[0]
        cdp = cert.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
        crl_urls = [n.value for dp in cdp for n in dp.full_name]
        aia = cert.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
        issuers = [a.access_location.value for a in aia if a.access_method == AuthorityInformationAccessOID.CA_ISSUERS]
        ocsp_urls = [a.access_location.value for a in aia if a.access_method == AuthorityInformationAccessOID.OCSP]
        self.assertEqual((len(crl_urls), len(issuers), len(ocsp_urls)), (1, 1, 1))

        st, h, data = self.srv.curl(None, "GET", self.path_of(crl_urls[0]))
        self.assertEqual(st, 200)
        self.assertEqual(h["content-type"], "application/pkix-crl")
        crl = x509.load_der_x509_crl(data)
        self.assertTrue(crl.is_signature_valid(device_ca.public_key()))

        st, h, data = self.srv.curl(None, "GET", self.path_of(issuers[0]))
        self.assertEqual(st, 200)
        self.assertEqual(h["content-type"], "application/pkix-cert")
        self.assertEqual(x509.load_der_x509_certificate(data), device_ca)
        self.assertEqual(cert.issuer, device_ca.subject)

        resp = self.ocsp_query(self.path_of(ocsp_urls[0]), cert, device_ca)
        self.assertEqual(resp.certificate_status, ocsp.OCSPCertStatus.GOOD)

        st, h, data = self.srv.curl(None, "GET", "/ca/root-ca.crt")
        self.assertEqual(st, 200)
        self.assertEqual(x509.load_der_x509_certificate(data), load_pems(self.file("root-ca.crt"))[0])

    # ---- OCSP ----

    def ocsp_query(self, path, cert, issuer, nonce=b"\x01" * 16, algo=hashes.SHA1()):
        req = (ocsp.OCSPRequestBuilder().add_certificate(cert, issuer, algo)
               .add_extension(x509.OCSPNonce(nonce), critical=False).build())
        st, h, data = self.srv.curl(None, "POST", path, req.public_bytes(serialization.Encoding.DER),
                                    ctype="application/ocsp-request")
        self.assertEqual(st, 200, data)
        self.assertEqual(h["content-type"], "application/ocsp-response")
        resp = ocsp.load_der_ocsp_response(data)
        self.assertEqual(resp.response_status, ocsp.OCSPResponseStatus.SUCCESSFUL)
        # Signed by the Device CA itself, over the exact response data.
        from cryptography.hazmat.primitives.asymmetric import ec
        issuer.public_key().verify(resp.signature, resp.tbs_response_bytes, ec.ECDSA(resp.signature_hash_algorithm))
        self.assertEqual(resp.responder_name, issuer.subject)
        self.assertEqual(resp.serial_number, cert.serial_number)
        this_update = resp.this_update.replace(tzinfo=datetime.timezone.utc).timestamp()
        self.assertLessEqual(abs(this_update - time.time()), 10)
        # nextUpdate = thisUpdate + ocsp_validity_seconds (3600 by default)
        next_update = resp.next_update.replace(tzinfo=datetime.timezone.utc).timestamp()
        self.assertEqual(next_update - this_update, 3600)
        nonce_ext = resp.extensions.get_extension_for_class(x509.OCSPNonce).value
        self.assertEqual(nonce_ext.nonce, nonce)
        return resp

    def test_ocsp_good_suspended_revoked_unknown(self):
        device_ca = load_pems(self.file("device-ca.crt"))[0]
        dev, cert = self.device("OCSP-1")
        resp = self.ocsp_query("/ocsp", cert, device_ca, algo=hashes.SHA256())
        self.assertEqual(resp.certificate_status, ocsp.OCSPCertStatus.GOOD)

        st, _, data = self.srv.curl(self.admin, "POST", "/api/v1/devices/%s/suspend" % dev)
        self.assertEqual(st, 200, data)
        resp = self.ocsp_query("/ocsp", cert, device_ca, nonce=b"\x02" * 20)
        self.assertEqual(resp.certificate_status, ocsp.OCSPCertStatus.REVOKED)
        self.assertEqual(resp.revocation_reason, x509.ReasonFlags.certificate_hold)

        st, _, data = self.srv.curl(self.admin, "POST", "/api/v1/devices/%s/revoke" % dev, {"reason": "superseded"})
        self.assertEqual(st, 200, data)
        resp = self.ocsp_query("/ocsp", cert, device_ca)
        self.assertEqual(resp.certificate_status, ocsp.OCSPCertStatus.REVOKED)
        self.assertEqual(resp.revocation_reason, x509.ReasonFlags.superseded)
        st, _, data = self.srv.curl(self.mfr_a, "GET", "/api/v1/devices/" + dev)
        since = json.loads(data)["status"]["since"]
        self.assertEqual(resp.revocation_time.strftime("%Y-%m-%dT%H:%M:%SZ"), since)

        # A certificate the Device CA did not issue (a principal's, from the
        # Infrastructure CA, asked about as if the Device CA had), and a
        # device's asked under the wrong issuer: each ID names an issuer
        # this responder does not serve, so the answer is the unsigned
        # status unauthorized, never an "unknown" signed by the Device CA
        # (RFC 6960 2.3; issue 18).
        with open(self.operator.cert, "rb") as f:
            op_cert = load_pems(f.read())[0]
        infra = load_pems(self.file("infra-ca.crt"))[0]
        _, other = self.device("OCSP-2")
        for cert_, issuer_ in ((op_cert, device_ca), (other, infra)):
            req = ocsp.OCSPRequestBuilder().add_certificate(cert_, issuer_, hashes.SHA1()).build()
            st, _, data = self.srv.curl(None, "POST", "/ocsp", req.public_bytes(serialization.Encoding.DER),
                                        ctype="application/ocsp-request")
            self.assertEqual(st, 200, data)
            self.assertEqual(ocsp.load_der_ocsp_response(data).response_status,
                             ocsp.OCSPResponseStatus.UNAUTHORIZED)

    def test_ocsp_with_the_openssl_client(self):
        tmp = self.ca.tmp
        dev, cert = self.device("OCSP-3")
        pem = os.path.join(tmp, "ocsp3.pem")
        with open(pem, "wb") as f:
            f.write(cert.public_bytes(serialization.Encoding.PEM))
        issuer, root = os.path.join(self.ca.data, "device-ca.crt"), os.path.join(self.ca.data, "root-ca.crt")
        reqf, respf = os.path.join(tmp, "ocsp3.req"), os.path.join(tmp, "ocsp3.resp")
        # The nonce round trip is checked in the test above; here the
        # client's own verification of signature and status.
        subprocess.run(["openssl", "ocsp", "-issuer", issuer, "-cert", pem, "-no_nonce", "-reqout", reqf],
                       check=True, capture_output=True)
        for state in ("good", "revoked"):
            if state == "revoked":
                st, _, data = self.srv.curl(self.admin, "POST", "/api/v1/devices/%s/revoke" % dev,
                                            {"reason": "keyCompromise"})
                self.assertEqual(st, 200, data)
            with open(reqf, "rb") as f:
                st, _, data = self.srv.curl(None, "POST", "/ocsp", f.read(), ctype="application/ocsp-request")
            self.assertEqual(st, 200)
            with open(respf, "wb") as f:
                f.write(data)
            p = subprocess.run(["openssl", "ocsp", "-respin", respf, "-issuer", issuer, "-cert", pem,
                                "-CAfile", root, "-no_nonce"], capture_output=True, text=True)
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertIn("Response verify OK", p.stderr + p.stdout)
            self.assertIn("%s: %s" % (pem, state), p.stdout)
            if state == "revoked":
                self.assertIn("Reason: keyCompromise", p.stdout)

    def test_ocsp_bad_requests(self):
        st, h, data = self.srv.curl(None, "POST", "/ocsp", b"\x30\x03\x02\x01\x01", ctype="application/ocsp-request")
        self.assertEqual(st, 200)
        self.assertEqual(ocsp.load_der_ocsp_response(data).response_status,
                         ocsp.OCSPResponseStatus.MALFORMED_REQUEST)
        st, _, data = self.srv.curl(None, "POST", "/ocsp", b"\x30\x00", ctype="application/json")
        self.assertProblem(st, data, 415, "unsupported-media-type")
        st, _, data = self.srv.curl(None, "POST", "/ocsp", b"\x30" * 70000, ctype="application/ocsp-request")
        self.assertProblem(st, data, 413, "body-too-large")


if __name__ == "__main__":
    unittest.main()

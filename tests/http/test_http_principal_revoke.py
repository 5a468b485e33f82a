"""Principal certificate revocation over HTTP: an admin revokes an operator's
certificate (API) or the CLI does it while the server runs; the very next
request with that certificate is refused, even on a kept-alive connection
that was authenticated before; the Infrastructure CA's CRL at
/crl/infra-ca.crl lists it with its reason (parsed and signature-checked
with Python's cryptography); every bad request gets its precise problem and
changes nothing."""
import json
import os
import unittest

from cryptography import x509

from httptest import ServerTest, jreq, run


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


if __name__ == "__main__":
    unittest.main()

#!/usr/bin/python3
"""Independent implementation of docs/protocol.md "Provisioning container"
in Python (cryptography), checked against the C library both ways:
C seals + signs -> Python verifies + opens, and Python seals + signs ->
C (prov-testtool open) verifies + opens. Both verifiers hold only the Root:
the container carries the signer's chain. Written from the document only."""
import datetime
import os
import shutil
import struct
import subprocess
import tempfile
import unittest

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.exceptions import InvalidSignature

ARC = os.environ.get("PROVCA_OID_ARC", "1.3.6.1.4.1.32473.7243")
EKU_SIGNER = ARC + ".2"
NOW = datetime.datetime(2025, 6, 15, 15, 6, 40)  # 1750000000
DEVICE_ID = b"xcheck-dev-01"
UE_NONCE = bytes.fromhex("000102030405060708090a0b0c0d0e0f")
NET_NONCE = bytes.fromhex("f0e1d2c3b4a5968778695a4b3c2d1e0f")
ALG_KB = {1: 65, 2: 256, 3: 384, 4: 97}
VERSION = 2
CHAIN_MAX = 4
EXPECTED = {
    "supi": "imsi-001010000000042",
    "ki": "465b5ce8b199b49faa5f0a2ee238a6bc",
    "opc": "cd63cb71954a9f4e48a5994e37a02baf",
    "amf": "b9b9",
    "sqn": "ff9bb4d0b607",
    "mcc": "001",
    "mnc": "01",
    "snssai": ["1", "3-123456"],
    "dnn": "iot.example",
    "issued_at": "1750000000",
}


class ProtocolError(Exception):
    pass


def tlv(tag, value):
    return struct.pack(">BH", tag, len(value)) + value


def encode_subscription(f):
    out = b"\x01" + tlv(1, f["supi"].encode())
    out += tlv(2, bytes.fromhex(f["ki"])) + tlv(3, bytes.fromhex(f["opc"]))
    out += tlv(4, bytes.fromhex(f["amf"])) + tlv(5, bytes.fromhex(f["sqn"]))
    out += tlv(6, f["mcc"].encode()) + tlv(7, f["mnc"].encode())
    for s in f["snssai"]:
        if "-" in s:
            sst, sd = s.split("-")
            out += tlv(8, bytes([int(sst)]) + bytes.fromhex(sd))
        else:
            out += tlv(8, bytes([int(s)]))
    out += tlv(9, f["dnn"].encode())
    out += tlv(10, struct.pack(">q", int(f["issued_at"])))
    return out


def decode_subscription(b):
    if not b or b[0] != 1:
        raise ProtocolError("subscription version")
    off, fields, order = 1, {"snssai": []}, []
    while off < len(b):
        if len(b) - off < 3:
            raise ProtocolError("truncated")
        tag, n = struct.unpack(">BH", b[off:off + 3])
        v = b[off + 3:off + 3 + n]
        if len(v) != n:
            raise ProtocolError("truncated")
        off += 3 + n
        order.append(tag)
        if tag == 1:
            fields["supi"] = v.decode()
        elif tag in (2, 3, 4, 5):
            fields[{2: "ki", 3: "opc", 4: "amf", 5: "sqn"}[tag]] = v.hex()
        elif tag in (6, 7, 9):
            fields[{6: "mcc", 7: "mnc", 9: "dnn"}[tag]] = v.decode()
        elif tag == 8:
            fields["snssai"].append(str(v[0]) if n == 1 else
                                    "%d-%s" % (v[0], v[1:].hex()))
        elif tag == 10:
            fields["issued_at"] = str(struct.unpack(">q", v)[0])
        else:
            raise ProtocolError("unknown tag")
    dedup = [t for i, t in enumerate(order) if i == 0 or order[i - 1] != t]
    if dedup != list(range(1, 11)):
        raise ProtocolError("field order")
    return fields


# Container key algorithms (docs/protocol.md): EC curve per EC alg id.
EC_ALGS = {1: ec.SECP256R1, 4: ec.SECP384R1}


def p256_point(pub):
    return pub.public_bytes(serialization.Encoding.X962,
                            serialization.PublicFormat.UncompressedPoint)


def p256_cek(z, eph_pub, dev_pub, ue_nonce, net_nonce):
    return HKDF(algorithm=hashes.SHA256(), length=32,
                salt=ue_nonce + net_nonce,
                info=b"ProvCA v1 seal" + eph_pub + dev_pub).derive(z)


def oaep():
    return padding.OAEP(mgf=padding.MGF1(algorithm=hashes.SHA256()),
                        algorithm=hashes.SHA256(), label=None)


def oid_der(dotted):
    """Content octets of an OBJECT IDENTIFIER (X.690 8.19)."""
    arcs = [int(a) for a in dotted.split(".")]
    out = b""
    for v in [arcs[0] * 40 + arcs[1]] + arcs[2:]:
        chunk = [v & 0x7F]
        v >>= 7
        while v:
            chunk.append(0x80 | (v & 0x7F))
            v >>= 7
        out += bytes(reversed(chunk))
    return out


def der_items(b):
    """Yield (tag, content) for each DER element in b."""
    off = 0
    while off < len(b):
        tag, n = b[off], b[off + 1]
        off += 2
        if n & 0x80:
            k = n & 0x7F
            n = int.from_bytes(b[off:off + k], "big")
            off += k
        yield tag, b[off:off + n]
        off += n


def eku_oids(cert):
    """Raw OIDs of the extendedKeyUsage extension. cryptography 38 (Debian
    12) cannot parse extensions holding 128-bit 2.25 arcs, so walk the DER of
    the TBSCertificate ourselves."""
    (_, tbs), = der_items(cert.tbs_certificate_bytes)
    for tag, content in der_items(tbs):
        if tag != 0xA3:
            continue
        (_, exts), = der_items(content)
        for _, ext in der_items(exts):
            parts = list(der_items(ext))
            if parts[0] == (0x06, bytes.fromhex("551d25")):
                (_, seq), = der_items(parts[-1][1])
                return [c for t, c in der_items(seq) if t == 0x06]
    return []


def check_issued_by(cert, issuer):
    pub = issuer.public_key()
    pub.verify(cert.signature, cert.tbs_certificate_bytes,
               ec.ECDSA(cert.signature_hash_algorithm))
    if cert.issuer != issuer.subject:
        raise ProtocolError("issuer name")


def check_valid(cert):
    if not cert.not_valid_before <= NOW <= cert.not_valid_after:
        raise ProtocolError("expired")


def parse(c):
    if len(c) > 8192 or len(c) < 11 or c[:4] != b"PRVC":
        raise ProtocolError("header")
    if c[4] != VERSION:
        raise ProtocolError("version")
    alg, k, clen, n = c[5], *struct.unpack(">HH", c[6:10]), c[10]
    if ALG_KB.get(alg) != k or clen == 0 or not 1 <= n <= 64:
        raise ProtocolError("header lengths")
    o = 11
    p = {"alg": alg, "device_id": c[o:o + n]}
    o += n
    p["ue_nonce"], p["net_nonce"] = c[o:o + 16], c[o + 16:o + 32]
    o += 32
    p["key_block"] = c[o:o + k]
    o += k
    p["aad"] = c[:o]
    p["iv"] = c[o:o + 12]
    o += 12
    p["ct_tag"] = c[o:o + clen + 16]
    o += clen + 16
    if o + 1 > len(c):
        raise ProtocolError("truncated")
    m = c[o]
    o += 1
    if not 1 <= m <= CHAIN_MAX:
        raise ProtocolError("chain count")
    p["chain"] = []
    for _ in range(m):
        if o + 2 > len(c):
            raise ProtocolError("truncated")
        s = struct.unpack(">H", c[o:o + 2])[0]
        der = c[o + 2:o + 2 + s]
        if s == 0 or len(der) != s:
            raise ProtocolError("truncated")
        p["chain"].append(der)
        o += 2 + s
    p["signed"] = c[:o]
    p["sig"] = c[o:]
    if not 8 <= len(p["sig"]) <= 72:
        raise ProtocolError("signature length")
    return p


def build_path(signer, carried, root):
    """The path signer -> ... -> root through the carried certificates
    (untrusted; any order), with root the only anchor."""
    path, cur, pool = [signer], signer, list(carried)
    while cur.issuer != root.subject or not issued_by(cur, root):
        nxt = [x for x in pool if x.subject == cur.issuer and
               issued_by(cur, x)]
        if not nxt:
            raise ProtocolError("signer chain")
        cur = nxt[0]
        pool.remove(cur)
        path.append(cur)
    return path + [root]


def issued_by(cert, issuer):
    try:
        check_issued_by(cert, issuer)
        return True
    except (InvalidSignature, ProtocolError, TypeError):
        return False


def verify_open(c, root, dev_key, device_id, ue_nonce):
    p = parse(c)
    certs = [x509.load_der_x509_certificate(d) for d in p["chain"]]
    signer = certs[0]
    for cert in build_path(signer, certs[1:], root):
        check_valid(cert)
    if oid_der(EKU_SIGNER) not in eku_oids(signer):
        raise ProtocolError("signer EKU")
    spub = signer.public_key()
    if not isinstance(spub.curve, ec.SECP256R1):
        raise ProtocolError("signer key type")
    spub.verify(p["sig"], p["signed"], ec.ECDSA(hashes.SHA256()))
    if p["device_id"] != device_id or p["ue_nonce"] != ue_nonce:
        raise ProtocolError("binding")
    if p["alg"] in EC_ALGS:
        eph = ec.EllipticCurvePublicKey.from_encoded_point(
            EC_ALGS[p["alg"]](), p["key_block"])
        z = dev_key.exchange(ec.ECDH(), eph)
        cek = p256_cek(z, p["key_block"], p256_point(dev_key.public_key()),
                       p["ue_nonce"], p["net_nonce"])
    else:
        cek = dev_key.decrypt(p["key_block"], oaep())
    pt = AESGCM(cek).decrypt(p["iv"], p["ct_tag"], p["aad"])
    return decode_subscription(pt), p["net_nonce"]


def seal_sign(fields, dev_pub, signer_key, chain_der, device_id,
              ue_nonce, net_nonce):
    """chain_der: [signer DER, intermediate DER, ...] (root excluded)."""
    pt = encode_subscription(fields)
    if isinstance(dev_pub, ec.EllipticCurvePublicKey):
        alg = {"secp256r1": 1, "secp384r1": 4}[dev_pub.curve.name]
        eph = ec.generate_private_key(EC_ALGS[alg]())
        kb = p256_point(eph.public_key())
        cek = p256_cek(eph.exchange(ec.ECDH(), dev_pub), kb,
                       p256_point(dev_pub), ue_nonce, net_nonce)
    else:
        alg = {2048: 2, 3072: 3}[dev_pub.key_size]
        cek = os.urandom(32)
        kb = dev_pub.encrypt(cek, oaep())
    hdr = b"PRVC" + bytes([VERSION, alg]) + struct.pack(">HH", len(kb), len(pt))
    hdr += bytes([len(device_id)])
    aad = hdr + device_id + ue_nonce + net_nonce + kb
    iv = os.urandom(12)
    body = aad + iv + AESGCM(cek).encrypt(iv, pt, aad)
    signed = body + bytes([len(chain_der)])
    for der in chain_der:
        signed += struct.pack(">H", len(der)) + der
    return signed + signer_key.sign(signed, ec.ECDSA(hashes.SHA256()))


class CrossCheck(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tool = os.path.join(os.environ["PROVCA_BIN"], "prov-testtool")
        cls.dir = tempfile.mkdtemp(prefix="provca-xcheck-")
        r = subprocess.run([cls.tool, "gen", cls.dir], capture_output=True,
                           text=True, timeout=120)
        assert r.returncode == 0, r.stderr

        def load(name):
            with open(os.path.join(cls.dir, name), "rb") as f:
                return f.read()
        cls.load = staticmethod(load)
        cls.root = x509.load_pem_x509_certificate(load("root.pem"))
        cls.inter = x509.load_pem_x509_certificate(load("inter.pem"))
        cls.signer = x509.load_pem_x509_certificate(load("signer.pem"))
        cls.signer_key = serialization.load_pem_private_key(
            load("signer.key"), None)
        cls.keys = {a: serialization.load_pem_private_key(
            load("dev-%s.key" % a), None)
            for a in ("p256", "p384", "rsa2048", "rsa3072")}

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.dir)

    def c_open(self, path, alg, device_id=DEVICE_ID, nonce=UE_NONCE):
        r = subprocess.run(
            [self.tool, "open", self.dir, path,
             os.path.join(self.dir, "dev-%s.key" % alg), device_id.decode(),
             nonce.hex()], capture_output=True, text=True, timeout=60)
        out = {}
        for line in r.stdout.splitlines():
            k, _, v = line.partition("=")
            if k == "snssai":
                out.setdefault(k, []).append(v)
            else:
                out[k] = v
        return r.returncode, out

    def test_c_to_python(self):
        for alg in ("p256", "p384", "rsa2048", "rsa3072"):
            with self.subTest(alg=alg):
                c = self.load("c-%s.bin" % alg)
                sub, net = verify_open(c, self.root, self.keys[alg],
                                       DEVICE_ID, UE_NONCE)
                self.assertEqual(sub, EXPECTED)
                self.assertEqual(net, NET_NONCE)

    def test_signer_eku_found_in_der(self):
        self.assertEqual(eku_oids(self.signer), [oid_der(EKU_SIGNER)])
        self.assertEqual(oid_der("1.2.840.113549")[:3], b"\x2a\x86\x48")
        self.assertEqual(eku_oids(self.root), [])

    def test_c_to_python_tamper_detected(self):
        c = bytearray(self.load("c-p256.bin"))
        c[60] ^= 1
        with self.assertRaises((InvalidSignature, ProtocolError)):
            verify_open(bytes(c), self.root, self.keys["p256"],
                        DEVICE_ID, UE_NONCE)

    def chain(self):
        return [x.public_bytes(serialization.Encoding.DER)
                for x in (self.signer, self.inter)]

    def test_c_carries_signer_then_intermediate(self):
        p = parse(self.load("c-p256.bin"))
        self.assertEqual(self.load("c-p256.bin")[4], VERSION)
        self.assertEqual(p["chain"], self.chain())

    def test_python_to_c(self):
        der = self.chain()
        for alg in ("p256", "p384", "rsa2048", "rsa3072"):
            with self.subTest(alg=alg):
                c = seal_sign(EXPECTED, self.keys[alg].public_key(),
                              self.signer_key, der, DEVICE_ID, UE_NONCE,
                              NET_NONCE)
                path = os.path.join(self.dir, "py-%s.bin" % alg)
                with open(path, "wb") as f:
                    f.write(c)
                rc, out = self.c_open(path, alg)
                self.assertEqual(rc, 0, out)
                want = dict(EXPECTED, net_nonce=NET_NONCE.hex())
                self.assertEqual(out, want)
                # Python opens its own container too.
                sub, _ = verify_open(c, self.root, self.keys[alg],
                                     DEVICE_ID, UE_NONCE)
                self.assertEqual(sub, EXPECTED)

    def test_python_to_c_chain_errors(self):
        path = os.path.join(self.dir, "py-chain.bin")
        cases = (
            # the intermediate missing: no path to the Root
            ([self.chain()[0]], "-5 "),
            # five certificates: more than the list holds
            (self.chain() + [self.chain()[1]] * 3, "-2 "),
            # version 1 (the old, signer-only layout) is refused
            (None, "-3 "),
        )
        for chain, want in cases:
            with self.subTest(want=want):
                c = seal_sign(EXPECTED, self.keys["p256"].public_key(),
                              self.signer_key, chain or self.chain(),
                              DEVICE_ID, UE_NONCE, NET_NONCE)
                if chain is None:
                    c = c[:4] + b"\x01" + c[5:]
                with open(path, "wb") as f:
                    f.write(c)
                rc, out = self.c_open(path, "p256")
                self.assertEqual(rc, 1)
                self.assertTrue(out["error"].startswith(want), out)
                with self.assertRaises(ProtocolError):
                    verify_open(c, self.root, self.keys["p256"], DEVICE_ID,
                                UE_NONCE)

    def test_python_to_c_binding_errors(self):
        der = self.chain()
        c = seal_sign(EXPECTED, self.keys["p256"].public_key(),
                      self.signer_key, der, DEVICE_ID, UE_NONCE, NET_NONCE)
        path = os.path.join(self.dir, "py-bind.bin")
        with open(path, "wb") as f:
            f.write(c)
        rc, out = self.c_open(path, "p256", nonce=bytes(16))
        self.assertEqual(rc, 1)
        self.assertTrue(out["error"].startswith("-10 "), out)
        rc, out = self.c_open(path, "p256", device_id=b"other")
        self.assertTrue(out["error"].startswith("-9 "), out)
        # A signature by a key that is not the signer's.
        other = ec.generate_private_key(ec.SECP256R1())
        c = seal_sign(EXPECTED, self.keys["p256"].public_key(), other, der,
                      DEVICE_ID, UE_NONCE, NET_NONCE)
        with open(path, "wb") as f:
            f.write(c)
        rc, out = self.c_open(path, "p256")
        self.assertTrue(out["error"].startswith("-8 "), out)


if __name__ == "__main__":
    unittest.main(verbosity=2)

"""PKCS#10 requests for the CSR paths' tests: good ones of every key kind,
and tampered ones the fast path (EC P-256/P-384, uncompressed point) and
the general path (RSA, compressed point) must both refuse. A minimal DER
reader/writer for the test data only."""
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID


def tlv(data, off=0):
    """(tag, header length, content length) of the TLV at off."""
    tag, n = data[off], data[off + 1]
    if n < 0x80:
        return tag, 2, n
    k = n & 0x7F
    return tag, 2 + k, int.from_bytes(data[off + 2:off + 2 + k], "big")


def enc(tag, content):
    n = len(content)
    if n < 0x80:
        return bytes([tag, n]) + content
    b = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(b)]) + b + content


def children(data):
    """The TLVs inside a constructed value's content, as byte strings."""
    out, off = [], 0
    while off < len(data):
        _, h, n = tlv(data, off)
        out.append(data[off:off + h + n])
        off += h + n
    return out


def content(t):
    _, h, n = tlv(t)
    return t[h:h + n]


def split(der):
    """info, signature algorithm, signature of a DER request."""
    return children(content(der))


def make(key, cn="dev", der=True):
    req = x509.CertificateSigningRequestBuilder().subject_name(
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    ).sign(key, hashes.SHA256())
    return req.public_bytes(serialization.Encoding.DER if der else
                            serialization.Encoding.PEM)


def to_pem(der):
    import base64
    b = base64.encodebytes(der).decode().replace("\n", "")
    lines = [b[i:i + 64] for i in range(0, len(b), 64)]
    return ("-----BEGIN CERTIFICATE REQUEST-----\n" + "\n".join(lines) +
            "\n-----END CERTIFICATE REQUEST-----\n").encode()


def p256():
    return ec.generate_private_key(ec.SECP256R1())


def p384():
    return ec.generate_private_key(ec.SECP384R1())


def rsa2048():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def flip_signature(der):
    """Last byte of the signature changed: no proof of possession."""
    b = bytearray(der)
    b[-1] ^= 0x01
    return bytes(b)


def flip_subject(der):
    """The signed subject changed after signing (CN dev -> dew)."""
    i = der.index(b"dev")
    return der[:i] + b"dew" + der[i + 3:]


def point(key):
    return key.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)


def swap_key(der, key, other):
    """Another key of the same curve put in the request, signature kept."""
    a, b = point(key), point(other)
    assert der.count(a) == 1 and len(a) == len(b)
    return der.replace(a, b)


def off_curve(der, key):
    """The point's last byte changed: (almost surely) not on the curve."""
    a = point(key)
    b = a[:-1] + bytes([a[-1] ^ 0x01])
    return der.replace(a, b)


def compressed(key, cn="dev"):
    """A correctly signed request whose EC point is compressed (taken by
    the general path)."""
    der = make(key, cn)
    info, alg, _ = split(der)
    comp = key.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.CompressedPoint)
    # Lengths of the enclosing SPKI and info change: rebuild both.
    parts = children(content(info))
    spki = children(content(parts[2]))
    parts[2] = enc(0x30, spki[0] + enc(0x03, b"\x00" + comp))
    info = enc(0x30, b"".join(parts))
    sig = key.sign(info, ec.ECDSA(hashes.SHA256()))
    return enc(0x30, info + alg + enc(0x03, b"\x00" + sig))

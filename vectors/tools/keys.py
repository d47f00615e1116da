#!/usr/bin/env python3
"""Write vectors/keys/: the RFC 9421 Appendix B.1 example keys, copied byte for byte from the
RFC text, plus a few keys of our own generated with Python `cryptography`.

Usage: python3 vectors/tools/keys.py /path/to/rfc9421.md
Not run by CI. Own keys are generated only when their files are absent, so re-running is stable.
"""
import base64, json, os, re, sys

from cryptography.hazmat.primitives import serialization as ser
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

HERE = os.path.dirname(os.path.abspath(__file__))
KEYS = os.path.join(HERE, "..", "keys")


def unfold(text):
    """RFC 8792 single-backslash unfolding."""
    return re.sub(r"\\\n[ \t]*", "", text)


def section(spec, anchor):
    start = spec.index("{#%s}" % anchor)
    end = spec.index("\n### ", start + 1)
    return spec[start:end]


def pem_blocks(text):
    return re.findall(r"-----BEGIN ([A-Z ]+)-----\n.*?-----END \1-----\n", text, re.S) and [
        m.group(0) for m in re.finditer(r"-----BEGIN ([A-Z ]+)-----\n.*?-----END \1-----\n", text, re.S)
    ]


def jwk_block(text):
    m = re.search(r"~~~json\n(?:NOTE:[^\n]*\n\n)?(\{.*?\n\})\n~~~", text, re.S)
    return json.loads(unfold(m.group(1))) if m else None


def write(name, data):
    with open(os.path.join(KEYS, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


def main():
    spec = open(sys.argv[1]).read()
    index = {}
    rfc = [
        ("test-key-rsa", "example-key-rsa-test", "RSA", None, ["rsa-v1_5-sha256", "rsa-pss-sha512"],
         ["pem-pkcs1-public", "pem-pkcs1-private"], "B.1.1"),
        ("test-key-rsa-pss", "example-key-rsa-pss-test", "RSA", None, ["rsa-pss-sha512"],
         ["pem-spki", "pem-pkcs8-rsassa-pss"], "B.1.2"),
        ("test-key-ecc-p256", "example-key-ecc-p256", "EC", "P-256", ["ecdsa-p256-sha256"],
         ["pem-spki", "pem-sec1"], "B.1.3"),
        ("test-key-ed25519", "example-key-ed25519", "OKP", "Ed25519", ["ed25519"],
         ["pem-spki", "pem-pkcs8"], "B.1.4"),
    ]
    ext = {"pem-pkcs1-public": "pkcs1.pub.pem", "pem-pkcs1-private": "pkcs1.pem", "pem-spki": "spki.pem",
           "pem-pkcs8-rsassa-pss": "pkcs8.pem", "pem-sec1": "sec1.pem", "pem-pkcs8": "pkcs8.pem"}
    for kid, anchor, kty, crv, algs, fmts, sec in rfc:
        text = section(spec, anchor)
        blocks = pem_blocks(text)
        assert len(blocks) == 2, kid
        files = []
        for blk, fmt in zip(blocks, fmts):
            name = "%s.%s" % (kid, ext[fmt])
            write(name, blk)
            files.append({"path": name, "format": fmt, "private": fmt not in ("pem-pkcs1-public", "pem-spki")})
        jwk = jwk_block(text)
        assert jwk and jwk["kid"] == kid, kid
        name = "%s.jwk.json" % kid
        write(name, json.dumps(jwk, indent=2) + "\n")
        files.append({"path": name, "format": "jwk", "private": True})
        index[kid] = {"source": "RFC 9421 Appendix %s" % sec, "kty": kty, "algorithms": algs, "files": files}
        if crv:
            index[kid]["curve"] = crv
    # B.1.5 shared secret
    text = section(spec, "example-shared-secret")
    m = re.search(r"~~~\nNOTE:[^\n]*\n\n(.*?)\n~~~", text, re.S)
    secret = unfold(m.group(1)).strip()
    assert len(base64.b64decode(secret)) == 64
    write("test-shared-secret.b64", secret + "\n")
    index["test-shared-secret"] = {"source": "RFC 9421 Appendix B.1.5", "kty": "oct", "algorithms": ["hmac-sha256"],
                                   "files": [{"path": "test-shared-secret.b64", "format": "base64", "private": True}]}

    # Our own keys (sigharness), generated once.
    def own(kid, make, kty, crv, algs, jwk_fn=None):
        priv_path = os.path.join(KEYS, kid + ".pkcs8.pem")
        if os.path.exists(priv_path):
            key = ser.load_pem_private_key(open(priv_path, "rb").read(), None)
        else:
            key = make()
            write(kid + ".pkcs8.pem", key.private_bytes(ser.Encoding.PEM, ser.PrivateFormat.PKCS8, ser.NoEncryption()))
        write(kid + ".spki.pem", key.public_key().public_bytes(ser.Encoding.PEM, ser.PublicFormat.SubjectPublicKeyInfo))
        files = [{"path": kid + ".pkcs8.pem", "format": "pem-pkcs8", "private": True},
                 {"path": kid + ".spki.pem", "format": "pem-spki", "private": False}]
        if jwk_fn:
            write(kid + ".jwk.json", json.dumps(jwk_fn(kid, key), indent=2) + "\n")
            files.append({"path": kid + ".jwk.json", "format": "jwk", "private": True})
        index[kid] = {"source": "sigharness (vectors/tools/keys.py, Python cryptography)", "kty": kty,
                      "algorithms": algs, "files": files}
        if crv:
            index[kid]["curve"] = crv

    def b64u(b):
        return base64.urlsafe_b64encode(b).rstrip(b"=").decode()

    def ec_jwk(kid, key):
        n = key.curve.key_size // 8
        nums = key.private_numbers()
        return {"kty": "EC", "crv": "P-384", "kid": kid, "d": b64u(nums.private_value.to_bytes(n, "big")),
                "x": b64u(nums.public_numbers.x.to_bytes(n, "big")), "y": b64u(nums.public_numbers.y.to_bytes(n, "big"))}

    def ed_jwk(kid, key):
        return {"kty": "OKP", "crv": "Ed25519", "kid": kid,
                "d": b64u(key.private_bytes(ser.Encoding.Raw, ser.PrivateFormat.Raw, ser.NoEncryption())),
                "x": b64u(key.public_key().public_bytes(ser.Encoding.Raw, ser.PublicFormat.Raw))}

    own("sh-key-ecc-p384", lambda: ec.generate_private_key(ec.SECP384R1()), "EC", "P-384", ["ecdsa-p384-sha384"], ec_jwk)
    own("sh-key-rsa-2048", lambda: rsa.generate_private_key(65537, 2048), "RSA", None, ["rsa-v1_5-sha256", "rsa-pss-sha512"])
    own("sh-key-ed25519-2", ed25519.Ed25519PrivateKey.generate, "OKP", "Ed25519", ["ed25519"], ed_jwk)
    sec_path = os.path.join(KEYS, "sh-shared-secret-32.b64")
    if not os.path.exists(sec_path):
        write("sh-shared-secret-32.b64", base64.b64encode(os.urandom(32)).decode() + "\n")
    index["sh-shared-secret-32"] = {"source": "sigharness (vectors/tools/keys.py, os.urandom)", "kty": "oct",
                                    "algorithms": ["hmac-sha256"],
                                    "files": [{"path": "sh-shared-secret-32.b64", "format": "base64", "private": True}]}
    out = {"schema": "keys_index_schema.json",
           "header": ["Keys referenced by test groups (keyId). test-* keys are RFC 9421 Appendix B.1, copied",
                      "byte for byte; sh-* keys are our own. NEVER use any of these keys for anything but tests."],
           "keys": index}
    write("index.json", json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""http-sig suite shim (`sigharness conformance --suite http-sig --target-cmd ...`) for the PyPI
package `http-message-signatures` 3.0.0 (with `cryptography`). Protocol: conformance/interop/README.md.

Each request is mapped onto the library's public API (HTTPMessageSigner.prepare / sign,
HTTPMessageVerifier.verify). What the API cannot express is answered `unsupported` with the
reason, never a made-up result:
- signing: the library writes its own parameters in its own order (created, keyid, alg, expires,
  nonce, tag) and always `created` and `keyid`; other sets or orders are unsupported;
- verifying: policy fields without a library option (max validity, forbidden components,
  revoked keys, required parameters other than `created`) are unsupported; the replay check is
  the caller's by the library's documentation, done here on the nonce it returns.
The verification time is the request's `policy.now`: the library reads the wall clock, so the
clock of its `signatures` module is set to that instant for the call.
"""

import base64
import datetime
import json
import sys
import types

import http_message_signatures as hms
from http_message_signatures import algorithms, signatures
from http_message_signatures.exceptions import HTTPMessageSignaturesException, InvalidSignature
from cryptography.hazmat.primitives.serialization import load_pem_private_key, load_pem_public_key

NAME, VERSION = "pypi:http-message-signatures", "3.0.0"
ALGS = {
    "rsa-pss-sha512": algorithms.RSA_PSS_SHA512,
    "rsa-v1_5-sha256": algorithms.RSA_V1_5_SHA256,
    "hmac-sha256": algorithms.HMAC_SHA256,
    "ecdsa-p256-sha256": algorithms.ECDSA_P256_SHA256,
    "ecdsa-p384-sha384": getattr(algorithms, "ECDSA_P384_SHA384", None),
    "ed25519": algorithms.ED25519,
}
ALGS = {k: v for k, v in ALGS.items() if v is not None}
LIB_PARAM_ORDER = ["created", "keyid", "alg", "expires", "nonce", "tag"]


class Unsupported(Exception):
    pass


class Headers:
    """Field lines in order (repeated names kept), with the writes signing needs."""

    def __init__(self, lines):
        self.lines = list(lines)

    def items(self):
        return list(self.lines)

    def __iter__(self):
        return iter(dict.fromkeys(n for n, _ in self.lines))

    def __contains__(self, name):
        return any(n.lower() == name.lower() for n, _ in self.lines)

    def __getitem__(self, name):
        vals = [v for n, v in self.lines if n.lower() == name.lower()]
        if not vals:
            raise KeyError(name)
        return ", ".join(vals)

    def get(self, name, default=None):
        try:
            return self[name]
        except KeyError:
            return default

    def __setitem__(self, name, value):
        self.__delitem__(name)
        self.lines.append((name, value))

    def __delitem__(self, name):
        self.lines = [(n, v) for n, v in self.lines if n.lower() != name.lower()]


class Request:
    def __init__(self, method, url, headers, target):
        self.method, self.url, self.headers = method, url, headers
        self.request_target = target
        self.start = None
        self.body = ""


class Response:
    def __init__(self, status, headers, request):
        self.status_code, self.headers, self.request = status, headers, request
        self.start = None
        self.body = ""


def parse(text, scheme, request=None):
    head, _, body = text.replace("\r\n", "\n").partition("\n\n")
    lines = head.split("\n")
    start, fields = lines[0], []
    for line in lines[1:]:
        if line[:1] in (" ", "\t") and fields:
            n, v = fields[-1]
            fields[-1] = (n, v + " " + line.strip())
            continue
        name, sep, value = line.partition(":")
        if not sep:
            raise Unsupported(f"field line without a colon: {line!r}")
        fields.append((name.strip(), value.strip()))
    headers = Headers(fields)
    parts = start.split(" ")
    if start.startswith("HTTP/"):
        msg = Response(int(parts[1]), headers, request)
    else:
        method, target = parts[0], parts[1] if len(parts) > 1 else "/"
        if "://" in target:
            url = target
        else:
            host = headers.get("host")
            if host is None:
                raise Unsupported("request without a Host field (no absolute URL to hand over)")
            url = f"{scheme}://{host}{target}" if target.startswith("/") else f"{scheme}://{host}/"
        msg = Request(method, url, headers, target)
    msg.start, msg.body = start, body
    return msg


def serialize(msg):
    out = [msg.start] + [f"{n}: {v}" for n, v in msg.headers.lines]
    return "\r\n".join(out) + "\r\n\r\n" + msg.body


def load_msg(req):
    related = parse(req["request"], req["scheme"]) if req.get("request") else None
    return parse(req["message"], req["scheme"], related)


def key_material(key, private):
    raw = base64.b64decode(key["bytes"])
    fmt = key["format"]
    if fmt == "base64":
        return base64.b64decode(raw)
    if fmt.startswith("pem"):
        return load_pem_private_key(raw, password=None) if private else load_pem_public_key(raw)
    raise Unsupported(f"key format {fmt}")


def alg_class(name):
    cls = ALGS.get(name)
    if cls is None:
        raise Unsupported(f"algorithm {name}")
    return cls


def check_sf(req):
    if req.get("structured_fields"):
        raise Unsupported("declared structured field types (the library has no option for them)")


def lib_params(req):
    """The request's parameters as arguments of prepare()/sign(), if the library writes them so."""
    if req.get("params") is None:
        raise Unsupported("signature parameters our parser cannot read either")
    params = req["params"]
    names = [n for n, _ in params]
    order = [n for n in LIB_PARAM_ORDER if n in names]
    if any(n not in LIB_PARAM_ORDER for n in names) or names != order:
        raise Unsupported(f"parameters {names}: the library writes {LIB_PARAM_ORDER} in that order")
    if "created" not in names or "keyid" not in names:
        raise Unsupported("the library always writes created and keyid")
    p = dict(params)
    for n in ("keyid", "nonce", "tag"):
        if n in p and not isinstance(p[n], str):
            raise Unsupported(f"{n} that is not a string ({p[n]!r}): the library writes strings")
    if not isinstance(p["created"], int) or ("expires" in p and not isinstance(p["expires"], int)):
        raise Unsupported("created/expires that are not integers")
    kw = {
        "key_id": p["keyid"],
        "created": datetime.datetime.fromtimestamp(p["created"], tz=datetime.timezone.utc),
        "include_alg": "alg" in p,
        "covered_component_ids": [c["id"] for c in req["covered"]],
    }
    if "expires" in p:
        kw["expires"] = datetime.datetime.fromtimestamp(p["expires"], tz=datetime.timezone.utc)
    for n in ("nonce", "tag"):
        if n in p:
            kw[n] = p[n]
    return kw, p.get("alg")


class OneKey(hms.HTTPSignatureKeyResolver):
    def __init__(self, keyid, key):
        self.keyid, self.key = keyid, key

    def resolve_public_key(self, key_id):
        return self.key if key_id == self.keyid else None

    def resolve_private_key(self, key_id):
        return self.key


def op_base(req):
    check_sf(req)
    kw, alg = lib_params(req)
    cls = alg_class(alg) if alg else algorithms.ED25519
    msg = load_msg(req)
    kw["use_existing_digest"] = "content-digest" in msg.headers
    signer = hms.HTTPMessageSigner(signature_algorithm=cls, key_resolver=OneKey(kw["key_id"], None))
    prepared = signer.prepare(msg, **kw)
    return prepared.signature_base.decode()


def op_sign(req):
    check_sf(req)
    kw, alg = lib_params(req)
    if alg is not None and alg != req["alg"]:
        raise Unsupported("an alg parameter other than the signing algorithm")
    cls = alg_class(req["alg"])
    msg = load_msg(req)
    key = key_material(req["key"], True)
    # A message that carries its Content-Digest (RFC 9530) already: the documented option.
    kw["use_existing_digest"] = "content-digest" in msg.headers
    signer = hms.HTTPMessageSigner(signature_algorithm=cls, key_resolver=OneKey(kw["key_id"], key))
    existing = "signature" in msg.headers
    signer.sign(msg, label=req["label"], append_if_signature_exists=existing, **kw)
    return serialize(msg)


class FixedClock(datetime.datetime):
    now_ts = 0

    @classmethod
    def now(cls, tz=None):
        return datetime.datetime.fromtimestamp(cls.now_ts, tz=tz or datetime.timezone.utc)


def op_verify(req):
    check_sf(req)
    pol = req["policy"]
    for field in ("max_validity", "required_tag_unused"):
        if pol.get(field) is not None:
            raise Unsupported(f"policy {field} (no library option)")
    if pol.get("forbidden_components"):
        raise Unsupported("policy forbidden_components (no library option)")
    if pol.get("revoked_keyids"):
        raise Unsupported("policy revoked_keyids (no library option)")
    if pol.get("require_content_digest"):
        raise Unsupported("policy require_content_digest (the library needs the body bytes)")
    extra = [p for p in pol.get("required_params", []) if p != "created"]
    if extra:
        raise Unsupported(f"policy required_params {extra} (the library only requires created)")
    if not pol.get("check_expires", True):
        raise Unsupported("expires not checked (the library always checks it)")
    skew = pol.get("created_skew") or 0
    if (pol.get("expires_skew") or 0) != skew:
        raise Unsupported("different skews for created and expires (the library has one)")
    cls = alg_class(req["alg"])
    msg = load_msg(req)
    key = key_material(req["key"], False)

    class Verifier(hms.HTTPMessageVerifier):
        max_clock_skew = datetime.timedelta(seconds=skew)
        require_created = "created" in pol.get("required_params", [])
        allow_label_only_selection = True

    verifier = Verifier(signature_algorithm=cls, key_resolver=OneKey(req["key"]["id"], key))
    max_age = pol.get("max_age")
    FixedClock.now_ts = pol["now"]
    saved = signatures.datetime
    signatures.datetime = types.SimpleNamespace(
        datetime=FixedClock, timezone=datetime.timezone, timedelta=datetime.timedelta
    )
    try:
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            results = verifier.verify(
                msg,
                max_age=None if max_age is None else datetime.timedelta(seconds=max_age),
                expect_label=req.get("label"),
                expect_tag=pol.get("required_tag"),
                require_components=pol.get("required_components") or (),
            )
    finally:
        signatures.datetime = saved
    seen = set(pol.get("seen_nonces") or [])
    for r in results:
        if r.nonce is not None and r.nonce in seen:
            raise InvalidSignature(f"nonce {r.nonce} seen before (replay, checked by the caller)")
    return True


OPS = {"base": op_base, "sign": op_sign, "verify": op_verify}


def answer(req):
    rid = req.get("id")
    op = req.get("op")
    if op == "hello":
        return {
            "id": rid,
            "ok": {
                "name": NAME,
                "version": VERSION,
                "ops": list(OPS),
                "algorithms": list(ALGS),
                "key_formats": ["pem-pkcs8", "pem-spki", "pem-sec1", "pem-pkcs1-private", "pem-pkcs1-public", "base64"],
            },
        }
    fn = OPS.get(op)
    if fn is None:
        return {"id": rid, "unsupported": f"op {op}"}
    try:
        return {"id": rid, "ok": fn(req)}
    except Unsupported as e:
        return {"id": rid, "unsupported": str(e)}
    except InvalidSignature as e:
        return {"id": rid, "error": {"kind": "invalid_signature", "message": str(e)}}
    except (HTTPMessageSignaturesException, ValueError, TypeError, KeyError) as e:
        return {"id": rid, "error": {"kind": type(e).__name__, "message": str(e)}}
    except Exception as e:  # the library raised something else: still a refusal, named
        return {"id": rid, "error": {"kind": type(e).__name__, "message": str(e)}}


def main():
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            req = json.loads(line)
        except ValueError as e:
            print(f"shim: bad request line: {e}", file=sys.stderr)
            continue
        sys.stdout.write(json.dumps(answer(req)) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()

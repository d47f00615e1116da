#!/usr/bin/env python3
"""Generate vectors/data/*.json (and vectors/schema/*.json) from the RFC 9421 text and our own rule batches.

Usage: python3 vectors/tools/gen.py [--check] [/path/to/rfc9421.md]
  (default RFC path: ../shared/specs/rfc9421.md next to the repository)
  --check   write nothing; exit 1 and name every file that would change. The output is a pure function
            of the RFC text, keys/ and these tools (signing is deterministic, see sigbase.sign), so a
            clean checkout must pass --check.
Not run by CI; the generated JSON is committed. Every vector states its intended outcome and level
(MUST unless the call says SHOULD or MAY) and the generator (sigbase.py, independent of the Rust
implementation) must agree with the outcome, or generation aborts. RFC examples are reproduced from the
RFC text and the generator must reproduce each RFC signature base byte for byte (and each deterministic
RFC signature exactly) before anything is written.
"""
import base64
import json
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sigbase as sb  # noqa: E402
import statement_map as trace  # noqa: E402
from sigbase import VecError  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..")
KEYS = json.load(open(os.path.join(ROOT, "keys", "index.json")))["keys"]
CREATED = 1618884473
GENERATOR_VERSION = "3"
LEVELS = ("MUST", "SHOULD", "MAY")


# ---------------------------------------------------------------- keys
def key_path(kid):
    files = KEYS[kid]["files"]
    for f in files:
        if f["private"] and f["format"] != "jwk":
            return os.path.join(ROOT, "keys", f["path"])
    raise KeyError(kid)


_priv = {}


def priv(kid):
    if kid not in _priv:
        _priv[kid] = sb.load_private(key_path(kid))
    return _priv[kid]


def pub(kid):
    k = priv(kid)
    return k if isinstance(k, bytes) else k.public_key()


PUBLIC_JWK_MEMBERS = ("kty", "crv", "x", "y", "n", "e")


def public_jwk(key_id, **extra):
    """The public JWK of key `key_id` (its .jwk.json file without private members), with `extra`
    (e.g. another `kid`, `use`, `key_ops`)."""
    for f in KEYS[key_id]["files"]:
        if f["format"] == "jwk":
            with open(os.path.join(ROOT, "keys", f["path"])) as fh:
                jwk = json.load(fh)
            out = {k: jwk[k] for k in PUBLIC_JWK_MEMBERS if k in jwk}
            out.update(extra)
            return out
    raise KeyError(key_id)


def pub_of_jwk(jwk):
    """The public key (of our key files) a key-set member carries: matched by its public members."""
    want = {k: jwk[k] for k in PUBLIC_JWK_MEMBERS if k in jwk}
    for kid in KEYS:
        try:
            if public_jwk(kid) == want:
                return pub(kid)
        except KeyError:
            continue
    raise KeyError("no key file has this public JWK")


# ---------------------------------------------------------------- RFC text
SPEC = None


def unfold(text):
    # RFC 8792 single-backslash strategy
    if text.startswith("NOTE: '\\' line wrapping per RFC 8792"):
        text = text.split("\n", 2)[2]
    # (the B.4 base listing folds without the NOTE line; no RFC block ends a line with a real backslash)
    return re.sub(r"\\\n[ \t]*", "", text)


def rfc_blocks(heading):
    """Code blocks of the section whose heading line starts with `heading`."""
    start = SPEC.index("\n" + heading) + 1
    m = re.compile(r"\n#+ ").search(SPEC, start + 1)
    sec = SPEC[start:m.start() if m else len(SPEC)]
    return [unfold(b) for b in re.findall(r"\n~~~[^\n]*\n(.*?)\n~~~", sec, re.S)]


def http(text, fixup_body=False):
    """RFC example text (LF) to wire form (CRLF)."""
    head, sep, body = text.partition("\n\n")
    if fixup_body:
        body = body.lstrip("\n")
    if "Transfer-Encoding: chunked" in head:
        body = body.replace("\n", "\r\n") + "\r\n\r\n"
    return head.replace("\n", "\r\n") + "\r\n\r\n" + body


def lines_to_inner(lines_text):
    lines = lines_text.replace("(SP)", " ").split("\n")
    idents = [ln[:ln.index(": ") if ": " in ln else ln.index(":")] for ln in lines]
    return lines, "(" + " ".join(idents) + ")"


def header_value(msg_or_block, name):
    for ln in msg_or_block.split("\n"):
        if ln.lower().startswith(name.lower() + ": "):
            return ln.split(": ", 1)[1]
    raise KeyError(name)


def add_headers(msg, extra):
    head, _, body = msg.partition("\r\n\r\n")
    return head + "".join("\r\n" + e for e in extra) + "\r\n\r\n" + body


# ---------------------------------------------------------------- file builders
NOTES = {}


def note(flag, bug_type, description, effect=None, links=()):
    NOTES[flag] = {"bugType": bug_type, "description": description}
    if effect:
        NOTES[flag]["effect"] = effect
    NOTES[flag]["links"] = list(links)


class VectorFile:
    def __init__(self, name, kind, header):
        self.name, self.kind, self.header = name, kind, header
        self.groups = {}
        self.tc = 0

    def group(self, rule, spec_ref, key_id=None, alg=None, key_format=None):
        """key_format pins the encoding the key is handed over in (a format of keys/index.json)."""
        k = (rule, spec_ref, key_id, alg, key_format)
        if k not in self.groups:
            g = {"rule": rule, "specRef": spec_ref}
            if self.kind != "base":
                g["keyId"], g["alg"] = key_id, alg
                if key_format is not None:
                    files = [f for f in KEYS[key_id]["files"] if f["format"] == key_format]
                    assert files, "%s has no %s file" % (key_id, key_format)
                    assert self.kind != "sign" or any(f["private"] for f in files), key_format
                    g["keyFormat"] = key_format
            g["tests"] = []
            self.groups[k] = g
        return self.groups[k]

    def add(self, group, test, statements=None, level_why=None):
        """statements: the matrix ids the vector tests (default: vectors/tools/statement_map.py). Its level must
        be the strongest level of those statements unless it is acceptable or level_why says why."""
        self.tc += 1
        stem = self.name[: -len("_test.json")]
        ids = trace.statements(stem, group["rule"], self.tc, statements)
        t = {"tcId": self.tc}
        for k, v in test.items():
            t[k] = v
            if k == "level":
                t["statements"] = ids
                if level_why is not None:
                    t["levelWhy"] = level_why
        want = trace.level_of(ids)
        assert t["result"] == "acceptable" or level_why is not None or t["level"] == want, (
            "%s tcId %d (%s): level %s, but its statements %s are %s; give level_why= if that is intended"
            % (self.name, self.tc, t["comment"], t["level"], ids, want))
        for f in t.get("flags", []):
            assert f in NOTES, f
        group["tests"].append(t)

    def render(self, schema_texts):
        """The file's text, exactly as committed; validated against the schema being generated."""
        used = sorted({f for g in self.groups.values() for t in g["tests"] for f in t["flags"]})
        out = {
            "algorithm": "RFC9421",
            "schema": "http_sig_%s_schema.json" % self.kind,
            "generatorVersion": GENERATOR_VERSION,
            "numberOfTests": self.tc,
            "header": self.header,
            "notes": {f: NOTES[f] for f in used},
            "testGroups": list(self.groups.values()),
        }
        try:
            import jsonschema
            schema = json.loads(schema_texts[os.path.join(ROOT, "schema", out["schema"])])
            jsonschema.validate(out, schema)
        except ImportError:
            print("warning: python jsonschema not installed; schema not checked")
        return json.dumps(out, indent=2, ensure_ascii=False) + "\n"

    def path(self):
        return os.path.join(ROOT, "data", self.name)


def common(comment, flags, message, request, scheme, sf_types):
    t = {"comment": comment, "flags": list(flags), "message": message}
    if request is not None:
        t["request"] = request
    if scheme != "https":
        t["scheme"] = scheme
    if sf_types:
        t["structuredFields"] = sf_types
    return t


def parse_msgs(message, request, scheme):
    msg = sb.Message(message, scheme)
    req = sb.Message(request, scheme) if request is not None else None
    return msg, req


def outcome(t, expect, err, level):
    """expect: 'valid', 'acceptable', or an error kind (=> invalid). level: MUST, SHOULD or MAY, as the
    caller states it (never guessed); an acceptable vector is MAY (either outcome conforms)."""
    assert level in LEVELS, level
    assert (expect == "acceptable") <= (level == "MAY"), "%s: acceptable vectors are MAY" % t["comment"]
    assert level == "MUST" or t["flags"], "%s: a %s vector needs a flag saying why" % (t["comment"], level)
    t["level"] = level
    if expect == "acceptable":
        t["result"] = "acceptable"
        return
    if expect == "valid":
        if err is not None:
            raise AssertionError("%s: expected valid, generator says %s" % (t["comment"], err))
        t["result"] = "valid"
    else:
        if err is None or err.kind != expect:
            raise AssertionError("%s: expected %s, generator says %s" % (t["comment"], expect, err))
        t["result"] = "invalid"
        t["errorKind"] = expect


def base_test(f, group, comment, flags, message, params, expect="valid", request=None, scheme="https",
              sf_types=None, expected_base=None, level="MUST", statements=None, level_why=None):
    t = common(comment, flags, message, request, scheme, sf_types)
    t["signatureParams"] = params
    err, base = None, None
    try:
        msg, req = parse_msgs(message, request, scheme)
        inner = sb.parse_signature_params(params)
        t["components"] = [sb.ser_item(i) for i in inner[0]]
        base = sb.signature_base(msg, req, inner, sf_types)
    except VecError as e:
        err = e
    if base is not None:
        t["signatureBase"] = base
    if expected_base is not None:
        assert base == expected_base, "%s\n--- got\n%s\n--- want\n%s" % (comment, base, expected_base)
    outcome(t, expect, err, level)
    f.add(group, t, statements, level_why)
    return base


def sign_test(f, group, comment, flags, message, label, params, expect="valid", request=None, scheme="https",
              sf_types=None, expected_base=None, rfc_signature=None, level="MUST", statements=None, level_why=None):
    kid, alg = group["keyId"], group["alg"]
    t = common(comment, flags, message, request, scheme, sf_types)
    t["label"] = label
    t["signatureParams"] = params
    err = None
    try:
        msg, req = parse_msgs(message, request, scheme)
        inner = sb.parse_signature_params(params)
        t["components"] = [sb.ser_item(i) for i in inner[0]]
        p = dict(inner[1])
        existing_si = [sb.canon_field_value(v) for v in msg.field_values("signature-input")]
        existing_sg = [sb.canon_field_value(v) for v in msg.field_values("signature")]
        labels = [k for k, _ in sb.parse_sf(", ".join(existing_si), "dictionary")] if existing_si else []
        if label in labels:
            raise VecError("duplicate_label", label)
        if "alg" in p:
            if p["alg"] not in sb.ALGS:
                raise VecError("unsupported_algorithm", p["alg"])
            if p["alg"] != alg:
                raise VecError("key_algorithm_mismatch")
        base = sb.signature_base(msg, req, inner, sf_types)
        t["signatureBase"] = base
        if expected_base is not None:
            assert base == expected_base, "%s\n--- got\n%s\n--- want\n%s" % (comment, base, expected_base)
        if alg in sb.DETERMINISTIC:
            sig = sb.sign(alg, priv(kid), base)
            if rfc_signature is not None:
                assert base64.b64encode(sig).decode() == rfc_signature, comment
            t["signatureCheck"] = "exact"
        elif rfc_signature is not None:
            sig = base64.b64decode(rfc_signature)
            t["signatureCheck"] = "verify"
        else:
            sig = sb.sign(alg, priv(kid), base)
            t["signatureCheck"] = "verify"
        assert sb.verify(alg, pub(kid), base, sig), comment
        t["signature"] = base64.b64encode(sig).decode()
        member = "%s=%s" % (label, sb.ser_member(inner))
        t["signatureInputHeader"] = ", ".join(existing_si + [member])
        t["signatureHeader"] = ", ".join(existing_sg + ["%s=:%s:" % (label, t["signature"])])
    except VecError as e:
        err = e
    outcome(t, expect, err, level)
    f.add(group, t, statements, level_why)
    return t


def verify_test(f, group, comment, flags, message, label, policy, expect="valid", request=None, scheme="https",
                sf_types=None, expected_base=None, level="MUST", statements=None, level_why=None):
    kid, alg = group["keyId"], group["alg"]
    t = common(comment, flags, message, request, scheme, sf_types)
    t["label"] = label
    t["policy"] = policy
    err = None
    try:
        msg, req = parse_msgs(message, request, scheme)
        base = sb.verify_message(msg, req, label, kid, alg, pub(kid), policy, sf_types, pub_of_jwk)
        t["signatureBase"] = base
        if expected_base is not None:
            assert base == expected_base, comment
    except VecError as e:
        err = e
        if expect == "signature_mismatch":
            # base is well defined: record it for diagnostics
            si = dict(sb.parse_sf(", ".join(sb.canon_field_value(v) for v in msg.field_values("signature-input")),
                                  "dictionary"))
            t["signatureBase"] = sb.signature_base(msg, req, si[label], sf_types)
    outcome(t, expect, err, level)
    f.add(group, t, statements, level_why)
    return t


def signed(message, label, params, kid, alg, extra_si=None):
    """Sign `message` with our generator and return it with Signature-Input/Signature added."""
    msg = sb.Message(message)
    inner = sb.parse_signature_params(params)
    base = sb.signature_base(msg, None, inner)
    sig = base64.b64encode(sb.sign(alg, priv(kid), base)).decode()
    return add_headers(message, ["Signature-Input: %s=%s" % (label, sb.ser_member(inner)),
                                 "Signature: %s=:%s:" % (label, sig)])


def trailers_note():
    note("Trailers", "EDGE_CASE",
         "RFC 9421 §2.1.4: \"If the signer wants to include a trailer field in the signature, the signer MUST "
         "include the `tr` boolean parameter to indicate the value MUST be taken from the trailer fields and not "
         "from the header fields\"; header and trailer values of one name \"MUST NOT be combined\". The message "
         "carries a chunked body whose trailer section holds the field. These vectors are level MUST (issue 17: "
         "they were SHOULD, so 2.1.4 was never judged); the NOT RECOMMENDED of §2.1.4 is advice to applications "
         "on when to cover trailers, not leave to ignore `tr` in a signature. A target that cannot read trailers "
         "is reported unsupported, which fails the run at MUST.", None,
         ["https://www.rfc-editor.org/rfc/rfc9421#section-2.1.4"])


# ---------------------------------------------------------------- RFC examples
def rfc_examples():
    note("RfcExample", "BASIC", "Reproduced byte for byte from RFC 9421 (Appendix B, section 2, 3, 4).",
         "An implementation that fails an RFC example does not interoperate with anyone.",
         ["https://www.rfc-editor.org/rfc/rfc9421#appendix-B"])
    note("NonDeterministic", "BASIC",
         "rsa-pss-sha512 and ECDSA signatures are randomized: the expected signature is a valid one to verify, "
         "never to compare (signatureCheck = verify).", None,
         ["https://www.rfc-editor.org/rfc/rfc9421#section-7.3.5"])
    note("Deterministic", "BASIC",
         "hmac-sha256, ed25519 (RFC 8032) and rsa-v1_5-sha256 are deterministic: a signer must reproduce the "
         "signature exactly (signatureCheck = exact).", "A randomized Ed25519 signer (httpsig crate) fails these.",
         ["https://www.rfc-editor.org/rfc/rfc8032#section-5.1.6"])
    note("RfcErrataDigest", "EDGE_CASE",
         "The RFC's test-response listing shows a Content-Digest that is not the SHA-512 of its body; the B.2.4 "
         "base uses the real digest mEWX..., so the message here carries that value.", None,
         ["https://www.rfc-editor.org/rfc/rfc9421#appendix-B.2.4"])
    note("RfcTransform", "BASIC", "RFC 9421 Appendix B.4: messages transformed by intermediaries that must or "
         "must not still verify.", None, ["https://www.rfc-editor.org/rfc/rfc9421#appendix-B.4"])

    fb = VectorFile("rfc9421_base_test.json", "base",
                    ["RFC 9421 examples as signature-base vectors: sections 2.1-2.5 component lines and the",
                     "Appendix B bases, each reproduced byte for byte by vectors/tools/gen.py."])
    fs = VectorFile("rfc9421_sign_test.json", "sign",
                    ["RFC 9421 Appendix B.2 and section 4.3 as signing vectors: exact for deterministic",
                     "algorithms, verify-only (the RFC's own signature) for rsa-pss-sha512 and ECDSA."])
    fv = VectorFile("rfc9421_verify_test.json", "verify",
                    ["Every signed message in RFC 9421 as a verification vector, including the Appendix B.4",
                     "transformations that must and must not verify."])
    F = ["RfcExample"]

    # --- section 2 component examples (message fragments get a request line prepended)
    def comp(rule, ref, comment, message, lines_text, scheme="https", sf_types=None, request=None, flags=(),
             level="MUST"):
        lines, inner = lines_to_inner(lines_text)
        want = "\n".join(lines) + '\n"@signature-params": ' + inner
        base_test(fb, fb.group(rule, ref), comment, F + list(flags), message, inner, scheme=scheme,
                  sf_types=sf_types, expected_base=want, request=request, level=level)

    b = rfc_blocks("## HTTP Fields")
    frag = http("GET /foo HTTP/1.1\n" + b[0] + "\n\n")
    comp("field-canonicalization", "RFC 9421 §2.1", "§2.1 field values: trim, obs-fold, combine (request line added)",
         frag, b[1])
    comp("field-canonicalization", "RFC 9421 §2.1", "§2.1 empty header signed as empty value",
         http("GET /foo HTTP/1.1\nHost: www.example.com\n" + b[2].replace("(SP)", " ") + "\n\n"), b[3])
    b = rfc_blocks("### Strict Serialization of HTTP Structured Fields")
    m = http("GET /foo HTTP/1.1\nHost: www.example.com\n" + b[0] + "\n\n")
    comp("field-sf", "RFC 9421 §2.1.1", "§2.1.1 dictionary without sf keeps raw value", m, b[1])
    comp("field-sf", "RFC 9421 §2.1.1", "§2.1.1 dictionary with sf is strictly re-serialized", m, b[2],
         sf_types={"example-dict": "dictionary"})
    b = rfc_blocks("### Dictionary Structured Field Members")
    m = http("GET /foo HTTP/1.1\nHost: www.example.com\n" + b[0] + "\n\n")
    comp("field-key", "RFC 9421 §2.1.2", "§2.1.2 dictionary members selected by key", m, b[1])
    b = rfc_blocks("### Binary-wrapped HTTP Fields")
    m2 = http("GET /foo HTTP/1.1\nHost: www.example.com\n" + b[0] + "\n\n")
    m1 = http("GET /foo HTTP/1.1\nHost: www.example.com\n" + b[1] + "\n\n")
    comp("field-bs", "RFC 9421 §2.1.3", "§2.1.3 two instances without bs collide with one", m2, b[2])
    comp("field-bs", "RFC 9421 §2.1.3", "§2.1.3 one instance without bs", m1, b[2])
    comp("field-bs", "RFC 9421 §2.1.3", "§2.1.3 two instances with bs", m2, b[3])
    comp("field-bs", "RFC 9421 §2.1.3", "§2.1.3 one instance with bs", m1, b[4])
    b = rfc_blocks("### Trailer Fields")
    comp("field-tr", "RFC 9421 §2.1.4", "§2.1.4 trailer field with tr (chunked message)", http(b[0]), b[1],
         flags=["Trailers"])
    for heading, rule, ref, scheme in [("### Method", "derived-method", "§2.2.1", "https"),
                                       ("### Target URI", "derived-target-uri", "§2.2.2", "https"),
                                       ("### Authority", "derived-authority", "§2.2.3", "https"),
                                       ("### Scheme", "derived-scheme", "§2.2.4", "http"),
                                       ("### Path", "derived-path", "§2.2.6", "https"),
                                       ("### Status Code", "derived-status", "§2.2.9", "https")]:
        b = rfc_blocks(heading)
        comp(rule, "RFC 9421 " + ref, "%s example" % ref, http(b[0] + "\n\n"), b[2], scheme=scheme)
    b = rfc_blocks("### Request Target")
    for i in range(4):
        comp("derived-request-target", "RFC 9421 §2.2.5", "§2.2.5 example %d (%s form)" %
             (i + 1, ["origin", "absolute", "authority", "asterisk"][i]), http(b[3 * i] + "\n\n"), b[3 * i + 2])
    b = rfc_blocks("### Query")
    comp("derived-query", "RFC 9421 §2.2.7", "§2.2.7 query kept percent-encoded", http(b[0] + "\n\n"), b[2])
    comp("derived-query", "RFC 9421 §2.2.7", "§2.2.7 query without '='", http(b[3] + "\n\n"), b[5])
    comp("derived-query", "RFC 9421 §2.2.7", "§2.2.7 absent query is '?'",
         http("GET /path HTTP/1.1\nHost: www.example.com\n\n"), b[7])
    b = rfc_blocks("### Query Parameters")
    comp("derived-query-param", "RFC 9421 §2.2.8", "§2.2.8 named parameters incl. empty value", http(b[0] + "\n\n"),
         b[1])
    comp("derived-query-param", "RFC 9421 §2.2.8", "§2.2.8 decode then re-encode (%0A, '+', UTF-8 names)",
         http(b[2] + "\n\n"), b[3])

    # --- section 2.4 request-response
    b = rfc_blocks("## Signing Request Components in a Response Message")
    req1, resp1, base1, sresp1, sreq2, base2, sresp2 = (http(b[0]), http(b[1]), b[2], http(b[3]), http(b[4]), b[5],
                                                       http(b[6]))
    inner1 = base1.split('"@signature-params": ')[1]
    base_test(fb, fb.group("req-parameter", "RFC 9421 §2.4"), "§2.4 response signature covering request components",
              F, resp1, inner1, request=req1, expected_base=base1)
    inner2 = base2.split('"@signature-params": ')[1]
    base_test(fb, fb.group("req-parameter", "RFC 9421 §2.4"), "§2.4 response to a signed request", F, resp1, inner2,
              request=sreq2, expected_base=base2)
    g = fv.group("rfc-examples", "RFC 9421 §2.4", "test-key-ecc-p256", "ecdsa-p256-sha256")
    verify_test(fv, g, "§2.4 signed response (reqres)", F + ["NonDeterministic"], sresp1, "reqres",
                {"now": 1618884479}, request=req1, expected_base=base1)
    verify_test(fv, g, "§2.4 signed response to a signed request (reqres)", F + ["NonDeterministic"], sresp2,
                "reqres", {"now": 1618884479}, request=sreq2, expected_base=base2)
    verify_test(fv, fv.group("rfc-examples", "RFC 9421 §2.4", "test-key-rsa-pss", "rsa-pss-sha512"),
                "§2.4 signed request sig1", F + ["NonDeterministic"], sreq2, "sig1", {"now": 1618884479})

    # --- section 2.5 / 3.1 / 3.2
    b = rfc_blocks("## Creating the Signature Base")
    inner = b[2].split('"@signature-params": ')[1]
    base_test(fb, fb.group("signature-base", "RFC 9421 §2.5"), "§2.5 example signature base", F, http(b[1]), inner,
              expected_base=b[2])
    b = rfc_blocks("## Verifying a Signature")
    verify_test(fv, fv.group("rfc-examples", "RFC 9421 §3.2", "test-key-rsa-pss", "rsa-pss-sha512"),
                "§3.2 verification example (signature value of §3.1)", F + ["NonDeterministic"], http(b[0]), "sig1",
                {"now": 1618884473 + 10, "maxAge": 300,
                 "requiredComponents": ['"@method"', '"@authority"', '"@path"', '"content-digest"',
                                        '"content-length"', '"content-type"']})

    # --- Appendix B.2
    tb = rfc_blocks("## Test Cases")
    test_request, test_response_listed = http(tb[0]), http(tb[1])
    test_response = test_response_listed.replace(
        "JlEy2bfUz7WrWIjc1qV6KVLpdr/7L5/L4h7Sxvh6sNHpDQWDCL+GauFQWcZBvVDhiyOnAQsxzZFYwi0wDH+1pw==",
        "mEWXIS7MaLRuGgxOBdODa3xqM1XdEvxoYhvlCFJ41QJgJc4GTsPp29l5oGX69wWdXymyU0rjJuahq4l5aGgfLQ==")
    assert test_response != test_response_listed
    cases = [("### Minimal Signature Using rsa-pss-sha512", "B.2.1", "test-key-rsa-pss", "rsa-pss-sha512"),
             ("### Selective Covered Components using rsa-pss-sha512", "B.2.2", "test-key-rsa-pss", "rsa-pss-sha512"),
             ("### Full Coverage using rsa-pss-sha512", "B.2.3", "test-key-rsa-pss", "rsa-pss-sha512"),
             ("### Signing a Response using ecdsa-p256-sha256", "B.2.4", "test-key-ecc-p256", "ecdsa-p256-sha256"),
             ("### Signing a Request using hmac-sha256", "B.2.5", "test-shared-secret", "hmac-sha256"),
             ("### Signing a Request using ed25519", "B.2.6", "test-key-ed25519", "ed25519")]
    for heading, ref, kid, alg in cases:
        b = rfc_blocks(heading)
        base, hdrs = b[0], b[1]
        si, sg = header_value(hdrs, "Signature-Input"), header_value(hdrs, "Signature")
        label = si.split("=", 1)[0]
        params = si.split("=", 1)[1]
        sig = sg.split("=", 1)[1].strip(":")
        message = test_response if ref == "B.2.4" else test_request
        flags = F + (["RfcErrataDigest"] if ref == "B.2.4" else [])
        det = ["Deterministic"] if alg in sb.DETERMINISTIC else ["NonDeterministic"]
        base_test(fb, fb.group("appendix-b2", "RFC 9421 Appendix " + ref), "Appendix %s signature base" % ref, flags,
                  message, params, expected_base=base)
        sign_test(fs, fs.group("appendix-b2", "RFC 9421 Appendix " + ref, kid, alg), "Appendix %s" % ref, flags + det,
                  message, label, params, expected_base=base, rfc_signature=sig)
        verify_test(fv, fv.group("appendix-b2", "RFC 9421 Appendix " + ref, kid, alg), "Appendix %s" % ref,
                    flags + det, add_headers(message, ["Signature-Input: " + si, "Signature: " + sg]), label,
                    {"now": CREATED + 60}, expected_base=base)

    # --- Appendix B.3 TLS-terminating proxy
    b = rfc_blocks("## TLS-Terminating Proxies")
    inner = b[2].split('"@signature-params": ')[1]
    base_test(fb, fb.group("appendix-b3", "RFC 9421 Appendix B.3"), "Appendix B.3 proxy base over Client-Cert", F,
              http(b[1]), inner, expected_base=b[2])
    sign_test(fs, fs.group("appendix-b3", "RFC 9421 Appendix B.3", "test-key-ecc-p256", "ecdsa-p256-sha256"),
              "Appendix B.3 ttrp", F + ["NonDeterministic"], http(b[1]), "ttrp", inner, expected_base=b[2],
              rfc_signature=b[3].replace("\n", ""))
    verify_test(fv, fv.group("appendix-b3", "RFC 9421 Appendix B.3", "test-key-ecc-p256", "ecdsa-p256-sha256"),
                "Appendix B.3 ttrp", F + ["NonDeterministic"], http(b[4]), "ttrp", {"now": CREATED + 60},
                expected_base=b[2])

    # --- section 4.3 multiple signatures
    b = rfc_blocks("## Multiple Signatures")
    client, forwarded, pbase, psig, final = http(b[0]), http(b[1]), b[2], b[3].replace("\n", ""), http(b[4], True)
    inner = pbase.split('"@signature-params": ')[1]
    base_test(fb, fb.group("multiple-signatures", "RFC 9421 §4.3"), "§4.3 proxy_sig base", F, forwarded, inner,
              expected_base=pbase)
    sign_test(fs, fs.group("multiple-signatures", "RFC 9421 §4.3", "test-key-rsa", "rsa-v1_5-sha256"),
              "§4.3 proxy_sig appended after sig1 (rsa-v1_5-sha256 is deterministic)", F + ["Deterministic"],
              forwarded, "proxy_sig", inner, expected_base=pbase, rfc_signature=psig)
    gp = fv.group("multiple-signatures", "RFC 9421 §4.3", "test-key-rsa", "rsa-v1_5-sha256")
    verify_test(fv, gp, "§4.3 proxy_sig in the final message (one blank line before the body; the RFC listing has "
                "two)", F + ["Deterministic"], final, "proxy_sig", {"now": 1618884480 + 30}, expected_base=pbase)
    verify_test(fv, gp, "§4.3 proxy_sig after its expiry", F, final, "proxy_sig", {"now": 1618884540 + 1},
                expect="expired")
    gc = fv.group("multiple-signatures", "RFC 9421 §4.3", "test-key-ecc-p256", "ecdsa-p256-sha256")
    verify_test(fv, gc, "§4.3 client sig1 on the client's message", F + ["NonDeterministic"], client, "sig1",
                {"now": 1618884480})
    verify_test(fv, gc, "§4.3 client sig1 after the proxy changed Host: no longer verifies", F, final, "sig1",
                {"now": 1618884480}, expect="signature_mismatch")

    # --- Appendix B.4 transformations
    b = rfc_blocks("## HTTP Message Transformations {#example-transform}")
    g = fv.group("appendix-b4", "RFC 9421 Appendix B.4", "test-key-ed25519", "ed25519")
    base_test(fb, fb.group("appendix-b4", "RFC 9421 Appendix B.4"), "Appendix B.4 base", F + ["RfcTransform"],
              http(b[0] + "\n\n"), header_value(b[0], "Signature-Input").split("=", 1)[1], expected_base=b[1])
    descr = ["original message", "Accept-Language and a query parameter added", "Date removed, Referer added, "
             "Accept collapsed to one line", "fields re-ordered (Accept instances kept in order)",
             "method and authority changed", "the two Accept instances swapped"]
    for i, d in enumerate(descr):
        verify_test(fv, g, "Appendix B.4: " + d, F + ["RfcTransform"], http(b[[0, 2, 3, 4, 5, 6][i]] + "\n\n"),
                    "transform", {"now": CREATED + 60}, expect="valid" if i < 4 else "signature_mismatch",
                    expected_base=b[1] if i < 4 else None)
    return [fb, fs, fv]


def main(argv):
    global SPEC
    check = "--check" in argv
    args = [a for a in argv if a != "--check"]
    spec = args[0] if args else os.path.join(ROOT, "..", "..", "shared", "specs", "rfc9421.md")
    if not os.path.exists(spec):
        sys.exit("gen.py: RFC 9421 text not found at %s; pass its path" % spec)
    SPEC = open(spec).read()
    trailers_note()
    files = rfc_examples()
    import own
    import schemas
    files += own.build(sys.modules[__name__])
    schema_texts = schemas.build()
    outputs = [(p, text, os.path.relpath(p, ROOT)) for p, text in schema_texts.items()]
    outputs += [(f.path(), f.render(schema_texts), "%-32s %4d tests" % (f.name, f.tc)) for f in files]
    import mqhub_tokens
    outputs += mqhub_tokens.build()
    import web_bot_auth
    outputs += web_bot_auth.build()
    os.makedirs(os.path.join(ROOT, "data", "mq-hub"), exist_ok=True)
    stale = []
    for path, text, line in outputs:
        old = open(path, encoding="utf-8").read() if os.path.exists(path) else None
        if check:
            if old != text:
                stale.append(os.path.relpath(path, os.path.join(ROOT, "..")))
            continue
        with open(path, "w", encoding="utf-8") as out:
            out.write(text)
        print(line)
    if check:
        if stale:
            sys.exit("gen.py --check: regenerating changes %s" % ", ".join(stale))
        print("gen.py --check: %d files reproduced byte for byte" % len(outputs))


if __name__ == "__main__":
    main(sys.argv[1:])

"""Web Bot Auth request signatures as test vectors: vectors/data/web-bot-auth/web_bot_auth_test.json
(+ web_bot_auth_schema.json beside it).

Written from draft-meunier-webbotauth-httpsig-protocol (editor's copy after -02) as summarized,
with sources, in docs/web-bot-auth.md; independent of the Rust code: its own RFC 7638 thumbprint,
its own RFC 9421 signature base for the few components used, Python `cryptography` Ed25519
(deterministic, so `gen.py --check` reproduces the file). It first reproduces the draft's own
Ed25519 vectors byte for byte and aborts if it cannot.

Judge (the file's `judge`): resolve `keyid` in `directory` by RFC 7638 thumbprint; policy
`maxValidity` (the draft's 24 h RECOMMENDATION) and legacy String Signature-Agent accepted; time
`now` of the test. `result`: valid | invalid (with `error`, an http-sig Error::kind) |
acceptable (the draft leaves it to the verifier: MAY/SHOULD; `error` is what a verifier that
refuses should say).
"""

import base64
import hashlib
import json
import os

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT_DIR = os.path.join(ROOT, "data", "web-bot-auth")
OUT = os.path.join(OUT_DIR, "web_bot_auth_test.json")
SCHEMA = os.path.join(OUT_DIR, "web_bot_auth_schema.json")
C = 1735689600
NOW = C + 10
MAX_VALIDITY = 86400


def b64u(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def b64u_d(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def load_key():
    jwk = json.load(open(os.path.join(ROOT, "keys", "test-key-ed25519.jwk.json")))
    sk = Ed25519PrivateKey.from_private_bytes(b64u_d(jwk["d"]))
    return sk, jwk["x"]


def thumbprint_okp(x):
    # RFC 7638 §3.2-3.3 with RFC 8037 A.3: required members crv, kty, x, sorted, no whitespace.
    canon = '{"crv":"Ed25519","kty":"OKP","x":"%s"}' % x
    return b64u(hashlib.sha256(canon.encode()).digest())


def params_text(ids, params):
    out = "(" + " ".join(ids) + ")"
    for k, v in params:
        out += ";%s=%s" % (k, ('"%s"' % v) if isinstance(v, str) else str(v))
    return out


def dict_member(field, key):
    # Signature-Agent dictionaries here are `k="url"` members without commas inside values.
    for part in field.split(","):
        k, _, v = part.strip().partition("=")
        if k == key:
            return v
    raise KeyError(key)


def component_value(cid, req):
    name = cid.split(";")[0].strip('"')
    if name == "@authority":
        return req["host"].lower()
    if name == "@target-uri":
        return "https://%s%s" % (req["host"].lower(), req["path"])
    if name == "@method":
        return req["method"]
    if name == "@path":
        return req["path"]
    if name == "signature-agent":
        field = req["signature_agent"]
        if ';key="' in cid:
            return dict_member(field, cid.split(';key="')[1].rstrip('"'))
        return field.strip()
    raise ValueError(cid)


def base(ids, params, req):
    lines = ['%s: %s' % (cid, component_value(cid, req)) for cid in ids]
    lines.append('"@signature-params": ' + params_text(ids, params))
    return "\n".join(lines)


def message(req, label, ids, params, sig):
    head = "%s %s HTTP/1.1\r\nHost: %s\r\n" % (req["method"], req["path"], req["host"])
    if req.get("signature_agent") is not None:
        head += "Signature-Agent: %s\r\n" % req["signature_agent"]
    head += "Signature-Input: %s=%s\r\n" % (label, params_text(ids, params))
    head += "Signature: %s=:%s:\r\n\r\n" % (label, base64.b64encode(sig).decode())
    return head


def check_draft_vectors(sk, keyid):
    """draft §Test Vectors, EdDSA: both published signatures reproduced."""
    req = {"method": "GET", "path": "/", "host": "example.com",
           "signature_agent": 'agent2="https://signature-agent.test"'}
    ids = ['"@authority"', '"signature-agent";key="agent2"']
    params = [("created", C), ("keyid", keyid), ("alg", "ed25519"), ("expires", 4889289600),
              ("nonce", "n9p433xm+NJ3ph3upfBIGmsuwHw387YV7Q/F+6BSpGCVjYCqQw6rznNA8PVVLySrAWsv0hQtFioQb6E1YsauiA=="),
              ("tag", "web-bot-auth")]
    got = base64.b64encode(sk.sign(base(ids, params, req).encode())).decode()
    want = "RdNFx5Bj6au3YgAMQL/RzmUlZE8QZLIaXGRpw985hWnwPfMxT228NMk6ehRS1PSl4e8PhbNZACSanGdhEwYCCg=="
    if got != want:
        raise SystemExit("web_bot_auth.py: the draft's Ed25519 dictionary vector is not reproduced")
    req["signature_agent"] = '"https://signature-agent.test"'
    ids = ['"@authority"', '"signature-agent"']
    params = [("created", C), ("keyid", keyid), ("alg", "ed25519"), ("expires", 1735693200),
              ("nonce", "e8N7S2MFd/qrd6T2R3tdfAuuANngKI7LFtKYI/vowzk4lAZYadIX6wW25MwG7DCT9RUKAJ0qVkU0mEeLElW1qg=="),
              ("tag", "web-bot-auth")]
    got = base64.b64encode(sk.sign(base(ids, params, req).encode())).decode()
    want = "jdq0SqOwHdyHr9+r5jw3iYZH6aNGKijYp/EstF4RQTQdi5N5YYKrD+mCT1HA1nZDsi6nJKuHxUi/5Syp3rLWBA=="
    if got != want:
        raise SystemExit("web_bot_auth.py: the draft's Ed25519 legacy vector is not reproduced")


NOTES = {
    "DraftVector": {"bugType": "BASIC", "description": "the draft's own Ed25519 test vector (§Test Vectors), as published",
                    "links": ["draft-meunier-webbotauth-httpsig-protocol §Test Vectors"]},
    "LegacyStringForm": {"bugType": "POLICY", "description": "Signature-Agent as the legacy bare String: 'A verifier MAY accept that form'; signers MUST send the dictionary",
                         "links": ["draft §Signature-Agent"]},
    "NoSignatureAgent": {"bugType": "POLICY", "description": "no Signature-Agent: the signer breaks -02's MUST; a verifier may still verify by thumbprint (§When No URL Is Available)",
                         "links": ["draft §Signature-Agent", "draft §When No URL Is Available"]},
    "ValidityOver24h": {"bugType": "POLICY", "description": "expires - created > 24 h: 'It is RECOMMENDED that expiry be no more than 24 hours' (a SHOULD); this judge's maxValidity refuses it",
                        "links": ["draft §Generating HTTP Message Signature"]},
    "MemberKeyNotLabel": {"bugType": "EDGE_CASE", "description": "the covered member's key differs from the label: the normative text keys it to the label, the draft's own vectors do not (agent2 for sig2)",
                          "links": ["draft §Signature-Agent", "draft §Test Vectors"]},
    "EmptyComponentList": {"bugType": "KNOWN_BUG", "description": "sig1=() covers nothing and was accepted by the web-bot-auth TypeScript verify() before cloudflare/web-bot-auth 9db2b21 (GHSA-x9cc-346q-g27m)",
                           "effect": "a captured signature replays against any method, path and body until it expires",
                           "links": ["GHSA-x9cc-346q-g27m", "https://github.com/cloudflare/web-bot-auth/pull/114"]},
    "CfExpiryUnchecked": {"bugType": "KNOWN_BUG", "description": "the web-bot-auth crate 0.7.0 verify() checked neither expires nor a future created (fixed after 0.7.0: cloudflare/web-bot-auth #125, #127)",
                          "links": ["https://github.com/cloudflare/web-bot-auth/pull/125", "https://github.com/cloudflare/web-bot-auth/pull/127"]},
    "CfHttpAgent": {"bugType": "KNOWN_BUG", "description": "the web-bot-auth crate accepts http:// Signature-Agent URLs; the draft: 'whose scheme MUST be https'",
                    "links": ["draft §Signature-Agent"]},
    "KeyIdByKid": {"bugType": "MISSING_CHECK", "description": "keyid is not the RFC 7638 thumbprint; a verifier indexing keys by an operator label (kid) would accept it",
                   "links": ["draft §Generating HTTP Message Signature", "RFC 7638 §3"]},
    "RequiredParam": {"bugType": "MISSING_CHECK", "description": "Agents MUST include created, expires, keyid and tag=web-bot-auth", "links": ["draft §Generating HTTP Message Signature"]},
    "RequiredComponent": {"bugType": "MISSING_CHECK", "description": "at least one of @authority, @target-uri; the Signature-Agent member keyed to the label MUST be signed", "links": ["draft §Generating HTTP Message Signature", "draft §Signature-Agent"]},
    "ModifiedMessage": {"bugType": "MODIFIED_SIGNATURE", "description": "a covered value changed after signing", "links": ["RFC 9421 §3.2"]},
}


def build():
    sk, x = load_key()
    keyid = thumbprint_okp(x)
    if keyid != "poqkLGiymh_W0uP6PZFw-dvez3QJT5SolqXBCW38r0U":
        raise SystemExit("web_bot_auth.py: the draft's thumbprint of the B.1.4 key is not reproduced")
    check_draft_vectors(sk, keyid)
    tests = []

    def T(comment, flags, result, error=None, ids=None, params=None, agent='sig1="https://bot.example"',
          label="sig1", now=NOW, host="origin.example", tamper=None, level="MUST", edit=None):
        ids = ['"@authority"', '"signature-agent";key="sig1"'] if ids is None else ids
        p = [("created", C), ("keyid", keyid), ("alg", "ed25519"), ("expires", C + 300), ("tag", "web-bot-auth")]
        if params:
            p = params(p)
        req = {"method": "GET", "path": "/page", "host": host, "signature_agent": agent}
        sig = sk.sign(base(ids, p, req).encode())
        if tamper:
            req = dict(req, **tamper)
        msg = message(req, label, ids, p, sig)
        if edit:
            msg = edit(msg)
        t = {"tcId": len(tests) + 1, "comment": comment, "flags": flags, "message": msg, "now": now,
             "result": result, "level": level}
        if error:
            t["error"] = error
        tests.append(t)

    def setp(name, value):
        return lambda p: [(k, value if k == name else v) for k, v in p]

    def drop(name):
        return lambda p: [(k, v) for k, v in p if k != name]

    T("dictionary Signature-Agent, member keyed to the label, covered", [], "valid")
    T("legacy bare-String Signature-Agent, covered bare", ["LegacyStringForm"], "acceptable",
      "signature_agent_legacy_form", ids=['"@authority"', '"signature-agent"'], agent='"https://bot.example"', level="MAY")
    T("@target-uri in place of @authority", [], "valid", ids=['"@target-uri"', '"signature-agent";key="sig1"'])
    T("@method and @path covered too (the draft's SHOULD)", [], "valid",
      ids=['"@authority"', '"@method"', '"@path"', '"signature-agent";key="sig1"'])
    T("no Signature-Agent at all", ["NoSignatureAgent"], "acceptable", "signature_agent_missing",
      ids=['"@authority"'], agent=None, level="MAY")
    T("tag is not web-bot-auth", ["RequiredParam"], "invalid", "tag_mismatch", params=setp("tag", "not-web-bot-auth"))
    T("tag missing", ["RequiredParam"], "invalid", "missing_parameter", params=drop("tag"))
    T("keyid is a label, not the JWK thumbprint", ["KeyIdByKid"], "invalid", "unknown_key",
      params=setp("keyid", "test-key-ed25519"))
    T("created missing", ["RequiredParam"], "invalid", "missing_parameter", params=drop("created"))
    T("expires missing", ["RequiredParam"], "invalid", "missing_parameter", params=drop("expires"))
    T("expired", ["CfExpiryUnchecked"], "invalid", "expired", now=C + 301)
    T("created in the future", ["CfExpiryUnchecked"], "invalid", "created_in_future", now=C - 60)
    T("validity window of 24 h + 1 s", ["ValidityOver24h"], "acceptable", "validity_window",
      params=setp("expires", C + MAX_VALIDITY + 1), level="SHOULD")
    T("neither @authority nor @target-uri covered", ["RequiredComponent"], "invalid", "required_component_not_covered",
      ids=['"@path"', '"signature-agent";key="sig1"'])
    T("Signature-Agent present but not covered", ["RequiredComponent"], "invalid", "signature_agent_not_covered",
      ids=['"@authority"'])
    T("empty component list sig1=()", ["EmptyComponentList"], "invalid", "empty_component_list", ids=[])
    T("dictionary Signature-Agent covered bare, not its member", ["RequiredComponent"], "invalid",
      "invalid_signature_agent", ids=['"@authority"', '"signature-agent"'])
    T("Signature-Agent URL is http://", ["CfHttpAgent"], "invalid", "invalid_signature_agent",
      agent='sig1="http://bot.example"')
    T("covered member keyed agent1, not the label sig1", ["MemberKeyNotLabel"], "acceptable", "invalid_signature_agent",
      ids=['"@authority"', '"signature-agent";key="agent1"'], agent='agent1="https://bot.example"', level="MAY")
    T("Host changed after signing", ["ModifiedMessage"], "invalid", "signature_mismatch", tamper={"host": "other.example"})
    T("Signature-Agent changed after signing", ["ModifiedMessage"], "invalid", "signature_mismatch",
      tamper={"signature_agent": 'sig1="https://evil.example"'})
    # The draft's own vector: its 100-year window is over the 24 h RECOMMENDATION.
    draft = ("GET / HTTP/1.1\r\nHost: example.com\r\nSignature-Agent: agent2=\"https://signature-agent.test\"\r\n"
             "Signature-Input: sig2=(\"@authority\" \"signature-agent\";key=\"agent2\");created=1735689600;"
             "keyid=\"poqkLGiymh_W0uP6PZFw-dvez3QJT5SolqXBCW38r0U\";alg=\"ed25519\";expires=4889289600;"
             "nonce=\"n9p433xm+NJ3ph3upfBIGmsuwHw387YV7Q/F+6BSpGCVjYCqQw6rznNA8PVVLySrAWsv0hQtFioQb6E1YsauiA==\";"
             "tag=\"web-bot-auth\"\r\nSignature: sig2=:RdNFx5Bj6au3YgAMQL/RzmUlZE8QZLIaXGRpw985hWnwPfMxT228NMk6ehRS1PSl4e8PhbNZACSanGdhEwYCCg==:\r\n\r\n")
    tests.append({"tcId": len(tests) + 1, "comment": "the draft's Ed25519 dictionary vector as published",
                  "flags": ["DraftVector", "ValidityOver24h", "MemberKeyNotLabel"], "message": draft, "now": NOW,
                  "result": "acceptable", "error": "validity_window", "level": "SHOULD"})
    used = sorted({f for t in tests for f in t["flags"]})
    out = {
        "algorithm": "Web Bot Auth (draft-meunier-webbotauth-httpsig-protocol, after -02)",
        "schema": "web_bot_auth_schema.json",
        "generatorVersion": "1",
        "numberOfTests": len(tests),
        "header": ["Web Bot Auth request signatures (docs/web-bot-auth.md), RFC 9421 B.1.4 Ed25519 key.",
                   "Judge: keyid resolved in `directory` by RFC 7638 thumbprint; maxValidity %d s; legacy String "
                   "Signature-Agent accepted; time `now`." % MAX_VALIDITY,
                   "Generated by vectors/tools/web_bot_auth.py (gen.py); do not edit."],
        "notes": {k: NOTES[k] for k in used},
        "directory": {"keys": [{"kty": "OKP", "crv": "Ed25519", "kid": keyid, "x": x, "use": "sig"}]},
        "judge": {"maxValidity": MAX_VALIDITY, "acceptLegacySignatureAgent": True},
        "tests": tests,
    }
    schema = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "Web Bot Auth request signature vectors",
        "type": "object",
        "additionalProperties": False,
        "required": ["algorithm", "schema", "generatorVersion", "numberOfTests", "header", "notes", "directory", "judge", "tests"],
        "properties": {
            "algorithm": {"type": "string"}, "schema": {"const": "web_bot_auth_schema.json"},
            "generatorVersion": {"type": "string"}, "numberOfTests": {"type": "integer", "minimum": 1},
            "header": {"type": "array", "items": {"type": "string"}},
            "notes": {"type": "object", "additionalProperties": {
                "type": "object", "additionalProperties": False, "required": ["bugType", "description", "links"],
                "properties": {"bugType": {"enum": ["BASIC", "EDGE_CASE", "CANONICALIZATION", "MISSING_CHECK", "KNOWN_BUG", "POLICY", "MODIFIED_SIGNATURE"]},
                               "description": {"type": "string"}, "effect": {"type": "string"},
                               "links": {"type": "array", "items": {"type": "string"}}}}},
            "directory": {"type": "object", "required": ["keys"]},
            "judge": {"type": "object", "additionalProperties": False, "required": ["maxValidity", "acceptLegacySignatureAgent"],
                      "properties": {"maxValidity": {"type": "integer", "minimum": 1}, "acceptLegacySignatureAgent": {"type": "boolean"}}},
            "tests": {"type": "array", "items": {
                "type": "object", "additionalProperties": False,
                "required": ["tcId", "comment", "flags", "message", "now", "result", "level"],
                "properties": {"tcId": {"type": "integer", "minimum": 1}, "comment": {"type": "string"},
                               "flags": {"type": "array", "items": {"type": "string"}}, "message": {"type": "string"},
                               "now": {"type": "integer"}, "result": {"enum": ["valid", "invalid", "acceptable"]},
                               "error": {"type": "string", "pattern": "^[a-z_]+$"},
                               "level": {"enum": ["MUST", "SHOULD", "MAY"]}}}},
        },
    }
    try:
        import jsonschema
        jsonschema.validate(out, schema)
    except ImportError:
        pass
    os.makedirs(OUT_DIR, exist_ok=True)
    return [(SCHEMA, json.dumps(schema, indent=2) + "\n", "web-bot-auth/web_bot_auth_schema.json"),
            (OUT, json.dumps(out, indent=2, ensure_ascii=False) + "\n",
             "%-32s %4d tests" % ("web-bot-auth/web_bot_auth_test.json", len(tests)))]


if __name__ == "__main__":
    for path, text, line in build():
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
        print(line)

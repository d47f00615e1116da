#!/usr/bin/env python3
"""Write vectors/schema/*.json (JSON Schema 2020-12), one per vector kind, plus the key index schema.
Not run by CI; the Rust lint test checks every vector file against these (properties/required).
`gen.py` writes (or, with --check, compares) these too, through build()."""
import json, os

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
ERROR_KINDS = ["invalid_signature_input", "invalid_signature_header", "label_missing", "duplicate_label",
               "missing_component", "duplicate_component", "invalid_component", "unsupported_component_parameter",
               "incompatible_component_parameters", "status_in_request", "req_on_request", "query_param_missing",
               "query_param_repeated", "dictionary_key_missing", "invalid_structured_field", "non_ascii_value",
               "unsupported_algorithm", "key_algorithm_mismatch", "unknown_key", "invalid_key", "bad_base64",
               "signature_mismatch", "expired", "created_in_future", "too_old", "nonce_replayed",
               "missing_required_component", "missing_required_parameter", "tag_mismatch", "invalid_target_uri",
               "validity_window", "forbidden_component", "content_digest_mismatch", "key_revoked",
               "key_use_not_allowed"]
KEY_FORMATS = ["pem-pkcs1-public", "pem-pkcs1-private", "pem-spki", "pem-pkcs8", "pem-pkcs8-rsassa-pss", "pem-sec1",
               "jwk", "base64"]
ALGS = ["rsa-pss-sha512", "rsa-v1_5-sha256", "hmac-sha256", "ecdsa-p256-sha256", "ecdsa-p384-sha384", "ed25519"]
S = {"type": "string"}
SA = {"type": "array", "items": S}


def common_test():
    return {
        "tcId": {"type": "integer", "minimum": 1, "description": "unique in the file"},
        "comment": S,
        "flags": {"type": "array", "items": S, "description": "each flag is a key of `notes`"},
        "message": {"type": "string", "description": "raw HTTP/1.1 message, CRLF line ends"},
        "request": {"type": "string", "description": "the request that triggered `message` (for ;req)"},
        "scheme": {"enum": ["http", "https"], "default": "https"},
        "structuredFields": {"type": "object", "additionalProperties": {"enum": ["item", "list", "dictionary"]}},
        "level": {"enum": ["MUST", "SHOULD", "MAY"],
                  "description": "requirement level the case is judged at; `acceptable` vectors are MAY"},
        "statements": {"type": "array", "minItems": 1,
                       "items": {"type": "string", "pattern": "^S[1-5](\\.[0-9]+)*-[1-9][0-9]*$"},
                       "description": "ids of data/rfc9421_statements.tsv this vector tests"},
        "levelWhy": {"type": "string",
                     "description": "why `level` differs from the strongest level of `statements`"},
        "result": {"enum": ["valid", "invalid", "acceptable"]},
        "errorKind": {"enum": ERROR_KINDS},
    }


def schema(kind, title, test_props, test_required, group_props, group_required):
    test = {"type": "object", "additionalProperties": False, "properties": dict(common_test(), **test_props),
            "required": ["tcId", "comment", "flags", "message", "level", "statements", "result"] + test_required}
    group = {"type": "object", "additionalProperties": False,
             "properties": dict({"rule": S, "specRef": S, "tests": {"type": "array", "items": {"$ref": "#/$defs/test"}}},
                                **group_props),
             "required": ["rule", "specRef", "tests"] + group_required}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "http_sig_%s_schema.json" % kind,
        "title": title,
        "type": "object",
        "additionalProperties": False,
        "required": ["algorithm", "schema", "generatorVersion", "numberOfTests", "header", "notes", "testGroups"],
        "properties": {
            "algorithm": {"const": "RFC9421"},
            "schema": {"const": "http_sig_%s_schema.json" % kind},
            "generatorVersion": S,
            "numberOfTests": {"type": "integer", "minimum": 0},
            "header": SA,
            "notes": {"type": "object", "additionalProperties": {"$ref": "#/$defs/note"}},
            "testGroups": {"type": "array", "items": {"$ref": "#/$defs/group"}},
        },
        "$defs": {
            "note": {"type": "object", "additionalProperties": False, "required": ["bugType", "description"],
                     "properties": {"bugType": {"enum": ["BASIC", "EDGE_CASE", "CANONICALIZATION", "MISSING_CHECK",
                                                         "KNOWN_BUG", "POLICY", "MODIFIED_SIGNATURE"]},
                                    "description": S, "effect": S, "links": SA}},
            "group": group,
            "test": test,
        },
    }


KEYED = {"keyId": S, "alg": {"enum": ALGS},
         "keyFormat": {"enum": KEY_FORMATS, "description": "hand the key over in this encoding of keys/index.json "
                                                             "(absent: the target's preferred one)"}}
SIGPARAMS = {"signatureParams": {"type": "string", "description": "serialized Inner List with parameters"},
             "components": SA, "signatureBase": S}


def build():
    """{path: text} of every schema file, exactly as committed."""
    out = {
        "base": schema("base", "RFC 9421 signature base vectors", dict(SIGPARAMS), ["signatureParams"], {}, []),
        "sign": schema("sign", "RFC 9421 signing vectors",
                       dict(SIGPARAMS, label=S, signatureCheck={"enum": ["exact", "verify"]},
                            signature={"type": "string", "description": "standard base64"},
                            signatureInputHeader=S, signatureHeader=S),
                       ["label", "signatureParams"], KEYED, ["keyId", "alg"]),
        "verify": schema("verify", "RFC 9421 verification vectors",
                         {"label": S, "signatureBase": S,
                          "policy": {"type": "object", "additionalProperties": False, "required": ["now"],
                                     "properties": {"now": {"type": "integer"}, "maxAge": {"type": "integer"},
                                                    "clockSkew": {"type": "integer"}, "requiredComponents": SA,
                                                    "requiredParameters": SA, "seenNonces": SA, "requiredTag": S,
                                                    "maxValidity": {"type": "integer"},
                                                    "expiresSkew": {"type": "integer"},
                                                    "forbiddenComponents": SA,
                                                    "requireContentDigest": {"type": "boolean"},
                                                    "revokedKeyIds": SA,
                                                    "keySet": {"type": "string"}}}},
                         ["label", "policy"], KEYED, ["keyId", "alg"]),
    }
    keys = {
        "$schema": "https://json-schema.org/draft/2020-12/schema", "$id": "keys_index_schema.json",
        "type": "object", "additionalProperties": False, "required": ["schema", "header", "keys"],
        "properties": {"schema": {"const": "keys_index_schema.json"}, "header": SA, "keys": {
            "type": "object", "additionalProperties": {
                "type": "object", "additionalProperties": False, "required": ["source", "kty", "algorithms", "files"],
                "properties": {"source": S, "kty": {"enum": ["RSA", "EC", "OKP", "oct"]}, "curve": S,
                               "algorithms": {"type": "array", "items": {"enum": ALGS}},
                               "files": {"type": "array", "items": {
                                   "type": "object", "additionalProperties": False,
                                   "required": ["path", "format", "private"],
                                   "properties": {"path": S, "private": {"type": "boolean"},
                                                  "format": {"enum": KEY_FORMATS}}}}}}}}}
    texts = {os.path.join(ROOT, "schema", "http_sig_%s_schema.json" % k): json.dumps(v, indent=2)
             for k, v in out.items()}
    texts[os.path.join(ROOT, "schema", "keys_index_schema.json")] = json.dumps(keys, indent=2)
    return texts


if __name__ == "__main__":
    for path, text in build().items():
        with open(path, "w") as f:
            f.write(text)

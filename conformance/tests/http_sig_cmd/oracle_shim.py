#!/usr/bin/env python3
"""A test shim for `--target-cmd` (conformance/tests/http_sig_cmd.rs): it answers `base` and
`verify` requests from the vector files themselves (the expected base, or the expected
refusal), so a correct shim's verdicts are known. `sign` is not offered.

Usage: oracle_shim.py MODE VECTORS_DIR. MODE:
  oracle        every answer right
  wrong-query   a wrong base for every valid base request covering "@query"
  unsup-verify  verify answers `unsupported`
  hang-verify   no answer to the first verify (reads on)
  crash-verify  exit status 3 at a verify request
  wrong-id      verify answers carry another id
  garbage-base  base answers are not JSON
  no-hello      exit 1 at once
"""
import glob
import json
import os
import sys

mode, vdir = sys.argv[1], sys.argv[2]
if mode == "no-hello":
    sys.stderr.write("oracle: refusing to start\n")
    sys.exit(1)

base, verify = {}, {}


def put(table, key, value):
    # Two vectors with the same inputs and different outcomes: not answerable.
    if key in table and table[key] != value:
        table[key] = None
    else:
        table[key] = value


for path in sorted(glob.glob(os.path.join(vdir, "data", "*.json"))):
    with open(path) as f:
        doc = json.load(f)
    for g in doc.get("testGroups", []):
        for t in g["tests"]:
            ok = t["result"] == "valid" or (t["result"] == "acceptable" and t.get("signatureBase") is not None)
            outcome = ("ok", t.get("signatureBase")) if ok else ("error", t.get("errorKind", "invalid"))
            if "signatureParams" in t and "label" not in t:
                key = (t["message"], t.get("request"), t.get("scheme", "https"), json.dumps(t.get("structuredFields", {}), sort_keys=True), t["signatureParams"])
                put(base, key, outcome)
            elif "policy" in t and "keyId" in g:
                key = (t["message"], t.get("request"), t["label"], g["keyId"], g["alg"], t["policy"].get("now"), json.dumps(t["policy"], sort_keys=True))
                put(verify, key, outcome)


def vector_policy(p):
    """The request's policy back in the vector's words (only what the vectors carry)."""
    out = {"now": p["now"]}
    names = {
        "max_age": "maxAge", "required_components": "requiredComponents", "required_params": "requiredParameters",
        "seen_nonces": "seenNonces", "required_tag": "requiredTag", "max_validity": "maxValidity",
        "forbidden_components": "forbiddenComponents", "revoked_keyids": "revokedKeyIds",
    }
    for ours, theirs in names.items():
        v = p.get(ours)
        if v not in (None, []):
            out[theirs] = v
    if p.get("created_skew"):
        out["clockSkew"] = p["created_skew"]
    if p.get("expires_skew"):
        out["expiresSkew"] = p["expires_skew"]
    if p.get("require_content_digest"):
        out["requireContentDigest"] = True
    return out


def answer(req):
    rid, op = req["id"], req["op"]
    if op == "hello":
        return {"id": rid, "ok": {"name": "oracle", "version": "0", "ops": ["base", "verify"], "algorithms": [], "key_formats": []}}
    if op == "base":
        if mode == "garbage-base":
            return None
        key = (req["message"], req["request"], req["scheme"], json.dumps(req["structured_fields"], sort_keys=True), req["signature_params"])
        found = base.get(key)
        if found is None:
            return {"id": rid, "unsupported": "no vector with these inputs (or two that disagree)"}
        kind, value = found
        if kind == "error":
            return {"id": rid, "error": {"kind": value, "message": "as the vector says"}}
        if mode == "wrong-query" and '"@query"' in req["signature_params"]:
            value = value.replace('"@query": ', '"@query": x', 1) if '"@query": ' in value else value + "x"
        return {"id": rid, "ok": value}
    if op == "verify":
        if mode == "unsup-verify":
            return {"id": rid, "unsupported": "oracle cannot verify today"}
        if mode == "hang-verify":
            return "hang"
        if mode == "crash-verify":
            sys.stderr.write("oracle: crashing at a verify request\n")
            sys.stderr.flush()
            os._exit(3)
        if mode == "wrong-id":
            return {"id": rid + 1000, "ok": True}
        pol = vector_policy(req["policy"])
        key = (req["message"], req["request"], req["label"], req["key"]["id"], req["alg"], pol["now"], json.dumps(pol, sort_keys=True))
        found = verify.get(key)
        if found is None:
            return {"id": rid, "unsupported": "no vector with these inputs (or two that disagree)"}
        kind, value = found
        if kind == "error":
            return {"id": rid, "error": {"kind": value, "message": "as the vector says"}}
        return {"id": rid, "ok": True}
    return {"id": rid, "unsupported": f"op {op}"}


hanging = False
for line in sys.stdin:
    if hanging:
        continue
    ans = answer(json.loads(line))
    if ans == "hang":
        hanging = True
        continue
    sys.stdout.write("this is not json\n" if ans is None else json.dumps(ans) + "\n")
    sys.stdout.flush()

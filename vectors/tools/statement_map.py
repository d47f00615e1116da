"""Which RFC 9421 statements (vectors/data/rfc9421_statements.tsv) each vector tests.

gen.py writes the answer into every test as `statements`, in the order given here. A vector's
statements are, in order of precedence: the `statements=` argument of its call in own.py, the
entry for its (file, tcId) in BY_TC, else the default of its (file, rule) in BY_RULE. Ids are
S<section>-<ordinal> of the matrix. Definitions the RFC states without a keyword of their own (the
component value *is* ..., the base *is* ...) are cited through the steps that bind them: S3.1-1
("a signer MUST follow the following algorithm", step 5 builds the base by section 2.5) for base and
sign vectors, S3.2-1 (the verifier's algorithm) for verify vectors.

gen.py checks that every id exists in the matrix and that a vector's level is the strongest level of
its statements (MUST > SHOULD > MAY), unless the vector is `acceptable` (MAY: either outcome
conforms) or its call gives `level_why=` (written as `levelWhy`).
"""
import csv
import os

HERE = os.path.dirname(os.path.abspath(__file__))
MATRIX = os.path.join(HERE, "..", "data", "rfc9421_statements.tsv")
DEF_SIGN, DEF_VERIFY = ["S3.1-1"], ["S3.2-1"]
ERR, MISSING = ["S2.5-2"], ["S2.5-3"]

BY_RULE = {
    # own_base
    ("own_base", "absent-field"): MISSING,
    ("own_base", "field-name-case"): ["S2.1-1"],
    ("own_base", "field-combine"): ["S2.1-4", "S2.1-5"],
    ("own_base", "field-trim"): ["S2.1-2"],
    ("own_base", "field-obs-fold"): ["S2.1-2", "S2-6"],
    ("own_base", "field-sf"): ["S2.1.1-2"],
    ("own_base", "field-key"): DEF_SIGN,
    ("own_base", "field-bs"): ["S2.1.3-2"],
    ("own_base", "field-tr"): ["S2.1.4-1"],
    ("own_base", "non-ascii"): ["S2.1-3"],
    ("own_base", "derived-path-query"): DEF_SIGN,
    ("own_base", "derived-request-target"): DEF_SIGN,
    ("own_base", "derived-authority-scheme"): ["S2.2.3-1"],
    ("own_base", "derived-target-uri-forms"): ["S2.2.3-1"],
    ("own_base", "derived-component-names"): ERR,
    ("own_base", "derived-query-param"): ["S2.2.8-1"],
    ("own_base", "status-req-duplicate"): ["S2-3"],
    ("own_base", "signature-params"): ["S2.3-3"],
    ("own_base", "component-context"): ["S2-2"],
    ("own_base", "derived-vs-field-names"): ["S2.2-2"],
    ("own_base", "component-param-order"): ["S2-5"],
    # own_sign
    ("own_sign", "sign-deterministic"): DEF_SIGN,
    ("own_sign", "sign-params-order"): ["S2.3-3", "S4.1-1"],
    ("own_sign", "sign-multiple-signatures"): ["S4.3-2"],
    ("own_sign", "sign-refusals"): ERR,
    ("own_sign", "sign-key-encodings"): ["S3.1-2"],
    # own_verify
    ("own_verify", "verify-policy-time"): ["S3.2.1-2"],
    ("own_verify", "verify-policy-nonce"): ["S3.2.1-2"],
    ("own_verify", "verify-policy-coverage"): ["S3.2.1-2"],
    ("own_verify", "verify-policy-profile"): ["S3.2.1-2"],
    ("own_verify", "verify-key-alg"): ["S3.2-3", "S3.2-4"],
    ("own_verify", "verify-fields"): ["S4-3"],
    ("own_verify", "verify-signature-bytes"): DEF_VERIFY,
    ("own_verify", "verify-params-tamper"): ["S2.3-3", "S4.1-1"],
    ("own_verify", "verify-canonicalization"): DEF_VERIFY,
    ("own_verify", "verify-ecdsa-raw"): DEF_VERIFY,
    ("own_verify", "verify-rsa-pss-salt"): DEF_VERIFY,
    ("own_verify", "verify-hmac"): DEF_VERIFY,
    ("own_verify", "verify-multiple-signatures"): ["S4.3-2"],
    ("own_verify", "verify-key-set"): ["S3.2-2"],
    # the RFC's own examples: the definitions they illustrate
    ("rfc9421_base", "field-canonicalization"): ["S2.1-2", "S2.1-4", "S2.1-5"],
    ("rfc9421_base", "field-sf"): ["S2.1.1-2"],
    ("rfc9421_base", "field-key"): DEF_SIGN,
    ("rfc9421_base", "field-bs"): ["S2.1.3-2"],
    ("rfc9421_base", "field-tr"): ["S2.1.4-1"],
    ("rfc9421_base", "derived-method"): DEF_SIGN,
    ("rfc9421_base", "derived-target-uri"): DEF_SIGN,
    ("rfc9421_base", "derived-authority"): ["S2.2.3-1"],
    ("rfc9421_base", "derived-scheme"): ["S2.2.4-1"],
    ("rfc9421_base", "derived-path"): DEF_SIGN,
    ("rfc9421_base", "derived-status"): DEF_SIGN,
    ("rfc9421_base", "derived-request-target"): DEF_SIGN,
    ("rfc9421_base", "derived-query"): DEF_SIGN,
    ("rfc9421_base", "derived-query-param"): ["S2.2.8-1"],
    ("rfc9421_base", "req-parameter"): DEF_SIGN,
    ("rfc9421_base", "signature-base"): ["S2.3-1"],
    ("rfc9421_base", "appendix-b2"): DEF_SIGN,
    ("rfc9421_base", "appendix-b3"): DEF_SIGN,
    ("rfc9421_base", "appendix-b4"): DEF_SIGN,
    ("rfc9421_base", "multiple-signatures"): DEF_SIGN,
    ("rfc9421_sign", "appendix-b2"): DEF_SIGN,
    ("rfc9421_sign", "appendix-b3"): DEF_SIGN,
    ("rfc9421_sign", "multiple-signatures"): ["S4.3-2"],
    ("rfc9421_verify", "rfc-examples"): DEF_VERIFY,
    ("rfc9421_verify", "appendix-b2"): DEF_VERIFY,
    ("rfc9421_verify", "appendix-b3"): DEF_VERIFY,
    ("rfc9421_verify", "appendix-b4"): DEF_VERIFY,
    ("rfc9421_verify", "multiple-signatures"): ["S4.3-2"],
}

BY_TC = {}


def _set(stem, ids, statements):
    for i in ids:
        BY_TC[(stem, i)] = statements


# own_base
_set("own_base", [1, 3, 4, 8], ["S2.1-2"])
_set("own_base", [6], ["S2.1.4-1", "S2.5-3"])
_set("own_base", [13], ["S2.1-1", "S2.5-2"])
_set("own_base", [20], ["S2-3"])
_set("own_base", [27], ["S2.1-2", "S2.5-2"])
_set("own_base", [32], ["S2.1-2", "S2.5-3"])
_set("own_base", [35], ["S2.1.1-3"])
_set("own_base", [38, 39, 41], ["S2.1.1-2", "S2.5-2"])
_set("own_base", [40], ["S2-3"])
_set("own_base", [44], ["S2.1.2-4"])
_set("own_base", [45, 51], ["S2.5-2"])
_set("own_base", [46, 47], ["S2.1.2-1"])
_set("own_base", [48], ["S2.1.2-2", "S2-3"])
_set("own_base", [49], ["S2-3"])
_set("own_base", [52], ["S2.5-3"])
_set("own_base", [57, 58], ["S2.1.3-2", "S2.5-2"])
_set("own_base", [59], ["S2.5-3"])
_set("own_base", [61], ["S2.1.4-2", "S2.1.4-3"])
_set("own_base", [62], ["S2.1.4-1", "S2.5-3"])
_set("own_base", [65], ["S2.2-4", "S2.5-2"])
_set("own_base", [66], ["S2.2.8-1"])
_set("own_base", [75, 81, 95], ["S2.5-2"])
_set("own_base", [89, 90], ["S2.2.4-1"])
_set("own_base", [91, 92, 93, 94], ["S3.1-1"])
_set("own_base", [96], ["S3.1-4", "S2.5-2"])
_set("own_base", [97], ["S2.3-1", "S3.1-7"])
_set("own_base", [98], ["S2.2-1", "S2.5-2"])
_set("own_base", [103], ["S2-5"])
_set("own_base", [118, 119], ["S2.2.8-5"])
_set("own_base", [120, 121, 122], ["S2.2.8-6"])
_set("own_base", [124, 125], ["S2.2.8-2", "S2.5-2"])
_set("own_base", [127, 129], ["S2.2.9-1"])
_set("own_base", [128], ["S3.1-1"])
_set("own_base", [130, 131], ["S2.4-6"])
_set("own_base", [137], ["S2-3", "S2-5"])
_set("own_base", [144, 145, 146, 147, 148, 149, 150], ["S2.3-1"])
_set("own_base", list(range(151, 162)), ["S4.1-1", "S2.5-2"])
_set("own_base", [169], ["S2.2.4-1"])
_set("own_base", [172, 173, 174, 175], ["S3.1-1"])
_set("own_base", [176], ["S2.2.8-5"])
_set("own_base", list(range(177, 187)), ["S2.2.3-1", "S2.5-2"])
_set("own_base", [188], ["S2-2", "S2.2.8-5"])
_set("own_base", [191], ["S2.2-2", "S2.5-3"])
_set("own_base", [195, 196], ["S2.2-5"])
_set("own_base", [197], ["S2.2.4-1"])
_set("own_base", [198], ["S2-3", "S2-5"])
_set("own_base", [202], DEF_SIGN)
# own_sign
_set("own_sign", [16], ["S4-2", "S4.3-2", "S4.1-5", "S4.2-4"])
_set("own_sign", [17], ["S2.5-3"])
_set("own_sign", [22], ["S2-3", "S2.5-2"])
_set("own_sign", [18, 24, 31], ["S3.1-2"])
_set("own_sign", [19], ["S3.3-3"])
_set("own_sign", [20], ["S2.2.9-1", "S2.5-2"])
_set("own_sign", [21], ["S2.2.8-6", "S2.5-2"])
_set("own_sign", [23], ["S2.2.8-1"])
_set("own_sign", [25], ["S2.4-6", "S2.5-2"])
_set("own_sign", [33], ["S3.1-7", "S2.3-1"])
# own_verify
_set("own_verify", [24], ["S3.2-2"])
_set("own_verify", [27, 28], ["S3.3-3"])
_set("own_verify", [29, 31], ["S3.2-3", "S3.2-4"])
_set("own_verify", [32, 33, 34], ["S4-2", "S4-3"])
_set("own_verify", [35, 36, 37, 38, 39, 40], ["S3.2-1"])
_set("own_verify", [41], ["S4-3"])
_set("own_verify", [54, 55, 56], ["S2.1-2", "S2.1-4"])
_set("own_verify", [58, 59], ["S2.5-3", "S3.2-1", "S3.2.1-4"])
_set("own_verify", [60], ["S2.2.8-6", "S3.2-1", "S3.2.1-4"])
_set("own_verify", [61], ["S2.2.8-1", "S3.2-1"])
_set("own_verify", [64], ["S2.2.4-1", "S3.2-1"])
_set("own_verify", [82], ["S3.2-2"])
_set("own_verify", [97], ["S3.3.7-1", "S3.3-3"])
_set("own_verify", [95, 96], ["S3.2-2", "S3.2.1-2"])
_set("own_verify", [1, 4, 10, 12, 14, 16, 18, 19, 21], ["S3.2.1-3"])
_set("rfc9421_verify", [13], ["S3.2.1-2"])
_set("rfc9421_verify", [15, 20, 21], ["S3.2-1"])


RANK = {"MUST": 0, "SHOULD": 1, "MAY": 2}


def matrix():
    """id -> row dict of the matrix."""
    rows = {}
    with open(MATRIX, encoding="utf-8") as f:
        lines = [ln for ln in f if not ln.startswith("#")]
    for r in csv.DictReader(lines, delimiter="\t", quoting=csv.QUOTE_NONE):
        rows[r["id"]] = r
    return rows


_M = None


def statements(stem, rule, tc_id, given):
    """The statements of a vector (see the module doc); every id checked against the matrix."""
    global _M
    if _M is None:
        _M = matrix()
    if given is not None:
        ids = list(given)
    elif (stem, tc_id) in BY_TC:
        ids = BY_TC[(stem, tc_id)]
    else:
        ids = BY_RULE[(stem, rule)]
    for i in ids:
        assert i in _M, "%s tcId %d: statement %s is not in %s" % (stem, tc_id, i, MATRIX)
        assert _M[i]["testable"] == "yes", "%s tcId %d: %s is not testable (%s)" % (stem, tc_id, i, _M[i]["testable"])
    return list(ids)


def level_of(ids):
    global _M
    if _M is None:
        _M = matrix()
    return min((_M[i]["level"] for i in ids), key=RANK.get)

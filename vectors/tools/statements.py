#!/usr/bin/env python3
"""Extract the normative statements of RFC 9421 sections 1-5 into vectors/data/rfc9421_statements.tsv.

Usage: python3 vectors/tools/statements.py [--check] [/path/to/rfc9421.md]
  (default RFC path: ../shared/specs/rfc9421.md next to the repository)
  --check   write nothing; exit 1 if the committed file differs from what the RFC text and the review
            table below give.

A statement is one sentence of the RFC's middle part, sections 1-5, that carries a BCP 14 keyword in
upper case (MUST, MUST NOT, REQUIRED, SHALL, SHALL NOT, SHOULD, SHOULD NOT, RECOMMENDED, NOT
RECOMMENDED, MAY, OPTIONAL). Sections are numbered from the Markdown headings (`# ` = 1, 2, ...; `## `
= 1.1, ...), as in the published RFC. Its id is `S<section>-<ordinal>`, the ordinal counting the
statements of that section in text order from 1. A sentence with several keywords is one statement;
its level is the strongest one (MUST/MUST NOT/REQUIRED/SHALL -> MUST, SHOULD/SHOULD NOT/RECOMMENDED/
NOT RECOMMENDED -> SHOULD, MAY/OPTIONAL -> MAY).

Sections 6 (IANA) and 7 (security considerations) are not extracted: section 6 defines registries,
and the keywords of section 7 restate requirements of sections 2-4 or are guidance to applications
("SHOULD ... choose", "MUST ... consider"), which no black-box case can observe.

What is hand-reviewed lives in REVIEW below, keyed by id: whether a black-box suite (a signer, a
verifier or a base builder judged through its inputs and outputs) can test the statement, and where
the cases exist but test it only in part, the gap. Every REVIEW id must exist in the extraction and the
sentence must start with the quoted prefix, so an edit of the RFC text or of the extraction that
shifts ids fails loudly instead of attaching a review to the wrong sentence.
"""
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..")
OUT = os.path.join(ROOT, "data", "rfc9421_statements.tsv")

KW = re.compile(
    r"\b(MUST NOT|MUST|REQUIRED|SHALL NOT|SHALL|SHOULD NOT|SHOULD|NOT RECOMMENDED|RECOMMENDED|MAY|OPTIONAL)\b"
)
LEVEL = {
    "MUST": "MUST", "MUST NOT": "MUST", "REQUIRED": "MUST", "SHALL": "MUST", "SHALL NOT": "MUST",
    "SHOULD": "SHOULD", "SHOULD NOT": "SHOULD", "RECOMMENDED": "SHOULD", "NOT RECOMMENDED": "SHOULD",
    "MAY": "MAY", "OPTIONAL": "MAY",
}
RANK = {"MUST": 0, "SHOULD": 1, "MAY": 2}

APP = "no: about what an application or profile specifies, not observable in one implementation"
OPT = "no: a permission (MAY); either behaviour conforms"

# id -> (sentence prefix, testable, gap). testable: "yes" or "no: reason". gap: "" or why the cases
# test it only in part. Ids not listed are testable with no known gap.
REVIEW = {
    "S1.4-1": ("In order to properly", APP, ""),
    "S2-1": ("The signature context for deriving", "no: a deployment property (who can see the context), not an output of either side", ""),
    "S2-2": ("The context MUST be the same", "yes", ""),
    "S2-4": ("Multiple component identifiers having", OPT, ""),
    "S2.1-6": ("For robustness, it is RECOMMENDED", "no: advice on which messages to send; the message is the application's", ""),
    "S2.1-7": ("Where that approach is not possible", "no: a choice between two processing strategies, both conforming for the base", ""),
    "S2.1-8": ("Applications signing and processing", APP, ""),
    "S2.1-9": ("Any HTTP field component identifiers MAY", OPT, ""),
    "S2.1-10": ("Multiple parameters MAY", OPT, ""),
    "S2.1.1-1": ("If the value of an HTTP field is known", "no: the application's choice to use `sf`", ""),
    "S2.1.2-3": ("Parameterized keys MAY", OPT, ""),
    "S2.1.3-1": ("If the value of the HTTP field in question", "no: the application's choice to use `bs`", ""),
    "S2.1.4-4": ("Since trailer fields could be merged", "no: advice to the application on when to cover trailers", ""),
    "S2.2-3": ("A derived component definition MUST", "no: a requirement on specifications that define derived components", ""),
    "S2.2.3-2": ("The `@authority` derived component SHOULD", "no: the application's choice of covered components", ""),
    "S2.2.5-1": ("Therefore, it is NOT RECOMMENDED", "no: the application's choice of covered components", ""),
    "S2.2.8-3": ("Several different named query", OPT, ""),
    "S2.2.8-4": ("Single named parameters MAY", OPT, ""),
    "S2.2.8-7": ("If multiple parameters are common", "no: the application's choice of covered components", ""),
    "S2.3-2": ("Inclusion of this parameter is RECOMMENDED", "yes", ""),
    "S2.4-1": ("Note that the same component name MAY", OPT, ""),
    "S2.4-2": ("The `req` parameter MAY", OPT, ""),
    "S2.4-3": ("Since the component values from the request", "no: a requirement on the requester's storage, seen only through S2.4 bases with a request given", ""),
    "S2.4-4": ("Applications signing a response", "no: the application's choice of covered components", ""),
    "S2.4-5": ("While it is syntactically possible", "no: the application's choice of covered components", ""),
    "S2.5-1": ("The component identifier MAY", OPT, ""),
    # The two algorithm statements bind every definition of sections 2-3 that has no keyword of its
    # own (a component value *is* ..., step 5 builds the base by section 2.5): vectors testing such a
    # definition cite them (vectors/tools/statement_map.py).
    "S3.1-1": ("In order to create a signature", "yes", ""),
    "S3.1-3": ("Once an order of covered components", "no: about the life of one signature across hops; a signer signs once", ""),
    "S3.1-5": ("Signers of a request SHOULD include", "no: the application's choice of covered components (the live signer suite judges its configured profile)", ""),
    "S3.2-1": ("In order to verify a signature", "yes", ""),
    "S3.2.1-1": ("Applications using HTTP Message Signatures MAY", OPT, ""),
    "S3.3-1": ("An HTTP Message signature MUST use", APP, ""),
    "S3.3-2": ("This specification does not strictly limit", OPT, ""),
    "S3.3.7-1": ("The JWS algorithm MUST NOT", "yes",
                 "a JWS algorithm is chosen by the key (a JWK's `alg`), which vector groups (always well-formed keys) "
                 "cannot carry; only `alg=\"none\"` as a signature parameter is tested"),
    "S4-1": ("Each field MAY", OPT, ""),
    "S4.1-2": ("The signer MAY include the Signature-Input field as a trailer", OPT, ""),
    "S4.1-3": ("However, since intermediaries are allowed", "no: advice on header vs trailer placement; a signer of raw text places nothing", ""),
    "S4.1-4": ("Multiple Signature-Input fields MAY", OPT, ""),
    "S4.2-1": ("The signer MAY include the Signature field as a trailer", OPT, ""),
    "S4.2-2": ("However, since intermediaries are allowed", "no: advice on header vs trailer placement; a signer of raw text places nothing", ""),
    "S4.2-3": ("Multiple Signature fields MAY", OPT, ""),
    "S4.3-1": ("Multiple distinct signatures MAY", OPT, ""),
    "S4.3-3": ("While the proxy could additionally include", "no: the application's choice of covered components", ""),
}
# Section 5 (Accept-Signature) is out of scope for the suites: requesting a signature is a
# negotiation between two applications (which labels, components and keys to ask for), and none of
# the adapters (HttpSigTarget: base/sign/verify on raw text; the live signer and verifier suites)
# has an operation that takes an Accept-Signature field and answers with a signed message. Adding one
# would judge only our own wrapper of `sign`, not a behaviour the RFC fixes for the libraries we judge.
SEC5 = "no: out of scope: Accept-Signature negotiation has no adapter operation (see statements.py)"


def unfold_blocks(text):
    """(section, paragraph-or-list-item text) for the middle part, code blocks dropped."""
    mid = text.split("--- middle", 1)[1].split("--- back", 1)[0]
    nums = [0] * 6
    sec = None
    blocks, cur = [], []
    fence = False

    def flush():
        if cur:
            blocks.append((sec, " ".join(cur)))
            cur.clear()

    for line in mid.split("\n"):
        if line.startswith("~~~"):
            flush()
            fence = not fence
            continue
        if fence:
            continue
        m = re.match(r"^(#+) (.*?)(\s*\{#.*\})?\s*$", line)
        if m:
            flush()
            depth = len(m.group(1))
            nums[depth - 1] += 1
            for i in range(depth, 6):
                nums[i] = 0
            sec = ".".join(str(n) for n in nums[:depth])
            continue
        if not line.strip():
            flush()
            continue
        item = re.match(r"^\s{0,3}([-*]|\d+\.)\s+", line)
        if item:
            flush()
            line = line[item.end():]
        cur.append(line.strip())
    flush()
    return blocks


def extract(text):
    rows = []
    count = {}
    for sec, block in unfold_blocks(text):
        if sec is None or int(sec.split(".")[0]) > 5 or not KW.search(block):
            continue
        for sent in re.split(r"(?<=[.;:])\s+(?=[A-Z`\"(])", block):
            kws = KW.findall(sent)
            if not kws:
                continue
            count[sec] = count.get(sec, 0) + 1
            sid = "S%s-%d" % (sec, count[sec])
            level = min((LEVEL[k] for k in kws), key=RANK.get)
            uniq = []
            for k in kws:
                if k not in uniq:
                    uniq.append(k)
            testable, gap = "yes", ""
            if sid in REVIEW:
                prefix, testable, gap = REVIEW[sid]
                if not sent.startswith(prefix):
                    sys.exit("statements.py: REVIEW[%s] expects a sentence starting %r, the RFC gives %r"
                             % (sid, prefix, sent[:80]))
            elif sec.split(".")[0] == "5":
                testable = SEC5
            rows.append((sid, sec, level, "+".join(uniq), testable, gap, sent))
    ids = {r[0] for r in rows}
    for sid in REVIEW:
        if sid not in ids:
            sys.exit("statements.py: REVIEW names %s, which the RFC text does not give" % sid)
    return rows


def render(rows):
    out = [
        "# RFC 9421 sections 1-5: every sentence with a BCP 14 keyword. Generated by vectors/tools/statements.py",
        "# (do not edit by hand: edit REVIEW there and rerun). Columns, tab-separated:",
        "# id (S<section>-<ordinal>), section, level (MUST|SHOULD|MAY, the strongest keyword), keywords,",
        "# testable (yes | no: reason), gap (why the cases test it only in part; empty if none), sentence.",
        "id\tsection\tlevel\tkeywords\ttestable\tgap\tsentence",
    ]
    for r in rows:
        out.append("\t".join(c.replace("\t", " ") for c in r))
    return "\n".join(out) + "\n"


def main(argv):
    check = "--check" in argv
    args = [a for a in argv if a != "--check"]
    rfc = args[0] if args else os.path.join(ROOT, "..", "..", "shared", "specs", "rfc9421.md")
    rows = extract(open(rfc, encoding="utf-8").read())
    text = render(rows)
    if check:
        old = open(OUT, encoding="utf-8").read() if os.path.exists(OUT) else ""
        if old != text:
            sys.exit("statements.py --check: %s would change" % os.path.relpath(OUT))
        print("statements.py --check: %d statements reproduced" % len(rows))
        return
    with open(OUT, "w", encoding="utf-8") as f:
        f.write(text)
    by = {}
    for r in rows:
        by[r[2]] = by.get(r[2], 0) + 1
    print("wrote %s: %d statements %s" % (os.path.relpath(OUT), len(rows), by))


if __name__ == "__main__":
    main(sys.argv[1:])

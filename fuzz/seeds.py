#!/usr/bin/env python3
"""Seed corpora for the fuzz targets, generated from the repository's own data.

Sources: vectors/data/*.json (RFC 9421 Appendix B examples and our vectors: messages, Signature-Input
and Signature values), vectors/keys/* (every key encoding, plus the DER inside each PEM),
harness/http-sig/tests/data/*.http, and small hand-written examples of the configuration files,
reply envelopes, MQ Hub paths and AMQP 1.0 frames (encoded here from the AMQP 1.0 type system,
part 1 and part 2.3). Writes fuzz/corpus/<target>/<name>; the corpus is not committed.

Usage: python3 fuzz/seeds.py [--out DIR]   (default: fuzz/corpus next to this file)
"""
import argparse
import base64
import glob
import hashlib
import json
import os
import re
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def read(path, mode="r"):
    with open(path, mode) as f:
        return f.read()


def vectors():
    for f in sorted(glob.glob(os.path.join(ROOT, "vectors/data/*.json"))):
        doc = json.load(open(f))
        for g in doc["testGroups"]:
            for t in g["tests"]:
                yield os.path.basename(f).split(".")[0], t


def http_files():
    for f in sorted(glob.glob(os.path.join(ROOT, "harness/http-sig/tests/data/*.http"))):
        yield os.path.basename(f), read(f, "rb")


def header_values(raw, name):
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
    head = re.split(r"\r?\n\r?\n", text, maxsplit=1)[0]
    out = []
    for line in re.split(r"\r?\n", head)[1:]:
        k, sep, v = line.partition(":")
        if sep and k.strip().lower() == name:
            out.append(v.strip())
    return out


# --- AMQP 1.0 encoding (just what the seeds need) ---------------------------------------------
def sym(s):
    b = s.encode()
    return b"\xa3" + bytes([len(b)]) + b


def st(s):
    b = s.encode()
    return b"\xa1" + bytes([len(b)]) + b


def vbin(b):
    return b"\xa0" + bytes([len(b)]) + b


def uint(n):
    return b"\x43" if n == 0 else (b"\x52" + bytes([n]) if n < 256 else b"\x70" + struct.pack(">I", n))


NULL, TRUE, FALSE = b"\x40", b"\x41", b"\x42"


def lst(*items):
    body = b"".join(items)
    if not items:
        return b"\x45"
    return b"\xc0" + bytes([len(body) + 1, len(items)]) + body


def described(code, value):
    return b"\x00\x53" + bytes([code]) + value


def frame(body, channel=0, kind=0):
    return struct.pack(">IBBH", 8 + len(body), 2, kind, channel) + body


def perf(code, *fields, channel=0, payload=b""):
    return frame(described(code, lst(*fields)) + payload, channel)


AMQP_HDR = b"AMQP\x00\x01\x00\x00"
OPEN = perf(0x10, st("fuzz-client"), st("localhost"), uint(65536), b"\x60\x00\xff")
BEGIN = perf(0x11, NULL, uint(0), uint(2048), uint(2048))
SOURCE = described(0x28, lst(st("queue://fuzz")))
TARGET = described(0x29, lst(st("queue://fuzz")))
ATTACH_SENDER = perf(0x12, st("sender-1"), uint(0), FALSE, NULL, NULL, SOURCE, TARGET, NULL, NULL, uint(0))
ATTACH_NULL_TARGET = perf(0x12, st("sender-2"), uint(1), FALSE, NULL, NULL, SOURCE,
                          described(0x29, lst()), NULL, NULL, uint(0))
ATTACH_RECEIVER = perf(0x12, st("receiver-1"), uint(2), TRUE, NULL, NULL,
                       described(0x28, lst(st("topic://fuzz"))), TARGET)
FLOW = perf(0x13, uint(0), uint(2048), uint(0), uint(2048), uint(2), uint(0), uint(10))
MESSAGE = (described(0x70, lst(FALSE, NULL, uint(60000)))  # header: durable, priority, ttl
           + described(0x73, lst(st("m1"), NULL, st("queue://fuzz")))  # properties: id, user, to
           + described(0x74, b"\xc1" + bytes([len(st("k") + st("v")) + 1, 2]) + st("k") + st("v"))
           + described(0x75, vbin(b"hello")))
TRANSFER = perf(0x14, uint(0), uint(0), vbin(b"\x00"), uint(0), FALSE, payload=MESSAGE)
TRANSFER_VALUE = perf(0x14, uint(1), uint(1), vbin(b"\x01"), uint(0), TRUE,
                      payload=described(0x77, st('{"request_id":"1"}')))
DISPOSITION = perf(0x15, TRUE, uint(0), NULL, TRUE, described(0x24, lst()))
DETACH = perf(0x16, uint(0), TRUE)
END = perf(0x17)
CLOSE = perf(0x18)
EMPTY_FRAME = frame(b"")  # heartbeat
SASL_INIT_ANON = frame(described(0x41, lst(sym("ANONYMOUS"), vbin(b"fuzz"))), kind=1)
SASL_INIT_EXT = frame(described(0x41, lst(sym("EXTERNAL"), vbin(b""))), kind=1)
SASL_INIT_PLAIN = frame(described(0x41, lst(sym("PLAIN"), vbin(b"\x00user\x00pass"))), kind=1)


def amqp_seeds():
    # First byte: 0 = no prefix, 1 = AMQP header, 2 = SASL header (see amqp_broker.rs).
    s = {}
    s["raw-header-open-close"] = b"\x00" + AMQP_HDR + OPEN + CLOSE
    s["raw-bad-header"] = b"\x00AMQP\x00\x02\x00\x00"
    s["raw-tls-header"] = b"\x00AMQP\x02\x01\x00\x00"
    s["raw-http"] = b"\x00GET / HTTP/1.1\r\n\r\n"
    s["open-close"] = b"\x01" + OPEN + CLOSE
    s["open-begin-end-close"] = b"\x01" + OPEN + BEGIN + END + CLOSE
    s["send"] = b"\x01" + OPEN + BEGIN + ATTACH_SENDER + TRANSFER + DETACH + END + CLOSE
    s["send-null-target"] = b"\x01" + OPEN + BEGIN + ATTACH_NULL_TARGET + TRANSFER_VALUE + CLOSE
    s["receive"] = b"\x01" + OPEN + BEGIN + ATTACH_RECEIVER + FLOW + DISPOSITION + CLOSE
    s["heartbeat"] = b"\x01" + OPEN + EMPTY_FRAME + EMPTY_FRAME + CLOSE
    s["no-close"] = b"\x01" + OPEN + BEGIN + ATTACH_SENDER + TRANSFER
    s["sasl-anonymous"] = b"\x02" + SASL_INIT_ANON + AMQP_HDR + OPEN + BEGIN + CLOSE
    s["sasl-external"] = b"\x02" + SASL_INIT_EXT + AMQP_HDR + OPEN + CLOSE
    s["sasl-plain"] = b"\x02" + SASL_INIT_PLAIN + AMQP_HDR + OPEN + BEGIN + ATTACH_SENDER + TRANSFER + CLOSE
    return s


# --- the targets' seeds ------------------------------------------------------------------------
def http_sig_seeds():
    inputs, fields, messages = {}, {}, {}
    for stem, t in vectors():
        tc = f"{stem}-{t['tcId']}"
        if t.get("signatureInputHeader"):
            inputs[tc] = t["signatureInputHeader"]
        if t.get("signatureParams"):
            inputs[tc + "-params"] = f"{t.get('label', 'sig1')}={t['signatureParams']}"
        if t.get("signatureHeader"):
            fields[tc] = t["signatureHeader"]
        for k in ("message", "request"):
            if t.get(k):
                messages[f"{tc}-{k}"] = t[k].encode()
                for v in header_values(t[k], "signature-input"):
                    inputs[f"{tc}-{k}-hdr"] = v
                for v in header_values(t[k], "signature"):
                    fields[f"{tc}-{k}-hdr"] = v
    for name, raw in http_files():
        messages[name] = raw
        for i, v in enumerate(header_values(raw, "signature-input")):
            inputs[f"{name}-{i}"] = v
        for i, v in enumerate(header_values(raw, "signature")):
            fields[f"{name}-{i}"] = v
    # first byte of http_message: scheme (even: https, odd: http)
    msgs = {}
    for k, v in messages.items():
        msgs[k] = b"\x00" + v
        msgs[k + "-lf"] = b"\x01" + v.replace(b"\r\n", b"\n")
    return ({k: v.encode() for k, v in inputs.items()},
            {k: v.encode() for k, v in fields.items()}, msgs)


def key_files():
    for f in sorted(glob.glob(os.path.join(ROOT, "vectors/keys/*"))):
        if f.endswith("index.json"):
            continue
        yield os.path.basename(f), read(f, "rb")


def key_seeds():
    out = {}
    for name, raw in key_files():
        out[name] = raw
        text = raw.decode("utf-8", "replace")
        m = re.search(r"-----BEGIN [^-]+-----(.*?)-----END", text, re.S)
        if m:
            out[name + ".der"] = base64.b64decode("".join(m.group(1).split()))
    return out


def toml_str(s):
    return json.dumps(s)  # a JSON string is a TOML basic string


def profile_policy_seeds():
    # First byte: 0 profile TOML, 1 profile YAML, 2 policy TOML, 3 policy YAML (profile_policy.rs).
    out = {}
    for name, raw in key_files():
        if name.endswith((".spki.pem", ".pub.pem")):
            continue
        text = raw.decode().strip()
        toml = (
            "derived_components = [\"method\", \"target_uri\", \"authority\", \"path\", \"query\"]\n"
            "signature_parameters = [\"nonce\"]\nexpiry = \"30s\"\n"
            "[key]\ninline = " + toml_str(text) + "\nid = \"k1\"\n"
            "[headers]\ninclude = [\"content-type\", \"date\"]\nexclude = [\"date\"]\n")
        out[f"profile-{name}.toml"] = b"\x00" + toml.encode()
        yaml = json.dumps({"key": {"inline": text}, "derived_components": ["request_target"],
                           "expiry": "5m"})
        out[f"profile-{name}.yaml"] = b"\x01" + yaml.encode()
    policies = [{}, {"required_components": ["@method", "content-type", "\"@query-param\";name=\"id\""],
                     "required_parameters": ["created", "nonce"], "max_age": 300, "allowed_skew": 5,
                     "expected_tag": "tag", "expected_keyid": "test-key",
                     "allowed_algorithms": ["ed25519", "hmac-sha256"], "nonce_retention": 60}]
    for stem, t in vectors():
        p = dict(t.get("policy") or {})
        p.pop("now", None)
        if p and p not in policies:
            policies.append(p)
    for i, p in enumerate(policies):
        out[f"policy-{i}.yaml"] = b"\x03" + json.dumps(p).encode()
        lines = []
        for k, v in p.items():
            lines.append(f"{k} = {json.dumps(v)}")
        out[f"policy-{i}.toml"] = b"\x02" + "\n".join(lines).encode()
    return out


MSG_SIGNER = """msg_signer:
  messaging_brokers: ["amqps://127.0.0.1:5671", "amqp://[::1]:5672"]
  messaging_cert_key: /tmp/c.pem
  messaging_ca_cert: /tmp/ca.pem
  topic_send_to: topic://Sign.{creator}
  topic_listen_to: queue://Consumer.{creator}.{task_id}.Topic.sign.{task_id}
  environment: prod
  service: pubtools-sign
  timeout: 5
  retries: 3
  send_retries: 2
  message_id_key: request_id
  log_level: debug
  key_aliases:
    beta: "0123456789ABCDEF"
other_section:
  anything: goes
"""


def msg_signer_seeds():
    # First byte: 0 msg_signer, 1 msg_batch_signer, 2 a broker URL (msg_signer_config.rs).
    batch = MSG_SIGNER.replace("msg_signer:", "msg_batch_signer:").replace(
        "  key_aliases:", "  chunk_size: 10\n  key_aliases:")
    out = {"config.yaml": b"\x00" + MSG_SIGNER.encode(), "batch.yaml": b"\x01" + batch.encode(),
           "flow.yaml": b"\x00" + b'{"msg_signer": {"messaging_brokers": ["amqp://h:1"], "timeout": 1}}'}
    for i, u in enumerate(["amqps://127.0.0.1:5671", "amqp://[::1]:5672/", "amqp://broker",
                           "amqps://u:p@h:5671", "amqp://h:0", "amqp://[::1"]):
        out[f"url-{i}"] = b"\x02" + u.encode()
    return out


def reply_seeds():
    # First byte: message_id_key (sel % 3) and result field (sel / 3 % 4) (reply_envelope.rs).
    env = lambda msg: json.dumps({"i": 1, "msg_id": "ID:1", "timestamp": 1, "topic": "queue://x",
                                  "username": "u", "msg": msg})
    msgs = [
        {"request_id": "r1", "signed_claim": "YQ==", "signing_status": "success", "errors": []},
        {"request_id": "r2", "signed_data": "YQ==", "signing_status": "success"},
        {"request_id": 3, "signed_payload": "YQ=="},
        {"request_id": "r4", "signing_status": "failure", "errors": ["bad key"]},
        {"request_id": "r5", "signing_status": "failed", "errors": "not a list"},
        {"request_id": "r6", "signing_status": "success", "signed_claim": ""},
        {"id": "r7"},
    ]
    out = {}
    for i, m in enumerate(msgs):
        # sel 0/3/6: request_id with result field signed_claim/signed_data/signed_payload; 1: id
        sel = 1 if "id" in m else (i % 3) * 3
        out[f"reply-{i}"] = bytes([sel]) + env(m).encode()
    out["not-json"] = b"\x00{\"msg\":"
    out["no-msg"] = b"\x00{\"i\": 1}"
    return out


B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


def b58(data):
    n = int.from_bytes(data, "big")
    s = ""
    while n:
        n, r = divmod(n, 58)
        s = B58[r] + s
    return "1" * (len(data) - len(data.lstrip(b"\0"))) + s


def mq_hub_seeds():
    # A secp256k1 point (the generator), compressed and uncompressed, for DID seeds.
    gx = bytes.fromhex("79BE667EF9DCBBAC55A06295CE870B07029BFCDB2DCE28D959F2815B16F81798")
    gy = bytes.fromhex("483ADA7726A3C4655DA4FBFC0E1108A8FD17B448A68554199C47D08FFB10D4B8")
    comp, unc = b"\x02" + gx, b"\x04" + gx + gy
    did_key = "did:key:z" + b58(b"\xe7\x01" + comp)
    did_ssi = "did:ssi:key:vault.csc:" + b58(unc)
    hash_did = b58(hashlib.sha256(did_key.encode()).digest())
    codec = {  # first byte: 0 b58, 1 hex/hashDID/segment, 2 DID, 3 registry JSON, 4 hub TOML
        "b58": b"\x00" + b58(b"\x00\x00hello").encode(),
        "b58-bad": b"\x00" + b"0OIl",
        "hex": b"\x01" + comp.hex().upper().encode(),
        "hash-did": b"\x01" + hash_did.encode(),
        "did-key": b"\x02" + did_key.encode(),
        "did-ssi": b"\x02" + did_ssi.encode(),
        "did-web": b"\x02" + b"did:web:example.com",
        "registry": b"\x03" + json.dumps({"did:web:example.com": unc.hex()}).encode(),
        "hub.toml": b"\x04" + b'profile = "opendsu"\ndomains = ["vault.csc", "default"]\n'
                               b'max_message_size = 1024\nconnection_timeout_ms = 5\n[storage]\nkind = "memory"\n',
        "hub-durable.toml": b"\x04" + b'[storage]\nkind = "durable"\npath = "mq.redb"\n',
    }
    # mq_hub_token: first byte bit 0 = profile (0 rfc130, 1 opendsu), (sel >> 1) % 5 = mode.
    jwt_like = "eyJhbGciOiJFUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJ4In0.c2ln"
    seed_ssi = ".".join([b58(b'{"typ":"SeedSSIJWT"}'), b58(b'{"sub":"x"}'), b58(b"\x30\x06\x02\x01\x01\x02\x01\x01")])
    token = {
        "rfc-jwt": b"\x00" + jwt_like.encode(),
        "dsu-seedssi": b"\x01" + seed_ssi.encode(),
        "rfc-mutate": bytes([2, 0]) + struct.pack("<HBB", 10, 0, ord("A")),
        "dsu-mutate": bytes([3, 1]) + struct.pack("<HBB", 30, 1, ord("1")) + struct.pack("<HBB", 90, 2, 0),
        "rfc-authorize": bytes([4]) + ("default/" + hash_did).encode(),
        "dsu-authorize": bytes([5]) + b"other/queue",
        "rfc-proof": bytes([6]) + ("{DID}\n1700000000\n3006020101020101\n" + hash_did).encode(),
        "dsu-sig-of-did": bytes([9]) + b"{DID}\n3006020101020101",
    }
    # mq_hub_http: first byte bit 0 = profile, (sel >> 1) % 6 = method GET PUT DELETE POST HEAD
    # OPTIONS; then the path line, header lines, a blank line and the body. {H} {T} {S}: see the
    # target.
    GET, PUT, DELETE = 0, 2, 4
    http = {}
    for p, auth in ((0, "authorization: Bearer {T}"), (1, "x-mq-authorization: {T}")):
        prof = ["rfc", "dsu"][p]
        http[f"{prof}-token"] = bytes([GET | p]) + b"/mq/default/{H}/token\nx-mq-did: did:key:zQ3s\nx-mq-did-timestamp: 1700000000\nx-mq-did-proof: 3006\n\n"
        http[f"{prof}-put"] = bytes([PUT | p]) + f"/mq/default/put/{{H}}\n{auth}\ncontent-type: text/plain\n\nhello".encode()
        http[f"{prof}-put-no-token"] = bytes([PUT | p]) + b"/mq/default/put/{H}\n\nhello"
        http[f"{prof}-get"] = bytes([GET | p]) + f"/mq/default/get/{{H}}/{{S}}\n{auth}\n\n".encode()
        http[f"{prof}-delete"] = bytes([DELETE | p]) + f"/mq/default/delete/{{H}}/abc/{{S}}\n{auth}\n\n".encode()
        take = "/mq/default/take/{H}/next/{S}" if p == 0 else "/mq/default/take/{H}/{S}"
        http[f"{prof}-take"] = bytes([GET | p]) + f"{take}\n{auth}\n\n".encode()
        http[f"{prof}-disabled"] = bytes([GET | p]) + f"/mq/off/get/{{H}}/{{S}}\n{auth}\n\n".encode()
        http[f"{prof}-bad-hash"] = bytes([GET | p]) + f"/mq/default/get/0OIl/{{S}}\n{auth}\n\n".encode()
    return codec, token, http


def web_bot_auth_seeds():
    """Key directories (first byte even) and requests (odd) from the Web Bot Auth vectors."""
    out = {}
    for f in sorted(glob.glob(os.path.join(ROOT, "vectors/data/web-bot-auth/*_test.json"))):
        doc = json.load(open(f))
        out["directory"] = b"\x00" + json.dumps(doc["directory"]).encode()
        for t in doc["tests"]:
            out[f"request-{t['tcId']}"] = b"\x01" + t["message"].encode()
    for name in ("test-key-ed25519.jwk.json", "test-key-ecc-p256.jwk.json", "test-key-rsa-pss.jwk.json"):
        p = os.path.join(ROOT, "vectors/keys", name)
        if os.path.exists(p):
            key = json.load(open(p))
            key = {k: v for k, v in key.items() if k not in ("d", "p", "q", "dp", "dq", "qi")}
            out["jwks-" + name] = b"\x00" + json.dumps({"keys": [key]}).encode()
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=os.path.join(HERE, "corpus"))
    args = ap.parse_args()
    inputs, fields, messages = http_sig_seeds()
    codec, token, http = mq_hub_seeds()
    corpora = {
        "sig_input": inputs,
        "sig_field": fields,
        "http_message": messages,
        "key": key_seeds(),
        "profile_policy": profile_policy_seeds(),
        "msg_signer_config": msg_signer_seeds(),
        "reply_envelope": reply_seeds(),
        "mq_hub_codec": codec,
        "mq_hub_token": token,
        "mq_hub_http": http,
        "amqp_broker": amqp_seeds(),
        "web_bot_auth": web_bot_auth_seeds(),
    }
    for target, seeds in corpora.items():
        d = os.path.join(args.out, target)
        os.makedirs(d, exist_ok=True)
        for name, data in seeds.items():
            safe = re.sub(r"[^A-Za-z0-9._-]", "_", name)
            with open(os.path.join(d, "seed-" + safe), "wb") as f:
                f.write(data)
        print(f"{target}: {len(seeds)} seeds")


if __name__ == "__main__":
    main()

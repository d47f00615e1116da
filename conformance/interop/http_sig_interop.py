#!/usr/bin/env python3
"""RFC 9421 interop: our `sigharness http-sig` CLI against the independent Python package
`http-message-signatures` (PyPI), in both directions, for every algorithm both support.

  ours signs  -> Python verifies
  Python signs -> ours verifies

Loopback only: nothing here opens a socket. Every subprocess is bounded in time, and the whole
run has a deadline. Exit status: 0 all pairs agree, 1 any mismatch, 2 the check could not run.

Usage: http_sig_interop.py --sigharness PATH/TO/sigharness --keys vectors/keys [--timeout 20]
"""

import argparse
import base64
import datetime
import os
import subprocess
import sys
import tempfile
import time

try:
    from http_message_signatures import (
        HTTPMessageSigner,
        HTTPMessageVerifier,
        HTTPSignatureKeyResolver,
        algorithms,
    )
except ImportError as e:  # pragma: no cover - environment problem
    print(f"interop: cannot import http_message_signatures ({e}); run .ci/steps/20-http-sig-interop.sh", file=sys.stderr)
    sys.exit(2)

# Algorithms both sides implement (the Python package has no ecdsa-p384-sha384), with the RFC 9421
# Appendix B.1 test keys: (private key file, public/verification key file, python key loader).
ALGS = {
    "hmac-sha256": ("test-shared-secret.b64", "test-shared-secret.b64", "secret"),
    "ed25519": ("test-key-ed25519.pkcs8.pem", "test-key-ed25519.spki.pem", "pem"),
    "ecdsa-p256-sha256": ("test-key-ecc-p256.sec1.pem", "test-key-ecc-p256.spki.pem", "pem"),
    "rsa-pss-sha512": ("test-key-rsa.pkcs1.pem", "test-key-rsa.pkcs1.pub.pem", "pem"),
    "rsa-v1_5-sha256": ("test-key-rsa.pkcs1.pem", "test-key-rsa.pkcs1.pub.pem", "pem"),
}
PY_ALG = {
    "hmac-sha256": algorithms.HMAC_SHA256,
    "ed25519": algorithms.ED25519,
    "ecdsa-p256-sha256": algorithms.ECDSA_P256_SHA256,
    "rsa-pss-sha512": algorithms.RSA_PSS_SHA512,
    "rsa-v1_5-sha256": algorithms.RSA_V1_5_SHA256,
}


class Message:
    """What the Python package reads: method, url, headers (and status_code for responses)."""

    def __init__(self, kind, method=None, target=None, status=None, headers=None, body=""):
        self.kind = kind
        self.method = method
        self.target = target
        self.status = status
        self.headers = dict(headers or {})
        self.body = body
        host = self.headers.get("Host", "example.com")
        self.url = f"https://{host}{target or '/'}"
        if kind == "response":
            self.status_code = status

    def to_http(self):
        first = f"{self.method} {self.target} HTTP/1.1" if self.kind == "request" else f"HTTP/1.1 {self.status} OK"
        lines = [first] + [f"{k}: {v}" for k, v in self.headers.items()]
        return "\r\n".join(lines) + "\r\n\r\n" + self.body

    @staticmethod
    def from_http(text, like):
        head, _, body = text.replace("\r\n", "\n").partition("\n\n")
        lines = head.split("\n")
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            name, value = name.strip(), value.strip()
            headers[name] = f"{headers[name]}, {value}" if name in headers else value
        return Message(like.kind, like.method, like.target, like.status, headers, body)


# Several messages: the RFC 9421 B.2 test request and response, and a GET with a query.
MESSAGES = [
    ("rfc-test-request",
     Message("request", "POST", "/foo?param=Value&Pet=dog", headers={
         "Host": "example.com",
         "Date": "Tue, 20 Apr 2021 02:07:55 GMT",
         "Content-Type": "application/json",
         "Content-Digest": "sha-512=:WZDPaVn/7XgHaAy8pmojAkGWoRx2UFChF41A2svX+TaPm+AbwAgBWnrIiYllu7BNNyealdVLvRwEmTHWXvJwew==:",
         "Content-Length": "18"}, body='{"hello": "world"}'),
     ["@method", "@authority", "@path", "@query", "content-type", "content-digest", "content-length"]),
    ("get-with-query",
     Message("request", "GET", "/api/items?limit=10&sort=desc", headers={
         "Host": "api.example.org:8443",
         "Accept": "application/json",
         "X-Request-Id": "7b0c1d2e"}),
     ["@method", "@target-uri", "@scheme", "@authority", "accept", "x-request-id"]),
    ("rfc-test-response",
     Message("response", status=200, headers={
         "Date": "Tue, 20 Apr 2021 02:07:56 GMT",
         "Content-Type": "application/json",
         "Content-Digest": "sha-512=:JlEy2bfUz7WrWIjc1qV6KVLpdr/7L5/L4h7Sxvh6sNHpDQWDCL+GauFQWcZBvVDhiyOnAQsxzZFYwi0wDH+1pw==:",
         "Content-Length": "23"}, body='{"message": "good dog"}'),
     ["@status", "content-type", "content-digest", "content-length"]),
]


class Keys(HTTPSignatureKeyResolver):
    def __init__(self, private, public):
        self.private, self.public = private, public

    def resolve_private_key(self, key_id):
        return self.private

    def resolve_public_key(self, key_id):
        return self.public


def load(keys_dir, alg):
    priv_f, pub_f, kind = ALGS[alg]
    priv = open(os.path.join(keys_dir, priv_f), "rb").read()
    pub = open(os.path.join(keys_dir, pub_f), "rb").read()
    if kind == "secret":
        priv = pub = base64.b64decode(priv.strip())
    return os.path.join(keys_dir, priv_f), os.path.join(keys_dir, pub_f), Keys(priv, pub)


def run(cmd, timeout):
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return 124, "", f"timed out after {timeout}s"
    return p.returncode, p.stdout, p.stderr


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sigharness", required=True)
    ap.add_argument("--keys", required=True)
    ap.add_argument("--timeout", type=float, default=20.0, help="bound per subprocess, seconds")
    ap.add_argument("--deadline", type=float, default=300.0, help="bound for the whole run, seconds")
    args = ap.parse_args()
    if not os.access(args.sigharness, os.X_OK):
        print(f"interop: {args.sigharness} is not an executable", file=sys.stderr)
        return 2
    started = time.monotonic()
    now = int(time.time())
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for alg in ALGS:
            priv_path, pub_path, resolver = load(args.keys, alg)
            for name, msg, components in MESSAGES:
                if time.monotonic() - started > args.deadline:
                    print(f"interop: deadline of {args.deadline}s exceeded", file=sys.stderr)
                    return 1
                label = "interop"
                # 1. ours signs -> Python verifies
                mfile = os.path.join(tmp, f"{name}.http")
                with open(mfile, "w", newline="") as f:
                    f.write(msg.to_http())
                rc, out, err = run([args.sigharness, "http-sig", "sign", "--message", mfile, "--key", priv_path,
                                    "--alg", alg, "--components", " ".join(components), "--label", label,
                                    "--created", str(now), "--keyid", f"key-{alg}"], args.timeout)
                if rc != 0:
                    results.append((alg, name, "ours->python", False, f"our sign failed ({rc}): {err.strip()}"))
                else:
                    signed = Message.from_http(out, msg)
                    try:
                        HTTPMessageVerifier(signature_algorithm=PY_ALG[alg], key_resolver=resolver).verify(signed)
                        results.append((alg, name, "ours->python", True, ""))
                    except Exception as e:  # any failure is a mismatch
                        results.append((alg, name, "ours->python", False,
                                         f"python refused: {e!r}; Signature-Input: {signed.headers.get('Signature-Input')}"))
                # 2. Python signs -> ours verifies
                pmsg = Message(msg.kind, msg.method, msg.target, msg.status, msg.headers, msg.body)
                try:
                    HTTPMessageSigner(signature_algorithm=PY_ALG[alg], key_resolver=resolver).sign(
                        pmsg, key_id=f"key-{alg}", label=label,
                        created=datetime.datetime.fromtimestamp(now, tz=datetime.timezone.utc),
                        covered_component_ids=components)
                except Exception as e:
                    results.append((alg, name, "python->ours", False, f"python sign failed: {e!r}"))
                    continue
                sfile = os.path.join(tmp, f"{name}.py-signed.http")
                with open(sfile, "w", newline="") as f:
                    f.write(pmsg.to_http())
                rc, out, err = run([args.sigharness, "http-sig", "verify", "--message", sfile, "--key", pub_path,
                                    "--alg", alg, "--label", label], args.timeout)
                results.append((alg, name, "python->ours", rc == 0,
                                "" if rc == 0 else f"ours refused ({rc}): {err.strip()}"))
    bad = [r for r in results if not r[3]]
    for alg, name, direction, ok, why in results:
        print(f"{'ok  ' if ok else 'FAIL'} {alg:<18} {name:<18} {direction:<13} {why}")
    print(f"interop: {len(results) - len(bad)}/{len(results)} agree "
          f"({len(ALGS)} algorithms x {len(MESSAGES)} messages x 2 directions) "
          f"in {time.monotonic() - started:.1f}s")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())

// Shared parts of the JavaScript shims of the http-sig suite (protocol:
// conformance/interop/README.md): the JSON-lines loop, raw HTTP/1.1 text to a message view and
// back, and node:crypto signers for the library that leaves cryptography to its caller.
import { createInterface } from "node:readline";
import crypto from "node:crypto";

export class Unsupported extends Error {}

/** Raw HTTP/1.1 text -> { start, kind, method, target, url, status, fields: [[name, value]], body }. */
export function parseMessage(text, scheme) {
  const norm = text.replace(/\r\n/g, "\n");
  const cut = norm.indexOf("\n\n");
  const head = cut < 0 ? norm : norm.slice(0, cut);
  const body = cut < 0 ? "" : norm.slice(cut + 2);
  const lines = head.split("\n");
  const start = lines[0];
  const fields = [];
  for (const line of lines.slice(1)) {
    if ((line.startsWith(" ") || line.startsWith("\t")) && fields.length) {
      fields[fields.length - 1][1] += " " + line.trim();
      continue;
    }
    const i = line.indexOf(":");
    if (i < 0) throw new Unsupported(`field line without a colon: ${JSON.stringify(line)}`);
    fields.push([line.slice(0, i).trim(), line.slice(i + 1).trim()]);
  }
  const parts = start.split(" ");
  if (start.startsWith("HTTP/")) {
    return { start, kind: "response", status: Number(parts[1]), fields, body };
  }
  const method = parts[0];
  const target = parts[1] ?? "/";
  let url;
  if (target.includes("://")) url = target;
  else {
    const host = fields.find(([n]) => n.toLowerCase() === "host");
    if (!host) throw new Unsupported("request without a Host field (no absolute URL to hand over)");
    url = target.startsWith("/") ? `${scheme}://${host[1]}${target}` : `${scheme}://${host[1]}/`;
  }
  return { start, kind: "request", method, target, url, fields, body };
}

export function serializeMessage(m, fields) {
  return [m.start, ...fields.map(([n, v]) => `${n}: ${v}`)].join("\r\n") + "\r\n\r\n" + m.body;
}

/** Header record (repeated fields as arrays, first spelling of the name kept). */
export function headerRecord(fields) {
  const out = {};
  const names = {};
  for (const [n, v] of fields) {
    const k = names[n.toLowerCase()] ?? (names[n.toLowerCase()] = n);
    if (k in out) out[k] = [].concat(out[k], v);
    else out[k] = v;
  }
  return out;
}

export function keyBytes(key) {
  return Buffer.from(key.bytes, "base64");
}

/** node:crypto key object for the request's key (PEM, JWK, or a base64 shared secret). */
export function nodeKey(key, priv) {
  const raw = keyBytes(key);
  if (key.format === "base64") return crypto.createSecretKey(Buffer.from(raw.toString().trim(), "base64"));
  if (key.format === "jwk") {
    const jwk = JSON.parse(raw.toString());
    if (jwk.kty === "oct") return crypto.createSecretKey(Buffer.from(jwk.k, "base64url"));
    return priv ? crypto.createPrivateKey({ key: jwk, format: "jwk" }) : crypto.createPublicKey({ key: jwk, format: "jwk" });
  }
  return priv ? crypto.createPrivateKey(raw) : crypto.createPublicKey(raw);
}

/** RFC 9421 §3.3 algorithms over node:crypto (the caller-supplied crypto). */
export function rawSign(alg, key, data) {
  switch (alg) {
    case "ed25519": return crypto.sign(null, data, key);
    case "rsa-pss-sha512": return crypto.sign("sha512", data, { key, padding: crypto.constants.RSA_PKCS1_PSS_PADDING, saltLength: 64 });
    case "rsa-v1_5-sha256": return crypto.sign("sha256", data, key);
    case "ecdsa-p256-sha256": return crypto.sign("sha256", data, { key, dsaEncoding: "ieee-p1363" });
    case "ecdsa-p384-sha384": return crypto.sign("sha384", data, { key, dsaEncoding: "ieee-p1363" });
    case "hmac-sha256": return crypto.createHmac("sha256", key).update(data).digest();
    default: throw new Unsupported(`algorithm ${alg}`);
  }
}

export function rawVerify(alg, key, data, sig) {
  switch (alg) {
    case "ed25519": return crypto.verify(null, data, key, sig);
    case "rsa-pss-sha512": return crypto.verify("sha512", data, { key, padding: crypto.constants.RSA_PKCS1_PSS_PADDING, saltLength: 64 }, sig);
    case "rsa-v1_5-sha256": return crypto.verify("sha256", data, key, sig);
    case "ecdsa-p256-sha256": return crypto.verify("sha256", data, { key, dsaEncoding: "ieee-p1363" }, sig);
    case "ecdsa-p384-sha384": return crypto.verify("sha384", data, { key, dsaEncoding: "ieee-p1363" }, sig);
    case "hmac-sha256": {
      const mac = crypto.createHmac("sha256", key).update(data).digest();
      return mac.length === sig.length && crypto.timingSafeEqual(mac, Buffer.from(sig));
    }
    default: throw new Unsupported(`algorithm ${alg}`);
  }
}

export const ALGS = ["ed25519", "rsa-pss-sha512", "rsa-v1_5-sha256", "ecdsa-p256-sha256", "ecdsa-p384-sha384", "hmac-sha256"];

/** The JSON-lines loop: `hello` from `info`, other ops from `ops` (async functions). */
export async function serve(info, ops) {
  const rl = createInterface({ input: process.stdin, crlfDelay: Infinity });
  for await (const line of rl) {
    if (!line.trim()) continue;
    let req;
    try {
      req = JSON.parse(line);
    } catch (e) {
      process.stderr.write(`shim: bad request line: ${e}\n`);
      continue;
    }
    let ans;
    if (req.op === "hello") ans = { id: req.id, ok: { ...info, ops: Object.keys(ops) } };
    else if (!ops[req.op]) ans = { id: req.id, unsupported: `op ${req.op}` };
    else {
      try {
        ans = { id: req.id, ok: await ops[req.op](req) };
      } catch (e) {
        if (e instanceof Unsupported) ans = { id: req.id, unsupported: e.message };
        else ans = { id: req.id, error: { kind: e?.code ?? e?.name ?? "Error", message: String(e?.message ?? e) } };
      }
    }
    process.stdout.write(JSON.stringify(ans) + "\n");
  }
}

// http-sig suite shim for the npm package `http-message-signatures` 1.0.6 (protocol:
// conformance/interop/README.md). Run: node THIS_FILE NPM_DIR, where NPM_DIR holds
// node_modules/http-message-signatures (.ci/steps/21-http-sig-peers.sh installs it there).
//
// Mapping onto the library's public API (`httpbis.signMessage`, `httpbis.verifyMessage`,
// `httpbis.createSignatureBase` / `formatSignatureBase`, `createSigner` / `createVerifier`):
// - base: what signMessage signs, taken from the library's own signer callback (the base is
//   the bytes it hands the key), with the request's parameters as `params` + `paramValues`;
// - sign: signMessage with the library's createSigner;
// - verify: verifyMessage with createVerifier and a keyLookup that knows the request's key by
//   its keyid (and only it); the library verifies every signature of the message, so the
//   application keeps only the label it verifies. The library reads the clock: Date.now is set
//   to the policy's `now` for the call.
// Unsupported (answered so, with the reason): declared structured field types, policy fields
// without a library option (forbidden components, revoked keys, max validity, required tag,
// content digest, nonce replay cache), different created/expires skews.
import { createRequire } from "node:module";
import path from "node:path";
import { readFileSync } from "node:fs";
import { Unsupported, parseMessage, serializeMessage, headerRecord, keyBytes, ALGS, serve } from "./http_sig_shim_common.mjs";

const dir = path.resolve(process.argv[2] ?? "target/http-sig-peers/npm");
const require = createRequire(path.join(dir, "package.json"));
const lib = require("http-message-signatures");
const sh = require("structured-headers");
const VERSION = JSON.parse(readFileSync(path.join(dir, "node_modules", "http-message-signatures", "package.json"), "utf8")).version;

function toLib(m, related) {
  const headers = headerRecord(m.fields);
  if (m.kind === "response") return { status: m.status, headers };
  return { method: m.method, url: m.url, headers };
}

function load(req) {
  const related = req.request ? parseMessage(req.request, req.scheme) : null;
  const m = parseMessage(req.message, req.scheme);
  return { m, msg: toLib(m), rel: related ? toLib(related) : undefined };
}

function noSf(req) {
  if (req.structured_fields && Object.keys(req.structured_fields).length)
    throw new Unsupported("declared structured field types (no library option)");
}

function keyMaterial(key, priv) {
  const raw = keyBytes(key);
  if (key.format === "base64") return Buffer.from(raw.toString().trim(), "base64");
  if (key.format === "jwk") throw new Unsupported("JWK keys (createSigner takes PEM/KeyObject)");
  return raw;
}

/** A protocol value (typed objects for tokens, byte sequences, decimals) as structured-headers'. */
function bare(v) {
  if (v === null || typeof v !== "object") return v;
  if ("token" in v) return new sh.Token(v.token);
  if ("bytes" in v) { const b = Buffer.from(v.bytes, "base64"); return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength); }
  if ("decimal" in v) return Number(v.decimal);
  throw new Unsupported(`parameter value ${JSON.stringify(v)}`);
}

/** The request's parameters as SignConfig `params` (order) and `paramValues`. */
function signParams(req) {
  if (!req.params || !req.covered) throw new Unsupported("signature parameters our parser cannot read either");
  const params = [];
  const values = {};
  for (const [n, v] of req.params) {
    params.push(n);
    if (n === "created" || n === "expires") {
      if (!Number.isInteger(v)) throw new Unsupported(`${n} that is not an integer`);
      values[n] = new Date(v * 1000);
    } else values[n] = bare(v);
  }
  if (!params.includes("created")) values.created = null;
  return { params, values, fields: req.covered.map((c) => c.id) };
}

async function sign(req, keyObj) {
  const { m, msg, rel } = load(req);
  const { params, values, fields } = signParams(req);
  const config = { key: keyObj, name: req.label, params, paramValues: values, fields };
  const signed = rel ? await lib.httpbis.signMessage(config, msg, rel) : await lib.httpbis.signMessage(config, msg);
  return { m, signed };
}

const ops = {
  async base(req) {
    noSf(req);
    let base = null;
    const keyObj = { sign: async (data) => { base = Buffer.from(data).toString(); return Buffer.alloc(1); } };
    await sign(req, keyObj);
    return base;
  },
  async sign(req) {
    noSf(req);
    if (!ALGS.includes(req.alg)) throw new Unsupported(`algorithm ${req.alg}`);
    const key = lib.createSigner(keyMaterial(req.key, true), req.alg, req.key.id);
    const { m, signed } = await sign(req, key);
    const fields = [];
    for (const [n, v] of Object.entries(signed.headers)) for (const x of [].concat(v)) fields.push([n, x]);
    return serializeMessage(m, fields);
  },
  async verify(req) {
    noSf(req);
    const p = req.policy;
    for (const f of ["max_validity", "required_tag"]) if (p[f] != null) throw new Unsupported(`policy ${f} (no library option)`);
    for (const f of ["forbidden_components", "revoked_keyids", "seen_nonces"]) if (p[f]?.length) throw new Unsupported(`policy ${f} (no library option)`);
    if (p.require_content_digest) throw new Unsupported("policy require_content_digest (no library option)");
    if ((p.created_skew ?? 0) !== (p.expires_skew ?? 0)) throw new Unsupported("different skews for created and expires (the library has one tolerance)");
    // requiredFields takes bare component names (compared with the covered items' names).
    const requiredFields = (p.required_components ?? []).map((id) => {
      const [name, params] = sh.parseItem(id);
      if (params.size) throw new Unsupported(`required component ${id} with parameters (requiredFields takes names)`);
      return name;
    });
    const { msg, rel } = load(req);
    // The application verifies the one signature it is asked about: keep that label only.
    if (req.label) {
      for (const name of Object.keys(msg.headers)) {
        const lc = name.toLowerCase();
        if (lc !== "signature" && lc !== "signature-input") continue;
        const d = sh.parseDictionary([].concat(msg.headers[name]).join(", "));
        const kept = new Map([...d].filter(([k]) => k === req.label));
        if (kept.size === 0) { delete msg.headers[name]; continue; }
        msg.headers[name] = sh.serializeDictionary(kept);
      }
    }
    const verifier = lib.createVerifier(keyMaterial(req.key, false), req.alg);
    const config = {
      keyLookup: async (params) => (params.keyid === undefined || params.keyid === req.key.id ? { id: req.key.id, algs: [req.alg], verify: verifier } : null),
      tolerance: p.created_skew ?? 0,
      requiredParams: p.required_params ?? [],
      requiredFields,
      maxAge: p.max_age ?? undefined,
      notAfter: p.now + (p.created_skew ?? 0),
    };
    const realNow = Date.now;
    Date.now = () => p.now * 1000;
    let ok;
    try {
      ok = rel ? await lib.httpbis.verifyMessage(config, msg, rel) : await lib.httpbis.verifyMessage(config, msg);
    } finally {
      Date.now = realNow;
    }
    if (ok === true) return true;
    const e = new Error(ok === null ? "no signature verified (indeterminate: null)" : "signature did not verify");
    e.code = "invalid_signature";
    throw e;
  },
};

serve({ name: "npm:http-message-signatures", version: VERSION, algorithms: ALGS, key_formats: ["pem-pkcs8", "pem-spki", "pem-sec1", "pem-pkcs1-private", "pem-pkcs1-public", "base64"] }, ops);

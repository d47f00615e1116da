// http-sig suite shim for the npm package `http-message-sig` 0.3.0 (protocol:
// conformance/interop/README.md). Run: node THIS_FILE NPM_DIR, where NPM_DIR holds
// node_modules/http-message-sig (.ci/steps/21-http-sig-peers.sh installs it there).
//
// Mapping onto the library's public API (message descriptors, `createSignature`,
// `appendSignature`, `verifySignature`); cryptography is the caller's by the library's design,
// supplied here from node:crypto (http_sig_shim_common.mjs, RFC 9421 §3.3 parameters):
// - base: the bytes createSignature hands the signer (the library exposes no base function);
// - sign: createSignature + appendSignature (which takes Fetch `Headers`: the two signature
//   fields are merged there and written back, the other fields keep their lines);
// - verify: verifySignature with the policy's algorithms/required components/required
//   parameters/maxAge/clockSkew/now, and a resolveVerifier that knows the request's key by its
//   keyid (and only it).
// The library's `UnsupportedFeature` error (sf, bs, tr, @query-param, per its README) is
// answered `unsupported`. Policy fields without a library option (the library leaves them to
// the application's `validate` callback: replay cache, tag, forbidden components, revoked keys,
// max validity, content digest) are answered `unsupported` rather than written here.
import { createRequire } from "node:module";
import path from "node:path";
import { readFileSync } from "node:fs";
import { Unsupported, parseMessage, serializeMessage, nodeKey, rawSign, rawVerify, ALGS, serve } from "./http_sig_shim_common.mjs";

const dir = path.resolve(process.argv[2] ?? "target/http-sig-peers/npm");
const require = createRequire(path.join(dir, "package.json"));
const lib = require("http-message-sig");
const sh = require("structured-headers");
const VERSION = JSON.parse(readFileSync(path.join(dir, "node_modules", "http-message-sig", "package.json"), "utf8")).version;

function descriptor(m, related) {
  const fields = m.fields.map(([name, value]) => ({ name, value }));
  if (m.kind === "response") return { kind: "response", status: m.status, fields, ...(related ? { request: related } : {}) };
  return { kind: "request", method: m.method, targetUri: m.url, requestTarget: m.target, fields };
}

function load(req) {
  const rel = req.request ? descriptor(parseMessage(req.request, req.scheme)) : undefined;
  const m = parseMessage(req.message, req.scheme);
  return { m, msg: descriptor(m, rel) };
}

function noSf(req) {
  if (req.structured_fields && Object.keys(req.structured_fields).length)
    throw new Unsupported("declared structured field types (no library option)");
}

function bare(v) {
  if (v === null || typeof v !== "object") return v;
  if ("token" in v) return new lib.Token(v.token);
  if ("bytes" in v) { const b = Buffer.from(v.bytes, "base64"); return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength); }
  if ("decimal" in v) return Number(v.decimal);
  throw new Unsupported(`parameter value ${JSON.stringify(v)}`);
}

function components(req) {
  if (!req.params || !req.covered) throw new Unsupported("signature parameters our parser cannot read either");
  return req.covered.map((c) =>
    c.params.length ? lib.component(c.name, Object.fromEntries(c.params.map(([k, v]) => [k, bare(v)]))) : c.name,
  );
}

function parameters(req) {
  return Object.fromEntries(req.params.map(([k, v]) => [k, bare(v)]));
}

async function create(req, signer) {
  const { m, msg } = load(req);
  const fields = await lib.createSignature(msg, { label: req.label ?? "sig1", components: components(req), parameters: parameters(req), signer });
  return { m, fields };
}

const ops = {
  async base(req) {
    noSf(req);
    let base = null;
    const claimed = req.params?.find(([k]) => k === "alg")?.[1];
    await create(req, { algorithm: typeof claimed === "string" ? claimed : "ed25519", sign(data) { base = Buffer.from(data).toString(); return new Uint8Array(64); } });
    return base;
  },
  async sign(req) {
    noSf(req);
    const key = nodeKey(req.key, true);
    const alg = req.alg;
    const { m, fields } = await create(req, { algorithm: alg, sign: (data) => new Uint8Array(rawSign(alg, key, Buffer.from(data))) });
    const isSig = (n) => ["signature", "signature-input"].includes(n.toLowerCase());
    const h = new Headers();
    for (const [n, v] of m.fields) if (isSig(n)) h.append(n, v);
    const merged = lib.appendSignature(h, fields);
    const out = m.fields.filter(([n]) => !isSig(n));
    out.push(["Signature-Input", merged.get("signature-input")], ["Signature", merged.get("signature")]);
    return serializeMessage(m, out);
  },
  async verify(req) {
    noSf(req);
    const p = req.policy;
    for (const f of ["max_validity", "required_tag"]) if (p[f] != null) throw new Unsupported(`policy ${f} (left to the application's validate callback)`);
    for (const f of ["forbidden_components", "revoked_keyids", "seen_nonces"]) if (p[f]?.length) throw new Unsupported(`policy ${f} (left to the application's validate callback)`);
    if (p.require_content_digest) throw new Unsupported("policy require_content_digest (left to the application)");
    if ((p.created_skew ?? 0) !== (p.expires_skew ?? 0)) throw new Unsupported("different skews for created and expires (the library has one clockSkew)");
    const { msg } = load(req);
    const key = nodeKey(req.key, false);
    const alg = req.alg;
    await lib.verifySignature(msg, {
      label: req.label ?? undefined,
      policy: {
        algorithms: [alg],
        // Serialized component ids (`"@method"`, `"x";key="a"`) as the library's descriptors.
        requiredComponents: (p.required_components ?? []).map((id) => {
          const [name, params] = sh.parseItem(id);
          return params.size ? lib.component(name, Object.fromEntries(params)) : name;
        }),
        requiredParameters: p.required_params ?? [],
        ...(p.max_age != null ? { maxAge: p.max_age } : {}),
        clockSkew: p.created_skew ?? 0,
        now: p.now,
      },
      resolveVerifier(candidate) {
        const kid = candidate.parameters.keyid;
        if (kid !== undefined && kid !== req.key.id) {
          const e = new Error(`unknown keyid ${kid}`);
          e.code = "unknown_key";
          throw e;
        }
        return { algorithm: alg, verify: (data, sig) => rawVerify(alg, key, Buffer.from(data), Buffer.from(sig)) };
      },
    });
    return true;
  },
};

// The library's own word for "cannot express this" is an answer of its own.
const wrapped = Object.fromEntries(
  Object.entries(ops).map(([k, f]) => [k, async (req) => {
    try {
      return await f(req);
    } catch (e) {
      if (e?.code === "UnsupportedFeature") throw new Unsupported(`library: ${e.message}`);
      throw e;
    }
  }]),
);

serve({ name: "npm:http-message-sig", version: VERSION, algorithms: ALGS, key_formats: ["pem-pkcs8", "pem-spki", "pem-sec1", "pem-pkcs1-private", "pem-pkcs1-public", "jwk", "base64"] }, wrapped);

//! `sigharness bench http-sig`: sign and verify with each RFC 9421 algorithm on this machine,
//! with the user's signing profile and message if given, beside the bare aws-lc-rs primitive on
//! the same signature-base bytes (`raw`) and the `httpsig` crate (0.0.26, `rsa-signature`) on the
//! same components (`httpsig`). The keys are generated per run (Ed25519, ECDSA P-256/P-384, RSA
//! 2048, a 64-byte HMAC secret), so no key file is needed.
//!
//! What is timed, per operation (one call each, timed alone; setup outside the timer):
//! - `ours` sign: component values + signature base + signing + `Signature-Input`/`Signature`
//!   added to an already parsed message (`Signer::sign_message`); verify: the two fields parsed,
//!   the base rebuilt, the signature checked (`Verifier::verify`).
//! - `raw`: the primitive alone over the base bytes, its key prepared once.
//! - `httpsig`: its base from component values extracted in setup (as an integrator passes
//!   them), signing and its two header values; verify: the fields parsed, base, verify.
//!
//! The same types back the criterion benchmark (benches/benches/http_sig.rs).

use std::time::{Duration, Instant};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{self as sig, EcdsaKeyPair, Ed25519KeyPair, KeyPair, ParsedPublicKey};
use aws_lc_rs::{hmac, rsa};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use http_sig::{Algorithm, HttpMessage, Key, SignatureParams, Signer, Verifier};
use httpsig::prelude::message_component::{HttpMessageComponent, HttpMessageComponentId};
use httpsig::prelude::{
    AlgorithmName, HttpSignatureBase, HttpSignatureHeaders, HttpSignatureParams, SecretKey,
    SharedKey,
};

/// The algorithms of RFC 9421 section 3.3, in the order they are reported.
pub const ALGORITHMS: &[&str] = &[
    "ed25519",
    "ecdsa-p256-sha256",
    "ecdsa-p384-sha384",
    "hmac-sha256",
    "rsa-pss-sha512",
    "rsa-v1_5-sha256",
];

/// The default message: an API request with 10 header fields and a JSON body.
pub const REQUEST: &str = "POST /v1/orders?customer=4711&expand=items HTTP/1.1\r\n\
Host: api.example.com\r\n\
Date: Tue, 20 Apr 2021 02:07:55 GMT\r\n\
Content-Type: application/json\r\n\
Content-Length: 18\r\n\
Content-Digest: sha-512=:WZDPaVn/7XgHaAy8pmojAkGWoRx2UFChF41A2svX+TaPm+AbwAgBWnrIiYllu7BNNyealdVLvRwEmTHWXvJwew==:\r\n\
Accept: application/json\r\n\
User-Agent: sigharness-bench/1.0\r\n\
X-Request-Id: 0f6c2a1e-5b7d-4c1a-9d33-7e2f0a9b8c41\r\n\
Authorization: Bearer abc.def.ghi\r\n\
\r\n\
{\"hello\": \"world\"}";

/// The default covered components (without a profile).
pub const COMPONENTS: &[&str] = &[
    "@method",
    "@authority",
    "@path",
    "content-type",
    "content-length",
    "content-digest",
];

/// `created` of every signature (the verifier is asked at `CREATED + 1`).
pub const CREATED: u64 = 1_618_884_473;

/// The aws-lc-rs primitive with its key prepared once (the same preparation `Key` does at load
/// time), so `raw` times the primitive alone.
pub enum RawKey {
    Ed25519(Ed25519KeyPair, ParsedPublicKey),
    Ecdsa(EcdsaKeyPair, ParsedPublicKey, SystemRandom),
    Hmac(Box<hmac::Key>),
    Rsa(
        Box<rsa::KeyPair>,
        &'static sig::RsaSignatureEncoding,
        sig::UnparsedPublicKey<Vec<u8>>,
        SystemRandom,
    ),
}

impl RawKey {
    /// Sign `m`; the signature bytes.
    pub fn sign(&self, m: &[u8]) -> Result<Vec<u8>, String> {
        match self {
            RawKey::Ed25519(kp, _) => Ok(kp.sign(m).as_ref().to_vec()),
            RawKey::Ecdsa(kp, _, rng) => kp
                .sign(rng, m)
                .map(|s| s.as_ref().to_vec())
                .map_err(|_| "ECDSA sign failed".to_string()),
            RawKey::Hmac(k) => Ok(hmac::sign(k, m).as_ref().to_vec()),
            RawKey::Rsa(kp, enc, _, rng) => {
                let mut out = vec![0u8; kp.public_modulus_len()];
                kp.sign(*enc, rng, m, &mut out)
                    .map_err(|_| "RSA sign failed".to_string())?;
                Ok(out)
            }
        }
    }

    /// Sign `m` without keeping the signature (the timed `raw` sign: no allocation for ECDSA,
    /// Ed25519 and HMAC, whose results stay in aws-lc-rs's fixed-size buffers).
    pub fn sign_len(&self, m: &[u8]) -> Result<usize, String> {
        match self {
            RawKey::Ed25519(kp, _) => Ok(std::hint::black_box(kp.sign(m)).as_ref().len()),
            RawKey::Ecdsa(kp, _, rng) => kp
                .sign(rng, m)
                .map(|s| std::hint::black_box(s).as_ref().len())
                .map_err(|_| "ECDSA sign failed".to_string()),
            RawKey::Hmac(k) => Ok(std::hint::black_box(hmac::sign(k, m)).as_ref().len()),
            RawKey::Rsa(..) => self.sign(m).map(|s| s.len()),
        }
    }

    pub fn verify(&self, m: &[u8], s: &[u8]) -> bool {
        match self {
            RawKey::Ed25519(_, p) | RawKey::Ecdsa(_, p, _) => p.verify_sig(m, s).is_ok(),
            RawKey::Hmac(k) => hmac::verify(k, m, s).is_ok(),
            RawKey::Rsa(_, _, p, _) => p.verify(m, s).is_ok(),
        }
    }
}

/// One algorithm's key in every shape the three contenders need.
pub struct Keys {
    pub alg: &'static str,
    /// Private key as PKCS#8 PEM (ours and httpsig), or the base64 secret for HMAC.
    pub private_text: String,
    pub raw: RawKey,
}

fn pem(label: &str, der: &[u8]) -> String {
    let b = B64.encode(der);
    let mut s = format!("-----BEGIN {label}-----\n");
    for chunk in b.as_bytes().chunks(64) {
        s.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        s.push('\n');
    }
    s.push_str(&format!("-----END {label}-----\n"));
    s
}

/// Fresh keys for `alg` (one of [`ALGORITHMS`]).
pub fn keys(alg: &'static str) -> Result<Keys, String> {
    let rng = SystemRandom::new();
    let e = |what: &str| format!("{alg}: {what}");
    match alg {
        "ed25519" => {
            let doc = Ed25519KeyPair::generate_pkcs8(&rng).map_err(|_| e("key generation"))?;
            let kp = Ed25519KeyPair::from_pkcs8(doc.as_ref()).map_err(|_| e("key"))?;
            let public = ParsedPublicKey::new(&sig::ED25519, kp.public_key().as_ref())
                .map_err(|_| e("public key"))?;
            Ok(Keys {
                alg,
                private_text: pem("PRIVATE KEY", doc.as_ref()),
                raw: RawKey::Ed25519(kp, public),
            })
        }
        "ecdsa-p256-sha256" | "ecdsa-p384-sha384" => {
            let (signing, verifying) = if alg == "ecdsa-p256-sha256" {
                (
                    &sig::ECDSA_P256_SHA256_FIXED_SIGNING,
                    &sig::ECDSA_P256_SHA256_FIXED,
                )
            } else {
                (
                    &sig::ECDSA_P384_SHA384_FIXED_SIGNING,
                    &sig::ECDSA_P384_SHA384_FIXED,
                )
            };
            let doc = EcdsaKeyPair::generate_pkcs8(signing, &rng).map_err(|_| e("generate"))?;
            let kp = EcdsaKeyPair::from_pkcs8(signing, doc.as_ref()).map_err(|_| e("key"))?;
            let public = ParsedPublicKey::new(verifying, kp.public_key().as_ref())
                .map_err(|_| e("public key"))?;
            Ok(Keys {
                alg,
                private_text: pem("PRIVATE KEY", doc.as_ref()),
                raw: RawKey::Ecdsa(kp, public, rng),
            })
        }
        "hmac-sha256" => {
            let mut secret = [0u8; 64];
            aws_lc_rs::rand::fill(&mut secret).map_err(|_| e("random secret"))?;
            Ok(Keys {
                alg,
                private_text: B64.encode(secret),
                raw: RawKey::Hmac(Box::new(hmac::Key::new(hmac::HMAC_SHA256, &secret))),
            })
        }
        "rsa-pss-sha512" | "rsa-v1_5-sha256" => {
            use aws_lc_rs::encoding::AsDer;
            let kp = rsa::KeyPair::generate(rsa::KeySize::Rsa2048).map_err(|_| e("generate"))?;
            let der = kp.as_der().map_err(|_| e("PKCS#8"))?;
            let (enc, params): (&'static sig::RsaSignatureEncoding, _) = if alg == "rsa-pss-sha512"
            {
                (&sig::RSA_PSS_SHA512, &sig::RSA_PSS_2048_8192_SHA512)
            } else {
                (&sig::RSA_PKCS1_SHA256, &sig::RSA_PKCS1_2048_8192_SHA256)
            };
            let public = sig::UnparsedPublicKey::new(params, kp.public_key().as_ref().to_vec());
            Ok(Keys {
                alg,
                private_text: pem("PRIVATE KEY", der.as_ref()),
                raw: RawKey::Rsa(Box::new(kp), enc, public, rng),
            })
        }
        other => Err(format!(
            "unknown algorithm {other:?}; known: {}",
            ALGORITHMS.join(", ")
        )),
    }
}

/// The httpsig crate's inputs: its parameters and the component values an integrator extracts.
pub struct HttpsigInput {
    pub params: HttpSignatureParams,
    pub values: Vec<(HttpMessageComponentId, Vec<String>)>,
}

/// httpsig's view of `params` over `msg`, the values computed by our component code (so both
/// sign the same base; checked by [`httpsig_base`] against ours by the caller).
pub fn httpsig_input(msg: &HttpMessage, params: &SignatureParams) -> Result<HttpsigInput, String> {
    let text = params.serialize();
    let hp = HttpSignatureParams::try_from(text.as_str())
        .map_err(|e| format!("httpsig cannot parse the parameters {text}: {e}"))?;
    let mut values = Vec::new();
    for (id, ours) in hp.covered_components.iter().zip(&params.components) {
        let v = http_sig::component_value(msg, None, ours).map_err(|e| e.to_string())?;
        values.push((id.clone(), vec![v]));
    }
    Ok(HttpsigInput { params: hp, values })
}

/// httpsig's signature base from the extracted values.
pub fn httpsig_base(input: &HttpsigInput) -> Result<HttpSignatureBase, String> {
    let lines: Vec<HttpMessageComponent> = input
        .values
        .iter()
        .map(|(id, v)| HttpMessageComponent::try_from((id, v.as_slice())))
        .collect::<Result<_, _>>()
        .map_err(|e| format!("httpsig component: {e}"))?;
    HttpSignatureBase::try_new(&lines, &input.params).map_err(|e| format!("httpsig base: {e}"))
}

/// httpsig's key.
pub enum HttpsigKey {
    Secret(SecretKey),
    Shared(SharedKey),
}

pub fn httpsig_key(k: &Keys) -> Result<HttpsigKey, String> {
    let name: AlgorithmName = k
        .alg
        .parse()
        .map_err(|e| format!("httpsig has no algorithm {}: {e}", k.alg))?;
    if k.alg == "hmac-sha256" {
        SharedKey::from_base64(&name, &k.private_text)
            .map(HttpsigKey::Shared)
            .map_err(|e| format!("httpsig HMAC key: {e}"))
    } else {
        SecretKey::from_pem(&name, &k.private_text)
            .map(HttpsigKey::Secret)
            .map_err(|e| format!("httpsig {} key: {e}", k.alg))
    }
}

impl HttpsigKey {
    /// Sign: the `Signature-Input` and `Signature` values.
    pub fn sign(&self, input: &HttpsigInput) -> Result<(String, String), String> {
        let base = httpsig_base(input)?;
        let h = match self {
            HttpsigKey::Secret(s) => base.build_signature_headers(s, Some("sig1")),
            HttpsigKey::Shared(s) => base.build_signature_headers(s, Some("sig1")),
        }
        .map_err(|e| format!("httpsig sign: {e}"))?;
        Ok((h.signature_input_header_value(), h.signature_header_value()))
    }

    /// Verify the fields (`sig1=...`) over the input.
    pub fn verify(&self, input: &HttpsigInput, sig_field: &str, input_field: &str) -> bool {
        let Ok(map) = HttpSignatureHeaders::try_parse(sig_field, input_field) else {
            return false;
        };
        let (Some(h), Ok(base)) = (map.get("sig1"), httpsig_base(input)) else {
            return false;
        };
        match self {
            HttpsigKey::Secret(s) => base.verify_signature_headers(s, h),
            HttpsigKey::Shared(s) => base.verify_signature_headers(s, h),
        }
        .is_ok()
    }
}

/// What one contender did with one operation.
#[derive(Debug, Clone, PartialEq)]
pub struct Stats {
    pub ops: u64,
    pub ops_per_sec: f64,
    pub p50_us: f64,
    pub p99_us: f64,
}

/// Fewest timed calls per measurement, whatever the time budget.
pub const MIN_CALLS: usize = 30;
/// Most timed calls kept per measurement (the per-call samples are held for the percentiles).
pub const MAX_CALLS: usize = 2_000_000;

/// Time `op` call by call for `budget` (at least [`MIN_CALLS`]), after a warm-up of a tenth
/// of it; `setup` runs before each call, outside the timer.
pub fn measure<S, T>(
    budget: Duration,
    mut setup: impl FnMut() -> S,
    mut op: impl FnMut(S) -> Result<T, String>,
) -> Result<Stats, String> {
    let warm = Instant::now();
    while warm.elapsed() < budget / 10 {
        std::hint::black_box(op(setup())?);
    }
    let mut samples: Vec<u64> = Vec::new();
    let mut total = Duration::ZERO;
    while (samples.len() < MIN_CALLS || total < budget) && samples.len() < MAX_CALLS {
        let s = setup();
        let t = Instant::now();
        let out = op(s);
        let d = t.elapsed();
        std::hint::black_box(out?);
        total += d;
        samples.push(d.as_nanos() as u64);
    }
    samples.sort_unstable();
    let pct = |p: f64| {
        let i = ((p / 100.0) * (samples.len() - 1) as f64).round() as usize;
        samples[i.min(samples.len() - 1)] as f64 / 1000.0
    };
    Ok(Stats {
        ops: samples.len() as u64,
        ops_per_sec: samples.len() as f64 / total.as_secs_f64().max(f64::MIN_POSITIVE),
        p50_us: pct(50.0),
        p99_us: pct(99.0),
    })
}

/// One row of the result: an algorithm, an operation, the three contenders.
#[derive(Debug, Clone)]
pub struct Row {
    pub alg: &'static str,
    /// `sign` or `verify`.
    pub op: &'static str,
    pub ours: Stats,
    pub raw: Stats,
    /// `Err(why)` when the httpsig crate cannot do it here.
    pub httpsig: Result<Stats, String>,
    pub signature_bytes: usize,
}

impl Row {
    /// Time per call of ours over raw (1.0 = no cost beyond the primitive).
    pub fn ours_over_raw(&self) -> f64 {
        self.raw.ops_per_sec / self.ours.ops_per_sec
    }
    pub fn httpsig_over_raw(&self) -> Option<f64> {
        self.httpsig
            .as_ref()
            .ok()
            .map(|h| self.raw.ops_per_sec / h.ops_per_sec)
    }
}

/// The whole run's inputs.
pub struct Setup {
    pub msg: HttpMessage,
    /// Covered components and parameters (keyid and alg are set per algorithm).
    pub params: SignatureParams,
    pub budget: Duration,
}

/// Measure `alg`: sign and verify rows.
pub fn run_alg(setup: &Setup, alg: &'static str) -> Result<[Row; 2], String> {
    let k = keys(alg)?;
    let a: Algorithm = alg.parse().map_err(|e: http_sig::Error| e.to_string())?;
    let key = Key::from_bytes(k.private_text.as_bytes()).map_err(|e| format!("{alg}: {e}"))?;
    let mut params = setup.params.clone();
    params.remove_param("alg");
    params
        .set_keyid(&format!("bench-{alg}"))
        .map_err(|e| e.to_string())?;
    let signer = Signer::new(key.clone(), Some(a))
        .map_err(|e| format!("{alg}: {e}"))?
        .with_keyid(format!("bench-{alg}"));
    let base = http_sig::signature_base(&setup.msg, None, &params).map_err(|e| e.to_string())?;

    // ours
    let sign_ours = measure(
        setup.budget,
        || setup.msg.clone(),
        |mut m| {
            signer
                .sign_message(&mut m, None, "sig1", &params)
                .map_err(|e| e.to_string())
                .map(|_| m)
        },
    )?;
    let mut signed = setup.msg.clone();
    let signature = signer
        .sign_message(&mut signed, None, "sig1", &params)
        .map_err(|e| e.to_string())?;
    let verifier = Verifier::new(key, Some(a));
    let now = params
        .created()
        .map(|c| c as u64 + 1)
        .unwrap_or(CREATED + 1);
    let verify_ours = measure(
        setup.budget,
        || (),
        |()| {
            verifier
                .verify(&signed, None, Some("sig1"), now)
                .map_err(|e| format!("{alg}: our verify failed: {e}"))
        },
    )?;

    // raw
    let bytes = base.as_bytes();
    let sign_raw = measure(setup.budget, || (), |()| k.raw.sign_len(bytes))?;
    // ECDSA and RSA-PSS signatures are randomized, but each verifies: a failure is a
    // disagreement between ours and the primitive on the base.
    if !k.raw.verify(bytes, &signature) {
        return Err(format!(
            "{alg}: our signature does not verify with the primitive"
        ));
    }
    let verify_raw = measure(
        setup.budget,
        || (),
        |()| {
            if k.raw.verify(bytes, &signature) {
                Ok(())
            } else {
                Err(format!("{alg}: the primitive rejects our signature"))
            }
        },
    )?;

    // httpsig
    let hs = httpsig_input(&setup.msg, &params).and_then(|input| {
        let theirs = httpsig_base(&input)?.to_string();
        if theirs != base {
            return Err("its signature base differs from ours on this message".to_string());
        }
        Ok((input, httpsig_key(&k)?))
    });
    let (sign_hs, verify_hs) = match &hs {
        Ok((input, hk)) => {
            let s = measure(setup.budget, || (), |()| hk.sign(input));
            let sig_field = format!("sig1=:{}:", B64.encode(&signature));
            let input_field = format!("sig1={}", params.serialize());
            let v = measure(
                setup.budget,
                || (),
                |()| {
                    if hk.verify(input, &sig_field, &input_field) {
                        Ok(())
                    } else {
                        Err("httpsig rejects our signature".to_string())
                    }
                },
            );
            (s, v)
        }
        Err(e) => (Err(e.clone()), Err(e.clone())),
    };
    Ok([
        Row {
            alg,
            op: "sign",
            ours: sign_ours,
            raw: sign_raw,
            httpsig: sign_hs,
            signature_bytes: signature.len(),
        },
        Row {
            alg,
            op: "verify",
            ours: verify_ours,
            raw: verify_raw,
            httpsig: verify_hs,
            signature_bytes: signature.len(),
        },
    ])
}

/// The default parameters: [`COMPONENTS`], `created` = [`CREATED`].
pub fn default_params() -> SignatureParams {
    let list: Vec<String> = COMPONENTS.iter().map(|c| format!("\"{c}\"")).collect();
    SignatureParams::parse(&format!("({});created={CREATED}", list.join(" ")))
        .expect("the built-in parameters parse")
}

//! RFC 9421 signing and verification: our `http-sig` crate (`ours`) against the aws-lc-rs
//! primitive on the same signature-base bytes (`raw`) and the `httpsig` crate (`httpsig_crate`).
//!
//! Groups `http_sig_sign` and `http_sig_verify`; functions `ours`, `raw`, `httpsig_crate`;
//! parameter = algorithm. The message is a realistic request with 10 header fields; the covered
//! components give a signature base of about 330 bytes. `ours` and `httpsig_crate` include
//! the whole operation on an already parsed message: component values, base construction,
//! signing, and the Signature-Input / Signature values. Run with `cargo xtask bench http-sig`,
//! which prints the ratios to `raw`.

use std::hint::black_box;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{self as sig, EcdsaKeyPair, Ed25519KeyPair, KeyPair};
use aws_lc_rs::{hmac, signature::ParsedPublicKey};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use criterion::{BatchSize, BenchmarkId, Criterion, criterion_group, criterion_main};
use http_sig::{HttpMessage, Key, SignatureParams, Signer, Verifier, signature_base};
use httpsig::prelude::message_component::{HttpMessageComponent, HttpMessageComponentId};
use httpsig::prelude::*;

/// A realistic API request: 10 header fields and a JSON body.
const REQUEST: &str = "POST /v1/orders?customer=4711&expand=items HTTP/1.1\r\n\
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

const COMPONENTS: &[&str] = &[
    "@method",
    "@authority",
    "@path",
    "content-type",
    "content-length",
    "content-digest",
];
const CREATED: u64 = 1_618_884_473;

const ED25519_PKCS8_PEM: &str = "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIJ+DYvh6SEqVTm50DFtMDoQikTmiCqirVv9mWG9qfSnF\n-----END PRIVATE KEY-----\n";
const SHARED_SECRET_B64: &str =
    "uzvJfB4u3N0Jy4T7NZ75MDVcr8zSTInedJtkgcu46YW4XByzNJjxBdtjUkdJPBtbmHhIDi6pcl8jsasjlTMtDQ==";

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

fn pem_der(text: &str) -> Vec<u8> {
    let body: String = text.lines().filter(|l| !l.starts_with("-----")).collect();
    B64.decode(body).expect("bench key PEM")
}

/// The aws-lc-rs primitive with its key already prepared (the same preparation our `Key` does
/// at load time), so `raw` times the primitive alone.
enum RawKey {
    Ed25519(Ed25519KeyPair, ParsedPublicKey),
    Ecdsa(EcdsaKeyPair, ParsedPublicKey, SystemRandom),
    Hmac(Box<hmac::Key>),
}

impl RawKey {
    /// Sign; the result stays in aws-lc-rs's fixed-size buffer (no allocation), its length is
    /// returned through `black_box`.
    fn sign(&self, m: &[u8]) -> usize {
        match self {
            RawKey::Ed25519(kp, _) => black_box(kp.sign(m)).as_ref().len(),
            RawKey::Ecdsa(kp, _, rng) => {
                black_box(kp.sign(rng, m).expect("raw sign")).as_ref().len()
            }
            RawKey::Hmac(k) => black_box(hmac::sign(k, m)).as_ref().len(),
        }
    }

    fn verify(&self, m: &[u8], s: &[u8]) -> bool {
        match self {
            RawKey::Ed25519(_, p) | RawKey::Ecdsa(_, p, _) => p.verify_sig(m, s).is_ok(),
            RawKey::Hmac(k) => hmac::verify(k, m, s).is_ok(),
        }
    }
}

/// One algorithm's keys in every shape the three contenders need.
struct Keys {
    alg: &'static str,
    /// Private key as PKCS#8 PEM (ours and httpsig), or the base64 secret for HMAC.
    private_text: String,
    raw: RawKey,
}

fn keys(alg: &'static str) -> Keys {
    let rng = SystemRandom::new();
    match alg {
        "ed25519" => {
            let kp = Ed25519KeyPair::from_pkcs8_maybe_unchecked(&pem_der(ED25519_PKCS8_PEM))
                .expect("RFC ed25519 key");
            let public =
                ParsedPublicKey::new(&sig::ED25519, kp.public_key().as_ref()).expect("ed25519 pub");
            Keys {
                alg,
                private_text: ED25519_PKCS8_PEM.to_string(),
                raw: RawKey::Ed25519(kp, public),
            }
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
            let doc = EcdsaKeyPair::generate_pkcs8(signing, &rng).expect("generate EC key");
            let kp = EcdsaKeyPair::from_pkcs8(signing, doc.as_ref()).expect("EC key");
            let public = ParsedPublicKey::new(verifying, kp.public_key().as_ref()).expect("EC pub");
            Keys {
                alg,
                private_text: pem("PRIVATE KEY", doc.as_ref()),
                raw: RawKey::Ecdsa(kp, public, rng),
            }
        }
        _ => {
            let secret = B64.decode(SHARED_SECRET_B64).expect("secret");
            Keys {
                alg,
                private_text: SHARED_SECRET_B64.to_string(),
                raw: RawKey::Hmac(Box::new(hmac::Key::new(hmac::HMAC_SHA256, &secret))),
            }
        }
    }
}

fn params_string() -> String {
    let list: Vec<String> = COMPONENTS.iter().map(|c| format!("\"{c}\"")).collect();
    format!("({});created={CREATED};keyid=\"bench-key\"", list.join(" "))
}

/// The httpsig crate's inputs: component ids with the field values an integrator extracts.
struct HttpsigInput {
    params: HttpSignatureParams,
    values: Vec<(HttpMessageComponentId, Vec<String>)>,
}

fn httpsig_input(msg: &HttpMessage) -> HttpsigInput {
    let params = HttpSignatureParams::try_from(params_string().as_str()).expect("httpsig params");
    let values = params
        .covered_components
        .iter()
        .map(|id| {
            let name = id.to_string().trim_matches('"').to_string();
            let v = match name.as_str() {
                "@method" => vec!["POST".to_string()],
                "@authority" => vec!["api.example.com".to_string()],
                "@path" => vec!["/v1/orders".to_string()],
                field => msg.header_values(field).map(str::to_string).collect(),
            };
            (id.clone(), v)
        })
        .collect();
    HttpsigInput { params, values }
}

fn httpsig_base(input: &HttpsigInput) -> HttpSignatureBase {
    let lines: Vec<HttpMessageComponent> = input
        .values
        .iter()
        .map(|(id, v)| HttpMessageComponent::try_from((id, v.as_slice())).expect("component"))
        .collect();
    HttpSignatureBase::try_new(&lines, &input.params).expect("httpsig base")
}

enum HttpsigKey {
    Secret(SecretKey),
    Shared(SharedKey),
}

fn httpsig_key(k: &Keys) -> HttpsigKey {
    let name: AlgorithmName = k.alg.parse().expect("alg");
    if k.alg == "hmac-sha256" {
        HttpsigKey::Shared(
            SharedKey::from_base64(&name, &k.private_text).expect("httpsig hmac key"),
        )
    } else {
        HttpsigKey::Secret(SecretKey::from_pem(&name, &k.private_text).expect("httpsig key"))
    }
}

const ALGS: &[&str] = &[
    "ed25519",
    "ecdsa-p256-sha256",
    "ecdsa-p384-sha384",
    "hmac-sha256",
];

fn bench(c: &mut Criterion) {
    let msg = HttpMessage::parse(REQUEST.as_bytes()).expect("bench request");
    let params = SignatureParams::parse(&params_string()).expect("params");
    let base = signature_base(&msg, None, &params).expect("base");
    eprintln!(
        "http_sig bench: signature base {} bytes, request with {} header fields",
        base.len(),
        msg.headers.len()
    );
    let hs_input = httpsig_input(&msg);
    // The two implementations must agree on the base, or the comparison is meaningless.
    assert_eq!(
        httpsig_base(&hs_input).to_string(),
        base,
        "httpsig base differs"
    );

    let mut sign_group = c.benchmark_group("http_sig_sign");
    let all: Vec<Keys> = ALGS.iter().map(|a| keys(a)).collect();
    for k in &all {
        let key = Key::from_bytes(k.private_text.as_bytes()).expect("our key");
        let signer = Signer::new(key, Some(k.alg.parse().expect("alg"))).expect("signer");
        // Timed: base construction + signing + Signature-Input / Signature serialized into the
        // message. The message clone (and the drop of the output) is untimed setup.
        sign_group.bench_with_input(BenchmarkId::new("ours", k.alg), &msg, |b, msg| {
            b.iter_batched(
                || msg.clone(),
                |mut m| {
                    signer
                        .sign_message(&mut m, None, "sig1", black_box(&params))
                        .expect("sign");
                    m
                },
                BatchSize::SmallInput,
            )
        });
        // Timed: the primitive alone on the same base bytes.
        sign_group.bench_with_input(BenchmarkId::new("raw", k.alg), &base, |b, base| {
            b.iter(|| k.raw.sign(black_box(base.as_bytes())))
        });
        let hk = httpsig_key(k);
        sign_group.bench_with_input(
            BenchmarkId::new("httpsig_crate", k.alg),
            &hs_input,
            |b, input| {
                b.iter(|| {
                    let base = httpsig_base(black_box(input));
                    let h = match &hk {
                        HttpsigKey::Secret(s) => base.build_signature_headers(s, Some("sig1")),
                        HttpsigKey::Shared(s) => base.build_signature_headers(s, Some("sig1")),
                    }
                    .expect("httpsig sign");
                    (h.signature_input_header_value(), h.signature_header_value())
                })
            },
        );
    }
    sign_group.finish();

    let mut verify_group = c.benchmark_group("http_sig_verify");
    for k in &all {
        let key = Key::from_bytes(k.private_text.as_bytes()).expect("our key");
        let alg = k.alg.parse().expect("alg");
        let signer = Signer::new(key.clone(), Some(alg)).expect("signer");
        let mut signed = msg.clone();
        let signature = signer
            .sign_message(&mut signed, None, "sig1", &params)
            .expect("sign");
        let verifier = Verifier::new(key, Some(alg));
        // Timed: parse Signature-Input / Signature + rebuild the base + verify (message already
        // parsed, as for httpsig_crate, whose component values are extracted in setup).
        verify_group.bench_with_input(BenchmarkId::new("ours", k.alg), &signed, |b, m| {
            b.iter(|| {
                verifier
                    .verify(black_box(m), None, Some("sig1"), CREATED + 1)
                    .expect("verify")
            })
        });
        verify_group.bench_with_input(BenchmarkId::new("raw", k.alg), &base, |b, base| {
            b.iter(|| assert!(k.raw.verify(black_box(base.as_bytes()), &signature)))
        });
        let hk = httpsig_key(k);
        let sig_field = format!("sig1=:{}:", B64.encode(&signature));
        let input_field = format!("sig1={}", params_string());
        verify_group.bench_with_input(
            BenchmarkId::new("httpsig_crate", k.alg),
            &hs_input,
            |b, input| {
                b.iter(|| {
                    let map =
                        HttpSignatureHeaders::try_parse(&sig_field, &input_field).expect("parse");
                    let h = map.get("sig1").expect("sig1");
                    let base = httpsig_base(black_box(input));
                    match &hk {
                        HttpsigKey::Secret(s) => base.verify_signature_headers(s, h),
                        HttpsigKey::Shared(s) => base.verify_signature_headers(s, h),
                    }
                    .expect("httpsig verify")
                })
            },
        );
    }
    verify_group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

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

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use criterion::{BatchSize, BenchmarkId, Criterion, criterion_group, criterion_main};
use http_sig::{HttpMessage, Key, SignatureParams, Signer, Verifier, signature_base};
// The contenders' glue is shared with `sigharness bench http-sig` (the user's benchmark).
use sigharness::bench::http_sig::{
    CREATED, Keys, REQUEST, default_params, httpsig_base, httpsig_input, httpsig_key, keys,
};

fn params_string() -> String {
    let mut p = default_params();
    p.set_keyid("bench-key").expect("keyid");
    p.serialize()
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
    let hs_input = httpsig_input(&msg, &params).expect("httpsig input");
    // The two implementations must agree on the base, or the comparison is meaningless.
    assert_eq!(
        httpsig_base(&hs_input).expect("httpsig base").to_string(),
        base,
        "httpsig base differs"
    );

    let mut sign_group = c.benchmark_group("http_sig_sign");
    let all: Vec<Keys> = ALGS.iter().map(|a| keys(a).expect("bench keys")).collect();
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
            b.iter(|| {
                k.raw
                    .sign_len(black_box(base.as_bytes()))
                    .expect("raw sign")
            })
        });
        let hk = httpsig_key(k).expect("httpsig key");
        sign_group.bench_with_input(
            BenchmarkId::new("httpsig_crate", k.alg),
            &hs_input,
            |b, input| b.iter(|| hk.sign(black_box(input)).expect("httpsig sign")),
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
        let hk = httpsig_key(k).expect("httpsig key");
        let sig_field = format!("sig1=:{}:", B64.encode(&signature));
        let input_field = format!("sig1={}", params_string());
        verify_group.bench_with_input(
            BenchmarkId::new("httpsig_crate", k.alg),
            &hs_input,
            |b, input| b.iter(|| assert!(hk.verify(black_box(input), &sig_field, &input_field))),
        );
    }
    verify_group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

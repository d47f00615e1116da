//! RFC 9421 signing and verification: our `http-sig` crate (`ours`) against the aws-lc-rs
//! primitive on the same signature-base bytes (`raw`) and the `httpsig` crate (`httpsig_crate`).
//!
//! Groups `http_sig_sign` and `http_sig_verify`; functions `ours`, `raw`, `httpsig_crate`;
//! parameter = algorithm. The message is a realistic request with 10 header fields; the covered
//! components give a signature base of about 330 bytes. `ours` and `httpsig_crate` include
//! the whole operation on an already parsed message: component values, base construction,
//! signing, and the Signature-Input / Signature values. Run with `cargo xtask bench http-sig`,
//! which prints the ratios to `raw`.
//!
//! **Instruction counts** (issue 14 item 3; the stable figure on a shared machine): with
//! `SIGHARNESS_BENCH_IR=K` the binary skips criterion and re-runs itself under valgrind's
//! callgrind, where each contender's operation runs `K` times inside `sigharness_ir_probe`
//! (collection is on only inside it, and callgrind dumps after each call: one dump per
//! operation, in the order printed); it prints instructions per operation and the ratios to
//! `raw`. `cargo xtask bench http-sig` runs this after criterion when valgrind is installed.

use std::hint::black_box;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use criterion::{BatchSize, BenchmarkId, Criterion, criterion_group};
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

/// The one function callgrind collects in: `k` runs of `f`. Not inlined, so that
/// `--toggle-collect` and `--dump-after` find it by (demangled) name.
#[inline(never)]
fn sigharness_ir_probe(k: usize, f: &mut dyn FnMut()) {
    for _ in 0..k {
        f();
    }
}

/// The operations measured in instructions, in the order `ir_child` probes them: (op, alg,
/// contender), algorithm by algorithm.
fn ir_ops() -> Vec<(&'static str, &'static str, &'static str)> {
    let mut v = Vec::new();
    for &alg in ALGS {
        for op in ["sign", "verify"] {
            for who in ["raw", "ours", "httpsig_crate"] {
                v.push((op, alg, who));
            }
        }
    }
    v
}

/// Under callgrind: run every operation once (warm-up, outside the probe), then `k` times in the
/// probe. Message clones for `ours sign` are made before the probe (as criterion's setup).
fn ir_child(k: usize) {
    let msg = HttpMessage::parse(REQUEST.as_bytes()).expect("bench request");
    let params = SignatureParams::parse(&params_string()).expect("params");
    let base = signature_base(&msg, None, &params).expect("base");
    let hs_input = httpsig_input(&msg, &params).expect("httpsig input");
    for &alg in ALGS {
        let k_ = keys(alg).expect("bench keys");
        let key = Key::from_bytes(k_.private_text.as_bytes()).expect("our key");
        let a = k_.alg.parse().expect("alg");
        let signer = Signer::new(key.clone(), Some(a)).expect("signer");
        let verifier = Verifier::new(key, Some(a));
        let hk = httpsig_key(&k_).expect("httpsig key");
        let mut signed = msg.clone();
        let signature = signer
            .sign_message(&mut signed, None, "sig1", &params)
            .expect("sign");
        let sig_field = format!("sig1=:{}:", B64.encode(&signature));
        let input_field = format!("sig1={}", params_string());
        for who in ["raw", "ours", "httpsig_crate"] {
            let mut msgs: Vec<HttpMessage> = (0..=k).map(|_| msg.clone()).collect();
            let mut out: Vec<HttpMessage> = Vec::with_capacity(k + 1);
            let mut op: Box<dyn FnMut() + '_> = match who {
                "raw" => Box::new(|| {
                    black_box(k_.raw.sign_len(black_box(base.as_bytes())).expect("raw"));
                }),
                "ours" => Box::new(|| {
                    let mut m = msgs.pop().expect("a clone per run");
                    signer
                        .sign_message(&mut m, None, "sig1", black_box(&params))
                        .expect("sign");
                    out.push(m);
                }),
                _ => Box::new(|| {
                    black_box(hk.sign(black_box(&hs_input)).expect("httpsig sign"));
                }),
            };
            op();
            sigharness_ir_probe(k, &mut op);
        }
        for who in ["raw", "ours", "httpsig_crate"] {
            let mut op: Box<dyn FnMut() + '_> = match who {
                "raw" => {
                    Box::new(|| assert!(k_.raw.verify(black_box(base.as_bytes()), &signature)))
                }
                "ours" => Box::new(|| {
                    black_box(
                        verifier
                            .verify(black_box(&signed), None, Some("sig1"), CREATED + 1)
                            .expect("verify"),
                    );
                }),
                _ => {
                    Box::new(|| assert!(hk.verify(black_box(&hs_input), &sig_field, &input_field)))
                }
            };
            op();
            sigharness_ir_probe(k, &mut op);
        }
    }
}

/// The `summary:`/`totals:` figure of one callgrind dump file.
fn dump_total(text: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| {
            l.strip_prefix("summary:")
                .or_else(|| l.strip_prefix("totals:"))
        })
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
}

/// Run this binary under callgrind and print instructions per operation.
fn ir_parent(k: usize) {
    let dir = tempfile::tempdir().expect("tempdir");
    let exe = std::env::current_exe().expect("current exe");
    let out = dir.path().join("cg.out");
    let status = std::process::Command::new("valgrind")
        .args([
            "--tool=callgrind",
            "--collect-atstart=no",
            "--toggle-collect=*sigharness_ir_probe*",
            "--dump-after=http_sig::sigharness_ir_probe",
            "--dump-instr=no",
            "--compress-strings=no",
        ])
        .arg(format!("--callgrind-out-file={}", out.display()))
        .arg(&exe)
        .env("SIGHARNESS_BENCH_IR_CHILD", k.to_string())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status();
    match status {
        Ok(s) if s.success() => {}
        Ok(s) => {
            eprintln!("http_sig bench: valgrind ended with {s}; no instruction counts");
            return;
        }
        Err(e) => {
            eprintln!("http_sig bench: valgrind not run ({e}); no instruction counts");
            return;
        }
    }
    // Dumps are numbered cg.out.1, cg.out.2, ... in the order of the probe calls.
    let ops = ir_ops();
    let mut ir = std::collections::HashMap::new();
    for (i, op) in ops.iter().enumerate() {
        let f = dir.path().join(format!("cg.out.{}", i + 1));
        let Some(total) = std::fs::read_to_string(&f)
            .ok()
            .as_deref()
            .and_then(dump_total)
        else {
            eprintln!(
                "http_sig bench: callgrind dump {} missing or unreadable",
                f.display()
            );
            return;
        };
        ir.insert(*op, total as f64 / k as f64);
    }
    println!("\nhttp-sig: instructions per operation (callgrind, {k} runs each) and ratio to raw");
    println!(
        "{:<8} {:<18} {:>10} {:>10} {:>9} {:>12} {:>12}",
        "op", "algorithm", "raw Ir", "ours Ir", "ours/raw", "httpsig Ir", "httpsig/raw"
    );
    for op in ["sign", "verify"] {
        for &alg in ALGS {
            let (raw, ours, hs) = (
                ir[&(op, alg, "raw")],
                ir[&(op, alg, "ours")],
                ir[&(op, alg, "httpsig_crate")],
            );
            println!(
                "{op:<8} {alg:<18} {raw:>10.0} {ours:>10.0} {:>8.2}x {hs:>12.0} {:>11.2}x",
                ours / raw,
                hs / raw
            );
        }
    }
}

fn main() {
    let get = |v: &str| std::env::var(v).ok().and_then(|s| s.parse::<usize>().ok());
    if let Some(k) = get("SIGHARNESS_BENCH_IR_CHILD") {
        ir_child(k.max(1));
        return;
    }
    if let Some(k) = get("SIGHARNESS_BENCH_IR") {
        ir_parent(k.max(1));
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}

//! The RFC 9421 cases of the `http-sig` suite that are not vectors.
//!
//! Everything that is one operation on a message, a component or a key with an expected base,
//! value or verification result is a vector in `vectors/` (the old rule ids and the vectors they
//! became are listed in `vectors/README.md`). What stays here cannot be written as one vector:
//!
//! - `4.3/append-second-signature`: sign, sign the result again under another label, verify
//!   both (three operations on the target's own output);
//! - `3.3.6/ed25519-deterministic`: sign the RFC's B.2.6 example twice;
//! - `3.1/key-alg-mismatch/*`: hand the signer a key that does not fit the algorithm (vector
//!   groups are well formed by design, as in Wycheproof: a group's key always fits its `alg`);
//! - `3.3.3/hmac-constant-time-compare`: a property the adapter cannot observe (skipped).
//!
//! A rule is a row of [`rules`]: its data (slug, section, level, stimulus, requirement) beside
//! the one check it runs. Inputs are the built-in vectors' RFC test request (Appendix B.2), its
//! B.2.6 example and the RFC keys (Appendix B.1), never anything a target produced.

use std::sync::Arc;

use sigharness_vectors::{SignTest, VectorSet};

use super::raw::combined;
use super::target::{KeyInput, SignInput, TargetError, VerifyInput, VerifyPolicy};
use super::vectors::key_for;
use super::{Ctx, HsCase, case, unsupported_by_target};
use crate::runner::check::{Check, Stop, ensure, fail, pass, skip};
use crate::runner::{Error, Level};

/// What the rules sign with: the RFC example B.2.6 (`test-request`, ed25519) and the keys.
struct Fixtures {
    set: Arc<VectorSet>,
    /// RFC 9421 Appendix B.2.6 as a sign vector (message, parameters, label, signature).
    b26: SignTest,
}

impl Fixtures {
    fn new(set: Arc<VectorSet>) -> Result<Self, Error> {
        let b26 = set
            .sign_tests()
            .find(|(f, g, _)| {
                f.name == "rfc9421_sign_test.json" && g.spec_ref == "RFC 9421 Appendix B.2.6"
            })
            .map(|(_, _, t)| t.clone())
            .ok_or_else(|| Error::setup("the built-in vectors lack RFC 9421 Appendix B.2.6"))?;
        Ok(Fixtures { set, b26 })
    }

    /// RFC 9421 Appendix B.2 `test-request`.
    fn request(&self) -> &str {
        &self.b26.message
    }

    /// A key of `vectors/keys`, in the encoding the target prefers.
    fn key(&self, ctx: &Ctx, id: &str, private: bool) -> Result<KeyInput, Stop> {
        key_for(&self.set, id, None, private, ctx.target.key_formats())
    }

    /// Sign `msg`; a refusal fails the case with `step`'s name.
    fn sign(
        &self,
        ctx: &Ctx,
        step: &str,
        msg: &str,
        params: &str,
        label: &str,
        key: (&str, &str),
    ) -> Result<String, Stop> {
        let (key_id, alg) = key;
        let key = self.key(ctx, key_id, true)?;
        sign_raw(ctx, msg, params, label, &key, alg).map_err(|e| match e {
            TargetError::Unsupported(w) => unsupported_by_target(&w),
            e => fail(format!("{step} refused"), "a signed message", e.to_string()),
        })
    }

    /// Verify `label` of `msg` with key `key_id` (its public part) and `alg`.
    fn verify(
        &self,
        ctx: &Ctx,
        msg: &str,
        label: &str,
        key: (&str, &str),
        policy: &VerifyPolicy,
    ) -> Result<Result<(), TargetError>, Stop> {
        let (key_id, alg) = key;
        let key = self.key(ctx, key_id, false)?;
        Ok(ctx.target.verify(&VerifyInput {
            message: msg,
            request: None,
            scheme: "https",
            structured_fields: &[],
            label: Some(label),
            key: &key,
            alg,
            policy,
        }))
    }
}

fn sign_raw(
    ctx: &Ctx,
    msg: &str,
    params: &str,
    label: &str,
    key: &KeyInput,
    alg: &str,
) -> Result<String, TargetError> {
    ctx.target.sign(&SignInput {
        message: msg,
        request: None,
        scheme: "https",
        structured_fields: &[],
        signature_params: params,
        label,
        key,
        alg,
    })
}

/// The value of dictionary member `label` in field `field` of `msg` (simple split; the suite
/// only reads what targets wrote for labels it chose).
fn member(msg: &str, field: &str, label: &str) -> Option<String> {
    let v = combined(msg, field)?;
    let prefix = format!("{label}=");
    // Members are separated by ", " at the top level; inner lists contain no ", ".
    v.split(", ")
        .find_map(|m| m.strip_prefix(&prefix).map(str::to_string))
}

const ED25519: (&str, &str) = ("test-key-ed25519", "ed25519");
const HMAC: (&str, &str) = ("test-shared-secret", "hmac-sha256");
const CREATED: u64 = 1618884473;

type RuleFn = Box<dyn Fn(&Ctx, &Fixtures) -> Check + Send + Sync>;

/// One rule: its data beside its check.
struct Rule {
    /// The id after `http-sig/rules/`.
    slug: String,
    section: &'static str,
    level: Level,
    stimulus: String,
    requirement: &'static str,
    /// The statements of the RFC 9421 matrix (`vectors/data/rfc9421_statements.tsv`) it tests.
    statements: &'static [&'static str],
    check: RuleFn,
}

impl Rule {
    fn names(mut self, statements: &'static [&'static str]) -> Self {
        self.statements = statements;
        self
    }
}

fn rule(
    slug: impl Into<String>,
    section: &'static str,
    stimulus: impl Into<String>,
    requirement: &'static str,
    check: impl Fn(&Ctx, &Fixtures) -> Check + Send + Sync + 'static,
) -> Rule {
    Rule {
        slug: slug.into(),
        section,
        level: Level::Must,
        stimulus: stimulus.into(),
        requirement,
        statements: &[],
        check: Box::new(check),
    }
}

/// Every rule, in run order.
fn rules() -> Vec<Rule> {
    let mut out = vec![
        rule(
            "4.3/append-second-signature",
            "4.3",
            "sign a message (sig1, ed25519), then sign the result again (sig2, hmac-sha256)",
            "each signature is added under its own label; existing signatures are not overwritten or altered",
            append_second_signature,
        )
        .names(&["S4.3-2", "S4-2"]),
        rule(
            "3.3.6/ed25519-deterministic",
            "3.3.6",
            "sign RFC B.2.6 twice with test-key-ed25519",
            "Ed25519 signatures are deterministic (RFC 8032 §5.1.6): both equal the B.2.6 value",
            ed25519_deterministic,
        )
        .names(&["S3.1-1"]),
    ];
    // §3.1 step 5 / §3.3: a key that does not fit the algorithm is refused.
    for (slug, key_id, alg) in [
        (
            "ed25519-key-as-ecdsa-p256",
            "test-key-ed25519",
            "ecdsa-p256-sha256",
        ),
        ("ed25519-key-as-hmac", "test-key-ed25519", "hmac-sha256"),
        ("shared-secret-as-ed25519", "test-shared-secret", "ed25519"),
        (
            "ed25519-key-as-rsa-pss",
            "test-key-ed25519",
            "rsa-pss-sha512",
        ),
    ] {
        out.push(
            rule(
                format!("3.1/key-alg-mismatch/{slug}"),
                "3.1",
                format!("sign with a key that does not fit {alg}"),
                "the key material must be appropriate for the algorithm; otherwise signing fails",
                move |ctx, fx| key_alg_mismatch(ctx, fx, key_id, alg),
            )
            .names(&["S3.1-2"]),
        );
    }
    // §3.3.3 / §7.3.3: constant-time HMAC comparison is not observable through the adapter.
    out.push(rule(
        "3.3.3/hmac-constant-time-compare",
        "3.3.3",
        "HMAC verification compares MACs in constant time",
        "implementations compare HMAC values in constant time",
        |_, _| {
            Err(skip(
                "not observable through the adapter (timing is not asserted in tests); reviewed in code instead",
            ))
        },
    ));
    out
}

fn append_second_signature(ctx: &Ctx, fx: &Fixtures) -> Check {
    let p1 = r#"("@method" "@authority");created=1618884473;keyid="test-key-ed25519""#;
    let p2 = r#"("@method" "@path");created=1618884474;keyid="test-shared-secret""#;
    let once = fx.sign(ctx, "first signature", fx.request(), p1, "sig1", ED25519)?;
    let twice = fx
        .sign(ctx, "second signature", &once, p2, "sig2", HMAC)
        .map_err(|s| match s {
            Stop::Fail(e) => Stop::Fail(e.expected("a message with sig1 and sig2")),
            other => other,
        })?;
    let s1 = member(&once, "signature", "sig1");
    let kept = s1.is_some()
        && s1 == member(&twice, "signature", "sig1")
        && member(&twice, "signature", "sig2").is_some()
        && member(&twice, "signature-input", "sig1").is_some()
        && member(&twice, "signature-input", "sig2").is_some();
    ensure(kept, || {
        fail(
            "the second signature did not leave the first in place",
            format!("Signature with sig1={} and sig2", s1.unwrap_or_default()),
            combined(&twice, "signature").unwrap_or_default(),
        )
    })?;
    let policy = VerifyPolicy::at(CREATED + 10);
    let v1 = fx.verify(ctx, &twice, "sig1", ED25519, &policy)?;
    let v2 = fx.verify(ctx, &twice, "sig2", HMAC, &policy)?;
    match (v1, v2) {
        (Ok(()), Ok(())) => pass("both signatures present and verifying"),
        (Err(TargetError::Unsupported(w)), _) | (_, Err(TargetError::Unsupported(w))) => {
            Err(unsupported_by_target(&w))
        }
        (a, b) => Err(fail(
            "after appending, a signature no longer verifies",
            "sig1 and sig2 verify",
            format!("sig1: {a:?}; sig2: {b:?}"),
        )),
    }
}

fn ed25519_deterministic(ctx: &Ctx, fx: &Fixtures) -> Check {
    let b26 = &fx.b26;
    let mut seen = Vec::new();
    for _ in 0..2 {
        let m = fx.sign(
            ctx,
            "signing",
            &b26.message,
            &b26.signature_params,
            &b26.label,
            ED25519,
        )?;
        seen.push(member(&m, "signature", &b26.label).unwrap_or_default());
    }
    let want = format!(":{}:", b26.signature.as_deref().unwrap_or_default());
    ensure(seen.iter().all(|s| *s == want), || {
        fail(
            "Ed25519 signatures are not the RFC 8032 deterministic ones",
            want.clone(),
            seen.join(" then "),
        )
    })?;
    pass("deterministic, equal to RFC B.2.6")
}

fn key_alg_mismatch(ctx: &Ctx, fx: &Fixtures, key_id: &str, alg: &str) -> Check {
    let key = fx.key(ctx, key_id, true)?;
    let params = r#"("@method");created=1618884473"#;
    match sign_raw(ctx, fx.request(), params, "sig1", &key, alg) {
        Ok(m) => Err(fail(
            "a key/algorithm mismatch was accepted",
            "rejection (key_algorithm_mismatch)",
            format!("signed: {}", combined(&m, "signature").unwrap_or_default()),
        )),
        Err(TargetError::Unsupported(w)) => Err(unsupported_by_target(&w)),
        Err(e @ TargetError::Broken(_)) => Err(fail(
            "the target gave no usable answer",
            "rejection (key_algorithm_mismatch)",
            e.to_string(),
        )),
        Err(TargetError::Rejected { kind, message }) => {
            pass(format!("refused ({kind}: {message})")).map(|e| e.observed(kind))
        }
    }
}

/// Every rule case; `set` provides the RFC keys and examples (the built-in vectors).
pub fn cases(set: Arc<VectorSet>) -> Result<Vec<HsCase>, Error> {
    let fx = Arc::new(Fixtures::new(set)?);
    Ok(rules()
        .into_iter()
        .map(|r| {
            let meta = case(
                &format!("rules/{}", r.slug),
                r.section,
                r.level,
                r.stimulus,
                r.requirement,
            )
            .with_statements(r.statements.iter().copied());
            let (fx, check) = (fx.clone(), r.check);
            HsCase::sync(meta, move |ctx: &Ctx| check(ctx, &fx))
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixtures_are_the_rfc_b26_example() {
        let fx = Fixtures::new(Arc::new(VectorSet::builtin().unwrap())).unwrap();
        assert_eq!(fx.b26.label, "sig-b26");
        assert!(
            fx.request()
                .starts_with("POST /foo?param=Value&Pet=dog HTTP/1.1\r\n")
        );
        // RFC 9421 B.2.6, copied from the RFC text.
        assert_eq!(
            fx.b26.signature.as_deref(),
            Some(
                "wqcAqbmYJ2ji2glfAMaRy4gruYYnx2nEFN2HN6jrnDnQCK1u02Gb04v9EDgwUPiu4A0w6vuQv5lIp5WPpBKRCw=="
            )
        );
    }
}

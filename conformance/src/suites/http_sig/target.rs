//! The adapter between the `http-sig` suite and an implementation under test.
//!
//! In the manner of the rustls BoGo shim: every operation is expressed on raw HTTP/1.1 message
//! text and key bytes, and answers one of three ways: a result, a typed rejection
//! ([`TargetError::Rejected`], with a snake_case `kind` in the vocabulary of `http_sig::Error::kind`
//! where the target's error maps onto it), or [`TargetError::Unsupported`] when the
//! implementation cannot express the operation at all. "Unsupported" is kept distinct from
//! "wrong": a MUST case that meets it fails with that evidence, a SHOULD/MAY case is skipped.

use std::fmt;

/// A key as the vectors hold it: bytes plus the encoding named in `vectors/keys/index.json`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyInput {
    /// Key id (`test-key-ed25519`, ...), used as `keyid` when a case needs one.
    pub id: String,
    /// Encoding, as named in `vectors/keys/index.json`: `pem-pkcs8`, `pem-pkcs8-rsassa-pss`,
    /// `pem-spki`, `pem-sec1`, `pem-pkcs1-private`, `pem-pkcs1-public`, `jwk`, `base64`.
    pub format: String,
    /// Whether the material holds a private (or shared) key.
    pub private: bool,
    /// The file's bytes.
    pub bytes: Vec<u8>,
}

impl KeyInput {
    pub fn new(id: &str, format: &str, private: bool, bytes: impl Into<Vec<u8>>) -> Self {
        KeyInput {
            id: id.to_string(),
            format: format.to_string(),
            private,
            bytes: bytes.into(),
        }
    }

    /// The key bytes as UTF-8 text (PEM, JWK and base64 secrets are all text).
    pub fn text(&self) -> Result<&str, TargetError> {
        std::str::from_utf8(&self.bytes)
            .map_err(|_| TargetError::rejected("invalid_key", "key file is not UTF-8 text"))
    }
}

/// Input of [`HttpSigTarget::signature_base`].
#[derive(Clone, Copy, Debug)]
pub struct BaseInput<'a> {
    /// Raw HTTP/1.1 message (request or response).
    pub message: &'a str,
    /// The related request, for `;req` components of a response.
    pub request: Option<&'a str>,
    /// Scheme the message was received over (`https` unless a vector says otherwise).
    pub scheme: &'a str,
    /// Structured types the application declares for fields (`name`, `item|list|dictionary`),
    /// needed for `;sf` (RFC 9421 §2.1.1).
    pub structured_fields: &'a [(String, String)],
    /// The signature parameters as they appear in `Signature-Input` after `label=`:
    /// `("@method" "@path");created=1618884473;keyid="k"`.
    pub signature_params: &'a str,
}

/// Input of [`HttpSigTarget::sign`].
#[derive(Clone, Copy, Debug)]
pub struct SignInput<'a> {
    pub message: &'a str,
    pub request: Option<&'a str>,
    /// Scheme the message was received over (`https` unless a vector says otherwise).
    pub scheme: &'a str,
    /// Structured types the application declares for fields (`name`, `item|list|dictionary`),
    /// needed for `;sf` (RFC 9421 §2.1.1).
    pub structured_fields: &'a [(String, String)],
    /// Covered components and parameters, serialized as in `Signature-Input`, in the order the
    /// signer must keep.
    pub signature_params: &'a str,
    /// Label of the new signature.
    pub label: &'a str,
    pub key: &'a KeyInput,
    /// Algorithm name (`ed25519`, ...); the key must fit it.
    pub alg: &'a str,
}

/// What the verifier is asked to enforce beyond the signature itself (RFC 9421 §3.2.1).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VerifyPolicy {
    /// Verification time, seconds since the Unix epoch (targets must not read the clock).
    pub now: u64,
    /// Reject `created` older than this many seconds.
    pub max_age: Option<u64>,
    /// Allowed skew for `created` in the future, seconds. `None` = do not check.
    pub created_skew: Option<u64>,
    /// Reject when `expires` is before `now` (on by default in every case that sets a policy).
    pub check_expires: bool,
    /// Components that must be covered (serialized component ids, e.g. `"@method"`).
    pub required_components: Vec<String>,
    /// Signature parameters that must be present (e.g. `created`).
    pub required_params: Vec<String>,
    /// Nonces already seen (a replay cache pre-filled by the case).
    pub seen_nonces: Vec<String>,
    /// Required value of the `tag` parameter.
    pub required_tag: Option<String>,
    /// Longest `expires - created`, seconds (both required).
    pub max_validity: Option<u64>,
    /// Tolerance after `expires`, seconds.
    pub expires_skew: u64,
    /// Components that must not be covered.
    pub forbidden_components: Vec<String>,
    /// `content-digest` covered and matching the body (RFC 9530).
    pub require_content_digest: bool,
    /// keyids of revoked keys.
    pub revoked_keyids: Vec<String>,
    /// The verifier's keys as a JWK Set (JSON text), in place of `VerifyInput::key`: the
    /// signature's `keyid` selects the key; JWK `use` / `key_ops` honoured (RFC 7517 §4.2-4.3).
    pub key_set: Option<String>,
}

impl VerifyPolicy {
    /// Only the signature, and `expires` against `now`.
    pub fn at(now: u64) -> Self {
        VerifyPolicy {
            now,
            check_expires: true,
            ..VerifyPolicy::default()
        }
    }
}

/// Input of [`HttpSigTarget::verify`].
#[derive(Clone, Copy, Debug)]
pub struct VerifyInput<'a> {
    pub message: &'a str,
    pub request: Option<&'a str>,
    /// Scheme the message was received over (`https` unless a vector says otherwise).
    pub scheme: &'a str,
    /// Structured types the application declares for fields (`name`, `item|list|dictionary`),
    /// needed for `;sf` (RFC 9421 §2.1.1).
    pub structured_fields: &'a [(String, String)],
    /// The label to verify; `None` = the only signature in the message.
    pub label: Option<&'a str>,
    /// Verification key (public key, or the shared secret).
    pub key: &'a KeyInput,
    /// The algorithm the verifier has bound to this key.
    pub alg: &'a str,
    pub policy: &'a VerifyPolicy,
}

/// How an operation did not produce a result.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TargetError {
    /// The target refused the input. `kind` is a snake_case error kind (the `http_sig::Error::kind`
    /// vocabulary when the target's error maps onto it, else the target's own name).
    Rejected { kind: String, message: String },
    /// The target cannot express this operation (unimplemented feature, unloadable encoding).
    Unsupported(String),
    /// The target gave no usable answer (an external shim that crashed, hung, answered garbage
    /// or another request's id): a failure whatever the case expects, never a refusal.
    Broken(String),
}

impl TargetError {
    pub fn rejected(kind: impl Into<String>, message: impl Into<String>) -> Self {
        TargetError::Rejected {
            kind: kind.into(),
            message: message.into(),
        }
    }
    pub fn unsupported(what: impl Into<String>) -> Self {
        TargetError::Unsupported(what.into())
    }
    pub fn is_unsupported(&self) -> bool {
        matches!(self, TargetError::Unsupported(_))
    }
}

impl fmt::Display for TargetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TargetError::Rejected { kind, message } => write!(f, "rejected [{kind}]: {message}"),
            TargetError::Unsupported(w) => write!(f, "unsupported: {w}"),
            TargetError::Broken(w) => write!(f, "no answer: {w}"),
        }
    }
}

/// An RFC 9421 implementation under test.
pub trait HttpSigTarget: Send + Sync {
    /// Target name as given to `--target`.
    fn name(&self) -> &'static str;
    /// Key encodings this target prefers, best first (the suite hands over the first of a key's
    /// files in this order; empty = the key's first file).
    fn key_formats(&self) -> &'static [&'static str] {
        &[]
    }
    /// The signature base (RFC 9421 §2.5) for the covered components and parameters.
    fn signature_base(&self, input: &BaseInput<'_>) -> Result<String, TargetError>;
    /// Sign: the message text with `Signature-Input` and `Signature` added for `label`.
    fn sign(&self, input: &SignInput<'_>) -> Result<String, TargetError>;
    /// Verify the signature `label` under `policy`: `Ok(())` = accepted.
    fn verify(&self, input: &VerifyInput<'_>) -> Result<(), TargetError>;
}

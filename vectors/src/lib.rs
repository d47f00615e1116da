//! # sigharness-vectors: RFC 9421 test vectors and their loader
//!
//! Machine-readable, Wycheproof-style vectors for HTTP Message Signatures (RFC 9421), kept as JSON
//! under `vectors/data/` with the keys they reference under `vectors/keys/`. The format is
//! documented in `vectors/README.md`, with a JSON Schema per vector kind in `vectors/schema/`.
//! The vectors were computed by an independent Python generator (`vectors/tools/gen.py`) that
//! reproduces every RFC example byte for byte; they never come from the Rust implementation they
//! judge.
//!
//! This crate only loads and lints: it does no HTTP and no cryptography. Three vector kinds
//! ([`Operation`]): `base` (compute the signature base or reject), `sign` (sign and compare, exactly
//! for deterministic algorithms) and `verify` (verify a signed message under a [`Policy`]).
//!
//! ```no_run
//! let set = sigharness_vectors::VectorSet::builtin()?;
//! for (file, group, test) in set.base_tests() {
//!     let _ = (&file.name, &group.rule, &test.signature_params, &test.signature_base);
//! }
//! let _pem: &[u8] = set.key_bytes("test-key-ed25519", sigharness_vectors::KeyFormat::PemPkcs8)?;
//! # Ok::<(), sigharness_vectors::VectorError>(())
//! ```
//!
//! Every test states the requirement [`Level`] it is judged at (`MUST`, `SHOULD`, `MAY`); nothing
//! is inferred from prose. A sign or verify group may pin the encoding its key is handed over in
//! (`keyFormat`, see [`VectorSet::group_key`]).
//!
//! Loading rejects, with a [`VectorError`] naming file and test: unknown fields anywhere, a wrong
//! `numberOfTests`, duplicate `tcId`s, flags without a note, unknown error kinds, results
//! inconsistent with their fields (an invalid test without `errorKind`, a valid one without the
//! expected output, an `acceptable` one whose level is not `MAY`), and groups naming a key that the
//! key index does not have, that does not support the group's algorithm, or that has no file in
//! the group's `keyFormat`.
//!
//! [`VectorSet::builtin`] embeds every file of `data/` and `keys/` at build time (`build.rs`
//! generates the `include_str!` list), so the conformance binary is self-contained and adding a
//! vector, or a whole file, needs no Rust change. [`VectorSet::load_dir`] loads the same layout from
//! disk, for vendors' own vectors.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub mod statements;

mod builtin {
    include!(concat!(env!("OUT_DIR"), "/builtin.rs"));
}

/// Errors of this crate: each names the file (and test) at fault and what is wrong.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VectorError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{file}: invalid vector JSON: {source}")]
    Json {
        file: String,
        #[source]
        source: serde_json::Error,
    },
    #[error(
        "{file}: unknown schema {schema:?} (expected one of http_sig_base_schema.json, http_sig_sign_schema.json, http_sig_verify_schema.json)"
    )]
    UnknownSchema { file: String, schema: String },
    #[error("{file}: numberOfTests is {declared} but the file holds {actual} tests")]
    CountMismatch {
        file: String,
        declared: usize,
        actual: usize,
    },
    #[error("{file}: tcId {tc_id} occurs more than once")]
    DuplicateTcId { file: String, tc_id: u64 },
    #[error("{file}: tcId {tc_id} has flag {flag:?} that has no entry in `notes`")]
    UnknownFlag {
        file: String,
        tc_id: u64,
        flag: String,
    },
    #[error("{file}: tcId {tc_id}: {problem}")]
    Inconsistent {
        file: String,
        tc_id: u64,
        problem: String,
    },
    #[error("{file}: group {rule:?} references key {key_id:?}: {problem}")]
    GroupKey {
        file: String,
        rule: String,
        key_id: String,
        problem: String,
    },
    #[error("key {key_id:?} is not in keys/index.json")]
    UnknownKey { key_id: String },
    #[error("key {key_id:?} has no file in format {format} (it has: {available})")]
    NoKeyFormat {
        key_id: String,
        format: KeyFormat,
        available: String,
    },
    #[error("keys/index.json lists {path} for key {key_id:?} but the file is missing")]
    MissingKeyFile { key_id: String, path: String },
    #[error("{dir}: no vector files (*.json) found")]
    Empty { dir: PathBuf },
}

pub type Result<T, E = VectorError> = std::result::Result<T, E>;

/// The three vector kinds, one per JSON Schema.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Operation {
    /// Compute the signature base (RFC 9421 §2.5) or reject the input.
    Base,
    /// Sign: compute base and signature, then compare (exactly, or by verifying).
    Sign,
    /// Verify a signed message under a policy (RFC 9421 §3.2).
    Verify,
}

impl Operation {
    /// The schema file name a vector file of this kind declares in `schema`.
    pub fn schema_name(self) -> &'static str {
        match self {
            Operation::Base => "http_sig_base_schema.json",
            Operation::Sign => "http_sig_sign_schema.json",
            Operation::Verify => "http_sig_verify_schema.json",
        }
    }
    fn from_schema(s: &str) -> Option<Self> {
        [Operation::Base, Operation::Sign, Operation::Verify]
            .into_iter()
            .find(|o| o.schema_name() == s)
    }
}

/// RFC 9421 §6.2 initial registry contents.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Algorithm {
    #[serde(rename = "rsa-pss-sha512")]
    RsaPssSha512,
    #[serde(rename = "rsa-v1_5-sha256")]
    RsaV15Sha256,
    #[serde(rename = "hmac-sha256")]
    HmacSha256,
    #[serde(rename = "ecdsa-p256-sha256")]
    EcdsaP256Sha256,
    #[serde(rename = "ecdsa-p384-sha384")]
    EcdsaP384Sha384,
    #[serde(rename = "ed25519")]
    Ed25519,
}

impl Algorithm {
    /// The `alg` parameter value.
    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::RsaPssSha512 => "rsa-pss-sha512",
            Algorithm::RsaV15Sha256 => "rsa-v1_5-sha256",
            Algorithm::HmacSha256 => "hmac-sha256",
            Algorithm::EcdsaP256Sha256 => "ecdsa-p256-sha256",
            Algorithm::EcdsaP384Sha384 => "ecdsa-p384-sha384",
            Algorithm::Ed25519 => "ed25519",
        }
    }
    /// Same key and base give the same signature (RFC 9421 §7.3.5).
    pub fn is_deterministic(self) -> bool {
        matches!(
            self,
            Algorithm::RsaV15Sha256 | Algorithm::HmacSha256 | Algorithm::Ed25519
        )
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The requirement level a vector is judged at (RFC 2119), stated by the vector itself.
///
/// `MUST` unless the spec makes the behaviour optional (e.g. `;tr`, RFC 9421 §2.1.4: flag
/// `Trailers`); an `acceptable` vector is always `MAY` (either outcome conforms).
///
/// The same three words as `sigharness_report::Level`, kept apart on purpose: this crate is a
/// leaf (data and its loader only), so the suites map one onto the other
/// (`suites::http_sig::vectors::level`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Level {
    #[serde(rename = "MUST")]
    Must,
    #[serde(rename = "SHOULD")]
    Should,
    #[serde(rename = "MAY")]
    May,
}

impl Level {
    /// `MUST`, `SHOULD` or `MAY`.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Must => "MUST",
            Level::Should => "SHOULD",
            Level::May => "MAY",
        }
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Wycheproof result: `acceptable` means either outcome conforms; the flags say why.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TestResult {
    Valid,
    Invalid,
    Acceptable,
}

/// Stable error kinds an invalid vector expects (documented in `vectors/README.md`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    InvalidSignatureInput,
    InvalidSignatureHeader,
    LabelMissing,
    DuplicateLabel,
    MissingComponent,
    DuplicateComponent,
    InvalidComponent,
    UnsupportedComponentParameter,
    IncompatibleComponentParameters,
    StatusInRequest,
    ReqOnRequest,
    QueryParamMissing,
    QueryParamRepeated,
    DictionaryKeyMissing,
    InvalidStructuredField,
    NonAsciiValue,
    UnsupportedAlgorithm,
    KeyAlgorithmMismatch,
    UnknownKey,
    InvalidKey,
    BadBase64,
    SignatureMismatch,
    Expired,
    CreatedInFuture,
    TooOld,
    NonceReplayed,
    MissingRequiredComponent,
    MissingRequiredParameter,
    TagMismatch,
    /// The target URI cannot be formed: a malformed authority (empty host, userinfo, unclosed
    /// or invalid IP literal, zone id, bad port) or a fragment in the request-target.
    InvalidTargetUri,
    /// `expires - created` outside `1..=maxValidity`.
    ValidityWindow,
    /// A component the policy forbids is covered.
    ForbiddenComponent,
    /// Content-Digest does not match the body (RFC 9530).
    ContentDigestMismatch,
    /// The `keyid` names a revoked key.
    KeyRevoked,
    /// The key the `keyid` selects may not verify: its JWK `use` is not `sig`, or its
    /// `key_ops` lacks `verify` (RFC 7517 §4.2-4.3).
    KeyUseNotAllowed,
}

impl ErrorKind {
    /// The snake_case name used in the JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::InvalidSignatureInput => "invalid_signature_input",
            ErrorKind::InvalidSignatureHeader => "invalid_signature_header",
            ErrorKind::LabelMissing => "label_missing",
            ErrorKind::DuplicateLabel => "duplicate_label",
            ErrorKind::MissingComponent => "missing_component",
            ErrorKind::DuplicateComponent => "duplicate_component",
            ErrorKind::InvalidComponent => "invalid_component",
            ErrorKind::UnsupportedComponentParameter => "unsupported_component_parameter",
            ErrorKind::IncompatibleComponentParameters => "incompatible_component_parameters",
            ErrorKind::StatusInRequest => "status_in_request",
            ErrorKind::ReqOnRequest => "req_on_request",
            ErrorKind::QueryParamMissing => "query_param_missing",
            ErrorKind::QueryParamRepeated => "query_param_repeated",
            ErrorKind::DictionaryKeyMissing => "dictionary_key_missing",
            ErrorKind::InvalidStructuredField => "invalid_structured_field",
            ErrorKind::NonAsciiValue => "non_ascii_value",
            ErrorKind::UnsupportedAlgorithm => "unsupported_algorithm",
            ErrorKind::KeyAlgorithmMismatch => "key_algorithm_mismatch",
            ErrorKind::UnknownKey => "unknown_key",
            ErrorKind::InvalidKey => "invalid_key",
            ErrorKind::BadBase64 => "bad_base64",
            ErrorKind::SignatureMismatch => "signature_mismatch",
            ErrorKind::Expired => "expired",
            ErrorKind::CreatedInFuture => "created_in_future",
            ErrorKind::TooOld => "too_old",
            ErrorKind::NonceReplayed => "nonce_replayed",
            ErrorKind::MissingRequiredComponent => "missing_required_component",
            ErrorKind::MissingRequiredParameter => "missing_required_parameter",
            ErrorKind::TagMismatch => "tag_mismatch",
            ErrorKind::InvalidTargetUri => "invalid_target_uri",
            ErrorKind::ValidityWindow => "validity_window",
            ErrorKind::ForbiddenComponent => "forbidden_component",
            ErrorKind::ContentDigestMismatch => "content_digest_mismatch",
            ErrorKind::KeyRevoked => "key_revoked",
            ErrorKind::KeyUseNotAllowed => "key_use_not_allowed",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Kind of problem a flag's note describes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum BugType {
    /// Plain functionality every implementation needs.
    Basic,
    /// A boundary or rarely exercised but well-defined behaviour.
    EdgeCase,
    /// A canonicalization rule (how a component value is derived).
    Canonicalization,
    /// A check implementations commonly omit (accepting what must be rejected).
    MissingCheck,
    /// A bug observed in a named peer implementation.
    KnownBug,
    /// Verifier policy (time, replay, required coverage).
    Policy,
    /// A signature altered after signing.
    ModifiedSignature,
}

/// The explanation of one flag (Wycheproof `notes` entry).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Note {
    pub bug_type: BugType,
    pub description: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub effect: Option<String>,
    #[serde(default)]
    pub links: Vec<String>,
}

/// URI scheme the message was received over (`@scheme`, `@target-uri`); default `https`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scheme {
    Http,
    #[default]
    Https,
}

/// Structured field type the application knows a field to have (for the `sf` parameter).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SfType {
    Item,
    List,
    Dictionary,
}

/// How a signing vector's `signature` is judged.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SignatureCheck {
    /// Deterministic algorithm: the produced signature must equal `signature` byte for byte.
    Exact,
    /// Randomized algorithm: the produced signature must verify; `signature` is one valid value.
    Verify,
}

/// A group of `base` vectors about one rule.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct BaseGroup {
    /// Rule slug (README "Rules"), e.g. `derived-query-param`.
    pub rule: String,
    /// The RFC section the rule comes from, e.g. `RFC 9421 §2.2.8`.
    pub spec_ref: String,
    pub tests: Vec<BaseTest>,
}

/// Compute the signature base of `message` for `signature_params`, or reject.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct BaseTest {
    pub tc_id: u64,
    pub comment: String,
    pub flags: Vec<String>,
    /// The target message, raw HTTP/1.1 (CRLF line ends, UTF-8).
    pub message: String,
    /// The request that triggered `message` when `message` is a response (for `;req`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request: Option<String>,
    #[serde(default)]
    pub scheme: Scheme,
    /// Fields the application knows to be structured, and their type.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub structured_fields: BTreeMap<String, SfType>,
    /// The signature parameters: a serialized Inner List with parameters, exactly the value of a
    /// Signature-Input member, e.g. `("@method" "content-type");created=1618884473`.
    pub signature_params: String,
    /// The covered component identifiers, strictly serialized, when `signature_params` parses.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub components: Option<Vec<String>>,
    /// The expected signature base (LF line ends, no final newline); present when computable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature_base: Option<String>,
    /// The requirement level this vector is judged at.
    pub level: Level,
    /// The statements of the traceability matrix ([`statements::rfc9421`]) this vector tests.
    pub statements: Vec<String>,
    /// Why `level` is not the strongest level of `statements` (rare; checked by the lint).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub level_why: Option<String>,
    pub result: TestResult,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_kind: Option<ErrorKind>,
}

/// A group of `sign` vectors sharing a key and algorithm.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SignGroup {
    pub rule: String,
    pub spec_ref: String,
    /// Key id in `keys/index.json`; resolve with [`VectorSet::group_key`].
    pub key_id: String,
    pub alg: Algorithm,
    /// The encoding the key must be handed over in (a private file of the key); `None` = the
    /// one the implementation under test prefers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_format: Option<KeyFormat>,
    pub tests: Vec<SignTest>,
}

/// Sign `message` under `label` with `signature_params` (in that parameter order) and the group key.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SignTest {
    pub tc_id: u64,
    pub comment: String,
    pub flags: Vec<String>,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request: Option<String>,
    #[serde(default)]
    pub scheme: Scheme,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub structured_fields: BTreeMap<String, SfType>,
    pub label: String,
    pub signature_params: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub components: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature_base: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature_check: Option<SignatureCheck>,
    /// Standard base64 of the signature bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
    /// The whole Signature-Input field value after signing (earlier members kept, new one last).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature_input_header: Option<String>,
    /// The whole Signature field value after signing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature_header: Option<String>,
    /// The requirement level this vector is judged at.
    pub level: Level,
    /// The statements of the traceability matrix ([`statements::rfc9421`]) this vector tests.
    pub statements: Vec<String>,
    /// Why `level` is not the strongest level of `statements` (rare; checked by the lint).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub level_why: Option<String>,
    pub result: TestResult,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_kind: Option<ErrorKind>,
}

/// A group of `verify` vectors: the verifier is configured with this key and algorithm.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct VerifyGroup {
    pub rule: String,
    pub spec_ref: String,
    pub key_id: String,
    pub alg: Algorithm,
    /// The encoding the key must be handed over in; `None` = the one the implementation under
    /// test prefers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_format: Option<KeyFormat>,
    pub tests: Vec<VerifyTest>,
}

/// Verify the signature labelled `label` in `message` under `policy`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct VerifyTest {
    pub tc_id: u64,
    pub comment: String,
    pub flags: Vec<String>,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request: Option<String>,
    #[serde(default)]
    pub scheme: Scheme,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub structured_fields: BTreeMap<String, SfType>,
    pub label: String,
    pub policy: Policy,
    /// The base the verifier should rebuild, when well defined (for diagnostics).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature_base: Option<String>,
    /// The requirement level this vector is judged at.
    pub level: Level,
    /// The statements of the traceability matrix ([`statements::rfc9421`]) this vector tests.
    pub statements: Vec<String>,
    /// Why `level` is not the strongest level of `statements` (rare; checked by the lint).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub level_why: Option<String>,
    pub result: TestResult,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_kind: Option<ErrorKind>,
}

/// Verifier policy of a verify vector (README "Verification policy").
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Policy {
    /// Verification time, UNIX seconds.
    pub now: i64,
    /// Reject when `now - created > maxAge` (requires `created`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_age: Option<i64>,
    /// Tolerance for `created` in the future (default 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clock_skew: Option<i64>,
    /// Component identifiers (serialized) that must be covered.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub required_components: Vec<String>,
    /// Signature parameters that must be present (`created`, `expires`, `nonce`, ...).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub required_parameters: Vec<String>,
    /// Nonces already seen: a signature carrying one of them is a replay.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub seen_nonces: Vec<String>,
    /// The `tag` the application requires.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub required_tag: Option<String>,
    /// Longest validity window: `created` and `expires` required, `0 < expires - created <=
    /// maxValidity` (`validity_window`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_validity: Option<i64>,
    /// Tolerance after `expires` (default 0): expired when `now > expires + expiresSkew`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_skew: Option<i64>,
    /// Component identifiers (serialized) that must not be covered (`forbidden_component`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub forbidden_components: Vec<String>,
    /// `content-digest` must be covered (`missing_required_component`) and match the body
    /// (RFC 9530; `content_digest_mismatch`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub require_content_digest: bool,
    /// keyids of revoked keys: a signature whose `keyid` is one of them fails (`key_revoked`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub revoked_key_ids: Vec<String>,
    /// The verifier's keys: a JWK Set (RFC 7517 §5, JSON text; public keys, each with a `kid`)
    /// in place of the group key. The signature's `keyid` selects the key (none known:
    /// `unknown_key`; without a `keyid`, only a one-key set has a key); a key whose `use` is not
    /// `sig` or whose `key_ops` lacks `verify` may not verify (`key_use_not_allowed`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_set: Option<String>,
}

/// The test groups of one file, typed by the file's `schema`.
#[derive(Clone, Debug, PartialEq)]
pub enum TestGroups {
    Base(Vec<BaseGroup>),
    Sign(Vec<SignGroup>),
    Verify(Vec<VerifyGroup>),
}

/// One vector file.
#[derive(Clone, Debug, PartialEq)]
pub struct VectorFile {
    /// File name, e.g. `rfc9421_base_test.json`.
    pub name: String,
    pub algorithm: String,
    pub schema: String,
    pub generator_version: String,
    pub number_of_tests: usize,
    pub header: Vec<String>,
    pub notes: BTreeMap<String, Note>,
    pub test_groups: TestGroups,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawFile {
    algorithm: String,
    schema: String,
    generator_version: String,
    number_of_tests: usize,
    header: Vec<String>,
    notes: BTreeMap<String, Note>,
    test_groups: serde_json::Value,
}

/// What every test kind shares, for the lint and for generic consumers.
#[derive(Clone, Copy, Debug)]
pub struct TestMeta<'a> {
    pub tc_id: u64,
    pub comment: &'a str,
    pub flags: &'a [String],
    pub level: Level,
    pub statements: &'a [String],
    pub level_why: Option<&'a str>,
    pub result: TestResult,
    pub error_kind: Option<ErrorKind>,
}

impl VectorFile {
    /// Parse and lint one file. `name` is used in errors.
    pub fn from_json(name: &str, text: &str) -> Result<Self> {
        let json = |source| VectorError::Json {
            file: name.to_string(),
            source,
        };
        let raw: RawFile = serde_json::from_str(text).map_err(json)?;
        let op = Operation::from_schema(&raw.schema).ok_or_else(|| VectorError::UnknownSchema {
            file: name.to_string(),
            schema: raw.schema.clone(),
        })?;
        let test_groups = match op {
            Operation::Base => {
                TestGroups::Base(serde_json::from_value(raw.test_groups).map_err(json)?)
            }
            Operation::Sign => {
                TestGroups::Sign(serde_json::from_value(raw.test_groups).map_err(json)?)
            }
            Operation::Verify => {
                TestGroups::Verify(serde_json::from_value(raw.test_groups).map_err(json)?)
            }
        };
        let file = VectorFile {
            name: name.to_string(),
            algorithm: raw.algorithm,
            schema: raw.schema,
            generator_version: raw.generator_version,
            number_of_tests: raw.number_of_tests,
            header: raw.header,
            notes: raw.notes,
            test_groups,
        };
        file.lint()?;
        Ok(file)
    }

    /// The kind of vectors in this file.
    pub fn operation(&self) -> Operation {
        match self.test_groups {
            TestGroups::Base(_) => Operation::Base,
            TestGroups::Sign(_) => Operation::Sign,
            TestGroups::Verify(_) => Operation::Verify,
        }
    }

    /// Shared fields of every test in the file, in file order.
    pub fn test_metas(&self) -> Vec<TestMeta<'_>> {
        match &self.test_groups {
            TestGroups::Base(g) => g.iter().flat_map(|g| &g.tests).map(Meta::meta).collect(),
            TestGroups::Sign(g) => g.iter().flat_map(|g| &g.tests).map(Meta::meta).collect(),
            TestGroups::Verify(g) => g.iter().flat_map(|g| &g.tests).map(Meta::meta).collect(),
        }
    }

    fn inconsistent(&self, tc_id: u64, problem: impl Into<String>) -> VectorError {
        VectorError::Inconsistent {
            file: self.name.clone(),
            tc_id,
            problem: problem.into(),
        }
    }

    fn lint(&self) -> Result<()> {
        let metas = self.test_metas();
        if metas.len() != self.number_of_tests {
            return Err(VectorError::CountMismatch {
                file: self.name.clone(),
                declared: self.number_of_tests,
                actual: metas.len(),
            });
        }
        let mut seen = BTreeSet::new();
        for t in &metas {
            if !seen.insert(t.tc_id) {
                return Err(VectorError::DuplicateTcId {
                    file: self.name.clone(),
                    tc_id: t.tc_id,
                });
            }
            if let Some(flag) = t.flags.iter().find(|f| !self.notes.contains_key(*f)) {
                return Err(VectorError::UnknownFlag {
                    file: self.name.clone(),
                    tc_id: t.tc_id,
                    flag: flag.clone(),
                });
            }
            // Traceability (issue 17): every vector names statements of the matrix, and its
            // level is the strongest level among them unless it says why (acceptable: MAY).
            if t.statements.is_empty() {
                return Err(self.inconsistent(t.tc_id, "no statements: name the RFC 9421 statements (data/rfc9421_statements.tsv) the vector tests"));
            }
            let mut strongest: Option<Level> = None;
            for id in t.statements {
                let st = statements::find(id).ok_or_else(|| {
                    self.inconsistent(
                        t.tc_id,
                        format!("statement {id} is not in data/rfc9421_statements.tsv"),
                    )
                })?;
                strongest = Some(strongest.map_or(st.level, |l| l.min(st.level)));
            }
            if let Some(want) = strongest
                && t.result != TestResult::Acceptable
                && t.level_why.is_none()
                && t.level != want
            {
                return Err(self.inconsistent(
                    t.tc_id,
                    format!(
                        "level is {} but its statements {:?} are {want} (give levelWhy if intended)",
                        t.level, t.statements
                    ),
                ));
            }
            if t.result == TestResult::Acceptable && t.level != Level::May {
                return Err(self.inconsistent(
                    t.tc_id,
                    format!(
                        "result is acceptable (either outcome conforms) but level is {}, not MAY",
                        t.level
                    ),
                ));
            }
            match (t.result, t.error_kind) {
                (TestResult::Invalid, None) => {
                    return Err(
                        self.inconsistent(t.tc_id, "result is invalid but errorKind is missing")
                    );
                }
                (TestResult::Valid, Some(k)) => {
                    return Err(
                        self.inconsistent(t.tc_id, format!("result is valid but errorKind is {k}"))
                    );
                }
                _ => {}
            }
        }
        match &self.test_groups {
            TestGroups::Base(groups) => {
                for t in groups.iter().flat_map(|g| &g.tests) {
                    if t.result == TestResult::Valid && t.signature_base.is_none() {
                        return Err(
                            self.inconsistent(t.tc_id, "valid base vector without signatureBase")
                        );
                    }
                }
            }
            TestGroups::Sign(groups) => {
                for t in groups.iter().flat_map(|g| &g.tests) {
                    if t.result == TestResult::Valid
                        && (t.signature_base.is_none()
                            || t.signature.is_none()
                            || t.signature_check.is_none()
                            || t.signature_input_header.is_none()
                            || t.signature_header.is_none())
                    {
                        return Err(self.inconsistent(
                            t.tc_id,
                            "valid sign vector needs signatureBase, signature, signatureCheck, signatureInputHeader and signatureHeader",
                        ));
                    }
                }
                for g in groups {
                    for t in &g.tests {
                        if t.signature_check == Some(SignatureCheck::Exact)
                            && !g.alg.is_deterministic()
                        {
                            return Err(self.inconsistent(
                                t.tc_id,
                                format!("signatureCheck exact with randomized algorithm {}", g.alg),
                            ));
                        }
                    }
                }
            }
            TestGroups::Verify(_) => {}
        }
        Ok(())
    }

    /// (rule, keyId, alg, keyFormat) of every group that names a key.
    fn group_keys(&self) -> Vec<GroupKeyRef<'_>> {
        match &self.test_groups {
            TestGroups::Base(_) => Vec::new(),
            TestGroups::Sign(g) => g
                .iter()
                .map(|g| (g.rule.as_str(), g.key_id.as_str(), g.alg, g.key_format))
                .collect(),
            TestGroups::Verify(g) => g
                .iter()
                .map(|g| (g.rule.as_str(), g.key_id.as_str(), g.alg, g.key_format))
                .collect(),
        }
    }
}

/// The fields every test kind shares.
trait Meta {
    fn meta(&self) -> TestMeta<'_>;
}

macro_rules! impl_meta {
    ($($t:ty),*) => {$(
        impl Meta for $t {
            fn meta(&self) -> TestMeta<'_> {
                TestMeta {
                    tc_id: self.tc_id,
                    comment: &self.comment,
                    flags: &self.flags,
                    level: self.level,
                    statements: &self.statements,
                    level_why: self.level_why.as_deref(),
                    result: self.result,
                    error_kind: self.error_kind,
                }
            }
        }
    )*};
}
impl_meta!(BaseTest, SignTest, VerifyTest);

type GroupKeyRef<'a> = (&'a str, &'a str, Algorithm, Option<KeyFormat>);

/// Key type in the index.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Kty {
    #[serde(rename = "RSA")]
    Rsa,
    #[serde(rename = "EC")]
    Ec,
    #[serde(rename = "OKP")]
    Okp,
    #[serde(rename = "oct")]
    Oct,
}

/// Encoding of one key file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum KeyFormat {
    /// `-----BEGIN RSA PUBLIC KEY-----` (PKCS#1 RSAPublicKey).
    PemPkcs1Public,
    /// `-----BEGIN RSA PRIVATE KEY-----` (PKCS#1 RSAPrivateKey).
    PemPkcs1Private,
    /// `-----BEGIN PUBLIC KEY-----` (SubjectPublicKeyInfo).
    PemSpki,
    /// `-----BEGIN PRIVATE KEY-----` (PKCS#8).
    PemPkcs8,
    /// PKCS#8 whose algorithm is id-RSASSA-PSS (1.2.840.113549.1.1.10), RFC 9421 B.1.2.
    PemPkcs8RsassaPss,
    /// `-----BEGIN EC PRIVATE KEY-----` (SEC1).
    PemSec1,
    /// A JSON Web Key (private members included).
    Jwk,
    /// A shared secret as standard base64 text.
    Base64,
}

impl fmt::Display for KeyFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = serde_json::to_value(self)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        f.write_str(&s)
    }
}

impl std::str::FromStr for KeyFormat {
    type Err = String;
    /// The kebab-case name of `keys/index.json` (`pem-pkcs8`, `jwk`, ...).
    fn from_str(s: &str) -> Result<Self, String> {
        serde_json::from_value(serde_json::Value::String(s.to_string()))
            .map_err(|_| format!("unknown key format {s:?}"))
    }
}

/// One file of a key.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyFile {
    /// File name under `keys/`.
    pub path: String,
    pub format: KeyFormat,
    pub private: bool,
}

/// One key of the index.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyEntry {
    /// Where the key comes from (e.g. `RFC 9421 Appendix B.1.2`).
    pub source: String,
    pub kty: Kty,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub curve: Option<String>,
    /// Algorithms the key may be used with.
    pub algorithms: Vec<Algorithm>,
    pub files: Vec<KeyFile>,
}

/// `keys/index.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyIndex {
    pub schema: String,
    pub header: Vec<String>,
    pub keys: BTreeMap<String, KeyEntry>,
}

/// All vector files plus the keys they reference.
#[derive(Clone, Debug)]
pub struct VectorSet {
    pub files: Vec<VectorFile>,
    pub key_index: KeyIndex,
    key_files: BTreeMap<String, Vec<u8>>,
}

impl VectorSet {
    /// The vectors shipped with this crate (embedded at build time from `vectors/data` and
    /// `vectors/keys`), linted like [`VectorSet::load_dir`].
    pub fn builtin() -> Result<Self> {
        let data = builtin::BUILTIN_DATA
            .iter()
            .map(|(n, t)| (n.to_string(), t.to_string()))
            .collect();
        let keys = builtin::BUILTIN_KEYS
            .iter()
            .map(|(n, b)| (n.to_string(), b.to_vec()))
            .collect();
        Self::assemble(data, keys)
    }

    /// Load `root/data/*.json` and `root/keys/` (`index.json` plus the files it lists).
    pub fn load_dir(root: impl AsRef<Path>) -> Result<Self> {
        let root = root.as_ref();
        let read_dir = |dir: &Path| -> Result<Vec<(String, Vec<u8>)>> {
            let io = |source| VectorError::Io {
                path: dir.to_path_buf(),
                source,
            };
            let mut out = Vec::new();
            for entry in std::fs::read_dir(dir).map_err(io)? {
                let entry = entry.map_err(io)?;
                let path = entry.path();
                let Some(name) = path.file_name().and_then(|n| n.to_str()).map(str::to_owned)
                else {
                    continue;
                };
                if !path.is_file() || name.starts_with('.') {
                    continue;
                }
                let bytes = std::fs::read(&path).map_err(|source| VectorError::Io {
                    path: path.clone(),
                    source,
                })?;
                out.push((name, bytes));
            }
            out.sort();
            Ok(out)
        };
        let data_dir = root.join("data");
        let mut data = Vec::new();
        for (name, bytes) in read_dir(&data_dir)? {
            if !name.ends_with(".json") {
                continue;
            }
            let text = String::from_utf8(bytes).map_err(|e| VectorError::Io {
                path: data_dir.join(&name),
                source: std::io::Error::new(std::io::ErrorKind::InvalidData, e),
            })?;
            data.push((name, text));
        }
        if data.is_empty() {
            return Err(VectorError::Empty { dir: data_dir });
        }
        let keys = read_dir(&root.join("keys"))?.into_iter().collect();
        Self::assemble(data, keys)
    }

    fn assemble(data: Vec<(String, String)>, key_files: BTreeMap<String, Vec<u8>>) -> Result<Self> {
        let index_text = key_files.get("index.json").ok_or_else(|| VectorError::Io {
            path: PathBuf::from("keys/index.json"),
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "keys/index.json is missing"),
        })?;
        let key_index: KeyIndex =
            serde_json::from_slice(index_text).map_err(|source| VectorError::Json {
                file: "keys/index.json".into(),
                source,
            })?;
        for (key_id, entry) in &key_index.keys {
            for f in &entry.files {
                if !key_files.contains_key(&f.path) {
                    return Err(VectorError::MissingKeyFile {
                        key_id: key_id.clone(),
                        path: f.path.clone(),
                    });
                }
            }
        }
        let mut files = Vec::new();
        for (name, text) in data {
            let file = VectorFile::from_json(&name, &text)?;
            let signs = file.operation() == Operation::Sign;
            for (rule, key_id, alg, format) in file.group_keys() {
                let problem = match key_index.keys.get(key_id) {
                    None => Some("not in keys/index.json".to_string()),
                    Some(e) if !e.algorithms.contains(&alg) => Some(format!(
                        "the key is not for {alg} (it is for {:?})",
                        e.algorithms
                    )),
                    Some(e) => format.and_then(|fmt| {
                        let usable = e
                            .files
                            .iter()
                            .any(|f| f.format == fmt && (f.private || !signs));
                        (!usable).then(|| {
                            format!(
                                "keyFormat {fmt}: the key has no {}file in that format",
                                if signs { "private " } else { "" }
                            )
                        })
                    }),
                };
                if let Some(problem) = problem {
                    return Err(VectorError::GroupKey {
                        file: name.clone(),
                        rule: rule.to_string(),
                        key_id: key_id.to_string(),
                        problem,
                    });
                }
            }
            files.push(file);
        }
        Ok(VectorSet {
            files,
            key_index,
            key_files,
        })
    }

    /// Total number of tests across files.
    pub fn len(&self) -> usize {
        self.files.iter().map(|f| f.number_of_tests).sum()
    }

    /// True when no file holds a test.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A file by name.
    pub fn file(&self, name: &str) -> Option<&VectorFile> {
        self.files.iter().find(|f| f.name == name)
    }

    /// Every base vector with its file and group.
    pub fn base_tests(&self) -> impl Iterator<Item = (&VectorFile, &BaseGroup, &BaseTest)> {
        self.files.iter().flat_map(|f| match &f.test_groups {
            TestGroups::Base(g) => g
                .iter()
                .flat_map(|g| g.tests.iter().map(move |t| (f, g, t)))
                .collect(),
            _ => Vec::new(),
        })
    }

    /// Every sign vector with its file and group.
    pub fn sign_tests(&self) -> impl Iterator<Item = (&VectorFile, &SignGroup, &SignTest)> {
        self.files.iter().flat_map(|f| match &f.test_groups {
            TestGroups::Sign(g) => g
                .iter()
                .flat_map(|g| g.tests.iter().map(move |t| (f, g, t)))
                .collect(),
            _ => Vec::new(),
        })
    }

    /// Every verify vector with its file and group.
    pub fn verify_tests(&self) -> impl Iterator<Item = (&VectorFile, &VerifyGroup, &VerifyTest)> {
        self.files.iter().flat_map(|f| match &f.test_groups {
            TestGroups::Verify(g) => g
                .iter()
                .flat_map(|g| g.tests.iter().map(move |t| (f, g, t)))
                .collect(),
            _ => Vec::new(),
        })
    }

    /// A key of the index.
    pub fn key(&self, key_id: &str) -> Result<&KeyEntry> {
        self.key_index
            .keys
            .get(key_id)
            .ok_or_else(|| VectorError::UnknownKey {
                key_id: key_id.to_string(),
            })
    }

    /// The bytes of `key_id`'s file in `format` (PEM text, JWK JSON, or base64 text).
    pub fn key_bytes(&self, key_id: &str, format: KeyFormat) -> Result<&[u8]> {
        let entry = self.key(key_id)?;
        let file = entry
            .files
            .iter()
            .find(|f| f.format == format)
            .ok_or_else(|| VectorError::NoKeyFormat {
                key_id: key_id.to_string(),
                format,
                available: entry
                    .files
                    .iter()
                    .map(|f| f.format.to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
            })?;
        self.key_files
            .get(&file.path)
            .map(Vec::as_slice)
            .ok_or_else(|| VectorError::MissingKeyFile {
                key_id: key_id.to_string(),
                path: file.path.clone(),
            })
    }

    /// The key file a sign (`private`) or verify group hands over: the group's `keyFormat` when
    /// it pins one, else the first of `prefer` (encodings the implementation under test takes,
    /// best first) that the key has, else [`VectorSet::key_file`]. For verification a private
    /// file (e.g. a shared secret, or a private JWK) serves when no public one fits.
    pub fn group_key(
        &self,
        key_id: &str,
        pinned: Option<KeyFormat>,
        private: bool,
        prefer: &[KeyFormat],
    ) -> Result<(&KeyFile, &[u8])> {
        let entry = self.key(key_id)?;
        let wanted: Vec<KeyFormat> = match pinned {
            Some(f) => vec![f],
            None => prefer.to_vec(),
        };
        let passes: &[bool] = if private { &[true] } else { &[false, true] };
        for &p in passes {
            for want in &wanted {
                if let Some(f) = entry
                    .files
                    .iter()
                    .find(|f| f.format == *want && f.private == p)
                {
                    return Ok((f, self.key_bytes(key_id, f.format)?));
                }
            }
        }
        match pinned {
            Some(format) => Err(VectorError::NoKeyFormat {
                key_id: key_id.to_string(),
                format,
                available: entry
                    .files
                    .iter()
                    .map(|f| f.format.to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
            }),
            None => self.key_file(key_id, private),
        }
    }

    /// The bytes of `key_id`'s first file matching `private` (its private or its public form;
    /// a private file serves when the key has no separate public file).
    pub fn key_file(&self, key_id: &str, private: bool) -> Result<(&KeyFile, &[u8])> {
        let entry = self.key(key_id)?;
        let file = entry
            .files
            .iter()
            .find(|f| f.private == private && f.format != KeyFormat::Jwk)
            .or_else(|| {
                entry
                    .files
                    .iter()
                    .find(|f| f.private && f.format != KeyFormat::Jwk)
            })
            .ok_or_else(|| VectorError::NoKeyFormat {
                key_id: key_id.to_string(),
                format: KeyFormat::PemSpki,
                available: "none".into(),
            })?;
        let bytes = self.key_bytes(key_id, file.format)?;
        Ok((file, bytes))
    }
}

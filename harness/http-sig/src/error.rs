//! The one error type of this crate. Every variant has a stable snake_case [`Error::kind`] that a
//! test vector can name.

use std::path::PathBuf;

/// Result alias used throughout the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong while parsing messages, building signature bases, loading keys,
/// signing or verifying. Messages name the component, parameter, key or file at fault.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    // ---- messages -------------------------------------------------------------------------
    /// Raw HTTP/1.1 text could not be parsed.
    #[error("invalid HTTP message: {0}")]
    InvalidMessage(String),
    /// A value that must be ASCII (signature base, header value) is not.
    #[error(
        "non-ASCII data in {0}: the signature base must be ASCII (RFC 9421 §2.5 step 4); use ;bs for such fields"
    )]
    NonAscii(String),

    // ---- components -----------------------------------------------------------------------
    /// A component identifier is not a valid sf-string item with parameters.
    #[error("invalid component identifier {0}")]
    InvalidComponentId(String),
    /// A covered component cannot be found in the message (absent header, missing dictionary key).
    #[error(
        "covered component {0} is not present in the message (RFC 9421 §2.5: absent components are an error)"
    )]
    MissingComponent(String),
    /// The same component identifier (with the same parameters) is listed twice.
    #[error("component {0} is listed more than once (RFC 9421 §2.5 step 2.0)")]
    DuplicateComponent(String),
    /// An unknown derived component name (starts with `@`).
    #[error("unknown derived component {0} (RFC 9421 §2.2)")]
    UnknownDerivedComponent(String),
    /// A derived component that does not apply to this message. Not produced since issue 17:
    /// asterisk-form and authority-form requests have an empty path and query (RFC 9112 §3.3),
    /// so `@path` is `/` and `@query` is `?` there; kept for API compatibility.
    #[error(
        "derived component {component} does not apply to this message: {reason} (RFC 9421 §2.2)"
    )]
    ComponentNotApplicable { component: String, reason: String },
    /// The authority of the target URI (absolute-form or authority-form request-target, or the
    /// Host field) is malformed: empty host, userinfo, unclosed or invalid IP literal, zone id,
    /// invalid port (RFC 9110 §4.2.1, §4.2.4, §7.2; RFC 3986 §3.2).
    #[error(
        "the authority {authority} of the target URI is malformed: {reason} (RFC 9110 §4.2, §7.2; RFC 3986 §3.2)"
    )]
    InvalidAuthority { authority: String, reason: String },
    /// The request-target cannot be a target URI (a fragment, RFC 9112 §3.2).
    #[error("the request-target {target} is malformed: {reason} (RFC 9112 §3.2)")]
    InvalidRequestTarget { target: String, reason: String },
    /// A component parameter that is unknown or does not apply to this component.
    #[error(
        "component {component}: parameter `{parameter}` is unknown or does not apply here (RFC 9421 §2.5)"
    )]
    UnknownComponentParameter {
        component: String,
        parameter: String,
    },
    /// A component parameter has the wrong type (e.g. `;name=1`, `;sf=?0`).
    #[error("component {component}: parameter `{parameter}` has an invalid value: {reason}")]
    InvalidComponentParameter {
        component: String,
        parameter: String,
        reason: String,
    },
    /// Parameters that cannot be combined (`bs` with `sf` or `key`).
    #[error("component {component}: parameters `{a}` and `{b}` are incompatible (RFC 9421 §2.1)")]
    IncompatibleParameters {
        component: String,
        a: String,
        b: String,
    },
    /// `@status` used on a request.
    #[error("@status is only defined for responses (RFC 9421 §2.2.9)")]
    StatusInRequest,
    /// A request-only derived component used on a response without `;req`.
    #[error(
        "{0} is only defined for requests; on a response use ;req with the related request (RFC 9421 §2.2)"
    )]
    RequestComponentOnResponse(String),
    /// `;req` used in a signature on a request.
    #[error("component {0}: the `req` parameter must not be used on a request (RFC 9421 §2.4)")]
    ReqOnRequest(String),
    /// `;req` used but the related request was not provided.
    #[error("component {0} uses `req` but no related request message was given (RFC 9421 §2.4)")]
    MissingRelatedRequest(String),
    /// `@query-param` without `name`.
    #[error("@query-param needs a `name` parameter (RFC 9421 §2.2.8)")]
    QueryParamNameMissing,
    /// The named query parameter is absent.
    #[error("query parameter {0:?} is not present in the query (RFC 9421 §2.2.8)")]
    QueryParamMissing(String),
    /// The named query parameter occurs more than once.
    #[error("query parameter {0:?} occurs more than once and must not be signed (RFC 9421 §2.2.8)")]
    QueryParamRepeated(String),
    /// `;sf` or `;key` on a field whose structured type is unknown or whose value does not parse.
    #[error("field {field}: {reason} (RFC 9421 §2.1.1/§2.1.2)")]
    StructuredField { field: String, reason: String },
    /// Feature recognised but not implemented (e.g. `;tr` trailers).
    #[error("unsupported: {0}")]
    Unsupported(String),
    /// `@signature-params` listed as a covered component.
    #[error("@signature-params must not be listed as a covered component (RFC 9421 §3.1)")]
    SignatureParamsCovered,

    // ---- Signature-Input / Signature -------------------------------------------------------
    /// The Signature-Input field (or a parameter in it) is malformed.
    #[error("invalid Signature-Input: {0}")]
    InvalidSignatureInput(String),
    /// The Signature field is malformed.
    #[error("invalid Signature field: {0}")]
    InvalidSignatureHeader(String),
    /// A signature parameter has the wrong type.
    #[error("signature parameter `{parameter}`: {reason} (RFC 9421 §2.3)")]
    InvalidSignatureParameter { parameter: String, reason: String },
    /// No signature (or Signature-Input) with the requested label.
    #[error("no signature labelled {0:?} in the message")]
    SignatureNotFound(String),
    /// Signature-Input has a label that Signature lacks or vice versa.
    #[error(
        "label {0:?} is in one of Signature-Input / Signature but not in the other (RFC 9421 §3.2 step 1.2)"
    )]
    LabelMismatch(String),
    /// Adding a signature whose label already exists.
    #[error("label {0:?} already exists in the message; choose another label (RFC 9421 §4.3)")]
    LabelCollision(String),
    /// Invalid base64 data.
    #[error("invalid base64 in {0}")]
    BadBase64(String),

    // ---- algorithms and keys ---------------------------------------------------------------
    /// Unknown algorithm name.
    #[error(
        "unsupported algorithm {0:?} (known: hmac-sha256, ed25519, ecdsa-p256-sha256, ecdsa-p384-sha384, rsa-pss-sha512, rsa-v1_5-sha256)"
    )]
    UnsupportedAlgorithm(String),
    /// The key cannot be used with the algorithm.
    #[error("key ({key}) cannot be used with algorithm {algorithm}; it supports: {supported}")]
    KeyAlgorithmMismatch {
        key: String,
        algorithm: String,
        supported: String,
    },
    /// Algorithms from two sources disagree (alg parameter vs key vs configuration).
    #[error("algorithm mismatch: {0}")]
    AlgorithmMismatch(String),
    /// Key material is malformed or unsupported.
    #[error("invalid key: {0}")]
    InvalidKey(String),
    /// A public key was given where a private key is needed.
    #[error("key ({0}) is a public key; signing needs the private key")]
    PublicKeyCannotSign(String),
    /// Cryptographic failure while signing.
    #[error("signing failed: {0}")]
    SigningFailed(String),

    // ---- verification -----------------------------------------------------------------------
    /// The signature does not verify.
    #[error("signature {label:?} does not verify with the given key and algorithm {algorithm}")]
    SignatureMismatch { label: String, algorithm: String },
    /// The signature has the wrong length for the algorithm (e.g. DER ECDSA).
    #[error(
        "signature {label:?} has {got} bytes; {algorithm} signatures have {expected} (raw, not DER)"
    )]
    SignatureLength {
        label: String,
        algorithm: String,
        expected: String,
        got: usize,
    },
    /// `expires` is in the past.
    #[error("signature expired at {expires} (now {now})")]
    Expired { expires: i64, now: u64 },
    /// `created` is in the future beyond the allowed skew.
    #[error("signature created at {created}, in the future (now {now}, allowed skew {skew}s)")]
    CreatedInFuture { created: i64, now: u64, skew: u64 },
    /// `created` is older than the policy allows.
    #[error("signature created at {created} is older than the allowed {max_age}s (now {now})")]
    TooOld {
        created: i64,
        now: u64,
        max_age: u64,
    },
    /// A required parameter is absent.
    #[error("signature parameter `{0}` is required by the verification policy")]
    MissingParameter(String),
    /// A component required by policy is not covered.
    #[error("component {0} is required by the verification policy but not covered")]
    RequiredComponentNotCovered(String),
    /// The nonce has been seen before.
    #[error("nonce {0:?} was already used (replay)")]
    NonceReplayed(String),
    /// The tag does not match the expected value.
    #[error("tag {got:?} does not match the expected {expected:?}")]
    TagMismatch {
        expected: String,
        got: Option<String>,
    },
    /// The keyid does not match the expected value.
    #[error("keyid {got:?} does not match the expected {expected:?}")]
    KeyIdMismatch {
        expected: String,
        got: Option<String>,
    },
    /// The algorithm is not permitted by policy.
    #[error("algorithm {0} is not allowed by the verification policy")]
    AlgorithmNotAllowed(String),
    /// RFC 9421 §3.2 step 5: the `keyid` names no key the verifier knows ("If the key is not
    /// known to the verifier, the verifier MUST fail").
    #[error(
        "keyid {keyid} names no key this verifier knows ({known}); RFC 9421 §3.2 step 5: an unknown key MUST fail"
    )]
    UnknownKey { keyid: String, known: String },
    /// The `keyid` names a key the policy lists as revoked (`revoked_keyids`).
    #[error("keyid {0} names a revoked key (verification policy revoked_keyids)")]
    KeyRevoked(String),
    /// A JWK's `use` or `key_ops` (RFC 7517 §4.2, §4.3) does not allow the operation.
    #[error("the key may not be used to {operation}: {reason} (RFC 7517 §4.2-4.3)")]
    KeyUseNotAllowed {
        operation: &'static str,
        reason: String,
    },
    /// `expires - created` is not positive or longer than the policy's `max_validity`.
    #[error(
        "validity window expires - created = {window}s (created {created}, expires {expires}) is not in 1..={max}s (verification policy max_validity)"
    )]
    ValidityWindow {
        created: i64,
        expires: i64,
        window: i64,
        max: u64,
    },
    /// A component the policy forbids (`forbidden_components`) is covered.
    #[error(
        "component {0} is covered but the verification policy forbids it (forbidden_components)"
    )]
    ForbiddenComponent(String),
    /// Content-Digest is not a valid RFC 9530 Dictionary of Byte Sequences.
    #[error("Content-Digest is invalid: {0} (RFC 9530 §2)")]
    ContentDigestInvalid(String),
    /// A Content-Digest member does not match the body.
    #[error("Content-Digest {0} does not match the body received (RFC 9530 §2)")]
    ContentDigestMismatch(String),
    /// Content-Digest has no algorithm this implementation checks.
    #[error(
        "Content-Digest has no sha-256 or sha-512 member, so nothing could be checked (RFC 9530 §5)"
    )]
    ContentDigestUnsupported,

    // ---- Web Bot Auth (draft-meunier-webbotauth-httpsig-protocol; docs/web-bot-auth.md) ----
    /// The signature covers no component at all (`sig1=()`): bound to no request, it can be
    /// replayed with any method, path and body until it expires. GHSA-x9cc-346q-g27m (a
    /// Web Bot Auth verifier accepted it).
    #[error(
        "signature {label} covers no component (`()`): it is bound to no request and replayable against anything until it expires (GHSA-x9cc-346q-g27m); web-bot-auth requires \"@authority\" or \"@target-uri\""
    )]
    EmptyComponentList { label: String },
    /// `keyid` is not the RFC 7638 SHA-256 thumbprint of the key that verifies the signature.
    #[error(
        "keyid {keyid:?} is not the JWK SHA-256 thumbprint of the key ({thumbprint}); web-bot-auth: keyid MUST be a base64url JWK SHA-256 Thumbprint (RFC 7638)"
    )]
    KeyIdNotThumbprint { keyid: String, thumbprint: String },
    /// The Signature-Agent field or its covered member is malformed (not a Dictionary of String
    /// Items / a String Item, not an `https` URI, member absent).
    #[error("invalid Signature-Agent: {0}")]
    InvalidSignatureAgent(String),
    /// Signature-Agent is present but the signature does not cover its member.
    #[error(
        "Signature-Agent is present but signature {0} does not cover it (web-bot-auth: its member keyed to the signature label MUST be signed, as \"signature-agent\";key=\"<label>\")"
    )]
    SignatureAgentNotCovered(String),
    /// The policy requires Signature-Agent (the draft since -02) and the request has none.
    #[error(
        "the request has no Signature-Agent field (web-bot-auth -02: a signed request MUST carry Signature-Agent)"
    )]
    SignatureAgentMissing,
    /// Signature-Agent is the legacy bare String and the policy accepts only the Dictionary.
    #[error(
        "Signature-Agent is the legacy bare String form; this verifier accepts only the Dictionary form (web-bot-auth: signers MUST send the dictionary form, a verifier MAY accept the String)"
    )]
    SignatureAgentLegacyForm,
    /// A key directory (JWK Set) is malformed as a whole.
    #[error("invalid key directory: {0}")]
    InvalidDirectory(String),

    /// A cap of [`crate::Limits`] was hit: the message is refused before more work is done.
    #[error("{what}, more than {limit} = {max} allows (http_sig::Limits)")]
    LimitExceeded {
        what: String,
        limit: &'static str,
        max: usize,
    },

    // ---- configuration and I/O ---------------------------------------------------------------
    /// A configuration (profile / policy) is invalid.
    #[error("invalid configuration: {0}")]
    InvalidConfig(String),
    /// Reading a file failed.
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl Error {
    /// A stable snake_case name for the kind of error, for test vectors and reports.
    pub fn kind(&self) -> &'static str {
        use Error::*;
        match self {
            InvalidMessage(_) => "invalid_message",
            NonAscii(_) => "non_ascii",
            InvalidComponentId(_) => "invalid_component_id",
            MissingComponent(_) => "missing_component",
            DuplicateComponent(_) => "duplicate_component",
            UnknownDerivedComponent(_) => "unknown_derived_component",
            ComponentNotApplicable { .. } => "component_not_applicable",
            InvalidAuthority { .. } => "invalid_authority",
            InvalidRequestTarget { .. } => "invalid_request_target",
            UnknownComponentParameter { .. } => "unknown_component_parameter",
            InvalidComponentParameter { .. } => "invalid_component_parameter",
            IncompatibleParameters { .. } => "incompatible_parameters",
            StatusInRequest => "status_in_request",
            RequestComponentOnResponse(_) => "request_component_on_response",
            ReqOnRequest(_) => "req_on_request",
            MissingRelatedRequest(_) => "missing_related_request",
            QueryParamNameMissing => "query_param_name_missing",
            QueryParamMissing(_) => "query_param_missing",
            QueryParamRepeated(_) => "query_param_repeated",
            StructuredField { .. } => "structured_field",
            Unsupported(_) => "unsupported",
            SignatureParamsCovered => "signature_params_covered",
            InvalidSignatureInput(_) => "invalid_signature_input",
            InvalidSignatureHeader(_) => "invalid_signature_header",
            InvalidSignatureParameter { .. } => "invalid_signature_parameter",
            SignatureNotFound(_) => "signature_not_found",
            LabelMismatch(_) => "label_mismatch",
            LabelCollision(_) => "label_collision",
            BadBase64(_) => "bad_base64",
            UnsupportedAlgorithm(_) => "unsupported_algorithm",
            KeyAlgorithmMismatch { .. } => "key_algorithm_mismatch",
            AlgorithmMismatch(_) => "algorithm_mismatch",
            InvalidKey(_) => "invalid_key",
            PublicKeyCannotSign(_) => "public_key_cannot_sign",
            SigningFailed(_) => "signing_failed",
            SignatureMismatch { .. } => "signature_mismatch",
            SignatureLength { .. } => "signature_length",
            Expired { .. } => "expired",
            CreatedInFuture { .. } => "created_in_future",
            TooOld { .. } => "too_old",
            MissingParameter(_) => "missing_parameter",
            RequiredComponentNotCovered(_) => "required_component_not_covered",
            NonceReplayed(_) => "nonce_replayed",
            TagMismatch { .. } => "tag_mismatch",
            KeyIdMismatch { .. } => "keyid_mismatch",
            AlgorithmNotAllowed(_) => "algorithm_not_allowed",
            UnknownKey { .. } => "unknown_key",
            KeyRevoked(_) => "key_revoked",
            KeyUseNotAllowed { .. } => "key_use_not_allowed",
            ValidityWindow { .. } => "validity_window",
            ForbiddenComponent(_) => "forbidden_component",
            ContentDigestInvalid(_) => "content_digest_invalid",
            ContentDigestMismatch(_) => "content_digest_mismatch",
            ContentDigestUnsupported => "content_digest_unsupported",
            EmptyComponentList { .. } => "empty_component_list",
            KeyIdNotThumbprint { .. } => "keyid_not_thumbprint",
            InvalidSignatureAgent(_) => "invalid_signature_agent",
            SignatureAgentNotCovered(_) => "signature_agent_not_covered",
            SignatureAgentMissing => "signature_agent_missing",
            SignatureAgentLegacyForm => "signature_agent_legacy_form",
            InvalidDirectory(_) => "invalid_directory",
            LimitExceeded { .. } => "limit_exceeded",
            InvalidConfig(_) => "invalid_config",
            Io { .. } => "io",
        }
    }

    /// True when the error means "the signature is not acceptable" rather than "the input or
    /// configuration could not be processed". The CLI maps the former to exit 1.
    pub fn is_verification_failure(&self) -> bool {
        !matches!(self, Error::Io { .. } | Error::InvalidConfig(_))
    }
}

/// Quote untrusted input in an error message: at most `max_chars` characters, inside double
/// quotes, with every control character, quote, backslash and non-ASCII character escaped
/// (`\u{1b}`), so that an error never carries a terminal escape sequence or a whole file; when cut,
/// the total length is said (`"abc"... (4194304 bytes)`).
pub fn excerpt(s: &str, max_chars: usize) -> String {
    excerpt_of(s, max_chars, s.len())
}

fn excerpt_of(s: &str, max_chars: usize, total: usize) -> String {
    use std::fmt::Write as _;
    let mut out = String::with_capacity(s.len().min(max_chars) + 2);
    out.push('"');
    for (n, c) in s.chars().enumerate() {
        if n == max_chars {
            let _ = write!(out, "\"... ({total} bytes)");
            return out;
        }
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\n' => out.push_str("\\n"),
            ' '..='~' => out.push(c),
            c => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
        }
    }
    out.push('"');
    out
}

/// An error message made safe for one terminal line: control characters (and other
/// non-printing ones such as bidi overrides) escaped as `\u{..}`, newlines as `\n`, at most
/// `max_chars` characters (then `... (N bytes)`). Unlike [`excerpt`], quotes are kept as they are.
pub fn printable(text: &str, max_chars: usize) -> String {
    use std::fmt::Write as _;
    let mut out = String::with_capacity(text.len().min(max_chars));
    for (n, c) in text.chars().enumerate() {
        if n == max_chars {
            let _ = write!(out, "... ({} bytes)", text.len());
            break;
        }
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control()
                || matches!(c, '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}') =>
            {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}

/// [`excerpt`] of bytes that may not be UTF-8: only the first `max_chars * 4` bytes are decoded
/// (invalid sequences become U+FFFD, shown escaped).
pub fn excerpt_bytes(b: &[u8], max_chars: usize) -> String {
    let head = &b[..b.len().min(max_chars.saturating_mul(4))];
    let text = String::from_utf8_lossy(head);
    let mut e = excerpt_of(&text, max_chars, b.len());
    if head.len() < b.len() && !e.ends_with("bytes)") {
        e.push_str(&format!("... ({} bytes)", b.len()));
    }
    e
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn excerpts_escape_controls_and_are_short() {
        assert_eq!(excerpt("a\u{1b}[31mb\"", 10), "\"a\\u{1b}[31mb\\\"\"");
        let long = "x".repeat(5000);
        assert_eq!(excerpt(&long, 3), "\"xxx\"... (5000 bytes)");
        assert_eq!(excerpt("é\r\n", 8), "\"\\u{e9}\\r\\n\"");
        assert_eq!(printable("a \"b\"\u{1b}[2J\n", 50), "a \"b\"\\u{1b}[2J\\n");
        assert_eq!(printable("abcdef", 2), "ab... (6 bytes)");
        let e = excerpt_bytes(&[b'a'; 100], 5);
        assert_eq!(e, "\"aaaaa\"... (100 bytes)");
    }
}

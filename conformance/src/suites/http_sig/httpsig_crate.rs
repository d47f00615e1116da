//! Target `httpsig-crate`: the `httpsig` crate (0.0.26, the library the Grafbase gateway uses).
//!
//! The crate works on component values, not on messages: it takes, per covered component, the
//! list of field values (or the one derived value) and builds the signature base. The message
//! splitting is done here by [`super::raw`] — the glue an integrator writes (what
//! `httpsig-hyper` does with a `HeaderMap`) — and hands the crate values untouched beyond the
//! OWS after the colon; every RFC 9421 rule is left to the crate, so that what the suite
//! observes is the crate's behaviour.
//!
//! What the crate cannot express is reported as [`TargetError::Unsupported`]:
//! - keys other than PKCS#8 PEM (private), SPKI PEM (public) and base64 shared secrets;
//! - verification policies beyond `expires` (max age, `created` skew, required components or
//!   parameters, nonce replay), and verification at a time other than the wall clock (the crate
//!   reads `SystemTime::now()` itself);
//! - `;bs` and `;tr` (its own `NotYetImplemented` error).

use httpsig::prelude::message_component::{
    DerivedComponentName, HttpMessageComponent, HttpMessageComponentName, HttpMessageComponentParam,
};
use httpsig::prelude::*;

use super::raw::{RawMessage, StartLine, add_fields, combined};
use super::target::{
    BaseInput, HttpSigTarget, KeyInput, SignInput, TargetError, VerifyInput, VerifyPolicy,
};

/// The `httpsig` crate behind the adapter.
#[derive(Clone, Copy, Debug, Default)]
pub struct HttpsigCrate;

/// Map the crate's error onto the `http_sig::Error::kind` vocabulary (best effort: the suite
/// only requires "rejected" for invalid inputs and shows both kinds in the evidence).
fn map_err(e: HttpSigError) -> TargetError {
    let msg = e.to_string();
    let kind = match &e {
        HttpSigError::NotYetImplemented(w) => return TargetError::unsupported(w.clone()),
        HttpSigError::Base64DecodeError(_) => "bad_base64",
        HttpSigError::ParsePrivateKeyError(m) | HttpSigError::ParsePublicKeyError(m) => {
            if m.contains("mismatch") {
                "key_algorithm_mismatch"
            } else {
                "invalid_key"
            }
        }
        HttpSigError::ParseSignatureError(_) => "signature_length",
        HttpSigError::InvalidSignature(_) => "signature_mismatch",
        HttpSigError::ParseSFVError(_) => "invalid_signature_input",
        HttpSigError::InvalidComponentName(_) => "unknown_derived_component",
        HttpSigError::InvalidComponentParam(_) => "unknown_component_parameter",
        HttpSigError::InvalidComponentId(_) | HttpSigError::InvalidComponent(_) => {
            "invalid_component_id"
        }
        HttpSigError::InvalidSignatureParams(m) => {
            if m.contains("duplicate") {
                "duplicate_component"
            } else {
                "invalid_signature_input"
            }
        }
        HttpSigError::BuildSignatureHeaderError(_) => "label_mismatch",
        HttpSigError::BuildSignatureBaseError(_) => "invalid_signature_input",
        HttpSigError::ExpiredSignatureParams(_) => "expired",
        HttpSigError::InvalidAlgorithmName(m) => {
            if m.contains("SharedKey") {
                "key_algorithm_mismatch"
            } else {
                "unsupported_algorithm"
            }
        }
    };
    TargetError::rejected(kind, msg)
}

fn alg_name(alg: &str) -> Result<AlgorithmName, TargetError> {
    alg.parse::<AlgorithmName>().map_err(map_err)
}

/// A loaded key: the crate has three key types and no common enum.
enum Key {
    Secret(SecretKey),
    Public(PublicKey),
    Shared(SharedKey),
}

fn load_key(key: &KeyInput, alg: &str) -> Result<Key, TargetError> {
    let name = alg_name(alg)?;
    let text = key.text()?;
    match key.format.as_str() {
        "base64" => SharedKey::from_base64(&name, text.trim())
            .map(Key::Shared)
            .map_err(map_err),
        "pem-pkcs8" => SecretKey::from_pem(&name, text)
            .map(Key::Secret)
            .map_err(map_err),
        "pem-spki" => PublicKey::from_pem(&name, text)
            .map(Key::Public)
            .map_err(map_err),
        other => Err(TargetError::unsupported(format!(
            "httpsig loads only PKCS#8 PEM private keys, SPKI PEM public keys and base64 shared secrets; key {} is {other}",
            key.id
        ))),
    }
}

fn parse(text: &str) -> Result<RawMessage, TargetError> {
    RawMessage::parse(text).map_err(|e| TargetError::rejected("invalid_message", e.to_string()))
}

/// The values handed to the crate for one component (what `httpsig-hyper` would pass).
fn values_for(
    name: &HttpMessageComponentName,
    req_param: bool,
    msg: &RawMessage,
    request: Option<&RawMessage>,
    scheme: &str,
) -> Result<Vec<String>, TargetError> {
    let src = if req_param {
        request.ok_or_else(|| {
            TargetError::rejected(
                "missing_related_request",
                "component uses ;req but no request was given",
            )
        })?
    } else {
        msg
    };
    let scheme_of = |m: &RawMessage| match &m.start {
        StartLine::Request { target, .. } if target.contains("://") => m.scheme(),
        _ => scheme.to_ascii_lowercase(),
    };
    let v = match name {
        HttpMessageComponentName::HttpField(f) => src.values(f),
        HttpMessageComponentName::Derived(d) => {
            let pq = src.path_and_query();
            match d {
                DerivedComponentName::Method => match &src.start {
                    StartLine::Request { method, .. } => vec![method.clone()],
                    _ => vec![],
                },
                DerivedComponentName::TargetUri => match (&src.start, src.authority()) {
                    (StartLine::Request { target, .. }, Some(a)) => {
                        if target.contains("://") {
                            vec![target.clone()]
                        } else {
                            vec![format!("{}://{a}{target}", scheme_of(src))]
                        }
                    }
                    _ => vec![],
                },
                DerivedComponentName::Authority => src.authority().into_iter().collect(),
                DerivedComponentName::Scheme if src.is_request() => vec![scheme_of(src)],
                DerivedComponentName::RequestTarget => match &src.start {
                    StartLine::Request { target, .. } => vec![target.clone()],
                    _ => vec![],
                },
                DerivedComponentName::Path => pq.map(|(p, _)| p).into_iter().collect(),
                DerivedComponentName::Query => pq
                    .map(|(_, q)| format!("?{}", q.unwrap_or_default()))
                    .into_iter()
                    .collect(),
                DerivedComponentName::QueryParam => pq
                    .and_then(|(_, q)| q)
                    .map(|q| q.split('&').map(str::to_string).collect())
                    .unwrap_or_default(),
                DerivedComponentName::Status => match &src.start {
                    StartLine::Response { status } => vec![status.clone()],
                    _ => vec![],
                },
                _ => vec![],
            }
        }
    };
    Ok(v)
}

fn build_base(
    message: &str,
    request: Option<&str>,
    scheme: &str,
    params: &HttpSignatureParams,
) -> Result<HttpSignatureBase, TargetError> {
    let msg = parse(message)?;
    let req = request.map(parse).transpose()?;
    let mut lines = Vec::with_capacity(params.covered_components.len());
    for id in &params.covered_components {
        let req_param = id.params.0.contains(&HttpMessageComponentParam::Req);
        let values = values_for(&id.name, req_param, &msg, req.as_ref(), scheme)?;
        lines.push(HttpMessageComponent::try_from((id, values.as_slice())).map_err(map_err)?);
    }
    HttpSignatureBase::try_new(&lines, params).map_err(map_err)
}

fn parse_params(s: &str) -> Result<HttpSignatureParams, TargetError> {
    HttpSignatureParams::try_from(s).map_err(map_err)
}

/// The policy rules this signature breaks that the crate has no API to check. (A rule the
/// signature satisfies needs no check, so the crate is not blamed for lacking it there.)
fn inexpressible(p: &VerifyPolicy, params: &HttpSignatureParams) -> Option<String> {
    let mut v = Vec::new();
    let created = params.created;
    if let (Some(max), Some(c)) = (p.max_age, created)
        && p.now.saturating_sub(c) > max
    {
        v.push("max age of `created`".to_string());
    }
    if p.max_age.is_some() && created.is_none() {
        v.push("`created` required by a max age".to_string());
    }
    if let (Some(skew), Some(c)) = (p.created_skew, created)
        && c > p.now.saturating_add(skew)
    {
        v.push("`created` in the future".to_string());
    }
    let covered: Vec<String> = params
        .covered_components
        .iter()
        .map(|c| c.to_string())
        .collect();
    for r in &p.required_components {
        if !covered.iter().any(|c| c == r) {
            v.push(format!("required component {r}"));
        }
    }
    for r in &p.required_params {
        let present = match r.as_str() {
            "created" => params.created.is_some(),
            "expires" => params.expires.is_some(),
            "nonce" => params.nonce.is_some(),
            "alg" => params.alg.is_some(),
            "keyid" => params.keyid.is_some(),
            "tag" => params.tag.is_some(),
            _ => false,
        };
        if !present {
            v.push(format!("required parameter {r}"));
        }
    }
    if let Some(n) = &params.nonce
        && p.seen_nonces.contains(n)
    {
        v.push("nonce replay".to_string());
    }
    if let Some(t) = &p.required_tag
        && params.tag.as_ref() != Some(t)
    {
        v.push("required tag".to_string());
    }
    if let Some(max) = p.max_validity {
        match (params.created, params.expires) {
            (Some(c), Some(e)) if e > c && e - c <= max => {}
            _ => v.push("maximum validity window".to_string()),
        }
    }
    if let Some(e) = params.expires
        && p.expires_skew > 0
        && e < p.now
    {
        v.push("a skew allowance after `expires`".to_string());
    }
    for f in &p.forbidden_components {
        if covered.iter().any(|c| c == f) {
            v.push(format!("forbidden component {f}"));
        }
    }
    if let Some(k) = &params.keyid
        && p.revoked_keyids.contains(k)
    {
        v.push("a revoked keyid".to_string());
    }
    // The crate has no Content-Digest check: a profile that requires one is not expressible.
    if p.require_content_digest {
        v.push("Content-Digest required and checked against the body".to_string());
    }
    (!v.is_empty()).then(|| {
        format!(
            "the httpsig verifier only checks `expires`; this signature breaks a rule it has no check for: {}",
            v.join(", ")
        )
    })
}

impl HttpSigTarget for HttpsigCrate {
    fn name(&self) -> &'static str {
        "httpsig-crate"
    }

    fn key_formats(&self) -> &'static [&'static str] {
        &["pem-pkcs8", "pem-spki", "base64"]
    }

    fn signature_base(&self, input: &BaseInput<'_>) -> Result<String, TargetError> {
        let params = parse_params(input.signature_params)?;
        Ok(build_base(input.message, input.request, input.scheme, &params)?.to_string())
    }

    fn sign(&self, input: &SignInput<'_>) -> Result<String, TargetError> {
        let params = parse_params(input.signature_params)?;
        let base = build_base(input.message, input.request, input.scheme, &params)?;
        let headers = match load_key(input.key, input.alg)? {
            Key::Secret(k) => base.build_signature_headers(&k, Some(input.label)),
            Key::Shared(k) => base.build_signature_headers(&k, Some(input.label)),
            Key::Public(_) => {
                return Err(TargetError::rejected(
                    "public_key_cannot_sign",
                    "a public key cannot sign",
                ));
            }
        }
        .map_err(map_err)?;
        Ok(add_fields(
            input.message,
            &[
                ("Signature-Input", &headers.signature_input_header_value()),
                ("Signature", &headers.signature_header_value()),
            ],
        ))
    }

    fn verify(&self, input: &VerifyInput<'_>) -> Result<(), TargetError> {
        // The crate verifies with one key the integrator picked; a key set is ours to resolve,
        // so a case about resolving it would judge our glue, not the crate.
        if input.policy.key_set.is_some() {
            return Err(TargetError::unsupported(
                "a key set (JWK Set) whose key the keyid selects",
            ));
        }
        let missing =
            |n: &str| TargetError::rejected("signature_not_found", format!("no {n} field"));
        let sig = combined(input.message, "signature").ok_or_else(|| missing("Signature"))?;
        let sig_input =
            combined(input.message, "signature-input").ok_or_else(|| missing("Signature-Input"))?;
        let map = HttpSignatureHeaders::try_parse(&sig, &sig_input).map_err(map_err)?;
        let headers = match input.label {
            Some(l) => map.get(l).ok_or_else(|| {
                TargetError::rejected(
                    "signature_not_found",
                    format!("no signature labelled {l:?}"),
                )
            })?,
            None if map.len() == 1 => map.values().next().ok_or_else(|| missing("Signature"))?,
            None => {
                return Err(TargetError::rejected(
                    "signature_not_found",
                    "several signatures and no label given",
                ));
            }
        };
        // Key resolution is the application's (RFC 9421 §3.2 step 5): a keyid naming another key
        // finds no key.
        if let Some(k) = &headers.signature_params().keyid
            && *k != input.key.id
        {
            return Err(TargetError::rejected(
                "unknown_key",
                format!("keyid {k:?} is not the configured key {:?}", input.key.id),
            ));
        }
        if let Some(why) = inexpressible(input.policy, headers.signature_params()) {
            return Err(TargetError::unsupported(why));
        }
        // The crate compares `expires` with the wall clock; it cannot verify at another time.
        if input.policy.check_expires
            && let Some(exp) = headers.signature_params().expires
        {
            let wall = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0);
            if (exp < wall) != (exp < input.policy.now) {
                return Err(TargetError::unsupported(format!(
                    "the httpsig verifier judges expires={exp} against the wall clock ({wall}); it cannot verify at now={}",
                    input.policy.now
                )));
            }
        }
        let base = build_base(
            input.message,
            input.request,
            input.scheme,
            headers.signature_params(),
        )?;
        let res = match load_key(input.key, input.alg)? {
            Key::Secret(k) => base.verify_signature_headers(&k, headers),
            Key::Public(k) => base.verify_signature_headers(&k, headers),
            Key::Shared(k) => base.verify_signature_headers(&k, headers),
        };
        res.map_err(map_err)
    }
}

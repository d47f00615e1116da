//! Target `ours`: the workspace's reference implementation, the `http-sig` crate.

use http_sig::{
    Algorithm, Error, HttpMessage, InMemoryNonceStore, Key, KeySet, NonceStore, ParseOptions,
    SignatureParams, Signer, StructuredType, StructuredTypes, VerificationPolicy, Verifier,
    signature_base_with,
};

use super::target::{
    BaseInput, HttpSigTarget, KeyInput, SignInput, TargetError, VerifyInput, VerifyPolicy,
};

/// The `http-sig` crate behind the adapter.
#[derive(Clone, Copy, Debug, Default)]
pub struct Ours;

fn map_err(e: Error) -> TargetError {
    match e {
        Error::Unsupported(w) => TargetError::unsupported(w),
        other => TargetError::rejected(other.kind(), other.to_string()),
    }
}

fn parse(text: &str, scheme: &str) -> Result<HttpMessage, TargetError> {
    HttpMessage::parse_with(
        text.as_bytes(),
        ParseOptions {
            scheme: scheme.to_string(),
        },
    )
    .map_err(map_err)
}

/// The structured types the case's application declares (RFC 9421 §2.1.1), on top of http-sig's
/// built-in table; a declared type wins over the table.
fn structured_types(declared: &[(String, String)]) -> Result<StructuredTypes, TargetError> {
    let mut types = StructuredTypes::builtin();
    for (field, ty) in declared {
        let ty: StructuredType = ty.parse().map_err(map_err)?;
        types.declare(field, ty);
    }
    Ok(types)
}

fn load_key(key: &KeyInput) -> Result<Key, TargetError> {
    match key.format.as_str() {
        "base64" => Key::from_base64_secret(key.text()?),
        _ => Key::from_bytes(&key.bytes),
    }
    .map_err(map_err)
}

fn alg(name: &str) -> Result<Algorithm, TargetError> {
    name.parse::<Algorithm>().map_err(map_err)
}

fn policy(p: &VerifyPolicy) -> VerificationPolicy {
    VerificationPolicy {
        required_components: p.required_components.clone(),
        required_parameters: p.required_params.clone(),
        max_age: p.max_age,
        // No skew given = the case does not judge `created` in the future.
        allowed_skew: p.created_skew.unwrap_or(u64::MAX / 4),
        allow_expired: !p.check_expires,
        expected_tag: p.required_tag.clone(),
        max_validity: p.max_validity,
        expires_skew: p.expires_skew,
        forbidden_components: p.forbidden_components.clone(),
        require_content_digest: p.require_content_digest,
        revoked_keyids: p.revoked_keyids.clone(),
        ..VerificationPolicy::default()
    }
}

impl HttpSigTarget for Ours {
    fn name(&self) -> &'static str {
        "ours"
    }

    fn signature_base(&self, input: &BaseInput<'_>) -> Result<String, TargetError> {
        let msg = parse(input.message, input.scheme)?;
        let req = input.request.map(|r| parse(r, input.scheme)).transpose()?;
        let params = SignatureParams::parse(input.signature_params).map_err(map_err)?;
        let types = structured_types(input.structured_fields)?;
        signature_base_with(&msg, req.as_ref(), &params, &types).map_err(map_err)
    }

    fn sign(&self, input: &SignInput<'_>) -> Result<String, TargetError> {
        let mut msg = parse(input.message, input.scheme)?;
        let req = input.request.map(|r| parse(r, input.scheme)).transpose()?;
        let params = SignatureParams::parse(input.signature_params).map_err(map_err)?;
        let types = structured_types(input.structured_fields)?;
        let signer = Signer::new(load_key(input.key)?, Some(alg(input.alg)?))
            .map_err(map_err)?
            .with_structured_types(types);
        signer
            .sign_message(&mut msg, req.as_ref(), input.label, &params)
            .map_err(map_err)?;
        String::from_utf8(msg.to_bytes())
            .map_err(|_| TargetError::rejected("non_ascii", "signed message is not UTF-8"))
    }

    fn verify(&self, input: &VerifyInput<'_>) -> Result<(), TargetError> {
        let msg = parse(input.message, input.scheme)?;
        let req = input.request.map(|r| parse(r, input.scheme)).transpose()?;
        // Key resolution (RFC 9421 §3.2 step 5) is the library's: the group key is known by its
        // id, so a keyid naming another key finds no key (`unknown_key`); with a key set, the
        // keyid selects among its kids.
        let verifier = match &input.policy.key_set {
            Some(jwks) => Verifier::with_key_set(
                KeySet::from_jwks(jwks).map_err(map_err)?,
                Some(alg(input.alg)?),
            ),
            None => Verifier::new(load_key(input.key)?, Some(alg(input.alg)?))
                .with_keyid(input.key.id.clone()),
        };
        let verifier = verifier
            .with_policy(policy(input.policy))
            .with_structured_types(structured_types(input.structured_fields)?);
        let now = input.policy.now;
        let res = if input.policy.seen_nonces.is_empty() {
            verifier.verify(&msg, req.as_ref(), input.label, now)
        } else {
            let mut store = InMemoryNonceStore::new(1024);
            for n in &input.policy.seen_nonces {
                store.check_and_insert(n, now.saturating_add(3600), now);
            }
            verifier.verify_with_nonce_store(&msg, req.as_ref(), input.label, now, &mut store)
        };
        res.map(|_| ()).map_err(map_err)
    }
}

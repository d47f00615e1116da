//! [`Signer`]: key + algorithm + keyid; creates signatures (RFC 9421 §3.1) and adds them to
//! messages (§4.3).

use crate::alg::Algorithm;
use crate::components::StructuredTypes;
use crate::error::{Error, Result};
use crate::key::Key;
use crate::message::HttpMessage;
use crate::params::{OnCollision, SignatureParams, add_signature_serialized, signature_base_parts};

/// Signs signature bases with one key and algorithm.
#[derive(Debug, Clone)]
pub struct Signer {
    key: Key,
    alg: Algorithm,
    keyid: String,
    types: StructuredTypes,
}

impl Signer {
    /// A signer for `key`; `alg` defaults to [`Key::default_algorithm`]. Fails when the key cannot
    /// sign (public key) or does not match `alg` ([`Error::KeyAlgorithmMismatch`]). The keyid
    /// defaults to the JWK `kid` or else [`Key::default_keyid`].
    pub fn new(key: Key, alg: Option<Algorithm>) -> Result<Self> {
        let alg = alg.unwrap_or_else(|| key.default_algorithm());
        // RFC 9421 §3.1 step 1: key material appropriate for the algorithm.
        key.check_algorithm(alg)?;
        key.check_operation(crate::key::KeyOperation::Sign)?;
        if !key.can_sign() {
            return Err(Error::PublicKeyCannotSign(key.describe()));
        }
        let keyid = key
            .kid()
            .map(str::to_string)
            .unwrap_or_else(|| key.default_keyid());
        Ok(Signer {
            key,
            alg,
            keyid,
            types: StructuredTypes::builtin(),
        })
    }

    /// Override the keyid.
    pub fn with_keyid(mut self, keyid: impl Into<String>) -> Self {
        self.keyid = keyid.into();
        self
    }

    /// The structured types the application knows, for `;sf` / `;key` components (RFC 9421
    /// §2.1.1); default: the built-in table.
    pub fn with_structured_types(mut self, types: StructuredTypes) -> Self {
        self.types = types;
        self
    }

    /// The algorithm.
    pub fn algorithm(&self) -> Algorithm {
        self.alg
    }

    /// The keyid this signer puts in `keyid` when asked to ([`Signer::sign_message`] does not add
    /// parameters by itself).
    pub fn keyid(&self) -> &str {
        &self.keyid
    }

    /// The key.
    pub fn key(&self) -> &Key {
        &self.key
    }

    /// Sign an already built signature base.
    pub fn sign_base(&self, base: &str) -> Result<Vec<u8>> {
        self.key.sign(self.alg, base.as_bytes())
    }

    /// Build the signature base for `msg` with `params` and sign it (RFC 9421 §3.1 steps 5-7).
    /// If `params` has an `alg`, it must name this signer's algorithm.
    pub fn sign(
        &self,
        msg: &HttpMessage,
        related_request: Option<&HttpMessage>,
        params: &SignatureParams,
    ) -> Result<Vec<u8>> {
        self.sign_parts(msg, related_request, params)
            .map(|(sig, _, _)| sig)
    }

    /// [`Signer::sign`], also returning the signature base and the offset of the
    /// `@signature-params` value in it.
    fn sign_parts(
        &self,
        msg: &HttpMessage,
        related_request: Option<&HttpMessage>,
        params: &SignatureParams,
    ) -> Result<(Vec<u8>, String, usize)> {
        if let Some(a) = params.alg()
            && a != self.alg.name()
        {
            return Err(Error::AlgorithmMismatch(format!(
                "the `alg` parameter says {a:?} but the signer uses {}",
                self.alg
            )));
        }
        let (base, params_at) = signature_base_parts(
            msg,
            related_request,
            params,
            &self.types,
            &crate::Limits::UNLIMITED,
        )?;
        let sig = self.sign_base(&base)?;
        Ok((sig, base, params_at))
    }

    /// Sign and add Signature-Input / Signature members under `label` (never overwrites an existing
    /// label: [`Error::LabelCollision`]).
    pub fn sign_message(
        &self,
        msg: &mut HttpMessage,
        related_request: Option<&HttpMessage>,
        label: &str,
        params: &SignatureParams,
    ) -> Result<Vec<u8>> {
        let (sig, base, params_at) = self.sign_parts(msg, related_request, params)?;
        // The Signature-Input member is the `@signature-params` value just signed (RFC 9421
        // §4.1), taken from the base rather than serialized again.
        add_signature_serialized(
            msg,
            label,
            params,
            Some((base, params_at)),
            &sig,
            OnCollision::Error,
        )?;
        Ok(sig)
    }
}

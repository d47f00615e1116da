//! OpenPGP signing keys and the three signature shapes the signing server produces.
//!
//! Signing is real (the `pgp` crate, pure-Rust OpenPGP: the one allowed exception to the
//! single crypto stack; aws-lc-rs has no OpenPGP layer). Keys are v4 Ed25519 ("EdDSA legacy",
//! RFC 9580 section 5.5.5.5), which every deployed GnuPG 2.2+ verifies. The results:
//! - container claims (`signed_claim`): base64 of a binary OpenPGP *signed message* holding the
//!   claim JSON (the "atomic container signature" format: `gpg --verify` / `gpg --decrypt`);
//! - clear-sign (`signed_data`): base64 of the ASCII-armored cleartext-signed text
//!   (RFC 9580 section 7; `gpg --verify`);
//! - blobs (`signed_payload`): base64 of an ASCII-armored *detached* binary signature
//!   (`gpg --verify SIG DATA`).
//!
//! Which key signs a request: the request's `sig_key_id` (the last 8 characters of the key id,
//! notes "Body keys") is matched, case-insensitively, against the last 8 hex digits of each
//! key's 16-digit key id.

use std::path::Path;

use pgp::composed::{
    ArmorOptions, CleartextSignedMessage, Deserializable, DetachedSignature, KeyType,
    MessageBuilder, SecretKeyParamsBuilder, SignedSecretKey,
};
use pgp::crypto::hash::HashAlgorithm;
use pgp::types::{KeyDetails, Password};

use crate::error::ServerError;

/// One signing key.
#[derive(Debug, Clone)]
pub struct SigningKey {
    secret: SignedSecretKey,
    /// 16 upper-case hex digits.
    key_id: String,
}

impl SigningKey {
    /// Generate a fresh Ed25519 key with this user id.
    pub fn generate(user_id: &str) -> Result<Self, ServerError> {
        let mut params = SecretKeyParamsBuilder::default();
        params
            .key_type(KeyType::Ed25519Legacy)
            .can_certify(true)
            .can_sign(true)
            .primary_user_id(user_id.into());
        let params = params
            .build()
            .map_err(|e| ServerError::Key(format!("key parameters: {e}")))?;
        let secret = params
            .generate(rand08::rngs::OsRng)
            .map_err(|e| ServerError::Key(format!("key generation: {e}")))?;
        Ok(Self::from_secret(secret))
    }

    fn from_secret(secret: SignedSecretKey) -> Self {
        let key_id: String = secret
            .legacy_key_id()
            .as_ref()
            .iter()
            .map(|b| format!("{b:02X}"))
            .collect();
        SigningKey { secret, key_id }
    }

    /// Parse an ASCII-armored secret key (unprotected).
    pub fn from_armored(text: &str, origin: &str) -> Result<Self, ServerError> {
        let (secret, _) = SignedSecretKey::from_string(text).map_err(|e| {
            ServerError::Key(format!("{origin}: not an armored OpenPGP secret key: {e}"))
        })?;
        secret.verify_bindings().map_err(|e| {
            ServerError::Key(format!("{origin}: key self-signatures do not verify: {e}"))
        })?;
        Ok(Self::from_secret(secret))
    }

    /// The 16-hex-digit key id.
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// The `sig_key_id` clients send for this key: the last 8 characters of the key id.
    pub fn short_id(&self) -> &str {
        &self.key_id[8..]
    }

    /// The ASCII-armored public key (import it with `gpg --import`).
    pub fn public_armored(&self) -> Result<String, ServerError> {
        self.secret
            .to_public_key()
            .to_armored_string(ArmorOptions::default())
            .map_err(|e| ServerError::Key(format!("armoring the public key: {e}")))
    }

    /// The ASCII-armored secret key (for `--keys DIR`).
    pub fn secret_armored(&self) -> Result<String, ServerError> {
        self.secret
            .to_armored_string(ArmorOptions::default())
            .map_err(|e| ServerError::Key(format!("armoring the secret key: {e}")))
    }

    /// A binary OpenPGP signed message holding `data` (inline signature).
    pub fn sign_message(&self, data: &[u8]) -> Result<Vec<u8>, ServerError> {
        let mut b = MessageBuilder::from_bytes("", data.to_vec());
        b.sign(&*self.secret, Password::empty(), HashAlgorithm::Sha256);
        b.to_vec(rand08::rngs::OsRng)
            .map_err(|e| ServerError::Sign(format!("signed message: {e}")))
    }

    /// An ASCII-armored cleartext-signed message of `text`.
    pub fn clearsign(&self, text: &str) -> Result<String, ServerError> {
        let m = CleartextSignedMessage::sign(
            rand08::rngs::OsRng,
            text,
            &*self.secret,
            &Password::empty(),
        )
        .map_err(|e| ServerError::Sign(format!("cleartext signature: {e}")))?;
        m.to_armored_string(ArmorOptions::default())
            .map_err(|e| ServerError::Sign(format!("armoring the cleartext signature: {e}")))
    }

    /// An ASCII-armored detached binary signature over `data`.
    pub fn detached(&self, data: &[u8]) -> Result<String, ServerError> {
        let s = DetachedSignature::sign_binary_data(
            rand08::rngs::OsRng,
            &*self.secret,
            &Password::empty(),
            HashAlgorithm::Sha256,
            data,
        )
        .map_err(|e| ServerError::Sign(format!("detached signature: {e}")))?;
        s.to_armored_string(ArmorOptions::default())
            .map_err(|e| ServerError::Sign(format!("armoring the detached signature: {e}")))
    }
}

/// The keys a signing server holds.
#[derive(Debug, Clone)]
pub struct KeyRing {
    keys: Vec<SigningKey>,
}

impl KeyRing {
    /// A ring with one freshly generated key.
    pub fn generate() -> Result<Self, ServerError> {
        Ok(KeyRing {
            keys: vec![SigningKey::generate(
                "sigharness mock signing server <mock-signing-server@localhost>",
            )?],
        })
    }

    /// A ring of the given keys (at least one).
    pub fn new(keys: Vec<SigningKey>) -> Result<Self, ServerError> {
        if keys.is_empty() {
            return Err(ServerError::Key("a key ring needs at least one key".into()));
        }
        Ok(KeyRing { keys })
    }

    /// Load every `*.asc` file of `dir` (ASCII-armored unprotected secret keys).
    pub fn from_dir(dir: &Path) -> Result<Self, ServerError> {
        let rd = std::fs::read_dir(dir).map_err(|e| {
            ServerError::Key(format!(
                "--keys {}: cannot read the directory: {e}",
                dir.display()
            ))
        })?;
        let mut paths: Vec<_> = rd
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "asc"))
            .collect();
        paths.sort();
        let mut keys = Vec::new();
        for p in &paths {
            let text = std::fs::read_to_string(p)
                .map_err(|e| ServerError::Key(format!("{}: cannot read: {e}", p.display())))?;
            keys.push(SigningKey::from_armored(&text, &p.display().to_string())?);
        }
        if keys.is_empty() {
            return Err(ServerError::Key(format!(
                "--keys {}: no *.asc secret key file found (write one with `gpg --export-secret-keys --armor`)",
                dir.display()
            )));
        }
        Ok(KeyRing { keys })
    }

    /// The key whose key id ends with `short_id` (case-insensitive).
    pub fn find(&self, short_id: &str) -> Option<&SigningKey> {
        if short_id.is_empty() {
            return None;
        }
        let want = short_id.to_ascii_uppercase();
        self.keys.iter().find(|k| k.key_id.ends_with(&want))
    }

    /// All keys, in load order.
    pub fn keys(&self) -> &[SigningKey] {
        &self.keys
    }

    /// The first key.
    pub fn first(&self) -> &SigningKey {
        &self.keys[0]
    }
}

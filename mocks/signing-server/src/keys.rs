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
//! key's 16-digit key id, then against the key ids the client's `key_aliases` name
//! ([`KeyRing::with_aliases`]): a deployed client's config names the production key ids, which
//! no key we can make has (an OpenPGP key id is a hash of the key), so each aliased id gets a
//! generated key of its own that signs in its name; its fingerprint is printed and its public
//! key exported, so `gpg --verify` works with that key.

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
    /// Shared: a key is cloned into every signing job.
    secret: std::sync::Arc<SignedSecretKey>,
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
        SigningKey {
            secret: std::sync::Arc::new(secret),
            key_id,
        }
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

    /// The 40-hex-digit v4 fingerprint (what `gpg --list-keys` shows).
    pub fn fingerprint(&self) -> String {
        format!("{:X}", self.secret.fingerprint())
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
        self.sign_message_with(data, HashAlgorithm::Sha256)
    }

    /// [`Self::sign_message`] with this hash algorithm.
    pub(crate) fn sign_message_with(
        &self,
        data: &[u8],
        hash: HashAlgorithm,
    ) -> Result<Vec<u8>, ServerError> {
        let mut b = MessageBuilder::from_bytes("", data.to_vec());
        b.sign(&**self.secret, Password::empty(), hash);
        b.to_vec(rand08::rngs::OsRng)
            .map_err(|e| ServerError::Sign(format!("signed message: {e}")))
    }

    /// An ASCII-armored cleartext-signed message of `text`.
    pub fn clearsign(&self, text: &str) -> Result<String, ServerError> {
        let m = CleartextSignedMessage::sign(
            rand08::rngs::OsRng,
            text,
            &**self.secret,
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
            &**self.secret,
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
    /// Key ids named by the client's `key_aliases` that no key of the ring has: (alias, the
    /// aliased key id, index of the generated key in `keys` that signs in its name).
    aliases: Vec<AliasKey>,
}

/// A key id named by a `key_aliases` entry, and the key that signs for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AliasKey {
    pub alias: String,
    /// The key id as the config writes it (its last 8 characters are the `sig_key_id`).
    pub key_id: String,
    /// Index in [`KeyRing::keys`].
    pub index: usize,
}

impl KeyRing {
    /// A ring with one freshly generated key.
    pub fn generate() -> Result<Self, ServerError> {
        Ok(KeyRing {
            keys: vec![SigningKey::generate(
                "sigharness mock signing server <mock-signing-server@localhost>",
            )?],
            aliases: Vec::new(),
        })
    }

    /// A ring of the given keys (at least one).
    pub fn new(keys: Vec<SigningKey>) -> Result<Self, ServerError> {
        if keys.is_empty() {
            return Err(ServerError::Key("a key ring needs at least one key".into()));
        }
        Ok(KeyRing {
            keys,
            aliases: Vec::new(),
        })
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
        Ok(KeyRing {
            keys,
            aliases: Vec::new(),
        })
    }

    /// Sign for every key id that `key_aliases` (alias -> key id, the client's config) names:
    /// an id whose last 8 characters match a key of the ring is that key's; any other gets a
    /// freshly generated key that signs in its name. Ids shorter than 8 characters cannot be
    /// a `sig_key_id` and are an error naming the alias.
    pub fn with_aliases<'a>(
        mut self,
        key_aliases: impl IntoIterator<Item = (&'a String, &'a String)>,
    ) -> Result<Self, ServerError> {
        for (alias, key_id) in key_aliases {
            let Some(short) = key_id.len().checked_sub(8).and_then(|i| key_id.get(i..)) else {
                return Err(ServerError::Key(format!(
                    "key_aliases.{alias}: {key_id:?} is shorter than 8 characters, so it cannot name a key (its last 8 characters are the sig_key_id)"
                )));
            };
            if self.find(short).is_some() {
                continue;
            }
            let key = SigningKey::generate(&format!(
                "sigharness mock key for alias {alias} ({key_id}) <mock-signing-server@localhost>"
            ))?;
            self.keys.push(key);
            self.aliases.push(AliasKey {
                alias: alias.clone(),
                key_id: key_id.clone(),
                index: self.keys.len() - 1,
            });
        }
        Ok(self)
    }

    /// The key ids of `key_aliases` that generated keys sign for.
    pub fn aliases(&self) -> &[AliasKey] {
        &self.aliases
    }

    /// The key whose key id ends with `short_id` (case-insensitive), or the key that signs
    /// for an aliased key id ending so.
    pub fn find(&self, short_id: &str) -> Option<&SigningKey> {
        if short_id.is_empty() {
            return None;
        }
        let want = short_id.to_ascii_uppercase();
        self.keys
            .iter()
            .find(|k| k.key_id.ends_with(&want))
            .or_else(|| {
                self.aliases
                    .iter()
                    .find(|a| a.key_id.to_ascii_uppercase().ends_with(&want))
                    .and_then(|a| self.keys.get(a.index))
            })
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

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    /// A deployed client's config names production key ids: each gets a generated key that
    /// signs in its name (before: "unknown signing key"), found by its last 8 characters in
    /// any case; an id the ring has already is that key's; a short id is an error.
    #[test]
    fn aliased_key_ids_get_a_key_each() {
        let ring = KeyRing::generate().unwrap();
        let own = ring.first().key_id().to_string();
        assert!(ring.find("89ABCDEF").is_none());
        let aliases: BTreeMap<String, String> = [
            ("prod".to_string(), "0123456789ABCDEF".to_string()),
            ("beta".to_string(), "FEDCBA9876543210".to_string()),
            ("mine".to_string(), own.clone()),
        ]
        .into_iter()
        .collect();
        let ring = ring.with_aliases(&aliases).unwrap();
        assert_eq!(ring.keys().len(), 3);
        assert_eq!(ring.aliases().len(), 2);
        let prod = ring.find("89abcdef").expect("prod's id is signed for");
        let beta = ring.find("76543210").expect("beta's id is signed for");
        assert_ne!(prod.key_id(), beta.key_id());
        assert_eq!(ring.find(&own[8..]).unwrap().key_id(), own);
        assert_eq!(prod.fingerprint().len(), 40);
        assert!(prod.fingerprint().ends_with(prod.key_id()));
        assert!(prod.public_armored().unwrap().contains("PUBLIC KEY"));

        let short: BTreeMap<String, String> =
            [("x".to_string(), "ABC".to_string())].into_iter().collect();
        let e = KeyRing::generate()
            .unwrap()
            .with_aliases(&short)
            .unwrap_err()
            .to_string();
        assert!(e.contains("key_aliases.x"), "{e}");
    }
}

//! DIDs, their hashes, their keys, and `signatureOfDid`.
//!
//! Self-certifying DIDs need no registry: the public key is in the identifier.
//! - W3C `did:key` with a secp256k1 public key: `did:key:z` + base58btc(0xe7 0x01 ‖ 33-byte
//!   compressed SEC1 point) (multicodec `secp256k1-pub` = 0xe7, varint-encoded; multibase `z` =
//!   base58btc). Source: W3C did:key method draft, multicodec table.
//! - `did:ssi:key:<domain>:<base58 SEC1 public key>`.
//!
//! One key, one DID: both carry the compressed point; a DID with the uncompressed form of a key is
//! refused (it would be a second DID, and a second queue, for the same key).
//!
//! Any other DID method is resolved through a [`DidRegistry`]: a JSON file mapping each DID to the
//! hex of its SEC1 secp256k1 public key, named by `did_registry` in the server configuration. The
//! operator fills it from whatever resolver the method has (a ledger, `did:web` documents, ...).
//!
//! hashDID = base58(SHA-256(UTF-8 of the DID string)), as apihub computes it.

use std::collections::HashMap;
use std::path::Path;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    ECDSA_P256K1_SHA256_ASN1, ECDSA_P256K1_SHA256_ASN1_SIGNING, EcdsaKeyPair, KeyPair,
    UnparsedPublicKey,
};
use serde::{Deserialize, Serialize};

use crate::codec::{b58, b58_decode, hex_decode, hex_encode, sha256};
use crate::error::{MqHubError, Result};

/// Multicodec prefix of a secp256k1 public key (`secp256k1-pub`, 0xe7, as an unsigned varint).
const SECP256K1_PUB_MULTICODEC: [u8; 2] = [0xe7, 0x01];

/// hashDID = base58(SHA-256(DID string)).
pub fn hash_did(did: &str) -> String {
    b58(&sha256(did.as_bytes()))
}

/// A well-formed hashDID decodes from base58 to exactly 32 bytes.
pub fn is_hash_did(s: &str) -> bool {
    // Decoded onto a fixed buffer (no allocation per request); more than 32 bytes is an error.
    let mut digest = [0u8; 32];
    s.len() <= 64 && bs58::decode(s).onto(&mut digest[..]).is_ok_and(|n| n == 32)
}

/// Compress an uncompressed SEC1 point (0x04 ‖ x ‖ y) to 0x02/0x03 ‖ x.
fn compress(uncompressed: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(33);
    out.push(if uncompressed[64] & 1 == 1 { 3 } else { 2 });
    out.extend_from_slice(&uncompressed[1..33]);
    out
}

fn did_err(did: &str, reason: impl Into<String>) -> MqHubError {
    MqHubError::Did {
        did: did.to_string(),
        reason: reason.into(),
    }
}

fn check_sec1(did: &str, key: &[u8]) -> Result<()> {
    let ok = (key.len() == 33 && (key[0] == 2 || key[0] == 3)) || (key.len() == 65 && key[0] == 4);
    if ok {
        Ok(())
    } else {
        Err(did_err(
            did,
            format!(
                "the public key is {} bytes; expected a SEC1 secp256k1 point (33 compressed or 65 uncompressed)",
                key.len()
            ),
        ))
    }
}

/// One key, one DID: a self-certifying DID carries the compressed 33-byte point. The
/// uncompressed form of the same key would be a second DID, hence a second queue for one holder,
/// so it is refused (docs/mq-hub-contract.md C10).
fn check_compressed(did: &str, key: &[u8]) -> Result<()> {
    check_sec1(did, key)?;
    if key.len() == 65 {
        return Err(did_err(
            did,
            "the key is an uncompressed SEC1 point: one key names one DID, with the compressed \
             33-byte point (0x02/0x03 || x); re-encode the key",
        ));
    }
    Ok(())
}

/// The SEC1 public key of a self-certifying DID, or `None` when the DID's method is not
/// self-certifying (the registry must then know it).
pub fn self_certified_key(did: &str) -> Result<Option<Vec<u8>>> {
    if let Some(mb) = did.strip_prefix("did:key:") {
        let enc = mb
            .strip_prefix('z')
            .ok_or_else(|| did_err(did, "did:key must be multibase base58btc (start with 'z')"))?;
        let raw = b58_decode(enc).ok_or_else(|| did_err(did, "did:key is not valid base58"))?;
        let key = raw
            .strip_prefix(&SECP256K1_PUB_MULTICODEC[..])
            .ok_or_else(|| did_err(did, "did:key is not a secp256k1-pub (multicodec 0xe7) key"))?;
        check_compressed(did, key)?;
        return Ok(Some(key.to_vec()));
    }
    if let Some(rest) = did.strip_prefix("did:ssi:key:") {
        let (domain, key) = rest
            .rsplit_once(':')
            .ok_or_else(|| did_err(did, "expected did:ssi:key:<domain>:<base58 public key>"))?;
        if domain.is_empty() {
            return Err(did_err(did, "the domain of did:ssi:key is empty"));
        }
        let key = b58_decode(key).ok_or_else(|| did_err(did, "public key is not base58"))?;
        check_compressed(did, &key)?;
        return Ok(Some(key));
    }
    if !did.starts_with("did:") || did.split(':').count() < 3 {
        return Err(did_err(did, "not a DID (expected did:<method>:<id>)"));
    }
    Ok(None)
}

/// Keys of DIDs whose method is not self-certifying: a JSON object `{ "<DID>": "<hex SEC1 key>" }`.
#[derive(Clone, Debug, Default)]
pub struct DidRegistry {
    keys: HashMap<String, Vec<u8>>,
}

impl DidRegistry {
    /// Load a registry file.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| MqHubError::Io {
            context: format!("reading DID registry {}", path.display()),
            source: e,
        })?;
        Self::from_json(&text)
            .map_err(|e| MqHubError::Config(format!("DID registry {}: {e}", path.display())))
    }

    /// Parse a registry from JSON text.
    pub fn from_json(text: &str) -> Result<Self> {
        let raw: HashMap<String, String> = serde_json::from_str(text).map_err(|e| {
            MqHubError::Config(format!("expected {{\"<DID>\": \"<hex key>\"}}: {e}"))
        })?;
        let mut keys = HashMap::new();
        for (did, hex) in raw {
            let key = hex_decode(&hex).ok_or_else(|| did_err(&did, "registry key is not hex"))?;
            check_sec1(&did, &key)?;
            keys.insert(did, key);
        }
        Ok(DidRegistry { keys })
    }

    /// Add one DID.
    pub fn insert(&mut self, did: impl Into<String>, sec1_key: Vec<u8>) {
        self.keys.insert(did.into(), sec1_key);
    }

    /// The SEC1 public key of `did`: from the DID itself when self-certifying, else from here.
    pub fn resolve(&self, did: &str) -> Result<Vec<u8>> {
        match self_certified_key(did)? {
            Some(k) => Ok(k),
            None => self.keys.get(did).cloned().ok_or_else(|| {
                did_err(
                    did,
                    "not self-certifying and not in the server's DID registry (did_registry)",
                )
            }),
        }
    }
}

/// Verify an ECDSA secp256k1/SHA-256 signature (DER) by `sec1_key` over `msg`.
pub fn verify_secp256k1(sec1_key: &[u8], msg: &[u8], der_sig: &[u8]) -> bool {
    UnparsedPublicKey::new(&ECDSA_P256K1_SHA256_ASN1, sec1_key)
        .verify(msg, der_sig)
        .is_ok()
}

/// Which kind of self-certifying DID to make for a new key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DidMethod {
    /// `did:key:z...`
    Key,
    /// `did:ssi:key:<domain>:<base58 key>`
    SsiKey { domain: String },
}

/// A DID and its secp256k1 private key: signs token proofs and `signatureOfDid`.
pub struct DidKeyPair {
    did: String,
    pair: EcdsaKeyPair,
    pkcs8: Vec<u8>,
}

impl std::fmt::Debug for DidKeyPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DidKeyPair")
            .field("did", &self.did)
            .finish_non_exhaustive()
    }
}

/// The on-disk form of a [`DidKeyPair`] (JSON).
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DidKeyFile {
    /// The DID.
    pub did: String,
    /// Hex of the PKCS#8 (v1) DER of the secp256k1 private key.
    pub private_key_pkcs8: String,
}

impl DidKeyPair {
    /// A new random key with a self-certifying DID.
    pub fn generate(method: DidMethod) -> Result<Self> {
        let doc =
            EcdsaKeyPair::generate_pkcs8(&ECDSA_P256K1_SHA256_ASN1_SIGNING, &SystemRandom::new())
                .map_err(|_| MqHubError::Key("cannot generate a secp256k1 key".into()))?;
        let pkcs8 = doc.as_ref().to_vec();
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256K1_SHA256_ASN1_SIGNING, &pkcs8)
            .map_err(|e| MqHubError::Key(format!("generated key rejected: {e}")))?;
        let compressed = compress(pair.public_key().as_ref());
        let did = match method {
            DidMethod::Key => {
                let mut raw = SECP256K1_PUB_MULTICODEC.to_vec();
                raw.extend_from_slice(&compressed);
                format!("did:key:z{}", b58(&raw))
            }
            DidMethod::SsiKey { domain } => format!("did:ssi:key:{domain}:{}", b58(&compressed)),
        };
        Ok(DidKeyPair { did, pair, pkcs8 })
    }

    /// A key for a DID of any method (the server must be able to resolve it).
    pub fn from_pkcs8(did: impl Into<String>, pkcs8: &[u8]) -> Result<Self> {
        let did = did.into();
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256K1_SHA256_ASN1_SIGNING, pkcs8)
            .map_err(|e| MqHubError::Key(format!("not a secp256k1 PKCS#8 private key: {e}")))?;
        if let Some(k) = self_certified_key(&did)? {
            let ours = pair.public_key().as_ref();
            if k != ours && k != compress(ours) {
                return Err(did_err(
                    &did,
                    "the private key does not match the key in the DID",
                ));
            }
        }
        Ok(DidKeyPair {
            did,
            pair,
            pkcs8: pkcs8.to_vec(),
        })
    }

    /// Read a key file written by [`DidKeyPair::save`].
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| MqHubError::Io {
            context: format!("reading DID key file {}", path.display()),
            source: e,
        })?;
        let f: DidKeyFile = serde_json::from_str(&text).map_err(|e| {
            MqHubError::Config(format!(
                "DID key file {}: expected {{\"did\", \"private_key_pkcs8\"}}: {e}",
                path.display()
            ))
        })?;
        let der = hex_decode(&f.private_key_pkcs8).ok_or_else(|| {
            MqHubError::Config(format!("{}: private_key_pkcs8 is not hex", path.display()))
        })?;
        Self::from_pkcs8(f.did, &der)
    }

    /// The key file contents (JSON).
    pub fn to_json(&self) -> String {
        let f = DidKeyFile {
            did: self.did.clone(),
            private_key_pkcs8: hex_encode(&self.pkcs8),
        };
        serde_json::to_string_pretty(&f).unwrap_or_default()
    }

    /// Write the key file (JSON).
    pub fn save(&self, path: &Path) -> Result<()> {
        std::fs::write(path, self.to_json()).map_err(|e| MqHubError::Io {
            context: format!("writing DID key file {}", path.display()),
            source: e,
        })
    }

    pub fn did(&self) -> &str {
        &self.did
    }

    /// hashDID of this DID: the name of its queue.
    pub fn hash_did(&self) -> String {
        hash_did(&self.did)
    }

    /// Uncompressed SEC1 public key.
    pub fn public_key(&self) -> &[u8] {
        self.pair.public_key().as_ref()
    }

    /// DER ECDSA secp256k1/SHA-256 signature over `msg`.
    pub fn sign(&self, msg: &[u8]) -> Vec<u8> {
        self.pair
            .sign(&SystemRandom::new(), msg)
            .map(|s| s.as_ref().to_vec())
            // Signing with a valid key only fails if the RNG fails, which aws-lc treats as fatal.
            .expect("ECDSA signing with a valid key")
    }

    /// `signatureOfDid`: hex of the DER signature over the token string.
    pub fn signature_of_did(&self, token: &str) -> String {
        hex_encode(&self.sign(token.as_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn did_key_round_trips_and_verifies() {
        let k = DidKeyPair::generate(DidMethod::Key).unwrap();
        assert!(k.did().starts_with("did:key:zQ3s"), "{}", k.did());
        let key = self_certified_key(k.did()).unwrap().unwrap();
        assert_eq!(key.len(), 33);
        let sig = k.sign(b"token");
        assert!(verify_secp256k1(&key, b"token", &sig));
        assert!(!verify_secp256k1(&key, b"tokem", &sig));
        let again = DidKeyPair::from_pkcs8(k.did(), &k.pkcs8).unwrap();
        assert_eq!(again.did(), k.did());
        assert!(hash_did(k.did()).len() >= 43);
        assert!(is_hash_did(&k.hash_did()));
    }

    #[test]
    fn did_ssi_key_and_registry() {
        let k = DidKeyPair::generate(DidMethod::SsiKey {
            domain: "vault.csc".into(),
        })
        .unwrap();
        let reg = DidRegistry::default();
        let key = reg.resolve(k.did()).unwrap();
        assert!(verify_secp256k1(&key, b"x", &k.sign(b"x")));
        // another method needs the registry
        assert!(reg.resolve("did:web:example.com").is_err());
        let mut reg = DidRegistry::default();
        reg.insert("did:web:example.com", k.public_key().to_vec());
        assert!(reg.resolve("did:web:example.com").is_ok());
        let json = format!("{{\"did:web:a.b\": \"{}\"}}", hex_encode(k.public_key()));
        assert!(
            DidRegistry::from_json(&json)
                .unwrap()
                .resolve("did:web:a.b")
                .is_ok()
        );
    }

    /// Regression (issue 12): the uncompressed form of a key was accepted as a second DID (a second
    /// queue) for the same key; now refused with the reason, for did:key and did:ssi:key.
    #[test]
    fn one_key_one_did() {
        let k = DidKeyPair::generate(DidMethod::Key).unwrap();
        let mut raw = SECP256K1_PUB_MULTICODEC.to_vec();
        raw.extend_from_slice(k.public_key());
        assert_eq!(k.public_key().len(), 65);
        for did in [
            format!("did:key:z{}", b58(&raw)),
            format!("did:ssi:key:d:{}", b58(k.public_key())),
        ] {
            let e = self_certified_key(&did).unwrap_err().to_string();
            assert!(e.contains("one key names one DID"), "{did}: {e}");
        }
        assert!(self_certified_key(k.did()).unwrap().is_some());
    }

    #[test]
    fn malformed_dids_are_typed_errors() {
        for d in [
            "did:key:Q3s",
            "did:key:z0OIl",
            "did:ssi:key:dom:zzz0",
            "nodid",
            "did:x",
        ] {
            assert!(self_certified_key(d).is_err(), "{d}");
        }
        let other = DidKeyPair::generate(DidMethod::Key).unwrap();
        let k = DidKeyPair::generate(DidMethod::Key).unwrap();
        assert!(DidKeyPair::from_pkcs8(other.did(), &k.pkcs8).is_err());
    }

    #[test]
    fn hash_did_is_base58_sha256() {
        // SHA-256("abc") = ba7816bf..., base58 of it (computed with bs58, a fact check of shape)
        let h = hash_did("abc");
        assert_eq!(b58_decode(&h).unwrap(), sha256(b"abc").to_vec());
    }
}

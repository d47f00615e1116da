//! OpenPGP verification of the signatures a signing server returns (`--set
//! signing_pubkey=FILE`, armored or binary; our mock's own key when it is the target).
//!
//! Uses the `pgp` crate (already in the workspace for the mock signing server: aws-lc-rs has
//! no OpenPGP layer). Three shapes, as `notes/msg-signer-wire.md` "Reply" names them and as
//! GnuPG checks them:
//! - `signed_claim`: base64 of an OpenPGP *signed message* (binary, or armored) whose literal
//!   data is the claim JSON (`gpg --decrypt`);
//! - `signed_data`: base64 of a cleartext-signed message (RFC 9580 section 7) of the data;
//! - `signed_payload`: base64 of a detached signature (binary or armored) over the artifact.
//!
//! Every check is bounded: inputs over [`MAX_SIGNED_BYTES`] are refused before parsing.

use std::io::Read as _;

use pgp::composed::{CleartextSignedMessage, Deserializable, DetachedSignature, Message};
use pgp::packet::Signature;
use pgp::types::{KeyDetails, VerifyingKey};

/// Largest signature or signed message we parse (the payloads the suite sends are far smaller).
pub const MAX_SIGNED_BYTES: usize = 16 * 1024 * 1024;

/// The public keys of the signing server under test (every primary key and subkey verifies).
#[derive(Debug, Clone)]
pub struct PublicKeys {
    keys: Vec<pgp::composed::SignedPublicKey>,
    /// Where they came from (for messages).
    pub origin: String,
}

/// What a signature verified as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// The key id (16 hex digits) of the key that verified it.
    pub key_id: String,
    /// The signed content (signed message: its literal data; cleartext: the text).
    pub content: Vec<u8>,
}

/// A key that may have made a signature: a primary key or a subkey.
#[derive(Clone, Copy)]
enum Vk<'a> {
    Primary(&'a pgp::packet::PublicKey),
    Sub(&'a pgp::packet::PublicSubkey),
}

impl Vk<'_> {
    fn dyn_key(&self) -> &dyn VerifyingKey {
        match self {
            Vk::Primary(k) => *k,
            Vk::Sub(k) => *k,
        }
    }
}

fn hex(id: &pgp::types::KeyId) -> String {
    id.as_ref().iter().map(|b| format!("{b:02X}")).collect()
}

/// The issuer key ids a signature names (for evidence when it does not verify).
fn issuers(sig: &Signature) -> String {
    let ids: Vec<String> = sig.issuer_key_id().into_iter().map(hex).collect();
    if ids.is_empty() {
        "no issuer named".into()
    } else {
        format!("issuer {}", ids.join(", "))
    }
}

impl PublicKeys {
    /// Parse one or more public keys, ASCII-armored or binary.
    pub fn parse(data: &[u8], origin: &str) -> Result<PublicKeys, String> {
        if data.len() > MAX_SIGNED_BYTES {
            return Err(format!(
                "{origin}: {} bytes is too large for a public key",
                data.len()
            ));
        }
        let (it, _) = pgp::composed::SignedPublicKey::from_reader_many(data)
            .map_err(|e| format!("{origin}: not an OpenPGP public key (armored or binary): {e}"))?;
        let mut keys = Vec::new();
        for k in it {
            let k = k.map_err(|e| format!("{origin}: not an OpenPGP public key: {e}"))?;
            keys.push(k);
        }
        if keys.is_empty() {
            return Err(format!(
                "{origin}: no OpenPGP public key found (export one with `gpg --export --armor KEYID`)"
            ));
        }
        Ok(PublicKeys {
            keys,
            origin: origin.to_string(),
        })
    }

    /// Read and parse a key file.
    pub fn from_file(path: &str) -> Result<PublicKeys, String> {
        let data = std::fs::read(path).map_err(|e| format!("--set signing_pubkey={path}: {e}"))?;
        Self::parse(&data, &format!("--set signing_pubkey={path}"))
    }

    /// Every key that may sign: each primary key and its subkeys, with their key ids.
    fn verifiers(&self) -> Vec<(String, Vk<'_>)> {
        let mut v = Vec::new();
        for k in &self.keys {
            v.push((
                hex(&k.primary_key.legacy_key_id()),
                Vk::Primary(&k.primary_key),
            ));
            for s in &k.public_subkeys {
                v.push((hex(&s.key.legacy_key_id()), Vk::Sub(&s.key)));
            }
        }
        v
    }

    /// The key ids (16 hex digits) of every key and subkey.
    pub fn key_ids(&self) -> Vec<String> {
        self.verifiers().into_iter().map(|(id, _)| id).collect()
    }

    /// A signed message (`signed_claim`, decoded from base64): its content, and which key
    /// verified it.
    pub fn verify_message(&self, bytes: &[u8]) -> Result<Verified, String> {
        let (msg, content) = open_message(bytes)?;
        for (id, k) in self.verifiers() {
            if msg.verify(k.dyn_key()).is_ok() {
                return Ok(Verified {
                    key_id: id,
                    content,
                });
            }
        }
        Err(format!(
            "the signature does not verify with {} (key ids {})",
            self.origin,
            self.key_ids().join(", ")
        ))
    }

    /// A cleartext-signed message (`signed_data`, decoded from base64): its text, and which
    /// key verified it.
    pub fn verify_cleartext(&self, bytes: &[u8]) -> Result<Verified, String> {
        bounded(bytes)?;
        let text =
            std::str::from_utf8(bytes).map_err(|_| "a cleartext signature is text: not UTF-8")?;
        let (m, _) = CleartextSignedMessage::from_string(text)
            .map_err(|e| format!("not a cleartext-signed OpenPGP message: {e}"))?;
        for (id, k) in self.verifiers() {
            let ok = match k {
                Vk::Primary(k) => m.verify(k).is_ok(),
                Vk::Sub(k) => m.verify(k).is_ok(),
            };
            if ok {
                return Ok(Verified {
                    key_id: id,
                    content: m.text().as_bytes().to_vec(),
                });
            }
        }
        let named: Vec<String> = m.signatures().iter().map(issuers).collect();
        Err(format!(
            "no signature verifies with {} (key ids {}); the message's signatures: {}",
            self.origin,
            self.key_ids().join(", "),
            named.join("; ")
        ))
    }

    /// A detached signature (`signed_payload`, decoded from base64) over `data`.
    pub fn verify_detached(&self, sig: &[u8], data: &[u8]) -> Result<Verified, String> {
        bounded(sig)?;
        let (s, _) = DetachedSignature::from_reader_single(sig)
            .map_err(|e| format!("not an OpenPGP signature: {e}"))?;
        for (id, k) in self.verifiers() {
            let ok = match k {
                Vk::Primary(k) => s.verify(k, data).is_ok(),
                Vk::Sub(k) => s.verify(k, data).is_ok(),
            };
            if ok {
                return Ok(Verified {
                    key_id: id,
                    content: data.to_vec(),
                });
            }
        }
        Err(format!(
            "the detached signature ({}) does not verify over the {} bytes sent with {} (key ids {})",
            issuers(&s.signature),
            data.len(),
            self.origin,
            self.key_ids().join(", ")
        ))
    }
}

/// A signed message, read to its end: the message (to verify) and its literal content.
fn open_message(bytes: &[u8]) -> Result<(Message<'_>, Vec<u8>), String> {
    bounded(bytes)?;
    let armored = bytes.starts_with(b"-----BEGIN PGP");
    let mut msg = if armored {
        Message::from_armor(bytes).map(|(m, _)| m)
    } else {
        Message::from_bytes(bytes)
    }
    .map_err(|e| format!("not an OpenPGP message: {e}"))?;
    if msg.is_compressed() {
        msg = msg
            .decompress()
            .map_err(|e| format!("compressed OpenPGP message: {e}"))?;
    }
    if !msg.is_signed() {
        return Err("an OpenPGP message, but not a signed one".into());
    }
    let mut content = Vec::new();
    (&mut msg)
        .take(MAX_SIGNED_BYTES as u64 + 1)
        .read_to_end(&mut content)
        .map_err(|e| format!("reading the signed message: {e}"))?;
    if content.len() > MAX_SIGNED_BYTES {
        return Err(format!("signed content over {MAX_SIGNED_BYTES} bytes"));
    }
    Ok((msg, content))
}

/// What a signed message (`signed_claim`) signs, read without verifying who signed it.
pub fn message_content(bytes: &[u8]) -> Result<Vec<u8>, String> {
    open_message(bytes).map(|(_, c)| c)
}

/// The text a cleartext-signed message (`signed_data`) signs, read without verifying it.
pub fn cleartext_text(bytes: &[u8]) -> Result<String, String> {
    bounded(bytes)?;
    let text =
        std::str::from_utf8(bytes).map_err(|_| "a cleartext signature is text: not UTF-8")?;
    let (m, _) = CleartextSignedMessage::from_string(text)
        .map_err(|e| format!("not a cleartext-signed OpenPGP message: {e}"))?;
    Ok(m.text().to_string())
}

fn bounded(b: &[u8]) -> Result<(), String> {
    if b.len() > MAX_SIGNED_BYTES {
        return Err(format!(
            "{} bytes: over the {MAX_SIGNED_BYTES}-byte bound of a signature",
            b.len()
        ));
    }
    Ok(())
}

/// Text as a cleartext signature covers it (RFC 9580 section 7.2): line endings
/// canonicalized, trailing whitespace of each line ignored, no trailing line break.
pub fn cleartext_normalized(s: &str) -> String {
    let lines: Vec<&str> = s
        .split('\n')
        .map(|l| l.trim_end_matches(['\r', ' ', '\t']))
        .collect();
    lines.join("\n").trim_end_matches('\n').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The mock's three signature shapes verify with its public key and not with another's;
    /// the content is recovered; other bytes fail; bad inputs are refused with a reason.
    #[test]
    fn verifies_the_mocks_three_shapes() {
        let key = mock_signing_server::SigningKey::generate("a <a@localhost>").unwrap();
        let other = mock_signing_server::SigningKey::generate("b <b@localhost>").unwrap();
        let pk = PublicKeys::parse(key.public_armored().unwrap().as_bytes(), "a").unwrap();
        assert_eq!(pk.key_ids(), vec![key.key_id().to_string()]);
        let m = key.sign_message(b"{\"claim\":1}").unwrap();
        let v = pk.verify_message(&m).unwrap();
        assert_eq!(v.content, b"{\"claim\":1}");
        assert_eq!(v.key_id, key.key_id());
        let e = pk
            .verify_message(&other.sign_message(b"x").unwrap())
            .unwrap_err();
        assert!(e.contains("does not verify"), "{e}");

        let c = key.clearsign("line one\nline two\n").unwrap();
        let v = pk.verify_cleartext(c.as_bytes()).unwrap();
        assert_eq!(
            cleartext_normalized(std::str::from_utf8(&v.content).unwrap()),
            cleartext_normalized("line one\nline two\n")
        );
        let e = pk
            .verify_cleartext(other.clearsign("x").unwrap().as_bytes())
            .unwrap_err();
        assert!(e.contains("issuer"), "{e}");

        let d = key.detached(b"\x00blob").unwrap();
        pk.verify_detached(d.as_bytes(), b"\x00blob").unwrap();
        let e = pk.verify_detached(d.as_bytes(), b"\x00blob!").unwrap_err();
        assert!(e.contains("6 bytes"), "{e}");

        assert!(pk.verify_message(b"junk").is_err());
        assert!(pk.verify_detached(b"junk", b"").is_err());
        assert!(
            PublicKeys::parse(b"not a key", "k.asc")
                .unwrap_err()
                .contains("k.asc")
        );
    }
}

//! Tokens: issue and check (sans-IO: every function takes `now` in Unix seconds and touches no
//! clock and no socket).
//!
//! - `rfc130` profile: a real JWT (RFC 7519), ES256 (P-256) via `jsonwebtoken`, signed by the
//!   server's own key.
//! - `opendsu` profile: apihub's SeedSSIJWT form byte for byte ([`crate::seedssi`], each fact
//!   with its source): `base58(header).base58(body).base58(sig)`, header `{"typ":"SeedSSIJWT"}`,
//!   body keys in apihub's order with a PEM `publicKey` and an `ssi:sread:` issuer, signature raw
//!   r‖s ECDSA secp256k1/SHA-256 over the ASCII text `base58(SHA-256(header "." body))`.
//!
//! Both carry the same claims: `sub` = the holder's DID, `credentials` = [target hashDID],
//! `options.domain`, `options.access` (`owner`: the holder's own queue, all operations; `put`: may
//! only put into the target queue); the `opendsu` body also repeats the hashDID as
//! `options.credentials`, as apihub's does. Unlike apihub, a token is always verified against the
//! **server's** key, never against a `publicKey` carried inside the token.
//!
//! How a holder proves it holds a DID before a token is issued: the token request carries
//! `x-mq-did: <DID>`, `x-mq-did-timestamp: <Unix seconds>` and `x-mq-did-proof: <hex DER ECDSA
//! secp256k1 signature of [`proof_message`]>` made with the DID's key. The timestamp must be within
//! `proof_window_secs` of the server's clock.

use std::sync::Arc;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, ECDSA_P256K1_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair,
};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::Profile;
use crate::codec::{b58, hex_decode, random_b58};
use crate::did::{DidRegistry, hash_did, verify_secp256k1};
use crate::error::{MqHubError, Result};
use crate::seedssi;

/// Longest token string a server looks at.
pub const MAX_TOKEN_LEN: usize = 8 * 1024;

/// Most verified tokens remembered.
const VERIFIED_CACHE: usize = 16_384;

/// What a token allows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Access {
    /// The holder's own queue: get, take, delete, put.
    Owner,
    /// Only put into the target queue.
    Put,
}

/// Issuer-specific options inside the token.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenOptions {
    pub domain: String,
    pub access: Access,
}

/// The claims of both token forms.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub iss: String,
    /// The holder's DID.
    pub sub: String,
    pub scope: String,
    pub iat: u64,
    pub nbf: u64,
    pub exp: u64,
    /// The hashDID of the queue this token is for.
    pub credentials: Vec<String>,
    pub options: TokenOptions,
    /// The issuer's public key (`rfc130`: base58 SEC1; `opendsu`: PEM, as apihub); informative
    /// only, never used to verify.
    #[serde(rename = "publicKey", default, skip_serializing_if = "Option::is_none")]
    pub public_key: Option<String>,
    /// A random id (`rfc130`; the `opendsu` body has none, as apihub's, and reads back as "").
    #[serde(default)]
    pub jti: String,
}

/// The `opendsu` body, keys in apihub's order (opendsu-core `crypto/jwt.js` `createJWT`).
#[derive(Serialize, Deserialize)]
struct SeedSsiBody {
    sub: String,
    scope: String,
    iss: String,
    #[serde(rename = "publicKey")]
    public_key: String,
    iat: u64,
    nbf: u64,
    exp: u64,
    credentials: Vec<String>,
    options: SeedSsiOptions,
}

/// apihub's `options` is `{"credentials": "<hashDID>"}`; ours adds the domain and the access.
#[derive(Serialize, Deserialize)]
struct SeedSsiOptions {
    credentials: String,
    domain: String,
    access: Access,
}

/// The `ssi:sread:` domain of apihub's token issuer (JWTIssuer.js `DOMAIN_NAME`).
pub const SEEDSSI_ISSUER_DOMAIN: &str = "MQ_DOMAIN";

/// A token as issued.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IssuedToken {
    pub token: String,
    /// Expiry in milliseconds since the epoch (`exp * 1000`, as apihub sends it).
    pub expires_ms: u64,
    pub claims: Claims,
}

enum Signer {
    Jwt { enc: EncodingKey, dec: DecodingKey },
    SeedSsi { pair: EcdsaKeyPair },
}

/// A token whose signature verified: its claims and the hashDID of its subject.
#[derive(Clone, Debug)]
struct Verified {
    claims: Arc<Claims>,
    sub_hash: Arc<str>,
}

/// Issues and checks tokens with the server's own key.
pub struct TokenAuthority {
    /// Tokens whose signature verified, by the token string, with the subject's hashDID (bounded;
    /// the time window is still checked on every use). Clients reuse a token for many requests
    /// and secp256k1 verification costs about a millisecond. Only tokens this server signed get
    /// in, so entries are as small as the tokens it issues.
    verified: std::sync::Mutex<std::collections::HashMap<Box<str>, Verified>>,
    profile: Profile,
    issuer: String,
    /// The `publicKey` claim: base58 SEC1 (`rfc130`), PEM (`opendsu`).
    public_claim: String,
    signer: Signer,
}

impl std::fmt::Debug for TokenAuthority {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenAuthority")
            .field("profile", &self.profile)
            .field("issuer", &self.issuer)
            .finish_non_exhaustive()
    }
}

fn forbidden(msg: impl Into<String>) -> MqHubError {
    MqHubError::Forbidden(msg.into())
}

/// The string a holder signs to prove it holds its DID when asking for a token.
pub fn proof_message(domain: &str, target_hash_did: &str, timestamp: u64) -> String {
    format!("mq-hub-token:{domain}:{target_hash_did}:{timestamp}")
}

/// Check a holder's proof (see the module doc). Returns the holder's DID.
#[allow(clippy::too_many_arguments)]
pub fn check_holder_proof(
    now: u64,
    window_secs: u64,
    registry: &DidRegistry,
    did: Option<&str>,
    timestamp: Option<&str>,
    proof_hex: Option<&str>,
    domain: &str,
    target_hash_did: &str,
) -> Result<String> {
    let did = did.ok_or_else(|| {
        forbidden("no x-mq-did header: a token is issued only to a DID holder who proves it")
    })?;
    let ts = timestamp
        .ok_or_else(|| forbidden("no x-mq-did-timestamp header"))?
        .parse::<u64>()
        .map_err(|_| forbidden("x-mq-did-timestamp is not Unix seconds"))?;
    if ts.abs_diff(now) > window_secs {
        return Err(forbidden(format!(
            "x-mq-did-timestamp {ts} is more than {window_secs}s from the server clock ({now})"
        )));
    }
    let sig = hex_decode(proof_hex.ok_or_else(|| forbidden("no x-mq-did-proof header"))?)
        .ok_or_else(|| forbidden("x-mq-did-proof is not hex"))?;
    let key = registry.resolve(did)?;
    let msg = proof_message(domain, target_hash_did, ts);
    if !verify_secp256k1(&key, msg.as_bytes(), &sig) {
        return Err(forbidden(format!(
            "x-mq-did-proof is not a signature by {did} of {msg:?}"
        )));
    }
    Ok(did.to_string())
}

/// Check `signatureOfDid` (hex DER ECDSA secp256k1 over the token string) against `did`'s key.
pub fn check_signature_of_did(
    registry: &DidRegistry,
    did: &str,
    token: &str,
    sig_hex: &str,
) -> Result<()> {
    let sig = hex_decode(sig_hex)
        .filter(|s| !s.is_empty() && s.len() <= 80)
        .ok_or_else(|| forbidden("signatureOfDid is not hex-encoded DER (at most 80 bytes)"))?;
    let key = registry.resolve(did)?;
    // RFC-130 §3.1: "Signature of the signed token using the same DID document as for hashed DID".
    if verify_secp256k1(&key, token.as_bytes(), &sig) {
        Ok(())
    } else {
        Err(forbidden(format!(
            "signatureOfDid is not a signature of the token by {did}"
        )))
    }
}

impl TokenAuthority {
    /// A fresh authority with a new random key (tokens do not survive a restart).
    pub fn generate(profile: Profile, issuer: impl Into<String>) -> Result<Self> {
        let rng = SystemRandom::new();
        let issuer = issuer.into();
        match profile {
            Profile::Rfc130 => {
                let doc = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
                    .map_err(|_| MqHubError::Key("cannot generate a P-256 key".into()))?;
                let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, doc.as_ref())
                    .map_err(|e| MqHubError::Key(e.to_string()))?;
                let public = pair.public_key().as_ref().to_vec();
                Ok(TokenAuthority {
                    verified: Default::default(),
                    profile,
                    issuer,
                    public_claim: b58(&public),
                    signer: Signer::Jwt {
                        enc: EncodingKey::from_ec_der(doc.as_ref()),
                        dec: DecodingKey::from_ec_der(&public),
                    },
                })
            }
            Profile::Opendsu => {
                // raw r‖s, as apihub signs (crate::seedssi)
                let doc = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256K1_SHA256_FIXED_SIGNING, &rng)
                    .map_err(|_| MqHubError::Key("cannot generate a secp256k1 key".into()))?;
                let pair =
                    EcdsaKeyPair::from_pkcs8(&ECDSA_P256K1_SHA256_FIXED_SIGNING, doc.as_ref())
                        .map_err(|e| MqHubError::Key(e.to_string()))?;
                let public = pair.public_key().as_ref();
                // `issuer` names the server in rfc130; the opendsu issuer is an ssi:sread KeySSI
                let _ = issuer;
                Ok(TokenAuthority {
                    verified: Default::default(),
                    profile,
                    issuer: seedssi::sread_issuer(SEEDSSI_ISSUER_DOMAIN, public),
                    public_claim: seedssi::pem_public_key(public),
                    signer: Signer::SeedSsi { pair },
                })
            }
        }
    }

    pub fn profile(&self) -> Profile {
        self.profile
    }

    /// Issue a token to `holder_did` for the queue `target_hash_did` of `domain`, valid
    /// `lifetime_secs` from `now`. The caller has checked the holder's proof.
    pub fn issue(
        &self,
        now: u64,
        lifetime_secs: u64,
        holder_did: &str,
        domain: &str,
        target_hash_did: &str,
    ) -> Result<IssuedToken> {
        let access = if hash_did(holder_did) == target_hash_did {
            Access::Owner
        } else {
            Access::Put
        };
        let claims = Claims {
            iss: self.issuer.clone(),
            sub: holder_did.to_string(),
            scope: "/mq".into(),
            iat: now,
            nbf: now,
            exp: now.saturating_add(lifetime_secs),
            credentials: vec![target_hash_did.to_string()],
            options: TokenOptions {
                domain: domain.to_string(),
                access,
            },
            public_key: Some(self.public_claim.clone()),
            jti: match self.profile {
                Profile::Rfc130 => random_b58(12),
                Profile::Opendsu => String::new(),
            },
        };
        let token = self.encode(&claims)?;
        Ok(IssuedToken {
            token,
            expires_ms: claims.exp.saturating_mul(1000),
            claims,
        })
    }

    /// Sign arbitrary claims (tests and the conformance suite mint forged tokens with this).
    pub fn encode(&self, claims: &Claims) -> Result<String> {
        match &self.signer {
            Signer::Jwt { enc, .. } => {
                jsonwebtoken::encode(&Header::new(Algorithm::ES256), claims, enc)
                    .map_err(|e| MqHubError::Key(format!("cannot sign JWT: {e}")))
            }
            Signer::SeedSsi { pair } => {
                let body = SeedSsiBody {
                    sub: claims.sub.clone(),
                    scope: claims.scope.clone(),
                    iss: claims.iss.clone(),
                    public_key: claims
                        .public_key
                        .clone()
                        .unwrap_or_else(|| self.public_claim.clone()),
                    iat: claims.iat,
                    nbf: claims.nbf,
                    exp: claims.exp,
                    credentials: claims.credentials.clone(),
                    options: SeedSsiOptions {
                        credentials: claims.credentials.first().cloned().unwrap_or_default(),
                        domain: claims.options.domain.clone(),
                        access: claims.options.access,
                    },
                };
                let body = serde_json::to_string(&body)
                    .map_err(|e| MqHubError::Key(format!("cannot encode claims: {e}")))?;
                seedssi::assemble(seedssi::HEADER, &body, |m| {
                    pair.sign(&SystemRandom::new(), m)
                        .map(|s| s.as_ref().to_vec())
                        .map_err(|_| MqHubError::Key("cannot sign SeedSSIJWT".into()))
                })
            }
        }
    }

    /// Verify a token's signature against this server's key and its time window (RFC 7519
    /// §4.1.4 exp, §4.1.5 nbf) at `now`. Returns its claims.
    pub fn verify(&self, now: u64, token: &str) -> Result<Claims> {
        Ok(Claims::clone(&self.verify_cached(now, token)?.claims))
    }

    fn verify_cached(&self, now: u64, token: &str) -> Result<Verified> {
        if token.is_empty() {
            return Err(forbidden("No token was provided (RFC-130 §2.4)"));
        }
        if token.len() > MAX_TOKEN_LEN {
            return Err(forbidden(format!(
                "token longer than {MAX_TOKEN_LEN} bytes"
            )));
        }
        let cached = self
            .verified
            .lock()
            .ok()
            .and_then(|m| m.get(token).cloned());
        let v = match cached {
            Some(v) => v,
            None => {
                let c = self.verify_signature(token)?;
                let v = Verified {
                    sub_hash: hash_did(&c.sub).into(),
                    claims: Arc::new(c),
                };
                if let Ok(mut m) = self.verified.lock() {
                    if m.len() >= VERIFIED_CACHE {
                        m.clear();
                    }
                    m.insert(token.into(), v.clone());
                }
                v
            }
        };
        let claims = &v.claims;
        // RFC 7519 §4.1.5: the token MUST NOT be accepted before nbf.
        if now < claims.nbf {
            return Err(forbidden(format!("token not valid before {}", claims.nbf)));
        }
        // RFC 7519 §4.1.4: the current time MUST be before exp.
        if now >= claims.exp {
            return Err(forbidden(format!("token expired at {}", claims.exp)));
        }
        Ok(v)
    }

    fn verify_signature(&self, token: &str) -> Result<Claims> {
        let claims: Claims = match &self.signer {
            Signer::Jwt { dec, .. } => {
                let mut v = Validation::new(Algorithm::ES256);
                // Time is checked below against the caller's `now` (sans-IO).
                v.validate_exp = false;
                v.validate_nbf = false;
                v.validate_aud = false;
                v.required_spec_claims.clear();
                let c = jsonwebtoken::decode::<Claims>(token, dec, &v)
                    .map_err(|e| {
                        forbidden(format!(
                            "invalid token (not a JWT issued by this server): {e}"
                        ))
                    })?
                    .claims;
                if c.iss != self.issuer {
                    return Err(forbidden(format!(
                        "token issuer {:?} is not this server ({:?})",
                        c.iss, self.issuer
                    )));
                }
                c
            }
            Signer::SeedSsi { pair } => {
                let p = seedssi::parse(token)?;
                // Verified with the server's key, never with the publicKey inside the token
                // (apihub defect 3: self-minted tokens).
                if !seedssi::verify_with_key(&p, pair.public_key().as_ref()) {
                    return Err(forbidden("invalid token: not signed by this server"));
                }
                let iss = p.body.get("iss").and_then(|v| v.as_str()).unwrap_or("");
                if iss != self.issuer {
                    return Err(forbidden(format!(
                        "token issuer {iss:?} is not this server ({:?})",
                        self.issuer
                    )));
                }
                let b: SeedSsiBody = serde_json::from_value(p.body)
                    .map_err(|e| forbidden(format!("token body is not the expected JSON: {e}")))?;
                Claims {
                    iss: b.iss,
                    sub: b.sub,
                    scope: b.scope,
                    iat: b.iat,
                    nbf: b.nbf,
                    exp: b.exp,
                    credentials: b.credentials,
                    options: TokenOptions {
                        domain: b.options.domain,
                        access: b.options.access,
                    },
                    public_key: Some(b.public_key),
                    jti: String::new(),
                }
            }
        };
        Ok(claims)
    }

    /// Verify `token` and check it grants `need` on the queue `queue_hash` of `domain`.
    pub fn authorize(
        &self,
        now: u64,
        token: &str,
        domain: &str,
        queue_hash: &str,
        need: Access,
    ) -> Result<Arc<Claims>> {
        let v = self.verify_cached(now, token)?;
        let c = &v.claims;
        if c.options.domain != domain {
            return Err(forbidden(format!(
                "token is for domain {:?}, not {domain:?}",
                c.options.domain
            )));
        }
        // apihub defect 4: a token must be for the queue it is used on.
        if !c.credentials.iter().any(|q| q == queue_hash) {
            return Err(forbidden(format!(
                "token is for queue {:?}, not {queue_hash:?}",
                c.credentials
            )));
        }
        if need == Access::Owner
            && (c.options.access != Access::Owner || &*v.sub_hash != queue_hash)
        {
            return Err(forbidden(
                "token does not belong to the owner of this queue (put-only token)",
            ));
        }
        Ok(v.claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::did::{DidKeyPair, DidMethod};

    fn both() -> [Profile; 2] {
        [Profile::Rfc130, Profile::Opendsu]
    }

    #[test]
    fn issue_verify_expiry_and_forgery() {
        for p in both() {
            let a = TokenAuthority::generate(p, "hub").unwrap();
            let k = DidKeyPair::generate(DidMethod::Key).unwrap();
            let q = k.hash_did();
            let t = a.issue(1000, 60, k.did(), "d", &q).unwrap();
            assert_eq!(t.expires_ms, 1_060_000);
            assert!(a.authorize(1000, &t.token, "d", &q, Access::Owner).is_ok());
            assert!(a.authorize(1059, &t.token, "d", &q, Access::Owner).is_ok());
            // exactly at exp: expired (RFC 7519 §4.1.4)
            assert!(a.authorize(1060, &t.token, "d", &q, Access::Owner).is_err());
            assert!(a.authorize(999, &t.token, "d", &q, Access::Owner).is_err());
            assert!(
                a.authorize(1000, &t.token, "other", &q, Access::Owner)
                    .is_err()
            );
            assert!(a.authorize(1000, &t.token, "d", "x", Access::Put).is_err());
            // self-minted by another key (with its own publicKey inside)
            let forger = TokenAuthority::generate(p, "hub").unwrap();
            let f = forger.issue(1000, 60, k.did(), "d", &q).unwrap();
            let e = a.verify(1000, &f.token).unwrap_err();
            assert!(matches!(e, MqHubError::Forbidden(_)), "{e}");
            assert!(a.verify(1000, "").is_err());
            assert!(a.verify(1000, "a.b").is_err());
            assert!(a.verify(1000, &"x".repeat(MAX_TOKEN_LEN + 1)).is_err());
        }
    }

    /// Our `opendsu` tokens have apihub's shape byte for byte: the exact header, the body keys
    /// in apihub's order, a PEM key that is the server's, an ssi:sread issuer, raw r||s.
    #[test]
    fn opendsu_tokens_have_apihubs_shape() {
        let a = TokenAuthority::generate(Profile::Opendsu, "hub").unwrap();
        let k = DidKeyPair::generate(DidMethod::Key).unwrap();
        let t = a.issue(1000, 60, k.did(), "d", &k.hash_did()).unwrap();
        let parts: Vec<&str> = t.token.split('.').collect();
        assert_eq!(
            crate::codec::b58_decode(parts[0]).unwrap(),
            seedssi::HEADER.as_bytes()
        );
        let body = String::from_utf8(crate::codec::b58_decode(parts[1]).unwrap()).unwrap();
        let keys = [
            "sub",
            "scope",
            "iss",
            "publicKey",
            "iat",
            "nbf",
            "exp",
            "credentials",
            "options",
        ];
        let pos: Vec<usize> = keys
            .iter()
            .map(|k| body.find(&format!("\"{k}\":")).unwrap())
            .collect();
        assert!(pos.windows(2).all(|w| w[0] < w[1]), "{body}");
        let p = seedssi::parse(&t.token).unwrap();
        assert_eq!(p.signature.len(), 64);
        assert!(
            p.body["iss"]
                .as_str()
                .unwrap()
                .starts_with("ssi:sread:MQ_DOMAIN:")
        );
        assert_eq!(p.body["scope"], "/mq");
        assert_eq!(p.body["options"]["credentials"], k.hash_did().as_str());
        let carried = p.carried_key().unwrap();
        assert!(seedssi::verify_with_key(&p, &carried));
        assert!(seedssi::check(&t.token, &carried, p.body["iss"].as_str().unwrap(), 1000).is_ok());
        assert!(seedssi::check(&t.token, &carried, p.body["iss"].as_str().unwrap(), 1060).is_err());
        // a token signed by the server's key but naming another issuer is refused
        let mut c = t.claims.clone();
        c.iss = "ssi:sread:other::v0".into();
        let other = a.encode(&c).unwrap();
        let e = a.verify(1000, &other).unwrap_err().to_string();
        assert!(e.contains("issuer"), "{e}");
    }

    #[test]
    fn put_tokens_cannot_read() {
        for p in both() {
            let a = TokenAuthority::generate(p, "hub").unwrap();
            let sender = DidKeyPair::generate(DidMethod::Key).unwrap();
            let rcpt = DidKeyPair::generate(DidMethod::Key).unwrap();
            let t = a.issue(5, 60, sender.did(), "d", &rcpt.hash_did()).unwrap();
            assert_eq!(t.claims.options.access, Access::Put);
            assert!(
                a.authorize(5, &t.token, "d", &rcpt.hash_did(), Access::Put)
                    .is_ok()
            );
            assert!(
                a.authorize(5, &t.token, "d", &rcpt.hash_did(), Access::Owner)
                    .is_err()
            );
        }
    }

    #[test]
    fn holder_proof_and_signature_of_did() {
        let reg = DidRegistry::default();
        let k = DidKeyPair::generate(DidMethod::Key).unwrap();
        let other = DidKeyPair::generate(DidMethod::Key).unwrap();
        let q = k.hash_did();
        let msg = proof_message("d", &q, 100);
        let good = crate::codec::hex_encode(&k.sign(msg.as_bytes()));
        let bad = crate::codec::hex_encode(&other.sign(msg.as_bytes()));
        let chk = |did: Option<&str>, ts: Option<&str>, p: Option<&str>| {
            check_holder_proof(110, 300, &reg, did, ts, p, "d", &q)
        };
        assert_eq!(
            chk(Some(k.did()), Some("100"), Some(&good)).unwrap(),
            k.did()
        );
        assert!(chk(Some(k.did()), Some("100"), Some(&bad)).is_err());
        assert!(chk(Some(k.did()), Some("101"), Some(&good)).is_err());
        assert!(chk(None, Some("100"), Some(&good)).is_err());
        assert!(
            check_holder_proof(
                1000,
                300,
                &reg,
                Some(k.did()),
                Some("100"),
                Some(&good),
                "d",
                &q
            )
            .is_err()
        );
        let sig = k.signature_of_did("tok");
        assert!(check_signature_of_did(&reg, k.did(), "tok", &sig).is_ok());
        assert!(check_signature_of_did(&reg, k.did(), "tok2", &sig).is_err());
        assert!(check_signature_of_did(&reg, other.did(), "tok", &sig).is_err());
        assert!(check_signature_of_did(&reg, k.did(), "tok", "zz").is_err());
        assert!(check_signature_of_did(&reg, k.did(), "tok", "").is_err());
    }
}

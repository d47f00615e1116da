//! Keys: JWK, PEM (PKCS#8 incl. the RSASSA-PSS OID of RFC 9421 B.1.2, SEC1, PKCS#1, SPKI), DER,
//! and base64 shared secrets; auto-detection; key/algorithm compatibility; sign and verify with
//! aws-lc-rs.

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use aws_lc_rs::signature::{self as sig, KeyPair as _};
use aws_lc_rs::{digest, hmac, rand::SystemRandom};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};

use crate::alg::Algorithm;
use crate::der;
use crate::error::{Error, Result};

/// Elliptic curves supported for ECDSA.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Curve {
    /// NIST P-256
    P256,
    /// NIST P-384
    P384,
}

enum Material {
    Hmac(Vec<u8>),
    Ed25519 {
        pair: Option<sig::Ed25519KeyPair>,
        public: Vec<u8>,
    },
    Ec {
        curve: Curve,
        pair: Option<sig::EcdsaKeyPair>,
        public: Vec<u8>,
    },
    Rsa {
        pair: Option<sig::RsaKeyPair>,
        public: Vec<u8>,
        pss_only: bool,
    },
}

/// aws-lc-rs key objects prepared once when the key is loaded, so that signing and verifying do
/// not parse or set up key material per call: the HMAC key schedule, and the public key parsed
/// for verification (for RSA, once per padding). `None` when the public key does not parse
/// (verification then fails as a signature mismatch, as before).
struct Prepared {
    hmac: Option<hmac::Key>,
    public: Option<sig::ParsedPublicKey>,
    public_v15: Option<sig::ParsedPublicKey>,
}

impl Prepared {
    fn of(material: &Material) -> Self {
        let parsed = |a: &'static dyn sig::VerificationAlgorithm, bytes: &[u8]| {
            sig::ParsedPublicKey::new(a, bytes).ok()
        };
        let mut p = Prepared {
            hmac: None,
            public: None,
            public_v15: None,
        };
        match material {
            Material::Hmac(s) => p.hmac = Some(hmac::Key::new(hmac::HMAC_SHA256, s)),
            Material::Ed25519 { public, .. } => p.public = parsed(&sig::ED25519, public),
            Material::Ec { curve, public, .. } => {
                p.public = parsed(ec_verifying(*curve), public);
            }
            Material::Rsa {
                public, pss_only, ..
            } => {
                p.public = parsed(&sig::RSA_PSS_2048_8192_SHA512, public);
                if !*pss_only {
                    p.public_v15 = parsed(&sig::RSA_PKCS1_2048_8192_SHA256, public);
                }
            }
        }
        p
    }
}

/// Key material for signing or verifying. Cheap to clone. `Debug` never prints secrets.
#[derive(Clone)]
pub struct Key {
    material: Arc<Material>,
    prepared: Arc<Prepared>,
    jwk_alg: Option<Algorithm>,
    kid: Option<String>,
    /// JWK `use` (RFC 7517 §4.2), when given.
    jwk_use: Option<String>,
    /// JWK `key_ops` (RFC 7517 §4.3), when given.
    key_ops: Option<Vec<String>>,
}

/// What a key is used for, as JWK `use` / `key_ops` name it (RFC 7517 §4.2-4.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyOperation {
    /// Create a signature (`key_ops` "sign").
    Sign,
    /// Verify a signature (`key_ops` "verify").
    Verify,
}

impl KeyOperation {
    fn name(self) -> &'static str {
        match self {
            KeyOperation::Sign => "sign",
            KeyOperation::Verify => "verify",
        }
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Key")
            .field("kind", &self.describe())
            .field("algorithms", &self.algorithms())
            .field("kid", &self.kid)
            .finish()
    }
}

fn invalid(m: impl Into<String>) -> Error {
    Error::InvalidKey(m.into())
}

/// SHA-256 over the canonical JSON of the required members (RFC 7638 §3.3: lexicographic order,
/// no whitespace), base64url without padding. The member values are base64url strings or fixed
/// names, so they need no JSON escaping.
pub(crate) fn thumbprint_of_members(members: &[(&str, String)]) -> String {
    let mut json = String::from("{");
    for (i, (k, v)) in members.iter().enumerate() {
        if i > 0 {
            json.push(',');
        }
        json.push_str(&format!("\"{k}\":\"{v}\""));
    }
    json.push('}');
    URL_SAFE_NO_PAD.encode(digest::digest(&digest::SHA256, json.as_bytes()).as_ref())
}

fn ec_signing(curve: Curve) -> &'static sig::EcdsaSigningAlgorithm {
    match curve {
        Curve::P256 => &sig::ECDSA_P256_SHA256_FIXED_SIGNING,
        Curve::P384 => &sig::ECDSA_P384_SHA384_FIXED_SIGNING,
    }
}

fn ec_verifying(curve: Curve) -> &'static sig::EcdsaVerificationAlgorithm {
    match curve {
        Curve::P256 => &sig::ECDSA_P256_SHA256_FIXED,
        Curve::P384 => &sig::ECDSA_P384_SHA384_FIXED,
    }
}

fn curve_from_oid(oid: Option<&[u8]>) -> Result<Curve> {
    match oid {
        Some(o) if o == der::OID_P256 => Ok(Curve::P256),
        Some(o) if o == der::OID_P384 => Ok(Curve::P384),
        Some(_) => Err(invalid(
            "EC key on an unsupported curve (supported: P-256, P-384)",
        )),
        None => Err(invalid("EC key without a named curve")),
    }
}

fn b64url(field: &str, v: &serde_json::Value) -> Result<Vec<u8>> {
    let s = v
        .as_str()
        .ok_or_else(|| invalid(format!("JWK member `{field}` must be a base64url string")))?;
    URL_SAFE_NO_PAD
        .decode(s.trim_end_matches('='))
        .map_err(|_| Error::BadBase64(format!("JWK member `{field}`")))
}

impl Key {
    fn new(material: Material) -> Self {
        Key {
            prepared: Arc::new(Prepared::of(&material)),
            material: Arc::new(material),
            jwk_alg: None,
            kid: None,
            jwk_use: None,
            key_ops: None,
        }
    }

    /// RFC 7517 §4.2-4.3: a JWK whose `use` is not `sig`, or whose `key_ops` lacks the
    /// operation, may not be used for it. Keys from other encodings carry neither: allowed.
    pub fn check_operation(&self, op: KeyOperation) -> Result<()> {
        let denied = |reason: String| Error::KeyUseNotAllowed {
            operation: op.name(),
            reason,
        };
        if let Some(u) = &self.jwk_use
            && u != "sig"
        {
            return Err(denied(format!(
                "its JWK `use` is {} (signatures need \"sig\")",
                crate::excerpt(u, 40)
            )));
        }
        if let Some(ops) = &self.key_ops
            && !ops.iter().any(|o| o == op.name())
        {
            return Err(denied(format!(
                "its JWK `key_ops` [{}] lacks \"{}\"",
                ops.iter()
                    .map(|o| crate::excerpt(o, 20))
                    .collect::<Vec<_>>()
                    .join(", "),
                op.name()
            )));
        }
        Ok(())
    }

    /// An HMAC shared secret.
    pub fn hmac(secret: &[u8]) -> Result<Self> {
        if secret.is_empty() {
            return Err(invalid("empty HMAC secret"));
        }
        Ok(Key::new(Material::Hmac(secret.to_vec())))
    }

    /// A base64 (standard or URL-safe, padded or not; whitespace ignored) shared secret.
    pub fn from_base64_secret(text: &str) -> Result<Self> {
        let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
        let bytes = STANDARD
            .decode(&compact)
            .or_else(|_| STANDARD_NO_PAD.decode(&compact))
            .or_else(|_| URL_SAFE.decode(&compact))
            .or_else(|_| URL_SAFE_NO_PAD.decode(&compact))
            .map_err(|_| Error::BadBase64("shared secret (expected base64 text)".into()))?;
        Key::hmac(&bytes)
    }

    /// Read a key file and auto-detect its format ([`Key::from_bytes`]).
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Key::from_bytes(&bytes).map_err(|e| match e {
            Error::InvalidKey(m) => Error::InvalidKey(format!("{}: {m}", path.display())),
            other => other,
        })
    }

    /// Auto-detect: JSON object = JWK; `-----BEGIN` = PEM; valid UTF-8 otherwise = base64 shared
    /// secret; binary = DER (PKCS#8, SPKI, SEC1, PKCS#1).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        match std::str::from_utf8(bytes) {
            Ok(text) => {
                let t = text.trim();
                if t.is_empty() {
                    Err(invalid("empty key data"))
                } else if t.starts_with('{') {
                    Key::from_jwk(t)
                } else if t.contains("-----BEGIN") {
                    Key::from_pem(t)
                } else {
                    Key::from_base64_secret(t)
                }
            }
            Err(_) => Key::from_der(bytes),
        }
    }

    /// A JWK (RFC 7517): `oct`, `OKP` (Ed25519), `EC` (P-256, P-384), `RSA`; public or private.
    /// The `alg` member, when present, restricts the key to that algorithm; `kid` is kept.
    pub fn from_jwk(text: &str) -> Result<Self> {
        let v: serde_json::Value = serde_json::from_str(text)
            .map_err(|e| invalid(format!("JWK is not valid JSON: {e}")))?;
        let obj = v
            .as_object()
            .ok_or_else(|| invalid("JWK must be a JSON object"))?;
        let get = |k: &str| obj.get(k);
        let kty = get("kty")
            .and_then(|v| v.as_str())
            .ok_or_else(|| invalid("JWK without `kty`"))?;
        let need = |k: &str| -> Result<Vec<u8>> {
            b64url(
                k,
                get(k).ok_or_else(|| invalid(format!("{kty} JWK without `{k}`")))?,
            )
        };
        let material = match kty {
            "oct" => {
                let k = need("k")?;
                if k.is_empty() {
                    return Err(invalid("oct JWK with an empty `k`"));
                }
                Material::Hmac(k)
            }
            "OKP" => {
                let crv = get("crv").and_then(|v| v.as_str()).unwrap_or("");
                if crv != "Ed25519" {
                    return Err(invalid(format!(
                        "OKP JWK curve {crv:?} is not supported (only Ed25519)"
                    )));
                }
                let x = need("x")?;
                if x.len() != 32 {
                    return Err(invalid(format!(
                        "Ed25519 `x` must be 32 bytes, got {}",
                        x.len()
                    )));
                }
                let pair = match get("d") {
                    Some(d) => Some(
                        sig::Ed25519KeyPair::from_seed_and_public_key(&b64url("d", d)?, &x)
                            .map_err(|e| invalid(format!("Ed25519 JWK `d`/`x` rejected: {e}")))?,
                    ),
                    None => None,
                };
                Material::Ed25519 { pair, public: x }
            }
            "EC" => {
                let curve = match get("crv").and_then(|v| v.as_str()).unwrap_or("") {
                    "P-256" => Curve::P256,
                    "P-384" => Curve::P384,
                    other => {
                        return Err(invalid(format!(
                            "EC JWK curve {other:?} is not supported (P-256, P-384)"
                        )));
                    }
                };
                let (x, y) = (need("x")?, need("y")?);
                let width = if curve == Curve::P256 { 32 } else { 48 };
                if x.len() != width || y.len() != width {
                    return Err(invalid(format!(
                        "EC JWK `x`/`y` must be {width} bytes for {curve:?}"
                    )));
                }
                let mut public = vec![4u8];
                public.extend_from_slice(&x);
                public.extend_from_slice(&y);
                let pair = match get("d") {
                    Some(d) => Some(
                        sig::EcdsaKeyPair::from_private_key_and_public_key(
                            ec_signing(curve),
                            &b64url("d", d)?,
                            &public,
                        )
                        .map_err(|e| invalid(format!("EC JWK `d` rejected: {e}")))?,
                    ),
                    None => None,
                };
                Material::Ec {
                    curve,
                    pair,
                    public,
                }
            }
            "RSA" => {
                let (n, e) = (need("n")?, need("e")?);
                let public = der::rsa_public_key(&n, &e);
                aws_lc_rs::rsa::PublicKey::from_der(&public)
                    .map_err(|err| invalid(format!("RSA JWK `n`/`e` rejected: {err}")))?;
                let pair = if get("d").is_some() {
                    let strip = |v: Vec<u8>| {
                        let skip = v.iter().take_while(|&&b| b == 0).count();
                        v[skip..].to_vec()
                    };
                    let comps = aws_lc_rs::rsa::KeyPairComponents {
                        public_key: aws_lc_rs::rsa::PublicKeyComponents {
                            n: strip(n.clone()),
                            e: strip(e.clone()),
                        },
                        d: need("d")?,
                        p: need("p")?,
                        q: need("q")?,
                        dP: need("dp")?,
                        dQ: need("dq")?,
                        qInv: need("qi")?,
                    };
                    Some(sig::RsaKeyPair::from_components(&comps).map_err(|err| {
                        invalid(format!("RSA JWK private components rejected: {err}"))
                    })?)
                } else {
                    None
                };
                Material::Rsa {
                    pair,
                    public,
                    pss_only: false,
                }
            }
            other => {
                return Err(invalid(format!(
                    "JWK kty {other:?} is not supported (oct, OKP, EC, RSA)"
                )));
            }
        };
        let mut key = Key::new(material);
        key.kid = get("kid").and_then(|v| v.as_str()).map(str::to_string);
        if let Some(u) = get("use") {
            let u = u
                .as_str()
                .ok_or_else(|| invalid("JWK `use` must be a string (RFC 7517 §4.2)"))?;
            key.jwk_use = Some(u.to_string());
        }
        if let Some(ops) = get("key_ops") {
            let ops = ops
                .as_array()
                .ok_or_else(|| invalid("JWK `key_ops` must be an array (RFC 7517 §4.3)"))?
                .iter()
                .map(|o| {
                    o.as_str().map(str::to_string).ok_or_else(|| {
                        invalid("JWK `key_ops` values must be strings (RFC 7517 §4.3)")
                    })
                })
                .collect::<Result<Vec<_>>>()?;
            key.key_ops = Some(ops);
        }
        if let Some(alg) = get("alg") {
            let alg = alg
                .as_str()
                .ok_or_else(|| invalid("JWK `alg` must be a string"))?;
            let a = Algorithm::from_jwk_alg(alg)?;
            key.check_algorithm(a)?;
            key.jwk_alg = Some(a);
        }
        Ok(key)
    }

    /// PEM text. With several blocks (e.g. the RFC's public + private listing) the private key wins.
    pub fn from_pem(text: &str) -> Result<Self> {
        let blocks = pem::parse_many(text).map_err(|e| invalid(format!("PEM: {e}")))?;
        if blocks.is_empty() {
            return Err(invalid("PEM text without any block"));
        }
        let rank = |tag: &str| if tag.contains("PRIVATE") { 0 } else { 1 };
        let block = blocks
            .iter()
            .min_by_key(|b| rank(b.tag()))
            .ok_or_else(|| invalid("PEM text without any block"))?;
        let der = block.contents();
        match block.tag() {
            "PRIVATE KEY" => Key::from_pkcs8(der),
            "RSA PRIVATE KEY" => Key::from_pkcs1_private(der, false),
            "EC PRIVATE KEY" => Key::from_sec1(der),
            "PUBLIC KEY" => Key::from_spki(der),
            "RSA PUBLIC KEY" => Key::from_pkcs1_public(der, false),
            "ENCRYPTED PRIVATE KEY" => Err(invalid(
                "encrypted PKCS#8 keys are not supported; decrypt it first",
            )),
            other => Err(invalid(format!(
                "PEM block {other:?} is not a key (expected PRIVATE KEY, RSA PRIVATE KEY, EC PRIVATE KEY, PUBLIC KEY, RSA PUBLIC KEY)"
            ))),
        }
    }

    /// Binary DER: tries PKCS#8, SPKI, SEC1, PKCS#1 private, PKCS#1 public.
    pub fn from_der(der_bytes: &[u8]) -> Result<Self> {
        Key::from_pkcs8(der_bytes)
            .or_else(|_| Key::from_spki(der_bytes))
            .or_else(|_| Key::from_sec1(der_bytes))
            .or_else(|_| Key::from_pkcs1_private(der_bytes, false))
            .or_else(|_| Key::from_pkcs1_public(der_bytes, false))
            .map_err(|_| invalid("binary data is not a DER key (PKCS#8, SPKI, SEC1 or PKCS#1)"))
    }

    /// PKCS#8 PrivateKeyInfo (RFC 5208). The RSASSA-PSS OID (RFC 9421 B.1.2) is unwrapped here and
    /// the inner PKCS#1 key loaded, keeping the PSS-only restriction.
    pub fn from_pkcs8(der_bytes: &[u8]) -> Result<Self> {
        let (oid, param, inner) = der::pkcs8(der_bytes)?;
        if oid == der::OID_RSA_ENCRYPTION {
            Key::from_pkcs1_private(inner, false)
        } else if oid == der::OID_RSASSA_PSS {
            Key::from_pkcs1_private(inner, true)
        } else if oid == der::OID_EC_PUBLIC_KEY {
            let curve = curve_from_oid(param)?;
            let pair = sig::EcdsaKeyPair::from_pkcs8(ec_signing(curve), der_bytes)
                .map_err(|e| invalid(format!("PKCS#8 EC key rejected: {e}")))?;
            let public = pair.public_key().as_ref().to_vec();
            Ok(Key::new(Material::Ec {
                curve,
                pair: Some(pair),
                public,
            }))
        } else if oid == der::OID_ED25519 {
            let pair = sig::Ed25519KeyPair::from_pkcs8_maybe_unchecked(der_bytes)
                .map_err(|e| invalid(format!("PKCS#8 Ed25519 key rejected: {e}")))?;
            let public = pair.public_key().as_ref().to_vec();
            Ok(Key::new(Material::Ed25519 {
                pair: Some(pair),
                public,
            }))
        } else {
            Err(invalid("PKCS#8 key with an unsupported algorithm OID"))
        }
    }

    /// SubjectPublicKeyInfo (RFC 5280).
    pub fn from_spki(der_bytes: &[u8]) -> Result<Self> {
        let (oid, param, bits) = der::spki(der_bytes)?;
        if oid == der::OID_RSA_ENCRYPTION || oid == der::OID_RSASSA_PSS {
            Key::from_pkcs1_public(bits, oid == der::OID_RSASSA_PSS)
        } else if oid == der::OID_EC_PUBLIC_KEY {
            let curve = curve_from_oid(param)?;
            let width = if curve == Curve::P256 { 65 } else { 97 };
            if bits.len() != width || bits[0] != 4 {
                return Err(invalid(
                    "EC public key is not an uncompressed point of the right size",
                ));
            }
            Ok(Key::new(Material::Ec {
                curve,
                pair: None,
                public: bits.to_vec(),
            }))
        } else if oid == der::OID_ED25519 {
            if bits.len() != 32 {
                return Err(invalid("Ed25519 public key must be 32 bytes"));
            }
            Ok(Key::new(Material::Ed25519 {
                pair: None,
                public: bits.to_vec(),
            }))
        } else {
            Err(invalid("public key with an unsupported algorithm OID"))
        }
    }

    /// SEC1 ECPrivateKey (RFC 5915).
    pub fn from_sec1(der_bytes: &[u8]) -> Result<Self> {
        let (d, curve_oid, _public) = der::sec1(der_bytes)?;
        let curve = match curve_oid {
            Some(_) => curve_from_oid(curve_oid)?,
            None if d.len() == 32 => Curve::P256,
            None if d.len() == 48 => Curve::P384,
            None => return Err(invalid("SEC1 key without curve parameters")),
        };
        let pair = sig::EcdsaKeyPair::from_private_key_der(ec_signing(curve), der_bytes)
            .map_err(|e| invalid(format!("SEC1 EC key rejected: {e}")))?;
        let public = pair.public_key().as_ref().to_vec();
        Ok(Key::new(Material::Ec {
            curve,
            pair: Some(pair),
            public,
        }))
    }

    fn from_pkcs1_private(der_bytes: &[u8], pss_only: bool) -> Result<Self> {
        let pair = sig::RsaKeyPair::from_der(der_bytes)
            .map_err(|e| invalid(format!("RSA private key rejected: {e}")))?;
        let public = pair.public_key().as_ref().to_vec();
        Ok(Key::new(Material::Rsa {
            pair: Some(pair),
            public,
            pss_only,
        }))
    }

    fn from_pkcs1_public(der_bytes: &[u8], pss_only: bool) -> Result<Self> {
        let pk = aws_lc_rs::rsa::PublicKey::from_der(der_bytes)
            .map_err(|e| invalid(format!("RSA public key rejected: {e}")))?;
        Ok(Key::new(Material::Rsa {
            pair: None,
            public: pk.as_ref().to_vec(),
            pss_only,
        }))
    }

    /// The JWK `kid`, if the key came from a JWK with one.
    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    /// Does this key hold private (or secret) material, i.e. can it sign?
    pub fn can_sign(&self) -> bool {
        match &*self.material {
            Material::Hmac(_) => true,
            Material::Ed25519 { pair, .. } => pair.is_some(),
            Material::Ec { pair, .. } => pair.is_some(),
            Material::Rsa { pair, .. } => pair.is_some(),
        }
    }

    /// A short description, e.g. `ed25519 private key`, for messages.
    pub fn describe(&self) -> String {
        let vis = if self.can_sign() { "private" } else { "public" };
        match &*self.material {
            Material::Hmac(s) => format!("{}-byte HMAC secret", s.len()),
            Material::Ed25519 { .. } => format!("Ed25519 {vis} key"),
            Material::Ec {
                curve: Curve::P256, ..
            } => format!("EC P-256 {vis} key"),
            Material::Ec {
                curve: Curve::P384, ..
            } => format!("EC P-384 {vis} key"),
            Material::Rsa {
                public,
                pss_only: true,
                ..
            } => format!("RSA-PSS {vis} key ({} bytes)", public.len()),
            Material::Rsa { .. } => format!("RSA {vis} key"),
        }
    }

    /// Algorithms this key can be used with (restricted by a JWK `alg` or the PSS OID).
    pub fn algorithms(&self) -> Vec<Algorithm> {
        if let Some(a) = self.jwk_alg {
            return vec![a];
        }
        match &*self.material {
            Material::Hmac(_) => vec![Algorithm::HmacSha256],
            Material::Ed25519 { .. } => vec![Algorithm::Ed25519],
            Material::Ec {
                curve: Curve::P256, ..
            } => vec![Algorithm::EcdsaP256Sha256],
            Material::Ec {
                curve: Curve::P384, ..
            } => vec![Algorithm::EcdsaP384Sha384],
            Material::Rsa { pss_only: true, .. } => vec![Algorithm::RsaPssSha512],
            Material::Rsa { .. } => vec![Algorithm::RsaPssSha512, Algorithm::RsaV15Sha256],
        }
    }

    /// The algorithm used when none is configured: the first of [`Key::algorithms`]
    /// (`rsa-pss-sha512` for unrestricted RSA keys).
    pub fn default_algorithm(&self) -> Algorithm {
        self.algorithms()[0]
    }

    /// Fail with [`Error::KeyAlgorithmMismatch`] unless this key works with `alg`.
    pub fn check_algorithm(&self, alg: Algorithm) -> Result<()> {
        // Check against the material first (a JWK `alg` restriction is checked on top).
        let material_ok = match &*self.material {
            Material::Hmac(_) => alg == Algorithm::HmacSha256,
            Material::Ed25519 { .. } => alg == Algorithm::Ed25519,
            Material::Ec {
                curve: Curve::P256, ..
            } => alg == Algorithm::EcdsaP256Sha256,
            Material::Ec {
                curve: Curve::P384, ..
            } => alg == Algorithm::EcdsaP384Sha384,
            Material::Rsa { pss_only: true, .. } => alg == Algorithm::RsaPssSha512,
            Material::Rsa { .. } => {
                matches!(alg, Algorithm::RsaPssSha512 | Algorithm::RsaV15Sha256)
            }
        };
        if material_ok && self.jwk_alg.is_none_or(|a| a == alg) {
            return Ok(());
        }
        Err(Error::KeyAlgorithmMismatch {
            key: self.describe(),
            algorithm: alg.name().to_string(),
            supported: self
                .algorithms()
                .iter()
                .map(|a| a.name())
                .collect::<Vec<_>>()
                .join(", "),
        })
    }

    /// The public key bytes used for the default keyid: Ed25519 raw 32 bytes, EC uncompressed
    /// SEC1 point, RSA PKCS#1 `RSAPublicKey` DER, HMAC the secret itself (never published; only
    /// its hash goes into the keyid).
    pub fn public_key_bytes(&self) -> &[u8] {
        match &*self.material {
            Material::Hmac(s) => s,
            Material::Ed25519 { public, .. }
            | Material::Ec { public, .. }
            | Material::Rsa { public, .. } => public,
        }
    }

    /// Default keyid, as the Grafbase gateway does: `base64(sha256(public key bytes))`
    /// (standard alphabet, padded). See [`Key::public_key_bytes`] for the bytes hashed.
    pub fn default_keyid(&self) -> String {
        STANDARD.encode(digest::digest(&digest::SHA256, self.public_key_bytes()).as_ref())
    }

    /// The required public members of this key's JWK in lexicographic order (RFC 7638 §3.2):
    /// RSA `e, kty, n`; EC `crv, kty, x, y`; OKP `crv, kty, x` (RFC 8037 Appendix A.3); values
    /// base64url without padding (RSA integers without leading zero bytes, RFC 7518 §6.3.1).
    /// An HMAC secret has no public form: [`Error::InvalidKey`].
    pub fn public_jwk_members(&self) -> Result<Vec<(&'static str, String)>> {
        let enc = |b: &[u8]| URL_SAFE_NO_PAD.encode(b);
        match &*self.material {
            Material::Hmac(_) => Err(invalid(
                "an HMAC secret has no public JWK and no thumbprint (web-bot-auth keyids are thumbprints of RSA, EC or Ed25519 public keys)",
            )),
            Material::Ed25519 { public, .. } => Ok(vec![
                ("crv", "Ed25519".into()),
                ("kty", "OKP".into()),
                ("x", enc(public)),
            ]),
            Material::Ec { curve, public, .. } => {
                let (crv, width) = match curve {
                    Curve::P256 => ("P-256", 32),
                    Curve::P384 => ("P-384", 48),
                };
                if public.len() != 1 + 2 * width || public[0] != 4 {
                    return Err(invalid(format!(
                        "EC public key is not an uncompressed {crv} point"
                    )));
                }
                Ok(vec![
                    ("crv", crv.into()),
                    ("kty", "EC".into()),
                    ("x", enc(&public[1..1 + width])),
                    ("y", enc(&public[1 + width..])),
                ])
            }
            Material::Rsa { public, .. } => {
                // PKCS#1 RSAPublicKey ::= SEQUENCE { modulus INTEGER, publicExponent INTEGER }
                let mut outer = der::Reader::new(public);
                let seq = outer.read(0x30)?;
                let mut r = der::Reader::new(seq);
                let strip = |b: &[u8]| -> Vec<u8> {
                    let skip = b.iter().take_while(|&&x| x == 0).count();
                    b[skip..].to_vec()
                };
                let n = strip(r.read(0x02)?);
                let e = strip(r.read(0x02)?);
                Ok(vec![("e", enc(&e)), ("kty", "RSA".into()), ("n", enc(&n))])
            }
        }
    }

    /// RFC 7638 JWK SHA-256 thumbprint, base64url without padding (43 characters): the keyid
    /// Web Bot Auth requires (draft-meunier-webbotauth-httpsig-protocol, "Generating HTTP
    /// Message Signature": "MUST be a base64url JWK SHA-256 Thumbprint").
    pub fn jwk_thumbprint(&self) -> Result<String> {
        Ok(thumbprint_of_members(&self.public_jwk_members()?))
    }

    /// Sign `msg` with `alg` (RFC 9421 §3.3 HTTP_SIGN).
    pub fn sign(&self, alg: Algorithm, msg: &[u8]) -> Result<Vec<u8>> {
        self.check_algorithm(alg)?;
        let rng = SystemRandom::new();
        let fail = |e: aws_lc_rs::error::Unspecified| Error::SigningFailed(format!("{alg}: {e}"));
        match &*self.material {
            // RFC 9421 §3.3.3: HMAC-SHA256 with the shared secret.
            Material::Hmac(s) => {
                let sig = match &self.prepared.hmac {
                    Some(k) => hmac::sign(k, msg),
                    None => hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, s), msg),
                };
                Ok(sig.as_ref().to_vec())
            }
            // RFC 9421 §3.3.6: Ed25519 (RFC 8032, deterministic).
            Material::Ed25519 { pair: Some(p), .. } => Ok(p.sign(msg).as_ref().to_vec()),
            // RFC 9421 §3.3.4/§3.3.5: raw r||s, never DER.
            Material::Ec { pair: Some(p), .. } => {
                Ok(p.sign(&rng, msg).map_err(fail)?.as_ref().to_vec())
            }
            // RFC 9421 §3.3.1: PSS with SHA-512, MGF1-SHA-512, salt 64; §3.3.2: PKCS#1 v1.5 SHA-256.
            Material::Rsa { pair: Some(p), .. } => {
                let padding: &dyn sig::RsaEncoding = match alg {
                    Algorithm::RsaPssSha512 => &sig::RSA_PSS_SHA512,
                    _ => &sig::RSA_PKCS1_SHA256,
                };
                let mut out = vec![0u8; p.public_modulus_len()];
                p.sign(padding, &rng, msg, &mut out).map_err(fail)?;
                Ok(out)
            }
            _ => Err(Error::PublicKeyCannotSign(self.describe())),
        }
    }

    /// Verify `signature` over `msg` with `alg` (RFC 9421 §3.3 HTTP_VERIFY). `Ok(false)` means the
    /// signature does not verify; errors are for unusable inputs (wrong key type, wrong length).
    pub fn verify(&self, alg: Algorithm, msg: &[u8], signature: &[u8]) -> Result<bool> {
        self.check_algorithm(alg)?;
        if let Some(n) = alg.signature_len()
            && signature.len() != n
        {
            return Err(Error::SignatureLength {
                label: String::new(),
                algorithm: alg.name().into(),
                expected: n.to_string(),
                got: signature.len(),
            });
        }
        // The public key was parsed when the key was loaded (`Prepared`).
        let prepared = match alg {
            Algorithm::RsaV15Sha256 => self.prepared.public_v15.as_ref(),
            _ => self.prepared.public.as_ref(),
        };
        let ok = match (&*self.material, prepared) {
            // Constant-time comparison inside aws-lc-rs (RFC 9421 §3.3.3).
            (Material::Hmac(s), _) => match &self.prepared.hmac {
                Some(k) => hmac::verify(k, msg, signature).is_ok(),
                None => hmac::verify(&hmac::Key::new(hmac::HMAC_SHA256, s), msg, signature).is_ok(),
            },
            (_, Some(p)) => p.verify_sig(msg, signature).is_ok(),
            // A public key that did not parse verifies nothing.
            (_, None) => false,
        };
        Ok(ok)
    }
}

/// Most keys a [`KeySet`] holds: a JWKS is read whole, so its size is bounded.
pub const MAX_KEY_SET_KEYS: usize = 1024;

/// Verification keys selected by `keyid` (RFC 9421 §3.2 step 5), e.g. a JWK Set (RFC 7517 §5):
/// every key has a `kid`, unique in the set.
#[derive(Debug, Clone, Default)]
pub struct KeySet {
    keys: Vec<(String, Key)>,
}

impl KeySet {
    /// An empty set.
    pub fn new() -> Self {
        KeySet::default()
    }

    /// Add `key` under `kid`; a kid already in the set is an error.
    pub fn insert(&mut self, kid: impl Into<String>, key: Key) -> Result<()> {
        let kid = kid.into();
        if self.get(&kid).is_some() {
            return Err(invalid(format!(
                "key set: kid {} appears twice",
                crate::excerpt(&kid, 60)
            )));
        }
        if self.keys.len() >= MAX_KEY_SET_KEYS {
            return Err(invalid(format!(
                "key set: more than {MAX_KEY_SET_KEYS} keys"
            )));
        }
        self.keys.push((kid, key));
        Ok(())
    }

    /// A JWK Set `{"keys": [...]}` (RFC 7517 §5). Every key needs a `kid` (it is how a
    /// signature's `keyid` selects it); a key of unsupported type is an error, not skipped.
    pub fn from_jwks(text: &str) -> Result<Self> {
        let v: serde_json::Value = serde_json::from_str(text)
            .map_err(|e| invalid(format!("JWK Set is not valid JSON: {e}")))?;
        let keys = v
            .get("keys")
            .and_then(|k| k.as_array())
            .ok_or_else(|| invalid("JWK Set without a `keys` array (RFC 7517 §5)"))?;
        let mut set = KeySet::new();
        for (i, k) in keys.iter().enumerate() {
            let key = Key::from_jwk(&k.to_string())
                .map_err(|e| invalid(format!("JWK Set key {i}: {e}")))?;
            let kid = key
                .kid()
                .ok_or_else(|| invalid(format!("JWK Set key {i} has no `kid`")))?
                .to_string();
            set.insert(kid, key)?;
        }
        Ok(set)
    }

    /// Read a JWK Set file (at most 1 MiB).
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let text = crate::config::read(path)?;
        KeySet::from_jwks(&text).map_err(|e| match e {
            Error::InvalidKey(m) => Error::InvalidKey(format!("{}: {m}", path.display())),
            other => other,
        })
    }

    /// Is `text` a JWK Set (a JSON object with a `keys` member) rather than one key?
    pub fn looks_like_jwks(bytes: &[u8]) -> bool {
        let t = std::str::from_utf8(bytes).unwrap_or("").trim_start();
        t.starts_with('{')
            && serde_json::from_str::<serde_json::Value>(t)
                .ok()
                .is_some_and(|v| v.get("keys").is_some_and(|k| k.is_array()))
    }

    /// The key whose kid is `kid`.
    pub fn get(&self, kid: &str) -> Option<&Key> {
        self.keys.iter().find(|(k, _)| k == kid).map(|(_, key)| key)
    }

    /// The kids, in order.
    pub fn kids(&self) -> impl Iterator<Item = &str> {
        self.keys.iter().map(|(k, _)| k.as_str())
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Is the set empty?
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The only key, when the set has exactly one.
    pub(crate) fn only(&self) -> Option<&Key> {
        match self.keys.as_slice() {
            [(_, k)] => Some(k),
            _ => None,
        }
    }
}

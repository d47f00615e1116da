//! The HTTP signature algorithms of RFC 9421 §3.3, on aws-lc-rs.

use std::fmt;
use std::str::FromStr;

use crate::error::{Error, Result};

/// An algorithm from the HTTP Signature Algorithms registry (RFC 9421 §6.2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Algorithm {
    /// `hmac-sha256` (§3.3.3)
    HmacSha256,
    /// `ed25519` (§3.3.6)
    Ed25519,
    /// `ecdsa-p256-sha256` (§3.3.4), raw r||s (64 bytes) on the wire
    EcdsaP256Sha256,
    /// `ecdsa-p384-sha384` (§3.3.5), raw r||s (96 bytes) on the wire
    EcdsaP384Sha384,
    /// `rsa-pss-sha512` (§3.3.1), MGF1-SHA-512, salt length 64
    RsaPssSha512,
    /// `rsa-v1_5-sha256` (§3.3.2)
    RsaV15Sha256,
}

impl Algorithm {
    /// All algorithms, in the order used for defaults.
    pub const ALL: [Algorithm; 6] = [
        Algorithm::HmacSha256,
        Algorithm::Ed25519,
        Algorithm::EcdsaP256Sha256,
        Algorithm::EcdsaP384Sha384,
        Algorithm::RsaPssSha512,
        Algorithm::RsaV15Sha256,
    ];

    /// The registered name, as used in the `alg` parameter.
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::HmacSha256 => "hmac-sha256",
            Algorithm::Ed25519 => "ed25519",
            Algorithm::EcdsaP256Sha256 => "ecdsa-p256-sha256",
            Algorithm::EcdsaP384Sha384 => "ecdsa-p384-sha384",
            Algorithm::RsaPssSha512 => "rsa-pss-sha512",
            Algorithm::RsaV15Sha256 => "rsa-v1_5-sha256",
        }
    }

    /// The JOSE (JWA) name of the same algorithm, as found in a JWK `alg` member.
    pub fn jose_name(self) -> &'static str {
        match self {
            Algorithm::HmacSha256 => "HS256",
            Algorithm::Ed25519 => "EdDSA",
            Algorithm::EcdsaP256Sha256 => "ES256",
            Algorithm::EcdsaP384Sha384 => "ES384",
            Algorithm::RsaPssSha512 => "PS512",
            Algorithm::RsaV15Sha256 => "RS256",
        }
    }

    /// From a JWK `alg` member (JOSE names, `Ed25519`, or the RFC 9421 names).
    pub fn from_jwk_alg(s: &str) -> Result<Self> {
        if s == "Ed25519" {
            return Ok(Algorithm::Ed25519);
        }
        Self::ALL
            .into_iter()
            .find(|a| a.jose_name() == s || a.name() == s)
            .ok_or_else(|| Error::UnsupportedAlgorithm(s.to_string()))
    }

    /// Expected signature length in bytes where it is fixed.
    pub fn signature_len(self) -> Option<usize> {
        match self {
            Algorithm::HmacSha256 => Some(32),
            Algorithm::Ed25519 | Algorithm::EcdsaP256Sha256 => Some(64),
            Algorithm::EcdsaP384Sha384 => Some(96),
            Algorithm::RsaPssSha512 | Algorithm::RsaV15Sha256 => None,
        }
    }
}

impl FromStr for Algorithm {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|a| a.name() == s)
            .ok_or_else(|| Error::UnsupportedAlgorithm(s.to_string()))
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

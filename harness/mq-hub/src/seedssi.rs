//! apihub's token form, SeedSSIJWT, byte for byte (sans-IO: no clock, no socket).
//!
//! Each fact with its source (read, not copied):
//! - `base58(header) "." base58(body) "." base58(signature)`, base58 with the Bitcoin alphabet:
//!   opendsu-core `crypto/jwt.js` `createJWT` (OpenDSU/OpenDSU-core @573b7ab), `encodeBase58` with
//!   the SeedSSI encoding function.
//! - header: exactly `{"typ":"SeedSSIJWT"}` (`JSON.stringify({typ: SEED_SSI_HEADER_TYPE})`, no
//!   `alg`): same file.
//! - body keys in this order (`JSON.stringify` keeps insertion order): `sub`, `scope`, `iss`,
//!   `publicKey`, `iat`, `nbf`, `exp`, `credentials`, `options`: same file. apihub passes scope
//!   `"/mq"`, `credentials` = the hashDID of the token request and a template SeedSSI of the
//!   domain as `sub` (apihub `components/mqHub/auth/JWTIssuer.js` @3769b79 `createToken`), so its
//!   `options` is `{"credentials": "<hashDID>"}` (apihub `index.js` @5d1ba8f `getTokenHandler`).
//! - `publicKey`: the issuer's secp256k1 key as a PEM SPKI block (uncompressed point, base64 lines
//!   of 64 characters, no final newline), `iss` an `ssi:sread:` KeySSI: the RFC-130 example token.
//! - signature: ECDSA secp256k1 / SHA-256 over the **ASCII text** base58(SHA-256(`header part "."
//!   body part`)) (jwt.js hashes the signing input with the SeedSSI hash function, which answers
//!   base58 text, and signs that), encoded as the raw 64-byte r‖s, not DER. Established by
//!   verifying the RFC-130 example token (§1.2.1) with the key it carries
//!   ([`tests::rfc130_example_token_verifies`]); DER, a raw digest and the plain input do not verify.
//! - `expires` in the token reply = `exp * 1000` (JWTIssuer.js).
//! - apihub verifies with the `publicKey` carried in the body (`verifyJWT(token, null, ..)`
//!   with no root of trust): the notes' defect 3. [`verify_with_key`] takes the key from the caller.

use aws_lc_rs::signature::{ECDSA_P256K1_SHA256_FIXED, UnparsedPublicKey};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::Value;

use crate::codec::{b58, b58_decode, sha256};
use crate::error::{MqHubError, Result};

/// The header part, as apihub writes it.
pub const HEADER: &str = r#"{"typ":"SeedSSIJWT"}"#;
/// The `typ` of a SeedSSIJWT header.
pub const TYP: &str = "SeedSSIJWT";

/// DER of `SubjectPublicKeyInfo { id-ecPublicKey, secp256k1 }` up to the 65-byte point.
const SPKI_SECP256K1_PREFIX: [u8; 23] = [
    0x30, 0x56, 0x30, 0x10, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x05, 0x2b,
    0x81, 0x04, 0x00, 0x0a, 0x03, 0x42, 0x00,
];

fn bad(msg: impl Into<String>) -> MqHubError {
    MqHubError::Forbidden(msg.into())
}

/// A SeedSSIJWT split into its parts (nothing verified yet).
#[derive(Clone, Debug)]
pub struct Parsed {
    pub header: Value,
    pub body: Value,
    /// `header part "." body part`, as sent.
    pub signing_input: String,
    /// The decoded signature part (64 bytes when well formed).
    pub signature: Vec<u8>,
}

impl Parsed {
    /// The body's `publicKey` (PEM) as a SEC1 point, when it is one.
    pub fn carried_key(&self) -> Option<Vec<u8>> {
        self.body
            .get("publicKey")
            .and_then(Value::as_str)
            .and_then(parse_pem_public_key)
    }
}

/// Split and decode a SeedSSIJWT; the header must be `{"typ":"SeedSSIJWT"}`-typed JSON and the
/// body a JSON object. Errors are [`MqHubError::Forbidden`] naming the part at fault.
pub fn parse(token: &str) -> Result<Parsed> {
    let mut parts = token.split('.');
    let (Some(h), Some(b), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad(
            "invalid token: expected three base58 parts separated by '.'",
        ));
    };
    let json = |part: &str, what: &str| -> Result<Value> {
        let bytes = b58_decode(part).ok_or_else(|| bad(format!("token {what} is not base58")))?;
        serde_json::from_slice(&bytes).map_err(|e| bad(format!("token {what} is not JSON: {e}")))
    };
    let header = json(h, "header")?;
    if header.get("typ").and_then(Value::as_str) != Some(TYP) {
        return Err(bad(format!("token header typ is not {TYP}")));
    }
    let body = json(b, "body")?;
    if !body.is_object() {
        return Err(bad("token body is not a JSON object"));
    }
    let signature = b58_decode(s).ok_or_else(|| bad("token signature is not base58"))?;
    Ok(Parsed {
        header,
        body,
        signing_input: format!("{h}.{b}"),
        signature,
    })
}

/// What is signed: the ASCII text base58(SHA-256(signing input)).
pub fn signed_text(signing_input: &str) -> String {
    b58(&sha256(signing_input.as_bytes()))
}

/// Assemble a token from the header and body JSON texts and a signer of the [`signed_text`]
/// that answers raw r‖s (64 bytes).
pub fn assemble(
    header_json: &str,
    body_json: &str,
    sign: impl FnOnce(&[u8]) -> Result<Vec<u8>>,
) -> Result<String> {
    let input = format!(
        "{}.{}",
        b58(header_json.as_bytes()),
        b58(body_json.as_bytes())
    );
    let sig = sign(signed_text(&input).as_bytes())?;
    Ok(format!("{input}.{}", b58(&sig)))
}

/// Whether `p`'s signature (raw r‖s) verifies with the SEC1 secp256k1 key `sec1_key`.
pub fn verify_with_key(p: &Parsed, sec1_key: &[u8]) -> bool {
    p.signature.len() == 64
        && UnparsedPublicKey::new(&ECDSA_P256K1_SHA256_FIXED, sec1_key)
            .verify(signed_text(&p.signing_input).as_bytes(), &p.signature)
            .is_ok()
}

/// Check a token as a hub that trusts only `hub_key` does: parsed, signed by `hub_key` (never by a
/// key it carries), issued by `issuer`, and `nbf <= now < exp` (RFC 7519 §4.1.4, §4.1.5).
pub fn check(token: &str, hub_key: &[u8], issuer: &str, now: u64) -> Result<Parsed> {
    let p = parse(token)?;
    if !verify_with_key(&p, hub_key) {
        return Err(bad(
            "invalid token: its signature is not by this hub's key (raw r||s over base58(SHA-256))",
        ));
    }
    check_claims(&p, issuer, now)?;
    Ok(p)
}

/// The claim checks of [`check`]: `iss` and the time window.
pub fn check_claims(p: &Parsed, issuer: &str, now: u64) -> Result<()> {
    let iss = p.body.get("iss").and_then(Value::as_str).unwrap_or("");
    if iss != issuer {
        return Err(bad(format!(
            "token issuer {iss:?} is not this hub ({issuer:?})"
        )));
    }
    let num = |k: &str| {
        p.body
            .get(k)
            .and_then(Value::as_u64)
            .ok_or_else(|| bad(format!("token body has no numeric {k}")))
    };
    let (nbf, exp) = (num("nbf")?, num("exp")?);
    if now < nbf {
        return Err(bad(format!("token not valid before {nbf}")));
    }
    if now >= exp {
        return Err(bad(format!("token expired at {exp}")));
    }
    Ok(())
}

/// A secp256k1 SEC1 point (uncompressed, 65 bytes) as apihub's PEM: SPKI DER in base64 lines of
/// 64 characters, no final newline.
pub fn pem_public_key(sec1_uncompressed: &[u8]) -> String {
    let mut der = SPKI_SECP256K1_PREFIX.to_vec();
    der.extend_from_slice(sec1_uncompressed);
    let b64 = B64.encode(der);
    let lines: Vec<&str> = b64
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap_or_default())
        .collect();
    format!(
        "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----",
        lines.join("\n")
    )
}

/// The SEC1 point of a PEM SPKI secp256k1 public key; `None` for anything else.
pub fn parse_pem_public_key(pem: &str) -> Option<Vec<u8>> {
    let inner = pem
        .trim()
        .strip_prefix("-----BEGIN PUBLIC KEY-----")?
        .strip_suffix("-----END PUBLIC KEY-----")?;
    let b64: String = inner.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    if b64.len() > 512 {
        return None;
    }
    let der = B64.decode(b64).ok()?;
    let point = der.strip_prefix(&SPKI_SECP256K1_PREFIX[..])?;
    (point.len() == 65 && point[0] == 4).then(|| point.to_vec())
}

/// An `ssi:sread:` issuer for a key: `ssi:sread:<domain>:<base58 SHA-256 of the key>:<base64
/// key>:v0`. The shape of the example token's `iss`; apihub derives the third field from its seed,
/// which we do not have, and nothing verifies it.
pub fn sread_issuer(domain: &str, sec1_uncompressed: &[u8]) -> String {
    format!(
        "ssi:sread:{domain}:{}:{}:v0",
        b58(&sha256(sec1_uncompressed)),
        B64.encode(sec1_uncompressed)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lc_rs::rand::SystemRandom;
    use aws_lc_rs::signature::{ECDSA_P256K1_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair as _};

    /// RFC-130 §1.2.1, the example token, with the document's line breaks removed.
    pub const RFC130_EXAMPLE: &str = concat!(
        "2iVr8jPNNyNojJQ2EKzTz66u5rg4.oakF1h2zHGqJ8Ub5cuwH8GPXzwE3EVPnP7QZRGH",
        "YtGkohWahc8sMXTnWUngejdRQGwgkgvoqaBYLAfgFw83ML9PvgDRJvyqQtR99mCjTjBHhYCtTi",
        "dySwhdJFTCyA48XzmnUN1JEd3Xnk6WUwMCruzqacfd7md84PUZdDGTqeGPNA9nFNK6LoHdf",
        "ejXyfqQitd1GWiyZuVP8ESV1P8YB7WpFBmBD5eHeZiiZSxmGGmNKjFMSV9CK9EcnhoHrCEVvo",
        "YRxg1yrcyLDAtDZyxbtczpJCws1mMjoJx4KouTo7kepewfUmjJrzmQWztVgujNZSYx8J11DqUZXq",
        "LmRPbs57BZ6RkZkehEDWWrr3YViRf9tzAncb8DrABqtVeokyyTPXfonbRgyA2D9dfD1EAw3VxWR",
        "6F6B72xh68551uY9x2jyzDMzQBGH48fcoHZpH7a7zMqvNyPYqXWkAPDvazMwKF1qo782aPHU",
        "YqbubXatVae6K785LCHrUcEQPhC7gbJ7bvLQYZivW3EM9B8xyGsSyBoM2B8JAcz3WFPzZa8Ns",
        "gZrU85A5SzTRGHEv6ZeoCH3UmcZjgroHSiDbZTFvwetZwA2VWV7piKCa42SNbwfBsyram2wvc",
        "wTGMtUXUzJk2Hke8SkRihFYaMzSyPBSQSRY31Ly2EXcgorkMqM29se6BUYYknWvZZLroxH4cp",
        "w9LzejUeLe5bx8Aic66ueYNxiE9kYkXVStDpdhTkPGE2HNDaDiUzhuSbSQGakwro5zxKixwsPk3Xy",
        "DAE1CFyR7eFC7U3t8Bf7SGvQ5Txp7iUYVvQULeNop6NYKN.CkRvatu6DizRiw8M7C2xg41UzcSk",
        "VM1vBA6etakD62wFSLv7UNbJ2xhpQwqxppezG5Mr4ZGdDALd5yXGoosRQYp",
    );

    /// The document's example parses as apihub's shape and its signature verifies with the key
    /// it carries; a byte changed anywhere, or the DER reading of the signature, does not.
    #[test]
    fn rfc130_example_token_verifies() {
        let p = parse(RFC130_EXAMPLE).unwrap();
        assert_eq!(p.header, serde_json::json!({"typ": "SeedSSIJWT"}));
        let keys: Vec<&str> = p
            .body
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        // serde_json's map is sorted; the order on the wire is checked below on the raw text
        assert_eq!(keys.len(), 9);
        let raw = String::from_utf8(b58_decode(RFC130_EXAMPLE.split('.').nth(1).unwrap()).unwrap())
            .unwrap();
        let order: Vec<usize> = [
            "\"sub\"",
            "\"scope\"",
            "\"iss\"",
            "\"publicKey\"",
            "\"iat\"",
            "\"nbf\"",
            "\"exp\"",
            "\"credentials\"",
            "\"options\"",
        ]
        .iter()
        .map(|k| raw.find(k).unwrap())
        .collect();
        assert!(order.windows(2).all(|w| w[0] < w[1]), "{raw}");
        assert_eq!(p.body["scope"], "/mq");
        assert!(p.body["iss"].as_str().unwrap().starts_with("ssi:sread:"));
        assert_eq!(
            p.body["credentials"][0],
            "8wVnt83NUB3usrooEUWRhRChiyGQFDXBGC2uyt4LtndT"
        );
        assert_eq!(p.body["exp"].as_u64().unwrap() * 1000, 1_667_925_722_000);
        assert_eq!(p.signature.len(), 64);
        let key = p.carried_key().expect("a PEM secp256k1 key");
        assert!(verify_with_key(&p, &key));
        // the PEM round-trips byte for byte
        assert_eq!(pem_public_key(&key), p.body["publicKey"].as_str().unwrap());
        // the iss carries the same key in base64
        assert!(p.body["iss"].as_str().unwrap().contains(&B64.encode(&key)));
        // a different signed text does not verify
        let mut q = p.clone();
        q.signing_input.push('x');
        assert!(!verify_with_key(&q, &key));
        let mut q = p.clone();
        q.signature[10] ^= 1;
        assert!(!verify_with_key(&q, &key));
    }

    #[test]
    fn assemble_then_verify_and_errors() {
        let rng = SystemRandom::new();
        let doc = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256K1_SHA256_FIXED_SIGNING, &rng).unwrap();
        let pair =
            EcdsaKeyPair::from_pkcs8(&ECDSA_P256K1_SHA256_FIXED_SIGNING, doc.as_ref()).unwrap();
        let t = assemble(HEADER, r#"{"sub":"x"}"#, |m| {
            Ok(pair.sign(&rng, m).unwrap().as_ref().to_vec())
        })
        .unwrap();
        let p = parse(&t).unwrap();
        assert!(verify_with_key(&p, pair.public_key().as_ref()));
        assert_eq!(
            parse_pem_public_key(&pem_public_key(pair.public_key().as_ref())).unwrap(),
            pair.public_key().as_ref()
        );
        for (bad_token, says) in [
            ("a.b", "three base58 parts"),
            ("0OIl.x.y", "header is not base58"),
            (&format!("{}.x.y", b58(b"{}")), "typ is not SeedSSIJWT"),
            (
                &format!("{}.{}.y", b58(HEADER.as_bytes()), b58(b"[1]")),
                "not a JSON object",
            ),
        ] {
            let e = parse(bad_token).unwrap_err().to_string();
            assert!(e.contains(says), "{bad_token}: {e}");
        }
        assert!(
            parse_pem_public_key("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----")
                .is_none()
        );
    }
}

//! # http-sig: RFC 9421 HTTP Message Signatures (reference implementation)
//!
//! Sans-IO: nothing here opens a socket or reads a clock. Functions that depend on time take
//! `now: u64` (UNIX seconds). The only I/O is in the explicit file helpers ([`Key::from_file`],
//! [`VerificationPolicy::from_file`], [`SigningProfile::from_file`]). Deterministic except for the
//! randomized primitives (ECDSA, RSA-PSS signatures, profile nonces). One crypto stack, aws-lc-rs:
//! ECDSA signatures are raw `r||s`, RSA-PSS uses a 64-byte salt, HMAC is verified in constant
//! time, Ed25519 is deterministic. Key objects are prepared once when a [`Key`] is loaded (key
//! pairs, the HMAC key schedule, parsed public keys), so signing and verifying parse nothing per
//! call.
//!
//! ## Public API
//! - [`HttpMessage`] (`message.rs`): a request or response as data. [`HttpMessage::parse`] /
//!   [`HttpMessage::parse_with`] read raw HTTP/1.1 (CRLF or LF, obs-fold kept as sent),
//!   [`HttpMessage::to_bytes`] writes it, `TryFrom<http::Request<Vec<u8>>>` /
//!   `TryFrom<http::Response<Vec<u8>>>` and [`HttpMessage::to_http_request`] /
//!   [`HttpMessage::to_http_response`] convert. Scheme of raw text: [`ParseOptions::scheme`]
//!   (default `https`); authority from the absolute target or `Host`.
//! - [`ComponentId`] (`components.rs`): a component identifier (sfv Item: name + ordered params);
//!   [`ComponentId::parse_list`] reads `"@method" content-type "@query-param";name="Pet"`.
//!   [`component_value`] computes one component's value; [`component_value_with`] takes the
//!   [`StructuredTypes`] the application declares for `;sf` / `;key` (default: the built-in
//!   table, [`structured_type`]; [`StructuredTypes::declare`] / [`StructuredTypes::with`] add or
//!   override a field, [`StructuredTypes::none`] starts empty). `@target-uri`, `@authority`,
//!   `@scheme`, `@path`, `@query` and `@query-param` come from one target URI (RFC 9110 §7.1,
//!   RFC 9112 §3.3) normalized as RFC 9110 §4.2.3 says, whatever the request-line form
//!   ([`normalize_authority`]); asterisk-form and authority-form requests have an empty path and
//!   query (`@path` `/`, `@query` `?`). A malformed authority is [`Error::InvalidAuthority`], a
//!   fragment in the request-target [`Error::InvalidRequestTarget`]; `;tr` reads the trailer section of a chunked body ([`HttpMessage::trailers`]).
//! - [`SignatureParams`] (`params.rs`): ordered components + ordered parameters (unknown ones kept),
//!   typed accessors `created/expires/nonce/alg/keyid/tag`. [`signature_base`] builds the base
//!   ([`signature_base_with`]: with declared structured types).
//!   [`parse_signature_input`], [`parse_signature_field`], [`signatures`], [`find_signature`],
//!   [`add_signature`] handle the two fields (a new label is appended; a collision is an error
//!   unless [`OnCollision::Replace`]).
//! - [`Algorithm`] (`alg.rs`) and [`Key`] (`key.rs`): JWK, PEM (PKCS#8 incl. RSASSA-PSS OID, SEC1,
//!   PKCS#1, SPKI), DER, base64 HMAC secrets; [`Key::from_bytes`] / [`Key::from_file`]
//!   auto-detect; [`Key::algorithms`], [`Key::default_algorithm`], [`Key::check_algorithm`];
//!   [`Key::default_keyid`] = base64(sha256(public key bytes)) as the Grafbase gateway does
//!   (Ed25519: raw 32 bytes; EC: uncompressed SEC1 point; RSA: PKCS#1 RSAPublicKey DER; HMAC: the
//!   secret itself, of which only the hash is published).
//! - [`Signer`] (`sign.rs`), [`Verifier`] (both take `with_structured_types`) + [`VerificationPolicy`] + [`NonceStore`] /
//!   [`InMemoryNonceStore`] (`verify.rs`).
//! - [`SigningProfile`] (`profile.rs`): Grafbase-style configuration (TOML/YAML) and
//!   [`SigningProfile::sign`].
//! - [`web_bot_auth`]: the Web Bot Auth profile (draft-meunier-webbotauth-httpsig-protocol):
//!   [`Key::jwk_thumbprint`] (RFC 7638), `WebBotAuthSigner`, `WebBotAuthPolicy`,
//!   `Signature-Agent` in both forms, `KeyDirectory`, directory response signatures; facts and
//!   sources in docs/web-bot-auth.md.
//! - [`Error`] (`error.rs`): one `#[non_exhaustive]` enum; [`Error::kind`] gives stable snake_case
//!   names for test vectors.
//!
//! ## Hot path (`sf.rs`, internal)
//! The signature base is written into one buffer: component values are appended in place and
//! `@signature-params` is serialized by our own RFC 8941 writer, byte for byte what sfv writes (sfv
//! itself is used for decimals, byte sequences and dates). [`Signer::sign_message`] copies the
//! `@signature-params` text of the base into Signature-Input. [`parse_signature_input`] and
//! [`parse_signature_field`] first try a single-member fast path that accepts only the canonical
//! form signers write and gives up when not certain (several members, optional spaces, escapes,
//! tokens, decimals, repeated keys, any error); sfv's full parser then decides, so results and
//! error messages never differ. Property tests (`src/sf.rs`, `tests/sf_fast_path.rs`) compare both.
//!
//! ## Where each RFC rule lives
//! | RFC 9421 | rule | file :: function |
//! |---|---|---|
//! | §2.1 | lowercase names, combine with ", ", trim, obs-fold | `components.rs` :: `field_value`, `unfold` |
//! | §2.1.1 | `;sf` strict re-serialization (known types only: built-in table + application-declared [`StructuredTypes`]) | `components.rs` :: `field_value`, `StructuredTypes` |
//! | §2.1.2 | `;key` dictionary member | `components.rs` :: `field_value` |
//! | §2.1.3 | `;bs` byte-sequence wrapping per line | `components.rs` :: `field_value` |
//! | §2.1.4 | `;tr`: the trailer section of a chunked body, never combined with headers | `message.rs` :: `HttpMessage::trailers`, `components.rs` :: `write_field_value` |
//! | §2.2.1-§2.2.9 | derived components | `components.rs` :: `write_derived_value` |
//! | §2.2.2-§2.2.7 | one normalized target URI (RFC 9110 §4.2.3, §7.1), typed authority errors | `components.rs` :: `TargetUri`, `normalize_authority` |
//! | §2.2.8 | `@query-param` decode / re-encode, missing / repeated | `components.rs` :: `derived_value`, `form_decode`, `form_encode` |
//! | §2.3 | signature parameters, order kept | `params.rs` :: `SignatureParams` |
//! | §2.4 | `;req` only on responses, needs the request | `components.rs` :: `component_value` |
//! | §2.5 | base, duplicates, parameters understood, ASCII | `params.rs` :: `signature_base`; `components.rs` :: `component_value` |
//! | §3.1 | signing | `sign.rs` :: `Signer::sign` |
//! | §3.2, §3.2.1 | verification, alg resolution, policy | `verify.rs` :: `Verifier::verify_inner`, `resolve_algorithm`, `VerificationPolicy::check` |
//! | §3.3 | algorithms (raw r‖s ECDSA, PSS salt 64, constant-time HMAC) | `key.rs` :: `Key::sign`, `Key::verify` |
//! | §4.1-§4.3 | Signature-Input / Signature, multiple labels | `params.rs` :: `parse_signature_input`, `parse_signature_field`, `add_signature` |
//! | §7.2.2 | nonce replay | `verify.rs` :: `NonceStore`, `InMemoryNonceStore` |
//!
//! ## Tests, data and command line
//! `cargo test -p http-sig`: the RFC 9421 examples reproduced and verified
//! (`tests/rfc_examples.rs`, insta snapshots of the bases), the §2.1-§2.5 rules with the error
//! kind of every invalid case (`tests/rules.rs`), signing profiles (`tests/profile.rs`), and
//! property tests of round trips and of the fast path (`tests/roundtrip.rs`,
//! `tests/sf_fast_path.rs`). The RFC's keys and messages are in `tests/data` (its README says
//! where each comes from). The `sigharness` binary exposes the crate as
//! `sigharness http-sig sign|verify|base`.
//!
//! ## Example
//! ```
//! use http_sig::{HttpMessage, Key, Signer, Verifier, SignatureParams, ComponentId};
//! let mut msg = HttpMessage::parse(b"GET /foo?a=1 HTTP/1.1\r\nHost: example.com\r\n\r\n").unwrap();
//! let key = Key::from_base64_secret("c2VjcmV0LXNlY3JldC1zZWNyZXQ=").unwrap();
//! let signer = Signer::new(key.clone(), None).unwrap();
//! let mut params = SignatureParams::new(ComponentId::parse_list("@method @path @authority").unwrap());
//! params.set_created(1_700_000_000).unwrap().set_keyid("k1").unwrap();
//! signer.sign_message(&mut msg, None, "sig1", &params).unwrap();
//! let ok = Verifier::new(key, None).verify(&msg, None, Some("sig1"), 1_700_000_010).unwrap();
//! assert_eq!(ok.label, "sig1");
//! ```

mod alg;
mod components;
mod config;
mod der;
mod digest;
mod error;
mod key;
mod limits;
mod message;
mod params;
mod profile;
mod sf;
mod sign;
mod verify;
pub mod web_bot_auth;

pub use alg::Algorithm;
pub use components::{
    ComponentId, DERIVED_COMPONENTS, StructuredType, StructuredTypes, component_value,
    component_value_with, form_decode, form_encode, normalize_authority, structured_type, unfold,
};
pub use config::{MAX_CONFIG_BYTES, MAX_NESTING};
pub use digest::check_content_digest;
pub use error::{Error, Result, excerpt, excerpt_bytes, printable};
pub use key::{Curve, Key, KeyOperation, KeySet};
pub use limits::Limits;
pub use message::{HttpMessage, MessageKind, ParseOptions, RequestLine};
pub use params::{
    OnCollision, SignatureEntry, SignatureParams, add_signature, find_signature,
    parse_signature_field, parse_signature_input, signature_base, signature_base_with, signatures,
};
pub use profile::{
    DerivedComponent, HeaderSelection, KeyConfig, ProfileConfig, SignatureParameter, SigningProfile,
};
pub use sfv;
pub use sign::Signer;
pub use verify::{InMemoryNonceStore, NonceStore, VerificationPolicy, Verified, Verifier};

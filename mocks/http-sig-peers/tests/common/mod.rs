//! What the integration tests of the two HTTP services share: one HMAC key and the signing
//! profile our upstream expects from a gateway using it.
#![allow(dead_code)]

use http_sig::{Key, KeyConfig, ProfileConfig};
use mock_http_sig_peers::SignerExpectations;

pub const SECRET: &str = "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LTEyMzQ=";

pub fn key() -> Key {
    Key::from_bytes(SECRET.as_bytes()).unwrap()
}

pub fn expectations() -> SignerExpectations {
    let profile = ProfileConfig {
        key: KeyConfig {
            file: None,
            inline: Some(SECRET.into()),
            id: Some("gw".into()),
        },
        algorithm: Some("hmac-sha256".into()),
        headers: Default::default(),
        derived_components: vec![http_sig::DerivedComponent::RequestTarget],
        signature_parameters: vec![],
        expiry: None,
    };
    SignerExpectations::new(&profile, key(), None).unwrap()
}

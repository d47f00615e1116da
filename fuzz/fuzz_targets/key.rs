//! Key loading (`Key::from_bytes`: JWK, PEM, DER, base64 secret, auto-detected). A key that loads
//! must work: it signs with each algorithm it claims (if it can sign) and the signature verifies;
//! a garbage signature never verifies.
#![no_main]

use http_sig::Key;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(key) = Key::from_bytes(data) else {
        return;
    };
    let _ = key.describe();
    let _ = key.default_keyid();
    let algs = key.algorithms();
    assert!(
        !algs.is_empty(),
        "a loaded key supports no algorithm: {}",
        key.describe()
    );
    assert!(algs.contains(&key.default_algorithm()));
    let msg = b"fuzz: the signature base";
    for alg in algs {
        key.check_algorithm(alg)
            .unwrap_or_else(|e| panic!("{alg} listed but refused: {e}"));
        if key.can_sign() {
            let sig = key
                .sign(alg, msg)
                .unwrap_or_else(|e| panic!("{}: cannot sign with {alg}: {e}", key.describe()));
            assert_eq!(
                key.verify(alg, msg, &sig).ok(),
                Some(true),
                "own {alg} signature fails"
            );
            assert_ne!(
                key.verify(alg, b"another message", &sig).ok(),
                Some(true),
                "{alg} signature verifies another message"
            );
        }
        // A signature made of the input bytes is garbage: it must not verify.
        let garbage = &data[..data.len().min(512)];
        assert_ne!(
            key.verify(alg, msg, garbage).ok(),
            Some(true),
            "garbage verified"
        );
    }
});

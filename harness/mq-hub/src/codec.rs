//! Small encodings: lowercase hex (hand-written: twelve lines, no crate needed), base58 and
//! SHA-256 helpers.

use aws_lc_rs::digest;

/// Lowercase hex of `bytes`.
pub fn hex_encode(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(HEX[(b >> 4) as usize] as char);
        s.push(HEX[(b & 15) as usize] as char);
    }
    s
}

/// Decode hex (either case); `None` for odd length or a non-hex character.
pub fn hex_decode(s: &str) -> Option<Vec<u8>> {
    let b = s.as_bytes();
    if !b.len().is_multiple_of(2) {
        return None;
    }
    fn nib(c: u8) -> Option<u8> {
        match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            b'A'..=b'F' => Some(c - b'A' + 10),
            _ => None,
        }
    }
    b.chunks(2)
        .map(|p| Some(nib(p[0])? << 4 | nib(p[1])?))
        .collect()
}

/// SHA-256 of `data`.
pub fn sha256(data: &[u8]) -> [u8; 32] {
    let d = digest::digest(&digest::SHA256, data);
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

/// Bitcoin-alphabet base58 (the `bs58` default).
pub fn b58(data: &[u8]) -> String {
    bs58::encode(data).into_string()
}

/// The longest base58 text decoded: base58 decoding costs time quadratic in the length (an
/// `x-mq-did` of 60 000 characters took 0.78 s), and nothing the hub decodes comes near this (a
/// secp256k1 key is ~50 characters, a token part well under 1 000).
pub const MAX_B58_CHARS: usize = 4096;

/// Decode Bitcoin-alphabet base58; `None` when it is not base58 or longer than
/// [`MAX_B58_CHARS`].
pub fn b58_decode(s: &str) -> Option<Vec<u8>> {
    if s.len() > MAX_B58_CHARS {
        return None;
    }
    bs58::decode(s).into_vec().ok()
}

/// `n` random bytes from the system RNG, as base58.
pub fn random_b58(n: usize) -> String {
    let mut buf = vec![0u8; n];
    // The system RNG failing is not recoverable; aws-lc aborts in that case anyway.
    aws_lc_rs::rand::fill(&mut buf).expect("system random number generator");
    b58(&buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Regression (issue 13): a 60 000-character `x-mq-did` was decoded (quadratically) before
    /// being refused; text over the cap is refused without decoding.
    #[test]
    fn long_base58_is_refused_undecoded() {
        let at_cap = "2".repeat(MAX_B58_CHARS);
        assert!(b58_decode(&at_cap).is_some());
        assert!(b58_decode(&"2".repeat(MAX_B58_CHARS + 1)).is_none());
        assert!(b58_decode(&"2".repeat(60_000)).is_none());
    }

    #[test]
    fn hex_round_trip_and_rejects() {
        assert_eq!(hex_encode(&[0, 0xab, 0xff]), "00abff");
        assert_eq!(hex_decode("00ABff"), Some(vec![0, 0xab, 0xff]));
        assert_eq!(hex_decode("abc"), None);
        assert_eq!(hex_decode("zz"), None);
    }
}

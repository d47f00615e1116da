//! Content-Digest (RFC 9530) checked against the body: a signature covering `content-digest`
//! protects the body only if the digest is checked (RFC 9421 §7.2.8).

use aws_lc_rs::digest;
use sfv::{BareItem, Dictionary, ListEntry, Parser};

use crate::error::{Error, Result};
use crate::message::HttpMessage;

/// Check every `sha-256` / `sha-512` member of Content-Digest against the body. Returns
/// `Ok(false)` when the field is absent (nothing to check), `Ok(true)` when every supported
/// member matched; a field with no supported member is [`Error::ContentDigestUnsupported`]
/// (nothing could be checked), a mismatch [`Error::ContentDigestMismatch`].
pub fn check_content_digest(msg: &HttpMessage) -> Result<bool> {
    let values: Vec<&str> = msg.header_values("content-digest").collect();
    if values.is_empty() {
        return Ok(false);
    }
    let joined = values.join(", ");
    let dict: Dictionary = Parser::new(&joined)
        .parse()
        .map_err(|e| Error::ContentDigestInvalid(format!("not a structured Dictionary: {e}")))?;
    let mut checked = 0;
    for (k, v) in &dict {
        let alg = match k.as_str() {
            "sha-256" => &digest::SHA256,
            "sha-512" => &digest::SHA512,
            _ => continue,
        };
        let want = match v {
            ListEntry::Item(item) => match &item.bare_item {
                BareItem::ByteSequence(b) => b,
                _ => None.ok_or_else(|| not_bytes(k.as_str()))?,
            },
            ListEntry::InnerList(_) => return Err(not_bytes(k.as_str())),
        };
        if digest::digest(alg, &msg.body).as_ref() != want.as_slice() {
            return Err(Error::ContentDigestMismatch(k.as_str().to_string()));
        }
        checked += 1;
    }
    if checked == 0 {
        return Err(Error::ContentDigestUnsupported);
    }
    Ok(true)
}

fn not_bytes(member: &str) -> Error {
    Error::ContentDigestInvalid(format!("member {member} is not a Byte Sequence"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(digest: Option<&str>, body: &str) -> HttpMessage {
        let mut m = HttpMessage::request("POST", "/", "https", Some("example.com"));
        if let Some(d) = digest {
            m.append_header("Content-Digest", d);
        }
        m.body = body.as_bytes().to_vec();
        m
    }

    /// RFC 9530 Appendix B.1 / RFC 9421 Appendix B.2: sha-512 of `{"hello": "world"}`.
    const SHA512: &str = "sha-512=:WZDPaVn/7XgHaAy8pmojAkGWoRx2UFChF41A2svX+TaPm+AbwAgBWnrIiYllu7BNNyealdVLvRwEmTHWXvJwew==:";

    #[test]
    fn digests_are_checked_against_the_body() {
        assert!(!check_content_digest(&msg(None, "x")).unwrap());
        assert!(check_content_digest(&msg(Some(SHA512), "{\"hello\": \"world\"}")).unwrap());
        let kind = |d: &str, b: &str| check_content_digest(&msg(Some(d), b)).unwrap_err().kind();
        assert_eq!(
            kind(SHA512, "{\"hello\": \"world!\"}"),
            "content_digest_mismatch"
        );
        assert_eq!(kind("md5=:AAAA:", ""), "content_digest_unsupported");
        assert_eq!(kind("sha-256=abc", ""), "content_digest_invalid");
        assert_eq!(kind("sha-256=:(", ""), "content_digest_invalid");
    }
}

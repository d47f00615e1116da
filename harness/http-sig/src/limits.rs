//! [`Limits`]: how much of an untrusted message the [`crate::Verifier`] looks at (issue 13).
//!
//! Building a signature base is linear in the size of the message (a Dictionary field is parsed
//! once however many of its members are covered, the query once however many `@query-param`s,
//! duplicates are found with a hash set), so these caps are not what keeps verification fast;
//! they bound the work and memory an unauthenticated sender can ask for before the signature is
//! checked, and each one refused says which cap it hit ([`crate::Error::LimitExceeded`]).

use crate::error::{Error, Result};
use crate::message::HttpMessage;

/// Caps on what a verifier processes of one message. The defaults are far above what signers
/// send (the RFC 9421 examples cover at most 10 components; a Grafbase gateway covers every
/// header, and HTTP servers allow about 100 header lines).
///
/// | field | default | refused when |
/// |---|---|---|
/// | `max_header_bytes` | 65 536 | the head (request line, header names + values, 4 bytes a line) is larger |
/// | `max_signatures` | 32 | Signature-Input has more members |
/// | `max_components` | 256 | one signature covers more components |
/// | `max_field_bytes` | 16 384 | a field read with `;sf` or `;key` is longer (combined value) |
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest message head looked at, bytes (request line + 12, each header line name + value + 4).
    pub max_header_bytes: usize,
    /// Most Signature-Input members (labels) in one message.
    pub max_signatures: usize,
    /// Most covered components in one signature.
    pub max_components: usize,
    /// Longest field value parsed as a structured field (`;sf`, `;key`), bytes.
    pub max_field_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_header_bytes: 64 * 1024,
            max_signatures: 32,
            max_components: 256,
            max_field_bytes: 16 * 1024,
        }
    }
}

impl Limits {
    /// No caps (signers building bases for their own messages; tests).
    pub const UNLIMITED: Limits = Limits {
        max_header_bytes: usize::MAX,
        max_signatures: usize::MAX,
        max_components: usize::MAX,
        max_field_bytes: usize::MAX,
    };

    /// The size of `msg`'s head as counted by `max_header_bytes`: the request line (method +
    /// target + 12) and every header line (name + value + 4).
    pub fn header_bytes(msg: &HttpMessage) -> usize {
        let start = msg
            .request_line()
            .map_or(0, |r| r.method.len() + r.target.len() + 12);
        msg.headers
            .iter()
            .map(|(n, v)| n.len() + v.len() + 4)
            .fold(start, usize::saturating_add)
    }

    /// Refuse a message whose head exceeds `max_header_bytes`.
    pub fn check_message(&self, msg: &HttpMessage) -> Result<()> {
        let got = Self::header_bytes(msg);
        check(
            "max_header_bytes",
            self.max_header_bytes,
            got,
            || "the message head".into(),
            "bytes",
        )
    }

    /// Refuse more than `max_signatures` labels.
    pub fn check_signatures(&self, got: usize) -> Result<()> {
        check(
            "max_signatures",
            self.max_signatures,
            got,
            || "Signature-Input".into(),
            "members",
        )
    }

    /// Refuse a signature covering more than `max_components` components.
    pub fn check_components(&self, label: &str, got: usize) -> Result<()> {
        check(
            "max_components",
            self.max_components,
            got,
            || format!("signature {}", crate::excerpt(label, 40)),
            "covered components",
        )
    }

    /// Refuse a structured field value longer than `max_field_bytes`.
    pub(crate) fn check_field(&self, field: &str, got: usize) -> Result<()> {
        check(
            "max_field_bytes",
            self.max_field_bytes,
            got,
            || format!("field {}", crate::excerpt(field, 40)),
            "bytes",
        )
    }
}

/// `what` is only built when the cap is hit (this runs on every verification).
fn check(
    limit: &'static str,
    max: usize,
    got: usize,
    what: impl FnOnce() -> String,
    unit: &str,
) -> Result<()> {
    if got > max {
        return Err(Error::LimitExceeded {
            what: format!("{} has {got} {unit}", what()),
            limit,
            max,
        });
    }
    Ok(())
}

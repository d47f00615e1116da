//! Minimal raw HTTP/1.1 text handling for the suite and for adapters whose implementation under
//! test works on already-parsed parts (like the `httpsig` crate, which takes field values, not
//! messages). This is the "framework glue" an integrator writes: it splits the start line, the
//! field lines and the body and hands values over untouched apart from the OWS after the colon;
//! every RFC 9421 normalisation (trimming, obs-fold, combining) is left to the target.

/// The start line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StartLine {
    Request { method: String, target: String },
    Response { status: String },
}

/// A message split into parts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawMessage {
    pub start: StartLine,
    /// Field lines in order: name as sent, value with the leading OWS removed and nothing else
    /// changed (trailing whitespace kept; an obs-fold continuation is appended after `\n`).
    pub fields: Vec<(String, String)>,
    pub body: String,
}

use crate::{Error, Result};

/// Why raw text is not an HTTP/1.1 message ([`Error::HttpMessage`]).
fn not_http(why: impl Into<String>) -> Error {
    Error::HttpMessage(why.into())
}

impl RawMessage {
    /// Parse `text` (CRLF or LF line ends); [`Error::HttpMessage`] says why it is not a message.
    pub fn parse(text: &str) -> Result<Self> {
        let (head, body) = split_head(text);
        let mut lines = head.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l));
        let first = lines
            .next()
            .filter(|l| !l.is_empty())
            .ok_or_else(|| not_http("empty message"))?;
        let start = parse_start(first)?;
        let mut fields: Vec<(String, String)> = Vec::new();
        for line in lines {
            if line.starts_with(' ') || line.starts_with('\t') {
                // RFC 9112 §5.2 obs-fold: kept as sent for the target to handle.
                let last = fields
                    .last_mut()
                    .ok_or_else(|| not_http("continuation line before any field"))?;
                last.1.push('\n');
                last.1.push_str(line);
                continue;
            }
            let (name, value) = line
                .split_once(':')
                .ok_or_else(|| not_http(format!("field line without ':': {line:?}")))?;
            if name.is_empty() || name.contains([' ', '\t']) {
                return Err(not_http(format!("invalid field name in {line:?}")));
            }
            fields.push((
                name.to_string(),
                value.trim_start_matches([' ', '\t']).to_string(),
            ));
        }
        Ok(RawMessage {
            start,
            fields,
            body: body.to_string(),
        })
    }

    /// Every value of field `name` (case-insensitive), in order.
    pub fn values(&self, name: &str) -> Vec<String> {
        self.fields
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
            .collect()
    }

    pub fn is_request(&self) -> bool {
        matches!(self.start, StartLine::Request { .. })
    }

    /// `(path, query-without-?)` of a request target; absolute-form targets are reduced.
    pub fn path_and_query(&self) -> Option<(String, Option<String>)> {
        let StartLine::Request { target, .. } = &self.start else {
            return None;
        };
        let origin = match target.find("://") {
            Some(i) => {
                let rest = &target[i + 3..];
                rest.find(['/', '?']).map(|j| &rest[j..]).unwrap_or("")
            }
            None => target.as_str(),
        };
        let (p, q) = match origin.split_once('?') {
            Some((p, q)) => (p, Some(q.to_string())),
            None => (origin, None),
        };
        Some((p.to_string(), q))
    }

    /// Authority from an absolute-form target, else the Host field.
    pub fn authority(&self) -> Option<String> {
        if let StartLine::Request { target, .. } = &self.start
            && let Some(i) = target.find("://")
        {
            let rest = &target[i + 3..];
            let end = rest.find(['/', '?']).unwrap_or(rest.len());
            return Some(rest[..end].to_string());
        }
        self.values("host").into_iter().next()
    }

    /// Scheme from an absolute-form target, else `https` (as in the RFC examples).
    pub fn scheme(&self) -> String {
        if let StartLine::Request { target, .. } = &self.start
            && let Some(i) = target.find("://")
        {
            return target[..i].to_ascii_lowercase();
        }
        "https".to_string()
    }
}

fn split_head(text: &str) -> (&str, &str) {
    if let Some(i) = text.find("\r\n\r\n") {
        (&text[..i], &text[i + 4..])
    } else if let Some(i) = text.find("\n\n") {
        (&text[..i], &text[i + 2..])
    } else {
        (text.trim_end_matches(['\r', '\n']), "")
    }
}

fn parse_start(line: &str) -> Result<StartLine> {
    let mut parts = line.splitn(3, ' ');
    let a = parts.next().unwrap_or("");
    let b = parts.next().unwrap_or("");
    if a.starts_with("HTTP/") {
        if b.len() != 3 || !b.bytes().all(|c| c.is_ascii_digit()) {
            return Err(not_http(format!("bad status line {line:?}")));
        }
        return Ok(StartLine::Response {
            status: b.to_string(),
        });
    }
    if a.is_empty() || b.is_empty() {
        return Err(not_http(format!("bad request line {line:?}")));
    }
    Ok(StartLine::Request {
        method: a.to_string(),
        target: b.to_string(),
    })
}

/// Insert field lines at the end of the header section of `text`, keeping its line ends.
pub fn add_fields(text: &str, fields: &[(&str, &str)]) -> String {
    let crlf = text.contains("\r\n");
    let eol = if crlf { "\r\n" } else { "\n" };
    let (head, body) = split_head(text);
    let mut out = String::with_capacity(text.len() + 256);
    out.push_str(head);
    for (n, v) in fields {
        out.push_str(eol);
        out.push_str(n);
        out.push_str(": ");
        out.push_str(v);
    }
    out.push_str(eol);
    out.push_str(eol);
    out.push_str(body);
    out
}

/// Every value of field `name` in `text`, joined with ", " (how a dictionary field split over
/// several lines is read); `None` when absent or unparseable.
pub fn combined(text: &str, name: &str) -> Option<String> {
    let m = RawMessage::parse(text).ok()?;
    let v = m.values(name);
    if v.is_empty() {
        None
    } else {
        Some(v.iter().map(|s| s.trim()).collect::<Vec<_>>().join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_request_and_keeps_values_untrimmed() {
        let m = RawMessage::parse(
            "POST /foo?a=1 HTTP/1.1\r\nHost: example.com\r\nX-Pad:  v  \r\nX-Fold: a\r\n  b\r\n\r\n{}",
        )
        .unwrap();
        assert_eq!(m.values("x-pad"), vec!["v  "]);
        assert_eq!(m.values("X-FOLD"), vec!["a\n  b"]);
        assert_eq!(m.body, "{}");
        assert_eq!(
            m.path_and_query(),
            Some(("/foo".into(), Some("a=1".into())))
        );
        assert_eq!(m.authority().as_deref(), Some("example.com"));
    }

    #[test]
    fn rejects_garbage_without_panicking() {
        let e = RawMessage::parse("").unwrap_err();
        assert!(matches!(e, Error::HttpMessage(_)), "{e:?}");
        assert_eq!(e.to_string(), "not an HTTP/1.1 message: empty message");
        assert!(RawMessage::parse("GET\r\n\r\n").is_err());
        assert!(RawMessage::parse("HTTP/1.1 2x0 OK\r\n\r\n").is_err());
        assert!(RawMessage::parse("GET / HTTP/1.1\r\nno colon\r\n\r\n").is_err());
        assert!(RawMessage::parse("GET / HTTP/1.1\r\n folded-first\r\n\r\n").is_err());
    }

    #[test]
    fn add_fields_appends_before_blank_line() {
        let t = add_fields(
            "GET / HTTP/1.1\r\nHost: a\r\n\r\nbody",
            &[("X", "1"), ("Y", "2")],
        );
        assert_eq!(t, "GET / HTTP/1.1\r\nHost: a\r\nX: 1\r\nY: 2\r\n\r\nbody");
        assert_eq!(combined(&t, "x").as_deref(), Some("1"));
    }
}

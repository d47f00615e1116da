//! [`HttpMessage`]: a request or response as plain data, parsed from raw HTTP/1.1 text or converted
//! from/to the `http` crate types. No I/O.

use crate::error::{Error, Result};

/// Options for [`HttpMessage::parse_with`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseOptions {
    /// Scheme of the request when the request-target is not absolute (raw text does not carry it).
    /// Default `"https"`, as in the RFC 9421 examples.
    pub scheme: String,
}

impl Default for ParseOptions {
    fn default() -> Self {
        ParseOptions {
            scheme: "https".to_string(),
        }
    }
}

/// Request control data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestLine {
    /// Method, case preserved (RFC 9421 §2.2.1).
    pub method: String,
    /// The request-target exactly as sent (origin, absolute, authority or asterisk form).
    pub target: String,
    /// Lowercase scheme of the target URI.
    pub scheme: String,
    /// Authority (`host[:port]`) as given by the absolute target or the Host header; `None` if neither.
    pub authority: Option<String>,
}

/// Request or response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MessageKind {
    /// A request.
    Request(RequestLine),
    /// A response with its status code.
    Response {
        /// Three-digit status code.
        status: u16,
        /// Reason phrase as sent (not signed; kept for `to_bytes`).
        reason: String,
    },
}

/// An HTTP message as data: control data, ordered header lines (name as sent, value as sent
/// including any obs-fold), body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpMessage {
    /// Request or response control data.
    pub kind: MessageKind,
    /// Header field lines in order, name as sent, raw value (obs-fold kept, surrounding OWS trimmed).
    pub headers: Vec<(String, String)>,
    /// Body bytes.
    pub body: Vec<u8>,
}

impl HttpMessage {
    /// A request from parts; `target` is the request-target as sent, e.g. `/foo?a=b`.
    pub fn request(method: &str, target: &str, scheme: &str, authority: Option<&str>) -> Self {
        HttpMessage {
            kind: MessageKind::Request(RequestLine {
                method: method.to_string(),
                target: target.to_string(),
                scheme: scheme.to_ascii_lowercase(),
                authority: authority.map(str::to_string),
            }),
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    /// A response with `status`.
    pub fn response(status: u16) -> Self {
        HttpMessage {
            kind: MessageKind::Response {
                status,
                reason: canonical_reason(status),
            },
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    /// Parse raw HTTP/1.1 text with default options (scheme `https`).
    pub fn parse(raw: &[u8]) -> Result<Self> {
        Self::parse_with(raw, ParseOptions::default())
    }

    /// Parse raw HTTP/1.1 text: start line, header lines (obs-fold allowed), blank line, body.
    /// CRLF or bare LF line endings are accepted.
    pub fn parse_with(raw: &[u8], opts: ParseOptions) -> Result<Self> {
        let bad = |m: &str| Error::InvalidMessage(m.to_string());
        // Split head and body at the first empty line.
        // (byte offset, line) pairs; errors quote at most a short excerpt and say where it is.
        let mut lines: Vec<(usize, &[u8])> = Vec::new();
        let mut pos = 0;
        let mut body_start = None;
        while pos < raw.len() {
            let end = raw[pos..].iter().position(|&b| b == b'\n').map(|i| pos + i);
            let (line, next) = match end {
                Some(e) => (&raw[pos..e], e + 1),
                None => (&raw[pos..], raw.len()),
            };
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            // RFC 9112 §2.2: a bare CR (not before LF) is not a line ending; refuse it rather
            // than read the rest of the input as one line.
            if let Some(i) = line.iter().position(|&b| b == b'\r') {
                return Err(Error::InvalidMessage(format!(
                    "bare CR (not followed by LF) at byte {}: lines end with CRLF or LF (RFC 9112 §2.2); the line starts {}",
                    pos + i,
                    crate::excerpt_bytes(&line[..i], 40)
                )));
            }
            if line.is_empty() {
                if lines.is_empty() {
                    // RFC 9112 §2.2: ignore empty lines before the start line.
                    pos = next;
                    continue;
                }
                body_start = Some(next);
                break;
            }
            lines.push((pos, line));
            pos = next;
        }
        let body = match body_start {
            Some(b) => raw[b..].to_vec(),
            None => Vec::new(),
        };
        let mut it = lines.into_iter();
        let (_, start) = it.next().ok_or_else(|| bad("empty input: no start line"))?;
        let start = std::str::from_utf8(start).map_err(|_| bad("start line is not UTF-8"))?;
        let mut headers: Vec<(String, String)> = Vec::new();
        for (at, line) in it {
            let text = std::str::from_utf8(line).map_err(|_| {
                Error::InvalidMessage(format!(
                    "the header line at byte {at} is not valid UTF-8: {}",
                    crate::excerpt_bytes(line, 40)
                ))
            })?;
            // RFC 9110 §5.5: "Field values containing CR, LF, or NUL characters are invalid and
            // dangerous ... a recipient ... MUST either reject the message or replace each of
            // those characters with SP". CR and LF cannot get here; NUL is refused.
            if let Some(i) = line.iter().position(|&b| b == 0) {
                return Err(Error::InvalidMessage(format!(
                    "NUL in the header line at byte {at} (offset {i} in the line; RFC 9110 section 5.5): {}",
                    crate::excerpt(text, 40)
                )));
            }
            if text.starts_with(' ') || text.starts_with('\t') {
                // obs-fold (RFC 9112 §5.2): continuation of the previous value, kept as sent.
                let last = headers
                    .last_mut()
                    .ok_or_else(|| bad("continuation line before the first header"))?;
                last.1.push_str("\r\n");
                last.1.push_str(text);
                continue;
            }
            let (name, value) = text.split_once(':').ok_or_else(|| {
                Error::InvalidMessage(format!(
                    "header line without ':' at byte {at}: {}",
                    crate::excerpt(text, 60)
                ))
            })?;
            if name.is_empty() || !name.bytes().all(is_tchar) {
                return Err(Error::InvalidMessage(format!(
                    "invalid header name at byte {at}: {}",
                    crate::excerpt(name, 60)
                )));
            }
            headers.push((
                name.to_string(),
                value.trim_matches([' ', '\t']).to_string(),
            ));
        }
        let kind = if let Some(rest) = start.strip_prefix("HTTP/") {
            let mut parts = rest.splitn(3, ' ');
            let _version = parts.next();
            let code = parts
                .next()
                .ok_or_else(|| bad("status line without a status code"))?;
            if code.len() != 3 || !code.bytes().all(|b| b.is_ascii_digit()) {
                return Err(Error::InvalidMessage(format!(
                    "invalid status code {}",
                    crate::excerpt(code, 20)
                )));
            }
            let status: u16 = code.parse().map_err(|_| bad("invalid status code"))?;
            // RFC 9110 §15: "All valid status codes are within the range of 100 to 599,
            // inclusive." ("020" would otherwise become 20 and not survive `to_bytes`.)
            if !(100..=599).contains(&status) {
                return Err(Error::InvalidMessage(format!(
                    "status code {code} is outside 100 to 599 (RFC 9110 section 15)"
                )));
            }
            // RFC 9112 §4: reason-phrase = 1*( HTAB / SP / VCHAR / obs-text ). Trailing SP/HTAB
            // carry nothing ("A client SHOULD ignore the reason-phrase content") and are dropped,
            // so that the serialization parses back to the same message.
            let reason = parts.next().unwrap_or("").trim_end_matches([' ', '\t']);
            if let Some(c) = reason.chars().find(|c| c.is_ascii_control() && *c != '\t') {
                return Err(Error::InvalidMessage(format!(
                    "control character {} in the reason phrase (RFC 9112 section 4 allows HTAB, SP, visible characters and obs-text)",
                    crate::excerpt(&c.to_string(), 8)
                )));
            }
            MessageKind::Response {
                status,
                reason: reason.to_string(),
            }
        } else {
            let mut parts = start.split(' ');
            let method = parts.next().unwrap_or("");
            let target = parts
                .next()
                .ok_or_else(|| bad("request line without a target"))?;
            let version = parts
                .next()
                .ok_or_else(|| bad("request line without an HTTP version"))?;
            if parts.next().is_some() || !version.starts_with("HTTP/") {
                return Err(Error::InvalidMessage(format!(
                    "invalid request line {}",
                    crate::excerpt(start, 80)
                )));
            }
            if method.is_empty() || !method.bytes().all(is_tchar) {
                return Err(Error::InvalidMessage(format!(
                    "invalid method {}",
                    crate::excerpt(method, 40)
                )));
            }
            if target.is_empty() {
                return Err(bad("empty request-target"));
            }
            let (scheme, authority) = match split_absolute(target) {
                Some((s, a, _)) => (s.to_ascii_lowercase(), Some(a.to_string())),
                None => {
                    let host = headers
                        .iter()
                        .find(|(n, _)| n.eq_ignore_ascii_case("host"))
                        .map(|(_, v)| v.clone());
                    let host = match host {
                        Some(h) => Some(h),
                        None if method == "CONNECT" => Some(target.to_string()),
                        None => None,
                    };
                    (opts.scheme.to_ascii_lowercase(), host)
                }
            };
            MessageKind::Request(RequestLine {
                method: method.to_string(),
                target: target.to_string(),
                scheme,
                authority,
            })
        };
        Ok(HttpMessage {
            kind,
            headers,
            body,
        })
    }

    /// Serialize as HTTP/1.1 text with CRLF line endings.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        match &self.kind {
            MessageKind::Request(r) => {
                out.extend_from_slice(format!("{} {} HTTP/1.1\r\n", r.method, r.target).as_bytes())
            }
            MessageKind::Response { status, reason } => {
                // Verbatim, so that the serialization parses back to the same message: no
                // reason invented for an empty one (the constructors fill in the canonical
                // reason), no trimming (a reason ending in Unicode white space comes back as
                // sent). RFC 9112 §4: `status-line = HTTP-version SP status-code SP
                // [ reason-phrase ]`, so the SP stays when the reason is empty.
                out.extend_from_slice(format!("HTTP/1.1 {status} {reason}\r\n").as_bytes());
            }
        }
        for (n, v) in &self.headers {
            out.extend_from_slice(n.as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(v.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(&self.body);
        out
    }

    /// Is this a request?
    pub fn is_request(&self) -> bool {
        matches!(self.kind, MessageKind::Request(_))
    }

    /// The request control data, if a request.
    pub fn request_line(&self) -> Option<&RequestLine> {
        match &self.kind {
            MessageKind::Request(r) => Some(r),
            MessageKind::Response { .. } => None,
        }
    }

    /// The status code, if a response.
    pub fn status(&self) -> Option<u16> {
        match &self.kind {
            MessageKind::Response { status, .. } => Some(*status),
            MessageKind::Request(_) => None,
        }
    }

    /// All raw values of the header `name` (case-insensitive), in order.
    pub fn header_values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers
            .iter()
            .filter(move |(n, _)| name_eq(n, name))
            .map(|(_, v)| v.as_str())
    }

    /// Is the header `name` present (case-insensitive)?
    pub fn has_header(&self, name: &str) -> bool {
        self.headers.iter().any(|(n, _)| name_eq(n, name))
    }

    /// Append a header line.
    pub fn append_header(&mut self, name: &str, value: &str) {
        self.headers.push((name.to_string(), value.to_string()));
    }

    /// Replace all lines of `name` with one line (appended at the position of the first one, or at
    /// the end).
    pub fn set_header(&mut self, name: &str, value: &str) {
        let first = self
            .headers
            .iter()
            .position(|(n, _)| n.eq_ignore_ascii_case(name));
        self.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        match first {
            Some(i) => self
                .headers
                .insert(i, (name.to_string(), value.to_string())),
            None => self.headers.push((name.to_string(), value.to_string())),
        }
    }

    /// Remove all lines of `name`.
    pub fn remove_header(&mut self, name: &str) {
        self.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
    }

    /// The trailer section (RFC 9112 §7.1.2) of a message whose body is sent with the chunked
    /// transfer coding (the last coding of `Transfer-Encoding` is `chunked`), as (name, value)
    /// lines in order, values trimmed of surrounding whitespace. A message without the chunked
    /// coding has no trailers (an empty list). The body is decoded in one bounded pass: a chunk
    /// size beyond the body, a missing CRLF or a malformed trailer line is
    /// `Error::InvalidMessage` naming the byte offset in the body.
    pub fn trailers(&self) -> Result<Vec<(String, String)>> {
        let chunked = self
            .header_values("transfer-encoding")
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .last()
            .is_some_and(|c| c.eq_ignore_ascii_case("chunked"));
        if !chunked {
            return Ok(Vec::new());
        }
        let b = &self.body;
        let bad = |at: usize, what: &str| {
            Error::InvalidMessage(format!(
                "chunked body: {what} at byte {at} of the body (RFC 9112 section 7.1)"
            ))
        };
        // One line (without its CRLF or LF) starting at `at`, and where the next one starts.
        let line = |at: usize| -> Result<(&[u8], usize)> {
            let rest = b.get(at..).unwrap_or_default();
            let end = rest
                .iter()
                .position(|&c| c == b'\n')
                .ok_or_else(|| bad(at, "line without an end"))?;
            let l = &rest[..end];
            Ok((l.strip_suffix(b"\r").unwrap_or(l), at + end + 1))
        };
        let mut pos = 0;
        loop {
            let (size_line, next) = line(pos)?;
            let size_text = size_line
                .split(|&c| c == b';')
                .next()
                .unwrap_or_default()
                .trim_ascii();
            let size = std::str::from_utf8(size_text)
                .ok()
                .filter(|t| !t.is_empty() && t.len() <= 15)
                .and_then(|t| usize::from_str_radix(t, 16).ok())
                .ok_or_else(|| bad(pos, "invalid chunk size"))?;
            if size == 0 {
                pos = next;
                break;
            }
            let data_end = next
                .checked_add(size)
                .filter(|&e| e <= b.len())
                .ok_or_else(|| bad(pos, "chunk size beyond the end of the body"))?;
            let (after, next) = line(data_end)?;
            if !after.is_empty() {
                return Err(bad(data_end, "chunk data not followed by CRLF"));
            }
            pos = next;
        }
        let mut out: Vec<(String, String)> = Vec::new();
        loop {
            let (l, next) = match line(pos) {
                Ok(x) => x,
                // The final CRLF may be missing at the very end of the text.
                Err(_) if pos >= b.len() => break,
                Err(e) => return Err(e),
            };
            if l.is_empty() {
                break;
            }
            let text = std::str::from_utf8(l).map_err(|_| bad(pos, "trailer line not UTF-8"))?;
            let (name, value) = text
                .split_once(':')
                .filter(|(n, _)| !n.is_empty() && n.bytes().all(is_tchar))
                .ok_or_else(|| bad(pos, "trailer line is not `name: value`"))?;
            out.push((
                name.to_string(),
                value.trim_matches([' ', '\t']).to_string(),
            ));
            pos = next;
        }
        Ok(out)
    }
}

fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Split an absolute-form URI `scheme://authority/path?query` into (scheme, authority, rest).
pub(crate) fn split_absolute(target: &str) -> Option<(&str, &str, &str)> {
    let (scheme, rest) = target.split_once("://")?;
    if scheme.is_empty()
        || !scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        || !scheme
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b))
    {
        return None;
    }
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    Some((scheme, &rest[..end], &rest[end..]))
}

// ---- conversions with the `http` crate ---------------------------------------------------------

fn header_map_to_vec(map: &http::HeaderMap) -> Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    for (name, value) in map {
        let v = value.to_str().map_err(|_| {
            Error::InvalidMessage(format!(
                "header {name} has a value that is not visible ASCII"
            ))
        })?;
        out.push((name.as_str().to_string(), v.to_string()));
    }
    Ok(out)
}

fn vec_to_header_map(headers: &[(String, String)]) -> Result<http::HeaderMap> {
    let mut map = http::HeaderMap::new();
    for (n, v) in headers {
        let name = http::header::HeaderName::from_bytes(n.as_bytes())
            .map_err(|_| Error::InvalidMessage(format!("invalid header name {n:?}")))?;
        // obs-fold is not representable in `http`; fold to a single space (RFC 9112 §5.2).
        let v = crate::components::unfold(v);
        let value = http::HeaderValue::from_str(&v)
            .map_err(|_| Error::InvalidMessage(format!("invalid value for header {n}")))?;
        map.append(name, value);
    }
    Ok(map)
}

impl TryFrom<&http::Request<Vec<u8>>> for HttpMessage {
    type Error = Error;
    /// Scheme defaults to `https` when the URI has none; authority from the URI or the Host header.
    fn try_from(req: &http::Request<Vec<u8>>) -> Result<Self> {
        let uri = req.uri();
        let headers = header_map_to_vec(req.headers())?;
        let target = uri
            .path_and_query()
            .map(|p| p.as_str().to_string())
            .unwrap_or_else(|| "/".into());
        let target = if req.method() == http::Method::CONNECT {
            uri.authority().map(|a| a.to_string()).unwrap_or(target)
        } else {
            target
        };
        let authority = uri.authority().map(|a| a.to_string()).or_else(|| {
            headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case("host"))
                .map(|(_, v)| v.clone())
        });
        let scheme = uri.scheme_str().unwrap_or("https").to_ascii_lowercase();
        Ok(HttpMessage {
            kind: MessageKind::Request(RequestLine {
                method: req.method().as_str().to_string(),
                target,
                scheme,
                authority,
            }),
            headers,
            body: req.body().clone(),
        })
    }
}

impl TryFrom<http::Request<Vec<u8>>> for HttpMessage {
    type Error = Error;
    fn try_from(req: http::Request<Vec<u8>>) -> Result<Self> {
        HttpMessage::try_from(&req)
    }
}

impl TryFrom<&http::Response<Vec<u8>>> for HttpMessage {
    type Error = Error;
    fn try_from(res: &http::Response<Vec<u8>>) -> Result<Self> {
        Ok(HttpMessage {
            kind: MessageKind::Response {
                status: res.status().as_u16(),
                reason: canonical_reason(res.status().as_u16()),
            },
            headers: header_map_to_vec(res.headers())?,
            body: res.body().clone(),
        })
    }
}

/// The reason phrase a response built by code gets ("OK" for 200; empty for codes without one).
fn canonical_reason(status: u16) -> String {
    http::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("")
        .to_string()
}

impl TryFrom<http::Response<Vec<u8>>> for HttpMessage {
    type Error = Error;
    fn try_from(res: http::Response<Vec<u8>>) -> Result<Self> {
        HttpMessage::try_from(&res)
    }
}

impl HttpMessage {
    /// Convert a request to `http::Request` (origin-form targets become `scheme://authority/target`).
    pub fn to_http_request(&self) -> Result<http::Request<Vec<u8>>> {
        let r = self
            .request_line()
            .ok_or_else(|| Error::InvalidMessage("not a request".into()))?;
        let uri: String = if split_absolute(&r.target).is_some() || r.target == "*" {
            r.target.clone()
        } else if let (Some(a), true) = (&r.authority, r.target.starts_with('/')) {
            format!("{}://{}{}", r.scheme, a, r.target)
        } else {
            r.target.clone()
        };
        let mut b = http::Request::builder().method(r.method.as_str()).uri(uri);
        if let Some(h) = b.headers_mut() {
            *h = vec_to_header_map(&self.headers)?;
        }
        b.body(self.body.clone())
            .map_err(|e| Error::InvalidMessage(format!("cannot build http::Request: {e}")))
    }

    /// Convert a response to `http::Response`.
    pub fn to_http_response(&self) -> Result<http::Response<Vec<u8>>> {
        let status = self
            .status()
            .ok_or_else(|| Error::InvalidMessage("not a response".into()))?;
        let mut b = http::Response::builder().status(status);
        if let Some(h) = b.headers_mut() {
            *h = vec_to_header_map(&self.headers)?;
        }
        b.body(self.body.clone())
            .map_err(|e| Error::InvalidMessage(format!("cannot build http::Response: {e}")))
    }
}
/// Field names compared as `str::eq_ignore_ascii_case` does (ASCII letters without case, every
/// other byte exactly), eight bytes at a time: the lengths first, which tell most lines apart.
pub(crate) fn name_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut ca = a.chunks_exact(8);
    let mut cb = b.chunks_exact(8);
    for (x, y) in (&mut ca).zip(&mut cb) {
        let word = |c: &[u8]| {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            u64::from_le_bytes(w)
        };
        if lower8(word(x)) != lower8(word(y)) {
            return false;
        }
    }
    ca.remainder()
        .iter()
        .zip(cb.remainder())
        .all(|(x, y)| x.eq_ignore_ascii_case(y))
}

/// Eight bytes with `A`-`Z` lowercased and every other byte (also non-ASCII) unchanged.
fn lower8(x: u64) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let low7 = x & !HIGH;
    // High bit of each byte: its low seven bits are >= 'A' (0x41), resp. > 'Z' (0x5a); no carry
    // crosses bytes (at most 0x7f + 0x3f).
    let ge_a = low7 + (0x80 - 0x41) * ONES;
    let gt_z = low7 + (0x80 - 0x5b) * ONES;
    // Upper-case: in 'A'..='Z' and ASCII (high bit clear).
    let upper = ge_a & !gt_z & !x & HIGH;
    x | (upper >> 2)
}

#[cfg(test)]
mod tests {
    use super::name_eq;

    proptest::proptest! {
        /// `name_eq` is `str::eq_ignore_ascii_case`, on names of any length and byte.
        #[test]
        fn name_eq_is_eq_ignore_ascii_case(
            a in proptest::collection::vec(proptest::sample::select(
                b"aAzZ@[`{-_09\x7f~".to_vec()), 0..20),
            flip in proptest::collection::vec(proptest::prelude::any::<bool>(), 20),
            other in "\\PC{0,20}",
        ) {
            let a = String::from_utf8(a).unwrap_or_default();
            // The same name with some letters' case changed, and an unrelated text.
            let b: String = a
                .chars()
                .zip(&flip)
                .map(|(c, f)| if *f { c.to_ascii_uppercase() } else { c })
                .collect();
            proptest::prop_assert_eq!(name_eq(&a, &b), a.eq_ignore_ascii_case(&b));
            proptest::prop_assert_eq!(name_eq(&a, &other), a.eq_ignore_ascii_case(&other));
            proptest::prop_assert_eq!(name_eq(&other, &b), other.eq_ignore_ascii_case(&b));
        }
    }

    #[test]
    fn name_eq_examples() {
        assert!(name_eq("Content-Digest", "content-digest"));
        assert!(name_eq("CONTENT-LENGTH", "content-length"));
        assert!(!name_eq("content-length", "content-digest"));
        // '@' / '`' and '[' / '{' differ by the case bit but are not letters.
        assert!(!name_eq("x-@@@@@@@@", "x-````````"));
        assert!(!name_eq("[[[[[[[[[", "{{{{{{{{{"));
        assert!(name_eq("é-Header-Ü", "é-header-Ü"));
        assert!(!name_eq("é-header-ü", "É-header-ü"));
    }
}

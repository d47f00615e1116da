//! A closed-loop load generator: one task per virtual client, each owning one keep-alive
//! HTTP/1.1 connection and sending one request after another.
//!
//! The client is deliberately lean so that it is not the bottleneck of the measurement: a tokio
//! [`TcpStream`] with `TCP_NODELAY`, request bytes built once by the caller, and a response parser
//! that reads only the status line, `Content-Length` and the body. It is hand-written (about 100
//! lines) because a general client (reqwest/hyper) costs as much per request as the server under
//! test; it rejects what it does not support (chunked or other transfer codings, 1xx, a missing
//! or conflicting `Content-Length`, oversized heads) with a [`LoadgenError`] rather than guessing.
//! Wire format: RFC 9112 §4 (status line), §6.3 (message body length).

use std::future::Future;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Largest response head (status line + headers) accepted.
pub const MAX_HEAD: usize = 16 * 1024;
/// Largest response body accepted.
pub const MAX_BODY: usize = 16 * 1024 * 1024;

/// The crate's one error enum: what went wrong talking to the server under load.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoadgenError {
    #[error("{context}: {source}")]
    Io {
        context: &'static str,
        #[source]
        source: std::io::Error,
    },
    /// The server closed the connection before a whole response arrived.
    #[error("connection closed by the server after {got} bytes of a response")]
    Closed { got: usize },
    /// The response is not HTTP/1.x as RFC 9112 defines it.
    #[error("malformed response: {0}")]
    Malformed(String),
    /// Valid HTTP this client does not implement (it says which).
    #[error("unsupported response: {0}")]
    Unsupported(String),
}

/// A parsed response head.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Head {
    pub status: u16,
    /// Bytes of the body that follow the head.
    pub content_length: usize,
    /// Bytes of the head, including the final empty line.
    pub head_len: usize,
    /// The server sent `Connection: close`.
    pub close: bool,
}

fn malformed(s: impl Into<String>) -> LoadgenError {
    LoadgenError::Malformed(s.into())
}

/// Parse a response head at the start of `buf`. `Ok(None)`: incomplete, read more.
pub fn parse_head(buf: &[u8]) -> Result<Option<Head>, LoadgenError> {
    let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
        if buf.len() > MAX_HEAD {
            return Err(LoadgenError::Unsupported(format!(
                "response head longer than {MAX_HEAD} bytes"
            )));
        }
        return Ok(None);
    };
    let head_len = end + 4;
    if head_len > MAX_HEAD {
        return Err(LoadgenError::Unsupported(format!(
            "response head longer than {MAX_HEAD} bytes"
        )));
    }
    let text = std::str::from_utf8(&buf[..end]).map_err(|_| malformed("head is not UTF-8"))?;
    let mut lines = text.split("\r\n");
    let status_line = lines.next().unwrap_or("");
    // RFC 9112 §4: status-line = HTTP-version SP status-code SP [ reason-phrase ]
    let rest = status_line
        .strip_prefix("HTTP/1.1 ")
        .or_else(|| status_line.strip_prefix("HTTP/1.0 "))
        .ok_or_else(|| malformed(format!("status line {status_line:?} is not HTTP/1.x")))?;
    let code = rest.get(..3).unwrap_or("");
    if code.len() != 3
        || !code.bytes().all(|b| b.is_ascii_digit())
        || rest.len() > 3 && !rest[3..].starts_with(' ')
    {
        return Err(malformed(format!("status code in {status_line:?}")));
    }
    let status: u16 = code.parse().map_err(|_| malformed("status code"))?;
    if status < 200 {
        return Err(LoadgenError::Unsupported(format!(
            "interim response {status}"
        )));
    }
    let mut content_length: Option<usize> = None;
    let mut close = status_line.starts_with("HTTP/1.0");
    for line in lines {
        // RFC 9112 §5: field-line = field-name ":" OWS field-value OWS
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| malformed(format!("header line {line:?} has no ':'")))?;
        if name.is_empty() || name.ends_with(' ') || name.ends_with('\t') {
            return Err(malformed(format!("header name {name:?}")));
        }
        let value = value.trim_matches([' ', '\t']);
        if name.eq_ignore_ascii_case("content-length") {
            // RFC 9112 §6.3 item 5: several differing values are an unrecoverable error.
            let n: usize = value
                .parse()
                .map_err(|_| malformed(format!("Content-Length {value:?}")))?;
            if content_length.is_some_and(|c| c != n) {
                return Err(malformed("conflicting Content-Length values"));
            }
            content_length = Some(n);
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            return Err(LoadgenError::Unsupported(format!(
                "Transfer-Encoding {value:?} (only Content-Length bodies)"
            )));
        } else if name.eq_ignore_ascii_case("connection") {
            close |= value
                .split(',')
                .any(|t| t.trim().eq_ignore_ascii_case("close"));
        }
    }
    // RFC 9112 §6.3 item 1: 204 and 304 have no body whatever the headers say.
    let content_length = if status == 204 || status == 304 {
        0
    } else {
        content_length.ok_or_else(|| {
            LoadgenError::Unsupported("a response without Content-Length (read to close)".into())
        })?
    };
    if content_length > MAX_BODY {
        return Err(LoadgenError::Unsupported(format!(
            "body of {content_length} bytes (max {MAX_BODY})"
        )));
    }
    Ok(Some(Head {
        status,
        content_length,
        head_len,
        close,
    }))
}

/// One keep-alive HTTP/1.1 connection.
pub struct HttpConn {
    addr: SocketAddr,
    stream: Option<TcpStream>,
    buf: Vec<u8>,
    /// Bytes at the start of `buf` belonging to the previous response.
    consumed: usize,
}

impl HttpConn {
    /// Connect to `addr` with `TCP_NODELAY`.
    pub async fn connect(addr: SocketAddr) -> Result<HttpConn, LoadgenError> {
        let mut c = HttpConn {
            addr,
            stream: None,
            buf: Vec::with_capacity(4096),
            consumed: 0,
        };
        c.reconnect().await?;
        Ok(c)
    }

    async fn reconnect(&mut self) -> Result<(), LoadgenError> {
        let s = TcpStream::connect(self.addr)
            .await
            .map_err(|source| LoadgenError::Io {
                context: "connect",
                source,
            })?;
        s.set_nodelay(true).map_err(|source| LoadgenError::Io {
            context: "TCP_NODELAY",
            source,
        })?;
        self.stream = Some(s);
        self.buf.clear();
        self.consumed = 0;
        Ok(())
    }

    /// Send `req` (complete request bytes) and read one response: its status and body. The
    /// body borrows the connection's buffer until the next request.
    pub async fn request(&mut self, req: &[u8]) -> Result<(u16, &[u8]), LoadgenError> {
        self.buf.drain(..self.consumed);
        self.consumed = 0;
        if self.stream.is_none() {
            self.reconnect().await?;
        }
        let Some(s) = self.stream.as_mut() else {
            return Err(LoadgenError::Closed { got: 0 });
        };
        if let Err(source) = s.write_all(req).await {
            self.stream = None;
            return Err(LoadgenError::Io {
                context: "write",
                source,
            });
        }
        let head = loop {
            if let Some(h) = parse_head(&self.buf)? {
                break h;
            }
            self.fill().await?;
        };
        let total = head.head_len + head.content_length;
        while self.buf.len() < total {
            self.fill().await?;
        }
        self.consumed = total;
        if head.close {
            self.stream = None;
        }
        Ok((head.status, &self.buf[head.head_len..total]))
    }

    async fn fill(&mut self) -> Result<(), LoadgenError> {
        let Some(s) = self.stream.as_mut() else {
            return Err(LoadgenError::Closed {
                got: self.buf.len(),
            });
        };
        let old = self.buf.len();
        self.buf
            .resize(old.max(self.buf.capacity()).max(old + 4096), 0);
        let r = s.read(&mut self.buf[old..]).await;
        match r {
            Ok(0) => {
                self.buf.truncate(old);
                self.stream = None;
                Err(LoadgenError::Closed { got: old })
            }
            Ok(n) => {
                self.buf.truncate(old + n);
                Ok(())
            }
            Err(source) => {
                self.buf.truncate(old);
                self.stream = None;
                Err(LoadgenError::Io {
                    context: "read",
                    source,
                })
            }
        }
    }
}

/// Connect `n` clients to `addr`.
pub async fn connect_all(addr: SocketAddr, n: usize) -> Result<Vec<HttpConn>, LoadgenError> {
    let mut v = Vec::with_capacity(n);
    for _ in 0..n {
        v.push(HttpConn::connect(addr).await?);
    }
    Ok(v)
}

/// Build request bytes: `method path`, `Host: bench`, the extra headers, and a body with its
/// `Content-Length` (none for an empty body on GET/DELETE).
pub fn build_request(method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    let mut r = format!("{method} {path} HTTP/1.1\r\nhost: bench\r\n");
    for (n, v) in headers {
        r.push_str(&format!("{n}: {v}\r\n"));
    }
    if !body.is_empty() || method == "PUT" || method == "POST" {
        r.push_str(&format!("content-length: {}\r\n", body.len()));
    }
    r.push_str("\r\n");
    let mut b = r.into_bytes();
    b.extend_from_slice(body);
    b
}

/// Result of one measured phase.
#[derive(Clone, Debug, Default)]
pub struct Stats {
    pub ops: usize,
    pub errors: usize,
    pub elapsed: Duration,
    pub p50_us: u64,
    pub p99_us: u64,
    /// CPU time this process used during the phase (every thread; [`cpu_ns`]), in ns: with the
    /// server under test in the same process, CPU per operation does not depend on how busy a
    /// shared machine is.
    pub cpu_ns: u64,
}

impl Stats {
    pub fn ops_per_sec(&self) -> f64 {
        if self.elapsed.is_zero() {
            0.0
        } else {
            self.ops as f64 / self.elapsed.as_secs_f64()
        }
    }

    /// Merge per-client latency samples (µs) into stats.
    pub fn from_samples(mut lat: Vec<u64>, errors: usize, elapsed: Duration) -> Stats {
        lat.sort_unstable();
        let pct = |p: f64| -> u64 {
            if lat.is_empty() {
                0
            } else {
                lat[((lat.len() - 1) as f64 * p).round() as usize]
            }
        };
        Stats {
            ops: lat.len(),
            errors,
            elapsed,
            p50_us: pct(0.50),
            p99_us: pct(0.99),
            cpu_ns: 0,
        }
    }

    /// CPU µs per successful operation (0 without operations).
    pub fn cpu_us_per_op(&self) -> f64 {
        if self.ops == 0 {
            0.0
        } else {
            self.cpu_ns as f64 / 1e3 / self.ops as f64
        }
    }
}

/// CPU time used by this process so far, in nanoseconds: the sum over its threads of
/// `/proc/self/task/*/schedstat` (time on a CPU; 0 where that is not available).
pub fn cpu_ns() -> u64 {
    let Ok(dir) = std::fs::read_dir("/proc/self/task") else {
        return 0;
    };
    dir.filter_map(|t| {
        let t = t.ok()?;
        std::fs::read_to_string(t.path().join("schedstat"))
            .ok()?
            .split_whitespace()
            .next()?
            .parse::<u64>()
            .ok()
    })
    .sum()
}

/// Run one task per element of `clients` (its state: a connection and whatever else it needs),
/// each calling `op(state, iteration)` in a loop until `duration` has passed or `op` returns
/// `None` (this client is done). `Some(true)` is a success (its latency is sampled),
/// `Some(false)` an error. The states are handed back for the next phase.
pub async fn run<S, F, Fut>(clients: Vec<S>, duration: Duration, op: F) -> (Stats, Vec<S>)
where
    S: Send + 'static,
    F: Fn(S, usize) -> Fut + Send + Sync + Clone + 'static,
    Fut: Future<Output = (S, Option<bool>)> + Send,
{
    let cpu0 = cpu_ns();
    let start = Instant::now();
    let end = start + duration;
    let mut tasks = Vec::with_capacity(clients.len());
    for state in clients {
        let op = op.clone();
        tasks.push(tokio::spawn(async move {
            let mut state = state;
            let mut lat = Vec::with_capacity(16 * 1024);
            let mut errors = 0;
            let mut i = 0;
            while Instant::now() < end {
                let t0 = Instant::now();
                let (s, r) = op(state, i).await;
                state = s;
                match r {
                    Some(true) => lat.push(t0.elapsed().as_micros() as u64),
                    Some(false) => errors += 1,
                    None => break,
                }
                i += 1;
            }
            (state, lat, errors)
        }));
    }
    let mut all = Vec::new();
    let mut errors = 0;
    let mut states = Vec::with_capacity(tasks.len());
    for t in tasks {
        if let Ok((s, l, e)) = t.await {
            all.extend(l);
            errors += e;
            states.push(s);
        }
    }
    let mut stats = Stats::from_samples(all, errors, start.elapsed());
    stats.cpu_ns = cpu_ns().saturating_sub(cpu0);
    (stats, states)
}

/// Resident set size of this process in bytes (Linux `/proc/self/statm`), if readable.
pub fn rss_bytes() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = s.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles() {
        let s = Stats::from_samples((1..=100).collect(), 0, Duration::from_secs(1));
        assert_eq!((s.p50_us, s.p99_us, s.ops), (51, 99, 100));
        assert_eq!(s.ops_per_sec(), 100.0);
        let e = Stats::from_samples(vec![], 3, Duration::ZERO);
        assert_eq!((e.p50_us, e.ops_per_sec()), (0, 0.0));
    }

    #[test]
    fn parses_status_length_and_close() {
        let r = b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\nContent-Length: 2\r\n\r\nokNEXT";
        let h = parse_head(r).unwrap().unwrap();
        assert_eq!(
            h,
            Head {
                status: 200,
                content_length: 2,
                head_len: r.len() - 6,
                close: false
            }
        );
        let h = parse_head(b"HTTP/1.1 204 No Content\r\ndate: x\r\n\r\n")
            .unwrap()
            .unwrap();
        assert_eq!((h.status, h.content_length), (204, 0));
        let h = parse_head(b"HTTP/1.1 403 Forbidden\r\nconnection: keep-alive, Close\r\ncontent-length:  0 \r\n\r\n")
            .unwrap()
            .unwrap();
        assert_eq!((h.status, h.content_length, h.close), (403, 0, true));
        // HTTP/1.0 closes by default; a status line without reason phrase is valid
        let h = parse_head(b"HTTP/1.0 500\r\ncontent-length: 0\r\n\r\n")
            .unwrap()
            .unwrap();
        assert!(h.close);
        // duplicate equal lengths are fine
        assert!(
            parse_head(b"HTTP/1.1 200 OK\r\ncontent-length: 1\r\ncontent-length: 1\r\n\r\n")
                .unwrap()
                .is_some()
        );
    }

    #[test]
    fn incomplete_heads_ask_for_more() {
        let full = b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n";
        for n in 0..full.len() {
            assert_eq!(parse_head(&full[..n]).unwrap(), None, "prefix of {n} bytes");
        }
        assert!(parse_head(full).unwrap().is_some());
    }

    #[test]
    fn rejects_what_it_does_not_support() {
        let unsupported: &[&[u8]] = &[
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n",
            b"HTTP/1.1 200 OK\r\ncontent-type: x\r\n\r\n",
            b"HTTP/1.1 100 Continue\r\n\r\n",
            b"HTTP/1.1 200 OK\r\ncontent-length: 99999999999\r\n\r\n",
        ];
        for r in unsupported {
            let e = parse_head(r).unwrap_err();
            assert!(matches!(e, LoadgenError::Unsupported(_)), "{e}");
        }
        let malformed: &[&[u8]] = &[
            b"HTTP/2 200 OK\r\ncontent-length: 0\r\n\r\n",
            b"HTTP/1.1 2000 OK\r\ncontent-length: 0\r\n\r\n",
            b"HTTP/1.1 abc OK\r\ncontent-length: 0\r\n\r\n",
            b"HTTP/1.1 200 OK\r\ncontent-length: -1\r\n\r\n",
            b"HTTP/1.1 200 OK\r\ncontent-length: 1\r\ncontent-length: 2\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nbad name : 1\r\n\r\n",
            b"HTTP/1.1 200 \xff\r\ncontent-length: 0\r\n\r\n",
        ];
        for r in malformed {
            let e = parse_head(r).unwrap_err();
            assert!(matches!(e, LoadgenError::Malformed(_)), "{e}");
        }
        let mut huge = b"HTTP/1.1 200 OK\r\n".to_vec();
        huge.resize(MAX_HEAD + 10, b'a');
        assert!(matches!(
            parse_head(&huge),
            Err(LoadgenError::Unsupported(_))
        ));
    }

    #[test]
    fn builds_requests() {
        let r = build_request("PUT", "/q", &[("x-a", "1")], b"hi");
        assert_eq!(
            r,
            b"PUT /q HTTP/1.1\r\nhost: bench\r\nx-a: 1\r\ncontent-length: 2\r\n\r\nhi"
        );
        let r = build_request("GET", "/", &[], b"");
        assert_eq!(r, b"GET / HTTP/1.1\r\nhost: bench\r\n\r\n");
    }

    async fn read_req(s: &mut TcpStream) {
        let mut b = [0u8; 1024];
        let mut got = Vec::new();
        while !got.ends_with(b"\r\n\r\n") {
            let n = s.read(&mut b).await.unwrap();
            assert!(n > 0);
            got.extend_from_slice(&b[..n]);
        }
    }

    /// Over a real loopback socket: two keep-alive responses on one connection, the first one
    /// delivered in pieces, then the server closes mid-response.
    #[tokio::test]
    async fn keep_alive_over_loopback() {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        let srv = tokio::spawn(async move {
            let (mut s, _) = l.accept().await.unwrap();
            read_req(&mut s).await;
            s.write_all(b"HTTP/1.1 200 OK\r\ncontent-le").await.unwrap();
            s.flush().await.unwrap();
            tokio::task::yield_now().await;
            s.write_all(b"ngth: 5\r\n\r\nhel").await.unwrap();
            s.write_all(b"lo").await.unwrap();
            read_req(&mut s).await;
            s.write_all(b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n")
                .await
                .unwrap();
            read_req(&mut s).await;
            s.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 9\r\n\r\nabc")
                .await
                .unwrap();
        });
        let req = build_request("GET", "/", &[], b"");
        let mut c = HttpConn::connect(addr).await.unwrap();
        let bound = Duration::from_secs(10);
        let (st, body) = tokio::time::timeout(bound, c.request(&req))
            .await
            .unwrap()
            .unwrap();
        assert_eq!((st, body), (200, &b"hello"[..]));
        let (st, body) = tokio::time::timeout(bound, c.request(&req))
            .await
            .unwrap()
            .unwrap();
        assert_eq!((st, body.len()), (404, 0));
        let e = tokio::time::timeout(bound, c.request(&req))
            .await
            .unwrap()
            .unwrap_err();
        assert!(matches!(e, LoadgenError::Closed { .. }), "{e}");
        srv.await.unwrap();
    }
}

//! Sending requests over real loopback HTTP (reqwest): one message as it is
//! ([`send_message`]), or the request script signed by an in-process signer ([`send_script`]:
//! our [`SigningProfile`], or a deliberately faulty one in tests).

use std::time::Duration;

use http_sig::{HttpMessage, SigningProfile};

use super::script::Script;
use crate::{Error, Result};

/// Why an in-process signer refused to sign: the implementation's own error (never a
/// [`crate::Error`], which is the harness's).
pub type SignError = Box<dyn std::error::Error + Send + Sync>;

/// Something that signs a request before it is sent (what a gateway does).
pub trait RequestSigner: Send + Sync {
    /// Sign `msg` in place at `now` (UNIX seconds).
    fn sign_request(&self, msg: &mut HttpMessage, now: u64) -> std::result::Result<(), SignError>;
}

impl RequestSigner for SigningProfile {
    fn sign_request(&self, msg: &mut HttpMessage, now: u64) -> std::result::Result<(), SignError> {
        self.sign(msg, now).map(|_| ()).map_err(Into::into)
    }
}

impl RequestSigner for http_sig::web_bot_auth::WebBotAuthSigner {
    fn sign_request(&self, msg: &mut HttpMessage, now: u64) -> std::result::Result<(), SignError> {
        self.sign(msg, now).map(|_| ()).map_err(Into::into)
    }
}

fn http(msg: String) -> Error {
    Error::setup(format!("HTTP: {msg}"))
}

/// A reqwest client for loopback use: no proxies (an environment proxy must never see our
/// traffic), bounded timeouts.
pub fn loopback_client() -> Result<reqwest::Client> {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(10))
        .build()
        .map_err(|e| http(format!("cannot build the HTTP client: {e}")))
}

/// Why a request got no status: a short stable kind (`timeout`, `connect`, `transport`,
/// `request`) and the detail.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SendError {
    pub kind: &'static str,
    pub detail: String,
}

impl std::fmt::Display for SendError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.detail)
    }
}

/// Send `msg` (a request whose authority is the loopback server) as it is: method, target,
/// header lines in order, body. Returns the status code, or why there is none (classified).
pub async fn send_message_classified(
    client: &reqwest::Client,
    base_url: &str,
    msg: &HttpMessage,
) -> std::result::Result<u16, SendError> {
    let bad = |detail: String| SendError {
        kind: "request",
        detail: format!("HTTP: {detail}"),
    };
    let rl = msg
        .request_line()
        .ok_or_else(|| bad("not a request".into()))?;
    let method = reqwest::Method::from_bytes(rl.method.as_bytes())
        .map_err(|_| bad(format!("invalid method {:?}", rl.method)))?;
    let url = format!("{base_url}{}", rl.target);
    let mut headers = http::HeaderMap::new();
    for (n, v) in &msg.headers {
        let name = http::HeaderName::from_bytes(n.as_bytes())
            .map_err(|_| bad(format!("invalid header name {n:?}")))?;
        let value = http::HeaderValue::from_bytes(v.as_bytes())
            .map_err(|_| bad(format!("invalid value for header {n}")))?;
        headers.append(name, value);
    }
    let res = client
        .request(method, &url)
        .headers(headers)
        .body(msg.body.clone())
        .send()
        .await
        .map_err(|e| SendError {
            kind: if e.is_timeout() {
                "timeout"
            } else if e.is_connect() {
                "connect"
            } else {
                "transport"
            },
            detail: format!("HTTP: {} {url}: {e}", rl.method),
        })?;
    Ok(res.status().as_u16())
}

/// [`send_message_classified`] with the harness's error type.
pub async fn send_message(
    client: &reqwest::Client,
    base_url: &str,
    msg: &HttpMessage,
) -> Result<u16> {
    send_message_classified(client, base_url, msg)
        .await
        .map_err(|e| Error::setup(e.detail))
}

/// How far [`send_script`] got.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sent {
    /// Requests sent (signed and delivered).
    pub sent: usize,
    /// Why sending stopped before the end of the script, if it did: the signer refused a request,
    /// or a signed request could not be sent (both are the signer's doing, not the harness's).
    pub stopped: Option<String>,
}

/// Sign each scripted request with `signer` at `clock()` and send it to `base_url`
/// (`http://127.0.0.1:port`), stopping at the first request the signer refuses or that cannot
/// be sent. `Err` only when the harness cannot send at all (not an `http://` URL, no client).
pub async fn send_script(
    script: &Script,
    signer: &dyn RequestSigner,
    base_url: &str,
    clock: fn() -> u64,
) -> Result<Sent> {
    let authority = base_url
        .strip_prefix("http://")
        .ok_or_else(|| http(format!("{base_url}: only http:// loopback URLs")))?;
    let client = loopback_client()?;
    let mut sent = 0;
    for r in &script.requests {
        let mut msg = r.to_message("http", authority);
        if let Err(e) = signer.sign_request(&mut msg, clock()) {
            return Ok(Sent {
                sent,
                stopped: Some(format!("the signer failed: request {:?}: {e}", r.name)),
            });
        }
        if let Err(e) = send_message(&client, base_url, &msg).await {
            return Ok(Sent {
                sent,
                stopped: Some(e.to_string()),
            });
        }
        sent += 1;
    }
    Ok(Sent {
        sent,
        stopped: None,
    })
}

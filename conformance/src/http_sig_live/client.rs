//! Sending the scripted requests through an in-process signer (our [`SigningProfile`], or a
//! deliberately faulty one in tests) to an upstream over real loopback HTTP (reqwest).

use std::time::Duration;

use http_sig::{HttpMessage, SigningProfile};

use super::LiveError;
use super::script::Script;

/// Something that signs a request before it is sent (what a gateway does).
pub trait RequestSigner: Send + Sync {
    /// Sign `msg` in place at `now` (UNIX seconds).
    fn sign_request(&self, msg: &mut HttpMessage, now: u64) -> Result<(), String>;
}

impl RequestSigner for SigningProfile {
    fn sign_request(&self, msg: &mut HttpMessage, now: u64) -> Result<(), String> {
        self.sign(msg, now).map(|_| ()).map_err(|e| e.to_string())
    }
}

/// A reqwest client for loopback use: no proxies (an environment proxy must never see our
/// traffic), bounded timeouts.
pub fn loopback_client() -> Result<reqwest::Client, LiveError> {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(10))
        .build()
        .map_err(|e| LiveError::Http(format!("cannot build the HTTP client: {e}")))
}

/// Send `msg` (a request whose authority is the loopback server) as it is: method, target,
/// header lines in order, body. Returns the status code.
pub async fn send_message(
    client: &reqwest::Client,
    base_url: &str,
    msg: &HttpMessage,
) -> Result<u16, LiveError> {
    let rl = msg
        .request_line()
        .ok_or_else(|| LiveError::Http("not a request".into()))?;
    let method = reqwest::Method::from_bytes(rl.method.as_bytes())
        .map_err(|_| LiveError::Http(format!("invalid method {:?}", rl.method)))?;
    let url = format!("{base_url}{}", rl.target);
    let mut headers = http::HeaderMap::new();
    for (n, v) in &msg.headers {
        let name = http::HeaderName::from_bytes(n.as_bytes())
            .map_err(|_| LiveError::Http(format!("invalid header name {n:?}")))?;
        let value = http::HeaderValue::from_bytes(v.as_bytes())
            .map_err(|_| LiveError::Http(format!("invalid value for header {n}")))?;
        headers.append(name, value);
    }
    let res = client
        .request(method, &url)
        .headers(headers)
        .body(msg.body.clone())
        .send()
        .await
        .map_err(|e| LiveError::Http(format!("{} {url}: {e}", rl.method)))?;
    Ok(res.status().as_u16())
}

/// Sign each scripted request with `signer` at `clock()` and send it to `base_url`
/// (`http://127.0.0.1:port`). Returns how many were sent; a request the signer refuses is
/// reported as an error naming it.
pub async fn send_script(
    script: &Script,
    signer: &dyn RequestSigner,
    base_url: &str,
    clock: fn() -> u64,
) -> Result<usize, LiveError> {
    let authority = base_url
        .strip_prefix("http://")
        .ok_or_else(|| LiveError::Http(format!("{base_url}: only http:// loopback URLs")))?;
    let client = loopback_client()?;
    let mut sent = 0;
    for r in &script.requests {
        let mut msg = r.to_message("http", authority);
        signer
            .sign_request(&mut msg, clock())
            .map_err(|e| LiveError::Signer(format!("request {:?}: {e}", r.name)))?;
        send_message(&client, base_url, &msg).await?;
        sent += 1;
    }
    Ok(sent)
}

//! Fetching Web Bot Auth key directories for `sigharness http-sig verify --profile web-bot-auth
//! --directory URL` (issue 15; docs/web-bot-auth.md §3), with a small per-process cache.
//!
//! **Loopback only, on purpose.** The draft says verifiers SHOULD *prevent* fetches to loopback
//! (§"SSRF"); this is a test rig whose targets run on 127.0.0.1 / ::1, and the house rule is that
//! it never talks to any other address. So a URL whose host is not a loopback IP literal is
//! refused before any connection, and only `http` is fetched (this build has no TLS client for
//! reqwest). A production verifier must not copy either choice.
//!
//! Bounds (§"SSRF"): [`FETCH_TIMEOUT`] wall clock for the whole fetch, at most
//! `web_bot_auth::MAX_DIRECTORY_BYTES` of body (refused beyond, without reading more),
//! `MAX_DIRECTORY_KEYS` keys, no redirects ("MUST NOT automatically follow HTTP redirects"),
//! only `200 (OK)` ("MUST treat all other HTTP status codes as discovery failures").
//!
//! Cache (§"Cache Behaviour": "use normal HTTP caching semantics", "should not fetch the
//! directory for every request"; §"Negative Caching": "should expire after no more than five
//! minutes"): keyed by URL; a 200 is fresh for `Cache-Control: max-age` (capped at
//! [`MAX_FRESHNESS`]), not stored with `no-store` / `no-cache`, and fresh for
//! [`HEURISTIC_FRESHNESS`] without a max-age (RFC 9111 §4.2.2 heuristic freshness); a failure is
//! remembered for [`NEGATIVE_TTL`]. Time is passed in (`now`), so the rule is testable without
//! waiting.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Duration;

use http_sig::web_bot_auth::{self, KeyDirectory};
use http_sig::{HttpMessage, excerpt};

/// Whole-fetch wall-clock bound.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
/// Freshness without `max-age`, seconds.
pub const HEURISTIC_FRESHNESS: u64 = 300;
/// Longest freshness honoured, seconds (a week).
pub const MAX_FRESHNESS: u64 = 7 * 86_400;
/// How long a failed fetch is remembered, seconds (the draft: at most five minutes).
pub const NEGATIVE_TTL: u64 = 60;
/// Most URLs the cache holds; beyond it the stalest entry is dropped.
pub const MAX_CACHE_ENTRIES: usize = 64;

/// A fetched directory and what was learned about its response.
#[derive(Debug, Clone)]
pub struct Fetched {
    /// The keys.
    pub directory: KeyDirectory,
    /// The Content-Type as served, when it was not the draft's media type.
    pub wrong_content_type: Option<String>,
    /// Directory response signatures: the thumbprints proven, or why the proof is invalid.
    pub proof: Result<Vec<String>, String>,
    /// Seconds the response is fresh for.
    pub fresh_for: u64,
}

/// Refuse anything but `http://<loopback IP literal>[:port]/...`.
pub fn check_loopback_url(url: &str) -> Result<reqwest::Url, String> {
    let u = reqwest::Url::parse(url)
        .map_err(|e| format!("directory URL {}: {e}", excerpt(url, 120)))?;
    let literal = u
        .host_str()
        .unwrap_or("")
        .trim_start_matches('[')
        .trim_end_matches(']');
    let host: IpAddr = literal.parse().map_err(|_| {
        format!(
            "directory URL {}: only loopback IP addresses (127.0.0.1, ::1) may be fetched by this test harness; host names are not resolved",
            excerpt(url, 120)
        )
    })?;
    if !host.is_loopback() {
        return Err(format!(
            "directory URL {}: {host} is not a loopback address; this test harness fetches only 127.0.0.0/8 and ::1",
            excerpt(url, 120)
        ));
    }
    if u.scheme() != "http" {
        return Err(format!(
            "directory URL {}: scheme {} is not fetched; this build fetches http on loopback only (the draft requires https in production)",
            excerpt(url, 120),
            u.scheme()
        ));
    }
    Ok(u)
}

/// Seconds a response with this Cache-Control is fresh for.
pub fn freshness(cache_control: Option<&str>) -> u64 {
    let Some(cc) = cache_control else {
        return HEURISTIC_FRESHNESS;
    };
    let mut max_age = None;
    for d in cc.split(',') {
        let d = d.trim().to_ascii_lowercase();
        if d == "no-store" || d == "no-cache" || d.starts_with("no-cache=") {
            return 0;
        }
        if let Some(v) = d.strip_prefix("max-age=") {
            max_age = v.trim_matches('"').parse::<u64>().ok().or(Some(0));
        }
    }
    max_age.map_or(HEURISTIC_FRESHNESS, |m| m.min(MAX_FRESHNESS))
}

enum Entry {
    Ok { fetched: Fetched, until: u64 },
    Failed { error: String, until: u64 },
}

impl Entry {
    fn until(&self) -> u64 {
        match self {
            Entry::Ok { until, .. } | Entry::Failed { until, .. } => *until,
        }
    }
}

/// Directories by URL, for one process.
#[derive(Default)]
pub struct DirectoryCache {
    entries: HashMap<String, Entry>,
    fetches: u64,
}

impl DirectoryCache {
    /// An empty cache.
    pub fn new() -> Self {
        Self::default()
    }

    /// Network fetches made so far.
    pub fn fetches(&self) -> u64 {
        self.fetches
    }

    /// The directory at `url` at time `now`: from the cache while fresh, else fetched.
    pub async fn get(
        &mut self,
        client: &reqwest::Client,
        url: &str,
        now: u64,
    ) -> Result<Fetched, String> {
        let u = check_loopback_url(url)?;
        let key = u.as_str().to_string();
        if let Some(e) = self.entries.get(&key)
            && now < e.until()
        {
            return match e {
                Entry::Ok { fetched, .. } => Ok(fetched.clone()),
                Entry::Failed { error, .. } => Err(format!("{error} (cached failure)")),
            };
        }
        self.fetches += 1;
        let r = fetch(client, &u, now).await;
        if self.entries.len() >= MAX_CACHE_ENTRIES
            && !self.entries.contains_key(&key)
            && let Some(stalest) = self
                .entries
                .iter()
                .min_by_key(|(_, e)| e.until())
                .map(|(k, _)| k.clone())
        {
            self.entries.remove(&stalest);
        }
        match &r {
            Ok(f) if f.fresh_for > 0 => {
                self.entries.insert(
                    key,
                    Entry::Ok {
                        fetched: f.clone(),
                        until: now.saturating_add(f.fresh_for),
                    },
                );
            }
            Ok(_) => {
                self.entries.remove(&key);
            }
            Err(e) => {
                self.entries.insert(
                    key,
                    Entry::Failed {
                        error: e.clone(),
                        until: now.saturating_add(NEGATIVE_TTL),
                    },
                );
            }
        }
        r
    }
}

/// A client for directory fetches: no redirects, bounded time.
pub fn client() -> Result<reqwest::Client, String> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(FETCH_TIMEOUT)
        .connect_timeout(FETCH_TIMEOUT)
        .build()
        .map_err(|e| format!("cannot build an HTTP client: {e}"))
}

async fn fetch(client: &reqwest::Client, u: &reqwest::Url, now: u64) -> Result<Fetched, String> {
    let shown = excerpt(u.as_str(), 120);
    let work = async {
        let mut resp = client
            .get(u.clone())
            .header("Accept", web_bot_auth::MEDIA_TYPE)
            .send()
            .await
            .map_err(|e| format!("cannot fetch {shown}: {e}"))?;
        if resp.status() != reqwest::StatusCode::OK {
            return Err(format!(
                "{shown} answered {} (a directory must be served with 200; redirects are not followed)",
                resp.status().as_u16()
            ));
        }
        let headers = resp.headers().clone();
        let mut body = Vec::new();
        while let Some(chunk) = resp
            .chunk()
            .await
            .map_err(|e| format!("reading {shown}: {e}"))?
        {
            if body.len() + chunk.len() > web_bot_auth::MAX_DIRECTORY_BYTES {
                return Err(format!(
                    "{shown}: the directory is larger than {} bytes (refused)",
                    web_bot_auth::MAX_DIRECTORY_BYTES
                ));
            }
            body.extend_from_slice(&chunk);
        }
        Ok((headers, body))
    };
    let (headers, body) = tokio::time::timeout(FETCH_TIMEOUT, work)
        .await
        .map_err(|_| format!("{shown}: no complete answer within {FETCH_TIMEOUT:?}"))??;
    let directory =
        KeyDirectory::parse(&body).map_err(|e| format!("{shown}: [{}] {e}", e.kind()))?;
    let content_type = headers
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let wrong_content_type = match &content_type {
        Some(ct) if ct.split(';').next().map(str::trim) == Some(web_bot_auth::MEDIA_TYPE) => None,
        other => Some(other.clone().unwrap_or_else(|| "(none)".into())),
    };
    let fresh_for = freshness(
        headers
            .get(reqwest::header::CACHE_CONTROL)
            .and_then(|v| v.to_str().ok()),
    );
    // The directory response signatures are bound to the fetching request's authority.
    let authority = match (u.host_str(), u.port()) {
        (Some(h), Some(p)) => format!("{h}:{p}"),
        (Some(h), None) => h.to_string(),
        _ => String::new(),
    };
    let request = HttpMessage::request("GET", u.path(), u.scheme(), Some(&authority));
    let mut response = HttpMessage::response(200);
    for (name, value) in &headers {
        if let Ok(v) = value.to_str() {
            response.append_header(name.as_str(), v);
        }
    }
    response.body = body;
    let proof = web_bot_auth::verify_directory_response(&response, &request, &directory, now)
        .map_err(|e| format!("[{}] {e}", e.kind()));
    Ok(Fetched {
        directory,
        wrong_content_type,
        proof,
        fresh_for,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_http_urls() {
        assert!(check_loopback_url("http://127.0.0.1:8080/.well-known/x").is_ok());
        assert!(check_loopback_url("http://[::1]:8080/").is_ok());
        for bad in [
            "http://example.com/",
            "http://localhost/",
            "http://10.0.0.1/",
            "http://[2001:db8::1]/",
            "https://127.0.0.1/",
            "not a url",
        ] {
            assert!(check_loopback_url(bad).is_err(), "{bad}");
        }
        let e = check_loopback_url("http://192.0.2.1/").unwrap_err();
        assert!(e.contains("not a loopback address"), "{e}");
    }

    #[test]
    fn freshness_follows_cache_control() {
        assert_eq!(freshness(None), HEURISTIC_FRESHNESS);
        assert_eq!(freshness(Some("max-age=86400")), 86_400);
        assert_eq!(freshness(Some("public, max-age=10")), 10);
        assert_eq!(freshness(Some("max-age=999999999")), MAX_FRESHNESS);
        assert_eq!(freshness(Some("no-store")), 0);
        assert_eq!(freshness(Some("max-age=60, no-cache")), 0);
        assert_eq!(freshness(Some("max-age=oops")), 0);
    }
}

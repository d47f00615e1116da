//! An HTTP client for any MQ Hub deployment (ours or apihub), in either profile.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use reqwest::{Method, StatusCode};
use serde::Deserialize;

use crate::Profile;
use crate::codec::hex_encode;
use crate::did::DidKeyPair;
use crate::error::{MqHubError, Result};
use crate::server::{
    CONNECTION_TIMEOUT, TAKE_NEXT, X_MQ_AUTHORIZATION, X_MQ_DID, X_MQ_DID_PROOF,
    X_MQ_DID_TIMESTAMP, X_MQ_TOKEN_LIFETIME,
};
use crate::token::proof_message;

/// A token as the server returned it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientToken {
    pub token: String,
    /// `expires` of the reply (ms since the epoch).
    pub expires_ms: u64,
    /// The `connection-timeout` header, when sent (ms).
    pub connection_timeout_ms: Option<u64>,
}

/// A message as get/take return it.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct Message {
    pub message: String,
    #[serde(default)]
    pub sender: Option<String>,
    #[serde(rename = "messageId", default)]
    pub message_id: Option<String>,
}

#[derive(Deserialize)]
struct TokenBody {
    token: String,
    expires: u64,
}

/// The client. Cheap to clone.
#[derive(Clone, Debug)]
pub struct MqClient {
    base: String,
    profile: Profile,
    http: reqwest::Client,
    key: Arc<DidKeyPair>,
    bound: Duration,
    /// The last (token, signatureOfDid): signing costs about a millisecond and a token is reused.
    last_sig: Arc<std::sync::Mutex<Option<(String, String)>>>,
    /// The header carrying the token, when not the profile's (e.g. `authorization` for apihub
    /// before 2024).
    auth_header: Option<Arc<str>>,
}

fn transport(e: reqwest::Error, bound: Duration) -> MqHubError {
    if e.is_timeout() {
        MqHubError::Timeout(bound)
    } else {
        MqHubError::Transport(e.to_string())
    }
}

impl MqClient {
    /// A client for the hub at `base_url` (e.g. `http://127.0.0.1:8080`), acting as `key`'s DID.
    /// Every request is bounded by `bound` (make it longer than the server's connection timeout).
    pub fn new(
        base_url: &str,
        profile: Profile,
        key: Arc<DidKeyPair>,
        bound: Duration,
    ) -> Result<Self> {
        let base = base_url.trim_end_matches('/').to_string();
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(MqHubError::Config(format!(
                "hub URL {base_url:?} must start with http:// or https://"
            )));
        }
        let http = reqwest::Client::builder()
            .timeout(bound)
            .build()
            .map_err(|e| MqHubError::Transport(e.to_string()))?;
        Ok(MqClient {
            base,
            profile,
            http,
            key,
            bound,
            last_sig: Default::default(),
            auth_header: None,
        })
    }

    /// Send the token in header `name` instead of the profile's.
    pub fn with_auth_header(mut self, name: &str) -> Self {
        self.auth_header = Some(name.into());
        self
    }

    pub fn did(&self) -> &str {
        self.key.did()
    }
    pub fn hash_did(&self) -> String {
        self.key.hash_did()
    }
    pub fn key(&self) -> &DidKeyPair {
        &self.key
    }
    pub fn base_url(&self) -> &str {
        &self.base
    }
    pub fn profile(&self) -> Profile {
        self.profile
    }

    fn sig(&self, token: &str) -> String {
        if let Ok(g) = self.last_sig.lock()
            && let Some((t, s)) = &*g
            && t == token
        {
            return s.clone();
        }
        let s = self.key.signature_of_did(token);
        if let Ok(mut g) = self.last_sig.lock() {
            *g = Some((token.to_string(), s.clone()));
        }
        s
    }

    fn auth_header(&self) -> &str {
        if let Some(h) = &self.auth_header {
            return h;
        }
        match self.profile {
            Profile::Rfc130 => "authorization",
            Profile::Opendsu => X_MQ_AUTHORIZATION,
        }
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Vec<u8>>,
    ) -> Result<(StatusCode, reqwest::header::HeaderMap, Vec<u8>)> {
        let mut rb = self.http.request(method, format!("{}{path}", self.base));
        if let Some(t) = token {
            rb = rb.header(self.auth_header(), t);
        }
        if let Some(b) = body {
            rb = rb.body(b);
        }
        let r = rb.send().await.map_err(|e| transport(e, self.bound))?;
        let status = r.status();
        let headers = r.headers().clone();
        let bytes = r.bytes().await.map_err(|e| transport(e, self.bound))?;
        Ok((status, headers, bytes.to_vec()))
    }

    fn error(status: StatusCode, domain: &str, body: &[u8]) -> MqHubError {
        let text = String::from_utf8_lossy(body).into_owned();
        match status {
            StatusCode::FORBIDDEN => MqHubError::Forbidden(text),
            StatusCode::METHOD_NOT_ALLOWED => MqHubError::MqDisabled(domain.to_string()),
            StatusCode::NOT_FOUND => MqHubError::NoSuchMessage(text),
            StatusCode::BAD_REQUEST => MqHubError::BadRequest(text),
            s => MqHubError::Status {
                status: s.as_u16(),
                body: text,
            },
        }
    }

    /// Ask for a token for queue `target_hash` (our own queue: owner token; another: put token),
    /// proving we hold our DID. `lifetime_secs` asks for a shorter lifetime.
    pub async fn token(
        &self,
        domain: &str,
        target_hash: &str,
        lifetime_secs: Option<u64>,
    ) -> Result<ClientToken> {
        let ts = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let proof = hex_encode(
            &self
                .key
                .sign(proof_message(domain, target_hash, ts).as_bytes()),
        );
        let mut rb = self
            .http
            .get(format!("{}/mq/{domain}/{target_hash}/token", self.base))
            .header(X_MQ_DID, self.key.did())
            .header(X_MQ_DID_TIMESTAMP, ts.to_string())
            .header(X_MQ_DID_PROOF, proof);
        if let Some(l) = lifetime_secs {
            rb = rb.header(X_MQ_TOKEN_LIFETIME, l.to_string());
        }
        let r = rb.send().await.map_err(|e| transport(e, self.bound))?;
        let status = r.status();
        let ct = r
            .headers()
            .get(CONNECTION_TIMEOUT)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok());
        let body = r.bytes().await.map_err(|e| transport(e, self.bound))?;
        if status != StatusCode::OK {
            return Err(Self::error(status, domain, &body));
        }
        let t: TokenBody = serde_json::from_slice(&body).map_err(|e| {
            MqHubError::MalformedReply(format!(
                "token reply is not {{\"token\", \"expires\"}}: {e}: {}",
                String::from_utf8_lossy(&body)
            ))
        })?;
        if t.token.is_empty() {
            return Err(MqHubError::MalformedReply(
                "token reply has an empty token".into(),
            ));
        }
        Ok(ClientToken {
            token: t.token,
            expires_ms: t.expires,
            connection_timeout_ms: ct,
        })
    }

    /// A token for our own queue.
    pub async fn own_token(&self, domain: &str) -> Result<ClientToken> {
        self.token(domain, &self.hash_did(), None).await
    }

    /// Put `body` into queue `target_hash`.
    pub async fn put(
        &self,
        domain: &str,
        target_hash: &str,
        token: &str,
        body: impl Into<Vec<u8>>,
    ) -> Result<()> {
        let (s, _, b) = self
            .send(
                Method::PUT,
                &format!("/mq/{domain}/put/{target_hash}"),
                Some(token),
                Some(body.into()),
            )
            .await?;
        match s {
            StatusCode::OK => Ok(()),
            s => Err(Self::error(s, domain, &b)),
        }
    }

    fn message(s: StatusCode, domain: &str, b: &[u8]) -> Result<Option<Message>> {
        match s {
            StatusCode::OK => {
                let m: Message = serde_json::from_slice(b).map_err(|e| {
                    MqHubError::MalformedReply(format!(
                        "expected {{\"message\", ...}}: {e}: {:?}",
                        String::from_utf8_lossy(b)
                    ))
                })?;
                Ok(Some(m))
            }
            StatusCode::NO_CONTENT => Ok(None),
            s => Err(Self::error(s, domain, b)),
        }
    }

    /// Long-poll our queue: the oldest message (left in place), or `None` on 204.
    pub async fn get(&self, domain: &str, token: &str) -> Result<Option<Message>> {
        let sig = self.sig(token);
        let (s, _, b) = self
            .send(
                Method::GET,
                &format!("/mq/{domain}/get/{}/{sig}", self.hash_did()),
                Some(token),
                None,
            )
            .await?;
        Self::message(s, domain, &b)
    }

    /// Take (read and remove): `id` = a message id (rfc130 only) or `None` = the oldest.
    pub async fn take(
        &self,
        domain: &str,
        token: &str,
        id: Option<&str>,
    ) -> Result<Option<Message>> {
        let sig = self.sig(token);
        let h = self.hash_did();
        let path = match (self.profile, id) {
            (Profile::Rfc130, id) => {
                format!("/mq/{domain}/take/{h}/{}/{sig}", id.unwrap_or(TAKE_NEXT))
            }
            (Profile::Opendsu, None) => format!("/mq/{domain}/take/{h}/{sig}"),
            (Profile::Opendsu, Some(_)) => {
                return Err(MqHubError::Config(
                    "the opendsu profile has no message id in the take path".into(),
                ));
            }
        };
        let (s, _, b) = self.send(Method::GET, &path, Some(token), None).await?;
        Self::message(s, domain, &b)
    }

    /// Delete message `id` from our queue.
    pub async fn delete(&self, domain: &str, token: &str, id: &str) -> Result<()> {
        let sig = self.sig(token);
        let (s, _, b) = self
            .send(
                Method::DELETE,
                &format!("/mq/{domain}/delete/{}/{id}/{sig}", self.hash_did()),
                Some(token),
                None,
            )
            .await?;
        match s {
            StatusCode::OK => Ok(()),
            s => Err(Self::error(s, domain, &b)),
        }
    }
}

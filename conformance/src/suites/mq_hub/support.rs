//! What the section files share: a case's data ([`meta`]) and its run ([`case`]), the table row
//! of a status-only case ([`StatusCase`]), a raw HTTP exchange ([`Request`], [`raw`]), and the
//! small steps many cases take (an owner client, puts, paths, a self-minted token).

use std::future::Future;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use mq_hub::codec::hex_encode;
use mq_hub::token::TokenAuthority;
use mq_hub::{DidKeyPair, MqClient, MqHubError, Profile};
use reqwest::Method;
use sigharness_report::CaseMeta;

use super::{Ctx, SUITE, TokenSource};
use crate::runner::check::{
    Check, Stop, expect_status, fail, pass, skip, status_requirement, step,
};
use crate::runner::{BoxFuture, Case, Level, SpecRef};

/// The MQ Hub document (../shared/specs/mq-hub-rfc130.txt).
pub const DOC: &str = "RFC-130";
/// The field notes on the deployed apihub (../shared/notes/mq-hub-reality.md); its sections
/// are the numbered defects (`defect 1` .. `defect 8`).
pub const NOTES: &str = "mq-hub-reality";
/// The client writer's contract (docs/mq-hub-contract.md): the rules where the document is
/// silent, each with its source; sections are its rule anchors (`C1` ..).
pub const CONTRACT: &str = "mq-hub-contract";

/// RFC-130 §2.4 and §3.3, verbatim: the one status the document gives a missing or bad token.
pub const Q_BAD_TOKEN: &str = "\"403 | No token was provided or an invalid token.\"";

/// Statuses meaning "no such message": 404, or 500 as RFC-130 §4.3 and §5.3 allow.
pub const NO_SUCH_MESSAGE: &[u16] = &[404, 500];

/// A case's data: id `mq-hub/<profile>/<slug>`, the document and section it checks, its level,
/// the stimulus and the requirement (quoted or paraphrased from the document).
pub fn meta(
    p: Profile,
    slug: &str,
    doc: &str,
    section: &str,
    level: Level,
    stimulus: &str,
    requirement: impl Into<String>,
) -> CaseMeta {
    let mut m = crate::runner::meta(
        SUITE,
        format!("{SUITE}/{}/{slug}", p.as_str()),
        SpecRef::new(doc, section),
        level,
        stimulus,
        requirement,
    );
    m.profiles = vec![p.as_str().to_string()];
    m
}

/// A case: its data and its run, which returns a [`Check`].
pub fn case<F, Fut>(meta: CaseMeta, run: F) -> Case<Ctx>
where
    F: Fn(Arc<Ctx>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Check> + Send + 'static,
{
    Case::new(meta, run)
}

/// A pass whose evidence is the requirement itself (nothing more to show).
pub fn done() -> Check {
    pass("as required")
}

/// A status-only case: build one request (setup steps may fail or skip the case), send it, and
/// accept exactly the statuses of `accept`. The requirement is derived from `accept` (and
/// `note`), so the text a reader sees is the check that runs.
pub struct StatusCase {
    pub slug: &'static str,
    pub doc: &'static str,
    pub section: &'static str,
    pub level: Level,
    /// The stimulus; also the summary of the evidence (`<stimulus>: <status>`).
    pub stimulus: &'static str,
    /// The request to send, after whatever setup it needs.
    pub request: fn(Arc<Ctx>) -> BoxFuture<'static, Result<Request, Stop>>,
    /// The statuses that pass.
    pub accept: &'static [u16],
    /// Why, shown after the statuses in the requirement (`""` = nothing to add). It must not
    /// name a status that `accept` does not hold (a unit test checks).
    pub note: &'static str,
}

impl StatusCase {
    /// `status 401 or 403` or `status 401 or 403 (note)`.
    pub fn requirement(&self) -> String {
        let s = status_requirement(self.accept);
        if self.note.is_empty() {
            s
        } else {
            format!("{s} ({})", self.note)
        }
    }

    /// This row as a case of profile `p`.
    pub fn case(&'static self, p: Profile) -> Case<Ctx> {
        let m = meta(
            p,
            self.slug,
            self.doc,
            self.section,
            self.level,
            self.stimulus,
            self.requirement(),
        );
        case(m, move |c| async move {
            let req = (self.request)(c.clone()).await?;
            let (status, body) = raw(&c, &req).await?;
            expect_status(self.stimulus, status, &body, self.accept)
        })
    }
}

/// One HTTP request, sent as is by [`raw`] (the token in the profile's header).
pub struct Request {
    pub method: Method,
    pub path: String,
    pub token: Option<String>,
    pub headers: Vec<(&'static str, String)>,
    pub body: Option<Vec<u8>>,
}

impl Request {
    pub fn new(method: Method, path: impl Into<String>) -> Self {
        Request {
            method,
            path: path.into(),
            token: None,
            headers: Vec::new(),
            body: None,
        }
    }
    pub fn get(path: impl Into<String>) -> Self {
        Request::new(Method::GET, path)
    }
    pub fn delete(path: impl Into<String>) -> Self {
        Request::new(Method::DELETE, path)
    }
    pub fn put(path: impl Into<String>, body: impl Into<Vec<u8>>) -> Self {
        Request::new(Method::PUT, path).body(body)
    }
    pub fn token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(token.into());
        self
    }
    pub fn headers(mut self, headers: Vec<(&'static str, String)>) -> Self {
        self.headers.extend(headers);
        self
    }
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = Some(body.into());
        self
    }
}

/// Send `r` and read the answer: (status, body). No answer at all fails the case.
pub async fn raw(c: &Ctx, r: &Request) -> Result<(u16, String), Stop> {
    let mut rb = c
        .http
        .request(r.method.clone(), format!("{}{}", c.url, r.path));
    if let Some(t) = &r.token {
        let h = c.auth_header.as_deref().unwrap_or(auth_header(c.profile));
        rb = rb.header(h, t);
    }
    for (k, v) in &r.headers {
        rb = rb.header(*k, v);
    }
    if let Some(b) = &r.body {
        rb = rb.body(b.clone());
    }
    let answer = rb.send().await.map_err(|e| {
        fail(
            format!("{} {}: no HTTP answer", r.method, r.path),
            "an HTTP answer",
            e.to_string(),
        )
    })?;
    let status = answer.status().as_u16();
    let body = answer.text().await.unwrap_or_default();
    Ok((status, body))
}

/// The header the profile carries the token in.
fn auth_header(p: Profile) -> &'static str {
    match p {
        Profile::Rfc130 => "authorization",
        Profile::Opendsu => "x-mq-authorization",
    }
}

/// What the path-trick cases accept: any answer but 200 and 5xx (refused, and not a crash).
pub const REFUSAL: &str = "a refusal (neither 200 nor 5xx)";

/// Whether `status` is a [`REFUSAL`].
pub fn is_refusal(status: u16) -> bool {
    status != 200 && status < 500
}

/// Fail unless `(status, body)` is a [`REFUSAL`]; `what` names the request.
pub fn expect_refusal(what: impl Into<String>, (status, body): &(u16, String)) -> Result<(), Stop> {
    if is_refusal(*status) {
        Ok(())
    } else {
        Err(fail(what, REFUSAL, format!("{status}: {}", truncate(body))))
    }
}

/// The HTTP status an error of the `mq-hub` client stands for, if it stands for one.
pub fn error_status(e: &MqHubError) -> Option<u16> {
    match e {
        MqHubError::BadRequest(_) => Some(400),
        MqHubError::Forbidden(_) => Some(403),
        MqHubError::NoSuchMessage(_) => Some(404),
        MqHubError::MqDisabled(_) => Some(405),
        MqHubError::Status { status, .. } => Some(*status),
        _ => None,
    }
}

/// The first 200 characters of `s`.
pub fn truncate(s: &str) -> String {
    crate::runner::check::truncate(s, 200)
}

pub fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// A client with a fresh identity and an owner token for its own queue.
pub async fn owner(c: &Ctx) -> Result<(MqClient, String), Stop> {
    let (cl, t, _) = owner_with_timeout(c).await?;
    Ok((cl, t))
}

/// [`owner`], and the token reply's `connection-timeout` header when the suite asked for the
/// token itself (not through `token_cmd`).
pub async fn owner_with_timeout(c: &Ctx) -> Result<(MqClient, String, Option<u64>), Stop> {
    let cl = c.client();
    if c.tokens == TokenSource::HolderProof {
        let t = cl
            .own_token(&c.domain)
            .await
            .map_err(step("owner token request"))?;
        return Ok((cl, t.token, t.connection_timeout_ms));
    }
    let t = token_for(c, &cl, &cl.hash_did()).await?;
    Ok((cl, t, None))
}

/// A token for `cl`'s DID on `queue`: by our holder proof, or from `--set token_cmd`.
pub async fn token_for(c: &Ctx, cl: &MqClient, queue: &str) -> Result<String, Stop> {
    match &c.tokens {
        TokenSource::HolderProof => Ok(cl
            .token(&c.domain, queue, None)
            .await
            .map_err(step("token request"))?
            .token),
        TokenSource::Cmd(template) => run_token_cmd(template, cl.did(), queue, &c.domain).await,
    }
}

/// Skip unless the suite gets its tokens by our holder-proof protocol (cases that judge that
/// protocol itself).
pub fn holder_proof_protocol(c: &Ctx) -> Result<(), Stop> {
    match c.tokens {
        TokenSource::HolderProof => Ok(()),
        TokenSource::Cmd(_) => Err(skip(
            "needs our holder-proof token protocol (x-mq-did, x-mq-did-timestamp, x-mq-did-proof); \
             tokens come from --set token_cmd",
        )),
    }
}

/// Longest a token command may run.
pub const TOKEN_CMD_BOUND: std::time::Duration = std::time::Duration::from_secs(30);

/// Run `template` with `{did}`, `{hashdid}`, `{domain}` replaced (single-quoted for the shell)
/// under `sh -c`, within [`TOKEN_CMD_BOUND`]; its stdout is the token, or a JSON object with
/// `token`.
pub async fn run_token_cmd(
    template: &str,
    did: &str,
    hash: &str,
    domain: &str,
) -> Result<String, Stop> {
    let q = |v: &str| format!("'{}'", v.replace('\'', r"'\''"));
    let cmd = template
        .replace("{did}", &q(did))
        .replace("{hashdid}", &q(hash))
        .replace("{domain}", &q(domain));
    let child = tokio::process::Command::new("sh")
        .arg("-c")
        .arg(&cmd)
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(TOKEN_CMD_BOUND, child)
        .await
        .map_err(|_| {
            fail(
                format!("token_cmd: {cmd}"),
                "a token within 30 s",
                "no exit",
            )
        })?
        .map_err(|e| {
            fail(
                format!("token_cmd: {cmd}"),
                "a command that runs",
                e.to_string(),
            )
        })?;
    let stdout = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if !out.status.success() || stdout.is_empty() {
        return Err(fail(
            format!("token_cmd: {cmd}"),
            "exit 0 and a token on stdout",
            format!(
                "{}; stdout {:?}; stderr {:?}",
                out.status,
                truncate(&stdout),
                truncate(&String::from_utf8_lossy(&out.stderr))
            ),
        ));
    }
    if stdout.starts_with('{') {
        return serde_json::from_str::<serde_json::Value>(&stdout)
            .ok()
            .and_then(|v| v.get("token").and_then(|t| t.as_str()).map(str::to_string))
            .ok_or_else(|| {
                fail(
                    format!("token_cmd: {cmd}"),
                    "a token, or JSON with \"token\"",
                    truncate(&stdout),
                )
            });
    }
    Ok(stdout)
}

/// Put `bodies` into `cl`'s own queue, in order.
pub async fn put_n(c: &Ctx, cl: &MqClient, t: &str, bodies: &[&str]) -> Result<(), Stop> {
    for b in bodies {
        cl.put(&c.domain, &cl.hash_did(), t, *b)
            .await
            .map_err(step("put"))?;
    }
    Ok(())
}

/// Read and remove `n` messages of `cl`'s queue, oldest first, by get + delete by id (never by
/// waiting for a take to time out: apihub's take never does). Each get is bounded by the client's
/// bound; a get that answers 204 before `n` messages were read fails the case.
pub async fn drain(
    c: &Ctx,
    cl: &MqClient,
    t: &str,
    n: usize,
) -> Result<Vec<mq_hub::Message>, Stop> {
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let m = cl
            .get(&c.domain, t)
            .await
            .map_err(step("drain get"))?
            .ok_or_else(|| {
                fail(
                    format!("drain: get number {}", i + 1),
                    format!("{n} messages"),
                    format!("204 after {i}"),
                )
            })?;
        let id = m
            .message_id
            .clone()
            .ok_or_else(|| fail("drain: get reply", "a messageId", format!("{m:?}")))?;
        cl.delete(&c.domain, t, &id)
            .await
            .map_err(step("drain delete"))?;
        out.push(m);
    }
    Ok(out)
}

/// Fail unless `cl`'s queue is empty: one get must end in 204 (after the long poll).
pub async fn expect_empty(c: &Ctx, cl: &MqClient, t: &str, what: &str) -> Result<(), Stop> {
    match cl.get(&c.domain, t).await.map_err(step("get"))? {
        None => Ok(()),
        Some(m) => Err(fail(what, "an empty queue (204)", format!("{m:?}"))),
    }
}

/// The id of the oldest message in `cl`'s queue (read with a get).
pub async fn head_id(c: &Ctx, cl: &MqClient, t: &str) -> Result<String, Stop> {
    let m = cl
        .get(&c.domain, t)
        .await
        .map_err(step("get"))?
        .ok_or_else(|| fail("get", "200", "204"))?;
    m.message_id
        .ok_or_else(|| fail("get reply", "messageId", "none"))
}

pub fn token_path(domain: &str, hash: &str) -> String {
    format!("/mq/{domain}/{hash}/token")
}
pub fn put_path(domain: &str, hash: &str) -> String {
    format!("/mq/{domain}/put/{hash}")
}
pub fn get_path(c: &Ctx, hash: &str, sig: &str) -> String {
    format!("/mq/{}/get/{hash}/{sig}", c.domain)
}
/// The take path of the profile: rfc130 names a message id (`next` when `None`), opendsu none.
pub fn take_path(c: &Ctx, hash: &str, id: Option<&str>, sig: &str) -> String {
    match c.profile {
        Profile::Rfc130 => format!(
            "/mq/{}/take/{hash}/{}/{sig}",
            c.domain,
            id.unwrap_or("next")
        ),
        Profile::Opendsu => format!("/mq/{}/take/{hash}/{sig}", c.domain),
    }
}
pub fn delete_path(c: &Ctx, hash: &str, id: &str, sig: &str) -> String {
    format!("/mq/{}/delete/{hash}/{id}/{sig}", c.domain)
}

/// The holder-proof headers of a token request for `queue`: `did` claimed, signed by `signer`
/// over `mq-hub-token:<domain>:<queue>:<timestamp>`.
pub fn holder_proof(
    signer: &DidKeyPair,
    did: &str,
    domain: &str,
    queue: &str,
    timestamp: u64,
) -> Vec<(&'static str, String)> {
    let msg = mq_hub::token::proof_message(domain, queue, timestamp);
    vec![
        ("x-mq-did", did.to_string()),
        ("x-mq-did-timestamp", timestamp.to_string()),
        ("x-mq-did-proof", hex_encode(&signer.sign(msg.as_bytes()))),
    ]
}

/// A token request for `queue` on `domain` with a holder proof `cl` signs now (what
/// `MqClient::token` sends).
pub fn token_request(cl: &MqClient, domain: &str, queue: &str) -> Request {
    Request::get(token_path(domain, queue)).headers(holder_proof(
        cl.key(),
        cl.did(),
        domain,
        queue,
        now_secs(),
    ))
}

/// The connection timeout: `--set connection_timeout_ms`, else the token reply's header; a
/// case that needs it skips when neither says.
pub fn timeout_ms(c: &Ctx, header: Option<u64>) -> Result<u64, Stop> {
    c.limits
        .timeout_ms
        .or(header)
        .ok_or_else(|| skip("connection timeout unknown: pass --set connection_timeout_ms=N"))
}

/// A token for `queue` naming `did`, signed by a key of our own (not the hub's).
pub fn self_minted(c: &Ctx, did: &str, queue: &str) -> Result<String, Stop> {
    let forger = TokenAuthority::generate(c.profile, "forger").map_err(step("mint"))?;
    Ok(forger
        .issue(now_secs(), 600, did, &c.domain, queue)
        .map_err(step("mint"))?
        .token)
}

/// A token in the profile's dialect whose header says `alg: none` and whose signature is empty:
/// rfc130 `base64url(header).base64url(claims).`, opendsu `base58(header).base58(body).`.
pub fn alg_none(c: &Ctx, did: &str, queue: &str) -> Result<String, Stop> {
    let forger = TokenAuthority::generate(c.profile, "forger").map_err(step("mint"))?;
    let t = forger
        .issue(now_secs(), 600, did, &c.domain, queue)
        .map_err(step("mint"))?
        .token;
    let body = t.split('.').nth(1).unwrap_or_default();
    Ok(match c.profile {
        Profile::Rfc130 => format!("{}.{body}.", b64url(br#"{"alg":"none","typ":"JWT"}"#)),
        Profile::Opendsu => format!(
            "{}.{body}.",
            mq_hub::codec::b58(br#"{"typ":"SeedSSIJWT","alg":"none"}"#)
        ),
    })
}

/// `token` with its claims changed by `f` and its signature kept (rewritten claims).
pub fn rewrite_claims(
    c: &Ctx,
    token: &str,
    f: impl FnOnce(&mut serde_json::Value),
) -> Result<String, Stop> {
    let parts: Vec<&str> = token.split('.').collect();
    let [h, b, s] = parts[..] else {
        return Err(fail("the hub's token", "three parts", token.to_string()));
    };
    let decoded = match c.profile {
        Profile::Rfc130 => {
            use base64::Engine as _;
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(b)
                .ok()
        }
        Profile::Opendsu => mq_hub::codec::b58_decode(b),
    };
    let mut v: serde_json::Value = decoded
        .and_then(|d| serde_json::from_slice(&d).ok())
        .ok_or_else(|| {
            fail(
                "the hub's token body",
                "JSON in the profile's encoding",
                b.to_string(),
            )
        })?;
    f(&mut v);
    let text = v.to_string();
    let body = match c.profile {
        Profile::Rfc130 => b64url(text.as_bytes()),
        Profile::Opendsu => mq_hub::codec::b58(text.as_bytes()),
    };
    Ok(format!("{h}.{body}.{s}"))
}

fn b64url(b: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

//! The cases. Each is `async fn(Arc<Ctx>) -> R` where `R = Result<Outcome, Outcome>` so that a
//! step that cannot proceed (`?`) ends the case with its own evidence.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use mq_hub::codec::hex_encode;
use mq_hub::token::TokenAuthority;
use mq_hub::{MqClient, MqHubError, Profile};
use reqwest::Method;
use sigharness_report::{Evidence, Level, SpecRef};

use super::{Ctx, SUITE};
use crate::runner::{Case, Outcome, meta};

type R = Result<Outcome, Outcome>;

const DOC: &str = "RFC-130";
const NOTES: &str = "mq-hub-reality";

fn fail(
    summary: impl Into<String>,
    expected: impl Into<String>,
    observed: impl Into<String>,
) -> Outcome {
    Outcome::fail(Evidence::new(summary).expected(expected).observed(observed))
}

fn step(what: &'static str) -> impl Fn(MqHubError) -> Outcome {
    move |e| {
        fail(
            format!("{what} failed"),
            format!("{what} to succeed"),
            e.to_string(),
        )
    }
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// A raw HTTP exchange (status, body).
async fn raw(
    c: &Ctx,
    m: Method,
    path: &str,
    token: Option<&str>,
    headers: &[(&str, String)],
    body: Option<Vec<u8>>,
) -> Result<(u16, String), Outcome> {
    let mut rb = c.http.request(m.clone(), format!("{}{path}", c.url));
    if let Some(t) = token {
        rb = rb.header(auth(c), t);
    }
    for (k, v) in headers {
        rb = rb.header(*k, v);
    }
    if let Some(b) = body {
        rb = rb.body(b);
    }
    let r = rb.send().await.map_err(|e| {
        fail(
            format!("{m} {path}: no HTTP answer"),
            "an HTTP answer",
            e.to_string(),
        )
    })?;
    let s = r.status().as_u16();
    let b = r.text().await.unwrap_or_default();
    Ok((s, b))
}

fn auth(c: &Ctx) -> &'static str {
    match c.profile {
        Profile::Rfc130 => "authorization",
        Profile::Opendsu => "x-mq-authorization",
    }
}

fn expect(what: &str, got: (u16, String), want: &[u16]) -> R {
    if want.contains(&got.0) {
        Ok(Outcome::pass_with(Evidence::new(format!(
            "{what}: {}",
            got.0
        ))))
    } else {
        Err(fail(
            what.to_string(),
            format!(
                "status {}",
                want.iter()
                    .map(u16::to_string)
                    .collect::<Vec<_>>()
                    .join(" or ")
            ),
            format!("status {}: {}", got.0, truncate(&got.1)),
        ))
    }
}

fn truncate(s: &str) -> String {
    s.chars().take(200).collect()
}

/// A client with a fresh identity and an owner token for its own queue.
async fn owner(c: &Ctx) -> Result<(MqClient, String), Outcome> {
    let cl = c.client();
    let t = cl
        .own_token(&c.domain)
        .await
        .map_err(step("owner token request"))?;
    Ok((cl, t.token))
}

async fn put_n(c: &Ctx, cl: &MqClient, t: &str, bodies: &[&str]) -> Result<(), Outcome> {
    for b in bodies {
        cl.put(&c.domain, &cl.hash_did(), t, *b)
            .await
            .map_err(step("put"))?;
    }
    Ok(())
}

fn get_path(c: &Ctx, hash: &str, sig: &str) -> String {
    format!("/mq/{}/get/{hash}/{sig}", c.domain)
}
fn take_path(c: &Ctx, hash: &str, id: Option<&str>, sig: &str) -> String {
    match c.profile {
        Profile::Rfc130 => format!(
            "/mq/{}/take/{hash}/{}/{sig}",
            c.domain,
            id.unwrap_or("next")
        ),
        Profile::Opendsu => format!("/mq/{}/take/{hash}/{sig}", c.domain),
    }
}
fn delete_path(c: &Ctx, hash: &str, id: &str, sig: &str) -> String {
    format!("/mq/{}/delete/{hash}/{id}/{sig}", c.domain)
}

fn timeout_ms(c: &Ctx, header: Option<u64>) -> Result<u64, Outcome> {
    c.limits.timeout_ms.or(header).ok_or_else(|| {
        Outcome::skip("connection timeout unknown: pass --set connection_timeout_ms=N")
    })
}

fn self_minted(c: &Ctx, did: &str, queue: &str) -> Result<String, Outcome> {
    let forger = TokenAuthority::generate(c.profile, "forger").map_err(step("mint"))?;
    Ok(forger
        .issue(now_secs(), 600, did, &c.domain, queue)
        .map_err(step("mint"))?
        .token)
}

// ---------------------------------------------------------------- token (§1)

async fn token_issued(c: Arc<Ctx>) -> R {
    let cl = c.client();
    let t = cl
        .own_token(&c.domain)
        .await
        .map_err(step("token request"))?;
    let now_ms = now_secs() * 1000;
    // RFC-130 §1.2.1: {"token", "expires"} with expires in ms since the epoch.
    if t.expires_ms <= now_ms || t.expires_ms > now_ms + 400 * 86_400_000 {
        return Err(fail(
            "expires is not a future time in ms",
            format!("> {now_ms}"),
            t.expires_ms.to_string(),
        ));
    }
    Ok(Outcome::pass())
}

async fn token_no_proof(c: Arc<Ctx>) -> R {
    let cl = c.client();
    let r = raw(
        &c,
        Method::GET,
        &format!("/mq/{}/{}/token", c.domain, cl.hash_did()),
        None,
        &[],
        None,
    )
    .await?;
    expect("token without holder proof", r, &[401, 403])
}

async fn token_wrong_proof(c: Arc<Ctx>) -> R {
    let victim = c.client();
    let attacker = c.client();
    let ts = now_secs();
    let msg = mq_hub::token::proof_message(&c.domain, &victim.hash_did(), ts);
    let proof = hex_encode(&attacker.key().sign(msg.as_bytes()));
    let h = [
        ("x-mq-did", victim.did().to_string()),
        ("x-mq-did-timestamp", ts.to_string()),
        ("x-mq-did-proof", proof),
    ];
    let r = raw(
        &c,
        Method::GET,
        &format!("/mq/{}/{}/token", c.domain, victim.hash_did()),
        None,
        &h,
        None,
    )
    .await?;
    expect("token with a proof by another key", r, &[401, 403])
}

async fn token_stale_proof(c: Arc<Ctx>) -> R {
    let cl = c.client();
    let ts = now_secs() - 3600;
    let msg = mq_hub::token::proof_message(&c.domain, &cl.hash_did(), ts);
    let proof = hex_encode(&cl.key().sign(msg.as_bytes()));
    let h = [
        ("x-mq-did", cl.did().to_string()),
        ("x-mq-did-timestamp", ts.to_string()),
        ("x-mq-did-proof", proof),
    ];
    let r = raw(
        &c,
        Method::GET,
        &format!("/mq/{}/{}/token", c.domain, cl.hash_did()),
        None,
        &h,
        None,
    )
    .await?;
    expect("token with an hour-old proof", r, &[401, 403])
}

async fn token_disabled(c: Arc<Ctx>) -> R {
    let cl = c.client();
    match cl.own_token(&c.disabled).await {
        Err(MqHubError::MqDisabled(_)) => Ok(Outcome::pass()),
        other => Err(fail(
            "token on a domain without MQ",
            "405",
            format!("{other:?}"),
        )),
    }
}

async fn token_bad_hash(c: Arc<Ctx>) -> R {
    let cl = c.client();
    let r = cl.token(&c.domain, "not-a-hash!!", None).await;
    match r {
        Err(
            MqHubError::BadRequest(_) | MqHubError::Forbidden(_) | MqHubError::NoSuchMessage(_),
        ) => Ok(Outcome::pass()),
        other => Err(fail(
            "token for a malformed hashDID",
            "400, 403 or 404",
            format!("{other:?}"),
        )),
    }
}

async fn token_conn_timeout_header(c: Arc<Ctx>) -> R {
    let cl = c.client();
    let t = cl
        .own_token(&c.domain)
        .await
        .map_err(step("token request"))?;
    match t.connection_timeout_ms {
        Some(ms) if ms > 0 => Ok(Outcome::pass_with(Evidence::new(format!(
            "connection-timeout: {ms}"
        )))),
        other => Err(fail(
            "connection-timeout header",
            "a positive number of ms",
            format!("{other:?}"),
        )),
    }
}

// ---------------------------------------------------------------- put (§2)

async fn put_ok(c: Arc<Ctx>) -> R {
    let rcpt = c.client();
    let sender = c.client();
    let t = sender
        .token(&c.domain, &rcpt.hash_did(), None)
        .await
        .map_err(step("put token"))?;
    sender
        .put(&c.domain, &rcpt.hash_did(), &t.token, "hello")
        .await
        .map_err(step("put"))?;
    Ok(Outcome::pass())
}

async fn put_no_token(c: Arc<Ctx>) -> R {
    let rcpt = c.client();
    let r = raw(
        &c,
        Method::PUT,
        &format!("/mq/{}/put/{}", c.domain, rcpt.hash_did()),
        None,
        &[],
        Some(b"x".to_vec()),
    )
    .await?;
    expect("put without a token", r, &[401, 403])
}

async fn put_garbage_token(c: Arc<Ctx>) -> R {
    let rcpt = c.client();
    let r = raw(
        &c,
        Method::PUT,
        &format!("/mq/{}/put/{}", c.domain, rcpt.hash_did()),
        Some("abc.def.ghi"),
        &[],
        Some(b"x".to_vec()),
    )
    .await?;
    expect("put with a garbage token", r, &[401, 403])
}

async fn put_self_minted(c: Arc<Ctx>) -> R {
    let rcpt = c.client();
    let forger = c.client();
    let t = self_minted(&c, forger.did(), &rcpt.hash_did())?;
    match forger.put(&c.domain, &rcpt.hash_did(), &t, "forged").await {
        Err(MqHubError::Forbidden(_)) => Ok(Outcome::pass()),
        other => Err(fail(
            "put with a self-minted token (own key, publicKey inside)",
            "403",
            format!("{other:?}"),
        )),
    }
}

async fn put_other_queue_token(c: Arc<Ctx>) -> R {
    let a = c.client();
    let b = c.client();
    let sender = c.client();
    let t = sender
        .token(&c.domain, &a.hash_did(), None)
        .await
        .map_err(step("put token for queue A"))?;
    match sender
        .put(&c.domain, &b.hash_did(), &t.token, "wrong queue")
        .await
    {
        Err(MqHubError::Forbidden(_)) => Ok(Outcome::pass()),
        other => Err(fail(
            "put into queue B with a token for queue A",
            "403",
            format!("{other:?}"),
        )),
    }
}

async fn put_expired(c: Arc<Ctx>) -> R {
    let rcpt = c.client();
    let sender = c.client();
    let t = sender
        .token(&c.domain, &rcpt.hash_did(), Some(1))
        .await
        .map_err(step("short token"))?;
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    if t.expires_ms > now_ms + 5_000 {
        return Ok(Outcome::skip(
            "the server ignores x-mq-token-lifetime: expiry cannot be reached within the case bound",
        ));
    }
    // Expiry is a point in time: wait until it has passed (plus one second of clock granularity).
    tokio::time::sleep(Duration::from_millis(
        t.expires_ms.saturating_sub(now_ms) + 1_100,
    ))
    .await;
    match sender
        .put(&c.domain, &rcpt.hash_did(), &t.token, "late")
        .await
    {
        Err(MqHubError::Forbidden(_)) => Ok(Outcome::pass()),
        other => Err(fail(
            "put with an expired token",
            "403",
            format!("{other:?}"),
        )),
    }
}

async fn put_disabled(c: Arc<Ctx>) -> R {
    let rcpt = c.client();
    let r = raw(
        &c,
        Method::PUT,
        &format!("/mq/{}/put/{}", c.disabled, rcpt.hash_did()),
        None,
        &[],
        Some(b"x".to_vec()),
    )
    .await?;
    expect(
        "put on a domain without MQ (checked before the token)",
        r,
        &[405],
    )
}

async fn put_size_at_limit(c: Arc<Ctx>) -> R {
    let max = c
        .limits
        .max_size
        .ok_or_else(|| Outcome::skip("pass --set max_message_size=N"))?;
    let (cl, t) = owner(&c).await?;
    cl.put(&c.domain, &cl.hash_did(), &t, vec![b'a'; max])
        .await
        .map_err(step("put of exactly max_message_size bytes"))?;
    Ok(Outcome::pass())
}

async fn put_size_over_limit(c: Arc<Ctx>) -> R {
    let max = c
        .limits
        .max_size
        .ok_or_else(|| Outcome::skip("pass --set max_message_size=N"))?;
    let (cl, t) = owner(&c).await?;
    match cl
        .put(&c.domain, &cl.hash_did(), &t, vec![b'a'; max + 1])
        .await
    {
        Err(MqHubError::Forbidden(_)) | Err(MqHubError::Status { status: 413, .. }) => {
            Ok(Outcome::pass())
        }
        other => Err(fail(
            "put of max_message_size + 1 bytes",
            "403 (apihub) or 413",
            format!("{other:?}"),
        )),
    }
}

async fn put_queue_limit(c: Arc<Ctx>) -> R {
    let max = c
        .limits
        .max_len
        .ok_or_else(|| Outcome::skip("pass --set max_queue_length=N"))?;
    if max > 200 {
        return Ok(Outcome::skip(format!(
            "max_queue_length {max} is too long to fill in a case"
        )));
    }
    let (cl, t) = owner(&c).await?;
    for i in 0..max {
        cl.put(&c.domain, &cl.hash_did(), &t, format!("m{i}"))
            .await
            .map_err(step("put below the limit"))?;
    }
    match cl.put(&c.domain, &cl.hash_did(), &t, "one too many").await {
        Err(MqHubError::Status { status: 500, .. })
        | Err(MqHubError::Status { status: 429, .. })
        | Err(MqHubError::Status { status: 507, .. }) => {}
        other => {
            return Err(fail(
                format!("put number {} into a queue of max {max}", max + 1),
                "500 Queue size exceeded",
                format!("{other:?}"),
            ));
        }
    }
    // drain: exactly max messages
    let mut n = 0;
    while let Some(m) = cl
        .take(&c.domain, &t, None)
        .await
        .map_err(step("drain take"))?
    {
        n += 1;
        if m.message == "one too many" || n > max + 1 {
            return Err(fail(
                "the refused message was stored",
                format!("{max} messages"),
                format!("{n}+"),
            ));
        }
    }
    if n == max {
        Ok(Outcome::pass())
    } else {
        Err(fail("queue length", max.to_string(), n.to_string()))
    }
}

async fn put_invalid_utf8(c: Arc<Ctx>) -> R {
    let (cl, t) = owner(&c).await?;
    let r = raw(
        &c,
        Method::PUT,
        &format!("/mq/{}/put/{}", c.domain, cl.hash_did()),
        Some(&t),
        &[],
        Some(vec![0xff, 0xfe, 0x80]),
    )
    .await?;
    if r.0 == 200 {
        // accepted: then it must come back unmangled or the reply is not JSON-representable
        let m = cl.get(&c.domain, &t).await;
        return Err(fail(
            "a body that is not UTF-8 was accepted",
            "400 (the reply's message is a JSON string)",
            format!("200; get then gave {m:?}"),
        ));
    }
    expect("put of invalid UTF-8", r, &[400, 403, 415, 422])
}

async fn put_huge_body(c: Arc<Ctx>) -> R {
    let (cl, t) = owner(&c).await?;
    let big = vec![b'x'; 8 * 1024 * 1024];
    let r = raw(
        &c,
        Method::PUT,
        &format!("/mq/{}/put/{}", c.domain, cl.hash_did()),
        Some(&t),
        &[],
        Some(big),
    )
    .await;
    match r {
        Ok((s, _)) if s == 403 || s == 413 => {}
        // closing the connection early is also a refusal; the server must still answer after
        Err(_) => {}
        Ok((s, b)) => {
            return Err(fail(
                "8 MiB body",
                "403 or 413",
                format!("{s}: {}", truncate(&b)),
            ));
        }
    }
    cl.put(&c.domain, &cl.hash_did(), &t, "after")
        .await
        .map_err(step("put after the huge body"))?;
    Ok(Outcome::pass())
}

async fn put_sender(c: Arc<Ctx>) -> R {
    let (rcpt, t) = owner(&c).await?;
    let sender = c.client();
    let pt = sender
        .token(&c.domain, &rcpt.hash_did(), None)
        .await
        .map_err(step("put token"))?;
    sender
        .put(&c.domain, &rcpt.hash_did(), &pt.token, "from sender")
        .await
        .map_err(step("put"))?;
    let m = rcpt
        .get(&c.domain, &t)
        .await
        .map_err(step("get"))?
        .ok_or_else(|| fail("get", "200", "204"))?;
    match c.profile {
        // RFC-130 §3.3.1: {"message", "sender"}; the sender is the authenticated putter.
        Profile::Rfc130 if m.sender.as_deref() == Some(sender.did()) => Ok(Outcome::pass()),
        Profile::Opendsu if m.message_id.is_some() => Ok(Outcome::pass()),
        _ => Err(fail(
            "reply fields",
            match c.profile {
                Profile::Rfc130 => format!("sender = {}", sender.did()),
                Profile::Opendsu => "messageId present".into(),
            },
            format!("{m:?}"),
        )),
    }
}

// ---------------------------------------------------------------- get (§3)

async fn get_ok(c: Arc<Ctx>) -> R {
    let (cl, t) = owner(&c).await?;
    put_n(&c, &cl, &t, &["welcome"]).await?;
    let sig = cl.key().signature_of_did(&t);
    let (s, body) = raw(
        &c,
        Method::GET,
        &get_path(&c, &cl.hash_did(), &sig),
        Some(&t),
        &[],
        None,
    )
    .await?;
    let v: serde_json::Value = serde_json::from_str(&body).map_err(|_| {
        fail(
            "get reply",
            "JSON {\"message\": ...}",
            format!("{s}: {}", truncate(&body)),
        )
    })?;
    if s == 200 && v.get("message").and_then(|m| m.as_str()) == Some("welcome") {
        Ok(Outcome::pass())
    } else {
        Err(fail(
            "get reply",
            "200 {\"message\":\"welcome\"}",
            format!("{s}: {body}"),
        ))
    }
}

async fn get_keeps(c: Arc<Ctx>) -> R {
    let (cl, t) = owner(&c).await?;
    put_n(&c, &cl, &t, &["stay"]).await?;
    let a = cl.get(&c.domain, &t).await.map_err(step("first get"))?;
    let b = cl.get(&c.domain, &t).await.map_err(step("second get"))?;
    match (a, b) {
        (Some(a), Some(b)) if a == b && a.message == "stay" => Ok(Outcome::pass()),
        (a, b) => Err(fail(
            "get twice",
            "the same message both times",
            format!("{a:?} / {b:?}"),
        )),
    }
}

async fn get_fifo(c: Arc<Ctx>) -> R {
    let (cl, t) = owner(&c).await?;
    put_n(&c, &cl, &t, &["1", "2", "3"]).await?;
    let mut seen = Vec::new();
    for _ in 0..3 {
        let m = cl
            .get(&c.domain, &t)
            .await
            .map_err(step("get"))?
            .ok_or_else(|| fail("get", "a message", "204"))?;
        let id = m
            .message_id
            .clone()
            .ok_or_else(|| fail("get reply", "a messageId", format!("{m:?}")))?;
        cl.delete(&c.domain, &t, &id)
            .await
            .map_err(step("delete"))?;
        seen.push(m.message);
    }
    if seen == ["1", "2", "3"] {
        Ok(Outcome::pass())
    } else {
        Err(fail("order", "1, 2, 3", seen.join(", ")))
    }
}

async fn get_long_poll_204(c: Arc<Ctx>) -> R {
    let cl = c.client();
    let tok = cl.own_token(&c.domain).await.map_err(step("token"))?;
    let ms = timeout_ms(&c, tok.connection_timeout_ms)?;
    let t0 = Instant::now();
    let r = cl
        .get(&c.domain, &tok.token)
        .await
        .map_err(step("get on an empty queue"))?;
    let el = t0.elapsed().as_millis() as u64;
    if r.is_some() {
        return Err(fail("empty queue", "204", format!("{r:?}")));
    }
    if el + 50 < ms / 2 || el > ms * 3 + 1_000 {
        return Err(fail(
            "long poll duration",
            format!("about {ms} ms then 204"),
            format!("204 after {el} ms"),
        ));
    }
    Ok(Outcome::pass_with(
        Evidence::new(format!("204 after {el} ms (timeout {ms} ms)"))
            .figure("elapsed_ms", el as f64),
    ))
}

async fn get_wakes(c: Arc<Ctx>) -> R {
    let (cl, t) = owner(&c).await?;
    let (cl2, t2) = (cl.clone(), t.clone());
    let d = c.domain.clone();
    let parked = tokio::spawn(async move { cl2.get(&d, &t2).await });
    tokio::time::sleep(Duration::from_millis(100)).await;
    put_n(&c, &cl, &t, &["wake"]).await?;
    match parked.await {
        Ok(Ok(Some(m))) if m.message == "wake" => Ok(Outcome::pass()),
        other => Err(fail(
            "a parked get after a put",
            "200 with the message",
            format!("{other:?}"),
        )),
    }
}

async fn get_one_wakes_one(c: Arc<Ctx>) -> R {
    let (cl, t) = owner(&c).await?;
    let mut tasks = Vec::new();
    for _ in 0..3 {
        let (cl2, t2, d) = (cl.clone(), t.clone(), c.domain.clone());
        tasks.push(tokio::spawn(async move { cl2.get(&d, &t2).await }));
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    put_n(&c, &cl, &t, &["only one"]).await?;
    let mut delivered = 0;
    for task in tasks {
        if let Ok(Ok(Some(_))) = task.await {
            delivered += 1;
        }
    }
    if delivered == 1 {
        Ok(Outcome::pass())
    } else {
        Err(fail(
            "3 parked gets, 1 put",
            "exactly one delivery",
            format!("{delivered} deliveries"),
        ))
    }
}

async fn get_no_token(c: Arc<Ctx>) -> R {
    let (cl, t) = owner(&c).await?;
    let sig = cl.key().signature_of_did(&t);
    let r = raw(
        &c,
        Method::GET,
        &get_path(&c, &cl.hash_did(), &sig),
        None,
        &[],
        None,
    )
    .await?;
    expect("get without a token", r, &[401, 403])
}

async fn get_wrong_did_sig(c: Arc<Ctx>) -> R {
    let (cl, t) = owner(&c).await?;
    put_n(&c, &cl, &t, &["secret"]).await?;
    let other = c.client();
    let sig = other.key().signature_of_did(&t);
    let r = raw(
        &c,
        Method::GET,
        &get_path(&c, &cl.hash_did(), &sig),
        Some(&t),
        &[],
        None,
    )
    .await?;
    expect("get with a signatureOfDid by another DID", r, &[401, 403])
}

async fn get_malformed_sig(c: Arc<Ctx>) -> R {
    let (cl, t) = owner(&c).await?;
    put_n(&c, &cl, &t, &["secret"]).await?;
    let r = raw(
        &c,
        Method::GET,
        &get_path(&c, &cl.hash_did(), "zz-not-hex"),
        Some(&t),
        &[],
        None,
    )
    .await?;
    expect(
        "get with a signatureOfDid that is not hex DER",
        r,
        &[400, 401, 403],
    )
}

async fn get_sig_other_data(c: Arc<Ctx>) -> R {
    let (cl, t) = owner(&c).await?;
    put_n(&c, &cl, &t, &["secret"]).await?;
    let sig = cl.key().signature_of_did("some other token");
    let r = raw(
        &c,
        Method::GET,
        &get_path(&c, &cl.hash_did(), &sig),
        Some(&t),
        &[],
        None,
    )
    .await?;
    expect(
        "get with the owner's signature over other data",
        r,
        &[401, 403],
    )
}

async fn get_put_token(c: Arc<Ctx>) -> R {
    let (rcpt, t) = owner(&c).await?;
    put_n(&c, &rcpt, &t, &["secret"]).await?;
    let snoop = c.client();
    let pt = snoop
        .token(&c.domain, &rcpt.hash_did(), None)
        .await
        .map_err(step("put token"))?;
    let sig = snoop.key().signature_of_did(&pt.token);
    let r = raw(
        &c,
        Method::GET,
        &get_path(&c, &rcpt.hash_did(), &sig),
        Some(&pt.token),
        &[],
        None,
    )
    .await?;
    expect("get on another's queue with a put token", r, &[401, 403])
}

async fn get_other_owner_token(c: Arc<Ctx>) -> R {
    let (a, ta) = owner(&c).await?;
    let (b, tb) = owner(&c).await?;
    put_n(&c, &b, &tb, &["for b"]).await?;
    let sig = a.key().signature_of_did(&ta);
    let r = raw(
        &c,
        Method::GET,
        &get_path(&c, &b.hash_did(), &sig),
        Some(&ta),
        &[],
        None,
    )
    .await?;
    expect(
        "get on queue B with A's valid token and signature",
        r,
        &[401, 403],
    )
}

async fn get_disabled(c: Arc<Ctx>) -> R {
    let (cl, t) = owner(&c).await?;
    let sig = cl.key().signature_of_did(&t);
    let r = raw(
        &c,
        Method::GET,
        &format!("/mq/{}/get/{}/{sig}", c.disabled, cl.hash_did()),
        Some(&t),
        &[],
        None,
    )
    .await?;
    expect("get on a domain without MQ", r, &[405])
}

async fn get_self_minted(c: Arc<Ctx>) -> R {
    let cl = c.client();
    let t = self_minted(&c, cl.did(), &cl.hash_did())?;
    match cl.get(&c.domain, &t).await {
        Err(MqHubError::Forbidden(_)) => Ok(Outcome::pass()),
        other => Err(fail(
            "get with a self-minted token",
            "403",
            format!("{other:?}"),
        )),
    }
}

async fn ids_url_safe_unique(c: Arc<Ctx>) -> R {
    let (cl, t) = owner(&c).await?;
    let n = c.limits.max_len.unwrap_or(5).min(5);
    let bodies: Vec<String> = (0..n).map(|i| format!("m{i}")).collect();
    let refs: Vec<&str> = bodies.iter().map(String::as_str).collect();
    put_n(&c, &cl, &t, &refs).await?;
    let mut ids = HashSet::new();
    while let Some(m) = cl.take(&c.domain, &t, None).await.map_err(step("take"))? {
        let id = m
            .message_id
            .ok_or_else(|| fail("reply", "messageId", "none"))?;
        if !id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b))
        {
            return Err(fail("message id", "URL-safe (RFC 3986 unreserved)", id));
        }
        if !ids.insert(id.clone()) {
            return Err(fail("message ids", "unique", format!("{id} twice")));
        }
    }
    if ids.len() == n {
        Ok(Outcome::pass())
    } else {
        Err(fail("messages", n.to_string(), ids.len().to_string()))
    }
}

async fn get_200_has_body(c: Arc<Ctx>) -> R {
    let (cl, t) = owner(&c).await?;
    put_n(&c, &cl, &t, &[""]).await?;
    let sig = cl.key().signature_of_did(&t);
    let (s, body) = raw(
        &c,
        Method::GET,
        &get_path(&c, &cl.hash_did(), &sig),
        Some(&t),
        &[],
        None,
    )
    .await?;
    let ok = s == 200
        && serde_json::from_str::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v.get("message").map(|m| m.is_string()))
            .unwrap_or(false);
    if ok {
        Ok(Outcome::pass())
    } else {
        Err(fail(
            "a 200 reply for an empty message",
            "a JSON body with \"message\": \"\"",
            format!("{s}: {body:?}"),
        ))
    }
}

// ---------------------------------------------------------------- delete (§4)

async fn delete_ok(c: Arc<Ctx>) -> R {
    let (cl, t) = owner(&c).await?;
    put_n(&c, &cl, &t, &["a", "b"]).await?;
    let m = cl
        .get(&c.domain, &t)
        .await
        .map_err(step("get"))?
        .ok_or_else(|| fail("get", "200", "204"))?;
    let id = m
        .message_id
        .ok_or_else(|| fail("get reply", "messageId", "none"))?;
    cl.delete(&c.domain, &t, &id)
        .await
        .map_err(step("delete"))?;
    let next = cl
        .get(&c.domain, &t)
        .await
        .map_err(step("get after delete"))?;
    match next {
        Some(n) if n.message == "b" => Ok(Outcome::pass()),
        other => Err(fail(
            "after deleting the head",
            "the next message \"b\"",
            format!("{other:?}"),
        )),
    }
}

async fn delete_missing(c: Arc<Ctx>) -> R {
    let (cl, t) = owner(&c).await?;
    match cl.delete(&c.domain, &t, "999999999_missing").await {
        Err(MqHubError::NoSuchMessage(_)) | Err(MqHubError::Status { status: 500, .. }) => {
            Ok(Outcome::pass())
        }
        other => Err(fail(
            "delete of an id not in the queue",
            "404 (or 500 per §4.3), not a silent 200",
            format!("{other:?}"),
        )),
    }
}

async fn delete_bad_sig(c: Arc<Ctx>) -> R {
    let (cl, t) = owner(&c).await?;
    put_n(&c, &cl, &t, &["keep"]).await?;
    let m = cl
        .get(&c.domain, &t)
        .await
        .map_err(step("get"))?
        .ok_or_else(|| fail("get", "200", "204"))?;
    let id = m
        .message_id
        .ok_or_else(|| fail("get reply", "messageId", "none"))?;
    let other = c.client();
    let sig = other.key().signature_of_did(&t);
    let r = raw(
        &c,
        Method::DELETE,
        &delete_path(&c, &cl.hash_did(), &id, &sig),
        Some(&t),
        &[],
        None,
    )
    .await?;
    expect("delete with another DID's signature", r, &[401, 403])?;
    let still = cl.get(&c.domain, &t).await.map_err(step("get"))?;
    if still.is_some() {
        Ok(Outcome::pass())
    } else {
        Err(fail(
            "the refused delete removed the message",
            "message kept",
            "gone",
        ))
    }
}

async fn delete_no_token(c: Arc<Ctx>) -> R {
    let (cl, t) = owner(&c).await?;
    let sig = cl.key().signature_of_did(&t);
    let r = raw(
        &c,
        Method::DELETE,
        &delete_path(&c, &cl.hash_did(), "1_x", &sig),
        None,
        &[],
        None,
    )
    .await?;
    expect("delete without a token", r, &[401, 403])
}

async fn delete_malformed_id(c: Arc<Ctx>) -> R {
    let (cl, t) = owner(&c).await?;
    put_n(&c, &cl, &t, &["keep"]).await?;
    let sig = cl.key().signature_of_did(&t);
    let r = raw(
        &c,
        Method::DELETE,
        &delete_path(&c, &cl.hash_did(), "..%2F..%2Fetc", &sig),
        Some(&t),
        &[],
        None,
    )
    .await?;
    if r.0 == 200 || r.0 >= 500 {
        return Err(fail(
            "delete with a path-trick id",
            "a 4xx answer",
            format!("{}: {}", r.0, truncate(&r.1)),
        ));
    }
    let still = cl.get(&c.domain, &t).await.map_err(step("get"))?;
    if still.is_some() {
        Ok(Outcome::pass())
    } else {
        Err(fail(
            "queue after a malformed delete",
            "message kept",
            "gone",
        ))
    }
}

async fn delete_cross_queue(c: Arc<Ctx>) -> R {
    let (a, ta) = owner(&c).await?;
    let (b, tb) = owner(&c).await?;
    put_n(&c, &a, &ta, &["a's"]).await?;
    let m = a
        .get(&c.domain, &ta)
        .await
        .map_err(step("get"))?
        .ok_or_else(|| fail("get", "200", "204"))?;
    let id = m
        .message_id
        .ok_or_else(|| fail("get reply", "messageId", "none"))?;
    let _ = b.delete(&c.domain, &tb, &id).await;
    let still = a.get(&c.domain, &ta).await.map_err(step("get"))?;
    if still.is_some() {
        Ok(Outcome::pass())
    } else {
        Err(fail(
            "B deleted A's message id through B's queue",
            "A's message kept",
            "gone",
        ))
    }
}

// ---------------------------------------------------------------- take (§5)

async fn take_ok(c: Arc<Ctx>) -> R {
    let (cl, t) = owner(&c).await?;
    put_n(&c, &cl, &t, &["x", "y"]).await?;
    let m = cl.take(&c.domain, &t, None).await.map_err(step("take"))?;
    let n = cl.get(&c.domain, &t).await.map_err(step("get"))?;
    match (m, n) {
        (Some(m), Some(n)) if m.message == "x" && n.message == "y" => Ok(Outcome::pass()),
        (m, n) => Err(fail(
            "take then get",
            "x taken, y next",
            format!("{m:?} / {n:?}"),
        )),
    }
}

async fn take_by_id(c: Arc<Ctx>) -> R {
    let (cl, t) = owner(&c).await?;
    put_n(&c, &cl, &t, &["first", "second"]).await?;
    // find the id of "second"
    let m = cl
        .get(&c.domain, &t)
        .await
        .map_err(step("get"))?
        .ok_or_else(|| fail("get", "200", "204"))?;
    let id1 = m
        .message_id
        .ok_or_else(|| fail("get reply", "messageId", "none"))?;
    let taken = cl
        .take(&c.domain, &t, Some(&id1))
        .await
        .map_err(step("take by id"))?;
    match taken {
        Some(m) if m.message == "first" => {}
        other => {
            return Err(fail(
                "take by id",
                "the message with that id",
                format!("{other:?}"),
            ));
        }
    }
    match cl.take(&c.domain, &t, Some(&id1)).await {
        Err(MqHubError::NoSuchMessage(_)) | Err(MqHubError::Status { status: 500, .. }) => {
            Ok(Outcome::pass())
        }
        other => Err(fail(
            "take of an id already taken",
            "404 (or 500 per §5.3)",
            format!("{other:?}"),
        )),
    }
}

async fn take_exactly_once(c: Arc<Ctx>) -> R {
    let (cl, t) = owner(&c).await?;
    let n = c.limits.max_len.unwrap_or(5).min(5);
    match c.profile {
        Profile::Rfc130 => {
            put_n(&c, &cl, &t, &["only"]).await?;
            let m = cl
                .get(&c.domain, &t)
                .await
                .map_err(step("get"))?
                .ok_or_else(|| fail("get", "200", "204"))?;
            let id = m
                .message_id
                .ok_or_else(|| fail("get reply", "messageId", "none"))?;
            let mut tasks = Vec::new();
            for _ in 0..8 {
                let (cl2, t2, d, id2) = (cl.clone(), t.clone(), c.domain.clone(), id.clone());
                tasks.push(tokio::spawn(
                    async move { cl2.take(&d, &t2, Some(&id2)).await },
                ));
            }
            let mut wins = 0;
            for task in tasks {
                if let Ok(Ok(Some(_))) = task.await {
                    wins += 1;
                }
            }
            if wins == 1 {
                Ok(Outcome::pass())
            } else {
                Err(fail(
                    "8 concurrent takes of one id",
                    "exactly one 200",
                    format!("{wins}"),
                ))
            }
        }
        Profile::Opendsu => {
            let mut tasks = Vec::new();
            for _ in 0..n {
                let (cl2, t2, d) = (cl.clone(), t.clone(), c.domain.clone());
                tasks.push(tokio::spawn(async move { cl2.take(&d, &t2, None).await }));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
            let bodies: Vec<String> = (0..n).map(|i| format!("m{i}")).collect();
            let refs: Vec<&str> = bodies.iter().map(String::as_str).collect();
            put_n(&c, &cl, &t, &refs).await?;
            let mut got = Vec::new();
            for task in tasks {
                if let Ok(Ok(Some(m))) = task.await {
                    got.push(m.message);
                }
            }
            // whatever the parked takes missed (timeout) must still be in the queue
            while let Some(m) = cl.take(&c.domain, &t, None).await.map_err(step("drain"))? {
                got.push(m.message);
                if got.len() > 2 * n {
                    break;
                }
            }
            let mut sorted = got.clone();
            sorted.sort();
            let mut want = bodies.clone();
            want.sort();
            if sorted == want {
                Ok(Outcome::pass())
            } else {
                Err(fail(
                    "concurrent takes",
                    format!("each of {want:?} once"),
                    format!("{sorted:?}"),
                ))
            }
        }
    }
}

async fn take_abandoned(c: Arc<Ctx>) -> R {
    let (cl, t) = owner(&c).await?;
    let (cl2, t2, d) = (cl.clone(), t.clone(), c.domain.clone());
    let parked = tokio::spawn(async move { cl2.take(&d, &t2, None).await });
    tokio::time::sleep(Duration::from_millis(100)).await;
    parked.abort(); // drops the connection
    let _ = parked.await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    put_n(&c, &cl, &t, &["must survive"]).await?;
    match cl.get(&c.domain, &t).await {
        Ok(Some(m)) if m.message == "must survive" => Ok(Outcome::pass()),
        other => Err(fail(
            "a take abandoned by its client, then a put",
            "the message still in the queue",
            format!("{other:?}"),
        )),
    }
}

async fn take_bad_sig(c: Arc<Ctx>) -> R {
    let (cl, t) = owner(&c).await?;
    put_n(&c, &cl, &t, &["keep"]).await?;
    let other = c.client();
    let sig = other.key().signature_of_did(&t);
    let r = raw(
        &c,
        Method::GET,
        &take_path(&c, &cl.hash_did(), None, &sig),
        Some(&t),
        &[],
        None,
    )
    .await?;
    expect("take with another DID's signature", r, &[401, 403])?;
    let still = cl.get(&c.domain, &t).await.map_err(step("get"))?;
    if still.is_some() {
        Ok(Outcome::pass())
    } else {
        Err(fail("refused take consumed the message", "kept", "gone"))
    }
}

async fn take_no_token(c: Arc<Ctx>) -> R {
    let (cl, t) = owner(&c).await?;
    let sig = cl.key().signature_of_did(&t);
    let r = raw(
        &c,
        Method::GET,
        &take_path(&c, &cl.hash_did(), None, &sig),
        None,
        &[],
        None,
    )
    .await?;
    expect("take without a token", r, &[401, 403])
}

async fn take_empty_204(c: Arc<Ctx>) -> R {
    let cl = c.client();
    let tok = cl.own_token(&c.domain).await.map_err(step("token"))?;
    let ms = timeout_ms(&c, tok.connection_timeout_ms)?;
    let t0 = Instant::now();
    let r = cl.take(&c.domain, &tok.token, None).await;
    match r {
        Ok(None) => Ok(Outcome::pass_with(Evidence::new(format!(
            "204 after {} ms (timeout {ms})",
            t0.elapsed().as_millis()
        )))),
        other => Err(fail(
            "take on an empty queue",
            "204 after the connection timeout",
            format!("{other:?}"),
        )),
    }
}

async fn take_disabled(c: Arc<Ctx>) -> R {
    let (cl, t) = owner(&c).await?;
    let sig = cl.key().signature_of_did(&t);
    let path = take_path(&c, &cl.hash_did(), None, &sig).replacen(
        &format!("/mq/{}/", c.domain),
        &format!("/mq/{}/", c.disabled),
        1,
    );
    let r = raw(&c, Method::GET, &path, Some(&t), &[], None).await?;
    expect("take on a domain without MQ", r, &[405])
}

// ---------------------------------------------------------------- paths and headers

async fn path_traversal(c: Arc<Ctx>) -> R {
    let (cl, t) = owner(&c).await?;
    let sig = cl.key().signature_of_did(&t);
    for p in [
        format!("/mq/{}/get/..%2F{}/{sig}", c.domain, cl.hash_did()),
        format!("/mq/{}/get/../{sig}", c.domain),
        format!("/mq/%2e%2e/get/{}/{sig}", cl.hash_did()),
    ] {
        let r = raw(&c, Method::GET, &p, Some(&t), &[], None).await?;
        if r.0 == 200 || r.0 >= 500 {
            return Err(fail(
                format!("GET {p}"),
                "a 4xx answer",
                format!("{}: {}", r.0, truncate(&r.1)),
            ));
        }
    }
    Ok(Outcome::pass())
}

async fn path_bad_hash(c: Arc<Ctx>) -> R {
    let (cl, t) = owner(&c).await?;
    let r = raw(
        &c,
        Method::PUT,
        &format!("/mq/{}/put/0OIl-not-base58", c.domain),
        Some(&t),
        &[],
        Some(b"x".to_vec()),
    )
    .await?;
    drop(cl);
    if r.0 == 200 || r.0 >= 500 {
        return Err(fail(
            "put to a hashDID that is not base58",
            "a 4xx answer",
            format!("{}: {}", r.0, truncate(&r.1)),
        ));
    }
    Ok(Outcome::pass())
}

async fn path_unknown(c: Arc<Ctx>) -> R {
    let r = raw(
        &c,
        Method::GET,
        &format!("/mq/{}/bogus/x/y/z/w", c.domain),
        None,
        &[],
        None,
    )
    .await?;
    expect("an unknown route", r, &[404, 405])
}

async fn huge_header(c: Arc<Ctx>) -> R {
    let (cl, t) = owner(&c).await?;
    let sig = cl.key().signature_of_did(&t);
    let h = [("x-padding", "a".repeat(512 * 1024))];
    match raw(
        &c,
        Method::GET,
        &get_path(&c, &cl.hash_did(), &sig),
        Some(&t),
        &h,
        None,
    )
    .await
    {
        Ok((s, _)) if (400..500).contains(&s) => {}
        Err(_) => {} // connection closed: a refusal too
        Ok((s, b)) => {
            return Err(fail(
                "512 KiB header",
                "431 or another 4xx",
                format!("{s}: {}", truncate(&b)),
            ));
        }
    }
    // still serving
    put_n(&c, &cl, &t, &["alive"]).await?;
    Ok(Outcome::pass())
}

async fn huge_token(c: Arc<Ctx>) -> R {
    let rcpt = c.client();
    let tok = "a".repeat(64 * 1024);
    let r = raw(
        &c,
        Method::PUT,
        &format!("/mq/{}/put/{}", c.domain, rcpt.hash_did()),
        Some(&tok),
        &[],
        Some(b"x".to_vec()),
    )
    .await?;
    expect("a 64 KiB garbage token", r, &[400, 401, 403, 431])
}

async fn wrong_method(c: Arc<Ctx>) -> R {
    let (cl, t) = owner(&c).await?;
    let r = raw(
        &c,
        Method::POST,
        &format!("/mq/{}/put/{}", c.domain, cl.hash_did()),
        Some(&t),
        &[],
        Some(b"x".to_vec()),
    )
    .await?;
    if r.0 == 200 {
        return Err(fail(
            "POST on the put route",
            "not 200 (the document says PUT)",
            "200",
        ));
    }
    Ok(Outcome::pass())
}

// ---------------------------------------------------------------- registry

macro_rules! cases {
    ($p:expr, $( ($slug:literal, $doc:expr, $sec:literal, $lvl:ident, $desc:literal, $req:literal, $f:ident $(, only = $only:ident)?) ),* $(,)?) => {{
        let p: Profile = $p;
        let mut v: Vec<Case<Ctx>> = Vec::new();
        $(
            let applies = true $( && p == Profile::$only )?;
            if applies {
                let mut m = meta(SUITE, format!("{SUITE}/{}/{}", p.as_str(), $slug), SpecRef::new($doc, $sec), Level::$lvl, $desc, $req);
                m.profiles = vec![p.as_str().to_string()];
                v.push(Case::new(m, |c| async move { $f(c).await.unwrap_or_else(|o| o) }));
            }
        )*
        v
    }};
}

/// Every case of one profile.
pub fn all(p: Profile) -> Vec<Case<Ctx>> {
    cases![
        p,
        (
            "token/issued-to-holder",
            DOC,
            "1.2",
            Must,
            "token request with a holder proof",
            "200 {\"token\", \"expires\"} with expires in ms in the future",
            token_issued
        ),
        (
            "token/requires-holder-proof",
            NOTES,
            "defect 2",
            Must,
            "token request with no proof of holding the DID",
            "403: anyone must not get a token for any hashDID",
            token_no_proof
        ),
        (
            "token/proof-by-wrong-key",
            NOTES,
            "defect 2",
            Must,
            "token request for a DID with a proof signed by another key",
            "403",
            token_wrong_proof
        ),
        (
            "token/stale-proof",
            NOTES,
            "defect 2",
            Must,
            "token request with a proof one hour old",
            "403 (replay window)",
            token_stale_proof
        ),
        (
            "token/mq-disabled-405",
            DOC,
            "2.4",
            Must,
            "token request on a domain without MQ",
            "405",
            token_disabled
        ),
        (
            "token/malformed-hashdid",
            DOC,
            "1.1",
            Must,
            "token for a hashDID that is not base58 SHA-256",
            "4xx, no token",
            token_bad_hash
        ),
        (
            "token/connection-timeout-header",
            NOTES,
            "GET",
            Should,
            "token reply carries connection-timeout",
            "a positive connection-timeout header (ms)",
            token_conn_timeout_header
        ),
        (
            "put/ok-200",
            DOC,
            "2.4",
            Must,
            "put with a put token for the target queue",
            "200",
            put_ok
        ),
        (
            "put/no-token-403",
            DOC,
            "2.4",
            Must,
            "put without a token",
            "403",
            put_no_token
        ),
        (
            "put/garbage-token-403",
            DOC,
            "2.4",
            Must,
            "put with a token that is not a token",
            "403",
            put_garbage_token
        ),
        (
            "put/self-minted-token-403",
            NOTES,
            "defect 3",
            Must,
            "put with a token signed by the client's own key (publicKey inside)",
            "403: tokens are verified with the server's key",
            put_self_minted
        ),
        (
            "put/token-for-other-queue-403",
            NOTES,
            "defect 4",
            Must,
            "put into queue B with a token for queue A",
            "403",
            put_other_queue_token
        ),
        (
            "put/expired-token-403",
            DOC,
            "2.4",
            Must,
            "put with an expired token",
            "403 (RFC 7519 §4.1.4)",
            put_expired
        ),
        (
            "put/mq-disabled-405",
            DOC,
            "2.4",
            Must,
            "put on a domain without MQ",
            "405, before the token check",
            put_disabled
        ),
        (
            "put/size-at-limit-200",
            NOTES,
            "PUT",
            Must,
            "put of exactly max_message_size bytes",
            "200 (no off-by-one)",
            put_size_at_limit
        ),
        (
            "put/size-over-limit-403",
            NOTES,
            "PUT",
            Must,
            "put of max_message_size + 1 bytes",
            "403 Message size exceeds domain specific limit.",
            put_size_over_limit
        ),
        (
            "put/queue-limit-exact",
            NOTES,
            "defect 5",
            Must,
            "fill a queue to max_queue_length, then one more",
            "the extra put answers 500 and the queue holds exactly the maximum",
            put_queue_limit
        ),
        (
            "put/invalid-utf8",
            DOC,
            "3.3.1",
            Should,
            "put of a body that is not UTF-8",
            "4xx: the reply's message is a JSON string",
            put_invalid_utf8
        ),
        (
            "put/huge-body-refused",
            DOC,
            "2.4",
            Must,
            "put of an 8 MiB body",
            "403/413 or an early close; the server keeps serving",
            put_huge_body
        ),
        (
            "put/reply-fields",
            DOC,
            "3.3.1",
            Should,
            "get after a put by another DID",
            "rfc130: sender = the putter's DID; opendsu: messageId present",
            put_sender
        ),
        (
            "get/200-message-json",
            DOC,
            "3.3.1",
            Must,
            "get of a queue holding a message",
            "200 {\"message\": ...}",
            get_ok
        ),
        (
            "get/does-not-remove",
            NOTES,
            "GET",
            Must,
            "get twice",
            "the same message both times",
            get_keeps
        ),
        (
            "get/fifo-order",
            NOTES,
            "Storage",
            Must,
            "put 1,2,3; get+delete three times",
            "1, 2, 3",
            get_fifo
        ),
        (
            "get/long-poll-204",
            DOC,
            "3.3",
            Must,
            "get on an empty queue",
            "204 after about the connection timeout",
            get_long_poll_204
        ),
        (
            "get/long-poll-wakes-on-put",
            NOTES,
            "GET",
            Must,
            "a parked get, then a put",
            "200 with the message before the timeout",
            get_wakes
        ),
        (
            "get/one-message-wakes-one-getter",
            NOTES,
            "defect 6",
            Must,
            "three parked gets, one put",
            "exactly one get receives it",
            get_one_wakes_one
        ),
        (
            "get/no-token-403",
            DOC,
            "3.3",
            Must,
            "get without a token",
            "403",
            get_no_token
        ),
        (
            "get/wrong-did-signature-403",
            NOTES,
            "defect 1",
            Must,
            "get with a signatureOfDid made by another DID",
            "403",
            get_wrong_did_sig
        ),
        (
            "get/malformed-signature",
            DOC,
            "3.1",
            Must,
            "get with a signatureOfDid that is not hex DER",
            "400 or 403",
            get_malformed_sig
        ),
        (
            "get/signature-over-other-data-403",
            DOC,
            "3.1",
            Must,
            "get with the owner's signature over something other than the token",
            "403",
            get_sig_other_data
        ),
        (
            "get/put-token-cannot-read-403",
            NOTES,
            "defect 4",
            Must,
            "get on another's queue with a put token for it",
            "403",
            get_put_token
        ),
        (
            "get/other-queue-owner-token-403",
            DOC,
            "3",
            Must,
            "get on queue B with A's valid owner token and A's signature",
            "403",
            get_other_owner_token
        ),
        (
            "get/mq-disabled-405",
            DOC,
            "3.3",
            Must,
            "get on a domain without MQ",
            "405",
            get_disabled
        ),
        (
            "get/self-minted-token-403",
            NOTES,
            "defect 3",
            Must,
            "get with a self-minted token",
            "403",
            get_self_minted
        ),
        (
            "get/ids-url-safe-unique",
            NOTES,
            "Message ids",
            Must,
            "several puts; take all",
            "unique, URL-safe message ids",
            ids_url_safe_unique
        ),
        (
            "get/200-never-empty",
            NOTES,
            "defect 8",
            Must,
            "get of an empty-string message",
            "200 with a JSON body, never an empty 200",
            get_200_has_body
        ),
        (
            "delete/ok-200",
            DOC,
            "4.3",
            Must,
            "delete the head by id",
            "200, and the next get returns the next message",
            delete_ok
        ),
        (
            "delete/missing-id",
            DOC,
            "4.3",
            Should,
            "delete of an id not in the queue",
            "404 or 500, not a silent 200",
            delete_missing
        ),
        (
            "delete/wrong-did-signature-403",
            NOTES,
            "defect 1",
            Must,
            "delete with another DID's signature",
            "403 and the message kept",
            delete_bad_sig
        ),
        (
            "delete/no-token-403",
            DOC,
            "4",
            Must,
            "delete without a token",
            "403",
            delete_no_token
        ),
        (
            "delete/malformed-id",
            DOC,
            "4.1",
            Must,
            "delete with an id full of path tricks",
            "4xx and nothing removed",
            delete_malformed_id
        ),
        (
            "delete/cross-queue",
            DOC,
            "4",
            Must,
            "B deletes A's message id through B's own queue",
            "A's message kept",
            delete_cross_queue
        ),
        (
            "take/200-removes",
            DOC,
            "5.3",
            Must,
            "take from a queue of two",
            "the oldest is returned and removed",
            take_ok
        ),
        (
            "take/by-id",
            DOC,
            "5.1",
            Must,
            "take by message id, twice",
            "200 with that message, then 404/500",
            take_by_id,
            only = Rfc130
        ),
        (
            "take/exactly-once",
            NOTES,
            "take",
            Must,
            "concurrent takes",
            "every message delivered exactly once, none lost",
            take_exactly_once
        ),
        (
            "take/abandoned-consumes-nothing",
            NOTES,
            "defect 7",
            Must,
            "a parked take abandoned by its client, then a put",
            "the message is still there",
            take_abandoned
        ),
        (
            "take/wrong-did-signature-403",
            NOTES,
            "defect 1",
            Must,
            "take with another DID's signature",
            "403 and nothing consumed",
            take_bad_sig
        ),
        (
            "take/no-token-403",
            DOC,
            "5",
            Must,
            "take without a token",
            "403",
            take_no_token
        ),
        (
            "take/empty-queue-204",
            DOC,
            "3.3",
            Should,
            "take on an empty queue",
            "204 after the connection timeout (apihub waits forever)",
            take_empty_204
        ),
        (
            "take/mq-disabled-405",
            DOC,
            "2.4",
            Must,
            "take on a domain without MQ",
            "405",
            take_disabled
        ),
        (
            "paths/traversal",
            DOC,
            "3.1",
            Must,
            "get with ../ and %2e%2e in the path",
            "4xx, never 200 or 5xx",
            path_traversal
        ),
        (
            "paths/bad-hashdid",
            DOC,
            "2.1",
            Must,
            "put to a hashDID that is not base58",
            "4xx",
            path_bad_hash
        ),
        (
            "paths/unknown-route",
            DOC,
            "2",
            Should,
            "an unknown route",
            "404",
            path_unknown
        ),
        (
            "headers/huge-header",
            DOC,
            "3.2",
            Must,
            "a 512 KiB header",
            "4xx (431) or close; the server keeps serving",
            huge_header
        ),
        (
            "headers/huge-token",
            DOC,
            "2.2",
            Must,
            "a 64 KiB garbage token",
            "403 (or 431)",
            huge_token
        ),
        (
            "paths/wrong-method",
            DOC,
            "2",
            Should,
            "POST on the put route",
            "not 200",
            wrong_method
        ),
    ]
}

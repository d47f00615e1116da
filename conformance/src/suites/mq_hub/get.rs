//! Get (RFC-130 §3): the owner reads the oldest message without removing it; long poll;
//! `signatureOfDid` (apihub defect 1).

use std::collections::HashSet;
use std::time::{Duration, Instant};

use mq_hub::Profile;
use sigharness_report::Evidence;

use super::Ctx;
use super::support::{
    CONTRACT, DOC, NOTES, Request, StatusCase, case, done, drain, get_path, meta, owner, put_n,
    raw, self_minted, timeout_ms, truncate,
};
use crate::runner::Case;
use crate::runner::Level::{Must, Should};
use crate::runner::check::{fail, step};

pub fn cases(p: Profile) -> Vec<Case<Ctx>> {
    let mut v = vec![
        case(
            meta(
                p,
                "get/200-message-json",
                DOC,
                "3.3.1",
                Must,
                "get of a queue holding a message",
                "\"200 | The response contains the returned message for this DID\" as §3.3.1: \
                 {\"message\": ...}",
            ),
            |c| async move {
                let (cl, t) = owner(&c).await?;
                put_n(&c, &cl, &t, &["welcome"]).await?;
                let sig = cl.key().signature_of_did(&t);
                let (s, body) = raw(
                    &c,
                    &Request::get(get_path(&c, &cl.hash_did(), &sig)).token(&t),
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
                    done()
                } else {
                    Err(fail(
                        "get reply",
                        "200 {\"message\":\"welcome\"}",
                        format!("{s}: {body}"),
                    ))
                }
            },
        ),
        case(
            meta(
                p,
                "get/does-not-remove",
                DOC,
                "4",
                Must,
                "get twice",
                "the same message both times: §4 \"deletes a message after it is consumed by the \
                 client. The decision on when to delete the message is left to the programmers.\"",
            ),
            |c| async move {
                let (cl, t) = owner(&c).await?;
                put_n(&c, &cl, &t, &["stay"]).await?;
                let a = cl.get(&c.domain, &t).await.map_err(step("first get"))?;
                let b = cl.get(&c.domain, &t).await.map_err(step("second get"))?;
                match (a, b) {
                    (Some(a), Some(b)) if a == b && a.message == "stay" => done(),
                    (a, b) => Err(fail(
                        "get twice",
                        "the same message both times",
                        format!("{a:?} / {b:?}"),
                    )),
                }
            },
        ),
        case(
            meta(
                p,
                "get/fifo-order",
                CONTRACT,
                "C6",
                Should,
                "put 1,2,3; get+delete three times",
                "SHOULD (the document names no order): 1, 2, 3, first in first out, as apihub's \
                 queues are",
            ),
            |c| async move {
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
                    done()
                } else {
                    Err(fail("order", "1, 2, 3", seen.join(", ")))
                }
            },
        ),
        case(
            meta(
                p,
                "get/long-poll-204",
                DOC,
                "3.3",
                Must,
                "get on an empty queue",
                "\"204 | No content yet.\" after about the connection timeout (contract C5)",
            ),
            |c| async move {
                let (cl, tok, header) = super::support::owner_with_timeout(&c).await?;
                let ms = timeout_ms(&c, header)?;
                let t0 = Instant::now();
                let r = cl
                    .get(&c.domain, &tok)
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
                Ok(
                    Evidence::new(format!("204 after {el} ms (timeout {ms} ms)"))
                        .figure("elapsed_ms", el as f64),
                )
            },
        ),
        case(
            meta(
                p,
                "get/long-poll-wakes-on-put",
                DOC,
                "3.3",
                Must,
                "a parked get, then a put",
                "\"200 | The response contains the returned message for this DID when a new message \
                 is available\": the parked get answers with it before the timeout",
            ),
            |c| async move {
                let (cl, t) = owner(&c).await?;
                let (cl2, t2, d) = (cl.clone(), t.clone(), c.domain.clone());
                let parked = tokio::spawn(async move { cl2.get(&d, &t2).await });
                tokio::time::sleep(Duration::from_millis(100)).await;
                put_n(&c, &cl, &t, &["wake"]).await?;
                match parked.await {
                    Ok(Ok(Some(m))) if m.message == "wake" => done(),
                    other => Err(fail(
                        "a parked get after a put",
                        "200 with the message",
                        format!("{other:?}"),
                    )),
                }
            },
        ),
        case(
            meta(
                p,
                "get/one-message-wakes-one-getter",
                NOTES,
                "defect 6",
                Must,
                "three parked gets, one put",
                "exactly one get receives it (defect 6: \"Parked GETs all receive the same first \
                 message at once\")",
            ),
            |c| async move {
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
                    done()
                } else {
                    Err(fail(
                        "3 parked gets, 1 put",
                        "exactly one delivery",
                        format!("{delivered} deliveries"),
                    ))
                }
            },
        ),
        case(
            meta(
                p,
                "get/ids-url-safe-unique",
                DOC,
                "4.1",
                Must,
                "several puts; get + delete each by id",
                "each messageID names one message (§4.1 \"Message ID that should be deleted from MQ \
                 on channel hashDID\") and is a path segment: unique, URL-safe (RFC 3986 unreserved)",
            ),
            |c| async move {
                let (cl, t) = owner(&c).await?;
                let n = c.limits.max_len.unwrap_or(5).min(5);
                let bodies: Vec<String> = (0..n).map(|i| format!("m{i}")).collect();
                let refs: Vec<&str> = bodies.iter().map(String::as_str).collect();
                put_n(&c, &cl, &t, &refs).await?;
                let mut ids = HashSet::new();
                for m in drain(&c, &cl, &t, n).await? {
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
                    done()
                } else {
                    Err(fail("messages", n.to_string(), ids.len().to_string()))
                }
            },
        ),
        case(
            meta(
                p,
                "get/200-never-empty",
                NOTES,
                "defect 8",
                Must,
                "get of an empty-string message",
                "200 with a JSON body, never an empty 200 (defect 8: \"Errors while reading a \
                 message can yield 200 with an empty body\")",
            ),
            |c| async move {
                let (cl, t) = owner(&c).await?;
                put_n(&c, &cl, &t, &[""]).await?;
                let sig = cl.key().signature_of_did(&t);
                let (s, body) = raw(
                    &c,
                    &Request::get(get_path(&c, &cl.hash_did(), &sig)).token(&t),
                )
                .await?;
                let ok = s == 200
                    && serde_json::from_str::<serde_json::Value>(&body)
                        .ok()
                        .and_then(|v| v.get("message").map(|m| m.is_string()))
                        .unwrap_or(false);
                if ok {
                    done()
                } else {
                    Err(fail(
                        "a 200 reply for an empty message",
                        "a JSON body with \"message\": \"\"",
                        format!("{s}: {body:?}"),
                    ))
                }
            },
        ),
        case(
            meta(
                p,
                "get/race-with-delete",
                NOTES,
                "defect 8",
                Must,
                &format!("{RACE_ROUNDS} rounds: gets racing a delete of the head message"),
                "every 200 has a JSON body whose message is a string (defect 8: \"Errors while \
                 reading a message can yield 200 with an empty body\")",
            ),
            |c| async move {
                let (cl, t) = owner(&c).await?;
                let sig = cl.key().signature_of_did(&t);
                let get = || Request::get(get_path(&c, &cl.hash_did(), &sig)).token(&t);
                for round in 0..RACE_ROUNDS {
                    // a second message keeps the queue non-empty: no get waits for the long poll
                    let (a, b) = (format!("a{round}"), format!("b{round}"));
                    put_n(&c, &cl, &t, &[&a, &b]).await?;
                    let id = super::support::head_id(&c, &cl, &t).await?;
                    let (r1, r2, r3) = (get(), get(), get());
                    let (g1, g2, g3, d) = tokio::join!(
                        raw(&c, &r1),
                        raw(&c, &r2),
                        raw(&c, &r3),
                        cl.delete(&c.domain, &t, &id)
                    );
                    d.map_err(step("delete of the head"))?;
                    for (s, body) in [g1?, g2?, g3?] {
                        let ok = serde_json::from_str::<serde_json::Value>(&body)
                            .ok()
                            .is_some_and(|v| v.get("message").is_some_and(|m| m.is_string()));
                        if s == 200 && !ok {
                            return Err(fail(
                                format!("round {}: a get racing the delete of the head", round + 1),
                                "200 with {\"message\": \"...\"} (or another status)",
                                format!("200: {:?}", truncate(&body)),
                            ));
                        }
                    }
                    let rest = super::support::head_id(&c, &cl, &t).await?;
                    cl.delete(&c.domain, &t, &rest)
                        .await
                        .map_err(step("delete of the second message"))?;
                }
                done()
            },
        ),
    ];
    v.extend(STATUS.iter().map(|row| row.case(p)));
    v
}

/// Rounds of the read-race cases.
pub const RACE_ROUNDS: usize = 30;

pub const STATUS: &[StatusCase] = &[
    StatusCase {
        slug: "get/no-token-403",
        doc: DOC,
        section: "3.3",
        level: Must,
        stimulus: "get without a token",
        request: |c| {
            Box::pin(async move {
                let (cl, t) = owner(&c).await?;
                let sig = cl.key().signature_of_did(&t);
                Ok(Request::get(get_path(&c, &cl.hash_did(), &sig)))
            })
        },
        accept: &[403],
        note: "§3.3: \"403 | No token was provided or an invalid token.\"",
    },
    StatusCase {
        slug: "get/wrong-did-signature-403",
        doc: NOTES,
        section: "defect 1",
        level: Must,
        stimulus: "get with a signatureOfDid made by another DID",
        request: |c| {
            Box::pin(async move {
                let (cl, t) = owner(&c).await?;
                put_n(&c, &cl, &t, &["secret"]).await?;
                let sig = c.client().key().signature_of_did(&t);
                Ok(Request::get(get_path(&c, &cl.hash_did(), &sig)).token(t))
            })
        },
        accept: &[401, 403],
        note: "defect 1: \"signatureOfDid is never checked\"; §3.1: signatureOfDid is the \"Signature of the signed token using the same DID document as for hashed DID\"",
    },
    StatusCase {
        slug: "get/malformed-signature",
        doc: DOC,
        section: "3.1",
        level: Must,
        stimulus: "get with a signatureOfDid that is not hex DER",
        request: |c| {
            Box::pin(async move {
                let (cl, t) = owner(&c).await?;
                put_n(&c, &cl, &t, &["secret"]).await?;
                Ok(Request::get(get_path(&c, &cl.hash_did(), "zz-not-hex")).token(t))
            })
        },
        accept: &[400, 401, 403],
        note: "§3.1: signatureOfDid is the \"Signature of the signed token using the same DID document as for hashed DID\"",
    },
    StatusCase {
        slug: "get/signature-over-other-data-403",
        doc: DOC,
        section: "3.1",
        level: Must,
        stimulus: "get with the owner's signature over something other than the token",
        request: |c| {
            Box::pin(async move {
                let (cl, t) = owner(&c).await?;
                put_n(&c, &cl, &t, &["secret"]).await?;
                let sig = cl.key().signature_of_did("some other token");
                Ok(Request::get(get_path(&c, &cl.hash_did(), &sig)).token(t))
            })
        },
        accept: &[401, 403],
        note: "§3.1: signatureOfDid is the \"Signature of the signed token using the same DID document as for hashed DID\"",
    },
    StatusCase {
        slug: "get/put-token-cannot-read-403",
        doc: NOTES,
        section: "defect 1",
        level: Must,
        stimulus: "get on another's queue with a put token for it",
        request: |c| {
            Box::pin(async move {
                let (rcpt, t) = owner(&c).await?;
                put_n(&c, &rcpt, &t, &["secret"]).await?;
                let snoop = c.client();
                let pt = super::support::token_for(&c, &snoop, &rcpt.hash_did()).await?;
                let sig = snoop.key().signature_of_did(&pt);
                Ok(Request::get(get_path(&c, &rcpt.hash_did(), &sig)).token(pt))
            })
        },
        accept: &[401, 403],
        note: "defect 1: the signature must be by the DID whose hash is the queue, not by the holder of a put token",
    },
    StatusCase {
        slug: "get/other-queue-owner-token-403",
        doc: DOC,
        section: "3",
        level: Must,
        stimulus: "get on queue B with A's valid owner token and A's signature",
        request: |c| {
            Box::pin(async move {
                let (a, ta) = owner(&c).await?;
                let (b, tb) = owner(&c).await?;
                put_n(&c, &b, &tb, &["for b"]).await?;
                let sig = a.key().signature_of_did(&ta);
                Ok(Request::get(get_path(&c, &b.hash_did(), &sig)).token(ta))
            })
        },
        accept: &[401, 403],
        note: "§3: the token \"enforces the privacy of the message by checking it against the signature of the DID\"",
    },
    StatusCase {
        slug: "get/mq-disabled-405",
        doc: DOC,
        section: "3.3",
        level: Must,
        stimulus: "get on a domain without MQ",
        request: |c| {
            Box::pin(async move {
                let (cl, t) = owner(&c).await?;
                let sig = cl.key().signature_of_did(&t);
                Ok(
                    Request::get(format!("/mq/{}/get/{}/{sig}", c.disabled, cl.hash_did()))
                        .token(t),
                )
            })
        },
        accept: &[405],
        note: "§3.3: \"405 | Domain doesn’t have an MQ component enabled.\"",
    },
    StatusCase {
        slug: "get/self-minted-token-403",
        doc: NOTES,
        section: "defect 3",
        level: Must,
        stimulus: "get with a self-minted token",
        request: |c| {
            Box::pin(async move {
                let cl = c.client();
                let t = self_minted(&c, cl.did(), &cl.hash_did())?;
                let sig = cl.key().signature_of_did(&t);
                Ok(Request::get(get_path(&c, &cl.hash_did(), &sig)).token(t))
            })
        },
        accept: &[403],
        note: "defect 3: \"self-minted tokens are accepted\"; §3.3: an invalid token is 403",
    },
];

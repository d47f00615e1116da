//! Put (RFC-130 §2): who may put, limits, what a put leaves for the reader.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use mq_hub::{MqHubError, Profile};

use super::Ctx;
use super::support::{
    CONTRACT, DOC, NOTES, Q_BAD_TOKEN, Request, StatusCase, case, done, drain, error_status,
    expect_empty, meta, owner, put_path, raw, self_minted, truncate,
};
use crate::runner::Case;
use crate::runner::Level::{Must, Should};
use crate::runner::check::{expect_status, fail, skip, status_requirement, step};

/// What a put into a full queue may answer (500 "Queue size exceeded" is apihub's).
pub const QUEUE_FULL: &[u16] = &[429, 500, 507];
/// What a put of a body that is not UTF-8 may answer.
pub const NOT_UTF8: &[u16] = &[400, 403, 415, 422];
/// What a put of a body over any sane limit may answer (besides closing the connection).
pub const TOO_BIG: &[u16] = &[403, 413];

pub fn cases(p: Profile) -> Vec<Case<Ctx>> {
    let mut v = vec![
        case(
            meta(
                p,
                "put/ok-200",
                DOC,
                "2.4",
                Must,
                "put with a put token for the target queue",
                "\"200 | Operation successfully added the message to the hashDID queue.\"",
            ),
            |c| async move {
                let (rcpt, sender) = (c.client(), c.client());
                let t = super::support::token_for(&c, &sender, &rcpt.hash_did()).await?;
                sender
                    .put(&c.domain, &rcpt.hash_did(), &t, "hello")
                    .await
                    .map_err(step("put"))?;
                done()
            },
        ),
        case(
            meta(
                p,
                "put/expired-token-403",
                DOC,
                "2.4",
                Must,
                "put with an expired token",
                format!("{Q_BAD_TOKEN} An expired token is invalid (RFC 7519 §4.1.4)."),
            ),
            |c| async move {
                super::support::holder_proof_protocol(&c)?;
                let (rcpt, sender) = (c.client(), c.client());
                let t = sender
                    .token(&c.domain, &rcpt.hash_did(), Some(1))
                    .await
                    .map_err(step("short token"))?;
                let now_ms = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map(|d| d.as_millis() as u64)
                    .unwrap_or(0);
                if t.expires_ms > now_ms + 5_000 {
                    return Err(skip(
                        "the server ignores x-mq-token-lifetime: expiry cannot be reached within the case bound",
                    ));
                }
                // Expiry is a point in time: wait until it has passed (plus one second of clock
                // granularity).
                tokio::time::sleep(Duration::from_millis(
                    t.expires_ms.saturating_sub(now_ms) + 1_100,
                ))
                .await;
                match sender
                    .put(&c.domain, &rcpt.hash_did(), &t.token, "late")
                    .await
                {
                    Err(MqHubError::Forbidden(_)) => done(),
                    other => Err(fail(
                        "put with an expired token",
                        "403",
                        format!("{other:?}"),
                    )),
                }
            },
        ),
        case(
            meta(
                p,
                "put/size-at-limit-200",
                CONTRACT,
                "C8",
                Should,
                "put of exactly max_message_size bytes",
                "SHOULD (the document names no size limit): a body of exactly max_message_size \
                 bytes is stored (200), as apihub's limit reads",
            ),
            |c| async move {
                let max = c
                    .limits
                    .max_size
                    .ok_or_else(|| skip("pass --set max_message_size=N"))?;
                let (cl, t) = owner(&c).await?;
                cl.put(&c.domain, &cl.hash_did(), &t, vec![b'a'; max])
                    .await
                    .map_err(step("put of exactly max_message_size bytes"))?;
                done()
            },
        ),
        case(
            meta(
                p,
                "put/queue-limit-exact",
                NOTES,
                "defect 5",
                Must,
                "fill a queue to max_queue_length, then one more",
                format!(
                    "the extra put answers {} and the queue holds exactly the maximum",
                    status_requirement(QUEUE_FULL)
                ),
            ),
            |c| async move {
                let max = c
                    .limits
                    .max_len
                    .ok_or_else(|| skip("pass --set max_queue_length=N"))?;
                if max > 200 {
                    return Err(skip(format!(
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
                    Err(e) if error_status(&e).is_some_and(|s| QUEUE_FULL.contains(&s)) => {}
                    other => {
                        return Err(fail(
                            format!("put number {} into a queue of max {max}", max + 1),
                            status_requirement(QUEUE_FULL),
                            format!("{other:?}"),
                        ));
                    }
                }
                // Exactly max messages, by get + delete (take may never time out), then empty.
                let got = drain(&c, &cl, &t, max).await?;
                if let Some(i) = got.iter().position(|m| m.message == "one too many") {
                    return Err(fail(
                        "the refused message was stored",
                        format!("{max} messages m0..m{}", max - 1),
                        format!("message {} is \"one too many\"", i + 1),
                    ));
                }
                expect_empty(&c, &cl, &t, "after reading max_queue_length messages").await?;
                done()
            },
        ),
        case(
            meta(
                p,
                "put/invalid-utf8",
                DOC,
                "3.3.1",
                Should,
                "put of a body that is not UTF-8",
                format!(
                    "{}: the reply's message is a JSON string",
                    status_requirement(NOT_UTF8)
                ),
            ),
            |c| async move {
                let (cl, t) = owner(&c).await?;
                let req = Request::put(put_path(&c.domain, &cl.hash_did()), vec![0xff, 0xfe, 0x80])
                    .token(&t);
                let (status, body) = raw(&c, &req).await?;
                if status == 200 {
                    // accepted: show what a reader then gets
                    let m = cl.get(&c.domain, &t).await;
                    return Err(fail(
                        "a body that is not UTF-8 was accepted",
                        format!(
                            "{} (the reply's message is a JSON string)",
                            status_requirement(NOT_UTF8)
                        ),
                        format!("200; get then gave {m:?}"),
                    ));
                }
                expect_status("put of invalid UTF-8", status, &body, NOT_UTF8)
            },
        ),
        case(
            meta(
                p,
                "put/huge-body-refused",
                CONTRACT,
                "C8",
                Must,
                "put of an 8 MiB body",
                format!(
                    "{} or an early close; the server keeps serving",
                    status_requirement(TOO_BIG)
                ),
            ),
            |c| async move {
                let (cl, t) = owner(&c).await?;
                let req = Request::put(
                    put_path(&c.domain, &cl.hash_did()),
                    vec![b'x'; 8 * 1024 * 1024],
                )
                .token(&t);
                match raw(&c, &req).await {
                    Ok((s, _)) if TOO_BIG.contains(&s) => {}
                    // closing the connection early is also a refusal; the server must still
                    // answer after
                    Err(_) => {}
                    Ok((s, b)) => {
                        return Err(fail(
                            "8 MiB body",
                            status_requirement(TOO_BIG),
                            format!("{s}: {}", truncate(&b)),
                        ));
                    }
                }
                cl.put(&c.domain, &cl.hash_did(), &t, "after")
                    .await
                    .map_err(step("put after the huge body"))?;
                done()
            },
        ),
        case(
            meta(
                p,
                "put/reply-fields",
                DOC,
                "3.3.1",
                Should,
                "get after a put by another DID",
                "rfc130: sender = the putter's DID; opendsu: messageId present",
            ),
            |c| async move {
                let (rcpt, t) = owner(&c).await?;
                let sender = c.client();
                let pt = super::support::token_for(&c, &sender, &rcpt.hash_did()).await?;
                sender
                    .put(&c.domain, &rcpt.hash_did(), &pt, "from sender")
                    .await
                    .map_err(step("put"))?;
                let m = rcpt
                    .get(&c.domain, &t)
                    .await
                    .map_err(step("get"))?
                    .ok_or_else(|| fail("get", "200", "204"))?;
                match c.profile {
                    // RFC-130 §3.3.1: {"message", "sender"}; the sender is the authenticated
                    // putter.
                    Profile::Rfc130 if m.sender.as_deref() == Some(sender.did()) => done(),
                    Profile::Opendsu if m.message_id.is_some() => done(),
                    _ => Err(fail(
                        "reply fields",
                        match c.profile {
                            Profile::Rfc130 => format!("sender = {}", sender.did()),
                            Profile::Opendsu => "messageId present".into(),
                        },
                        format!("{m:?}"),
                    )),
                }
            },
        ),
    ];
    v.extend(STATUS.iter().map(|row| row.case(p)));
    v
}

pub const STATUS: &[StatusCase] = &[
    StatusCase {
        slug: "put/alg-none-403",
        doc: DOC,
        section: "2.4",
        level: Must,
        stimulus: "put with a token in the profile's dialect whose header says alg none, no signature",
        request: |c| {
            Box::pin(async move {
                let (rcpt, forger) = (c.client(), c.client());
                let t = super::support::alg_none(&c, forger.did(), &rcpt.hash_did())?;
                Ok(Request::put(put_path(&c.domain, &rcpt.hash_did()), "forged").token(t))
            })
        },
        accept: &[403],
        note: "§2.4: an unsigned token is an invalid token",
    },
    StatusCase {
        slug: "put/rewritten-claims-403",
        doc: DOC,
        section: "2.4",
        level: Must,
        stimulus: "put into queue B with the hub's token for queue A, its credentials rewritten to B, signature kept",
        request: |c| {
            Box::pin(async move {
                // A's own token, rewritten for B's queue
                let (_, t) = owner(&c).await?;
                let queue = c.client().hash_did();
                let q2 = queue.clone();
                let forged = super::support::rewrite_claims(&c, &t, move |v| {
                    v["credentials"] = serde_json::json!([q2]);
                    if v["options"].get("credentials").is_some() {
                        v["options"]["credentials"] = serde_json::json!(q2);
                    }
                })?;
                Ok(Request::put(put_path(&c.domain, &queue), "forged").token(forged))
            })
        },
        accept: &[403],
        note: "§2.4: a token whose claims do not match its signature is an invalid token",
    },
    StatusCase {
        slug: "put/no-token-403",
        doc: DOC,
        section: "2.4",
        level: Must,
        stimulus: "put without a token",
        request: |c| {
            Box::pin(async move {
                Ok(Request::put(
                    put_path(&c.domain, &c.client().hash_did()),
                    "x",
                ))
            })
        },
        accept: &[403],
        note: "§2.4: \"403 | No token was provided or an invalid token.\"",
    },
    StatusCase {
        slug: "put/garbage-token-403",
        doc: DOC,
        section: "2.4",
        level: Must,
        stimulus: "put with a token that is not a token",
        request: |c| {
            Box::pin(async move {
                Ok(
                    Request::put(put_path(&c.domain, &c.client().hash_did()), "x")
                        .token("abc.def.ghi"),
                )
            })
        },
        accept: &[403],
        note: "§2.4: \"403 | No token was provided or an invalid token.\"",
    },
    StatusCase {
        slug: "put/self-minted-token-403",
        doc: NOTES,
        section: "defect 3",
        level: Must,
        stimulus: "put with a token signed by the client's own key (publicKey inside)",
        request: |c| {
            Box::pin(async move {
                let (rcpt, forger) = (c.client(), c.client());
                let t = self_minted(&c, forger.did(), &rcpt.hash_did())?;
                Ok(Request::put(put_path(&c.domain, &rcpt.hash_did()), "forged").token(t))
            })
        },
        accept: &[403],
        note: "defect 3: \"Tokens are verified against the public key inside the token: self-minted tokens are accepted\"; §2.4: an invalid token is 403",
    },
    StatusCase {
        slug: "put/token-for-other-queue-403",
        doc: NOTES,
        section: "defect 4",
        level: Must,
        stimulus: "put into queue B with a token for queue A",
        request: |c| {
            Box::pin(async move {
                let (a, b, sender) = (c.client(), c.client(), c.client());
                let t = super::support::token_for(&c, &sender, &a.hash_did()).await?;
                Ok(Request::put(put_path(&c.domain, &b.hash_did()), "wrong queue").token(t))
            })
        },
        accept: &[403],
        note: "defect 4: \"PUT does not check that the token is for the target queue\"; §2.4: an invalid token is 403",
    },
    StatusCase {
        slug: "put/mq-disabled-405",
        doc: DOC,
        section: "2.4",
        level: Must,
        stimulus: "put on a domain without MQ",
        request: |c| {
            Box::pin(async move {
                Ok(Request::put(
                    put_path(&c.disabled, &c.client().hash_did()),
                    "x",
                ))
            })
        },
        accept: &[405],
        note: "§2.4: \"405 | Domain doesn’t have an MQ component enabled.\", checked before the token (contract C4)",
    },
    StatusCase {
        slug: "put/size-over-limit-403",
        doc: CONTRACT,
        section: "C8",
        level: Must,
        stimulus: "put of max_message_size + 1 bytes",
        request: |c| {
            Box::pin(async move {
                let max = c
                    .limits
                    .max_size
                    .ok_or_else(|| skip("pass --set max_message_size=N"))?;
                let (cl, t) = owner(&c).await?;
                Ok(Request::put(put_path(&c.domain, &cl.hash_did()), vec![b'a'; max + 1]).token(t))
            })
        },
        accept: &[403, 413],
        note: "contract C8: a body over the limit is refused, apihub: 403 \"Message size exceeds domain specific limit.\"",
    },
];

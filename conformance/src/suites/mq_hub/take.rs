//! Take (RFC-130 §5): read and remove, each message exactly once; a take abandoned by its
//! client consumes nothing (apihub defect 7).

use std::time::{Duration, Instant};

use mq_hub::Profile;

use super::Ctx;
use super::support::{
    CONTRACT, DOC, NO_SUCH_MESSAGE, NOTES, Request, StatusCase, case, done, drain, error_status,
    head_id, meta, owner, put_n, raw, take_path,
};
use crate::runner::Case;
use crate::runner::Level::{Must, Should};
use crate::runner::check::{expect_status, fail, pass, status_requirement, step};

/// What a take signed by another DID may answer.
pub const WRONG_SIGNATURE: &[u16] = &[401, 403];

pub fn cases(p: Profile) -> Vec<Case<Ctx>> {
    let mut v = vec![
        case(
            meta(
                p,
                "take/200-removes",
                DOC,
                "5.3",
                Must,
                "take from a queue of two",
                "\"200 | Operation executed successfully, and the message is returned to the \
                 client\"; §5: \"The message is deleted from the MQ prior to serving it to the client\"",
            ),
            |c| async move {
                let (cl, t) = owner(&c).await?;
                put_n(&c, &cl, &t, &["x", "y"]).await?;
                let m = cl.take(&c.domain, &t, None).await.map_err(step("take"))?;
                let n = cl.get(&c.domain, &t).await.map_err(step("get"))?;
                match (m, n) {
                    (Some(m), Some(n)) if m.message == "x" && n.message == "y" => done(),
                    (m, n) => Err(fail(
                        "take then get",
                        "x taken, y next",
                        format!("{m:?} / {n:?}"),
                    )),
                }
            },
        ),
        case(
            meta(
                p,
                "take/exactly-once",
                DOC,
                "5",
                Must,
                "concurrent takes",
                "§5 \"Read and delete a message from the MQ\": every message delivered exactly once, \
                 none lost",
            ),
            |c| async move {
                match c.profile {
                    Profile::Rfc130 => {
                        let (cl, t) = owner(&c).await?;
                        put_n(&c, &cl, &t, &["only"]).await?;
                        let id = head_id(&c, &cl, &t).await?;
                        let mut tasks = Vec::new();
                        for _ in 0..8 {
                            let (cl2, t2, d, id2) =
                                (cl.clone(), t.clone(), c.domain.clone(), id.clone());
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
                            done()
                        } else {
                            Err(fail(
                                "8 concurrent takes of one id",
                                "exactly one 200",
                                format!("{wins}"),
                            ))
                        }
                    }
                    Profile::Opendsu => {
                        let (cl, t) = owner(&c).await?;
                        let n = c.limits.max_len.unwrap_or(5).min(5);
                        let mut tasks = Vec::new();
                        for _ in 0..n {
                            let (cl2, t2, d) = (cl.clone(), t.clone(), c.domain.clone());
                            tasks.push(tokio::spawn(async move { cl2.take(&d, &t2, None).await }));
                        }
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        let bodies: Vec<String> = (0..n).map(|i| format!("m{i}")).collect();
                        let refs: Vec<&str> = bodies.iter().map(String::as_str).collect();
                        put_n(&c, &cl, &t, &refs).await?;
                        // Each parked take has a message to receive; one that has not answered
                        // within the bound is abandoned (apihub's take never times out), and
                        // what the takes did not deliver is read by get + delete.
                        let bound =
                            Duration::from_millis(c.limits.timeout_ms.unwrap_or(2_000) + 2_000);
                        let mut got = Vec::new();
                        for mut task in tasks {
                            match tokio::time::timeout(bound, &mut task).await {
                                Ok(Ok(Ok(Some(m)))) => got.push(m.message),
                                Ok(_) => {}
                                Err(_) => task.abort(),
                            }
                        }
                        let rest = n.saturating_sub(got.len());
                        got.extend(
                            drain(&c, &cl, &t, rest)
                                .await?
                                .into_iter()
                                .map(|m| m.message),
                        );
                        super::support::expect_empty(
                            &c,
                            &cl,
                            &t,
                            "after every message was delivered",
                        )
                        .await?;
                        let mut sorted = got.clone();
                        sorted.sort();
                        let mut want = bodies.clone();
                        want.sort();
                        if sorted == want {
                            done()
                        } else {
                            Err(fail(
                                "concurrent takes",
                                format!("each of {want:?} once"),
                                format!("{sorted:?}"),
                            ))
                        }
                    }
                }
            },
        ),
        case(
            meta(
                p,
                "take/abandoned-consumes-nothing",
                NOTES,
                "defect 7",
                Must,
                "a parked take abandoned by its client, then a put",
                "the message is still there (defect 7: \"A take aborted by the client stays parked \
                 and later consumes (and loses) a message\")",
            ),
            |c| async move {
                let (cl, t) = owner(&c).await?;
                let (cl2, t2, d) = (cl.clone(), t.clone(), c.domain.clone());
                let parked = tokio::spawn(async move { cl2.take(&d, &t2, None).await });
                tokio::time::sleep(Duration::from_millis(100)).await;
                parked.abort(); // drops the connection
                let _ = parked.await;
                tokio::time::sleep(Duration::from_millis(100)).await;
                put_n(&c, &cl, &t, &["must survive"]).await?;
                match cl.get(&c.domain, &t).await {
                    Ok(Some(m)) if m.message == "must survive" => done(),
                    other => Err(fail(
                        "a take abandoned by its client, then a put",
                        "the message still in the queue",
                        format!("{other:?}"),
                    )),
                }
            },
        ),
        case(
            meta(
                p,
                "take/wrong-did-signature-403",
                NOTES,
                "defect 1",
                Must,
                "take with another DID's signature",
                format!(
                    "{} and nothing consumed (defect 1: \"signatureOfDid is never checked\")",
                    status_requirement(WRONG_SIGNATURE)
                ),
            ),
            |c| async move {
                let (cl, t) = owner(&c).await?;
                put_n(&c, &cl, &t, &["keep"]).await?;
                let sig = c.client().key().signature_of_did(&t);
                let req = Request::get(take_path(&c, &cl.hash_did(), None, &sig)).token(&t);
                let (status, body) = raw(&c, &req).await?;
                expect_status(
                    "take with another DID's signature",
                    status,
                    &body,
                    WRONG_SIGNATURE,
                )?;
                let still = cl.get(&c.domain, &t).await.map_err(step("get"))?;
                if still.is_some() {
                    done()
                } else {
                    Err(fail("refused take consumed the message", "kept", "gone"))
                }
            },
        ),
        case(
            meta(
                p,
                "take/empty-queue-204",
                CONTRACT,
                "C5",
                Should,
                "take on an empty queue",
                "SHOULD (§5.3 lists no 204): 204 after the connection timeout, as get does (apihub's \
                 take waits forever)",
            ),
            |c| async move {
                let (cl, tok, header) = super::support::owner_with_timeout(&c).await?;
                let ms = super::support::timeout_ms(&c, header)?;
                let t0 = Instant::now();
                match cl.take(&c.domain, &tok, None).await {
                    Ok(None) => pass(format!(
                        "204 after {} ms (timeout {ms})",
                        t0.elapsed().as_millis()
                    )),
                    other => Err(fail(
                        "take on an empty queue",
                        "204 after the connection timeout",
                        format!("{other:?}"),
                    )),
                }
            },
        ),
        case(
            meta(
                p,
                "take/race-no-double-delivery",
                DOC,
                "5",
                Must,
                "4 messages; 4 takes racing 2 get + delete readers, 10 rounds",
                "§5 \"Read and delete a message from the MQ\": no message delivered by two takes, \
                 every take answer is the JSON message",
            ),
            |c| async move {
                let bound = Duration::from_millis(c.limits.timeout_ms.unwrap_or(2_000) + 2_000);
                for round in 0..10 {
                    let (cl, t) = owner(&c).await?;
                    let bodies: Vec<String> = (0..4).map(|i| format!("r{round}m{i}")).collect();
                    let refs: Vec<&str> = bodies.iter().map(String::as_str).collect();
                    put_n(&c, &cl, &t, &refs).await?;
                    let mut takes = Vec::new();
                    for _ in 0..4 {
                        let (cl2, t2, d) = (cl.clone(), t.clone(), c.domain.clone());
                        takes.push(tokio::spawn(async move { cl2.take(&d, &t2, None).await }));
                    }
                    let mut readers = Vec::new();
                    for _ in 0..2 {
                        let (cl2, t2, d) = (cl.clone(), t.clone(), c.domain.clone());
                        readers.push(tokio::spawn(async move {
                            if let Ok(Some(m)) = cl2.get(&d, &t2).await
                                && let Some(id) = m.message_id
                            {
                                let _ = cl2.delete(&d, &t2, &id).await;
                            }
                        }));
                    }
                    let mut taken = Vec::new();
                    for mut task in takes {
                        // a take left without a message may wait forever (apihub): abandon it
                        match tokio::time::timeout(bound, &mut task).await {
                            Ok(Ok(Ok(Some(m)))) => taken.push(m.message),
                            Ok(Ok(Err(e)))
                                if matches!(e, mq_hub::MqHubError::MalformedReply(_)) =>
                            {
                                return Err(fail(
                                    format!("round {}: a take's answer", round + 1),
                                    "200 with the JSON message",
                                    e.to_string(),
                                ));
                            }
                            Ok(_) => {}
                            Err(_) => task.abort(),
                        }
                    }
                    for r in readers {
                        r.abort();
                    }
                    let mut seen = std::collections::HashSet::new();
                    if let Some(twice) = taken.iter().find(|m| !seen.insert(m.as_str())) {
                        return Err(fail(
                            format!("round {}: 4 takes and 2 readers", round + 1),
                            "each message taken at most once",
                            format!("{twice:?} taken twice ({taken:?})"),
                        ));
                    }
                }
                done()
            },
        ),
    ];
    if p == Profile::Rfc130 {
        // RFC-130 §5.1: take names a message id; the opendsu dialect's take path has none.
        v.insert(
            1,
            case(
                meta(
                    p,
                    "take/by-id",
                    DOC,
                    "5.1",
                    Must,
                    "take by message id, twice",
                    format!(
                        "§5.1 \"Message ID that should be deleted\": 200 with that message, then {} \
                         (§5.3 \"500 | An error occurred while deleting the message from the queue.\")",
                        status_requirement(NO_SUCH_MESSAGE)
                    ),
                ),
                |c| async move {
                    let (cl, t) = owner(&c).await?;
                    put_n(&c, &cl, &t, &["first", "second"]).await?;
                    let id = head_id(&c, &cl, &t).await?;
                    match cl
                        .take(&c.domain, &t, Some(&id))
                        .await
                        .map_err(step("take by id"))?
                    {
                        Some(m) if m.message == "first" => {}
                        other => {
                            return Err(fail(
                                "take by id",
                                "the message with that id",
                                format!("{other:?}"),
                            ));
                        }
                    }
                    match cl.take(&c.domain, &t, Some(&id)).await {
                        Err(e)
                            if error_status(&e).is_some_and(|s| NO_SUCH_MESSAGE.contains(&s)) =>
                        {
                            done()
                        }
                        other => Err(fail(
                            "take of an id already taken",
                            status_requirement(NO_SUCH_MESSAGE),
                            format!("{other:?}"),
                        )),
                    }
                },
            ),
        );
    }
    v.extend(STATUS.iter().map(|row| row.case(p)));
    v
}

pub const STATUS: &[StatusCase] = &[
    StatusCase {
        slug: "take/no-token-403",
        doc: DOC,
        section: "5.2",
        level: Must,
        stimulus: "take without a token",
        request: |c| {
            Box::pin(async move {
                let (cl, t) = owner(&c).await?;
                let sig = cl.key().signature_of_did(&t);
                Ok(Request::get(take_path(&c, &cl.hash_did(), None, &sig)))
            })
        },
        accept: &[401, 403],
        note: "§5.2: the request carries the token; §3.3 answers a missing one with 403",
    },
    StatusCase {
        slug: "take/mq-disabled-405",
        doc: CONTRACT,
        section: "C4",
        level: Should,
        stimulus: "take on a domain without MQ",
        request: |c| {
            Box::pin(async move {
                let (cl, t) = owner(&c).await?;
                let sig = cl.key().signature_of_did(&t);
                let path = take_path(&c, &cl.hash_did(), None, &sig).replacen(
                    &format!("/mq/{}/", c.domain),
                    &format!("/mq/{}/", c.disabled),
                    1,
                );
                Ok(Request::get(path).token(t))
            })
        },
        accept: &[405],
        note: "SHOULD: §5.3 is silent; the 405 of §3.3, \"Domain doesn’t have an MQ component enabled.\"",
    },
];

//! Delete (RFC-130 §4): the owner removes a message by id, and only from its own queue.

use mq_hub::Profile;

use super::Ctx;
use super::support::{
    DOC, NO_SUCH_MESSAGE, NOTES, Request, StatusCase, case, delete_path, done, head_id, meta,
    owner, put_n, raw,
};
use crate::runner::Case;
use crate::runner::Level::{Must, Should};
use crate::runner::check::{expect_status, fail, status_requirement, step};

/// What a delete signed by another DID may answer.
pub const WRONG_SIGNATURE: &[u16] = &[401, 403];

pub fn cases(p: Profile) -> Vec<Case<Ctx>> {
    let mut v = vec![
        case(
            meta(
                p,
                "delete/ok-200",
                DOC,
                "4.3",
                Must,
                "delete the head by id",
                "\"200 | Operation executed successfully.\", and the next get returns the next message",
            ),
            |c| async move {
                let (cl, t) = owner(&c).await?;
                put_n(&c, &cl, &t, &["a", "b"]).await?;
                let id = head_id(&c, &cl, &t).await?;
                cl.delete(&c.domain, &t, &id)
                    .await
                    .map_err(step("delete"))?;
                let next = cl
                    .get(&c.domain, &t)
                    .await
                    .map_err(step("get after delete"))?;
                match next {
                    Some(n) if n.message == "b" => done(),
                    other => Err(fail(
                        "after deleting the head",
                        "the next message \"b\"",
                        format!("{other:?}"),
                    )),
                }
            },
        ),
        case(
            meta(
                p,
                "delete/wrong-did-signature-403",
                NOTES,
                "defect 1",
                Must,
                "delete with another DID's signature",
                format!(
                    "{} and the message kept (defect 1: \"signatureOfDid is never checked\")",
                    status_requirement(WRONG_SIGNATURE)
                ),
            ),
            |c| async move {
                let (cl, t) = owner(&c).await?;
                put_n(&c, &cl, &t, &["keep"]).await?;
                let id = head_id(&c, &cl, &t).await?;
                let sig = c.client().key().signature_of_did(&t);
                let req = Request::delete(delete_path(&c, &cl.hash_did(), &id, &sig)).token(&t);
                let (status, body) = raw(&c, &req).await?;
                expect_status(
                    "delete with another DID's signature",
                    status,
                    &body,
                    WRONG_SIGNATURE,
                )?;
                let still = cl.get(&c.domain, &t).await.map_err(step("get"))?;
                if still.is_some() {
                    done()
                } else {
                    Err(fail(
                        "the refused delete removed the message",
                        "message kept",
                        "gone",
                    ))
                }
            },
        ),
        case(
            meta(
                p,
                "delete/malformed-id",
                DOC,
                "4.1",
                Must,
                "delete with an id full of path tricks",
                "the queue's message kept, whatever the status (§4.3 lists 200 and 500): §4.1 \
                 \"Message ID that should be deleted\" names one message, and this id names none",
            ),
            |c| async move {
                let (cl, t) = owner(&c).await?;
                put_n(&c, &cl, &t, &["keep"]).await?;
                let sig = cl.key().signature_of_did(&t);
                let req = Request::delete(delete_path(&c, &cl.hash_did(), "..%2F..%2Fetc", &sig))
                    .token(&t);
                let (status, _) = raw(&c, &req).await?;
                let still = cl.get(&c.domain, &t).await.map_err(step("get"))?;
                if still.is_some() {
                    done()
                } else {
                    Err(fail(
                        format!("queue after a malformed delete (answered {status})"),
                        "message kept",
                        "gone",
                    ))
                }
            },
        ),
        case(
            meta(
                p,
                "delete/cross-queue",
                DOC,
                "4",
                Must,
                "B deletes A's message id through B's own queue",
                "A's message kept: §4.1 deletes from \"MQ on channel hashDID\", B's channel",
            ),
            |c| async move {
                let (a, ta) = owner(&c).await?;
                let (b, tb) = owner(&c).await?;
                put_n(&c, &a, &ta, &["a's"]).await?;
                let id = head_id(&c, &a, &ta).await?;
                let _ = b.delete(&c.domain, &tb, &id).await;
                let still = a.get(&c.domain, &ta).await.map_err(step("get"))?;
                if still.is_some() {
                    done()
                } else {
                    Err(fail(
                        "B deleted A's message id through B's queue",
                        "A's message kept",
                        "gone",
                    ))
                }
            },
        ),
    ];
    v.extend(STATUS.iter().map(|row| row.case(p)));
    v
}

pub const STATUS: &[StatusCase] = &[
    StatusCase {
        slug: "delete/missing-id",
        doc: DOC,
        section: "4.3",
        level: Should,
        stimulus: "delete of an id not in the queue",
        request: |c| {
            Box::pin(async move {
                let (cl, t) = owner(&c).await?;
                let sig = cl.key().signature_of_did(&t);
                Ok(
                    Request::delete(delete_path(&c, &cl.hash_did(), "999999999_missing", &sig))
                        .token(t),
                )
            })
        },
        accept: NO_SUCH_MESSAGE,
        note: "SHOULD: §4.3 \"500 | An error occurred during deleting the message from the queue.\" or 404, not a silent success",
    },
    StatusCase {
        slug: "delete/no-token-403",
        doc: DOC,
        section: "4.2",
        level: Must,
        stimulus: "delete without a token",
        request: |c| {
            Box::pin(async move {
                let (cl, t) = owner(&c).await?;
                let sig = cl.key().signature_of_did(&t);
                Ok(Request::delete(delete_path(
                    &c,
                    &cl.hash_did(),
                    "1_x",
                    &sig,
                )))
            })
        },
        accept: &[401, 403],
        note: "§4.2: the request carries the token; §3.3 answers a missing one with 403",
    },
];

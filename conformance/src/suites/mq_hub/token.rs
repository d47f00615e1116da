//! Tokens (RFC-130 §1; apihub defect 2: a token only to the DID's holder).

use mq_hub::Profile;

use super::Ctx;
use super::support::{
    CONTRACT, DOC, NOTES, Request, StatusCase, case, done, holder_proof, holder_proof_protocol,
    meta, now_secs, token_path, token_request,
};
use crate::runner::Case;
use crate::runner::Level::{Must, Should};
use crate::runner::check::{fail, pass, step};

pub fn cases(p: Profile) -> Vec<Case<Ctx>> {
    let mut v = vec![
        case(
            meta(
                p,
                "token/issued-to-holder",
                DOC,
                "1.2",
                Must,
                "token request with a holder proof",
                "\"200 | Returns a JWT signed token\" shaped as §1.2.1: {\"token\", \"expires\"} with \
                 expires in ms since the epoch, in the future",
            ),
            |c| async move {
                holder_proof_protocol(&c)?;
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
                done()
            },
        ),
        case(
            meta(
                p,
                "token/connection-timeout-header",
                CONTRACT,
                "C2",
                Should,
                "token reply carries connection-timeout",
                "the token reply carries a positive connection-timeout header (ms), as apihub's \
                 token route sends it (the document is silent)",
            ),
            |c| async move {
                holder_proof_protocol(&c)?;
                let t = c
                    .client()
                    .own_token(&c.domain)
                    .await
                    .map_err(step("token request"))?;
                match t.connection_timeout_ms {
                    Some(ms) if ms > 0 => pass(format!("connection-timeout: {ms}")),
                    other => Err(fail(
                        "connection-timeout header",
                        "a positive number of ms",
                        format!("{other:?}"),
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
        slug: "token/requires-holder-proof",
        doc: NOTES,
        section: "defect 2",
        level: Must,
        stimulus: "token request with no proof of holding the DID",
        request: |c| {
            Box::pin(async move {
                holder_proof_protocol(&c)?;
                Ok(Request::get(token_path(&c.domain, &c.client().hash_did())))
            })
        },
        accept: &[401, 403],
        note: "the notes, defect 2: \"The token endpoint has no authentication (anyone gets a token for any hashDID)\"",
    },
    StatusCase {
        slug: "token/proof-by-wrong-key",
        doc: NOTES,
        section: "defect 2",
        level: Must,
        stimulus: "token request for a DID with a proof signed by another key",
        request: |c| {
            Box::pin(async move {
                holder_proof_protocol(&c)?;
                let (victim, attacker) = (c.client(), c.client());
                let queue = victim.hash_did();
                let proof =
                    holder_proof(attacker.key(), victim.did(), &c.domain, &queue, now_secs());
                Ok(Request::get(token_path(&c.domain, &queue)).headers(proof))
            })
        },
        accept: &[401, 403],
        note: "defect 2: a token only to the holder of the DID's key",
    },
    StatusCase {
        slug: "token/stale-proof",
        doc: NOTES,
        section: "defect 2",
        level: Must,
        stimulus: "token request with a proof one hour old",
        request: |c| {
            Box::pin(async move {
                holder_proof_protocol(&c)?;
                let cl = c.client();
                let queue = cl.hash_did();
                let proof = holder_proof(cl.key(), cl.did(), &c.domain, &queue, now_secs() - 3600);
                Ok(Request::get(token_path(&c.domain, &queue)).headers(proof))
            })
        },
        accept: &[401, 403],
        note: "defect 2 closed by a holder proof: a proof outside its time window is a replay",
    },
    StatusCase {
        slug: "token/mq-disabled-405",
        doc: DOC,
        section: "1.2",
        level: Should,
        stimulus: "token request on a domain without MQ",
        request: |c| {
            Box::pin(async move {
                holder_proof_protocol(&c)?;
                let cl = c.client();
                Ok(token_request(&cl, &c.disabled, &cl.hash_did()))
            })
        },
        accept: &[405, 500],
        note: "SHOULD: §1.2 is silent on a domain without MQ; its \"500 | Not able to create a new token.\" \
               or the 405 of §2.4",
    },
    StatusCase {
        slug: "token/malformed-hashdid",
        doc: DOC,
        section: "1.1",
        level: Should,
        stimulus: "token for a hashDID that is not base58 SHA-256",
        request: |c| {
            Box::pin(async move {
                holder_proof_protocol(&c)?;
                let cl = c.client();
                Ok(token_request(&cl, &c.domain, "not-a-hash!!"))
            })
        },
        accept: &[400, 403, 404, 500],
        note: "SHOULD: §1.1 defines hashDID as the hash of the DID identifier; the document does not say a \
               malformed one is refused (§1.2: \"500 | Not able to create a new token.\")",
    },
];

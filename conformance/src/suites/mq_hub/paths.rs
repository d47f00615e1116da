//! Paths and headers (RFC-130 §2, §3.1, §3.2): path tricks, unknown routes and methods,
//! oversized headers and tokens.

use mq_hub::Profile;
use reqwest::Method;

use super::Ctx;
use super::support::{
    CONTRACT, DOC, REFUSAL, Request, StatusCase, case, done, expect_refusal, get_path, meta, owner,
    put_n, put_path, raw, truncate,
};
use crate::runner::Case;
use crate::runner::Level::{Must, Should};
use crate::runner::check::fail;

pub fn cases(p: Profile) -> Vec<Case<Ctx>> {
    let mut v = vec![
        case(
            meta(
                p,
                "paths/traversal",
                DOC,
                "3.1",
                Must,
                "get with ../ and %2e%2e in the path",
                format!(
                    "{REFUSAL}: §3.1 each path parameter is one value (a hashDID, a signature); a dot-segment reaches no other queue"
                ),
            ),
            |c| async move {
                let (cl, t) = owner(&c).await?;
                let sig = cl.key().signature_of_did(&t);
                for path in [
                    format!("/mq/{}/get/..%2F{}/{sig}", c.domain, cl.hash_did()),
                    format!("/mq/{}/get/../{sig}", c.domain),
                    format!("/mq/%2e%2e/get/{}/{sig}", cl.hash_did()),
                ] {
                    let answer = raw(&c, &Request::get(&path).token(&t)).await?;
                    expect_refusal(format!("GET {path}"), &answer)?;
                }
                done()
            },
        ),
        case(
            meta(
                p,
                "paths/bad-hashdid",
                DOC,
                "2.1",
                Must,
                "put to a hashDID that is not base58",
                format!("{REFUSAL}: §2.1 hashDID is the \"Sha256 hash of the receiver DID\""),
            ),
            |c| async move {
                let (_, t) = owner(&c).await?;
                let req = Request::put(put_path(&c.domain, "0OIl-not-base58"), "x").token(t);
                expect_refusal("put to a hashDID that is not base58", &raw(&c, &req).await?)?;
                done()
            },
        ),
        case(
            meta(
                p,
                "headers/huge-header",
                CONTRACT,
                "C8",
                Must,
                "a 512 KiB header",
                "contract C8 (request heads are capped): 4xx (431) or close; the server keeps serving",
            ),
            |c| async move {
                let (cl, t) = owner(&c).await?;
                let sig = cl.key().signature_of_did(&t);
                let req = Request::get(get_path(&c, &cl.hash_did(), &sig))
                    .token(&t)
                    .headers(vec![("x-padding", "a".repeat(512 * 1024))]);
                match raw(&c, &req).await {
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
                done()
            },
        ),
        case(
            meta(
                p,
                "paths/wrong-method",
                DOC,
                "2",
                Should,
                "POST on the put route",
                "not 200: §2 defines \"PUT /mq/{domain}/put/{hashDID}\"",
            ),
            |c| async move {
                let (cl, t) = owner(&c).await?;
                let req = Request::new(Method::POST, put_path(&c.domain, &cl.hash_did()))
                    .token(t)
                    .body("x");
                let (status, _) = raw(&c, &req).await?;
                if status == 200 {
                    return Err(fail(
                        "POST on the put route",
                        "not 200 (the document says PUT)",
                        "200",
                    ));
                }
                done()
            },
        ),
    ];
    v.extend(STATUS.iter().map(|row| row.case(p)));
    v
}

pub const STATUS: &[StatusCase] = &[
    StatusCase {
        slug: "paths/unknown-route",
        doc: DOC,
        section: "2",
        level: Should,
        stimulus: "an unknown route",
        request: |c| {
            Box::pin(async move { Ok(Request::get(format!("/mq/{}/bogus/x/y/z/w", c.domain))) })
        },
        accept: &[404, 405],
        note: "SHOULD: the document defines no other route",
    },
    StatusCase {
        slug: "headers/huge-token",
        doc: DOC,
        section: "2.2",
        level: Must,
        stimulus: "a 64 KiB garbage token",
        request: |c| {
            Box::pin(async move {
                Ok(
                    Request::put(put_path(&c.domain, &c.client().hash_did()), "x")
                        .token("a".repeat(64 * 1024)),
                )
            })
        },
        accept: &[400, 401, 403, 431],
        note: "§2.2: authorization \"Contains the authorization JWT signed token\"; 64 KiB of garbage is none",
    },
];

//! `msg-signer/server/signature/*`: the signatures checked, not only present. With the
//! server's OpenPGP public key (`--set signing_pubkey=FILE`; our mock's own by default) every
//! `signed_claim`, `signed_data` and `signed_payload` is verified ([`super::verify`]); what a
//! signature signs (the claim JSON, the clear-signed text) is read and compared with what was
//! sent. A wrong key fails the `*-signed-by-key` cases; a claim for other bytes fails the
//! content cases; both with the evidence (key ids, the content seen).

use serde_json::Value;
use sigharness_report::Level;

use super::probe::{Exchange, Requests};
use super::verify::{self, Verified, cleartext_normalized};
use super::{ServerCase, b64_field, first_msg, need_keys, signed_bytes};
use crate::runner::check::{Check, Stop, fail, pass, skip, truncate};
use crate::suites::msg_signer::wire;

/// The key that verified a signature must be the one the request named (`sig_key_id` = the
/// last 8 characters of its key id, notes "Body keys").
fn by_named_key(v: &Verified, sent: &Value) -> Result<(), Stop> {
    let want = sent["sig_key_id"]
        .as_str()
        .unwrap_or("")
        .to_ascii_uppercase();
    if !want.is_empty() && !v.key_id.to_ascii_uppercase().ends_with(&want) {
        return Err(fail(
            "signed by a key of the server, but not the one sig_key_id names",
            format!("a key id ending {want}"),
            v.key_id.clone(),
        ));
    }
    Ok(())
}

/// The claim a container request sent, parsed.
fn sent_claim(sent: &Value) -> Result<Value, Stop> {
    let raw = b64_field(sent, "claim_file")?;
    serde_json::from_slice(&raw).map_err(|e| fail("our own claim", "JSON", e.to_string()))
}

/// `content` is an atomic container signature claim naming `sent`'s digest and reference.
pub(super) fn claim_names(content: &[u8], sent: &Value) -> Check {
    let claim: Value = serde_json::from_slice(content).map_err(|e| {
        fail(
            "the signed content is not a JSON claim",
            "the atomic container signature claim JSON",
            format!("{e}: {}", truncate(&String::from_utf8_lossy(content), 200)),
        )
    })?;
    let ours = sent_claim(sent)?;
    let want_digest = sent["manifest_digest"].as_str().unwrap_or("");
    let want_ref = ours
        .pointer("/critical/identity/docker-reference")
        .and_then(Value::as_str)
        .unwrap_or("");
    let got = |p: &str| claim.pointer(p).and_then(Value::as_str).unwrap_or("");
    let checks = [
        (
            "critical.type",
            "atomic container signature",
            got("/critical/type"),
        ),
        (
            "critical.image.docker-manifest-digest",
            want_digest,
            got("/critical/image/docker-manifest-digest"),
        ),
        (
            "critical.identity.docker-reference",
            want_ref,
            got("/critical/identity/docker-reference"),
        ),
    ];
    for (what, want, have) in checks {
        if want != have {
            return Err(fail(
                format!("the signed claim's {what} is not the one sent"),
                want.to_string(),
                format!("{have:?} in {}", truncate(&claim.to_string(), 300)),
            ));
        }
    }
    pass(format!(
        "the signed claim names {want_digest} and {want_ref}"
    ))
}

fn clear_text_sent(sent: &Value) -> Result<String, Stop> {
    let raw = b64_field(sent, "data")?;
    String::from_utf8(raw).map_err(|_| fail("our own data", "UTF-8", "not UTF-8"))
}

/// The clear-signed text is exactly the data sent (as a cleartext signature covers text).
fn clear_covers(x: &Exchange) -> Check {
    let bytes = signed_bytes(x, "signed_data")?;
    let text = verify::cleartext_text(&bytes).map_err(|e| {
        fail(
            "signed_data is not a cleartext signature",
            "RFC 9580 section 7",
            e,
        )
    })?;
    let want = clear_text_sent(&x.sent[0])?;
    if cleartext_normalized(&text) != cleartext_normalized(&want) {
        return Err(fail(
            "signed_data signs other text than the data sent",
            format!("{want:?}"),
            truncate(&format!("{text:?}"), 300),
        ));
    }
    pass(format!("signed_data covers the {} bytes sent", want.len()))
}

pub(super) const CASES: &[ServerCase] = &[
    ServerCase {
        id: "signature/claim-signed-by-key",
        spec: wire("Reply"),
        level: Level::Must,
        stimulus: "one container request; signed_claim verified with the server's public key",
        requirement: "\"Real `signed_claim` values are base64 OpenPGP messages\" (Reply), signed by the key the request names: \"`sig_key_id` (last 8 chars of the real key id)\" (Request)",
        requests: Requests::default,
        check: |x| {
            let keys = need_keys(x)?;
            let bytes = signed_bytes(x, "signed_claim")?;
            let v = keys.verify_message(&bytes).map_err(|e| {
                fail(
                    "signed_claim does not verify with the server's public key",
                    format!("a signature by one of {}", keys.key_ids().join(", ")),
                    e,
                )
            })?;
            by_named_key(&v, &x.sent[0])?;
            pass(format!("signed_claim verifies with key {}", v.key_id))
        },
    },
    ServerCase {
        id: "signature/claim-names-digest-and-reference",
        spec: wire("Request"),
        level: Level::Must,
        stimulus: "one container request; the claim inside signed_claim read",
        requirement: "\"Container claim = base64 of the JSON \\\"atomic container signature\\\" claim (`critical.type`, `critical.image.docker-manifest-digest`, `critical.identity.docker-reference`, `optional.creator`)\": the signed claim is the one sent (its type, digest and reference)",
        requests: Requests::default,
        check: |x| {
            let bytes = signed_bytes(x, "signed_claim")?;
            let content = verify::message_content(&bytes).map_err(|e| {
                fail(
                    "signed_claim is not an OpenPGP signed message",
                    "base64 OpenPGP message",
                    e,
                )
            })?;
            claim_names(&content, &x.sent[0])
        },
    },
    ServerCase {
        id: "signature/clearsign-signed-by-key",
        spec: wire("Reply"),
        level: Level::Must,
        stimulus: "one clearsign request; signed_data verified with the server's public key",
        requirement: "the result (\"`signed_data` for clearsign\") is a cleartext signature by the key the request names (\"`sig_key_id` (last 8 chars of the real key id)\")",
        requests: || Requests {
            kind: "clear",
            ..Default::default()
        },
        check: |x| {
            let keys = need_keys(x)?;
            let bytes = signed_bytes(x, "signed_data")?;
            let v = keys.verify_cleartext(&bytes).map_err(|e| {
                fail(
                    "signed_data does not verify with the server's public key",
                    format!("a signature by one of {}", keys.key_ids().join(", ")),
                    e,
                )
            })?;
            by_named_key(&v, &x.sent[0])?;
            pass(format!("signed_data verifies with key {}", v.key_id))
        },
    },
    ServerCase {
        id: "signature/clearsign-covers-exact-data",
        spec: wire("Request"),
        level: Level::Must,
        stimulus: "one clearsign request; the text inside signed_data read",
        requirement: "\"the data (... `data` for clearsign ...; all base64)\": signed_data clear-signs exactly that data",
        requests: || Requests {
            kind: "clear",
            ..Default::default()
        },
        check: clear_covers,
    },
    ServerCase {
        id: "signature/clearsign-non-ascii-text",
        spec: wire("Request"),
        level: Level::Must,
        stimulus: "clearsign data of non-ASCII UTF-8 text (German, Japanese, a check mark)",
        requirement: "\"`data` for clearsign ... (all base64)\": any text, so signed_data clear-signs exactly that text, byte for byte",
        requests: || Requests {
            kind: "clear",
            corrupt: Some(|_, b| {
                use base64::Engine as _;
                b["data"] = serde_json::json!(
                    base64::engine::general_purpose::STANDARD
                        .encode("Grüße aus Köln — 署名テスト ✓\nzweite Zeile\n")
                );
                None
            }),
            ..Default::default()
        },
        check: clear_covers,
    },
    ServerCase {
        id: "signature/detached-signed-by-key-over-artifact",
        spec: wire("Reply"),
        level: Level::Must,
        stimulus: "one blob request; signed_payload verified over the artifact sent",
        requirement: "the result (\"`signed_payload` for blobs\") is a detached signature over the artifact sent (\"`artifact` for blobs\") by the key the request names",
        requests: || Requests {
            kind: "blob",
            ..Default::default()
        },
        check: |x| {
            let keys = need_keys(x)?;
            let sig = signed_bytes(x, "signed_payload")?;
            let data = b64_field(&x.sent[0], "artifact")?;
            let v = keys.verify_detached(&sig, &data).map_err(|e| {
                fail(
                    "signed_payload does not verify over the artifact with the server's public key",
                    format!(
                        "a detached signature by one of {}",
                        keys.key_ids().join(", ")
                    ),
                    e,
                )
            })?;
            by_named_key(&v, &x.sent[0])?;
            pass(format!(
                "signed_payload verifies over the {} bytes with key {}",
                data.len(),
                v.key_id
            ))
        },
    },
    ServerCase {
        id: "signature/batch-claims-signed-by-key",
        spec: wire("Request"),
        level: Level::Should,
        stimulus: "one batch request of 2 claims; each signed claim of the reply verified",
        requirement: "Batch: \"body `claims` = list of `{claim_file, sig_keynames[], sig_key_ids[], manifest_digest, repo}`\"; each claim signed by its key and naming its digest (SHOULD: the notes give the batch request, not its reply's shape; a `signed_claims` list is judged, another shape skips)",
        requests: || Requests {
            kind: "batch",
            ..Default::default()
        },
        check: |x| {
            let keys = need_keys(x)?;
            let m = first_msg(x)?;
            let Some(list) = m["signed_claims"].as_array() else {
                return Err(skip(
                    "the reply has no `signed_claims` list: the notes give no batch reply shape to verify",
                ));
            };
            let claims = x.sent[0]["claims"].as_array().cloned().unwrap_or_default();
            for c in &claims {
                let digest = c["manifest_digest"].as_str().unwrap_or("");
                let Some(s) = list.iter().find(|s| s["manifest_digest"] == digest) else {
                    return Err(fail(
                        "a claim has no signed result",
                        format!("an entry for {digest}"),
                        truncate(&m["signed_claims"].to_string(), 300),
                    ));
                };
                let bytes = b64_field(s, "signed_claim")?;
                let v = keys.verify_message(&bytes).map_err(|e| {
                    fail(
                        format!("the signed claim for {digest} does not verify"),
                        format!("a signature by one of {}", keys.key_ids().join(", ")),
                        e,
                    )
                })?;
                claim_names(&v.content, c)?;
            }
            pass(format!(
                "{} claims each signed and naming its digest",
                claims.len()
            ))
        },
    },
];

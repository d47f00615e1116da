//! `msg-signer/server/{fields,batch}/*`: what a server must take as real clients send it:
//! extra fields (the deployed client adds attributes, `traceparent` when tracing), the
//! optional `sig_keyname` absent, non-ASCII text, a large payload, and batches (per-claim
//! results, a chunk of `chunk_size` claims).

use serde_json::{Value, json};
use sigharness_report::Level;

use super::probe::{Exchange, Requests};
use super::signature::claim_names;
use super::{ServerCase, b64_field, first_msg, signed, signed_bytes};
use crate::runner::check::{Check, fail, pass, skip, truncate};
use crate::suites::msg_signer::wire;

/// The artifact size of `fields/large-artifact-1mib`: 1 MiB (a request of about 1.4 MB once
/// base64'd, within the embedded broker's 16 MiB and RabbitMQ's default 128 MiB message limit).
pub const LARGE_ARTIFACT: usize = 1024 * 1024;

/// A batch reply: correlated, `errors` empty.
fn batch_answered(x: &Exchange) -> Check {
    let m = first_msg(x)?;
    if m["request_id"] != x.sent[0]["request_id"] {
        return Err(fail(
            "the reply is not correlated to the batch request",
            format!("msg.request_id {}", x.sent[0]["request_id"]),
            m["request_id"].to_string(),
        ));
    }
    if m["errors"].as_array().is_none_or(|a| !a.is_empty()) {
        return Err(fail(
            "the batch request was refused",
            "`errors` an empty list",
            truncate(&m["errors"].to_string(), 300),
        ));
    }
    let n = x.sent[0]["claims"].as_array().map_or(0, Vec::len);
    pass(format!(
        "batch of {n} claims answered on {}",
        x.reply_address
    ))
}

pub(super) const CASES: &[ServerCase] = &[
    ServerCase {
        id: "fields/unknown-body-field-tolerated",
        spec: wire("Request"),
        level: Level::Should,
        stimulus: "a container request with an extra body key `x_vendor_extension` (an object)",
        requirement: "Body keys are those listed \"plus the same extra attributes as the properties\": a key not listed is signed around, not refused (SHOULD: the notes do not say; clients add attributes over versions, as `traceparent`)",
        requests: || Requests {
            corrupt: Some(|_, b| {
                b["x_vendor_extension"] = json!({"nested": [1, "two"], "flag": true});
                None
            }),
            ..Default::default()
        },
        check: |x| signed(x, "signed_claim"),
    },
    ServerCase {
        id: "fields/traceparent-property-tolerated",
        spec: wire("Request"),
        level: Level::Must,
        stimulus: "a container request with a W3C `traceparent` application property",
        requirement: "\"Application properties: ... plus `pub_task_id` ...; `traceparent` when tracing\": a traced request is signed like any other",
        requests: || Requests {
            corrupt: Some(|p, _| {
                p.insert(
                    "traceparent".into(),
                    "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01".into(),
                );
                None
            }),
            ..Default::default()
        },
        check: |x| signed(x, "signed_claim"),
    },
    ServerCase {
        id: "fields/body-carries-property-attributes",
        spec: wire("Request"),
        level: Level::Must,
        stimulus: "a container request whose body also carries service, environment, owner_id, mtype, source and manifest_digest",
        requirement: "Body keys: \"... optional `sig_keyname`, plus the same extra attributes as the properties\": the deployed body is signed",
        requests: || Requests {
            corrupt: Some(|p, b| {
                for (k, v) in p.iter() {
                    if b.get(k).is_none() {
                        b[k] = json!(v);
                    }
                }
                None
            }),
            ..Default::default()
        },
        check: |x| signed(x, "signed_claim"),
    },
    ServerCase {
        id: "fields/sig-keyname-optional",
        spec: wire("Request"),
        level: Level::Must,
        stimulus: "a container request without `sig_keyname`",
        requirement: "Body keys: \"`repo`, optional `sig_keyname`\": a request without it is signed",
        requests: || Requests {
            corrupt: Some(|_, b| {
                if let Some(o) = b.as_object_mut() {
                    o.remove("sig_keyname");
                }
                None
            }),
            ..Default::default()
        },
        check: |x| signed(x, "signed_claim"),
    },
    ServerCase {
        id: "fields/non-ascii-reference",
        spec: wire("Request"),
        level: Level::Should,
        stimulus: "a container claim for registry.example.com/ns/café:1 (repo ns/café)",
        requirement: "\"`repo` is the reference without registry and tag\", the claim names \"`critical.identity.docker-reference`\": a non-ASCII reference is answered, and if signed the claim names it byte for byte (SHOULD: the notes do not say which references a server takes; an error reply passes too)",
        requests: || Requests {
            corrupt: Some(|p, b| {
                use base64::Engine as _;
                let d = p.get("manifest_digest").cloned().unwrap_or_default();
                let c = msg_signer::wire::container_claim(&d, "registry.example.com/ns/café:1");
                b["claim_file"] =
                    json!(base64::engine::general_purpose::STANDARD.encode(c.to_string()));
                b["repo"] = json!("ns/café");
                None
            }),
            ..Default::default()
        },
        check: |x| {
            let m = first_msg(x)?;
            if m["signing_status"] != "success" {
                if m["errors"].as_array().is_some_and(|a| !a.is_empty()) {
                    return pass(format!("refused with an error reply: {}", m["errors"]));
                }
                return Err(fail(
                    "neither signed nor an error reply",
                    "signing_status success, or errors non-empty",
                    truncate(&m.to_string(), 300),
                ));
            }
            let bytes = signed_bytes(x, "signed_claim")?;
            let content = super::verify::message_content(&bytes).map_err(|e| {
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
        id: "fields/large-artifact-1mib",
        spec: wire("Request"),
        level: Level::Should,
        stimulus: "a blob request with a 1 MiB artifact (about 1.4 MB of base64)",
        requirement: "\"`artifact` for blobs; all base64\", of any size the brokers carry: a 1 MiB artifact is signed, and the signature (verified when the key is known) covers all of it (SHOULD: the notes state no limit; 1 MiB is well within the embedded broker's 16 MiB and RabbitMQ's default 128 MiB message limit)",
        requests: || Requests {
            kind: "blob",
            corrupt: Some(|_, b| {
                use base64::Engine as _;
                let data: Vec<u8> = (0..LARGE_ARTIFACT).map(|i| (i * 31 % 251) as u8).collect();
                b["artifact"] = json!(base64::engine::general_purpose::STANDARD.encode(data));
                None
            }),
            ..Default::default()
        },
        check: |x| {
            let sig = signed_bytes(x, "signed_payload")?;
            let Some(keys) = x.pubkeys.as_deref() else {
                return pass(format!(
                    "signed ({} bytes of signature; not verified: no --set signing_pubkey)",
                    sig.len()
                ));
            };
            let data = b64_field(&x.sent[0], "artifact")?;
            let v = keys.verify_detached(&sig, &data).map_err(|e| {
                fail(
                    "signed_payload does not verify over the 1 MiB artifact",
                    "a detached signature over every byte sent",
                    e,
                )
            })?;
            pass(format!("{} bytes signed by key {}", data.len(), v.key_id))
        },
    },
    ServerCase {
        id: "batch/per-claim-results",
        spec: wire("Request"),
        level: Level::Should,
        stimulus: "one batch request of 2 claims, one key each",
        requirement: "Batch: \"body `claims` = list of `{claim_file, sig_keynames[], sig_key_ids[], manifest_digest, repo}`\": the reply gives a result per claim and key naming its manifest_digest and repo (SHOULD: the notes give no batch reply shape; a `signed_claims` list is judged, another shape skips)",
        requests: || Requests {
            kind: "batch",
            ..Default::default()
        },
        check: |x| {
            let m = first_msg(x)?;
            let Some(list) = m["signed_claims"].as_array() else {
                return Err(skip(
                    "the reply has no `signed_claims` list: the notes give no batch reply shape",
                ));
            };
            let claims = x.sent[0]["claims"].as_array().cloned().unwrap_or_default();
            let want: Vec<(Value, Value)> = claims
                .iter()
                .flat_map(|c| {
                    let n = c["sig_key_ids"].as_array().map_or(0, Vec::len);
                    std::iter::repeat_n((c["manifest_digest"].clone(), c["repo"].clone()), n)
                })
                .collect();
            let got: Vec<(Value, Value)> = list
                .iter()
                .map(|s| (s["manifest_digest"].clone(), s["repo"].clone()))
                .collect();
            if got != want {
                return Err(fail(
                    "not one result per claim and key",
                    format!("{want:?}"),
                    format!("{got:?}"),
                ));
            }
            if let Some(s) = list
                .iter()
                .find(|s| s["signed_claim"].as_str().is_none_or(str::is_empty))
            {
                return Err(fail(
                    "a per-claim result without a signed_claim",
                    "signed_claim in every entry",
                    s.to_string(),
                ));
            }
            pass(format!("{} per-claim results", list.len()))
        },
    },
    ServerCase {
        id: "batch/chunk-of-chunk-size",
        spec: wire("Request"),
        level: Level::Must,
        stimulus: "one batch request of 10 claims (a chunk of chunk_size 10)",
        requirement: "\"Batch (config section `msg_batch_signer` + `chunk_size`): body `claims` = list of ...\": a full chunk is one request, answered (correlated, `errors` empty)",
        requests: || Requests {
            kind: "batch",
            batch_claims: 10,
            ..Default::default()
        },
        check: batch_answered,
    },
];

//! `msg-signer/server/invalid/*`: an invalid request gets an error reply, never silence
//! (`Reply` of `notes/msg-signer-wire.md`): one case per required field missing or malformed.
//!
//! Levels: MUST where the request cannot be signed as sent (no key, no data, no mtype, data
//! that is not base64: signing anything would sign something the client did not send); SHOULD
//! where the field is one the notes list as sent but no sentence says a server needs it
//! (service, environment, source, created, ...): a server may sign anyway, but the error
//! reply tells a client its request is not the deployed shape.

use serde_json::{Value, json};
use sigharness_report::Level;

use super::probe::Requests;
use super::{ServerCase, error_reply, first_msg};
use crate::runner::check::{fail, pass};
use crate::suites::msg_signer::wire;

fn drop_body(b: &mut Value, k: &str) {
    if let Some(o) = b.as_object_mut() {
        o.remove(k);
    }
}

/// One invalid-request case: the default request of `kind` spoiled by the block (over the
/// application properties `p` and the body `b`), judged by [`error_reply`].
macro_rules! invalid {
    ($id:literal, $level:ident, $kind:literal, $stim:literal, $req:literal, |$p:ident, $b:ident| $body:block) => {
        ServerCase {
            id: $id,
            spec: wire("Request"),
            level: Level::$level,
            stimulus: $stim,
            requirement: $req,
            requests: || Requests {
                kind: $kind,
                corrupt: Some(|$p, $b| {
                    $body;
                    None
                }),
                ..Default::default()
            },
            check: error_reply,
        }
    };
}

pub(super) const CASES: &[ServerCase] = &[
    ServerCase {
        id: "invalid/unknown-signing-key",
        spec: wire("Reply"),
        level: Level::Must,
        stimulus: "sig_key_id no key matches",
        requirement: "An invalid request gets an error reply (errors, failure signing_status), not silence",
        requests: || Requests {
            corrupt: Some(|_, b| {
                b["sig_key_id"] = json!("00000000");
                None
            }),
            ..Default::default()
        },
        check: |x| error_reply(x),
    },
    ServerCase {
        id: "invalid/claim-not-base64",
        spec: wire("Reply"),
        level: Level::Must,
        stimulus: "claim_file is not base64",
        requirement: "An invalid request gets an error reply",
        requests: || Requests {
            corrupt: Some(|_, b| {
                b["claim_file"] = json!("%%% not base64");
                None
            }),
            ..Default::default()
        },
        check: |x| error_reply(x),
    },
    ServerCase {
        id: "invalid/unknown-mtype",
        spec: wire("Reply"),
        level: Level::Must,
        stimulus: "mtype `frobnicate`",
        requirement: "An invalid request gets an error reply",
        requests: || Requests {
            corrupt: Some(|p, _| {
                p.insert("mtype".into(), "frobnicate".into());
                None
            }),
            ..Default::default()
        },
        check: |x| error_reply(x),
    },
    ServerCase {
        id: "invalid/missing-created",
        spec: wire("Reply"),
        level: Level::Should,
        stimulus: "no `created` in the body",
        requirement: "An invalid request gets an error reply",
        requests: || Requests {
            corrupt: Some(|_, b| {
                if let Some(o) = b.as_object_mut() {
                    o.remove("created");
                }
                None
            }),
            ..Default::default()
        },
        check: |x| error_reply(x),
    },
    ServerCase {
        id: "invalid/body-not-json",
        spec: wire("Reply"),
        level: Level::Should,
        stimulus: "the body string is not JSON",
        requirement: "An invalid request gets an error reply (it cannot carry an id)",
        requests: || Requests {
            corrupt: Some(|_, _| Some("this is not JSON".into())),
            ..Default::default()
        },
        check: |x| {
            let m = first_msg(x)?;
            if m["errors"].as_array().is_none_or(|a| a.is_empty()) {
                return Err(fail("no error listed", "errors non-empty", m.to_string()));
            }
            pass("error reply")
        },
    },
    invalid!(
        "invalid/missing-sig-key-id",
        Must,
        "container",
        "no `sig_key_id` in the body",
        "\"Body keys: `sig_key_id` (last 8 chars of the real key id)\": without it no key is named, so nothing can be signed: an error reply",
        |_p, b| { drop_body(b, "sig_key_id") }
    ),
    invalid!(
        "invalid/missing-claim-file",
        Must,
        "container",
        "a container request without `claim_file`",
        "\"the data (`claim_file` for containers ...)\": without it there is nothing to sign: an error reply",
        |_p, b| { drop_body(b, "claim_file") }
    ),
    invalid!(
        "invalid/missing-data",
        Must,
        "clear",
        "a clearsign request without `data`",
        "\"the data (... `data` for clearsign ...)\": without it there is nothing to sign: an error reply",
        |_p, b| { drop_body(b, "data") }
    ),
    invalid!(
        "invalid/missing-artifact",
        Must,
        "blob",
        "a blob request without `artifact`",
        "\"the data (... `artifact` for blobs; all base64)\": without it there is nothing to sign: an error reply",
        |_p, b| { drop_body(b, "artifact") }
    ),
    invalid!(
        "invalid/missing-mtype",
        Must,
        "container",
        "no `mtype` application property",
        "\"Application properties: ... `mtype`\" (`container_signature`, `clearsign_signature`, `gpg_signature`, `batch`): without it the kind of signature is unknown: an error reply",
        |p, _b| { p.remove("mtype") }
    ),
    invalid!(
        "invalid/data-not-base64",
        Must,
        "clear",
        "clearsign `data` that is not base64",
        "\"`data` for clearsign ...; all base64\": an error reply, not a signature over something else",
        |_p, b| { b["data"] = json!("%%% not base64") }
    ),
    invalid!(
        "invalid/artifact-not-base64",
        Must,
        "blob",
        "blob `artifact` that is not base64",
        "\"`artifact` for blobs; all base64\": an error reply, not a signature over something else",
        |_p, b| { b["artifact"] = json!("%%% not base64") }
    ),
    invalid!(
        "invalid/missing-request-id",
        Should,
        "container",
        "no `request_id` in the body",
        "\"`request_id` (uuid4 string)\" is what the client correlates by (\"the client reads `body[\\\"msg\\\"][message_id_key]`\"): an error reply (SHOULD: the reply cannot be correlated, so only its errors can be judged)",
        |_p, b| { drop_body(b, "request_id") }
    ),
    invalid!(
        "invalid/missing-requested-by",
        Should,
        "container",
        "no `requested_by` in the body (owner_id still names the creator)",
        "\"`requested_by` (creator)\" is a body key the client sends: an error reply (SHOULD: no sentence says a server needs it; owner_id names the creator too)",
        |_p, b| { drop_body(b, "requested_by") }
    ),
    invalid!(
        "invalid/missing-owner-id",
        Should,
        "container",
        "no `owner_id` application property",
        "\"Application properties: `service`, `environment`, `owner_id` (= creator), ...\": an error reply (SHOULD: no sentence says a server needs it)",
        |p, _b| { p.remove("owner_id") }
    ),
    invalid!(
        "invalid/missing-service",
        Should,
        "container",
        "no `service` application property",
        "\"Application properties: `service`, ...\"; spec \"service: The ID of the service that sends the signing request\": an error reply (SHOULD: its meaning \"depends on the signing server implementation\")",
        |p, _b| { p.remove("service") }
    ),
    invalid!(
        "invalid/missing-environment",
        Should,
        "container",
        "no `environment` application property",
        "\"Application properties: ... `environment`\"; spec \"This field is used in composed signigng request\": an error reply (SHOULD: \"its measning depends only on the signing server implementation\")",
        |p, _b| { p.remove("environment") }
    ),
    invalid!(
        "invalid/missing-source",
        Should,
        "container",
        "no `source` application property",
        "\"Application properties: ... `source` = \\\"metadata\\\"\": an error reply (SHOULD: no sentence says a server needs it)",
        |p, _b| { p.remove("source") }
    ),
    invalid!(
        "invalid/source-not-metadata",
        Should,
        "container",
        "application property source = \"upload\"",
        "\"`source` = \\\"metadata\\\"\": another value gets an error reply (SHOULD: the notes give the one value sent, not what a server does with another)",
        |p, _b| { p.insert("source".into(), "upload".into()) }
    ),
    invalid!(
        "invalid/created-not-iso8601",
        Should,
        "container",
        "`created` = \"yesterday\"",
        "\"`created` (ISO-8601 UTC with `Z`)\": another form gets an error reply (SHOULD: no sentence says a server checks it)",
        |_p, b| { b["created"] = json!("yesterday") }
    ),
    invalid!(
        "invalid/claim-not-atomic-signature",
        Should,
        "container",
        "claim_file is base64 JSON without critical.type",
        "\"Container claim = base64 of the JSON \\\"atomic container signature\\\" claim (`critical.type`, ...)\": another JSON gets an error reply (SHOULD: a server signing it signs what no verifier accepts as a claim)",
        |_p, b| {
            use base64::Engine as _;
            b["claim_file"] =
                json!(base64::engine::general_purpose::STANDARD.encode(b"{\"critical\": {}}"))
        }
    ),
    invalid!(
        "invalid/claim-digest-differs",
        Should,
        "container",
        "manifest_digest (property and body) differs from the claim's digest",
        "\"Application properties: ... (container adds `manifest_digest`)\" and the claim's \"`critical.image.docker-manifest-digest`\" name one image: differing, an error reply (SHOULD: the notes do not say which a server trusts)",
        |p, b| {
            let d = format!("sha256:{:064x}", 7);
            p.insert("manifest_digest".into(), d.clone());
            b["manifest_digest"] = json!(d)
        }
    ),
    invalid!(
        "invalid/batch-claims-not-a-list",
        Should,
        "batch",
        "mtype batch with `claims` a string",
        "\"Batch ...: body `claims` = list of `{claim_file, ...}`\": another shape gets an error reply (SHOULD: the notes give no batch error reply)",
        |_p, b| { b["claims"] = json!("not a list") }
    ),
];

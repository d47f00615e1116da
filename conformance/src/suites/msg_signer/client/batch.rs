//! `msg-signer/client/batch/*`: batch signing (`Batch` of `notes/msg-signer-wire.md`: config
//! section `msg_batch_signer` + `chunk_size`, mtype `batch`, body `claims` = list of
//! `{claim_file, sig_keynames[], sig_key_ids[], manifest_digest, repo}`), as the deployed
//! client's `--signer-type batch` sends it.

use serde_json::Value;
use sigharness_report::Level;

use super::ClientCase;
use super::checks::{observed_with_requests, ok_all};
use crate::runner::check::{Check, both, fail, pass};
use crate::suites::msg_signer::env::{Observed, Scenario};
use crate::suites::msg_signer::wire;

pub(super) const CASES: &[ClientCase] = &[ClientCase {
    id: "batch/claims-chunked-and-signed",
    spec: wire("Request"),
    level: Level::Must,
    stimulus: "--signer-type batch, 3 images of one repository, chunk_size 2, key alias prod",
    requirement: "Batch (config section msg_batch_signer + chunk_size): body claims = list of {claim_file, sig_keynames[], sig_key_ids[], manifest_digest, repo} (judged: 2 requests with application property mtype batch holding 2 and 1 claims, each claim with those keys, sig_key_ids the last 8 characters of the aliased key id, manifest_digest the image's; the signing server found nothing invalid; exit 0 and status ok)",
    scenario: || Scenario {
        inputs: 3,
        batch: Some(2),
        ..Default::default()
    },
    verdict: |o| both(batch_requests(o), ok_all(o)),
}];

fn batch_requests(o: &Observed) -> Check {
    let reqs = o.request_messages();
    let mut sizes = Vec::new();
    for (i, m) in reqs.iter().enumerate() {
        let mtype = m.application_properties.get("mtype").cloned();
        if mtype != Some(Value::String("batch".into())) {
            return Err(fail(
                format!("request {} is not a batch request", i + 1),
                "application property mtype \"batch\"",
                format!("{mtype:?}"),
            ));
        }
        let body: Option<Value> = m
            .body_text
            .as_deref()
            .and_then(|t| serde_json::from_str(t).ok());
        let Some(claims) = body
            .as_ref()
            .and_then(|b| b.get("claims"))
            .and_then(Value::as_array)
        else {
            return Err(fail(
                format!("request {} has no `claims` list", i + 1),
                "body claims = list of claims",
                m.body_text.clone().unwrap_or_default(),
            ));
        };
        for c in claims {
            for k in [
                "claim_file",
                "sig_keynames",
                "sig_key_ids",
                "manifest_digest",
                "repo",
            ] {
                if c.get(k).is_none() {
                    return Err(fail(
                        format!("a claim of request {} lacks `{k}`", i + 1),
                        "{claim_file, sig_keynames[], sig_key_ids[], manifest_digest, repo}",
                        c.to_string(),
                    ));
                }
            }
            let ids = c["sig_key_ids"].as_array().cloned().unwrap_or_default();
            let short = o.key_id.get(8..).unwrap_or_default();
            if ids != [Value::String(short.to_string())] {
                return Err(fail(
                    "sig_key_ids must be the last 8 characters of the aliased key id",
                    format!("[\"{short}\"]"),
                    c["sig_key_ids"].to_string(),
                ));
            }
        }
        sizes.push(claims.len());
    }
    if sizes != [2, 1] {
        return Err(fail(
            "3 images with chunk_size 2 make 2 batch requests",
            "claims per request [2, 1]",
            format!("{sizes:?}"),
        ));
    }
    let invalid: Vec<String> = o.server.iter().flat_map(|r| r.errors.clone()).collect();
    if !invalid.is_empty() {
        return Err(fail(
            "the signing server found the batch requests invalid",
            "no validation error",
            format!("{}; {}", invalid.join("; "), observed_with_requests(o)),
        ));
    }
    pass("2 batch requests of 2 and 1 claims")
}

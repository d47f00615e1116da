//! The operations of the CLI (`container-sign`, `clear-sign`, `blob-sign`) and their JSON
//! output in the deployed client's shape:
//! `{"signer_result": {"status": "ok|error", "error_message": ".."}, "operation_results": [..],
//!   "operation": {..}, "signing_keys": [..]}`.
//!
//! Each entry of `operation_results` has the deployed shape (notes, "CLI shape"): a
//! two-element array `[envelope, properties]`, the reply's parsed JSON envelope and its AMQP
//! application properties. Ours always prints `null` for the properties: the transport keeps
//! only the reply body (the notes allow `null`).
//!
//! Differences from the deployed client, on purpose (notes, departures 6 and 7):
//! - `operation_results` has one entry per request, in request order, and keeps partial
//!   results when the status is `error`. A request that got no reply (the deployed client
//!   prints `""`) gets a synthetic envelope instead, `[{"client_error": true, "msg": {<id key>:
//!   id, "errors": [reason], "signing_status": "failed"}}, null]`, so its failure is visible
//!   per request.
//! - `status` is `ok` only when every request was signed; `error_message` then is empty, else
//!   it lists every failed request with its reason.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde::Serialize;
use serde_json::{Value, json};

use crate::config::{MsgSignerConfig, expand_template};
use crate::engine::RequestResult;
use crate::error::{Error, Result};
use crate::transport::{RunReport, TransportOptions};
use crate::wire::{RunContext, SignInput, WireRequest, build_requests};

/// What to sign.
#[derive(Clone, Debug)]
pub enum Operation {
    /// Pairs of `--digest` and `--reference` (same count, zipped in order).
    ContainerSign {
        digests: Vec<String>,
        references: Vec<String>,
    },
    /// `--input` values: literal text, or `@PATH` to read a file.
    ClearSign { inputs: Vec<String> },
    /// `--blob-file` paths.
    BlobSign { files: Vec<PathBuf> },
}

/// Options common to every operation.
#[derive(Clone, Debug, Default)]
pub struct SignOptions {
    /// Batch signing (`--signer-type batch`, containers only): the `msg_batch_signer` section,
    /// one request (mtype `batch`) per `chunk_size` images, each carrying the claims of its
    /// images for every key; one `operation_results` entry per batch request.
    pub batch: bool,
    pub task_id: String,
    pub signing_keys: Vec<String>,
    pub signing_key_name: Option<String>,
    pub requester: Option<String>,
    pub transport: TransportOptions,
}

#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct SignerResult {
    pub status: String,
    pub error_message: String,
}

/// The JSON document the CLI prints.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct SignerOutput {
    pub signer_result: SignerResult,
    pub operation_results: Vec<Value>,
    pub operation: Value,
    pub signing_keys: Vec<String>,
}

impl SignerOutput {
    pub fn is_ok(&self) -> bool {
        self.signer_result.status == "ok"
    }

    /// The signed values (`signed_claim` / `signed_data` / `signed_payload`, and each
    /// `signed_claims[].signed_claim` of a batch reply) of successful results, in request
    /// order (`--raw`).
    pub fn raw_values(&self) -> Vec<String> {
        let mut out = Vec::new();
        for e in &self.operation_results {
            let Some(m) = entry_envelope(e).and_then(|v| v.get("msg")) else {
                continue;
            };
            if let Some(v) = ["signed_claim", "signed_data", "signed_payload"]
                .iter()
                .find_map(|f| m.get(*f).and_then(Value::as_str))
            {
                out.push(v.to_string());
            }
            for c in m
                .get("signed_claims")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                if let Some(v) = c.get("signed_claim").and_then(Value::as_str) {
                    out.push(v.to_string());
                }
            }
        }
        out
    }

    fn error(operation: Value, keys: &[String], message: String) -> Self {
        SignerOutput {
            signer_result: SignerResult {
                status: "error".into(),
                error_message: message,
            },
            operation_results: vec![],
            operation,
            signing_keys: keys.to_vec(),
        }
    }
}

/// An `operation_results` entry's envelope: `[envelope, properties]` (the deployed shape,
/// which we print) or a bare envelope; `""` (no reply, deployed) has none.
pub fn entry_envelope(e: &Value) -> Option<&Value> {
    match e {
        Value::Array(a) => a.first().filter(|v| v.is_object()),
        Value::Object(_) => Some(e),
        _ => None,
    }
}

/// One `operation_results` entry in the deployed shape: `[envelope, properties]`.
fn entry(envelope: Value) -> Value {
    json!([envelope, Value::Null])
}

fn operation_json(op: &Operation, opts: &SignOptions) -> Value {
    let mut v = match op {
        Operation::ContainerSign {
            digests,
            references,
        } => {
            json!({"digests": digests, "references": references})
        }
        Operation::ClearSign { inputs } => json!({"inputs": inputs}),
        Operation::BlobSign { files } => json!({"blob_files": files}),
    };
    v["task_id"] = json!(opts.task_id);
    v["signing_keys"] = json!(opts.signing_keys);
    v["signing_key_name"] = json!(opts.signing_key_name);
    v["requester"] = json!(opts.requester);
    if opts.batch {
        v["signer_type"] = json!("batch");
    }
    v
}

/// Turn the operation into signing inputs (reads files).
pub fn inputs(op: &Operation) -> Result<Vec<SignInput>> {
    match op {
        Operation::ContainerSign {
            digests,
            references,
        } => {
            if digests.len() != references.len() {
                return Err(Error::Input(format!(
                    "{} --digest but {} --reference: give one reference per digest",
                    digests.len(),
                    references.len()
                )));
            }
            Ok(digests
                .iter()
                .zip(references)
                .map(|(d, r)| SignInput::Container {
                    digest: d.clone(),
                    reference: r.clone(),
                })
                .collect())
        }
        Operation::ClearSign { inputs } => inputs
            .iter()
            .map(|i| {
                let data = match i.strip_prefix('@') {
                    Some(p) => std::fs::read(p)
                        .map_err(|e| Error::Input(format!("--input {i}: cannot read {p}: {e}")))?,
                    None => i.as_bytes().to_vec(),
                };
                Ok(SignInput::Clear { data })
            })
            .collect(),
        Operation::BlobSign { files } => files
            .iter()
            .map(|f| {
                let data = std::fs::read(f).map_err(|e| {
                    Error::Input(format!("--blob-file {}: cannot read: {e}", f.display()))
                })?;
                Ok(SignInput::Blob { data })
            })
            .collect(),
    }
}

/// Build the output document from the requests and the run's results.
pub fn output(
    config: &MsgSignerConfig,
    operation: Value,
    keys: &[String],
    requests: &[WireRequest],
    results: &[RequestResult],
) -> SignerOutput {
    let mut failures = Vec::new();
    let mut entries = Vec::with_capacity(requests.len());
    for (req, res) in requests.iter().zip(results) {
        match res {
            RequestResult::Signed { envelope } => entries.push(entry(envelope.clone())),
            RequestResult::Failed { error, envelope } => {
                failures.push(format!(
                    "request {} (input {}, key {}): {error}",
                    req.id, req.input_index, req.signing_key
                ));
                entries.push(entry(envelope.clone().unwrap_or_else(|| {
                    let mut msg = serde_json::Map::new();
                    msg.insert(config.message_id_key.clone(), json!(req.id));
                    msg.insert("errors".into(), json!([error]));
                    msg.insert("signing_status".into(), json!("failed"));
                    json!({"client_error": true, "msg": msg})
                })));
            }
        }
    }
    if results.len() != requests.len() {
        failures.push(format!(
            "internal: {} results for {} requests",
            results.len(),
            requests.len()
        ));
    }
    SignerOutput {
        signer_result: SignerResult {
            status: if failures.is_empty() { "ok" } else { "error" }.into(),
            error_message: failures.join("\n"),
        },
        operation_results: entries,
        operation,
        signing_keys: keys.to_vec(),
    }
}

/// Everything before the network: config, creator, addresses, requests.
pub struct Prepared {
    pub config: MsgSignerConfig,
    pub creator: String,
    pub reply_address: String,
    pub requests: Vec<WireRequest>,
}

/// Load the config, determine the creator, build the requests.
pub fn prepare(config_path: &Path, op: &Operation, opts: &SignOptions) -> Result<Prepared> {
    if opts.batch {
        return prepare_batch(config_path, op, opts);
    }
    let config = MsgSignerConfig::load(config_path)?;
    let creator = crate::tls::creator(opts.requester.as_deref(), &config.messaging_cert_key)?;
    let ctx = RunContext {
        creator: creator.clone(),
        task_id: opts.task_id.clone(),
        signing_key_name: opts.signing_key_name.clone(),
    };
    let requests = build_requests(
        &config,
        &ctx,
        &inputs(op)?,
        &opts.signing_keys,
        SystemTime::now(),
        || uuid::Uuid::new_v4().to_string(),
    )?;
    let reply_address = expand_template(&config.topic_listen_to, &creator, &opts.task_id);
    Ok(Prepared {
        config,
        creator,
        reply_address,
        requests,
    })
}

/// [`prepare`] for batch signing: the `msg_batch_signer` section, containers only.
fn prepare_batch(config_path: &Path, op: &Operation, opts: &SignOptions) -> Result<Prepared> {
    let Operation::ContainerSign {
        digests,
        references,
    } = op
    else {
        return Err(Error::Input(
            "batch signing (--signer-type batch) signs container images only: use container-sign"
                .into(),
        ));
    };
    let batch = crate::config::MsgBatchSignerConfig::load(config_path)?;
    let config = batch.common();
    let creator = crate::tls::creator(opts.requester.as_deref(), &config.messaging_cert_key)?;
    let ctx = RunContext {
        creator: creator.clone(),
        task_id: opts.task_id.clone(),
        signing_key_name: opts.signing_key_name.clone(),
    };
    // Pairs checked as for single signing.
    inputs(op)?;
    let containers: Vec<(String, String)> = digests
        .iter()
        .cloned()
        .zip(references.iter().cloned())
        .collect();
    let requests = crate::wire::build_batch_requests(
        &batch,
        &ctx,
        &containers,
        &opts.signing_keys,
        SystemTime::now(),
        || uuid::Uuid::new_v4().to_string(),
    )?;
    let reply_address = expand_template(&config.topic_listen_to, &creator, &opts.task_id);
    Ok(Prepared {
        config,
        creator,
        reply_address,
        requests,
    })
}

/// Run one operation end to end. Never fails: every error ends up in `signer_result`.
pub async fn sign(
    config_path: &Path,
    op: &Operation,
    opts: &SignOptions,
) -> (SignerOutput, Option<RunReport>) {
    match prepare(config_path, op, opts) {
        Ok(p) => sign_prepared(&p, op, opts).await,
        Err(e) => (
            SignerOutput::error(operation_json(op, opts), &opts.signing_keys, e.to_string()),
            None,
        ),
    }
}

/// Run an operation whose config, creator and requests are already [`prepare`]d: everything on
/// the network. A CLI that refuses a bad config before any output (exit 2) prepares first.
pub async fn sign_prepared(
    p: &Prepared,
    op: &Operation,
    opts: &SignOptions,
) -> (SignerOutput, Option<RunReport>) {
    let operation = operation_json(op, opts);
    match crate::transport::run(&p.config, &opts.transport, &p.reply_address, &p.requests).await {
        Ok(report) => (
            output(
                &p.config,
                operation,
                &opts.signing_keys,
                &p.requests,
                &report.results,
            ),
            Some(report),
        ),
        Err(e) => (
            SignerOutput::error(operation, &opts.signing_keys, e.to_string()),
            None,
        ),
    }
}

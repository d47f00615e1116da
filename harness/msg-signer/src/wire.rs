//! The wire model of the deployed contract (`notes/msg-signer-wire.md`): request bodies and
//! application properties, the container claim, key alias resolution, and reply envelopes.
//!
//! Pure data: no AMQP types here (the transport maps a [`WireRequest`] onto an AMQP message:
//! `amqp-value` string body, `properties.to`, `header.ttl`, application properties).

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::{Map, Value, json};

use crate::config::{MsgSignerConfig, expand_template};
use crate::error::{Error, Result};

/// `optional.creator` of the container claim we build.
pub const CLAIM_CREATOR: &str = "sigharness msg-signer";

/// What one request asks the signing server to sign.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SignInput {
    /// A container image: manifest digest and full reference (`registry/ns/repo:tag`).
    Container { digest: String, reference: String },
    /// Data to clear-sign.
    Clear { data: Vec<u8> },
    /// A blob to sign (detached signature).
    Blob { data: Vec<u8> },
}

impl SignInput {
    /// The `mtype` application property (notes: "mtype").
    pub fn mtype(&self) -> &'static str {
        match self {
            SignInput::Container { .. } => "container_signature",
            SignInput::Clear { .. } => "clearsign_signature",
            SignInput::Blob { .. } => "gpg_signature",
        }
    }

    /// The field of a successful reply's `msg` that carries the result.
    pub fn result_field(&self) -> &'static str {
        match self {
            SignInput::Container { .. } => "signed_claim",
            SignInput::Clear { .. } => "signed_data",
            SignInput::Blob { .. } => "signed_payload",
        }
    }
}

/// Everything about a run that is the same for each request.
#[derive(Clone, Debug)]
pub struct RunContext {
    /// UID/CN of the client certificate, or `--requester`.
    pub creator: String,
    pub task_id: String,
    /// `--signing-key-name` (sent as `sig_keyname`).
    pub signing_key_name: Option<String>,
}

/// One request as it goes on the wire.
#[derive(Clone, Debug, PartialEq)]
pub struct WireRequest {
    /// Correlation id: the body's value at `message_id_key`.
    pub id: String,
    /// `properties.to`: `topic_send_to` after templating.
    pub to: String,
    /// `header.ttl`: `timeout * retries`.
    pub ttl: Duration,
    /// AMQP application properties (all strings).
    pub application_properties: BTreeMap<String, String>,
    /// The JSON body (an object); sent as an `amqp-value` string of its text.
    pub body: Value,
    /// The signing key as given (alias or real id) and the input index, for reporting.
    pub signing_key: String,
    pub input_index: usize,
    /// Field of the reply's `msg` that must carry the result (`None`: not checked).
    pub result_field: Option<&'static str>,
}

impl WireRequest {
    /// The body text (JSON) placed in the `amqp-value` string.
    pub fn body_text(&self) -> String {
        self.body.to_string()
    }
}

/// `repo` of a reference: without registry and tag/digest (`reg.io/ns/repo:1` -> `ns/repo`).
pub fn repo_of(reference: &str) -> String {
    let no_digest = reference.split('@').next().unwrap_or(reference);
    let path = match no_digest.split_once('/') {
        // The first component is a registry when it looks like a host (has '.' or ':' or is
        // `localhost`), as in the Docker reference grammar.
        Some((first, rest))
            if first.contains('.') || first.contains(':') || first == "localhost" =>
        {
            rest
        }
        _ => no_digest,
    };
    // A tag follows the last ':' after the last '/'.
    let last_slash = path.rfind('/').map(|i| i + 1).unwrap_or(0);
    match path[last_slash..].rfind(':') {
        Some(i) => path[..last_slash + i].to_string(),
        None => path.to_string(),
    }
}

/// The JSON "atomic container signature" claim (containers/image `atomic-signature` format).
pub fn container_claim(digest: &str, reference: &str) -> Value {
    json!({
        "critical": {
            "type": "atomic container signature",
            "image": {"docker-manifest-digest": digest},
            "identity": {"docker-reference": reference},
        },
        "optional": {"creator": CLAIM_CREATOR},
    })
}

/// `sig_key_id`: the last 8 characters of the real key id, after alias resolution (notes:
/// "key_aliases").
pub fn sig_key_id(config: &MsgSignerConfig, key: &str) -> Result<String> {
    let real = config.resolve_key(key);
    let chars: Vec<char> = real.chars().collect();
    if chars.len() < 8 {
        return Err(Error::Input(format!(
            "signing key {key:?} (resolved to {real:?}) is shorter than 8 characters; sig_key_id takes its last 8"
        )));
    }
    Ok(chars[chars.len() - 8..].iter().collect())
}

fn validate_digest(d: &str) -> Result<()> {
    let ok = d.split_once(':').is_some_and(|(alg, hex)| {
        !alg.is_empty() && !hex.is_empty() && hex.chars().all(|c| c.is_ascii_hexdigit())
    });
    if ok {
        Ok(())
    } else {
        Err(Error::Input(format!(
            "digest {d:?} is not ALGORITHM:HEX (e.g. sha256:...)"
        )))
    }
}

/// Build the requests of a run: one per (input x signing key), input-major order (notes:
/// "Request"). `request_id` values come from `new_id` (uuid4 in production) so tests are
/// deterministic; `created` is the wall-clock time of the run, written ISO-8601 UTC with `Z`.
pub fn build_requests(
    config: &MsgSignerConfig,
    ctx: &RunContext,
    inputs: &[SignInput],
    signing_keys: &[String],
    created: SystemTime,
    mut new_id: impl FnMut() -> String,
) -> Result<Vec<WireRequest>> {
    if inputs.is_empty() {
        return Err(Error::Input("nothing to sign: no input given".into()));
    }
    if signing_keys.is_empty() {
        return Err(Error::Input("no --signing-key given".into()));
    }
    let to = expand_template(&config.topic_send_to, &ctx.creator, &ctx.task_id);
    let created = humantime::format_rfc3339_micros(created).to_string();
    let mut out = Vec::with_capacity(inputs.len() * signing_keys.len());
    let mut seen = std::collections::HashSet::new();
    for (input_index, input) in inputs.iter().enumerate() {
        for key in signing_keys {
            let mut props = BTreeMap::new();
            props.insert("service".to_string(), config.service.clone());
            props.insert("environment".to_string(), config.environment.clone());
            props.insert("owner_id".to_string(), ctx.creator.clone());
            props.insert("mtype".to_string(), input.mtype().to_string());
            props.insert("source".to_string(), "metadata".to_string());
            props.insert("pub_task_id".to_string(), ctx.task_id.clone());
            let mut body = Map::new();
            body.insert("sig_key_id".into(), sig_key_id(config, key)?.into());
            match input {
                SignInput::Container { digest, reference } => {
                    validate_digest(digest)?;
                    if reference.trim().is_empty() {
                        return Err(Error::Input("empty --reference".into()));
                    }
                    props.insert("manifest_digest".into(), digest.clone());
                    let claim = container_claim(digest, reference).to_string();
                    body.insert("claim_file".into(), B64.encode(claim).into());
                    body.insert("manifest_digest".into(), digest.clone().into());
                    body.insert("repo".into(), repo_of(reference).into());
                }
                SignInput::Clear { data } => {
                    body.insert("data".into(), B64.encode(data).into());
                    body.insert("repo".into(), "".into());
                }
                SignInput::Blob { data } => {
                    body.insert("artifact".into(), B64.encode(data).into());
                    body.insert("repo".into(), "".into());
                }
            }
            body.insert("request_id".into(), new_id().into());
            body.insert("created".into(), created.clone().into());
            body.insert("requested_by".into(), ctx.creator.clone().into());
            body.insert("pub_task_id".into(), ctx.task_id.clone().into());
            if let Some(n) = &ctx.signing_key_name {
                body.insert("sig_keyname".into(), n.clone().into());
            }
            // Correlation is by body[message_id_key] (notes: "Correlation").
            let id = match body.get(&config.message_id_key) {
                Some(Value::String(s)) => s.clone(),
                Some(v) => v.to_string(),
                None => {
                    return Err(Error::Input(format!(
                        "message_id_key {:?} is not a key of the request body (keys: {})",
                        config.message_id_key,
                        body.keys().cloned().collect::<Vec<_>>().join(", ")
                    )));
                }
            };
            if !seen.insert(id.clone()) {
                return Err(Error::Input(format!(
                    "message_id_key {:?} does not identify requests: two requests share the value {id:?}",
                    config.message_id_key
                )));
            }
            out.push(WireRequest {
                id,
                to: to.clone(),
                ttl: config.ttl(),
                application_properties: props,
                body: Value::Object(body),
                signing_key: key.clone(),
                input_index,
                result_field: Some(input.result_field()),
            });
        }
    }
    Ok(out)
}

/// Build batch requests (`msg_batch_signer`, notes: "Batch"): the containers are cut into
/// chunks of `chunk_size` claims; one request per chunk with body `claims` = list of
/// `{claim_file, sig_keynames[], sig_key_ids[], manifest_digest, repo}` (every signing key
/// applies to every claim), `mtype` `batch`, and `pipeline_run_id` in place of `pub_task_id`.
pub fn build_batch_requests(
    config: &crate::config::MsgBatchSignerConfig,
    ctx: &RunContext,
    containers: &[(String, String)],
    signing_keys: &[String],
    created: SystemTime,
    mut new_id: impl FnMut() -> String,
) -> Result<Vec<WireRequest>> {
    let common = config.common();
    if containers.is_empty() {
        return Err(Error::Input("nothing to sign: no container given".into()));
    }
    if signing_keys.is_empty() {
        return Err(Error::Input("no --signing-key given".into()));
    }
    let key_ids = signing_keys
        .iter()
        .map(|k| sig_key_id(&common, k))
        .collect::<Result<Vec<_>>>()?;
    let key_names: Vec<String> = signing_keys
        .iter()
        .map(|k| ctx.signing_key_name.clone().unwrap_or_else(|| k.clone()))
        .collect();
    let to = expand_template(&common.topic_send_to, &ctx.creator, &ctx.task_id);
    let created = humantime::format_rfc3339_micros(created).to_string();
    let mut out = Vec::new();
    for (chunk_index, chunk) in containers.chunks(config.chunk_size.max(1)).enumerate() {
        let mut claims = Vec::with_capacity(chunk.len());
        for (digest, reference) in chunk {
            validate_digest(digest)?;
            claims.push(json!({
                "claim_file": B64.encode(container_claim(digest, reference).to_string()),
                "sig_keynames": key_names,
                "sig_key_ids": key_ids,
                "manifest_digest": digest,
                "repo": repo_of(reference),
            }));
        }
        let mut props = BTreeMap::new();
        props.insert("service".to_string(), common.service.clone());
        props.insert("environment".to_string(), common.environment.clone());
        props.insert("owner_id".to_string(), ctx.creator.clone());
        props.insert("mtype".to_string(), "batch".to_string());
        props.insert("source".to_string(), "metadata".to_string());
        props.insert("pipeline_run_id".to_string(), ctx.task_id.clone());
        let body = json!({
            "claims": claims,
            "request_id": new_id(),
            "created": created,
            "requested_by": ctx.creator,
            "pipeline_run_id": ctx.task_id,
        });
        let id = match body.get(&common.message_id_key) {
            Some(Value::String(s)) => s.clone(),
            _ => {
                return Err(Error::Input(format!(
                    "message_id_key {:?} is not a string key of the batch request body",
                    common.message_id_key
                )));
            }
        };
        out.push(WireRequest {
            id,
            to: to.clone(),
            ttl: common.ttl(),
            application_properties: props,
            body,
            signing_key: signing_keys.join(","),
            input_index: chunk_index,
            // The batch reply shape is not part of the notes: no result field is required.
            result_field: None,
        });
    }
    Ok(out)
}

/// What a reply says about its request.
#[derive(Clone, Debug, PartialEq)]
pub enum ReplyVerdict {
    /// `errors` empty, status success, result field present.
    Signed,
    /// The server reported failure (`errors` non-empty or a failure `signing_status`).
    Failed(String),
    /// Correlated to a request, but not a well-formed reply (e.g. `errors` not a list, no
    /// result field).
    Malformed(String),
}

/// A reply correlated to a request id.
#[derive(Clone, Debug, PartialEq)]
pub struct Reply {
    pub id: String,
    pub verdict: ReplyVerdict,
    /// The whole envelope as received.
    pub envelope: Value,
}

/// A reply as delivered to the engine.
#[derive(Clone, Debug, PartialEq)]
pub enum IncomingReply {
    Correlated(Reply),
    /// Not JSON, no `msg`, or no id at `msg[message_id_key]`: cannot be attributed.
    Uncorrelated {
        reason: String,
    },
}

fn text_excerpt(s: &str) -> String {
    let mut e: String = s.chars().take(80).collect();
    if s.chars().count() > 80 {
        e.push('…');
    }
    e
}

/// Parse a reply body (notes: "Reply"): `{"i","msg_id","timestamp","topic","username","msg":{..}}`,
/// correlated by `msg[message_id_key]`. `result_field` says which field a successful `msg`
/// must carry (`None`: do not check).
pub fn parse_reply(
    body: &str,
    message_id_key: &str,
    result_field: impl Fn(&str) -> Option<&'static str>,
) -> IncomingReply {
    let envelope: Value = match serde_json::from_str(body) {
        Ok(v) => v,
        Err(e) => {
            return IncomingReply::Uncorrelated {
                reason: format!("reply is not JSON ({e}): {:?}", text_excerpt(body)),
            };
        }
    };
    let Some(msg) = envelope.get("msg").and_then(Value::as_object) else {
        return IncomingReply::Uncorrelated {
            reason: format!(
                "reply has no `msg` object: {:?}",
                text_excerpt(&envelope.to_string())
            ),
        };
    };
    let id = match msg.get(message_id_key) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => {
            return IncomingReply::Uncorrelated {
                reason: format!("reply `msg` has no string `{message_id_key}`"),
            };
        }
    };
    let verdict = verdict_of(msg, result_field(&id));
    IncomingReply::Correlated(Reply {
        id,
        verdict,
        envelope,
    })
}

fn verdict_of(msg: &Map<String, Value>, result_field: Option<&'static str>) -> ReplyVerdict {
    let errors: Vec<String> = match msg.get("errors") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(a)) => a
            .iter()
            .map(|e| match e {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            })
            .collect(),
        Some(other) => {
            return ReplyVerdict::Malformed(format!("`errors` is not a list: {other}"));
        }
    };
    // A status that is not a string (a number, a list, ...) is not one the deployed contract
    // knows: malformed, never ignored (ignoring it judged `{"signing_status": 5, ...}` signed).
    let status = match msg.get("signing_status") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.as_str()),
        Some(other) => {
            return ReplyVerdict::Malformed(format!("`signing_status` is not a string: {other}"));
        }
    };
    if !errors.is_empty() {
        return ReplyVerdict::Failed(format!(
            "signing server reported errors (signing_status {}): {}",
            status.unwrap_or("absent"),
            errors.join("; ")
        ));
    }
    match status {
        Some("success") | None => {}
        // Public clients disagree on the failure word ("failure" / "failed"): any status other
        // than "success" is a failure.
        Some(s) => {
            return ReplyVerdict::Failed(format!("signing_status {s:?} with no errors listed"));
        }
    }
    if let Some(f) = result_field {
        match msg.get(f) {
            Some(Value::String(s)) if !s.is_empty() => {}
            _ => {
                return ReplyVerdict::Malformed(format!(
                    "successful reply without a non-empty `{f}`"
                ));
            }
        }
    }
    ReplyVerdict::Signed
}

/// Build a reply envelope in the deployed shape (for tests, mocks and the conformance suite).
pub fn reply_envelope(topic: &str, msg: Value) -> Value {
    json!({
        "i": 0,
        "msg_id": uuid::Uuid::new_v4().to_string(),
        "timestamp": 0,
        "topic": topic,
        "username": "signing-server",
        "msg": msg,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> MsgSignerConfig {
        MsgSignerConfig::from_yaml(
            std::path::Path::new("t.yaml"),
            r#"
msg_signer:
  messaging_brokers: ["amqp://127.0.0.1:5672"]
  messaging_cert_key: c.pem
  messaging_ca_cert: ca.pem
  topic_send_to: topic://Sign.{creator}
  topic_listen_to: queue://C.{creator}.{task_id}
  environment: prod
  service: svc
  timeout: 2
  retries: 3
  send_retries: 2
  message_id_key: request_id
  key_aliases: {beta: "AAAABBBBCCCCDDDD"}
"#,
        )
        .unwrap()
    }

    fn ctx() -> RunContext {
        RunContext {
            creator: "alice".into(),
            task_id: "7".into(),
            signing_key_name: Some("rel-key".into()),
        }
    }

    proptest::proptest! {
        #[test]
        fn request_body_round_trips(
            creator in "[a-z][a-z0-9.-]{0,20}",
            task in "[0-9A-Za-z-]{1,12}",
            data in proptest::collection::vec(proptest::num::u8::ANY, 0..200),
            key in "[0-9A-F]{8,40}",
        ) {
            let ctx = RunContext { creator: creator.clone(), task_id: task.clone(), signing_key_name: None };
            let reqs = build_requests(&cfg(), &ctx, &[SignInput::Blob { data: data.clone() }], std::slice::from_ref(&key),
                SystemTime::UNIX_EPOCH, || "rid".to_string()).unwrap();
            let r = &reqs[0];
            let back: Value = serde_json::from_str(&r.body_text()).unwrap();
            proptest::prop_assert_eq!(&back, &r.body);
            proptest::prop_assert_eq!(B64.decode(back["artifact"].as_str().unwrap()).unwrap(), data);
            proptest::prop_assert_eq!(back["sig_key_id"].as_str().unwrap(), &key[key.len() - 8..]);
            proptest::prop_assert_eq!(&r.to, &format!("topic://Sign.{creator}"));
            proptest::prop_assert_eq!(&r.application_properties["pub_task_id"], &task);
        }

        #[test]
        fn reply_envelope_round_trips(id in "\\PC{1,40}", signed in "[A-Za-z0-9+/=]{1,60}") {
            let env = reply_envelope("t", json!({"request_id": id, "errors": [], "signing_status": "success", "signed_payload": signed}));
            match parse_reply(&env.to_string(), "request_id", |_| Some("signed_payload")) {
                IncomingReply::Correlated(r) => {
                    proptest::prop_assert_eq!(r.id, id);
                    proptest::prop_assert_eq!(r.verdict, ReplyVerdict::Signed);
                    proptest::prop_assert_eq!(r.envelope, env);
                }
                other => proptest::prop_assert!(false, "{:?}", other),
            }
        }

        #[test]
        fn arbitrary_reply_text_never_panics(text in "\\PC{0,200}") {
            let _ = parse_reply(&text, "request_id", |_| Some("signed_claim"));
        }
    }

    #[test]
    fn batch_requests_are_chunked() {
        let y = r#"
msg_batch_signer:
  messaging_brokers: ["amqp://127.0.0.1:5672"]
  messaging_cert_key: c.pem
  messaging_ca_cert: ca.pem
  topic_send_to: topic://Batch.{creator}
  topic_listen_to: queue://C.{creator}.{task_id}
  environment: prod
  service: svc
  timeout: 2
  retries: 3
  send_retries: 2
  message_id_key: request_id
  chunk_size: 2
"#;
        let c = crate::config::MsgBatchSignerConfig::from_yaml(std::path::Path::new("b.yaml"), y)
            .unwrap();
        let containers: Vec<(String, String)> = (0..5)
            .map(|i| (format!("sha256:{i:02x}"), format!("reg.io/ns/r{i}:1")))
            .collect();
        let mut n = 0;
        let reqs = build_batch_requests(
            &c,
            &ctx(),
            &containers,
            &["0000111122223333".into(), "AAAABBBBCCCCDDDD".into()],
            SystemTime::UNIX_EPOCH,
            || {
                n += 1;
                format!("b{n}")
            },
        )
        .unwrap();
        assert_eq!(reqs.len(), 3);
        assert_eq!(reqs[2].body["claims"].as_array().unwrap().len(), 1);
        let claim = &reqs[0].body["claims"][1];
        assert_eq!(claim["manifest_digest"], "sha256:01");
        assert_eq!(claim["repo"], "ns/r1");
        assert_eq!(claim["sig_key_ids"], json!(["22223333", "CCCCDDDD"]));
        assert_eq!(reqs[0].application_properties["mtype"], "batch");
        assert_eq!(reqs[0].application_properties["pipeline_run_id"], "7");
        assert_eq!(reqs[0].to, "topic://Batch.alice");
        assert_eq!(reqs[1].id, "b2");
    }

    #[test]
    fn repo_strips_registry_and_tag() {
        assert_eq!(repo_of("reg.io/ns/repo:1"), "ns/repo");
        assert_eq!(repo_of("reg.io:5000/ns/repo"), "ns/repo");
        assert_eq!(repo_of("ns/repo:latest"), "ns/repo");
        assert_eq!(repo_of("localhost/a/b@sha256:00"), "a/b");
    }

    #[test]
    fn container_request_matches_contract() {
        let mut n = 0;
        let reqs = build_requests(
            &cfg(),
            &ctx(),
            &[
                SignInput::Container {
                    digest: "sha256:abcd".into(),
                    reference: "reg.io/ns/repo:1".into(),
                },
                SignInput::Container {
                    digest: "sha256:ef01".into(),
                    reference: "reg.io/ns/other:2".into(),
                },
            ],
            &["beta".into(), "0000111122223333".into()],
            SystemTime::UNIX_EPOCH,
            || {
                n += 1;
                format!("id-{n}")
            },
        )
        .unwrap();
        assert_eq!(reqs.len(), 4);
        // input-major order
        assert_eq!(
            reqs.iter().map(|r| r.input_index).collect::<Vec<_>>(),
            [0, 0, 1, 1]
        );
        let r = &reqs[0];
        assert_eq!(r.id, "id-1");
        assert_eq!(r.to, "topic://Sign.alice");
        assert_eq!(r.ttl, Duration::from_secs(6));
        assert_eq!(r.body["sig_key_id"], "CCCCDDDD"); // alias resolved, last 8
        assert_eq!(reqs[1].body["sig_key_id"], "22223333");
        assert_eq!(r.body["repo"], "ns/repo");
        assert_eq!(r.body["requested_by"], "alice");
        assert_eq!(r.body["sig_keyname"], "rel-key");
        assert_eq!(r.body["created"], "1970-01-01T00:00:00.000000Z");
        assert_eq!(r.application_properties["mtype"], "container_signature");
        assert_eq!(r.application_properties["owner_id"], "alice");
        assert_eq!(r.application_properties["source"], "metadata");
        assert_eq!(r.application_properties["manifest_digest"], "sha256:abcd");
        let claim = B64.decode(r.body["claim_file"].as_str().unwrap()).unwrap();
        let claim: Value = serde_json::from_slice(&claim).unwrap();
        assert_eq!(
            claim["critical"]["image"]["docker-manifest-digest"],
            "sha256:abcd"
        );
        assert_eq!(
            claim["critical"]["identity"]["docker-reference"],
            "reg.io/ns/repo:1"
        );
        assert_eq!(claim["critical"]["type"], "atomic container signature");
        // the body text round-trips
        let back: Value = serde_json::from_str(&r.body_text()).unwrap();
        assert_eq!(back, r.body);
    }

    #[test]
    fn bad_inputs_are_errors() {
        let c = cfg();
        let id = || "x".to_string();
        let short = build_requests(
            &c,
            &ctx(),
            &[SignInput::Clear { data: vec![1] }],
            &["short".into()],
            SystemTime::UNIX_EPOCH,
            id,
        );
        assert!(short.unwrap_err().to_string().contains("shorter than 8"));
        let digest = build_requests(
            &c,
            &ctx(),
            &[SignInput::Container {
                digest: "nope".into(),
                reference: "r".into(),
            }],
            &["0000111122223333".into()],
            SystemTime::UNIX_EPOCH,
            id,
        );
        assert!(digest.unwrap_err().to_string().contains("digest"));
        let dup = build_requests(
            &c,
            &ctx(),
            &[
                SignInput::Clear { data: vec![1] },
                SignInput::Clear { data: vec![2] },
            ],
            &["0000111122223333".into()],
            SystemTime::UNIX_EPOCH,
            id,
        );
        assert!(dup.unwrap_err().to_string().contains("share the value"));
        let mut c2 = c.clone();
        c2.message_id_key = "nonexistent".into();
        let e = build_requests(
            &c2,
            &ctx(),
            &[SignInput::Blob { data: vec![1] }],
            &["0000111122223333".into()],
            SystemTime::UNIX_EPOCH,
            id,
        );
        assert!(e.unwrap_err().to_string().contains("nonexistent"));
    }

    fn field(_: &str) -> Option<&'static str> {
        Some("signed_claim")
    }

    #[test]
    fn reply_parsing() {
        let ok = reply_envelope(
            "t",
            json!({"request_id": "a", "errors": [], "signing_status": "success", "signed_claim": "AAA"}),
        );
        match parse_reply(&ok.to_string(), "request_id", field) {
            IncomingReply::Correlated(r) => {
                assert_eq!(r.id, "a");
                assert_eq!(r.verdict, ReplyVerdict::Signed);
                assert_eq!(r.envelope, ok);
            }
            other => panic!("{other:?}"),
        }
        let failed = reply_envelope(
            "t",
            json!({"request_id": "a", "errors": ["no such key"], "signing_status": "failure"}),
        );
        assert!(matches!(
            parse_reply(&failed.to_string(), "request_id", field),
            IncomingReply::Correlated(Reply { verdict: ReplyVerdict::Failed(m), .. }) if m.contains("no such key")
        ));
        let failed_word =
            reply_envelope("t", json!({"request_id": "a", "signing_status": "failed"}));
        assert!(matches!(
            parse_reply(&failed_word.to_string(), "request_id", field),
            IncomingReply::Correlated(Reply {
                verdict: ReplyVerdict::Failed(_),
                ..
            })
        ));
        let no_result = reply_envelope("t", json!({"request_id": "a", "errors": []}));
        assert!(matches!(
            parse_reply(&no_result.to_string(), "request_id", field),
            IncomingReply::Correlated(Reply { verdict: ReplyVerdict::Malformed(m), .. }) if m.contains("signed_claim")
        ));
        let bad_errors = reply_envelope("t", json!({"request_id": "a", "errors": "boom"}));
        assert!(matches!(
            parse_reply(&bad_errors.to_string(), "request_id", field),
            IncomingReply::Correlated(Reply {
                verdict: ReplyVerdict::Malformed(_),
                ..
            })
        ));
        for (body, what) in [
            ("not json", "not JSON"),
            ("{\"x\":1}", "no `msg`"),
            ("{\"msg\":{\"other\":1}}", "request_id"),
        ] {
            match parse_reply(body, "request_id", field) {
                IncomingReply::Uncorrelated { reason } => {
                    assert!(reason.contains(what), "{reason}")
                }
                other => panic!("{other:?}"),
            }
        }
    }
}

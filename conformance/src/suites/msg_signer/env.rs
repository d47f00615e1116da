//! Client mode plumbing: one fresh world per case (certificates from test-pki, embedded
//! broker(s), mock signing server with the case's fault plans from `faults/`, a generated config
//! file), the client under test run against it, and what was observed (client output and exit
//! code, broker journal, requests the signing server received, elapsed time).
//!
//! The reference client runs in-process on a current-thread runtime with tokio's clock paused,
//! so the retry timeouts pass in virtual time (broker, server and client share that runtime and
//! that clock). An external client (`--client-cmd`) runs in real time.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use mock_broker::{BrokerAction, BrokerHandle, Entry, Event, FaultPlan, LinkDirection};
use mock_signing_server::{ReceivedRequest, ServerAction, ServerConfig, SigningServer};
use serde_json::Value;
use sigharness_report::Evidence;

use crate::runner::check::{Check, Stop, skip};
use crate::{Error, Result};

pub const SEND_TO: &str = "topic://VirtualTopic.eng.robosignatory.sign";
pub const LISTEN_TO: &str =
    "queue://Consumer.{creator}.{task_id}.VirtualTopic.eng.robosignatory.sign";
pub const TASK_ID: &str = "4711";
pub const REQUESTER: &str = "alice";

/// TLS set-up of a case.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tls {
    /// Plain `amqp://`.
    Off,
    /// `amqps://`, client certificate required; `messaging_ca_cert` is the broker's CA.
    Mutual,
    /// `amqps://`, but `messaging_ca_cert` names an unrelated CA (the client must refuse).
    WrongCa,
}

/// How the `messaging_brokers` list looks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Brokers {
    One,
    /// A closed port first, then the live broker.
    DeadFirst,
    /// A broker that refuses every connection ([`REFUSING_BROKER`]) first.
    RefusingFirst,
}

/// A fault plan file (`faults/<path>`, YAML), embedded at build time and parsed when its case
/// runs; `client::tests` parses every one with the real parsers, so a broken plan fails
/// `cargo test`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PlanFile {
    /// The path under `faults/`, e.g. `retry/resend-only-unanswered.server.yaml`.
    pub path: &'static str,
    pub yaml: &'static str,
}

/// `fault_plan!("retry/x.server.yaml")`: the [`PlanFile`] `faults/retry/x.server.yaml`.
macro_rules! fault_plan {
    ($path:literal) => {
        $crate::suites::msg_signer::env::PlanFile {
            path: $path,
            yaml: include_str!(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/src/suites/msg_signer/faults/",
                $path
            )),
        }
    };
}
pub(crate) use fault_plan;

/// The plan of the embedded broker that [`Brokers::RefusingFirst`] puts first.
pub const REFUSING_BROKER: PlanFile = fault_plan!("refusing-broker.broker.yaml");

impl PlanFile {
    /// The plan, parsed with the parser of the broker (`A` = `BrokerAction`) or of the signing
    /// server (`ServerAction`).
    pub fn parse<A: for<'de> serde::Deserialize<'de>>(&self) -> Result<FaultPlan<A>> {
        FaultPlan::<A>::from_yaml_str(self.yaml, &format!("faults/{}", self.path))
            .map_err(|e| Error::setup(e.to_string()))
    }
}

/// What one client-mode case sets up.
#[derive(Clone, Debug)]
pub struct Scenario {
    pub timeout: u64,
    pub retries: u32,
    pub send_retries: u32,
    /// Number of container images to sign.
    pub inputs: usize,
    /// `--signing-key` values (`prod` is an alias of the server's key in the config).
    pub keys: Vec<String>,
    /// `--requester`; `None`: the creator comes from the client certificate.
    pub requester: Option<String>,
    pub send_to: String,
    pub listen_to: String,
    /// The mock signing server's fault plan (`FaultPlan<ServerAction>`), if any.
    pub server_plan: Option<PlanFile>,
    /// The embedded broker's fault plan (`FaultPlan<BrokerAction>`), if any.
    pub broker_plan: Option<PlanFile>,
    pub tls: Tls,
    /// CN and UID of the client certificate.
    pub cert_cn: Option<String>,
    pub cert_uid: Option<String>,
    pub brokers: Brokers,
    /// Edit the config text before the client sees it (bad-configuration cases).
    pub config_edit: Option<fn(String) -> String>,
    /// The case is about routing by `to` on a null-target sender: not applicable through a
    /// broker without an anonymous relay.
    pub needs_anonymous_relay: bool,
    /// Batch signing (`--signer-type batch`) with this `chunk_size`: the config gets a
    /// `msg_batch_signer` section (the same values), and the images share one repository.
    pub batch: Option<u32>,
}

impl Default for Scenario {
    fn default() -> Self {
        Scenario {
            timeout: 10,
            retries: 2,
            send_retries: 2,
            inputs: 1,
            keys: vec!["prod".into()],
            requester: Some(REQUESTER.into()),
            send_to: SEND_TO.into(),
            listen_to: LISTEN_TO.into(),
            server_plan: None,
            broker_plan: None,
            tls: Tls::Off,
            cert_cn: Some("sigharness-client".into()),
            cert_uid: None,
            brokers: Brokers::One,
            config_edit: None,
            needs_anonymous_relay: false,
            batch: None,
        }
    }
}

/// What happened in one case.
#[derive(Clone, Debug)]
pub struct Observed {
    /// The client's exit code; -1 when it had none (killed by a signal, or stopped by the
    /// suite: see [`Observed::signal`] and [`Observed::hung`]).
    pub exit_code: i32,
    /// The signal that ended an external client, if one did.
    pub signal: Option<i32>,
    /// The client's JSON output (`signer_result`, `operation_results`, ...), if any.
    pub output: Option<Value>,
    pub stderr: String,
    /// Journal of the live broker (empty against an external broker); read it through
    /// [`Observed::journal`], which records that the verdict needed it.
    pub journal_entries: Vec<Entry>,
    /// Whether the verdict read the journal (such verdicts are skipped against an external
    /// broker, which keeps none).
    pub journal_read: std::cell::Cell<bool>,
    /// The run went through an external broker (`--broker`): no journal; what reached the
    /// broker is seen from the signing server's side (it subscribes before the client runs).
    pub external: bool,
    /// Requests the signing server received.
    pub server: Vec<ReceivedRequest>,
    /// Client run time (virtual for the in-process client).
    pub elapsed: Duration,
    /// The signing server's key: 16 hex digits.
    pub key_id: String,
    /// `topic_send_to` and `topic_listen_to` as expanded for this run.
    pub send_address: String,
    pub reply_address: String,
    /// The creator the case expects.
    pub creator: String,
    /// `topic_listen_to` as configured (with its templates), to build the reply address for
    /// the creator a client actually used ([`Observed::reply_address_of`]).
    pub listen_to: String,
    /// The task id of this run (`pub_task_id`; unique per case with `--broker`).
    pub task_id: String,
    /// Whether the client run hit the suite's bound (hung).
    pub hung: bool,
    pub bound: Duration,
}

impl Observed {
    /// The embedded broker's journal.
    pub fn journal(&self) -> &[Entry] {
        self.journal_read.set(true);
        &self.journal_entries
    }
    pub fn status(&self) -> Option<&str> {
        self.output
            .as_ref()?
            .pointer("/signer_result/status")?
            .as_str()
    }
    pub fn error_message(&self) -> String {
        self.output
            .as_ref()
            .and_then(|o| o.pointer("/signer_result/error_message"))
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    }
    pub fn ok(&self) -> bool {
        self.exit_code == 0 && self.status() == Some("ok")
    }
    /// Whether the embedded broker's journal exists (not with `--broker`).
    pub fn has_journal(&self) -> bool {
        !self.external
    }
    /// Requests that reached the broker on the send address, in order: from the journal, or
    /// with `--broker` from the signing server, which receives every one of them.
    pub fn request_messages(&self) -> Vec<RequestSeen> {
        if self.external {
            return self
                .server
                .iter()
                .filter(|r| r.address == self.send_address)
                .map(|r| RequestSeen {
                    // The mock signing server keeps a body only when it is an amqp-value string.
                    body_kind: if r.body.is_some() {
                        "amqp-value".into()
                    } else {
                        "other".into()
                    },
                    body_text: r.body.clone(),
                    ttl_ms: r.ttl_ms.map(u64::from),
                    // A value that was not an AMQP string must not pass for one.
                    application_properties: r
                        .application_properties
                        .iter()
                        .map(|(k, v)| {
                            let v = if r.non_string_properties.contains(k) {
                                serde_json::json!({ "not an AMQP string": v })
                            } else {
                                Value::String(v.clone())
                            };
                            (k.clone(), v)
                        })
                        .collect(),
                })
                .collect();
        }
        self.journal()
            .iter()
            .filter(|e| e.is_inbound_transfer() && e.address() == Some(self.send_address.as_str()))
            .filter_map(|e| {
                let m = e.message()?;
                Some(RequestSeen {
                    body_kind: m.body_kind.to_string(),
                    body_text: m.body_text().map(str::to_string),
                    ttl_ms: m.ttl_ms.map(u64::from),
                    application_properties: m.application_properties.clone(),
                })
            })
            .collect()
    }
    /// Requests that reached the broker on the send address: (request id, body).
    pub fn requests(&self) -> Vec<(String, Value)> {
        self.request_messages()
            .iter()
            .filter_map(|m| {
                let body: Value = serde_json::from_str(m.body_text.as_deref()?).ok()?;
                let id = body.get("request_id")?.as_str()?.to_string();
                Some((id, body))
            })
            .collect()
    }
    /// Distinct request ids in first-sent order with their transmission counts.
    pub fn transmissions(&self) -> Vec<(String, usize)> {
        let mut v: Vec<(String, usize)> = Vec::new();
        for (id, _) in self.requests() {
            match v.iter_mut().find(|(i, _)| *i == id) {
                Some((_, n)) => *n += 1,
                None => v.push((id, 1)),
            }
        }
        v
    }
    /// Receiver links the client attached on the reply address, in order: (name, attach
    /// seq, detach seq if detached).
    pub fn reply_receivers(&self) -> Vec<(String, u64, Option<u64>)> {
        self.reply_receivers_on(&self.reply_address)
    }
    /// [`Observed::reply_receivers`] on `reply_address`.
    pub fn reply_receivers_on(&self, reply_address: &str) -> Vec<(String, u64, Option<u64>)> {
        let mut out: Vec<(String, u64, Option<u64>)> = Vec::new();
        for e in self.journal() {
            match &e.event {
                Event::Attach {
                    link,
                    direction: LinkDirection::PeerReceives,
                    address,
                } if address.as_deref() == Some(reply_address) => {
                    out.push((link.clone(), e.seq, None));
                }
                Event::Detach {
                    link,
                    direction: LinkDirection::PeerReceives,
                    address,
                    ..
                } if address.as_deref() == Some(reply_address) => {
                    if let Some(r) = out.iter_mut().find(|(l, _, d)| l == link && d.is_none()) {
                        r.2 = Some(e.seq);
                    }
                }
                _ => {}
            }
        }
        out
    }
    /// Journal positions at which a message for the reply address reached the broker (a reply
    /// on its way to whichever receiver is attached there), in order.
    pub fn reply_arrivals(&self) -> Vec<u64> {
        self.journal()
            .iter()
            .filter(|e| {
                matches!(&e.event, Event::Transfer {
                    direction: LinkDirection::PeerSends,
                    address,
                    ..
                } if address.as_deref() == Some(self.reply_address.as_str()))
            })
            .map(|e| e.seq)
            .collect()
    }
    /// The `operation_results` array as printed (empty when there is none).
    pub fn result_entries(&self) -> &[Value] {
        self.output
            .as_ref()
            .and_then(|o| o.get("operation_results"))
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }
    /// The reply `msg` of each `operation_results` entry, in order, read in every shape the
    /// deployed contract has (notes, "CLI shape"): an `[envelope, properties]` pair, a bare
    /// envelope `{"msg": {...}}`; `""` or `null` (no reply) is `None`.
    pub fn result_msgs(&self) -> Vec<Option<&Value>> {
        self.result_entries().iter().map(entry_msg).collect()
    }
    /// The reply `msg` of the result for request `id` (by `msg.request_id`).
    pub fn result_for(&self, id: &str) -> Option<&Value> {
        self.result_msgs()
            .into_iter()
            .flatten()
            .find(|m| m.get("request_id").and_then(Value::as_str) == Some(id))
    }
    /// Seconds from the last reply reaching the reply address to the end of the receive
    /// window it fell in: the client's receiver there (attached before the reply) detached,
    /// or its connection closed (a detach is journaled then too). `None` without a journal,
    /// a reply, or such an end.
    pub fn window_after_last_reply_seconds(&self) -> Option<f64> {
        let j = self.journal();
        let reply = j.iter().rfind(|e| {
            matches!(&e.event, Event::Transfer {
                direction: LinkDirection::PeerSends,
                address,
                ..
            } if address.as_deref() == Some(self.reply_address.as_str()))
        })?;
        let end = j.iter().filter(|e| e.seq > reply.seq).find(|e| {
            matches!(&e.event, Event::Detach {
                direction: LinkDirection::PeerReceives,
                address,
                ..
            } if address.as_deref() == Some(self.reply_address.as_str()))
        })?;
        Some(end.at.saturating_sub(reply.at).as_secs_f64())
    }
    /// [`Observed::reply_receivers`] with journal times: (name, attached at, detached at).
    pub fn reply_receiver_times(&self) -> Vec<(String, Duration, Option<Duration>)> {
        let at = |seq: u64| {
            self.journal_entries
                .iter()
                .find(|e| e.seq == seq)
                .map(|e| e.at)
                .unwrap_or_default()
        };
        self.reply_receivers()
            .into_iter()
            .map(|(l, a, d)| (l, at(a), d.map(at)))
            .collect()
    }
    /// The signed values of successful results, in result order.
    pub fn signed_values(&self) -> usize {
        self.result_msgs()
            .into_iter()
            .filter(|m| m.is_some_and(is_signed))
            .count()
    }
    /// The address `topic_listen_to` expands to for `creator`.
    pub fn reply_address_of(&self, creator: &str) -> String {
        msg_signer::config::expand_template(&self.listen_to, creator, &self.task_id)
    }
    /// The client's outcome in the spec's terms: exit code, `signer_result.status` and
    /// `error_message`, or what stands in for them.
    pub fn outcome(&self) -> String {
        let exit = if self.hung {
            format!(
                "did not finish within {} s (its process group was ended by the suite)",
                self.bound.as_secs()
            )
        } else if let Some(sig) = self.signal {
            format!("killed by signal {sig}")
        } else {
            format!("exit {}", self.exit_code)
        };
        match &self.output {
            None if self.hung => exit,
            None => format!("{exit}, no JSON document on stdout"),
            Some(_) => {
                let status = match self.status() {
                    Some(s) => format!("signer_result.status \"{s}\""),
                    None => "no signer_result.status".into(),
                };
                // One line: the message's own line breaks become " / ".
                let msg = self
                    .error_message()
                    .lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty())
                    .collect::<Vec<_>>()
                    .join(" / ");
                if msg.is_empty() {
                    format!("{exit}, {status}")
                } else {
                    format!("{exit}, {status}, error_message \"{}\"", clip(&msg, 300))
                }
            }
        }
    }
    /// How each request ended: sent how often, answered by the signing server how often,
    /// and what the client's `operation_results` says of it.
    pub fn request_outcomes(&self) -> Vec<String> {
        let mut out = Vec::new();
        for (i, (id, n)) in self.transmissions().into_iter().enumerate() {
            let replies: usize = self
                .server
                .iter()
                .filter(|r| r.id.as_deref() == Some(id.as_str()))
                .map(|r| r.replies.len())
                .sum();
            let result = match self.result_for(&id) {
                Some(m) if is_signed(m) => "signed".to_string(),
                Some(m) => match m.get("errors").and_then(Value::as_array) {
                    Some(e) if !e.is_empty() => {
                        format!("errors {}", clip(&Value::Array(e.clone()).to_string(), 200))
                    }
                    _ => "a result without a signed value or errors".into(),
                },
                None if self.output.is_none() => "no output".into(),
                None => "no result in operation_results".into(),
            };
            out.push(format!(
                "request {} {id}: sent {n}x, the signing server replied {replies}x; client result: {result}",
                i + 1
            ));
        }
        out
    }
    /// A short log for evidence: the outcome, each request's fate, the links, what the
    /// signing server got, the parsed output and the last lines of stderr.
    pub fn log(&self) -> Vec<String> {
        let mut l = vec![format!(
            "client: {} after {:.1} s",
            self.outcome(),
            self.elapsed.as_secs_f64()
        )];
        l.extend(self.request_outcomes());
        let receivers = if self.external {
            Vec::new()
        } else {
            self.reply_receivers()
        };
        for (link, a, d) in receivers {
            l.push(format!(
                "receiver {link}: attached #{a}, detached {}",
                d.map(|d| format!("#{d}")).unwrap_or("never".into())
            ));
        }
        for r in &self.server {
            let mut line = format!(
                "signing server got request #{} (request_id {}) at {:.1} s, {} repl{}",
                r.n,
                r.id.as_deref().unwrap_or("none"),
                r.at.as_secs_f64(),
                r.replies.len(),
                if r.replies.len() == 1 { "y" } else { "ies" }
            );
            if !r.errors.is_empty() {
                line.push_str(&format!("; invalid: {}", r.errors.join("; ")));
            }
            if let Some(f) = &r.fault {
                line.push_str(&format!("; fault: {f}"));
            }
            l.push(line);
        }
        if !self.result_entries().is_empty() {
            l.push(format!(
                "operation_results: {}",
                clip(
                    &Value::Array(self.result_entries().to_vec()).to_string(),
                    800
                )
            ));
        }
        let lines: Vec<&str> = self
            .stderr
            .lines()
            .filter(|x| !x.trim().is_empty())
            .collect();
        if !lines.is_empty() {
            let keep = lines.len().min(STDERR_LINES);
            l.push(format!("stderr (last {keep} of {} lines):", lines.len()));
            for x in &lines[lines.len() - keep..] {
                l.push(format!("  {}", clip(x, 300)));
            }
        }
        l
    }
}

/// Lines of the client's stderr kept in evidence (its last ones: the error is at the end).
pub const STDERR_LINES: usize = 15;

/// `s` cut to at most `n` characters, marked when cut.
pub fn clip(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        return s.to_string();
    }
    let mut c: String = s.chars().take(n).collect();
    c.push_str("...");
    c
}

/// The reply `msg` of one `operation_results` entry: `[envelope, properties]` (deployed),
/// or a bare envelope; `""` / `null` / anything else is no reply.
pub fn entry_msg(e: &Value) -> Option<&Value> {
    let envelope = match e {
        Value::Array(a) => a.first()?,
        other => other,
    };
    envelope.get("msg").filter(|m| m.is_object())
}

/// A reply `msg` holding a non-empty signed value (a batch reply: `signed_claims`, each with
/// a `signed_claim`) and no errors.
pub fn is_signed(m: &Value) -> bool {
    let errors = m
        .get("errors")
        .and_then(Value::as_array)
        .is_some_and(|e| !e.is_empty());
    let non_empty = |v: Option<&Value>| v.and_then(Value::as_str).is_some_and(|s| !s.is_empty());
    let batch = m
        .get("signed_claims")
        .and_then(Value::as_array)
        .is_some_and(|c| !c.is_empty() && c.iter().all(|c| non_empty(c.get("signed_claim"))));
    !errors
        && (batch
            || ["signed_claim", "signed_data", "signed_payload"]
                .iter()
                .any(|f| non_empty(m.get(*f))))
}

/// A request as it reached the broker (or, with `--broker`, the signing server).
#[derive(Clone, Debug)]
pub struct RequestSeen {
    pub body_kind: String,
    pub body_text: Option<String>,
    pub ttl_ms: Option<u64>,
    pub application_properties: std::collections::BTreeMap<String, Value>,
}

/// The client under test.
#[derive(Clone)]
pub enum ClientTarget {
    /// `msg_signer::client::sign` in-process, virtual time.
    Reference,
    /// A shell command template: `{config}` is replaced by the config file path; when the
    /// template has no `{args}`, the operation arguments are appended (`--task-id T
    /// --signing-key K... --digest D --reference R... [--requester U]`), else put there.
    External(String),
    /// Any client as a function, run in virtual time like the reference client (tests use
    /// this to prove that the cases catch a faulty client).
    Custom(CustomClient),
}

/// What a custom client is asked to do.
#[derive(Clone, Debug)]
pub struct ClientArgs {
    pub config: PathBuf,
    pub task_id: String,
    pub signing_keys: Vec<String>,
    /// (digest, reference) pairs.
    pub images: Vec<(String, String)>,
    pub requester: Option<String>,
    /// `--signer-type batch` (the config has a `msg_batch_signer` section).
    pub batch: bool,
}

/// A client under test as a function: returns (exit code, JSON output).
pub type CustomClient = Arc<
    dyn Fn(
            ClientArgs,
        )
            -> std::pin::Pin<Box<dyn std::future::Future<Output = (i32, Option<Value>)> + Send>>
        + Send
        + Sync,
>;

impl std::fmt::Debug for ClientTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClientTarget::Reference => f.write_str("reference client"),
            ClientTarget::External(c) => write!(f, "external client {c:?}"),
            ClientTarget::Custom(_) => f.write_str("custom client"),
        }
    }
}

/// The certificates of one case (test-pki): the broker's server certificate, the client's (with
/// the scenario's CN/UID) and the mock signing server's own client certificate, all issued by
/// one CA.
struct CaseCerts {
    pki: test_pki::Pki,
    /// The mock signing server's client certificate + key (CN `mock-signing-server`).
    server_client: test_pki::Leaf,
}

impl CaseCerts {
    fn generate(cn: Option<&str>, uid: Option<&str>) -> Result<CaseCerts> {
        let pki = test_pki::Pki::new(cn, uid).map_err(pki_error)?;
        let server_client = pki
            .ca
            .client(Some("mock-signing-server"), None)
            .map_err(pki_error)?;
        Ok(CaseCerts { pki, server_client })
    }
}

fn pki_error(e: test_pki::Error) -> Error {
    Error::setup(format!("test certificates: {e}"))
}

/// The plan, or the empty plan (no faults).
fn parse_plan<A: for<'de> serde::Deserialize<'de>>(plan: Option<PlanFile>) -> Result<FaultPlan<A>> {
    match plan {
        None => Ok(FaultPlan::default()),
        Some(p) => p.parse(),
    }
}

/// Write the config file of a case.
#[allow(clippy::too_many_arguments)]
pub fn config_text(
    s: &Scenario,
    brokers: &[String],
    cert_key: &Path,
    ca: &Path,
    key_id: &str,
) -> String {
    let brokers = brokers
        .iter()
        .map(|b| format!("\"{b}\""))
        .collect::<Vec<_>>()
        .join(", ");
    let text = format!(
        r#"msg_signer:
  messaging_brokers: [{brokers}]
  messaging_cert_key: "{}"
  messaging_ca_cert: "{}"
  topic_send_to: "{}"
  topic_listen_to: "{}"
  environment: conformance
  service: sigharness-conformance
  timeout: {}
  retries: {}
  send_retries: {}
  message_id_key: request_id
  log_level: INFO
  key_aliases:
    prod: "{key_id}"
"#,
        cert_key.display(),
        ca.display(),
        s.send_to,
        s.listen_to,
        s.timeout,
        s.retries,
        s.send_retries,
    );
    let text = match s.batch {
        // The same values under msg_batch_signer, plus chunk_size.
        Some(chunk) => {
            let section = text
                .strip_prefix("msg_signer:\n")
                .unwrap_or(&text)
                .to_string();
            format!("{text}msg_batch_signer:\n{section}  chunk_size: {chunk}\n")
        }
        None => text,
    };
    match s.config_edit {
        Some(f) => f(text),
        None => text,
    }
}

/// The (digest, reference) pairs a scenario signs: [`digests`], or for batch signing images
/// of one repository (`ns/batch`), so that no grouping by repository is judged.
pub fn images(s: &Scenario) -> Vec<(String, String)> {
    let mut v = digests(s.inputs);
    if s.batch.is_some() {
        for (i, (_, r)) in v.iter_mut().enumerate() {
            *r = format!("registry.example.com/ns/batch:1.{i}");
        }
    }
    v
}

pub fn digests(n: usize) -> Vec<(String, String)> {
    (0..n)
        .map(|i| {
            (
                format!("sha256:{:064x}", i + 1),
                format!("registry.example.com/ns/image{i}:1.{i}"),
            )
        })
        .collect()
}

/// An external broker that client-mode cases run through (`--broker`), instead of a fresh
/// embedded broker per case. It keeps no journal and has no fault hooks: cases needing those
/// are skipped; time is real (tokio's paused clock would fire timeouts while real I/O waits).
#[derive(Clone, Debug)]
pub struct ExternalBroker {
    pub url: String,
    /// CA of the broker (`--ca`); needed for `amqps://`.
    pub ca: Option<PathBuf>,
    /// Client certificate + key (`--cert-key`), used by both the client and the mock server;
    /// needed for `amqps://`.
    pub cert_key: Option<PathBuf>,
    /// `--address-map`: how the broker spells addresses.
    pub address_map: super::AddressMap,
    /// Over TLS, our client and mock signing server log in with SASL EXTERNAL (RabbitMQ's
    /// certificate login) instead of no SASL layer (`--set sasl=...`).
    pub sasl_external: bool,
}

impl ExternalBroker {
    pub fn map(&self, a: &str) -> String {
        self.address_map.map(a)
    }
    fn tls(&self) -> bool {
        self.url.starts_with("amqps://")
    }
}

/// Why a scenario cannot run through an external broker, if it cannot.
pub fn external_skip(s: &Scenario) -> Option<&'static str> {
    if s.broker_plan.is_some() {
        return Some("needs the embedded broker's fault hooks (not available with --broker)");
    }
    // Failover layouts put a closed port or a refusing embedded broker before the external one.
    if s.cert_cn.as_deref() != Some("sigharness-client") || s.cert_uid.is_some() {
        return Some(
            "needs client certificates from the suite's own CA (not accepted by --broker)",
        );
    }
    None
}

/// Run one scenario against the client; everything is torn down before returning.
pub fn run_scenario(s: Scenario, target: ClientTarget) -> Result<Observed> {
    run_scenario_on(s, target, None)
}

/// [`run_scenario`], through `broker` when given.
pub fn run_scenario_on(
    s: Scenario,
    target: ClientTarget,
    broker: Option<ExternalBroker>,
) -> Result<Observed> {
    let virtual_time = !matches!(target, ClientTarget::External(_)) && broker.is_none();
    let mut b = tokio::runtime::Builder::new_current_thread();
    b.enable_all();
    if virtual_time {
        b.start_paused(true);
    }
    let rt = b
        .build()
        .map_err(|e| Error::setup(format!("runtime: {e}")))?;
    rt.block_on(scenario_inner(s, target, broker))
}

async fn start_broker(
    s: &Scenario,
    certs: &CaseCerts,
    plan: FaultPlan<BrokerAction>,
) -> Result<BrokerHandle> {
    let mut b = mock_broker::Broker::builder()
        .record_bodies(true)
        .fault_plan(plan);
    if s.tls != Tls::Off {
        let pki = &certs.pki;
        b = b
            .tls(
                pki.server.cert_pem.as_bytes(),
                pki.server.key_pem.as_bytes(),
            )
            .client_ca(pki.ca.cert_pem.as_bytes());
    }
    b.start()
        .await
        .map_err(|e| Error::setup(format!("broker: {e}")))
}

async fn scenario_inner(
    s: Scenario,
    target: ClientTarget,
    ext: Option<ExternalBroker>,
) -> Result<Observed> {
    let mut s = s;
    // Against an external broker: its address spelling, and a task id of this case only, so
    // that replies left in a durable queue by an earlier case cannot reach this one.
    let task_id = match &ext {
        Some(e) => {
            let task_id = format!(
                "{TASK_ID}{:08}",
                uuid::Uuid::new_v4().as_u128() % 100_000_000
            );
            // The send address is this case's own too: cases run concurrently, and a
            // signing server of another case must not answer (or see) this case's requests.
            s.send_to = format!("{}.{task_id}", e.map(&s.send_to));
            s.listen_to = e.map(&s.listen_to);
            task_id
        }
        None => TASK_ID.to_string(),
    };
    let dir = tempfile::tempdir().map_err(|e| Error::setup(format!("temp dir: {e}")))?;
    let certs = CaseCerts::generate(s.cert_cn.as_deref(), s.cert_uid.as_deref())?;
    let w = |name: &str, text: &str| -> Result<PathBuf> {
        let p = dir.path().join(name);
        std::fs::write(&p, text).map_err(|e| Error::write(&p, e))?;
        Ok(p)
    };
    let (cert_key, server_cert_key, ca_path) = match &ext {
        Some(ExternalBroker {
            cert_key: Some(ck),
            ca: Some(ca),
            ..
        }) => (ck.clone(), ck.clone(), ca.clone()),
        // A plain external broker (or the suite's own): the generated files (unused by amqp://).
        _ => (
            w("client.pem", &certs.pki.client.cert_key_pem())?,
            w("server-client.pem", &certs.server_client.cert_key_pem())?,
            w("ca.pem", &certs.pki.ca.cert_pem)?,
        ),
    };
    let tls_on = match &ext {
        Some(e) => e.tls(),
        None => s.tls != Tls::Off,
    };
    let client_ca = if s.tls == Tls::WrongCa {
        let other = test_pki::Ca::new("an unrelated CA").map_err(pki_error)?;
        w("other-ca.pem", &other.cert_pem)?
    } else {
        ca_path.clone()
    };

    let broker = match &ext {
        Some(_) => None,
        None => Some(start_broker(&s, &certs, parse_plan(s.broker_plan)?).await?),
    };
    let scheme = if tls_on { "amqps" } else { "amqp" };
    let live = match (&ext, &broker) {
        (Some(e), _) => e.url.clone(),
        (None, Some(b)) => format!("{scheme}://{}", b.addr()),
        (None, None) => return Err(Error::setup("no broker")),
    };
    let mut extra: Vec<BrokerHandle> = Vec::new();
    let mut dead_port: Option<tokio::net::TcpSocket> = None;
    let brokers = match s.brokers {
        Brokers::One => vec![live.clone()],
        Brokers::DeadFirst => {
            // A socket bound but never listening: connects are refused, and the port stays
            // ours for the whole case (no concurrent case's broker can take it).
            let closed = |e: std::io::Error| Error::setup(format!("a closed port: {e}"));
            let sock = tokio::net::TcpSocket::new_v4().map_err(closed)?;
            sock.bind(([127, 0, 0, 1], 0).into()).map_err(closed)?;
            let port = sock.local_addr().map_err(closed)?.port();
            dead_port = Some(sock);
            vec![format!("{scheme}://127.0.0.1:{port}"), live.clone()]
        }
        Brokers::RefusingFirst => {
            let r = start_broker(&s, &certs, REFUSING_BROKER.parse()?).await?;
            let u = format!("{scheme}://{}", r.addr());
            extra.push(r);
            vec![u, live.clone()]
        }
    };

    let creator = match &s.requester {
        Some(r) => r.clone(),
        None => s.cert_cn.clone().or(s.cert_uid.clone()).unwrap_or_default(),
    };
    let send_address = msg_signer::config::expand_template(&s.send_to, &creator, &task_id);
    let reply_address = msg_signer::config::expand_template(&s.listen_to, &creator, &task_id);
    let server_cfg = ServerConfig {
        topic_send_to: send_address.clone(),
        topic_listen_to: s.listen_to.clone(),
        message_id_key: "request_id".into(),
        timeout: Duration::from_secs(s.timeout),
    };
    let mut sb = SigningServer::builder(live.clone(), server_cfg)
        .fault_plan(parse_plan::<ServerAction>(s.server_plan)?)
        .sasl_external(tls_on && ext.as_ref().is_some_and(|e| e.sasl_external))
        .addressed_reply_links(
            ext.as_ref()
                .is_some_and(|e| e.address_map.addressed_senders()),
        );
    if tls_on {
        let cfg = msg_signer::tls::client_config(&server_cert_key, &ca_path, true)
            .map_err(|e| Error::setup(format!("signing server TLS: {e}")))?;
        sb = sb.tls(cfg);
    }
    let server = tokio::time::timeout(super::ATTACH_BOUND, sb.start())
        .await
        .map_err(|_| {
            Error::setup(format!(
                "signing server: no connect + attach within {:?}",
                super::ATTACH_BOUND
            ))
        })?
        .map_err(|e| Error::setup(format!("signing server: {e}")))?;
    let key_id = server.keys().first().key_id().to_string();
    let config = w(
        "config.yaml",
        &config_text(&s, &brokers, &cert_key, &client_ca, &key_id),
    )?;
    // `__REAL__` stands for the server's real key id, known only now.
    for k in &mut s.keys {
        if k == "__REAL__" {
            *k = key_id.clone();
        }
    }

    let per_cycle = s
        .timeout
        .saturating_mul(u64::from(s.retries))
        .saturating_mul(3)
        / 2
        + 5;
    let bound =
        Duration::from_secs(per_cycle.saturating_mul(u64::from(s.send_retries.max(1))) + 30);
    let started = tokio::time::Instant::now();
    let mut signal = None;
    let (exit_code, output, stderr, hung) = match &target {
        ClientTarget::Reference => {
            let op = msg_signer::client::Operation::ContainerSign {
                digests: images(&s).into_iter().map(|d| d.0).collect(),
                references: images(&s).into_iter().map(|d| d.1).collect(),
            };
            let opts = msg_signer::client::SignOptions {
                batch: s.batch.is_some(),
                task_id: task_id.clone(),
                signing_keys: s.keys.clone(),
                signing_key_name: Some("release".into()),
                requester: s.requester.clone(),
                transport: msg_signer::transport::TransportOptions {
                    // RabbitMQ logs a certificate holder in only through SASL EXTERNAL.
                    sasl: if tls_on && ext.as_ref().is_some_and(|e| e.sasl_external) {
                        msg_signer::transport::SaslMode::External
                    } else {
                        msg_signer::transport::SaslMode::None
                    },
                    sender_link: if ext
                        .as_ref()
                        .is_some_and(|e| e.address_map.addressed_senders())
                    {
                        msg_signer::transport::SenderLink::Addressed
                    } else {
                        msg_signer::transport::SenderLink::NullTarget
                    },
                    ..Default::default()
                },
            };
            match tokio::time::timeout(bound, msg_signer::client::sign(&config, &op, &opts)).await {
                Ok((out, _)) => {
                    let code = if out.is_ok() { 0 } else { 1 };
                    (code, serde_json::to_value(&out).ok(), String::new(), false)
                }
                Err(_) => (-1, None, String::new(), true),
            }
        }
        ClientTarget::External(cmd) => {
            let r = run_external(cmd, &config, &s, &task_id, bound).await?;
            signal = r.signal;
            (r.code, r.output, r.stderr, r.hung)
        }
        ClientTarget::Custom(f) => {
            let args = ClientArgs {
                config: config.clone(),
                task_id: task_id.clone(),
                signing_keys: s.keys.clone(),
                images: images(&s),
                batch: s.batch.is_some(),
                requester: s.requester.clone(),
            };
            match tokio::time::timeout(bound, f(args)).await {
                Ok((code, out)) => (code, out, String::new(), false),
                Err(_) => (-1, None, String::new(), true),
            }
        }
    };
    let elapsed = started.elapsed();
    // Let the broker record the client's last detaches/disconnect (bounded, event-driven).
    let journal = match &broker {
        Some(broker) => {
            let server_conn = broker
                .journal()
                .snapshot()
                .iter()
                .find(|e| matches!(&e.event, Event::Attach { direction: LinkDirection::PeerReceives, address, .. } if address.as_deref() == Some(send_address.as_str())))
                .map(|e| e.peer.conn);
            let _ = broker
                .journal()
                .wait_for(
                    |e| {
                        matches!(e.event, Event::Disconnect { .. })
                            && Some(e.peer.conn) != server_conn
                    },
                    Duration::from_secs(2),
                )
                .await;
            broker.journal().snapshot()
        }
        None => {
            // Through an external broker the signing server is our only witness: let requests
            // still on their way through the broker arrive (quiet for 500 ms, at most 3 s).
            let quiet_until = tokio::time::Instant::now() + Duration::from_secs(3);
            loop {
                let n = server.requests_seen() as usize;
                let left = quiet_until.saturating_duration_since(tokio::time::Instant::now());
                if left.is_zero()
                    || server
                        .wait_for_requests(n + 1, left.min(Duration::from_millis(500)))
                        .await
                        .is_err()
                {
                    break;
                }
            }
            Vec::new()
        }
    };
    // A verdict needs the whole history: both records are bounded rings (100 000 entries).
    let truncated = [
        (
            "broker journal",
            broker.as_ref().map_or(0, |b| b.journal().dropped()),
        ),
        (
            "signing server's record of requests",
            server.requests_dropped(),
        ),
    ];
    if let Some((what, n)) = truncated.iter().find(|(_, n)| *n > 0) {
        return Err(Error::setup(format!(
            "the {what} dropped its {n} oldest entries (the client sent too much to judge): no verdict on a partial history"
        )));
    }
    let obs = Observed {
        exit_code,
        signal,
        listen_to: s.listen_to.clone(),
        output,
        stderr,
        journal_entries: journal,
        journal_read: std::cell::Cell::new(false),
        external: ext.is_some(),
        server: server.received_requests(),
        elapsed,
        key_id,
        send_address,
        reply_address,
        creator,
        task_id,
        hung,
        bound,
    };
    drop(server);
    drop(extra);
    drop(broker);
    drop(dead_port);
    Ok(obs)
}

fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

async fn run_external(
    cmd: &str,
    config: &Path,
    s: &Scenario,
    task_id: &str,
    bound: Duration,
) -> Result<ExternalRun> {
    let mut args = vec![format!("--task-id {task_id}")];
    for k in &s.keys {
        args.push(format!("--signing-key {}", shell_quote(k)));
    }
    if s.batch.is_some() {
        args.push("--signer-type batch".into());
    }
    for (d, r) in images(s) {
        args.push(format!("--digest {d} --reference {}", shell_quote(&r)));
    }
    if let Some(r) = &s.requester {
        args.push(format!("--requester {}", shell_quote(r)));
    }
    let args = args.join(" ");
    let mut line = cmd.replace("{config}", &shell_quote(&config.display().to_string()));
    if line.contains("{args}") {
        line = line.replace("{args}", &args);
    } else {
        line = format!("{line} {args}");
    }
    let o = super::process::run_in_group(&line, bound)
        .await
        .map_err(|e| Error::setup(format!("--client-cmd {line:?}: cannot start: {e}")))?;
    // The JSON document: the last line of stdout that is a JSON object.
    let output = o.stdout.lines().rev().find_map(|l| {
        serde_json::from_str::<Value>(l.trim())
            .ok()
            .filter(Value::is_object)
    });
    Ok(ExternalRun {
        code: o.code.unwrap_or(-1),
        signal: o.signal,
        output,
        stderr: o.stderr,
        hung: o.hung,
    })
}

/// What an external client's run gave.
struct ExternalRun {
    code: i32,
    signal: Option<i32>,
    output: Option<Value>,
    stderr: String,
    hung: bool,
}

/// Shared context of client-mode cases.
pub struct ClientCtx {
    pub target: ClientTarget,
    /// `--broker`: run through this broker instead of a fresh embedded one per case.
    pub broker: Option<ExternalBroker>,
}

/// Run a scenario on a blocking thread (its own runtime) and judge what was observed with
/// `verdict`; the evidence of a pass or a failure gets the run's log and its client time.
pub async fn judge(ctx: Arc<ClientCtx>, s: Scenario, verdict: fn(&Observed) -> Check) -> Check {
    let target = ctx.target.clone();
    let ext = ctx.broker.clone();
    if s.needs_anonymous_relay
        && ext
            .as_ref()
            .is_some_and(|b| b.address_map.addressed_senders())
    {
        return Err(skip(
            "not applicable: this broker has no anonymous relay (--address-map rabbitmq), so every sender is attached to its address",
        ));
    }
    if ext.is_some()
        && let Some(why) = external_skip(&s)
    {
        return Err(skip(why));
    }
    if ext.as_ref().is_some_and(|b| !b.tls()) && s.tls != Tls::Off {
        return Err(skip("needs TLS to the broker: --broker is plain amqp://"));
    }
    let obs = match tokio::task::spawn_blocking(move || run_scenario_on(s, target, ext)).await {
        Ok(Ok(o)) => o,
        Ok(Err(e)) => {
            return Err(Stop::Fail(Evidence::new(format!(
                "the case could not set up: {e}"
            ))));
        }
        Err(e) => return Err(Stop::Fail(Evidence::new(format!("the case crashed: {e}")))),
    };
    let judged = verdict(&obs);
    if ctx.broker.is_some() && obs.journal_read.get() {
        return Err(skip(
            "the verdict needs the embedded broker's journal (not available with --broker)",
        ));
    }
    super::with_evidence(judged, |mut ev| {
        for l in obs.log() {
            ev = ev.log_line(l);
        }
        ev.figures
            .insert("client_seconds".into(), obs.elapsed.as_secs_f64());
        ev
    })
}

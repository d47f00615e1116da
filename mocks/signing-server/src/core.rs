//! The sans-IO core of the signing server: one request in, planned replies out.
//!
//! No sockets and no clock: the caller passes the wall-clock time to stamp replies with and
//! performs the planned emissions (address, body, delay) itself. Deterministic except for the
//! signatures' randomness and the `msg_id` uuids of envelopes.
//!
//! Validation follows the deployed contract (`notes/msg-signer-wire.md`, "Request"); every
//! failed check becomes one entry of the reply's `errors`, with `signing_status: "failure"`.
//! A request is never answered with silence unless a fault plan says so; a request whose reply
//! address cannot be derived (no creator or no task id) cannot be answered at all and is
//! recorded as such.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use msg_signer::config::{MsgSignerConfig, expand_template};
use serde::Serialize;
use serde_json::{Map, Value, json};

use crate::fault::{Emit, FaultPlan, FaultState, MessageView, ServerAction, Step};
use crate::keys::{KeyRing, SigningKey};

/// The part of the client's config file the server needs.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerConfig {
    /// Address requests are consumed from (must not contain placeholders).
    pub topic_send_to: String,
    /// Reply address template (`{creator}`, `{task_id}`).
    pub topic_listen_to: String,
    /// Key of the request body (and reply `msg`) that identifies a request.
    pub message_id_key: String,
    /// The client's receive timeout (used by `reply_after_window`).
    pub timeout: Duration,
}

impl ServerConfig {
    /// From the client's `msg_signer` section. `topic_send_to` is expanded with
    /// `creator`/`task_id` when given; placeholders left over are an error.
    pub fn from_msg_signer(
        c: &MsgSignerConfig,
        creator: Option<&str>,
        task_id: Option<&str>,
    ) -> Result<Self, crate::ServerError> {
        let mut send = c.topic_send_to.clone();
        if let Some(cr) = creator {
            send = send.replace("{creator}", cr);
        }
        if let Some(t) = task_id {
            send = send.replace("{task_id}", t);
        }
        if send.contains('{') {
            return Err(crate::ServerError::Config(format!(
                "msg_signer.topic_send_to {:?} has placeholders: the signing server consumes one fixed address; give the creator/task id to expand them",
                c.topic_send_to
            )));
        }
        Ok(ServerConfig {
            topic_send_to: send,
            topic_listen_to: c.topic_listen_to.clone(),
            message_id_key: c.message_id_key.clone(),
            timeout: c.timeout(),
        })
    }

    /// Load the `msg_signer` section of a client config file.
    pub fn load(path: &std::path::Path) -> Result<Self, crate::ServerError> {
        let c =
            MsgSignerConfig::load(path).map_err(|e| crate::ServerError::Config(e.to_string()))?;
        Self::from_msg_signer(&c, None, None)
    }
}

/// A request as the transport saw it.
#[derive(Debug, Clone, PartialEq)]
pub struct IncomingRequest {
    /// Where it was consumed from.
    pub address: String,
    /// Application properties, rendered as text.
    pub application_properties: BTreeMap<String, String>,
    /// Names of the application properties whose AMQP type was not `string` (rendered as text
    /// above; a judge of the wire format needs to know).
    pub non_string_properties: Vec<String>,
    /// The body text, or why there is none (`Err`: not an amqp-value string, ...).
    pub body: Result<String, String>,
    /// `header.ttl` in milliseconds.
    pub ttl_ms: Option<u32>,
    /// `properties.absolute-expiry-time` (AMQP 1.0 part 3.2.4), milliseconds since the Unix epoch.
    pub absolute_expiry_ms: Option<i64>,
}

impl MessageView for IncomingRequest {
    fn address(&self) -> Option<&str> {
        Some(&self.address)
    }
    fn app_property(&self, key: &str) -> Option<String> {
        self.application_properties.get(key).cloned()
    }
}

/// One reply to send.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlannedReply {
    /// Delay from the request's arrival.
    #[serde(serialize_with = "ser_ms")]
    pub after: Duration,
    /// Address (`properties.to` of the reply).
    pub address: String,
    /// The body text (an `amqp-value` string).
    pub body: String,
    /// What kind of emission it is.
    #[serde(serialize_with = "ser_emit")]
    pub kind: Emit,
}

fn ser_ms<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64() * 1000.0)
}

fn ser_emit<S: serde::Serializer>(e: &Emit, s: S) -> Result<S::Ok, S::Error> {
    e.serialize(s)
}

/// What the server did with one request (the fixture's `received_requests()`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReceivedRequest {
    /// 1-based arrival number.
    pub n: u64,
    /// Monotonic time since the server started (tokio time).
    #[serde(serialize_with = "ser_ms")]
    pub at: Duration,
    pub address: String,
    pub application_properties: BTreeMap<String, String>,
    /// Application properties whose AMQP type was not `string`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub non_string_properties: Vec<String>,
    /// The body text, if it was one.
    pub body: Option<String>,
    pub ttl_ms: Option<u32>,
    /// `body[message_id_key]`, if present.
    pub id: Option<String>,
    /// Validation errors (empty = valid and signed).
    pub errors: Vec<String>,
    /// The fault rule that fired, with its action.
    pub fault: Option<String>,
    /// The reply address (`topic_listen_to` expanded), when it could be derived.
    pub reply_address: Option<String>,
    /// What was planned to be sent back.
    pub replies: Vec<PlannedReply>,
}

impl ReceivedRequest {
    /// Its size as the bounded record of requests counts it: the fixed size plus the text it
    /// owns (allocator overhead not counted), like the broker journal's entries.
    pub fn accounted_bytes(&self) -> usize {
        let opt = |s: &Option<String>| s.as_ref().map_or(0, String::len);
        std::mem::size_of::<Self>()
            + self.address.len()
            + self
                .application_properties
                .iter()
                .map(|(k, v)| k.len() + v.len())
                .sum::<usize>()
            + self
                .non_string_properties
                .iter()
                .map(String::len)
                .sum::<usize>()
            + opt(&self.body)
            + opt(&self.id)
            + self.errors.iter().map(String::len).sum::<usize>()
            + opt(&self.fault)
            + opt(&self.reply_address)
            + self
                .replies
                .iter()
                .map(|r| std::mem::size_of::<PlannedReply>() + r.address.len() + r.body.len())
                .sum::<usize>()
    }
}

/// Signing statuses (public clients disagree on the failure word; we send "failure").
pub const STATUS_SUCCESS: &str = "success";
/// Most claims one batch request may hold (a bound on the work one request causes).
pub const MAX_BATCH_CLAIMS: usize = 1000;
pub const STATUS_FAILURE: &str = "failure";

/// Signed results remembered for redeliveries (a bound on the memory they take).
pub const MAX_REMEMBERED_RESULTS: usize = 4096;

/// The reply envelope as [`Core::envelope`] builds it, serialized from borrowed parts (keys in
/// the same order as the `Value` one's).
#[derive(Serialize)]
struct Envelope<'a> {
    i: u64,
    msg: &'a Map<String, Value>,
    msg_id: uuid::Uuid,
    timestamp: f64,
    topic: &'a str,
    username: &'a str,
}

/// The request-handling state machine.
#[derive(Debug)]
pub struct Core {
    config: ServerConfig,
    keys: Arc<KeyRing>,
    faults: FaultState<ServerAction>,
    seq: u64,
    last_id: Option<String>,
    username: String,
    /// Signed results by (id, mtype, body text): a redelivered request gets the signature it
    /// already got, never a second, different one. Oldest first in `remembered_order`.
    remembered: HashMap<(String, String, String), (&'static str, Value)>,
    remembered_order: VecDeque<(String, String, String)>,
    /// Arrival times of the last second's requests (`drop_under_burst`).
    arrivals: VecDeque<Duration>,
    /// (creator, reply address) of recent requests (`other_requester_address`).
    recent_addresses: VecDeque<(String, String)>,
    /// The key of the `wrong_key` fault (not in the ring), made when first needed.
    stray_key: Option<SigningKey>,
    /// The plan has a `stay_disconnected` rule.
    stay_disconnected: bool,
}

fn has_stay_disconnected(plan: &FaultPlan<ServerAction>) -> bool {
    plan.rules
        .iter()
        .any(|r| r.action == ServerAction::StayDisconnected)
}

impl Core {
    pub fn new(
        config: ServerConfig,
        keys: Arc<KeyRing>,
        plan: &FaultPlan<ServerAction>,
    ) -> Result<Self, crate::ServerError> {
        Ok(Core {
            config,
            keys,
            faults: FaultState::new(plan)?,
            seq: 0,
            last_id: None,
            username: "sigharness-mock-signing-server".into(),
            remembered: HashMap::new(),
            remembered_order: VecDeque::new(),
            arrivals: VecDeque::new(),
            recent_addresses: VecDeque::new(),
            stray_key: None,
            stay_disconnected: has_stay_disconnected(plan),
        })
    }

    /// Whether a lost broker connection is left lost (fault `stay_disconnected`).
    pub fn stays_disconnected(&self) -> bool {
        self.stay_disconnected
    }

    /// Replace the fault plan (counters restart).
    pub fn set_fault_plan(
        &mut self,
        plan: &FaultPlan<ServerAction>,
    ) -> Result<(), crate::ServerError> {
        self.faults = FaultState::new(plan)?;
        self.stay_disconnected = has_stay_disconnected(plan);
        Ok(())
    }

    pub fn config(&self) -> &ServerConfig {
        &self.config
    }

    /// Handle one request received at `at` (monotonic, for the record); `unix_now` stamps the
    /// reply. The same as [`Core::begin`], [`Prepared::sign`] and [`Core::finish`] in a row.
    pub fn handle_request(
        &mut self,
        at: Duration,
        unix_now: f64,
        req: IncomingRequest,
    ) -> ReceivedRequest {
        let p = self.begin(at, unix_now, req);
        let signed = p.sign();
        self.finish(p, signed)
    }

    /// The first half of handling a request, in arrival order: its number, the fault rule that
    /// fires, parsing, validation, the reply address, and what is to be signed with which key
    /// (or the remembered result of a redelivery). The signature itself ([`Prepared::sign`])
    /// needs no state, so it may run anywhere, concurrently with other requests'; then
    /// [`Core::finish`], in arrival order again, builds the replies.
    pub fn begin(&mut self, at: Duration, unix_now: f64, req: IncomingRequest) -> Prepared {
        self.seq += 1;
        let n = self.seq;
        // `stay_disconnected` is about the connection, not a request.
        let fired = self
            .faults
            .evaluate(&req, |a| !matches!(a, ServerAction::StayDisconnected));
        let key = self.config.message_id_key.clone();
        let mut errors = Vec::new();

        // notes "Request": "Body: an AMQP amqp-value section holding a string of JSON text".
        let body_obj: Option<Map<String, Value>> = match &req.body {
            Err(why) => {
                errors.push(format!(
                    "body: {why}; expected an amqp-value string of JSON text"
                ));
                None
            }
            Ok(text) => match serde_json::from_str::<Value>(text) {
                Ok(Value::Object(m)) => Some(m),
                Ok(other) => {
                    errors.push(format!("body: JSON {} is not an object", kind(&other)));
                    None
                }
                Err(e) => {
                    errors.push(format!("body: not JSON ({e})"));
                    None
                }
            },
        };
        let empty = Map::new();
        let body = body_obj.as_ref().unwrap_or(&empty);
        let props = &req.application_properties;

        let id = match body.get(&key) {
            Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
            Some(Value::Number(x)) => Some(x.to_string()),
            _ => {
                if body_obj.is_some() {
                    errors.push(format!("body: missing string `{key}` (message_id_key): the reply could not be correlated"));
                }
                None
            }
        };
        // Reply address: topic_listen_to with {creator} = requested_by / owner_id and
        // {task_id} = pub_task_id (spec "topic_listen_to").
        let creator = str_field(body, "requested_by").or_else(|| props.get("owner_id").cloned());
        // A batch request names its task `pipeline_run_id` (notes "Request").
        let task_id = str_field(body, "pub_task_id")
            .or_else(|| props.get("pub_task_id").cloned())
            .or_else(|| str_field(body, "pipeline_run_id"))
            .or_else(|| props.get("pipeline_run_id").cloned());
        let needs_creator = self.config.topic_listen_to.contains("{creator}");
        let needs_task = self.config.topic_listen_to.contains("{task_id}");
        let reply_address = match (&creator, &task_id) {
            (None, _) if needs_creator => None,
            (_, None) if needs_task => None,
            _ => Some(expand_template(
                &self.config.topic_listen_to,
                creator.as_deref().unwrap_or(""),
                task_id.as_deref().unwrap_or(""),
            )),
        };

        let action = fired.as_ref().map(|f| f.action.clone());
        // `drop_under_burst`: count the last second's arrivals (this one included).
        while self
            .arrivals
            .front()
            .is_some_and(|t| at.saturating_sub(*t) >= Duration::from_secs(1))
        {
            self.arrivals.pop_front();
        }
        self.arrivals.push_back(at);
        let burst_drop = matches!(action, Some(ServerAction::DropUnderBurst(n)) if self.arrivals.len() > n as usize);
        // `other_requester_address`: the reply address of the last request of someone else.
        let mut reply_address = reply_address;
        if let (Some(c), Some(a)) = (&creator, &reply_address) {
            let other = self
                .recent_addresses
                .iter()
                .rev()
                .find(|(oc, _)| oc != c)
                .map(|(_, oa)| oa.clone());
            self.recent_addresses.push_back((c.clone(), a.clone()));
            if self.recent_addresses.len() > 64 {
                self.recent_addresses.pop_front();
            }
            if action == Some(ServerAction::OtherRequesterAddress)
                && let Some(o) = other
            {
                reply_address = Some(o);
            }
        }

        // AMQP 1.0 part 3.2.4: past its absolute-expiry-time a message "is considered to be
        // expired"; the requester has given up on it (the deployed client's ttl is timeout x
        // retries), so it is answered with an error and not signed (`sign_expired` turns this off).
        if let Some(exp) = req.absolute_expiry_ms
            && (unix_now * 1000.0) as i64 >= exp
            && action != Some(ServerAction::SignExpired)
        {
            errors.push(format!(
                "request expired: absolute-expiry-time {exp} ms is past (now {} ms); not signed",
                (unix_now * 1000.0) as i64
            ));
        }
        let mut work = Work::Nothing;
        if body_obj.is_some() && errors.is_empty() {
            self.validate(props, body, &mut errors);
            if errors.is_empty() {
                let text = req.body.clone().unwrap_or_default();
                let memo = (
                    id.clone().unwrap_or_default(),
                    props.get("mtype").cloned().unwrap_or_default(),
                    text,
                );
                let again = self.remembered.get(&memo).cloned();
                work = match (again, &action) {
                    (Some(r), a) if *a != Some(ServerAction::ResignDuplicates) => {
                        Work::Known(memo, r)
                    }
                    (seen, a) => match self.plan_sign(props, body, a.as_ref(), seen.is_some()) {
                        Ok(job) => Work::Sign(memo, job),
                        Err(e) => {
                            errors.push(e);
                            Work::Nothing
                        }
                    },
                };
            }
        }
        Prepared {
            n,
            at,
            unix_now,
            req,
            fired,
            errors,
            body: body_obj,
            id,
            reply_address,
            burst_drop,
            work,
        }
    }

    /// The second half of handling a request, in arrival order, with the outcome of
    /// [`Prepared::sign`]: the result is remembered for redeliveries, the reply built and
    /// planned. A redelivery whose first delivery was being signed when it arrived gets that
    /// delivery's result here (the same signature, as when handled one after the other), or,
    /// under `resign_duplicates`, a new one.
    pub fn finish(
        &mut self,
        p: Prepared,
        signed: Option<Result<(&'static str, Value), String>>,
    ) -> ReceivedRequest {
        let Prepared {
            n,
            at,
            unix_now,
            req,
            fired,
            mut errors,
            body: body_obj,
            id,
            reply_address,
            burst_drop,
            work,
        } = p;
        let key = self.config.message_id_key.clone();
        let action = fired.as_ref().map(|f| f.action.clone());
        let empty = Map::new();
        let body = body_obj.as_ref().unwrap_or(&empty);
        let mut result: Option<(&'static str, Value)> = None;
        let outcome = match work {
            Work::Nothing => None,
            Work::Known(memo, r) => Some((memo, Ok(r))),
            Work::Sign(memo, job) => {
                let seen = self.remembered.get(&memo).cloned();
                let r = match (seen, &action) {
                    // Signed meanwhile by an earlier delivery of the same request.
                    (Some(r), a) if *a != Some(ServerAction::ResignDuplicates) => Ok(r),
                    (Some(_), a) if !job.again => self
                        .plan_sign(&req.application_properties, body, a.as_ref(), true)
                        .and_then(|j| j.run()),
                    _ => signed.unwrap_or_else(|| job.run()),
                };
                Some((memo, r))
            }
        };
        match outcome {
            Some((memo, Ok(r))) => {
                self.remember(memo, r.clone());
                result = Some(r);
            }
            Some((_, Err(e))) => errors.push(e),
            None => {}
        }

        let mut msg = Map::new();
        if let Some(i) = &id {
            msg.insert(key.clone(), json!(i));
        }
        // Echoed fields (notes "Reply": "echoes request_id, sig_key_id, sig_keyname,
        // manifest_digest, repo, pub_task_id, requested_by").
        for f in [
            "request_id",
            "sig_key_id",
            "sig_keyname",
            "manifest_digest",
            "repo",
            "pub_task_id",
            "pipeline_run_id",
            "requested_by",
        ] {
            if let Some(v) = body.get(f) {
                msg.insert(f.into(), v.clone());
            }
        }
        msg.insert("errors".into(), json!(errors));
        msg.insert(
            "signing_status".into(),
            json!(if errors.is_empty() {
                STATUS_SUCCESS
            } else {
                STATUS_FAILURE
            }),
        );
        if let Some((field, value)) = result {
            msg.insert(field.into(), value);
        }
        msg.insert("received_timestamp".into(), json!(unix_now));
        msg.insert("signed_timestamp".into(), json!(unix_now));

        let steps: Vec<Step> = match &fired {
            _ if burst_drop => vec![],
            Some(f) => f.action.emissions(self.config.timeout),
            None => vec![Step {
                after: Duration::ZERO,
                send: Emit::Reply,
            }],
        };
        let mut replies = Vec::new();
        if let Some(addr) = &reply_address {
            for s in steps {
                let (address, body) =
                    self.emission(n, s.send, addr, &msg, &key, id.as_deref(), unix_now);
                replies.push(PlannedReply {
                    after: s.after,
                    address,
                    body,
                    kind: s.send,
                });
            }
        }
        if let Some(i) = &id {
            self.last_id = Some(i.clone());
        }
        ReceivedRequest {
            n,
            at,
            address: req.address,
            application_properties: req.application_properties,
            non_string_properties: req.non_string_properties,
            body: req.body.ok(),
            ttl_ms: req.ttl_ms,
            id,
            errors,
            fault: fired.map(|f| format!("{}: {}", f.rule, f.action.label())),
            reply_address,
            replies,
        }
    }

    /// The reply envelope of request number `n`.
    fn envelope(&self, n: u64, topic: &str, msg: Value, unix_now: f64) -> Value {
        json!({
            "i": n,
            "msg_id": uuid::Uuid::new_v4().to_string(),
            "timestamp": unix_now,
            "topic": topic,
            "username": self.username,
            "msg": msg,
        })
    }

    #[allow(clippy::too_many_arguments)]
    fn emission(
        &mut self,
        n: u64,
        e: Emit,
        addr: &str,
        msg: &Map<String, Value>,
        key: &str,
        id: Option<&str>,
        unix_now: f64,
    ) -> (String, String) {
        let mut address = addr.to_string();
        // The reply as built (`reply`, `wrong_address`) is serialized from `msg` itself; the
        // faults that change it work on a copy.
        let copy = || msg.clone();
        let changed: Option<Map<String, Value>> = match e {
            Emit::Reply => None,
            Emit::WrongAddress => {
                address.push_str(".wrong");
                None
            }
            Emit::WrongId => {
                let other = match (&self.last_id, id) {
                    (Some(l), Some(i)) if l != i => l.clone(),
                    _ => uuid::Uuid::new_v4().to_string(),
                };
                let mut m = copy();
                m.insert(key.into(), json!(other));
                Some(m)
            }
            Emit::UnknownId => {
                let mut m = copy();
                m.insert(key.into(), json!(uuid::Uuid::new_v4().to_string()));
                Some(m)
            }
            Emit::MalformedJson => {
                return (address, "{\"i\": 1, \"msg\": {this is not JSON".into());
            }
            Emit::MissingMsg => {
                let mut env = self.envelope(n, addr, Value::Null, unix_now);
                if let Some(o) = env.as_object_mut() {
                    o.remove("msg");
                }
                return (address, env.to_string());
            }
            Emit::MissingId => {
                let mut m = copy();
                m.remove(key);
                Some(m)
            }
            Emit::ErrorReply => {
                let mut m = copy();
                for f in [
                    "signed_claim",
                    "signed_data",
                    "signed_payload",
                    "signed_claims",
                ] {
                    m.remove(f);
                }
                m.insert(
                    "errors".into(),
                    json!(["injected error: signing refused by fault plan"]),
                );
                m.insert("signing_status".into(), json!(STATUS_FAILURE));
                Some(m)
            }
        };
        let env = Envelope {
            i: n,
            msg: changed.as_ref().unwrap_or(msg),
            msg_id: uuid::Uuid::new_v4(),
            timestamp: unix_now,
            topic: &address,
            username: &self.username,
        };
        let text = serde_json::to_string(&env).unwrap_or_default();
        (address, text)
    }

    fn validate(
        &self,
        props: &BTreeMap<String, String>,
        body: &Map<String, Value>,
        errors: &mut Vec<String>,
    ) {
        // notes "Request": application properties service, environment, owner_id, mtype,
        // source = "metadata", plus pub_task_id (batch: pipeline_run_id).
        let batch = props.get("mtype").map(String::as_str) == Some("batch");
        let task_key = if batch {
            "pipeline_run_id"
        } else {
            "pub_task_id"
        };
        for p in [
            "service",
            "environment",
            "owner_id",
            "mtype",
            "source",
            task_key,
        ] {
            if !props.contains_key(p) {
                errors.push(format!("application property `{p}` is missing"));
            }
        }
        if let Some(s) = props.get("source")
            && s != "metadata"
        {
            errors.push(format!(
                "application property `source` is {s:?}, expected \"metadata\""
            ));
        }
        // notes "Request": owner_id (= creator) and requested_by (creator) must agree.
        if let (Some(o), Some(r)) = (props.get("owner_id"), str_field(body, "requested_by"))
            && *o != r
        {
            errors.push(format!("owner_id {o:?} and requested_by {r:?} differ"));
        }
        let required: &[&str] = if batch {
            // notes "Batch": the keys are per claim (`sig_key_ids`).
            &["requested_by", "created", "pipeline_run_id"]
        } else {
            &["sig_key_id", "requested_by", "created", "pub_task_id"]
        };
        for f in required {
            if str_field(body, f).is_none() {
                errors.push(format!("body: missing string `{f}`"));
            }
        }
        // notes "Body keys": `created` is ISO-8601 UTC with `Z`.
        if let Some(c) = str_field(body, "created")
            && (!c.ends_with('Z')
                || humantime::parse_rfc3339_weak(c.trim_end_matches('Z')).is_err())
        {
            errors.push(format!(
                "body: `created` {c:?} is not ISO-8601 UTC ending in Z"
            ));
        }
        // notes "Body keys": sig_key_id = last 8 characters of the real key id.
        if let Some(k) = str_field(body, "sig_key_id") {
            if k.len() != 8 {
                errors.push(format!(
                    "body: `sig_key_id` {k:?} is not the last 8 characters of a key id"
                ));
            } else if self.keys.find(&k).is_none() {
                errors.push(format!("body: unknown signing key `sig_key_id` {k:?}"));
            }
        }
        match props.get("mtype").map(String::as_str) {
            Some("container_signature") => {
                self.validate_claim(body, "", errors);
                if let (Some(p), Some(b)) = (props.get("manifest_digest"), str_field(body, "manifest_digest"))
                    && *p != b
                {
                    errors.push(format!("application property manifest_digest {p:?} differs from the body's {b:?}"));
                }
            }
            Some("clearsign_signature") => {
                if let Some(d) = decode(body, "data", errors)
                    && String::from_utf8(d).is_err()
                {
                    errors.push("data: clear-signing needs UTF-8 text".into());
                }
            }
            Some("gpg_signature") => {
                decode(body, "artifact", errors);
            }
            Some("batch") => self.validate_batch(body, errors),
            Some(other) => errors.push(format!(
                "application property `mtype` {other:?} is not container_signature, clearsign_signature, gpg_signature or batch"
            )),
            None => {}
        }
    }

    /// notes "Batch": body `claims` = list of `{claim_file, sig_keynames[], sig_key_ids[],
    /// manifest_digest, repo}`, at most [`MAX_BATCH_CLAIMS`], each key id known.
    fn validate_batch(&self, body: &Map<String, Value>, errors: &mut Vec<String>) {
        let Some(claims) = body.get("claims").and_then(Value::as_array) else {
            errors.push("body: `claims` is not a list (mtype batch)".into());
            return;
        };
        if claims.is_empty() || claims.len() > MAX_BATCH_CLAIMS {
            errors.push(format!(
                "body: `claims` has {} entries; a batch holds 1 to {MAX_BATCH_CLAIMS}",
                claims.len()
            ));
            return;
        }
        for (i, c) in claims.iter().enumerate() {
            let at = format!("claims[{i}].");
            let Some(c) = c.as_object() else {
                errors.push(format!("body: claims[{i}] is not an object"));
                continue;
            };
            self.validate_claim(c, &at, errors);
            match c.get("sig_key_ids").and_then(Value::as_array) {
                Some(ids) if !ids.is_empty() => {
                    for k in ids {
                        match k.as_str() {
                            Some(k) if k.len() == 8 && self.keys.find(k).is_some() => {}
                            Some(k) if k.len() == 8 => {
                                errors.push(format!("{at}sig_key_ids: unknown signing key {k:?}"))
                            }
                            _ => errors.push(format!(
                                "{at}sig_key_ids: {k} is not the last 8 characters of a key id"
                            )),
                        }
                    }
                }
                _ => errors.push(format!("{at}sig_key_ids is not a non-empty list")),
            }
            if !c.get("sig_keynames").is_some_and(Value::is_array) {
                errors.push(format!("{at}sig_keynames is not a list"));
            }
            if str_field(c, "repo").is_none() {
                errors.push(format!("{at}repo is missing"));
            }
        }
    }

    /// A container claim at `claim_file` of `body` (`at` prefixes messages, e.g. `claims[0].`).
    fn validate_claim(&self, body: &Map<String, Value>, at: &str, errors: &mut Vec<String>) {
        let mut errs = Vec::new();
        let bytes = decode(body, "claim_file", &mut errs);
        errors.extend(errs.into_iter().map(|e| format!("{at}{e}")));
        let Some(bytes) = bytes else { return };
        let claim = match serde_json::from_slice::<Value>(&bytes) {
            Ok(c) => c,
            Err(e) => {
                errors.push(format!("{at}claim_file: not a JSON claim ({e})"));
                return;
            }
        };
        // containers/image "atomic container signature" claim.
        if claim.pointer("/critical/type").and_then(Value::as_str)
            != Some("atomic container signature")
        {
            errors.push(format!(
                "{at}claim_file: critical.type is not \"atomic container signature\""
            ));
        }
        let digest = claim
            .pointer("/critical/image/docker-manifest-digest")
            .and_then(Value::as_str);
        if digest.is_none() {
            errors.push(format!(
                "{at}claim_file: critical.image.docker-manifest-digest is missing"
            ));
        }
        if claim
            .pointer("/critical/identity/docker-reference")
            .and_then(Value::as_str)
            .is_none()
        {
            errors.push(format!(
                "{at}claim_file: critical.identity.docker-reference is missing"
            ));
        }
        if let (Some(d), Some(m)) = (digest, str_field(body, "manifest_digest"))
            && d != m
        {
            errors.push(format!(
                "{at}claim digest {d:?} differs from manifest_digest {m:?}"
            ));
        }
    }

    /// Remember a signed result for redeliveries of the same request.
    fn remember(&mut self, memo: (String, String, String), r: (&'static str, Value)) {
        if self.remembered.insert(memo.clone(), r).is_none() {
            self.remembered_order.push_back(memo);
        }
        while self.remembered_order.len() > MAX_REMEMBERED_RESULTS {
            if let Some(old) = self.remembered_order.pop_front() {
                self.remembered.remove(&old);
            }
        }
    }

    /// The key that signs for `short` (the `wrong_key` fault: a key of no ring).
    fn signing_key(
        &mut self,
        short: &str,
        action: Option<&ServerAction>,
    ) -> Result<SigningKey, String> {
        if action == Some(&ServerAction::WrongKey) {
            if self.stray_key.is_none() {
                self.stray_key = Some(
                    SigningKey::generate("sigharness stray key <wrong-key@localhost>")
                        .map_err(|e| e.to_string())?,
                );
            }
            return self.stray_key.clone().ok_or_else(|| "no stray key".into());
        }
        self.keys
            .find(short)
            .cloned()
            .ok_or_else(|| format!("unknown signing key {short:?}"))
    }

    /// What signing a valid request takes: the key, the bytes, the shape; `again`: it was signed
    /// before (the `resign_duplicates` fault signs it anew, with SHA-512, so the two signatures
    /// differ).
    fn plan_sign(
        &mut self,
        props: &BTreeMap<String, String>,
        body: &Map<String, Value>,
        action: Option<&ServerAction>,
        again: bool,
    ) -> Result<SignJob, String> {
        if props.get("mtype").map(String::as_str) == Some("batch") {
            return self.plan_batch(body, action);
        }
        let short = str_field(body, "sig_key_id").unwrap_or_default();
        let key = self.signing_key(&short, action)?;
        let get = |f: &str| {
            str_field(body, f)
                .and_then(|s| B64.decode(s).ok())
                .ok_or_else(|| format!("`{f}` vanished"))
        };
        let shape = match props.get("mtype").map(String::as_str) {
            Some("container_signature") => {
                let mut claim = get("claim_file")?;
                if action == Some(&ServerAction::StaleClaim) {
                    claim = msg_signer::wire::container_claim(
                        &format!("sha256:{:064x}", 0),
                        "registry.example.com/stale/claim:old",
                    )
                    .to_string()
                    .into_bytes();
                }
                let hash = if again {
                    pgp::crypto::hash::HashAlgorithm::Sha512
                } else {
                    pgp::crypto::hash::HashAlgorithm::Sha256
                };
                Shape::Claim { key, claim, hash }
            }
            Some("clearsign_signature") => {
                let mut text =
                    String::from_utf8(get("data")?).map_err(|_| "data is not UTF-8".to_string())?;
                if action == Some(&ServerAction::SignOtherBytes) {
                    text.push_str("\nappended by the sign_other_bytes fault\n");
                }
                Shape::Clear { key, text }
            }
            Some("gpg_signature") => {
                let mut data = get("artifact")?;
                if action == Some(&ServerAction::SignOtherBytes) {
                    data.push(0);
                }
                Shape::Detached { key, data }
            }
            other => return Err(format!("cannot sign mtype {other:?}")),
        };
        Ok(SignJob { shape, again })
    }
}

impl Core {
    /// A batch reply's result: `signed_claims`, one entry per claim and key (claim-major, in
    /// request order): `{manifest_digest, repo, sig_key_id, sig_keyname, signed_claim}`, the
    /// signed claim as for a single container request. (The notes give the batch request, not
    /// its reply; the deployed batch client reads `msg.errors` and passes the envelope on.)
    fn plan_batch(
        &mut self,
        body: &Map<String, Value>,
        action: Option<&ServerAction>,
    ) -> Result<SignJob, String> {
        let claims = body
            .get("claims")
            .and_then(Value::as_array)
            .ok_or("`claims` vanished")?;
        let mut out = Vec::new();
        for c in claims {
            let c = c.as_object().ok_or("a claim vanished")?;
            let claim = Arc::new(
                str_field(c, "claim_file")
                    .and_then(|s| B64.decode(s).ok())
                    .ok_or("`claim_file` vanished")?,
            );
            let ids = c.get("sig_key_ids").and_then(Value::as_array);
            let names = c.get("sig_keynames").and_then(Value::as_array);
            for (i, id) in ids.into_iter().flatten().enumerate() {
                let short = id.as_str().unwrap_or_default();
                let key = self.signing_key(short, action)?;
                let entry = json!({
                    "manifest_digest": c.get("manifest_digest"),
                    "repo": c.get("repo"),
                    "sig_key_id": short,
                    "sig_keyname": names.and_then(|n| n.get(i)),
                });
                out.push((entry, key, claim.clone()));
            }
        }
        Ok(SignJob {
            shape: Shape::Batch(out),
            again: false,
        })
    }
}

/// A request after [`Core::begin`]: everything [`Core::finish`] needs, and the signature to
/// make ([`Prepared::sign`]).
#[derive(Debug)]
pub struct Prepared {
    n: u64,
    at: Duration,
    unix_now: f64,
    req: IncomingRequest,
    fired: Option<crate::fault::Fired<ServerAction>>,
    errors: Vec<String>,
    body: Option<Map<String, Value>>,
    id: Option<String>,
    reply_address: Option<String>,
    burst_drop: bool,
    work: Work,
}

/// The signing part of a request: none (invalid), a remembered result (a redelivery), or a
/// signature to make. The first field is the redelivery memo (id, mtype, body text).
#[derive(Debug)]
enum Work {
    Nothing,
    Known((String, String, String), (&'static str, Value)),
    Sign((String, String, String), SignJob),
}

/// A signature to make: the key and bytes are resolved, no server state is needed.
#[derive(Debug)]
struct SignJob {
    shape: Shape,
    /// Signed before (`resign_duplicates`: SHA-512).
    again: bool,
}

#[derive(Debug)]
enum Shape {
    Claim {
        key: SigningKey,
        claim: Vec<u8>,
        hash: pgp::crypto::hash::HashAlgorithm,
    },
    Clear {
        key: SigningKey,
        text: String,
    },
    Detached {
        key: SigningKey,
        data: Vec<u8>,
    },
    /// (entry without `signed_claim`, key, claim) per claim and key.
    Batch(Vec<(Value, SigningKey, Arc<Vec<u8>>)>),
}

impl SignJob {
    /// The result field and its value (base64 of the OpenPGP output).
    fn run(&self) -> Result<(&'static str, Value), String> {
        match &self.shape {
            Shape::Claim { key, claim, hash } => {
                let signed = key
                    .sign_message_with(claim, *hash)
                    .map_err(|e| e.to_string())?;
                Ok(("signed_claim", json!(B64.encode(signed))))
            }
            Shape::Clear { key, text } => {
                let signed = key.clearsign(text).map_err(|e| e.to_string())?;
                Ok(("signed_data", json!(B64.encode(signed))))
            }
            Shape::Detached { key, data } => {
                let sig = key.detached(data).map_err(|e| e.to_string())?;
                Ok(("signed_payload", json!(B64.encode(sig))))
            }
            Shape::Batch(items) => {
                let mut out = Vec::with_capacity(items.len());
                for (entry, key, claim) in items {
                    let signed = key.sign_message(claim).map_err(|e| e.to_string())?;
                    let mut e = entry.clone();
                    if let Some(o) = e.as_object_mut() {
                        o.insert("signed_claim".into(), json!(B64.encode(signed)));
                    }
                    out.push(e);
                }
                Ok(("signed_claims", Value::Array(out)))
            }
        }
    }
}

impl Prepared {
    /// Make this request's signature, if it needs one (`None`: nothing to sign here). Needs no
    /// server state: call it on any thread, then pass the outcome to [`Core::finish`].
    pub fn sign(&self) -> Option<Result<(&'static str, Value), String>> {
        match &self.work {
            Work::Sign(_, job) => Some(job.run()),
            _ => None,
        }
    }

    /// Its arrival number.
    pub fn n(&self) -> u64 {
        self.n
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn str_field(body: &Map<String, Value>, f: &str) -> Option<String> {
    body.get(f).and_then(Value::as_str).map(str::to_string)
}

fn decode(body: &Map<String, Value>, f: &str, errors: &mut Vec<String>) -> Option<Vec<u8>> {
    match body.get(f) {
        Some(Value::String(s)) => match B64.decode(s) {
            Ok(b) => Some(b),
            Err(e) => {
                errors.push(format!("body: `{f}` is not base64 ({e})"));
                None
            }
        },
        Some(_) => {
            errors.push(format!("body: `{f}` is not a string"));
            None
        }
        None => {
            errors.push(format!("body: missing `{f}`"));
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::Arc;
    use std::time::Duration;

    use base64::Engine as _;
    use serde_json::{Value, json};

    use super::*;

    fn core() -> Core {
        let cfg = ServerConfig {
            topic_send_to: "topic://sign".into(),
            topic_listen_to: "queue://reply.{creator}.{task_id}".into(),
            message_id_key: "request_id".into(),
            timeout: Duration::from_secs(10),
        };
        Core::new(
            cfg,
            Arc::new(KeyRing::generate().unwrap()),
            &FaultPlan::default(),
        )
        .unwrap()
    }

    fn claim(digest: &str, key: &str) -> Value {
        let c = json!({"critical": {"type": "atomic container signature",
            "image": {"docker-manifest-digest": digest},
            "identity": {"docker-reference": "reg.io/ns/app:1"}}, "optional": {}});
        json!({"claim_file": B64.encode(c.to_string()), "sig_keynames": ["rel"],
            "sig_key_ids": [key], "manifest_digest": digest, "repo": "ns/app"})
    }

    fn batch(core: &mut Core, claims: Vec<Value>) -> Value {
        let props: BTreeMap<String, String> = [
            ("service", "s"),
            ("environment", "e"),
            ("owner_id", "alice"),
            ("mtype", "batch"),
            ("source", "metadata"),
            ("pipeline_run_id", "42"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let body = json!({"claims": claims, "request_id": "r1",
            "created": "2026-12-04T22:00:00.000000Z", "requested_by": "alice",
            "pipeline_run_id": "42"});
        let r = core.handle_request(
            Duration::ZERO,
            0.0,
            IncomingRequest {
                address: "topic://sign".into(),
                application_properties: props,
                non_string_properties: vec![],
                body: Ok(body.to_string()),
                ttl_ms: None,
                absolute_expiry_ms: None,
            },
        );
        assert_eq!(
            r.reply_address.as_deref(),
            Some("queue://reply.alice.42"),
            "{r:?}"
        );
        let env: Value = serde_json::from_str(&r.replies[0].body).unwrap();
        env["msg"].clone()
    }

    /// A batch request (notes "Batch") is signed claim by claim: `signed_claims` has one
    /// entry per claim and key, each a signed message of that claim (before: refused with
    /// "mtype batch is not supported").
    #[test]
    fn batch_requests_are_signed_claim_by_claim() {
        let mut c = core();
        let key = c.keys.first().short_id().to_string();
        let m = batch(
            &mut c,
            vec![claim("sha256:01", &key), claim("sha256:02", &key)],
        );
        assert_eq!(m["errors"], json!([]), "{m}");
        assert_eq!(m["signing_status"], STATUS_SUCCESS);
        assert_eq!(m["request_id"], "r1");
        assert_eq!(m["pipeline_run_id"], "42");
        let s = m["signed_claims"].as_array().unwrap();
        assert_eq!(s.len(), 2);
        assert_eq!(s[1]["manifest_digest"], "sha256:02");
        assert_eq!(s[0]["sig_key_id"], key);
        assert_eq!(s[0]["sig_keyname"], "rel");
        assert!(!s[0]["signed_claim"].as_str().unwrap().is_empty());

        // An unknown key or a broken claim: errors naming the claim, nothing signed.
        let m = batch(
            &mut c,
            vec![claim("sha256:01", &key), claim("sha256:02", "DEADBEEF")],
        );
        let errors = m["errors"].to_string();
        assert!(
            errors.contains("claims[1].sig_key_ids: unknown signing key"),
            "{errors}"
        );
        assert!(m.get("signed_claims").is_none());
        let mut bad = claim("sha256:01", &key);
        bad["claim_file"] = json!("not base64!");
        let m = batch(&mut c, vec![bad]);
        assert!(m["errors"].to_string().contains("claims[0]."), "{m}");
    }

    /// A valid container request from `owner` with id `id`.
    fn container_request(core: &Core, id: &str, owner: &str) -> IncomingRequest {
        let digest = format!("sha256:{:064x}", 1);
        let claim = msg_signer::wire::container_claim(&digest, "reg.io/ns/app:1");
        let key = core.keys.first().short_id().to_string();
        let props: BTreeMap<String, String> = [
            ("service", "s"),
            ("environment", "e"),
            ("owner_id", owner),
            ("mtype", "container_signature"),
            ("source", "metadata"),
            ("pub_task_id", "7"),
            ("manifest_digest", digest.as_str()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let body = json!({"sig_key_id": key, "claim_file": B64.encode(claim.to_string()),
            "request_id": id, "created": "2026-12-04T22:00:00.000000Z", "requested_by": owner,
            "pub_task_id": "7", "manifest_digest": digest, "repo": "ns/app"});
        IncomingRequest {
            address: "topic://sign".into(),
            application_properties: props,
            non_string_properties: vec![],
            body: Ok(body.to_string()),
            ttl_ms: None,
            absolute_expiry_ms: None,
        }
    }

    fn container(core: &mut Core, at_ms: u64, id: &str, owner: &str) -> ReceivedRequest {
        let req = container_request(core, id, owner);
        core.handle_request(Duration::from_millis(at_ms), 0.0, req)
    }

    fn signed_claim(r: &ReceivedRequest) -> String {
        let env: Value = serde_json::from_str(&r.replies[0].body).unwrap();
        env["msg"]["signed_claim"].as_str().unwrap().to_string()
    }

    /// Pipelined (both deliveries begun before either is finished, as the server does while
    /// signatures are in the making): a redelivery still gets the first delivery's signature,
    /// and `resign_duplicates` still signs it anew; the envelopes keep their own numbers.
    #[test]
    fn redeliveries_in_flight_together_get_one_signature() {
        let req = |c: &Core| container_request(c, "r1", "alice");
        let envelope_i = |r: &ReceivedRequest| {
            let env: Value = serde_json::from_str(&r.replies[0].body).unwrap();
            env["i"].as_u64().unwrap()
        };
        for resign in [false, true] {
            let mut c = core();
            if resign {
                let plan = crate::fault::plan_from_str("rules: [{action: resign_duplicates}]", "t")
                    .unwrap();
                c.set_fault_plan(&plan).unwrap();
            }
            let (ra, rb) = (req(&c), req(&c));
            let a = c.begin(Duration::ZERO, 0.0, ra);
            let b = c.begin(Duration::from_millis(1), 0.0, rb);
            let (sa, sb) = (a.sign(), b.sign());
            assert!(sa.is_some() && sb.is_some(), "both were in the making");
            let a = c.finish(a, sa);
            let b = c.finish(b, sb);
            assert_eq!(a.errors, Vec::<String>::new());
            assert_eq!((a.n, b.n), (1, 2));
            assert_eq!((envelope_i(&a), envelope_i(&b)), (1, 2));
            if resign {
                assert_ne!(signed_claim(&a), signed_claim(&b), "resign_duplicates");
            } else {
                assert_eq!(signed_claim(&a), signed_claim(&b));
            }
        }
    }

    /// A redelivered request gets the signature it already got (the faulty server's
    /// `resign_duplicates` signs it anew, differently); `drop_under_burst: 2` drops the third
    /// request within a second and not one a second later; `other_requester_address` replies
    /// on the last other requester's address.
    #[test]
    fn redeliveries_bursts_and_addresses_of_the_faulty_server() {
        let mut c = core();
        let a = container(&mut c, 0, "r1", "alice");
        let b = container(&mut c, 1, "r1", "alice");
        assert_eq!(a.errors, Vec::<String>::new());
        assert_eq!(signed_claim(&a), signed_claim(&b));

        let plan = |y: &str| crate::fault::plan_from_str(y, "t").unwrap();
        c.set_fault_plan(&plan("rules: [{action: resign_duplicates}]"))
            .unwrap();
        let d = container(&mut c, 2, "r1", "alice");
        assert_ne!(signed_claim(&a), signed_claim(&d));

        let mut c = core();
        c.set_fault_plan(&plan("rules: [{action: {drop_under_burst: 2}}]"))
            .unwrap();
        let n: Vec<usize> = [0, 10, 20, 1020]
            .iter()
            .enumerate()
            .map(|(i, t)| {
                container(&mut c, *t, &format!("b{i}"), "alice")
                    .replies
                    .len()
            })
            .collect();
        assert_eq!(n, [1, 1, 0, 1]);

        let mut c = core();
        c.set_fault_plan(&plan(
            "rules: [{action: other_requester_address, match: {app_properties: {owner_id: bob}}}]",
        ))
        .unwrap();
        container(&mut c, 0, "c1", "alice");
        let r = container(&mut c, 1, "c2", "bob");
        assert_eq!(r.replies[0].address, "queue://reply.alice.7");
    }
}

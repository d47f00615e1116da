//! Fault soak of the messaging path (issue 13): our reference client (`msg_signer` engine +
//! AMQP transport) against the embedded broker and the mock signing server, both with random,
//! seeded fault plans, over real loopback AMQP, in virtual time (each scenario runs on its own
//! current-thread runtime with tokio's clock paused: broker, server and client share it).
//!
//! Invariants checked after every scenario:
//! - every request ends with exactly one result (signed or a per-request error), in request
//!   order; a run-level error (no broker reachable at the start) only when the plan refuses
//!   connections;
//! - no reply is lost inside the client: a reply it accepted (broker journal) before detaching
//!   that receiver answered its request (a result with an envelope);
//! - a signed result carries a reply the signing server really produced (its envelope equals a
//!   planned reply of a request the server received), with `signing_status` success;
//! - no request is sent more than `send_retries` times (spec, "Messaging signer workflow":
//!   "Cycle repeats maximally `send_retries` times"; the engine counts cycles, so the first
//!   send is one of them): checked both on the client's count and on the broker's journal;
//! - the run ends within the bound derived from the transport's own waits (see
//!   [`time_bound`]);
//! - a scenario without faults signs everything with one transmission per request.
//!
//! Knobs: `SOAK_SEED` (u64, default [`DEFAULT_SEED`]) makes a run replayable; `SOAK_SCALE=full`
//! runs the big soak (default: the short one for `cargo test`); `SOAK_SCENARIO=N` replays
//! scenario N alone. A failing scenario prints its seed, its configuration and both plans (JSON,
//! which the fault-plan parsers read as YAML).

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant as WallInstant, SystemTime};

use mock_broker::{BrokerAction, Event, FaultPlan, LinkDirection, Outcome};
use mock_signing_server::{Emit, ServerAction, ServerConfig, SigningServer};
use msg_signer::config::MsgSignerConfig;
use msg_signer::engine::RequestResult;
use msg_signer::transport::{RunReport, TransportOptions};
use msg_signer::wire::{RunContext, SignInput, build_requests};
use serde_json::{Value, json};

const DEFAULT_SEED: u64 = 0x5eed_0013;
const SEND_TO: &str = "topic://VirtualTopic.eng.robosignatory.sign";
const LISTEN_TO: &str = "queue://Consumer.{creator}.{task_id}.VirtualTopic.eng.robosignatory.sign";
const CREATOR: &str = "soak";
const TASK_ID: &str = "1313";

/// SplitMix64: a few lines of seeded, reproducible randomness for choosing plans (the same
/// generator the fault plans use for `probability`); no crate needed for a test's dice.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in `lo..=hi`.
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo + 1)
    }
    fn chance(&mut self, p: f64) -> bool {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64 <= p
    }
    fn pick<'a, T>(&mut self, v: &'a [T]) -> &'a T {
        &v[self.next() as usize % v.len()]
    }
    fn prob(&mut self) -> f64 {
        // 0.02 .. 0.30, two decimals
        self.range(2, 30) as f64 / 100.0
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Scale {
    Short,
    Full,
}

/// One scenario: a client configuration and two fault plans (as JSON text).
#[derive(Clone, Debug)]
struct Scenario {
    index: usize,
    seed: u64,
    timeout: u64,
    retries: u32,
    send_retries: u32,
    inputs: usize,
    keys: usize,
    dead_broker_first: bool,
    broker_plan: Value,
    server_plan: Value,
}

impl Scenario {
    fn generate(index: usize, seed: u64, scale: Scale) -> Scenario {
        let mut r = Rng(seed);
        let (lo, hi) = match scale {
            Scale::Short => (10, 70),
            Scale::Full => (20, 200),
        };
        let inputs = r.range(lo, hi) as usize;
        let keys = r.range(1, 2) as usize;
        // Every 8th scenario has no faults at all: the baseline every invariant must meet exactly.
        let faulty = index % 8 != 7;
        let broker_rules = if faulty { r.range(0, 3) } else { 0 };
        let server_rules = if faulty {
            r.range(if broker_rules == 0 { 1 } else { 0 }, 3)
        } else {
            0
        };
        let mut broker = Vec::new();
        for _ in 0..broker_rules {
            broker.push(broker_rule(&mut r));
        }
        let mut server = Vec::new();
        for _ in 0..server_rules {
            server.push(server_rule(&mut r));
        }
        Scenario {
            index,
            seed,
            timeout: r.range(1, 10),
            retries: r.range(1, 3) as u32,
            send_retries: r.range(1, 3) as u32,
            inputs,
            keys,
            dead_broker_first: faulty && r.chance(0.2),
            broker_plan: json!({"seed": r.next() >> 1, "rules": broker}),
            server_plan: json!({"seed": r.next() >> 1, "rules": server}),
        }
    }

    fn requests(&self) -> usize {
        self.inputs * self.keys
    }

    fn has_faults(&self) -> bool {
        self.dead_broker_first
            || !self.broker_plan["rules"]
                .as_array()
                .is_some_and(Vec::is_empty)
            || !self.server_plan["rules"]
                .as_array()
                .is_some_and(Vec::is_empty)
    }

    fn refuses_connections(&self) -> bool {
        self.broker_plan["rules"]
            .as_array()
            .is_some_and(|a| a.iter().any(|r| r["action"] == "refuse_connection"))
    }

    fn describe(&self) -> String {
        format!(
            "scenario {} (seed {:#x}): timeout {} s, retries {}, send_retries {}, {} inputs x {} keys = {} requests, dead broker first: {}\n  broker plan: {}\n  server plan: {}",
            self.index,
            self.seed,
            self.timeout,
            self.retries,
            self.send_retries,
            self.inputs,
            self.keys,
            self.requests(),
            self.dead_broker_first,
            self.broker_plan,
            self.server_plan
        )
    }
}

/// A random broker rule. Rules that would cut the signing server's own link or connection
/// (it does not reconnect) are aimed at the client's addresses only.
fn broker_rule(r: &mut Rng) -> Value {
    let p = r.prob();
    let delay = format!("{}ms", r.range(50, 4_000));
    match r.range(0, 11) {
        0 => {
            json!({"name": "drop-request", "match": {"address": SEND_TO, "probability": p}, "action": "drop"})
        }
        1 => {
            json!({"name": "delay-request", "match": {"probability": p}, "action": {"delay": delay}})
        }
        2 => json!({"name": "duplicate", "match": {"probability": p}, "action": "duplicate"}),
        3 => json!({"name": "reorder", "match": {"probability": p}, "action": "reorder"}),
        4 => {
            json!({"name": "reject-request", "match": {"address": SEND_TO, "probability": p}, "action": "reject"})
        }
        5 => {
            json!({"name": "never-settle", "match": {"address": SEND_TO, "probability": p}, "action": "never_settle"})
        }
        6 => {
            json!({"name": "cut-client", "match": {"address": SEND_TO, "nth": r.range(1, 40)}, "action": {"disconnect_after": 1}, "times": 1})
        }
        // nth 1 refuses the client's first connection (a run-level error); later ones hit
        // reconnections after a cut.
        7 => {
            json!({"name": "refuse-connection", "match": {"nth": r.range(1, 4)}, "action": "refuse_connection", "times": 1})
        }
        8 => {
            json!({"name": "refuse-receiver", "match": {"address": "queue://Consumer.*"}, "action": "refuse_attach", "times": r.range(1, 2)})
        }
        9 => {
            json!({"name": "lose-reply", "match": {"direction": "outbound", "address": "queue://Consumer.*", "probability": p}, "action": "drop"})
        }
        10 => {
            json!({"name": "duplicate-reply", "match": {"direction": "outbound", "address": "queue://Consumer.*", "probability": p}, "action": "duplicate"})
        }
        _ => {
            json!({"name": "cut-receiver", "match": {"direction": "outbound", "address": "queue://Consumer.*", "nth": r.range(1, 40)}, "action": {"disconnect_after": 1}, "times": 1})
        }
    }
}

/// A random signing-server rule.
fn server_rule(r: &mut Rng) -> Value {
    let p = r.prob();
    let action = match r.range(0, 12) {
        0 => json!("drop"),
        1 => json!({"delay": format!("{}ms", r.range(100, 12_000))}),
        2 => json!("duplicate"),
        3 => json!("wrong_id"),
        4 => json!("unknown_id"),
        5 => json!("malformed_json"),
        6 => json!("missing_msg"),
        7 => json!("missing_id"),
        8 => json!("error_reply"),
        9 => json!("wrong_address"),
        10 => json!("reply_after_window"),
        _ => {
            let sends = ["reply", "unknown_id", "malformed_json", "wrong_id"];
            let steps: Vec<Value> = (0..r.range(1, 3))
                .map(|_| json!({"after": format!("{}ms", r.range(0, 6_000)), "send": r.pick(&sends)}))
                .collect();
            json!({"script": steps})
        }
    };
    json!({"match": {"probability": p}, "action": action})
}

/// The longest a run may take, from the transport's own bounded waits (T = `timeout`,
/// W = `send_retries * retries` windows, N requests):
/// first connect <= 2T (AMQP open + sender attach); per window a reconnect <= 1 s (close) + 2T
/// and a receiver attach <= T, and the window itself <= T after its start or its last expected
/// reply (each of the N requests resets it at most once over the run); at the end each
/// receiver's detach <= 2 s, and sender, session and connection close <= 2 s each. Slack: 10 s.
fn time_bound(s: &Scenario) -> Duration {
    let t = s.timeout;
    let w = u64::from(s.send_retries) * u64::from(s.retries);
    let n = s.requests() as u64;
    Duration::from_secs(2 * t + w * (4 * t + 1 + 2) + n * t + 6 + 10)
}

/// What one scenario produced.
#[derive(Default)]
struct Figures {
    requests: usize,
    signed: usize,
    by_kind: BTreeMap<&'static str, usize>,
    broker_faults: usize,
    server_faults: usize,
    transmissions: usize,
    virtual_time: Duration,
    /// elapsed / (T * retries * send_retries): how far past the idle budget the run went.
    budget_ratio: f64,
    /// Replies the client accepted (journal) that were checked to have reached the engine.
    replies_checked: usize,
    /// The most transmissions of one request the broker saw.
    max_sends_seen: u32,
    /// Signed results whose reply was produced for another request (`wrong_id`: correlation is
    /// by id alone, as the spec says; the client cannot tell).
    signed_from_wrong_id: usize,
}

fn kind_of(r: &RequestResult) -> &'static str {
    match r {
        RequestResult::Signed { .. } => "signed",
        RequestResult::Failed { error, envelope } => {
            if envelope.is_some() {
                if error.starts_with("malformed reply") {
                    "malformed reply"
                } else {
                    "error reply"
                }
            } else if error.contains("rejected") {
                "send rejected"
            } else if error.contains("did not settle") {
                "send not settled"
            } else if error.contains("released")
                || error.contains("modified")
                || error.contains("sending failed")
                || error.contains("not connected")
                || error.contains("connection lost before settlement")
            {
                "send failed"
            } else if error.starts_with("no reply after") {
                "no reply"
            } else {
                "other error"
            }
        }
    }
}

fn parse_plans(s: &Scenario) -> (FaultPlan<BrokerAction>, FaultPlan<ServerAction>) {
    let b = FaultPlan::<BrokerAction>::from_yaml_str(&s.broker_plan.to_string(), "broker plan")
        .unwrap_or_else(|e| panic!("{}\n{e}", s.describe()));
    b.check_broker("broker plan")
        .unwrap_or_else(|e| panic!("{}\n{e}", s.describe()));
    let sp = FaultPlan::<ServerAction>::from_yaml_str(&s.server_plan.to_string(), "server plan")
        .unwrap_or_else(|e| panic!("{}\n{e}", s.describe()));
    (b, sp)
}

async fn run(s: &Scenario) -> Result<Figures, String> {
    let (bplan, splan) = parse_plans(s);
    // The journal's clock starts with the broker (tokio time, virtual here).
    let journal_zero = tokio::time::Instant::now();
    let broker = mock_broker::Broker::builder()
        .start()
        .await
        .map_err(|e| format!("broker: {e}"))?;
    let url = format!("amqp://{}", broker.addr());
    let server_cfg = ServerConfig {
        topic_send_to: SEND_TO.into(),
        topic_listen_to: LISTEN_TO.into(),
        message_id_key: "request_id".into(),
        timeout: Duration::from_secs(s.timeout),
    };
    let server = tokio::time::timeout(
        Duration::from_secs(30),
        SigningServer::builder(url.clone(), server_cfg)
            .fault_plan(splan)
            .start(),
    )
    .await
    .map_err(|_| "signing server: no connect + attach within 30 s".to_string())?
    .map_err(|e| format!("signing server: {e}"))?;
    // The broker's faults start after the signing server is attached: they are aimed at the
    // client (rule counters such as `nth` count the client's traffic only).
    broker
        .set_fault_plan(bplan)
        .map_err(|e| format!("broker plan: {e}"))?;
    let key_id = server.keys().first().key_id().to_string();

    // A port bound but never listening: connects are refused (failover to the live broker).
    let dead = tokio::net::TcpSocket::new_v4().map_err(|e| e.to_string())?;
    dead.bind(([127, 0, 0, 1], 0).into())
        .map_err(|e| e.to_string())?;
    let mut brokers = vec![url.clone()];
    if s.dead_broker_first {
        let port = dead.local_addr().map_err(|e| e.to_string())?.port();
        brokers.insert(0, format!("amqp://127.0.0.1:{port}"));
    }
    let config = MsgSignerConfig {
        messaging_brokers: brokers,
        messaging_cert_key: "unused-for-amqp.pem".into(),
        messaging_ca_cert: "unused-for-amqp.pem".into(),
        topic_send_to: SEND_TO.into(),
        topic_listen_to: LISTEN_TO.into(),
        environment: "soak".into(),
        service: "sigharness-soak".into(),
        timeout: s.timeout,
        retries: s.retries,
        send_retries: s.send_retries,
        message_id_key: "request_id".into(),
        log_level: "INFO".into(),
        key_aliases: [("prod".to_string(), key_id.clone())].into(),
    };
    config
        .validate(std::path::Path::new("soak config"))
        .map_err(|e| e.to_string())?;
    let ctx = RunContext {
        creator: CREATOR.into(),
        task_id: TASK_ID.into(),
        signing_key_name: Some("release".into()),
    };
    let inputs: Vec<SignInput> = (0..s.inputs)
        .map(|i| SignInput::Container {
            digest: format!("sha256:{:064x}", i + 1),
            reference: format!("registry.example.com/ns/image{i}:1.{i}"),
        })
        .collect();
    let keys: Vec<String> = ["prod".to_string(), key_id.clone()][..s.keys].to_vec();
    let mut n = 0u64;
    let requests = build_requests(&config, &ctx, &inputs, &keys, SystemTime::now(), || {
        n += 1;
        format!("soak-{}-{n}", s.index)
    })
    .map_err(|e| e.to_string())?;
    let reply_address = msg_signer::config::expand_template(LISTEN_TO, CREATOR, TASK_ID);
    let bound = time_bound(s);
    let opts = TransportOptions::default();
    let t0 = tokio::time::Instant::now();
    let ran = tokio::time::timeout(
        bound + Duration::from_secs(60),
        msg_signer::transport::run(&config, &opts, &reply_address, &requests),
    )
    .await
    .map_err(|_| format!("the client did not finish within {bound:?} + 60 s (virtual)"))?;
    let elapsed = t0.elapsed();
    let mut f = Figures {
        requests: requests.len(),
        virtual_time: elapsed,
        budget_ratio: elapsed.as_secs_f64()
            / (s.timeout * u64::from(s.retries) * u64::from(s.send_retries)) as f64,
        ..Figures::default()
    };
    let report: RunReport = match ran {
        Ok(r) => r,
        Err(e) => {
            // A run-level error leaves no request with a result of its own: allowed only when
            // the plan refuses connections (no broker reachable at the start).
            if !s.refuses_connections() {
                return Err(format!("run-level error without a refusing plan: {e}"));
            }
            *f.by_kind.entry("run error: no broker").or_default() += requests.len();
            f.broker_faults = broker
                .journal()
                .filter(|e| matches!(e.event, Event::Fault { .. }))
                .len();
            return Ok(f);
        }
    };
    if elapsed > bound {
        return Err(format!(
            "the run took {elapsed:?} (virtual), more than the bound {bound:?}"
        ));
    }

    // Exactly one result per request, in order.
    if report.results.len() != requests.len() || report.transmissions.len() != requests.len() {
        return Err(format!(
            "{} results and {} transmission counts for {} requests",
            report.results.len(),
            report.transmissions.len(),
            requests.len()
        ));
    }
    // What the signing server received and planned to send, by request id.
    let received = server.received_requests();
    let mut planned: HashMap<String, Vec<(Value, Emit)>> = HashMap::new();
    for r in &received {
        if r.fault.is_some() {
            f.server_faults += 1;
        }
        if let Some(id) = &r.id {
            for p in &r.replies {
                if let Ok(v) = serde_json::from_str::<Value>(&p.body) {
                    planned.entry(id.clone()).or_default().push((v, p.kind));
                }
            }
        }
    }
    let all_planned: Vec<(&Value, Emit)> = planned
        .values()
        .flat_map(|v| v.iter().map(|(b, k)| (b, *k)))
        .collect();
    // Sends per request on the broker's side (the journal: client transfers to the send address).
    let mut journal_sends: HashMap<String, u32> = HashMap::new();
    for e in broker.journal().snapshot() {
        match &e.event {
            Event::Fault { .. } => f.broker_faults += 1,
            _ if e.is_inbound_transfer() && e.address() == Some(SEND_TO) => {
                if let Some(id) = e
                    .message()
                    .and_then(|m| m.body_text())
                    .and_then(|t| serde_json::from_str::<Value>(t).ok())
                    .and_then(|b| b["request_id"].as_str().map(str::to_string))
                {
                    *journal_sends.entry(id).or_default() += 1;
                }
            }
            _ => {}
        }
    }
    if s.dead_broker_first {
        f.broker_faults += 1; // the refused first broker
    }
    for (i, (req, res)) in requests.iter().zip(&report.results).enumerate() {
        let sent = report.transmissions[i];
        f.transmissions += sent as usize;
        if sent > s.send_retries {
            return Err(format!(
                "request {} was transmitted {sent} times; send_retries is {}",
                req.id, s.send_retries
            ));
        }
        let on_wire = journal_sends.get(&req.id).copied().unwrap_or(0);
        f.max_sends_seen = f.max_sends_seen.max(on_wire);
        if on_wire > s.send_retries {
            return Err(format!(
                "the broker saw request {} {on_wire} times; send_retries is {}",
                req.id, s.send_retries
            ));
        }
        *f.by_kind.entry(kind_of(res)).or_default() += 1;
        match res {
            RequestResult::Signed { envelope } => {
                f.signed += 1;
                let msg = &envelope["msg"];
                if msg["request_id"] != json!(req.id) || msg["signing_status"] != "success" {
                    return Err(format!(
                        "request {}: signed with an envelope for {} / status {}",
                        req.id, msg["request_id"], msg["signing_status"]
                    ));
                }
                // The envelope is one the server produced: for this request, or (wrong_id) for
                // another one but carrying this request's id.
                let own = planned
                    .get(&req.id)
                    .is_some_and(|v| v.iter().any(|(b, _)| b == envelope));
                if !own {
                    if all_planned
                        .iter()
                        .any(|(b, k)| *b == envelope && *k == Emit::WrongId)
                    {
                        f.signed_from_wrong_id += 1;
                    } else {
                        return Err(format!(
                            "request {}: signed with a reply the signing server never produced: {envelope}",
                            req.id
                        ));
                    }
                }
            }
            RequestResult::Failed { error, .. } => {
                if error.trim().is_empty() {
                    return Err(format!("request {}: an error without a reason", req.id));
                }
            }
        }
    }
    // No reply lost inside the client: a reply the client accepted (its disposition is in the
    // journal) before its receiver was detached must have reached the engine, so its request
    // has a result with an envelope (signed, error or malformed reply; the first reply wins).
    // The client receives and accepts one delivery at a time, in order, so on each receiver
    // link the accepted deliveries are the first ones transferred.
    let journal = broker.journal().snapshot();
    let end_at = (t0 + elapsed).saturating_duration_since(journal_zero);
    let margin = Duration::from_millis(1);
    let index: HashMap<&str, usize> = requests
        .iter()
        .enumerate()
        .map(|(i, r)| (r.id.as_str(), i))
        .collect();
    let receivers: Vec<&str> = journal
        .iter()
        .filter_map(|e| match &e.event {
            Event::Attach {
                link,
                direction: LinkDirection::PeerReceives,
                address,
            } if address.as_deref() == Some(reply_address.as_str()) => Some(link.as_str()),
            _ => None,
        })
        .collect();
    for link in receivers {
        let detached_at = journal
            .iter()
            .find_map(|e| match &e.event {
                Event::Detach {
                    link: l,
                    direction: LinkDirection::PeerReceives,
                    ..
                } if l == link => Some(e.at),
                _ => None,
            })
            .unwrap_or(end_at)
            .min(end_at);
        let accepted = journal
            .iter()
            .filter(|e| {
                e.at + margin < detached_at
                    && matches!(&e.event, Event::Disposition {
                        link: l,
                        direction: LinkDirection::PeerReceives,
                        outcome: Outcome::Accepted,
                        ..
                    } if l == link)
            })
            .count();
        let delivered = journal
            .iter()
            .filter(|e| e.is_outbound_transfer() && e.link() == Some(link))
            .take(accepted);
        for e in delivered {
            let Some(id) = e
                .message()
                .and_then(|m| m.body_text())
                .and_then(|t| serde_json::from_str::<Value>(t).ok())
                .and_then(|b| b["msg"]["request_id"].as_str().map(str::to_string))
            else {
                continue; // not correlatable: counted in the error of unanswered requests
            };
            if let Some(&i) = index.get(id.as_str())
                && let RequestResult::Failed {
                    error,
                    envelope: None,
                } = &report.results[i]
            {
                return Err(format!(
                    "request {id}: the client accepted a reply for it on {link} at {:?} (virtual), yet reports no reply: {error}",
                    e.at
                ));
            }
            f.replies_checked += 1;
        }
    }
    if !s.has_faults() {
        if f.signed != requests.len() {
            return Err(format!(
                "no faults, yet only {} of {} requests signed: {:?}",
                f.signed,
                requests.len(),
                f.by_kind
            ));
        }
        if let Some(i) = report.transmissions.iter().position(|&t| t != 1) {
            return Err(format!(
                "no faults, yet request {} was transmitted {} times",
                requests[i].id, report.transmissions[i]
            ));
        }
    }
    drop(server);
    drop(broker);
    Ok(f)
}

fn run_one(s: &Scenario) -> Result<Figures, String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .map_err(|e| format!("runtime: {e}"))?;
    rt.block_on(run(s))
}

#[test]
fn messaging_path_fault_soak() {
    let seed = std::env::var("SOAK_SEED")
        .ok()
        .map(|v| {
            let v = v.trim();
            match v.strip_prefix("0x") {
                Some(h) => u64::from_str_radix(h, 16),
                None => v.parse(),
            }
            .unwrap_or_else(|e| panic!("SOAK_SEED={v:?} is not a u64: {e}"))
        })
        .unwrap_or(DEFAULT_SEED);
    let scale = match std::env::var("SOAK_SCALE").as_deref() {
        Ok("full") => Scale::Full,
        Ok("short") | Err(_) => Scale::Short,
        Ok(other) => panic!("SOAK_SCALE={other:?}: use short or full"),
    };
    let scenarios = match scale {
        Scale::Short => 48,
        Scale::Full => 240,
    };
    let only: Option<usize> = std::env::var("SOAK_SCENARIO").ok().map(|v| {
        v.parse()
            .unwrap_or_else(|e| panic!("SOAK_SCENARIO={v:?}: {e}"))
    });
    let mut master = Rng(seed);
    let list: Vec<Scenario> = (0..scenarios)
        .map(|i| Scenario::generate(i, master.next(), scale))
        .filter(|s| only.is_none_or(|o| o == s.index))
        .collect();
    println!(
        "msg-signer soak: seed {seed:#x}, scale {scale:?}, {} scenarios",
        list.len()
    );
    let wall = WallInstant::now();
    let mut total = Figures::default();
    let mut virtual_max = Duration::ZERO;
    let mut ratio_max: f64 = 0.0;
    let mut failures = Vec::new();
    for s in &list {
        let started = WallInstant::now();
        match run_one(s) {
            Ok(f) => {
                total.requests += f.requests;
                total.signed += f.signed;
                total.broker_faults += f.broker_faults;
                total.server_faults += f.server_faults;
                total.transmissions += f.transmissions;
                total.signed_from_wrong_id += f.signed_from_wrong_id;
                total.max_sends_seen = total.max_sends_seen.max(f.max_sends_seen);
                total.replies_checked += f.replies_checked;
                total.virtual_time += f.virtual_time;
                virtual_max = virtual_max.max(f.virtual_time);
                ratio_max = ratio_max.max(f.budget_ratio);
                for (k, v) in f.by_kind {
                    *total.by_kind.entry(k).or_default() += v;
                }
                if std::env::var_os("SOAK_VERBOSE").is_some() {
                    println!(
                        "  scenario {:3}: {:3} requests, {:3} signed, {:.1} s virtual, {:.2} s wall",
                        s.index,
                        f.requests,
                        f.signed,
                        f.virtual_time.as_secs_f64(),
                        started.elapsed().as_secs_f64()
                    );
                }
            }
            Err(e) => {
                println!(
                    "FAILED {}\n  -> {e}\n  replay: SOAK_SEED={seed:#x} SOAK_SCALE={} SOAK_SCENARIO={}",
                    s.describe(),
                    if scale == Scale::Full {
                        "full"
                    } else {
                        "short"
                    },
                    s.index
                );
                failures.push(s.index);
            }
        }
    }
    println!(
        "msg-signer soak: {} scenarios, {} requests, {} transmissions (at most {} of one request on the broker), faults injected: {} broker + {} signing server; results: {:?}; accepted replies checked to have reached the engine: {}; signed from a wrong_id reply: {}; virtual time {:.0} s in all (max {:.0} s, max {:.2}x of timeout*retries*send_retries); wall {:.1} s",
        list.len(),
        total.requests,
        total.transmissions,
        total.max_sends_seen,
        total.broker_faults,
        total.server_faults,
        total.by_kind,
        total.replies_checked,
        total.signed_from_wrong_id,
        total.virtual_time.as_secs_f64(),
        virtual_max.as_secs_f64(),
        ratio_max,
        wall.elapsed().as_secs_f64()
    );
    assert!(
        failures.is_empty(),
        "{} scenario(s) failed: {failures:?} (seed {seed:#x}; see the plans above)",
        failures.len()
    );
    if only.is_none() {
        assert!(list.len() >= 40, "at least 40 scenarios");
        assert!(
            total.requests >= 1_000,
            "thousands of requests: {}",
            total.requests
        );
        assert!(
            total.broker_faults + total.server_faults > 0,
            "faults were injected"
        );
    }
}

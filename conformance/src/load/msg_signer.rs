//! `sigharness load msg-signer`: signing requests on the open-loop schedule through the broker
//! to the signing server, every reply correlated by `message_id_key` and judged by the
//! `msg-signer` suite's own server-mode checks.
//!
//! Kinds: the suite's server-mode cases that send one plain request (no corruption, no repeat,
//! no fault) grouped by the kind of request they send (`container`, `clear`, `blob`, `batch`);
//! each arrival of a kind is built exactly as those cases build their request, and its reply is
//! judged by every one of those cases' checks (correlation, envelope, echoed fields, the
//! signature verified with the server's OpenPGP public key and what it signs). A wrong reply
//! names the first case it fails. So a server passing the suite's single-request cases must
//! pass every arrival, and a departure under load is named by the case it departs from.
//!
//! One connection for the run (one sender, one receiver on the run's own reply address: a fresh
//! task id); replies are dispatched by `msg.request_id` (the suite's `message_id_key`). After
//! the drain: a reply for an id this run never sent is wrong (`uncorrelated`: "This is used to
//! correlate the signed request with the original signing request", msg-signer.md
//! §message_id_key); a late reply (its arrival had timed out) is judged by its kind's checks, a
//! wrong one is a finding of that kind; a second reply to an answered request is counted as a
//! note, not judged and not a failure (the spec's client tolerates it: "Only unreceived signing
//! requests are expected").
//!
//! Kinds: one per request kind; suite cases of the same request kind with another creator (e.g.
//! `templating/reply-address`) are not in the load (one reply address per run).
//!
//! Calibration: the same client against the embedded broker and a responder that does no work
//! (it answers each request with a bare envelope naming its id, unjudged).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};

use fe2o3_amqp::types::messaging::{AmqpValue, Body};
use fe2o3_amqp::types::primitives::Value as AmqpAny;
use serde_json::Value;
use tokio::sync::oneshot;

use super::engine::{Outcome, Workload, wheel};
use crate::runner::BoxFuture;
use crate::runner::check::Stop;
use crate::suites::msg_signer::server::probe::{
    Exchange, Probe, Requests, request, request_message,
};
use crate::suites::msg_signer::server::{ServerCase, ServerCtx, definitions};

/// One kind of request and the suite cases that judge its reply.
pub struct Kind {
    pub name: &'static str,
    pub plan: Requests,
    pub cases: Vec<&'static ServerCase>,
}

/// A plain single request: what a load arrival can be.
fn plain(r: &Requests) -> bool {
    r.count == 1
        && r.repeat == 1
        && r.corrupt.is_none()
        && r.expect == 1
        && r.requesters == 1
        && r.pause_then_burst.is_none()
        && !r.expired_first
        && !r.cut_server_connection
}

/// The suite's plain single-request cases, grouped by request kind (and creator), in suite order.
pub fn kinds() -> Vec<Kind> {
    let mut out: Vec<Kind> = Vec::new();
    for case in definitions() {
        let plan = (case.requests)();
        if !plain(&plan) {
            continue;
        }
        match out
            .iter_mut()
            .find(|k| k.plan.kind == plan.kind && k.plan.creator == plan.creator)
        {
            Some(k) => k.cases.push(case),
            None => out.push(Kind {
                name: plan.kind,
                plan,
                cases: vec![case],
            }),
        }
    }
    // One kind per request kind: a second creator of the same kind is not a second load kind.
    let mut seen = HashSet::new();
    out.retain(|k| seen.insert(k.name));
    out
}

type Reply = Result<Value, String>;

#[derive(Default)]
struct Book {
    pending: HashMap<String, oneshot::Sender<Reply>>,
    answered: HashSet<String>,
    /// Requests whose arrival stopped waiting (timed out), with their kind and body: a late
    /// reply is judged after the run, not taken for a stranger.
    abandoned: HashMap<String, (usize, Value)>,
    /// Late replies to judge after the run (at most [`MAX_LATE`]; more are counted).
    late: Vec<(usize, Value, Reply)>,
    late_unjudged: u64,
    uncorrelated: Vec<String>,
    twice: u64,
}

/// Late replies kept for judging after the run.
const MAX_LATE: usize = 10_000;

fn lock(b: &Mutex<Book>) -> std::sync::MutexGuard<'_, Book> {
    b.lock().unwrap_or_else(|p| p.into_inner())
}

/// The workload.
pub struct SignerLoad {
    ctx: Arc<ServerCtx>,
    kinds: Vec<Kind>,
    wheel: Vec<usize>,
    creator: String,
    task: String,
    reply_address: String,
    sender: tokio::sync::Mutex<fe2o3_amqp::Sender>,
    book: Arc<Mutex<Book>>,
    /// false in calibration: a correlated reply is right.
    judge: bool,
    receiver: Mutex<Option<tokio::task::JoinHandle<()>>>,
    notes: Mutex<BTreeMap<String, u64>>,
    _conn: Mutex<Option<Box<dyn std::any::Any + Send>>>,
}

impl SignerLoad {
    /// Connect to `ctx`'s broker, attach the run's receiver and sender.
    pub async fn start(
        ctx: Arc<ServerCtx>,
        kinds: Vec<Kind>,
        weights: &[u32],
        judge: bool,
    ) -> Result<Arc<SignerLoad>, String> {
        let creator = kinds
            .first()
            .map(|k| k.plan.creator)
            .unwrap_or("srv-alice")
            .to_string();
        let task = format!("load{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
        let probe = tokio::time::timeout(
            crate::suites::msg_signer::server::probe::WAIT,
            Probe::open(&ctx, &creator, &task),
        )
        .await
        .map_err(|_| "the load client could not connect and attach in time".to_string())?
        .map_err(|e| e.to_string())?;
        let Probe {
            _conn,
            session,
            sender,
            mut receiver,
            reply_address,
        } = probe;
        let book: Arc<Mutex<Book>> = Arc::default();
        let b2 = book.clone();
        let rx = tokio::spawn(async move {
            let _session = session;
            loop {
                let Ok(d) = receiver.recv::<Body<AmqpAny>>().await else {
                    break;
                };
                let _ = receiver.accept(&d).await;
                let reply: Reply = match d.body() {
                    Body::Value(AmqpValue(AmqpAny::String(s))) => {
                        serde_json::from_str::<Value>(s).map_err(|e| format!("not JSON ({e}): {s}"))
                    }
                    other => Err(format!("body is not an amqp-value string: {other:?}")),
                };
                dispatch(&b2, reply);
            }
        });
        Ok(Arc::new(SignerLoad {
            ctx,
            wheel: wheel(weights),
            kinds,
            creator,
            task,
            reply_address,
            sender: tokio::sync::Mutex::new(sender),
            book,
            judge,
            receiver: Mutex::new(Some(rx)),
            notes: Mutex::default(),
            _conn: Mutex::new(Some(Box::new(_conn))),
        }))
    }

    async fn sign(&self, seq: u64, want_detail: bool) -> Outcome {
        let kind = &self.kinds[self.kind_of(seq)];
        let (props, body) = request(&self.ctx, &self.creator, &self.task, &kind.plan);
        let Some(id) = body["request_id"].as_str().map(str::to_string) else {
            return Outcome::Error {
                kind: "harness: request without request_id".into(),
            };
        };
        let (tx, rx) = oneshot::channel();
        lock(&self.book).pending.insert(id.clone(), tx);
        let mut guard = Abandon {
            book: &self.book,
            id: id.clone(),
            kind: self.kind_of(seq),
            body: Some(body.clone()),
        };
        // Queue the transfer under the lock, await its settlement outside it: requests are
        // pipelined on the one link.
        let queued = {
            let mut s = self.sender.lock().await;
            s.send_batchable(request_message(&self.ctx, &props, body.to_string(), false))
                .await
        };
        let settled = match queued {
            Ok(f) => f.await.map(|_| ()).map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        if let Err(e) = settled {
            return Outcome::Error {
                kind: format!("send: {}", first_words(&e)),
            };
        }
        let reply = rx.await;
        guard.body = None;
        let reply = match reply {
            Ok(r) => r,
            Err(_) => {
                return Outcome::Error {
                    kind: "harness: reply channel closed".into(),
                };
            }
        };
        if !self.judge {
            return Outcome::Right;
        }
        self.check_reply(kind, body, reply, want_detail)
    }

    /// Judge `reply` to `body` (a request of `kind`) by the kind's suite cases.
    fn check_reply(&self, kind: &Kind, body: Value, reply: Reply, want_detail: bool) -> Outcome {
        let x = Exchange {
            sent: vec![body],
            replies: vec![reply],
            latencies_ms: vec![],
            reply_address: self.reply_address.clone(),
            send_to: self.ctx.map(&self.ctx.send_to),
            pubkeys: self.ctx.pubkeys.clone(),
            crowd: vec![],
        };
        for case in &kind.cases {
            match (case.check)(&x) {
                Ok(_) | Err(Stop::Skip(_)) => {}
                Err(stop) => {
                    let (_, ev) = stop.into_parts();
                    let mut summary = format!("msg-signer/server/{}: {}", case.id, ev.summary);
                    if let Some(e) = &ev.expected {
                        summary.push_str(&format!("; expected {e}"));
                    }
                    let detail = if want_detail {
                        let mut d = vec![format!("requirement: {}", case.requirement)];
                        d.extend(ev.observed.iter().map(|o| format!("observed: {o}")));
                        d.push(format!("request sent: {}", x.sent[0]));
                        if let Some(r) = x.replies.first() {
                            d.push(format!(
                                "reply: {}",
                                match r {
                                    Ok(v) => v.to_string(),
                                    Err(e) => e.clone(),
                                }
                            ));
                        }
                        d
                    } else {
                        Vec::new()
                    };
                    return Outcome::Wrong { summary, detail };
                }
            }
        }
        Outcome::Right
    }

    /// Stop receiving; the findings (uncorrelated replies) and the notes (second replies).
    async fn finish(&self) -> (Vec<(usize, u64, String)>, BTreeMap<String, u64>) {
        let handle = self
            .receiver
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(h) = handle {
            h.abort();
            let _ = h.await;
        }
        let (late, late_unjudged, uncorrelated_replies, twice) = {
            let b = &mut *lock(&self.book);
            (
                std::mem::take(&mut b.late),
                b.late_unjudged,
                std::mem::take(&mut b.uncorrelated),
                b.twice,
            )
        };
        let uncorrelated = self.kinds.len();
        let mut findings: Vec<(usize, u64, String)> = uncorrelated_replies
            .into_iter()
            .map(|why| (uncorrelated, u64::MAX, why))
            .collect();
        let mut notes = BTreeMap::new();
        // Late replies (their arrival timed out) are judged too, when judging at all.
        let mut late_right = 0;
        for (k, body, reply) in late {
            if !self.judge {
                continue;
            }
            match self.check_reply(&self.kinds[k], body, reply, false) {
                Outcome::Wrong { summary, .. } => {
                    findings.push((k, u64::MAX, format!("a late reply: {summary}")))
                }
                _ => late_right += 1,
            }
        }
        if late_right > 0 {
            notes.insert(
                "late replies (their arrival had timed out), judged right".to_string(),
                late_right,
            );
        }
        if late_unjudged > 0 {
            notes.insert(
                format!("late replies beyond the {MAX_LATE} kept, not judged"),
                late_unjudged,
            );
        }
        let b = &mut *lock(&self.book);
        b.twice = twice;
        if b.twice > 0 {
            notes.insert(
                "second reply to an answered request (tolerated by the client: \"Only unreceived signing requests are expected\")".to_string(),
                b.twice,
            );
        }
        (findings, notes)
    }
}

/// A reply came: to its arrival, or a finding.
fn dispatch(book: &Mutex<Book>, reply: Reply) {
    let id = reply
        .as_ref()
        .ok()
        .and_then(|v| v.pointer("/msg/request_id"))
        .and_then(Value::as_str)
        .map(str::to_string);
    let b = &mut *lock(book);
    let Some(id) = id else {
        b.uncorrelated.push(format!(
            "a reply without msg.request_id on the run's reply address: {}",
            crate::runner::check::truncate(
                &match &reply {
                    Ok(v) => v.to_string(),
                    Err(e) => e.clone(),
                },
                200
            )
        ));
        return;
    };
    if let Some(tx) = b.pending.remove(&id) {
        b.answered.insert(id);
        let _ = tx.send(reply);
    } else if let Some((kind, body)) = b.abandoned.remove(&id) {
        b.answered.insert(id);
        if b.late.len() < MAX_LATE {
            b.late.push((kind, body, reply));
        } else {
            b.late_unjudged += 1;
        }
    } else if b.answered.contains(&id) {
        b.twice += 1;
    } else {
        b.uncorrelated.push(format!(
            "a reply for request_id {id:?}, which this run never sent"
        ));
    }
}

/// Marks a request whose arrival stopped waiting (timed out, or its send failed) so its late
/// reply is recognised and judged; `body` is None once the reply came.
struct Abandon<'a> {
    book: &'a Mutex<Book>,
    id: String,
    kind: usize,
    body: Option<Value>,
}

impl Drop for Abandon<'_> {
    fn drop(&mut self) {
        if let Some(body) = self.body.take() {
            let b = &mut *lock(self.book);
            b.pending.remove(&self.id);
            b.abandoned
                .insert(std::mem::take(&mut self.id), (self.kind, body));
        }
    }
}

fn first_words(e: &str) -> String {
    e.split(':').next().unwrap_or(e).trim().to_string()
}

impl Workload for SignerLoad {
    fn kinds(&self) -> Vec<(String, String)> {
        self.kinds
            .iter()
            .map(|k| {
                let ids: Vec<&str> = k.cases.iter().map(|c| c.id).collect();
                (
                    k.name.to_string(),
                    format!("the reply passes the suite's checks {}", ids.join(", ")),
                )
            })
            .chain(std::iter::once((
                "uncorrelated".to_string(),
                "every reply names a request this run sent (msg-signer.md §message_id_key: \"used to correlate the signed request with the original signing request\")".to_string(),
            )))
            .collect()
    }

    fn kind_of(&self, seq: u64) -> usize {
        self.wheel[(seq % self.wheel.len() as u64) as usize]
    }

    fn call(&self, seq: u64, want_detail: bool) -> BoxFuture<'_, Outcome> {
        Box::pin(self.sign(seq, want_detail))
    }

    fn after_drain(&self) -> BoxFuture<'_, Vec<(usize, u64, String)>> {
        Box::pin(async move {
            let (findings, notes) = self.finish().await;
            *self.notes.lock().unwrap_or_else(|p| p.into_inner()) = notes;
            findings
        })
    }

    fn notes(&self) -> BTreeMap<String, u64> {
        self.notes.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// The calibration's trivial target: our embedded broker and a responder that does no work (each
/// request accepted and answered at once with `{"msg": {"request_id": ...}}` on the reply
/// address the request's `owner_id` / `pub_task_id` name), so the ceiling is the client's and
/// the broker's, with no signing.
pub async fn no_work_target() -> Result<ServerCtx, String> {
    use crate::suites::msg_signer::env::{LISTEN_TO, SEND_TO};
    use fe2o3_amqp::types::messaging::{Message, Properties};
    let broker = mock_broker::Broker::builder()
        .record_bodies(false)
        .start()
        .await
        .map_err(|e| format!("calibration broker: {e}"))?;
    let url = broker.url().to_string();
    let conn_url = msg_signer::config::BrokerUrl::parse(&url)?;
    let tcp = tokio::net::TcpStream::connect((conn_url.host.as_str(), conn_url.port))
        .await
        .map_err(|e| format!("calibration responder: connect {url}: {e}"))?;
    let _ = tcp.set_nodelay(true);
    let mut conn = fe2o3_amqp::Connection::builder()
        .container_id(format!("sigharness-no-work-{}", uuid::Uuid::new_v4()))
        .hostname(conn_url.host.as_str())
        .scheme("amqp")
        .open_with_stream(tcp)
        .await
        .map_err(|e| format!("calibration responder: open: {e}"))?;
    let mut session = fe2o3_amqp::Session::begin(&mut conn)
        .await
        .map_err(|e| format!("calibration responder: begin: {e}"))?;
    let mut rx = fe2o3_amqp::Receiver::attach(&mut session, "no-work-rx", SEND_TO)
        .await
        .map_err(|e| format!("calibration responder: attach receiver: {e}"))?;
    let mut tx = fe2o3_amqp::Sender::builder()
        .name("no-work-tx")
        .target(fe2o3_amqp::types::messaging::Target::builder().build())
        .attach(&mut session)
        .await
        .map_err(|e| format!("calibration responder: attach sender: {e}"))?;
    let (settle_tx, mut settle_rx) = tokio::sync::mpsc::unbounded_channel();
    let settler = tokio::spawn(async move {
        while let Some(f) = settle_rx.recv().await {
            let _: Result<_, _> = futures_settle(f).await;
        }
    });
    let responder = tokio::spawn(async move {
        let _keep = (conn, session, settler);
        while let Ok(d) = rx.recv::<Body<AmqpAny>>().await {
            if rx.accept(&d).await.is_err() {
                break;
            }
            let prop = |k: &str| -> String {
                d.message()
                    .application_properties
                    .as_ref()
                    .and_then(|a| a.0.get(k))
                    .and_then(|v| match v {
                        fe2o3_amqp::types::primitives::SimpleValue::String(s) => Some(s.clone()),
                        _ => None,
                    })
                    .unwrap_or_default()
            };
            let id = match d.body() {
                Body::Value(AmqpValue(AmqpAny::String(s))) => serde_json::from_str::<Value>(s)
                    .ok()
                    .and_then(|v| v["request_id"].as_str().map(str::to_string))
                    .unwrap_or_default(),
                _ => String::new(),
            };
            let to = msg_signer::config::expand_template(
                LISTEN_TO,
                &prop("owner_id"),
                &prop("pub_task_id"),
            );
            let m = Message::builder()
                .properties(Properties::builder().to(to).build())
                .value(serde_json::json!({"msg": {"request_id": id}}).to_string())
                .build();
            match tx.send_batchable(m).await {
                Ok(f) => {
                    let _ = settle_tx.send(f);
                }
                Err(_) => break,
            }
        }
    });
    let broker = Arc::new(broker);
    Ok(ServerCtx {
        broker_url: url,
        tls: None,
        sasl_external: false,
        address_map: crate::suites::msg_signer::AddressMap::None,
        send_to: SEND_TO.into(),
        listen_to: LISTEN_TO.into(),
        sig_key_id: "00000000".into(),
        pubkeys: None,
        _keep: vec![Mutex::new(Box::new(AbortOnDrop(responder)))],
        broker: Some(broker),
    })
}

async fn futures_settle<F: std::future::Future>(f: F) -> F::Output {
    f.await
}

/// Aborts its task when dropped (the calibration responder ends with its context).
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

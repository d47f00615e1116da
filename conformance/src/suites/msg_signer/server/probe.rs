//! Server mode's client: a probe that connects to the broker (plain or TLS, optionally SASL
//! EXTERNAL), sends the requests a case asks for in the deployed shape, and collects the
//! replies with their latencies.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use fe2o3_amqp::connection::ConnectionHandle;
use fe2o3_amqp::session::SessionHandle;
use fe2o3_amqp::types::messaging::{
    AmqpValue, ApplicationProperties, Body, Header, Message, Properties, Target,
};
use fe2o3_amqp::types::primitives::{SimpleValue, Timestamp, Value as AmqpAny};
use fe2o3_amqp::{Connection, Receiver, Sender, Session};
use serde_json::{Value, json};

use super::ServerCtx;
use super::verify::PublicKeys;
use crate::{Error, Result};

/// How long the probe waits for a step (connect + attach, a settlement, the next reply).
pub const WAIT: Duration = Duration::from_secs(10);

/// An expired request (`Requests::expired_first`) left the client this long ago...
pub const EXPIRED_AGE_MS: i64 = 61_000;
/// ... with this time to live.
pub const EXPIRED_TTL_MS: i64 = 1_000;

/// How long a server has to reconnect and re-attach its request receiver after the broker
/// dropped its connection (`Requests::cut_server_connection`).
pub const RECONNECT_WAIT: Duration = Duration::from_secs(15);

/// Our AMQP client: one connection, a receiver on the reply address and a sender.
pub(crate) struct Probe {
    pub(crate) _conn: ConnectionHandle<()>,
    pub(crate) session: SessionHandle<()>,
    pub(crate) sender: Sender,
    pub(crate) receiver: Receiver,
    pub(crate) reply_address: String,
}

impl Probe {
    pub(crate) async fn open(ctx: &ServerCtx, creator: &str, task: &str) -> Result<Probe> {
        let url = msg_signer::config::BrokerUrl::parse(&ctx.broker_url).map_err(Error::setup)?;
        let tcp = tokio::net::TcpStream::connect((url.host.as_str(), url.port))
            .await
            .map_err(|e| Error::setup(format!("connect {}: {e}", ctx.broker_url)))?;
        let _ = tcp.set_nodelay(true);
        let b = Connection::builder()
            .container_id(format!("sigharness-probe-{}", uuid::Uuid::new_v4()))
            .hostname(url.host.as_str())
            .scheme("amqp");
        let mut conn = match (&ctx.tls, url.scheme) {
            (Some(cfg), msg_signer::config::Scheme::Amqps) => {
                let name = msg_signer::tls::server_name(&url.host)
                    .map_err(|e| Error::setup(e.to_string()))?;
                let mut s = tokio_rustls::TlsConnector::from(cfg.clone())
                    .connect(name, tcp)
                    .await
                    .map_err(|e| Error::setup(format!("TLS: {e}")))?;
                if ctx.sasl_external {
                    msg_signer::sasl::external_with_empty_response(&mut s, Some(&url.host))
                        .await
                        .map_err(|e| Error::setup(format!("SASL EXTERNAL: {e}")))?;
                }
                b.open_with_stream(s)
                    .await
                    .map_err(|e| Error::setup(format!("AMQP open: {e}")))?
            }
            (None, msg_signer::config::Scheme::Amqps) => {
                return Err(Error::setup("amqps:// needs --ca and --cert-key"));
            }
            _ => b
                .open_with_stream(tcp)
                .await
                .map_err(|e| Error::setup(format!("AMQP open: {e}")))?,
        };
        let mut session = Session::begin(&mut conn)
            .await
            .map_err(|e| Error::setup(format!("begin: {e}")))?;
        let reply_address = msg_signer::config::expand_template(&ctx.listen_to, creator, task);
        let receiver = Receiver::builder()
            .name(format!("probe-rx-{task}"))
            .source(ctx.map(&reply_address))
            .attach(&mut session)
            .await
            .map_err(|e| Error::setup(format!("attach receiver on {reply_address}: {e}")))?;
        // Null target (route by `to`, as deployed) unless the broker has no anonymous relay.
        let target = if ctx.address_map.addressed_senders() {
            Target::builder().address(ctx.map(&ctx.send_to)).build()
        } else {
            Target::builder().build()
        };
        let sender = Sender::builder()
            .name(format!("probe-tx-{task}"))
            .target(target)
            .attach(&mut session)
            .await
            .map_err(|e| Error::setup(format!("attach sender: {e}")))?;
        Ok(Probe {
            _conn: conn,
            session,
            sender,
            receiver,
            reply_address,
        })
    }

    pub(crate) async fn send(
        &mut self,
        ctx: &ServerCtx,
        props: &BTreeMap<String, String>,
        body: String,
        expired: bool,
    ) -> Result<()> {
        self.sender
            .send(request_message(ctx, props, body, expired))
            .await
            .map(|_| ())
            .map_err(|e| Error::setup(format!("send: {e}")))
    }

    /// Collect up to `n` replies (bounded by `wait` after the last one).
    async fn collect(&mut self, n: usize, wait: Duration) -> Vec<(Instant, Result<Value, String>)> {
        let mut out = Vec::new();
        while out.len() < n {
            match tokio::time::timeout(wait, self.receiver.recv::<Body<AmqpAny>>()).await {
                Ok(Ok(d)) => {
                    let _ = self.receiver.accept(&d).await;
                    let t = match d.body() {
                        Body::Value(AmqpValue(AmqpAny::String(s))) => {
                            serde_json::from_str::<Value>(s)
                                .map_err(|e| format!("not JSON ({e}): {s}"))
                        }
                        other => Err(format!("body is not an amqp-value string: {other:?}")),
                    };
                    out.push((Instant::now(), t));
                }
                _ => break,
            }
        }
        out
    }

    async fn close(self) {
        let _ = self.receiver.close().await;
        let _ = self.sender.close().await;
        let mut s = self.session;
        let _ = s.end().await;
    }
}

/// A request as the deployed client sends it: `to` the request address, the application
/// properties, the JSON text as an amqp-value string; `expired`: left the client 61 s ago with a
/// 1 s time to live.
pub(crate) fn request_message(
    ctx: &ServerCtx,
    props: &BTreeMap<String, String>,
    body: String,
    expired: bool,
) -> Message<AmqpValue<String>> {
    let mut ap = ApplicationProperties::builder();
    for (k, v) in props {
        ap = ap.insert(k.clone(), SimpleValue::String(v.clone()));
    }
    let mut p = Properties::builder().to(ctx.map(&ctx.send_to));
    let mut m = Message::builder();
    if expired {
        // Left the client 61 s ago with a 1 s time to live (AMQP 1.0 part 3.2.4:
        // creation-time, absolute-expiry-time; part 3.2.1 header.ttl, which the deployed
        // client sets to timeout x retries).
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0);
        p = p
            .creation_time(Timestamp::from_milliseconds(now - EXPIRED_AGE_MS))
            .absolute_expiry_time(Timestamp::from_milliseconds(
                now - EXPIRED_AGE_MS + EXPIRED_TTL_MS,
            ));
        m = m.header(Header {
            ttl: Some(EXPIRED_TTL_MS as u32),
            ..Default::default()
        });
    }
    m.properties(p.build())
        .application_properties(ap.build())
        .value(body)
        .build()
}

pub(crate) fn request(
    ctx: &ServerCtx,
    creator: &str,
    task: &str,
    plan: &Requests,
) -> (BTreeMap<String, String>, Value) {
    let kind = plan.kind;
    let id = uuid::Uuid::new_v4().to_string();
    let mut props = BTreeMap::new();
    for (k, v) in [
        ("service", "sigharness-conformance"),
        ("environment", "conformance"),
        ("owner_id", creator),
        ("source", "metadata"),
        ("pub_task_id", task),
    ] {
        props.insert(k.to_string(), v.to_string());
    }
    use base64::Engine as _;
    let b64 = |d: &[u8]| base64::engine::general_purpose::STANDARD.encode(d);
    let mut body = json!({
        "sig_key_id": ctx.sig_key_id, "request_id": id, "created": "2026-01-01T00:00:00.000000Z",
        "requested_by": creator, "pub_task_id": task, "sig_keyname": "release", "repo": "",
    });
    match kind {
        // notes "Batch": mtype batch, pipeline_run_id for the task, body `claims` (two images
        // of one repository), the keys per claim.
        "batch" => {
            props.remove("pub_task_id");
            props.insert("pipeline_run_id".into(), task.to_string());
            props.insert("mtype".into(), "batch".into());
            let claims: Vec<Value> = (1..=plan.batch_claims as u32)
                .map(|i| {
                    let digest = format!("sha256:{i:064x}");
                    let reference = format!("registry.example.com/ns/app:{i}");
                    let claim = msg_signer::wire::container_claim(&digest, &reference);
                    json!({
                        "claim_file": b64(claim.to_string().as_bytes()),
                        "sig_keynames": ["release"],
                        "sig_key_ids": [ctx.sig_key_id],
                        "manifest_digest": digest,
                        "repo": "ns/app",
                    })
                })
                .collect();
            body = json!({
                "claims": claims, "request_id": id, "created": "2026-01-01T00:00:00.000000Z",
                "requested_by": creator, "pipeline_run_id": task,
            });
        }
        "clear" => {
            props.insert("mtype".into(), "clearsign_signature".into());
            body["data"] = json!(b64(b"text to clear-sign\n"));
        }
        "blob" => {
            props.insert("mtype".into(), "gpg_signature".into());
            body["artifact"] = json!(b64(b"\x00blob\xff"));
        }
        _ => {
            let digest = format!("sha256:{:064x}", 42);
            props.insert("mtype".into(), "container_signature".into());
            props.insert("manifest_digest".into(), digest.clone());
            let claim = msg_signer::wire::container_claim(&digest, "registry.example.com/ns/app:1");
            body["claim_file"] = json!(b64(claim.to_string().as_bytes()));
            body["manifest_digest"] = json!(digest);
            body["repo"] = json!("ns/app");
        }
    }
    (props, body)
}

/// Arm the broker to drop the server's connection as it delivers this requester's first
/// request (outbound on the request address, matched by the requester's `pub_task_id`, once);
/// returns the journal position before it.
fn cut_on_delivery(ctx: &ServerCtx, broker: &mock_broker::BrokerHandle, task: &str) -> Result<u64> {
    let plan = mock_broker::FaultPlan::<mock_broker::BrokerAction> {
        rules: vec![mock_broker::FaultRule {
            name: Some("cut-server-connection".into()),
            when: mock_broker::Match {
                address: Some(ctx.map(&ctx.send_to)),
                app_properties: [("pub_task_id".to_string(), task.to_string())].into(),
                direction: mock_broker::fault::FlowDirection::Outbound,
                ..Default::default()
            },
            action: mock_broker::BrokerAction::DisconnectAfter(1),
            times: Some(1),
        }],
        seed: 0,
    };
    let mark = broker
        .journal()
        .snapshot()
        .last()
        .map(|e| e.seq)
        .unwrap_or(0);
    broker
        .set_fault_plan(plan)
        .map_err(|e| Error::setup(format!("broker fault plan: {e}")))?;
    Ok(mark)
}

/// Wait until the cut fired and the server re-attached a receiver on the request address.
async fn await_reattach(
    ctx: &ServerCtx,
    broker: &mock_broker::BrokerHandle,
    mark: u64,
) -> Result<()> {
    let j = broker.journal();
    let fired = j
        .wait_for(
            |e| {
                e.seq > mark
                    && matches!(&e.event, mock_broker::Event::Fault { rule, .. } if rule == "cut-server-connection")
            },
            WAIT,
        )
        .await
        .map_err(|_| {
            Error::setup(format!(
                "the broker never delivered the request to the server within {WAIT:?} (no server attached to {}?)",
                ctx.send_to
            ))
        })?;
    let address = ctx.map(&ctx.send_to);
    j.wait_for(
        |e| {
            e.seq > fired.seq
                && matches!(&e.event, mock_broker::Event::Attach { address: Some(a), direction, .. }
                    if *a == address && *direction == mock_broker::LinkDirection::PeerReceives)
        },
        RECONNECT_WAIT,
    )
    .await
    .map_err(|_| {
        Error::setup(format!(
            "the signing server did not reconnect and re-attach a receiver on {address} within {RECONNECT_WAIT:?} after the broker dropped its connection"
        ))
    })?;
    Ok(())
}

/// Edit a request's properties/body; `Some(text)` replaces the body text.
pub type Corrupt = fn(&mut BTreeMap<String, String>, &mut Value) -> Option<String>;

/// What a server-mode case sends.
#[derive(Clone)]
pub struct Requests {
    /// `container` (default), `clear`, `blob` or `batch`.
    pub kind: &'static str,
    /// How many requests.
    pub count: usize,
    /// Send each request this many times.
    pub repeat: usize,
    /// `owner_id` / `requested_by` (and `{creator}` of the reply address).
    pub creator: &'static str,
    /// How to spoil each request, if at all.
    pub corrupt: Option<Corrupt>,
    /// How many replies to wait for (per requester).
    pub expect: usize,
    /// How many requesters at once, each with its own connection, creator (`creator-1`,
    /// `creator-2`, ...) and task id, so its own reply address.
    pub requesters: usize,
    /// After the requests: pause this long, then send this many more (a burst after a pause).
    pub pause_then_burst: Option<(Duration, usize)>,
    /// Claims in a batch request (`kind: "batch"`).
    pub batch_claims: usize,
    /// The first request has expired before it is sent (creation-time and absolute-expiry-time
    /// in the past, header.ttl 1 s); the others are fresh.
    pub expired_first: bool,
    /// The broker (ours only) drops the server's connection as it delivers the first request;
    /// the next requests are sent once the server has re-attached its request receiver.
    pub cut_server_connection: bool,
}

impl Default for Requests {
    fn default() -> Self {
        Requests {
            kind: "container",
            count: 1,
            repeat: 1,
            creator: "srv-alice",
            corrupt: None,
            expect: 1,
            requesters: 1,
            pause_then_burst: None,
            batch_claims: 2,
            expired_first: false,
            cut_server_connection: false,
        }
    }
}

/// One request/reply exchange's results.
pub struct Exchange {
    /// The request bodies, one per request (a re-sent request once).
    pub sent: Vec<Value>,
    pub replies: Vec<Result<Value, String>>,
    /// Sorted; each reply against the first send of the request its id names.
    pub latencies_ms: Vec<f64>,
    pub reply_address: String,
    /// The request address as the probe sends to it (after the broker's address map).
    pub send_to: String,
    /// The signing server's public keys, when known (`--set signing_pubkey`, or our mock's).
    pub pubkeys: Option<Arc<PublicKeys>>,
    /// With several requesters: each one's own exchange (the fields above merge them all).
    pub crowd: Vec<Exchange>,
}

/// Send what `plan` says through fresh probes (one per requester, each with a task id of its
/// own) and collect the replies. Several requesters are all attached first; their requests
/// are then sent round-robin (request 1 of each, then request 2 of each, ...), so they are in
/// flight at once in a known order; each collects its replies concurrently, and once all have,
/// each takes what else came on its address (a reply meant for another requester has arrived
/// by then: the requester it was meant for waited [`WAIT`] for it).
pub async fn exchange(ctx: &Arc<ServerCtx>, plan: &Requests) -> Result<Exchange> {
    let n = plan.requesters.max(1);
    let mut probes = Vec::new();
    for i in 1..=n {
        let creator = if n == 1 {
            plan.creator.to_string()
        } else {
            format!("{}-{i}", plan.creator)
        };
        let task = format!("t{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
        let probe = tokio::time::timeout(WAIT, Probe::open(ctx, &creator, &task))
            .await
            .map_err(|_| {
                Error::setup(format!(
                    "the probe client could not connect and attach within {WAIT:?}"
                ))
            })??;
        probes.push((creator, task, probe, Vec::new()));
    }
    let mut starts: BTreeMap<String, Instant> = BTreeMap::new();
    let bursts = [(None, plan.count)]
        .into_iter()
        .chain(plan.pause_then_burst.map(|(d, n)| (Some(d), n)));
    for (pause, count) in bursts {
        if let Some(d) = pause {
            // The stimulus is the pause itself (an idle server), not a wait for an event.
            tokio::time::sleep(d).await;
        }
        for _ in 0..count {
            for (creator, task, probe, sent) in probes.iter_mut() {
                let (mut props, mut body) = request(ctx, creator, task, plan);
                let text = match plan.corrupt {
                    Some(f) => f(&mut props, &mut body).unwrap_or_else(|| body.to_string()),
                    None => body.to_string(),
                };
                let first = sent.is_empty();
                let expired = plan.expired_first && first;
                let cut = match (&ctx.broker, plan.cut_server_connection && first) {
                    (Some(b), true) => Some(cut_on_delivery(ctx, b, task)?),
                    _ => None,
                };
                for _ in 0..plan.repeat {
                    if let Some(id) = body["request_id"].as_str() {
                        starts.entry(id.to_string()).or_insert_with(Instant::now);
                    }
                    tokio::time::timeout(WAIT, probe.send(ctx, &props, text.clone(), expired))
                        .await
                        .map_err(|_| {
                            Error::setup(format!(
                                "the broker did not settle a request within {WAIT:?}"
                            ))
                        })??;
                }
                if let (Some(b), Some(mark)) = (&ctx.broker, cut) {
                    let notes = await_reattach(ctx, b, mark).await;
                    let _ = b.set_fault_plan(Default::default());
                    notes?;
                }
                sent.push(body);
            }
        }
    }
    let mut set = tokio::task::JoinSet::new();
    for (i, (_, _, mut probe, sent)) in probes.into_iter().enumerate() {
        let expect = plan.expect;
        set.spawn(async move {
            let got = probe.collect(expect, WAIT).await;
            (i, probe, sent, got)
        });
    }
    let mut done = Vec::new();
    while let Some(r) = set.join_next().await {
        done.push(r.map_err(|e| Error::setup(format!("a requester's task: {e}")))?);
    }
    done.sort_by_key(|d| d.0);
    let mut crowd = Vec::new();
    for (_, mut probe, sent, mut got) in done {
        if n > 1 {
            got.extend(probe.collect(usize::MAX, Duration::from_millis(200)).await);
        }
        // Latency: each reply against the first send of the request its id names.
        let mut lat: Vec<f64> = got
            .iter()
            .filter_map(|(t, r)| {
                let id = r.as_ref().ok()?.pointer("/msg/request_id")?.as_str()?;
                Some(t.duration_since(*starts.get(id)?).as_secs_f64() * 1000.0)
            })
            .collect();
        lat.sort_by(|a, b| a.total_cmp(b));
        let reply_address = probe.reply_address.clone();
        // Detaching is courtesy: a broker slow to answer it does not change the verdict.
        let _ = tokio::time::timeout(Duration::from_secs(2), probe.close()).await;
        crowd.push(Exchange {
            sent,
            replies: got.into_iter().map(|(_, r)| r).collect(),
            latencies_ms: lat,
            reply_address,
            send_to: ctx.map(&ctx.send_to),
            pubkeys: ctx.pubkeys.clone(),
            crowd: vec![],
        });
    }
    if n == 1 {
        return crowd.pop().ok_or_else(|| Error::setup("no requester ran"));
    }
    let mut all = Exchange {
        sent: vec![],
        replies: vec![],
        latencies_ms: vec![],
        reply_address: crowd
            .iter()
            .map(|x| x.reply_address.as_str())
            .collect::<Vec<_>>()
            .join(", "),
        send_to: ctx.map(&ctx.send_to),
        pubkeys: ctx.pubkeys.clone(),
        crowd: vec![],
    };
    for x in &crowd {
        all.sent.extend(x.sent.iter().cloned());
        all.replies.extend(x.replies.iter().cloned());
        all.latencies_ms.extend(x.latencies_ms.iter().copied());
    }
    all.latencies_ms.sort_by(|a, b| a.total_cmp(b));
    all.crowd = crowd;
    Ok(all)
}

pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

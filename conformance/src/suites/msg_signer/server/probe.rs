//! Server mode's client: a probe that connects to the broker (plain or TLS, optionally SASL
//! EXTERNAL), sends the requests a case asks for in the deployed shape, and collects the
//! replies with their latencies.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use fe2o3_amqp::connection::ConnectionHandle;
use fe2o3_amqp::session::SessionHandle;
use fe2o3_amqp::types::messaging::{
    AmqpValue, ApplicationProperties, Body, Message, Properties, Target,
};
use fe2o3_amqp::types::primitives::{SimpleValue, Value as AmqpAny};
use fe2o3_amqp::{Connection, Receiver, Sender, Session};
use serde_json::{Value, json};

use super::ServerCtx;
use crate::{Error, Result};

/// How long the probe waits for a step (connect + attach, a settlement, the next reply).
pub const WAIT: Duration = Duration::from_secs(10);

/// Our AMQP client: one connection, a receiver on the reply address and a sender.
struct Probe {
    _conn: ConnectionHandle<()>,
    session: SessionHandle<()>,
    sender: Sender,
    receiver: Receiver,
    reply_address: String,
}

impl Probe {
    async fn open(ctx: &ServerCtx, creator: &str, task: &str) -> Result<Probe> {
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

    async fn send(
        &mut self,
        ctx: &ServerCtx,
        props: &BTreeMap<String, String>,
        body: String,
    ) -> Result<()> {
        let mut ap = ApplicationProperties::builder();
        for (k, v) in props {
            ap = ap.insert(k.clone(), SimpleValue::String(v.clone()));
        }
        let m = Message::builder()
            .properties(Properties::builder().to(ctx.map(&ctx.send_to)).build())
            .application_properties(ap.build())
            .value(body)
            .build();
        self.sender
            .send(m)
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

fn request(
    ctx: &ServerCtx,
    creator: &str,
    task: &str,
    kind: &str,
) -> (BTreeMap<String, String>, Value) {
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
            let claims: Vec<Value> = (1..=2u32)
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

/// Edit a request's properties/body; `Some(text)` replaces the body text.
pub type Corrupt = fn(&mut BTreeMap<String, String>, &mut Value) -> Option<String>;

/// What a server-mode case sends.
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
    /// How many replies to wait for.
    pub expect: usize,
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
        }
    }
}

/// One request/reply exchange's results.
pub struct Exchange {
    pub sent: Vec<Value>,
    pub replies: Vec<Result<Value, String>>,
    pub latencies_ms: Vec<f64>,
    pub reply_address: String,
}

/// Send what `plan` says through a fresh probe (a task id of its own) and collect the replies.
pub async fn exchange(ctx: &ServerCtx, plan: &Requests) -> Result<Exchange> {
    let task = format!("t{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
    let mut probe = tokio::time::timeout(WAIT, Probe::open(ctx, plan.creator, &task))
        .await
        .map_err(|_| {
            Error::setup(format!(
                "the probe client could not connect and attach within {WAIT:?}"
            ))
        })??;
    let mut sent = Vec::new();
    let mut starts = Vec::new();
    for _ in 0..plan.count {
        let (mut props, mut body) = request(ctx, plan.creator, &task, plan.kind);
        let text = match plan.corrupt {
            Some(f) => f(&mut props, &mut body).unwrap_or_else(|| body.to_string()),
            None => body.to_string(),
        };
        for _ in 0..plan.repeat {
            starts.push(Instant::now());
            tokio::time::timeout(WAIT, probe.send(ctx, &props, text.clone()))
                .await
                .map_err(|_| {
                    Error::setup(format!(
                        "the broker did not settle a request within {WAIT:?}"
                    ))
                })??;
        }
        sent.push(body);
    }
    let got = probe.collect(plan.expect, WAIT).await;
    // Latency: i-th reply against the i-th send (replies of a FIFO server come in order; for
    // figures only).
    let mut lat: Vec<f64> = got
        .iter()
        .zip(&starts)
        .map(|((t, _), s)| t.duration_since(*s).as_secs_f64() * 1000.0)
        .collect();
    lat.sort_by(|a, b| a.total_cmp(b));
    let reply_address = probe.reply_address.clone();
    // Detaching is courtesy: a broker slow to answer it does not change the verdict.
    let _ = tokio::time::timeout(Duration::from_secs(2), probe.close()).await;
    Ok(Exchange {
        sent,
        replies: got.into_iter().map(|(_, r)| r).collect(),
        latencies_ms: lat,
        reply_address,
    })
}

pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

//! Server-mode cases: we are the client; the signing server under test sits behind a broker
//! (the embedded broker with our mock signing server by default, or `--broker URL`).
//!
//! Every case uses its own task id, so its replies come on an address no other case uses.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use fe2o3_amqp::connection::ConnectionHandle;
use fe2o3_amqp::session::SessionHandle;
use fe2o3_amqp::types::messaging::{
    AmqpValue, ApplicationProperties, Body, Message, Properties, Target,
};
use fe2o3_amqp::types::primitives::{SimpleValue, Value as AmqpAny};
use fe2o3_amqp::{Connection, Receiver, Sender, Session};
use serde_json::{Value, json};
use sigharness_report::{Evidence, Level, SpecRef};

use crate::runner::{Case, Outcome, meta};

/// What server-mode cases need to know.
pub struct ServerCtx {
    pub broker_url: String,
    pub tls: Option<Arc<rustls::ClientConfig>>,
    /// Log in with SASL EXTERNAL (empty initial response) after TLS.
    pub sasl_external: bool,
    /// How the broker spells addresses (and whether it has an anonymous relay).
    pub address_map: super::AddressMap,
    pub send_to: String,
    /// Template with `{creator}` / `{task_id}`.
    pub listen_to: String,
    /// `sig_key_id` the server under test accepts.
    pub sig_key_id: String,
    /// Keeps the embedded broker and mock server alive for the run.
    pub _keep: Vec<std::sync::Mutex<Box<dyn std::any::Any + Send>>>,
}

impl ServerCtx {
    pub fn map(&self, a: &str) -> String {
        self.address_map.map(a)
    }
}

struct Probe {
    _conn: ConnectionHandle<()>,
    session: SessionHandle<()>,
    sender: Sender,
    receiver: Receiver,
    reply_address: String,
}

const WAIT: Duration = Duration::from_secs(10);

impl Probe {
    async fn open(ctx: &ServerCtx, creator: &str, task: &str) -> Result<Probe, String> {
        let url = msg_signer::config::BrokerUrl::parse(&ctx.broker_url)?;
        let tcp = tokio::net::TcpStream::connect((url.host.as_str(), url.port))
            .await
            .map_err(|e| format!("connect {}: {e}", ctx.broker_url))?;
        let _ = tcp.set_nodelay(true);
        let b = Connection::builder()
            .container_id(format!("sigharness-probe-{}", uuid::Uuid::new_v4()))
            .hostname(url.host.as_str())
            .scheme("amqp");
        let mut conn = match (&ctx.tls, url.scheme) {
            (Some(cfg), msg_signer::config::Scheme::Amqps) => {
                let name = msg_signer::tls::server_name(&url.host).map_err(|e| e.to_string())?;
                let mut s = tokio_rustls::TlsConnector::from(cfg.clone())
                    .connect(name, tcp)
                    .await
                    .map_err(|e| format!("TLS: {e}"))?;
                if ctx.sasl_external {
                    msg_signer::sasl::external_with_empty_response(&mut s, Some(&url.host))
                        .await
                        .map_err(|e| format!("SASL EXTERNAL: {e}"))?;
                }
                b.open_with_stream(s)
                    .await
                    .map_err(|e| format!("AMQP open: {e}"))?
            }
            (None, msg_signer::config::Scheme::Amqps) => {
                return Err("amqps:// needs --ca and --cert-key".into());
            }
            _ => b
                .open_with_stream(tcp)
                .await
                .map_err(|e| format!("AMQP open: {e}"))?,
        };
        let mut session = Session::begin(&mut conn)
            .await
            .map_err(|e| format!("begin: {e}"))?;
        let reply_address = msg_signer::config::expand_template(&ctx.listen_to, creator, task);
        let receiver = Receiver::builder()
            .name(format!("probe-rx-{task}"))
            .source(ctx.map(&reply_address))
            .attach(&mut session)
            .await
            .map_err(|e| format!("attach receiver on {reply_address}: {e}"))?;
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
            .map_err(|e| format!("attach sender: {e}"))?;
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
    ) -> Result<(), String> {
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
            .map_err(|e| format!("send: {e}"))
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

type Check = fn(&ServerCtx, &mut Exchange) -> Result<String, Evidence>;

/// One request/reply exchange's results.
pub struct Exchange {
    pub sent: Vec<Value>,
    pub replies: Vec<Result<Value, String>>,
    pub latencies_ms: Vec<f64>,
    pub reply_address: String,
}

struct Def {
    id: &'static str,
    section: &'static str,
    level: Level,
    description: &'static str,
    requirement: &'static str,
    /// (kind of request, how many, how to corrupt the body) -> exchange
    plan: fn() -> Plan,
    check: Check,
}

/// Edit a request's properties/body; `Some(text)` replaces the body text.
type Corrupt = fn(&mut BTreeMap<String, String>, &mut Value) -> Option<String>;

struct Plan {
    kind: &'static str,
    count: usize,
    /// Send each request this many times.
    repeat: usize,
    creator: &'static str,
    corrupt: Option<Corrupt>,
    expect: usize,
}

impl Default for Plan {
    fn default() -> Self {
        Plan {
            kind: "container",
            count: 1,
            repeat: 1,
            creator: "srv-alice",
            corrupt: None,
            expect: 1,
        }
    }
}

fn ev(summary: &str, expected: impl Into<String>, observed: impl Into<String>) -> Evidence {
    Evidence::new(summary).expected(expected).observed(observed)
}

fn first_msg(x: &Exchange) -> Result<&Value, Evidence> {
    match x.replies.first() {
        None => Err(ev(
            "no reply",
            format!("a reply on {} within {WAIT:?}", x.reply_address),
            "nothing",
        )),
        Some(Err(e)) => Err(ev(
            "unreadable reply",
            "an amqp-value JSON string",
            e.clone(),
        )),
        Some(Ok(v)) => v.get("msg").ok_or_else(|| {
            ev(
                "no `msg` in the envelope",
                "an envelope with msg",
                v.to_string(),
            )
        }),
    }
}

fn signed(x: &Exchange, field: &str) -> Result<String, Evidence> {
    let m = first_msg(x)?;
    if m["signing_status"] != "success" || m["errors"].as_array().is_none_or(|a| !a.is_empty()) {
        return Err(ev(
            "not signed",
            "signing_status success, errors []",
            m.to_string(),
        ));
    }
    let v = m[field].as_str().unwrap_or("");
    use base64::Engine as _;
    if v.is_empty() || base64::engine::general_purpose::STANDARD.decode(v).is_err() {
        return Err(ev(
            "no base64 result",
            format!("a base64 `{field}`"),
            m.to_string(),
        ));
    }
    Ok(format!("signed: {field} of {} bytes", v.len()))
}

fn error_reply(x: &Exchange) -> Result<String, Evidence> {
    let m = first_msg(x)?;
    let errs = m["errors"].as_array().map(Vec::len).unwrap_or(0);
    let st = m["signing_status"].as_str().unwrap_or("");
    if errs == 0 || st == "success" {
        return Err(ev(
            "an invalid request must get an error reply",
            "errors non-empty and a failure signing_status",
            m.to_string(),
        ));
    }
    if m.get("request_id") != x.sent.first().and_then(|s| s.get("request_id"))
        && x.sent.first().and_then(|s| s.get("request_id")).is_some()
    {
        return Err(ev(
            "the error reply must carry the request id",
            "request_id echoed",
            m.to_string(),
        ));
    }
    Ok(format!("error reply ({st}): {}", m["errors"]))
}

fn defs() -> Vec<Def> {
    vec![
        Def {
            id: "correlation/reply-carries-request-id",
            section: "Correlation",
            level: Level::Must,
            description: "one valid container request",
            requirement: "The reply's msg[message_id_key] is the request's id",
            plan: Plan::default,
            check: |_, x| {
                let m = first_msg(x)?;
                if m.get("request_id") != x.sent[0].get("request_id") {
                    return Err(ev(
                        "wrong id",
                        x.sent[0]["request_id"].to_string(),
                        m["request_id"].to_string(),
                    ));
                }
                Ok("id echoed".into())
            },
        },
        Def {
            id: "envelope/deployed-shape",
            section: "Reply",
            level: Level::Must,
            description: "the reply envelope",
            requirement: "{\"i\", \"msg_id\", \"timestamp\", \"topic\", \"username\", \"msg\"}",
            plan: Plan::default,
            check: |_, x| {
                first_msg(x)?;
                let Some(Ok(v)) = x.replies.first() else {
                    return Err(Evidence::new("no reply"));
                };
                for k in ["i", "msg_id", "timestamp", "topic", "username", "msg"] {
                    if v.get(k).is_none() {
                        return Err(ev("envelope key missing", k, v.to_string()));
                    }
                }
                Ok("envelope as deployed".into())
            },
        },
        Def {
            id: "echo/request-fields",
            section: "Reply",
            level: Level::Must,
            description: "fields the reply echoes",
            requirement: "msg echoes request_id, sig_key_id, sig_keyname, manifest_digest, repo, pub_task_id, requested_by",
            plan: Plan::default,
            check: |_, x| {
                let m = first_msg(x)?;
                for k in [
                    "request_id",
                    "sig_key_id",
                    "sig_keyname",
                    "manifest_digest",
                    "repo",
                    "pub_task_id",
                    "requested_by",
                ] {
                    if m.get(k) != x.sent[0].get(k) {
                        return Err(ev(
                            "field not echoed",
                            format!("{k} = {}", x.sent[0][k]),
                            format!("{:?}", m.get(k)),
                        ));
                    }
                }
                Ok("all fields echoed".into())
            },
        },
        Def {
            id: "sign/container-claim",
            section: "Reply",
            level: Level::Must,
            description: "a container claim",
            requirement: "signed_claim (base64 OpenPGP message), signing_status success, errors []",
            plan: Plan::default,
            check: |_, x| signed(x, "signed_claim"),
        },
        Def {
            id: "sign/clearsign",
            section: "Reply",
            level: Level::Must,
            description: "clear-sign data",
            requirement: "signed_data, signing_status success",
            plan: || Plan {
                kind: "clear",
                ..Default::default()
            },
            check: |_, x| signed(x, "signed_data"),
        },
        Def {
            id: "sign/blob",
            section: "Reply",
            level: Level::Must,
            description: "a blob",
            requirement: "signed_payload, signing_status success",
            plan: || Plan {
                kind: "blob",
                ..Default::default()
            },
            check: |_, x| signed(x, "signed_payload"),
        },
        Def {
            id: "invalid/unknown-signing-key",
            section: "Reply",
            level: Level::Must,
            description: "sig_key_id no key matches",
            requirement: "An invalid request gets an error reply (errors, failure signing_status), not silence",
            plan: || Plan {
                corrupt: Some(|_, b| {
                    b["sig_key_id"] = json!("00000000");
                    None
                }),
                ..Default::default()
            },
            check: |_, x| error_reply(x),
        },
        Def {
            id: "invalid/claim-not-base64",
            section: "Reply",
            level: Level::Must,
            description: "claim_file is not base64",
            requirement: "An invalid request gets an error reply",
            plan: || Plan {
                corrupt: Some(|_, b| {
                    b["claim_file"] = json!("%%% not base64");
                    None
                }),
                ..Default::default()
            },
            check: |_, x| error_reply(x),
        },
        Def {
            id: "invalid/unknown-mtype",
            section: "Reply",
            level: Level::Must,
            description: "mtype `frobnicate`",
            requirement: "An invalid request gets an error reply",
            plan: || Plan {
                corrupt: Some(|p, _| {
                    p.insert("mtype".into(), "frobnicate".into());
                    None
                }),
                ..Default::default()
            },
            check: |_, x| error_reply(x),
        },
        Def {
            id: "invalid/missing-created",
            section: "Reply",
            level: Level::Should,
            description: "no `created` in the body",
            requirement: "An invalid request gets an error reply",
            plan: || Plan {
                corrupt: Some(|_, b| {
                    if let Some(o) = b.as_object_mut() {
                        o.remove("created");
                    }
                    None
                }),
                ..Default::default()
            },
            check: |_, x| error_reply(x),
        },
        Def {
            id: "invalid/body-not-json",
            section: "Reply",
            level: Level::Should,
            description: "the body string is not JSON",
            requirement: "An invalid request gets an error reply (it cannot carry an id)",
            plan: || Plan {
                corrupt: Some(|_, _| Some("this is not JSON".into())),
                ..Default::default()
            },
            check: |_, x| {
                let m = first_msg(x)?;
                if m["errors"].as_array().is_none_or(|a| a.is_empty()) {
                    return Err(ev("no error listed", "errors non-empty", m.to_string()));
                }
                Ok("error reply".into())
            },
        },
        Def {
            id: "templating/reply-address",
            section: "topic_listen_to",
            level: Level::Must,
            description: "creator srv-dave, a fresh task id",
            requirement: "The reply goes to topic_listen_to with {creator} and {task_id} of the request",
            plan: || Plan {
                creator: "srv-dave",
                ..Default::default()
            },
            check: |_, x| {
                let m = first_msg(x)?;
                Ok(format!(
                    "reply received on {} for {}",
                    x.reply_address, m["requested_by"]
                ))
            },
        },
        Def {
            id: "duplicates/resent-request-answered-again",
            section: "Messaging signer workflow (send-receive cycle)",
            level: Level::Must,
            description: "the same request (same request_id) sent twice",
            requirement: "A re-sent request (send cycle) is answered again, with the same id",
            plan: || Plan {
                repeat: 2,
                expect: 2,
                ..Default::default()
            },
            check: |_, x| {
                if x.replies.len() != 2 {
                    return Err(ev(
                        "each transmission needs a reply",
                        "2 replies",
                        format!("{}", x.replies.len()),
                    ));
                }
                for r in &x.replies {
                    let m = r
                        .as_ref()
                        .map_err(|e| Evidence::new(e.clone()))?
                        .get("msg")
                        .cloned()
                        .unwrap_or_default();
                    if m["request_id"] != x.sent[0]["request_id"]
                        || m["signing_status"] != "success"
                    {
                        return Err(ev(
                            "bad answer to the re-send",
                            "success with the same id",
                            m.to_string(),
                        ));
                    }
                }
                Ok("both transmissions answered".into())
            },
        },
        Def {
            id: "concurrency/200-in-flight",
            section: "Messaging signer workflow",
            level: Level::Must,
            description: "200 requests sent back to back",
            requirement: "Every request is answered exactly once, correlated by id",
            plan: || Plan {
                count: 200,
                expect: 200,
                ..Default::default()
            },
            check: |_, x| {
                let mut ids: Vec<String> = x
                    .replies
                    .iter()
                    .filter_map(|r| {
                        r.as_ref()
                            .ok()?
                            .pointer("/msg/request_id")?
                            .as_str()
                            .map(str::to_string)
                    })
                    .collect();
                ids.sort();
                ids.dedup();
                let mut sent: Vec<String> = x
                    .sent
                    .iter()
                    .filter_map(|s| s["request_id"].as_str().map(str::to_string))
                    .collect();
                sent.sort();
                if ids != sent {
                    return Err(ev(
                        "not every request answered once",
                        "200 distinct ids",
                        format!("{} distinct of {} replies", ids.len(), x.replies.len()),
                    ));
                }
                Ok("200 answered".into())
            },
        },
    ]
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

async fn exchange(ctx: &ServerCtx, plan: &Plan) -> Result<Exchange, String> {
    let task = format!("t{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
    let mut probe = tokio::time::timeout(WAIT, Probe::open(ctx, plan.creator, &task))
        .await
        .map_err(|_| format!("the probe client could not connect and attach within {WAIT:?}"))??;
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
                .map_err(|_| format!("the broker did not settle a request within {WAIT:?}"))??;
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

pub fn cases(suite: &str) -> Vec<Case<ServerCtx>> {
    defs()
        .into_iter()
        .map(|d| {
            let doc = if d.section.starts_with("Reply") || d.section.starts_with("Correlation") {
                "msg-signer-wire"
            } else {
                "msg-signer"
            };
            let mut m = meta(
                suite,
                format!("{suite}/server/{}", d.id),
                SpecRef::new(doc, d.section),
                d.level,
                d.description,
                d.requirement,
            );
            m.profiles = vec!["server".into()];
            let (plan, check) = (d.plan, d.check);
            Case::new(m, move |ctx: Arc<ServerCtx>| async move {
                let p = plan();
                let mut x = match exchange(&ctx, &p).await {
                    Ok(x) => x,
                    Err(e) => return Outcome::fail(Evidence::new(format!("exchange failed: {e}"))),
                };
                let figures = [("p50_ms", 50.0), ("p90_ms", 90.0), ("p99_ms", 99.0)]
                    .map(|(k, p)| (k.to_string(), percentile(&x.latencies_ms, p)));
                let res = check(&ctx, &mut x);
                let mut e = match &res {
                    Ok(s) => Evidence::new(s.clone()),
                    Err(e) => e.clone(),
                };
                e = e.log_line(format!(
                    "{} sent, {} replies on {}",
                    x.sent.len() * p.repeat,
                    x.replies.len(),
                    x.reply_address
                ));
                if let Some(Ok(r)) = x.replies.first() {
                    e = e.log_line(format!(
                        "first reply: {}",
                        r.to_string().chars().take(300).collect::<String>()
                    ));
                }
                if !x.latencies_ms.is_empty() {
                    e.figures.extend(figures);
                }
                if res.is_ok() {
                    Outcome::pass_with(e)
                } else {
                    Outcome::fail(e)
                }
            })
        })
        .collect()
}

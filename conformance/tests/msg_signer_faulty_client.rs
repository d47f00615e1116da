//! A client written like the deployed Python client, with each of its departures from the
//! documented semantics (`notes/msg-signer-wire.md`) switchable alone: with none switched on it
//! is a correct client and passes every client-mode case; with exactly one, it fails exactly
//! the cases that isolate that departure (one departure, one case: the test pins the set).

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use fe2o3_amqp::types::messaging::{AmqpValue, Body, Outcome, Target};
use fe2o3_amqp::types::primitives::Value as AmqpAny;
use fe2o3_amqp::{Connection, Receiver, Sender, Session};
use serde_json::{Value, json};
use sigharness::runner::{Event, Events, Selection, run_cases};
use sigharness::suites::msg_signer::client;
use sigharness::suites::msg_signer::env::{ClientArgs, ClientCtx, ClientTarget};
use sigharness_report::Verdict;
use tokio::time::Instant;

/// The departures, each switchable alone. Numbers are those of the notes' list ("Where the
/// reference client departs"); the last three are from "The retry algorithm as pubtools-sign
/// implements it" (and one that the deployed client does not have, to prove its case).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Departures {
    /// 1: receivers of ended windows are never detached.
    never_detach: bool,
    /// 2: errors leak between cycles: every request is sent again each cycle, and the previous
    /// cycle's timeout ends the next cycle right after its send.
    errors_leak: bool,
    /// 3: only the first broker URL is tried.
    first_broker_only: bool,
    /// 4: an error on the receiving link is ignored; the window just runs out.
    link_errors_ignored: bool,
    /// 5: a rejected or never-settled send is waited for forever.
    waits_for_settlement: bool,
    /// 6: a malformed reply ends the run silently: status ok, exit 0, empty results.
    malformed_silent: bool,
    /// 7: partial results are discarded when the status is error.
    discards_partial: bool,
    /// A duplicate reply resets the timeout (seen in the deployed client).
    duplicate_resets: bool,
    /// The window ends only at a tick every timeout/2: 1x to 1.5x `timeout` (deployed).
    ticks: bool,
    /// A stray reply (unknown id) resets the timeout (not the deployed client's: proves its case).
    stray_resets: bool,
    /// Not a departure from the spec: print bare envelopes in operation_results, as our
    /// reference client did, instead of the deployed `[envelope, properties]` pairs.
    bare_envelopes: bool,
}

fn out_err(keys: &[String], m: String) -> (i32, Option<Value>) {
    (
        1,
        Some(json!({
            "signer_result": {"status": "error", "error_message": m},
            "operation_results": [], "operation": {}, "signing_keys": keys
        })),
    )
}

/// How a receive window ended.
enum WindowEnd {
    AllAnswered,
    TimedOut,
    LinkError(String),
    /// Departure 6: a malformed reply, silently.
    Silent,
}

struct Run {
    d: Departures,
    timeout: Duration,
    /// Reply envelopes by request id.
    results: HashMap<String, Value>,
    malformed: usize,
}

impl Run {
    /// One receive window for the requests `expected` (ids).
    async fn window(&mut self, rx: &mut Receiver, expected: &[String]) -> WindowEnd {
        let start = Instant::now();
        let mut last = start;
        loop {
            let mut deadline = last + self.timeout;
            if self.d.ticks {
                // The window is checked at ticks every timeout/2 from its start.
                let tick = self.timeout / 2;
                let n = (deadline - start).as_nanos().div_ceil(tick.as_nanos());
                deadline = start + tick * u32::try_from(n).unwrap_or(u32::MAX);
            }
            let d = match tokio::time::timeout_at(deadline, rx.recv::<Body<AmqpAny>>()).await {
                Err(_) => return WindowEnd::TimedOut,
                Ok(Err(e)) => {
                    if self.d.link_errors_ignored {
                        // The imitated client notices nothing until its timeout (virtual time).
                        tokio::time::sleep_until(deadline).await;
                        return WindowEnd::TimedOut;
                    }
                    return WindowEnd::LinkError(format!("receiving link: {e}"));
                }
                Ok(Ok(d)) => d,
            };
            let _ = rx.accept(&d).await;
            let parsed = match d.body() {
                Body::Value(AmqpValue(AmqpAny::String(s))) => {
                    serde_json::from_str::<Value>(s).ok().and_then(|v| {
                        let id = v.get("msg")?.get("request_id")?.as_str()?.to_string();
                        Some((id, v))
                    })
                }
                _ => None,
            };
            let Some((id, envelope)) = parsed else {
                if self.d.malformed_silent {
                    return WindowEnd::Silent;
                }
                self.malformed += 1;
                continue;
            };
            let now = Instant::now();
            if expected.contains(&id) && !self.results.contains_key(&id) {
                self.results.insert(id, envelope);
                last = now;
                if expected.iter().all(|i| self.results.contains_key(i)) {
                    return WindowEnd::AllAnswered;
                }
            } else if let Some(earlier) = self.results.get_mut(&id) {
                // A duplicate: the last one wins.
                *earlier = envelope;
                if self.d.duplicate_resets {
                    last = now;
                }
            } else if self.d.stray_resets {
                last = now;
            }
        }
    }
}

async fn faulty(d: Departures, a: ClientArgs) -> (i32, Option<Value>) {
    let keys = a.signing_keys.clone();
    // --signer-type batch: the msg_batch_signer section, chunk_size images per request.
    let batch = if a.batch {
        match msg_signer::config::MsgBatchSignerConfig::load(&a.config) {
            Ok(b) => Some(b),
            Err(e) => return out_err(&keys, e.to_string()),
        }
    } else {
        None
    };
    let cfg = match &batch {
        Some(b) => b.common(),
        None => match msg_signer::config::MsgSignerConfig::load(&a.config) {
            Ok(c) => c,
            Err(e) => return out_err(&keys, e.to_string()),
        },
    };
    let creator = match msg_signer::tls::creator(a.requester.as_deref(), &cfg.messaging_cert_key) {
        Ok(c) => c,
        Err(e) => return out_err(&keys, e.to_string()),
    };
    let ctx = msg_signer::wire::RunContext {
        creator: creator.clone(),
        task_id: a.task_id.clone(),
        signing_key_name: None,
    };
    let inputs: Vec<_> = a
        .images
        .iter()
        .map(|(d, r)| msg_signer::wire::SignInput::Container {
            digest: d.clone(),
            reference: r.clone(),
        })
        .collect();
    let built = match &batch {
        Some(b) => msg_signer::wire::build_batch_requests(
            b,
            &ctx,
            &a.images,
            &a.signing_keys,
            SystemTime::now(),
            || uuid::Uuid::new_v4().to_string(),
        ),
        None => msg_signer::wire::build_requests(
            &cfg,
            &ctx,
            &inputs,
            &a.signing_keys,
            SystemTime::now(),
            || uuid::Uuid::new_v4().to_string(),
        ),
    };
    let reqs = match built {
        Ok(r) => r,
        Err(e) => return out_err(&keys, e.to_string()),
    };

    // Connect: each broker in turn (departure 3: the first only).
    let mut conn = None;
    let mut why = Vec::new();
    let n = if d.first_broker_only { 1 } else { usize::MAX };
    for b in cfg.messaging_brokers.iter().take(n) {
        match connect(&cfg, b).await {
            Ok(c) => {
                conn = Some(c);
                break;
            }
            Err(e) => why.push(format!("{b}: {e}")),
        }
    }
    let Some(mut conn) = conn else {
        return out_err(&keys, format!("no broker reachable: {}", why.join("; ")));
    };
    let Ok(mut session) = Session::begin(&mut conn).await else {
        return out_err(&keys, "AMQP begin failed".into());
    };
    let Ok(mut sender) = Sender::builder()
        .name("faulty-tx")
        .target(Target::builder().build())
        .attach(&mut session)
        .await
    else {
        return out_err(&keys, "sender attach failed".into());
    };
    let listen = msg_signer::config::expand_template(&cfg.topic_listen_to, &creator, &a.task_id);
    let mut run = Run {
        d,
        timeout: cfg.timeout(),
        results: HashMap::new(),
        malformed: 0,
    };
    let mut dead_receivers = Vec::new();
    let mut send_errors: Vec<String> = Vec::new();
    let mut timed_out_before = false;
    let all_answered = |run: &Run| reqs.iter().all(|r| run.results.contains_key(&r.id));
    'cycles: for cycle in 0..cfg.send_retries {
        // Like the deployed client, the cycle's first receiver listens before the send.
        let mut first_rx =
            match Receiver::attach(&mut session, format!("faulty-rx-{cycle}-0"), listen.clone())
                .await
            {
                Ok(rx) => Some(rx),
                Err(e) if d.link_errors_ignored => {
                    // Departure 4: the refused attach is noticed only as a timeout (virtual time).
                    let _ = e;
                    None
                }
                Err(e) => return out_err(&keys, format!("receiver on {listen}: {e}")),
            };
        let to_send: Vec<_> = reqs
            .iter()
            .filter(|r| d.errors_leak || !run.results.contains_key(&r.id))
            .collect();
        let mut outcomes = Vec::new();
        for r in &to_send {
            match sender
                .send_batchable(msg_signer::transport::to_message(r))
                .await
            {
                Ok(f) => outcomes.push((r.id.clone(), f)),
                Err(e) => send_errors.push(format!("request {}: send: {e}", r.id)),
            }
        }
        let mut sent = Vec::new();
        for (id, f) in outcomes {
            if d.waits_for_settlement {
                // Departure 5: a send the broker does not accept is waited out forever (one it
                // never settles, too: this await does not return); a lost connection is an error.
                let o = tokio::select! {
                    o = f => o,
                    _ = conn.on_close() => {
                        return out_err(&keys, "connection lost".into());
                    }
                };
                match o {
                    Ok(Outcome::Accepted(_)) => sent.push(id),
                    Ok(_) => std::future::pending::<()>().await,
                    Err(e) => send_errors.push(format!("request {id}: {e}")),
                }
                continue;
            }
            match tokio::time::timeout(cfg.timeout(), f).await {
                Ok(Ok(Outcome::Accepted(_))) => sent.push(id),
                Ok(o) => send_errors.push(format!("request {id}: not accepted: {o:?}")),
                Err(_) => send_errors.push(format!(
                    "request {id}: not settled within {:?}",
                    cfg.timeout()
                )),
            }
        }
        if d.errors_leak && timed_out_before || sent.is_empty() {
            // Departure 2: the last cycle's timeout is still in the error list: give up.
            if let Some(rx) = first_rx {
                let _ = rx.close().await;
            }
            if d.errors_leak && timed_out_before {
                break 'cycles;
            }
            continue;
        }
        for w in 0..cfg.retries {
            let expected: Vec<String> = reqs
                .iter()
                .filter(|r| !run.results.contains_key(&r.id))
                .map(|r| r.id.clone())
                .collect();
            if expected.is_empty() {
                break;
            }
            let attached = match first_rx.take() {
                Some(rx) => Ok(rx),
                None if w == 0 => Err("refused".to_string()),
                None => Receiver::attach(
                    &mut session,
                    format!("faulty-rx-{cycle}-{w}"),
                    listen.clone(),
                )
                .await
                .map_err(|e| e.to_string()),
            };
            let mut rx = match attached {
                Ok(rx) => rx,
                Err(e) => {
                    if d.link_errors_ignored {
                        // Departure 4 (virtual time: costs nothing real).
                        tokio::time::sleep(cfg.timeout()).await;
                        timed_out_before = true;
                        continue;
                    }
                    return out_err(&keys, format!("receiver on {listen}: {e}"));
                }
            };
            let end = run.window(&mut rx, &expected).await;
            if d.never_detach {
                dead_receivers.push(rx);
            } else {
                let _ = rx.close().await;
            }
            match end {
                WindowEnd::AllAnswered => break,
                WindowEnd::TimedOut => timed_out_before = true,
                WindowEnd::LinkError(e) => return out_err(&keys, e),
                WindowEnd::Silent => {
                    std::mem::forget(dead_receivers);
                    return (
                        0,
                        Some(json!({
                            "signer_result": {"status": "ok", "error_message": ""},
                            "operation_results": [], "operation": {}, "signing_keys": keys
                        })),
                    );
                }
            }
        }
        if all_answered(&run) {
            break;
        }
    }
    let mut failures = Vec::new();
    let mut entries = Vec::new();
    for r in &reqs {
        match run.results.get(&r.id) {
            Some(env) => {
                if let Some(e) = env
                    .pointer("/msg/errors")
                    .and_then(Value::as_array)
                    .filter(|e| !e.is_empty())
                {
                    failures.push(format!(
                        "request {}: errors {}",
                        r.id,
                        Value::from(e.clone())
                    ));
                }
                entries.push(if d.bare_envelopes {
                    env.clone()
                } else {
                    json!([env, null])
                });
            }
            None => {
                failures.push(format!("request {}: no reply", r.id));
                entries.push(json!(""));
            }
        }
    }
    failures.extend(send_errors);
    if run.malformed > 0 {
        failures.push(format!("{} malformed repl(ies) ignored", run.malformed));
    }
    let ok = failures.is_empty();
    if !ok && d.discards_partial {
        entries = reqs.iter().map(|_| json!("")).collect();
    }
    std::mem::forget(dead_receivers);
    let out = json!({
        "signer_result": {"status": if ok { "ok" } else { "error" }, "error_message": failures.join("\n")},
        "operation_results": entries, "operation": {}, "signing_keys": keys
    });
    (if ok { 0 } else { 1 }, Some(out))
}

/// TCP (TCP_NODELAY: in virtual time Nagle would hold frames back), TLS for amqps://, AMQP open.
async fn connect(
    cfg: &msg_signer::config::MsgSignerConfig,
    broker: &str,
) -> Result<fe2o3_amqp::connection::ConnectionHandle<()>, String> {
    use msg_signer::config::{BrokerUrl, Scheme};
    let url = BrokerUrl::parse(broker).map_err(|e| e.to_string())?;
    let tcp = tokio::net::TcpStream::connect((url.host.as_str(), url.port))
        .await
        .map_err(|e| e.to_string())?;
    tcp.set_nodelay(true).map_err(|e| e.to_string())?;
    let b = Connection::builder()
        .container_id("faulty")
        .hostname(url.host.as_str())
        .scheme("amqp");
    match url.scheme {
        Scheme::Amqp => b.open_with_stream(tcp).await.map_err(|e| e.to_string()),
        Scheme::Amqps => {
            let tls = msg_signer::tls::client_config(
                &cfg.messaging_cert_key,
                &cfg.messaging_ca_cert,
                true,
            )
            .map_err(|e| e.to_string())?;
            let name = msg_signer::tls::server_name(&url.host).map_err(|e| e.to_string())?;
            let s = tokio_rustls::TlsConnector::from(tls)
                .connect(name, tcp)
                .await
                .map_err(|e| format!("TLS: {e}"))?;
            b.open_with_stream(s).await.map_err(|e| e.to_string())
        }
    }
}

/// Run every client-mode case against the client with `d`; the ids that did not pass.
async fn not_passing(d: Departures) -> BTreeSet<String> {
    let target = ClientTarget::Custom(Arc::new(move |a| Box::pin(faulty(d, a))));
    let cases = client::cases("msg-signer");
    let (events, mut rx) = Events::channel();
    let sel = Selection::new(&[]).unwrap();
    let run = run_cases(
        Arc::new(ClientCtx {
            target,
            broker: None,
        }),
        &cases,
        &sel,
        &events,
        Duration::from_secs(60),
    );
    tokio::time::timeout(Duration::from_secs(300), run)
        .await
        .expect("bounded");
    drop(events);
    let mut got = BTreeSet::new();
    let mut n = 0;
    while let Some(e) = rx.recv().await {
        if let Event::CaseFinished(r) = e {
            n += 1;
            if r.verdict != Verdict::Pass {
                got.insert(format!(
                    "{} {}",
                    r.id.trim_start_matches("msg-signer/client/"),
                    r.verdict
                ));
            }
        }
    }
    assert_eq!(n, cases.len(), "every case finished");
    got
}

fn set(ids: &[&str]) -> BTreeSet<String> {
    ids.iter().map(|i| format!("{i} fail")).collect()
}

/// Each departure alone, and the exact set of cases it fails; none at all passes every case.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_departure_alone_fails_exactly_its_cases() {
    let none = Departures::default();
    let table: Vec<(&str, Departures, BTreeSet<String>)> = vec![
        ("no departure", none, set(&[])),
        (
            "1 receivers never detached",
            Departures {
                never_detach: true,
                ..none
            },
            set(&[
                "retry/late-reply-in-next-receive-window",
                "retry/receivers-detached-when-window-ends",
            ]),
        ),
        (
            "2 errors leak between cycles",
            Departures {
                errors_leak: true,
                ..none
            },
            set(&[
                "retry/send-cycles-bounded-by-send-retries",
                "retry/resend-only-unanswered",
                "retry/answered-requests-not-resent",
            ]),
        ),
        (
            "3 no failover",
            Departures {
                first_broker_only: true,
                ..none
            },
            set(&[
                "failover/first-broker-port-closed",
                "failover/first-broker-refuses",
            ]),
        ),
        (
            "4 receiving-link errors ignored",
            Departures {
                link_errors_ignored: true,
                ..none
            },
            set(&["fault/denied-consumer-reported-promptly"]),
        ),
        (
            "5 unsettled sends hang",
            Departures {
                waits_for_settlement: true,
                ..none
            },
            set(&[
                "fault/rejected-send-fails-within-timeout",
                "fault/never-settled-send-fails-within-timeout",
            ]),
        ),
        (
            "6 malformed replies end the run silently",
            Departures {
                malformed_silent: true,
                ..none
            },
            set(&[
                "fault/malformed-json-reply-reported",
                "fault/reply-without-msg-reported",
                "fault/reply-without-id-reported",
            ]),
        ),
        (
            "7 partial results discarded",
            Departures {
                discards_partial: true,
                ..none
            },
            set(&[
                "retry/partial-results-kept",
                "retry/partial-results-kept-when-unanswered",
            ]),
        ),
        (
            "duplicates reset the timeout",
            Departures {
                duplicate_resets: true,
                ..none
            },
            set(&["retry/duplicate-reply-does-not-reset-timeout"]),
        ),
        (
            "1x-1.5x window granularity",
            Departures {
                ticks: true,
                ..none
            },
            set(&["retry/window-ends-timeout-after-last-reply"]),
        ),
        (
            "strays reset the timeout",
            Departures {
                stray_resets: true,
                ..none
            },
            set(&["retry/stray-reply-does-not-reset-timeout"]),
        ),
    ];
    let table = table.into_iter().chain([(
        // Every verdict reads both shapes; only the output-shape case (SHOULD) asks for pairs.
        "bare envelopes in operation_results",
        Departures {
            bare_envelopes: true,
            ..none
        },
        set(&["cli/output-shape"]),
    )]);
    let mut wrong = Vec::new();
    for (name, d, want) in table {
        let got = not_passing(d).await;
        if got != want {
            wrong.push(format!("{name}: not passing {got:#?}, expected {want:#?}"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

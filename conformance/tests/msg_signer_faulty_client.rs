//! A deliberately faulty client, written like the deployed Python client (the departures of
//! `notes/msg-signer-wire.md`), proves that the client-mode cases catch each defect, and that
//! they still pass what it does right.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use fe2o3_amqp::types::messaging::{AmqpValue, Body, Target};
use fe2o3_amqp::types::primitives::Value as AmqpAny;
use fe2o3_amqp::{Connection, Receiver, Sender, Session};
use serde_json::{Value, json};
use sigharness::runner::{Event, Events, Selection, run_cases};
use sigharness::suites::msg_signer::client;
use sigharness::suites::msg_signer::env::{ClientArgs, ClientCtx, ClientTarget};
use sigharness_report::Verdict;

/// Departures: 1 receivers never detached; 2 answered requests re-sent each cycle; 3 only the
/// first broker tried; 4 receiving-link errors ignored until the timeout; 5 waits for
/// settlement forever; 6 a malformed reply ends the window
/// silently; 7 results discarded on error. Also: any reply (stray too) resets the timeout.
async fn faulty(a: ClientArgs) -> (i32, Option<Value>) {
    let cfg = match msg_signer::config::MsgSignerConfig::load(&a.config) {
        Ok(c) => c,
        Err(e) => {
            return (
                1,
                Some(json!({"signer_result": {"status": "error", "error_message": e.to_string()}})),
            );
        }
    };
    let creator = a.requester.clone().unwrap_or_else(|| "unknown".into());
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
    let reqs = msg_signer::wire::build_requests(
        &cfg,
        &ctx,
        &inputs,
        &a.signing_keys,
        SystemTime::now(),
        || uuid::Uuid::new_v4().to_string(),
    )
    .unwrap();
    let url = msg_signer::config::BrokerUrl::parse(&cfg.messaging_brokers[0]).unwrap();
    let err = |m: String| {
        (
            1,
            Some(
                json!({"signer_result": {"status": "error", "error_message": m}, "operation_results": []}),
            ),
        )
    };
    let Ok(tcp) = tokio::net::TcpStream::connect((url.host.as_str(), url.port)).await else {
        return err("connection refused".into());
    };
    // Without TCP_NODELAY, Nagle holds small frames back in real time while the paused clock
    // jumps ahead: every client run in virtual time must set it (the reference client does).
    tcp.set_nodelay(true).unwrap();
    let Ok(mut conn) = Connection::builder()
        .container_id("faulty")
        .hostname("127.0.0.1")
        .scheme("amqp")
        .open_with_stream(tcp)
        .await
    else {
        return err("open failed".into());
    };
    let mut session = Session::begin(&mut conn).await.unwrap();
    let mut sender = Sender::builder()
        .name("faulty-tx")
        .target(Target::builder().build())
        .attach(&mut session)
        .await
        .unwrap();
    let listen = msg_signer::config::expand_template(&cfg.topic_listen_to, &creator, &a.task_id);
    let mut results: HashMap<String, Value> = HashMap::new();
    let mut dead_receivers = Vec::new();
    for cycle in 0..cfg.send_retries {
        let mut outcomes = Vec::new();
        for r in &reqs {
            // Departure 2: everything is sent again.
            if let Ok(f) = sender
                .send_batchable(msg_signer::transport::to_message(r))
                .await
            {
                outcomes.push(f);
            }
        }
        for f in outcomes {
            let _ = f.await; // departure 5: waits for the outcome, however long
        }
        for w in 0..cfg.retries {
            let Ok(mut rx) = Receiver::attach(
                &mut session,
                format!("faulty-rx-{cycle}-{w}"),
                listen.clone(),
            )
            .await
            else {
                // Departure 4: a refused attach is ignored; the window just runs out. This is the
                // imitated client's behaviour, not a test waiting for an event: the suite runs client
                // cases on a paused tokio clock, so this costs no real time.
                tokio::time::sleep(cfg.timeout()).await;
                continue;
            };
            loop {
                match tokio::time::timeout(cfg.timeout(), rx.recv::<Body<AmqpAny>>()).await {
                    Ok(Ok(d)) => {
                        let _ = rx.accept(&d).await;
                        let Body::Value(AmqpValue(AmqpAny::String(s))) = d.body() else {
                            break;
                        };
                        // Departure 6: anything unexpected ends the window silently.
                        let Some(id) = serde_json::from_str::<Value>(s).ok().and_then(|v| {
                            let id = v.pointer("/msg/request_id")?.as_str()?.to_string();
                            Some((id, v))
                        }) else {
                            return (
                                0,
                                Some(
                                    json!({"signer_result": {"status": "ok", "error_message": ""}, "operation_results": [], "operation": {}, "signing_keys": a.signing_keys}),
                                ),
                            );
                        };
                        results.insert(id.0, id.1); // duplicates: last wins
                    }
                    Ok(Err(_)) => {
                        // Departure 4: an error on the receiving link (a denied consumer) is
                        // ignored; the client notices nothing until its timeout (this models
                        // the deployed client's wait, in virtual time; it waits for no event).
                        tokio::time::sleep(cfg.timeout()).await;
                        break;
                    }
                    Err(_) => break,
                }
                if reqs.iter().all(|r| results.contains_key(&r.id)) {
                    break;
                }
            }
            dead_receivers.push(rx); // departure 1: never detached
            if reqs.iter().all(|r| results.contains_key(&r.id)) {
                break;
            }
        }
        if reqs.iter().all(|r| results.contains_key(&r.id)) {
            break;
        }
    }
    let failed: Vec<String> = reqs
        .iter()
        .filter(|r| {
            results.get(&r.id).is_none_or(|v| {
                v.pointer("/msg/errors")
                    .and_then(Value::as_array)
                    .is_some_and(|e| !e.is_empty())
            })
        })
        .map(|r| r.id.clone())
        .collect();
    let ops: Vec<Value> = if failed.is_empty() {
        reqs.iter()
            .filter_map(|r| results.get(&r.id).cloned())
            .collect()
    } else {
        vec![]
    }; // departure 7
    let status = if failed.is_empty() { "ok" } else { "error" };
    let out = json!({"signer_result": {"status": status, "error_message": if failed.is_empty() { String::new() } else { format!("failed: {failed:?}") }}, "operation_results": ops, "operation": {}, "signing_keys": a.signing_keys});
    std::mem::forget(dead_receivers);
    (if failed.is_empty() { 0 } else { 1 }, Some(out))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_mode_cases_catch_the_faulty_client() {
    let target = ClientTarget::Custom(Arc::new(|a| Box::pin(faulty(a))));
    let cases = client::cases("msg-signer");
    let want_fail = [
        "msg-signer/client/retry/receivers-detached-when-window-ends",
        "msg-signer/client/retry/answered-requests-not-resent",
        "msg-signer/client/failover/first-broker-port-closed",
        "msg-signer/client/failover/first-broker-refuses",
        "msg-signer/client/fault/never-settled-send-fails-within-timeout",
        "msg-signer/client/fault/denied-consumer-reported-promptly",
        "msg-signer/client/fault/malformed-json-reply-reported",
        "msg-signer/client/retry/partial-results-kept",
        "msg-signer/client/retry/stray-reply-does-not-reset-timeout",
    ];
    let want_pass = [
        "msg-signer/client/retry/all-answered-one-window",
        "msg-signer/client/wire/request-body-keys",
    ];
    let globs: Vec<String> = want_fail
        .iter()
        .chain(want_pass.iter())
        .map(|s| s.to_string())
        .collect();
    let (events, mut rx) = Events::channel();
    let sel = Selection::new(&globs).unwrap();
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
    tokio::time::timeout(Duration::from_secs(120), run)
        .await
        .expect("bounded");
    drop(events);
    let mut got = HashMap::new();
    while let Some(e) = rx.recv().await {
        if let Event::CaseFinished(r) = e {
            got.insert(r.id.clone(), (r.verdict, r.evidence.summary.clone()));
        }
    }
    for id in want_fail {
        assert_eq!(
            got.get(id).map(|v| v.0),
            Some(Verdict::Fail),
            "{id} must fail for the faulty client: {:?}",
            got.get(id)
        );
    }
    for id in want_pass {
        assert_eq!(
            got.get(id).map(|v| v.0),
            Some(Verdict::Pass),
            "{id} must pass: {:?}",
            got.get(id)
        );
    }
}

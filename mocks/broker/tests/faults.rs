//! Each broker fault, over real loopback sockets.

mod common;

use std::time::Duration;

use common::*;
use fe2o3_amqp::types::messaging::{ApplicationProperties, Message, Outcome as AmqpOutcome};
use fe2o3_amqp::{Connection, Receiver, Sender};
use mock_broker::{Broker, BrokerAction, BrokerHandle, Event, FaultPlan};
use tokio::net::TcpStream;

fn plan(yaml: &str) -> FaultPlan<BrokerAction> {
    FaultPlan::from_yaml_str(yaml, "test").unwrap()
}

fn msg(body: &str) -> Message<fe2o3_amqp::types::messaging::AmqpValue<String>> {
    Message::builder().value(body.to_string()).build()
}

async fn with_plan(yaml: &str) -> BrokerHandle {
    Broker::builder()
        .fault_plan(plan(yaml))
        .start()
        .await
        .unwrap()
}

async fn recv_text(r: &mut Receiver) -> String {
    let d = bounded(r.recv::<String>()).await.unwrap();
    bounded(r.accept(&d)).await.unwrap();
    d.body().clone()
}

async fn fault_fired(b: &BrokerHandle, action: &str) {
    b.journal()
        .wait_for(
            |e| matches!(&e.event, Event::Fault { action: a, .. } if a.starts_with(action)),
            STEP,
        )
        .await
        .unwrap();
}

#[tokio::test]
async fn drop_accepts_but_routes_nothing() {
    let b = with_plan("rules: [{match: {address: 'queue://*'}, action: drop}]").await;
    let mut c = connect(b.addr(), "c").await;
    let mut s_ = session(&mut c).await;
    let mut s = bounded(Sender::attach(&mut s_, "s", "queue://q"))
        .await
        .unwrap();
    let o = bounded(s.send(msg("lost"))).await.unwrap();
    assert!(matches!(o, AmqpOutcome::Accepted(_)));
    fault_fired(&b, "drop").await;
    assert_eq!(b.queue_depth("queue://q"), 0);
}

#[tokio::test]
async fn delay_routes_later() {
    let b = with_plan("rules: [{action: {delay: 300ms}}]").await;
    let mut c = connect(b.addr(), "c").await;
    let mut s_ = session(&mut c).await;
    let mut r = bounded(Receiver::attach(&mut s_, "r", "queue://q"))
        .await
        .unwrap();
    let mut s = bounded(Sender::attach(&mut s_, "s", "queue://q"))
        .await
        .unwrap();
    bounded(s.send(msg("late"))).await.unwrap();
    assert_eq!(recv_text(&mut r).await, "late");
    let j = b.journal();
    let inb = j.filter(|e| e.is_inbound_transfer())[0].at;
    let out = j.filter(|e| e.is_outbound_transfer())[0].at;
    assert!(out - inb >= Duration::from_millis(300), "{:?}", out - inb);
}

#[tokio::test]
async fn duplicate_routes_twice() {
    let b = with_plan("rules: [{action: duplicate, times: 1}]").await;
    let mut c = connect(b.addr(), "c").await;
    let mut s_ = session(&mut c).await;
    let mut r = bounded(Receiver::attach(&mut s_, "r", "queue://q"))
        .await
        .unwrap();
    let mut s = bounded(Sender::attach(&mut s_, "s", "queue://q"))
        .await
        .unwrap();
    bounded(s.send(msg("twice"))).await.unwrap();
    bounded(s.send(msg("once"))).await.unwrap();
    assert_eq!(recv_text(&mut r).await, "twice");
    assert_eq!(recv_text(&mut r).await, "twice");
    assert_eq!(recv_text(&mut r).await, "once");
}

#[tokio::test]
async fn reorder_lets_the_next_message_overtake() {
    let b = with_plan("rules: [{match: {nth: 1}, action: reorder}]").await;
    let mut c = connect(b.addr(), "c").await;
    let mut s_ = session(&mut c).await;
    let mut r = bounded(Receiver::attach(&mut s_, "r", "queue://q"))
        .await
        .unwrap();
    let mut s = bounded(Sender::attach(&mut s_, "s", "queue://q"))
        .await
        .unwrap();
    bounded(s.send(msg("first"))).await.unwrap();
    bounded(s.send(msg("second"))).await.unwrap();
    assert_eq!(recv_text(&mut r).await, "second");
    assert_eq!(recv_text(&mut r).await, "first");
}

#[tokio::test]
async fn reject_by_application_property() {
    let b = with_plan("rules: [{match: {app_properties: {mtype: bad}}, action: reject}]").await;
    let mut c = connect(b.addr(), "c").await;
    let mut s_ = session(&mut c).await;
    let mut s = bounded(Sender::attach(&mut s_, "s", "queue://q"))
        .await
        .unwrap();
    let bad = Message::builder()
        .application_properties(
            ApplicationProperties::builder()
                .insert("mtype", "bad")
                .build(),
        )
        .value("x".to_string())
        .build();
    let o = bounded(s.send(bad)).await.unwrap();
    assert!(matches!(o, AmqpOutcome::Rejected(_)), "{o:?}");
    let o = bounded(s.send(msg("fine"))).await.unwrap();
    assert!(matches!(o, AmqpOutcome::Accepted(_)), "{o:?}");
    assert_eq!(b.queue_depth("queue://q"), 1);
}

#[tokio::test]
async fn never_settle_leaves_the_sender_waiting() {
    let b = with_plan("rules: [{action: never_settle}]").await;
    let mut c = connect(b.addr(), "c").await;
    let mut s_ = session(&mut c).await;
    let mut s = bounded(Sender::attach(&mut s_, "s", "queue://q"))
        .await
        .unwrap();
    let fut = bounded(s.send_batchable(msg("limbo"))).await.unwrap();
    fault_fired(&b, "never_settle").await;
    // Bounded check of an absence: no outcome arrives.
    assert!(
        tokio::time::timeout(Duration::from_millis(300), fut)
            .await
            .is_err()
    );
    assert_eq!(b.queue_depth("queue://q"), 0);
}

#[tokio::test]
async fn disconnect_after_n_transfers() {
    let b = with_plan("rules: [{action: {disconnect_after: 2}}]").await;
    let (mut c, closed) = connect_probed(b.addr(), "c").await;
    let mut s_ = session(&mut c).await;
    let mut s = bounded(Sender::attach(&mut s_, "s", "queue://q"))
        .await
        .unwrap();
    bounded(s.send(msg("1")))
        .await
        .unwrap()
        .accepted_or("x")
        .unwrap();
    let _pending = bounded(s.send_batchable(msg("2"))).await.unwrap();
    let d = b
        .journal()
        .wait_for(|e| matches!(e.event, Event::Disconnect { .. }), STEP)
        .await
        .unwrap();
    assert!(format!("{:?}", d.event).contains("cut by the broker"));
    // The client's socket sees the broker close it (no AMQP close frame).
    bounded(closed.notified()).await;
    assert_eq!(
        b.queue_depth("queue://q"),
        2,
        "the N-th transfer is still routed"
    );
    assert_eq!(b.connection_count(), 0);
}

#[tokio::test]
async fn refuse_connection_then_plan_changed_while_running() {
    let b = with_plan("rules: [{action: refuse_connection}]").await;
    let tcp = bounded(TcpStream::connect(b.addr())).await.unwrap();
    let res = bounded(
        Connection::builder()
            .container_id("x")
            .open_with_stream(tcp),
    )
    .await;
    assert!(res.is_err());
    b.journal()
        .wait_for(|e| matches!(e.event, Event::Refused { .. }), STEP)
        .await
        .unwrap();
    b.set_fault_plan(FaultPlan::default()).unwrap();
    let mut c = connect(b.addr(), "ok").await;
    bounded(c.close()).await.unwrap();
}

#[tokio::test]
async fn dropping_the_handle_shuts_the_broker_down() {
    let b = Broker::start().await;
    let addr = b.addr();
    let (_c, closed) = connect_probed(addr, "c").await;
    drop(b);
    bounded(closed.notified()).await;
    // The listener is gone with the accept task: connecting fails or is closed at once.
    if let Ok(s) = bounded(TcpStream::connect(addr)).await {
        let res = bounded(
            Connection::builder()
                .container_id("late")
                .open_with_stream(s),
        )
        .await;
        assert!(res.is_err());
    }
}

#[tokio::test]
async fn fault_plans_parse_from_json_too() {
    let p: FaultPlan<BrokerAction> = FaultPlan::from_yaml_str(
        r#"{"seed": 1, "rules": [{"match": {"address": "topic://*"}, "action": {"delay": "1s"}, "times": 2}]}"#,
        "plan.json",
    )
    .unwrap();
    assert_eq!(
        p.rules[0].action,
        BrokerAction::Delay(Duration::from_secs(1))
    );
    assert_eq!(p.rules[0].times, Some(2));
}

#[tokio::test]
async fn outbound_faults_apply_to_deliveries_to_consumers() {
    let b = with_plan(
        "rules:
  - {match: {direction: outbound, nth: 1}, action: drop}
  - {match: {direction: outbound, nth: 2}, action: duplicate}",
    )
    .await;
    let mut c = connect(b.addr(), "tx").await;
    let mut ses = session(&mut c).await;
    let mut s = bounded(Sender::attach(&mut ses, "s", "queue://o"))
        .await
        .unwrap();
    for m in ["dropped", "doubled"] {
        bounded(s.send(msg(m)))
            .await
            .unwrap()
            .accepted_or("x")
            .unwrap();
    }
    let (mut rc, closed) = connect_probed(b.addr(), "rx").await;
    let mut rses = session(&mut rc).await;
    let mut r = bounded(Receiver::attach(&mut rses, "r", "queue://o"))
        .await
        .unwrap();
    assert_eq!(recv_text(&mut r).await, "doubled");
    assert_eq!(recv_text(&mut r).await, "doubled");
    // Changed while running: the next delivery to a consumer cuts its connection.
    b.set_fault_plan(plan(
        "rules: [{match: {direction: outbound}, action: {disconnect_after: 1}}]",
    ))
    .unwrap();
    bounded(s.send(msg("last")))
        .await
        .unwrap()
        .accepted_or("x")
        .unwrap();
    bounded(closed.notified()).await;
    let faults = b
        .journal()
        .filter(|e| matches!(e.event, Event::Fault { .. }));
    assert_eq!(faults.len(), 3, "{faults:?}");
    let err = b
        .set_fault_plan(plan(
            "rules: [{match: {direction: outbound}, action: reject}]",
        ))
        .unwrap_err();
    assert!(
        err.to_string().contains("does not apply to outbound"),
        "{err}"
    );
}

#[tokio::test]
async fn refuse_attach_denies_a_consumer_with_an_amqp_error() {
    let b = with_plan(
        "rules: [{name: deny, match: {address: 'queue://Consumer.*'}, action: refuse_attach, times: 1}]",
    )
    .await;
    let mut c = connect(b.addr(), "c").await;
    let mut ses = session(&mut c).await;
    // Not matched by the glob: served normally.
    let mut other = bounded(Receiver::attach(&mut ses, "other", "queue://other"))
        .await
        .unwrap();
    // Matched: the attach is answered, then the link is closed with the error (AMQP 1.0 2.6.3).
    let mut denied = bounded(Receiver::attach(&mut ses, "denied", "queue://Consumer.a.b"))
        .await
        .unwrap();
    let err = bounded(denied.recv::<String>()).await.unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("UnauthorizedAccess") && text.contains("denied by fault plan"),
        "{text}"
    );
    let j = b.journal();
    let f =
        j.filter(|e| matches!(&e.event, Event::Fault { action, .. } if action == "refuse_attach"));
    assert_eq!(f.len(), 1, "{f:?}");
    let det = j
        .wait_for(
            |e| matches!(e.event, Event::Detach { .. }) && e.link() == Some("denied"),
            STEP,
        )
        .await
        .unwrap();
    match &det.event {
        Event::Detach {
            closed: true,
            by_peer: false,
            error: Some(e),
            address: Some(a),
            ..
        } => {
            assert_eq!(e, "amqp:unauthorized-access: denied by fault plan");
            assert_eq!(a, "queue://Consumer.a.b");
        }
        other => panic!("{other:?}"),
    }
    // `times: 1`: the second attach to the same address is served.
    let mut again = bounded(Receiver::attach(&mut ses, "again", "queue://Consumer.a.b"))
        .await
        .unwrap();
    let mut s = bounded(Sender::attach(&mut ses, "s", "queue://Consumer.a.b"))
        .await
        .unwrap();
    bounded(s.send(msg("served"))).await.unwrap();
    assert_eq!(recv_text(&mut again).await, "served");
    let mut s2 = bounded(Sender::attach(&mut ses, "s2", "queue://other"))
        .await
        .unwrap();
    bounded(s2.send(msg("other"))).await.unwrap();
    assert_eq!(recv_text(&mut other).await, "other");
    assert_eq!(
        j.filter(|e| matches!(e.event, Event::Fault { .. })).len(),
        1,
        "refuse_attach does not touch messages"
    );
}

//! An accepted, settled delivery is never delivered again (issue 13 item 1): rounds of "send one
//! message to a queue, receive it, accept it, close at once" must each see only their own message.

mod common;

use common::*;
use fe2o3_amqp::types::messaging::Message;
use fe2o3_amqp::{Receiver, Sender};
use mock_broker::Broker;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accepted_then_closed_is_not_redelivered() {
    let broker = Broker::start().await;
    let q = "queue://settled-once";
    for round in 0..200 {
        let mut conn = connect(broker.addr(), &format!("round-{round}")).await;
        let mut ses = session(&mut conn).await;
        let mut s = bounded(Sender::attach(&mut ses, format!("s{round}"), q))
            .await
            .unwrap();
        let mut r = bounded(Receiver::attach(&mut ses, format!("r{round}"), q))
            .await
            .unwrap();
        let body = format!("m{round}");
        bounded(s.send(Message::builder().value(body.clone()).build()))
            .await
            .unwrap()
            .accepted_or("not accepted")
            .unwrap();
        let d = bounded(r.recv::<String>()).await.unwrap();
        assert_eq!(
            d.body(),
            &body,
            "round {round}: an earlier, accepted message came back"
        );
        bounded(r.accept(&d)).await.unwrap();
        // Close at once: the disposition and the detach/close reach the broker back to back.
        drop(r);
        drop(s);
        let _ = bounded(ses.end()).await;
        let _ = bounded(conn.close()).await;
    }
}

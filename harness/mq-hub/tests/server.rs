//! The reference server over real loopback sockets, both profiles.

use std::sync::Arc;
use std::time::Duration;

use mq_hub::{DidKeyPair, DidMethod, HubConfig, MqClient, MqHubError, Profile, RunningHub};

const D: &str = "vault.csc";

fn cfg(profile: Profile) -> HubConfig {
    HubConfig {
        profile,
        domains: vec![D.into()],
        max_message_size: 64,
        max_queue_length: 3,
        connection_timeout_ms: 300,
        ..HubConfig::default()
    }
}

async fn start(c: HubConfig) -> RunningHub {
    RunningHub::start(c, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap()
}

fn client(h: &RunningHub, p: Profile) -> MqClient {
    let k = DidKeyPair::generate(DidMethod::Key).unwrap();
    MqClient::new(&h.url(), p, Arc::new(k), Duration::from_secs(5)).unwrap()
}

const BOTH: [Profile; 2] = [Profile::Rfc130, Profile::Opendsu];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn round_trip_in_both_profiles() {
    for p in BOTH {
        let h = start(cfg(p)).await;
        let rcpt = client(&h, p);
        let sender = client(&h, p);
        let own = rcpt.own_token(D).await.unwrap();
        assert_eq!(own.connection_timeout_ms, Some(300));
        let pt = sender.token(D, &rcpt.hash_did(), None).await.unwrap();
        sender
            .put(D, &rcpt.hash_did(), &pt.token, "hello")
            .await
            .unwrap();
        sender
            .put(D, &rcpt.hash_did(), &pt.token, "second")
            .await
            .unwrap();
        let m = rcpt.get(D, &own.token).await.unwrap().unwrap();
        assert_eq!(m.message, "hello");
        let id = m.message_id.clone().unwrap();
        match p {
            Profile::Rfc130 => assert_eq!(m.sender.as_deref(), Some(sender.did())),
            Profile::Opendsu => assert_eq!(m.sender, None),
        }
        rcpt.delete(D, &own.token, &id).await.unwrap();
        assert!(matches!(
            rcpt.delete(D, &own.token, &id).await,
            Err(MqHubError::NoSuchMessage(_))
        ));
        let t = rcpt.take(D, &own.token, None).await.unwrap().unwrap();
        assert_eq!(t.message, "second");
        assert_eq!(
            rcpt.get(D, &own.token).await.unwrap(),
            None,
            "204 after the timeout"
        );
        // a put token cannot read the recipient's queue; the sender's own queue is empty
        assert!(matches!(
            sender.get(D, &pt.token).await,
            Err(MqHubError::Forbidden(_))
        ));
        // 405 for a domain without MQ
        assert!(matches!(
            rcpt.own_token("other.dom").await,
            Err(MqHubError::MqDisabled(_))
        ));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limits_are_exact() {
    for p in BOTH {
        let h = start(cfg(p)).await;
        let c = client(&h, p);
        let t = c.own_token(D).await.unwrap().token;
        c.put(D, &c.hash_did(), &t, vec![b'a'; 64]).await.unwrap();
        let e = c
            .put(D, &c.hash_did(), &t, vec![b'a'; 65])
            .await
            .unwrap_err();
        assert!(
            matches!(e, MqHubError::Forbidden(ref m) if m.contains("Message size exceeds")),
            "{e}"
        );
        c.put(D, &c.hash_did(), &t, "2").await.unwrap();
        c.put(D, &c.hash_did(), &t, "3").await.unwrap();
        let e = c.put(D, &c.hash_did(), &t, "4").await.unwrap_err();
        assert!(
            matches!(e, MqHubError::Status { status: 500, ref body } if body.contains("Queue size exceeded")),
            "{e}"
        );
        assert_eq!(h.hub.queue_len(D, &c.hash_did()), 3);
        // invalid UTF-8
        let e = c.take(D, &t, None).await.unwrap();
        assert!(e.is_some());
        let e = c
            .put(D, &c.hash_did(), &t, vec![0xff, 0xfe])
            .await
            .unwrap_err();
        assert!(matches!(e, MqHubError::BadRequest(_)), "{e}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn take_is_exactly_once_under_concurrency() {
    for p in BOTH {
        let mut c = cfg(p);
        c.max_queue_length = 100;
        c.connection_timeout_ms = 3_000;
        let h = start(c).await;
        let owner = client(&h, p);
        let t = owner.own_token(D).await.unwrap().token;
        let n = 16;
        let mut tasks = Vec::new();
        for _ in 0..n {
            let (o, t) = (owner.clone(), t.clone());
            tasks.push(tokio::spawn(async move { o.take(D, &t, None).await }));
        }
        assert!(
            h.hub.wait_parked(n, Duration::from_secs(5)).await,
            "timed out waiting for 16 parked takes"
        );
        for i in 0..n {
            owner
                .put(D, &owner.hash_did(), &t, format!("m{i}"))
                .await
                .unwrap();
        }
        let mut got = Vec::new();
        for task in tasks {
            got.push(task.await.unwrap().unwrap().unwrap().message);
        }
        got.sort();
        got.dedup();
        assert_eq!(got.len(), n, "every message delivered exactly once");
        assert_eq!(h.hub.queue_len(D, &owner.hash_did()), 0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn abandoned_take_consumes_nothing() {
    for p in BOTH {
        let mut c = cfg(p);
        c.connection_timeout_ms = 10_000;
        let h = start(c).await;
        let owner = client(&h, p);
        let t = owner.own_token(D).await.unwrap().token;
        let (o, t2) = (owner.clone(), t.clone());
        let parked = tokio::spawn(async move { o.take(D, &t2, None).await });
        assert!(
            h.hub.wait_parked(1, Duration::from_secs(5)).await,
            "timed out waiting for a parked take"
        );
        parked.abort();
        assert!(
            h.hub.wait_parked(0, Duration::from_secs(5)).await,
            "timed out waiting for the abandoned take to leave"
        );
        assert_eq!(h.hub.waiting_queues(), 0, "no trace");
        owner.put(D, &owner.hash_did(), &t, "kept").await.unwrap();
        let m = owner.get(D, &t).await.unwrap().unwrap();
        assert_eq!(m.message, "kept");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_message_wakes_one_parked_get() {
    for p in BOTH {
        let mut c = cfg(p);
        c.connection_timeout_ms = 1_000;
        let h = start(c).await;
        let owner = client(&h, p);
        let t = owner.own_token(D).await.unwrap().token;
        let mut tasks = Vec::new();
        for _ in 0..3 {
            let (o, t) = (owner.clone(), t.clone());
            tasks.push(tokio::spawn(async move { o.get(D, &t).await }));
        }
        assert!(
            h.hub.wait_parked(3, Duration::from_secs(5)).await,
            "timed out waiting for 3 parked gets"
        );
        owner.put(D, &owner.hash_did(), &t, "one").await.unwrap();
        let mut delivered = 0;
        for task in tasks {
            if task.await.unwrap().unwrap().is_some() {
                delivered += 1;
            }
        }
        assert_eq!(delivered, 1);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn durable_store_survives_restart() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = cfg(Profile::Rfc130);
    c.storage = mq_hub::StorageConfig::Durable {
        path: dir.path().join("q.redb"),
    };
    let key = Arc::new(DidKeyPair::generate(DidMethod::Key).unwrap());
    {
        let h = start(c.clone()).await;
        let cl = MqClient::new(
            &h.url(),
            Profile::Rfc130,
            key.clone(),
            Duration::from_secs(5),
        )
        .unwrap();
        let t = cl.own_token(D).await.unwrap().token;
        cl.put(D, &cl.hash_did(), &t, "persisted").await.unwrap();
        let hub = h.hub.clone();
        h.stop().await;
        drop(cl);
        // `stop` returns once every connection task is gone: nothing else holds the hub (and
        // its store file) any more.
        assert_eq!(
            Arc::strong_count(&hub),
            1,
            "the first server released its store"
        );
    }
    let h = start(c).await;
    let cl = MqClient::new(&h.url(), Profile::Rfc130, key, Duration::from_secs(5)).unwrap();
    let t = cl.own_token(D).await.unwrap().token;
    assert_eq!(
        cl.take(D, &t, None).await.unwrap().unwrap().message,
        "persisted"
    );
}

//! The client against a scripted server (wiremock): every status, timeouts, malformed replies.

use std::sync::Arc;
use std::time::Duration;

use mq_hub::{DidKeyPair, DidMethod, MqClient, MqHubError, Profile};
use wiremock::matchers::{header_exists, method, path_regex};
use wiremock::{Mock, MockServer, ResponseTemplate};

async fn setup(p: Profile) -> (MockServer, MqClient) {
    let s = MockServer::start().await;
    let k = DidKeyPair::generate(DidMethod::Key).unwrap();
    let c = MqClient::new(&s.uri(), p, Arc::new(k), Duration::from_millis(500)).unwrap();
    (s, c)
}

#[tokio::test]
async fn token_reply_and_proof_headers() {
    let (s, c) = setup(Profile::Opendsu).await;
    Mock::given(method("GET"))
        .and(path_regex("^/mq/d/[1-9A-HJ-NP-Za-km-z]+/token$"))
        .and(header_exists("x-mq-did"))
        .and(header_exists("x-mq-did-proof"))
        .and(header_exists("x-mq-did-timestamp"))
        .respond_with(
            ResponseTemplate::new(200)
                .insert_header("connection-timeout", "10000")
                .set_body_string(r#"{"token":"abc","expires":1667925722000}"#),
        )
        .expect(1)
        .mount(&s)
        .await;
    let t = c.own_token("d").await.unwrap();
    assert_eq!(t.token, "abc");
    assert_eq!(t.expires_ms, 1_667_925_722_000);
    assert_eq!(t.connection_timeout_ms, Some(10_000));
}

#[tokio::test]
async fn malformed_token_replies() {
    for body in [
        "",
        "{}",
        r#"{"token":"","expires":1}"#,
        r#"{"token":5,"expires":1}"#,
        "<html>",
    ] {
        let (s, c) = setup(Profile::Rfc130).await;
        Mock::given(method("GET"))
            .respond_with(ResponseTemplate::new(200).set_body_string(body))
            .mount(&s)
            .await;
        let e = c.own_token("d").await.unwrap_err();
        assert!(matches!(e, MqHubError::MalformedReply(_)), "{body:?}: {e}");
    }
}

#[tokio::test]
async fn each_status_is_a_typed_error() {
    type Check = fn(&MqHubError) -> bool;
    let cases: Vec<(u16, Check)> = vec![
        (
            403,
            |e| matches!(e, MqHubError::Forbidden(m) if m == "nope"),
        ),
        (405, |e| matches!(e, MqHubError::MqDisabled(d) if d == "d")),
        (404, |e| matches!(e, MqHubError::NoSuchMessage(_))),
        (400, |e| matches!(e, MqHubError::BadRequest(_))),
        (
            500,
            |e| matches!(e, MqHubError::Status { status: 500, body } if body == "nope"),
        ),
        (503, |e| matches!(e, MqHubError::Status { status: 503, .. })),
        (302, |e| matches!(e, MqHubError::Status { status: 302, .. })),
    ];
    for (status, check) in cases {
        let (s, c) = setup(Profile::Rfc130).await;
        Mock::given(wiremock::matchers::any())
            .respond_with(ResponseTemplate::new(status).set_body_string("nope"))
            .mount(&s)
            .await;
        let h = c.hash_did();
        let results = [
            c.own_token("d").await.map(|_| ()),
            c.put("d", &h, "t", "m").await,
            c.get("d", "t").await.map(|_| ()),
            c.take("d", "t", None).await.map(|_| ()),
            c.take("d", "t", Some("1_a")).await.map(|_| ()),
            c.delete("d", "t", "1_a").await,
        ];
        for r in results {
            let e = r.unwrap_err();
            assert!(check(&e), "status {status}: {e}");
        }
    }
}

#[tokio::test]
async fn get_200_204_and_malformed_messages() {
    let (s, c) = setup(Profile::Opendsu).await;
    Mock::given(method("GET"))
        .and(path_regex("^/mq/d/get/"))
        .and(header_exists("x-mq-authorization"))
        .respond_with(
            ResponseTemplate::new(200).set_body_string(r#"{"message":"hi","messageId":"7_x"}"#),
        )
        .up_to_n_times(1)
        .mount(&s)
        .await;
    let m = c.get("d", "t").await.unwrap().unwrap();
    assert_eq!(
        (m.message.as_str(), m.message_id.as_deref()),
        ("hi", Some("7_x"))
    );
    Mock::given(method("GET"))
        .and(path_regex("^/mq/d/get/"))
        .respond_with(ResponseTemplate::new(204))
        .up_to_n_times(1)
        .mount(&s)
        .await;
    assert_eq!(c.get("d", "t").await.unwrap(), None);
    // apihub defect 8: 200 with an empty body is not a message
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&s)
        .await;
    assert!(matches!(
        c.get("d", "t").await,
        Err(MqHubError::MalformedReply(_))
    ));
    assert!(matches!(
        c.take("d", "t", None).await,
        Err(MqHubError::MalformedReply(_))
    ));
    assert!(matches!(
        c.take("d", "t", Some("x")).await,
        Err(MqHubError::Config(_))
    ));
}

#[tokio::test]
async fn slow_server_is_a_timeout() {
    let (s, c) = setup(Profile::Rfc130).await;
    Mock::given(wiremock::matchers::any())
        .respond_with(ResponseTemplate::new(204).set_delay(Duration::from_secs(3)))
        .mount(&s)
        .await;
    let e = c.get("d", "t").await.unwrap_err();
    assert!(
        matches!(e, MqHubError::Timeout(d) if d == Duration::from_millis(500)),
        "{e}"
    );
}

#[tokio::test]
async fn unreachable_server_is_a_transport_error() {
    let k = DidKeyPair::generate(DidMethod::Key).unwrap();
    // bind and drop: nothing listens on this loopback port afterwards
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let c = MqClient::new(
        &format!("http://127.0.0.1:{port}"),
        Profile::Rfc130,
        Arc::new(k),
        Duration::from_secs(2),
    )
    .unwrap();
    assert!(matches!(
        c.own_token("d").await,
        Err(MqHubError::Transport(_))
    ));
    assert!(
        MqClient::new(
            "ftp://x",
            Profile::Rfc130,
            Arc::new(DidKeyPair::generate(DidMethod::Key).unwrap()),
            Duration::from_secs(1)
        )
        .is_err()
    );
}

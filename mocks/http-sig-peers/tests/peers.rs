//! The two peers over real loopback HTTP: the upstream judges what arrives and lists its
//! verdicts; the verifier service answers 200 / 401 with its decision as JSON.

use std::time::Duration;

use axum::http::StatusCode;
use http_sig::{HeaderSelection, HttpMessage, Key, KeyConfig, ProfileConfig, SigningProfile};
use mock_http_sig_peers::{
    LiveError, Reply, SignerExpectations, SignerRule, Upstream, UpstreamConfig, VERDICTS_PATH,
    VerifierConfig, VerifierService,
};

const SECRET: &str = "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LTEyMzQ=";

fn profile() -> ProfileConfig {
    ProfileConfig {
        key: KeyConfig {
            file: None,
            inline: Some(SECRET.into()),
            id: Some("gw".into()),
        },
        algorithm: Some("hmac-sha256".into()),
        // reqwest adds `accept: */*` after signing, as a gateway's HTTP client may.
        headers: HeaderSelection {
            include: None,
            exclude: vec!["accept".into()],
        },
        derived_components: vec![http_sig::DerivedComponent::RequestTarget],
        signature_parameters: vec![],
        expiry: None,
    }
}

fn key() -> Key {
    Key::from_bytes(SECRET.as_bytes()).unwrap()
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

/// Send `m` (whose target is origin-form) to `base` with its headers as they are.
async fn send(c: &reqwest::Client, base: &str, m: &HttpMessage) -> reqwest::Response {
    let rl = m.request_line().unwrap();
    let mut req = c.request(
        reqwest::Method::from_bytes(rl.method.as_bytes()).unwrap(),
        format!("{base}{}", rl.target),
    );
    for (n, v) in &m.headers {
        req = req.header(n.as_str(), v.as_str());
    }
    req.body(m.body.clone()).send().await.unwrap()
}

#[tokio::test]
async fn the_upstream_judges_every_request_and_lists_the_verdicts() {
    let exp = SignerExpectations::new(&profile(), key(), None).unwrap();
    let reply = Reply {
        status: StatusCode::ACCEPTED,
        content_type: "text/plain".into(),
        body: b"thanks".to_vec(),
    };
    let up = Upstream::start_with(
        ([127, 0, 0, 1], 0).into(),
        UpstreamConfig {
            reply,
            ..UpstreamConfig::new(exp)
        },
    )
    .await
    .unwrap();
    let authority = up.addr().to_string();
    let c = client();

    let mut signed = HttpMessage::request("GET", "/a?b=1", "http", Some(&authority));
    signed.append_header("x-tenant", "t1");
    SigningProfile::from_config(&profile(), None)
        .unwrap()
        .sign(&mut signed, mock_http_sig_peers::unix_now())
        .unwrap();
    let res = send(&c, &up.url(), &signed).await;
    assert_eq!(res.status(), 202);
    assert_eq!(res.text().await.unwrap(), "thanks");
    let unsigned = HttpMessage::request("GET", "/plain", "http", Some(&authority));
    send(&c, &up.url(), &unsigned).await;

    let (verdicts, reached) = up.wait_for(2, Duration::from_secs(10)).await;
    assert!(reached);
    assert!(verdicts[0].failed().is_empty(), "{:?}", verdicts[0]);
    assert_eq!(
        verdicts[1].failed(),
        vec![SignerRule::SignaturePresent, SignerRule::SignatureVerifies]
    );
    // The listing is not judged itself, and names rules by their kebab-case variant.
    let listed: serde_json::Value = c
        .get(format!("{}{VERDICTS_PATH}", up.url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed["judged"], 2);
    assert_eq!(listed["dropped"], 0);
    assert!(listed.get("note").is_none(), "{listed}");
    let listed = &listed["verdicts"];
    assert_eq!(listed.as_array().unwrap().len(), 2);
    assert_eq!(listed[1]["request"], "GET /plain");
    assert_eq!(listed[1]["rules"][0][0], "signature-present");
    assert_eq!(listed[1]["rules"][0][1]["status"], "fail");
    assert_eq!(up.verdicts().len(), 2);
}

#[tokio::test(start_paused = true)]
async fn waiting_for_more_requests_than_arrive_ends_at_the_bound() {
    let exp = SignerExpectations::new(&profile(), key(), None).unwrap();
    let up = Upstream::start(([127, 0, 0, 1], 0).into(), exp, Reply::default())
        .await
        .unwrap();
    let (verdicts, reached) = up.wait_for(1, Duration::from_secs(30)).await;
    assert!(!reached);
    assert!(verdicts.is_empty());
}

#[tokio::test]
async fn the_verifier_service_answers_with_its_decision() {
    let mut cfg = VerifierConfig::new(key());
    cfg.keyids = vec!["k1".into()];
    let svc = VerifierService::start(([127, 0, 0, 1], 0).into(), cfg)
        .await
        .unwrap();
    let authority = svc.addr().to_string();
    let c = client();

    let mut m = HttpMessage::request("GET", "/r", "http", Some(&authority));
    let mut p = http_sig::SignatureParams::new(vec![
        http_sig::ComponentId::new("@method").unwrap(),
        http_sig::ComponentId::new("@authority").unwrap(),
    ]);
    p.set_created(mock_http_sig_peers::unix_now() as i64)
        .unwrap();
    p.set_keyid("k1").unwrap();
    http_sig::Signer::new(key(), None)
        .unwrap()
        .sign_message(&mut m, None, "sig", &p)
        .unwrap();
    let res = send(&c, &svc.url(), &m).await;
    assert_eq!(res.status(), 200);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(
        body,
        serde_json::json!({"verified": true, "label": "sig", "keyid": "k1"})
    );

    let unsigned = HttpMessage::request("GET", "/r", "http", Some(&authority));
    let res = send(&c, &svc.url(), &unsigned).await;
    assert_eq!(res.status(), 401);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["verified"], false);
    assert_eq!(body["error"], "signature_not_found");
}

#[tokio::test]
async fn only_loopback_addresses_are_served() {
    let exp = SignerExpectations::new(&profile(), key(), None).unwrap();
    let e = Upstream::start(([192, 0, 2, 1], 0).into(), exp, Reply::default())
        .await
        .err()
        .unwrap();
    assert!(matches!(e, LiveError::NotLoopback(_)), "{e}");
    let e = VerifierService::start(([0, 0, 0, 0], 0).into(), VerifierConfig::new(key()))
        .await
        .err()
        .unwrap();
    assert!(e.to_string().contains("only loopback"), "{e}");
}

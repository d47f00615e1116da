//! MQ Hub HTTP routes in both dialects, in process: fuzz-made requests (method, path, headers,
//! body) go through the hub's axum router (`mq_hub::router`, the service its server runs). In the
//! text, `{H}` stands for a real holder's hashDID, `{T}` for a token the hub issued to it, `{S}`
//! for its signatureOfDid of that token, so the fuzzer reaches the code behind authentication.
//! No silent success: a 2xx answer needs the real token, and the queue of a 2xx answer is the
//! holder's; every answer arrives within a bound; a 5xx is only "queue full" or "too many
//! waiting requests".
#![no_main]

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::body::Body;
use http::{Request, StatusCode};
use libfuzzer_sys::fuzz_target;
use mq_hub::did::{DidKeyPair, DidMethod};
use mq_hub::token::proof_message;
use mq_hub::{Hub, HubConfig, Profile, router};
use tower_service::Service;

struct Fixture {
    app: axum::Router,
    hash: String,
    token: String,
    sig: String,
}

const BOUND: Duration = Duration::from_secs(5);

fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime")
    })
}

async fn call(app: &axum::Router, req: Request<Body>) -> (StatusCode, Vec<u8>) {
    let mut svc = app.clone();
    let resp = tokio::time::timeout(BOUND, svc.call(req))
        .await
        .expect("the hub answers within 5 s")
        .expect("infallible");
    let status = resp.status();
    let body = tokio::time::timeout(BOUND, axum::body::to_bytes(resp.into_body(), 1 << 20))
        .await
        .expect("the body arrives within 5 s")
        .expect("a body under 1 MiB");
    (status, body.to_vec())
}

fn fixtures() -> &'static [Fixture; 2] {
    static F: OnceLock<[Fixture; 2]> = OnceLock::new();
    F.get_or_init(|| {
        let make = |profile: Profile| {
            let cfg = HubConfig {
                profile,
                domains: vec!["default".into()],
                max_message_size: 256,
                max_queue_length: 16,
                connection_timeout_ms: 1,
                max_parked: 8,
                header_read_timeout_ms: 1000,
                body_read_timeout_ms: 1000,
                ..HubConfig::default()
            };
            let app = router(Arc::new(Hub::new(cfg).expect("hub")));
            let holder = DidKeyPair::generate(DidMethod::Key).expect("holder");
            let hash = holder.hash_did();
            let ts = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .expect("clock")
                .as_secs();
            let proof = mq_hub::codec::hex_encode(
                &holder.sign(proof_message("default", &hash, ts).as_bytes()),
            );
            let req = Request::get(format!("/mq/default/{hash}/token"))
                .header("x-mq-did", holder.did())
                .header("x-mq-did-timestamp", ts.to_string())
                .header("x-mq-did-proof", proof)
                .body(Body::empty())
                .expect("request");
            let (status, body) = runtime().block_on(call(&app, req));
            assert_eq!(
                status,
                StatusCode::OK,
                "token: {}",
                String::from_utf8_lossy(&body)
            );
            let v: serde_json::Value = serde_json::from_slice(&body).expect("token JSON");
            let token = v["token"].as_str().expect("token").to_string();
            let sig = holder.signature_of_did(&token);
            Fixture {
                app,
                hash,
                token,
                sig,
            }
        };
        [make(Profile::Rfc130), make(Profile::Opendsu)]
    })
}

const METHODS: [&str; 6] = ["GET", "PUT", "DELETE", "POST", "HEAD", "OPTIONS"];

fuzz_target!(|data: &[u8]| {
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    let fx = &fixtures()[usize::from(sel & 1)];
    let method = METHODS[usize::from(sel >> 1) % METHODS.len()];
    let text = String::from_utf8_lossy(rest);
    let (head, body) = text.split_once("\n\n").unwrap_or((&text, ""));
    let mut lines = head.split('\n');
    let fill = |s: &str| {
        s.replace("{H}", &fx.hash)
            .replace("{T}", &fx.token)
            .replace("{S}", &fx.sig)
    };
    let path = fill(lines.next().unwrap_or("/"));
    let mut b = Request::builder().method(method).uri(path.as_str());
    let mut real_token = false;
    for l in lines {
        let Some((n, v)) = l.split_once(':') else {
            continue;
        };
        let v = fill(v.trim());
        real_token |= v.contains(&fx.token);
        b = b.header(n.trim(), v);
    }
    let Ok(req) = b.body(Body::from(body.as_bytes().to_vec())) else {
        return;
    };
    let (status, resp) = runtime().block_on(call(&fx.app, req));
    let resp = String::from_utf8_lossy(&resp);
    if status.is_success() {
        assert!(
            real_token,
            "{method} {path}: {status} without the issued token: {resp}"
        );
        assert!(
            path.contains(&fx.hash),
            "{method} {path}: {status} for another queue: {resp}"
        );
    }
    if status.is_server_error() {
        assert!(
            resp.contains("Queue size exceeded") || resp.contains("too many waiting requests"),
            "{method} {path}: {status}: {resp}"
        );
    }
});

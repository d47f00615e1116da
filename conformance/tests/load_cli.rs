//! `sigharness load` end to end: the built binary against our reference targets (every reply
//! must be right) and against a deliberately wrong one (the run must fail, naming exactly the
//! kinds the target gets wrong). Short schedules (1 s), loopback only.

#[allow(dead_code)] // the mimic's defect switches are the apihub suite test's
mod apihub_mimic;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Output;

use sigharness::load::trivial::Trivial;
use sigharness_report::load::{LOAD_SCHEMA_VERSION, LoadReport};

async fn run(args: Vec<String>) -> Output {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_sigharness"))
        .arg("load")
        .args(args)
        .kill_on_drop(true)
        .output()
        .await
        .expect("run sigharness")
}

fn args(list: &[&str], out: &Path) -> Vec<String> {
    let mut v: Vec<String> = list.iter().map(|s| s.to_string()).collect();
    v.extend(["--out".into(), out.display().to_string(), "--quiet".into()]);
    v
}

fn report(out: &Path) -> LoadReport {
    let text = std::fs::read_to_string(out.join("load.json")).expect("load.json written");
    serde_json::from_str(&text).expect("load.json parses as LoadReport")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Run `sigharness load LIST` (quiet, into a fresh directory), check it exits `want`, and return
/// its load.json, its stderr and the directory it wrote.
async fn load(list: &[&str], want: i32) -> (LoadReport, String, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let o = run(args(list, dir.path())).await;
    assert_eq!(o.status.code(), Some(want), "{list:?}: {}", stderr(&o));
    (report(dir.path()), stderr(&o), dir)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_sig_verifier_load_against_ours_judges_every_reply_right() {
    let (r, _, dir) = load(
        &[
            "http-sig-verifier",
            "--rate",
            "300",
            "--duration",
            "1s",
            "--calibrate",
            "300ms",
        ],
        0,
    )
    .await;
    assert_eq!(r.schema_version, LOAD_SCHEMA_VERSION);
    assert_eq!(r.protocol, "http-sig-verifier");
    assert_eq!(r.target, "ours");
    assert_eq!(r.totals.scheduled, 300);
    assert_eq!(r.totals.sent, 300);
    assert_eq!(r.totals.ok, 300, "{:?}", r.totals);
    assert_eq!(r.totals.wrong + r.totals.errors + r.totals.unsent, 0);
    assert!(r.passed, "{}", r.verdict);
    // every live row of the suite is in the mix (ours declares its required component)
    assert_eq!(r.kinds.len(), 12, "{:?}", r.kinds);
    assert!(r.kinds.iter().all(|k| k.sent > 0 && k.ok == k.sent));
    assert!(
        r.calibration
            .as_ref()
            .is_some_and(|c| c.ceiling_per_s > 0.0)
    );
    assert!(r.latency_us.p50 > 0 && r.latency_us.p99 >= r.latency_us.p50);
    let md = std::fs::read_to_string(dir.path().join("load.md")).unwrap();
    assert!(md.contains("| valid-accepted | is accepted |"), "{md}");
    let svg = std::fs::read_to_string(dir.path().join("load.svg")).unwrap();
    assert!(
        svg.starts_with("<svg") && svg.contains("<polyline"),
        "{svg}"
    );
}

/// A "verifier" that accepts everything (the trivial target answers 200 to any request): every
/// kind that must be rejected is wrong, and only those.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_verifier_that_accepts_everything_fails_exactly_the_rejected_kinds() {
    let yes_man = Trivial::start(16).await.unwrap();
    let key = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../harness/http-sig/tests/data/test-key-ed25519.pem"
    );
    let (r, err, _) = load(
        &[
            "http-sig-verifier",
            "--verifier-url",
            yes_man.url(),
            "--set",
            &format!("signing_key={key}"),
            "--rate",
            "200",
            "--duration",
            "1s",
            "--calibrate",
            "0s",
        ],
        1,
    )
    .await;
    // without --set required_components the row that needs them is left out, and said so
    assert!(
        err.contains("left out of the mix: live/missing-required-component-rejected"),
        "{err}"
    );
    assert!(!r.passed);
    let wrong: BTreeSet<&str> = r
        .kinds
        .iter()
        .filter(|k| k.wrong > 0)
        .map(|k| k.kind.as_str())
        .collect();
    let must_reject: BTreeSet<&str> = r
        .kinds
        .iter()
        .filter(|k| k.kind != "valid-accepted" && k.kind != "body-with-content-digest-accepted")
        .map(|k| k.kind.as_str())
        .collect();
    assert_eq!(wrong, must_reject);
    // every arrival of those kinds is wrong; the accepted kinds are right
    for k in &r.kinds {
        if must_reject.contains(k.kind.as_str()) {
            assert_eq!(k.wrong, k.sent, "{k:?}");
        } else {
            assert_eq!(k.ok, k.sent, "{k:?}");
        }
    }
    assert!(r.verdict.contains("wrong replies"), "{}", r.verdict);
    // evidence: the first few of each wrong kind, with the request and the section
    let expired = r
        .wrong
        .iter()
        .find(|w| w.kind == "expired-rejected")
        .expect("evidence kept for expired-rejected");
    assert!(
        expired
            .summary
            .contains("HTTP 200 (Accepted); RFC 9421 §3.2.1 requires rejected"),
        "{}",
        expired.summary
    );
    assert!(
        expired
            .detail
            .iter()
            .any(|l| l.starts_with("request sent:")),
        "{:?}",
        expired.detail
    );
    assert!(r.calibration.is_none());
    assert!(r.generator_note.starts_with("not calibrated"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_plans_are_refused_before_anything_is_sent() {
    let dir = tempfile::tempdir().unwrap();
    for (extra, want) in [
        (vec!["--rate", "0"], "--rate 0"),
        (vec!["--concurrency", "0"], "--concurrency 0"),
        (
            vec!["--ramp", "20s"],
            "--ramp 20s is longer than --duration 10s",
        ),
        (vec!["--mix", "nope=1"], "--mix: unknown kind \"nope\""),
        (vec!["--set", "nope=1"], "unknown --set key \"nope\""),
    ] {
        let mut a = vec!["http-sig-verifier", "--calibrate", "0s"];
        a.extend(extra);
        let o = run(args(&a, dir.path())).await;
        assert_eq!(o.status.code(), Some(2), "{a:?}: {}", stderr(&o));
        assert!(stderr(&o).contains(want), "{a:?}: {}", stderr(&o));
    }
}

/// A hub in front of ours with two departures: every 7th put is answered 200 and dropped (lost),
/// and every 5th message taken is put back after the take (delivered twice).
mod faulty_hub {
    use std::collections::HashMap;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::{Arc, Mutex};

    use axum::Router;
    use axum::body::{Body, Bytes};
    use axum::extract::State;
    use axum::http::{HeaderMap, Method, StatusCode, Uri};
    use axum::response::{IntoResponse, Response};

    struct Proxy {
        upstream: String,
        http: reqwest::Client,
        puts: AtomicU64,
        takes: AtomicU64,
        /// body -> (path, headers) of its put, to put it again
        sent: Mutex<HashMap<String, (String, HeaderMap)>>,
    }

    async fn forward(
        p: &Proxy,
        method: Method,
        path: &str,
        headers: &HeaderMap,
        body: Bytes,
    ) -> Result<(StatusCode, HeaderMap, Bytes), StatusCode> {
        let mut rb = p.http.request(method, format!("{}{path}", p.upstream));
        for (k, v) in headers {
            if k != "host" && k != "content-length" {
                rb = rb.header(k, v);
            }
        }
        let r = rb
            .body(body)
            .send()
            .await
            .map_err(|_| StatusCode::BAD_GATEWAY)?;
        let status = r.status();
        let h = r.headers().clone();
        let b = r.bytes().await.map_err(|_| StatusCode::BAD_GATEWAY)?;
        Ok((status, h, b))
    }

    async fn handle(
        State(p): State<Arc<Proxy>>,
        method: Method,
        uri: Uri,
        headers: HeaderMap,
        body: Bytes,
    ) -> Response {
        let path = uri
            .path_and_query()
            .map(|x| x.as_str().to_string())
            .unwrap_or_default();
        if method == Method::PUT && path.contains("/put/") {
            if p.puts.fetch_add(1, Ordering::Relaxed) % 7 == 6 {
                return StatusCode::OK.into_response();
            }
            p.sent.lock().unwrap().insert(
                String::from_utf8_lossy(&body).into_owned(),
                (path.clone(), headers.clone()),
            );
        }
        let (status, h, b) = match forward(&p, method.clone(), &path, &headers, body).await {
            Ok(x) => x,
            Err(s) => return s.into_response(),
        };
        if status == StatusCode::OK
            && path.contains("/take/")
            && p.takes.fetch_add(1, Ordering::Relaxed) % 5 == 4
        {
            let v: serde_json::Value = serde_json::from_slice(&b).unwrap_or_default();
            let msg = v["message"].as_str().unwrap_or_default().to_string();
            let again = p.sent.lock().unwrap().get(&msg).cloned();
            if let Some((put_path, put_headers)) = again {
                let _ = forward(&p, Method::PUT, &put_path, &put_headers, Bytes::from(msg)).await;
            }
        }
        let mut res = Response::builder().status(status);
        for (k, v) in &h {
            if k != "content-length" && k != "transfer-encoding" && k != "connection" {
                res = res.header(k, v);
            }
        }
        res.body(Body::from(b)).unwrap()
    }

    /// Serve on loopback in front of `upstream`; stops with the returned sender.
    pub async fn start(upstream: String) -> (String, tokio::sync::oneshot::Sender<()>) {
        let p = Arc::new(Proxy {
            upstream,
            http: reqwest::Client::builder().no_proxy().build().unwrap(),
            puts: AtomicU64::new(0),
            takes: AtomicU64::new(0),
            sent: Mutex::default(),
        });
        let app = Router::new().fallback(handle).with_state(p);
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
            .await
            .unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await
                .unwrap();
        });
        (url, tx)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mq_hub_load_against_ours_takes_every_message_once() {
    let (r, _, _) = load(
        &[
            "mq-hub",
            "--rate",
            "400",
            "--duration",
            "1s",
            "--calibrate",
            "300ms",
        ],
        0,
    )
    .await;
    assert_eq!(r.protocol, "mq-hub");
    assert_eq!(r.target, "ours (memory)");
    assert_eq!(r.totals.scheduled, 400);
    assert_eq!(r.totals.ok, 400, "{:?}", r.totals);
    assert!(r.passed, "{}", r.verdict);
    assert_eq!(r.kinds[0].kind, "put-then-take");
    assert!(r.kinds.iter().all(|k| k.wrong == 0), "{:?}", r.kinds);
}

/// Loss and duplication are found, each named, and fail the run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hub_that_loses_and_duplicates_messages_fails_with_both_named() {
    let hub = mq_hub::RunningHub::start(
        mq_hub::HubConfig {
            domains: vec!["load.test".into()],
            connection_timeout_ms: 500,
            ..mq_hub::HubConfig::default()
        },
        "127.0.0.1:0".parse().unwrap(),
    )
    .await
    .unwrap();
    let (url, _stop) = faulty_hub::start(hub.url()).await;
    let (r, _, _) = load(
        &[
            "mq-hub",
            "--mq-hub-url",
            &url,
            "--profile",
            "rfc130",
            "--set",
            "domain=load.test",
            "--set",
            "connection_timeout_ms=500",
            "--queues",
            "2",
            "--rate",
            "140",
            "--duration",
            "1s",
            "--timeout",
            "1s",
            "--calibrate",
            "0s",
        ],
        1,
    )
    .await;
    assert!(!r.passed);
    // 140 puts: 20 dropped (lost: their arrivals time out, and the drain reports them); of the
    // 120 forwarded, every 5th take is put back (taken twice)
    assert_eq!(
        r.totals.errors_by_kind.get("timeout"),
        Some(&20),
        "{:?}",
        r.totals
    );
    let wrong_of = |k: &str| r.kinds.iter().find(|x| x.kind == k).map(|x| x.wrong);
    assert_eq!(wrong_of("never-taken"), Some(20), "{:?}", r.kinds);
    assert!(
        wrong_of("taken-twice").is_some_and(|n| n >= 20),
        "{:?}",
        r.kinds
    );
    // each departure is its own kind: nothing else is wrong
    assert_eq!(wrong_of("put-then-take"), Some(0), "{:?}", r.kinds);
    assert_eq!(wrong_of("taken-unacknowledged"), Some(0), "{:?}", r.kinds);
    assert_eq!(wrong_of("stranger"), Some(0), "{:?}", r.kinds);
    assert_eq!(wrong_of("mangled"), Some(0), "{:?}", r.kinds);
    assert_eq!(wrong_of("malformed-take"), Some(0), "{:?}", r.kinds);
    // the arrivals: 20 errors (their message never came), no wrong reply; findings beside them
    assert_eq!(r.totals.wrong, 0, "{:?}", r.totals);
    assert!(r.totals.findings >= 40, "{:?}", r.totals);
    assert!(
        r.wrong
            .iter()
            .any(|w| w.kind == "never-taken"
                && w.summary.contains("answered 204 after the run (lost)")),
        "{:?}",
        r.wrong
    );
    assert!(
        r.verdict.contains("never-taken (20 wrong)"),
        "{}",
        r.verdict
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn msg_signer_load_against_ours_judges_every_reply_right() {
    let (r, _, _) = load(
        &[
            "msg-signer",
            "--rate",
            "200",
            "--duration",
            "1s",
            "--calibrate",
            "300ms",
        ],
        0,
    )
    .await;
    assert_eq!(r.protocol, "msg-signer");
    assert_eq!(r.totals.ok, 200, "{:?}", r.totals);
    let names: Vec<&str> = r.kinds.iter().map(|k| k.kind.as_str()).collect();
    assert_eq!(
        names,
        ["container", "clear", "blob", "batch", "uncorrelated"]
    );
    // the signatures were verified (our mock's public key): the checks name the signature cases
    assert!(
        r.kinds[0].expect.contains("signature/claim-signed-by-key"),
        "{}",
        r.kinds[0].expect
    );
    assert!(r.passed, "{}", r.verdict);
}

/// One departure of the signing server, judged under load: exactly the kinds whose suite cases
/// isolate it are wrong, named by the failing case.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signing_server_with_one_fault_fails_exactly_its_kinds_under_load() {
    for (plan, wrong_kinds, case) in [
        (
            "rules: [{action: stale_claim}]",
            &["container"][..],
            "signature/claim-names-digest-and-reference",
        ),
        (
            "rules: [{action: sign_other_bytes}]",
            &["clear", "blob"][..],
            "signature/",
        ),
    ] {
        let r = drive_signer(plan, 80.0, 1, std::time::Duration::from_secs(5)).await;
        let wrong: Vec<&str> = r
            .kinds
            .iter()
            .filter(|k| k.wrong > 0)
            .map(|k| k.kind.as_str())
            .collect();
        assert_eq!(wrong, wrong_kinds, "{:?}", r.kinds);
        for k in &r.kinds {
            if wrong_kinds.contains(&k.kind.as_str()) {
                assert_eq!(k.wrong, k.sent, "{k:?}");
            }
        }
        assert_eq!(r.totals.errors, 0, "{:?}", r.totals);
        assert!(
            r.wrong.iter().all(|w| w.summary.contains(case)),
            "{:?}",
            r.wrong
        );
    }
}

/// The deployed dialect (OpenDSU apihub, `opendsu` profile: x-mq-authorization, take without a
/// message id, a take that never times out) through the mimic of tests/apihub_mimic with every
/// defect off: the load speaks it, and every message is taken once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mq_hub_load_speaks_the_apihub_dialect() {
    let mimic = apihub_mimic::start(apihub_mimic::MimicConfig {
        domain: "load.test".into(),
        max_message_size: 10_240,
        max_queue_length: 10_000,
        connection_timeout_ms: 500,
        defects: apihub_mimic::Defects::none(),
        api_key: None,
        token_header: "x-mq-authorization",
    })
    .await;
    let (r, _, _) = load(
        &[
            "mq-hub",
            "--mq-hub-url",
            &mimic.url,
            "--profile",
            "opendsu",
            "--set",
            "domain=load.test",
            "--queues",
            "4",
            "--rate",
            "200",
            "--duration",
            "1s",
            "--calibrate",
            "0s",
        ],
        0,
    )
    .await;
    assert_eq!(r.totals.ok, 200, "{:?}", r.totals);
    assert!(r.kinds.iter().all(|k| k.wrong == 0), "{:?}", r.kinds);
}

/// A reply that comes after its arrival timed out is still judged (by its kind's checks): here
/// the first three replies come 1.5 s late (timeout 1 s): three timeouts, three late replies
/// judged right, nothing wrong.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn msg_signer_late_replies_are_judged_after_the_run() {
    let r = drive_signer(
        "rules: [{action: {delay: 1500ms}, times: 3}]",
        40.0,
        2,
        std::time::Duration::from_secs(1),
    )
    .await;
    assert_eq!(
        r.totals.errors_by_kind.get("timeout"),
        Some(&3),
        "{:?}",
        r.totals
    );
    assert_eq!(r.totals.wrong + r.totals.findings, 0, "{:?}", r.wrong);
    assert_eq!(
        r.totals
            .notes
            .get("late replies (their arrival had timed out), judged right"),
        Some(&3),
        "{:?}",
        r.totals.notes
    );
}

/// Our mock signing server with fault plan `plan` (YAML), driven in process at `rate`/s for
/// `secs` s, every kind of the mix equally weighted.
async fn drive_signer(
    plan: &str,
    rate: f64,
    secs: u64,
    timeout: std::time::Duration,
) -> sigharness::load::engine::Recording {
    use sigharness::load::engine::{Plan, drive};
    use sigharness::load::msg_signer::{SignerLoad, kinds};
    use sigharness::load::schedule::Schedule;
    use sigharness::suites::msg_signer::server::ServerCtx;
    use std::sync::Arc;
    use std::time::Duration;

    let plan = mock_signing_server::fault::plan_from_str(plan, "plan").unwrap();
    let ctx = ServerCtx::embedded(plan).await.unwrap();
    let ks = kinds();
    let n = ks.len();
    let w = SignerLoad::start(Arc::new(ctx), ks, &vec![1; n], true)
        .await
        .unwrap();
    drive(
        Plan {
            schedule: Schedule::new(rate, Duration::from_secs(secs), Duration::ZERO).unwrap(),
            concurrency: 16,
            timeout,
        },
        w,
        None,
    )
    .await
}

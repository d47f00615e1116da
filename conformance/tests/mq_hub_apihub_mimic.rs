//! The `mq-hub` suite against a mimic of the deployed apihub (tests/apihub_mimic: apihub's token
//! format, routes and statuses, each of the eight defects of ../shared/notes/mq-hub-reality.md
//! switchable): with every defect off no MUST case fails (the SHOULD failures are the dialect's
//! documented departures, pinned), and with each defect on alone exactly that defect's cases
//! fail (pinned).

mod apihub_mimic;

use std::collections::{BTreeMap, BTreeSet};

use apihub_mimic::{Defects, MimicConfig};
use sigharness::runner::{Event, Events, Selection, Suite, SuiteOptions};
use sigharness::suites::mq_hub::MqHubSuite;
use sigharness_report::{Level, Verdict};

const P: &str = "mq-hub/opendsu/";

/// The SHOULD cases apihub's dialect fails with every defect fixed, and why.
const DIALECT: &[(&str, &str)] = &[
    (
        "token/mq-disabled-405",
        "the token route does not check the domain (200)",
    ),
    (
        "token/malformed-hashdid",
        "a token for any path segment (200)",
    ),
    (
        "put/invalid-utf8",
        "the raw body is stored, whatever its bytes",
    ),
    ("take/empty-queue-204", "take never times out"),
];

/// The cases each defect fails (MUST and SHOULD), by defect number.
fn defect_cases(n: usize) -> &'static [&'static str] {
    match n {
        1 => &[
            "get/wrong-did-signature-403",
            "get/malformed-signature",
            "get/signature-over-other-data-403",
            "get/put-token-cannot-read-403",
            "delete/wrong-did-signature-403",
            "take/wrong-did-signature-403",
        ],
        2 => &[
            "token/requires-holder-proof",
            "token/proof-by-wrong-key",
            "token/stale-proof",
        ],
        // a self-minted token cannot read while signatureOfDid is checked: see the 1+3 run
        3 => &["put/self-minted-token-403"],
        4 => &["put/token-for-other-queue-403", "paths/bad-hashdid"],
        5 => &["put/queue-limit-exact"],
        6 => &["get/one-message-wakes-one-getter"],
        7 => &["take/abandoned-consumes-nothing"],
        8 => &["get/race-with-delete"],
        _ => &[],
    }
}

/// Every case that does not pass, with its level.
async fn not_passing(defects: Defects) -> BTreeMap<String, (Verdict, Level)> {
    run(defects, None, false).await.0
}

/// Run the suite against a mimic; `api_key`: the mimic's other token protocol, `token_cmd`:
/// get the tokens through it. Returns the cases not passing and the skipped ones.
async fn run(
    defects: Defects,
    api_key: Option<&str>,
    token_cmd: bool,
) -> (BTreeMap<String, (Verdict, Level)>, BTreeSet<String>) {
    let mimic = apihub_mimic::start(MimicConfig {
        domain: "suite.test".into(),
        max_message_size: 1024,
        max_queue_length: 5,
        connection_timeout_ms: 300,
        defects,
        api_key: api_key.map(str::to_string),
        // the other protocol is also an older apihub: the token in `authorization`
        token_header: if api_key.is_some() {
            "authorization"
        } else {
            "x-mq-authorization"
        },
    })
    .await;
    let mut settings: BTreeMap<String, String> = [
        ("domain", "suite.test"),
        ("max_message_size", "1024"),
        ("max_queue_length", "5"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    if token_cmd {
        // no token reply to read the connection-timeout header from: the operator says it
        settings.insert("connection_timeout_ms".into(), "300".into());
        settings.insert("auth_header".into(), "authorization".into());
        // the deployment's own token protocol, spoken by a script (no proxy: loopback only)
        let py = "import json,sys,urllib.request as u; a=sys.argv; \
                  r=u.Request(a[1]+'/mq/'+a[4]+'/'+a[3]+'/token', \
                  headers={'x-api-key': a[5], 'x-holder-did': a[2]}); \
                  print(json.load(u.build_opener(u.ProxyHandler({})).open(r, timeout=10))['token'])";
        settings.insert(
            "token_cmd".into(),
            format!(
                "python3 -c \"{py}\" {} {{did}} {{hashdid}} {{domain}} {}",
                mimic.url,
                api_key.unwrap_or("")
            ),
        );
    }
    let opts = SuiteOptions {
        mq_hub_url: Some(mimic.url.clone()),
        profile: Some("opendsu".into()),
        settings,
        case_timeout: std::time::Duration::from_secs(20),
        ..SuiteOptions::default()
    };
    let (ev, mut rx) = Events::channel();
    MqHubSuite
        .run(&opts, &Selection::default(), &ev)
        .await
        .unwrap();
    drop(ev);
    let (mut out, mut skipped) = (BTreeMap::new(), BTreeSet::new());
    while let Some(e) = rx.recv().await {
        if let Event::CaseFinished(r) = e {
            let id = r.id.trim_start_matches(P).to_string();
            match r.verdict {
                Verdict::Pass => {}
                Verdict::Skip => {
                    skipped.insert(id);
                }
                v => {
                    out.insert(id, (v, r.level));
                }
            }
        }
    }
    (out, skipped)
}

/// A deployment with another token protocol (an API key) that reads the token from
/// `authorization` (apihub before 2024) is judged through `token_cmd` and `auth_header`: its
/// queue behaviour is judged as the clean mimic's, and only the cases of our holder-proof
/// protocol skip. Without them nearly every case fails at the token request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_token_protocol_is_judged_through_token_cmd() {
    let (without, _) = run(Defects::none(), Some("s3cret"), false).await;
    assert!(
        without.len() > 30,
        "{} cases fail without token_cmd",
        without.len()
    );
    let (got, skipped) = run(Defects::none(), Some("s3cret"), true).await;
    let want: BTreeSet<String> = ["put/invalid-utf8", "take/empty-queue-204"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert_eq!(ids(&got), want, "{got:?}");
    let proof_cases: BTreeSet<String> = [
        "token/issued-to-holder",
        "token/connection-timeout-header",
        "token/requires-holder-proof",
        "token/proof-by-wrong-key",
        "token/stale-proof",
        "token/mq-disabled-405",
        "token/malformed-hashdid",
        "put/expired-token-403",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    assert_eq!(skipped, proof_cases);
}

fn ids(m: &BTreeMap<String, (Verdict, Level)>) -> BTreeSet<String> {
    m.keys().cloned().collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apihub_mimic_verdicts_per_defect() {
    let dialect: BTreeSet<String> = DIALECT.iter().map(|(s, _)| s.to_string()).collect();
    // every configuration at once: each has its own mimic and its own queues
    let runs = futures_join((0..=8).map(|n| async move {
        let d = if n == 0 {
            Defects::none()
        } else {
            Defects::only(n)
        };
        (n, not_passing(d).await)
    }))
    .await;
    let mut report = String::new();
    for (n, got) in &runs {
        let want: BTreeSet<String> = dialect
            .iter()
            .cloned()
            .chain(defect_cases(*n).iter().map(|s| s.to_string()))
            .collect();
        if ids(got) != want {
            report.push_str(&format!(
                "defect {n}: not passing {got:?}\n  unexpected: {:?}\n  missing: {:?}\n",
                ids(got).difference(&want).collect::<Vec<_>>(),
                want.difference(&ids(got)).collect::<Vec<_>>()
            ));
        }
        if *n == 0 {
            for (id, (_, level)) in got {
                assert_eq!(
                    *level,
                    Level::Should,
                    "the clean mimic fails the MUST case {id}"
                );
            }
        } else {
            // each defect fails at least one MUST case
            assert!(
                defect_cases(*n)
                    .iter()
                    .any(|id| got.get(*id).is_some_and(|(_, l)| *l == Level::Must)),
                "defect {n} fails no MUST case: {got:?}"
            );
        }
    }
    assert!(report.is_empty(), "{report}");
}

/// apihub has defects 1 and 3 together: then a self-minted token also reads any queue.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apihub_mimic_defects_1_and_3_read_with_a_self_minted_token() {
    let got = not_passing(Defects::only(1).and(3)).await;
    for id in ["get/self-minted-token-403", "put/self-minted-token-403"] {
        assert!(got.contains_key(id), "{id}: {got:?}");
    }
}

/// Await every future concurrently (tokio::spawn: the suite runs are independent).
async fn futures_join<F, T>(fs: impl Iterator<Item = F>) -> Vec<T>
where
    F: std::future::Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    let handles: Vec<_> = fs.map(tokio::spawn).collect();
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await.unwrap());
    }
    out
}

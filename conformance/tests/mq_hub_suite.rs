//! The suite catches defects: judged against a permissive scripted hub (wiremock) that answers
//! 200 to everything, as apihub does for unauthenticated token requests and unchecked signatures,
//! the cases for those defects fail.

use std::collections::BTreeMap;

use sigharness::runner::{Event, Events, Selection, Suite, SuiteOptions};
use sigharness::suites::mq_hub::MqHubSuite;
use sigharness_report::Verdict;
use wiremock::matchers::{method, path_regex};
use wiremock::{Mock, MockServer, ResponseTemplate};

/// A hub that answers 200 to everything (a token and a message where the client expects them).
async fn permissive_hub() -> MockServer {
    let s = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path_regex("/token$"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_string(r#"{"token":"tok","expires":4102444800000}"#),
        )
        .mount(&s)
        .await;
    Mock::given(method("GET"))
        .and(path_regex("^/mq/[^/]+/(get|take)/"))
        .respond_with(
            ResponseTemplate::new(200).set_body_string(r#"{"message":"m","messageId":"1"}"#),
        )
        .mount(&s)
        .await;
    Mock::given(wiremock::matchers::any())
        .respond_with(ResponseTemplate::new(200))
        .mount(&s)
        .await;
    s
}

fn options(s: &MockServer, settings: &[(&str, &str)]) -> SuiteOptions {
    SuiteOptions {
        mq_hub_url: Some(s.uri()),
        profile: Some("opendsu".into()),
        settings: settings
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        ..SuiteOptions::default()
    }
}

async fn verdicts(opts: &SuiteOptions, sel: &Selection) -> BTreeMap<String, Verdict> {
    let (ev, mut rx) = Events::channel();
    MqHubSuite.run(opts, sel, &ev).await.unwrap();
    drop(ev);
    let mut verdicts = BTreeMap::new();
    while let Some(e) = rx.recv().await {
        if let Event::CaseFinished(r) = e {
            verdicts.insert(r.id, r.verdict);
        }
    }
    verdicts
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn permissive_hub_fails_the_defect_cases() {
    let s = permissive_hub().await;
    let opts = options(&s, &[("connection_timeout_ms", "300")]);
    let must_fail = [
        "mq-hub/opendsu/token/requires-holder-proof",
        "mq-hub/opendsu/token/proof-by-wrong-key",
        "mq-hub/opendsu/put/no-token-403",
        "mq-hub/opendsu/put/self-minted-token-403",
        "mq-hub/opendsu/put/token-for-other-queue-403",
        "mq-hub/opendsu/get/wrong-did-signature-403",
        "mq-hub/opendsu/get/put-token-cannot-read-403",
        "mq-hub/opendsu/delete/missing-id",
        "mq-hub/opendsu/put/mq-disabled-405",
    ];
    let sel = Selection::new(&must_fail.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap();
    let verdicts = verdicts(&opts, &sel).await;
    assert_eq!(verdicts.len(), must_fail.len(), "{verdicts:?}");
    for id in must_fail {
        assert_eq!(
            verdicts.get(id),
            Some(&Verdict::Fail),
            "{id} should catch the defect: {verdicts:?}"
        );
    }
}

/// Every case whose requirement is a status (the status-table rows, and the cases that judge a
/// status first) fails against a hub that answers 200 to everything: the statuses the
/// requirement names are the ones the check holds the hub to.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn permissive_hub_fails_every_status_case() {
    let s = permissive_hub().await;
    let opts = options(
        &s,
        &[("connection_timeout_ms", "300"), ("max_message_size", "16")],
    );
    let ids: Vec<String> = MqHubSuite
        .cases(&opts)
        .unwrap()
        .into_iter()
        .filter(|m| m.requirement.starts_with("status "))
        .map(|m| m.id)
        .collect();
    assert!(ids.len() >= 25, "{} status cases: {ids:?}", ids.len());
    let verdicts = verdicts(&opts, &Selection::new(&ids).unwrap()).await;
    assert_eq!(verdicts.len(), ids.len(), "{verdicts:?}");
    for (id, v) in &verdicts {
        assert_eq!(
            *v,
            Verdict::Fail,
            "{id} should fail against a hub that accepts everything"
        );
    }
}

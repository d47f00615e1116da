//! `msg-signer/client/tls/*` and `identity/*`: `messaging_cert_key` and `messaging_ca_cert`
//! of `specs/msg-signer.md` (mutual TLS, the broker verified), and the creator taken from the
//! client certificate (`topic_listen_to`).

use sigharness_report::Level;

use super::ClientCase;
use super::checks::{err_exit, ok_all};
use crate::runner::check::{Check, fail, pass};
use crate::suites::msg_signer::env::{Observed, Scenario, Tls};
use crate::suites::msg_signer::spec;

pub(super) const CASES: &[ClientCase] = &[
    ClientCase {
        id: "tls/client-certificate-presented",
        spec: spec("messaging_cert_key"),
        level: Level::Must,
        stimulus: "amqps broker requiring a client certificate",
        requirement: "The certificate and key of messaging_cert_key authenticate the client",
        scenario: || Scenario {
            tls: Tls::Mutual,
            ..Default::default()
        },
        verdict: |o| {
            ok_all(o)?;
            let cn = o
                .journal()
                .iter()
                .find(|e| e.is_inbound_transfer())
                .and_then(|e| e.peer.cert_cn.clone());
            if cn.as_deref() != Some("sigharness-client") {
                return Err(fail(
                    "the client certificate was not presented",
                    "peer CN sigharness-client",
                    format!("{cn:?}"),
                ));
            }
            pass("signed over mutual TLS")
        },
    },
    ClientCase {
        id: "tls/broker-certificate-verified",
        spec: spec("messaging_ca_cert"),
        level: Level::Must,
        stimulus: "messaging_ca_cert names a CA that did not issue the broker's certificate",
        requirement: "CA certificate used for verifying the messaging broker's certificate: an unverifiable broker is refused",
        scenario: || Scenario {
            tls: Tls::WrongCa,
            retries: 1,
            send_retries: 1,
            ..Default::default()
        },
        verdict: |o| {
            if !o.requests().is_empty() {
                return Err(fail(
                    "requests were sent to an unverified broker",
                    "no request sent",
                    format!("{} sent", o.requests().len()),
                ));
            }
            err_exit(o)
        },
    },
    ClientCase {
        id: "identity/creator-from-certificate",
        spec: spec("topic_listen_to"),
        level: Level::Must,
        stimulus: "no --requester; certificate CN alice-cn",
        requirement: "The creator is the UID or CN fetched from the client certificate",
        scenario: || Scenario {
            tls: Tls::Mutual,
            requester: None,
            cert_cn: Some("alice-cn".into()),
            ..Default::default()
        },
        verdict: |o| {
            ok_all(o)?;
            check_creator(o, &["alice-cn"])
        },
    },
    ClientCase {
        id: "identity/creator-uid-or-cn",
        spec: spec("topic_listen_to"),
        level: Level::Must,
        stimulus: "certificate with CN bob-cn and UID bob-uid, no --requester",
        requirement: "The creator is the UID or CN fetched from the client certificate (judged: requested_by is bob-cn or bob-uid, and the client listens on topic_listen_to expanded with the creator it used, as the signing server replies there)",
        scenario: || Scenario {
            tls: Tls::Mutual,
            requester: None,
            cert_cn: Some("bob-cn".into()),
            cert_uid: Some("bob-uid".into()),
            ..Default::default()
        },
        verdict: |o| {
            if o.hung || o.requests().is_empty() {
                return Err(fail(
                    "no request sent",
                    "a request with a creator",
                    o.outcome(),
                ));
            }
            check_creator(o, &["bob-cn", "bob-uid"])
        },
    },
    ClientCase {
        id: "identity/requester-overrides-creator",
        spec: spec("topic_listen_to"),
        level: Level::Must,
        stimulus: "--requester carol over a certificate with CN alice-cn",
        requirement: "The creator is ... provided on the input by the user",
        scenario: || Scenario {
            tls: Tls::Mutual,
            requester: Some("carol".into()),
            cert_cn: Some("alice-cn".into()),
            ..Default::default()
        },
        verdict: |o| {
            ok_all(o)?;
            check_creator(o, &["carol"])
        },
    },
];

fn check_creator(o: &Observed, allowed: &[&str]) -> Check {
    let Some((_, b)) = o.requests().into_iter().next() else {
        return Err(fail("no request", "a request", "none"));
    };
    let who = b["requested_by"].as_str().unwrap_or("").to_string();
    if !allowed.contains(&who.as_str()) {
        return Err(fail("wrong creator", format!("one of {allowed:?}"), who));
    }
    // The reply address built with the creator this client used (not the one the case
    // expected: for "UID or CN" either is right).
    let address = o.reply_address_of(&who);
    if o.has_journal() && o.reply_receivers_on(&address).is_empty() {
        return Err(fail(
            "the reply address must use the creator",
            format!("a receiver on {address}"),
            "no receiver there",
        ));
    }
    pass(format!("creator {who}, listening on {address}"))
}

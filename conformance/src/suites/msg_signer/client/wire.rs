//! `msg-signer/client/wire/*`: the request as deployed (`Request` of
//! `notes/msg-signer-wire.md`): addressing, body section, TTL, application properties, body
//! keys, one message per input and key.

use serde_json::Value;
use sigharness_report::Level;

use super::ClientCase;
use super::checks::ok_all;
use crate::runner::check::{fail, pass};
use crate::suites::msg_signer::env::Scenario;
use crate::suites::msg_signer::wire;

pub(super) const CASES: &[ClientCase] = &[
    ClientCase {
        id: "wire/null-target-sender-routes-by-to",
        spec: wire("Request"),
        level: Level::Must,
        stimulus: "how requests are addressed",
        requirement: "The sender link has a null target; each message carries properties.to = topic_send_to",
        scenario: || Scenario {
            needs_anonymous_relay: true,
            ..Default::default()
        },
        verdict: |o| {
            ok_all(o)?;
            let client_conn = o
                .journal()
                .iter()
                .find(|e| e.is_inbound_transfer() && e.address() == Some(o.send_address.as_str()))
                .map(|e| e.peer.conn);
            let attach = o.journal().iter().find_map(|e| match &e.event {
                mock_broker::Event::Attach {
                    direction: mock_broker::LinkDirection::PeerSends,
                    address,
                    ..
                } if Some(e.peer.conn) == client_conn => Some(address.clone()),
                _ => None,
            });
            if attach != Some(None) {
                return Err(fail(
                    "the sender link must have a null target",
                    "target address null",
                    format!("{attach:?}"),
                ));
            }
            let to = o
                .journal()
                .iter()
                .find(|e| e.is_inbound_transfer())
                .and_then(|e| e.message())
                .and_then(|m| m.to.clone());
            if to.as_deref() != Some(o.send_address.as_str()) {
                return Err(fail(
                    "properties.to must be topic_send_to",
                    o.send_address.clone(),
                    format!("{to:?}"),
                ));
            }
            pass("null target, to set")
        },
    },
    ClientCase {
        id: "wire/body-is-amqp-value-json-string",
        spec: wire("Request"),
        level: Level::Must,
        stimulus: "the request body section",
        requirement: "Body: an AMQP amqp-value section holding a string of JSON text",
        scenario: Scenario::default,
        verdict: |o| {
            let Some(m) = o.request_messages().into_iter().next() else {
                return Err(fail("no request", "one request", "none"));
            };
            let json = m
                .body_text
                .as_deref()
                .and_then(|t| serde_json::from_str::<Value>(t).ok());
            if m.body_kind != "amqp-value" || !json.as_ref().is_some_and(Value::is_object) {
                return Err(fail(
                    "wrong body",
                    "amqp-value string of a JSON object",
                    format!("{} {:?}", m.body_kind, m.body_text),
                ));
            }
            pass("amqp-value JSON string")
        },
    },
    ClientCase {
        id: "wire/ttl-is-timeout-times-retries",
        spec: wire("Request"),
        level: Level::Should,
        stimulus: "timeout 10, retries 2",
        requirement: "header.ttl = timeout * retries seconds",
        scenario: Scenario::default,
        verdict: |o| {
            let ttl = o
                .request_messages()
                .into_iter()
                .next()
                .and_then(|m| m.ttl_ms);
            if ttl != Some(20_000) {
                return Err(fail("wrong TTL", "20000 ms", format!("{ttl:?}")));
            }
            pass("ttl 20000 ms")
        },
    },
    ClientCase {
        id: "wire/application-properties",
        spec: wire("Request"),
        level: Level::Must,
        stimulus: "the request's application properties",
        requirement: "service, environment, owner_id (= creator), mtype, source = metadata, pub_task_id (+ manifest_digest for containers)",
        scenario: Scenario::default,
        verdict: |o| {
            let Some(m) = o.request_messages().into_iter().next() else {
                return Err(fail("no request", "one request", "none"));
            };
            let p = &m.application_properties;
            let want = [
                ("service", "sigharness-conformance"),
                ("environment", "conformance"),
                ("owner_id", o.creator.as_str()),
                ("mtype", "container_signature"),
                ("source", "metadata"),
                ("pub_task_id", o.task_id.as_str()),
            ];
            for (k, v) in want {
                if p.get(k).and_then(Value::as_str) != Some(v) {
                    return Err(fail(
                        format!("application property {k}"),
                        v.to_string(),
                        format!("{:?}", p.get(k)),
                    ));
                }
            }
            if p.get("manifest_digest").is_none() {
                return Err(fail(
                    "application property manifest_digest",
                    "present for containers",
                    "absent",
                ));
            }
            pass("all properties present")
        },
    },
    ClientCase {
        id: "wire/request-body-keys",
        spec: wire("Request"),
        level: Level::Must,
        stimulus: "the request body",
        requirement: "sig_key_id (last 8 of the alias-resolved key), claim_file, request_id, created (ISO-8601 Z), requested_by, repo",
        scenario: Scenario::default,
        verdict: |o| {
            let Some((_, b)) = o.requests().into_iter().next() else {
                return Err(fail("no request", "one request", "none"));
            };
            let short = &o.key_id[8..];
            if b["sig_key_id"] != short {
                return Err(fail(
                    "sig_key_id must be the last 8 characters of the real key",
                    short.to_string(),
                    b["sig_key_id"].to_string(),
                ));
            }
            if b["repo"] != "ns/image0" {
                return Err(fail(
                    "repo is the reference without registry and tag",
                    "ns/image0",
                    b["repo"].to_string(),
                ));
            }
            if b["requested_by"] != o.creator.as_str() {
                return Err(fail(
                    "requested_by is the creator",
                    o.creator.clone(),
                    b["requested_by"].to_string(),
                ));
            }
            if !b["created"].as_str().is_some_and(|c| c.ends_with('Z'))
                || b["claim_file"].as_str().is_none()
            {
                return Err(fail(
                    "created/claim_file",
                    "ISO-8601 with Z; base64 claim",
                    b.to_string(),
                ));
            }
            pass("body keys as deployed")
        },
    },
    ClientCase {
        id: "wire/one-request-per-input-and-key",
        spec: wire("Request"),
        level: Level::Must,
        stimulus: "2 images x 2 keys (an alias and the real id)",
        requirement: "One AMQP message per (input x signing key), input-major order",
        scenario: || Scenario {
            inputs: 2,
            keys: vec!["prod".into(), "__REAL__".into()],
            ..Default::default()
        },
        verdict: |o| {
            let r = o.requests();
            if r.len() != 4 {
                return Err(fail(
                    "one message per input and key",
                    "4 requests",
                    format!("{}", r.len()),
                ));
            }
            let order: Vec<String> = r
                .iter()
                .map(|(_, b)| b["repo"].as_str().unwrap_or("").to_string())
                .collect();
            if order != ["ns/image0", "ns/image0", "ns/image1", "ns/image1"] {
                return Err(fail(
                    "input-major order",
                    "image0, image0, image1, image1",
                    format!("{order:?}"),
                ));
            }
            pass("4 requests, input-major")
        },
    },
];

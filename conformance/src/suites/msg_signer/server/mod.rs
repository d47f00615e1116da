//! Server-mode cases: we are the client; the signing server under test sits behind a broker
//! (the embedded broker with our mock signing server by default, or `--broker URL`).
//!
//! Each case is one [`ServerCase`]: its data (id, document + section, level, stimulus, quoted
//! requirement), the [`Requests`] it sends, and its check over the [`Exchange`] (what was sent,
//! the replies, their latencies). Every case uses its own task id, so its replies come on an
//! address no other case uses. Files, in report order: [`reply`] (correlation, envelope, echoed
//! fields, signatures present), [`signature`] (the signatures verified with the server's
//! OpenPGP public key, and what they sign), [`invalid`] (each required field missing or
//! malformed gets an error reply), [`fields`] (what a server must tolerate: extra fields,
//! optional ones, non-ASCII text, a large payload, batches), [`workflow`] (reply address,
//! re-sent and redelivered requests, many requesters at once, bursts, 200 in flight, latency);
//! [`probe`] is our AMQP client, [`verify`] the OpenPGP checks.
//!
//! The public key: `--set signing_pubkey=FILE` (armored or binary); our mock's own when the
//! mock is the target. Without one, the cases that verify a signature skip saying so.

mod fields;
mod invalid;
pub mod probe;
mod reply;
mod signature;
pub mod verify;
mod workflow;

use std::sync::Arc;

use serde_json::Value;
use sigharness_report::{Evidence, Level};

use super::{Spec, with_evidence};
use crate::runner::check::{Check, Stop, fail, pass, skip, truncate};
use crate::runner::{Case, meta};
use probe::{Exchange, Requests, WAIT, exchange, percentile};

/// What server-mode cases need to know.
pub struct ServerCtx {
    pub broker_url: String,
    pub tls: Option<Arc<rustls::ClientConfig>>,
    /// Log in with SASL EXTERNAL (empty initial response) after TLS.
    pub sasl_external: bool,
    /// How the broker spells addresses (and whether it has an anonymous relay).
    pub address_map: super::AddressMap,
    pub send_to: String,
    /// Template with `{creator}` / `{task_id}`.
    pub listen_to: String,
    /// `sig_key_id` the server under test accepts.
    pub sig_key_id: String,
    /// The server's OpenPGP public keys (`--set signing_pubkey`, or our mock's).
    pub pubkeys: Option<Arc<verify::PublicKeys>>,
    /// Keeps the embedded broker and mock server alive for the run.
    pub _keep: Vec<std::sync::Mutex<Box<dyn std::any::Any + Send>>>,
    /// The broker, when it is ours (the embedded default): cases that fault the broker need it
    /// and skip without it. Declared after `_keep`, so the server is dropped (and stops
    /// reconnecting) before the broker goes.
    pub broker: Option<Arc<mock_broker::BrokerHandle>>,
}

impl ServerCtx {
    pub fn map(&self, a: &str) -> String {
        self.address_map.map(a)
    }

    /// The default target: an embedded broker with our mock signing server (with `plan`, a
    /// fault plan: the faulty-server test's), its public keys known.
    pub async fn embedded(
        plan: mock_signing_server::fault::FaultPlan<mock_signing_server::ServerAction>,
    ) -> crate::Result<ServerCtx> {
        use super::env::{LISTEN_TO, SEND_TO};
        let broker = mock_broker::Broker::builder()
            .record_bodies(false)
            .start()
            .await
            .map_err(|e| crate::Error::setup(format!("embedded broker: {e}")))?;
        let cfg = mock_signing_server::ServerConfig {
            topic_send_to: SEND_TO.into(),
            topic_listen_to: LISTEN_TO.into(),
            message_id_key: "request_id".into(),
            timeout: std::time::Duration::from_secs(10),
        };
        let server = mock_signing_server::SigningServer::builder(broker.url(), cfg)
            .fault_plan(plan)
            .start()
            .await
            .map_err(|e| crate::Error::setup(format!("mock signing server: {e}")))?;
        let key = server.keys().first().short_id().to_string();
        let pubkeys = mock_public_keys(server.keys())?;
        let broker = Arc::new(broker);
        Ok(ServerCtx {
            broker_url: broker.url().to_string(),
            tls: None,
            sasl_external: false,
            address_map: super::AddressMap::None,
            send_to: SEND_TO.into(),
            listen_to: LISTEN_TO.into(),
            sig_key_id: key,
            pubkeys: Some(Arc::new(pubkeys)),
            broker: Some(broker),
            _keep: vec![std::sync::Mutex::new(Box::new(server))],
        })
    }
}

/// The public keys of our mock signing server's ring.
pub fn mock_public_keys(ring: &mock_signing_server::KeyRing) -> crate::Result<verify::PublicKeys> {
    let mut armored = String::new();
    for k in ring.keys() {
        armored.push_str(
            &k.public_armored()
                .map_err(|e| crate::Error::setup(e.to_string()))?,
        );
        armored.push('\n');
    }
    verify::PublicKeys::parse(armored.as_bytes(), "our mock signing server's key")
        .map_err(crate::Error::setup)
}

/// One server-mode case, self-contained.
pub struct ServerCase {
    /// The id after `msg-signer/server/`, e.g. `sign/blob`.
    pub id: &'static str,
    /// The document and section the case enforces.
    pub spec: Spec,
    pub level: Level,
    /// What the case sends.
    pub stimulus: &'static str,
    /// What the spec requires, quoted or paraphrased.
    pub requirement: &'static str,
    /// The requests, and how many replies to wait for.
    pub requests: fn() -> Requests,
    /// The check over the exchange.
    pub check: fn(&Exchange) -> Check,
}

impl ServerCase {
    /// The runnable case (id `<suite>/server/<id>`, profile `server`): the exchange, the check,
    /// and as evidence the traffic and the latency percentiles.
    pub fn case(&'static self, suite: &str) -> Case<ServerCtx> {
        let m = meta(
            suite,
            format!("{suite}/server/{}", self.id),
            self.spec.spec_ref(),
            self.level,
            self.stimulus,
            self.requirement,
        );
        Case::new(m, move |ctx: Arc<ServerCtx>| async move {
            let p = (self.requests)();
            if p.cut_server_connection && ctx.broker.is_none() {
                return Err(skip(
                    "needs the harness's own broker to drop the server's connection (the embedded default); a broker given by --broker cannot be faulted",
                ));
            }
            let x = exchange(&ctx, &p)
                .await
                .map_err(|e| Stop::Fail(Evidence::new(format!("exchange failed: {e}"))))?;
            let figures = [("p50_ms", 50.0), ("p90_ms", 90.0), ("p99_ms", 99.0)]
                .map(|(k, p)| (k.to_string(), percentile(&x.latencies_ms, p)));
            with_evidence((self.check)(&x), |mut e| {
                e = e.log_line(format!(
                    "{} sent, {} replies on {}",
                    x.sent.len() * p.repeat,
                    x.replies.len(),
                    x.reply_address
                ));
                if let Some(Ok(r)) = x.replies.first() {
                    e = e.log_line(format!(
                        "first reply: {}",
                        r.to_string().chars().take(300).collect::<String>()
                    ));
                }
                if !x.latencies_ms.is_empty() {
                    e.figures.extend(figures);
                }
                e
            })
        })
        .profiles(["server"])
    }
}

/// Every server-mode case definition, in report order.
pub fn definitions() -> impl Iterator<Item = &'static ServerCase> {
    [
        reply::CASES,
        signature::CASES,
        invalid::CASES,
        fields::CASES,
        workflow::CASES,
    ]
    .into_iter()
    .flatten()
}

/// The server-mode cases of `suite`.
pub fn cases(suite: &str) -> Vec<Case<ServerCtx>> {
    definitions().map(|d| d.case(suite)).collect()
}

/// The `msg` of the first reply, or why there is none.
pub fn first_msg(x: &Exchange) -> Result<&Value, Stop> {
    match x.replies.first() {
        None => Err(fail(
            "no reply",
            format!("a reply on {} within {WAIT:?}", x.reply_address),
            "nothing",
        )),
        Some(Err(e)) => Err(fail(
            "unreadable reply",
            "an amqp-value JSON string",
            e.clone(),
        )),
        Some(Ok(v)) => v.get("msg").ok_or_else(|| {
            fail(
                "no `msg` in the envelope",
                "an envelope with msg",
                v.to_string(),
            )
        }),
    }
}

/// The first reply signed `field` (base64), with success and no errors.
pub fn signed(x: &Exchange, field: &str) -> Check {
    let m = first_msg(x)?;
    if m["signing_status"] != "success" || m["errors"].as_array().is_none_or(|a| !a.is_empty()) {
        return Err(fail(
            "not signed",
            "signing_status success, errors []",
            m.to_string(),
        ));
    }
    let v = m[field].as_str().unwrap_or("");
    use base64::Engine as _;
    if v.is_empty() || base64::engine::general_purpose::STANDARD.decode(v).is_err() {
        return Err(fail(
            "no base64 result",
            format!("a base64 `{field}`"),
            m.to_string(),
        ));
    }
    pass(format!("signed: {field} of {} bytes", v.len()))
}

/// The first reply's `field`, signed (success, no errors), decoded from base64.
pub fn signed_bytes(x: &Exchange, field: &str) -> Result<Vec<u8>, Stop> {
    signed(x, field)?;
    let m = first_msg(x)?;
    b64_field(m, field)
}

/// `v[field]` decoded from base64.
pub fn b64_field(v: &Value, field: &str) -> Result<Vec<u8>, Stop> {
    use base64::Engine as _;
    let s = v[field].as_str().unwrap_or("");
    base64::engine::general_purpose::STANDARD
        .decode(s)
        .map_err(|e| {
            fail(
                format!("`{field}` is not base64 ({e})"),
                "base64",
                truncate(s, 120),
            )
        })
}

/// The server's public keys, or a skip saying how to give them.
pub fn need_keys(x: &Exchange) -> Result<&verify::PublicKeys, Stop> {
    x.pubkeys.as_deref().ok_or_else(|| {
        skip(
            "needs --set signing_pubkey=FILE (the signing server's OpenPGP public key) to verify its signatures",
        )
    })
}

/// The first reply is an error reply for the request (errors, a failure status, its id).
pub fn error_reply(x: &Exchange) -> Check {
    let m = first_msg(x)?;
    let errs = m["errors"].as_array().map(Vec::len).unwrap_or(0);
    let st = m["signing_status"].as_str().unwrap_or("");
    if errs == 0 || st == "success" {
        return Err(fail(
            "an invalid request must get an error reply",
            "errors non-empty and a failure signing_status",
            m.to_string(),
        ));
    }
    if m.get("request_id") != x.sent.first().and_then(|s| s.get("request_id"))
        && x.sent.first().and_then(|s| s.get("request_id")).is_some()
    {
        return Err(fail(
            "the error reply must carry the request id",
            "request_id echoed",
            m.to_string(),
        ));
    }
    pass(format!("error reply ({st}): {}", m["errors"]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique() {
        let mut ids = std::collections::BTreeSet::new();
        for d in definitions() {
            assert!(ids.insert(d.id), "duplicate {}", d.id);
        }
        assert_eq!(ids.len(), 55);
        assert!(ids.len() >= 40, "issue 18: at least 40 server-mode cases");
    }
}

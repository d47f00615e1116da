//! Fault actions of the mock signing server, for the shared [`FaultPlan`] shape of
//! `mock_broker::fault` (match by request address glob, `nth` request, application property,
//! seeded `probability`, `times`).
//!
//! ```yaml
//! seed: 7
//! rules:
//!   - {match: {nth: 1}, action: drop, times: 1}      # lose the first request
//!   - {match: {app_properties: {mtype: gpg_signature}}, action: error_reply}
//!   - {action: {delay: 2s}, match: {probability: 0.1}}
//!   - action: {script: [{after: 1s, send: unknown_id}, {after: 3s, send: reply}]}
//!   - {action: wrong_key}                              # signatures by a key nobody holds
//!   - {action: stale_claim}                            # sign a claim for another image
//!   - {action: sign_other_bytes}                       # clear-sign / blob: not the data sent
//!   - {action: resign_duplicates}                      # a redelivery is signed anew, differently
//!   - {action: other_requester_address, match: {app_properties: {owner_id: bob}}}
//!   - {action: {drop_under_burst: 50}}                 # lose requests past 50 a second
//! ```
//!
//! The last six are the faulty signing server of the server-mode suite
//! (`conformance/tests/msg_signer_faulty_server.rs`): each alone fails exactly its cases.
//!
//! Every action is a list of emissions (what to send, after how long, counted from the moment
//! the request was received). `reply_after_window` waits `timeout` (from the config file) plus
//! one second: the client's first receive window has closed by then (it ends after `timeout`
//! without an expected reply), so the reply reaches a later window or nobody.

use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use mock_broker::fault::{FaultState, Fired, MessageView};
pub use mock_broker::{FaultPlan, FaultRule, Match};

/// What to send (one emission).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Emit {
    /// The correct reply (signed, or an error reply for an invalid request).
    Reply,
    /// The correct reply with the id of another request this server has seen (or a fresh
    /// id when it has seen no other).
    WrongId,
    /// A reply whose id no client sent (a stray reply).
    UnknownId,
    /// A body that is not JSON.
    MalformedJson,
    /// A JSON envelope without `msg`.
    MissingMsg,
    /// An envelope whose `msg` has no `message_id_key`.
    MissingId,
    /// A well-formed error reply (`errors` non-empty, `signing_status` "failure").
    ErrorReply,
    /// The correct reply on another address (the listen address with `.wrong` appended).
    WrongAddress,
}

/// One step of a script.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    /// When, counted from the request's arrival (`"0s"`, `"1500ms"`; tokio time).
    #[serde(with = "dur", default)]
    pub after: Duration,
    /// What.
    pub send: Emit,
}

/// The actions the signing server can perform.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum ServerAction {
    /// Consume the request, reply nothing.
    Drop,
    /// Reply after this long.
    Delay(#[serde(with = "dur")] Duration),
    /// Reply twice.
    Duplicate,
    /// Reply with another request's id.
    WrongId,
    /// Reply with an id nobody sent (instead of the reply).
    UnknownId,
    /// Reply with a body that is not JSON.
    MalformedJson,
    /// Reply with an envelope without `msg`.
    MissingMsg,
    /// Reply with a `msg` without the id key.
    MissingId,
    /// Reply with an error (`errors: ["injected error ..."]`, `signing_status: failure`).
    ErrorReply,
    /// Reply on a wrong address.
    WrongAddress,
    /// Reply `timeout + 1s` late (after the client's receive window closed).
    ReplyAfterWindow,
    /// Any sequence of emissions.
    Script(Vec<Step>),
    /// Sign with a key the ring does not hold (a fresh one, not the `sig_key_id`'s): the
    /// reply looks right but its signature does not verify with the server's public key.
    WrongKey,
    /// Container requests: sign a stale claim (one naming another digest and reference)
    /// instead of the claim sent.
    StaleClaim,
    /// Clear-sign and blob requests: sign the data with a line (clear-sign) or a byte (blob)
    /// appended, not exactly the data sent.
    SignOtherBytes,
    /// A re-delivered request (same id, same body) is signed anew, differently (SHA-512
    /// instead of SHA-256), instead of being answered with the signature it already got.
    ResignDuplicates,
    /// Reply on the reply address of the last request of another requester (when the server
    /// has seen one; else the right address).
    OtherRequesterAddress,
    /// Drop a request when more than this many requests arrived within the last second.
    DropUnderBurst(u32),
    /// Sign a request past its `absolute-expiry-time` like any other (by default an expired
    /// request gets an error reply and no signature).
    SignExpired,
    /// When the connection to the broker is lost, stay disconnected (by default the server
    /// reconnects and re-attaches its links). Connection-level: a rule with this action applies
    /// whatever its `when`; `times`/`nth` are not counted.
    StayDisconnected,
}

impl ServerAction {
    /// Short name for the received-request log.
    pub fn label(&self) -> String {
        match self {
            ServerAction::Delay(d) => format!("delay {}", humantime::format_duration(*d)),
            ServerAction::Script(s) => format!("script of {} steps", s.len()),
            ServerAction::DropUnderBurst(n) => format!("drop_under_burst {n}"),
            other => serde_json::to_value(other)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_else(|| format!("{other:?}")),
        }
    }

    /// The emissions of this action; `timeout` is the client's receive timeout.
    pub fn emissions(&self, timeout: Duration) -> Vec<Step> {
        let now = |send| {
            vec![Step {
                after: Duration::ZERO,
                send,
            }]
        };
        match self {
            ServerAction::Drop => vec![],
            ServerAction::Delay(d) => vec![Step {
                after: *d,
                send: Emit::Reply,
            }],
            ServerAction::Duplicate => {
                let mut v = now(Emit::Reply);
                v.extend(now(Emit::Reply));
                v
            }
            ServerAction::WrongId => now(Emit::WrongId),
            ServerAction::UnknownId => now(Emit::UnknownId),
            ServerAction::MalformedJson => now(Emit::MalformedJson),
            ServerAction::MissingMsg => now(Emit::MissingMsg),
            ServerAction::MissingId => now(Emit::MissingId),
            ServerAction::ErrorReply => now(Emit::ErrorReply),
            ServerAction::WrongAddress => now(Emit::WrongAddress),
            ServerAction::ReplyAfterWindow => vec![Step {
                after: timeout + Duration::from_secs(1),
                send: Emit::Reply,
            }],
            ServerAction::Script(s) => s.clone(),
            // How these sign, route or drop is decided by the core; what is sent is the reply.
            ServerAction::WrongKey
            | ServerAction::StaleClaim
            | ServerAction::SignOtherBytes
            | ServerAction::ResignDuplicates
            | ServerAction::OtherRequesterAddress
            | ServerAction::DropUnderBurst(_)
            | ServerAction::SignExpired
            | ServerAction::StayDisconnected => now(Emit::Reply),
        }
    }
}

/// Parse a signing-server fault plan from YAML or JSON text.
pub fn plan_from_str(
    text: &str,
    origin: &str,
) -> Result<FaultPlan<ServerAction>, crate::ServerError> {
    Ok(FaultPlan::<ServerAction>::from_yaml_str(text, origin)?)
}

/// Read a signing-server fault plan from a file.
pub fn plan_from_file(
    path: &std::path::Path,
) -> Result<FaultPlan<ServerAction>, crate::ServerError> {
    Ok(FaultPlan::<ServerAction>::from_file(path)?)
}

mod dur {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&humantime::format_duration(*d).to_string())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let s = String::deserialize(d)?;
        humantime::parse_duration(&s).map_err(|e| {
            serde::de::Error::custom(format!(
                "invalid duration {s:?} ({e}); write e.g. \"250ms\" or \"2s\""
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_action_and_names_unknown_ones() {
        let yaml = r#"
seed: 1
rules:
  - {action: drop, match: {nth: 1}, times: 1}
  - {action: {delay: 250ms}}
  - {action: duplicate}
  - {action: wrong_id}
  - {action: unknown_id}
  - {action: malformed_json}
  - {action: missing_msg}
  - {action: missing_id}
  - {action: error_reply}
  - {action: wrong_address}
  - {action: reply_after_window}
  - {action: {script: [{after: 1s, send: unknown_id}, {after: 2s, send: reply}]}}
  - {action: wrong_key}
  - {action: stale_claim}
  - {action: sign_other_bytes}
  - {action: resign_duplicates}
  - {action: other_requester_address}
  - {action: {drop_under_burst: 50}}
"#;
        let p = plan_from_str(yaml, "t.yaml").unwrap();
        assert_eq!(p.rules.len(), 18);
        assert_eq!(p.rules[17].action, ServerAction::DropUnderBurst(50));
        assert_eq!(p.rules[17].action.label(), "drop_under_burst 50");
        assert_eq!(p.rules[12].action.label(), "wrong_key");
        assert_eq!(
            p.rules[11].action.emissions(Duration::from_secs(5)),
            vec![
                Step {
                    after: Duration::from_secs(1),
                    send: Emit::UnknownId
                },
                Step {
                    after: Duration::from_secs(2),
                    send: Emit::Reply
                }
            ]
        );
        assert_eq!(
            p.rules[10].action.emissions(Duration::from_secs(5))[0].after,
            Duration::from_secs(6)
        );
        assert_eq!(p.rules[2].action.emissions(Duration::ZERO).len(), 2);
        assert!(p.rules[0].action.emissions(Duration::ZERO).is_empty());
        assert_eq!(p.rules[3].action.label(), "wrong_id");
        let e = plan_from_str("rules: [{action: reorder}]", "b.yaml")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("b.yaml") && e.contains("unknown variant `reorder`"),
            "{e}"
        );
        let e = plan_from_str(
            "rules: [{action: {script: [{send: reply, when: 1s}]}}]",
            "c.yaml",
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("unknown field `when`"), "{e}");
    }
}

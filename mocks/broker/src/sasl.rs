//! SASL acceptance: tolerant on purpose. A mock broker authenticates nobody; it records who the
//! peer said it was and lets it in.

use std::sync::{Arc, Mutex};

use fe2o3_amqp::acceptor::SaslAcceptor;
use fe2o3_amqp::acceptor::sasl_acceptor::SaslServerFrame;
use fe2o3_amqp::types::primitives::{Array, Symbol};
use fe2o3_amqp::types::sasl::{SaslCode, SaslInit, SaslOutcome, SaslResponse};

/// What the peer sent in `sasl-init`.
#[derive(Debug, Clone, Default)]
pub(crate) struct SaslRecord {
    pub mechanism: String,
    pub identity: Option<String>,
}

/// Offers EXTERNAL, ANONYMOUS and PLAIN; accepts all three.
#[derive(Debug, Clone, Default)]
pub(crate) struct TolerantSasl {
    pub record: Arc<Mutex<Option<SaslRecord>>>,
}

fn outcome(code: SaslCode) -> SaslServerFrame {
    SaslServerFrame::Outcome(SaslOutcome {
        code,
        additional_data: None,
    })
}

impl SaslAcceptor for TolerantSasl {
    fn mechanisms(&self) -> Array<Symbol> {
        Array::from(vec![
            Symbol::from("EXTERNAL"),
            Symbol::from("ANONYMOUS"),
            Symbol::from("PLAIN"),
        ])
    }

    fn on_init(&mut self, init: SaslInit) -> SaslServerFrame {
        let mechanism = init.mechanism.0.clone();
        let response = init.initial_response.map(|b| b.into_vec());
        let identity = match mechanism.as_str() {
            // RFC 4422 appendix A.1: the EXTERNAL message is an optional authorization identity.
            // An absent initial response (fe2o3's client) or an empty one (proton) both mean
            // "derive it from the external layer": we accept both without a challenge.
            "EXTERNAL" => response
                .filter(|r| !r.is_empty())
                .map(|r| String::from_utf8_lossy(&r).into_owned()),
            // RFC 4616 section 2: message = [authzid] NUL authcid NUL passwd.
            "PLAIN" => response.and_then(|r| {
                r.split(|b| *b == 0)
                    .nth(1)
                    .map(|u| String::from_utf8_lossy(u).into_owned())
            }),
            // RFC 4505 section 2: optional trace information.
            "ANONYMOUS" => response
                .filter(|r| !r.is_empty())
                .map(|r| String::from_utf8_lossy(&r).into_owned()),
            _ => return outcome(SaslCode::Auth),
        };
        if let Ok(mut rec) = self.record.lock() {
            *rec = Some(SaslRecord {
                mechanism,
                identity,
            });
        }
        outcome(SaslCode::Ok)
    }

    fn on_response(&mut self, _response: SaslResponse) -> SaslServerFrame {
        // We never send a challenge, so a response is answered with success for tolerance.
        outcome(SaslCode::Ok)
    }
}

//! A tiny in-test AMQP peer: a router (null-target senders routed by `properties.to`; `queue`
//! semantics for every address: buffered, one consumer gets each message) plus a scripted
//! signing responder, on a loopback socket, with an optional TLS layer (client certificate
//! required) and an optional strict SASL EXTERNAL acceptor. Built with fe2o3's acceptor API.
//! Stands in until the shared mock broker lands.

#![allow(dead_code)]

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use fe2o3_amqp::acceptor::sasl_acceptor::SaslServerFrame;
use fe2o3_amqp::acceptor::{
    ConnectionAcceptor, LinkAcceptor, LinkEndpoint, SaslAcceptor, SessionAcceptor,
};
use fe2o3_amqp::types::messaging::{AmqpValue, Body, Message};
use fe2o3_amqp::types::primitives::{Array, Symbol, Value};
use fe2o3_amqp::types::sasl::{SaslCode, SaslInit, SaslOutcome, SaslResponse};
use serde_json::{Value as Json, json};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

/// A request as the responder saw it.
#[derive(Clone, Debug)]
pub struct Seen {
    pub to: Option<String>,
    pub ttl: Option<u32>,
    pub props: HashMap<String, String>,
    pub body: Json,
    pub body_is_string: bool,
}

/// What the responder does with a request: replies `(address, body text)`.
pub type Script = Box<dyn FnMut(&Seen, usize) -> Vec<(String, String)> + Send>;

#[derive(Default)]
pub struct Journal {
    pub requests: Vec<Seen>,
    pub attaches: Vec<String>,
    pub detaches: Vec<String>,
    pub peer_cn: Vec<String>,
    pub sasl_inits: Vec<(String, Option<Vec<u8>>)>,
    /// Notified whenever a receiver link is detached.
    pub detached: Arc<tokio::sync::Notify>,
}

#[derive(Default)]
struct Router {
    queues: HashMap<String, VecDeque<String>>,
    consumers: HashMap<String, Vec<(u64, mpsc::UnboundedSender<String>)>>,
    next: u64,
}

impl Router {
    fn publish(&mut self, addr: &str, body: String) {
        if let Some(cs) = self.consumers.get_mut(addr) {
            cs.retain(|(_, tx)| !tx.is_closed());
            if let Some((_, tx)) = cs.first()
                && tx.send(body.clone()).is_ok()
            {
                return;
            }
        }
        self.queues
            .entry(addr.to_string())
            .or_default()
            .push_back(body);
    }
    fn subscribe(&mut self, addr: &str) -> (u64, mpsc::UnboundedReceiver<String>) {
        let (tx, rx) = mpsc::unbounded_channel();
        if let Some(q) = self.queues.get_mut(addr) {
            while let Some(m) = q.pop_front() {
                let _ = tx.send(m);
            }
        }
        self.next += 1;
        self.consumers
            .entry(addr.to_string())
            .or_default()
            .push((self.next, tx.clone()));
        (self.next, rx)
    }
    fn unsubscribe(&mut self, addr: &str, id: u64) {
        if let Some(cs) = self.consumers.get_mut(addr) {
            cs.retain(|(i, _)| *i != id);
        }
    }
}

pub struct Responder {
    pub addr: SocketAddr,
    pub journal: Arc<Mutex<Journal>>,
    task: tokio::task::JoinHandle<()>,
}

impl Responder {
    /// Wait (bounded, in tokio time) until `n` receiver links were detached.
    pub async fn wait_detaches(&self, n: usize) -> bool {
        let notify = self.journal.lock().unwrap().detached.clone();
        tokio::time::timeout(std::time::Duration::from_secs(5), async {
            loop {
                let notified = notify.notified();
                if self.journal.lock().unwrap().detaches.len() >= n {
                    return;
                }
                notified.await;
            }
        })
        .await
        .is_ok()
    }
}

impl Drop for Responder {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// SASL acceptor that, like RabbitMQ, refuses EXTERNAL without an initial response.
#[derive(Clone)]
pub struct StrictExternal(pub Arc<Mutex<Journal>>);

impl SaslAcceptor for StrictExternal {
    fn mechanisms(&self) -> Array<Symbol> {
        Array(vec![Symbol::from("EXTERNAL")])
    }
    fn on_init(&mut self, init: SaslInit) -> SaslServerFrame {
        let resp = init.initial_response.as_ref().map(|b| b.to_vec());
        self.0
            .lock()
            .unwrap()
            .sasl_inits
            .push((init.mechanism.as_str().to_string(), resp.clone()));
        let code = if init.mechanism.as_str() == "EXTERNAL" && resp.is_some() {
            SaslCode::Ok
        } else {
            SaslCode::Auth
        };
        SaslServerFrame::Outcome(SaslOutcome {
            code,
            additional_data: None,
        })
    }
    fn on_response(&mut self, _r: SaslResponse) -> SaslServerFrame {
        SaslServerFrame::Outcome(SaslOutcome {
            code: SaslCode::Auth,
            additional_data: None,
        })
    }
}

#[derive(Default)]
pub struct Options {
    pub tls: Option<Arc<rustls::ServerConfig>>,
    pub sasl_external: bool,
    /// Reject every request transfer (disposition `rejected`).
    pub reject_sends: bool,
    /// Detach every consumer at once with `amqp:unauthorized-access`.
    pub refuse_consumers: bool,
}

pub async fn start(script: Script, opts: Options) -> Responder {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let journal = Arc::new(Mutex::new(Journal::default()));
    let router = Arc::new(Mutex::new(Router::default()));
    let script = Arc::new(Mutex::new(script));
    let j = journal.clone();
    let task = tokio::spawn(async move {
        let count = Arc::new(Mutex::new(0usize));
        while let Ok((tcp, _)) = listener.accept().await {
            tcp.set_nodelay(true).unwrap();
            let (j, router, script, count) =
                (j.clone(), router.clone(), script.clone(), count.clone());
            let tls = opts.tls.clone();
            let sasl = opts.sasl_external;
            let faults = (opts.reject_sends, opts.refuse_consumers);
            tokio::spawn(async move {
                let _ = serve(tcp, tls, sasl, faults, j, router, script, count).await;
            });
        }
    });
    Responder {
        addr,
        journal,
        task,
    }
}

#[allow(clippy::too_many_arguments)]
async fn serve(
    tcp: TcpStream,
    tls: Option<Arc<rustls::ServerConfig>>,
    sasl: bool,
    (reject_sends, refuse_consumers): (bool, bool),
    j: Arc<Mutex<Journal>>,
    router: Arc<Mutex<Router>>,
    script: Arc<Mutex<Script>>,
    count: Arc<Mutex<usize>>,
) -> Result<(), String> {
    let conn = match tls {
        Some(cfg) => {
            let s = tokio_rustls::TlsAcceptor::from(cfg)
                .accept(tcp)
                .await
                .map_err(|e| e.to_string())?;
            if let Some(certs) = s.get_ref().1.peer_certificates() {
                let cn = msg_signer::tls::creator_from_cert(certs[0].as_ref()).unwrap_or_default();
                j.lock().unwrap().peer_cn.push(cn);
            }
            if sasl {
                ConnectionAcceptor::builder()
                    .container_id("responder")
                    .sasl_acceptor(StrictExternal(j.clone()))
                    .build()
                    .accept(s)
                    .await
            } else {
                ConnectionAcceptor::new("responder").accept(s).await
            }
        }
        None => ConnectionAcceptor::new("responder").accept(tcp).await,
    };
    let mut conn = conn.map_err(|e| e.to_string())?;
    while let Ok(mut session) = SessionAcceptor::new().accept(&mut conn).await {
        let (j, router, script, count) = (j.clone(), router.clone(), script.clone(), count.clone());
        tokio::spawn(async move {
            while let Ok(link) = LinkAcceptor::new().accept(&mut session).await {
                let (j, router, script, count) =
                    (j.clone(), router.clone(), script.clone(), count.clone());
                match link {
                    LinkEndpoint::Receiver(mut r) => {
                        tokio::spawn(async move {
                            while let Ok(d) = r.recv::<Body<Value>>().await {
                                let msg = d.message();
                                let (body, is_str) = match &msg.body {
                                    Body::Value(AmqpValue(Value::String(s))) => {
                                        (serde_json::from_str(s).unwrap_or(Json::Null), true)
                                    }
                                    _ => (Json::Null, false),
                                };
                                let props = msg
                                    .application_properties
                                    .as_ref()
                                    .map(|p| {
                                        p.0.iter()
                                            .map(|(k, v)| (k.clone(), match v {
                                                fe2o3_amqp::types::primitives::SimpleValue::String(s) => s.clone(),
                                                other => format!("{other:?}"),
                                            }))
                                            .collect()
                                    })
                                    .unwrap_or_default();
                                let seen = Seen {
                                    to: msg.properties.as_ref().and_then(|p| p.to.clone()),
                                    ttl: msg.header.as_ref().and_then(|h| h.ttl),
                                    props,
                                    body,
                                    body_is_string: is_str,
                                };
                                if reject_sends {
                                    let _ = r.reject(&d, None).await;
                                    j.lock().unwrap().requests.push(seen);
                                    continue;
                                }
                                let _ = r.accept(&d).await;
                                let n = {
                                    let mut c = count.lock().unwrap();
                                    *c += 1;
                                    *c - 1
                                };
                                j.lock().unwrap().requests.push(seen.clone());
                                let replies = (script.lock().unwrap())(&seen, n);
                                let mut rt = router.lock().unwrap();
                                for (a, b) in replies {
                                    rt.publish(&a, b);
                                }
                            }
                        });
                    }
                    LinkEndpoint::Sender(mut s) => {
                        let addr = s
                            .source()
                            .as_ref()
                            .and_then(|src| src.address.clone())
                            .unwrap_or_default();
                        j.lock().unwrap().attaches.push(addr.clone());
                        if refuse_consumers {
                            let e = fe2o3_amqp::types::definitions::Error::new(
                                fe2o3_amqp::types::definitions::AmqpError::UnauthorizedAccess,
                                Some("consumer denied".to_string()),
                                None,
                            );
                            let _ = s.close_with_error(e).await;
                            continue;
                        }
                        let (id, mut rx) = router.lock().unwrap().subscribe(&addr);
                        tokio::spawn(async move {
                            loop {
                                tokio::select! {
                                    m = rx.recv() => {
                                        let Some(m) = m else { break };
                                        let msg = Message::builder().value(m.clone()).build();
                                        if s.send(msg).await.is_err() {
                                            router.lock().unwrap().publish(&addr, m);
                                            break;
                                        }
                                    }
                                    _ = s.on_detach() => break,
                                }
                            }
                            router.lock().unwrap().unsubscribe(&addr, id);
                            // Requeue anything handed to this consumer but not sent.
                            while let Ok(m) = rx.try_recv() {
                                router.lock().unwrap().publish(&addr, m);
                            }
                            {
                                let mut j = j.lock().unwrap();
                                j.detaches.push(addr.clone());
                                j.detached.notify_waiters();
                            }
                            let _ = s.close().await;
                        });
                    }
                }
            }
        });
    }
    Ok(())
}

/// A signing reply envelope for a request (deployed shape).
pub fn signed_reply(seen: &Seen) -> String {
    let id = seen.body["request_id"].clone();
    let field = match seen.props.get("mtype").map(String::as_str) {
        Some("container_signature") => "signed_claim",
        Some("clearsign_signature") => "signed_data",
        _ => "signed_payload",
    };
    msg_signer::wire::reply_envelope(
        "reply",
        json!({"request_id": id, "errors": [], "signing_status": "success", field: "U0lHTkVE",
               "sig_key_id": seen.body["sig_key_id"]}),
    )
    .to_string()
}

/// Test PKI (test-pki): a CA, a server certificate for the loopback names, a client certificate
/// with the given CN and/or UID.
pub struct Pki {
    pub ca_pem: String,
    pub server_config: Arc<rustls::ServerConfig>,
    pub client_pem: String,
}

pub fn pki(client_cn: Option<&str>, client_uid: Option<&str>) -> Pki {
    let pki = test_pki::Pki::new(client_cn, client_uid).unwrap();
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    roots.add(pki.ca.cert_der.clone().into()).unwrap();
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
        Arc::new(roots),
        provider.clone(),
    )
    .build()
    .unwrap();
    let server_config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_client_cert_verifier(verifier)
        .with_single_cert(
            vec![pki.server.cert_der.clone().into()],
            rustls::pki_types::PrivateKeyDer::try_from(pki.server.key_der.clone()).unwrap(),
        )
        .unwrap();
    Pki {
        ca_pem: pki.ca.cert_pem.clone(),
        server_config: Arc::new(server_config),
        client_pem: pki.client.cert_key_pem(),
    }
}

//! Shared helpers for the broker's integration tests: fe2o3 clients over real loopback sockets
//! and test certificates (the test-pki crate).
#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use fe2o3_amqp::connection::ConnectionHandle;
use fe2o3_amqp::sasl_profile::SaslProfile;
use fe2o3_amqp::session::SessionHandle;
use fe2o3_amqp::{Connection, Session};
use tokio::net::TcpStream;

/// Bound on every step of a test.
pub const STEP: Duration = Duration::from_secs(10);

pub async fn bounded<F: std::future::Future>(f: F) -> F::Output {
    tokio::time::timeout(STEP, f)
        .await
        .expect("step did not finish within 10 s")
}

pub async fn connect(addr: std::net::SocketAddr, id: &str) -> ConnectionHandle<()> {
    connect_with(addr, id, None).await
}

pub async fn connect_with(
    addr: std::net::SocketAddr,
    id: &str,
    sasl: Option<SaslProfile>,
) -> ConnectionHandle<()> {
    let stream = bounded(TcpStream::connect(addr)).await.unwrap();
    stream.set_nodelay(true).unwrap();
    let mut b = Connection::builder().container_id(id).hostname("127.0.0.1");
    if let Some(s) = sasl {
        b = b.sasl_profile(s);
    }
    bounded(b.open_with_stream(stream)).await.unwrap()
}

pub async fn session(conn: &mut ConnectionHandle<()>) -> SessionHandle<()> {
    bounded(Session::begin(conn)).await.unwrap()
}

/// A test PKI (test-pki): a CA, a server certificate for the loopback names, and a client
/// certificate with CN and UID.
pub struct Pki {
    pub ca_pem: String,
    pub server_cert_pem: String,
    pub server_key_pem: String,
    pub client_cert_pem: String,
    pub client_key_pem: String,
}

pub fn pki(client_cn: &str, client_uid: Option<&str>) -> Pki {
    let p = test_pki::Pki::new(Some(client_cn), client_uid).unwrap();
    Pki {
        ca_pem: p.ca.cert_pem,
        server_cert_pem: p.server.cert_pem,
        server_key_pem: p.server.key_pem,
        client_cert_pem: p.client.cert_pem,
        client_key_pem: p.client.key_pem,
    }
}

/// A rustls client config trusting the test CA, optionally presenting the client certificate.
pub fn client_tls(pki: &Pki, with_cert: bool) -> Arc<rustls::ClientConfig> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_slice(pki.ca_pem.as_bytes()).unwrap())
        .unwrap();
    let b = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots);
    let cfg = if with_cert {
        b.with_client_auth_cert(
            vec![CertificateDer::from_pem_slice(pki.client_cert_pem.as_bytes()).unwrap()],
            PrivateKeyDer::from_pem_slice(pki.client_key_pem.as_bytes()).unwrap(),
        )
        .unwrap()
    } else {
        b.with_no_client_auth()
    };
    Arc::new(cfg)
}

/// A client-side TCP stream that signals when the broker closes the connection (EOF or error
/// on read, or an error on write), so a test can wait for that event with a bound. Writes
/// count too: since the broker advertises an idle-time-out, fe2o3's client sends an empty
/// frame right after the open, and when the broker has just closed, that write fails and the
/// client drops the stream without ever reading the EOF (seen in ~1 of 15 runs of
/// faults::dropping_the_handle_shuts_the_broker_down, the socket already gone on both sides).
#[derive(Debug)]
pub struct EofProbe {
    pub inner: TcpStream,
    pub closed: Arc<tokio::sync::Notify>,
}

impl tokio::io::AsyncRead for EofProbe {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let r = std::pin::Pin::new(&mut self.inner).poll_read(cx, buf);
        match &r {
            std::task::Poll::Ready(Ok(())) if buf.filled().len() == before => {
                self.closed.notify_one()
            }
            std::task::Poll::Ready(Err(_)) => self.closed.notify_one(),
            _ => {}
        }
        r
    }
}

impl tokio::io::AsyncWrite for EofProbe {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        let r = std::pin::Pin::new(&mut self.inner).poll_write(cx, buf);
        if let std::task::Poll::Ready(Err(_)) = &r {
            self.closed.notify_one();
        }
        r
    }
    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let r = std::pin::Pin::new(&mut self.inner).poll_flush(cx);
        if let std::task::Poll::Ready(Err(_)) = &r {
            self.closed.notify_one();
        }
        r
    }
    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// Connect through an [`EofProbe`]; returns the connection and the "closed by broker" signal.
pub async fn connect_probed(
    addr: std::net::SocketAddr,
    id: &str,
) -> (ConnectionHandle<()>, Arc<tokio::sync::Notify>) {
    let inner = bounded(TcpStream::connect(addr)).await.unwrap();
    inner.set_nodelay(true).unwrap();
    let closed = Arc::new(tokio::sync::Notify::new());
    let probe = EofProbe {
        inner,
        closed: closed.clone(),
    };
    let c = bounded(
        Connection::builder()
            .container_id(id)
            .open_with_stream(probe),
    )
    .await
    .unwrap();
    (c, closed)
}

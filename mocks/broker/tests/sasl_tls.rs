//! SASL variants and TLS with client certificates, over real loopback sockets.

mod common;

use common::*;
use fe2o3_amqp::connection::Connection;
use fe2o3_amqp::sasl_profile::SaslProfile;
use mock_broker::{Broker, BrokerError, Event};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

async fn connect_entry(broker: &mock_broker::BrokerHandle) -> mock_broker::Entry {
    broker
        .journal()
        .wait_for(|e| matches!(e.event, Event::Connect), STEP)
        .await
        .unwrap()
}

#[tokio::test]
async fn sasl_anonymous_and_plain_are_accepted_and_recorded() {
    let broker = Broker::start().await;
    let mut c = connect_with(broker.addr(), "anon", Some(SaslProfile::Anonymous)).await;
    let e = connect_entry(&broker).await;
    assert_eq!(e.peer.sasl_mechanism.as_deref(), Some("ANONYMOUS"));
    bounded(c.close()).await.unwrap();

    let broker = Broker::start().await;
    let mut c = connect_with(broker.addr(), "plain", Some(("alice", "pw").into())).await;
    let e = connect_entry(&broker).await;
    assert_eq!(e.peer.sasl_mechanism.as_deref(), Some("PLAIN"));
    assert_eq!(e.peer.sasl_identity.as_deref(), Some("alice"));
    bounded(c.close()).await.unwrap();
}

/// Read one frame (4-byte size, then the rest).
async fn read_frame(s: &mut TcpStream) -> Vec<u8> {
    let mut size = [0u8; 4];
    bounded(s.read_exact(&mut size)).await.unwrap();
    let n = u32::from_be_bytes(size) as usize;
    let mut rest = vec![0u8; n - 4];
    bounded(s.read_exact(&mut rest)).await.unwrap();
    rest
}

/// A SASL frame (type 1) around a performative body.
fn sasl_frame(body: &[u8]) -> Vec<u8> {
    let mut f = ((8 + body.len()) as u32).to_be_bytes().to_vec();
    f.extend_from_slice(&[2, 1, 0, 0]);
    f.extend_from_slice(body);
    f
}

/// Drive SASL EXTERNAL by hand (AMQP 1.0 part 5.3): fe2o3's client only sends EXTERNAL without
/// an initial response and only over its own TLS, and proton sends an empty one.
async fn raw_external(addr: std::net::SocketAddr, initial: Option<&[u8]>) {
    let mut s = bounded(TcpStream::connect(addr)).await.unwrap();
    s.write_all(b"AMQP\x03\x01\x00\x00").await.unwrap();
    let mut hdr = [0u8; 8];
    bounded(s.read_exact(&mut hdr)).await.unwrap();
    assert_eq!(&hdr, b"AMQP\x03\x01\x00\x00");
    let mechs = read_frame(&mut s).await;
    assert!(
        mechs.windows(8).any(|w| w == b"EXTERNAL"),
        "mechanisms offer EXTERNAL"
    );
    // sasl-init: descriptor 0x41, list of [mechanism sym8 "EXTERNAL", initial-response vbin8?]
    let mut fields = vec![0xa3, 8];
    fields.extend_from_slice(b"EXTERNAL");
    let count = match initial {
        Some(r) => {
            fields.push(0xa0);
            fields.push(r.len() as u8);
            fields.extend_from_slice(r);
            2
        }
        None => 1,
    };
    let mut body = vec![0x00, 0x53, 0x41, 0xc0, (fields.len() + 1) as u8, count];
    body.extend_from_slice(&fields);
    s.write_all(&sasl_frame(&body)).await.unwrap();
    let outcome = read_frame(&mut s).await;
    // doff/type/channel (4 bytes), then 0x00 0x53 0x44 (sasl-outcome), list, code ubyte 0 = ok
    assert_eq!(&outcome[4..7], &[0x00, 0x53, 0x44]);
    let code_pos = outcome.iter().position(|b| *b == 0x50).expect("ubyte code");
    assert_eq!(outcome[code_pos + 1], 0, "sasl-outcome code ok");
    s.write_all(b"AMQP\x00\x01\x00\x00").await.unwrap();
    bounded(s.read_exact(&mut hdr)).await.unwrap();
    assert_eq!(&hdr, b"AMQP\x00\x01\x00\x00");
    // open: descriptor 0x10, list [container-id str8 "raw"]
    let open = [
        0x00, 0x53, 0x10, 0xc0, 0x06, 0x01, 0xa1, 0x03, b'r', b'a', b'w',
    ];
    let mut f = ((8 + open.len()) as u32).to_be_bytes().to_vec();
    f.extend_from_slice(&[2, 0, 0, 0]);
    f.extend_from_slice(&open);
    s.write_all(&f).await.unwrap();
    let reply = read_frame(&mut s).await;
    assert_eq!(
        &reply[4..7],
        &[0x00, 0x53, 0x10],
        "broker answers with open"
    );
}

#[tokio::test]
async fn sasl_external_with_and_without_initial_response() {
    let broker = Broker::start().await;
    raw_external(broker.addr(), None).await;
    let e = connect_entry(&broker).await;
    assert_eq!(e.peer.sasl_mechanism.as_deref(), Some("EXTERNAL"));
    assert_eq!(e.peer.sasl_identity, None);

    let broker = Broker::start().await;
    raw_external(broker.addr(), Some(b"")).await;
    let e = connect_entry(&broker).await;
    assert_eq!(e.peer.sasl_mechanism.as_deref(), Some("EXTERNAL"));
    assert_eq!(
        e.peer.sasl_identity, None,
        "empty response = identity from TLS"
    );

    let broker = Broker::start().await;
    raw_external(broker.addr(), Some(b"alice")).await;
    let e = connect_entry(&broker).await;
    assert_eq!(e.peer.sasl_identity.as_deref(), Some("alice"));
}

#[tokio::test]
async fn tls_with_required_client_certificate_records_cn_and_uid() {
    let pki = pki("alice", Some("alice-uid"));
    let broker = Broker::builder()
        .tls(&pki.server_cert_pem, &pki.server_key_pem)
        .client_ca(&pki.ca_pem)
        .start()
        .await
        .unwrap();
    assert!(broker.url().starts_with("amqps://127.0.0.1:"));

    // As the deployed client does: TLS at once, then the plain AMQP header (no SASL).
    let tcp = bounded(TcpStream::connect(broker.addr())).await.unwrap();
    let connector = tokio_rustls::TlsConnector::from(client_tls(&pki, true));
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let tls = bounded(connector.connect(name, tcp)).await.unwrap();
    let mut c = bounded(
        Connection::builder()
            .container_id("tls")
            .open_with_stream(tls),
    )
    .await
    .unwrap();
    let e = connect_entry(&broker).await;
    assert!(e.peer.tls);
    assert_eq!(e.peer.cert_cn.as_deref(), Some("alice"));
    assert_eq!(e.peer.cert_uid.as_deref(), Some("alice-uid"));
    assert_eq!(e.peer.sasl_mechanism, None);
    bounded(c.close()).await.unwrap();

    // fe2o3's own amqps with SASL EXTERNAL (no initial response).
    let tcp = bounded(TcpStream::connect(broker.addr())).await.unwrap();
    let mut c = bounded(
        Connection::builder()
            .container_id("tls-ext")
            .scheme("amqps")
            .domain("localhost")
            .hostname("localhost")
            .rustls_connector(tokio_rustls::TlsConnector::from(client_tls(&pki, true)))
            .alt_tls_establishment(true)
            .sasl_profile(SaslProfile::External)
            .open_with_stream(tcp),
    )
    .await
    .unwrap();
    let e = broker
        .journal()
        .wait_for_count(|e| matches!(e.event, Event::Connect), 2, STEP)
        .await
        .unwrap()
        .remove(1);
    assert_eq!(e.peer.sasl_mechanism.as_deref(), Some("EXTERNAL"));
    assert_eq!(e.peer.cert_cn.as_deref(), Some("alice"));
    bounded(c.close()).await.unwrap();

    // Without a client certificate the handshake fails and the journal says why.
    let tcp = bounded(TcpStream::connect(broker.addr())).await.unwrap();
    let connector = tokio_rustls::TlsConnector::from(client_tls(&pki, false));
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let res = bounded(async {
        let mut tls = connector.connect(name, tcp).await?;
        // TLS 1.3: the server's verdict on the client certificate arrives after the handshake.
        tls.write_all(b"AMQP\x00\x01\x00\x00").await?;
        let mut b = [0u8; 8];
        tls.read_exact(&mut b).await
    })
    .await;
    assert!(res.is_err(), "no client certificate must not get through");
    let r = broker
        .journal()
        .wait_for(|e| matches!(e.event, Event::Refused { .. }), STEP)
        .await
        .unwrap();
    assert!(
        format!("{:?}", r.event).contains("TLS handshake failed"),
        "{r:?}"
    );
}

#[tokio::test]
async fn configuration_errors_are_typed_and_name_the_problem() {
    let err = Broker::builder()
        .listen("10.0.0.1:5672".parse().unwrap())
        .start()
        .await
        .unwrap_err();
    assert!(matches!(err, BrokerError::NotLoopback(_)), "{err}");
    let err = Broker::builder()
        .tls("not pem", "nor this")
        .start()
        .await
        .unwrap_err();
    assert!(err.to_string().contains("server certificate"), "{err}");
    let pki = pki("x", None);
    let err = Broker::builder()
        .client_ca(&pki.ca_pem)
        .start()
        .await
        .unwrap_err();
    assert!(matches!(err, BrokerError::ClientCaWithoutTls), "{err}");
}

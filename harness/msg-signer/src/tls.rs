//! TLS and identity: rustls (aws-lc-rs provider) client configuration, the client certificate
//! and key from `messaging_cert_key`, broker verification against `messaging_ca_cert`, and the
//! creator read from the client certificate.
//!
//! Creator order: the certificate subject's CN, else its UID (OID 0.9.2342.19200300.100.1.1).
//! The spec says "UID or CN"; the deployed client prefers CN, and we follow the deployed code
//! so that both clients compute the same reply address. `--requester` overrides both.

use std::path::Path;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

use crate::error::{Error, Result};

const OID_UID: &str = "0.9.2342.19200300.100.1.1";

fn pem_err(path: &Path, message: impl Into<String>) -> Error {
    Error::Pem {
        path: path.to_path_buf(),
        message: message.into(),
    }
}

/// The certificate chain (leaf first) and private key of one PEM file.
pub fn load_cert_key(
    path: &Path,
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)> {
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| pem_err(path, format!("cannot read certificates: {e}")))?
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| pem_err(path, format!("bad certificate PEM: {e}")))?;
    if certs.is_empty() {
        return Err(pem_err(
            path,
            "no CERTIFICATE block (messaging_cert_key must hold the client certificate and its key)",
        ));
    }
    let key = PrivateKeyDer::from_pem_file(path).map_err(|e| {
        pem_err(
            path,
            format!("no usable private key (PKCS#8, PKCS#1 or SEC1 PEM block): {e}"),
        )
    })?;
    Ok((certs, key))
}

/// The CA certificates of a PEM file.
pub fn load_ca(path: &Path) -> Result<RootCertStore> {
    let mut roots = RootCertStore::empty();
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| pem_err(path, format!("cannot read CA certificates: {e}")))?;
    for c in certs {
        let c = c.map_err(|e| pem_err(path, format!("bad CA certificate PEM: {e}")))?;
        roots
            .add(c)
            .map_err(|e| pem_err(path, format!("unusable CA certificate: {e}")))?;
    }
    if roots.is_empty() {
        return Err(pem_err(path, "no CERTIFICATE block in messaging_ca_cert"));
    }
    Ok(roots)
}

/// The creator of a certificate: subject CN, else subject UID.
pub fn creator_from_cert(der: &[u8]) -> std::result::Result<String, String> {
    let (_, cert) = x509_parser::parse_x509_certificate(der)
        .map_err(|e| format!("client certificate is not valid X.509: {e}"))?;
    let subject = cert.subject();
    if let Some(cn) = subject.iter_common_name().next() {
        let cn = cn
            .as_str()
            .map_err(|e| format!("subject CN is not a string: {e}"))?;
        if !cn.is_empty() {
            return Ok(cn.to_string());
        }
    }
    for rdn in subject.iter() {
        for attr in rdn.iter() {
            if attr.attr_type().to_id_string() == OID_UID
                && let Ok(uid) = attr.as_str()
                && !uid.is_empty()
            {
                return Ok(uid.to_string());
            }
        }
    }
    Err(format!("subject {subject} has neither CN nor UID"))
}

/// The creator: `requester` if given, else from the certificate in `messaging_cert_key`.
pub fn creator(requester: Option<&str>, cert_key: &Path) -> Result<String> {
    if let Some(r) = requester {
        if r.trim().is_empty() {
            return Err(Error::Creator("--requester is empty".into()));
        }
        return Ok(r.to_string());
    }
    let (certs, _) = load_cert_key(cert_key).map_err(|e| {
        Error::Creator(format!(
            "{e} (give --requester, or a messaging_cert_key with a client certificate)"
        ))
    })?;
    creator_from_cert(certs[0].as_ref())
        .map_err(|m| Error::Creator(format!("{}: {m}", cert_key.display())))
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// The rustls client configuration for `amqps://` brokers. `verify_broker = false` is the
/// explicit opt-out (`--insecure-skip-broker-verify`) matching the deployed client's behaviour.
pub fn client_config(cert_key: &Path, ca: &Path, verify_broker: bool) -> Result<Arc<ClientConfig>> {
    let provider = provider();
    let (certs, key) = load_cert_key(cert_key)?;
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Tls(e.to_string()))?;
    let builder = if verify_broker {
        builder.with_root_certificates(load_ca(ca)?)
    } else {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnyServerCert(provider)))
    };
    let config = builder.with_client_auth_cert(certs, key).map_err(|e| {
        pem_err(
            cert_key,
            format!("certificate and key do not form a client identity: {e}"),
        )
    })?;
    Ok(Arc::new(config))
}

/// The server name to verify for a broker host (DNS name or IP address).
pub fn server_name(host: &str) -> Result<ServerName<'static>> {
    ServerName::try_from(host.to_string()).map_err(|e| {
        Error::Tls(format!(
            "broker host {host:?} is not a valid server name: {e}"
        ))
    })
}

/// Accepts any broker certificate but still checks handshake signatures. Used only with the
/// explicit opt-out.
#[derive(Debug)]
struct AcceptAnyServerCert(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAnyServerCert {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

//! TLS termination (rustls, aws-lc-rs provider) and the peer identity read from the client
//! certificate. TLS is terminated here, before AMQP, because `amqps://` clients start TLS at once
//! (fe2o3's built-in acceptor TLS waits for an AMQP TLS protocol header first).

use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};
use x509_parser::prelude::{FromDer, X509Certificate};

use crate::error::BrokerError;

/// Parse every certificate in a PEM text.
pub(crate) fn certs_from_pem(
    pem: &[u8],
    what: &'static str,
    origin: &str,
) -> Result<Vec<CertificateDer<'static>>, BrokerError> {
    let certs: Result<Vec<_>, _> = CertificateDer::pem_slice_iter(pem).collect();
    let certs = certs.map_err(|e| BrokerError::Pem {
        what,
        origin: origin.to_string(),
        reason: format!("not valid PEM: {e}"),
    })?;
    if certs.is_empty() {
        return Err(BrokerError::Pem {
            what,
            origin: origin.to_string(),
            reason: "no \"BEGIN CERTIFICATE\" block found".into(),
        });
    }
    Ok(certs)
}

/// Parse the first private key (PKCS#8, PKCS#1 or SEC1) in a PEM text.
pub(crate) fn key_from_pem(
    pem: &[u8],
    origin: &str,
) -> Result<PrivateKeyDer<'static>, BrokerError> {
    PrivateKeyDer::from_pem_slice(pem).map_err(|e| BrokerError::Pem {
        what: "server private key",
        origin: origin.to_string(),
        reason: format!("no usable private key (PKCS#8, RSA or EC PEM block): {e}"),
    })
}

/// Build the server configuration: the broker's chain and key, and when `client_ca` is given a
/// verifier that requires a client certificate issued by one of those CAs.
pub(crate) fn server_config(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    client_ca: Option<Vec<CertificateDer<'static>>>,
) -> Result<Arc<ServerConfig>, BrokerError> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| BrokerError::Tls(e.to_string()))?;
    let builder = match client_ca {
        Some(cas) => {
            let mut roots = RootCertStore::empty();
            for ca in cas {
                roots
                    .add(ca)
                    .map_err(|e| BrokerError::Tls(format!("client CA certificate: {e}")))?;
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .map_err(|e| BrokerError::Tls(format!("client certificate verifier: {e}")))?;
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    let config = builder
        .with_single_cert(chain, key)
        .map_err(|e| BrokerError::Tls(format!("server certificate and key: {e}")))?;
    Ok(Arc::new(config))
}

/// Subject CN and UID of a DER certificate (either may be absent).
pub(crate) fn subject_cn_uid(der: &[u8]) -> (Option<String>, Option<String>) {
    let Ok((_, cert)) = X509Certificate::from_der(der) else {
        return (None, None);
    };
    let subject = cert.subject();
    let cn = subject
        .iter_common_name()
        .next()
        .and_then(|a| a.as_str().ok())
        .map(str::to_string);
    let uid = subject
        .iter_by_oid(&x509_parser::oid_registry::OID_USERID)
        .next()
        .and_then(|a| a.as_str().ok())
        .map(str::to_string);
    (cn, uid)
}

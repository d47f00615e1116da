//! # test-pki: throwaway certificates for tests and local brokers
//!
//! The one place the workspace makes test certificates (rcgen, aws-lc-rs): a CA, a server
//! certificate for the loopback names, client certificates whose subject carries a CN and/or a
//! UID (the messaging signer takes its creator from them), and, for "wrong CA" cases, a second
//! CA that issued none of them. Everything comes as PEM strings (and DER), and
//! [`Pki::write_to`] writes the files a broker and a client configuration name.
//!
//! Used by the `msg-signer` conformance suite (the certificates of each client-mode case),
//! `cargo xtask broker rabbitmq start` (RabbitMQ's TLS listener and the client certificate it
//! logs in with SASL EXTERNAL), and, as a **dev-dependency only**, by the integration tests of
//! `msg-signer` (harness/msg-signer/tests/support) and `mock-broker` (mocks/broker/tests/common):
//! nothing in `harness/` depends on it outside its tests.
//!
//! ## The certificate profile
//! Kept as the `openssl req`/`openssl x509 -req` recipe xtask used before made it, so RabbitMQ
//! (Erlang `ssl`, `verify_peer`, `fail_if_no_peer_cert`, `ssl_cert_login_from = common_name`)
//! accepts the same files:
//! - every key is ECDSA P-256, every signature ECDSA with SHA-256; X.509 v3;
//! - the CA: subject `CN=<name>`, basic constraints `CA:TRUE` (critical), subject and authority
//!   key identifiers;
//! - the server: subject `CN=localhost`, subject alternative names `DNS:localhost`,
//!   `IP:127.0.0.1`, `IP:::1`, extended key usage `serverAuth`, both key identifiers;
//! - a client: subject `CN=<cn>` and/or `UID=<uid>` (OID 0.9.2342.19200300.100.1.1), in that
//!   order, nothing else in the subject; extended key usage `clientAuth`; both key identifiers.
//!
//! One departure from the openssl recipe: validity is rcgen's default (1975 to 4096), not 30
//! days. xtask generates the files once per state directory and reuses them, and a 30-day
//! certificate made a month-old `target/rabbitmq` fail its TLS handshakes.
//!
//! ```
//! let pki = test_pki::Pki::new(Some("alice"), None).unwrap();
//! assert!(pki.ca.cert_pem.starts_with("-----BEGIN CERTIFICATE-----"));
//! assert!(pki.client.cert_key_pem().contains("PRIVATE KEY"));
//! let other = test_pki::Ca::new("an unrelated CA").unwrap();
//! assert_ne!(other.cert_pem, pki.ca.cert_pem);
//! ```

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, CustomExtension, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
};

pub use rcgen::Error;

/// `Result` with rcgen's error (the only thing that can fail while generating).
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The OID of the `UID` (userid) attribute of a subject name.
pub const UID_OID: [u64; 7] = [0, 9, 2342, 19200300, 100, 1, 1];

/// The subject CN of [`Pki::new`]'s CA.
pub const CA_NAME: &str = "sigharness test CA";

/// The names a server certificate is valid for: the loopback names, nothing else.
pub const SERVER_NAMES: [&str; 3] = ["localhost", "127.0.0.1", "::1"];

/// The OID of the subject key identifier extension (RFC 5280 §4.2.1.2).
const SUBJECT_KEY_IDENTIFIER: [u64; 4] = [2, 5, 29, 14];

/// A certificate authority: its certificate, and the key that signs what it issues.
pub struct Ca {
    pub cert_pem: String,
    pub cert_der: Vec<u8>,
    /// PKCS#8 PEM of the CA's key.
    pub key_pem: String,
    issuer: Issuer<'static, KeyPair>,
}

/// A certificate issued by a [`Ca`], with its key.
#[derive(Clone, Debug)]
pub struct Leaf {
    pub cert_pem: String,
    pub cert_der: Vec<u8>,
    /// PKCS#8 PEM of the key.
    pub key_pem: String,
    /// PKCS#8 DER of the key.
    pub key_der: Vec<u8>,
}

impl Leaf {
    /// Certificate then key in one PEM (what `messaging_cert_key` and `--cert-key` expect).
    pub fn cert_key_pem(&self) -> String {
        format!("{}{}", self.cert_pem, self.key_pem)
    }
}

impl std::fmt::Debug for Ca {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ca")
            .field("cert_pem", &self.cert_pem)
            .finish()
    }
}

impl Ca {
    /// A new self-signed CA whose subject is `CN=<common_name>`.
    pub fn new(common_name: &str) -> Result<Ca> {
        let key = KeyPair::generate()?;
        let mut p = CertificateParams::new(Vec::<String>::new())?;
        p.distinguished_name = DistinguishedName::new();
        p.distinguished_name.push(DnType::CommonName, common_name);
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        p.use_authority_key_identifier_extension = true;
        let cert = p.self_signed(&key)?;
        Ok(Ca {
            cert_pem: cert.pem(),
            cert_der: cert.der().to_vec(),
            key_pem: key.serialize_pem(),
            issuer: Issuer::new(p, key),
        })
    }

    /// A server certificate for [`SERVER_NAMES`] (`CN=localhost`, `serverAuth`).
    pub fn server(&self) -> Result<Leaf> {
        let mut p = CertificateParams::new(SERVER_NAMES.map(String::from).to_vec())?;
        p.distinguished_name = DistinguishedName::new();
        p.distinguished_name.push(DnType::CommonName, "localhost");
        p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        self.issue(p)
    }

    /// A client certificate whose subject is `CN=<cn>` and/or `UID=<uid>` (either may be
    /// absent; with neither the subject is empty), `clientAuth`.
    pub fn client(&self, cn: Option<&str>, uid: Option<&str>) -> Result<Leaf> {
        let mut p = CertificateParams::new(Vec::<String>::new())?;
        p.distinguished_name = DistinguishedName::new();
        if let Some(cn) = cn {
            p.distinguished_name.push(DnType::CommonName, cn);
        }
        if let Some(uid) = uid {
            p.distinguished_name
                .push(DnType::CustomDnType(UID_OID.to_vec()), uid);
        }
        p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        self.issue(p)
    }

    fn issue(&self, mut p: CertificateParams) -> Result<Leaf> {
        let key = KeyPair::generate()?;
        p.use_authority_key_identifier_extension = true;
        // rcgen writes a subject key identifier only for CAs; openssl's recipe has one on
        // every certificate. Its value: the key identifier rcgen derives (DER OCTET STRING).
        let id = p.key_identifier(&key);
        let mut content = vec![0x04, id.len() as u8];
        content.extend(id);
        p.custom_extensions.push(CustomExtension::from_oid_content(
            &SUBJECT_KEY_IDENTIFIER,
            content,
        ));
        let cert = p.signed_by(&key, &self.issuer)?;
        Ok(Leaf {
            cert_pem: cert.pem(),
            cert_der: cert.der().to_vec(),
            key_pem: key.serialize_pem(),
            key_der: key.serialize_der(),
        })
    }
}

/// A CA ([`CA_NAME`]), a server certificate and one client certificate it issued.
#[derive(Debug)]
pub struct Pki {
    pub ca: Ca,
    pub server: Leaf,
    pub client: Leaf,
}

/// Where [`Pki::write_to`] put each file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PkiFiles {
    /// `ca.pem`: the CA certificate.
    pub ca_cert: PathBuf,
    /// `ca.key`: the CA's key (to issue more certificates by hand).
    pub ca_key: PathBuf,
    /// `server.pem`, `server.key`.
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
    /// `client.pem`, `client.key`.
    pub client_cert: PathBuf,
    pub client_key: PathBuf,
    /// `client-cert-key.pem`: client certificate then key, as `messaging_cert_key` expects.
    pub client_cert_key: PathBuf,
}

impl Pki {
    /// A fresh CA, a server certificate and a client certificate with `client_cn` and/or
    /// `client_uid` in its subject.
    pub fn new(client_cn: Option<&str>, client_uid: Option<&str>) -> Result<Pki> {
        let ca = Ca::new(CA_NAME)?;
        let server = ca.server()?;
        let client = ca.client(client_cn, client_uid)?;
        Ok(Pki { ca, server, client })
    }

    /// Write every certificate and key into `dir` (created if missing); see [`PkiFiles`] for
    /// the names.
    pub fn write_to(&self, dir: &Path) -> std::io::Result<PkiFiles> {
        std::fs::create_dir_all(dir)?;
        let write = |name: &str, text: &str| -> std::io::Result<PathBuf> {
            let p = dir.join(name);
            std::fs::write(&p, text).map_err(|e| {
                std::io::Error::new(e.kind(), format!("cannot write {}: {e}", p.display()))
            })?;
            Ok(p)
        };
        Ok(PkiFiles {
            ca_cert: write("ca.pem", &self.ca.cert_pem)?,
            ca_key: write("ca.key", &self.ca.key_pem)?,
            server_cert: write("server.pem", &self.server.cert_pem)?,
            server_key: write("server.key", &self.server.key_pem)?,
            client_cert: write("client.pem", &self.client.cert_pem)?,
            client_key: write("client.key", &self.client.key_pem)?,
            client_cert_key: write("client-cert-key.pem", &self.client.cert_key_pem())?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use x509_parser::extensions::{GeneralName, ParsedExtension};
    use x509_parser::prelude::*;

    fn parse(der: &[u8]) -> X509Certificate<'_> {
        X509Certificate::from_der(der).expect("a DER certificate").1
    }

    /// (SANs, EKU server/client, has SKI, has AKI, CA flag) of a certificate.
    fn profile(c: &X509Certificate<'_>) -> (Vec<String>, (bool, bool), bool, bool, Option<bool>) {
        let mut sans = vec![];
        let (mut eku, mut ski, mut aki, mut ca) = ((false, false), false, false, None);
        for ext in c.extensions() {
            match ext.parsed_extension() {
                ParsedExtension::SubjectAlternativeName(s) => {
                    for n in &s.general_names {
                        sans.push(match n {
                            GeneralName::DNSName(d) => format!("DNS:{d}"),
                            GeneralName::IPAddress(b) if b.len() == 4 => {
                                format!("IP:{}", std::net::Ipv4Addr::from([b[0], b[1], b[2], b[3]]))
                            }
                            GeneralName::IPAddress(b) => {
                                let a: [u8; 16] = (*b).try_into().expect("16 bytes");
                                format!("IP:{}", std::net::Ipv6Addr::from(a))
                            }
                            other => format!("{other:?}"),
                        });
                    }
                }
                ParsedExtension::ExtendedKeyUsage(e) => eku = (e.server_auth, e.client_auth),
                ParsedExtension::SubjectKeyIdentifier(_) => ski = true,
                ParsedExtension::AuthorityKeyIdentifier(_) => aki = true,
                ParsedExtension::BasicConstraints(b) => {
                    assert!(ext.critical, "basic constraints are critical");
                    ca = Some(b.ca);
                }
                _ => {}
            }
        }
        (sans, eku, ski, aki, ca)
    }

    fn is_p256_ecdsa(c: &X509Certificate<'_>) -> bool {
        c.public_key().algorithm.algorithm.to_id_string() == "1.2.840.10045.2.1"
            && c.public_key()
                .algorithm
                .parameters
                .as_ref()
                .and_then(|p| p.as_oid().ok())
                .map(|o| o.to_id_string())
                .as_deref()
                == Some("1.2.840.10045.3.1.7")
            && c.signature_algorithm.algorithm.to_id_string() == "1.2.840.10045.4.3.2"
    }

    #[test]
    fn the_profile_is_the_openssl_recipes() {
        let pki = Pki::new(Some("sigharness-client"), Some("sigharness-uid")).unwrap();
        let ca = parse(&pki.ca.cert_der);
        assert_eq!(ca.subject().to_string(), "CN=sigharness test CA");
        assert_eq!(ca.issuer().to_string(), "CN=sigharness test CA");
        assert_eq!(ca.version(), X509Version::V3);
        assert!(is_p256_ecdsa(&ca));
        assert_eq!(
            profile(&ca),
            (vec![], (false, false), true, true, Some(true))
        );

        let server = parse(&pki.server.cert_der);
        assert_eq!(server.subject().to_string(), "CN=localhost");
        assert_eq!(server.issuer().to_string(), "CN=sigharness test CA");
        assert!(is_p256_ecdsa(&server));
        assert_eq!(
            profile(&server),
            (
                vec![
                    "DNS:localhost".into(),
                    "IP:127.0.0.1".into(),
                    "IP:::1".into()
                ],
                (true, false),
                true,
                true,
                None
            )
        );

        let client = parse(&pki.client.cert_der);
        // CN first, then UID (x509-parser prints the UID attribute by its short name).
        let subject: Vec<(String, String)> = client
            .subject()
            .iter_attributes()
            .map(|a| {
                (
                    a.attr_type().to_id_string(),
                    a.as_str().unwrap().to_string(),
                )
            })
            .collect();
        assert_eq!(
            subject,
            [
                ("2.5.4.3".to_string(), "sigharness-client".to_string()),
                (
                    "0.9.2342.19200300.100.1.1".to_string(),
                    "sigharness-uid".to_string()
                )
            ]
        );
        assert!(is_p256_ecdsa(&client));
        assert_eq!(profile(&client), (vec![], (false, true), true, true, None));
        // The leaves' authority key identifier is the CA's subject key identifier.
        let ski = |c: &X509Certificate<'_>| {
            c.extensions()
                .iter()
                .find_map(|e| match e.parsed_extension() {
                    ParsedExtension::SubjectKeyIdentifier(k) => Some(k.0.to_vec()),
                    _ => None,
                })
        };
        let aki = |c: &X509Certificate<'_>| {
            c.extensions()
                .iter()
                .find_map(|e| match e.parsed_extension() {
                    ParsedExtension::AuthorityKeyIdentifier(k) => {
                        k.key_identifier.as_ref().map(|k| k.0.to_vec())
                    }
                    _ => None,
                })
        };
        assert_eq!(aki(&server), ski(&ca));
        assert_eq!(aki(&client), ski(&ca));
        assert_ne!(ski(&client), ski(&server));
    }

    #[test]
    fn client_subjects_hold_only_what_was_asked() {
        let ca = Ca::new("t").unwrap();
        let uid_only = ca.client(None, Some("u1")).unwrap();
        let c = parse(&uid_only.cert_der);
        assert!(c.subject().iter_common_name().next().is_none());
        assert_eq!(c.subject().iter_attributes().count(), 1);
        let cn_only = ca.client(Some("c1"), None).unwrap();
        assert_eq!(parse(&cn_only.cert_der).subject().to_string(), "CN=c1");
        let none = ca.client(None, None).unwrap();
        assert_eq!(parse(&none.cert_der).subject().iter_attributes().count(), 0);
    }

    #[test]
    fn another_ca_did_not_issue_these_certificates() {
        let pki = Pki::new(Some("x"), None).unwrap();
        let other = Ca::new("an unrelated CA").unwrap();
        let key_id = |der: &[u8], want_ski: bool| {
            parse(der)
                .extensions()
                .iter()
                .find_map(|e| match e.parsed_extension() {
                    ParsedExtension::SubjectKeyIdentifier(k) if want_ski => Some(k.0.to_vec()),
                    ParsedExtension::AuthorityKeyIdentifier(k) if !want_ski => {
                        k.key_identifier.as_ref().map(|k| k.0.to_vec())
                    }
                    _ => None,
                })
        };
        let issued_by = key_id(&pki.server.cert_der, false);
        assert_eq!(issued_by, key_id(&pki.ca.cert_der, true));
        assert_ne!(issued_by, key_id(&other.cert_der, true));
    }

    #[test]
    fn files_are_written_with_the_names_brokers_are_configured_with() {
        let dir = tempfile::tempdir().unwrap();
        let pki = Pki::new(Some("c"), None).unwrap();
        let f = pki.write_to(&dir.path().join("certs")).unwrap();
        let read = |p: &Path| std::fs::read_to_string(p).unwrap();
        assert_eq!(read(&f.ca_cert), pki.ca.cert_pem);
        assert_eq!(read(&f.server_key), pki.server.key_pem);
        assert_eq!(
            read(&f.client_cert_key),
            format!("{}{}", pki.client.cert_pem, pki.client.key_pem)
        );
        assert!(read(&f.ca_key).starts_with("-----BEGIN PRIVATE KEY-----"));
        let names: Vec<_> = [
            &f.ca_cert,
            &f.ca_key,
            &f.server_cert,
            &f.server_key,
            &f.client_cert,
            &f.client_key,
            &f.client_cert_key,
        ]
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
        assert_eq!(
            names,
            [
                "ca.pem",
                "ca.key",
                "server.pem",
                "server.key",
                "client.pem",
                "client.key",
                "client-cert-key.pem"
            ]
        );
    }
}

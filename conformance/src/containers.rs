//! Real brokers in containers: `--broker container:artemis` and `--broker container:rabbitmq`.
//!
//! ## Brokers in containers (cargo feature `docker`)
//!
//! Where a Docker engine exists, the `msg-signer` suite can run against a real broker that
//! `sigharness` starts itself with [testcontainers] and removes when the run ends:
//!
//! | `--broker`           | image                             | addresses                         | login |
//! |----------------------|-----------------------------------|-----------------------------------|-------|
//! | `container:artemis`  | `apache/artemis:2.55.0-alpine`    | `topic://X`, `queue://X` (as is)  | no SASL or ANONYMOUS; PLAIN `artemis`/`artemis` |
//! | `container:rabbitmq` | `rabbitmq:3.13.7-alpine` + `rabbitmq_amqp1_0` | `/topic/X`, `/queue/X` (`--address-map rabbitmq`) | no SASL or ANONYMOUS (as `guest`); PLAIN `guest`/`guest` |
//!
//! - **Artemis**: our own `broker.xml` (see [`ARTEMIS_BROKER_XML`]) is copied into the image's
//!   `etc-override` folder: one AMQP acceptor on port 5672 with
//!   `anycastPrefix=queue://;multicastPrefix=topic://`, so `queue://X` is an anycast queue and
//!   `topic://X` a multicast address, as on production ActiveMQ brokers. Security is disabled
//!   (a throw-away broker on a loopback port), persistence is off. Ready when the log says
//!   `Started ... Acceptor at 0.0.0.0:5672 for protocols [AMQP]` and `AMQ221007: Server is now active`.
//! - **RabbitMQ 3.13**: `enabled_plugins` = `[rabbitmq_amqp1_0].` and a `conf.d` file
//!   ([`RABBITMQ_CONF`]): `loopback_users.guest = false` (connections come through the Docker
//!   bridge, not from the container's loopback), `amqp1_0.default_user = guest` (clients with no
//!   SASL or with ANONYMOUS are logged in as `guest`). RabbitMQ 3.x rejects `topic://`/`queue://`,
//!   hence `address_map = "rabbitmq"`. Ready when the log says `Server startup complete`.
//! - **Loopback only**: port 5672 of the container is published on `127.0.0.1` with a port the
//!   engine picks (we replace testcontainers' default "publish every exposed port on all
//!   interfaces" with one binding to `127.0.0.1`); nothing else is published. A Docker engine on
//!   another machine (`DOCKER_HOST=tcp://other:2376`) is refused with an error: its ports would not
//!   be on this machine's loopback.
//! - **Bounds**: reaching the engine is bounded by [`ENGINE_PROBE_TIMEOUT`] (10 s): without an
//!   engine, [`start`] fails with one line, `no Docker engine reachable (<cause>): --broker
//!   container:artemis needs one`; pulling + starting + readiness by [`START_TIMEOUT`].
//! - **Lifetime**: the container lives as long as the [`StartedBroker`]; call
//!   [`StartedBroker::stop`] (or drop it inside the tokio runtime) to remove it.
//! - **TLS/crypto**: testcontainers is built without its default `ring` feature, with `aws-lc-rs`
//!   (only used for a `DOCKER_HOST` over TLS); no `ring`, no OpenSSL in the tree.
//!
//! Build: `cargo run -p sigharness --features docker -- msg-signer ... --broker container:artemis`
//! (or `cargo install --path conformance --features docker`). Without the feature, everything here
//! still compiles and [`start`] returns [`ContainerError::NotBuilt`], saying how to rebuild.
//!
//! [testcontainers]: https://docs.rs/testcontainers

use std::time::Duration;

/// Prefix of `--broker` values that name a container instead of a URL.
pub const CONTAINER_PREFIX: &str = "container:";

/// Bound on finding and pinging the Docker engine.
pub const ENGINE_PROBE_TIMEOUT: Duration = Duration::from_secs(10);
/// Bound on pulling the image, creating, starting, and waiting for readiness.
pub const START_TIMEOUT: Duration = Duration::from_secs(600);
/// Bound on the readiness wait once the container runs (part of [`START_TIMEOUT`]).
pub const READY_TIMEOUT: Duration = Duration::from_secs(180);

/// AMQP port inside both containers.
pub const AMQP_PORT: u16 = 5672;

/// A broker that `--broker container:<name>` starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ContainerBroker {
    /// Apache Artemis (`apache/artemis`), `topic://` and `queue://` prefixes configured.
    Artemis,
    /// RabbitMQ 3.13 with the AMQP 1.0 plugin.
    RabbitMq,
}

/// How a client logs in to a container broker.
///
/// Both containers accept a connection with no SASL layer (the suite's default,
/// `msg_signer::transport::SaslMode::None`) and SASL ANONYMOUS; SASL PLAIN with
/// `plain_user`/`plain_password` works as well.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ContainerSasl {
    /// No SASL layer, or SASL ANONYMOUS, is accepted.
    pub anonymous: bool,
    /// SASL PLAIN user name that is accepted.
    pub plain_user: &'static str,
    /// SASL PLAIN password that is accepted.
    pub plain_password: &'static str,
}

/// A file written into the container before it starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ContainerFile {
    /// Absolute path inside the container.
    pub path: &'static str,
    pub contents: &'static str,
}

/// Our Artemis configuration; it replaces the `broker.xml` that the image's `artemis create`
/// writes (the image copies `etc-override/*` over `etc/` after creating the instance).
///
/// The one acceptor speaks AMQP only; `anycastPrefix=queue://;multicastPrefix=topic://` makes
/// Artemis strip those prefixes and pick the routing type from them (Artemis user manual,
/// "Address Model", "Using Prefixes to Determine Routing Type").
pub const ARTEMIS_BROKER_XML: &str = r##"<?xml version="1.0"?>
<!-- written by sigharness (--broker container:artemis): a throw-away broker on a loopback port -->
<configuration xmlns="urn:activemq"
               xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
               xsi:schemaLocation="urn:activemq /schema/artemis-configuration.xsd">
   <core xmlns="urn:activemq:core">
      <name>sigharness</name>
      <persistence-enabled>false</persistence-enabled>
      <security-enabled>false</security-enabled>
      <paging-directory>data/paging</paging-directory>
      <bindings-directory>data/bindings</bindings-directory>
      <journal-directory>data/journal</journal-directory>
      <large-messages-directory>data/large-messages</large-messages-directory>
      <acceptors>
         <acceptor name="amqp">tcp://0.0.0.0:5672?protocols=AMQP;anycastPrefix=queue://;multicastPrefix=topic://;amqpCredits=1000;amqpLowCredits=300;tcpNoDelay=true</acceptor>
      </acceptors>
      <address-settings>
         <address-setting match="#">
            <dead-letter-address>DLQ</dead-letter-address>
            <expiry-address>ExpiryQueue</expiry-address>
            <auto-create-queues>true</auto-create-queues>
            <auto-create-addresses>true</auto-create-addresses>
            <max-size-bytes>-1</max-size-bytes>
         </address-setting>
      </address-settings>
      <addresses>
         <address name="DLQ"><anycast><queue name="DLQ"/></anycast></address>
         <address name="ExpiryQueue"><anycast><queue name="ExpiryQueue"/></anycast></address>
      </addresses>
   </core>
</configuration>
"##;

/// RabbitMQ plugins: the AMQP 1.0 plugin only (Erlang term file, RabbitMQ "Plugins" guide).
pub const RABBITMQ_ENABLED_PLUGINS: &str = "[rabbitmq_amqp1_0].\n";

/// RabbitMQ configuration added to the image's `conf.d` (new-style `rabbitmq.conf` syntax).
pub const RABBITMQ_CONF: &str = "\
# written by sigharness (--broker container:rabbitmq): a throw-away broker on a loopback port
# clients reach the broker through the Docker bridge, not the container's loopback
loopback_users.guest = false
listeners.tcp.default = 5672
# AMQP 1.0 clients with no SASL layer or SASL ANONYMOUS are logged in as guest
amqp1_0.default_user = guest
amqp1_0.default_vhost = /
amqp1_0.protocol_strict_mode = false
";

const ARTEMIS_FILES: &[ContainerFile] = &[ContainerFile {
    path: "/var/lib/artemis-instance/etc-override/broker.xml",
    contents: ARTEMIS_BROKER_XML,
}];

const RABBITMQ_FILES: &[ContainerFile] = &[
    ContainerFile {
        path: "/etc/rabbitmq/enabled_plugins",
        contents: RABBITMQ_ENABLED_PLUGINS,
    },
    ContainerFile {
        path: "/etc/rabbitmq/conf.d/90-sigharness.conf",
        contents: RABBITMQ_CONF,
    },
];

impl ContainerBroker {
    /// Every container broker, in the order error messages list them.
    pub const ALL: [ContainerBroker; 2] = [ContainerBroker::Artemis, ContainerBroker::RabbitMq];

    /// Parses a `--broker` value: `None` when it does not start with `container:` (it is a URL),
    /// `Some(Err)` for an unknown container name (the error lists the choices).
    pub fn parse(broker_arg: &str) -> Option<Result<ContainerBroker, ContainerError>> {
        let name = broker_arg.strip_prefix(CONTAINER_PREFIX)?;
        Some(
            ContainerBroker::ALL
                .into_iter()
                .find(|b| b.name() == name)
                .ok_or_else(|| ContainerError::UnknownContainer {
                    name: name.to_string(),
                }),
        )
    }

    /// The name after `container:`.
    pub fn name(self) -> &'static str {
        match self {
            ContainerBroker::Artemis => "artemis",
            ContainerBroker::RabbitMq => "rabbitmq",
        }
    }

    /// Image name and pinned tag.
    pub fn image(self) -> (&'static str, &'static str) {
        match self {
            // Apache Artemis 2.55.0 (June 2026); the project publishes `apache/artemis:<version>`
            // and `<version>-alpine` with every release (scripts/release-docker.sh).
            ContainerBroker::Artemis => ("apache/artemis", "2.55.0-alpine"),
            // Last 3.x line: AMQP 1.0 is still the `rabbitmq_amqp1_0` plugin with `/queue/X`,
            // `/topic/X` addresses (4.x changed both).
            ContainerBroker::RabbitMq => ("rabbitmq", "3.13.7-alpine"),
        }
    }

    /// `--address-map` value the suite must use with this broker.
    pub fn address_map(self) -> &'static str {
        match self {
            ContainerBroker::Artemis => "none",
            ContainerBroker::RabbitMq => "rabbitmq",
        }
    }

    /// How the suite's client logs in.
    pub fn sasl(self) -> ContainerSasl {
        match self {
            ContainerBroker::Artemis => ContainerSasl {
                anonymous: true,
                plain_user: "artemis",
                plain_password: "artemis",
            },
            ContainerBroker::RabbitMq => ContainerSasl {
                anonymous: true,
                plain_user: "guest",
                plain_password: "guest",
            },
        }
    }

    /// Configuration files copied into the container before it starts.
    pub fn files(self) -> &'static [ContainerFile] {
        match self {
            ContainerBroker::Artemis => ARTEMIS_FILES,
            ContainerBroker::RabbitMq => RABBITMQ_FILES,
        }
    }

    /// Environment of the container.
    pub fn env(self) -> &'static [(&'static str, &'static str)] {
        match self {
            // The image's entry point runs `artemis create` with these; our broker.xml then
            // replaces the generated one (security disabled), the user stays for PLAIN logins.
            ContainerBroker::Artemis => &[
                ("ARTEMIS_USER", "artemis"),
                ("ARTEMIS_PASSWORD", "artemis"),
                ("ANONYMOUS_LOGIN", "true"),
            ],
            ContainerBroker::RabbitMq => &[],
        }
    }

    /// Log lines (substrings, stdout or stderr) that all appear once the broker accepts AMQP.
    pub fn ready_messages(self) -> &'static [&'static str] {
        match self {
            ContainerBroker::Artemis => &[
                "Acceptor at 0.0.0.0:5672 for protocols [AMQP]",
                "AMQ221007: Server is now active",
            ],
            ContainerBroker::RabbitMq => &["Server startup complete"],
        }
    }
}

impl std::fmt::Display for ContainerBroker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{CONTAINER_PREFIX}{}", self.name())
    }
}

/// A running container broker. The container is removed by [`StartedBroker::stop`], or when
/// this value is dropped (drop it inside the tokio runtime).
#[derive(Debug)]
pub struct StartedBroker {
    pub kind: ContainerBroker,
    /// `amqp://127.0.0.1:<mapped port>` (loopback only).
    pub url: String,
    /// `--address-map` value for this broker: `"none"` (Artemis) or `"rabbitmq"`.
    pub address_map: &'static str,
    /// How the client logs in: no SASL layer or ANONYMOUS works for both brokers.
    pub sasl: ContainerSasl,
    /// `name:tag` of the image that runs.
    pub image: String,
    guard: Guard,
}

#[cfg(feature = "docker")]
type Guard = testcontainers::ContainerAsync<testcontainers::GenericImage>;

/// Without the `docker` feature no container can run, so no [`StartedBroker`] can exist.
#[cfg(not(feature = "docker"))]
#[derive(Debug)]
struct Guard(std::convert::Infallible);

impl StartedBroker {
    /// Stops and removes the container.
    pub async fn stop(self) -> Result<(), ContainerError> {
        #[cfg(feature = "docker")]
        {
            let kind = self.kind;
            self.guard.rm().await.map_err(|e| ContainerError::Stop {
                kind,
                cause: one_line(&e),
            })
        }
        #[cfg(not(feature = "docker"))]
        match self.guard.0 {}
    }
}

/// What went wrong with a container broker. Every message is one line.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ContainerError {
    #[error(
        "unknown container broker `container:{name}`: choose container:artemis or container:rabbitmq"
    )]
    UnknownContainer { name: String },
    #[error(
        "--broker {kind} needs the `docker` feature, and this binary was built without it: rebuild with `cargo install --path conformance --features docker` or run `cargo run -p sigharness --features docker -- ...`"
    )]
    NotBuilt { kind: ContainerBroker },
    #[error("no Docker engine reachable ({cause}): --broker {kind} needs one")]
    NoEngine {
        kind: ContainerBroker,
        cause: String,
    },
    #[error(
        "the Docker engine publishes ports on `{host}`, not on this machine: --broker {kind} needs a local Docker engine (ports on 127.0.0.1 only)"
    )]
    RemoteEngine { kind: ContainerBroker, host: String },
    #[error("could not start {image} for --broker {kind}: {cause}")]
    Start {
        kind: ContainerBroker,
        image: String,
        cause: String,
    },
    #[error(
        "{image} for --broker {kind} was not ready within {secs} s (pull, start and readiness); pull the image first (`docker pull {image}`) or check `docker logs`"
    )]
    StartTimeout {
        kind: ContainerBroker,
        image: String,
        secs: u64,
    },
    #[error("could not remove the container of --broker {kind}: {cause}")]
    Stop {
        kind: ContainerBroker,
        cause: String,
    },
}

/// An error and its sources on one line (`a: b: c`), repeated parts left out.
#[cfg_attr(not(feature = "docker"), allow(dead_code))]
fn one_line(err: &dyn std::error::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut cur: Option<&dyn std::error::Error> = Some(err);
    while let Some(e) = cur {
        let text = e
            .to_string()
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        if !text.is_empty() && !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        cur = e.source();
    }
    parts.join(": ")
}

/// Whether a host name reported by the Docker client is this machine's loopback.
#[cfg_attr(not(feature = "docker"), allow(dead_code))]
fn is_loopback_host(host: &str) -> bool {
    let h = host.trim_start_matches('[').trim_end_matches(']');
    h.eq_ignore_ascii_case("localhost")
        || h.parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Starts the broker container and waits until it accepts AMQP on a loopback port.
///
/// Without the `docker` feature: [`ContainerError::NotBuilt`] at once. Without a reachable
/// engine: [`ContainerError::NoEngine`] within [`ENGINE_PROBE_TIMEOUT`].
pub async fn start(kind: ContainerBroker) -> Result<StartedBroker, ContainerError> {
    #[cfg(feature = "docker")]
    {
        docker::start(kind).await
    }
    #[cfg(not(feature = "docker"))]
    {
        Err(ContainerError::NotBuilt { kind })
    }
}

#[cfg(feature = "docker")]
mod docker {
    //! The part that talks to the Docker engine (testcontainers + its bollard).

    use std::collections::HashMap;

    use testcontainers::bollard::models::{HostConfig, PortBinding};
    use testcontainers::core::{IntoContainerPort, WaitFor};
    use testcontainers::runners::AsyncRunner;
    use testcontainers::{CopyTargetOptions, GenericImage, ImageExt};

    use super::*;

    /// Finds the engine the way testcontainers does (`DOCKER_HOST`, the default and rootless
    /// sockets) and pings it, within [`ENGINE_PROBE_TIMEOUT`].
    async fn probe_engine(kind: ContainerBroker) -> Result<(), ContainerError> {
        let no_engine = |cause: String| ContainerError::NoEngine { kind, cause };
        let probe = async {
            let docker = testcontainers::core::client::docker_client_instance()
                .await
                .map_err(|e| no_engine(one_line(&e)))?;
            docker.ping().await.map_err(|e| no_engine(one_line(&e)))?;
            Ok(())
        };
        match tokio::time::timeout(ENGINE_PROBE_TIMEOUT, probe).await {
            Ok(r) => r,
            Err(_) => Err(no_engine(format!(
                "no answer to a ping within {} s",
                ENGINE_PROBE_TIMEOUT.as_secs()
            ))),
        }
    }

    pub(super) async fn start(kind: ContainerBroker) -> Result<StartedBroker, ContainerError> {
        probe_engine(kind).await?;

        let (name, tag) = kind.image();
        let image_ref = format!("{name}:{tag}");
        let mut image = GenericImage::new(name, tag).with_exposed_port(AMQP_PORT.tcp());
        for msg in kind.ready_messages() {
            image = image.with_wait_for(WaitFor::message_on_either_std(*msg));
        }
        let mut request = image.with_startup_timeout(READY_TIMEOUT);
        for (k, v) in kind.env() {
            request = request.with_env_var(*k, *v);
        }
        for f in kind.files() {
            request = request.with_copy_to(
                CopyTargetOptions::new(f.path).with_mode(0o644),
                f.contents.as_bytes().to_vec(),
            );
        }
        // testcontainers publishes every exposed port on all interfaces by default; publish
        // only the AMQP port, on 127.0.0.1, with a port the engine picks ("").
        let request = request.with_host_config_modifier(|hc: &mut HostConfig| {
            hc.publish_all_ports = Some(false);
            hc.port_bindings = Some(HashMap::from([(
                format!("{AMQP_PORT}/tcp"),
                Some(vec![PortBinding {
                    host_ip: Some("127.0.0.1".to_string()),
                    host_port: Some(String::new()),
                }]),
            )]));
        });

        let container = match tokio::time::timeout(START_TIMEOUT, request.start()).await {
            Ok(Ok(c)) => c,
            Ok(Err(e)) => {
                return Err(ContainerError::Start {
                    kind,
                    image: image_ref,
                    cause: one_line(&e),
                });
            }
            Err(_) => {
                return Err(ContainerError::StartTimeout {
                    kind,
                    image: image_ref,
                    secs: START_TIMEOUT.as_secs(),
                });
            }
        };
        let start_err = |e: testcontainers::TestcontainersError| ContainerError::Start {
            kind,
            image: image_ref.clone(),
            cause: one_line(&e),
        };
        let host = container.get_host().await.map_err(start_err)?.to_string();
        if !is_loopback_host(&host) {
            // Best effort: the container is of no use; remove it before reporting.
            let _ = container.rm().await;
            return Err(ContainerError::RemoteEngine { kind, host });
        }
        let port = container
            .get_host_port_ipv4(AMQP_PORT.tcp())
            .await
            .map_err(start_err)?;
        Ok(StartedBroker {
            kind,
            url: format!("amqp://127.0.0.1:{port}"),
            address_map: kind.address_map(),
            sasl: kind.sasl(),
            image: image_ref,
            guard: container,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_known_containers() {
        assert_eq!(
            ContainerBroker::parse("container:artemis")
                .unwrap()
                .unwrap(),
            ContainerBroker::Artemis
        );
        assert_eq!(
            ContainerBroker::parse("container:rabbitmq")
                .unwrap()
                .unwrap(),
            ContainerBroker::RabbitMq
        );
    }

    #[test]
    fn parse_unknown_container_names_the_choices() {
        let err = ContainerBroker::parse("container:qpidd")
            .unwrap()
            .unwrap_err();
        let text = err.to_string();
        assert!(matches!(err, ContainerError::UnknownContainer { ref name } if name == "qpidd"));
        assert!(text.contains("container:qpidd"), "{text}");
        assert!(text.contains("container:artemis"), "{text}");
        assert!(text.contains("container:rabbitmq"), "{text}");
        assert!(!text.contains('\n'));
        // Case matters, and an empty name is unknown too.
        assert!(
            ContainerBroker::parse("container:Artemis")
                .unwrap()
                .is_err()
        );
        assert!(ContainerBroker::parse("container:").unwrap().is_err());
    }

    #[test]
    fn parse_leaves_urls_alone() {
        for url in [
            "amqp://127.0.0.1:5672",
            "amqps://localhost:5671",
            "artemis",
            "",
            " container:artemis",
            "containers:artemis",
        ] {
            assert!(ContainerBroker::parse(url).is_none(), "{url}");
        }
    }

    #[test]
    fn display_round_trips_through_parse() {
        for b in ContainerBroker::ALL {
            assert_eq!(ContainerBroker::parse(&b.to_string()).unwrap().unwrap(), b);
        }
    }

    #[test]
    fn artemis_acceptor_has_the_prefixes_and_speaks_amqp() {
        let acceptors: Vec<&str> = ARTEMIS_BROKER_XML
            .lines()
            .map(str::trim)
            .filter(|l| l.starts_with("<acceptor "))
            .collect();
        assert_eq!(
            acceptors,
            [
                "<acceptor name=\"amqp\">tcp://0.0.0.0:5672?protocols=AMQP;anycastPrefix=queue://;multicastPrefix=topic://;amqpCredits=1000;amqpLowCredits=300;tcpNoDelay=true</acceptor>"
            ]
        );
        assert!(ARTEMIS_BROKER_XML.contains("<security-enabled>false</security-enabled>"));
        assert!(ARTEMIS_BROKER_XML.contains("<persistence-enabled>false</persistence-enabled>"));
        // Balanced enough to be well-formed: every opened element we rely on is closed.
        for tag in [
            "configuration",
            "core",
            "acceptors",
            "address-settings",
            "addresses",
        ] {
            assert_eq!(
                ARTEMIS_BROKER_XML.matches(&format!("<{tag}")).count(),
                ARTEMIS_BROKER_XML.matches(&format!("</{tag}>")).count(),
                "{tag}"
            );
        }
        let files = ContainerBroker::Artemis.files();
        assert_eq!(files.len(), 1);
        assert_eq!(
            files[0].path,
            "/var/lib/artemis-instance/etc-override/broker.xml"
        );
        assert_eq!(files[0].contents, ARTEMIS_BROKER_XML);
        assert!(
            ContainerBroker::Artemis
                .env()
                .contains(&("ANONYMOUS_LOGIN", "true"))
        );
    }

    #[test]
    fn rabbitmq_enables_amqp_1_0_and_lets_guest_in_from_the_bridge() {
        assert_eq!(RABBITMQ_ENABLED_PLUGINS, "[rabbitmq_amqp1_0].\n");
        let settings: Vec<&str> = RABBITMQ_CONF
            .lines()
            .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
            .collect();
        assert_eq!(
            settings,
            [
                "loopback_users.guest = false",
                "listeners.tcp.default = 5672",
                "amqp1_0.default_user = guest",
                "amqp1_0.default_vhost = /",
                "amqp1_0.protocol_strict_mode = false",
            ]
        );
        let paths: Vec<&str> = ContainerBroker::RabbitMq
            .files()
            .iter()
            .map(|f| f.path)
            .collect();
        assert_eq!(
            paths,
            [
                "/etc/rabbitmq/enabled_plugins",
                "/etc/rabbitmq/conf.d/90-sigharness.conf"
            ]
        );
    }

    #[test]
    fn images_are_pinned_and_maps_and_logins_match_the_brokers() {
        for b in ContainerBroker::ALL {
            let (name, tag) = b.image();
            assert!(
                !tag.is_empty() && !tag.starts_with("latest"),
                "{name}:{tag}"
            );
            assert!(tag.chars().next().unwrap().is_ascii_digit(), "{name}:{tag}");
            assert!(!b.ready_messages().is_empty());
            assert!(b.sasl().anonymous);
        }
        assert_eq!(ContainerBroker::Artemis.image().0, "apache/artemis");
        assert!(ContainerBroker::RabbitMq.image().1.starts_with("3.13."));
        assert_eq!(ContainerBroker::Artemis.address_map(), "none");
        assert_eq!(ContainerBroker::RabbitMq.address_map(), "rabbitmq");
        assert_eq!(ContainerBroker::RabbitMq.sasl().plain_user, "guest");
        assert_eq!(ContainerBroker::Artemis.sasl().plain_user, "artemis");
    }

    #[test]
    fn error_messages_are_one_line() {
        let kind = ContainerBroker::Artemis;
        let errors = [
            ContainerError::NotBuilt { kind },
            ContainerError::NoEngine {
                kind,
                cause: "error trying to connect: No such file or directory (os error 2)".into(),
            },
            ContainerError::RemoteEngine {
                kind,
                host: "10.1.2.3".into(),
            },
            ContainerError::Start {
                kind,
                image: "apache/artemis:2.55.0-alpine".into(),
                cause: "x".into(),
            },
            ContainerError::StartTimeout {
                kind,
                image: "apache/artemis:2.55.0-alpine".into(),
                secs: 600,
            },
        ];
        for e in errors {
            let text = e.to_string();
            assert!(!text.contains('\n'), "{text}");
            assert!(text.contains("container:artemis"), "{text}");
        }
        assert_eq!(
            ContainerError::NoEngine {
                kind,
                cause: "connection refused".into()
            }
            .to_string(),
            "no Docker engine reachable (connection refused): --broker container:artemis needs one"
        );
    }

    #[test]
    fn not_built_error_says_how_to_rebuild() {
        let text = ContainerError::NotBuilt {
            kind: ContainerBroker::RabbitMq,
        }
        .to_string();
        assert!(text.contains("--broker container:rabbitmq"), "{text}");
        assert!(text.contains("`docker` feature"), "{text}");
        assert!(text.contains("--features docker"), "{text}");
        assert!(
            text.contains("cargo run -p sigharness --features docker"),
            "{text}"
        );
    }

    #[test]
    fn one_line_joins_sources_and_flattens_newlines() {
        #[derive(Debug)]
        struct Outer(std::io::Error);
        impl std::fmt::Display for Outer {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("client error\n(Connect)")
            }
        }
        impl std::error::Error for Outer {
            fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
                Some(&self.0)
            }
        }
        let e = Outer(std::io::Error::new(
            std::io::ErrorKind::NotFound,
            "No such file or directory",
        ));
        assert_eq!(
            one_line(&e),
            "client error (Connect): No such file or directory"
        );
    }

    #[test]
    fn loopback_hosts() {
        for h in ["localhost", "127.0.0.1", "::1", "[::1]", "LOCALHOST"] {
            assert!(is_loopback_host(h), "{h}");
        }
        for h in ["10.0.0.5", "docker.example", "0.0.0.0", "192.168.1.1"] {
            assert!(!is_loopback_host(h), "{h}");
        }
    }

    /// Without the feature, `start` says how to rebuild, at once.
    #[cfg(not(feature = "docker"))]
    #[tokio::test]
    async fn start_without_the_feature_says_how_to_rebuild() {
        let err = start(ContainerBroker::Artemis).await.unwrap_err();
        assert!(matches!(err, ContainerError::NotBuilt { .. }), "{err}");
        assert!(err.to_string().contains("--features docker"));
    }

    /// With the feature: on a machine without Docker (CI, here) `start` fails within a bound
    /// with one line naming Docker; where an engine exists, the broker starts on loopback.
    #[cfg(feature = "docker")]
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn start_fails_cleanly_without_docker_or_starts_on_loopback() {
        let engine_expected = std::env::var_os("DOCKER_HOST").is_some()
            || std::path::Path::new("/var/run/docker.sock").exists();
        let bound = if engine_expected {
            START_TIMEOUT + Duration::from_secs(30)
        } else {
            ENGINE_PROBE_TIMEOUT + Duration::from_secs(5)
        };
        let res = tokio::time::timeout(bound, start(ContainerBroker::Artemis))
            .await
            .expect("start returns within its bound");
        match res {
            // An engine answered (DOCKER_HOST, the default socket, or a rootless one).
            Ok(broker) => {
                let port: u16 = broker
                    .url
                    .strip_prefix("amqp://127.0.0.1:")
                    .expect("loopback URL")
                    .parse()
                    .expect("port");
                assert_ne!(port, 0);
                assert_eq!(broker.address_map, "none");
                assert_eq!(broker.kind, ContainerBroker::Artemis);
                // The AMQP port answers on loopback.
                tokio::net::TcpStream::connect(("127.0.0.1", port))
                    .await
                    .expect("AMQP port of the container on 127.0.0.1");
                broker.stop().await.expect("container removed");
            }
            Err(err) => {
                let text = err.to_string();
                eprintln!("start without Docker: {text}");
                assert!(
                    !engine_expected,
                    "a Docker engine is configured here, the Artemis container must start: {text}"
                );
                assert!(matches!(err, ContainerError::NoEngine { .. }), "{text}");
                assert!(text.starts_with("no Docker engine reachable ("), "{text}");
                assert!(
                    text.ends_with("): --broker container:artemis needs one"),
                    "{text}"
                );
                assert!(!text.contains('\n'), "{text}");
            }
        }
    }
}

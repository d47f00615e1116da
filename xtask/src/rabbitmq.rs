//! `cargo xtask broker rabbitmq start|stop|status`: a real RabbitMQ (Debian's `rabbitmq-server`,
//! 3.10 with the AMQP 1.0 plugin) on loopback, with generated certificates and client-certificate
//! (SASL EXTERNAL) login, for the messaging-signer suites.
//!
//! Everything lives under one state directory (default `target/rabbitmq`): the certificates
//! (`certs/`, made by the `test-pki` crate: a CA, a server certificate for
//! `localhost`/127.0.0.1/::1, a client certificate whose CN is the RabbitMQ user),
//! `rabbitmq.conf`, the node's data and logs, and `broker.env`, a shell file with the URLs and
//! paths the suites need. Nothing listens on anything but 127.0.0.1:
//! AMQP 5672, AMQPS 5671, Erlang distribution 25672 and epmd 4369 (the last two are RabbitMQ's own
//! plumbing, bound to loopback through `ERL_EPMD_ADDRESS` and `inet_dist_use_interface`).
//!
//! The recipe (and why each line is there) was checked here with RabbitMQ 3.10.8 and a
//! python-qpid-proton client doing mTLS + EXTERNAL on `/queue/X`.

use std::path::{Path, PathBuf};
use std::process::Command;

const BIN: &str = "/usr/lib/rabbitmq/bin";
/// The CN of the client certificate, and therefore the RabbitMQ user (`ssl_cert_login_from =
/// common_name`).
pub const CLIENT_CN: &str = "sigharness-client";
const CLIENT_UID: &str = "sigharness-uid";

fn run(cmd: &mut Command, what: &str) -> Result<String, String> {
    let out = cmd
        .output()
        .map_err(|e| format!("{what}: cannot run {:?}: {e}", cmd.get_program()))?;
    if !out.status.success() {
        return Err(format!(
            "{what} failed ({}):\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Generate a CA, a server certificate and a client certificate (test-pki: P-256, the profile
/// of the openssl recipe this replaced) in `certs`, once: `ca.pem`, `server.pem`/`server.key`
/// (RabbitMQ's TLS listener), `client-cert-key.pem` (what the suites log in with).
fn make_certs(certs: &Path) -> Result<(), String> {
    if certs.join("client.pem").exists() && certs.join("server.pem").exists() {
        return Ok(());
    }
    let pki = test_pki::Pki::new(Some(CLIENT_CN), Some(CLIENT_UID))
        .map_err(|e| format!("test certificates: {e}"))?;
    pki.write_to(certs).map(|_| ()).map_err(|e| e.to_string())
}

fn env(cmd: &mut Command, dir: &Path) {
    let d = dir.display();
    // Erlang writes `erl_crash.dump` into its working directory unless told otherwise: keep
    // crash dumps (and anything else the node writes) under the broker's directory in target/.
    cmd.current_dir(dir)
        .env("ERL_CRASH_DUMP", dir.join("log").join("erl_crash.dump"))
        .env("HOME", dir.join("data"))
        .env("RABBITMQ_NODENAME", "rabbit@localhost")
        .env("RABBITMQ_NODE_IP_ADDRESS", "127.0.0.1")
        .env("ERL_EPMD_ADDRESS", "127.0.0.1")
        .env("RABBITMQ_CONFIG_FILE", format!("{d}/rabbitmq.conf"))
        .env(
            "RABBITMQ_ENABLED_PLUGINS_FILE",
            format!("{d}/enabled_plugins"),
        )
        .env("RABBITMQ_MNESIA_BASE", format!("{d}/data/mnesia"))
        .env("RABBITMQ_LOG_BASE", format!("{d}/log"))
        .env("RABBITMQ_PID_FILE", format!("{d}/rabbit.pid"))
        .env("RABBITMQ_DIST_PORT", "25672")
        .env(
            "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS",
            "-kernel inet_dist_use_interface {127,0,0,1}",
        )
        .env(
            "RABBITMQ_CTL_ERL_ARGS",
            "-kernel inet_dist_use_interface {127,0,0,1}",
        );
}

fn tool(dir: &Path, name: &str) -> Command {
    let mut c = Command::new(format!("{BIN}/{name}"));
    env(&mut c, dir);
    c
}

fn installed() -> Result<(), String> {
    if Path::new(BIN).join("rabbitmq-server").exists() {
        Ok(())
    } else {
        Err(
            "rabbitmq-server is not installed: `sudo apt-get install rabbitmq-server` \
             (Debian 12 ships 3.10.8 with the AMQP 1.0 plugin)"
                .into(),
        )
    }
}

pub fn start(dir: &Path) -> Result<(), String> {
    installed()?;
    let certs = dir.join("certs");
    make_certs(&certs)?;
    for sub in ["data", "log"] {
        std::fs::create_dir_all(dir.join(sub)).map_err(|e| e.to_string())?;
    }
    let c = certs.display();
    let conf = format!(
        "listeners.tcp.1 = 127.0.0.1:5672\n\
         listeners.ssl.1 = 127.0.0.1:5671\n\
         ssl_options.cacertfile = {c}/ca.pem\n\
         ssl_options.certfile = {c}/server.pem\n\
         ssl_options.keyfile = {c}/server.key\n\
         ssl_options.verify = verify_peer\n\
         ssl_options.fail_if_no_peer_cert = true\n\
         auth_mechanisms.1 = PLAIN\n\
         auth_mechanisms.2 = AMQPLAIN\n\
         auth_mechanisms.3 = EXTERNAL\n\
         ssl_cert_login_from = common_name\n\
         amqp1_0.default_user = none\n\
         loopback_users = none\n"
    );
    std::fs::write(dir.join("rabbitmq.conf"), conf).map_err(|e| e.to_string())?;
    std::fs::write(
        dir.join("enabled_plugins"),
        "[rabbitmq_amqp1_0,rabbitmq_auth_mechanism_ssl].\n",
    )
    .map_err(|e| e.to_string())?;
    run(
        tool(dir, "rabbitmq-server").arg("-detached"),
        "rabbitmq-server -detached",
    )?;
    // `wait` waits for the pid file, then for the node and its applications (await_startup
    // gives up at once when the node is not reachable yet).
    let pid_file = dir.join("rabbit.pid");
    run(
        tool(dir, "rabbitmqctl")
            .arg("wait")
            .arg(&pid_file)
            .args(["--timeout", "180"]),
        "rabbitmqctl wait",
    )?;
    // The client certificate's CN is the user; it needs no password (EXTERNAL), and full rights.
    let users = run(
        tool(dir, "rabbitmqctl").args(["list_users", "-q"]),
        "list_users",
    )?;
    if !users
        .lines()
        .any(|l| l.split_whitespace().next() == Some(CLIENT_CN))
    {
        run(
            tool(dir, "rabbitmqctl").args(["add_user", CLIENT_CN, "unused-password-cleared-below"]),
            "add_user",
        )?;
    }
    run(
        tool(dir, "rabbitmqctl").args(["clear_password", CLIENT_CN]),
        "clear_password",
    )?;
    run(
        tool(dir, "rabbitmqctl").args(["set_permissions", "-p", "/", CLIENT_CN, ".*", ".*", ".*"]),
        "set_permissions",
    )?;
    let env = format!(
        "# written by `cargo xtask broker rabbitmq start`\n\
         export SIGHARNESS_RABBITMQ_URL=amqp://127.0.0.1:5672\n\
         export SIGHARNESS_RABBITMQ_TLS_URL=amqps://localhost:5671\n\
         export SIGHARNESS_RABBITMQ_CA={c}/ca.pem\n\
         export SIGHARNESS_RABBITMQ_CERT_KEY={c}/client-cert-key.pem\n\
         export SIGHARNESS_RABBITMQ_CLIENT_CN={CLIENT_CN}\n"
    );
    std::fs::write(dir.join("broker.env"), &env).map_err(|e| e.to_string())?;
    println!("RabbitMQ is up on 127.0.0.1 (AMQP 5672, AMQPS 5671 with client certificates).");
    print!("{env}");
    println!(
        "Use it: sigharness conformance --suite msg-signer --broker amqps://localhost:5671 \
         --ca {c}/ca.pem --cert-key {c}/client-cert-key.pem --address-map rabbitmq"
    );
    Ok(())
}

pub fn stop(dir: &Path) -> Result<(), String> {
    installed()?;
    // The node is going: its connection details must not outlive it.
    let _ = std::fs::remove_file(dir.join("broker.env"));
    let r = run(tool(dir, "rabbitmqctl").arg("stop"), "rabbitmqctl stop");
    // epmd is started by the node and outlives it; stop it too (it only ever listened on loopback).
    let _ = Command::new("epmd").arg("-kill").output();
    r.map(|_| println!("RabbitMQ stopped."))
}

pub fn status(dir: &Path) -> Result<(), String> {
    installed()?;
    let out = run(tool(dir, "rabbitmqctl").arg("status"), "rabbitmqctl status")?;
    print!("{out}");
    Ok(())
}

pub fn main(args: &[String], root: &Path) -> Result<(), String> {
    let mut dir: PathBuf = root.join("target/rabbitmq");
    let mut action = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--dir" => {
                dir = PathBuf::from(it.next().ok_or("--dir needs a value")?);
            }
            "start" | "stop" | "status" => action = Some(a.clone()),
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    let dir = std::path::absolute(&dir).map_err(|e| e.to_string())?;
    match action.as_deref() {
        Some("start") => start(&dir),
        Some("stop") => stop(&dir),
        Some("status") => status(&dir),
        _ => Err("usage: cargo xtask broker rabbitmq start|stop|status [--dir DIR]".into()),
    }
}

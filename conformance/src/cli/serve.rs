//! `sigharness serve <SERVER>`: run one of the reference servers or mocks in the foreground until
//! Ctrl-C. Each server is a variant of [`ServeCommand`] with its own arguments; add new ones
//! (Broker, SigningServer, ...) as new variants and match arms.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Subcommand};

#[derive(Args, Debug)]
pub struct ServeArgs {
    #[command(subcommand)]
    pub command: ServeCommand,
}

#[derive(Subcommand, Debug)]
pub enum ServeCommand {
    /// The MQ Hub (RFC-130) reference server.
    MqHub(MqHubServeArgs),
}

#[derive(Args, Debug)]
pub struct MqHubServeArgs {
    /// Loopback address to listen on (port 0 = any free port; the chosen one is printed).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// TOML configuration (see mq_hub::HubConfig); defaults apply when absent.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
}

fn check_loopback(a: &SocketAddr) -> Result<(), String> {
    if a.ip().is_loopback() {
        Ok(())
    } else {
        Err(format!(
            "--listen {a}: this harness serves on loopback only (127.0.0.1 or ::1)"
        ))
    }
}

async fn mq_hub(a: MqHubServeArgs) -> Result<(), String> {
    check_loopback(&a.listen)?;
    let cfg = match &a.config {
        Some(p) => mq_hub::HubConfig::load(p).map_err(|e| e.to_string())?,
        None => mq_hub::HubConfig::default(),
    };
    let desc = format!("profile {}, storage {:?}", cfg.profile, cfg.storage);
    let h = mq_hub::RunningHub::start(cfg, a.listen)
        .await
        .map_err(|e| e.to_string())?;
    // One line on stdout that scripts (and the durability test) wait for.
    println!("mq-hub listening on {} ({desc})", h.url());
    let _ = std::io::stdout().flush();
    tokio::signal::ctrl_c()
        .await
        .map_err(|e| format!("waiting for Ctrl-C: {e}"))?;
    h.stop().await;
    Ok(())
}

/// Run a `sigharness serve` command; returns the exit code.
pub async fn run(a: ServeArgs) -> i32 {
    let r = match a.command {
        ServeCommand::MqHub(args) => mq_hub(args).await,
    };
    match r {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("sigharness serve: {e}");
            2
        }
    }
}

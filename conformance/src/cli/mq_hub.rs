//! `sigharness mq-hub keygen|token|put|get|take|delete`: talk to any MQ Hub by hand or from
//! scripts. Exit codes: 0 done, 1 the server refused or failed (reason on stderr), 2 bad usage or
//! unreadable files, 4 get/take found no message (204).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, Subcommand};
use mq_hub::{DidKeyPair, DidMethod, MqClient, MqHubError, Profile};

#[derive(Args, Debug)]
pub struct MqHubArgs {
    #[command(subcommand)]
    pub command: MqHubCommand,
}

#[derive(Args, Debug, Clone)]
pub struct Conn {
    /// Base URL of the hub, e.g. http://127.0.0.1:8080
    #[arg(long, value_name = "URL")]
    pub url: String,
    /// Dialect: rfc130 | opendsu
    #[arg(long, default_value = "rfc130")]
    pub profile: String,
    /// DID key file (from `sigharness mq-hub keygen`).
    #[arg(long, value_name = "FILE")]
    pub key: PathBuf,
    /// MQ domain.
    #[arg(long, default_value = "default")]
    pub domain: String,
    /// Use this token instead of requesting one.
    #[arg(long)]
    pub token: Option<String>,
    /// Upper bound on each request, in seconds (longer than the server's connection timeout).
    #[arg(long, default_value_t = 30)]
    pub timeout: u64,
}

#[derive(Subcommand, Debug)]
pub enum MqHubCommand {
    /// Make a new secp256k1 key with a self-certifying DID and write it as a JSON key file.
    Keygen {
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
        /// Make a did:ssi:key:<DOMAIN>:... DID instead of did:key.
        #[arg(long, value_name = "DOMAIN")]
        ssi_domain: Option<String>,
    },
    /// Request a token (for your own queue, or with --to a put token for another queue).
    Token {
        #[command(flatten)]
        conn: Conn,
        /// Recipient DID or hashDID (default: your own queue).
        #[arg(long)]
        to: Option<String>,
        /// Ask for a shorter lifetime (seconds).
        #[arg(long)]
        lifetime: Option<u64>,
    },
    /// Put a message into a recipient's queue.
    Put {
        #[command(flatten)]
        conn: Conn,
        /// Recipient DID or hashDID.
        #[arg(long)]
        to: String,
        /// The message text.
        #[arg(long)]
        message: String,
    },
    /// Long-poll your queue; prints the oldest message as JSON (left in the queue).
    Get {
        #[command(flatten)]
        conn: Conn,
    },
    /// Read and remove a message (the oldest, or --id in the rfc130 profile).
    Take {
        #[command(flatten)]
        conn: Conn,
        #[arg(long)]
        id: Option<String>,
    },
    /// Delete a message by id.
    Delete {
        #[command(flatten)]
        conn: Conn,
        #[arg(long)]
        id: String,
    },
}

const NO_MESSAGE: i32 = 4;

fn to_hash(s: &str) -> String {
    if s.starts_with("did:") {
        mq_hub::hash_did(s)
    } else {
        s.to_string()
    }
}

fn client(c: &Conn) -> Result<MqClient, (i32, String)> {
    let profile: Profile = c
        .profile
        .parse()
        .map_err(|e: MqHubError| (2, e.to_string()))?;
    let key = DidKeyPair::load(&c.key).map_err(|e| (2, e.to_string()))?;
    MqClient::new(
        &c.url,
        profile,
        Arc::new(key),
        Duration::from_secs(c.timeout.max(1)),
    )
    .map_err(|e| (2, e.to_string()))
}

async fn token(cl: &MqClient, c: &Conn, to: Option<&str>) -> Result<String, (i32, String)> {
    match &c.token {
        Some(t) => Ok(t.clone()),
        None => {
            let target = to.map(to_hash).unwrap_or_else(|| cl.hash_did());
            Ok(cl
                .token(&c.domain, &target, None)
                .await
                .map_err(server)?
                .token)
        }
    }
}

fn server(e: MqHubError) -> (i32, String) {
    (1, e.to_string())
}

fn print_message(m: Option<mq_hub::Message>) -> Result<(), (i32, String)> {
    match m {
        Some(m) => {
            let v = serde_json::json!({"message": m.message, "sender": m.sender, "messageId": m.message_id});
            println!("{v}");
            Ok(())
        }
        None => Err((
            NO_MESSAGE,
            "no message (204 after the connection timeout)".into(),
        )),
    }
}

async fn run_inner(a: MqHubArgs) -> Result<(), (i32, String)> {
    match a.command {
        MqHubCommand::Keygen { out, ssi_domain } => {
            let method = match ssi_domain {
                Some(domain) => DidMethod::SsiKey { domain },
                None => DidMethod::Key,
            };
            let k = DidKeyPair::generate(method).map_err(|e| (2, e.to_string()))?;
            k.save(&out).map_err(|e| (2, e.to_string()))?;
            println!(
                "{}",
                serde_json::json!({"did": k.did(), "hashDID": k.hash_did(), "file": out})
            );
            Ok(())
        }
        MqHubCommand::Token { conn, to, lifetime } => {
            let cl = client(&conn)?;
            let target = to.as_deref().map(to_hash).unwrap_or_else(|| cl.hash_did());
            let t = cl
                .token(&conn.domain, &target, lifetime)
                .await
                .map_err(server)?;
            println!(
                "{}",
                serde_json::json!({"token": t.token, "expires": t.expires_ms, "connectionTimeout": t.connection_timeout_ms})
            );
            Ok(())
        }
        MqHubCommand::Put { conn, to, message } => {
            let cl = client(&conn)?;
            let t = token(&cl, &conn, Some(&to)).await?;
            cl.put(&conn.domain, &to_hash(&to), &t, message)
                .await
                .map_err(server)
        }
        MqHubCommand::Get { conn } => {
            let cl = client(&conn)?;
            let t = token(&cl, &conn, None).await?;
            print_message(cl.get(&conn.domain, &t).await.map_err(server)?)
        }
        MqHubCommand::Take { conn, id } => {
            let cl = client(&conn)?;
            let t = token(&cl, &conn, None).await?;
            print_message(
                cl.take(&conn.domain, &t, id.as_deref())
                    .await
                    .map_err(server)?,
            )
        }
        MqHubCommand::Delete { conn, id } => {
            let cl = client(&conn)?;
            let t = token(&cl, &conn, None).await?;
            cl.delete(&conn.domain, &t, &id).await.map_err(server)
        }
    }
}

/// Run a `sigharness mq-hub` command; returns the exit code.
pub async fn run(a: MqHubArgs) -> i32 {
    match run_inner(a).await {
        Ok(()) => 0,
        Err((code, msg)) => {
            eprintln!("sigharness mq-hub: {msg}");
            code
        }
    }
}

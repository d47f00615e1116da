//! `sigharness msg-signer container-sign|clear-sign|blob-sign`: the reference messaging-signer
//! client with the deployed client's options and JSON output
//! (`{"signer_result": {"status", "error_message"}, "operation_results", "operation",
//! "signing_keys"}`); exit code 1 when the status is `error` (a signing failure). A run that cannot
//! start (the config file missing, unreadable, invalid or out of range; the client certificate
//! unreadable; inputs that do not pair up) prints one line on stderr and exits 2, the usage-error
//! code, and prints no JSON: nothing was asked of the signing server.

use std::path::PathBuf;

use clap::{Args as ClapArgs, Subcommand};
use msg_signer::client::{Operation, SignOptions, prepare, sign_prepared};
use msg_signer::transport::{SaslMode, SenderLink, TransportOptions};

#[derive(ClapArgs, Debug)]
pub struct Args {
    #[command(subcommand)]
    pub command: MsgSignerCommand,
}

#[derive(Subcommand, Debug)]
pub enum MsgSignerCommand {
    /// Sign container images (one request per --digest/--reference pair and signing key).
    ContainerSign {
        #[command(flatten)]
        common: Common,
        /// Manifest digest (repeatable; paired in order with --reference).
        #[arg(long = "digest", required = true)]
        digests: Vec<String>,
        /// Image reference, e.g. registry.io/ns/repo:tag (repeatable).
        #[arg(long = "reference", required = true)]
        references: Vec<String>,
        /// `batch`: the `msg_batch_signer` section, `chunk_size` images per request (mtype
        /// batch), as the deployed client's `--signer-type batch`.
        #[arg(long, default_value = "single", value_parser = ["single", "batch"])]
        signer_type: String,
    },
    /// Clear-sign data (`--input TEXT` or `--input @FILE`, repeatable).
    ClearSign {
        #[command(flatten)]
        common: Common,
        #[arg(long = "input", required = true)]
        inputs: Vec<String>,
    },
    /// Sign blobs (detached signatures).
    BlobSign {
        #[command(flatten)]
        common: Common,
        #[arg(long = "blob-file", required = true)]
        blob_files: Vec<PathBuf>,
    },
}

#[derive(ClapArgs, Debug)]
pub struct Common {
    /// YAML file with a `msg_signer:` section.
    #[arg(long)]
    pub config_file: PathBuf,
    /// Task id (expanded as {task_id} in the topics; sent as pub_task_id).
    #[arg(long)]
    pub task_id: String,
    /// Signing key id or alias from key_aliases (repeatable).
    #[arg(long = "signing-key", required = true)]
    pub signing_keys: Vec<String>,
    /// Signing key name (sent as sig_keyname).
    #[arg(long)]
    pub signing_key_name: Option<String>,
    /// Requester: overrides the creator taken from the client certificate.
    #[arg(long)]
    pub requester: Option<String>,
    /// Print only the signed values (one per line), or the error on stderr.
    #[arg(long)]
    pub raw: bool,
    /// Do NOT verify the broker's TLS certificate against messaging_ca_cert (insecure; the
    /// deployed client's behaviour).
    #[arg(long)]
    pub insecure_skip_broker_verify: bool,
    /// SASL layer: none (as deployed), anonymous, or external (empty initial response).
    #[arg(long, default_value = "none", value_parser = ["none", "anonymous", "external"])]
    pub sasl: String,
    /// Request sender link: null-target (routes by `to`, as deployed) or addressed (target =
    /// the send address; for brokers without an anonymous relay, such as RabbitMQ 3.x).
    #[arg(long, default_value = "null-target", value_parser = ["null-target", "addressed"])]
    pub sender_link: String,
}

/// Run the command; returns the process exit code (0 ok, 1 signing failed, 2 cannot start).
pub async fn run(args: Args) -> i32 {
    let (op, common, batch) = match args.command {
        MsgSignerCommand::ContainerSign {
            common,
            digests,
            references,
            signer_type,
        } => (
            Operation::ContainerSign {
                digests,
                references,
            },
            common,
            signer_type == "batch",
        ),
        MsgSignerCommand::ClearSign { common, inputs } => {
            (Operation::ClearSign { inputs }, common, false)
        }
        MsgSignerCommand::BlobSign { common, blob_files } => {
            (Operation::BlobSign { files: blob_files }, common, false)
        }
    };
    let sasl = match common.sasl.as_str() {
        "anonymous" => SaslMode::Anonymous,
        "external" => SaslMode::External,
        _ => SaslMode::None,
    };
    let opts = SignOptions {
        batch,
        task_id: common.task_id,
        signing_keys: common.signing_keys,
        signing_key_name: common.signing_key_name,
        requester: common.requester,
        transport: TransportOptions {
            verify_broker: !common.insecure_skip_broker_verify,
            sasl,
            sender_link: if common.sender_link == "addressed" {
                SenderLink::Addressed
            } else {
                SenderLink::NullTarget
            },
            ..TransportOptions::default()
        },
    };
    let prepared = match prepare(&common.config_file, &op, &opts) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("sigharness msg-signer: {}", one_line(&e.to_string()));
            return 2;
        }
    };
    let (out, _) = sign_prepared(&prepared, &op, &opts).await;
    if common.raw {
        if out.is_ok() {
            for v in out.raw_values() {
                println!("{v}");
            }
        } else {
            eprintln!("{}", out.signer_result.error_message);
        }
    } else {
        match serde_json::to_string(&out) {
            Ok(s) => println!("{s}"),
            Err(e) => {
                eprintln!("sigharness msg-signer: cannot serialize the output: {e}");
                return 1;
            }
        }
    }
    if out.is_ok() { 0 } else { 1 }
}

/// An error as one line: line breaks (YAML errors span lines) become "; ", control characters are
/// escaped so that bytes from a config file never reach the terminal raw.
fn one_line(msg: &str) -> String {
    let mut out = String::with_capacity(msg.len());
    for line in msg.lines().map(str::trim_end).filter(|l| !l.is_empty()) {
        if !out.is_empty() {
            out.push_str("; ");
        }
        for c in line.chars() {
            if c.is_control() {
                out.extend(c.escape_default());
            } else {
                out.push(c);
            }
        }
    }
    out
}

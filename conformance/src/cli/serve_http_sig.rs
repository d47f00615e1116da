//! `sigharness serve http-sig-upstream` and `sigharness serve http-sig-verifier`: the mocks of
//! crate `mock-http-sig-peers` as servers for systems outside this process. Both run until
//! Ctrl-C and print one line per request.

use std::path::PathBuf;
use std::process::ExitCode;

use axum::http::StatusCode;
use http_sig::{Algorithm, Key, KeySet, VerificationPolicy};
use sigharness_report::exit_code;

use super::code;
use super::serve::loopback_addr;
use mock_http_sig_peers::{
    KeyDirectoryConfig, KeyDirectoryServer, Reply, ServerLimits, SignerExpectations, Upstream,
    UpstreamConfig, VERDICTS_PATH, VerdictLimits, VerifierConfig, VerifierService,
    load_profile_config, profile_key,
};

/// The HTTP server's bounds (both commands); defaults are `ServerLimits::default()`.
#[derive(clap::Args, Debug, Clone)]
pub struct ServerArgs {
    /// A connection must send a whole request head within this time after it opens or after its
    /// previous response (also the keep-alive idle limit), else it is closed.
    #[arg(long, default_value_t = 10_000, value_name = "MS")]
    pub header_read_timeout_ms: u64,
    /// A request body must arrive within this time after its head, else 408.
    #[arg(long, default_value_t = 10_000, value_name = "MS")]
    pub body_read_timeout_ms: u64,
    /// Most connections open at once; beyond it the longest-idle connection is closed to make
    /// room (if none is idle, accepting waits for one to end).
    #[arg(long, default_value_t = 512, value_name = "N")]
    pub max_connections: usize,
    /// Largest request head, bytes (at least 8192); beyond it: 431.
    #[arg(long, default_value_t = 65_536, value_name = "BYTES")]
    pub max_header_bytes: usize,
    /// Largest request body, bytes; beyond it: 413.
    #[arg(long, default_value_t = 4 * 1024 * 1024, value_name = "BYTES")]
    pub max_body_bytes: usize,
}

impl ServerArgs {
    fn limits(&self) -> Result<ServerLimits, String> {
        if self.header_read_timeout_ms == 0 || self.body_read_timeout_ms == 0 {
            return Err(
                "--header-read-timeout-ms and --body-read-timeout-ms must be at least 1".into(),
            );
        }
        if self.max_connections == 0 {
            return Err("--max-connections must be at least 1".into());
        }
        if self.max_header_bytes < 8192 {
            return Err(format!(
                "--max-header-bytes {}: must be at least 8192",
                self.max_header_bytes
            ));
        }
        Ok(ServerLimits {
            header_read_timeout: std::time::Duration::from_millis(self.header_read_timeout_ms),
            body_read_timeout: std::time::Duration::from_millis(self.body_read_timeout_ms),
            max_connections: self.max_connections,
            max_header_bytes: self.max_header_bytes,
            max_body_bytes: self.max_body_bytes,
        })
    }
}

#[derive(clap::Args, Debug, Clone)]
pub struct UpstreamArgs {
    /// Listen address; loopback only (127.0.0.1 or ::1).
    #[arg(long, default_value = "127.0.0.1:4000", value_name = "ADDR")]
    pub listen: String,
    /// The signing configuration the signer was given (TOML or YAML; Grafbase semantics).
    #[arg(long, value_name = "FILE")]
    pub profile: PathBuf,
    /// Public key (PEM, JWK, DER) to verify with; default: the profile's own key.
    #[arg(long, value_name = "PUBLIC_KEY")]
    pub key: Option<PathBuf>,
    /// Reply body (default `{"data":{}}`).
    #[arg(long, value_name = "FILE")]
    pub reply_body: Option<PathBuf>,
    /// Reply content type.
    #[arg(long, default_value = "application/json")]
    pub reply_content_type: String,
    /// Reply status.
    #[arg(long, default_value_t = 200)]
    pub reply_status: u16,
    /// How far `created` may be from this clock, seconds.
    #[arg(long, default_value_t = 30)]
    pub created_tolerance: u64,
    /// Header the HTTP client adds after signing, not required to be covered (repeatable;
    /// default host, content-length).
    #[arg(long = "transport-header", value_name = "NAME")]
    pub transport_headers: Vec<String>,
    /// Verdicts kept (the most recent; older ones are dropped and counted).
    #[arg(long, default_value_t = 10_000, value_name = "N")]
    pub max_verdicts: usize,
    /// Bytes of verdicts kept (the store's own accounting).
    #[arg(long, default_value_t = 16 * 1024 * 1024, value_name = "BYTES")]
    pub max_verdict_bytes: usize,
    #[command(flatten)]
    pub server: ServerArgs,
}

#[derive(clap::Args, Debug, Clone)]
pub struct VerifierArgs {
    /// Listen address; loopback only (127.0.0.1 or ::1).
    #[arg(long, default_value = "127.0.0.1:4001", value_name = "ADDR")]
    pub listen: String,
    /// Verification key (PEM, JWK, DER, base64 HMAC secret), or a JWK Set (`{"keys": [...]}`:
    /// the key is chosen by the signature's keyid; JWK `use` / `key_ops` are honoured).
    #[arg(long, value_name = "FILE")]
    pub key: PathBuf,
    /// Verification policy (TOML, YAML or JSON; http-sig `VerificationPolicy`: required and
    /// forbidden components, max_age, max_validity, expires_skew, require_content_digest,
    /// revoked_keyids, ...).
    #[arg(long, value_name = "FILE")]
    pub policy: Option<PathBuf>,
    /// Algorithm fixed by configuration (default: from the key / the alg parameter).
    #[arg(long, value_name = "ALG")]
    pub alg: Option<String>,
    /// keyid naming the key (repeatable); a signature with another keyid is rejected.
    #[arg(long = "keyid", value_name = "ID")]
    pub keyids: Vec<String>,
    /// Verify only this label (default: any signature that verifies).
    #[arg(long)]
    pub label: Option<String>,
    /// Scheme clients reach this service with (it may sit behind a TLS-terminating proxy).
    #[arg(long, default_value = "http")]
    pub scheme: String,
    #[command(flatten)]
    pub server: ServerArgs,
}

#[derive(clap::Args, Debug, Clone)]
pub struct KeyDirectoryArgs {
    /// A private key to publish and sign the directory with (RSA, EC or Ed25519; JWK, PEM, DER;
    /// repeatable).
    #[arg(long = "key", value_name = "FILE", required = true)]
    pub keys: Vec<PathBuf>,
    /// Listen address; loopback only (127.0.0.1 or ::1; port 0 = any free port, printed).
    #[arg(long, default_value = "127.0.0.1:0", value_name = "ADDR")]
    pub listen: String,
    /// Do not sign the directory response (the signature is RECOMMENDED, not required).
    #[arg(long)]
    pub unsigned: bool,
    /// `Cache-Control: max-age`, seconds.
    #[arg(long, default_value_t = 86_400, value_name = "SECS")]
    pub max_age: u64,
    /// `expires - created` of the directory response signatures, seconds.
    #[arg(long, default_value_t = 7 * 86_400, value_name = "SECS")]
    pub signature_validity: u64,
    #[command(flatten)]
    pub server: ServerArgs,
}

pub async fn serve_key_directory(args: KeyDirectoryArgs) -> ExitCode {
    let f = |m: String| fail("key-directory", m);
    let listen = match loopback_addr(&args.listen) {
        Ok(a) => a,
        Err(e) => return f(e.to_string()),
    };
    let mut keys = Vec::new();
    for p in &args.keys {
        match Key::from_file(p) {
            Ok(k) => keys.push(k),
            Err(e) => return f(format!("--key {}: {e}", p.display())),
        }
    }
    let mut cfg = KeyDirectoryConfig::new(keys);
    cfg.sign_response = !args.unsigned;
    cfg.max_age = args.max_age;
    cfg.signature_validity = args.signature_validity;
    cfg.print_requests = true;
    cfg.server = match args.server.limits() {
        Ok(l) => l,
        Err(e) => return f(e),
    };
    let srv = match KeyDirectoryServer::start(listen, cfg).await {
        Ok(s) => s,
        Err(e) => return f(e.to_string()),
    };
    println!(
        "key directory listening on {} ({}; Ctrl-C to stop)",
        srv.directory_url(),
        if args.unsigned { "unsigned" } else { "signed" }
    );
    if let Err(e) = tokio::signal::ctrl_c().await {
        return f(format!("cannot wait for Ctrl-C: {e}"));
    }
    code(exit_code::ALL_MUST_PASSED)
}

fn fail(cmd: &str, msg: String) -> ExitCode {
    eprintln!(
        "sigharness serve {cmd}: {}",
        http_sig::printable(&msg, 1_000)
    );
    code(exit_code::COULD_NOT_RUN)
}

pub async fn serve_upstream(args: UpstreamArgs) -> ExitCode {
    let f = |m: String| fail("http-sig-upstream", m);
    let listen = match loopback_addr(&args.listen) {
        Ok(a) => a,
        Err(e) => return f(e.to_string()),
    };
    let (cfg, base) = match load_profile_config(&args.profile) {
        Ok(c) => c,
        Err(e) => return f(e.to_string()),
    };
    let own = profile_key(&cfg, base.as_deref());
    let key = match &args.key {
        Some(p) => match Key::from_file(p) {
            Ok(k) => k,
            Err(e) => return f(format!("--key: {e}")),
        },
        None => match own.clone() {
            Some(k) => k,
            None => {
                return f("--key PUBLIC_KEY is needed: the profile's key cannot be loaded".into());
            }
        },
    };
    let mut exp = match SignerExpectations::new(&cfg, key, own.as_ref()) {
        Ok(e) => e,
        Err(e) => return f(e.to_string()),
    };
    exp.created_tolerance = args.created_tolerance;
    if !args.transport_headers.is_empty() {
        exp.transport_headers = args
            .transport_headers
            .iter()
            .map(|h| h.to_ascii_lowercase())
            .collect();
    }
    let mut reply = Reply {
        content_type: args.reply_content_type.clone(),
        ..Reply::default()
    };
    match StatusCode::from_u16(args.reply_status) {
        Ok(s) => reply.status = s,
        Err(_) => {
            return f(format!(
                "--reply-status {}: not a status code",
                args.reply_status
            ));
        }
    }
    if let Some(p) = &args.reply_body {
        match std::fs::read(p) {
            Ok(b) => reply.body = b,
            Err(e) => return f(format!("--reply-body {}: {e}", p.display())),
        }
    }
    let server = match args.server.limits() {
        Ok(l) => l,
        Err(e) => return f(e),
    };
    let cfg = UpstreamConfig {
        reply,
        print_verdicts: true,
        verdicts: VerdictLimits {
            max_verdicts: args.max_verdicts.max(1),
            max_bytes: args.max_verdict_bytes,
            ..VerdictLimits::default()
        },
        server,
        ..UpstreamConfig::new(exp)
    };
    let up = match Upstream::start_with(listen, cfg).await {
        Ok(u) => u,
        Err(e) => return f(e.to_string()),
    };
    println!(
        "http-sig upstream listening on {} (alg {}, keyid {:?}); verdicts at {}{VERDICTS_PATH}; Ctrl-C to stop",
        up.url(),
        up.expectations().alg,
        up.expectations().keyid,
        up.url()
    );
    if let Err(e) = tokio::signal::ctrl_c().await {
        return f(format!("cannot wait for Ctrl-C: {e}"));
    }
    let failed = up.failed_requests();
    if up.dropped() > 0 {
        println!(
            "{} requests judged, {failed} with failures ({} oldest verdicts dropped, {} kept)",
            up.judged(),
            up.dropped(),
            up.verdicts().len()
        );
    } else {
        println!("{} requests judged, {failed} with failures", up.judged());
    }
    code(if failed == 0 {
        exit_code::ALL_MUST_PASSED
    } else {
        exit_code::MUST_FAILED
    })
}

pub async fn serve_verifier(args: VerifierArgs) -> ExitCode {
    let f = |m: String| fail("http-sig-verifier", m);
    let listen = match loopback_addr(&args.listen) {
        Ok(a) => a,
        Err(e) => return f(e.to_string()),
    };
    // A JWK Set (RFC 7517 §5) selects the key by keyid; revoked kids, `use` / `key_ops` and
    // the other knobs are the policy's (`--policy`).
    let jwks = std::fs::read(&args.key).is_ok_and(|b| KeySet::looks_like_jwks(&b));
    let mut cfg = if jwks {
        let set = match KeySet::from_file(&args.key) {
            Ok(s) => s,
            Err(e) => return f(format!("--key: {e}")),
        };
        let Some(first) = set.kids().next().and_then(|k| set.get(k)).cloned() else {
            return f("--key: the JWK Set has no keys".into());
        };
        let mut cfg = VerifierConfig::new(first);
        cfg.key_set = Some(set);
        cfg
    } else {
        match Key::from_file(&args.key) {
            Ok(k) => VerifierConfig::new(k),
            Err(e) => return f(format!("--key: {e}")),
        }
    };
    if let Some(p) = &args.policy {
        match VerificationPolicy::from_file(p) {
            Ok(pol) => cfg.policy = pol,
            Err(e) => return f(format!("--policy: {e}")),
        }
    }
    if let Some(a) = &args.alg {
        match a.parse::<Algorithm>() {
            Ok(a) => cfg.alg = Some(a),
            Err(e) => return f(format!("--alg: {e}")),
        }
    }
    if args.scheme != "http" && args.scheme != "https" {
        return f(format!("--scheme {}: expected http or https", args.scheme));
    }
    cfg.keyids = args.keyids.clone();
    cfg.label = args.label.clone();
    cfg.scheme = args.scheme.clone();
    cfg.print_decisions = true;
    cfg.server = match args.server.limits() {
        Ok(l) => l,
        Err(e) => return f(e),
    };
    let svc = match VerifierService::start(listen, cfg).await {
        Ok(s) => s,
        Err(e) => return f(e.to_string()),
    };
    println!(
        "http-sig verifier listening on {} (Ctrl-C to stop)",
        svc.url()
    );
    if let Err(e) = tokio::signal::ctrl_c().await {
        return f(format!("cannot wait for Ctrl-C: {e}"));
    }
    code(exit_code::ALL_MUST_PASSED)
}

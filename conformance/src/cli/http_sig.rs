//! `sigharness http-sig sign | verify | base`: RFC 9421 signatures on message files, on top of the
//! `http-sig` library. The library reads no clock; this command does (`--created`/`--now` default).
//!
//! Exit codes: 0 success (verify: valid), 1 verify: the signature is not acceptable (reason on
//! stderr), 2 usage or I/O error (unreadable or malformed inputs, bad keys, bad options).

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use clap::{Args as ClapArgs, Subcommand};
use http_sig::{
    Algorithm, ComponentId, HttpMessage, Key, KeySet, ParseOptions, SignatureParams, Signer,
    SigningProfile, VerificationPolicy, Verifier, signature_base,
};

use http_sig::web_bot_auth::{
    self, KeyDirectory, NonceSource, SignatureAgentForm, WebBotAuthPolicy, WebBotAuthSigner,
};

use super::key_directory;
use super::nonce_file::FileNonceStore;

/// `sigharness http-sig ...`
#[derive(ClapArgs, Debug)]
pub struct Args {
    #[command(subcommand)]
    pub command: HttpSigCommand,
}

#[derive(Subcommand, Debug)]
pub enum HttpSigCommand {
    /// Sign a message file; prints it with Signature-Input and Signature added.
    Sign(SignArgs),
    /// Verify a signature in a message file: exit 0 valid, 1 invalid, 2 usage/IO error.
    Verify(VerifyArgs),
    /// Print the signature base for a message and components.
    Base(BaseArgs),
}

#[derive(ClapArgs, Debug)]
pub struct MessageOpts {
    /// Raw HTTP/1.1 message (request or response).
    #[arg(long, value_name = "FILE")]
    pub message: PathBuf,
    /// The request that triggered the response (for `;req` components).
    #[arg(long, value_name = "FILE")]
    pub request: Option<PathBuf>,
    /// Scheme of a request whose target is not absolute.
    #[arg(long, default_value = "https")]
    pub scheme: String,
}

#[derive(ClapArgs, Debug)]
pub struct SignArgs {
    #[command(flatten)]
    pub msg: MessageOpts,
    /// Key file: JWK, PEM, DER or base64 shared secret (with a --profile FILE, the profile names
    /// the key; with --profile web-bot-auth, the bot's private RSA, EC or Ed25519 key).
    #[arg(long, value_name = "FILE", required_unless_present = "profile")]
    pub key: Option<PathBuf>,
    /// Algorithm (default: from the key).
    #[arg(long, value_name = "ALG")]
    pub alg: Option<String>,
    /// Covered components, space separated, quoted or not:
    /// '@method @path "content-type" "@query-param";name="Pet"'.
    /// (With --profile web-bot-auth: components covered besides `@authority` and
    /// Signature-Agent, e.g. '@method @path'.)
    #[arg(long, value_name = "LIST")]
    pub components: Option<String>,
    /// Grafbase-style signing profile (TOML or YAML) instead of --components, or the literal
    /// `web-bot-auth`: the Web Bot Auth profile (draft-meunier-webbotauth-httpsig-protocol;
    /// keyid = JWK thumbprint, tag web-bot-auth, created + expires, @authority and
    /// Signature-Agent covered; docs/web-bot-auth.md).
    #[arg(long, value_name = "FILE|web-bot-auth")]
    pub profile: Option<PathBuf>,
    /// web-bot-auth: write Signature-Agent with this https URL (and cover it).
    #[arg(long, value_name = "URL")]
    pub signature_agent: Option<String>,
    /// web-bot-auth: the Signature-Agent form, `dict` (member keyed to the label; what signers
    /// MUST send) or `string` (the legacy bare String).
    #[arg(long, value_name = "FORM", default_value = "dict", value_parser = ["dict", "string"])]
    pub signature_agent_form: String,
    /// web-bot-auth: `expires - created`, seconds (the draft RECOMMENDS at most 86400).
    #[arg(long, value_name = "SECS", default_value_t = http_sig::web_bot_auth::DEFAULT_VALIDITY)]
    pub validity: u64,
    /// web-bot-auth: no `nonce` (default: 64 random bytes, or --nonce).
    #[arg(long, conflicts_with = "nonce")]
    pub no_nonce: bool,
    /// Signature label.
    #[arg(long, default_value = "sig")]
    pub label: String,
    /// `created` (UNIX seconds; default now).
    #[arg(long, value_name = "SECS")]
    pub created: Option<i64>,
    /// `keyid` (default: JWK kid, else base64(sha256(public key))).
    #[arg(long, value_name = "ID")]
    pub keyid: Option<String>,
    /// Do not send a keyid.
    #[arg(long, conflicts_with = "keyid")]
    pub no_keyid: bool,
    /// Add the `alg` parameter.
    #[arg(long)]
    pub include_alg: bool,
    /// `expires` (UNIX seconds).
    #[arg(long, value_name = "SECS")]
    pub expires: Option<i64>,
    /// `nonce`.
    #[arg(long, value_name = "N")]
    pub nonce: Option<String>,
    /// `tag`.
    #[arg(long, value_name = "T")]
    pub tag: Option<String>,
    /// Order of the signature parameters, comma separated (e.g. `keyid,created,alg`): the named
    /// ones first, in this order, the rest after them. Default: created, keyid, alg, expires,
    /// nonce, tag. The order is part of the signature base (RFC 9421 §2.3), so another signer's
    /// deterministic signature is reproduced byte for byte only in its order.
    #[arg(long, value_name = "LIST", conflicts_with = "profile")]
    pub param_order: Option<String>,
}

#[derive(ClapArgs, Debug)]
pub struct VerifyArgs {
    #[command(flatten)]
    pub msg: MessageOpts,
    /// Key file: JWK, PEM, DER or base64 shared secret, or a JWK Set (`{"keys": [...]}`, the
    /// key chosen by keyid; JWK `use` / `key_ops` are honoured). With --profile web-bot-auth:
    /// the one public key, whose thumbprint the keyid must be.
    #[arg(long, value_name = "FILE", required_unless_present = "directory")]
    pub key: Option<PathBuf>,
    /// `web-bot-auth`: verify with the Web Bot Auth policy (tag, thumbprint keyid, created +
    /// expires, @authority or @target-uri, Signature-Agent covered, validity <= --max-validity,
    /// default 86400; docs/web-bot-auth.md).
    #[arg(long, value_name = "NAME", value_parser = ["web-bot-auth"])]
    pub profile: Option<String>,
    /// web-bot-auth: the key directory, a file or an `http://` URL on loopback (127.0.0.1, ::1
    /// only: a test harness; fetched with a 5 s bound, at most 64 KiB, no redirects, only 200).
    #[arg(
        long,
        value_name = "URL|FILE",
        requires = "profile",
        conflicts_with = "key"
    )]
    pub directory: Option<String>,
    /// web-bot-auth: refuse a request without Signature-Agent.
    #[arg(long, requires = "profile")]
    pub require_signature_agent: bool,
    /// web-bot-auth: refuse the legacy bare-String Signature-Agent.
    #[arg(long, requires = "profile")]
    pub reject_legacy_signature_agent: bool,
    /// Algorithm known by configuration (must agree with `alg` and the key).
    #[arg(long, value_name = "ALG")]
    pub alg: Option<String>,
    /// Label to verify (default: the only signature).
    #[arg(long, value_name = "L")]
    pub label: Option<String>,
    /// Verification policy (TOML or YAML).
    #[arg(long, value_name = "FILE")]
    pub policy: Option<PathBuf>,
    /// Verification time (UNIX seconds; default now).
    #[arg(long, value_name = "SECS")]
    pub now: Option<u64>,
    /// An id that names the key (repeatable; a JWK `kid` counts too): a `keyid` parameter naming
    /// anything else fails (`unknown_key`, RFC 9421 §3.2 step 5). Not with a JWK Set.
    #[arg(long, value_name = "ID")]
    pub keyid: Vec<String>,
    /// Remember nonces in FILE (JSON, created if absent) and reject a nonce seen before with the
    /// same key (`nonce_replayed`, RFC 9421 §7.2.2).
    #[arg(long, value_name = "FILE")]
    pub nonce_store: Option<PathBuf>,
    /// Most nonces the store keeps per keyid; beyond it the oldest of that keyid is dropped.
    #[arg(
        long,
        value_name = "N",
        default_value_t = 10_000,
        requires = "nonce_store"
    )]
    pub nonce_cap_per_key: usize,
    /// Require `content-digest` to be covered and to match the body (RFC 9530); policy
    /// `require_content_digest`.
    #[arg(long)]
    pub require_content_digest: bool,
    /// Longest `expires - created`, seconds (policy `max_validity`).
    #[arg(long, value_name = "SECS")]
    pub max_validity: Option<u64>,
    /// Clock skew allowed for `expires`, seconds (policy `expires_skew`).
    #[arg(long, value_name = "SECS")]
    pub expires_skew: Option<u64>,
    /// Components that must not be covered (policy `forbidden_components`), as in `--components`.
    #[arg(long, value_name = "LIST")]
    pub forbid: Option<String>,
    /// A revoked keyid (repeatable; policy `revoked_keyids`).
    #[arg(long, value_name = "ID")]
    pub revoked_keyid: Vec<String>,
}

#[derive(ClapArgs, Debug)]
pub struct BaseArgs {
    #[command(flatten)]
    pub msg: MessageOpts,
    /// Covered components (see `sign --components`).
    #[arg(long, value_name = "LIST")]
    pub components: String,
    /// Signature parameters, e.g. ';created=1618884473;keyid="test-key-rsa"'.
    #[arg(long, value_name = "PARAMS", default_value = "")]
    pub params: String,
}

/// A failure with its exit code.
struct Fail(i32, String);

fn usage(e: impl std::fmt::Display) -> Fail {
    Fail(2, e.to_string())
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Largest message file read (a message is parsed whole; its body is kept).
const MAX_MESSAGE_FILE: u64 = 64 * 1024 * 1024;

fn read_message(path: &Path, scheme: &str) -> Result<HttpMessage, Fail> {
    let cannot = |e: std::io::Error| usage(format!("cannot read {}: {e}", path.display()));
    let len = std::fs::metadata(path).map_err(cannot)?.len();
    if len > MAX_MESSAGE_FILE {
        return Err(usage(format!(
            "{}: {len} bytes is more than a message file may hold ({MAX_MESSAGE_FILE})",
            path.display()
        )));
    }
    let bytes = std::fs::read(path).map_err(cannot)?;
    HttpMessage::parse_with(
        &bytes,
        ParseOptions {
            scheme: scheme.to_string(),
        },
    )
    .map_err(|e| usage(format!("{}: {e}", path.display())))
}

/// [`read_message`] for other commands (`bench http-sig --message`): the error as text.
pub(crate) fn read_message_file(path: &Path, scheme: &str) -> Result<HttpMessage, String> {
    read_message(path, scheme).map_err(|Fail(_, m)| m)
}

fn load(opts: &MessageOpts) -> Result<(HttpMessage, Option<HttpMessage>), Fail> {
    let msg = read_message(&opts.message, &opts.scheme)?;
    let req = match &opts.request {
        Some(p) => Some(read_message(p, &opts.scheme)?),
        None => None,
    };
    Ok((msg, req))
}

fn parse_alg(a: &Option<String>) -> Result<Option<Algorithm>, Fail> {
    a.as_deref()
        .map(|s| s.parse::<Algorithm>().map_err(usage))
        .transpose()
}

fn sign(a: SignArgs) -> Result<i32, Fail> {
    let (mut msg, req) = load(&a.msg)?;
    let created = a
        .created
        .unwrap_or_else(|| i64::try_from(now_secs()).unwrap_or(0));
    let wba = a.profile.as_deref() == Some(Path::new(WEB_BOT_AUTH));
    if !wba && (a.signature_agent.is_some() || a.no_nonce) {
        return Err(usage(
            "--signature-agent and --no-nonce need --profile web-bot-auth",
        ));
    }
    if wba {
        sign_web_bot_auth(&a, &mut msg, created)?;
    } else if let Some(profile) = &a.profile {
        if a.key.is_some() || a.components.is_some() {
            return Err(usage(
                "a --profile FILE names its key and headers; do not give --key or --components",
            ));
        }
        let p = SigningProfile::from_file(profile)
            .map_err(usage)?
            .with_label(a.label.clone());
        let now = u64::try_from(created).map_err(|_| usage("--created must not be negative"))?;
        p.sign(&mut msg, now)
            .map_err(|e| Fail(2, format!("[{}] {e}", e.kind())))?;
    } else {
        let list = a
            .components
            .as_deref()
            .ok_or_else(|| usage("give --components or --profile"))?;
        let comps = ComponentId::parse_list(list).map_err(usage)?;
        let key_path = a
            .key
            .as_ref()
            .ok_or_else(|| usage("--key is required with --components"))?;
        let key = Key::from_file(key_path).map_err(usage)?;
        let signer = Signer::new(key, parse_alg(&a.alg)?).map_err(usage)?;
        let mut p = SignatureParams::new(comps);
        p.set_created(created).map_err(usage)?;
        if !a.no_keyid {
            let keyid = a
                .keyid
                .clone()
                .unwrap_or_else(|| signer.keyid().to_string());
            p.set_keyid(&keyid).map_err(usage)?;
        }
        if a.include_alg {
            p.set_alg(signer.algorithm().name()).map_err(usage)?;
        }
        if let Some(e) = a.expires {
            p.set_expires(e).map_err(usage)?;
        }
        if let Some(n) = &a.nonce {
            p.set_nonce(n).map_err(usage)?;
        }
        if let Some(t) = &a.tag {
            p.set_tag(t).map_err(usage)?;
        }
        if let Some(order) = &a.param_order {
            let names: Vec<&str> = order
                .split(',')
                .map(str::trim)
                .filter(|n| !n.is_empty())
                .collect();
            p.reorder_params(&names)
                .map_err(|e| usage(format!("--param-order: {e}")))?;
        }
        signer
            .sign_message(&mut msg, req.as_ref(), &a.label, &p)
            .map_err(|e| Fail(2, format!("[{}] {e}", e.kind())))?;
    }
    use std::io::Write as _;
    std::io::stdout()
        .write_all(&msg.to_bytes())
        .map_err(usage)?;
    Ok(0)
}

fn verify(rt: &tokio::runtime::Runtime, a: VerifyArgs) -> Result<i32, Fail> {
    if a.profile.is_some() {
        return verify_web_bot_auth(rt, &a);
    }
    let (msg, req) = load(&a.msg)?;
    let alg = parse_alg(&a.alg)?;
    let key_path = a
        .key
        .clone()
        .ok_or_else(|| usage("--key is required (--directory needs --profile web-bot-auth)"))?;
    let key_bytes = std::fs::read(&key_path)
        .map_err(|e| usage(format!("cannot read {}: {e}", key_path.display())))?;
    // A JWK Set (RFC 7517 §5): the key is chosen by the signature's keyid.
    let mut v = if KeySet::looks_like_jwks(&key_bytes) {
        if !a.keyid.is_empty() {
            return Err(usage(
                "--keyid names a single key; a JWK Set names its keys by kid",
            ));
        }
        Verifier::with_key_set(KeySet::from_file(&key_path).map_err(usage)?, alg)
    } else {
        let mut v = Verifier::new(Key::from_file(&key_path).map_err(usage)?, alg);
        for id in &a.keyid {
            v = v.with_keyid(id.clone());
        }
        v
    };
    let mut policy = match &a.policy {
        Some(p) => VerificationPolicy::from_file(p).map_err(usage)?,
        None => VerificationPolicy::default(),
    };
    policy.require_content_digest |= a.require_content_digest;
    if a.max_validity.is_some() {
        policy.max_validity = a.max_validity;
    }
    if let Some(s) = a.expires_skew {
        policy.expires_skew = s;
    }
    if let Some(f) = &a.forbid {
        policy.forbidden_components.push(f.clone());
    }
    policy
        .revoked_keyids
        .extend(a.revoked_keyid.iter().cloned());
    policy.validate().map_err(usage)?;
    v = v.with_policy(policy);
    let now = a.now.unwrap_or_else(now_secs);
    let res = match &a.nonce_store {
        Some(path) => {
            let mut store = FileNonceStore::open(path, a.nonce_cap_per_key, now).map_err(usage)?;
            let r =
                v.verify_with_nonce_store(&msg, req.as_ref(), a.label.as_deref(), now, &mut store);
            store.save().map_err(usage)?;
            r
        }
        None => v.verify(&msg, req.as_ref(), a.label.as_deref(), now),
    };
    match res {
        Ok(ok) => {
            println!("valid: label={} alg={}", ok.label, ok.algorithm);
            Ok(0)
        }
        Err(e) => Err(Fail(1, format!("invalid: [{}] {e}", e.kind()))),
    }
}

fn base(a: BaseArgs) -> Result<i32, Fail> {
    let (msg, req) = load(&a.msg)?;
    let comps = ComponentId::parse_list(&a.components).map_err(usage)?;
    let params = a.params.trim();
    let mut p = if params.starts_with('(') {
        SignatureParams::parse(params)
    } else {
        let sep = if params.is_empty() || params.starts_with(';') {
            ""
        } else {
            ";"
        };
        SignatureParams::parse(&format!("(){sep}{params}"))
    }
    .map_err(usage)?;
    p.components = comps;
    let b = signature_base(&msg, req.as_ref(), &p)
        .map_err(|e| Fail(2, format!("[{}] {e}", e.kind())))?;
    println!("{b}");
    Ok(0)
}

/// `--profile web-bot-auth`.
const WEB_BOT_AUTH: &str = "web-bot-auth";

fn sign_web_bot_auth(a: &SignArgs, msg: &mut HttpMessage, created: i64) -> Result<(), Fail> {
    if a.param_order.is_some() || a.keyid.is_some() || a.no_keyid || a.tag.is_some() {
        return Err(usage(
            "--profile web-bot-auth sets keyid (the JWK thumbprint), tag and the parameter order itself",
        ));
    }
    if a.expires.is_some() {
        return Err(usage(
            "--profile web-bot-auth: give --validity SECS, not --expires",
        ));
    }
    let key_path = a
        .key
        .as_ref()
        .ok_or_else(|| usage("--profile web-bot-auth needs --key (the bot's private key)"))?;
    let key = Key::from_file(key_path).map_err(usage)?;
    let mut s = WebBotAuthSigner::new(key)
        .map_err(usage)?
        .with_label(a.label.clone())
        .with_validity(a.validity)
        .map_err(usage)?;
    if let Some(list) = &a.components {
        s = s
            .with_components(ComponentId::parse_list(list).map_err(usage)?)
            .map_err(usage)?;
    }
    if let Some(url) = &a.signature_agent {
        let form: SignatureAgentForm = a.signature_agent_form.parse().map_err(usage)?;
        s = s.with_signature_agent(url, form).map_err(usage)?;
    }
    s = s.with_nonce(match (&a.nonce, a.no_nonce) {
        (Some(n), _) => NonceSource::Fixed(n.clone()),
        (None, true) => NonceSource::None,
        (None, false) => NonceSource::Random,
    });
    let now = u64::try_from(created).map_err(|_| usage("--created must not be negative"))?;
    s.sign(msg, now)
        .map_err(|e| Fail(2, format!("[{}] {e}", e.kind())))?;
    Ok(())
}

/// Largest key directory file read.
const MAX_DIRECTORY_FILE: u64 = web_bot_auth::MAX_DIRECTORY_BYTES as u64;

fn verify_web_bot_auth(rt: &tokio::runtime::Runtime, a: &VerifyArgs) -> Result<i32, Fail> {
    let (msg, _) = load(&a.msg)?;
    if a.policy.is_some()
        || a.alg.is_some()
        || !a.keyid.is_empty()
        || a.nonce_store.is_some()
        || a.require_content_digest
        || a.expires_skew.is_some()
        || a.forbid.is_some()
        || !a.revoked_keyid.is_empty()
    {
        return Err(usage(
            "--profile web-bot-auth takes --key or --directory, --label, --now, --max-validity, --require-signature-agent and --reject-legacy-signature-agent",
        ));
    }
    let now = a.now.unwrap_or_else(now_secs);
    let policy = WebBotAuthPolicy {
        max_validity: Some(
            a.max_validity
                .unwrap_or(web_bot_auth::RECOMMENDED_MAX_VALIDITY),
        ),
        accept_legacy_signature_agent: !a.reject_legacy_signature_agent,
        require_signature_agent: a.require_signature_agent,
        ..WebBotAuthPolicy::default()
    };
    if policy.max_validity == Some(0) {
        return Err(usage("--max-validity 0 admits no signature"));
    }
    let res = if let Some(d) = &a.directory {
        let directory = if d.contains("://") {
            let client = key_directory::client().map_err(usage)?;
            let mut cache = key_directory::DirectoryCache::new();
            let f = rt
                .block_on(cache.get(&client, d, now))
                .map_err(|e| usage(format!("--directory: {e}")))?;
            if let Some(ct) = &f.wrong_content_type {
                eprintln!(
                    "warning: the directory was served as {} (the draft: {})",
                    http_sig::printable(ct, 100),
                    web_bot_auth::MEDIA_TYPE
                );
            }
            match &f.proof {
                Ok(p) if p.is_empty() => {
                    println!("directory: {} keys, unsigned", f.directory.len())
                }
                Ok(p) => println!(
                    "directory: {} keys, proof verified for {}",
                    f.directory.len(),
                    p.len()
                ),
                Err(e) => println!(
                    "directory: {} keys, proof invalid: {}",
                    f.directory.len(),
                    http_sig::printable(e, 300)
                ),
            }
            f.directory
        } else {
            let path = Path::new(d);
            let len = std::fs::metadata(path)
                .map_err(|e| usage(format!("cannot read {}: {e}", path.display())))?
                .len();
            if len > MAX_DIRECTORY_FILE {
                return Err(usage(format!(
                    "{}: {len} bytes is more than a key directory may hold ({MAX_DIRECTORY_FILE})",
                    path.display()
                )));
            }
            let bytes = std::fs::read(path)
                .map_err(|e| usage(format!("cannot read {}: {e}", path.display())))?;
            KeyDirectory::parse(&bytes)
                .map_err(|e| usage(format!("{}: [{}] {e}", path.display(), e.kind())))?
        };
        for r in directory.rejected() {
            eprintln!(
                "warning: directory entry rejected: {}",
                http_sig::printable(r, 300)
            );
        }
        policy.verify(&msg, a.label.as_deref(), &directory, now)
    } else {
        let path = a
            .key
            .as_ref()
            .ok_or_else(|| usage("give --key FILE or --directory URL|FILE"))?;
        let key = Key::from_file(path).map_err(usage)?;
        policy.verify_with_key(&msg, a.label.as_deref(), &key, now)
    };
    match res {
        Ok(ok) => {
            let agent = match (&ok.agent, ok.agent_form) {
                (Some(m), Some(f)) => format!(
                    " signature-agent={} form={}",
                    http_sig::printable(&m.value, 200),
                    f.name()
                ),
                _ => " signature-agent=none".into(),
            };
            println!(
                "valid: label={} alg={} keyid={}{agent}",
                ok.verified.label, ok.verified.algorithm, ok.thumbprint
            );
            Ok(0)
        }
        Err(e) => Err(Fail(1, format!("invalid: [{}] {e}", e.kind()))),
    }
}

/// Run a `http-sig` command; returns the exit code.
pub fn run(rt: &tokio::runtime::Runtime, args: Args) -> i32 {
    let r = match args.command {
        HttpSigCommand::Sign(a) => sign(a),
        HttpSigCommand::Verify(a) => verify(rt, a),
        HttpSigCommand::Base(a) => base(a),
    };
    match r {
        Ok(c) => c,
        Err(Fail(code, msg)) => {
            // One line, control characters escaped, bounded: errors may quote the input.
            eprintln!("sigharness http-sig: {}", http_sig::printable(&msg, 1_000));
            code
        }
    }
}

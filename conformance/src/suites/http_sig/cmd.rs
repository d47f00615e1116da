//! Target `cmd` (`--target-cmd 'CMD'`): an RFC 9421 implementation in any language, driven
//! through a JSON-lines shim, in the manner of BoringSSL's shim for BoGo.
//!
//! The harness starts `sh -c CMD` once, in a process group of its own, writes one JSON request
//! a line to its stdin and reads one JSON answer a line from its stdout; stderr is kept (its
//! last [`STDERR_TAIL`] bytes) as evidence. The protocol is documented in
//! `conformance/interop/README.md`: a `hello` handshake (name, version, ops, algorithms, key
//! formats), then `base` / `sign` / `verify` requests carrying the inputs of [`BaseInput`],
//! [`SignInput`] and [`VerifyInput`], answered by `ok`, `error {kind, message}` or
//! `unsupported`. Operations and algorithms the handshake does not offer are `unsupported`
//! without asking the shim.
//!
//! Bounds: every request has `cmd_timeout` seconds (default 10) for its answer, the whole run
//! `cmd_deadline` (default 900). A shim that crashes, hangs, writes a line that is not an answer
//! or answers another id gives that case a failure ([`TargetError::Broken`]) naming what
//! happened (exit status, the line, the last stderr lines); the shim's group is then ended
//! (TERM, then KILL after [`GRACE`]) and the next request starts a fresh shim, at most
//! `cmd_restarts` times (default 3). After that, and after the overall deadline, every further
//! request fails at once with the reason. Nothing here panics on what the shim writes.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, sync_channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use rustix::process::{Pid, Signal, kill_process_group};
use serde_json::{Value, json};

use super::target::{
    BaseInput, HttpSigTarget, KeyInput, SignInput, TargetError, VerifyInput, VerifyPolicy,
};
use crate::runner::Error;

/// Protocol version sent in `hello`.
pub const PROTOCOL: u64 = 1;
/// Time the shim's group has between SIGTERM and SIGKILL.
pub const GRACE: Duration = Duration::from_secs(2);
/// Longest answer line read (a signed message with its headers fits many times over).
pub const MAX_LINE: usize = 4 << 20;
/// How long a shim whose stdout closed has to exit by itself before it is ended.
pub const EXIT_WAIT: Duration = Duration::from_millis(500);
/// Bytes of stderr kept: the last ones.
pub const STDERR_TAIL: usize = 16 << 10;

/// How the harness drives the shim.
#[derive(Clone, Debug)]
pub struct CmdConfig {
    /// The command line, run as `sh -c CMD`.
    pub cmd: String,
    /// Bound on one answer.
    pub timeout: Duration,
    /// Bound on the whole run (from the start of the first shim).
    pub deadline: Duration,
    /// Fresh shims started after a fault.
    pub restarts: u32,
}

impl CmdConfig {
    pub fn new(cmd: impl Into<String>) -> Self {
        CmdConfig {
            cmd: cmd.into(),
            timeout: Duration::from_secs(10),
            deadline: Duration::from_secs(900),
            restarts: 3,
        }
    }
}

/// What the shim said about itself in `hello`.
#[derive(Clone, Debug, Default)]
pub struct Hello {
    pub name: String,
    pub version: String,
    pub ops: Vec<String>,
    /// Empty = every algorithm (the shim answers `unsupported` itself).
    pub algorithms: Vec<String>,
    /// Made once per target (a few names from the fixed list, leaked: the adapter's
    /// `key_formats` hands out a `'static` slice).
    pub key_formats: &'static [&'static str],
}

/// Key encodings a shim may ask for (the names of `vectors/keys/index.json`).
const KNOWN_FORMATS: &[&str] = &[
    "pem-pkcs8",
    "pem-pkcs8-rsassa-pss",
    "pem-spki",
    "pem-sec1",
    "pem-pkcs1-private",
    "pem-pkcs1-public",
    "jwk",
    "base64",
];

/// One line read from the shim's stdout, or how reading ended.
enum Line {
    Text(String),
    TooLong,
}

/// A running shim.
struct Shim {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<Line>,
    stderr: Arc<Mutex<VecDeque<u8>>>,
    /// The stdout reader saw end of file.
    stdout_closed: bool,
}

impl Shim {
    fn start(cmd: &str) -> std::io::Result<Shim> {
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(cmd)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .spawn()?;
        let stdin = child.stdin.take();
        let (tx, lines) = sync_channel(16);
        if let Some(out) = child.stdout.take() {
            std::thread::spawn(move || {
                let mut r = BufReader::new(out);
                loop {
                    let mut buf = Vec::new();
                    let n = (&mut r)
                        .take(MAX_LINE as u64 + 1)
                        .read_until(b'\n', &mut buf);
                    match n {
                        Ok(0) | Err(_) => return,
                        Ok(_) if buf.len() > MAX_LINE => {
                            let _ = tx.send(Line::TooLong);
                            return;
                        }
                        Ok(_) => {
                            let text = String::from_utf8_lossy(&buf).trim_end().to_string();
                            if tx.send(Line::Text(text)).is_err() {
                                return;
                            }
                        }
                    }
                }
            });
        }
        let stderr = Arc::new(Mutex::new(VecDeque::new()));
        if let Some(mut err) = child.stderr.take() {
            let tail = stderr.clone();
            std::thread::spawn(move || {
                let mut chunk = [0u8; 4096];
                while let Ok(n) = err.read(&mut chunk) {
                    if n == 0 {
                        return;
                    }
                    let Ok(mut t) = tail.lock() else { return };
                    t.extend(&chunk[..n]);
                    while t.len() > STDERR_TAIL {
                        t.pop_front();
                    }
                }
            });
        }
        Ok(Shim {
            child,
            stdin,
            lines,
            stderr,
            stdout_closed: false,
        })
    }

    /// The last lines of stderr (at most 5), for evidence.
    fn stderr_tail(&self) -> String {
        let bytes: Vec<u8> = self
            .stderr
            .lock()
            .map(|t| t.iter().copied().collect())
            .unwrap_or_default();
        let text = String::from_utf8_lossy(&bytes);
        let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
        let tail = lines[lines.len().saturating_sub(5)..].join(" | ");
        if tail.is_empty() {
            "stderr empty".into()
        } else {
            format!("stderr: {tail}")
        }
    }

    /// How the shim ended, if it has (`exit status 3`, `killed by signal 9`).
    fn exit_status(&mut self) -> Option<String> {
        match self.child.try_wait() {
            Ok(Some(s)) => Some(match (s.code(), s.signal()) {
                (Some(c), _) => format!("exit status {c}"),
                (None, Some(sig)) => format!("killed by signal {sig}"),
                _ => "ended".into(),
            }),
            _ => None,
        }
    }

    /// End the shim's group: TERM, wait (bounded) for stdout to close, KILL, reap.
    fn end(&mut self) -> Option<String> {
        drop(self.stdin.take());
        let pgid = i32::try_from(self.child.id()).ok().and_then(Pid::from_raw);
        if let Some(pid) = pgid {
            let _ = kill_process_group(pid, Signal::TERM);
        }
        let until = Instant::now() + GRACE;
        loop {
            let left = until.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(_) => continue,
                Err(_) => break,
            }
        }
        if let Some(pid) = pgid {
            let _ = kill_process_group(pid, Signal::KILL);
        }
        let _ = self.child.wait();
        self.exit_status()
    }
}

/// The shim's state between requests.
struct State {
    shim: Option<Shim>,
    next_id: u64,
    restarts_left: u32,
    /// Set when no further shim is started: every request fails with this.
    gone: Option<String>,
}

/// The `cmd` target.
pub struct CmdTarget {
    config: CmdConfig,
    started: Instant,
    hello: Hello,
    state: Mutex<State>,
}

fn str_list(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// An `sfv` bare item as JSON: integers, booleans and strings as themselves; tokens, byte
/// sequences and decimals typed (`{"token": "t"}`, `{"bytes": "<base64>"}`,
/// `{"decimal": "0.5"}`), so a shim can write them back as they were.
fn bare_json(v: &sfv::BareItem) -> Value {
    if let Some(i) = v.as_integer() {
        json!(i64::from(i))
    } else if let Some(b) = v.as_boolean() {
        json!(b)
    } else if let Some(s) = v.as_string() {
        json!(s.as_str())
    } else if let Some(t) = v.as_token() {
        json!({ "token": t.as_str() })
    } else if let Some(d) = v.as_decimal() {
        json!({ "decimal": d.to_string() })
    } else if let Some(b) = v.as_byte_sequence() {
        json!({ "bytes": B64.encode(b) })
    } else {
        json!({ "unknown": true })
    }
}

fn params_json(p: &sfv::Parameters) -> Value {
    Value::Array(
        p.iter()
            .map(|(k, v)| json!([k.as_str(), bare_json(v)]))
            .collect(),
    )
}

/// The signature parameters as the request carries them: the text, and (when our parser reads
/// it) the covered components and parameters, in order.
fn signature_params_json(text: &str, req: &mut serde_json::Map<String, Value>) {
    req.insert("signature_params".into(), json!(text));
    match http_sig::SignatureParams::parse(text) {
        Ok(p) => {
            let covered: Vec<Value> = p
                .components
                .iter()
                .map(|c| {
                    json!({
                        "id": c.serialize(),
                        "name": c.name(),
                        "params": params_json(c.params()),
                    })
                })
                .collect();
            req.insert("covered".into(), Value::Array(covered));
            req.insert("params".into(), params_json(p.params()));
        }
        Err(_) => {
            req.insert("covered".into(), Value::Null);
            req.insert("params".into(), Value::Null);
        }
    }
}

fn common_json(
    message: &str,
    request: Option<&str>,
    scheme: &str,
    sf: &[(String, String)],
) -> serde_json::Map<String, Value> {
    let mut m = serde_json::Map::new();
    m.insert("message".into(), json!(message));
    m.insert("request".into(), json!(request));
    m.insert("scheme".into(), json!(scheme));
    let sf: serde_json::Map<String, Value> =
        sf.iter().map(|(k, v)| (k.clone(), json!(v))).collect();
    m.insert("structured_fields".into(), Value::Object(sf));
    m
}

fn key_json(k: &KeyInput) -> Value {
    json!({
        "id": k.id,
        "format": k.format,
        "private": k.private,
        "bytes": B64.encode(&k.bytes),
    })
}

fn policy_json(p: &VerifyPolicy) -> Value {
    json!({
        "now": p.now,
        "max_age": p.max_age,
        "created_skew": p.created_skew,
        "check_expires": p.check_expires,
        "required_components": p.required_components,
        "required_params": p.required_params,
        "seen_nonces": p.seen_nonces,
        "required_tag": p.required_tag,
        "max_validity": p.max_validity,
        "expires_skew": p.expires_skew,
        "forbidden_components": p.forbidden_components,
        "require_content_digest": p.require_content_digest,
        "revoked_keyids": p.revoked_keyids,
    })
}

fn excerpt(s: &str) -> String {
    let mut out: String = s.chars().take(200).collect();
    if out.len() < s.len() {
        out.push_str("...");
    }
    out
}

impl CmdTarget {
    /// Start the shim and shake hands; a shim that cannot start or does not answer `hello`
    /// is a setup error (the run cannot proceed).
    pub fn start(config: CmdConfig) -> Result<CmdTarget, Error> {
        let started = Instant::now();
        let mut target = CmdTarget {
            state: Mutex::new(State {
                shim: None,
                next_id: 0,
                restarts_left: config.restarts,
                gone: None,
            }),
            config,
            started,
            hello: Hello::default(),
        };
        let ok = target
            .call_raw("hello", json!({ "protocol": PROTOCOL }), true)
            .map_err(|e| {
                Error::setup(format!(
                    "--target-cmd {:?}: no hello answer: {e}",
                    target.config.cmd
                ))
            })?;
        let hello = Hello {
            name: ok["name"].as_str().unwrap_or("cmd").to_string(),
            version: ok["version"].as_str().unwrap_or("").to_string(),
            ops: str_list(ok.get("ops")),
            algorithms: str_list(ok.get("algorithms")),
            key_formats: str_list(ok.get("key_formats"))
                .iter()
                .filter_map(|f| KNOWN_FORMATS.iter().find(|k| *k == f).copied())
                .collect::<Vec<_>>()
                .leak(),
        };
        target.hello = hello;
        Ok(target)
    }

    /// What the shim said in `hello`.
    pub fn hello(&self) -> &Hello {
        &self.hello
    }

    /// One request, one answer: `Ok(value of "ok")`, or the error / unsupported / fault.
    fn call_raw(&self, op: &str, body: Value, first: bool) -> Result<Value, TargetError> {
        let Ok(mut st) = self.state.lock() else {
            return Err(TargetError::Broken("shim state poisoned".into()));
        };
        if let Some(why) = &st.gone {
            return Err(TargetError::Broken(format!("no shim any more: {why}")));
        }
        let left = self.config.deadline.saturating_sub(self.started.elapsed());
        if left.is_zero() {
            let why = format!(
                "the overall bound of {} s (cmd_deadline) is spent",
                self.config.deadline.as_secs()
            );
            if let Some(mut s) = st.shim.take() {
                s.end();
            }
            st.gone = Some(why.clone());
            return Err(TargetError::Broken(why));
        }
        if st.shim.is_none() {
            if !first {
                if st.restarts_left == 0 {
                    let why = format!("{} restarts (cmd_restarts) used up", self.config.restarts);
                    st.gone = Some(why.clone());
                    return Err(TargetError::Broken(why));
                }
                st.restarts_left -= 1;
            }
            match Shim::start(&self.config.cmd) {
                Ok(s) => st.shim = Some(s),
                Err(e) => {
                    let why = format!("cannot start `sh -c {}`: {e}", self.config.cmd);
                    st.gone = Some(why.clone());
                    return Err(TargetError::Broken(why));
                }
            }
            if !first {
                // A fresh shim is told hello first, as the first one was.
                let id = st.next_id;
                st.next_id += 1;
                let hello = json!({"id": id, "op": "hello", "protocol": PROTOCOL});
                let bound = self.config.timeout.min(left);
                if let Err(e) = exchange(&mut st, id, &hello, bound) {
                    return Err(fault(&mut st, e));
                }
            }
        }
        let id = st.next_id;
        st.next_id += 1;
        let mut req = match body {
            Value::Object(m) => m,
            _ => serde_json::Map::new(),
        };
        req.insert("id".into(), json!(id));
        req.insert("op".into(), json!(op));
        let bound = self.config.timeout.min(left);
        match exchange(&mut st, id, &Value::Object(req), bound) {
            Ok(answer) => answer,
            Err(e) => Err(fault(&mut st, e)),
        }
    }

    fn offers(&self, op: &str, alg: Option<&str>) -> Result<(), TargetError> {
        let h = &self.hello;
        if !h.ops.iter().any(|o| o == op) {
            return Err(TargetError::unsupported(format!(
                "the shim ({}) does not offer {op}",
                h.name
            )));
        }
        if let Some(a) = alg
            && !h.algorithms.is_empty()
            && !h.algorithms.iter().any(|x| x == a)
        {
            return Err(TargetError::unsupported(format!(
                "the shim ({}) does not offer algorithm {a}",
                h.name
            )));
        }
        Ok(())
    }

    fn call(&self, op: &str, body: Value) -> Result<Value, TargetError> {
        self.call_raw(op, body, false)
    }
}

/// A protocol fault: end the shim (the next request starts a fresh one) and say what happened.
fn fault(st: &mut State, what: String) -> TargetError {
    let Some(mut shim) = st.shim.take() else {
        return TargetError::Broken(what);
    };
    // A shim whose stdout closed is exiting: give it a moment to be reaped, so the evidence
    // names its own exit status rather than the harness's signal.
    let mut status = shim.exit_status();
    let until = Instant::now() + EXIT_WAIT;
    while status.is_none() && shim.stdout_closed && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(5));
        status = shim.exit_status();
    }
    let tail = shim.stderr_tail();
    let ended = shim.end();
    let status = match (status, ended) {
        (Some(s), _) => format!("shim ended: {s}"),
        (None, Some(s)) => format!("shim ended by the harness, TERM then KILL ({s})"),
        (None, None) => "shim ended by the harness, TERM then KILL".into(),
    };
    TargetError::Broken(format!("{what}; {status}; {tail}"))
}

/// Write `req`, read lines until the answer to `id` (bounded by `bound`). `Err` = a fault.
fn exchange(
    st: &mut State,
    id: u64,
    req: &Value,
    bound: Duration,
) -> Result<Result<Value, TargetError>, String> {
    let Some(shim) = st.shim.as_mut() else {
        return Err("no shim".into());
    };
    let mut line = req.to_string();
    line.push('\n');
    let written = match shim.stdin.as_mut() {
        Some(w) => w.write_all(line.as_bytes()).and_then(|()| w.flush()),
        None => Err(std::io::Error::other("stdin closed")),
    };
    if let Err(e) = written {
        return Err(format!("cannot write request {id}: {e}"));
    }
    let text = match shim.lines.recv_timeout(bound) {
        Ok(Line::Text(t)) => t,
        Ok(Line::TooLong) => return Err(format!("answer to request {id} over {MAX_LINE} bytes")),
        Err(RecvTimeoutError::Timeout) => {
            return Err(format!(
                "no answer to request {id} within {} ms (cmd_timeout)",
                bound.as_millis()
            ));
        }
        Err(RecvTimeoutError::Disconnected) => {
            shim.stdout_closed = true;
            return Err(format!("stdout closed before the answer to request {id}"));
        }
    };
    let v: Value = serde_json::from_str(&text).map_err(|e| {
        format!(
            "answer to request {id} is not JSON ({e}): {}",
            excerpt(&text)
        )
    })?;
    if v.get("id").and_then(Value::as_u64) != Some(id) {
        return Err(format!(
            "answer names id {} for request {id}: {}",
            v.get("id").map_or("none".to_string(), Value::to_string),
            excerpt(&text)
        ));
    }
    if let Some(ok) = v.get("ok") {
        return Ok(Ok(ok.clone()));
    }
    if let Some(u) = v.get("unsupported") {
        let what = u.as_str().map_or_else(|| u.to_string(), str::to_string);
        return Ok(Err(TargetError::unsupported(what)));
    }
    if let Some(e) = v.get("error") {
        let kind = e["kind"].as_str().unwrap_or("error").to_string();
        let message = e["message"].as_str().unwrap_or("").to_string();
        return Ok(Err(TargetError::rejected(kind, message)));
    }
    Err(format!(
        "answer to request {id} has none of ok, error, unsupported: {}",
        excerpt(&text)
    ))
}

impl Drop for CmdTarget {
    fn drop(&mut self) {
        if let Ok(mut st) = self.state.lock()
            && let Some(mut s) = st.shim.take()
        {
            s.end();
        }
    }
}

fn ok_string(v: Value, what: &str) -> Result<String, TargetError> {
    match v {
        Value::String(s) => Ok(s),
        other => Err(TargetError::Broken(format!(
            "the {what} answer is not a string: {}",
            excerpt(&other.to_string())
        ))),
    }
}

impl HttpSigTarget for CmdTarget {
    fn name(&self) -> &'static str {
        "cmd"
    }

    fn key_formats(&self) -> &'static [&'static str] {
        self.hello.key_formats
    }

    fn signature_base(&self, input: &BaseInput<'_>) -> Result<String, TargetError> {
        self.offers("base", None)?;
        let mut m = common_json(
            input.message,
            input.request,
            input.scheme,
            input.structured_fields,
        );
        signature_params_json(input.signature_params, &mut m);
        ok_string(self.call("base", Value::Object(m))?, "base")
    }

    fn sign(&self, input: &SignInput<'_>) -> Result<String, TargetError> {
        self.offers("sign", Some(input.alg))?;
        let mut m = common_json(
            input.message,
            input.request,
            input.scheme,
            input.structured_fields,
        );
        signature_params_json(input.signature_params, &mut m);
        m.insert("label".into(), json!(input.label));
        m.insert("key".into(), key_json(input.key));
        m.insert("alg".into(), json!(input.alg));
        ok_string(self.call("sign", Value::Object(m))?, "sign")
    }

    fn verify(&self, input: &VerifyInput<'_>) -> Result<(), TargetError> {
        self.offers("verify", Some(input.alg))?;
        if input.policy.key_set.is_some() {
            return Err(TargetError::unsupported(
                "a key set (policy keySet): not part of the shim protocol yet",
            ));
        }
        let mut m = common_json(
            input.message,
            input.request,
            input.scheme,
            input.structured_fields,
        );
        m.insert("label".into(), json!(input.label));
        m.insert("key".into(), key_json(input.key));
        m.insert("alg".into(), json!(input.alg));
        m.insert("policy".into(), policy_json(input.policy));
        match self.call("verify", Value::Object(m))? {
            Value::Bool(true) => Ok(()),
            other => Err(TargetError::Broken(format!(
                "the verify answer is not true (a refusal is an error answer): {}",
                excerpt(&other.to_string())
            ))),
        }
    }
}

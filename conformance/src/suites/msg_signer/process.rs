//! An external client (`--client-cmd`) or signing server (`--server-cmd`, [`Background`]) as a
//! process of its own: started in a process group of
//! its own, its output read while it runs (bounded), and at the end of its run the whole group
//! ended, so that nothing it started outlives the case.
//!
//! The command line is a shell template (the user's quoting, `{config}` and `{args}`), so it
//! runs under `sh -c`. A shell that does not exec its last command (dash) stays the parent of
//! the real client: killing the shell's pid alone would orphan the client. The shell is therefore
//! made the leader of a new process group (`process_group(0)`, before exec), which the client and
//! everything it forks inherit; at the bound the suite sends SIGTERM to the whole group, waits up
//! to [`GRACE`] for every holder of the client's stdout and stderr to go, then sends SIGKILL to
//! the group. The same TERM-then-KILL ends the group after a normal exit too (a client that left
//! a child running); a group that is already empty answers ESRCH, which is ignored. Signals go
//! through rustix (`kill_process_group`, safe; already in Cargo.lock), since the workspace
//! forbids `unsafe`.
//!
//! What can still escape: a process that moves itself to another group or session (`setsid`).

use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rustix::process::{Pid, Signal, kill_process_group};
use tokio::io::{AsyncRead, AsyncReadExt};

/// Time the group has between SIGTERM and SIGKILL (and after SIGKILL, for its pipes to close).
pub const GRACE: Duration = Duration::from_secs(2);
/// Bytes of stdout kept (the JSON document; more is cut, and said so).
pub const STDOUT_CAP: usize = 8 << 20;
/// Bytes of stderr kept: the last ones (the error is at the end, the banner at the start).
pub const STDERR_CAP: usize = 64 << 10;

/// How an external client ended.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProcessOutcome {
    /// The exit code, when it exited by itself.
    pub code: Option<i32>,
    /// The signal that ended it, when one did (also ours at the bound).
    pub signal: Option<i32>,
    /// It was still running at the bound (its group was ended).
    pub hung: bool,
    pub stdout: String,
    /// The last [`STDERR_CAP`] bytes of stderr.
    pub stderr: String,
    /// The process group id (= the shell's pid).
    pub pgid: Option<u32>,
}

/// A capped buffer filled by a reader task; readable after the task is abandoned.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Captured {
    fn take(&self) -> String {
        let v = self.0.lock().map(|v| v.clone()).unwrap_or_default();
        String::from_utf8_lossy(&v).into_owned()
    }
}

/// Read `r` to its end into `buf`: the first `cap` bytes (`keep_tail` false) or the last.
async fn capture(mut r: impl AsyncRead + Unpin, buf: Captured, cap: usize, keep_tail: bool) {
    let mut chunk = [0u8; 8192];
    loop {
        match r.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                let Ok(mut v) = buf.0.lock() else { return };
                if keep_tail {
                    v.extend_from_slice(&chunk[..n]);
                    if v.len() > cap {
                        let cut = v.len() - cap;
                        v.drain(..cut);
                    }
                } else if v.len() < cap {
                    let room = cap - v.len();
                    v.extend_from_slice(&chunk[..n.min(room)]);
                }
            }
        }
    }
}

fn signal_group(pgid: u32, sig: Signal) {
    if let Some(pid) = i32::try_from(pgid).ok().and_then(Pid::from_raw) {
        // ESRCH: the group is empty already.
        let _ = kill_process_group(pid, sig);
    }
}

/// Wait for every reader task still running (a finished one is not polled again).
async fn wait_all(readers: &mut [Option<tokio::task::JoinHandle<()>>]) {
    for r in readers.iter_mut() {
        if let Some(h) = r {
            let _ = h.await;
            *r = None;
        }
    }
}

/// Run `sh -c line` in a process group of its own for at most `bound`; then end the group.
pub async fn run_in_group(line: &str, bound: Duration) -> std::io::Result<ProcessOutcome> {
    let mut cmd = tokio::process::Command::new("sh");
    cmd.arg("-c")
        .arg(line)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    let mut child = cmd.spawn()?;
    let pgid = child.id();
    let (out, err) = (Captured::default(), Captured::default());
    let mut readers = Vec::new();
    if let Some(s) = child.stdout.take() {
        readers.push(Some(tokio::spawn(capture(
            s,
            out.clone(),
            STDOUT_CAP,
            false,
        ))));
    }
    if let Some(s) = child.stderr.take() {
        readers.push(Some(tokio::spawn(capture(
            s,
            err.clone(),
            STDERR_CAP,
            true,
        ))));
    }
    let status = tokio::time::timeout(bound, child.wait()).await;
    let hung = status.is_err();
    // End the group: TERM, then (once every holder of the pipes is gone, or after GRACE) KILL.
    if let Some(pgid) = pgid {
        signal_group(pgid, Signal::TERM);
        let _ = tokio::time::timeout(GRACE, wait_all(&mut readers)).await;
        signal_group(pgid, Signal::KILL);
    }
    let status = match status {
        Ok(s) => s.ok(),
        // Reap the leader (it is killed by now).
        Err(_) => tokio::time::timeout(GRACE, child.wait())
            .await
            .ok()
            .and_then(Result::ok),
    };
    if tokio::time::timeout(GRACE, wait_all(&mut readers))
        .await
        .is_err()
    {
        // A holder of the pipes escaped the group: keep what was read.
        for r in readers.iter().flatten() {
            r.abort();
        }
    }
    use std::os::unix::process::ExitStatusExt;
    Ok(ProcessOutcome {
        code: if hung {
            None
        } else {
            status.and_then(|s| s.code())
        },
        signal: if hung {
            None
        } else {
            status.and_then(|s| s.signal())
        },
        hung,
        stdout: out.take(),
        stderr: err.take(),
        pgid,
    })
}

/// A long-running external process (`--server-cmd`) in a process group of its own, its output
/// kept (the last [`STDERR_CAP`] bytes of each stream). Dropping it ends the group: SIGTERM at
/// once, SIGKILL [`GRACE`] later (from a task when a runtime is there, else at once).
pub struct Background {
    child: tokio::process::Child,
    pgid: Option<u32>,
    out: Captured,
    err: Captured,
}

impl Background {
    /// Start `sh -c line` with `env` added to its environment.
    pub fn spawn(line: &str, env: &[(&str, &str)]) -> std::io::Result<Background> {
        let mut cmd = tokio::process::Command::new("sh");
        cmd.arg("-c")
            .arg(line)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(true);
        let mut child = cmd.spawn()?;
        let pgid = child.id();
        let (out, err) = (Captured::default(), Captured::default());
        if let Some(s) = child.stdout.take() {
            tokio::spawn(capture(s, out.clone(), STDERR_CAP, true));
        }
        if let Some(s) = child.stderr.take() {
            tokio::spawn(capture(s, err.clone(), STDERR_CAP, true));
        }
        Ok(Background {
            child,
            pgid,
            out,
            err,
        })
    }

    /// How it ended, if it has (`exit code N` / `signal N`).
    pub fn exited(&mut self) -> Option<String> {
        use std::os::unix::process::ExitStatusExt;
        match self.child.try_wait() {
            Ok(Some(st)) => Some(match (st.code(), st.signal()) {
                (Some(c), _) => format!("exit code {c}"),
                (_, Some(sig)) => format!("signal {sig}"),
                _ => "exited".into(),
            }),
            _ => None,
        }
    }

    /// Wait until it exits; how it ended.
    pub async fn wait_exit(&mut self) -> String {
        use std::os::unix::process::ExitStatusExt;
        match self.child.wait().await {
            Ok(st) => match (st.code(), st.signal()) {
                (Some(c), _) => format!("exit code {c}"),
                (_, Some(sig)) => format!("signal {sig}"),
                _ => "exited".into(),
            },
            Err(e) => format!("wait failed: {e}"),
        }
    }

    /// The last lines of its stderr and stdout, for evidence (at most `lines` of each).
    pub fn tail(&self, lines: usize) -> String {
        let last = |t: String| {
            let v: Vec<&str> = t.lines().collect();
            v[v.len().saturating_sub(lines)..].join(" | ")
        };
        format!(
            "stderr: {}; stdout: {}",
            last(self.err.take()),
            last(self.out.take())
        )
    }
}

impl Drop for Background {
    /// SIGTERM to the group, up to [`GRACE`] for it to go (polled, the leader reaped), then
    /// SIGKILL. Blocking, once, at the end of a run: a process that ignores SIGTERM must not
    /// outlive the harness.
    fn drop(&mut self) {
        let Some(pgid) = self.pgid else { return };
        signal_group(pgid, Signal::TERM);
        let end = std::time::Instant::now() + GRACE;
        while std::time::Instant::now() < end {
            let _ = self.child.try_wait();
            let alive = i32::try_from(pgid)
                .ok()
                .and_then(Pid::from_raw)
                .is_some_and(|p| rustix::process::test_kill_process_group(p).is_ok());
            if !alive {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        signal_group(pgid, Signal::KILL);
        let _ = self.child.try_wait();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whether `pid` is gone (no such process, or a zombie nobody reaped yet).
    fn gone(pid: u32) -> bool {
        match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            Err(_) => true,
            Ok(s) => s
                .rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().next())
                .is_some_and(|state| state == "Z" || state == "X"),
        }
    }

    /// Wait (bounded) until every pid is gone; the pids that are not.
    async fn still_alive(pids: &[u32], bound: Duration) -> Vec<u32> {
        let end = std::time::Instant::now() + bound;
        loop {
            let alive: Vec<u32> = pids.iter().copied().filter(|p| !gone(*p)).collect();
            if alive.is_empty() || std::time::Instant::now() >= end {
                return alive;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// A client that ignores SIGTERM and forks a child that ignores it too (and holds the
    /// pipes): at the bound the whole group is ended, nothing outlives the run, and the stderr
    /// written before is kept. Before process groups, the kill reached `sh` only and the
    /// `sleep`s were left running.
    #[tokio::test]
    async fn at_the_bound_the_whole_group_is_ended() {
        let dir = tempfile::tempdir().unwrap();
        let pids = dir.path().join("pids");
        let line = format!(
            "trap '' TERM; (trap '' TERM; exec sleep 300) & echo $! > {p}; echo started >&2; \
             sleep 300 & echo $! >> {p}; wait",
            p = pids.display()
        );
        let t = std::time::Instant::now();
        let o = run_in_group(&line, Duration::from_secs(1)).await.unwrap();
        assert!(o.hung, "{o:?}");
        assert!(o.stderr.contains("started"), "{o:?}");
        assert!(
            t.elapsed() < Duration::from_secs(1) + 3 * GRACE,
            "{:?}",
            t.elapsed()
        );
        let mut all: Vec<u32> = std::fs::read_to_string(&pids)
            .unwrap()
            .split_whitespace()
            .map(|p| p.parse().unwrap())
            .collect();
        assert_eq!(all.len(), 2);
        all.push(o.pgid.unwrap());
        assert_eq!(
            still_alive(&all, Duration::from_secs(5)).await,
            Vec::<u32>::new()
        );
    }

    /// A client that exits by itself but leaves a child behind: the child is ended too, and
    /// the exit code and output are the client's.
    #[tokio::test]
    async fn a_child_left_behind_is_ended_after_a_normal_exit() {
        let dir = tempfile::tempdir().unwrap();
        let pids = dir.path().join("pids");
        let line = format!(
            "sleep 300 >/dev/null 2>&1 & echo $! > {p}; echo '{{\"a\":1}}'; echo oops >&2; exit 3",
            p = pids.display()
        );
        let o = run_in_group(&line, Duration::from_secs(30)).await.unwrap();
        assert!(!o.hung);
        assert_eq!(o.code, Some(3));
        assert_eq!(o.stdout.trim(), "{\"a\":1}");
        assert_eq!(o.stderr.trim(), "oops");
        let child: u32 = std::fs::read_to_string(&pids)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        assert_eq!(
            still_alive(&[child], Duration::from_secs(5)).await,
            Vec::<u32>::new()
        );
    }

    /// Only the last STDERR_CAP bytes of stderr are kept.
    #[tokio::test]
    async fn stderr_keeps_its_end() {
        let line =
            "i=0; while [ $i -lt 20000 ]; do echo line$i >&2; i=$((i+1)); done; echo last >&2";
        let o = run_in_group(line, Duration::from_secs(30)).await.unwrap();
        assert_eq!(o.code, Some(0));
        assert!(o.stderr.len() <= STDERR_CAP);
        assert!(
            o.stderr.ends_with("last\n"),
            "{}",
            &o.stderr[o.stderr.len() - 20..]
        );
        assert!(!o.stderr.contains("line0\n"));
    }
}

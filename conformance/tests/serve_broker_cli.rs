//! `sigharness serve broker` options that are refused before anything listens: exit 2 and one
//! line naming the option.

use std::process::Command;
use std::time::Duration;

fn run(args: &[&str]) -> (Option<i32>, String) {
    let child = Command::new(env!("CARGO_BIN_EXE_sigharness"))
        .args(["serve", "broker", "--listen", "127.0.0.1:0"])
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn sigharness");
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    // Bounded: a refused option ends the process at once; one that started serving is killed.
    let out = match rx.recv_timeout(Duration::from_secs(20)) {
        Ok(out) => out.expect("output"),
        Err(_) => {
            let _ = Command::new("kill").arg("-9").arg(pid.to_string()).status();
            panic!("sigharness serve broker {args:?} did not end within 20 s");
        }
    };
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn max_message_size_zero_is_refused_naming_the_option() {
    let (code, err) = run(&["--max-message-size", "0"]);
    assert_eq!(code, Some(2), "stderr: {err}");
    assert!(err.contains("max_message_size"), "stderr: {err}");
    assert!(err.contains("no maximum"), "stderr: {err}");
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
}

#[test]
fn max_message_size_that_is_not_a_number_is_a_usage_error() {
    let (code, err) = run(&["--max-message-size", "lots"]);
    assert_eq!(code, Some(2), "stderr: {err}");
    assert!(err.contains("--max-message-size"), "stderr: {err}");
}

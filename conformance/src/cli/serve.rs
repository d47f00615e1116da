//! `sigharness serve ...`: run a mock on its own, for clients outside this process.

use std::net::SocketAddr;
use std::process::ExitCode;

use clap::Subcommand;

use super::serve_http_sig;

#[derive(Subcommand, Debug)]
pub enum ServeCommand {
    /// Upstream for a signer under test (e.g. a gateway): judges every signed request it receives.
    HttpSigUpstream(serve_http_sig::UpstreamArgs),
    /// Our RFC 9421 verifier as an HTTP service: 200 accept, 401 reject.
    HttpSigVerifier(serve_http_sig::VerifierArgs),
}

/// Parse and check a listen address: only loopback addresses are allowed in this project.
pub fn loopback_addr(s: &str) -> Result<SocketAddr, String> {
    let addr: SocketAddr = s.parse().map_err(|e| {
        format!("--listen {s:?}: not an IP:PORT address ({e}); use e.g. 127.0.0.1:5672")
    })?;
    if !addr.ip().is_loopback() {
        return Err(format!(
            "--listen {addr}: only loopback addresses (127.0.0.1, ::1) are allowed"
        ));
    }
    Ok(addr)
}

pub fn run(rt: &tokio::runtime::Runtime, cmd: ServeCommand) -> ExitCode {
    match cmd {
        ServeCommand::HttpSigUpstream(args) => rt.block_on(serve_http_sig::serve_upstream(args)),
        ServeCommand::HttpSigVerifier(args) => rt.block_on(serve_http_sig::serve_verifier(args)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_must_be_loopback() {
        assert!(loopback_addr("127.0.0.1:5672").is_ok());
        assert!(loopback_addr("[::1]:5672").is_ok());
        let e = loopback_addr("0.0.0.0:5672").unwrap_err();
        assert!(e.contains("only loopback"), "{e}");
        let e = loopback_addr("localhost:5672").unwrap_err();
        assert!(e.contains("IP:PORT"), "{e}");
    }
}

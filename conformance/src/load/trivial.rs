//! The trivial target of the calibration: an HTTP/1.1 server on loopback that answers every
//! request `200 OK` with an empty body at once, after reading the request whole (so the
//! generator's cost of sending a body is part of its ceiling). It runs in the bounded shell of
//! our other HTTP servers (`mock_http_sig_peers::serve`: header/body read timeouts, size caps,
//! a connection cap sized to the load's concurrency).

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::StatusCode;
use mock_http_sig_peers::serve::{ConnStats, ServerLimits, read_body};
use tokio::sync::oneshot;

/// A running trivial target; stops when dropped.
pub struct Trivial {
    url: String,
    _stop: oneshot::Sender<()>,
}

impl Trivial {
    /// Serve on 127.0.0.1 (an ephemeral port), up to `connections` connections at once.
    pub async fn start(connections: usize) -> std::io::Result<Trivial> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
        let url = format!("http://{}", listener.local_addr()?);
        let limits = ServerLimits {
            max_connections: connections.max(1) + 16,
            ..ServerLimits::default()
        };
        let app = Router::new().fallback(move |body: Body| async move {
            match read_body(&limits, body).await {
                Ok(_) => StatusCode::OK,
                Err((status, _)) => status,
            }
        });
        let (tx, rx) = oneshot::channel::<()>();
        tokio::spawn(mock_http_sig_peers::serve::serve(
            listener,
            app,
            limits,
            Arc::new(ConnStats::default()),
            rx,
        ));
        Ok(Trivial { url, _stop: tx })
    }

    /// `http://127.0.0.1:PORT`
    pub fn url(&self) -> &str {
        &self.url
    }
}

//! The HTTP/1.1 shell both servers run in, with the bounds an exposed server needs (issue 13):
//! every connection must send a whole request head within `header_read_timeout` (this is also
//! how long a keep-alive connection may stay idle: hyper starts the timer as soon as it waits for
//! a head), a body within `body_read_timeout` (else 408), heads and bodies are capped
//! (`max_header_bytes`: hyper answers 431; `max_body_bytes`: 413), and at most
//! `max_connections` connections are open at once.
//!
//! **Connection cap policy.** When a connection arrives and `max_connections` are open, the
//! connection that has been idle longest (no request being handled: a fresh connection that sent
//! nothing yet, a slow sender still trickling its head, or a keep-alive connection between
//! requests) is closed to make room, so idle or slow clients cannot lock out a working one. If
//! every open connection is handling a request, accepting pauses until one ends (each is bounded
//! by the body timeout and the verification caps).
//!
//! Not `axum::serve`: it sets no timer, so hyper's header-read timeout cannot be used, and it has
//! no connection cap.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::response::Response;
use tokio::net::TcpListener;
use tokio::sync::{Notify, Semaphore, oneshot};

/// Bounds of one server. Defaults: header read 10 s, body read 10 s, 512 connections, 64 KiB of
/// request head, 4 MiB of body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ServerLimits {
    /// A connection must deliver a complete request head within this time after it opens or after
    /// its previous response (so this is also the keep-alive idle limit); else it is closed.
    pub header_read_timeout: Duration,
    /// A request body must arrive within this time after its head; else 408.
    pub body_read_timeout: Duration,
    /// Most connections open at once (at least 1); see the module doc for what happens beyond.
    pub max_connections: usize,
    /// Largest request head, bytes (hyper's read buffer; at least 8 192); beyond it: 431.
    pub max_header_bytes: usize,
    /// Largest request body, bytes; beyond it: 413.
    pub max_body_bytes: usize,
}

impl Default for ServerLimits {
    fn default() -> Self {
        ServerLimits {
            header_read_timeout: Duration::from_secs(10),
            body_read_timeout: Duration::from_secs(10),
            max_connections: 512,
            max_header_bytes: 64 * 1024,
            max_body_bytes: 4 * 1024 * 1024,
        }
    }
}

/// Read a request body within the limits: `Err(408)` after `body_read_timeout`, `Err(413)` beyond
/// `max_body_bytes`.
pub async fn read_body(
    limits: &ServerLimits,
    body: Body,
) -> Result<Vec<u8>, (http::StatusCode, String)> {
    match tokio::time::timeout(
        limits.body_read_timeout,
        axum::body::to_bytes(body, limits.max_body_bytes),
    )
    .await
    {
        Err(_) => Err((
            http::StatusCode::REQUEST_TIMEOUT,
            format!(
                "the request body did not arrive within {:?} (body_read_timeout)",
                limits.body_read_timeout
            ),
        )),
        Ok(Err(e)) => Err((
            http::StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "the request body could not be read within {} bytes (max_body_bytes): {e}",
                limits.max_body_bytes
            ),
        )),
        Ok(Ok(b)) => Ok(b.to_vec()),
    }
}

/// One open connection, as the cap sees it.
struct Slot {
    /// Requests being handled on it.
    busy: AtomicUsize,
    /// When it last became idle (milliseconds since the server started).
    idle_since: AtomicU64,
    /// Told to close when evicted.
    close: Notify,
}

#[derive(Default)]
struct Slots {
    next: AtomicU64,
    open: Mutex<HashMap<u64, Arc<Slot>>>,
}

impl Slots {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Arc<Slot>>> {
        match self.open.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    /// Tell the longest-idle connection to close; false if every connection is busy.
    fn evict_idle(&self) -> bool {
        let open = self.lock();
        let victim = open
            .values()
            .filter(|s| s.busy.load(Ordering::Acquire) == 0)
            .min_by_key(|s| s.idle_since.load(Ordering::Acquire));
        match victim {
            Some(v) => {
                v.close.notify_one();
                true
            }
            None => false,
        }
    }
}

/// Counters a test (or an operator) can read.
#[derive(Debug, Default)]
pub struct ConnStats {
    /// Connections accepted so far.
    pub accepted: AtomicU64,
    /// Connections closed to make room for a new one.
    pub evicted: AtomicU64,
    /// Connections open now.
    pub open: AtomicUsize,
}

/// Accept connections on `listener` until `stop` fires, serving `app` on each within `limits`.
/// Public so that every in-process HTTP server of the harness (the load calibration's trivial
/// target too) runs in the same bounded shell.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: ServerLimits,
    stats: Arc<ConnStats>,
    mut stop: oneshot::Receiver<()>,
) {
    let max = limits.max_connections.max(1);
    let permits = Arc::new(Semaphore::new(max));
    let slots = Arc::new(Slots::default());
    let started = tokio::time::Instant::now();
    let mut conns = tokio::task::JoinSet::new();
    loop {
        while conns.try_join_next().is_some() {}
        let stream = tokio::select! {
            r = listener.accept() => match r {
                Ok((s, _)) => s,
                Err(_) => {
                    // EMFILE and the like: let connections end, then accept again.
                    tokio::select! {
                        _ = tokio::time::sleep(Duration::from_millis(50)) => continue,
                        _ = &mut stop => break,
                    }
                }
            },
            _ = &mut stop => break,
        };
        stats.accepted.fetch_add(1, Ordering::Relaxed);
        let permit = match permits.clone().try_acquire_owned() {
            Ok(p) => p,
            Err(_) => {
                if slots.evict_idle() {
                    stats.evicted.fetch_add(1, Ordering::Relaxed);
                }
                // The evicted connection ends at once; with none idle, wait for one to end.
                tokio::select! {
                    p = permits.clone().acquire_owned() => match p {
                        Ok(p) => p,
                        Err(_) => break,
                    },
                    _ = &mut stop => break,
                }
            }
        };
        let _ = stream.set_nodelay(true);
        let now_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        let slot = Arc::new(Slot {
            busy: AtomicUsize::new(0),
            idle_since: AtomicU64::new(now_ms),
            close: Notify::new(),
        });
        let id = slots.next.fetch_add(1, Ordering::Relaxed);
        slots.lock().insert(id, slot.clone());
        stats.open.fetch_add(1, Ordering::Relaxed);
        let (app, slots, stats) = (app.clone(), slots.clone(), stats.clone());
        conns.spawn(async move {
            let s = slot.clone();
            let app = hyper_util::service::TowerToHyperService::new(app);
            let svc =
                hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                    let s = s.clone();
                    s.busy.fetch_add(1, Ordering::AcqRel);
                    let fut = hyper::service::Service::call(&app, req);
                    async move {
                        let res: Result<Response, Infallible> = fut.await;
                        let now_ms =
                            u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
                        s.idle_since.store(now_ms, Ordering::Release);
                        s.busy.fetch_sub(1, Ordering::AcqRel);
                        res
                    }
                });
            let mut b = hyper::server::conn::http1::Builder::new();
            b.timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(limits.header_read_timeout)
                .max_buf_size(limits.max_header_bytes.max(8192));
            let conn = b.serve_connection(hyper_util::rt::TokioIo::new(stream), svc);
            tokio::select! {
                _ = conn => {}
                _ = slot.close.notified() => {}
            }
            slots.lock().remove(&id);
            stats.open.fetch_sub(1, Ordering::Relaxed);
            drop(permit);
        });
    }
    conns.shutdown().await;
}

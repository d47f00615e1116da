//! Write coalescing for an AMQP connection (the broker's accepted connections and the mock
//! signing server's): fe2o3-amqp flushes its transport after every frame (`SinkExt::send`), so
//! each frame costs one `send`/`writev` system call and, over TLS, one record. [`CoalescedWrites`] hands written bytes to a writer task of its own and answers
//! `poll_flush` as soon as they are handed over; the writer takes everything queued at once, so
//! the frames produced while it was busy (a pipelined burst of replies, their dispositions) go
//! out in one write. Nothing is held back waiting for more: the writer runs as soon as bytes
//! are queued, so a lone frame leaves at once.
//!
//! Bounds: at most [`MAX_QUEUED`] bytes wait (a writer beyond that waits for the socket, as it
//! would without this layer). After the stream is dropped or shut down the writer drains what is
//! queued within [`DRAIN_BOUND`] and closes the write side; a write error is reported to the next
//! write, flush or shutdown.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf, ReadHalf, WriteHalf};
use tokio::sync::Notify;

/// Most bytes queued for the writer task; a write beyond it waits until the writer has taken
/// the queue.
pub const MAX_QUEUED: usize = 256 * 1024;

/// How long the writer goes on draining after the stream was dropped or shut down.
pub const DRAIN_BOUND: Duration = Duration::from_secs(5);

#[derive(Default)]
struct State {
    queued: Vec<u8>,
    /// The first write error (kind and text), reported to every later call.
    failed: Option<(io::ErrorKind, String)>,
    /// The stream was shut down or dropped: drain, close the write side, stop.
    closing: bool,
    /// The writer task has stopped (drained and shut down, or failed).
    done: bool,
    /// A writer of the stream waiting for room, or a shutdown waiting for the drain.
    waiting: Option<Waker>,
}

struct Shared {
    state: Mutex<State>,
    /// Bytes were queued, or the stream is closing.
    work: Notify,
    /// The stream was dropped or shut down (starts the drain deadline of a blocked write).
    closed: Notify,
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding this lock cannot leave the state half-updated in a way that
        // matters (every update is one assignment); carry on with it.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A stream whose writes are coalesced by a writer task (see the module doc). Reads go straight
/// to the stream. Must be created inside a tokio runtime.
pub struct CoalescedWrites<S> {
    rd: ReadHalf<S>,
    shared: Arc<Shared>,
}

impl<S: AsyncRead + AsyncWrite + Send + 'static> CoalescedWrites<S> {
    pub fn new(stream: S) -> Self {
        let (rd, wr) = tokio::io::split(stream);
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            work: Notify::new(),
            closed: Notify::new(),
        });
        tokio::spawn(writer(wr, shared.clone()));
        CoalescedWrites { rd, shared }
    }
}

impl<S> std::fmt::Debug for CoalescedWrites<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = self.shared.lock();
        f.debug_struct("CoalescedWrites")
            .field("queued", &s.queued.len())
            .field("closing", &s.closing)
            .field("failed", &s.failed)
            .finish_non_exhaustive()
    }
}

fn failed(f: &(io::ErrorKind, String)) -> io::Error {
    io::Error::new(f.0, f.1.clone())
}

/// One step of the writer's I/O.
#[derive(Clone, Copy)]
enum Op<'a> {
    Write(&'a [u8]),
    Flush,
    Shutdown,
}

/// Run `op` (each cancel-safe: nothing done when cancelled while pending), abandoned at the
/// drain deadline; the first close notice (drop or shutdown) while waiting on a peer that does
/// not read starts that deadline. Returns the bytes written (0 for flush and shutdown).
async fn bounded<S: AsyncRead + AsyncWrite>(
    wr: &mut WriteHalf<S>,
    op: Op<'_>,
    shared: &Shared,
    drain_deadline: &mut Option<tokio::time::Instant>,
) -> io::Result<usize> {
    loop {
        let fut = async {
            match op {
                Op::Write(b) => wr.write(b).await,
                Op::Flush => wr.flush().await.map(|()| 0),
                Op::Shutdown => wr.shutdown().await.map(|()| 0),
            }
        };
        match *drain_deadline {
            Some(d) => {
                return tokio::time::timeout_at(d, fut).await.unwrap_or_else(|_| {
                    Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "queued writes not drained in time after close",
                    ))
                });
            }
            None => {
                tokio::select! {
                    r = fut => return r,
                    _ = shared.closed.notified() => {
                        *drain_deadline = Some(tokio::time::Instant::now() + DRAIN_BOUND);
                    }
                }
            }
        }
    }
}

async fn writer<S: AsyncRead + AsyncWrite + Send + 'static>(
    mut wr: WriteHalf<S>,
    shared: Arc<Shared>,
) {
    let mut chunk = Vec::new();
    let mut drain_deadline: Option<tokio::time::Instant> = None;
    let result: io::Result<()> = async {
        loop {
            let closing = {
                let mut s = shared.lock();
                std::mem::swap(&mut s.queued, &mut chunk);
                // Room again for a writer that waited (or a shutdown that waits for the drain).
                if let Some(w) = s.waiting.take() {
                    w.wake();
                }
                s.closing
            };
            if closing && drain_deadline.is_none() {
                drain_deadline = Some(tokio::time::Instant::now() + DRAIN_BOUND);
            }
            if chunk.is_empty() {
                if closing {
                    return bounded(&mut wr, Op::Shutdown, &shared, &mut drain_deadline)
                        .await
                        .map(|_| ());
                }
                shared.work.notified().await;
                continue;
            }
            let mut pos = 0;
            while pos < chunk.len() {
                let rest = &chunk[pos..];
                let n = bounded(&mut wr, Op::Write(rest), &shared, &mut drain_deadline).await?;
                if n == 0 {
                    return Err(io::ErrorKind::WriteZero.into());
                }
                pos += n;
            }
            // TLS: push out what the session still holds.
            bounded(&mut wr, Op::Flush, &shared, &mut drain_deadline).await?;
            chunk.clear();
        }
    }
    .await;
    let mut s = shared.lock();
    if let Err(e) = result {
        s.failed = Some((e.kind(), e.to_string()));
    }
    s.done = true;
    s.queued = Vec::new();
    if let Some(w) = s.waiting.take() {
        w.wake();
    }
}

impl<S: AsyncRead + AsyncWrite> AsyncRead for CoalescedWrites<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().rd).poll_read(cx, buf)
    }
}

impl<S: AsyncRead + AsyncWrite> AsyncWrite for CoalescedWrites<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let mut s = self.shared.lock();
        if let Some(f) = &s.failed {
            return Poll::Ready(Err(failed(f)));
        }
        if s.closing || s.done {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "write after shutdown",
            )));
        }
        if s.queued.len() >= MAX_QUEUED {
            s.waiting = Some(cx.waker().clone());
            return Poll::Pending;
        }
        let n = data.len().min(MAX_QUEUED - s.queued.len());
        let was_empty = s.queued.is_empty();
        s.queued.extend_from_slice(&data[..n]);
        drop(s);
        if was_empty {
            self.shared.work.notify_one();
        }
        Poll::Ready(Ok(n))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        // Handed over: the writer task writes it without waiting for anything else.
        match &self.shared.lock().failed {
            Some(f) => Poll::Ready(Err(failed(f))),
            None => Poll::Ready(Ok(())),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut s = self.shared.lock();
        if s.done {
            return match &s.failed {
                Some(f) => Poll::Ready(Err(failed(f))),
                None => Poll::Ready(Ok(())),
            };
        }
        let first = !s.closing;
        s.closing = true;
        s.waiting = Some(cx.waker().clone());
        drop(s);
        if first {
            self.shared.work.notify_one();
            self.shared.closed.notify_one();
        }
        Poll::Pending
    }
}

impl<S> Drop for CoalescedWrites<S> {
    fn drop(&mut self) {
        // The writer drains what is queued (bounded), closes the write side and stops.
        let first = !std::mem::replace(&mut self.shared.lock().closing, true);
        if first {
            self.shared.work.notify_one();
            self.shared.closed.notify_one();
        }
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    /// Bytes written in many small writes, each flushed, arrive whole and in order; shutdown
    /// closes the write side after them; reads pass through.
    #[tokio::test]
    async fn writes_arrive_in_order_and_shutdown_closes() {
        let (a, mut b) = tokio::io::duplex(1024);
        let mut c = CoalescedWrites::new(a);
        let mut expected = Vec::new();
        for i in 0..2000u32 {
            let frame = i.to_be_bytes();
            c.write_all(&frame).await.unwrap();
            c.flush().await.unwrap();
            expected.extend_from_slice(&frame);
        }
        let reader = tokio::spawn(async move {
            let mut got = Vec::new();
            b.read_to_end(&mut got).await.unwrap();
            (got, b)
        });
        c.shutdown().await.unwrap();
        let (got, mut b) = reader.await.unwrap();
        assert_eq!(got, expected);
        // The read side still works: the peer's bytes come through.
        b.write_all(b"hello").await.unwrap();
        let mut buf = [0u8; 5];
        c.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"hello");
    }

    /// Dropping the stream still delivers what was queued, then EOF.
    #[tokio::test]
    async fn drop_drains_then_closes() {
        let (a, mut b) = tokio::io::duplex(64);
        let mut c = CoalescedWrites::new(a);
        c.write_all(&[7u8; 10_000]).await.unwrap();
        drop(c);
        let mut got = Vec::new();
        b.read_to_end(&mut got).await.unwrap();
        assert_eq!(got, vec![7u8; 10_000]);
    }

    /// A peer that never reads: writes stop at the bound instead of queueing without end, and
    /// after a drop the writer gives up within DRAIN_BOUND (virtual time).
    #[tokio::test(start_paused = true)]
    async fn queue_is_bounded_and_drain_gives_up() {
        let (a, b) = tokio::io::duplex(64);
        let mut c = CoalescedWrites::new(a);
        let data = vec![1u8; 4 * MAX_QUEUED];
        let r = tokio::time::timeout(Duration::from_secs(1), c.write_all(&data)).await;
        assert!(
            r.is_err(),
            "a peer that never reads must make the writer wait"
        );
        let shared = c.shared.clone();
        assert!(shared.lock().queued.len() <= MAX_QUEUED);
        drop(c);
        tokio::time::sleep(DRAIN_BOUND + Duration::from_secs(1)).await;
        assert!(shared.lock().done, "the writer stops after DRAIN_BOUND");
        drop(b);
    }

    /// A write error reaches the writer of the stream.
    #[tokio::test]
    async fn write_errors_are_reported() {
        let (a, b) = tokio::io::duplex(64);
        drop(b);
        let mut c = CoalescedWrites::new(a);
        let mut err = None;
        for _ in 0..100 {
            if let Err(e) = c.write_all(&[0u8; 1024]).await {
                err = Some(e);
                break;
            }
            if let Err(e) = c.flush().await {
                err = Some(e);
                break;
            }
            tokio::task::yield_now().await;
        }
        assert!(err.is_some(), "a broken pipe is reported");
    }
}

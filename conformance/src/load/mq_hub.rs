//! `sigharness load mq-hub`: puts on the open-loop schedule into `Q` queues, one long-polling
//! taker per queue, and every message judged end to end.
//!
//! What a right outcome is (RFC-130): a put answered 200 ("Operation successfully added the
//! message to the hashDID queue", §2.4) is taken exactly once ("Read and delete a message from
//! the MQ. The message is deleted from the MQ prior to serving it to the client", §5), from the
//! queue it was put into, with the body that was put. An arrival's latency runs from its
//! intended send time to the moment its message was taken (delivery, not just the put's reply).
//!
//! Wrong: a put refused with 403 although its token is valid (§2.4), a message taken with
//! another body or from another queue, a message taken twice, a message taken whose put was
//! refused, a message nobody put, and (after the drain) an acknowledged message never taken
//! (lost). Errors (not judged): timeouts, transport failures, and 500 on put (§2.4 lists 500;
//! the reference server answers it for a full queue).
//!
//! Identities: one producer DID with a put token per queue, one owner DID per queue (taker),
//! fresh `did:key` identities each run, tokens by our holder proof or `--set token_cmd` (the
//! `mq-hub` suite's `Ctx`). Bodies: `sigharness-load <run> <seq> <queue> <random>`.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mq_hub::{MqClient, MqHubError};
use tokio::sync::oneshot;
use tokio::task::JoinSet;

use super::engine::{Outcome, Workload};
use crate::runner::BoxFuture;
use crate::suites::http_sig_verifier::random_token;
use crate::suites::mq_hub::Ctx;
use crate::suites::mq_hub::support::{owner, token_for};

/// The kind of every arrival.
pub const KIND: &str = "put-then-take";
const EXPECT: &str =
    "an acknowledged put (200, RFC-130 §2.4) is taken (§5) from its queue with its body";

/// The kinds of what is found after the fact (no arrival of their own: `sent` stays 0), one per
/// departure, each with the sentence it departs from.
pub const FINDINGS: &[(&str, &str)] = &[
    (
        "taken-twice",
        "no message is taken twice: \"The message is deleted from the MQ prior to serving it to the client\" (RFC-130 §5)",
    ),
    (
        "never-taken",
        "every acknowledged put is taken: 200 = \"Operation successfully added the message to the hashDID queue\" (RFC-130 §2.4)",
    ),
    (
        "taken-unacknowledged",
        "a put that was not answered 200 is not delivered (RFC-130 §2.4: only 200 adds the message)",
    ),
    (
        "stranger",
        "a queue delivers only messages put into it (RFC-130 §2: the hashDID is the queue channel of the receiver)",
    ),
];
const TAKEN_TWICE: usize = 1;
const NEVER_TAKEN: usize = 2;
const UNACKNOWLEDGED: usize = 3;
const STRANGER: usize = 4;

/// How a message came back.
enum Delivery {
    Taken,
    /// Taken with another body or from another queue: what was seen.
    Mangled(String),
}

struct Pending {
    body: String,
    queue: usize,
    tx: Option<oneshot::Sender<Delivery>>,
}

/// What the takers saw that no arrival is waiting for (found after the fact: duplicates,
/// deliveries of refused puts, strangers).
#[derive(Default)]
struct Book {
    pending: HashMap<u64, Pending>,
    /// Sequence numbers taken once already.
    taken: HashSet<u64>,
    /// Puts that were refused or failed (a later delivery of them is a finding).
    refused: HashSet<u64>,
    /// (kind index, seq, summary)
    findings: Vec<(usize, u64, String)>,
}

struct Queue {
    owner: MqClient,
    owner_token: String,
    /// The producer's put token for this queue.
    put_token: String,
}

/// The workload.
pub struct HubLoad {
    ctx: Arc<Ctx>,
    producer: MqClient,
    queues: Vec<Queue>,
    run: String,
    book: Arc<Mutex<Book>>,
    stop: Arc<AtomicBool>,
    takers: Mutex<JoinSet<()>>,
    /// How long the takers may still look for acknowledged messages after the drain.
    grace: Duration,
}

fn lock(b: &Mutex<Book>) -> std::sync::MutexGuard<'_, Book> {
    b.lock().unwrap_or_else(|p| p.into_inner())
}

impl HubLoad {
    /// Identities and tokens for `queues` queues, and a taker per queue.
    pub async fn start(
        ctx: Arc<Ctx>,
        queues: usize,
        grace: Duration,
    ) -> Result<Arc<HubLoad>, String> {
        let producer = ctx.client();
        let mut qs = Vec::with_capacity(queues);
        for i in 0..queues {
            let (cl, t) = owner(&ctx)
                .await
                .map_err(|e| format!("owner token for queue {i}: {e:?}"))?;
            let put_token = token_for(&ctx, &producer, &cl.hash_did())
                .await
                .map_err(|e| format!("put token for queue {i}: {e:?}"))?;
            qs.push(Queue {
                owner: cl,
                owner_token: t,
                put_token,
            });
        }
        let load = Arc::new(HubLoad {
            ctx,
            producer,
            queues: qs,
            run: random_token(6),
            book: Arc::default(),
            stop: Arc::default(),
            takers: Mutex::new(JoinSet::new()),
            grace,
        });
        for i in 0..queues {
            let l = load.clone();
            load.takers
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .spawn(async move { l.take_loop(i).await });
        }
        Ok(load)
    }

    fn body(&self, seq: u64, queue: usize) -> String {
        format!(
            "sigharness-load {} {seq} {queue} {}",
            self.run,
            random_token(12)
        )
    }

    /// Take from queue `i` until stopped.
    async fn take_loop(&self, i: usize) {
        let q = &self.queues[i];
        while !self.stop.load(Ordering::Relaxed) {
            match q.owner.take(&self.ctx.domain, &q.owner_token, None).await {
                Ok(Some(m)) => self.delivered(i, &m.message),
                Ok(None) => {}
                // Errors of takes are not the arrivals' (those time out if their message never
                // comes); back off a little so a failing hub is not hammered.
                Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
            }
        }
    }

    /// A message came out of queue `queue`.
    fn delivered(&self, queue: usize, message: &str) {
        let mut parts = message.split(' ');
        let seq = match (parts.next(), parts.next(), parts.next()) {
            (Some("sigharness-load"), Some(run), Some(seq)) if run == self.run => {
                seq.parse::<u64>().ok()
            }
            _ => None,
        };
        let b = &mut *lock(&self.book);
        let Some(seq) = seq else {
            b.findings.push((
                STRANGER,
                u64::MAX,
                format!(
                    "queue {queue} delivered a message this run never put: {:?}",
                    truncate(message)
                ),
            ));
            return;
        };
        if let Some(mut p) = b.pending.remove(&seq) {
            b.taken.insert(seq);
            let d = if p.body != message {
                Delivery::Mangled(format!(
                    "taken with another body: put {:?}, taken {:?}",
                    truncate(&p.body),
                    truncate(message)
                ))
            } else if p.queue != queue {
                Delivery::Mangled(format!(
                    "put into queue {} but taken from queue {queue}",
                    p.queue
                ))
            } else {
                Delivery::Taken
            };
            if let Some(tx) = p.tx.take() {
                let _ = tx.send(d);
            }
        } else if b.taken.contains(&seq) {
            b.findings.push((
                TAKEN_TWICE,
                seq,
                format!("message {seq} taken twice (the second time from queue {queue})"),
            ));
        } else if b.refused.contains(&seq) {
            b.findings.push((
                UNACKNOWLEDGED,
                seq,
                format!("message {seq} was taken from queue {queue} although its put was not acknowledged"),
            ));
        } else {
            b.findings.push((
                STRANGER,
                seq,
                format!("message {seq} taken from queue {queue} before its put was sent"),
            ));
        }
    }

    /// After the drain: stop the takers, and report what was never taken and the findings.
    pub async fn finish(&self, grace: Duration) -> Vec<(usize, u64, String)> {
        // Let the takers collect what is still on its way, within `grace`.
        let deadline = tokio::time::Instant::now() + grace;
        while tokio::time::Instant::now() < deadline {
            let waiting = lock(&self.book).pending.values().any(|p| p.tx.is_none());
            if !waiting {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        self.stop.store(true, Ordering::Relaxed);
        let mut takers =
            std::mem::take(&mut *self.takers.lock().unwrap_or_else(|p| p.into_inner()));
        takers.abort_all();
        while takers.join_next().await.is_some() {}
        let b = &mut *lock(&self.book);
        let mut out = std::mem::take(&mut b.findings);
        let mut lost: Vec<u64> = b
            .pending
            .iter()
            .filter(|(_, p)| p.tx.is_none())
            .map(|(s, _)| *s)
            .collect();
        lost.sort_unstable();
        for seq in lost {
            out.push((
                NEVER_TAKEN,
                seq,
                format!("message {seq}: put acknowledged (200) but never taken (lost)"),
            ));
        }
        out
    }

    async fn put_then_take(&self, seq: u64) -> Outcome {
        let qi = (seq % self.queues.len() as u64) as usize;
        let q = &self.queues[qi];
        let body = self.body(seq, qi);
        let (tx, rx) = oneshot::channel();
        // Registered before the put is sent, so a take that beats the put's reply finds it.
        lock(&self.book).pending.insert(
            seq,
            Pending {
                body: body.clone(),
                queue: qi,
                tx: Some(tx),
            },
        );
        let put = self
            .producer
            .put(&self.ctx.domain, &q.owner.hash_did(), &q.put_token, body)
            .await;
        if let Err(e) = put {
            let b = &mut *lock(&self.book);
            b.pending.remove(&seq);
            b.refused.insert(seq);
            return match e {
                MqHubError::Forbidden(why) => Outcome::Wrong {
                    summary: format!(
                        "put refused with 403 although its token is valid (RFC-130 §2.4): {}",
                        truncate(&why)
                    ),
                    detail: vec![],
                },
                MqHubError::Timeout(_) => Outcome::Error {
                    kind: "timeout".into(),
                },
                MqHubError::Transport(_) => Outcome::Error {
                    kind: "transport".into(),
                },
                MqHubError::Status { status, .. } => Outcome::Error {
                    kind: format!("put HTTP {status}"),
                },
                other => Outcome::Error {
                    kind: format!("put: {}", error_kind(&other)),
                },
            };
        }
        let guard = AckedGuard {
            book: &self.book,
            seq,
        };
        let d = rx.await;
        std::mem::forget(guard);
        match d {
            Ok(Delivery::Taken) => Outcome::Right,
            Ok(Delivery::Mangled(why)) => Outcome::Wrong {
                summary: why,
                detail: vec![],
            },
            Err(_) => Outcome::Error {
                kind: "harness: delivery channel closed".into(),
            },
        }
    }
}

/// Marks an acknowledged put whose delivery is no longer awaited (its arrival timed out): the
/// message is still expected, and `finish` reports it lost if it never comes.
struct AckedGuard<'a> {
    book: &'a Mutex<Book>,
    seq: u64,
}

impl Drop for AckedGuard<'_> {
    fn drop(&mut self) {
        if let Some(p) = lock(self.book).pending.get_mut(&self.seq) {
            p.tx = None;
        }
    }
}

fn error_kind(e: &MqHubError) -> &'static str {
    match e {
        MqHubError::MqDisabled(_) => "405 MQ disabled",
        MqHubError::TooLarge { .. } => "too large",
        MqHubError::QueueFull { .. } => "queue full",
        MqHubError::BadRequest(_) => "400",
        MqHubError::NoSuchMessage(_) => "404",
        MqHubError::MalformedReply(_) => "malformed reply",
        _ => "other",
    }
}

fn truncate(s: &str) -> String {
    crate::suites::mq_hub::support::truncate(s)
}

impl Workload for HubLoad {
    fn kinds(&self) -> Vec<(String, String)> {
        std::iter::once((KIND, EXPECT))
            .chain(FINDINGS.iter().copied())
            .map(|(k, e)| (k.to_string(), e.to_string()))
            .collect()
    }

    fn kind_of(&self, _seq: u64) -> usize {
        0
    }

    fn call(&self, seq: u64, _want_detail: bool) -> BoxFuture<'_, Outcome> {
        Box::pin(self.put_then_take(seq))
    }

    fn after_drain(&self) -> BoxFuture<'_, Vec<(usize, u64, String)>> {
        Box::pin(self.finish(self.grace))
    }
}

/// The calibration's workload: the same puts (the same MQ client, bodies and concurrency)
/// against the trivial target, which answers 200 at once. The takers' share of the generator's
/// work is not in this ceiling.
pub struct PutOnly {
    client: MqClient,
    domain: String,
    queue: String,
}

impl PutOnly {
    pub fn new(trivial_url: &str, ctx: &Ctx) -> Result<PutOnly, String> {
        let key = mq_hub::DidKeyPair::generate(mq_hub::DidMethod::Key)
            .map_err(|e| format!("calibration identity: {e}"))?;
        let queue = key.hash_did();
        let client = MqClient::new(
            trivial_url,
            ctx.profile,
            Arc::new(key),
            Duration::from_secs(10),
        )
        .map_err(|e| format!("calibration client: {e}"))?;
        Ok(PutOnly {
            client,
            domain: ctx.domain.clone(),
            queue,
        })
    }
}

impl Workload for PutOnly {
    fn kinds(&self) -> Vec<(String, String)> {
        vec![(KIND.into(), "200".into())]
    }

    fn kind_of(&self, _seq: u64) -> usize {
        0
    }

    fn call(&self, seq: u64, _want_detail: bool) -> BoxFuture<'_, Outcome> {
        Box::pin(async move {
            let body = format!("sigharness-load calibration {seq} 0 {}", random_token(12));
            match self
                .client
                .put(&self.domain, &self.queue, "calibration", body)
                .await
            {
                Ok(()) => Outcome::Right,
                Err(e) => Outcome::Error {
                    kind: error_kind(&e).into(),
                },
            }
        })
    }
}

//! `sigharness load mq-hub`: puts on the open-loop schedule into `Q` queues, one long-polling
//! taker per queue, and every message judged end to end.
//!
//! What a right outcome is (RFC-130): a put answered 200 ("Operation successfully added the
//! message to the hashDID queue", §2.4) is taken exactly once ("Read and delete a message from
//! the MQ. The message is deleted from the MQ prior to serving it to the client", §5), from the
//! queue it was put into, with the body that was put. An arrival's latency runs from its
//! intended send time to the moment its message was taken (delivery, not just the put's reply).
//!
//! Wrong (the arrival's own outcome): a put refused with 403 although its token is valid (§2.4;
//! tokens are refreshed every [`TOKEN_REFRESH`]), a message taken with another body or from
//! another queue. Errors (not judged): timeouts, transport failures, and other refusals of a
//! put (§2.4 lists 500; the reference server answers it for a full queue).
//!
//! Findings (after the fact, counted apart from the arrivals, each its own kind quoting
//! RFC-130): a message taken twice; an acknowledged message never taken although its queue was
//! drained (answered 204) after the run (lost); a message delivered although its put was
//! refused; a message nobody put; a mangled message whose arrival had stopped waiting; a take
//! answered 200 with a body that is not a message. Notes (not failing): an acknowledged message
//! taken after its arrival timed out, a message delivered whose put got no answer (timeout), a
//! queue that could not be drained after the run (its unseen messages are then not called
//! lost), take errors by kind.
//!
//! After the run: the takers look for the acknowledged messages still missing for up to
//! `grace`; then each queue with one missing is drained (taken until it answers 204, within
//! `grace`), so a slow taker is not mistaken for a lossy hub.
//!
//! Identities: one producer DID with a put token per queue, one owner DID per queue (taker),
//! fresh `did:key` identities each run, tokens by our holder proof or `--set token_cmd` (the
//! `mq-hub` suite's `Ctx`). Bodies: `sigharness-load <run> <seq> <queue> <random>`. Memory: the
//! book keeps one entry per message taken (for taken-twice), about 40 bytes each.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
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

/// How often the tokens are asked for again (a token the hub has let expire would make a valid
/// put look refused).
pub const TOKEN_REFRESH: Duration = Duration::from_secs(300);

/// The kinds of what is found after the fact (no arrival of their own: `sent` stays 0), one per
/// departure, each with the sentence it departs from.
pub const FINDINGS: &[(&str, &str)] = &[
    (
        "taken-twice",
        "no message is taken twice: \"The message is deleted from the MQ prior to serving it to the client\" (RFC-130 §5)",
    ),
    (
        "never-taken",
        "every acknowledged put is taken: 200 = \"Operation successfully added the message to the hashDID queue\" (RFC-130 §2.4); found missing when its queue, drained after the run, answered 204",
    ),
    (
        "taken-unacknowledged",
        "a put that was refused is not delivered (RFC-130 §2.4: only 200 adds the message)",
    ),
    (
        "stranger",
        "a queue delivers only messages put into it (RFC-130 §2: the hashDID is the queue channel of the receiver)",
    ),
    (
        "mangled",
        "a message is taken with its body, from its queue (RFC-130 §5), also when its arrival had stopped waiting",
    ),
    (
        "malformed-take",
        "a take answered 200 returns the message (RFC-130 §5.3: 200 \"the message is returned to the client\", §5.3.1 {\"message\": ...})",
    ),
];
const TAKEN_TWICE: usize = 1;
const NEVER_TAKEN: usize = 2;
const UNACKNOWLEDGED: usize = 3;
const STRANGER: usize = 4;
const MANGLED: usize = 5;
const MALFORMED_TAKE: usize = 6;

/// How a message came back.
enum Delivery {
    Taken,
    /// Taken with another body or from another queue: what was seen.
    Mangled(String),
}

struct Pending {
    body: String,
    queue: usize,
    /// The arrival waiting for its delivery; None once it stopped waiting.
    tx: Option<oneshot::Sender<Delivery>>,
    /// The put was answered 200.
    acked: bool,
}

#[derive(Default)]
struct Book {
    pending: HashMap<u64, Pending>,
    /// Sequence numbers taken once already.
    taken: HashSet<u64>,
    /// Puts refused by the hub (a later delivery of them is a finding).
    refused: HashSet<u64>,
    /// Puts without an answer (timeout, transport): a later delivery is a note.
    unknown: HashSet<u64>,
    /// (kind index, seq, summary)
    findings: Vec<(usize, u64, String)>,
    notes: BTreeMap<String, u64>,
}

impl Book {
    fn note(&mut self, what: impl Into<String>) {
        *self.notes.entry(what.into()).or_default() += 1;
    }
}

struct Queue {
    owner: MqClient,
    /// (owner token, the producer's put token for this queue), refreshed.
    tokens: RwLock<(String, String)>,
}

impl Queue {
    fn owner_token(&self) -> String {
        self.tokens
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .0
            .clone()
    }
    fn put_token(&self) -> String {
        self.tokens
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .1
            .clone()
    }
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
    /// How long the takers may still look for acknowledged messages after the drain, and how
    /// long a queue's drain may take.
    grace: Duration,
}

fn lock(b: &Mutex<Book>) -> std::sync::MutexGuard<'_, Book> {
    b.lock().unwrap_or_else(|p| p.into_inner())
}

impl HubLoad {
    async fn tokens(
        ctx: &Ctx,
        producer: &MqClient,
        owner: &MqClient,
    ) -> Result<(String, String), String> {
        let own = token_for(ctx, owner, &owner.hash_did())
            .await
            .map_err(|e| format!("owner token: {e:?}"))?;
        let put = token_for(ctx, producer, &owner.hash_did())
            .await
            .map_err(|e| format!("put token: {e:?}"))?;
        Ok((own, put))
    }

    /// Identities and tokens for `queues` queues, a taker per queue, and the token refresher.
    pub async fn start(
        ctx: Arc<Ctx>,
        queues: usize,
        grace: Duration,
    ) -> Result<Arc<HubLoad>, String> {
        let producer = ctx.client();
        let mut qs = Vec::with_capacity(queues);
        for i in 0..queues {
            let (cl, _) = owner(&ctx)
                .await
                .map_err(|e| format!("owner token for queue {i}: {e:?}"))?;
            let tokens = Self::tokens(&ctx, &producer, &cl)
                .await
                .map_err(|e| format!("queue {i}: {e}"))?;
            qs.push(Queue {
                owner: cl,
                tokens: RwLock::new(tokens),
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
        let mut takers = load.takers.lock().unwrap_or_else(|p| p.into_inner());
        for i in 0..queues {
            let l = load.clone();
            takers.spawn(async move { l.take_loop(i).await });
        }
        let l = load.clone();
        takers.spawn(async move { l.refresh_loop().await });
        drop(takers);
        Ok(load)
    }

    /// Ask for every token again each [`TOKEN_REFRESH`] (a failure keeps the old tokens and is
    /// noted).
    async fn refresh_loop(&self) {
        loop {
            tokio::time::sleep(TOKEN_REFRESH).await;
            for q in &self.queues {
                match Self::tokens(&self.ctx, &self.producer, &q.owner).await {
                    Ok(t) => *q.tokens.write().unwrap_or_else(|p| p.into_inner()) = t,
                    Err(e) => {
                        lock(&self.book).note(format!("token refresh failed: {}", first_words(&e)))
                    }
                }
            }
        }
    }

    fn body(&self, seq: u64, queue: usize) -> String {
        format!(
            "sigharness-load {} {seq} {queue} {}",
            self.run,
            random_token(12)
        )
    }

    /// One take from queue `i`: whether it answered 204 (empty), and whether it failed.
    async fn take_once(&self, i: usize) -> Result<bool, ()> {
        let q = &self.queues[i];
        match q.owner.take(&self.ctx.domain, &q.owner_token(), None).await {
            Ok(Some(m)) => {
                self.delivered(i, &m.message);
                Ok(false)
            }
            Ok(None) => Ok(true),
            Err(MqHubError::MalformedReply(why)) => {
                lock(&self.book).findings.push((
                    MALFORMED_TAKE,
                    u64::MAX,
                    format!(
                        "queue {i}: a take answered 200 without a message: {}",
                        truncate(&why)
                    ),
                ));
                Err(())
            }
            Err(e) => {
                lock(&self.book).note(format!("take error: {}", take_error(&e)));
                Err(())
            }
        }
    }

    /// Take from queue `i` until stopped.
    async fn take_loop(&self, i: usize) {
        while !self.stop.load(Ordering::Relaxed) {
            let started = tokio::time::Instant::now();
            match self.take_once(i).await {
                // A hub that answers an empty queue at once (no long poll) is not polled in a
                // busy loop.
                Ok(true) if started.elapsed() < Duration::from_millis(10) => {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                Ok(_) => {}
                // Take errors are noted, not the arrivals' (those time out if their message never
                // comes); back off a little so a failing hub is not hammered.
                Err(()) => tokio::time::sleep(Duration::from_millis(20)).await,
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
            let unsent = match p.tx.take() {
                Some(tx) => tx.send(d).err(),
                None => Some(d),
            };
            // Nobody waits for it any more: judged here.
            match unsent {
                None => {}
                Some(Delivery::Mangled(why)) => b.findings.push((
                    MANGLED,
                    seq,
                    format!("message {seq} (its arrival had stopped waiting): {why}"),
                )),
                Some(Delivery::Taken) if p.acked => {
                    b.note("an acknowledged message taken after its arrival timed out")
                }
                Some(Delivery::Taken) => b.note("a message taken whose put got no answer"),
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
                format!("message {seq} was taken from queue {queue} although its put was refused"),
            ));
        } else if b.unknown.remove(&seq) {
            b.taken.insert(seq);
            b.note("a message taken whose put got no answer");
        } else {
            b.findings.push((
                STRANGER,
                seq,
                format!("message {seq} taken from queue {queue} before its put was sent"),
            ));
        }
    }

    /// The acknowledged messages nobody waits for and nobody has taken, by queue.
    fn missing(&self) -> BTreeMap<usize, Vec<u64>> {
        let b = lock(&self.book);
        let mut out: BTreeMap<usize, Vec<u64>> = BTreeMap::new();
        for (seq, p) in &b.pending {
            if p.acked && p.tx.is_none() {
                out.entry(p.queue).or_default().push(*seq);
            }
        }
        out
    }

    /// After the drain: look for the missing messages, drain their queues, stop the takers,
    /// report what is lost and the findings.
    pub async fn finish(&self, grace: Duration) -> Vec<(usize, u64, String)> {
        let deadline = tokio::time::Instant::now() + grace;
        while tokio::time::Instant::now() < deadline && !self.missing().is_empty() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        self.stop.store(true, Ordering::Relaxed);
        let mut takers =
            std::mem::take(&mut *self.takers.lock().unwrap_or_else(|p| p.into_inner()));
        takers.abort_all();
        while takers.join_next().await.is_some() {}
        // Drain each queue still missing a message: take until it answers 204, within grace.
        let missing = self.missing();
        let drained: Vec<(usize, bool)> =
            futures_util::future::join_all(missing.keys().map(|&q| async move {
                let until = tokio::time::Instant::now() + grace;
                loop {
                    match tokio::time::timeout_at(until, self.take_once(q)).await {
                        Ok(Ok(true)) => return (q, true),
                        Ok(Ok(false)) => continue,
                        Ok(Err(())) | Err(_) => return (q, false),
                    }
                }
            }))
            .await;
        let missing = self.missing();
        let b = &mut *lock(&self.book);
        let mut out = std::mem::take(&mut b.findings);
        for (q, ok) in drained {
            let Some(seqs) = missing.get(&q) else {
                continue;
            };
            let mut seqs = seqs.clone();
            seqs.sort_unstable();
            if ok {
                for seq in seqs {
                    out.push((
                        NEVER_TAKEN,
                        seq,
                        format!("message {seq}: put acknowledged (200) but never taken: queue {q} answered 204 after the run (lost)"),
                    ));
                }
            } else {
                *b.notes
                    .entry(format!("acknowledged messages not seen in a queue that could not be drained within {grace:?} after the run (not called lost)"))
                    .or_default() += seqs.len() as u64;
            }
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
                acked: false,
            },
        );
        // If the arrival is dropped (its timeout) from here on, nobody waits for the message.
        let _guard = Waiting {
            book: &self.book,
            seq,
        };
        let put = self
            .producer
            .put(&self.ctx.domain, &q.owner.hash_did(), &q.put_token(), body)
            .await;
        if let Err(e) = put {
            let b = &mut *lock(&self.book);
            let answered = !matches!(e, MqHubError::Timeout(_) | MqHubError::Transport(_));
            if b.pending.remove(&seq).is_some() {
                if answered {
                    b.refused.insert(seq);
                } else {
                    b.unknown.insert(seq);
                }
            } else if answered && b.taken.contains(&seq) {
                // Taken before the refusal came back.
                b.findings.push((
                    UNACKNOWLEDGED,
                    seq,
                    format!(
                        "message {seq} was taken although its put was refused ({})",
                        take_error(&e)
                    ),
                ));
            }
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
                    kind: format!("put: {}", take_error(&other)),
                },
            };
        }
        if let Some(p) = lock(&self.book).pending.get_mut(&seq) {
            p.acked = true;
        }
        match rx.await {
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

/// Held while an arrival waits: when it is dropped (the arrival ended or timed out), nobody
/// waits for the message any more (a delivery after that is judged by `delivered`); a put
/// abandoned before its answer leaves its message unknown.
struct Waiting<'a> {
    book: &'a Mutex<Book>,
    seq: u64,
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        let b = &mut *lock(self.book);
        let unanswered = match b.pending.get_mut(&self.seq) {
            Some(p) => {
                p.tx = None;
                !p.acked
            }
            None => false,
        };
        if unanswered {
            b.pending.remove(&self.seq);
            b.unknown.insert(self.seq);
        }
    }
}

fn take_error(e: &MqHubError) -> String {
    match e {
        MqHubError::MqDisabled(_) => "405 MQ disabled".into(),
        MqHubError::Forbidden(_) => "403".into(),
        MqHubError::TooLarge { .. } => "too large".into(),
        MqHubError::QueueFull { .. } => "queue full".into(),
        MqHubError::BadRequest(_) => "400".into(),
        MqHubError::NoSuchMessage(_) => "404".into(),
        MqHubError::MalformedReply(_) => "malformed reply".into(),
        MqHubError::Status { status, .. } => format!("HTTP {status}"),
        MqHubError::Timeout(_) => "timeout".into(),
        MqHubError::Transport(_) => "transport".into(),
        _ => "other".into(),
    }
}

fn first_words(e: &str) -> String {
    e.split(':').take(2).collect::<Vec<_>>().join(":")
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

    fn notes(&self) -> BTreeMap<String, u64> {
        lock(&self.book).notes.clone()
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
                    kind: take_error(&e),
                },
            }
        })
    }
}

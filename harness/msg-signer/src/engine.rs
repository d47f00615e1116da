//! The retry engine: the spec's second diagram ("Messaging signer workflow of send and
//! retries") as a sans-IO state machine.
//!
//! Like `quinn-proto`, this module is deterministic, has no networking and reads no clock: the
//! caller passes `now` into every `handle_*` call and drives the outputs:
//! - inputs: [`Engine::handle_reply`], [`Engine::handle_send_outcome`],
//!   [`Engine::handle_timeout`], [`Engine::handle_receiver_error`],
//!   [`Engine::handle_connection_lost`];
//! - outputs: [`Engine::poll_event`] (attach/detach the receiver, diagnostics, finished),
//!   [`Engine::poll_send`] (which request to transmit), [`Engine::poll_timeout`] (when to call
//!   `handle_timeout`).
//!
//! The driver must drain `poll_event` before `poll_send`, so that the receiver of a window is
//! attached before the requests it listens for are sent.
//!
//! # The rules (spec diagram, in order)
//! 1. A send cycle sends every request not yet answered (`send_retries` cycles at most).
//! 2. Each send cycle has up to `retries` receive windows. Each window attaches a receiver on
//!    `topic_listen_to` and ends when no *expected* reply arrived for `timeout`; the receiver is
//!    then detached ([`Event::DetachReceiver`]). A new window listens only for ids still
//!    unanswered.
//! 3. An expected reply (a correlated reply for an unanswered id) resets the window timer.
//! 4. Stray replies (unknown id) and duplicates (id already answered) are ignored and do not
//!    reset the timer; the first reply for an id wins.
//!
//! # Choices the spec leaves open (documented here, relied on by the conformance suite)
//! - **Exact idle timeout.** A window ends exactly `timeout` after its start or after the last
//!   expected reply (the deployed client ticks every `timeout/2`, so 1x..1.5x).
//! - **Early window end.** When no request of the cycle can still be answered in this window
//!   (all answered, or the rest failed to send), the window ends at once instead of idling.
//!   If sends failed, the next send cycle begins at once.
//! - **Malformed replies.** A reply that correlates to an unanswered request but is not
//!   well-formed (`errors` not a list, no result field) answers that request with an error
//!   naming the defect; it is not re-sent (the server did receive it; re-sending could sign
//!   twice). A reply that cannot be correlated (not JSON, no `msg`, no id) is kept: every
//!   request that ends unanswered carries the count and the first such reason in its error, so
//!   a malformed reply is never a silent success.
//! - **Error replies** (`errors` non-empty, or a `signing_status` other than `success`) answer
//!   the request with a failure; they are not re-sent.
//! - **Sends.** A send rejected/released/modified by the broker, or failing on the link, fails
//!   that request for this cycle (it is re-sent in the next cycle, if any). A send not settled
//!   within `timeout` of the cycle start counts as failed. A reply is still accepted for a
//!   request whose send was deemed failed. Outcomes of an earlier cycle's sends are ignored.
//! - **Receiver errors** (e.g. the broker refuses the consumer) end the window at once and are
//!   reported in the error of every request left unanswered; the next window re-attaches.
//! - **Connection loss** fails the unsettled sends of the cycle and ends the window; the driver
//!   reconnects (failover to the next broker) when asked to attach the next receiver.
//! - **Replies after the end** are ignored ([`Event::LateReply`]): results are final once
//!   [`Event::Finished`] is emitted.
//! - `retries` and `send_retries` count cycles, not extra attempts: `retries = 1` means one
//!   window per send cycle (config validation requires both to be at least 1).

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::wire::{IncomingReply, ReplyVerdict};

/// Engine parameters (from the config: `timeout`, `retries`, `send_retries`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EngineConfig {
    /// One receive window; at most [`MAX_TIMEOUT`] (longer values are clamped by
    /// [`Engine::new`], so a deadline `now + timeout` can never overflow).
    pub timeout: Duration,
    pub retries: u32,
    pub send_retries: u32,
}

/// The longest receive window the engine takes: 4 294 967 s (about 49.7 days), the largest
/// whole number of seconds whose milliseconds fit AMQP's `header.ttl` (a `uint`, AMQP 1.0 part
/// 3.2.1). [`crate::config`] refuses larger values; the engine clamps them.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(u32::MAX as u64 / 1000);

/// Identifies one receive window: the n-th window of the m-th send cycle (both from 1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct WindowId {
    pub send_cycle: u32,
    pub receive_cycle: u32,
}

/// A request to put on the wire now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Transmit {
    /// Index into the request list given to [`Engine::new`].
    pub index: usize,
    /// The send cycle this transmission belongs to (pass it back with the outcome).
    pub send_cycle: u32,
}

/// How the broker settled a transfer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SendOutcome {
    Accepted,
    Rejected(String),
    Released,
    Modified,
    /// The link or connection failed before settlement.
    Failed(String),
}

/// The engine's timers: a closed set. Spurious `handle_timeout` calls are harmless.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Timer {
    /// End of the current receive window (`timeout` after its start or last expected reply).
    ReceiveWindow = 0,
    /// Deadline for the broker to settle this cycle's sends (`timeout` after the cycle start).
    Settle = 1,
}

const TIMERS: [Timer; 2] = [Timer::ReceiveWindow, Timer::Settle];

/// What the driver must do or may log.
#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    SendCycleStarted {
        send_cycle: u32,
        requests: usize,
    },
    /// Attach a receiver on the reply address for this window.
    AttachReceiver(WindowId),
    /// The window ended: detach (close) its receiver.
    DetachReceiver(WindowId),
    StrayReply {
        id: String,
    },
    DuplicateReply {
        id: String,
    },
    UncorrelatedReply {
        reason: String,
    },
    LateReply {
        id: Option<String>,
    },
    Finished,
}

/// The final result of one request.
#[derive(Clone, Debug, PartialEq)]
pub enum RequestResult {
    Signed {
        envelope: Value,
    },
    Failed {
        error: String,
        envelope: Option<Value>,
    },
}

impl RequestResult {
    pub fn is_signed(&self) -> bool {
        matches!(self, RequestResult::Signed { .. })
    }
}

#[derive(Clone, Debug)]
enum State {
    /// Transmitted (or queued) in the current cycle, not settled.
    Sending,
    /// Accepted by the broker, reply expected.
    Awaiting,
    /// This cycle's send failed; not expected in this cycle.
    SendFailed(String),
    Done(RequestResult),
}

/// The retry engine. See the module documentation.
#[derive(Debug)]
pub struct Engine {
    cfg: EngineConfig,
    ids: Vec<String>,
    index: HashMap<String, usize>,
    states: Vec<State>,
    send_cycle: u32,
    receive_cycle: u32,
    window: Option<WindowId>,
    timers: [Option<Instant>; 2],
    sends: VecDeque<Transmit>,
    events: VecDeque<Event>,
    uncorrelated: Vec<String>,
    receiver_errors: Vec<String>,
    transmissions: Vec<u32>,
    windows_opened: u32,
    finished: bool,
}

impl Engine {
    /// Start a run at `now` for requests with these correlation ids (distinct). The first send
    /// cycle and its receive window begin at once.
    pub fn new(now: Instant, ids: Vec<String>, mut cfg: EngineConfig) -> Self {
        cfg.timeout = cfg.timeout.min(MAX_TIMEOUT);
        let index = ids
            .iter()
            .enumerate()
            .map(|(i, id)| (id.clone(), i))
            .collect();
        let n = ids.len();
        let mut e = Engine {
            cfg,
            ids,
            index,
            states: vec![State::SendFailed("not sent".into()); n],
            send_cycle: 0,
            receive_cycle: 0,
            window: None,
            timers: [None; 2],
            sends: VecDeque::new(),
            events: VecDeque::new(),
            uncorrelated: Vec::new(),
            receiver_errors: Vec::new(),
            transmissions: vec![0; n],
            windows_opened: 0,
            finished: false,
        };
        if n == 0 || cfg.send_retries == 0 || cfg.retries == 0 {
            e.finish();
        } else {
            e.start_send_cycle(now);
        }
        e
    }

    // ---- getters ----

    pub fn is_finished(&self) -> bool {
        self.finished
    }
    pub fn ids(&self) -> &[String] {
        &self.ids
    }
    /// Send cycles started so far.
    pub fn send_cycles(&self) -> u32 {
        self.send_cycle
    }
    /// Receive windows opened so far (all cycles).
    pub fn windows_opened(&self) -> u32 {
        self.windows_opened
    }
    /// How often each request was handed out by `poll_send`.
    pub fn transmissions(&self) -> &[u32] {
        &self.transmissions
    }
    /// The currently attached window, if any.
    pub fn current_window(&self) -> Option<WindowId> {
        self.window
    }
    /// The result of request `index`, once it has one.
    pub fn result(&self, index: usize) -> Option<&RequestResult> {
        match self.states.get(index) {
            Some(State::Done(r)) => Some(r),
            _ => None,
        }
    }
    /// All results, in request order; `None` until the run is finished.
    pub fn results(&self) -> Option<Vec<RequestResult>> {
        if !self.finished {
            return None;
        }
        self.states
            .iter()
            .map(|s| match s {
                State::Done(r) => Some(r.clone()),
                _ => None,
            })
            .collect()
    }

    // ---- outputs ----

    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// The next request to transmit. Requests answered while queued are skipped.
    pub fn poll_send(&mut self) -> Option<Transmit> {
        while let Some(t) = self.sends.pop_front() {
            if t.send_cycle == self.send_cycle && matches!(self.states[t.index], State::Sending) {
                self.transmissions[t.index] += 1;
                return Some(t);
            }
        }
        None
    }

    /// The earliest armed timer.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.iter().flatten().min().copied()
    }

    // ---- inputs ----

    /// A reply arrived on the current (or a just-detached) receiver.
    pub fn handle_reply(&mut self, now: Instant, reply: IncomingReply) {
        let reply = match reply {
            IncomingReply::Uncorrelated { reason } => {
                if self.finished {
                    self.events.push_back(Event::LateReply { id: None });
                } else {
                    // Module doc "Malformed replies": kept for the error of unanswered requests;
                    // not an expected reply, so the timer is not reset.
                    self.uncorrelated.push(reason.clone());
                    self.events.push_back(Event::UncorrelatedReply { reason });
                }
                return;
            }
            IncomingReply::Correlated(r) => r,
        };
        if self.finished {
            self.events
                .push_back(Event::LateReply { id: Some(reply.id) });
            return;
        }
        let Some(&i) = self.index.get(&reply.id) else {
            // Spec diagram: only expected signing requests reset the timeout.
            self.events.push_back(Event::StrayReply { id: reply.id });
            return;
        };
        if matches!(self.states[i], State::Done(_)) {
            // The first reply wins; a duplicate neither overwrites nor resets the timer.
            self.events
                .push_back(Event::DuplicateReply { id: reply.id });
            return;
        }
        let result = match reply.verdict {
            ReplyVerdict::Signed => RequestResult::Signed {
                envelope: reply.envelope,
            },
            ReplyVerdict::Failed(error) => RequestResult::Failed {
                error,
                envelope: Some(reply.envelope),
            },
            ReplyVerdict::Malformed(m) => RequestResult::Failed {
                error: format!("malformed reply: {m}"),
                envelope: Some(reply.envelope),
            },
        };
        self.states[i] = State::Done(result);
        // Spec diagram: "If a expected signing request is received, `timeout` is reset."
        if self.window.is_some() {
            self.timers[Timer::ReceiveWindow as usize] = Some(now + self.cfg.timeout);
        }
        self.check_window(now);
    }

    /// The broker settled (or failed) a transmission handed out by `poll_send`.
    pub fn handle_send_outcome(&mut self, now: Instant, t: Transmit, outcome: SendOutcome) {
        if self.finished || t.send_cycle != self.send_cycle || t.index >= self.states.len() {
            return;
        }
        if !matches!(self.states[t.index], State::Sending) {
            return;
        }
        self.states[t.index] = match outcome {
            SendOutcome::Accepted => State::Awaiting,
            SendOutcome::Rejected(r) => {
                State::SendFailed(format!("the broker rejected the request: {r}"))
            }
            SendOutcome::Released => {
                State::SendFailed("the broker released the request (not delivered)".into())
            }
            SendOutcome::Modified => State::SendFailed(
                "the broker returned the request as modified (not delivered)".into(),
            ),
            SendOutcome::Failed(r) => State::SendFailed(format!("sending failed: {r}")),
        };
        self.check_window(now);
    }

    /// Call when `poll_timeout` has passed (calling early or twice is harmless).
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.finished {
            return;
        }
        for timer in TIMERS {
            let slot = timer as usize;
            match self.timers[slot] {
                Some(deadline) if deadline <= now => {
                    self.timers[slot] = None;
                    match timer {
                        Timer::Settle => {
                            let t = self.cfg.timeout.as_secs_f64();
                            for s in &mut self.states {
                                if matches!(s, State::Sending) {
                                    *s = State::SendFailed(format!(
                                        "the broker did not settle the request within {t}s"
                                    ));
                                }
                            }
                            self.check_window(now);
                        }
                        Timer::ReceiveWindow => self.end_window(now),
                    }
                    if self.finished {
                        return;
                    }
                }
                _ => {}
            }
        }
    }

    /// The receiver of `window` failed (attach refused, link detached by the broker, ...).
    pub fn handle_receiver_error(&mut self, now: Instant, window: WindowId, reason: String) {
        if self.finished || self.window != Some(window) {
            return;
        }
        self.receiver_errors.push(format!(
            "receiver of window {}.{}: {reason}",
            window.send_cycle, window.receive_cycle
        ));
        self.end_window(now);
    }

    /// The connection dropped: unsettled sends fail, the window ends.
    pub fn handle_connection_lost(&mut self, now: Instant, reason: String) {
        if self.finished {
            return;
        }
        for s in &mut self.states {
            if matches!(s, State::Sending) {
                *s = State::SendFailed(format!("connection lost before settlement: {reason}"));
            }
        }
        self.receiver_errors
            .push(format!("connection lost: {reason}"));
        if self.window.is_some() {
            self.end_window(now);
        } else {
            self.check_window(now);
        }
    }

    // ---- internals ----

    fn expected(&self) -> usize {
        self.states
            .iter()
            .filter(|s| matches!(s, State::Sending | State::Awaiting))
            .count()
    }

    fn all_done(&self) -> bool {
        self.states.iter().all(|s| matches!(s, State::Done(_)))
    }

    fn start_send_cycle(&mut self, now: Instant) {
        self.send_cycle += 1;
        self.receive_cycle = 0;
        let mut n = 0;
        for (i, s) in self.states.iter_mut().enumerate() {
            // Spec: "Every iteration of send cycle works only with unreceived signing requests."
            if !matches!(s, State::Done(_)) {
                *s = State::Sending;
                self.sends.push_back(Transmit {
                    index: i,
                    send_cycle: self.send_cycle,
                });
                n += 1;
            }
        }
        self.events.push_back(Event::SendCycleStarted {
            send_cycle: self.send_cycle,
            requests: n,
        });
        self.timers[Timer::Settle as usize] = Some(now + self.cfg.timeout);
        self.start_window(now);
    }

    fn start_window(&mut self, now: Instant) {
        self.receive_cycle += 1;
        self.windows_opened += 1;
        let w = WindowId {
            send_cycle: self.send_cycle,
            receive_cycle: self.receive_cycle,
        };
        self.window = Some(w);
        self.events.push_back(Event::AttachReceiver(w));
        self.timers[Timer::ReceiveWindow as usize] = Some(now + self.cfg.timeout);
    }

    /// End the window early when nothing more can arrive in it (module doc "Early window end").
    fn check_window(&mut self, now: Instant) {
        if self.window.is_some() && self.expected() == 0 {
            self.end_window(now);
        }
    }

    fn end_window(&mut self, now: Instant) {
        if let Some(w) = self.window.take() {
            // Departure 1 of the deployed client: detach the receiver of an ended window.
            self.events.push_back(Event::DetachReceiver(w));
        }
        self.timers[Timer::ReceiveWindow as usize] = None;
        if self.all_done() {
            self.finish();
        } else if self.expected() > 0 && self.receive_cycle < self.cfg.retries {
            self.start_window(now);
        } else if self.send_cycle < self.cfg.send_retries {
            self.start_send_cycle(now);
        } else {
            self.finish();
        }
    }

    fn failure_text(&self, state: &State) -> String {
        let t = self.cfg.timeout.as_secs_f64();
        let mut s = match state {
            State::SendFailed(r) => r.clone(),
            State::Sending => format!("the broker did not settle the request within {t}s"),
            _ => format!(
                "no reply after {} send cycle(s) of up to {} receive window(s) of {t}s",
                self.send_cycle, self.cfg.retries
            ),
        };
        if let Some(first) = self.uncorrelated.first() {
            s.push_str(&format!(
                "; {} reply(ies) could not be correlated, first: {first}",
                self.uncorrelated.len()
            ));
        }
        if let Some(last) = self.receiver_errors.last() {
            s.push_str(&format!("; {last}"));
        }
        s
    }

    fn finish(&mut self) {
        if self.finished {
            return;
        }
        if let Some(w) = self.window.take() {
            self.events.push_back(Event::DetachReceiver(w));
        }
        for i in 0..self.states.len() {
            if !matches!(self.states[i], State::Done(_)) {
                let error = self.failure_text(&self.states[i]);
                self.states[i] = State::Done(RequestResult::Failed {
                    error,
                    envelope: None,
                });
            }
        }
        self.timers = [None; 2];
        self.sends.clear();
        self.finished = true;
        self.events.push_back(Event::Finished);
    }
}

#[cfg(test)]
mod tests;

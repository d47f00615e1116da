//! Engine tests in virtual time: the engine reads no clock, so `now` is a base instant plus
//! offsets chosen by the test.

use super::*;
use crate::wire::Reply;
use proptest::prelude::*;
use serde_json::json;

const T: Duration = Duration::from_secs(10);

fn cfg(retries: u32, send_retries: u32) -> EngineConfig {
    EngineConfig {
        timeout: T,
        retries,
        send_retries,
    }
}

fn signed(id: &str) -> IncomingReply {
    IncomingReply::Correlated(Reply {
        id: id.into(),
        verdict: ReplyVerdict::Signed,
        envelope: json!({"msg": {"request_id": id}}),
    })
}

/// A tiny driver: records events, accepts every send at once unless told otherwise.
struct H {
    e: Engine,
    t0: Instant,
    now: Instant,
    events: Vec<(Duration, Event)>,
    sent: Vec<(Duration, Transmit)>,
    auto_accept: bool,
    unsettled: Vec<Transmit>,
}

impl H {
    fn new(ids: &[&str], c: EngineConfig) -> H {
        Self::with(ids, c, true)
    }
    fn manual(ids: &[&str], c: EngineConfig) -> H {
        Self::with(ids, c, false)
    }
    fn with(ids: &[&str], c: EngineConfig, auto_accept: bool) -> H {
        let t0 = Instant::now();
        let e = Engine::new(t0, ids.iter().map(|s| s.to_string()).collect(), c);
        let mut h = H {
            e,
            t0,
            now: t0,
            events: vec![],
            sent: vec![],
            auto_accept,
            unsettled: vec![],
        };
        h.pump();
        h
    }
    fn at(&self) -> Duration {
        self.now - self.t0
    }
    fn pump(&mut self) {
        loop {
            let mut progressed = false;
            while let Some(ev) = self.e.poll_event() {
                self.events.push((self.at(), ev));
                progressed = true;
            }
            while let Some(t) = self.e.poll_send() {
                self.sent.push((self.at(), t));
                progressed = true;
                if self.auto_accept {
                    self.e
                        .handle_send_outcome(self.now, t, SendOutcome::Accepted);
                } else {
                    self.unsettled.push(t);
                }
            }
            if !progressed {
                break;
            }
        }
    }
    fn advance_to(&mut self, d: Duration) {
        // Jump to each wakeup on the way, like tokio's paused clock.
        while let Some(w) = self.e.poll_timeout() {
            if w > self.t0 + d {
                break;
            }
            self.now = w;
            self.e.handle_timeout(self.now);
            self.pump();
        }
        self.now = self.t0 + d;
        self.pump();
    }
    fn run_out(&mut self) {
        for _ in 0..10_000 {
            if self.e.is_finished() {
                return;
            }
            let w = self
                .e
                .poll_timeout()
                .expect("unfinished engine has a timer");
            self.now = w;
            self.e.handle_timeout(w);
            self.pump();
        }
        panic!("engine did not finish");
    }
    fn reply(&mut self, d: Duration, r: IncomingReply) {
        self.advance_to(d);
        self.e.handle_reply(self.now, r);
        self.pump();
    }
    fn finished_at(&self) -> Duration {
        self.events
            .iter()
            .find(|(_, e)| *e == Event::Finished)
            .map(|(d, _)| *d)
            .expect("finished")
    }
    fn count(&self, f: impl Fn(&Event) -> bool) -> usize {
        self.events.iter().filter(|(_, e)| f(e)).count()
    }
}

fn s(n: u64) -> Duration {
    Duration::from_secs(n)
}

#[test]
fn all_answered_in_first_window_finishes_at_once() {
    let mut h = H::new(&["a", "b"], cfg(3, 2));
    assert_eq!(
        h.events[1].1,
        Event::AttachReceiver(WindowId {
            send_cycle: 1,
            receive_cycle: 1
        })
    );
    h.reply(s(1), signed("a"));
    h.reply(s(2), signed("b"));
    assert!(h.e.is_finished());
    assert_eq!(h.finished_at(), s(2));
    assert!(h.e.results().unwrap().iter().all(RequestResult::is_signed));
    assert_eq!(h.e.transmissions(), &[1, 1]);
    assert_eq!(h.count(|e| matches!(e, Event::DetachReceiver(_))), 1);
    assert_eq!(h.e.poll_timeout(), None);
}

#[test]
fn timeout_resets_on_each_expected_reply() {
    let mut h = H::new(&["a", "b", "c"], cfg(1, 1));
    h.reply(s(8), signed("a")); // window now ends at 18
    h.reply(s(17), signed("b")); // now 27
    h.advance_to(s(26));
    assert!(!h.e.is_finished());
    h.advance_to(s(27));
    assert!(h.e.is_finished());
    assert_eq!(h.finished_at(), s(27));
    let r = h.e.results().unwrap();
    assert!(r[0].is_signed() && r[1].is_signed());
    match &r[2] {
        RequestResult::Failed {
            error,
            envelope: None,
        } => assert!(error.contains("no reply"), "{error}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn stray_reply_does_not_reset_the_timer() {
    let mut h = H::new(&["a"], cfg(1, 1));
    h.reply(s(8), signed("zzz"));
    h.advance_to(s(10));
    assert!(h.e.is_finished());
    assert_eq!(h.finished_at(), s(10));
    assert_eq!(
        h.count(|e| matches!(e, Event::StrayReply { id } if id == "zzz")),
        1
    );
}

#[test]
fn duplicate_ignored_after_first_and_does_not_reset() {
    let mut h = H::new(&["a", "b"], cfg(1, 1));
    h.reply(s(5), signed("a")); // ends at 15
    let dup = IncomingReply::Correlated(Reply {
        id: "a".into(),
        verdict: ReplyVerdict::Failed("second".into()),
        envelope: json!({"second": true}),
    });
    h.reply(s(14), dup);
    h.advance_to(s(15));
    assert!(h.e.is_finished());
    assert_eq!(h.finished_at(), s(15));
    assert!(h.e.results().unwrap()[0].is_signed(), "first reply wins");
    assert_eq!(h.count(|e| matches!(e, Event::DuplicateReply { .. })), 1);
}

#[test]
fn retries_and_send_retries_bound_the_run_and_detach_each_window() {
    let mut h = H::new(&["a", "b"], cfg(3, 2));
    h.run_out();
    // 2 send cycles x 3 windows x 10 s
    assert_eq!(h.finished_at(), s(60));
    assert_eq!(h.e.windows_opened(), 6);
    assert_eq!(h.e.send_cycles(), 2);
    assert_eq!(h.e.transmissions(), &[2, 2]);
    let attach = h.count(|e| matches!(e, Event::AttachReceiver(_)));
    let detach = h.count(|e| matches!(e, Event::DetachReceiver(_)));
    assert_eq!((attach, detach), (6, 6));
    // Each window is detached before the next one is attached.
    let mut open = 0i32;
    for (_, e) in &h.events {
        match e {
            Event::AttachReceiver(_) => open += 1,
            Event::DetachReceiver(_) => open -= 1,
            _ => {}
        }
        assert!((0..=1).contains(&open));
    }
    // Second send cycle starts at 30 s.
    let second: Vec<_> = h.sent.iter().filter(|(_, t)| t.send_cycle == 2).collect();
    assert_eq!(second.len(), 2);
    assert!(second.iter().all(|(d, _)| *d == s(30)));
}

#[test]
fn new_cycles_resend_only_unreceived() {
    let mut h = H::new(&["a", "b", "c"], cfg(2, 3));
    h.reply(s(1), signed("a"));
    h.advance_to(s(21)); // both windows of cycle 1 end (11, 21)
    assert_eq!(h.e.send_cycles(), 2);
    h.reply(s(22), signed("b"));
    h.run_out();
    assert_eq!(h.e.transmissions(), &[1, 2, 3]);
    let r = h.e.results().unwrap();
    assert!(r[0].is_signed() && r[1].is_signed() && !r[2].is_signed());
}

#[test]
fn window_listens_only_for_unreceived_ids() {
    // After a window times out, a reply for an already-answered id is a duplicate in the
    // next window, not an expected reply.
    let mut h = H::new(&["a", "b"], cfg(2, 1));
    h.reply(s(1), signed("a"));
    h.advance_to(s(11)); // window 1 ends, window 2 starts
    h.reply(s(15), signed("a"));
    h.advance_to(s(21));
    assert!(h.e.is_finished());
    assert_eq!(h.finished_at(), s(21));
}

#[test]
fn malformed_replies_are_reported_never_silent() {
    let mut h = H::new(&["a", "b"], cfg(1, 1));
    h.reply(
        s(1),
        IncomingReply::Correlated(Reply {
            id: "a".into(),
            verdict: ReplyVerdict::Malformed("`errors` is not a list".into()),
            envelope: json!({}),
        }),
    );
    h.reply(
        s(2),
        IncomingReply::Uncorrelated {
            reason: "reply is not JSON".into(),
        },
    );
    h.run_out();
    let r = h.e.results().unwrap();
    match (&r[0], &r[1]) {
        (RequestResult::Failed { error: e0, .. }, RequestResult::Failed { error: e1, .. }) => {
            assert!(e0.contains("malformed"), "{e0}");
            assert!(
                e1.contains("could not be correlated") && e1.contains("not JSON"),
                "{e1}"
            );
        }
        other => panic!("{other:?}"),
    }
    // The uncorrelated reply did not reset the window (which the reply for `a` reset to 11).
    assert_eq!(h.finished_at(), s(11));
}

#[test]
fn rejected_sends_fail_at_once_and_are_resent_next_cycle() {
    let mut h = H::manual(&["a"], cfg(3, 2));
    let t = h.unsettled.pop().unwrap();
    h.e.handle_send_outcome(
        h.now,
        t,
        SendOutcome::Rejected("amqp:unauthorized-access".into()),
    );
    h.pump();
    // Window ended at once, cycle 2 began at once.
    assert_eq!(h.e.send_cycles(), 2);
    let t = h.unsettled.pop().unwrap();
    assert_eq!(t.send_cycle, 2);
    h.e.handle_send_outcome(h.now, t, SendOutcome::Released);
    h.pump();
    assert!(h.e.is_finished());
    assert_eq!(h.finished_at(), s(0));
    match &h.e.results().unwrap()[0] {
        RequestResult::Failed { error, .. } => assert!(error.contains("released"), "{error}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn never_settled_sends_fail_within_the_timeout() {
    let mut h = H::manual(&["a"], cfg(3, 1));
    h.run_out();
    assert_eq!(h.finished_at(), T);
    match &h.e.results().unwrap()[0] {
        RequestResult::Failed { error, .. } => assert!(error.contains("did not settle"), "{error}"),
        other => panic!("{other:?}"),
    }
    // A late outcome of the old send is ignored.
    let t = h.unsettled[0];
    h.e.handle_send_outcome(h.now, t, SendOutcome::Accepted);
    assert!(
        h.e.results().unwrap()[0]
            != RequestResult::Signed {
                envelope: json!(null)
            }
    );
}

#[test]
fn reply_accepted_for_a_send_deemed_failed() {
    let mut h = H::manual(&["a", "b"], cfg(1, 1));
    let ts: Vec<_> = h.unsettled.drain(..).collect();
    h.e.handle_send_outcome(h.now, ts[1], SendOutcome::Accepted);
    h.reply(s(3), signed("a"));
    assert!(h.e.result(0).unwrap().is_signed());
}

#[test]
fn spurious_timeouts_are_harmless() {
    let mut h = H::new(&["a"], cfg(2, 2));
    for k in 0..5 {
        h.e.handle_timeout(h.t0 + Duration::from_millis(k));
        h.pump();
    }
    assert_eq!(h.e.windows_opened(), 1);
    assert!(!h.e.is_finished());
}

#[test]
fn receiver_error_ends_the_window_at_once_and_is_reported() {
    let mut h = H::new(&["a"], cfg(2, 1));
    let w = h.e.current_window().unwrap();
    h.advance_to(s(1));
    h.e.handle_receiver_error(h.now, w, "amqp:unauthorized-access".into());
    h.pump();
    assert_eq!(h.e.windows_opened(), 2);
    h.run_out();
    assert_eq!(h.finished_at(), s(11));
    match &h.e.results().unwrap()[0] {
        RequestResult::Failed { error, .. } => assert!(error.contains("unauthorized"), "{error}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn partial_results_kept_and_late_replies_ignored() {
    let mut h = H::new(&["a", "b"], cfg(1, 1));
    h.reply(s(1), signed("a"));
    h.run_out();
    h.reply(s(100), signed("b"));
    let r = h.e.results().unwrap();
    assert!(r[0].is_signed() && !r[1].is_signed());
    assert_eq!(h.count(|e| matches!(e, Event::LateReply { .. })), 1);
}

#[test]
fn connection_loss_fails_unsettled_and_moves_on() {
    let mut h = H::manual(&["a"], cfg(2, 2));
    h.e.handle_connection_lost(h.now, "reset by peer".into());
    h.pump();
    assert_eq!(h.e.send_cycles(), 2);
}

#[test]
fn no_requests_finishes_immediately() {
    let h = H::new(&[], cfg(1, 1));
    assert!(h.e.is_finished());
    assert_eq!(h.e.results().unwrap(), vec![]);
}

#[derive(Clone, Debug)]
enum Act {
    Reply(usize),
    Uncorrelated,
    Malformed(usize),
    Advance(u64),
    Wake,
    Settle(usize, u8),
    ReceiverError,
    ConnLost,
}

fn act() -> impl Strategy<Value = Act> {
    prop_oneof![
        4 => (0usize..8).prop_map(Act::Reply),
        1 => Just(Act::Uncorrelated),
        1 => (0usize..8).prop_map(Act::Malformed),
        3 => (0u64..15_000).prop_map(Act::Advance),
        3 => Just(Act::Wake),
        4 => ((0usize..8), (0u8..5)).prop_map(|(i, k)| Act::Settle(i, k)),
        1 => Just(Act::ReceiverError),
        1 => Just(Act::ConnLost),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]
    #[test]
    fn invariants_hold(
        n in 0usize..6,
        retries in 1u32..4,
        send_retries in 1u32..4,
        acts in proptest::collection::vec(act(), 0..80),
    ) {
        let ids: Vec<String> = (0..n).map(|i| format!("id{i}")).collect();
        let t0 = Instant::now();
        let mut now = t0;
        let mut e = Engine::new(now, ids.clone(), cfg(retries, send_retries));
        let mut pending: Vec<Transmit> = vec![];
        let mut done_at_send: Vec<bool> = vec![false; n];
        let mut attached = 0i64;
        let mut finished_events = 0;
        let drain = |e: &mut Engine, pending: &mut Vec<Transmit>, done: &mut Vec<bool>, attached: &mut i64, fin: &mut i32| {
            while let Some(ev) = e.poll_event() {
                match ev {
                    Event::AttachReceiver(_) => *attached += 1,
                    Event::DetachReceiver(_) => *attached -= 1,
                    Event::Finished => *fin += 1,
                    _ => {}
                }
            }
            while let Some(t) = e.poll_send() {
                // never re-sends a received id
                assert!(e.result(t.index).is_none(), "re-sent an answered request");
                done[t.index] = false;
                pending.push(t);
            }
        };
        drain(&mut e, &mut pending, &mut done_at_send, &mut attached, &mut finished_events);
        let steps = acts.len() + 2_000;
        for k in 0..steps {
            let a = if k < acts.len() { acts[k].clone() } else { Act::Wake };
            match a {
                Act::Reply(i) => e.handle_reply(now, signed(&format!("id{i}"))),
                Act::Uncorrelated => e.handle_reply(now, IncomingReply::Uncorrelated { reason: "x".into() }),
                Act::Malformed(i) => e.handle_reply(now, IncomingReply::Correlated(Reply {
                    id: format!("id{i}"), verdict: ReplyVerdict::Malformed("m".into()), envelope: json!(null) })),
                Act::Advance(ms) => { now += Duration::from_millis(ms); e.handle_timeout(now); }
                Act::Wake => { if let Some(w) = e.poll_timeout() { now = now.max(w); } e.handle_timeout(now); }
                Act::Settle(i, kind) => if !pending.is_empty() {
                    let t = pending.remove(i % pending.len());
                    let o = match kind { 0 | 1 => SendOutcome::Accepted, 2 => SendOutcome::Rejected("r".into()),
                        3 => SendOutcome::Released, _ => SendOutcome::Failed("f".into()) };
                    e.handle_send_outcome(now, t, o);
                },
                Act::ReceiverError => if let Some(w) = e.current_window() { e.handle_receiver_error(now, w, "denied".into()) },
                Act::ConnLost => e.handle_connection_lost(now, "lost".into()),
            }
            drain(&mut e, &mut pending, &mut done_at_send, &mut attached, &mut finished_events);
            prop_assert!((0..=1).contains(&attached), "receivers attached: {}", attached);
            prop_assert!(e.send_cycles() <= send_retries);
            prop_assert!(e.windows_opened() <= send_retries * retries);
            for &c in e.transmissions() { prop_assert!(c <= send_retries); }
            if e.is_finished() && k >= acts.len() { break; }
        }
        // terminates
        prop_assert!(e.is_finished(), "engine did not terminate");
        prop_assert_eq!(finished_events, 1);
        prop_assert_eq!(attached, 0, "a receiver left attached");
        // every request ends in exactly one result
        let r = e.results().unwrap();
        prop_assert_eq!(r.len(), n);
        prop_assert_eq!(e.poll_timeout(), None);
        // no more than the bound in virtual time: send_retries * retries windows, each at most
        // timeout after its last reset; resets only happen on first replies (n of them).
        let bound = T * (send_retries * retries + n as u32) + Duration::from_millis(15_000) * acts.len() as u32;
        prop_assert!(now - t0 <= bound);
    }
}

/// Regression (issue 13): a window of `u64::MAX` seconds panicked with "overflow when adding
/// duration to instant" when the first send cycle started. The engine clamps it to
/// `MAX_TIMEOUT`, so every deadline is representable.
#[test]
fn a_huge_timeout_is_clamped_not_a_panic() {
    let t0 = Instant::now();
    let mut e = Engine::new(
        t0,
        vec!["a".into()],
        EngineConfig {
            timeout: Duration::from_secs(u64::MAX),
            retries: 2,
            send_retries: 2,
        },
    );
    while e.poll_event().is_some() {}
    while e.poll_send().is_some() {}
    let deadline = e.poll_timeout().expect("a deadline is armed");
    assert!(deadline <= t0 + MAX_TIMEOUT, "{:?}", deadline - t0);
}

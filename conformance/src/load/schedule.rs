//! The open-loop arrival schedule (sans-IO): when request `i` is due, as an offset from the start.
//!
//! Without a ramp, arrival `i` is due at `i / rate`. With a ramp of `R` seconds the rate rises
//! linearly from 0 to `rate`: the number of arrivals due by `t <= R` is `rate * t^2 / (2R)`, so
//! arrival `i` is due at `sqrt(2 R i / rate)`; after the ramp, `R + (i - rate R / 2) / rate`.
//! Arrivals are due only within the duration (ramp included).

use std::time::Duration;

/// Bounds on the plan (the CLI rejects values outside them with the bound named).
pub const MAX_RATE: f64 = 1_000_000.0;
pub const MAX_DURATION: Duration = Duration::from_secs(24 * 3600);

/// An open-loop schedule.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Schedule {
    rate: f64,
    duration: Duration,
    ramp: Duration,
}

impl Schedule {
    /// `rate` arrivals per second (after the ramp) for `duration`, the first `ramp` of it rising
    /// linearly from 0. Errors name the bad value.
    pub fn new(rate: f64, duration: Duration, ramp: Duration) -> Result<Schedule, String> {
        if !(rate.is_finite() && rate > 0.0 && rate <= MAX_RATE) {
            return Err(format!(
                "--rate {rate}: give a rate above 0 and at most {MAX_RATE} requests per second"
            ));
        }
        if duration.is_zero() || duration > MAX_DURATION {
            return Err(format!(
                "--duration {}: give more than 0 s and at most 24 h",
                humantime::format_duration(duration)
            ));
        }
        if ramp > duration {
            return Err(format!(
                "--ramp {} is longer than --duration {}",
                humantime::format_duration(ramp),
                humantime::format_duration(duration)
            ));
        }
        Ok(Schedule {
            rate,
            duration,
            ramp,
        })
    }

    pub fn rate(&self) -> f64 {
        self.rate
    }

    pub fn duration(&self) -> Duration {
        self.duration
    }

    pub fn ramp(&self) -> Duration {
        self.ramp
    }

    /// When arrival `i` is due, or None when it falls after the duration.
    pub fn due(&self, i: u64) -> Option<Duration> {
        let i = i as f64;
        let ramp = self.ramp.as_secs_f64();
        let in_ramp = self.rate * ramp / 2.0;
        let t = if i < in_ramp {
            (2.0 * ramp * i / self.rate).sqrt()
        } else {
            ramp + (i - in_ramp) / self.rate
        };
        (t < self.duration.as_secs_f64()).then(|| Duration::from_secs_f64(t))
    }

    /// How many arrivals the schedule holds.
    pub fn len(&self) -> u64 {
        let ramp = self.ramp.as_secs_f64();
        let total = self.rate * ramp / 2.0 + self.rate * (self.duration.as_secs_f64() - ramp);
        // `due` decides membership; the closed form only finds the neighbourhood.
        let mut n = total.ceil().max(0.0) as u64;
        while n > 0 && self.due(n - 1).is_none() {
            n -= 1;
        }
        while self.due(n).is_some() {
            n += 1;
        }
        n
    }

    /// How many arrivals are due before `t`.
    pub fn due_before(&self, t: Duration) -> u64 {
        let secs = t.as_secs_f64().min(self.duration.as_secs_f64());
        let ramp = self.ramp.as_secs_f64();
        let approx = if secs <= ramp {
            self.rate * secs * secs / (2.0 * ramp)
        } else {
            self.rate * ramp / 2.0 + self.rate * (secs - ramp)
        };
        // `due` decides; the closed form only finds the neighbourhood.
        let mut n = approx.ceil().max(0.0) as u64;
        while n > 0 && self.due(n - 1).is_none_or(|d| d >= t) {
            n -= 1;
        }
        while self.due(n).is_some_and(|d| d < t) {
            n += 1;
        }
        n
    }

    /// Arrivals due in each second `s` of `0..seconds` (for the report's `scheduled`).
    pub fn per_second(&self, seconds: u64) -> Vec<u64> {
        (0..seconds)
            .map(|s| {
                self.due_before(Duration::from_secs(s + 1))
                    - self.due_before(Duration::from_secs(s))
            })
            .collect()
    }

    /// Whether the schedule holds no arrival (never: `new` requires a positive rate and
    /// duration, and arrival 0 is due at 0).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The rate due at `t` (for the chart): `rate * t / R` in the ramp, `rate` after.
    pub fn rate_at(&self, t: Duration) -> f64 {
        if t < self.ramp {
            self.rate * t.as_secs_f64() / self.ramp.as_secs_f64()
        } else {
            self.rate
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(rate: f64, dur: u64, ramp: u64) -> Schedule {
        Schedule::new(rate, Duration::from_secs(dur), Duration::from_secs(ramp)).unwrap()
    }

    #[test]
    fn without_a_ramp_arrivals_are_evenly_spaced() {
        let sc = s(1000.0, 2, 0);
        assert_eq!(sc.due(0), Some(Duration::ZERO));
        assert_eq!(sc.due(1), Some(Duration::from_millis(1)));
        assert_eq!(sc.due(1999), Some(Duration::from_millis(1999)));
        assert_eq!(sc.due(2000), None);
        assert_eq!(sc.len(), 2000);
    }

    #[test]
    fn a_ramp_rises_linearly_then_holds_the_rate() {
        // 100/s, 10 s ramp: 500 arrivals in the ramp, then 100/s for 10 s.
        let sc = s(100.0, 20, 10);
        assert_eq!(sc.len(), 1500);
        // arrivals due in the first second of the ramp: 100 * 1 / 20 = 5
        let first_second = (0..).take_while(|i| sc.due(*i).unwrap() < Duration::from_secs(1));
        assert_eq!(first_second.count(), 5);
        // the last second of the ramp holds about 95 arrivals, the seconds after 100 each
        let in_span = |a: u64, b: u64| {
            (0..sc.len())
                .filter(|i| {
                    let t = sc.due(*i).unwrap();
                    t >= Duration::from_secs(a) && t < Duration::from_secs(b)
                })
                .count()
        };
        assert_eq!(in_span(9, 10), 95);
        assert_eq!(in_span(10, 11), 100);
        assert_eq!(in_span(19, 20), 100);
        // due times never go backwards
        let mut last = Duration::ZERO;
        for i in 0..sc.len() {
            let t = sc.due(i).unwrap();
            assert!(t >= last, "arrival {i}");
            last = t;
        }
        assert_eq!(
            sc.per_second(21)[..],
            [
                &[5, 15, 25, 35, 45, 55, 65, 75, 85, 95][..],
                &[100; 10],
                &[0]
            ]
            .concat()
        );
        assert_eq!(sc.due_before(Duration::from_secs(30)), sc.len());
        assert_eq!(sc.rate_at(Duration::from_secs(5)), 50.0);
        assert_eq!(sc.rate_at(Duration::from_secs(15)), 100.0);
    }

    #[test]
    fn bad_plans_are_refused_with_the_value_named() {
        let e = Schedule::new(0.0, Duration::from_secs(1), Duration::ZERO).unwrap_err();
        assert!(e.contains("--rate 0"), "{e}");
        let e = Schedule::new(f64::NAN, Duration::from_secs(1), Duration::ZERO).unwrap_err();
        assert!(e.contains("--rate NaN"), "{e}");
        let e = Schedule::new(10.0, Duration::ZERO, Duration::ZERO).unwrap_err();
        assert!(e.contains("--duration 0s"), "{e}");
        let e = Schedule::new(10.0, Duration::from_secs(2), Duration::from_secs(3)).unwrap_err();
        assert!(e.contains("--ramp 3s is longer than --duration 2s"), "{e}");
        assert!(
            Schedule::new(10.0, MAX_DURATION + Duration::from_secs(1), Duration::ZERO).is_err()
        );
    }
}

//! A closed-loop load generator: `clients` tasks, each sending one request after another.

use std::future::Future;
use std::time::{Duration, Instant};

/// Result of one measured phase.
#[derive(Clone, Debug, Default)]
pub struct Stats {
    pub ops: usize,
    pub errors: usize,
    pub elapsed: Duration,
    pub p50_us: u64,
    pub p99_us: u64,
}

impl Stats {
    pub fn ops_per_sec(&self) -> f64 {
        if self.elapsed.is_zero() {
            0.0
        } else {
            self.ops as f64 / self.elapsed.as_secs_f64()
        }
    }

    /// Merge per-client latency samples (µs) into stats.
    pub fn from_samples(mut lat: Vec<u64>, errors: usize, elapsed: Duration) -> Stats {
        lat.sort_unstable();
        let pct = |p: f64| -> u64 {
            if lat.is_empty() {
                0
            } else {
                lat[((lat.len() - 1) as f64 * p).round() as usize]
            }
        };
        Stats {
            ops: lat.len(),
            errors,
            elapsed,
            p50_us: pct(0.50),
            p99_us: pct(0.99),
        }
    }
}

/// Run `clients` concurrent loops of `op(client_index, iteration)` until `duration` has passed or
/// `op` returns `None` (this client is done). `Some(true)` is a success (its latency is sampled),
/// `Some(false)` an error.
pub async fn run<F, Fut>(clients: usize, duration: Duration, op: F) -> Stats
where
    F: Fn(usize, usize) -> Fut + Send + Sync + Clone + 'static,
    Fut: Future<Output = Option<bool>> + Send,
{
    let start = Instant::now();
    let end = start + duration;
    let mut tasks = Vec::with_capacity(clients);
    for c in 0..clients {
        let op = op.clone();
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::with_capacity(4096);
            let mut errors = 0;
            let mut i = 0;
            while Instant::now() < end {
                let t0 = Instant::now();
                match op(c, i).await {
                    Some(true) => lat.push(t0.elapsed().as_micros() as u64),
                    Some(false) => errors += 1,
                    None => break,
                }
                i += 1;
            }
            (lat, errors)
        }));
    }
    let mut all = Vec::new();
    let mut errors = 0;
    for t in tasks {
        if let Ok((l, e)) = t.await {
            all.extend(l);
            errors += e;
        }
    }
    Stats::from_samples(all, errors, start.elapsed())
}

/// Resident set size of this process in bytes (Linux `/proc/self/statm`), if readable.
pub fn rss_bytes() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = s.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles() {
        let s = Stats::from_samples((1..=100).collect(), 0, Duration::from_secs(1));
        assert_eq!((s.p50_us, s.p99_us, s.ops), (51, 99, 100));
        assert_eq!(s.ops_per_sec(), 100.0);
        let e = Stats::from_samples(vec![], 3, Duration::ZERO);
        assert_eq!((e.p50_us, e.ops_per_sec()), (0, 0.0));
    }
}

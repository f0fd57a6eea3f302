//! The live progress line, drawn on stderr once a second while a run goes on.
//!
//! Load threads share nothing on the hot path: each publishes its running totals into its
//! own [`Counters`] on its maintenance tick (a few times a second, with relaxed stores), and
//! the thread that started the run sums them once a second to draw the line.

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use super::Report;

/// One load thread's running totals.
#[derive(Debug, Default)]
pub(super) struct Counters {
    requests: AtomicU64,
    errors: AtomicU64,
    timeouts: AtomicU64,
}

impl Counters {
    /// Publishes `report`'s totals so far.
    pub fn publish(&self, report: &Report) {
        self.requests.store(report.requests, Relaxed);
        self.errors.store(report.errors, Relaxed);
        self.timeouts.store(report.timeouts, Relaxed);
    }
}

/// Every thread's counters, and what the last line showed.
#[derive(Debug)]
pub(super) struct Progress {
    threads: Vec<Counters>,
    // Only the drawing thread touches these; `Cell` lets it draw while the load threads
    // hold references to their counters.
    last_requests: Cell<u64>,
    last_at: Cell<Duration>,
}

impl Progress {
    /// Counters for `threads` threads.
    pub fn new(threads: usize) -> Progress {
        Progress {
            threads: (0..threads).map(|_| Counters::default()).collect(),
            last_requests: Cell::new(0),
            last_at: Cell::new(Duration::ZERO),
        }
    }

    /// Thread `i`'s counters.
    pub fn counters(&self, i: usize) -> &Counters {
        &self.threads[i]
    }

    /// The line to show `elapsed` into the run: totals, and the rate since the last line.
    pub fn line(&self, elapsed: Duration) -> String {
        let sum = |f: fn(&Counters) -> &AtomicU64| -> u64 {
            self.threads.iter().map(|c| f(c).load(Relaxed)).sum()
        };
        let requests = sum(|c| &c.requests);
        let errors = sum(|c| &c.errors);
        let timeouts = sum(|c| &c.timeouts);
        let span = (elapsed - self.last_at.get().min(elapsed)).as_secs_f64();
        let rate = (requests - self.last_requests.get().min(requests)) as f64 / span.max(1e-3);
        self.last_requests.set(requests);
        self.last_at.set(elapsed);
        format!(
            "{:>5.1}s  {rate:>10.0} requests/s  {requests} ok  {errors} errors  {timeouts} timeouts",
            elapsed.as_secs_f64()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_line_sums_threads_and_rates_the_last_interval() {
        let p = Progress::new(2);
        let mut r = Report::new();
        r.requests = 100;
        p.counters(0).publish(&r);
        r.requests = 50;
        r.errors = 1;
        p.counters(1).publish(&r);
        let line = p.line(Duration::from_secs(1));
        assert!(line.contains(" 150 requests/s  150 ok  1 errors"), "{line}");
        let line = p.line(Duration::from_secs(2));
        assert!(line.contains(" 0 requests/s  150 ok"), "{line}");
    }
}

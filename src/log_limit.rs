//! At most one log line per interval for events a stranger can cause at will (forged beacons,
//! wrong tokens), so a flood costs counters, not a disk full of logs.
//!
//! The first event is logged at once; later ones within the interval are counted, and the next
//! line that is logged says how many were left out. Counters elsewhere (`/stats`, `discover`'s
//! output) keep the exact totals.

use std::time::{Duration, Instant};

/// The default interval between two lines about the same kind of event.
pub(crate) const DEFAULT_LOG_INTERVAL: Duration = Duration::from_secs(1);

/// One kind of event's log budget.
#[derive(Debug, Clone)]
pub(crate) struct LogLimit {
    interval: Duration,
    last: Option<Instant>,
    suppressed: u64,
}

impl Default for LogLimit {
    fn default() -> LogLimit {
        LogLimit::new(DEFAULT_LOG_INTERVAL)
    }
}

impl LogLimit {
    /// At most one line per `interval`.
    pub(crate) fn new(interval: Duration) -> LogLimit {
        LogLimit {
            interval,
            last: None,
            suppressed: 0,
        }
    }

    /// Whether to log an event happening at `now`: `Some(n)` with the number of events left
    /// out since the last line, or `None` (counted as left out).
    pub(crate) fn allow(&mut self, now: Instant) -> Option<u64> {
        if self
            .last
            .is_some_and(|last| now.saturating_duration_since(last) < self.interval)
        {
            self.suppressed += 1;
            return None;
        }
        self.last = Some(now);
        Some(std::mem::take(&mut self.suppressed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_per_interval_and_the_rest_counted() {
        let mut limit = LogLimit::new(Duration::from_secs(1));
        let t0 = Instant::now();
        assert_eq!(limit.allow(t0), Some(0));
        for ms in 1..1000 {
            assert_eq!(limit.allow(t0 + Duration::from_millis(ms)), None);
        }
        assert_eq!(limit.allow(t0 + Duration::from_secs(1)), Some(999));
        assert_eq!(limit.allow(t0 + Duration::from_secs(5)), Some(0));
    }
}

//! Connection deadlines without scanning every connection.
//!
//! A binary heap of `(when, connection id, slab key)` entries drives the poll timeout: the loop
//! sleeps until the earliest entry. Activity does *not* touch the heap — a connection only
//! records when it was last active. When an entry pops, the owner recomputes its real deadline:
//! if that is still in the future the entry is pushed again for then, otherwise the timeout
//! fires. So a busy connection costs one heap operation per timeout period, not one per event.
//!
//! Entries are never removed early: a closed connection's entry is recognised as stale when it
//! pops (its id no longer matches the slab slot), and an entry superseded by an earlier one is
//! recognised because it is not the connection's `scheduled` time any more.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::Instant;

/// One scheduled wake-up for the connection `key` whose unique id is `id`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct Entry {
    /// When to look at the connection again.
    pub when: Instant,
    /// The connection's unique id (slab keys are reused, ids are not).
    pub id: u64,
    /// The connection's slab key.
    pub key: usize,
}

/// A min-heap of wake-ups.
#[derive(Debug, Default)]
pub(super) struct Timers {
    heap: BinaryHeap<Reverse<Entry>>,
}

impl Timers {
    /// Schedules a wake-up.
    pub(super) fn push(&mut self, entry: Entry) {
        self.heap.push(Reverse(entry));
    }

    /// The earliest scheduled wake-up, if any.
    pub(super) fn next_deadline(&self) -> Option<Instant> {
        self.heap.peek().map(|Reverse(e)| e.when)
    }

    /// Removes and returns the earliest entry if it is due at `now`.
    pub(super) fn pop_due(&mut self, now: Instant) -> Option<Entry> {
        match self.heap.peek() {
            Some(Reverse(e)) if e.when <= now => self.heap.pop().map(|Reverse(e)| e),
            _ => None,
        }
    }

    /// Number of entries, stale ones included (the `timers` gauge).
    pub(super) fn len(&self) -> usize {
        self.heap.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn pops_in_deadline_order_and_only_when_due() {
        let t0 = Instant::now();
        let mut timers = Timers::default();
        for (i, secs) in [3u64, 1, 2].into_iter().enumerate() {
            timers.push(Entry {
                when: t0 + Duration::from_secs(secs),
                id: i as u64,
                key: i,
            });
        }
        assert_eq!(timers.next_deadline(), Some(t0 + Duration::from_secs(1)));
        assert_eq!(timers.pop_due(t0), None);
        let due: Vec<usize> = std::iter::from_fn(|| timers.pop_due(t0 + Duration::from_secs(2)))
            .map(|e| e.key)
            .collect();
        assert_eq!(due, vec![1, 2]);
        assert_eq!(timers.len(), 1);
    }
}

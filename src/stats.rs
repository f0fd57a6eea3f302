//! Counters kept by a reactor and readable from anywhere.
//!
//! Each reactor thread is the only writer of its own [`Stats`], so a counter is bumped with a
//! plain load and store (no locked read-modify-write instruction on the hot path); other
//! threads, such as an HTTP `/stats` handler on another worker, read them with relaxed loads.

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

/// A counter with a single writer thread and any number of readers.
#[derive(Debug, Default)]
pub struct Counter(AtomicU64);

impl Counter {
    /// Adds `n`. Must only be called from the owning reactor thread: two writers would lose
    /// updates, since this is a load followed by a store, not an atomic add.
    #[inline]
    pub fn add(&self, n: u64) {
        self.0.store(
            self.0.load(Ordering::Relaxed).wrapping_add(n),
            Ordering::Relaxed,
        );
    }

    /// Subtracts `n` (for gauges such as the number of active connections).
    #[inline]
    pub fn sub(&self, n: u64) {
        self.0.store(
            self.0.load(Ordering::Relaxed).wrapping_sub(n),
            Ordering::Relaxed,
        );
    }

    /// Adds one.
    #[inline]
    pub fn incr(&self) {
        self.add(1);
    }

    /// The current value.
    #[inline]
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// What one reactor has done since it started.
#[derive(Debug, Default)]
pub struct Stats {
    /// TCP connections accepted and served.
    pub accepted: Counter,
    /// TCP connections open right now.
    pub active: Counter,
    /// TCP connections refused because the server was at `--max-connections`.
    pub rejected: Counter,
    /// TCP connections closed, for any reason.
    pub closed: Counter,
    /// TCP connections closed because they moved fewer than `--min-rate` bytes a second while
    /// in the middle of a message or owing output (a trickled body, a reader that never reads).
    pub too_slow: Counter,
    /// TCP connections closed at `--max-connections` to make room for a new one (an idle
    /// keep-alive connection, or the one stalling longest).
    pub evicted: Counter,
    /// Bytes read from TCP connections.
    pub bytes_in: Counter,
    /// Bytes written to TCP connections.
    pub bytes_out: Counter,
    /// Bytes currently waiting in connections' output buffers (a gauge).
    pub buffered_out: Counter,
    /// Datagrams received.
    pub datagrams_in: Counter,
    /// Datagrams sent.
    pub datagrams_out: Counter,
    /// Replies dropped because the socket's pending queue was full.
    pub datagrams_dropped: Counter,
    /// Datagrams dropped because they were larger than the receive buffer.
    pub datagrams_truncated: Counter,
    /// Set once a graceful stop has begun: health checks fail from then on (see `/healthz`).
    pub draining: AtomicBool,
    /// TLS handshakes completed in full (a new session).
    pub tls_handshakes_full: Counter,
    /// TLS handshakes that resumed a session (a ticket or the session cache).
    pub tls_handshakes_resumed: Counter,
    /// TLS handshakes that failed: an alert, a timeout, a peer gone, plain HTTP.
    pub tls_handshakes_failed: Counter,
    /// TLS handshakes completed with TLS 1.2.
    pub tls_version_1_2: Counter,
    /// TLS handshakes completed with TLS 1.3.
    pub tls_version_1_3: Counter,
}

/// The number of counters in a [`Stats`].
pub const STATS_LEN: usize = 18;

impl Stats {
    /// Whether this reactor is draining (a graceful stop has begun).
    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::Relaxed)
    }

    /// Every counter as `(name, value)`, in a fixed order (for logs and JSON).
    pub fn snapshot(&self) -> [(&'static str, u64); STATS_LEN] {
        [
            ("accepted", self.accepted.get()),
            ("active", self.active.get()),
            ("rejected", self.rejected.get()),
            ("closed", self.closed.get()),
            ("too_slow", self.too_slow.get()),
            ("evicted", self.evicted.get()),
            ("bytes_in", self.bytes_in.get()),
            ("bytes_out", self.bytes_out.get()),
            ("buffered_out", self.buffered_out.get()),
            ("datagrams_in", self.datagrams_in.get()),
            ("datagrams_out", self.datagrams_out.get()),
            ("datagrams_dropped", self.datagrams_dropped.get()),
            ("datagrams_truncated", self.datagrams_truncated.get()),
            ("tls_handshakes_full", self.tls_handshakes_full.get()),
            ("tls_handshakes_resumed", self.tls_handshakes_resumed.get()),
            ("tls_handshakes_failed", self.tls_handshakes_failed.get()),
            ("tls_version_1_2", self.tls_version_1_2.get()),
            ("tls_version_1_3", self.tls_version_1_3.get()),
        ]
    }
}

impl fmt::Display for Stats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (name, value)) in self.snapshot().iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            write!(f, "{name}={value}")?;
        }
        Ok(())
    }
}

/// The counters of every worker of one server, so that a report can give the server's totals
/// rather than those of the worker that happened to answer.
///
/// Each worker joins once, when it starts; reading takes a lock and is meant for reports, never
/// for the hot path (writers never touch the group: they bump their own counters).
#[derive(Debug)]
pub struct Group<T> {
    members: Mutex<Vec<Arc<T>>>,
}

impl<T> Default for Group<T> {
    fn default() -> Self {
        Group {
            members: Mutex::new(Vec::new()),
        }
    }
}

impl<T> Group<T> {
    /// Adds one worker's counters.
    pub fn join(&self, member: Arc<T>) {
        self.lock().push(member);
    }

    /// The members so far, in the order they joined.
    pub fn members(&self) -> Vec<Arc<T>> {
        self.lock().clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Arc<T>>> {
        // A panic elsewhere cannot leave a Vec of Arcs half-updated, so a poisoned lock is
        // still safe to use.
        self.members.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Group<Stats> {
    /// Every counter summed over the members (gauges such as `active` sum too).
    pub fn total(&self) -> [(&'static str, u64); STATS_LEN] {
        let mut total = Stats::default().snapshot();
        for member in self.lock().iter() {
            for (sum, (_, value)) in total.iter_mut().zip(member.snapshot()) {
                sum.1 = sum.1.wrapping_add(value);
            }
        }
        total
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_group_sums_its_members() {
        let group = Group::default();
        let (a, b) = (Arc::new(Stats::default()), Arc::new(Stats::default()));
        group.join(a.clone());
        group.join(b.clone());
        a.accepted.add(3);
        b.accepted.add(4);
        a.active.add(2);
        b.bytes_out.add(10);
        let total = group.total();
        let get = |name| total.iter().find(|(n, _)| *n == name).unwrap().1;
        assert_eq!(get("accepted"), 7);
        assert_eq!(get("active"), 2);
        assert_eq!(get("bytes_out"), 10);
        assert_eq!(get("closed"), 0);
        assert_eq!(group.members().len(), 2);
    }

    #[test]
    fn an_empty_group_totals_zero() {
        assert!(
            Group::<Stats>::default()
                .total()
                .iter()
                .all(|(_, v)| *v == 0)
        );
    }
}

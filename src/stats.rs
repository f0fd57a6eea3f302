//! Counters kept by a reactor and readable from anywhere.
//!
//! Each reactor thread is the only writer of its own [`Stats`], so a counter is bumped with a
//! plain load and store (no locked read-modify-write instruction on the hot path); other
//! threads, such as an HTTP `/stats` handler on another worker, read them with relaxed loads.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

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
}

impl Stats {
    /// Every counter as `(name, value)`, in a fixed order (for logs and JSON).
    pub fn snapshot(&self) -> [(&'static str, u64); 11] {
        [
            ("accepted", self.accepted.get()),
            ("active", self.active.get()),
            ("rejected", self.rejected.get()),
            ("closed", self.closed.get()),
            ("bytes_in", self.bytes_in.get()),
            ("bytes_out", self.bytes_out.get()),
            ("buffered_out", self.buffered_out.get()),
            ("datagrams_in", self.datagrams_in.get()),
            ("datagrams_out", self.datagrams_out.get()),
            ("datagrams_dropped", self.datagrams_dropped.get()),
            ("datagrams_truncated", self.datagrams_truncated.get()),
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

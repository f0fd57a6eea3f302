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
    pub(crate) fn add(&self, n: u64) {
        self.0.store(
            self.0.load(Ordering::Relaxed).wrapping_add(n),
            Ordering::Relaxed,
        );
    }

    /// Subtracts `n` (for gauges such as the number of active connections).
    #[inline]
    pub(crate) fn sub(&self, n: u64) {
        self.0.store(
            self.0.load(Ordering::Relaxed).wrapping_sub(n),
            Ordering::Relaxed,
        );
    }

    /// Sets the value (for gauges sampled once per loop turn, such as the timer heap size).
    #[inline]
    pub(crate) fn set(&self, n: u64) {
        self.0.store(n, Ordering::Relaxed);
    }

    /// Adds one.
    #[inline]
    pub(crate) fn incr(&self) {
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
    /// TCP connections refused unread on a `--proxy-protocol` listener because they came
    /// from outside `--proxy-from`.
    pub proxy_refused: Counter,
    /// Bytes read from TCP connections.
    pub bytes_in: Counter,
    /// Bytes written to TCP connections.
    pub bytes_out: Counter,
    /// Bytes currently waiting in connections' output buffers (a gauge).
    pub buffered_out: Counter,
    /// Bytes of partial messages currently held in connections' input buffers (a gauge).
    pub buffered_in: Counter,
    /// Bytes sessions hold in buffers of their own, as they report them (`Ctx::set_held`):
    /// a WebSocket message being assembled (a gauge).
    pub session_buffered: Counter,
    /// Times a connection was held back (not read, its stream not refilled) because all
    /// connections together held more than `--max-memory`.
    pub memory_waits: Counter,
    /// Datagrams received.
    pub datagrams_in: Counter,
    /// Datagrams sent.
    pub datagrams_out: Counter,
    /// Replies dropped because the socket's pending queue was full.
    pub datagrams_dropped: Counter,
    /// Datagrams dropped because they were larger than the receive buffer.
    pub datagrams_truncated: Counter,
    /// Datagrams not answered because their source could loop: one of this server's own UDP
    /// sockets, or (UDP echo) a port below 1024, where echo, chargen and their kin live.
    pub udp_loops_dropped: Counter,
    /// Files connections refused for a missing or wrong token (`--files-token`).
    pub files_unauthorized: Counter,
    /// Files refused because they would take the store past `--files-quota`.
    pub files_over_quota: Counter,
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
    /// TLS handshakes that agreed on AES-128-GCM (a TLS 1.3 or an ECDHE TLS 1.2 suite).
    pub tls_cipher_aes_128_gcm: Counter,
    /// TLS handshakes that agreed on AES-256-GCM.
    pub tls_cipher_aes_256_gcm: Counter,
    /// TLS handshakes that agreed on ChaCha20-Poly1305 (clients without AES instructions).
    pub tls_cipher_chacha20_poly1305: Counter,

    // The loop's internals (see docs/architecture.md, "Counters"). Each is bumped with one
    // plain add at the place it measures; none costs a syscall or a branch of its own.
    /// `poll` calls that returned (with events or not).
    pub polls: Counter,
    /// Readiness events those polls returned, in all.
    pub events: Counter,
    /// Polls by how many events they returned: 0, 1, 2-3, 4-7, ... 256-511, 512 and more.
    pub events_per_poll: [Counter; EVENT_BUCKETS],
    /// Requests answered, by how long each took (see `Stats::record_request`): bucket `k`
    /// holds those up to `LATENCY_BOUNDS_US``[k]` microseconds, the last one the rest.
    /// Exported by `/metrics` as a histogram; not in `Stats::snapshot`.
    pub request_latency: [Counter; LATENCY_BUCKETS],
    /// The latencies of those requests, added up, in microseconds.
    pub request_latency_sum_us: Counter,
    /// `read` calls on TCP connections.
    pub reads: Counter,
    /// Of those, the ones that returned `WouldBlock` (the socket was already drained).
    pub reads_would_block: Counter,
    /// `write` calls on TCP connections.
    pub writes: Counter,
    /// Of those, the ones the socket did not take whole (the connection then waits for
    /// WRITABLE).
    pub short_writes: Counter,
    /// Leave notices not delivered because their room had already collected `MAX_NOTICES`
    /// bytes of them in the same turn (a mass disconnect).
    pub notices_dropped: Counter,
    /// Room messages not relayed to another worker because its inbox was full (`--workers`:
    /// see `reactor/rooms.rs`), one per worker missed.
    pub room_relays_dropped: Counter,
    /// `sendfile` calls on TCP connections: file bodies the kernel copied from the page cache.
    pub sendfiles: Counter,
    /// Times a connection stopped being read because its output passed `--max-output` (or its
    /// input buffer was full while its output drained).
    pub read_pauses: Counter,
    /// Times a paused connection was read again once its output drained to the low-water mark.
    pub read_resumes: Counter,
    /// Times a connection used up its read budget with work left and was put off to the end
    /// of the loop turn, so that others get their turn.
    pub deferred: Counter,
    /// Entries in the timer heap (a gauge, sampled once per loop turn; stale entries count).
    pub timers: Counter,
    /// Times a listener was readable and accepted (the `accepted` per wakeup is the ratio).
    pub accept_wakeups: Counter,
    /// Times accepting stopped for a while because descriptors ran out (EMFILE, ENFILE...).
    pub emfile_pauses: Counter,
    /// Lines relayed by chat sessions (TCP and WebSocket).
    pub chat_messages: Counter,
    /// WebSocket data messages received.
    pub ws_messages_in: Counter,
    /// WebSocket data messages sent (echoes and room messages).
    pub ws_messages_out: Counter,
    /// Open WebSocket sessions (a gauge).
    pub ws_open: Counter,
    /// WebSocket connections closed (1008) because a message took longer than
    /// `--ws-message-timeout` to arrive.
    pub ws_message_timeouts: Counter,
    /// Open Server-Sent Events streams (a gauge).
    pub sse_open: Counter,
    /// Snapshots sent on Server-Sent Events streams.
    pub sse_sent: Counter,
    /// Snapshots not sent because the client had not read the previous ones (dropped, not
    /// queued).
    pub sse_skipped: Counter,
    /// HTTP/2 connections (h2c and h2) that began, after the client's preface.
    pub http2_connections: Counter,
    /// HTTP/2 streams opened (requests dispatched or answered).
    pub http2_streams: Counter,
    /// HTTP/2 streams the client reset (RST_STREAM).
    pub http2_resets_by_peer: Counter,
    /// HTTP/2 streams we refused: over `MAX_CONCURRENT_STREAMS` (REFUSED_STREAM).
    pub http2_resets_refused: Counter,
    /// HTTP/2 streams we reset for breaking flow control (FLOW_CONTROL_ERROR).
    pub http2_resets_flow_control: Counter,
    /// HTTP/2 streams we reset for any other error of the client's (a malformed request,
    /// a body past its `content-length`, a frame on a closed stream).
    pub http2_resets_protocol: Counter,
    /// GOAWAY frames we sent: a graceful stop, an idle timeout, or a connection error.
    pub http2_goaways: Counter,
    /// Open TCP connections by the service of their listener (gauges): one for each
    /// `Service::name` a listener of this reactor registered, whatever the protocol (`https`,
    /// `tls-echo` ... too), and any a session moved its connection to (`Ctx::count_as`):
    /// upgraded WebSocket connections count under `ws`, whichever listener accepted them.
    /// Event-stream connections count under their listener's service, and in `sse_open`.
    pub(crate) services: ServiceGauges,
}

/// The services `/stats` has always shown: each is reported (0) even when no listener serves
/// it, so a dashboard or a script that reads `active_chat` finds it.
pub(crate) const USUAL_SERVICES: [&str; 6] = ["echo", "framed", "chat", "files", "http", "ws"];

/// Open connections by service: a gauge per service name, registered by the reactor when a
/// listener is added. The reactor bumps its own `Arc<Counter>`; the list is locked only to
/// register (at start) and to read (a report).
#[derive(Debug, Default)]
pub(crate) struct ServiceGauges(Mutex<Vec<(&'static str, Arc<Counter>)>>);

impl ServiceGauges {
    /// The gauge of the service `name`: a new one, or the one another listener of that service
    /// already registered.
    pub(crate) fn register(&self, name: &'static str) -> Arc<Counter> {
        let mut list = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((_, gauge)) = list.iter().find(|(n, _)| *n == name) {
            return Arc::clone(gauge);
        }
        let gauge = Arc::new(Counter::default());
        list.push((name, Arc::clone(&gauge)));
        gauge
    }

    /// Every service's open connections: the [`USUAL_SERVICES`] first (0 if not served), then
    /// the others in the order they were registered.
    pub(crate) fn get(&self) -> Vec<(&'static str, u64)> {
        let list = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let mut out: Vec<(&'static str, u64)> = USUAL_SERVICES.iter().map(|&n| (n, 0)).collect();
        for (name, gauge) in list.iter() {
            add_to(&mut out, name, gauge.get());
        }
        out
    }
}

/// Adds `value` to `name`'s entry of `list`, appending one if there is none.
fn add_to(list: &mut Vec<(&'static str, u64)>, name: &'static str, value: u64) {
    match list.iter_mut().find(|(n, _)| *n == name) {
        Some((_, sum)) => *sum = sum.wrapping_add(value),
        None => list.push((name, value)),
    }
}

/// The number of buckets of [`Stats::events_per_poll`].
pub(crate) const EVENT_BUCKETS: usize = 11;

/// The names of the [`Stats::events_per_poll`] buckets, as `/stats` shows them.
#[cfg(test)]
pub(crate) const EVENT_BUCKET_NAMES: [&str; EVENT_BUCKETS] = [
    "events_per_poll_0",
    "events_per_poll_1",
    "events_per_poll_2_3",
    "events_per_poll_4_7",
    "events_per_poll_8_15",
    "events_per_poll_16_31",
    "events_per_poll_32_63",
    "events_per_poll_64_127",
    "events_per_poll_128_255",
    "events_per_poll_256_511",
    "events_per_poll_512_up",
];

/// The upper bounds of the [`Stats::request_latency`] buckets, in microseconds: from 100 µs
/// to 10 s, three to a decade (Prometheus' usual 1, 2.5, 5 steps). A last bucket holds
/// longer ones.
pub(crate) const LATENCY_BOUNDS_US: [u64; LATENCY_BUCKETS - 1] = [
    100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000,
    1_000_000, 2_500_000, 5_000_000, 10_000_000,
];

/// The number of buckets of [`Stats::request_latency`].
pub(crate) const LATENCY_BUCKETS: usize = 17;

/// The [`Stats::request_latency`] bucket of a request that took `micros`: the first whose
/// bound is at least that (Prometheus' `le`), or the last.
#[inline]
pub(crate) fn latency_bucket(micros: u64) -> usize {
    if micros <= LATENCY_BOUNDS_US[0] {
        return 0;
    }
    LATENCY_BOUNDS_US.partition_point(|&bound| bound < micros)
}

/// The number of counters in a [`Stats`].
pub(crate) const STATS_LEN: usize = 28 + 30 + EVENT_BUCKETS;

/// The [`Stats::events_per_poll`] bucket of a poll that returned `n` events: the bit length of
/// `n`, so bucket `k` holds `2^(k-1) ..= 2^k - 1`, capped at the last.
#[inline]
pub(crate) fn event_bucket(n: usize) -> usize {
    ((usize::BITS - n.leading_zeros()) as usize).min(EVENT_BUCKETS - 1)
}

impl Stats {
    /// Whether this reactor is draining (a graceful stop has begun).
    pub(crate) fn is_draining(&self) -> bool {
        self.draining.load(Ordering::Relaxed)
    }

    /// Every counter as `(name, value)`, in a fixed order (for logs and JSON).
    pub(crate) fn snapshot(&self) -> [(&'static str, u64); STATS_LEN] {
        [
            ("accepted", self.accepted.get()),
            ("active", self.active.get()),
            ("rejected", self.rejected.get()),
            ("closed", self.closed.get()),
            ("too_slow", self.too_slow.get()),
            ("evicted", self.evicted.get()),
            ("proxy_refused", self.proxy_refused.get()),
            ("bytes_in", self.bytes_in.get()),
            ("bytes_out", self.bytes_out.get()),
            ("buffered_out", self.buffered_out.get()),
            ("buffered_in", self.buffered_in.get()),
            ("session_buffered", self.session_buffered.get()),
            ("memory_waits", self.memory_waits.get()),
            ("datagrams_in", self.datagrams_in.get()),
            ("datagrams_out", self.datagrams_out.get()),
            ("datagrams_dropped", self.datagrams_dropped.get()),
            ("datagrams_truncated", self.datagrams_truncated.get()),
            ("udp_loops_dropped", self.udp_loops_dropped.get()),
            ("files_unauthorized", self.files_unauthorized.get()),
            ("files_over_quota", self.files_over_quota.get()),
            ("tls_handshakes_full", self.tls_handshakes_full.get()),
            ("tls_handshakes_resumed", self.tls_handshakes_resumed.get()),
            ("tls_handshakes_failed", self.tls_handshakes_failed.get()),
            ("tls_version_1_2", self.tls_version_1_2.get()),
            ("tls_version_1_3", self.tls_version_1_3.get()),
            ("tls_cipher_aes_128_gcm", self.tls_cipher_aes_128_gcm.get()),
            ("tls_cipher_aes_256_gcm", self.tls_cipher_aes_256_gcm.get()),
            (
                "tls_cipher_chacha20_poly1305",
                self.tls_cipher_chacha20_poly1305.get(),
            ),
            ("polls", self.polls.get()),
            ("events", self.events.get()),
            ("reads", self.reads.get()),
            ("reads_would_block", self.reads_would_block.get()),
            ("writes", self.writes.get()),
            ("short_writes", self.short_writes.get()),
            ("sendfiles", self.sendfiles.get()),
            ("notices_dropped", self.notices_dropped.get()),
            ("room_relays_dropped", self.room_relays_dropped.get()),
            ("read_pauses", self.read_pauses.get()),
            ("read_resumes", self.read_resumes.get()),
            ("deferred", self.deferred.get()),
            ("timers", self.timers.get()),
            ("accept_wakeups", self.accept_wakeups.get()),
            ("emfile_pauses", self.emfile_pauses.get()),
            ("chat_messages", self.chat_messages.get()),
            ("ws_messages_in", self.ws_messages_in.get()),
            ("ws_messages_out", self.ws_messages_out.get()),
            ("ws_open", self.ws_open.get()),
            ("ws_message_timeouts", self.ws_message_timeouts.get()),
            ("sse_open", self.sse_open.get()),
            ("sse_sent", self.sse_sent.get()),
            ("sse_skipped", self.sse_skipped.get()),
            ("http2_connections", self.http2_connections.get()),
            ("http2_streams", self.http2_streams.get()),
            ("http2_resets_by_peer", self.http2_resets_by_peer.get()),
            ("http2_resets_refused", self.http2_resets_refused.get()),
            (
                "http2_resets_flow_control",
                self.http2_resets_flow_control.get(),
            ),
            ("http2_resets_protocol", self.http2_resets_protocol.get()),
            ("http2_goaways", self.http2_goaways.get()),
            ("events_per_poll_0", self.events_per_poll[0].get()),
            ("events_per_poll_1", self.events_per_poll[1].get()),
            ("events_per_poll_2_3", self.events_per_poll[2].get()),
            ("events_per_poll_4_7", self.events_per_poll[3].get()),
            ("events_per_poll_8_15", self.events_per_poll[4].get()),
            ("events_per_poll_16_31", self.events_per_poll[5].get()),
            ("events_per_poll_32_63", self.events_per_poll[6].get()),
            ("events_per_poll_64_127", self.events_per_poll[7].get()),
            ("events_per_poll_128_255", self.events_per_poll[8].get()),
            ("events_per_poll_256_511", self.events_per_poll[9].get()),
            ("events_per_poll_512_up", self.events_per_poll[10].get()),
        ]
    }

    /// Records one request answered `elapsed` after it began (the caller says from when: HTTP
    /// measures from the first byte of the head to the end of the answer, both read from the
    /// loop's clock of their batch, so no clock is read here).
    #[inline]
    pub(crate) fn record_request(&self, elapsed: std::time::Duration) {
        let micros = elapsed
            .as_secs()
            .saturating_mul(1_000_000)
            .saturating_add(u64::from(elapsed.subsec_micros()));
        self.request_latency[latency_bucket(micros)].incr();
        self.request_latency_sum_us.add(micros);
    }

    /// Records one request answered within the clock reading it began in (no time passed
    /// by the loop's cached clock): the first bucket, nothing added to the sum. The same as
    /// `record_request(Duration::ZERO)`, without the arithmetic, for the pipelined hot path.
    #[inline]
    pub(crate) fn record_instant_request(&self) {
        self.request_latency[0].incr();
    }

    /// The request latency buckets and their sum in microseconds.
    pub(crate) fn latency(&self) -> ([u64; LATENCY_BUCKETS], u64) {
        (
            std::array::from_fn(|k| self.request_latency[k].get()),
            self.request_latency_sum_us.get(),
        )
    }

    /// Records one `poll` that returned `events` events.
    #[inline]
    pub(crate) fn record_poll(&self, events: usize) {
        self.polls.incr();
        self.events.add(events as u64);
        self.events_per_poll[event_bucket(events)].incr();
    }
}

impl Stats {
    /// The shutdown summary: a few short lines of the figures an operator looks at first
    /// (connections, bytes, and datagrams, TLS handshakes and HTTP/2 where there were any).
    /// Every counter stays in `/stats`, `/metrics` and, at debug level, the full log line.
    pub(crate) fn summary(&self) -> Vec<String> {
        let mut first = format!(
            "stopped: connections {} accepted, {} closed, {} refused (full), {} evicted, {} \
             too slow",
            self.accepted.get(),
            self.closed.get(),
            self.rejected.get(),
            self.evicted.get(),
            self.too_slow.get(),
        );
        if self.proxy_refused.get() > 0 {
            first.push_str(&format!(
                ", {} not from --proxy-from",
                self.proxy_refused.get()
            ));
        }
        let mut lines = vec![
            first,
            format!(
                "  bytes {} in, {} out",
                Bytes(self.bytes_in.get()),
                Bytes(self.bytes_out.get())
            ),
        ];
        let datagrams = self.datagrams_in.get() + self.datagrams_out.get();
        if datagrams > 0 {
            lines.push(format!(
                "  datagrams {} in, {} out, {} dropped (queue full), {} truncated, {} loops \
                 refused",
                self.datagrams_in.get(),
                self.datagrams_out.get(),
                self.datagrams_dropped.get(),
                self.datagrams_truncated.get(),
                self.udp_loops_dropped.get(),
            ));
        }
        let handshakes = self.tls_handshakes_full.get()
            + self.tls_handshakes_resumed.get()
            + self.tls_handshakes_failed.get();
        if handshakes > 0 {
            lines.push(format!(
                "  TLS handshakes {} full, {} resumed, {} failed (TLS 1.3: {}, TLS 1.2: {})",
                self.tls_handshakes_full.get(),
                self.tls_handshakes_resumed.get(),
                self.tls_handshakes_failed.get(),
                self.tls_version_1_3.get(),
                self.tls_version_1_2.get(),
            ));
        }
        if self.http2_connections.get() > 0 {
            lines.push(format!(
                "  HTTP/2 {} connections, {} streams, {} reset by peers, {} reset by the \
                 server, {} GOAWAYs",
                self.http2_connections.get(),
                self.http2_streams.get(),
                self.http2_resets_by_peer.get(),
                self.http2_resets_refused.get()
                    + self.http2_resets_flow_control.get()
                    + self.http2_resets_protocol.get(),
                self.http2_goaways.get(),
            ));
        }
        lines.push("  every counter: GET /stats or /metrics while running, RUST_LOG=debug".into());
        lines
    }
}

/// A byte count, with its size as people read it past a thousand: `13560580 (13.6 MB)`.
struct Bytes(u64);

impl fmt::Display for Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const UNITS: [(u64, &str); 3] = [(1_000_000_000, "GB"), (1_000_000, "MB"), (1_000, "kB")];
        for (size, unit) in UNITS {
            if self.0 >= size {
                // Display only: the precision of f64 is ample for one decimal.
                let value = self.0 as f64 / size as f64;
                return write!(f, "{} ({value:.1} {unit})", self.0);
            }
        }
        write!(f, "{}", self.0)
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
        for (name, value) in self.services.get() {
            write!(f, " active_{name}={value}")?;
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
pub(crate) struct Group<T> {
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
    pub(crate) fn join(&self, member: Arc<T>) {
        self.lock().push(member);
    }

    /// The members so far, in the order they joined.
    pub(crate) fn members(&self) -> Vec<Arc<T>> {
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
    pub(crate) fn total(&self) -> [(&'static str, u64); STATS_LEN] {
        let mut total = Stats::default().snapshot();
        for member in self.lock().iter() {
            for (sum, (_, value)) in total.iter_mut().zip(member.snapshot()) {
                sum.1 = sum.1.wrapping_add(value);
            }
        }
        total
    }

    /// Open connections by service, summed over the members (see [`ServiceGauges::get`]).
    pub(crate) fn services(&self) -> Vec<(&'static str, u64)> {
        let mut total: Vec<(&'static str, u64)> = USUAL_SERVICES.iter().map(|&n| (n, 0)).collect();
        for member in self.lock().iter() {
            for (name, value) in member.services.get() {
                add_to(&mut total, name, value);
            }
        }
        total
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_summary_is_short_and_says_only_what_happened() {
        let stats = Stats::default();
        let quiet = stats.summary();
        assert_eq!(quiet.len(), 3, "{quiet:?}");
        assert!(quiet[0].starts_with("stopped: connections 0 accepted"));
        stats.bytes_in.add(13_560_580);
        stats.bytes_out.add(512);
        stats.datagrams_in.add(1_000_000_000_000);
        stats.tls_handshakes_failed.incr();
        stats.http2_connections.incr();
        stats.http2_resets_protocol.add(2);
        for counter in [
            &stats.accepted,
            &stats.closed,
            &stats.rejected,
            &stats.evicted,
        ] {
            counter.add(1_000_000_000_000);
        }
        let busy = stats.summary();
        assert_eq!(busy.len(), 6, "{busy:?}");
        assert_eq!(busy[1], "  bytes 13560580 (13.6 MB) in, 512 out");
        assert!(busy[4].contains("2 reset by the server"), "{}", busy[4]);
        for line in &busy {
            // The log adds a ~45-character prefix.
            assert!(line.len() <= 150, "{} characters: {line}", line.len());
        }
    }

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
    fn services_are_counted_by_name_whatever_they_are() {
        let (one, two) = (Stats::default(), Stats::default());
        let https = one.services.register("https");
        https.add(2);
        assert!(Arc::ptr_eq(&https, &one.services.register("https")));
        one.services.register("http").add(1);
        two.services.register("tls-echo").incr();
        two.services.register("https").incr();
        assert_eq!(
            one.services.get(),
            [
                ("echo", 0),
                ("framed", 0),
                ("chat", 0),
                ("files", 0),
                ("http", 1),
                ("ws", 0),
                ("https", 2)
            ]
        );
        let group = Group::default();
        group.join(Arc::new(one));
        group.join(Arc::new(two));
        let total = group.services();
        assert_eq!(
            total[4..],
            [("http", 1), ("ws", 0), ("https", 3), ("tls-echo", 1)]
        );
    }

    #[test]
    fn latencies_fall_into_le_buckets() {
        let cases = [
            (0, 0),
            (100, 0),
            (101, 1),
            (1_000, 3),
            (1_001, 4),
            (10_000_000, LATENCY_BUCKETS - 2),
            (10_000_001, LATENCY_BUCKETS - 1),
            (u64::MAX, LATENCY_BUCKETS - 1),
        ];
        for (micros, bucket) in cases {
            assert_eq!(latency_bucket(micros), bucket, "{micros} µs");
        }
        assert!(LATENCY_BOUNDS_US.windows(2).all(|w| w[0] < w[1]));
        let stats = Stats::default();
        stats.record_request(std::time::Duration::from_micros(300));
        stats.record_request(std::time::Duration::from_secs(60));
        let (buckets, sum) = stats.latency();
        assert_eq!(buckets[2], 1);
        assert_eq!(buckets[LATENCY_BUCKETS - 1], 1);
        assert_eq!(sum, 60_000_300);
        // The hot path's shortcut counts as a zero-length request would.
        stats.record_instant_request();
        stats.record_request(std::time::Duration::ZERO);
        let (buckets, sum) = stats.latency();
        assert_eq!(buckets[0], 2);
        assert_eq!(sum, 60_000_300);
    }

    #[test]
    fn polls_fall_into_power_of_two_buckets() {
        let cases = [
            (0, 0),
            (1, 1),
            (2, 2),
            (3, 2),
            (4, 3),
            (7, 3),
            (8, 4),
            (511, 9),
        ];
        for (n, bucket) in cases {
            assert_eq!(event_bucket(n), bucket, "{n} events");
        }
        assert_eq!(event_bucket(512), 10);
        assert_eq!(event_bucket(100_000), 10);
        let stats = Stats::default();
        stats.record_poll(5);
        stats.record_poll(0);
        let snap = stats.snapshot();
        let get = |name| snap.iter().find(|(n, _)| *n == name).unwrap().1;
        assert_eq!((get("polls"), get("events")), (2, 5));
        assert_eq!(
            (get("events_per_poll_4_7"), get("events_per_poll_0")),
            (1, 1)
        );
        let names: Vec<_> = snap.iter().map(|(n, _)| *n).collect();
        for bucket in EVENT_BUCKET_NAMES {
            assert!(names.contains(&bucket), "{bucket}");
        }
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

//! What `discover` heard: a bounded table of servers, and the loop that fills it.
//!
//! Anyone on the segment can send datagrams, and a spoofed source address costs nothing, so
//! the table has a fixed capacity ([`MAX_SERVERS`] by default). A full table makes room by
//! evicting the server heard least recently — a real server beacons every few seconds and
//! comes straight back, while a flood of one-off fakes pushes out only other fakes — and every
//! eviction is counted and reported, so a flood is visible rather than silent. Memory is then
//! bounded by the capacity times [`MAX_BEACON`].
//!
//! A server that stops beaconing (stopped, crashed, unplugged) drops out once it has been
//! silent for the expiry time; that too is counted.
//!
//! ```text
//!  servers: (name, from) ──► Seen { beacon, last_seen, seq }
//!  order:   seq ──► (name, from)        oldest first: eviction and expiry pop the front
//! ```

use std::collections::BTreeMap;
use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use super::beacon::{Beacon, MAX_BEACON};
use super::seal::{Gate, Reject, unix_now};
use crate::log_limit::LogLimit;

/// The most servers a [`Discovery`] keeps by default.
pub const MAX_SERVERS: usize = 1024;
/// A server silent this long drops out, by default (a few default intervals, jitter included).
pub const DEFAULT_EXPIRE: Duration = Duration::from_secs(10);
/// The longest one blocking receive waits, so a Ctrl-C is noticed promptly whatever the
/// platform does with `SO_RCVTIMEO` and signals.
const POLL_SLICE: Duration = Duration::from_millis(100);

/// A server seen by [`discover`].
#[derive(Debug, Clone)]
pub struct Seen {
    /// Its last beacon.
    pub beacon: Beacon,
    /// The address the beacon came from.
    pub from: SocketAddr,
    /// When it was last heard.
    pub last_seen: Instant,
    /// Beacons received from it.
    pub count: u64,
    /// Its place in the recency order (larger is more recent).
    seq: u64,
}

type Key = (String, SocketAddr);

/// What [`discover`] found: at most `capacity` servers, one per (name, source address).
#[derive(Debug)]
pub struct Discovery {
    servers: BTreeMap<Key, Seen>,
    order: BTreeMap<u64, Key>,
    next_seq: u64,
    capacity: usize,
    expire: Duration,
    /// What is believed, and the count of what was not (see `seal.rs`).
    pub gate: Gate,
    log_limit: LogLimit,
    /// Datagrams that were not usable beacons: malformed, or not believed (`gate.refused`).
    pub ignored: u64,
    /// Servers pushed out of a full table to make room for a new one.
    pub evicted: u64,
    /// Servers dropped because they fell silent for longer than the expiry time.
    pub expired: u64,
}

impl Default for Discovery {
    fn default() -> Discovery {
        Discovery::new(MAX_SERVERS, DEFAULT_EXPIRE)
    }
}

impl Discovery {
    /// An empty table of at most `capacity` (at least 1) servers, each dropped after
    /// `expire` of silence.
    pub(crate) fn new(capacity: usize, expire: Duration) -> Discovery {
        Discovery {
            servers: BTreeMap::new(),
            order: BTreeMap::new(),
            next_seq: 0,
            capacity: capacity.max(1),
            expire,
            gate: Gate::default(),
            log_limit: LogLimit::default(),
            ignored: 0,
            evicted: 0,
            expired: 0,
        }
    }

    /// The same table, believing beacons as `gate` says (the default: no key, every address
    /// held to its datagram's source).
    pub(crate) fn with_gate(mut self, gate: Gate) -> Discovery {
        self.gate = gate;
        self
    }

    /// The servers, in a stable order (by name, then source address).
    pub fn servers(&self) -> impl Iterator<Item = &Seen> {
        self.servers.values()
    }

    /// How many servers the table holds.
    pub(crate) fn len(&self) -> usize {
        self.servers.len()
    }

    /// Whether the table is empty.
    #[cfg(test)]
    pub(crate) fn is_empty(&self) -> bool {
        self.servers.is_empty()
    }

    /// Records a beacon heard from `from` at `now`.
    pub(crate) fn record(&mut self, beacon: Beacon, from: SocketAddr, now: Instant) {
        self.expire_until(now);
        let seq = self.next_seq;
        self.next_seq += 1;
        let key = (beacon.name.clone(), from);
        if let Some(seen) = self.servers.get_mut(&key) {
            self.order.remove(&seen.seq);
            seen.beacon = beacon;
            seen.last_seen = now;
            seen.count += 1;
            seen.seq = seq;
            self.order.insert(seq, key);
            return;
        }
        if self.servers.len() >= self.capacity
            && let Some((_, oldest)) = self.order.pop_first()
        {
            self.servers.remove(&oldest);
            self.evicted += 1;
            log::debug!("table full: evicted {} from {}", oldest.0, oldest.1);
        }
        self.order.insert(seq, key.clone());
        let seen = Seen {
            beacon,
            from,
            last_seen: now,
            count: 1,
            seq,
        };
        self.servers.insert(key, seen);
    }

    /// Takes one datagram: a beacon the gate believes is recorded, anything else counted as
    /// ignored (and logged at debug level, at most once a second: strangers choose the rate).
    pub(crate) fn take(&mut self, datagram: &[u8], from: SocketAddr) {
        self.take_at(datagram, from, Instant::now(), unix_now());
    }

    /// [`take`](Discovery::take) at a given time: `now` for the table, `unix` (seconds) for
    /// the freshness of signed beacons.
    pub(crate) fn take_at(&mut self, datagram: &[u8], from: SocketAddr, now: Instant, unix: u64) {
        match self.gate.admit(datagram, from, unix) {
            Ok(beacon) => self.record(beacon, from, now),
            Err(e) => {
                self.ignored += 1;
                if let Some(left_out) = self.log_limit.allow(now) {
                    let kind = if matches!(e, Reject::Refused(_)) {
                        "refused"
                    } else {
                        "ignored"
                    };
                    log::debug!(
                        "{kind} datagram from {from}: {e} ({left_out} more ignored since the \
                         last line)"
                    );
                }
            }
        }
    }

    /// Drops every server silent for longer than the expiry time at `now`.
    pub(crate) fn expire_until(&mut self, now: Instant) {
        // The recency order is also the order of `last_seen` (the clock is monotonic), so the
        // silent ones are all at the front.
        while let Some((_, key)) = self.order.first_key_value() {
            let silent = self
                .servers
                .get(key)
                .is_none_or(|s| now.saturating_duration_since(s.last_seen) > self.expire);
            if !silent {
                break;
            }
            if let Some((_, key)) = self.order.pop_first() {
                self.servers.remove(&key);
                self.expired += 1;
            }
        }
    }
}

/// Listens on `socket` for `duration` and collects the servers heard, de-duplicated, in a
/// table with the default capacity and expiry.
pub fn discover(socket: &UdpSocket, duration: Duration) -> io::Result<Discovery> {
    let mut found = Discovery::default();
    listen(socket, duration, &mut found, &AtomicBool::new(false))?;
    Ok(found)
}

/// Listens on `socket` into `found` until `duration` has passed or `stop` is set (by a
/// signal handler: the caller then reports what was heard so far).
pub(crate) fn listen(
    socket: &UdpSocket,
    duration: Duration,
    found: &mut Discovery,
    stop: &AtomicBool,
) -> io::Result<()> {
    let deadline = Instant::now() + duration;
    let mut buf = [0u8; MAX_BEACON + 1];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if stop.load(Ordering::Relaxed) {
            // Interrupted: what is already queued was heard before the signal; take it too.
            socket.set_nonblocking(true)?;
            for _ in 0..MAX_SERVERS * 4 {
                match socket.recv_from(&mut buf) {
                    Ok((n, from)) => found.take(&buf[..n], from),
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(_) => break,
                }
            }
        }
        if left.is_zero() || stop.load(Ordering::Relaxed) {
            found.expire_until(Instant::now());
            return Ok(());
        }
        socket.set_read_timeout(Some(left.min(POLL_SLICE)))?;
        match socket.recv_from(&mut buf) {
            Ok((n, from)) => found.take(&buf[..n], from),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock
                        | io::ErrorKind::TimedOut
                        | io::ErrorKind::Interrupted
                ) => {}
            Err(e) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn beacon(name: &str) -> Beacon {
        Beacon {
            name: name.into(),
            version: "0.1.0".into(),
            services: Vec::new(),
        }
    }

    fn from(n: u16) -> SocketAddr {
        SocketAddr::from(([10, 77, 0, 1], n))
    }

    #[test]
    fn repeated_beacons_are_one_entry() {
        let mut t = Discovery::new(4, DEFAULT_EXPIRE);
        let now = Instant::now();
        for i in 0..10 {
            t.record(beacon("a"), from(1), now + Duration::from_millis(i));
        }
        assert_eq!(t.len(), 1);
        assert_eq!(t.servers().next().map(|s| s.count), Some(10));
        // Same name from another address is another server (two hosts, one --name).
        t.record(beacon("a"), from(2), now);
        assert_eq!(t.len(), 2);
    }

    #[test]
    fn the_table_never_grows_past_its_capacity_and_counts_evictions() {
        let mut t = Discovery::new(8, DEFAULT_EXPIRE);
        let now = Instant::now();
        for i in 0..10_000u16 {
            t.record(beacon(&format!("fake-{i}")), from(i), now);
            assert!(t.len() <= 8);
        }
        assert_eq!(t.len(), 8);
        assert_eq!(t.evicted, 10_000 - 8);
        assert_eq!(t.order.len(), 8, "the order index is bounded too");
    }

    #[test]
    fn a_full_table_evicts_the_server_heard_least_recently() {
        let mut t = Discovery::new(3, DEFAULT_EXPIRE);
        let t0 = Instant::now();
        let at = |ms| t0 + Duration::from_millis(ms);
        t.record(beacon("real"), from(1), at(0));
        t.record(beacon("b"), from(2), at(1));
        t.record(beacon("c"), from(3), at(2));
        t.record(beacon("real"), from(1), at(3)); // heard again: now the most recent
        t.record(beacon("d"), from(4), at(4)); // full: "b" goes
        let names: Vec<&str> = t.servers().map(|s| s.beacon.name.as_str()).collect();
        assert_eq!(names, ["c", "d", "real"]);
        assert_eq!(t.evicted, 1);
    }

    #[test]
    fn a_silent_server_expires_and_a_beaconing_one_stays() {
        let mut t = Discovery::new(8, Duration::from_secs(10));
        let t0 = Instant::now();
        let at = |s| t0 + Duration::from_secs(s);
        t.record(beacon("quiet"), from(1), at(0));
        for s in (0..=30).step_by(2) {
            t.record(beacon("chatty"), from(2), at(s));
        }
        let names: Vec<&str> = t.servers().map(|s| s.beacon.name.as_str()).collect();
        assert_eq!(names, ["chatty"]);
        assert_eq!(t.expired, 1);
        t.expire_until(at(40));
        assert_eq!(t.expired, 1, "10 s of silence is not yet more than 10 s");
        t.expire_until(at(41));
        assert!(t.is_empty());
        assert_eq!(t.expired, 2);
    }

    #[test]
    fn listening_stops_when_asked() {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        let stop = AtomicBool::new(true);
        let mut found = Discovery::default();
        let started = Instant::now();
        listen(&socket, Duration::from_secs(60), &mut found, &stop).unwrap();
        assert!(started.elapsed() < Duration::from_secs(60));
    }
}

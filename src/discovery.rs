//! UDP broadcast discovery: servers announce themselves, clients listen and list them.
//!
//! A *beacon* is one small text datagram, sent to a broadcast address (every host of the
//! LAN, or `127.255.255.255` on one machine) with `SO_BROADCAST` set:
//!
//! ```text
//! EVSERVE-BEACON 1\n                 magic and format version
//! name web-3\n                       the server's name (--name, default: host name)
//! version 0.1.0\n                    the evserve version
//! service http tcp 0.0.0.0:8080\n    one line per service: name, transport, bound address
//! service echo udp 0.0.0.0:7007\n
//! ```
//!
//! Broadcasts reach every host, so a careless interval turns many servers into a broadcast
//! storm. The interval therefore has a hard floor of [`MIN_INTERVAL`] that no flag can lower,
//! random jitter so servers started together drift apart, and a beacon is at most
//! [`MAX_BEACON`] bytes. Announcing runs on the reactor's own timer, not on a thread.

use std::collections::BTreeMap;
use std::fmt;
use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant, SystemTime};

/// The first line of every beacon, before the version number.
pub const MAGIC: &str = "EVSERVE-BEACON";
/// The beacon format version this code writes and reads.
pub const FORMAT_VERSION: u32 = 1;
/// The largest beacon sent or accepted, in bytes.
pub const MAX_BEACON: usize = 512;
/// No server announces more often than this, whatever it is told.
pub const MIN_INTERVAL: Duration = Duration::from_secs(1);
/// The default announce interval.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(2);

/// One service a server offers.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ServiceEntry {
    /// The service's name: `echo`, `framed`, `http`, ...
    pub name: String,
    /// `tcp` or `udp`.
    pub transport: String,
    /// The address it is bound to.
    pub addr: SocketAddr,
}

/// What a server says about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Beacon {
    /// The server's name.
    pub name: String,
    /// The evserve version it runs.
    pub version: String,
    /// Its services.
    pub services: Vec<ServiceEntry>,
}

/// Why a datagram is not a beacon we can use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BeaconError {
    /// Larger than [`MAX_BEACON`].
    TooLarge,
    /// Not a beacon at all, or a field is malformed.
    Malformed,
    /// A beacon of a format version this code does not read.
    UnknownVersion,
}

impl fmt::Display for BeaconError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BeaconError::TooLarge => "beacon larger than 512 bytes",
            BeaconError::Malformed => "malformed beacon",
            BeaconError::UnknownVersion => "unknown beacon format version",
        })
    }
}

impl std::error::Error for BeaconError {}

/// A name is one token of printable ASCII: it must not break the line format.
fn is_token(s: &str) -> bool {
    !s.is_empty() && s.len() <= 64 && s.bytes().all(|b| b.is_ascii_graphic())
}

impl Beacon {
    /// Encodes the beacon. Fails rather than send something a reader would reject.
    pub fn encode(&self) -> Result<Vec<u8>, BeaconError> {
        let fields_ok = is_token(&self.name)
            && is_token(&self.version)
            && self
                .services
                .iter()
                .all(|s| is_token(&s.name) && is_token(&s.transport));
        if !fields_ok {
            return Err(BeaconError::Malformed);
        }
        let mut text = format!(
            "{MAGIC} {FORMAT_VERSION}\nname {}\nversion {}\n",
            self.name, self.version
        );
        for s in &self.services {
            text.push_str(&format!("service {} {} {}\n", s.name, s.transport, s.addr));
        }
        if text.len() > MAX_BEACON {
            return Err(BeaconError::TooLarge);
        }
        Ok(text.into_bytes())
    }

    /// Decodes a datagram. Anything unexpected is an error: a beacon comes from the network,
    /// where anyone can send anything.
    pub fn decode(data: &[u8]) -> Result<Beacon, BeaconError> {
        if data.len() > MAX_BEACON {
            return Err(BeaconError::TooLarge);
        }
        let text = std::str::from_utf8(data).map_err(|_| BeaconError::Malformed)?;
        let mut lines = text.lines();
        let mut head = lines.next().unwrap_or("").split(' ');
        if head.next() != Some(MAGIC) {
            return Err(BeaconError::Malformed);
        }
        let version: u32 = head
            .next()
            .and_then(|v| v.parse().ok())
            .ok_or(BeaconError::Malformed)?;
        if version != FORMAT_VERSION {
            return Err(BeaconError::UnknownVersion);
        }
        let (mut name, mut evserve_version, mut services) = (None, None, Vec::new());
        for line in lines {
            let words: Vec<&str> = line.split(' ').collect();
            match words[..] {
                ["name", n] if is_token(n) => name = Some(n.to_string()),
                ["version", v] if is_token(v) => evserve_version = Some(v.to_string()),
                ["service", n, t, a] if is_token(n) && (t == "tcp" || t == "udp") => {
                    services.push(ServiceEntry {
                        name: n.to_string(),
                        transport: t.to_string(),
                        addr: a.parse().map_err(|_| BeaconError::Malformed)?,
                    })
                }
                _ => return Err(BeaconError::Malformed),
            }
        }
        Ok(Beacon {
            name: name.ok_or(BeaconError::Malformed)?,
            version: evserve_version.ok_or(BeaconError::Malformed)?,
            services,
        })
    }
}

/// When to send the next beacon: the interval (never below [`MIN_INTERVAL`]) plus or minus up
/// to a quarter of it, drawn at random — and never below the floor after jitter either.
#[derive(Debug, Clone)]
pub struct Schedule {
    interval: Duration,
    rng: u64,
}

impl Schedule {
    /// A schedule around `interval`, clamped up to the floor.
    pub fn new(interval: Duration) -> Schedule {
        let seed = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64)
            ^ u64::from(std::process::id()).rotate_left(32);
        Schedule {
            interval: interval.max(MIN_INTERVAL),
            rng: seed | 1,
        }
    }

    /// The interval actually used (after the floor).
    pub fn interval(&self) -> Duration {
        self.interval
    }

    /// The delay until the next beacon.
    pub fn next_delay(&mut self) -> Duration {
        // xorshift64: plenty for spreading timers; nothing here needs to be unpredictable.
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        let quarter = self.interval.as_millis() as u64 / 4;
        let offset = self.rng % (2 * quarter + 1);
        let millis = self.interval.as_millis() as u64 - quarter + offset;
        Duration::from_millis(millis).max(MIN_INTERVAL)
    }
}

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
}

/// What [`discover`] found.
#[derive(Debug, Default)]
pub struct Discovery {
    /// Servers, one per (name, source address), in a stable order.
    pub servers: BTreeMap<(String, SocketAddr), Seen>,
    /// Datagrams that were not usable beacons.
    pub ignored: u64,
}

/// Listens on `socket` for `duration` and collects the servers heard, de-duplicated.
pub fn discover(socket: &UdpSocket, duration: Duration) -> io::Result<Discovery> {
    let deadline = Instant::now() + duration;
    let mut found = Discovery::default();
    let mut buf = [0u8; MAX_BEACON + 1];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(found);
        }
        socket.set_read_timeout(Some(left))?;
        let (n, from) = match socket.recv_from(&mut buf) {
            Ok(r) => r,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                return Ok(found);
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        match Beacon::decode(&buf[..n]) {
            Ok(beacon) => {
                let seen = found
                    .servers
                    .entry((beacon.name.clone(), from))
                    .or_insert_with(|| Seen {
                        beacon: beacon.clone(),
                        from,
                        last_seen: Instant::now(),
                        count: 0,
                    });
                seen.beacon = beacon;
                seen.last_seen = Instant::now();
                seen.count += 1;
            }
            Err(e) => {
                found.ignored += 1;
                log::debug!("ignored datagram from {from}: {e}");
            }
        }
    }
}

/// Formats what [`discover`] found: a table for people, or JSON for scripts.
pub fn render(found: &Discovery, json: bool) -> String {
    let services = |b: &Beacon| -> Vec<String> {
        b.services
            .iter()
            .map(|s| format!("{}={}://{}", s.name, s.transport, s.addr))
            .collect()
    };
    if json {
        let servers: Vec<serde_json::Value> = found
            .servers
            .values()
            .map(|s| {
                serde_json::json!({
                    "name": s.beacon.name,
                    "from": s.from.to_string(),
                    "version": s.beacon.version,
                    "services": services(&s.beacon),
                    "last_seen_ms_ago": s.last_seen.elapsed().as_millis() as u64,
                    "beacons": s.count,
                })
            })
            .collect();
        let doc = serde_json::json!({ "servers": servers, "ignored": found.ignored });
        return format!("{doc}\n");
    }
    let mut out = format!(
        "{:<20} {:<22} {:>9}  {}\n",
        "NAME", "FROM", "LAST SEEN", "SERVICES"
    );
    for s in found.servers.values() {
        out.push_str(&format!(
            "{:<20} {:<22} {:>8.1}s  {}\n",
            s.beacon.name,
            s.from.to_string(),
            s.last_seen.elapsed().as_secs_f64(),
            services(&s.beacon).join(" ")
        ));
    }
    out
}

/// This machine's host name, for the default server name.
pub fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|s| s.trim().replace(|c: char| !c.is_ascii_graphic(), "-"))
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "evserve".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Beacon {
        Beacon {
            name: "web-3".into(),
            version: "0.1.0".into(),
            services: vec![
                ServiceEntry {
                    name: "echo".into(),
                    transport: "tcp".into(),
                    addr: "127.0.0.1:7007".parse().unwrap(),
                },
                ServiceEntry {
                    name: "echo".into(),
                    transport: "udp".into(),
                    addr: "[::1]:7007".parse().unwrap(),
                },
            ],
        }
    }

    #[test]
    fn round_trips() {
        let bytes = sample().encode().unwrap();
        assert!(bytes.starts_with(b"EVSERVE-BEACON 1\nname web-3\n"));
        assert_eq!(Beacon::decode(&bytes), Ok(sample()));
    }

    #[test]
    fn rejects_malformed_input() {
        let cases: &[&[u8]] = &[
            b"",
            b"hello",
            b"EVSERVE-BEACON\nname a\nversion 1\n",
            b"EVSERVE-BEACON x\nname a\nversion 1\n",
            b"EVSERVE-BEACON 1\nversion 1\n",
            b"EVSERVE-BEACON 1\nname a\n",
            b"EVSERVE-BEACON 1\nname a\nversion 1\nservice echo sctp 127.0.0.1:1\n",
            b"EVSERVE-BEACON 1\nname a\nversion 1\nservice echo tcp nowhere\n",
            b"EVSERVE-BEACON 1\nname a b\nversion 1\n",
            b"EVSERVE-BEACON 1\nname \xff\nversion 1\n",
            b"EVSERVE-BEACON 1\nname a\nversion 1\nshutdown now\n",
        ];
        for case in cases {
            assert_eq!(
                Beacon::decode(case),
                Err(BeaconError::Malformed),
                "{:?}",
                String::from_utf8_lossy(case)
            );
        }
    }

    #[test]
    fn unknown_versions_and_oversize_are_told_apart() {
        assert_eq!(
            Beacon::decode(b"EVSERVE-BEACON 2\nname a\nversion 1\n"),
            Err(BeaconError::UnknownVersion)
        );
        assert_eq!(
            Beacon::decode(&[b'a'; MAX_BEACON + 1]),
            Err(BeaconError::TooLarge)
        );
    }

    #[test]
    fn encoding_refuses_what_would_not_decode() {
        let mut b = sample();
        b.name = "two words".into();
        assert_eq!(b.encode(), Err(BeaconError::Malformed));
        let mut b = sample();
        b.services = vec![b.services[0].clone(); 40];
        assert_eq!(b.encode(), Err(BeaconError::TooLarge));
    }

    #[test]
    fn interval_floor_cannot_be_lowered() {
        for asked in [
            Duration::ZERO,
            Duration::from_millis(1),
            Duration::from_millis(999),
        ] {
            let mut s = Schedule::new(asked);
            assert_eq!(s.interval(), MIN_INTERVAL);
            for _ in 0..1000 {
                assert!(s.next_delay() >= MIN_INTERVAL);
            }
        }
    }

    #[test]
    fn jitter_stays_within_a_quarter_of_the_interval() {
        let mut s = Schedule::new(Duration::from_secs(4));
        let delays: Vec<Duration> = (0..1000).map(|_| s.next_delay()).collect();
        assert!(delays.iter().all(|d| *d >= Duration::from_secs(3)));
        assert!(delays.iter().all(|d| *d <= Duration::from_secs(5)));
        let distinct: std::collections::HashSet<_> = delays.iter().collect();
        assert!(distinct.len() > 100, "jitter should spread the delays");
    }
}

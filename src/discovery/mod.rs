//! UDP broadcast discovery: servers announce themselves, clients listen and list them.
//!
//! A *beacon* (`beacon.rs`) is one small text datagram sent to a broadcast address (every host
//! of the segment, or `127.255.255.255` on one machine) with `SO_BROADCAST` set. `discover`
//! (`table.rs`) listens, keeps a bounded table of the servers heard, and prints it
//! (`format.rs`) for people, for scripts, or as HAProxy `server` lines.
//!
//! Broadcasts reach every host, so a careless interval turns many servers into a broadcast
//! storm. The interval therefore has a hard floor of [`MIN_INTERVAL`] that no flag can lower,
//! random jitter so servers started together drift apart, and a beacon is at most
//! [`MAX_BEACON`] bytes: N servers cost about N datagrams per interval on the segment, and no
//! more. Announcing runs on the reactor's own timer, not on a thread.
//!
//! A server bound to `0.0.0.0` advertises the address its beacons leave from
//! (`advertised`): `0.0.0.0` means nothing to another machine.
//!
//! Anyone can send a beacon, so `discover` believes one only as `seal.rs` says: signed with the
//! shared `--beacon-key`, or, without a key, naming only its own source address (or addresses
//! in `--allow-from`).

pub(crate) mod beacon;
pub(crate) mod format;
pub(crate) mod seal;
pub(crate) mod table;

use std::io;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, SystemTime};

pub use beacon::{Beacon, BeaconError, MAX_BEACON, ServiceEntry};
pub use format::Format;
pub(crate) use format::render;
pub use seal::{Gate, Sealer};
pub(crate) use table::listen;
pub use table::{DEFAULT_EXPIRE, Discovery, MAX_SERVERS, Seen, discover};

/// No server announces more often than this, whatever it is told.
pub const MIN_INTERVAL: Duration = Duration::from_secs(1);
/// The default announce interval.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(2);

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

/// The local address a datagram to `to` leaves from: the kernel's routing decision, read
/// back from a UDP socket connected to `to` (connecting a UDP socket sends nothing).
pub(crate) fn source_address(to: SocketAddr) -> io::Result<IpAddr> {
    let bind: SocketAddr = if to.is_ipv6() {
        (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
    } else {
        (std::net::Ipv4Addr::UNSPECIFIED, 0).into()
    };
    let socket = UdpSocket::bind(bind)?;
    // Linux refuses to connect to a broadcast address without SO_BROADCAST.
    socket.set_broadcast(true)?;
    socket.connect(to)?;
    Ok(socket.local_addr()?.ip())
}

/// `services` as they should be announced to `to`: a service bound to an unspecified address
/// (`0.0.0.0`, `::`) is advertised at the address the beacons leave from. When that cannot
/// be learnt (no route yet), the entry is kept as it is and `discover` substitutes the
/// beacon's source address.
pub(crate) fn advertised(services: Vec<ServiceEntry>, to: SocketAddr) -> Vec<ServiceEntry> {
    if !services.iter().any(|s| s.addr.ip().is_unspecified()) {
        return services;
    }
    let source = match source_address(to) {
        Ok(ip) => ip,
        Err(e) => {
            log::warn!(
                "cannot tell which address beacons to {to} leave from ({e}); announcing \
                 0.0.0.0, which discover replaces with the sender's address"
            );
            return services;
        }
    };
    services
        .into_iter()
        .map(|mut s| {
            if s.addr.ip().is_unspecified() && s.addr.is_ipv4() == source.is_ipv4() {
                s.addr.set_ip(source);
            }
            s
        })
        .collect()
}

/// What `evserve discover` does: bind `listen`, log a `listening discover udp ADDR` line,
/// listen for `duration` or until SIGINT/SIGTERM, and return the rendered result. A signal
/// ends the listening early but still reports everything heard so far.
pub fn run(
    listen_on: SocketAddr,
    duration: Duration,
    expire: Duration,
    format: Format,
    service: &str,
    gate: Gate,
) -> io::Result<String> {
    let socket = socket2::Socket::new(
        socket2::Domain::for_address(listen_on),
        socket2::Type::DGRAM,
        None,
    )?;
    // Several listeners on one machine (and a server's own port) may share the port.
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(true)?;
    socket.bind(&listen_on.into()).map_err(|e| {
        io::Error::new(
            e.kind(),
            format!("cannot listen for beacons on --listen {listen_on}: {e}"),
        )
    })?;
    let socket: UdpSocket = socket.into();
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(signal, stop.clone())?;
    }
    log::info!(
        "listening discover udp {} for {duration:?}",
        socket.local_addr()?
    );
    let mut found = Discovery::new(MAX_SERVERS, expire).with_gate(gate);
    listen(&socket, duration, &mut found, &stop)?;
    let refused = found.gate.refused;
    if refused != seal::Refused::default() {
        log::info!(
            "beacons not believed: {} unsigned, {} badly signed, {} stale, {} replayed, {} \
             naming addresses other than their source",
            refused.unsigned,
            refused.bad_signature,
            refused.stale,
            refused.replayed,
            refused.foreign_address
        );
    }
    if stop.load(std::sync::atomic::Ordering::Relaxed) {
        log::info!(
            "interrupted: reporting the {} servers heard so far",
            found.len()
        );
    }
    if found.evicted > 0 {
        log::warn!(
            "{} servers were evicted from the full table ({MAX_SERVERS} entries): a flood of \
             beacons, or a very large segment",
            found.evicted
        );
    }
    Ok(render(&found, format, service))
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn unspecified_addresses_are_advertised_as_the_source_address() {
        let entry = |addr: &str| ServiceEntry {
            name: "http".into(),
            transport: "tcp".into(),
            addr: addr.parse().unwrap(),
        };
        let to: SocketAddr = "127.255.255.255:7099".parse().unwrap();
        let out = advertised(vec![entry("0.0.0.0:8080"), entry("127.0.0.2:9")], to);
        assert_eq!(out[0].addr, "127.0.0.1:8080".parse().unwrap());
        assert_eq!(out[1].addr, "127.0.0.2:9".parse().unwrap(), "kept as bound");
    }
}

//! Lesson: UDP broadcast — one `sendto` that every host of the network receives — and why
//! broadcasting too often becomes a storm.
//!
//! A datagram sent to a network's broadcast address (`192.168.1.255` on a /24 LAN,
//! `127.255.255.255` for the loopback network of one machine) is delivered to every host on
//! it, to whichever socket is bound to that port. The sender must first set `SO_BROADCAST`:
//! without it the kernel refuses, so that no program floods the network by accident.
//!
//! Every host must receive and look at every broadcast, wanted or not. N servers each
//! announcing every T seconds cost every host N/T datagrams a second; a careless T (10 ms) on a
//! segment of 1,000 servers is 100,000 datagrams a second per host — a broadcast storm.
//! evserve's discovery (`src/discovery.rs`) therefore floors the interval at `MIN_INTERVAL`,
//! whatever it is told, adds jitter so servers started together drift apart, and caps a beacon
//! at `MAX_BEACON` bytes. The beacons go out on the reactor's own timer
//! (`src/reactor/mod.rs`, `add_periodic`).

use std::fmt;
use std::io;
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::time::Duration;

use socket2::{Domain, Protocol, Socket, Type};

use super::{WAIT_LIMIT, loopback};
use evserve::discovery::{self, Beacon, Schedule};
use evserve::server::{self, Announce, ServerConfig, ServiceSpec};

/// The loopback network's broadcast address: every socket on this machine bound to the port.
pub const LOOPBACK_BROADCAST: Ipv4Addr = Ipv4Addr::new(127, 255, 255, 255);
/// The interval the demo server is *asked* to announce at; the floor overrides it.
pub const ASKED_INTERVAL: Duration = Duration::from_millis(10);
/// The server name in the demo's beacons.
pub const NAME: &str = "lesson-broadcast";
/// Bytes of Ethernet (14), IPv4 (20) and UDP (8) headers around each beacon on a LAN.
pub const WIRE_OVERHEAD: usize = 42;
/// Segment sizes the storm arithmetic is worked for.
pub const SEGMENTS: [u64; 3] = [10, 100, 1000];

/// One line of the storm arithmetic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StormRow {
    /// Servers on the segment.
    pub servers: u64,
    /// Datagrams per second every host receives at [`ASKED_INTERVAL`], were there no floor.
    pub unfloored_per_sec: u64,
    /// The most datagrams per second every host receives with the floor.
    pub floored_per_sec: u64,
    /// The most bytes per second that costs each host, beacons at [`discovery::MAX_BEACON`].
    pub floored_bytes_per_sec: u64,
}

/// What the broadcast lesson observed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BroadcastReport {
    /// The broadcast address and port the beacons went to.
    pub to: SocketAddr,
    /// What a `sendto` to it returned without `SO_BROADCAST`.
    pub without_so_broadcast: String,
    /// The beacon heard: its bytes.
    pub beacon_bytes: Vec<u8>,
    /// The beacon heard, decoded.
    pub beacon: Beacon,
    /// Where it came from.
    pub from: SocketAddr,
    /// The address evserve's echo service bound (announced in the beacon).
    pub echo_addr: SocketAddr,
    /// The interval the schedule uses when asked for [`ASKED_INTERVAL`].
    pub floored_interval: Duration,
    /// The shortest of 1,000 delays drawn from that schedule.
    pub shortest_delay: Duration,
    /// The longest of them.
    pub longest_delay: Duration,
    /// The storm arithmetic, one row per segment size.
    pub storm: Vec<StormRow>,
}

/// Runs the lesson: an evserve server announcing itself, a listener hearing it.
pub fn run() -> io::Result<BroadcastReport> {
    // The listener binds the wildcard address, as a discovering client on a LAN would:
    // broadcasts are delivered to sockets bound to the port on any address.
    let listener = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))?;
    listener.set_reuse_address(true)?;
    listener.bind(&SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)).into())?;
    let listener: UdpSocket = listener.into();
    let port = listener.local_addr()?.port();
    let to = SocketAddr::from((LOOPBACK_BROADCAST, port));

    let plain = UdpSocket::bind(SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)))?;
    let without_so_broadcast = match plain.send_to(b"not allowed", to) {
        Ok(n) => format!("sent {n} bytes (this system allows it)"),
        Err(e) => e.to_string(),
    };

    let config = ServerConfig {
        services: vec![ServiceSpec::Echo(loopback())],
        announce: Some(Announce {
            to,
            name: NAME.to_string(),
            interval: ASKED_INTERVAL,
            key: None,
        }),
        workers: 1,
        ..ServerConfig::default()
    };
    let running = server::spawn(config).map_err(|e| io::Error::other(e.to_string()))?;

    // The first beacon goes out as the server starts; wait for ours (a beacon from anything
    // else on this port, or junk, is skipped), with a deadline.
    listener.set_read_timeout(Some(WAIT_LIMIT))?;
    let mut buf = [0u8; discovery::MAX_BEACON + 1];
    let (beacon_bytes, beacon, from) = loop {
        let (n, from) = listener.recv_from(&mut buf)?;
        if let Ok(beacon) = Beacon::decode(&buf[..n])
            && beacon.name == NAME
        {
            break (buf[..n].to_vec(), beacon, from);
        }
    };

    let mut schedule = Schedule::new(ASKED_INTERVAL);
    let delays: Vec<Duration> = (0..1000).map(|_| schedule.next_delay()).collect();
    let floored_interval = schedule.interval();
    let per_sec = |interval: Duration, n: u64| (n as f64 / interval.as_secs_f64()).round() as u64;
    let storm = SEGMENTS
        .iter()
        .map(|&n| StormRow {
            servers: n,
            unfloored_per_sec: per_sec(ASKED_INTERVAL, n),
            floored_per_sec: per_sec(discovery::MIN_INTERVAL, n),
            floored_bytes_per_sec: per_sec(discovery::MIN_INTERVAL, n)
                * (discovery::MAX_BEACON + WIRE_OVERHEAD) as u64,
        })
        .collect();

    Ok(BroadcastReport {
        to,
        without_so_broadcast,
        beacon_bytes,
        beacon,
        from,
        echo_addr: running.addrs[0],
        floored_interval,
        shortest_delay: delays.iter().copied().min().unwrap_or_default(),
        longest_delay: delays.iter().copied().max().unwrap_or_default(),
        storm,
    })
}

impl fmt::Display for BroadcastReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "== broadcast: one sendto, every host receives it ==")?;
        writeln!(
            f,
            "1. sendto({}) without SO_BROADCAST: {}.\n   \
             The kernel refuses until the socket says it means it (setsockopt SO_BROADCAST 1).",
            self.to, self.without_so_broadcast
        )?;
        writeln!(
            f,
            "2. evserve serves echo on {} and announces itself to {}.\n   \
             A socket bound to 0.0.0.0:{} heard this {}-byte beacon from {}:",
            self.echo_addr,
            self.to,
            self.to.port(),
            self.beacon_bytes.len(),
            self.from
        )?;
        for line in String::from_utf8_lossy(&self.beacon_bytes).lines() {
            writeln!(f, "     | {line}")?;
        }
        writeln!(
            f,
            "   `evserve discover` listens the same way and lists every server it hears."
        )?;
        writeln!(
            f,
            "3. The server was asked to announce every {:?}; it uses {:?} (the floor, MIN_INTERVAL),\n   \
             with jitter: 1,000 delays drawn ranged from {:?} to {:?}.",
            ASKED_INTERVAL, self.floored_interval, self.shortest_delay, self.longest_delay
        )?;
        writeln!(
            f,
            "   Every host receives every beacon. Per host, N servers cost N / interval datagrams/s:"
        )?;
        writeln!(
            f,
            "     {:>7}  {:>16}  {:>14}  {:>22}",
            "servers",
            format!("at {ASKED_INTERVAL:?}"),
            format!("at {:?} floor", discovery::MIN_INTERVAL),
            format!(
                "bytes/s (<= {} B each)",
                discovery::MAX_BEACON + WIRE_OVERHEAD
            )
        )?;
        for row in &self.storm {
            writeln!(
                f,
                "     {:>7}  {:>16}  {:>14}  {:>22}",
                row.servers, row.unfloored_per_sec, row.floored_per_sec, row.floored_bytes_per_sec
            )?;
        }
        match self.storm.last() {
            Some(row) => writeln!(
                f,
                "   Without the floor, {} servers would make a storm of {} datagrams/s on every\n   \
                 host; with it, at most {} — and jitter keeps them from arriving in bursts.",
                row.servers, row.unfloored_per_sec, row.floored_per_sec
            ),
            None => Ok(()),
        }
    }
}

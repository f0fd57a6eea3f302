//! Lesson: UDP sends datagrams — each `sendto` is one message, each `recvfrom` takes one.
//!
//! There is no connection: no `listen`, no `accept`, no `connect`. The server binds one
//! socket and answers each datagram to the address it came from. Boundaries are kept: three
//! `sendto`s are three `recvfrom`s, even when all three wait in the buffer together (TCP would
//! glue them). But a datagram larger than the buffer given to `recvfrom` is cut, and the rest
//! is lost — silently: the call just returns the buffer's size.
//!
//! evserve therefore receives into a buffer one byte larger than the largest datagram it
//! accepts (`--max-datagram`): a read that fills the buffer *is* an oversized datagram, which
//! it drops and counts as `datagrams_truncated` (`src/reactor/udp.rs`, `receive`).

use std::fmt;
use std::io;
use std::net::{SocketAddr, UdpSocket};

use super::{Shown, WAIT_LIMIT, loopback, start, wait_for};
use evserve::config::Limits;
use evserve::server::ServiceSpec;

/// The server's `max_datagram` in this lesson, deliberately small.
pub const MAX_DATAGRAM: usize = 64;
/// The three datagrams whose boundaries survive.
pub const DATAGRAMS: [&str; 3] = ["one", "two", "three"];
/// The datagram the client reads with a too-small buffer.
pub const LONG: &str = "hello, world";
/// The client's too-small buffer.
pub const SMALL_BUFFER: usize = 5;
/// The size of the datagram over the server's limit.
pub const OVERSIZED: usize = 100;

/// What the UDP lesson observed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UdpReport {
    /// The server's address.
    pub server: SocketAddr,
    /// Each `recv_from` of the three echoed datagrams: the payload and where it came from.
    pub boundaries: Vec<(Vec<u8>, SocketAddr)>,
    /// What a [`SMALL_BUFFER`]-byte `recv_from` got of [`LONG`].
    pub cut: Vec<u8>,
    /// What the next `recv_from` got, after a `"ping"`: the rest of [`LONG`] is gone.
    pub after_cut: Vec<u8>,
    /// evserve's `datagrams_truncated` after the [`OVERSIZED`] datagram.
    pub truncated: u64,
    /// The reply to the `"ping"` sent after the oversized datagram (none came for that one).
    pub after_oversized: Vec<u8>,
    /// evserve's `datagrams_in` at the end.
    pub datagrams_in: u64,
    /// evserve's `datagrams_out` at the end.
    pub datagrams_out: u64,
    /// evserve's `accepted`: connections, of which UDP has none.
    pub accepted: u64,
}

/// Runs the lesson against evserve's UDP echo with a small `max_datagram`.
pub fn run() -> io::Result<UdpReport> {
    let limits = Limits {
        max_datagram: MAX_DATAGRAM,
        ..Limits::default()
    };
    let server = start(ServiceSpec::UdpEcho(loopback()), limits)?;
    let stats = server.stats.clone();
    let to = server.addrs[0];
    let client = UdpSocket::bind(loopback())?;
    client.set_read_timeout(Some(WAIT_LIMIT))?;
    let mut buf = [0u8; 1024];

    for d in DATAGRAMS {
        client.send_to(d.as_bytes(), to)?;
    }
    // Let all three replies queue up in our receive buffer before the first recv_from.
    wait_for("three replies", || Ok(stats.datagrams_out.get() >= 3))?;
    let mut boundaries = Vec::new();
    for _ in DATAGRAMS {
        let (n, from) = client.recv_from(&mut buf)?;
        boundaries.push((buf[..n].to_vec(), from));
    }

    client.send_to(LONG.as_bytes(), to)?;
    let mut small = [0u8; SMALL_BUFFER];
    let (n, _) = client.recv_from(&mut small)?;
    let cut = small[..n].to_vec();
    client.send_to(b"ping", to)?;
    let (n, _) = client.recv_from(&mut buf)?;
    let after_cut = buf[..n].to_vec();

    client.send_to(&[b'u'; OVERSIZED], to)?;
    wait_for("evserve to count the oversized datagram", || {
        Ok(stats.datagrams_truncated.get() >= 1)
    })?;
    let truncated = stats.datagrams_truncated.get();
    client.send_to(b"ping", to)?;
    let (n, _) = client.recv_from(&mut buf)?;
    let after_oversized = buf[..n].to_vec();
    // evserve counts a reply after sending it, so ours may have arrived before the count.
    let replies = DATAGRAMS.len() as u64 + 3; // the long one and the two pings
    wait_for("evserve to count its replies", || {
        Ok(stats.datagrams_out.get() >= replies)
    })?;

    Ok(UdpReport {
        server: to,
        boundaries,
        cut,
        after_cut,
        truncated,
        after_oversized,
        datagrams_in: stats.datagrams_in.get(),
        datagrams_out: stats.datagrams_out.get(),
        accepted: stats.accepted.get(),
    })
}

impl fmt::Display for UdpReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "== udp: datagrams keep their boundaries, and can be cut =="
        )?;
        let sent: Vec<String> = DATAGRAMS.iter().map(|d| format!("{d:?}")).collect();
        writeln!(
            f,
            "1. Three sendto()s to evserve's UDP echo at {}: {}.\n   \
             All three replies wait in our buffer, then each recvfrom() returns exactly one:",
            self.server,
            sent.join(", ")
        )?;
        for (payload, from) in &self.boundaries {
            writeln!(
                f,
                "     {} bytes {} from {from}",
                payload.len(),
                Shown(payload)
            )?;
        }
        writeln!(
            f,
            "   (TCP would have glued them into one read of 11 bytes; see `demo sticky`.)"
        )?;
        writeln!(
            f,
            "2. {LONG:?} ({} bytes) comes back; recvfrom() with a {SMALL_BUFFER}-byte buffer returns {}.\n   \
             The next recvfrom() returns {}: the rest of the datagram is gone, with no error.",
            LONG.len(),
            Shown(&self.cut),
            Shown(&self.after_cut)
        )?;
        writeln!(
            f,
            "3. A {OVERSIZED}-byte datagram to evserve, whose max_datagram is {MAX_DATAGRAM}: it receives\n   \
             into {} bytes, so a full buffer means \"cut\". It dropped it, no reply, and counted\n   \
             datagrams_truncated={}. The next \"ping\" is answered {}.",
            MAX_DATAGRAM + 1,
            self.truncated,
            Shown(&self.after_oversized)
        )?;
        writeln!(
            f,
            "4. evserve's counters: datagrams_in={} datagrams_out={} accepted={}: no connection,\n   \
             no accept — one socket answers every client by the address each datagram came from.",
            self.datagrams_in, self.datagrams_out, self.accepted
        )
    }
}

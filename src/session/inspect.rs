//! Asking the reactor about its open connections (what `GET /connections` shows).
//!
//! A session never sees the reactor's connections: during a callback the reactor holds the
//! calling connection, and the others are none of a protocol's business. So looking at them
//! is a request and an answer, the way a broadcast is a request the reactor carries out
//! between callbacks:
//!
//! ```text
//!  session                             reactor
//!  on_input: cx.inspect(Inspect{..}) ─► (callback returns) one pass over the slab: count the
//!                                        matches, describe the first `limit` of them
//!  on_drain: cx.connections() ◄──────── Some(&ConnTable), in one extra on_drain call
//! ```
//!
//! The answer comes in an `on_drain` call because every session that wraps another (TLS, the
//! PROXY protocol, an HTTP upgrade) already passes `on_drain` on to the session inside, with a
//! context that carries the table along: no wrapper needed a new callback. The work is
//! bounded: the pass counts every connection (a comparison each) but describes only the first
//! `limit`, each with three `getsockopt` calls; nothing is computed unless asked.

use std::net::SocketAddr;

/// The most connections one inspection describes in detail; the rest are only counted.
pub(crate) const MAX_LIMIT: usize = 1000;

/// Connections described when the asker does not say how many.
pub(crate) const DEFAULT_LIMIT: usize = 100;

/// A request for a [`ConnTable`] (see [`Ctx::inspect`](super::Ctx::inspect)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Inspect {
    /// Only connections of the listener whose service has this name (`Service::name`).
    pub service: Option<ServiceName>,
    /// How many to describe, at most [`MAX_LIMIT`] (a larger value is taken as that).
    pub limit: usize,
}

/// A service name, held inline so that a pending [`Inspect`] stays `Copy` like the rest of
/// the [`Watch`](super::Watch) it waits in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ServiceName {
    bytes: [u8; ServiceName::MAX],
    len: u8,
}

impl ServiceName {
    /// The longest name held; every service name evserve has (`tls-framed`) fits.
    pub(crate) const MAX: usize = 16;

    /// `name`, if it is at most [`ServiceName::MAX`] bytes (a longer one names no service).
    pub(crate) fn new(name: &str) -> Option<ServiceName> {
        let mut bytes = [0; ServiceName::MAX];
        bytes
            .get_mut(..name.len())?
            .copy_from_slice(name.as_bytes());
        Some(ServiceName {
            bytes,
            len: name.len() as u8,
        })
    }

    /// Whether this is `name`.
    pub(crate) fn is(&self, name: &str) -> bool {
        self.bytes.get(..usize::from(self.len)) == Some(name.as_bytes())
    }
}

/// Where a connection is in its life, as the reactor's `Phase` says (see `reactor/conn.rs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ConnState {
    /// Input is read and handed to the session.
    Open,
    /// The session chose to close (or the server is stopping): what is owed is being
    /// written; input is read and discarded.
    Closing,
    /// Everything was written and our side shut down (a FIN sent); input is discarded until
    /// the peer closes too, so its last request cannot turn into a reset that destroys the
    /// answer.
    Lingering,
}

/// The read side of a connection (the reactor's `ReadSide`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ReadState {
    /// Drained to `WouldBlock`: waiting for a READABLE event.
    Waiting,
    /// Readable: there may be bytes to read (edge-triggered readiness, remembered).
    Ready,
    /// A read returned 0: the peer will send nothing more.
    Closed,
}

/// The write side of a connection (the reactor's `WriteSide`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WriteState {
    /// Writes go out at once.
    Ready,
    /// The kernel's send buffer was full: waiting for WRITABLE.
    Blocked,
    /// The loop's write budget for this turn was spent: waiting for the next turn.
    Deferred,
    /// A write failed: the connection is about to go.
    Broken,
}

macro_rules! names {
    ($ty:ty { $($variant:ident => $name:literal),* $(,)? }) => {
        impl $ty {
            /// The name shown in `/connections`.
            pub(crate) fn name(self) -> &'static str {
                match self {
                    $(Self::$variant => $name,)*
                }
            }
        }
    };
}

names!(ConnState { Open => "open", Closing => "closing", Lingering => "lingering" });
names!(ReadState { Waiting => "waiting", Ready => "ready", Closed => "closed" });
names!(WriteState { Ready => "ready", Blocked => "blocked", Deferred => "deferred", Broken => "broken" });

/// What the kernel says of a TCP connection (`getsockopt(TCP_INFO)`, `struct tcp_info` in
/// tcp(7)), the fields a person reading about TCP meets first.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TcpInfo {
    /// The kernel's TCP state (`TCP_ESTABLISHED` is 1, `TCP_CLOSE_WAIT` 8; see tcp_states.h).
    pub state: u8,
    /// Smoothed round-trip time, microseconds.
    pub rtt_us: u32,
    /// Its variation, microseconds.
    pub rttvar_us: u32,
    /// Congestion window, in segments.
    pub snd_cwnd: u32,
    /// Maximum segment size we send.
    pub snd_mss: u32,
    /// Consecutive retransmissions of the segment now being retried (0 when all is well).
    pub retransmits: u8,
    /// Segments sent and not yet acknowledged.
    pub unacked: u32,
    /// Retransmissions over the connection's whole life.
    pub total_retrans: u32,
}

/// One open connection, as the reactor sees it and as the kernel sees its socket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ConnRow {
    /// The socket's file descriptor.
    pub fd: i32,
    /// The listener's service (`Service::name`).
    pub service: &'static str,
    /// Our end (`getsockname`), if the kernel still knows it.
    pub local: Option<SocketAddr>,
    /// The peer's end, as accepted.
    pub peer: SocketAddr,
    /// Where it is in its life.
    pub state: ConnState,
    /// Its read side.
    pub read: ReadState,
    /// Reading is suspended until the output drains (backpressure).
    pub read_paused: bool,
    /// Neither read nor refilled until the server holds less than its memory budget
    /// (`--max-memory`): it already holds bytes, and the server holds too many.
    pub held_back: bool,
    /// Its write side.
    pub write: WriteState,
    /// Bytes read from the socket since it was accepted.
    pub bytes_in: u64,
    /// Bytes written to the socket since it was accepted.
    pub bytes_out: u64,
    /// Bytes accepted from the session and not yet written to the socket.
    pub pending_out: usize,
    /// Milliseconds since it was accepted.
    pub age_ms: u64,
    /// Milliseconds since a byte was last read or written.
    pub idle_ms: u64,
    /// `SO_RCVBUF`, if it could be read.
    pub rcvbuf: Option<usize>,
    /// `SO_SNDBUF`, if it could be read.
    pub sndbuf: Option<usize>,
    /// `TCP_INFO`, if it could be read (see `reactor::socket::install_tcp_info`).
    pub tcp_info: Option<TcpInfo>,
}

/// The reactor's answer to an [`Inspect`]: some of the connections of the reactor (the
/// worker) that serves the asking connection, and how many there are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ConnTable {
    /// The first matching connections, at most the limit asked for, in the reactor's order.
    pub rows: Vec<ConnRow>,
    /// Connections that matched the filter, described or not.
    pub matched: usize,
    /// Every open connection of this reactor.
    pub total: usize,
}

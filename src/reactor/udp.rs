//! A UDP socket on the loop: datagrams in, replies out.
//!
//! Each `recv_from` returns exactly one datagram. The receive buffer is one byte larger than
//! the largest datagram accepted, so a datagram that would not fit is *seen* to be too large
//! (the kernel would otherwise truncate it silently) and is dropped and counted. Replies are
//! sent at once; when the socket cannot take one, it waits in a bounded queue until WRITABLE,
//! and when the queue is full the reply is dropped and counted — UDP promises no delivery, and
//! a flood must not grow memory.
//!
//! A datagram's source address is whatever its sender wrote, so a reply can be aimed: one
//! datagram "from" another echo service starts two servers answering each other forever
//! (RFC 862's echo-to-echo loop). A datagram from one of this reactor's own UDP sockets, or
//! from a source the service will not answer ([`DatagramService::answers`]), is dropped
//! unanswered and counted as `udp_loops_dropped`.

use std::collections::VecDeque;
use std::io;
use std::net::SocketAddr;

use log::debug;
use mio::net::UdpSocket;
use mio::{Interest, Token};

use super::Core;
use crate::log_limit::LogLimit;
use crate::session::DatagramService;

/// A bound UDP socket and what it serves.
pub(super) struct UdpEndpoint {
    /// The socket.
    pub socket: UdpSocket,
    /// The service answering its datagrams.
    pub service: Box<dyn DatagramService>,
    /// The address it is bound to.
    pub addr: SocketAddr,
    token: Token,
    queue: VecDeque<(Vec<u8>, SocketAddr)>,
    write_interest: bool,
    loop_log: LogLimit,
}

impl UdpEndpoint {
    /// Wraps a bound socket registered under `token`.
    pub(super) fn new(
        socket: UdpSocket,
        service: Box<dyn DatagramService>,
        addr: SocketAddr,
        token: Token,
    ) -> UdpEndpoint {
        UdpEndpoint {
            socket,
            service,
            addr,
            token,
            queue: VecDeque::new(),
            write_interest: false,
            loop_log: LogLimit::default(),
        }
    }

    /// Handles a readiness event: sends queued replies if writable, then receives up to the
    /// budget. Returns `true` if the budget ran out with datagrams possibly left.
    pub(super) fn ready(&mut self, core: &mut Core, readable: bool, writable: bool) -> bool {
        if writable {
            self.send_queued(core);
        }
        let more = readable && self.receive(core);
        self.update_interest(core);
        more
    }

    fn receive(&mut self, core: &mut Core) -> bool {
        let cap = (core.limits.max_datagram + 1).min(core.read_buf.len());
        for _ in 0..core.limits.read_budget * 16 {
            let (n, peer) = match self.socket.recv_from(&mut core.read_buf[..cap]) {
                Ok(r) => r,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return false,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    // e.g. ECONNREFUSED: an ICMP error for an earlier reply. Not fatal.
                    debug!("udp {}: recv: {e}", self.addr);
                    continue;
                }
            };
            if n >= cap {
                core.stats.datagrams_truncated.incr();
                debug!(
                    "udp {}: datagram from {peer} over {} bytes dropped",
                    self.addr,
                    cap - 1
                );
                continue;
            }
            core.stats.datagrams_in.incr();
            if core.own_udp.iter().any(|own| is_own(*own, peer)) || !self.service.answers(peer) {
                core.stats.udp_loops_dropped.incr();
                if let Some(left_out) = self.loop_log.allow(core.now) {
                    debug!(
                        "udp {}: datagram from {peer} not answered: a service port (or ours) \
                         could loop ({left_out} more since the last line)",
                        self.addr
                    );
                }
                continue;
            }
            core.out_buf.clear();
            if self
                .service
                .on_datagram(&core.read_buf[..n], peer, &mut core.out_buf)
            {
                self.reply(core, peer);
            }
            core.out_buf.clear();
        }
        true
    }

    fn reply(&mut self, core: &mut Core, peer: SocketAddr) {
        if self.queue.is_empty() {
            match self.socket.send_to(&core.out_buf, peer) {
                Ok(_) => {
                    core.stats.datagrams_out.incr();
                    return;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => {
                    debug!("udp {}: send to {peer}: {e}", self.addr);
                    core.stats.datagrams_dropped.incr();
                    return;
                }
            }
        }
        if self.queue.len() < core.limits.udp_queue {
            self.queue.push_back((core.out_buf.clone(), peer));
        } else {
            core.stats.datagrams_dropped.incr();
        }
    }

    fn send_queued(&mut self, core: &mut Core) {
        while let Some((data, peer)) = self.queue.front() {
            match self.socket.send_to(data, *peer) {
                Ok(_) => core.stats.datagrams_out.incr(),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) => {
                    debug!("udp {}: send to {peer}: {e}", self.addr);
                    core.stats.datagrams_dropped.incr();
                }
            }
            self.queue.pop_front();
        }
    }

    fn update_interest(&mut self, core: &Core) {
        let want_write = !self.queue.is_empty();
        if want_write != self.write_interest {
            let interest = if want_write {
                Interest::READABLE | Interest::WRITABLE
            } else {
                Interest::READABLE
            };
            if let Err(e) = core
                .registry
                .reregister(&mut self.socket, self.token, interest)
            {
                debug!("udp {}: reregister: {e}", self.addr);
            }
            self.write_interest = want_write;
        }
    }
}

/// Whether `peer` is the socket bound at `own`. A socket bound to an unspecified address
/// (`0.0.0.0`) receives on every local address, and telling which addresses are local would
/// cost a system call per datagram: its port alone decides, at the price of ignoring a remote
/// client that happens to use the same source port (a service port, rarely an ephemeral one).
fn is_own(own: SocketAddr, peer: SocketAddr) -> bool {
    own.port() == peer.port()
        && (own.ip().is_unspecified() || own.ip().to_canonical() == peer.ip().to_canonical())
}

#[cfg(test)]
mod tests {
    use super::is_own;

    #[test]
    fn own_sockets_are_known_by_address_and_port() {
        let at = |s: &str| s.parse().unwrap();
        assert!(is_own(at("127.0.0.1:7007"), at("127.0.0.1:7007")));
        assert!(is_own(at("0.0.0.0:7007"), at("10.0.0.9:7007")));
        assert!(is_own(at("[::]:7007"), at("[::ffff:127.0.0.1]:7007")));
        assert!(is_own(at("127.0.0.1:7007"), at("[::ffff:127.0.0.1]:7007")));
        assert!(!is_own(at("127.0.0.1:7007"), at("127.0.0.1:7008")));
        assert!(!is_own(at("127.0.0.1:7007"), at("127.0.0.2:7007")));
    }
}

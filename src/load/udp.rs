//! One client UDP socket of the load: datagrams out, stamped replies back.
//!
//! Each socket is bound to an ephemeral port and `connect`ed to the server, so `send` needs
//! no address, `recv` only sees the server's datagrams, and an ICMP "port unreachable" comes
//! back as a `ConnectionRefused` error. A socket keeps up to `pipeline` datagrams in flight;
//! each carries a sequence stamp, and a reply answers the request with its stamp wherever it
//! is in the window. A lost datagram is never sent again: its request times out. A reply that
//! arrives after its request timed out finds nothing to answer and is ignored (it was already
//! counted, as a timeout). A reply that is not the datagram sent counts as an error against
//! the oldest request, which it most likely answers.
//!
//! UDP has no backpressure but a full send buffer: a `send` that would block leaves the
//! request owed and asks for WRITABLE until the buffer drains.

use std::io::{self, ErrorKind};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Instant;

use log::debug;
use mio::event::Event;
use mio::net::UdpSocket;
use mio::{Interest, Token};

use super::echo;
use super::inflight::{InFlight, Request};
use super::report::Failure;
use super::runner::{Ctx, Slot};

/// One UDP socket of a load thread.
pub(super) struct Socket {
    socket: UdpSocket,
    inflight: InFlight,
    /// The stamp of the next datagram.
    next_seq: u64,
    /// Requests the pacing dealt to this slot so far.
    taken: u64,
    /// WRITABLE interest is registered.
    want_write: bool,
    /// The outgoing datagram, restamped for each request.
    datagram: Vec<u8>,
}

impl Slot for Socket {
    fn open(i: usize, ctx: &mut Ctx, _now: Instant) -> io::Result<Socket> {
        let any: SocketAddr = match ctx.addr {
            SocketAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
            SocketAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
        };
        let mut socket = UdpSocket::bind(any)?;
        socket.connect(ctx.addr)?;
        ctx.registry
            .register(&mut socket, Token(i), Interest::READABLE)?;
        ctx.report.connects += 1;
        Ok(Socket {
            socket,
            inflight: InFlight::with_capacity(ctx.pipeline),
            next_seq: 0,
            taken: 0,
            want_write: false,
            datagram: ctx.driver.request().to_vec(),
        })
    }

    fn on_event(&mut self, i: usize, event: &Event, ctx: &mut Ctx, now: Instant) {
        if event.is_readable() || event.is_error() {
            self.receive(ctx, now);
        }
        self.fill(i, ctx, now);
    }

    fn fill(&mut self, i: usize, ctx: &mut Ctx, now: Instant) {
        while self.inflight.len() < ctx.pipeline {
            let Some(intended) = ctx.pacing.grant(i, &mut self.taken, now) else {
                break;
            };
            self.inflight.push(Request {
                intended,
                since: now,
                seq: self.next_seq,
            });
            self.next_seq = self.next_seq.wrapping_add(1);
        }
        self.send(i, ctx);
    }

    fn tick(&mut self, i: usize, ctx: &mut Ctx, now: Instant) {
        let expired = self.inflight.expire(now, ctx.timeout) as u64;
        ctx.report.error(Failure::Timeout, expired, || None);
        self.fill(i, ctx, now);
    }
}

impl Socket {
    /// Sends the owed datagrams until done or the send buffer is full.
    fn send(&mut self, i: usize, ctx: &mut Ctx) {
        while let Some(request) = self.inflight.next_unsent() {
            ctx.driver.stamp_datagram(request.seq, &mut self.datagram);
            match self.socket.send(&self.datagram) {
                Ok(n) => {
                    ctx.report.bytes_sent += n as u64;
                    self.inflight.wrote(1);
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => {
                    // Typically an earlier datagram's ICMP error, reported now: this one
                    // was not sent. It fails; the next is tried.
                    debug!("send: {e}");
                    self.inflight.drop_next_unsent();
                    ctx.report
                        .error(Failure::Io(e.kind()), 1, || Some(format!("send: {e}")));
                }
            }
        }
        let want_write = self.inflight.unsent() > 0;
        if want_write != self.want_write {
            let interest = if want_write {
                Interest::READABLE | Interest::WRITABLE
            } else {
                Interest::READABLE
            };
            if ctx
                .registry
                .reregister(&mut self.socket, Token(i), interest)
                .is_ok()
            {
                self.want_write = want_write;
            }
        }
    }

    /// Receives every datagram waiting and judges each.
    fn receive(&mut self, ctx: &mut Ctx, now: Instant) {
        let mask = echo::stamp_mask(ctx.driver.request().len());
        loop {
            match self.socket.recv(&mut ctx.scratch) {
                Ok(n) => {
                    ctx.report.bytes_received += n as u64;
                    match ctx.driver.check_datagram(&ctx.scratch[..n]) {
                        Ok(stamp) => {
                            // None: a late reply to a request that timed out; already counted.
                            if let Some(request) = self.inflight.answer_stamp(stamp, mask) {
                                ctx.report.record_ok(request.intended, now);
                            }
                        }
                        Err(outcome) => self.fail_oldest(ctx, Failure::of(outcome), None),
                    }
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => {
                    // An ICMP error for a datagram sent earlier: the server is not there.
                    debug!("recv: {e}");
                    let example = Some(format!("{e} (is the server listening on that UDP port?)"));
                    self.fail_oldest(ctx, Failure::Io(e.kind()), example);
                }
            }
        }
    }

    /// Counts the oldest request waiting for a reply as failed.
    fn fail_oldest(&mut self, ctx: &mut Ctx, why: Failure, example: Option<String>) {
        if self.inflight.answer().is_some() {
            debug!("failed: {why}");
            ctx.report.error(why, 1, || example);
        }
    }
}

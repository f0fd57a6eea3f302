//! A connection describing itself when its reactor is asked (`Ctx::inspect`, see
//! `session/inspect.rs`), and handing its session the answer.
//!
//! Kept apart from `conn.rs`: nothing here runs unless someone asks (`GET /connections`), and
//! the life of a connection reads better without it.

use std::os::fd::{AsFd, AsRawFd};
use std::time::Instant;

use socket2::SockRef;

use super::core::{Memory, Phase, ReadSide, Readiness, WriteSide};
use super::{Conn, Core, Status};
use crate::session::inspect::{ConnRow, ConnState, ConnTable, Inspect, ReadState, WriteState};

impl Conn {
    /// The inspection its session asked for in its last callback, if any; taken, so that
    /// each request is answered once.
    pub(crate) fn take_inspect(&mut self) -> Option<Inspect> {
        self.watch.inspect.take()
    }

    /// Whether its session has asked for an inspection not yet answered.
    pub(crate) fn wants_inspection(&self) -> bool {
        self.watch.inspect.is_some()
    }

    /// Describes the connection: the reactor's own view of it, then its socket's, read from
    /// the kernel (`getsockname`, `SO_RCVBUF`, `SO_SNDBUF`, `TCP_INFO`: four system calls).
    pub(crate) fn describe(&self, service: &'static str, now: Instant) -> ConnRow {
        let socket = SockRef::from(&self.socket);
        let (opened, last_active, bytes_in, bytes_out) = self.state.activity();
        let since = |then: Instant| now.saturating_duration_since(then).as_millis() as u64;
        ConnRow {
            fd: self.socket.as_raw_fd(),
            service,
            local: self.socket.local_addr().ok(),
            peer: self.peer,
            state: match self.state.phase() {
                Phase::Open => ConnState::Open,
                Phase::Finishing | Phase::Closing => ConnState::Closing,
                Phase::Lingering { .. } => ConnState::Lingering,
            },
            read: match self.state.read_side() {
                ReadSide::Reading(Readiness::Waiting) | ReadSide::Paused(Readiness::Waiting) => {
                    ReadState::Waiting
                }
                ReadSide::Reading(_) | ReadSide::Paused(_) => ReadState::Ready,
                ReadSide::Closed => ReadState::Closed,
            },
            read_paused: matches!(self.state.read_side(), ReadSide::Paused(_)),
            held_back: self.state.memory() == Memory::HeldBack,
            write: match self.state.write_side() {
                WriteSide::Ready => WriteState::Ready,
                WriteSide::Blocked => WriteState::Blocked,
                WriteSide::Deferred => WriteState::Deferred,
                WriteSide::Broken => WriteState::Broken,
            },
            bytes_in,
            bytes_out,
            pending_out: self.pending(),
            age_ms: since(opened),
            idle_ms: since(last_active),
            rcvbuf: socket.recv_buffer_size().ok(),
            sndbuf: socket.send_buffer_size().ok(),
            tcp_info: crate::reactor::inspect::tcp_info(self.socket.as_fd()),
        }
    }

    /// Hands the session the answer to its inspection: one more `on_drain` call, whose
    /// context carries `table` (see `Ctx::connections`); then does whatever work follows (the
    /// answer written, requests pipelined behind it). A connection no longer open gets none.
    pub(crate) fn answer_inspection(&mut self, table: &ConnTable, core: &mut Core) -> Status {
        if !self.state.is_open() {
            return Ok(());
        }
        let flow = self.call_with(core, Some(table), |s, cx| s.on_drain(cx));
        self.apply(flow, core).and_then(|()| self.drive(core))
    }
}

//! The reactor's side of `Ctx::inspect`: one pass over the connections, described up to a
//! limit (see `session/inspect.rs` for the exchange, `conn/inspect.rs` for one connection).
//!
//! `TCP_INFO` has no safe wrapper in socket2 (rust-lang/socket2#362 is open), rustix or the
//! standard library, and reading it means handing the kernel a pointer: `unsafe`, which this
//! crate forbids. So the library only knows *how to ask*: the `evserve` binary, which already
//! holds the project's one other `unsafe` call (`malloc.rs`), lends it a reader at start-up
//! ([`install_tcp_info`]). A program embedding the library without one gets `tcp_info: null`.

use std::io;
use std::os::fd::BorrowedFd;
use std::sync::OnceLock;

use log::debug;

use super::Reactor;
use super::conn::Status;
use super::token;
use crate::session::inspect::{ConnTable, Inspect, MAX_LIMIT, TcpInfo};

/// Reads `getsockopt(IPPROTO_TCP, TCP_INFO)` for a socket.
pub(crate) type TcpInfoReader = fn(BorrowedFd<'_>) -> io::Result<TcpInfo>;

static TCP_INFO: OnceLock<TcpInfoReader> = OnceLock::new();

/// Gives every reactor of the process a way to read `TCP_INFO`; the first call wins (returns
/// whether this one did).
pub fn install_tcp_info(reader: TcpInfoReader) -> bool {
    TCP_INFO.set(reader).is_ok()
}

/// `TCP_INFO` for `fd`, if a reader was installed and the kernel answered.
pub(super) fn tcp_info(fd: BorrowedFd<'_>) -> Option<TcpInfo> {
    let read = TCP_INFO.get()?;
    read(fd)
        .map_err(|e| debug!("getsockopt(TCP_INFO): {e}"))
        .ok()
}

impl Reactor {
    /// Answers the inspection the connection `key` asked for in its last callback, if any.
    /// One per turn for the whole reactor: a pass over every connection is the most
    /// expensive thing a client can ask for, so another request (a pipelined second one, or
    /// a thousand clients asking at once) waits for a later turn on the deferred list, and
    /// no turn describes connections more than once.
    pub(super) fn fulfil_inspection(&mut self, key: usize) -> Status {
        let Some(conn) = self.conns.get_mut(key) else {
            return Ok(());
        };
        if !conn.wants_inspection() {
            return Ok(());
        }
        let turn = self.core.turn_write_left.turn;
        if self.inspected_turn == Some(turn) {
            self.core.deferred.push(token::conn(key));
            return Ok(());
        }
        self.inspected_turn = Some(turn);
        let Some(query) = conn.take_inspect() else {
            return Ok(());
        };
        let table = self.connection_table(&query);
        let Some(conn) = self.conns.get_mut(key) else {
            return Ok(());
        };
        let status = conn.answer_inspection(&table, &mut self.core);
        if status.is_ok() && conn.wants_inspection() {
            self.core.deferred.push(token::conn(key));
        }
        status
    }

    /// Counts the connections `query` matches and describes the first `limit` of them: a
    /// comparison for each connection, system calls only for those described.
    fn connection_table(&self, query: &Inspect) -> ConnTable {
        let limit = query.limit.min(MAX_LIMIT);
        let mut rows = Vec::with_capacity(limit.min(self.conns.len()));
        let mut matched = 0;
        for (_, conn) in &self.conns {
            let service = self.names.get(conn.endpoint).copied().unwrap_or("?");
            if query.service.is_some_and(|name| !name.is(service)) {
                continue;
            }
            matched += 1;
            if rows.len() < limit {
                rows.push(conn.describe(service, self.core.now));
            }
        }
        ConnTable {
            rows,
            matched,
            total: self.conns.len(),
        }
    }
}

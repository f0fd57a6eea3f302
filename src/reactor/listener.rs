//! Accepting TCP connections.
//!
//! Accept runs until `WouldBlock` (edge-triggered: one event may stand for many queued
//! connections). Over the connection limit a connection is still accepted — leaving it in the
//! backlog would only clog it — then told why (the service's reject message) and closed.
//! When the process runs out of file descriptors, `accept` fails while the connection stays
//! queued; retrying at once would spin, so accepting pauses briefly and the error is logged at
//! most once a second.

use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use log::{debug, error, warn};
use mio::net::{TcpListener, TcpStream};

use crate::session::Service;

/// How long accepting pauses after the process ran out of file descriptors.
pub(super) const ACCEPT_PAUSE: Duration = Duration::from_millis(100);

/// A listening socket and the service its connections get.
pub(super) struct Listener {
    /// The socket.
    pub socket: TcpListener,
    /// What its connections speak.
    pub service: Box<dyn Service>,
    /// The address it is bound to (as bound: port 0 resolved).
    pub addr: SocketAddr,
}

/// What one `accept` call gave.
pub(super) enum Accepted {
    /// A new connection.
    Conn(TcpStream, SocketAddr),
    /// Nothing more is queued.
    Done,
    /// Out of file descriptors (or kernel memory): stop accepting until the given time.
    Pause(Instant),
}

impl Listener {
    /// Accepts one connection, sorting the errors that matter from those that do not.
    pub(super) fn accept(
        &mut self,
        now: Instant,
        last_fd_warning: &mut Option<Instant>,
    ) -> Accepted {
        loop {
            match self.socket.accept() {
                Ok((stream, peer)) => return Accepted::Conn(stream, peer),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Accepted::Done,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if is_resource_exhaustion(&e) => {
                    if last_fd_warning
                        .is_none_or(|t| now.duration_since(t) >= Duration::from_secs(1))
                    {
                        warn!("accept on {}: {e}; pausing accepts", self.addr);
                        *last_fd_warning = Some(now);
                    }
                    return Accepted::Pause(now + ACCEPT_PAUSE);
                }
                // The peer gave up between SYN and accept: nothing to do for it.
                Err(e) if e.kind() == io::ErrorKind::ConnectionAborted => continue,
                Err(e) => {
                    error!("accept on {}: {e}", self.addr);
                    return Accepted::Done;
                }
            }
        }
    }

    /// Refuses a connection because the server is full: best-effort reject message, then close.
    pub(super) fn reject(&self, mut stream: TcpStream, peer: SocketAddr) {
        // Read whatever the client already sent: closing a socket with unread input makes the
        // kernel send a reset, which could destroy the reject message before it is read.
        let mut sink = [0u8; 4096];
        let _ = stream.read(&mut sink);
        let msg = self.service.reject_message();
        if !msg.is_empty() {
            let _ = stream.write(msg);
        }
        let _ = stream.shutdown(std::net::Shutdown::Write);
        debug!("rejected {peer} on {}: at max connections", self.addr);
    }
}

fn is_resource_exhaustion(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc_errno::EMFILE | libc_errno::ENFILE | libc_errno::ENOBUFS | libc_errno::ENOMEM)
    )
}

/// The few errno values accept cares about (Linux numbering, shared by the BSDs for these).
mod libc_errno {
    pub(super) const ENOMEM: i32 = 12;
    pub(super) const ENFILE: i32 = 23;
    pub(super) const EMFILE: i32 = 24;
    pub(super) const ENOBUFS: i32 = 105;
}

//! evserve: a high-throughput network server on one non-blocking event loop.
//!
//! ```text
//!   config.rs ──► reactor/ ──────────────► session.rs ◄──── protocol/
//!   (limits)      mio::Poll, slab of       the sans-IO       echo, framing,
//!                 connections, timers,     contract          chat, files, http, http2, ws;
//!                 UDP, signals             (bytes in/out)    tls/ wraps any of them
//!                                                            (no sockets)
//!      │
//!      └────► server.rs      which service listens where, on how many workers; stats.rs
//!
//!   discovery/  UDP beacons: announce, discover, the table of servers heard
//!   secret.rs   shared secrets read from files: the beacon key, the files token
//!   testing.rs  a hand-cranked reactor, to unit-test sessions
//! ```
//!
//! This is the library: what a program embedding the reactor needs. The `evserve` binary
//! (`src/main.rs`) adds the command line (`cli`), the load generator (`load`), the files
//! client (`send`) and the socket lessons (`demo`), as modules of its own; see
//! `docs/architecture.md`, "One library, one binary". A `pub` item here is reachable from
//! the crate root (`unreachable_pub` warns otherwise).
//!
//! The reactor owns every socket and knows nothing of any protocol; a protocol is a state
//! machine fed bytes through [`session::Session`] and never touches a socket. See
//! `docs/architecture.md` for a connection's whole life.

#![deny(missing_docs)]
#![forbid(unsafe_code)]
#![warn(unreachable_pub)]

pub mod config;
pub mod discovery;
pub(crate) mod live;
pub(crate) mod log_limit;
pub mod protocol;
pub mod reactor;
pub mod secret;
pub mod server;
pub mod session;
pub mod stats;
pub mod testing;

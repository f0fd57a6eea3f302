//! evserve: a high-throughput network server on one non-blocking event loop.
//!
//! ```text
//!   main.rs ── config.rs ──► reactor/ ──────────────► session.rs ◄──── protocol/
//!   cli.rs     (limits)      mio::Poll, slab of       the sans-IO       echo, framing,
//!   cluster_                 connections, timers,     contract          chat, files, http;
//!    args.rs                 UDP, signals             (bytes in/out)    tls/ wraps any of
//!                                                                       them (no sockets)
//!      │
//!      └────► server.rs      which service listens where, on how many workers; stats.rs
//!
//!   discovery/  UDP beacons: announce, discover, the table of servers heard
//!   send.rs     the files protocol's client (`evserve send`), blocking IO
//!   load/       the load generator (`evserve load`): its own mio loops, nothing of the server
//!   demo/       the classic socket lessons, each run against a real server (`evserve demo`)
//!   testing.rs  a hand-cranked reactor, to unit-test sessions
//! ```
//!
//! The reactor owns every socket and knows nothing of any protocol; a protocol is a state
//! machine fed bytes through [`session::Session`] and never touches a socket. See
//! `docs/architecture.md` for a connection's whole life, and for why `load/`, a separate
//! program, is a module of this crate for now.

#![deny(missing_docs)]
#![forbid(unsafe_code)]
#![warn(unreachable_pub)]

pub mod config;
pub mod discovery;
pub mod live;
pub(crate) mod log_limit;
pub mod protocol;
pub mod reactor;
pub mod secret;
pub mod server;
pub mod session;
pub mod stats;
pub mod testing;

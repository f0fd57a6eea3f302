//! evserve: a high-throughput network server on one non-blocking event loop.
//!
//! ```text
//!   main.rs ── config.rs ──► reactor/ ──────────────► session.rs ◄──── protocol/
//!   (CLI)      (limits)      mio::Poll, slab of       the sans-IO       echo, framing,
//!                            connections, timers,     contract          chat, files, http
//!                            UDP, signals             (bytes in/out)    (no sockets)
//!   demo/      the classic socket lessons, each run against a real server (`evserve demo`)
//! ```
//!
//! The reactor owns every socket and knows nothing of any protocol; a protocol is a state
//! machine fed bytes through [`session::Session`] and never touches a socket. See
//! `docs/architecture.md` for a connection's whole life.

#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod cli;
pub mod cluster_args;
pub mod config;
pub mod demo;
pub mod discovery;
pub mod load;
pub mod protocol;
pub mod reactor;
pub mod send;
pub mod server;
pub mod session;
pub mod stats;
pub mod testing;

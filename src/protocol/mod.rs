//! The protocols evserve speaks, each a sans-IO state machine.
//!
//! Nothing in here imports `mio` or `std::net` sockets: a protocol is fed bytes through the
//! [`Session`](crate::session::Session) trait and appends bytes to an output buffer, so every
//! one of them is unit-tested without a socket.

pub(crate) mod chat;
pub(crate) mod echo;
pub mod files;
pub mod frame;
pub mod framed;
pub mod http;
pub mod http2;
pub(crate) mod number;
pub(crate) mod proxy;
pub(crate) mod quota;
pub mod sniff;
pub(crate) mod stale;
pub(crate) mod store;
pub(crate) mod text;
pub mod tls;
pub mod ws;

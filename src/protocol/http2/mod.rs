//! HTTP/2 (RFC 9113), sans-IO: the wire below, the connection above.
//!
//! HTTP/1.1 is text on a byte stream, and a reader finds where one message ends by scanning
//! for `\r\n\r\n` and counting body bytes: the "sticky packets" problem is solved by the
//! message syntax itself, and one connection carries one exchange at a time. HTTP/2 keeps the
//! meaning of HTTP (methods, status codes, fields) and replaces the syntax with binary
//! *frames*, each with a 9-byte header that states its length, type, flags and the *stream*
//! it belongs to:
//!
//! ```text
//!  +-----------------------------------------------+
//!  |                 Length (24)                   |
//!  +---------------+---------------+---------------+
//!  |   Type (8)    |   Flags (8)   |
//!  +-+-------------+---------------+-------------------------------+
//!  |R|                 Stream Identifier (31)                      |
//!  +=+=============================================================+
//!  |                   Frame Payload (Length bytes)              ...
//!  +---------------------------------------------------------------+
//! ```
//!
//! A stream is one request and its response; many streams share one connection, their
//! frames interleaved, so a large download does not hold up a small request beside it. A
//! request is a HEADERS frame (plus CONTINUATION frames if the field block is large), then
//! DATA frames; the last frame of each side carries END_STREAM. Stream 0 is the connection
//! itself: SETTINGS, PING, GOAWAY and connection-wide WINDOW_UPDATE travel on it.
//!
//! Field names and values are compressed with HPACK (RFC 7541), which is *stateful*: both
//! ends keep a table of recently sent fields, and a field seen before is sent as a one-byte
//! index into it. Every field block must therefore be decoded, in order, even for a stream
//! that is being refused, or the two tables drift apart and the connection is lost.
//!
//! # Layers of this module
//!
//! - [`frame`]: the frame codec. [`frame::decode`] turns buffered bytes into one borrowed
//!   [`frame::Frame`] (or "need more"), checking every rule of RFC 9113 §6 that a single frame
//!   can break, with the error code and its scope (stream or connection); the `encode_*`
//!   functions append frames to an [`Append`](crate::session::Append) output.
//! - [`hpack`]: the field compression, a decoder and an encoder, each owning its dynamic
//!   table.
//! - The connection state machine (streams, flow control, SETTINGS exchange) sits above
//!   these two and is the only part that keeps state across frames other than HPACK's table.

pub mod frame;
pub mod hpack;

mod conn;
pub(crate) mod flow;
pub(crate) mod limits;
mod producers;
mod request;
mod send;
pub(crate) mod stream;

pub(crate) use conn::H2Session;
pub use limits::Http2Config;

#[cfg(test)]
mod tests;

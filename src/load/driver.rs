//! What a load client sends and how it judges what comes back, per protocol, without sockets.
//!
//! A [`Driver`] is built once per run and shared by every connection of a thread. It owns the
//! bytes of one request (the same for every request, so they are built once) and a *batch*
//! of several requests back to back, so that a connection owing `k` pipelined requests writes
//! them with one `write` and no copy. Each connection owns a [`ReplyState`], the driver's
//! decoder state for the reply it is in the middle of.
//!
//! Decoding follows httparse and tokio-util: [`Driver::decode`] is offered the bytes received
//! so far and answers with a [`Decode`]:
//!
//! ```text
//!   Partial { used }         the reply is not complete: `used` bytes were consumed (a body is
//!                            checked as it streams past and never kept), offer the rest again
//!                            with more appended
//!   Reply { used, outcome }  one reply is complete, right (Outcome::Ok) or wrong
//!   Broken(why)              these bytes cannot be a reply: the connection is out of step
//! ```
//!
//! A wrong reply (an echo with other bytes, an HTTP status named by `--error-status`) is still
//! a whole reply, so the connection stays in step and goes on; only a `Broken` stream forces
//! a reconnect. Either way a wrong reply is counted as an error, never as throughput.

use super::decode::{Broken, Decode, Outcome};
use super::echo::{self, MirrorReply};
use super::framed::{LengthReply, LineReply};
use super::h2::H2Client;
use super::http::HttpReply;
use super::status::StatusSet;
use super::ws::{self, WsReply};
use super::{Framing, Protocol};

/// Most bytes a batch of pipelined requests may take; a batch holds at least one request.
/// Larger requests are written in several calls anyway.
const MAX_BATCH_BYTES: usize = 256 * 1024;

/// One protocol's request bytes and reply check, shared by all connections of a thread.
#[derive(Debug, Clone)]
pub struct Driver {
    /// What a connection sends once, before any request (a WebSocket upgrade), if anything.
    preamble: Vec<u8>,
    request: Vec<u8>,
    batch: Vec<u8>,
    expect: Expect,
    error_status: StatusSet,
}

/// What a reply must be.
#[derive(Debug, Clone)]
enum Expect {
    /// The request itself, byte for byte (TCP echo and UDP echo).
    Mirror,
    /// The same frame: length-prefixed, or a line; `payload` is the frame's content.
    Frame(Framing, Vec<u8>),
    /// An HTTP response with its whole body; a `HEAD` response has none.
    Http {
        /// The request was `HEAD`.
        head: bool,
    },
    /// After the `101` to the preamble, this exact WebSocket frame.
    Ws(Vec<u8>),
    /// HTTP/2 responses with their whole bodies, to requests of these fields (`h2.rs`).
    H2 {
        /// The request's fields, pseudo-fields first, names lowercase.
        fields: Vec<(Vec<u8>, Vec<u8>)>,
        /// The request was `HEAD`.
        head: bool,
        /// Streams at once per connection.
        streams: usize,
    },
}

/// A connection's progress through the reply it is receiving.
#[derive(Debug)]
pub enum ReplyState {
    /// Echo.
    Mirror(MirrorReply),
    /// Length-prefixed frames.
    Length(LengthReply),
    /// Lines.
    Line(LineReply),
    /// HTTP responses.
    Http(HttpReply),
    /// The WebSocket upgrade, then echoed frames.
    Ws(WsReply),
    /// An HTTP/2 connection: its streams and the frames it owes (boxed: the HPACK tables).
    H2(Box<H2Client>),
}

impl Driver {
    /// The driver for `protocol` with `size`-byte payloads (at least 1 for echo), batching
    /// up to `pipeline` requests per write. HTTP statuses in `error_status` are errors.
    pub fn new(
        protocol: &Protocol,
        size: usize,
        pipeline: usize,
        error_status: StatusSet,
    ) -> Driver {
        let mut preamble = Vec::new();
        let (request, expect) = match protocol {
            // An empty echo would be a reply of no bytes, complete before anything arrives.
            Protocol::Echo | Protocol::Udp => (echo::payload(size.max(1)), Expect::Mirror),
            Protocol::Framed(framing) => {
                let payload = echo::payload(size);
                (
                    super::framed::encode(*framing, &payload),
                    Expect::Frame(*framing, payload),
                )
            }
            Protocol::Http(http) => (
                http.encode(size),
                Expect::Http {
                    head: http.method.eq_ignore_ascii_case("HEAD"),
                },
            ),
            Protocol::Http2 { request, https } => (
                Vec::new(),
                Expect::H2 {
                    fields: request.h2_fields(*https),
                    head: request.method.eq_ignore_ascii_case("HEAD"),
                    streams: pipeline,
                },
            ),
            Protocol::Ws { host } => {
                preamble = ws::handshake(host);
                (ws::request(size), Expect::Ws(ws::reply(size)))
            }
        };
        let copies = pipeline.min(MAX_BATCH_BYTES / request.len().max(1)).max(1);
        Driver {
            preamble,
            batch: request.repeat(copies),
            request,
            expect,
            error_status,
        }
    }

    /// Whether a whole reply counts as an error: a wrong echo, or an HTTP status the run
    /// named (`--error-status`).
    pub fn is_error(&self, outcome: Outcome) -> bool {
        match outcome {
            Outcome::Ok => false,
            Outcome::Mismatch => true,
            Outcome::Status(code) => self.error_status.contains(code),
        }
    }

    /// What a new connection sends before any request (empty for most protocols).
    pub fn preamble(&self) -> &[u8] {
        &self.preamble
    }

    /// Whether a connection in `state` may write requests: not before the answer to its
    /// preamble (a WebSocket's `101`).
    pub fn ready(&self, state: &ReplyState) -> bool {
        match state {
            ReplyState::Ws(s) => s.is_open(),
            // HTTP/2 opens streams only as its own state allows (`H2Client::room`).
            ReplyState::H2(c) => c.settled(),
            _ => true,
        }
    }

    /// The bytes of one request.
    pub fn request(&self) -> &[u8] {
        &self.request
    }

    /// The next bytes a connection owes when `unsent` requests are not fully written and
    /// `offset` bytes of the first of them are: a slice of the batch (so possibly fewer
    /// requests than owed; the caller writes again).
    pub fn pending(&self, unsent: usize, offset: usize) -> &[u8] {
        let len = self.request.len();
        let end = (unsent * len).min(self.batch.len());
        &self.batch[offset.min(end)..end]
    }

    /// A fresh decoder state, for a new connection.
    pub fn reply_state(&self) -> ReplyState {
        match &self.expect {
            Expect::Mirror => ReplyState::Mirror(MirrorReply::default()),
            Expect::Frame(Framing::Length, _) => ReplyState::Length(LengthReply::default()),
            Expect::Frame(Framing::Line(_), _) => ReplyState::Line(LineReply::default()),
            Expect::Http { head } => ReplyState::Http(HttpReply::new(*head)),
            Expect::Ws(_) => ReplyState::Ws(WsReply::default()),
            Expect::H2 { head, streams, .. } => {
                ReplyState::H2(Box::new(H2Client::new(*streams, *head)))
            }
        }
    }

    /// The fields of the HTTP/2 request (empty for other protocols).
    pub fn h2_fields(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        let fields = match &self.expect {
            Expect::H2 { fields, .. } => &fields[..],
            _ => &[],
        };
        fields.iter().map(|(n, v)| (&n[..], &v[..]))
    }

    /// Decodes the front of `src`, the bytes received and not yet consumed.
    pub fn decode(&self, state: &mut ReplyState, src: &[u8]) -> Decode {
        match (state, &self.expect) {
            (ReplyState::Mirror(s), _) => s.decode(&self.request, src),
            (ReplyState::Length(s), Expect::Frame(_, payload)) => s.decode(payload, src),
            (ReplyState::Line(s), Expect::Frame(Framing::Line(delimiter), payload)) => {
                s.decode_until(payload, src, *delimiter)
            }
            (ReplyState::Http(s), _) => s.decode(src),
            (ReplyState::Ws(s), Expect::Ws(reply)) => s.decode(reply, src),
            // A state is only ever made by `reply_state` of the same driver.
            _ => Decode::Broken(Broken::Unsupported),
        }
    }

    /// The peer closed the connection: does that complete the reply in progress (an HTTP
    /// body delimited by the close)?
    pub fn eof(&self, state: &mut ReplyState) -> Option<Outcome> {
        match state {
            ReplyState::Http(s) => s.eof(),
            _ => None,
        }
    }

    /// Checks one UDP echo datagram; returns the sequence stamp it carries if it is the
    /// datagram that was sent.
    pub fn check_datagram(&self, datagram: &[u8]) -> Result<u64, Outcome> {
        echo::check_datagram(&self.request, datagram)
    }

    /// Writes the UDP datagram stamped with `seq` into `out` (as long as the request).
    pub fn stamp_datagram(&self, seq: u64, out: &mut [u8]) {
        out.copy_from_slice(&self.request);
        echo::stamp(out, seq);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_serves_any_number_of_owed_requests() {
        let d = Driver::new(&Protocol::Echo, 3, 4, StatusSet::NONE);
        assert_eq!(d.request(), b"abc");
        assert_eq!(d.pending(1, 0), b"abc");
        assert_eq!(d.pending(2, 1), b"bcabc");
        // More owed than the batch holds: the batch, and the caller writes again.
        assert_eq!(d.pending(9, 0), b"abcabcabcabc");
        assert_eq!(d.pending(0, 0), b"");
    }

    #[test]
    fn a_huge_request_is_batched_alone() {
        let d = Driver::new(&Protocol::Echo, MAX_BATCH_BYTES + 1, 16, StatusSet::NONE);
        assert_eq!(d.pending(16, 0).len(), MAX_BATCH_BYTES + 1);
    }
}

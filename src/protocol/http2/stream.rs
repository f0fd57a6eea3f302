//! One stream's lifecycle (RFC 9113 §5.1), as one enum with one setter.
//!
//! ```text
//!                       HEADERS                         HEADERS / DATA with END_STREAM
//!   Idle ──────────────────────────────► Open ──────────────────────────► HalfClosedRemote
//!    │  HEADERS with END_STREAM            │ our END_STREAM                    │ our END_STREAM
//!    └──────────────► HalfClosedRemote     ▼                                   ▼
//!                                    HalfClosedLocal ──their END_STREAM──►  Closed
//!                  RST_STREAM (either side), from any state ─────────────►  Closed
//! ```
//!
//! A server never sends PUSH_PROMISE, so the reserved states do not occur. Every change goes
//! through [`StreamState::set`], which traces it: `RUST_LOG=evserve=trace` shows a stream's
//! whole life. What a state allows the peer to send is asked of it
//! ([`StreamState::peer_may_send`]) rather than spread over the frame handlers.
//!
//! [`Stream`] holds the rest of a stream's life: its two flow-control windows, its exchange
//! with the HTTP layer, and its answer as the handler wrote it (HTTP/1.1 head, then body),
//! which `send.rs` turns into HEADERS and DATA.

use crate::protocol::http::multiplexed::{Answer, StreamExchange};
use crate::session::FileSlice;

use super::flow::{RecvWindow, SendWindow};

/// One stream that is not closed yet.
#[derive(Debug)]
pub(crate) struct Stream {
    /// Its id (odd: opened by the client).
    pub id: u32,
    /// Where it stands.
    pub state: StreamState,
    /// What the peer lets us send on it.
    pub send: SendWindow,
    /// What we let the peer send on it.
    pub recv: RecvWindow,
    /// The exchange with the HTTP layer, until the stream closes.
    pub exchange: Option<StreamExchange>,
    /// The answer as the handler wrote it: the head (until it went out as HEADERS), then
    /// body bytes not yet sent as DATA.
    pub out: Vec<u8>,
    /// Bytes at the start of `out` already sent.
    pub sent: usize,
    /// The head went out as HEADERS.
    pub head_sent: bool,
    /// A file body still to send, after `out`.
    pub file: Option<FileSlice>,
    /// The handler will add nothing more: once `out` and `file` are sent, END_STREAM.
    pub complete: bool,
    /// The announced `content-length` of the request body.
    pub content_length: Option<u64>,
    /// Request body bytes received.
    pub received: u64,
    /// The handler refused the body (413, a failed disk): what more comes is dropped, and
    /// once our answer is out the stream is reset with NO_ERROR so the peer stops sending.
    pub stop_reading: bool,
}

impl Stream {
    /// A stream in `state` with these windows; `out` is a (cleared) buffer to reuse.
    pub(crate) fn new(
        id: u32,
        state: StreamState,
        send: SendWindow,
        recv: RecvWindow,
        out: Vec<u8>,
    ) -> Stream {
        Stream {
            id,
            state,
            send,
            recv,
            exchange: None,
            out,
            sent: 0,
            head_sent: false,
            file: None,
            complete: false,
            content_length: None,
            received: 0,
            stop_reading: false,
        }
    }

    /// Notes how the handler answered.
    pub(crate) fn answer(&mut self, answer: Answer) {
        match answer {
            Answer::Complete => self.complete = true,
            Answer::File(slice) => {
                self.file = Some(slice);
                self.complete = true;
            }
            Answer::AwaitBody | Answer::Inspecting | Answer::Producing => self.complete = false,
        }
    }

    /// Drops the answer bytes already sent from the front of `out`, once the head is out:
    /// an answer with no end (an event stream) appends for ever, and its buffer must hold
    /// only what is still to send, not everything it ever sent in part.
    pub(crate) fn compact(&mut self) {
        if self.head_sent && self.sent > 0 {
            self.out.drain(..self.sent);
            self.sent = 0;
        }
    }

    /// Answer bytes written by the handler and not yet sent.
    pub(crate) fn backlog(&self) -> usize {
        self.out.len().saturating_sub(self.sent)
    }
}

/// Where a stream stands (§5.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StreamState {
    /// Not used yet.
    Idle,
    /// Both sides may send.
    Open,
    /// The peer has ended its side (END_STREAM received); we are still answering.
    HalfClosedRemote,
    /// We have ended our side; the peer is still sending (a request body we answered early).
    HalfClosedLocal,
    /// Done, by END_STREAM both ways or by RST_STREAM.
    Closed,
}

impl StreamState {
    /// Moves `self` to `next`, tracing the transition of stream `id`.
    pub(crate) fn set(&mut self, id: u32, next: StreamState) {
        if *self != next {
            log::trace!("http2: stream {id}: {self:?} -> {next:?}");
            *self = next;
        }
    }

    /// The peer ended its side (END_STREAM on HEADERS or DATA).
    pub(crate) fn peer_ended(&mut self, id: u32) {
        let next = match *self {
            StreamState::Idle | StreamState::Open => StreamState::HalfClosedRemote,
            StreamState::HalfClosedLocal | StreamState::Closed => StreamState::Closed,
            StreamState::HalfClosedRemote => StreamState::HalfClosedRemote,
        };
        self.set(id, next);
    }

    /// We ended our side (END_STREAM on our HEADERS or DATA).
    pub(crate) fn we_ended(&mut self, id: u32) {
        let next = match *self {
            StreamState::Idle | StreamState::Open => StreamState::HalfClosedLocal,
            StreamState::HalfClosedRemote | StreamState::Closed => StreamState::Closed,
            StreamState::HalfClosedLocal => StreamState::HalfClosedLocal,
        };
        self.set(id, next);
    }

    /// Whether the peer may still send DATA (or trailers) on the stream.
    pub(crate) fn peer_may_send(self) -> bool {
        matches!(self, StreamState::Open | StreamState::HalfClosedLocal)
    }

    /// Whether we may still send on the stream.
    pub(crate) fn we_may_send(self) -> bool {
        matches!(self, StreamState::Open | StreamState::HalfClosedRemote)
    }

    /// Whether the stream counts against `SETTINGS_MAX_CONCURRENT_STREAMS` (§5.1.2): open or
    /// half closed.
    pub(crate) fn is_active(self) -> bool {
        !matches!(self, StreamState::Idle | StreamState::Closed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_without_body_then_its_answer_closes_the_stream() {
        let mut s = StreamState::Idle;
        s.peer_ended(1);
        assert_eq!(s, StreamState::HalfClosedRemote);
        assert!(!s.peer_may_send());
        assert!(s.we_may_send());
        s.we_ended(1);
        assert_eq!(s, StreamState::Closed);
        assert!(!s.is_active());
    }

    #[test]
    fn an_early_answer_leaves_the_body_to_come() {
        let mut s = StreamState::Idle;
        s.set(3, StreamState::Open);
        s.we_ended(3);
        assert_eq!(s, StreamState::HalfClosedLocal);
        assert!(s.peer_may_send());
        assert!(!s.we_may_send());
        assert!(s.is_active());
        s.peer_ended(3);
        assert_eq!(s, StreamState::Closed);
    }

    #[test]
    fn a_closed_stream_stays_closed() {
        let mut s = StreamState::Closed;
        s.peer_ended(5);
        s.we_ended(5);
        assert_eq!(s, StreamState::Closed);
    }
}

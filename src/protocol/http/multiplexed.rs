//! One exchange on a multiplexed connection (HTTP/2): the routes, handlers and [`Reply`] of
//! HTTP/1.1, run once per stream.
//!
//! HTTP/2 changes how a request and its answer travel (frames on a shared connection), not
//! what they mean, so a stream is answered by the very code that answers an HTTP/1.1
//! request: `routes::dispatch`, the static files with their preconditions, ranges and
//! listings, uploads, `/echo`, `/stats`. The one difference is where the answer goes. A
//! handler writes through a [`Reply`] whose output is the *stream's* buffer rather than the
//! connection's ([`Ctx::nested`]), so answers of several streams never interleave; the
//! HTTP/2 layer then reads the head back ([`response_head`]: status and fields, without the
//! fields HTTP/2 forbids), encodes it as HEADERS, and sends what follows the head as DATA,
//! a frame at a time, as the flow-control windows allow.
//!
//! ```text
//!   HTTP/1.1:  RequestHead ─► routes::dispatch ─► Reply ─► connection output (as is)
//!   HTTP/2:    RequestHead ─► routes::dispatch ─► Reply ─► stream buffer ─► HEADERS + DATA
//!              (from HPACK)                                  file bodies ─► DATA (sendfile)
//! ```
//!
//! A file body is not read into the stream's buffer: the handler hands the open file over
//! ([`Answer::File`]) and the HTTP/2 layer sends it a frame at a time, with `sendfile(2)`
//! between frame headers where the connection allows. A request body goes to the handler's
//! [`BodySink`] as DATA arrives; the HTTP/2 layer grants the peer more window only as the
//! stream's buffer drains, which is what bounds an `/echo` whose client does not read.
//!
//! An answer with no end (`/events`, Server-Sent Events) is the [`Session`] its handler
//! hands over, as it would take an HTTP/1.1 connection over ([`Handled::Upgrade`]); here it
//! takes the *stream* over instead ([`Answer::Producing`]). It runs with a context of its
//! own ([`Producer`]): its output is the stream's buffer, so what it sees as pending output
//! is that stream's backlog, held back by the stream's flow-control window (the event
//! stream skips ticks past its bound, whatever the other streams do); and its deadline is
//! the stream's own timer, which the HTTP/2 layer turns into the connection's earliest
//! ([`StreamExchange::next_tick`], [`StreamExchange::tick`]). It ends with the stream: a
//! reset or a closed connection calls its `on_close`, a graceful stop its `on_shutdown`
//! first ([`StreamExchange::stop_producing`]).
//!
//! The HTTP/1.1 head is the interchange form between the handlers and this layer: it costs
//! one parse of a few hundred bytes we wrote ourselves per answer, and keeps every handler
//! version-blind and the HTTP/1.1 path exactly as fast as before.

use std::rc::Rc;
use std::time::Instant;

use crate::session::{Ctx, FileSlice, Flow, Session, Watch};

use super::Shared;
use super::connections;
use super::exchange::{BodySink, Exchange, Handled, Reply};
use super::request::RequestHead;
use super::routes;
use super::status::Status;
use super::upgrade::Upgrade;

/// The most fields a response head of ours carries; the parse of [`response_head`] has this
/// many slots (our handlers write a dozen at most).
const RESPONSE_FIELDS: usize = 32;

/// How the handler answered, as far as the HTTP/2 layer must act on it.
#[derive(Debug)]
pub(crate) enum Answer {
    /// The whole answer is in the stream's buffer.
    Complete,
    /// The head is in the stream's buffer; the body is this stretch of a file.
    File(FileSlice),
    /// The handler waits for the request body ([`StreamExchange::body`], then
    /// [`StreamExchange::end_body`]); part of the answer may already be in the buffer.
    AwaitBody,
    /// Nothing is written yet: the answer waits for the reactor's table of connections,
    /// delivered in `on_drain` ([`StreamExchange::answer_inspection`]).
    Inspecting,
    /// The head (and perhaps a first event) is in the stream's buffer; a [`Producer`] adds
    /// to it as its timer fires ([`StreamExchange::tick`]), until it stops or the stream
    /// ends.
    Producing,
}

/// What an exchange still waits for.
#[derive(Debug)]
enum Waiting {
    Nothing,
    Body { sink: Box<dyn BodySink>, max: u64 },
    Inspection,
    Producer(Box<Producer>),
}

/// The session that writes an unending answer (an event stream) on one stream, and what it
/// asked of its context: its deadline is the stream's timer.
pub(crate) struct Producer {
    session: Box<dyn Session>,
    watch: Watch,
}

impl std::fmt::Debug for Producer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Producer")
            .field("deadline", &self.watch.deadline)
            .finish_non_exhaustive()
    }
}

impl Producer {
    /// Calls `f` on the session with a context whose output is the stream's buffer `out`
    /// (its first `sent` bytes already sent: not pending) and whose deadline is the
    /// stream's own. Everything else is the connection's (clock, peer, counters).
    /// Broadcasts are dropped: a stream is in no room.
    fn call<T>(
        &mut self,
        cx: &Ctx<'_>,
        out: &mut Vec<u8>,
        sent: usize,
        f: impl FnOnce(&mut dyn Session, &mut Ctx<'_>) -> T,
    ) -> T {
        let mut broadcast = Vec::new();
        let mut own = Ctx::new(
            out,
            &mut broadcast,
            &mut self.watch,
            cx.peer(),
            cx.now(),
            cx.stats(),
        )
        .with_written(sent)
        .with_memory_tight(cx.memory_tight());
        f(&mut *self.session, &mut own)
    }

    /// The session's last call: it may count itself out (`sse_open`).
    fn close(mut self, cx: &Ctx<'_>) {
        let mut discard = Vec::new();
        self.call(cx, &mut discard, 0, |s, own| s.on_close(own));
    }
}

/// One stream's exchange, from its request head to the end of its answer.
#[derive(Debug)]
pub(crate) struct StreamExchange {
    shared: Rc<Shared>,
    exchange: Exchange,
    waiting: Waiting,
    /// Request body bytes received so far.
    received: u64,
}

/// Why a request body could not be taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BodyRefused {
    /// Over the handler's `max_body`: answered 413 if nothing was answered yet.
    TooLarge,
    /// The handler failed storing it (a disk error): answered 500 if nothing was yet.
    Failed,
}

impl StreamExchange {
    /// Dispatches `head` (built from a stream's HEADERS) to its handler, which writes into
    /// `out`, the stream's buffer.
    pub(crate) fn begin(
        shared: &Rc<Shared>,
        head: &RequestHead<'_, '_>,
        started: Instant,
        cx: &mut Ctx<'_>,
        out: &mut Vec<u8>,
    ) -> (StreamExchange, Answer) {
        let mut this = StreamExchange::around(
            shared,
            Exchange::new(head, started, shared.config.access_log),
        );
        let announced = match head.framing {
            super::request::BodyFraming::Length(n) => n,
            _ => 0,
        };
        let handled = if announced > shared.limits.max_body {
            this.run(cx, out, |reply| {
                reply.refuse(Status::ContentTooLarge);
                Handled::Answered
            })
        } else {
            this.run(cx, out, |reply| routes::dispatch(head, reply))
        };
        let answer = match handled {
            Handled::Answered => Answer::Complete,
            Handled::Streaming(file) => match file.into_slice() {
                Some(slice) => Answer::File(slice),
                None => Answer::Complete,
            },
            Handled::AwaitBody(sink) => {
                let max = sink.max_body(shared.limits.max_body);
                this.waiting = Waiting::Body { sink, max };
                Answer::AwaitBody
            }
            Handled::Upgrade(Upgrade(session)) => {
                // Over HTTP/1.1 the session would take the connection over; here it takes
                // the stream over (an event stream: a WebSocket cannot be asked for over
                // HTTP/2, whose requests carry no `upgrade` field).
                let mut producer = Box::new(Producer {
                    session,
                    watch: Watch::default(),
                });
                let before = out.len();
                let flow = producer.call(cx, out, 0, |s, own| s.on_open(own));
                this.exchange.bytes += out.len().saturating_sub(before) as u64;
                if flow == Flow::Continue {
                    this.waiting = Waiting::Producer(producer);
                    Answer::Producing
                } else {
                    producer.close(cx);
                    Answer::Complete
                }
            }
            Handled::Inspecting => {
                this.waiting = Waiting::Inspection;
                Answer::Inspecting
            }
        };
        (this, answer)
    }

    /// A stream's exchange waiting on nothing yet; file bodies are handed over, never pumped
    /// into the stream's buffer (`defer_files`).
    fn around(shared: &Rc<Shared>, mut exchange: Exchange) -> StreamExchange {
        exchange.defer_files = true;
        StreamExchange {
            shared: Rc::clone(shared),
            exchange,
            waiting: Waiting::Nothing,
            received: 0,
        }
    }

    /// An exchange for a request that is answered `status` without being dispatched (a head
    /// over the size limits: 431).
    pub(crate) fn refuse_unparsed(
        shared: &Rc<Shared>,
        status: Status,
        started: Instant,
        cx: &mut Ctx<'_>,
        out: &mut Vec<u8>,
    ) -> (StreamExchange, Answer) {
        let mut this = StreamExchange::around(
            shared,
            Exchange::unparsed(started, shared.config.access_log),
        );
        this.run(cx, out, |reply| reply.refuse(status));
        (this, Answer::Complete)
    }

    /// Runs `f` with a [`Reply`] whose output is `out`, counting what it wrote.
    fn run<T>(
        &mut self,
        cx: &mut Ctx<'_>,
        out: &mut Vec<u8>,
        f: impl FnOnce(&mut Reply<'_, '_>) -> T,
    ) -> T {
        let before = out.len();
        let shared = Rc::clone(&self.shared);
        let mut inner = cx.nested(out);
        let result = f(&mut Reply {
            cx: &mut inner,
            shared: &shared,
            exchange: &mut self.exchange,
        });
        self.exchange.bytes += out.len().saturating_sub(before) as u64;
        result
    }

    /// Whether a final status has been written.
    pub(crate) fn answered(&self) -> bool {
        self.exchange.status.is_some()
    }

    /// Whether the handler still takes body bytes.
    pub(crate) fn wants_body(&self) -> bool {
        matches!(self.waiting, Waiting::Body { .. })
    }

    /// Request body bytes the handler keeps in memory until the body ends (a collected
    /// `/echo`), for the memory budget.
    pub(crate) fn held(&self) -> usize {
        match &self.waiting {
            Waiting::Body { sink, .. } => sink.held(),
            _ => 0,
        }
    }

    /// Hands request body bytes to the handler.
    pub(crate) fn body(
        &mut self,
        data: &[u8],
        cx: &mut Ctx<'_>,
        out: &mut Vec<u8>,
    ) -> Result<(), BodyRefused> {
        let Waiting::Body { max, .. } = &self.waiting else {
            return Ok(());
        };
        self.received = self.received.saturating_add(data.len() as u64);
        if self.received > *max {
            self.refuse_body(Status::ContentTooLarge, cx, out);
            return Err(BodyRefused::TooLarge);
        }
        let Waiting::Body { mut sink, max } =
            std::mem::replace(&mut self.waiting, Waiting::Nothing)
        else {
            return Ok(());
        };
        let written = self.run(cx, out, |reply| sink.write(data, reply));
        self.waiting = Waiting::Body { sink, max };
        if let Err(e) = written {
            log::error!("http2: storing a request body: {e}");
            self.refuse_body(Status::InternalServerError, cx, out);
            return Err(BodyRefused::Failed);
        }
        Ok(())
    }

    /// The request body is complete: the handler answers.
    pub(crate) fn end_body(&mut self, cx: &mut Ctx<'_>, out: &mut Vec<u8>) {
        if let Waiting::Body { sink, .. } = std::mem::replace(&mut self.waiting, Waiting::Nothing) {
            self.run(cx, out, |reply| sink.finish(reply));
        }
    }

    /// The body cannot be read to its end (a `content-length` it did not match, a reset):
    /// drops the handler's sink (discarding a partial upload) and answers `status` if
    /// nothing was answered yet.
    pub(crate) fn refuse_body(&mut self, status: Status, cx: &mut Ctx<'_>, out: &mut Vec<u8>) {
        self.waiting = Waiting::Nothing;
        if !self.answered() {
            self.run(cx, out, |reply| reply.refuse(status));
        }
    }

    /// Answers `/connections` if this is the call that brings the reactor's table.
    pub(crate) fn answer_inspection(&mut self, cx: &mut Ctx<'_>, out: &mut Vec<u8>) -> bool {
        let Some(table) = cx.connections() else {
            return false;
        };
        if !matches!(self.waiting, Waiting::Inspection) {
            return false;
        }
        self.waiting = Waiting::Nothing;
        self.run(cx, out, |reply| connections::answer(reply, table));
        true
    }

    /// When the stream's producer wants its next [`StreamExchange::tick`]; `None` if the
    /// exchange has none, or it set no timer.
    pub(crate) fn next_tick(&self) -> Option<Instant> {
        match &self.waiting {
            Waiting::Producer(p) => p.watch.deadline,
            _ => None,
        }
    }

    /// Whether a producer still writes this stream's answer.
    pub(crate) fn producing(&self) -> bool {
        matches!(self.waiting, Waiting::Producer(_))
    }

    /// The stream's timer has passed (`cx.now()` is at or after [`Self::next_tick`]): the
    /// producer writes its next piece into `out`, whose first `sent` bytes are already sent,
    /// the rest its backlog. Returns whether it goes on; one that stops (or does not move
    /// its timer past now, which would fire again at once) is done, and the stream's answer
    /// is then complete.
    pub(crate) fn tick(&mut self, cx: &Ctx<'_>, out: &mut Vec<u8>, sent: usize) -> bool {
        let Waiting::Producer(producer) = &mut self.waiting else {
            return false;
        };
        if producer.watch.deadline.is_none_or(|d| d > cx.now()) {
            return true;
        }
        let before = out.len();
        let flow = producer.call(cx, out, sent, |s, own| s.on_timeout(own));
        self.exchange.bytes += out.len().saturating_sub(before) as u64;
        let moved = producer.watch.deadline.is_none_or(|d| d > cx.now());
        if flow == Flow::Continue && moved {
            return true;
        }
        self.stop_producing(cx, out, sent);
        false
    }

    /// Ends the producer (a graceful stop, a client going away): it may write a last word
    /// (its `on_shutdown`), then it is closed. The stream's answer is then complete.
    pub(crate) fn stop_producing(&mut self, cx: &Ctx<'_>, out: &mut Vec<u8>, sent: usize) {
        if !self.producing() {
            return;
        }
        let Waiting::Producer(mut producer) =
            std::mem::replace(&mut self.waiting, Waiting::Nothing)
        else {
            return;
        };
        let before = out.len();
        producer.call(cx, out, sent, |s, own| s.on_shutdown(own));
        self.exchange.bytes += out.len().saturating_sub(before) as u64;
        producer.close(cx);
    }

    /// Counts body bytes sent outside the stream's buffer (a file).
    pub(crate) fn add_bytes(&mut self, n: u64) {
        self.exchange.bytes += n;
    }

    /// The exchange is over: closes its producer, if it had one, and writes its access-log
    /// line, if logging is on.
    pub(crate) fn finish(self, cx: &Ctx<'_>) {
        if let Waiting::Producer(producer) = self.waiting {
            producer.close(cx);
        }
        self.exchange.finish(cx);
    }
}

/// The fields HTTP/2 forbids in a message (RFC 9113 §8.2.2): they describe the HTTP/1.1
/// connection, which HTTP/2 replaces.
pub(crate) const CONNECTION_SPECIFIC: [&str; 5] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "upgrade",
];

/// A response head read back from a stream's buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct HeadView {
    /// The head's length in the buffer: the body follows.
    pub len: usize,
    /// The status code.
    pub status: u16,
}

/// The length of the response head at the start of `out`, through its blank line; `None`
/// while it is incomplete.
pub(crate) fn head_len(out: &[u8]) -> Option<usize> {
    // A search for one byte: `memmem` sets up a searcher per call, which costs more than
    // the few hundred bytes of a head take to scan.
    memchr::memchr_iter(b'\n', out)
        .find(|&at| at >= 3 && &out[at - 3..at] == b"\r\n\r")
        .map(|at| at + 1)
}

/// Reads the response head at the start of `out` (written by our handlers), calling
/// `field(name, value)` for each field HTTP/2 may carry, the name in lower case as HTTP/2
/// requires. `None` if `out` holds no complete head (a handler that has written nothing yet).
pub(crate) fn response_head(out: &[u8], mut field: impl FnMut(&[u8], &[u8])) -> Option<HeadView> {
    let mut slots = [httparse::EMPTY_HEADER; RESPONSE_FIELDS];
    let mut response = httparse::Response::new(&mut slots);
    let len = match response.parse(out) {
        Ok(httparse::Status::Complete(len)) => len,
        _ => return None,
    };
    let status = response.code?;
    for h in response.headers.iter() {
        let mut lower = [0u8; 64];
        let Some(name) = lower.get_mut(..h.name.len()) else {
            continue;
        };
        name.copy_from_slice(h.name.as_bytes());
        name.make_ascii_lowercase();
        if CONNECTION_SPECIFIC.iter().any(|c| c.as_bytes() == name) {
            continue;
        }
        field(name, h.value);
    }
    Some(HeadView { len, status })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_head_reads_back_as_status_and_lowercase_fields_without_connection_ones() {
        let out = b"HTTP/1.1 404 Not Found\r\nDate: x\r\nContent-Type: text/plain\r\n\
                    Content-Length: 14\r\nConnection: close\r\nUpgrade: websocket\r\n\r\n\
                    404 Not Found\n";
        let mut fields = Vec::new();
        let view = response_head(out, |n, v| fields.push((n.to_vec(), v.to_vec()))).unwrap();
        assert_eq!(view.status, 404);
        assert_eq!(&out[view.len..], b"404 Not Found\n");
        let names: Vec<&[u8]> = fields.iter().map(|(n, _)| n.as_slice()).collect();
        assert_eq!(
            names,
            [&b"date"[..], b"content-type", b"content-length"],
            "connection-specific fields are dropped"
        );
    }

    #[test]
    fn a_head_ends_at_its_blank_line() {
        assert_eq!(
            head_len(b"HTTP/1.1 200 OK\r\nA: b\r\n\r\nbody\r\n\r\n"),
            Some(25)
        );
        assert_eq!(head_len(b"HTTP/1.1 200 OK\r\nA: b\r\n\r"), None);
        assert_eq!(head_len(b"\n\r\n\r\n"), Some(5));
    }

    #[test]
    fn nothing_written_is_no_head() {
        assert_eq!(response_head(b"", |_, _| {}), None);
        assert_eq!(
            response_head(b"HTTP/1.1 200 OK\r\nA: b\r\n", |_, _| {}),
            None
        );
    }
}

//! [`HttpSession`]: one connection's HTTP/1.1 state machine.
//!
//! A connection does two things that overlap in time, so its state is two small enums rather
//! than one large one:
//!
//! ```text
//!  Reading:  Head ──(head complete)──► Body ──(body done)──► Head ...
//!              └─(error, or Connection: close answered)──► Closed
//!  Writing:  Idle ──(file too big to send at once)──► Streaming ──(last byte)──► Idle
//! ```
//!
//! A request head is read only while `Writing` is idle: answers must leave in request order,
//! so while a file streams out (from `on_drain`) the pipelined requests behind it wait,
//! unconsumed, in the reactor's input buffer, and are offered again once the stream ends. A
//! body, on the other hand, is consumed even while streaming: the client may still be sending
//! the body of the request being answered.
//!
//! Deadlines: when the first byte of a head arrives, a deadline of `header_timeout` is armed
//! (a slowloris client dribbling a head gets 408); it is cleared once the head is complete.
//! While a body arrives the session tells the reactor it is receiving, and the reactor's
//! minimum rate applies (a body trickled a byte at a time gets 408 at the end of the rate
//! window, whatever the idle timeout); the idle timeout covers everything else. A timeout between requests closes
//! quietly: one empty line after a request (a CRLF some clients send after a body) is skipped
//! without starting a request, so it is never answered with an unasked-for 408.
//!
//! The peer closing its side ends the connection once the current answer is out; requests it
//! pipelined before closing are still answered.

use std::rc::Rc;
use std::time::Instant;

use crate::session::{Ctx, Flow, Session, Step};

use super::Shared;
use super::body::{BodyDecoder, BodyError};
use super::connections;
use super::exchange::{BodySink, Exchange, Handled, Reply};
use super::request::{Persist, RequestHead, header_slots, parse_complete_head, parse_head};
use super::routes;
use super::scan::HeadScan;
use super::status::Status;
use super::stream::{FileStream, Pumped};
use super::upgrade::Upgrade;

/// One HTTP connection.
#[derive(Debug)]
pub struct HttpSession {
    shared: Rc<Shared>,
    reading: Reading,
    writing: Writing,
    peer: PeerInput,
}

/// What the next input bytes are.
#[derive(Debug)]
enum Reading {
    /// (Part of) a request head, or nothing yet.
    Head(HeadProgress),
    /// A request body.
    Body(Box<BodyJob>),
    /// Nothing we will read: an answer that closes the connection has been written.
    Closed,
    /// The connection changed protocol (a `101`, an event stream): the next session takes
    /// over, with whatever input follows the head (see `upgrade.rs`).
    Upgraded(Option<Upgrade>),
}

/// A request head under way.
#[derive(Debug, Default)]
struct HeadProgress {
    scan: HeadScan,
    /// When its first byte arrived (also the start of the exchange, for the access log).
    started: Option<Instant>,
    /// One empty line before the request was skipped (RFC 9112 §2.2: a client may send a
    /// CRLF after a body). Only one, so that empty lines cannot keep a connection alive.
    skipped_blank: bool,
}

/// A body being read.
#[derive(Debug)]
struct BodyJob {
    decoder: BodyDecoder,
    target: BodyTarget,
}

/// Who the body is for.
#[derive(Debug)]
enum BodyTarget {
    /// No one: the request is answered, the body is read only to reach the next request.
    Discard,
    /// A handler that answers once the body is complete.
    Handler(Box<dyn BodySink>, Exchange),
}

/// What is being written beyond what is already in the output buffer.
#[derive(Debug)]
enum Writing {
    /// Nothing: every answer so far is wholly in the output buffer.
    Idle,
    /// A file body, continued from `on_drain`.
    Streaming(Box<Stream>),
    /// `/connections`: the answer waits for the reactor's table, which comes in an
    /// `on_drain` call (see `Ctx::inspect`).
    Inspecting(Box<Exchange>),
}

#[derive(Debug)]
struct Stream {
    file: FileStream,
    exchange: Exchange,
}

/// Whether the peer may still send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PeerInput {
    /// The peer's side is open.
    Open,
    /// The peer has shut down its side; `unread` says whether input still waits for us.
    Ended { unread: bool },
}

/// The result of one reading step.
enum Advance {
    /// Consumed this many bytes; the next state may consume more.
    Went(usize),
    /// Consumed this many bytes and needs more input (or may not read now).
    Starved(usize),
}

/// How a body read ended, for this call.
enum BodyEvent {
    Starved,
    Done,
    Failed(Status),
}

impl HttpSession {
    pub(super) fn new(shared: Rc<Shared>) -> HttpSession {
        HttpSession {
            shared,
            reading: Reading::Head(HeadProgress::default()),
            writing: Writing::Idle,
            peer: PeerInput::Open,
        }
    }

    /// What the service's sessions share.
    pub(super) fn shared(&self) -> &Rc<Shared> {
        &self.shared
    }

    /// The session that takes the connection over, once a handler switched protocols.
    pub(crate) fn take_upgrade(&mut self) -> Option<Upgrade> {
        match &mut self.reading {
            Reading::Upgraded(next) => next.take(),
            _ => None,
        }
    }

    /// Body bytes a handler keeps in memory until the body ends (a chunked `POST /echo`),
    /// for the memory budget (see `Ctx::set_held`). Uploads go to disk as they arrive; a
    /// partial head waits in the reactor's input buffer, counted there.
    fn held(&self) -> usize {
        match &self.reading {
            Reading::Body(job) => match &job.target {
                BodyTarget::Handler(sink, _) => sink.held(),
                BodyTarget::Discard => 0,
            },
            _ => 0,
        }
    }

    /// Whether an answer is still being produced beyond what is in the output buffer (a file
    /// streaming, a table awaited): the requests behind it wait.
    fn is_writing(&self) -> bool {
        !matches!(self.writing, Writing::Idle)
    }

    /// Reads (part of) a head; answers it once complete.
    fn read_head(&mut self, input: &[u8], shared: &Shared, cx: &mut Ctx<'_>) -> Advance {
        let Reading::Head(progress) = &mut self.reading else {
            return Advance::Starved(0);
        };
        if input.is_empty() {
            return Advance::Starved(0);
        }
        if progress.started.is_none() && !progress.skipped_blank {
            let blank = match input {
                [b'\n', ..] => 1,
                [b'\r', b'\n', ..] => 2,
                [b'\r'] => return Advance::Starved(0),
                _ => 0,
            };
            if blank > 0 {
                // Not a request: no header timer starts, and no 408 is owed.
                progress.skipped_blank = true;
                return Advance::Went(blank);
            }
        }
        let first_bytes = progress.started.is_none();
        let started = *progress.started.get_or_insert_with(|| cx.now());
        if progress.scan.scanned() == 0 {
            let mut slots = header_slots();
            if let Some((len, parsed)) =
                parse_complete_head(input, &mut slots, &shared.limits, &shared.hosts)
            {
                cx.set_deadline(None);
                *progress = HeadProgress::default();
                match parsed {
                    Ok(head) => self.answer(&head, started, shared, cx),
                    Err(e) => self.refuse(e.status(), started, shared, cx),
                }
                return Advance::Went(len);
            }
        }
        if first_bytes {
            // Not a whole head in this read: from its first byte, it has the header timeout.
            cx.set_deadline(started.checked_add(shared.config.header_timeout));
        }
        let Reading::Head(progress) = &mut self.reading else {
            return Advance::Starved(0);
        };
        match progress.scan.scan(input, &shared.limits) {
            Ok(None) => Advance::Starved(0),
            Err(e) => {
                self.refuse(e.status(), started, shared, cx);
                Advance::Went(0)
            }
            Ok(Some(len)) => {
                cx.set_deadline(None);
                self.reading = Reading::Head(HeadProgress::default());
                let mut slots = header_slots();
                match parse_head(
                    input.get(..len).unwrap_or_default(),
                    &mut slots,
                    &shared.limits,
                ) {
                    Ok(head) => self.answer(&head, started, shared, cx),
                    Err(e) => self.refuse(e.status(), started, shared, cx),
                }
                Advance::Went(len)
            }
        }
    }

    /// Answers input that never became a request, and stops reading.
    fn refuse(&mut self, status: Status, started: Instant, shared: &Shared, cx: &mut Ctx<'_>) {
        cx.set_deadline(None);
        let mut exchange = Exchange::unparsed(started, shared.config.access_log);
        counted(&mut exchange, cx, |reply| reply.fail(status), shared);
        exchange.finish(cx);
        self.reading = Reading::Closed;
    }

    /// Dispatches a parsed request and sets up what follows its head.
    fn answer(
        &mut self,
        head: &RequestHead<'_, '_>,
        started: Instant,
        shared: &Shared,
        cx: &mut Ctx<'_>,
    ) {
        let mut exchange = Exchange::new(head, started, shared.config.access_log);
        let handled = counted(
            &mut exchange,
            cx,
            |reply| routes::dispatch(head, reply),
            shared,
        );
        let decoder =
            BodyDecoder::new(head.framing, shared.limits.max_body, shared.limits.max_head);
        let persist = exchange.persist;
        match handled {
            Handled::AwaitBody(sink) => {
                let max_body = sink.max_body(shared.limits.max_body);
                self.reading = Reading::Body(Box::new(BodyJob {
                    decoder: BodyDecoder::new(head.framing, max_body, shared.limits.max_head),
                    target: BodyTarget::Handler(sink, exchange),
                }));
                return;
            }
            Handled::Answered => exchange.finish(cx),
            Handled::Upgrade(next) => {
                exchange.finish(cx);
                self.reading = Reading::Upgraded(Some(next));
                return;
            }
            Handled::Streaming(file) => {
                self.writing = Writing::Streaming(Box::new(Stream { file, exchange }));
            }
            Handled::Inspecting => self.writing = Writing::Inspecting(Box::new(exchange)),
        }
        match persist {
            Persist::Close => self.reading = Reading::Closed,
            // The next head, in place: the usual case drops nothing.
            _ if decoder.is_done() => match &mut self.reading {
                Reading::Head(progress) => *progress = HeadProgress::default(),
                reading => *reading = Reading::Head(HeadProgress::default()),
            },
            _ => {
                self.reading = Reading::Body(Box::new(BodyJob {
                    decoder,
                    target: BodyTarget::Discard,
                }));
            }
        }
    }

    /// Reads body bytes into their target; finishes the request when the body is complete.
    fn read_body(&mut self, input: &[u8], shared: &Shared, cx: &mut Ctx<'_>) -> Advance {
        let Reading::Body(job) = &mut self.reading else {
            return Advance::Starved(0);
        };
        let mut used = 0;
        let event = loop {
            let progress = match job.decoder.decode(input.get(used..).unwrap_or_default()) {
                Ok(progress) => progress,
                Err(BodyError::BadChunk) => break BodyEvent::Failed(Status::BadRequest),
                Err(BodyError::TooLarge) => break BodyEvent::Failed(Status::ContentTooLarge),
            };
            used += progress.consumed;
            if let BodyTarget::Handler(sink, exchange) = &mut job.target {
                let written = counted(
                    exchange,
                    cx,
                    |reply| sink.write(progress.data, reply),
                    shared,
                );
                if let Err(e) = written {
                    log::error!("http: storing a request body: {e}");
                    break BodyEvent::Failed(Status::InternalServerError);
                }
            }
            if job.decoder.is_done() {
                break BodyEvent::Done;
            }
            if progress.consumed == 0 {
                break BodyEvent::Starved;
            }
        };
        match event {
            BodyEvent::Starved => return Advance::Starved(used),
            BodyEvent::Done => self.body_done(shared, cx),
            BodyEvent::Failed(status) => self.body_failed(status, shared, cx),
        }
        Advance::Went(used)
    }

    fn take_body_job(&mut self) -> Option<Box<BodyJob>> {
        match std::mem::replace(&mut self.reading, Reading::Closed) {
            Reading::Body(job) => Some(job),
            other => {
                self.reading = other;
                None
            }
        }
    }

    /// The body is complete: its handler answers, and the next request may start.
    fn body_done(&mut self, shared: &Shared, cx: &mut Ctx<'_>) {
        let Some(job) = self.take_body_job() else {
            return;
        };
        let persist = match job.target {
            BodyTarget::Discard => Persist::KeepAlive,
            BodyTarget::Handler(sink, mut exchange) => {
                counted(&mut exchange, cx, |reply| sink.finish(reply), shared);
                let persist = exchange.persist;
                exchange.finish(cx);
                persist
            }
        };
        self.reading = match persist {
            Persist::Close => Reading::Closed,
            _ => Reading::Head(HeadProgress::default()),
        };
    }

    /// The body cannot be read to its end: answer `status` if nothing was answered yet, and
    /// stop reading. Dropping the sink discards a partial upload.
    fn body_failed(&mut self, status: Status, shared: &Shared, cx: &mut Ctx<'_>) {
        if let Some(job) = self.take_body_job()
            && let BodyTarget::Handler(sink, mut exchange) = job.target
        {
            drop(sink);
            if exchange.status.is_none() {
                counted(&mut exchange, cx, |reply| reply.fail(status), shared);
            }
            exchange.finish(cx);
        }
        self.reading = Reading::Closed;
    }

    /// Sends the next slice of a streamed file.
    fn pump(&mut self, cx: &mut Ctx<'_>) {
        let Writing::Streaming(stream) = &mut self.writing else {
            return;
        };
        let before = cx.pending_output();
        let pumped = stream.file.pump(cx);
        stream.exchange.bytes += (cx.pending_output() - before) as u64;
        let finished = match pumped {
            Ok(Pumped::More) => return,
            Ok(Pumped::Done) => true,
            Err(e) => {
                log::error!("http: streaming a file: {e}");
                false
            }
        };
        if let Writing::Streaming(stream) = std::mem::replace(&mut self.writing, Writing::Idle) {
            stream.exchange.finish(cx);
        }
        if !finished {
            // The head promised more bytes than we can send: only closing tells the client.
            self.reading = Reading::Closed;
        }
    }
}

impl HttpSession {
    /// Answers `/connections` once the reactor has handed over its table.
    fn answer_inspection(&mut self, cx: &mut Ctx<'_>) {
        let Some(table) = cx.connections() else {
            return;
        };
        if !matches!(self.writing, Writing::Inspecting(_)) {
            return;
        }
        if let Writing::Inspecting(mut exchange) =
            std::mem::replace(&mut self.writing, Writing::Idle)
        {
            let shared = Rc::clone(&self.shared);
            counted(
                &mut exchange,
                cx,
                |reply| connections::answer(reply, table),
                &shared,
            );
            exchange.finish(cx);
        }
    }
}

/// Runs `f` with a [`Reply`] for `exchange`, adding what it wrote to the exchange's byte
/// count (the output buffer is only ever appended to, so the difference is exact).
fn counted<T>(
    exchange: &mut Exchange,
    cx: &mut Ctx<'_>,
    f: impl FnOnce(&mut Reply<'_, '_>) -> T,
    shared: &Shared,
) -> T {
    let before = cx.pending_output();
    let result = f(&mut Reply {
        cx: &mut *cx,
        shared,
        exchange: &mut *exchange,
    });
    exchange.bytes += (cx.pending_output() - before) as u64;
    result
}

impl Session for HttpSession {
    fn on_input(&mut self, input: &[u8], cx: &mut Ctx<'_>) -> Step {
        let shared = Rc::clone(&self.shared);
        let mut used = 0;
        loop {
            let rest = input.get(used..).unwrap_or_default();
            let advance = match self.reading {
                // An answer that closes the connection is out: whatever follows is dropped.
                Reading::Closed => Advance::Starved(rest.len()),
                Reading::Upgraded(_) => Advance::Starved(0),
                Reading::Head(_) if self.is_writing() => Advance::Starved(0),
                Reading::Head(_) => self.read_head(rest, &shared, cx),
                Reading::Body(_) => self.read_body(rest, &shared, cx),
            };
            match advance {
                Advance::Went(n) => used += n,
                Advance::Starved(n) => {
                    used += n;
                    break;
                }
            }
        }
        if let PeerInput::Ended { unread } = &mut self.peer {
            *unread = used < input.len();
        }
        // A body arrives as it is consumed: the reactor's minimum rate guards it.
        cx.set_receiving(matches!(self.reading, Reading::Body(_)));
        // A body collected in memory counts in the budget, which then holds our reads back.
        cx.set_held(self.held());
        let flow = match (&self.reading, self.peer) {
            _ if self.is_writing() => Flow::Continue,
            (Reading::Closed, _) => Flow::Close,
            // The peer is gone and nothing is left to answer: what remains is a request it
            // never finished.
            (_, PeerInput::Ended { .. }) => Flow::Close,
            _ => Flow::Continue,
        };
        Step {
            consumed: used,
            forward: 0,
            flow,
        }
    }

    fn on_drain(&mut self, cx: &mut Ctx<'_>) -> Flow {
        self.answer_inspection(cx);
        self.pump(cx);
        match (&self.reading, self.peer) {
            _ if self.is_writing() => Flow::Continue,
            (Reading::Closed, _) => Flow::Close,
            (_, PeerInput::Ended { unread: false }) => Flow::Close,
            // Pipelined input waits: the reactor offers it again now.
            _ => Flow::Continue,
        }
    }

    fn on_eof(&mut self, input: &[u8], cx: &mut Ctx<'_>) -> Flow {
        self.peer = PeerInput::Ended {
            unread: !input.is_empty(),
        };
        if self.is_writing() {
            // Finish the answer under way; requests queued behind it are still answered.
            return Flow::Continue;
        }
        // Whatever is unconsumed is a request cut short; a partial upload is discarded.
        self.reading = Reading::Closed;
        cx.set_held(0);
        Flow::Close
    }

    fn on_timeout(&mut self, cx: &mut Ctx<'_>) -> Flow {
        let shared = Rc::clone(&self.shared);
        match &self.reading {
            Reading::Head(HeadProgress {
                started: Some(started),
                ..
            }) if !self.is_writing() => {
                let started = *started;
                self.refuse(Status::RequestTimeout, started, &shared, cx);
            }
            Reading::Body(_) => self.body_failed(Status::RequestTimeout, &shared, cx),
            _ => {}
        }
        self.reading = Reading::Closed;
        self.writing = Writing::Idle;
        cx.set_held(0);
        Flow::Close
    }

    fn on_close(&mut self, _cx: &mut Ctx<'_>) {
        // Drops a partial upload (removing its temporary file) and any open file.
        self.reading = Reading::Closed;
        self.writing = Writing::Idle;
    }
}

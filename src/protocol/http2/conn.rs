//! [`H2Session`]: one HTTP/2 connection, server side, as a sans-IO state machine.
//!
//! ```text
//!  input ─► preface ─► frame::decode ─► per frame:
//!             SETTINGS  apply, ACK          PING      ACK
//!             HEADERS + CONTINUATION ─► HPACK ─► FieldBlock ─► Stream ─► routes (HTTP/1.1's)
//!             DATA ─► windows ─► the stream's BodySink        WINDOW_UPDATE ─► send windows
//!             RST_STREAM ─► drop the stream                   GOAWAY ─► no new streams
//!  output ◄─ control frames at once; HEADERS as soon as a handler wrote its head;
//!            DATA round-robin over the streams, a frame each, within the windows (send.rs)
//! ```
//!
//! **Error scopes** (RFC 9113 §5.4). A frame that breaks a stream's rules (a malformed
//! request, DATA over the stream's window or past its `content-length`) resets that stream
//! with RST_STREAM and the connection goes on. Anything that leaves the connection's shared
//! state in doubt (HPACK out of step, the connection window overrun, a CONTINUATION out of
//! place, a stream id going backwards) ends the connection with GOAWAY, naming the last
//! stream we processed so the client knows which requests to retry.
//!
//! **Bounded cost.** Every byte a peer makes us hold is bounded by a named limit
//! ([`Http2Config`]): the header block being assembled (size and frame count), the streams
//! open at once, a request body (the stream window, granted back only as the handler consumes
//! it and its answer drains), control frames we owe while it does not read, and streams
//! reset per [`RESET_WINDOW`](super::limits::RESET_WINDOW). Past one, the connection ends
//! with `ENHANCE_YOUR_CALM`; or, for a flood of control frames from a peer that does not
//! read our answers (so would never read the GOAWAY either), it is dropped at once.

use std::rc::Rc;
use std::time::Instant;

use crate::protocol::http::Shared;
use crate::protocol::http::multiplexed::{Answer, StreamExchange};
use crate::protocol::http::status::Status;
use crate::session::{Ctx, Flow, Session, Step};

use super::flow::{DEFAULT_WINDOW, RecvWindow, SendWindow};
use super::frame::{self, ErrorCode, Frame, FrameError, PREFACE, Scope, SettingId, Settings};
use super::hpack;
use super::limits::{Http2Config, RESET_WINDOW};
use super::request::{BlockError, FieldBlock};
use super::send::{FRAME_CHUNK, HIGH_WATER, NoHead};
use super::stream::{Stream, StreamState};

/// Where the connection stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Waiting for the client's 24-byte preface.
    Preface,
    /// Frames flow.
    Open,
    /// We sent GOAWAY (a graceful stop, or the peer's): streams up to the last id finish,
    /// then the connection closes.
    Draining,
    /// A connection error was answered with GOAWAY: nothing more is read.
    Failed,
}

/// A header block being assembled from HEADERS and CONTINUATION frames.
#[derive(Debug, Clone, Copy)]
struct Assembly {
    stream: u32,
    end_stream: bool,
    continuations: u32,
}

/// A connection error: GOAWAY with this code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct ConnError(ErrorCode, &'static str);

/// One HTTP/2 connection.
#[derive(Debug)]
pub(crate) struct H2Session {
    shared: Rc<Shared>,
    limits: Http2Config,
    phase: Phase,
    /// The peer's settings as last received.
    peer: Settings,
    decoder: hpack::Decoder,
    encoder: hpack::Encoder,
    recv: RecvWindow,
    send: SendWindow,
    pub(super) streams: Vec<Stream>,
    /// The highest stream id the peer has opened.
    last_stream: u32,
    /// A header block under way, and its bytes.
    assembly: Option<Assembly>,
    block: Vec<u8>,
    fields: FieldBlock,
    /// Stream buffers kept for reuse, and their capacity summed (at most [`SPARE_BUDGET`]).
    spare: Vec<Vec<u8>>,
    spare_bytes: usize,
    /// The encoded response head, reused.
    head_block: Vec<u8>,
    /// File bytes read for a DATA frame when they cannot be sent with `sendfile`, reused.
    pub(super) chunk: Vec<u8>,
    /// Where the round-robin over the streams starts next.
    pub(super) next_turn: usize,
    /// Control frames queued since the output was last seen empty.
    queued_control: u32,
    /// Output was still pending when this call began: the peer left answers unread across
    /// a read, beyond what the kernel's socket buffers took.
    unread_backlog: bool,
    /// A control-frame flood from a peer that does not read: the connection is dropped
    /// (`Flow::Abort`) rather than closed after a GOAWAY it would never read.
    aborted: bool,
    /// Empty DATA frames since the last one that carried a byte.
    empty_frames: u32,
    /// Resets counted since `resets_since`.
    resets: u32,
    resets_since: Option<Instant>,
    /// The peer sent GOAWAY: it opens no more streams.
    peer_going_away: bool,
    peer_ended: bool,
    /// A stream timer is the connection's deadline (see `producers.rs`).
    pub(super) ticking: bool,
}

impl H2Session {
    /// A connection of the HTTP service `shared`, before its preface.
    pub(crate) fn new(shared: Rc<Shared>) -> H2Session {
        let limits = shared.config().http2;
        H2Session {
            shared,
            limits,
            phase: Phase::Preface,
            peer: Settings::default(),
            decoder: {
                let mut decoder = hpack::Decoder::new(frame::DEFAULT_HEADER_TABLE_SIZE as usize);
                decoder.set_max_header_list_size(limits.max_header_list_size as usize);
                decoder
            },
            encoder: hpack::Encoder::default(),
            recv: RecvWindow::new(DEFAULT_WINDOW, DEFAULT_WINDOW),
            send: SendWindow::new(DEFAULT_WINDOW),
            streams: Vec::new(),
            last_stream: 0,
            assembly: None,
            block: Vec::new(),
            fields: FieldBlock::default(),
            spare: Vec::new(),
            spare_bytes: 0,
            head_block: Vec::new(),
            chunk: Vec::new(),
            next_turn: 0,
            queued_control: 0,
            unread_backlog: false,
            aborted: false,
            empty_frames: 0,
            resets: 0,
            resets_since: None,
            peer_going_away: false,
            peer_ended: false,
            ticking: false,
        }
    }

    /// Our SETTINGS, and the connection window enlarged past the protocol's default.
    fn send_preface(&mut self, cx: &mut Ctx<'_>) {
        let l = self.limits;
        frame::encode_settings(
            &mut cx.out(),
            &[
                (SettingId::MAX_CONCURRENT_STREAMS, l.max_concurrent_streams),
                (SettingId::INITIAL_WINDOW_SIZE, l.initial_window_size),
                (SettingId::MAX_FRAME_SIZE, l.max_frame_size),
                (SettingId::MAX_HEADER_LIST_SIZE, l.max_header_list_size),
                (SettingId::ENABLE_PUSH, 0),
            ],
        );
        if let Some(grant) = self.recv.enlarge(l.connection_window_size) {
            frame::encode_window_update(&mut cx.out(), 0, grant);
        }
    }

    /// Ends the connection with GOAWAY naming the last stream processed.
    fn fail(&mut self, error: ConnError, cx: &mut Ctx<'_>) {
        let ConnError(code, why) = error;
        log::debug!("http2: {}: connection error {code:?}: {why}", cx.peer());
        if self.aborted {
            // Its GOAWAY would wait behind answers the peer does not read: nothing to send.
            self.phase = Phase::Failed;
        }
        if self.phase != Phase::Failed {
            // Answers already written go out first, as far as the windows and the output
            // mark allow: GOAWAY names them as processed.
            self.produce(cx);
            frame::encode_goaway(&mut cx.out(), self.last_stream, code, why.as_bytes());
            cx.stats().http2_goaways.incr();
            self.phase = Phase::Failed;
        }
        self.drop_streams(cx);
    }

    /// Starts a graceful end: GOAWAY with NO_ERROR; open streams finish.
    fn go_away(&mut self, cx: &mut Ctx<'_>) {
        if matches!(self.phase, Phase::Open | Phase::Preface) {
            frame::encode_goaway(&mut cx.out(), self.last_stream, ErrorCode::NoError, b"");
            cx.stats().http2_goaways.incr();
            self.phase = Phase::Draining;
        }
    }

    fn drop_streams(&mut self, cx: &mut Ctx<'_>) {
        for stream in self.streams.drain(..) {
            if let Some(exchange) = stream.exchange {
                exchange.finish(cx);
            }
        }
    }

    /// Counts a control frame we owe; too many queued unread is a flood. A peer that left
    /// earlier answers unread as well (the kernel's socket buffers full) would never read
    /// our GOAWAY either, while the reactor read and discarded its flood until `--min-rate`
    /// cut it off: that connection is dropped at once instead, as nginx drops it. One that
    /// reads, and sent its flood in one burst, gets the GOAWAY.
    fn owe_control(&mut self) -> Result<(), ConnError> {
        self.queued_control += 1;
        if self.queued_control > self.limits.max_queued_control {
            self.aborted = self.unread_backlog;
            return Err(ConnError(
                ErrorCode::EnhanceYourCalm,
                "too many control frames queued unread",
            ));
        }
        Ok(())
    }

    /// Counts a reset stream (by the peer, or by us for its error).
    fn count_reset(&mut self, now: Instant) -> Result<(), ConnError> {
        match self.resets_since {
            Some(since) if now.saturating_duration_since(since) < RESET_WINDOW => {}
            _ => {
                self.resets_since = Some(now);
                self.resets = 0;
            }
        }
        self.resets += 1;
        if self.resets > self.limits.max_resets {
            return Err(ConnError(
                ErrorCode::EnhanceYourCalm,
                "too many streams reset",
            ));
        }
        Ok(())
    }

    /// Resets stream `id` with `code` (a stream error) and forgets it.
    fn reset(&mut self, id: u32, code: ErrorCode, cx: &mut Ctx<'_>) -> Result<(), ConnError> {
        log::debug!("http2: {}: stream {id} reset: {code:?}", cx.peer());
        frame::encode_rst_stream(&mut cx.out(), id, code);
        count_reset_cause(cx, code);
        self.remove_stream(id, cx);
        self.owe_control()?;
        self.count_reset(cx.now())
    }

    fn remove_stream(&mut self, id: u32, cx: &mut Ctx<'_>) {
        if let Some(i) = self.streams.iter().position(|s| s.id == id) {
            let mut stream = self.streams.swap_remove(i);
            stream.state.set(id, StreamState::Closed);
            self.recycle(&mut stream, cx);
        }
    }

    /// Ends a closed stream's exchange and keeps its buffer for the next stream.
    pub(super) fn recycle(&mut self, stream: &mut Stream, cx: &mut Ctx<'_>) {
        if let Some(exchange) = stream.exchange.take() {
            exchange.finish(cx);
        }
        let mut buf = std::mem::take(&mut stream.out);
        let capacity = buf.capacity();
        if capacity > 0
            && capacity <= SPARE_MAX
            && self.spare.len() < self.limits.max_concurrent_streams as usize
            && self.spare_bytes + capacity <= SPARE_BUDGET
        {
            buf.clear();
            self.spare_bytes += capacity;
            self.spare.push(buf);
        }
    }

    /// Resets stream `id` for an error of ours: not the peer's doing, so not counted
    /// against it.
    pub(super) fn reset_quietly(&mut self, id: u32, code: ErrorCode, cx: &mut Ctx<'_>) {
        frame::encode_rst_stream(&mut cx.out(), id, code);
        self.remove_stream(id, cx);
    }

    /// The largest frame the peer takes.
    pub(super) fn peer_max_frame(&self) -> u32 {
        self.peer.max_frame_size
    }

    /// The backlog under which a stream's receive window is topped up (see `send.rs`).
    pub(super) fn window_target(&self) -> usize {
        self.limits.initial_window_size as usize
    }

    /// What the connection's send window allows now.
    pub(super) fn send_window(&self) -> usize {
        self.send.available()
    }

    /// Spends `n` bytes of the connection's send window.
    pub(super) fn spend(&mut self, n: usize) {
        self.send.spend(n);
    }

    fn stream_mut(&mut self, id: u32) -> Option<&mut Stream> {
        self.streams.iter_mut().find(|s| s.id == id)
    }

    /// Decodes frames from `input`; returns the bytes used.
    fn read_frames(&mut self, input: &[u8], cx: &mut Ctx<'_>) -> usize {
        let mut used = 0;
        while self.phase != Phase::Failed {
            let rest = input.get(used..).unwrap_or_default();
            let result = match frame::decode(rest, self.limits.max_frame_size) {
                Ok(None) => break,
                Ok(Some((frame, len))) => {
                    used += len;
                    self.on_frame(frame, cx)
                }
                Err(e) => match self.frame_error(e, rest.len(), cx) {
                    Ok(Some(len)) => {
                        used += len;
                        Ok(())
                    }
                    Ok(None) => break,
                    Err(e) => Err(e),
                },
            };
            if let Err(e) = result {
                self.fail(e, cx);
                return input.len();
            }
        }
        if self.phase == Phase::Failed {
            return input.len();
        }
        used
    }

    /// A frame the codec refused: a stream error skips the frame (once it is all in) and
    /// resets the stream; a connection error ends the connection.
    fn frame_error(
        &mut self,
        e: FrameError,
        available: usize,
        cx: &mut Ctx<'_>,
    ) -> Result<Option<usize>, ConnError> {
        match e.scope {
            Scope::Connection => Err(ConnError(e.code, "a malformed frame")),
            Scope::Stream(_) if self.assembly.is_some() => Err(ConnError(
                ErrorCode::ProtocolError,
                "a frame inside a header block",
            )),
            Scope::Stream(_) if available < e.frame_len() => Ok(None),
            Scope::Stream(id) => {
                self.reset(id, e.code, cx)?;
                Ok(Some(e.frame_len()))
            }
        }
    }

    fn on_frame(&mut self, frame: Frame<'_>, cx: &mut Ctx<'_>) -> Result<(), ConnError> {
        if let Some(assembly) = self.assembly {
            return match frame {
                Frame::Continuation {
                    stream,
                    fragment,
                    end_headers,
                } if stream == assembly.stream => {
                    self.on_continuation(assembly, fragment, end_headers, cx)
                }
                _ => Err(ConnError(
                    ErrorCode::ProtocolError,
                    "a frame other than CONTINUATION inside a header block",
                )),
            };
        }
        match frame {
            Frame::Settings { ack: true, .. } => Ok(()),
            Frame::Settings { ack: false, params } => {
                let old = self.peer.initial_window_size;
                self.peer
                    .apply_all(params)
                    .map_err(|code| ConnError(code, "a bad SETTINGS value"))?;
                self.settings_changed(old)?;
                frame::encode_settings_ack(&mut cx.out());
                self.owe_control()
            }
            Frame::Ping { ack: true, .. } => Ok(()),
            Frame::Ping { ack: false, data } => {
                frame::encode_ping(&mut cx.out(), data, true);
                self.owe_control()
            }
            Frame::Headers {
                stream,
                fragment,
                end_stream,
                end_headers,
                ..
            } => self.on_headers(stream, fragment, end_stream, end_headers, cx),
            Frame::Continuation { .. } => Err(ConnError(
                ErrorCode::ProtocolError,
                "CONTINUATION without HEADERS",
            )),
            Frame::Data {
                stream,
                data,
                end_stream,
                flow_len,
            } => self.on_data(stream, data, end_stream, flow_len, cx),
            Frame::WindowUpdate { stream, increment } => {
                self.on_window_update(stream, increment, cx)
            }
            Frame::RstStream { stream, code } => self.on_rst_stream(stream, code, cx),
            Frame::GoAway { code, .. } => {
                if code != ErrorCode::NoError {
                    log::debug!("http2: {}: the peer goes away: {code:?}", cx.peer());
                }
                self.peer_going_away = true;
                self.end_producers(cx);
                Ok(())
            }
            // Priorities are advisory (RFC 9113 §5.3.2 deprecates them): answers share the
            // connection round-robin instead.
            Frame::Priority { .. } | Frame::Unknown { .. } => Ok(()),
        }
    }

    /// The peer's SETTINGS changed: shift every stream's send window (§6.9.2) and tell the
    /// encoder the table size it may use.
    fn settings_changed(&mut self, old_window: u32) -> Result<(), ConnError> {
        let new = self.peer.initial_window_size;
        if new != old_window {
            for stream in &mut self.streams {
                stream.send.shift(old_window, new).map_err(|_| {
                    ConnError(ErrorCode::FlowControlError, "a stream window past 2^31-1")
                })?;
            }
        }
        self.encoder.set_max_table_size(self.peer.header_table_size);
        Ok(())
    }

    fn on_headers(
        &mut self,
        stream: u32,
        fragment: &[u8],
        end_stream: bool,
        end_headers: bool,
        cx: &mut Ctx<'_>,
    ) -> Result<(), ConnError> {
        self.block.clear();
        self.add_fragment(fragment)?;
        let assembly = Assembly {
            stream,
            end_stream,
            continuations: 0,
        };
        if end_headers {
            self.on_block(assembly, cx)
        } else {
            self.assembly = Some(assembly);
            Ok(())
        }
    }

    fn on_continuation(
        &mut self,
        mut assembly: Assembly,
        fragment: &[u8],
        end_headers: bool,
        cx: &mut Ctx<'_>,
    ) -> Result<(), ConnError> {
        assembly.continuations += 1;
        if assembly.continuations > self.limits.max_continuations {
            return Err(ConnError(
                ErrorCode::EnhanceYourCalm,
                "too many CONTINUATION frames",
            ));
        }
        self.add_fragment(fragment)?;
        if end_headers {
            self.assembly = None;
            self.on_block(assembly, cx)
        } else {
            self.assembly = Some(assembly);
            Ok(())
        }
    }

    fn add_fragment(&mut self, fragment: &[u8]) -> Result<(), ConnError> {
        if self.block.len() + fragment.len() > self.limits.max_header_block {
            return Err(ConnError(
                ErrorCode::EnhanceYourCalm,
                "a header block over the limit",
            ));
        }
        self.block.extend_from_slice(fragment);
        Ok(())
    }

    /// Decodes the assembled block into `self.fields`, whatever becomes of the stream:
    /// HPACK's table must see every block. A list over `SETTINGS_MAX_HEADER_LIST_SIZE` is
    /// still decoded to its end (an HPACK bomb costs an addition per reference), and
    /// answered 431; any other error loses HPACK's state, and the connection.
    fn decode_block(&mut self, trailers: bool) -> Result<(), ConnError> {
        let max_fields = self.shared.config().max_headers;
        self.fields.start(
            trailers,
            self.limits.max_header_list_size as usize,
            max_fields,
        );
        let fields = &mut self.fields;
        match self
            .decoder
            .decode(&self.block, |name, value| fields.add(name, value))
        {
            Ok(()) => Ok(()),
            Err(hpack::Error::HeaderListTooLarge) => {
                self.fields.too_large();
                Ok(())
            }
            Err(_) => Err(ConnError(ErrorCode::CompressionError, "a bad HPACK block")),
        }
    }

    /// A complete header block: a new request, or trailers.
    fn on_block(&mut self, a: Assembly, cx: &mut Ctx<'_>) -> Result<(), ConnError> {
        if a.stream.is_multiple_of(2) {
            return Err(ConnError(ErrorCode::ProtocolError, "an even stream id"));
        }
        if a.stream <= self.last_stream {
            // Trailers of a stream still open (no new stream has an id this low), or else
            // a stream id going backwards (§5.1.1): not a stream we can name.
            if self.streams.iter().any(|s| s.id == a.stream) {
                return self.on_trailers(a, cx);
            }
            return Err(ConnError(
                ErrorCode::ProtocolError,
                "a stream id going backwards",
            ));
        }
        self.last_stream = a.stream;
        self.decode_block(false)?;
        if self.phase != Phase::Open || self.peer_going_away {
            // After our GOAWAY, streams above its last id are ignored (§6.8).
            return Ok(());
        }
        // Every stream kept is active but for one closed a moment ago and not yet removed:
        // counting them matters only when there are that many.
        let max = self.limits.max_concurrent_streams as usize;
        if self.streams.len() >= max
            && self.streams.iter().filter(|s| s.state.is_active()).count() >= max
        {
            return self.reset(a.stream, ErrorCode::RefusedStream, cx);
        }
        if !self.may_grow(cx) {
            // The connection holds its share of answers for a peer that does not read, or
            // the server is over its memory budget and this connection holds some: refused
            // unprocessed, so the client may retry. Not counted against `max_resets`: the
            // refusal is ours, not the peer's error.
            log::debug!("http2: {}: stream {} refused: memory", cx.peer(), a.stream);
            frame::encode_rst_stream(&mut cx.out(), a.stream, ErrorCode::RefusedStream);
            count_reset_cause(cx, ErrorCode::RefusedStream);
            return self.owe_control();
        }
        match self.fields.finish() {
            Err(BlockError::Malformed(why)) => {
                log::debug!("http2: {}: stream {}: {why}", cx.peer(), a.stream);
                self.reset(a.stream, ErrorCode::ProtocolError, cx)
            }
            Err(BlockError::TooLarge) => {
                self.open_stream(a, cx, Some(Status::RequestHeaderFieldsTooLarge));
                Ok(())
            }
            Ok(()) => {
                self.open_stream(a, cx, None);
                Ok(())
            }
        }
    }

    /// Opens a stream for the request in `self.fields` and dispatches it (or answers
    /// `refusal` without dispatching).
    fn open_stream(&mut self, a: Assembly, cx: &mut Ctx<'_>, refusal: Option<Status>) {
        cx.stats().http2_streams.incr();
        // A fresh buffer starts at the size of a small answer, not empty: grown from
        // nothing it would be reallocated four or five times while the head is written.
        let mut out = self
            .spare
            .pop()
            .unwrap_or_else(|| Vec::with_capacity(STREAM_BUFFER));
        self.spare_bytes = self.spare_bytes.saturating_sub(out.capacity());
        let mut state = StreamState::Idle;
        state.set(a.stream, StreamState::Open);
        if a.end_stream {
            state.peer_ended(a.stream);
        }
        let started = cx.now();
        let shared = Rc::clone(&self.shared);
        let begun = match refusal {
            Some(status) => Some(StreamExchange::refuse_unparsed(
                &shared, status, started, cx, &mut out,
            )),
            None => self.fields.with_head(a.end_stream, |head| {
                StreamExchange::begin(&shared, head, started, cx, &mut out)
            }),
        };
        let (exchange, answer) = begun.unwrap_or_else(|| {
            StreamExchange::refuse_unparsed(&shared, Status::BadRequest, started, cx, &mut out)
        });
        let mut stream = Stream::new(
            a.stream,
            state,
            SendWindow::new(self.peer.initial_window_size),
            RecvWindow::new(
                self.limits.initial_window_size,
                self.limits.initial_window_size,
            ),
            out,
        );
        stream.content_length = self.fields.content_length();
        stream.exchange = Some(exchange);
        stream.answer(answer);
        self.streams.push(stream);
        self.after_handler(a.stream, cx);
    }

    /// Trailers end a request body (their fields are checked, then dropped).
    fn on_trailers(&mut self, a: Assembly, cx: &mut Ctx<'_>) -> Result<(), ConnError> {
        self.decode_block(true)?;
        let may_send = self
            .stream_mut(a.stream)
            .is_some_and(|s| s.state.peer_may_send());
        if !may_send {
            return self.reset(a.stream, ErrorCode::StreamClosed, cx);
        }
        if !a.end_stream || self.fields.finish().is_err() {
            return self.reset(a.stream, ErrorCode::ProtocolError, cx);
        }
        self.end_of_body(a.stream, cx)
    }

    fn on_data(
        &mut self,
        id: u32,
        data: &[u8],
        end_stream: bool,
        flow_len: u32,
        cx: &mut Ctx<'_>,
    ) -> Result<(), ConnError> {
        if flow_len == 0 && !end_stream {
            self.empty_frames += 1;
            if self.empty_frames > self.limits.max_empty_frames {
                return Err(ConnError(
                    ErrorCode::EnhanceYourCalm,
                    "too many empty DATA frames",
                ));
            }
        } else if flow_len > 0 {
            self.empty_frames = 0;
        }
        self.recv.receive(flow_len).map_err(|_| {
            ConnError(
                ErrorCode::FlowControlError,
                "DATA over the connection window",
            )
        })?;
        // The connection's window is ours to manage whatever becomes of the stream: the
        // bytes are consumed here (bodies are bounded per stream, below).
        self.recv.consume(flow_len);
        self.grant_connection(cx);
        if id > self.last_stream {
            return Err(ConnError(
                ErrorCode::ProtocolError,
                "DATA on an idle stream",
            ));
        }
        let Some(stream) = self.stream_mut(id) else {
            // A stream we reset or finished: frames in flight are expected, not an error
            // worth a reset each (§5.1 "closed").
            return Ok(());
        };
        if !stream.state.peer_may_send() {
            return self.reset(id, ErrorCode::StreamClosed, cx);
        }
        if stream.recv.receive(flow_len).is_err() {
            return self.reset(id, ErrorCode::FlowControlError, cx);
        }
        stream.received += data.len() as u64;
        if stream.content_length.is_some_and(|n| stream.received > n) {
            return self.reset(id, ErrorCode::ProtocolError, cx);
        }
        // Padding is consumed at once; the data when the handler has taken it.
        stream.recv.consume(flow_len - data.len() as u32);
        if let Some(exchange) = &mut stream.exchange
            && exchange.wants_body()
            && exchange.body(data, cx, &mut stream.out).is_err()
        {
            // Answered (413, 500): the rest of the body is dropped as it comes.
            stream.answer(Answer::Complete);
            stream.stop_reading = true;
        }
        stream.recv.consume(data.len() as u32);
        if end_stream {
            return self.end_of_body(id, cx);
        }
        self.after_handler(id, cx);
        Ok(())
    }

    /// The peer ended its side of stream `id`: its `content-length` must have been met.
    fn end_of_body(&mut self, id: u32, cx: &mut Ctx<'_>) -> Result<(), ConnError> {
        let Some(stream) = self.stream_mut(id) else {
            return Ok(());
        };
        stream.state.peer_ended(id);
        if stream.content_length.is_some_and(|n| n != stream.received) {
            if let Some(exchange) = &mut stream.exchange {
                exchange.refuse_body(Status::BadRequest, cx, &mut stream.out);
            }
            return self.reset(id, ErrorCode::ProtocolError, cx);
        }
        if let Some(exchange) = &mut stream.exchange
            && exchange.wants_body()
        {
            exchange.end_body(cx, &mut stream.out);
            stream.answer(Answer::Complete);
        }
        self.after_handler(id, cx);
        Ok(())
    }

    fn on_window_update(
        &mut self,
        id: u32,
        increment: u32,
        cx: &mut Ctx<'_>,
    ) -> Result<(), ConnError> {
        if id == 0 {
            return self.send.grow(increment).map_err(|_| {
                ConnError(
                    ErrorCode::FlowControlError,
                    "the connection window past 2^31-1",
                )
            });
        }
        if id > self.last_stream {
            return Err(ConnError(
                ErrorCode::ProtocolError,
                "WINDOW_UPDATE on an idle stream",
            ));
        }
        let Some(stream) = self.stream_mut(id) else {
            return Ok(());
        };
        if stream.send.grow(increment).is_err() {
            return self.reset(id, ErrorCode::FlowControlError, cx);
        }
        Ok(())
    }

    fn on_rst_stream(
        &mut self,
        id: u32,
        code: ErrorCode,
        cx: &mut Ctx<'_>,
    ) -> Result<(), ConnError> {
        if id > self.last_stream {
            return Err(ConnError(
                ErrorCode::ProtocolError,
                "RST_STREAM on an idle stream",
            ));
        }
        if self.streams.iter().any(|s| s.id == id) {
            log::trace!(
                "http2: {}: stream {id} reset by the peer: {code:?}",
                cx.peer()
            );
            cx.stats().http2_resets_by_peer.incr();
            self.remove_stream(id, cx);
            self.count_reset(cx.now())?;
        }
        Ok(())
    }

    /// After a handler ran for stream `id`: its head goes out as HEADERS as soon as it is
    /// written (HEADERS are not flow controlled, and HPACK needs them in encoding order),
    /// and the stream's receive window is topped up if its answer is draining.
    fn after_handler(&mut self, id: u32, cx: &mut Ctx<'_>) {
        let max_frame = self.peer.max_frame_size;
        let window = self.limits.initial_window_size as usize;
        // From the end: the stream just opened is the last one.
        let Some(i) = self.streams.iter().rposition(|s| s.id == id) else {
            return;
        };
        let Some(stream) = self.streams.get_mut(i) else {
            return;
        };
        match stream.send_head(&mut self.encoder, &mut self.head_block, max_frame, cx) {
            Ok(()) => {}
            Err(NoHead) => {
                let _ = self.reset(id, ErrorCode::InternalError, cx);
                return;
            }
        }
        // A small answer, complete, its head out: its body goes out now as one DATA frame,
        // rather than in its turn of the round-robin after the whole read. It would take one
        // frame then all the same; sent now, its stream closes now, and a read that brings a
        // hundred requests keeps one stream open at a time rather than a hundred.
        let room = (max_frame as usize)
            .min(FRAME_CHUNK)
            .min(self.send.available());
        if cx.pending_output() < HIGH_WATER
            && let Some(stream) = self.streams.get_mut(i)
            && stream.fits_one_frame(room)
            && let Ok(Some(sent)) = stream.send_data(room, &mut self.chunk, cx)
        {
            self.send.spend(sent);
        }
        // Only a stream the peer still sends on can be due a grant, and only the stream just
        // answered can have finished here: both checks stay per stream, not per connection,
        // so a hundred answers in one read cost a hundred, not ten thousand, looks.
        let sending = self.streams.get(i).is_some_and(|s| s.state.peer_may_send());
        if sending
            && self.may_grow(cx)
            && let Some(stream) = self.streams.get_mut(i)
        {
            stream.grant(window, cx);
        }
        self.close_if_finished(i, cx);
    }

    /// [`H2Session::close_finished`] for the stream at `i` alone.
    fn close_if_finished(&mut self, i: usize, cx: &mut Ctx<'_>) {
        let Some(stream) = self.streams.get(i) else {
            return;
        };
        let done = stream.state == StreamState::Closed;
        let early = stream.state == StreamState::HalfClosedLocal && stream.stop_reading;
        if !(done || early) {
            return;
        }
        let mut stream = self.streams.swap_remove(i);
        if early {
            frame::encode_rst_stream(&mut cx.out(), stream.id, ErrorCode::NoError);
            stream.state.set(stream.id, StreamState::Closed);
        }
        self.recycle(&mut stream, cx);
    }

    /// Removes streams that are done both ways; a stream we finished while the peer still
    /// sends is told to stop with RST_STREAM(NO_ERROR) (§8.1).
    pub(super) fn close_finished(&mut self, cx: &mut Ctx<'_>) {
        let mut i = 0;
        while i < self.streams.len() {
            let open = self.streams.len();
            self.close_if_finished(i, cx);
            if self.streams.len() == open {
                i += 1;
            }
        }
    }

    /// Answers `/connections` for the streams that asked, in the call that brings the table.
    fn answer_inspections(&mut self, cx: &mut Ctx<'_>) {
        if cx.connections().is_none() {
            return;
        }
        let mut answered = Vec::new();
        for stream in &mut self.streams {
            if let Some(exchange) = &mut stream.exchange
                && exchange.answer_inspection(cx, &mut stream.out)
            {
                stream.answer(Answer::Complete);
                answered.push(stream.id);
            }
        }
        for id in answered {
            self.after_handler(id, cx);
        }
    }

    /// What the connection asks of the reactor after a call.
    fn flow(&self) -> Flow {
        match self.phase {
            Phase::Failed if self.aborted => Flow::Abort,
            Phase::Failed => Flow::Close,
            _ if self.streams.is_empty()
                && (self.phase == Phase::Draining || self.peer_going_away || self.peer_ended) =>
            {
                Flow::Close
            }
            _ => Flow::Continue,
        }
    }

    fn note_output_drained(&mut self, cx: &Ctx<'_>) {
        self.unread_backlog = cx.pending_output() > 0;
        if !self.unread_backlog {
            self.queued_control = 0;
        }
    }

    fn receiving(&self) -> bool {
        self.assembly.is_some() || self.streams.iter().any(|s| s.state.peer_may_send())
    }
}

/// Counts a reset we send, by cause, for `/stats`.
fn count_reset_cause(cx: &Ctx<'_>, code: ErrorCode) {
    let stats = cx.stats();
    match code {
        ErrorCode::RefusedStream => stats.http2_resets_refused.incr(),
        ErrorCode::FlowControlError => stats.http2_resets_flow_control.incr(),
        _ => stats.http2_resets_protocol.incr(),
    }
}

/// The answer buffers a connection with no stream open keeps for its next one: one, of at
/// most this capacity. While streams are open, the buffer of every stream that closes is
/// kept (up to one per concurrent stream, each of at most [`SPARE_MAX`], together at most
/// [`SPARE_BUDGET`]), so that a busy connection's new streams allocate nothing; an idle
/// connection gives the rest back, so 10,000 idle connections do not keep what their
/// busiest moment needed.
const IDLE_SPARE: usize = 4 * 1024;

/// The capacity a new stream's buffer starts with when no spare one is left: a small file's
/// head and body (a few hundred bytes) fit.
const STREAM_BUFFER: usize = 512;

/// The largest stream buffer kept for reuse.
const SPARE_MAX: usize = 64 * 1024;

/// The most capacity a connection keeps in spare stream buffers: eight large ones, or a
/// hundred and more of the few hundred bytes a small answer takes.
const SPARE_BUDGET: usize = 8 * SPARE_MAX;

/// What one connection holds, for the memory budget.
///
/// Two kinds of bytes, reported apart because they are released differently:
///
/// - a header block under way ([`H2Session::held`], `Ctx::set_held`): the peer completes it
///   by sending, like any partial message; over the budget the reactor stops reading the
///   connection, as it would for a partial HTTP/1.1 head;
/// - answers (and `/echo`'s request bodies, which become answers, or are collected until
///   their END_STREAM when they come without `content-length`) kept in the streams'
///   buffers until the peer's flow-control windows (or its next DATA) let them go
///   ([`H2Session::held_for_peer`], `Ctx::set_held_for_peer`). Only the peer's next frames
///   (`WINDOW_UPDATE`) release these, so holding back the connection's reads would keep them
///   for as long as the budget stays full: a deadlock. They are counted in
///   `session_buffered` and the budget all the same, and the reactor keeps reading; it is
///   the session that stops *growing* instead: while the connection holds `max_held`, or
///   holds anything while the server is over its budget ([`Ctx::memory_tight`]), a new stream
///   is refused (`REFUSED_STREAM`, which a client retries) and no window is granted, so no
///   request body grows either. Control frames, `WINDOW_UPDATE` among them, are processed
///   as ever. A connection that holds nothing opens streams whatever the budget, as the
///   reactor reads a connection that holds nothing: a small request is still answered.
///
/// Per connection: at most `max_held`, plus one answer (the stream that crossed it), plus
/// the connection window already granted (`connection_window_size`: DATA the peer may send
/// without further grants).
impl H2Session {
    /// A header block under way (see above).
    fn held(&self) -> usize {
        if self.assembly.is_some() {
            self.block.len()
        } else {
            0
        }
    }

    /// Answer bytes the streams keep until the peer takes them (see above).
    pub(super) fn held_for_peer(&self) -> usize {
        self.streams
            .iter()
            .map(|s| s.backlog() + s.exchange.as_ref().map_or(0, StreamExchange::held))
            .sum()
    }

    /// Whether the connection may take on more: new streams, more window for bodies.
    pub(super) fn may_grow(&self, cx: &Ctx<'_>) -> bool {
        let held = self.held_for_peer();
        held < self.limits.max_held && !(held > 0 && cx.memory_tight())
    }

    /// Grants the connection's window back, when due and the connection may grow.
    pub(super) fn grant_connection(&mut self, cx: &mut Ctx<'_>) {
        if !self.may_grow(cx) {
            return;
        }
        if let Some(grant) = self.recv.update_due() {
            frame::encode_window_update(&mut cx.out(), 0, grant);
        }
    }

    /// With no stream open, gives back the buffers kept for streams beyond one small one
    /// (see [`IDLE_SPARE`]).
    fn rest_if_idle(&mut self) {
        if !self.streams.is_empty() {
            return;
        }
        if self.spare.len() > 1 || self.spare.iter().any(|b| b.capacity() > IDLE_SPARE) {
            self.spare.retain(|b| b.capacity() <= IDLE_SPARE);
            self.spare.truncate(1);
            self.spare_bytes = self.spare.iter().map(Vec::capacity).sum();
        }
        if self.chunk.capacity() > IDLE_SPARE {
            self.chunk = Vec::new();
        }
    }

    /// The capacity of the buffers kept for the next streams.
    #[cfg(test)]
    pub(super) fn kept_capacity(&self) -> usize {
        self.spare.iter().map(Vec::capacity).sum::<usize>() + self.chunk.capacity()
    }

    /// Tells the reactor what the connection holds, both kinds.
    fn report_held(&self, cx: &mut Ctx<'_>) {
        cx.set_held(self.held());
        cx.set_held_for_peer(self.held_for_peer());
    }
}

impl Session for H2Session {
    fn on_open(&mut self, cx: &mut Ctx<'_>) -> Flow {
        cx.stats().http2_connections.incr();
        self.send_preface(cx);
        Flow::Continue
    }

    fn on_input(&mut self, input: &[u8], cx: &mut Ctx<'_>) -> Step {
        self.note_output_drained(cx);
        let mut used = 0;
        if self.phase == Phase::Preface {
            let n = input.len().min(PREFACE.len());
            if input.get(..n) != PREFACE.get(..n) {
                self.fail(
                    ConnError(ErrorCode::ProtocolError, "no HTTP/2 connection preface"),
                    cx,
                );
                return Step::close(input.len());
            }
            if n < PREFACE.len() {
                return Step::consumed(0);
            }
            used = n;
            self.phase = Phase::Open;
        }
        if self.phase == Phase::Failed {
            return Step {
                consumed: input.len(),
                forward: 0,
                flow: self.flow(),
            };
        }
        used += self.read_frames(input.get(used..).unwrap_or_default(), cx);
        if self.phase != Phase::Failed {
            self.produce(cx);
        }
        self.schedule(cx);
        cx.set_receiving(self.receiving());
        self.rest_if_idle();
        self.report_held(cx);
        Step {
            consumed: used.min(input.len()),
            forward: 0,
            flow: self.flow(),
        }
    }

    fn on_drain(&mut self, cx: &mut Ctx<'_>) -> Flow {
        self.note_output_drained(cx);
        if self.phase == Phase::Failed {
            return self.flow();
        }
        self.answer_inspections(cx);
        self.produce(cx);
        self.schedule(cx);
        self.rest_if_idle();
        self.report_held(cx);
        self.flow()
    }

    fn on_eof(&mut self, _input: &[u8], cx: &mut Ctx<'_>) -> Flow {
        self.peer_ended = true;
        // The client sends nothing more: no RST_STREAM can end an event stream now.
        self.end_producers(cx);
        self.produce(cx);
        // The peer sends nothing more, WINDOW_UPDATE included: an answer larger than the
        // windows it left open can never be sent. Such streams are dropped now, their bytes
        // released, rather than held until the idle timeout.
        let window = self.send.available();
        let stuck: Vec<u32> = self
            .streams
            .iter()
            .filter(|s| {
                let file = s.file.as_ref().map_or(0, |f| f.len);
                let left = (s.backlog() as u64).saturating_add(file);
                s.head_sent && s.complete && left > s.send.available().min(window) as u64
            })
            .map(|s| s.id)
            .collect();
        for id in stuck {
            log::debug!(
                "http2: {}: stream {id} dropped: its window stays shut",
                cx.peer()
            );
            self.remove_stream(id, cx);
        }
        self.schedule(cx);
        self.report_held(cx);
        self.flow()
    }

    fn on_timeout(&mut self, cx: &mut Ctx<'_>) -> Flow {
        if matches!(self.phase, Phase::Open | Phase::Draining) && self.tick(cx) {
            // A stream's timer, not the idle timeout.
            self.produce(cx);
            self.schedule(cx);
            self.report_held(cx);
            return self.flow();
        }
        self.go_away(cx);
        self.drop_streams(cx);
        self.report_held(cx);
        Flow::Close
    }

    fn on_shutdown(&mut self, cx: &mut Ctx<'_>) {
        self.go_away(cx);
        self.end_producers(cx);
        self.produce(cx);
        self.schedule(cx);
        self.report_held(cx);
    }

    fn on_close(&mut self, cx: &mut Ctx<'_>) {
        self.drop_streams(cx);
    }
}

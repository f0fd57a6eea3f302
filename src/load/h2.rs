//! HTTP/2 for the load generator: the client side of one connection, sans-IO.
//!
//! HTTP/1.1's driver (`http.rs`) can be a pure decoder because replies come back in the order
//! requests went out and a request is the same bytes every time. HTTP/2 breaks both: every
//! request is a HEADERS frame on a new stream id, compressed by a stateful HPACK encoder, and
//! replies arrive interleaved, in any order. So a connection keeps an [`H2Client`]: its own
//! output (frames owed to the server) and its open streams, fed the bytes received.
//!
//! ```text
//!   new()      preface, SETTINGS (no push, our windows), WINDOW_UPDATE (connection window)
//!   AwaitSettings ── server SETTINGS (acked) ──► Open ── GOAWAY ──► GoingAway { last }
//!                                                  │ open(): HEADERS, END_STREAM (a GET)
//!   per stream:  Head ── HEADERS 1xx (skipped) ─► Head
//!                Head ── HEADERS, END_STREAM ───────────────────────► reply
//!                Head ── HEADERS ─► Body ── DATA … ── END_STREAM ───► reply (length checked)
//!                                   Body ── trailers, END_STREAM ───► reply
//!                any  ── RST_STREAM ──► reset (REFUSED_STREAM: unprocessed, to send again)
//! ```
//!
//! The server's `MAX_CONCURRENT_STREAMS` caps the streams open at once ([`H2Client::room`]);
//! requests wait until its first SETTINGS, so that cap is known before any stream opens
//! and no request is refused for exceeding it. Flow control in our direction is kept open:
//! both windows are [`WINDOW`], topped up by WINDOW_UPDATE once half is used. PING is
//! answered. After GOAWAY no stream opens; streams above its last stream id were never
//! processed and are handed back to be sent again on the next connection.
//!
//! Every field block is HPACK-decoded in order, even for a stream we no longer track, or the
//! two tables drift apart. The frame codec and HPACK are the server's own
//! (`protocol::http2`): a frame that breaks RFC 9113 is caught there, with its scope.

use evserve::protocol::http2::frame::{self, ErrorCode, Frame, Scope, SettingId, Settings};
use evserve::protocol::http2::hpack::{Decoder, Encoder};

use super::decode::{Broken, Outcome};

/// Our receive window, per stream and for the connection: large, so a fast server is never
/// held back by the client; topped up once half of it is used. Nothing is buffered against
/// it (bodies are counted, not kept), so it costs no memory.
pub const WINDOW: u32 = 16 << 20;

/// The most bytes of one field block (HEADERS and its CONTINUATIONs) kept while it arrives;
/// a larger one breaks the connection ([`Broken::HeadTooLarge`]).
pub const MAX_FIELD_BLOCK: usize = 64 * 1024;

/// The largest decoded header list accepted (`SETTINGS_MAX_HEADER_LIST_SIZE`, advertised).
pub const MAX_HEADER_LIST: u32 = 64 * 1024;

/// The most bytes of frames owed to the server (acks, window updates, requests) kept while
/// it reads none of them: past this, a server that keeps asking (PING, SETTINGS) without
/// reading would grow the client's memory without end, so the connection is broken
/// ([`Broken::Unread`]). Requests alone stay far below it (`MAX_STREAMS` small HEADERS).
pub const MAX_UNREAD: usize = 256 * 1024;

/// The frame size we accept (RFC 9113's default, so none is advertised).
const MAX_FRAME: u32 = frame::DEFAULT_MAX_FRAME_SIZE;

/// The highest stream id a client may open (odd, 2^31 - 1).
const LAST_STREAM_ID: u32 = 0x7fff_ffff;

/// What ended a stream, for the connection to settle the request sent on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// A whole response (its `:status`).
    Reply {
        /// The stream.
        stream: u32,
        /// How it was judged.
        outcome: Outcome,
    },
    /// A response that breaks the rules (no `:status`, a body of another length than its
    /// `content-length`); the stream was reset, the connection goes on.
    Malformed {
        /// The stream.
        stream: u32,
        /// What was wrong.
        why: Broken,
    },
    /// The server reset the stream with this code.
    Reset {
        /// The stream.
        stream: u32,
        /// RFC 9113's name of the code.
        code: &'static str,
    },
    /// The server did not process the stream (REFUSED_STREAM, or above a GOAWAY's last
    /// stream): the request may be sent again.
    Unprocessed {
        /// The stream.
        stream: u32,
    },
}

/// Where the connection is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Preface sent; no stream opens before the server's SETTINGS.
    AwaitSettings,
    /// Streams may open.
    Open,
    /// GOAWAY received (or stream ids used up): no new stream; the open ones finish.
    GoingAway,
}

/// Where one response is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Response {
    /// Waiting for the response's HEADERS.
    Head,
    /// In the body, after a final status.
    Body {
        /// The status.
        status: u16,
        /// The `content-length`, if any.
        length: Option<u64>,
        /// Body bytes so far.
        received: u64,
    },
}

/// One open stream.
#[derive(Debug, Clone, Copy)]
struct Stream {
    id: u32,
    response: Response,
    /// Flow-controlled bytes received since its window was last topped up.
    unacked: u32,
}

/// A field block arriving in HEADERS and CONTINUATION frames.
#[derive(Debug, Clone, Copy)]
struct Assembly {
    stream: u32,
    end_stream: bool,
}

/// The client side of one HTTP/2 connection of the load.
#[derive(Debug)]
pub struct H2Client {
    phase: Phase,
    /// Frames owed to the server, from `sent` on.
    out: Vec<u8>,
    sent: usize,
    encoder: Encoder,
    decoder: Decoder,
    /// The server's settings.
    peer: Settings,
    next_stream: u32,
    streams: Vec<Stream>,
    /// The field block in progress, if its HEADERS had no END_HEADERS.
    assembly: Option<Assembly>,
    block: Vec<u8>,
    /// A request's field block, encoded here before its frame header is known.
    scratch: Vec<u8>,
    /// Flow-controlled bytes received since the connection window was last topped up.
    unacked: u32,
    /// The requests are `HEAD`: a response has no body, whatever its `content-length`.
    head_request: bool,
    /// A frame arrived: from then on the server speaks HTTP/2.
    heard: bool,
}

/// The status and length a response's field block carries.
#[derive(Debug, Default, Clone, Copy)]
struct Fields {
    status: Option<u16>,
    length: Option<u64>,
    bad: bool,
}

impl H2Client {
    /// A connection about to open, with its preface and SETTINGS queued, for at most
    /// `streams` streams at once; `head_request`: the requests are `HEAD`.
    pub fn new(streams: usize, head_request: bool) -> H2Client {
        let mut out = Vec::with_capacity(1024);
        out.extend_from_slice(frame::PREFACE);
        frame::encode_settings(
            &mut out,
            &[
                (SettingId::ENABLE_PUSH, 0),
                (SettingId::INITIAL_WINDOW_SIZE, WINDOW),
                (SettingId::MAX_HEADER_LIST_SIZE, MAX_HEADER_LIST),
            ],
        );
        frame::encode_window_update(&mut out, 0, WINDOW - frame::DEFAULT_WINDOW_SIZE);
        let mut decoder = Decoder::new(frame::DEFAULT_HEADER_TABLE_SIZE as usize);
        decoder.set_max_header_list_size(MAX_HEADER_LIST as usize);
        H2Client {
            phase: Phase::AwaitSettings,
            out,
            sent: 0,
            encoder: Encoder::default(),
            decoder,
            peer: Settings::default(),
            next_stream: 1,
            streams: Vec::with_capacity(streams.min(128)),
            assembly: None,
            block: Vec::new(),
            scratch: Vec::new(),
            unacked: 0,
            head_request,
            heard: false,
        }
    }

    /// The bytes owed to the server.
    pub fn pending(&self) -> &[u8] {
        &self.out[self.sent..]
    }

    /// `n` bytes of [`H2Client::pending`] were written.
    pub fn wrote(&mut self, n: usize) {
        self.sent = (self.sent + n).min(self.out.len());
        if self.sent == self.out.len() {
            self.out.clear();
            self.sent = 0;
        }
    }

    /// Whether requests may be sent: the server's SETTINGS came and it is not going away.
    #[cfg(test)]
    pub fn ready(&self) -> bool {
        self.phase == Phase::Open
    }

    /// Whether the server's SETTINGS came: it speaks HTTP/2. A connection lost before that
    /// takes its requests with it (the server may not speak HTTP/2 at all: retrying them
    /// would never end); one lost after keeps those it never sent, for the next.
    pub fn settled(&self) -> bool {
        self.phase != Phase::AwaitSettings
    }

    /// How many more streams may open now: the server's `MAX_CONCURRENT_STREAMS` less those
    /// open (0 before its SETTINGS and after GOAWAY).
    pub fn room(&self) -> usize {
        if self.phase != Phase::Open {
            return 0;
        }
        let max = self.peer.max_concurrent_streams.unwrap_or(u32::MAX) as usize;
        max.saturating_sub(self.streams.len())
    }

    /// No stream is open and none may open: the connection has no more use (after GOAWAY).
    pub fn finished(&self) -> bool {
        self.phase == Phase::GoingAway && self.streams.is_empty()
    }

    /// Streams open.
    #[cfg(test)]
    pub fn open_streams(&self) -> usize {
        self.streams.len()
    }

    /// Opens a stream with a request of these fields (pseudo-fields first, names lowercase)
    /// and no body; returns its id. Call only with [`H2Client::room`] above 0.
    pub fn open<'f>(&mut self, fields: impl IntoIterator<Item = (&'f [u8], &'f [u8])>) -> u32 {
        let id = self.next_stream;
        self.scratch.clear();
        self.encoder.encode(fields, &mut self.scratch);
        frame::encode_headers(
            &mut self.out,
            id,
            &self.scratch,
            true,
            self.peer.max_frame_size,
        );
        self.streams.push(Stream {
            id,
            response: Response::Head,
            unacked: 0,
        });
        self.next_stream = id + 2;
        if self.next_stream > LAST_STREAM_ID {
            self.phase = Phase::GoingAway; // ids used up: finish these, then a new connection
        }
        id
    }

    /// Consumes the whole frames at the front of `src`, reporting each stream that ends to
    /// `end`, and queueing what the server is owed (SETTINGS ACK, PING ACK, WINDOW_UPDATE).
    /// Returns the bytes used; the rest is an incomplete frame, to offer again with more.
    /// An error breaks the connection.
    pub fn decode(&mut self, src: &[u8], mut end: impl FnMut(End)) -> Result<usize, Broken> {
        let mut at = 0;
        loop {
            let rest = &src[at..];
            if !self.heard && rest.starts_with(b"HTTP/1.") {
                // h2c refused (or TLS without ALPN h2): the server answered the preface as
                // an HTTP/1.1 request.
                return Err(Broken::Speaks("HTTP/1.1, not HTTP/2"));
            }
            match frame::decode(rest, MAX_FRAME) {
                Ok(None) => return Ok(at),
                Ok(Some((f, used))) => {
                    self.heard = true;
                    self.frame(f, &mut end)?;
                    at += used;
                    if self.pending().len() > MAX_UNREAD {
                        return Err(Broken::Unread);
                    }
                }
                Err(e) => match e.scope {
                    Scope::Connection => return Err(Broken::Http2(e.code.name())),
                    Scope::Stream(stream) => {
                        self.heard = true;
                        if e.header.kind == frame::FrameType::Data {
                            self.received(e.header.len);
                        }
                        self.malformed(stream, Broken::Http2(e.code.name()), &mut end);
                        at += e.frame_len().min(rest.len());
                    }
                },
            }
        }
    }

    fn frame(&mut self, f: Frame, end: &mut impl FnMut(End)) -> Result<(), Broken> {
        if self.assembly.is_some() && !matches!(f, Frame::Continuation { .. }) {
            return Err(Broken::Http2("PROTOCOL_ERROR"));
        }
        match f {
            Frame::Settings { ack: true, .. } => {}
            Frame::Settings { ack: false, params } => {
                self.peer
                    .apply_all(params)
                    .map_err(|code| Broken::Http2(code.name()))?;
                self.encoder.set_max_table_size(self.peer.header_table_size);
                frame::encode_settings_ack(&mut self.out);
                if self.phase == Phase::AwaitSettings {
                    self.phase = Phase::Open;
                }
            }
            Frame::Ping { ack: false, data } => frame::encode_ping(&mut self.out, data, true),
            Frame::Ping { ack: true, .. } => {}
            Frame::GoAway { last_stream, .. } => {
                self.phase = Phase::GoingAway;
                self.streams.retain(|s| {
                    let kept = s.id <= last_stream;
                    if !kept {
                        end(End::Unprocessed { stream: s.id });
                    }
                    kept
                });
            }
            Frame::Headers {
                stream,
                fragment,
                end_stream,
                end_headers,
                ..
            } => {
                self.check_stream_id(stream)?;
                if end_headers {
                    self.field_block(stream, fragment, end_stream, end)?;
                } else {
                    self.block.clear();
                    self.append_fragment(fragment)?;
                    self.assembly = Some(Assembly { stream, end_stream });
                }
            }
            Frame::Continuation {
                stream,
                fragment,
                end_headers,
            } => {
                let Some(assembly) = self.assembly.filter(|a| a.stream == stream) else {
                    return Err(Broken::Http2("PROTOCOL_ERROR"));
                };
                self.append_fragment(fragment)?;
                if end_headers {
                    self.assembly = None;
                    let block = std::mem::take(&mut self.block);
                    let done = self.field_block(stream, &block, assembly.end_stream, end);
                    self.block = block;
                    done?;
                }
            }
            Frame::Data {
                stream,
                data,
                end_stream,
                flow_len,
            } => {
                self.check_stream_id(stream)?;
                self.received(flow_len);
                self.data(stream, data.len() as u64, flow_len, end_stream, end);
            }
            Frame::RstStream { stream, code } => {
                if let Some(at) = self.find(stream) {
                    self.streams.swap_remove(at);
                    end(match code {
                        ErrorCode::RefusedStream => End::Unprocessed { stream },
                        _ => End::Reset {
                            stream,
                            code: code.name(),
                        },
                    });
                }
            }
            // We send no DATA, so the server's windows do not matter; PRIORITY and unknown
            // frame types are ignored, as RFC 9113 says.
            Frame::WindowUpdate { .. } | Frame::Priority { .. } | Frame::Unknown { .. } => {}
        }
        Ok(())
    }

    /// A server may not open streams (push is off) or use an id we never opened.
    fn check_stream_id(&self, stream: u32) -> Result<(), Broken> {
        if stream.is_multiple_of(2) || stream >= self.next_stream {
            return Err(Broken::Http2("PROTOCOL_ERROR"));
        }
        Ok(())
    }

    fn append_fragment(&mut self, fragment: &[u8]) -> Result<(), Broken> {
        if self.block.len() + fragment.len() > MAX_FIELD_BLOCK {
            return Err(Broken::HeadTooLarge);
        }
        self.block.extend_from_slice(fragment);
        Ok(())
    }

    fn find(&self, stream: u32) -> Option<usize> {
        self.streams.iter().position(|s| s.id == stream)
    }

    /// Counts `flow_len` bytes against the connection window, topping it up at half.
    fn received(&mut self, flow_len: u32) {
        self.unacked = self.unacked.saturating_add(flow_len);
        if self.unacked >= WINDOW / 2 {
            frame::encode_window_update(&mut self.out, 0, self.unacked);
            self.unacked = 0;
        }
    }

    /// A whole field block on `stream`: decoded always (HPACK's table), then applied.
    fn field_block(
        &mut self,
        stream: u32,
        block: &[u8],
        end_stream: bool,
        end: &mut impl FnMut(End),
    ) -> Result<(), Broken> {
        let mut fields = Fields::default();
        let decoded = self.decoder.decode(block, |name, value| match name {
            b":status" => {
                fields.status = parse_status(value);
                fields.bad |= fields.status.is_none();
            }
            b"content-length" => {
                fields.length = parse_decimal(value);
                fields.bad |= fields.length.is_none();
            }
            _ => {}
        });
        match decoded {
            Ok(()) => {}
            Err(e) if e.is_connection_error() => return Err(Broken::Http2(e.code().name())),
            Err(_) => fields.bad = true, // the list is over our limit: this stream only
        }
        let Some(at) = self.find(stream) else {
            return Ok(()); // a stream we reset: decoded for the table's sake only
        };
        let response = self.streams[at].response;
        match (response, fields.status) {
            _ if fields.bad => self.malformed(stream, Broken::BadHead, end),
            (Response::Head, Some(status)) if status < 200 => {
                if end_stream {
                    self.malformed(stream, Broken::BadHead, end);
                }
            }
            (Response::Head, Some(status)) => {
                let response = Response::Body {
                    status,
                    length: fields.length,
                    received: 0,
                };
                self.streams[at].response = response;
                if end_stream {
                    self.finish(at, end);
                }
            }
            (Response::Head, None) => self.malformed(stream, Broken::BadHead, end),
            // Trailers: they end the stream, and carry no status.
            (Response::Body { .. }, None) if end_stream => self.finish(at, end),
            (Response::Body { .. }, _) => self.malformed(stream, Broken::BadHead, end),
        }
        Ok(())
    }

    fn data(
        &mut self,
        stream: u32,
        len: u64,
        flow_len: u32,
        end_stream: bool,
        end: &mut impl FnMut(End),
    ) {
        let Some(at) = self.find(stream) else {
            return; // a stream we reset; its bytes counted against the connection
        };
        let s = &mut self.streams[at];
        let Response::Body { received, .. } = &mut s.response else {
            return self.malformed(stream, Broken::BadHead, end); // DATA before HEADERS
        };
        *received += len;
        if end_stream {
            return self.finish(at, end);
        }
        s.unacked = s.unacked.saturating_add(flow_len);
        if s.unacked >= WINDOW / 2 {
            frame::encode_window_update(&mut self.out, stream, s.unacked);
            s.unacked = 0;
        }
    }

    /// The stream at `at` ended: a reply, unless its body is not the length it announced.
    fn finish(&mut self, at: usize, end: &mut impl FnMut(End)) {
        let s = self.streams.swap_remove(at);
        let Response::Body {
            status,
            length,
            received,
        } = s.response
        else {
            return end(End::Malformed {
                stream: s.id,
                why: Broken::BadHead,
            });
        };
        let expected = match (self.head_request, status) {
            (true, _) | (_, 204 | 304) => 0,
            _ => length.unwrap_or(received),
        };
        end(match received == expected {
            true => End::Reply {
                stream: s.id,
                outcome: Outcome::Status(status),
            },
            false => End::Malformed {
                stream: s.id,
                why: Broken::BadLength,
            },
        });
    }

    /// A stream's response breaks the rules: reset it, and say so once.
    fn malformed(&mut self, stream: u32, why: Broken, end: &mut impl FnMut(End)) {
        if let Some(at) = self.find(stream) {
            self.streams.swap_remove(at);
            frame::encode_rst_stream(&mut self.out, stream, ErrorCode::ProtocolError);
            end(End::Malformed { stream, why });
        }
    }
}

/// A `:status` value: three digits.
fn parse_status(value: &[u8]) -> Option<u16> {
    match value {
        [a @ b'1'..=b'9', b @ b'0'..=b'9', c @ b'0'..=b'9'] => {
            Some(u16::from(a - b'0') * 100 + u16::from(b - b'0') * 10 + u16::from(c - b'0'))
        }
        _ => None,
    }
}

/// A `content-length` value: digits only.
fn parse_decimal(value: &[u8]) -> Option<u64> {
    if value.is_empty() || !value.iter().all(u8::is_ascii_digit) {
        return None;
    }
    value.iter().try_fold(0u64, |n, d| {
        n.checked_mul(10)?.checked_add(u64::from(d - b'0'))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use evserve::protocol::http2::frame::{FrameType, flags};

    const GET: [(&[u8], &[u8]); 4] = [
        (b":method", b"GET"),
        (b":scheme", b"http"),
        (b":authority", b"h"),
        (b":path", b"/plain"),
    ];

    /// A server's side: its encoder and the frames it sends.
    struct Server {
        encoder: Encoder,
        out: Vec<u8>,
    }

    impl Server {
        fn new() -> Server {
            Server {
                encoder: Encoder::default(),
                out: Vec::new(),
            }
        }

        fn settings(&mut self, params: &[(SettingId, u32)]) -> &mut Server {
            frame::encode_settings(&mut self.out, params);
            self
        }

        fn headers(&mut self, stream: u32, fields: &[(&[u8], &[u8])], end: bool) -> &mut Server {
            let mut block = Vec::new();
            self.encoder.encode(fields.iter().copied(), &mut block);
            frame::encode_headers(&mut self.out, stream, &block, end, MAX_FRAME);
            self
        }

        fn data(&mut self, stream: u32, data: &[u8], end: bool) -> &mut Server {
            frame::encode_data(&mut self.out, stream, data, end);
            self
        }

        fn ok(&mut self, stream: u32, body: &[u8]) -> &mut Server {
            let len = body.len().to_string();
            self.headers(
                stream,
                &[(b":status", b"200"), (b"content-length", len.as_bytes())],
                false,
            );
            self.data(stream, body, true)
        }

        fn take(&mut self) -> Vec<u8> {
            std::mem::take(&mut self.out)
        }
    }

    /// Feeds `input` in pieces of `step` bytes, as a connection would; returns the ends.
    fn feed(c: &mut H2Client, input: &[u8], step: usize) -> Result<Vec<End>, Broken> {
        let mut pending = Vec::new();
        let mut ends = Vec::new();
        for piece in input.chunks(step) {
            pending.extend_from_slice(piece);
            let used = c.decode(&pending, |e| ends.push(e))?;
            pending.drain(..used);
        }
        assert!(pending.is_empty(), "a frame left incomplete");
        Ok(ends)
    }

    /// The frames in `bytes`: (type, flags, stream).
    fn frames(mut bytes: &[u8]) -> Vec<(FrameType, u8, u32)> {
        let mut out = Vec::new();
        if bytes.starts_with(frame::PREFACE) {
            bytes = &bytes[frame::PREFACE.len()..];
        }
        while let Some(h) = frame::FrameHeader::parse(bytes) {
            out.push((h.kind, h.flags, h.stream));
            bytes = &bytes[h.frame_len()..];
        }
        out
    }

    fn ready_client(streams: usize) -> (H2Client, Server) {
        let mut c = H2Client::new(streams, false);
        let mut s = Server::new();
        let input = s.settings(&[(SettingId::MAX_CONCURRENT_STREAMS, 3)]).take();
        assert_eq!(feed(&mut c, &input, input.len()), Ok(vec![]));
        c.wrote(c.pending().len());
        (c, s)
    }

    fn reply(stream: u32, status: u16) -> End {
        End::Reply {
            stream,
            outcome: Outcome::Status(status),
        }
    }

    #[test]
    fn the_preface_settings_and_window_open_the_connection() {
        let c = H2Client::new(10, false);
        let out = c.pending();
        assert!(out.starts_with(frame::PREFACE));
        assert_eq!(
            frames(out),
            [(FrameType::Settings, 0, 0), (FrameType::WindowUpdate, 0, 0)]
        );
        assert!(!c.ready() && !c.settled());
        assert_eq!(c.room(), 0, "nothing opens before the server's SETTINGS");
    }

    #[test]
    fn settings_are_acked_and_cap_the_streams() {
        let (mut c, mut s) = ready_client(10);
        assert!(c.ready());
        assert_eq!(c.room(), 3, "the server's MAX_CONCURRENT_STREAMS");
        for want in [1, 3, 5] {
            assert_eq!(c.open(GET), want);
        }
        assert_eq!(c.room(), 0);
        assert_eq!(
            frames(c.pending()),
            [
                (
                    FrameType::Headers,
                    flags::END_STREAM | flags::END_HEADERS,
                    1
                ),
                (
                    FrameType::Headers,
                    flags::END_STREAM | flags::END_HEADERS,
                    3
                ),
                (
                    FrameType::Headers,
                    flags::END_STREAM | flags::END_HEADERS,
                    5
                ),
            ]
        );
        // HPACK indexes the repeated fields: the later blocks are a byte per field.
        let mut lens = Vec::new();
        let mut out = c.pending();
        while let Some(h) = frame::FrameHeader::parse(out) {
            lens.push(h.len);
            out = &out[h.frame_len()..];
        }
        assert!(lens[1] < lens[0], "{lens:?}");
        assert_eq!(lens[1..], [GET.len() as u32; 2], "{lens:?}");
        let input = s.settings(&[(SettingId::MAX_CONCURRENT_STREAMS, 4)]).take();
        c.wrote(c.pending().len());
        feed(&mut c, &input, 1).unwrap();
        assert_eq!(c.room(), 1);
        assert_eq!(frames(c.pending()), [(FrameType::Settings, flags::ACK, 0)]);
    }

    #[test]
    fn replies_whole_bytewise_and_out_of_order() {
        for step in [1, 2, 7, 1000] {
            let (mut c, mut s) = ready_client(3);
            let ids: Vec<u32> = (0..3).map(|_| c.open(GET)).collect();
            s.ok(ids[2], b"Hello, World!");
            s.headers(ids[0], &[(b":status", b"404")], true);
            s.headers(ids[1], &[(b":status", b"100")], false);
            s.headers(ids[1], &[(b":status", b"200")], false);
            s.data(ids[1], b"part", false).data(ids[1], b"s", false);
            s.headers(ids[1], &[(b"x-trailer", b"1")], true);
            let ends = feed(&mut c, &s.take(), step).unwrap();
            assert_eq!(
                ends,
                [reply(5, 200), reply(1, 404), reply(3, 200)],
                "{step}"
            );
            assert_eq!(c.open_streams(), 0);
            assert_eq!(c.room(), 3);
        }
    }

    #[test]
    fn continuation_frames_join_a_field_block() {
        let (mut c, mut s) = ready_client(3);
        let id = c.open(GET);
        let mut block = Vec::new();
        let big = vec![b'x'; 20_000];
        s.encoder.encode(
            [(&b":status"[..], &b"200"[..]), (b"x-big", &big)],
            &mut block,
        );
        frame::encode_headers(&mut s.out, id, &block, true, MAX_FRAME);
        let input = s.take();
        assert!(
            frames(&input)
                .iter()
                .any(|f| f.0 == FrameType::Continuation)
        );
        assert_eq!(feed(&mut c, &input, 999), Ok(vec![reply(id, 200)]));
    }

    #[test]
    fn a_body_of_the_wrong_length_is_malformed_and_reset() {
        let (mut c, mut s) = ready_client(3);
        let id = c.open(GET);
        s.headers(
            id,
            &[(b":status", b"200"), (b"content-length", b"5")],
            false,
        );
        s.data(id, b"abc", true);
        let ends = feed(&mut c, &s.take(), 4).unwrap();
        let why = Broken::BadLength;
        assert_eq!(ends, [End::Malformed { stream: id, why }]);
        // No status: malformed too, and the stream is reset.
        c.wrote(c.pending().len());
        let id = c.open(GET);
        c.wrote(c.pending().len());
        s.headers(id, &[(b"server", b"x")], true);
        let ends = feed(&mut c, &s.take(), 100).unwrap();
        let why = Broken::BadHead;
        assert_eq!(ends, [End::Malformed { stream: id, why }]);
        assert_eq!(frames(c.pending()), [(FrameType::RstStream, 0, id)]);
    }

    #[test]
    fn head_requests_expect_no_body() {
        let mut c = H2Client::new(2, true);
        let mut s = Server::new();
        let input = s.settings(&[]).take();
        assert_eq!(feed(&mut c, &input, 1), Ok(vec![]));
        assert_eq!(c.open(GET), 1);
        let input = s
            .headers(1, &[(b":status", b"200"), (b"content-length", b"13")], true)
            .take();
        assert_eq!(feed(&mut c, &input, 3), Ok(vec![reply(1, 200)]));
    }

    #[test]
    fn ping_is_answered_and_windows_topped_up() {
        let (mut c, mut s) = ready_client(3);
        let id = c.open(GET);
        c.wrote(c.pending().len());
        frame::encode_ping(&mut s.out, *b"12345678", false);
        s.headers(id, &[(b":status", b"200")], false);
        let chunk = vec![0u8; MAX_FRAME as usize];
        let frames_for_half = (WINDOW / 2 / MAX_FRAME) as usize;
        for _ in 0..frames_for_half {
            s.data(id, &chunk, false);
        }
        s.data(id, b"", true);
        let ends = feed(&mut c, &s.take(), 5000).unwrap();
        assert_eq!(ends, [reply(id, 200)]);
        let sent = frames(c.pending());
        assert_eq!(sent[0], (FrameType::Ping, flags::ACK, 0));
        assert!(sent.contains(&(FrameType::WindowUpdate, 0, 0)), "{sent:?}");
        assert!(sent.contains(&(FrameType::WindowUpdate, 0, id)), "{sent:?}");
    }

    #[test]
    fn a_server_that_reads_no_answers_is_cut_off_past_the_limit() {
        let (mut c, mut s) = ready_client(3);
        let ack_len = frame::HEADER_LEN + 8;
        for _ in 0..MAX_UNREAD / ack_len {
            frame::encode_ping(&mut s.out, [0; 8], false);
        }
        let pings = s.take();
        assert!(c.decode(&pings, |_| {}).is_ok(), "at the limit");
        assert_eq!(c.pending().len(), MAX_UNREAD / ack_len * ack_len);
        frame::encode_ping(&mut s.out, [0; 8], false);
        let one_more = s.take();
        assert_eq!(c.decode(&one_more, |_| {}), Err(Broken::Unread));
        // Read by the server, the answers make room again.
        c.wrote(c.pending().len());
        assert!(c.decode(&one_more, |_| {}).is_ok());
    }

    #[test]
    fn goaway_hands_back_the_unprocessed_streams() {
        let (mut c, mut s) = ready_client(3);
        let ids: Vec<u32> = (0..3).map(|_| c.open(GET)).collect();
        frame::encode_goaway(&mut s.out, ids[0], ErrorCode::NoError, b"bye");
        let ends = feed(&mut c, &s.take(), 3).unwrap();
        let back = |stream| End::Unprocessed { stream };
        assert_eq!(ends, [back(3), back(5)]);
        assert_eq!((c.room(), c.finished()), (0, false));
        assert!(
            c.settled() && !c.ready(),
            "requests not sent wait for the next connection"
        );
        s.ok(ids[0], b"x");
        assert_eq!(feed(&mut c, &s.take(), 100), Ok(vec![reply(1, 200)]));
        assert!(c.finished());
    }

    #[test]
    fn resets_are_reported_and_refusals_handed_back() {
        let (mut c, mut s) = ready_client(3);
        let a = c.open(GET);
        let b = c.open(GET);
        frame::encode_rst_stream(&mut s.out, a, ErrorCode::InternalError);
        frame::encode_rst_stream(&mut s.out, b, ErrorCode::RefusedStream);
        frame::encode_rst_stream(&mut s.out, b, ErrorCode::Cancel); // already gone
        let ends = feed(&mut c, &s.take(), 13).unwrap();
        let reset = End::Reset {
            stream: a,
            code: "INTERNAL_ERROR",
        };
        assert_eq!(ends, [reset, End::Unprocessed { stream: b }]);
    }

    #[test]
    fn broken_servers_break_the_connection() {
        let mut c = H2Client::new(1, false);
        let http1 = b"HTTP/1.1 400 Bad Request\r\n\r\n";
        assert!(matches!(c.decode(http1, |_| {}), Err(Broken::Speaks(_))));
        // A stream we never opened.
        let (mut c, mut s) = ready_client(3);
        let input = s.headers(7, &[(b":status", b"200")], true).take();
        assert_eq!(
            feed(&mut c, &input, 100),
            Err(Broken::Http2("PROTOCOL_ERROR"))
        );
        // A frame between HEADERS and its CONTINUATION.
        let (mut c, mut s) = ready_client(3);
        let id = c.open(GET);
        frame::encode_header(&mut s.out, 1, FrameType::Headers, 0, id);
        s.out.push(0x88);
        frame::encode_ping(&mut s.out, [0; 8], false);
        assert_eq!(
            feed(&mut c, &s.take(), 100),
            Err(Broken::Http2("PROTOCOL_ERROR"))
        );
        // A field block at the limit is kept; one byte more is refused.
        let (mut c, mut s) = ready_client(3);
        let id = c.open(GET);
        let len = MAX_FRAME as usize;
        for i in 0..MAX_FIELD_BLOCK / len {
            let kind = match i {
                0 => FrameType::Headers,
                _ => FrameType::Continuation,
            };
            frame::encode_header(&mut s.out, MAX_FRAME, kind, 0, id);
            s.out.extend(vec![0u8; len]);
        }
        assert_eq!(feed(&mut c, &s.take(), 4096), Ok(vec![]), "at the limit");
        frame::encode_header(&mut s.out, 1, FrameType::Continuation, 0, id);
        s.out.push(0);
        assert_eq!(feed(&mut c, &s.take(), 100), Err(Broken::HeadTooLarge));
        // A huge frame header: FRAME_SIZE_ERROR.
        let (mut c, mut s) = ready_client(3);
        frame::encode_header(&mut s.out, MAX_FRAME + 1, FrameType::Data, 0, 1);
        assert_eq!(
            c.decode(&s.take(), |_| {}),
            Err(Broken::Http2("FRAME_SIZE_ERROR"))
        );
    }

    /// Three interleaved responses, as `replies_whole_bytewise_and_out_of_order` sends.
    fn three_replies(c: &mut H2Client) -> Vec<u8> {
        let mut s = Server::new();
        let ids: Vec<u32> = (0..3).map(|_| c.open(GET)).collect();
        s.headers(ids[1], &[(b":status", b"200")], false);
        s.ok(ids[2], b"Hello, World!");
        s.data(ids[1], b"part", false);
        s.headers(ids[0], &[(b":status", b"404")], true);
        s.data(ids[1], b"s", true);
        s.take()
    }

    proptest::proptest! {
        #[test]
        fn any_input_in_any_pieces_never_panics(
            input in proptest::collection::vec(proptest::num::u8::ANY, 0..512),
            step in 1usize..64,
        ) {
            let (mut c, _) = ready_client(3);
            c.open(GET);
            let mut pending = Vec::new();
            for piece in input.chunks(step) {
                pending.extend_from_slice(piece);
                match c.decode(&pending, |_| {}) {
                    Ok(used) => drop(pending.drain(..used)),
                    Err(_) => break,
                }
            }
        }

        #[test]
        fn replies_are_the_same_however_the_bytes_are_cut(
            cuts in proptest::collection::vec(1usize..40, 1..200),
        ) {
            let (mut c, _) = ready_client(3);
            let input = three_replies(&mut c);
            let (mut pending, mut ends, mut at) = (Vec::new(), Vec::new(), 0);
            for cut in cuts.iter().cycle() {
                if at == input.len() {
                    break;
                }
                let next = (at + cut).min(input.len());
                pending.extend_from_slice(&input[at..next]);
                at = next;
                let used = c.decode(&pending, |e| ends.push(e)).unwrap();
                pending.drain(..used);
            }
            proptest::prop_assert_eq!(ends, vec![reply(5, 200), reply(1, 404), reply(3, 200)]);
            proptest::prop_assert!(pending.is_empty());
        }
    }
}

//! The RFC 9113 frame codec, sans-IO: whole frames out of a buffer, frames appended to an
//! output.
//!
//! [`decode`] is called with whatever input is buffered. It returns `Ok(None)` until a whole
//! frame (9-byte header plus payload) is there, then one [`Frame`] borrowing from the buffer
//! and how many bytes it used; nothing is copied or allocated. A frame is never larger than
//! the `SETTINGS_MAX_FRAME_SIZE` we advertise (16 KiB unless raised), so a connection's input
//! buffer only has to hold one frame of that size plus its header.
//!
//! Everything a single frame can get wrong is checked here, with the error code RFC 9113
//! names and its *scope* (§5.4): a [`Scope::Connection`] error ends the connection with
//! GOAWAY; a [`Scope::Stream`] error resets that one stream with RST_STREAM, and the
//! connection goes on after skipping [`FrameError::frame_len`] bytes. Errors a frame header
//! alone reveals (a frame over the maximum size, SETTINGS on a stream, PING of the wrong
//! length) are reported as soon as the header is in, without waiting for the payload, so a
//! peer cannot make us buffer a frame we are going to refuse.
//!
//! What needs state across frames is the connection's job, not this module's: which
//! streams exist and in which state, flow-control windows, and the rule that nothing but
//! CONTINUATION on the same stream may follow a HEADERS without END_HEADERS (§6.10).
//!
//! Encoders append to any [`Append`] output (a session's `Output`, or a `Vec<u8>` on the
//! client side and in tests). `encode_data_header` writes only a DATA frame's header, so a
//! caller can append the body itself, or queue a file to be sent between two headers.

use crate::session::Append;

/// The client connection preface (RFC 9113 §3.4): the first 24 bytes a client sends, before
/// its first SETTINGS frame. A server reads exactly these bytes, then frames.
pub const PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// The length of a frame header.
pub const HEADER_LEN: usize = 9;

/// The initial `SETTINGS_MAX_FRAME_SIZE` (2^14), also the smallest a peer may set.
pub const DEFAULT_MAX_FRAME_SIZE: u32 = 16_384;

/// The largest `SETTINGS_MAX_FRAME_SIZE` allowed (2^24 - 1, what a 24-bit length can say).
pub(crate) const MAX_MAX_FRAME_SIZE: u32 = 16_777_215;

/// The initial flow-control window of the connection and of every stream (2^16 - 1).
pub const DEFAULT_WINDOW_SIZE: u32 = 65_535;

/// The largest flow-control window (2^31 - 1); a window above it is a FLOW_CONTROL_ERROR.
pub(crate) const MAX_WINDOW_SIZE: u32 = 0x7fff_ffff;

/// The initial `SETTINGS_HEADER_TABLE_SIZE`: the HPACK dynamic table size both sides start with.
pub const DEFAULT_HEADER_TABLE_SIZE: u32 = 4_096;

/// Frame flags (RFC 9113 §6). Which ones a frame type defines is listed with each; the
/// decoder ignores flags a type does not define, as the RFC requires.
pub mod flags {
    /// DATA, HEADERS: the last frame the sender sends on this stream.
    pub const END_STREAM: u8 = 0x1;
    /// SETTINGS, PING: this frame acknowledges the peer's.
    pub const ACK: u8 = 0x1;
    /// HEADERS, PUSH_PROMISE, CONTINUATION: the field block ends in this frame.
    pub const END_HEADERS: u8 = 0x4;
    /// DATA, HEADERS, PUSH_PROMISE: a pad-length byte leads the payload, padding ends it.
    pub(crate) const PADDED: u8 = 0x8;
    /// HEADERS: 5 bytes of (deprecated) priority follow the pad length.
    pub(crate) const PRIORITY: u8 = 0x20;
}

/// An error code of RST_STREAM and GOAWAY (RFC 9113 §7). Codes this list does not know are
/// kept as [`ErrorCode::Unknown`]: the RFC says they must not trigger any special behaviour,
/// but a log may want to show them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// 0x0: not an error (a graceful GOAWAY).
    NoError,
    /// 0x1: the peer broke the protocol (and no more specific code applies).
    ProtocolError,
    /// 0x2: an error of our own.
    InternalError,
    /// 0x3: the peer broke flow control.
    FlowControlError,
    /// 0x4: a SETTINGS frame was not acknowledged in time.
    SettingsTimeout,
    /// 0x5: a frame arrived on a stream already half-closed by the peer.
    StreamClosed,
    /// 0x6: a frame of the wrong size.
    FrameSizeError,
    /// 0x7: the stream was refused before any processing (safe to retry).
    RefusedStream,
    /// 0x8: the stream is no longer needed.
    Cancel,
    /// 0x9: the HPACK state cannot be kept in sync.
    CompressionError,
    /// 0xa: the connection of a CONNECT request failed.
    ConnectError,
    /// 0xb: the peer is generating excessive load.
    EnhanceYourCalm,
    /// 0xc: the transport does not meet the security requirements.
    InadequateSecurity,
    /// 0xd: use HTTP/1.1 for this request.
    Http11Required,
    /// A code RFC 9113 does not define, kept as received.
    Unknown(u32),
}

impl ErrorCode {
    /// The code for a 32-bit value on the wire; unknown values are kept.
    pub(crate) fn from_u32(code: u32) -> ErrorCode {
        match code {
            0x0 => ErrorCode::NoError,
            0x1 => ErrorCode::ProtocolError,
            0x2 => ErrorCode::InternalError,
            0x3 => ErrorCode::FlowControlError,
            0x4 => ErrorCode::SettingsTimeout,
            0x5 => ErrorCode::StreamClosed,
            0x6 => ErrorCode::FrameSizeError,
            0x7 => ErrorCode::RefusedStream,
            0x8 => ErrorCode::Cancel,
            0x9 => ErrorCode::CompressionError,
            0xa => ErrorCode::ConnectError,
            0xb => ErrorCode::EnhanceYourCalm,
            0xc => ErrorCode::InadequateSecurity,
            0xd => ErrorCode::Http11Required,
            other => ErrorCode::Unknown(other),
        }
    }

    /// The 32-bit value sent on the wire.
    pub(crate) fn as_u32(self) -> u32 {
        match self {
            ErrorCode::NoError => 0x0,
            ErrorCode::ProtocolError => 0x1,
            ErrorCode::InternalError => 0x2,
            ErrorCode::FlowControlError => 0x3,
            ErrorCode::SettingsTimeout => 0x4,
            ErrorCode::StreamClosed => 0x5,
            ErrorCode::FrameSizeError => 0x6,
            ErrorCode::RefusedStream => 0x7,
            ErrorCode::Cancel => 0x8,
            ErrorCode::CompressionError => 0x9,
            ErrorCode::ConnectError => 0xa,
            ErrorCode::EnhanceYourCalm => 0xb,
            ErrorCode::InadequateSecurity => 0xc,
            ErrorCode::Http11Required => 0xd,
            ErrorCode::Unknown(code) => code,
        }
    }

    /// The name RFC 9113 gives the code (`"PROTOCOL_ERROR"`), or `"UNKNOWN"`: for logs and
    /// `/stats`.
    pub fn name(self) -> &'static str {
        match self {
            ErrorCode::NoError => "NO_ERROR",
            ErrorCode::ProtocolError => "PROTOCOL_ERROR",
            ErrorCode::InternalError => "INTERNAL_ERROR",
            ErrorCode::FlowControlError => "FLOW_CONTROL_ERROR",
            ErrorCode::SettingsTimeout => "SETTINGS_TIMEOUT",
            ErrorCode::StreamClosed => "STREAM_CLOSED",
            ErrorCode::FrameSizeError => "FRAME_SIZE_ERROR",
            ErrorCode::RefusedStream => "REFUSED_STREAM",
            ErrorCode::Cancel => "CANCEL",
            ErrorCode::CompressionError => "COMPRESSION_ERROR",
            ErrorCode::ConnectError => "CONNECT_ERROR",
            ErrorCode::EnhanceYourCalm => "ENHANCE_YOUR_CALM",
            ErrorCode::InadequateSecurity => "INADEQUATE_SECURITY",
            ErrorCode::Http11Required => "HTTP_1_1_REQUIRED",
            ErrorCode::Unknown(_) => "UNKNOWN",
        }
    }
}

/// A frame type (RFC 9113 §6). Types this list does not know are kept as
/// [`FrameType::Unknown`]; the RFC says a receiver ignores them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FrameType {
    /// 0x0
    Data,
    /// 0x1
    Headers,
    /// 0x2
    Priority,
    /// 0x3
    RstStream,
    /// 0x4
    Settings,
    /// 0x5
    PushPromise,
    /// 0x6
    Ping,
    /// 0x7
    GoAway,
    /// 0x8
    WindowUpdate,
    /// 0x9
    Continuation,
    /// Any other type byte, kept as received.
    Unknown(u8),
}

impl FrameType {
    /// The type for a byte on the wire; unknown values are kept.
    pub(crate) fn from_u8(kind: u8) -> FrameType {
        match kind {
            0x0 => FrameType::Data,
            0x1 => FrameType::Headers,
            0x2 => FrameType::Priority,
            0x3 => FrameType::RstStream,
            0x4 => FrameType::Settings,
            0x5 => FrameType::PushPromise,
            0x6 => FrameType::Ping,
            0x7 => FrameType::GoAway,
            0x8 => FrameType::WindowUpdate,
            0x9 => FrameType::Continuation,
            other => FrameType::Unknown(other),
        }
    }

    /// The byte sent on the wire.
    pub(crate) fn as_u8(self) -> u8 {
        match self {
            FrameType::Data => 0x0,
            FrameType::Headers => 0x1,
            FrameType::Priority => 0x2,
            FrameType::RstStream => 0x3,
            FrameType::Settings => 0x4,
            FrameType::PushPromise => 0x5,
            FrameType::Ping => 0x6,
            FrameType::GoAway => 0x7,
            FrameType::WindowUpdate => 0x8,
            FrameType::Continuation => 0x9,
            FrameType::Unknown(kind) => kind,
        }
    }
}

/// The 9-byte header every frame starts with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameHeader {
    /// Payload length in bytes (24 bits: at most `MAX_MAX_FRAME_SIZE`).
    pub len: u32,
    /// The frame's type.
    pub kind: FrameType,
    /// The flags byte, all bits as received (see [`flags`]).
    pub flags: u8,
    /// The stream identifier, with the reserved high bit masked off (RFC 9113 §4.1: it is
    /// ignored on receipt and sent as zero).
    pub stream: u32,
}

impl FrameHeader {
    /// Reads a header from the first [`HEADER_LEN`] bytes of `buf`, or `None` if `buf` is
    /// shorter. Nothing is checked: see [`decode`] for the rules.
    pub fn parse(buf: &[u8]) -> Option<FrameHeader> {
        let head: &[u8; HEADER_LEN] = buf.get(..HEADER_LEN)?.try_into().ok()?;
        Some(FrameHeader {
            len: u32::from_be_bytes([0, head[0], head[1], head[2]]),
            kind: FrameType::from_u8(head[3]),
            flags: head[4],
            stream: u32::from_be_bytes([head[5], head[6], head[7], head[8]]) & 0x7fff_ffff,
        })
    }

    /// Appends the 9 header bytes. `len` must fit in 24 bits and `stream` in 31 (the caller's
    /// contract: the higher bits are dropped).
    pub(crate) fn encode(&self, out: &mut impl Append) {
        debug_assert!(self.len <= MAX_MAX_FRAME_SIZE, "frame length over 24 bits");
        let len = self.len.to_be_bytes();
        let stream = (self.stream & 0x7fff_ffff).to_be_bytes();
        out.append(&[
            len[1],
            len[2],
            len[3],
            self.kind.as_u8(),
            self.flags,
            stream[0],
            stream[1],
            stream[2],
            stream[3],
        ]);
    }

    /// Whether all bits of `flag` are set.
    pub(crate) fn has(&self, flag: u8) -> bool {
        self.flags & flag == flag
    }

    /// The whole frame's length on the wire: header plus payload.
    pub fn frame_len(&self) -> usize {
        HEADER_LEN + self.len as usize
    }
}

/// The (deprecated, RFC 9113 §5.3.2) priority fields of a HEADERS or PRIORITY frame. evserve
/// reads and ignores them, but a stream that depends on itself is still an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Priority {
    /// The stream this one depends on (0: none).
    pub dependency: u32,
    /// The exclusive bit.
    pub exclusive: bool,
    /// The weight as sent: 0..=255 stands for 1..=256.
    pub weight: u8,
}

impl Priority {
    fn parse(bytes: &[u8; 5]) -> Priority {
        let word = u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
        Priority {
            dependency: word & 0x7fff_ffff,
            exclusive: word & 0x8000_0000 != 0,
            weight: bytes[4],
        }
    }
}

/// A SETTINGS parameter identifier (RFC 9113 §6.5.2). Any 16-bit value may arrive; the
/// constants are the ones evserve understands, the others are ignored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SettingId(pub u16);

impl SettingId {
    /// 0x1: the largest HPACK dynamic table the sender's decoder allows (default 4096).
    pub(crate) const HEADER_TABLE_SIZE: SettingId = SettingId(0x1);
    /// 0x2: 0 or 1, whether the sender (a client) accepts server push (default 1).
    pub const ENABLE_PUSH: SettingId = SettingId(0x2);
    /// 0x3: how many streams the sender lets its peer open at once (default unlimited).
    pub const MAX_CONCURRENT_STREAMS: SettingId = SettingId(0x3);
    /// 0x4: the sender's initial stream receive window (default 65535, at most 2^31-1).
    pub const INITIAL_WINDOW_SIZE: SettingId = SettingId(0x4);
    /// 0x5: the largest frame payload the sender accepts (16384..=16777215).
    pub(crate) const MAX_FRAME_SIZE: SettingId = SettingId(0x5);
    /// 0x6: advisory: the largest field list the sender accepts (name + value + 32 per field).
    pub const MAX_HEADER_LIST_SIZE: SettingId = SettingId(0x6);
    /// 0x8 (RFC 8441): 0 or 1, whether the sender accepts the extended CONNECT method.
    pub(crate) const ENABLE_CONNECT_PROTOCOL: SettingId = SettingId(0x8);
    /// 0x9 (RFC 9218): 0 or 1, whether the sender ignores RFC 7540 priorities.
    pub(crate) const NO_RFC7540_PRIORITIES: SettingId = SettingId(0x9);
}

/// The parameters of a SETTINGS frame, in the order sent: an iterator of `(id, value)`
/// pairs over the borrowed payload. Its length is a multiple of 6, checked by [`decode`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SettingsIter<'a> {
    payload: &'a [u8],
}

impl<'a> SettingsIter<'a> {
    /// The parameters in `payload`; a trailing partial parameter (never there after
    /// [`decode`]) is ignored.
    pub(crate) fn new(payload: &'a [u8]) -> SettingsIter<'a> {
        SettingsIter { payload }
    }

    /// Whether there are no parameters.
    #[cfg(test)]
    pub(crate) fn is_empty(&self) -> bool {
        self.payload.len() < 6
    }
}

impl Iterator for SettingsIter<'_> {
    type Item = (SettingId, u32);

    fn next(&mut self) -> Option<(SettingId, u32)> {
        let (param, rest) = self.payload.split_first_chunk::<6>()?;
        self.payload = rest;
        let id = u16::from_be_bytes([param[0], param[1]]);
        let value = u32::from_be_bytes([param[2], param[3], param[4], param[5]]);
        Some((SettingId(id), value))
    }
}

/// One endpoint's settings, starting at RFC 9113's initial values ([`Settings::default`]);
/// `Settings::apply` validates and applies what a SETTINGS frame carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    /// `SETTINGS_HEADER_TABLE_SIZE` (default 4096).
    pub header_table_size: u32,
    /// `SETTINGS_ENABLE_PUSH` (default true). evserve never pushes either way.
    pub enable_push: bool,
    /// `SETTINGS_MAX_CONCURRENT_STREAMS` (default `None`: unlimited).
    pub max_concurrent_streams: Option<u32>,
    /// `SETTINGS_INITIAL_WINDOW_SIZE` (default 65535).
    pub initial_window_size: u32,
    /// `SETTINGS_MAX_FRAME_SIZE` (default 16384).
    pub max_frame_size: u32,
    /// `SETTINGS_MAX_HEADER_LIST_SIZE` (default `None`: unlimited).
    pub max_header_list_size: Option<u32>,
    /// `SETTINGS_ENABLE_CONNECT_PROTOCOL` (RFC 8441, default false).
    pub enable_connect_protocol: bool,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            header_table_size: DEFAULT_HEADER_TABLE_SIZE,
            enable_push: true,
            max_concurrent_streams: None,
            initial_window_size: DEFAULT_WINDOW_SIZE,
            max_frame_size: DEFAULT_MAX_FRAME_SIZE,
            max_header_list_size: None,
            enable_connect_protocol: false,
        }
    }
}

impl Settings {
    /// Validates one parameter and stores it. The errors are connection errors of the code
    /// returned: ENABLE_PUSH, ENABLE_CONNECT_PROTOCOL or NO_RFC7540_PRIORITIES other than 0/1
    /// (PROTOCOL_ERROR), INITIAL_WINDOW_SIZE over 2^31-1 (FLOW_CONTROL_ERROR), MAX_FRAME_SIZE
    /// outside 16384..=16777215 (PROTOCOL_ERROR). Unknown identifiers are ignored. On error
    /// nothing is stored.
    ///
    /// A change of INITIAL_WINDOW_SIZE adjusts every open stream's send window by the
    /// difference (§6.9.2): the caller compares the value before and after. A client must
    /// also refuse ENABLE_PUSH = 1 from a server; that depends on the side, so it is the
    /// caller's check too.
    pub(crate) fn apply(&mut self, id: SettingId, value: u32) -> Result<(), ErrorCode> {
        let flag = |value: u32| match value {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(ErrorCode::ProtocolError),
        };
        match id {
            SettingId::HEADER_TABLE_SIZE => self.header_table_size = value,
            SettingId::ENABLE_PUSH => self.enable_push = flag(value)?,
            SettingId::MAX_CONCURRENT_STREAMS => self.max_concurrent_streams = Some(value),
            SettingId::INITIAL_WINDOW_SIZE if value > MAX_WINDOW_SIZE => {
                return Err(ErrorCode::FlowControlError);
            }
            SettingId::INITIAL_WINDOW_SIZE => self.initial_window_size = value,
            SettingId::MAX_FRAME_SIZE
                if !(DEFAULT_MAX_FRAME_SIZE..=MAX_MAX_FRAME_SIZE).contains(&value) =>
            {
                return Err(ErrorCode::ProtocolError);
            }
            SettingId::MAX_FRAME_SIZE => self.max_frame_size = value,
            SettingId::MAX_HEADER_LIST_SIZE => self.max_header_list_size = Some(value),
            SettingId::ENABLE_CONNECT_PROTOCOL => self.enable_connect_protocol = flag(value)?,
            SettingId::NO_RFC7540_PRIORITIES => {
                flag(value)?;
            }
            _ => {}
        }
        Ok(())
    }

    /// Applies every parameter of a SETTINGS frame in order (RFC 9113 §6.5.3), stopping at
    /// the first invalid one (see `Settings::apply`); the frame is then a connection error.
    pub fn apply_all(&mut self, mut params: SettingsIter<'_>) -> Result<(), ErrorCode> {
        params.try_for_each(|(id, value)| self.apply(id, value))
    }
}

/// One decoded frame, borrowing its payload from the input buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Frame<'a> {
    /// DATA (§6.1), padding stripped.
    Data {
        /// The stream (never 0).
        stream: u32,
        /// The body bytes.
        data: &'a [u8],
        /// The sender's last frame on this stream.
        end_stream: bool,
        /// The whole payload length, padding included: what counts against flow control.
        flow_len: u32,
    },
    /// HEADERS (§6.2), padding and priority stripped.
    Headers {
        /// The stream (never 0).
        stream: u32,
        /// The field block fragment, to HPACK-decode once the block is whole.
        fragment: &'a [u8],
        /// The sender's last frame on this stream (trailers, or a request without body).
        end_stream: bool,
        /// The field block ends here; otherwise CONTINUATION frames follow.
        end_headers: bool,
        /// The priority fields, if the PRIORITY flag was set. A dependency on the frame's
        /// own stream is a stream error of type PROTOCOL_ERROR (§5.3.1), but the field block
        /// must still be HPACK-decoded (§4.3), so the frame is returned and the caller checks
        /// [`Priority::dependency`] against `stream` after decoding.
        priority: Option<Priority>,
    },
    /// PRIORITY (§6.3): read and ignored by evserve.
    Priority {
        /// The stream (never 0, never its own dependency: both checked).
        stream: u32,
        /// The priority fields.
        priority: Priority,
    },
    /// RST_STREAM (§6.4).
    RstStream {
        /// The stream (never 0).
        stream: u32,
        /// Why the peer reset it.
        code: ErrorCode,
    },
    /// SETTINGS (§6.5) on stream 0.
    Settings {
        /// An acknowledgement of our SETTINGS (then `params` is empty).
        ack: bool,
        /// The parameters, in order.
        params: SettingsIter<'a>,
    },
    /// PING (§6.7) on stream 0.
    Ping {
        /// An answer to our PING (otherwise answer it with the same data and `ack`).
        ack: bool,
        /// The opaque 8 bytes.
        data: [u8; 8],
    },
    /// GOAWAY (§6.8) on stream 0.
    GoAway {
        /// The last stream the peer may have processed (reserved bit masked).
        last_stream: u32,
        /// Why the peer is going away.
        code: ErrorCode,
        /// Opaque debug data (often text).
        debug: &'a [u8],
    },
    /// WINDOW_UPDATE (§6.9); the increment is never 0.
    WindowUpdate {
        /// The stream, or 0 for the connection's window.
        stream: u32,
        /// How many more bytes the peer accepts, 1..=2^31-1.
        increment: u32,
    },
    /// CONTINUATION (§6.10): more of the field block of the HEADERS before it.
    Continuation {
        /// The stream (never 0; whether it is the right one is the caller's check).
        stream: u32,
        /// The field block fragment.
        fragment: &'a [u8],
        /// The field block ends here.
        end_headers: bool,
    },
    /// A frame of a type RFC 9113 does not define: to be ignored (§4.1, §5.5), except that
    /// it must not arrive inside a field block (the caller's check).
    Unknown {
        /// The type byte.
        kind: u8,
        /// The flags byte.
        flags: u8,
        /// The stream.
        stream: u32,
        /// The payload.
        payload: &'a [u8],
    },
}

/// Whether a [`FrameError`] ends the connection or only one stream (RFC 9113 §5.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Send GOAWAY with the code and close the connection; read no further frames.
    Connection,
    /// Send RST_STREAM with the code on this stream, skip [`FrameError::frame_len`] bytes of
    /// input (always all buffered), and go on with the next frame.
    Stream(u32),
}

/// A frame [`decode`] refuses: the code to send, and whether it ends the connection or one
/// stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameError {
    /// The code for GOAWAY or RST_STREAM.
    pub code: ErrorCode,
    /// Connection or stream error.
    pub scope: Scope,
    /// The refused frame's header (its length still counts against the connection's flow
    /// control window if it is DATA).
    pub header: FrameHeader,
}

impl FrameError {
    fn connection(code: ErrorCode, header: FrameHeader) -> FrameError {
        FrameError {
            code,
            scope: Scope::Connection,
            header,
        }
    }

    fn stream(code: ErrorCode, header: FrameHeader) -> FrameError {
        FrameError {
            code,
            scope: Scope::Stream(header.stream),
            header,
        }
    }

    /// Bytes the refused frame takes in the input: what to skip after a stream error.
    pub fn frame_len(&self) -> usize {
        self.header.frame_len()
    }
}

impl std::fmt::Display for FrameError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let scope = match self.scope {
            Scope::Connection => "connection error".to_string(),
            Scope::Stream(id) => format!("stream error on stream {id}"),
        };
        write!(
            f,
            "{scope} {}: {:?} frame of {} bytes on stream {}",
            self.code.name(),
            self.header.kind,
            self.header.len,
            self.header.stream
        )
    }
}

impl std::error::Error for FrameError {}

/// Decodes the frame at the start of `buf`.
///
/// - `Ok(None)`: not a whole frame yet; call again with more bytes (from the same start).
/// - `Ok(Some((frame, used)))`: one frame, borrowing from `buf`; drop `used` bytes (header
///   plus payload) before the next call. `used <= buf.len()` always.
/// - `Err(e)`: the frame breaks a rule of RFC 9113 §6 (see [`FrameError`] for what to do).
///   A connection error may be returned as soon as the header is in; a stream error only
///   once the whole frame is buffered, so it can be skipped.
///
/// `max_frame_size` is the `SETTINGS_MAX_FRAME_SIZE` we advertised: a longer frame is a
/// connection error of type FRAME_SIZE_ERROR. PUSH_PROMISE is always refused (connection
/// PROTOCOL_ERROR): evserve's server cannot receive one, and its client advertises
/// `SETTINGS_ENABLE_PUSH = 0`. Never panics, whatever the bytes.
pub fn decode(buf: &[u8], max_frame_size: u32) -> Result<Option<(Frame<'_>, usize)>, FrameError> {
    let Some(header) = FrameHeader::parse(buf) else {
        return Ok(None);
    };
    check_header(&header, max_frame_size)?;
    let Some(payload) = buf.get(HEADER_LEN..header.frame_len()) else {
        return Ok(None);
    };
    let frame = decode_payload(&header, payload)?;
    Ok(Some((frame, header.frame_len())))
}

/// The rules a header alone can break, all connection errors (§4.2, §6).
fn check_header(h: &FrameHeader, max_frame_size: u32) -> Result<(), FrameError> {
    use ErrorCode::{FrameSizeError, ProtocolError};
    let fail = |code| Err(FrameError::connection(code, *h));
    if h.len > max_frame_size {
        return fail(FrameSizeError);
    }
    let on_stream = matches!(
        h.kind,
        FrameType::Data
            | FrameType::Headers
            | FrameType::Priority
            | FrameType::RstStream
            | FrameType::Continuation
    );
    let on_connection = matches!(
        h.kind,
        FrameType::Settings | FrameType::Ping | FrameType::GoAway
    );
    if (on_stream && h.stream == 0) || (on_connection && h.stream != 0) {
        return fail(ProtocolError);
    }
    match h.kind {
        FrameType::PushPromise => fail(ProtocolError),
        FrameType::Settings if h.has(flags::ACK) && h.len != 0 => fail(FrameSizeError),
        FrameType::Settings if !h.len.is_multiple_of(6) => fail(FrameSizeError),
        FrameType::Ping if h.len != 8 => fail(FrameSizeError),
        FrameType::GoAway if h.len < 8 => fail(FrameSizeError),
        FrameType::RstStream | FrameType::WindowUpdate if h.len != 4 => fail(FrameSizeError),
        _ => Ok(()),
    }
}

/// The rules that need the payload; `payload` is exactly `h.len` bytes.
fn decode_payload<'a>(h: &FrameHeader, payload: &'a [u8]) -> Result<Frame<'a>, FrameError> {
    let word = |bytes: &[u8]| match bytes.first_chunk::<4>() {
        Some(b) => u32::from_be_bytes(*b),
        None => 0,
    };
    Ok(match h.kind {
        FrameType::Data => Frame::Data {
            stream: h.stream,
            data: strip_padding(h, payload, 0)?.1,
            end_stream: h.has(flags::END_STREAM),
            flow_len: h.len,
        },
        FrameType::Headers => {
            let extra = if h.has(flags::PRIORITY) { 5 } else { 0 };
            let (fields, fragment) = strip_padding(h, payload, extra)?;
            Frame::Headers {
                stream: h.stream,
                fragment,
                end_stream: h.has(flags::END_STREAM),
                end_headers: h.has(flags::END_HEADERS),
                priority: fields.first_chunk::<5>().map(Priority::parse),
            }
        }
        FrameType::Priority => {
            let Some(fields) = payload.first_chunk::<5>().filter(|_| payload.len() == 5) else {
                return Err(FrameError::stream(ErrorCode::FrameSizeError, *h));
            };
            let priority = Priority::parse(fields);
            if priority.dependency == h.stream {
                return Err(FrameError::stream(ErrorCode::ProtocolError, *h));
            }
            Frame::Priority {
                stream: h.stream,
                priority,
            }
        }
        FrameType::RstStream => Frame::RstStream {
            stream: h.stream,
            code: ErrorCode::from_u32(word(payload)),
        },
        FrameType::Settings => Frame::Settings {
            ack: h.has(flags::ACK),
            params: SettingsIter::new(payload),
        },
        FrameType::Ping => Frame::Ping {
            ack: h.has(flags::ACK),
            data: payload.first_chunk::<8>().copied().unwrap_or_default(),
        },
        FrameType::GoAway => Frame::GoAway {
            last_stream: word(payload) & 0x7fff_ffff,
            code: ErrorCode::from_u32(word(payload.get(4..).unwrap_or_default())),
            debug: payload.get(8..).unwrap_or_default(),
        },
        FrameType::WindowUpdate => {
            let increment = word(payload) & 0x7fff_ffff;
            if increment == 0 {
                return Err(match h.stream {
                    0 => FrameError::connection(ErrorCode::ProtocolError, *h),
                    _ => FrameError::stream(ErrorCode::ProtocolError, *h),
                });
            }
            Frame::WindowUpdate {
                stream: h.stream,
                increment,
            }
        }
        FrameType::Continuation => Frame::Continuation {
            stream: h.stream,
            fragment: payload,
            end_headers: h.has(flags::END_HEADERS),
        },
        // Refused by check_header already; kept total so no input can panic.
        FrameType::PushPromise => {
            return Err(FrameError::connection(ErrorCode::ProtocolError, *h));
        }
        FrameType::Unknown(kind) => Frame::Unknown {
            kind,
            flags: h.flags,
            stream: h.stream,
            payload,
        },
    })
}

/// Splits a DATA or HEADERS payload into `extra` leading fixed bytes (HEADERS' priority) and
/// the content, with the pad-length byte and the padding removed. A payload too short for
/// its mandatory fields is a FRAME_SIZE_ERROR, padding longer than what remains a
/// PROTOCOL_ERROR (§6.1, §6.2); both are connection errors, because both frame types change
/// connection state (flow control, the HPACK table).
fn strip_padding<'a>(
    h: &FrameHeader,
    payload: &'a [u8],
    extra: usize,
) -> Result<(&'a [u8], &'a [u8]), FrameError> {
    let (pad, rest) = match h.has(flags::PADDED) {
        true => match payload.split_first() {
            Some((&pad, rest)) => (usize::from(pad), rest),
            None => return Err(FrameError::connection(ErrorCode::FrameSizeError, *h)),
        },
        false => (0, payload),
    };
    if rest.len() < extra {
        return Err(FrameError::connection(ErrorCode::FrameSizeError, *h));
    }
    let (fields, rest) = rest.split_at(extra);
    match rest.len().checked_sub(pad) {
        Some(content) => Ok((fields, &rest[..content])),
        None => Err(FrameError::connection(ErrorCode::ProtocolError, *h)),
    }
}

/// Appends a frame header (see `FrameHeader::encode`).
pub fn encode_header(out: &mut impl Append, len: u32, kind: FrameType, flags: u8, stream: u32) {
    FrameHeader {
        len,
        kind,
        flags,
        stream,
    }
    .encode(out);
}

/// Appends the header of a DATA frame of `len` body bytes (no padding): the caller appends
/// the `len` bytes next, or queues them (a file range) to follow. `len` must be at most the
/// peer's `SETTINGS_MAX_FRAME_SIZE` and within both flow-control windows: the caller's
/// contract. A DATA frame of 0 bytes with `end_stream` is how a body ends after the fact.
pub(crate) fn encode_data_header(out: &mut impl Append, stream: u32, len: u32, end_stream: bool) {
    let flags = if end_stream { flags::END_STREAM } else { 0 };
    encode_header(out, len, FrameType::Data, flags, stream);
}

/// Appends a whole DATA frame carrying `data` (same contract as `encode_data_header`).
pub fn encode_data(out: &mut impl Append, stream: u32, data: &[u8], end_stream: bool) {
    encode_data_header(out, stream, frame_len(data), end_stream);
    out.append(data);
}

/// Appends a field block as one HEADERS frame, followed by as many CONTINUATION frames as
/// the peer's `max_frame_size` requires (values below 16384 are treated as 16384, the
/// smallest a peer may set). END_HEADERS is set on the last frame, END_STREAM (if asked) on
/// the HEADERS frame, as RFC 9113 §6.2 places it. The frames are appended back to back, as
/// the RFC requires: nothing may be sent between them on this connection.
pub fn encode_headers(
    out: &mut impl Append,
    stream: u32,
    block: &[u8],
    end_stream: bool,
    max_frame_size: u32,
) {
    let max = max_frame_size.clamp(DEFAULT_MAX_FRAME_SIZE, MAX_MAX_FRAME_SIZE) as usize;
    let mut chunks = block.chunks(max);
    let first = chunks.next().unwrap_or_default();
    let mut kind = FrameType::Headers;
    let mut flags = if end_stream { flags::END_STREAM } else { 0 };
    let mut chunk = first;
    out.reserve_more(block.len() + HEADER_LEN * (1 + block.len() / max));
    loop {
        let next = chunks.next();
        if next.is_none() {
            flags |= flags::END_HEADERS;
        }
        encode_header(out, frame_len(chunk), kind, flags, stream);
        out.append(chunk);
        match next {
            Some(more) => chunk = more,
            None => return,
        }
        kind = FrameType::Continuation;
        flags = 0;
    }
}

/// Appends a SETTINGS frame carrying `params` in order (at most 2796202 of them, the most a
/// 24-bit length holds: the caller's contract).
pub fn encode_settings(out: &mut impl Append, params: &[(SettingId, u32)]) {
    let len = frame_len_of(params.len() * 6);
    encode_header(out, len, FrameType::Settings, 0, 0);
    for &(SettingId(id), value) in params {
        out.append(&id.to_be_bytes());
        out.append(&value.to_be_bytes());
    }
}

/// Appends the acknowledgement of the peer's SETTINGS (an empty SETTINGS frame with ACK).
pub fn encode_settings_ack(out: &mut impl Append) {
    encode_header(out, 0, FrameType::Settings, flags::ACK, 0);
}

/// Appends a PING with `data`; `ack` answers the peer's PING (send back its data).
pub fn encode_ping(out: &mut impl Append, data: [u8; 8], ack: bool) {
    let flags = if ack { flags::ACK } else { 0 };
    encode_header(out, 8, FrameType::Ping, flags, 0);
    out.append(&data);
}

/// Appends a GOAWAY: `last_stream` is the highest stream we may have processed (streams
/// above it can be retried elsewhere), `code` why, `debug` opaque data for the peer's logs
/// (keep it short: it must fit in the peer's max frame size with 8 bytes more).
pub fn encode_goaway(out: &mut impl Append, last_stream: u32, code: ErrorCode, debug: &[u8]) {
    encode_header(out, frame_len_of(8 + debug.len()), FrameType::GoAway, 0, 0);
    out.append(&(last_stream & 0x7fff_ffff).to_be_bytes());
    out.append(&code.as_u32().to_be_bytes());
    out.append(debug);
}

/// Appends an RST_STREAM ending `stream` (not 0) with `code`.
pub fn encode_rst_stream(out: &mut impl Append, stream: u32, code: ErrorCode) {
    encode_header(out, 4, FrameType::RstStream, 0, stream);
    out.append(&code.as_u32().to_be_bytes());
}

/// Appends a WINDOW_UPDATE granting `increment` more bytes on `stream` (0: the connection).
/// `increment` must be 1..=2^31-1: the caller's contract (0 is a protocol error at the peer).
pub fn encode_window_update(out: &mut impl Append, stream: u32, increment: u32) {
    debug_assert!(increment != 0 && increment <= MAX_WINDOW_SIZE);
    encode_header(out, 4, FrameType::WindowUpdate, 0, stream);
    out.append(&(increment & 0x7fff_ffff).to_be_bytes());
}

/// A payload length as the 24-bit field holds it (callers keep payloads under the limit).
fn frame_len(payload: &[u8]) -> u32 {
    frame_len_of(payload.len())
}

fn frame_len_of(len: usize) -> u32 {
    debug_assert!(
        len <= MAX_MAX_FRAME_SIZE as usize,
        "frame payload over 24 bits"
    );
    u32::try_from(len).unwrap_or(MAX_MAX_FRAME_SIZE)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A frame built by hand, byte by byte, independent of the encoders.
    fn raw(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
        let len = payload.len() as u32;
        let mut out = vec![(len >> 16) as u8, (len >> 8) as u8, len as u8, kind, flags];
        out.extend_from_slice(&stream.to_be_bytes());
        out.extend_from_slice(payload);
        out
    }

    const MAX: u32 = DEFAULT_MAX_FRAME_SIZE;

    fn one(bytes: &[u8]) -> Frame<'_> {
        match decode(bytes, MAX) {
            Ok(Some((frame, used))) => {
                assert_eq!(used, bytes.len());
                frame
            }
            other => panic!("expected a frame, got {other:?}"),
        }
    }

    fn error(bytes: &[u8]) -> (ErrorCode, Scope) {
        match decode(bytes, MAX) {
            Err(e) => (e.code, e.scope),
            other => panic!("expected an error, got {other:?}"),
        }
    }

    const CONN: Scope = Scope::Connection;
    use ErrorCode::{FlowControlError, FrameSizeError, ProtocolError};

    #[test]
    fn preface_is_the_rfc_string() {
        assert_eq!(&PREFACE[..], b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
    }

    #[test]
    fn error_codes_round_trip_and_unknown_codes_are_kept() {
        for code in 0..=0xe {
            assert_eq!(ErrorCode::from_u32(code).as_u32(), code);
        }
        assert_eq!(ErrorCode::from_u32(0xd), ErrorCode::Http11Required);
        assert_eq!(ErrorCode::from_u32(0xe), ErrorCode::Unknown(0xe));
        assert_eq!(ErrorCode::from_u32(u32::MAX).as_u32(), u32::MAX);
        assert_eq!(ErrorCode::EnhanceYourCalm.name(), "ENHANCE_YOUR_CALM");
        for kind in 0..=255u8 {
            assert_eq!(FrameType::from_u8(kind).as_u8(), kind);
        }
    }

    #[test]
    fn header_masks_the_reserved_bit() {
        let bytes = [0, 0, 3, 0x0, 0x1, 0x80, 0, 0, 5];
        let h = FrameHeader::parse(&bytes).unwrap();
        assert_eq!(
            h,
            FrameHeader {
                len: 3,
                kind: FrameType::Data,
                flags: 1,
                stream: 5
            }
        );
        assert_eq!(FrameHeader::parse(&bytes[..8]), None);
        let mut out = Vec::new();
        h.encode(&mut out);
        assert_eq!(out, [0, 0, 3, 0, 1, 0, 0, 0, 5]);
    }

    #[test]
    fn data_plain_and_padded() {
        let bytes = raw(0x0, 0x1, 1, b"hello");
        let f = one(&bytes);
        assert_eq!(
            f,
            Frame::Data {
                stream: 1,
                data: b"hello",
                end_stream: true,
                flow_len: 5
            }
        );
        // Pad length 3, "hi", three zero bytes: flow control counts all 6 bytes.
        let bytes = raw(0x0, flags::PADDED, 3, b"\x03hi\0\0\0");
        let f = one(&bytes);
        assert_eq!(
            f,
            Frame::Data {
                stream: 3,
                data: b"hi",
                end_stream: false,
                flow_len: 6
            }
        );
        // Padding taking everything after the pad-length byte is allowed: empty data.
        let bytes = raw(0x0, flags::PADDED, 3, b"\x02\0\0");
        let f = one(&bytes);
        assert!(matches!(f, Frame::Data { data: b"", .. }));
    }

    #[test]
    fn data_errors() {
        assert_eq!(error(&raw(0x0, 0, 0, b"x")), (ProtocolError, CONN));
        // Padding one byte longer than what follows the pad-length byte.
        assert_eq!(
            error(&raw(0x0, flags::PADDED, 1, b"\x03\0\0")),
            (ProtocolError, CONN)
        );
        // PADDED with no room for the pad-length byte.
        assert_eq!(
            error(&raw(0x0, flags::PADDED, 1, b"")),
            (FrameSizeError, CONN)
        );
    }

    #[test]
    fn headers_with_padding_and_priority() {
        let bytes = raw(0x1, flags::END_HEADERS, 1, b"\x82\x86");
        let f = one(&bytes);
        assert_eq!(
            f,
            Frame::Headers {
                stream: 1,
                fragment: b"\x82\x86",
                end_stream: false,
                end_headers: true,
                priority: None
            }
        );
        let payload = b"\x02\x80\0\0\x03\x0f\x82\x86\0\0";
        let all = flags::PADDED | flags::PRIORITY | flags::END_STREAM;
        let bytes = raw(0x1, all, 5, payload);
        let f = one(&bytes);
        assert_eq!(
            f,
            Frame::Headers {
                stream: 5,
                fragment: b"\x82\x86",
                end_stream: true,
                end_headers: false,
                priority: Some(Priority {
                    dependency: 3,
                    exclusive: true,
                    weight: 15
                })
            }
        );
        // A self-dependency is returned (the block must still be decoded), for the caller.
        let bytes = raw(0x1, flags::PRIORITY, 5, b"\0\0\0\x05\x10");
        let f = one(&bytes);
        assert!(matches!(
            f,
            Frame::Headers {
                stream: 5,
                priority: Some(Priority { dependency: 5, .. }),
                ..
            }
        ));
    }

    #[test]
    fn headers_errors() {
        assert_eq!(error(&raw(0x1, 0, 0, b"\x82")), (ProtocolError, CONN));
        // PRIORITY needs 5 bytes: 4 is one short.
        assert_eq!(
            error(&raw(0x1, flags::PRIORITY, 1, b"\0\0\0\0")),
            (FrameSizeError, CONN)
        );
        // Padded + priority: padding of 2 with 1 byte left after the priority fields.
        let both = flags::PADDED | flags::PRIORITY;
        assert_eq!(
            error(&raw(0x1, both, 1, b"\x02\0\0\0\0\x10\x82")),
            (ProtocolError, CONN)
        );
        assert_eq!(
            error(&raw(0x1, both, 1, b"\x00\0\0\0")),
            (FrameSizeError, CONN)
        );
        assert!(decode(&raw(0x1, both, 1, b"\x01\0\0\0\0\x10\x82"), MAX).is_ok());
    }

    #[test]
    fn priority_frame() {
        let bytes = raw(0x2, 0, 3, b"\0\0\0\x01\xff");
        let f = one(&bytes);
        assert_eq!(
            f,
            Frame::Priority {
                stream: 3,
                priority: Priority {
                    dependency: 1,
                    exclusive: false,
                    weight: 255
                }
            }
        );
        assert_eq!(
            error(&raw(0x2, 0, 0, b"\0\0\0\x01\xff")),
            (ProtocolError, CONN)
        );
        // Wrong length and self-dependency are stream errors: skip the frame, reset stream.
        let bad = raw(0x2, 0, 3, b"\0\0\0\x01\xff\0");
        let e = decode(&bad, MAX).unwrap_err();
        assert_eq!(
            (e.code, e.scope, e.frame_len()),
            (FrameSizeError, Scope::Stream(3), 15)
        );
        assert_eq!(
            error(&raw(0x2, 0, 3, b"\0\0\0\x01")),
            (FrameSizeError, Scope::Stream(3))
        );
        assert_eq!(
            error(&raw(0x2, 0, 3, b"\x80\0\0\x03\x01")),
            (ProtocolError, Scope::Stream(3))
        );
    }

    #[test]
    fn rst_stream() {
        let bytes = raw(0x3, 0, 7, &[0, 0, 0, 8]);
        let f = one(&bytes);
        assert_eq!(
            f,
            Frame::RstStream {
                stream: 7,
                code: ErrorCode::Cancel
            }
        );
        assert_eq!(error(&raw(0x3, 0, 0, &[0, 0, 0, 8])), (ProtocolError, CONN));
        assert_eq!(
            error(&raw(0x3, 0, 7, &[0, 0, 0, 8, 0])),
            (FrameSizeError, CONN)
        );
        assert_eq!(error(&raw(0x3, 0, 7, &[0, 0, 8])), (FrameSizeError, CONN));
    }

    #[test]
    fn settings_params_and_ack() {
        let payload = [
            0, 1, 0, 0, 0x10, 0, 0, 3, 0, 0, 0, 100, 0xff, 0xff, 0, 0, 0, 1,
        ];
        let bytes = raw(0x4, 0, 0, &payload);
        let Frame::Settings { ack, params } = one(&bytes) else {
            panic!("not settings");
        };
        assert!(!ack);
        let all: Vec<_> = params.collect();
        assert_eq!(
            all,
            [
                (SettingId::HEADER_TABLE_SIZE, 4096),
                (SettingId::MAX_CONCURRENT_STREAMS, 100),
                (SettingId(0xffff), 1)
            ]
        );
        let mut s = Settings::default();
        s.apply_all(params).unwrap();
        assert_eq!(s.max_concurrent_streams, Some(100));
        let bytes = raw(0x4, flags::ACK, 0, b"");
        let Frame::Settings { ack, params } = one(&bytes) else {
            panic!("not settings");
        };
        assert!(ack && params.is_empty());
    }

    #[test]
    fn settings_errors() {
        assert_eq!(error(&raw(0x4, 0, 1, b"")), (ProtocolError, CONN));
        assert_eq!(error(&raw(0x4, 0, 0, &[0; 7])), (FrameSizeError, CONN));
        assert_eq!(error(&raw(0x4, 0, 0, &[0; 5])), (FrameSizeError, CONN));
        assert_eq!(
            error(&raw(0x4, flags::ACK, 0, &[0; 6])),
            (FrameSizeError, CONN)
        );
    }

    #[test]
    fn settings_values_are_validated_one_past_each_edge() {
        let mut s = Settings::default();
        let id = SettingId::INITIAL_WINDOW_SIZE;
        assert_eq!(s.apply(id, MAX_WINDOW_SIZE), Ok(()));
        assert_eq!(s.initial_window_size, MAX_WINDOW_SIZE);
        assert_eq!(s.apply(id, MAX_WINDOW_SIZE + 1), Err(FlowControlError));
        assert_eq!(s.initial_window_size, MAX_WINDOW_SIZE);
        let id = SettingId::MAX_FRAME_SIZE;
        assert_eq!(s.apply(id, 16_383), Err(ProtocolError));
        assert_eq!(s.apply(id, 16_384), Ok(()));
        assert_eq!(s.apply(id, 16_777_215), Ok(()));
        assert_eq!(s.apply(id, 16_777_216), Err(ProtocolError));
        assert_eq!(s.max_frame_size, 16_777_215);
        for id in [
            SettingId::ENABLE_PUSH,
            SettingId::ENABLE_CONNECT_PROTOCOL,
            SettingId::NO_RFC7540_PRIORITIES,
        ] {
            assert_eq!(s.apply(id, 0), Ok(()));
            assert_eq!(s.apply(id, 1), Ok(()));
            assert_eq!(s.apply(id, 2), Err(ProtocolError));
        }
        assert!(s.enable_push && s.enable_connect_protocol);
        assert_eq!(s.apply(SettingId(0x1234), u32::MAX), Ok(()));
        assert_eq!(s.apply(SettingId::MAX_HEADER_LIST_SIZE, 8192), Ok(()));
        assert_eq!(s.max_header_list_size, Some(8192));
    }

    #[test]
    fn push_promise_is_refused() {
        let f = raw(0x5, flags::END_HEADERS, 1, &[0, 0, 0, 2, 0x82]);
        assert_eq!(error(&f), (ProtocolError, CONN));
        // Refused from the header alone, before the payload is in.
        assert_eq!(error(&f[..9]), (ProtocolError, CONN));
    }

    #[test]
    fn ping() {
        let bytes = raw(0x6, flags::ACK, 0, b"12345678");
        let f = one(&bytes);
        assert_eq!(
            f,
            Frame::Ping {
                ack: true,
                data: *b"12345678"
            }
        );
        assert_eq!(error(&raw(0x6, 0, 1, b"12345678")), (ProtocolError, CONN));
        assert_eq!(error(&raw(0x6, 0, 0, b"123456789")), (FrameSizeError, CONN));
        assert_eq!(error(&raw(0x6, 0, 0, b"1234567")), (FrameSizeError, CONN));
    }

    #[test]
    fn goaway() {
        let bytes = raw(0x7, 0, 0, b"\x80\0\0\x09\0\0\0\x0bslow down");
        let f = one(&bytes);
        assert_eq!(
            f,
            Frame::GoAway {
                last_stream: 9,
                code: ErrorCode::EnhanceYourCalm,
                debug: b"slow down"
            }
        );
        let bytes = raw(0x7, 0, 0, b"\0\0\0\0\0\0\0\0");
        let f = one(&bytes);
        assert!(matches!(f, Frame::GoAway { debug: b"", .. }));
        assert_eq!(error(&raw(0x7, 0, 1, &[0; 8])), (ProtocolError, CONN));
        assert_eq!(error(&raw(0x7, 0, 0, &[0; 7])), (FrameSizeError, CONN));
    }

    #[test]
    fn window_update() {
        let bytes = raw(0x8, 0, 0, &[0x80, 0, 0x10, 0]);
        let f = one(&bytes);
        assert_eq!(
            f,
            Frame::WindowUpdate {
                stream: 0,
                increment: 4096
            }
        );
        let bytes = raw(0x8, 0, 3, &[0x7f, 0xff, 0xff, 0xff]);
        let f = one(&bytes);
        assert!(matches!(
            f,
            Frame::WindowUpdate {
                stream: 3,
                increment: MAX_WINDOW_SIZE
            }
        ));
        assert_eq!(error(&raw(0x8, 0, 0, &[0; 4])), (ProtocolError, CONN));
        assert_eq!(
            error(&raw(0x8, 0, 3, &[0; 4])),
            (ProtocolError, Scope::Stream(3))
        );
        // The reserved bit alone is still an increment of 0.
        assert_eq!(
            error(&raw(0x8, 0, 3, &[0x80, 0, 0, 0])),
            (ProtocolError, Scope::Stream(3))
        );
        assert_eq!(
            error(&raw(0x8, 0, 3, &[0, 0, 0, 0, 1])),
            (FrameSizeError, CONN)
        );
        assert_eq!(error(&raw(0x8, 0, 3, &[0, 0, 1])), (FrameSizeError, CONN));
    }

    #[test]
    fn continuation_and_unknown() {
        let bytes = raw(0x9, flags::END_HEADERS, 1, b"\x84");
        let f = one(&bytes);
        assert_eq!(
            f,
            Frame::Continuation {
                stream: 1,
                fragment: b"\x84",
                end_headers: true
            }
        );
        assert_eq!(error(&raw(0x9, 0, 0, b"\x84")), (ProtocolError, CONN));
        let bytes = raw(0xfa, 0xff, 0, b"any");
        let f = one(&bytes);
        assert_eq!(
            f,
            Frame::Unknown {
                kind: 0xfa,
                flags: 0xff,
                stream: 0,
                payload: b"any"
            }
        );
    }

    #[test]
    fn frame_size_limit_one_past_the_edge() {
        let at = raw(0x0, 0, 1, &vec![7; MAX as usize]);
        assert!(matches!(decode(&at, MAX), Ok(Some((_, n))) if n == at.len()));
        let over = raw(0x0, 0, 1, &vec![7; MAX as usize + 1]);
        assert_eq!(error(&over), (FrameSizeError, CONN));
        // Refused from the header alone: no need to buffer the oversized payload.
        assert_eq!(error(&over[..9]), (FrameSizeError, CONN));
        // A larger advertised maximum lets it through.
        assert!(decode(&over, MAX + 1).unwrap().is_some());
        // Unknown frame types obey the limit too.
        assert_eq!(
            error(&raw(0xfa, 0, 0, &vec![0; MAX as usize + 1])),
            (FrameSizeError, CONN)
        );
    }

    fn fixtures() -> Vec<Vec<u8>> {
        vec![
            raw(0x0, flags::PADDED | flags::END_STREAM, 1, b"\x01ab\0"),
            raw(
                0x1,
                flags::PRIORITY | flags::END_HEADERS,
                1,
                b"\0\0\0\0\x10\x82\x84",
            ),
            raw(0x2, 0, 3, b"\0\0\0\x01\xff"),
            raw(0x3, 0, 7, &[0, 0, 0, 8]),
            raw(0x4, 0, 0, &[0, 4, 0, 1, 0, 0]),
            raw(0x4, flags::ACK, 0, b""),
            raw(0x6, 0, 0, b"pingpong"),
            raw(0x7, 0, 0, b"\0\0\0\x01\0\0\0\0bye"),
            raw(0x8, 0, 1, &[0, 0, 1, 0]),
            raw(0x9, flags::END_HEADERS, 1, b"\x84"),
            raw(0x42, 0, 9, b""),
        ]
    }

    #[test]
    fn every_prefix_needs_more() {
        for bytes in fixtures() {
            for cut in 0..bytes.len() {
                assert_eq!(
                    decode(&bytes[..cut], MAX),
                    Ok(None),
                    "{bytes:?} cut at {cut}"
                );
            }
            assert!(decode(&bytes, MAX).unwrap().is_some());
        }
    }

    #[test]
    fn pipelined_frames_decode_one_after_another() {
        let all: Vec<u8> = fixtures().concat();
        let mut rest = &all[..];
        let mut count = 0;
        while !rest.is_empty() {
            let (_, used) = decode(rest, MAX).unwrap().unwrap();
            rest = &rest[used..];
            count += 1;
        }
        assert_eq!(count, fixtures().len());
    }

    #[test]
    fn a_stream_error_can_be_skipped() {
        let mut input = raw(0x8, 0, 3, &[0; 4]);
        input.extend(raw(0x6, 0, 0, b"pingpong"));
        let e = decode(&input, MAX).unwrap_err();
        assert_eq!(e.scope, Scope::Stream(3));
        let next = decode(&input[e.frame_len()..], MAX).unwrap().unwrap();
        assert!(matches!(next.0, Frame::Ping { ack: false, .. }));
        assert!(
            e.to_string()
                .contains("stream error on stream 3 PROTOCOL_ERROR")
        );
    }

    #[test]
    fn encoders_match_hand_built_frames() {
        let mut out = Vec::new();
        encode_data(&mut out, 1, b"hello", true);
        assert_eq!(out, raw(0x0, 0x1, 1, b"hello"));
        out.clear();
        encode_data_header(&mut out, 3, 100, false);
        assert_eq!(out, [0, 0, 100, 0, 0, 0, 0, 0, 3]);
        out.clear();
        encode_settings(
            &mut out,
            &[
                (SettingId::MAX_CONCURRENT_STREAMS, 128),
                (SettingId::ENABLE_PUSH, 0),
            ],
        );
        assert_eq!(out, raw(0x4, 0, 0, &[0, 3, 0, 0, 0, 128, 0, 2, 0, 0, 0, 0]));
        out.clear();
        encode_settings_ack(&mut out);
        assert_eq!(out, raw(0x4, 0x1, 0, b""));
        out.clear();
        encode_ping(&mut out, *b"12345678", true);
        assert_eq!(out, raw(0x6, 0x1, 0, b"12345678"));
        out.clear();
        encode_goaway(&mut out, 9, ErrorCode::EnhanceYourCalm, b"slow");
        assert_eq!(out, raw(0x7, 0, 0, b"\0\0\0\x09\0\0\0\x0bslow"));
        out.clear();
        encode_rst_stream(&mut out, 7, ErrorCode::RefusedStream);
        assert_eq!(out, raw(0x3, 0, 7, &[0, 0, 0, 7]));
        out.clear();
        encode_window_update(&mut out, 0, 65_535);
        assert_eq!(out, raw(0x8, 0, 0, &[0, 0, 0xff, 0xff]));
    }

    #[test]
    fn encoders_write_through_a_session_output() {
        let mut buf = Vec::new();
        let mut out = crate::session::Output::new(&mut buf);
        encode_ping(&mut out, [0; 8], false);
        assert_eq!(buf, raw(0x6, 0, 0, &[0; 8]));
    }

    #[test]
    fn headers_split_into_continuations_at_the_max_frame_size() {
        let max = DEFAULT_MAX_FRAME_SIZE as usize;
        for (len, frames) in [(0, 1), (1, 1), (max, 1), (max + 1, 2), (2 * max + 1, 3)] {
            let block: Vec<u8> = (0..len).map(|i| i as u8).collect();
            let mut out = Vec::new();
            encode_headers(&mut out, 5, &block, true, 0);
            let mut rest = &out[..];
            let mut joined = Vec::new();
            let mut seen = 0;
            while let Some((frame, used)) = decode(rest, MAX).unwrap() {
                let last = seen + 1 == frames;
                match (seen, frame) {
                    (
                        0,
                        Frame::Headers {
                            stream: 5,
                            fragment,
                            end_stream: true,
                            end_headers,
                            priority: None,
                        },
                    ) => {
                        assert_eq!(end_headers, last);
                        joined.extend_from_slice(fragment);
                    }
                    (
                        1..,
                        Frame::Continuation {
                            stream: 5,
                            fragment,
                            end_headers,
                        },
                    ) => {
                        assert_eq!(end_headers, last);
                        joined.extend_from_slice(fragment);
                    }
                    other => panic!("unexpected {other:?}"),
                }
                rest = &rest[used..];
                seen += 1;
            }
            assert!(rest.is_empty());
            assert_eq!((seen, joined), (frames, block), "block of {len}");
        }
    }

    proptest::proptest! {
        #[test]
        fn decode_never_panics_nor_overreads(
            bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..64),
            max in 0u32..100,
        ) {
            if let Ok(Some((_, used))) = decode(&bytes, max) {
                proptest::prop_assert!(used <= bytes.len());
                proptest::prop_assert!(used >= HEADER_LEN);
            }
        }

        #[test]
        fn decode_never_panics_on_valid_headers_with_random_payloads(
            kind in 0u8..12,
            flag_bits in proptest::num::u8::ANY,
            stream in 0u32..4,
            payload in proptest::collection::vec(proptest::num::u8::ANY, 0..40),
        ) {
            let bytes = raw(kind, flag_bits, stream, &payload);
            match decode(&bytes, MAX) {
                Ok(Some((_, used))) => proptest::prop_assert_eq!(used, bytes.len()),
                Ok(None) => proptest::prop_assert!(false, "a whole frame needs no more"),
                Err(e) => proptest::prop_assert_eq!(e.frame_len(), bytes.len()),
            }
        }
    }
}

//! Request heads: finding where one ends, parsing it, and deciding how its body is framed.
//!
//! A head arrives in pieces. [`HeadScan`] looks at each byte once, however the stream is split:
//! it remembers how far it has searched for the blank line that ends the head, so a client
//! dribbling one byte at a time costs linear work, not quadratic. On the way it watches the
//! limits that must be enforced *before* the head is complete: a request target longer than
//! `max_uri` is refused with 414 as soon as it is seen, and a head still open after
//! `max_head` bytes with 431, so the input buffer never holds more than that.
//!
//! Once the blank line is found, [`parse_head`] hands the head to httparse, with header slots
//! on the caller's stack, and turns the result into a [`RequestHead`] that borrows from the
//! input: no allocation. It also decides the things the connection depends on:
//!
//! - how the body is delimited ([`Framing`]), refusing every ambiguous combination that could
//!   let a request be "smuggled" past a proxy that reads the framing differently (RFC 9112
//!   §6.3): `Content-Length` together with `Transfer-Encoding`, several different lengths, a
//!   transfer coding other than a lone `chunked`, any `Transfer-Encoding` on HTTP/1.0;
//! - whether the connection persists after the answer ([`Persist`]);
//! - whether the client waits for `100 Continue` ([`Expect`]).
//!
//! Errors are a small `Copy` enum, [`HeadError`], each mapped to the status that reports it.

use std::mem::MaybeUninit;

use httparse::Header;

use super::status::Status;

/// The most header fields a head may carry, whatever the configuration says: the parser's
/// slots live on the stack, uninitialised until used, so a large ceiling costs nothing.
pub const HEADER_SLOTS: usize = 128;

/// The limits enforced while reading a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Longest head, request line and blank line included.
    pub max_head: usize,
    /// Longest request target.
    pub max_uri: usize,
    /// Most header fields (clamped to [`HEADER_SLOTS`]).
    pub max_headers: usize,
    /// Largest body, announced or (when chunked) accumulated.
    pub max_body: u64,
}

/// Why a request head was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeadError {
    /// The request line or a header field is not valid HTTP/1.x syntax.
    Malformed,
    /// The version is well formed but not 1.0 or 1.1.
    Version,
    /// The head is longer than `max_head`.
    HeadTooLarge,
    /// More header fields than `max_headers`.
    TooManyHeaders,
    /// The request target is longer than `max_uri`.
    UriTooLong,
    /// The body framing is ambiguous or unsupported: a request-smuggling attempt or a client
    /// we cannot read safely.
    Framing,
    /// The announced body is over `max_body`.
    BodyTooLarge,
    /// A `POST` or `PUT` that announces no body length.
    LengthRequired,
    /// An HTTP/1.1 request without exactly one `Host` (RFC 9112 §3.2).
    Host,
    /// An `Expect` we cannot meet.
    Expectation,
}

impl HeadError {
    /// The status that reports this error.
    pub fn status(self) -> Status {
        match self {
            HeadError::Malformed | HeadError::Framing | HeadError::Host => Status::BadRequest,
            HeadError::Version => Status::HttpVersionNotSupported,
            HeadError::HeadTooLarge | HeadError::TooManyHeaders => {
                Status::RequestHeaderFieldsTooLarge
            }
            HeadError::UriTooLong => Status::UriTooLong,
            HeadError::BodyTooLarge => Status::ContentTooLarge,
            HeadError::LengthRequired => Status::LengthRequired,
            HeadError::Expectation => Status::ExpectationFailed,
        }
    }
}

/// Where [`HeadScan`] is within the head.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum ScanPhase {
    /// In the method, or in blank lines before the request line (which RFC 9112 §2.2 asks us
    /// to skip).
    #[default]
    Method,
    /// In the request target, which starts at this offset.
    Target { start: usize },
    /// After the target, before the end of the request line.
    Version,
    /// In the header fields, looking for the empty line.
    Fields,
}

/// The incremental search for the end of a request head.
///
/// Feed it the whole unconsumed input each time (the reactor re-offers it with new bytes
/// appended); it resumes where it stopped. Reset it, with `HeadScan::default()`, when a head
/// has been consumed.
#[derive(Debug, Default, Clone)]
pub struct HeadScan {
    /// Bytes already examined.
    scanned: usize,
    /// Where the line under examination starts.
    line_start: usize,
    phase: ScanPhase,
}

impl HeadScan {
    /// Looks for the end of the head in `buf`. Returns the head's length once its blank line
    /// has arrived, `None` while it is still incomplete, or the limit it broke.
    pub fn scan(&mut self, buf: &[u8], limits: &Limits) -> Result<Option<usize>, HeadError> {
        while self.scanned < buf.len() {
            let found = if self.phase == ScanPhase::Fields {
                self.scan_fields(buf)
            } else {
                self.scan_request_line(buf, limits)?;
                None
            };
            if let Some(len) = found {
                return if len > limits.max_head {
                    Err(HeadError::HeadTooLarge)
                } else {
                    Ok(Some(len))
                };
            }
        }
        // The head is not complete, so every byte buffered so far belongs to it.
        if self.scanned >= limits.max_head {
            return Err(HeadError::HeadTooLarge);
        }
        Ok(None)
    }

    /// Bytes of the head seen so far: zero means no request has started.
    pub fn scanned(&self) -> usize {
        self.scanned
    }

    /// Moves through the request line one delimiter at a time, measuring the target as it
    /// arrives.
    fn scan_request_line(&mut self, buf: &[u8], limits: &Limits) -> Result<(), HeadError> {
        let rest = buf.get(self.scanned..).unwrap_or_default();
        let found = match self.phase {
            ScanPhase::Method => rest.iter().position(|&b| b == b' ' || b == b'\n'),
            ScanPhase::Target { .. } => {
                rest.iter().position(|&b| matches!(b, b' ' | b'\r' | b'\n'))
            }
            ScanPhase::Version | ScanPhase::Fields => find_lf(rest),
        };
        let Some(at) = found else {
            self.scanned = buf.len();
            return match self.phase {
                ScanPhase::Target { start } if buf.len() - start > limits.max_uri => {
                    Err(HeadError::UriTooLong)
                }
                _ => Ok(()),
            };
        };
        let i = self.scanned + at;
        self.scanned = i + 1;
        match (self.phase, buf.get(i)) {
            (ScanPhase::Target { start }, _) if i - start > limits.max_uri => {
                return Err(HeadError::UriTooLong);
            }
            // Blank lines before the request line are skipped (RFC 9112 §2.2).
            (ScanPhase::Method, Some(b'\n')) if is_blank(buf, self.line_start, i) => {
                self.line_start = i + 1;
            }
            (ScanPhase::Method, Some(b' ')) => self.phase = ScanPhase::Target { start: i + 1 },
            (ScanPhase::Target { .. }, Some(b' ' | b'\r')) => self.phase = ScanPhase::Version,
            // The line ends. Whatever it held, httparse will judge it; we only need to know
            // that the header fields start here.
            _ => {
                self.phase = ScanPhase::Fields;
                self.line_start = i + 1;
            }
        }
        Ok(())
    }

    /// Finds the next line ends among the fields; returns the head length at the empty line.
    fn scan_fields(&mut self, buf: &[u8]) -> Option<usize> {
        let rest = buf.get(self.scanned..).unwrap_or_default();
        match find_lf(rest) {
            None => {
                self.scanned = buf.len();
                None
            }
            Some(at) => {
                let lf = self.scanned + at;
                self.scanned = lf + 1;
                if is_blank(buf, self.line_start, lf) {
                    return Some(lf + 1);
                }
                self.line_start = lf + 1;
                None
            }
        }
    }
}

/// The offset of the first LF in `bytes`, looking at eight bytes per step: header lines are
/// tens of bytes long, and this is the only pass over them besides httparse's own.
fn find_lf(bytes: &[u8]) -> Option<usize> {
    const ONES: u64 = u64::from_le_bytes([0x01; 8]);
    const HIGHS: u64 = u64::from_le_bytes([0x80; 8]);
    const LFS: u64 = u64::from_le_bytes([b'\n'; 8]);
    let mut words = bytes.chunks_exact(8);
    let mut offset = 0;
    for word in &mut words {
        let mut eight = [0u8; 8];
        eight.copy_from_slice(word);
        // A byte of `x` is zero where the input has an LF; the classic "has a zero byte" test
        // flags it, and the lowest flag (little-endian: the first byte) is always exact.
        let x = u64::from_le_bytes(eight) ^ LFS;
        let zeros = x.wrapping_sub(ONES) & !x & HIGHS;
        if zeros != 0 {
            return Some(offset + (zeros.trailing_zeros() / 8) as usize);
        }
        offset += 8;
    }
    let tail = words.remainder().iter().position(|&b| b == b'\n');
    tail.map(|i| offset + i)
}

/// Whether the line from `start` to the LF at `lf` is empty (bare LF or CRLF).
fn is_blank(buf: &[u8], start: usize, lf: usize) -> bool {
    matches!(buf.get(start..lf), Some(b"" | b"\r"))
}

/// A request method. Method tokens are case-sensitive (RFC 9110 §9.1): `get` is unknown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// GET.
    Get,
    /// HEAD: GET without the body.
    Head,
    /// POST.
    Post,
    /// PUT.
    Put,
    /// DELETE.
    Delete,
    /// CONNECT.
    Connect,
    /// OPTIONS.
    Options,
    /// TRACE.
    Trace,
    /// PATCH (RFC 5789): known, so it gets 405 rather than 501.
    Patch,
    /// Any other token: 501.
    Unknown,
}

impl Method {
    /// Recognises a method token.
    pub fn from_token(token: &str) -> Method {
        match token {
            "GET" => Method::Get,
            "HEAD" => Method::Head,
            "POST" => Method::Post,
            "PUT" => Method::Put,
            "DELETE" => Method::Delete,
            "CONNECT" => Method::Connect,
            "OPTIONS" => Method::Options,
            "TRACE" => Method::Trace,
            "PATCH" => Method::Patch,
            _ => Method::Unknown,
        }
    }
}

/// The protocol version of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    /// HTTP/1.0: the connection closes after each answer unless asked otherwise.
    Http10,
    /// HTTP/1.1: the connection persists unless asked otherwise.
    Http11,
}

/// What becomes of the connection once the current request is answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Persist {
    /// HTTP/1.1 default: keep it open, without saying so.
    KeepAlive,
    /// An HTTP/1.0 client asked for `Connection: keep-alive`: keep it open and say so, since
    /// such a client closes otherwise.
    KeepAliveAnnounced,
    /// Answer with `Connection: close`, then close.
    Close,
}

/// How the request body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// No body.
    None,
    /// Exactly this many bytes.
    Length(u64),
    /// Chunked transfer coding, ended by a zero-size chunk.
    Chunked,
}

impl Framing {
    /// Whether a body follows the head.
    pub fn has_body(self) -> bool {
        !matches!(self, Framing::None | Framing::Length(0))
    }
}

/// What the client expects before sending its body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// Nothing: the body follows at once.
    Nothing,
    /// `Expect: 100-continue`: the client waits (a while) for `100 Continue`.
    Continue,
}

/// The request target, split by form (RFC 9112 §3.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target<'b> {
    /// `/path?query` (or an absolute URI, reduced to this).
    Origin {
        /// The path, still percent-encoded.
        path: &'b str,
        /// What follows `?`, if anything.
        query: Option<&'b str>,
    },
    /// `*`, for a server-wide `OPTIONS`.
    Asterisk,
}

/// A parsed request head, borrowing the input and the caller's header slots.
#[derive(Debug)]
pub struct RequestHead<'h, 'b> {
    /// The method.
    pub method: Method,
    /// The method as sent (for logs and TRACE).
    pub method_token: &'b str,
    /// The request target as sent.
    pub uri: &'b str,
    /// The version.
    pub version: Version,
    /// Every header field, in order.
    pub headers: &'h [Header<'b>],
    /// How the body is delimited.
    pub framing: Framing,
    /// What happens to the connection after the answer.
    pub persist: Persist,
    /// Whether the client waits for `100 Continue`.
    pub expect: Expect,
}

impl<'b> RequestHead<'_, 'b> {
    /// The first value of the named field (names compare case-insensitively).
    pub fn header(&self, name: &str) -> Option<&'b [u8]> {
        self.headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value)
    }

    /// The target split by form; CONNECT's authority form is not accepted here.
    pub fn target(&self) -> Result<Target<'b>, HeadError> {
        split_target(self.uri)
    }
}

/// Header slots for [`parse_head`], to be kept on the caller's stack.
pub type HeaderSlots<'b> = [MaybeUninit<Header<'b>>; HEADER_SLOTS];

/// Fresh, uninitialised header slots.
pub fn header_slots<'b>() -> HeaderSlots<'b> {
    [const { MaybeUninit::uninit() }; HEADER_SLOTS]
}

/// Parses a complete head (as delimited by [`HeadScan`]) and decides its framing.
pub fn parse_head<'h, 'b>(
    head: &'b [u8],
    slots: &'h mut [MaybeUninit<Header<'b>>],
    limits: &Limits,
) -> Result<RequestHead<'h, 'b>, HeadError> {
    let max = limits.max_headers.min(slots.len());
    let slots = slots.get_mut(..max).unwrap_or_default();
    let mut request = httparse::Request::new(&mut []);
    match request.parse_with_uninit_headers(head, slots) {
        Ok(httparse::Status::Complete(_)) => {}
        // HeadScan found the blank line, so a partial parse means a malformed head.
        Ok(httparse::Status::Partial) => return Err(HeadError::Malformed),
        Err(httparse::Error::TooManyHeaders) => return Err(HeadError::TooManyHeaders),
        Err(httparse::Error::Version) if names_a_version(head) => {
            return Err(HeadError::Version);
        }
        Err(_) => return Err(HeadError::Malformed),
    }
    let (Some(method_token), Some(uri), Some(minor)) =
        (request.method, request.path, request.version)
    else {
        return Err(HeadError::Malformed);
    };
    let version = if minor == 0 {
        Version::Http10
    } else {
        Version::Http11
    };
    let method = Method::from_token(method_token);
    let headers: &'h [Header<'b>] = request.headers;
    let fields = Fields::collect(headers)?;
    if fields.hosts > 1 || (version == Version::Http11 && fields.hosts == 0) {
        return Err(HeadError::Host);
    }
    Ok(RequestHead {
        method,
        method_token,
        uri,
        version,
        headers,
        framing: fields.framing(method, version, limits)?,
        persist: fields.persist(version),
        expect: fields.expect(version)?,
    })
}

/// Whether the request line ends in something shaped like a version (`HTTP/d.d`), so that
/// httparse's version error means "a version we do not speak" (505) rather than garbage (400).
fn names_a_version(head: &[u8]) -> bool {
    let line_end = head.iter().position(|&b| b == b'\n').unwrap_or(head.len());
    let line = head.get(..line_end).unwrap_or_default();
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let token = line.rsplit(|&b| b == b' ').next().unwrap_or_default();
    matches!(token, [b'H', b'T', b'T', b'P', b'/', major, b'.', minor]
        if major.is_ascii_digit() && minor.is_ascii_digit())
}

/// The header fields that shape the exchange, gathered in one pass.
#[derive(Debug, Default)]
struct Fields<'b> {
    /// The agreed `Content-Length`, if any.
    length: Option<u64>,
    /// Every `Transfer-Encoding` field value, joined: `None` if absent.
    transfer_encoding: Option<TransferCoding>,
    connection_close: bool,
    connection_keep_alive: bool,
    expect: Option<&'b [u8]>,
    hosts: usize,
}

/// The transfer codings a request announced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TransferCoding {
    /// Exactly one `chunked`, the only coding we decode.
    Chunked,
    /// Anything else, or `chunked` twice.
    Other,
}

impl<'b> Fields<'b> {
    fn collect(headers: &[Header<'b>]) -> Result<Fields<'b>, HeadError> {
        let mut fields = Fields::default();
        for h in headers {
            let name = h.name;
            if name.eq_ignore_ascii_case("content-length") {
                fields.add_length(h.value)?;
            } else if name.eq_ignore_ascii_case("transfer-encoding") {
                fields.add_transfer_encoding(h.value);
            } else if name.eq_ignore_ascii_case("connection") {
                for token in list_items(h.value) {
                    fields.connection_close |= token.eq_ignore_ascii_case(b"close");
                    fields.connection_keep_alive |= token.eq_ignore_ascii_case(b"keep-alive");
                }
            } else if name.eq_ignore_ascii_case("expect") {
                fields.expect = Some(h.value);
            } else if name.eq_ignore_ascii_case("host") {
                fields.hosts += 1;
            }
        }
        Ok(fields)
    }

    /// Merges a `Content-Length` field. Several fields, or a comma-separated list, are
    /// accepted only when every value is the same (RFC 9112 §6.3, point 5).
    fn add_length(&mut self, value: &[u8]) -> Result<(), HeadError> {
        for item in value.split(|&b| b == b',').map(trim_ows) {
            let n = parse_decimal(item).ok_or(HeadError::Framing)?;
            match self.length {
                Some(seen) if seen != n => return Err(HeadError::Framing),
                _ => self.length = Some(n),
            }
        }
        Ok(())
    }

    /// Records the codings: only a single `chunked` in total is something we can decode.
    fn add_transfer_encoding(&mut self, value: &[u8]) {
        for coding in value.split(|&b| b == b',').map(trim_ows) {
            self.transfer_encoding = match (self.transfer_encoding, coding) {
                (None, c) if c.eq_ignore_ascii_case(b"chunked") => Some(TransferCoding::Chunked),
                _ => Some(TransferCoding::Other),
            };
        }
    }

    fn framing(
        &self,
        method: Method,
        version: Version,
        limits: &Limits,
    ) -> Result<Framing, HeadError> {
        let framing = match (self.transfer_encoding, self.length) {
            (Some(_), Some(_)) => return Err(HeadError::Framing),
            // RFC 9112 §6.1: a 1.0 message with Transfer-Encoding has faulty framing.
            (Some(_), None) if version == Version::Http10 => return Err(HeadError::Framing),
            (Some(TransferCoding::Other), None) => return Err(HeadError::Framing),
            (Some(TransferCoding::Chunked), None) => Framing::Chunked,
            (None, Some(n)) if n > limits.max_body => return Err(HeadError::BodyTooLarge),
            (None, Some(n)) => Framing::Length(n),
            (None, None) if matches!(method, Method::Post | Method::Put) => {
                return Err(HeadError::LengthRequired);
            }
            (None, None) => Framing::None,
        };
        Ok(framing)
    }

    fn persist(&self, version: Version) -> Persist {
        match version {
            _ if self.connection_close => Persist::Close,
            Version::Http11 => Persist::KeepAlive,
            Version::Http10 if self.connection_keep_alive => Persist::KeepAliveAnnounced,
            Version::Http10 => Persist::Close,
        }
    }

    /// RFC 9110 §10.1.1: 100-continue is the only expectation defined, and an HTTP/1.0
    /// client cannot have meant it.
    fn expect(&self, version: Version) -> Result<Expect, HeadError> {
        match self.expect {
            Some(_) if version == Version::Http10 => Ok(Expect::Nothing),
            Some(v) if v.eq_ignore_ascii_case(b"100-continue") => Ok(Expect::Continue),
            Some(_) => Err(HeadError::Expectation),
            None => Ok(Expect::Nothing),
        }
    }
}

/// A `Content-Length` value: one or more digits, nothing else. Values too large for a u64 are
/// saturated, which the `max_body` check then refuses as too large.
fn parse_decimal(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(digits.iter().fold(0u64, |n, &d| {
        n.saturating_mul(10).saturating_add(u64::from(d - b'0'))
    }))
}

/// The non-empty items of a comma-separated field value, whitespace trimmed.
pub fn list_items(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    value
        .split(|&b| b == b',')
        .map(trim_ows)
        .filter(|item| !item.is_empty())
}

/// Trims optional whitespace (spaces and tabs) from both ends.
pub fn trim_ows(bytes: &[u8]) -> &[u8] {
    let is_ows = |b: &u8| *b == b' ' || *b == b'\t';
    let start = bytes.iter().position(|b| !is_ows(b)).unwrap_or(bytes.len());
    let end = bytes
        .iter()
        .rposition(|b| !is_ows(b))
        .map_or(start, |i| i + 1);
    bytes.get(start..end).unwrap_or_default()
}

/// Splits a request target into its form. Absolute URIs (`http://host/path`) are reduced to
/// their path and query, as RFC 9112 §3.2.2 requires servers to accept them.
pub fn split_target(uri: &str) -> Result<Target<'_>, HeadError> {
    if uri == "*" {
        return Ok(Target::Asterisk);
    }
    let origin = if uri.starts_with('/') {
        uri
    } else {
        let scheme_len = ["http://", "https://"]
            .iter()
            .find(|s| {
                uri.get(..s.len())
                    .is_some_and(|p| p.eq_ignore_ascii_case(s))
            })
            .map(|s| s.len())
            .ok_or(HeadError::Malformed)?;
        let after_scheme = uri.get(scheme_len..).unwrap_or_default();
        match after_scheme.find(['/', '?']) {
            Some(at) => after_scheme.get(at..).unwrap_or("/"),
            None => "/",
        }
    };
    // A fragment is never sent by a conforming client; drop one rather than route on it.
    let origin = origin.split('#').next().unwrap_or_default();
    let (path, query) = match origin.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (origin, None),
    };
    let path = if path.is_empty() { "/" } else { path };
    Ok(Target::Origin { path, query })
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Limits = Limits {
        max_head: 8192,
        max_uri: 4096,
        max_headers: 64,
        max_body: 1 << 24,
    };

    /// Scans `input` whole, then byte by byte, and checks both agree.
    fn scan(input: &[u8], limits: &Limits) -> Result<Option<usize>, HeadError> {
        let whole = HeadScan::default().scan(input, limits);
        let mut scan = HeadScan::default();
        let mut bytewise = Ok(None);
        for end in 1..=input.len() {
            bytewise = scan.scan(&input[..end], limits);
            if !matches!(bytewise, Ok(None)) {
                break;
            }
        }
        assert_eq!(whole, bytewise, "whole and bytewise scans disagree");
        whole
    }

    #[test]
    fn scan_finds_the_end_of_the_head() {
        let cases: &[(&[u8], Option<usize>)] = &[
            (b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", Some(27)),
            (b"GET / HTTP/1.1\r\nHost: a\r\n\r\nBODY", Some(27)),
            (b"GET / HTTP/1.1\nHost: a\n\n", Some(24)),
            (b"GET / HTTP/1.1\r\n\r\n", Some(18)),
            (b"\r\n\r\nGET / HTTP/1.1\r\n\r\n", Some(22)),
            (b"GET / HTTP/1.1\r\nHost: a\r\n", None),
            (b"GET / HTTP/1.1\r\nHost: a\r\n\r", None),
            (b"GET /", None),
            (b"", None),
            // Not a request line, but the head still ends: httparse will call it malformed.
            (b"GARBAGE\r\n\r\n", Some(11)),
        ];
        for (input, expected) in cases {
            assert_eq!(
                scan(input, &LIMITS),
                Ok(*expected),
                "{:?}",
                String::from_utf8_lossy(input)
            );
        }
    }

    #[test]
    fn scan_refuses_a_long_target_before_the_head_ends() {
        let limits = Limits {
            max_uri: 10,
            ..LIMITS
        };
        let at_limit = b"GET /123456789 HTTP/1.1\r\n\r\n";
        assert_eq!(scan(at_limit, &limits), Ok(Some(at_limit.len())));
        assert_eq!(
            scan(b"GET /1234567890 HTTP/1.1\r\n\r\n", &limits),
            Err(HeadError::UriTooLong)
        );
        // No space, no newline yet: the eleventh target byte is enough to know.
        assert_eq!(
            scan(b"GET /1234567890", &limits),
            Err(HeadError::UriTooLong)
        );
        assert_eq!(scan(b"GET /123456789", &limits), Ok(None));
    }

    #[test]
    fn scan_refuses_a_long_head_one_past_the_limit() {
        let head = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n";
        let exact = Limits {
            max_head: head.len(),
            ..LIMITS
        };
        assert_eq!(scan(head, &exact), Ok(Some(head.len())));
        let short = Limits {
            max_head: head.len() - 1,
            ..LIMITS
        };
        assert_eq!(scan(head, &short), Err(HeadError::HeadTooLarge));
        // An unfinished head is refused as soon as it cannot fit any more.
        assert_eq!(
            scan(&head[..head.len() - 1], &short),
            Err(HeadError::HeadTooLarge)
        );
        assert_eq!(scan(&head[..head.len() - 2], &short), Ok(None));
    }

    #[test]
    fn endless_blank_lines_count_against_the_head_limit() {
        let limits = Limits {
            max_head: 100,
            ..LIMITS
        };
        assert_eq!(scan(&[b'\n'; 101], &limits), Err(HeadError::HeadTooLarge));
    }

    fn parse(head: &[u8]) -> Result<(Method, Version, Framing, Persist, Expect), HeadError> {
        let len = HeadScan::default()
            .scan(head, &LIMITS)?
            .expect("complete head");
        let mut slots = header_slots();
        let h = parse_head(&head[..len], &mut slots, &LIMITS)?;
        Ok((h.method, h.version, h.framing, h.persist, h.expect))
    }

    #[test]
    fn parse_decides_framing_and_persistence() {
        use Framing::*;
        use Persist::*;
        let cases: &[(&str, Framing, Persist)] = &[
            ("GET / HTTP/1.1\r\nHost: a\r\n\r\n", None, KeepAlive),
            (
                "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
                None,
                Close,
            ),
            (
                "GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade, CLOSE\r\n\r\n",
                None,
                Close,
            ),
            ("GET / HTTP/1.0\r\n\r\n", None, Close),
            (
                "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
                None,
                KeepAliveAnnounced,
            ),
            (
                "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\n",
                Length(5),
                KeepAlive,
            ),
            (
                "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 5\r\n\r\n",
                Length(5),
                KeepAlive,
            ),
            (
                "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n",
                Length(5),
                KeepAlive,
            ),
            (
                "PUT / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: Chunked\r\n\r\n",
                Chunked,
                KeepAlive,
            ),
        ];
        for (head, framing, persist) in cases {
            let (_, _, f, p, _) =
                parse(head.as_bytes()).unwrap_or_else(|e| panic!("{head:?}: {e:?}"));
            assert_eq!((f, p), (*framing, *persist), "{head:?}");
        }
    }

    #[test]
    fn parse_refuses_bad_heads() {
        use HeadError::*;
        let cases: &[(&str, HeadError)] = &[
            (
                "GET / HTTP/1.1\r\nHost: a\r\nBad Name: x\r\n\r\n",
                Malformed,
            ),
            (
                "GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding : chunked\r\n\r\n",
                Malformed,
            ),
            ("GET  / HTTP/1.1\r\nHost: a\r\n\r\n", Malformed),
            ("GET / FOO/1.1\r\nHost: a\r\n\r\n", Malformed),
            ("GET / HTTP/2.0\r\nHost: a\r\n\r\n", Version),
            ("GET / HTTP/1.2\r\nHost: a\r\n\r\n", Version),
            ("GET / HTTP/1.1\r\n\r\n", Host),
            ("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", Host),
            (
                "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
                Framing,
            ),
            (
                "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
                Framing,
            ),
            (
                "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1, 2\r\n\r\n",
                Framing,
            ),
            (
                "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +1\r\n\r\n",
                Framing,
            ),
            (
                "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x10\r\n\r\n",
                Framing,
            ),
            (
                "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: \r\n\r\n",
                Framing,
            ),
            (
                "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n",
                Framing,
            ),
            (
                "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
                Framing,
            ),
            (
                "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, chunked\r\n\r\n",
                Framing,
            ),
            (
                "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
                Framing,
            ),
            (
                "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n",
                Framing,
            ),
            (
                "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 16777217\r\n\r\n",
                BodyTooLarge,
            ),
            (
                "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999999999999999\r\n\r\n",
                BodyTooLarge,
            ),
            ("POST / HTTP/1.1\r\nHost: a\r\n\r\n", LengthRequired),
            ("PUT / HTTP/1.1\r\nHost: a\r\n\r\n", LengthRequired),
            (
                "GET / HTTP/1.1\r\nHost: a\r\nExpect: the-unexpected\r\n\r\n",
                Expectation,
            ),
        ];
        for (head, error) in cases {
            assert_eq!(parse(head.as_bytes()).map(|_| ()), Err(*error), "{head:?}");
        }
    }

    #[test]
    fn body_limit_is_inclusive() {
        let at = "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 16777216\r\n\r\n";
        assert_eq!(
            parse(at.as_bytes()).map(|r| r.2),
            Ok(Framing::Length(1 << 24))
        );
    }

    #[test]
    fn too_many_headers_one_past_the_limit() {
        let limits = Limits {
            max_headers: 3,
            ..LIMITS
        };
        let ok = b"GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\n\r\n";
        let over = b"GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n";
        let mut slots = header_slots();
        assert!(parse_head(ok, &mut slots, &limits).is_ok());
        let mut slots = header_slots();
        assert_eq!(
            parse_head(over, &mut slots, &limits).map(|_| ()),
            Err(HeadError::TooManyHeaders)
        );
    }

    #[test]
    fn expect_continue_is_recognised_on_http_1_1_only() {
        let h11 = "PUT / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nExpect: 100-Continue\r\n\r\n";
        assert_eq!(parse(h11.as_bytes()).map(|r| r.4), Ok(Expect::Continue));
        let h10 = "PUT / HTTP/1.0\r\nContent-Length: 1\r\nExpect: 100-continue\r\n\r\n";
        assert_eq!(parse(h10.as_bytes()).map(|r| r.4), Ok(Expect::Nothing));
    }

    #[test]
    fn methods_are_case_sensitive() {
        assert_eq!(Method::from_token("GET"), Method::Get);
        assert_eq!(Method::from_token("get"), Method::Unknown);
        assert_eq!(Method::from_token("BREW"), Method::Unknown);
        assert_eq!(Method::from_token("PATCH"), Method::Patch);
    }

    #[test]
    fn targets_split_into_path_and_query() {
        let cases: &[(&str, Result<Target<'_>, HeadError>)] = &[
            (
                "/a/b?x=1",
                Ok(Target::Origin {
                    path: "/a/b",
                    query: Some("x=1"),
                }),
            ),
            (
                "/a",
                Ok(Target::Origin {
                    path: "/a",
                    query: None,
                }),
            ),
            (
                "/a#frag",
                Ok(Target::Origin {
                    path: "/a",
                    query: None,
                }),
            ),
            (
                "http://h:80/p?q",
                Ok(Target::Origin {
                    path: "/p",
                    query: Some("q"),
                }),
            ),
            (
                "HTTP://h",
                Ok(Target::Origin {
                    path: "/",
                    query: None,
                }),
            ),
            (
                "https://h?q",
                Ok(Target::Origin {
                    path: "/",
                    query: Some("q"),
                }),
            ),
            ("*", Ok(Target::Asterisk)),
            ("h:443", Err(HeadError::Malformed)),
            ("ftp://h/", Err(HeadError::Malformed)),
        ];
        for (uri, expected) in cases {
            assert_eq!(split_target(uri), *expected, "{uri}");
        }
    }

    #[test]
    fn find_lf_agrees_with_a_plain_search() {
        for len in 0..40 {
            for at in 0..=len {
                let mut bytes = vec![b'a'; len];
                if at < len {
                    bytes[at] = b'\n';
                }
                // Bytes that differ from LF by one bit, and high bytes, must not confuse it.
                bytes
                    .iter_mut()
                    .filter(|b| **b == b'a')
                    .step_by(3)
                    .for_each(|b| *b = 0x0b);
                bytes
                    .iter_mut()
                    .filter(|b| **b == b'a')
                    .step_by(2)
                    .for_each(|b| *b = 0x8a);
                let expected = bytes.iter().position(|&b| b == b'\n');
                assert_eq!(find_lf(&bytes), expected, "{bytes:?}");
            }
        }
    }

    proptest::proptest! {
        /// However a stream of heads is split, the scan finds the same end, or the same error.
        #[test]
        fn scan_is_independent_of_the_split(
            lines in proptest::collection::vec("[a-zA-Z0-9: /\r\n.-]{0,40}", 1..8),
            cut in 0usize..400,
        ) {
            let input = lines.concat().into_bytes();
            let limits = Limits { max_head: 200, max_uri: 30, ..LIMITS };
            let whole = HeadScan::default().scan(&input, &limits);
            let mut scan = HeadScan::default();
            let cut = cut.min(input.len());
            let first = scan.scan(&input[..cut], &limits);
            let split = if first == Ok(None) { scan.scan(&input, &limits) } else { first };
            proptest::prop_assert_eq!(whole, split);
        }
    }

    #[test]
    fn helpers_trim_and_split_lists() {
        assert_eq!(trim_ows(b" \tx y\t "), b"x y");
        assert_eq!(trim_ows(b"   "), b"");
        let items: Vec<&[u8]> = list_items(b" a, ,b ,").collect();
        assert_eq!(items, [&b"a"[..], b"b"]);
    }
}

//! Request heads: parsing one, and deciding how its body is framed.
//!
//! Once [`HeadScan`](super::scan::HeadScan) has found the blank line, [`parse_head`] hands the head to httparse, with header slots
//! on the caller's stack, and turns the result into a [`RequestHead`] that borrows from the
//! input: no allocation. It also decides the things the connection depends on:
//!
//! - how the body is delimited (`BodyFraming`), refusing every ambiguous combination that could
//!   let a request be "smuggled" past a proxy that reads the framing differently (RFC 9112
//!   §6.3): `Content-Length` together with `Transfer-Encoding`, several different lengths, a
//!   transfer coding other than a lone `chunked`, any `Transfer-Encoding` on HTTP/1.0;
//! - whether the connection persists after the answer (`Persist`);
//! - whether the client waits for `100 Continue` (`Expect`).
//!
//! Errors are a small `Copy` enum, [`HeadError`], each mapped to the status that reports it.

use std::mem::MaybeUninit;

use httparse::Header;

use super::HttpConfig;
use super::status::Status;
use crate::protocol::number;

/// The most header fields a head may carry, whatever the configuration says: the parser's
/// slots live on the stack, uninitialised until used, so a large ceiling costs nothing.
pub const HEADER_SLOTS: usize = 128;

/// The limits enforced while reading a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestLimits {
    /// Longest head, request line and blank line included.
    pub max_head: usize,
    /// Longest request target.
    pub max_uri: usize,
    /// Most header fields (clamped to [`HEADER_SLOTS`]).
    pub max_headers: usize,
    /// Largest body, announced or (when chunked) accumulated.
    pub max_body: u64,
}

impl RequestLimits {
    /// The limits a service with this configuration enforces.
    pub fn of(config: &HttpConfig) -> RequestLimits {
        RequestLimits {
            max_head: config.max_header_bytes,
            max_uri: config.max_uri,
            max_headers: config.max_headers.min(HEADER_SLOTS),
            max_body: config.max_body,
        }
    }
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
    pub(crate) fn status(self) -> Status {
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

/// A request method. Method tokens are case-sensitive (RFC 9110 §9.1): `get` is unknown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Method {
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
    pub(crate) fn from_token(token: &str) -> Method {
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
pub(crate) enum Version {
    /// HTTP/1.0: the connection closes after each answer unless asked otherwise.
    Http10,
    /// HTTP/1.1: the connection persists unless asked otherwise.
    Http11,
}

/// What becomes of the connection once the current request is answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Persist {
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
pub(crate) enum BodyFraming {
    /// No body.
    None,
    /// Exactly this many bytes.
    Length(u64),
    /// Chunked transfer coding, ended by a zero-size chunk.
    Chunked,
}

impl BodyFraming {
    /// Whether a body follows the head.
    pub(crate) fn has_body(self) -> bool {
        !matches!(self, BodyFraming::None | BodyFraming::Length(0))
    }
}

/// What the client expects before sending its body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Expect {
    /// Nothing: the body follows at once.
    Nothing,
    /// `Expect: 100-continue`: the client waits (a while) for `100 Continue`.
    Continue,
}

/// The request target, split by form (RFC 9112 §3.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Target<'b> {
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
    pub(crate) method: Method,
    /// The method as sent (for logs and TRACE).
    pub method_token: &'b str,
    /// The request target as sent.
    pub uri: &'b str,
    /// The version.
    pub(crate) version: Version,
    /// Every header field, in order.
    pub headers: &'h [Header<'b>],
    /// How the body is delimited.
    pub(crate) framing: BodyFraming,
    /// What happens to the connection after the answer.
    pub(crate) persist: Persist,
    /// Whether the client waits for `100 Continue`.
    pub(crate) expect: Expect,
}

impl<'b> RequestHead<'_, 'b> {
    /// The first value of the named field (names compare case-insensitively).
    pub(crate) fn header(&self, name: &str) -> Option<&'b [u8]> {
        self.headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value)
    }

    /// The target split by form; CONNECT's authority form is not accepted here.
    pub(crate) fn target(&self) -> Result<Target<'b>, HeadError> {
        split_target(self.uri)
    }
}

/// Header slots for [`parse_head`], to be kept on the caller's stack.
pub(crate) type HeaderSlots<'b> = [MaybeUninit<Header<'b>>; HEADER_SLOTS];

/// Fresh, uninitialised header slots.
pub fn header_slots<'b>() -> HeaderSlots<'b> {
    [const { MaybeUninit::uninit() }; HEADER_SLOTS]
}

/// Parses a complete head (as delimited by [`HeadScan`](super::scan::HeadScan)) and decides
/// its framing.
pub fn parse_head<'h, 'b>(
    head: &'b [u8],
    slots: &'h mut [MaybeUninit<Header<'b>>],
    limits: &RequestLimits,
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
    interpret(request, limits, &HostMemo::default())
}

/// The fast path for the common case, a whole head in one read: parses `input` directly,
/// without [`HeadScan`](super::scan::HeadScan) looking at every byte first. Returns the head's length and its
/// parse only when the head is complete, well-formed and within every limit; otherwise
/// `None`, and the caller takes the scanning path, which reports the precise error.
pub(crate) fn parse_complete_head<'h, 'b>(
    input: &'b [u8],
    slots: &'h mut [MaybeUninit<Header<'b>>],
    limits: &RequestLimits,
    hosts: &HostMemo,
) -> Option<(usize, Result<RequestHead<'h, 'b>, HeadError>)> {
    let max = limits.max_headers.min(slots.len());
    let slots = slots.get_mut(..max).unwrap_or_default();
    let mut request = httparse::Request::new(&mut []);
    match request.parse_with_uninit_headers(input, slots) {
        Ok(httparse::Status::Complete(len))
            if len <= limits.max_head
                && request.path.is_some_and(|p| p.len() <= limits.max_uri) =>
        {
            Some((len, interpret(request, limits, hosts)))
        }
        _ => None,
    }
}

/// Turns httparse's view of a complete head into a [`RequestHead`]: method, version, Host
/// rules, body framing and persistence.
fn interpret<'h, 'b>(
    request: httparse::Request<'h, 'b>,
    limits: &RequestLimits,
    hosts: &HostMemo,
) -> Result<RequestHead<'h, 'b>, HeadError> {
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
    let fields = Fields::collect(headers, hosts)?;
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

/// The header fields [`Fields`] reads, by name; every other field is `Other`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shaping {
    ContentLength,
    TransferEncoding,
    Connection,
    Expect,
    Host,
    Other,
}

impl Shaping {
    /// Most fields a request carries (`User-Agent`, `Accept`) are none of these, so the
    /// name's length picks the one candidate before any byte is compared.
    fn of(name: &str) -> Shaping {
        let name = name.as_bytes();
        match name.len() {
            4 if is_named(name, b"host") => Shaping::Host,
            6 if is_named(name, b"expect") => Shaping::Expect,
            10 if is_named(name, b"connection") => Shaping::Connection,
            14 if is_named(name, b"content-length") => Shaping::ContentLength,
            17 if is_named(name, b"transfer-encoding") => Shaping::TransferEncoding,
            _ => Shaping::Other,
        }
    }
}

/// Whether the field name `name` is `lowercase` (letters and `-` only), ignoring ASCII case.
/// Setting bit 5 lowercases a letter; the only other byte that lands on a letter or `-` that
/// way is CR (on `-`), which httparse never lets into a name. The length is a constant and
/// nothing exits early, so the compiler makes this a few wide compares rather than a loop.
fn is_named<const N: usize>(name: &[u8], lowercase: &[u8; N]) -> bool {
    let Ok(name) = <&[u8; N]>::try_from(name) else {
        return false;
    };
    name.iter()
        .zip(lowercase)
        .fold(0, |diff, (&b, &want)| diff | ((b | 0x20) ^ want))
        == 0
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
    fn collect(headers: &[Header<'b>], hosts: &HostMemo) -> Result<Fields<'b>, HeadError> {
        let mut fields = Fields::default();
        for h in headers {
            match Shaping::of(h.name) {
                Shaping::Other => {}
                Shaping::ContentLength => fields.add_length(h.value)?,
                Shaping::TransferEncoding => fields.add_transfer_encoding(h.value),
                Shaping::Connection => {
                    for token in list_items(h.value) {
                        fields.connection_close |= token.eq_ignore_ascii_case(b"close");
                        fields.connection_keep_alive |= token.eq_ignore_ascii_case(b"keep-alive");
                    }
                }
                Shaping::Expect => fields.expect = Some(h.value),
                Shaping::Host => {
                    fields.hosts += 1;
                    if !hosts.is_valid(h.value) {
                        return Err(HeadError::Host);
                    }
                }
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
        limits: &RequestLimits,
    ) -> Result<BodyFraming, HeadError> {
        let framing = match (self.transfer_encoding, self.length) {
            (Some(_), Some(_)) => return Err(HeadError::Framing),
            // RFC 9112 §6.1: a 1.0 message with Transfer-Encoding has faulty framing.
            (Some(_), None) if version == Version::Http10 => return Err(HeadError::Framing),
            (Some(TransferCoding::Other), None) => return Err(HeadError::Framing),
            (Some(TransferCoding::Chunked), None) => BodyFraming::Chunked,
            (None, Some(n)) if n > limits.max_body => return Err(HeadError::BodyTooLarge),
            (None, Some(n)) => BodyFraming::Length(n),
            (None, None) if matches!(method, Method::Post | Method::Put) => {
                return Err(HeadError::LengthRequired);
            }
            (None, None) => BodyFraming::None,
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

/// A `Host` value (RFC 9112 §3.2, RFC 3986 §3.2.2): empty, or a host — a registered name, an
/// IPv4 address, or an IP literal in brackets — with an optional port. A list (`a, b`), a
/// space, or anything that reads as a path or user info (`a b/c@d`) is not one host.
fn is_valid_host(value: &[u8]) -> bool {
    let port = match value {
        [b'[', rest @ ..] => match rest.iter().position(|&b| b == b']') {
            Some(end) => {
                let literal = &rest[..end];
                if literal.is_empty()
                    || !literal
                        .iter()
                        .all(|&b| b.is_ascii_hexdigit() || b == b':' || b == b'.')
                {
                    return false;
                }
                &rest[end + 1..]
            }
            None => return false,
        },
        // A registered name or IPv4 address up to the port's colon, in one pass: every
        // request carries one, so it is read once, a table lookup a byte.
        _ => {
            let name_len = value
                .iter()
                .position(|&b| !REG_NAME[usize::from(b)])
                .unwrap_or(value.len());
            &value[name_len..]
        }
    };
    match port {
        [] => true,
        [b':', digits @ ..] => digits.iter().all(u8::is_ascii_digit),
        _ => false,
    }
}

/// The last `Host` value found valid (of 8 to 16 bytes, as most are: `localhost:8080`,
/// `127.0.0.1:8080`, `example.com`), kept as its length and its first and last eight bytes,
/// which together are all of it. Every request carries a `Host`, and nearly every one on a
/// connection, and most on a server, carries the same: checking it again is then a
/// comparison of two words, not a pass over its bytes. One per service and worker.
#[derive(Debug, Default)]
pub(crate) struct HostMemo(std::cell::Cell<(usize, u64, u64)>);

impl HostMemo {
    /// Whether `value` is one host (see [`is_valid_host`]), remembering it if it is.
    #[inline]
    pub(crate) fn is_valid(&self, value: &[u8]) -> bool {
        let key = HostMemo::key(value);
        if key.is_some_and(|k| k == self.0.get()) {
            return true;
        }
        let valid = is_valid_host(value);
        if let (true, Some(k)) = (valid, key) {
            self.0.set(k);
        }
        valid
    }

    /// The value's length and its first and last eight bytes, for 8 to 16 bytes.
    fn key(value: &[u8]) -> Option<(usize, u64, u64)> {
        let n = value.len();
        let first: [u8; 8] = value.get(..8)?.try_into().ok()?;
        let last: [u8; 8] = value.get(n.checked_sub(8)?..)?.try_into().ok()?;
        (n <= 16).then(|| (n, u64::from_ne_bytes(first), u64::from_ne_bytes(last)))
    }
}

/// The bytes a registered name may hold (RFC 3986 §3.2.2: unreserved, `%` of a
/// pct-encoding, sub-delims), as a table: one load per byte of every request's `Host`.
const REG_NAME: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        table[b] = (b as u8).is_ascii_alphanumeric();
        b += 1;
    }
    let others = b"-._~%!$&'()*+;=";
    let mut i = 0;
    while i < others.len() {
        table[others[i] as usize] = true;
        i += 1;
    }
    table
};

/// The token characters (RFC 9110 §5.6.2: methods, field names, chunk extensions), as a
/// table: one load per byte.
const TCHAR: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        table[b] = (b as u8).is_ascii_alphanumeric();
        b += 1;
    }
    let others = b"!#$%&'*+-.^_`|~";
    let mut i = 0;
    while i < others.len() {
        table[others[i] as usize] = true;
        i += 1;
    }
    table
};

/// Whether `b` may be part of a token (RFC 9110 §5.6.2).
pub(crate) fn is_tchar(b: u8) -> bool {
    TCHAR[usize::from(b)]
}

/// A `Content-Length` value: one or more digits, nothing else (see [`number::decimal`]).
fn parse_decimal(digits: &[u8]) -> Option<u64> {
    number::decimal(digits)
}

/// The non-empty items of a comma-separated field value, whitespace trimmed.
pub(crate) fn list_items(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    value
        .split(|&b| b == b',')
        .map(trim_ows)
        .filter(|item| !item.is_empty())
}

/// Trims optional whitespace (spaces and tabs) from both ends.
pub(crate) fn trim_ows(bytes: &[u8]) -> &[u8] {
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
pub(crate) fn split_target(uri: &str) -> Result<Target<'_>, HeadError> {
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
    // One plain byte loop finds both delimiters: targets are short, and `str::find`'s
    // searcher costs more to set up than this costs to run.
    fn before(s: &str, at: usize) -> &str {
        s.get(..at).unwrap_or_default() // `at` indexes an ASCII byte: a char boundary
    }
    let (path, query) = match origin.bytes().position(|b| b == b'?' || b == b'#') {
        Some(at) if origin.as_bytes().get(at) == Some(&b'?') => {
            let query = origin.get(at + 1..).unwrap_or_default();
            let query = match query.bytes().position(|b| b == b'#') {
                Some(hash) => before(query, hash),
                None => query,
            };
            (before(origin, at), Some(query))
        }
        Some(at) => (before(origin, at), None),
        None => (origin, None),
    };
    let path = if path.is_empty() { "/" } else { path };
    Ok(Target::Origin { path, query })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::http::scan::HeadScan;

    /// The defaults: 8 KiB head, 4 KiB target, 64 fields, 16 MiB body.
    static LIMITS: std::sync::LazyLock<RequestLimits> =
        std::sync::LazyLock::new(|| RequestLimits::of(&HttpConfig::default()));

    /// Scans `input` whole, then byte by byte, and checks both agree.
    fn parse(head: &[u8]) -> Result<(Method, Version, BodyFraming, Persist, Expect), HeadError> {
        let len = HeadScan::default()
            .scan(head, &LIMITS)?
            .expect("complete head");
        let mut slots = header_slots();
        let h = parse_head(&head[..len], &mut slots, &LIMITS)?;
        Ok((h.method, h.version, h.framing, h.persist, h.expect))
    }

    #[test]
    fn parse_decides_framing_and_persistence() {
        use BodyFraming::*;
        use Persist::*;
        let cases: &[(&str, BodyFraming, Persist)] = &[
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
    fn host_must_be_one_host_with_an_optional_port() {
        for host in [
            "a",
            "a:8080",
            "127.0.0.1",
            "[::1]",
            "[::1]:80",
            "",
            "xn--bcher-kva.de",
            "a_b",
        ] {
            let head = format!("GET / HTTP/1.1\r\nHost: {host}\r\n\r\n");
            assert!(parse(head.as_bytes()).is_ok(), "{host:?}");
        }
        for host in [
            "a b/c@d", "a, b", "a,b", "u@h", "h/p", "[::1", "[]", "[x]", "a:8x", "a:80:80", "a\"",
        ] {
            let head = format!("GET / HTTP/1.1\r\nHost: {host}\r\n\r\n");
            assert_eq!(
                parse(head.as_bytes()).unwrap_err(),
                HeadError::Host,
                "{host:?}"
            );
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
            Ok(BodyFraming::Length(1 << 24))
        );
    }

    #[test]
    fn too_many_headers_one_past_the_limit() {
        let limits = RequestLimits {
            max_headers: 3,
            ..*LIMITS
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
    fn the_fields_that_shape_a_request_are_known_in_any_case() {
        let cases = [
            ("Host", Shaping::Host),
            ("HOST", Shaping::Host),
            ("hOsT", Shaping::Host),
            ("Hosts", Shaping::Other),
            ("hist", Shaping::Other),
            ("Expect", Shaping::Expect),
            ("Connection", Shaping::Connection),
            ("User-Agent", Shaping::Other),
            ("Content-Length", Shaping::ContentLength),
            ("content_length", Shaping::Other),
            ("Content-Lengt", Shaping::Other),
            ("TRANSFER-ENCODING", Shaping::TransferEncoding),
            ("Transfer-Encodinh", Shaping::Other),
            ("X-Forwarded-For", Shaping::Other),
            ("", Shaping::Other),
        ];
        for (name, shaping) in cases {
            assert_eq!(Shaping::of(name), shaping, "{name}");
        }
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
    fn helpers_trim_and_split_lists() {
        assert_eq!(trim_ows(b" \tx y\t "), b"x y");
        assert_eq!(trim_ows(b"   "), b"");
        let items: Vec<&[u8]> = list_items(b" a, ,b ,").collect();
        assert_eq!(items, [&b"a"[..], b"b"]);
    }

    #[test]
    fn a_host_is_one_name_or_address_and_an_optional_port() {
        let good: [&[u8]; 9] = [
            b"",
            b"a",
            b"example.com",
            b"a-b.c_d~e%41!$&'()*+;=",
            b"127.0.0.1:8080",
            b"x:",
            b"[::1]",
            b"[::1]:80",
            b"[2001:db8::7]",
        ];
        for host in good {
            assert!(is_valid_host(host), "{:?}", String::from_utf8_lossy(host));
        }
        let bad: [&[u8]; 11] = [
            b"a b",
            b"a/b",
            b"a@b",
            b"a,b",
            b"a:b",
            b"a:1:2",
            b"[::1",
            b"[]",
            b"[::1]x",
            b"[g::]",
            "\u{e9}".as_bytes(),
        ];
        for host in bad {
            assert!(!is_valid_host(host), "{:?}", String::from_utf8_lossy(host));
        }
    }

    #[test]
    fn the_host_memo_answers_as_the_full_check_does() {
        let memo = HostMemo::default();
        assert!(memo.is_valid(b"127.0.0.1:18080"));
        assert_eq!(memo.0.get().0, 15, "remembered");
        // Same length, same first and last bytes as far as they reach, one byte apart.
        assert!(!memo.is_valid(b"127.0.0 1:18080"));
        assert!(!memo.is_valid(b"127.0.0.1:1808/"));
        assert!(memo.is_valid(b"127.0.0.1:18080"));
        // Short and long values are checked in full, and a bad one is never remembered.
        assert!(memo.is_valid(b"a:80"));
        assert!(!memo.is_valid(b"a b"));
        assert!(memo.is_valid(b"a-long-host-name.example.com:8443"));
        assert!(!memo.is_valid(b"a-long-host-name.example.com:84 3"));
        assert_eq!(
            memo.0.get().0,
            15,
            "still the last valid one of 8 to 16 bytes"
        );
    }

    proptest::proptest! {
        #[test]
        fn the_host_memo_never_differs_from_the_full_check(
            first in proptest::collection::vec(proptest::sample::select(b"ab.:1 /@[]".to_vec()), 0..20),
            second in proptest::collection::vec(proptest::sample::select(b"ab.:1 /@[]".to_vec()), 0..20),
        ) {
            let memo = HostMemo::default();
            proptest::prop_assert_eq!(memo.is_valid(&first), is_valid_host(&first));
            proptest::prop_assert_eq!(memo.is_valid(&second), is_valid_host(&second));
            proptest::prop_assert_eq!(memo.is_valid(&first), is_valid_host(&first));
        }
    }
}

//! HTTP/1.1 for the load generator: the request it sends, and a response decoder.
//!
//! The request is built once: `METHOD PATH HTTP/1.1`, `Host`, and `Connection: close` when
//! keep-alive is off. `POST`, `PUT` and `PATCH` carry a body of `--size` bytes.
//!
//! A response is decoded in two stages, after RFC 9112 §6.3:
//!
//! ```text
//!   Head ──► no body          HEAD request, 1xx (skipped: the real answer follows), 204, 304
//!        ──► Sized { left }   Content-Length
//!        ──► Chunked(..)      Transfer-Encoding ending in chunked:
//!                               Size ─► Data { left } ─► DataEnd ─► Size … 0 ─► Trailer
//!        ──► UntilClose       neither: the body ends when the server closes
//! ```
//!
//! The head is parsed with httparse and must arrive whole (up to [`MAX_HEAD`]); a body is
//! counted as it streams past and never kept. Every complete response is a reply with its
//! status, and the connection goes on; which statuses are errors the run decides
//! (`--error-status`, `status.rs`).

use std::mem::MaybeUninit;

use super::decode::{Broken, Decode, Outcome};

/// The largest response head accepted; a longer one breaks the connection.
pub const MAX_HEAD: usize = 16 * 1024;

/// Most response headers accepted.
pub const MAX_HEADERS: usize = 64;

/// The longest chunk-size or trailer line accepted.
pub const MAX_CHUNK_LINE: usize = 4096;

/// The request to send over and over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpRequest {
    /// The method, e.g. `GET`.
    pub method: String,
    /// The request target, e.g. `/plain`.
    pub path: String,
    /// The `Host` header: the URL's authority as given.
    pub host: String,
    /// Keep connections open between requests; if false, send `Connection: close` and
    /// open a new connection for every request.
    pub keep_alive: bool,
    /// Extra header fields (`-H`), sent after `Host`; a `Host` among them replaces ours.
    pub headers: Vec<(String, String)>,
    /// The body to send (`--body FILE`), with any method; `None`: `POST`, `PUT` and `PATCH`
    /// send `--size` bytes.
    pub body: Option<Vec<u8>>,
}

impl HttpRequest {
    /// `GET path` on `host`, keep-alive.
    #[cfg(test)]
    pub fn get(host: &str, path: &str) -> HttpRequest {
        HttpRequest {
            method: "GET".into(),
            path: path.into(),
            host: host.into(),
            keep_alive: true,
            headers: Vec::new(),
            body: None,
        }
    }

    /// Whether this method sends a body (of `--size` bytes).
    fn has_body(&self) -> bool {
        ["POST", "PUT", "PATCH"]
            .iter()
            .any(|m| self.method.eq_ignore_ascii_case(m))
    }

    /// The request's bytes; a body of `body` bytes if the method carries one.
    pub fn encode(&self, body: usize) -> Vec<u8> {
        let mut r = format!("{} {} HTTP/1.1\r\n", self.method, self.path);
        if !self
            .headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case("host"))
        {
            r.push_str(&format!("Host: {}\r\n", self.host));
        }
        for (name, value) in &self.headers {
            r.push_str(&format!("{name}: {value}\r\n"));
        }
        if !self.keep_alive {
            r.push_str("Connection: close\r\n");
        }
        if let Some(body) = &self.body {
            r.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
            let mut bytes = r.into_bytes();
            bytes.extend_from_slice(body);
            return bytes;
        }
        if self.has_body() {
            r.push_str(&format!("Content-Length: {body}\r\n\r\n"));
            let mut bytes = r.into_bytes();
            bytes.extend_from_slice(&super::echo::payload(body));
            return bytes;
        }
        r.push_str("\r\n");
        r.into_bytes()
    }

    /// The request's HTTP/2 fields (RFC 9113 §8.3.1): `:method`, `:scheme` (`https` over
    /// TLS), `:authority` (the URL's, or a `Host` given as a header), `:path`, then the
    /// other headers with lowercase names. Fields HTTP/2 forbids (`Connection` and its kin,
    /// §8.2.2) are left out. There is no body: `validate` refuses one with HTTP/2.
    pub fn h2_fields(&self, https: bool) -> Vec<(Vec<u8>, Vec<u8>)> {
        let host = self
            .headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case("host"))
            .map_or(self.host.as_str(), |(_, v)| v.as_str());
        let scheme: &[u8] = if https { b"https" } else { b"http" };
        let mut fields = vec![
            (b":method".to_vec(), self.method.as_bytes().to_vec()),
            (b":scheme".to_vec(), scheme.to_vec()),
            (b":authority".to_vec(), host.as_bytes().to_vec()),
            (b":path".to_vec(), self.path.as_bytes().to_vec()),
        ];
        const HOP: [&str; 6] = [
            "host",
            "connection",
            "keep-alive",
            "proxy-connection",
            "transfer-encoding",
            "upgrade",
        ];
        for (name, value) in &self.headers {
            let name = name.to_ascii_lowercase();
            if !HOP.contains(&name.as_str()) {
                fields.push((name.into_bytes(), value.as_bytes().to_vec()));
            }
        }
        fields
    }
}

/// A URL `evserve load` was given, split for use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Url {
    /// `https://`: speak TLS.
    pub tls: bool,
    /// The authority as given, for `Host` (`127.0.0.1:8080`, `localhost`).
    pub authority: String,
    /// HOST:PORT to connect to (port 80, or 443 for https, if none is given).
    pub connect: String,
    /// The request target, `/` if none.
    pub path: String,
}

/// Splits `http://AUTHORITY/PATH` or `https://AUTHORITY/PATH`.
pub fn parse_url(url: &str) -> Result<Url, String> {
    let (tls, rest) = match (url.strip_prefix("http://"), url.strip_prefix("https://")) {
        (Some(rest), _) => (false, rest),
        (_, Some(rest)) => (true, rest),
        _ => {
            return Err(format!(
                "'{url}': only http:// and https:// URLs are supported"
            ));
        }
    };
    let rest = rest.split('#').next().unwrap_or_default();
    let at = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(at);
    if authority.is_empty() || authority.contains('@') {
        return Err(format!("'{url}': expected http(s)://HOST[:PORT]/PATH"));
    }
    let path = match path {
        "" => "/".to_string(),
        p if p.starts_with('?') => format!("/{p}"),
        p => p.to_string(),
    };
    // A port follows the last ':' unless that ':' is inside an IPv6 literal `[..]`.
    let has_port = authority.rfind(':') > authority.rfind(']').or(Some(0));
    let connect = if has_port {
        authority.to_string()
    } else {
        format!("{authority}:{}", if tls { 443 } else { 80 })
    };
    Ok(Url {
        tls,
        authority: authority.to_string(),
        connect,
        path,
    })
}

/// Where a response is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Waiting for a whole head.
    Head,
    /// A body of `left` more bytes.
    Sized { left: u64 },
    /// A chunked body.
    Chunked(Chunk),
    /// A body that ends when the connection does.
    UntilClose,
}

/// Where a chunked body is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Chunk {
    /// Waiting for a chunk-size line.
    Size,
    /// In a chunk's data, `left` bytes to go.
    Data { left: u64 },
    /// Waiting for the CRLF after a chunk's data.
    DataEnd,
    /// After the last chunk: trailer lines until an empty one.
    Trailer,
}

/// A parsed response head.
struct ParsedHead {
    /// Its length in bytes.
    used: usize,
    /// The body that follows, `None` for none.
    body: Option<State>,
}

/// Progress through one HTTP response.
#[derive(Debug, Clone)]
pub struct HttpReply {
    /// The requests are `HEAD`: responses have no body whatever their headers say.
    head_request: bool,
    state: State,
    /// The status of the response in progress.
    status: u16,
    /// The response in progress ends the connection.
    close: bool,
}

impl HttpReply {
    /// A decoder for responses to `HEAD` requests (`head_request`) or to any other.
    pub fn new(head_request: bool) -> HttpReply {
        HttpReply {
            head_request,
            state: State::Head,
            status: 0,
            close: false,
        }
    }

    /// Consumes from `src` toward the end of the response in progress.
    pub fn decode(&mut self, src: &[u8]) -> Decode {
        let mut at = 0;
        loop {
            let rest = &src[at..];
            match self.state {
                State::Head => match self.head(rest) {
                    Ok(Some(ParsedHead { used, body })) => {
                        at += used;
                        match body {
                            Some(state) => self.state = state,
                            None if self.status < 200 => {} // interim: the answer follows
                            None => return self.finish(at),
                        }
                    }
                    Ok(None) => return Decode::Partial { used: at },
                    Err(broken) => return Decode::Broken(broken),
                },
                State::Sized { left } => {
                    let take = left.min(rest.len() as u64);
                    at += take as usize;
                    if take < left {
                        self.state = State::Sized { left: left - take };
                        return Decode::Partial { used: at };
                    }
                    return self.finish(at);
                }
                State::Chunked(chunk) => match self.chunk(chunk, rest) {
                    Ok((used, Some(next))) => {
                        at += used;
                        self.state = State::Chunked(next);
                    }
                    Ok((used, None)) => return self.finish(at + used),
                    Err(None) => return Decode::Partial { used: at },
                    Err(Some(broken)) => return Decode::Broken(broken),
                },
                State::UntilClose => return Decode::Partial { used: src.len() },
            }
        }
    }

    /// The connection closed: completes a body delimited by the close.
    pub fn eof(&mut self) -> Option<Outcome> {
        if self.state != State::UntilClose {
            return None;
        }
        self.state = State::Head;
        Some(self.outcome())
    }

    /// Every complete response is one, whatever its status: whether the status is an error
    /// is the run's choice (`--error-status`, see `status.rs`), not the decoder's.
    fn outcome(&self) -> Outcome {
        Outcome::Status(self.status)
    }

    fn finish(&mut self, used: usize) -> Decode {
        self.state = State::Head;
        Decode::Reply {
            used,
            outcome: self.outcome(),
            close: self.close,
        }
    }

    /// Parses a head at the front of `src`; `Ok(None)` means it is not complete yet.
    fn head(&mut self, src: &[u8]) -> Result<Option<ParsedHead>, Broken> {
        // Uninitialised slots: no 2 KiB of header slots cleared per response.
        let mut headers = [const { MaybeUninit::<httparse::Header>::uninit() }; MAX_HEADERS];
        let mut response = httparse::Response::new(&mut []);
        let parsed = httparse::ParserConfig::default().parse_response_with_uninit_headers(
            &mut response,
            src,
            &mut headers,
        );
        let used = match parsed {
            Ok(httparse::Status::Complete(n)) if n <= MAX_HEAD => n,
            Ok(httparse::Status::Partial) if src.len() <= MAX_HEAD => return Ok(None),
            Ok(_) | Err(httparse::Error::TooManyHeaders) => return Err(Broken::HeadTooLarge),
            Err(_) => return Err(Broken::BadHead),
        };
        let status = response.code.unwrap_or(0);
        if status == 101 {
            return Err(Broken::Unsupported);
        }
        let mut length: Option<u64> = None;
        let mut encoded = false;
        let mut chunked = false;
        let (mut close, mut keep_alive) = (false, false);
        for h in response.headers.iter() {
            if h.name.eq_ignore_ascii_case("content-length") {
                let n = parse_decimal(h.value).ok_or(Broken::BadLength)?;
                if length.is_some_and(|l| l != n) {
                    return Err(Broken::BadLength);
                }
                length = Some(n);
            } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
                encoded = true;
                // Chunked must be the last coding for the body to be delimited by chunks.
                chunked = has_token(h.value, b"chunked", true);
            } else if h.name.eq_ignore_ascii_case("connection") {
                close |= has_token(h.value, b"close", false);
                keep_alive |= has_token(h.value, b"keep-alive", false);
            }
        }
        self.status = status;
        // HTTP/1.0 closes unless asked to keep alive.
        self.close = close || (response.version == Some(0) && !keep_alive);
        let body = if self.head_request || status < 200 || status == 204 || status == 304 {
            None
        } else if encoded && chunked {
            Some(State::Chunked(Chunk::Size))
        } else if encoded {
            Some(State::UntilClose)
        } else {
            match length {
                Some(0) => None,
                Some(left) => Some(State::Sized { left }),
                None => Some(State::UntilClose),
            }
        };
        if body == Some(State::UntilClose) {
            self.close = true;
        }
        Ok(Some(ParsedHead { used, body }))
    }

    /// One step of a chunked body at the front of `src`: bytes used and the next state
    /// (`None`: the body is complete). `Err(None)`: need more bytes.
    fn chunk(
        &mut self,
        chunk: Chunk,
        src: &[u8],
    ) -> Result<(usize, Option<Chunk>), Option<Broken>> {
        match chunk {
            Chunk::Size => {
                let (line, used) = line(src)?;
                let size = parse_chunk_size(line).ok_or(Some(Broken::BadChunk))?;
                let next = if size == 0 {
                    Chunk::Trailer
                } else {
                    Chunk::Data { left: size }
                };
                Ok((used, Some(next)))
            }
            Chunk::Data { left } => {
                let take = left.min(src.len() as u64);
                if take == 0 {
                    return Err(None);
                }
                let next = if take == left {
                    Chunk::DataEnd
                } else {
                    Chunk::Data { left: left - take }
                };
                Ok((take as usize, Some(next)))
            }
            Chunk::DataEnd => match src {
                [b'\r', b'\n', ..] => Ok((2, Some(Chunk::Size))),
                [b'\n', ..] => Ok((1, Some(Chunk::Size))),
                [] | [b'\r'] => Err(None),
                _ => Err(Some(Broken::BadChunk)),
            },
            Chunk::Trailer => {
                let (line, used) = line(src)?;
                Ok((used, (!line.is_empty()).then_some(Chunk::Trailer)))
            }
        }
    }
}

/// The line at the front of `src` without its CR LF, and the bytes it takes with them.
fn line(src: &[u8]) -> Result<(&[u8], usize), Option<Broken>> {
    match src.iter().position(|&b| b == b'\n') {
        Some(end) if end <= MAX_CHUNK_LINE => {
            let line = &src[..end];
            Ok((line.strip_suffix(b"\r").unwrap_or(line), end + 1))
        }
        None if src.len() <= MAX_CHUNK_LINE => Err(None),
        _ => Err(Some(Broken::BadChunk)),
    }
}

/// Whether the comma-separated list `value` holds `token` (ASCII case-insensitively), or with
/// `last`, ends with it. Compares in place: nothing is allocated per response.
fn has_token(value: &[u8], token: &[u8], last: bool) -> bool {
    let mut tokens = value.split(|&b| b == b',').map(<[u8]>::trim_ascii);
    if last {
        tokens
            .next_back()
            .is_some_and(|t| t.eq_ignore_ascii_case(token))
    } else {
        tokens.any(|t| t.eq_ignore_ascii_case(token))
    }
}

/// A `Content-Length` value: digits only (no `+`, as the server's `protocol::number::decimal`),
/// but one too large for a `u64` is a broken answer here, not a large one. Deliberately not
/// the server's parser: a load generator that shared the server's parsers would agree with
/// the server's bugs (see docs/architecture.md, "One library, one binary").
fn parse_decimal(value: &[u8]) -> Option<u64> {
    let digits = value.trim_ascii();
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    digits.iter().try_fold(0u64, |n, d| {
        n.checked_mul(10)?.checked_add(u64::from(d - b'0'))
    })
}

/// The size in a chunk-size line `HEX[;extensions]`.
fn parse_chunk_size(line: &[u8]) -> Option<u64> {
    let end = line
        .iter()
        .position(|&b| b == b';' || b == b' ' || b == b'\t')
        .unwrap_or(line.len());
    let hex = &line[..end];
    if hex.is_empty() {
        return None;
    }
    hex.iter().try_fold(0u64, |n, &d| {
        let v = (d as char).to_digit(16)?;
        n.checked_mul(16)?.checked_add(u64::from(v))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(used: usize, outcome: Outcome, close: bool) -> Decode {
        Decode::Reply {
            used,
            outcome,
            close,
        }
    }

    /// Feeds `stream` in pieces of `step` bytes as a connection would; returns the replies.
    fn feed(r: &mut HttpReply, stream: &[u8], step: usize) -> Vec<(Outcome, bool)> {
        let mut pending = Vec::new();
        let mut out = Vec::new();
        for piece in stream.chunks(step) {
            pending.extend_from_slice(piece);
            loop {
                match r.decode(&pending) {
                    Decode::Partial { used } => {
                        pending.drain(..used);
                        break;
                    }
                    Decode::Reply {
                        used,
                        outcome,
                        close,
                    } => {
                        pending.drain(..used);
                        out.push((outcome, close));
                    }
                    Decode::Broken(b) => panic!("broken {b:?}"),
                }
            }
        }
        out
    }

    const HELLO: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 13\r\n\r\nHello, World!";

    #[test]
    fn requests() {
        let get = HttpRequest::get("h:80", "/plain");
        assert_eq!(get.encode(64), b"GET /plain HTTP/1.1\r\nHost: h:80\r\n\r\n");
        let close = HttpRequest {
            keep_alive: false,
            ..get.clone()
        };
        assert_eq!(
            close.encode(0),
            b"GET /plain HTTP/1.1\r\nHost: h:80\r\nConnection: close\r\n\r\n"
        );
        let post = HttpRequest {
            method: "POST".into(),
            ..get
        };
        assert!(post.encode(3).ends_with(b"Content-Length: 3\r\n\r\nabc"));
        let put = HttpRequest {
            method: "PUT".into(),
            headers: vec![("Host".into(), "other".into()), ("X-A".into(), "1".into())],
            body: Some(b"hi".to_vec()),
            ..post
        };
        assert_eq!(
            put.encode(64),
            b"PUT /plain HTTP/1.1\r\nHost: other\r\nX-A: 1\r\nContent-Length: 2\r\n\r\nhi"
        );
    }

    #[test]
    fn h2_fields() {
        let get = HttpRequest {
            headers: vec![
                ("X-A".into(), "1".into()),
                ("Connection".into(), "close".into()),
            ],
            ..HttpRequest::get("h:80", "/plain")
        };
        let fields: Vec<(String, String)> = get
            .h2_fields(true)
            .into_iter()
            .map(|(n, v)| (String::from_utf8(n).unwrap(), String::from_utf8(v).unwrap()))
            .collect();
        let want = [
            (":method", "GET"),
            (":scheme", "https"),
            (":authority", "h:80"),
            (":path", "/plain"),
            ("x-a", "1"),
        ];
        let want: Vec<(String, String)> = want.map(|(n, v)| (n.into(), v.into())).to_vec();
        assert_eq!(fields, want);
        let other = HttpRequest {
            headers: vec![("Host".into(), "other".into())],
            ..get
        };
        assert_eq!(other.h2_fields(false)[2].1, b"other");
        assert_eq!(other.h2_fields(false)[1].1, b"http");
    }

    #[test]
    fn urls() {
        let p = |url| parse_url(url).map(|u| (u.authority, u.connect, u.path));
        let own = |a: &str, c: &str, p: &str| Ok((a.into(), c.into(), p.into()));
        assert_eq!(
            p("http://127.0.0.1:8080/plain"),
            own("127.0.0.1:8080", "127.0.0.1:8080", "/plain")
        );
        assert_eq!(p("http://localhost"), own("localhost", "localhost:80", "/"));
        assert_eq!(p("http://h:1?q=1#f"), own("h:1", "h:1", "/?q=1"));
        assert_eq!(p("http://[::1]/x"), own("[::1]", "[::1]:80", "/x"));
        assert_eq!(p("http://[::1]:81/"), own("[::1]:81", "[::1]:81", "/"));
        assert_eq!(p("https://h/x"), own("h", "h:443", "/x"));
        assert!(parse_url("https://h:8443/").unwrap().tls);
        assert!(!parse_url("http://h/").unwrap().tls);
        assert!(p("ftp://h/").is_err());
        assert!(p("http:///x").is_err());
        assert!(p("http://u@h/").is_err());
    }

    #[test]
    fn sized_responses_whole_pipelined_and_bytewise() {
        let mut r = HttpReply::new(false);
        assert_eq!(
            r.decode(HELLO),
            reply(HELLO.len(), Outcome::Status(200), false)
        );
        let stream = HELLO.repeat(3);
        for step in [1, 7, stream.len()] {
            let got = feed(&mut r, &stream, step);
            assert_eq!(got, vec![(Outcome::Status(200), false); 3], "step {step}");
        }
    }

    #[test]
    fn a_body_is_consumed_as_it_streams() {
        let mut r = HttpReply::new(false);
        let head = b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n";
        assert_eq!(r.decode(&head[..10]), Decode::Partial { used: 0 });
        assert_eq!(r.decode(head), Decode::Partial { used: head.len() });
        assert_eq!(r.decode(b"01234"), Decode::Partial { used: 5 });
        assert_eq!(
            r.decode(b"56789HTTP"),
            reply(5, Outcome::Status(200), false)
        );
    }

    #[test]
    fn error_statuses_are_wrong_replies_in_step() {
        let mut r = HttpReply::new(false);
        let mut stream = b"HTTP/1.1 500 Oops\r\nContent-Length: 3\r\n\r\nbad".to_vec();
        stream.extend_from_slice(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
        stream.extend_from_slice(HELLO);
        let got = feed(&mut r, &stream, 5);
        let want = [
            (Outcome::Status(500), false),
            (Outcome::Status(404), false),
            (Outcome::Status(200), false),
        ];
        assert_eq!(got, want);
    }

    #[test]
    fn chunked_bodies() {
        let body = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\
                     5;ext=1\r\nHello\r\n8\r\n, World!\r\n0\r\nX-T: 1\r\n\r\n";
        let stream = [&body[..], HELLO].concat();
        for step in [1, 3, stream.len()] {
            let mut r = HttpReply::new(false);
            let got = feed(&mut r, &stream, step);
            assert_eq!(got, vec![(Outcome::Status(200), false); 2], "step {step}");
        }
        let mut r = HttpReply::new(false);
        let bad = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n";
        assert_eq!(r.decode(bad), Decode::Broken(Broken::BadChunk));
        let mut r = HttpReply::new(false);
        let bad = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\naXY";
        assert_eq!(r.decode(bad), Decode::Broken(Broken::BadChunk));
    }

    #[test]
    fn bodies_without_length() {
        let mut r = HttpReply::new(false);
        let head = b"HTTP/1.1 200 OK\r\n\r\nsome";
        assert_eq!(r.decode(head), Decode::Partial { used: head.len() });
        assert_eq!(r.eof(), Some(Outcome::Status(200)));
        assert_eq!(r.eof(), None, "only once");

        let mut r = HttpReply::new(false);
        let nobody = b"HTTP/1.1 204 No Content\r\n\r\nHTTP/1.1 304 Not Modified\r\nContent-Length: 9\r\n\r\n";
        let got = feed(&mut r, nobody, 4);
        let want = [(Outcome::Status(204), false), (Outcome::Status(304), false)];
        assert_eq!(got, want);

        let mut r = HttpReply::new(true);
        assert_eq!(
            r.decode(HELLO),
            reply(HELLO.len() - 13, Outcome::Status(200), false),
            "HEAD: no body"
        );
    }

    #[test]
    fn interim_responses_are_skipped() {
        let mut r = HttpReply::new(false);
        let stream = [&b"HTTP/1.1 100 Continue\r\n\r\n"[..], HELLO].concat();
        assert_eq!(feed(&mut r, &stream, 2), [(Outcome::Status(200), false)]);
    }

    #[test]
    fn connection_close() {
        let mut r = HttpReply::new(false);
        let close =
            b"HTTP/1.1 200 OK\r\nConnection: Keep-Alive, close\r\nContent-Length: 0\r\n\r\n";
        assert_eq!(
            r.decode(close),
            reply(close.len(), Outcome::Status(200), true)
        );
        let old = b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n";
        assert_eq!(r.decode(old), reply(old.len(), Outcome::Status(200), true));
        let kept = b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n";
        assert_eq!(
            r.decode(kept),
            reply(kept.len(), Outcome::Status(200), false)
        );
    }

    #[test]
    fn garbage_and_limits() {
        let mut r = HttpReply::new(false);
        assert_eq!(
            r.decode(b"NOT HTTP\r\n\r\n"),
            Decode::Broken(Broken::BadHead)
        );
        let mut r = HttpReply::new(false);
        let two = b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n";
        assert_eq!(r.decode(two), Decode::Broken(Broken::BadLength));
        let mut r = HttpReply::new(false);
        let neg = b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n";
        assert_eq!(r.decode(neg), Decode::Broken(Broken::BadLength));
        let mut r = HttpReply::new(false);
        let up = b"HTTP/1.1 101 Switching Protocols\r\n\r\n";
        assert_eq!(r.decode(up), Decode::Broken(Broken::Unsupported));

        // A head at the limit still parses; one byte more does not.
        let fill = |n: usize| {
            let mut h = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nX: ".to_vec();
            h.resize(n - 4, b'x');
            h.extend_from_slice(b"\r\n\r\n");
            h
        };
        let mut r = HttpReply::new(false);
        let at = fill(MAX_HEAD);
        assert_eq!(r.decode(&at), reply(MAX_HEAD, Outcome::Status(200), false));
        let mut r = HttpReply::new(false);
        let past = fill(MAX_HEAD + 1);
        assert_eq!(r.decode(&past), Decode::Broken(Broken::HeadTooLarge));
        let mut r = HttpReply::new(false);
        let unfinished = &fill(MAX_HEAD + 10)[..MAX_HEAD + 1];
        assert_eq!(r.decode(unfinished), Decode::Broken(Broken::HeadTooLarge));
    }
}

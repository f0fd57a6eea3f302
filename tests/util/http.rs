//! A minimal HTTP/1.1 client over a raw `TcpStream`, for tests where the exact bytes matter.
//!
//! It is deliberately not a real client library: requests are written as the test spells
//! them, byte for byte, and responses are read by the simplest rules this server follows
//! (it never sends chunked responses, so a body is `Content-Length` bytes, or none for `HEAD`,
//! 1xx, 204 and 304). Every read has the socket's timeout, and every loop has a bound, so a
//! misbehaving server fails a test instead of hanging it.

use std::io::{self, BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;

use super::Server;
pub use super::inproc::connect;

/// The most header lines a response may have before the reader gives up: a bound on the loop,
/// far above anything this server sends.
const MAX_RESPONSE_LINES: usize = 200;

/// Starts `evserve serve --http 127.0.0.1:0 --root ROOT EXTRA...` and waits for its listener.
pub fn start(root: &Path, extra: &[&str]) -> Server {
    let root = root.to_str().expect("utf-8 temp path");
    let mut args = vec!["--http", "127.0.0.1:0", "--root", root];
    args.extend_from_slice(extra);
    Server::start(&args, 1)
}

/// One parsed response.
#[derive(Debug, Clone)]
pub struct Response {
    /// The status line without its CRLF, e.g. `HTTP/1.1 200 OK`.
    pub status_line: String,
    /// The numeric status.
    pub status: u16,
    /// Header fields in order, as sent.
    pub headers: Vec<(String, String)>,
    /// The head's size on the wire, its blank line included (every line ends in CRLF here).
    pub head_len: usize,
    /// The body (empty when none was sent).
    pub body: Vec<u8>,
}

impl Response {
    /// The first value of the named field (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The named field, failing the test if absent.
    pub fn must(&self, name: &str) -> &str {
        self.header(name)
            .unwrap_or_else(|| panic!("no {name} in {:?} {:?}", self.status_line, self.headers))
    }

    /// `Content-Length`, parsed.
    pub fn content_length(&self) -> Option<u64> {
        self.header("content-length")
            .map(|v| v.parse().expect("numeric Content-Length"))
    }

    /// The body as (lossy) text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// A connection with a buffered reader, so pipelined responses are read one at a time without
/// losing the bytes of the next.
pub struct Conn {
    reader: BufReader<TcpStream>,
}

impl Conn {
    /// Connects to `addr`.
    pub fn open(addr: SocketAddr) -> Conn {
        Conn {
            reader: BufReader::new(connect(addr)),
        }
    }

    /// The underlying socket (for writes from another thread, shutdown, socket options).
    pub fn stream(&self) -> &TcpStream {
        self.reader.get_ref()
    }

    /// Writes raw bytes.
    pub fn send(&mut self, bytes: &[u8]) {
        self.reader
            .get_mut()
            .write_all(bytes)
            .expect("write request");
    }

    /// Reads the next response to a request that may carry a body.
    pub fn response(&mut self) -> Response {
        self.read(false).expect("read response")
    }

    /// Reads the next response to a `HEAD`: no body whatever the length says.
    pub fn head_response(&mut self) -> Response {
        self.read(true).expect("read HEAD response")
    }

    /// Writes `request` and reads its response.
    pub fn exchange(&mut self, request: &[u8]) -> Response {
        self.send(request);
        self.response()
    }

    /// Reads a response, reporting I/O errors (a reset, a timeout) instead of panicking.
    pub fn read(&mut self, head_request: bool) -> io::Result<Response> {
        read_response(&mut self.reader, head_request)
    }

    /// Asserts the server has closed: the next read is an orderly EOF, not data, a reset or a
    /// timeout.
    pub fn expect_eof(&mut self) {
        let mut rest = Vec::new();
        match self.reader.read_to_end(&mut rest) {
            Ok(_) => assert!(
                rest.is_empty(),
                "expected EOF, got {:?}",
                String::from_utf8_lossy(&rest)
            ),
            Err(e) => panic!("expected EOF, got {e}"),
        }
    }
}

/// Reads one line (up to LF), failing on EOF.
fn read_line(reader: &mut impl BufRead) -> io::Result<String> {
    let mut line = Vec::new();
    reader.read_until(b'\n', &mut line)?;
    if line.last() != Some(&b'\n') {
        return Err(io::Error::new(
            ErrorKind::UnexpectedEof,
            format!(
                "EOF in a response head after {:?}",
                String::from_utf8_lossy(&line)
            ),
        ));
    }
    let text = String::from_utf8(line).map_err(|e| io::Error::new(ErrorKind::InvalidData, e))?;
    Ok(text.trim_end_matches(['\r', '\n']).to_owned())
}

/// Reads one response from `reader`.
pub fn read_response(reader: &mut impl BufRead, head_request: bool) -> io::Result<Response> {
    let mut response = read_head(reader)?;
    let status = response.status;
    let bodiless = head_request || status < 200 || status == 204 || status == 304;
    if !bodiless {
        match response.content_length() {
            Some(n) => {
                response.body = vec![0; n as usize];
                reader.read_exact(&mut response.body)?;
            }
            // Without a length the body runs to the end of the connection.
            None => {
                reader.read_to_end(&mut response.body)?;
            }
        }
    }
    Ok(response)
}

/// Reads a response head from `reader`, and leaves the body (a stream, `/events`) to the
/// caller: the response's `body` is empty.
pub fn read_head(reader: &mut impl BufRead) -> io::Result<Response> {
    let status_line = read_line(reader)?;
    let mut head_len = status_line.len() + 2;
    let status: u16 = status_line
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| io::Error::new(ErrorKind::InvalidData, status_line.clone()))?;
    let mut headers = Vec::new();
    for _ in 0..MAX_RESPONSE_LINES {
        let line = read_line(reader)?;
        head_len += line.len() + 2;
        if line.is_empty() {
            return Ok(Response {
                status_line,
                status,
                headers,
                head_len,
                body: Vec::new(),
            });
        }
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| io::Error::new(ErrorKind::InvalidData, line.clone()))?;
        headers.push((name.to_owned(), value.trim().to_owned()));
    }
    Err(io::Error::new(
        ErrorKind::InvalidData,
        "response head too long",
    ))
}

/// One request on a fresh connection; the response is read by its length.
pub fn once(addr: SocketAddr, request: &[u8]) -> Response {
    Conn::open(addr).exchange(request)
}

/// The server's counters: `GET /stats` on a fresh connection, which must answer 200 with JSON.
pub fn stats(addr: SocketAddr) -> serde_json::Value {
    let r = get(addr, "/stats");
    assert_eq!(r.status, 200, "GET /stats: {}", r.status_line);
    serde_json::from_slice(&r.body)
        .unwrap_or_else(|e| panic!("GET /stats is no JSON ({e}): {}", r.text()))
}

/// `GET path` on a fresh connection.
pub fn get(addr: SocketAddr, path: &str) -> Response {
    once(
        addr,
        format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").as_bytes(),
    )
}

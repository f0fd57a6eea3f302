//! Lesson: HTTP is text over a TCP connection — a request, a response, each in four parts.
//!
//! ```text
//!   request line     GET /index.html HTTP/1.1      method, target, version
//!   header fields    Host: example.com             name: value, one per line
//!   blank line                                     the head ends here
//!   body             (POST/PUT: the data sent)     as long as Content-Length says
//!
//!   status line      HTTP/1.1 200 OK               version, status code, reason
//!   header fields    Content-Length: 13
//!   blank line
//!   body             Hello, World!
//! ```
//!
//! Every line ends with CRLF. Status codes come in classes: 1xx information, 2xx success, 3xx
//! redirection, 4xx the client's mistake, 5xx the server's. This lesson writes one request per
//! method by hand on a plain `TcpStream` to a real evserve HTTP listener and annotates both
//! sides line by line. evserve parses the head in `src/protocol/http/request.rs`, routes by
//! path and method in `src/protocol/http/routes.rs` (`dispatch`), and writes the answer with
//! `src/protocol/http/response.rs`.

use std::fmt;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;

use base64::Engine as _;

use super::{WAIT_LIMIT, loopback, start};
use evserve::config::Limits;
use evserve::protocol::http::HttpConfig;
use evserve::server::ServiceSpec;

/// The user and password `PUT` and `DELETE` need in this lesson.
pub const CREDENTIALS: (&str, &str) = ("student", "secret");

/// One request sent and the response read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exchange {
    /// What the request shows, in a few words.
    pub title: &'static str,
    /// The method.
    pub method: &'static str,
    /// The request, byte for byte.
    pub request: Vec<u8>,
    /// The response, byte for byte, up to the server's close.
    pub response: Vec<u8>,
    /// The status code, from the status line.
    pub status: u16,
}

/// What the HTTP lesson observed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpReport {
    /// The server's address.
    pub server: SocketAddr,
    /// The exchanges, in order.
    pub exchanges: Vec<Exchange>,
}

/// Removes the lesson's document root when the lesson ends, however it ends.
struct TempRoot(PathBuf);

impl Drop for TempRoot {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs the lesson against an evserve HTTP listener with writes, `TRACE` and Basic auth on.
pub fn run() -> io::Result<HttpReport> {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let root = TempRoot(std::env::temp_dir().join(format!(
        "evserve-lesson-http-{}-{nanos}",
        std::process::id()
    )));
    std::fs::create_dir_all(&root.0)?;
    let config = HttpConfig {
        root: root.0.clone(),
        writable: true,
        allow_trace: true,
        auth: evserve::protocol::http::auth::Users::plain(CREDENTIALS.0, CREDENTIALS.1)
            .ok()
            .map(std::sync::Arc::new),
        ..HttpConfig::default()
    };
    let server = start(
        ServiceSpec::Http(loopback(), Box::new(config)),
        Limits::default(),
    )?;
    let addr = server.addrs[0];
    let host = format!("Host: {addr}\r\n");
    let auth = format!(
        "Authorization: Basic {}\r\n",
        base64::engine::general_purpose::STANDARD
            .encode(format!("{}:{}", CREDENTIALS.0, CREDENTIALS.1))
    );
    let note = "my first upload\n";
    let form = "name=evserve&lesson=http";
    let requests: Vec<(&'static str, &'static str, String)> = vec![
        (
            "GET with a query: the parameters ride in the target, after '?'",
            "GET",
            format!("GET /echo?a=1&b=2 HTTP/1.1\r\n{host}Connection: close\r\n\r\n"),
        ),
        (
            "HEAD: the same head GET would get, without the body",
            "HEAD",
            format!("HEAD /plain HTTP/1.1\r\n{host}Connection: close\r\n\r\n"),
        ),
        (
            "POST: data in the body; /echo sends it back",
            "POST",
            format!(
                "POST /echo HTTP/1.1\r\n{host}Content-Type: application/x-www-form-urlencoded\r\n\
                 Content-Length: {}\r\nConnection: close\r\n\r\n{form}",
                form.len()
            ),
        ),
        (
            "PUT without credentials: refused",
            "PUT",
            format!(
                "PUT /files/note.txt HTTP/1.1\r\n{host}Content-Length: {}\r\n\
                 Connection: close\r\n\r\n{note}",
                note.len()
            ),
        ),
        (
            "PUT with credentials: stores the body as a new file",
            "PUT",
            format!(
                "PUT /files/note.txt HTTP/1.1\r\n{host}{auth}Content-Length: {}\r\n\
                 Connection: close\r\n\r\n{note}",
                note.len()
            ),
        ),
        (
            "GET of what PUT stored",
            "GET",
            format!("GET /files/note.txt HTTP/1.1\r\n{host}Connection: close\r\n\r\n"),
        ),
        (
            "DELETE: removes it",
            "DELETE",
            format!("DELETE /files/note.txt HTTP/1.1\r\n{host}{auth}Connection: close\r\n\r\n"),
        ),
        (
            "GET of what DELETE removed",
            "GET",
            format!("GET /files/note.txt HTTP/1.1\r\n{host}Connection: close\r\n\r\n"),
        ),
        (
            "OPTIONS: which methods this resource allows",
            "OPTIONS",
            format!("OPTIONS /echo HTTP/1.1\r\n{host}Connection: close\r\n\r\n"),
        ),
        (
            "TRACE: the server sends back the request it received (for testing)",
            "TRACE",
            format!("TRACE /plain HTTP/1.1\r\n{host}Connection: close\r\n\r\n"),
        ),
        (
            "CONNECT: asks a proxy for a tunnel; evserve is no proxy",
            "CONNECT",
            "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n".to_string(),
        ),
    ];
    let mut exchanges = Vec::new();
    for (title, method, request) in requests {
        let response = exchange(addr, request.as_bytes())?;
        let status = status_of(&response).ok_or_else(|| {
            io::Error::other(format!(
                "{method}: no status line in {:?}",
                String::from_utf8_lossy(&response)
            ))
        })?;
        exchanges.push(Exchange {
            title,
            method,
            request: request.into_bytes(),
            response,
            status,
        });
    }
    Ok(HttpReport {
        server: addr,
        exchanges,
    })
}

/// Sends `request` on a new connection and reads until the server closes, or — for an answer
/// that keeps the connection open (CONNECT's refusal) — until the head and its
/// `Content-Length` body are in.
fn exchange(addr: SocketAddr, request: &[u8]) -> io::Result<Vec<u8>> {
    let mut stream = TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(WAIT_LIMIT))?;
    stream.write_all(request)?;
    let head_only = request.starts_with(b"HEAD ");
    let mut response = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        if let Some(len) = complete_length(&response, head_only) {
            response.truncate(len);
            return Ok(response);
        }
        let n = stream.read(&mut buf)?;
        if n == 0 {
            return Ok(response);
        }
        response.extend_from_slice(&buf[..n]);
    }
}

/// The length of a whole response at the start of `bytes`, if it is all there.
fn complete_length(bytes: &[u8], head_only: bool) -> Option<usize> {
    let end = bytes.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    if head_only {
        return Some(end);
    }
    let head = String::from_utf8_lossy(&bytes[..end]);
    let length: usize = head.lines().find_map(|line| {
        let (name, value) = line.split_once(':')?;
        name.eq_ignore_ascii_case("content-length")
            .then(|| value.trim().parse().ok())?
    })?;
    (bytes.len() >= end + length).then_some(end + length)
}

/// The status code of a response's status line.
fn status_of(response: &[u8]) -> Option<u16> {
    let line = response.split(|&b| b == b'\r').next()?;
    let code = std::str::from_utf8(line).ok()?.split(' ').nth(1)?;
    code.parse().ok()
}

/// What a header field is for, in a few words.
fn explain_field(name: &str) -> &'static str {
    match name.to_ascii_lowercase().as_str() {
        "host" => "header: which site (required in HTTP/1.1)",
        "connection" => "header: close the connection after this",
        "content-length" => "header: the body's size in bytes",
        "content-type" => "header: what the body is",
        "authorization" => "header: credentials (user:password, base64)",
        "date" => "header: when the answer was made",
        "server" => "header: the server's name",
        "allow" => "header: the methods allowed here",
        "location" => "header: where the new resource is",
        "etag" => "header: a version tag of the resource",
        "last-modified" => "header: when the file last changed",
        "www-authenticate" => "header: how to authenticate",
        "accept-ranges" => "header: parts of it may be asked for",
        "cache-control" => "header: how long copies stay fresh",
        "x-content-type-options" => "header: do not guess the type",
        "content-security-policy" => "header: run an uploaded page sandboxed",
        _ => "header",
    }
}

/// Writes one side of an exchange, each line annotated.
fn annotate(
    f: &mut fmt::Formatter<'_>,
    arrow: &str,
    message: &[u8],
    is_request: bool,
) -> fmt::Result {
    let (head, body) = match message.windows(4).position(|w| w == b"\r\n\r\n") {
        Some(at) => (&message[..at], &message[at + 4..]),
        None => (message, &[][..]),
    };
    let head = String::from_utf8_lossy(head);
    for (i, line) in head.split("\r\n").enumerate() {
        let note = if i == 0 && is_request {
            "request line: method, target, version"
        } else if i == 0 {
            "status line: version, code, reason"
        } else {
            explain_field(line.split(':').next().unwrap_or(""))
        };
        writeln!(f, "  {arrow} {line:<44} {note}")?;
    }
    writeln!(f, "  {arrow} {:<44} blank line: the head ends", "")?;
    if body.is_empty() {
        return Ok(());
    }
    for (i, line) in String::from_utf8_lossy(body).lines().enumerate() {
        if i == 0 {
            writeln!(f, "  {arrow} {line:<44} body: {} bytes", body.len())?;
        } else {
            writeln!(f, "  {arrow} {line}")?;
        }
    }
    Ok(())
}

impl fmt::Display for HttpReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "== http: requests and responses, line by line (evserve at {}) ==",
            self.server
        )?;
        writeln!(
            f,
            "'>' is what we sent on a plain TCP connection, '<' what evserve answered."
        )?;
        for x in &self.exchanges {
            writeln!(f, "-- {} {}: {}", x.method, x.status, x.title)?;
            annotate(f, ">", &x.request, true)?;
            annotate(f, "<", &x.response, false)?;
        }
        let codes: Vec<String> = self
            .exchanges
            .iter()
            .map(|x| format!("{} {}", x.method, x.status))
            .collect();
        writeln!(f, "Status codes seen:")?;
        for row in codes.chunks(6) {
            writeln!(f, "  {}", row.join(", "))?;
        }
        writeln!(
            f,
            "2xx: done (200 OK, 201 Created, 204 No Content). 4xx: the client's mistake\n\
             (401 credentials needed, 404 no such resource, 405 method not allowed here).\n\
             5xx would be the server's fault (500 an error, 503 overloaded: try later)."
        )
    }
}

//! The client side of the file upload protocol: `evserve send FILE --to HOST:PORT`.
//!
//! This is a client, run from the command line, so it uses plain blocking
//! [`std::net::TcpStream`] IO: one connection, one file, nothing else to serve meanwhile. The
//! protocol itself (header, data frames, reply) is described in `docs/protocols.md` and its
//! wire types live in [`protocol::files`](evserve::protocol::files).
//!
//! The header carries the file's SHA-256, so the file is read twice: a first pass hashes it,
//! the second streams it in data frames of [`DEFAULT_CHUNK`] bytes, never holding more than one
//! chunk in memory. The second pass hashes again: a file modified in between is reported as
//! [`SendError::Changed`] rather than silently stored with content nobody checked.
//!
//! The server may refuse a file on its header (name taken, too large) while the data is
//! already streaming. Between data frames the client peeks, without blocking, for a reply; on
//! one it stops sending and reads it, so a refusal of a large file is noticed at once instead of
//! after the whole file has been pushed at a server that discards it.
//!
//! What the server says (an `ERR` reason, an unexpected reply) reaches the user's terminal, so
//! it is shown through [`escape_controls`]: a server (or whatever answers on that port) cannot
//! send escape sequences that retitle the window, clear the screen or reorder the text.
//!
//! With `--tls` ([`SendOptions::tls`]) the same exchange runs inside TLS (rustls, blocking, to
//! a `--tls-files` listener): the handshake is completed right after connecting, so a refused
//! certificate is reported as such ([`SendError::Handshake`]) before any data, and the peek
//! for an early reply decrypts what arrived, since a TLS 1.3 server sends session tickets
//! after the handshake that are not a reply.

use std::fmt;
use std::fs::File;
use std::io::{self, IsTerminal, Read, Seek, Write};
use std::net::{Shutdown, TcpStream, ToSocketAddrs};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use rustls::{ClientConnection, StreamOwned};

use crate::load::TlsClient;
use evserve::protocol::files::{AUTH_VERB, Header, Reply, check_name, to_hex};
use evserve::protocol::frame::{Decoder, Encoder, HEADER_LEN, LengthCodec};
use evserve::protocol::sniff;

/// The default data frame payload: 64 KiB.
pub const DEFAULT_CHUNK: usize = 64 * 1024;

/// The largest reply accepted: replies are a line of text.
const MAX_REPLY: usize = 64 * 1024;

/// How to send a file.
#[derive(Debug, Clone)]
pub struct SendOptions {
    /// The name to store the file under; by default the file's own name.
    pub name: Option<String>,
    /// Payload bytes per data frame (at most the server's `max_frame`, 1 MiB by default).
    pub chunk_size: usize,
    /// The limit for connecting, and for each read or write on the connection.
    pub timeout: Duration,
    /// Draw a progress line on stderr, if stderr is a terminal.
    pub progress: bool,
    /// Set (by a SIGINT handler, say) to stop between data frames with
    /// [`SendError::Interrupted`]; the server discards the partial file.
    pub stop: Option<Arc<AtomicBool>>,
    /// Speak TLS with this client setup (`--tls`); `None`: plain TCP.
    pub tls: Option<TlsClient>,
    /// Present this token first (`--token-file`), for a server with `--files-token`.
    pub token: Option<evserve::secret::Secret>,
}

impl Default for SendOptions {
    fn default() -> SendOptions {
        SendOptions {
            name: None,
            chunk_size: DEFAULT_CHUNK,
            timeout: Duration::from_secs(30),
            progress: true,
            stop: None,
            tls: None,
            token: None,
        }
    }
}

/// What was sent, once the server has confirmed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendReport {
    /// The name the file was stored under.
    pub name: String,
    /// Bytes sent and stored.
    pub size: u64,
    /// SHA-256 of the content, as confirmed by the server.
    pub sha256: [u8; 32],
    /// From connecting to the server's `OK` (the local hashing pass excluded).
    pub elapsed: Duration,
}

impl SendReport {
    /// Transfer rate in megabytes (10^6 bytes) per second.
    pub fn mb_per_sec(&self) -> f64 {
        let secs = self.elapsed.as_secs_f64().max(1e-9);
        self.size as f64 / 1e6 / secs
    }
}

impl fmt::Display for SendReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "sent {}: {} bytes in {:.3} s ({:.1} MB/s), sha256 {}",
            self.name,
            self.size,
            self.elapsed.as_secs_f64(),
            self.mb_per_sec(),
            to_hex(&self.sha256)
        )
    }
}

/// Why a file was not sent.
///
/// Each message says what failed, the OS reason once, and, where there is one, what to do
/// next. The [`io::Error`] of the IO variants is kept as the
/// [`source`](std::error::Error::source), and the message already contains it: a printer
/// walking the chain should skip a cause the message contains (as `main` does).
#[derive(Debug)]
pub enum SendError {
    /// The local file could not be read.
    File(io::Error),
    /// The name would be refused by the server (see `check_name`).
    BadName(&'static str),
    /// The server's name could not be resolved.
    Resolve(io::Error),
    /// No connection could be made to the server.
    Connect(io::Error),
    /// The TLS handshake failed: rustls's reason, and what to do next.
    Handshake(String),
    /// Talking with the server failed after connecting.
    Net(io::Error),
    /// The server answered `ERR`: its reason.
    Refused(String),
    /// The server's answer is not what the protocol allows, or does not match what was sent.
    Protocol(String),
    /// The port answered in another protocol: what it speaks (e.g. `HTTP`).
    WrongProtocol(&'static str),
    /// The file changed between the hashing pass and the sending pass.
    Changed,
    /// Stopped on request (Ctrl-C) after `sent` of `size` bytes.
    Interrupted {
        /// Bytes sent.
        sent: u64,
        /// Bytes in the file.
        size: u64,
    },
}

impl fmt::Display for SendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SendError::File(err) => write!(f, "cannot read the file: {err}"),
            SendError::BadName(why) => {
                write!(
                    f,
                    "file name not accepted: {why}; choose another with --name"
                )
            }
            SendError::Resolve(err) => {
                write!(
                    f,
                    "cannot resolve the server's name: {err}; check --to HOST:PORT"
                )
            }
            SendError::Connect(err) => {
                write!(f, "cannot connect: {err}")?;
                if err.kind() == io::ErrorKind::ConnectionRefused {
                    f.write_str(
                        "; is a server running there with --files? \
                         (evserve serve --files HOST:PORT --files-dir DIR)",
                    )?;
                }
                Ok(())
            }
            // A blocking socket's read timeout surfaces as WouldBlock ("Resource temporarily
            // unavailable"), which says nothing to a person.
            SendError::Net(err)
                if matches!(
                    err.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                f.write_str(
                    "no answer from the server within --timeout; is that port a files service \
                     (the address of the server's --files flag)?",
                )
            }
            SendError::Handshake(why) => write!(f, "TLS handshake failed: {why}"),
            SendError::Net(err) => write!(f, "connection failed: {err}"),
            SendError::Refused(reason) if reason == "exists" => write!(
                f,
                "refused by the server: exists (a file of that name is stored already); \
                 send it under another name with --name, or start the server with --overwrite"
            ),
            SendError::Refused(reason) if reason.starts_with("unauthorized") => write!(
                f,
                "refused by the server: {reason}; give the token the server was started with \
                 (--files-token) as --token-file FILE"
            ),
            SendError::Refused(reason) => write!(f, "refused by the server: {reason}"),
            SendError::Protocol(what) => write!(f, "unexpected reply: {what}"),
            SendError::WrongProtocol("TLS") => f.write_str(
                "the server answered in TLS: add --tls (with --cacert FILE, the server's \
                 certificate)",
            ),
            SendError::WrongProtocol(spoken) => write!(
                f,
                "the server answered in {spoken}: that port is not a files service; \
                 give --to the address of the server's --files flag"
            ),
            SendError::Changed => f.write_str("the file changed while it was being sent"),
            SendError::Interrupted { sent, size } => write!(
                f,
                "interrupted after {sent} of {size} bytes; the server discards the partial \
                 file, send it again to store it"
            ),
        }
    }
}

impl std::error::Error for SendError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            // Said in words instead (see Display).
            SendError::Net(err)
                if matches!(
                    err.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                None
            }
            SendError::File(err)
            | SendError::Resolve(err)
            | SendError::Connect(err)
            | SendError::Net(err) => Some(err),
            _ => None,
        }
    }
}

/// Uploads the file at `path` to the files service at `to` (`host:port`).
///
/// Returns `Ok` only when the server answered `OK` with the size and checksum sent.
pub fn send_file(path: &Path, to: &str, opts: &SendOptions) -> Result<SendReport, SendError> {
    let name = remote_name(path, opts)?;
    let mut file = File::open(path).map_err(SendError::File)?;
    let (size, sha256) = hash(&mut file).map_err(SendError::File)?;
    file.rewind().map_err(SendError::File)?;

    let started = Instant::now();
    let mut conn = connect(to, opts.timeout)?;
    if let Some(tls) = &opts.tls {
        conn = conn.into_tls(tls)?;
    }
    let header = Header {
        size,
        sha256,
        name: &name,
    };
    if let Some(token) = &opts.token {
        // No answer to wait for: a wrong token is answered with ERR, read as any refusal.
        write_frame(&mut conn, &[AUTH_VERB, token.bytes()].concat())?;
    }
    write_frame(&mut conn, header.to_string().as_bytes())?;
    let mut progress = Progress::new(opts.progress, &name, size);
    let stop = opts.stop.as_deref();
    let sent = send_data(
        &mut file,
        &mut conn,
        size,
        opts.chunk_size,
        &mut progress,
        stop,
    );
    progress.finish();
    let sent = match sent {
        Ok(sent) => sent,
        // The server may have refused the file and closed: its reason beats our write error.
        Err(SendError::Net(err)) => {
            return Err(match read_reply(&mut conn) {
                Ok(reply) => refusal(reply),
                Err(wrong @ SendError::WrongProtocol(_)) => wrong,
                Err(_) => SendError::Net(err),
            });
        }
        // A local failure: hang up at once, the server discards a truncated upload.
        Err(err) => return Err(err),
    };
    let reply = read_reply(&mut conn)?;
    let (size, sha256) = check_reply(sent, reply, size, sha256)?;
    conn.goodbye();
    Ok(SendReport {
        name,
        size,
        sha256,
        elapsed: started.elapsed(),
    })
}

/// The name to send: given, or the file's own, checked as the server will check it.
fn remote_name(path: &Path, opts: &SendOptions) -> Result<String, SendError> {
    let name = match &opts.name {
        Some(name) => name.clone(),
        None => path
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or(SendError::BadName("not a UTF-8 file name"))?
            .to_owned(),
    };
    check_name(&name).map_err(SendError::BadName)?;
    Ok(name)
}

/// The first pass: size and SHA-256 of what `file` holds now.
fn hash(file: &mut File) -> io::Result<(u64, [u8; 32])> {
    let (mut hasher, mut size) = (Sha256::new(), 0u64);
    let mut buf = vec![0u8; DEFAULT_CHUNK];
    loop {
        let n = fill(file, &mut buf)?;
        let Some(data) = buf.get(..n).filter(|d| !d.is_empty()) else {
            return Ok((size, hasher.finalize().into()));
        };
        hasher.update(data);
        size += n as u64;
    }
}

/// Reads until `buf` is full or the end of `src`; returns how much was read.
fn fill(src: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while let Some(rest) = buf.get_mut(filled..).filter(|r| !r.is_empty()) {
        match src.read(rest) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(err) => return Err(err),
        }
    }
    Ok(filled)
}

/// The connection to the server: plain TCP, or TLS over it.
enum Link {
    /// Plain TCP.
    Plain(TcpStream),
    /// TLS (boxed: rustls's state is a few KiB).
    Tls(Box<StreamOwned<ClientConnection, TcpStream>>),
}

impl Link {
    /// Wraps a plain connection in TLS and completes the handshake.
    fn into_tls(self, client: &TlsClient) -> Result<Link, SendError> {
        let Link::Plain(sock) = self else {
            return Ok(self);
        };
        let tls = client
            .connection()
            .map_err(|e| SendError::Handshake(e.to_string()))?;
        let mut stream = StreamOwned::new(tls, sock);
        while stream.conn.is_handshaking() {
            if let Err(err) = stream.conn.complete_io(&mut stream.sock) {
                return Err(match err.get_ref().and_then(|e| e.downcast_ref()) {
                    Some(tls @ rustls::Error::InvalidCertificate(_)) => {
                        SendError::Handshake(crate::load::tls::describe(tls))
                    }
                    Some(tls) => SendError::Handshake(format!(
                        "{tls}; is --to the server's --tls-files address?"
                    )),
                    None => SendError::Net(err),
                });
            }
        }
        Ok(Link::Tls(Box::new(stream)))
    }

    /// Whether the server has said something (or closed) already, without waiting for it.
    fn reply_waiting(&mut self) -> io::Result<bool> {
        match self {
            Link::Plain(sock) => {
                sock.set_nonblocking(true)?;
                let peeked = sock.peek(&mut [0u8; 1]);
                sock.set_nonblocking(false)?;
                match peeked {
                    Ok(_) => Ok(true),
                    Err(err) if err.kind() == io::ErrorKind::WouldBlock => Ok(false),
                    Err(err) => Err(err),
                }
            }
            Link::Tls(stream) => {
                stream.sock.set_nonblocking(true)?;
                let waiting = tls_reply_waiting(&mut stream.conn, &mut stream.sock);
                stream.sock.set_nonblocking(false)?;
                waiting
            }
        }
    }

    /// Ends the exchange politely: TLS sends `close_notify`; then our side is shut.
    fn goodbye(&mut self) {
        let sock = match self {
            Link::Plain(sock) => sock,
            Link::Tls(stream) => {
                stream.conn.send_close_notify();
                let _ = stream.flush();
                &mut stream.sock
            }
        };
        let _ = sock.shutdown(Shutdown::Write);
    }
}

/// Decrypts what has arrived (session tickets, say) on a non-blocking socket: true once there
/// is plaintext to read or the server has closed.
fn tls_reply_waiting(conn: &mut ClientConnection, sock: &mut TcpStream) -> io::Result<bool> {
    loop {
        let state = conn
            .process_new_packets()
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        if state.plaintext_bytes_to_read() > 0 || state.peer_has_closed() {
            return Ok(true);
        }
        match conn.read_tls(sock) {
            Ok(0) => return Ok(true),
            Ok(_) => {}
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => return Ok(false),
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(err) => return Err(err),
        }
    }
}

impl Read for Link {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Link::Plain(sock) => sock.read(buf),
            Link::Tls(stream) => stream.read(buf),
        }
    }
}

impl Write for Link {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Link::Plain(sock) => sock.write(buf),
            Link::Tls(stream) => stream.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Link::Plain(sock) => sock.flush(),
            Link::Tls(stream) => stream.flush(),
        }
    }
}

/// Connects to the first address of `to` that answers.
fn connect(to: &str, timeout: Duration) -> Result<Link, SendError> {
    let mut last = io::Error::new(io::ErrorKind::NotFound, format!("{to}: no address"));
    for addr in to.to_socket_addrs().map_err(SendError::Resolve)? {
        match TcpStream::connect_timeout(&addr, timeout) {
            Ok(conn) => {
                conn.set_read_timeout(Some(timeout))
                    .map_err(SendError::Net)?;
                conn.set_write_timeout(Some(timeout))
                    .map_err(SendError::Net)?;
                return Ok(Link::Plain(conn));
            }
            Err(err) => last = err,
        }
    }
    Err(SendError::Connect(last))
}

fn write_frame(conn: &mut Link, payload: &[u8]) -> Result<(), SendError> {
    let mut frame = Vec::new();
    LengthCodec::default()
        .encode(payload, &mut frame)
        .map_err(|err| SendError::Protocol(err.to_string()))?;
    conn.write_all(&frame).map_err(SendError::Net)?;
    conn.flush().map_err(SendError::Net)
}

/// How the data pass ended.
enum Sent {
    /// Every byte announced was sent; the SHA-256 of what was sent.
    All([u8; 32]),
    /// The server answered before the end (a refusal, normally).
    Early,
}

/// The second pass: streams `size` bytes of `file` in data frames of `chunk` bytes.
fn send_data(
    file: &mut File,
    conn: &mut Link,
    size: u64,
    chunk: usize,
    progress: &mut Progress,
    stop: Option<&AtomicBool>,
) -> Result<Sent, SendError> {
    let codec = LengthCodec::new(chunk.max(1));
    // One buffer holds a whole frame, header first, so each frame is one write.
    let mut frame = vec![0u8; HEADER_LEN + codec.max_frame()];
    let (mut hasher, mut sent) = (Sha256::new(), 0u64);
    // `take`: never more than announced, even if the file grew since it was hashed.
    let mut src = file.take(size);
    while sent < size {
        if stop.is_some_and(|s| s.load(Ordering::Relaxed)) {
            return Err(SendError::Interrupted { sent, size });
        }
        if conn.reply_waiting().map_err(SendError::Net)? {
            return Ok(Sent::Early);
        }
        let (head, body) = frame.split_at_mut(HEADER_LEN);
        let n = fill(&mut src, body).map_err(SendError::File)?;
        let Some(data) = body.get(..n).filter(|d| !d.is_empty()) else {
            return Err(SendError::Changed); // shorter than when it was hashed
        };
        hasher.update(data);
        let len = codec
            .head(n)
            .map_err(|err| SendError::Protocol(err.to_string()))?;
        head.copy_from_slice(&len);
        let whole = frame.get(..HEADER_LEN + n).unwrap_or_default();
        conn.write_all(whole).map_err(SendError::Net)?;
        sent += n as u64;
        progress.update(sent);
    }
    // TLS: what rustls still holds must reach the socket before we wait for the reply.
    conn.flush().map_err(SendError::Net)?;
    Ok(Sent::All(hasher.finalize().into()))
}

/// Reads one reply frame and returns its payload.
fn read_reply(conn: &mut Link) -> Result<Vec<u8>, SendError> {
    let mut codec = LengthCodec::new(MAX_REPLY);
    let (mut input, mut buf) = (Vec::new(), [0u8; 4096]);
    loop {
        match codec.decode(&input) {
            Ok(Some(frame)) => return Ok(frame.payload.to_vec()),
            Ok(None) => {}
            Err(err) => {
                return Err(match sniff::server(&input) {
                    Some(spoken) => SendError::WrongProtocol(spoken),
                    None => SendError::Protocol(err.to_string()),
                });
            }
        }
        let n = match conn.read(&mut buf) {
            Ok(0) => return Err(SendError::Protocol("connection closed, no reply".into())),
            Ok(n) => n,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
            Err(err) => return Err(SendError::Net(err)),
        };
        input.extend_from_slice(buf.get(..n).unwrap_or_default());
    }
}

/// `ERR reason` as an error; anything else read instead of a refusal is not one.
fn refusal(payload: Vec<u8>) -> SendError {
    match Reply::parse(&payload) {
        Some(Reply::Err(reason)) => SendError::Refused(escape_controls(reason)),
        // Our own header came back: the port echoes frames.
        _ if payload.starts_with(b"FILE ") => {
            SendError::WrongProtocol("echo (it sent our header back)")
        }
        _ => SendError::Protocol(escape_controls(&String::from_utf8_lossy(&payload))),
    }
}

/// `text` safe to print on a terminal: every control character (C0, DEL, C1 U+0080..U+009F)
/// and every bidirectional embedding, override or isolate (U+202A..U+202E, U+2066..U+2069) is
/// written as its UTF-8 bytes in `\xHH` form, as nginx writes its logs; so is `\` itself, so
/// the result reads back unambiguously. Everything else is kept.
pub fn escape_controls(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        let bidi = matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}');
        if c.is_control() || bidi || c == '\\' {
            let mut utf8 = [0u8; 4];
            for b in c.encode_utf8(&mut utf8).bytes() {
                out.push_str(&format!("\\x{b:02X}"));
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Accepts only an `OK` for exactly what was announced and sent.
fn check_reply(
    sent: Sent,
    reply: Vec<u8>,
    size: u64,
    sha256: [u8; 32],
) -> Result<(u64, [u8; 32]), SendError> {
    // Whatever the server says, content that differs from the hashed file is our problem.
    if let Sent::All(streamed) = sent
        && streamed != sha256
    {
        return Err(SendError::Changed);
    }
    let Some(Reply::Ok {
        size: stored,
        sha256: checked,
    }) = Reply::parse(&reply)
    else {
        return Err(refusal(reply));
    };
    if let Sent::Early = sent {
        return Err(SendError::Protocol("OK before all data was sent".into()));
    }
    if (stored, checked) != (size, sha256) {
        let what = format!("server stored {stored} bytes, sha256 {}", to_hex(&checked));
        return Err(SendError::Protocol(what));
    }
    Ok((stored, checked))
}

/// A one-line progress display, redrawn at most ten times a second, on a terminal only.
struct Progress {
    enabled: bool,
    label: String,
    total: u64,
    started: Instant,
    drawn: Option<Instant>,
}

impl Progress {
    fn new(wanted: bool, name: &str, total: u64) -> Progress {
        Progress {
            enabled: wanted && io::stderr().is_terminal(),
            label: name.to_owned(),
            total,
            started: Instant::now(),
            drawn: None,
        }
    }

    fn update(&mut self, done: u64) {
        let now = Instant::now();
        let recent = self
            .drawn
            .is_some_and(|t| now - t < Duration::from_millis(100));
        if !self.enabled || (recent && done < self.total) {
            return;
        }
        self.drawn = Some(now);
        let pct = done
            .saturating_mul(100)
            .checked_div(self.total)
            .unwrap_or(100);
        let secs = (now - self.started).as_secs_f64().max(1e-9);
        eprint!(
            "\r{}: {pct:>3}% {:.1}/{:.1} MB {:.1} MB/s ",
            self.label,
            done as f64 / 1e6,
            self.total as f64 / 1e6,
            done as f64 / 1e6 / secs
        );
    }

    /// Ends the line, if one was drawn.
    fn finish(&mut self) {
        if self.drawn.is_some() {
            eprintln!();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use evserve::protocol::files::{FilesConfig, FilesSession};
    use evserve::session::Flow;
    use evserve::testing::Harness;
    use std::net::{Shutdown, TcpListener};
    use std::rc::Rc;
    use std::thread;
    use tempfile::TempDir;

    /// A one-connection blocking stand-in for the reactor, serving a `FilesSession`. It
    /// closes as the reactor does: flush, shut down writing, drain the peer for a while.
    /// The thread returns how many bytes it read.
    fn serve_one(config: FilesConfig) -> (String, thread::JoinHandle<usize>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let server = thread::spawn(move || {
            let (mut sock, _) = listener.accept().unwrap();
            let mut h = Harness::new(FilesSession::new(Rc::new(config)));
            let (mut buf, mut total) = (vec![0u8; 64 * 1024], 0);
            loop {
                let n = sock.read(&mut buf).unwrap_or(0);
                total += n;
                let flow = if n == 0 {
                    h.eof(b"")
                } else {
                    h.input(&buf[..n]).flow
                };
                sock.write_all(&h.take_output()).unwrap();
                if flow != Flow::Continue {
                    break;
                }
            }
            h.close();
            let _ = sock.shutdown(Shutdown::Write);
            sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            while let Ok(n @ 1..) = sock.read(&mut buf) {
                total += n;
            }
            total
        });
        (addr, server)
    }

    fn quiet() -> SendOptions {
        SendOptions {
            progress: false,
            ..SendOptions::default()
        }
    }

    fn local_file(dir: &TempDir, name: &str, data: &[u8]) -> std::path::PathBuf {
        let path = dir.path().join(name);
        std::fs::write(&path, data).unwrap();
        path
    }

    #[test]
    fn sends_a_multi_frame_file() {
        let (src, dst) = (TempDir::new().unwrap(), TempDir::new().unwrap());
        let data: Vec<u8> = (0..10_000u32).map(|i| (i % 253) as u8).collect();
        let path = local_file(&src, "data.bin", &data);
        let (addr, server) = serve_one(FilesConfig::new(dst.path()));
        let opts = SendOptions {
            chunk_size: 1000,
            ..quiet()
        };
        let report = send_file(&path, &addr, &opts).unwrap();
        server.join().unwrap();
        assert_eq!(report.name, "data.bin");
        assert_eq!(report.size, 10_000);
        assert_eq!(report.sha256, <[u8; 32]>::from(Sha256::digest(&data)));
        assert_eq!(std::fs::read(dst.path().join("data.bin")).unwrap(), data);
    }

    #[test]
    fn sends_an_empty_file_under_another_name() {
        let (src, dst) = (TempDir::new().unwrap(), TempDir::new().unwrap());
        let path = local_file(&src, "empty", b"");
        let (addr, server) = serve_one(FilesConfig::new(dst.path()));
        let opts = SendOptions {
            name: Some("renamed".into()),
            ..quiet()
        };
        let report = send_file(&path, &addr, &opts).unwrap();
        server.join().unwrap();
        assert_eq!((report.name.as_str(), report.size), ("renamed", 0));
        assert!(dst.path().join("renamed").is_file());
    }

    #[test]
    fn a_refusal_stops_the_upload_and_carries_the_reason() {
        let (src, dst) = (TempDir::new().unwrap(), TempDir::new().unwrap());
        std::fs::write(dst.path().join("big"), b"keep me").unwrap();
        // Large enough that the refusal arrives while data is still being sent: what the
        // client sends before it reads the refusal depends on scheduling (socket buffers of a
        // few MiB fill before it looks), so the bound is half the file, not a tight figure.
        let path = local_file(&src, "big", &vec![9u8; 64 << 20]);
        let (addr, server) = serve_one(FilesConfig::new(dst.path()));
        let err = send_file(&path, &addr, &quiet()).unwrap_err();
        let server_read = server.join().unwrap();
        assert!(
            matches!(&err, SendError::Refused(r) if r == "exists"),
            "{err}"
        );
        assert!(
            server_read < 32 << 20,
            "the client kept sending: {server_read}"
        );
        assert_eq!(std::fs::read(dst.path().join("big")).unwrap(), b"keep me");
    }

    #[test]
    fn a_servers_text_reaches_the_terminal_with_its_controls_escaped() {
        let hostile = "ERR \x1b]0;pwned\x07\x1b[2J\u{9b}31m\u{202e}gpj.exe\u{2066}\\ \x7f\0 é ok";
        let shown = escape_controls(hostile);
        assert_eq!(
            shown,
            "ERR \\x1B]0;pwned\\x07\\x1B[2J\\xC2\\x9B31m\\xE2\\x80\\xAEgpj.exe\\xE2\\x81\\xA6\\x5C \
             \\x7F\\x00 é ok"
        );
        assert!(shown.chars().all(|c| !c.is_control()));
        let err = refusal(hostile.as_bytes().to_vec());
        assert!(!err.to_string().contains('\x1b'), "{err}");
        let err = refusal(b"\x1b[2J not a reply".to_vec());
        assert!(!err.to_string().contains('\x1b'), "{err}");
    }

    #[test]
    fn a_bad_name_is_refused_before_connecting() {
        let src = TempDir::new().unwrap();
        let path = local_file(&src, "f", b"x");
        let opts = SendOptions {
            name: Some("../f".into()),
            ..quiet()
        };
        // Nothing listens on port 1: the error must come before any connection attempt.
        let err = send_file(&path, "127.0.0.1:1", &opts).unwrap_err();
        assert!(matches!(err, SendError::BadName(_)), "{err}");
    }

    #[test]
    fn report_rate_is_in_megabytes_per_second() {
        let report = SendReport {
            name: "f".into(),
            size: 3_000_000,
            sha256: [0; 32],
            elapsed: Duration::from_secs(2),
        };
        assert!((report.mb_per_sec() - 1.5).abs() < 1e-9);
    }
}

//! One request/response exchange, and the [`Reply`] handlers answer it through.
//!
//! Whatever a handler writes goes through a [`Reply`], so the rules that hold for *every*
//! response live here once: `HEAD` gets the head without the body; an error answer closes the
//! connection; a client waiting on `Expect: 100-continue` gets `100 Continue` only from a
//! handler that wants its body, and a final answer sent while it still waits closes the
//! connection (the body may or may not come, so the stream can no longer be trusted).
//!
//! An [`Exchange`] outlives the request head when the answer is deferred (a body to read, a
//! file to stream); it keeps what the end of the exchange needs: the connection's fate, the
//! status and byte count for the access log.
//!
//! A handler answers in one of four ways ([`Handled`]): at once, by streaming a file through
//! `on_drain`, after reading the request body into a [`BodySink`], or once the reactor has
//! answered a question (`/connections`). Both types live here,
//! below the handlers, so that handlers and the session meet in this file without importing
//! each other or `routes.rs`.

use std::time::Instant;

use crate::session::Ctx;

use super::Shared;
use super::request::{Expect, Method, Persist, RequestHead};
use super::response::{ResponseHead, write_continue};
use super::status::Status;
use super::stream::FileStream;
use super::upgrade::Upgrade;

/// How a handler answered.
#[derive(Debug)]
pub(crate) enum Handled {
    /// The whole answer is in the output buffer.
    Answered,
    /// The head is written; the body follows from this file, a slice at a time.
    Streaming(FileStream),
    /// The answer waits for the request body, which goes into this sink.
    AwaitBody(Box<dyn BodySink>),
    /// The head is written and another protocol takes the connection over (see `upgrade.rs`).
    Upgrade(Upgrade),
    /// Nothing is written yet: the answer waits for the reactor's table of connections
    /// (`GET /connections`, see `connections.rs`).
    Inspecting,
}

/// A handler that takes the request body, and answers once it is complete: `POST /echo`
/// sends it back, `PUT /files/NAME` stores it.
///
/// A trait rather than an enum of the handlers' types, so that this layer does not import
/// the handlers above it. Dropping a sink before [`BodySink::finish`] abandons the body (a
/// partial upload is discarded).
pub(crate) trait BodySink: std::fmt::Debug {
    /// The largest body this handler takes, given the service's `max_body`: a larger one is
    /// 413. Most take what the service allows; one that holds the body in memory takes less.
    fn max_body(&self, max_body: u64) -> u64 {
        max_body
    }

    /// Takes body bytes as they are decoded. An error is the server's (a disk that fails),
    /// answered 500.
    fn write(&mut self, data: &[u8], reply: &mut Reply<'_, '_>) -> std::io::Result<()>;

    /// The body is complete: answer.
    fn finish(self: Box<Self>, reply: &mut Reply<'_, '_>);

    /// Body bytes the handler keeps in memory until the body ends (for the memory budget).
    /// Most stream them through or to disk: none.
    fn held(&self) -> usize {
        0
    }
}

/// Whether the request's body is still to come, and on what terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PendingBody {
    /// No body, or the client sends it without waiting.
    Unconditional,
    /// The client waits for `100 Continue` before sending a body.
    AwaitsContinue,
}

/// What the access log needs that the head will no longer hold. Only made when logging is on.
#[derive(Debug)]
pub(super) struct LogEntry {
    method: String,
    target: String,
}

/// The state of one request/response exchange.
#[derive(Debug)]
pub(crate) struct Exchange {
    /// The request method (`HEAD` answers carry no body).
    pub method: Method,
    /// What happens to the connection after the answer.
    pub persist: Persist,
    /// Whether the client waits before sending its body.
    pub pending_body: PendingBody,
    /// The last final status written, for the log.
    pub status: Option<Status>,
    /// Bytes written for this exchange so far.
    pub bytes: u64,
    /// A file body is handed back to the caller ([`Handled::Streaming`]) rather than
    /// started at once: HTTP/2 sends it in DATA frames (see `multiplexed.rs`).
    pub defer_files: bool,
    /// When the request's first byte arrived (the loop's clock of that batch).
    started: Instant,
    log: Option<Box<LogEntry>>,
}

impl Exchange {
    /// An exchange for a parsed request whose head started arriving at `started`.
    #[inline]
    pub(crate) fn new(head: &RequestHead<'_, '_>, started: Instant, logging: bool) -> Exchange {
        let pending_body = match head.expect {
            Expect::Continue if head.framing.has_body() => PendingBody::AwaitsContinue,
            _ => PendingBody::Unconditional,
        };
        Exchange {
            method: head.method,
            persist: head.persist,
            pending_body,
            status: None,
            bytes: 0,
            defer_files: false,
            started,
            log: logging.then(|| {
                Box::new(LogEntry {
                    method: head.method_token.to_owned(),
                    target: head.uri.to_owned(),
                })
            }),
        }
    }

    /// An exchange for input that never became a request (a head refused before parsing).
    pub(crate) fn unparsed(started: Instant, logging: bool) -> Exchange {
        Exchange {
            method: Method::Unknown,
            persist: Persist::Close,
            pending_body: PendingBody::Unconditional,
            status: None,
            bytes: 0,
            defer_files: false,
            started,
            log: logging.then(|| {
                Box::new(LogEntry {
                    method: "-".to_owned(),
                    target: "-".to_owned(),
                })
            }),
        }
    }

    /// The exchange is over, its whole answer queued: counts its latency (from the first
    /// byte of the request to now, on the loop's clock, which is read once per batch of
    /// events, so an answer written in the batch its request completed in counts what the
    /// request waited for its later bytes, or nothing), and writes the access-log line if
    /// logging is on (timed with a clock read of its own, for the microseconds).
    #[inline]
    pub(crate) fn finish(mut self, cx: &Ctx<'_>) {
        let now = cx.now();
        if now == self.started {
            // Most answers of a pipelined batch end in the batch their request began, read
            // with the same cached clock: nothing to subtract, and the first bucket.
            cx.stats().record_instant_request();
        } else {
            cx.stats()
                .record_request(now.saturating_duration_since(self.started));
        }
        if let Some(entry) = self.log.take() {
            self.write_log(&entry, cx);
        }
    }

    /// The access-log line (off the hot path: only when logging is on).
    #[cold]
    fn write_log(&self, entry: &LogEntry, cx: &Ctx<'_>) {
        let micros = Instant::now()
            .saturating_duration_since(self.started)
            .as_micros();
        log::info!(
            "{} \"{} {}\" {} {} {}us",
            cx.peer(),
            LogEscaped(entry.method.as_bytes()),
            LogEscaped(entry.target.as_bytes()),
            self.status.map_or(0, Status::code),
            self.bytes,
            micros
        );
    }
}

/// Bytes a client chose, written into a log line as nginx writes them (`escape=default`):
/// `"`, `\\`, control bytes and every byte above 0x7E as `\xHH`. A target cannot then close
/// the quotes and forge fields, nor reach the terminal of whoever reads the log with an
/// escape sequence, a C1 control (U+009B is CSI, two bytes in UTF-8: both escaped) or a
/// bidirectional override (U+202E). Written piecewise: nothing is allocated.
pub(super) struct LogEscaped<'a>(pub &'a [u8]);

impl std::fmt::Display for LogEscaped<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        const HEX: &[u8; 16] = b"0123456789ABCDEF";
        let needs_escape = |b: u8| !(0x20..=0x7E).contains(&b) || b == b'"' || b == b'\\';
        for run in self.0.split_inclusive(|&b| needs_escape(b)) {
            let (plain, last) = match run.split_last() {
                Some((&last, plain)) if needs_escape(last) => (plain, Some(last)),
                _ => (run, None),
            };
            // Only printable ASCII is left in `plain`: always UTF-8.
            f.write_str(std::str::from_utf8(plain).unwrap_or_default())?;
            if let Some(b) = last {
                let escaped = [
                    b'\\',
                    b'x',
                    HEX[usize::from(b >> 4)],
                    HEX[usize::from(b & 0xF)],
                ];
                f.write_str(std::str::from_utf8(&escaped).unwrap_or_default())?;
            }
        }
        Ok(())
    }
}

/// The context a handler answers through.
pub(crate) struct Reply<'r, 'c> {
    /// The reactor's context: output buffer, clock, counters.
    pub cx: &'r mut Ctx<'c>,
    /// Service-wide configuration and caches.
    pub shared: &'r Shared,
    /// The exchange being answered.
    pub exchange: &'r mut Exchange,
}

impl<'c> Reply<'_, 'c> {
    /// Starts a final response head. Ends the head with the length of the body that a `GET`
    /// would carry; whether the body follows is [`Reply::wants_body_bytes`].
    pub(crate) fn start(&mut self, status: Status) -> ResponseHead<'_> {
        let persist = self.final_persist(status);
        let now = self.cx.now();
        ResponseHead::start(self.cx.out(), &self.shared.parts, now, status, persist)
    }

    /// Records `status` as the answer and settles the connection's fate: a client still
    /// waiting to send its body makes the stream unreadable, so that connection closes.
    pub(crate) fn final_persist(&mut self, status: Status) -> Persist {
        // A client still waiting to send its body makes the stream unreadable; a server that
        // is draining closes kept-alive connections so balancers stop reusing them.
        if self.exchange.pending_body == PendingBody::AwaitsContinue
            || self.cx.stats().is_draining()
        {
            self.exchange.persist = Persist::Close;
        }
        self.exchange.status = Some(status);
        self.exchange.persist
    }

    /// Whether body bytes follow the head (not for `HEAD`).
    pub(crate) fn wants_body_bytes(&self) -> bool {
        self.exchange.method != Method::Head
    }

    /// A complete response with an in-memory body.
    pub(crate) fn send(&mut self, status: Status, content_type: &[u8], body: &[u8]) {
        let with_body = self.wants_body_bytes();
        let mut out = self
            .start(status)
            .header("Content-Type", content_type)
            .end(body.len() as u64);
        if with_body {
            out.extend_from_slice(body);
        }
    }

    /// An error answer: a one-line text body, then the connection closes.
    pub(crate) fn fail(&mut self, status: Status) {
        self.exchange.persist = Persist::Close;
        self.refuse(status);
    }

    /// A refusal the connection survives (404, 405, ...): a one-line text body.
    pub(crate) fn refuse(&mut self, status: Status) {
        self.refuse_with(status, None);
    }

    /// A refusal with one extra field (`Allow` for 405, `WWW-Authenticate` for 401, ...).
    pub(crate) fn refuse_with(&mut self, status: Status, field: Option<(&str, &[u8])>) {
        let mut buf = [0u8; 64];
        let len = error_body(status, &mut buf);
        let body = buf.get(..len).unwrap_or_default();
        let with_body = self.wants_body_bytes();
        let mut head = self.start(status).header("Content-Type", b"text/plain");
        if let Some((name, value)) = field {
            head = head.header(name, value);
        }
        let mut out = head.end(body.len() as u64);
        if with_body {
            out.extend_from_slice(body);
        }
    }

    /// The handler will read the body: a client waiting for permission gets `100 Continue`.
    pub(crate) fn accept_body(&mut self) {
        if self.exchange.pending_body == PendingBody::AwaitsContinue {
            self.exchange.pending_body = PendingBody::Unconditional;
            write_continue(&mut self.cx.out(), &self.shared.parts);
        }
    }
}

/// `"404 Not Found\n"` into `buf`; returns its length.
fn error_body(status: Status, buf: &mut [u8; 64]) -> usize {
    let mut digits = itoa::Buffer::new();
    let parts: [&[u8]; 4] = [
        digits.format(status.code()).as_bytes(),
        b" ",
        status.reason(),
        b"\n",
    ];
    let mut len = 0;
    for part in parts {
        for &b in part {
            if let Some(slot) = buf.get_mut(len) {
                *slot = b;
                len += 1;
            }
        }
    }
    len
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_fields_are_escaped_as_nginx_does() {
        let cases: [(&[u8], &str); 6] = [
            (b"/plain?a=1&b=~", "/plain?a=1&b=~"),
            (b"/\"x\" 200 1 1us \\", "/\\x22x\\x22 200 1 1us \\x5C"),
            (b"/\x1b[2J\r\n\x7f", "/\\x1B[2J\\x0D\\x0A\\x7F"),
            ("/\u{9b}2J".as_bytes(), "/\\xC2\\x9B2J"),
            ("/\u{202e}gnp.exe".as_bytes(), "/\\xE2\\x80\\xAEgnp.exe"),
            (b"", ""),
        ];
        for (raw, logged) in cases {
            assert_eq!(LogEscaped(raw).to_string(), logged, "{raw:?}");
        }
        for b in 0..=255u8 {
            let out = LogEscaped(&[b]).to_string();
            assert!(
                out.bytes().all(|c| (0x20..0x7F).contains(&c)),
                "{b:#x}: {out}"
            );
        }
    }
}

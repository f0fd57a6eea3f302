//! Response heads, written straight into the connection's output buffer.
//!
//! A response head is a status line and a handful of fields, all appended to the `Vec` the
//! reactor will write from: numbers go through `itoa` on the stack, the status line is a static
//! string ([`Status::line`]), and the `Date` value comes from a [`DateCache`] that formats the
//! clock at most once per second. Writing a head therefore never allocates (beyond the output
//! buffer growing, which the reactor amortises across the connection's life).
//!
//! [`ResponseHead`] also enforces the rules every response here follows: `Date`, `Server` and
//! `X-Content-Type-Options: nosniff` always (a browser must not guess a script out of a text
//! file someone uploaded); `Content-Length` always, except where RFC 9110 forbids it (1xx, 204) or where we
//! choose to omit it (304); and the `Connection` field that matches what will happen next.

use std::cell::Cell;

use crate::session::{Append, Output};
use std::io::Write as _;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use httpdate::HttpDate;

use super::request::Persist;
use super::status::Status;
use crate::stats::Counter;

/// Length of an IMF-fixdate: `Sun, 06 Nov 1994 08:49:37 GMT`.
pub(crate) const DATE_LEN: usize = 29;

/// The `Date` header value, re-formatted only when the second changes.
///
/// Wall-clock time is derived from the reactor's cached monotonic clock (`cx.now()`) and a
/// wall-clock anchor taken when the cache was made, so a test whose clock stands still sees one
/// `Date`. Each formatting also notes the instant its second ends, so every other call is one
/// comparison of instants: no clock arithmetic per response.
#[derive(Debug)]
pub(crate) struct DateCache {
    anchor: Instant,
    anchor_wall: SystemTime,
    /// The text is good until this instant (the next second boundary).
    fresh_until: Cell<Instant>,
    text: Cell<[u8; DATE_LEN]>,
    /// How many times the text has been formatted: a holder of a copy (a canned answer)
    /// knows its copy is stale when this moves, without comparing text.
    generation: Cell<u64>,
}

impl DateCache {
    /// A cache anchored at `now`, which corresponds to the current wall-clock time.
    pub(crate) fn new(now: Instant) -> DateCache {
        let cache = DateCache {
            anchor: now,
            anchor_wall: SystemTime::now(),
            fresh_until: Cell::new(now),
            text: Cell::new([b' '; DATE_LEN]),
            generation: Cell::new(0),
        };
        cache.get(now);
        cache
    }

    /// The date at `now`, formatted.
    #[inline]
    pub(crate) fn get(&self, now: Instant) -> [u8; DATE_LEN] {
        if now >= self.fresh_until.get() {
            self.refresh(now);
        }
        self.text.get()
    }

    /// The generation of the date at `now` (see the field): it moves once a second.
    #[inline]
    pub(crate) fn generation(&self, now: Instant) -> u64 {
        if now >= self.fresh_until.get() {
            self.refresh(now);
        }
        self.generation.get()
    }

    #[cold]
    fn refresh(&self, now: Instant) {
        let wall = self.anchor_wall + now.saturating_duration_since(self.anchor);
        let mut text = [b' '; DATE_LEN];
        // An IMF-fixdate is always exactly DATE_LEN bytes, so this write cannot fall short.
        let _ = write!(&mut text[..], "{}", HttpDate::from(wall));
        self.text.set(text);
        self.generation.set(self.generation.get().wrapping_add(1));
        let into_second = wall
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let rest = Duration::from_nanos(u64::from(1_000_000_000 - into_second));
        self.fresh_until.set(now + rest);
    }
}

/// Responses sent, by status class (1xx to 5xx), by one worker's service.
///
/// Single-writer counters (see [`Counter`]): the worker bumps them, and `/stats` on any worker
/// of the same server reads them to report the server's totals.
#[derive(Debug, Default)]
pub(crate) struct StatusCounts([Counter; 5]);

impl StatusCounts {
    /// Counts one response.
    #[inline]
    pub(crate) fn record(&self, status: Status) {
        if let Some(counter) = self.0.get(status.class_index()) {
            counter.incr();
        }
    }

    /// The counts, 1xx first.
    pub(crate) fn get(&self) -> [u64; 5] {
        [0, 1, 2, 3, 4].map(|i| self.0[i].get())
    }
}

/// What every response head needs from the service: the clock cache, the `Server` field and
/// the counters.
#[derive(Debug)]
pub(crate) struct HeadParts {
    /// The `Date` cache.
    pub date: DateCache,
    /// `Server: <name>\r\n` and the other fields every response carries, ready to copy.
    pub server_line: Vec<u8>,
    /// Responses by class (shared with the server's group, for `/stats`).
    pub counts: Arc<StatusCounts>,
}

impl HeadParts {
    /// Parts for a server called `server_name` (control characters are dropped, so the name
    /// cannot inject fields), anchored at `now`.
    pub(crate) fn new(server_name: &str, now: Instant) -> HeadParts {
        let mut server_line = b"Server: ".to_vec();
        server_line.extend(server_name.bytes().filter(|b| (b' '..=b'~').contains(b)));
        server_line.extend_from_slice(b"\r\nX-Content-Type-Options: nosniff\r\n");
        HeadParts {
            date: DateCache::new(now),
            server_line,
            counts: Arc::default(),
        }
    }
}

/// A response head being appended to an output buffer.
///
/// Start it with the status, add fields, and [`end`](ResponseHead::end) it with the body
/// length and the connection's fate; the body, if any, is then appended by the caller.
#[must_use = "a response head must be ended"]
pub(crate) struct ResponseHead<'o> {
    out: Output<'o>,
    status: Status,
    persist: Persist,
}

impl<'o> ResponseHead<'o> {
    /// Writes the status line, `Date` and `Server`, and counts the response. `persist` says
    /// what will become of the connection, for the `Connection` field.
    pub(crate) fn start(
        mut out: Output<'o>,
        parts: &HeadParts,
        now: Instant,
        status: Status,
        persist: Persist,
    ) -> Self {
        parts.counts.record(status);
        out.extend_from_slice(status.line());
        out.extend_from_slice(b"Date: ");
        out.extend_from_slice(&parts.date.get(now));
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(&parts.server_line);
        ResponseHead {
            out,
            status,
            persist,
        }
    }

    /// Adds a field. The value must come from us or have been checked: it is copied as is.
    pub(crate) fn header(mut self, name: &str, value: &[u8]) -> Self {
        self.out.extend_from_slice(name.as_bytes());
        self.out.extend_from_slice(b": ");
        self.out.extend_from_slice(value);
        self.out.extend_from_slice(b"\r\n");
        self
    }

    /// Adds a field with a decimal value.
    pub(crate) fn number(self, name: &str, n: u64) -> Self {
        let mut digits = itoa::Buffer::new();
        let value = digits.format(n).as_bytes();
        self.header(name, value)
    }

    /// Adds `Content-Length` (unless the status forbids it), the `Connection` field, and the
    /// blank line. Returns the output buffer, for the body.
    pub(crate) fn end(self, content_length: u64) -> Output<'o> {
        let (status, persist) = (self.status, self.persist);
        let mut this = if status.is_bodiless() {
            self
        } else {
            self.number("Content-Length", content_length)
        };
        this.out.extend_from_slice(connection_field(persist));
        this.out.extend_from_slice(b"\r\n");
        this.out
    }

    /// Ends a head whose body no length frames: one that lasts until the connection closes
    /// (an event stream) or none because another protocol follows (101). Only the blank line
    /// is added; the caller has written the `Connection` field it needs.
    pub(crate) fn end_unframed(mut self) -> Output<'o> {
        self.out.extend_from_slice(b"\r\n");
        self.out
    }
}

/// The `Connection` field (CRLF included) that announces `persist`; empty for the HTTP/1.1
/// default.
pub(crate) fn connection_field(persist: Persist) -> &'static [u8] {
    match persist {
        Persist::KeepAlive => b"",
        Persist::KeepAliveAnnounced => b"Connection: keep-alive\r\n",
        Persist::Close => b"Connection: close\r\n",
    }
}

/// The interim response that tells a client waiting on `Expect: 100-continue` to send.
pub(crate) fn write_continue(out: &mut impl Append, parts: &HeadParts) {
    parts.counts.record(Status::Continue);
    out.append(b"HTTP/1.1 100 Continue\r\n\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn date_is_cached_within_a_second_and_advances_after() {
        let t0 = Instant::now();
        let cache = DateCache::new(t0);
        let first = cache.get(t0);
        assert!(httpdate::parse_http_date(std::str::from_utf8(&first).unwrap()).is_ok());
        assert_ne!(cache.get(t0 + Duration::from_secs(2)), first);
        // A clock from before the anchor is clamped rather than panicking.
        let _ = cache.get(t0.checked_sub(Duration::from_secs(5)).unwrap_or(t0));
    }

    #[test]
    fn the_cached_date_is_always_the_date_of_that_instant() {
        let t0 = Instant::now();
        let cache = DateCache::new(t0);
        // Steps of 7 ms over 3 s cross several second boundaries at varied offsets.
        for ms in (0..3000).step_by(7) {
            let now = t0 + Duration::from_millis(ms);
            let wall = cache.anchor_wall + (now - t0);
            let mut want = [b' '; DATE_LEN];
            let _ = write!(&mut want[..], "{}", HttpDate::from(wall));
            assert_eq!(cache.get(now), want, "{ms} ms after the anchor");
        }
    }

    #[test]
    fn head_carries_date_server_length_and_connection() {
        let now = Instant::now();
        let parts = HeadParts::new("evserve\r\nX-Evil: 1", now);
        let mut out = Vec::new();
        ResponseHead::start(
            Output::new(&mut out),
            &parts,
            now,
            Status::Ok,
            Persist::Close,
        )
        .header("Content-Type", b"text/plain")
        .end(13);
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with("HTTP/1.1 200 OK\r\nDate: "));
        assert!(
            text.contains("\r\nServer: evserveX-Evil: 1\r\nX-Content-Type-Options: nosniff\r\n")
        );
        assert!(text.ends_with(
            "Content-Type: text/plain\r\nContent-Length: 13\r\nConnection: close\r\n\r\n"
        ));
        assert_eq!(parts.counts.get(), [0, 1, 0, 0, 0]);
    }

    #[test]
    fn bodiless_statuses_carry_no_length() {
        let now = Instant::now();
        let parts = HeadParts::new("s", now);
        for status in [Status::NoContent, Status::NotModified] {
            let mut out = Vec::new();
            ResponseHead::start(
                Output::new(&mut out),
                &parts,
                now,
                status,
                Persist::KeepAliveAnnounced,
            )
            .end(0);
            let text = String::from_utf8(out).unwrap();
            assert!(!text.contains("Content-Length"), "{text}");
            assert!(text.ends_with("Connection: keep-alive\r\n\r\n"));
        }
    }
}

//! `/dashboard`: a page that watches the loop live, and `/events`, the stream that feeds it.
//!
//! ```text
//!  browser                         server (one reactor thread)
//!  GET /dashboard ───────────────► page(): HTML+CSS+JS compiled into the binary
//!  EventSource("/events") ───────► events(): 200 text/event-stream, then EventStream takes
//!                                  the connection over (upgrade.rs) and, once a second
//!        ◄── retry: 2000            (its session deadline, on_timeout), appends
//!        ◄── data: {...}            "data: <the /stats document>\n\n"
//!        ◄── : keep-alive           (every 15 s: a comment, for proxies that drop idle streams)
//! ```
//!
//! Over HTTP/2 the same `EventStream` takes one stream over instead of the connection
//! (`multiplexed.rs`): its output is that stream's buffer and its deadline the stream's own
//! timer, so the rules below hold per stream.
//!
//! The page computes rates by subtracting successive snapshots, so the server keeps no
//! history and sends the same document as `/stats`. It is written without a framework or a
//! CDN (it must work with no network), and draws its two charts on a `<canvas>`.
//!
//! A stalled client must not cost memory: before each tick the stream looks at its pending
//! output, and if the last snapshots are still unsent (over `MAX_PENDING`) it skips the
//! tick (`sse_skipped`): the client gets the latest state when it reads again, never a
//! backlog. A client that reads nothing at all is closed by the reactor's idle timeout, as
//! nothing is written to it. Each stream so holds at most about `MAX_PENDING` plus one
//! snapshot (~2 KiB) of output, whatever the number of clients.

use std::sync::OnceLock;
use std::time::Duration;

use base64::Engine as _;
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::ServerStats;
use super::endpoints::snapshot;
use super::exchange::Handled;
use super::exchange::Reply;
use super::request::Persist;
use super::status::Status;
use super::upgrade::Upgrade;
use crate::protocol::ws::WsConfig;
use crate::session::{Ctx, Flow, Session, Step};

/// What the dashboard and the WebSocket endpoints may do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrowserConfig {
    /// Whether `/dashboard`, `/events`, `/ws/chat` and `/ws/echo` exist (otherwise 404).
    /// Default `true`.
    pub dashboard: bool,
    /// Origins, besides the server's own, whose pages may open a WebSocket (`*`: any).
    pub ws_allow_origin: Vec<String>,
    /// Limits of WebSocket sessions.
    pub ws: WsConfig,
}

impl Default for BrowserConfig {
    fn default() -> BrowserConfig {
        BrowserConfig {
            dashboard: true,
            ws_allow_origin: Vec::new(),
            ws: WsConfig::default(),
        }
    }
}

/// Output an event stream may have unsent before it skips a tick.
pub(crate) const MAX_PENDING: usize = 8 * 1024;

/// Time between snapshots.
pub(crate) const TICK: Duration = Duration::from_secs(1);

/// Time from the first snapshot to the second: soon, since the page's rates are differences
/// of two snapshots and it would otherwise show none for a whole tick.
pub(crate) const FIRST_TICK: Duration = Duration::from_millis(250);

/// Ticks between keep-alive comments.
const HEARTBEAT_TICKS: u64 = 15;

/// How long the browser waits before reconnecting a dropped stream, in milliseconds.
const RETRY_MS: &str = "2000";

const STYLE: &str = include_str!("dashboard/dashboard.css");
const SCRIPT: &str = include_str!("dashboard/dashboard.js");
const BODY: &str = include_str!("dashboard/index.html");

/// The page, assembled once: its style and script are inline (one request, nothing to
/// fetch), and allowed by their hashes in the `Content-Security-Policy`, so that nothing
/// else could run even if some text on the page were ever taken for markup.
struct Page {
    html: String,
    csp: String,
}

fn page_parts() -> &'static Page {
    static PAGE: OnceLock<Page> = OnceLock::new();
    PAGE.get_or_init(|| {
        let hash = |text: &str| {
            base64::engine::general_purpose::STANDARD.encode(Sha256::digest(text.as_bytes()))
        };
        Page {
            html: format!(
                "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
                 <meta name=\"viewport\" content=\"width=device-width\">\
                 <title>evserve dashboard</title><style>{STYLE}</style></head>\n<body>\n{BODY}\
                 <script>{SCRIPT}</script></body></html>\n"
            ),
            csp: format!(
                "default-src 'none'; script-src 'sha256-{}'; style-src 'sha256-{}'; \
                 connect-src 'self'; base-uri 'none'; form-action 'none'; \
                 frame-ancestors 'none'",
                hash(SCRIPT),
                hash(STYLE)
            ),
        }
    })
}

/// `GET /dashboard`: the page.
pub(crate) fn page(reply: &mut Reply<'_, '_>) -> Handled {
    let page = page_parts();
    let with_body = reply.wants_body_bytes();
    let mut out = reply
        .start(Status::Ok)
        .header("Content-Type", b"text/html; charset=utf-8")
        .header("Cache-Control", b"no-store")
        .header("Content-Security-Policy", page.csp.as_bytes())
        // No other site may frame the page (clickjacking): `frame-ancestors` above, and
        // this for browsers that predate it.
        .header("X-Frame-Options", b"DENY")
        .end(page.html.len() as u64);
    if with_body {
        out.extend_from_slice(page.html.as_bytes());
    }
    Handled::Answered
}

/// `GET /events`: the head of an endless `text/event-stream`, then an [`EventStream`].
pub(crate) fn events(reply: &mut Reply<'_, '_>) -> Handled {
    // The stream ends only when the connection does: say so, and read no request after it.
    reply.exchange.persist = Persist::Close;
    reply
        .start(Status::Ok)
        .header("Content-Type", b"text/event-stream")
        .header("Cache-Control", b"no-store")
        .header("X-Accel-Buffering", b"no")
        .header("Connection", b"close")
        .end_unframed();
    if !reply.wants_body_bytes() {
        return Handled::Answered;
    }
    let server = reply.shared.server.clone();
    Handled::Upgrade(Upgrade(Box::new(EventStream::new(server))))
}

/// One `/events` connection after its head: a snapshot per tick, or none if it is behind.
#[derive(Debug)]
pub(crate) struct EventStream {
    server: ServerStats,
    ticks: u64,
    /// The event being formatted, reused.
    buf: Vec<u8>,
}

impl EventStream {
    /// A stream of the counters in `server`.
    pub(crate) fn new(server: ServerStats) -> EventStream {
        EventStream {
            server,
            ticks: 0,
            buf: Vec::new(),
        }
    }

    /// Appends `data: <snapshot>\n\n`.
    fn send_snapshot(&mut self, cx: &mut Ctx<'_>) {
        let mut map = snapshot(&self.server, cx.stats());
        let millis = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        map.insert("time_ms".to_owned(), Value::from(millis));
        self.buf.clear();
        self.buf.extend_from_slice(b"data: ");
        // Serialising a map of numbers cannot fail; if it ever did, the event is just empty.
        let _ = serde_json::to_writer(&mut self.buf, &Value::Object(map));
        self.buf.extend_from_slice(b"\n\n");
        cx.out().extend_from_slice(&self.buf);
        cx.stats().sse_sent.incr();
    }
}

impl Session for EventStream {
    fn on_open(&mut self, cx: &mut Ctx<'_>) -> Flow {
        cx.stats().sse_open.incr();
        cx.out().extend_from_slice(b"retry: ");
        cx.out().extend_from_slice(RETRY_MS.as_bytes());
        cx.out().extend_from_slice(b"\n\n");
        self.send_snapshot(cx);
        cx.set_deadline(cx.now().checked_add(FIRST_TICK));
        Flow::Continue
    }

    /// A client has nothing to say on an event stream: whatever it sends is dropped.
    fn on_input(&mut self, input: &[u8], _cx: &mut Ctx<'_>) -> Step {
        Step::consumed(input.len())
    }

    fn on_timeout(&mut self, cx: &mut Ctx<'_>) -> Flow {
        self.ticks += 1;
        if cx.pending_output() > MAX_PENDING {
            // Behind: drop this snapshot rather than queue it; the next one says it all.
            cx.stats().sse_skipped.incr();
        } else {
            self.send_snapshot(cx);
            if self.ticks.is_multiple_of(HEARTBEAT_TICKS) {
                cx.out().extend_from_slice(b": keep-alive\n\n");
            }
        }
        cx.set_deadline(cx.now().checked_add(TICK));
        Flow::Continue
    }

    fn on_close(&mut self, cx: &mut Ctx<'_>) {
        cx.stats().sse_open.sub(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::Watch;
    use crate::stats::Stats;
    use std::time::Instant;

    #[test]
    fn a_stream_sends_snapshots_and_skips_ticks_while_behind() {
        let stats = Stats::default();
        let (mut out, mut broadcast, mut watch) = (Vec::new(), Vec::new(), Watch::default());
        let peer = "127.0.0.1:1".parse().unwrap();
        let now = Instant::now();
        let mut stream = EventStream::new(ServerStats::default());
        {
            let mut cx = Ctx::new(&mut out, &mut broadcast, &mut watch, peer, now, &stats);
            assert_eq!(stream.on_open(&mut cx), Flow::Continue);
        }
        // The second snapshot comes soon, so the page has a rate a quarter second in.
        assert_eq!(watch.deadline, Some(now + FIRST_TICK));
        {
            let mut cx = Ctx::new(&mut out, &mut broadcast, &mut watch, peer, now, &stats);
            assert_eq!(stream.on_timeout(&mut cx), Flow::Continue);
        }
        let text = String::from_utf8(out.clone()).unwrap();
        assert!(text.starts_with("retry: 2000\n\ndata: {"), "{text}");
        assert_eq!(text.matches("data: ").count(), 2);
        assert_eq!(watch.deadline, Some(now + TICK));
        // Nothing read by the client: the output only grows up to the bound, then ticks skip.
        for _ in 0..100 {
            let mut cx = Ctx::new(&mut out, &mut broadcast, &mut watch, peer, now, &stats);
            stream.on_timeout(&mut cx);
        }
        assert!(
            out.len() <= MAX_PENDING + 4096,
            "{} bytes queued",
            out.len()
        );
        assert!(stats.sse_skipped.get() > 0);
        let first = text.split("\n\n").nth(1).unwrap();
        let json: Value = serde_json::from_str(first.strip_prefix("data: ").unwrap()).unwrap();
        assert!(json.get("polls").is_some() && json.get("time_ms").is_some());
    }

    #[test]
    fn the_page_is_whole_and_its_policy_names_its_script() {
        let page = page_parts();
        assert!(page.html.contains("<canvas") && page.html.contains("EventSource"));
        assert!(page.csp.contains("script-src 'sha256-"));
        assert!(!page.html.contains("http://") && !page.html.contains("https://"));
    }
}

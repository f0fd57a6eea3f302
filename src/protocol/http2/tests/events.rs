//! `/events` (Server-Sent Events) over HTTP/2: an unending answer on its own stream,
//! written each time the stream's own timer fires, held to the stream's window, and ended
//! by a reset, a graceful stop, or the client going away.

use std::time::Duration;

use super::*;
use crate::protocol::http::dashboard::{FIRST_TICK, MAX_PENDING, TICK};
use crate::protocol::http2::send::HIGH_WATER;

/// How many events a stretch of an event stream holds.
fn events(body: &[u8]) -> usize {
    String::from_utf8_lossy(body).matches("data: {").count()
}

/// A request for one of the browser routes, which answer only a name the server is known
/// by (else 421).
fn local(c: &mut Client, stream: u32, method: &str, path: &str) -> Vec<u8> {
    let fields = [
        (":method", method),
        (":scheme", "http"),
        (":path", path),
        (":authority", "localhost"),
    ];
    let mut block = Vec::new();
    c.encoder.encode(
        fields.iter().map(|(n, v)| (n.as_bytes(), v.as_bytes())),
        &mut block,
    );
    let mut bytes = Vec::new();
    frame::encode_headers(&mut bytes, stream, &block, true, 16_384);
    bytes
}

fn ended(out: &[Out], stream: u32) -> bool {
    out.iter().any(|f| f.stream == stream && f.end_stream())
}

#[test]
fn event_streams_tick_on_their_own_timers_beside_ordinary_requests() {
    let mut c = Client::connected(Http2Config::default());
    let start = c.h.now();
    let req = local(&mut c, 1, "GET", "/events");
    c.send(&req);
    let out = c.frames();
    let headers = of(&out, FrameType::Headers);
    assert_eq!(headers.len(), 1);
    assert_eq!(c.status(headers[0]), "200");
    assert!(!ended(&out, 1), "the stream stays open");
    let first = String::from_utf8(body(&out, 1)).unwrap();
    assert!(first.starts_with("retry: 2000\n\ndata: {"), "{first}");
    assert_eq!(
        c.h.deadline(),
        Some(start + FIRST_TICK),
        "the stream's timer"
    );

    // A second stream, opened later, and an ordinary request answered beside them.
    c.h.advance(Duration::from_millis(100));
    let mut bytes = local(&mut c, 3, "GET", "/events");
    bytes.extend(c.request(5, "GET", "/plain", true));
    c.send(&bytes);
    let out = c.frames();
    assert_eq!(events(&body(&out, 3)), 1);
    assert_eq!(body(&out, 5), b"Hello, World!");
    assert!(ended(&out, 5) && !ended(&out, 3));
    assert_eq!(c.h.stats().sse_open.get(), 2);
    assert_eq!(
        c.h.deadline(),
        Some(start + FIRST_TICK),
        "the earliest timer"
    );

    // Stream 1's timer: only stream 1 is due.
    c.h.advance(FIRST_TICK - Duration::from_millis(100));
    assert_eq!(c.h.timeout(), Flow::Continue);
    let out = c.frames();
    assert_eq!((events(&body(&out, 1)), events(&body(&out, 3))), (1, 0));
    let three = start + Duration::from_millis(100) + FIRST_TICK;
    assert_eq!(c.h.deadline(), Some(three), "now stream 3's");
    c.h.advance(three - c.h.now());
    assert_eq!(c.h.timeout(), Flow::Continue);
    let out = c.frames();
    assert_eq!((events(&body(&out, 1)), events(&body(&out, 3))), (0, 1));
    assert_eq!(c.h.deadline(), Some(start + FIRST_TICK + TICK));
    assert!(of(&out, FrameType::RstStream).is_empty() && of(&out, FrameType::GoAway).is_empty());

    // Another request, long after: still answered on the same connection.
    c.h.advance(TICK * 3);
    assert_eq!(c.h.timeout(), Flow::Continue);
    let req = c.request(7, "GET", "/small.txt", true);
    c.send(&req);
    let out = c.frames();
    assert_eq!(body(&out, 7), b"small file\n");
    assert!(events(&body(&out, 1)) >= 1 && events(&body(&out, 3)) >= 1);
}

#[test]
fn head_events_is_a_head_and_no_stream() {
    let mut c = Client::connected(Http2Config::default());
    let req = local(&mut c, 1, "HEAD", "/events");
    c.send(&req);
    let out = c.frames();
    let headers = of(&out, FrameType::Headers);
    assert_eq!(c.status(headers[0]), "200");
    assert!(headers[0].end_stream());
    assert_eq!(c.h.deadline(), None);
    assert_eq!(c.h.stats().sse_open.get(), 0);
}

#[test]
fn rst_stream_ends_an_event_stream_and_its_timer_and_nothing_else() {
    let mut c = Client::connected(Http2Config::default());
    let mut bytes = local(&mut c, 1, "GET", "/events");
    bytes.extend(local(&mut c, 3, "GET", "/events"));
    c.send(&bytes);
    c.frames();
    let mut rst = Vec::new();
    frame::encode_rst_stream(&mut rst, 1, ErrorCode::Cancel);
    assert_eq!(c.send(&rst), Flow::Continue);
    assert_eq!(c.h.stats().sse_open.get(), 1);
    assert_eq!(c.h.stats().http2_resets_by_peer.get(), 1);
    c.h.advance(FIRST_TICK);
    assert_eq!(c.h.timeout(), Flow::Continue);
    let out = c.frames();
    assert_eq!((body(&out, 1).len(), events(&body(&out, 3))), (0, 1));

    rst.clear();
    frame::encode_rst_stream(&mut rst, 3, ErrorCode::Cancel);
    c.send(&rst);
    assert_eq!(c.h.stats().sse_open.get(), 0);
    assert_eq!(
        c.h.deadline(),
        None,
        "no timer left: the idle timeout rules again"
    );
    let req = c.request(5, "GET", "/plain", true);
    c.send(&req);
    assert_eq!(body(&c.frames(), 5), b"Hello, World!");
}

#[test]
fn a_stream_without_window_skips_ticks_and_holds_a_bounded_backlog() {
    let mut c = Client::connected(Http2Config::default());
    let mut settings = Vec::new();
    frame::encode_settings(&mut settings, &[(SettingId::INITIAL_WINDOW_SIZE, 0)]);
    c.send(&settings);
    c.frames();
    let req = local(&mut c, 1, "GET", "/events");
    c.send(&req);
    let out = c.frames();
    assert_eq!(of(&out, FrameType::Headers).len(), 1);
    assert!(body(&out, 1).is_empty(), "no window: no DATA");
    for _ in 0..100 {
        c.h.advance(TICK);
        assert_eq!(c.h.timeout(), Flow::Continue);
    }
    assert!(body(&c.frames(), 1).is_empty());
    assert!(
        c.h.stats().sse_skipped.get() > 50,
        "ticks skipped past the bound"
    );
    // The window opens: what was kept comes out, no more than the bound and one event.
    let mut update = Vec::new();
    frame::encode_window_update(&mut update, 1, 1 << 30);
    c.send(&update);
    let kept = body(&c.frames(), 1);
    assert!(events(&kept) >= 2, "{}", String::from_utf8_lossy(&kept));
    assert!(
        kept.len() <= MAX_PENDING + 4096,
        "{} bytes kept",
        kept.len()
    );
    // From here on, a tick is an event again.
    c.h.advance(TICK);
    assert_eq!(c.h.timeout(), Flow::Continue);
    assert_eq!(events(&body(&c.frames(), 1)), 1);
}

#[test]
fn a_client_that_does_not_read_costs_a_bounded_output_per_event_stream() {
    let mut c = Client::connected(Http2Config::default());
    let mut bytes = Vec::new();
    for id in [1, 3, 5] {
        bytes.extend(local(&mut c, id, "GET", "/events"));
    }
    c.send(&bytes);
    // Nothing taken from the output from here on: the socket does not drain.
    for _ in 0..300 {
        c.h.advance(TICK);
        assert_eq!(c.h.timeout(), Flow::Continue);
    }
    let bound = HIGH_WATER + 16 * 1024 + 3 * (MAX_PENDING + 4096);
    assert!(c.h.output().len() <= bound, "{} bytes", c.h.output().len());
    assert!(c.h.stats().sse_skipped.get() > 0);
}

#[test]
fn a_graceful_stop_ends_event_streams_with_end_stream_then_the_connection() {
    let mut c = Client::connected(Http2Config::default());
    let mut bytes = local(&mut c, 1, "GET", "/events");
    bytes.extend(local(&mut c, 3, "GET", "/events"));
    c.send(&bytes);
    c.frames();
    c.h.shutdown();
    let out = c.frames();
    let goaway = of(&out, FrameType::GoAway);
    assert_eq!(goaway.len(), 1);
    assert_eq!(goaway[0].code(), ErrorCode::NoError);
    assert!(ended(&out, 1) && ended(&out, 3), "{out:?}");
    assert!(of(&out, FrameType::RstStream).is_empty());
    assert_eq!(c.h.stats().sse_open.get(), 0);
    assert_eq!(c.h.deadline(), None);
    assert_eq!(c.h.drain(), Flow::Close, "no stream left");
}

#[test]
fn the_clients_goaway_or_end_of_input_ends_its_event_streams() {
    let mut c = Client::connected(Http2Config::default());
    let req = local(&mut c, 1, "GET", "/events");
    c.send(&req);
    c.frames();
    let mut goaway = Vec::new();
    frame::encode_goaway(&mut goaway, 0, ErrorCode::NoError, b"");
    assert_eq!(c.send(&goaway), Flow::Close);
    assert!(ended(&c.frames(), 1));
    assert_eq!(c.h.stats().sse_open.get(), 0);

    let mut c = Client::connected(Http2Config::default());
    let req = local(&mut c, 1, "GET", "/events");
    c.send(&req);
    c.frames();
    assert_eq!(c.h.eof(b""), Flow::Close);
    assert!(ended(&c.frames(), 1));
    assert_eq!(c.h.stats().sse_open.get(), 0);
}

#[test]
fn the_idle_timeout_before_any_timer_is_due_still_ends_the_connection() {
    let mut c = Client::connected(Http2Config::default());
    let req = local(&mut c, 1, "GET", "/events");
    c.send(&req);
    c.frames();
    // Woken with no stream timer due: the reactor's idle timeout.
    assert_eq!(c.h.timeout(), Flow::Close);
    let out = c.frames();
    assert_eq!(of(&out, FrameType::GoAway).len(), 1);
    assert_eq!(c.h.stats().sse_open.get(), 0);
}

//! `GET /metrics`: the server's counters in the Prometheus text exposition format (0.0.4).
//!
//! The same numbers as `/stats`, summed over every worker, named as Prometheus asks: a
//! counter ends in `_total`, a gauge does not, a size ends in `_bytes`, every family has its
//! `# HELP` and `# TYPE` line. What `/stats` spells as a row of names becomes a label where it
//! is one quantity cut several ways (open connections by service, responses by class), and
//! the events-per-poll buckets become a real histogram (cumulative `le` buckets, `_sum`,
//! `_count`), so `histogram_quantile` works on it, as does the request latency
//! (`evserve_http_request_duration_seconds`, kept by every reactor but not in `/stats`).
//!
//! The table [`FAMILIES`] maps every counter of [`Stats::snapshot`] to its Prometheus name; a
//! test fails when a counter is added to `Stats` without a line here, so `/metrics` cannot
//! quietly fall behind `/stats`.

use std::fmt::Write as _;

use super::ServerStats;
use super::exchange::Reply;
use super::status::Status;
use crate::stats::{EVENT_BUCKETS, LATENCY_BOUNDS_US, LATENCY_BUCKETS, STATS_LEN, Stats};

/// The media type Prometheus scrapers ask for in text form.
pub(super) const CONTENT_TYPE: &[u8] = b"text/plain; version=0.0.4; charset=utf-8";

/// What kind of number a counter of `Stats` is, to Prometheus.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// Only ever goes up (`_total`).
    Counter,
    /// Goes up and down.
    Gauge,
}

/// One plain metric family: the `/stats` name it comes from, its Prometheus name, kind and
/// help text.
struct Family {
    stats: &'static str,
    name: &'static str,
    kind: Kind,
    help: &'static str,
}

const fn counter(stats: &'static str, name: &'static str, help: &'static str) -> Family {
    Family {
        stats,
        name,
        kind: Kind::Counter,
        help,
    }
}

const fn gauge(stats: &'static str, name: &'static str, help: &'static str) -> Family {
    Family {
        stats,
        name,
        kind: Kind::Gauge,
        help,
    }
}

/// Every counter of `Stats` that is exported as a family of its own. The `events_per_poll_*`
/// buckets are exported as one histogram (see [`render`]), so they are not listed here; nor
/// are the per-service gauges, which are not in the snapshot (`Stats::services`).
#[rustfmt::skip]
const FAMILIES: &[Family] = &[
    counter("accepted", "evserve_connections_accepted_total", "TCP connections accepted."),
    gauge("active", "evserve_connections_active", "TCP connections open now."),
    counter("rejected", "evserve_connections_rejected_total", "TCP connections refused at --max-connections."),
    counter("closed", "evserve_connections_closed_total", "TCP connections closed, for any reason."),
    counter("too_slow", "evserve_connections_too_slow_total", "Connections closed for moving fewer than --min-rate bytes a second while owing progress."),
    counter("evicted", "evserve_connections_evicted_total", "Connections closed at --max-connections to make room for a new one."),
    counter("proxy_refused", "evserve_connections_proxy_refused_total", "Connections refused unread on a --proxy-protocol listener: the peer is outside --proxy-from."),
    counter("bytes_in", "evserve_received_bytes_total", "Bytes read from TCP connections."),
    counter("bytes_out", "evserve_sent_bytes_total", "Bytes written to TCP connections."),
    gauge("buffered_out", "evserve_buffered_output_bytes", "Bytes waiting in connections' output buffers."),
    gauge("buffered_in", "evserve_buffered_input_bytes", "Bytes of partial messages held in connections' input buffers."),
    gauge("session_buffered", "evserve_session_buffered_bytes", "Bytes sessions hold in buffers of their own (WebSocket messages being assembled)."),
    counter("memory_waits", "evserve_memory_waits_total", "Times a connection was held back because all together held more than --max-memory."),
    counter("datagrams_in", "evserve_datagrams_received_total", "UDP datagrams received."),
    counter("datagrams_out", "evserve_datagrams_sent_total", "UDP datagrams sent."),
    counter("datagrams_dropped", "evserve_datagrams_dropped_total", "UDP replies dropped because the socket's queue was full."),
    counter("datagrams_truncated", "evserve_datagrams_truncated_total", "UDP datagrams dropped for being larger than --max-datagram."),
    counter("tls_handshakes_full", "evserve_tls_handshakes_full_total", "TLS handshakes completed in full (a new session)."),
    counter("tls_handshakes_resumed", "evserve_tls_handshakes_resumed_total", "TLS handshakes that resumed a session."),
    counter("tls_handshakes_failed", "evserve_tls_handshakes_failed_total", "TLS handshakes that failed."),
    counter("tls_version_1_2", "evserve_tls_version_1_2_total", "TLS handshakes completed with TLS 1.2."),
    counter("tls_version_1_3", "evserve_tls_version_1_3_total", "TLS handshakes completed with TLS 1.3."),
    counter("tls_cipher_aes_128_gcm", "evserve_tls_cipher_aes_128_gcm_total", "TLS handshakes that agreed on AES-128-GCM."),
    counter("tls_cipher_aes_256_gcm", "evserve_tls_cipher_aes_256_gcm_total", "TLS handshakes that agreed on AES-256-GCM."),
    counter("tls_cipher_chacha20_poly1305", "evserve_tls_cipher_chacha20_poly1305_total", "TLS handshakes that agreed on ChaCha20-Poly1305."),
    counter("reads", "evserve_reads_total", "read calls on TCP connections."),
    counter("reads_would_block", "evserve_reads_would_block_total", "read calls that found the socket already drained."),
    counter("writes", "evserve_writes_total", "write calls on TCP connections."),
    counter("short_writes", "evserve_short_writes_total", "write calls the socket did not take whole."),
    counter("sendfiles", "evserve_sendfiles_total", "sendfile calls: file bodies copied by the kernel."),
    counter("notices_dropped", "evserve_chat_notices_dropped_total", "Leave notices dropped in a mass disconnect."),
    counter("room_relays_dropped", "evserve_chat_relays_dropped_total", "Room messages not relayed to another worker (its inbox was full)."),
    counter("read_pauses", "evserve_read_pauses_total", "Times a connection stopped being read because its output passed --max-output."),
    counter("read_resumes", "evserve_read_resumes_total", "Times a paused connection was read again."),
    counter("deferred", "evserve_deferred_total", "Times a connection used up its budget and waited for the next loop turn."),
    gauge("timers", "evserve_timer_entries", "Entries in the timer heap (stale ones included): one per connection with a deadline, plus entries not yet popped."),
    counter("accept_wakeups", "evserve_accept_wakeups_total", "Times a listener woke the loop to accept."),
    counter("emfile_pauses", "evserve_emfile_pauses_total", "Times accepting paused because file descriptors ran out."),
    counter("chat_messages", "evserve_chat_messages_total", "Lines relayed by chat sessions (TCP and WebSocket)."),
    counter("ws_messages_in", "evserve_websocket_messages_received_total", "WebSocket data messages received."),
    counter("ws_messages_out", "evserve_websocket_messages_sent_total", "WebSocket data messages sent."),
    gauge("ws_open", "evserve_websocket_sessions", "WebSocket sessions open now."),
    counter("ws_message_timeouts", "evserve_websocket_message_timeouts_total", "WebSocket connections closed with 1008 because a message took longer than --ws-message-timeout."),
    gauge("sse_open", "evserve_event_streams", "Server-Sent Events streams open now."),
    counter("sse_sent", "evserve_event_stream_snapshots_sent_total", "Snapshots sent on Server-Sent Events streams."),
    counter("udp_loops_dropped", "evserve_udp_loops_dropped_total", "UDP echo datagrams ignored because they came from a port below 1024 or one of the server's own (echo loops)."),
    counter("files_unauthorized", "evserve_files_unauthorized_total", "Files connections refused for a missing or wrong --files-token."),
    counter("files_over_quota", "evserve_files_over_quota_total", "Files refused because they would pass --files-quota."),
    counter("http2_connections", "evserve_http2_connections_total", "HTTP/2 connections (h2c and h2) begun after the client's preface."),
    counter("http2_streams", "evserve_http2_streams_total", "HTTP/2 streams opened."),
    counter("http2_resets_by_peer", "evserve_http2_resets_by_peer_total", "HTTP/2 streams the client reset (RST_STREAM)."),
    counter("http2_resets_refused", "evserve_http2_resets_refused_total", "HTTP/2 streams refused over MAX_CONCURRENT_STREAMS (REFUSED_STREAM)."),
    counter("http2_resets_flow_control", "evserve_http2_resets_flow_control_total", "HTTP/2 streams reset for breaking flow control."),
    counter("http2_resets_protocol", "evserve_http2_resets_protocol_total", "HTTP/2 streams reset for another error of the client's."),
    counter("http2_goaways", "evserve_http2_goaways_total", "HTTP/2 GOAWAY frames sent."),
    counter("sse_skipped", "evserve_event_stream_snapshots_skipped_total", "Snapshots skipped because the client had not read the previous one."),
];

/// The histogram of events per `poll`, built from the `events_per_poll_*` buckets.
const POLL_EVENTS: &str = "evserve_poll_events";

/// The histogram of HTTP request latency, from `Stats::request_latency`.
const REQUEST_DURATION: &str = "evserve_http_request_duration_seconds";

/// Request latency summed over workers: the buckets (not cumulative) and the sum in µs.
type Latency = ([u64; LATENCY_BUCKETS], u64);

/// The per-service gauge built from `Stats::services`.
const SERVICE_ACTIVE: &str = "evserve_service_connections_active";

/// `GET /metrics`: every worker's counters, summed, in the Prometheus text format.
pub(super) fn metrics(reply: &mut Reply<'_, '_>) {
    let mut text = String::with_capacity(16 * 1024);
    render(&reply.shared.server, reply.cx.stats(), &mut text);
    reply.send(Status::Ok, CONTENT_TYPE, text.as_bytes());
}

/// Writes the exposition of `server`'s counters (or of `own`, the answering reactor's, when
/// the service runs on its own) into `out`.
pub(super) fn render(server: &ServerStats, own: &Stats, out: &mut String) {
    let reactors = server.reactors.members().len();
    let totals = if reactors == 0 {
        own.snapshot()
    } else {
        server.reactors.total()
    };
    let mut classes = [0u64; 5];
    for member in server.responses.members() {
        for (sum, n) in classes.iter_mut().zip(member.get()) {
            *sum += n;
        }
    }
    let draining = if reactors == 0 {
        own.is_draining()
    } else {
        server.reactors.members().iter().any(|s| s.is_draining())
    };
    let latency = if reactors == 0 {
        own.latency()
    } else {
        let mut total: Latency = ([0; LATENCY_BUCKETS], 0);
        for member in server.reactors.members() {
            let (buckets, sum) = member.latency();
            for (t, n) in total.0.iter_mut().zip(buckets) {
                *t += n;
            }
            total.1 += sum;
        }
        total
    };
    let services = if reactors == 0 {
        own.services.get()
    } else {
        server.reactors.services()
    };
    render_totals(
        &totals,
        classes,
        latency,
        &services,
        reactors.max(1),
        draining,
        out,
    );
}

/// The exposition of counters already summed: `totals` as `Stats::snapshot` orders them,
/// HTTP responses by class (1xx to 5xx), the number of workers and whether a graceful stop
/// has begun.
fn render_totals(
    totals: &[(&'static str, u64); STATS_LEN],
    classes: [u64; 5],
    latency: Latency,
    services: &[(&'static str, u64)],
    workers: usize,
    draining: bool,
    out: &mut String,
) {
    let get = |name: &str| totals.iter().find(|(n, _)| *n == name).map(|&(_, v)| v);
    for family in FAMILIES {
        let Some(value) = get(family.stats) else {
            continue;
        };
        let kind = match family.kind {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
        };
        let _ = writeln!(out, "# HELP {} {}", family.name, family.help);
        let _ = writeln!(out, "# TYPE {} {kind}", family.name);
        let _ = writeln!(out, "{} {value}", family.name);
    }

    // Bucket k of events_per_poll holds 2^(k-1) ..= 2^k - 1 events (bucket 0: none), so its
    // upper bound is 2^k - 1; Prometheus buckets are cumulative.
    let _ = writeln!(
        out,
        "# HELP {POLL_EVENTS} Readiness events returned by each poll of the event loop."
    );
    let _ = writeln!(out, "# TYPE {POLL_EVENTS} histogram");
    let mut cumulative = 0u64;
    let buckets = totals
        .iter()
        .filter(|(n, _)| n.starts_with("events_per_poll_"));
    for (k, &(_, n)) in buckets.enumerate() {
        cumulative += n;
        if k + 1 < EVENT_BUCKETS {
            let le = (1u64 << k) - 1;
            let _ = writeln!(out, "{POLL_EVENTS}_bucket{{le=\"{le}\"}} {cumulative}");
        }
    }
    let _ = writeln!(out, "{POLL_EVENTS}_bucket{{le=\"+Inf\"}} {cumulative}");
    let _ = writeln!(out, "{POLL_EVENTS}_sum {}", get("events").unwrap_or(0));
    let _ = writeln!(out, "{POLL_EVENTS}_count {}", get("polls").unwrap_or(0));

    let _ = writeln!(
        out,
        "# HELP {SERVICE_ACTIVE} TCP connections open now, by the service of their listener."
    );
    let _ = writeln!(out, "# TYPE {SERVICE_ACTIVE} gauge");
    for (service, value) in services {
        let _ = writeln!(out, "{SERVICE_ACTIVE}{{service=\"{service}\"}} {value}");
    }

    let responses = "evserve_http_responses_total";
    let _ = writeln!(
        out,
        "# HELP {responses} HTTP responses sent, by status class."
    );
    let _ = writeln!(out, "# TYPE {responses} counter");
    for (class, n) in ["1xx", "2xx", "3xx", "4xx", "5xx"].iter().zip(classes) {
        let _ = writeln!(out, "{responses}{{class=\"{class}\"}} {n}");
    }

    render_latency(latency, out);

    let _ = writeln!(out, "# HELP evserve_workers Event-loop threads serving.");
    let _ = writeln!(out, "# TYPE evserve_workers gauge");
    let _ = writeln!(out, "evserve_workers {workers}");
    let _ = writeln!(
        out,
        "# HELP evserve_draining 1 once a graceful stop has begun (health checks fail), else 0."
    );
    let _ = writeln!(out, "# TYPE evserve_draining gauge");
    let _ = writeln!(out, "evserve_draining {}", u8::from(draining));
}

/// The request-latency histogram: cumulative `le` buckets in seconds, `_sum`, `_count`.
fn render_latency((buckets, sum_us): Latency, out: &mut String) {
    let _ = writeln!(
        out,
        "# HELP {REQUEST_DURATION} HTTP/1.1 and HTTP/2 requests, from the first byte of the \
         request to its whole answer queued for the socket, on the event loop's clock (read \
         once per batch of events, so a request read and answered in one batch counts 0)."
    );
    let _ = writeln!(out, "# TYPE {REQUEST_DURATION} histogram");
    let mut cumulative = 0u64;
    for (k, n) in buckets.iter().enumerate() {
        cumulative += n;
        match LATENCY_BOUNDS_US.get(k) {
            Some(&bound) => {
                let le = Seconds(bound);
                let _ = writeln!(out, "{REQUEST_DURATION}_bucket{{le=\"{le}\"}} {cumulative}");
            }
            None => {
                let _ = writeln!(out, "{REQUEST_DURATION}_bucket{{le=\"+Inf\"}} {cumulative}");
            }
        }
    }
    let _ = writeln!(out, "{REQUEST_DURATION}_sum {}", Seconds(sum_us));
    let _ = writeln!(out, "{REQUEST_DURATION}_count {cumulative}");
}

/// Microseconds written as seconds, exactly (`2500` is `0.0025`, `1000000` is `1`).
struct Seconds(u64);

impl std::fmt::Display for Seconds {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (whole, micros) = (self.0 / 1_000_000, self.0 % 1_000_000);
        if micros == 0 {
            return write!(f, "{whole}");
        }
        let fraction = format!("{micros:06}");
        write!(f, "{whole}.{}", fraction.trim_end_matches('0'))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exposition(stats: &Stats) -> String {
        let mut out = String::new();
        render_totals(
            &stats.snapshot(),
            [0, 3, 0, 1, 0],
            stats.latency(),
            &stats.services.get(),
            2,
            false,
            &mut out,
        );
        out
    }

    #[test]
    fn every_counter_of_stats_is_exported() {
        let snapshot = Stats::default().snapshot();
        for (name, _) in snapshot {
            let labelled =
                name.starts_with("events_per_poll_") || name == "polls" || name == "events";
            let listed = FAMILIES.iter().any(|f| f.stats == name);
            assert!(
                labelled || listed,
                "`{name}` is in /stats but not in /metrics: add it to FAMILIES"
            );
        }
        for family in FAMILIES {
            assert!(
                snapshot.iter().any(|(n, _)| *n == family.stats),
                "FAMILIES names `{}`, which Stats no longer has",
                family.stats
            );
        }
    }

    #[test]
    fn names_follow_prometheus_conventions() {
        for family in FAMILIES {
            let ok = family
                .name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
            assert!(ok && family.name.starts_with("evserve_"), "{}", family.name);
            let total = family.name.ends_with("_total");
            assert_eq!(total, family.kind == Kind::Counter, "{}", family.name);
            assert!(!family.help.is_empty() && !family.help.contains('\n'));
        }
    }

    #[test]
    fn counters_gauges_and_labels_are_written() {
        let stats = Stats::default();
        stats.accepted.add(7);
        stats.active.add(2);
        stats.services.register("http").add(2);
        let text = exposition(&stats);
        assert!(text.contains("# TYPE evserve_connections_accepted_total counter\n"));
        assert!(text.contains("\nevserve_connections_accepted_total 7\n"));
        assert!(text.contains("\nevserve_connections_active 2\n"));
        assert!(text.contains("\nevserve_service_connections_active{service=\"http\"} 2\n"));
        assert!(text.contains("\nevserve_http_responses_total{class=\"2xx\"} 3\n"));
        assert!(text.contains("\nevserve_workers 2\n"));
        assert!(text.ends_with("evserve_draining 0\n"));
    }

    #[test]
    fn request_latencies_become_a_histogram_in_seconds() {
        let stats = Stats::default();
        for micros in [0, 100, 101, 2_500, 3_000_000, 20_000_000] {
            stats.record_request(std::time::Duration::from_micros(micros));
        }
        let text = exposition(&stats);
        for line in [
            "# TYPE evserve_http_request_duration_seconds histogram",
            "evserve_http_request_duration_seconds_bucket{le=\"0.0001\"} 2",
            "evserve_http_request_duration_seconds_bucket{le=\"0.00025\"} 3",
            "evserve_http_request_duration_seconds_bucket{le=\"0.0025\"} 4",
            "evserve_http_request_duration_seconds_bucket{le=\"2.5\"} 4",
            "evserve_http_request_duration_seconds_bucket{le=\"5\"} 5",
            "evserve_http_request_duration_seconds_bucket{le=\"10\"} 5",
            "evserve_http_request_duration_seconds_bucket{le=\"+Inf\"} 6",
            "evserve_http_request_duration_seconds_sum 23.002701",
            "evserve_http_request_duration_seconds_count 6",
        ] {
            assert!(text.contains(&format!("\n{line}\n")), "{line} in:\n{text}");
        }
        assert_eq!(Seconds(0).to_string(), "0");
        assert_eq!(Seconds(1_000_000).to_string(), "1");
        assert_eq!(Seconds(1_000_001).to_string(), "1.000001");
    }

    #[test]
    fn polls_become_a_cumulative_histogram() {
        let stats = Stats::default();
        for events in [0, 1, 1, 5, 600] {
            stats.record_poll(events);
        }
        let text = exposition(&stats);
        for line in [
            "evserve_poll_events_bucket{le=\"0\"} 1",
            "evserve_poll_events_bucket{le=\"1\"} 3",
            "evserve_poll_events_bucket{le=\"3\"} 3",
            "evserve_poll_events_bucket{le=\"7\"} 4",
            "evserve_poll_events_bucket{le=\"511\"} 4",
            "evserve_poll_events_bucket{le=\"+Inf\"} 5",
            "evserve_poll_events_sum 607",
            "evserve_poll_events_count 5",
        ] {
            assert!(text.contains(&format!("\n{line}\n")), "{line} in:\n{text}");
        }
    }
}

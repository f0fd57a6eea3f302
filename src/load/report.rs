//! What a run measured: counts, bytes, and a latency histogram; merged across threads.
//!
//! Every request granted ends exactly once, as one of `requests` (a correct reply), `errors`
//! (a wrong reply, or written on a connection that failed before answering) or `timeouts`; a
//! run stopped by its duration leaves some in flight, which count as none of them. Latency is
//! recorded for correct replies only, in microseconds, into an HdrHistogram of fixed size (so
//! recording never allocates) from 1 µs to an hour at 3 significant digits.
//!
//! Every error, timeout and failed connect is also tallied by [`Failure`] kind, with the
//! first example of each kind, as oha and hey do: "errors 97708" says nothing, "97708 × HTTP
//! 404" says what to fix.
//!
//! MB/s counts every byte on the wire in both directions (requests and replies, HTTP heads
//! included), in units of 10^6 bytes, over the run's wall time.

use std::collections::BTreeMap;
use std::fmt;
use std::io;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

use super::driver::{Broken, Outcome};
use super::tls::TlsProblem;

/// The largest latency recorded exactly, in µs (an hour); longer ones are recorded as this.
const MAX_LATENCY_US: u64 = 3_600_000_000;

/// What a run measured.
#[derive(Debug, Clone)]
pub struct Report {
    /// Correct replies.
    pub requests: u64,
    /// Wrong replies, and requests lost when their connection failed.
    pub errors: u64,
    /// Requests unanswered within the timeout (a TLS handshake that took as long included).
    pub timeouts: u64,
    /// Connections replaced after a failure, a timeout or an unexpected close by the server.
    pub reconnects: u64,
    /// Connections established, including planned ones (`Connection: close`).
    pub connects: u64,
    /// Connection attempts that failed.
    pub connect_errors: u64,
    /// Bytes written.
    pub bytes_sent: u64,
    /// Bytes read.
    pub bytes_received: u64,
    /// Wall time of the run.
    pub elapsed: Duration,
    /// Latency of correct replies, in microseconds.
    pub latency: Histogram<u64>,
    /// Errors, timeouts and failed connects by kind, with the first example of each.
    pub failures: BTreeMap<Failure, Tally>,
    /// The run was stopped early (Ctrl-C): the figures cover the part that ran.
    pub interrupted: bool,
    /// TLS handshakes, over TLS (all zero otherwise).
    pub tls: Handshakes,
}

/// TLS handshakes of a run: how many completed in full or resumed a session, how many
/// connections were given up before theirs completed, and what was agreed on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Handshakes {
    /// Completed with a full handshake (certificate, key exchange).
    pub full: u64,
    /// Completed by resuming an earlier session (a ticket or a TLS 1.2 session ID).
    pub resumed: u64,
    /// Connections closed before their handshake completed: an error, an alert, the server
    /// closing, a timeout.
    pub failed: u64,
    /// The version and cipher suite of the first handshake, e.g. `TLSv1_3
    /// TLS13_AES_256_GCM_SHA384`.
    pub suite: Option<String>,
}

impl Handshakes {
    /// A handshake completed.
    pub fn completed(&mut self, resumed: bool, suite: String) {
        if resumed {
            self.resumed += 1;
        } else {
            self.full += 1;
        }
        self.suite.get_or_insert(suite);
    }

    /// Whether any handshake was attempted.
    pub fn any(&self) -> bool {
        self.full + self.resumed + self.failed > 0
    }

    fn merge(&mut self, other: &Handshakes) {
        self.full += other.full;
        self.resumed += other.resumed;
        self.failed += other.failed;
        if self.suite.is_none() {
            self.suite.clone_from(&other.suite);
        }
    }
}

/// What went wrong with a request or a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Failure {
    /// An HTTP status other than 2xx.
    Status(u16),
    /// A whole reply, but not the bytes sent (echo, framed, udp).
    Mismatch,
    /// Bytes that are not a reply of the protocol at all.
    BadReply(Broken),
    /// The server closed the connection with requests unanswered.
    Closed,
    /// Reading or writing failed (a reset, most often), or a datagram's ICMP error.
    Io(io::ErrorKind),
    /// A connection attempt failed.
    Connect(io::ErrorKind),
    /// A request unanswered within the timeout.
    Timeout,
    /// The TLS handshake failed (a certificate refused, an alert, the server closing).
    Handshake(TlsProblem),
    /// TLS failed after the handshake (a record that does not decrypt, an alert).
    Tls(TlsProblem),
}

impl Failure {
    /// The failure a wrong (but complete) reply is.
    pub fn of(outcome: Outcome) -> Failure {
        match outcome {
            Outcome::Status(code) => Failure::Status(code),
            Outcome::Ok | Outcome::Mismatch => Failure::Mismatch,
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Status(code) => write!(f, "HTTP status {code}"),
            Failure::Mismatch => f.write_str("wrong reply (not the bytes sent)"),
            Failure::BadReply(why) => write!(f, "bad reply: {why}"),
            Failure::Closed => f.write_str("closed by the server with requests unanswered"),
            Failure::Io(kind) => write!(f, "connection error ({kind})"),
            Failure::Connect(kind) => write!(f, "connect error ({kind})"),
            Failure::Timeout => f.write_str("timeout"),
            Failure::Handshake(problem) => write!(f, "handshake failed: {problem}"),
            Failure::Tls(problem) => write!(f, "TLS error: {problem}"),
        }
    }
}

/// How often one kind of failure happened, and its first example.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tally {
    /// Occurrences.
    pub count: u64,
    /// The first one's details (an OS message, say), if it had any beyond its kind.
    pub example: Option<String>,
}

impl Default for Report {
    fn default() -> Report {
        Report::new()
    }
}

impl Report {
    /// An empty report.
    pub fn new() -> Report {
        Report {
            requests: 0,
            errors: 0,
            timeouts: 0,
            reconnects: 0,
            connects: 0,
            connect_errors: 0,
            bytes_sent: 0,
            bytes_received: 0,
            elapsed: Duration::ZERO,
            latency: Histogram::new_with_bounds(1, MAX_LATENCY_US, 3)
                .expect("constant bounds are valid"),
            failures: BTreeMap::new(),
            interrupted: false,
            tls: Handshakes::default(),
        }
    }

    /// `n` requests failed as `kind`; `example` gives details, asked for only the first time.
    pub fn error(&mut self, kind: Failure, n: u64, example: impl FnOnce() -> Option<String>) {
        if n == 0 {
            return;
        }
        match kind {
            Failure::Timeout | Failure::Handshake(TlsProblem::TimedOut) => self.timeouts += n,
            Failure::Connect(_) => self.connect_errors += n,
            _ => self.errors += n,
        }
        self.tally(kind, n, example);
    }

    fn tally(&mut self, kind: Failure, n: u64, example: impl FnOnce() -> Option<String>) {
        let tally = self.failures.entry(kind).or_default();
        if tally.count == 0 {
            tally.example = example();
        }
        tally.count += n;
    }

    /// The share of ended requests that failed (errors and timeouts), from 0 to 1; 0 if none
    /// ended.
    pub fn error_rate(&self) -> f64 {
        let failed = self.errors + self.timeouts;
        match self.completed() {
            0 => 0.0,
            n => failed as f64 / n as f64,
        }
    }

    /// A correct reply to a request meant to be sent at `intended` arrived at `now`.
    pub fn record_ok(&mut self, intended: Instant, now: Instant) {
        let micros = now.saturating_duration_since(intended).as_micros();
        let micros = u64::try_from(micros).unwrap_or(u64::MAX).max(1);
        self.latency.saturating_record(micros);
        self.requests += 1;
    }

    /// Requests that ended, one way or another.
    pub fn completed(&self) -> u64 {
        self.requests + self.errors + self.timeouts
    }

    /// Adds another thread's report to this one; the run took as long as the longest.
    pub fn merge(&mut self, other: &Report) {
        self.requests += other.requests;
        self.errors += other.errors;
        self.timeouts += other.timeouts;
        self.reconnects += other.reconnects;
        self.connects += other.connects;
        self.connect_errors += other.connect_errors;
        self.bytes_sent += other.bytes_sent;
        self.bytes_received += other.bytes_received;
        self.elapsed = self.elapsed.max(other.elapsed);
        self.interrupted |= other.interrupted;
        self.tls.merge(&other.tls);
        for (kind, tally) in &other.failures {
            self.tally(*kind, tally.count, || tally.example.clone());
        }
        // Same bounds on both sides, so this cannot fail.
        let _ = self.latency.add(&other.latency);
    }

    /// Correct replies per second.
    pub fn requests_per_sec(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// Megabytes (10^6 bytes) per second on the wire, sent plus received.
    pub fn mb_per_sec(&self) -> f64 {
        (self.bytes_sent + self.bytes_received) as f64 / 1e6 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// The latency at quantile `q` (0.5 for the median), in µs; 0 with no samples.
    pub fn latency_at(&self, q: f64) -> u64 {
        self.latency.value_at_quantile(q)
    }

    /// The report as one JSON object.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "requests": self.requests,
            "errors": self.errors,
            "timeouts": self.timeouts,
            "reconnects": self.reconnects,
            "connects": self.connects,
            "connect_errors": self.connect_errors,
            "duration_secs": self.elapsed.as_secs_f64(),
            "requests_per_sec": self.requests_per_sec(),
            "mb_per_sec": self.mb_per_sec(),
            "bytes_sent": self.bytes_sent,
            "bytes_received": self.bytes_received,
            "latency_us": {
                "p50": self.latency_at(0.5),
                "p90": self.latency_at(0.9),
                "p99": self.latency_at(0.99),
                "p999": self.latency_at(0.999),
                "max": self.latency.max(),
                "mean": self.latency.mean(),
            },
            "error_rate": self.error_rate(),
            "tls_handshakes": self.tls.any().then(|| serde_json::json!({
                "full": self.tls.full,
                "resumed": self.tls.resumed,
                "failed": self.tls.failed,
                "suite": self.tls.suite,
            })),
            "interrupted": self.interrupted,
            "failures": self.failures.iter().map(|(kind, tally)| serde_json::json!({
                "kind": kind.to_string(),
                "count": tally.count,
                "example": tally.example,
            })).collect::<Vec<_>>(),
        })
    }

    /// The report for people, a few lines, then one line per kind of failure.
    pub fn to_text(&self) -> String {
        let mut text = String::new();
        if self.interrupted {
            text.push_str("interrupted: partial results\n");
        }
        text += &format!(
            "{} requests in {:.2} s: {:.0} requests/s, {:.2} MB/s (sent + received)\n\
             errors {}, timeouts {}, reconnects {}, connect errors {}\n\
             latency µs: p50 {}  p90 {}  p99 {}  p99.9 {}  max {}\n",
            self.requests,
            self.elapsed.as_secs_f64(),
            self.requests_per_sec(),
            self.mb_per_sec(),
            self.errors,
            self.timeouts,
            self.reconnects,
            self.connect_errors,
            self.latency_at(0.5),
            self.latency_at(0.9),
            self.latency_at(0.99),
            self.latency_at(0.999),
            self.latency.max(),
        );
        if self.tls.any() {
            let t = &self.tls;
            text += &format!(
                "TLS handshakes {}: {} full, {} resumed, {} failed{}\n",
                t.full + t.resumed,
                t.full,
                t.resumed,
                t.failed,
                t.suite
                    .as_deref()
                    .map(|s| format!("; {s}"))
                    .unwrap_or_default(),
            );
        }
        for (kind, tally) in &self.failures {
            text += &format!("  {:>9} × {kind}", tally.count);
            if let Some(example) = &tally.example {
                text += &format!(", first: {example}");
            }
            text.push('\n');
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merged_reports_add_up() {
        let t0 = Instant::now();
        let mut a = Report::new();
        a.record_ok(t0, t0 + Duration::from_micros(100));
        a.errors = 1;
        a.elapsed = Duration::from_secs(2);
        let mut b = Report::new();
        b.record_ok(t0, t0 + Duration::from_micros(300));
        b.record_ok(t0, t0); // under a microsecond still counts, as 1 µs
        b.timeouts = 2;
        b.bytes_sent = 1_000_000;
        b.elapsed = Duration::from_secs(1);
        a.merge(&b);
        assert_eq!(
            (a.requests, a.errors, a.timeouts, a.completed()),
            (3, 1, 2, 6)
        );
        assert_eq!(a.elapsed, Duration::from_secs(2));
        assert_eq!(a.latency.len(), 3);
        assert_eq!(a.latency.max(), 300);
        assert_eq!(a.latency.min(), 1);
        assert!((a.requests_per_sec() - 1.5).abs() < 1e-9);
        assert!((a.mb_per_sec() - 0.5).abs() < 1e-9);
    }

    #[test]
    fn failures_are_tallied_by_kind_with_the_first_example() {
        let mut a = Report::new();
        let refused = Failure::Connect(io::ErrorKind::ConnectionRefused);
        a.error(refused, 1, || Some("first".into()));
        a.error(refused, 2, || Some("second".into()));
        a.error(Failure::Status(404), 3, || None);
        a.error(Failure::Timeout, 1, || None);
        // A handshake that timed out is a timeout too, tallied as what it was.
        let slow = Failure::Handshake(TlsProblem::TimedOut);
        a.error(slow, 2, || Some("no answer".into()));
        a.error(Failure::Closed, 0, || {
            panic!("nothing failed: no example asked for")
        });
        let mut b = Report::new();
        b.error(Failure::Status(404), 1, || None);
        b.error(Failure::BadReply(Broken::Speaks("HTTP")), 1, || None);
        a.merge(&b);
        assert_eq!((a.errors, a.timeouts, a.connect_errors), (5, 3, 3));
        assert_eq!(a.failures[&refused].count, 3);
        assert_eq!(a.failures[&refused].example.as_deref(), Some("first"));
        assert_eq!(a.failures[&Failure::Status(404)].count, 4);
        assert!(!a.failures.contains_key(&Failure::Closed));
        let text = a.to_text();
        assert!(text.contains("4 × HTTP status 404\n"), "{text}");
        assert!(
            text.contains("3 × connect error (connection refused), first: first\n"),
            "{text}"
        );
        assert!(
            text.contains("bad reply: the server answers in HTTP"),
            "{text}"
        );
        assert!(
            text.contains("2 × handshake failed: timed out, first: no answer\n"),
            "{text}"
        );
        assert_eq!(a.to_json()["failures"].as_array().map(Vec::len), Some(5));
        // Ended: 0 ok, 5 errors, 3 timeouts (failed connects are not requests).
        assert!((a.error_rate() - 1.0).abs() < 1e-9);
    }

    #[test]
    fn json_has_the_documented_keys() {
        let doc = Report::new().to_json();
        for key in [
            "requests_per_sec",
            "mb_per_sec",
            "requests",
            "errors",
            "timeouts",
        ] {
            assert!(doc.get(key).is_some(), "{key}");
        }
        for key in ["p50", "p90", "p99", "p999", "max"] {
            assert_eq!(doc["latency_us"][key], 0, "{key}");
        }
    }
}

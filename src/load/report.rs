//! What a run measured: counts, bytes, and a latency histogram; merged across threads.
//!
//! Every request granted ends exactly once, as one of `requests` (a reply: an HTTP response of
//! any status that `--error-status` does not name, or the right echo), `errors` (a wrong reply,
//! an HTTP status named by `--error-status`, 5xx by default, or a request written on a
//! connection that failed before answering) or `timeouts`; a run stopped by its duration
//! leaves some in flight, which count as none of them. Latency is recorded for the `requests`
//! (a fast failure must not flatter the figures), in microseconds, into an HdrHistogram of
//! fixed size (so recording never allocates) from 1 µs to an hour at 3 significant digits.
//! Every HTTP response, error or not, is also counted by status, for the status-code table
//! wrk, hey and oha print.
//!
//! Every error, timeout and failed connect is also tallied by [`Failure`] kind, with the
//! first example of each kind, as oha and hey do: "errors 97708" says nothing, "97708 × HTTP
//! 404" says what to fix.
//!
//! Transfer/sec is what wrk means by it: bytes *received* (replies, HTTP heads included; over
//! TLS the plaintext) per second of the run's wall time, in MiB (2^20 bytes) as wrk prints
//! them. Bytes sent are given apart.
//!
//! The text report prints the chosen percentiles (`--percentiles`), the mean and standard
//! deviation, and a latency histogram of 10 equal buckets from the fastest to the slowest
//! reply with a bar each, as oha and hey draw it.

use std::collections::BTreeMap;
use std::fmt;
use std::io;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

use super::decode::{Broken, Outcome};
use super::tls::TlsProblem;

/// The largest latency recorded exactly, in µs (an hour); longer ones are recorded as this.
pub const MAX_LATENCY_US: u64 = 3_600_000_000;

/// Significant digits of the latency histogram: values are exact to 1 part in 1000.
pub const LATENCY_DIGITS: u8 = 3;

/// The percentiles reported when `--percentiles` is not given.
pub const DEFAULT_PERCENTILES: [f64; 4] = [50.0, 90.0, 99.0, 99.9];

/// Buckets of the latency histogram in the text report.
const HISTOGRAM_ROWS: u64 = 10;

/// The longest bar of the latency histogram, in characters.
const BAR_WIDTH: u64 = 40;

/// A latency histogram as every report holds it: 1 µs to an hour, 3 significant digits.
pub fn latency_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_LATENCY_US, LATENCY_DIGITS)
        .expect("constant bounds are valid")
}

/// What a run measured.
#[derive(Debug, Clone)]
pub struct Report {
    /// Replies: HTTP responses whose status is not an error, right echoes.
    pub requests: u64,
    /// Wrong replies, HTTP responses with an error status, and requests lost when their
    /// connection failed.
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
    /// Latency of the `requests`, in microseconds.
    pub latency: Histogram<u64>,
    /// Every HTTP response by status, errors included.
    pub statuses: BTreeMap<u16, u64>,
    /// The percentiles to report, from 0 to 100.
    pub percentiles: Vec<f64>,
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
    /// The server reset the request's HTTP/2 stream with this code (RFC 9113's name).
    Reset(&'static str),
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
            Failure::Reset(code) => write!(f, "HTTP/2 stream reset by the server ({code})"),
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
            latency: latency_histogram(),
            statuses: BTreeMap::new(),
            percentiles: DEFAULT_PERCENTILES.to_vec(),
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

    /// A whole reply to a request meant to be sent at `intended` arrived at `now`; `error`
    /// says whether the run counts it as one (a wrong echo, an `--error-status`).
    pub fn answered(&mut self, outcome: Outcome, error: bool, intended: Instant, now: Instant) {
        if let Outcome::Status(code) = outcome {
            // An existing key allocates nothing: a run meets a handful of statuses.
            *self.statuses.entry(code).or_default() += 1;
        }
        if error {
            self.error(Failure::of(outcome), 1, || None);
        } else {
            self.record_ok(intended, now);
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
        for (code, n) in &other.statuses {
            *self.statuses.entry(*code).or_default() += n;
        }
        // Same bounds on both sides, so this cannot fail.
        let _ = self.latency.add(&other.latency);
    }

    /// Replies (not errors) per second.
    pub fn requests_per_sec(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// Bytes received per second: wrk's Transfer/sec.
    pub fn received_per_sec(&self) -> f64 {
        self.bytes_received as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// Bytes sent per second.
    pub fn sent_per_sec(&self) -> f64 {
        self.bytes_sent as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// The latency histogram's rows: `HISTOGRAM_ROWS` buckets of equal width from the
    /// fastest to the slowest reply, each as (its upper bound in µs, replies in it).
    pub fn histogram_rows(&self) -> Vec<(u64, u64)> {
        latency_rows(&self.latency)
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
            "received_bytes_per_sec": self.received_per_sec(),
            "sent_bytes_per_sec": self.sent_per_sec(),
            "bytes_sent": self.bytes_sent,
            "bytes_received": self.bytes_received,
            "latency_us": latency_json(&self.latency, &self.percentiles),
            "latency_histogram_us": self.histogram_rows().iter().map(|(le, count)| {
                serde_json::json!({ "le": le, "count": count })
            }).collect::<Vec<_>>(),
            "statuses": self.statuses.iter().map(|(code, n)| (code.to_string(), (*n).into()))
                .collect::<serde_json::Map<String, serde_json::Value>>(),
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

    /// The report for people: throughput, latency, the status-code table, failures by kind,
    /// then the latency histogram.
    pub fn to_text(&self) -> String {
        let mut text = String::new();
        if self.interrupted {
            text.push_str("interrupted: partial results\n");
        }
        let mib = |b: f64| b / f64::from(1u32 << 20);
        text += &format!(
            "{} requests in {:.2} s: {:.0} requests/s\n\
             Transfer/sec: {:.2} MiB received, {:.2} MiB sent\n\
             errors {}, timeouts {}, reconnects {}, connect errors {}\n",
            self.requests,
            self.elapsed.as_secs_f64(),
            self.requests_per_sec(),
            mib(self.received_per_sec()),
            mib(self.sent_per_sec()),
            self.errors,
            self.timeouts,
            self.reconnects,
            self.connect_errors,
        );
        text += &latency_line(&self.latency, &self.percentiles);
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
        if !self.statuses.is_empty() {
            text.push_str("status codes:\n");
            for (code, n) in &self.statuses {
                let error = self.failures.contains_key(&Failure::Status(*code));
                let note = if error { " (counted as errors)" } else { "" };
                text += &format!("  [{code}] {n} responses{note}\n");
            }
        }
        if !self.failures.is_empty() {
            text.push_str("failures:\n");
        }
        for (kind, tally) in &self.failures {
            text += &format!("  {:>9} × {kind}", tally.count);
            if let Some(example) = &tally.example {
                text += &format!(", first: {example}");
            }
            text.push('\n');
        }
        text += &histogram_text(&self.latency);
        text
    }
}

/// `p99.9` for 99.9: how a percentile is named in text.
pub fn percentile_label(p: f64) -> String {
    format!("p{p}")
}

/// `p999` for 99.9: how a percentile is named in JSON (`p50`, `p99`, `p9999`).
pub fn percentile_key(p: f64) -> String {
    format!("p{}", p.to_string().replace('.', ""))
}

/// The chosen percentiles, min, max, mean and standard deviation of `h`, as a JSON object.
pub fn latency_json(h: &Histogram<u64>, percentiles: &[f64]) -> serde_json::Value {
    let mut o = serde_json::Map::new();
    for &p in percentiles {
        o.insert(percentile_key(p), h.value_at_percentile(p).into());
    }
    o.insert("min".into(), h.min().into());
    o.insert("max".into(), h.max().into());
    o.insert("mean".into(), h.mean().into());
    o.insert("stdev".into(), h.stdev().into());
    o.insert("samples".into(), h.len().into());
    serde_json::Value::Object(o)
}

/// Two lines: the mean, deviation and extremes, then the chosen percentiles (one line saying
/// so if nothing was timed).
pub fn latency_line(h: &Histogram<u64>, percentiles: &[f64]) -> String {
    if h.is_empty() {
        return "latency µs: no reply to time\n".into();
    }
    let mut text = format!(
        "latency µs: mean {:.1}  stdev {:.1}  min {}  max {}\n",
        h.mean(),
        h.stdev(),
        h.min(),
        h.max()
    );
    for &p in percentiles {
        text += &format!("  {} {}", percentile_label(p), h.value_at_percentile(p));
    }
    text.push('\n');
    text
}

/// `HISTOGRAM_ROWS` equal buckets from `h`'s least to its greatest value: (upper bound,
/// count). Empty for an empty histogram.
fn latency_rows(h: &Histogram<u64>) -> Vec<(u64, u64)> {
    if h.is_empty() {
        return Vec::new();
    }
    let (lo, hi) = (h.min(), h.max());
    let width = (hi - lo).div_ceil(HISTOGRAM_ROWS).max(1);
    let mut rows: Vec<(u64, u64)> = (1..=HISTOGRAM_ROWS).map(|i| (lo + i * width, 0)).collect();
    for v in h.iter_recorded() {
        // Each recorded bucket's highest equivalent value, clamped to the extremes seen.
        let value = h.highest_equivalent(v.value_iterated_to()).clamp(lo, hi);
        let row = ((value - lo) / width).min(HISTOGRAM_ROWS - 1) as usize;
        rows[row].1 += v.count_at_value();
    }
    // Trim rows past the slowest reply (when the span does not divide evenly).
    while rows.len() > 1 && rows[rows.len() - 2].0 >= hi && rows[rows.len() - 1].1 == 0 {
        rows.pop();
    }
    rows
}

/// The latency histogram as oha draws it: per bucket its upper bound, its count, a bar.
pub fn histogram_text(h: &Histogram<u64>) -> String {
    let rows = latency_rows(h);
    let Some(most) = rows.iter().map(|r| r.1).max().filter(|&m| m > 0) else {
        return String::new();
    };
    let bound = rows
        .iter()
        .map(|r| r.0.to_string().len())
        .max()
        .unwrap_or(1);
    let count = rows
        .iter()
        .map(|r| r.1.to_string().len())
        .max()
        .unwrap_or(1)
        + 2;
    let mut text = String::from("latency histogram, µs (at most):\n");
    for (le, n) in rows {
        let bar = "■".repeat((n * BAR_WIDTH).div_ceil(most) as usize);
        text += &format!("  {le:>bound$} {:<count$} |{bar}\n", format!("[{n}]"));
    }
    text
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
        assert!((a.sent_per_sec() - 500_000.0).abs() < 1e-6);
        assert_eq!(a.received_per_sec(), 0.0);
    }

    #[test]
    fn every_response_is_tallied_by_status_and_errors_are_not_timed() {
        let t0 = Instant::now();
        let later = t0 + Duration::from_micros(250);
        let mut a = Report::new();
        a.answered(Outcome::Status(200), false, t0, later);
        a.answered(Outcome::Status(404), false, t0, later);
        a.answered(Outcome::Status(503), true, t0, later);
        a.answered(Outcome::Mismatch, true, t0, later);
        let mut b = Report::new();
        b.answered(Outcome::Status(200), false, t0, later);
        a.merge(&b);
        assert_eq!((a.requests, a.errors, a.latency.len()), (3, 2, 3));
        let want: BTreeMap<u16, u64> = [(200, 2), (404, 1), (503, 1)].into();
        assert_eq!(a.statuses, want);
        let text = a.to_text();
        assert!(text.contains("  [200] 2 responses\n"), "{text}");
        assert!(
            text.contains("  [503] 1 responses (counted as errors)\n"),
            "{text}"
        );
        assert_eq!(a.to_json()["statuses"]["404"], 1);
    }

    #[test]
    fn the_histogram_has_equal_buckets_from_fastest_to_slowest() {
        let mut a = Report::new();
        for v in [100, 100, 150, 1000] {
            a.latency.record(v).unwrap();
        }
        let rows = a.histogram_rows();
        assert_eq!(rows.len(), 10);
        assert_eq!(rows[0], (190, 3));
        assert_eq!(rows[9], (1000, 1));
        assert_eq!(rows.iter().map(|r| r.1).sum::<u64>(), 4);
        let text = a.to_text();
        assert!(
            text.contains("   190 [3] |■■■■■■■■■■■■■■■■■■■■■■■■■■■■■■■■■■■■■■■■\n"),
            "{text}"
        );
        assert!(text.contains("latency µs: mean 337.5"), "{text}");
        assert!(
            text.contains("p50 100  p90 1000  p99 1000  p99.9 1000"),
            "{text}"
        );
        assert_eq!(Report::new().histogram_rows(), []);
        assert_eq!(percentile_key(99.99), "p9999");
        assert_eq!(percentile_key(50.0), "p50");
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
            "received_bytes_per_sec",
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

//! The HTTP protocol layer without sockets: the head parser alone, and a whole session
//! answering pipelined `/plain` requests.
//!
//! Run with `cargo bench --bench http_parse`.

use std::hint::black_box;
use std::time::Instant;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};

use evserve::protocol::http::request::{RequestLimits, header_slots, parse_head};
use evserve::protocol::http::scan::HeadScan;
use evserve::protocol::http::{Http, HttpConfig};
use evserve::session::{Ctx, Session, Watch};
use evserve::stats::Stats;
use evserve::testing::Harness;

/// The server's default limits, computed once outside the measured loops.
static LIMITS: std::sync::LazyLock<RequestLimits> =
    std::sync::LazyLock::new(|| RequestLimits::of(&HttpConfig::default()));

/// What a desktop browser sends for a page.
const BROWSER_GET: &[u8] = b"GET /articles/2024/event-loops.html?ref=front HTTP/1.1\r\n\
Host: www.example.com\r\n\
User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0\r\n\
Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\n\
Accept-Language: en-US,en;q=0.5\r\n\
Accept-Encoding: gzip, deflate, br, zstd\r\n\
Referer: https://www.example.com/\r\n\
Connection: keep-alive\r\n\
Cookie: session=4f2a9c0e8b7d6a5f4e3d2c1b0a998877; theme=dark\r\n\
Upgrade-Insecure-Requests: 1\r\n\
Sec-Fetch-Dest: document\r\n\
Sec-Fetch-Mode: navigate\r\n\
Sec-Fetch-Site: same-origin\r\n\
If-None-Match: \"17f3a2b4c5d6e7f8-1a2b\"\r\n\
Priority: u=0, i\r\n\r\n";

/// What a load generator sends.
const GET_PLAIN: &[u8] =
    b"GET /plain HTTP/1.1\r\nHost: localhost:8080\r\nUser-Agent: evload\r\nAccept: */*\r\n\r\n";

/// Scans and parses every head in `input`; returns the number of header fields seen.
fn parse_all(mut input: &[u8]) -> usize {
    let limits: &RequestLimits = &LIMITS;
    let mut fields = 0;
    while !input.is_empty() {
        let mut scan = HeadScan::default();
        let Ok(Some(len)) = scan.scan(input, limits) else {
            panic!("incomplete head in fixture");
        };
        let (head, rest) = input.split_at(len);
        let mut slots = header_slots();
        fields += parse_head(head, &mut slots, limits).map_or(0, |h| h.headers.len());
        input = rest;
    }
    fields
}

fn parser(c: &mut Criterion) {
    let pipelined = GET_PLAIN.repeat(16);
    let mut group = c.benchmark_group("parse");
    group.throughput(Throughput::Elements(1));
    group.bench_function("browser_get", |b| {
        b.iter(|| parse_all(black_box(BROWSER_GET)))
    });
    group.throughput(Throughput::Elements(16));
    group.bench_function("pipelined_16_plain", |b| {
        b.iter(|| parse_all(black_box(&pipelined)))
    });
    group.finish();
}

fn session(c: &mut Criterion) {
    let pipelined = GET_PLAIN.repeat(16);
    let http = Http::new(HttpConfig::default());
    let mut group = c.benchmark_group("session");
    group.throughput(Throughput::Elements(16));

    // Through the Harness, as the brief's tests drive it. `take_output` hands back the buffer,
    // so each round also pays for a fresh output Vec growing to ~2 KiB.
    let mut h = Harness::new(http.session());
    group.bench_function("harness_16_plain", |b| {
        b.iter(|| {
            h.input(black_box(&pipelined));
            black_box(h.take_output())
        })
    });

    // As the reactor drives it: one output buffer reused across reads.
    let mut s = http.session();
    let (mut out, mut broadcast, mut deadline) =
        (Vec::with_capacity(64 * 1024), Vec::new(), Watch::default());
    let stats = Stats::default();
    let peer = "127.0.0.1:40000".parse().expect("address");
    let now = Instant::now();
    group.bench_function("reused_buffer_16_plain", |b| {
        b.iter(|| {
            out.clear();
            let mut cx = Ctx::new(&mut out, &mut broadcast, &mut deadline, peer, now, &stats);
            black_box(s.on_input(black_box(&pipelined), &mut cx))
        })
    });
    group.finish();
}

criterion_group!(benches, parser, session);
criterion_main!(benches);

//! The reactor with sessions written for the test, over real sockets on 127.0.0.1.

mod util;

use std::io::Read;
use std::net::SocketAddr;

use evserve::config::Limits;
use evserve::session::{Ctx, FileSlice, Flow, Service, Session, Step};
use util::inproc::InProcess;

const BLOCK: usize = 100 * 1024;
const BLOCKS: usize = 60;

/// Streams BLOCKS blocks after the first input byte, producing more only from `on_drain`,
/// and declining every other offer while output is still pending — as a session with its
/// own high-water mark does when asked at the wrong moment.
struct Stingy {
    sent: usize,
    offers: usize,
}

impl Stingy {
    fn block(&mut self, cx: &mut Ctx<'_>) {
        let fill = b'a' + (self.sent % 26) as u8;
        cx.out().extend_from_slice(&[fill; BLOCK]);
        self.sent += 1;
    }
}

impl Session for Stingy {
    fn on_input(&mut self, input: &[u8], cx: &mut Ctx<'_>) -> Step {
        if self.sent == 0 && !input.is_empty() {
            self.block(cx);
        }
        Step::consumed(input.len())
    }

    fn on_drain(&mut self, cx: &mut Ctx<'_>) -> Flow {
        self.offers += 1;
        if self.sent == BLOCKS {
            return Flow::Close;
        }
        if cx.pending_output() > 0 && self.offers % 2 == 1 {
            return Flow::Continue; // decline this time
        }
        self.block(cx);
        Flow::Continue
    }
}

struct StingyService;

impl Service for StingyService {
    fn name(&self) -> &'static str {
        "stingy"
    }
    fn new_session(&mut self, _peer: SocketAddr) -> Box<dyn Session> {
        Box::new(Stingy { sent: 0, offers: 0 })
    }
}

/// Sends back complete lines with `Step::forward`, keeping a partial line until the rest
/// arrives; says `BEGIN` (written to the output in the same call as the first forward, so it
/// must arrive first) and, at EOF, `END <bytes of the unfinished line>`.
#[derive(Default)]
struct Lines {
    begun: bool,
}

impl Session for Lines {
    fn on_input(&mut self, input: &[u8], cx: &mut Ctx<'_>) -> Step {
        let complete = input.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        if complete > 0 && !self.begun {
            self.begun = true;
            cx.out().extend_from_slice(b"BEGIN\n");
        }
        Step::forward(complete)
    }

    fn on_eof(&mut self, input: &[u8], cx: &mut Ctx<'_>) -> Flow {
        cx.out()
            .extend_from_slice(format!("END {}\n", input.len()).as_bytes());
        Flow::Close
    }
}

struct LinesService;

impl Service for LinesService {
    fn name(&self) -> &'static str {
        "lines"
    }
    fn new_session(&mut self, _peer: SocketAddr) -> Box<dyn Session> {
        Box::new(Lines::default())
    }
}

fn start_with(service: impl FnOnce() -> Box<dyn Service> + Send + 'static) -> InProcess {
    InProcess::start(Limits::default(), service)
}

/// Waits until a write of the server came up short: its send buffer is full, so output backs
/// up behind a client that has not read yet.
fn wait_for_a_short_write(server: &InProcess) {
    util::inproc::wait_until("a write to come up short", || {
        server.stats.short_writes.get() > 0
    });
}

#[test]
fn a_session_that_declines_a_drain_offer_is_asked_again() {
    let server = start_with(|| Box::new(StingyService));
    let mut s = server.connect();
    std::io::Write::write_all(&mut s, b"go").unwrap();
    // Not reading until the socket is full, so the output backs up and drain offers arrive
    // with bytes pending.
    wait_for_a_short_write(&server);
    let mut got = Vec::new();
    let mut buf = vec![0u8; 8192];
    loop {
        let n = s.read(&mut buf).expect("stream stalled");
        if n == 0 {
            break;
        }
        got.extend_from_slice(&buf[..n]);
    }
    assert_eq!(got.len(), BLOCK * BLOCKS, "every block arrives, then EOF");
    for (i, block) in got.chunks(BLOCK).enumerate() {
        assert!(
            block.iter().all(|&b| b == b'a' + (i % 26) as u8),
            "block {i}"
        );
    }
    server.stop();
}

#[test]
fn forwarded_input_arrives_in_order_after_the_sessions_own_output() {
    let server = start_with(|| Box::new(LinesService));
    // 4 MiB of lines of many lengths, written in pieces that split lines anywhere, while
    // another thread reads: forwarding goes straight from the read buffer, through partial
    // writes, and from kept input when a line spans reads.
    let mut sent = Vec::new();
    let mut i = 0u64;
    while sent.len() < 4 << 20 {
        let len = (i * 7919 % 5000) as usize;
        sent.extend((0..len).map(|k| b'a' + ((i as usize + k) % 26) as u8));
        sent.push(b'\n');
        i += 1;
    }
    let tail = b"no newline at the end";
    let mut s = server.connect();
    let mut reader = s.try_clone().unwrap();
    let expected = b"BEGIN\n".len() + sent.len() + format!("END {}\n", tail.len()).len();
    let started = std::time::Instant::now();
    let got = std::thread::spawn(move || {
        let mut got = Vec::new();
        if let Err(e) = reader.read_to_end(&mut got) {
            // Where it stopped tells a reset (the server closed with input unread: after how
            // much, and did an early `END` arrive?) from a stall (a timeout at 10 s).
            let end = got.windows(4).position(|w| w == b"END ");
            panic!(
                "stream stalled: {e} after {:?}, {} of {expected} bytes read, END at {end:?}",
                started.elapsed(),
                got.len()
            );
        }
        got
    });
    let mut at = 0;
    let mut piece = 1;
    for part in [&sent[..], &tail[..]] {
        at = 0;
        while at < part.len() {
            let end = (at + piece).min(part.len());
            std::io::Write::write_all(&mut s, &part[at..end]).unwrap();
            at = end;
            piece = piece * 3 % 100_003 + 1;
        }
    }
    assert_eq!(at, tail.len());
    s.shutdown(std::net::Shutdown::Write).unwrap();
    let got = got.join().unwrap();
    let mut want = b"BEGIN\n".to_vec();
    want.extend_from_slice(&sent);
    want.extend_from_slice(format!("END {}\n", tail.len()).as_bytes());
    assert_same(&got, &want);
    server.stop();
}

/// For each `go` line: `HEAD<n>`, then a slice of a file (`Ctx::send_file`), then
/// `TAIL<n> <pending> <waited>`, all in one call. A slice refused because one is still queued
/// waits, with the lines behind it, and is queued again from `on_drain`. `bye` closes.
struct Files {
    path: std::path::PathBuf,
    n: usize,
    waiting: Option<FileSlice>,
}

const SLICE_AT: u64 = 1000;
const SLICE_LEN: u64 = 3 * 1024 * 1024 + 17;

impl Files {
    fn queue(&mut self, slice: FileSlice, waited: bool, cx: &mut Ctx<'_>) {
        match cx.send_file(slice) {
            Ok(()) => {
                // The queued slice is owed output until it is sent.
                let line = format!(
                    "TAIL{} {} {waited}\n",
                    self.n,
                    cx.pending_output() as u64 >= SLICE_LEN
                );
                cx.out().extend_from_slice(line.as_bytes());
            }
            Err(slice) => self.waiting = Some(slice),
        }
    }
}

impl Session for Files {
    fn on_input(&mut self, input: &[u8], cx: &mut Ctx<'_>) -> Step {
        let mut used = 0;
        while self.waiting.is_none() {
            let Some(end) = input[used..].iter().position(|&b| b == b'\n') else {
                break;
            };
            let line = &input[used..used + end];
            used += end + 1;
            if line == b"bye" {
                return Step::close(used);
            }
            self.n += 1;
            cx.out()
                .extend_from_slice(format!("HEAD{}\n", self.n).as_bytes());
            let file = std::fs::File::open(&self.path).unwrap();
            let slice = FileSlice {
                file,
                offset: SLICE_AT,
                len: SLICE_LEN,
            };
            self.queue(slice, false, cx);
        }
        Step::consumed(used)
    }

    fn on_drain(&mut self, cx: &mut Ctx<'_>) -> Flow {
        if let Some(slice) = self.waiting.take() {
            self.queue(slice, true, cx);
        }
        Flow::Continue
    }
}

struct FilesService(std::path::PathBuf);

impl Service for FilesService {
    fn name(&self) -> &'static str {
        "files"
    }
    fn new_session(&mut self, _peer: SocketAddr) -> Box<dyn Session> {
        Box::new(Files {
            path: self.0.clone(),
            n: 0,
            waiting: None,
        })
    }
}

#[test]
fn a_queued_file_goes_out_between_the_output_around_it_one_at_a_time() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("data");
    let data: Vec<u8> = (0..SLICE_AT + SLICE_LEN + 500)
        .map(|i| (i * 7 % 251) as u8)
        .collect();
    std::fs::write(&path, &data).unwrap();
    // Small write budgets, so that the file goes out over many turns and deferrals.
    let limits = Limits {
        write_budget: 64 * 1024,
        turn_write_budget: 128 * 1024,
        ..Limits::default()
    };
    let server = InProcess::start(limits, move || Box::new(FilesService(path)));
    let mut s = server.connect();
    std::io::Write::write_all(&mut s, b"go\ngo\ngo\nbye\n").unwrap();
    // Not reading until the socket is full, so that the writes come up short and wait for
    // WRITABLE.
    wait_for_a_short_write(&server);
    let mut got = Vec::new();
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = s.read(&mut buf).expect("stream stalled");
        if n == 0 {
            break;
        }
        got.extend_from_slice(&buf[..n]);
    }
    let slice = &data[SLICE_AT as usize..(SLICE_AT + SLICE_LEN) as usize];
    let mut want = Vec::new();
    for (n, waited) in [(1, false), (2, true), (3, true)] {
        want.extend_from_slice(format!("HEAD{n}\n").as_bytes());
        want.extend_from_slice(slice);
        want.extend_from_slice(format!("TAIL{n} true {waited}\n").as_bytes());
    }
    assert_same(&got, &want);
    server.stop();
}

/// Asserts two byte streams are equal, saying where they first differ (not printing them).
fn assert_same(got: &[u8], want: &[u8]) {
    assert_eq!(got.len(), want.len(), "every byte, then EOF");
    assert!(
        got == want,
        "bytes differ from offset {:?}",
        got.iter().zip(want).position(|(a, b)| a != b)
    );
}

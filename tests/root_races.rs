//! Races in the static file path, run against the real `evserve` binary: whoever may write
//! under `--root` swaps names while requests are being answered.
//!
//! Before the path was opened in one step (`openat2` beneath the root, `O_NONBLOCK`, then
//! `fstat` on the descriptor) a FIFO swapped in between the check and the open stopped the
//! event loop for good, and a directory swapped for a symlink served a file from outside the
//! root. Each test makes a bounded number of requests while a thread swaps two names with
//! `renameat2(RENAME_EXCHANGE)`, atomically and as fast as it can. The old code's window was
//! two syscalls wide, so whether these catch it depends on the two threads truly running at
//! once: on an idle machine the review hit it within 75 requests, on a machine loaded 8 times
//! over its cores these passed against the old code too. They stay as regression tests; the
//! deterministic proofs are the unit tests in `root.rs` (a FIFO opens at once and is refused;
//! a path through a symlink out of the root is refused by the same call that opens it).

mod util;

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::{self, JoinHandle};

use rustix::fs::{CWD, FileType, Mode, RenameFlags, mknodat, renameat_with};
use util::http::{self, Conn};

/// Requests made while the names are being swapped, pipelined [`BATCH`] at a time so the
/// server spends its time in the path code rather than waiting for the next request.
const REQUESTS: usize = 2000;
const BATCH: usize = 100;

/// Swaps two names until told to stop (or a bound of exchanges is reached); counts the swaps.
struct Swapper {
    stop: Arc<AtomicBool>,
    swaps: Arc<AtomicU64>,
    thread: Option<JoinHandle<()>>,
}

impl Swapper {
    fn start(a: PathBuf, b: PathBuf) -> Swapper {
        let stop = Arc::new(AtomicBool::new(false));
        let swaps = Arc::new(AtomicU64::new(0));
        let thread = thread::spawn({
            let (stop, swaps) = (Arc::clone(&stop), Arc::clone(&swaps));
            move || {
                for _ in 0..50_000_000u64 {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    renameat_with(CWD, &a, CWD, &b, RenameFlags::EXCHANGE).expect("exchange");
                    swaps.fetch_add(1, Ordering::Relaxed);
                }
            }
        });
        Swapper {
            stop,
            swaps,
            thread: Some(thread),
        }
    }

    /// Stops the thread; returns how many swaps it made.
    fn finish(mut self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            t.join().expect("swapper");
        }
        self.swaps.load(Ordering::Relaxed)
    }
}

impl Drop for Swapper {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn fifo(path: &Path) {
    mknodat(CWD, path, FileType::Fifo, Mode::from_raw_mode(0o644), 0).expect("mkfifo");
}

#[test]
fn a_fifo_swapped_with_a_file_never_blocks_the_loop() {
    let root = tempfile::tempdir().unwrap();
    fs::write(root.path().join("f"), b"a regular file").unwrap();
    fifo(&root.path().join("standing.fifo"));
    fifo(&root.path().join(".other"));
    // The cache would answer from memory and never open the name again.
    let server = http::start(root.path(), &["--file-cache", "0"]);
    let addr = server.tcp("http");

    // A FIFO that stays put: refused, and the loop goes on.
    assert_eq!(http::get(addr, "/standing.fifo").status, 403);

    let swapper = Swapper::start(root.path().join("f"), root.path().join(".other"));
    let mut c = Conn::open(addr);
    let mut seen = [0usize; 2];
    for i in 0..REQUESTS / BATCH {
        c.send(&b"GET /f HTTP/1.1\r\nHost: t\r\n\r\n".repeat(BATCH));
        for _ in 0..BATCH {
            // A blocked loop would leave this read to time out (10 s) and fail the test.
            let r = c.response();
            match r.status {
                200 => {
                    assert_eq!(r.body, b"a regular file");
                    seen[0] += 1;
                }
                403 => seen[1] += 1,
                other => panic!("batch {i}: {other} {:?}", r.text()),
            }
        }
    }
    let swaps = swapper.finish();
    // Another connection is answered too.
    assert_eq!(http::get(addr, "/plain").status, 200);
    assert!(swaps > 0, "the names were swapped");
    eprintln!("{swaps} swaps; {} answered 200, {} 403", seen[0], seen[1]);
}

#[test]
fn a_directory_swapped_with_a_symlink_never_serves_outside_the_root() {
    const SECRET: &[u8] = b"outside the root";
    let base = tempfile::tempdir().unwrap();
    let root = base.path().join("root");
    let outside = base.path().join("outside");
    fs::create_dir_all(root.join("d")).unwrap();
    fs::create_dir_all(&outside).unwrap();
    fs::write(root.join("d/secret.txt"), b"inside").unwrap();
    fs::write(outside.join("secret.txt"), SECRET).unwrap();
    // One absolute and one relative way out, swapped in turn with the real directory.
    std::os::unix::fs::symlink(&outside, root.join(".abs")).unwrap();
    std::os::unix::fs::symlink("../outside", root.join(".rel")).unwrap();
    let server = http::start(&root, &["--file-cache", "0"]);
    let addr = server.tcp("http");

    let mut served = 0;
    for link in [".abs", ".rel"] {
        let swapper = Swapper::start(root.join("d"), root.join(link));
        let mut c = Conn::open(addr);
        for i in 0..REQUESTS / 2 / BATCH {
            c.send(&b"GET /d/secret.txt HTTP/1.1\r\nHost: t\r\n\r\n".repeat(BATCH));
            for _ in 0..BATCH {
                let r = c.response();
                assert!(
                    !r.body.windows(SECRET.len()).any(|w| w == SECRET),
                    "batch {i} through {link} served the file outside the root"
                );
                match r.status {
                    200 => served += 1,
                    403 | 404 => {}
                    other => panic!("batch {i}: {other} {:?}", r.text()),
                }
            }
        }
        let swaps = swapper.finish();
        assert!(swaps > 0);
        // Leave `d` as the directory for the next round.
        if !fs::symlink_metadata(root.join("d")).unwrap().is_dir() {
            renameat_with(
                CWD,
                root.join("d"),
                CWD,
                root.join(link),
                RenameFlags::EXCHANGE,
            )
            .unwrap();
        }
    }
    eprintln!("{served} of {REQUESTS} answered from inside");
}

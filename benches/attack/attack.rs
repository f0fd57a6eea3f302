//! The attack scenario runner's measuring half: runs ONE attack against a server that is
//! already listening, while a well-behaved client keeps asking for a tiny answer and the
//! server's RSS is sampled; prints one markdown table row. `benches/attack/run.sh` starts the
//! servers (evserve, nginx), prepares the files and calls this once per (server, attack); the
//! method and the figures are in docs/fairness.md.
//!
//! ```text
//! attack prepare ROOT ENTRIES        # ROOT/plain.txt, ROOT/big.bin (20 MiB), ROOT/dir/ (ENTRIES files)
//! attack run --server evserve --addr 127.0.0.1:18190 --pids 1234 --attack slow-body \
//!            [--scale 1] [--duration 25] [--after 10] [--good /plain] \
//!            [--chat 127.0.0.1:18690] [--udp 127.0.0.1:18690] [--h2 127.0.0.1:18690]
//! ```
//!
//! Timeline of `run`: one RSS sample (idle); then the attack, the good client and the RSS
//! sampler (every 100 ms) start together; the attack ends after `--duration` seconds (or when
//! a one-shot attack is done) and closes all its sockets; the good client stops with it; the
//! sampler goes on for `--after` seconds. The row gives the good client's latency over the
//! attack (p50/p99/max of every attempt, failures included), its failures by kind, the
//! RSS (summed over `--pids`) idle, at its peak, and at the end of the `--after` window, and
//! the CPU time the server and this runner (attack and good client) spent during the attack:
//!
//! ```text
//! | server | attack | what the attack did | CPU s server / runner | good client: requests | p50 | p99 | max | failures | RSS idle | RSS peak | RSS after |
//! ```
//!
//! The attacks (sizes at `--scale 1`; each count is multiplied by the scale):
//!
//! | name | what |
//! | --- | --- |
//! | `none` | no attack: the control row, the good client alone |
//! | `slow-body` | 250 connections `POST /echo`, `Content-Length: 4096`, 3 body bytes every 5 s; reopened when closed |
//! | `slow-read` | 2,000 connections `GET /big.bin` (20 MiB) and never read; reopened when closed |
//! | `listing` | 20 connections `GET /dir/` (ROOT/dir has ENTRIES entries) in a loop, reading each answer |
//! | `chunked-echo` | 30 connections `POST /echo` of 16 MiB chunked, sent as fast as taken, answer never read |
//! | `burst` | 2,000 connections `GET /big.bin` at once, each read to the end; the attack ends when all are done |
//! | `pipelined` | 200 connections each pipelining 64 `GET /big.bin` in one write, never reading; reopened when closed |
//! | `chat` | 1,000 members of the `--chat` room reading everything, and 4 more sending lines as fast as the server takes them |
//! | `udp-flood` | 100,000 datagrams a second of 512 bytes to the `--udp` echo, from one socket that never reads the echoes |
//!
//! | `h2-rapid-reset` | 10 h2c connections: `GET /big.bin` then `RST_STREAM(CANCEL)`, again and again (CVE-2023-44487) |
//! | `h2-continuation` | 10 h2c connections: a header block that never ends, CONTINUATION after CONTINUATION (CVE-2024-27983) |
//! | `h2-ping` | 10 h2c connections: PING frames as fast as taken, acknowledgements never read |
//! | `h2-settings` | 10 h2c connections: SETTINGS frames as fast as taken, acknowledgements never read |
//! | `h2-empty-data` | 10 h2c connections: a `POST /echo` stream, then empty DATA frames on it |
//! | `h2-zero-window` | 200 h2c connections: initial window 0, 100 `GET /big.bin` each, never a WINDOW_UPDATE |
//! | `h2-no-end` | 200 h2c connections: 100 `POST /echo` streams each, one byte, never END_STREAM |
//!
//! `chat` and `udp-flood` need `--chat` and `--udp` (evserve only: nginx serves neither). The
//! `h2-*` attacks (frames by hand: `h2.rs`) go to `--h2`, by default `--addr`: nginx 1.22
//! serves h2c on a listener of its own, where evserve recognises the preface on its HTTP port.

mod good;
mod h2;
mod swarm;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use swarm::{Again, Body, Plan, Reading};

/// The body of `/plain` (evserve) and of `plain.txt` (nginx).
const PLAIN: &[u8] = b"Hello, World!";
/// The size of `big.bin`.
const BIG: usize = 20 * 1024 * 1024;
/// The good client's pause between two requests.
const PAUSE: Duration = Duration::from_millis(10);
/// The good client's limit per request: longer than any stall measured so far (4.9 s), so
/// that a stall shows as its length rather than as a timeout.
const TIMEOUT: Duration = Duration::from_secs(10);
/// Between two RSS samples.
const SAMPLE: Duration = Duration::from_millis(100);

type Fallible<T> = Result<T, Box<dyn std::error::Error>>;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("prepare") => prepare(&args[1..]),
        Some("run") => run(&args[1..]),
        _ => Err(
            "usage: attack prepare ROOT ENTRIES | attack run --server NAME \
                  --addr HOST:PORT --pids PID[,PID] --attack NAME [--scale F] [--duration S] \
                  [--after S] [--good PATH] [--h2 HOST:PORT]"
                .into(),
        ),
    };
    if let Err(e) = result {
        eprintln!("attack: {e}");
        std::process::exit(1);
    }
}

/// Writes the files both servers serve.
fn prepare(args: &[String]) -> Fallible<()> {
    let [root, entries] = args else {
        return Err("usage: attack prepare ROOT ENTRIES".into());
    };
    let entries: usize = entries
        .parse()
        .map_err(|_| format!("bad ENTRIES '{entries}'"))?;
    let root = std::path::Path::new(root);
    std::fs::write(root.join("plain.txt"), PLAIN)?;
    // Varied bytes, so nothing along the way could shortcut zeros.
    let big: Vec<u8> = (0..BIG).map(|i| (i * 7 + i / 4096) as u8).collect();
    std::fs::write(root.join("big.bin"), big)?;
    let dir = root.join("dir");
    std::fs::create_dir_all(&dir)?;
    // ~40-byte names: a listing of 100,000 is ~9.5 MB, as in issue 11.
    for i in 0..entries {
        std::fs::File::create(dir.join(format!("entry-{i:06}-of-a-large-directory.txt")))?;
    }
    Ok(())
}

/// Where a swarm's connections go.
#[derive(Clone, Copy)]
enum Target {
    /// The HTTP listener (`--addr`).
    Http,
    /// The chat listener (`--chat`).
    Chat,
}

/// An attack: swarms of TCP connections, each at its target, and a UDP flood (datagrams a
/// second, 0 for none).
struct Attack {
    swarms: Vec<(Target, Plan)>,
    udp_rate: u64,
    h2: Option<h2::H2Attack>,
}

/// The attack `name` at `scale`.
fn attack(name: &str, scale: f64) -> Fallible<Attack> {
    let n = |full: usize| ((full as f64 * scale).round() as usize).max(1);
    let hold = Duration::from_millis(500);
    if let Some(h2) = h2::H2Attack::parse(name) {
        return Ok(Attack {
            swarms: Vec::new(),
            udp_rate: 0,
            h2: Some(h2),
        });
    }
    let (swarms, udp_rate) = match name {
        "pipelined" => {
            let one = b"GET /big.bin HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
            let plan = Plan {
                conns: n(200),
                head: one.repeat(64),
                body: Body::None,
                reading: Reading::Never,
                again: Again::Reconnect,
                backoff: hold,
            };
            (vec![(Target::Http, plan)], 0)
        }
        "chat" => {
            let members = Plan {
                conns: n(1000),
                head: Vec::new(),
                body: Body::None,
                reading: Reading::ToEof,
                again: Again::Reconnect,
                backoff: hold,
            };
            let senders = Plan {
                conns: n(4),
                head: Vec::new(),
                body: Body::Repeat(b"a line for a thousand members, again and again\n".to_vec()),
                reading: Reading::ToEof,
                again: Again::Reconnect,
                backoff: hold,
            };
            (vec![(Target::Chat, members), (Target::Chat, senders)], 0)
        }
        "udp-flood" => (Vec::new(), (100_000.0 * scale).round() as u64),
        other => (vec![(Target::Http, plan(other, scale)?)], 0),
    };
    Ok(Attack {
        swarms,
        udp_rate,
        h2: None,
    })
}

/// Sends `rate` datagrams a second of [`DATAGRAM`] bytes to `to` until `until`, in a burst
/// every millisecond; returns how many were sent.
fn udp_flood(to: SocketAddr, rate: u64, until: Instant) -> std::io::Result<u64> {
    let socket = std::net::UdpSocket::bind("127.0.0.1:0")?;
    let payload = vec![b'u'; DATAGRAM];
    let start = Instant::now();
    let mut sent = 0u64;
    while Instant::now() < until {
        let due = (start.elapsed().as_secs_f64() * rate as f64) as u64;
        while sent < due {
            // A full socket buffer drops datagrams on loopback rather than blocking: count
            // only what was taken.
            if socket.send_to(&payload, to).is_ok() {
                sent += 1;
            } else {
                break;
            }
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    Ok(sent)
}

/// The size of a `udp-flood` datagram.
const DATAGRAM: usize = 512;

/// The plan of the HTTP attack `name` at `scale`.
fn plan(name: &str, scale: f64) -> Fallible<Plan> {
    let n = |full: usize| ((full as f64 * scale).round() as usize).max(1);
    let get = |path: &str, close: bool| {
        let c = if close { "Connection: close\r\n" } else { "" };
        format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{c}\r\n").into_bytes()
    };
    let post = |framing: &str| {
        format!(
            "POST /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/octet-stream\r\n{framing}\r\n\r\n"
        )
        .into_bytes()
    };
    let hold = Duration::from_millis(500);
    Ok(match name {
        // The control: the good client alone, for the machine's own noise.
        "none" => Plan {
            conns: 0,
            head: Vec::new(),
            body: Body::None,
            reading: Reading::Never,
            again: Again::Once,
            backoff: hold,
        },
        "slow-body" => Plan {
            conns: n(250),
            head: post("Content-Length: 4096"),
            body: Body::Trickle {
                len: 4096,
                every: Duration::from_secs(5),
                bytes: 3,
            },
            reading: Reading::Never,
            again: Again::Reconnect,
            backoff: hold,
        },
        "slow-read" => Plan {
            conns: n(2000),
            head: get("/big.bin", false),
            body: Body::None,
            reading: Reading::Never,
            again: Again::Reconnect,
            backoff: hold,
        },
        "listing" => Plan {
            conns: n(20),
            head: get("/dir/", true),
            body: Body::None,
            reading: Reading::ToEof,
            again: Again::Reconnect,
            backoff: Duration::ZERO,
        },
        "chunked-echo" => Plan {
            conns: n(30),
            head: post("Transfer-Encoding: chunked"),
            body: Body::Chunked {
                len: 16 * 1024 * 1024,
            },
            reading: Reading::Never,
            again: Again::Reconnect,
            backoff: hold,
        },
        "burst" => Plan {
            conns: n(2000),
            head: get("/big.bin", true),
            body: Body::None,
            reading: Reading::ToEof,
            again: Again::Once,
            backoff: hold,
        },
        other => {
            return Err(format!(
                "unknown attack '{other}' (none, slow-body, slow-read, listing, chunked-echo, \
                 burst, pipelined, chat, udp-flood, h2-rapid-reset, h2-continuation, h2-ping, \
                 h2-settings, h2-empty-data, h2-zero-window, h2-no-end)"
            )
            .into());
        }
    })
}

/// The VmRSS of `pids` summed, in KiB; `None` once one of them is gone.
fn rss(pids: &[u32]) -> Option<u64> {
    let mut total = 0;
    for pid in pids {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
        total += line.split_whitespace().nth(1)?.parse::<u64>().ok()?;
    }
    Some(total)
}

/// User + system CPU time of `pids` (or `self`) so far, in seconds; 0 for one that is gone.
fn cpu(pids: &[String]) -> f64 {
    // /proc/PID/stat counts in USER_HZ, which is 100 on Linux whatever the kernel's HZ.
    let ticks = |pid: &String| -> Option<u64> {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        // Fields after the command name, which may hold spaces: state is the first,
        // utime and stime are the 12th and 13th.
        let rest = &stat[stat.rfind(')')? + 1..];
        let mut f = rest.split_whitespace().skip(11);
        Some(f.next()?.parse::<u64>().ok()? + f.next()?.parse::<u64>().ok()?)
    };
    pids.iter().filter_map(ticks).sum::<u64>() as f64 / 100.0
}

fn run(args: &[String]) -> Fallible<()> {
    let mut server = None;
    let mut addr = None;
    let mut pids = Vec::new();
    let mut attack = None;
    let mut scale = 1.0;
    let mut duration = 25.0;
    let mut after = 10.0;
    let mut good_path = "/plain".to_string();
    let mut chat = None;
    let mut udp = None;
    let mut h2_addr = None;
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let bad = |what: &str| format!("bad {what} '{value}'");
        match flag.as_str() {
            "--server" => server = Some(value.clone()),
            "--addr" => addr = Some(value.parse::<SocketAddr>().map_err(|_| bad("--addr"))?),
            "--pids" => {
                for p in value.split(',') {
                    pids.push(p.parse::<u32>().map_err(|_| bad("--pids"))?);
                }
            }
            "--attack" => attack = Some(value.clone()),
            "--scale" => scale = value.parse().map_err(|_| bad("--scale"))?,
            "--duration" => duration = value.parse().map_err(|_| bad("--duration"))?,
            "--after" => after = value.parse().map_err(|_| bad("--after"))?,
            "--good" => good_path = value.clone(),
            "--chat" => chat = Some(value.parse::<SocketAddr>().map_err(|_| bad("--chat"))?),
            "--udp" => udp = Some(value.parse::<SocketAddr>().map_err(|_| bad("--udp"))?),
            "--h2" => h2_addr = Some(value.parse::<SocketAddr>().map_err(|_| bad("--h2"))?),
            other => return Err(format!("unknown flag '{other}'").into()),
        }
    }
    let (Some(server), Some(addr), Some(attack)) = (server, addr, attack) else {
        return Err("--server, --addr, --pids and --attack are required".into());
    };
    if pids.is_empty() {
        return Err("--pids is required".into());
    }
    let plan = self::attack(&attack, scale)?;
    let needs_chat = plan.swarms.iter().any(|(t, _)| matches!(t, Target::Chat));
    if needs_chat && chat.is_none() || plan.udp_rate > 0 && udp.is_none() {
        return Err(format!("the {attack} attack needs --chat and --udp").into());
    }
    let idle = rss(&pids).ok_or("the server is not running (no /proc/PID/status)")?;

    // The RSS sampler: every SAMPLE until told to stop; None marks the server gone.
    let stop_sampling = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (stop, pids) = (stop_sampling.clone(), pids.clone());
        std::thread::spawn(move || {
            let mut samples = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let s = rss(&pids);
                samples.push(s);
                if s.is_none() {
                    break;
                }
                std::thread::sleep(SAMPLE);
            }
            samples
        })
    };
    let stop_good = Arc::new(AtomicBool::new(false));
    let good = {
        let stop = stop_good.clone();
        std::thread::spawn(move || good::run(addr, &good_path, PLAIN, PAUSE, TIMEOUT, stop))
    };

    let server_pids: Vec<String> = pids.iter().map(u32::to_string).collect();
    let me = vec!["self".to_string()];
    let (server_cpu, my_cpu) = (cpu(&server_pids), cpu(&me));
    let start = Instant::now();
    let until = start + Duration::from_secs_f64(duration);
    let flood = match (plan.udp_rate, udp) {
        (rate, Some(to)) if rate > 0 => {
            Some(std::thread::spawn(move || udp_flood(to, rate, until)))
        }
        _ => None,
    };
    // Every swarm in a thread of its own, all at once.
    let swarms: Vec<_> = plan
        .swarms
        .into_iter()
        .map(|(target, plan)| {
            let to = match target {
                Target::Http => addr,
                Target::Chat => chat.expect("checked above"),
            };
            std::thread::spawn(move || swarm::run(to, &plan, until))
        })
        .collect();
    let h2 = plan.h2.map(|kind| {
        let to = h2_addr.unwrap_or(addr);
        std::thread::spawn(move || h2::run(to, kind, scale, until))
    });
    let mut tally = swarm::Tally::default();
    if let Some(h2) = h2 {
        tally.merge(h2.join().map_err(|_| "the HTTP/2 attack panicked")?);
    }
    for s in swarms {
        tally.merge(s.join().map_err(|_| "a swarm panicked")??);
    }
    if let Some(flood) = flood {
        tally.datagrams = flood.join().map_err(|_| "the UDP flood panicked")??;
    }
    let attacked = start.elapsed();
    let (server_cpu, my_cpu) = (cpu(&server_pids) - server_cpu, cpu(&me) - my_cpu);
    stop_good.store(true, Ordering::Relaxed);
    let record = good.join().map_err(|_| "the good client panicked")?;
    std::thread::sleep(Duration::from_secs_f64(after));
    stop_sampling.store(true, Ordering::Relaxed);
    let samples = sampler.join().map_err(|_| "the RSS sampler panicked")?;

    let mib = |kib: u64| format!("{:.0} MiB", kib as f64 / 1024.0);
    let peak = samples.iter().flatten().max().copied().unwrap_or(idle);
    let end = match samples.last() {
        Some(Some(kib)) => mib(*kib),
        _ => "**server exited**".into(),
    };
    let ms = |d: Option<Duration>| match d {
        Some(d) => format!("{:.1} ms", d.as_secs_f64() * 1e3),
        None => "–".into(),
    };
    println!(
        "| {server} | {attack} | {} ({:.0} s) | {server_cpu:.1} / {my_cpu:.1} | {} | {} | {} | {} | {} | {} | {} | {end} |",
        tally.summary(),
        attacked.as_secs_f64(),
        record.attempts.len(),
        ms(record.quantile(0.5)),
        ms(record.quantile(0.99)),
        ms(record.quantile(1.0)),
        record.failures(),
        mib(idle),
        mib(peak),
    );
    Ok(())
}

//! The test scaffolding, once for every test: spawning the real `evserve` binary and finding
//! what it bound (here), a reactor inside the test process ([`inproc`]), an HTTP/1.1 client
//! and response reader ([`http`]), and TLS clients ([`tls`]).
//!
//! Every test binds port 0 and learns the real port from the `listening <service> <proto>
//! <addr>` log lines, so tests run in parallel without colliding. Scenarios wait for events
//! (a log line, [`Server::wait_log`]; a counter, [`inproc::wait_until`]), never for a sleep.

#![allow(dead_code)] // each test file uses a different part of this module

pub mod http;
pub mod inproc;
pub mod tls;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant, SystemTime};

/// A running `evserve serve` child process.
pub struct Server {
    child: Child,
    listening: Vec<(String, String, SocketAddr)>,
    log: mpsc::Receiver<String>,
}

impl Server {
    /// Starts `evserve serve ARGS...` and waits until `listeners` addresses are bound.
    pub fn start(args: &[&str], listeners: usize) -> Server {
        Server::start_logging(args, listeners, "info")
    }

    /// Like [`Server::start`], with `RUST_LOG` set to `log_level`.
    pub fn start_logging(args: &[&str], listeners: usize, log_level: &str) -> Server {
        Server::spawn(&[&["serve"], args].concat(), listeners, log_level)
    }

    /// Runs `evserve ARGS...` (any subcommand) and waits for `listeners` bound addresses.
    pub fn spawn(args: &[&str], listeners: usize, log_level: &str) -> Server {
        Server::spawn_command(
            Command::new(env!("CARGO_BIN_EXE_evserve")),
            args,
            listeners,
            log_level,
        )
    }

    /// Starts `evserve serve ARGS...` with `vars` added to its environment.
    pub fn start_with_env(args: &[&str], listeners: usize, vars: &[(&str, &str)]) -> Server {
        let mut command = Command::new(env!("CARGO_BIN_EXE_evserve"));
        command.arg("serve").envs(vars.iter().copied());
        Server::spawn_command(command, args, listeners, "info")
    }

    /// Runs `evserve serve ARGS...` with at most `limit` open file descriptors.
    pub fn start_with_fd_limit(args: &[&str], listeners: usize, limit: u32) -> Server {
        let mut sh = Command::new("sh");
        sh.arg("-c")
            .arg(format!("ulimit -n {limit} && exec \"$0\" \"$@\""))
            .arg(env!("CARGO_BIN_EXE_evserve"))
            .arg("serve");
        Server::spawn_command(sh, args, listeners, "info")
    }

    fn spawn_command(
        mut command: Command,
        args: &[&str],
        listeners: usize,
        log_level: &str,
    ) -> Server {
        let mut child = command
            .args(args)
            .env("RUST_LOG", log_level)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn evserve");
        let stderr = child.stderr.take().expect("stderr");
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                eprintln!("[server] {line}");
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut server = Server {
            child,
            listening: Vec::new(),
            log: rx,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while server.listening.len() < listeners {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = server
                .log
                .recv_timeout(left)
                .expect("server did not report its listeners in time");
            if let Some(rest) = line.split("listening ").nth(1) {
                let parts: Vec<&str> = rest.split_whitespace().collect();
                if let [name, proto, addr] = parts[..] {
                    let addr = addr.parse().expect("bound address");
                    server
                        .listening
                        .push((name.to_string(), proto.to_string(), addr));
                }
            }
        }
        server
    }

    /// The server's process id (to read its memory use from `/proc`).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The address the service `name` bound over `proto` ("tcp" or "udp").
    pub fn addr(&self, name: &str, proto: &str) -> SocketAddr {
        self.listening
            .iter()
            .find(|(n, p, _)| n == name && p == proto)
            .map(|(_, _, a)| *a)
            .unwrap_or_else(|| panic!("no {name} {proto} listener in {:?}", self.listening))
    }

    /// Every address bound, as `(service, transport, address)`, in log order.
    pub fn listening(&self) -> &[(String, String, SocketAddr)] {
        &self.listening
    }

    /// The TCP address of `name`.
    pub fn tcp(&self, name: &str) -> SocketAddr {
        self.addr(name, "tcp")
    }

    /// Waits up to `within` for a log line containing `needle`.
    pub fn wait_log(&self, needle: &str, within: Duration) -> Option<String> {
        let deadline = Instant::now() + within;
        loop {
            let left = deadline.checked_duration_since(Instant::now())?;
            match self.log.recv_timeout(left) {
                Ok(line) if line.contains(needle) => return Some(line),
                Ok(_) => {}
                Err(_) => return None,
            }
        }
    }

    /// Sends SIGTERM.
    pub fn terminate(&self) {
        self.signal("-TERM");
    }

    /// Sends SIGINT, as Ctrl-C in a terminal does.
    pub fn interrupt(&self) {
        self.signal("-INT");
    }

    /// Sends SIGHUP, as `systemctl reload` does.
    pub fn hangup(&self) {
        self.signal("-HUP");
    }

    fn signal(&self, which: &str) {
        let status = Command::new("kill")
            .args([which, &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success());
    }

    /// Waits for the process to exit, up to `within`.
    pub fn wait_exit(&mut self, within: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return Some(status);
            }
            thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Sends SIGINT to `child` (an `evserve load` with its stdout piped), as Ctrl-C would, and
/// waits up to `within` for it to exit; returns its exit status and what it printed. Past
/// `within` the child is killed and the test fails.
pub fn interrupt_child(child: &mut Child, within: Duration) -> (ExitStatus, String) {
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("run kill");
    assert!(status.success());
    let deadline = Instant::now() + within;
    let status = loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("still running {within:?} after SIGINT");
        }
        thread::sleep(Duration::from_millis(20));
    };
    let mut stdout = String::new();
    if let Some(mut out) = child.stdout.take() {
        std::io::Read::read_to_string(&mut out, &mut stdout).expect("read stdout");
    }
    (status, stdout)
}

/// Deterministic pseudo-random bytes (xorshift), so failures reproduce.
pub fn pattern(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// The names in a directory, hidden ones included (temporary uploads are hidden), sorted; none
/// if it does not exist.
pub fn names_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// Creates an empty file `name` in `dir` last modified `age` ago (a crash's leftover).
pub fn aged_file(dir: &Path, name: &str, age: Duration) {
    let file = std::fs::File::create(dir.join(name)).unwrap();
    file.set_modified(SystemTime::now() - age).unwrap();
}

/// A process's resident memory in bytes (`VmRSS` in `/proc/PID/status`).
pub fn rss_bytes(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .expect("VmRSS in /proc/PID/status");
    let kib: u64 = line
        .split_whitespace()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .expect("a VmRSS number");
    kib * 1024
}

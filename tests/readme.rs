//! The README's demos, run as written, so the README cannot drift from the program.
//!
//! Every ```` ```console ```` block of README.md is a script: a line starting with `$ ` is a
//! command (a trailing `\` continues it on the next line, as in a shell), and the lines after
//! it, up to the next command, are output it must print: each expected line must equal a
//! line printed, where `…` stands for any text. A command must exit 0. A command ending in
//! `&` is a server: it is started with its log captured, and the next command waits until
//! it has logged as many `listening` lines as it has services. `evserve` is the binary cargo
//! built. Servers are stopped with SIGINT at the end and must exit 0, as the README says.
//!
//! The demos use fixed ports (7007, 7008, 8080, 8443, 7108-7110, 7207) and paths in `/tmp`, as
//! a person would. So that a server the reader left running, or a second `cargo test` beside
//! this one, cannot collide with them, and the reader's own `/tmp/evserve-inbox` does not fill
//! with test files, the demos run in namespaces of their own (`unshare`: a network with only
//! its own loopback, and a private `/tmp` unless the checkout itself is under `/tmp`). Where namespaces cannot be made, they run on the
//! host's loopback: a lock file then serialises concurrent runs, and a port already taken
//! fails the test, saying so. They need `nc` (netcat-openbsd), `socat`, `curl` and `python3`;
//! a missing tool fails the test loudly.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// One `$` command and the output lines shown under it.
#[derive(Debug)]
struct Step {
    command: String,
    expect: Vec<String>,
}

/// The console blocks of `text`, in order.
fn console_blocks(text: &str) -> Vec<Vec<Step>> {
    let mut blocks = Vec::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        if line.trim() != "```console" {
            continue;
        }
        let mut steps: Vec<Step> = Vec::new();
        let mut continued = false;
        for line in lines.by_ref() {
            if line.trim() == "```" {
                break;
            }
            if continued {
                let step = steps.last_mut().expect("a continued command");
                step.command.push('\n');
                step.command.push_str(line);
                continued = line.ends_with('\\');
            } else if let Some(command) = line.strip_prefix("$ ") {
                steps.push(Step {
                    command: command.to_string(),
                    expect: Vec::new(),
                });
                continued = command.ends_with('\\');
            } else if let Some(step) = steps.last_mut() {
                step.expect.push(line.to_string());
            }
        }
        blocks.push(steps);
    }
    blocks
}

/// Whether `line` matches `pattern`, where `…` stands for any text.
fn matches(pattern: &str, line: &str) -> bool {
    let mut parts = pattern.split('…');
    let first = parts.next().unwrap_or_default();
    let Some(mut rest) = line.strip_prefix(first) else {
        return false;
    };
    let parts: Vec<&str> = parts.collect();
    for (i, part) in parts.iter().enumerate() {
        if i + 1 == parts.len() {
            return rest.ends_with(part);
        }
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    rest.is_empty()
}

/// The command without its trailing comment (`# ...` after two spaces or more).
fn strip_comment(command: &str) -> &str {
    match command.find("  #") {
        Some(at) if !command[..at].ends_with('\\') => command[..at].trim_end(),
        _ => command.trim_end(),
    }
}

/// A `bash` running `script` with the built `evserve` first on the PATH, in the repository.
fn shell(script: &str) -> Command {
    let bin = Path::new(env!("CARGO_BIN_EXE_evserve"))
        .parent()
        .expect("binary directory")
        .to_path_buf();
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut dirs = vec![bin];
    dirs.extend(std::env::split_paths(&path));
    let mut sh = Command::new("bash");
    sh.arg("-c")
        .arg(script)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("PATH", std::env::join_paths(dirs).expect("PATH"))
        .env("RUST_LOG", "info")
        .stdin(Stdio::null());
    sh
}

/// A server started by a `&` command.
struct Background {
    command: String,
    child: Child,
    log: mpsc::Receiver<String>,
    lines: Vec<String>,
    stopped: bool,
}

impl Drop for Background {
    /// A failed test must not leave a server holding the README's ports.
    fn drop(&mut self) {
        if !self.stopped {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

impl Background {
    fn start(command: &str) -> Background {
        // `exec`, so that the child is evserve itself and receives our SIGINT.
        let mut child = shell(&format!("exec {command}"))
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("bash");
        let stderr = child.stderr.take().expect("stderr");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                eprintln!("[readme server] {line}");
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let flags = [
            "--echo",
            "--udp-echo",
            "--framed",
            "--chat",
            "--files",
            "--http",
            "--https",
            "--tls-echo",
            "--tls-framed",
            "--tls-chat",
            "--tls-files",
        ];
        let services = command
            .split_whitespace()
            .filter(|w| flags.contains(w))
            .count();
        // No service flag: echo over TCP and UDP, framed and HTTP.
        let want = if services == 0 { 4 } else { services };
        let mut server = Background {
            command: command.to_string(),
            child,
            log: rx,
            lines: Vec::new(),
            stopped: false,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while server
            .lines
            .iter()
            .filter(|l| l.contains("listening "))
            .count()
            < want
        {
            let left = deadline.saturating_duration_since(Instant::now());
            match server.log.recv_timeout(left) {
                Ok(line) => server.lines.push(line),
                Err(_) => panic!(
                    "`{command}` did not start (are the README's ports free?): {:#?}",
                    server.lines
                ),
            }
        }
        server
    }

    /// SIGINT, then the exit status, which must be success.
    fn stop(mut self) {
        self.stopping();
    }

    fn stopping(&mut self) {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill").args(["-INT", &pid]).status();
        assert!(sent.is_ok_and(|s| s.success()), "kill -INT {pid}");
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                self.stopped = true;
                assert!(status.success(), "`{}` exited with {status}", self.command);
                return;
            }
            // Waiting on the log is waiting on the process: its stderr closes when it exits.
            let left = deadline.saturating_duration_since(Instant::now());
            match self.log.recv_timeout(left.min(Duration::from_millis(100))) {
                Ok(line) => self.lines.push(line),
                Err(mpsc::RecvTimeoutError::Disconnected) => {}
                Err(mpsc::RecvTimeoutError::Timeout) if left.is_zero() => {
                    let _ = self.child.kill();
                    panic!("`{}` did not stop on SIGINT", self.command);
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
            }
        }
    }
}

#[test]
fn the_patterns_of_expected_output() {
    assert!(matches(
        "sent a: … bytes in … s",
        "sent a: 12 bytes in 0.1 s"
    ));
    assert!(matches("HTTP/1.1 200 OK", "HTTP/1.1 200 OK"));
    assert!(!matches("HTTP/1.1 200 OK", "HTTP/1.1 200 OKAY"));
    assert!(matches("x…", "xyz"));
    assert!(!matches("a…c", "abd"));
    let blocks =
        console_blocks("```console\n$ a \\\n  b  # note\nout\n$ c &\n```\n```text\n$ d\n```");
    assert_eq!(blocks.len(), 1);
    assert_eq!(blocks[0][0].command, "a \\\n  b  # note");
    assert_eq!(blocks[0][0].expect, ["out"]);
    assert_eq!(strip_comment(&blocks[0][1].command), "c &");
}

/// The README's fixed ports are shared by every `cargo test` on the machine: two suites run
/// side by side (as when hunting a flaky test) take turns here instead of colliding. The lock
/// is released when the file is dropped, or when the process dies.
fn readme_ports_lock() -> std::fs::File {
    let path = std::env::temp_dir().join("evserve-readme-ports.lock");
    let file = std::fs::File::create(&path).expect("lock file");
    file.lock().expect("lock the README ports");
    file
}

/// Set in the copy of this test that runs inside the private namespaces.
const INSIDE: &str = "EVSERVE_README_INSIDE";

/// Reruns the demo test inside a new user, network and mount namespace, with its loopback up
/// and a fresh `/tmp`, and returns its exit status; `None` where such namespaces cannot be
/// made here (unprivileged user namespaces turned off, no `unshare` or `ip`).
fn run_in_private_namespaces() -> Option<std::process::ExitStatus> {
    let me = std::env::current_exe().expect("the test binary");
    // A checkout (or a target directory) under /tmp would vanish under a fresh /tmp: keep the
    // host's /tmp then, and only the network private.
    let under_tmp = |p: &Path| p.starts_with("/tmp");
    let private_tmp = !under_tmp(&me) && !under_tmp(Path::new(env!("CARGO_MANIFEST_DIR")));
    let setup = if private_tmp {
        "ip link set lo up && mount -t tmpfs evserve-readme /tmp"
    } else {
        "ip link set lo up"
    };
    let unshare = |script: &str| {
        let mut command = Command::new("unshare");
        command.args([
            "--user",
            "--map-root-user",
            "--net",
            "--mount",
            "--",
            "sh",
            "-c",
        ]);
        command.arg(script);
        command
    };
    let probe = unshare(setup)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    if !probe.is_ok_and(|s| s.success()) {
        eprintln!("no private namespaces here: the README demos run on the host's loopback");
        return None;
    }
    let status = unshare(&format!("{setup} && exec \"$0\" \"$@\""))
        .arg(me)
        .args([
            "--exact",
            "every_console_demo_in_the_readme_works",
            "--nocapture",
        ])
        .env(INSIDE, "1")
        .status()
        .expect("unshare");
    Some(status)
}

#[test]
fn every_console_demo_in_the_readme_works() {
    if std::env::var_os(INSIDE).is_none()
        && let Some(status) = run_in_private_namespaces()
    {
        assert!(
            status.success(),
            "the README demos failed: see the output above"
        );
        return;
    }
    let _ports = readme_ports_lock();
    for tool in ["nc", "socat", "curl", "python3"] {
        let found = shell(&format!("command -v {tool}")).output().expect("bash");
        assert!(
            found.status.success(),
            "the README demos need `{tool}`: sudo apt-get install netcat-openbsd socat curl python3"
        );
    }
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md"))
        .expect("README.md");
    let blocks = console_blocks(&readme);
    assert!(blocks.len() >= 4, "console blocks: {}", blocks.len());
    let mut servers = Vec::new();
    let mut ran = 0;
    for step in blocks.iter().flatten() {
        let command = strip_comment(&step.command);
        if let Some(server) = command.strip_suffix('&') {
            servers.push(Background::start(server.trim_end()));
            continue;
        }
        let out = shell(command).output().expect("bash");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success(),
            "`{command}` failed ({}):\n{stdout}\n{stderr}",
            out.status
        );
        for want in &step.expect {
            assert!(
                stdout.lines().any(|line| matches(want, line)),
                "`{command}` did not print `{want}`; it printed:\n{stdout}\n{stderr}"
            );
        }
        ran += 1;
    }
    assert!(ran >= 10, "only {ran} commands ran");
    for server in servers {
        server.stop();
    }
}

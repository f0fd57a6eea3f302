//! The binary as a person meets it: the message and the exit status of every common mistake.
//!
//! Each test runs the built `evserve` and checks what it prints — what failed, the OS reason
//! once, what to do — and how it exits. Servers bind port 0 and are found through their
//! `listening` log lines (see `tests/util`).

mod util;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use util::Server;

const WAIT: Duration = Duration::from_secs(10);

/// Runs `evserve ARGS` to its end (these runs fail at start, or are bounded by their flags).
fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_evserve"))
        .args(args)
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .output()
        .expect("run evserve")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The `evserve: ...` line of a failed run.
fn error_line(out: &Output) -> String {
    let err = stderr(out);
    err.lines()
        .find(|l| l.starts_with("evserve: ") || l.starts_with("error: "))
        .unwrap_or_else(|| panic!("no error line in: {err}"))
        .to_string()
}

#[test]
fn port_in_use_names_the_address_the_reason_once_and_a_next_step() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let out = run(&["serve", "--echo", &addr]);
    assert_eq!(out.status.code(), Some(1));
    let line = error_line(&out);
    assert_eq!(
        line,
        format!(
            "evserve: cannot listen on {addr} (--echo): Address already in use (os error 98); \
             is another evserve running? choose another port with --echo, e.g. --echo \
             127.0.0.1:0 for any free one"
        )
    );
}

#[test]
fn an_address_the_machine_lacks_says_so() {
    // 192.0.2.0/24 is TEST-NET-1: never assigned to a host.
    let out = run(&["serve", "--http", "192.0.2.1:8080"]);
    assert_eq!(out.status.code(), Some(1));
    let line = error_line(&out);
    assert!(
        line.contains("cannot listen on 192.0.2.1:8080 (--http)"),
        "{line}"
    );
    assert_eq!(line.matches("os error 99").count(), 1, "{line}");
    assert!(
        line.contains("this machine has no address 192.0.2.1"),
        "{line}"
    );
}

#[test]
fn a_bad_address_shows_the_forms_accepted() {
    let out = run(&["serve", "--echo", "127.0.0.1"]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "a usage error, as clap reports them"
    );
    let err = stderr(&out);
    assert!(err.contains("'127.0.0.1' is not an address"), "{err}");
    assert!(err.contains("e.g. 127.0.0.1:7007"), "{err}");
}

#[test]
fn a_missing_root_is_refused_at_start() {
    let out = run(&[
        "serve",
        "--http",
        "127.0.0.1:0",
        "--root",
        "/nonexistent/evserve-root",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        error_line(&out),
        "evserve: --root /nonexistent/evserve-root: No such file or directory (os error 2); \
         give the directory to serve files from, e.g. --root ."
    );
    let out = run(&["serve", "--http", "127.0.0.1:0", "--root", "Cargo.toml"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(error_line(&out).contains("--root Cargo.toml is not a directory"));
}

#[test]
fn zero_limits_are_refused_naming_the_flag() {
    for (flag, want) in [
        (
            "--idle-timeout",
            "--idle-timeout 0 would close every connection at once",
        ),
        ("--max-connections", "--max-connections must be at least 1"),
    ] {
        let out = run(&["serve", "--echo", "127.0.0.1:0", flag, "0"]);
        assert_eq!(out.status.code(), Some(1), "{flag}");
        assert!(error_line(&out).contains(want), "{}", error_line(&out));
    }
}

#[test]
fn a_missing_files_dir_is_created_and_uploads_work() {
    let tmp = tempfile::tempdir().unwrap();
    let inbox = tmp.path().join("inbox/nested");
    let inbox_arg = inbox.to_str().unwrap();
    let server = Server::start(&["--files", "127.0.0.1:0", "--files-dir", inbox_arg], 1);
    assert!(inbox.is_dir(), "--files-dir was not created");
    let file = tmp.path().join("hello.txt");
    std::fs::write(&file, b"hello\n").unwrap();
    let to = server.tcp("files").to_string();
    let out = run(&["send", file.to_str().unwrap(), "--to", &to]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(std::fs::read(inbox.join("hello.txt")).unwrap(), b"hello\n");

    // The same name again: the refusal says how to get past it.
    let out = run(&["send", file.to_str().unwrap(), "--to", &to]);
    assert_eq!(out.status.code(), Some(1));
    let line = error_line(&out);
    assert!(line.contains("refused by the server: exists"), "{line}");
    assert!(
        line.contains("--name") && line.contains("--overwrite"),
        "{line}"
    );
}

#[test]
fn a_warning_at_start_for_a_clamped_value() {
    // Warnings come before anything is bound: a taken port ends the run right after them.
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let out = run(&["serve", "--http", &addr, "--max-headers", "500"]);
    let err = stderr(&out);
    let warned: Vec<&str> = err
        .lines()
        .filter(|l| l.contains("--max-headers"))
        .collect();
    assert_eq!(warned.len(), 1, "{err}");
    assert!(
        warned[0].contains("WARN") && warned[0].contains("using 128"),
        "{err}"
    );
}

#[test]
fn send_errors_say_their_cause_once() {
    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("nope.jpg");
    let out = run(&["send", missing.to_str().unwrap(), "--to", "127.0.0.1:9"]);
    assert_eq!(out.status.code(), Some(1));
    let line = error_line(&out);
    assert!(
        line.ends_with("cannot read the file: No such file or directory (os error 2)"),
        "{line}"
    );
    assert_eq!(line.matches("No such file").count(), 1, "{line}");

    // A port nobody listens on (bound, then closed).
    let closed = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .to_string();
    let file = tmp.path().join("a.txt");
    std::fs::write(&file, b"a").unwrap();
    let out = run(&["send", file.to_str().unwrap(), "--to", &closed]);
    let line = error_line(&out);
    assert_eq!(line.matches("Connection refused").count(), 1, "{line}");
    assert!(
        line.contains("is a server running there with --files?"),
        "{line}"
    );
}

#[test]
fn a_silent_port_is_a_timeout_in_words() {
    // Accepts and never answers, as a chat or echo-less port would for a file.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let to = silent.local_addr().unwrap().to_string();
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("a.txt");
    std::fs::write(&file, b"a").unwrap();
    let out = run(&[
        "send",
        file.to_str().unwrap(),
        "--to",
        &to,
        "--timeout",
        "1s",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let line = error_line(&out);
    assert!(
        line.contains("no answer from the server within --timeout"),
        "{line}"
    );
    assert!(!line.contains("temporarily unavailable"), "{line}");
    drop(silent);
}

#[test]
fn wrong_protocol_on_a_port_is_named() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_str().unwrap();
    let server = Server::start(
        &[
            "--files",
            "127.0.0.1:0",
            "--files-dir",
            dir,
            "--framed",
            "127.0.0.1:0",
            "--http",
            "127.0.0.1:0",
            "--root",
            dir,
            "--header-timeout",
            "1s",
        ],
        3,
    );
    // An HTTP request at the files port: an HTTP answer that says what the port speaks.
    let mut s = TcpStream::connect(server.tcp("files")).unwrap();
    s.set_read_timeout(Some(WAIT)).unwrap();
    s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    assert!(
        answer.starts_with("HTTP/1.1 400 Bad Request\r\n"),
        "{answer}"
    );
    assert!(
        answer.ends_with("this port speaks the evserve files protocol (use: evserve send FILE --to HOST:PORT), not HTTP\n"),
        "{answer}"
    );

    // Text typed at the framed port: one line of text back, not a binary frame.
    let mut s = TcpStream::connect(server.tcp("framed")).unwrap();
    s.set_read_timeout(Some(WAIT)).unwrap();
    s.write_all(b"hello\n").unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    assert_eq!(
        answer,
        "ERR this port speaks evserve framed messages (a 4-byte big-endian length, then the \
         payload), not text lines\n"
    );

    // `send` at the HTTP port and at the framed echo port.
    let file = tmp.path().join("a.txt");
    std::fs::write(&file, b"a").unwrap();
    for (port, spoken) in [
        ("http", "answered in HTTP"),
        ("framed", "answered in echo (it sent our header back)"),
    ] {
        let to = server.tcp(port).to_string();
        let out = run(&["send", file.to_str().unwrap(), "--to", &to]);
        assert_eq!(out.status.code(), Some(1), "{port}");
        let line = error_line(&out);
        assert!(line.contains(spoken), "{port}: {line}");
        assert!(line.contains("not a files service"), "{line}");
    }
}

#[test]
fn the_default_address_is_not_called_a_flag() {
    // The README test serves on the default ports: take turns with it (see tests/readme.rs).
    let lock = std::fs::File::create(std::env::temp_dir().join("evserve-readme-ports.lock"))
        .expect("lock file");
    lock.lock().expect("lock the README ports");
    // Take the default HTTP port if free; if something already holds it, that is the test.
    let holder = TcpListener::bind("127.0.0.1:8080").ok();
    let out = run(&["serve", "--root", "."]);
    drop(holder);
    if out.status.success() {
        panic!("serve started although 127.0.0.1:8080 is taken");
    }
    let line = error_line(&out);
    // Whichever default port was taken first (7007, 7008 or 8080), it is named as a default.
    assert!(line.contains(", the default): "), "{line}");
    assert!(!line.contains("(--"), "{line}");
}

/// A TCP echo server on its own threads that reports when a connection's second read
/// arrives: a closed-loop client sends its second request only once the first was answered
/// and counted.
fn echo_server() -> (std::net::SocketAddr, std::sync::mpsc::Receiver<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { return };
            let tx = tx.clone();
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                let mut reads = 0;
                while let Ok(n @ 1..) = s.read(&mut buf) {
                    reads += 1;
                    if reads == 2 {
                        let _ = tx.send(());
                    }
                    if s.write_all(&buf[..n]).is_err() {
                        return;
                    }
                }
            });
        }
    });
    (addr, rx)
}

#[test]
fn ctrl_c_during_load_prints_the_partial_report() {
    let (addr, arrived) = echo_server();
    let child = Command::new(env!("CARGO_BIN_EXE_evserve"))
        .args(["load", "echo", &addr.to_string(), "-c", "2", "-d", "60s"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // A second request means the run (and its SIGINT handler) started and one reply counted.
    arrived
        .recv_timeout(WAIT)
        .expect("no second request arrived");
    let kill = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let (tx, rx) = std::sync::mpsc::channel();
    let waiter = std::thread::spawn(move || {
        let out = child.wait_with_output();
        let _ = tx.send(());
        out
    });
    rx.recv_timeout(WAIT).expect("load did not stop on SIGINT");
    let out = waiter.join().unwrap().unwrap();
    assert_eq!(out.status.code(), Some(130), "{}", stderr(&out));
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(
        report.starts_with("interrupted: partial results\n"),
        "{report}"
    );
    let requests: u64 = report
        .lines()
        .nth(1)
        .and_then(|l| l.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no request count in {report}"));
    assert!(requests > 0, "{report}");
}

#[test]
fn load_with_every_request_failing_exits_1_with_the_kinds() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().to_str().unwrap();
    let server = Server::start(
        &[
            "--http",
            "127.0.0.1:0",
            "--root",
            root,
            "--framed",
            "127.0.0.1:0",
            // A binary frame is no request head; the HTTP service answers it (408) then.
            "--header-timeout",
            "1s",
        ],
        2,
    );
    let url = format!("http://{}/missing", server.tcp("http"));
    // A 404 is a response unless --error-status names it (tests/load.rs has the default).
    let out = run(&[
        "load",
        &url,
        "-n",
        "200",
        "-c",
        "2",
        "--error-status",
        "4xx",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(report.contains("200 × HTTP status 404"), "{report}");
    assert!(error_line(&out).contains("no request succeeded (200 errors"));

    // Text lines at a length-framed port: the server says so, and the run fails.
    let framed = server.tcp("framed").to_string();
    let out = run(&[
        "load",
        "framed",
        &framed,
        "--framing",
        "line",
        "-n",
        "50",
        "-c",
        "1",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("wrong reply"));

    // Length frames at the HTTP port: its answer is recognised as HTTP.
    let http = server.tcp("http").to_string();
    let out = run(&[
        "load",
        "framed",
        &http,
        "-n",
        "1",
        "-c",
        "1",
        "--timeout",
        "20s",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(
        report.contains("bad reply: the server answers in HTTP"),
        "{report}"
    );

    // A UDP port nobody listens on.
    let closed = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let dead = closed.local_addr().unwrap().to_string();
    drop(closed);
    // (The kernel rate-limits its ICMP answers: some datagrams time out instead.)
    let out = run(&[
        "load",
        "udp",
        &dead,
        "-n",
        "5",
        "-c",
        "1",
        "--timeout",
        "500ms",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("Connection refused"));
}

#[test]
fn max_error_rate_turns_some_errors_into_a_failure() {
    // Answers the first of the pipelined requests, then closes its side, reading on until
    // the client goes (so nothing is ever reset): every connection has one success and
    // loses what was written behind it.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { return };
            std::thread::spawn(move || {
                // One request (64 bytes) answered; a second, if written, is lost. (Waiting
                // for two would stall the last request of the run, which comes alone.)
                let mut one = [0u8; 64];
                if s.read_exact(&mut one).is_ok() && s.write_all(&one).is_ok() {
                    let _ = s.shutdown(std::net::Shutdown::Write);
                    let _ = std::io::copy(&mut s, &mut std::io::sink());
                }
            });
        }
    });
    let args = [
        "load",
        "echo",
        &addr,
        "-n",
        "40",
        "-c",
        "1",
        "--pipeline",
        "2",
    ];
    let lenient = run(&args);
    let report = String::from_utf8_lossy(&lenient.stdout);
    assert_eq!(
        lenient.status.code(),
        Some(0),
        "{report}{}",
        stderr(&lenient)
    );
    assert!(!report.starts_with("0 requests"), "{report}");
    assert!(!report.contains("errors 0,"), "{report}");
    assert!(report.contains("× closed by the server"), "{report}");
    let strict = run(&[&args[..], &["--max-error-rate", "1%"]].concat());
    assert_eq!(strict.status.code(), Some(1));
    assert!(error_line(&strict).contains("more than --max-error-rate 1.00%"));
}

#[test]
fn ctrl_c_during_send_says_how_far_it_got() {
    // Reads slowly (the peer under test is slow, this is not a wait), and reports once a
    // megabyte has arrived: the transfer is then under way and far from done.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let to = listener.local_addr().unwrap().to_string();
    let (tx, under_way) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let Ok((mut s, _)) = listener.accept() else {
            return;
        };
        let (mut buf, mut total) = (vec![0u8; 64 * 1024], 0usize);
        while let Ok(n @ 1..) = s.read(&mut buf) {
            total += n;
            if total >= 1 << 20 {
                let _ = tx.send(());
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    });
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("big.bin");
    // Sparse: 256 MiB of zeros without writing them.
    std::fs::File::create(&file)
        .unwrap()
        .set_len(256 << 20)
        .unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_evserve"))
        .args(["send", file.to_str().unwrap(), "--to", &to])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    under_way
        .recv_timeout(WAIT)
        .expect("the transfer did not start");
    let kill = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130), "{}", stderr(&out));
    let line = error_line(&out);
    assert!(line.contains("interrupted after "), "{line}");
    assert!(line.contains(&format!("of {} bytes", 256 << 20)), "{line}");
}

#[test]
fn every_duration_flag_takes_one_grammar_and_says_it_the_same_way() {
    // A bad value: exit 2 with the same words, whichever subcommand took it.
    let flags: [&[&str]; 4] = [
        &["serve", "--idle-timeout", "5x"],
        &["load", "echo", "127.0.0.1:9", "-d", "5x"],
        &["discover", "--listen", "127.0.0.1:0", "--for", "5x"],
        &["discover", "--listen", "127.0.0.1:0", "--expire", "5x"],
    ];
    for args in flags {
        let out = run(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        let err = stderr(&out);
        assert!(
            err.contains("'5x' has an unknown unit: write a number with ms, s, m or h"),
            "{args:?}: {err}"
        );
    }
    // A bare number is seconds everywhere, `discover --for` included (it used to refuse it).
    let out = run(&[
        "discover",
        "--listen",
        "127.0.0.1:0",
        "--for",
        "0",
        "--expire",
        "1",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = run(&[
        "discover",
        "--listen",
        "127.0.0.1:0",
        "--for",
        "0ms",
        "--expire",
        "1h",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
}

/// A TOML file with `serve`'s flags: `serve --config` runs from it, the command line wins
/// over it, and `config check` validates it (the shipped example included) without serving.
#[test]
fn a_config_file_configures_serve_and_config_check_validates_it() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("evserve.toml");
    std::fs::write(
        &file,
        "# a comment\necho = [\"127.0.0.1:0\"]\nmax-connections = 3\nidle-timeout = \"30s\"\n",
    )
    .unwrap();
    let path = file.to_str().unwrap();

    let server = Server::start(&["--config", path], 1);
    assert_eq!(server.listening().len(), 1, "{:?}", server.listening());
    let echo = server.tcp("echo");
    let mut s = TcpStream::connect(echo).unwrap();
    s.write_all(b"from a file\n").unwrap();
    let mut buf = [0u8; 12];
    s.set_read_timeout(Some(WAIT)).unwrap();
    s.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"from a file\n");
    drop(server);

    // The command line's --echo replaces the file's list.
    let server = Server::start(&["--config", path, "--udp-echo", "127.0.0.1:0"], 2);
    let kinds: Vec<_> = server
        .listening()
        .iter()
        .map(|(n, p, _)| format!("{n} {p}"))
        .collect();
    assert_eq!(kinds.len(), 2, "{kinds:?}");
    drop(server);

    let ok = run(&["config", "check", path]);
    assert!(ok.status.success(), "{}", stderr(&ok));
    assert!(String::from_utf8_lossy(&ok.stdout).contains("ok (3 settings)"));

    std::fs::write(&file, "echo = [\"127.0.0.1:0\"]\n\nmax-conections = 3\n").unwrap();
    let bad = run(&["config", "check", path]);
    assert_eq!(bad.status.code(), Some(1));
    assert_eq!(
        error_line(&bad),
        format!(
            "evserve: {path}:3: unknown setting `max-conections`; did you mean `max-connections`?"
        )
    );
    let serve = run(&["serve", "--config", path]);
    assert_eq!(serve.status.code(), Some(2), "a bad file is a usage error");
    assert!(
        stderr(&serve).contains(":3: unknown setting"),
        "{}",
        stderr(&serve)
    );

    std::fs::write(&file, "max-connections = 0\n").unwrap();
    let zero = run(&["config", "check", path]);
    assert_eq!(zero.status.code(), Some(1));
    assert!(
        error_line(&zero).contains("--max-connections must be at least 1"),
        "{}",
        stderr(&zero)
    );

    // The shipped example, with its document root moved to a directory that exists here.
    let example =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/evserve.toml"))
            .unwrap();
    assert!(example.contains("root = \"/srv/www\""));
    let root = dir.path().to_str().unwrap();
    std::fs::write(&file, example.replace("/srv/www", root)).unwrap();
    let shipped = run(&["config", "check", path]);
    assert!(
        shipped.status.success(),
        "deploy/evserve.toml: {}",
        stderr(&shipped)
    );
}

/// `serve --help` as a manual: every flag under a named heading (only `--help` in clap's own
/// "Options"), each default said once, and the services the help and the README name exist
/// as flags.
#[test]
fn serve_help_groups_every_flag_and_names_only_real_ones() {
    let out = run(&["serve", "--help"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let help = String::from_utf8_lossy(&out.stdout).into_owned();
    // (heading, flag line, the flag's text) for every flag.
    let mut heading: Option<String> = None;
    let mut flags: Vec<(Option<String>, String, String)> = Vec::new();
    for line in help.lines() {
        let trimmed = line.trim_start();
        if !line.starts_with(' ') && line.ends_with(':') && !line.starts_with("Usage") {
            heading = Some(line.trim_end_matches(':').to_string());
        } else if line.starts_with(' ') && trimmed.starts_with('-') {
            flags.push((heading.clone(), trimmed.to_string(), String::new()));
        } else if let Some(last) = flags.last_mut() {
            last.2.push_str(trimmed);
            last.2.push(' ');
        }
    }
    assert!(flags.len() > 50, "{help}");
    for (heading, flag, text) in &flags {
        match heading.as_deref() {
            None => panic!("{flag} comes before any heading"),
            Some("Options") => assert!(
                flag.contains("--help"),
                "{flag} has no heading of its own (give it a help_heading)"
            ),
            Some(_) => {}
        }
        let defaults = text.to_lowercase().matches("default").count();
        assert!(
            defaults <= 1,
            "{flag} says its default {defaults} times: {text}"
        );
        assert!(!text.contains("its own room"), "{flag}: stale: {text}");
    }
    let names: Vec<&str> = flags
        .iter()
        .flat_map(|(_, flag, _)| flag.split([' ', ',', '[', '<']))
        .filter(|word| word.starts_with("--"))
        .collect();
    let known = |flag: &str| names.contains(&flag);
    // The services the help says run by default ("echo on ..., framed on ..., HTTP on ...").
    let services = help
        .lines()
        .find(|l| l.starts_with("Services ("))
        .unwrap_or_else(|| panic!("no Services heading in:\n{help}"));
    let named: Vec<String> = services
        .split([' ', '(', ','])
        .collect::<Vec<_>>()
        .windows(2)
        .filter(|w| w[1] == "on")
        .map(|w| format!("--{}", w[0].to_lowercase()))
        .collect();
    assert!(named.len() >= 3, "{services}");
    for flag in &named {
        assert!(
            known(flag),
            "{flag} is named in {services:?} but is no flag"
        );
    }
    // Every flag in the README's tables and its list of service flags.
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
        .expect("README.md");
    let mut checked = 0;
    for line in readme.lines().filter(|l| l.starts_with('|')) {
        for word in line.split(['`', ' ', ',', '(', ')']) {
            if word.starts_with("--") && word.len() > 2 && !word.starts_with("---") {
                assert!(
                    known(word),
                    "README names {word}, which serve lacks: {line}"
                );
                checked += 1;
            }
        }
    }
    let list = readme
        .split("Every service flag\n")
        .nth(1)
        .and_then(|rest| rest.split(')').next())
        .expect("README lists the service flags");
    for word in list.split(['`', ' ', ',', '(', '\n']) {
        if word.starts_with("--") {
            assert!(known(word), "README lists {word} as a service flag: {list}");
            checked += 1;
        }
    }
    assert!(checked > 15, "too few README flags checked: {checked}");
}

/// The shutdown summary: a few short lines with the figures an operator reads first, the
/// ~60 counters left to /stats, /metrics and debug level.
#[test]
fn ctrl_c_logs_a_short_readable_summary() {
    let root = tempfile::tempdir().unwrap();
    let mut server = Server::start(
        &[
            "--echo",
            "127.0.0.1:0",
            "--udp-echo",
            "127.0.0.1:0",
            "--http",
            "127.0.0.1:0",
            "--root",
            root.path().to_str().unwrap(),
        ],
        3,
    );
    let mut tcp = TcpStream::connect(server.tcp("echo")).unwrap();
    tcp.set_read_timeout(Some(WAIT)).unwrap();
    tcp.write_all(b"hello").unwrap();
    let mut back = [0; 5];
    tcp.read_exact(&mut back).unwrap();
    drop(tcp);
    let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    udp.set_read_timeout(Some(WAIT)).unwrap();
    udp.send_to(b"ping", server.addr("echo", "udp")).unwrap();
    let mut buf = [0; 16];
    assert_eq!(udp.recv(&mut buf).unwrap(), 4);
    assert_eq!(util::http::get(server.tcp("http"), "/plain").status, 200);

    server.interrupt();
    let first = server
        .wait_log("stopped: connections", WAIT)
        .expect("a summary at exit");
    let mut lines = vec![first];
    while !lines.last().unwrap().contains("every counter") {
        let line = server.wait_log("", WAIT).expect("the summary's last line");
        lines.push(line);
    }
    let summary = lines.join("\n");
    for line in &lines {
        assert!(line.len() <= 200, "{} characters: {line}", line.len());
    }
    for want in [
        "connections 2 accepted, 2 closed, 0 refused (full), 0 evicted, 0 too slow",
        "bytes ",
        "datagrams 1 in, 1 out",
        "/stats",
    ] {
        assert!(summary.contains(want), "{want} missing in:\n{summary}");
    }
    assert!(!summary.contains("events_per_poll"), "{summary}");
    assert!(server.wait_exit(WAIT).is_some_and(|s| s.success()));
}

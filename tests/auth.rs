//! HTTP Basic credentials kept off the command line: `--auth-file` (htpasswd, bcrypt),
//! `EVSERVE_AUTH`, and what wrong guesses cost, against the real `evserve` binary.

mod util;

use std::io::{BufRead, BufReader, Write as _};
use std::net::SocketAddr;
use std::process::{Command, Stdio};

use base64::Engine as _;
use util::Server;
use util::http::{self, Conn, Response};

/// `PUT /files/NAME` with `user:password` as Basic credentials.
fn put(addr: SocketAddr, name: &str, user_pass: &str) -> Response {
    let token = base64::engine::general_purpose::STANDARD.encode(user_pass);
    http::once(
        addr,
        format!(
            "PUT /files/{name} HTTP/1.1\r\nHost: t\r\nAuthorization: Basic {token}\r\n\
             Content-Length: 2\r\nConnection: close\r\n\r\nhi"
        )
        .as_bytes(),
    )
}

/// An htpasswd file with one bcrypt entry. Cost 4, the least bcrypt allows: these tests check
/// the rules, not the cost.
fn htpasswd(dir: &std::path::Path, user: &str, password: &str) -> String {
    let path = dir.join("htpasswd");
    let hash = bcrypt::hash(password, 4).unwrap();
    std::fs::write(&path, format!("# made by the test\n{user}:{hash}\n")).unwrap();
    path.to_str().unwrap().to_string()
}

#[test]
fn an_htpasswd_file_of_bcrypt_hashes_lets_the_right_password_write() {
    let root = tempfile::tempdir().unwrap();
    let file = htpasswd(root.path(), "alice", "correct horse");
    let root_arg = root.path().to_str().unwrap();
    let server = Server::start(
        &[
            "--http",
            "127.0.0.1:0",
            "--root",
            root_arg,
            "--writable",
            "--auth-file",
            &file,
            "--auth-max-failures",
            "3",
        ],
        1,
    );
    let addr = server.tcp("http");
    assert_eq!(put(addr, "a.txt", "alice:correct horse").status, 201);
    assert_eq!(put(addr, "a.txt", "alice:correct horse").status, 204);
    assert_eq!(put(addr, "b.txt", "alice:wrong").status, 401);
    assert_eq!(put(addr, "b.txt", "bob:correct horse").status, 401);
    // The third failure from this address is still 401: the edge is 3.
    assert_eq!(put(addr, "b.txt", "alice:wrong again").status, 401);
    // One past it: 429, and nothing is verified.
    let r = put(addr, "b.txt", "alice:wrong once more");
    assert_eq!(r.status, 429, "{:?}", r.headers);
    let retry: u64 = r.must("Retry-After").parse().unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    // A credential verified before is remembered, so the valid client still gets in.
    assert_eq!(put(addr, "a.txt", "alice:correct horse").status, 204);
    assert!(
        server
            .wait_log(
                "wrong credentials for user \"alice\" from 127.0.0.1",
                std::time::Duration::from_secs(5)
            )
            .is_some()
    );
    assert!(!root.path().join("files/b.txt").exists());
    // Reading needs no credentials.
    let mut c = Conn::open(addr);
    let r = c.exchange(b"GET /files/a.txt HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(r.body, b"hi");
}

#[test]
fn an_empty_password_in_the_file_is_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let file = htpasswd(dir.path(), "alice", "");
    let out = Command::new(env!("CARGO_BIN_EXE_evserve"))
        .args(["serve", "--http", "127.0.0.1:0", "--root"])
        .arg(dir.path())
        .args(["--auth-file", &file])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--auth-file") && err.contains("empty password"),
        "{err}"
    );

    // And one that is not bcrypt, with what to do instead.
    let mut f = std::fs::File::create(dir.path().join("md5")).unwrap();
    writeln!(f, "alice:$apr1$salt$hash").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_evserve"))
        .args(["serve", "--http", "127.0.0.1:0", "--root"])
        .arg(dir.path())
        .arg("--auth-file")
        .arg(dir.path().join("md5"))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("htpasswd -B"), "{err}");
}

#[test]
fn evserve_auth_in_the_environment_is_a_source_and_auth_on_the_command_line_warns() {
    let root = tempfile::tempdir().unwrap();
    let root_arg = root.path().to_str().unwrap();
    let server = Server::start_with_env(
        &["--http", "127.0.0.1:0", "--root", root_arg, "--writable"],
        1,
        &[("EVSERVE_AUTH", "carol:from the env")],
    );
    let addr = server.tcp("http");
    assert_eq!(put(addr, "c.txt", "carol:from the env").status, 201);
    assert_eq!(put(addr, "c.txt", "carol:nope").status, 401);
    drop(server);

    // The warning comes before the listeners, so it is read from the log directly.
    let mut child = Command::new(env!("CARGO_BIN_EXE_evserve"))
        .args([
            "serve",
            "--http",
            "127.0.0.1:0",
            "--root",
            root_arg,
            "--auth",
            "dave:pw",
        ])
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = BufReader::new(child.stderr.take().unwrap());
    let mut warned = false;
    for line in stderr.lines().map_while(Result::ok).take(50) {
        warned |= line.contains("WARN") && line.contains("use --auth-file");
        if line.contains("listening http") {
            break;
        }
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(warned, "--auth warns that ps shows the password");
}

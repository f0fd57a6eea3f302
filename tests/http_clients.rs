//! evserve's HTTP driven by clients it did not write: curl and Python's `http.client`.
//! Each test is skipped, saying so, when its client is not installed (`.ci/run` installs
//! both).

mod util;

use std::process::Command;

use util::Server;

fn have(tool: &str) -> bool {
    Command::new(tool).arg("--version").output().is_ok()
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().expect("run client");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 output")
}

#[test]
fn curl_gets_puts_ranges_and_heads() {
    if !have("curl") {
        eprintln!("SKIPPED: curl is not installed");
        return;
    }
    let root = tempfile::tempdir().unwrap();
    let upload = root.path().join("upload-src.txt");
    std::fs::write(&upload, b"0123456789abcdef").unwrap();
    let server = Server::start(
        &[
            "--http",
            "127.0.0.1:0",
            "--root",
            root.path().to_str().unwrap(),
            "--writable",
            "--writable-without-auth",
        ],
        1,
    );
    let base = format!("http://{}", server.tcp("http"));
    let curl = || {
        let mut c = Command::new("curl");
        c.args(["-sS", "--max-time", "10"]);
        c
    };
    assert_eq!(run(curl().arg(format!("{base}/plain"))), "Hello, World!");
    let code = run(curl()
        .args([
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "-X",
            "PUT",
            "--data-binary",
        ])
        .arg(format!("@{}", upload.display()))
        .arg(format!("{base}/files/up.txt")));
    assert_eq!(code, "201");
    assert_eq!(
        run(curl()
            .args(["-r", "0-9"])
            .arg(format!("{base}/files/up.txt"))),
        "0123456789"
    );
    let head = run(curl().arg("-I").arg(format!("{base}/files/up.txt")));
    assert!(head.starts_with("HTTP/1.1 200 OK"), "{head}");
    assert!(
        head.to_ascii_lowercase().contains("content-length: 16"),
        "{head}"
    );
    let code = run(curl()
        .args(["-o", "/dev/null", "-w", "%{http_code}"])
        .arg(format!("{base}/nope")));
    assert_eq!(code, "404");
}

#[test]
fn python_http_client_keep_alive_post_and_404() {
    if !have("python3") {
        eprintln!("SKIPPED: python3 is not installed");
        return;
    }
    let root = tempfile::tempdir().unwrap();
    let server = Server::start(
        &[
            "--http",
            "127.0.0.1:0",
            "--root",
            root.path().to_str().unwrap(),
        ],
        1,
    );
    let addr = server.tcp("http");
    let script = format!(
        r#"
import http.client
c = http.client.HTTPConnection("{ip}", {port}, timeout=10)
out = []
for _ in range(20):                      # one connection, kept alive
    c.request("GET", "/plain")
    r = c.getresponse()
    out.append(r.read().decode())
sock = c.sock
c.request("POST", "/echo", body=b"ping", headers={{"Content-Type": "text/x-ping"}})
r = c.getresponse()
out.append(r.getheader("Content-Type") + ":" + r.read().decode())
c.request("GET", "/does-not-exist")
r = c.getresponse(); r.read()
out.append(str(r.status))
out.append("same-socket" if c.sock is sock else "reconnected")
print("|".join(out))
"#,
        ip = addr.ip(),
        port = addr.port()
    );
    let printed = run(Command::new("python3").arg("-c").arg(script));
    let fields: Vec<&str> = printed.trim().split('|').collect();
    assert_eq!(fields[..20], ["Hello, World!"; 20]);
    assert_eq!(fields[20..], ["text/x-ping:ping", "404", "same-socket"]);
}

//! SIGHUP with `serve --config FILE`: the file is read again; what a running server can take
//! reaches new connections on every worker, a change that needs a restart is logged and not
//! applied, and a file that cannot be used is logged and changes nothing.

mod util;

use std::path::Path;
use std::time::Duration;

use util::{Server, http};

const LOG_WAIT: Duration = Duration::from_secs(20);

fn write(path: &Path, root: &Path, settings: &str) {
    let text = format!("root = \"{}\"\n{settings}", root.display());
    std::fs::write(path, text).unwrap();
}

/// `/stats` from this (loopback) client, on `tries` new connections: with several workers
/// the kernel spreads them, so every answer must agree.
fn stats_statuses(server: &Server, tries: usize) -> Vec<u16> {
    (0..tries)
        .map(|_| http::get(server.tcp("http"), "/stats").status)
        .collect()
}

#[test]
fn sighup_applies_what_it_can_logs_what_waits_and_survives_a_bad_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("evserve.toml");
    let file = path.to_str().unwrap();
    write(
        &path,
        dir.path(),
        "http = \"127.0.0.1:0\"\nworkers = 2\nstats-allow = [\"10.0.0.0/8\"]\n",
    );
    let server = Server::start(&["--config", file], 1);
    assert_eq!(stats_statuses(&server, 4), [403; 4]);

    // Open the status pages to loopback (takes effect), move the listener (needs a restart).
    write(
        &path,
        dir.path(),
        "http = \"127.0.0.2:0\"\nworkers = 2\nstats-allow = [\"127.0.0.0/8\"]\n",
    );
    server.hangup();
    let line = server
        .wait_log("reloaded ", LOG_WAIT)
        .expect("a line saying what the reload did");
    assert!(
        line.contains(&format!(
            "reloaded {file}: stats-allow 10.0.0.0/8 -> 127.0.0.0/8; not applied until \
             restart: http (127.0.0.1:0 -> 127.0.0.2:0)"
        )),
        "{line}"
    );
    // The old address still serves (the listener did not move), with the new rule.
    assert_eq!(stats_statuses(&server, 8), [200; 8]);

    // A file that cannot be used: one clear error naming the file and the line, and the
    // server goes on with what it had (the status pages stay open).
    write(
        &path,
        dir.path(),
        "http = \"127.0.0.1:0\"\nstats-allow = [\"10.0.0.0/8\"]\nmax-conections = 5\n",
    );
    server.hangup();
    let line = server
        .wait_log("reload failed", LOG_WAIT)
        .expect("an error for the bad file");
    assert!(
        line.contains(&format!("{file}:4: unknown setting `max-conections`")),
        "{line}"
    );
    assert!(line.contains("did you mean `max-connections`?"), "{line}");
    assert_eq!(stats_statuses(&server, 4), [200; 4]);
}

#[test]
fn sighup_turns_the_access_log_on_for_new_connections() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("evserve.toml");
    let file = path.to_str().unwrap();
    write(&path, dir.path(), "http = \"127.0.0.1:0\"\n");
    let server = Server::start(&["--config", file], 1);
    write(
        &path,
        dir.path(),
        "http = \"127.0.0.1:0\"\naccess-log = true\n",
    );
    server.hangup();
    let line = server.wait_log("reloaded ", LOG_WAIT).expect("reloaded");
    assert!(line.ends_with("access-log false -> true"), "{line}");
    assert_eq!(http::get(server.tcp("http"), "/plain?reloaded").status, 200);
    assert!(
        server.wait_log("/plain?reloaded", LOG_WAIT).is_some(),
        "no access log line for a request after the reload"
    );
    // Nothing changed: said so.
    server.hangup();
    let line = server.wait_log("reloaded ", LOG_WAIT).expect("reloaded");
    assert!(line.ends_with(": no setting changed"), "{line}");
}

#[test]
fn sighup_without_a_config_file_does_not_stop_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let server = http::start(dir.path(), &[]);
    server.hangup();
    assert!(
        server
            .wait_log("started without --config", LOG_WAIT)
            .is_some()
    );
    assert_eq!(http::get(server.tcp("http"), "/plain").status, 200);
}

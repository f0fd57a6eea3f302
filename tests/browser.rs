//! The dashboard and the chat in a real browser: Debian's headless Chromium driven by Selenium
//! (tests/browser/dashboard.py, which starts its own servers from the binary built here).
//!
//! Needs `/usr/bin/chromium`, `/usr/bin/chromedriver` (Debian's `chromium`, `chromium-driver`)
//! and Python's `selenium`. Without them these tests say so on stderr and pass, except under CI
//! (`CI` set), where a missing browser is a failure: CI must not go green without running them.
//!
//! `EVSERVE_SCREENSHOT=docs/dashboard.png cargo test --release --test browser load` also
//! writes the dashboard, under load, to that file.

use std::path::Path;
use std::process::Command;
use std::sync::Mutex;

/// One browser at a time: the machine running the tests may have two cores.
static BROWSER: Mutex<()> = Mutex::new(());

/// Whether the tools are there; panics under CI if they are not.
fn tools_present() -> bool {
    let mut missing = Vec::new();
    for path in ["/usr/bin/chromium", "/usr/bin/chromedriver"] {
        if !Path::new(path).exists() {
            missing.push(path.to_owned());
        }
    }
    let selenium = Command::new("python3")
        .args(["-c", "import selenium"])
        .status()
        .is_ok_and(|s| s.success());
    if !selenium {
        missing.push("python3 with selenium".to_owned());
    }
    if missing.is_empty() {
        return true;
    }
    let what = missing.join(", ");
    let fix = "apt-get install -y chromium chromium-driver && pip install selenium";
    if std::env::var_os("CI").is_some_and(|v| !v.is_empty()) {
        panic!("browser tests cannot run: {what} missing; install with `{fix}`");
    }
    eprintln!("SKIPPED browser test: {what} missing (install with `{fix}`)");
    false
}

fn run(scenario: &str) {
    if !tools_present() {
        return;
    }
    let _one = BROWSER.lock().unwrap_or_else(|e| e.into_inner());
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/browser/dashboard.py");
    let mut command = Command::new("python3");
    command
        .arg(script)
        .arg(env!("CARGO_BIN_EXE_evserve"))
        .arg(scenario);
    if scenario == "load"
        && let Some(shot) = std::env::var_os("EVSERVE_SCREENSHOT")
    {
        command.arg(shot);
    }
    let output = command.output().expect("run python3");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success() && stdout.contains(&format!("{scenario} ok")),
        "browser scenario {scenario} failed:\n{stdout}\n{stderr}"
    );
}

#[test]
fn load_the_dashboard_loads_cleanly_and_its_numbers_rise_under_load() {
    run("load");
}

#[test]
fn chat_a_line_crosses_between_the_page_and_a_tcp_client() {
    run("chat");
}

#[test]
fn restart_the_page_reconnects_after_the_server_restarts() {
    run("restart");
}

//! The dashboard and the chat in a real browser: Debian's headless Chromium driven by Selenium
//! (tests/browser/dashboard.py, which starts its own servers from the binary built here).
//!
//! Needs `/usr/bin/chromium`, `/usr/bin/chromedriver` (Debian's `chromium`, `chromium-driver`)
//! and Python's `selenium`. Without them these tests fail with the command that installs them
//! (`scripts/test.sh` does): a test that did not run must never read as one that passed.
//!
//! The `h2` scenario trusts only the server's own self-signed key
//! (`--ignore-certificate-errors-spki-list`, its hash taken with the `openssl` CLI).
//!
//! `EVSERVE_SCREENSHOT=docs/dashboard.png cargo test --profile ci --test browser load` also
//! writes the dashboard, under load, to that file.

use std::path::Path;
use std::process::Command;
use std::sync::Mutex;

/// One browser at a time: the machine running the tests may have two cores.
static BROWSER: Mutex<()> = Mutex::new(());

/// Fails, naming what is missing and how to install it, unless the browser and its driver are
/// there.
fn require_tools() {
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
    let openssl = Command::new("openssl")
        .arg("version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !openssl {
        missing.push("openssl".to_owned());
    }
    assert!(
        missing.is_empty(),
        "browser tests cannot run: {} missing; install with `scripts/test.sh`, or \
         `sudo apt-get install chromium chromium-driver openssl && python3 -m pip install selenium`",
        missing.join(", ")
    );
}

fn run(scenario: &str) {
    require_tools();
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

/// Over HTTPS, Chromium chooses h2 by ALPN: `nextHopProtocol` says so, and the page's event
/// stream is live as a stream of that connection.
#[test]
fn h2_chromium_loads_the_dashboard_over_https_with_http2() {
    run("h2");
}

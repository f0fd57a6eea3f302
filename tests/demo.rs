//! `evserve demo` run as a student would: from the command line. The lessons' facts are
//! checked by the unit tests in `src/demo/tests.rs`; here, the binary's output and
//! `docs/lessons.md`, which pastes it.

use std::process::Command;

#[test]
fn evserve_demo_sticky_runs_from_the_command_line() {
    let out = Command::new(env!("CARGO_BIN_EXE_evserve"))
        .args(["demo", "sticky"])
        .output()
        .expect("run evserve demo sticky");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "exit {:?}\nstdout:\n{stdout}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("== sticky"), "{stdout}");
    assert!(
        stdout.contains("received 1 read(s) of 10 bytes"),
        "{stdout}"
    );
    assert!(
        stdout.contains("messages 2: \"hello\", \"world\""),
        "{stdout}"
    );
    // The servers' info logs are quiet unless asked for.
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn an_unknown_lesson_is_refused_with_the_list_of_lessons() {
    let out = Command::new(env!("CARGO_BIN_EXE_evserve"))
        .args(["demo", "tcp-magic"])
        .output()
        .expect("run evserve demo tcp-magic");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    for lesson in [
        "sticky",
        "partial",
        "eof",
        "udp",
        "sockopt",
        "broadcast",
        "http",
        "all",
    ] {
        assert!(stderr.contains(lesson), "{lesson} missing from: {stderr}");
    }
}

/// A line of demo output with what changes from run to run taken out: numbers (ports, fds,
/// byte counts that depend on the kernel), HTTP dates and tags, and column padding.
fn normalize(line: &str) -> String {
    let mut line = line.to_string();
    for field in ["Date: ", "Last-Modified: ", "ETag: "] {
        if let Some(at) = line.find(field) {
            line.truncate(at + field.len());
        }
    }
    let mut out = String::new();
    let (mut digit, mut space) = (false, false);
    for c in line.chars() {
        if c.is_ascii_digit() {
            if !digit {
                out.push('#');
            }
            (digit, space) = (true, false);
        } else if c.is_whitespace() {
            if !space {
                out.push(' ');
            }
            (digit, space) = (false, true);
        } else {
            out.push(c);
            (digit, space) = (false, false);
        }
    }
    out.trim_end().to_string()
}

/// Lines whose wording depends on the scheduler: the "sleep" case reads once or twice.
fn varies(line: &str) -> bool {
    line.contains("Two reads this time") || line.contains("One read even so")
}

#[test]
fn docs_lessons_md_shows_what_the_demos_print() {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/lessons.md"))
        .expect("read docs/lessons.md");
    // The pasted outputs: the ```text blocks that start with a demo's "== lesson" title.
    let mut pasted = Vec::new();
    let mut block: Option<Vec<&str>> = None;
    for line in doc.lines() {
        match (&mut block, line) {
            (None, "```text") => block = Some(Vec::new()),
            (Some(lines), "```") => {
                if lines.first().is_some_and(|l| l.starts_with("== ")) {
                    pasted.extend(lines.iter().copied());
                }
                block = None;
            }
            (Some(lines), _) => lines.push(line),
            (None, _) => {}
        }
    }
    let out = Command::new(env!("CARGO_BIN_EXE_evserve"))
        .args(["demo", "all"])
        .output()
        .expect("run evserve demo all");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let fresh = String::from_utf8_lossy(&out.stdout);
    let keep = |l: &&str| !l.trim().is_empty() && !varies(l);
    let pasted: std::collections::BTreeSet<String> =
        pasted.into_iter().filter(keep).map(normalize).collect();
    let fresh: std::collections::BTreeSet<String> =
        fresh.lines().filter(keep).map(normalize).collect();
    for lesson in [
        "sticky",
        "partial",
        "eof",
        "udp",
        "sockopt",
        "broadcast",
        "http",
    ] {
        assert!(
            doc.contains(&format!("    evserve demo {lesson}\n")),
            "docs/lessons.md does not show the command for {lesson}"
        );
    }
    let stale: Vec<&String> = pasted.difference(&fresh).collect();
    let missing: Vec<&String> = fresh.difference(&pasted).collect();
    assert!(
        stale.is_empty() && missing.is_empty(),
        "docs/lessons.md is out of date: paste a fresh `evserve demo LESSON` run.\n\
         in the page, not printed: {stale:#?}\nprinted, not in the page: {missing:#?}"
    );
}

//! Docs that cannot drift: the public item count docs/architecture.md states is recounted,
//! and the pseudo-code blocks of docs/architecture.md that are marked
//! `<!-- checked against PATH -->` are read against the source file they name.
//!
//! - Every `name()`-style call the block shows (an identifier followed by `(`) must be a call
//!   or a definition in that file, and every identifier in backticks must occur in it: a
//!   function renamed or removed fails here, not in a reader's head.
//! - With `loop of fn NAME` in the marker, the converse too: every `self.name(` call in the
//!   first `loop` of that function must be shown in the block, so a step added to the loop
//!   must be added to the doc.

use std::collections::BTreeSet;
use std::path::Path;

const DOC: &str = "docs/architecture.md";
const MARK: &str = "<!-- checked against ";

/// One marked block: the source it names, the function whose loop it shows (if any), and
/// its text.
struct Checked {
    source: String,
    loop_of: Option<String>,
    block: String,
}

fn checked_blocks(doc: &str) -> Vec<Checked> {
    let mut blocks = Vec::new();
    let mut rest = doc;
    while let Some(at) = rest.find(MARK) {
        rest = &rest[at + MARK.len()..];
        let end = rest
            .find("-->")
            .expect("a checked marker is closed with -->");
        let marker = rest[..end].trim();
        let (source, loop_of) = match marker.split_once(", loop of fn ") {
            Some((source, f)) => (source.trim(), Some(f.trim().to_string())),
            None => (marker, None),
        };
        let open = rest
            .find("```")
            .expect("a checked marker is followed by a ``` block");
        let body = &rest[open + 3..];
        let body = &body[body.find('\n').expect("a fence line") + 1..];
        let close = body.find("```").expect("the checked block is closed");
        blocks.push(Checked {
            source: source.to_string(),
            loop_of,
            block: body[..close].to_string(),
        });
        rest = &body[close + 3..];
    }
    blocks
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Whether `word` occurs in `text` as a whole identifier, followed by `then` (if given).
fn has_word(text: &str, word: &str, then: &str) -> bool {
    let mut from = 0;
    while let Some(at) = text[from..].find(word) {
        let start = from + at;
        let end = start + word.len();
        let before = text[..start].chars().next_back();
        let after = &text[end..];
        if !before.is_some_and(is_ident) && !after.starts_with(is_ident) && after.starts_with(then)
        {
            return true;
        }
        from = end;
    }
    false
}

/// The identifiers written as calls (`name(`) in `text`.
fn calls(text: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let chars: Vec<char> = text.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        if c != '(' {
            continue;
        }
        let mut start = i;
        while start > 0 && is_ident(chars[start - 1]) {
            start -= 1;
        }
        let name: String = chars[start..i].iter().collect();
        if name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_') {
            found.insert(name);
        }
    }
    found
}

/// The identifiers inside backticks in `text`.
fn quoted(text: &str) -> BTreeSet<String> {
    text.split('`')
        .skip(1)
        .step_by(2)
        .flat_map(|span| span.split(|c: char| !is_ident(c)))
        .filter(|w| w.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_'))
        .map(str::to_string)
        .collect()
}

/// The text of the first `loop { … }` in `fn name`'s body.
fn loop_body<'a>(source: &'a str, name: &str) -> &'a str {
    let f = source
        .find(&format!("fn {name}("))
        .unwrap_or_else(|| panic!("no `fn {name}` in the source the doc names"));
    let at = f + source[f..].find("loop {").expect("a loop in the function") + "loop ".len();
    let mut depth = 0;
    for (i, c) in source[at..].char_indices() {
        match c {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    return &source[at..at + i];
                }
            }
            _ => {}
        }
    }
    panic!("the loop of `fn {name}` is not closed");
}

/// The methods a loop calls on `self` directly (`self.name(`).
fn self_calls(body: &str) -> BTreeSet<String> {
    body.split("self.")
        .skip(1)
        .filter_map(|rest| {
            let name: String = rest.chars().take_while(|&c| is_ident(c)).collect();
            rest[name.len()..].starts_with('(').then_some(name)
        })
        .collect()
}

/// The names in `block` that `source` does not have.
fn unknown_names(block: &str, source: &str) -> Vec<String> {
    let mut missing: Vec<String> = calls(block)
        .into_iter()
        .filter(|name| !has_word(source, name, "("))
        .map(|name| format!("{name}()"))
        .collect();
    missing.extend(
        quoted(block)
            .into_iter()
            .filter(|name| !has_word(source, name, ""))
            .map(|name| format!("`{name}`")),
    );
    missing
}

#[test]
fn the_architecture_docs_checked_blocks_name_only_what_the_code_has() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let doc = std::fs::read_to_string(root.join(DOC)).expect("read docs/architecture.md");
    let blocks = checked_blocks(&doc);
    assert!(
        !blocks.is_empty(),
        "{DOC} has no block marked `{MARK}PATH -->`"
    );
    for b in blocks {
        let source = std::fs::read_to_string(root.join(&b.source))
            .unwrap_or_else(|e| panic!("{DOC} checks a block against {}: {e}", b.source));
        let missing = unknown_names(&b.block, &source);
        assert!(
            missing.is_empty(),
            "{DOC}: the block checked against {} names what that file does not have: {}\n\
             Update the block (or the marker) so that it describes the code.",
            b.source,
            missing.join(", ")
        );
        if let Some(f) = &b.loop_of {
            let shown = calls(&b.block);
            let unshown: Vec<String> = self_calls(loop_body(&source, f))
                .into_iter()
                .filter(|name| !shown.contains(name))
                .collect();
            assert!(
                unshown.is_empty(),
                "{DOC}: the loop of `fn {f}` in {} calls {} but the block does not show it; \
                 add each step to the block",
                b.source,
                unshown.join("(), ")
            );
        }
    }
}

#[test]
fn the_checker_finds_a_name_the_source_lacks_and_a_step_the_doc_lacks() {
    let source = "fn run() { loop { self.poll(); self.fire_timers(); let x = self.a.b(); } }\n\
                  fn poll() {} struct S { deferred: u8 }";
    assert!(unknown_names("poll() then `deferred`", source).is_empty());
    assert_eq!(
        unknown_names("poll() then fire_alarms() and `spoke`", source),
        ["fire_alarms()", "`spoke`"]
    );
    assert_eq!(
        self_calls(loop_body(source, "run")),
        BTreeSet::from(["fire_timers".to_string(), "poll".to_string()])
    );
    let doc = format!("x\n{MARK}src/x.rs, loop of fn run -->\n```text\npoll()\n```\n");
    let blocks = checked_blocks(&doc);
    assert_eq!(blocks.len(), 1);
    assert_eq!(blocks[0].source, "src/x.rs");
    assert_eq!(blocks[0].loop_of.as_deref(), Some("run"));
    assert_eq!(blocks[0].block, "poll()\n");
}

/// The library's public items, counted as docs/architecture.md ("Counting the public items")
/// says: lines declaring an item `pub` with no restriction, in the library's files.
fn public_items(dir: &Path, count: &mut usize) {
    const BINARY_FILES: [&str; 5] = ["main.rs", "malloc.rs", "tcp_info.rs", "send.rs", "cli.rs"];
    const BINARY_DIRS: [&str; 3] = ["src/cli", "src/demo", "src/load"];
    const KINDS: [&str; 9] = [
        "fn", "struct", "enum", "trait", "const", "static", "type", "mod", "use",
    ];
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            if !BINARY_DIRS.iter().any(|d| path.ends_with(d)) {
                public_items(&path, count);
            }
            continue;
        }
        let name = path.file_name().unwrap().to_str().unwrap();
        let in_root = path.parent() == Some(Path::new("src"));
        if !name.ends_with(".rs") || (in_root && BINARY_FILES.contains(&name)) {
            continue;
        }
        for line in std::fs::read_to_string(&path).unwrap().lines() {
            let Some(rest) = line.trim_start().strip_prefix("pub ") else {
                continue;
            };
            // `pub (async )?(const )?(unsafe )?KIND `, as the doc's grep reads it.
            let rest = rest.strip_prefix("async ").unwrap_or(rest);
            let declares = |s: &str| {
                let s = s.strip_prefix("unsafe ").unwrap_or(s);
                KINDS
                    .iter()
                    .any(|k| s.strip_prefix(k).is_some_and(|t| t.starts_with(' ')))
            };
            if declares(rest) || rest.strip_prefix("const ").is_some_and(declares) {
                *count += 1;
            }
        }
    }
}

#[test]
fn the_public_item_count_in_the_docs_is_the_librarys() {
    let mut count = 0;
    public_items(Path::new("src"), &mut count);
    let doc = std::fs::read_to_string(DOC).unwrap();
    let stated: usize = doc
        .split_once("It counts ")
        .and_then(|(_, rest)| rest.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|n| n.parse().ok())
        .expect("docs/architecture.md states the count as \"It counts N\"");
    assert_eq!(
        count, stated,
        "the library has {count} public items, {DOC} says {stated}: update the doc, or make \
         the new item pub(crate) if nothing outside the library needs it"
    );
    assert!(
        count <= 848 / 3,
        "{count} public items: at most a third of the 848 of e0c47af (issue #20)"
    );
}

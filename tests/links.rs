//! Every relative link in README.md and docs/*.md points at a file that exists, so a module
//! moved into a folder (as `src/discovery.rs` once did) cannot leave a page pointing nowhere.

use std::path::{Path, PathBuf};

/// The targets of the Markdown links `[text](target)` in `text` that are relative paths (no
/// scheme, not an anchor in the same page), without their `#anchor`.
fn relative_links(text: &str) -> Vec<String> {
    let mut links = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find("](") {
        rest = &rest[at + 2..];
        let Some(end) = rest.find(')') else { break };
        let target = &rest[..end];
        rest = &rest[end..];
        let path = target.split('#').next().unwrap_or_default();
        if path.is_empty() || path.contains("://") || path.starts_with("mailto:") {
            continue;
        }
        if path.contains(char::is_whitespace) {
            continue; // not a link: code such as `f(x)](y)` in a block
        }
        links.push(path.to_string());
    }
    links
}

fn pages() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut pages = vec![root.join("README.md")];
    for entry in std::fs::read_dir(root.join("docs")).expect("docs/") {
        let path = entry.expect("docs entry").path();
        if path.extension().is_some_and(|e| e == "md") {
            pages.push(path);
        }
    }
    pages
}

#[test]
fn the_link_finder_sees_relative_links_only() {
    let text = "[a](../src/x.rs) [b](https://e.org) [c](#top) [d](y.md#part) `[e](f g)`";
    assert_eq!(relative_links(text), ["../src/x.rs", "y.md"]);
}

#[test]
fn every_relative_link_in_the_docs_points_at_a_file() {
    let mut broken = Vec::new();
    let mut checked = 0;
    for page in pages() {
        let text = std::fs::read_to_string(&page).expect("read page");
        let dir = page.parent().expect("page directory");
        for link in relative_links(&text) {
            checked += 1;
            if !dir.join(&link).exists() {
                broken.push(format!("{}: {link}", page.display()));
            }
        }
    }
    assert!(
        checked >= 10,
        "only {checked} links found: is the finder broken?"
    );
    assert!(
        broken.is_empty(),
        "links to nothing:\n{}",
        broken.join("\n")
    );
}

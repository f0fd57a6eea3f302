//! A directory's listing page, for a directory without an `index.html`.
//!
//! Every name in it comes from the filesystem, where anyone who may upload chooses names, so
//! names are HTML-escaped as text and percent-encoded as links; hidden entries (a leading dot,
//! as uploads in progress are) are left out.
//!
//! A listing is built on the event loop, so its cost is bounded whatever the directory holds:
//! at most [`MAX_ENTRIES`] entries are read (the page says how many more there are not), and an
//! entry's type comes from the directory itself (`d_type`), with a `stat` only for a symlink.
//! A 100,000-entry directory took 240 ms a request when every entry was `stat`ed and listed.

use std::fs;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use percent_encoding::{percent_decode_str, percent_encode};

use super::root::LINK;

/// The most entries a listing shows (in directory order, then sorted).
pub const MAX_ENTRIES: usize = 5_000;

/// A directory's listing page. Hidden entries are left out, names are HTML-escaped and links
/// percent-encoded, directories end with `/`.
pub fn listing(dir: &Path, url_path: &str) -> io::Result<String> {
    let mut entries: Vec<(Vec<u8>, bool)> = Vec::new();
    let mut more = false;
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name().as_bytes().to_vec();
        if name.first() == Some(&b'.') {
            continue;
        }
        if entries.len() == MAX_ENTRIES {
            more = true;
            break;
        }
        let is_dir = match entry.file_type() {
            Ok(t) if t.is_symlink() => fs::metadata(entry.path()).is_ok_and(|m| m.is_dir()),
            Ok(t) => t.is_dir(),
            Err(_) => false,
        };
        entries.push((name, is_dir));
    }
    entries.sort();
    let title = html_escape(&percent_decode_str(url_path).decode_utf8_lossy());
    let mut html = format!(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Index of {title}</title></head>\n\
         <body><h1>Index of {title}</h1>\n<ul>\n"
    );
    if url_path != "/" {
        html.push_str("<li><a href=\"../\">../</a></li>\n");
    }
    for (name, is_dir) in entries {
        let slash = if is_dir { "/" } else { "" };
        let href = percent_encode(&name, LINK);
        let text = html_escape(&String::from_utf8_lossy(&name));
        html.push_str(&format!(
            "<li><a href=\"{href}{slash}\">{text}{slash}</a></li>\n"
        ));
    }
    html.push_str("</ul>\n");
    if more {
        html.push_str(&format!(
            "<p>Only the first {MAX_ENTRIES} entries are listed.</p>\n"
        ));
    }
    html.push_str("</body></html>\n");
    Ok(html)
}

/// Escapes the characters that are markup in HTML text and attribute values.
pub fn html_escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            c => escaped.push(c),
        }
    }
    escaped
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_huge_directory_lists_a_bounded_number_of_entries() {
        let dir = tempfile::tempdir().unwrap();
        for i in 0..MAX_ENTRIES + 10 {
            fs::write(dir.path().join(format!("f{i}")), b"").unwrap();
        }
        fs::create_dir(dir.path().join("sub")).unwrap();
        let html = listing(dir.path(), "/big/").unwrap();
        assert_eq!(
            html.matches("<li>").count(),
            MAX_ENTRIES + 1,
            "the entries and ../"
        );
        assert!(html.contains("Only the first 5000 entries are listed."));

        let small = tempfile::tempdir().unwrap();
        fs::create_dir(small.path().join("sub")).unwrap();
        fs::write(small.path().join("a.txt"), b"x").unwrap();
        std::os::unix::fs::symlink(small.path().join("sub"), small.path().join("link")).unwrap();
        let html = listing(small.path(), "/").unwrap();
        assert!(html.contains(">sub/<") && html.contains(">link/<") && html.contains(">a.txt<"));
        assert!(!html.contains("Only the first"));
    }

    #[test]
    fn html_escape_escapes_markup() {
        assert_eq!(
            html_escape("<a href=\"x\">'&'</a>"),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
    }
}

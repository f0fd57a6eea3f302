//! A directory's listing page, for a directory without an `index.html`.
//!
//! Every name in it comes from the filesystem, where anyone who may upload chooses names, so
//! names are HTML-escaped as text and percent-encoded as links; hidden entries (a leading dot,
//! as uploads in progress are) are left out.

use std::fs;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use percent_encoding::{percent_decode_str, percent_encode};

use super::root::LINK;

/// A directory's listing page. Hidden entries are left out, names are HTML-escaped and links
/// percent-encoded, directories end with `/`.
pub fn listing(dir: &Path, url_path: &str) -> io::Result<String> {
    let mut entries: Vec<(Vec<u8>, bool)> = Vec::new();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name().as_bytes().to_vec();
        if name.first() == Some(&b'.') {
            continue;
        }
        let is_dir = fs::metadata(entry.path()).is_ok_and(|m| m.is_dir());
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
    html.push_str("</ul>\n</body></html>\n");
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
    fn html_escape_escapes_markup() {
        assert_eq!(
            html_escape("<a href=\"x\">'&'</a>"),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
    }
}

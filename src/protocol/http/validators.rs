//! Validators and preconditions: `ETag`, `Last-Modified`, and the conditional fields that
//! compare a client's copy with ours.
//!
//! Each file gets a `Last-Modified` and a strong `ETag` built from its modification time in
//! nanoseconds and its size (`"<mtime hex>-<size hex>"`). [`evaluate`] applies the conditional
//! fields in RFC 9110 §13.2.2's order: `If-Match` or `If-Unmodified-Since` can answer 412; then
//! `If-None-Match` (a list, or `*`), or failing that `If-Modified-Since`, can answer 304.
//! Reads (`static_files.rs`) and writes (`upload.rs`) use the same evaluation, so a client
//! sees one rule whichever method it sends.
//!
//! Nothing here touches the filesystem beyond the [`Metadata`] it is handed.

use std::fs::Metadata;
use std::io::Write as _;
use std::time::{SystemTime, UNIX_EPOCH};

use httpdate::HttpDate;

use super::request::{Method, RequestHead, list_items, trim_ows};
use super::response::DATE_LEN;

/// A file's validators, formatted on the stack.
#[derive(Debug, Clone)]
pub(super) struct Validators {
    /// `"<mtime hex>-<size hex>"`, quotes included.
    etag: ([u8; 48], usize),
    /// The modification time in whole seconds, and as an HTTP date.
    modified: Option<(u64, [u8; DATE_LEN])>,
}

impl Validators {
    /// The validators of a file with this metadata.
    pub(super) fn of(meta: &Metadata) -> Validators {
        let mtime = meta.modified().ok();
        let since_epoch = mtime.and_then(|t| t.duration_since(UNIX_EPOCH).ok());
        let mut etag = [0u8; 48];
        let mut cursor = &mut etag[..];
        let nanos = since_epoch.map_or(0, |d| d.as_nanos());
        // 48 bytes hold the longest tag ("" + 32 + "-" + 16 hex digits), so this cannot fail.
        let _ = write!(cursor, "\"{nanos:x}-{:x}\"", meta.len());
        let etag_len = 48 - cursor.len();
        let modified = mtime.zip(since_epoch).map(|(t, d)| {
            let mut text = [b' '; DATE_LEN];
            let _ = write!(&mut text[..], "{}", HttpDate::from(t));
            (d.as_secs(), text)
        });
        Validators {
            etag: (etag, etag_len),
            modified,
        }
    }

    /// The strong entity tag, quotes included.
    pub(super) fn etag(&self) -> &[u8] {
        self.etag.0.get(..self.etag.1).unwrap_or_default()
    }

    /// The modification time as an HTTP date, for `Last-Modified`, if the filesystem has one.
    pub(super) fn last_modified(&self) -> Option<&[u8]> {
        self.modified.as_ref().map(|(_, date)| &date[..])
    }

    /// `If-Range`: the range applies only if the client's copy is this very version.
    pub(super) fn range_applies(&self, head: &RequestHead<'_, '_>) -> bool {
        match head.header("if-range").map(trim_ows) {
            None => true,
            Some(tag @ [b'"', ..]) => tag == self.etag(),
            Some(date) => match (http_date(date), self.modified) {
                (Some(date), Some((modified, _))) => date == modified,
                _ => false,
            },
        }
    }
}

/// What a request's conditional fields decide (RFC 9110 §13.2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Precondition {
    /// Carry on: serve, or write.
    Proceed,
    /// 304: the client's cached copy is current (GET and HEAD only).
    NotModified,
    /// 412: the client's copy, or its expectation of the resource, is not what is there.
    Failed,
}

/// Evaluates `head`'s preconditions against the resource's `current` validators (`None`: no
/// such resource), in RFC 9110 §13.2.2's order: `If-Match`, else `If-Unmodified-Since`; then
/// `If-None-Match`, else (GET and HEAD) `If-Modified-Since`.
///
/// `If-Match` compares strongly (a weak tag never matches); `If-None-Match` weakly. `*` matches
/// any current representation, so `If-None-Match: *` on a `PUT` means "create, never replace".
pub(super) fn evaluate(head: &RequestHead<'_, '_>, current: Option<&Validators>) -> Precondition {
    let read = matches!(head.method, Method::Get | Method::Head);
    let modified = current.and_then(|v| v.modified).map(|(secs, _)| secs);
    if let Some(list) = head.header("if-match") {
        let matched = current
            .is_some_and(|v| trim_ows(list) == b"*" || list_items(list).any(|tag| tag == v.etag()));
        if !matched {
            return Precondition::Failed;
        }
    } else if let (Some(since), Some(modified)) = (
        head.header("if-unmodified-since").and_then(http_date),
        modified,
    ) && modified > since
    {
        return Precondition::Failed;
    }
    if let Some(list) = head.header("if-none-match") {
        let matched = current.is_some_and(|v| {
            trim_ows(list) == b"*"
                || list_items(list).any(|tag| tag.strip_prefix(b"W/").unwrap_or(tag) == v.etag())
        });
        return match (matched, read) {
            (false, _) => Precondition::Proceed,
            (true, true) => Precondition::NotModified,
            (true, false) => Precondition::Failed,
        };
    }
    match (
        head.header("if-modified-since").and_then(http_date),
        modified,
    ) {
        (Some(since), Some(modified)) if read && modified <= since => Precondition::NotModified,
        _ => Precondition::Proceed,
    }
}

/// Seconds since the epoch of an HTTP date, if it is one.
fn http_date(value: &[u8]) -> Option<u64> {
    let text = std::str::from_utf8(value).ok()?;
    let time: SystemTime = httpdate::parse_http_date(text.trim()).ok()?;
    time.duration_since(UNIX_EPOCH).ok().map(|d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::http::HttpConfig;
    use crate::protocol::http::request::{RequestLimits, header_slots, parse_head};
    use std::fs::File;
    use std::time::Duration;

    /// A file last modified at a known second, and its validators.
    fn file_validators() -> (Validators, SystemTime, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let file = File::create(&path).unwrap();
        let mtime = UNIX_EPOCH + Duration::from_secs(1_000_000_000);
        file.set_modified(mtime).unwrap();
        (Validators::of(&file.metadata().unwrap()), mtime, dir)
    }

    /// `evaluate` for `method` with one extra field, against `current`.
    fn decide(method: &str, field: &str, current: Option<&Validators>) -> Precondition {
        // A write needs a length to be a request at all.
        let head =
            format!("{method} /f HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n{field}\r\n\r\n");
        let limits = RequestLimits::of(&HttpConfig::default());
        let mut slots = header_slots();
        let head = parse_head(head.as_bytes(), &mut slots, &limits).unwrap();
        evaluate(&head, current)
    }

    #[test]
    fn preconditions_follow_rfc_9110_13_2_2() {
        use Precondition::*;
        let (v, mtime, _dir) = file_validators();
        let etag = String::from_utf8(v.etag().to_vec()).unwrap();
        let date = |t: SystemTime| httpdate::fmt_http_date(t);
        let modified = date(mtime);
        let before = date(mtime - Duration::from_secs(60));
        let after = date(mtime + Duration::from_secs(60));
        let cases: Vec<(&str, String, Option<&Validators>, Precondition)> = vec![
            ("GET", "X-None: 1".into(), Some(&v), Proceed),
            // If-None-Match compares weakly; a match is 304 on reads, 412 on writes.
            (
                "GET",
                format!("If-None-Match: {etag}"),
                Some(&v),
                NotModified,
            ),
            (
                "GET",
                format!("If-None-Match: W/{etag}"),
                Some(&v),
                NotModified,
            ),
            (
                "GET",
                format!("If-None-Match: \"x\", {etag}"),
                Some(&v),
                NotModified,
            ),
            ("GET", "If-None-Match: \"x\"".into(), Some(&v), Proceed),
            ("PUT", format!("If-None-Match: {etag}"), Some(&v), Failed),
            ("PUT", "If-None-Match: *".into(), Some(&v), Failed),
            ("PUT", "If-None-Match: *".into(), None, Proceed),
            // If-Match compares strongly, and `*` needs a current representation.
            ("GET", format!("If-Match: {etag}"), Some(&v), Proceed),
            ("GET", format!("If-Match: W/{etag}"), Some(&v), Failed),
            ("PUT", "If-Match: *".into(), Some(&v), Proceed),
            ("PUT", "If-Match: *".into(), None, Failed),
            // Dates, to the second.
            (
                "GET",
                format!("If-Modified-Since: {modified}"),
                Some(&v),
                NotModified,
            ),
            (
                "GET",
                format!("If-Modified-Since: {before}"),
                Some(&v),
                Proceed,
            ),
            (
                "PUT",
                format!("If-Modified-Since: {modified}"),
                Some(&v),
                Proceed,
            ),
            (
                "GET",
                format!("If-Unmodified-Since: {before}"),
                Some(&v),
                Failed,
            ),
            (
                "GET",
                format!("If-Unmodified-Since: {after}"),
                Some(&v),
                Proceed,
            ),
            (
                "GET",
                "If-Modified-Since: yesterday".into(),
                Some(&v),
                Proceed,
            ),
            // If-Match is evaluated instead of If-Unmodified-Since, not as well.
            (
                "GET",
                format!("If-Match: {etag}\r\nIf-Unmodified-Since: {before}"),
                Some(&v),
                Proceed,
            ),
            // If-None-Match is evaluated instead of If-Modified-Since.
            (
                "GET",
                format!("If-None-Match: \"x\"\r\nIf-Modified-Since: {modified}"),
                Some(&v),
                Proceed,
            ),
        ];
        for (method, field, current, expected) in cases {
            assert_eq!(
                decide(method, &field, current),
                expected,
                "{method} {field}"
            );
        }
    }

    #[test]
    fn if_range_needs_this_very_version() {
        let (v, mtime, _dir) = file_validators();
        let etag = String::from_utf8(v.etag().to_vec()).unwrap();
        let limits = RequestLimits::of(&HttpConfig::default());
        let cases = [
            (String::new(), true),
            (format!("If-Range: {etag}\r\n"), true),
            ("If-Range: \"other\"\r\n".to_string(), false),
            (
                format!("If-Range: {}\r\n", httpdate::fmt_http_date(mtime)),
                true,
            ),
            (
                format!(
                    "If-Range: {}\r\n",
                    httpdate::fmt_http_date(mtime - Duration::from_secs(1))
                ),
                false,
            ),
        ];
        for (field, expected) in cases {
            let head = format!("GET /f HTTP/1.1\r\nHost: t\r\n{field}\r\n");
            let mut slots = header_slots();
            let head = parse_head(head.as_bytes(), &mut slots, &limits).unwrap();
            assert_eq!(v.range_applies(&head), expected, "{field}");
        }
        assert_eq!(
            v.last_modified(),
            Some(httpdate::fmt_http_date(mtime).as_bytes())
        );
    }
}

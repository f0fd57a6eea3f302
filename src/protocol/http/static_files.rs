//! Static files under the document root: path safety, validators, ranges, and streaming.
//!
//! **Path safety.** A request path is attacker-controlled, so it goes through two independent
//! checks, and either is enough to stop an escape:
//!
//! 1. [`sanitize`] works on the text: it refuses (403) an encoded slash or backslash (`%2f`,
//!    `%5c`) before decoding, then, after decoding, a NUL or a backslash. It removes dot
//!    segments as RFC 3986 §5.2.4 does (`/a/./b` → `a/b`, `/a/../b` → `b`) and refuses (403) a
//!    `..` that would climb above the root. Segments then starting with a dot are hidden
//!    files, answered 404 as if absent (uploads in progress are such files).
//! 2. [`resolve`] asks the filesystem: the joined path is canonicalised (symlinks followed) and
//!    must still lie under the canonical root, so a symlink pointing out of the root is 403.
//!
//! **Validators.** Each file gets a `Last-Modified` and a strong `ETag` built from its
//! modification time in nanoseconds and its size (`"<mtime hex>-<size hex>"`). [`evaluate`]
//! applies the conditional fields in RFC 9110 §13.2.2's order: `If-Match` or
//! `If-Unmodified-Since` can answer 412; then `If-None-Match` (a list, or `*`), or failing that
//! `If-Modified-Since`, can answer 304. Uploads use the same evaluation (see `upload.rs`).
//!
//! **Ranges.** One `bytes=` range (`a-b`, `a-`, `-n`) gets 206 with `Content-Range`; a range
//! wholly past the end gets 416 with `Content-Range: bytes */size`. Several ranges are
//! answered with the whole file (200), which RFC 9110 §14.2 allows and which spares us
//! `multipart/byteranges`. `If-Range` is honoured. A malformed `Range` is ignored.
//!
//! **Streaming.** A file is never read whole: [`FileStream`] appends 64 KiB at a time, and only
//! while less than 64 KiB is waiting to be sent; the session calls it again from `on_drain`. Memory per connection stays bounded whatever the file size.
//!
//! Filesystem calls here block the event loop briefly; that is the usual trade for a local
//! disk, and the reason the reads are bounded.

use std::cell::RefCell;
use std::ffi::OsStr;
use std::fs::{self, File, Metadata};
use std::io::{self, Read, Seek, SeekFrom, Write as _};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use httpdate::HttpDate;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, percent_encode};

use super::exchange::Reply;
use super::file_cache::{CachedFile, MAX_ENTRY};
use super::request::{Method, RequestHead, list_items, trim_ows};
use super::response::DATE_LEN;
use super::routes::Handled;
use super::status::Status;
use crate::session::Output;

/// How much file data is read per step.
const CHUNK: usize = 64 * 1024;
/// The output backlog above which no more file data is read until the socket drains: one
/// chunk, so a client that stops reading holds at most that much beyond its socket buffer.
const HIGH_WATER: usize = CHUNK;

/// The document root, canonicalised once it exists.
#[derive(Debug)]
pub struct Root {
    configured: PathBuf,
    canonical: RefCell<Option<PathBuf>>,
}

impl Root {
    /// A root at `path`, which need not exist yet.
    pub fn new(path: PathBuf) -> Root {
        let canonical = fs::canonicalize(&path).ok();
        Root {
            configured: path,
            canonical: RefCell::new(canonical),
        }
    }

    /// The canonical root path.
    pub fn canonical(&self) -> io::Result<PathBuf> {
        if let Some(path) = self.canonical.borrow().as_ref() {
            return Ok(path.clone());
        }
        let path = fs::canonicalize(&self.configured)?;
        *self.canonical.borrow_mut() = Some(path.clone());
        Ok(path)
    }
}

/// Why a path is not served.
#[derive(Debug)]
pub enum Refusal {
    /// 403: an escape attempt, or a file we may not read.
    Forbidden,
    /// 404: absent or hidden.
    NotFound,
    /// 412: a conditional write's precondition does not hold.
    Precondition,
    /// 500: the filesystem failed in a way a client cannot cause.
    Failed(io::Error),
}

impl From<io::Error> for Refusal {
    fn from(e: io::Error) -> Refusal {
        match e.kind() {
            // A name too long for the filesystem names nothing there: the client's doing.
            io::ErrorKind::NotFound
            | io::ErrorKind::NotADirectory
            | io::ErrorKind::InvalidFilename => Refusal::NotFound,
            io::ErrorKind::PermissionDenied => Refusal::Forbidden,
            _ => Refusal::Failed(e),
        }
    }
}

impl Refusal {
    /// Answers the refusal; failures are logged and close the connection.
    pub fn answer(self, reply: &mut Reply<'_, '_>, what: &str) {
        match self {
            Refusal::Forbidden => reply.refuse(Status::Forbidden),
            Refusal::NotFound => reply.refuse(Status::NotFound),
            Refusal::Precondition => reply.refuse(Status::PreconditionFailed),
            Refusal::Failed(e) => {
                log::error!("http: {what}: {e}");
                reply.fail(Status::InternalServerError);
            }
        }
    }
}

/// Turns a raw request path into a relative filesystem path, or refuses it.
pub fn sanitize(raw: &str) -> Result<PathBuf, Refusal> {
    let lower_has = |pat: &str| {
        raw.as_bytes()
            .windows(3)
            .any(|w| w.eq_ignore_ascii_case(pat.as_bytes()))
    };
    if lower_has("%2f") || lower_has("%5c") {
        return Err(Refusal::Forbidden);
    }
    let decoded: Vec<u8> = percent_decode_str(raw).collect();
    if decoded.iter().any(|&b| b == 0 || b == b'\\') {
        return Err(Refusal::Forbidden);
    }
    // Dot segments first (RFC 3986 §5.2.4): `/a/./b` is `/a/b` and `/a/../b` is `/b`, as a
    // browser would have sent them; only then can a leading dot mean a hidden file. A `..`
    // with nothing left to remove would climb above the root.
    let mut segments: Vec<&[u8]> = Vec::new();
    for segment in decoded.split(|&b| b == b'/').filter(|s| !s.is_empty()) {
        match segment {
            b"." => {}
            b".." => {
                segments.pop().ok_or(Refusal::Forbidden)?;
            }
            [b'.', ..] => return Err(Refusal::NotFound),
            _ => segments.push(segment),
        }
    }
    Ok(segments.iter().map(|s| OsStr::from_bytes(s)).collect())
}

/// Canonicalises `root/relative` and checks it is still under `root` (itself canonical).
pub fn resolve(root: &Path, relative: &Path) -> Result<PathBuf, Refusal> {
    let path = fs::canonicalize(root.join(relative))?;
    if path.starts_with(root) {
        Ok(path)
    } else {
        Err(Refusal::Forbidden)
    }
}

/// Answers `GET` or `HEAD` for a static path.
pub fn serve(
    head: &RequestHead<'_, '_>,
    path: &str,
    query: Option<&str>,
    reply: &mut Reply<'_, '_>,
) -> Handled {
    let cached = reply
        .shared
        .file_cache
        .borrow_mut()
        .fresh(path, reply.cx.now());
    if let Some(file) = cached {
        return serve_cached(head, &file, reply);
    }
    let located = locate(path, &reply.shared.root);
    match located {
        // `/file.txt/` names a directory that is not there (nginx: 404 too).
        Ok(found) if found.meta.is_file() && path.ends_with('/') => {
            answer(Refusal::NotFound, reply, path)
        }
        Ok(found) if found.meta.is_file() => serve_file(head, &found.path, path, reply),
        Ok(found) if found.meta.is_dir() && path.ends_with('/') => {
            serve_directory(head, &found, path, reply)
        }
        Ok(found) if found.meta.is_dir() => {
            redirect_to_slash(path, query, reply);
            Handled::Answered
        }
        // Sockets, FIFOs, devices: opening one could block the loop or worse.
        Ok(_) => answer(Refusal::Forbidden, reply, path),
        Err(refusal) => answer(refusal, reply, path),
    }
}

fn answer(refusal: Refusal, reply: &mut Reply<'_, '_>, path: &str) -> Handled {
    refusal.answer(reply, path);
    Handled::Answered
}

/// A safe path that exists.
struct Found {
    /// The canonical root it lies under.
    root: PathBuf,
    /// Its canonical path.
    path: PathBuf,
    meta: Metadata,
}

fn locate(path: &str, root: &Root) -> Result<Found, Refusal> {
    let relative = sanitize(path)?;
    let root = root.canonical()?;
    let path = resolve(&root, &relative)?;
    let meta = fs::metadata(&path)?;
    Ok(Found { root, path, meta })
}

/// A directory: its `index.html` if there is one, else a listing.
fn serve_directory(
    head: &RequestHead<'_, '_>,
    dir: &Found,
    path: &str,
    reply: &mut Reply<'_, '_>,
) -> Handled {
    // `index` is absolute, so joining it to the root inside `resolve` yields it unchanged;
    // the point is the canonicalisation and the check that it stays under the root.
    let index = dir.path.join("index.html");
    match resolve(&dir.root, &index) {
        Ok(index) if index.is_file() => serve_file(head, &index, path, reply),
        Ok(_) | Err(Refusal::NotFound) => match listing(&dir.path, path) {
            Ok(html) => {
                reply.send(Status::Ok, b"text/html; charset=utf-8", html.as_bytes());
                Handled::Answered
            }
            Err(e) => answer(e.into(), reply, path),
        },
        Err(refusal) => answer(refusal, reply, path),
    }
}

/// `/dir` → `/dir/`, so that relative links in the directory's page resolve inside it.
fn redirect_to_slash(path: &str, query: Option<&str>, reply: &mut Reply<'_, '_>) {
    // One leading slash only: `//host/dir` must not become a redirect to another host.
    let mut location = String::with_capacity(path.len() + 2);
    location.push('/');
    location.push_str(path.trim_start_matches('/'));
    location.push('/');
    if let Some(query) = query {
        location.push('?');
        location.push_str(query);
    }
    reply.refuse_with(
        Status::MovedPermanently,
        Some(("Location", location.as_bytes())),
    );
}

/// A file's validators, formatted on the stack.
#[derive(Debug, Clone)]
pub struct Validators {
    /// `"<mtime hex>-<size hex>"`, quotes included.
    etag: ([u8; 48], usize),
    /// The modification time in whole seconds, and as an HTTP date.
    modified: Option<(u64, [u8; DATE_LEN])>,
}

impl Validators {
    /// The validators of a file with this metadata.
    pub fn of(meta: &Metadata) -> Validators {
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
    pub fn etag(&self) -> &[u8] {
        self.etag.0.get(..self.etag.1).unwrap_or_default()
    }

    /// `If-Range`: the range applies only if the client's copy is this very version.
    fn range_applies(&self, head: &RequestHead<'_, '_>) -> bool {
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
pub enum Precondition {
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
pub fn evaluate(head: &RequestHead<'_, '_>, current: Option<&Validators>) -> Precondition {
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

/// The part of a file a request asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ByteRange {
    /// The whole file.
    Full,
    /// Bytes `first..=last`.
    Partial {
        /// First byte offset.
        first: u64,
        /// Last byte offset, inclusive.
        last: u64,
    },
    /// Nothing of it: 416.
    Unsatisfiable,
}

/// Interprets a `Range` field for a file of `size` bytes. Anything we do not serve as one
/// range (malformed, another unit, several ranges) is the whole file.
pub fn byte_range(value: &[u8], size: u64) -> ByteRange {
    let Some((unit, spec)) = value.split_at_checked(6) else {
        return ByteRange::Full;
    };
    if !unit.eq_ignore_ascii_case(b"bytes=") || spec.contains(&b',') {
        return ByteRange::Full;
    }
    let Some(dash) = spec.iter().position(|&b| b == b'-') else {
        return ByteRange::Full;
    };
    let (first, last) = spec.split_at(dash);
    let (first, last) = (trim_ows(first), trim_ows(last.get(1..).unwrap_or_default()));
    match (number(first), number(last)) {
        // "-n": the last n bytes.
        (None, Some(n)) if first.is_empty() => match n.min(size) {
            0 => ByteRange::Unsatisfiable,
            n => ByteRange::Partial {
                first: size - n,
                last: size - 1,
            },
        },
        (Some(a), None) if last.is_empty() && a < size => ByteRange::Partial {
            first: a,
            last: size - 1,
        },
        (Some(a), Some(b)) if a <= b && a < size => ByteRange::Partial {
            first: a,
            last: b.min(size - 1),
        },
        (Some(a), Some(b)) if a <= b => ByteRange::Unsatisfiable,
        (Some(_), None) if last.is_empty() => ByteRange::Unsatisfiable,
        _ => ByteRange::Full,
    }
}

fn number(digits: &[u8]) -> Option<u64> {
    crate::protocol::number::decimal(digits)
}

/// Answers for a regular file: conditionals, range, head, then the first slice of body.
fn serve_file(
    head: &RequestHead<'_, '_>,
    path: &Path,
    url_path: &str,
    reply: &mut Reply<'_, '_>,
) -> Handled {
    let opened = File::open(path).and_then(|f| f.metadata().map(|m| (f, m)));
    let (mut file, meta) = match opened {
        Ok((file, meta)) if meta.is_file() => (file, meta),
        Ok(_) => return answer(Refusal::Forbidden, reply, &path.to_string_lossy()),
        Err(e) => return answer(e.into(), reply, &path.to_string_lossy()),
    };
    let validators = Validators::of(&meta);
    let content_type = mime_guess::from_path(path)
        .first_raw()
        .unwrap_or("application/octet-stream");
    // Uploaded files were written by whoever may `PUT`; see `respond`.
    let sandboxed = reply
        .shared
        .root
        .canonical()
        .is_ok_and(|root| path.starts_with(root.join("files")));
    if meta.len() <= MAX_ENTRY && reply.shared.config.file_cache > 0 {
        let mut body = Vec::with_capacity(meta.len() as usize);
        match file.read_to_end(&mut body) {
            Ok(_) => {
                let entry =
                    CachedFile::new(body, content_type, validators, sandboxed, reply.cx.now());
                let entry = reply.shared.file_cache.borrow_mut().insert(url_path, entry);
                return serve_cached(head, &entry, reply);
            }
            Err(e) => return answer(e.into(), reply, &path.to_string_lossy()),
        }
    }
    match respond(
        head,
        meta.len(),
        &validators,
        content_type,
        sandboxed,
        reply,
    ) {
        Some((first, len)) => start_stream(file, first, len, path, reply),
        None => Handled::Answered,
    }
}

/// Answers from a file held in memory.
fn serve_cached(
    head: &RequestHead<'_, '_>,
    file: &CachedFile,
    reply: &mut Reply<'_, '_>,
) -> Handled {
    let size = file.body.len() as u64;
    if let Some((first, len)) = respond(
        head,
        size,
        &file.validators,
        file.content_type,
        file.sandboxed,
        reply,
    ) {
        let body = file
            .body
            .get(first as usize..(first + len) as usize)
            .unwrap_or_default();
        reply.cx.out().extend_from_slice(body);
    }
    Handled::Answered
}

/// Writes the response head for a file of `size` bytes: 304, 416, 206 or 200. Returns the
/// byte range to send when a body follows.
fn respond(
    head: &RequestHead<'_, '_>,
    size: u64,
    validators: &Validators,
    content_type: &str,
    sandboxed: bool,
    reply: &mut Reply<'_, '_>,
) -> Option<(u64, u64)> {
    match evaluate(head, Some(validators)) {
        Precondition::Proceed => {}
        Precondition::Failed => {
            reply.refuse(Status::PreconditionFailed);
            return None;
        }
        Precondition::NotModified => {
            let head = reply
                .start(Status::NotModified)
                .header("ETag", validators.etag());
            let head = match &validators.modified {
                Some((_, date)) => head.header("Last-Modified", date),
                None => head,
            };
            head.end(0);
            return None;
        }
    }
    let range = match head.header("range") {
        Some(value) if head.method == Method::Get && validators.range_applies(head) => {
            byte_range(value, size)
        }
        _ => ByteRange::Full,
    };
    let (status, first, len) = match range {
        ByteRange::Full => (Status::Ok, 0, size),
        ByteRange::Partial { first, last } => (Status::PartialContent, first, last - first + 1),
        ByteRange::Unsatisfiable => {
            let mut value = [0u8; 32];
            let mut cursor = &mut value[..];
            let _ = write!(cursor, "bytes */{size}");
            let n = 32 - cursor.len();
            reply.refuse_with(
                Status::RangeNotSatisfiable,
                Some(("Content-Range", &value[..n])),
            );
            return None;
        }
    };
    let mut head_out = reply
        .start(status)
        .header("Content-Type", content_type.as_bytes())
        .header("ETag", validators.etag())
        .header("Accept-Ranges", b"bytes");
    if sandboxed {
        // Anyone who may PUT could upload a page with a script: served on our origin it
        // would run with our cookies. Sandboxed, it runs as an opaque origin, if at all.
        head_out = head_out.header("Content-Security-Policy", b"sandbox");
    }
    if let Some((_, date)) = &validators.modified {
        head_out = head_out.header("Last-Modified", date);
    }
    if status == Status::PartialContent {
        let mut value = [0u8; 64];
        let mut cursor = &mut value[..];
        let _ = write!(cursor, "bytes {first}-{}/{size}", first + len - 1);
        let n = 64 - cursor.len();
        head_out = head_out.header("Content-Range", &value[..n]);
    }
    head_out.end(len);
    (reply.wants_body_bytes() && len > 0).then_some((first, len))
}

/// Sends what fits now; the rest continues from `on_drain`.
fn start_stream(
    mut file: File,
    first: u64,
    len: u64,
    path: &Path,
    reply: &mut Reply<'_, '_>,
) -> Handled {
    let sought = if first > 0 {
        file.seek(SeekFrom::Start(first)).map(|_| ())
    } else {
        Ok(())
    };
    let mut stream = FileStream {
        file,
        remaining: len,
    };
    match sought.and_then(|()| stream.pump(&mut reply.cx.out())) {
        Ok(Pumped::Done) => Handled::Answered,
        Ok(Pumped::More) => Handled::Streaming(stream),
        Err(e) => {
            // The head promised `len` bytes: the only honest ending now is to close.
            log::error!("http: reading {}: {e}", path.display());
            reply.exchange.persist = super::request::Persist::Close;
            Handled::Answered
        }
    }
}

/// Whether a file stream has more to send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pumped {
    /// The output backlog is full; call again after it drains.
    More,
    /// Every byte has been appended.
    Done,
}

/// A file body being sent a slice at a time.
#[derive(Debug)]
pub struct FileStream {
    file: File,
    remaining: u64,
}

impl FileStream {
    /// Appends file data to `out` while what it has pending is under the high-water mark.
    pub fn pump(&mut self, out: &mut Output<'_>) -> io::Result<Pumped> {
        while self.remaining > 0 {
            if out.pending() >= HIGH_WATER {
                return Ok(Pumped::More);
            }
            let want = self.remaining.min(CHUNK as u64);
            out.reserve(CHUNK);
            let got = out.read_from(&mut self.file, want)?;
            if got == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "file shrank while sent",
                ));
            }
            self.remaining -= got as u64;
        }
        Ok(Pumped::Done)
    }
}

/// Characters left as they are in a link: RFC 3986 unreserved.
pub const LINK: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// A directory's listing page. Hidden entries are left out, names are HTML-escaped and links
/// percent-encoded, directories end with `/`.
fn listing(dir: &Path, url_path: &str) -> io::Result<String> {
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
    fn sanitize_refuses_escapes() {
        let cases: &[(&str, Option<&str>)] = &[
            ("/a/b.txt", Some("a/b.txt")),
            ("/a//b", Some("a/b")),
            ("/", Some("")),
            ("/a%20b", Some("a b")),
            ("/../etc/passwd", None),
            ("/a/../../etc", None),
            ("/%2e%2e/etc", None),
            ("/%2E%2E/etc", None),
            ("/a/%2fetc", None),
            ("/a/%2Fetc", None),
            ("/a%5c..%5cetc", None),
            ("/a\\b", None),
            ("/a%00b", None),
            ("/.hidden", None),
            ("/a/.git/config", None),
            ("/sub/./a.txt", Some("sub/a.txt")),
            ("/sub/../a.txt", Some("a.txt")),
            ("/a/b/../../c", Some("c")),
            ("/./.", Some("")),
            ("/sub/%2e/a.txt", Some("sub/a.txt")),
            ("/a/./../.env", None),
        ];
        for (raw, expected) in cases {
            let got = sanitize(raw).ok();
            assert_eq!(got.as_deref(), expected.map(Path::new), "{raw}");
        }
        assert!(matches!(sanitize("/.."), Err(Refusal::Forbidden)));
        assert!(matches!(sanitize("/.env"), Err(Refusal::NotFound)));
    }

    #[test]
    fn ranges_follow_rfc_9110() {
        use ByteRange::*;
        let cases: &[(&str, ByteRange)] = &[
            ("bytes=0-9", Partial { first: 0, last: 9 }),
            (
                "bytes=10-",
                Partial {
                    first: 10,
                    last: 99,
                },
            ),
            (
                "bytes=-10",
                Partial {
                    first: 90,
                    last: 99,
                },
            ),
            ("bytes=-1000", Partial { first: 0, last: 99 }),
            (
                "bytes=90-1000",
                Partial {
                    first: 90,
                    last: 99,
                },
            ),
            (
                "Bytes=99-99",
                Partial {
                    first: 99,
                    last: 99,
                },
            ),
            ("bytes=100-", Unsatisfiable),
            ("bytes=100-200", Unsatisfiable),
            ("bytes=-0", Unsatisfiable),
            ("bytes=9-0", Full),
            ("bytes=0-1,5-6", Full),
            ("bytes=a-b", Full),
            ("bytes=-", Full),
            ("items=0-1", Full),
            // However many digits, one rule: past the end is 416, an end past it is clamped.
            ("bytes=9999999999999999999-", Unsatisfiable),
            ("bytes=99999999999999999999-", Unsatisfiable),
            (
                "bytes=0-9999999999999999999",
                Partial { first: 0, last: 99 },
            ),
            (
                "bytes=0-99999999999999999999",
                Partial { first: 0, last: 99 },
            ),
            (
                "bytes=-99999999999999999999",
                Partial { first: 0, last: 99 },
            ),
            ("bytes", Full),
        ];
        for (value, expected) in cases {
            assert_eq!(byte_range(value.as_bytes(), 100), *expected, "{value}");
        }
        assert_eq!(byte_range(b"bytes=0-", 0), Unsatisfiable);
        assert_eq!(byte_range(b"bytes=-5", 0), Unsatisfiable);
    }

    #[test]
    fn html_escape_escapes_markup() {
        assert_eq!(
            html_escape("<a href=\"x\">'&'</a>"),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
    }
}

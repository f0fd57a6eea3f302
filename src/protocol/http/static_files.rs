//! Static files under the document root: `GET` and `HEAD` for a path, answered from the file
//! cache, a file, a directory's `index.html` or its listing.
//!
//! This file puts the pieces together, in the order a request meets them:
//!
//! ```text
//!  root.rs        is the path safe, and what does it name?      403 / 404 / 301 to `dir/`
//!  validators.rs  is the client's copy current?                 304 / 412
//!  ranges.rs      which bytes?                                   206 / 416
//!  file_cache.rs  a small file answered from memory
//!  stream.rs      a large one sent a slice at a time from `on_drain`
//!  listing.rs     a directory without `index.html`
//! ```
//!
//! Filesystem calls here block the event loop briefly; that is the usual trade for a local
//! disk, and the reason the reads are bounded.

use std::fs::{self, File, Metadata};
use std::io::{Read, Write as _};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use super::exchange::{Handled, Reply};
use super::file_cache::{CachedFile, MAX_ENTRY};
use super::ranges::{ByteRange, byte_range};
use super::request::{Method, Persist, RequestHead};
use super::root::{Refusal, Root, resolve, sanitize};
use super::status::Status;
use super::stream::{FileStream, Pumped};
use super::validators::{Precondition, Validators, evaluate};

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
        Ok(_) | Err(Refusal::NotFound) => {
            let page = reply.shared.listings.borrow_mut().page(
                &dir.path,
                &dir.meta,
                path,
                SystemTime::now(),
            );
            match page {
                Ok(html) => {
                    reply.send(Status::Ok, b"text/html; charset=utf-8", html.as_bytes());
                    Handled::Answered
                }
                Err(e) => answer(e.into(), reply, path),
            }
        }
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
            let head = match validators.last_modified() {
                Some(date) => head.header("Last-Modified", date),
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
    if let Some(date) = validators.last_modified() {
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
    file: File,
    first: u64,
    len: u64,
    path: &Path,
    reply: &mut Reply<'_, '_>,
) -> Handled {
    let mut stream = FileStream::new(file, first, len, reply.shared.config.sendfile);
    if reply.exchange.defer_files {
        return Handled::Streaming(stream);
    }
    match stream.pump(reply.cx) {
        Ok(Pumped::Done) => Handled::Answered,
        Ok(Pumped::More) => Handled::Streaming(stream),
        Err(e) => {
            // The head promised `len` bytes: the only honest ending now is to close.
            log::error!("http: reading {}: {e}", path.display());
            reply.exchange.persist = Persist::Close;
            Handled::Answered
        }
    }
}

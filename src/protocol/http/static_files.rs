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
//! disk, and the reason the reads are bounded: a file is read whole only up to the size its
//! `fstat` gave (a file growing meanwhile is not followed), and a file whose size the kernel
//! reports as 0 (procfs and sysfs files, which are generated when read) only up to
//! [`MAX_UNSIZED`] bytes, answered with the length actually read.

use std::fs::File;
use std::io::{self, Read, Write as _};
use std::path::Path;
use std::time::SystemTime;

use super::exchange::{Handled, Reply};
use super::file_cache::{CachedFile, MAX_ENTRY};
use super::ranges::{ByteRange, byte_range};
use super::request::{Method, Persist, RequestHead};
use super::root::{Opened, Refusal, sanitize};
use super::status::Status;
use super::stream::{FileStream, Pumped};
use super::validators::{Precondition, Validators, evaluate};

/// The most read of a file whose size the kernel reports as 0: one read's worth, like a small
/// cached file. Larger generated files are cut there.
pub(super) const MAX_UNSIZED: usize = 64 * 1024;

/// Answers `GET` or `HEAD` for a static path.
pub(super) fn serve(
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
    let relative = match sanitize(path) {
        Ok(relative) => relative,
        Err(refusal) => return answer(refusal, reply, path),
    };
    match reply.shared.root.open(&relative) {
        // `/file.txt/` names a directory that is not there (nginx: 404 too).
        Ok(found) if found.meta.is_file() && path.ends_with('/') => {
            answer(Refusal::NotFound, reply, path)
        }
        Ok(found) if found.meta.is_file() => serve_file(head, found, &relative, path, reply),
        Ok(_) if !path.ends_with('/') => {
            redirect_to_slash(path, query, reply);
            Handled::Answered
        }
        Ok(dir) => serve_directory(head, dir, &relative, path, reply),
        Err(refusal) => answer(refusal, reply, path),
    }
}

fn answer(refusal: Refusal, reply: &mut Reply<'_, '_>, path: &str) -> Handled {
    refusal.answer(reply, path);
    Handled::Answered
}

/// A directory: its `index.html` if there is one, else a listing where `--listings` allows
/// one, else 403 (nginx's answer with `autoindex off`).
fn serve_directory(
    head: &RequestHead<'_, '_>,
    dir: Opened,
    relative: &Path,
    path: &str,
    reply: &mut Reply<'_, '_>,
) -> Handled {
    // Opened from the root, like any path, so a symlinked `index.html` is held to the root.
    let index = relative.join("index.html");
    match reply.shared.root.open(&index) {
        Ok(found) if found.meta.is_file() => serve_file(head, found, &index, path, reply),
        Ok(_) | Err(Refusal::NotFound) if !reply.shared.config.listings => {
            answer(Refusal::Forbidden, reply, path)
        }
        Ok(_) | Err(Refusal::NotFound) => {
            let page = reply.shared.listings.borrow_mut().page(
                &dir.file,
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

/// Answers for a regular file, opened beneath the root: conditionals, range, head, then the
/// first slice of body.
fn serve_file(
    head: &RequestHead<'_, '_>,
    found: Opened,
    relative: &Path,
    url_path: &str,
    reply: &mut Reply<'_, '_>,
) -> Handled {
    let Opened { file, meta } = found;
    let validators = Validators::of(&meta);
    let content_type = mime_guess::from_path(relative)
        .first_raw()
        .unwrap_or("application/octet-stream");
    // Uploaded files were written by whoever may `PUT`; see `respond`.
    let sandboxed = reply.shared.root.in_upload_area(relative, &file);
    if meta.len() == 0 {
        // Empty, or a file whose size the kernel does not know (procfs, sysfs): read what
        // there is, up to a bound, and answer with what was read.
        return match read_bounded(&file, MAX_UNSIZED) {
            Ok(body) => {
                let entry =
                    CachedFile::new(body, content_type, validators, sandboxed, reply.cx.now());
                serve_cached(head, &entry, reply)
            }
            Err(e) => answer(e.into(), reply, url_path),
        };
    }
    if meta.len() <= MAX_ENTRY && reply.shared.config.file_cache > 0 {
        // At most the size `fstat` gave: a file growing meanwhile is not read without end.
        return match read_bounded(&file, meta.len() as usize) {
            Ok(body) => {
                let entry =
                    CachedFile::new(body, content_type, validators, sandboxed, reply.cx.now());
                let entry = reply.shared.file_cache.borrow_mut().insert(url_path, entry);
                serve_cached(head, &entry, reply)
            }
            Err(e) => answer(e.into(), reply, url_path),
        };
    }
    match respond(
        head,
        meta.len(),
        &validators,
        content_type,
        sandboxed,
        reply,
    ) {
        Some((first, len)) => start_stream(file, first, len, url_path, reply),
        None => Handled::Answered,
    }
}

/// Reads at most `limit` bytes of `file` from its start.
fn read_bounded(file: &File, limit: usize) -> io::Result<Vec<u8>> {
    let mut body = Vec::with_capacity(limit.min(MAX_ENTRY as usize));
    file.take(limit as u64).read_to_end(&mut body)?;
    Ok(body)
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
    url_path: &str,
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
            log::error!("http: reading {url_path}: {e}");
            reply.exchange.persist = Persist::Close;
            Handled::Answered
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_endless_file_of_unknown_size_is_read_to_the_bound() {
        // `/dev/zero` reports size 0 and never ends, as a generated file may not.
        let zero = File::open("/dev/zero").unwrap();
        assert_eq!(zero.metadata().unwrap().len(), 0);
        assert_eq!(read_bounded(&zero, MAX_UNSIZED).unwrap().len(), MAX_UNSIZED);
    }
}

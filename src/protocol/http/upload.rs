//! `PUT` and `DELETE` of files in the upload area, `<root>/files/`.
//!
//! An upload is streamed, as it arrives, into a hidden temporary file in the same directory
//! (`.upload-<n>.tmp`: hidden, so never served or listed). Only when the whole body has
//! arrived is it flushed to disk (`sync_all`) and renamed over `NAME`; a rename within one
//! directory is atomic, so a reader sees the old file or the new one, never half of one.
//! [`Upload`] removes its temporary file when dropped unless it was committed, so every way a
//! transfer can end early (the peer closing, a timeout, a framing error, the connection being
//! dropped) leaves nothing behind.
//!
//! **Conditional writes.** `If-Match: "<etag>"` (replace only the version I have),
//! `If-None-Match: *` (create, never replace) and `If-Unmodified-Since` are evaluated before the
//! body is accepted (a failing `PUT` gets 412 without sending its body, when it asked for
//! `100-continue`), and again when the body is complete: the write goes ahead only if the target
//! is still as it was first seen. "Never replace" is made atomic with a hard link, which fails if
//! the name exists; replacing a given version is checked just before the rename, which leaves a
//! window only against writers outside this process's reactor threads. `201` and `204` carry
//! the new file's `ETag`.
//!
//! `NAME` is one plain file name: after percent-decoding it must be non-empty, at most 255
//! bytes, without `/`, `\`, NUL or control characters, and not start with a dot (which also
//! rules out `.` and `..`). Anything else is 403, like the path-safety refusals of static files.

use std::cell::Cell;
use std::ffi::OsStr;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write as _};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use percent_encoding::percent_decode_str;

use super::exchange::Reply;
use super::request::RequestHead;
use super::routes::{BodySink, Handled};
use super::static_files::{LINK, Precondition, Refusal, Root, Validators, evaluate};
use super::status::Status;

/// Numbers for temporary file names. Several reactor threads may each run a service on the
/// same root, so names are created with `create_new` and a clash just moves on to the next.
#[derive(Debug)]
pub struct TempNames(Cell<u64>);

impl TempNames {
    /// A sequence starting somewhere unlikely to clash with another thread's.
    pub fn new() -> TempNames {
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        TempNames(Cell::new(seed ^ (u64::from(std::process::id()) << 32)))
    }

    fn next(&self) -> u64 {
        let n = self.0.get();
        self.0.set(n.wrapping_add(1));
        n
    }
}

impl Default for TempNames {
    fn default() -> TempNames {
        TempNames::new()
    }
}

/// A file being uploaded.
#[derive(Debug)]
pub struct Upload {
    file: File,
    /// The temporary file, until it is renamed into place.
    temp: Option<PathBuf>,
    target: PathBuf,
    /// For a conditional write, the target as its preconditions were evaluated against
    /// (`None` inside: it did not exist); it must be unchanged when the body is complete.
    seen: Option<Option<Validators>>,
}

impl Drop for Upload {
    fn drop(&mut self) {
        if let Some(temp) = self.temp.take()
            && let Err(e) = fs::remove_file(&temp)
        {
            log::warn!("http: removing {}: {e}", temp.display());
        }
    }
}

impl Upload {
    fn create(
        dir: &Path,
        target: PathBuf,
        seen: Option<Option<Validators>>,
        names: &TempNames,
    ) -> io::Result<Upload> {
        for _ in 0..16 {
            let temp = dir.join(format!(".upload-{:x}.tmp", names.next()));
            match OpenOptions::new().write(true).create_new(true).open(&temp) {
                Ok(file) => {
                    return Ok(Upload {
                        file,
                        temp: Some(temp),
                        target,
                        seen,
                    });
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(e),
            }
        }
        Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            "no free temporary name",
        ))
    }

    /// Appends body bytes.
    pub fn write(&mut self, data: &[u8]) -> io::Result<()> {
        self.file.write_all(data)
    }

    /// The body is complete: make it durable, put it in place, answer 201 or 204.
    pub fn finish(mut self, reply: &mut Reply<'_, '_>) {
        let committed = self.commit();
        // Writes through HTTP are rare: forgetting every cached file is simplest and exact.
        reply.shared.file_cache.borrow_mut().clear();
        let (status, written) = match committed {
            Ok(committed) => committed,
            Err(refusal) => return refusal.answer(reply, &self.target.to_string_lossy()),
        };
        let mut head = reply.start(status).header("ETag", written.etag());
        if status == Status::Created {
            head = head.header("Location", location_of(&self.target).as_bytes());
        }
        let _ = head.end(0);
    }

    /// Puts the file in place; returns 201 or 204 and the validators of what was written
    /// (taken from the open file, so a writer replacing it right after cannot change them).
    fn commit(&mut self) -> Result<(Status, Validators), Refusal> {
        self.file.sync_all()?;
        let written = Validators::of(&self.file.metadata()?);
        let now = current(&self.target)?;
        if let Some(seen) = &self.seen
            && seen.as_ref().map(Validators::etag) != now.as_ref().map(Validators::etag)
        {
            return Err(Refusal::Precondition);
        }
        let status = match now {
            Some(_) => Status::NoContent,
            None => Status::Created,
        };
        if let Some(temp) = &self.temp {
            if matches!(self.seen, Some(None)) {
                // It must not exist: a link fails, atomically, if the name was taken meanwhile.
                fs::hard_link(temp, &self.target).map_err(|e| match e.kind() {
                    io::ErrorKind::AlreadyExists => Refusal::Precondition,
                    _ => e.into(),
                })?;
                let _ = fs::remove_file(temp);
            } else {
                fs::rename(temp, &self.target)?;
            }
            self.temp = None;
        }
        Ok((status, written))
    }
}

/// The validators of the file at `target`, `None` if there is none; a directory is 403.
fn current(target: &Path) -> Result<Option<Validators>, Refusal> {
    match fs::symlink_metadata(target) {
        Ok(meta) if meta.is_dir() => Err(Refusal::Forbidden),
        Ok(meta) => Ok(Some(Validators::of(&meta))),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Evaluates a write's preconditions against its target. Returns what was seen, for a
/// conditional request, so the write can check nothing changed before it commits.
fn check_preconditions(
    head: &RequestHead<'_, '_>,
    target: &Path,
) -> Result<Option<Option<Validators>>, Refusal> {
    const FIELDS: [&str; 3] = ["if-match", "if-none-match", "if-unmodified-since"];
    if !FIELDS.iter().any(|f| head.header(f).is_some()) {
        return Ok(None);
    }
    let now = current(target)?;
    match evaluate(head, now.as_ref()) {
        Precondition::Proceed => Ok(Some(now)),
        _ => Err(Refusal::Precondition),
    }
}

/// Whether a name is one of our temporary files, `.upload-<n>.tmp`.
pub fn is_temp_file(name: &OsStr) -> bool {
    let name = name.as_bytes();
    name.starts_with(b".upload-") && name.ends_with(b".tmp")
}

/// `/files/NAME`, for the `Location` of a new file.
fn location_of(target: &Path) -> String {
    let name = target.file_name().map(OsStr::as_bytes).unwrap_or_default();
    let encoded = percent_encoding::percent_encode(name, LINK);
    format!("/files/{encoded}")
}

/// Decodes and checks an upload name.
pub fn file_name(raw: &str) -> Result<PathBuf, Refusal> {
    let name: Vec<u8> = percent_decode_str(raw).collect();
    let plain = !name.is_empty()
        && name.len() <= 255
        && name.first() != Some(&b'.')
        && !name
            .iter()
            .any(|&b| b == b'/' || b == b'\\' || b < 0x20 || b == 0x7f);
    if plain {
        Ok(PathBuf::from(OsStr::from_bytes(&name)))
    } else {
        Err(Refusal::Forbidden)
    }
}

/// The upload directory, made if needed; it must lie under the root (it could be a symlink).
fn files_dir(root: &Root, create: bool) -> Result<PathBuf, Refusal> {
    let root = root.canonical()?;
    let dir = root.join("files");
    if create {
        fs::create_dir_all(&dir).map_err(|e| match e.kind() {
            // `files` exists but is not a directory.
            io::ErrorKind::AlreadyExists | io::ErrorKind::NotADirectory => Refusal::Forbidden,
            _ => e.into(),
        })?;
    }
    let dir = fs::canonicalize(&dir)?;
    if !dir.starts_with(&root) || !dir.is_dir() {
        return Err(Refusal::Forbidden);
    }
    Ok(dir)
}

/// `PUT /files/NAME`: checks, then reads the body into a temporary file.
pub fn put(head: &RequestHead<'_, '_>, raw_name: &str, reply: &mut Reply<'_, '_>) -> Handled {
    let prepared = file_name(raw_name).and_then(|name| {
        let dir = files_dir(&reply.shared.root, true)?;
        let target = dir.join(name);
        let seen = check_preconditions(head, &target)?;
        Ok(Upload::create(
            &dir,
            target,
            seen,
            &reply.shared.temp_names,
        )?)
    });
    match prepared {
        Ok(upload) => {
            reply.accept_body();
            Handled::AwaitBody(BodySink::Upload(upload))
        }
        Err(refusal) => {
            refusal.answer(reply, raw_name);
            Handled::Answered
        }
    }
}

/// `DELETE /files/NAME`: 204, 404 if there is no such file, 412 if a precondition fails.
pub fn delete(head: &RequestHead<'_, '_>, raw_name: &str, reply: &mut Reply<'_, '_>) -> Handled {
    let removed = file_name(raw_name).and_then(|name| {
        let target = files_dir(&reply.shared.root, false)?.join(name);
        if fs::symlink_metadata(&target)?.is_dir() {
            return Err(Refusal::Forbidden);
        }
        check_preconditions(head, &target)?;
        fs::remove_file(&target)?;
        Ok(())
    });
    reply.shared.file_cache.borrow_mut().clear();
    match removed {
        Ok(()) => {
            let _ = reply.start(Status::NoContent).end(0);
        }
        Err(refusal) => refusal.answer(reply, raw_name),
    }
    Handled::Answered
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upload_names_are_plain_file_names() {
        for ok in ["a.txt", "report%202024.pdf", "%E2%9C%93", "a..b"] {
            assert!(file_name(ok).is_ok(), "{ok}");
        }
        for bad in [
            "", ".hidden", "..", "%2e%2e", "a/b", "a%2fb", "a\\b", "a%5cb", "a%00", "%0a", ".",
        ] {
            assert!(file_name(bad).is_err(), "{bad}");
        }
        assert!(file_name(&"x".repeat(256)).is_err());
        assert!(file_name(&"x".repeat(255)).is_ok());
    }
}

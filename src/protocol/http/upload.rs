//! `PUT` and `DELETE` of files in the upload area, `<root>/files/`.
//!
//! An upload is streamed, as it arrives, into a hidden temporary file in the same directory
//! (see [`store`](crate::protocol::store), shared with the files protocol: hidden, so never
//! served or listed). Only when the whole body has arrived is it flushed to disk and renamed
//! over `NAME`, and the directory entry synced; a rename within one directory is atomic, so a
//! reader sees the old file or the new one, never half of one. The temporary file is removed
//! when dropped unless it was committed, so every way a transfer can end early (the peer
//! closing, a timeout, a framing error, the connection being dropped) leaves nothing behind.
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
//! `NAME` is one plain file name by the rule of [`store::check_name`](crate::protocol::store::check_name):
//! after percent-decoding, UTF-8, non-empty, at most 200 bytes, without `/`, `\`, control or
//! bidirectional characters, and not starting with a dot (which also rules out `.` and `..`).
//! Anything else is 403, like the path-safety refusals of static files.

use std::ffi::OsStr;
use std::fs::File;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use percent_encoding::percent_decode_str;
use rustix::fs::{AtFlags, Mode, OFlags};
use rustix::io::Errno;

use super::exchange::{BodySink, Handled, Reply};
use super::request::RequestHead;
use super::root::{LINK, Refusal, Root};
use super::status::Status;
use super::validators::{Precondition, Validators, evaluate};
use crate::protocol::store::{self, CommitError, Place, TempFile};

/// A file being uploaded.
#[derive(Debug)]
pub(super) struct Upload {
    file: TempFile,
    /// The upload area, opened beneath the root: every name below is taken relative to it.
    dir: File,
    target: PathBuf,
    /// For a conditional write, the target as its preconditions were evaluated against
    /// (`None` inside: it did not exist); it must be unchanged when the body is complete.
    seen: Option<Option<Validators>>,
}

impl Upload {
    fn create(dir: File, target: PathBuf, seen: Option<Option<Validators>>) -> io::Result<Upload> {
        let name = target.file_name().unwrap_or_default().to_string_lossy();
        Ok(Upload {
            file: TempFile::create_in(dir.try_clone()?, &name)?,
            dir,
            target,
            seen,
        })
    }

    /// Puts the file in place; returns 201 or 204 and the validators of what was written
    /// (taken from the open file, so a writer replacing it right after cannot change them).
    fn commit(mut self) -> Result<(Status, Validators), Refusal> {
        let written = Validators::of(&self.file.sync()?);
        let now = current(&self.dir, &self.target)?;
        if let Some(seen) = &self.seen
            && seen.as_ref().map(Validators::etag) != now.as_ref().map(Validators::etag)
        {
            return Err(Refusal::Precondition);
        }
        let status = match now {
            Some(_) => Status::NoContent,
            None => Status::Created,
        };
        // "It must not exist" (`If-None-Match: *`) is kept atomically: a link fails if the
        // name was taken meanwhile.
        let place = match self.seen {
            Some(None) => Place::NoClobber,
            _ => Place::Replace,
        };
        self.file.commit(&self.target, place).map_err(|e| match e {
            CommitError::Exists => Refusal::Precondition,
            CommitError::Io(e) => e.into(),
        })?;
        Ok((status, written))
    }
}

impl BodySink for Upload {
    /// Appends body bytes to the temporary file.
    fn write(&mut self, data: &[u8], _reply: &mut Reply<'_, '_>) -> io::Result<()> {
        self.file.write(data)
    }

    /// The body is complete: make it durable, put it in place, answer 201 or 204.
    fn finish(self: Box<Self>, reply: &mut Reply<'_, '_>) {
        let target = self.target.clone();
        let committed = (*self).commit();
        // Writes through HTTP are rare: forgetting every cached file, in every worker, is
        // simplest and exact.
        reply.shared.file_cache.borrow_mut().written();
        let (status, written) = match committed {
            Ok(committed) => committed,
            Err(refusal) => return refusal.answer(reply, &target.to_string_lossy()),
        };
        let mut head = reply.start(status).header("ETag", written.etag());
        if status == Status::Created {
            head = head.header("Location", location_of(&target).as_bytes());
        }
        let _ = head.end(0);
    }
}

/// The validators of the file named `name` in `dir`, `None` if there is none; a directory
/// is 403. A symlink is described as itself, never followed.
fn current(dir: &File, name: &Path) -> Result<Option<Validators>, Refusal> {
    let name = name.file_name().unwrap_or_default();
    // `O_PATH | O_NOFOLLOW`: a handle on the name itself, to `fstat`, opening nothing.
    let flags = OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    match rustix::fs::openat(dir, name, flags, Mode::empty()) {
        Ok(fd) => {
            let meta = File::from(fd).metadata()?;
            if meta.is_dir() {
                Err(Refusal::Forbidden)
            } else {
                Ok(Some(Validators::of(&meta)))
            }
        }
        Err(Errno::NOENT) => Ok(None),
        Err(e) => Err(io::Error::from(e).into()),
    }
}

/// Evaluates a write's preconditions against its target. Returns what was seen, for a
/// conditional request, so the write can check nothing changed before it commits.
fn check_preconditions(
    head: &RequestHead<'_, '_>,
    dir: &File,
    target: &Path,
) -> Result<Option<Option<Validators>>, Refusal> {
    const FIELDS: [&str; 3] = ["if-match", "if-none-match", "if-unmodified-since"];
    if !FIELDS.iter().any(|f| head.header(f).is_some()) {
        return Ok(None);
    }
    let now = current(dir, target)?;
    match evaluate(head, now.as_ref()) {
        Precondition::Proceed => Ok(Some(now)),
        _ => Err(Refusal::Precondition),
    }
}

/// `/files/NAME`, for the `Location` of a new file.
fn location_of(target: &Path) -> String {
    let name = target.file_name().map(OsStr::as_bytes).unwrap_or_default();
    let encoded = percent_encoding::percent_encode(name, LINK);
    format!("/files/{encoded}")
}

/// Decodes and checks an upload name.
pub(super) fn file_name(raw: &str) -> Result<PathBuf, Refusal> {
    let name: Vec<u8> = percent_decode_str(raw).collect();
    match std::str::from_utf8(&name) {
        Ok(name) if store::check_name(name).is_ok() => Ok(PathBuf::from(name)),
        _ => Err(Refusal::Forbidden),
    }
}

/// The upload directory `files/`, made if needed, opened beneath the root like any static
/// path (so it cannot be, or become, a way out of the root).
fn files_dir(root: &Root, create: bool) -> Result<File, Refusal> {
    root.open_dir(Path::new("files"), create)
}

/// `PUT /files/NAME`: checks, then reads the body into a temporary file.
pub(super) fn put(
    head: &RequestHead<'_, '_>,
    raw_name: &str,
    reply: &mut Reply<'_, '_>,
) -> Handled {
    let prepared = file_name(raw_name).and_then(|name| {
        let dir = files_dir(&reply.shared.root, true)?;
        let seen = check_preconditions(head, &dir, &name)?;
        Ok(Upload::create(dir, name, seen)?)
    });
    match prepared {
        Ok(upload) => {
            reply.accept_body();
            Handled::AwaitBody(Box::new(upload))
        }
        Err(refusal) => {
            refusal.answer(reply, raw_name);
            Handled::Answered
        }
    }
}

/// `DELETE /files/NAME`: 204, 404 if there is no such file, 412 if a precondition fails.
pub(super) fn delete(
    head: &RequestHead<'_, '_>,
    raw_name: &str,
    reply: &mut Reply<'_, '_>,
) -> Handled {
    let removed = file_name(raw_name).and_then(|name| {
        let dir = files_dir(&reply.shared.root, false)?;
        if current(&dir, &name)?.is_none() {
            return Err(Refusal::NotFound);
        }
        check_preconditions(head, &dir, &name)?;
        rustix::fs::unlinkat(&dir, &name, AtFlags::empty()).map_err(io::Error::from)?;
        Ok(())
    });
    reply.shared.file_cache.borrow_mut().written();
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
            "",
            ".hidden",
            "..",
            "%2e%2e",
            "a/b",
            "a%2fb",
            "a\\b",
            "a%5cb",
            "a%00",
            "%0a",
            ".",
            "%C2%9B2J",
            "%E2%80%AEtxt.exe",
            "%ff",
        ] {
            assert!(file_name(bad).is_err(), "{bad}");
        }
        assert!(file_name(&"x".repeat(201)).is_err());
        assert!(file_name(&"x".repeat(200)).is_ok());
    }
}

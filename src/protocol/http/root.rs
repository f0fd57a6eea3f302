//! The document root and path safety: which file, if any, a request path may name.
//!
//! A request path is attacker-controlled, so it goes through two independent checks, and
//! either is enough to stop an escape:
//!
//! 1. [`sanitize`] works on the text: it refuses (403) an encoded slash or backslash (`%2f`,
//!    `%5c`) before decoding, then, after decoding, a NUL or a backslash. It removes dot
//!    segments as RFC 3986 §5.2.4 does (`/a/./b` → `a/b`, `/a/../b` → `b`) and refuses (403) a
//!    `..` that would climb above the root. Segments then starting with a dot are hidden
//!    files, answered 404 as if absent (uploads in progress are such files).
//! 2. [`resolve`] asks the filesystem: the joined path is canonicalised (symlinks followed) and
//!    must still lie under the canonical root, so a symlink pointing out of the root is 403.
//!
//! Why a path is not served is a [`Refusal`], which maps filesystem errors to the status a
//! client should see. Reads (`static_files.rs`) and writes (`upload.rs`) share all of it.

use std::cell::RefCell;
use std::ffi::OsStr;
use std::fs;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str};

use super::exchange::Reply;
use super::status::Status;

/// Characters left as they are when a file name is written into a link or a `Location`:
/// RFC 3986 unreserved.
pub const LINK: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

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
}

//! The document root and path safety: which file, if any, a request path may name, and the
//! one step that opens it.
//!
//! A request path is attacker-controlled, so it goes through two independent checks, and
//! either is enough to stop an escape:
//!
//! 1. [`sanitize`] works on the text: it refuses (403) an encoded slash or backslash (`%2f`,
//!    `%5c`) before decoding, then, after decoding, a NUL or a backslash. It removes dot
//!    segments as RFC 3986 §5.2.4 does (`/a/./b` → `a/b`, `/a/../b` → `b`) and refuses (403) a
//!    `..` that would climb above the root. Segments then starting with a dot are hidden
//!    files, answered 404 as if absent (uploads in progress are such files).
//! 2. [`Root::open`] asks the kernel to resolve the path *beneath* a descriptor of the root
//!    held open since start, and to open what it names, in one call: `openat2(2)` with
//!    `RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS`. A symlink that stays inside the root (a
//!    relative one) is followed; one that leads out, or is absolute, is 403 (`EXDEV`).
//!
//! **Why one step.** Checking a path and then opening it again by name leaves a window in
//! which whoever may write under the root swaps a directory for a symlink to `/etc`, or a file
//! for a FIFO; a review served `/etc/passwd` after 75 requests that way, and a FIFO opened
//! without `O_NONBLOCK` stopped the event loop for good. Here what is checked is what is
//! opened: the descriptor returned is the file served. It is opened `O_NONBLOCK` (a FIFO opens
//! at once instead of waiting for a writer), `O_NOCTTY` and `O_CLOEXEC`, and `fstat` on the
//! descriptor decides: a regular file or a directory is served, anything else (FIFO, socket,
//! device) is 403, as before. Only root can plant a device node; a FIFO anyone can, and that
//! is the case the flags make harmless.
//!
//! **Old kernels.** `openat2` is Linux 5.6 and later (and some seccomp filters still answer it
//! `ENOSYS`). Then the path is walked one component at a time with `openat(..., O_NOFOLLOW)`:
//! every component is a plain name (`sanitize` left no `.` or `..`), and no symlink is
//! followed at all, so nothing can lead out; symlinks inside the root are then 403 too. The
//! switch is logged once.
//!
//! **The root itself** is opened once, at start (or at the first request, if it did not exist
//! yet), and that directory stays the root: renaming another directory into its place later
//! changes nothing.
//!
//! Why a path is not served is a [`Refusal`], which maps filesystem errors to the status a
//! client should see. Reads (`static_files.rs`) and writes (`upload.rs`) share all of it.

use std::cell::{Cell, OnceCell, RefCell};
use std::ffi::OsStr;
use std::fs::{self, File, Metadata};
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str};
use rustix::fs::{Mode, OFlags, ResolveFlags};
use rustix::io::Errno;

use super::exchange::Reply;
use super::status::Status;

/// Characters left as they are when a file name is written into a link or a `Location`:
/// RFC 3986 unreserved.
pub(super) const LINK: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// How every file and directory under the root is opened: never waiting (a FIFO), never
/// becoming a controlling terminal (a tty), never inherited by a child.
const READ: OFlags = OFlags::RDONLY
    .union(OFlags::NONBLOCK)
    .union(OFlags::NOCTTY)
    .union(OFlags::CLOEXEC);

/// `openat2` stays beneath the root and refuses `/proc`'s magic links (`/proc/self/fd/3`,
/// `/proc/self/root`), which point anywhere.
const BENEATH: ResolveFlags = ResolveFlags::BENEATH.union(ResolveFlags::NO_MAGICLINKS);

/// How often `openat2` is retried when it answers `EAGAIN` (a rename raced a `..` inside a
/// symlink's target, and the kernel could not prove the walk stayed beneath the root).
const RACE_RETRIES: usize = 3;

/// The document root, held open.
#[derive(Debug)]
pub(super) struct Root {
    configured: PathBuf,
    dir: OnceCell<File>,
    canonical: RefCell<Option<PathBuf>>,
    /// `openat2` is not available: walk the path a component at a time.
    walk: Cell<bool>,
}

/// A file or directory opened beneath the root, with its `fstat`.
#[derive(Debug)]
pub(super) struct Opened {
    /// The open descriptor: what was checked is what is read.
    pub file: File,
    /// Its metadata, from the descriptor.
    pub meta: Metadata,
}

impl Root {
    /// A root at `path`, which need not exist yet; if it does, it is opened now.
    pub(super) fn new(path: PathBuf) -> Root {
        let root = Root {
            configured: path,
            dir: OnceCell::new(),
            canonical: RefCell::new(None),
            walk: Cell::new(false),
        };
        let _ = root.dir();
        root
    }

    /// The root directory's descriptor, opened on first use.
    pub(super) fn dir(&self) -> io::Result<&File> {
        if let Some(dir) = self.dir.get() {
            return Ok(dir);
        }
        let fd = rustix::fs::open(&self.configured, READ | OFlags::DIRECTORY, Mode::empty())?;
        *self.canonical.borrow_mut() = fs::canonicalize(&self.configured).ok();
        Ok(self.dir.get_or_init(|| File::from(fd)))
    }

    /// The canonical root path (for messages, and to recognise the upload area).
    pub(super) fn canonical(&self) -> io::Result<PathBuf> {
        self.dir()?;
        if let Some(path) = self.canonical.borrow().as_ref() {
            return Ok(path.clone());
        }
        let path = fs::canonicalize(&self.configured)?;
        *self.canonical.borrow_mut() = Some(path.clone());
        Ok(path)
    }

    /// Opens `relative` (from [`sanitize`]) beneath the root, in one step, and checks with
    /// `fstat` that it is a regular file or a directory (anything else is 403).
    pub(super) fn open(&self, relative: &Path) -> Result<Opened, Refusal> {
        let fd = self.open_beneath(relative, READ)?;
        let file = File::from(fd);
        let meta = file.metadata()?;
        if meta.is_file() || meta.is_dir() {
            Ok(Opened { file, meta })
        } else {
            Err(Refusal::Forbidden)
        }
    }

    /// Opens the directory `relative` beneath the root, creating it first (one level) when
    /// `create` is set: the upload area. Something else by that name is 403.
    pub(super) fn open_dir(&self, relative: &Path, create: bool) -> Result<File, Refusal> {
        if create && let Some(parent) = relative.parent() {
            let parent = self.open_dir(parent, false)?;
            let name = relative.file_name().unwrap_or_default();
            match rustix::fs::mkdirat(&parent, name, Mode::from_raw_mode(0o777)) {
                Ok(()) | Err(Errno::EXIST) => {}
                Err(e) => return Err(io::Error::from(e).into()),
            }
        }
        match self.open_beneath(relative, READ | OFlags::DIRECTORY) {
            Ok(fd) => Ok(File::from(fd)),
            // `files` exists but is not a directory.
            Err(Refusal::NotFound) if create => Err(Refusal::Forbidden),
            Err(refusal) => Err(refusal),
        }
    }

    /// Whether the opened `file`, found at `relative`, lies in the upload area `files/`,
    /// whatever name (a symlink elsewhere in the root) reached it. The kernel knows where an
    /// open file lives (`/proc/self/fd`); without `/proc`, the name that reached it decides.
    pub(super) fn in_upload_area(&self, relative: &Path, file: &File) -> bool {
        if relative.starts_with("files") {
            return true;
        }
        let Ok(root) = self.canonical() else {
            return false;
        };
        fs::read_link(format!("/proc/self/fd/{}", file.as_raw_fd()))
            .is_ok_and(|real| real.starts_with(root.join("files")))
    }

    fn open_beneath(&self, relative: &Path, flags: OFlags) -> Result<rustix::fd::OwnedFd, Refusal> {
        let dir = self.dir()?;
        let path = if relative.as_os_str().is_empty() {
            Path::new(".")
        } else {
            relative
        };
        if !self.walk.get() {
            for _ in 0..RACE_RETRIES {
                match rustix::fs::openat2(dir, path, flags, Mode::empty(), BENEATH) {
                    Ok(fd) => return Ok(fd),
                    Err(Errno::AGAIN) => continue,
                    Err(Errno::NOSYS) if self.use_walk() => break,
                    Err(e) => return Err(refusal(e)),
                }
            }
            if !self.walk.get() {
                return Err(Refusal::Failed(io::Error::from(Errno::AGAIN)));
            }
        }
        walk(dir, path, flags)
    }

    /// `openat2` is missing (`ENOSYS`, also what seccomp filters that predate it answer):
    /// switch to the walk for good, and say so once.
    fn use_walk(&self) -> bool {
        if !self.walk.replace(true) {
            log::warn!(
                "http: openat2 is not available (Linux before 5.6, or a seccomp filter); \
                 opening files under --root a component at a time without following any \
                 symlink, so symlinks inside the root are refused too"
            );
        }
        true
    }
}

/// Opens `path` under `dir` a component at a time, following no symlink: every component is a
/// plain name, so the result is beneath `dir`.
fn walk(dir: &File, path: &Path, flags: OFlags) -> Result<rustix::fd::OwnedFd, Refusal> {
    let no_symlink = |e: Errno| match e {
        // A symlink met with `O_NOFOLLOW`.
        Errno::LOOP => Refusal::Forbidden,
        e => refusal(e),
    };
    let mut names = Vec::new();
    for component in path.components() {
        match component {
            Component::Normal(name) => names.push(name),
            Component::CurDir => {}
            _ => return Err(Refusal::Forbidden),
        }
    }
    let Some((last, parents)) = names.split_last() else {
        return rustix::fs::openat(dir, ".", flags, Mode::empty()).map_err(refusal);
    };
    let mut here: Option<rustix::fd::OwnedFd> = None;
    for name in parents {
        let at = here.as_ref().map_or(dir.as_fd(), |fd| fd.as_fd());
        let opened = rustix::fs::openat(at, *name, DIR_NOFOLLOW, Mode::empty());
        here = Some(match opened {
            Ok(fd) => fd,
            // `O_DIRECTORY` answers a symlink `ENOTDIR` too: tell it from a file.
            Err(Errno::NOTDIR) if is_symlink(at, name) => return Err(Refusal::Forbidden),
            Err(e) => return Err(no_symlink(e)),
        });
    }
    let at = here.as_ref().map_or(dir.as_fd(), |fd| fd.as_fd());
    rustix::fs::openat(at, *last, flags | OFlags::NOFOLLOW, Mode::empty()).map_err(no_symlink)
}

/// A directory on the way down, never through a symlink.
const DIR_NOFOLLOW: OFlags = READ.union(OFlags::DIRECTORY).union(OFlags::NOFOLLOW);

fn is_symlink(at: BorrowedFd<'_>, name: &OsStr) -> bool {
    rustix::fs::statat(at, name, rustix::fs::AtFlags::SYMLINK_NOFOLLOW).is_ok_and(|st| {
        rustix::fs::FileType::from_raw_mode(st.st_mode) == rustix::fs::FileType::Symlink
    })
}

/// What a client is told when opening beneath the root fails.
fn refusal(e: Errno) -> Refusal {
    match e {
        // A symlink leading out of the root, or an absolute one; or a socket, which `open`
        // answers `ENXIO`.
        Errno::XDEV | Errno::NXIO => Refusal::Forbidden,
        e => io::Error::from(e).into(),
    }
}

/// Why a path is not served.
#[derive(Debug)]
pub(super) enum Refusal {
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
    pub(super) fn answer(self, reply: &mut Reply<'_, '_>, what: &str) {
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
pub(super) fn sanitize(raw: &str) -> Result<PathBuf, Refusal> {
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

    fn tree() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join("a/b")).unwrap();
        fs::write(dir.path().join("a/b/f.txt"), b"f").unwrap();
        std::os::unix::fs::symlink("b", dir.path().join("a/link")).unwrap();
        std::os::unix::fs::symlink("/etc", dir.path().join("etc")).unwrap();
        dir
    }

    #[test]
    fn opens_beneath_the_root_following_only_symlinks_that_stay_inside() {
        let dir = tree();
        let root = Root::new(dir.path().to_path_buf());
        assert!(root.open(Path::new("a/b/f.txt")).unwrap().meta.is_file());
        assert!(root.open(Path::new("a/link/f.txt")).unwrap().meta.is_file());
        assert!(root.open(Path::new("")).unwrap().meta.is_dir());
        assert!(matches!(
            root.open(Path::new("etc/hostname")),
            Err(Refusal::Forbidden)
        ));
        assert!(matches!(
            root.open(Path::new("nope")),
            Err(Refusal::NotFound)
        ));
    }

    #[test]
    fn the_walk_for_old_kernels_follows_no_symlink() {
        let dir = tree();
        let root = File::open(dir.path()).unwrap();
        assert!(walk(&root, Path::new("a/b/f.txt"), READ).is_ok());
        assert!(walk(&root, Path::new("."), READ).is_ok());
        for refused in ["a/link/f.txt", "a/link", "etc/hostname", "etc"] {
            assert!(
                matches!(
                    walk(&root, Path::new(refused), READ),
                    Err(Refusal::Forbidden)
                ),
                "{refused}"
            );
        }
        assert!(matches!(
            walk(&root, Path::new("a/../etc"), READ),
            Err(Refusal::Forbidden)
        ));
    }

    #[test]
    fn a_fifo_opens_at_once_and_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pipe");
        rustix::fs::mknodat(
            rustix::fs::CWD,
            &path,
            rustix::fs::FileType::Fifo,
            Mode::from_raw_mode(0o644),
            0,
        )
        .unwrap();
        // Without O_NONBLOCK the open would wait for a writer for ever: run it aside, and
        // give it ten seconds.
        let (tx, rx) = std::sync::mpsc::channel();
        let root_path = dir.path().to_path_buf();
        std::thread::spawn(move || {
            let root = Root::new(root_path);
            let refused = matches!(root.open(Path::new("pipe")), Err(Refusal::Forbidden));
            let _ = tx.send(refused);
        });
        let refused = rx.recv_timeout(std::time::Duration::from_secs(10));
        assert_eq!(
            refused,
            Ok(true),
            "the open of a FIFO blocked or was not refused"
        );
    }
}

//! Storing a file a peer sends, atomically: the one place that names, writes and commits
//! uploads, for the files protocol and for HTTP `PUT` alike.
//!
//! ```text
//!   create ──► .<name>.<pid>-<n>.part   (hidden: never served, listed or taken for the file)
//!   write  ──► appended as it arrives
//!   commit ──► sync_all(file) ──► rename or link to <name> ──► sync_all(dir)
//!   drop   ──► the temporary name is removed, whatever ended the transfer
//! ```
//!
//! A reader therefore sees the old file or the whole new one, never part of one; a transfer
//! cut short leaves nothing; and after a commit returns, the file survives a crash under its
//! name (the file's data and the directory entry are both on disk). Temporary names carry the
//! process id and a process-wide counter, and are opened with `O_EXCL | O_NOFOLLOW`, so several
//! reactor threads, or several processes sharing a directory, never write into one another's
//! file, and a planted symlink is never written through. Every name is taken relative to a
//! descriptor of the directory opened once (HTTP opens it beneath the document root).
//! What a crash leaves behind is swept by [`stale`](super::stale).

use std::ffi::{OsStr, OsString};
use std::fs::{self, File, Metadata};
use std::io::{self, Write as _};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path};
use std::sync::atomic::{AtomicU64, Ordering};

use rustix::fs::{AtFlags, Mode, OFlags};
use rustix::io::Errno;

use super::text::is_deceptive;

/// The longest file name accepted, in bytes: the temporary name adds up to 33 bytes (a dot,
/// `.`, the pid, `-`, the counter and `.part`), and most file systems stop at 255.
pub(crate) const MAX_NAME_LEN: usize = 200;

/// Checks that `name` is a plain file name that cannot reach outside its directory, hide
/// there, or deceive whoever reads a listing. Returns why not.
pub fn check_name(name: &str) -> Result<(), &'static str> {
    if name.is_empty() {
        Err("empty")
    } else if name.len() > MAX_NAME_LEN {
        Err("too long")
    } else if name.starts_with('.') {
        // Also `.` and `..`, and our own temporary files.
        Err("hidden or relative")
    } else if name.contains(['/', '\\']) {
        Err("path separator")
    } else if name.chars().any(is_deceptive) {
        Err("control or bidirectional character")
    } else if !is_one_component(name) {
        // Whatever else this platform counts as a path (a Windows drive prefix, say).
        Err("not a plain file name")
    } else {
        Ok(())
    }
}

fn is_one_component(name: &str) -> bool {
    let mut parts = Path::new(name).components();
    matches!(
        (parts.next(), parts.next()),
        (Some(Component::Normal(_)), None)
    )
}

/// Whether a directory entry is one of our temporary files, `.<name>.<pid>-<n>.part`.
pub(crate) fn is_temp_name(name: &OsStr) -> bool {
    let name = name.as_bytes();
    name.starts_with(b".") && name.ends_with(b".part")
}

/// How a finished file takes its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Place {
    /// Replace whatever has the name (a rename: atomic).
    Replace,
    /// Only if nothing has the name: a hard link, which fails atomically if the name was
    /// taken meanwhile. Where hard links are not supported, falls back to check-then-rename.
    NoClobber,
}

/// Why a commit failed.
#[derive(Debug)]
pub(crate) enum CommitError {
    /// [`Place::NoClobber`], and something already has the name.
    Exists,
    /// The file system said no.
    Io(io::Error),
}

impl From<io::Error> for CommitError {
    fn from(e: io::Error) -> CommitError {
        CommitError::Io(e)
    }
}

/// Numbers temporary files apart, across every session and reactor of the process.
static NEXT_TEMP: AtomicU64 = AtomicU64::new(0);

/// A file being received under a hidden temporary name, removed when dropped unless it was
/// committed.
///
/// Every name is taken relative to a descriptor of the directory, opened once: whoever may
/// write near the directory cannot swap it for a symlink between the create and the rename.
#[derive(Debug)]
pub(crate) struct TempFile {
    file: File,
    /// The temporary name in `dir`, until the commit gives the file its real one.
    temp: Option<OsString>,
    dir: File,
}

impl TempFile {
    /// Creates `.<name>.<pid>-<n>.part` in `dir`, for a file that will be called `name`
    /// (already checked with [`check_name`]).
    pub(crate) fn create(dir: &Path, name: &str) -> io::Result<TempFile> {
        let dir = rustix::fs::open(
            dir,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        TempFile::create_in(File::from(dir), name)
    }

    /// Creates the temporary file in the open directory `dir` (one opened beneath a root).
    pub(crate) fn create_in(dir: File, name: &str) -> io::Result<TempFile> {
        let pid = std::process::id();
        for _ in 0..8 {
            let n = NEXT_TEMP.fetch_add(1, Ordering::Relaxed);
            let temp = OsString::from(format!(".{name}.{pid}-{n}.part"));
            // `O_EXCL` with `O_NOFOLLOW`: a new file of our own, never through a planted link.
            let flags =
                OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
            match rustix::fs::openat(&dir, &*temp, flags, Mode::from_raw_mode(0o666)) {
                Ok(fd) => {
                    return Ok(TempFile {
                        file: File::from(fd),
                        temp: Some(temp),
                        dir,
                    });
                }
                // A crashed process with the same pid left one behind.
                Err(Errno::EXIST) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            "no free temporary file name",
        ))
    }

    /// Appends received bytes.
    pub(crate) fn write(&mut self, data: &[u8]) -> io::Result<()> {
        self.file.write_all(data)
    }

    /// Flushes the data to disk and returns the file's metadata as it will be committed.
    /// Taken from the open file, so a writer replacing the name right after the commit cannot
    /// change what the caller reports (an ETag).
    pub(crate) fn sync(&mut self) -> io::Result<Metadata> {
        self.file.sync_all()?;
        self.file.metadata()
    }

    /// Gives the file its name: `target`'s file name, in the directory it was created in
    /// (the rest of `target` is not looked at again). After [`TempFile::sync`]; then makes
    /// the new name durable.
    pub(crate) fn commit(mut self, target: &Path, place: Place) -> Result<(), CommitError> {
        let Some(temp) = self.temp.take() else {
            return Ok(());
        };
        let Some(name) = target.file_name() else {
            self.temp = Some(temp);
            return Err(io::Error::from(io::ErrorKind::InvalidInput).into());
        };
        let placed = match place {
            Place::Replace => rustix::fs::renameat(&self.dir, &*temp, &self.dir, name)
                .map_err(|e| CommitError::Io(e.into())),
            Place::NoClobber => link_no_clobber(&self.dir, &temp, name),
        };
        if let Err(e) = placed {
            self.temp = Some(temp);
            return Err(e);
        }
        // After a link the temporary name is still there: the second name goes now.
        remove(&self.dir, &temp);
        sync_dir(&self.dir);
        Ok(())
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if let Some(temp) = self.temp.take() {
            remove(&self.dir, &temp);
        }
    }
}

/// Removes a name in `dir`; one that is already gone (renamed) is no error.
fn remove(dir: &File, name: &OsStr) {
    match rustix::fs::unlinkat(dir, name, AtFlags::empty()) {
        Ok(()) | Err(Errno::NOENT) => {}
        Err(e) => log::warn!("{}: not removed: {e}", Path::new(name).display()),
    }
}

/// Gives `from`'s file the name `to` in `dir` unless `to` exists, atomically.
fn link_no_clobber(dir: &File, from: &OsStr, to: &OsStr) -> Result<(), CommitError> {
    match rustix::fs::linkat(dir, from, dir, to, AtFlags::empty()) {
        Ok(()) => Ok(()),
        Err(Errno::EXIST) => Err(CommitError::Exists),
        Err(e) => {
            log::debug!("hard link failed ({e}), falling back to rename");
            match rustix::fs::statat(dir, to, AtFlags::SYMLINK_NOFOLLOW) {
                Ok(_) => return Err(CommitError::Exists),
                Err(Errno::NOENT) => {}
                Err(e) => return Err(CommitError::Io(e.into())),
            }
            rustix::fs::renameat(dir, from, dir, to).map_err(|e| CommitError::Io(e.into()))
        }
    }
}

/// Whether anything, even a dangling symlink, has this name.
pub(crate) fn exists(path: &Path) -> io::Result<bool> {
    match fs::symlink_metadata(path) {
        Ok(_) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

/// Flushes the directory entry of a new name, so the file survives a crash under that name.
/// Best effort: the data is already safe, and not every filesystem syncs a directory.
fn sync_dir(dir: &File) {
    if let Err(e) = dir.sync_all() {
        log::debug!("directory sync failed: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tempfile::TempDir;

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn names_are_plain_visible_and_honest() {
        for ok in [
            "a.txt",
            "report 2024.pdf",
            "✓",
            "a..b",
            &"x".repeat(MAX_NAME_LEN),
        ] {
            assert_eq!(check_name(ok), Ok(()), "{ok}");
        }
        let too_long = "x".repeat(MAX_NAME_LEN + 1);
        for bad in [
            "",
            ".hidden",
            ".",
            "..",
            "a/b",
            "a\\b",
            "nul\0",
            "a\nb",
            "\u{9b}2J",
            "\u{85}",
            "\u{202e}txt.exe",
            "a\u{2028}b",
            &too_long,
        ] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_committed_file_has_its_name_and_nothing_else_is_left() {
        let dir = TempDir::new().unwrap();
        let mut temp = TempFile::create(dir.path(), "a.txt").unwrap();
        temp.write(b"hello").unwrap();
        let names_while_writing = names(dir.path());
        assert_eq!(names_while_writing.len(), 1);
        assert!(is_temp_name(OsStr::new(&names_while_writing[0])));
        assert_eq!(temp.sync().unwrap().len(), 5);
        temp.commit(&dir.path().join("a.txt"), Place::NoClobber)
            .unwrap();
        assert_eq!(names(dir.path()), ["a.txt"]);
        assert_eq!(fs::read(dir.path().join("a.txt")).unwrap(), b"hello");
    }

    #[test]
    fn no_clobber_refuses_a_taken_name_and_replace_replaces_it() {
        let dir = TempDir::new().unwrap();
        let target = dir.path().join("a.txt");
        fs::write(&target, b"old").unwrap();
        let mut temp = TempFile::create(dir.path(), "a.txt").unwrap();
        temp.write(b"new").unwrap();
        temp.sync().unwrap();
        assert!(matches!(
            temp.commit(&target, Place::NoClobber),
            Err(CommitError::Exists)
        ));
        assert_eq!(names(dir.path()), ["a.txt"], "the refused file is removed");
        assert_eq!(fs::read(&target).unwrap(), b"old");

        let mut temp = TempFile::create(dir.path(), "a.txt").unwrap();
        temp.write(b"new").unwrap();
        temp.sync().unwrap();
        temp.commit(&target, Place::Replace).unwrap();
        assert_eq!(fs::read(&target).unwrap(), b"new");
        assert_eq!(names(dir.path()), ["a.txt"]);
    }

    #[test]
    fn a_dropped_transfer_leaves_nothing() {
        let dir = TempDir::new().unwrap();
        let mut temp = TempFile::create(dir.path(), "a.txt").unwrap();
        temp.write(b"half").unwrap();
        drop(temp);
        assert!(names(dir.path()).is_empty());
    }

    #[test]
    fn temporary_names_never_collide() {
        let dir = TempDir::new().unwrap();
        let files: Vec<TempFile> = (0..50)
            .map(|_| TempFile::create(dir.path(), "same").unwrap())
            .collect();
        assert_eq!(names(dir.path()).len(), 50);
        drop(files);
        assert!(names(dir.path()).is_empty());
    }
}

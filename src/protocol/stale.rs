//! Removing the temporary files a crash leaves behind.
//!
//! Uploads are written to hidden temporary files and renamed into place only when complete, so
//! a transfer cut short never leaves a partial file under its real name; a dropped transfer
//! removes its temporary file itself. Only a crash (or a kill) leaves one behind. A service that
//! writes such files sweeps its directory when it starts, removing those not modified for
//! [`STALE_AFTER`]: a live transfer writes often and is timed out long before that, so an old
//! one belongs to nobody — not even to another server sharing the directory.

use std::ffi::OsStr;
use std::fs;
use std::io;
use std::path::Path;
use std::time::{Duration, SystemTime};

/// How long a temporary file must have been left untouched to be removed.
pub(crate) const STALE_AFTER: Duration = Duration::from_secs(3600);

/// Removes the files in `dir` that `is_temporary` recognises and that were last modified over
/// `STALE_AFTER` before `now`. Returns how many went; a missing `dir` has none.
pub(crate) fn sweep(
    dir: &Path,
    is_temporary: fn(&OsStr) -> bool,
    now: SystemTime,
) -> io::Result<usize> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e),
    };
    let mut removed = 0;
    for entry in entries {
        let entry = entry?;
        if !is_temporary(&entry.file_name()) {
            continue;
        }
        let meta = entry.metadata()?;
        let age = meta
            .modified()
            .ok()
            .and_then(|t| now.duration_since(t).ok());
        if meta.is_file() && age.is_some_and(|age| age > STALE_AFTER) {
            match fs::remove_file(entry.path()) {
                Ok(()) => removed += 1,
                // Another worker of the same server swept it first.
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
    }
    Ok(removed)
}

/// Sweeps `dir` and logs the outcome; a failure to sweep is worth a warning, never an error.
pub(crate) fn sweep_and_log(dir: &Path, is_temporary: fn(&OsStr) -> bool, service: &str) {
    match sweep(dir, is_temporary, SystemTime::now()) {
        Ok(0) => {}
        Ok(n) => log::info!(
            "{service}: removed {n} stale temporary file(s) from {}",
            dir.display()
        ),
        Err(e) => log::warn!("{service}: sweeping {}: {e}", dir.display()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn is_tmp(name: &OsStr) -> bool {
        name.to_str().is_some_and(|n| n.ends_with(".tmp"))
    }

    #[test]
    fn only_old_temporary_files_go() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["a.tmp", "b.tmp", "keep.txt"] {
            fs::write(dir.path().join(name), b"x").unwrap();
        }
        fs::create_dir(dir.path().join("d.tmp")).unwrap();
        // Just written: nothing is stale yet.
        assert_eq!(sweep(dir.path(), is_tmp, SystemTime::now()).unwrap(), 0);
        // An hour and a bit later, both temporary files are; the others never are.
        let later = SystemTime::now() + STALE_AFTER + Duration::from_secs(60);
        assert_eq!(sweep(dir.path(), is_tmp, later).unwrap(), 2);
        let mut left: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        left.sort();
        assert_eq!(left, ["d.tmp", "keep.txt"]);
    }

    #[test]
    fn a_missing_directory_has_nothing_to_sweep() {
        let dir = tempfile::tempdir().unwrap();
        let gone = dir.path().join("never-made");
        assert_eq!(sweep(&gone, is_tmp, SystemTime::now()).unwrap(), 0);
    }
}

//! The files store's size limit (`--files-quota`), shared by every worker and connection.
//!
//! What the directory holds is counted once, when the first files service starts (regular
//! files only; hidden part files are the service's own and are swept at start). Then each
//! upload *reserves* its announced size before a byte of it is received, so two uploads at
//! once cannot both fit into the last free space; a reservation is given back when the upload
//! fails, and kept when the file is stored. A file that replaces another (`--overwrite`) may
//! use the old file's space, which is released when the new one is in place.
//!
//! Files removed or added behind the server's back are not seen until it restarts: the quota
//! bounds what *clients* can store, not the disk.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Once};

/// The store's limit and what is used of it.
#[derive(Debug)]
pub struct Quota {
    limit: u64,
    used: AtomicU64,
    counted: Once,
}

/// Two quotas are the same setting when their limits are (configurations compare settings).
impl PartialEq for Quota {
    fn eq(&self, other: &Quota) -> bool {
        self.limit == other.limit
    }
}

impl Eq for Quota {}

impl Quota {
    /// A quota of `limit` bytes, nothing counted yet.
    pub fn new(limit: u64) -> Arc<Quota> {
        Arc::new(Quota {
            limit,
            used: AtomicU64::new(0),
            counted: Once::new(),
        })
    }

    /// The limit, in bytes.
    pub(crate) fn limit(&self) -> u64 {
        self.limit
    }

    /// Bytes used: stored, and reserved by uploads under way.
    #[cfg(test)]
    pub(crate) fn used(&self) -> u64 {
        self.used.load(Ordering::Relaxed)
    }

    /// Counts the visible regular files in `dir`, the first time only (every worker's service
    /// calls this; the first counts). Symbolic links are not followed.
    pub(crate) fn count_once(&self, dir: &Path) {
        self.counted.call_once(|| {
            let total: u64 = std::fs::read_dir(dir)
                .into_iter()
                .flatten()
                .flatten()
                .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
                .filter_map(|e| e.metadata().ok())
                .filter(|m| m.is_file())
                .map(|m| m.len())
                .sum();
            self.used.fetch_add(total, Ordering::Relaxed);
            log::info!(
                "files quota: {total} of {} bytes used in {}",
                self.limit,
                dir.display()
            );
        });
    }

    /// Reserves `size` bytes, allowed to use `replaced` bytes that will be freed when the file
    /// is in place. `Err` with the bytes still free when it does not fit.
    pub(crate) fn reserve(&self, size: u64, replaced: u64) -> Result<(), u64> {
        let room = self.limit.saturating_add(replaced);
        self.used
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |used| {
                used.checked_add(size).filter(|after| *after <= room)
            })
            .map(|_| ())
            .map_err(|used| self.limit.saturating_sub(used))
    }

    /// Gives back `size` bytes (a failed upload's reservation, a replaced file).
    pub(crate) fn release(&self, size: u64) {
        let _ = self
            .used
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |used| {
                Some(used.saturating_sub(size))
            });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fills_to_the_byte_and_refuses_one_more() {
        let q = Quota::new(100);
        assert_eq!(q.reserve(60, 0), Ok(()));
        assert_eq!(q.reserve(40, 0), Ok(()));
        assert_eq!(q.reserve(1, 0), Err(0));
        q.release(40);
        assert_eq!(q.reserve(41, 0), Err(40));
        // Replacing the 60-byte file with 100 bytes fits: its 60 are freed once it is in place.
        assert_eq!(q.reserve(100, 60), Ok(()));
        q.release(60);
        assert_eq!(q.used(), 100);
    }

    #[test]
    fn what_the_directory_holds_is_counted_once() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a"), [0u8; 30]).unwrap();
        std::fs::write(dir.path().join(".a.1-1.part"), [0u8; 500]).unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        let q = Quota::new(100);
        q.count_once(dir.path());
        q.count_once(dir.path());
        assert_eq!(q.used(), 30);
    }
}

//! Small static files kept in memory, like nginx's `open_file_cache`.
//!
//! Serving a file from disk costs a path resolution beneath the root (`openat2`), an `fstat`,
//! and `read`/`close` — several times the two syscalls that
//! carry the request itself. A file of at most [`MAX_ENTRY`] bytes is therefore read once and
//! kept, with its validators, under the request path that found it. An entry is trusted for at
//! most [`VALID_FOR`]; after that the next request resolves the path afresh (every safety check
//! included) and reloads the entry. So a changed, removed or re-linked file is seen within a
//! second, and the cache never serves anything the full path check would not.
//!
//! Memory is bounded by the configured total (`--file-cache`, 0 disables the cache).
//!
//! **Writes through HTTP.** With `--workers N` every worker keeps its own cache, but a `PUT`
//! or `DELETE` is answered by one of them. So all the caches of a server share one write
//! counter: a write bumps it once the file system has changed, and a cache that sees a count
//! other than the one it was filled under empties itself before answering. A `GET` that
//! follows a `201`/`204` on any worker therefore sees the new file. The cost is one atomic
//! load per request for a static file, which never contends (it is written only by writes).

use std::collections::HashMap;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::validators::Validators;

/// The largest file kept in memory.
pub(super) const MAX_ENTRY: u64 = 64 * 1024;

/// How long an entry is served without looking at the disk again.
pub(super) const VALID_FOR: Duration = Duration::from_secs(1);

/// One cached file and everything its response head needs.
#[derive(Debug)]
pub(super) struct CachedFile {
    /// The whole file.
    pub body: Vec<u8>,
    /// `Content-Type`.
    pub content_type: &'static str,
    /// `ETag` and `Last-Modified`.
    pub validators: Validators,
    /// An uploaded file, served with `Content-Security-Policy: sandbox`.
    pub sandboxed: bool,
    loaded: Instant,
}

impl CachedFile {
    /// An entry loaded at `now`.
    pub(super) fn new(
        body: Vec<u8>,
        content_type: &'static str,
        validators: Validators,
        sandboxed: bool,
        now: Instant,
    ) -> CachedFile {
        CachedFile {
            body,
            content_type,
            validators,
            sandboxed,
            loaded: now,
        }
    }

    /// What an entry is charged against the capacity: its body, its key and its bookkeeping.
    fn cost(&self, key: &str) -> usize {
        self.body.len() + key.len() + std::mem::size_of::<CachedFile>() + 64
    }
}

/// Request path → cached file, bounded in total bytes.
#[derive(Debug)]
pub(super) struct FileCache {
    entries: HashMap<Box<str>, Rc<CachedFile>>,
    bytes: usize,
    capacity: usize,
    /// Writes through HTTP by any worker of the server, and the count the entries were
    /// loaded under.
    writes: Arc<AtomicU64>,
    writes_seen: u64,
}

impl FileCache {
    /// A cache holding at most `capacity` bytes (0: keep nothing), emptied whenever
    /// `writes`, the server's count of writes through HTTP, changes.
    pub(super) fn new(capacity: usize, writes: Arc<AtomicU64>) -> FileCache {
        let writes_seen = writes.load(Ordering::Acquire);
        FileCache {
            entries: HashMap::new(),
            bytes: 0,
            capacity,
            writes,
            writes_seen,
        }
    }

    /// The entry for `path` if it was loaded less than [`VALID_FOR`] before `now` and no
    /// write through HTTP happened since. Call it before reading a file to insert: an entry
    /// then belongs to the write count seen here, so a write meanwhile voids it.
    pub(super) fn fresh(&mut self, path: &str, now: Instant) -> Option<Rc<CachedFile>> {
        let writes = self.writes.load(Ordering::Acquire);
        if writes != self.writes_seen {
            self.clear();
            self.writes_seen = writes;
        }
        let entry = self.entries.get(path)?;
        (now.saturating_duration_since(entry.loaded) < VALID_FOR).then(|| Rc::clone(entry))
    }

    /// Stores `file` under `path`, evicting other entries if the total would exceed the
    /// capacity. A file that cannot fit at all is not stored.
    pub(super) fn insert(&mut self, path: &str, file: CachedFile) -> Rc<CachedFile> {
        let file = Rc::new(file);
        self.remove(path);
        let cost = file.cost(path);
        if cost > self.capacity {
            return file;
        }
        while self.bytes + cost > self.capacity {
            let Some(victim) = self.entries.keys().next().cloned() else {
                break;
            };
            self.remove(&victim);
        }
        self.bytes += cost;
        self.entries.insert(path.into(), Rc::clone(&file));
        file
    }

    /// Forgets `path` (a file was replaced or deleted through HTTP).
    pub(super) fn remove(&mut self, path: &str) {
        if let Some(old) = self.entries.remove(path) {
            self.bytes -= old.cost(path);
        }
    }

    /// A file changed through HTTP: every worker's cache forgets everything it holds.
    pub(super) fn written(&mut self) {
        self.writes_seen = self.writes.fetch_add(1, Ordering::AcqRel) + 1;
        self.clear();
    }

    /// Forgets everything.
    pub(super) fn clear(&mut self) {
        self.entries.clear();
        self.bytes = 0;
    }

    /// Bytes accounted to the entries held.
    #[cfg(test)]
    pub(super) fn bytes(&self) -> usize {
        self.bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(len: usize, now: Instant) -> CachedFile {
        let meta = std::fs::metadata(".").expect("metadata of the working directory");
        CachedFile::new(
            vec![7; len],
            "text/plain",
            Validators::of(&meta),
            false,
            now,
        )
    }

    #[test]
    fn entries_expire_after_a_second() {
        let t0 = Instant::now();
        let mut cache = FileCache::new(1 << 20, Arc::default());
        cache.insert("/a", file(10, t0));
        assert!(cache.fresh("/a", t0 + Duration::from_millis(999)).is_some());
        assert!(cache.fresh("/a", t0 + VALID_FOR).is_none());
        assert!(cache.fresh("/b", t0).is_none());
    }

    #[test]
    fn the_total_stays_within_capacity() {
        let t0 = Instant::now();
        let mut cache = FileCache::new(10_000, Arc::default());
        for i in 0..100 {
            cache.insert(&format!("/f{i}"), file(1000, t0));
            assert!(cache.bytes() <= 10_000);
        }
        cache.insert("/huge", file(20_000, t0));
        assert!(cache.fresh("/huge", t0).is_none(), "too big to keep");
        let mut off = FileCache::new(0, Arc::default());
        off.insert("/a", file(1, t0));
        assert!(off.fresh("/a", t0).is_none(), "capacity 0 disables");
    }

    #[test]
    fn remove_and_clear_release_bytes() {
        let t0 = Instant::now();
        let mut cache = FileCache::new(1 << 20, Arc::default());
        cache.insert("/a", file(100, t0));
        cache.insert("/a", file(200, t0));
        cache.remove("/a");
        assert_eq!(cache.bytes(), 0);
        cache.insert("/b", file(100, t0));
        cache.clear();
        assert_eq!(cache.bytes(), 0);
    }

    #[test]
    fn a_write_through_any_worker_empties_every_cache() {
        let t0 = Instant::now();
        let writes = Arc::new(AtomicU64::new(0));
        let mut mine = FileCache::new(1 << 20, Arc::clone(&writes));
        let mut other = FileCache::new(1 << 20, Arc::clone(&writes));
        mine.insert("/a", file(10, t0));
        other.insert("/a", file(10, t0));
        other.written();
        assert!(other.fresh("/a", t0).is_none());
        assert!(
            mine.fresh("/a", t0).is_none(),
            "the other worker's write is seen"
        );
        mine.insert("/a", file(10, t0));
        assert!(
            mine.fresh("/a", t0).is_some(),
            "filled again after the write"
        );
        assert_eq!(writes.load(Ordering::Relaxed), 1);
    }
}

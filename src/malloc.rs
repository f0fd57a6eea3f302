//! Asking glibc's allocator to give freed memory back: one of the binary's two pieces of
//! `unsafe` (the other is `tcp_info.rs`; the library forbids it).
//!
//! glibc keeps memory it got for a burst of large buffers (a few hundred clients each owed a
//! megabyte of output): freed chunks inside its heap are reused, not returned, so RSS stays at
//! the burst's peak for good (measured: 300 clients each echoed 1 MiB, RSS 4 → 89 MB, still
//! 89 MB ten seconds after they left). `malloc_trim(0)` hands every free page back
//! (`madvise`); a thread does it once a second, off the event loop: the same burst then peaks
//! at 5 MB, and 64 KiB bulk echo runs at the same rate within noise (2,756 vs 2,760 MB/s,
//! medians of three `evserve load echo -c 8 --size 65536` runs). See docs/architecture.md.

use std::time::Duration;

/// How often freed memory is handed back.
const EVERY: Duration = Duration::from_secs(1);

/// Starts the thread that hands freed memory back to the system. Does nothing on C libraries
/// other than glibc.
pub fn return_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        let spawned = std::thread::Builder::new()
            .name("malloc-trim".into())
            .spawn(|| {
                loop {
                    std::thread::sleep(EVERY);
                    // SAFETY: `malloc_trim` takes no pointers and only releases free pages of
                    // glibc's own heaps, under glibc's own locks; any thread may call it.
                    unsafe {
                        libc::malloc_trim(0);
                    }
                }
            });
        if let Err(e) = spawned {
            log::warn!("freed memory will not be returned to the system: {e}");
        }
    }
}

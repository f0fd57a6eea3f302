//! A directory's listing page, for a directory without an `index.html`.
//!
//! Every name in it comes from the filesystem, where anyone who may upload chooses names, so
//! names are HTML-escaped as text and percent-encoded as links; hidden entries (a leading dot,
//! as uploads in progress are) are left out.
//!
//! A listing is built on the event loop, so its cost is bounded whatever the directory holds:
//! at most [`MAX_ENTRIES`] entries are read (the page says how many more there are not), and an
//! entry's type comes from the directory itself (`d_type`), with a `stat` only for a symlink.
//! A 100,000-entry directory took 240 ms a request when every entry was `stat`ed and listed.
//!
//! Even bounded, a 5,000-entry page costs milliseconds to build, and twenty clients asking for
//! it in a loop would keep the loop busy building the same page. So pages are kept in a small
//! [`ListingCache`], checked against the directory's own metadata on every request (the
//! request `stat`s it anyway): a page is reused only while the directory's inode, change time
//! and modification time are those it was built from. A directory modified within the last
//! two seconds is not cached at all: its timestamps come from a coarse kernel clock, so a
//! name added in the same tick as the build would leave the times unchanged (git's "racily
//! clean" index entries, and its answer to them).

use std::fs::{self, File};
use std::io;
use std::os::unix::fs::MetadataExt;
use std::rc::Rc;
use std::time::{Duration, SystemTime};

use percent_encoding::{percent_decode_str, percent_encode};
use rustix::fs::{AtFlags, Dir, FileType, statat};

use super::root::LINK;

/// The most entries a listing shows (in directory order, then sorted).
pub(super) const MAX_ENTRIES: usize = 5_000;

/// A directory's listing page, read from its open descriptor `dir`. Hidden entries are left
/// out, names are HTML-escaped and links percent-encoded, directories end with `/`.
pub(super) fn listing(dir: &File, url_path: &str) -> io::Result<String> {
    let mut entries: Vec<(Vec<u8>, bool)> = Vec::new();
    let mut more = false;
    // Read through the descriptor that was opened beneath the root, never by name again.
    for entry in Dir::read_from(dir)? {
        let entry = entry?;
        let name = entry.file_name().to_bytes();
        if name.first() == Some(&b'.') {
            continue;
        }
        if entries.len() == MAX_ENTRIES {
            more = true;
            break;
        }
        let is_dir = match entry.file_type() {
            // A symlink (or a filesystem that leaves `d_type` out): the one `stat`. It only
            // decides the trailing slash; following the link serves nothing.
            FileType::Symlink | FileType::Unknown => {
                statat(dir, entry.file_name(), AtFlags::empty())
                    .is_ok_and(|st| FileType::from_raw_mode(st.st_mode) == FileType::Directory)
            }
            t => t == FileType::Directory,
        };
        entries.push((name.to_vec(), is_dir));
    }
    entries.sort();
    let title = html_escape(&percent_decode_str(url_path).decode_utf8_lossy());
    let mut html = format!(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>Index of {title}</title></head>\n\
         <body><h1>Index of {title}</h1>\n<ul>\n"
    );
    if url_path != "/" {
        html.push_str("<li><a href=\"../\">../</a></li>\n");
    }
    for (name, is_dir) in entries {
        let slash = if is_dir { "/" } else { "" };
        let href = percent_encode(&name, LINK);
        let text = html_escape(&String::from_utf8_lossy(&name));
        html.push_str(&format!(
            "<li><a href=\"{href}{slash}\">{text}{slash}</a></li>\n"
        ));
    }
    html.push_str("</ul>\n");
    if more {
        html.push_str(&format!(
            "<p>Only the first {MAX_ENTRIES} entries are listed.</p>\n"
        ));
    }
    html.push_str("</body></html>\n");
    Ok(html)
}

/// Pages a [`ListingCache`] keeps: a few busy directories, at most ~0.5 MB each.
const CACHED_PAGES: usize = 8;

/// How long a directory must have been left alone before its page is cached (see the module
/// docs: timestamps a coarse clock may not move).
const SETTLED: Duration = Duration::from_secs(2);

/// What identifies a directory's state: a page built from one stamp is valid while the
/// directory still has it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    dev: u64,
    ino: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

impl Stamp {
    fn of(meta: &fs::Metadata) -> Stamp {
        Stamp {
            dev: meta.dev(),
            ino: meta.ino(),
            mtime: (meta.mtime(), meta.mtime_nsec()),
            ctime: (meta.ctime(), meta.ctime_nsec()),
        }
    }
}

/// A page is found by its URL path alone: every URL names one place under the root, and the
/// stamp (device and inode included) tells whether the directory there is the one listed.
#[derive(Debug)]
struct CachedPage {
    url_path: String,
    stamp: Stamp,
    html: Rc<str>,
    last_used: u64,
}

/// Recently built listing pages, reused while their directory is unchanged.
#[derive(Debug, Default)]
pub(super) struct ListingCache {
    pages: Vec<CachedPage>,
    uses: u64,
}

impl ListingCache {
    /// The page for the open directory `dir` (whose metadata the caller just read) as seen at
    /// `url_path`: the cached one if the directory has not changed since, else a new one.
    pub(super) fn page(
        &mut self,
        dir: &File,
        meta: &fs::Metadata,
        url_path: &str,
        now: SystemTime,
    ) -> io::Result<Rc<str>> {
        self.uses += 1;
        let stamp = Stamp::of(meta);
        if let Some(page) = self.pages.iter_mut().find(|p| p.url_path == url_path)
            && page.stamp == stamp
        {
            page.last_used = self.uses;
            return Ok(page.html.clone());
        }
        self.pages.retain(|p| p.url_path != url_path);
        let html: Rc<str> = listing(dir, url_path)?.into();
        let settled = meta
            .modified()
            .ok()
            .and_then(|m| now.duration_since(m).ok())
            .is_some_and(|age| age >= SETTLED);
        if settled {
            if self.pages.len() == CACHED_PAGES
                && let Some(oldest) = self
                    .pages
                    .iter()
                    .enumerate()
                    .min_by_key(|(_, p)| p.last_used)
                    .map(|(i, _)| i)
            {
                self.pages.swap_remove(oldest);
            }
            self.pages.push(CachedPage {
                url_path: url_path.to_owned(),
                stamp,
                html: html.clone(),
                last_used: self.uses,
            });
        }
        Ok(html)
    }
}

/// Escapes the characters that are markup in HTML text and attribute values.
pub(super) fn html_escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            c => escaped.push(c),
        }
    }
    escaped
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_huge_directory_lists_a_bounded_number_of_entries() {
        let dir = tempfile::tempdir().unwrap();
        for i in 0..MAX_ENTRIES + 10 {
            fs::write(dir.path().join(format!("f{i}")), b"").unwrap();
        }
        fs::create_dir(dir.path().join("sub")).unwrap();
        let html = listing(&File::open(dir.path()).unwrap(), "/big/").unwrap();
        assert_eq!(
            html.matches("<li>").count(),
            MAX_ENTRIES + 1,
            "the entries and ../"
        );
        assert!(html.contains("Only the first 5000 entries are listed."));

        let small = tempfile::tempdir().unwrap();
        fs::create_dir(small.path().join("sub")).unwrap();
        fs::write(small.path().join("a.txt"), b"x").unwrap();
        std::os::unix::fs::symlink(small.path().join("sub"), small.path().join("link")).unwrap();
        let html = listing(&File::open(small.path()).unwrap(), "/").unwrap();
        assert!(html.contains(">sub/<") && html.contains(">link/<") && html.contains(">a.txt<"));
        assert!(!html.contains("Only the first"));
    }

    #[test]
    fn a_settled_directory_is_listed_from_the_cache_until_it_changes() {
        let dir = tempfile::tempdir().unwrap();
        let open = File::open(dir.path()).unwrap();
        fs::write(dir.path().join("a.txt"), b"").unwrap();
        let meta = fs::metadata(dir.path()).unwrap();
        let mut cache = ListingCache::default();
        // Seen from three seconds on, the directory has settled: its page is kept.
        let later = meta.modified().unwrap() + Duration::from_secs(3);
        let first = cache.page(&open, &meta, "/d/", later).unwrap();
        let again = cache.page(&open, &meta, "/d/", later).unwrap();
        assert!(
            Rc::ptr_eq(&first, &again),
            "the second request reuses the page"
        );
        // Another URL for the same directory has its own links and title.
        let other = cache.page(&open, &meta, "/e/", later).unwrap();
        assert!(other.contains("Index of /e/"));

        fs::write(dir.path().join("b.txt"), b"").unwrap();
        let changed = fs::metadata(dir.path()).unwrap();
        let page = cache.page(&open, &changed, "/d/", later).unwrap();
        assert!(
            page.contains(">b.txt<"),
            "a changed directory is listed again"
        );
    }

    #[test]
    fn a_directory_changed_just_now_is_not_cached() {
        let dir = tempfile::tempdir().unwrap();
        let open = File::open(dir.path()).unwrap();
        let meta = fs::metadata(dir.path()).unwrap();
        let now = meta.modified().unwrap();
        let mut cache = ListingCache::default();
        let first = cache.page(&open, &meta, "/", now).unwrap();
        // Within the clock tick, a new name may leave the times as they were: list anew.
        fs::write(dir.path().join("late.txt"), b"").unwrap();
        let second = cache.page(&open, &meta, "/", now).unwrap();
        assert!(!Rc::ptr_eq(&first, &second));
        assert!(second.contains(">late.txt<"));
    }

    #[test]
    fn the_cache_keeps_a_bounded_number_of_pages() {
        let dir = tempfile::tempdir().unwrap();
        let open = File::open(dir.path()).unwrap();
        let meta = fs::metadata(dir.path()).unwrap();
        let later = meta.modified().unwrap() + Duration::from_secs(3);
        let mut cache = ListingCache::default();
        for i in 0..3 * CACHED_PAGES {
            cache.page(&open, &meta, &format!("/{i}/"), later).unwrap();
        }
        assert_eq!(cache.pages.len(), CACHED_PAGES);
        // The most recently used are the ones kept.
        assert!(
            cache
                .pages
                .iter()
                .any(|p| p.url_path == format!("/{}/", 3 * CACHED_PAGES - 1))
        );
        assert!(!cache.pages.iter().any(|p| p.url_path == "/0/"));
    }

    #[test]
    fn html_escape_escapes_markup() {
        assert_eq!(
            html_escape("<a href=\"x\">'&'</a>"),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
    }
}

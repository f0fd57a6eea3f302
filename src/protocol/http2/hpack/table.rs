//! The two tables HPACK indexes fields by (RFC 7541 §2.3): the static table of 61 common
//! fields, fixed by the RFC, and a dynamic table per direction per connection, filled by
//! the encoder's "incremental indexing" and mirrored by the peer's decoder.
//!
//! Indices are one address space: 1..=61 is the static table, 62 and up the dynamic table,
//! newest entry first. An entry's *size* is its name and value lengths plus 32 (an estimate
//! of the overhead RFC 7541 §4.1 fixes so both ends evict alike); inserting evicts the
//! oldest entries until the new one fits, and an entry larger than the whole table empties
//! it and is not stored. Both ends must make exactly the same choices, which is why this
//! arithmetic is the RFC's and not ours.

use std::collections::VecDeque;

/// The static table (RFC 7541 Appendix A), index 1 first.
#[rustfmt::skip]
pub(crate) const STATIC: [(&[u8], &[u8]); 61] = [
    (b":authority", b""),
    (b":method", b"GET"),
    (b":method", b"POST"),
    (b":path", b"/"),
    (b":path", b"/index.html"),
    (b":scheme", b"http"),
    (b":scheme", b"https"),
    (b":status", b"200"),
    (b":status", b"204"),
    (b":status", b"206"),
    (b":status", b"304"),
    (b":status", b"400"),
    (b":status", b"404"),
    (b":status", b"500"),
    (b"accept-charset", b""),
    (b"accept-encoding", b"gzip, deflate"),
    (b"accept-language", b""),
    (b"accept-ranges", b""),
    (b"accept", b""),
    (b"access-control-allow-origin", b""),
    (b"age", b""),
    (b"allow", b""),
    (b"authorization", b""),
    (b"cache-control", b""),
    (b"content-disposition", b""),
    (b"content-encoding", b""),
    (b"content-language", b""),
    (b"content-length", b""),
    (b"content-location", b""),
    (b"content-range", b""),
    (b"content-type", b""),
    (b"cookie", b""),
    (b"date", b""),
    (b"etag", b""),
    (b"expect", b""),
    (b"expires", b""),
    (b"from", b""),
    (b"host", b""),
    (b"if-match", b""),
    (b"if-modified-since", b""),
    (b"if-none-match", b""),
    (b"if-range", b""),
    (b"if-unmodified-since", b""),
    (b"last-modified", b""),
    (b"link", b""),
    (b"location", b""),
    (b"max-forwards", b""),
    (b"proxy-authenticate", b""),
    (b"proxy-authorization", b""),
    (b"range", b""),
    (b"referer", b""),
    (b"refresh", b""),
    (b"retry-after", b""),
    (b"server", b""),
    (b"set-cookie", b""),
    (b"strict-transport-security", b""),
    (b"transfer-encoding", b""),
    (b"user-agent", b""),
    (b"vary", b""),
    (b"via", b""),
    (b"www-authenticate", b""),];

/// The size an entry counts for: name + value + 32 octets (RFC 7541 §4.1).
pub(crate) fn entry_size(name: &[u8], value: &[u8]) -> usize {
    name.len() + value.len() + 32
}

/// Where a field stands in the static table: the index of its name's first entry, and the
/// index of an entry with the same value too, if there is one. `name` must be lowercase
/// (HTTP/2 field names are).
pub(crate) fn static_find(name: &[u8], value: &[u8]) -> Option<(usize, Option<usize>)> {
    let first = match name.first()? {
        b':' | b'a'..=b'z' => static_name(name)?,
        _ => return None,
    };
    let exact = STATIC[first - 1..]
        .iter()
        .take_while(|(n, _)| *n == name)
        .position(|(_, v)| *v == value)
        .map(|at| first + at);
    Some((first, exact))
}

/// The first static index with this name: a `match` the compiler turns into a length and
/// byte switch, not a scan of 61 entries.
fn static_name(name: &[u8]) -> Option<usize> {
    Some(match name {
        b":authority" => 1,
        b":method" => 2,
        b":path" => 4,
        b":scheme" => 6,
        b":status" => 8,
        b"accept-charset" => 15,
        b"accept-encoding" => 16,
        b"accept-language" => 17,
        b"accept-ranges" => 18,
        b"accept" => 19,
        b"access-control-allow-origin" => 20,
        b"age" => 21,
        b"allow" => 22,
        b"authorization" => 23,
        b"cache-control" => 24,
        b"content-disposition" => 25,
        b"content-encoding" => 26,
        b"content-language" => 27,
        b"content-length" => 28,
        b"content-location" => 29,
        b"content-range" => 30,
        b"content-type" => 31,
        b"cookie" => 32,
        b"date" => 33,
        b"etag" => 34,
        b"expect" => 35,
        b"expires" => 36,
        b"from" => 37,
        b"host" => 38,
        b"if-match" => 39,
        b"if-modified-since" => 40,
        b"if-none-match" => 41,
        b"if-range" => 42,
        b"if-unmodified-since" => 43,
        b"last-modified" => 44,
        b"link" => 45,
        b"location" => 46,
        b"max-forwards" => 47,
        b"proxy-authenticate" => 48,
        b"proxy-authorization" => 49,
        b"range" => 50,
        b"referer" => 51,
        b"refresh" => 52,
        b"retry-after" => 53,
        b"server" => 54,
        b"set-cookie" => 55,
        b"strict-transport-security" => 56,
        b"transfer-encoding" => 57,
        b"user-agent" => 58,
        b"vary" => 59,
        b"via" => 60,
        b"www-authenticate" => 61,
        _ => return None,
    })
}

/// One dynamic entry: name and value in one buffer.
#[derive(Debug)]
struct Entry {
    bytes: Vec<u8>,
    name_len: usize,
}

/// A dynamic table: entries newest first, their total size within `max_size`.
///
/// Inserting allocates one buffer per entry, reusing the buffer of an entry it evicts when
/// that is large enough; lookups never allocate.
#[derive(Debug)]
pub struct DynamicTable {
    entries: VecDeque<Entry>,
    size: usize,
    max_size: usize,
    /// A buffer of an evicted entry, kept for the next insertion.
    spare: Vec<u8>,
}

impl DynamicTable {
    /// An empty table that may hold `max_size` octets (entry sizes as [`entry_size`]).
    pub(crate) fn new(max_size: usize) -> DynamicTable {
        DynamicTable {
            entries: VecDeque::new(),
            size: 0,
            max_size,
            spare: Vec::new(),
        }
    }

    /// The sum of the entries' sizes.
    pub fn size(&self) -> usize {
        self.size
    }

    /// The most the entries may sum to.
    pub fn max_size(&self) -> usize {
        self.max_size
    }

    /// How many entries there are.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are no entries.
    #[cfg(test)]
    pub(crate) fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The entry at `index` counted from the newest (0), as (name, value).
    pub(crate) fn get(&self, index: usize) -> Option<(&[u8], &[u8])> {
        let entry = self.entries.get(index)?;
        Some(entry.bytes.split_at(entry.name_len))
    }

    /// Changes the maximum size, evicting the oldest entries until the rest fit.
    pub(crate) fn set_max_size(&mut self, max_size: usize) {
        self.max_size = max_size;
        self.evict_to(max_size);
    }

    /// Adds a field as the newest entry, evicting the oldest ones until it fits; a field
    /// larger than the maximum size empties the table and is not stored (RFC 7541 §4.4).
    pub(crate) fn insert(&mut self, name: &[u8], value: &[u8]) {
        let size = entry_size(name, value);
        if size > self.max_size {
            self.evict_to(0);
            return;
        }
        self.evict_to(self.max_size - size);
        let mut bytes = std::mem::take(&mut self.spare);
        bytes.clear();
        bytes.extend_from_slice(name);
        bytes.extend_from_slice(value);
        self.entries.push_front(Entry {
            bytes,
            name_len: name.len(),
        });
        self.size += size;
    }

    /// Evicts the oldest entries until the size is at most `target`.
    fn evict_to(&mut self, target: usize) {
        while self.size > target {
            let Some(old) = self.entries.pop_back() else {
                self.size = 0;
                return;
            };
            self.size -= entry_size(&old.bytes[..old.name_len], &old.bytes[old.name_len..]);
            if old.bytes.capacity() > self.spare.capacity() {
                self.spare = old.bytes;
            }
        }
    }

    /// The newest entry with this name: its position (0 = newest), and whether its value
    /// matches too (then it is the newest such exact match).
    pub(crate) fn find(&self, name: &[u8], value: &[u8]) -> Option<(usize, bool)> {
        let mut by_name = None;
        for (at, entry) in self.entries.iter().enumerate() {
            let (n, v) = entry.bytes.split_at(entry.name_len);
            if n == name {
                if v == value {
                    return Some((at, true));
                }
                by_name.get_or_insert((at, false));
            }
        }
        by_name
    }
}

/// The field at a combined index (1..=61 static, 62.. dynamic), or `None` for 0 or past the
/// end.
pub(crate) fn lookup(table: &DynamicTable, index: usize) -> Option<(&[u8], &[u8])> {
    match index {
        0 => None,
        1..=61 => STATIC.get(index - 1).copied(),
        _ => table.get(index - 62),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn static_names_match_the_table() {
        for (i, (name, value)) in STATIC.iter().enumerate() {
            let (first, exact) = static_find(name, value).unwrap();
            assert_eq!(STATIC[first - 1].0, *name);
            assert!(
                first == 1 || STATIC[first - 2].0 != *name,
                "{first} not the first"
            );
            assert_eq!(exact, Some(i + 1));
        }
        assert_eq!(static_find(b":status", b"200"), Some((8, Some(8))));
        assert_eq!(static_find(b":status", b"201"), Some((8, None)));
        assert_eq!(static_find(b"x-custom", b""), None);
        assert_eq!(static_find(b"", b""), None);
    }

    #[test]
    fn insert_evicts_oldest_and_oversized_empties() {
        let mut t = DynamicTable::new(100);
        t.insert(b"aaaa", b"1111"); // 40
        t.insert(b"bbbb", b"2222"); // 40
        assert_eq!((t.len(), t.size()), (2, 80));
        t.insert(b"cccc", b"3333"); // 40: evicts aaaa
        assert_eq!((t.len(), t.size()), (2, 80));
        assert_eq!(t.get(0), Some((&b"cccc"[..], &b"3333"[..])));
        assert_eq!(t.get(1), Some((&b"bbbb"[..], &b"2222"[..])));
        assert_eq!(t.get(2), None);
        assert_eq!(t.find(b"bbbb", b"2222"), Some((1, true)));
        assert_eq!(t.find(b"bbbb", b"x"), Some((1, false)));
        assert_eq!(lookup(&t, 62), t.get(0));
        assert_eq!(lookup(&t, 2), Some((&b":method"[..], &b"GET"[..])));
        assert_eq!(lookup(&t, 0), None);
        // An entry of exactly the maximum fits alone; one byte more empties the table.
        t.insert(&[b'x'; 60], &[b'y'; 8]);
        assert_eq!((t.len(), t.size()), (1, 100));
        t.insert(&[b'x'; 60], &[b'y'; 9]);
        assert_eq!((t.len(), t.size()), (0, 0));
        t.insert(b"aaaa", b"1111");
        t.set_max_size(39);
        assert!(t.is_empty());
    }
}

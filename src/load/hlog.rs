//! HdrHistogram interval logs: `--hdr-log FILE` writes one, `evserve load merge` reads many.
//!
//! Percentiles do not average: the p99 of two machines' loads is not the mean of their p99s
//! (one machine's bad second can be the whole tail). What combines correctly is the histogram
//! itself, bucket by bucket. So a run can leave its latency histogram in the interval log
//! format of HdrHistogram (the Java `HistogramLogWriter`'s: a few `#[...]` header lines, then
//! one line per interval, `start,duration,max,BASE64`, the histogram compressed with deflate),
//! which `HistogramLogProcessor`, `hdr-plot` and this module read. `merge` adds every interval
//! of every file into one histogram and reports its percentiles.
//!
//! A run writes its whole measured histogram as one interval, from the run's start to its
//! end; `#[StartTime]` and `#[BaseTime]` hold the wall-clock start, so intervals of several
//! machines line up in time.

use std::fs;
use std::io;
use std::path::Path;
use std::time::{Duration, SystemTime};

use base64::Engine as _;
use hdrhistogram::Histogram;
use hdrhistogram::serialization::interval_log::{
    IntervalLogIterator, IntervalLogWriterBuilder, LogEntry, Tag,
};
use hdrhistogram::serialization::{Deserializer, V2DeflateSerializer};

use super::report::LATENCY_DIGITS;

/// Writes `latency` (µs), measured from `started` for `elapsed`, to `path` as an interval
/// log with one interval, tagged `tag` (a word naming the run: no spaces, commas or `=`).
pub fn write(
    path: &Path,
    latency: &Histogram<u64>,
    started: SystemTime,
    elapsed: Duration,
    tag: Option<&str>,
) -> io::Result<()> {
    let mut out = Vec::new();
    let mut serializer = V2DeflateSerializer::new();
    let mut writer = IntervalLogWriterBuilder::new()
        .add_comment("evserve load: latency in microseconds")
        .with_start_time(started)
        .with_base_time(started)
        .with_max_value_divisor(1.0)
        .begin_log_with(&mut out, &mut serializer)?;
    writer
        .write_histogram(latency, Duration::ZERO, elapsed, tag.and_then(Tag::new))
        .map_err(|e| io::Error::other(e.to_string()))?;
    fs::write(path, out)
}

/// What [`read`] found in some interval logs.
#[derive(Debug)]
pub struct Merged {
    /// Every interval of every file, added.
    pub latency: Histogram<u64>,
    /// Intervals read.
    pub intervals: usize,
}

/// Reads the interval logs `paths` and adds every interval into one histogram.
///
/// The message of an error names the file and what is wrong with it.
pub fn read(paths: &[impl AsRef<Path>]) -> Result<Merged, String> {
    // Auto-resizing: a log written by another tool may hold larger values.
    let mut latency = Histogram::<u64>::new(LATENCY_DIGITS).map_err(|e| e.to_string())?;
    let mut intervals = 0;
    for path in paths {
        let path = path.as_ref();
        let shown = path.display();
        let bytes = fs::read(path).map_err(|e| format!("{shown}: {e}"))?;
        let mut deserializer = Deserializer::new();
        let before = intervals;
        for entry in IntervalLogIterator::new(&bytes) {
            let interval = match entry {
                Ok(LogEntry::Interval(interval)) => interval,
                Ok(_) => continue,
                Err(e) => {
                    return Err(format!("{shown}: not an HdrHistogram interval log ({e:?})"));
                }
            };
            let encoded = base64::engine::general_purpose::STANDARD
                .decode(interval.encoded_histogram())
                .map_err(|e| format!("{shown}: a histogram that is not base64 ({e})"))?;
            let h: Histogram<u64> = deserializer
                .deserialize(&mut io::Cursor::new(encoded))
                .map_err(|e| format!("{shown}: a histogram that does not decode ({e:?})"))?;
            latency
                .add(&h)
                .map_err(|e| format!("{shown}: cannot add a histogram ({e:?})"))?;
            intervals += 1;
        }
        if intervals == before {
            return Err(format!(
                "{shown}: no histogram in it (not an interval log?)"
            ));
        }
    }
    Ok(Merged { latency, intervals })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::report::latency_histogram;

    #[test]
    fn written_logs_read_back_and_add_up() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a.hlog"), dir.path().join("b.hlog"));
        let mut ha = latency_histogram();
        let mut hb = latency_histogram();
        for v in 1..=1000 {
            ha.record(v).unwrap();
            hb.record(v * 1000).unwrap();
        }
        let t0 = SystemTime::now();
        write(&a, &ha, t0, Duration::from_secs(2), Some("a")).unwrap();
        write(&b, &hb, t0, Duration::from_secs(3), None).unwrap();
        let text = fs::read_to_string(&a).unwrap();
        assert!(text.contains("#[StartTime: "), "{text}");
        assert!(text.contains("Tag=a,0.000,2.000,"), "{text}");
        let merged = read(&[&a, &b]).unwrap();
        assert_eq!(merged.intervals, 2);
        let mut both = latency_histogram();
        both.add(&ha).unwrap();
        both.add(&hb).unwrap();
        assert_eq!(merged.latency.len(), 2000);
        for q in [0.5, 0.9, 0.99, 0.999] {
            assert_eq!(
                merged.latency.value_at_quantile(q),
                both.value_at_quantile(q)
            );
        }
        // Not the average of the two p99s (990 and 990 000).
        assert_eq!(
            merged.latency.value_at_quantile(0.99),
            both.value_at_quantile(0.99)
        );
        fs::write(&a, "not a log\n").unwrap();
        assert!(read(&[&a]).unwrap_err().contains("a.hlog"));
        assert!(read(&[dir.path().join("none")]).is_err());
    }
}

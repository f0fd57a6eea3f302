//! Command-line flags for running evserve in a cluster behind a load balancer, and for
//! `discover`'s output: kept apart from `cli.rs` so they read as one feature.
//!
//! `ClusterArgs` is flattened into `serve`'s flags, `DiscoverOptions` into `discover`'s.

use std::time::Duration;

use clap::Args;

use crate::cli::parse_duration;
use crate::discovery;

/// `discover` flags beyond where and how long to listen.
#[derive(Debug, Clone, Args)]
pub struct DiscoverOptions {
    /// Forget a server silent this long (it stopped, crashed or left the segment).
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse_listen_time)]
    pub expire: Duration,
    /// The service whose address `--format haproxy` lists.
    #[arg(long, value_name = "NAME", default_value = "http")]
    pub service: String,
}

impl Default for DiscoverOptions {
    fn default() -> DiscoverOptions {
        DiscoverOptions {
            expire: discovery::DEFAULT_EXPIRE,
            service: "http".to_string(),
        }
    }
}

/// Parses a duration that must carry its unit (`1500ms`, `5s`, `2m`): a bare `1500` could
/// mean milliseconds to one reader and seconds to another (it once ran for 25 minutes).
pub fn parse_listen_time(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "'{s}' has no unit: write {s}ms or {s}s (units: ms, s, m)"
        ));
    }
    parse_duration(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_times_need_a_unit() {
        assert_eq!(parse_listen_time("1500ms"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_listen_time("5s"), Ok(Duration::from_secs(5)));
        let err = parse_listen_time("1500").unwrap_err();
        assert!(err.contains("1500ms or 1500s"), "{err}");
        assert!(parse_listen_time("").is_err());
    }
}

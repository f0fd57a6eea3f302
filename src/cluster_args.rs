//! Command-line flags for running evserve in a cluster behind a load balancer, and for
//! `discover`'s output: kept apart from `cli.rs` so they read as one feature.
//!
//! `ClusterArgs` is flattened into `serve`'s flags, `DiscoverOptions` into `discover`'s.

use std::time::Duration;

use clap::Args;

use crate::cli::parse_duration;
use crate::discovery;
use crate::server::ServerConfig;

/// `serve` flags for running behind a load balancer (see `docs/deploy.md`).
#[derive(Debug, Clone, Default, Args)]
pub struct ClusterArgs {
    /// On SIGTERM, keep serving this long with /healthz answering 503 before the listeners
    /// close, so the balancer's health check takes the server out first (e.g. 3s; default 0s).
    #[arg(long, value_name = "DURATION", default_value = "0s", value_parser = parse_duration)]
    pub drain_delay: Duration,
    /// Expect a PROXY protocol header (v2, or v1 text) first on every TCP connection, as
    /// HAProxy's `send-proxy-v2` sends; the client it names is the peer. Connections without
    /// one are closed. Applies to every TCP listener of this server, TLS ones included (the
    /// header comes before the TLS handshake). Needs --proxy-from.
    #[arg(long)]
    pub proxy_protocol: bool,
    /// With --proxy-protocol: the balancer's address or network (e.g. 10.0.0.2 or
    /// 10.0.0.0/24), the only peers whose PROXY headers are believed; connections from
    /// anywhere else are refused unread, counted (`proxy_refused`) and logged. Repeatable.
    #[arg(long, value_name = "CIDR", value_parser = crate::cli::parse_net,
          requires = "proxy_protocol")]
    pub proxy_from: Vec<ipnet::IpNet>,
}

impl ClusterArgs {
    /// Applies these flags to a server configuration.
    pub fn apply(&self, config: &mut ServerConfig) {
        config.limits.drain_delay = self.drain_delay;
        config.proxy_protocol = self.proxy_protocol;
        config.proxy_from = self.proxy_from.clone();
    }

    /// Refuses flags that cannot work together: `--proxy-protocol` without `--proxy-from`
    /// would let anyone who reaches the port claim any client address.
    pub fn check(&self) -> Result<(), String> {
        if self.proxy_protocol && self.proxy_from.is_empty() {
            return Err(
                "--proxy-protocol needs --proxy-from: add the balancer's address or \
                        network whose PROXY headers are to be believed, e.g. --proxy-from \
                        10.0.0.2 (repeatable); a header from anyone else could claim any client \
                        address"
                    .to_string(),
            );
        }
        Ok(())
    }
}

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

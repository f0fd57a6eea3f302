//! Command-line flags for running evserve in a cluster behind a load balancer, and for
//! `discover`'s output: kept apart from `cli.rs` so they read as one feature.
//!
//! `ClusterArgs` is flattened into `serve`'s flags, `DiscoverOptions` into `discover`'s.

use std::time::Duration;

use clap::Args;

use super::values::{parse_duration, parse_net};
use evserve::discovery;
use evserve::server::ServerConfig;

/// `serve --help`'s heading for these flags, and for `--config FILE`.
pub const DEPLOYMENT: &str = "Deployment (configuration file, load balancer)";

/// `serve` flags for running behind a load balancer (see `docs/deploy.md`).
#[derive(Debug, Clone, Default, Args)]
#[command(next_help_heading = DEPLOYMENT)]
pub struct ClusterArgs {
    /// On SIGTERM, keep serving this long with /healthz answering 503 before the listeners
    /// close, so the balancer's health check takes the server out first (e.g. 3s).
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
    #[arg(long, value_name = "CIDR", value_parser = parse_net,
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
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse_duration)]
    pub expire: Duration,
    /// The service whose address `--format haproxy` lists.
    #[arg(long, value_name = "NAME", default_value = "http")]
    pub service: String,
    /// Believe only beacons signed with the shared key in FILE (at least 16 bytes, mode 600;
    /// the announcers' --beacon-key), made within 30s of our clock and never replayed.
    #[arg(long, value_name = "FILE", value_parser = evserve::secret::parse_secret_file)]
    pub beacon_key: Option<evserve::secret::Secret>,
    /// Without --beacon-key, a beacon may name addresses in this network besides its own
    /// source address (e.g. 10.77.0.0/24). Repeatable.
    #[arg(long, value_name = "CIDR")]
    pub allow_from: Vec<ipnet::IpNet>,
}

impl Default for DiscoverOptions {
    fn default() -> DiscoverOptions {
        DiscoverOptions {
            expire: discovery::DEFAULT_EXPIRE,
            service: "http".to_string(),
            beacon_key: None,
            allow_from: Vec::new(),
        }
    }
}

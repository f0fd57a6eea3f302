//! The command line: subcommands, flags, and their translation into a [`ServerConfig`].

use std::net::SocketAddr;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::config::{Limits, SocketOptions};
use crate::server::{ServerConfig, ServiceSpec};

/// A high-throughput network server on one non-blocking event loop.
#[derive(Debug, Parser)]
#[command(name = "evserve", version, about, long_about = None)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server. With no service flag, serves TCP and UDP echo on 127.0.0.1:7007.
    Serve(ServeArgs),
}

/// `evserve serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Serve TCP echo (RFC 862) on ADDR. Repeatable.
    #[arg(long, value_name = "ADDR")]
    pub echo: Vec<SocketAddr>,
    /// Serve UDP echo on ADDR: each datagram goes back to its sender. Repeatable.
    #[arg(long = "udp-echo", value_name = "ADDR")]
    pub udp_echo: Vec<SocketAddr>,

    /// Open TCP connections allowed; more are accepted and closed at once.
    #[arg(long, value_name = "N", default_value_t = Limits::default().max_connections)]
    pub max_connections: usize,
    /// Output a connection may have pending before the server stops reading from it
    /// (e.g. 1MiB, 512KiB, 65536).
    #[arg(long, value_name = "BYTES", default_value = "1MiB", value_parser = parse_size)]
    pub max_output: usize,
    /// Close a connection idle (nothing read or written) this long (e.g. 60s, 500ms, 2m).
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = parse_duration)]
    pub idle_timeout: Duration,
    /// On SIGINT/SIGTERM, how long pending output may take to drain before closing all.
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = parse_duration)]
    pub drain_timeout: Duration,
    /// After a final answer, how long to keep reading and discarding before closing.
    #[arg(long, value_name = "DURATION", default_value = "2s", value_parser = parse_duration)]
    pub linger_timeout: Duration,
    /// Largest UDP datagram received whole; larger ones are dropped and counted.
    #[arg(long, value_name = "BYTES", default_value_t = Limits::default().max_datagram,
          value_parser = parse_size)]
    pub max_datagram: usize,
    /// UDP replies queued while a socket cannot send; beyond it replies are dropped.
    #[arg(long, value_name = "N", default_value_t = Limits::default().udp_queue)]
    pub udp_queue: usize,

    /// Listen backlog.
    #[arg(long, value_name = "N", default_value_t = SocketOptions::default().backlog)]
    pub backlog: i32,
}

impl ServeArgs {
    /// The server configuration these flags describe.
    pub fn config(&self) -> ServerConfig {
        let mut services: Vec<ServiceSpec> = Vec::new();
        services.extend(self.echo.iter().copied().map(ServiceSpec::Echo));
        services.extend(self.udp_echo.iter().copied().map(ServiceSpec::UdpEcho));
        if services.is_empty() {
            let echo = SocketAddr::from(([127, 0, 0, 1], 7007));
            services = vec![ServiceSpec::Echo(echo), ServiceSpec::UdpEcho(echo)];
        }
        let max_output = self.max_output.max(1);
        ServerConfig {
            services,
            limits: Limits {
                max_connections: self.max_connections,
                max_output,
                low_water: max_output / 4,
                idle_timeout: self.idle_timeout,
                drain_timeout: self.drain_timeout,
                linger_timeout: self.linger_timeout,
                max_datagram: self.max_datagram,
                udp_queue: self.udp_queue,
                ..Limits::default()
            },
            socket_options: SocketOptions {
                backlog: self.backlog,
                ..SocketOptions::default()
            },
        }
    }
}

/// Parses `1MiB`, `64KiB`, `16k`, `2M`, `1GiB` or a plain byte count.
pub fn parse_size(s: &str) -> Result<usize, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (digits, unit) = s.split_at(split);
    let n: usize = digits
        .parse()
        .map_err(|_| format!("'{s}' is not a size (try 65536, 64KiB or 1MiB)"))?;
    let mult: usize = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        _ => return Err(format!("'{s}': unknown size unit (use KiB, MiB or GiB)")),
    };
    n.checked_mul(mult)
        .ok_or_else(|| format!("'{s}' is too large"))
}

/// Parses `500ms`, `60s`, `2m`, or a plain number of seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (digits, unit) = s.split_at(split);
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("'{s}' is not a duration (try 500ms, 10s or 2m)"))?;
    match unit {
        "ms" => Ok(Duration::from_millis(n)),
        "" | "s" => Ok(Duration::from_secs(n)),
        "m" => Ok(Duration::from_secs(n.saturating_mul(60))),
        _ => Err(format!("'{s}': unknown unit (use ms, s or m)")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("65536"), Ok(65536));
        assert_eq!(parse_size("64KiB"), Ok(65536));
        assert_eq!(parse_size("1MiB"), Ok(1 << 20));
        assert_eq!(parse_size("2m"), Ok(2 << 20));
        assert!(parse_size("MiB").is_err());
        assert!(parse_size("1XB").is_err());
        assert!(parse_size("99999999999999999999GiB").is_err());
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("10"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert!(parse_duration("1h").is_err());
        assert!(parse_duration("").is_err());
    }

    #[test]
    fn no_service_flag_means_loopback_defaults() {
        let cli = Cli::parse_from(["evserve", "serve"]);
        let Command::Serve(args) = cli.command;
        let cfg = args.config();
        let addrs: Vec<String> = cfg.services.iter().map(|s| format!("{s:?}")).collect();
        assert_eq!(addrs, ["Echo(127.0.0.1:7007)", "UdpEcho(127.0.0.1:7007)"]);
    }

    #[test]
    fn explicit_services_replace_defaults() {
        let cli = Cli::parse_from(["evserve", "serve", "--echo", "127.0.0.1:0"]);
        let Command::Serve(args) = cli.command;
        assert_eq!(args.config().services.len(), 1);
    }
}

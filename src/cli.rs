//! The command line: subcommands, flags, and their translation into a [`ServerConfig`].

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{ArgAction, Args, Parser, Subcommand};

use crate::config::{Limits, SocketOptions};
use crate::discovery::{self, ServiceEntry};
use crate::load::{self, Framing, HttpRequest, LoadConfig, Protocol};
use crate::protocol::files::FilesConfig;
use crate::protocol::framed::FramedConfig;
use crate::protocol::http::HttpConfig;
use crate::server::{Announce, ServerConfig, ServiceSpec};

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
    Serve(Box<ServeArgs>),
    /// Broadcast discovery beacons for services running elsewhere (no server).
    Announce(AnnounceArgs),
    /// Listen for discovery beacons and list the servers heard.
    Discover(DiscoverArgs),
    /// Send a file to a `--files` server; exits 0 only when it was stored and verified.
    Send(SendArgs),
    /// Generate load: `load http://HOST:PORT/PATH`, or `load echo|udp|framed HOST:PORT`.
    Load(Box<LoadArgs>),
    /// Run a socket lesson against a server started on loopback: `demo sticky`, ... `demo all`.
    Demo(crate::demo::DemoArgs),
}

/// `evserve load`.
#[derive(Debug, Args)]
pub struct LoadArgs {
    /// `http://HOST[:PORT]/PATH`, or one of `echo`, `udp`, `framed` followed by HOST:PORT.
    pub target: String,
    /// HOST:PORT, after `echo`, `udp` or `framed`.
    pub addr: Option<String>,
    /// Connections (UDP: sockets), dealt evenly to the threads.
    #[arg(short = 'c', long, default_value_t = load::DEFAULT_CONNECTIONS)]
    pub connections: usize,
    /// How long to run (default 10s); with -n, a time limit (default 10m).
    #[arg(short = 'd', long, value_name = "DURATION", value_parser = parse_duration)]
    pub duration: Option<Duration>,
    /// Stop once this many requests have ended (ok, error or timeout).
    #[arg(short = 'n', long)]
    pub requests: Option<u64>,
    /// Payload bytes for echo, udp and framed; the body of an HTTP POST, PUT or PATCH.
    #[arg(long, value_name = "BYTES", default_value = "64", value_parser = parse_size)]
    pub size: usize,
    /// Requests in flight per connection.
    #[arg(long, default_value_t = 1)]
    pub pipeline: usize,
    /// Open loop at this many requests/s across all connections, latency counted from each
    /// request's scheduled time (coordinated omission corrected). Default: closed loop.
    #[arg(long, value_name = "PER_SEC")]
    pub rate: Option<f64>,
    /// Framing for `framed`.
    #[arg(long, value_enum, default_value_t = FramingArg::Length)]
    pub framing: FramingArg,
    /// HTTP method.
    #[arg(long, default_value = "GET")]
    pub method: String,
    /// HTTP keep-alive (true/false); false sends `Connection: close` and reconnects for
    /// every request.
    #[arg(long, value_name = "BOOL", default_value_t = true, action = ArgAction::Set)]
    pub keep_alive: bool,
    /// A request unanswered this long counts as a timeout.
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = parse_duration)]
    pub timeout: Duration,
    /// Threads, each with its own event loop and share of the connections.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub threads: u16,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

impl LoadArgs {
    /// The run these arguments describe.
    pub fn config(&self) -> Result<LoadConfig, String> {
        let (protocol, hostport) = if self.target.contains("://") {
            if let Some(extra) = &self.addr {
                return Err(format!("unexpected '{extra}' after the URL"));
            }
            let (host, connect, path) = load::http::parse_url(&self.target)?;
            let request = HttpRequest {
                method: self.method.clone(),
                path,
                host,
                keep_alive: self.keep_alive,
            };
            (Protocol::Http(request), connect)
        } else {
            let protocol = match self.target.as_str() {
                "echo" => Protocol::Echo,
                "udp" => Protocol::Udp,
                "framed" => Protocol::Framed(match self.framing {
                    FramingArg::Length => Framing::Length,
                    FramingArg::Line => Framing::Line,
                }),
                other => {
                    return Err(format!(
                        "unknown target '{other}': use http://HOST:PORT/PATH, or echo, udp or \
                         framed followed by HOST:PORT"
                    ));
                }
            };
            let hostport = self
                .addr
                .clone()
                .ok_or("give HOST:PORT after the protocol")?;
            (protocol, hostport)
        };
        let addr = {
            use std::net::ToSocketAddrs;
            hostport
                .to_socket_addrs()
                .map_err(|e| format!("{hostport}: {e}"))?
                .next()
                .ok_or_else(|| format!("{hostport}: no address"))?
        };
        let config = LoadConfig {
            connections: self.connections,
            threads: usize::from(self.threads),
            pipeline: self.pipeline,
            size: self.size,
            duration: self.duration.unwrap_or(match self.requests {
                Some(_) => load::COUNTED_RUN_LIMIT,
                None => load::DEFAULT_DURATION,
            }),
            requests: self.requests,
            rate: self.rate,
            timeout: self.timeout,
            progress: std::io::stderr().is_terminal(),
            ..LoadConfig::new(addr, protocol)
        };
        config.validate()?;
        Ok(config)
    }
}

/// `evserve send`.
#[derive(Debug, Args)]
pub struct SendArgs {
    /// The file to send.
    pub file: PathBuf,
    /// The server's files service, HOST:PORT.
    #[arg(long, value_name = "HOST:PORT")]
    pub to: String,
    /// Store it under this name (default: the file's own name).
    #[arg(long)]
    pub name: Option<String>,
    /// Payload bytes per data frame.
    #[arg(long, value_name = "BYTES", default_value = "64KiB", value_parser = parse_size)]
    pub chunk: usize,
    /// Limit for connecting and for each read or write.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = parse_duration)]
    pub timeout: Duration,
}

/// `evserve announce`.
#[derive(Debug, Args)]
pub struct AnnounceArgs {
    /// Where to send beacons: a broadcast address and port, e.g. 192.168.1.255:7099.
    #[arg(long, value_name = "ADDR")]
    pub to: SocketAddr,
    /// A service to announce, as NAME=tcp://ADDR or NAME=udp://ADDR. Repeatable.
    #[arg(long, value_name = "SERVICE", value_parser = parse_service)]
    pub service: Vec<ServiceEntry>,
    /// The name in the beacons (default: the host name).
    #[arg(long)]
    pub name: Option<String>,
    /// Time between beacons; never below 1s whatever is asked, with random jitter.
    #[arg(long, value_name = "DURATION", default_value = "2s", value_parser = parse_duration)]
    pub interval: Duration,
}

/// `evserve discover`.
#[derive(Debug, Args)]
pub struct DiscoverArgs {
    /// The address to listen on for beacons.
    #[arg(long, value_name = "ADDR", default_value = "0.0.0.0:7099")]
    pub listen: SocketAddr,
    /// How long to listen, with a unit (e.g. 1500ms, 5s); Ctrl-C stops early and still prints.
    #[arg(long = "for", value_name = "DURATION", default_value = "5s", value_parser = crate::cluster_args::parse_listen_time)]
    pub duration: Duration,
    /// Print JSON instead of a table (same as --format json).
    #[arg(long, conflicts_with = "format")]
    pub json: bool,
    /// Output: a table, JSON, or HAProxy `server` lines for the --service.
    #[arg(long, value_enum, default_value_t = discovery::Format::Table)]
    pub format: discovery::Format,
    /// Expiry and the service `--format haproxy` lists.
    #[command(flatten)]
    pub options: crate::cluster_args::DiscoverOptions,
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
    /// Serve framed echo on ADDR: each frame comes back as one frame. Repeatable.
    #[arg(long, value_name = "ADDR")]
    pub framed: Vec<SocketAddr>,
    /// Framing for --framed: a 4-byte big-endian length per frame, or a delimiter at the end.
    #[arg(long, value_enum, default_value_t = FramingArg::Length)]
    pub framing: FramingArg,
    /// Largest frame accepted (default 16MiB for length framing, 64KiB for line framing).
    #[arg(long, value_name = "BYTES", value_parser = parse_size)]
    pub max_frame: Option<usize>,
    /// The delimiter byte ending each frame in line framing: a character or 0xNN.
    #[arg(long, value_name = "BYTE", default_value = "\\n", value_parser = parse_byte)]
    pub delimiter: u8,
    /// Serve a line chat room on ADDR: each line goes to every other client. Repeatable.
    #[arg(long, value_name = "ADDR")]
    pub chat: Vec<SocketAddr>,
    /// Largest chat line accepted.
    #[arg(long, value_name = "BYTES", default_value = "64KiB", value_parser = parse_size)]
    pub max_line: usize,
    /// Receive files (see `evserve send`) on ADDR, stored in --files-dir. Repeatable.
    #[arg(long, value_name = "ADDR", requires = "files_dir")]
    pub files: Vec<SocketAddr>,
    /// Where received files are stored.
    #[arg(long, value_name = "DIR")]
    pub files_dir: Option<PathBuf>,
    /// Let a received file replace an existing one of the same name.
    #[arg(long)]
    pub overwrite: bool,
    /// Serve HTTP/1.1 on ADDR (static files from --root, /plain, /echo, /stats). Repeatable.
    #[arg(long, value_name = "ADDR")]
    pub http: Vec<SocketAddr>,
    /// The directory HTTP serves files from; PUT /files/NAME stores into ROOT/files.
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub root: PathBuf,
    /// Largest HTTP request head (request line and headers); more is answered with 431.
    #[arg(long, value_name = "BYTES", default_value = "8KiB", value_parser = parse_size)]
    pub max_header_bytes: usize,
    /// Longest request URI; longer is answered with 414.
    #[arg(long, value_name = "BYTES", default_value = "4KiB", value_parser = parse_size)]
    pub max_uri: usize,
    /// Most request headers; more is answered with 431.
    #[arg(long, value_name = "N", default_value_t = 64)]
    pub max_headers: usize,
    /// Largest request body; more is answered with 413.
    #[arg(long, value_name = "BYTES", default_value = "16MiB", value_parser = parse_size)]
    pub max_body: usize,
    /// Time a request head may take to arrive once started (slowloris); then 408.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse_duration)]
    pub header_timeout: Duration,
    /// Allow PUT and DELETE under /files/.
    #[arg(long)]
    pub writable: bool,
    /// Require HTTP Basic credentials USER:PASS for PUT and DELETE.
    #[arg(long, value_name = "USER:PASS", value_parser = parse_credentials)]
    pub auth: Option<(String, String)>,
    /// Answer TRACE by echoing the request (off: 405).
    #[arg(long)]
    pub allow_trace: bool,
    /// Memory for small static files (<= 64 KiB each), revalidated at most a second after
    /// being read; 0 disables.
    #[arg(long, value_name = "BYTES", default_value = "16MiB", value_parser = parse_size)]
    pub file_cache: usize,
    /// One log line per HTTP request at info level (true/false).
    #[arg(long, value_name = "BOOL", default_value_t = true, action = ArgAction::Set)]
    pub access_log: bool,

    /// Largest file accepted; larger ones are refused before any data is stored.
    #[arg(long, value_name = "BYTES", default_value = "1GiB", value_parser = parse_size)]
    pub max_file_size: usize,

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
    /// Bytes a second a connection must move while mid-message or owing output, counted over
    /// each --rate-window; slower ones are closed (0: no minimum).
    #[arg(long, value_name = "BYTES", default_value_t = Limits::default().min_rate)]
    pub min_rate: u64,
    /// The period over which --min-rate is measured (e.g. 20s).
    #[arg(long, value_name = "DURATION", default_value = "20s", value_parser = parse_duration)]
    pub rate_window: Duration,
    /// Largest UDP datagram received whole; larger ones are dropped and counted.
    #[arg(long, value_name = "BYTES", default_value_t = Limits::default().max_datagram,
          value_parser = parse_size)]
    pub max_datagram: usize,
    /// UDP replies queued while a socket cannot send; beyond it replies are dropped.
    #[arg(long, value_name = "N", default_value_t = Limits::default().udp_queue)]
    pub udp_queue: usize,

    /// Broadcast discovery beacons to ADDR (e.g. 192.168.1.255:7099 or 127.255.255.255:7099).
    #[arg(long, value_name = "ADDR")]
    pub announce: Option<SocketAddr>,
    /// The server's name in its beacons (default: the host name).
    #[arg(long)]
    pub name: Option<String>,
    /// Time between beacons; never below 1s whatever is asked, with random jitter.
    #[arg(long, value_name = "DURATION", default_value = "2s", value_parser = parse_duration)]
    pub announce_interval: Duration,

    /// SO_REUSEADDR on listeners, so a restart does not fail on TIME_WAIT (true/false).
    #[arg(long, value_name = "BOOL", default_value_t = true, action = ArgAction::Set)]
    pub reuse_address: bool,
    /// SO_REUSEPORT on listeners, so several processes or workers can share a port.
    #[arg(long)]
    pub reuse_port: bool,
    /// TCP_NODELAY on connections: small replies leave at once (true/false).
    #[arg(long, value_name = "BOOL", default_value_t = true, action = ArgAction::Set)]
    pub no_delay: bool,
    /// SO_RCVBUF for every socket (the kernel may round or double it; see the debug log).
    #[arg(long, value_name = "BYTES", value_parser = parse_size)]
    pub recv_buffer: Option<usize>,
    /// SO_SNDBUF for every socket.
    #[arg(long, value_name = "BYTES", value_parser = parse_size)]
    pub send_buffer: Option<usize>,
    /// Listen backlog.
    #[arg(long, value_name = "N", default_value_t = SocketOptions::default().backlog)]
    pub backlog: i32,

    /// Independent single-threaded reactors sharing the ports through SO_REUSEPORT.
    #[arg(long, value_name = "N", default_value_t = 1,
          value_parser = clap::value_parser!(u16).range(1..=256))]
    pub workers: u16,

    /// Load-balancer flags: --drain-delay, --proxy-protocol.
    #[command(flatten)]
    pub cluster: crate::cluster_args::ClusterArgs,

    /// TLS listeners and their certificates.
    #[command(flatten)]
    pub tls: crate::protocol::tls::TlsArgs,
}

impl ServeArgs {
    /// The server configuration these flags describe.
    pub fn config(&self) -> ServerConfig {
        let mut services: Vec<ServiceSpec> = Vec::new();
        services.extend(self.echo.iter().copied().map(ServiceSpec::Echo));
        services.extend(self.udp_echo.iter().copied().map(ServiceSpec::UdpEcho));
        let framed = self.framed_config();
        services.extend(self.framed.iter().map(|a| ServiceSpec::Framed(*a, framed)));
        services.extend(
            self.chat
                .iter()
                .map(|a| ServiceSpec::Chat(*a, self.max_line)),
        );
        let files = self.files_dir.as_ref().map(|dir| FilesConfig {
            overwrite: self.overwrite,
            max_file_size: self.max_file_size as u64,
            ..FilesConfig::new(dir.clone())
        });
        if let Some(files) = &files {
            services.extend(
                self.files
                    .iter()
                    .map(|a| ServiceSpec::Files(*a, files.clone())),
            );
        }
        let http = Box::new(self.http_config());
        services.extend(
            self.http
                .iter()
                .map(|a| ServiceSpec::Http(*a, http.clone())),
        );
        services.extend(
            self.tls
                .services(&http, framed, self.max_line, files.as_ref()),
        );
        if services.is_empty() {
            let echo = SocketAddr::from(([127, 0, 0, 1], 7007));
            services = vec![
                ServiceSpec::Echo(echo),
                ServiceSpec::UdpEcho(echo),
                ServiceSpec::Framed(SocketAddr::from(([127, 0, 0, 1], 7008)), framed),
                ServiceSpec::Http(SocketAddr::from(([127, 0, 0, 1], 8080)), http),
            ];
        }
        let max_output = self.max_output.max(1);
        let mut config = ServerConfig {
            services,
            limits: Limits {
                max_connections: self.max_connections,
                max_output,
                low_water: max_output / 4,
                idle_timeout: self.idle_timeout,
                drain_timeout: self.drain_timeout,
                linger_timeout: self.linger_timeout,
                min_rate: self.min_rate,
                rate_window: self.rate_window,
                max_datagram: self.max_datagram,
                udp_queue: self.udp_queue,
                ..Limits::default()
            },
            socket_options: SocketOptions {
                reuse_address: self.reuse_address,
                reuse_port: self.reuse_port,
                nodelay: self.no_delay,
                recv_buffer: self.recv_buffer,
                send_buffer: self.send_buffer,
                backlog: self.backlog,
            },
            announce: self.announce.map(|to| Announce {
                to,
                name: self.name.clone().unwrap_or_else(discovery::host_name),
                interval: self.announce_interval,
            }),
            workers: usize::from(self.workers),
            ..ServerConfig::default()
        };
        self.cluster.apply(&mut config);
        config
    }
}

impl ServeArgs {
    fn http_config(&self) -> HttpConfig {
        HttpConfig {
            root: self.root.clone(),
            max_header_bytes: self.max_header_bytes,
            max_uri: self.max_uri,
            max_headers: self.max_headers,
            max_body: self.max_body as u64,
            header_timeout: self.header_timeout,
            writable: self.writable,
            auth: self.auth.clone(),
            allow_trace: self.allow_trace,
            access_log: self.access_log,
            file_cache: self.file_cache,
            ..HttpConfig::default()
        }
    }

    fn framed_config(&self) -> FramedConfig {
        let base = match self.framing {
            FramingArg::Length => FramedConfig::length(),
            FramingArg::Line => FramedConfig::line(),
        };
        FramedConfig {
            max_frame: self.max_frame.unwrap_or(base.max_frame),
            delimiter: self.delimiter,
            ..base
        }
    }
}

/// The framings `--framing` accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum FramingArg {
    /// A 4-byte big-endian length, then the payload.
    Length,
    /// The payload, then the delimiter (a trailing `\r` is stripped).
    Line,
}

/// Parses a delimiter: one character (`\n`, `\t`, `\0` and `\r` escapes allowed) or `0xNN`.
pub fn parse_byte(s: &str) -> Result<u8, String> {
    match s {
        "\\n" => return Ok(b'\n'),
        "\\r" => return Ok(b'\r'),
        "\\t" => return Ok(b'\t'),
        "\\0" => return Ok(0),
        _ => {}
    }
    if let Some(hex) = s.strip_prefix("0x") {
        return u8::from_str_radix(hex, 16).map_err(|_| format!("'{s}' is not a byte"));
    }
    match s.as_bytes() {
        [b] => Ok(*b),
        _ => Err(format!("'{s}': give one character or 0xNN")),
    }
}

/// Parses `USER:PASS`.
pub fn parse_credentials(s: &str) -> Result<(String, String), String> {
    match s.split_once(':') {
        Some((user, pass)) if !user.is_empty() => Ok((user.to_string(), pass.to_string())),
        _ => Err("expected USER:PASS".to_string()),
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

/// Parses `NAME=tcp://ADDR` or `NAME=udp://ADDR`.
pub fn parse_service(s: &str) -> Result<ServiceEntry, String> {
    let bad = || format!("'{s}': expected NAME=tcp://ADDR or NAME=udp://ADDR");
    let (name, url) = s.split_once('=').ok_or_else(bad)?;
    let (transport, addr) = url.split_once("://").ok_or_else(bad)?;
    if name.is_empty() || !matches!(transport, "tcp" | "udp") {
        return Err(bad());
    }
    Ok(ServiceEntry {
        name: name.to_string(),
        transport: transport.to_string(),
        addr: addr.parse().map_err(|_| bad())?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delimiters() {
        assert_eq!(parse_byte("\\n"), Ok(b'\n'));
        assert_eq!(parse_byte(";"), Ok(b';'));
        assert_eq!(parse_byte("0x1e"), Ok(0x1e));
        assert!(parse_byte("ab").is_err());
        assert!(parse_byte("0xzz").is_err());
    }

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
        let Command::Serve(args) = cli.command else {
            panic!("not serve")
        };
        let cfg = args.config();
        let addrs: Vec<String> = cfg.services.iter().map(|s| format!("{s:?}")).collect();
        assert_eq!(addrs.len(), 4);
        assert!(addrs[3].starts_with("Http(127.0.0.1:8080"), "{}", addrs[3]);
        assert_eq!(
            addrs[..2],
            ["Echo(127.0.0.1:7007)", "UdpEcho(127.0.0.1:7007)"]
        );
        assert!(
            addrs[2].starts_with("Framed(127.0.0.1:7008"),
            "{}",
            addrs[2]
        );
    }

    #[test]
    fn services_to_announce() {
        let e = parse_service("http=tcp://127.0.0.1:8080").unwrap();
        assert_eq!((e.name.as_str(), e.transport.as_str()), ("http", "tcp"));
        assert!(parse_service("http=sctp://127.0.0.1:1").is_err());
        assert!(parse_service("tcp://127.0.0.1:1").is_err());
        assert!(parse_service("x=udp://nowhere").is_err());
    }

    #[test]
    fn socket_flags_reach_the_options() {
        let cli = Cli::parse_from([
            "evserve",
            "serve",
            "--reuse-address",
            "false",
            "--reuse-port",
            "--no-delay",
            "false",
            "--recv-buffer",
            "64KiB",
            "--backlog",
            "16",
        ]);
        let Command::Serve(args) = cli.command else {
            panic!("not serve")
        };
        let o = args.config().socket_options;
        assert!(!o.reuse_address && o.reuse_port && !o.nodelay);
        assert_eq!(
            (o.recv_buffer, o.send_buffer, o.backlog),
            (Some(65536), None, 16)
        );
    }

    #[test]
    fn load_targets_and_bounds() {
        let load = |args: &[&str]| {
            let cli = Cli::try_parse_from(["evserve", "load"].iter().chain(args))
                .map_err(|e| e.to_string())?;
            let Command::Load(args) = cli.command else {
                panic!("not load")
            };
            args.config()
        };
        let c = load(&["http://127.0.0.1:8080/plain", "--pipeline", "16"]).unwrap();
        let Protocol::Http(request) = &c.protocol else {
            panic!("not http")
        };
        assert_eq!((request.path.as_str(), c.pipeline), ("/plain", 16));
        assert_eq!(c.duration, load::DEFAULT_DURATION);
        let c = load(&["echo", "127.0.0.1:7", "-n", "5", "--rate", "100"]).unwrap();
        assert_eq!((c.requests, c.rate), (Some(5), Some(100.0)));
        assert_eq!(
            c.duration,
            load::COUNTED_RUN_LIMIT,
            "-n alone: the generous limit"
        );
        let c = load(&["framed", "127.0.0.1:7", "--framing", "line", "-d", "2s"]).unwrap();
        assert_eq!(c.protocol, Protocol::Framed(Framing::Line));
        assert_eq!(c.duration, Duration::from_secs(2));
        assert!(load(&["echo"]).unwrap_err().contains("HOST:PORT"));
        assert!(load(&["ftp://h/"]).unwrap_err().contains("http://"));
        assert!(load(&["udp", "127.0.0.1:7", "--threads", "0"]).is_err());
        assert!(load(&["udp", "127.0.0.1:7", "--rate", "-1"]).is_err());
    }

    #[test]
    fn explicit_services_replace_defaults() {
        let cli = Cli::parse_from(["evserve", "serve", "--echo", "127.0.0.1:0"]);
        let Command::Serve(args) = cli.command else {
            panic!("not serve")
        };
        assert_eq!(args.config().services.len(), 1);
    }
}

//! The command line: subcommands, flags, and their translation into a [`ServerConfig`].

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use clap::{ArgAction, Args, Parser, Subcommand};

use crate::load::{self, Framing, HttpRequest, LoadConfig, Protocol, TlsClient, TlsOptions, Trust};
use evserve::config::{
    DEFAULT_CHAT_LINE, DEFAULT_ECHO, DEFAULT_FRAMED, DEFAULT_HTTP, Limits, SocketOptions,
};
use evserve::discovery::{self, ServiceEntry};
use evserve::protocol::files::{self, FilesConfig};
use evserve::protocol::framed::FramedConfig;
use evserve::protocol::http::HttpConfig;
use evserve::protocol::http::auth::{self, Users};
use evserve::protocol::http::request::HEADER_SLOTS;
use evserve::protocol::http2::Http2Config;
use evserve::server::{Announce, ServerConfig, ServiceSpec};

mod cluster_args;
use cluster_args::DEPLOYMENT;
pub mod config_file;
pub mod reload;
mod tls_args;
mod values;

pub use values::{
    FramingArg, Size, Span, parse_byte, parse_credentials, parse_duration, parse_header,
    parse_listen, parse_net, parse_rate, parse_server_name, parse_service, parse_size,
};

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
    /// Run the server. With no service flag: TCP and UDP echo on 127.0.0.1:7007, framed echo
    /// on 127.0.0.1:7008 and HTTP on 127.0.0.1:8080.
    #[command(
        after_help = "ADDR is HOST:PORT (127.0.0.1:7007, localhost:7007, [::1]:7007), or a \
        port alone (7007, :7007), which like nginx's `listen` means every IPv4 address."
    )]
    Serve(Box<ServeArgs>),
    /// Broadcast discovery beacons for services running elsewhere (no server).
    Announce(AnnounceArgs),
    /// Listen for discovery beacons and list the servers heard.
    Discover(DiscoverArgs),
    /// Send a file to a `--files` server; exits 0 only when it was stored and verified.
    Send(SendArgs),
    /// Generate load: `load http(s)://HOST:PORT/PATH`, `load echo|udp|framed|ws HOST:PORT`;
    /// `load sweep TARGET --slo 5ms` finds the knee; `load merge A.hlog ...` combines.
    #[command(
        after_help = "TLS: https:// URLs, or --tls with echo and framed. No system CA roots \
        are loaded: give the certificate to trust with --cacert FILE (evserve's self-signed \
        one: serve --tls-self-signed-out DIR, then --cacert DIR/cert.pem), or --insecure.\n\n\
        Report: requests/s; Transfer/sec (bytes received, as wrk); the chosen latency \
        percentiles with mean and standard deviation; every HTTP status with its count (5xx \
        counted as errors unless --error-status says otherwise); failures by kind with a \
        first example; a latency histogram.\n\n\
        Exit status: 0 if requests succeeded (and at most --max-error-rate \
        failed); 1 if none succeeded or more failed; 2 for a value the command line got \
        wrong; 130 after Ctrl-C or SIGTERM, which print the partial report."
    )]
    Load(Box<LoadArgs>),
    /// Run a socket lesson against a server started on loopback: `demo sticky`, ... `demo all`.
    Demo(crate::demo::DemoArgs),
    /// Work with a configuration file: `config check FILE` validates it without serving.
    #[command(subcommand)]
    Config(ConfigCommand),
}

/// `evserve config ...`.
#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Check FILE as `serve --config FILE` would (names, values, the flags' own rules), then
    /// exit: 0 if it would start, 1 with the file and line of the first problem if not.
    Check {
        /// The TOML file to check.
        file: PathBuf,
    },
}

/// `evserve load`.
#[derive(Debug, Clone, Args)]
pub struct LoadArgs {
    /// `http://HOST[:PORT]/PATH`, `https://HOST[:PORT]/PATH`, or one of `echo`, `udp`,
    /// `framed`, `ws` (WebSocket echo at /ws/echo) followed by HOST:PORT; `merge` followed
    /// by HdrHistogram interval logs (--hdr-log) to report their combined percentiles;
    /// `sweep` followed by a target, to step an open-loop rate up until --slo is crossed.
    pub target: String,
    /// HOST:PORT, after `echo`, `udp`, `framed` or `ws`; the first log after `merge`.
    pub addr: Option<String>,
    /// More interval logs, after `merge`.
    #[arg(value_name = "LOG")]
    pub more: Vec<String>,
    /// Connections (UDP: sockets), dealt evenly to the threads; at most what `ulimit -n`
    /// allows, less a reserve.
    #[arg(short = 'c', long, value_name = "N", default_value_t = load::DEFAULT_CONNECTIONS,
          value_parser = parse_count)]
    pub connections: usize,
    /// How long to run (default 10s); with -n, a time limit (default 10m). A bare number is
    /// seconds.
    #[arg(short = 'd', long, value_name = "DURATION", value_parser = parse_duration)]
    pub duration: Option<Duration>,
    /// Stop once this many requests have ended (ok, error or timeout).
    #[arg(short = 'n', long, value_name = "N", value_parser = parse_count_u64)]
    pub requests: Option<u64>,
    /// Payload bytes for echo, udp and framed; the body of an HTTP POST, PUT or PATCH.
    #[arg(long, value_name = "BYTES", default_value_t = Size(load::DEFAULT_SIZE))]
    pub size: Size,
    /// Requests in flight per connection.
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = parse_count)]
    pub pipeline: usize,
    /// Open loop at this many requests/s across all connections, latency counted from each
    /// request's scheduled time (coordinated omission corrected). Default: closed loop.
    #[arg(long, value_name = "PER_SEC", value_parser = parse_per_sec)]
    pub rate: Option<f64>,
    /// Framing for `framed`.
    #[arg(long, value_enum, default_value_t = FramingArg::Length)]
    pub framing: FramingArg,
    /// The delimiter byte ending each frame with `--framing line`: a character or 0xNN.
    #[arg(long, value_name = "BYTE", default_value = "\\n", value_parser = parse_byte)]
    pub delimiter: u8,
    /// HTTP method.
    #[arg(short = 'm', long, default_value = "GET")]
    pub method: String,
    /// An HTTP header field to send, `NAME: VALUE`. Repeatable; a Host given here replaces
    /// the URL's.
    #[arg(short = 'H', long = "header", value_name = "NAME: VALUE", value_parser = parse_header)]
    pub headers: Vec<(String, String)>,
    /// Send this file's content as every request's body (with any method).
    #[arg(long, value_name = "FILE")]
    pub body: Option<PathBuf>,
    /// HTTP keep-alive; off sends `Connection: close` and reconnects for every request.
    #[arg(long, value_name = "BOOL", num_args = 0..=1, default_missing_value = "true",
          default_value_t = true, action = ArgAction::Set, overrides_with = "no_keep_alive")]
    pub keep_alive: bool,
    /// Send `Connection: close` and reconnect for every request: over HTTPS, one TLS
    /// handshake per request (resumed unless --no-tls-resume).
    #[arg(
        long,
        visible_alias = "new-connection-per-request",
        overrides_with = "keep_alive"
    )]
    pub no_keep_alive: bool,
    /// Speak HTTP/2: h2c by prior knowledge on an http:// URL, `h2` chosen by ALPN on an
    /// https:// one. Requests carry no body (GET, HEAD, DELETE...).
    #[arg(long, help_heading = "HTTP/2")]
    pub http2: bool,
    /// With --http2: streams in flight per connection (h2load's -m; here -m is --method),
    /// fewer while the server's MAX_CONCURRENT_STREAMS is lower [default: 1].
    #[arg(long, value_name = "N", value_parser = parse_count, help_heading = "HTTP/2")]
    pub streams: Option<usize>,
    /// Speak TLS (for echo, framed and ws, which becomes wss://; an https:// URL implies it).
    #[arg(long, help_heading = "TLS")]
    pub tls: bool,
    /// Trust the server certificates issued by (or equal to) the certificates in this PEM
    /// file. No system roots are loaded: without --cacert or --insecure every handshake
    /// fails (UnknownIssuer).
    #[arg(long, value_name = "FILE", help_heading = "TLS")]
    pub cacert: Option<PathBuf>,
    /// Accept any server certificate, unchecked (warned on stderr): for test servers only.
    #[arg(short = 'k', long, conflicts_with = "cacert", help_heading = "TLS")]
    pub insecure: bool,
    /// Do not resume TLS sessions: every connection makes a full handshake.
    #[arg(long, help_heading = "TLS")]
    pub no_tls_resume: bool,
    /// A request unanswered this long counts as a timeout.
    #[arg(long, value_name = "DURATION", default_value_t = Span(load::DEFAULT_TIMEOUT))]
    pub timeout: Span,
    /// Threads, each with its own event loop and share of the connections.
    #[arg(short = 't', long, default_value_t = 1,
          value_parser = clap::value_parser!(u16).range(1..=256))]
    pub threads: u16,
    /// Exit with status 1 if more than this share of requests fail (errors and timeouts),
    /// e.g. 1% or 0.01. Whatever it is, a run in which no request succeeded exits 1.
    #[arg(long, value_name = "RATE", value_parser = parse_rate)]
    pub max_error_rate: Option<f64>,
    /// HTTP statuses that count as errors rather than responses: codes and classes,
    /// comma-separated (`4xx,5xx`, `404,503`), or `none`. Every response is timed and shown in
    /// the status-code table either way; errors are left out of the latency and throughput.
    #[arg(long, value_name = "LIST", default_value = "5xx", value_parser = load::StatusSet::parse)]
    pub error_status: load::StatusSet,
    /// The latency percentiles to report (text and JSON), comma-separated, e.g. 50,90,99,99.99.
    #[arg(long, value_name = "LIST", default_value = "50,90,99,99.9",
          value_parser = parse_percentiles)]
    pub percentiles: Percentiles,
    /// Write the latency histogram to FILE in HdrHistogram's interval log format, which
    /// `evserve load merge` (and HdrHistogram's own tools) combine across runs and machines.
    #[arg(long, value_name = "FILE")]
    pub hdr_log: Option<PathBuf>,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
    /// The latency objective: a step whose --slo-percentile is above it ends the sweep.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, help_heading = SWEEP)]
    pub slo: Option<Duration>,
    /// The percentile held to --slo.
    #[arg(long, value_name = "P", default_value_t = 99.0, help_heading = SWEEP)]
    pub slo_percentile: f64,
    /// The first rate, requests/s.
    #[arg(long, value_name = "PER_SEC", default_value_t = 1000.0, value_parser = parse_per_sec,
          help_heading = SWEEP)]
    pub start: f64,
    /// Add this to the rate at each step [default: --start].
    #[arg(long, value_name = "PER_SEC", value_parser = parse_per_sec, help_heading = SWEEP)]
    pub step: Option<f64>,
    /// Multiply the rate by this at each step, instead of adding --step.
    #[arg(long, value_name = "F", conflicts_with = "step", help_heading = SWEEP)]
    pub factor: Option<f64>,
    /// The highest rate tried [default: 50 steps of --step, or --start x 100 with --factor].
    #[arg(long, value_name = "PER_SEC", value_parser = parse_per_sec, help_heading = SWEEP)]
    pub stop: Option<f64>,
    /// Load before each step's measurement, not counted.
    #[arg(long, value_name = "DURATION", default_value = "1s", value_parser = parse_duration,
          help_heading = SWEEP)]
    pub warmup: Duration,
    /// How long each step measures.
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = parse_duration,
          help_heading = SWEEP)]
    pub measure: Duration,
    /// Another target to sweep interleaved with the first, on the same chart: a URL, or
    /// HOST:PORT for the first one's protocol, named in the legend as NAME= says
    /// (`nginx=http://127.0.0.1:8081/plain`) or else by itself. Repeatable.
    #[arg(long, value_name = "[NAME=]TARGET", help_heading = SWEEP)]
    pub compare: Vec<String>,
    /// The first target's name in the sweep's table, chart and JSON [default: the target].
    #[arg(long, value_name = "NAME", help_heading = SWEEP)]
    pub name: Option<String>,
    /// Where to write the sweep's results: PREFIX.json, PREFIX.csv and PREFIX.svg.
    #[arg(long, value_name = "PREFIX", default_value = "sweep", help_heading = SWEEP)]
    pub out: PathBuf,
}

/// The heading of the flags of `load sweep`.
const SWEEP: &str = "Sweep (load sweep TARGET ...)";

/// A list of percentiles, each above 0 and at most 100.
#[derive(Debug, Clone, PartialEq)]
pub struct Percentiles(pub Vec<f64>);

/// Parses `50,90,99,99.9`.
pub fn parse_percentiles(s: &str) -> Result<Percentiles, String> {
    let list = s
        .split(',')
        .map(|p| match p.trim().parse::<f64>() {
            Ok(v) if v > 0.0 && v <= 100.0 => Ok(v),
            _ => Err(format!(
                "'{}' is not a percentile: give numbers above 0 and at most 100, e.g. 50,99,99.9",
                p.trim()
            )),
        })
        .collect::<Result<Vec<f64>, String>>()?;
    Ok(Percentiles(list))
}

/// Parses a count of at least 1 (`-c`, `--pipeline`).
pub fn parse_count(s: &str) -> Result<usize, String> {
    match s.trim().parse::<usize>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err(format!("'{s}': give a whole number, at least 1")),
    }
}

/// Parses a request count of at least 1 (`-n`).
pub fn parse_count_u64(s: &str) -> Result<u64, String> {
    match s.trim().parse::<u64>() {
        Ok(n) if n >= 1 => Ok(n),
        _ => Err(format!("'{s}': give a whole number, at least 1")),
    }
}

/// Parses a rate in requests per second: a positive, finite number.
pub fn parse_per_sec(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(r) if r.is_finite() && r > 0.0 => Ok(r),
        _ => Err(format!("'{s}': give requests per second, a number above 0")),
    }
}

/// This machine's host name, the default `--name` in beacons.
pub fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|s| s.trim().replace(|c: char| !c.is_ascii_graphic(), "-"))
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "evserve".to_string())
}

impl LoadArgs {
    /// The arguments of `load sweep TARGET [ADDR]` as those of the target's own run, and
    /// of each `--compare` target, with their labels.
    pub fn sweep_targets(&self) -> Result<Vec<(String, LoadConfig)>, String> {
        let first = self
            .addr
            .clone()
            .ok_or("give the target to sweep: load sweep URL, or load sweep echo HOST:PORT")?;
        let mut inner = self.clone();
        inner.target = first;
        inner.addr = self.more.first().cloned();
        inner.more = self.more.iter().skip(1).cloned().collect();
        let label = |a: &LoadArgs| match &a.addr {
            Some(addr) => format!("{} {addr}", a.target),
            None => a.target.clone(),
        };
        let first = self.name.clone().unwrap_or_else(|| label(&inner));
        let mut targets = vec![(first, inner.config()?)];
        for other in &self.compare {
            let (name, other) = split_name(other);
            let mut next = inner.clone();
            if other.contains("://") {
                next.target = other.to_string();
                next.addr = None;
            } else if inner.addr.is_some() {
                next.addr = Some(other.to_string());
            } else {
                return Err(format!(
                    "--compare '{other}': give a URL to compare with a URL"
                ));
            }
            let name = name.map_or_else(|| label(&next), str::to_string);
            targets.push((name, next.config()?));
        }
        Ok(targets)
    }

    /// The plan of `load sweep`.
    pub fn sweep_plan(&self) -> Result<load::sweep::SweepPlan, String> {
        use load::sweep::{Growth, SweepPlan};
        let slo = self
            .slo
            .ok_or("load sweep needs an objective: --slo DURATION, e.g. --slo 5ms")?;
        let growth = match (self.factor, self.step) {
            (Some(f), _) => Growth::Times(f),
            (None, step) => Growth::Add(step.unwrap_or(self.start)),
        };
        let stop = self.stop.unwrap_or(match growth {
            Growth::Add(step) => self.start + 49.0 * step,
            Growth::Times(_) => self.start * 100.0,
        });
        if !(self.slo_percentile > 0.0 && self.slo_percentile <= 100.0) {
            return Err("--slo-percentile must be above 0 and at most 100".into());
        }
        let plan = SweepPlan {
            start: self.start,
            growth,
            stop,
            warmup: self.warmup,
            measure: self.measure,
            percentile: self.slo_percentile,
            slo,
            max_error_rate: self.max_error_rate.unwrap_or(0.01),
        };
        plan.validate()?;
        Ok(plan)
    }

    /// `message` as clap reports a bad value: `error: …`, the usage line, and exit status 2
    /// from [`clap::Error::exit`]. For what only makes sense with the whole command line
    /// (a flag the target does not take, `-c` past `ulimit -n`).
    pub fn usage_error(message: impl std::fmt::Display) -> clap::Error {
        use clap::CommandFactory;
        let mut cli = Cli::command();
        cli.build();
        match cli.find_subcommand_mut("load") {
            Some(load) => load.error(clap::error::ErrorKind::ValueValidation, message),
            None => cli.error(clap::error::ErrorKind::ValueValidation, message),
        }
    }

    /// The run these arguments describe.
    pub fn config(&self) -> Result<LoadConfig, String> {
        if let Some(extra) = self.more.first() {
            return Err(format!(
                "unexpected '{extra}': only `merge` takes several files"
            ));
        }
        let (protocol, hostport) = if self.target.contains("://") {
            if let Some(extra) = &self.addr {
                return Err(format!("unexpected '{extra}' after the URL"));
            }
            let url = load::http::parse_url(&self.target)?;
            if self.tls && !url.tls {
                return Err(format!(
                    "--tls with '{}': write the URL as https://",
                    self.target
                ));
            }
            let body = match &self.body {
                Some(file) => Some(
                    std::fs::read(file).map_err(|e| format!("--body {}: {e}", file.display()))?,
                ),
                None => None,
            };
            let request = HttpRequest {
                method: self.method.clone(),
                path: url.path,
                host: url.authority,
                keep_alive: self.keep_alive && !self.no_keep_alive,
                headers: self.headers.clone(),
                body,
            };
            let protocol = match self.http2 {
                true => Protocol::Http2 {
                    request,
                    https: url.tls,
                },
                false => Protocol::Http(request),
            };
            (protocol, url.connect)
        } else {
            if self.http2 {
                return Err(format!(
                    "--http2 is for http:// and https:// URLs, not '{}'",
                    self.target
                ));
            }
            let protocol = match self.target.as_str() {
                "echo" => Protocol::Echo,
                "udp" => Protocol::Udp,
                "framed" => Protocol::Framed(match self.framing {
                    FramingArg::Length => Framing::Length,
                    FramingArg::Line => Framing::Line(self.delimiter),
                }),
                "ws" => Protocol::Ws {
                    host: self.addr.clone().unwrap_or_default(),
                },
                other => {
                    return Err(format!(
                        "unknown target '{other}': use http://HOST:PORT/PATH, \
                         https://HOST:PORT/PATH, or echo, udp, framed or ws followed by HOST:PORT"
                    ));
                }
            };
            let hostport = self
                .addr
                .clone()
                .ok_or("give HOST:PORT after the protocol")?;
            if self.no_keep_alive || !self.keep_alive {
                return Err(format!(
                    "--no-keep-alive (--new-connection-per-request) is for HTTP: {} keeps \
                     its connections",
                    self.target
                ));
            }
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
        let https = self.target.starts_with("https://");
        let tls = if https || self.tls {
            let options = TlsOptions {
                trust: trust(self.cacert.as_ref(), self.insecure),
                server_name: load::tls::host_of(&hostport).to_string(),
                // A WebSocket upgrade is an HTTP/1.1 request.
                alpn: if https && self.http2 {
                    vec![b"h2".to_vec()]
                } else if https || self.target == "ws" {
                    vec![b"http/1.1".to_vec()]
                } else {
                    Vec::new()
                },
                resume: !self.no_tls_resume,
            };
            Some(TlsClient::new(&options)?)
        } else {
            if self.cacert.is_some() || self.insecure || self.no_tls_resume {
                return Err(
                    "--cacert, --insecure and --no-tls-resume apply to TLS: use an https:// \
                     URL, or --tls"
                        .into(),
                );
            }
            None
        };
        // HTTP/2's streams are its pipeline: the requests in flight on one connection.
        let pipeline = match (self.http2, self.streams) {
            (false, Some(_)) => return Err("--streams is for --http2".into()),
            (true, _) if self.pipeline != 1 => {
                return Err("--pipeline is HTTP/1.1's: with --http2, use --streams".into());
            }
            (true, streams) => streams.unwrap_or(1),
            (false, None) => self.pipeline,
        };
        let config = LoadConfig {
            tls,
            connections: self.connections,
            threads: usize::from(self.threads),
            pipeline,
            size: self.size.0,
            duration: self.duration.unwrap_or(match self.requests {
                Some(_) => load::COUNTED_RUN_LIMIT,
                None => load::DEFAULT_DURATION,
            }),
            requests: self.requests,
            rate: self.rate,
            timeout: self.timeout.0,
            error_status: self.error_status,
            progress: std::io::stderr().is_terminal(),
            ..LoadConfig::new(addr, protocol)
        };
        config.validate()?;
        config.check_open_files()?;
        Ok(config)
    }
}

/// `NAME=TARGET` as its name and target; a target alone (whose text before any `=` holds
/// a `:` or `/`, as a URL's query or HOST:PORT does) has no name.
fn split_name(target: &str) -> (Option<&str>, &str) {
    match target.split_once('=') {
        Some((name, rest)) if !name.is_empty() && !name.contains([':', '/']) => (Some(name), rest),
        _ => (None, target),
    }
}

/// Which certificates `--cacert` and `--insecure` say to trust.
fn trust(cacert: Option<&PathBuf>, insecure: bool) -> Trust {
    match (cacert, insecure) {
        (Some(file), _) => Trust::CaFile(file.clone()),
        (None, true) => Trust::Insecure,
        (None, false) => Trust::Nothing,
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
    #[arg(long, value_name = "BYTES", default_value_t = Size(crate::send::DEFAULT_CHUNK))]
    pub chunk: Size,
    /// Limit for connecting and for each read or write.
    #[arg(long, value_name = "DURATION",
          default_value_t = Span(crate::send::SendOptions::default().timeout))]
    pub timeout: Span,
    /// Present the token in FILE first, as a server started with --files-token requires
    /// (at least 16 bytes, mode 600).
    #[arg(long, value_name = "FILE", value_parser = evserve::secret::parse_secret_file)]
    pub token_file: Option<evserve::secret::Secret>,
    /// Speak TLS (to the server's --tls-files address).
    #[arg(long, help_heading = "TLS")]
    pub tls: bool,
    /// Trust the server certificates issued by (or equal to) the certificates in this PEM
    /// file; no system roots are loaded.
    #[arg(long, value_name = "FILE", requires = "tls", help_heading = "TLS")]
    pub cacert: Option<PathBuf>,
    /// Accept any server certificate, unchecked (warned on stderr): for test servers only.
    #[arg(
        short = 'k',
        long,
        requires = "tls",
        conflicts_with = "cacert",
        help_heading = "TLS"
    )]
    pub insecure: bool,
}

impl SendArgs {
    /// The TLS client `--tls` asks for, if it does.
    pub fn tls(&self) -> Result<Option<TlsClient>, String> {
        if !self.tls {
            return Ok(None);
        }
        let options = TlsOptions {
            trust: trust(self.cacert.as_ref(), self.insecure),
            server_name: load::tls::host_of(&self.to).to_string(),
            alpn: Vec::new(),
            resume: true,
        };
        TlsClient::new(&options).map(Some)
    }
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
    /// Sign every beacon with the shared key in FILE (at least 16 bytes, mode 600), as
    /// `discover --beacon-key` requires.
    #[arg(long, value_name = "FILE", value_parser = evserve::secret::parse_secret_file)]
    pub beacon_key: Option<evserve::secret::Secret>,
}

/// `evserve discover`.
#[derive(Debug, Args)]
pub struct DiscoverArgs {
    /// The address to listen on for beacons.
    #[arg(long, value_name = "ADDR", default_value = "0.0.0.0:7099")]
    pub listen: SocketAddr,
    /// How long to listen, with a unit (e.g. 1500ms, 5s); Ctrl-C stops early and still prints.
    #[arg(long = "for", value_name = "DURATION", default_value = "5s", value_parser = parse_duration)]
    pub duration: Duration,
    /// Print JSON instead of a table (same as --format json).
    #[arg(long, conflicts_with = "format")]
    pub json: bool,
    /// Output: a table, JSON, or HAProxy `server` lines for the --service.
    #[arg(long, value_enum, default_value_t = discovery::Format::Table)]
    pub format: discovery::Format,
    /// Expiry and the service `--format haproxy` lists.
    #[command(flatten)]
    pub options: cluster_args::DiscoverOptions,
}

/// `evserve serve`: the dashboard and the WebSocket endpoints of the HTTP service.
#[derive(Debug, Args)]
#[command(next_help_heading = BROWSER)]
pub struct BrowserArgs {
    /// Serve /dashboard, /events (Server-Sent Events), /ws/chat and /ws/echo on --http
    /// (true/false).
    #[arg(long, value_name = "BOOL", default_value_t = true, action = ArgAction::Set)]
    pub dashboard: bool,
    /// Same as --dashboard false.
    #[arg(long)]
    pub no_dashboard: bool,
    /// An origin (e.g. `http://app.example:3000`) whose pages may open WebSockets here, besides
    /// the server's own; `*` allows any. Repeatable.
    #[arg(long, value_name = "ORIGIN")]
    pub ws_allow_origin: Vec<String>,
    /// Largest WebSocket message, fragments joined; larger closes with 1009.
    #[arg(long, value_name = "BYTES", default_value = "1MiB", value_parser = parse_size)]
    pub ws_max_message: usize,
    /// A WebSocket peer silent this long is pinged, and dropped after as long again.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = parse_duration)]
    pub ws_ping_interval: Duration,
    /// A WebSocket message (all its fragments) must arrive within this long of its first
    /// byte, whatever pings and pongs say; a late one closes with 1008.
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = parse_duration)]
    pub ws_message_timeout: Duration,
}

impl BrowserArgs {
    /// The HTTP service's browser settings these flags describe.
    pub fn config(&self) -> evserve::protocol::http::dashboard::BrowserConfig {
        evserve::protocol::http::dashboard::BrowserConfig {
            dashboard: self.dashboard && !self.no_dashboard,
            ws_allow_origin: self.ws_allow_origin.clone(),
            ws: evserve::protocol::ws::WsConfig {
                max_message: self.ws_max_message,
                ping_interval: self.ws_ping_interval,
                message_timeout: self.ws_message_timeout,
                ..Default::default()
            },
        }
    }
}

/// `evserve serve`.
///
/// One struct, its flags grouped in `--help` by `help_heading`. Every default is taken from
/// the library (`Limits::default()`, `HttpConfig::default()`, ...), never written here again,
/// so the help, the configuration and the docs cannot disagree.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Serve TCP echo (RFC 862) on ADDR. Repeatable.
    #[arg(long, value_name = "ADDR", value_parser = parse_listen, help_heading = SERVICES)]
    pub echo: Vec<SocketAddr>,
    /// Serve UDP echo on ADDR: each datagram goes back to its sender. Repeatable.
    #[arg(long = "udp-echo", value_name = "ADDR", value_parser = parse_listen,
          help_heading = SERVICES)]
    pub udp_echo: Vec<SocketAddr>,
    /// Serve framed echo on ADDR: each frame comes back as one frame. Repeatable.
    #[arg(long, value_name = "ADDR", value_parser = parse_listen, help_heading = SERVICES)]
    pub framed: Vec<SocketAddr>,
    /// Serve a line chat room on ADDR: each line goes to every other client. Repeatable.
    #[arg(long, value_name = "ADDR", value_parser = parse_listen, help_heading = SERVICES)]
    pub chat: Vec<SocketAddr>,
    /// Receive files (see `evserve send`) on ADDR, stored in --files-dir. Repeatable.
    #[arg(long, value_name = "ADDR", value_parser = parse_listen, requires = "files_dir",
          help_heading = SERVICES)]
    pub files: Vec<SocketAddr>,
    /// Serve HTTP/1.1 on ADDR (static files from --root, /plain, /echo, /stats). Repeatable.
    #[arg(long, value_name = "ADDR", value_parser = parse_listen, help_heading = SERVICES)]
    pub http: Vec<SocketAddr>,
    /// Independent single-threaded reactors sharing the ports through SO_REUSEPORT.
    #[arg(short = 'w', long, value_name = "N", default_value_t = 1,
          value_parser = clap::value_parser!(u16).range(1..=256), help_heading = SERVICES)]
    pub workers: u16,

    /// Framing for --framed: a 4-byte big-endian length per frame, or a delimiter at the end.
    #[arg(long, value_enum, default_value_t = FramingArg::Length, help_heading = FRAMING)]
    pub framing: FramingArg,
    /// Largest frame accepted [default: 16MiB for length framing, 64KiB for line framing].
    #[arg(long, value_name = "BYTES", help_heading = FRAMING)]
    pub max_frame: Option<Size>,
    /// The delimiter byte ending each frame in line framing: a character or 0xNN.
    #[arg(long, value_name = "BYTE", default_value = "\\n", value_parser = parse_byte,
          help_heading = FRAMING)]
    pub delimiter: u8,
    /// Largest chat line accepted.
    #[arg(long, value_name = "BYTES", default_value_t = Size(DEFAULT_CHAT_LINE),
          help_heading = FRAMING)]
    pub max_line: Size,
    /// Name chat members (--chat and the dashboard's /ws/chat) by their addresses, as
    /// `* 127.0.0.1:5555 joined`; by default they are `guest-N`, since anyone may join and
    /// learn where the others (the operator's dashboard too) connect from.
    #[arg(long, help_heading = FRAMING)]
    pub chat_show_addresses: bool,
    /// Where received files are stored; created (with its parents) if missing.
    #[arg(long, value_name = "DIR", help_heading = FRAMING)]
    pub files_dir: Option<PathBuf>,
    /// Let a received file replace an existing one of the same name.
    #[arg(long, help_heading = FRAMING)]
    pub overwrite: bool,
    /// Largest file accepted; larger ones are refused before any data is stored.
    #[arg(long, value_name = "BYTES", default_value_t = Size(files::DEFAULT_MAX_FILE_SIZE as usize),
          help_heading = FRAMING)]
    pub max_file_size: Size,
    /// Accept files only from clients presenting the token in FILE (at least 16 bytes,
    /// mode 600; clients: evserve send --token-file FILE).
    #[arg(long, value_name = "FILE", value_parser = evserve::secret::parse_secret_file,
          help_heading = FRAMING)]
    pub files_token: Option<evserve::secret::Secret>,
    /// Most bytes the files directory may hold, counted at start and as files arrive; a file
    /// that would pass it is refused before any data is received [default: no limit].
    #[arg(long, value_name = "BYTES", help_heading = FRAMING)]
    pub files_quota: Option<Size>,

    /// The directory HTTP serves files from; PUT /files/NAME stores into ROOT/files.
    #[arg(short = 'r', long, value_name = "DIR", default_value_os_t = HttpConfig::default().root,
          help_heading = HTTP)]
    pub root: PathBuf,
    /// Allow PUT and DELETE under /files/, for the users of --auth-file (or EVSERVE_AUTH,
    /// --auth); refused without credentials unless --writable-without-auth.
    #[arg(long, help_heading = HTTP)]
    pub writable: bool,
    /// Let --writable run with no credentials: anyone who reaches the port may PUT and
    /// DELETE under /files/.
    #[arg(long, requires = "writable", help_heading = SECURITY)]
    pub writable_without_auth: bool,
    /// Answer a directory without index.html with a listing of its files (off: 403).
    #[arg(long, help_heading = HTTP)]
    pub listings: bool,
    /// Clients in NET (e.g. 10.0.0.0/8, 192.168.1.7, ::1) may see /stats, /metrics,
    /// /connections, /events, /dashboard and use /ws/*; others get 403. Repeatable;
    /// `any` allows every address [default: loopback only, 127.0.0.0/8 and ::1].
    #[arg(long, value_name = "NET", value_parser = parse_stats_net, help_heading = SECURITY)]
    pub stats_allow: Vec<ipnet::IpNet>,
    /// A host name this server answers for (e.g. example.com), besides localhost and IP
    /// addresses. /stats, /metrics, /connections, /dashboard, /events and /ws/* answer any
    /// other Host with 421, so a DNS-rebinding page cannot reach them. Repeatable.
    #[arg(long, value_name = "NAME", value_parser = parse_server_name, help_heading = SECURITY)]
    pub server_name: Vec<String>,
    /// Answer every route, not only the status pages and WebSockets, with 421 for a Host
    /// other than --server-name, localhost or an IP address.
    #[arg(long, help_heading = SECURITY)]
    pub strict_host: bool,
    /// Require HTTP Basic credentials USER:PASS for PUT, DELETE and GET /connections. Every
    /// local user can read them in `ps`: prefer --auth-file, or EVSERVE_AUTH=USER:PASS in the
    /// environment (read when neither flag is given).
    #[arg(long, value_name = "USER:PASS", value_parser = parse_credentials, help_heading = SECURITY)]
    pub auth: Option<(String, String)>,
    /// Require HTTP Basic credentials listed in FILE, an htpasswd file of bcrypt hashes
    /// (`htpasswd -B -c FILE USER`), for PUT, DELETE and GET /connections.
    #[arg(long, value_name = "FILE", conflicts_with = "auth", help_heading = SECURITY)]
    pub auth_file: Option<PathBuf>,
    /// Wrong credentials one address may send per minute; past that it gets 429 with
    /// Retry-After until the minute is over.
    #[arg(long, value_name = "N", default_value_t = auth::DEFAULT_MAX_FAILURES, help_heading = SECURITY)]
    pub auth_max_failures: u32,
    /// The users of --auth-file, --auth or EVSERVE_AUTH, loaded once by `prepare`.
    #[arg(skip)]
    users: OnceLock<Option<Arc<Users>>>,
    /// Answer TRACE by echoing the request (off: 405).
    #[arg(long, help_heading = HTTP)]
    pub allow_trace: bool,
    /// On HTTPS listeners, send `Strict-Transport-Security: max-age=<--hsts-max-age>` with
    /// every answer, so browsers use HTTPS only for this host from then on. Never sent on
    /// plain HTTP.
    #[arg(long, help_heading = HTTP)]
    pub hsts: bool,
    /// The max-age of --hsts, in seconds (31536000 is a year, as the HSTS preload list asks).
    #[arg(long, value_name = "SECONDS", default_value_t = DEFAULT_HSTS_MAX_AGE, requires = "hsts",
          help_heading = HTTP)]
    pub hsts_max_age: u64,
    /// Memory for small static files (<= 64 KiB each), revalidated at most a second after
    /// being read; 0 disables.
    #[arg(long, value_name = "BYTES", default_value_t = Size(HttpConfig::default().file_cache),
          help_heading = HTTP)]
    pub file_cache: Size,
    /// Send larger static files with sendfile(2) on plain HTTP listeners: the kernel copies
    /// them from the page cache, the server holds none of their bytes (HTTPS always copies).
    #[arg(long, value_name = "BOOL", default_value_t = HttpConfig::default().sendfile,
          action = ArgAction::Set, help_heading = HTTP)]
    pub sendfile: bool,
    /// Largest HTTP request head (request line and headers); more is answered with 431.
    #[arg(long, value_name = "BYTES",
          default_value_t = Size(HttpConfig::default().max_header_bytes), help_heading = HTTP)]
    pub max_header_bytes: Size,
    /// Longest request URI; longer is answered with 414.
    #[arg(long, value_name = "BYTES", default_value_t = Size(HttpConfig::default().max_uri),
          help_heading = HTTP)]
    pub max_uri: Size,
    /// Most request headers (1 to 128); more is answered with 431.
    #[arg(long, value_name = "N", default_value_t = HttpConfig::default().max_headers,
          help_heading = HTTP)]
    pub max_headers: usize,
    /// Largest request body; more is answered with 413.
    #[arg(long, value_name = "BYTES",
          default_value_t = Size(HttpConfig::default().max_body as usize), help_heading = HTTP)]
    pub max_body: Size,
    /// Serve HTTP/1.1 only: no h2c by prior knowledge on HTTP listeners, no `h2` by ALPN on
    /// HTTPS listeners.
    #[arg(long, help_heading = HTTP2)]
    pub no_http2: bool,
    /// HTTP/2 streams a client may have open at once (SETTINGS_MAX_CONCURRENT_STREAMS); more
    /// are refused with REFUSED_STREAM.
    #[arg(long, value_name = "N",
          default_value_t = Http2Config::default().max_concurrent_streams, help_heading = HTTP2)]
    pub http2_max_streams: u32,
    /// HTTP/2 stream window (SETTINGS_INITIAL_WINDOW_SIZE): request-body bytes a client may
    /// send on a stream before the server grants more, at most 2 GiB - 1.
    #[arg(long, value_name = "BYTES",
          default_value_t = Size(Http2Config::default().initial_window_size as usize),
          help_heading = HTTP2)]
    pub http2_window: Size,
    /// Largest HTTP/2 frame payload accepted (SETTINGS_MAX_FRAME_SIZE, 16 KiB to 16 MiB - 1).
    #[arg(long, value_name = "BYTES",
          default_value_t = Size(Http2Config::default().max_frame_size as usize),
          help_heading = HTTP2)]
    pub http2_max_frame: Size,
    /// Largest decoded HTTP/2 request head (SETTINGS_MAX_HEADER_LIST_SIZE); larger is
    /// answered with 431, one twice as large closes the connection (COMPRESSION_ERROR).
    #[arg(long, value_name = "BYTES",
          default_value_t = Size(Http2Config::default().max_header_list_size as usize),
          help_heading = HTTP2)]
    pub http2_max_header_list: Size,
    /// HTTP/2 streams a client may reset, or make the server reset, within 10 s before its
    /// connection is closed with ENHANCE_YOUR_CALM (Rapid Reset, MadeYouReset).
    #[arg(long, value_name = "N", default_value_t = Http2Config::default().max_resets,
          help_heading = HTTP2)]
    pub http2_max_resets: u32,
    /// Answer bytes one HTTP/2 connection may hold for a client that does not open its
    /// flow-control windows; past it, new streams are refused (REFUSED_STREAM) and request
    /// bodies get no more window until the client reads.
    #[arg(long, value_name = "BYTES",
          default_value_t = Size(Http2Config::default().max_held),
          help_heading = HTTP2)]
    pub http2_max_held: Size,
    /// The dashboard and WebSocket flags.
    #[command(flatten)]
    pub browser: BrowserArgs,

    /// Open TCP connections allowed; more are accepted and closed at once.
    #[arg(long, value_name = "N", default_value_t = Limits::default().max_connections,
          help_heading = LIMITS)]
    pub max_connections: usize,
    /// Output a connection may have pending before the server stops reading from it.
    #[arg(long, value_name = "BYTES", default_value_t = Size(Limits::default().max_output),
          help_heading = LIMITS)]
    pub max_output: Size,
    /// Output and partial input all connections may hold together (split evenly between
    /// --workers); past it, connections holding bytes are not read until it drains.
    #[arg(long, value_name = "BYTES", default_value_t = Size(Limits::default().max_memory),
          help_heading = LIMITS)]
    pub max_memory: Size,
    /// Largest UDP datagram received whole; larger ones are dropped and counted.
    #[arg(long, value_name = "BYTES", default_value_t = Size(Limits::default().max_datagram),
          help_heading = LIMITS)]
    pub max_datagram: Size,
    /// UDP replies queued while a socket cannot send; beyond it replies are dropped.
    #[arg(long, value_name = "N", default_value_t = Limits::default().udp_queue,
          help_heading = LIMITS)]
    pub udp_queue: usize,

    /// Close a connection idle (nothing read or written) this long.
    #[arg(long, value_name = "DURATION", default_value_t = Span(Limits::default().idle_timeout),
          help_heading = TIMEOUTS)]
    pub idle_timeout: Span,
    /// Time an HTTP request head may take to arrive once started (slowloris); then 408.
    #[arg(long, value_name = "DURATION",
          default_value_t = Span(HttpConfig::default().header_timeout), help_heading = TIMEOUTS)]
    pub header_timeout: Span,
    /// On SIGINT/SIGTERM, how long pending output may take to drain before closing all.
    #[arg(long, value_name = "DURATION", default_value_t = Span(Limits::default().drain_timeout),
          help_heading = TIMEOUTS)]
    pub drain_timeout: Span,
    /// After a final answer, how long to keep reading and discarding before closing.
    #[arg(long, value_name = "DURATION",
          default_value_t = Span(Limits::default().linger_timeout), help_heading = TIMEOUTS)]
    pub linger_timeout: Span,
    /// Bytes a second a connection must move while mid-message or owing output, counted over
    /// each --rate-window; slower ones are closed (0: no minimum).
    #[arg(long, value_name = "BYTES", default_value_t = Limits::default().min_rate,
          help_heading = TIMEOUTS)]
    pub min_rate: u64,
    /// The period over which --min-rate is measured.
    #[arg(long, value_name = "DURATION", default_value_t = Span(Limits::default().rate_window),
          help_heading = TIMEOUTS)]
    pub rate_window: Span,

    /// SO_REUSEADDR on listeners, so a restart does not fail on TIME_WAIT.
    #[arg(long, value_name = "BOOL", num_args = 0..=1, default_missing_value = "true",
          default_value_t = SocketOptions::default().reuse_address, action = ArgAction::Set,
          overrides_with = "no_reuse_address", help_heading = SOCKETS)]
    pub reuse_address: bool,
    /// Turn SO_REUSEADDR off.
    #[arg(long, overrides_with = "reuse_address", help_heading = SOCKETS)]
    pub no_reuse_address: bool,
    /// SO_REUSEPORT on listeners, so several processes or workers can share a port.
    #[arg(long, help_heading = SOCKETS)]
    pub reuse_port: bool,
    /// TCP_NODELAY on connections: small replies leave at once.
    #[arg(long, value_name = "BOOL", num_args = 0..=1, default_missing_value = "true",
          default_value_t = SocketOptions::default().nodelay, action = ArgAction::Set,
          overrides_with = "no_tcp_nodelay", help_heading = SOCKETS)]
    pub tcp_nodelay: bool,
    /// Turn TCP_NODELAY off (Nagle's algorithm batches small writes).
    #[arg(long, overrides_with = "tcp_nodelay", help_heading = SOCKETS)]
    pub no_tcp_nodelay: bool,
    /// SO_RCVBUF for every socket [default: the kernel's] (it may round or double it).
    #[arg(long, value_name = "BYTES", help_heading = SOCKETS)]
    pub recv_buffer: Option<Size>,
    /// SO_SNDBUF for every socket [default: the kernel's].
    #[arg(long, value_name = "BYTES", help_heading = SOCKETS)]
    pub send_buffer: Option<Size>,
    /// TCP_NOTSENT_LOWAT for TCP connections: unsent bytes the kernel holds per connection
    /// [default: the kernel's, unlimited]. 256KiB makes clients that stop reading a download
    /// far cheaper (docs/fairness.md).
    #[arg(long, value_name = "BYTES", help_heading = SOCKETS)]
    pub notsent_lowat: Option<Size>,
    /// Listen backlog: connections the kernel queues before they are accepted.
    #[arg(long, value_name = "N", default_value_t = SocketOptions::default().backlog,
          help_heading = SOCKETS)]
    pub backlog: i32,

    /// Broadcast discovery beacons to ADDR (e.g. 192.168.1.255:7099 or 127.255.255.255:7099).
    #[arg(long, value_name = "ADDR", help_heading = DISCOVERY)]
    pub announce: Option<SocketAddr>,
    /// The server's name in its beacons [default: the host name].
    #[arg(long, help_heading = DISCOVERY)]
    pub name: Option<String>,
    /// Time between beacons, with random jitter; at least 1s.
    #[arg(long, value_name = "DURATION", default_value_t = Span(discovery::DEFAULT_INTERVAL),
          help_heading = DISCOVERY)]
    pub announce_interval: Span,
    /// Sign every beacon with the shared key in FILE (at least 16 bytes, mode 600), so that
    /// `discover --beacon-key FILE` believes them; make one with `openssl rand -hex 32`.
    #[arg(long, value_name = "FILE", requires = "announce", help_heading = DISCOVERY,
          value_parser = evserve::secret::parse_secret_file)]
    pub beacon_key: Option<evserve::secret::Secret>,

    /// One log line per HTTP request at info level (log levels: RUST_LOG=debug|info|warn).
    #[arg(long, value_name = "BOOL", num_args = 0..=1, default_missing_value = "true",
          default_value_t = HttpConfig::default().access_log, action = ArgAction::Set,
          overrides_with = "no_access_log", help_heading = LOGGING)]
    pub access_log: bool,
    /// No access log.
    #[arg(long, overrides_with = "access_log", help_heading = LOGGING)]
    pub no_access_log: bool,

    /// Read settings from FILE (TOML: each flag's long name = its value; see
    /// deploy/evserve.toml). Flags on the command line override the file's.
    #[arg(long, value_name = "FILE", help_heading = DEPLOYMENT)]
    pub config: Option<PathBuf>,
    /// Load-balancer flags: --drain-delay, --proxy-protocol, --proxy-from.
    #[command(flatten)]
    pub cluster: cluster_args::ClusterArgs,

    /// TLS listeners and their certificates.
    #[command(flatten)]
    pub tls: tls_args::TlsArgs,
}

/// `--hsts-max-age` when not given: a year, as the HSTS preload list asks.
const DEFAULT_HSTS_MAX_AGE: u64 = 31_536_000;

/// `--stats-allow any`: every IPv4 and every IPv6 address.
const ANY_V4: ipnet::IpNet = ipnet::IpNet::V4(ipnet::Ipv4Net::new_assert(
    std::net::Ipv4Addr::UNSPECIFIED,
    0,
));
const ANY_V6: ipnet::IpNet = ipnet::IpNet::V6(ipnet::Ipv6Net::new_assert(
    std::net::Ipv6Addr::UNSPECIFIED,
    0,
));

/// A `--stats-allow` value: a network, an address, or `any`.
fn parse_stats_net(s: &str) -> Result<ipnet::IpNet, String> {
    if s.trim().eq_ignore_ascii_case("any") {
        return Ok(ANY_V6);
    }
    parse_net(s)
}

/// `serve --help` headings.
const SERVICES: &str =
    "Services (none given: echo on 127.0.0.1:7007 tcp+udp, framed on :7008, HTTP on :8080)";
const FRAMING: &str = "Framed, chat and files";
const HTTP: &str = "HTTP";
const HTTP2: &str = "HTTP/2";
const SECURITY: &str = "Security (status pages, credentials, Host names)";
const BROWSER: &str = "Browser (dashboard and WebSockets, on HTTP listeners)";
const LIMITS: &str = "Limits";
const TIMEOUTS: &str = "Timeouts (DURATION: 500ms, 10s, 2m, 1h; a bare number is seconds)";
const SOCKETS: &str = "Socket options";
const DISCOVERY: &str = "Discovery";
const LOGGING: &str = "Logging";

impl ServeArgs {
    /// Whether no service flag was given, so the default services run.
    pub fn uses_default_services(&self) -> bool {
        [
            self.echo.is_empty(),
            self.udp_echo.is_empty(),
            self.framed.is_empty(),
            self.chat.is_empty(),
            self.files.is_empty(),
            self.http.is_empty(),
        ]
        .iter()
        .all(|&empty| empty)
    }

    /// Checks, before anything is bound, that the flags can work: refuses what cannot
    /// (naming the flag and the allowed range), creates a missing `--files-dir`, and returns
    /// a warning for each value that will be adjusted. Call it once, at start.
    pub fn prepare(&self) -> Result<Vec<String>, String> {
        let mut warnings = Vec::new();
        let at_least_one = [
            ("--max-connections", self.max_connections),
            ("--max-output", self.max_output.0),
            ("--max-memory", self.max_memory.0),
            ("--max-datagram", self.max_datagram.0),
            ("--max-line", self.max_line.0),
            ("--max-header-bytes", self.max_header_bytes.0),
            ("--max-uri", self.max_uri.0),
            ("--max-headers", self.max_headers),
            ("--backlog", usize::try_from(self.backlog).unwrap_or(0)),
        ];
        for (flag, value) in at_least_one {
            if value == 0 {
                return Err(format!("{flag} must be at least 1"));
            }
        }
        if self.auth_max_failures == 0 {
            return Err("--auth-max-failures must be at least 1".into());
        }
        let users = self.auth_users()?;
        if self.writable && users.is_none() && !self.writable_without_auth {
            return Err(
                "--writable without credentials would let anyone who reaches the port PUT and \
                 DELETE under /files/; add --auth-file FILE (htpasswd -B -c FILE USER) or set \
                 EVSERVE_AUTH=USER:PASS, or add --writable-without-auth if that is what you want"
                    .into(),
            );
        }
        if self.auth.is_some() {
            warnings.push(
                "--auth puts the password on the command line, where every local user can read \
                 it (ps, /proc/PID/cmdline); use --auth-file FILE (htpasswd -B) or \
                 EVSERVE_AUTH=USER:PASS instead"
                    .into(),
            );
        }
        if let Some(Size(0)) = self.max_frame {
            return Err("--max-frame must be at least 1 byte".into());
        }
        for (flag, span, default) in [
            (
                "--idle-timeout",
                self.idle_timeout,
                Limits::default().idle_timeout,
            ),
            (
                "--header-timeout",
                self.header_timeout,
                HttpConfig::default().header_timeout,
            ),
        ] {
            if span.0.is_zero() {
                return Err(format!(
                    "{flag} 0 would close every connection at once; give a duration from 1ms \
                     up, e.g. {flag} {}",
                    Span(default)
                ));
            }
        }
        if self.max_headers > HEADER_SLOTS {
            warnings.push(format!(
                "--max-headers {} is above the most evserve can parse; using {HEADER_SLOTS}",
                self.max_headers
            ));
        }
        if self.announce.is_some() && self.announce_interval.0 < discovery::MIN_INTERVAL {
            warnings.push(format!(
                "--announce-interval {} is below the floor that protects the network; \
                 using {}",
                self.announce_interval,
                Span(discovery::MIN_INTERVAL)
            ));
        }
        self.cluster.check()?;
        let serves_http = !self.http.is_empty() || self.uses_default_services();
        if serves_http {
            match std::fs::metadata(&self.root) {
                Ok(meta) if meta.is_dir() => {}
                Ok(_) => {
                    return Err(format!(
                        "--root {} is not a directory; give the directory to serve files \
                         from, e.g. --root .",
                        self.root.display()
                    ));
                }
                Err(e) => {
                    return Err(format!(
                        "--root {}: {e}; give the directory to serve files from, e.g. --root .",
                        self.root.display()
                    ));
                }
            }
        }
        if let Some(dir) = self.files_dir.as_ref().filter(|_| !self.files.is_empty()) {
            match std::fs::metadata(dir) {
                Ok(meta) if meta.is_dir() => {}
                Ok(_) => {
                    return Err(format!("--files-dir {} is not a directory", dir.display()));
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    std::fs::create_dir_all(dir)
                        .map_err(|e| format!("cannot create --files-dir {}: {e}", dir.display()))?;
                    log::info!("created --files-dir {}", dir.display());
                }
                Err(e) => return Err(format!("--files-dir {}: {e}", dir.display())),
            }
        }
        Ok(warnings)
    }

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
                .map(|a| ServiceSpec::Chat(*a, self.max_line.0)),
        );
        // One quota for the whole server: every worker's (and TLS listener's) copy shares it.
        let quota = self.files_quota.map(|q| files::Quota::new(q.0 as u64));
        let files = self.files_dir.as_ref().map(|dir| {
            let config = FilesConfig {
                overwrite: self.overwrite,
                max_file_size: self.max_file_size.0 as u64,
                quota: quota.clone(),
                ..FilesConfig::new(dir.clone())
            };
            match &self.files_token {
                Some(token) => config.with_token(token.bytes()),
                None => config,
            }
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
        // HSTS on HTTPS listeners only: plain ones keep `http` as it is.
        let https = HttpConfig {
            hsts_max_age: self.hsts.then_some(self.hsts_max_age),
            ..(*http).clone()
        };
        services.extend(
            self.tls
                .services(&https, framed, self.max_line.0, files.as_ref()),
        );
        if services.is_empty() {
            services = vec![
                ServiceSpec::Echo(DEFAULT_ECHO),
                ServiceSpec::UdpEcho(DEFAULT_ECHO),
                ServiceSpec::Framed(DEFAULT_FRAMED, framed),
                ServiceSpec::Http(DEFAULT_HTTP, http),
            ];
        }
        let max_output = self.max_output.0.max(1);
        let mut config = ServerConfig {
            services,
            limits: Limits {
                max_connections: self.max_connections,
                max_output,
                low_water: max_output / 4,
                max_memory: self.max_memory.0,
                idle_timeout: self.idle_timeout.0,
                drain_timeout: self.drain_timeout.0,
                linger_timeout: self.linger_timeout.0,
                min_rate: self.min_rate,
                rate_window: self.rate_window.0,
                max_datagram: self.max_datagram.0,
                udp_queue: self.udp_queue,
                ..Limits::default()
            },
            socket_options: SocketOptions {
                reuse_address: self.reuse_address && !self.no_reuse_address,
                reuse_port: self.reuse_port,
                nodelay: self.tcp_nodelay && !self.no_tcp_nodelay,
                recv_buffer: self.recv_buffer.map(|s| s.0),
                send_buffer: self.send_buffer.map(|s| s.0),
                notsent_lowat: self
                    .notsent_lowat
                    .map(|s| u32::try_from(s.0).unwrap_or(u32::MAX)),
                backlog: self.backlog,
            },
            announce: self.announce.map(|to| Announce {
                to,
                name: self.name.clone().unwrap_or_else(host_name),
                interval: self.announce_interval.0,
                key: self.beacon_key.clone(),
            }),
            workers: usize::from(self.workers),
            chat_show_addresses: self.chat_show_addresses,
            ..ServerConfig::default()
        };
        self.cluster.apply(&mut config);
        config
    }
}

impl ServeArgs {
    /// The users whose credentials HTTP writes require: from --auth-file, else --auth, else
    /// the environment's `EVSERVE_AUTH`; `None` when none is given. Loaded once.
    fn auth_users(&self) -> Result<Option<Arc<Users>>, String> {
        if let Some(users) = self.users.get() {
            return Ok(users.clone());
        }
        let users = if let Some(path) = &self.auth_file {
            let users = Users::load(path).map_err(|e| {
                format!(
                    "--auth-file {}: {e}; give an htpasswd file of bcrypt hashes \
                     (htpasswd -B -c FILE USER)",
                    path.display()
                )
            })?;
            Some(users)
        } else if let Some((user, password)) = &self.auth {
            Some(Users::plain(user, password).map_err(|e| format!("--auth: {e}"))?)
        } else {
            match std::env::var("EVSERVE_AUTH") {
                Ok(pair) => {
                    Some(Users::from_pair(&pair).map_err(|e| format!("EVSERVE_AUTH: {e}"))?)
                }
                Err(std::env::VarError::NotPresent) => None,
                Err(e) => return Err(format!("EVSERVE_AUTH: {e}")),
            }
        };
        Ok(self.users.get_or_init(|| users.map(Arc::new)).clone())
    }

    fn http_config(&self) -> HttpConfig {
        HttpConfig {
            root: self.root.clone(),
            max_header_bytes: self.max_header_bytes.0,
            max_uri: self.max_uri.0,
            max_headers: self.max_headers,
            max_body: self.max_body.0 as u64,
            header_timeout: self.header_timeout.0,
            writable: self.writable,
            // `prepare` refused bad credentials at start; a caller that skipped it gets a
            // server that lets nobody in rather than everybody.
            auth: self.auth_users().unwrap_or_else(|e| {
                log::error!("{e}; refusing every credential");
                Some(Arc::new(Users::nobody()))
            }),
            auth_max_failures: self.auth_max_failures,
            allow_trace: self.allow_trace,
            access_log: self.access_log && !self.no_access_log,
            file_cache: self.file_cache.0,
            sendfile: self.sendfile,
            browser: evserve::protocol::http::dashboard::BrowserConfig {
                ws: evserve::protocol::ws::WsConfig {
                    show_addresses: self.chat_show_addresses,
                    ..self.browser.config().ws
                },
                ..self.browser.config()
            },
            stats_allow: self.stats_networks(),
            listings: self.listings,
            host_names: self.server_name.clone(),
            strict_host: self.strict_host,
            http2: self.http2_config(),
            ..HttpConfig::default()
        }
    }

    /// The networks of --stats-allow: loopback when none is given, and every address of
    /// both families when one of them is `any` (or a /0).
    fn stats_networks(&self) -> Vec<ipnet::IpNet> {
        if self.stats_allow.is_empty() {
            return evserve::protocol::http::loopback();
        }
        if self.stats_allow.iter().any(|net| net.prefix_len() == 0) {
            return vec![ANY_V4, ANY_V6];
        }
        self.stats_allow.clone()
    }

    fn http2_config(&self) -> Http2Config {
        let clamp =
            |n: usize, low: u32, high: u32| u32::try_from(n).unwrap_or(high).clamp(low, high);
        Http2Config {
            enabled: !self.no_http2,
            max_concurrent_streams: self.http2_max_streams,
            initial_window_size: clamp(self.http2_window.0, 0, 0x7fff_ffff),
            max_frame_size: clamp(self.http2_max_frame.0, 16_384, 16_777_215),
            max_header_list_size: clamp(self.http2_max_header_list.0, 0, u32::MAX),
            // A compressed block is rarely larger than its decoded list: room for one.
            max_header_block: self
                .http2_max_header_list
                .0
                .max(Http2Config::default().max_header_block),
            max_resets: self.http2_max_resets,
            max_held: self.http2_max_held.0,
            ..Http2Config::default()
        }
    }

    fn framed_config(&self) -> FramedConfig {
        let base = match self.framing {
            FramingArg::Length => FramedConfig::length(),
            FramingArg::Line => FramedConfig::line(),
        };
        FramedConfig {
            max_frame: self.max_frame.map_or(base.max_frame, |s| s.0),
            delimiter: self.delimiter,
            ..base
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

    fn serve(args: &[&str]) -> Box<ServeArgs> {
        let cli = Cli::try_parse_from(["evserve", "serve"].iter().chain(args))
            .unwrap_or_else(|e| panic!("{args:?}: {e}"));
        let Command::Serve(args) = cli.command else {
            panic!("not serve")
        };
        args
    }

    #[test]
    fn socket_flags_reach_the_options() {
        let o = serve(&[
            "--no-reuse-address",
            "--reuse-port",
            "--no-tcp-nodelay",
            "--recv-buffer",
            "64KiB",
            "--backlog",
            "16",
        ])
        .config()
        .socket_options;
        assert!(!o.reuse_address && o.reuse_port && !o.nodelay);
        assert_eq!(
            (o.recv_buffer, o.send_buffer, o.backlog),
            (Some(65536), None, 16)
        );
        // The older `--flag BOOL` form still works, and the last of a pair wins.
        let o = serve(&["--reuse-address", "false", "--tcp-nodelay"])
            .config()
            .socket_options;
        assert!(!o.reuse_address && o.nodelay);
        let o = serve(&["--no-tcp-nodelay", "--tcp-nodelay"])
            .config()
            .socket_options;
        assert!(o.nodelay);
    }

    #[test]
    fn no_flags_means_the_library_defaults() {
        let args = serve(&[]);
        assert_eq!(args.prepare(), Ok(vec![]));
        let cfg = args.config();
        assert_eq!(
            format!("{:?}", cfg.limits),
            format!("{:?}", Limits::default())
        );
        assert_eq!(
            format!("{:?}", cfg.socket_options),
            format!("{:?}", SocketOptions::default())
        );
        let ServiceSpec::Http(_, http) = &cfg.services[3] else {
            panic!("{:?}", cfg.services[3])
        };
        assert_eq!(**http, HttpConfig::default());
        assert!(
            !http.access_log,
            "the access log is off by default (docs/http.md)"
        );
        let ServiceSpec::Framed(_, framed) = &cfg.services[2] else {
            panic!("{:?}", cfg.services[2])
        };
        assert_eq!(*framed, FramedConfig::default());
        let args = serve(&["--files", "127.0.0.1:0", "--files-dir", ".", "--chat", ":0"]);
        let cfg = args.config();
        assert!(
            matches!(&cfg.services[..], [ServiceSpec::Chat(_, DEFAULT_CHAT_LINE), ServiceSpec::Files(_, f)]
                if *f == FilesConfig::new(".")),
            "{:?}",
            cfg.services
        );
        assert_eq!(
            serve(&["--announce", "127.255.255.255:7099"])
                .config()
                .announce
                .unwrap()
                .interval,
            discovery::DEFAULT_INTERVAL
        );
    }

    #[test]
    fn help_shows_defaults_as_people_write_them() {
        use clap::CommandFactory;
        let mut cli = Cli::command();
        let help = cli
            .find_subcommand_mut("serve")
            .unwrap()
            .render_help()
            .to_string();
        for want in [
            "[default: 1MiB]",
            "[default: 1m]",
            "[default: 16MiB]",
            "Socket options:",
            "Timeouts",
            "--no-access-log",
        ] {
            assert!(help.contains(want), "{want} missing in:\n{help}");
        }
        let load_help = Cli::command()
            .find_subcommand_mut("load")
            .unwrap()
            .render_help()
            .to_string();
        // Written in a doc comment, so checked here against the constants.
        for default in [load::DEFAULT_DURATION, load::COUNTED_RUN_LIMIT] {
            let text = format!("(default {})", Span(default));
            assert!(load_help.contains(&text), "{text} missing in:\n{load_help}");
        }
        let top = Cli::command().render_help().to_string();
        for addr in [DEFAULT_ECHO, DEFAULT_FRAMED, DEFAULT_HTTP] {
            assert!(top.contains(&addr.to_string()), "{addr} missing in:\n{top}");
        }
    }

    #[test]
    fn flags_that_cannot_work_are_refused() {
        let refused = |args: &[&str]| serve(args).prepare().unwrap_err();
        assert!(refused(&["--idle-timeout", "0"]).contains("--idle-timeout"));
        assert!(refused(&["--max-connections", "0"]).contains("--max-connections must be"));
        assert!(refused(&["--root", "/nonexistent/evserve"]).contains("No such file"));
        assert!(refused(&["--root", "Cargo.toml"]).contains("not a directory"));
        // --root matters only where HTTP is served.
        assert_eq!(
            serve(&["--echo", ":0", "--root", "/nonexistent"]).prepare(),
            Ok(vec![])
        );
        let warned = serve(&["--max-headers", "500"]).prepare().unwrap();
        assert!(warned[0].contains("using 128"), "{warned:?}");
        let warned = serve(&["--announce", "127.0.0.1:9", "--announce-interval", "100ms"]);
        assert!(warned.prepare().unwrap()[0].contains("using 1s"));
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
        assert_eq!(c.protocol, Protocol::Framed(Framing::Line(b'\n')));
        assert_eq!(c.duration, Duration::from_secs(2));
        let c = load(&[
            "framed",
            "127.0.0.1:7",
            "--framing",
            "line",
            "--delimiter",
            ";",
        ])
        .unwrap();
        assert_eq!(c.protocol, Protocol::Framed(Framing::Line(b';')));
        let c = load(&[
            "http://127.0.0.1:1/",
            "-m",
            "PUT",
            "-H",
            "X-A: 1",
            "-t",
            "2",
            "-c",
            "2",
        ])
        .unwrap();
        let Protocol::Http(request) = &c.protocol else {
            panic!("not http")
        };
        assert_eq!(request.method, "PUT");
        assert_eq!(request.headers, [("X-A".to_string(), "1".to_string())]);
        assert_eq!(c.threads, 2);
        assert!(
            load(&["http://127.0.0.1:1/", "-H", "nocolon"])
                .unwrap_err()
                .contains("NAME: VALUE")
        );
        assert!(
            load(&["http://127.0.0.1:1/", "--body", "/nonexistent"])
                .unwrap_err()
                .contains("--body")
        );
        assert!(load(&["echo"]).unwrap_err().contains("HOST:PORT"));
        let c = load(&[
            "ws",
            "127.0.0.1:7",
            "--rate",
            "100",
            "-t",
            "2",
            "--tls",
            "-k",
        ])
        .unwrap();
        assert_eq!(
            c.protocol,
            Protocol::Ws {
                host: "127.0.0.1:7".into()
            }
        );
        assert_eq!((c.rate, c.threads), (Some(100.0), 2));
        assert!(c.tls.is_some());
        assert!(load(&["ftp://h/"]).unwrap_err().contains("http://"));
        // TLS: https:// or --tls, and the trust flags only with TLS.
        let c = load(&["https://127.0.0.1:1/", "--insecure"]).unwrap();
        assert!(c.tls.is_some());
        assert_eq!(c.addr.port(), 1);
        let c = load(&["echo", "127.0.0.1:7", "--tls", "-k"]).unwrap();
        assert!(c.tls.is_some());
        let c = load(&["https://127.0.0.1/", "--new-connection-per-request"]).unwrap();
        assert_eq!(c.addr.port(), 443);
        let Protocol::Http(request) = &c.protocol else {
            panic!("not http")
        };
        assert!(
            !request.keep_alive,
            "--new-connection-per-request is --no-keep-alive"
        );
        assert!(
            load(&["echo", "127.0.0.1:7", "--cacert", "x"])
                .unwrap_err()
                .contains("TLS")
        );
        assert!(
            load(&["echo", "127.0.0.1:7", "--new-connection-per-request"])
                .unwrap_err()
                .contains("is for HTTP")
        );
        assert!(
            load(&["http://127.0.0.1:1/", "--tls"])
                .unwrap_err()
                .contains("https://")
        );
        assert!(
            load(&["udp", "127.0.0.1:7", "--tls", "-k"])
                .unwrap_err()
                .contains("UDP")
        );
        assert!(
            load(&["https://127.0.0.1:1/", "--cacert", "/nonexistent/ca.pem"])
                .unwrap_err()
                .starts_with("--cacert /nonexistent/ca.pem")
        );
        assert!(load(&["udp", "127.0.0.1:7", "--threads", "0"]).is_err());
        assert!(load(&["udp", "127.0.0.1:7", "--rate", "-1"]).is_err());
    }

    #[test]
    fn sweep_targets_are_named_as_asked() {
        let labels = |args: &[&str]| -> Vec<String> {
            let cli = Cli::try_parse_from(["evserve", "load", "sweep"].iter().chain(args)).unwrap();
            let Command::Load(args) = cli.command else {
                panic!("not load")
            };
            let targets = args.sweep_targets().unwrap();
            targets.into_iter().map(|(label, _)| label).collect()
        };
        let named = labels(&[
            "http://127.0.0.1:1/plain",
            "--name",
            "evserve",
            "--compare",
            "nginx=http://127.0.0.1:2/plain",
            "--compare",
            "http://127.0.0.1:3/?a=b",
        ]);
        assert_eq!(named, ["evserve", "nginx", "http://127.0.0.1:3/?a=b"]);
        let echo = labels(&["echo", "127.0.0.1:1", "--compare", "other=127.0.0.1:2"]);
        assert_eq!(echo, ["echo 127.0.0.1:1", "other"]);
        assert_eq!(split_name("=x"), (None, "=x"));
    }

    #[test]
    fn load_http2_flags() {
        let load = |args: &[&str]| {
            let cli = Cli::try_parse_from(["evserve", "load"].iter().chain(args))
                .map_err(|e| e.to_string())?;
            let Command::Load(args) = cli.command else {
                panic!("not load")
            };
            args.config()
        };
        let c = load(&["http://127.0.0.1:1/p", "--http2", "--streams", "10"]).unwrap();
        let Protocol::Http2 { request, https } = &c.protocol else {
            panic!("not http2")
        };
        assert_eq!(
            (request.path.as_str(), *https, c.pipeline),
            ("/p", false, 10)
        );
        let c = load(&["https://127.0.0.1:1/", "--http2", "-k"]).unwrap();
        assert!(matches!(c.protocol, Protocol::Http2 { https: true, .. }));
        assert_eq!(c.pipeline, 1, "one stream by default");
        let err = |args: &[&str]| load(args).unwrap_err();
        assert!(err(&["http://127.0.0.1:1/", "--streams", "2"]).contains("--http2"));
        assert!(err(&["http://127.0.0.1:1/", "--http2", "--pipeline", "2"]).contains("--streams"));
        assert!(err(&["echo", "127.0.0.1:1", "--http2"]).contains("URLs"));
        assert!(err(&["http://127.0.0.1:1/", "--http2", "-m", "POST"]).contains("body"));
        assert!(err(&["http://127.0.0.1:1/", "--http2", "--no-keep-alive"]).contains("keeps"));
        let max = load::MAX_STREAMS.to_string();
        assert!(load(&["http://127.0.0.1:1/", "--http2", "--streams", &max]).is_ok());
        let over = (load::MAX_STREAMS + 1).to_string();
        assert!(err(&["http://127.0.0.1:1/", "--http2", "--streams", &over]).contains("at most"));
    }

    #[test]
    fn hsts_reaches_https_listeners_only() {
        let hsts = |args: &[&str]| -> Vec<(bool, Option<u64>)> {
            serve(args)
                .config()
                .services
                .iter()
                .filter_map(|spec| match spec {
                    ServiceSpec::Http(_, c) => Some((false, c.hsts_max_age)),
                    ServiceSpec::Tls(inner, _) => match &**inner {
                        ServiceSpec::Http(_, c) => Some((true, c.hsts_max_age)),
                        _ => None,
                    },
                    _ => None,
                })
                .collect()
        };
        let both = ["--http", ":0", "--https", "127.0.0.1:0"];
        assert_eq!(
            hsts(&[&both[..], &["--hsts"]].concat()),
            [(false, None), (true, Some(31_536_000))]
        );
        assert_eq!(
            hsts(&[&both[..], &["--hsts", "--hsts-max-age", "60"]].concat()),
            [(false, None), (true, Some(60))]
        );
        assert_eq!(hsts(&both), [(false, None), (true, None)]);
        assert!(Cli::try_parse_from(["evserve", "serve", "--hsts-max-age", "60"]).is_err());
    }

    #[test]
    fn secure_defaults_and_the_flags_that_open_them() {
        let http = |args: &[&str]| serve(args).http_config();
        let loopback = evserve::protocol::http::loopback();
        let default = http(&[]);
        assert_eq!(default.stats_allow, loopback);
        assert!(!default.listings && !default.writable);
        assert_eq!(
            http(&["--stats-allow", "any"]).stats_allow,
            [ANY_V4, ANY_V6]
        );
        assert_eq!(
            http(&["--stats-allow", "0.0.0.0/0"]).stats_allow,
            [ANY_V4, ANY_V6]
        );
        let lan: ipnet::IpNet = "10.0.0.0/8".parse().unwrap();
        assert_eq!(http(&["--stats-allow", "10.0.0.0/8"]).stats_allow, [lan]);
        assert!(http(&["--listings"]).listings);
        // --writable needs credentials, or a flag that says none on purpose.
        if std::env::var_os("EVSERVE_AUTH").is_none() {
            let refused = serve(&["--writable"]).prepare().unwrap_err();
            for want in ["--auth-file", "EVSERVE_AUTH", "--writable-without-auth"] {
                assert!(refused.contains(want), "{want} missing in: {refused}");
            }
            assert!(
                serve(&["--writable", "--writable-without-auth"])
                    .prepare()
                    .is_ok()
            );
        }
        assert!(serve(&["--writable", "--auth", "u:p"]).prepare().is_ok());
        assert!(
            Cli::try_parse_from(["evserve", "serve", "--writable-without-auth"]).is_err(),
            "it qualifies --writable"
        );
    }

    #[test]
    fn the_start_log_names_what_is_open_and_warns_beyond_loopback() {
        let notes = |args: &[&str]| {
            let config = serve(args).config();
            let bound: Vec<SocketAddr> = config.services.iter().map(|s| s.addr()).collect();
            evserve::server::exposure(&config, &bound)
        };
        let quiet = notes(&["--http", "0.0.0.0:8080"]);
        assert_eq!(quiet.len(), 2, "{quiet:?}");
        assert!(quiet.iter().all(|(level, _)| *level == log::Level::Info));
        let line = quiet
            .iter()
            .map(|(_, l)| l.as_str())
            .collect::<Vec<_>>()
            .join("\n");
        for want in [
            "root ",
            "listings off",
            "/stats",
            "for loopback only",
            "read-only",
        ] {
            assert!(line.contains(want), "{want} missing in: {line}");
        }
        let open = notes(&[
            "--http",
            "0.0.0.0:8080",
            "--http",
            "127.0.0.1:8081",
            "--stats-allow",
            "any",
            "--writable",
            "--writable-without-auth",
        ]);
        let warnings: Vec<&String> = open
            .iter()
            .filter(|(level, _)| *level == log::Level::Warn)
            .map(|(_, line)| line)
            .collect();
        assert_eq!(warnings.len(), 1, "warned once: {open:?}");
        assert!(warnings[0].contains("0.0.0.0:8080"), "{}", warnings[0]);
        assert!(!warnings[0].contains("8081"), "loopback is not exposed");
        assert!(warnings[0].contains("PUT/DELETE"), "{}", warnings[0]);
        let loopback_only = notes(&["--http", "127.0.0.1:0", "--stats-allow", "any"]);
        assert!(loopback_only.iter().all(|(l, _)| *l == log::Level::Info));
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

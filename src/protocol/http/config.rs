//! Everything an HTTP service can be told, with its default, in one place.

use std::path::PathBuf;
use std::time::Duration;

/// The configuration of an [`Http`](super::Http) service.
///
/// Every limit is enforced on every request and has a status code that reports it; see
/// `docs/http.md`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpConfig {
    /// The document root for static files; uploads go to `<root>/files/`. Default `.`.
    pub root: PathBuf,
    /// The longest request head (request line, fields and blank line); longer is 431.
    /// Default 8 KiB.
    pub max_header_bytes: usize,
    /// The longest request target; longer is 414. Default 4 KiB.
    pub max_uri: usize,
    /// The most header fields in a request; more is 431. Default 64, at most 128.
    pub max_headers: usize,
    /// The largest request body, announced or chunked; larger is 413. Default 16 MiB.
    pub max_body: u64,
    /// How long a request head may take to arrive, from its first byte; slower is 408.
    /// Default 10 s.
    pub header_timeout: Duration,
    /// Whether `PUT` and `DELETE` under `/files/` are allowed. Default `false`.
    pub writable: bool,
    /// The users whose HTTP Basic credentials `PUT`, `DELETE` and `/connections` require
    /// (see `auth.rs`). Default `None`: no credentials needed.
    pub auth: Option<std::sync::Arc<super::auth::Users>>,
    /// Wrong credentials an address may send per minute before it gets 429. Default 10.
    pub auth_max_failures: u32,
    /// Whether `TRACE` echoes the request (otherwise 405). Default `false`.
    pub allow_trace: bool,
    /// Whether to log one line per request at `info` level. Default `false`.
    pub access_log: bool,
    /// The `Server` field value. Default `evserve`.
    pub server_name: String,
    /// Bytes of small files kept in memory, each revalidated at most a second after it was
    /// read (default 16 MiB; 0 disables the cache).
    pub file_cache: usize,
    /// Whether file bodies too large for the file cache go to the socket with `sendfile(2)`
    /// where the connection allows (plain TCP, not TLS): the kernel copies them from the page
    /// cache and the server holds none of their bytes. Otherwise they are read into the
    /// output a slice at a time. Default `true` (nginx's `sendfile on`).
    pub sendfile: bool,
    /// The dashboard, its event stream and the WebSocket endpoints (see `dashboard.rs`).
    pub browser: super::dashboard::BrowserConfig,
    /// `Strict-Transport-Security: max-age=N` on every response, for `--hsts` on HTTPS
    /// listeners only (a browser ignores it over plain HTTP, and it would be a lie there).
    /// Default `None`: not sent.
    pub hsts_max_age: Option<u64>,
    /// Networks whose clients may see the server's insides and join its WebSockets:
    /// `/stats`, `/metrics`, `/connections`, `/events`, `/dashboard` and `/ws/*` (others get
    /// 403). Default [`loopback`]: the machine itself, as nginx's status pages are usually
    /// configured; empty lets nobody in.
    pub stats_allow: Vec<ipnet::IpNet>,
    /// Whether a directory without `index.html` is answered with a generated listing
    /// (`--listings`); otherwise 403, as nginx does with `autoindex off`. Default `false`.
    pub listings: bool,
    /// Host names the server answers for besides `localhost` and IP literals
    /// (`--server-name`; see `host.rs`). The status pages, the dashboard, `/events` and the
    /// WebSocket endpoints answer any other `Host` with 421, so a DNS-rebinding page finds
    /// nothing. Default empty.
    pub host_names: Vec<String>,
    /// Whether every route, not only those, answers an unknown `Host` with 421
    /// (`--strict-host`). Default `false`.
    pub strict_host: bool,
    /// HTTP/2: whether it is served, and its limits (see `protocol::http2`).
    pub http2: crate::protocol::http2::Http2Config,
}

impl Default for HttpConfig {
    fn default() -> HttpConfig {
        HttpConfig {
            root: PathBuf::from("."),
            max_header_bytes: 8 * 1024,
            max_uri: 4 * 1024,
            max_headers: 64,
            max_body: 16 * 1024 * 1024,
            header_timeout: Duration::from_secs(10),
            writable: false,
            auth: None,
            auth_max_failures: super::auth::DEFAULT_MAX_FAILURES,
            allow_trace: false,
            access_log: false,
            server_name: "evserve".to_owned(),
            file_cache: 16 * 1024 * 1024,
            sendfile: true,
            browser: Default::default(),
            hsts_max_age: None,
            stats_allow: loopback(),
            listings: false,
            host_names: Vec::new(),
            strict_host: false,
            http2: Default::default(),
        }
    }
}

/// The loopback networks, 127.0.0.0/8 and ::1: the default of `stats_allow`.
pub fn loopback() -> Vec<ipnet::IpNet> {
    vec![
        ipnet::IpNet::from(ipnet::Ipv4Net::new_assert(
            std::net::Ipv4Addr::new(127, 0, 0, 0),
            8,
        )),
        ipnet::IpNet::from(std::net::IpAddr::V6(std::net::Ipv6Addr::LOCALHOST)),
    ]
}

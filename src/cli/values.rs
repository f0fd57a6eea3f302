//! The values flags take, parsed as people write them and printed back the same way.
//!
//! Sizes (`64KiB`), durations (`500ms`, `2m`, `1h`), listening addresses in nginx's `listen`
//! forms (`8080`, `:8080`, `localhost:8080`, `[::1]:8080`), delimiter bytes, header fields,
//! shares (`1%`), credentials and announced services. Each parser's error names the form it
//! expected, with an example, since clap shows it as is.

use std::net::SocketAddr;
use std::time::Duration;

use evserve::discovery::ServiceEntry;

/// A byte count on the command line: `65536`, `64KiB`, `16k`, `2M`, `1GiB`; shown in the
/// largest unit that divides it, so `--help` prints library defaults as people write them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Size(pub usize);

impl std::str::FromStr for Size {
    type Err = String;
    fn from_str(s: &str) -> Result<Size, String> {
        parse_size(s).map(Size)
    }
}

impl std::fmt::Display for Size {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n = self.0;
        for (unit, shift) in [("GiB", 30), ("MiB", 20), ("KiB", 10)] {
            if n != 0 && n.is_multiple_of(1 << shift) {
                return write!(f, "{}{unit}", n >> shift);
            }
        }
        write!(f, "{n}")
    }
}

/// A duration on the command line: `500ms`, `10s`, `2m`, `1h`, or a bare number of seconds;
/// shown as people write it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Span(pub Duration);

impl std::str::FromStr for Span {
    type Err = String;
    fn from_str(s: &str) -> Result<Span, String> {
        parse_duration(s).map(Span)
    }
}

impl std::fmt::Display for Span {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ms = self.0.as_millis();
        let secs = self.0.as_secs();
        if !ms.is_multiple_of(1000) {
            write!(f, "{ms}ms")
        } else if secs != 0 && secs.is_multiple_of(3600) {
            write!(f, "{}h", secs / 3600)
        } else if secs != 0 && secs.is_multiple_of(60) {
            write!(f, "{}m", secs / 60)
        } else {
            write!(f, "{secs}s")
        }
    }
}

/// Parses a listening address in the forms nginx's `listen` takes: `8080` or `:8080` or
/// `*:8080` (every IPv4 address), `127.0.0.1:8080`, `localhost:8080` (the first address the
/// name resolves to), `[::1]:8080`.
pub fn parse_listen(s: &str) -> Result<SocketAddr, String> {
    let s = s.trim();
    let example = "expected PORT, :PORT, HOST:PORT or [IPv6]:PORT, e.g. 127.0.0.1:7007, \
                   localhost:8080, [::1]:8080 or 8080";
    let port_only = s
        .strip_prefix("*:")
        .or_else(|| s.strip_prefix(':'))
        .unwrap_or(s);
    if port_only.bytes().all(|b| b.is_ascii_digit()) && !port_only.is_empty() {
        let port: u16 = port_only
            .parse()
            .map_err(|_| format!("'{s}': a port is 0 to 65535"))?;
        return Ok(SocketAddr::from(([0, 0, 0, 0], port)));
    }
    if let Ok(addr) = s.parse::<SocketAddr>() {
        return Ok(addr);
    }
    let Some((host, port)) = s.rsplit_once(':') else {
        return Err(format!("'{s}' is not an address: {example}"));
    };
    if host.is_empty() || host.contains(':') || port.parse::<u16>().is_err() {
        return Err(format!("'{s}' is not an address: {example}"));
    }
    use std::net::ToSocketAddrs;
    let mut addrs = s
        .to_socket_addrs()
        .map_err(|e| format!("'{s}': cannot resolve {host}: {e}; {example}"))?;
    addrs
        .next()
        .ok_or_else(|| format!("'{s}': {host} has no address; {example}"))
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

/// Parses `NAME: VALUE` (curl's `-H`).
pub fn parse_header(s: &str) -> Result<(String, String), String> {
    match s.split_once(':') {
        Some((name, value)) if !name.trim().is_empty() => {
            Ok((name.trim().to_string(), value.trim().to_string()))
        }
        _ => Err(format!(
            "'{s}': expected NAME: VALUE, e.g. -H 'Accept: text/plain'"
        )),
    }
}

/// Parses a share: `5%`, or a fraction from 0 to 1 such as `0.05`.
pub fn parse_rate(s: &str) -> Result<f64, String> {
    let bad = || format!("'{s}': give a share such as 1% or 0.01");
    let rate = match s.trim().strip_suffix('%') {
        Some(pct) => pct.trim().parse::<f64>().map_err(|_| bad())? / 100.0,
        None => s.trim().parse::<f64>().map_err(|_| bad())?,
    };
    if (0.0..=1.0).contains(&rate) {
        Ok(rate)
    } else {
        Err(bad())
    }
}

/// Parses `USER:PASS`.
pub fn parse_credentials(s: &str) -> Result<(String, String), String> {
    match s.split_once(':') {
        Some((user, pass)) if !user.is_empty() => Ok((user.to_string(), pass.to_string())),
        _ => Err("expected USER:PASS".to_string()),
    }
}

/// Parses a `--server-name`: a host name as it appears in `Host`, without scheme, port or
/// path (`example.com`, `www.example.com.`).
pub fn parse_server_name(s: &str) -> Result<String, String> {
    let name = s.trim();
    let valid = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'_');
    if valid {
        Ok(name.to_ascii_lowercase())
    } else {
        Err(format!(
            "'{s}' is not a host name: give the name alone, as in the browser's address bar \
             without scheme, port or path (e.g. --server-name example.com)"
        ))
    }
}

/// Parses a network, `10.0.0.0/8` or `fd00::/8`, or one address (`127.0.0.1`, `::1`) as a
/// network of one.
pub fn parse_net(s: &str) -> Result<ipnet::IpNet, String> {
    let s = s.trim();
    if let Ok(ip) = s.parse::<std::net::IpAddr>() {
        return Ok(ipnet::IpNet::from(ip));
    }
    let net: ipnet::IpNet = s
        .parse()
        .map_err(|_| format!("'{s}' is not a network (try 127.0.0.0/8, 10.1.2.3 or ::1)"))?;
    // `10.1.2.3/8` most likely means the network it lies in; say so rather than guess.
    if net.addr() != net.network() {
        return Err(format!(
            "'{s}' has host bits set: did you mean {}?",
            net.trunc()
        ));
    }
    Ok(net)
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

/// What every duration flag takes, said once so that every message says the same.
pub const DURATIONS: &str =
    "write a number with ms, s, m or h (500ms, 10s, 2m, 1h); a bare number is seconds";

/// Parses `500ms`, `60s`, `2m`, `1h`, or a plain number of seconds: the one grammar of every
/// duration flag (`serve`, `load`, `discover`).
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (digits, unit) = s.split_at(split);
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("'{s}' is not a duration: {DURATIONS}"))?;
    match unit {
        "ms" => Ok(Duration::from_millis(n)),
        "" | "s" => Ok(Duration::from_secs(n)),
        "m" => Ok(Duration::from_secs(n.saturating_mul(60))),
        "h" => Ok(Duration::from_secs(n.saturating_mul(3600))),
        _ => Err(format!("'{s}' has an unknown unit: {DURATIONS}")),
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
    fn networks_take_a_prefix_or_one_address() {
        let net = |s| parse_net(s).map(|n| n.to_string());
        assert_eq!(net("127.0.0.0/8"), Ok("127.0.0.0/8".into()));
        assert_eq!(net("10.1.2.3"), Ok("10.1.2.3/32".into()));
        assert_eq!(net("::1"), Ok("::1/128".into()));
        assert_eq!(net("fd00::/8"), Ok("fd00::/8".into()));
        let err = parse_net("10.1.2.3/8").unwrap_err();
        assert!(err.contains("did you mean 10.0.0.0/8?"), "{err}");
        let err = parse_net("localhost").unwrap_err();
        assert!(err.contains("not a network (try 127.0.0.0/8"), "{err}");
    }

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
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        for bad in ["1d", "", "ms", "1.5s"] {
            let err = parse_duration(bad).unwrap_err();
            assert!(
                err.contains("ms, s, m or h") && err.contains("bare number"),
                "{err}"
            );
        }
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
    fn listen_addresses_in_nginx_forms() {
        let any = |p| SocketAddr::from(([0, 0, 0, 0], p));
        assert_eq!(parse_listen("8080"), Ok(any(8080)));
        assert_eq!(parse_listen(":8080"), Ok(any(8080)));
        assert_eq!(parse_listen("*:8080"), Ok(any(8080)));
        assert_eq!(
            parse_listen("[::1]:8080"),
            "[::1]:8080".parse().map_err(|_| String::new())
        );
        assert!(parse_listen("localhost:8080").unwrap().ip().is_loopback());
        let bad = parse_listen("127.0.0.1").unwrap_err();
        assert!(bad.contains("e.g. 127.0.0.1:7007"), "{bad}");
        assert!(parse_listen("70000").unwrap_err().contains("0 to 65535"));
        assert!(parse_listen("::1:80").is_err());
    }

    #[test]
    fn sizes_and_spans_print_as_written() {
        assert_eq!(Size(1 << 20).to_string(), "1MiB");
        assert_eq!(Size(65_527).to_string(), "65527");
        assert_eq!(Span(Duration::from_millis(1500)).to_string(), "1500ms");
        assert_eq!(Span(Duration::from_secs(7200)).to_string(), "2h");
        assert_eq!(Span(Duration::from_secs(90)).to_string(), "90s");
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
    }
}

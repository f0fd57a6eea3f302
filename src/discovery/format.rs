//! Printing what `discover` found: a table for people, JSON for scripts, and `server` lines
//! for HAProxy.
//!
//! The HAProxy form is meant to be written to a file the HAProxy configuration includes in a
//! backend (HAProxy reads every file given with `-f`, in order), followed by a reload when it
//! changed; `docs/deploy.md` explains why a rewrite and reload rather than the runtime API.
//! Each line names one server and its address and asks for health checks; everything else
//! (`inter`, `fall`, `send-proxy-v2`, ...) belongs on the backend's `default-server` line, so
//! the operator keeps one place for it.

use std::collections::BTreeSet;
use std::net::SocketAddr;

use super::table::{Discovery, Seen};

/// How `discover` prints what it found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Format {
    /// A table for people.
    #[default]
    Table,
    /// One JSON object for scripts.
    Json,
    /// HAProxy `server` lines, one per server offering the chosen service over TCP.
    Haproxy,
}

/// The address clients should use for `addr`, a service of the server heard from `from`: an
/// old announcer may still advertise `0.0.0.0`, which means "the address I am reached at".
pub(crate) fn usable_addr(addr: SocketAddr, from: SocketAddr) -> SocketAddr {
    if addr.ip().is_unspecified() {
        SocketAddr::new(from.ip(), addr.port())
    } else {
        addr
    }
}

/// Formats what was found. `service` names the service HAProxy balances (`http`); the other
/// formats list every service.
pub(crate) fn render(found: &Discovery, format: Format, service: &str) -> String {
    match format {
        Format::Table => table(found),
        Format::Json => json(found),
        Format::Haproxy => haproxy(found, service),
    }
}

fn services(s: &Seen) -> Vec<String> {
    s.beacon
        .services
        .iter()
        .map(|e| {
            format!(
                "{}={}://{}",
                e.name,
                e.transport,
                usable_addr(e.addr, s.from)
            )
        })
        .collect()
}

fn json(found: &Discovery) -> String {
    let servers: Vec<serde_json::Value> = found
        .servers()
        .map(|s| {
            serde_json::json!({
                "name": s.beacon.name,
                "from": s.from.to_string(),
                "version": s.beacon.version,
                "services": services(s),
                "last_seen_ms_ago": s.last_seen.elapsed().as_millis() as u64,
                "beacons": s.count,
            })
        })
        .collect();
    let refused = found.gate.refused;
    let doc = serde_json::json!({
        "servers": servers,
        "ignored": found.ignored,
        "refused": {
            "unsigned": refused.unsigned,
            "bad_signature": refused.bad_signature,
            "stale": refused.stale,
            "replayed": refused.replayed,
            "foreign_address": refused.foreign_address,
        },
        "evicted": found.evicted,
        "expired": found.expired,
    });
    format!("{doc}\n")
}

fn table(found: &Discovery) -> String {
    let mut out = format!(
        "{:<20} {:<22} {:>9}  {}\n",
        "NAME", "FROM", "LAST SEEN", "SERVICES"
    );
    for s in found.servers() {
        out.push_str(&format!(
            "{:<20} {:<22} {:>8.1}s  {}\n",
            s.beacon.name,
            s.from.to_string(),
            s.last_seen.elapsed().as_secs_f64(),
            services(s).join(" ")
        ));
    }
    if found.ignored + found.evicted + found.expired > 0 {
        out.push_str(&format!(
            "({} datagrams ignored, {} servers evicted from a full table, {} expired)\n",
            found.ignored, found.evicted, found.expired
        ));
    }
    out
}

/// A server name HAProxy accepts: letters, digits and `-_.:`; anything else becomes `_`.
fn haproxy_name(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.:".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect()
}

fn haproxy(found: &Discovery, service: &str) -> String {
    let mut out = format!(
        "# evserve discover: {} servers heard; service {service} (tcp)\n",
        found.len()
    );
    let mut used = BTreeSet::new();
    for s in found.servers() {
        let Some(entry) = s
            .beacon
            .services
            .iter()
            .find(|e| e.name == service && e.transport == "tcp")
        else {
            continue;
        };
        let addr = usable_addr(entry.addr, s.from);
        // Two hosts may share a --name; HAProxy needs distinct server names.
        let mut name = haproxy_name(&s.beacon.name);
        if !used.insert(name.clone()) {
            name = haproxy_name(&format!("{}-{}", s.beacon.name, s.from.ip()));
            used.insert(name.clone());
        }
        out.push_str(&format!("    server {name} {addr} check\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::beacon::{Beacon, ServiceEntry};
    use super::*;
    use std::time::Instant;

    fn found() -> Discovery {
        let mut t = Discovery::default();
        let now = Instant::now();
        let entry = |name: &str, transport: &str, addr: &str| ServiceEntry {
            name: name.into(),
            transport: transport.into(),
            addr: addr.parse().unwrap(),
        };
        for (name, from, services) in [
            (
                "web-1",
                "10.77.0.11:40000",
                vec![entry("http", "tcp", "10.77.0.11:8080")],
            ),
            (
                "web 2",
                "10.77.0.12:40000",
                vec![entry("http", "tcp", "0.0.0.0:8080")],
            ),
            (
                "web-1",
                "10.77.0.13:40000",
                vec![entry("http", "tcp", "10.77.0.13:8080")],
            ),
            (
                "echo-only",
                "10.77.0.14:40000",
                vec![entry("echo", "tcp", "10.77.0.14:7")],
            ),
        ] {
            let beacon = Beacon {
                name: name.into(),
                version: "0.1.0".into(),
                services,
            };
            t.record(beacon, from.parse().unwrap(), now);
        }
        t
    }

    #[test]
    fn haproxy_lines_name_each_server_once_with_a_usable_address() {
        let text = render(&found(), Format::Haproxy, "http");
        let lines: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
        assert_eq!(
            lines,
            [
                "    server web_2 10.77.0.12:8080 check",
                "    server web-1 10.77.0.11:8080 check",
                "    server web-1-10.77.0.13 10.77.0.13:8080 check",
            ]
        );
    }

    #[test]
    fn json_reports_the_counters() {
        let doc: serde_json::Value =
            serde_json::from_str(&render(&found(), Format::Json, "http")).unwrap();
        assert_eq!(doc["servers"].as_array().unwrap().len(), 4);
        assert_eq!(doc["evicted"], 0);
        assert_eq!(
            doc["servers"][1]["services"][0],
            "http=tcp://10.77.0.12:8080"
        );
    }
}

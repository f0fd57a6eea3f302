//! The names this server answers for: the `Host` check against DNS rebinding, and the
//! WebSocket `Origin` check that rests on it.
//!
//! *DNS rebinding*: a page at `http://rebind.attacker.example:8080/` first resolves to the
//! attacker's server, then, once loaded, to `127.0.0.1`. Its scripts then talk to this server
//! *from the operator's own browser*, as the same origin: loopback-only listeners and
//! `--stats-allow 127.0.0.1` cannot tell. What gives it away is the name: the browser sends
//! `Host: rebind.attacker.example:8080` (and the same `Origin`). So the server answers only
//! for the names it is given (`--server-name`), `localhost`, and IP literals:
//!
//! - `localhost` never goes to DNS (browsers resolve it, and `*.localhost`, to loopback
//!   themselves; RFC 6761 §6.3), so no attacker can rebind it.
//! - An IP literal cannot be rebound either: a browser sends `Host: 127.0.0.1:8080` only when
//!   the page's own URL names that address, which makes the page this server's (or one behind
//!   the same address). Any IP literal passes, not only the listener's own: behind NAT or a
//!   balancer the address the browser used is not the socket's, and one that is neither gives
//!   an attacker nothing a non-browser client could not send anyway. Vite and
//!   webpack-dev-server (`allowedHosts: 'auto'`) accept IP addresses for the same reason.
//!
//! A request without `Host` (HTTP/1.0) passes: browsers always send one.
//!
//! The port is not part of the check (the name is what DNS rebinding forges). The WebSocket
//! `Origin` is held to more: its host must be an accepted name *and* name the same host and
//! port as `Host`, so neither a rebinding page nor a page of another port of this machine can
//! open one (see [`origin_allowed`]).

/// An authority (`host[:port]`, `[v6]:port`) split into its host and port (`None` if absent).
/// `None` if it is not one (an unclosed bracket).
fn split_authority(value: &[u8]) -> Option<(&[u8], Option<&[u8]>)> {
    let (host, rest) = match value {
        [b'[', rest @ ..] => {
            let end = rest.iter().position(|&b| b == b']')?;
            (&value[..end + 2], &rest[end + 1..])
        }
        _ => match value.iter().position(|&b| b == b':') {
            Some(colon) => (&value[..colon], &value[colon..]),
            None => (value, &[][..]),
        },
    };
    match rest {
        [] => Some((host, None)),
        [b':', port @ ..] => Some((host, Some(port))),
        _ => None,
    }
}

/// Whether `host` (no port; IPv6 in brackets) is a name this server answers for: an IP
/// literal, `localhost`, or one of `names` (case-insensitive, a final dot ignored).
pub(crate) fn name_accepted(host: &[u8], names: &[String]) -> bool {
    let host = host.strip_suffix(b".").unwrap_or(host);
    if is_ip_literal(host) || host.eq_ignore_ascii_case(b"localhost") {
        return true;
    }
    names.iter().any(|name| {
        let name = name.as_bytes();
        let name = name.strip_suffix(b".").unwrap_or(name);
        !name.is_empty() && name.eq_ignore_ascii_case(host)
    })
}

/// `192.0.2.1` or `[2001:db8::1]`.
fn is_ip_literal(host: &[u8]) -> bool {
    let Ok(text) = std::str::from_utf8(host) else {
        return false;
    };
    match text.strip_prefix('[').and_then(|t| t.strip_suffix(']')) {
        Some(v6) => v6.parse::<std::net::Ipv6Addr>().is_ok(),
        None => text.parse::<std::net::Ipv4Addr>().is_ok(),
    }
}

/// Whether a request whose `Host` field is `host` (or which has none) is for this server.
pub(crate) fn host_allowed(host: Option<&[u8]>, names: &[String]) -> bool {
    match host.map(<[u8]>::trim_ascii) {
        None => true,
        Some(value) => split_authority(value).is_some_and(|(h, _)| name_accepted(h, names)),
    }
}

/// Whether a browser on `origin` may open a WebSocket here: listed in `allowed` (`*` lists
/// every origin), or an `http`/`https` origin whose host is an accepted name (see
/// [`name_accepted`]) and whose host and port are the `Host` the request was sent to (a
/// scheme's default port and no port are the same), so a page of another port of this
/// machine cannot either.
pub(crate) fn origin_allowed(
    origin: &[u8],
    host: Option<&[u8]>,
    names: &[String],
    allowed: &[String],
) -> bool {
    if allowed
        .iter()
        .any(|a| a == "*" || a.as_bytes().eq_ignore_ascii_case(origin))
    {
        return true;
    }
    let Some((scheme, authority)) = ["http://", "https://"].iter().find_map(|scheme| {
        let head = origin.get(..scheme.len())?;
        head.eq_ignore_ascii_case(scheme.as_bytes())
            .then(|| (*scheme, &origin[scheme.len()..]))
    }) else {
        return false;
    };
    let default_port: &[u8] = if scheme == "http://" { b"80" } else { b"443" };
    let Some((o_host, o_port)) = split_authority(authority) else {
        return false;
    };
    let Some((h_host, h_port)) = host.map(<[u8]>::trim_ascii).and_then(split_authority) else {
        return false;
    };
    let o_port = o_port.filter(|p| *p != default_port);
    let h_port = h_port.filter(|p| *p != default_port);
    name_accepted(o_host, names) && o_host.eq_ignore_ascii_case(h_host) && o_port == h_port
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names() -> Vec<String> {
        vec!["example.test".to_owned(), "Www.Example.Test.".to_owned()]
    }

    #[test]
    fn hosts_are_ip_literals_localhost_or_given_names() {
        let names = names();
        for ok in [
            &b"localhost"[..],
            b"localhost:8080",
            b"LOCALHOST.",
            b"127.0.0.1",
            b"127.0.0.1:8080",
            b"10.1.2.3:1",
            b"[::1]",
            b"[::1]:8080",
            b"[2001:db8::1]:443",
            b"example.test",
            b"EXAMPLE.test:8443",
            b"www.example.test",
            b"example.test.",
            b" example.test ",
        ] {
            assert!(
                host_allowed(Some(ok), &names),
                "{}",
                String::from_utf8_lossy(ok)
            );
        }
        for bad in [
            &b"rebind.attacker.example"[..],
            b"rebind.attacker.example:8080",
            b"localhost.attacker.example",
            b"example.test.attacker.example",
            b"127.0.0.1.nip.io",
            b"1.2.3",
            b"[::1",
            b"[not-v6]:80",
            b"",
            b":8080",
        ] {
            assert!(
                !host_allowed(Some(bad), &names),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
        assert!(host_allowed(None, &names), "HTTP/1.0 without Host");
        assert!(
            !host_allowed(Some(b"example.test"), &[]),
            "only the names given"
        );
        assert!(
            !host_allowed(Some(b"x"), &[String::new()]),
            "an empty name is none"
        );
    }

    #[test]
    fn origins_are_an_accepted_name_at_the_requested_host_and_port() {
        let names = names();
        let host = Some(&b"127.0.0.1:8080"[..]);
        assert!(origin_allowed(b"http://127.0.0.1:8080", host, &names, &[]));
        assert!(origin_allowed(b"HTTPS://127.0.0.1:8080", host, &names, &[]));
        assert!(!origin_allowed(b"http://evil.example", host, &names, &[]));
        assert!(!origin_allowed(b"http://127.0.0.1:8081", host, &names, &[]));
        assert!(!origin_allowed(b"http://127.0.0.1", host, &names, &[]));
        assert!(!origin_allowed(b"http://1.2.3.4:8080", host, &names, &[]));
        // A rebinding page: Host and Origin agree, but the name is not ours.
        let rebound = Some(&b"rebind.attacker.example:8080"[..]);
        assert!(!origin_allowed(
            b"http://rebind.attacker.example:8080",
            rebound,
            &names,
            &[]
        ));
        let named = Some(&b"example.test"[..]);
        assert!(origin_allowed(b"https://example.test", named, &names, &[]));
        assert!(origin_allowed(
            b"http://example.test:80",
            named,
            &names,
            &[]
        ));
        assert!(origin_allowed(
            b"https://Example.Test:443",
            named,
            &names,
            &[]
        ));
        assert!(!origin_allowed(
            b"https://example.test:8443",
            named,
            &names,
            &[]
        ));
        assert!(!origin_allowed(
            b"https://www.example.test",
            named,
            &names,
            &[]
        ));
        let local = Some(&b"localhost:8080"[..]);
        assert!(origin_allowed(b"http://localhost:8080", local, &names, &[]));
        assert!(!origin_allowed(
            b"http://localhost:3000",
            local,
            &names,
            &[]
        ));
        let v6 = Some(&b"[::1]:8080"[..]);
        assert!(origin_allowed(b"http://[::1]:8080", v6, &names, &[]));
        assert!(!origin_allowed(b"null", host, &names, &[]));
        assert!(!origin_allowed(b"http://127.0.0.1:8080", None, &names, &[]));
        let listed = ["http://app.example".to_owned()];
        assert!(origin_allowed(b"http://app.example", host, &names, &listed));
        assert!(origin_allowed(b"http://x", None, &[], &["*".to_owned()]));
    }

    #[test]
    fn authorities_split_into_host_and_port() {
        assert_eq!(split_authority(b"a:1"), Some((&b"a"[..], Some(&b"1"[..]))));
        assert_eq!(split_authority(b"a"), Some((&b"a"[..], None)));
        assert_eq!(
            split_authority(b"[::1]:80"),
            Some((&b"[::1]"[..], Some(&b"80"[..])))
        );
        assert_eq!(split_authority(b"[::1]x"), None);
        assert_eq!(split_authority(b"[::1"), None);
    }
}

//! The beacon: one small text datagram saying who a server is and what it serves.
//!
//! ```text
//! EVSERVE-BEACON 1\n                  magic and format version
//! name web-3\n                        the server's name (--name, default: host name)
//! version 0.1.0\n                     the evserve version
//! service http tcp 10.77.0.11:8080\n  one line per service: name, transport, address
//! service echo udp 10.77.0.11:7007\n
//! ```
//!
//! A beacon arrives from the network, where anyone can send anything, so the reader is strict:
//! exactly one `name` and one `version` line, the version number written as the writer writes
//! it (`1`, not `01` or `+1`), nothing after it on the first line, every line ended by `\n`
//! (a stray `\r` is part of the field and fails the token check), no line twice. Whatever the
//! writer cannot produce, the reader refuses — so two readers never disagree on what a beacon
//! says, and a malformed datagram costs one parse and a counter, never a table entry.

use std::fmt;
use std::net::SocketAddr;

/// The first line of every beacon, before the version number.
pub const MAGIC: &str = "EVSERVE-BEACON";
/// The beacon format version this code writes and reads.
pub const FORMAT_VERSION: u32 = 1;
/// The largest beacon sent or accepted, in bytes.
pub const MAX_BEACON: usize = 512;
/// The longest name, version or service name, in bytes.
pub const MAX_TOKEN: usize = 64;

/// One service a server offers.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ServiceEntry {
    /// The service's name: `echo`, `framed`, `http`, ...
    pub name: String,
    /// `tcp` or `udp`.
    pub transport: String,
    /// The address clients should use (the announcer replaces an unspecified address such as
    /// `0.0.0.0` with the address its beacons leave from).
    pub addr: SocketAddr,
}

/// What a server says about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Beacon {
    /// The server's name.
    pub name: String,
    /// The evserve version it runs.
    pub version: String,
    /// Its services.
    pub services: Vec<ServiceEntry>,
}

/// Why a datagram is not a beacon we can use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BeaconError {
    /// Larger than [`MAX_BEACON`].
    TooLarge,
    /// Not a beacon at all, or a field is malformed, missing or repeated.
    Malformed,
    /// A beacon of a format version this code does not read.
    UnknownVersion,
}

impl fmt::Display for BeaconError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BeaconError::TooLarge => "beacon larger than 512 bytes",
            BeaconError::Malformed => "malformed beacon",
            BeaconError::UnknownVersion => "unknown beacon format version",
        })
    }
}

impl std::error::Error for BeaconError {}

/// A name is one token of printable ASCII: it must not break the line format.
fn is_token(s: &str) -> bool {
    !s.is_empty() && s.len() <= MAX_TOKEN && s.bytes().all(|b| b.is_ascii_graphic())
}

/// The format version as the writer writes it: decimal digits, no sign, no leading zero.
fn parse_version(s: &str) -> Option<u32> {
    let canonical =
        !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) && (s == "0" || !s.starts_with('0'));
    if canonical { s.parse().ok() } else { None }
}

impl Beacon {
    /// Encodes the beacon. Fails rather than send something a reader would reject.
    pub fn encode(&self) -> Result<Vec<u8>, BeaconError> {
        let fields_ok = is_token(&self.name)
            && is_token(&self.version)
            && self
                .services
                .iter()
                .all(|s| is_token(&s.name) && matches!(s.transport.as_str(), "tcp" | "udp"));
        let distinct = self
            .services
            .iter()
            .enumerate()
            .all(|(i, s)| !self.services[..i].contains(s));
        if !fields_ok || !distinct {
            return Err(BeaconError::Malformed);
        }
        let mut text = format!(
            "{MAGIC} {FORMAT_VERSION}\nname {}\nversion {}\n",
            self.name, self.version
        );
        for s in &self.services {
            text.push_str(&format!("service {} {} {}\n", s.name, s.transport, s.addr));
        }
        if text.len() > MAX_BEACON {
            return Err(BeaconError::TooLarge);
        }
        Ok(text.into_bytes())
    }

    /// Decodes a datagram, strictly (see the module notes).
    pub fn decode(data: &[u8]) -> Result<Beacon, BeaconError> {
        if data.len() > MAX_BEACON {
            return Err(BeaconError::TooLarge);
        }
        let text = std::str::from_utf8(data).map_err(|_| BeaconError::Malformed)?;
        // Every line ends with '\n', the last one included: a truncated datagram is refused.
        let body = text.strip_suffix('\n').ok_or(BeaconError::Malformed)?;
        let mut lines = body.split('\n');
        let head = lines.next().unwrap_or("");
        let version = match head.split(' ').collect::<Vec<_>>()[..] {
            [MAGIC, v] => parse_version(v).ok_or(BeaconError::Malformed)?,
            [MAGIC, v, ..] if parse_version(v).is_some_and(|v| v != FORMAT_VERSION) => {
                // A later format may add words here; it is still "a version we do not read".
                return Err(BeaconError::UnknownVersion);
            }
            _ => return Err(BeaconError::Malformed),
        };
        if version != FORMAT_VERSION {
            return Err(BeaconError::UnknownVersion);
        }
        let (mut name, mut evserve_version, mut services) =
            (None, None, Vec::<ServiceEntry>::new());
        for line in lines {
            match line.split(' ').collect::<Vec<_>>()[..] {
                ["name", n] if is_token(n) && name.is_none() => name = Some(n.to_string()),
                ["version", v] if is_token(v) && evserve_version.is_none() => {
                    evserve_version = Some(v.to_string())
                }
                ["service", n, t, a] if is_token(n) && (t == "tcp" || t == "udp") => {
                    let entry = ServiceEntry {
                        name: n.to_string(),
                        transport: t.to_string(),
                        addr: a.parse().map_err(|_| BeaconError::Malformed)?,
                    };
                    if services.contains(&entry) {
                        return Err(BeaconError::Malformed);
                    }
                    services.push(entry);
                }
                _ => return Err(BeaconError::Malformed),
            }
        }
        Ok(Beacon {
            name: name.ok_or(BeaconError::Malformed)?,
            version: evserve_version.ok_or(BeaconError::Malformed)?,
            services,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Beacon {
        Beacon {
            name: "web-3".into(),
            version: "0.1.0".into(),
            services: vec![
                ServiceEntry {
                    name: "echo".into(),
                    transport: "tcp".into(),
                    addr: "127.0.0.1:7007".parse().unwrap(),
                },
                ServiceEntry {
                    name: "echo".into(),
                    transport: "udp".into(),
                    addr: "[::1]:7007".parse().unwrap(),
                },
            ],
        }
    }

    #[test]
    fn round_trips() {
        let bytes = sample().encode().unwrap();
        assert!(bytes.starts_with(b"EVSERVE-BEACON 1\nname web-3\n"));
        assert_eq!(Beacon::decode(&bytes), Ok(sample()));
    }

    #[test]
    fn every_cut_of_a_beacon_is_refused_or_is_a_whole_line_shorter() {
        // UDP delivers datagrams whole (the receive buffer is larger than MAX_BEACON), so a
        // cut only happens at a sender; still, a cut mid-line must never pass as a field.
        let bytes = sample().encode().unwrap();
        let whole = sample();
        for cut in 0..bytes.len() {
            match Beacon::decode(&bytes[..cut]) {
                Err(_) => {}
                Ok(b) => {
                    assert_eq!(bytes[cut - 1], b'\n', "cut at {cut} decoded mid-line");
                    assert_eq!((&b.name, &b.version), (&whole.name, &whole.version));
                    assert_eq!(b.services[..], whole.services[..b.services.len()]);
                }
            }
        }
    }

    #[test]
    fn rejects_malformed_input() {
        let cases: &[&[u8]] = &[
            b"",
            b"hello",
            b"EVSERVE-BEACON\nname a\nversion 1\n",
            b"EVSERVE-BEACON x\nname a\nversion 1\n",
            b"EVSERVE-BEACON 1\nversion 1\n",
            b"EVSERVE-BEACON 1\nname a\n",
            b"EVSERVE-BEACON 1\nname a\nversion 1\nservice echo sctp 127.0.0.1:1\n",
            b"EVSERVE-BEACON 1\nname a\nversion 1\nservice echo tcp nowhere\n",
            b"EVSERVE-BEACON 1\nname a b\nversion 1\n",
            b"EVSERVE-BEACON 1\nname \xff\nversion 1\n",
            b"EVSERVE-BEACON 1\nname a\nversion 1\nshutdown now\n",
            // Issue 11: duplicates, extra words after the version, a non-canonical version.
            b"EVSERVE-BEACON 1\nname a\nname b\nversion 1\n",
            b"EVSERVE-BEACON 1\nname a\nversion 1\nversion 2\n",
            b"EVSERVE-BEACON 1 extra\nname a\nversion 1\n",
            b"EVSERVE-BEACON 01\nname a\nversion 1\n",
            b"EVSERVE-BEACON +1\nname a\nversion 1\n",
            b"EVSERVE-BEACON  1\nname a\nversion 1\n",
            b"EVSERVE-BEACON 1\nname a\nversion 1\n\
              service e tcp 1.2.3.4:5\nservice e tcp 1.2.3.4:5\n",
            // Line ends: '\n' only, and the last line too.
            b"EVSERVE-BEACON 1\r\nname a\r\nversion 1\r\n",
            b"EVSERVE-BEACON 1\nname a\nversion 1",
            b"EVSERVE-BEACON 1\nname a\nversion 1\n\n",
            b"EVSERVE-BEACON 1\nname a\n\nversion 1\n",
            b"EVSERVE-BEACON 1\nname a \nversion 1\n",
        ];
        for case in cases {
            assert_eq!(
                Beacon::decode(case),
                Err(BeaconError::Malformed),
                "{:?}",
                String::from_utf8_lossy(case)
            );
        }
    }

    #[test]
    fn versions_are_read_as_written() {
        assert_eq!(parse_version("1"), Some(1));
        assert_eq!(parse_version("0"), Some(0));
        assert_eq!(parse_version("10"), Some(10));
        for bad in ["", "01", "00", "+1", "-1", "1 ", " 1", "1a", "99999999999"] {
            assert_eq!(parse_version(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn unknown_versions_and_oversize_are_told_apart() {
        assert_eq!(
            Beacon::decode(b"EVSERVE-BEACON 2\nname a\nversion 1\n"),
            Err(BeaconError::UnknownVersion)
        );
        assert_eq!(
            Beacon::decode(b"EVSERVE-BEACON 2 with-more\nname a\n"),
            Err(BeaconError::UnknownVersion)
        );
        assert_eq!(
            Beacon::decode(&[b'a'; MAX_BEACON + 1]),
            Err(BeaconError::TooLarge)
        );
    }

    #[test]
    fn encoding_refuses_what_would_not_decode() {
        let mut b = sample();
        b.name = "two words".into();
        assert_eq!(b.encode(), Err(BeaconError::Malformed));
        let mut b = sample();
        b.services.push(b.services[0].clone());
        assert_eq!(b.encode(), Err(BeaconError::Malformed));
        let mut b = sample();
        b.services = (0..40)
            .map(|i| ServiceEntry {
                name: format!("s{i}"),
                ..sample().services[0].clone()
            })
            .collect();
        assert_eq!(b.encode(), Err(BeaconError::TooLarge));
    }
}

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
//! With a shared key (`--beacon-key`) the beacon is *signed*, format version 2: the same lines
//! after `EVSERVE-BEACON 2`, then a seal and an HMAC-SHA256 over every byte before the `mac`
//! line (see [`seal`](super::seal) for what the seal proves and how it is checked):
//!
//! ```text
//! EVSERVE-BEACON 2\n
//! name web-3\n
//! version 0.1.0\n
//! service http tcp 10.77.0.11:8080\n
//! seal 1765100000 5f3a9c0d12e4b7a1 42\n  unix time (s), sender id (a run), counter
//! mac 0f1e...(64 hex digits)\n            HMAC-SHA256(key, the bytes above)
//! ```
//!
//! A version 1 reader refuses a version 2 beacon as a version it does not read, and an
//! announcer without a key still writes version 1, so old and new tools keep working together
//! wherever no key is used.
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
pub(crate) const MAGIC: &str = "EVSERVE-BEACON";
/// The beacon format version this code writes without a key (and reads).
pub(crate) const FORMAT_VERSION: u32 = 1;
/// The format version of a signed beacon (written with `--beacon-key`).
pub(crate) const SIGNED_VERSION: u32 = 2;
/// The length of the `mac <64 hex digits>\n` line that ends a signed beacon.
const MAC_LINE: usize = "mac ".len() + 64 + 1;
/// The largest beacon sent or accepted, in bytes.
pub const MAX_BEACON: usize = 512;
/// The longest name, version or service name, in bytes.
pub(crate) const MAX_TOKEN: usize = 64;

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

/// The proof a signed beacon carries (format version 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Seal {
    /// When the beacon was made, in seconds since the Unix epoch.
    pub time: u64,
    /// A random number one announcer draws when it starts: its beacons' counter runs per id.
    pub sender: u64,
    /// The beacon's number in its sender's run, counting from 1.
    pub seq: u64,
    /// HMAC-SHA256 with the shared key over the beacon up to the `mac` line.
    pub mac: [u8; 32],
}

/// A datagram read as a beacon, with the seal of a signed one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Decoded<'a> {
    /// What the beacon says.
    pub beacon: Beacon,
    /// A signed beacon's seal, and the bytes its MAC covers; `None` for version 1.
    pub seal: Option<(Seal, &'a [u8])>,
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
    parse_decimal(s).and_then(|v| u32::try_from(v).ok())
}

impl Beacon {
    /// Encodes the beacon, unsigned (version 1). Fails rather than send something a reader
    /// would reject.
    pub(crate) fn encode(&self) -> Result<Vec<u8>, BeaconError> {
        let text = self.text(FORMAT_VERSION)?;
        if text.len() > MAX_BEACON {
            return Err(BeaconError::TooLarge);
        }
        Ok(text.into_bytes())
    }

    /// Encodes the beacon signed (version 2): the seal's fields, then the line `mac` holds,
    /// computed by `mac` over every byte before it.
    pub(crate) fn encode_signed(
        &self,
        time: u64,
        sender: u64,
        seq: u64,
        mac: impl FnOnce(&[u8]) -> [u8; 32],
    ) -> Result<Vec<u8>, BeaconError> {
        let mut text = self.text(SIGNED_VERSION)?;
        text.push_str(&format!("seal {time} {sender:016x} {seq}\n"));
        if text.len() + MAC_LINE > MAX_BEACON {
            return Err(BeaconError::TooLarge);
        }
        let digest = mac(text.as_bytes());
        text.push_str("mac ");
        for b in digest {
            text.push_str(&format!("{b:02x}"));
        }
        text.push('\n');
        Ok(text.into_bytes())
    }

    /// The fields' lines under the first line for `version`.
    fn text(&self, version: u32) -> Result<String, BeaconError> {
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
            "{MAGIC} {version}\nname {}\nversion {}\n",
            self.name, self.version
        );
        for s in &self.services {
            text.push_str(&format!("service {} {} {}\n", s.name, s.transport, s.addr));
        }
        if text.len() > MAX_BEACON {
            return Err(BeaconError::TooLarge);
        }
        Ok(text)
    }

    /// Decodes a datagram, strictly (see the module notes), signed or not; a signed beacon's
    /// seal is not checked here (that needs the key: see `seal.rs`).
    pub fn decode(data: &[u8]) -> Result<Beacon, BeaconError> {
        Beacon::decode_sealed(data).map(|d| d.beacon)
    }

    /// Decodes a datagram, strictly, with the seal of a signed beacon.
    pub(crate) fn decode_sealed(data: &[u8]) -> Result<Decoded<'_>, BeaconError> {
        if data.len() > MAX_BEACON {
            return Err(BeaconError::TooLarge);
        }
        let text = std::str::from_utf8(data).map_err(|_| BeaconError::Malformed)?;
        // Every line ends with '\n', the last one included: a truncated datagram is refused.
        let mut body = text.strip_suffix('\n').ok_or(BeaconError::Malformed)?;
        let head = body.split('\n').next().unwrap_or("");
        let known = |v: u32| v == FORMAT_VERSION || v == SIGNED_VERSION;
        let version = match head.split(' ').collect::<Vec<_>>()[..] {
            [MAGIC, v] => parse_version(v).ok_or(BeaconError::Malformed)?,
            [MAGIC, v, ..] if parse_version(v).is_some_and(|v| !known(v)) => {
                // A later format may add words here; it is still "a version we do not read".
                return Err(BeaconError::UnknownVersion);
            }
            _ => return Err(BeaconError::Malformed),
        };
        if !known(version) {
            return Err(BeaconError::UnknownVersion);
        }
        let mut seal = None;
        if version == SIGNED_VERSION {
            // The last two lines are the seal and the MAC; the MAC covers all before it.
            let (rest, mac) = body.rsplit_once('\n').ok_or(BeaconError::Malformed)?;
            let (rest, fields) = rest.rsplit_once('\n').ok_or(BeaconError::Malformed)?;
            let parsed = parse_seal(fields, mac).ok_or(BeaconError::Malformed)?;
            // parse_seal took exactly MAC_LINE bytes for the last line.
            let signed = data
                .len()
                .checked_sub(MAC_LINE)
                .and_then(|end| data.get(..end))
                .ok_or(BeaconError::Malformed)?;
            seal = Some((parsed, signed));
            body = rest;
        }
        let lines = body.split('\n').skip(1);
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
        let beacon = Beacon {
            name: name.ok_or(BeaconError::Malformed)?,
            version: evserve_version.ok_or(BeaconError::Malformed)?,
            services,
        };
        Ok(Decoded { beacon, seal })
    }
}

/// `seal <time> <sender> <seq>` and `mac <hex>`, each as the writer writes it: canonical
/// decimals, 16 and 64 lowercase hexadecimal digits.
fn parse_seal(fields: &str, mac: &str) -> Option<Seal> {
    let ["seal", time, sender, seq] = fields.split(' ').collect::<Vec<_>>()[..] else {
        return None;
    };
    let mac = mac.strip_prefix("mac ")?;
    let lower_hex = |s: &str, n: usize| {
        s.len() == n && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    };
    if !lower_hex(sender, 16) || !lower_hex(mac, 64) {
        return None;
    }
    let mut digest = [0u8; 32];
    for (i, byte) in digest.iter_mut().enumerate() {
        *byte = u8::from_str_radix(mac.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(Seal {
        time: parse_decimal(time)?,
        sender: u64::from_str_radix(sender, 16).ok()?,
        seq: parse_decimal(seq)?,
        mac: digest,
    })
}

/// A decimal as the writer writes it: digits, no sign, no leading zero.
fn parse_decimal(s: &str) -> Option<u64> {
    let canonical =
        !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) && (s == "0" || !s.starts_with('0'));
    if canonical { s.parse().ok() } else { None }
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
            Beacon::decode(b"EVSERVE-BEACON 3\nname a\nversion 1\n"),
            Err(BeaconError::UnknownVersion)
        );
        assert_eq!(
            Beacon::decode(b"EVSERVE-BEACON 3 with-more\nname a\n"),
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

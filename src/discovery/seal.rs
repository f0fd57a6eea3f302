//! Who may speak for whom: signed beacons, and what `discover` believes.
//!
//! Anyone who can reach the discovery port can send a datagram, with any source address it
//! likes, and `discover --format haproxy` turns what it believes into a balancer's backends. So
//! a beacon is believed only under one of two rules, checked by a [`Gate`]:
//!
//! * **With a shared key** (`--beacon-key FILE` on both sides): the beacon must be signed
//!   (format version 2) with an HMAC-SHA256 under that key ([`Sealer`] makes them), made
//!   within [`FRESHNESS`] of the receiver's clock (either way: clocks differ a little), and
//!   newer than every beacon already taken from the same sender (a random id each announcer
//!   draws when it starts, with a counter from 1). A recorded datagram replayed later is
//!   either stale or a number already seen. Unsigned, badly signed, stale and replayed beacons
//!   are ignored and counted. The addresses of a signed beacon are believed as signed: only a
//!   holder of the key can make one.
//! * **Without a key**: a service's address must be the datagram's source address (an
//!   unspecified `0.0.0.0` means "the source"), unless it lies in one of the `--allow-from`
//!   networks. Other entries are dropped and counted; a beacon left with no service is
//!   ignored. This stops a stranger from naming *another* address (an internal one, or a
//!   victim's), but not from joining with its own: only the key does that.
//!
//! Replay state is bounded: senders are remembered for [`FRESHNESS`] (a beacon older than that
//! is stale anyway), at most [`MAX_SENDERS`] at once. What a `discover` run learnt dies with it,
//! so a signed beacon recorded less than [`FRESHNESS`] ago could be replayed once to a *new*
//! run: it still names only what its real sender announced, moments ago.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, SystemTime};

use hmac::{Hmac, KeyInit, Mac};
use ipnet::IpNet;
use sha2::Sha256;

use super::beacon::{Beacon, BeaconError};
use crate::secret::Secret;

/// How far a signed beacon's time may be from the receiver's clock, either way.
pub(crate) const FRESHNESS: Duration = Duration::from_secs(30);
/// The most senders whose counters a [`Gate`] remembers at once.
pub(crate) const MAX_SENDERS: usize = 1024;

type HmacSha256 = Hmac<Sha256>;

/// HMAC-SHA256 of `data` under `key`.
pub(crate) fn mac(key: &Secret, data: &[u8]) -> [u8; 32] {
    // HMAC takes a key of any length (a long one is hashed first): this cannot fail.
    let Ok(mut m) = HmacSha256::new_from_slice(key.bytes()) else {
        return [0; 32];
    };
    m.update(data);
    m.finalize().into_bytes().into()
}

/// Whether `tag` is the HMAC-SHA256 of `data` under `key`, compared in constant time.
pub(crate) fn verify(key: &Secret, data: &[u8], tag: &[u8; 32]) -> bool {
    HmacSha256::new_from_slice(key.bytes()).is_ok_and(|mut m| {
        m.update(data);
        m.verify_slice(tag).is_ok()
    })
}

/// Seconds since the Unix epoch now (0 if the clock is before it).
pub(crate) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The announcer's side: signs each beacon with the key, the time and the next number.
#[derive(Debug, Clone)]
pub struct Sealer {
    key: Secret,
    sender: u64,
    seq: u64,
}

impl Sealer {
    /// A sealer with a sender id of its own: the id need not be secret (the MAC covers it),
    /// only different from the previous run's, so the clock and the process id will do.
    pub fn new(key: Secret) -> Sealer {
        let nanos = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        Sealer::with_sender(key, nanos ^ u64::from(std::process::id()).rotate_left(40))
    }

    /// A sealer with a given sender id (tests).
    pub(crate) fn with_sender(key: Secret, sender: u64) -> Sealer {
        Sealer {
            key,
            sender,
            seq: 0,
        }
    }

    /// `beacon` signed at `now` (Unix seconds), with the next number.
    pub fn seal(&mut self, beacon: &Beacon, now: u64) -> Result<Vec<u8>, BeaconError> {
        self.seq += 1;
        let key = &self.key;
        beacon.encode_signed(now, self.sender, self.seq, |data| mac(key, data))
    }
}

/// Why a beacon was not believed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// A key is required and the beacon is not signed.
    Unsigned,
    /// The MAC is not the one the key gives.
    BadSignature,
    /// Signed more than [`FRESHNESS`] away from now.
    Stale,
    /// A number its sender has already used.
    Replayed,
    /// Without a key: it names addresses other than its source and outside `--allow-from`.
    ForeignAddress,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Refusal::Unsigned => "unsigned beacon (a --beacon-key is required)",
            Refusal::BadSignature => "bad signature (another key, or altered)",
            Refusal::Stale => "stale beacon (signed more than 30s away from our clock)",
            Refusal::Replayed => "replayed beacon (its number was seen already)",
            Refusal::ForeignAddress => {
                "announces addresses other than its source (see --allow-from)"
            }
        })
    }
}

/// Why a datagram was not taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reject {
    /// Not a beacon this code reads.
    Malformed(BeaconError),
    /// A beacon, not believed.
    Refused(Refusal),
}

impl std::fmt::Display for Reject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Reject::Malformed(e) => e.fmt(f),
            Reject::Refused(r) => r.fmt(f),
        }
    }
}

/// Beacons not believed, by reason. `foreign_address` counts beacons that lost an entry,
/// whether or not something was left of them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Refused {
    /// Unsigned beacons while a key is required.
    pub unsigned: u64,
    /// Beacons whose MAC did not match.
    pub bad_signature: u64,
    /// Signed beacons outside the freshness window.
    pub stale: u64,
    /// Signed beacons whose number was already seen.
    pub replayed: u64,
    /// Unsigned beacons naming addresses other than their source.
    pub foreign_address: u64,
}

impl Refused {
    fn count(&mut self, why: Refusal) {
        let n = match why {
            Refusal::Unsigned => &mut self.unsigned,
            Refusal::BadSignature => &mut self.bad_signature,
            Refusal::Stale => &mut self.stale,
            Refusal::Replayed => &mut self.replayed,
            Refusal::ForeignAddress => &mut self.foreign_address,
        };
        *n += 1;
    }
}

/// What `discover` believes (see the module notes).
#[derive(Debug, Clone, Default)]
pub struct Gate {
    key: Option<Secret>,
    allow_from: Vec<IpNet>,
    /// sender id -> (last number taken, its time)
    senders: BTreeMap<u64, (u64, u64)>,
    /// Beacons not believed, by reason.
    pub(crate) refused: Refused,
}

impl Gate {
    /// A gate requiring beacons signed with `key`, if given; otherwise holding each address to
    /// the datagram's source, or to the `allow_from` networks.
    pub fn new(key: Option<Secret>, allow_from: Vec<IpNet>) -> Gate {
        Gate {
            key,
            allow_from,
            senders: BTreeMap::new(),
            refused: Refused::default(),
        }
    }

    /// Reads `data`, from `from`, at `now` (Unix seconds): the beacon to record, or why not.
    /// Refusals are counted in [`Gate::refused`].
    pub(crate) fn admit(
        &mut self,
        data: &[u8],
        from: SocketAddr,
        now: u64,
    ) -> Result<Beacon, Reject> {
        let decoded = Beacon::decode_sealed(data).map_err(Reject::Malformed)?;
        let verdict = match (&self.key, decoded.seal) {
            (Some(_), None) => Err(Refusal::Unsigned),
            (Some(key), Some((seal, signed))) => {
                if !verify(key, signed, &seal.mac) {
                    Err(Refusal::BadSignature)
                } else if now.abs_diff(seal.time) > FRESHNESS.as_secs() {
                    Err(Refusal::Stale)
                } else {
                    self.note_sender(seal.sender, seal.seq, seal.time, now)
                        .map(|()| decoded.beacon)
                }
            }
            (None, _) => self.own_addresses(decoded.beacon, from),
        };
        verdict.map_err(|why| {
            self.refused.count(why);
            Reject::Refused(why)
        })
    }

    /// Takes `seq` from `sender` only if it is newer than every number taken from it.
    fn note_sender(&mut self, sender: u64, seq: u64, time: u64, now: u64) -> Result<(), Refusal> {
        if let Some(&(last, _)) = self.senders.get(&sender) {
            if seq <= last {
                return Err(Refusal::Replayed);
            }
        } else if self.senders.len() >= MAX_SENDERS {
            // Forget the senders whose beacons would be stale by now; if none, the oldest.
            let window = FRESHNESS.as_secs();
            self.senders
                .retain(|_, &mut (_, t)| now.abs_diff(t) <= window);
            if self.senders.len() >= MAX_SENDERS
                && let Some((&oldest, _)) = self.senders.iter().min_by_key(|(_, (_, t))| *t)
            {
                self.senders.remove(&oldest);
            }
        }
        self.senders.insert(sender, (seq, time));
        Ok(())
    }

    /// Without a key: keeps the entries whose address is the source's (or allowed).
    fn own_addresses(&mut self, mut beacon: Beacon, from: SocketAddr) -> Result<Beacon, Refusal> {
        let source = from.ip().to_canonical();
        let allowed = |ip: IpAddr| {
            let ip = ip.to_canonical();
            ip.is_unspecified() || ip == source || self.allow_from.iter().any(|n| n.contains(&ip))
        };
        let before = beacon.services.len();
        beacon.services.retain(|s| allowed(s.addr.ip()));
        if beacon.services.len() == before {
            return Ok(beacon);
        }
        if beacon.services.is_empty() {
            return Err(Refusal::ForeignAddress);
        }
        // Some entries kept: the beacon is used, the others are counted as refused.
        self.refused.count(Refusal::ForeignAddress);
        Ok(beacon)
    }
}

#[cfg(test)]
mod tests {
    use super::super::beacon::ServiceEntry;
    use super::*;

    const NOW: u64 = 1_765_100_000;

    fn key() -> Secret {
        Secret::from_bytes(b"a shared key of 32 bytes, or so.").unwrap()
    }

    fn beacon(addr: &str) -> Beacon {
        Beacon {
            name: "web-1".into(),
            version: "0.1.0".into(),
            services: vec![ServiceEntry {
                name: "http".into(),
                transport: "tcp".into(),
                addr: addr.parse().unwrap(),
            }],
        }
    }

    fn from(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    /// A signed beacon, byte for byte: the format is a contract with other versions.
    const SIGNED: &[u8] = b"EVSERVE-BEACON 2\nname web-1\nversion 0.1.0\n\
        service http tcp 10.77.0.11:8080\nseal 1765100000 00000000000000ab 1\n";

    #[test]
    fn a_signed_beacon_has_the_documented_form_and_is_admitted() {
        let mut sealer = Sealer::with_sender(key(), 0xab);
        let bytes = sealer.seal(&beacon("10.77.0.11:8080"), NOW).unwrap();
        assert!(
            bytes.starts_with(SIGNED),
            "{}",
            String::from_utf8_lossy(&bytes)
        );
        let tag = mac(&key(), SIGNED);
        let hex: String = tag.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(&bytes[SIGNED.len()..], format!("mac {hex}\n").as_bytes());
        let mut gate = Gate::new(Some(key()), Vec::new());
        // Signed: believed from anywhere, whatever the source address.
        let got = gate.admit(&bytes, from("192.0.2.9:5000"), NOW + 3).unwrap();
        assert_eq!(got, beacon("10.77.0.11:8080"));
        assert_eq!(gate.refused, Refused::default());
    }

    #[test]
    fn unsigned_badly_signed_stale_and_replayed_beacons_are_refused_and_counted() {
        let mut gate = Gate::new(Some(key()), Vec::new());
        let src = from("10.77.0.11:40000");
        let plain = beacon("10.77.0.11:8080").encode().unwrap();
        assert_eq!(
            gate.admit(&plain, src, NOW),
            Err(Reject::Refused(Refusal::Unsigned))
        );

        let other = Secret::from_bytes(b"another key of sixteen or more").unwrap();
        let forged = Sealer::new(other)
            .seal(&beacon("169.254.169.254:80"), NOW)
            .unwrap();
        assert_eq!(
            gate.admit(&forged, src, NOW),
            Err(Reject::Refused(Refusal::BadSignature))
        );

        // One byte altered after signing: the address, here.
        let mut sealer = Sealer::with_sender(key(), 7);
        let good = sealer.seal(&beacon("10.77.0.11:8080"), NOW).unwrap();
        let text = String::from_utf8(good.clone()).unwrap();
        let altered = text.replace("10.77.0.11:8080", "10.77.0.66:8080");
        assert_eq!(
            gate.admit(altered.as_bytes(), src, NOW),
            Err(Reject::Refused(Refusal::BadSignature))
        );

        let old = sealer.seal(&beacon("10.77.0.11:8080"), NOW - 31).unwrap();
        assert_eq!(
            gate.admit(&old, src, NOW),
            Err(Reject::Refused(Refusal::Stale))
        );
        let early = sealer.seal(&beacon("10.77.0.11:8080"), NOW + 31).unwrap();
        assert_eq!(
            gate.admit(&early, src, NOW),
            Err(Reject::Refused(Refusal::Stale))
        );
        // At the edge of the window: still fresh.
        let edge = sealer.seal(&beacon("10.77.0.11:8080"), NOW - 30).unwrap();
        assert!(gate.admit(&edge, src, NOW).is_ok());

        // The first `good` (number 1) is older than `edge` (number 4): a replay, as is `edge`
        // sent again.
        assert_eq!(
            gate.admit(&good, src, NOW),
            Err(Reject::Refused(Refusal::Replayed))
        );
        assert_eq!(
            gate.admit(&edge, src, NOW),
            Err(Reject::Refused(Refusal::Replayed))
        );
        let next = sealer.seal(&beacon("10.77.0.11:8080"), NOW).unwrap();
        assert!(gate.admit(&next, src, NOW).is_ok());

        assert_eq!(
            gate.refused,
            Refused {
                unsigned: 1,
                bad_signature: 2,
                stale: 2,
                replayed: 2,
                foreign_address: 0,
            }
        );
    }

    #[test]
    fn a_mangled_seal_is_malformed_not_a_signature() {
        let mut sealer = Sealer::with_sender(key(), 1);
        let good = String::from_utf8(sealer.seal(&beacon("10.0.0.1:80"), NOW).unwrap()).unwrap();
        let mut gate = Gate::new(Some(key()), Vec::new());
        for bad in [
            good.replace("seal 1765100000", "seal 01765100000"),
            good.replace(" 0000000000000001 ", " 1 "),
            good.replace("\nmac ", "\nmac  "),
            good.to_uppercase(),
            good.trim_end().to_string(),
            good.replace("\nseal", "\nextra line\nseal"),
            good.replace("seal 1765100000 0000000000000001 1\n", ""),
        ] {
            assert!(
                matches!(
                    gate.admit(bad.as_bytes(), from("10.0.0.1:1"), NOW),
                    Err(Reject::Malformed(_))
                ),
                "{bad:?}"
            );
        }
        // Every cut of a signed beacon is refused.
        for cut in 0..good.len() {
            assert!(
                gate.admit(&good.as_bytes()[..cut], from("10.0.0.1:1"), NOW)
                    .is_err()
            );
        }
    }

    #[test]
    fn without_a_key_an_address_must_be_the_source_or_allowed() {
        let mut gate = Gate::new(None, Vec::new());
        let forged = beacon("169.254.169.254:80").encode().unwrap();
        assert_eq!(
            gate.admit(&forged, from("127.0.0.5:40000"), NOW),
            Err(Reject::Refused(Refusal::ForeignAddress))
        );
        let own = beacon("127.0.0.5:8080").encode().unwrap();
        assert!(gate.admit(&own, from("127.0.0.5:40000"), NOW).is_ok());
        let any = beacon("0.0.0.0:8080").encode().unwrap();
        assert!(gate.admit(&any, from("127.0.0.5:40000"), NOW).is_ok());
        // A signed beacon without a key on our side is held to the same rule.
        let signed = Sealer::new(key())
            .seal(&beacon("10.1.2.3:80"), NOW)
            .unwrap();
        assert!(gate.admit(&signed, from("127.0.0.5:1"), NOW).is_err());
        // From an IPv4-mapped source (a listener on [::]), the same address is the source.
        assert!(
            gate.admit(&own, from("[::ffff:127.0.0.5]:40000"), NOW)
                .is_ok()
        );

        let mut allowed = Gate::new(None, vec!["10.1.0.0/16".parse().unwrap()]);
        let far = beacon("10.1.2.3:8080").encode().unwrap();
        assert!(allowed.admit(&far, from("127.0.0.1:1"), NOW).is_ok());
        assert!(allowed.admit(&forged, from("127.0.0.1:1"), NOW).is_err());

        // Mixed: the foreign entry goes, the own one stays, and the beacon is counted.
        let mut mixed = beacon("127.0.0.5:8080");
        mixed.services.push(ServiceEntry {
            name: "echo".into(),
            transport: "tcp".into(),
            addr: "169.254.169.254:7".parse().unwrap(),
        });
        let got = gate
            .admit(&mixed.encode().unwrap(), from("127.0.0.5:1"), NOW)
            .unwrap();
        assert_eq!(got, beacon("127.0.0.5:8080"));
        assert_eq!(gate.refused.foreign_address, 3);
    }

    proptest::proptest! {
        /// Whatever arrives, reading it never panics, and only a datagram the key signed is
        /// believed.
        #[test]
        fn any_datagram_is_read_without_panic_and_never_believed_unsigned(
            data in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..600),
        ) {
            let mut gate = Gate::new(Some(key()), Vec::new());
            proptest::prop_assert!(gate.admit(&data, from("10.0.0.1:1"), NOW).is_err());
            let _ = Beacon::decode_sealed(&data);
        }

        /// Signed beacons round-trip for any name, address, time, sender and number; a flip of
        /// any one bit is refused.
        #[test]
        fn signed_beacons_round_trip_and_any_bit_flip_is_refused(
            name in "[a-zA-Z0-9._-]{1,32}",
            port in 1u16..,
            time in 0u64..u64::MAX / 2,
            sender in proptest::prelude::any::<u64>(),
            flip in 0usize..4096,
        ) {
            let b = Beacon { name, ..beacon(&format!("10.1.2.3:{port}")) };
            let bytes = Sealer::with_sender(key(), sender).seal(&b, time).unwrap();
            let mut gate = Gate::new(Some(key()), Vec::new());
            proptest::prop_assert_eq!(gate.admit(&bytes, from("10.0.0.1:1"), time), Ok(b));
            let mut flipped = bytes.clone();
            let bit = flip % (bytes.len() * 8);
            flipped[bit / 8] ^= 1 << (bit % 8);
            let mut gate = Gate::new(Some(key()), Vec::new());
            proptest::prop_assert!(gate.admit(&flipped, from("10.0.0.1:1"), time).is_err());
        }
    }

    #[test]
    fn the_sender_table_is_bounded() {
        let mut gate = Gate::new(Some(key()), Vec::new());
        for sender in 0..(MAX_SENDERS as u64 + 100) {
            let bytes = Sealer::with_sender(key(), sender)
                .seal(&beacon("10.0.0.1:80"), NOW)
                .unwrap();
            assert!(gate.admit(&bytes, from("10.0.0.1:1"), NOW).is_ok());
            assert!(gate.senders.len() <= MAX_SENDERS);
        }
    }
}

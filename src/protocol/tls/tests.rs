//! The TLS layer without sockets: `testing::Harness` on the server side, a rustls
//! `ClientConnection` in memory on the other, bytes carried between them by hand.

use std::cell::RefCell;
use std::io::{Read, Write};
use std::rc::Rc;
use std::sync::Arc;

use proptest::prelude::*;
use rustls::pki_types::CertificateDer;
use rustls::{ClientConfig, ClientConnection, RootCertStore};

use super::session::PLAIN_HTTP_ANSWER;
use super::*;
use crate::protocol::chat::ChatSession;
use crate::protocol::echo::EchoSession;
use crate::testing::{Harness, damaged};

/// A server configuration on a fresh self-signed certificate, and that certificate.
fn server(alpn: &[&[u8]]) -> (Arc<ServerConfig>, CertificateDer<'static>) {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let (key, _) = certs::self_signed(&provider).unwrap();
    let der = key.cert[0].clone();
    let resolver = Arc::new(SniResolver::new(CertStore::new(vec![key])));
    let ticketer = rustls::crypto::aws_lc_rs::Ticketer::new().unwrap();
    let cache = ServerSessionMemoryCache::new(16);
    let config = server_config(&provider, &resolver, &ticketer, &cache, alpn).unwrap();
    (config, der)
}

fn client(cert: &CertificateDer<'static>) -> Arc<ClientConfig> {
    let mut roots = RootCertStore::empty();
    roots.add(cert.clone()).unwrap();
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    Arc::new(
        ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth(),
    )
}

/// A session that records every plaintext byte it is given and echoes it.
#[derive(Default, Clone)]
struct Recorder {
    seen: Rc<RefCell<Vec<u8>>>,
    eof: Rc<RefCell<bool>>,
}

impl Session for Recorder {
    fn on_input(&mut self, input: &[u8], _cx: &mut Ctx<'_>) -> Step {
        self.seen.borrow_mut().extend_from_slice(input);
        Step::forward(input.len())
    }
    fn on_eof(&mut self, _input: &[u8], _cx: &mut Ctx<'_>) -> Flow {
        *self.eof.borrow_mut() = true;
        Flow::Close
    }
}

/// A server session in a harness and a client talking to it.
struct Pair<S: Session> {
    h: Harness<TlsSession<S>>,
    client: ClientConnection,
    /// Plaintext the client received.
    received: Vec<u8>,
}

impl<S: Session> Pair<S> {
    fn new(config: Arc<ServerConfig>, cert: &CertificateDer<'static>, inner: S) -> Pair<S> {
        Pair::with_client(config, client(cert), inner)
    }

    fn with_client(config: Arc<ServerConfig>, client: Arc<ClientConfig>, inner: S) -> Pair<S> {
        let session = TlsSession::new(config, Arc::new(TlsSettings::default()), inner).unwrap();
        let mut h = Harness::new(session);
        assert_eq!(h.open(), Flow::Continue);
        let mut client = ClientConnection::new(client, "localhost".try_into().unwrap()).unwrap();
        client.set_buffer_limit(None);
        Pair {
            h,
            client,
            received: Vec::new(),
        }
    }

    /// Everything the client wants to send, as bytes.
    fn client_bytes(&mut self) -> Vec<u8> {
        let mut buf = Vec::new();
        while self.client.wants_write() {
            self.client.write_tls(&mut buf).unwrap();
        }
        buf
    }

    /// Carries the client's bytes to the server, cut into `pieces`.
    fn up(&mut self, pieces: &[usize]) -> Flow {
        let bytes = self.client_bytes();
        self.h.input_in_pieces(&bytes, pieces)
    }

    /// Carries the server's output to the client; returns whether the client accepted it.
    fn down(&mut self) -> Result<(), rustls::Error> {
        let out = self.h.take_output();
        let mut rest = &out[..];
        while !rest.is_empty() {
            if self.client.read_tls(&mut rest).unwrap() == 0 {
                break;
            }
            let state = self.client.process_new_packets()?;
            let n = state.plaintext_bytes_to_read();
            let at = self.received.len();
            self.received.resize(at + n, 0);
            self.client
                .reader()
                .read_exact(&mut self.received[at..])
                .unwrap();
        }
        Ok(())
    }

    /// Runs the handshake to completion.
    fn handshake(&mut self) {
        for _ in 0..10 {
            if !self.client.is_handshaking() && !self.client.wants_write() {
                break;
            }
            assert_eq!(self.up(&[]), Flow::Continue);
            self.down().unwrap();
        }
        assert!(!self.client.is_handshaking());
        assert!(!self.h.session.connection().is_handshaking());
    }

    fn send(&mut self, plain: &[u8]) {
        self.client.writer().write_all(plain).unwrap();
    }
}

#[test]
fn echo_over_tls_round_trips() {
    let (config, cert) = server(&[]);
    let mut p = Pair::new(config, &cert, EchoSession);
    p.handshake();
    p.send(b"hello over tls");
    assert_eq!(p.up(&[]), Flow::Continue);
    p.down().unwrap();
    assert_eq!(p.received, b"hello over tls");
    assert_eq!(p.h.stats().tls_handshakes_full.get(), 1);
    assert_eq!(p.h.stats().tls_version_1_3.get(), 1);
    let ciphers = [
        p.h.stats().tls_cipher_aes_128_gcm.get(),
        p.h.stats().tls_cipher_aes_256_gcm.get(),
        p.h.stats().tls_cipher_chacha20_poly1305.get(),
    ];
    assert_eq!(
        ciphers.iter().sum::<u64>(),
        1,
        "one cipher counted: {ciphers:?}"
    );
    assert_eq!(
        p.h.deadline(),
        None,
        "the handshake deadline is lifted once done"
    );
    assert_eq!(
        p.h.session.held_plaintext(),
        0,
        "an idle connection owns no buffer"
    );
}

/// Consumes only whole lines, so a partial one stays in the TLS session's plaintext buffer.
struct Lines;

impl Session for Lines {
    fn on_input(&mut self, input: &[u8], _cx: &mut Ctx<'_>) -> Step {
        let whole = input.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        Step::forward(whole)
    }
}

#[test]
fn a_partial_message_is_kept_and_completed_then_the_buffer_released() {
    let (config, cert) = server(&[]);
    let mut p = Pair::new(config, &cert, Lines);
    p.handshake();
    p.send(&[b'a'; 40_000]);
    p.up(&[]);
    p.down().unwrap();
    assert!(p.received.is_empty());
    let held = p.h.session.held_plaintext();
    assert!((40_000..80_000).contains(&held), "{held}");
    p.send(b"a\nb");
    p.up(&[]);
    p.down().unwrap();
    assert_eq!(p.received.len(), 40_002);
    assert!(
        p.h.session.held_plaintext() < 1024,
        "only the partial 'b' is kept"
    );
}

/// Issue 24: what the TLS layer holds is counted in the memory budget: the partial line left
/// in its plaintext buffer, then the incomplete record rustls keeps, each released when done.
#[test]
fn what_the_layer_holds_is_reported_as_held() {
    let (config, cert) = server(&[]);
    let mut p = Pair::new(config, &cert, Lines);
    p.handshake();
    assert_eq!(p.h.held(), 0, "an idle connection holds nothing");
    p.send(&[b'a'; 40_000]);
    p.up(&[]);
    assert_eq!(p.h.held(), 40_000, "the partial line, in plaintext");
    // Half a record: the ciphertext waits inside rustls.
    p.send(b"a\n");
    let record = p.client_bytes();
    p.h.input(&record[..10]);
    assert_eq!(p.h.held(), 40_000 + 10);
    p.h.input(&record[10..]);
    assert_eq!(p.h.held(), 0, "the line completed");
    p.down().unwrap();
    assert_eq!(p.received.len(), 40_002);
}

/// A session that holds bytes of its own: the TLS layer adds to its report, never replaces it.
struct Holder;

impl Session for Holder {
    fn on_input(&mut self, input: &[u8], cx: &mut Ctx<'_>) -> Step {
        cx.set_held(1000 + input.len());
        Step::consumed(0)
    }
}

#[test]
fn the_inner_sessions_held_bytes_are_summed_with_the_layers() {
    let (config, cert) = server(&[]);
    let mut p = Pair::new(config, &cert, Holder);
    p.handshake();
    p.send(b"12345");
    p.up(&[]);
    assert_eq!(
        p.h.held(),
        1005 + 5,
        "the inner's 1005, and 5 bytes unconsumed"
    );
    p.send(b"678");
    p.up(&[]);
    assert_eq!(
        p.h.held(),
        1008 + 8,
        "each report replaces the last, summed again"
    );
}

/// An answer larger than rustls's own send limit is encrypted in turns, none of it lost.
#[test]
fn an_answer_past_the_rustls_limit_arrives_whole() {
    let (config, cert) = server(&[]);
    let mut p = Pair::new(config, &cert, EchoSession);
    p.handshake();
    let big: Vec<u8> = (0..3 * session::RUSTLS_SEND_LIMIT as u32 + 7)
        .map(|i| i as u8)
        .collect();
    p.send(&big);
    let bytes = p.client_bytes();
    p.h.input(&bytes);
    p.down().unwrap();
    assert_eq!(p.received, big);
}

#[test]
fn https_listeners_offer_alpn_http_1_1() {
    let (config, cert) = server(&[b"http/1.1"]);
    let mut client = (*client(&cert)).clone();
    client.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    let mut p = Pair::with_client(config, Arc::new(client), EchoSession);
    p.handshake();
    assert_eq!(p.client.alpn_protocol(), Some(&b"http/1.1"[..]));
}

#[test]
fn a_handshake_cut_at_every_point_completes() {
    let (config, cert) = server(&[]);
    let mut first = Pair::new(Arc::clone(&config), &cert, EchoSession);
    let hello = first.client_bytes();
    for cut in 0..=hello.len() {
        let mut p = Pair::new(Arc::clone(&config), &cert, EchoSession);
        let bytes = p.client_bytes();
        assert_eq!(p.h.input(&bytes[..cut]).flow, Flow::Continue);
        assert_eq!(p.h.input(&bytes[cut..]).flow, Flow::Continue);
        p.down().unwrap();
        p.handshake();
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// However the stream is cut (handshake, several records, close_notify), the inner session
    /// sees exactly the plaintext sent, and the client gets it all back.
    #[test]
    fn a_session_cut_anywhere_gives_the_same_plaintext(
        messages in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..3000), 1..6),
        pieces in proptest::collection::vec(1usize..700, 0..8),
    ) {
        let (config, cert) = server(&[]);
        let recorder = Recorder::default();
        let mut p = Pair::new(config, &cert, recorder.clone());
        // The first flight in pieces too, then the rest of the handshake.
        prop_assert_eq!(p.up(&pieces), Flow::Continue);
        p.down().unwrap();
        p.handshake();
        let mut sent = Vec::new();
        for m in &messages {
            p.send(m);
            sent.extend_from_slice(m);
        }
        p.client.send_close_notify();
        let flow = p.up(&pieces);
        p.down().unwrap();
        prop_assert_eq!(flow, Flow::Close, "the peer's close_notify ends the session");
        prop_assert!(*recorder.eof.borrow());
        prop_assert_eq!(&*recorder.seen.borrow(), &sent);
        prop_assert_eq!(&p.received, &sent);
    }

    /// Damaged records give alerts and closes, never a panic and never wrong plaintext.
    #[test]
    fn damaged_records_give_only_alerts_and_closes(
        flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..4),
        keep in any::<usize>(),
        pieces in proptest::collection::vec(1usize..300, 0..4),
        damage_handshake in any::<bool>(),
    ) {
        let (config, cert) = server(&[]);
        let recorder = Recorder::default();
        let mut p = Pair::new(config, &cert, recorder.clone());
        let sent = b"the quick brown fox jumps over the lazy dog".repeat(20);
        let bytes = if damage_handshake {
            p.client_bytes()
        } else {
            p.handshake();
            p.send(&sent);
            p.client_bytes()
        };
        let bad = damaged(bytes.clone(), &flips, keep);
        let flow = p.h.input_in_pieces(&bad, &pieces);
        prop_assert!(flow == Flow::Continue || flow == Flow::Close, "{flow:?}");
        let seen = recorder.seen.borrow().clone();
        prop_assert!(sent.starts_with(&seen), "plaintext the client never sent");
        // Whatever the server wrote is whole TLS records; after a close, the last is an alert
        // (type 21, or 23 once encrypted after the handshake) or there is none.
        let types = record_types(p.h.output());
        prop_assert!(types.is_some(), "not whole records: {:?}", p.h.output());
        if flow == Flow::Close && !damage_handshake {
            let types = types.unwrap_or_default();
            prop_assert!(matches!(types.last(), None | Some(21 | 23)), "{types:?}");
        }
    }
}

/// The content types of the records in `out`, or `None` if it is not a run of whole records.
fn record_types(mut out: &[u8]) -> Option<Vec<u8>> {
    let mut types = Vec::new();
    while !out.is_empty() {
        let len = usize::from(u16::from_be_bytes([*out.get(3)?, *out.get(4)?]));
        types.push(out[0]);
        out = out.get(5 + len..)?;
    }
    Some(types)
}

#[test]
fn a_client_that_sends_nothing_times_out() {
    let (config, _) = server(&[]);
    let session = TlsSession::new(config, Arc::new(TlsSettings::default()), EchoSession).unwrap();
    let mut h = Harness::new(session);
    h.open();
    let deadline = h.deadline().expect("the handshake has a deadline");
    assert_eq!(deadline - h.now(), TlsSettings::default().handshake_timeout);
    assert_eq!(h.timeout(), Flow::Close);
    assert_eq!(h.stats().tls_handshakes_failed.get(), 1);
}

#[test]
fn half_a_client_hello_times_out() {
    let (config, cert) = server(&[]);
    let mut p = Pair::new(config, &cert, EchoSession);
    let hello = p.client_bytes();
    assert_eq!(p.h.input(&hello[..hello.len() / 2]).flow, Flow::Continue);
    assert!(p.h.output().is_empty());
    assert!(p.h.deadline().is_some());
    assert_eq!(p.h.timeout(), Flow::Close);
}

#[test]
fn after_the_handshake_timeouts_go_to_the_inner_session() {
    let (config, cert) = server(&[]);
    let mut p = Pair::new(config, &cert, EchoSession);
    p.handshake();
    // Echo's default on_timeout closes: TLS sends close_notify.
    assert_eq!(p.h.timeout(), Flow::Close);
    p.down().unwrap();
    let state = p.client.process_new_packets().unwrap();
    assert!(state.peer_has_closed());
}

#[test]
fn a_record_trickled_for_longer_than_the_timeout_closes() {
    let (config, cert) = server(&[]);
    let mut p = Pair::new(config, &cert, EchoSession);
    p.handshake();
    p.send(b"slow");
    let record = p.client_bytes();
    let timeout = TlsSettings::default().handshake_timeout;
    // One byte now, more a little later: still within the time.
    assert_eq!(p.h.input(&record[..1]).flow, Flow::Continue);
    p.h.advance(timeout / 2);
    assert_eq!(p.h.input(&record[1..2]).flow, Flow::Continue);
    // A byte after the record's time is up: closed, with close_notify.
    p.h.advance(timeout);
    assert_eq!(p.h.input(&record[2..3]).flow, Flow::Close);
    p.down().unwrap();
    assert!(p.client.process_new_packets().unwrap().peer_has_closed());
}

#[test]
fn records_completing_in_time_reset_the_record_clock() {
    let (config, cert) = server(&[]);
    let mut p = Pair::new(config, &cert, EchoSession);
    p.handshake();
    let timeout = TlsSettings::default().handshake_timeout;
    for _ in 0..3 {
        p.send(b"steady");
        let record = p.client_bytes();
        let (head, tail) = record.split_at(record.len() / 2);
        assert_eq!(p.h.input(head).flow, Flow::Continue);
        p.h.advance(timeout * 3 / 4);
        assert_eq!(p.h.input(tail).flow, Flow::Continue);
    }
    p.down().unwrap();
    assert_eq!(p.received, b"steadysteadysteady");
}

#[test]
fn plain_http_on_an_https_port_gets_a_plaintext_400() {
    let (config, _) = server(&[b"http/1.1"]);
    let settings = TlsSettings {
        plain_http_hint: true,
        ..TlsSettings::default()
    };
    let session = TlsSession::new(config, Arc::new(settings), EchoSession).unwrap();
    let mut h = Harness::new(session);
    h.open();
    let step = h.input(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(step.flow, Flow::Close);
    let out = h.take_output();
    assert_eq!(out, PLAIN_HTTP_ANSWER);
    let text = String::from_utf8(out).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    assert!(
        head.contains(&format!("Content-Length: {}", body.len())),
        "{head}"
    );
    assert!(body.contains("HTTPS"));
}

#[test]
fn garbage_gets_an_alert_and_a_close() {
    let (config, _) = server(&[]);
    let session = TlsSession::new(config, Arc::new(TlsSettings::default()), EchoSession).unwrap();
    let mut h = Harness::new(session);
    h.open();
    let step = h.input(b"\x00\x01\x02garbage that is no TLS record at all");
    assert_eq!(step.flow, Flow::Close);
    assert_eq!(h.stats().tls_handshakes_failed.get(), 1);
    let out = h.take_output();
    assert!(
        out.is_empty() || out[0] == 21,
        "an alert record or nothing: {out:?}"
    );
}

/// A minimal ClientHello offering only `version` (0x0301 TLS 1.0, 0x0302 TLS 1.1, 0x0300
/// SSLv3), one RSA cipher suite and no extensions, as an old client sends it.
fn old_client_hello(version: u16) -> Vec<u8> {
    let mut body = Vec::new();
    body.extend_from_slice(&version.to_be_bytes());
    body.extend_from_slice(&[7; 32]); // random
    body.push(0); // no session id
    body.extend_from_slice(&[0, 2, 0x00, 0x2f]); // TLS_RSA_WITH_AES_128_CBC_SHA
    body.extend_from_slice(&[1, 0]); // null compression
    let mut hs = vec![1, 0, 0, body.len() as u8];
    hs.extend_from_slice(&body);
    let mut record = vec![22];
    record.extend_from_slice(&version.to_be_bytes());
    record.extend_from_slice(&(hs.len() as u16).to_be_bytes());
    record.extend_from_slice(&hs);
    record
}

#[test]
fn sslv3_tls1_0_and_tls1_1_hellos_are_refused_with_an_alert() {
    let (config, _) = server(&[]);
    for version in [0x0300, 0x0301, 0x0302] {
        let session = TlsSession::new(
            Arc::clone(&config),
            Arc::new(TlsSettings::default()),
            EchoSession,
        )
        .unwrap();
        let mut h = Harness::new(session);
        h.open();
        assert_eq!(h.input(&old_client_hello(version)).flow, Flow::Close);
        let out = h.take_output();
        // A fatal alert record (type 21, level 2): protocol_version (70), or handshake_failure
        // (40) when nothing in the hello is acceptable.
        assert_eq!(out.first(), Some(&21), "{version:#x}: {out:?}");
        assert_eq!(out[5], 2, "{version:#x}: {out:?}");
        assert!([70, 40].contains(&out[6]), "{version:#x}: {out:?}");
        assert_eq!(h.stats().tls_handshakes_failed.get(), 1);
    }
}

#[test]
fn a_record_over_the_limit_is_refused() {
    let (config, cert) = server(&[]);
    let mut p = Pair::new(config, &cert, EchoSession);
    p.handshake();
    // An application-data record claiming 16 KiB + 2049 bytes (one past what TLS allows).
    let len = (16 * 1024 + 2049) as u16;
    let mut record = vec![23, 3, 3];
    record.extend_from_slice(&len.to_be_bytes());
    record.resize(5 + usize::from(len), 0);
    let flow = p.h.input_in_pieces(&record, &[]);
    assert_eq!(flow, Flow::Close);
    let out = p.h.take_output();
    assert_eq!(
        out.first(),
        Some(&23),
        "the alert is encrypted after the handshake"
    );
}

#[test]
fn inner_close_sends_close_notify_and_peer_close_notify_is_eof() {
    let (config, cert) = server(&[]);
    let recorder = Recorder::default();
    let mut p = Pair::new(config, &cert, recorder.clone());
    p.handshake();
    p.client.send_close_notify();
    assert_eq!(p.up(&[]), Flow::Close);
    assert!(*recorder.eof.borrow());
    p.down().unwrap();
    assert!(p.client.process_new_packets().unwrap().peer_has_closed());
}

#[test]
fn tcp_eof_without_close_notify_is_eof_too() {
    let (config, cert) = server(&[]);
    let recorder = Recorder::default();
    let mut p = Pair::new(config, &cert, recorder.clone());
    p.handshake();
    p.send(b"last words");
    let bytes = p.client_bytes();
    assert_eq!(p.h.eof(&bytes), Flow::Close);
    assert_eq!(&*recorder.seen.borrow(), b"last words");
    assert!(*recorder.eof.borrow());
}

#[test]
fn decrypting_stops_while_output_is_over_the_limit() {
    let (config, cert) = server(&[]);
    let mut p = Pair::new(config, &cert, EchoSession);
    p.handshake();
    let max = TlsSettings::default().max_pending;
    let chunk = vec![b'x'; 16 * 1024];
    for _ in 0..(4 * max / chunk.len()) {
        p.send(&chunk);
    }
    let bytes = p.client_bytes();
    // Output is never taken (a client that does not read): the server stops decrypting.
    let step = p.h.input(&bytes);
    assert_eq!(step.flow, Flow::Continue);
    assert!(step.consumed < bytes.len());
    let pending = p.h.output().len();
    assert!(
        pending >= max && pending < max + 2 * MAX_RECORD,
        "{pending}"
    );
    // Once the output is taken, the rest is decrypted and echoed.
    let mut echoed = 0;
    for _ in 0..100 {
        p.down().unwrap();
        echoed = p.received.len();
        if p.h.pending_input().is_empty() {
            break;
        }
        assert_eq!(p.h.drain(), Flow::Continue);
    }
    p.down().unwrap();
    assert!(echoed <= p.received.len());
    assert_eq!(p.received.len(), 4 * max / chunk.len() * chunk.len());
}

#[test]
fn broadcasts_are_encrypted_and_wait_for_the_handshake() {
    let (config, cert) = server(&[]);
    let mut p = Pair::new(
        config,
        &cert,
        ChatSession::new("127.0.0.1:40000".parse().unwrap(), 1024),
    );
    assert_eq!(p.h.deliver(b"too early\n"), Flow::Continue);
    assert!(
        p.h.output().is_empty(),
        "not in the room before the handshake"
    );
    p.handshake();
    assert!(
        String::from_utf8(p.h.take_broadcast())
            .unwrap()
            .contains("joined"),
        "the join notice is sent once the handshake is done"
    );
    assert_eq!(p.h.deliver(b"hello room\n"), Flow::Continue);
    p.down().unwrap();
    assert_eq!(p.received, b"hello room\n");
}

#[test]
fn a_second_connection_resumes() {
    let (config, cert) = server(&[]);
    let client = client(&cert);
    let mut first = Pair::with_client(Arc::clone(&config), Arc::clone(&client), EchoSession);
    first.handshake();
    // TLS 1.3 tickets follow the handshake: let the client read them.
    first.send(b"x");
    first.up(&[]);
    first.down().unwrap();
    let mut second = Pair::with_client(config, client, EchoSession);
    second.handshake();
    assert_eq!(
        second.h.session.connection().handshake_kind(),
        Some(rustls::HandshakeKind::Resumed)
    );
    assert_eq!(second.h.stats().tls_handshakes_resumed.get(), 1);
}

#[test]
fn sni_selects_the_certificate_for_the_name() {
    let provider = rustls::crypto::aws_lc_rs::default_provider();
    let make = |name: &str| {
        let made = rcgen::generate_simple_self_signed(vec![name.to_string()]).unwrap();
        let key =
            rustls::pki_types::PrivateKeyDer::try_from(made.signing_key.serialize_der()).unwrap();
        rustls::sign::CertifiedKey::from_der(vec![made.cert.der().clone()], key, &provider).unwrap()
    };
    let (a, b) = (make("a.test"), make("b.test"));
    let (a_der, b_der) = (a.cert[0].clone(), b.cert[0].clone());
    let store = CertStore::new(vec![a, b]);
    assert_eq!(store.select(Some("b.test")).unwrap().cert[0], b_der);
    assert_eq!(store.select(Some("a.test")).unwrap().cert[0], a_der);
    assert_eq!(
        store.select(Some("c.test")).unwrap().cert[0],
        a_der,
        "default"
    );
    assert_eq!(store.select(None).unwrap().cert[0], a_der, "no SNI");
}

#[test]
fn only_a_member_that_joined_leaves() {
    let (config, cert) = server(&[]);
    let peer = "127.0.0.1:40000".parse().unwrap();
    let mut never = Pair::new(Arc::clone(&config), &cert, ChatSession::new(peer, 1024));
    never.up(&[]);
    never.h.close();
    assert!(
        never.h.take_broadcast().is_empty(),
        "no leave notice without a join"
    );
    let mut member = Pair::new(config, &cert, ChatSession::new(peer, 1024));
    member.handshake();
    member.h.take_broadcast();
    member.h.close();
    let notice = String::from_utf8(member.h.take_broadcast()).unwrap();
    assert!(notice.contains("left"), "{notice}");
}

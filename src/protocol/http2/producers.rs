//! Answers without an end: streams written on a timer (`/events`), and how they end.
//!
//! Most answers are written at once, or as the request body arrives. An event stream is
//! written by its producer (`multiplexed.rs`'s [`Producer`]) each time its own timer fires,
//! for as long as the client keeps the stream. The reactor gives a connection one deadline
//! ([`Ctx::set_deadline`]); a connection with several such streams asks for the earliest of
//! their timers ([`H2Session::schedule`]), and when it passes, every stream whose timer is
//! due gets its turn ([`H2Session::tick`]). The reactor's idle timeout still applies beside
//! it: `on_timeout` tells the two apart by whether a stream's timer is due.
//!
//! What a producer writes goes to its stream's buffer and out as DATA within the stream's
//! flow-control window, like any answer. A client that grants no window, or stops reading
//! the connection, leaves it in that buffer: the producer sees it as its pending output and
//! skips ticks past its bound (an event stream's `MAX_PENDING`, counted in `sse_skipped`),
//! so each such stream holds a bounded backlog however long the client stalls.
//!
//! A producer ends with its stream: RST_STREAM from the client, or any end of the
//! connection, closes it ([`StreamExchange::finish`]). When the connection is going away
//! (our GOAWAY on a graceful stop, the client's GOAWAY, or its end of input), nobody will
//! open the stream again on this connection, so instead of running until the drain
//! timeout cuts it, each producer is stopped ([`H2Session::end_producers`]): its backlog
//! goes out, then END_STREAM, and the connection closes once its streams are done.
//!
//! [`Producer`]: crate::protocol::http::multiplexed::Producer
//! [`StreamExchange::finish`]: crate::protocol::http::multiplexed::StreamExchange::finish

use crate::protocol::http::multiplexed::Answer;
use crate::session::Ctx;

use super::conn::H2Session;

impl H2Session {
    /// Asks the reactor for the earliest stream timer. A connection that never had one
    /// leaves the deadline alone (a TLS wrapper may use it while it handshakes).
    pub(super) fn schedule(&mut self, cx: &mut Ctx<'_>) {
        let next = self
            .streams
            .iter()
            .filter_map(|s| s.exchange.as_ref()?.next_tick())
            .min();
        if next.is_some() || self.ticking {
            cx.set_deadline(next);
            self.ticking = next.is_some();
        }
    }

    /// Gives every stream whose timer is due its turn; returns whether any was due (if
    /// none, the timeout that woke the connection is the reactor's idle one).
    pub(super) fn tick(&mut self, cx: &mut Ctx<'_>) -> bool {
        let now = cx.now();
        let mut due = false;
        for stream in &mut self.streams {
            let next = stream.exchange.as_ref().and_then(|e| e.next_tick());
            if next.is_none_or(|t| t > now) {
                continue;
            }
            due = true;
            stream.compact();
            let Some(exchange) = &mut stream.exchange else {
                continue;
            };
            if !exchange.tick(cx, &mut stream.out, stream.sent) {
                stream.answer(Answer::Complete);
            }
        }
        due
    }

    /// Stops every producer: the connection is going away, so its unending answers end
    /// with what they have written (see the module's docs).
    pub(super) fn end_producers(&mut self, cx: &mut Ctx<'_>) {
        for stream in &mut self.streams {
            if !stream.exchange.as_ref().is_some_and(|e| e.producing()) {
                continue;
            }
            stream.compact();
            if let Some(exchange) = &mut stream.exchange {
                exchange.stop_producing(cx, &mut stream.out, stream.sent);
            }
            stream.answer(Answer::Complete);
        }
    }
}

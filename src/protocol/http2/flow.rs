//! Flow control (RFC 9113 §5.2, §6.9): how many DATA bytes each side may still send.
//!
//! HTTP/2 multiplexes many streams over one TCP connection, so TCP's own backpressure is not
//! enough: a stream whose reader is slow would otherwise fill every buffer on the way and
//! hold up its neighbours. Each receiver therefore grants the sender a *window* of bytes, per
//! stream and for the connection as a whole; DATA frames spend both, and `WINDOW_UPDATE`
//! frames grant more. Only DATA counts; HEADERS and control frames are never held back.
//!
//! Two halves, one per direction:
//!
//! - [`SendWindow`]: what the peer lets us send. Spent by our DATA, grown by the peer's
//!   `WINDOW_UPDATE`, and shifted (possibly below zero) when the peer changes
//!   `SETTINGS_INITIAL_WINDOW_SIZE` for every open stream (§6.9.2).
//! - [`RecvWindow`]: what we let the peer send. Spent by the peer's DATA (a frame over it is
//!   a `FLOW_CONTROL_ERROR`), and re-granted with a `WINDOW_UPDATE` only as the bytes are
//!   *consumed* by the application. That is the point: a stream whose request body goes
//!   into a handler that cannot keep up stops being granted room, and the peer stops sending
//!   on that stream only. Updates are batched: one is owed only once half the window has
//!   been consumed, so a stream of small frames does not cost one update each.
//!
//! Windows are `i64` inside so that arithmetic never overflows; the protocol's bound, 2^31-1,
//! is checked where a peer can push past it.

/// The largest window RFC 9113 allows (§6.9.1): 2^31-1.
pub(crate) const MAX_WINDOW: i64 = (1 << 31) - 1;

/// The window every connection and stream starts with before SETTINGS say otherwise (§6.9.2).
pub(crate) const DEFAULT_WINDOW: u32 = 65_535;

/// A window update that would take a window past [`MAX_WINDOW`] (§6.9.1): a
/// `FLOW_CONTROL_ERROR`, for the stream or the connection it names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct WindowOverflow;

/// What the peer lets us send, on one stream or on the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SendWindow(i64);

impl SendWindow {
    /// A window of `initial` bytes.
    pub(crate) fn new(initial: u32) -> SendWindow {
        SendWindow(i64::from(initial))
    }

    /// Bytes we may send now (0 while the window is empty or negative).
    pub(crate) fn available(self) -> usize {
        usize::try_from(self.0.max(0)).unwrap_or(usize::MAX)
    }

    /// The window as it stands, which may be negative after a SETTINGS change.
    #[cfg(test)]
    pub(crate) fn get(self) -> i64 {
        self.0
    }

    /// Spends `n` bytes of DATA we sent; the caller sent no more than [`available`](Self::available).
    pub(crate) fn spend(&mut self, n: usize) {
        self.0 -= i64::try_from(n).unwrap_or(i64::MAX);
    }

    /// The peer's `WINDOW_UPDATE` of `increment` (already known to be non-zero).
    pub(crate) fn grow(&mut self, increment: u32) -> Result<(), WindowOverflow> {
        let grown = self.0 + i64::from(increment);
        if grown > MAX_WINDOW {
            return Err(WindowOverflow);
        }
        self.0 = grown;
        Ok(())
    }

    /// The peer changed `SETTINGS_INITIAL_WINDOW_SIZE` from `old` to `new`: every stream's
    /// window moves by the difference, down to below zero if need be (§6.9.2).
    pub(crate) fn shift(&mut self, old: u32, new: u32) -> Result<(), WindowOverflow> {
        let shifted = self.0 + i64::from(new) - i64::from(old);
        if shifted > MAX_WINDOW {
            return Err(WindowOverflow);
        }
        self.0 = shifted;
        Ok(())
    }
}

/// What we let the peer send, on one stream or on the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RecvWindow {
    /// Bytes the peer may still send.
    open: i64,
    /// The window we aim to keep granted.
    target: u32,
    /// Bytes received and consumed, not yet granted back.
    consumed: u32,
}

/// The peer sent more DATA than its window allowed: a `FLOW_CONTROL_ERROR`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct WindowExceeded;

impl RecvWindow {
    /// A window that starts at `initial` (what the peer assumes until it has our SETTINGS,
    /// or the protocol default for the connection) and that we keep near `target`.
    pub(crate) fn new(initial: u32, target: u32) -> RecvWindow {
        RecvWindow {
            open: i64::from(initial),
            target,
            consumed: 0,
        }
    }

    /// Bytes the peer may still send.
    #[cfg(test)]
    pub(crate) fn open(self) -> i64 {
        self.open
    }

    /// A DATA frame of `n` bytes (padding included) arrived.
    pub(crate) fn receive(&mut self, n: u32) -> Result<(), WindowExceeded> {
        if i64::from(n) > self.open {
            return Err(WindowExceeded);
        }
        self.open -= i64::from(n);
        Ok(())
    }

    /// `n` received bytes were consumed (or discarded): they may be granted back.
    pub(crate) fn consume(&mut self, n: u32) {
        self.consumed = self.consumed.saturating_add(n);
    }

    /// The increment to send in a `WINDOW_UPDATE` now, if one is due: once the window has
    /// fallen to half its target or less, every consumed byte is granted back at once. The
    /// grant is counted as sent.
    pub(crate) fn update_due(&mut self) -> Option<u32> {
        if self.consumed == 0 || self.open > i64::from(self.target) / 2 {
            return None;
        }
        let grant = i64::from(self.consumed).min(MAX_WINDOW - self.open);
        let grant = u32::try_from(grant).ok().filter(|&g| g > 0)?;
        self.open += i64::from(grant);
        self.consumed -= grant;
        Some(grant)
    }

    /// Raises the target (the connection window, enlarged past the protocol's 64 KiB
    /// default right after the preface): the difference is owed at once.
    pub(crate) fn enlarge(&mut self, target: u32) -> Option<u32> {
        let grant = i64::from(target) - self.open;
        self.target = target;
        let grant = u32::try_from(grant.min(MAX_WINDOW - self.open)).ok()?;
        if grant == 0 {
            return None;
        }
        self.open += i64::from(grant);
        Some(grant)
    }

    /// Our `SETTINGS_INITIAL_WINDOW_SIZE` changed from `old` to `new` (acknowledged by the
    /// peer): a stream window moves by the difference, as the peer's view of it does.
    #[cfg(test)]
    pub(crate) fn shift(&mut self, old: u32, new: u32) {
        self.open += i64::from(new) - i64::from(old);
        self.target = new;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_send_window_is_spent_grown_and_shifted_below_zero() {
        let mut w = SendWindow::new(DEFAULT_WINDOW);
        w.spend(65_535);
        assert_eq!(w.available(), 0);
        w.grow(10).unwrap();
        assert_eq!(w.available(), 10);
        // The peer shrinks the initial window by 100: the stream owes 90 bytes.
        w.shift(65_535, 65_435).unwrap();
        assert_eq!(w.get(), -90);
        assert_eq!(w.available(), 0);
        w.grow(100).unwrap();
        assert_eq!(w.available(), 10);
    }

    #[test]
    fn a_send_window_refuses_one_past_the_maximum() {
        let mut w = SendWindow::new(0);
        w.grow(u32::try_from(MAX_WINDOW).unwrap()).unwrap();
        assert_eq!(w.grow(1), Err(WindowOverflow));
        let mut w = SendWindow::new(DEFAULT_WINDOW);
        assert_eq!(
            w.shift(0, u32::try_from(MAX_WINDOW).unwrap()),
            Err(WindowOverflow)
        );
        assert_eq!(w.get(), i64::from(DEFAULT_WINDOW));
    }

    #[test]
    fn a_recv_window_refuses_one_byte_over() {
        let mut w = RecvWindow::new(100, 100);
        w.receive(60).unwrap();
        assert_eq!(w.receive(41), Err(WindowExceeded));
        w.receive(40).unwrap();
        assert_eq!(w.receive(1), Err(WindowExceeded));
        assert_eq!(w.open(), 0);
    }

    #[test]
    fn updates_are_owed_only_for_consumed_bytes_once_half_is_used() {
        let mut w = RecvWindow::new(100, 100);
        w.receive(40).unwrap();
        w.consume(40);
        assert_eq!(w.update_due(), None, "60 left: above half");
        w.receive(20).unwrap();
        assert_eq!(
            w.update_due(),
            Some(40),
            "40 left: the 40 consumed come back"
        );
        w.consume(20);
        assert_eq!(w.update_due(), None, "80 open: above half");
        w.receive(40).unwrap();
        assert_eq!(w.update_due(), Some(20), "only what was consumed");
        assert_eq!(w.open(), 60);
    }

    #[test]
    fn bytes_held_by_a_slow_consumer_are_not_granted_back() {
        let mut w = RecvWindow::new(100, 100);
        w.receive(100).unwrap();
        w.consume(30);
        assert_eq!(w.update_due(), Some(30));
        assert_eq!(w.open(), 30);
        assert_eq!(w.receive(31), Err(WindowExceeded));
    }

    #[test]
    fn the_connection_window_is_enlarged_once() {
        let mut w = RecvWindow::new(DEFAULT_WINDOW, DEFAULT_WINDOW);
        assert_eq!(w.enlarge(1 << 20), Some((1 << 20) - 65_535));
        assert_eq!(w.open(), 1 << 20);
        assert_eq!(w.enlarge(1 << 20), None);
    }

    #[test]
    fn a_settings_change_shifts_a_recv_window() {
        let mut w = RecvWindow::new(DEFAULT_WINDOW, DEFAULT_WINDOW);
        w.receive(1000).unwrap();
        w.shift(DEFAULT_WINDOW, 1 << 20);
        assert_eq!(w.open(), (1 << 20) - 1000);
    }
}

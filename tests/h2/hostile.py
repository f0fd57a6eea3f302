"""Hostile HTTP/2 clients against evserve, one case per run: tests/http2.rs runs each.

Python's `h2` (a sans-IO HTTP/2 written independently of evserve) makes the connection
preface and SETTINGS and checks that a normal exchange works; the attacks themselves are
raw frames built with `hyperframe` and `hpack` (h2's own framing and compression
libraries), since `h2` refuses to send what they send. Each case prints `ok: ...` and exits
0 when the server answered as RFC 9113 and our limits say, or exits 1 saying what came.

usage: hostile.py CASE HOST:PORT
"""

import json
import socket
import sys
import threading
import time

import h2.config
import h2.connection
import h2.events
from hpack import Encoder
from hyperframe.frame import (
    ContinuationFrame,
    DataFrame,
    Frame,
    GoAwayFrame,
    HeadersFrame,
    PingFrame,
    RstStreamFrame,
    SettingsFrame,
)

PROTOCOL_ERROR = 0x1
FLOW_CONTROL_ERROR = 0x3
REFUSED_STREAM = 0x7
COMPRESSION_ERROR = 0x9
ENHANCE_YOUR_CALM = 0xB
TIMEOUT = 20


def connect(addr, rcvbuf=None):
    host, port = addr.rsplit(":", 1)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.settimeout(TIMEOUT)
    sock.connect((host, int(port)))
    return sock


def handshake(addr, rcvbuf=None):
    """A connection past the preface and SETTINGS, made by h2; returns (socket, encoder)."""
    sock = connect(addr, rcvbuf)
    conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
    conn.initiate_connection()
    sock.sendall(conn.data_to_send())
    acked = False
    while not acked:
        data = sock.recv(65536)
        if not data:
            fail("closed during the handshake")
        for event in conn.receive_data(data):
            if isinstance(event, h2.events.SettingsAcknowledged):
                acked = True
        sock.sendall(conn.data_to_send())
    return sock, Encoder()


def headers(encoder, stream, method="GET", path="/plain", end_stream=True, extra=()):
    fields = [
        (":method", method),
        (":scheme", "http"),
        (":path", path),
        (":authority", "localhost"),
    ] + list(extra)
    frame = HeadersFrame(stream)
    frame.data = encoder.encode(fields)
    frame.flags.add("END_HEADERS")
    if end_stream:
        frame.flags.add("END_STREAM")
    return frame.serialize()


def split_frames(buf):
    """The whole frames at the start of `buf`, and the bytes after them."""
    whole = []
    while len(buf) >= 9:
        frame, length = Frame.parse_frame_header(memoryview(buf[:9]))
        if len(buf) < 9 + length:
            break
        frame.parse_body(memoryview(buf[9 : 9 + length]))
        buf = buf[9 + length :]
        whole.append(frame)
    return whole, buf


def frames(sock):
    """Yields the server's frames until it closes the connection."""
    buf = b""
    while True:
        whole, buf = split_frames(buf)
        yield from whole
        try:
            data = sock.recv(65536)
        except (ConnectionResetError, socket.timeout):
            return
        if not data:
            return
        buf += data


def expect_goaway(sock, code, what):
    for frame in frames(sock):
        if isinstance(frame, GoAwayFrame):
            if frame.error_code != code:
                fail(f"{what}: GOAWAY with code {frame.error_code:#x}, wanted {code:#x}")
            print(f"ok: {what}: GOAWAY {code:#x}, last stream {frame.last_stream_id}")
            return
    fail(f"{what}: the connection ended without GOAWAY")


def expect_reset(sock, stream, code, what):
    for frame in frames(sock):
        if isinstance(frame, RstStreamFrame) and frame.stream_id == stream:
            if frame.error_code != code:
                fail(f"{what}: RST_STREAM code {frame.error_code:#x}, wanted {code:#x}")
            print(f"ok: {what}: RST_STREAM {code:#x} on stream {stream}")
            return
        if isinstance(frame, GoAwayFrame):
            fail(f"{what}: GOAWAY {frame.error_code:#x} where a stream reset was due")
    fail(f"{what}: no RST_STREAM on stream {stream}")


def send_quietly(sock, data):
    """Sends what the server lets through: it may close before reading it all."""
    try:
        sock.sendall(data)
    except OSError:
        pass


def fail(message):
    print(f"FAIL: {message}", file=sys.stderr)
    sys.exit(1)


def bad_preface(addr):
    sock = connect(addr)
    sock.sendall(b"PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n")
    expect_goaway(sock, PROTOCOL_ERROR, "a wrong preface")


def normal(addr):
    """h2 alone, as a well-behaved client: two requests on one connection."""
    sock = connect(addr)
    conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
    conn.initiate_connection()
    for stream in (1, 3):
        conn.send_headers(
            stream,
            [(":method", "GET"), (":scheme", "http"), (":path", "/plain"), (":authority", "x")],
            end_stream=True,
        )
    sock.sendall(conn.data_to_send())
    bodies = {1: b"", 3: b""}
    ended = set()
    while len(ended) < 2:
        data = sock.recv(65536)
        if not data:
            fail("closed before both answers")
        for event in conn.receive_data(data):
            if isinstance(event, h2.events.DataReceived):
                bodies[event.stream_id] += event.data
                conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
            if isinstance(event, h2.events.StreamEnded):
                ended.add(event.stream_id)
        sock.sendall(conn.data_to_send())
    if bodies != {1: b"Hello, World!", 3: b"Hello, World!"}:
        fail(f"bodies {bodies}")
    print("ok: two answers on one connection")


def events(addr):
    """Two /events streams (Server-Sent Events) on one connection, each a long stream of
    DATA; an ordinary request beside them; one reset by us while the other goes on."""
    sock = connect(addr)
    conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
    conn.initiate_connection()

    def get(stream, path):
        fields = [(":method", "GET"), (":scheme", "http"), (":path", path), (":authority", addr)]
        conn.send_headers(stream, fields, end_stream=True)
        sock.sendall(conn.data_to_send())

    bodies = {}
    ended = set()

    def read_until(done, what):
        """Reads frames until done() holds, at most TIMEOUT seconds (the socket's)."""
        while not done():
            data = sock.recv(65536)
            if not data:
                fail(f"closed while waiting for {what}")
            for event in conn.receive_data(data):
                if isinstance(event, h2.events.DataReceived):
                    bodies[event.stream_id] = bodies.get(event.stream_id, b"") + event.data
                    conn.acknowledge_received_data(
                        event.flow_controlled_length, event.stream_id
                    )
                elif isinstance(event, h2.events.StreamEnded):
                    ended.add(event.stream_id)
                elif isinstance(event, (h2.events.StreamReset, h2.events.ConnectionTerminated)):
                    fail(f"{event} while waiting for {what}")
            sock.sendall(conn.data_to_send())

    def count(stream):
        return bodies.get(stream, b"").count(b"data: {")

    get(1, "/events")
    get(3, "/events")
    read_until(lambda: count(1) >= 2 and count(3) >= 2, "two events on streams 1 and 3")
    if ended & {1, 3}:
        fail(f"an event stream ended: {ended}")
    get(5, "/plain")
    read_until(lambda: 5 in ended, "/plain beside the event streams")
    if bodies.get(5) != b"Hello, World!":
        fail(f"/plain: {bodies.get(5)!r}")
    conn.reset_stream(1)
    sock.sendall(conn.data_to_send())
    seen = count(3)
    read_until(lambda: count(3) > seen, "an event on stream 3 after stream 1 was reset")
    get(7, "/stats")
    read_until(lambda: 7 in ended, "/stats")
    if json.loads(bodies.get(7, b"{}")).get("sse_open") != 1:
        fail(f"the reset stream is still open on the server: {bodies.get(7)!r}")
    if 3 in ended:
        fail("stream 3 ended")
    print(f"ok: events on two streams ({count(1)} and {count(3)}), a request beside them, a reset")


def refused_stream(addr, limit):
    sock, enc = handshake(addr)
    data = b"".join(
        headers(enc, 1 + 2 * i, "POST", "/echo", end_stream=False) for i in range(limit + 1)
    )
    sock.sendall(data)
    expect_reset(sock, 1 + 2 * limit, REFUSED_STREAM, f"stream {limit + 1} of {limit}")


def flow_control(addr, window):
    sock, enc = handshake(addr)
    data = DataFrame(1)
    data.data = b"x" * (window + 1)
    sock.sendall(headers(enc, 1, "POST", "/echo", end_stream=False) + data.serialize())
    expect_reset(sock, 1, FLOW_CONTROL_ERROR, f"{window + 1} bytes in a window of {window}")


def continuation_flood(addr):
    sock, enc = handshake(addr)
    first = HeadersFrame(1)
    first.data = enc.encode([(":method", "GET"), (":scheme", "http"), (":path", "/plain")])
    flood = b"".join(ContinuationFrame(1).serialize() for _ in range(10_000))
    threading.Thread(
        target=send_quietly, args=(sock, first.serialize() + flood), daemon=True
    ).start()
    expect_goaway(sock, ENHANCE_YOUR_CALM, "10,000 CONTINUATION frames")


def rapid_reset(addr):
    sock, enc = handshake(addr)
    burst = b""
    for i in range(1000):
        stream = 1 + 2 * i
        burst += headers(enc, stream, "POST", "/echo", end_stream=False)
        burst += RstStreamFrame(stream, error_code=0x8).serialize()
    threading.Thread(target=send_quietly, args=(sock, burst), daemon=True).start()
    expect_goaway(sock, ENHANCE_YOUR_CALM, "1,000 HEADERS + RST_STREAM")


def control_flood(addr, kind):
    # A small receive buffer and no reading: the acknowledgements pile up at the server.
    sock, _ = handshake(addr, rcvbuf=4096)
    if kind == "ping":
        one = PingFrame(0, opaque_data=b"12345678").serialize()
    else:
        one = SettingsFrame(0).serialize()
    flood = one * 200_000
    sender = threading.Thread(target=send_quietly, args=(sock, flood), daemon=True)
    sender.start()
    sender.join(TIMEOUT)
    # Past the limit the server sends GOAWAY (the limit tripped within one read), or, when
    # its earlier answers were already waiting unread, drops the connection at once: a
    # GOAWAY queued behind them would never be read either. Either way it ends; a
    # connection still open at the timeout fails.
    what = f"200,000 {kind} frames unread"
    buf = b""
    while True:
        whole, buf = split_frames(buf)
        for frame in whole:
            if isinstance(frame, GoAwayFrame):
                if frame.error_code != ENHANCE_YOUR_CALM:
                    fail(f"{what}: GOAWAY with code {frame.error_code:#x}")
                print(f"ok: {what}: GOAWAY {ENHANCE_YOUR_CALM:#x}")
                return
        try:
            data = sock.recv(65536)
        except ConnectionResetError:
            print(f"ok: {what}: dropped")
            return
        except socket.timeout:
            fail(f"{what}: the connection is still open")
        if not data:
            print(f"ok: {what}: closed without GOAWAY")
            return
        buf += data


def hpack_bomb(addr):
    sock, enc = handshake(addr)
    big = ("x-bomb", "v" * 4000)
    # The first copy is added to the table; the 40 others are one-byte references to it:
    # 160 KB of fields from a block of about 4 KB.
    sock.sendall(headers(enc, 1, extra=[big] * 41))
    for frame in frames(sock):
        if isinstance(frame, GoAwayFrame):
            if frame.error_code != COMPRESSION_ERROR:
                fail(f"an HPACK bomb: GOAWAY {frame.error_code:#x}")
            print("ok: an HPACK bomb: GOAWAY COMPRESSION_ERROR")
            return
        if isinstance(frame, HeadersFrame) and frame.stream_id == 1:
            print("ok: an HPACK bomb: answered (a 431)")
            return
    fail("an HPACK bomb: neither GOAWAY nor an answer")


def shut_window(addr):
    """A window kept shut while PINGs keep bytes moving both ways: the answer is never
    taken, so the minimum-rate window ends the connection with GOAWAY (the server runs
    with a short --rate-window); before, the PINGs kept it open for good."""
    sock = connect(addr)
    enc = Encoder()
    out = bytearray(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
    out += SettingsFrame(0, settings={SettingsFrame.INITIAL_WINDOW_SIZE: 0}).serialize()
    out += headers(enc, 1)
    sock.sendall(out)
    sock.settimeout(0.1)
    ping = PingFrame(0, opaque_data=b"keepopen").serialize()
    pongs, goaway, buf = 0, None, b""
    deadline = time.monotonic() + TIMEOUT
    next_ping = 0
    while True:
        now = time.monotonic()
        if now > deadline:
            fail(f"a shut window kept open by PINGs: still open after {TIMEOUT} s, {pongs} PINGs answered")
        if goaway is None and now >= next_ping:
            # Ten a second: far from a flood, and enough to keep any idle timeout away.
            send_quietly(sock, ping)
            next_ping = now + 0.1
        try:
            data = sock.recv(65536)
        except socket.timeout:
            continue
        except ConnectionResetError:
            break
        if not data:
            break
        whole, buf = split_frames(buf + data)
        for frame in whole:
            if isinstance(frame, PingFrame) and "ACK" in frame.flags:
                pongs += 1
            elif isinstance(frame, DataFrame) and frame.data:
                fail(f"a shut window: {len(frame.data)} DATA bytes sent past a window of 0")
            elif isinstance(frame, GoAwayFrame) and goaway is None:
                goaway = frame.error_code
    if pongs == 0:
        fail("a shut window: no PING answered, so the test proved nothing")
    if goaway is None:
        fail("a shut window: closed without GOAWAY")
    print(f"ok: a shut window kept open by PINGs: GOAWAY {goaway:#x} after {pongs} PINGs answered")


def main():
    case, addr = sys.argv[1], sys.argv[2]
    cases = {
        "normal": lambda: normal(addr),
        "events": lambda: events(addr),
        "bad_preface": lambda: bad_preface(addr),
        "refused_stream": lambda: refused_stream(addr, int(sys.argv[3])),
        "flow_control": lambda: flow_control(addr, int(sys.argv[3])),
        "continuation_flood": lambda: continuation_flood(addr),
        "rapid_reset": lambda: rapid_reset(addr),
        "ping_flood": lambda: control_flood(addr, "ping"),
        "settings_flood": lambda: control_flood(addr, "settings"),
        "hpack_bomb": lambda: hpack_bomb(addr),
        "shut_window": lambda: shut_window(addr),
    }
    cases[case]()


if __name__ == "__main__":
    main()

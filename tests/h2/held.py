"""Clients that ask for answers and never open a window for them, for tests/h2_memory.rs.

Each of CONNS connections sends the preface, SETTINGS_INITIAL_WINDOW_SIZE = 0 and STREAMS
requests for PATH, then reads (and discards) whatever comes, never sending WINDOW_UPDATE:
the server keeps every answer body until the client closes. Frames are built with
`hyperframe` and `hpack` (Python `h2`'s own libraries), since `h2` itself sends its window
updates. Prints `sent` once all requests are out, then holds the connections until stdin
closes.

usage: held.py HOST:PORT PATH CONNS STREAMS
"""

import socket
import sys
import threading

from hpack import Encoder
from hyperframe.frame import HeadersFrame, SettingsFrame

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"


def discard(sock):
    try:
        while sock.recv(65536):
            pass
    except OSError:
        pass


def main():
    addr, path, conns, streams = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    host, port = addr.rsplit(":", 1)
    socks = []
    for _ in range(conns):
        sock = socket.create_connection((host, int(port)), timeout=20)
        encoder = Encoder()
        out = bytearray(PREFACE)
        out += SettingsFrame(0, settings={SettingsFrame.INITIAL_WINDOW_SIZE: 0}).serialize()
        for k in range(streams):
            frame = HeadersFrame(2 * k + 1)
            frame.data = encoder.encode(
                [(":method", "GET"), (":scheme", "http"), (":path", path),
                 (":authority", "localhost")]
            )
            frame.flags.add("END_HEADERS")
            frame.flags.add("END_STREAM")
            out += frame.serialize()
        sock.sendall(out)
        threading.Thread(target=discard, args=(sock,), daemon=True).start()
        socks.append(sock)
    print("sent", flush=True)
    sys.stdin.read()
    for sock in socks:
        sock.close()


if __name__ == "__main__":
    main()

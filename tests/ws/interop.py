"""Python's `websockets` library against evserve's /ws/echo and /ws/chat.

Usage: interop.py HTTP_ADDR CHAT_ADDR. Prints "interop ok" and exits 0 when every check
passed; any failure raises (exit 1) with a traceback saying which.
"""
import asyncio
import socket
import sys

import websockets


async def main(http, chat):
    async with websockets.connect(f"ws://{http}/ws/echo", max_size=2**20) as ws:
        await ws.send("héllo")
        assert await ws.recv() == "héllo"
        await ws.send(b"\x00\xff" * 300)  # binary, 600 bytes: a 16-bit length
        assert await ws.recv() == b"\x00\xff" * 300
        await ws.send(["frag", "ment", "é"])  # one message in three frames
        assert await ws.recv() == "fragmenté"
        pong = await ws.ping(b"are you there")
        await asyncio.wait_for(pong, 5)
    # Over the limit (1000 bytes, set by the test): closed with 1009.
    async with websockets.connect(f"ws://{http}/ws/echo") as ws:
        await ws.send("x" * 1001)
        try:
            await asyncio.wait_for(ws.recv(), 5)
            raise AssertionError("a message over the limit was echoed")
        except websockets.ConnectionClosed as e:
            assert e.rcvd is not None and e.rcvd.code == 1009, e
    # The chat room, shared with a raw TCP client.
    tcp = socket.create_connection(chat.rsplit(":", 1))
    tcp.settimeout(10)
    lines = tcp.makefile("rb")
    async with websockets.connect(f"ws://{http}/ws/chat") as ws:
        assert lines.readline().endswith(b" joined\n")
        await ws.send("from python")
        assert lines.readline().endswith(b": from python\n")
        tcp.sendall(b"from tcp\n")
        got = await asyncio.wait_for(ws.recv(), 5)
        assert got.endswith(": from tcp"), got
    assert lines.readline().endswith(b" left\n")
    print("interop ok")


asyncio.run(main(sys.argv[1], sys.argv[2]))

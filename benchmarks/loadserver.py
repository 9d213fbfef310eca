"""
The load server in Python, for machines without Node: the same protocol as C{loadserver.js}.

One asyncio port on 127.0.0.1 serves the Web API (C{/<workload>/<n>/api/<method>}), the
C{/stats} counters and the WebSocket (C{/ws/<workload>/<n>/<ticket>}). Events are pre-built
frames written in large slices under asyncio's flow control; incoming frames are parsed with
a plain header loop. It is lean, but slower than the Node one: the null client's row in the
report says how far it goes on the machine at hand.

Usage: python loadserver.py [--port 0]   (prints C{LISTENING <port>} once it listens)
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import json
import os
import re
import struct
from typing import Any

HOST = "127.0.0.1"
GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
RING_FRAMES = 4096
SLICE_FRAMES = 256
#: The largest HTTP request head accepted.
MAX_HEAD = 64 * 1024
API = re.compile(r"^/([a-z0-9_]+)/(\d+)/api/([A-Za-z0-9_.]+)$")
WS = re.compile(r"^/ws/([a-z0-9_]+)/(\d+)/[A-Za-z0-9]+$")


def event_json(i: int) -> str:
    """One Slack-like message event of fixed length, as in loadserver.js."""
    n7 = f"{i % 10_000_000:07d}"
    n6 = f"{i % 1_000_000:06d}"
    return (
        f'{{"client_msg_id":"3f0bd1a2-5c7e-4b8a-9d21-{i:012d}","type":"message",'
        f'"text":"Deploy of build {n7} finished: all 1,204 tests passed; artefacts are on the '
        f'share.","user":"U061F7AUR","ts":"1700000000.{n6}","team":"T061EG9R6","blocks":[],'
        f'"channel":"C012AB3CD","event_ts":"1700000000.{n6}","channel_type":"channel"}}'
    )


def text_frame(text: str | bytes, opcode: int = 0x1) -> bytes:
    """A server-to-client (unmasked) frame."""
    payload = text.encode() if isinstance(text, str) else text
    n = len(payload)
    if n < 126:
        header = struct.pack("!BB", 0x80 | opcode, n)
    elif n < 65536:
        header = struct.pack("!BBH", 0x80 | opcode, 126, n)
    else:
        header = struct.pack("!BBQ", 0x80 | opcode, 127, n)
    return header + payload


FRAME_SIZE = len(text_frame(event_json(1)))
RING = memoryview(b"".join(text_frame(event_json(i + 1)) for i in range(RING_FRAMES)))
HELLO = text_frame('{"type":"hello"}')


class Stats:
    """What the server did, for C{/stats}."""

    events_pushed = 0
    acks = 0
    pongs = 0
    websockets = 0
    tickets = 0
    ts = 0


class Connection(asyncio.Protocol):
    """One TCP connection: HTTP requests until an upgrade, then a WebSocket."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.buffer = b""
        self.websocket = False
        self.transport: asyncio.Transport | None = None
        self.remaining = 0
        self.position = 0
        self.paused = False
        self.fragments: list[bytes] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.set_write_buffer_limits(high=512 * 1024)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if self.websocket:
            self.frames()
        else:
            self.requests()

    # HTTP

    def requests(self) -> None:
        """Answer every complete HTTP request in the buffer."""
        assert self.transport is not None
        while not self.websocket:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(self.buffer) > MAX_HEAD:
                    self.transport.close()
                return
            head = self.buffer[:end].decode("latin-1").split("\r\n")
            headers = {}
            for line in head[1:]:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            length = int(headers.get("content-length", "0") or 0)
            if len(self.buffer) < end + 4 + length:
                return
            self.buffer = self.buffer[end + 4 + length :]
            parts = head[0].split(" ")
            path = parts[1].split("?")[0] if len(parts) > 1 else "/"
            if headers.get("upgrade", "").lower() == "websocket":
                self.upgrade(path, headers.get("sec-websocket-key", ""))
            else:
                self.answer_http(path)

    def answer_http(self, path: str) -> None:
        assert self.transport is not None
        match = API.match(path)
        if path == "/stats":
            times = os.times()
            body: dict[str, Any] = {
                "events_pushed": Stats.events_pushed,
                "acks": Stats.acks,
                "pongs": Stats.pongs,
                "websockets": Stats.websockets,
                "cpu": times.user + times.system,
            }
        elif match is None:
            body = {"ok": False, "error": "unknown_method"}
        elif match.group(3) in ("rtm.connect", "rtm.start"):
            Stats.tickets += 1
            workload, n = match.group(1), match.group(2)
            body = {
                "ok": True,
                "url": f"ws://{HOST}:{self.port}/ws/{workload}/{n}/t{Stats.tickets}",
                "self": {"id": "U0BENCH", "name": "bench"},
                "team": {"id": "T0BENCH", "domain": "bench", "name": "Bench"},
            }
        elif match.group(3) == "auth.test":
            body = {
                "ok": True,
                "url": "https://bench.slack.com/",
                "team": "Bench",
                "user": "bench",
                "team_id": "T0BENCH",
                "user_id": "U0BENCH",
                "bot_id": "B0BENCH",
                "is_enterprise_install": False,
            }
        else:
            body = {"ok": True}
        payload = json.dumps(body).encode()
        self.transport.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json; charset=utf-8\r\n"
            + f"Content-Length: {len(payload)}\r\n\r\n".encode()
            + payload
        )

    def upgrade(self, path: str, key: str) -> None:
        assert self.transport is not None
        match = WS.match(path)
        if match is None or not key:
            self.transport.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
            self.transport.close()
            return
        accept = base64.b64encode(hashlib.sha1(key.encode() + GUID).digest()).decode()
        self.transport.write(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            + f"Sec-WebSocket-Accept: {accept}\r\n\r\n".encode()
            + HELLO
        )
        self.websocket = True
        Stats.websockets += 1
        if match.group(1) == "inbound":
            self.remaining = int(match.group(2))
            self.pump()
        if self.buffer:
            self.frames()

    # WebSocket

    def pump(self) -> None:
        """Write events until done or until the transport asks to pause."""
        assert self.transport is not None
        while self.remaining > 0 and not self.paused and not self.transport.is_closing():
            count = min(SLICE_FRAMES, self.remaining, RING_FRAMES - self.position)
            start = self.position * FRAME_SIZE
            self.transport.write(RING[start : start + count * FRAME_SIZE])
            self.remaining -= count
            Stats.events_pushed += count
            self.position = (self.position + count) % RING_FRAMES

    def pause_writing(self) -> None:
        self.paused = True

    def resume_writing(self) -> None:
        self.paused = False
        self.pump()

    def frames(self) -> None:
        """Handle every complete client frame in the buffer."""
        assert self.transport is not None
        buffer, offset, out = self.buffer, 0, []
        while len(buffer) - offset >= 2:
            b0, b1 = buffer[offset], buffer[offset + 1]
            length, at = b1 & 0x7F, offset + 2
            if length == 126:
                if len(buffer) - offset < 4:
                    break
                (length,) = struct.unpack_from("!H", buffer, at)
                at += 2
            elif length == 127:
                if len(buffer) - offset < 10:
                    break
                (length,) = struct.unpack_from("!Q", buffer, at)
                at += 8
            mask = buffer[at : at + 4] if b1 & 0x80 else b""
            at += len(mask)
            if len(buffer) < at + length:
                break
            payload = buffer[at : at + length]
            if mask:
                key = int.from_bytes((mask * (length // 4 + 1))[:length], "big")
                payload = (int.from_bytes(payload, "big") ^ key).to_bytes(length, "big")
            offset = at + length
            opcode = b0 & 0x0F
            if opcode in (0x0, 0x1):
                self.fragments.append(payload)
                if b0 & 0x80:
                    message, self.fragments = b"".join(self.fragments), []
                    self.answer(message, out)
            elif opcode == 0x9:
                out.append(text_frame(payload, 0xA))
            elif opcode == 0x8:
                out.append(text_frame(payload[:2], 0x8))
                self.transport.write(b"".join(out))
                self.transport.close()
                return
        self.buffer = buffer[offset:]
        if out:
            self.transport.write(b"".join(out))

    @staticmethod
    def answer(message: bytes, out: list[bytes]) -> None:
        """Reply to a C{message} frame, or pong a C{ping} frame."""
        try:
            frame = json.loads(message)
        except ValueError:
            return
        if not isinstance(frame, dict) or "id" not in frame:
            return
        if frame.get("type") == "message":
            Stats.ts += 1
            Stats.acks += 1
            reply = {
                "ok": True,
                "reply_to": frame["id"],
                "ts": f"1700000001.{Stats.ts % 1_000_000:06d}",
                "text": frame.get("text"),
            }
            out.append(text_frame(json.dumps(reply)))
        elif frame.get("type") == "ping":
            Stats.pongs += 1
            out.append(text_frame(json.dumps({"type": "pong", "reply_to": frame["id"]})))


async def serve(port: int) -> None:
    """Listen on 127.0.0.1 and serve until killed."""
    loop = asyncio.get_running_loop()
    holder: list[int] = [0]
    server = await loop.create_server(lambda: Connection(holder[0]), HOST, port, backlog=4096)
    holder[0] = server.sockets[0].getsockname()[1]
    print(f"LISTENING {holder[0]} frame_bytes={FRAME_SIZE}", flush=True)
    async with server:
        await server.serve_forever()


def main() -> None:
    """Parse the command line and serve."""
    parser = argparse.ArgumentParser(description="The benchmark's load server, in Python.")
    parser.add_argument("--port", type=int, default=0)
    asyncio.run(serve(parser.parse_args().port))


if __name__ == "__main__":
    main()

"""
The null client in Python, for machines without Node (see C{null_client.js}).

It calls C{rtm.connect}, opens the WebSocket on a bare asyncio transport and only walks the
frame headers, counting frames: no JSON. Same command line and C{RESULT} line as the other
drivers (C{--workload inbound} or C{send}).
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import time
import urllib.request
from typing import Any
from urllib.parse import urlsplit

from _common import cpu_seconds, finish, inbound_fields, parse_args


def masked_frame(message_id: int) -> bytes:
    """A client text frame with an all-zero mask (valid, and free to apply)."""
    payload = (
        f'{{"type":"message","channel":"C012AB3CD","text":"benchmark message {message_id}",'
        f'"id":{message_id}}}'
    ).encode()
    return bytes([0x81, 0x80 | len(payload), 0, 0, 0, 0]) + payload


class Counter(asyncio.Protocol):
    """Counts frames after C{hello}; in the send workload, keeps K messages in flight."""

    def __init__(self, workload: str, total: int, inflight: int, path: str, host: str) -> None:
        self.workload, self.total, self.inflight = workload, total, inflight
        self.request = (
            f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: "
            f"{base64.b64encode(os.urandom(16)).decode()}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
        self.buffer = b""
        self.upgraded = self.hello = False
        self.frames = self.sent = 0
        self.t0 = self.cpu0 = 0.0
        self.done: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        assert self.transport is not None
        buffer = self.buffer + data if self.buffer else data
        offset, counted = 0, 0
        if not self.upgraded:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                self.buffer = buffer
                return
            self.upgraded, offset = True, end + 4
        size = len(buffer)
        while size - offset >= 2:
            length, at = buffer[offset + 1] & 0x7F, offset + 2
            if length == 126:
                if size - offset < 4:
                    break
                length, at = (buffer[at] << 8) | buffer[at + 1], at + 2
            elif length == 127:
                if size - offset < 10:
                    break
                length, at = int.from_bytes(buffer[at : at + 8], "big"), at + 8
            if size < at + length:
                break
            offset = at + length
            if not self.hello:
                self.hello = True
                if self.workload == "send":
                    self.t0, self.cpu0 = time.perf_counter(), cpu_seconds()
                    self.send(min(self.inflight, self.total))
                continue
            self.frames += 1
            counted += 1
            if self.frames == 1 and self.workload == "inbound":
                self.t0, self.cpu0 = time.perf_counter(), cpu_seconds()
        self.buffer = buffer[offset:]
        if self.workload == "send":
            self.send(min(counted, self.total - self.sent))
        if self.frames >= self.total and not self.done.done():
            self.done.set_result(self.fields())

    def send(self, count: int) -> None:
        assert self.transport is not None
        frames = [masked_frame(self.sent + i + 1) for i in range(count)]
        self.sent += count
        if frames:
            self.transport.write(b"".join(frames))

    def fields(self) -> dict[str, Any]:
        seconds, cpu = time.perf_counter() - self.t0, cpu_seconds() - self.cpu0
        if self.workload == "inbound":
            return inbound_fields(self.total - 1, seconds, cpu)
        return {
            "messages": self.total,
            "inflight": self.inflight,
            "seconds": seconds,
            "rate": self.total / seconds,
        }


async def run(workload: str, api: str, total: int, inflight: int) -> dict[str, Any]:
    """Connect and count."""
    loop = asyncio.get_running_loop()

    def connect_call() -> str:
        request = urllib.request.Request(api + "rtm.connect", data=b"token=xoxb-bench")
        with urllib.request.urlopen(request, timeout=10) as response:
            url: str = json.loads(response.read())["url"]
            return url

    url = urlsplit(await loop.run_in_executor(None, connect_call))
    counter = Counter(workload, total, inflight, url.path, url.netloc)
    await loop.create_connection(lambda: counter, url.hostname, url.port)
    return await counter.done


def main() -> None:
    """Run the null workload within the time limit and print its result."""
    args = parse_args()

    async def bounded() -> dict[str, Any]:
        try:
            return await asyncio.wait_for(
                run(args.workload, args.api, args.n, args.inflight), args.timeout
            )
        except TimeoutError:
            return {"error": f"timed out after {args.timeout} s"}

    fields = asyncio.run(bounded())
    finish(fields, 3 if "error" in fields else 0)


if __name__ == "__main__":
    main()

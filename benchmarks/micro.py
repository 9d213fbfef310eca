"""
Per-frame costs of the pieces of an inbound event, each measured alone, in memory (no
sockets): JSON decoding (C{json}, and C{orjson} where it imports), Autobahn's receive path
with default options and with C{utf8validateIncoming=False}, and a plain-Python frame-header
loop, on the same ~330-byte event as the load server sends.

    python benchmarks/micro.py [--frames 200000]

Prints microseconds per frame (the best of C{--rounds} rounds); asserts nothing.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import re
import struct
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from autobahn.twisted.websocket import WebSocketClientFactory, WebSocketClientProtocol
from twisted.internet.testing import StringTransport

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
EVENT = (
    b'{"client_msg_id":"3f0bd1a2-5c7e-4b8a-9d21-000000000001","type":"message",'
    b'"text":"Deploy of build 0000001 finished: all 1,204 tests passed; artefacts are on the '
    b'share.","user":"U061F7AUR","ts":"1700000000.000001","team":"T061EG9R6","blocks":[],'
    b'"channel":"C012AB3CD","event_ts":"1700000000.000001","channel_type":"channel"}'
)
FRAME = struct.pack("!BBH", 0x81, 126, len(EVENT)) + EVENT
#: Bytes handed to C{dataReceived} at once, as a TCP read would.
CHUNK = 65536


def best_of(rounds: int, function: Callable[[], int]) -> float:
    """The best seconds per item over C{rounds} calls of C{function} (which returns items)."""
    results = []
    for _ in range(rounds):
        started = time.perf_counter()
        items = function()
        results.append((time.perf_counter() - started) / items)
    return min(results)


def decode_cost(loads: Callable[[bytes], Any], count: int) -> Callable[[], int]:
    """Decoding C{count} events with C{loads}."""

    def run() -> int:
        for _ in range(count):
            loads(EVENT)
        return count

    return run


class Sink(WebSocketClientProtocol):  # type: ignore[misc]
    """An Autobahn client protocol whose onMessage only counts."""

    count = 0

    def onMessage(self, payload: bytes, isBinary: bool) -> None:
        self.count += 1


def open_protocol(options: dict[str, Any]) -> Sink:
    """A client protocol after a real handshake over an in-memory transport."""
    factory = WebSocketClientFactory("ws://127.0.0.1:9/ws")
    factory.protocol = Sink
    factory.setProtocolOptions(
        openHandshakeTimeout=0, closeHandshakeTimeout=0, autoPingInterval=0, **options
    )
    protocol: Sink = factory.buildProtocol(None)
    transport = StringTransport()
    protocol.makeConnection(transport)
    request = transport.value().decode("latin-1")
    match = re.search(r"Sec-WebSocket-Key: (\S+)", request)
    assert match is not None, request
    accept = base64.b64encode(hashlib.sha1(match.group(1).encode() + GUID).digest()).decode()
    protocol.dataReceived(
        (
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Accept: {accept}\r\n\r\n"
        ).encode()
    )
    assert protocol.state == protocol.STATE_OPEN
    return protocol


def autobahn_cost(options: dict[str, Any], count: int) -> Callable[[], int]:
    """Feeding C{count} frames, in TCP-sized chunks, to an open Autobahn client."""
    data = FRAME * count
    chunks = [data[i : i + CHUNK] for i in range(0, len(data), CHUNK)]

    def run() -> int:
        protocol = open_protocol(options)
        for chunk in chunks:
            protocol.dataReceived(chunk)
        assert protocol.count == count, protocol.count
        return count

    return run


def header_loop_cost(count: int) -> Callable[[], int]:
    """A plain-Python loop that finds each unfragmented text frame's payload and slices it."""
    data = FRAME * count
    chunks = [data[i : i + CHUNK] for i in range(0, len(data), CHUNK)]

    def run() -> int:
        pending = b""
        found = 0
        for chunk in chunks:
            buffer = pending + chunk if pending else chunk
            offset, size = 0, len(buffer)
            while size - offset >= 2:
                length, at = buffer[offset + 1] & 0x7F, offset + 2
                if length == 126:
                    if size - offset < 4:
                        break
                    length, at = (buffer[at] << 8) | buffer[at + 1], at + 2
                if size < at + length:
                    break
                buffer[at : at + length]
                offset = at + length
                found += 1
            pending = buffer[offset:]
        assert found == count
        return count

    return run


def peers_orjson_cost(count: int, rounds: int) -> float:
    """C{orjson.loads} measured in C{.peers/venv} (where run.py installs it), or NaN."""
    python = Path(__file__).resolve().parent / ".peers" / "venv" / "bin" / "python"
    script = (
        "import sys, time, orjson\n"
        f"event = {EVENT!r}\n"
        "best = None\n"
        f"for _ in range({rounds}):\n"
        "    t = time.perf_counter()\n"
        f"    for _ in range({count}): orjson.loads(event)\n"
        f"    s = (time.perf_counter() - t) / {count}\n"
        "    best = s if best is None else min(best, s)\n"
        "print(best)\n"
    )
    try:
        done = subprocess.run(
            [str(python), "-c", script], capture_output=True, text=True, timeout=300
        )
        return float(done.stdout.strip())
    except (OSError, ValueError, subprocess.TimeoutExpired):
        return float("nan")


def main() -> None:
    """Measure and print each cost."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--frames", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=5)
    options = parser.parse_args()
    count, rounds = options.frames, options.rounds
    rows: list[tuple[str, float]] = [
        ("json.loads(event bytes)", best_of(rounds, decode_cost(json.loads, count))),
    ]
    try:
        import orjson  # type: ignore[import-not-found]

        rows.append(
            ("orjson.loads(event bytes)", best_of(rounds, decode_cost(orjson.loads, count)))
        )
    except ImportError:
        rows.append(
            ("orjson.loads(event bytes), in the peers' venv", peers_orjson_cost(count, rounds))
        )
    rows += [
        ("Autobahn receive, default options", best_of(rounds, autobahn_cost({}, count))),
        (
            "Autobahn receive, utf8validateIncoming=False",
            best_of(rounds, autobahn_cost({"utf8validateIncoming": False}, count)),
        ),
        ("plain-Python frame-header loop", best_of(rounds, header_loop_cost(count))),
    ]
    print(f"{len(EVENT)}-byte event, {count:,} frames, best of {rounds} rounds:")
    for name, seconds in rows:
        print(f"  {name:<48} {seconds * 1e6:6.2f} µs per frame")


if __name__ == "__main__":
    main()

"""
Per-frame costs of the pieces of an inbound event, and of writing one, each measured alone,
in memory (no sockets), on the same ~330-byte event as the load server sends: JSON decoding
(C{json}, C{orjson} where it imports, txslackrtm's C{stdlib_decode}), Autobahn's receive path
(default options, and C{utf8validateIncoming=False}) beside txslackrtm's socket and its frame
splitter alone; the splitter, the standard library's decoder and one call per event, as the
floor of a pure-Python client; and a masked client frame built by Autobahn and by txslackrtm.

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
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from autobahn.twisted.websocket import WebSocketClientFactory, WebSocketClientProtocol
from twisted.internet.testing import StringTransport

from txslackrtm._frames import FrameSplitter, text_frame
from txslackrtm._session import stdlib_decode
from txslackrtm._websocket import RTMSocket, _RTMSocketFactory, protocol_options

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


def event_cost(piece: Callable[[bytes], object], count: int) -> Callable[[], int]:
    """Calling C{piece} on the event C{count} times: decoding it, or writing it as a frame."""

    def run() -> int:
        for _ in range(count):
            piece(EVENT)
        return count

    return run


class Sink(WebSocketClientProtocol):  # type: ignore[misc]
    """An Autobahn client protocol whose onMessage only counts."""

    count = 0

    def onMessage(self, payload: bytes, isBinary: bool) -> None:
        self.count += 1


def open_protocol(options: dict[str, Any]) -> Sink:
    """An Autobahn client protocol after a real handshake over an in-memory transport."""
    factory = WebSocketClientFactory("ws://127.0.0.1:9/ws")
    factory.protocol = Sink
    factory.setProtocolOptions(
        openHandshakeTimeout=0, closeHandshakeTimeout=0, autoPingInterval=0, **options
    )
    protocol: Sink = factory.buildProtocol(None)
    handshake(protocol)
    return protocol


def handshake(protocol: Any) -> StringTransport:
    """Connect C{protocol} to an in-memory transport and answer its opening handshake."""
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
    transport.clear()
    return transport


class CountingHandler:
    """A txslackrtm socket handler that only counts frames."""

    count = 0

    def socket_opened(self, socket: RTMSocket) -> None:
        pass

    def frame_received(self, socket: RTMSocket, payload: bytes, is_binary: bool) -> None:
        self.count += 1

    def texts_received(self, socket: RTMSocket, payloads: Iterable[bytes]) -> None:
        for _payload in payloads:
            self.count += 1

    def socket_closed(self, socket: RTMSocket, reason: str, failure: Any) -> None:
        pass


def open_rtm_socket(handler: CountingHandler) -> RTMSocket:
    """txslackrtm's socket after a real handshake over an in-memory transport."""
    factory = _RTMSocketFactory("ws://127.0.0.1:9/ws")
    factory.handler = handler
    factory.max_message_bytes = 4 * 1024 * 1024
    factory.setProtocolOptions(**protocol_options(factory.max_message_bytes))
    socket: RTMSocket = factory.buildProtocol(None)
    handshake(socket)
    return socket


def chunked_frames(count: int) -> list[bytes]:
    """C{count} frames of the event, cut as TCP reads would cut them."""
    data = FRAME * count
    return [data[i : i + CHUNK] for i in range(0, len(data), CHUNK)]


def receive_cost(open_receiver: Callable[[], tuple[Any, Any]], count: int) -> Callable[[], int]:
    """
    Feeding C{count} frames, in TCP-sized chunks, to a fresh protocol from C{open_receiver}
    (which also returns what counts the messages: all must arrive).
    """
    chunks = chunked_frames(count)

    def run() -> int:
        protocol, counter = open_receiver()
        for chunk in chunks:
            protocol.dataReceived(chunk)
        assert counter.count == count, counter.count
        return count

    return run


def autobahn_receiver(options: dict[str, Any]) -> Callable[[], tuple[Sink, Sink]]:
    """An open Autobahn client protocol, which counts for itself."""

    def open_receiver() -> tuple[Sink, Sink]:
        protocol = open_protocol(options)
        return protocol, protocol

    return open_receiver


def rtm_socket_receiver() -> tuple[RTMSocket, CountingHandler]:
    """An open txslackrtm socket, which reads text frames itself, and its counting handler."""
    handler = CountingHandler()
    return open_rtm_socket(handler), handler


def splitter_cost(count: int, decode: Callable[[bytes], Any] | None = None) -> Callable[[], int]:
    """
    txslackrtm's frame splitter alone: finding each frame and cutting out its payload; with
    C{decode}, also decoding each payload and handing it to one Python call, nothing more:
    the least any pure-Python client built on that decoder can do per event.
    """
    chunks = chunked_frames(count)
    heard = [0]

    def listener(event: Any) -> None:
        heard[0] += 1

    def run() -> int:
        splitter = FrameSplitter(4 * 1024 * 1024)
        found = 0
        for chunk in chunks:
            cut = splitter.split(chunk)
            if cut is not None:
                _data, pieces, _rest = cut
                for _start, _end, payloads in pieces:
                    if payloads is not None:
                        found += len(payloads)
                        if decode is not None:
                            for payload in payloads:
                                listener(decode(payload))
        assert found == count
        return count

    return run


def autobahn_sender() -> Callable[[bytes], None]:
    """Autobahn's way: C{sendMessage}, which masks with a new masker object per frame."""
    protocol = open_protocol({})

    def send(payload: bytes) -> None:
        protocol.sendMessage(payload)
        protocol.transport.clear()

    return send


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
        ("json.loads(event bytes)", best_of(rounds, event_cost(json.loads, count))),
    ]
    try:
        import orjson  # type: ignore[import-not-found]

        rows.append(
            ("orjson.loads(event bytes)", best_of(rounds, event_cost(orjson.loads, count)))
        )
    except ImportError:
        rows.append(
            ("orjson.loads(event bytes), in the peers' venv", peers_orjson_cost(count, rounds))
        )
    rows += [
        (
            "txslackrtm stdlib_decode(event bytes)",
            best_of(rounds, event_cost(stdlib_decode, count)),
        ),
        (
            "Autobahn receive, default options",
            best_of(rounds, receive_cost(autobahn_receiver({}), count)),
        ),
        (
            "Autobahn receive, utf8validateIncoming=False",
            best_of(
                rounds, receive_cost(autobahn_receiver({"utf8validateIncoming": False}), count)
            ),
        ),
        (
            "txslackrtm RTMSocket receive (FrameSplitter)",
            best_of(rounds, receive_cost(rtm_socket_receiver, count)),
        ),
        ("txslackrtm FrameSplitter.split alone", best_of(rounds, splitter_cost(count))),
        (
            "floor: split + stdlib_decode + one call",
            best_of(rounds, splitter_cost(count, stdlib_decode)),
        ),
        (
            "Autobahn sendMessage (client frame)",
            best_of(rounds, event_cost(autobahn_sender(), count)),
        ),
        ("txslackrtm text_frame (client frame)", best_of(rounds, event_cost(text_frame, count))),
    ]
    print(f"{len(EVENT)}-byte event, {count:,} frames, best of {rounds} rounds:")
    for name, seconds in rows:
        print(f"  {name:<48} {seconds * 1e6:6.2f} µs per frame")


if __name__ == "__main__":
    main()

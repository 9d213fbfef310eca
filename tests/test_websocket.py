# -*- test-case-name: tests.test_websocket -*-
"""
Tests for the WebSocket glue: whatever a server sends, in whatever chunks, an L{RTMSocket}
(which reads whole text frames itself) behaves exactly as plain Autobahn does.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Iterable
from typing import Any

from autobahn.twisted.websocket import WebSocketClientFactory, WebSocketClientProtocol
from hypothesis import example, given, settings
from hypothesis import strategies as st
from twisted.internet.address import IPv4Address
from twisted.internet.defer import Deferred, succeed
from twisted.internet.interfaces import IProtocolFactory, IStreamClientEndpoint
from twisted.internet.testing import StringTransport
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase
from zope.interface import implementer

from txslackrtm._websocket import RTMSocket, open_socket, protocol_options

from .wsframes import (
    BINARY,
    CLOSE,
    CONTINUATION,
    PING,
    PONG,
    TEXT,
    read_client_frames,
    server_frame,
)

LIMIT = 70_000
URL = "ws://127.0.0.1:9/websocket"
CLOSE_NOW = b'{"type":"close-now"}'  # the listener closes the socket on this one
DROP_NOW = b'{"type":"drop-now"}'  # and drops the connection on this one
GREETING = '{"type":"ping"}'  # what the listeners write as the socket opens

_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def _answer_handshake(protocol: Any, transport: StringTransport, early: bytes) -> None:
    """Accept the client's handshake, with C{early} bytes right behind the answer."""
    key = re.search(rb"Sec-WebSocket-Key: (\S+)", transport.value(), re.IGNORECASE)
    assert key is not None
    accept = base64.b64encode(hashlib.sha1(key.group(1) + _GUID).digest())
    transport.clear()
    protocol.dataReceived(
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
        b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept + b"\r\n\r\n" + early
    )


class _Transport(StringTransport):
    """A StringTransport that, like TCP, lets a protocol unregister no producer."""

    def unregisterProducer(self) -> None:
        self.producer = None


@implementer(IStreamClientEndpoint)
class _StringEndpoint:
    """Connects a factory's protocol to a StringTransport."""

    def __init__(self) -> None:
        self.transport = _Transport()

    def connect(self, factory: IProtocolFactory) -> Deferred[Any]:
        protocol = factory.buildProtocol(IPv4Address("TCP", "127.0.0.1", 9))
        assert protocol is not None
        protocol.makeConnection(self.transport)
        return succeed(protocol)


def _echo(payload: bytes) -> str:
    """What both listeners write back for every message while the socket is open."""
    return f"echo of {len(payload)} bytes"


class _Recorder:
    """
    A socket handler noting what it hears and echoing it; it closes or drops the socket
    when told to.
    """

    def __init__(self) -> None:
        self.messages: list[tuple[bytes, bool]] = []

    def socket_opened(self, socket: RTMSocket) -> None:
        socket.write_text(GREETING)

    def texts_received(self, socket: RTMSocket, payloads: Iterable[bytes]) -> None:
        for payload in payloads:
            self.frame_received(socket, payload, False)

    def frame_received(self, socket: RTMSocket, payload: bytes, is_binary: bool) -> None:
        self.messages.append((payload, is_binary))
        if socket.websocket_open:
            socket.write_text(_echo(payload))
        if payload == CLOSE_NOW:
            socket.close()
        elif payload == DROP_NOW:
            socket.dropConnection(abort=True)

    def socket_closed(self, socket: RTMSocket, reason: str, failure: Failure) -> None:
        pass


class _Reference(WebSocketClientProtocol):
    """Plain Autobahn, with the listener of L{_Recorder}, writing each frame at once."""

    messages: list[tuple[bytes, bool]]

    def onOpen(self) -> None:
        self.sendMessage(GREETING.encode())

    def onMessage(self, payload: bytes, isBinary: bool) -> None:
        self.messages.append((payload, isBinary))
        if self.state == self.STATE_OPEN:
            self.sendMessage(_echo(payload).encode())
        if payload == CLOSE_NOW:
            self.sendClose(code=1000)
        elif payload == DROP_NOW:
            self.dropConnection(abort=True)


def open_rtm_socket(early: bytes = b"") -> tuple[RTMSocket, _Recorder, StringTransport]:
    endpoint = _StringEndpoint()
    recorder = _Recorder()
    sockets: list[RTMSocket] = []
    open_socket(endpoint, URL, recorder, LIMIT, reactor=None).addCallback(sockets.append)
    _answer_handshake(sockets[0], endpoint.transport, early)
    return sockets[0], recorder, endpoint.transport


def open_reference(early: bytes = b"") -> tuple[_Reference, StringTransport]:
    factory = WebSocketClientFactory(URL)
    factory.protocol = _Reference
    # The options open_socket sets: the same protocol, with Autobahn's parser throughout.
    factory.setProtocolOptions(**protocol_options(LIMIT))
    endpoint = _StringEndpoint()
    protocols: list[_Reference] = []
    endpoint.connect(factory).addCallback(protocols.append)
    protocols[0].messages = []
    _answer_handshake(protocols[0], endpoint.transport, early)
    return protocols[0], endpoint.transport


def outcome(protocol: WebSocketClientProtocol, transport: StringTransport) -> dict[str, Any]:
    """What a peer could see of a protocol, and what its close handshake recorded."""
    return {
        "written": read_client_frames(transport.value()),
        "disconnecting": transport.disconnecting,
        "aborted": transport.disconnected,
        "state": protocol.state,
        "remote close": (protocol.remoteCloseCode, protocol.remoteCloseReason),
        "local close": protocol.localCloseCode,
        "failed": protocol.failedByMe,
    }


def chunked(data: bytes, fractions: list[float]) -> list[bytes]:
    points = sorted({int(f * len(data)) for f in fractions})
    return [data[a:b] for a, b in zip([0, *points], [*points, len(data)], strict=True) if b > a]


# Frames a server may send on an open connection, each as one or more frames' bytes.
_json = st.builds(lambda n: b'{"type":"message","text":"%s"}' % (b"x" * n), st.integers(0, 300))
_payload = st.one_of(
    _json,
    st.binary(max_size=300),
    st.sampled_from([b"", b"y" * 125, b"z" * 126, b"w" * 65535, b"v" * 65536]),
)
_control_payload = st.binary(max_size=125)

_ordinary = st.one_of(
    _payload.map(lambda p: server_frame(TEXT, p)),
    _payload.map(lambda p: server_frame(BINARY, p)),
    _control_payload.map(lambda p: server_frame(PING, p)),
    _control_payload.map(lambda p: server_frame(PONG, p)),
    st.tuples(st.lists(_payload, min_size=2, max_size=3), _control_payload, st.booleans()).map(
        lambda t: _fragmented(*t)
    ),
    st.just(server_frame(TEXT, CLOSE_NOW)),
    st.just(server_frame(TEXT, DROP_NOW)),
)

# Frames after which the connection is over, one way or another.
_final = st.sampled_from(
    [
        server_frame(CLOSE, b"\x03\xe8bye"),
        server_frame(CLOSE, b""),
        server_frame(TEXT, b"{}", mask=b"abcd"),
        server_frame(TEXT, b"{}", length_size=2),
        server_frame(TEXT, b"x" * 300, length_size=8),
        server_frame(TEXT, b"{}", rsv=2),
        server_frame(3, b"{}"),
        server_frame(CONTINUATION, b"{}"),
        server_frame(TEXT, b"x" * (LIMIT + 1)),
        server_frame(PING, b"p" * 126),
        server_frame(PING, b"p", fin=False),
        # A whole text frame where a continuation is due.
        server_frame(TEXT, b"part", fin=False) + server_frame(TEXT, b"{}"),
        server_frame(TEXT, b"part", fin=False) + server_frame(TEXT, b"{}") * 3,
    ]
)


def _fragmented(parts: list[bytes], ping: bytes, ping_between: bool) -> bytes:
    frames = [server_frame(TEXT, parts[0], fin=False)]
    if ping_between:
        frames.append(server_frame(PING, ping))
    frames += [server_frame(CONTINUATION, p, fin=False) for p in parts[1:-1]]
    frames.append(server_frame(CONTINUATION, parts[-1]))
    return b"".join(frames)


class SameAsAutobahnTests(SynchronousTestCase):
    def assert_same(self, chunks: list[bytes], early: bool = False) -> None:
        """
        Both get the same chunks; with C{early}, the first comes with the handshake's answer.
        """
        first = chunks.pop(0) if early and chunks else b""
        socket, recorder, transport = open_rtm_socket(first)
        reference, reference_transport = open_reference(first)
        self.assertEqual(recorder.messages, reference.messages)
        for chunk in chunks:
            socket.dataReceived(chunk)
            reference.dataReceived(chunk)
            self.assertEqual(recorder.messages, reference.messages)
        self.assertEqual(outcome(socket, transport), outcome(reference, reference_transport))

    @settings(max_examples=300, deadline=None)
    @given(
        frames=st.lists(_ordinary, max_size=8),
        final=st.none() | _final,
        trailer=st.lists(_ordinary, max_size=2),
        fractions=st.lists(st.floats(0, 1), max_size=12),
        early=st.booleans(),
    )
    @example(
        frames=[server_frame(TEXT, b"a"), server_frame(TEXT, CLOSE_NOW), server_frame(TEXT, b"b")],
        final=server_frame(CLOSE, b"\x03\xe8"),
        trailer=[],
        fractions=[],
        early=False,
    )
    @example(
        frames=[server_frame(TEXT, b"a"), server_frame(TEXT, DROP_NOW), server_frame(TEXT, b"b")],
        final=None,
        trailer=[],
        fractions=[],
        early=False,
    )
    def test_any_frames_in_any_chunks(
        self,
        frames: list[bytes],
        final: bytes | None,
        trailer: list[bytes],
        fractions: list[float],
        early: bool,
    ) -> None:
        """
        Text, binary, control, fragmented, malformed and oversized frames, cut anywhere,
        some right behind the handshake's answer, give the listener the same messages and
        the server the same bytes as Autobahn.
        """
        data = b"".join(frames) + (final or b"") + b"".join(trailer)
        self.assert_same(chunked(data, fractions), early)

    def test_byte_at_a_time(self) -> None:
        """Every kind of frame, one byte at a time."""
        data = b"".join(
            [
                server_frame(TEXT, b'{"type":"hello"}'),
                server_frame(PING, b"p"),
                _fragmented([b"[1,", b"2]"], b"q", True),
                server_frame(BINARY, b"\x00"),
                server_frame(TEXT, b"x" * 200),
                server_frame(CLOSE, b"\x03\xe8"),
            ]
        )
        self.assert_same([data[i : i + 1] for i in range(len(data))])


class FastPathTests(SynchronousTestCase):
    def parse(self, *chunks: bytes, early: bytes = b"") -> tuple[list[bytes], int]:
        """
        The payloads the handler got from C{early} (with the handshake's answer) and
        C{chunks}, and how often Autobahn's parser ran on the chunks.
        """
        socket, recorder, _transport = open_rtm_socket(early)
        calls = []
        general = socket.processData

        def counting() -> bool:
            calls.append(None)
            return bool(general())

        self.patch(socket, "processData", counting)
        for chunk in chunks:
            socket.dataReceived(chunk)
        return [payload for payload, _binary in recorder.messages], len(calls)

    def test_text_frames_skip_autobahn(self) -> None:
        """Whole text frames on an open socket never reach Autobahn's parser."""
        payloads = [b"x" * n for n in (0, 10, 200, LIMIT)]
        self.assertEqual(
            self.parse(b"".join(server_frame(TEXT, p) for p in payloads)), (payloads, 0)
        )

    def test_frame_cut_behind_the_handshake(self) -> None:
        """A text frame cut short right behind the handshake's answer is read here too."""
        frame = server_frame(TEXT, b"x" * 300)
        self.assertEqual(
            self.parse(frame[100:], frame, early=frame + frame[:100]), ([b"x" * 300] * 3, 0)
        )

    def test_back_to_the_fast_path(self) -> None:
        """After a fragmented message cut anywhere, text frames skip Autobahn again."""
        message = _fragmented([b"[1,", b"2]"], b"ping", True)
        text = server_frame(TEXT, b"{}")
        for cut in range(1, len(message)):
            with self.subTest(cut=cut):
                received, parsed = self.parse(message[:cut], message[cut:] + text)
                self.assertEqual(received, [b"[1,2]", b"{}"])
                _received, parsed_with_more = self.parse(
                    message[:cut], message[cut:] + text, text + text
                )
                self.assertEqual(parsed_with_more, parsed)

    def test_other_frames_reach_autobahn(self) -> None:
        """A binary frame is parsed by Autobahn, and the text frame after it too."""
        received, parsed = self.parse(server_frame(BINARY, b"b"), server_frame(TEXT, b"t"))
        self.assertEqual(received, [b"b", b"t"])
        self.assertGreater(parsed, 0)

    def test_sent_frames(self) -> None:
        """write_text sends one masked final text frame of the UTF-8 text."""
        socket, _recorder, transport = open_rtm_socket()
        transport.clear()
        text = '{"text":"hé"}'
        socket.write_text(text)
        self.assertEqual(read_client_frames(transport.value()), [(TEXT, True, text.encode())])

    def test_frames_written_during_a_read_go_out_together(self) -> None:
        """The echoes of the frames of one read leave in one write, after the read."""
        socket, _recorder, transport = open_rtm_socket()
        writes: list[bytes] = []
        self.patch(transport, "write", writes.append)
        socket.dataReceived(server_frame(TEXT, b"a") + server_frame(TEXT, b"bc"))
        self.assertEqual(len(writes), 1)
        self.assertEqual(
            read_client_frames(writes[0]),
            [(TEXT, True, _echo(b"a").encode()), (TEXT, True, _echo(b"bc").encode())],
        )

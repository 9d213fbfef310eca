"""
The transport: an Autobahn WebSocket client that hands what happens on the socket to a
L{SocketHandler}, and nothing more.

Autobahn keeps the handshake, control frames and the close dance; timing (handshake and
close timeouts, keepalive) is the client's, on the client's reactor, so Autobahn's own
timers, which would run on the global reactor, are all switched off.

Once the socket is open, L{FrameSplitter} cuts what arrives into frames: text frames, which
carry nearly all of Slack's traffic, are read right there, and every other frame goes whole
to Autobahn, which costs several times more per frame. The frames the client sends are built
by L{text_frame}.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any, Protocol, cast

from autobahn.twisted.websocket import WebSocketClientFactory, WebSocketClientProtocol
from autobahn.websocket.protocol import FrameHeader
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IStreamClientEndpoint, ITCPTransport, ITransport
from twisted.internet.protocol import connectionDone
from twisted.python.failure import Failure

from ._frames import FrameSplitter, TextRun, text_frame, text_frames_size
from ._tls import describe_failure, is_certificate_failure


class SocketHandler(Protocol):
    """What the client does with what happens on a socket; each call names the socket."""

    def socket_opened(self, socket: RTMSocket) -> None: ...
    def frame_received(self, socket: RTMSocket, payload: bytes, is_binary: bool) -> None: ...
    def texts_received(self, socket: RTMSocket, payloads: Iterable[bytes]) -> None:
        """
        Consecutive text frames, as L{frame_received} would have them one by one. The
        iteration ends early once the socket is no longer open; what the handler leaves of it
        is dropped.
        """

    def socket_closed(self, socket: RTMSocket, reason: str, failure: Failure) -> None: ...


class RTMSocket(WebSocketClientProtocol):
    """One WebSocket connection to Slack."""

    factory: _RTMSocketFactory
    _splitter: FrameSplitter | None = None
    _batch: list[bytes] | None = None  # frames written while a read is being handled
    _unread: Sequence[bytes] = ()  # what was left of a run when the socket stopped being open

    @property
    def handler(self) -> SocketHandler:
        """The handler of the factory that built this socket."""
        return self.factory.handler

    def onOpen(self) -> None:
        self._splitter = FrameSplitter(self.factory.max_message_bytes)
        self.handler.socket_opened(self)
        # Frames that came with the handshake's answer: take them from Autobahn, so that it
        # never holds part of a frame while the socket is open.
        early, self.data = self.data, b""
        if early and self.state == self.STATE_OPEN:
            self.dataReceived(early)
        else:
            self.data = early

    def dataReceived(self, data: bytes) -> None:
        """
        Handle what arrives; the frames the handler writes meanwhile go out together after.
        """
        if self._batch is not None:  # the frames that came behind the handshake's answer
            self._read(data)
            return
        self._batch = []
        try:
            self._read(data)
        finally:
            batch, self._batch = self._batch, None
            if batch:
                cast(ITransport, self.transport).write(b"".join(batch))

    def sendData(self, data: bytes, sync: bool = False, chopsize: int | None = None) -> None:
        """Autobahn's own frames (pong, close) go out after those written before them."""
        if self._batch:
            batch, self._batch = self._batch, []
            cast(ITransport, self.transport).write(b"".join(batch))
        super().sendData(data, sync, chopsize)

    def _read(self, data: bytes) -> None:
        """
        Once the socket is open, cut what arrives into whole frames: hand runs of text
        frames' payloads straight to the handler and every other frame, whole, to Autobahn.
        """
        splitter = self._splitter
        if splitter is None:
            super().dataReceived(data)
            return
        if not self._autobahn_between_frames():
            if splitter.holding:
                data = splitter.take_held(data)
            super().dataReceived(data)
            return
        found = splitter.split(data)
        if found is None:
            return
        data, pieces, rest = found
        for start, end, payloads in pieces:
            if payloads is None or self.inside_message:
                # Autobahn reads the frame, and fails the connection if it is not allowed
                # (a text frame inside a fragmented message is not).
                super().dataReceived(data[start:end])
            else:
                self._unread = ()
                self.handler.texts_received(self, self._while_open(payloads))
                end -= text_frames_size(self._unread)
            if self.state != self.STATE_OPEN:
                # Closing or failed: what comes next is for Autobahn to read or ignore.
                splitter.take_held(b"")
                super().dataReceived(data[end:])
                return
        if rest < len(data):
            super().dataReceived(data[rest:])

    def _while_open(self, payloads: TextRun) -> Iterator[bytes]:
        """The payloads, up to the first after which the socket is no longer open."""
        for index, payload in enumerate(payloads):
            yield payload
            if self.state != self.STATE_OPEN:
                self._unread = payloads[index + 1 :]
                return

    def _autobahn_between_frames(self) -> bool:
        """Whether the socket is open and Autobahn holds no part of a frame."""
        return (
            self.state == self.STATE_OPEN
            and not self.data
            # Autobahn's annotations leave out that it is None between frames.
            and cast("FrameHeader | None", self.current_frame) is None
        )

    def onMessageEnd(self) -> None:
        """
        Hand a whole message to the handler. Autobahn's own version also fires a "message"
        signal, a future per message that nothing here observes and that costs about as much
        as decoding the JSON.
        """
        parts, self.message_data = self.message_data, None  # type: ignore[assignment]
        if not self.failedByMe:
            self.handler.frame_received(self, b"".join(parts), self.message_is_binary)

    def onClose(self, wasClean: bool, code: int | None, reason: str | None) -> None:
        self._close_reason = _close_reason(code, reason)

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        super().connectionLost(reason)
        text = getattr(self, "_close_reason", None)
        if text is None or is_certificate_failure(reason):
            text = describe_failure(reason)
        self.handler.socket_closed(self, text, reason)

    @property
    def websocket_open(self) -> bool:
        """Whether the WebSocket handshake is done and the connection not yet closing."""
        return bool(self.state == self.STATE_OPEN)

    def write_text(self, text: str) -> None:
        """
        Send one text frame; only while L{websocket_open}. While a read is handled, the
        frame joins those written during it, to go out in one write when it ends.
        """
        frame = text_frame(text.encode("utf-8"))
        if self._batch is None:
            cast(ITransport, self.transport).write(frame)
        else:
            self._batch.append(frame)

    def close(self) -> None:
        """Start the WebSocket closing handshake (code 1000)."""
        self.sendClose(code=1000)

    def abort(self) -> None:
        """Drop the TCP connection at once: the peer may be gone, so nothing is awaited."""
        transport = self.transport
        if transport is not None:
            cast(ITCPTransport, transport).abortConnection()


def open_socket(
    endpoint: IStreamClientEndpoint,
    url: str,
    handler: SocketHandler,
    max_message_bytes: int,
    reactor: Any,
) -> Deferred[RTMSocket]:
    """
    Connect to C{url} through C{endpoint}; the Deferred fires with the socket once TCP
    (and TLS) is up, and the handler hears of the WebSocket opening and everything after.
    """
    factory = _RTMSocketFactory(url, reactor=reactor)  # type: ignore[no-untyped-call]
    factory.handler = handler
    factory.max_message_bytes = max_message_bytes
    factory.setProtocolOptions(**protocol_options(max_message_bytes))  # type: ignore[no-untyped-call]
    return cast("Deferred[RTMSocket]", endpoint.connect(factory))


def protocol_options(max_message_bytes: int) -> dict[str, Any]:
    """The Autobahn protocol options of every socket: no timers, no compression."""
    return {
        "openHandshakeTimeout": 0,
        "closeHandshakeTimeout": 0,
        "serverConnectionDropTimeout": 0,
        "autoPingInterval": 0,
        "maxMessagePayloadSize": max_message_bytes,
        "maxFramePayloadSize": max_message_bytes,
        "perMessageCompressionOffers": [],
        # The JSON decoder checks UTF-8 itself, and a bad frame is then dropped with a
        # warning rather than costing the whole connection.
        "utf8validateIncoming": False,
        "failByDrop": True,
    }


class _RTMSocketFactory(WebSocketClientFactory):
    """Builds L{RTMSocket}s that report to one handler."""

    protocol = RTMSocket  # type: ignore[assignment]
    noisy = False  # one per connection: the client logs connections itself
    handler: SocketHandler
    max_message_bytes: int


def _close_reason(code: int | None, reason: str | None) -> str | None:
    if code is None and not reason:
        return None
    text = f"closed with code {code}" if code is not None else "closed"
    return f"{text} ({reason})" if reason else text

"""
The RTM protocol as plain code: message ids, awaited replies, replay after a reconnect,
ping/pong deadlines and the decoding of incoming frames.

Nothing here does I/O, reads a clock or knows about Deferreds: the caller says what happened
and when (C{now}, in seconds), writes the text it is given, and asks L{Session.tick} what is
due at L{Session.next_deadline}. Like h11, local misuse raises; unlike it, a peer's bad frame
is not an exception but a L{Malformed} value, since a bot should log it and carry on.
"""

from __future__ import annotations

import json
import json.encoder
import json.scanner
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Generic, TypeVar

from ._errors import MessageTooLongError

W = TypeVar("W")

#: Slack closes the socket of a client that sends a frame longer than this, in bytes.
MAX_FRAME_BYTES = 16 * 1024
#: Slack asks clients to keep the text of a message under this many characters.
MAX_TEXT_CHARS = 4000
#: How much of a malformed frame is quoted in the warning about it.
PREVIEW_CHARS = 200
#: Frame types after which Slack closes the connection, so the client reconnects at once.
_RECONNECT_TYPES = frozenset({"goodbye", "team_migration_started"})
#: Frame types that may ask for a new connection.
_CONTROL_TYPES = _RECONNECT_TYPES | {"error"}
#: Frame types that concern the connection itself, not only the bot.
_CONNECTION_TYPES = _CONTROL_TYPES | {"hello"}
_stdlib_decoder = json.JSONDecoder()
_encoder = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False)
_encode_string: Callable[[str], str] = json.encoder.encode_basestring
# typeshed types make_scanner's argument as a scanner; it takes the decoder whose settings
# the scanner uses.
_scan_value: Callable[[str, int], tuple[Any, int]] = json.scanner.make_scanner(
    _stdlib_decoder  # type: ignore[arg-type]
)


def stdlib_decode(payload: bytes) -> Any:
    """
    Decode a frame with the standard library, exactly as C{json.loads} of its text would;
    invalid UTF-8 is a C{ValueError}.

    A frame is nearly always one JSON value with no whitespace around it, which the
    decoder's scanner reads alone at half the cost of the whole decoder; anything else
    (whitespace, extra data, not JSON) is left to the whole decoder and its errors.
    """
    text = payload.decode("utf-8")
    try:
        value, end = _scan_value(text, 0)
    except StopIteration:
        end = -1
    if end == len(text):
        return value
    return _stdlib_decoder.decode(text)


def encode_event(event: dict[str, Any]) -> str:
    """
    The compact JSON text of an outgoing event, non-ASCII characters kept as they are.

    Most events (every message with its text, channel and type) are flat: strings only.
    Those are written here string by string, with the same escaping as the standard
    library's encoder, at about half the cost of that encoder's setup and walk; any other
    event goes through the encoder, which also raises for values that are not JSON.
    """
    fields = []
    for key, value in event.items():
        if type(value) is not str or type(key) is not str:
            return _encoder.encode(event)
        fields.append(_encode_string(key) + ":" + _encode_string(value))
    return "{" + ",".join(fields) + "}"


#: The id-less worst case that L{Session.prepare} measures against L{MAX_FRAME_BYTES}.
_ID_ROOM = len(',"id":') + 20


class Due(Enum):
    """What L{Session.tick} found due."""

    #: Nothing yet: wait for L{Session.next_deadline}.
    NOTHING = "nothing"
    #: The connection was quiet for C{client_ping_timeout}: send a ping.
    PING = "ping"
    #: A ping went unanswered for C{server_pong_timeout}: the connection is dead.
    PONG_OVERDUE = "pong_overdue"
    #: The replay of the last reply did not come in time: stop waiting and be ready.
    RESUME_OVER = "resume_over"
    #: A new connection did not say C{hello} within C{open_timeout}.
    OPEN_TIMEOUT = "open_timeout"


@dataclass(frozen=True)
class Malformed:
    """An incoming frame that is not a JSON object; C{preview} quotes its start."""

    reason: str
    preview: str


Event = dict[str, Any]
"""An incoming event that only needs dispatching: a JSON object whose C{type} is a string."""


@dataclass(slots=True)
class Incoming(Generic[W]):
    """
    A decoded incoming frame and what it means for the connection.

    @ivar frame: the event, untouched.
    @ivar type: its C{type}, or C{None} for a bare reply.
    @ivar waiter: the sender's waiter when the frame answers an awaited message.
    @ivar resumed: the frame was the replayed reply the connection was resuming for.
    @ivar reconnect: why Slack wants a new connection (C{goodbye}, a migration, an expired
        URL), or C{None}.
    """

    frame: dict[str, Any]
    type: str | None
    waiter: W | None = None
    resumed: bool = False
    reconnect: str | None = None


@dataclass
class Session(Generic[W]):
    """
    The client's side of the RTM protocol across every connection it makes.

    Message ids start at 1 and grow by one for every frame ever sent, pings included, and
    are never reset, so a reply replayed after a reconnect can never be mistaken for the
    answer to a newer message.

    @ivar ping_interval: seconds of outgoing silence before a ping.
    @ivar pong_timeout: seconds a ping may go unanswered.
    @ivar resume_timeout: seconds to wait after C{hello} for the replayed reply to the last
        message of the previous connection.
    @ivar open_timeout: seconds from the start of L{opening} a connection to its C{hello}.
    @ivar decode: turns a frame's bytes into JSON values, raising C{ValueError} (or
        C{RecursionError}) for anything that is not JSON in UTF-8.
    """

    ping_interval: float
    pong_timeout: float
    resume_timeout: float
    open_timeout: float
    decode: Callable[[bytes], Any] = stdlib_decode
    last_id: int = 0
    # Each awaited message id: its waiter, and the number of the connection it was sent on.
    _pending: dict[int, tuple[W, int]] = field(default_factory=dict)
    _connection: int = 0
    _last_awaited: int | None = None
    _resuming_for: int | None = None
    _resume_deadline: float | None = None
    _open_deadline: float | None = None
    _keepalive: bool = False
    _last_outgoing: float = 0.0
    _ping_id: int | None = None
    _pong_deadline: float = 0.0

    # Outgoing

    def prepare(self, type: str, body: Mapping[str, Any] | None) -> str:
        """
        Encode an outgoing event without its id, refusing it if Slack would.

        @return: the JSON text of C{{**body, "type": type}}, for L{stamp}.
        @raise MessageTooLongError: the text is over L{MAX_TEXT_CHARS} characters or the
            frame over L{MAX_FRAME_BYTES} bytes.
        @raise TypeError: a field of the body is not of a JSON type (named in the message).
        @raise ValueError: a number in the body is NaN or infinite (named in the message).
        """
        event = dict(body) if body else {}
        event.pop("id", None)
        event["type"] = type
        text = event.get("text")
        if isinstance(text, str) and len(text) > MAX_TEXT_CHARS:
            raise MessageTooLongError(
                f"The message text has {len(text)} characters; Slack accepts at most "
                f"{MAX_TEXT_CHARS}. Split it, or post it with chat.postMessage."
            )
        try:
            encoded = encode_event(event)
        except (TypeError, ValueError):
            _refuse_field(type, event)
            raise
        size = (len(encoded) if encoded.isascii() else len(encoded.encode("utf-8"))) + _ID_ROOM
        if size > MAX_FRAME_BYTES:
            raise MessageTooLongError(
                f"The {type!r} frame would be about {size} bytes; Slack closes the connection "
                f"of a client that sends more than {MAX_FRAME_BYTES}."
            )
        return encoded

    def stamp(self, prepared: str, now: float) -> tuple[int, str]:
        """
        Give a prepared event the next message id, as it is about to be written.

        @return: C{(id, frame_text)}.
        """
        self.last_id += 1
        self._last_outgoing = now
        return self.last_id, f'{prepared[:-1]},"id":{self.last_id}}}'

    def expect_reply(self, message_id: int, waiter: W) -> None:
        """Remember that the message C{message_id} awaits a reply, for C{waiter}."""
        self._pending[message_id] = (waiter, self._connection)
        self._last_awaited = message_id

    @property
    def awaiting(self) -> int:
        """How many sent messages still await their reply."""
        return len(self._pending)

    # Incoming

    def receive(self, payload: bytes, is_binary: bool) -> Incoming[W] | Event | Malformed:
        """
        Decode one incoming WebSocket message and settle what it answers.

        @return: for an event that answers nothing and does not concern the connection
            (nearly every frame), the L{Event} itself, to dispatch; for a reply or a frame
            about the connection (C{hello}, C{goodbye}, errors...), an L{Incoming} saying
            what it means; for anything not a JSON object, L{Malformed}.
        """
        if is_binary:
            return Malformed("a binary frame", _preview(payload))
        try:
            frame = self.decode(payload)
        except (ValueError, RecursionError) as error:
            return Malformed(f"not JSON ({type(error).__name__})", _preview(payload))
        if not isinstance(frame, dict):
            return Malformed("not a JSON object", _preview(payload))
        type_ = frame.get("type")
        if not isinstance(type_, str):
            type_ = None
        elif type_ not in _CONNECTION_TYPES and "reply_to" not in frame:
            return frame
        reply_to = frame.get("reply_to")
        waiter = None
        resumed = False
        if isinstance(reply_to, int) and not isinstance(reply_to, bool):
            if self._ping_id is not None and reply_to >= self._ping_id:
                self._ping_id = None
            pending = self._pending.pop(reply_to, None)
            if pending is not None:
                waiter = pending[0]
            if reply_to == self._resuming_for:
                resumed = True
                self._end_resume()
        reconnect = _reconnect_reason(type_, frame) if type_ in _CONTROL_TYPES else None
        return Incoming(frame, type_, waiter, resumed, reconnect)

    # Connection lifecycle

    def connection_lost(self) -> list[W]:
        """
        Forget the connection's keepalive and return the waiters that can no longer get a
        reply: all those pending except the last message sent, whose reply Slack may replay
        on the next connection.
        """
        self.closing()
        keep = self._last_awaited
        lost = [waiter for i, (waiter, _) in self._pending.items() if i != keep]
        self._pending = {i: p for i, p in self._pending.items() if i == keep}
        self._connection += 1
        return lost

    def opening(self, now: float) -> None:
        """Note that a new connection is being opened: C{hello} is due by L{open_timeout}."""
        self._open_deadline = now + self.open_timeout

    def hello(self, now: float) -> bool:
        """
        Note C{hello} on a new connection.

        @return: C{True} when the connection must resume: a message from an earlier connection
            still awaits its reply, which Slack may replay now.
        """
        self._open_deadline = None
        candidate = self._last_awaited
        pending = self._pending.get(candidate) if candidate is not None else None
        if pending is None or pending[1] == self._connection:
            return False
        self._resuming_for = candidate
        self._resume_deadline = now + self.resume_timeout
        return True

    def ready(self, now: float) -> list[W]:
        """
        Note that the connection is ready, start its keepalive, and return the waiters of
        earlier connections whose replies will now never come.
        """
        self._end_resume()
        self._keepalive = True
        self._last_outgoing = now
        self._ping_id = None
        stale = [i for i, (_, sent_on) in self._pending.items() if sent_on != self._connection]
        return [self._pending.pop(i)[0] for i in stale]

    def closing(self) -> None:
        """Stop every timed duty (keepalive, hello and replay waits): the client is leaving."""
        self._keepalive = False
        self._ping_id = None
        self._open_deadline = None
        self._end_resume()

    def drain(self) -> list[W]:
        """Stop everything and return every waiter still pending, for the client to fail."""
        waiters = [waiter for waiter, _ in self._pending.values()]
        self._pending.clear()
        self.connection_lost()
        self._last_awaited = None
        return waiters

    def _end_resume(self) -> None:
        self._resuming_for = None
        self._resume_deadline = None

    # Time

    def note_ping(self, ping_id: int, now: float) -> None:
        """Note that the ping C{ping_id} was just written, starting its pong deadline."""
        self._ping_id = ping_id
        self._pong_deadline = now + self.pong_timeout

    def next_deadline(self) -> float | None:
        """When L{tick} should next be called, or C{None} when nothing is timed."""
        deadlines = []
        if self._open_deadline is not None:
            deadlines.append(self._open_deadline)
        if self._resume_deadline is not None:
            deadlines.append(self._resume_deadline)
        if self._keepalive:
            if self._ping_id is not None:
                deadlines.append(self._pong_deadline)
            else:
                deadlines.append(self._last_outgoing + self.ping_interval)
        return min(deadlines, default=None)

    def tick(self, now: float) -> Due:
        """What is due at C{now}: a ping, a dead connection, the end of resuming, or nothing."""
        if self._open_deadline is not None and now >= self._open_deadline:
            self._open_deadline = None
            return Due.OPEN_TIMEOUT
        if self._resume_deadline is not None and now >= self._resume_deadline:
            self._end_resume()
            return Due.RESUME_OVER
        if not self._keepalive:
            return Due.NOTHING
        if self._ping_id is not None:
            return Due.PONG_OVERDUE if now >= self._pong_deadline else Due.NOTHING
        if now >= self._last_outgoing + self.ping_interval:
            return Due.PING
        return Due.NOTHING


def _refuse_field(type: str, event: dict[str, Any]) -> None:
    """Raise C{TypeError} or C{ValueError} naming the field of C{event} JSON cannot carry."""
    for name, value in event.items():
        try:
            json.dumps(value, allow_nan=False)
        except TypeError:
            raise TypeError(
                f"{name!r} of a {type!r} event cannot be sent as JSON: "
                f"{value.__class__.__name__} is not a JSON type"
            ) from None
        except ValueError:
            raise ValueError(
                f"{name!r} of a {type!r} event cannot be sent as JSON: {value!r} is out of range"
            ) from None


def _reconnect_reason(type_: str | None, frame: dict[str, Any]) -> str | None:
    if type_ in _RECONNECT_TYPES:
        return type_
    if type_ == "error":
        error = frame.get("error")
        if isinstance(error, dict) and error.get("code") == 1:
            return "the WebSocket URL expired"
    return None


def _preview(payload: bytes) -> str:
    return payload[: PREVIEW_CHARS * 4].decode("utf-8", "replace")[:PREVIEW_CHARS]

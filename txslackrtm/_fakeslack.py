# -*- test-case-name: tests.test_fakeslack -*-
"""
The fake Slack's behaviour, without any I/O: what a workspace answers to Web API calls and to
RTM frames, and what it does when a test scripts a fault.

L{FakeSlackCore} is told everything (the request, the frame, the time C{now}) and returns
plain data: an L{HTTPResponse} for a Web API call, and a list of L{Action}s (frames to send,
connections to close, things the test may want to observe) for everything else. The Twisted
glue in L{txslackrtm._fakeserver} carries those out on real sockets; the unit tests drive this
class directly, with no sockets and no clock.

The behaviour follows the fake-server checklist of the protocol reference (section 8): Web API
calls hand out single-use tickets, a WebSocket opened with a valid ticket is greeted with
C{hello}, C{message} frames are validated, acknowledged with a C{ts} and echoed to every
connection of a member, and so on.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

#: The largest frame, in bytes, that Slack accepts from a client; bigger ones close the socket.
MAX_FRAME_BYTES = 16384

#: The WebSocket close code for a frame that is too big (RFC 6455); Slack's own is undocumented.
CLOSE_TOO_BIG = 1009

#: The close code used when the fake ends a connection on purpose (goodbye, migration).
CLOSE_GOING_AWAY = 1001

#: The close code used after telling a client that its ticket is not valid.
CLOSE_NORMAL = 1000

#: Seconds a WebSocket URL handed out by C{rtm.connect} stays valid, as on Slack.
DEFAULT_TICKET_TTL = 30.0

#: The token the fake accepts unless told otherwise.
DEFAULT_TOKEN = "xoxb-fake-0000-valid"

#: The Web API methods that open an RTM session; C{rtm.start} answers like C{rtm.connect}, as
#: Slack does since 2022.
CONNECT_METHODS = frozenset({"rtm.connect", "rtm.start"})

#: The presence values Slack reports.
PRESENCES = frozenset({"active", "away"})

#: What a violation's C{kind} is, for each way a client can break the protocol.
OVERSIZED_FRAME = "oversized_frame"
BINARY_FRAME = "binary_frame"
NOT_JSON_OBJECT = "not_json_object"

#: Slack's (code, msg) pairs for the errors the fake reports.
_EXPIRED = (1, "Socket URL has expired")
_INVALID_CHANNEL = (0, "invalid channel id")
_MISSING_TEXT = (2, "message text is missing")
_SCALARS = (str, int, float, bool, type(None))
_TRUE_ARGS = frozenset({"1", "true"})


@dataclass(frozen=True)
class Send:
    """
    Send the JSON object C{frame} as a text frame on connection C{connection}.
    """

    connection: int
    frame: dict[str, Any]


@dataclass(frozen=True)
class SendRaw:
    """
    Send C{data} as it is on connection C{connection}: a binary frame if C{binary}, else text.
    """

    connection: int
    data: bytes
    binary: bool


@dataclass(frozen=True)
class Close:
    """
    Start the WebSocket closing handshake on C{connection} with C{code} and C{reason}.
    """

    connection: int
    code: int
    reason: str


@dataclass(frozen=True)
class Abort:
    """
    Drop the TCP connection under C{connection} at once, without a closing handshake.
    """

    connection: int


@dataclass(frozen=True)
class Silence:
    """
    From now on, neither read from nor write to C{connection}, but keep its TCP connection open.
    """

    connection: int


@dataclass(frozen=True)
class Opened:
    """
    Connection C{connection} was greeted with C{hello}: a client is now connected.
    """

    connection: int


@dataclass(frozen=True)
class FrameLogged:
    """
    A client sent the JSON object C{frame} (already appended to L{FakeSlackCore.received}).
    """

    frame: dict[str, Any]


@dataclass(frozen=True)
class MessageAccepted:
    """
    A client's C{message} frame was accepted (already appended to L{FakeSlackCore.messages}).
    """

    message: dict[str, Any]


#: Everything L{FakeSlackCore} may ask its glue to do or to report. The reports (L{Opened},
#: L{FrameLogged}, L{MessageAccepted}) come after the frames of the same step, so that a test
#: woken up by one sees every frame of that step already sent.
Action = Send | SendRaw | Close | Abort | Silence | Opened | FrameLogged | MessageAccepted


@dataclass(frozen=True)
class ConnectRequest:
    """
    A Web API call as the fake sees it.

    @ivar method: the method name from the URL, such as C{"rtm.connect"}.
    @ivar verb: the HTTP method, C{"GET"} or C{"POST"}.
    @ivar authorization: the C{Authorization} header, if any.
    @ivar form: the arguments in a form-encoded body.
    @ivar query: the arguments in the query string.
    """

    method: str
    verb: str
    authorization: str | None = None
    form: Mapping[str, str] = field(default_factory=dict)
    query: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class HTTPResponse:
    """
    The answer to a Web API call: an HTTP status, extra headers and a JSON body.
    """

    status: int
    headers: Mapping[str, str]
    body: dict[str, Any]


@dataclass
class ConnectCall:
    """
    The record of one C{rtm.connect} or C{rtm.start} call, for tests to inspect.

    @ivar method: C{"rtm.connect"} or C{"rtm.start"}.
    @ivar args: the form and query arguments, without the token.
    @ivar verb: C{"GET"} or C{"POST"}.
    @ivar status: the HTTP status answered, or C{None} while the call is stalled.
    @ivar error: the C{error} of an C{{"ok": false}} answer, C{None} on success or while stalled.
    """

    method: str
    args: dict[str, str]
    verb: str
    status: int | None = None
    error: str | None = None


@dataclass(frozen=True)
class Stalled:
    """
    The call was stalled by L{FakeSlackCore.stall_connect}: answer it later with
    L{FakeSlackCore.release}.

    @ivar stall: the number L{FakeSlackCore.stall_connect} returned for this stall.
    """

    stall: int
    request: ConnectRequest
    call: ConnectCall


@dataclass(frozen=True)
class Violation:
    """
    Something a client did that real Slack punishes: a test usually wants to know.

    @ivar kind: L{OVERSIZED_FRAME}, L{BINARY_FRAME} or L{NOT_JSON_OBJECT}.
    @ivar connection: the connection it happened on.
    @ivar detail: a sentence saying what was seen.
    """

    kind: str
    connection: int
    detail: str


@dataclass(frozen=True)
class _Scripted:
    """A scripted answer to one connect call: an HTTP C{status} and an C{error} code."""

    response: HTTPResponse

    @classmethod
    def failure(
        cls, status: int, error: str, headers: Mapping[str, str] | None = None
    ) -> _Scripted:
        return cls(HTTPResponse(status, dict(headers or {}), _error(error)))


@dataclass(frozen=True)
class _Stall:
    """A scripted stall of one connect call; C{number} identifies it to the glue."""

    number: int


@dataclass
class _Ticket:
    """A WebSocket URL handed out, and the events that happened since, for after C{hello}."""

    token: str
    issued: float
    batch_presence: bool
    usable: bool = True
    backlog: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class _Ack:
    """The reply to one accepted message, and whether the client was sent it yet."""

    connection: int
    reply: dict[str, Any]
    replay: dict[str, Any]
    delivered: bool = False


@dataclass
class _Connection:
    number: int
    token: str | None
    batch_presence: bool
    greeted: bool = False
    silenced: bool = False
    ending: bool = False
    subscriptions: set[str] = field(default_factory=set)

    @property
    def reachable(self) -> bool:
        """Whether frames sent now reach the client: greeted, not silenced, not ending."""
        return self.greeted and not self.silenced and not self.ending


_Handler = Callable[[_Connection, dict[str, Any], float], list[Action]]


class FakeSlackCore:
    """
    One fake workspace with one bot: its tokens, users, channels, tickets and connections.

    @ivar connect_calls: every C{rtm.connect}/C{rtm.start} call, in order (L{ConnectCall}).
    @ivar received: every JSON object a client sent, in order, pings included.
    @ivar messages: every accepted C{message} frame, with the C{ts} it was given.
    @ivar violations: every L{Violation} seen; tests clear it when they expected them.
    """

    def __init__(
        self,
        tokens: Sequence[str] = (DEFAULT_TOKEN,),
        *,
        bot_user_id: str = "U0BOT",
        bot_name: str = "bot",
        team_id: str = "T0TEAM",
        team_name: str = "Fake Team",
        team_domain: str = "fake",
        users: Iterable[str] = ("U1", "U2"),
        channels: Mapping[str, Iterable[str]] | None = None,
        ticket_ttl: float = DEFAULT_TICKET_TTL,
        allow_query_token: bool = True,
        echo_before_reply: bool = False,
    ) -> None:
        """
        @param tokens: the tokens that authenticate as the bot; the first is the one tests use.
        @param bot_user_id: the bot's user id, reported as C{self.id} and as the C{user} of
            its messages.
        @param bot_name: the bot's name, reported as C{self.name}.
        @param team_id: the workspace id, reported as C{team.id} and in message events.
        @param team_name: the workspace name, reported as C{team.name}.
        @param team_domain: the workspace domain, reported as C{team.domain}.
        @param users: the ids of the people in the workspace besides the bot.
        @param channels: conversation id to member ids (the bot's id included where it is a
            member); by default C{C1} with the bot and every user, and C{D1}, an IM between
            the bot and the first user (with the default users: C{U1} and C{U2} in C{C1}, C{U1}
            in C{D1}).
        @param ticket_ttl: seconds a WebSocket URL stays valid after the connect call.
        @param allow_query_token: whether a C{token} in the query string is accepted; Slack
            refuses it for apps made after February 2021.
        @param echo_before_reply: send the echoed C{message} event before the reply to the
            sender, instead of after it (Slack does not promise an order).
        @raise TypeError: when an argument has the wrong type (the message names it).
        @raise ValueError: when an argument has a wrong value (the message names it).
        """
        self._tokens = _strings("tokens", tokens, allow_empty=False)
        self._identity = {
            "bot_user_id": _text("bot_user_id", bot_user_id),
            "bot_name": _text("bot_name", bot_name),
            "team_id": _text("team_id", team_id),
            "team_name": _text("team_name", team_name),
            "team_domain": _text("team_domain", team_domain),
        }
        self._presence = dict.fromkeys((bot_user_id, *_strings("users", users)), "active")
        self._members = self._check_channels(channels)
        self._ticket_ttl = _positive("ticket_ttl", ticket_ttl)
        self._allow_query_token = _flag("allow_query_token", allow_query_token)
        self._echo_before_reply = _flag("echo_before_reply", echo_before_reply)
        self._tickets: dict[str, _Ticket] = {}
        self._connections: dict[int, _Connection] = {}
        self._last_ts: dict[str, tuple[int, int]] = {}
        self._last_ack: dict[str, _Ack | None] = {}
        self._held: list[_Ack] | None = None
        self._script: deque[_Scripted | _Stall] = deque()
        self._refusals: deque[int] = deque()
        self._counter = 0
        self._handlers: dict[str, _Handler] = {
            "message": self._on_message,
            "typing": self._on_typing,
            "ping": self._on_ping,
            "presence_sub": self._on_presence_sub,
            "presence_query": self._on_presence_query,
        }
        self.connect_calls: list[ConnectCall] = []
        self.received: list[dict[str, Any]] = []
        self.messages: list[dict[str, Any]] = []
        self.violations: list[Violation] = []

    def _check_channels(self, channels: Mapping[str, Iterable[str]] | None) -> dict[str, set[str]]:
        if channels is None:
            people = list(self._presence)
            return {"C1": set(people), "D1": set(people[:2])}
        if not isinstance(channels, Mapping):
            raise TypeError(f"channels must be a mapping of channel id to members: {channels!r}")
        members = {
            _text("channels", cid): set(_strings("channels", m)) for cid, m in channels.items()
        }
        for cid, ids in members.items():
            unknown = sorted(ids - set(self._presence))
            if unknown:
                raise ValueError(f"channels: {cid} has members that are not users: {unknown}")
        return members

    @property
    def token(self) -> str:
        """The first valid token: the one a test's client should use."""
        return self._tokens[0]

    @property
    def bot_user_id(self) -> str:
        """The bot's user id."""
        return self._identity["bot_user_id"]

    @property
    def team_id(self) -> str:
        """The workspace's id."""
        return self._identity["team_id"]

    @property
    def open_connections(self) -> int:
        """How many connections were greeted with C{hello} and are not closed yet."""
        return sum(1 for c in self._connections.values() if c.greeted)

    # Web API

    def web_api_call(
        self, request: ConnectRequest, now: float, websocket_base: str
    ) -> HTTPResponse | Stalled:
        """
        Answer a Web API call.

        Only C{rtm.connect} and C{rtm.start} are known; they are recorded in L{connect_calls},
        then answered by the oldest scripted fault if any, else by the token check and, when
        it passes, a fresh ticket.

        @param now: the current time in seconds; the ticket's time to live starts here.
        @param websocket_base: the URL prefix a ticket is appended to, such as
            C{"ws://127.0.0.1:8080/websocket/"}.
        """
        if request.method not in CONNECT_METHODS:
            return _response(200, {"ok": False, "error": "unknown_method"})
        args = {**request.query, **request.form}
        args.pop("token", None)
        call = ConnectCall(request.method, args, request.verb)
        self.connect_calls.append(call)
        scripted = self._script.popleft() if self._script else None
        if isinstance(scripted, _Stall):
            return Stalled(scripted.number, request, call)
        if scripted is not None:
            return _record(call, scripted.response)
        return self._authenticate(request, call, now, websocket_base)

    def release(self, stalled: Stalled, now: float, websocket_base: str) -> HTTPResponse:
        """
        Answer a call that was L{Stalled}, as if it had just arrived with no fault scripted.
        """
        return self._authenticate(stalled.request, stalled.call, now, websocket_base)

    def _authenticate(
        self, request: ConnectRequest, call: ConnectCall, now: float, websocket_base: str
    ) -> HTTPResponse:
        token = self._token_of(request)
        if token is None:
            return _record(call, _response(200, _error("not_authed")))
        if token not in self._tokens:
            return _record(call, _response(200, _error("invalid_auth")))
        ticket = self._issue_ticket(token, now, call.args.get("batch_presence_aware", ""))
        return _record(call, _response(200, self._session_body(websocket_base + ticket)))

    def _token_of(self, request: ConnectRequest) -> str | None:
        scheme, _, credentials = (request.authorization or "").partition(" ")
        if scheme.lower() == "bearer" and credentials.strip():
            return credentials.strip()
        if request.form.get("token"):
            return request.form["token"]
        if self._allow_query_token and request.query.get("token"):
            return request.query["token"]
        return None

    def _issue_ticket(self, token: str, now: float, batch_presence: str) -> str:
        # Forget used and expired tickets: they are refused exactly as unknown ones are, and a
        # long-running fake (the demo) must not keep one record per connect call forever.
        self._tickets = {
            name: ticket
            for name, ticket in self._tickets.items()
            if ticket.usable and now < ticket.issued + self._ticket_ttl
        }
        self._counter += 1
        ticket = f"fake-ticket-{self._counter}"
        self._tickets[ticket] = _Ticket(token, now, batch_presence.lower() in _TRUE_ARGS)
        return ticket

    def _session_body(self, url: str) -> dict[str, Any]:
        ident = self._identity
        return {
            "ok": True,
            "url": url,
            "team": {
                "id": ident["team_id"],
                "name": ident["team_name"],
                "domain": ident["team_domain"],
            },
            "self": {"id": ident["bot_user_id"], "name": ident["bot_name"]},
        }

    # WebSocket

    def upgrade_requested(self) -> int | None:
        """
        A client asks to upgrade to a WebSocket.

        @return: the HTTP status to refuse it with, when L{refuse_handshake} scripted a
            refusal; C{None} to accept it.
        """
        return self._refusals.popleft() if self._refusals else None

    def connection_opened(self, ticket: str, now: float) -> tuple[int, list[Action]]:
        """
        A WebSocket opened on C{/websocket/<ticket>}.

        A valid ticket (known, unused, not expired) is used up: the connection is greeted with
        C{hello}, then given the replayed reply to the token's last message if that reply was
        never delivered (it was held by L{hold_replies}, or the message arrived while its
        connection was being closed or dropped), then the events broadcast since the connect
        call, as Slack does. Any other ticket gets Slack's C{error} event with
        code 1 and a close; such a connection is never counted as open.

        @return: the connection's number, to pass to L{frame_received} and
            L{connection_closed}, and the actions to carry out.
        """
        self._counter += 1
        number = self._counter
        found = self._tickets.get(ticket)
        if found is None or not found.usable or now >= found.issued + self._ticket_ttl:
            self._connections[number] = _Connection(number, None, False, ending=True)
            expired = {"type": "error", "error": _slack_error(_EXPIRED)}
            return number, [Send(number, expired), Close(number, CLOSE_NORMAL, "ticket expired")]
        found.usable = False
        connection = _Connection(number, found.token, found.batch_presence, greeted=True)
        self._connections[number] = connection
        actions: list[Action] = [Send(number, {"type": "hello"})]
        last = self._last_ack.get(found.token)
        if last is not None and not last.delivered:
            last.delivered = True
            actions.append(Send(number, last.replay))
        actions += [Send(number, event) for event in found.backlog]
        found.backlog.clear()
        return number, [*actions, Opened(number)]

    def connection_closed(self, connection: int) -> None:
        """
        Connection C{connection} is gone (for whatever reason): forget it.
        """
        self._connections.pop(connection, None)

    def frame_received(
        self, connection: int, payload: bytes, binary: bool, now: float
    ) -> list[Action]:
        """
        A client sent a frame (a whole WebSocket message) on C{connection}.

        Frames over L{MAX_FRAME_BYTES} close the connection with code 1009; binary frames and
        text that is not a JSON object are dropped. All three are recorded as L{violations}.
        Other frames are logged in L{received} and, once the connection was greeted, handled
        by type; unknown types are ignored, as Slack does.
        """
        state = self._connections.get(connection)
        if state is None or state.silenced:
            return []
        if len(payload) > MAX_FRAME_BYTES:
            self._violate(OVERSIZED_FRAME, connection, f"a frame of {len(payload)} bytes")
            state.ending = True
            return [Close(connection, CLOSE_TOO_BIG, "frame too big")]
        if binary:
            self._violate(BINARY_FRAME, connection, f"a binary frame of {len(payload)} bytes")
            return []
        frame = _json_object(payload)
        if frame is None:
            self._violate(NOT_JSON_OBJECT, connection, f"a text frame {payload[:200]!r}")
            return []
        self.received.append(frame)
        kind = frame.get("type")
        handler = self._handlers.get(kind) if isinstance(kind, str) else None
        actions = handler(state, frame, now) if state.greeted and handler is not None else []
        return [*actions, FrameLogged(frame)]

    def _violate(self, kind: str, connection: int, seen: str) -> None:
        self.violations.append(Violation(kind, connection, f"connection {connection} sent {seen}"))

    def _on_message(self, sender: _Connection, frame: dict[str, Any], now: float) -> list[Action]:
        assert sender.token is not None  # a greeted connection always has one
        channel, text = frame.get("channel"), frame.get("text")
        if not self._bot_is_in(channel):
            return self._refuse(sender, frame, _INVALID_CHANNEL)
        if not isinstance(text, str) or not text:
            return self._refuse(sender, frame, _MISSING_TEXT)
        assert isinstance(channel, str)  # checked by _bot_is_in
        ts = self._allocate_ts(channel, now)
        self.messages.append({**frame, "ts": ts})
        event = self._message_event(frame, ts)
        echo = self._to_members(channel, event, now)
        reply = self._acknowledge(sender, frame, ts, event)
        ordered = echo + reply if self._echo_before_reply else reply + echo
        return [*ordered, MessageAccepted(self.messages[-1])]

    def _bot_is_in(self, channel: object) -> bool:
        return isinstance(channel, str) and self.bot_user_id in self._members.get(channel, ())

    def _refuse(
        self, sender: _Connection, frame: dict[str, Any], error: tuple[int, str]
    ) -> list[Action]:
        if "id" not in frame:
            return []
        assert sender.token is not None
        self._last_ack[sender.token] = None
        return [
            Send(
                sender.number, {"ok": False, "reply_to": frame["id"], "error": _slack_error(error)}
            )
        ]

    def _message_event(self, frame: dict[str, Any], ts: str) -> dict[str, Any]:
        extras = {k: v for k, v in frame.items() if k not in ("id", "type", "channel", "text")}
        return {
            "type": "message",
            "channel": frame["channel"],
            "user": self.bot_user_id,
            "text": frame["text"],
            "ts": ts,
            "team": self.team_id,
            **extras,
        }

    def _acknowledge(
        self, sender: _Connection, frame: dict[str, Any], ts: str, event: dict[str, Any]
    ) -> list[Action]:
        if "id" not in frame:
            return []
        assert sender.token is not None
        reply = {"ok": True, "reply_to": frame["id"], "ts": ts, "text": frame["text"]}
        ack = _Ack(sender.number, reply, {**event, "reply_to": frame["id"]})
        self._last_ack[sender.token] = ack
        if self._held is not None:
            self._held.append(ack)
            return []
        if not sender.reachable:  # it sent this just before being closed: replay it later
            return []
        ack.delivered = True
        return [Send(sender.number, reply)]

    def _on_typing(self, sender: _Connection, frame: dict[str, Any], now: float) -> list[Action]:
        channel = frame.get("channel")
        if not self._bot_is_in(channel):
            return self._refuse(sender, frame, _INVALID_CHANNEL)
        event = {"type": "user_typing", "channel": channel, "user": self.bot_user_id}
        return [Send(c.number, event) for c in self._live() if c is not sender]

    def _on_ping(self, sender: _Connection, frame: dict[str, Any], now: float) -> list[Action]:
        pong: dict[str, Any] = {"type": "pong"}
        if "id" in frame:
            pong["reply_to"] = frame["id"]
        pong.update(
            (k, v) for k, v in frame.items() if k not in ("id", "type") and isinstance(v, _SCALARS)
        )
        return [Send(sender.number, pong)]

    def _on_presence_sub(
        self, sender: _Connection, frame: dict[str, Any], now: float
    ) -> list[Action]:
        ids = _id_list(frame.get("ids"))
        added = [u for u in ids if u not in sender.subscriptions]
        sender.subscriptions = set(ids)
        return self._presence_events(sender, added)

    def _on_presence_query(
        self, sender: _Connection, frame: dict[str, Any], now: float
    ) -> list[Action]:
        return self._presence_events(sender, _id_list(frame.get("ids")))

    def _presence_events(self, to: _Connection, users: Iterable[str]) -> list[Action]:
        known = [u for u in dict.fromkeys(users) if u in self._presence]
        if not to.batch_presence:
            return [Send(to.number, self._presence_change(u)) for u in known]
        groups: dict[str, list[str]] = {}
        for user in known:
            groups.setdefault(self._presence[user], []).append(user)
        return [
            Send(to.number, {"type": "presence_change", "users": ids, "presence": presence})
            for presence, ids in groups.items()
        ]

    def _presence_change(self, user: str) -> dict[str, Any]:
        return {"type": "presence_change", "user": user, "presence": self._presence[user]}

    def _allocate_ts(self, channel: str, now: float) -> str:
        second = int(now)
        last_second, last_seq = self._last_ts.get(channel, (second, 0))
        if second > last_second:
            seq = 1
        else:
            second, seq = last_second, last_seq + 1
        if seq > 999_999:
            second, seq = second + 1, 1
        self._last_ts[channel] = (second, seq)
        return f"{second}.{seq:06d}"

    def _live(self) -> list[_Connection]:
        return [c for c in self._connections.values() if c.reachable]

    def _to_members(self, channel: str, event: dict[str, Any], now: float) -> list[Action]:
        if self.bot_user_id not in self._members[channel]:
            return []
        return self._broadcast(event, now)

    def _broadcast(self, event: dict[str, Any], now: float) -> list[Action]:
        """Send C{event} to every live connection, and keep it for those still to open."""
        for ticket in self._tickets.values():
            if ticket.usable and now < ticket.issued + self._ticket_ttl:
                ticket.backlog.append(event)
        return [Send(c.number, event) for c in self._live()]

    # Acting as Slack and as its users

    def say(
        self, channel: str, text: str, user: str, extra: Mapping[str, Any], now: float
    ) -> tuple[dict[str, Any], list[Action]]:
        """
        User C{user} posts C{text} in C{channel}: every connection of a member gets the event,
        and so do connections still to be opened with a URL handed out already.

        @param extra: more fields for the event, such as C{thread_ts} or C{subtype}.
        @return: the event, and the actions that deliver it.
        @raise ValueError: for an unknown channel or user (named in the message).
        """
        if _text("channel", channel) not in self._members:
            raise ValueError(f"channel: unknown channel {channel!r}")
        if _text("user", user) not in self._presence:
            raise ValueError(f"user: unknown user {user!r}")
        if not isinstance(text, str):
            raise TypeError(f"text must be a string, not {type(text).__name__}")
        event = {
            "type": "message",
            "channel": channel,
            "user": user,
            "text": text,
            "ts": self._allocate_ts(channel, now),
            "team": self.team_id,
            **extra,
        }
        _check_json("extra", event)
        return event, self._to_members(channel, event, now)

    def push(self, event: Mapping[str, Any], now: float) -> list[Action]:
        """
        Send C{event}, any JSON object, to every connection (and to those about to open).

        @raise TypeError: when C{event} is not a mapping that JSON can encode.
        """
        if not isinstance(event, Mapping):
            raise TypeError(f"event must be a dict, not {type(event).__name__}")
        frame = dict(event)
        _check_json("event", frame)
        return self._broadcast(frame, now)

    def send_raw(self, data: str | bytes, binary: bool) -> list[Action]:
        """
        Send C{data} unchanged to every connection, e.g. to test malformed frames.

        @param data: text is encoded as UTF-8; bytes are sent as they are, even in a text frame.
        @param binary: send a binary frame instead of a text frame.
        """
        if isinstance(data, str):
            data = data.encode("utf-8")
        if not isinstance(data, bytes):
            raise TypeError(f"data must be str or bytes, not {type(data).__name__}")
        return [SendRaw(c.number, data, _flag("binary", binary)) for c in self._live()]

    def set_presence(self, user: str, presence: str) -> list[Action]:
        """
        Set C{user}'s presence and tell every connection subscribed to them, even if unchanged.

        @param presence: C{"active"} or C{"away"}.
        """
        if _text("user", user) not in self._presence:
            raise ValueError(f"user: unknown user {user!r}")
        if presence not in PRESENCES:
            raise ValueError(f"presence must be 'active' or 'away', not {presence!r}")
        self._presence[user] = presence
        return [
            action
            for c in self._live()
            if user in c.subscriptions
            for action in self._presence_events(c, [user])
        ]

    # Scripted faults

    def drop(self) -> list[Action]:
        """
        Abort every connection, as a network failure would.
        """
        for connection in self._connections.values():
            connection.ending = True
        return [Abort(n) for n in self._connections]

    def goodbye(self) -> list[Action]:
        """
        Say C{goodbye} on every connection, then close it.
        """
        return self._announce_and_close({"type": "goodbye"})

    def team_migration(self, failing_connects: int) -> list[Action]:
        """
        Announce C{team_migration_started} on every connection and close it; the next
        C{failing_connects} connect calls then fail with C{migration_in_progress}.
        """
        count = _count("failing_connects", failing_connects, minimum=0)
        self._script.extend(_Scripted.failure(200, "migration_in_progress") for _ in range(count))
        return self._announce_and_close({"type": "team_migration_started"})

    def _announce_and_close(self, event: dict[str, Any]) -> list[Action]:
        actions: list[Action] = []
        for c in self._live():
            actions += [Send(c.number, event), Close(c.number, CLOSE_GOING_AWAY, event["type"])]
            c.ending = True
        return actions

    def half_open(self) -> list[Action]:
        """
        Make every current connection silently dead: nothing read, nothing written, TCP open.

        Replies that were held (L{hold_replies}) for them stay undelivered, so they are
        replayed to the next connection of the same token.
        """
        silenced = [c for c in self._connections.values() if not c.silenced]
        for c in silenced:
            c.silenced = True
        return [Silence(c.number) for c in silenced]

    def refuse_handshake(self, count: int, status: int) -> None:
        """
        Refuse the next C{count} WebSocket upgrades with HTTP C{status}.
        """
        self._refusals.extend([_status("status", status, minimum=400)] * _count("count", count))

    def rate_limit(self, retry_after: int, count: int) -> None:
        """
        Answer the next C{count} connect calls with HTTP 429, C{Retry-After: retry_after} and
        C{{"ok": false, "error": "ratelimited"}}.
        """
        wait = _count("retry_after", retry_after, minimum=0)
        scripted = _Scripted.failure(429, "ratelimited", {"Retry-After": str(wait)})
        self._script.extend([scripted] * _count("count", count))

    def fail_connect(self, error: str, count: int, status: int) -> None:
        """
        Answer the next C{count} connect calls with HTTP C{status} and
        C{{"ok": false, "error": error}}.
        """
        scripted = _Scripted.failure(_status("status", status, minimum=200), _text("error", error))
        self._script.extend([scripted] * _count("count", count))

    def stall_connect(self) -> int:
        """
        Stall the next connect call: L{web_api_call} returns L{Stalled} for it.

        @return: a number identifying this stall; L{Stalled.stall} carries it.
        """
        self._counter += 1
        self._script.append(_Stall(self._counter))
        return self._counter

    def expire_tickets(self) -> None:
        """
        Make every ticket handed out so far unusable, as if its 30 seconds had passed.
        """
        for ticket in self._tickets.values():
            ticket.usable = False

    def hold_replies(self) -> None:
        """
        From now on, accept and echo messages but keep their replies back.
        """
        if self._held is None:
            self._held = []

    def release_replies(self) -> list[Action]:
        """
        Send the replies held back since L{hold_replies}, and stop holding.

        A reply whose connection is gone, closing or silenced stays undelivered (it is then
        replayed to the next connection); one already replayed is not sent again.
        """
        held, self._held = self._held or [], None
        actions: list[Action] = []
        for ack in held:
            target = self._connections.get(ack.connection)
            if not ack.delivered and target is not None and target.reachable:
                ack.delivered = True
                actions.append(Send(ack.connection, ack.reply))
        return actions


def _response(status: int, body: dict[str, Any]) -> HTTPResponse:
    return HTTPResponse(status, {}, body)


def _slack_error(error: tuple[int, str]) -> dict[str, Any]:
    return {"code": error[0], "msg": error[1]}


def _error(code: str) -> dict[str, Any]:
    return {"ok": False, "error": code}


def _record(call: ConnectCall, response: HTTPResponse) -> HTTPResponse:
    call.status = response.status
    call.error = response.body.get("error")
    return response


def _json_object(payload: bytes) -> dict[str, Any] | None:
    try:
        decoded = json.loads(payload.decode("utf-8"))
    except ValueError:  # UnicodeDecodeError and JSONDecodeError are both ValueErrors
        return None
    return decoded if isinstance(decoded, dict) else None


def _id_list(value: object) -> list[str]:
    if not isinstance(value, list):
        return []
    return [v for v in value if isinstance(v, str)]


def _check_json(name: str, value: object) -> None:
    try:
        json.dumps(value)
    except (TypeError, ValueError) as e:
        raise TypeError(f"{name} must be JSON-encodable: {e}") from None


def _text(name: str, value: object) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a string, not {type(value).__name__}")
    if not value:
        raise ValueError(f"{name} must not be empty")
    return value


def _strings(name: str, values: Iterable[str], allow_empty: bool = True) -> list[str]:
    if isinstance(values, str | bytes) or not isinstance(values, Iterable):
        raise TypeError(f"{name} must be a list of strings, not {type(values).__name__}")
    result = [_text(name, v) for v in values]
    if not result and not allow_empty:
        raise ValueError(f"{name} must not be empty")
    return result


def _flag(name: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be True or False, not {value!r}")
    return value


def _positive(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{name} must be a number of seconds, not {type(value).__name__}")
    if not value > 0:
        raise ValueError(f"{name} must be positive, not {value!r}")
    return float(value)


def _count(name: str, value: object, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an integer, not {type(value).__name__}")
    if value < minimum:
        raise ValueError(f"{name} must be at least {minimum}, not {value}")
    return value


def _status(name: str, value: object, minimum: int) -> int:
    status = _count(name, value, minimum)
    if status > 599:
        raise ValueError(f"{name} must be an HTTP status below 600, not {status}")
    return status

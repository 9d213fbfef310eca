# -*- test-case-name: tests.test_testing -*-
"""
The fake Slack on real loopback sockets: Twisted glue around L{FakeSlackCore}.

One port serves everything, as C{twisted.web} resources: C{/api/<method>} for the Web API
calls and C{/websocket/<ticket>} for the RTM WebSocket (Autobahn, upgraded from twisted.web).
Each request, WebSocket event and test action is handed to the core with the current time,
and the L{Action}s it returns are carried out here.

Autobahn schedules its own timers (handshake and close timeouts, auto-ping) on txaio's global
loop, where a test's clock cannot reach them and where they outlive the connection; they are
all switched off, so a stopped server leaves no delayed call behind.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar, cast
from urllib.parse import parse_qsl, urlsplit

from autobahn.twisted.resource import WebSocketResource
from autobahn.twisted.websocket import WebSocketServerFactory, WebSocketServerProtocol
from autobahn.websocket.types import ConnectionDeny, ConnectionRequest
from twisted.internet.defer import Deferred, gatherResults, maybeDeferred, succeed
from twisted.internet.interfaces import (
    IDelayedCall,
    IOpenSSLServerConnectionCreator,
    IReactorTime,
)
from twisted.internet.protocol import Factory
from twisted.protocols.policies import ProtocolWrapper, WrappingFactory
from twisted.protocols.tls import TLSMemoryBIOFactory
from twisted.trial.unittest import SynchronousTestCase
from twisted.web import http
from twisted.web.resource import IResource, Resource
from twisted.web.server import NOT_DONE_YET, Request, Site
from zope.interface import directlyProvides, providedBy

from ._fakeslack import (
    Abort,
    Action,
    Close,
    ConnectCall,
    ConnectRequest,
    FakeSlackCore,
    FrameLogged,
    HTTPResponse,
    MessageAccepted,
    Opened,
    Send,
    SendRaw,
    Silence,
    Stalled,
    Violation,
)

if TYPE_CHECKING:
    from ._client import RTMClient

T = TypeVar("T")

#: The only address the fake listens on: it is for tests, never reachable from elsewhere.
LOOPBACK = "127.0.0.1"


class TimeSource(Protocol):
    """Anything that tells the time in seconds, such as a reactor or a L{Clock}."""

    def seconds(self) -> float: ...


class TCPReactor(TimeSource, Protocol):
    """What the fake needs from a reactor: listening on TCP, and the time by default."""

    def listenTCP(
        self, port: int, factory: Factory[Any], backlog: int = ..., interface: str = ...
    ) -> Any: ...


class Scheduler(TimeSource, Protocol):
    """What L{clocked_reactor} needs from a clock: the time-keeping half of a reactor."""

    def callLater(
        self, delay: float, callable: Callable[..., object], *args: object, **kw: object
    ) -> IDelayedCall: ...

    def getDelayedCalls(self) -> Sequence[IDelayedCall]: ...


class _OneShot(Generic[T]):
    """Something that happens once; anyone may wait for it, before or after."""

    def __init__(self) -> None:
        self._waiting: list[Deferred[T]] = []
        self._result: tuple[T] | None = None

    def wait(self) -> Deferred[T]:
        if self._result is not None:
            return succeed(self._result[0])
        waiter: Deferred[T] = Deferred()
        self._waiting.append(waiter)
        return waiter

    def fire(self, result: T) -> None:
        self._result = (result,)
        waiting, self._waiting = self._waiting, []
        for waiter in waiting:
            waiter.callback(result)


class _Mailbox(Generic[T]):
    """
    Items waiting to be taken, and takers waiting for items, each taker with its own filter.

    An item is given to the first taker that matches it, or kept until one asks.
    """

    def __init__(self) -> None:
        self._unread: list[T] = []
        self._takers: list[tuple[Callable[[T], bool], Deferred[T]]] = []

    def put(self, item: T) -> None:
        for taker in self._takers:
            matches, waiting = taker
            if matches(item):
                self._takers.remove(taker)
                waiting.callback(item)
                return
        self._unread.append(item)

    def take(self, matches: Callable[[T], bool]) -> Deferred[T]:
        for item in self._unread:
            if matches(item):
                self._unread.remove(item)
                return succeed(item)
        waiting: Deferred[T] = Deferred(lambda d: self._takers.remove(taker))
        taker = (matches, waiting)
        self._takers.append(taker)
        return waiting


@dataclass
class _ConnectionWaiter:
    """A caller of L{FakeSlack.wait_for_connections}: how many more to go, and its Deferred."""

    remaining: int
    done: Deferred[None] = field(default_factory=Deferred)


class _ConnectionTracker(WrappingFactory):
    """
    Knows every TCP connection the server accepted, whatever runs on it (HTTP, TLS or a
    WebSocket that took over from HTTP), so that L{FakeSlack.stop} can abort them all.
    """

    noisy = False

    def __init__(self, wrapped: Factory[Any]) -> None:
        super().__init__(wrapped)  # type: ignore[no-untyped-call]
        self._emptied = _OneShot[None]()

    def unregisterProtocol(self, p: ProtocolWrapper) -> None:
        super().unregisterProtocol(p)  # type: ignore[no-untyped-call]
        if not self.protocols:
            self._emptied.fire(None)
            self._emptied = _OneShot()

    def abort_all(self) -> None:
        """Drop every connection at once."""
        for wrapper in list(self.protocols):
            wrapper.transport.abortConnection()

    def when_empty(self) -> Deferred[None]:
        """A Deferred that fires once no connection is left."""
        return succeed(None) if not self.protocols else self._emptied.wait()


class _WebAPI(Resource):
    """C{/api/}: each child is a Web API method, answered by the core."""

    def __init__(self, slack: FakeSlack) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self._slack = slack

    def getChild(self, path: bytes, request: Request) -> Resource:
        return _WebAPIMethod(self._slack, path.decode("utf-8", "replace"))


class _WebAPIMethod(Resource):
    """One C{/api/<method>} URL; GET and POST are answered alike."""

    isLeaf = True

    def __init__(self, slack: FakeSlack, method: str) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self._slack = slack
        self._method = method

    def render_GET(self, request: Request) -> bytes | int:
        return self._slack._answer_web_api(self._method, request)

    render_POST = render_GET


class _Tickets(Resource):
    """C{/websocket/}: any ticket below it leads to the WebSocket upgrade."""

    def __init__(self, upgrade: IResource) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self._upgrade = upgrade

    def getChild(self, path: bytes, request: Request) -> IResource:
        return self._upgrade


class _SlackSocket(WebSocketServerProtocol):
    """One RTM WebSocket: passes what happens to L{FakeSlack} and does what it is told."""

    def __init__(self, slack: FakeSlack) -> None:
        super().__init__()
        self._slack = slack
        self._ticket = ""
        self._number: int | None = None
        self._silenced = False

    def onConnect(self, request: ConnectionRequest) -> None:
        status = self._slack._upgrade_refusal()
        if status is not None:
            raise ConnectionDeny(status, _reason(status))  # type: ignore[no-untyped-call]
        self._ticket = request.path.rpartition("/")[2]

    def onOpen(self) -> None:
        self._number = self._slack._socket_opened(self, self._ticket)

    def onMessage(self, payload: bytes, isBinary: bool) -> None:
        if self._number is not None:
            self._slack._frame_received(self._number, payload, isBinary)

    def onClose(self, wasClean: bool, code: int | None, reason: str | None) -> None:
        if self._number is not None:
            self._slack._socket_closed(self._number)

    def dataReceived(self, data: bytes) -> None:
        if not self._silenced:
            super().dataReceived(data)

    def send_frame(self, data: bytes, binary: bool) -> None:
        """Send one message, unless the WebSocket is already closing."""
        if self.state == self.STATE_OPEN:
            self.sendMessage(data, isBinary=binary)  # type: ignore[no-untyped-call]

    def close_with(self, code: int, reason: str) -> None:
        """Start the closing handshake with any code (Autobahn's C{sendClose} limits them)."""
        if self.state == self.STATE_OPEN:
            self.sendCloseFrame(code=code, reasonUtf8=reason.encode("utf-8"), isReply=False)

    def abort(self) -> None:
        """Drop the TCP connection at once."""
        cast(Any, self.transport).abortConnection()

    def silence(self) -> None:
        """Ignore every byte from now on; since nothing is sent either, the peer sees silence."""
        self._silenced = True


class _SlackSocketFactory(WebSocketServerFactory):
    """Builds L{_SlackSocket}s for one L{FakeSlack}, with every Autobahn timer off."""

    def __init__(self, slack: FakeSlack) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self._slack = slack
        self.setProtocolOptions(  # type: ignore[no-untyped-call]
            openHandshakeTimeout=0,
            closeHandshakeTimeout=0,
            autoPingInterval=0,
            autoPingTimeout=0,
            utf8validateIncoming=False,
        )

    def buildProtocol(self, addr: object) -> _SlackSocket:
        socket = _SlackSocket(self._slack)
        socket.factory = self
        return socket


class ConnectStall:
    """
    A connect call held back by L{FakeSlack.stall_connect}, to test what a client does while
    C{rtm.connect} is in flight (disconnect, stop, time out...).

    Call it, or its L{release} method, to let the call through: it is then answered as if it
    had just arrived. Releasing first is fine too: the call then goes through at once.
    """

    def __init__(self, slack: FakeSlack) -> None:
        self._slack = slack
        self._arrived = _OneShot[None]()
        self._released = False
        self._pending: tuple[Request, Stalled] | None = None

    def arrived(self) -> Deferred[None]:
        """
        @return: a Deferred that fires once the stalled call has reached the fake (at once if
            it already has).
        """
        return self._arrived.wait()

    def release(self) -> None:
        """
        Answer the stalled call, or the next one to arrive; does nothing the second time, or
        when the client has already hung up.
        """
        self._released = True
        pending, self._pending = self._pending, None
        if pending is not None:
            self._slack._answer_stalled(*pending)

    __call__ = release

    def _arrive(self, request: Request, stalled: Stalled) -> None:
        self._arrived.fire(None)
        if self._released:
            self._slack._answer_stalled(request, stalled)
            return
        self._pending = (request, stalled)
        request.notifyFinish().addBoth(self._hung_up)

    def _hung_up(self, result: object) -> None:
        self._pending = None


class _QuietSite(Site):
    """A Site that keeps no access log: a bot's log should show the bot, not the fake."""

    def log(self, request: http.Request) -> None:
        """Log nothing."""


class FakeSlack:
    """
    A fake Slack workspace serving the Web API and RTM WebSockets on a loopback port.

    Make one with L{FakeSlack.listen}. It speaks the RTM protocol faithfully enough for a real
    client: C{rtm.connect} and C{rtm.start} hand out single-use WebSocket URLs, each socket is
    greeted with C{hello}, messages are acknowledged and echoed. A test then acts as Slack's
    users (L{say}, L{set_presence}), watches what the bot sent (L{next_message},
    L{messages}), and scripts faults (L{drop}, L{goodbye}, L{half_open}, L{rate_limit}...).

    @ivar api_url: the Web API prefix to give the client, C{http://127.0.0.1:PORT/api/}
        (C{https} when serving TLS).
    @ivar token: a token the fake accepts, to give the client.
    @ivar bot_user_id: the bot's user id (C{"U0BOT"} unless configured).
    @ivar team_id: the workspace's id (C{"T0TEAM"} unless configured).
    """

    api_url: str
    token: str
    bot_user_id: str
    team_id: str
    _port: Any
    _websocket_base: str

    def __init__(
        self,
        core: FakeSlackCore,
        reactor: TCPReactor,
        clock: TimeSource,
        tls: object | None,
    ) -> None:
        """
        Use L{FakeSlack.listen} instead: this does not listen yet.
        """
        self._core = core
        self._reactor = reactor
        self._clock = clock
        self._tls = tls
        self.token = core.token
        self.bot_user_id = core.bot_user_id
        self.team_id = core.team_id
        self._sockets: dict[int, _SlackSocket] = {}
        self._stalls: dict[int, ConnectStall] = {}
        self._frames = _Mailbox[dict[str, Any]]()
        self._accepted = _Mailbox[dict[str, Any]]()
        self._connection_waiters: list[_ConnectionWaiter] = []
        self._stopped: _OneShot[object] | None = None
        upgrade = WebSocketResource(_SlackSocketFactory(self))  # type: ignore[no-untyped-call]
        root = Resource()  # type: ignore[no-untyped-call]
        root.putChild(b"api", _WebAPI(self))
        root.putChild(b"websocket", _Tickets(upgrade))
        # No idle timeout: its timer would outlive channels that a WebSocket took over.
        site = _QuietSite(root, timeout=None)  # type: ignore[no-untyped-call]
        site.noisy = False
        self._tracker = _ConnectionTracker(
            site if tls is None else TLSMemoryBIOFactory(cast(Any, tls), False, site)
        )

    @classmethod
    def listen(
        cls,
        testcase: SynchronousTestCase | None = None,
        tls: object | None = None,
        reactor: TCPReactor | None = None,
        clock: TimeSource | None = None,
        **config: Any,
    ) -> Deferred[FakeSlack]:
        """
        Start a fake Slack on C{127.0.0.1}, on a free port.

        @param testcase: the trial test using it, if any. The fake is then stopped by a
            cleanup, and the test fails if the fake saw protocol violations that the test did
            not claim with L{expect_violations}.
        @param tls: C{None} for plain HTTP and WebSocket; or server TLS options (a
            L{twisted.internet.ssl.CertificateOptions} or another
            L{IOpenSSLServerConnectionCreator}) to serve C{https} and C{wss} instead.
        @param reactor: the reactor to listen with; the global one by default.
        @param clock: where the fake reads the time, for ticket expiry and message C{ts};
            C{reactor} by default. Pass the test's L{Clock} to expire tickets with
            C{clock.advance(31)}.
        @param config: the workspace, as keyword arguments of L{FakeSlackCore}: C{tokens},
            C{bot_user_id}, C{bot_name}, C{team_id}, C{team_name}, C{team_domain}, C{users},
            C{channels}, C{ticket_ttl}, C{allow_query_token}, C{echo_before_reply}.
        @return: a Deferred that fires with the listening L{FakeSlack}.
        @raise TypeError: for an unknown C{config} keyword or a wrong type (named).
        @raise ValueError: for a wrong C{config} value (named).
        """
        core = FakeSlackCore(**config)
        if tls is not None and not _is_server_tls(tls):
            raise TypeError(f"tls must be None or server TLS options, not {tls!r}")
        if reactor is None:
            reactor = _global_reactor()
        slack = cls(core, reactor, reactor if clock is None else clock, tls)
        listening = maybeDeferred(slack._start_listening)
        if testcase is not None:
            listening.addCallback(FakeSlack._watched_by, testcase)
        return listening

    def _watched_by(self, testcase: SynchronousTestCase) -> FakeSlack:
        # Cleanups run last-added first: stop, then look at the violations.
        testcase.addCleanup(self._fail_on_violations, testcase)
        testcase.addCleanup(self.stop)
        return self

    def _start_listening(self) -> FakeSlack:
        self._port = self._reactor.listenTCP(0, self._tracker, interface=LOOPBACK)
        secure = "s" if self._tls is not None else ""
        address = f"{LOOPBACK}:{self._port.getHost().port}"
        self.api_url = f"http{secure}://{address}/api/"
        self._websocket_base = f"ws{secure}://{address}/websocket/"
        return self

    def client(self, **options: Any) -> RTMClient:
        """
        A real L{RTMClient} aimed at this fake, with a valid token.

        @param options: more L{RTMClient} options, such as C{reactor} or C{auto_reconnect}.
        """
        from ._client import RTMClient  # here, so that the fake works without the client

        return RTMClient(self.token, slack_api_url=self.api_url, **options)

    def stop(self) -> Deferred[None]:
        """
        Stop listening and abort every connection, a stalled connect call's included.

        Calling it again is harmless. Deferreds from L{next_message}, L{next_frame} and
        L{wait_for_connections} that are still waiting are left waiting.

        @return: a Deferred that fires once the port is closed and every connection is gone.
        """
        if self._stopped is None:
            self._stopped = _OneShot()
            self._tracker.abort_all()
            done = gatherResults(
                [maybeDeferred(self._port.stopListening), self._tracker.when_empty()],
                consumeErrors=True,
            )
            done.addCallback(lambda _: None).addBoth(self._stopped.fire)
        return self._stopped.wait().addCallback(lambda _: None)

    # What the test can observe

    @property
    def connect_calls(self) -> list[ConnectCall]:
        """
        Every C{rtm.connect} and C{rtm.start} call so far, in order: each a L{ConnectCall}
        with C{method}, C{args} (form and query arguments, without the token), C{verb},
        and the answer's C{status} and C{error} (C{None} on success).
        """
        return self._core.connect_calls

    @property
    def connections(self) -> int:
        """How many RTM WebSockets are open now (those greeted with C{hello})."""
        return self._core.open_connections

    @property
    def received(self) -> list[dict[str, Any]]:
        """Every JSON object clients sent, in order, pings and other types included."""
        return self._core.received

    @property
    def messages(self) -> list[dict[str, Any]]:
        """
        Every C{message} frame the fake accepted from the bot, in order, with the C{ts} it
        gave it: the message log.
        """
        return self._core.messages

    @property
    def violations(self) -> list[Violation]:
        """
        Protocol violations seen so far (frames over 16 kB, binary frames, text that is not
        a JSON object), as L{Violation}s; clear it, or call L{expect_violations}, when the test
        provoked them on purpose.
        """
        return self._core.violations

    def expect_violations(self) -> list[Violation]:
        """
        Take the violations seen so far, so that they no longer fail the test.

        @return: the violations, for the test to check.
        """
        taken = list(self._core.violations)
        self._core.violations.clear()
        return taken

    def next_message(self, channel: str | None = None) -> Deferred[dict[str, Any]]:
        """
        Wait for the next message the bot sends.

        Each accepted message is handed out once, oldest first: one that arrived before the
        call and was not taken yet fires the Deferred at once.

        @param channel: only a message to this conversation; C{None} for any.
        @return: a Deferred that fires with the message frame, C{ts} added.
        """
        wanted = _optional_text("channel", channel)
        return self._accepted.take(lambda m: wanted is None or m.get("channel") == wanted)

    def next_frame(self, type: str | None = None) -> Deferred[dict[str, Any]]:
        """
        Wait for the next JSON frame a client sends, as L{next_message} does for messages.

        @param type: only a frame of this C{type} (C{"ping"}, C{"typing"}...); C{None} for any.
        """
        wanted = _optional_text("type", type)
        return self._frames.take(lambda f: wanted is None or f.get("type") == wanted)

    def wait_for_connections(self, n: int = 1) -> Deferred[None]:
        """
        Wait until C{n} more RTM WebSockets have opened (been greeted with C{hello}), counting
        from this call: connections opened earlier are ignored.

        Call it before provoking the (re)connection, e.g. before L{drop}.
        """
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ValueError(f"n must be a positive integer, not {n!r}")
        waiter = _ConnectionWaiter(n)
        self._connection_waiters.append(waiter)
        return waiter.done

    # Acting as Slack's users

    def say(self, channel: str, text: str, user: str = "U1", **extra: Any) -> dict[str, Any]:
        """
        Post C{text} in C{channel} as C{user}: every connection of a member gets the message.

        A client that called C{rtm.connect} but has not opened its WebSocket yet gets it
        right after C{hello}, as on Slack: so a test may C{say} as soon as C{start()} fired.

        @param extra: more fields for the event, e.g. C{thread_ts="..."}.
        @return: the message event, with the C{ts} it was given.
        @raise ValueError: for an unknown channel or user (named).
        """
        event, actions = self._core.say(channel, text, user, extra, self._clock.seconds())
        self._apply(actions)
        return event

    def push(self, event: dict[str, Any]) -> None:
        """
        Send any event (a JSON object) to every connection, e.g. C{{"type": "reaction_added",
        ...}} or C{{"type": "reconnect_url", "url": ...}}; like L{say}, also to connections
        about to open.
        """
        self._apply(self._core.push(event, self._clock.seconds()))

    def send_raw(self, data: str | bytes, binary: bool = False) -> None:
        """
        Send C{data} unchanged to every connection, to test how a client takes malformed
        frames (not JSON, not an object, binary).
        """
        self._apply(self._core.send_raw(data, binary))

    def set_presence(self, user: str, presence: str) -> None:
        """
        Set C{user}'s presence (C{"active"} or C{"away"}) and send C{presence_change} to every
        connection subscribed to them with C{presence_sub}.
        """
        self._apply(self._core.set_presence(user, presence))

    # Scripted faults

    def drop(self) -> None:
        """Abort every WebSocket's TCP connection at once, with no closing handshake."""
        self._apply(self._core.drop())

    def goodbye(self) -> None:
        """Send C{{"type": "goodbye"}} on every WebSocket, then close it (code 1001)."""
        self._apply(self._core.goodbye())

    def team_migration(self, failing_connects: int = 2) -> None:
        """
        Send C{team_migration_started} on every WebSocket and close it at once; the next
        C{failing_connects} connect calls answer C{migration_in_progress}.
        """
        self._apply(self._core.team_migration(failing_connects))

    def half_open(self) -> None:
        """
        Make every current WebSocket silently dead: the fake stops reading and writing (no
        pongs, no replies, no echoes) but keeps TCP open, until the client aborts it or
        L{drop} or L{stop} does. Connections opened later work normally.
        """
        self._apply(self._core.half_open())

    def refuse_handshake(self, count: int = 1, status: int = 503) -> None:
        """Answer the next C{count} WebSocket upgrade requests with HTTP C{status} instead."""
        self._core.refuse_handshake(count, status)

    def rate_limit(self, retry_after: int = 3, count: int = 1) -> None:
        """
        Answer the next C{count} connect calls with HTTP 429, a C{Retry-After: retry_after}
        header and C{{"ok": false, "error": "ratelimited"}}.
        """
        self._core.rate_limit(retry_after, count)

    def fail_connect(self, error: str = "invalid_auth", count: int = 1, status: int = 200) -> None:
        """
        Answer the next C{count} connect calls with C{{"ok": false, "error": error}} and HTTP
        C{status} (use e.g. 503 to fake a server error).
        """
        self._core.fail_connect(error, count, status)

    def stall_connect(self) -> ConnectStall:
        """
        Hold the next connect call unanswered until the returned L{ConnectStall} is released.

        L{stop} still aborts a stalled call's connection.
        """
        stall = ConnectStall(self)
        self._stalls[self._core.stall_connect()] = stall
        return stall

    def expire_tickets(self) -> None:
        """
        Make every WebSocket URL handed out so far expire. A client that connects with one is
        upgraded, then sent C{{"type": "error", "error": {"code": 1, "msg": "Socket URL has
        expired"}}} and closed, as Slack does.
        """
        self._core.expire_tickets()

    def hold_replies(self) -> None:
        """
        Keep back the replies (C{reply_to} acks) to the bot's messages from now on; the messages
        are still logged and echoed. A held reply that is still undelivered when the bot
        reconnects is replayed after C{hello}, as Slack does.
        """
        self._core.hold_replies()

    def release_replies(self) -> None:
        """Send the replies held since L{hold_replies}, and stop holding."""
        self._apply(self._core.release_replies())

    # From the sockets and the Web API

    def _upgrade_refusal(self) -> int | None:
        return self._core.upgrade_requested()

    def _answer_web_api(self, method: str, request: Request) -> bytes | int:
        outcome = self._core.web_api_call(
            _connect_request(method, request), self._clock.seconds(), self._websocket_base
        )
        if isinstance(outcome, Stalled):
            self._stalls.pop(outcome.stall)._arrive(request, outcome)
            return NOT_DONE_YET
        return _render(request, outcome)

    def _answer_stalled(self, request: Request, stalled: Stalled) -> None:
        response = self._core.release(stalled, self._clock.seconds(), self._websocket_base)
        request.write(_render(request, response))  # type: ignore[no-untyped-call]
        request.finish()  # type: ignore[no-untyped-call]

    def _socket_opened(self, socket: _SlackSocket, ticket: str) -> int:
        number, actions = self._core.connection_opened(ticket, self._clock.seconds())
        self._sockets[number] = socket
        self._apply(actions)
        return number

    def _frame_received(self, number: int, payload: bytes, binary: bool) -> None:
        self._apply(self._core.frame_received(number, payload, binary, self._clock.seconds()))

    def _socket_closed(self, number: int) -> None:
        self._sockets.pop(number, None)
        self._core.connection_closed(number)

    def _apply(self, actions: list[Action]) -> None:
        for action in actions:
            match action:
                case Opened():
                    self._count_connection()
                case FrameLogged(frame):
                    self._frames.put(frame)
                case MessageAccepted(message):
                    self._accepted.put(message)
                case _ if action.connection in self._sockets:
                    _carry_out(self._sockets[action.connection], action)

    def _count_connection(self) -> None:
        for waiter in list(self._connection_waiters):
            waiter.remaining -= 1
            if waiter.remaining == 0:
                self._connection_waiters.remove(waiter)
                waiter.done.callback(None)

    def _fail_on_violations(self, testcase: SynchronousTestCase) -> None:
        if self.violations:
            seen = "; ".join(v.detail + f" ({v.kind})" for v in self.violations)
            testcase.fail(
                f"The fake Slack saw protocol violations: {seen}. If the test provoked them, "
                "call slack.expect_violations() to claim them."
            )


class _ClockedReactor:
    """
    The real reactor's networking with a test clock's time; see L{clocked_reactor}.
    """

    def __init__(self, clock: Scheduler, reactor: object) -> None:
        self._clock = clock
        self._reactor = reactor
        directlyProvides(self, providedBy(reactor), IReactorTime)

    def callLater(
        self, delay: float, callable: Callable[..., object], *args: object, **kw: object
    ) -> IDelayedCall:
        """Schedule on the clock: it runs when the test advances the clock that far."""
        return self._clock.callLater(delay, callable, *args, **kw)

    def seconds(self) -> float:
        """The clock's time."""
        return self._clock.seconds()

    def getDelayedCalls(self) -> Sequence[IDelayedCall]:
        """The calls pending on the clock (those of the real reactor are not included)."""
        return self._clock.getDelayedCalls()

    def __getattr__(self, name: str) -> Any:
        if name == "_reactor":  # not set yet: avoid endless recursion
            raise AttributeError(name)
        return getattr(self._reactor, name)

    def __repr__(self) -> str:
        return f"<clocked {self._reactor!r} on {self._clock!r}>"


def clocked_reactor(clock: Scheduler, reactor: object | None = None) -> Any:
    """
    A reactor whose networking is real but whose time is C{clock}'s.

    Give it to a client as its C{reactor}: the client then talks to a L{FakeSlack} over real
    loopback sockets, while its timers (keepalive pings, pong deadlines, retry backoff) only
    fire when the test calls C{clock.advance()}. C{callLater}, C{seconds} and
    C{getDelayedCalls} go to the clock; everything else (C{connectTCP}, C{listenTCP},
    C{nameResolver}, C{callFromThread}...) goes to C{reactor}, and so do the timers the real
    reactor sets itself (such as TCP connect timeouts). It provides every interface C{reactor}
    provides, so C{HostnameEndpoint} and C{twisted.web.client.Agent} accept it.

    @param clock: usually a L{twisted.internet.task.Clock}.
    @param reactor: the reactor doing the I/O; the global one by default.
    @raise TypeError: when C{clock} does not provide L{IReactorTime}.
    """
    if not IReactorTime.providedBy(clock):
        raise TypeError(f"clock must provide IReactorTime, such as a task.Clock: {clock!r}")
    return _ClockedReactor(clock, _global_reactor() if reactor is None else reactor)


def _carry_out(socket: _SlackSocket, action: Send | SendRaw | Close | Abort | Silence) -> None:
    match action:
        case Send(_, frame):
            socket.send_frame(_encode(frame), binary=False)
        case SendRaw(_, data, binary):
            socket.send_frame(data, binary)
        case Close(_, code, reason):
            socket.close_with(code, reason)
        case Abort():
            socket.abort()
        case Silence():
            socket.silence()


def _global_reactor() -> Any:
    from twisted.internet import reactor

    return reactor


def _is_server_tls(tls: object) -> bool:
    return bool(IOpenSSLServerConnectionCreator.providedBy(tls)) or hasattr(tls, "getContext")


def _optional_text(name: str, value: object) -> str | None:
    if value is not None and not isinstance(value, str):
        raise TypeError(f"{name} must be a string or None, not {type(value).__name__}")
    return value


def _connect_request(method: str, request: Request) -> ConnectRequest:
    verb = (request.method or b"GET").decode("ascii", "replace")
    query = urlsplit((request.uri or b"").decode("utf-8", "replace")).query
    content_type = (request.getHeader("content-type") or "").split(";")[0].strip().lower()
    body = request.content.read() if request.content is not None else b""
    form = body.decode("utf-8", "replace") if content_type == _FORM else ""
    return ConnectRequest(
        method=method,
        verb=verb,
        authorization=request.getHeader("authorization"),
        form=dict(parse_qsl(form, keep_blank_values=True)),
        query=dict(parse_qsl(query, keep_blank_values=True)),
    )


_FORM = "application/x-www-form-urlencoded"


def _render(request: Request, response: HTTPResponse) -> bytes:
    request.setResponseCode(response.status)
    headers = {**response.headers, "Content-Type": "application/json; charset=utf-8"}
    for name, value in headers.items():
        request.setHeader(name, value)  # type: ignore[no-untyped-call]
    return _encode(response.body)


def _encode(frame: dict[str, Any]) -> bytes:
    return json.dumps(frame, separators=(",", ":")).encode("utf-8")


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Refused"


__all__ = ["ConnectStall", "FakeSlack", "clocked_reactor"]

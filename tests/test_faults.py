# -*- test-case-name: tests.test_faults -*-
"""
The fault suite: each fault a long-running bot meets, injected at each point where it can
happen, against the fake Slack on loopback.

Faults come from two places. The fake itself scripts what Slack does (C{drop}, C{goodbye},
C{half_open}, C{refuse_handshake}, C{rate_limit}, C{fail_connect}, C{team_migration},
C{expire_tickets}, C{stall_connect}). What only the network can do is done by
L{FaultyNetwork}, the reactor the fake listens with: it closes and reopens the listening
port (a refused connection), aborts a connection as soon as its request arrives (an abrupt
close), never answers one (a very slow server), or lets a WebSocket upgrade through and then
closes it or falls silent before C{hello}. The client resolves host names with
L{StubResolver}, which knows one made-up name and never asks a DNS server, so the
unresolvable host is exercised without touching the internet.

Each scenario then lets the client run on its own (L{FaultTests.settle}: real I/O, and the
test clock moved to the next timer whenever nothing else is happening) and checks that:

  - with C{auto_reconnect} it is C{ready} again, and never reconnected twice at the same
    instant except right after a connection that was ready (no tight loop);
  - without it, or for a fatal error, it is C{disconnected} with a coded, readable error;
  - every Deferred the client handed out fired, no timer is left on the clock, the fake sees
    no connection, and trial's clean-reactor check passes;
  - the same client object starts again and reaches C{ready}.

Cells of the matrix that cannot happen are left out: host names are resolved only for the
Web API call (Slack's WebSocket URL is used as given, and the fake's is an IP address), and
C{goodbye} or a migration can only come on a connection that said C{hello}.
"""

from __future__ import annotations

import gc
import itertools
import json
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, cast

from twisted.internet import reactor
from twisted.internet.abstract import isIPAddress
from twisted.internet.address import IPv4Address
from twisted.internet.defer import Deferred, inlineCallbacks, maybeDeferred, succeed
from twisted.internet.interfaces import (
    IHostnameResolver,
    IHostResolution,
    IResolutionReceiver,
    ITCPTransport,
)
from twisted.internet.protocol import Factory
from twisted.internet.task import deferLater
from twisted.protocols.policies import ProtocolWrapper, WrappingFactory
from twisted.web.resource import Resource
from twisted.web.server import Request, Site
from zope.interface import (  # type: ignore[import-untyped, unused-ignore]
    directlyProvides,
    implementer,
    providedBy,
)

from txslackrtm import (
    ErrorCode,
    HTTPError,
    InvalidStateError,
    NoReplyReceivedError,
    PlatformError,
    RateLimitedError,
    RequestError,
    SlackRTMError,
    WebsocketError,
)
from txslackrtm.testing import clocked_reactor

from .support import ClientTestCase, DeferredLedger

#: The made-up name the client calls the fake by; only L{StubResolver} knows it.
HOST = "fake-slack.invalid"

#: Reactor turns with nothing happening after which the clock is moved to the next timer.
IDLE_TURNS = 6

#: More turns than any scenario needs: reaching it means the client is stuck.
MAX_TURNS = 5000

#: Idle rounds with no timer left after which the client is declared stuck.
STUCK_ROUNDS = 5

#: The most rtm.connect calls any recovery here may take.
MAX_CONNECT_CALLS = 6


@implementer(IHostResolution)
class _Resolution:
    def __init__(self, name: str) -> None:
        self.name = name

    def cancel(self) -> None:
        """Resolution is synchronous: there is nothing to cancel."""


@implementer(IHostnameResolver)
class StubResolver:
    """
    Resolves IP addresses to themselves and L{HOST} to the fake's port while C{up}; every
    other name, and L{HOST} while down, has no address. It never sends a DNS query.

    @ivar port: the fake's port, which a name lookup cannot carry, so it is given here.
    """

    def __init__(self) -> None:
        self.up = True
        self.port = 0

    def resolveHostName(
        self,
        resolutionReceiver: IResolutionReceiver,
        hostName: str,
        portNumber: int = 0,
        addressTypes: Sequence[type[Any]] | None = None,
        transportSemantics: str = "TCP",
    ) -> IHostResolution:
        resolution = _Resolution(hostName)
        resolutionReceiver.resolutionBegan(resolution)
        if isIPAddress(hostName):
            resolutionReceiver.addressResolved(IPv4Address("TCP", hostName, portNumber))
        elif hostName == HOST and self.up:
            resolutionReceiver.addressResolved(IPv4Address("TCP", "127.0.0.1", self.port))
        resolutionReceiver.resolutionComplete()
        return resolution


class _ResolvingReactor:
    """The global reactor, with L{StubResolver} as its name resolver."""

    def __init__(self, resolver: StubResolver) -> None:
        self.nameResolver = resolver
        directlyProvides(self, providedBy(reactor))

    def __getattr__(self, name: str) -> Any:
        return getattr(reactor, name)


class FaultyNetwork:
    """
    The reactor the fake Slack listens with: the global one, plus faults on the fake's
    connections that only a network can cause.

    Faults are scripted per kind of connection, C{"api"} (a Web API call) or
    C{"websocket"} (an RTM WebSocket), and each applies to the next connection of its kind:

      - C{"abort"}: drop the TCP connection as soon as its request arrives;
      - C{"stall"}: never pass the request on, so it is never answered;
      - C{"cut"}: let the WebSocket upgrade through, then close the TCP connection before
        C{hello}, without a WebSocket close;
      - C{"mute"}: let the upgrade through, then send nothing more (no C{hello});
      - C{"refuse_after"}: answer the call, then stop listening, so that the WebSocket
        that follows is refused.
    """

    def __init__(self) -> None:
        self._scripted: dict[str, deque[str]] = {"api": deque(), "websocket": deque()}
        self._factory: _FaultFactory | None = None
        self._listening: Any = None
        self._interface = ""
        self.port_number = 0
        self.struck: list[str] = []

    def seconds(self) -> float:
        """The real time, for the fake's tickets and timestamps."""
        return float(reactor.seconds())

    def listenTCP(
        self, port: int, factory: Factory[Any], backlog: int = 50, interface: str = ""
    ) -> _Port:
        """Listen for the fake, through the fault-injecting wrapper."""
        self._factory = _FaultFactory(factory, self)
        self._interface = interface
        self._listening = reactor.listenTCP(port, cast(Any, self._factory), backlog, interface)
        self.port_number = self._listening.getHost().port
        return _Port(self)

    def script(self, kind: str, fault: str) -> None:
        """Apply C{fault} to the next connection of C{kind}."""
        self._scripted[kind].append(fault)

    def take(self, kind: str) -> str:
        """The fault for a new connection of C{kind}, or C{"pass"}."""
        scripted = self._scripted[kind]
        return scripted.popleft() if scripted else "pass"

    def refuse(self) -> Deferred[None]:
        """Stop listening: new connections are refused until L{accept}."""
        listening, self._listening = self._listening, None
        if listening is None:
            return succeed(None)
        return maybeDeferred(listening.stopListening)

    def accept(self) -> None:
        """Listen again, on the same port."""
        if self._listening is None:
            self._listening = reactor.listenTCP(
                self.port_number, cast(Any, self._factory), interface=self._interface
            )


class _Port:
    """What the fake holds as its listening port; it follows L{FaultyNetwork}'s refusals."""

    def __init__(self, network: FaultyNetwork) -> None:
        self._network = network

    def getHost(self) -> IPv4Address:
        return IPv4Address("TCP", "127.0.0.1", self._network.port_number)

    def stopListening(self) -> Deferred[None]:
        return self._network.refuse()


class _FaultFactory(WrappingFactory):
    noisy = False

    def __init__(self, wrapped: Factory[Any], network: FaultyNetwork) -> None:
        super().__init__(wrapped)
        self.network = network
        self.protocol = cast(Any, _FaultProtocol)


class _FaultProtocol(ProtocolWrapper):
    """One of the fake's connections, with the fault it was given, if any."""

    factory: _FaultFactory

    def __init__(self, factory: _FaultFactory, wrapped: Any) -> None:
        super().__init__(cast(Any, factory), wrapped)
        self._fault: str | None = None
        self._request = b""
        self._answered = False

    def dataReceived(self, data: bytes) -> None:
        if self._fault is None:
            self._request += data
            if b"\r\n" not in self._request:
                return
            line = self._request.partition(b"\r\n")[0]
            kind = "websocket" if b" /websocket/" in line else "api"
            self._fault = self.factory.network.take(kind)
            if self._fault != "pass":
                self.factory.network.struck.append(self._fault)
            data, self._request = self._request, b""
            if self._fault == "abort":
                cast(ITCPTransport, self.transport).abortConnection()
                return
        if self._fault != "stall":
            super().dataReceived(data)  # type: ignore[no-untyped-call]

    def write(self, data: bytes) -> None:
        if self._fault == "refuse_after" and not self._answered:
            self._answered = True
            self.factory.network.refuse()
        if self._fault not in ("cut", "mute"):
            super().write(data)  # type: ignore[no-untyped-call]
            return
        if self._answered:
            return
        head, end, _ = data.partition(b"\r\n\r\n")
        if not end:
            super().write(data)  # type: ignore[no-untyped-call]
            return
        self._answered = True
        super().write(head + end)  # type: ignore[no-untyped-call]
        if self._fault == "cut":
            cast(ITCPTransport, self.transport).loseConnection()

    def writeSequence(self, data: Sequence[bytes]) -> None:
        self.write(b"".join(data))


@dataclass(frozen=True)
class Scenario:
    """
    One fault at one point.

    @ivar point: where it strikes: C{web_api}, C{handshake}, C{before_hello}, C{ready},
        C{awaiting} (a reply is awaited), C{reconnect_wait} or C{disconnect}.
    @ivar fault: the fault's name, a key of L{INJECT}.
    @ivar error: the error the client ends with when it does not (or may not) retry.
    @ivar says: what that error's message must mention, for a user to act on it.
    @ivar fatal: whether the client gives up even with C{auto_reconnect}.
    """

    point: str
    fault: str
    error: type[SlackRTMError]
    says: str
    fatal: bool = False


class DrivenTestCase(ClientTestCase):
    """Tests that let a client run on its own, over real sockets, with time on the clock."""

    timeout = 20

    net: FaultyNetwork
    dns: StubResolver
    ledger: DeferredLedger
    timeline: list[tuple[str, float, tuple[Any, ...]]]

    @inlineCallbacks
    def build(self, **options: Any) -> Any:
        """A client aimed at the fake by name, through L{FaultyNetwork} and L{StubResolver}."""
        self.net = FaultyNetwork()
        self.dns = StubResolver()
        options.setdefault("reactor", clocked_reactor(self.clock, _ResolvingReactor(self.dns)))
        options.setdefault("slack_api_url", f"http://{HOST}/api/")
        rtm = yield self.make(slack_config={"reactor": self.net}, **options)
        self.dns.port = self.net.port_number
        self.ledger = DeferredLedger(rtm)
        self.timeline = []
        for name in ("connecting", "ready", "unable_to_rtm_start"):
            rtm.on(name, lambda *args, name=name: self.timeline.append((name, self.now(), args)))
        return rtm

    def now(self) -> float:
        return float(self.clock.seconds())

    def progress(self) -> tuple[object, ...]:
        """Everything that shows the client or the fake doing something."""
        return (
            self.rtm.state,
            len(self.log.lines),
            len(self.slack.received),
            len(self.slack.connect_calls),
            self.slack.connections,
            self.now(),
        )

    @inlineCallbacks
    def settle(self, goal: Callable[[], bool], what: str) -> Any:
        """
        Let the client work until C{goal()}: real I/O runs, and whenever nothing has
        happened for a few reactor turns the clock jumps to the next timer (a retry delay,
        a timeout, a keepalive ping), as if the time had passed.
        """
        last: tuple[object, ...] = ()
        idle = stuck = 0
        for _ in range(MAX_TURNS):
            if goal():
                return
            yield deferLater(reactor, 0.001, lambda: None)
            now = self.progress()
            if now != last:
                last, idle, stuck = now, 0, 0
                continue
            idle += 1
            if idle < IDLE_TURNS:
                continue
            idle = 0
            timers = self.clock.getDelayedCalls()
            if timers:
                self.clock.advance(max(0.0, min(t.getTime() for t in timers) - self.now()))
                continue
            stuck += 1
            if stuck >= STUCK_ROUNDS:
                break  # Nothing is happening, and no timer will make anything happen.
        self.fail(
            f"Never {what}: still {self.rtm.state} at t={self.now()} (events {self.names()})"
        )

    def stop_client(self) -> Deferred[None]:
        """
        Disconnect as L{ClientTestCase} does, but give up after a few seconds: a client
        wedged by a bug then fails its test at once instead of hanging it.
        """
        return super().stop_client().addTimeout(3, reactor)

    def left(self, since: int) -> Callable[[], bool]:
        """Whether the connection was given up since event C{since}: the fault struck."""
        return lambda: any(
            name in ("reconnecting", "disconnected") for name, _ in self.events[since:]
        )

    def until_ready(self) -> Deferred[None]:
        """Settle until the client is ready."""
        return self.settle(lambda: self.rtm.state == "connected:ready", "ready")

    def until_disconnected(self) -> Deferred[None]:
        """Settle until the client is disconnected."""
        return self.settle(lambda: self.rtm.state == "disconnected", "disconnected")

    def check_settled(self) -> None:
        """Every Deferred handed out fired, with a result or a coded error; no timer is left."""
        self.assertEqual(self.ledger.unfired(), [])
        for method, result in self.ledger.outcomes():
            if isinstance(result, SlackRTMError):
                self.assertIn(result.code, list(ErrorCode))
            elif isinstance(result, Exception):
                self.fail(f"{method}() failed with {result!r}, not a SlackRTMError")
        self.ledger.consume()
        self.assertEqual(self.clock.getDelayedCalls(), [])


class FaultTests(DrivenTestCase):
    """The scenarios, added below as one test method each, with and without auto_reconnect."""

    @inlineCallbacks
    def run_scenario(self, scenario: Scenario, auto_reconnect: bool) -> Any:
        """Bring the client to the scenario's point, inject the fault there, and check."""
        if scenario.point == "disconnect":
            yield self.run_disconnect(scenario)
            return
        rtm = yield self.build(auto_reconnect=auto_reconnect or scenario.point == "reconnect_wait")
        inject = INJECT[scenario.fault]
        awaited: Deferred[Any] | None = None
        if scenario.point in ("web_api", "handshake", "before_hello"):
            yield inject(self)
            rtm.start()
        elif scenario.point in ("ready", "awaiting"):
            rtm.start()
            yield self.until_ready()
            if scenario.point == "awaiting":
                self.slack.hold_replies()
                awaited = rtm.send_message("awaited", "C1")
                yield self.slack.next_message("C1")
            mark = len(self.events)
            yield inject(self)
            yield self.settle(self.left(mark), "noticed the fault")
        elif scenario.point == "reconnect_wait":
            self.slack.fail_connect("internal_error")
            rtm.start()
            yield self.settle(lambda: rtm.state == "reconnecting", "reconnecting")
            rtm.auto_reconnect = auto_reconnect
            yield inject(self)
        if auto_reconnect and not scenario.fatal:
            yield self.until_ready()
            self.check_no_tight_loop()
            self.check_timing(scenario)
            if awaited is not None:
                # Held replies are replayed after hello: the message is not lost.
                yield self.settle(lambda: awaited.called, "settled the awaited message")
                reply = yield awaited
                self.assertEqual(reply["text"], "awaited")
            yield rtm.disconnect()
        else:
            yield self.until_disconnected()
            self.check_error(scenario)
            self.check_timing(scenario)
            if awaited is not None:
                yield self.assertFailure(awaited, NoReplyReceivedError)
        yield self.check_clean_and_restart()

    @inlineCallbacks
    def run_disconnect(self, scenario: Scenario) -> Any:
        """
        Call disconnect() where the fault strikes: with the fault on a ready connection, or
        while the fault holds the client up (a stalled call, a silent handshake, a retry
        wait). The client ends disconnected(None), and never reconnects after that.
        """
        rtm = yield self.build()
        inject = INJECT[scenario.fault]
        started = None
        if scenario.fault in _HELD_UP_BY:
            yield inject(self)
            started = rtm.start()
            yield self.settle(lambda: _HELD_UP_BY[scenario.fault](self), "held up by the fault")
            stopping = rtm.disconnect()
        else:
            rtm.start()
            yield self.until_ready()
            stopping = rtm.disconnect()
            yield inject(self)
        yield self.settle(lambda: stopping.called, "disconnected on request")
        self.assertIsNone((yield stopping))
        self.assertEqual(self.rtm.state, "disconnected")
        self.assertEqual(self.events[-1], ("disconnected", (None,)))
        if started is not None and scenario.fault in ("slow_websocket", "silence_before_hello"):
            self.assertTrue((yield started)["ok"])  # it fired once authenticated
        elif started is not None:
            yield self.assertFailure(started, InvalidStateError)
        calls = len(self.slack.connect_calls)
        self.clock.advance(120)
        yield deferLater(reactor, 0.01, lambda: None)
        self.assertEqual(len(self.slack.connect_calls), calls)
        yield self.check_clean_and_restart()

    def check_no_tight_loop(self) -> None:
        """Two connect attempts at one instant only right after a connection was ready."""
        self.assertLessEqual(len(self.slack.connect_calls), MAX_CONNECT_CALLS)
        attempts = [(name, t) for name, t, _ in self.timeline if name != "unable_to_rtm_start"]
        for previous, event in itertools.pairwise(attempts):
            if previous[0] == event[0] == "connecting":
                self.assertLess(previous[1], event[1], f"tight loop: {attempts}")

    def check_timing(self, scenario: Scenario) -> None:
        """A stalled call fails after the 30 s timeout; a 429's Retry-After is waited out."""
        for index, (name, when, args) in enumerate(self.timeline):
            if name != "unable_to_rtm_start":
                continue
            if scenario.fault == "slow_server" and isinstance(args[0], RequestError):
                started = max(t for n, t, _ in self.timeline[:index] if n == "connecting")
                self.assertEqual(when - started, 30.0)
            if isinstance(args[0], RateLimitedError):
                retried = [t for n, t, _ in self.timeline[index:] if n == "connecting"]
                self.assertGreaterEqual(min(retried, default=when + 3), when + 3)

    def check_error(self, scenario: Scenario) -> None:
        """The client ended disconnected with a coded error that says what happened."""
        name, args = self.events[-1]
        self.assertEqual(name, "disconnected")
        (error,) = args
        self.assertIsInstance(error, scenario.error)
        self.assertIn(error.code, list(ErrorCode))
        message = str(error)
        self.assertIn(scenario.says, message)
        self.assertNotIn("CancelledError", message)
        self.assertNotIn(self.slack.token, message)
        for method, result in self.ledger.outcomes():
            if method == "start" and isinstance(result, Exception):
                self.assertIs(result, error)

    @inlineCallbacks
    def check_clean_and_restart(self) -> Any:
        """Nothing is left behind, and the same client starts again."""
        yield self.settle(lambda: self.slack.connections == 0, "closed every WebSocket")
        self.check_settled()
        self.slack.release_replies()
        self.net.accept()
        self.dns.up = True
        # A fault may have scripted more failing calls than the scenario used up.
        self.rtm.auto_reconnect = True
        self.rtm.start()
        yield self.until_ready()
        reply = yield self.rtm.send_message("after the fault", "C1")
        self.assertEqual(reply["text"], "after the fault")
        yield self.rtm.disconnect()
        self.check_settled()


class _ConnectAnswer(Resource):
    """A Web API that answers every call with one JSON body."""

    isLeaf = True

    def __init__(self, body: dict[str, Any]) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self._body = json.dumps(body).encode()

    def render_POST(self, request: Request) -> bytes:
        request.setHeader(b"content-type", b"application/json")  # type: ignore[no-untyped-call]
        return self._body


class UnusableURLTests(DrivenTestCase):
    """A WebSocket URL from rtm.connect that cannot be opened is a failed attempt, at once."""

    @inlineCallbacks
    def check_unusable(self, url: str) -> Any:
        """The client ends disconnected with an error about the URL, without waiting 30 s."""
        body = {"ok": True, "url": url, "self": {"id": "U0BOT"}, "team": {"id": "T0TEAM"}}
        site = Site(_ConnectAnswer(body))  # type: ignore[no-untyped-call]
        port = reactor.listenTCP(0, cast(Any, site), interface="127.0.0.1")
        self.addCleanup(port.stopListening)
        api_url = f"http://127.0.0.1:{cast(IPv4Address, port.getHost()).port}/api/"
        rtm = yield self.build(auto_reconnect=False, slack_api_url=api_url)
        self.addCleanup(gc.collect)  # so that an unhandled error is reported by this test
        rtm.start()
        yield self.until_disconnected()
        (error,) = self.events[-1][1]
        self.assertIsInstance(error, WebsocketError)
        self.assertIn("URL", str(error))
        self.assertLess(self.now(), 30)
        self.check_settled()

    def test_port_zero(self) -> Any:
        """A WebSocket URL with port 0 is refused as unusable."""
        return self.check_unusable("ws://127.0.0.1:0/websocket/ticket")

    def test_fragment(self) -> Any:
        """A WebSocket URL with a fragment is refused as unusable."""
        return self.check_unusable("ws://127.0.0.1:1/websocket/ticket#part")


class ReplayedReplyTests(DrivenTestCase):
    """A reply that Slack replays after a reconnect resolves the send like any reply."""

    @inlineCallbacks
    def test_replayed_reply_has_the_reply_shape(self) -> Any:
        """The replayed reply resolves send_message with ok, reply_to, ts and text, as SPEC §1."""
        rtm = yield self.build()
        rtm.start()
        yield self.until_ready()
        self.slack.hold_replies()
        sent = rtm.send_message("replayed", "C1")
        message = yield self.slack.next_message("C1")
        self.slack.drop()
        yield self.settle(lambda: sent.called, "settled the message")
        reply = yield sent
        self.assertEqual(
            {key: reply.get(key) for key in ("ok", "reply_to", "ts", "text")},
            {"ok": True, "reply_to": message["id"], "ts": message["ts"], "text": "replayed"},
        )
        yield rtm.disconnect()


# The faults: each schedules itself to strike at the next thing it can break.


def _refused(t: FaultTests) -> Deferred[None]:
    t.rtm.once("reconnecting", t.net.accept)
    return t.net.refuse()


def _refused_websocket(t: FaultTests) -> None:
    t.net.script("api", "refuse_after")
    t.rtm.once("reconnecting", t.net.accept)


def _unresolvable(t: FaultTests) -> None:
    t.dns.up = False
    t.rtm.once("reconnecting", lambda: setattr(t.dns, "up", True))


def _expired_before_hello(t: FaultTests) -> None:
    t.rtm.once("authenticated", lambda response: t.slack.expire_tickets())


def _expired_frame(t: FaultTests) -> None:
    t.slack.push({"type": "error", "error": {"code": 1, "msg": "Socket URL has expired"}})


def _half_open(t: FaultTests) -> None:
    t.slack.half_open()


def _slow_server(t: FaultTests) -> None:
    t.slack.stall_connect()


INJECT: dict[str, Callable[[FaultTests], Deferred[None] | None]] = {
    "refused": _refused,
    "refused_websocket": _refused_websocket,
    "abrupt_close": lambda t: t.net.script("api", "abort"),
    "abrupt_close_websocket": lambda t: t.net.script("websocket", "abort"),
    "abrupt_close_before_hello": lambda t: t.net.script("websocket", "cut"),
    "silence_before_hello": lambda t: t.net.script("websocket", "mute"),
    "slow_server": _slow_server,
    "slow_websocket": lambda t: t.net.script("websocket", "stall"),
    "unresolvable": _unresolvable,
    "http_503": lambda t: t.slack.fail_connect("service_unavailable", status=503),
    "http_500": lambda t: t.slack.fail_connect("oops", status=500),
    "http_429": lambda t: t.slack.rate_limit(retry_after=3),
    "migration_in_progress": lambda t: t.slack.fail_connect("migration_in_progress"),
    "invalid_auth": lambda t: t.slack.fail_connect("invalid_auth"),
    "http_403": lambda t: t.slack.fail_connect("forbidden", status=403),
    "handshake_503": lambda t: t.slack.refuse_handshake(status=503),
    "handshake_500": lambda t: t.slack.refuse_handshake(status=500),
    "expired_ticket": _expired_before_hello,
    "expired_frame": _expired_frame,
    "drop": lambda t: t.slack.drop(),
    "goodbye": lambda t: t.slack.goodbye(),
    "team_migration": lambda t: t.slack.team_migration(failing_connects=2),
    "half_open": _half_open,
}

#: Faults of the Web API call: (fault, error, what its message says).
_CONNECT_FAULTS: list[tuple[str, type[SlackRTMError], str]] = [
    ("refused", RequestError, "refused"),
    ("abrupt_close", RequestError, "lost"),
    ("slow_server", RequestError, "30 seconds"),
    ("unresolvable", RequestError, HOST),
    ("http_503", HTTPError, "503"),
    ("http_500", HTTPError, "500"),
    ("http_429", RateLimitedError, "3 seconds"),
    ("migration_in_progress", PlatformError, "migration_in_progress"),
]
#: Faults of the WebSocket handshake.
_HANDSHAKE_FAULTS: list[tuple[str, type[SlackRTMError], str]] = [
    ("refused_websocket", WebsocketError, "refused"),
    ("abrupt_close_websocket", WebsocketError, "did not open"),
    ("handshake_503", WebsocketError, "503"),
    ("handshake_500", WebsocketError, "500"),
    ("slow_websocket", WebsocketError, "hello within 30 seconds"),
]
#: Faults between the upgrade and hello.
_BEFORE_HELLO_FAULTS: list[tuple[str, type[SlackRTMError], str]] = [
    ("abrupt_close_before_hello", WebsocketError, "lost"),
    ("silence_before_hello", WebsocketError, "hello within 30 seconds"),
    ("expired_ticket", WebsocketError, "expired"),
]
#: Faults of a connection that said hello.
_CONNECTION_FAULTS: list[tuple[str, type[SlackRTMError], str]] = [
    ("drop", WebsocketError, "lost"),
    ("goodbye", WebsocketError, "goodbye"),
    ("team_migration", WebsocketError, "team_migration_started"),
    ("expired_frame", WebsocketError, "expired"),
    ("half_open", WebsocketError, "ping"),
]

#: For disconnect() while a fault holds the client up: when the fault has struck.
_HELD_UP_BY: dict[str, Callable[[FaultTests], bool]] = {
    "slow_server": lambda t: bool(t.slack.connect_calls) and t.rtm.state.startswith("connecting"),
    "slow_websocket": lambda t: "stall" in t.net.struck,
    "silence_before_hello": lambda t: t.rtm.state == "connecting:handshaking",
    "refused": lambda t: t.rtm.state == "reconnecting",
    "http_429": lambda t: t.rtm.state == "reconnecting",
}

SCENARIOS: list[Scenario] = [
    *(Scenario("web_api", *fault) for fault in _CONNECT_FAULTS),
    Scenario("web_api", "invalid_auth", PlatformError, "invalid_auth", fatal=True),
    Scenario("web_api", "http_403", HTTPError, "403", fatal=True),
    *(Scenario("handshake", *fault) for fault in _HANDSHAKE_FAULTS),
    *(Scenario("before_hello", *fault) for fault in _BEFORE_HELLO_FAULTS),
    *(Scenario("ready", *fault) for fault in _CONNECTION_FAULTS),
    *(Scenario("awaiting", *fault) for fault in _CONNECTION_FAULTS),
    *(Scenario("reconnect_wait", *fault) for fault in _CONNECT_FAULTS),
    Scenario("reconnect_wait", "handshake_503", WebsocketError, "503"),
    Scenario("reconnect_wait", "invalid_auth", PlatformError, "invalid_auth", fatal=True),
    *(Scenario("disconnect", *fault) for fault in _CONNECTION_FAULTS),
    *(Scenario("disconnect", fault, SlackRTMError, "") for fault in _HELD_UP_BY),
]


def _scenario_test(scenario: Scenario, auto_reconnect: bool) -> Callable[[FaultTests], Any]:
    def test(self: FaultTests) -> Any:
        return self.run_scenario(scenario, auto_reconnect)

    outcome = (
        "ends disconnected with its error"
        if scenario.fatal or not auto_reconnect
        else "is ready again on its own"
    )
    if scenario.point == "disconnect":
        outcome = "still ends disconnected(None) and never reconnects"
    mode = "with" if auto_reconnect else "without"
    test.__doc__ = (
        f"{scenario.fault} at {scenario.point}, {mode} auto_reconnect: the client {outcome}."
    )
    return test


for _scenario in SCENARIOS:
    for _auto in (True, False):
        if not _auto and (_scenario.fatal or _scenario.point == "disconnect"):
            continue  # the same outcome as with auto_reconnect
        _name = f"test_{_scenario.point}_{_scenario.fault}" + ("" if _auto else "_no_reconnect")
        setattr(FaultTests, _name, _scenario_test(_scenario, _auto))

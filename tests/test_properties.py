# -*- test-case-name: tests.test_properties -*-
"""
Properties of the client over random fault schedules and random frames, with hypothesis.

Hypothesis runs each example synchronously, to the end, before the next one, while trial's
tests on real sockets need the reactor to turn between steps. So these examples run the real
client against the real fake Slack on an in-memory network instead (L{MemoryNetwork}: a
L{MemoryReactorClock} whose connections are L{twisted.test.iosim} pumps): the same HTTP,
WebSocket and RTM code runs on both sides, bytes move only when the example flushes, and
time only when it advances the clock. Each example builds its own network, fake and
client, so nothing carries over from one example to the next, and nothing touches the
global reactor.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from hypothesis import example, given, settings
from hypothesis import strategies as st
from twisted.internet import reactor
from twisted.internet.address import IPv4Address
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IListeningPort
from twisted.internet.protocol import Factory
from twisted.internet.testing import MemoryReactorClock
from twisted.python.failure import Failure
from twisted.test.iosim import IOPump, connect, makeFakeClient, makeFakeServer
from twisted.trial.unittest import SynchronousTestCase

from txslackrtm import (
    ErrorCode,
    NoReplyReceivedError,
    SendWhileDisconnectedError,
    SlackRTMError,
    full_jitter_backoff,
)
from txslackrtm.testing import FakeSlack

from .support import DeferredLedger, LogCapture

#: Seconds of quiet after a schedule: more than any timeout, so everything pending settles.
QUIET = 40.0


#: The address both ends of an in-memory connection are given.
_ADDRESS = IPv4Address("TCP", "127.0.0.1", 8080)


class MemoryNetwork(MemoryReactorClock):
    """
    A reactor whose TCP connections are in memory: every connection a client makes reaches
    the one server listening on it, and data moves only in L{flush}.
    """

    def __init__(self) -> None:
        super().__init__()
        self.pumps: list[IOPump] = []

    def listenTCP(
        self, port: int, factory: Factory[Any], backlog: int = 50, interface: str = ""
    ) -> IListeningPort:
        """Listen on port 8080 when asked for any free port, so that URLs name a real port."""
        listening: IListeningPort = super().listenTCP(port or 8080, factory, backlog, interface)
        return listening

    def flush(self) -> None:
        """Connect, and move bytes both ways, until nothing moves any more."""
        for _ in range(10_000):
            moved = False
            while self.tcpClients:
                _, _, client_factory, _, _ = self.tcpClients.pop(0)
                self.connectors.pop(0)
                server_factory = self.tcpServers[0][1]
                client = client_factory.buildProtocol(_ADDRESS)
                server = server_factory.buildProtocol(_ADDRESS)
                self.pumps.append(
                    connect(
                        server,
                        makeFakeServer(server),
                        client,
                        makeFakeClient(client),
                        greet=False,
                        clock=self,
                    )
                )
                moved = True
            for pump in list(self.pumps):
                moved = pump.pump() or moved
                if pump.clientIO.disconnected and pump.serverIO.disconnected:
                    self.pumps.remove(pump)
            if not moved:
                return
        raise AssertionError("the network never went quiet")


class World:
    """One example's network, fake Slack and client."""

    def __init__(self, **options: Any) -> None:
        self.global_timers = list(reactor.getDelayedCalls())
        self.net = MemoryNetwork()
        listening = FakeSlack.listen(reactor=self.net)
        self.slack: FakeSlack = _result(listening)
        self.log = LogCapture()
        options.setdefault("reactor", self.net)
        options.setdefault("proxy", False)
        options.setdefault("rate_limit", None)
        options.setdefault("retry_policy", full_jitter_backoff(random=lambda: 1.0))
        options.setdefault("logger", self.log)
        options.setdefault("log_level", "debug")
        self.rtm = self.slack.client(**options)
        self.ledger = DeferredLedger(self.rtm)

    def advance(self, seconds: float, step: float = 0.5) -> None:
        """Let C{seconds} pass, a step at a time, with the network flushed after each."""
        self.net.flush()
        remaining = seconds
        while remaining > 0:
            self.net.advance(min(step, remaining))
            self.net.flush()
            remaining -= step

    def ready(self) -> None:
        """Start the client and bring it to ready."""
        self.rtm.start()
        self.net.flush()
        assert self.rtm.state == "connected:ready", self.rtm.state

    def close(self) -> None:
        """Disconnect, stop the fake, and check that nothing is left behind."""
        self.rtm.disconnect()
        self.advance(3)
        assert self.rtm.state == "disconnected", self.rtm.state
        stopped = self.slack.stop()
        self.net.flush()
        _result(stopped)
        assert self.ledger.unfired() == [], self.ledger.unfired()
        assert self.net.getDelayedCalls() == [], self.net.getDelayedCalls()
        assert self.slack.violations == [], self.slack.violations
        assert list(reactor.getDelayedCalls()) == self.global_timers, "the global reactor was used"
        self.ledger.consume()


def _result(deferred: Deferred[Any]) -> Any:
    """The result of a Deferred that has fired; raises its failure."""
    results: list[Any] = []
    deferred.addBoth(results.append)
    assert results, "the Deferred has not fired"
    if isinstance(results[0], Failure):
        results[0].raiseException()
    return results[0]


# (a) Nothing lost


def _keep(result: Any, outcomes: dict[str, Any], text: str) -> Any:
    """Keep a send's result, or its failure's exception, as the outcome of C{text}."""
    outcomes[text] = result.value if isinstance(result, Failure) else result
    return result


_STEPS = st.one_of(
    st.just(("send",)),
    st.just(("send",)),
    st.just(("send",)),
    st.just(("send",)),
    st.just(("drop",)),
    st.just(("goodbye",)),
    st.just(("half_open",)),
    st.just(("hold",)),
    st.just(("release",)),
    st.tuples(st.just("wait"), st.sampled_from([0.5, 2.0, 6.0, 10.0, 31.0])),
    st.just(("disconnect",)),
    st.just(("start",)),
)


class NothingLostTests(SynchronousTestCase):
    """Every message either gets Slack's reply or a coded error, and is never posted twice."""

    @settings(max_examples=150, deadline=None)
    @given(steps=st.lists(_STEPS, max_size=24), auto_reconnect=st.booleans())
    def test_nothing_lost(self, steps: list[tuple[Any, ...]], auto_reconnect: bool) -> None:
        """Under random faults and sends, each send fires once, as the fake's log says."""
        world = World(auto_reconnect=auto_reconnect)
        world.ready()
        sent: dict[str, Any] = {}
        for step in steps:
            self.apply(world, step, sent)
            world.net.flush()
        world.slack.release_replies()
        world.advance(QUIET)
        world.close()
        self.check(world, sent)

    def apply(self, world: World, step: tuple[Any, ...], sent: dict[str, Any]) -> None:
        """Carry out one step of a schedule; a send's outcome is kept in C{sent}."""
        action, *args = step
        slack, rtm = world.slack, world.rtm
        if action == "send":
            text = f"message {len(sent)}"
            sent[text] = None
            rtm.send_message(text, "C1").addBoth(_keep, sent, text)
        elif action == "wait":
            world.advance(args[0])
        elif action == "hold":
            slack.hold_replies()
        elif action == "release":
            slack.release_replies()
        elif action == "disconnect":
            rtm.disconnect()
        elif action == "start":
            if rtm.state == "disconnected":
                rtm.start()
        else:
            getattr(slack, action)()

    def check(self, world: World, sent: dict[str, Any]) -> None:
        """The outcome of every send agrees with what reached the fake."""
        posted = Counter(message["text"] for message in world.slack.messages)
        written = {frame.get("text") for frame in world.slack.received}
        for text, outcome in sent.items():
            self.assertLessEqual(posted[text], 1, f"{text!r} was posted twice")
            if isinstance(outcome, dict):
                # Slack's ack, or the typed message event it replays after a reconnect.
                self.assertIn(outcome.get("ok", outcome.get("type")), (True, "message"))
                self.assertEqual(outcome["text"], text)
                self.assertEqual(posted[text], 1, f"{text!r} fired but is not in the log")
                (message,) = [m for m in world.slack.messages if m["text"] == text]
                self.assertEqual(outcome["ts"], message["ts"])
                continue
            self.assertIsInstance(outcome, SlackRTMError)
            self.assertIn(outcome.code, list(ErrorCode))
            self.assertIsInstance(outcome, NoReplyReceivedError | SendWhileDisconnectedError)
            if isinstance(outcome, SendWhileDisconnectedError):
                self.assertNotIn(text, written, f"{text!r} failed as never sent, yet was sent")


# (b) Bad input from the server

_RECONNECT_TYPES = ("goodbye", "team_migration_started")

_JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)

_ODD_REPLY_TO = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.text(max_size=5),
    st.floats(allow_nan=False, allow_infinity=False),
    st.none(),
    st.booleans(),
    st.lists(st.integers(), max_size=2),
)


def _object(**fields: st.SearchStrategy[Any]) -> st.SearchStrategy[bytes]:
    """JSON objects with the given fields, plus arbitrary others."""
    return st.builds(
        lambda extra, fixed: json.dumps({**extra, **fixed}).encode(),
        st.dictionaries(st.text(max_size=8), _JSON_VALUES, max_size=4),
        st.fixed_dictionaries(fields),
    )


#: Nesting well within Python's recursion limit, or far beyond it (not JSON to a parser).
_DEPTHS = st.one_of(st.integers(1, 200), st.integers(5_000, 50_000))


def _nested(depth: int, kind: str) -> bytes:
    if kind == "list":
        return b"[" * depth + b"]" * depth
    return b'{"a":' * depth + b"1" + b"}" * depth


#: (payload, binary) pairs: what a broken or hostile server may send.
_FRAMES = st.one_of(
    st.tuples(st.binary(max_size=64), st.just(True)),
    st.tuples(st.binary(max_size=64), st.just(False)),
    st.tuples(st.text(max_size=64).map(str.encode), st.just(False)),
    st.tuples(
        st.binary(min_size=1, max_size=16).map(lambda b: b'{"type":"x","t":"' + b + b'"}'),
        st.just(False),
    ),
    st.tuples(
        _JSON_VALUES.filter(lambda v: not isinstance(v, dict)).map(json.dumps), st.just(False)
    ).map(lambda f: (f[0].encode(), f[1])),
    st.tuples(
        st.builds(_nested, _DEPTHS, st.sampled_from(["list", "object"])),
        st.just(False),
    ),
    st.tuples(
        st.integers(0, 300_000).map(
            lambda n: json.dumps({"type": "big", "blob": "x" * n}).encode()
        ),
        st.just(False),
    ),
    st.tuples(st.integers(0, 300_000).map(lambda n: b'"' + b"x" * n), st.just(False)),
    st.tuples(
        _object(type=st.text(max_size=12).filter(lambda t: t not in _RECONNECT_TYPES)),
        st.just(False),
    ),
    st.tuples(_object(), st.just(False)),
    st.tuples(_object(type=st.just("message")), st.just(False)),
    st.tuples(_object(reply_to=_ODD_REPLY_TO), st.just(False)),
    st.tuples(_object(type=st.just("message"), subtype=_JSON_VALUES), st.just(False)),
)


def _is_object(payload: bytes, binary: bool) -> bool:
    """Whether the client must dispatch the frame: a text frame holding a JSON object."""
    if binary:
        return False
    try:
        return isinstance(json.loads(payload.decode("utf-8")), dict)
    except (ValueError, RecursionError):
        return False


def _asks_to_reconnect(payload: bytes) -> bool:
    try:
        frame = json.loads(payload)
    except (ValueError, RecursionError):
        return False
    if not isinstance(frame, dict):
        return False
    error = frame.get("error")
    return frame.get("type") in _RECONNECT_TYPES or (
        frame.get("type") == "error" and isinstance(error, dict) and error.get("code") == 1
    )


class BadInputTests(SynchronousTestCase):
    """Whatever the server sends, the connection stays up and later frames are dispatched."""

    @settings(max_examples=80, deadline=None)
    @given(frames=st.lists(_FRAMES.filter(lambda f: not _asks_to_reconnect(f[0])), max_size=6))
    @example(frames=[(b"\xff\xfe\xfd", False), (b"\xc3\x28", False), (b"\xed\xa0\x80", False)])
    @example(
        frames=[(json.dumps({"type": "big", "blob": "y" * (4 * 2**20 - 64)}).encode(), False)]
    )
    @example(frames=[(b'{"reply_to": 1}', False), (b'{"reply_to": "1"}', False)])
    def test_bad_frames(self, frames: list[tuple[bytes, bool]]) -> None:
        """Each bad frame is logged once at WARN and dropped; good ones are dispatched."""
        world = World()
        world.ready()
        dispatched: list[Any] = []
        world.rtm.on("slack_event", lambda type, event: dispatched.append(event))
        for payload, binary in frames:
            world.slack.send_raw(payload, binary=binary)
        world.slack.push({"type": "marker"})
        world.net.flush()
        self.assertEqual(world.rtm.state, "connected:ready")
        self.assertEqual(len(world.slack.connect_calls), 1)
        good = [json.loads(p) for p, binary in frames if _is_object(p, binary)]
        expected = [*good, {"type": "marker"}]
        self.assertEqual(len(dispatched), len(expected), "frames dispatched")
        for got, wanted in zip(dispatched, expected, strict=True):
            self.assertTrue(got == wanted, "a frame was not dispatched untouched")
        warnings = [line for line in world.log.at("warn") if line.startswith("Dropped")]
        self.assertEqual(len(warnings), len(frames) - len(good))
        for line in warnings:
            self.assertLess(len(line), 1000)
        reply = world.rtm.send_message("still here", "C1")
        world.net.flush()
        self.assertEqual(_result(reply)["text"], "still here")
        world.close()

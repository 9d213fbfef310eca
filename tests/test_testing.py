"""
Tests for L{txslackrtm.testing}: the fake Slack on real loopback sockets, driven by a plain
Autobahn WebSocket client and treq, and L{clocked_reactor}.
"""

from __future__ import annotations

import json
from typing import Any

from autobahn.twisted.websocket import WebSocketClientFactory, WebSocketClientProtocol
from treq.client import HTTPClient
from twisted.internet import reactor
from twisted.internet.defer import Deferred, inlineCallbacks, succeed
from twisted.internet.endpoints import HostnameEndpoint, TCP4ClientEndpoint, wrapClientTLS
from twisted.internet.interfaces import (
    IReactorPluggableNameResolver,
    IReactorTCP,
    IReactorTime,
)
from twisted.internet.protocol import Factory, Protocol
from twisted.internet.ssl import Certificate, optionsForClientTLS
from twisted.internet.task import Clock
from twisted.trial.unittest import FailTest, TestCase
from twisted.web.client import Agent, BrowserLikePolicyForHTTPS, HTTPConnectionPool

from txslackrtm import _certs, testing
from txslackrtm.testing import FakeSlack, clocked_reactor

FAULTS = [
    "drop",
    "goodbye",
    "team_migration",
    "half_open",
    "refuse_handshake",
    "rate_limit",
    "fail_connect",
    "expire_tickets",
    "hold_replies",
    "release_replies",
    "stall_connect",
    "send_raw",
]


class _RawSocket(WebSocketClientProtocol):
    """A bare WebSocket client that keeps every frame it gets."""

    def __init__(self) -> None:
        super().__init__()
        self.opened: Deferred[bool] = Deferred()
        self.closed: Deferred[None] = Deferred()
        self.close_code: int | None = None
        self.close_reason: str | None = None
        self._unread: list[tuple[bytes, bool]] = []
        self._waiting: list[Deferred[tuple[bytes, bool]]] = []

    def onOpen(self) -> None:
        self.opened.callback(True)

    def onMessage(self, payload: bytes, isBinary: bool) -> None:
        if self._waiting:
            self._waiting.pop(0).callback((payload, isBinary))
        else:
            self._unread.append((payload, isBinary))

    def onClose(self, wasClean: bool, code: int | None, reason: str | None) -> None:
        self.close_code, self.close_reason = code, reason

    def connectionLost(self, reason: Any = None) -> None:
        super().connectionLost(reason)
        if not self.opened.called:
            self.opened.callback(False)
        self.closed.callback(None)

    def raw(self) -> Deferred[tuple[bytes, bool]]:
        """The next frame as it came: (payload, binary)."""
        if self._unread:
            return succeed(self._unread.pop(0))
        waiting: Deferred[tuple[bytes, bool]] = Deferred()
        self._waiting.append(waiting)
        return waiting

    def frame(self) -> Deferred[dict[str, Any]]:
        """The next frame, decoded as JSON."""
        return self.raw().addCallback(lambda got: json.loads(got[0]))

    def send(self, frame: dict[str, Any]) -> None:
        self.sendMessage(json.dumps(frame).encode("utf-8"))

    def unread(self) -> int:
        return len(self._unread)

    def shut(self) -> Deferred[None]:
        """Drop the connection (if still there) and wait until it is gone."""
        if not self.closed.called:
            self.transport.abortConnection()
        return self.closed


class FakeSlackTestsMixin:
    """Helpers: a fake Slack per test, and clients that are cleaned up."""

    tls: bool = False

    @inlineCallbacks
    def start(self, **config: Any) -> Any:
        trust = None
        options = None
        if self.tls:
            ca = _certs.make_ca()
            options = _certs.server_tls_options(_certs.make_server_certificate(ca))
            trust = Certificate.loadPEM(ca.cert_pem)
        self.slack = yield FakeSlack.listen(self, tls=options, **config)
        self.trust = trust
        pool = HTTPConnectionPool(reactor)
        self.addCleanup(pool.closeCachedConnections)
        policy = BrowserLikePolicyForHTTPS(trustRoot=trust) if trust else None
        agent = Agent(reactor, pool=pool, **({"contextFactory": policy} if policy else {}))
        self.http = HTTPClient(agent)
        return self.slack

    @inlineCallbacks
    def call(self, method: str = "rtm.connect", verb: str = "POST", **kwargs: Any) -> Any:
        """Call the fake's Web API; return (status, headers, body)."""
        url = self.slack.api_url + method
        response = yield self.http.request(verb, url, **kwargs)
        body = yield response.json()
        return response.code, response.headers, body

    @inlineCallbacks
    def rtm_connect(self, **form: str) -> Any:
        """A successful rtm.connect with the valid token; return its URL."""
        headers = {"Authorization": f"Bearer {self.slack.token}"}
        _, _, body = yield self.call(headers=headers, data=form)
        return body["url"]

    @inlineCallbacks
    def open_socket(self, url: str | None = None) -> Any:
        """Connect a raw WebSocket client (to a fresh URL unless given); wait for the upgrade."""
        if url is None:
            url = yield self.rtm_connect()
        factory = WebSocketClientFactory(url)
        factory.protocol = _RawSocket
        factory.setProtocolOptions(
            openHandshakeTimeout=0,
            closeHandshakeTimeout=0,
            serverConnectionDropTimeout=0,
            autoPingInterval=0,
        )
        port = int(url.split(":")[2].split("/")[0])
        endpoint = TCP4ClientEndpoint(reactor, "127.0.0.1", port)
        if self.tls:
            endpoint = wrapClientTLS(
                optionsForClientTLS("127.0.0.1", trustRoot=self.trust), endpoint
            )
        socket = yield endpoint.connect(factory)
        self.addCleanup(socket.shut)
        yield socket.opened
        return socket

    @inlineCallbacks
    def greeted_socket(self, **form: str) -> Any:
        """A WebSocket that got its hello."""
        url = yield self.rtm_connect(**form)
        socket = yield self.open_socket(url)
        hello = yield socket.frame()
        self.assertEqual(hello, {"type": "hello"})
        return socket


class WebAPITests(FakeSlackTestsMixin, TestCase):
    """The fake's C{rtm.connect} and C{rtm.start} over HTTP."""

    @inlineCallbacks
    def test_connect_with_bearer_token(self) -> Any:
        """A POST with a bearer token gets a WebSocket URL on the same port, team and self."""
        slack = yield self.start()
        headers = {"Authorization": f"Bearer {slack.token}"}
        status, _, body = yield self.call(headers=headers, data={"batch_presence_aware": "1"})
        self.assertEqual(status, 200)
        port = slack.api_url.split(":")[2].split("/")[0]
        self.assertTrue(body["url"].startswith(f"ws://127.0.0.1:{port}/websocket/"))
        self.assertEqual(body["self"], {"id": "U0BOT", "name": "bot"})
        self.assertEqual(body["team"], {"id": "T0TEAM", "name": "Fake Team", "domain": "fake"})
        [call] = slack.connect_calls
        self.assertEqual(
            (call.method, call.verb, call.args, call.status, call.error),
            ("rtm.connect", "POST", {"batch_presence_aware": "1"}, 200, None),
        )

    @inlineCallbacks
    def test_start_with_query_token(self) -> Any:
        """C{rtm.start} by GET with the token in the query answers like C{rtm.connect}."""
        slack = yield self.start()
        _, _, body = yield self.call("rtm.start", "GET", params={"token": slack.token})
        self.assertTrue(body["ok"])
        self.assertEqual(slack.connect_calls[0].method, "rtm.start")
        self.assertEqual(slack.connect_calls[0].args, {})

    @inlineCallbacks
    def test_form_token(self) -> Any:
        """A token in a form-encoded body is accepted."""
        slack = yield self.start()
        _, _, body = yield self.call(data={"token": slack.token})
        self.assertTrue(body["ok"])

    @inlineCallbacks
    def test_bad_tokens(self) -> Any:
        """No token gets C{not_authed} and a wrong one C{invalid_auth}, both with HTTP 200."""
        slack = yield self.start()
        missing = yield self.call()
        wrong = yield self.call(headers={"Authorization": "Bearer xoxb-wrong"})
        self.assertEqual((missing[0], missing[2]), (200, {"ok": False, "error": "not_authed"}))
        self.assertEqual(wrong[2], {"ok": False, "error": "invalid_auth"})
        self.assertEqual([c.error for c in slack.connect_calls], ["not_authed", "invalid_auth"])

    @inlineCallbacks
    def test_rate_limit(self) -> Any:
        """A scripted rate limit is HTTP 429 with C{Retry-After}, then calls succeed again."""
        slack = yield self.start()
        slack.rate_limit(retry_after=7)
        status, headers, body = yield self.call(data={"token": slack.token})
        self.assertEqual(status, 429)
        self.assertEqual(headers.getRawHeaders("retry-after"), ["7"])
        self.assertEqual(body, {"ok": False, "error": "ratelimited"})
        _, _, body = yield self.call(data={"token": slack.token})
        self.assertTrue(body["ok"])

    @inlineCallbacks
    def test_fail_connect_with_status(self) -> Any:
        """A scripted failure can carry an HTTP error status."""
        slack = yield self.start()
        slack.fail_connect("internal_error", count=1, status=503)
        status, _, body = yield self.call(data={"token": slack.token})
        self.assertEqual((status, body), (503, {"ok": False, "error": "internal_error"}))
        self.assertEqual(slack.connect_calls[0].status, 503)

    @inlineCallbacks
    def test_unknown_method(self) -> Any:
        """Other Web API methods answer C{unknown_method} and are not recorded."""
        slack = yield self.start()
        _, _, body = yield self.call("chat.postMessage", data={"token": slack.token})
        self.assertEqual(body, {"ok": False, "error": "unknown_method"})
        self.assertEqual(slack.connect_calls, [])

    @inlineCallbacks
    def test_stall_then_release(self) -> Any:
        """A stalled call hangs until released, then gets a usable URL."""
        slack = yield self.start()
        stall = slack.stall_connect()
        answer = self.call(data={"token": slack.token})
        yield stall.arrived()
        self.assertNoResult(answer)
        self.assertEqual(slack.connect_calls[0].status, None)
        stall()
        _, _, body = yield answer
        self.assertTrue(body["ok"])
        socket = yield self.open_socket(body["url"])
        self.assertEqual((yield socket.frame()), {"type": "hello"})

    @inlineCallbacks
    def test_release_before_arrival(self) -> Any:
        """A stall released before its call arrives lets the call through at once."""
        slack = yield self.start()
        slack.stall_connect().release()
        _, _, body = yield self.call(data={"token": slack.token})
        self.assertTrue(body["ok"])

    @inlineCallbacks
    def test_stop_aborts_stalled_call(self) -> Any:
        """Stopping drops a stalled call's connection; releasing it afterwards is harmless."""
        slack = yield self.start()
        stall = slack.stall_connect()
        answer = self.call(data={"token": slack.token})
        answer.addErrback(lambda failure: failure.value)
        yield stall.arrived()
        yield slack.stop()
        self.assertIsInstance((yield answer), Exception)
        stall.release()


class WebSocketTests(FakeSlackTestsMixin, TestCase):
    """The fake's RTM WebSocket."""

    @inlineCallbacks
    def test_hello_first(self) -> Any:
        """A socket opened with a fresh URL is greeted with C{hello} and counted."""
        slack = yield self.start()
        opened = slack.wait_for_connections(1)
        yield self.greeted_socket()
        yield opened
        self.assertEqual(slack.connections, 1)

    @inlineCallbacks
    def test_message_reply_and_echo(self) -> Any:
        """A message is acknowledged with a C{ts}, echoed, logged and handed to the test."""
        slack = yield self.start()
        socket = yield self.greeted_socket()
        socket.send({"id": 1, "type": "message", "channel": "C1", "text": "hi"})
        reply = yield socket.frame()
        echo = yield socket.frame()
        self.assertEqual(reply, {"ok": True, "reply_to": 1, "ts": reply["ts"], "text": "hi"})
        self.assertEqual(
            echo,
            {
                "type": "message",
                "channel": "C1",
                "user": "U0BOT",
                "text": "hi",
                "ts": reply["ts"],
                "team": "T0TEAM",
            },
        )
        sent = yield slack.next_message("C1")
        self.assertEqual(sent["ts"], reply["ts"])
        self.assertEqual(slack.messages, [sent])

    @inlineCallbacks
    def test_message_errors(self) -> Any:
        """An unknown channel and an empty text get Slack's error replies."""
        yield self.start()
        socket = yield self.greeted_socket()
        socket.send({"id": 1, "type": "message", "channel": "C404", "text": "hi"})
        socket.send({"id": 2, "type": "message", "channel": "C1", "text": ""})
        wrong_channel = yield socket.frame()
        no_text = yield socket.frame()
        self.assertEqual(wrong_channel["error"], {"code": 0, "msg": "invalid channel id"})
        self.assertEqual(no_text["error"], {"code": 2, "msg": "message text is missing"})

    @inlineCallbacks
    def test_ping(self) -> Any:
        """A ping gets a pong with its C{reply_to} and scalar extras, and shows in C{received}."""
        slack = yield self.start()
        socket = yield self.greeted_socket()
        pinged = slack.next_frame("ping")
        socket.send({"id": 3, "type": "ping", "time": 42, "nested": {"no": 1}})
        self.assertEqual((yield socket.frame()), {"type": "pong", "reply_to": 3, "time": 42})
        self.assertEqual((yield pinged)["id"], 3)
        self.assertEqual(slack.received[-1]["type"], "ping")

    @inlineCallbacks
    def test_say_reaches_every_connection(self) -> Any:
        """A user's message reaches every open connection of a member."""
        slack = yield self.start()
        first = yield self.greeted_socket()
        second = yield self.greeted_socket()
        event = slack.say("C1", "hello", user="U2", thread_ts="1.000001")
        self.assertEqual((yield first.frame()), event)
        self.assertEqual((yield second.frame()), event)
        self.assertEqual(event["user"], "U2")
        self.assertEqual(event["thread_ts"], "1.000001")

    @inlineCallbacks
    def test_say_before_the_socket_opens(self) -> Any:
        """A message said between the connect call and the upgrade follows the hello."""
        slack = yield self.start()
        url = yield self.rtm_connect()
        event = slack.say("C1", "early")
        socket = yield self.open_socket(url)
        self.assertEqual((yield socket.frame()), {"type": "hello"})
        self.assertEqual((yield socket.frame()), event)

    @inlineCallbacks
    def test_say_rejects_unknowns(self) -> Any:
        """An unknown channel or user is a ValueError naming it."""
        slack = yield self.start()
        self.assertRaisesRegex(ValueError, "C404", slack.say, "C404", "x")
        self.assertRaisesRegex(ValueError, "U404", slack.say, "C1", "x", user="U404")

    @inlineCallbacks
    def test_typing(self) -> Any:
        """C{typing} becomes C{user_typing} on the other connections only."""
        yield self.start()
        typist = yield self.greeted_socket()
        other = yield self.greeted_socket()
        typist.send({"id": 1, "type": "typing", "channel": "C1"})
        self.assertEqual(
            (yield other.frame()), {"type": "user_typing", "channel": "C1", "user": "U0BOT"}
        )
        typist.send({"id": 2, "type": "ping"})
        self.assertEqual((yield typist.frame())["type"], "pong")

    @inlineCallbacks
    def test_presence(self) -> Any:
        """A subscription gets current presence, then changes; batch form when asked."""
        slack = yield self.start()
        single = yield self.greeted_socket()
        batch = yield self.greeted_socket(batch_presence_aware="true")
        for socket in (single, batch):
            socket.send({"type": "presence_sub", "ids": ["U1"]})
        self.assertEqual(
            (yield single.frame()), {"type": "presence_change", "user": "U1", "presence": "active"}
        )
        self.assertEqual(
            (yield batch.frame()),
            {"type": "presence_change", "users": ["U1"], "presence": "active"},
        )
        slack.set_presence("U1", "away")
        self.assertEqual((yield single.frame())["presence"], "away")
        self.assertEqual((yield batch.frame())["presence"], "away")

    @inlineCallbacks
    def test_push_and_send_raw(self) -> Any:
        """Pushed events and raw frames, text or binary, go out as they are."""
        slack = yield self.start()
        socket = yield self.greeted_socket()
        slack.push({"type": "reconnect_url", "url": "wss://example/x"})
        slack.send_raw("not json")
        slack.send_raw(b"\x00\x01", binary=True)
        self.assertEqual((yield socket.frame())["type"], "reconnect_url")
        self.assertEqual((yield socket.raw()), (b"not json", False))
        self.assertEqual((yield socket.raw()), (b"\x00\x01", True))

    @inlineCallbacks
    def test_wait_for_connections_counts_new_ones(self) -> Any:
        """C{wait_for_connections} ignores connections opened before the call."""
        slack = yield self.start()
        yield self.greeted_socket()
        waiting = slack.wait_for_connections(1)
        self.assertNoResult(waiting)
        yield self.greeted_socket()
        yield waiting


class FaultTests(FakeSlackTestsMixin, TestCase):
    """The scripted faults, seen from a client."""

    @inlineCallbacks
    def test_drop(self) -> Any:
        """C{drop} aborts the connection with no closing handshake."""
        slack = yield self.start()
        socket = yield self.greeted_socket()
        slack.drop()
        yield socket.closed
        self.assertFalse(socket.wasClean)
        self.assertEqual(slack.connections, 0)

    @inlineCallbacks
    def test_goodbye(self) -> Any:
        """C{goodbye} is sent, then the WebSocket is closed with code 1001."""
        slack = yield self.start()
        socket = yield self.greeted_socket()
        slack.goodbye()
        self.assertEqual((yield socket.frame()), {"type": "goodbye"})
        yield socket.closed
        self.assertEqual(socket.close_code, 1001)

    @inlineCallbacks
    def test_team_migration(self) -> Any:
        """Migration is announced, the socket closed, and the next connect calls fail."""
        slack = yield self.start()
        socket = yield self.greeted_socket()
        slack.team_migration(failing_connects=1)
        self.assertEqual((yield socket.frame()), {"type": "team_migration_started"})
        yield socket.closed
        _, _, body = yield self.call(data={"token": slack.token})
        self.assertEqual(body["error"], "migration_in_progress")
        _, _, body = yield self.call(data={"token": slack.token})
        self.assertTrue(body["ok"])

    @inlineCallbacks
    def test_half_open(self) -> Any:
        """A half-open socket answers nothing and stays up; a new one works; aborting frees it."""
        slack = yield self.start()
        dead = yield self.greeted_socket()
        slack.half_open()
        dead.send({"id": 1, "type": "ping"})
        slack.say("C1", "nobody hears this")
        alive = yield self.greeted_socket()
        alive.send({"id": 2, "type": "ping"})
        self.assertEqual((yield alive.frame())["reply_to"], 2)
        self.assertEqual(dead.unread(), 0)
        self.assertNotIn(1, [f.get("id") for f in slack.received])
        self.assertEqual(slack.connections, 2)
        yield dead.shut()
        alive.send({"id": 3, "type": "ping"})  # a round trip, so the fake saw the abort
        yield alive.frame()
        self.assertEqual(slack.connections, 1)

    @inlineCallbacks
    def test_refuse_handshake(self) -> Any:
        """A refused upgrade gets the scripted HTTP status; the next one is accepted."""
        slack = yield self.start()
        slack.refuse_handshake(count=1, status=503)
        url = yield self.rtm_connect()
        refused = yield self.open_socket(url)
        yield refused.closed
        self.assertFalse(refused.opened.result)
        self.assertIn("503", refused.wasNotCleanReason)
        socket = yield self.open_socket(url)
        self.assertEqual((yield socket.frame()), {"type": "hello"})

    @inlineCallbacks
    def test_expired_ticket(self) -> Any:
        """An expired URL is upgraded, then told C{Socket URL has expired} and closed."""
        slack = yield self.start()
        url = yield self.rtm_connect()
        slack.expire_tickets()
        socket = yield self.open_socket(url)
        frame = yield socket.frame()
        self.assertEqual(
            frame, {"type": "error", "error": {"code": 1, "msg": "Socket URL has expired"}}
        )
        yield socket.closed
        self.assertEqual(slack.connections, 0)

    @inlineCallbacks
    def test_ticket_is_single_use(self) -> Any:
        """A URL used once cannot be used again."""
        yield self.start()
        url = yield self.rtm_connect()
        yield self.open_socket(url)
        again = yield self.open_socket(url)
        self.assertEqual((yield again.frame())["error"]["code"], 1)

    @inlineCallbacks
    def test_ticket_expires_on_the_clock(self) -> Any:
        """With a test clock, a URL expires 30 seconds after the connect call."""
        clock = Clock()
        slack = yield FakeSlack.listen(self, clock=clock)
        self.slack = slack
        pool = HTTPConnectionPool(reactor)
        self.addCleanup(pool.closeCachedConnections)
        self.http = HTTPClient(Agent(reactor, pool=pool))
        url = yield self.rtm_connect()
        clock.advance(30)
        socket = yield self.open_socket(url)
        self.assertEqual((yield socket.frame())["type"], "error")

    @inlineCallbacks
    def test_held_reply_is_replayed_after_reconnect(self) -> Any:
        """A reply held back and lost with its connection is replayed after the next hello."""
        slack = yield self.start()
        socket = yield self.greeted_socket()
        slack.hold_replies()
        socket.send({"id": 7, "type": "message", "channel": "C1", "text": "lost ack"})
        echo = yield socket.frame()
        slack.drop()
        yield socket.closed
        again = yield self.greeted_socket()
        replay = yield again.frame()
        self.assertEqual(replay, {**echo, "reply_to": 7})
        slack.release_replies()
        again.send({"id": 8, "type": "ping"})
        self.assertEqual((yield again.frame())["reply_to"], 8)

    @inlineCallbacks
    def test_release_replies(self) -> Any:
        """Releasing sends the held replies on their connection."""
        slack = yield self.start()
        socket = yield self.greeted_socket()
        slack.hold_replies()
        socket.send({"id": 1, "type": "message", "channel": "C1", "text": "later"})
        self.assertEqual((yield socket.frame())["type"], "message")
        slack.release_replies()
        self.assertEqual((yield socket.frame())["reply_to"], 1)

    @inlineCallbacks
    def test_oversized_frame(self) -> Any:
        """A frame over 16 kB closes the socket with 1009 and is a violation."""
        slack = yield self.start()
        socket = yield self.greeted_socket()
        socket.send({"id": 1, "type": "message", "channel": "C1", "text": "x" * 16384})
        yield socket.closed
        self.assertEqual(socket.close_code, 1009)
        [violation] = slack.expect_violations()
        self.assertEqual(violation.kind, "oversized_frame")
        self.assertEqual(slack.violations, [])

    @inlineCallbacks
    def test_malformed_frames_are_violations(self) -> Any:
        """Binary frames and text that is not a JSON object are dropped and recorded."""
        slack = yield self.start()
        socket = yield self.greeted_socket()
        socket.sendMessage(b"\x01", isBinary=True)
        socket.sendMessage(b"[1, 2]")
        socket.send({"id": 1, "type": "ping"})
        yield socket.frame()
        self.assertEqual(
            [v.kind for v in slack.expect_violations()], ["binary_frame", "not_json_object"]
        )


class _CleanupRecorder:
    """Stands in for a test case: records cleanups, and fails like one."""

    failureException = FailTest

    def __init__(self) -> None:
        self.cleanups: list[Any] = []

    def addCleanup(self, f: Any, *args: Any) -> None:
        self.cleanups.append((f, args))

    def fail(self, message: str) -> None:
        raise self.failureException(message)

    @inlineCallbacks
    def run_cleanups(self) -> Any:
        """Run the cleanups, last first; return the exception one raised, if any."""
        while self.cleanups:
            f, args = self.cleanups.pop()
            try:
                yield f(*args)
            except FailTest as e:
                return e
        return None


class LifecycleTests(FakeSlackTestsMixin, TestCase):
    """Starting, stopping and reporting through the test case."""

    @inlineCallbacks
    def start_for(self, recorder: _CleanupRecorder) -> Any:
        """Start a fake that reports to C{recorder} instead of this test."""
        self.slack = yield FakeSlack.listen(recorder)
        self.addCleanup(self.slack.stop)
        pool = HTTPConnectionPool(reactor)
        self.addCleanup(pool.closeCachedConnections)
        self.http = HTTPClient(Agent(reactor, pool=pool))

    @inlineCallbacks
    def provoke_violation(self) -> Any:
        """Send a frame that is not JSON, and make sure the fake has seen it."""
        socket = yield self.greeted_socket()
        socket.sendMessage(b"nope")
        socket.send({"id": 1, "type": "ping"})
        yield socket.frame()

    @inlineCallbacks
    def test_violations_fail_the_test(self) -> Any:
        """Unclaimed violations fail the test case in its cleanup, naming them."""
        recorder = _CleanupRecorder()
        yield self.start_for(recorder)
        yield self.provoke_violation()
        failure = yield recorder.run_cleanups()
        self.assertIn("not_json_object", str(failure))
        self.assertIn("expect_violations", str(failure))

    @inlineCallbacks
    def test_claimed_violations_pass(self) -> Any:
        """Once claimed with C{expect_violations}, violations no longer fail the test."""
        recorder = _CleanupRecorder()
        yield self.start_for(recorder)
        yield self.provoke_violation()
        self.slack.expect_violations()
        self.assertIsNone((yield recorder.run_cleanups()))

    @inlineCallbacks
    def test_stop_is_idempotent_and_closes_sockets(self) -> Any:
        """Stopping aborts open sockets; stopping again is harmless."""
        slack = yield self.start()
        socket = yield self.greeted_socket()
        yield slack.stop()
        yield socket.closed
        yield slack.stop()
        self.assertEqual(slack.connections, 0)

    def test_bad_config(self) -> None:
        """Bad configuration is refused before listening, naming the argument."""
        self.assertRaisesRegex(TypeError, "ticket_ttl", FakeSlack.listen, ticket_ttl="30")
        self.assertRaisesRegex(TypeError, "tls", FakeSlack.listen, tls=object())
        self.assertRaises(TypeError, FakeSlack.listen, no_such_option=1)

    def test_public_names(self) -> None:
        """The testing module exports exactly its public names, each documented."""
        self.assertEqual(
            sorted(testing.__all__),
            ["ConnectCall", "ConnectStall", "FakeSlack", "Violation", "clocked_reactor"],
        )
        for name in testing.__all__:
            self.assertTrue(getattr(testing, name).__doc__, name)
        self.assertIn("FakeSlack.listen(self)", testing.__doc__ or "")

    def test_every_fault_is_a_documented_method(self) -> None:
        """Each fault the spec names is a documented method of L{FakeSlack}."""
        for name in FAULTS:
            self.assertTrue(getattr(FakeSlack, name).__doc__, name)


class TLSTests(FakeSlackTestsMixin, TestCase):
    """The fake serving C{https} and C{wss}."""

    tls = True

    @inlineCallbacks
    def test_https_and_wss(self) -> Any:
        """With TLS options, the API is C{https}, the URL C{wss}, and both work."""
        slack = yield self.start()
        self.assertTrue(slack.api_url.startswith("https://127.0.0.1:"))
        url = yield self.rtm_connect()
        self.assertTrue(url.startswith("wss://127.0.0.1:"))
        socket = yield self.greeted_socket()
        socket.send({"id": 1, "type": "ping"})
        self.assertEqual((yield socket.frame())["reply_to"], 1)
        slack.drop()
        yield socket.closed


class _Tracked(Protocol):
    """Fires C{made} when connected and C{lost} when the connection is gone."""

    def __init__(self) -> None:
        self.lost: Deferred[None] = Deferred()

    def connectionMade(self) -> None:
        made = getattr(self.factory, "made", None)
        if made is not None:
            made.callback(self)

    def connectionLost(self, reason: Any = None) -> None:
        self.lost.callback(None)


class ClockedReactorTests(TestCase):
    """L{clocked_reactor}: real networking, test time."""

    def test_time_is_the_clocks(self) -> None:
        """C{callLater}, C{seconds} and C{getDelayedCalls} go to the clock."""
        clock = Clock()
        clocked = clocked_reactor(clock)
        called: list[int] = []
        clocked.callLater(5, called.append, 1)
        self.assertEqual(len(clocked.getDelayedCalls()), 1)
        self.assertEqual(clocked.getDelayedCalls(), clock.getDelayedCalls())
        clock.advance(5)
        self.assertEqual((called, clocked.seconds()), ([1], 5))

    def test_interfaces(self) -> None:
        """It provides the reactor's interfaces, so endpoints and agents accept it."""
        clocked = clocked_reactor(Clock())
        for interface in (IReactorTime, IReactorTCP, IReactorPluggableNameResolver):
            self.assertTrue(interface.providedBy(clocked), interface)
        self.assertIs(clocked.nameResolver, reactor.nameResolver)

    def test_needs_a_clock(self) -> None:
        """Something that is not a clock is refused, naming the argument."""
        self.assertRaisesRegex(TypeError, "clock", clocked_reactor, object())

    @inlineCallbacks
    def test_hostname_endpoint_connects(self) -> Any:
        """A C{HostnameEndpoint} through it reaches a loopback listener, timers on the clock."""
        clock = Clock()
        server = Factory.forProtocol(_Tracked)
        server.made = Deferred()
        port = reactor.listenTCP(0, server, interface="127.0.0.1")
        self.addCleanup(port.stopListening)
        endpoint = HostnameEndpoint(clocked_reactor(clock), "127.0.0.1", port.getHost().port)
        client = yield endpoint.connect(Factory.forProtocol(_Tracked))
        accepted = yield server.made
        self.assertEqual(clock.getDelayedCalls(), [])
        client.transport.loseConnection()
        yield client.lost
        yield accepted.lost

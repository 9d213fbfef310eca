# -*- test-case-name: tests.test_client_reconnect -*-
"""Reconnecting, retries and keepalive, with the client's time on a test clock."""

from __future__ import annotations

from typing import Any

from twisted.internet import reactor
from twisted.internet.defer import inlineCallbacks

from txslackrtm import HTTPError, PlatformError, RateLimitedError, WebsocketError

from .support import ClientTestCase


class ReconnectTests(ClientTestCase):
    @inlineCallbacks
    def test_drop_reconnects_at_once(self) -> Any:
        """A lost connection that was ready is rebuilt at once, with a fresh rtm.connect."""
        rtm = yield self.ready(slack_config={})
        self.slack.drop()
        yield self.until("reconnecting")
        yield self.until("ready")
        self.assertEqual(self.clock.seconds(), 0)
        self.assertEqual(len(self.slack.connect_calls), 2)
        self.assertIn("error", self.names())
        self.assertEqual(rtm.state, "connected:ready")

    @inlineCallbacks
    def test_connect_arguments_resent(self) -> Any:
        """start()'s arguments are sent again on every reconnect."""
        rtm = yield self.make()
        yield rtm.start(batch_presence_aware=True)
        yield self.until("ready")
        self.slack.drop()
        yield self.until("reconnecting")
        yield self.until("ready")
        self.assertEqual(self.slack.connect_calls[1].args["batch_presence_aware"], "true")

    @inlineCallbacks
    def test_goodbye_reconnects(self) -> Any:
        """goodbye starts a reconnect at once."""
        yield self.ready()
        self.slack.goodbye()
        yield self.until("reconnecting")
        yield self.until("ready")
        self.assertEqual(len(self.slack.connect_calls), 2)

    @inlineCallbacks
    def test_expired_url_reconnects(self) -> Any:
        """An error frame with code 1 (URL expired) leads to a fresh rtm.connect."""
        rtm = yield self.make()
        rtm.once("authenticated", lambda response: self.slack.expire_tickets())
        yield rtm.start()
        yield self.until("reconnecting")
        self.clock.advance(1)
        yield self.until("ready")
        self.assertEqual(len(self.slack.connect_calls), 2)

    @inlineCallbacks
    def test_team_migration(self) -> Any:
        """team_migration_started then migration_in_progress answers are retried to ready."""
        yield self.ready()
        self.slack.team_migration(failing_connects=2)
        yield self.until("unable_to_rtm_start")
        self.assertEqual(self.events[-1][1][0].data["error"], "migration_in_progress")
        self.clock.advance(1)
        yield self.until("unable_to_rtm_start")
        self.clock.advance(2)
        yield self.until("ready")
        self.assertEqual(len(self.slack.connect_calls), 4)

    @inlineCallbacks
    def test_no_auto_reconnect(self) -> Any:
        """Without auto_reconnect a lost connection ends disconnected(error)."""
        yield self.ready(auto_reconnect=False)
        self.slack.drop()
        (error,) = yield self.until("disconnected")
        self.assertIsInstance(error, WebsocketError)
        self.assertEqual(len(self.slack.connect_calls), 1)

    @inlineCallbacks
    def test_attempt_counter_resets_at_ready(self) -> Any:
        """After a ready connection the backoff starts from the first attempt again."""
        yield self.ready()
        self.slack.refuse_handshake(count=2)
        self.slack.drop()
        yield self.until("reconnecting")  # the drop: immediate
        yield self.until("reconnecting")  # refused: 1 s
        self.clock.advance(1)
        yield self.until("reconnecting")  # refused again: 2 s
        self.clock.advance(2)
        yield self.until("ready")
        self.slack.refuse_handshake(count=1)
        self.slack.drop()
        yield self.until("reconnecting")
        yield self.until("reconnecting")
        self.assertEqual(
            [call.getTime() - self.clock.seconds() for call in self.clock.getDelayedCalls()], [1.0]
        )


class RetryTests(ClientTestCase):
    @inlineCallbacks
    def test_transient_connect_error_is_retried(self) -> Any:
        """A fatal_error from rtm.connect is retried and start() then fires (D2)."""
        rtm = yield self.make()
        self.slack.fail_connect("fatal_error")
        started = rtm.start()
        yield self.until("reconnecting")
        self.assertNoResult(started)
        self.clock.advance(1)
        response = yield started
        self.assertTrue(response["ok"])
        self.assertEqual(
            self.names()[:4], ["connecting", "unable_to_rtm_start", "reconnecting", "connecting"]
        )

    @inlineCallbacks
    def test_transient_errors(self) -> Any:
        """5xx answers and each transient platform error are retried, not fatal."""
        rtm = yield self.make()
        for error in [
            "ratelimited",
            "migration_in_progress",
            "internal_error",
            "service_unavailable",
            "request_timeout",
        ]:
            self.slack.fail_connect(error)
        self.slack.fail_connect("oops", status=503)
        started = rtm.start()
        for delay in [1, 2, 4, 8, 16, 32]:
            yield self.until("reconnecting")
            self.clock.advance(delay)
        yield started
        self.assertEqual(len(self.slack.connect_calls), 7)

    @inlineCallbacks
    def test_http_4xx_is_fatal(self) -> Any:
        """An HTTP 4xx other than 429 is fatal."""
        rtm = yield self.make()
        self.slack.fail_connect("forbidden", status=403)
        error = yield self.assertFailure(rtm.start(), HTTPError)
        self.assertEqual(error.status, 403)
        self.assertEqual(len(self.slack.connect_calls), 1)

    @inlineCallbacks
    def test_transient_without_auto_reconnect(self) -> Any:
        """Without auto_reconnect a transient connect error ends the client too."""
        rtm = yield self.make(auto_reconnect=False)
        self.slack.fail_connect("internal_error")
        yield self.assertFailure(rtm.start(), PlatformError)
        self.assertEqual(rtm.state, "disconnected")

    @inlineCallbacks
    def test_retry_after_wins(self) -> Any:
        """A 429's Retry-After is waited for when it is longer than the policy's delay."""
        rtm = yield self.make()
        self.slack.rate_limit(retry_after=3)
        started = rtm.start()
        (error,) = yield self.until("unable_to_rtm_start")
        self.assertIsInstance(error, RateLimitedError)
        self.assertEqual(error.retry_after, 3)
        self.clock.advance(2.9)
        self.assertEqual(len(self.slack.connect_calls), 1)
        self.clock.advance(0.1)
        yield started
        self.assertEqual(len(self.slack.connect_calls), 2)

    @inlineCallbacks
    def test_retries_exhausted(self) -> Any:
        """When the policy gives up, start() fails with the last error and the client ends."""
        rtm = yield self.make(retry_policy=lambda attempt: 0.5 if attempt < 3 else None)
        self.slack.fail_connect("internal_error", count=3)
        started = rtm.start()
        for _ in range(2):
            yield self.until("reconnecting")
            self.clock.advance(0.5)
        error = yield self.assertFailure(started, PlatformError)
        self.assertEqual(error.data["error"], "internal_error")
        self.assertEqual(self.events[-1], ("disconnected", (error,)))
        self.assertEqual(len(self.slack.connect_calls), 3)

    @inlineCallbacks
    def test_failing_websocket_backs_off(self) -> Any:
        """A WebSocket that fails to open is retried with growing delays, not in a loop (D6)."""
        rtm = yield self.make()
        self.slack.refuse_handshake(count=4)
        started = rtm.start()
        for delay in [1, 2, 4, 8]:
            yield self.until("reconnecting")
            calls = len(self.slack.connect_calls)
            self.clock.advance(delay - 0.01)
            self.assertEqual(len(self.slack.connect_calls), calls)
            self.clock.advance(0.01)
        yield started
        yield self.until("ready")
        self.assertEqual(len(self.slack.connect_calls), 5)
        self.assertEqual(rtm.state, "connected:ready")

    @inlineCallbacks
    def test_unreachable_host_is_transient(self) -> Any:
        """A Web API that refuses connections is retried."""
        # The real reactor's time: HostnameEndpoint gives up on refused addresses on a timer.
        rtm = yield self.make(slack_api_url="http://127.0.0.1:1/api/", reactor=reactor)
        started = rtm.start()
        (error,) = yield self.until("unable_to_rtm_start")
        self.assertEqual(rtm.state, "reconnecting")
        self.assertIn("127.0.0.1:1", str(error))
        yield rtm.disconnect()
        self.failureResultOf(started)


class KeepaliveTests(ClientTestCase):
    @inlineCallbacks
    def test_ping_after_silence(self) -> Any:
        """After client_ping_timeout seconds of outgoing silence the client pings."""
        yield self.ready()
        pinged = self.slack.next_frame("ping")
        self.clock.advance(5.9)
        self.assertNoResult(pinged)
        self.clock.advance(0.1)
        ping = yield pinged
        self.assertEqual(ping["id"], 1)

    @inlineCallbacks
    def test_pong_keeps_the_connection(self) -> Any:
        """An answered ping keeps the connection, and the next ping follows."""
        rtm = yield self.ready()
        pinged = self.slack.next_frame("ping")
        self.clock.advance(6)
        yield pinged
        yield self.until("pong")
        self.clock.advance(4)
        self.assertEqual(rtm.state, "connected:ready")
        self.assertEqual(len(self.slack.connect_calls), 1)

    @inlineCallbacks
    def test_half_open_connection_is_rebuilt(self) -> Any:
        """A silent half-open connection is rebuilt within ping + pong timeouts (D8)."""
        rtm = yield self.ready()
        self.slack.half_open()
        self.clock.advance(6)
        self.clock.advance(3.9)
        self.assertEqual(rtm.state, "connected:ready")
        self.clock.advance(0.1)
        self.assertEqual(rtm.state, "connecting:authenticating")
        yield self.until("ready")
        self.assertEqual(self.clock.seconds(), 10)
        self.assertEqual(len(self.slack.connect_calls), 2)

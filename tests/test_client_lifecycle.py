# -*- test-case-name: tests.test_client_lifecycle -*-
"""The client's lifecycle against the fake Slack: start, states, events, disconnect."""

from __future__ import annotations

from typing import Any

from twisted.application.service import MultiService
from twisted.internet.defer import inlineCallbacks

from txslackrtm import ErrorCode, InvalidStateError, PlatformError

from .support import ClientTestCase


class StartTests(ClientTestCase):
    @inlineCallbacks
    def test_start_fires_with_the_response(self) -> Any:
        """start() fires with the rtm.connect response once authenticated."""
        rtm = yield self.make()
        response = yield rtm.start()
        self.assertEqual(response["self"]["id"], self.slack.bot_user_id)
        self.assertTrue(response["url"].startswith("ws://127.0.0.1:"))
        self.assertEqual(self.names()[:2], ["connecting", "authenticated"])
        self.assertEqual(self.events[1][1], (response,))

    @inlineCallbacks
    def test_events_in_order_to_ready(self) -> Any:
        """A start emits connecting, authenticated, connected and ready, in that order."""
        seen: list[tuple[str, bool, str | None]] = []
        rtm = yield self.make()
        rtm.on("connected", lambda: seen.append((rtm.state, rtm.connected, rtm.active_user_id)))
        yield rtm.start()
        yield self.until("ready")
        self.assertEqual(self.names(), ["connecting", "authenticated", "connected", "ready"])
        self.assertEqual(seen, [("connected:ready", True, self.slack.bot_user_id)])
        self.assertEqual(rtm.state, "connected:ready")
        self.assertEqual(
            (rtm.connected, rtm.authenticated, rtm.active_user_id, rtm.active_team_id),
            (True, True, self.slack.bot_user_id, self.slack.team_id),
        )

    @inlineCallbacks
    def test_hello_between_connected_and_ready(self) -> Any:
        """The hello frame is dispatched after connected and before ready."""
        rtm = yield self.make()
        rtm.on("hello", lambda event: self.events.append(("hello", (event,))))
        yield rtm.start()
        yield self.until("ready")
        self.assertEqual(self.names()[2:], ["connected", "hello", "ready"])

    @inlineCallbacks
    def test_ready_right_after_hello(self) -> Any:
        """With no reply pending, ready follows hello at once: no clock time passes (D1)."""
        rtm = yield self.ready()
        self.assertEqual(self.clock.seconds(), 0)
        self.assertEqual(rtm.state, "connected:ready")

    @inlineCallbacks
    def test_connect_arguments_are_sent(self) -> Any:
        """start()'s arguments reach rtm.connect as form fields."""
        rtm = yield self.make()
        yield rtm.start(batch_presence_aware=True, presence_sub=False)
        call = self.slack.connect_calls[0]
        self.assertEqual(call.method, "rtm.connect")
        self.assertEqual(call.args["batch_presence_aware"], "true")
        self.assertEqual(call.args["presence_sub"], "false")

    @inlineCallbacks
    def test_rtm_start(self) -> Any:
        """use_rtm_connect=False calls rtm.start, whose whole response start() fires with."""
        rtm = yield self.make(use_rtm_connect=False)
        response = yield rtm.start()
        self.assertEqual(self.slack.connect_calls[0].method, "rtm.start")
        self.assertTrue(response["ok"])

    @inlineCallbacks
    def test_start_twice_fails_and_changes_nothing(self) -> Any:
        """start() when not disconnected fails with InvalidStateError and changes nothing (D11)."""
        rtm = yield self.ready()
        failure = yield self.assertFailure(rtm.start(), InvalidStateError)
        self.assertEqual(failure.code, ErrorCode.InvalidStateError)
        self.assertEqual(rtm.state, "connected:ready")
        self.assertEqual(len(self.slack.connect_calls), 1)

    @inlineCallbacks
    def test_start_again_after_disconnect(self) -> Any:
        """A disconnected client can be started again."""
        rtm = yield self.ready()
        yield rtm.disconnect()
        yield rtm.start()
        yield self.until("ready")
        self.assertEqual(len(self.slack.connect_calls), 2)

    @inlineCallbacks
    def test_start_leaks_no_listeners(self) -> Any:
        """start() and disconnect() leave the listener count as it was (D10)."""
        rtm = yield self.make()
        before = rtm.listener_count()
        for _ in range(3):
            yield rtm.start()
            yield self.until("ready")
            yield rtm.disconnect()
        self.assertEqual(rtm.listener_count(), before)


class FatalConnectTests(ClientTestCase):
    @inlineCallbacks
    def assert_fatal(self, error: str, status: int = 200) -> Any:
        rtm = yield self.make()
        self.slack.fail_connect(error, status=status)
        failure = yield self.assertFailure(rtm.start(), PlatformError)
        self.assertEqual(failure.data["error"], error)
        self.assertEqual(self.names(), ["connecting", "unable_to_rtm_start", "disconnected"])
        self.assertIs(self.events[-1][1][0], failure)
        self.assertEqual(len(self.slack.connect_calls), 1)
        self.assertEqual(self.clock.getDelayedCalls(), [])
        self.assertEqual((rtm.authenticated, rtm.active_user_id), (False, None))

    def test_invalid_auth(self) -> Any:
        """invalid_auth is fatal: no retry, disconnected(error), start() fails."""
        return self.assert_fatal("invalid_auth")

    def test_not_allowed_token_type(self) -> Any:
        """not_allowed_token_type is fatal, not retried forever (D16)."""
        return self.assert_fatal("not_allowed_token_type")

    def test_every_fatal_error(self) -> Any:
        """Each error the SPEC calls fatal ends the client at once."""

        @inlineCallbacks
        def check(error: str) -> Any:
            self.slack.fail_connect(error)
            yield self.assertFailure(self.rtm.start(), PlatformError)
            self.assertEqual(self.rtm.state, "disconnected")

        @inlineCallbacks
        def run() -> Any:
            yield self.make()
            for error in [
                "not_authed",
                "account_inactive",
                "token_revoked",
                "token_expired",
                "no_permission",
                "missing_scope",
                "user_removed_from_team",
                "team_disabled",
                "invalid_arguments",
                "not_bot",
            ]:
                yield check(error)
            self.assertEqual(len(self.slack.connect_calls), 10)

        return run()


class DisconnectTests(ClientTestCase):
    @inlineCallbacks
    def test_disconnect_from_ready(self) -> Any:
        """disconnect() emits disconnecting, then disconnected(None), and resets attributes."""
        rtm = yield self.ready()
        result = yield rtm.disconnect()
        self.assertIsNone(result)
        self.assertEqual(self.names()[-2:], ["disconnecting", "disconnected"])
        self.assertEqual(self.events[-1][1], (None,))
        self.assertEqual(
            (rtm.state, rtm.connected, rtm.authenticated, rtm.active_user_id, rtm.active_team_id),
            ("disconnected", False, False, None, None),
        )
        self.assertEqual(self.clock.getDelayedCalls(), [])

    @inlineCallbacks
    def test_disconnect_while_connect_call_in_flight(self) -> Any:
        """disconnect() during rtm.connect ends disconnected(None) with no socket (D3)."""
        rtm = yield self.make()
        stall = self.slack.stall_connect()
        started = rtm.start()
        yield stall.arrived()
        self.assertEqual(rtm.state, "connecting:authenticating")
        yield rtm.disconnect()
        yield self.assertFailure(started, InvalidStateError)
        self.assertEqual(self.names(), ["connecting", "disconnecting", "disconnected"])
        self.assertEqual(self.events[-1][1], (None,))
        self.assertEqual(self.slack.connections, 0)

    @inlineCallbacks
    def test_disconnect_while_socket_opens(self) -> Any:
        """disconnect() right after authenticated, before hello, ends disconnected(None)."""
        rtm = yield self.make()
        stopping = []
        rtm.on("authenticated", lambda response: stopping.append(rtm.disconnect()))
        yield rtm.start()
        yield stopping[0]
        self.assertEqual(self.events[-1], ("disconnected", (None,)))
        self.assertNotIn("ready", self.names())

    @inlineCallbacks
    def test_disconnect_during_reconnect_wait(self) -> Any:
        """disconnect() while waiting to retry ends disconnected(None), no timer left (D11)."""
        rtm = yield self.make()
        self.slack.fail_connect("internal_error")
        started = rtm.start()
        yield self.until("reconnecting")
        self.assertEqual(rtm.state, "reconnecting")
        yield rtm.disconnect()
        yield self.assertFailure(started, InvalidStateError)
        self.assertEqual(self.clock.getDelayedCalls(), [])
        self.assertEqual(len(self.slack.connect_calls), 1)

    @inlineCallbacks
    def test_disconnect_twice(self) -> Any:
        """A second disconnect() while disconnecting waits for the same end."""
        rtm = yield self.ready()
        first, second = rtm.disconnect(), rtm.disconnect()
        yield first
        yield second
        self.assertEqual(self.names().count("disconnected"), 1)

    @inlineCallbacks
    def test_disconnect_from_a_listener(self) -> Any:
        """disconnect() called inside a ready listener completes after the entry."""
        rtm = yield self.make()
        stopping = []
        rtm.once("ready", lambda: stopping.append(rtm.disconnect()))
        yield rtm.start()
        yield self.until("disconnected")
        result = yield stopping[0]
        self.assertIsNone(result)
        self.assertEqual(self.names()[-3:], ["ready", "disconnecting", "disconnected"])


class ServiceTests(ClientTestCase):
    @inlineCallbacks
    def test_in_a_service_tree(self) -> Any:
        """Starting the parent service starts the client; stopping waits for disconnected."""
        rtm = yield self.make()
        parent = MultiService()
        rtm.setServiceParent(parent)
        parent.startService()
        yield self.until("ready")
        yield parent.stopService()
        self.assertEqual(rtm.state, "disconnected")
        self.assertEqual(self.events[-1], ("disconnected", (None,)))

# -*- test-case-name: tests.test_arguments -*-
"""Bad arguments are refused with TypeError or ValueError naming them, before any I/O."""

from __future__ import annotations

import logging
from typing import Any

from twisted.internet.task import Clock
from twisted.test.proto_helpers import MemoryReactorClock
from twisted.trial.unittest import SynchronousTestCase

from txslackrtm import (
    ErrorCode,
    KeepAliveConfigError,
    LogLevel,
    MessageTooLongError,
    RTMClient,
    SendWhileDisconnectedError,
    SlackRTMError,
)

TOKEN = "xoxb-1234-very-secret"


def make_client(**options: Any) -> RTMClient:
    options.setdefault("reactor", MemoryReactorClock())
    options.setdefault("proxy", False)
    return RTMClient(TOKEN, **options)


class ConstructorTests(SynchronousTestCase):
    def assert_refused(self, error: type[Exception], name: str, **options: Any) -> None:
        raised = self.assertRaises(error, make_client, **options)
        self.assertIn(name, str(raised))

    def test_token(self) -> None:
        """The token must be a non-empty string."""
        self.assertRaises(TypeError, RTMClient, None, reactor=Clock())
        self.assertRaises(TypeError, RTMClient, b"xoxb", reactor=Clock())
        self.assertIn("token", str(self.assertRaises(ValueError, RTMClient, " ")))

    def test_timeouts(self) -> None:
        """Timeouts must be positive numbers of seconds."""
        for name in (
            "client_ping_timeout",
            "server_pong_timeout",
            "reply_ack_on_reconnect_timeout",
        ):
            self.assert_refused(ValueError, name, **{name: -1})
            self.assert_refused(TypeError, name, **{name: "5"})
            self.assert_refused(TypeError, name, **{name: True})
            self.assert_refused(ValueError, name, **{name: float("nan")})

    def test_pong_must_be_shorter_than_ping(self) -> None:
        """server_pong_timeout >= client_ping_timeout: a KeepAliveConfigError, a ValueError."""
        error = self.assertRaises(
            KeepAliveConfigError, make_client, client_ping_timeout=3, server_pong_timeout=3
        )
        self.assertIsInstance(error, ValueError)
        self.assertIsInstance(error, SlackRTMError)
        self.assertEqual(error.code, ErrorCode.KeepAliveConfigError)
        message = str(error)
        self.assertLess(message.index("server_pong_timeout"), message.index("smaller"))
        self.assertLess(message.index("smaller"), message.index("client_ping_timeout"))

    def test_flags_and_urls(self) -> None:
        """Flags must be booleans and the API URL an http(s) URL."""
        self.assert_refused(TypeError, "auto_reconnect", auto_reconnect="yes")
        self.assert_refused(TypeError, "use_rtm_connect", use_rtm_connect=1)
        self.assert_refused(ValueError, "slack_api_url", slack_api_url="ftp://example.com/")
        self.assert_refused(ValueError, "slack_api_url", slack_api_url="not a url")
        self.assert_refused(TypeError, "slack_api_url", slack_api_url=None)

    def test_rate_limit_and_policy(self) -> None:
        """rate_limit is (rate, burst) or None; retry_policy is callable."""
        self.assert_refused(TypeError, "rate_limit", rate_limit=5)
        self.assert_refused(ValueError, "burst", rate_limit=(1.0, 0))
        self.assert_refused(ValueError, "messages_per_second", rate_limit=(0, 5))
        self.assert_refused(TypeError, "retry_policy", retry_policy=3)
        self.assert_refused(TypeError, "json_loads", json_loads="orjson")
        make_client(rate_limit=None, retry_policy=lambda attempt: None)

    def test_logging_options(self) -> None:
        """log_level must name a level and logger must have the level methods."""
        self.assert_refused(ValueError, "log_level", log_level="loud")
        self.assert_refused(TypeError, "logger", logger=object())
        make_client(log_level="DEBUG", logger=logging.getLogger("test"))
        make_client(log_level=LogLevel.ERROR)

    def test_unknown_option(self) -> None:
        """An option the client does not know is a TypeError."""
        self.assertRaises(TypeError, make_client, auto_reconect=False)

    def test_trailing_slash_added(self) -> None:
        """A missing trailing slash on slack_api_url is added."""
        client = make_client(slack_api_url="http://127.0.0.1:1/api")
        self.assertEqual(client._connector.url, "http://127.0.0.1:1/api/rtm.connect")

    def test_initial_state(self) -> None:
        """A new client is disconnected, with no identity."""
        client = make_client()
        self.assertEqual(
            (client.state, client.connected, client.authenticated, client.active_user_id),
            ("disconnected", False, False, None),
        )

    def test_token_not_in_repr(self) -> None:
        """Neither the client's repr nor its connector's shows the token."""
        client = make_client()
        self.assertNotIn(TOKEN, repr(client))
        self.assertNotIn(TOKEN, repr(vars(client._connector)))


class MethodArgumentTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.reactor = MemoryReactorClock()
        self.client = make_client(reactor=self.reactor)

    def assert_no_io(self) -> None:
        self.assertEqual(self.reactor.tcpClients, [])
        self.assertEqual(self.client.state, "disconnected")

    def test_send_message_arguments(self) -> None:
        """send_message needs a non-empty text and conversation id, as strings."""
        self.assertRaises(TypeError, self.client.send_message, None, "C1")
        self.assertRaises(ValueError, self.client.send_message, "", "C1")
        self.assertIn(
            "conversation_id",
            str(self.assertRaises(ValueError, self.client.send_message, "hi", "")),
        )
        self.assertRaises(TypeError, self.client.send_message, "hi", 5)
        self.assert_no_io()

    def test_other_send_arguments(self) -> None:
        """send_typing, subscribe_presence, add_outgoing_event and send check their arguments."""
        self.assertRaises(ValueError, self.client.send_typing, " ")
        self.assertRaises(TypeError, self.client.subscribe_presence, "U1")
        self.assertRaises(TypeError, self.client.subscribe_presence, [1])
        self.assertRaises(TypeError, self.client.add_outgoing_event, "yes", "typing")
        self.assertRaises(TypeError, self.client.add_outgoing_event, False, None)
        self.assertRaises(TypeError, self.client.add_outgoing_event, False, "typing", [1])
        self.assertRaises(ValueError, self.client.send, "")
        self.assert_no_io()

    def test_start_arguments(self) -> None:
        """start() refuses connect arguments that cannot be sent as form fields."""
        error = self.assertRaises(TypeError, self.client.start, presence_sub=[1])
        self.assertIn("presence_sub", str(error))
        self.assert_no_io()

    def test_listener_arguments(self) -> None:
        """on() needs a callable listener."""
        self.assertRaises(TypeError, self.client.on, "message", "not callable")

    def test_sends_while_disconnected_fail_at_once(self) -> None:
        """Every outgoing method fails with SendWhileDisconnectedError before start()."""
        for deferred in [
            self.client.send_message("hi", "C1"),
            self.client.send_typing("C1"),
            self.client.subscribe_presence(["U1"]),
            self.client.add_outgoing_event(True, "message", {"text": "x", "channel": "C1"}),
            self.client.send("typing", {"channel": "C1"}),
        ]:
            failure = self.failureResultOf(deferred, SendWhileDisconnectedError)
            self.assertEqual(failure.value.code, ErrorCode.SendWhileDisconnectedError)
        self.assert_no_io()

    def test_too_long_message(self) -> None:
        """A text over 4,000 characters fails with MessageTooLongError."""
        self.client.start()
        self.failureResultOf(self.client.send_message("x" * 4001, "C1"), MessageTooLongError)

    def test_disconnect_when_disconnected(self) -> None:
        """disconnect() on a disconnected client fires at once and changes nothing."""
        self.assertIsNone(self.successResultOf(self.client.disconnect()))
        self.assert_no_io()

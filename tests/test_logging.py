# -*- test-case-name: tests.test_logging -*-
"""Logging: levels, custom and stdlib loggers, twisted.logger, and secrets kept out."""

from __future__ import annotations

import logging
from typing import Any

from twisted.internet.defer import inlineCallbacks
from twisted.logger import LogEvent, formatEvent, globalLogPublisher

from txslackrtm import PlatformError, RTMClient
from txslackrtm._logging import redact_url

from .support import ClientTestCase, LogCapture


class SecretTests(ClientTestCase):
    @inlineCallbacks
    def test_token_never_logged_at_debug(self) -> Any:
        """At DEBUG, through a connect, a send, a drop and a fatal error, no line has the token."""
        rtm = yield self.ready()
        yield rtm.send_message("hello", "C1")
        self.slack.drop()
        yield self.until("ready")
        yield rtm.disconnect()
        self.slack.fail_connect("invalid_auth")
        error = yield self.assertFailure(rtm.start(), PlatformError)
        self.assertTrue(self.log.at("debug"))
        for text in [self.log.text, str(error), repr(error), repr(rtm), repr(error.data)]:
            self.assertNotIn(self.slack.token, text)

    @inlineCallbacks
    def test_ticket_redacted(self) -> Any:
        """The WebSocket URL appears in logs only with its ticket hidden."""
        rtm = yield self.make()
        response = yield rtm.start()
        yield self.until("ready")
        ticket = response["url"].rsplit("/", 1)[1]
        self.assertNotIn(ticket, self.log.text)
        self.assertIn("/websocket/<redacted>", self.log.text)

    @inlineCallbacks
    def test_twisted_logger_output(self) -> Any:
        """With no custom logger, lines go to twisted.logger, namespace txslackrtm, no token."""
        events: list[LogEvent] = []
        globalLogPublisher.addObserver(events.append)
        self.addCleanup(globalLogPublisher.removeObserver, events.append)
        rtm = yield self.make(logger=None)
        yield rtm.start()
        yield self.until("ready")
        ours = [event for event in events if event.get("log_namespace") == "txslackrtm"]
        self.assertTrue(ours)
        self.assertTrue(any("Connected to Slack" in (formatEvent(e) or "") for e in ours))
        for event in ours:
            self.assertNotIn(self.slack.token, formatEvent(event) or "")
            self.assertNotIn(self.slack.token, repr(event))

    def test_redact_url(self) -> None:
        """redact_url hides the last path segment and any query."""
        self.assertEqual(
            redact_url("wss://wss-primary.slack.com/websocket/AbC123?x=1"),
            "wss://wss-primary.slack.com/websocket/<redacted>",
        )


class LevelTests(ClientTestCase):
    @inlineCallbacks
    def test_level_filters(self) -> Any:
        """At WARN the client writes no DEBUG or INFO lines."""
        rtm = yield self.make(log_level="warn")
        yield rtm.start()
        yield self.until("ready")
        self.slack.send_raw("not json")
        self.slack.push({"type": "marker"})
        yield self.until("marker")
        self.assertEqual(self.log.at("debug") + self.log.at("info"), [])
        self.assertEqual(len(self.log.at("warn")), 1)

    def test_custom_logger_is_told_level_and_name(self) -> None:
        """A custom logger's set_level and set_name are called."""
        log = LogCapture()
        RTMClient("xoxb-1", logger=log, log_level="error", proxy=False)
        self.assertEqual(log.level, "error")
        self.assertTrue(log.name)

    def test_warning_accepted_for_warn(self) -> None:
        """A custom logger with warning() instead of warn() receives WARN lines."""
        lines: list[str] = []

        class Logger:
            def debug(self, *msgs: Any) -> None: ...
            def info(self, *msgs: Any) -> None: ...
            def error(self, *msgs: Any) -> None: ...
            def warning(self, *msgs: Any) -> None:
                lines.append(" ".join(msgs))

        client = RTMClient("xoxb-1", logger=Logger(), proxy=False)
        client._log.warn("careful {what}", what="now")
        self.assertEqual(lines, ["careful now"])

    def test_stdlib_logger(self) -> None:
        """A logging.Logger gets its level set and receives lines at its own levels."""
        logger = logging.getLogger("txslackrtm.test")
        records: list[logging.LogRecord] = []
        handler = logging.Handler()
        handler.emit = records.append  # type: ignore[method-assign]
        logger.addHandler(handler)
        self.addCleanup(logger.removeHandler, handler)
        client = RTMClient("xoxb-1", logger=logger, log_level="warn", proxy=False)
        self.assertEqual(logger.level, logging.WARNING)
        client._log.info("quiet")
        client._log.warn("loud")
        self.assertEqual(
            [(r.levelno, r.getMessage()) for r in records], [(logging.WARNING, "loud")]
        )

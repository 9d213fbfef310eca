"""Shared set-up for the client's tests: a fake Slack on loopback and a clock-driven client."""

from __future__ import annotations

from typing import Any

from twisted.internet.defer import Deferred, inlineCallbacks, succeed
from twisted.internet.task import Clock
from twisted.trial.unittest import TestCase

from txslackrtm import RTMClient, full_jitter_backoff
from txslackrtm.testing import FakeSlack, clocked_reactor

#: The lifecycle events every test records, in order.
LIFECYCLE = (
    "connecting",
    "authenticated",
    "connected",
    "ready",
    "disconnecting",
    "reconnecting",
    "disconnected",
    "error",
    "unable_to_rtm_start",
)


class LogCapture:
    """A custom logger that keeps every line, at every level."""

    def __init__(self) -> None:
        self.lines: list[tuple[str, str]] = []
        self.level: str | None = None
        self.name: str | None = None

    def debug(self, *msgs: Any) -> None:
        self.lines.append(("debug", " ".join(map(str, msgs))))

    def info(self, *msgs: Any) -> None:
        self.lines.append(("info", " ".join(map(str, msgs))))

    def warn(self, *msgs: Any) -> None:
        self.lines.append(("warn", " ".join(map(str, msgs))))

    def error(self, *msgs: Any) -> None:
        self.lines.append(("error", " ".join(map(str, msgs))))

    def set_level(self, level: str) -> None:
        self.level = level

    def set_name(self, name: str) -> None:
        self.name = name

    def at(self, level: str) -> list[str]:
        return [line for line_level, line in self.lines if line_level == level]

    @property
    def text(self) -> str:
        return "\n".join(line for _level, line in self.lines)


class ClientTestCase(TestCase):
    """
    Tests of a real client against a real fake Slack over loopback, with the client's timers
    on C{self.clock}: its retry delays and keepalive only move when the test advances it.
    """

    slack: FakeSlack
    rtm: RTMClient

    def setUp(self) -> None:
        self.clock = Clock()

    @inlineCallbacks
    def make(self, **options: Any) -> Any:
        """Start a fake Slack and build (not start) a client aimed at it."""
        config = options.pop("slack_config", {})
        self.slack = yield FakeSlack.listen(self, **config)
        self.log = LogCapture()
        options.setdefault("reactor", clocked_reactor(self.clock))
        options.setdefault("retry_policy", full_jitter_backoff(random=lambda: 1.0))
        options.setdefault("proxy", False)
        options.setdefault("logger", self.log)
        options.setdefault("log_level", "debug")
        options.setdefault("rate_limit", None)
        options.setdefault("slack_api_url", self.slack.api_url)
        self.rtm = RTMClient(self.slack.token, **options)
        self.events: list[tuple[str, tuple[Any, ...]]] = []
        for name in LIFECYCLE:
            self.rtm.on(name, lambda *args, name=name: self.events.append((name, args)))
        self.addCleanup(self.stop_client)
        return self.rtm

    def stop_client(self) -> Deferred[None]:
        """Disconnect, advancing the test clock past a close that a dead peer never answers."""
        stopping = self.rtm.disconnect()
        self.clock.advance(10)
        return stopping

    @inlineCallbacks
    def ready(self, **options: Any) -> Any:
        """A started client that has reached ready."""
        rtm = yield self.make(**options)
        yield rtm.start()
        yield self.until("ready")
        return rtm

    def until(self, event: str) -> Deferred[Any]:
        """Fire when the client next emits C{event} (at once for ready when already ready)."""
        if event == "ready" and self.rtm.state == "connected:ready":
            return succeed(())
        waiting: Deferred[Any] = Deferred()
        self.rtm.once(event, lambda *args: waiting.callback(args))
        return waiting

    def names(self) -> list[str]:
        """The lifecycle events so far, by name."""
        return [name for name, _args in self.events]

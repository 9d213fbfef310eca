"""Shared set-up for the client's tests: a fake Slack on loopback and a clock-driven client."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from twisted.internet.defer import Deferred, inlineCallbacks, succeed
from twisted.internet.task import Clock
from twisted.python.failure import Failure
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
    #: The client's log level unless a test names one: debug, so that tests see every line.
    log_level = "debug"

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
        options.setdefault("log_level", self.log_level)
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


class DeferredLedger:
    """
    Every Deferred a client's public methods hand out, so that a test can check at the end
    that each one fired: nothing a user waits on may be left waiting.

    It wraps the methods on the instance, so calls the client makes to itself (C{send_message}
    calling C{add_outgoing_event}) are seen too; a Deferred is recorded once.
    """

    METHODS = (
        "start",
        "disconnect",
        "send_message",
        "send_typing",
        "subscribe_presence",
        "add_outgoing_event",
        "send",
    )

    def __init__(self, rtm: RTMClient) -> None:
        self.handed_out: list[tuple[str, Deferred[Any]]] = []
        self._results: dict[int, Any] = {}
        for name in self.METHODS:
            setattr(rtm, name, self._tracking(name, getattr(rtm, name)))

    def _tracking(self, name: str, method: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(method)
        def tracked(*args: Any, **kwargs: Any) -> Any:
            result = method(*args, **kwargs)
            if isinstance(result, Deferred) and all(d is not result for _, d in self.handed_out):
                index = len(self.handed_out)
                self.handed_out.append((name, result))
                result.addBoth(self._record, index)
            return result

        return tracked

    def _record(self, result: Any, index: int) -> Any:
        self._results[index] = result.value if isinstance(result, Failure) else result
        return result

    def unfired(self) -> list[str]:
        """The methods whose Deferreds have not fired yet, one entry per Deferred."""
        return [name for i, (name, _) in enumerate(self.handed_out) if i not in self._results]

    def outcomes(self) -> list[tuple[str, Any]]:
        """C{(method, result)} for every fired Deferred; a failure's result is its exception."""
        return [
            (name, self._results[i])
            for i, (name, _) in enumerate(self.handed_out)
            if i in self._results
        ]

    def consume(self) -> None:
        """Handle every failure so far, so that none is reported as unhandled later."""
        for i, (_, deferred) in enumerate(self.handed_out):
            if i in self._results:
                deferred.addErrback(lambda failure: None)

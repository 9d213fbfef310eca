"""
Event listeners: C{on}, C{once} and C{off}, and a dispatch that no listener can break.

A listener that raises, or returns a Deferred or coroutine that fails, has its failure
logged once with the event's name; the other listeners and the connection carry on.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Mapping, Sequence
from typing import Any

from twisted.internet.defer import Deferred, ensureDeferred
from twisted.python.failure import Failure

Listener = Callable[..., Any]
#: Called as C{report(event, failure)} for every listener that failed.
FailureReport = Callable[[str, Failure], None]


class _Once:
    """A listener that removes itself before its first call."""

    def __init__(self, emitter: Emitter, event: str, listener: Listener) -> None:
        self.emitter = emitter
        self.event = event
        self.listener = listener

    def __call__(self, *args: Any) -> Any:
        self.emitter.off(self.event, self)
        return self.listener(*args)


class Emitter:
    """Listeners by event name, called in the order they were added."""

    def __init__(self, report: FailureReport) -> None:
        self._report = report
        # Replaced, never changed, when listeners come and go: an emission goes on calling
        # those there were when it began, whatever they add or remove.
        self._listeners: dict[str, tuple[Listener, ...]] = {}
        #: The events that have listeners, with them: a live, read-only view, for a caller
        #: that emits many events to skip the many that nobody listens to.
        self.listened: Mapping[str, Sequence[Listener]] = self._listeners

    def on(self, event: str, listener: Listener | None = None) -> Any:
        """
        Call C{listener} with the event's arguments every time C{event} is emitted.

        Without a listener, return a decorator that registers the function it decorates.
        @return: the listener, so the decorated function stays usable.
        """
        if listener is None:
            return lambda function: self.on(event, function)
        _check(event, listener)
        self._add(event, listener)
        return listener

    def once(self, event: str, listener: Listener | None = None) -> Any:
        """Like L{on}, for the next emission of C{event} only."""
        if listener is None:
            return lambda function: self.once(event, function)
        _check(event, listener)
        self._add(event, _Once(self, event, listener))
        return listener

    def _add(self, event: str, listener: Listener) -> None:
        self._listeners[event] = (*self._listeners.get(event, ()), listener)

    def off(self, event: str, listener: Listener | None = None) -> None:
        """
        Remove C{listener} (added with L{on} or L{once}) from C{event}, or every listener of
        C{event} when none is named. Removing a listener that is not there does nothing.
        """
        _check_event(event)
        listeners = self._listeners.get(event)
        if not listeners:
            return
        if listener is None:
            del self._listeners[event]
            return
        for index, candidate in enumerate(listeners):
            if candidate is listener or (
                isinstance(candidate, _Once) and candidate.listener is listener
            ):
                listeners = listeners[:index] + listeners[index + 1 :]
                break
        if listeners:
            self._listeners[event] = listeners
        else:
            del self._listeners[event]

    def listener_count(self, event: str | None = None) -> int:
        """How many listeners C{event} has, or all events together when C{None}."""
        if event is None:
            return sum(len(listeners) for listeners in self._listeners.values())
        _check_event(event)
        return len(self._listeners.get(event, ()))

    def emit(self, event: str, *args: Any) -> None:
        """Call every listener of C{event}, isolating each one's failure."""
        listeners = self._listeners.get(event)
        if not listeners:
            return
        for listener in listeners:
            try:
                result = listener(*args)
            except Exception:
                self._report(event, Failure())  # type: ignore[no-untyped-call]
                continue
            if result is None:
                continue
            if isinstance(result, Coroutine):
                result = ensureDeferred(result)
            if isinstance(result, Deferred):
                result.addErrback(self._failed, event)

    def _failed(self, failure: Failure, event: str) -> None:
        self._report(event, failure)


def _check(event: object, listener: object) -> None:
    _check_event(event)
    if not callable(listener):
        raise TypeError(f"listener must be callable, not {type(listener).__name__}")


def _check_event(event: object) -> None:
    if not isinstance(event, str):
        raise TypeError(f"event must be a string, not {type(event).__name__}")

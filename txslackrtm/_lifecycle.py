"""
The client's lifecycle, declared in one place: its states, the inputs that move it, and the
table of transitions between them.

This module owns the rule "what may happen next"; what the client I{does} on entering a
state lives in L{txslackrtm._client}. Inputs that arrive while a state is being entered (a
listener calling C{disconnect()} from inside C{ready}, say) are queued and applied once that
entry is complete, so every entry runs to the end in the state it was meant for. An input
with no transition from the current state is ignored and reported: late I/O from a
connection already given up must never wedge or crash the client (the Node client throws
there, its defect D11).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from enum import Enum, StrEnum
from typing import Any


class State(StrEnum):
    """Where the client is; the value is what C{RTMClient.state} reports."""

    DISCONNECTED = "disconnected"
    AUTHENTICATING = "connecting:authenticating"
    AUTHENTICATED = "connecting:authenticated"
    HANDSHAKING = "connecting:handshaking"
    RESUMING = "connected:resuming"
    READY = "connected:ready"
    DISCONNECTING = "disconnecting"
    RECONNECTING = "reconnecting"

    @property
    def top(self) -> str:
        """The top-level state: C{connecting}, C{connected}, C{disconnecting}..."""
        return self.value.partition(":")[0]


class Input(Enum):
    """What can happen to the client."""

    #: C{start()} was called.
    START = "start"
    #: The Web API call returned a WebSocket URL.
    AUTHENTICATED = "authenticated"
    #: The WebSocket handshake completed.
    SOCKET_OPEN = "socket open"
    #: C{hello} arrived and nothing is left to resume.
    HELLO = "hello"
    #: C{hello} arrived and the reply to the last message may be replayed.
    HELLO_RESUMING = "hello, resuming"
    #: The replayed reply came, or the wait for it is over.
    RESUMED = "resumed"
    #: The attempt or the connection failed, and it will be retried.
    FAILED = "failed"
    #: The attempt or the connection failed for good.
    GAVE_UP = "gave up"
    #: The retry delay has passed.
    RETRY = "retry"
    #: C{disconnect()} was called.
    DISCONNECT = "disconnect"
    #: Nothing is left open after C{disconnect()}.
    CLOSED = "closed"


_ATTEMPT_ENDS = {
    Input.FAILED: State.RECONNECTING,
    Input.GAVE_UP: State.DISCONNECTED,
    Input.DISCONNECT: State.DISCONNECTING,
}

#: Every transition there is: state -> input -> next state.
TRANSITIONS: dict[State, dict[Input, State]] = {
    State.DISCONNECTED: {Input.START: State.AUTHENTICATING},
    State.AUTHENTICATING: {Input.AUTHENTICATED: State.AUTHENTICATED, **_ATTEMPT_ENDS},
    State.AUTHENTICATED: {Input.SOCKET_OPEN: State.HANDSHAKING, **_ATTEMPT_ENDS},
    State.HANDSHAKING: {
        Input.HELLO: State.READY,
        Input.HELLO_RESUMING: State.RESUMING,
        **_ATTEMPT_ENDS,
    },
    State.RESUMING: {Input.RESUMED: State.READY, **_ATTEMPT_ENDS},
    State.READY: dict(_ATTEMPT_ENDS),
    State.DISCONNECTING: {Input.CLOSED: State.DISCONNECTED},
    State.RECONNECTING: {
        Input.RETRY: State.AUTHENTICATING,
        Input.DISCONNECT: State.DISCONNECTING,
    },
}

#: Called as C{enter(old, new, payload)} once the state is C{new}.
EnterHook = Callable[[State, State, Any], None]
#: Called as C{ignored(state, input)} for an input the state has no transition for.
IgnoredHook = Callable[[State, Input], None]


class Lifecycle:
    """
    The lifecycle state machine: applies L{TRANSITIONS} and runs the entry hook.

    @ivar state: the current L{State}.
    """

    def __init__(self, enter: EnterHook, ignored: IgnoredHook) -> None:
        self.state = State.DISCONNECTED
        self._enter = enter
        self._ignored = ignored
        self._queue: deque[tuple[Input, Any]] = deque()
        self._entering = False

    @property
    def busy(self) -> bool:
        """Whether a state is being entered right now."""
        return self._entering

    def handle(self, input: Input, payload: Any = None) -> None:
        """
        Apply C{input}, handing C{payload} to the entry hook of the state it leads to.

        Called while a state is being entered, the input waits until that entry is done.
        """
        self._queue.append((input, payload))
        if self._entering:
            return
        self._entering = True
        try:
            while self._queue:
                queued, queued_payload = self._queue.popleft()
                self._apply(queued, queued_payload)
        finally:
            self._entering = False

    def _apply(self, input: Input, payload: Any) -> None:
        old = self.state
        new = TRANSITIONS[old].get(input)
        if new is None:
            self._ignored(old, input)
            return
        self.state = new
        self._enter(old, new, payload)

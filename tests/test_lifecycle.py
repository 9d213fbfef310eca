# -*- test-case-name: tests.test_lifecycle -*-
"""Tests for the lifecycle table and its machine, with no client around it."""

from __future__ import annotations

from typing import Any

from twisted.trial.unittest import SynchronousTestCase

from txslackrtm._lifecycle import TRANSITIONS, Input, Lifecycle, State


class Recorder:
    def __init__(self) -> None:
        self.entered: list[tuple[State, State, Any]] = []
        self.ignored: list[tuple[State, Input]] = []

    def enter(self, old: State, new: State, payload: Any) -> None:
        self.entered.append((old, new, payload))

    def ignore(self, state: State, input: Input) -> None:
        self.ignored.append((state, input))


class TableTests(SynchronousTestCase):
    def test_every_state_has_a_row(self) -> None:
        """The table names every state, and every target is a state."""
        self.assertEqual(set(TRANSITIONS), set(State))
        for row in TRANSITIONS.values():
            self.assertTrue(set(row.values()) <= set(State))

    def test_disconnect_is_possible_from_every_active_state(self) -> None:
        """Every state but the two ends of a disconnect has a DISCONNECT transition."""
        for state in set(State) - {State.DISCONNECTED, State.DISCONNECTING}:
            self.assertEqual(TRANSITIONS[state][Input.DISCONNECT], State.DISCONNECTING)

    def test_every_state_reaches_disconnected(self) -> None:
        """From every state some path leads to disconnected: no state is a trap."""
        for start in State:
            seen, frontier = {start}, [start]
            while frontier:
                for target in TRANSITIONS[frontier.pop()].values():
                    if target not in seen:
                        seen.add(target)
                        frontier.append(target)
            self.assertIn(State.DISCONNECTED, seen)

    def test_top_level_names(self) -> None:
        """Each state's top level is one of the SPEC's five."""
        self.assertEqual(
            {state.top for state in State},
            {"disconnected", "connecting", "connected", "disconnecting", "reconnecting"},
        )


class MachineTests(SynchronousTestCase):
    def test_happy_path(self) -> None:
        """start, authenticated, socket open and hello lead to ready."""
        recorder = Recorder()
        machine = Lifecycle(recorder.enter, recorder.ignore)
        for input in [Input.START, Input.AUTHENTICATED, Input.SOCKET_OPEN, Input.HELLO]:
            machine.handle(input)
        self.assertEqual(machine.state, State.READY)
        self.assertEqual([new for _old, new, _p in recorder.entered][-1], State.READY)

    def test_unknown_input_is_ignored(self) -> None:
        """An input with no transition changes nothing and is reported."""
        recorder = Recorder()
        machine = Lifecycle(recorder.enter, recorder.ignore)
        machine.handle(Input.HELLO)
        self.assertEqual(machine.state, State.DISCONNECTED)
        self.assertEqual(recorder.ignored, [(State.DISCONNECTED, Input.HELLO)])
        self.assertEqual(recorder.entered, [])

    def test_inputs_during_entry_are_queued(self) -> None:
        """An input handled inside an entry hook runs after that entry completes."""
        order: list[str] = []

        def enter(old: State, new: State, payload: Any) -> None:
            order.append(f"enter {new.value}")
            if new is State.AUTHENTICATING:
                machine.handle(Input.DISCONNECT)
                order.append("entry done")

        machine = Lifecycle(enter, lambda state, input: None)
        machine.handle(Input.START)
        self.assertEqual(
            order, ["enter connecting:authenticating", "entry done", "enter disconnecting"]
        )

    def test_payload_reaches_entry(self) -> None:
        """The payload of an input is handed to the entry hook."""
        recorder = Recorder()
        machine = Lifecycle(recorder.enter, recorder.ignore)
        machine.handle(Input.START)
        machine.handle(Input.FAILED, 3.5)
        self.assertEqual(recorder.entered[-1], (State.AUTHENTICATING, State.RECONNECTING, 3.5))

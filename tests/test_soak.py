# -*- test-case-name: tests.test_soak -*-
"""
A short soak: hundreds of lost connections and sends through one client against the fake
Slack on loopback, after which nothing may be left pending, listening or scheduled.

The long version, with memory figures, is C{benchmarks/soak.py}.
"""

from __future__ import annotations

import gc
from collections import Counter
from typing import Any

from twisted.internet import reactor
from twisted.internet.defer import Deferred, gatherResults, inlineCallbacks
from twisted.internet.task import deferLater
from twisted.python.failure import Failure

from txslackrtm import NoReplyReceivedError
from txslackrtm._websocket import RTMSocket

from .support import ClientTestCase, DeferredLedger

#: How many connections are lost, one way or another, in the test.
CYCLES = 300

#: Messages sent on each connection before it is lost.
SENDS_PER_CYCLE = 2

#: The most replies that may be pending at a cycle's end: the held and the racing message.
MOST_AWAITED = 2


def _unanswered(failure: Failure) -> None:
    """A lost reply is an allowed outcome (C{None}); any other failure fails the test."""
    failure.trap(NoReplyReceivedError)


class SoakTests(ClientTestCase):
    """One client, many connections."""

    timeout = 60

    def send(self, text: str, texts: list[str], sends: list[Deferred[Any]]) -> Deferred[Any]:
        """Send C{text}, and note it and its Deferred."""
        texts.append(text)
        sends.append(self.rtm.send_message(text, "C1"))
        return sends[-1]

    def next(self, event: str) -> Deferred[Any]:
        """Fire the next time the client emits C{event}."""
        waiting: Deferred[Any] = Deferred()
        self.rtm.once(event, lambda *args: waiting.callback(args))
        return waiting

    @inlineCallbacks
    def lose_connection(self, cycle: int) -> Any:
        """Lose the connection in one of five ways, and wait until the client is ready again."""
        ready = self.next("ready")
        connected = self.next("connected")
        way = cycle % 5
        if way == 0:
            self.slack.drop()
        elif way == 1:
            self.slack.goodbye()
        elif way == 2:
            self.slack.push(
                {"type": "error", "error": {"code": 1, "msg": "Socket URL has expired"}}
            )
        elif way == 3:
            self.slack.half_open()
            self.clock.advance(6)  # the ping goes unanswered...
            self.clock.advance(4)  # ...and the connection is dropped
        else:
            yield self.rtm.disconnect()
            self.rtm.start()
        yield connected
        if self.rtm.state == "connected:resuming":
            # No replay is coming for a message Slack never answered: stop waiting for it.
            self.clock.advance(2)
        yield ready

    @inlineCallbacks
    def test_nothing_accumulates(self) -> Any:
        """After hundreds of lost connections no reply, listener, timer or socket is left."""
        rtm = yield self.ready()
        ledger = DeferredLedger(rtm)
        listeners = rtm.listener_count()
        sends: list[Deferred[Any]] = []
        texts: list[str] = []
        for cycle in range(CYCLES):
            # Traffic answered as usual...
            answered = [self.send(f"{cycle}.{n}", texts, sends) for n in range(SENDS_PER_CYCLE)]
            yield gatherResults(answered)
            # ...a message whose reply is held back when the connection goes...
            if cycle % 3 == 0:
                self.slack.hold_replies()
                self.send(f"{cycle}.held", texts, sends)
                yield self.slack.next_message("C1")
            # ...and one still on its way.
            self.send(f"{cycle}.racing", texts, sends)
            yield self.lose_connection(cycle)
            self.slack.release_replies()
            self.assertLessEqual(rtm._session.awaiting, MOST_AWAITED)
            self.assertEqual(rtm.listener_count(), listeners)
            self.assertLessEqual(len(self.clock.getDelayedCalls()), 1)  # the keepalive
        outcomes = yield gatherResults([send.addErrback(_unanswered) for send in sends])
        yield rtm.disconnect()

        self.assertEqual(rtm._session.awaiting, 0)
        self.assertEqual(rtm.listener_count(), listeners)
        self.assertEqual(self.clock.getDelayedCalls(), [])
        self.assertEqual(ledger.unfired(), [])
        for _ in range(1000):
            if self.slack.connections == 0:
                break
            yield deferLater(reactor, 0.001, lambda: None)
        self.assertEqual(self.slack.connections, 0)
        # Off the stack of the reactor turn that closed the last socket, then count sockets.
        yield deferLater(reactor, 0, lambda: None)
        gc.collect()
        sockets = [o for o in gc.get_objects() if isinstance(o, RTMSocket) and o.handler is rtm]
        self.assertEqual(sockets, [])

        posted = Counter(message["text"] for message in self.slack.messages)
        replied = [text for text, outcome in zip(texts, outcomes, strict=True) if outcome]
        self.assertTrue(all(posted[text] == 1 for text in replied))
        self.assertTrue(all(count == 1 for count in posted.values()))
        self.assertGreaterEqual(len(replied), SENDS_PER_CYCLE * CYCLES)
        self.assertEqual(len(self.slack.connect_calls), CYCLES + 1)

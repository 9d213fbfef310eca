# -*- test-case-name: tests.test_client_incoming -*-
"""Incoming frames: dispatch by type and subtype, bad frames, and listeners that misbehave."""

from __future__ import annotations

import json
from collections import OrderedDict
from typing import Any

from autobahn.twisted.websocket import WebSocketClientProtocol
from twisted.internet.defer import Deferred, fail, inlineCallbacks
from twisted.trial.unittest import SkipTest

from txslackrtm._websocket import RTMSocket

from .support import ClientTestCase


class DispatchTests(ClientTestCase):
    @inlineCallbacks
    def test_order_type_and_subtype(self) -> Any:
        """A frame goes to slack_event, then its type, then type::subtype, untouched."""
        rtm = yield self.ready()
        heard: list[tuple[str, Any]] = []
        rtm.on("slack_event", lambda type, event: heard.append(("slack_event", type)))
        rtm.on("message", lambda event: heard.append(("message", event["subtype"])))
        rtm.on("message::bot_message", lambda event: heard.append(("sub", event["extra"])))
        self.slack.say("C1", "hi", subtype="bot_message", extra={"nested": [1]})
        yield self.until("message::bot_message")
        self.assertEqual(
            heard,
            [("slack_event", "message"), ("message", "bot_message"), ("sub", {"nested": [1]})],
        )

    @inlineCallbacks
    def test_unknown_types_pass_through(self) -> Any:
        """Events of types the client does not know reach their listeners unchanged."""
        rtm = yield self.ready()
        event = {"type": "brand_new_thing", "envelope_id": 12345, "weird": {"a": None}}
        self.slack.push(event)
        (received,) = yield self.until("brand_new_thing")
        self.assertEqual(received, event)
        self.assertEqual(rtm.state, "connected:ready")

    @inlineCallbacks
    def test_hello_and_replies_reach_listeners(self) -> Any:
        """hello, pong and bare replies are dispatched too; a reply has type None."""
        rtm = yield self.make()
        seen: list[Any] = []
        rtm.on("slack_event", lambda type, event: seen.append(type))
        yield rtm.start()
        yield self.until("ready")
        yield rtm.send_message("x", "C1")
        self.assertIn("hello", seen)
        self.assertIn(None, seen)

    @inlineCallbacks
    def test_decorator_once_and_off(self) -> Any:
        """on() works as a decorator; once() fires once; off() removes."""
        rtm = yield self.ready()
        calls: list[str] = []

        @rtm.on("user_typing")
        def typing(event: dict[str, Any]) -> None:
            calls.append("on")

        rtm.once("user_typing", lambda event: calls.append("once"))
        for _ in range(2):
            self.slack.push({"type": "user_typing", "channel": "C1", "user": "U1"})
            yield self.until("user_typing")
        rtm.off("user_typing", typing)
        self.slack.push({"type": "user_typing", "channel": "C1", "user": "U1"})
        self.slack.push({"type": "marker"})
        yield self.until("marker")
        self.assertEqual(calls, ["on", "once", "on"])


class DecoderTests(ClientTestCase):
    @inlineCallbacks
    def test_orjson(self) -> Any:
        """json_loads=orjson.loads decodes frames; malformed ones are still dropped."""
        try:
            import orjson
        except ImportError:
            raise SkipTest("orjson (the extra 'fast') is not installed") from None
        rtm = yield self.ready(json_loads=orjson.loads)
        self.slack.send_raw(b'{"type": "bad \xff utf-8"}')
        self.slack.push({"type": "decoded", "nested": {"list": [1, 2.5, None]}})
        (event,) = yield self.until("decoded")
        self.assertEqual(event["nested"], {"list": [1, 2.5, None]})
        self.assertEqual(len([line for line in self.log.at("warn") if "Dropped" in line]), 1)
        self.assertEqual(rtm.state, "connected:ready")

    @inlineCallbacks
    def test_objects_of_a_dict_subclass(self) -> Any:
        """A decoder that gives a dict subclass still has its events and replies handled."""
        rtm = yield self.ready(json_loads=lambda payload: OrderedDict(json.loads(payload)))
        self.slack.push({"type": "decoded", "subtype": "sub"})
        (event,) = yield self.until("decoded::sub")
        self.assertEqual(event, OrderedDict(type="decoded", subtype="sub"))
        reply = yield rtm.send_message("hi", "C1")
        self.assertEqual(reply["text"], "hi")


class BadFrameTests(ClientTestCase):
    @inlineCallbacks
    def test_malformed_frames_are_logged_and_dropped(self) -> Any:
        """Non-JSON, non-object, invalid UTF-8 and binary frames are logged once and dropped."""
        rtm = yield self.ready()
        events: list[Any] = []
        rtm.on("slack_event", lambda type, event: events.append(type))
        self.slack.send_raw("{not json")
        self.slack.send_raw("[1, 2, 3]")
        self.slack.send_raw(b"\x00\x01binary", binary=True)
        self.slack.send_raw("x" * 5000)
        self.slack.send_raw(b'{"type": "bad \xff utf-8"}')
        self.slack.push({"type": "still_here"})
        yield self.until("still_here")
        self.assertEqual(events, ["still_here"])
        warnings = [line for line in self.log.at("warn") if "Dropped" in line]
        self.assertEqual(len(warnings), 5)
        self.assertIn("{not json", warnings[0])
        self.assertLess(len(warnings[3]), 300)
        self.assertEqual(rtm.state, "connected:ready")
        self.assertEqual(len(self.slack.connect_calls), 1)

    @inlineCallbacks
    def test_odd_reply_to(self) -> Any:
        """A reply_to that matches nothing, or is not a number, changes nothing."""
        rtm = yield self.ready()
        for odd in [999, "1", None, 1.5, [1]]:
            self.slack.push({"type": "message", "reply_to": odd, "text": "?"})
        self.slack.push({"type": "marker"})
        yield self.until("marker")
        reply = yield rtm.send_message("after", "C1")
        self.assertEqual(reply["reply_to"], 1)

    @inlineCallbacks
    def test_stray_hello_while_ready(self) -> Any:
        """A hello while ready is dispatched and changes nothing (D11: Node throws)."""
        rtm = yield self.ready()
        self.slack.push({"type": "hello"})
        yield self.until("hello")
        self.assertEqual(rtm.state, "connected:ready")
        reply = yield rtm.send_message("still fine", "C1")
        self.assertEqual(reply["text"], "still fine")

    @inlineCallbacks
    def test_oversized_incoming_message(self) -> Any:
        """A message over max_incoming_bytes drops the connection, which is rebuilt."""
        rtm = yield self.ready(max_incoming_bytes=2048)
        self.slack.push({"type": "big", "blob": "x" * 4096})
        yield self.until("reconnecting")
        yield self.until("ready")
        self.assertEqual(rtm.state, "connected:ready")


class ListenerFailureTests(ClientTestCase):
    @inlineCallbacks
    def test_failing_listeners_are_isolated(self) -> Any:
        """A raising listener, a failing Deferred and a failing coroutine harm nothing else."""
        rtm = yield self.ready()
        calls: list[str] = []

        def raises(event: dict[str, Any]) -> None:
            raise RuntimeError("listener bug")

        def failing_deferred(event: dict[str, Any]) -> Deferred[None]:
            return fail(ValueError("deferred bug"))

        async def failing_coroutine(event: dict[str, Any]) -> None:
            raise KeyError("coroutine bug")

        rtm.on("ping_me", raises)
        rtm.on("ping_me", failing_deferred)
        rtm.on("ping_me", failing_coroutine)
        rtm.on("ping_me", lambda event: calls.append("fine"))
        self.slack.push({"type": "ping_me"})
        yield self.until("ping_me")
        self.assertEqual(calls, ["fine"])
        errors = [line for line in self.log.at("error") if "ping_me" in line]
        self.assertEqual(len(errors), 3)
        for bug in ["listener bug", "deferred bug", "coroutine bug"]:
            self.assertEqual(sum(bug in line for line in errors), 1)
        self.assertEqual(rtm.state, "connected:ready")

    @inlineCallbacks
    def test_listener_removing_listeners(self) -> Any:
        """A listener that removes itself or another during dispatch breaks nothing."""
        rtm = yield self.ready()
        calls: list[str] = []

        def first(event: dict[str, Any]) -> None:
            calls.append("first")
            rtm.off("tick", first)
            rtm.off("tick", second)

        def second(event: dict[str, Any]) -> None:
            calls.append("second")

        rtm.on("tick", first)
        rtm.on("tick", second)
        for _ in range(2):
            self.slack.push({"type": "tick"})
        self.slack.push({"type": "marker"})
        yield self.until("marker")
        self.assertEqual(calls, ["first", "second"])
        self.assertEqual(rtm.listener_count("tick"), 0)

    @inlineCallbacks
    def test_listener_adding_listeners(self) -> Any:
        """A listener added during dispatch hears the next event, not the current one."""
        rtm = yield self.ready()
        calls: list[str] = []

        def first(event: dict[str, Any]) -> None:
            calls.append("first")
            if calls == ["first"]:
                rtm.on("tick", lambda event: calls.append("added"))

        rtm.on("tick", first)
        for _ in range(2):
            self.slack.push({"type": "tick"})
        self.slack.push({"type": "marker"})
        yield self.until("marker")
        self.assertEqual(calls, ["first", "first", "added"])


def _autobahn_reads_everything(socket: RTMSocket, data: bytes) -> None:
    WebSocketClientProtocol.dataReceived(socket, data)


class QuietTestsMixin:
    """With debug lines off, plain events take the client's quick loop, not the general path."""

    log_level = "info"


class AutobahnTestsMixin(ClientTestCase):
    """
    Every frame read by Autobahn's parser, as fragmented messages are, rather than by
    txslackrtm's frame splitter: the client handles them the same.
    """

    def setUp(self) -> None:
        super().setUp()
        self.patch(RTMSocket, "_read", _autobahn_reads_everything)


class QuietDispatchTests(QuietTestsMixin, DispatchTests):
    pass


class QuietDecoderTests(QuietTestsMixin, DecoderTests):
    pass


class QuietBadFrameTests(QuietTestsMixin, BadFrameTests):
    pass


class AutobahnDispatchTests(AutobahnTestsMixin, DispatchTests):
    pass


class AutobahnDecoderTests(AutobahnTestsMixin, DecoderTests):
    pass


class AutobahnBadFrameTests(AutobahnTestsMixin, BadFrameTests):
    pass

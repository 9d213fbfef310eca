# -*- test-case-name: tests.test_session -*-
"""Tests for the sans-IO RTM protocol core, with no reactor and no socket."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

try:
    import orjson
except ImportError:
    orjson = None

from txslackrtm import ErrorCode, MessageTooLongError
from txslackrtm._session import (
    MAX_FRAME_BYTES,
    Due,
    Incoming,
    Malformed,
    Session,
    encode_event,
    stdlib_decode,
)


def make_session(decode: Callable[[bytes], Any] = stdlib_decode) -> Session[str]:
    return Session(
        ping_interval=6.0, pong_timeout=4.0, resume_timeout=2.0, open_timeout=30.0, decode=decode
    )


def frame(**fields: object) -> bytes:
    return json.dumps(fields).encode()


def send(session: Session[str], type: str, now: float = 0.0, **body: object) -> int:
    message_id, _text = session.stamp(session.prepare(type, body), now)
    return message_id


class OutgoingTests(SynchronousTestCase):
    def test_ids_start_at_one_and_grow(self) -> None:
        """The first frame gets id 1, and every frame, pings included, the next id."""
        session = make_session()
        ids = [send(session, "ping"), send(session, "typing", channel="C1"), send(session, "ping")]
        self.assertEqual(ids, [1, 2, 3])

    def test_ids_survive_reconnects(self) -> None:
        """Ids are never reset when a connection is lost."""
        session = make_session()
        send(session, "ping")
        session.connection_lost()
        self.assertEqual(send(session, "ping"), 2)

    def test_stamped_frame_is_the_body_with_type_and_id(self) -> None:
        """The written frame is the body plus its type and id, as JSON."""
        session = make_session()
        _id, text = session.stamp(session.prepare("message", {"text": "hé", "id": 99}), 0.0)
        self.assertEqual(json.loads(text), {"text": "hé", "type": "message", "id": 1})

    def test_text_over_4000_characters_is_refused(self) -> None:
        """A text of more than 4,000 characters raises MessageTooLongError."""
        session = make_session()
        error = self.assertRaises(
            MessageTooLongError, session.prepare, "message", {"text": "x" * 4001}
        )
        self.assertEqual(error.code, ErrorCode.MessageTooLongError)
        session.prepare("message", {"text": "x" * 4000})

    def test_frame_over_16k_is_refused(self) -> None:
        """A frame whose JSON would pass 16 kB raises MessageTooLongError, whatever its type."""
        session = make_session()
        self.assertRaises(
            MessageTooLongError, session.prepare, "presence_sub", {"ids": ["U" * 10] * 1500}
        )
        prepared = session.prepare("presence_sub", {"ids": ["U" * 10] * 1000})
        self.assertLess(len(session.stamp(prepared, 0)[1].encode()), MAX_FRAME_BYTES)

    def test_unencodable_body_is_a_type_error(self) -> None:
        """A body that is not JSON raises TypeError before any id is spent."""
        session = make_session()
        self.assertRaises(TypeError, session.prepare, "message", {"text": object()})
        self.assertEqual(session.last_id, 0)


class IncomingTestsMixin:
    """Incoming frames, run once per JSON decoder: the standard library's and orjson's."""

    decode: Callable[[bytes], Any]

    def make(self) -> Session[str]:
        return make_session(self.decode)

    def test_event_is_passed_through(self: Any) -> None:
        """An event that answers nothing comes back itself, untouched, to dispatch."""
        event = {"type": "message", "text": "hi", "x": [1], "reply": 1, "subtype": "hello"}
        self.assertEqual(self.make().receive(json.dumps(event).encode(), False), event)

    def test_frames_about_the_connection(self: Any) -> None:
        """hello, goodbye, migrations, errors and replies come as Incoming, with their type."""
        session = self.make()
        for type_ in ["hello", "goodbye", "team_migration_started", "error", None, 7, ["x"]]:
            result = session.receive(frame(type=type_, x=[1]), False)
            assert isinstance(result, Incoming)
            expected = type_ if isinstance(type_, str) else None
            self.assertEqual((result.type, result.frame["x"]), (expected, [1]))
        reply = session.receive(frame(type="message", reply_to=99), False)
        assert isinstance(reply, Incoming)
        self.assertEqual(reply.type, "message")

    def test_malformed_frames(self: Any) -> None:
        """Binary frames, non-JSON, non-objects and invalid UTF-8 are Malformed."""
        session = self.make()
        for payload, binary in [
            (b'{"type":"hello"}', True),
            (b"{not json", False),
            (b"[1, 2]", False),
            (b'"text"', False),
            (b"\xff\xfe", False),
            (b"[" * 100000 + b"]" * 100000, False),
        ]:
            self.assertIsInstance(session.receive(payload, binary), Malformed)

    def test_preview_is_bounded(self: Any) -> None:
        """A malformed frame is quoted by its first 200 characters only."""
        result = self.make().receive(b"x" * 10000, False)
        assert isinstance(result, Malformed)
        self.assertEqual(len(result.preview), 200)

    def test_reply_settles_its_waiter_once(self: Any) -> None:
        """A reply returns the waiter of its message, and only the first time."""
        session = self.make()
        message_id = send(session, "message", text="a", channel="C1")
        session.expect_reply(message_id, "waiter")
        reply = session.receive(frame(ok=True, reply_to=message_id, ts="1.0"), False)
        assert isinstance(reply, Incoming)
        self.assertEqual((reply.waiter, reply.type), ("waiter", None))
        again = session.receive(frame(ok=True, reply_to=message_id), False)
        assert isinstance(again, Incoming)
        self.assertIsNone(again.waiter)
        self.assertEqual(session.awaiting, 0)

    def test_odd_reply_to_matches_nothing(self: Any) -> None:
        """A reply_to that is not an int of ours is passed on without effect."""
        session = self.make()
        session.expect_reply(send(session, "message", text="a", channel="C1"), "w")
        for odd in ["1", 1.0, True, None, 99, -1, [1]]:
            result = session.receive(frame(reply_to=odd), False)
            assert isinstance(result, Incoming)
            self.assertIsNone(result.waiter)
        self.assertEqual(session.awaiting, 1)

    def test_reconnect_frames(self: Any) -> None:
        """goodbye, team_migration_started and error code 1 ask for a new connection."""
        session = self.make()
        for payload in [
            frame(type="goodbye"),
            frame(type="team_migration_started"),
            frame(type="error", error={"code": 1, "msg": "Socket URL has expired"}),
        ]:
            result = session.receive(payload, False)
            assert isinstance(result, Incoming)
            self.assertIsNotNone(result.reconnect)
        other = session.receive(frame(type="error", error={"code": 17}), False)
        assert isinstance(other, Incoming)
        self.assertIsNone(other.reconnect)


def _json_outcome(decode: Callable[[bytes], Any], payload: bytes) -> tuple[str, Any]:
    try:
        return "value", decode(payload)
    except ValueError as error:
        return "error", type(error)


_json_scalars = st.none() | st.booleans() | st.integers() | st.text()
_json_values = st.recursive(
    _json_scalars | st.floats(allow_nan=False, allow_infinity=False),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=8,
)


class StdlibDecodeTests(SynchronousTestCase):
    """The standard library decoder's quick path and its fallback agree with C{json.loads}."""

    def test_same_as_json_loads(self) -> None:
        """Values, whitespace, extra data, non-JSON and invalid UTF-8 decode as json does."""
        for payload in [
            b'{"type":"hello"}',
            b' {"type":"hello"}',
            b'{"type":"hello"} \r\n',
            b'{"a":1}{"b":2}',
            b'{"a":1} x',
            b"",
            b"   ",
            b"NaN",
            b"[1, 2",
            b'"\xff"',
            b'"\xed\xa0\x80"',  # a UTF-8-encoded surrogate: not UTF-8
        ]:
            with self.subTest(payload=payload):
                expected = _json_outcome(lambda p: json.loads(p.decode("utf-8")), payload)
                self.assertEqual(_json_outcome(stdlib_decode, payload), expected)

    @given(value=_json_values, before=st.sampled_from(["", " ", "\n"]), after=st.text(max_size=3))
    def test_any_text(self, value: object, before: str, after: str) -> None:
        """Any JSON value with anything around it decodes as json decodes it."""
        payload = (before + json.dumps(value) + after).encode()
        expected = _json_outcome(lambda p: json.loads(p.decode("utf-8")), payload)
        self.assertEqual(_json_outcome(stdlib_decode, payload), expected)


class EncodeEventTests(SynchronousTestCase):
    """Outgoing events, flat or not, are written exactly as C{json.dumps} writes them."""

    @staticmethod
    def dumps(event: dict[Any, Any]) -> str:
        return json.dumps(event, ensure_ascii=False, separators=(",", ":"), allow_nan=False)

    @given(st.dictionaries(st.text(), st.text(), max_size=5))
    def test_flat_events(self, event: dict[str, str]) -> None:
        """Strings only, with quotes, backslashes, control and non-ASCII characters."""
        self.assertEqual(encode_event(event), self.dumps(event))

    @given(st.dictionaries(st.text() | st.integers(), _json_values, max_size=4))
    def test_any_events(self, event: dict[Any, Any]) -> None:
        """Numbers, lists, objects and non-string keys."""
        self.assertEqual(encode_event(event), self.dumps(event))

    def test_not_json(self) -> None:
        """What the encoder refuses is refused as it refuses it."""
        for event in [{"a": b"bytes"}, {"a": float("nan")}, {"a": "ok", "b": {1, 2}}]:
            with self.subTest(event=event):
                with self.assertRaises((TypeError, ValueError)) as expected:
                    self.dumps(event)
                with self.assertRaises(type(expected.exception)):
                    encode_event(event)


class StdlibIncomingTests(IncomingTestsMixin, SynchronousTestCase):
    decode = staticmethod(stdlib_decode)


class OrjsonIncomingTests(IncomingTestsMixin, SynchronousTestCase):
    decode = staticmethod(orjson.loads if orjson else stdlib_decode)
    skip = None if orjson else "orjson (the extra 'fast') is not installed"


class KeepaliveTests(SynchronousTestCase):
    def ready_session(self) -> Session[str]:
        session = make_session()
        session.opening(0.0)
        session.hello(0.0)
        session.ready(0.0)
        return session

    def test_ping_after_outgoing_silence(self) -> None:
        """A ping is due client_ping_timeout after the last outgoing frame."""
        session = self.ready_session()
        self.assertEqual(session.next_deadline(), 6.0)
        send(session, "typing", now=5.0, channel="C1")
        self.assertEqual(session.tick(6.0), Due.NOTHING)
        self.assertEqual(session.next_deadline(), 11.0)
        self.assertEqual(session.tick(11.0), Due.PING)

    def test_pong_settles_ping(self) -> None:
        """A frame with reply_to at least the ping's id settles it."""
        session = self.ready_session()
        ping = send(session, "ping", now=6.0)
        session.note_ping(ping, 6.0)
        self.assertEqual(session.next_deadline(), 10.0)
        session.receive(frame(type="pong", reply_to=ping), False)
        self.assertEqual(session.tick(10.0), Due.NOTHING)
        self.assertEqual(session.next_deadline(), 12.0)

    def test_missing_pong_is_overdue(self) -> None:
        """Other incoming events do not count as a pong; the deadline passes."""
        session = self.ready_session()
        ping = send(session, "ping", now=6.0)
        session.note_ping(ping, 6.0)
        session.receive(frame(type="user_typing"), False)
        self.assertEqual(session.tick(9.9), Due.NOTHING)
        self.assertEqual(session.tick(10.0), Due.PONG_OVERDUE)

    def test_no_keepalive_before_ready(self) -> None:
        """Before ready only the hello deadline is timed."""
        session = make_session()
        self.assertIsNone(session.next_deadline())
        session.opening(1.0)
        self.assertEqual(session.next_deadline(), 31.0)
        self.assertEqual(session.tick(31.0), Due.OPEN_TIMEOUT)
        self.assertIsNone(session.next_deadline())


class ResumeTests(SynchronousTestCase):
    def test_no_resume_without_pending_reply(self) -> None:
        """A hello with nothing awaiting a reply needs no resume."""
        session = make_session()
        self.assertFalse(session.hello(0.0))

    def test_replayed_reply_resolves_and_resumes(self) -> None:
        """The last message's reply replayed after hello settles it and ends resuming."""
        session = make_session()
        first = send(session, "message", text="a", channel="C1")
        session.expect_reply(first, "first")
        last = send(session, "message", text="b", channel="C1")
        session.expect_reply(last, "last")
        self.assertEqual(session.connection_lost(), ["first"])
        self.assertTrue(session.hello(10.0))
        self.assertEqual(session.next_deadline(), 12.0)
        replay = session.receive(frame(type="message", reply_to=last, ts="1.2"), False)
        assert isinstance(replay, Incoming)
        self.assertEqual((replay.waiter, replay.resumed), ("last", True))
        self.assertEqual(session.ready(10.5), [])

    def test_resume_times_out(self) -> None:
        """Without the replay, resuming ends after resume_timeout and the waiter is stale."""
        session = make_session()
        message_id = send(session, "message", text="a", channel="C1")
        session.expect_reply(message_id, "w")
        session.connection_lost()
        session.hello(0.0)
        self.assertEqual(session.tick(1.9), Due.NOTHING)
        self.assertEqual(session.tick(2.0), Due.RESUME_OVER)
        self.assertEqual(session.ready(2.0), ["w"])

    def test_drain_returns_everything(self) -> None:
        """drain() hands back every waiter still pending."""
        session = make_session()
        for name in "ab":
            session.expect_reply(send(session, "message", text=name, channel="C1"), name)
        self.assertEqual(sorted(session.drain()), ["a", "b"])
        self.assertEqual(session.awaiting, 0)

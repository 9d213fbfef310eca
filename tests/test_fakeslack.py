"""
Tests for L{txslackrtm._fakeslack}: the fake Slack's behaviour, driven in memory with no
sockets and no clock.
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from txslackrtm._fakeslack import (
    Abort,
    Action,
    Close,
    ConnectRequest,
    FakeSlackCore,
    FrameLogged,
    HTTPResponse,
    MessageAccepted,
    Opened,
    Send,
    SendRaw,
    Silence,
    Stalled,
)

BASE = "ws://fake/websocket/"


def connect(core: FakeSlackCore, now: float = 0.0, token: str | None = None, **form: str) -> Any:
    """Call C{rtm.connect} with a bearer token; return the response (or L{Stalled})."""
    request = ConnectRequest("rtm.connect", "POST", f"Bearer {token or core.token}", form)
    return core.web_api_call(request, now, BASE)


def ticket(core: FakeSlackCore, now: float = 0.0, **form: str) -> str:
    """A fresh ticket from a successful C{rtm.connect}."""
    response = connect(core, now, **form)
    assert isinstance(response, HTTPResponse) and response.body["ok"], response
    return str(response.body["url"])[len(BASE) :]


def opened(core: FakeSlackCore, now: float = 0.0, **form: str) -> int:
    """Open a greeted connection; return its number."""
    number, actions = core.connection_opened(ticket(core, now, **form), now)
    assert Opened(number) in actions
    return number


def send(core: FakeSlackCore, number: int, frame: object, now: float = 0.0) -> list[Action]:
    """Have connection C{number} send C{frame} as JSON text."""
    return core.frame_received(number, json.dumps(frame).encode(), False, now)


def frames(actions: list[Action], number: int | None = None) -> list[dict[str, Any]]:
    """The JSON frames the actions send (to connection C{number} if given)."""
    return [a.frame for a in actions if isinstance(a, Send) and number in (None, a.connection)]


def message(id: int = 1, channel: str = "C1", text: str = "hi", **extra: Any) -> dict[str, Any]:
    return {"id": id, "type": "message", "channel": channel, "text": text, **extra}


class WebAPITests(SynchronousTestCase):
    """C{rtm.connect} and C{rtm.start}."""

    def test_success(self) -> None:
        """A valid token gets a URL with a ticket, the team and the bot."""
        core = FakeSlackCore()
        response = connect(core)
        self.assertEqual(response.status, 200)
        self.assertTrue(response.body.pop("url").startswith(BASE))
        self.assertEqual(
            response.body,
            {
                "ok": True,
                "team": {"id": "T0TEAM", "name": "Fake Team", "domain": "fake"},
                "self": {"id": "U0BOT", "name": "bot"},
            },
        )

    def test_rtm_start_answers_like_connect(self) -> None:
        """C{rtm.start} gets the same answer shape and is recorded under its name."""
        core = FakeSlackCore()
        request = ConnectRequest("rtm.start", "GET", None, {}, {"token": core.token})
        self.assertTrue(core.web_api_call(request, 0, BASE).body["ok"])
        self.assertEqual(core.connect_calls[0].method, "rtm.start")

    def test_token_sources(self) -> None:
        """The token may come from the bearer header, the form or the query."""
        core = FakeSlackCore(tokens=["a", "b"])
        for request in [
            ConnectRequest("rtm.connect", "POST", "bearer b"),
            ConnectRequest("rtm.connect", "POST", None, {"token": "a"}),
            ConnectRequest("rtm.connect", "GET", None, {}, {"token": "b"}),
        ]:
            self.assertTrue(core.web_api_call(request, 0, BASE).body["ok"], request)

    def test_query_token_can_be_refused(self) -> None:
        """With C{allow_query_token=False}, a query token counts as no token."""
        core = FakeSlackCore(allow_query_token=False)
        request = ConnectRequest("rtm.connect", "GET", None, {}, {"token": core.token})
        self.assertEqual(core.web_api_call(request, 0, BASE).body["error"], "not_authed")

    def test_bad_tokens(self) -> None:
        """No token is C{not_authed}, an unknown one C{invalid_auth}; both are recorded."""
        core = FakeSlackCore()
        core.web_api_call(ConnectRequest("rtm.connect", "POST"), 0, BASE)
        connect(core, token="xoxb-nope")
        self.assertEqual(
            [(c.status, c.error) for c in core.connect_calls],
            [(200, "not_authed"), (200, "invalid_auth")],
        )

    def test_args_recorded_without_token(self) -> None:
        """The form and query arguments are recorded, the token left out."""
        core = FakeSlackCore()
        request = ConnectRequest(
            "rtm.connect", "POST", None, {"token": core.token, "a": "1"}, {"b": "2"}
        )
        core.web_api_call(request, 0, BASE)
        self.assertEqual(core.connect_calls[0].args, {"a": "1", "b": "2"})
        self.assertEqual(core.connect_calls[0].verb, "POST")

    def test_unknown_method(self) -> None:
        """Other methods answer C{unknown_method} and are not recorded."""
        core = FakeSlackCore()
        response = core.web_api_call(ConnectRequest("chat.postMessage", "POST"), 0, BASE)
        self.assertEqual(response.body, {"ok": False, "error": "unknown_method"})
        self.assertEqual(core.connect_calls, [])

    def test_scripted_faults_apply_in_order(self) -> None:
        """Scripted faults answer the next calls in the order they were scripted."""
        core = FakeSlackCore()
        core.rate_limit(retry_after=5, count=1)
        core.fail_connect("internal_error", count=2, status=500)
        core.team_migration(failing_connects=1)
        answers = [connect(core) for _ in range(5)]
        self.assertEqual(
            [(a.status, a.body.get("error")) for a in answers],
            [
                (429, "ratelimited"),
                (500, "internal_error"),
                (500, "internal_error"),
                (200, "migration_in_progress"),
                (200, None),
            ],
        )
        self.assertEqual(answers[0].headers, {"Retry-After": "5"})
        self.assertEqual(core.connect_calls[0].error, "ratelimited")

    def test_stall_then_release(self) -> None:
        """A stalled call is recorded without a status until released, then succeeds."""
        core = FakeSlackCore()
        number = core.stall_connect()
        core.fail_connect("fatal_error", 1, 200)
        stalled = connect(core)
        self.assertIsInstance(stalled, Stalled)
        self.assertEqual((stalled.stall, core.connect_calls[0].status), (number, None))
        response = core.release(stalled, 1.0, BASE)
        self.assertTrue(response.body["ok"])
        self.assertEqual(core.connect_calls[0].status, 200)
        self.assertEqual(connect(core).body["error"], "fatal_error")

    def test_fault_arguments_are_checked(self) -> None:
        """Bad fault arguments raise, naming the argument, and script nothing."""
        core = FakeSlackCore()
        self.assertRaisesRegex(ValueError, "count", core.rate_limit, 3, 0)
        self.assertRaisesRegex(TypeError, "retry_after", core.rate_limit, 1.5, 1)
        self.assertRaisesRegex(ValueError, "retry_after", core.rate_limit, -1, 1)
        self.assertRaisesRegex(TypeError, "count", core.fail_connect, "x", True, 200)
        self.assertRaisesRegex(ValueError, "error", core.fail_connect, "", 1, 200)
        self.assertRaisesRegex(ValueError, "status", core.fail_connect, "x", 1, 600)
        self.assertRaisesRegex(ValueError, "status", core.refuse_handshake, 1, 200)
        self.assertRaisesRegex(ValueError, "failing_connects", core.team_migration, -1)
        self.assertTrue(connect(core).body["ok"])
        self.assertIsNone(core.upgrade_requested())


class TicketTests(SynchronousTestCase):
    """Single-use WebSocket URLs with a time to live."""

    def test_hello_first(self) -> None:
        """A valid ticket is greeted with C{hello}, then reported as opened."""
        core = FakeSlackCore()
        number, actions = core.connection_opened(ticket(core), 0)
        self.assertEqual(actions, [Send(number, {"type": "hello"}), Opened(number)])
        self.assertEqual(core.open_connections, 1)
        core.connection_closed(number)
        self.assertEqual(core.open_connections, 0)

    def test_single_use(self) -> None:
        """A ticket used once is refused the second time with Slack's code 1 error."""
        core = FakeSlackCore()
        used = ticket(core)
        core.connection_opened(used, 0)
        number, actions = core.connection_opened(used, 0)
        self.assertEqual(
            actions,
            [
                Send(
                    number,
                    {"type": "error", "error": {"code": 1, "msg": "Socket URL has expired"}},
                ),
                Close(number, 1000, "ticket expired"),
            ],
        )
        self.assertEqual(core.open_connections, 1)

    def test_time_to_live(self) -> None:
        """A ticket works until its time to live has passed since the connect call."""
        core = FakeSlackCore(ticket_ttl=10)
        early, late = ticket(core, now=100), ticket(core, now=100)
        self.assertIn(Opened(3), core.connection_opened(early, 109.9)[1])
        self.assertNotIn(Opened(4), core.connection_opened(late, 110)[1])

    def test_expire_tickets(self) -> None:
        """Expiring makes every ticket handed out so far unusable, not later ones."""
        core = FakeSlackCore()
        old = ticket(core)
        core.expire_tickets()
        self.assertEqual(core.connection_opened(old, 0)[1][0].frame["type"], "error")
        self.assertEqual(core.connection_opened(ticket(core), 0)[1][0].frame["type"], "hello")

    def test_unknown_ticket_frames_are_ignored(self) -> None:
        """On a connection that was refused, frames are logged but not answered."""
        core = FakeSlackCore()
        number, _ = core.connection_opened("forged", 0)
        actions = send(core, number, {"id": 1, "type": "ping"})
        self.assertEqual(actions, [FrameLogged({"id": 1, "type": "ping"})])


class MessageTests(SynchronousTestCase):
    """C{message} frames: validation, replies, echoes and the log."""

    def test_reply_then_echo(self) -> None:
        """An accepted message is replied to, echoed to every connection, then reported."""
        core = FakeSlackCore()
        sender, other = opened(core), opened(core)
        actions = send(core, sender, message(thread_ts="1.000001"), now=1700000000.5)
        ts = "1700000000.000001"
        echo = {
            "type": "message",
            "channel": "C1",
            "user": "U0BOT",
            "text": "hi",
            "ts": ts,
            "team": "T0TEAM",
            "thread_ts": "1.000001",
        }
        logged = {**message(thread_ts="1.000001"), "ts": ts}
        self.assertEqual(
            actions,
            [
                Send(sender, {"ok": True, "reply_to": 1, "ts": ts, "text": "hi"}),
                Send(sender, echo),
                Send(other, echo),
                MessageAccepted(logged),
                FrameLogged(message(thread_ts="1.000001")),
            ],
        )
        self.assertEqual(core.messages, [logged])

    def test_echo_before_reply(self) -> None:
        """With C{echo_before_reply}, the echo comes first."""
        core = FakeSlackCore(echo_before_reply=True)
        sender = opened(core)
        sent = frames(send(core, sender, message()))
        self.assertEqual([f.get("type") for f in sent], ["message", None])

    def test_without_id(self) -> None:
        """A message without an id is posted and echoed but not replied to."""
        core = FakeSlackCore()
        sender = opened(core)
        frame = message()
        del frame["id"]
        self.assertEqual([f.get("type") for f in frames(send(core, sender, frame))], ["message"])
        self.assertEqual(len(core.messages), 1)

    def test_invalid_channel(self) -> None:
        """An unknown channel, or one without the bot, is Slack's error code 0."""
        core = FakeSlackCore(channels={"C1": ["U0BOT"], "C2": ["U1"]})
        sender = opened(core)
        for channel in ["C404", "C2", 7]:
            self.assertEqual(
                frames(send(core, sender, message(channel=channel))),
                [{"ok": False, "reply_to": 1, "error": {"code": 0, "msg": "invalid channel id"}}],
            )
        self.assertEqual(core.messages, [])

    def test_missing_text(self) -> None:
        """Empty, missing or non-string text is Slack's error code 2."""
        core = FakeSlackCore()
        sender = opened(core)
        for frame in [message(text=""), {"id": 1, "type": "message", "channel": "C1"}]:
            [reply] = frames(send(core, sender, frame))
            self.assertEqual(reply["error"], {"code": 2, "msg": "message text is missing"})

    def test_ts_per_channel(self) -> None:
        """Each channel numbers its messages within a second; a new second starts over."""
        core = FakeSlackCore()
        sender = opened(core)
        stamps = [
            frames(send(core, sender, message(channel=c), now=now))[0]["ts"]
            for c, now in [("C1", 5.1), ("C1", 5.9), ("D1", 5.9), ("C1", 6.0), ("C1", 4.0)]
        ]
        self.assertEqual(stamps, ["5.000001", "5.000002", "5.000001", "6.000001", "6.000002"])

    def test_ts_rolls_over(self) -> None:
        """After a million messages in one second, numbering moves on to the next second."""
        core = FakeSlackCore()
        core._last_ts["C1"] = (9, 999_999)  # as if a million messages were sent at 9
        event, _ = core.say("C1", "x", "U1", {}, 9.5)
        self.assertEqual(event["ts"], "10.000001")

    @given(st.lists(st.floats(min_value=0, max_value=2e9), min_size=1, max_size=50))
    def test_ts_always_increase(self, times: list[float]) -> None:
        """Whatever the clock does, a channel's C{ts} are unique and increasing."""
        core = FakeSlackCore()
        stamps = [core.say("C1", "x", "U1", {}, now)[0]["ts"] for now in times]
        keys = [tuple(int(part) for part in ts.split(".")) for ts in stamps]
        self.assertEqual(keys, sorted(set(keys)))
        self.assertTrue(all(len(ts.split(".")[1]) == 6 for ts in stamps))


class FrameTests(SynchronousTestCase):
    """Other client frames, and frames that break the rules."""

    def test_ping(self) -> None:
        """A ping gets a pong echoing its id and scalar extras only."""
        core = FakeSlackCore()
        number = opened(core)
        ping = {"id": 4, "type": "ping", "time": 1.5, "s": "x", "n": None, "list": [1], "d": {}}
        self.assertEqual(
            frames(send(core, number, ping)),
            [{"type": "pong", "reply_to": 4, "time": 1.5, "s": "x", "n": None}],
        )
        self.assertEqual(frames(send(core, number, {"type": "ping"})), [{"type": "pong"}])

    def test_typing(self) -> None:
        """Typing is shown to the other connections; a bad channel gets an error reply."""
        core = FakeSlackCore()
        typist, other = opened(core), opened(core)
        self.assertEqual(
            send(core, typist, {"id": 1, "type": "typing", "channel": "C1"})[:-1],
            [Send(other, {"type": "user_typing", "channel": "C1", "user": "U0BOT"})],
        )
        [error] = frames(send(core, typist, {"id": 2, "type": "typing", "channel": "C9"}))
        self.assertEqual(error["error"]["code"], 0)

    def test_presence_sub(self) -> None:
        """A subscription reports newly added known users, and replaces the previous one."""
        core = FakeSlackCore()
        number = opened(core)
        first = frames(send(core, number, {"type": "presence_sub", "ids": ["U1", "U404"]}))
        again = frames(send(core, number, {"type": "presence_sub", "ids": ["U1", "U2"]}))
        self.assertEqual(first, [{"type": "presence_change", "user": "U1", "presence": "active"}])
        self.assertEqual(again, [{"type": "presence_change", "user": "U2", "presence": "active"}])
        send(core, number, {"type": "presence_sub", "ids": []})
        self.assertEqual(core.set_presence("U1", "away"), [])

    def test_batch_presence(self) -> None:
        """A connection made with C{batch_presence_aware} gets users grouped by presence."""
        core = FakeSlackCore(users=["U1", "U2", "U3"])
        core.set_presence("U2", "away")
        number = opened(core, batch_presence_aware="1")
        query = {"type": "presence_query", "ids": ["U1", "U2", "U3", "U1"]}
        self.assertEqual(
            frames(send(core, number, query)),
            [
                {"type": "presence_change", "users": ["U1", "U3"], "presence": "active"},
                {"type": "presence_change", "users": ["U2"], "presence": "away"},
            ],
        )

    def test_set_presence(self) -> None:
        """A presence change reaches subscribed connections only; bad values raise."""
        core = FakeSlackCore()
        watcher, other = opened(core), opened(core)
        send(core, watcher, {"type": "presence_sub", "ids": ["U2"]})
        self.assertEqual(
            core.set_presence("U2", "away"),
            [Send(watcher, {"type": "presence_change", "user": "U2", "presence": "away"})],
        )
        self.assertNotIn(other, [a.connection for a in core.set_presence("U2", "active")])
        self.assertRaisesRegex(ValueError, "U404", core.set_presence, "U404", "away")
        self.assertRaisesRegex(ValueError, "presence", core.set_presence, "U1", "busy")

    def test_unknown_types_are_logged_only(self) -> None:
        """Unknown or odd types get no answer, and are still in C{received}."""
        core = FakeSlackCore()
        number = opened(core)
        for frame in [{"type": "tickle"}, {"type": ["odd"]}, {"no": "type"}]:
            self.assertEqual(send(core, number, frame), [FrameLogged(frame)])
        self.assertEqual(len(core.received), 3)

    def test_oversized_frame(self) -> None:
        """A frame over 16 kB closes the connection with 1009 and is a violation."""
        core = FakeSlackCore()
        number = opened(core)
        self.assertEqual(core.frame_received(number, b" " * 16384, False, 0), [])
        actions = core.frame_received(number, b" " * 16385, False, 0)
        self.assertEqual(actions, [Close(number, 1009, "frame too big")])
        self.assertEqual([v.kind for v in core.violations], ["not_json_object", "oversized_frame"])
        self.assertIn("16385 bytes", core.violations[1].detail)

    def test_malformed_frames(self) -> None:
        """Binary frames, invalid UTF-8 and JSON that is not an object are violations."""
        core = FakeSlackCore()
        number = opened(core)
        for payload, binary in [(b"{}", True), (b"\xff", False), (b"[]", False), (b"{", False)]:
            self.assertEqual(core.frame_received(number, payload, binary, 0), [])
        self.assertEqual(
            [v.kind for v in core.violations],
            ["binary_frame", "not_json_object", "not_json_object", "not_json_object"],
        )
        self.assertEqual(core.received, [])

    def test_closed_connection(self) -> None:
        """Frames for a connection that is gone are ignored."""
        core = FakeSlackCore()
        number = opened(core)
        core.connection_closed(number)
        self.assertEqual(send(core, number, {"type": "ping"}), [])


class ActingTests(SynchronousTestCase):
    """The test acting as Slack and its users."""

    def test_say(self) -> None:
        """A user's message goes to every connection when the bot is a member."""
        core = FakeSlackCore()
        first, second = opened(core), opened(core)
        event, actions = core.say("C1", "hello", "U2", {"subtype": "me_message"}, 3.0)
        self.assertEqual(
            event,
            {
                "type": "message",
                "channel": "C1",
                "user": "U2",
                "text": "hello",
                "ts": "3.000001",
                "team": "T0TEAM",
                "subtype": "me_message",
            },
        )
        self.assertEqual(actions, [Send(first, event), Send(second, event)])

    def test_say_where_the_bot_is_not(self) -> None:
        """A message in a channel without the bot reaches no connection."""
        core = FakeSlackCore(channels={"C1": ["U0BOT"], "C2": ["U1", "U2"]})
        opened(core)
        self.assertEqual(core.say("C2", "psst", "U1", {}, 0)[1], [])

    def test_say_checks_arguments(self) -> None:
        """Unknown channels and users, non-text and non-JSON extras raise, naming them."""
        core = FakeSlackCore()
        self.assertRaisesRegex(ValueError, "C404", core.say, "C404", "x", "U1", {}, 0)
        self.assertRaisesRegex(ValueError, "U404", core.say, "C1", "x", "U404", {}, 0)
        self.assertRaisesRegex(TypeError, "text", core.say, "C1", b"x", "U1", {}, 0)
        self.assertRaisesRegex(TypeError, "extra", core.say, "C1", "x", "U1", {"o": object()}, 0)

    def test_push(self) -> None:
        """Pushed events go to every connection; they must be JSON objects."""
        core = FakeSlackCore()
        number = opened(core)
        self.assertEqual(core.push({"type": "x"}, 0), [Send(number, {"type": "x"})])
        self.assertRaisesRegex(TypeError, "event", core.push, ["x"], 0)
        self.assertRaisesRegex(TypeError, "event", core.push, {"x": {1, 2}}, 0)

    def test_events_wait_for_connections_to_open(self) -> None:
        """Events broadcast after a connect call reach its socket right after C{hello}."""
        core = FakeSlackCore(ticket_ttl=10)
        waiting, late = ticket(core, now=0), ticket(core, now=0)
        event, _ = core.say("C1", "early", "U1", {}, 5)
        core.push({"type": "x"}, 10)  # too late for both tickets
        number, actions = core.connection_opened(waiting, 9)
        self.assertEqual(
            actions, [Send(number, {"type": "hello"}), Send(number, event), Opened(number)]
        )
        core.connection_closed(number)
        self.assertNotIn(event, frames(core.connection_opened(ticket(core), 11)[1]))
        self.assertNotIn(Opened, [type(a) for a in core.connection_opened(late, 11)[1]])

    def test_send_raw(self) -> None:
        """Raw data is sent unchanged, text encoded as UTF-8."""
        core = FakeSlackCore()
        number = opened(core)
        self.assertEqual(core.send_raw("é", False), [SendRaw(number, "é".encode(), False)])
        self.assertEqual(core.send_raw(b"\x00", True), [SendRaw(number, b"\x00", True)])
        self.assertRaisesRegex(TypeError, "data", core.send_raw, 7, False)


class FaultTests(SynchronousTestCase):
    """The scripted faults."""

    def test_drop(self) -> None:
        """Dropping aborts every connection, refused ones included."""
        core = FakeSlackCore()
        good = opened(core)
        refused, _ = core.connection_opened("forged", 0)
        self.assertEqual(core.drop(), [Abort(good), Abort(refused)])

    def test_goodbye_and_migration(self) -> None:
        """Both announce themselves on each live connection and close it with 1001, once."""
        for fault, kind in [
            (FakeSlackCore.goodbye, "goodbye"),
            (lambda core: core.team_migration(0), "team_migration_started"),
        ]:
            core = FakeSlackCore()
            number = opened(core)
            self.assertEqual(
                fault(core), [Send(number, {"type": kind}), Close(number, 1001, kind)]
            )
            self.assertEqual(fault(core), [])

    def test_half_open(self) -> None:
        """Silenced connections get nothing and answer nothing; new ones work."""
        core = FakeSlackCore()
        dead = opened(core)
        self.assertEqual(core.half_open(), [Silence(dead)])
        self.assertEqual(core.half_open(), [])
        alive = opened(core)
        self.assertEqual(send(core, dead, {"type": "ping"}), [])
        self.assertEqual(core.say("C1", "x", "U1", {}, 0)[1][0].connection, alive)
        self.assertEqual(core.goodbye()[0].connection, alive)
        self.assertEqual(core.open_connections, 2)

    def test_refuse_handshake(self) -> None:
        """The next upgrades are refused with the status given, then accepted."""
        core = FakeSlackCore()
        core.refuse_handshake(2, 503)
        self.assertEqual([core.upgrade_requested() for _ in range(3)], [503, 503, None])

    def test_hold_and_release(self) -> None:
        """Held replies are sent on release; a gone connection's reply is not."""
        core = FakeSlackCore()
        kept, gone = opened(core), opened(core)
        core.hold_replies()
        self.assertNotIn(None, [f.get("type") for f in frames(send(core, kept, message(1)))])
        send(core, gone, message(2))
        core.connection_closed(gone)
        self.assertEqual(
            core.release_replies(),
            [Send(kept, {"ok": True, "reply_to": 1, "ts": "0.000001", "text": "hi"})],
        )
        self.assertEqual(core.release_replies(), [])

    def test_replay_after_reconnect(self) -> None:
        """An undelivered reply is replayed once, after the next hello of the same token."""
        core = FakeSlackCore()
        first = opened(core)
        core.hold_replies()
        send(core, first, message(7, text="lost"))
        core.connection_closed(first)
        second, actions = core.connection_opened(ticket(core), 0)
        replay = {
            "type": "message",
            "channel": "C1",
            "user": "U0BOT",
            "text": "lost",
            "ts": "0.000001",
            "team": "T0TEAM",
            "reply_to": 7,
        }
        self.assertEqual(
            actions, [Send(second, {"type": "hello"}), Send(second, replay), Opened(second)]
        )
        self.assertEqual(len(core.connection_opened(ticket(core), 0)[1]), 2)
        self.assertEqual(core.release_replies(), [])

    def test_message_while_closing_is_replayed(self) -> None:
        """A message that arrives after the goodbye is posted, but its reply is replayed."""
        core = FakeSlackCore()
        leaving, staying = opened(core), opened(core)
        core.goodbye()
        core.connection_closed(staying)
        self.assertEqual(send(core, leaving, message(3))[:-2], [])
        core.connection_closed(leaving)
        _, actions = core.connection_opened(ticket(core), 0)
        self.assertEqual(frames(actions)[1]["reply_to"], 3)

    def test_dropped_connections_get_nothing(self) -> None:
        """Once dropped, a connection is sent nothing more, even before it is gone."""
        core = FakeSlackCore()
        number = opened(core)
        core.drop()
        self.assertEqual(core.say("C1", "x", "U1", {}, 0)[1], [])
        self.assertEqual(core.goodbye(), [])
        self.assertEqual(core.drop(), [Abort(number)])
        self.assertEqual(core.open_connections, 1)

    def test_no_replay_when_delivered_or_refused(self) -> None:
        """Nothing is replayed when the last reply was sent, error replies included."""
        core = FakeSlackCore()
        first = opened(core)
        core.hold_replies()
        send(core, first, message(1))
        send(core, first, message(2, channel="C404"))
        core.connection_closed(first)
        self.assertEqual(len(core.connection_opened(ticket(core), 0)[1]), 2)

    def test_replay_is_per_token(self) -> None:
        """Another token's connection does not get the replay."""
        core = FakeSlackCore(tokens=["a", "b"])
        first = opened(core, token="a")
        core.hold_replies()
        send(core, first, message(1))
        response = connect(core, token="b")
        other = str(response.body["url"])[len(BASE) :]
        self.assertEqual(len(core.connection_opened(other, 0)[1]), 2)


class ConfigTests(SynchronousTestCase):
    """Configuring the workspace."""

    def test_defaults(self) -> None:
        """By default the bot is in C1 and D1, and users U1 and U2 exist."""
        core = FakeSlackCore()
        number = opened(core)
        for channel in ["C1", "D1"]:
            self.assertEqual(len(frames(send(core, number, message(channel=channel)))), 2)
        self.assertEqual(len(core.say("C1", "x", "U2", {}, 0)[1]), 1)
        self.assertRaisesRegex(ValueError, "U3", core.say, "C1", "x", "U3", {}, 0)
        self.assertEqual(
            (core.token, core.bot_user_id, core.team_id),
            ("xoxb-fake-0000-valid", "U0BOT", "T0TEAM"),
        )

    def test_identity(self) -> None:
        """The bot and team identity can be configured."""
        core = FakeSlackCore(
            bot_user_id="UB", bot_name="robo", team_id="T1", team_name="N", team_domain="d"
        )
        body = connect(core).body
        self.assertEqual(body["self"], {"id": "UB", "name": "robo"})
        self.assertEqual(body["team"], {"id": "T1", "name": "N", "domain": "d"})

    def test_bad_config(self) -> None:
        """Bad configuration raises, naming the argument."""
        for kwargs, error, name in [
            ({"tokens": []}, ValueError, "tokens"),
            ({"tokens": "xoxb"}, TypeError, "tokens"),
            ({"users": [1]}, TypeError, "users"),
            ({"channels": ["C1"]}, TypeError, "channels"),
            ({"channels": {"C1": ["U9"]}}, ValueError, "channels"),
            ({"ticket_ttl": 0}, ValueError, "ticket_ttl"),
            ({"ticket_ttl": True}, TypeError, "ticket_ttl"),
            ({"echo_before_reply": 1}, TypeError, "echo_before_reply"),
            ({"bot_user_id": ""}, ValueError, "bot_user_id"),
        ]:
            self.assertRaisesRegex(error, name, FakeSlackCore, **kwargs)

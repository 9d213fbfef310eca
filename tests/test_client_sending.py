# -*- test-case-name: tests.test_client_sending -*-
"""Sending against the fake Slack: replies, the queue, pacing, limits and lost replies."""

from __future__ import annotations

import json
from typing import Any

from twisted.internet.defer import gatherResults, inlineCallbacks

from txslackrtm import (
    ErrorCode,
    MessageTooLongError,
    NoReplyReceivedError,
    SendMessagePlatformError,
    SendWhileDisconnectedError,
    SendWhileNotReadyError,
)

from .support import ClientTestCase


class SendMessageTests(ClientTestCase):
    @inlineCallbacks
    def test_reply(self) -> Any:
        """send_message fires with Slack's reply, and the message is in Slack's log."""
        rtm = yield self.ready()
        reply = yield rtm.send_message("hello", "C1")
        self.assertEqual((reply["ok"], reply["reply_to"], reply["text"]), (True, 1, "hello"))
        self.assertIsInstance(reply["ts"], str)
        self.assertEqual(
            [(m["channel"], m["text"]) for m in self.slack.messages], [("C1", "hello")]
        )

    @inlineCallbacks
    def test_extra_fields(self) -> Any:
        """Extra keyword arguments, such as thread_ts, go into the frame."""
        rtm = yield self.ready()
        first = yield rtm.send_message("parent", "C1")
        yield rtm.send_message("child", "C1", thread_ts=first["ts"])
        self.assertEqual(self.slack.messages[1]["thread_ts"], first["ts"])

    @inlineCallbacks
    def test_platform_error(self) -> Any:
        """A reply carrying an error fails with SendMessagePlatformError and the reply as data."""
        rtm = yield self.ready()
        error = yield self.assertFailure(rtm.send_message("hi", "C404"), SendMessagePlatformError)
        self.assertEqual(error.code, ErrorCode.SendMessagePlatformError)
        self.assertEqual(error.data["error"]["code"], 0)
        self.assertEqual(error.data["reply_to"], 1)

    @inlineCallbacks
    def test_many_replies_in_flight(self) -> Any:
        """Messages do not wait for each other's replies (no head-of-line blocking, D12)."""
        rtm = yield self.ready()
        self.slack.hold_replies()
        sends = [rtm.send_message(f"m{i}", "C1") for i in range(3)]
        for _ in range(3):
            yield self.slack.next_message("C1")
        for sent in sends:
            self.assertNoResult(sent)
        self.slack.release_replies()
        replies = yield gatherResults(sends)
        self.assertEqual([r["reply_to"] for r in replies], [1, 2, 3])
        self.assertEqual(rtm._session.awaiting, 0)

    @inlineCallbacks
    def test_ids_start_at_one_and_continue_across_reconnects(self) -> Any:
        """Ids start at 1, pings take ids too, and nothing resets them on reconnect."""
        rtm = yield self.ready()
        yield rtm.send_message("a", "C1")
        self.clock.advance(6)
        yield self.slack.next_frame("ping")
        self.slack.drop()
        yield self.until("reconnecting")
        yield self.until("ready")
        yield rtm.send_message("b", "C1")
        ids = [frame["id"] for frame in self.slack.received if "id" in frame]
        self.assertEqual(ids, [1, 2, 3])


class QueueTests(ClientTestCase):
    @inlineCallbacks
    def test_queued_until_ready_in_order(self) -> Any:
        """Events added while connecting are sent, in order, once ready."""
        rtm = yield self.make()
        rtm.start()
        sends = [rtm.send_message(text, "C1") for text in ["one", "two"]]
        typing = rtm.send_typing("C1")
        self.assertEqual(rtm.state, "connecting:authenticating")
        replies = yield gatherResults(sends)
        self.assertIsNone((yield typing))
        self.assertEqual([r["text"] for r in replies], ["one", "two"])
        types = [f["type"] for f in self.slack.received]
        self.assertEqual(types, ["message", "message", "typing"])

    @inlineCallbacks
    def test_queued_then_disconnected(self) -> Any:
        """Events still queued when the client ends disconnected fail; nothing waits forever."""
        rtm = yield self.make()
        self.slack.fail_connect("invalid_auth")
        started = rtm.start()
        queued = rtm.send_message("never", "C1")
        yield self.assertFailure(started, Exception)
        error = yield self.assertFailure(queued, SendWhileDisconnectedError)
        self.assertEqual(error.code, ErrorCode.SendWhileDisconnectedError)
        self.assertEqual(self.slack.received, [])

    @inlineCallbacks
    def test_queued_during_reconnect(self) -> Any:
        """Events added while reconnecting are sent once ready again."""
        rtm = yield self.ready()
        self.slack.refuse_handshake()
        self.slack.drop()
        yield self.until("reconnecting")
        sent = rtm.send_message("later", "C1")
        yield self.until("reconnecting")
        self.clock.advance(1)
        reply = yield sent
        self.assertEqual(reply["text"], "later")


class LostReplyTests(ClientTestCase):
    @inlineCallbacks
    def test_lost_reply_fails_unless_replayed(self) -> Any:
        """On a lost connection earlier messages fail; the last one's replay resolves it (D7)."""
        rtm = yield self.ready()
        self.slack.hold_replies()
        first = rtm.send_message("first", "C1")
        last = rtm.send_message("last", "C1")
        yield self.slack.next_message("C1")
        yield self.slack.next_message("C1")
        self.slack.drop()
        error = yield self.assertFailure(first, NoReplyReceivedError)
        self.assertEqual(error.code, ErrorCode.NoReplyReceivedError)
        reply = yield last
        self.assertEqual((reply["reply_to"], reply["text"]), (2, "last"))
        yield self.until("ready")

    @inlineCallbacks
    def lose_unreceived_message(self, **options: Any) -> Any:
        """A message written into a dead connection: Slack never saw it, so cannot replay it."""
        rtm = yield self.ready(**options)
        self.slack.half_open()
        sent = rtm.send_message("lost", "C1")
        self.clock.advance(6)
        self.clock.advance(4)
        self.assertEqual(rtm.state, "connecting:authenticating")
        return sent

    @inlineCallbacks
    def test_resume_waits_then_gives_up(self) -> Any:
        """Without a replay, resuming lasts reply_ack_on_reconnect_timeout, then fails it (D1)."""
        sent = yield self.lose_unreceived_message(reply_ack_on_reconnect_timeout=0.5)
        yield self.until("connected")
        self.assertEqual(self.rtm.state, "connected:resuming")
        self.assertNoResult(sent)
        self.clock.advance(0.49)
        self.assertEqual(self.rtm.state, "connected:resuming")
        self.clock.advance(0.01)
        self.assertEqual(self.rtm.state, "connected:ready")
        yield self.assertFailure(sent, NoReplyReceivedError)

    @inlineCallbacks
    def test_disconnect_fails_pending_replies(self) -> Any:
        """disconnect() fails a message still awaiting its reply with NoReplyReceivedError."""
        rtm = yield self.ready()
        self.slack.hold_replies()
        sent = rtm.send_message("pending", "C1")
        yield self.slack.next_message("C1")
        yield rtm.disconnect()
        yield self.assertFailure(sent, NoReplyReceivedError)
        self.assertEqual(rtm._session.awaiting, 0)


class RawSendTests(ClientTestCase):
    @inlineCallbacks
    def test_send_returns_the_id(self) -> Any:
        """send() writes at once and fires with the frame's id."""
        rtm = yield self.ready()
        message_id = yield rtm.send("typing", {"channel": "C1"})
        frame = yield self.slack.next_frame("typing")
        self.assertEqual((message_id, frame["id"], frame["channel"]), (1, 1, "C1"))

    @inlineCallbacks
    def test_send_before_the_socket_opens(self) -> Any:
        """send() with no WebSocket open fails with SendWhileDisconnectedError (D5)."""
        rtm = yield self.make()
        failures = []
        rtm.on("authenticated", lambda r: failures.append(rtm.send("typing", {"channel": "C1"})))
        yield rtm.start()
        yield self.assertFailure(failures[0], SendWhileDisconnectedError)

    @inlineCallbacks
    def test_send_while_not_ready(self) -> Any:
        """send() on an open WebSocket before ready fails with SendWhileNotReadyError (D5)."""
        sent = yield LostReplyTests.lose_unreceived_message(self)  # type: ignore[arg-type]
        yield self.until("connected")
        self.assertEqual(self.rtm.state, "connected:resuming")
        error = yield self.assertFailure(self.rtm.send("typing"), SendWhileNotReadyError)
        self.assertEqual(error.code, ErrorCode.SendWhileNotReadyError)
        self.clock.advance(2)
        yield self.assertFailure(sent, NoReplyReceivedError)


class LimitTests(ClientTestCase):
    @inlineCallbacks
    def test_too_long_text(self) -> Any:
        """A text over 4,000 characters fails with MessageTooLongError and is never sent."""
        rtm = yield self.ready()
        yield self.assertFailure(rtm.send_message("é" * 4001, "C1"), MessageTooLongError)
        yield rtm.send_message("é" * 4000, "C1")
        self.assertEqual(len(self.slack.received), 1)

    @inlineCallbacks
    def test_frame_over_16k(self) -> Any:
        """A frame over 16 kB fails with MessageTooLongError, whatever the event."""
        rtm = yield self.ready()
        ids = [f"U{i:09d}" for i in range(1500)]
        yield self.assertFailure(rtm.subscribe_presence(ids), MessageTooLongError)
        yield self.assertFailure(rtm.send("presence_sub", {"ids": ids}), MessageTooLongError)
        self.assertEqual(self.slack.received, [])


class PacingTests(ClientTestCase):
    @inlineCallbacks
    def test_burst_then_one_per_second(self) -> Any:
        """The bucket starts full; past the burst, events wait their turn and are not dropped."""
        rtm = yield self.ready(rate_limit=(1.0, 2))
        sends = [rtm.send_typing("C1") for _ in range(4)]
        yield sends[0]
        yield sends[1]
        self.assertNoResult(sends[2])
        self.clock.advance(1)
        yield sends[2]
        self.assertNoResult(sends[3])
        self.clock.advance(1)
        yield sends[3]
        for _ in range(4):
            yield self.slack.next_frame("typing")

    @inlineCallbacks
    def test_pings_bypass_pacing(self) -> Any:
        """A ping goes out on time even when the bucket is empty."""
        rtm = yield self.ready(rate_limit=(0.01, 1))
        yield rtm.send_typing("C1")
        queued = rtm.send_typing("C1")
        self.clock.advance(6)
        ping = yield self.slack.next_frame("ping")
        self.assertEqual(ping["id"], 2)
        self.assertNoResult(queued)
        yield rtm.disconnect()
        yield self.assertFailure(queued, SendWhileDisconnectedError)


class PresenceAndTypingTests(ClientTestCase):
    @inlineCallbacks
    def test_subscribe_presence(self) -> Any:
        """subscribe_presence sends presence_sub with the ids and awaits no reply."""
        rtm = yield self.ready()
        changes = []
        rtm.on("presence_change", changes.append)
        result = yield rtm.subscribe_presence(["U1", "U2"])
        self.assertIsNone(result)
        frame = yield self.slack.next_frame("presence_sub")
        self.assertEqual(frame["ids"], ["U1", "U2"])
        self.slack.set_presence("U1", "away")
        yield self.until("presence_change")
        self.assertTrue(changes)

    @inlineCallbacks
    def test_typing(self) -> Any:
        """send_typing sends a typing frame and fires with None once written."""
        rtm = yield self.ready()
        self.assertIsNone((yield rtm.send_typing("C1")))
        frame = yield self.slack.next_frame("typing")
        self.assertEqual(frame["channel"], "C1")
        self.assertEqual(json.loads(json.dumps(frame))["type"], "typing")

"""
Tests for the example bots in L{txslackrtm.examples}, each run on a real client against the
fake Slack, as a user would test their own bot.
"""

from __future__ import annotations

from typing import Any

from twisted.internet.defer import inlineCallbacks
from twisted.trial.unittest import TestCase

from txslackrtm import RTMClient
from txslackrtm.examples import echo, threads
from txslackrtm.testing import FakeSlack


class BotTestCase(TestCase):
    """A fake Slack, and a started client with one example bot set up on it."""

    @inlineCallbacks
    def run_bot(self, bot: Any) -> Any:
        self.slack = yield FakeSlack.listen(self)
        self.rtm: RTMClient = self.slack.client(proxy=False, rate_limit=None)
        self.addCleanup(self.rtm.disconnect)
        bot.setup(self.rtm)
        yield self.rtm.start()
        return self.rtm


class EchoTests(BotTestCase):
    """The echo bot repeats what people say, where they said it."""

    @inlineCallbacks
    def test_repeats(self) -> Any:
        """A person's message comes back, same text, same channel, not in a thread."""
        yield self.run_bot(echo)
        self.slack.say("C1", "hello there", user="U2")
        sent = yield self.slack.next_message()
        self.assertEqual((sent["channel"], sent["text"]), ("C1", "hello there"))
        self.assertNotIn("thread_ts", sent)

    @inlineCallbacks
    def test_same_thread(self) -> Any:
        """A message in a thread is repeated in that thread."""
        yield self.run_bot(echo)
        self.slack.say("D1", "in a thread", user="U1", thread_ts="1700000000.000100")
        sent = yield self.slack.next_message()
        self.assertEqual(
            (sent["channel"], sent["text"], sent["thread_ts"]),
            ("D1", "in a thread", "1700000000.000100"),
        )

    @inlineCallbacks
    def test_not_itself_nor_other_bots(self) -> Any:
        """
        Its own echoed messages, other bots' posts and edits get no answer: after one person's
        message, the next thing the bot sends answers the next person's message.
        """
        yield self.run_bot(echo)
        self.slack.say("C1", "first", user="U1")
        first = yield self.slack.next_message()
        self.slack.say("C1", "beep", user="U2", subtype="bot_message", bot_id="B1")
        self.slack.say("C1", "an app", user="U2", bot_id="B2")
        self.slack.say("C1", "edited", user="U2", subtype="message_changed")
        self.slack.say("C1", "second", user="U2")
        second = yield self.slack.next_message()
        self.assertEqual([first["text"], second["text"]], ["first", "second"])
        self.assertEqual([m["text"] for m in self.slack.messages], ["first", "second"])

    def test_from_a_person(self) -> None:
        """L{echo.from_a_person} wants text, a user who is not the bot, and no subtype."""
        rtm = RTMClient("xoxb-not-used")  # disconnected: active_user_id is None
        self.assertTrue(echo.from_a_person({"user": "U1", "text": "hi"}, rtm))
        for event in [
            {"text": "hi"},
            {"user": "U1"},
            {"user": "U1", "text": "   "},
            {"user": "U1", "text": "hi", "subtype": "me_message"},
            {"user": "U1", "text": "hi", "bot_id": "B1"},
        ]:
            self.assertFalse(echo.from_a_person(event, rtm), event)


class ThreadsTests(BotTestCase):
    """The thinking bot types, then answers in a thread, when asked."""

    @inlineCallbacks
    def test_command(self) -> Any:
        """C{!think ...}: typing in the channel, then an answer in the message's thread."""
        yield self.run_bot(threads)
        said = self.slack.say("C1", "!think why is the sky blue?", user="U2")
        typing = yield self.slack.next_frame("typing")
        answer = yield self.slack.next_message()
        self.assertEqual(typing["channel"], "C1")
        self.assertEqual((answer["channel"], answer["thread_ts"]), ("C1", said["ts"]))
        self.assertEqual(answer["text"], threads.answer("why is the sky blue?"))
        typed_first = [f["type"] for f in self.slack.received if f["type"] != "ping"]
        self.assertEqual(typed_first, ["typing", "message"])

    @inlineCallbacks
    def test_mention_in_thread(self) -> Any:
        """A mention inside a thread is answered in that same thread."""
        yield self.run_bot(threads)
        mention = f"<@{self.slack.bot_user_id}>"
        self.slack.say("C1", f"{mention} ping?", user="U1", thread_ts="17.000001")
        answer = yield self.slack.next_message()
        self.assertEqual(answer["thread_ts"], "17.000001")
        self.assertEqual(answer["text"], threads.answer("ping?"))

    @inlineCallbacks
    def test_other_messages(self) -> Any:
        """Messages neither mentioning the bot nor starting with C{!think} get no answer."""
        yield self.run_bot(threads)
        self.slack.say("C1", "what do you think?", user="U1")
        self.slack.say("C1", "!think", user="U1")
        answer = yield self.slack.next_message()
        self.assertEqual(answer["text"], threads.answer(""))
        self.assertEqual(len(self.slack.messages), 1)

    def test_answer(self) -> None:
        """The answer quotes the question, and invites one when there is none."""
        self.assertIn("'why?'", threads.answer("why?"))
        self.assertIn("!think", threads.answer(""))

# -*- test-case-name: tests.test_examples -*-
"""
The thinking bot: when a message mentions it (C{@bot ...}) or starts with C{!think}, it shows
that it is typing, then answers in a thread under that message.

    twistd -n slackrtm --demo --bot txslackrtm.examples.threads

Two Slack habits at work: C{send_typing} makes Slack show "bot is typing..." in the
conversation (for a few seconds, or until the bot's next message), and a message sent with
C{thread_ts} set to another message's C{ts} is a reply in that message's thread. A message
already in a thread carries the thread's C{thread_ts}; answering with it keeps the reply in
the same thread.

The answer is a toy; the point is the shape of an asynchronous listener: an C{async def} run
with C{Deferred.fromCoroutine}, whose Deferred the listener returns so that the client logs
its failure.
"""

from __future__ import annotations

from typing import Any

from twisted.internet.defer import Deferred

from txslackrtm import RTMClient
from txslackrtm.examples.echo import from_a_person

#: A message that starts with this asks the bot to think.
COMMAND = "!think"


def question_for(event: dict[str, Any], rtm: RTMClient) -> str | None:
    """
    What a person asks the bot in a C{message} event: the text without the mention or the
    command, or C{None} when the message is not for the bot.
    """
    if not from_a_person(event, rtm):
        return None
    text: str = event["text"]
    mention = f"<@{rtm.active_user_id}>"
    if mention in text:
        return text.replace(mention, " ").strip()
    if text.startswith(COMMAND):
        return text.removeprefix(COMMAND).strip()
    return None


def answer(question: str) -> str:
    """The bot's reply to C{question}."""
    if not question:
        return f"You called? Ask me something: {COMMAND} why is the sky blue?"
    words = len(question.split())
    return f"I thought hard about {question!r} ({words} words). My answer: it depends."


async def _reply(rtm: RTMClient, channel: str, thread_ts: str, question: str) -> None:
    await rtm.send_typing(channel)
    await rtm.send_message(answer(question), channel, thread_ts=thread_ts)


def setup(rtm: RTMClient) -> None:
    """
    Register the thinking listener on C{rtm}; called once, before the client starts.
    """

    def think(event: dict[str, Any]) -> Deferred[None] | None:
        question = question_for(event, rtm)
        if question is None:
            return None
        thread_ts = event.get("thread_ts") or event["ts"]
        return Deferred.fromCoroutine(_reply(rtm, event["channel"], thread_ts, question))

    rtm.on("message", think)

# -*- test-case-name: tests.test_examples -*-
"""
The echo bot: it repeats every message a person writes, in the same conversation, and in
the same thread when the message was in one.

Run it against the built-in fake Slack, or against Slack with your token::

    twistd -n slackrtm --demo --bot txslackrtm.examples.echo
    SLACK_BOT_TOKEN=xoxb-... twistd -n slackrtm --bot txslackrtm.examples.echo

Slack sends a bot every message in the conversations it is in, its own included, and the
messages of other bots, edits and deletions too: a bot that answers must pick the messages
it answers, or it ends up talking to itself forever. L{from_a_person} is that choice.
"""

from __future__ import annotations

from typing import Any

from twisted.internet.defer import Deferred

from txslackrtm import RTMClient


def from_a_person(event: dict[str, Any], rtm: RTMClient) -> bool:
    """
    Whether a C{message} event is something a person wrote, and not this bot.

    Events with a C{subtype} are edits (C{message_changed}), deletions, channel joins and
    other bots' posts (C{bot_message}); a C{bot_id} marks an app posting as a user. The bot's
    own messages come back to it with its user id, L{RTMClient.active_user_id}.
    """
    return (
        event.get("subtype") is None
        and "bot_id" not in event
        and isinstance(event.get("text"), str)
        and bool(event["text"].strip())
        and event.get("user") not in (None, rtm.active_user_id)
    )


def setup(rtm: RTMClient) -> None:
    """
    Register the echo listener on C{rtm}; called once, before the client starts.
    """

    def echo(event: dict[str, Any]) -> Deferred[dict[str, Any]] | None:
        if not from_a_person(event, rtm):
            return None
        thread = {"thread_ts": event["thread_ts"]} if "thread_ts" in event else {}
        # Returned, so that the client logs the failure if Slack refuses the message.
        return rtm.send_message(event["text"], event["channel"], **thread)

    rtm.on("message", echo)

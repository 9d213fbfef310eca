# -*- test-case-name: tests.test_tap -*-
"""
The demo workspace behind C{twistd slackrtm --demo} and C{python -m txslackrtm.examples.demo}.

A newcomer should see a bot work before they have a token: this module serves the fake Slack
of L{txslackrtm.testing} on loopback, lets a scripted person talk in C{C1} every few seconds,
and writes the whole conversation (what the person says, what the bot types and answers) to
the Twisted log at INFO level, so that it shows up in twistd's log::

    [txslackrtm.demo#info] C1 | U1 (person): Hello, is anybody there?
    [txslackrtm.demo#info] C1 | U0BOT (bot): Hello, is anybody there?

L{txslackrtm.tap.BotService} starts a L{DemoWorkspace} instead of talking to Slack when it
is given C{demo=True}; the bots under demonstration cannot tell the difference.
"""

from __future__ import annotations

from collections.abc import Callable
from itertools import cycle
from typing import Any

from twisted.internet.defer import CancelledError, Deferred
from twisted.internet.task import LoopingCall
from twisted.logger import Logger
from twisted.python.failure import Failure

from ._fakeserver import FakeSlack

#: Seconds between two lines of the scripted person.
INTERVAL = 3.0

#: The conversation the scripted person repeats, in turn. C{{bot}} becomes a mention of the
#: bot (C{<@U0BOT>}), which is how Slack spells "@bot" inside a message.
SCRIPT = (
    "Hello, is anybody there?",
    "!think what is an event loop?",
    "I am trying out a Slack bot without a Slack workspace.",
    "{bot} do you answer in threads?",
    "Twisted has been doing asynchronous networking since 2002.",
)

#: Who talks, and where: a member of the fake's default channel.
PERSON = "U1"
CHANNEL = "C1"


def _ignore_cancellation(failure: Failure) -> Failure | None:
    return None if isinstance(failure.value, CancelledError) else failure


class DemoWorkspace:
    """
    A fake Slack on C{127.0.0.1}, with a person who talks in C{C1}, and a log of what is said.

    Make one with L{listen}, aim an L{RTMClient<txslackrtm.RTMClient>} at L{api_url} with
    L{token}, call L{start_talking} once the bots are set up, and L{stop} at the end.

    @ivar slack: the L{FakeSlack} serving the workspace.
    """

    def __init__(self, slack: FakeSlack, reactor: Any) -> None:
        """
        Use L{listen} instead: this expects a listening C{slack}.
        """
        self.slack = slack
        self._log = Logger(namespace="txslackrtm.demo", source=self)
        self._reactor = reactor
        mention = f"<@{slack.bot_user_id}>"
        self._lines = cycle([line.format(bot=mention) for line in SCRIPT])
        self._talking: LoopingCall | None = None
        self._watching: list[Deferred[dict[str, Any]]] = []

    @classmethod
    def listen(cls, reactor: Any) -> Deferred[DemoWorkspace]:
        """
        Start the fake Slack on a free loopback port.

        @param reactor: the reactor it listens with, and whose C{callLater} times the person.
        @return: a Deferred that fires with the listening workspace.
        """
        listening = FakeSlack.listen(reactor=reactor)
        return listening.addCallback(lambda slack: cls(slack, reactor))

    @property
    def token(self) -> str:
        """A token the fake accepts: give it to the client."""
        return self.slack.token

    @property
    def api_url(self) -> str:
        """The fake's Web API prefix: the client's C{slack_api_url}."""
        return self.slack.api_url

    def start_talking(self) -> None:
        """
        Have the person say the next line of the script every L{INTERVAL} seconds, the
        first one L{INTERVAL} seconds from now, and log what the bot answers.
        """
        self._log.info(
            "Demo: a fake Slack listens at {url}; {person} will talk in {channel} every "
            "{interval:g} seconds. Stop with Ctrl-C (or SIGTERM).",
            url=self.api_url,
            person=PERSON,
            channel=CHANNEL,
            interval=INTERVAL,
        )
        talking = self._talking = LoopingCall(self._say_next)
        talking.clock = self._reactor
        talking.start(INTERVAL, now=False).addErrback(
            lambda failure: self._log.failure("The scripted person stopped", failure)
        )
        self._watch(self.slack.next_message, self._bot_said)
        self._watch(lambda: self.slack.next_frame("typing"), self._bot_typed)

    def stop_talking(self) -> None:
        """Silence the person and stop logging the bot; harmless when not talking."""
        if self._talking is not None and self._talking.running:
            self._talking.stop()
        self._talking = None
        watching, self._watching = self._watching, []
        for waiting in watching:
            waiting.cancel()

    def stop(self) -> Deferred[None]:
        """
        Stop talking and stop the fake Slack, aborting any connection still open.

        @return: a Deferred that fires once the port is closed.
        """
        self.stop_talking()
        return self.slack.stop()

    def _say_next(self) -> None:
        event = self.slack.say(CHANNEL, next(self._lines), user=PERSON)
        self._log.info(
            "{channel} | {person} (person): {text}",
            channel=CHANNEL,
            person=PERSON,
            text=event["text"],
        )

    def _watch(
        self,
        wait: Callable[[], Deferred[dict[str, Any]]],
        report: Callable[[dict[str, Any]], None],
    ) -> None:
        """Call C{report} with each thing C{wait()} fires with, until L{stop_talking}."""
        waiting = wait()
        self._watching.append(waiting)

        def seen(item: dict[str, Any]) -> None:
            self._watching.remove(waiting)
            report(item)
            self._watch(wait, report)

        waiting.addCallbacks(seen, _ignore_cancellation)

    def _bot_said(self, message: dict[str, Any]) -> None:
        thread = message.get("thread_ts")
        self._log.info(
            "{channel} | {where}{bot} (bot): {text}",
            channel=message.get("channel"),
            where="" if thread is None else f"in thread {thread} | ",
            bot=self.slack.bot_user_id,
            text=message.get("text"),
        )

    def _bot_typed(self, frame: dict[str, Any]) -> None:
        self._log.info(
            "{channel} | {bot} (bot) is typing...",
            channel=frame.get("channel"),
            bot=self.slack.bot_user_id,
        )

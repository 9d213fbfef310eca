# -*- test-case-name: tests.test_twistd -*-
"""
The demo without twistd: a fake Slack on loopback, a scripted person, and bots, with the
conversation printed on standard output::

    python -m txslackrtm.examples.demo                  # the echo bot, until Ctrl-C
    python -m txslackrtm.examples.demo --seconds 10 --bot txslackrtm.examples.threads

It runs the very service C{twistd -n slackrtm --demo} runs (L{txslackrtm.tap.makeService}),
and exits with status 0 when the time is up or on Ctrl-C, once the client has disconnected.
"""

from __future__ import annotations

import sys
from typing import Any

from twisted.internet.defer import Deferred
from twisted.internet.task import deferLater, react
from twisted.logger import (
    FilteringLogObserver,
    LogLevel,
    LogLevelFilterPredicate,
    globalLogBeginner,
    textFileLogObserver,
)
from twisted.python import usage

from txslackrtm import tap


class DemoOptions(usage.Options):
    """The command line of C{python -m txslackrtm.examples.demo}."""

    synopsis = "Usage: python -m txslackrtm.examples.demo [options]"
    optParameters = [
        ["seconds", None, None, "Stop after this many seconds [default: until Ctrl-C].", float],
    ]

    def __init__(self) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self["bot"] = []

    def opt_bot(self, module: str) -> None:
        """A bot module with a setup(rtm) function [default: txslackrtm.examples.echo]."""
        self["bot"].append(module)

    def postOptions(self) -> None:
        """Refuse a run time that is not a positive number of seconds."""
        if self["seconds"] is not None and not self["seconds"] > 0:
            raise usage.UsageError("--seconds must be a positive number of seconds.")


async def main(reactor: Any, *argv: str) -> None:
    """
    Run the demo for C{--seconds}, or until the reactor is stopped (Ctrl-C).

    @raise SystemExit: with a one-line message, for a wrong command line.
    """
    options = DemoOptions()
    service_options = tap.Options()
    try:
        options.parseOptions(argv)  # type: ignore[no-untyped-call]
        service_options.parseOptions(  # type: ignore[no-untyped-call]
            ["--demo", *(f"--bot={module}" for module in options["bot"])]
        )
    except usage.UsageError as error:
        raise SystemExit(f"python -m txslackrtm.examples.demo: {error}") from None
    observer = textFileLogObserver(sys.stdout, timeFormat="%H:%M:%S")
    predicate = LogLevelFilterPredicate(defaultLogLevel=LogLevel.info)
    globalLogBeginner.beginLoggingTo([FilteringLogObserver(observer, [predicate])])
    service = tap.makeService(service_options)
    service.startService()
    # However the run ends, Twisted waits for the client to disconnect before it stops.
    reactor.addSystemEventTrigger("before", "shutdown", service.stopService)
    if options["seconds"] is None:
        await Deferred()  # never fires: Ctrl-C stops the reactor
    else:
        await deferLater(reactor, options["seconds"])


if __name__ == "__main__":
    react(main, sys.argv[1:])

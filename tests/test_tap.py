# -*- test-case-name: tests.test_tap -*-
"""
Tests for L{txslackrtm.tap}: the command line of C{twistd slackrtm}, and L{BotService}
against the fake Slack, demo included.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

from twisted.application.service import MultiService
from twisted.internet import reactor
from twisted.internet.defer import CancelledError, Deferred, inlineCallbacks
from twisted.internet.task import Clock
from twisted.logger import LogEvent, formatEvent, globalLogPublisher
from twisted.python.filepath import FilePath
from twisted.python.usage import UsageError
from twisted.trial.unittest import SynchronousTestCase, TestCase

from txslackrtm import RTMClient, _fakeserver
from txslackrtm._certs import make_ca
from txslackrtm.examples import echo
from txslackrtm.tap import Bot, BotService, Options, load_bot, makeService
from txslackrtm.testing import FakeSlack, clocked_reactor

SECRET = "xoxb-1234-secret-do-not-print"

#: Bot modules the option tests import, by name.
BOT_MODULES = {
    "tap_good_bot": "def setup(rtm):\n    pass\n",
    "tap_other_bot": "async def setup(rtm):\n    pass\n",
    "tap_no_setup_bot": "SETUP = None\n",
    "tap_setup_not_callable_bot": "setup = 'setup'\n",
    "tap_broken_bot": "raise RuntimeError('this bot is broken,\\nbadly')\n",
    "tap_needs_missing_bot": "import txslackrtm_no_such_dependency\n",
    "tap_syntax_bot": "def setup(:\n",
}


def install_bot_modules(testcase: SynchronousTestCase) -> None:
    """Make L{BOT_MODULES} importable for the rest of C{testcase}, and forget them after."""
    root = FilePath(testcase.mktemp())
    root.makedirs()
    for name, source in BOT_MODULES.items():
        root.child(name + ".py").setContent(source.encode("utf-8"))
    testcase.patch(sys, "path", [root.path, *sys.path])
    testcase.addCleanup(lambda: [sys.modules.pop(name, None) for name in BOT_MODULES])


class OptionsTests(SynchronousTestCase):
    """C{twistd slackrtm}'s options: what they produce, and a one-line error for each mistake."""

    def setUp(self) -> None:
        install_bot_modules(self)
        self.token_file = FilePath(self.mktemp())
        self.token_file.setContent(f"{SECRET}\n".encode())

    def parse(self, *argv: str, environ: dict[str, str] | None = None) -> Options:
        options = Options(environ={} if environ is None else environ)
        options.parseOptions(list(argv))
        return options

    def refused(self, *argv: str, environ: dict[str, str] | None = None) -> str:
        """The message of the L{UsageError}, checked to be one line without the token."""
        error = self.assertRaises(UsageError, self.parse, *argv, environ=environ)
        message = str(error)
        self.assertNotIn("\n", message)
        self.assertNotIn(SECRET, message)
        return message

    def test_defaults(self) -> None:
        """With only a token, the client gets the default options and there is no bot."""
        options = self.parse("--token-file", self.token_file.path)
        self.assertEqual(options["token"].reveal(), SECRET)
        self.assertEqual(options.bots, [])
        self.assertEqual(options.client_options, {"auto_reconnect": True, "log_level": "info"})
        self.assertFalse(options["demo"])

    def test_token_sources(self) -> None:
        """The token comes from --token, else --token-file, else SLACK_BOT_TOKEN."""
        environ = {"SLACK_BOT_TOKEN": " xoxb-from-env \n"}
        self.assertEqual(self.parse(environ=environ)["token"].reveal(), "xoxb-from-env")
        from_file = self.parse("--token-file", self.token_file.path, environ=environ)
        self.assertEqual(from_file["token"].reveal(), SECRET)
        given = self.parse("--token", "xoxb-given", environ=environ)
        self.assertEqual(given["token"].reveal(), "xoxb-given")

    def test_token_hidden(self) -> None:
        """Neither the options' repr nor their str shows the token."""
        options = self.parse("--token", SECRET)
        self.assertNotIn(SECRET, repr(options))
        self.assertNotIn(SECRET, str(options))
        self.assertEqual(repr(options["token"]), "<token hidden>")

    def test_help_discourages_token(self) -> None:
        """The help points from --token to --token-file and SLACK_BOT_TOKEN."""
        usage = Options().getUsage(width=200)
        line = next(line for line in usage.splitlines() if "--token=" in line)
        self.assertIn("prefer --token-file or SLACK_BOT_TOKEN", line)

    def test_client_options(self) -> None:
        """Each option becomes the client's keyword argument."""
        ca = FilePath(self.mktemp())
        ca.setContent(make_ca().cert_pem)
        options = self.parse(
            "--token=xoxb-1",
            "--slack-api-url=http://127.0.0.1:1/api/",
            "--log-level=debug",
            f"--ca-file={ca.path}",
            "--proxy=http://proxy.example:3128",
            "--no-auto-reconnect",
        )
        self.assertEqual(
            options.client_options,
            {
                "auto_reconnect": False,
                "log_level": "debug",
                "slack_api_url": "http://127.0.0.1:1/api/",
                "proxy": "http://proxy.example:3128",
                "tls": {"ca": ca.getContent().decode("ascii")},
            },
        )

    def test_bots(self) -> None:
        """Each --bot is imported in postOptions, in order, with its setup."""
        options = self.parse("--token=xoxb-1", "--bot", "tap_good_bot", "--bot=tap_other_bot")
        self.assertEqual([bot.name for bot in options.bots], ["tap_good_bot", "tap_other_bot"])
        self.assertIs(options.bots[0].setup, sys.modules["tap_good_bot"].setup)

    def test_demo(self) -> None:
        """--demo needs no token, ignores SLACK_BOT_TOKEN and runs the echo bot by default."""
        options = self.parse("--demo", environ={"SLACK_BOT_TOKEN": SECRET})
        self.assertIsNone(options["token"])
        self.assertEqual(options.bots, [Bot("txslackrtm.examples.echo", echo.setup)])

    def test_no_token(self) -> None:
        """Without a token anywhere, the error says where to put one."""
        message = self.refused("--bot", "tap_good_bot", environ={"SLACK_BOT_TOKEN": "  "})
        self.assertEqual(
            message,
            "No Slack token: set SLACK_BOT_TOKEN or pass --token-file PATH "
            "(or try --demo, which needs none).",
        )

    def test_token_twice(self) -> None:
        """--token and --token-file together are refused."""
        message = self.refused("--token", SECRET, "--token-file", self.token_file.path)
        self.assertIn("pass only one", message)

    def test_token_file_unreadable(self) -> None:
        """A missing token file, or a directory, is named with the reason."""
        missing = self.mktemp()
        self.assertEqual(
            self.refused("--token-file", missing),
            f"--token-file {missing}: cannot read it (No such file or directory).",
        )
        folder = FilePath(self.mktemp())
        folder.makedirs()
        self.assertIn("cannot read it", self.refused("--token-file", folder.path))

    def test_token_file_empty(self) -> None:
        """An empty (or blank) token file is refused."""
        self.token_file.setContent(b" \n\n")
        message = self.refused("--token-file", self.token_file.path)
        self.assertEqual(message, f"--token-file {self.token_file.path}: the token is empty.")

    def test_token_file_not_one_token(self) -> None:
        """A token file with more than the token (a wrong file, say) is refused, unquoted."""
        self.token_file.setContent(f"{SECRET}\nand more\n".encode())
        self.assertIn("not one token", self.refused("--token-file", self.token_file.path))
        self.token_file.setContent(b"\xff\xfe")
        self.assertIn("not UTF-8", self.refused("--token-file", self.token_file.path))

    def test_bad_bots(self) -> None:
        """Each kind of unusable --bot is refused with its own message."""
        cases = {
            "tap_nowhere_bot": "--bot tap_nowhere_bot: no module named 'tap_nowhere_bot' "
            "(is it installed, or on PYTHONPATH?).",
            "tap_good_bot.sub": "--bot tap_good_bot.sub: no module named 'tap_good_bot.sub' "
            "(is it installed, or on PYTHONPATH?).",
            "tap_no_setup_bot": "--bot tap_no_setup_bot: the module has no setup(rtm) function.",
            "tap_setup_not_callable_bot": "--bot tap_setup_not_callable_bot: the module has no "
            "setup(rtm) function.",
            "tap_broken_bot": "--bot tap_broken_bot: importing it failed: RuntimeError: this "
            "bot is broken, badly",
            "tap_needs_missing_bot": "--bot tap_needs_missing_bot: importing it failed: "
            "ModuleNotFoundError: No module named 'txslackrtm_no_such_dependency'",
            "my-bot": "--bot 'my-bot' is not a module name (like mypackage.mybot).",
            "": "--bot '' is not a module name (like mypackage.mybot).",
        }
        for name, expected in cases.items():
            self.assertEqual(self.refused("--token", SECRET, "--bot", name), expected)
        syntax = self.refused("--token", SECRET, "--bot", "tap_syntax_bot")
        self.assertTrue(
            syntax.startswith("--bot tap_syntax_bot: importing it failed: SyntaxError")
        )

    def test_bot_twice(self) -> None:
        """The same bot twice would answer everything twice: refused."""
        message = self.refused("--token=x", "--bot=tap_good_bot", "--bot=tap_good_bot")
        self.assertEqual(message, "--bot tap_good_bot is given twice.")

    def test_demo_with_slack_options(self) -> None:
        """--demo with a token or options aimed at Slack is refused, naming them."""
        message = self.refused(
            "--demo", "--token", SECRET, "--token-file", self.token_file.path, "--proxy=http://p:1"
        )
        self.assertEqual(
            message,
            "--demo brings its own fake Slack and needs no token: drop --token, --token-file, "
            "--proxy.",
        )
        self.assertIn("--slack-api-url", self.refused("--demo", "--slack-api-url=http://x/"))

    def test_bad_client_options(self) -> None:
        """Values the client would refuse are refused here, in the client's words."""
        self.assertEqual(
            self.refused("--token", SECRET, "--log-level", "loud"),
            "log_level must be one of DEBUG, INFO, WARN, ERROR, not 'loud'",
        )
        self.assertIn("slack_api_url", self.refused("--token=x", "--slack-api-url=ftp://x/"))
        self.assertIn("proxy", self.refused("--token=x", "--proxy=socks5://p:1"))

    def test_bad_ca_file(self) -> None:
        """A missing CA file, or one without a PEM certificate, is refused."""
        missing = self.mktemp()
        self.assertIn("cannot read it", self.refused("--token=x", f"--ca-file={missing}"))
        self.token_file.setContent(b"not a certificate")
        message = self.refused("--token=x", f"--ca-file={self.token_file.path}")
        self.assertEqual(message, f"--ca-file {self.token_file.path}: no PEM certificate in it.")
        self.token_file.setContent(
            b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"
        )
        self.assertIn("not a PEM", self.refused("--token=x", f"--ca-file={self.token_file.path}"))


class Recorder:
    """A bot that records each setup(rtm) call, and can make setup wait on a Deferred."""

    def __init__(self, result: Callable[[], object] = lambda: None) -> None:
        self.calls: list[tuple[RTMClient, str]] = []
        self._result = result

    def setup(self, rtm: RTMClient) -> object:
        self.calls.append((rtm, rtm.state))
        return self._result()


class Closes:
    """
    How the fake Slack's WebSockets close, as C{(clean?, close code)}, for the rest of a test.

    @ivar seen: every close so far.
    """

    def __init__(self, testcase: SynchronousTestCase) -> None:
        self.seen: list[tuple[bool, int | None]] = []
        self._waiting: list[Deferred[None]] = []
        original = _fakeserver._SlackSocket.onClose

        def onClose(socket: Any, wasClean: bool, code: int | None, reason: str | None) -> None:
            original(socket, wasClean, code, reason)
            self.seen.append((wasClean, code))
            waiting, self._waiting = self._waiting, []
            for waiter in waiting:
                waiter.callback(None)

        testcase.patch(_fakeserver._SlackSocket, "onClose", onClose)

    def next(self) -> Deferred[None]:
        """A Deferred that fires when the next WebSocket closes."""
        waiter: Deferred[None] = Deferred()
        self._waiting.append(waiter)
        return waiter


def until_ready(rtm: RTMClient) -> Deferred[object]:
    """A Deferred that fires when C{rtm} is next ready, or at once when it is."""
    ready: Deferred[object] = Deferred()
    if rtm.state == "connected:ready":
        ready.callback(None)
    else:
        rtm.once("ready", lambda: ready.callback(None))
    return ready


def capture_log(testcase: SynchronousTestCase) -> list[str]:
    """Every log line from now to the end of C{testcase}, formatted."""
    lines: list[str] = []

    def observe(event: LogEvent) -> None:
        lines.append(formatEvent(event))

    globalLogPublisher.addObserver(observe)
    testcase.addCleanup(globalLogPublisher.removeObserver, observe)
    return lines


class BotServiceTests(TestCase):
    """L{BotService} against the fake Slack on loopback."""

    @inlineCallbacks
    def make(self, *bots: Recorder, **kwargs: Any) -> Any:
        """A fake Slack, and a (stopped) service for C{bots} aimed at it."""
        self.slack = yield FakeSlack.listen(self)
        self.stops: list[None] = []
        self.reactor = clocked_reactor(Clock())
        self.reactor.stop = lambda: self.stops.append(None)
        kwargs.setdefault("client_options", {"slack_api_url": self.slack.api_url, "proxy": False})
        service = BotService(
            self.slack.token,
            [Bot(f"bot{n}", bot.setup) for n, bot in enumerate(bots)],
            reactor=self.reactor,
            **kwargs,
        )
        self.addCleanup(lambda: service.running and service.stopService())
        return service

    @inlineCallbacks
    def test_setup_once_before_start(self) -> Any:
        """Each bot's setup(rtm) runs once, on the service's client, before it connects."""
        first, second = Recorder(), Recorder()
        service = yield self.make(first, second)
        connected = self.slack.wait_for_connections(1)
        service.startService()
        yield connected
        rtm = service.rtm
        self.assertEqual(first.calls, [(rtm, "disconnected")])
        self.assertEqual(second.calls, [(rtm, "disconnected")])
        self.assertIs(service.getServiceNamed("rtm"), rtm)
        yield until_ready(rtm)
        reconnected = self.slack.wait_for_connections(1)
        self.slack.drop()
        yield reconnected
        self.assertEqual(len(self.slack.connect_calls), 2)
        self.assertEqual(len(first.calls), 1)

    @inlineCallbacks
    def test_waits_for_setup(self) -> Any:
        """A Deferred, or a coroutine, from setup(rtm) holds the client back until it ends."""
        ready: Deferred[None] = Deferred()
        also_ready: Deferred[None] = Deferred()

        async def coroutine() -> None:
            await also_ready

        service = yield self.make(Recorder(lambda: ready), Recorder(coroutine))
        service.startService()
        ready.callback(None)
        self.assertEqual(service.rtm.state, "disconnected")
        self.assertEqual(list(service), [])
        connected = self.slack.wait_for_connections(1)
        also_ready.callback(None)
        self.assertEqual(service.rtm.state, "connecting:authenticating")
        yield connected

    @inlineCallbacks
    def test_stop_waits_for_disconnected(self) -> Any:
        """stopService() fires once the client is disconnected, after a clean close."""
        closes = Closes(self)
        service = yield self.make(Recorder())
        service.startService()
        yield until_ready(service.rtm)
        order: list[str] = []
        service.rtm.on("disconnected", lambda error: order.append("disconnected"))
        closed = closes.next()
        stopping = service.stopService()
        self.assertEqual(order, [])
        self.assertNoResult(stopping)
        yield stopping.addCallback(lambda _: order.append("stopped"))
        self.assertEqual(order, ["disconnected", "stopped"])
        yield closed
        self.assertEqual(closes.seen, [(True, 1000)])
        self.assertEqual(self.slack.connections, 0)
        self.assertEqual(list(service), [])

    @inlineCallbacks
    def test_stop_while_setting_up(self) -> Any:
        """Stopping cancels a setup still in progress; the client never connects."""
        cancelled: list[object] = []
        waiting: Deferred[None] = Deferred(cancelled.append)
        service = yield self.make(Recorder(lambda: waiting))
        service.startService()
        yield service.stopService()
        self.assertEqual(len(cancelled), 1)
        self.assertEqual(self.slack.connect_calls, [])
        self.assertEqual(self.stops, [])
        self.assertEqual(self.flushLoggedErrors(CancelledError), [])

    @inlineCallbacks
    def test_setup_fails(self) -> Any:
        """A failing setup is logged, the client is never started, and the reactor stops."""
        log = capture_log(self)

        def broken() -> object:
            raise RuntimeError("no database")

        service = yield self.make(Recorder(broken), stop_reactor_on_failure=True)
        service.startService()
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)
        self.assertIn("Bot bot0: setup(rtm) failed.", log)
        self.assertIn("Stopping: the bots could not start.", log)
        self.assertEqual(self.stops, [None])
        self.assertEqual(self.slack.connect_calls, [])

    @inlineCallbacks
    def test_client_gives_up(self) -> Any:
        """A fatal error stops the reactor when asked to, and only then."""
        for stop, expected in [(False, []), (True, [None])]:
            service = yield self.make(Recorder(), stop_reactor_on_failure=stop)
            self.slack.fail_connect("invalid_auth")
            gave_up: Deferred[object] = Deferred()
            service.startService()
            service.rtm.on("disconnected", gave_up.callback)
            yield gave_up
            self.assertEqual(self.stops, expected)
            yield service.stopService()

    @inlineCallbacks
    def test_restart(self) -> Any:
        """A service started again runs a new client, set up anew."""
        bot = Recorder()
        service = yield self.make(bot)
        for _ in range(2):
            connected = self.slack.wait_for_connections(1)
            service.startService()
            yield connected
            yield service.stopService()
        self.assertEqual(len(bot.calls), 2)
        self.assertIsNot(bot.calls[0][0], bot.calls[1][0])

    def test_token_or_demo(self) -> None:
        """A service needs a token, or demo=True, and not both."""
        self.assertRaises(ValueError, BotService, None)
        self.assertRaises(ValueError, BotService, "xoxb-1", demo=True)

    @inlineCallbacks
    def test_make_service(self) -> Any:
        """makeService() runs what the options name; no log line shows the token."""
        log = capture_log(self)
        install_bot_modules(self)
        self.slack = yield FakeSlack.listen(self)
        options = Options(environ={"SLACK_BOT_TOKEN": self.slack.token})
        options.parseOptions(["--slack-api-url", self.slack.api_url, "--bot", "tap_good_bot"])
        service = makeService(options)
        self.assertIsInstance(service, MultiService)
        connected = self.slack.wait_for_connections(1)
        service.startService()
        yield connected
        yield service.stopService()
        self.assertIn("Setting up bot tap_good_bot.", log)
        self.assertIn("Disconnected.", log)
        self.assertFalse([line for line in log if self.slack.token in line])


class EmbeddingTests(TestCase):
    """An L{RTMClient} is a service of its own, for any service tree."""

    @inlineCallbacks
    def test_client_in_a_multiservice(self) -> Any:
        """
        Starting the parent connects the client; stopping it closes the WebSocket cleanly
        and fires once the client is disconnected.
        """
        closes = Closes(self)
        slack = yield FakeSlack.listen(self)
        rtm = slack.client(proxy=False)
        self.addCleanup(rtm.disconnect)
        parent = MultiService()
        rtm.setServiceParent(parent)
        parent.startService()
        yield until_ready(rtm)
        closed = closes.next()
        yield parent.stopService()
        self.assertEqual(rtm.state, "disconnected")
        yield closed
        self.assertEqual(closes.seen, [(True, 1000)])
        self.assertEqual(len(slack.connect_calls), 1)


class DemoTests(TestCase):
    """C{--demo}: the bots talk with a scripted person on a fake Slack."""

    @inlineCallbacks
    def test_conversation(self) -> Any:
        """The person says a line every 3 seconds; the log shows it, and the bot's echo."""
        log = capture_log(self)
        clock = Clock()
        bots = [load_bot("txslackrtm.examples.echo")]
        service = BotService(None, bots, demo=True, reactor=clocked_reactor(clock))
        service.startService()
        yield service.workspace.slack.wait_for_connections(1)
        answered: Deferred[None] = Deferred()

        def watch(event: LogEvent) -> None:
            if "U0BOT (bot): Hello, is anybody there?" in formatEvent(event):
                answered.callback(None)

        globalLogPublisher.addObserver(watch)
        self.addCleanup(globalLogPublisher.removeObserver, watch)
        clock.advance(3)
        self.assertIn("C1 | U1 (person): Hello, is anybody there?", log)
        yield answered.addTimeout(10, reactor)
        yield service.stopService()
        self.assertIsNone(service.workspace)
        self.assertEqual(service.rtm.state, "disconnected")
        self.assertEqual(clock.getDelayedCalls(), [])

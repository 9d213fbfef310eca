"""
End-to-end tests with real processes: C{twistd slackrtm} (the checkout's plugin and package)
against a fake Slack that the test runs, and C{python -m txslackrtm.examples.demo}.

Every wait is bounded on the real reactor, and a process still running when a test ends is
killed, so that a broken build fails instead of hanging.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from pathlib import Path
from typing import Any

from twisted.internet import reactor
from twisted.internet.defer import Deferred, inlineCallbacks
from twisted.internet.error import ProcessDone, ProcessExitedAlready, ProcessTerminated
from twisted.internet.protocol import ProcessProtocol
from twisted.python.failure import Failure
from twisted.trial.unittest import TestCase

import txslackrtm
from txslackrtm.testing import FakeSlack

from .test_tap import Closes

SECRET = "xoxb-1234-secret-do-not-print"

#: Seconds any one wait may take: starting Python and twistd included.
PATIENCE = 20

#: Runs twistd as its console script does; C{python -m twisted.scripts.twistd} does nothing.
TWISTD = [sys.executable, "-c", "from twisted.scripts.twistd import run; run()"]

#: Environment variables that would send the child's connections elsewhere.
UNWANTED = ("SLACK_BOT_TOKEN", "HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy")


def plugin_path(testcase: TestCase) -> str:
    """
    A directory for the child's C{PYTHONPATH} holding the package under test and the
    checkout's dropin (links to both), so that the child runs this code whatever is installed,
    and Twisted's C{dropin.cache} is written here rather than into the checkout.
    """
    package = Path(txslackrtm.__file__).resolve().parent
    dropin = package.parent / "twisted" / "plugins" / "txslackrtm_plugin.py"
    root = Path(testcase.mktemp()).resolve()
    (root / "twisted" / "plugins").mkdir(parents=True)
    (root / "txslackrtm").symlink_to(package, target_is_directory=True)
    (root / "twisted" / "plugins" / dropin.name).symlink_to(dropin)
    return str(root)


class Child(ProcessProtocol):
    """A child process: its output so far, and how it ended."""

    def __init__(self) -> None:
        self.output = b""
        self.reason: ProcessDone | ProcessTerminated | None = None
        self._ended: list[Deferred[None]] = []
        self._lines: list[tuple[bytes, Deferred[None]]] = []

    @property
    def text(self) -> str:
        return self.output.decode("utf-8", "replace")

    def outReceived(self, data: bytes) -> None:
        self.output += data
        waiting = [(text, d) for text, d in self._lines if text in self.output]
        for item in waiting:
            self._lines.remove(item)
            item[1].callback(None)

    errReceived = outReceived

    def processEnded(self, reason: Failure) -> None:
        self.reason = reason.value
        ended, self._ended = self._ended, []
        for waiter in ended:
            waiter.callback(None)

    def said(self, text: str) -> Deferred[None]:
        """Fire once the output contains C{text}."""
        waiter: Deferred[None] = Deferred()
        if text.encode() in self.output:
            waiter.callback(None)
        else:
            self._lines.append((text.encode(), waiter))
        return waiter

    def ended(self) -> Deferred[None]:
        """Fire once the process has ended and its output is all read."""
        waiter: Deferred[None] = Deferred()
        if self.reason is None:
            self._ended.append(waiter)
        else:
            waiter.callback(None)
        return waiter


class ProcessTestCase(TestCase):
    """Spawns children with the code under test on their path, and never leaves one behind."""

    timeout = 30

    def spawn(self, *argv: str, **environ: str) -> Child:
        env = {k: v for k, v in os.environ.items() if k not in UNWANTED}
        env.update(environ)
        env["PYTHONPATH"] = os.pathsep.join(
            filter(None, [plugin_path(self), os.environ.get("PYTHONPATH")])
        )
        child = Child()
        workdir = self.mktemp()
        os.mkdir(workdir)
        reactor.spawnProcess(child, argv[0], list(argv), env=env, path=workdir)
        self.addCleanup(self._reap, child)
        return child

    def _reap(self, child: Child) -> Deferred[None]:
        if child.reason is None:
            # Not "suppress" at module level: trial reads that name as a test setting.
            with contextlib.suppress(ProcessExitedAlready):
                child.transport.signalProcess("KILL")
        return child.ended()

    def within(self, waiting: Deferred[Any], child: Child, what: str) -> Deferred[Any]:
        """C{waiting}, failing the test with the child's output if it takes too long."""

        def too_slow(failure: Failure) -> None:
            self.fail(f"Waited {PATIENCE} s for {what}; the output so far:\n{child.text}")

        return waiting.addTimeout(PATIENCE, reactor).addErrback(too_slow)

    def last_line(self, child: Child) -> str:
        return child.text.strip().splitlines()[-1]

    def assert_refused(self, twistd: Child, ending: str) -> None:
        """twistd ended with status 1, its last line ending with C{ending}."""
        self.assertIsInstance(twistd.reason, ProcessTerminated)
        self.assertEqual(twistd.reason.exitCode, 1)
        self.assertTrue(self.last_line(twistd).endswith(ending), twistd.text)


class TwistdTests(ProcessTestCase):
    """C{twistd slackrtm}, as a user runs it."""

    @inlineCallbacks
    def test_sigterm_disconnects_cleanly(self) -> Any:
        """
        A bot under C{twistd -n} connects; SIGTERM closes its WebSocket cleanly, the log says
        it disconnected, and twistd shuts down normally.
        """
        slack = yield FakeSlack.listen(self)
        closes = Closes(self)
        closed = closes.next()
        twistd = self.spawn(
            *TWISTD,
            "-n",
            "--pidfile=",
            "slackrtm",
            "--slack-api-url",
            slack.api_url,
            "--bot",
            "txslackrtm.examples.echo",
            SLACK_BOT_TOKEN=slack.token,
        )
        yield self.within(twistd.said("Connected to Slack as"), twistd, "the bot to connect")
        self.assertEqual(slack.connections, 1)
        twistd.transport.signalProcess("TERM")
        yield self.within(twistd.ended(), twistd, "twistd to stop")
        yield self.within(closed, twistd, "the fake to see the WebSocket close")
        self.assertEqual(closes.seen, [(True, 1000)])
        self.assertIn("[txslackrtm#info] Disconnected.", twistd.text)
        self.assertIn("Server Shut Down.", twistd.text)
        self.assertNotIn(slack.token, twistd.text)
        # Once shut down, twistd ends itself with the signal it got, so that its parent
        # knows why it stopped (Twisted 26.10; older versions exit with status 0).
        if isinstance(twistd.reason, ProcessTerminated):
            self.assertEqual(
                (twistd.reason.exitCode, twistd.reason.signal), (None, signal.SIGTERM)
            )
        else:
            self.assertIsInstance(twistd.reason, ProcessDone)

    @inlineCallbacks
    def test_unknown_bot(self) -> Any:
        """An unknown --bot stops twistd with status 1 and one clear line; nothing connects."""
        slack = yield FakeSlack.listen(self)
        twistd = self.spawn(
            *TWISTD,
            "-n",
            "slackrtm",
            f"--slack-api-url={slack.api_url}",
            "--bot=no_such_bot_module",
            SLACK_BOT_TOKEN=SECRET,
        )
        yield self.within(twistd.ended(), twistd, "twistd to refuse the option")
        self.assert_refused(
            twistd,
            ": --bot no_such_bot_module: no module named 'no_such_bot_module' "
            "(is it installed, or on PYTHONPATH?).",
        )
        self.assertNotIn(SECRET, twistd.text)
        self.assertEqual(slack.connect_calls, [])

    @inlineCallbacks
    def test_no_token(self) -> Any:
        """Without a token twistd stops with status 1, saying where a token goes."""
        twistd = self.spawn(*TWISTD, "-n", "slackrtm", "--bot", "txslackrtm.examples.echo")
        yield self.within(twistd.ended(), twistd, "twistd to refuse to start")
        self.assert_refused(
            twistd,
            ": No Slack token: set SLACK_BOT_TOKEN or pass --token-file PATH "
            "(or try --demo, which needs none).",
        )

    @inlineCallbacks
    def test_listed(self) -> Any:
        """C{twistd --help} lists the slackrtm command."""
        twistd = self.spawn(*TWISTD, "--help")
        yield self.within(twistd.ended(), twistd, "twistd --help")
        self.assertIn("slackrtm", twistd.text)
        self.assertIn("Run Slack bots on the Real Time Messaging API.", twistd.text)


class DemoScriptTests(ProcessTestCase):
    """C{python -m txslackrtm.examples.demo}, the README's quick start."""

    @inlineCallbacks
    def test_runs_for_seconds(self) -> Any:
        """With C{--seconds 4}, a person talks, the bot answers, and it exits 0."""
        demo = self.spawn(sys.executable, "-m", "txslackrtm.examples.demo", "--seconds", "4")
        yield self.within(demo.ended(), demo, "the demo to finish")
        self.assertIsInstance(demo.reason, ProcessDone, demo.text)
        self.assertIn("C1 | U1 (person): Hello, is anybody there?", demo.text)
        self.assertIn("C1 | U0BOT (bot): Hello, is anybody there?", demo.text)
        self.assertIn("Disconnected.", demo.text)

"""
Tests for L{txslackrtm.buildbot}, in Buildbot's fake master (real reactor) against the fake
Slack. Skipped without Buildbot: run them with C{tox -e buildbot}.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any
from unittest import mock

from twisted.internet.defer import ensureDeferred, inlineCallbacks
from twisted.trial.unittest import SynchronousTestCase, TestCase

from txslackrtm import RTMClient
from txslackrtm.testing import FakeSlack

from .test_tap import Closes, until_ready

try:
    import buildbot  # noqa: F401
except ImportError:
    skip = "Buildbot is not installed: pip install 'txslackrtm[buildbot]', or tox -e buildbot."
else:
    from buildbot.config import ConfigErrors
    from buildbot.process.properties import Interpolate, Secret
    from buildbot.test.fake.fakemaster import make_master

    from txslackrtm.buildbot import SlackRTMService


class ImportTests(SynchronousTestCase):
    """Without Buildbot, importing the module says what to install."""

    skip = None  # runs with or without Buildbot

    def test_without_buildbot(self) -> None:
        """The ImportError names the extra to install."""
        with mock.patch.dict(sys.modules):
            sys.modules.pop("txslackrtm.buildbot", None)
            sys.modules["buildbot"] = None  # type: ignore[assignment]
            error = self.assertRaises(ImportError, importlib.import_module, "txslackrtm.buildbot")
        self.assertIn("pip install 'txslackrtm[buildbot]'", str(error))


class Recorder:
    """A bot that records the clients it is set up on."""

    def __init__(self) -> None:
        self.clients: list[RTMClient] = []

    def setup(self, rtm: RTMClient) -> None:
        self.clients.append(rtm)


class SlackRTMServiceTests(TestCase):
    """The service in a fake master, reconfigured as C{buildbot reconfig} does."""

    @inlineCallbacks
    def start(self, **options: Any) -> Any:
        """A fake Slack, a fake master whose secret is its token, and a connected service."""
        self.slack = yield FakeSlack.listen(self)
        self.closes = Closes(self)
        self.master = yield ensureDeferred(
            make_master(self, wantRealReactor=True, with_secrets={"slack_token": self.slack.token})
        )
        self.bot = Recorder()
        self.options = {"slack_api_url": self.slack.api_url, "proxy": False, **options}
        service = SlackRTMService(
            token=Interpolate("%(secret:slack_token)s"), bots=[self.bot.setup], **self.options
        )
        yield service.setServiceParent(self.master)
        yield self.master.startService()
        self.addCleanup(lambda: self.master.running and self.master.stopService())
        yield until_ready(self.bot.clients[0])
        return service

    def sibling(self, **changes: Any) -> Any:
        """The service as a reloaded C{master.cfg} would make it, with C{changes}."""
        arguments: dict[str, Any] = {
            "token": Secret("slack_token"),
            "bots": [self.bot.setup],
            **self.options,
        }
        arguments.update(changes)
        return SlackRTMService(**arguments)

    @inlineCallbacks
    def test_starts_with_the_secret(self) -> Any:
        """Started with the master, the service connects with the rendered secret."""
        service = yield self.start()
        self.assertEqual(service.name, "slackrtm")
        self.assertEqual(len(self.bot.clients), 1)
        self.assertEqual(self.slack.connections, 1)
        self.assertIs(service.bot_service.rtm, self.bot.clients[0])

    @inlineCallbacks
    def test_reconfig_unchanged(self) -> Any:
        """A reconfig whose arguments render the same keeps the connection."""
        service = yield self.start()
        running = service.bot_service
        yield service.reconfigServiceWithSibling(self.sibling())
        yield service.reconfigServiceWithSibling(self.sibling(token=self.slack.token))
        self.assertIs(service.bot_service, running)
        self.assertEqual(len(self.slack.connect_calls), 1)
        self.assertEqual(len(self.bot.clients), 1)
        self.assertEqual(self.closes.seen, [])

    @inlineCallbacks
    def test_reconfig_changed(self) -> Any:
        """A changed argument closes the connection cleanly and connects anew."""
        service = yield self.start()
        closed = self.closes.next()
        connected = self.slack.wait_for_connections(1)
        yield service.reconfigServiceWithSibling(self.sibling(log_level="debug"))
        yield closed
        yield connected
        self.assertEqual(self.closes.seen, [(True, 1000)])
        self.assertEqual(len(self.slack.connect_calls), 2)
        self.assertEqual(len(self.bot.clients), 2)
        self.assertEqual(self.bot.clients[0].state, "disconnected")

    @inlineCallbacks
    def test_stops_with_the_master(self) -> Any:
        """Stopping the master disconnects cleanly and waits for it."""
        yield self.start()
        closed = self.closes.next()
        yield self.master.stopService()
        self.assertEqual(self.bot.clients[0].state, "disconnected")
        yield closed
        self.assertEqual(self.closes.seen, [(True, 1000)])

    def test_config_errors(self) -> None:
        """Each mistake is a configuration error, found before anything connects."""
        bad: list[dict[str, Any]] = [
            {"token": 3},
            {"token": " "},
            {"token": "xoxb-1", "bots": "mybot"},
            {"token": "xoxb-1", "bots": ["no_such_bot_module"]},
            {"token": "xoxb-1", "bots": [3]},
            {"token": "xoxb-1", "reactor": object()},
            {"token": "xoxb-1", "colour": "red"},
            {"token": "xoxb-1", "log_level": "loud"},
        ]
        for arguments in bad:
            error = self.assertRaises(ConfigErrors, SlackRTMService, **arguments)
            self.assertTrue(all(e.startswith("SlackRTMService: ") for e in error.errors))
        good = SlackRTMService(
            token=Secret("slack_token"),
            bots=["txslackrtm.examples.echo", Recorder().setup],
            log_level="debug",
            name="second-bot",
        )
        self.assertEqual(good.name, "second-bot")

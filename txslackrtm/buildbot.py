# -*- test-case-name: tests.test_buildbot -*-
"""
Slack bots inside a Buildbot master: L{SlackRTMService}, for C{c['services']}.

Install it with C{pip install 'txslackrtm[buildbot]'}; in C{master.cfg}::

    from buildbot.plugins import util
    from txslackrtm.buildbot import SlackRTMService

    c["services"].append(
        SlackRTMService(
            token=util.Secret("slack_token"),
            bots=["mycompany.slackbot"],
        )
    )

The token is rendered through Buildbot's secrets, so it never has to be written in
C{master.cfg}. A C{buildbot reconfig} that changes nothing about the service leaves its
connection alone; a change reconnects with the new settings.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

try:
    from buildbot import config  # type: ignore[import-not-found, import-untyped, unused-ignore]
    from buildbot.interfaces import IRenderable  # type: ignore[import-not-found, import-untyped, unused-ignore]
    from buildbot.util import service  # type: ignore[import-not-found, import-untyped, unused-ignore]
except ImportError as error:
    raise ImportError(
        f"txslackrtm.buildbot needs Buildbot ({error}): pip install 'txslackrtm[buildbot]'"
    ) from error

from twisted.internet.defer import inlineCallbacks

from ._client import RTMClient
from .tap import Bot, BotService, check_client_options, load_bot


def _bots(bots: Iterable[str | Callable[[RTMClient], object]]) -> list[Bot]:
    """
    The bots named by C{bots}: module names (imported) or C{setup(rtm)} functions.

    @raise ValueError: one line saying what is wrong with which bot.
    """
    if isinstance(bots, str):
        raise ValueError(f"bots must be a list of bots, not the string {bots!r}")
    loaded = []
    for bot in bots:
        if isinstance(bot, str):
            loaded.append(load_bot(bot))
        elif callable(bot):
            loaded.append(Bot(getattr(bot, "__qualname__", repr(bot)), bot))
        else:
            raise ValueError(f"each bot must be a module name or a setup(rtm) function: {bot!r}")
    return loaded


class SlackRTMService(service.BuildbotService):  # type: ignore[misc]
    """
    A Slack RTM connection running bots, as a Buildbot service.

    Arguments, as for C{twistd slackrtm} (see L{txslackrtm.tap}):

      - C{token}: the bot token; pass a secret (C{util.Secret("slack_token")} or
        C{util.Interpolate("%(secret:slack_token)s")}), which Buildbot renders when the
        service starts and on every reconfig.
      - C{bots}: the bots, each a module name (C{"mycompany.slackbot"}) or a C{setup(rtm)}
        function. A function defined in C{master.cfg} is a new object on every reconfig,
        so the service reconnects each time; module names avoid that.
      - any other keyword is an L{RTMClient} option (C{log_level}, C{auto_reconnect},
        C{proxy}, C{tls}...), except C{reactor}: the service uses the master's.
      - C{name}: the service's name in Buildbot, C{"slackrtm"} by default; give each
        service its own when there are several.

    Configuration mistakes are reported when C{master.cfg} is checked, before anything
    connects.

    @ivar bot_service: the L{BotService} running now, a child of this service; C{None}
        before the first configuration.
    """

    name = "slackrtm"
    bot_service: BotService | None = None
    _configured: tuple[object, tuple[object, ...], dict[str, Any]] | None = None

    def checkConfig(
        self,
        token: object,
        bots: Iterable[str | Callable[[RTMClient], object]] = (),
        **client_options: Any,
    ) -> None:
        """
        Check the arguments, without connecting; each problem is a C{config.error}.
        """
        if not ((isinstance(token, str) and token.strip()) or IRenderable.providedBy(token)):
            config.error(
                "SlackRTMService: token must be a secret, such as util.Secret('slack_token')"
            )
        try:
            _bots(bots)
        except ValueError as error:
            config.error(f"SlackRTMService: {error}")
        if "reactor" in client_options:
            config.error("SlackRTMService: reactor cannot be set; the master's is used")
        options = {k: v for k, v in client_options.items() if k != "reactor"}
        try:
            check_client_options(options)
        except (TypeError, ValueError) as error:
            config.error(f"SlackRTMService: {error}")

    @inlineCallbacks
    def reconfigService(
        self,
        token: object,
        bots: Iterable[str | Callable[[RTMClient], object]] = (),
        **client_options: Any,
    ) -> Any:
        """
        Render the token, and reconnect when anything changed since the last configuration.
        """
        rendered = yield self.renderSecrets(token)
        bots = tuple(bots)
        wanted = (rendered, bots, client_options)
        if wanted == self._configured:
            return None
        if self.bot_service is not None:
            yield self.bot_service.disownServiceParent()  # type: ignore[no-untyped-call]
        self.bot_service = BotService(
            rendered, _bots(bots), client_options, reactor=self.master.reactor
        )
        self._configured = wanted
        self.bot_service.setServiceParent(self)  # type: ignore[no-untyped-call]
        return None

# -*- test-case-name: tests.test_tap -*-
"""
C{twistd slackrtm}: run Slack bots as a Twisted service, with twistd's logging, daemonising
and clean shutdown.

A bot is a module with a C{setup(rtm)} function that registers listeners on the
L{RTMClient} it is given (and may return a Deferred, to finish setting up asynchronously)::

    # mybot.py
    def setup(rtm):
        def hello(event):
            if event.get("user") != rtm.active_user_id and event.get("text") == "hi":
                return rtm.send_message("Hello!", event["channel"])
            return None

        rtm.on("message", hello)

Run it in the foreground, with the token in a file that only its owner can read::

    twistd -n slackrtm --token-file ~/.slack-token --bot mybot

or with no token at all, against a fake Slack on loopback::

    twistd -n slackrtm --demo --bot mybot

The plugin (C{twisted/plugins/txslackrtm_plugin.py}) names L{Options} and L{makeService};
L{BotService}, L{Bot} and L{load_bot} serve other launchers too (a C{.tac} file, the Buildbot
service in L{txslackrtm.buildbot}).
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable, Mapping, Sequence
from contextlib import suppress
from dataclasses import dataclass
from typing import Any

from twisted.application.service import MultiService
from twisted.internet.defer import (
    CancelledError,
    Deferred,
    FirstError,
    gatherResults,
    maybeDeferred,
)
from twisted.internet.error import ReactorNotRunning
from twisted.internet.task import Clock
from twisted.logger import Logger
from twisted.python import usage
from twisted.python.failure import Failure

from ._client import RTMClient
from ._demo import DemoWorkspace
from ._errors import SlackRTMError

#: The environment variable that holds the token when no option gives one.
TOKEN_VARIABLE = "SLACK_BOT_TOKEN"

#: Command-line options that make no sense with C{--demo}, which brings its own Slack.
_NOT_WITH_DEMO = ("token", "token-file", "slack-api-url", "ca-file", "proxy")


@dataclass(frozen=True)
class Bot:
    """
    A bot: a function that registers listeners on a client, and a name for log lines.

    @ivar name: what log lines call the bot, such as its module's name.
    @ivar setup: C{setup(rtm)}, called once with the L{RTMClient} before it starts; it may
        return a Deferred (or be a coroutine function), which is waited for.
    """

    name: str
    setup: Callable[[RTMClient], object]


def load_bot(module_name: str) -> Bot:
    """
    Import a bot module and find its C{setup(rtm)} function.

    @param module_name: a dotted module name, such as C{txslackrtm.examples.echo}.
    @raise ValueError: when the name is not a module name, the module cannot be imported
        or has no callable C{setup}; the message is one line that says which.
    """
    if not module_name or not all(part.isidentifier() for part in module_name.split(".")):
        raise ValueError(f"--bot {module_name!r} is not a module name (like mypackage.mybot).")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        if error.name is not None and (module_name + ".").startswith(error.name + "."):
            raise ValueError(
                f"--bot {module_name}: no module named {error.name!r} "
                "(is it installed, or on PYTHONPATH?)."
            ) from None
        raise ValueError(f"--bot {module_name}: importing it failed: {_one_line(error)}") from None
    except Exception as error:
        raise ValueError(f"--bot {module_name}: importing it failed: {_one_line(error)}") from None
    setup = getattr(module, "setup", None)
    if not callable(setup):
        raise ValueError(f"--bot {module_name}: the module has no setup(rtm) function.")
    return Bot(module_name, setup)


def _one_line(error: BaseException) -> str:
    return " ".join(f"{type(error).__name__}: {error}".split())


def check_client_options(options: Mapping[str, Any]) -> None:
    """
    Check L{RTMClient} options as its constructor does, without connecting anything.

    The check builds (and throws away) a client on a L{Clock}, so it accepts exactly what
    the real client will: it cannot drift from the client's own rules.

    @param options: keyword arguments for L{RTMClient}, the token and C{reactor} aside.
    @raise TypeError: for an unknown option or a value of the wrong type (named).
    @raise ValueError: for a wrong value (named), including a malformed C{HTTPS_PROXY}.
    """
    RTMClient("xoxb-options-check", reactor=Clock(), **options)


class _Secret:
    """A token, kept out of every C{repr} and C{str}, so that no log line can show it."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """The token itself: for the client, and nothing else."""
        return self._value

    def __repr__(self) -> str:
        return "<token hidden>"

    __str__ = __repr__


class Options(usage.Options):
    """
    The command line of C{twistd slackrtm}; every mistake is a one-line L{usage.UsageError},
    raised before anything connects.

    After parsing: C{self["token"]} hides the token (C{None} for C{--demo}), L{bots} are the
    loaded bots and L{client_options} the L{RTMClient} keyword arguments.
    """

    synopsis = "[slackrtm options]"
    longdesc = (
        "Connect to Slack's Real Time Messaging API and run bots: modules with a setup(rtm) "
        "function. The token comes from --token-file or SLACK_BOT_TOKEN (or --token, which "
        "other users of the machine can see). Try it with no token: "
        "twistd -n slackrtm --demo --bot txslackrtm.examples.echo"
    )
    optFlags = [
        [
            "demo",
            None,
            "Talk to a fake Slack on 127.0.0.1 instead, where a scripted person talks in C1: "
            "no token, no network. Runs txslackrtm.examples.echo unless --bot is given.",
        ],
        [
            "no-auto-reconnect",
            None,
            "Do not rebuild a lost connection: stop instead (for a supervisor to restart).",
        ],
    ]
    optParameters = [
        [
            "token-file",
            None,
            None,
            "Read the bot token (xoxb-...) from this file, where it is alone on one line.",
        ],
        ["slack-api-url", None, None, "The Web API prefix [default: https://slack.com/api/]."],
        ["log-level", None, "info", "How much the client logs: debug, info, warn or error."],
        [
            "ca-file",
            None,
            None,
            "Trust the certificate authorities in this PEM file instead of the system's.",
        ],
        [
            "proxy",
            None,
            None,
            "Reach Slack through this proxy, http://[user:password@]host:port "
            "[default: HTTPS_PROXY from the environment].",
        ],
    ]
    #: The bots, loaded by L{postOptions}.
    bots: list[Bot]
    #: Keyword arguments for L{RTMClient}, checked by L{postOptions}.
    client_options: dict[str, Any]

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        """
        @param environ: where C{SLACK_BOT_TOKEN} is read; L{os.environ} by default.
        """
        super().__init__()  # type: ignore[no-untyped-call]
        self._environ = os.environ if environ is None else environ
        self["token"] = None
        self["bot"] = []
        self.bots = []
        self.client_options = {}

    def opt_token(self, token: str) -> None:
        """The bot token (xoxb-...); prefer --token-file or SLACK_BOT_TOKEN: ps shows it."""
        self["token"] = _Secret(token)

    def opt_bot(self, module: str) -> None:
        """A bot module with a setup(rtm) function, such as mypackage.mybot; repeatable."""
        self["bot"].append(module)

    def postOptions(self) -> None:
        """Check everything, read the token and load the bots, or raise a L{UsageError}."""
        if self["demo"]:
            given = [f"--{name}" for name in _NOT_WITH_DEMO if self[name] is not None]
            if given:
                dropped = ", ".join(given)
                raise usage.UsageError(
                    f"--demo brings its own fake Slack and needs no token: drop {dropped}."
                )
        else:
            self["token"] = _Secret(self._read_token())
        self.bots = self._load_bots()
        self.client_options = self._client_options()
        try:
            check_client_options(self.client_options)
        except (TypeError, ValueError) as error:
            raise usage.UsageError(str(error)) from None

    def _read_token(self) -> str:
        given: _Secret | None = self["token"]
        path: str | None = self["token-file"]
        if given is not None and path is not None:
            raise usage.UsageError("Both --token and --token-file give a token: pass only one.")
        if given is not None:
            token, source = given.reveal().strip(), "--token"
        elif path is not None:
            token, source = self._read_file(path, "token-file").strip(), f"--token-file {path}"
        elif self._environ.get(TOKEN_VARIABLE, "").strip():
            token, source = self._environ[TOKEN_VARIABLE].strip(), TOKEN_VARIABLE
        else:
            raise usage.UsageError(
                f"No Slack token: set {TOKEN_VARIABLE} or pass --token-file PATH "
                "(or try --demo, which needs none)."
            )
        if not token:
            raise usage.UsageError(f"{source}: the token is empty.")
        if len(token.split()) > 1:
            raise usage.UsageError(
                f"{source}: that is not one token (it has spaces or several lines)."
            )
        return token

    def _read_file(self, path: str, option: str) -> str:
        try:
            with open(path, encoding="utf-8") as file:
                return file.read()
        except OSError as error:
            raise usage.UsageError(
                f"--{option} {path}: cannot read it ({error.strerror})."
            ) from None
        except UnicodeDecodeError:
            raise usage.UsageError(f"--{option} {path}: it is not UTF-8 text.") from None

    def _load_bots(self) -> list[Bot]:
        names: list[str] = self["bot"] or (["txslackrtm.examples.echo"] if self["demo"] else [])
        bots = []
        for name in names:
            if names.count(name) > 1:
                raise usage.UsageError(f"--bot {name} is given twice.")
            try:
                bots.append(load_bot(name))
            except ValueError as error:
                raise usage.UsageError(str(error)) from None
        return bots

    def _client_options(self) -> dict[str, Any]:
        options: dict[str, Any] = {
            "auto_reconnect": not self["no-auto-reconnect"],
            "log_level": self["log-level"],
        }
        if self["slack-api-url"] is not None:
            options["slack_api_url"] = self["slack-api-url"]
        if self["proxy"] is not None:
            options["proxy"] = self["proxy"]
        if self["ca-file"] is not None:
            authorities = self._read_file(self["ca-file"], "ca-file")
            if "-----BEGIN CERTIFICATE-----" not in authorities:
                raise usage.UsageError(f"--ca-file {self['ca-file']}: no PEM certificate in it.")
            options["tls"] = {"ca": authorities}
        return options


class BotService(MultiService):
    """
    Bots on one L{RTMClient}, as a Twisted service: what C{twistd slackrtm} runs, and what a
    C{.tac} file or an application's service tree can run too.

    Starting the service builds the client, calls every bot's C{setup(rtm)} once, waits for
    the Deferreds they return, and only then starts the client, as a child service named
    C{"rtm"}. Stopping it disconnects, and the Deferred it returns fires once the client is
    C{disconnected}: Twisted waits for it at shutdown, so the WebSocket is closed properly.

    >>> service = BotService(token, [load_bot("mybot")])
    >>> service.setServiceParent(application)

    @ivar rtm: the client of the last start; C{None} before the first.
    @ivar workspace: the L{DemoWorkspace<txslackrtm._demo.DemoWorkspace>} while a demo runs.
    """

    _log = Logger()

    def __init__(
        self,
        token: str | None,
        bots: Sequence[Bot] = (),
        client_options: Mapping[str, Any] | None = None,
        *,
        demo: bool = False,
        stop_reactor_on_failure: bool = False,
        reactor: Any = None,
    ) -> None:
        """
        @param token: the bot token; C{None} with C{demo}.
        @param bots: the bots, set up in this order (all at once: none waits for another).
        @param client_options: keyword arguments for L{RTMClient}, such as C{log_level} or
            C{auto_reconnect}; check them first with L{check_client_options}.
        @param demo: talk to a L{DemoWorkspace<txslackrtm._demo.DemoWorkspace>} on loopback
            instead of Slack: its token and URL replace C{token} and C{slack_api_url}.
        @param stop_reactor_on_failure: stop the reactor when the bots cannot be set up or
            the client gives up (a fatal error such as C{invalid_auth}, or a lost connection
            without C{auto_reconnect}), so that a process that can do nothing more ends;
            C{twistd slackrtm} sets it, an application embedding the service should not.
        @param reactor: the reactor for the client, the demo and timers; the global one by
            default, looked up when the service starts.
        @raise ValueError: without a token (outside a demo), or with one in a demo.
        """
        super().__init__()  # type: ignore[no-untyped-call]
        if demo != (token is None):
            raise ValueError("Give a token, or demo=True, but not both.")
        self._token = token
        self._bots = tuple(bots)
        self._client_options = dict(client_options or {})
        self._demo = demo
        self._stop_reactor_on_failure = stop_reactor_on_failure
        self._reactor = reactor
        self._starting: Deferred[None] | None = None
        self.rtm: RTMClient | None = None
        self.workspace: DemoWorkspace | None = None

    def startService(self) -> None:
        """Set the bots up, then start the client; failures are logged."""
        super().startService()  # type: ignore[no-untyped-call]
        if self._reactor is None:
            from twisted.internet import reactor

            self._reactor = reactor
        self._starting = Deferred.fromCoroutine(self._start())
        self._starting.addErrback(self._start_failed)

    async def _start(self) -> None:
        token, options = self._token, dict(self._client_options)
        if self._demo:
            self.workspace = await DemoWorkspace.listen(self._reactor)
            token = self.workspace.token
            options.update(slack_api_url=self.workspace.api_url, proxy=False)
        assert token is not None  # __init__ insists on a token outside a demo
        rtm = self.rtm = RTMClient(token, reactor=self._reactor, **options)
        rtm.on("disconnected", self._client_disconnected)
        await gatherResults([self._set_up(bot, rtm) for bot in self._bots], consumeErrors=True)
        rtm.setName("rtm")  # type: ignore[no-untyped-call]
        # The service is running, so this starts the client.
        rtm.setServiceParent(self)  # type: ignore[no-untyped-call]
        if self.workspace is not None:
            self.workspace.start_talking()

    def _set_up(self, bot: Bot, rtm: RTMClient) -> Deferred[object]:
        self._log.info("Setting up bot {bot}.", bot=bot.name)
        setting = maybeDeferred(bot.setup, rtm)
        setting.addErrback(self._setup_failed, bot)
        return setting

    def _setup_failed(self, failure: Failure, bot: Bot) -> Failure:
        if not isinstance(failure.value, CancelledError):
            self._log.failure("Bot {bot}: setup(rtm) failed.", failure, bot=bot.name)
        return failure

    def _start_failed(self, failure: Failure) -> None:
        error = failure.value
        cause = error.subFailure.value if isinstance(error, FirstError) else error
        if isinstance(cause, CancelledError):
            return  # stopped while starting: nothing went wrong
        if not isinstance(error, FirstError):  # a failed setup() is logged by _setup_failed
            self._log.failure("The Slack bots could not start.", failure)
        self._give_up("the bots could not start")

    def _client_disconnected(self, error: SlackRTMError | None) -> None:
        if error is not None and self.running:
            self._give_up(f"the Slack client gave up ({error})")

    def _give_up(self, reason: str) -> None:
        if not self._stop_reactor_on_failure:
            return
        self._log.error("Stopping: {reason}.", reason=reason)
        with suppress(ReactorNotRunning):
            self._reactor.stop()

    def stopService(self) -> Deferred[None]:
        """
        Stop setting up, if the bots are still at it, and disconnect.

        @return: a Deferred that fires once the client is C{disconnected} (and a demo's fake
            Slack has stopped).
        """
        return Deferred.fromCoroutine(self._stop())

    async def _stop(self) -> None:
        starting, self._starting = self._starting, None
        if starting is not None:
            starting.cancel()  # harmless once the bots are set up
        workspace, self.workspace = self.workspace, None
        if workspace is not None:
            workspace.stop_talking()
        await super().stopService()  # type: ignore[no-untyped-call]
        if self.rtm is not None and self.rtm.parent is self:
            self.rtm.disownServiceParent()  # type: ignore[no-untyped-call]
        if workspace is not None:
            await workspace.stop()


def makeService(options: Options) -> BotService:
    """
    The service C{twistd slackrtm} runs, from parsed L{Options}.

    Nothing is imported or connected here: L{Options.postOptions} loaded the bots already,
    and the service connects when twistd starts it.
    """
    token: _Secret | None = options["token"]
    return BotService(
        None if token is None else token.reveal(),
        options.bots,
        options.client_options,
        demo=bool(options["demo"]),
        stop_reactor_on_failure=True,
    )

"""
L{RTMClient}: the public face of txslackrtm, and the glue that joins its parts.

The lifecycle (L{txslackrtm._lifecycle}) says which state comes next, the session
(L{txslackrtm._session}) speaks the protocol, the connector (L{txslackrtm._webapi}) makes
the Web API call and the socket (L{txslackrtm._websocket}) carries frames. This module
turns their answers into Deferreds, events, timers and log lines.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any

from twisted.application.service import Service
from twisted.internet.base import DelayedCall
from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.interfaces import IReactorTime
from twisted.python.failure import Failure
from twisted.web.iweb import IAgent

from . import _options as options
from ._errors import (
    InvalidStateError,
    KeepAliveConfigError,
    NoReplyReceivedError,
    RequestError,
    SendMessagePlatformError,
    SendWhileDisconnectedError,
    SendWhileNotReadyError,
    SlackRTMError,
    WebsocketError,
    is_fatal,
    retry_after,
)
from ._lifecycle import Input, Lifecycle, State
from ._listeners import Emitter, Listener
from ._logging import ClientLog, LogLevel, check_logger, parse_level, redact_url
from ._network import Network
from ._pacing import RetryPolicy, TokenBucket, full_jitter_backoff
from ._session import Due, Event, Incoming, Malformed, Session, stdlib_decode
from ._tls import describe_failure, is_certificate_failure
from ._webapi import Connection, RTMConnector, encode_arguments
from ._websocket import RTMSocket, open_socket

#: Seconds from the Web API's answer to C{hello} before the attempt counts as failed.
OPEN_TIMEOUT = 30.0
#: Seconds a graceful close may take before the connection is dropped.
CLOSE_TIMEOUT = 2.0
#: The largest incoming WebSocket message accepted by default, in bytes.
DEFAULT_MAX_INCOMING_BYTES = 4 * 1024 * 1024

_READY = State.READY  # read on every send: a module name is quicker than an Enum member
_LEAVING_STATES = (State.DISCONNECTED, State.DISCONNECTING)
_CONNECTED_STATES = frozenset({State.RESUMING, State.READY})
_AUTHENTICATED_STATES = frozenset({State.AUTHENTICATED, State.HANDSHAKING}) | _CONNECTED_STATES
#: What a reply replayed after a reconnect (a C{message} event) keeps, to look like a reply.
_REPLY_FIELDS = ("reply_to", "ts", "text", "channel")
_UNANSWERED = (
    "The connection closed before Slack acknowledged the message; it may or may not have "
    "been posted, so check before sending it again."
)


@dataclass
class _Outgoing:
    """An event waiting in the outgoing queue for the client to be ready."""

    prepared: str
    await_reply: bool
    deferred: Deferred[Any]


class RTMClient(Service):
    """
    A Slack Real Time Messaging client: connects, keeps the connection alive, reconnects,
    and turns Slack's frames into events and its replies into Deferreds.

    >>> rtm = RTMClient(token)
    >>> @rtm.on("message")
    ... def hear(event): print(event["text"])
    >>> rtm.start()

    It is also a Twisted service: starting the service starts the client, stopping it
    disconnects and waits for C{disconnected}.

    @param token: a bot token (C{xoxb-...}) of a classic Slack app.
    @param slack_api_url: the Web API prefix; a missing trailing C{/} is added.
    @param use_rtm_connect: call C{rtm.connect} when true, C{rtm.start} when false.
    @param auto_reconnect: rebuild every connection lost without C{disconnect()}.
    @param client_ping_timeout: seconds of outgoing silence before a ping.
    @param server_pong_timeout: seconds a ping may wait for its pong before the connection
        is dropped; must be smaller than C{client_ping_timeout}.
    @param reply_ack_on_reconnect_timeout: seconds to wait, after a reconnect, for Slack to
        replay the reply to the last message of the previous connection.
    @param retry_policy: C{(attempt) -> seconds or None}, asked before each consecutive
        failed attempt; C{None} gives up. Default: L{full_jitter_backoff}.
    @param rate_limit: C{(messages_per_second, burst)} for queued outgoing events, or
        C{None} for no pacing.
    @param log_level: a L{LogLevel} or its name.
    @param logger: a custom logger or C{logging.Logger}; default C{twisted.logger}.
    @param tls: TLS material (C{ca}, C{key}, C{cert}, C{pfx}, C{passphrase}) for both the
        Web API call and the WebSocket.
    @param proxy: C{"http://[user:pass@]host:port"}; by default C{HTTPS_PROXY} from the
        environment; C{False} for none.
    @param agent: an C{IAgent} for the Web API call instead of the built-in one.
    @param max_incoming_bytes: the largest incoming message accepted; a larger one drops
        the connection, so a hostile server cannot exhaust memory.
    @param json_loads: decodes each incoming frame's bytes, raising C{ValueError} for what
        is not JSON in UTF-8. The default is the standard library's; C{orjson.loads} (the
        extra C{fast}) is about three times faster, but turns integers beyond 64 bits into
        floats.
    @param reactor: the reactor for every connection and timer; default the global one.
    """

    def __init__(
        self,
        token: str,
        *,
        slack_api_url: str = "https://slack.com/api/",
        use_rtm_connect: bool = True,
        auto_reconnect: bool = True,
        client_ping_timeout: float = 6.0,
        server_pong_timeout: float = 4.0,
        reply_ack_on_reconnect_timeout: float = 2.0,
        retry_policy: RetryPolicy | None = None,
        rate_limit: tuple[float, int] | None = (1.0, 5),
        log_level: LogLevel | str = LogLevel.INFO,
        logger: object | None = None,
        tls: Mapping[str, str | bytes] | None = None,
        proxy: str | bool | None = None,
        agent: IAgent | None = None,
        max_incoming_bytes: int = DEFAULT_MAX_INCOMING_BYTES,
        json_loads: Callable[[bytes], Any] = stdlib_decode,
        reactor: Any = None,
    ) -> None:
        if not isinstance(token, str):
            raise TypeError(f"token must be a string, not {type(token).__name__}")
        if not token.strip():
            raise ValueError("token must not be empty")
        api_url = options.api_url(slack_api_url)
        ping = options.seconds("client_ping_timeout", client_ping_timeout)
        pong = options.seconds("server_pong_timeout", server_pong_timeout)
        if pong >= ping:
            raise KeepAliveConfigError(
                f"server_pong_timeout ({pong:g} s) must be smaller than "
                f"client_ping_timeout ({ping:g} s)."
            )
        resume = options.seconds("reply_ack_on_reconnect_timeout", reply_ack_on_reconnect_timeout)
        if retry_policy is not None and not callable(retry_policy):
            raise TypeError("retry_policy must be a callable (attempt) -> seconds or None")
        pacing = options.rate_limit(rate_limit)
        level = parse_level(log_level)
        if logger is not None:
            check_logger(logger)
        if isinstance(max_incoming_bytes, bool) or not isinstance(max_incoming_bytes, int):
            raise TypeError("max_incoming_bytes must be a whole number of bytes")
        if max_incoming_bytes < 1024:
            raise ValueError(f"max_incoming_bytes must be at least 1024, not {max_incoming_bytes}")
        self.auto_reconnect = options.flag("auto_reconnect", auto_reconnect)
        use_connect = options.flag("use_rtm_connect", use_rtm_connect)
        self._reactor = options.maybe_global_reactor(reactor)
        if not IReactorTime.providedBy(self._reactor):
            raise TypeError(f"reactor must provide IReactorTime, not {self._reactor!r}")
        self._network = Network(self._reactor, tls=tls, proxy=proxy)
        if agent is None:
            agent = self._network.agent()
        elif not IAgent.providedBy(agent):
            raise TypeError(f"agent must provide twisted.web.iweb.IAgent, not {agent!r}")
        self._connector = RTMConnector(agent, api_url, token, use_connect, self._reactor)
        self._retry_policy = retry_policy or full_jitter_backoff()
        self._bucket = None if pacing is None else TokenBucket(*pacing, now=self._now())
        self._max_incoming = max_incoming_bytes
        self._log = ClientLog(level, logger, "txslackrtm:RTMClient")
        self._events = Emitter(self._listener_failed)
        if not callable(json_loads):
            raise TypeError(f"json_loads must be a callable, not {json_loads!r}")
        self._session: Session[Deferred[Any]] = Session(
            ping, pong, resume, OPEN_TIMEOUT, decode=json_loads
        )
        self._lifecycle = Lifecycle(self._entered, self._ignored)
        self._connect_args: dict[str, object] = {}
        self._connection: Connection | None = None
        self._call: Deferred[Connection] | None = None
        self._opening: Deferred[RTMSocket] | None = None
        self._socket: RTMSocket | None = None
        self._timer: DelayedCall | None = None
        self._retry: DelayedCall | None = None
        self._close_timer: DelayedCall | None = None
        self._pacing_timer: DelayedCall | None = None
        self._failures = 0
        self._reached_ready = False
        self._retry_delay = 0.0
        self._queue: deque[_Outgoing] = deque()
        self._effects: deque[Callable[[], object]] = deque()
        self._running_effects = False
        self._start_waiters: list[Deferred[dict[str, Any]]] = []
        self._disconnect_waiters: list[Deferred[None]] = []

    # State, as attributes

    @property
    def state(self) -> str:
        """The lifecycle state, such as C{"connected:ready"}."""
        return self._lifecycle.state.value

    @property
    def connected(self) -> bool:
        """Whether Slack said C{hello} on the current connection."""
        return self._lifecycle.state in _CONNECTED_STATES

    @property
    def authenticated(self) -> bool:
        """Whether the current attempt got a WebSocket URL from the Web API."""
        return self._lifecycle.state in _AUTHENTICATED_STATES

    @property
    def active_user_id(self) -> str | None:
        """The bot's user id while connected; C{None} otherwise."""
        return self._connection.user_id if self.connected and self._connection else None

    @property
    def active_team_id(self) -> str | None:
        """The workspace's id while connected; C{None} otherwise."""
        return self._connection.team_id if self.connected and self._connection else None

    def __repr__(self) -> str:
        return f"<RTMClient state={self.state!r} user={self.active_user_id!r}>"

    # Listeners

    def on(self, event: str, listener: Listener | None = None) -> Any:
        """
        Call C{listener} every time C{event} happens; without a listener, a decorator.

        Events: the lifecycle (C{connecting}, C{authenticated}, C{connected}, C{ready},
        C{disconnecting}, C{reconnecting}, C{disconnected}, C{error},
        C{unable_to_rtm_start}), C{slack_event} with C{(type, event)} for every frame, and
        each frame by its C{type} and by C{"type::subtype"}. A listener may return a
        Deferred or be a coroutine; its failure is logged and harms nothing else.
        """
        return self._events.on(event, listener)

    def once(self, event: str, listener: Listener | None = None) -> Any:
        """Like L{on}, for the next time only."""
        return self._events.once(event, listener)

    def off(self, event: str, listener: Listener | None = None) -> None:
        """Remove C{listener} from C{event}, or all of C{event}'s listeners."""
        self._events.off(event, listener)

    def listener_count(self, event: str | None = None) -> int:
        """How many listeners C{event} (or every event, for C{None}) has."""
        return self._events.listener_count(event)

    # Lifecycle methods

    def start(self, **connect_args: object) -> Deferred[dict[str, Any]]:
        """
        Connect to Slack, and stay connected until L{disconnect}.

        @param connect_args: arguments for C{rtm.connect}, such as
            C{batch_presence_aware=True}; sent again on every reconnect.
        @raise TypeError: a connect argument is not a string, boolean or number.
        @return: a Deferred that fires with the Web API response once authenticated, or
            fails on a fatal error, when retries are exhausted, or on L{disconnect}.
        """
        encode_arguments(connect_args)
        if self._lifecycle.state is not State.DISCONNECTED:
            return fail(
                InvalidStateError(
                    f"start() was called while the client is {self.state}; "
                    "call disconnect() first, or wait for 'disconnected'."
                )
            )
        self._connect_args = dict(connect_args)
        waiter: Deferred[dict[str, Any]] = Deferred()
        self._start_waiters.append(waiter)
        self._log.debug("Starting.")
        self._input(Input.START)
        return waiter

    def disconnect(self) -> Deferred[None]:
        """
        Close the connection, or stop trying to make one, from any state.

        @return: a Deferred that fires with C{None} once C{disconnected}; at once when
            already disconnected.
        """
        if self._lifecycle.state is State.DISCONNECTED:
            return succeed(None)
        waiter: Deferred[None] = Deferred()
        self._disconnect_waiters.append(waiter)
        self._log.debug("Disconnecting on request.")
        self._input(Input.DISCONNECT)
        return waiter

    def startService(self) -> None:
        """Start the client as the service starts; failures to start are logged."""
        super().startService()  # type: ignore[no-untyped-call]
        self.start().addErrback(
            lambda failure: self._log.error(
                "The Slack RTM service could not start: {error}", error=failure.getErrorMessage()
            )
        )

    def stopService(self) -> Deferred[None]:
        """Disconnect as the service stops; the Deferred fires once C{disconnected}."""
        super().stopService()  # type: ignore[no-untyped-call]
        return self.disconnect()

    # Sending

    def send_message(
        self, text: str, conversation_id: str, **extra: object
    ) -> Deferred[dict[str, Any]]:
        """
        Send C{text} to a conversation as the bot.

        @param extra: more fields of the C{message} frame, such as C{thread_ts}.
        @return: a Deferred that fires with Slack's reply (C{ok}, C{reply_to}, C{ts},
            C{text}), or fails with a L{SlackRTMError}: C{SendMessagePlatformError} when
            Slack refused it, C{NoReplyReceivedError} when the connection was lost before the
            reply, C{SendWhileDisconnectedError} when the client is not started.
        """
        if not isinstance(text, str):
            raise TypeError(f"text must be a string, not {type(text).__name__}")
        if not text:
            raise ValueError("text must not be empty: Slack refuses empty messages")
        body = {**extra, "text": text, "channel": options.channel(conversation_id)}
        return self.add_outgoing_event(True, "message", body)  # type: ignore[return-value]

    def send_typing(self, conversation_id: str) -> Deferred[None]:
        """Tell the conversation the bot is typing; fires once written, with C{None}."""
        body = {"channel": options.channel(conversation_id)}
        return self.add_outgoing_event(False, "typing", body)  # type: ignore[return-value]

    def subscribe_presence(self, user_ids: list[str]) -> Deferred[None]:
        """
        Receive C{presence_change} events for exactly these users (replacing the previous
        list); fires once written, with C{None}.
        """
        if not isinstance(user_ids, list | tuple) or not all(
            isinstance(user, str) and user for user in user_ids
        ):
            raise TypeError("user_ids must be a list of user id strings")
        body = {"ids": list(user_ids)}
        return self.add_outgoing_event(False, "presence_sub", body)  # type: ignore[return-value]

    def add_outgoing_event(
        self, await_reply: bool, type: str, body: Mapping[str, Any] | None = None
    ) -> Deferred[dict[str, Any] | None]:
        """
        Queue an event to send once the client is ready, in order, paced by C{rate_limit}.

        @param await_reply: fire with Slack's reply (true), or with C{None} once written.
        @return: a Deferred; while the client is disconnected, or when it ends disconnected
            before the event went out, it fails with C{SendWhileDisconnectedError}.
        """
        options.flag("await_reply", await_reply)
        try:
            text = self._session.prepare(type, self._prepare(type, body))
        except SlackRTMError as error:
            return fail(error)
        if self._lifecycle.state in _LEAVING_STATES:
            return fail(self._disconnected_error(type))
        deferred: Deferred[dict[str, Any] | None] = Deferred()
        if not self._queue and self._bucket is None and self._writable():
            self._send_now(text, await_reply, deferred)  # what _flush would do
        else:
            self._queue.append(_Outgoing(text, await_reply, deferred))
            self._flush()
        return deferred

    def send(self, type: str, body: Mapping[str, Any] | None = None) -> Deferred[int]:
        """
        Write one frame now, bypassing the queue and the pacing.

        @return: a Deferred with the frame's message id; it fails with
            C{SendWhileDisconnectedError} when no WebSocket is open and
            C{SendWhileNotReadyError} when one is open but the client is not ready.
        """
        try:
            text = self._session.prepare(type, self._prepare(type, body))
        except SlackRTMError as error:
            return fail(error)
        if self._socket is None or not self._socket.websocket_open:
            return fail(self._disconnected_error(type))
        if not self._writable():
            return fail(
                SendWhileNotReadyError(
                    f"Cannot send a {type!r} frame while the client is {self.state}; "
                    "wait for 'ready' or use add_outgoing_event()."
                )
            )
        return succeed(self._write(text))

    @staticmethod
    def _prepare(type: object, body: object) -> Mapping[str, Any] | None:
        if not isinstance(type, str):
            raise TypeError(f"type must be a string, not {type.__class__.__name__}")
        if not type:
            raise ValueError("type must not be empty")
        if body is None or isinstance(body, dict | Mapping):  # dict first: a quick check
            return body
        raise TypeError(f"body must be a dict or None, not {body.__class__.__name__}")

    def _disconnected_error(self, type: str) -> SendWhileDisconnectedError:
        return SendWhileDisconnectedError(
            f"Cannot send a {type!r} event while the client is disconnected; call start() first."
        )

    def _write(self, text: str) -> int:
        assert self._socket is not None
        message_id, frame = self._session.stamp(text, self._now())
        if self._log.debugging:
            self._log.debug("Sending {frame}", frame=frame)
        self._socket.write_text(frame)
        return message_id

    def _flush(self) -> None:
        """Send queued events while the client is ready and the pacing allows."""
        while self._queue and self._writable():
            if self._bucket is not None and not self._bucket.take(self._now()):
                if self._pacing_timer is None:
                    delay = self._bucket.wait_time(self._now())
                    self._pacing_timer = self._reactor.callLater(delay, self._paced)
                return
            item = self._queue.popleft()
            self._send_now(item.prepared, item.await_reply, item.deferred)

    def _send_now(self, prepared: str, await_reply: bool, deferred: Deferred[Any]) -> None:
        if await_reply:
            self._session.expect_reply(self._write(prepared), deferred)
        else:
            self._write(prepared)
            self._later(deferred.callback, None)

    def _writable(self) -> bool:
        """Whether frames may go out now: ready, on a socket not yet closing."""
        socket = self._socket
        return self._lifecycle.state is _READY and socket is not None and socket.websocket_open

    def _paced(self) -> None:
        self._pacing_timer = None
        self._flush()

    # Lifecycle: inputs, and effects that run once the machine is at rest

    def _input(self, input: Input, payload: Any = None) -> None:
        self._lifecycle.handle(input, payload)
        self._run_effects()

    def _later(self, effect: Callable[..., object], *args: Any) -> None:
        """
        Run C{effect} once the lifecycle is at rest: at once when it is, else after the
        current transitions. Listeners and callbacks thus always see a settled client, and
        what they do (C{disconnect()}, say) takes effect before they return.
        """
        self._effects.append(partial(effect, *args))
        self._run_effects()

    def _announce(self, event: str, *args: Any) -> None:
        """
        Emit C{event} with the effects of the next transition: the listeners run once the
        client has acted on what the event reports (a retry is scheduled, say).
        """
        self._effects.append(partial(self._events.emit, event, *args))

    def _run_effects(self) -> None:
        if self._running_effects or self._lifecycle.busy:
            return
        self._running_effects = True
        try:
            while self._effects:
                self._effects.popleft()()
        finally:
            self._running_effects = False

    def _fail_unanswered(self, waiters: list[Deferred[Any]]) -> None:
        for waiter in waiters:
            self._later(waiter.errback, NoReplyReceivedError(_UNANSWERED))

    # Lifecycle: what each state does on entry

    def _entered(self, old: State, new: State, payload: Any) -> None:
        self._log.debug("Now {state}.", state=new.value)
        if old.top != new.top and new is not State.DISCONNECTED:
            self._announce(new.top)
        if old is State.AUTHENTICATING:
            self._cancel_call()
        if old is State.RECONNECTING:
            self._cancel(self._retry)
            self._retry = None
        getattr(self, f"_enter_{new.name.lower()}")(payload)

    def _ignored(self, state: State, input: Input) -> None:
        self._log.debug("Ignored {input} while {state}.", input=input.value, state=state.value)

    def _enter_authenticating(self, payload: object) -> None:
        self._reached_ready = False
        self._log.debug("Calling {method}.", method=self._connector.method)
        call = self._call = self._connector.connect(self._connect_args)
        call.addCallbacks(
            self._call_succeeded, self._call_failed, callbackArgs=(call,), errbackArgs=(call,)
        )

    def _call_succeeded(self, connection: Connection, call: Deferred[Connection]) -> None:
        if call is self._call:
            self._call = None
            self._connection = connection
            self._input(Input.AUTHENTICATED, connection)

    def _call_failed(self, failure: Failure, call: Deferred[Connection]) -> None:
        if call is not self._call:
            return
        self._call = None
        error = failure.value
        if not isinstance(error, SlackRTMError):
            error = RequestError(f"{self._connector.method} failed: {error}", original=error)
        self._log.info("Unable to connect: {error}", error=str(error))
        self._announce("unable_to_rtm_start", error)
        self._attempt_failed(error)

    def _cancel_call(self) -> None:
        call, self._call = self._call, None
        if call is not None:
            call.cancel()

    def _enter_authenticated(self, connection: Connection) -> None:
        self._announce("authenticated", connection.response)
        waiters, self._start_waiters = self._start_waiters, []
        for waiter in waiters:
            self._later(waiter.callback, connection.response)
        self._log.debug("Opening {url}", url=redact_url(connection.url))
        self._session.opening(self._now())
        self._arm_timer()
        try:
            endpoint = self._network.endpoint(connection.url)
            opening = self._opening = open_socket(
                endpoint, connection.url, self, self._max_incoming, self._reactor
            )
        except Exception as error:  # Autobahn refuses a bad URL with a bare Exception
            unusable = f"The WebSocket URL from {self._connector.method} is unusable: {error}"
            self._socket_error(WebsocketError(unusable, original=error))
            return
        opening.addCallbacks(
            self._tcp_connected,
            self._open_failed,
            callbackArgs=(opening,),
            errbackArgs=(opening,),
        )

    def _tcp_connected(self, socket: RTMSocket, opening: Deferred[RTMSocket]) -> None:
        if opening is not self._opening:
            socket.abort()
            return
        self._opening = None
        self._socket = socket

    def _open_failed(self, failure: Failure, opening: Deferred[RTMSocket]) -> None:
        if opening is not self._opening:
            return
        self._opening = None
        error = WebsocketError(
            f"Could not open the WebSocket: {describe_failure(failure)}", original=failure.value
        )
        self._socket_error(error)

    def _enter_handshaking(self, payload: object) -> None:
        pass

    def _enter_resuming(self, hello: dict[str, Any]) -> None:
        self._later(self._dispatch, "hello", hello)
        self._arm_timer()

    def _enter_ready(self, hello: dict[str, Any] | None) -> None:
        if hello is not None:
            self._later(self._dispatch, "hello", hello)
        self._failures = 0
        self._reached_ready = True
        self._fail_unanswered(self._session.ready(self._now()))
        self._log.info("Connected to Slack as {user}.", user=self.active_user_id)
        self._flush()
        self._arm_timer()
        self._announce("ready")

    def _enter_disconnecting(self, payload: object) -> None:
        self._session.closing()
        self._arm_timer()
        if self._opening is not None:
            opening, self._opening = self._opening, None
            opening.cancel()
        socket = self._socket
        if socket is None:
            self._input(Input.CLOSED)
            return
        if not socket.websocket_open:
            socket.abort()
            return
        socket.close()
        self._close_timer = self._reactor.callLater(CLOSE_TIMEOUT, socket.abort)

    def _enter_reconnecting(self, delay: float) -> None:
        if delay <= 0:
            self._input(Input.RETRY)
            return
        self._log.info("Reconnecting in {delay:.3g} seconds.", delay=delay)
        self._retry = self._reactor.callLater(delay, self._input, Input.RETRY)

    def _enter_disconnected(self, error: SlackRTMError | None) -> None:
        self._connection = None
        self._failures = 0
        for timer in (self._timer, self._close_timer, self._pacing_timer):
            self._cancel(timer)
        self._timer = self._close_timer = self._pacing_timer = None
        unanswered = self._session.drain()
        queued, self._queue = self._queue, deque()
        starts, self._start_waiters = self._start_waiters, []
        stops, self._disconnect_waiters = self._disconnect_waiters, []
        if error is None:
            self._log.info("Disconnected.")
        else:
            self._log.error("Disconnected: {error}", error=str(error))
        self._announce("disconnected", error)
        # Every Deferred handed out settles, after the event, so that their callbacks see
        # the client as disconnected listeners saw it.
        self._fail_unanswered(unanswered)
        for item in queued:
            self._later(
                item.deferred.errback,
                SendWhileDisconnectedError(
                    "The client disconnected before this event could be sent."
                ),
            )
        for start in starts:
            self._later(
                start.errback,
                error
                or InvalidStateError("disconnect() was called before the client authenticated."),
            )
        for stop in stops:
            self._later(stop.callback, None)

    # Failures and retries

    def _attempt_failed(self, error: SlackRTMError) -> None:
        """Retry after the policy's delay, or give up, after a failed attempt or connection."""
        if self._lifecycle.state in _LEAVING_STATES:
            self._run_effects()
            return
        self._fail_unanswered(self._session.connection_lost())
        self._arm_timer()
        if not self.auto_reconnect or self._fatal(error):
            self._input(Input.GAVE_UP, error)
            return
        if self._reached_ready and self._failures == 0:
            delay: float | None = 0.0
        else:
            self._failures += 1
            try:
                delay = options.retry_delay(self._retry_policy, self._failures)
            except (TypeError, ValueError) as wrong:
                self._log.error("{wrong}", wrong=str(wrong))
                self._input(Input.GAVE_UP, InvalidStateError(str(wrong), original=error))
                return
        self._reached_ready = False
        if delay is None:
            self._log.error("Giving up after {n} failed attempts.", n=self._failures)
            self._input(Input.GAVE_UP, error)
            return
        self._input(Input.FAILED, max(float(delay), retry_after(error)))

    def _fatal(self, error: SlackRTMError) -> bool:
        return is_fatal(error) or is_certificate_failure(error.original)

    def _drop(self, error: SlackRTMError, *, report: bool = True) -> None:
        """Abort the current socket at once (it may be dead) and treat it as lost."""
        if self._lifecycle.state is State.DISCONNECTING:
            return  # leaving anyway: the close under way ends in disconnected
        socket, self._socket = self._socket, None
        if socket is not None:
            socket.abort()
        if report:
            self._socket_error(error)
        else:
            self._log.info("{error}", error=str(error))
            self._attempt_failed(error)

    def _socket_error(self, error: SlackRTMError) -> None:
        self._log.warn("{error}", error=str(error))
        self._announce("error", error)
        self._attempt_failed(error)

    # SocketHandler: what the socket reports

    def socket_opened(self, socket: RTMSocket) -> None:
        if socket is not self._socket:
            socket.abort()
            return
        self._input(Input.SOCKET_OPEN)

    def frame_received(self, socket: RTMSocket, payload: bytes, is_binary: bool) -> None:
        if socket is self._socket:
            self._received(socket, self._session.receive(payload, is_binary))

    def texts_received(self, socket: RTMSocket, payloads: Iterable[bytes]) -> None:
        receive = self._session.receive
        dispatch = self._dispatch
        quick = not self._log.debugging  # debug lines are written by _received
        for payload in payloads:
            if socket is not self._socket:
                return
            result = receive(payload, False)
            if quick and isinstance(result, dict):
                # An event, nothing more: by far the most frequent frame.
                dispatch(result["type"], result)
            else:
                self._received(socket, result)

    def _received(
        self, socket: RTMSocket, result: Incoming[Deferred[Any]] | Event | Malformed
    ) -> None:
        if isinstance(result, Malformed):
            self._log.warn(
                "Dropped an incoming frame that is {reason}: {preview!r}",
                reason=result.reason,
                preview=result.preview,
            )
            return
        if isinstance(result, dict):
            if self._log.debugging:
                self._log.debug("Received {frame!r}", frame=result)
            self._dispatch(result["type"], result)
            return
        if self._log.debugging:
            self._log.debug("Received {frame!r}", frame=result.frame)
        if result.type == "hello" and self._lifecycle.state is State.HANDSHAKING:
            # Entering connected dispatches it, between the connected and ready events.
            resuming = self._session.hello(self._now())
            self._input(Input.HELLO_RESUMING if resuming else Input.HELLO, result.frame)
            return
        self._dispatch(result.type, result.frame)
        if result.waiter is not None:
            self._settle(result.waiter, result.frame)
        if result.resumed:
            self._input(Input.RESUMED)
        if result.reconnect is not None and socket is self._socket:
            self._drop(
                WebsocketError(f"Slack asked for a new connection: {result.reconnect}."),
                report=False,
            )

    def socket_closed(self, socket: RTMSocket, reason: str, failure: Failure) -> None:
        if socket is not self._socket:
            return
        self._socket = None
        state = self._lifecycle.state
        if state is State.DISCONNECTING:
            self._cancel(self._close_timer)
            self._close_timer = None
            self._input(Input.CLOSED)
        elif state is State.AUTHENTICATED:
            self._socket_error(
                WebsocketError(f"The WebSocket did not open: {reason}.", original=failure.value)
            )
        else:
            self._socket_error(
                WebsocketError(f"The WebSocket was lost: {reason}.", original=failure.value)
            )

    def _settle(self, waiter: Deferred[Any], reply: dict[str, Any]) -> None:
        if "type" in reply:  # a replayed reply: the message event itself
            reply = {"ok": True, **{key: reply[key] for key in _REPLY_FIELDS if key in reply}}
        if reply.get("error") is not None or reply.get("ok") is False:
            error = reply.get("error")
            detail = error.get("msg") if isinstance(error, dict) else error
            waiter.errback(
                SendMessagePlatformError(f"Slack refused the message: {detail}.", data=reply)
            )
        else:
            waiter.callback(reply)

    def _dispatch(self, type: str | None, frame: dict[str, Any]) -> None:
        listened = self._events.listened
        emit = self._events.emit
        if "slack_event" in listened:
            emit("slack_event", type, frame)
        if type is None:
            return
        if type in listened:
            emit(type, frame)
        subtype = frame.get("subtype")
        if isinstance(subtype, str):
            emit(f"{type}::{subtype}", frame)

    # Timers

    def _now(self) -> float:
        return float(self._reactor.seconds())

    def _arm_timer(self) -> None:
        """Have L{_on_timer} run by the session's next deadline."""
        deadline = self._session.next_deadline()
        timer = self._timer
        if deadline is None:
            self._cancel(timer)
            self._timer = None
            return
        if timer is not None and timer.active():
            if timer.getTime() <= deadline:
                return
            timer.cancel()
        self._timer = self._reactor.callLater(max(0.0, deadline - self._now()), self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        due = self._session.tick(self._now())
        if due is Due.PING:
            if self._writable():
                ping_id = self._write(self._ping)
                self._session.note_ping(ping_id, self._now())
            else:  # closing already: its loss, on its way, decides what happens next
                self._session.closing()
        elif due is Due.PONG_OVERDUE:
            self._drop(
                WebsocketError("Slack did not answer a ping in time; the connection is dead.")
            )
        elif due is Due.RESUME_OVER:
            self._input(Input.RESUMED)
        elif due is Due.OPEN_TIMEOUT:
            self._opening_timed_out()
        self._arm_timer()

    _ping = '{"type":"ping"}'

    def _opening_timed_out(self) -> None:
        opening, self._opening = self._opening, None
        if opening is not None:
            opening.cancel()
        error = WebsocketError(f"Slack did not say hello within {OPEN_TIMEOUT:g} seconds.")
        if self._socket is not None:
            self._drop(error)
        else:
            self._socket_error(error)

    @staticmethod
    def _cancel(call: DelayedCall | None) -> None:
        if call is not None and call.active():
            call.cancel()

    def _listener_failed(self, event: str, failure: Failure) -> None:
        self._log.error(
            "A listener for {event!r} failed: {error}",
            event=event,
            error=failure.getTraceback(),
        )

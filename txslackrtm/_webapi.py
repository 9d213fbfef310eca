"""
The connect step: the Web API call (C{rtm.connect} or C{rtm.start}) that trades the token
for a single-use WebSocket URL, with every way it can fail turned into a coded error.

It is a part of its own so that another protocol (Socket Mode's C{apps.connections.open})
can bring its own connect step to the same lifecycle.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from treq.client import HTTPClient
from twisted.internet.defer import CancelledError, Deferred, succeed
from twisted.internet.interfaces import IConsumer
from twisted.web.http_headers import Headers
from twisted.web.iweb import IAgent, IBodyProducer, IResponse
from zope.interface import implementer

from ._errors import HTTPError, PlatformError, RateLimitedError, RequestError, SlackRTMError
from ._tls import describe_failure

#: Seconds the Web API call may take before it counts as a (transient) failure.
CALL_TIMEOUT = 30.0
#: The wait assumed when Slack answers 429 without a usable C{Retry-After}.
DEFAULT_RETRY_AFTER = 60.0
#: Types a connect argument may have: each is sent as a form field.
ARGUMENT_TYPES = (str, bool, int, float)


@dataclass(frozen=True)
class Connection:
    """
    What a successful connect call gives: the WebSocket URL and who we are.

    @ivar response: the whole response, the C{authenticated} event's payload.
    """

    url: str
    user_id: str | None
    team_id: str | None
    response: dict[str, Any]


class _Token:
    """A token that keeps out of reprs, tracebacks' locals and log lines."""

    def __init__(self, value: str) -> None:
        self.value = value

    def __repr__(self) -> str:
        return "<token redacted>"


def encode_arguments(args: Mapping[str, object]) -> dict[str, str]:
    """
    The form fields for C{args}; booleans become C{true}/C{false}, as the SDKs send them.

    @raise TypeError: an argument is not a string, boolean or number.
    """
    fields = {}
    for name, value in args.items():
        if not isinstance(name, str) or not isinstance(value, ARGUMENT_TYPES):
            raise TypeError(
                f"connect argument {name!r} must be a str, bool or number, "
                f"not {type(value).__name__}"
            )
        fields[name] = ("true" if value else "false") if isinstance(value, bool) else str(value)
    return fields


@implementer(IBodyProducer)
class _FormBody:
    """
    A form-encoded request body written in one go: treq's own producers would cooperate on
    the global reactor, not the client's.
    """

    def __init__(self, fields: dict[str, str]) -> None:
        self._body = urlencode(fields).encode("ascii")
        self.length = len(self._body)

    def startProducing(self, consumer: IConsumer) -> Deferred[None]:
        consumer.write(self._body)
        return succeed(None)

    def pauseProducing(self) -> None:
        """Nothing to pause: the body was written whole."""

    def resumeProducing(self) -> None:
        """Nothing to resume: the body was written whole."""

    def stopProducing(self) -> None:
        """Nothing to stop: the body was written whole."""


class RTMConnector:
    """
    Calls C{rtm.connect} (or C{rtm.start}) with a token.

    @param agent: the HTTP agent the call goes through.
    @param api_url: the Web API prefix, ending in C{/}.
    @param use_rtm_connect: C{rtm.connect} when true, else C{rtm.start}.
    @param reactor: the clock the call's timeout runs on.
    """

    def __init__(
        self, agent: IAgent, api_url: str, token: str, use_rtm_connect: bool, reactor: Any
    ) -> None:
        self._http = HTTPClient(agent)
        self._token = _Token(token)
        self.method = "rtm.connect" if use_rtm_connect else "rtm.start"
        self.url = api_url + self.method
        self._reactor = reactor

    def connect(self, args: Mapping[str, object]) -> Deferred[Connection]:
        """
        Make the call; fires with a L{Connection}, or fails with a L{PlatformError},
        L{HTTPError}, L{RateLimitedError} or L{RequestError}. Cancelling it aborts the call.
        """
        return Deferred.fromCoroutine(self._call(encode_arguments(args)))

    async def _call(self, fields: dict[str, str]) -> Connection:
        try:
            response = await self._http.post(
                self.url,
                data=_FormBody(fields),
                headers=Headers(
                    {
                        b"Authorization": [f"Bearer {self._token.value}".encode()],
                        b"Content-Type": [b"application/x-www-form-urlencoded"],
                    }
                ),
                timeout=CALL_TIMEOUT,
                reactor=self._reactor,
            )
            body = await response.content()
        except SlackRTMError:
            raise
        except Exception as error:
            if _cancelled(error):  # the timeout, or disconnect(), which ignores the result
                raise RequestError(
                    f"{self.method} got no answer within {CALL_TIMEOUT:g} seconds."
                ) from None
            raise RequestError(
                f"Could not reach {self.url}: {describe_failure(error).rstrip('.')}.",
                original=error,
            ) from None
        return self._read(response, body)

    def _read(self, response: IResponse, body: bytes) -> Connection:
        status = response.code
        data = _json_or_none(body)
        if status == 429:
            raise RateLimitedError(
                f"{self.method} was rate limited; Slack asks to retry in "
                f"{_retry_after(response):g} seconds.",
                retry_after=_retry_after(response),
                data=data,
            )
        if status != 200:
            raise HTTPError(f"{self.method} answered HTTP {status}.", status=status, data=data)
        if not isinstance(data, dict):
            raise RequestError(f"{self.method} answered something that is not a JSON object.")
        if data.get("ok") is not True:
            raise PlatformError(
                f"{self.method} failed: {data.get('error', 'no error given')}.", data=data
            )
        url = data.get("url")
        if not isinstance(url, str) or not url:
            raise RequestError(f"{self.method} answered ok without a WebSocket url.", data=data)
        return Connection(url, _id_of(data, "self"), _id_of(data, "team"), data)


def _id_of(data: dict[str, Any], field: str) -> str | None:
    """The C{id} of the C{self} or C{team} object of a response, if it has one."""
    value = data.get(field)
    identifier = value.get("id") if isinstance(value, dict) else None
    return identifier if isinstance(identifier, str) else None


def _json_or_none(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        return None


def _retry_after(response: IResponse) -> float:
    values = response.headers.getRawHeaders(b"retry-after") or [b""]
    try:
        seconds = float(values[0])
    except ValueError:
        return DEFAULT_RETRY_AFTER
    return seconds if seconds >= 0 else DEFAULT_RETRY_AFTER


def _cancelled(error: BaseException) -> bool:
    """Whether the call failed because it was cancelled, perhaps inside Twisted's wrappers."""
    reasons = getattr(error, "reasons", None) or []
    return isinstance(error, CancelledError) or any(
        getattr(reason, "check", lambda _: False)(CancelledError) for reason in reasons
    )

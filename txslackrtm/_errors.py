"""
The errors txslackrtm raises, and the tables that sort connect failures into fatal and
transient ones.

Every error that comes from Slack, the network or the client's state is a L{SlackRTMError}
with a C{code} from L{ErrorCode}; the codes are the Node client's strings, so logs and docs
read the same in both languages.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any


class ErrorCode(StrEnum):
    """The code of every L{SlackRTMError}; each member equals its string."""

    SendWhileDisconnectedError = "slack_rtmapi_send_while_disconnected_error"
    SendWhileNotReadyError = "slack_rtmapi_send_while_not_ready_error"
    SendMessagePlatformError = "slack_rtmapi_send_message_platform_error"
    WebsocketError = "slack_rtmapi_websocket_error"
    NoReplyReceivedError = "slack_rtmapi_no_reply_received_error"
    KeepAliveConfigError = "slack_rtmapi_keepalive_config_error"
    MessageTooLongError = "slack_rtmapi_message_too_long_error"
    InvalidStateError = "slack_rtmapi_invalid_state_error"
    PlatformError = "slack_webapi_platform_error"
    RequestError = "slack_webapi_request_error"
    HTTPError = "slack_webapi_http_error"
    RateLimitedError = "slack_webapi_rate_limited_error"


class SlackRTMError(Exception):
    """
    Base of every error from Slack, the network or the client's state.

    @ivar code: what went wrong, an L{ErrorCode}.
    @ivar data: the server's reply or response, where there was one.
    @ivar original: the underlying exception, where there was one.
    """

    code: ErrorCode

    def __init__(
        self, message: str, *, data: Any = None, original: BaseException | None = None
    ) -> None:
        super().__init__(message)
        self.data = data
        self.original = original


class SendWhileDisconnectedError(SlackRTMError):
    """A frame was to be sent while no connection was open or coming."""

    code = ErrorCode.SendWhileDisconnectedError


class SendWhileNotReadyError(SlackRTMError):
    """A raw frame was to be sent on a connection that is open but not yet ready."""

    code = ErrorCode.SendWhileNotReadyError


class SendMessagePlatformError(SlackRTMError):
    """Slack answered a sent message with an error; C{data} is its reply."""

    code = ErrorCode.SendMessagePlatformError


class WebsocketError(SlackRTMError):
    """The WebSocket failed; C{original} says how."""

    code = ErrorCode.WebsocketError


class NoReplyReceivedError(SlackRTMError):
    """A message was sent but its connection ended before Slack acknowledged it."""

    code = ErrorCode.NoReplyReceivedError


class KeepAliveConfigError(SlackRTMError, ValueError):
    """The keepalive timeouts contradict each other."""

    code = ErrorCode.KeepAliveConfigError


class MessageTooLongError(SlackRTMError):
    """An outgoing frame would break Slack's size limits, so it was never sent."""

    code = ErrorCode.MessageTooLongError


class InvalidStateError(SlackRTMError):
    """The client was asked for something its current state does not allow."""

    code = ErrorCode.InvalidStateError


class PlatformError(SlackRTMError):
    """The Web API answered C{ok: false}; C{data} is the whole response."""

    code = ErrorCode.PlatformError

    @property
    def error(self) -> str:
        """Slack's error string, such as C{"invalid_auth"}."""
        return str((self.data or {}).get("error", ""))


class RequestError(SlackRTMError):
    """The Web API could not be reached, or answered something that is not Slack's."""

    code = ErrorCode.RequestError


class HTTPError(SlackRTMError):
    """The Web API answered with an HTTP error status; C{status} holds it."""

    code = ErrorCode.HTTPError

    def __init__(self, message: str, *, status: int, data: Any = None) -> None:
        super().__init__(message, data=data)
        self.status = status


class RateLimitedError(SlackRTMError):
    """The Web API asked us to wait C{retry_after} seconds before the next call."""

    code = ErrorCode.RateLimitedError

    def __init__(self, message: str, *, retry_after: float, data: Any = None) -> None:
        super().__init__(message, data=data)
        self.retry_after = retry_after


#: Web API error strings that retrying cannot fix: the token or the workspace is wrong.
FATAL_PLATFORM_ERRORS = frozenset(
    {
        "not_authed",
        "invalid_auth",
        "account_inactive",
        "token_revoked",
        "token_expired",
        "no_permission",
        "not_allowed_token_type",
        "missing_scope",
        "user_removed_from_team",
        "team_disabled",
        "invalid_arguments",
        "not_bot",
    }
)

#: Web API error strings that say "try again later".
TRANSIENT_PLATFORM_ERRORS = frozenset(
    {
        "ratelimited",
        "migration_in_progress",
        "fatal_error",
        "internal_error",
        "service_unavailable",
        "request_timeout",
    }
)


def is_fatal(error: SlackRTMError) -> bool:
    """
    Whether a failed connect attempt should end the client rather than be retried.

    Transient: network errors, HTTP 5xx and 429, and the platform errors in
    L{TRANSIENT_PLATFORM_ERRORS}. Fatal: every other 4xx and every other platform error
    (the fatal table plus any code Slack adds later, since an unknown refusal is far more
    likely to be configuration than load). Errors that are not about connecting (a lost
    WebSocket, an expired URL) are never fatal.
    """
    if isinstance(error, PlatformError):
        return error.error not in TRANSIENT_PLATFORM_ERRORS
    if isinstance(error, HTTPError):
        return 400 <= error.status < 500 and error.status != 429
    return False


def retry_after(error: BaseException | None) -> float:
    """The wait Slack asked for with this error, in seconds, or 0 when it asked for none."""
    if isinstance(error, RateLimitedError):
        return error.retry_after
    data = getattr(error, "data", None)
    if isinstance(data, dict):
        value = data.get("retry_after")
        nested = data.get("error")
        if value is None and isinstance(nested, dict):
            value = nested.get("retry_after")
        if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
            return float(value)
    return 0.0

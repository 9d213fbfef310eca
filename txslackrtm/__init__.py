"""
txslackrtm: the Slack Real Time Messaging client for Twisted.

Connect, listen and answer::

    from txslackrtm import RTMClient

    rtm = RTMClient(token)

    @rtm.on("message")
    def echo(event):
        if event.get("user") != rtm.active_user_id:
            return rtm.send_message(event["text"], event["channel"])

    rtm.start()

Everything that waits returns a Deferred; every error is a L{SlackRTMError} with a C{code}
from L{ErrorCode}. L{txslackrtm.testing} has a fake Slack for your bot's tests.
"""

from ._client import RTMClient
from ._errors import (
    ErrorCode,
    HTTPError,
    InvalidStateError,
    KeepAliveConfigError,
    MessageTooLongError,
    NoReplyReceivedError,
    PlatformError,
    RateLimitedError,
    RequestError,
    SendMessagePlatformError,
    SendWhileDisconnectedError,
    SendWhileNotReadyError,
    SlackRTMError,
    WebsocketError,
)
from ._logging import LogLevel
from ._pacing import full_jitter_backoff

__all__ = [
    "ErrorCode",
    "HTTPError",
    "InvalidStateError",
    "KeepAliveConfigError",
    "LogLevel",
    "MessageTooLongError",
    "NoReplyReceivedError",
    "PlatformError",
    "RTMClient",
    "RateLimitedError",
    "RequestError",
    "SendMessagePlatformError",
    "SendWhileDisconnectedError",
    "SendWhileNotReadyError",
    "SlackRTMError",
    "WebsocketError",
    "full_jitter_backoff",
]

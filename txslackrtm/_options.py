"""
Argument checks for the client's options and methods.

Each check raises C{TypeError} or C{ValueError} naming the argument, before any I/O and
before the client changes, so that a mistake surfaces where it was made.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from ._network import split_url


def maybe_global_reactor(reactor: Any) -> Any:
    if reactor is None:
        from twisted.internet import reactor as global_reactor

        return global_reactor
    return reactor


def seconds(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{name} must be a number of seconds, not {type(value).__name__}")
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a positive number of seconds, not {value!r}")
    return float(value)


def flag(name: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be True or False, not {value!r}")
    return value


def api_url(value: object) -> str:
    if not isinstance(value, str):
        raise TypeError(f"slack_api_url must be a string, not {type(value).__name__}")
    try:
        split_url(value)
    except ValueError:
        raise ValueError(
            f"slack_api_url must be an http:// or https:// URL, not {value!r}"
        ) from None
    if value.split(":", 1)[0].lower() not in ("http", "https"):
        raise ValueError(f"slack_api_url must be an http:// or https:// URL, not {value!r}")
    return value if value.endswith("/") else value + "/"


def rate_limit(value: object) -> tuple[float, int] | None:
    if value is None:
        return None
    if not isinstance(value, tuple | list) or len(value) != 2:
        raise TypeError(f"rate_limit must be (messages_per_second, burst) or None, not {value!r}")
    rate, burst = value
    rate = seconds("rate_limit's messages_per_second", rate)
    if isinstance(burst, bool) or not isinstance(burst, int) or burst < 1:
        raise ValueError(f"rate_limit's burst must be a whole number of at least 1, not {burst!r}")
    return rate, burst


def channel(value: object) -> str:
    if not isinstance(value, str):
        raise TypeError(f"conversation_id must be a string, not {type(value).__name__}")
    if not value.strip():
        raise ValueError("conversation_id must not be empty")
    return value


def retry_delay(policy: Callable[[int], object], attempt: int) -> float | None:
    """
    Ask a retry policy how long to wait before C{attempt}, holding it to its contract.

    @raise ValueError: the policy raised, or answered something other than C{None} or a
        finite number of seconds >= 0; the message names C{retry_policy}.
    """
    try:
        delay = policy(attempt)
    except Exception as error:
        raise ValueError(f"retry_policy raised {error!r} for attempt {attempt}") from error
    if delay is None:
        return None
    if isinstance(delay, bool) or not isinstance(delay, int | float) or not delay >= 0:
        raise ValueError(
            f"retry_policy answered {delay!r} for attempt {attempt}; "
            "it must answer seconds (a number >= 0) or None to give up"
        )
    if not math.isfinite(delay):
        raise ValueError(f"retry_policy answered {delay!r} for attempt {attempt}")
    return float(delay)

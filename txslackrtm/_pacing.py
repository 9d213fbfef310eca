"""
How fast the client may act: the retry policy between failed connects, and the token bucket
that paces outgoing events.

Plain code: nothing here reads a clock or schedules anything; callers pass the time in.
"""

from __future__ import annotations

import random as _random
from collections.abc import Callable

#: A retry policy: given the number of consecutive failed attempts (1 for the first), the
#: seconds to wait before the next one, or C{None} to give up.
RetryPolicy = Callable[[int], float | None]


def full_jitter_backoff(
    max_delay: float = 60.0,
    max_attempts: int | None = None,
    random: Callable[[], float] = _random.random,
) -> RetryPolicy:
    """
    Exponential backoff with full jitter, the client's default retry policy.

    Attempt I{n} waits a uniform random time in M{[0, min(max_delay, 2 ** (n - 1))]}
    seconds, so that many clients cut off by one outage do not come back in step.

    @param max_delay: the longest wait, in seconds.
    @param max_attempts: give up after this many consecutive failures; C{None} never does.
    @param random: a source of floats in M{[0, 1)}; tests pass a constant.
    """
    if max_delay < 0:
        raise ValueError(f"max_delay must not be negative, not {max_delay!r}")
    if max_attempts is not None and max_attempts < 0:
        raise ValueError(f"max_attempts must not be negative, not {max_attempts!r}")

    def policy(attempt: int) -> float | None:
        if max_attempts is not None and attempt > max_attempts:
            return None
        ceiling = min(max_delay, 2.0 ** min(attempt - 1, 64))
        return random() * ceiling

    return policy


class TokenBucket:
    """
    Paces outgoing events to C{rate} per second with bursts of up to C{burst}, as Slack asks
    ("no more than one message per second sustained; short bursts allowed").

    The bucket starts full. Callers ask L{take} whether an event may go now, and
    L{wait_time} how long until one may.
    """

    def __init__(self, rate: float, burst: int, now: float) -> None:
        self.rate = rate
        self.burst = burst
        self._tokens = float(burst)
        self._updated = now

    def _refill(self, now: float) -> None:
        elapsed = max(0.0, now - self._updated)
        self._tokens = min(float(self.burst), self._tokens + elapsed * self.rate)
        self._updated = now

    def take(self, now: float) -> bool:
        """Spend one token if there is one; C{True} when the event may be sent now."""
        self._refill(now)
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        return False

    def wait_time(self, now: float) -> float:
        """Seconds from C{now} until a token is available."""
        self._refill(now)
        return max(0.0, (1.0 - self._tokens) / self.rate)

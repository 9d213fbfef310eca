# -*- test-case-name: tests.test_pacing -*-
"""Tests for the retry policy and the outgoing token bucket."""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from txslackrtm import full_jitter_backoff
from txslackrtm._pacing import TokenBucket


class BackoffTests(SynchronousTestCase):
    def test_ceiling_doubles_up_to_the_maximum(self) -> None:
        """With the random source at its top, attempt n waits min(60, 2**(n-1))."""
        policy = full_jitter_backoff(random=lambda: 1.0)
        self.assertEqual([policy(n) for n in range(1, 9)], [1, 2, 4, 8, 16, 32, 60, 60])
        self.assertEqual(policy(10_000), 60)

    def test_jitter_scales_the_wait(self) -> None:
        """The wait is the ceiling times the random draw: full jitter."""
        policy = full_jitter_backoff(random=lambda: 0.25)
        self.assertEqual(policy(3), 1.0)

    def test_gives_up_after_max_attempts(self) -> None:
        """With max_attempts, the policy returns None once they are used."""
        policy = full_jitter_backoff(max_attempts=2, random=lambda: 0.5)
        self.assertEqual([policy(1), policy(2), policy(3)], [0.5, 1.0, None])

    def test_bad_arguments(self) -> None:
        """Negative bounds are refused."""
        self.assertRaises(ValueError, full_jitter_backoff, max_delay=-1)
        self.assertRaises(ValueError, full_jitter_backoff, max_attempts=-1)


class TokenBucketTests(SynchronousTestCase):
    def test_starts_full_then_paces(self) -> None:
        """A full bucket allows a burst, then one event per 1/rate seconds."""
        bucket = TokenBucket(rate=1.0, burst=3, now=0.0)
        self.assertEqual([bucket.take(0.0) for _ in range(4)], [True, True, True, False])
        self.assertEqual(bucket.wait_time(0.0), 1.0)
        self.assertFalse(bucket.take(0.5))
        self.assertTrue(bucket.take(1.0))

    def test_refill_is_capped_at_burst(self) -> None:
        """A long quiet time refills no more than the burst."""
        bucket = TokenBucket(rate=2.0, burst=2, now=0.0)
        bucket.take(0.0)
        bucket.take(0.0)
        self.assertEqual(sum(bucket.take(100.0) for _ in range(5)), 2)

"""
Helpers shared by the Python drivers (standard library only: the drivers run in two
environments, the project's and the peers' venv under C{benchmarks/.peers/}).

Every driver takes the same command line and prints exactly one C{RESULT {json}} line::

    --workload inbound|send|startup|idle --api URL [--n N] [--inflight K] [--conns C]
    [--runs R] [--timeout S]

The workloads, and the fields of their results:

  - C{inbound}: count N C{message} events; C{rate} (events/s) and C{cpu_per_100k} (process
    CPU seconds, user + system, all threads) between the first and the Nth event.
  - C{send}: N messages with K in flight, each answered by a reply; C{rate} (msg/s) and
    C{p50_ms}/C{p99_ms}, the time from the send call to the reply reaching the driver.
  - C{startup}: R times, a fresh client from C{start()} to ready (or C{hello} for clients
    with no ready state); C{median_ms}.
  - C{idle}: C connections in this process; C{kb_per_conn} from the RSS before and after.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import resource
import sys
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

#: The channel every benchmark message goes to.
CHANNEL = "C012AB3CD"
#: The text of a sent message (the reply echoes it).
TEXT = "Build 1234 is green: 1,204 tests passed in 3 min 12 s. Artefacts are on the share."
#: Batches of connections opened together by the idle workload.
IDLE_BATCH = 50
#: Seconds the idle workload waits once every connection is up, before reading the RSS.
IDLE_SETTLE = 1.0


@dataclass
class Args:
    """The driver's command line."""

    workload: str
    api: str
    n: int
    inflight: int
    conns: int
    runs: int
    timeout: float


def parse_args() -> Args:
    """Read the common command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--workload", choices=["inbound", "send", "startup", "idle"])
    parser.add_argument("--api", required=True, help="the load server's API URL, ending in /")
    parser.add_argument("--n", type=int, default=0)
    parser.add_argument("--inflight", type=int, default=1)
    parser.add_argument("--conns", type=int, default=0)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=120.0)
    ns = parser.parse_args()
    return Args(ns.workload, ns.api, ns.n, ns.inflight, ns.conns, ns.runs, ns.timeout)


def cpu_seconds() -> float:
    """CPU seconds (user + system) used by this process so far, all threads included."""
    times = os.times()
    return times.user + times.system


def rss_bytes() -> int:
    """The process's resident set size now (not its peak), in bytes."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * resource.getpagesize()


def settled_rss() -> int:
    """The RSS after a full garbage collection."""
    gc.collect()
    return rss_bytes()


def percentile(values: list[float], q: float) -> float | None:
    """The value at quantile C{q} (0..1), or C{None} for no values."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def raise_file_limit() -> None:
    """Allow as many open files as the hard limit, for the idle workload."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def result(fields: dict[str, Any]) -> None:
    """Print the one line run.py reads."""
    sys.stdout.write("RESULT " + json.dumps(fields) + "\n")
    sys.stdout.flush()


def finish(fields: dict[str, Any], code: int = 0) -> None:
    """Print the result and leave at once, whatever threads or sockets are still open."""
    result(fields)
    sys.stderr.flush()
    os._exit(code)


class Inbound:
    """Counts events and notes the time and CPU of the first and the last."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.count = 0
        self.t0 = self.cpu0 = 0.0
        self.t1 = self.cpu1 = 0.0

    def event(self) -> bool:
        """Note one event; C{True} when it was the last one."""
        self.count += 1
        if self.count == 1:
            self.t0 = time.perf_counter()
            self.cpu0 = cpu_seconds()
        elif self.count == self.total:
            self.t1 = time.perf_counter()
            self.cpu1 = cpu_seconds()
            return True
        return False

    def fields(self) -> dict[str, Any]:
        """The inbound result."""
        return inbound_fields(self.total - 1, self.t1 - self.t0, self.cpu1 - self.cpu0)


class Sends:
    """
    Keeps K messages in flight until N replies came, timing each one.

    The driver calls L{next_id} to send, and L{replied} with each reply's C{reply_to}.
    """

    def __init__(self, total: int, inflight: int) -> None:
        self.total = total
        self.inflight = min(inflight, total)
        self.sent = 0
        self.replies = 0
        self.started: dict[int, float] = {}
        self.latencies: list[float] = []
        self.t0 = self.t1 = 0.0

    def next_id(self) -> int | None:
        """The id of the next message to send now, or C{None} when all were sent."""
        if self.sent >= self.total:
            return None
        self.sent += 1
        if self.sent == 1:
            self.t0 = time.perf_counter()
        self.started[self.sent] = time.perf_counter()
        return self.sent

    def replied(self, reply_to: object) -> bool:
        """Note a reply; C{True} when it was the last one."""
        started = self.started.pop(reply_to, None) if isinstance(reply_to, int) else None
        if started is None:
            return False
        now = time.perf_counter()
        self.latencies.append(now - started)
        self.replies += 1
        if self.replies == self.total:
            self.t1 = now
            return True
        return False

    def fields(self) -> dict[str, Any]:
        """The send result."""
        seconds = self.t1 - self.t0
        p50 = percentile(self.latencies, 0.50)
        p99 = percentile(self.latencies, 0.99)
        return {
            "messages": self.total,
            "inflight": self.inflight,
            "seconds": seconds,
            "rate": self.total / seconds,
            "p50_ms": None if p50 is None else p50 * 1e3,
            "p99_ms": None if p99 is None else p99 * 1e3,
        }


def startup_fields(ready_ms: list[float], hello_ms: list[float] | None = None) -> dict[str, Any]:
    """The startup result from each run's start-to-ready (and start-to-hello) times."""
    fields: dict[str, Any] = {
        "runs": len(ready_ms),
        "median_ms": percentile(ready_ms, 0.5),
        "min_ms": min(ready_ms),
        "max_ms": max(ready_ms),
    }
    if hello_ms:
        fields["hello_median_ms"] = percentile(hello_ms, 0.5)
    return fields


def idle_fields(connections: int, before: int, after: int) -> dict[str, Any]:
    """The idle result from the RSS before and after opening C{connections}."""
    return {
        "connections": connections,
        "rss_before": before,
        "rss_after": after,
        "kb_per_conn": (after - before) / connections / 1024,
    }


def message_body(message_id: int) -> dict[str, Any]:
    """A C{message} frame as a bare client sends it."""
    return {"type": "message", "channel": CHANNEL, "text": TEXT, "id": message_id}


async def run_within_timeout(
    workloads: Mapping[str, Callable[[Args], Awaitable[dict[str, Any]]]], args: Args
) -> dict[str, Any]:
    """Run the asyncio driver's workload named in C{args}, within C{args.timeout} seconds."""
    try:
        return await asyncio.wait_for(workloads[args.workload](args), args.timeout)
    except TimeoutError:
        return {"error": f"timed out after {args.timeout} s"}


def inbound_fields(events: int, seconds: float, cpu: float) -> dict[str, Any]:
    """The inbound workload's result: C{events} counted in C{seconds}, using C{cpu} seconds."""
    return {
        "events": events,
        "seconds": seconds,
        "cpu": cpu,
        "rate": events / seconds,
        "cpu_per_100k": cpu / events * 1e5,
    }

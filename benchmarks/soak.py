"""
Soak a client: many thousands of lost connections and sends against the fake Slack, in one
process, on the real reactor, printing memory and the client's bookkeeping as it goes.

    python benchmarks/soak.py                       # 10,000 cycles, 100,000 sends
    python benchmarks/soak.py --cycles 500 --sends 5000 --every 50

Each cycle sends its share of the messages and waits for their replies, sends one more
message that is still on its way, then loses the connection (the fake drops it, says
goodbye, or sends an expired-URL error, or the client disconnects and starts again; every
C{--half-open-every} cycles the connection goes silent and the keepalive has to notice) and
waits until the client is ready again. Every C{--every} cycles it prints one line:

  - C{traced}/C{peak}: Python memory allocated now and at most, per tracemalloc (MiB);
  - C{client}: C{traced} less what the fake Slack's own code allocated (MiB): the fake
    keeps a small record of every connection it served (about 0.3 KiB), so C{traced}
    creeps up by that much per cycle while C{client} stays flat;
  - C{rss}: the process's resident memory (MiB);
  - C{awaiting}: sent messages whose reply is still awaited;
  - C{listeners}: listeners registered on the client;
  - C{timers}: delayed calls pending on the reactor;
  - C{sockets}: WebSockets the fake has open.

On a healthy client C{client}, C{rss}, C{awaiting}, C{listeners}, C{timers} and C{sockets}
stay flat after warming up. The script prints figures and asserts nothing about timing.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import tracemalloc
from collections import Counter
from typing import Any

from twisted.internet.defer import Deferred, gatherResults
from twisted.internet.task import react
from twisted.logger import (
    FilteringLogObserver,
    LogLevel,
    LogLevelFilterPredicate,
    globalLogBeginner,
    textFileLogObserver,
)

from txslackrtm import NoReplyReceivedError, RTMClient
from txslackrtm.testing import FakeSlack

#: Keepalive timings short enough that a silent connection is noticed in well under a second.
PING_TIMEOUT = 0.4
PONG_TIMEOUT = 0.2
#: How long a new connection waits for a replayed reply; the fake replays at once.
RESUME_TIMEOUT = 0.01


def next_event(rtm: RTMClient, event: str) -> Deferred[Any]:
    """A Deferred that fires the next time C{rtm} emits C{event}."""
    waiting: Deferred[Any] = Deferred()
    rtm.once(event, lambda *args: waiting.callback(args))
    return waiting


def resident_mib() -> float:
    """The process's resident memory in MiB (its peak where /proc is not available)."""
    try:
        with open("/proc/self/statm") as statm:
            pages = int(statm.read().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError):
        import resource

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak / (2**20 if sys.platform == "darwin" else 2**10)


#: Where the fake Slack allocates the records it keeps for every connection (its tickets):
#: its own modules, and the generated __init__ of its dataclasses.
_THE_FAKE = [
    tracemalloc.Filter(False, "*/txslackrtm/_fakeslack.py"),
    tracemalloc.Filter(False, "*/txslackrtm/_fakeserver.py"),
    tracemalloc.Filter(False, "<string>"),
]


def not_the_fake() -> int:
    """Bytes traced now, less those allocated by the fake Slack's own code."""
    if not tracemalloc.is_tracing():
        return 0
    snapshot = tracemalloc.take_snapshot().filter_traces(_THE_FAKE)
    return sum(stat.size for stat in snapshot.statistics("filename"))


class Soak:
    """One client against one fake, and the tallies of what happened."""

    def __init__(self, reactor: Any, slack: FakeSlack, args: argparse.Namespace) -> None:
        self.reactor = reactor
        self.slack = slack
        self.args = args
        self.rtm = slack.client(
            reactor=reactor,
            proxy=False,
            rate_limit=None,
            log_level="error",
            client_ping_timeout=PING_TIMEOUT,
            server_pong_timeout=PONG_TIMEOUT,
            reply_ack_on_reconnect_timeout=RESUME_TIMEOUT,
        )
        self.outcomes: Counter[str] = Counter()
        self.sent = 0
        self.connect_calls = 0
        self.started = time.monotonic()

    def send(self, text: str) -> Deferred[Any]:
        """Send C{text} and count how it ends."""
        self.sent += 1
        return self.rtm.send_message(text, "C1").addCallbacks(self.replied, self.failed)

    def replied(self, reply: dict[str, Any]) -> None:
        self.outcomes["replied"] += 1

    def failed(self, failure: Any) -> None:
        kind = "no reply" if failure.check(NoReplyReceivedError) else failure.getErrorMessage()
        self.outcomes[kind] += 1

    async def lose_connection(self, cycle: int) -> None:
        """Lose the connection one way or another, and wait until the client is ready again."""
        ready = next_event(self.rtm, "ready")
        if self.args.half_open_every and cycle % self.args.half_open_every == 0:
            self.slack.half_open()
        elif cycle % 4 == 0:
            self.slack.drop()
        elif cycle % 4 == 1:
            self.slack.goodbye()
        elif cycle % 4 == 2:
            self.slack.push(
                {"type": "error", "error": {"code": 1, "msg": "Socket URL has expired"}}
            )
        else:
            await self.rtm.disconnect()
            self.rtm.start()
        await ready

    def trim_fake(self) -> None:
        """
        Empty the fake's logs (messages, frames, connect calls), which grow by design, so
        that the figures show the client's memory rather than the fake's records.
        """
        self.connect_calls += len(self.slack.connect_calls)
        for log in (self.slack.messages, self.slack.received, self.slack.connect_calls):
            log.clear()
        for take in (self.slack.next_message, self.slack.next_frame):
            while True:
                taken = take()
                if not taken.called:
                    taken.addErrback(lambda failure: None)
                    taken.cancel()
                    break

    def report(self, cycle: int) -> None:
        """Print one line of figures."""
        traced, peak = tracemalloc.get_traced_memory() if tracemalloc.is_tracing() else (0, 0)
        print(
            f"{cycle:>8} {self.sent:>9} {time.monotonic() - self.started:>8.1f}"
            f" {traced / 2**20:>8.2f} {peak / 2**20:>8.2f} {not_the_fake() / 2**20:>8.2f}"
            f" {resident_mib():>8.1f}"
            f" {self.rtm._session.awaiting:>8} {self.rtm.listener_count():>9}"
            f" {len(self.reactor.getDelayedCalls()):>6} {self.slack.connections:>7}",
            flush=True,
        )

    async def run(self) -> None:
        args = self.args
        per_cycle, extra = divmod(args.sends, args.cycles)
        ready = next_event(self.rtm, "ready")
        await self.rtm.start()
        await ready
        print(
            f"{'cycle':>8} {'sent':>9} {'seconds':>8} {'traced':>8} {'peak':>8} {'client':>8}"
            f" {'rss':>8}"
            f" {'awaiting':>8} {'listeners':>9} {'timers':>6} {'sockets':>7}"
        )
        self.report(0)
        for cycle in range(1, args.cycles + 1):
            count = per_cycle + (1 if cycle <= extra else 0)
            await gatherResults([self.send(f"{cycle}.{n}") for n in range(max(0, count - 1))])
            if count:
                self.send(f"{cycle}.last")  # still on its way when the connection goes
            await self.lose_connection(cycle)
            self.trim_fake()
            if cycle % args.every == 0 or cycle == args.cycles:
                self.report(cycle)
        await self.rtm.disconnect()
        elapsed = time.monotonic() - self.started
        print()
        print(f"cycles: {args.cycles}  sends: {self.sent}  seconds: {elapsed:.1f}")
        self.trim_fake()
        print(f"rtm.connect calls: {self.connect_calls}")
        for kind, count in sorted(self.outcomes.items()):
            print(f"sends that ended with {kind}: {count}")
        print(
            f"after disconnect: awaiting {self.rtm._session.awaiting}, "
            f"listeners {self.rtm.listener_count()}, "
            f"timers {len(self.reactor.getDelayedCalls())}"
        )


async def main(reactor: Any, args: argparse.Namespace) -> None:
    slack = await FakeSlack.listen()
    try:
        await Soak(reactor, slack, args).run()
    finally:
        await slack.stop()


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0].strip())
    parser.add_argument("--cycles", type=int, default=10_000, help="connections to lose")
    parser.add_argument("--sends", type=int, default=100_000, help="messages to send in all")
    parser.add_argument("--every", type=int, default=0, help="cycles between reports")
    parser.add_argument(
        "--half-open-every",
        type=int,
        default=500,
        help="cycles between silent connections (0: never)",
    )
    parser.add_argument(
        "--no-tracemalloc", action="store_true", help="skip tracemalloc, which slows Python"
    )
    args = parser.parse_args(argv)
    if args.cycles < 1 or args.sends < 0 or args.every < 0 or args.half_open_every < 0:
        parser.error("--cycles must be positive, and the other numbers not negative")
    args.every = args.every or max(1, args.cycles // 20)
    return args


if __name__ == "__main__":
    options = parse(sys.argv[1:])
    # Only errors reach the terminal: the fake's access log would drown the figures.
    globalLogBeginner.beginLoggingTo(
        [
            FilteringLogObserver(
                textFileLogObserver(sys.stderr),
                [LogLevelFilterPredicate(defaultLogLevel=LogLevel.error)],
            )
        ],
        redirectStandardIO=False,
    )
    if not options.no_tracemalloc:
        tracemalloc.start()
    react(main, [options])

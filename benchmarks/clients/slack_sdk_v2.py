"""
Driver for C{slack_sdk.rtm_v2.RTMClient} (v2: threads and a hand-written WebSocket).

Runs in the peers' venv. v2's C{connect()} blocks until the socket is open; incoming frames go
through a queue to a pool of 10 listener threads, so listeners run concurrently and the
counters here take a lock. Replies carry no C{type}, so the send workload listens on C{"*"}.
It has no ready state: C{hello} stands for it.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from _common import (
    CHANNEL,
    IDLE_BATCH,
    IDLE_SETTLE,
    TEXT,
    Args,
    Inbound,
    Sends,
    finish,
    idle_fields,
    parse_args,
    raise_file_limit,
    settled_rss,
    startup_fields,
)
from slack_sdk.rtm_v2 import RTMClient

#: Seconds without a new event after which the inbound workload counts as stalled.
STALL = 3.0


class ErrorNames(logging.Handler):
    """Keeps the names of the errors v2 logs (it logs its reader's failures, then goes on)."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.names: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info and record.exc_info[0] is not None:
            name = record.exc_info[0].__name__
            if name not in self.names:
                self.names.append(name)


ERRORS = ErrorNames()
logging.getLogger("slack_sdk.rtm_v2").addHandler(ERRORS)
logging.getLogger("slack_sdk.rtm_v2").propagate = False


def client(args: Args) -> tuple[RTMClient, threading.Event, list[float]]:
    """A client aimed at the load server, with an event set (and a time noted) on hello."""
    rtm = RTMClient(token="xoxb-bench", base_url=args.api)
    hello = threading.Event()
    times: list[float] = []

    @rtm.on("hello")
    def on_hello(client: RTMClient, event: dict[str, Any]) -> None:
        times.append(time.perf_counter())
        hello.set()

    return rtm, hello, times


def wait(event: threading.Event, deadline: float, what: str) -> None:
    """Wait for C{event} until the monotonic C{deadline}, or give up with a result."""
    if not event.wait(max(0.0, deadline - time.monotonic())):
        finish({"error": f"timed out waiting for {what}"}, 3)


def inbound(args: Args, deadline: float) -> dict[str, Any]:
    """Count C{args.n} message events."""
    rtm, _, _ = client(args)
    counter = Inbound(args.n)
    lock = threading.Lock()
    done = threading.Event()
    last = [0.0]

    @rtm.on("message")
    def hear(client: RTMClient, event: dict[str, Any]) -> None:
        with lock:
            last[0] = time.perf_counter()
            if counter.event():
                done.set()

    rtm.connect()
    # v2's frame reader recurses once per frame while bytes keep coming, so a burst can kill
    # it (RecursionError) and no more events arrive: give up after STALL seconds of silence.
    seen, quiet_since = -1, time.monotonic()
    while not done.wait(0.2):
        now = time.monotonic()
        with lock:
            count = counter.count
        if count != seen:
            seen, quiet_since = count, now
        if now - quiet_since > STALL or now > deadline:
            with lock:
                seconds = last[0] - counter.t0
            logged = f" ({', '.join(ERRORS.names)} in its reader)" if ERRORS.names else ""
            fields: dict[str, Any] = {"error": f"stalled after {count} of {args.n} events{logged}"}
            if count > 1 and seconds > 0:
                fields["partial_rate"] = (count - 1) / seconds
            finish(fields, 3)
    return counter.fields()


def send(args: Args, deadline: float) -> dict[str, Any]:
    """Send C{args.n} messages with C{args.inflight} awaiting their replies."""
    rtm, hello, _ = client(args)
    sends = Sends(args.n, args.inflight)
    lock = threading.Lock()
    done = threading.Event()

    def go() -> None:
        with lock:
            message_id = sends.next_id()
        if message_id is not None:
            rtm.send({"type": "message", "channel": CHANNEL, "text": TEXT, "id": message_id})

    @rtm.on("*")
    def replied(client: RTMClient, event: dict[str, Any]) -> None:
        if "reply_to" not in event:
            return
        with lock:
            last = sends.replied(event["reply_to"])
        if last:
            done.set()
        else:
            go()

    rtm.connect()
    wait(hello, deadline, "hello")
    for _ in range(sends.inflight):
        go()
    if not done.wait(max(0.0, deadline - time.monotonic())):
        finish({"error": f"timed out with {sends.replies} of {args.n} replies"}, 3)
    return sends.fields()


def startup(args: Args, deadline: float) -> dict[str, Any]:
    """Time C{connect()} to C{hello} on fresh clients; the first run is warm-up."""
    ready_ms: list[float] = []
    for run in range(args.runs + 1):
        rtm, hello, times = client(args)
        t0 = time.perf_counter()
        rtm.connect()
        wait(hello, deadline, "hello")
        if run:
            ready_ms.append((times[0] - t0) * 1e3)
        rtm.close()
    return startup_fields(ready_ms)


def idle(args: Args, deadline: float) -> dict[str, Any]:
    """Open C{args.conns} connections and measure the RSS they add (connect() blocks)."""
    raise_file_limit()
    first, hello, _ = client(args)
    first.connect()
    wait(hello, deadline, "hello")
    before = settled_rss()
    clients = [first]
    for start in range(0, args.conns, IDLE_BATCH):
        batch = [client(args) for _ in range(min(IDLE_BATCH, args.conns - start))]
        for rtm, _, _ in batch:
            rtm.connect()
        for _, hello, _ in batch:
            wait(hello, deadline, f"hello on connection {start + 1}..")
        clients.extend(rtm for rtm, _, _ in batch)
    time.sleep(IDLE_SETTLE)
    return idle_fields(args.conns, before, settled_rss())


WORKLOADS = {"inbound": inbound, "send": send, "startup": startup, "idle": idle}


def main() -> None:
    """Run one workload and print its result."""
    args = parse_args()
    deadline = time.monotonic() + args.timeout
    finish(WORKLOADS[args.workload](args, deadline))


if __name__ == "__main__":
    main()

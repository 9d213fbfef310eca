"""
Driver for txslackrtm: C{RTMClient(rate_limit=None)} on the default Twisted reactor.

Runs in the project's environment. See C{_common.py} for the command line and the results;
C{--profile PATH} writes a cProfile of the whole run to PATH.
"""

from __future__ import annotations

import cProfile
import sys
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
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
from twisted.internet import reactor as _reactor
from twisted.internet.defer import Deferred, DeferredList, ensureDeferred
from twisted.internet.task import deferLater
from twisted.python.failure import Failure

import txslackrtm
from txslackrtm import RTMClient

reactor: Any = _reactor
Workload = Callable[[Args], Coroutine[Any, Any, dict[str, Any]]]


def client(args: Args) -> RTMClient:
    """A client aimed at the load server, with pacing off, decoding with orjson if it can."""
    try:
        from orjson import loads
    except ImportError:  # the plain row: orjson hidden, the standard library decodes
        return RTMClient("xoxb-bench", slack_api_url=args.api, rate_limit=None)
    return RTMClient("xoxb-bench", slack_api_url=args.api, rate_limit=None, json_loads=loads)


async def until_ready(rtm: RTMClient) -> None:
    """Start C{rtm} and wait for C{ready}."""
    ready: Deferred[None] = Deferred()
    rtm.once("ready", lambda: ready.callback(None))
    await rtm.start()
    await ready


async def inbound(args: Args) -> dict[str, Any]:
    """Count C{args.n} message events."""
    rtm = client(args)
    counter = Inbound(args.n)
    done: Deferred[None] = Deferred()

    def hear(event: dict[str, Any]) -> None:
        if counter.event():
            done.callback(None)

    rtm.on("message", hear)
    await rtm.start()
    await done
    return counter.fields()


async def send(args: Args) -> dict[str, Any]:
    """Send C{args.n} messages with C{args.inflight} awaiting their replies."""
    rtm = client(args)
    await until_ready(rtm)
    sends = Sends(args.n, args.inflight)
    done: Deferred[None] = Deferred()

    def go() -> None:
        key = sends.next_id()
        if key is None:
            return
        rtm.send_message(TEXT, CHANNEL).addCallbacks(replied, failed, callbackArgs=(key,))

    def replied(reply: dict[str, Any], key: int) -> None:
        if sends.replied(key):
            done.callback(None)
        else:
            go()

    def failed(failure: Failure) -> None:
        if not done.called:
            done.errback(failure)

    for _ in range(sends.inflight):
        go()
    await done
    return sends.fields()


async def startup(args: Args) -> dict[str, Any]:
    """Time C{start()} to C{ready} (and to C{hello}) on fresh clients; the first is warm-up."""
    ready_ms: list[float] = []
    hello_ms: list[float] = []
    for run in range(args.runs + 1):
        rtm = client(args)
        hello: list[float] = []
        rtm.on("connected", lambda hello=hello: hello.append(time.perf_counter()))
        t0 = time.perf_counter()
        await until_ready(rtm)
        t1 = time.perf_counter()
        if run:
            ready_ms.append((t1 - t0) * 1e3)
            hello_ms.append((hello[0] - t0) * 1e3)
        await rtm.disconnect()
    return startup_fields(ready_ms, hello_ms)


async def idle(args: Args) -> dict[str, Any]:
    """Open C{args.conns} connections and measure the RSS they add."""
    raise_file_limit()
    clients = [client(args)]
    await until_ready(clients[0])
    before = settled_rss()
    opened = 0
    while opened < args.conns:
        batch = [client(args) for _ in range(min(IDLE_BATCH, args.conns - opened))]
        await DeferredList(
            [ensureDeferred(until_ready(rtm)) for rtm in batch], fireOnOneErrback=True
        )
        clients.extend(batch)
        opened += len(batch)
    await deferLater(reactor, IDLE_SETTLE, lambda: None)
    after = settled_rss()
    return idle_fields(opened, before, after)


WORKLOADS: dict[str, Workload] = {
    "inbound": inbound,
    "send": send,
    "startup": startup,
    "idle": idle,
}


def main() -> None:
    """Run one workload and print its result."""
    profile_path = None
    if "--profile" in sys.argv:
        at = sys.argv.index("--profile")
        profile_path = sys.argv[at + 1]
        del sys.argv[at : at + 2]
    args = parse_args()
    profiler = cProfile.Profile() if profile_path else None

    def done(fields: dict[str, Any]) -> None:
        fields["orjson_loaded"] = "orjson" in sys.modules
        fields["txslackrtm_from"] = str(Path(txslackrtm.__file__).parent.parent)
        if profiler is not None and profile_path is not None:
            profiler.disable()
            profiler.dump_stats(profile_path)
        finish(fields)

    reactor.callLater(args.timeout, finish, {"error": f"timed out after {args.timeout} s"}, 3)
    work = ensureDeferred(WORKLOADS[args.workload](args))
    work.addCallbacks(done, lambda failure: finish({"error": failure.getErrorMessage()}, 1))
    if profiler is not None:
        profiler.enable()
    reactor.run()


if __name__ == "__main__":
    main()

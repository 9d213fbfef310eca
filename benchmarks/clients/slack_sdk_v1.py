"""
Driver for C{slack_sdk.rtm.RTMClient} (v1: asyncio and aiohttp), with C{run_async=True}.

Runs in the peers' venv. v1 keeps its callbacks on the class (shared by every instance) and
passes C{rtm_client=}, C{web_client=}, C{data=} to each; replies, which carry no C{type}, are
dispatched as the event C{"Unknown"}. It has no ready state: C{hello} stands for it.
"""

from __future__ import annotations

import asyncio
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
    run_within_timeout,
    settled_rss,
    startup_fields,
)
from slack_sdk.rtm import RTMClient

#: Each client's hello future, by client id (v1's callbacks are class-wide).
_hello: dict[int, asyncio.Future[float]] = {}


async def _on_hello(**payload: Any) -> None:
    future = _hello.pop(id(payload["rtm_client"]), None)
    if future is not None and not future.done():
        future.set_result(time.perf_counter())


RTMClient.on(event="hello", callback=_on_hello)


async def connected(args: Args) -> tuple[RTMClient, float]:
    """Start a client and wait for its hello; return it and the hello time."""
    loop = asyncio.get_running_loop()
    rtm = RTMClient(token="xoxb-bench", run_async=True, base_url=args.api, loop=loop)
    hello: asyncio.Future[float] = loop.create_future()
    _hello[id(rtm)] = hello
    rtm.start()
    return rtm, await hello


async def inbound(args: Args) -> dict[str, Any]:
    """Count C{args.n} message events."""
    counter = Inbound(args.n)
    done = asyncio.get_running_loop().create_future()

    async def hear(**payload: Any) -> None:
        if counter.event():
            done.set_result(None)

    RTMClient.on(event="message", callback=hear)
    await connected(args)
    await done
    return counter.fields()


async def send(args: Args) -> dict[str, Any]:
    """Send C{args.n} messages with C{args.inflight} awaiting their replies."""
    sends = Sends(args.n, args.inflight)
    done = asyncio.get_running_loop().create_future()
    rtm, _ = await connected(args)

    def go() -> None:
        message_id = sends.next_id()
        if message_id is not None:
            payload = {"type": "message", "channel": CHANNEL, "text": TEXT, "id": message_id}
            rtm.send_over_websocket(payload=payload)

    async def replied(**payload: Any) -> None:
        if sends.replied(payload["data"].get("reply_to")):
            done.set_result(None)
        else:
            go()

    RTMClient.on(event="Unknown", callback=replied)
    for _ in range(sends.inflight):
        go()
    await done
    return sends.fields()


async def startup(args: Args) -> dict[str, Any]:
    """Time C{start()} to C{hello} on fresh clients; the first run is warm-up."""
    ready_ms: list[float] = []
    for run in range(args.runs + 1):
        t0 = time.perf_counter()
        rtm, t1 = await connected(args)
        if run:
            ready_ms.append((t1 - t0) * 1e3)
        await rtm.async_stop()
    return startup_fields(ready_ms)


async def idle(args: Args) -> dict[str, Any]:
    """Open C{args.conns} connections and measure the RSS they add."""
    raise_file_limit()
    clients = [await connected(args)]
    before = settled_rss()
    opened = 0
    while opened < args.conns:
        count = min(IDLE_BATCH, args.conns - opened)
        clients.extend(await asyncio.gather(*(connected(args) for _ in range(count))))
        opened += count
    await asyncio.sleep(IDLE_SETTLE)
    return idle_fields(opened, before, settled_rss())


WORKLOADS = {"inbound": inbound, "send": send, "startup": startup, "idle": idle}


def main() -> None:
    """Run one workload and print its result."""
    args = parse_args()
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    fields = loop.run_until_complete(run_within_timeout(WORKLOADS, args))
    finish(fields, 3 if "error" in fields else 0)


if __name__ == "__main__":
    main()

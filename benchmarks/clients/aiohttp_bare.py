"""
Driver for a bare aiohttp client: C{rtm.connect} with a C{ClientSession}, then C{ws_connect};
each text frame is C{json.loads}-ed and handed to one Python call, nothing more.

Runs in the peers' venv (aiohttp is not a dependency of the project). Its ready state is
C{hello}.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any

import aiohttp
from _common import (
    IDLE_BATCH,
    IDLE_SETTLE,
    Args,
    Inbound,
    Sends,
    finish,
    idle_fields,
    message_body,
    parse_args,
    raise_file_limit,
    run_within_timeout,
    settled_rss,
    startup_fields,
)

Handler = Callable[[dict[str, Any]], None]


class BareClient:
    """One connection: its session, its socket, and the task that reads it."""

    def __init__(self, args: Args, handler: Handler) -> None:
        self.args = args
        self.handler = handler
        self.session = aiohttp.ClientSession()
        self.ws: aiohttp.ClientWebSocketResponse | None = None
        self.hello: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        self.reader: asyncio.Task[None] | None = None

    async def connect(self) -> float:
        """C{rtm.connect}, then the WebSocket; returns the time of C{hello}."""
        async with self.session.post(
            self.args.api + "rtm.connect", data={"token": "xoxb-bench"}
        ) as response:
            url = (await response.json())["url"]
        self.ws = await self.session.ws_connect(url)
        self.reader = asyncio.create_task(self.read())
        return await self.hello

    async def read(self) -> None:
        """Decode every text frame and hand it to the handler."""
        assert self.ws is not None
        handler = self.handler
        async for message in self.ws:
            if message.type is not aiohttp.WSMsgType.TEXT:
                continue
            event = json.loads(message.data)
            if not self.hello.done() and event.get("type") == "hello":
                self.hello.set_result(time.perf_counter())
            else:
                handler(event)

    async def close(self) -> None:
        """Close the socket and the session."""
        if self.ws is not None:
            await self.ws.close()
        await self.session.close()


def ignore(event: dict[str, Any]) -> None:
    """A handler that does nothing."""


async def inbound(args: Args) -> dict[str, Any]:
    """Count C{args.n} message events."""
    counter = Inbound(args.n)
    done = asyncio.get_running_loop().create_future()

    def hear(event: dict[str, Any]) -> None:
        if event.get("type") == "message" and counter.event():
            done.set_result(None)

    await BareClient(args, hear).connect()
    await done
    return counter.fields()


async def send(args: Args) -> dict[str, Any]:
    """Send C{args.n} messages with C{args.inflight} awaiting their replies."""
    sends = Sends(args.n, args.inflight)
    done = asyncio.get_running_loop().create_future()
    outgoing: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

    def go() -> None:
        message_id = sends.next_id()
        if message_id is not None:
            outgoing.put_nowait(message_body(message_id))

    def replied(event: dict[str, Any]) -> None:
        if sends.replied(event.get("reply_to")):
            done.set_result(None)
        else:
            go()

    client = BareClient(args, replied)
    await client.connect()
    assert client.ws is not None
    ws = client.ws

    async def writer() -> None:
        while True:
            await ws.send_str(json.dumps(await outgoing.get()))

    task = asyncio.create_task(writer())
    for _ in range(sends.inflight):
        go()
    await done
    task.cancel()
    return sends.fields()


async def startup(args: Args) -> dict[str, Any]:
    """Time C{rtm.connect} to C{hello} on fresh connections; the first run is warm-up."""
    ready_ms: list[float] = []
    for run in range(args.runs + 1):
        client = BareClient(args, ignore)
        t0 = time.perf_counter()
        t1 = await client.connect()
        if run:
            ready_ms.append((t1 - t0) * 1e3)
        await client.close()
    return startup_fields(ready_ms)


async def idle(args: Args) -> dict[str, Any]:
    """Open C{args.conns} connections and measure the RSS they add."""
    raise_file_limit()
    first = BareClient(args, ignore)
    await first.connect()
    before = settled_rss()
    clients = [first]
    opened = 0
    while opened < args.conns:
        batch = [BareClient(args, ignore) for _ in range(min(IDLE_BATCH, args.conns - opened))]
        await asyncio.gather(*(client.connect() for client in batch))
        clients.extend(batch)
        opened += len(batch)
    await asyncio.sleep(IDLE_SETTLE)
    return idle_fields(opened, before, settled_rss())


WORKLOADS = {"inbound": inbound, "send": send, "startup": startup, "idle": idle}


def main() -> None:
    """Run one workload and print its result."""
    args = parse_args()
    fields = asyncio.run(run_within_timeout(WORKLOADS, args))
    finish(fields, 3 if "error" in fields else 0)


if __name__ == "__main__":
    main()

"""
Driver for a bare Autobahn client: the obvious design, as a floor for any Autobahn-based
RTM client. C{rtm.connect} with treq, then C{WebSocketClientProtocol} with default options;
each frame is C{json.loads}-ed and handed to one Python call, nothing more.

Runs in the project's environment. Its ready state is C{hello}.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import treq
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
    settled_rss,
    startup_fields,
)
from autobahn.twisted.websocket import (
    WebSocketClientFactory,
    WebSocketClientProtocol,
    connectWS,
)
from twisted.internet import reactor as _reactor
from twisted.internet.defer import Deferred, DeferredList, ensureDeferred
from twisted.internet.task import deferLater

reactor: Any = _reactor
Handler = Callable[["BareClient", dict[str, Any]], None]


class BareClient(WebSocketClientProtocol):  # type: ignore[misc]
    """One connection: JSON-decodes every text frame and calls the factory's handler."""

    factory: BareFactory

    def onMessage(self, payload: bytes, isBinary: bool) -> None:
        self.factory.handler(self, json.loads(payload))

    def send_json(self, body: dict[str, Any]) -> None:
        """Send one text frame."""
        self.sendMessage(json.dumps(body).encode("utf-8"))


class BareFactory(WebSocketClientFactory):  # type: ignore[misc]
    """Builds L{BareClient}s; C{hello} fires with the protocol and the time."""

    protocol = BareClient

    def __init__(self, url: str, handler: Handler) -> None:
        super().__init__(url)
        self.hello: Deferred[tuple[BareClient, float]] = Deferred()

        def on_frame(client: BareClient, event: dict[str, Any]) -> None:
            if event.get("type") == "hello" and not self.hello.called:
                self.hello.callback((client, time.perf_counter()))
            else:
                handler(client, event)

        self.handler = on_frame


async def connect(args: Args, handler: Handler) -> tuple[BareClient, float]:
    """C{rtm.connect}, then the WebSocket; fires on C{hello} with the protocol and its time."""
    response = await treq.post(args.api + "rtm.connect", data={"token": "xoxb-bench"})
    url = (await response.json())["url"]
    factory = BareFactory(url, handler)
    connectWS(factory)
    return await factory.hello


def ignore(client: BareClient, event: dict[str, Any]) -> None:
    """A handler that does nothing."""


async def inbound(args: Args) -> dict[str, Any]:
    """Count C{args.n} message events."""
    counter = Inbound(args.n)
    done: Deferred[None] = Deferred()

    def hear(client: BareClient, event: dict[str, Any]) -> None:
        if event.get("type") == "message" and counter.event():
            done.callback(None)

    await connect(args, hear)
    await done
    return counter.fields()


async def send(args: Args) -> dict[str, Any]:
    """Send C{args.n} messages with C{args.inflight} awaiting their replies."""
    sends = Sends(args.n, args.inflight)
    done: Deferred[None] = Deferred()

    def go(client: BareClient) -> None:
        message_id = sends.next_id()
        if message_id is not None:
            client.send_json(message_body(message_id))

    def replied(client: BareClient, event: dict[str, Any]) -> None:
        if sends.replied(event.get("reply_to")):
            done.callback(None)
        else:
            go(client)

    client, _ = await connect(args, replied)
    for _ in range(sends.inflight):
        go(client)
    await done
    return sends.fields()


async def startup(args: Args) -> dict[str, Any]:
    """Time C{rtm.connect} to C{hello} on fresh connections; the first run is warm-up."""
    ready_ms: list[float] = []
    for run in range(args.runs + 1):
        t0 = time.perf_counter()
        client, t1 = await connect(args, ignore)
        if run:
            ready_ms.append((t1 - t0) * 1e3)
        client.sendClose(1000)
    return startup_fields(ready_ms)


async def idle(args: Args) -> dict[str, Any]:
    """Open C{args.conns} connections and measure the RSS they add."""
    raise_file_limit()
    clients = [await connect(args, ignore)]
    before = settled_rss()
    opened = 0
    while opened < args.conns:
        count = min(IDLE_BATCH, args.conns - opened)
        batch = [ensureDeferred(connect(args, ignore)) for _ in range(count)]
        results = await DeferredList(batch, fireOnOneErrback=True)
        clients.extend(value for _, value in results)
        opened += count
    await deferLater(reactor, IDLE_SETTLE, lambda: None)
    return idle_fields(opened, before, settled_rss())


WORKLOADS = {"inbound": inbound, "send": send, "startup": startup, "idle": idle}


def main() -> None:
    """Run one workload and print its result."""
    args = parse_args()
    reactor.callLater(args.timeout, finish, {"error": f"timed out after {args.timeout} s"}, 3)
    work = ensureDeferred(WORKLOADS[args.workload](args))
    work.addCallbacks(finish, lambda failure: finish({"error": failure.getErrorMessage()}, 1))
    reactor.run()


if __name__ == "__main__":
    main()

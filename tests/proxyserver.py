"""
Real loopback servers for the network tests: an HTTP C{CONNECT} proxy, TLS listeners, and a
reactor wrapper that lets a test wait for its client connections to close.

Everything listens on 127.0.0.1, port 0, and is shut down by a test cleanup that closes every
connection and waits until each one is gone, so trial finds a clean reactor.
"""

from __future__ import annotations

import base64
import enum
from collections import Counter
from dataclasses import dataclass
from typing import Any

from twisted.internet import reactor
from twisted.internet.defer import Deferred, succeed
from twisted.internet.endpoints import TCP4ClientEndpoint, connectProtocol
from twisted.internet.interfaces import IOpenSSLServerConnectionCreator
from twisted.internet.protocol import Factory, Protocol
from twisted.protocols.policies import ProtocolWrapper, WrappingFactory
from twisted.protocols.tls import TLSMemoryBIOFactory
from twisted.python.failure import Failure
from twisted.trial.unittest import TestCase
from zope.interface import directlyProvides, providedBy  # type: ignore[import-untyped, unused-ignore]


class LiveConnections:
    """
    The open connections of one server or client, so that a test can close them all and
    wait until they are closed.
    """

    def __init__(self) -> None:
        self._live: set[Any] = set()
        self._waiting: list[Deferred[None]] = []

    def __len__(self) -> int:
        return len(self._live)

    def add(self, protocol: Any) -> None:
        self._live.add(protocol)

    def discard(self, protocol: Any) -> None:
        self._live.discard(protocol)
        if not self._live:
            waiting, self._waiting = self._waiting, []
            for waiter in waiting:
                waiter.callback(None)

    def closed(self) -> Deferred[None]:
        """
        A Deferred that fires once no connection is open.
        """
        if not self._live:
            return succeed(None)
        waiter: Deferred[None] = Deferred()
        self._waiting.append(waiter)
        return waiter

    def close_all(self) -> Deferred[None]:
        """
        Abort every open connection and fire once all are closed.
        """
        for protocol in list(self._live):
            protocol.transport.abortConnection()
        return self.closed()


class _TrackingFactory(WrappingFactory):
    """
    Wraps a factory and records its live connections in a L{LiveConnections}.
    """

    noisy = False

    def __init__(self, wrapped: Any, live: LiveConnections) -> None:
        super().__init__(wrapped)
        self._live = live

    def registerProtocol(self, protocol: ProtocolWrapper) -> None:
        super().registerProtocol(protocol)
        self._live.add(protocol)

    def unregisterProtocol(self, protocol: ProtocolWrapper) -> None:
        super().unregisterProtocol(protocol)
        self._live.discard(protocol)


def listen(
    testcase: TestCase, factory: Any, tls: IOpenSSLServerConnectionCreator | None = None
) -> int:
    """
    Serve C{factory} on a loopback port, in TLS with C{tls} when given, until the test ends.

    @return: the port number.
    """
    if tls is not None:
        factory = TLSMemoryBIOFactory(tls, False, factory)
    live = LiveConnections()
    port = reactor.listenTCP(0, _TrackingFactory(factory, live), interface="127.0.0.1")

    async def stop() -> None:
        await port.stopListening()
        await live.close_all()

    testcase.addCleanup(stop)
    number: int = port.getHost().port
    return number


class TrackingReactor:
    """
    The global reactor, except that the client connections made through it with
    C{connectTCP} are recorded in C{connections}, so a test can wait for them to close.
    """

    def __init__(self) -> None:
        self.connections = LiveConnections()
        directlyProvides(self, providedBy(reactor))

    def __getattr__(self, name: str) -> Any:
        return getattr(reactor, name)

    def connectTCP(self, host: str, port: int, factory: Any, *args: Any, **kw: Any) -> Any:
        tracked = _TrackingFactory(factory, self.connections)
        return reactor.connectTCP(host, port, tracked, *args, **kw)


class ProxyMode(enum.Enum):
    """
    How a L{ConnectProxy} answers C{CONNECT} (after checking credentials, if it has some).
    """

    #: Open the tunnel: connect to the target and relay bytes both ways.
    TUNNEL = "tunnel"
    #: Answer 403 Forbidden.
    FORBID = "forbid"
    #: Answer 502 Bad Gateway.
    BAD_GATEWAY = "bad gateway"
    #: Close the connection as soon as the request has come.
    CLOSE = "close"
    #: Never answer.
    SILENT = "silent"


@dataclass(frozen=True)
class ProxyRequest:
    """
    A C{CONNECT} request the proxy received: its target and headers (lower-case names).
    """

    target: str
    headers: dict[str, str]


class ConnectProxy:
    """
    An HTTP proxy that speaks only C{CONNECT}, built on Twisted, listening on loopback.

    @ivar port: the port it listens on.
    @ivar tunnels: how many tunnels it opened, by target C{host:port}.
    @ivar requests: every C{CONNECT} request it received, in order.
    @ivar relayed: every byte it passed from clients to targets, to show what it could read.
    """

    def __init__(
        self,
        testcase: TestCase,
        credentials: tuple[str, str] | None = None,
        mode: ProxyMode = ProxyMode.TUNNEL,
    ) -> None:
        """
        Start the proxy; it stops, closing every connection, when the test ends.

        @param credentials: C{(user, password)} it demands, answering 407 otherwise.
        """
        self.credentials = credentials
        self.mode = mode
        self.tunnels: Counter[str] = Counter()
        self.requests: list[ProxyRequest] = []
        self.relayed = bytearray()
        self._request_waiters: list[Deferred[ProxyRequest]] = []
        self.upstreams = LiveConnections()
        self.port = listen(testcase, Factory.forProtocol(lambda: _ProxyProtocol(self)))
        testcase.addCleanup(self.upstreams.close_all)

    @property
    def url(self) -> str:
        """
        The proxy's URL, with its credentials (percent-encoding left to the caller).
        """
        user = "" if self.credentials is None else "{}:{}@".format(*self.credentials)
        return f"http://{user}127.0.0.1:{self.port}"

    def received(self, request: ProxyRequest) -> None:
        """
        Record C{request}, and hand it to whoever waits for one.
        """
        self.requests.append(request)
        waiters, self._request_waiters = self._request_waiters, []
        for waiter in waiters:
            waiter.callback(request)

    def next_request(self) -> Deferred[ProxyRequest]:
        """
        A Deferred that fires with the next request the proxy receives.
        """
        waiter: Deferred[ProxyRequest] = Deferred()
        self._request_waiters.append(waiter)
        return waiter

    def authorized(self, headers: dict[str, str]) -> bool:
        """
        Whether a request with C{headers} may go on.
        """
        if self.credentials is None:
            return True
        token = base64.b64encode("{}:{}".format(*self.credentials).encode()).decode()
        return headers.get("proxy-authorization") == f"Basic {token}"


_ANSWERS = {
    ProxyMode.FORBID: b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n",
    ProxyMode.BAD_GATEWAY: b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n",
}
_AUTHENTICATE = (
    b"HTTP/1.1 407 Proxy Authentication Required\r\n"
    b'Proxy-Authenticate: Basic realm="test"\r\nContent-Length: 0\r\n\r\n'
)
_ESTABLISHED = b"HTTP/1.1 200 Connection established\r\n\r\n"


class _ProxyProtocol(Protocol):
    """
    One client connection to the proxy: reads the request, then answers or relays.
    """

    def __init__(self, proxy: ConnectProxy) -> None:
        self._proxy = proxy
        self._buffer = b""
        self._upstream: _Upstream | None = None
        self._answered = False

    def dataReceived(self, data: bytes) -> None:
        if self._upstream is not None:
            self._proxy.relayed += data
            self._upstream.transport.write(data)
            return
        self._buffer += data
        if not self._answered and b"\r\n\r\n" in self._buffer:
            self._answered = True
            head, self._buffer = self._buffer.split(b"\r\n\r\n", 1)
            self._answer(head.decode("latin-1"))

    def connectionLost(self, reason: Failure | None = None) -> None:
        if self._upstream is not None:
            self._upstream.transport.loseConnection()

    def _answer(self, head: str) -> None:
        request_line, *header_lines = head.split("\r\n")
        target = request_line.split(" ")[1]
        headers = dict(_header(line) for line in header_lines)
        self._proxy.received(ProxyRequest(target, headers))
        mode = self._proxy.mode
        if mode is ProxyMode.SILENT:
            return
        if mode is ProxyMode.CLOSE:
            self.transport.loseConnection()
        elif not self._proxy.authorized(headers):
            self._refuse(_AUTHENTICATE)
        elif mode in _ANSWERS:
            self._refuse(_ANSWERS[mode])
        else:
            self._open(target)

    def _refuse(self, answer: bytes) -> None:
        self.transport.write(answer)
        self.transport.loseConnection()

    def _open(self, target: str) -> None:
        host, port = target.rsplit(":", 1)
        endpoint = TCP4ClientEndpoint(reactor, host.strip("[]"), int(port))
        connecting = connectProtocol(endpoint, _Upstream(self, self._proxy.upstreams))
        connecting.addCallbacks(
            lambda upstream: self._relay(target, upstream),
            lambda _: self._refuse(_ANSWERS[ProxyMode.BAD_GATEWAY]),
        )

    def _relay(self, target: str, upstream: _Upstream) -> None:
        self._proxy.tunnels[target] += 1
        self._upstream = upstream
        self.transport.write(_ESTABLISHED)
        if self._buffer:
            self._proxy.relayed += self._buffer
            upstream.transport.write(self._buffer)
            self._buffer = b""


class _Upstream(Protocol):
    """
    The proxy's connection to a tunnel's target: relays what comes back to the client.
    """

    def __init__(self, client: _ProxyProtocol, live: LiveConnections) -> None:
        self._client = client
        self._live = live

    def connectionMade(self) -> None:
        self._live.add(self)

    def dataReceived(self, data: bytes) -> None:
        self._client.transport.write(data)

    def connectionLost(self, reason: Failure | None = None) -> None:
        self._live.discard(self)
        self._client.transport.loseConnection()


def _header(line: str) -> tuple[str, str]:
    name, _, value = line.partition(":")
    return name.strip().lower(), value.strip()


class Echo(Protocol):
    """Sends back what it receives."""

    def dataReceived(self, data: bytes) -> None:
        self.transport.write(data)


class Probe(Protocol):
    """
    Sends C{ping} once connected; fires C{received} with the first bytes back and C{lost}
    with the exception saying why the connection ended.
    """

    def __init__(self) -> None:
        self.received: Deferred[bytes] = Deferred()
        self.lost: Deferred[BaseException] = Deferred()

    def connectionMade(self) -> None:
        self.transport.write(b"ping")

    def dataReceived(self, data: bytes) -> None:
        if not self.received.called:
            self.received.callback(data)

    def connectionLost(self, reason: Failure | None = None) -> None:
        assert reason is not None and reason.value is not None
        self.lost.callback(reason.value)

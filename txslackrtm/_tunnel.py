"""
HTTP C{CONNECT} tunnels as a Twisted client endpoint.

L{HTTPConnectTunnelEndpoint} reaches a target host through an HTTP proxy: it connects to the
proxy with any endpoint, asks it to C{CONNECT host:port} (with C{Proxy-Authorization: Basic}
when given credentials) and, once the proxy answers 2xx, hands the raw byte stream to the
protocol of the factory it was given. Nothing in here knows about TLS: wrap the tunnel endpoint
with L{twisted.internet.endpoints.wrapClientTLS} to run TLS end to end inside it, verified
against the target's name rather than the proxy's::

    to_proxy = HostnameEndpoint(reactor, "proxy.example", 3128)
    tunnel = HTTPConnectTunnelEndpoint(to_proxy, "slack.com", 443, reactor=reactor)
    endpoint = wrapClientTLS(optionsForClientTLS("slack.com"), tunnel)

Twisted's own C{ProxyAgent} cannot do this (Twisted ticket 5324), and Autobahn's proxy support
has neither authentication nor our TLS settings, hence this module.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass, field
from typing import Any, Protocol, cast

from twisted.internet.address import HostnameAddress
from twisted.internet.defer import Deferred
from twisted.internet.error import ConnectError, NoProtocol
from twisted.internet.interfaces import (
    IAddress,
    IDelayedCall,
    IProtocol,
    IProtocolFactory,
    IReactorTime,
    IStreamClientEndpoint,
)
from twisted.internet.protocol import Factory, connectionDone
from twisted.internet.protocol import Protocol as TwistedProtocol
from twisted.python.failure import Failure
from zope.interface import implementer  # type: ignore[import-untyped, unused-ignore]

__all__ = ["DEFAULT_TIMEOUT", "HTTPConnectTunnelEndpoint", "ProxyError"]

#: Seconds the proxy has to answer C{CONNECT}, counted from when the request is sent.
DEFAULT_TIMEOUT = 30.0

#: The longest response head (status line and headers) accepted from a proxy, in bytes.
MAX_RESPONSE_HEAD = 16384

_END_OF_HEAD = re.compile(rb"\r?\n\r?\n")
_STATUS_LINE = re.compile(rb"HTTP/1\.[01] ([0-9]{3})(?: ([^\r\n]*))?\r?")
_HOST = re.compile(r"[A-Za-z0-9._:%-]+")
_REASON_LENGTH = 80


class ProxyError(ConnectError):
    """
    The proxy did not open the tunnel: it refused (C{status} is its HTTP status, e.g. 407,
    403 or 502), closed the connection, did not answer in time, or did not speak HTTP
    (C{status} is C{None} for those).

    A L{ConnectError}, so code that retries failed connections treats it as one. Its message
    names the proxy and the target, never the credentials.

    @ivar status: the proxy's HTTP status code, or C{None} when there was none.
    """

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(None, message)  # type: ignore[no-untyped-call]
        self.status = status

    def __str__(self) -> str:
        return str(self.args[0])


@implementer(IStreamClientEndpoint)
class HTTPConnectTunnelEndpoint:
    """
    A client endpoint that reaches C{target_host:target_port} through an HTTP proxy's
    C{CONNECT} method.

    C{connect} fires with the protocol built by the given factory once the proxy has answered
    2xx; that protocol then owns the proxy connection, and any bytes the proxy sent after its
    response head are delivered to it. Its transport's C{getPeer()} is the proxy's address.
    Half-closing is not passed through. On any other answer, or none, C{connect} fails with
    L{ProxyError}; a failure to reach the proxy at all fails with whatever C{proxy_endpoint}
    failed with. Cancelling the Deferred closes the proxy connection.
    """

    def __init__(
        self,
        proxy_endpoint: IStreamClientEndpoint,
        target_host: str,
        target_port: int,
        credentials: tuple[str, str] | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        reactor: IReactorTime | None = None,
        proxy_name: str | None = None,
    ) -> None:
        """
        @param proxy_endpoint: how to reach the proxy, e.g. a L{HostnameEndpoint}.
        @param target_host: the host name or IP address the proxy should connect to.
        @param target_port: the port it should connect to.
        @param credentials: C{(user, password)} sent as C{Proxy-Authorization: Basic}, encoded
            as UTF-8; C{None} sends no credentials.
        @param timeout: seconds the proxy has to answer once the request is sent.
        @param reactor: provides the clock for C{timeout}; the global reactor by default.
        @param proxy_name: how messages name the proxy, e.g. C{"proxy.example:3128"}; by
            default the address the connection reached.
        @raise ValueError: for a target that cannot go in a request line, a port outside
            1-65535, a user name containing C{:}, or a timeout that is not positive.
        """
        if timeout <= 0:
            raise ValueError(f"timeout must be positive, not {timeout!r}")
        self._proxy_endpoint = cast(_Endpoint, proxy_endpoint)
        host = _ascii_host(target_host)
        if not 0 < target_port < 65536:
            raise ValueError(f"target_port must be in 1-65535, not {target_port!r}")
        target = f"[{host}]:{target_port}" if ":" in host else f"{host}:{target_port}"
        self._request = _ConnectRequest(
            head=_request_head(target, credentials),
            target=target,
            address=HostnameAddress(host.encode("ascii"), target_port),
            authenticated=credentials is not None,
            timeout=timeout,
            clock=_maybe_global_reactor(reactor),
            proxy_name=proxy_name,
        )

    def connect(self, protocol_factory: IProtocolFactory) -> Deferred[IProtocol]:
        """
        Connect to the proxy, open the tunnel and connect C{protocol_factory}'s protocol
        through it.

        @return: a Deferred that fires with that protocol once the tunnel is open, or fails
            with L{ProxyError} (or the proxy endpoint's own connection error).
        """

        def cancel(_: Deferred[IProtocol]) -> None:
            connecting.cancel()
            tunnel.abandon()

        result: Deferred[IProtocol] = Deferred(cancel)
        factory = cast(_ProtocolFactory, protocol_factory)
        tunnel = _TunnelProtocol(self._request, factory, result)
        connecting = self._proxy_endpoint.connect(_TunnelFactory(tunnel, factory))
        connecting.addErrback(_fail_unless_settled, result)
        return result


class _Endpoint(Protocol):
    """What this module calls on an L{IStreamClientEndpoint}."""

    def connect(self, protocolFactory: Factory[Any]) -> Deferred[Any]: ...


class _ProtocolFactory(Protocol):
    """What this module calls on an L{IProtocolFactory}."""

    def buildProtocol(self, addr: IAddress) -> IProtocol | None: ...

    def doStart(self) -> None: ...

    def doStop(self) -> None: ...


class _Protocol(Protocol):
    """What this module calls on an L{IProtocol}."""

    def makeConnection(self, transport: Any) -> None: ...

    def dataReceived(self, data: bytes) -> None: ...

    def connectionLost(self, reason: Failure) -> None: ...


class _Transport(Protocol):
    """What this module calls on the proxy connection's transport."""

    def write(self, data: bytes) -> None: ...

    def loseConnection(self) -> None: ...

    def getPeer(self) -> Any: ...


@dataclass(frozen=True)
class _ConnectRequest:
    """
    Everything about one endpoint's tunnel that does not change between connections.

    @ivar head: the complete C{CONNECT} request, credentials included (so not in C{repr}).
    @ivar target: C{host:port} as messages name it.
    @ivar address: the address the wrapped protocol's factory is told it connects to.
    @ivar authenticated: whether C{head} carries credentials, for the 407 message.
    """

    head: bytes = field(repr=False)
    target: str
    address: HostnameAddress
    authenticated: bool
    timeout: float
    clock: IReactorTime
    proxy_name: str | None


class _TunnelFactory(Factory[TwistedProtocol]):
    """
    Hands the one L{_TunnelProtocol} of a C{connect} call to the proxy endpoint, and passes
    the connection's start and stop on to the user's factory as a direct connection would.
    """

    noisy = False

    def __init__(self, tunnel: _TunnelProtocol, factory: _ProtocolFactory) -> None:
        self._tunnel = tunnel
        self._factory = factory

    def buildProtocol(self, addr: IAddress | None) -> _TunnelProtocol:
        return self._tunnel

    def doStart(self) -> None:
        self._factory.doStart()

    def doStop(self) -> None:
        self._factory.doStop()


class _TunnelProtocol(TwistedProtocol):
    """
    Speaks to the proxy until it answers, then steps aside: from then on every byte and the
    end of the connection go to the wrapped protocol.
    """

    def __init__(
        self, request: _ConnectRequest, factory: _ProtocolFactory, result: Deferred[IProtocol]
    ) -> None:
        self._request = request
        self._factory = factory
        self._result = result
        self._head = bytearray()
        self._timer: IDelayedCall | None = None
        self._wrapped: _Protocol | None = None
        self._settled = False
        self._proxy = request.proxy_name or ""

    def connectionMade(self) -> None:
        transport = self._transport()
        if self._settled:
            _abort(transport)
            return
        self._proxy = self._request.proxy_name or _describe_address(transport.getPeer())
        transport.write(self._request.head)
        self._timer = self._request.clock.callLater(self._request.timeout, self._timed_out)

    def dataReceived(self, data: bytes) -> None:
        if self._wrapped is not None:
            self._wrapped.dataReceived(data)
        elif not self._settled:
            self._head += data
            self._read_head()

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        if self._wrapped is not None:
            self._wrapped.connectionLost(reason)
        elif not self._settled:
            self._settle()
            self._result.errback(
                ProxyError(
                    f"Proxy {self._proxy} closed the connection before answering the "
                    f"CONNECT request for {self._request.target}"
                )
            )

    def abandon(self) -> None:
        """
        Give up on a tunnel that is not open yet (the caller cancelled): close the proxy
        connection, if there is one, without reporting anything more.
        """
        if self._settled:
            return
        self._settle()
        if self.transport is not None:
            _abort(self._transport())

    def _read_head(self) -> None:
        """
        Act on the proxy's response once its head is complete.
        """
        end = _END_OF_HEAD.search(self._head)
        if end is None:
            if len(self._head) > MAX_RESPONSE_HEAD:
                self._fail(self._error(f"sent a response head over {MAX_RESPONSE_HEAD} bytes"))
            return
        status_line = bytes(self._head[: end.start()]).split(b"\n", 1)[0]
        rest = bytes(self._head[end.end() :])
        parsed = _STATUS_LINE.fullmatch(status_line)
        if parsed is None:
            self._fail(self._error("did not answer with HTTP/1.x"))
            return
        status = int(parsed.group(1))
        if 200 <= status < 300:
            self._open(rest)
        else:
            self._fail(self._refusal(status, _printable(parsed.group(2) or b"")))

    def _open(self, rest: bytes) -> None:
        """
        The proxy agreed: connect the wrapped protocol to the tunnel and give it C{rest}, the
        bytes that came after the proxy's response head.
        """
        self._settle()
        try:
            protocol = self._factory.buildProtocol(self._request.address)
            if protocol is None:
                raise NoProtocol()
        except BaseException:
            self._transport().loseConnection()
            self._result.errback()
            return
        self._wrapped = cast(_Protocol, protocol)
        self._wrapped.makeConnection(self.transport)
        self._result.callback(protocol)
        if rest:
            self._wrapped.dataReceived(rest)

    def _timed_out(self) -> None:
        """
        The proxy took too long to answer: give up on it.
        """
        self._timer = None
        self._fail(self._error(f"did not answer within {self._request.timeout:g} seconds"))

    def _fail(self, error: ProxyError) -> None:
        """
        Close the proxy connection and fail C{connect} with C{error}.
        """
        self._settle()
        _abort(self._transport())
        self._result.errback(error)

    def _settle(self) -> None:
        """
        Stop reading the proxy's answer and its timer: the outcome is known.
        """
        self._settled = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _error(self, problem: str) -> ProxyError:
        """
        A L{ProxyError} for a proxy that C{problem} (e.g. "did not answer with HTTP/1.x").
        """
        return ProxyError(
            f"Proxy {self._proxy} {problem} when asked to open a tunnel to {self._request.target}"
        )

    def _refusal(self, status: int, reason: str) -> ProxyError:
        """
        A L{ProxyError} for a proxy that answered C{status} instead of 2xx, saying what to do
        about a 407.
        """
        answer = f"{status} {reason}".rstrip()
        if status != 407:
            message = f"refused to open a tunnel to {self._request.target}: {answer}"
        elif self._request.authenticated:
            message = (
                f"rejected the credentials ({answer}) for a tunnel to {self._request.target}; "
                "check the user and password in the proxy URL"
            )
        else:
            message = (
                f"requires authentication ({answer}) for a tunnel to {self._request.target}; "
                "put user:password@ in the proxy URL"
            )
        return ProxyError(f"Proxy {self._proxy} {message}", status)

    def _transport(self) -> _Transport:
        """
        The proxy connection, typed for what this module calls on it.
        """
        return cast(_Transport, self.transport)


def _request_head(target: str, credentials: tuple[str, str] | None) -> bytes:
    """
    The C{CONNECT} request for C{target} (C{host:port}), with Basic credentials when given.

    @raise ValueError: for a user name with C{:}.
    """
    authority = target.encode("ascii")
    lines = [b"CONNECT " + authority + b" HTTP/1.1", b"Host: " + authority]
    if credentials is not None:
        lines.append(b"Proxy-Authorization: Basic " + _basic_token(*credentials))
    return b"\r\n".join([*lines, b"", b""])


def _ascii_host(host: str) -> str:
    """
    C{host} as it goes in a request line: internationalised names in their ASCII form.

    @raise ValueError: for a host with characters a request line cannot carry.
    """
    try:
        ascii_host = host if host.isascii() else host.encode("idna").decode("ascii")
    except UnicodeError:
        ascii_host = ""
    if not _HOST.fullmatch(ascii_host):
        raise ValueError(f"target_host is not a host name or IP address: {host!r}")
    return ascii_host


def _basic_token(user: str, password: str) -> bytes:
    """
    The Basic authentication token for C{user} and C{password} (RFC 7617, UTF-8).

    @raise ValueError: when C{user} contains C{:}, which Basic authentication cannot carry.
    """
    if ":" in user:
        raise ValueError("the proxy user name cannot contain ':'")
    return base64.b64encode(f"{user}:{password}".encode())


def _printable(reason: bytes) -> str:
    """
    A proxy's reason phrase, cut short and stripped of anything unprintable.
    """
    text = reason.decode("latin-1")
    return "".join(c for c in text if c.isprintable())[:_REASON_LENGTH].strip()


def _describe_address(address: Any) -> str:
    """
    C{host:port} for an address that has them (TCP), else the address as Twisted prints it.
    """
    host, port = getattr(address, "host", None), getattr(address, "port", None)
    if host is None or port is None:
        return str(address)
    return f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}"


def _abort(transport: _Transport) -> None:
    """
    Close C{transport} at once where it can be aborted (TCP, TLS), else close it gracefully.
    """
    getattr(transport, "abortConnection", transport.loseConnection)()


def _fail_unless_settled(failure: Failure, result: Deferred[IProtocol]) -> None:
    """
    Pass a failure to reach the proxy on to C{connect}'s caller, unless the caller has
    already cancelled.
    """
    if not result.called:
        result.errback(failure)


def _maybe_global_reactor(reactor: IReactorTime | None) -> IReactorTime:
    """
    C{reactor}, or the global reactor when it is C{None}, imported only then.
    """
    if reactor is not None:
        return reactor
    from twisted.internet import reactor as global_reactor

    return cast(IReactorTime, global_reactor)

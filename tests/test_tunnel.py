"""
Tests for L{txslackrtm._tunnel}: the HTTP CONNECT tunnel endpoint, first against a scripted
proxy connection in memory, then through a real proxy on loopback.
"""

from __future__ import annotations

import base64
from typing import Any

from twisted.internet import reactor
from twisted.internet.address import HostnameAddress, IPv4Address
from twisted.internet.defer import CancelledError, Deferred
from twisted.internet.endpoints import TCP4ClientEndpoint
from twisted.internet.error import ConnectionRefusedError, NoProtocol
from twisted.internet.interfaces import IStreamClientEndpoint
from twisted.internet.protocol import Factory, Protocol
from twisted.internet.task import Clock
from twisted.internet.testing import AccumulatingProtocol, StringTransport
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase, TestCase
from zope.interface import implementer  # type: ignore[import-untyped, unused-ignore]
from zope.interface.verify import verifyObject  # type: ignore[import-untyped, unused-ignore]

from txslackrtm._tunnel import MAX_RESPONSE_HEAD, HTTPConnectTunnelEndpoint, ProxyError

from .proxyserver import ConnectProxy, Echo, Probe, ProxyMode, listen

PROXY_ADDRESS = IPv4Address("TCP", "192.0.2.7", 3128)


@implementer(IStreamClientEndpoint)
class ScriptedProxyEndpoint:
    """
    Stands for the way to a proxy: C{connect} waits until the test calls L{accept} (which
    connects the protocol to a L{StringTransport}) or L{refuse}.
    """

    def __init__(self) -> None:
        self.transport = StringTransport(peerAddress=PROXY_ADDRESS)
        self.connecting: Deferred[Any] | None = None
        self.factory: Any = None
        self.cancelled = False

    def connect(self, factory: Any) -> Deferred[Any]:
        self.factory = factory
        self.connecting = Deferred(self._cancel)
        return self.connecting

    def _cancel(self, connecting: Deferred[Any]) -> None:
        self.cancelled = True

    def accept(self) -> Any:
        """
        Complete the connection to the proxy; return the protocol speaking to it.
        """
        protocol = self.factory.buildProtocol(PROXY_ADDRESS)
        protocol.makeConnection(self.transport)
        assert self.connecting is not None
        self.connecting.callback(protocol)
        return protocol


class Collector(Factory):
    """
    A factory of L{AccumulatingProtocol}s that remembers the address it was given.
    """

    protocol = AccumulatingProtocol
    protocolConnectionMade = None

    def __init__(self) -> None:
        self.addresses: list[Any] = []

    def buildProtocol(self, addr: Any) -> Any:
        self.addresses.append(addr)
        return super().buildProtocol(addr)


class RaisingFactory(Factory):
    """A factory that fails to build a protocol."""

    def buildProtocol(self, addr: Any) -> None:
        raise ZeroDivisionError()


class NoProtocolFactory(Factory):
    """A factory that declines every connection."""

    def buildProtocol(self, addr: Any) -> None:
        return None


class TunnelTests(SynchronousTestCase):
    """
    The tunnel endpoint against a proxy connection scripted byte by byte.
    """

    def setUp(self) -> None:
        self.clock = Clock()
        self.proxy = ScriptedProxyEndpoint()

    def tunnel(self, host: str = "slack.example", port: int = 443, **kw: Any) -> Any:
        """
        Connect a L{Collector} through a tunnel to C{host:port} and accept the proxy
        connection; return C{(result Deferred, tunnel protocol, factory)}.
        """
        endpoint = HTTPConnectTunnelEndpoint(
            self.proxy, host, port, reactor=self.clock, timeout=10.0, **kw
        )
        factory = Collector()
        result = endpoint.connect(factory)
        return result, self.proxy.accept(), factory

    def test_provides_endpoint(self) -> None:
        """The tunnel endpoint is an IStreamClientEndpoint."""
        endpoint = HTTPConnectTunnelEndpoint(self.proxy, "slack.example", 443, reactor=self.clock)
        self.assertTrue(verifyObject(IStreamClientEndpoint, endpoint))

    def test_request(self) -> None:
        """The proxy is sent a CONNECT request for the target with a matching Host."""
        self.tunnel()
        self.assertEqual(
            self.proxy.transport.value(),
            b"CONNECT slack.example:443 HTTP/1.1\r\nHost: slack.example:443\r\n\r\n",
        )

    def test_request_ipv6(self) -> None:
        """An IPv6 target goes in brackets."""
        self.tunnel("::1", 8443)
        self.assertTrue(self.proxy.transport.value().startswith(b"CONNECT [::1]:8443 HTTP/1.1"))

    def test_request_credentials(self) -> None:
        """Credentials go as Basic Proxy-Authorization, UTF-8 encoded."""
        self.tunnel(credentials=("bot", "pässwörd"))
        token = base64.b64encode("bot:pässwörd".encode())
        self.assertIn(
            b"\r\nProxy-Authorization: Basic " + token + b"\r\n", self.proxy.transport.value()
        )

    def test_open(self) -> None:
        """On 200 the Deferred fires with the factory's protocol, on the proxy connection."""
        result, tunnel, factory = self.tunnel()
        self.assertNoResult(result)
        tunnel.dataReceived(b"HTTP/1.1 200 Connection established\r\n\r\n")
        protocol = self.successResultOf(result)
        self.assertIsInstance(protocol, AccumulatingProtocol)
        self.assertIs(protocol.transport, self.proxy.transport)
        self.assertEqual(factory.addresses, [HostnameAddress(b"slack.example", 443)])
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_any_2xx_opens(self) -> None:
        """Any 2xx status opens the tunnel (RFC 9110 section 9.3.6)."""
        result, tunnel, _ = self.tunnel()
        tunnel.dataReceived(b"HTTP/1.0 204 OK\r\nVia: test\r\n\r\n")
        self.successResultOf(result)

    def test_bytes_after_head(self) -> None:
        """Bytes that came with the response head, and all later ones, reach the protocol."""
        result, tunnel, _ = self.tunnel()
        tunnel.dataReceived(b"HTTP/1.1 200 OK\r\nX-A: b\r\n\r\nfirst ")
        tunnel.dataReceived(b"second")
        self.assertEqual(self.successResultOf(result).data, b"first second")

    def test_head_in_pieces(self) -> None:
        """A response head split anywhere, with bare LF line ends, is read whole."""
        result, tunnel, _ = self.tunnel()
        for piece in [b"HTTP/1.1 2", b"00 OK\nX-A:", b" b\n", b"\nhello"]:
            self.assertNoResult(result)
            tunnel.dataReceived(piece)
        self.assertEqual(self.successResultOf(result).data, b"hello")

    def test_connection_lost_after_open(self) -> None:
        """Once open, the end of the connection is the protocol's."""
        result, tunnel, _ = self.tunnel()
        tunnel.dataReceived(b"HTTP/1.1 200 OK\r\n\r\n")
        protocol = self.successResultOf(result)
        tunnel.connectionLost(Failure(ConnectionRefusedError()))
        self.assertTrue(protocol.closed)

    def assert_refused(self, answer: bytes, status: int | None) -> ProxyError:
        """
        Answer C{answer}; check that connect fails with a ProxyError of C{status}, and that
        the proxy connection is aborted.
        """
        result, tunnel, _ = self.tunnel()
        tunnel.dataReceived(answer)
        error = self.failureResultOf(result, ProxyError).value
        self.assertEqual(error.status, status)
        self.assertTrue(self.proxy.transport.disconnected)
        self.assertEqual(self.clock.getDelayedCalls(), [])
        self.assertIn("192.0.2.7:3128", str(error))
        self.assertIn("slack.example:443", str(error))
        return error

    def test_forbidden(self) -> None:
        """403 fails with the status and the proxy's reason."""
        error = self.assert_refused(b"HTTP/1.1 403 Forbidden\r\n\r\n", 403)
        self.assertIn("refused to open a tunnel to slack.example:443: 403 Forbidden", str(error))

    def test_bad_gateway(self) -> None:
        """502 fails with the status."""
        self.assert_refused(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n", 502)

    def test_authentication_required(self) -> None:
        """407 without credentials says to give them."""
        error = self.assert_refused(b"HTTP/1.1 407 Proxy Authentication Required\r\n\r\n", 407)
        self.assertIn("requires authentication", str(error))
        self.assertIn("user:password@", str(error))

    def test_credentials_rejected(self) -> None:
        """407 with credentials says they were rejected, and never repeats them."""
        result, tunnel, _ = self.tunnel(credentials=("bot", "s3cret"))
        tunnel.dataReceived(b"HTTP/1.1 407 Nope\r\n\r\n")
        error = self.failureResultOf(result, ProxyError).value
        self.assertIn("rejected the credentials (407 Nope)", str(error))
        self.assertNotIn("s3cret", str(error) + repr(error))

    def test_not_http(self) -> None:
        """A response that is not HTTP/1.x fails with no status."""
        self.assert_refused(b"SSH-2.0-OpenSSH\r\n\r\n", None)

    def test_head_too_long(self) -> None:
        """A response head that never ends fails once it passes the limit."""
        result, tunnel, _ = self.tunnel()
        tunnel.dataReceived(b"HTTP/1.1 200 OK\r\n" + b"X: y\r\n" * (MAX_RESPONSE_HEAD // 6))
        self.assertIn("over", str(self.failureResultOf(result, ProxyError).value))

    def test_reason_phrase_cleaned(self) -> None:
        """Control characters in the reason phrase are dropped and it is cut short."""
        error = self.assert_refused(b"HTTP/1.1 403 \x1b[31m" + b"x" * 200 + b"\r\n\r\n", 403)
        self.assertNotIn("\x1b", str(error))
        self.assertLess(len(str(error)), 200)

    def test_closed_before_answer(self) -> None:
        """A proxy that closes before answering fails the connect."""
        result, tunnel, _ = self.tunnel()
        tunnel.dataReceived(b"HTTP/1.1 200")
        tunnel.connectionLost(Failure(ConnectionRefusedError()))
        error = self.failureResultOf(result, ProxyError).value
        self.assertIsNone(error.status)
        self.assertIn("closed the connection before answering", str(error))
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_timeout(self) -> None:
        """A proxy that does not answer in time fails the connect and is disconnected."""
        result, _, _ = self.tunnel()
        self.clock.advance(9.9)
        self.assertNoResult(result)
        self.clock.advance(0.1)
        error = self.failureResultOf(result, ProxyError).value
        self.assertIn("did not answer within 10 seconds", str(error))
        self.assertTrue(self.proxy.transport.disconnected)

    def test_proxy_name(self) -> None:
        """Messages use the proxy name given, rather than the address."""
        result, tunnel, _ = self.tunnel(proxy_name="proxy.corp:3128")
        tunnel.dataReceived(b"HTTP/1.1 403 Forbidden\r\n\r\n")
        self.assertIn("Proxy proxy.corp:3128 refused", str(self.failureResultOf(result).value))

    def test_no_protocol(self) -> None:
        """A factory that builds no protocol fails the connect and closes the tunnel."""
        endpoint = HTTPConnectTunnelEndpoint(self.proxy, "slack.example", 443, reactor=self.clock)
        result = endpoint.connect(NoProtocolFactory())
        self.proxy.accept().dataReceived(b"HTTP/1.1 200 OK\r\n\r\n")
        self.failureResultOf(result, NoProtocol)
        self.assertTrue(self.proxy.transport.disconnecting)

    def test_factory_raises(self) -> None:
        """A factory that raises fails the connect with its exception."""
        endpoint = HTTPConnectTunnelEndpoint(self.proxy, "slack.example", 443, reactor=self.clock)
        result = endpoint.connect(RaisingFactory())
        self.proxy.accept().dataReceived(b"HTTP/1.1 200 OK\r\n\r\n")
        self.failureResultOf(result, ZeroDivisionError)
        self.assertTrue(self.proxy.transport.disconnecting)

    def test_proxy_unreachable(self) -> None:
        """A failure to reach the proxy is passed on as it is."""
        endpoint = HTTPConnectTunnelEndpoint(self.proxy, "slack.example", 443, reactor=self.clock)
        result = endpoint.connect(Collector())
        assert self.proxy.connecting is not None
        self.proxy.connecting.errback(ConnectionRefusedError())
        self.failureResultOf(result, ConnectionRefusedError)

    def test_cancel_while_connecting(self) -> None:
        """Cancelling before the proxy is reached cancels reaching it."""
        endpoint = HTTPConnectTunnelEndpoint(self.proxy, "slack.example", 443, reactor=self.clock)
        result = endpoint.connect(Collector())
        result.cancel()
        self.failureResultOf(result, CancelledError)
        self.assertTrue(self.proxy.cancelled)

    def test_cancel_while_waiting(self) -> None:
        """Cancelling while the proxy thinks aborts the proxy connection and its timer."""
        result, tunnel, _ = self.tunnel()
        result.cancel()
        self.failureResultOf(result, CancelledError)
        self.assertTrue(self.proxy.transport.disconnected)
        self.assertEqual(self.clock.getDelayedCalls(), [])
        tunnel.connectionLost(Failure(ConnectionRefusedError()))

    def test_factory_started_and_stopped(self) -> None:
        """The user's factory starts and stops with the proxy connection, as with TCP."""
        endpoint = HTTPConnectTunnelEndpoint(self.proxy, "slack.example", 443, reactor=self.clock)
        factory = Collector()
        endpoint.connect(factory)
        self.proxy.factory.doStart()
        self.assertEqual(factory.numPorts, 1)
        self.proxy.factory.doStop()
        self.assertEqual(factory.numPorts, 0)

    def test_bad_arguments(self) -> None:
        """Targets and settings that cannot work are refused at once."""
        for host, port, kw in [
            ("slack example", 443, {}),
            ("slack.example\r\nX-Evil: 1", 443, {}),
            ("slack.example", 0, {}),
            ("slack.example", 65536, {}),
            ("slack.example", 443, {"credentials": ("a:b", "c")}),
            ("slack.example", 443, {"timeout": 0}),
        ]:
            with self.subTest(host=host, port=port, kw=kw):
                self.assertRaises(
                    ValueError,
                    HTTPConnectTunnelEndpoint,
                    self.proxy,
                    host,
                    port,
                    reactor=self.clock,
                    **kw,
                )

    def test_international_name(self) -> None:
        """An internationalised host name is sent in its ASCII form."""
        self.tunnel("bücher.example")
        self.assertIn(b"CONNECT xn--bcher-kva.example:443 ", self.proxy.transport.value())


class RealProxyTests(TestCase):
    """
    The tunnel endpoint through a real CONNECT proxy on loopback, to a real echo server.
    """

    def setUp(self) -> None:
        self.echo_port = listen(self, Factory.forProtocol(Echo))
        self.target = f"127.0.0.1:{self.echo_port}"

    def endpoint(self, proxy: ConnectProxy, **kw: Any) -> HTTPConnectTunnelEndpoint:
        to_proxy = TCP4ClientEndpoint(reactor, "127.0.0.1", proxy.port)
        return HTTPConnectTunnelEndpoint(to_proxy, "127.0.0.1", self.echo_port, **kw)

    async def echo_through(self, endpoint: HTTPConnectTunnelEndpoint) -> None:
        """Say ping through C{endpoint}, expect it back, and hang up."""
        probe = await endpoint.connect(Factory.forProtocol(Probe))
        self.assertEqual(await probe.received, b"ping")
        probe.transport.loseConnection()
        await probe.lost

    async def test_tunnel(self) -> None:
        """Bytes go through the tunnel both ways; the proxy counts one tunnel to the target."""
        proxy = ConnectProxy(self)
        await self.echo_through(self.endpoint(proxy))
        self.assertEqual(proxy.tunnels, {self.target: 1})
        self.assertNotIn("proxy-authorization", proxy.requests[0].headers)

    async def test_tunnel_with_credentials(self) -> None:
        """A proxy that demands credentials opens the tunnel for the right ones."""
        proxy = ConnectProxy(self, credentials=("bot", "pa:ss wörd"))
        await self.echo_through(self.endpoint(proxy, credentials=("bot", "pa:ss wörd")))
        self.assertEqual(proxy.tunnels, {self.target: 1})

    async def assert_refused(self, proxy: ConnectProxy, status: int | None, **kw: Any) -> str:
        """Connecting through C{proxy} fails with C{status}; return the message."""
        with self.assertRaises(ProxyError) as caught:
            await self.endpoint(proxy, **kw).connect(Factory.forProtocol(Probe))
        self.assertEqual(caught.exception.status, status)
        self.assertEqual(proxy.tunnels, {})
        self.assertIn(f"Proxy 127.0.0.1:{proxy.port}", str(caught.exception))
        return str(caught.exception)

    async def test_wrong_credentials(self) -> None:
        """Wrong credentials fail with 407, and the message does not repeat them."""
        proxy = ConnectProxy(self, credentials=("bot", "right"))
        message = await self.assert_refused(proxy, 407, credentials=("bot", "wrong"))
        self.assertNotIn("wrong", message)

    async def test_missing_credentials(self) -> None:
        """No credentials for a proxy that wants some fails with 407."""
        await self.assert_refused(ConnectProxy(self, credentials=("bot", "right")), 407)

    async def test_forbidden(self) -> None:
        """A proxy answering 403 fails the connect with 403."""
        await self.assert_refused(ConnectProxy(self, mode=ProxyMode.FORBID), 403)

    async def test_bad_gateway(self) -> None:
        """A proxy answering 502 fails the connect with 502."""
        await self.assert_refused(ConnectProxy(self, mode=ProxyMode.BAD_GATEWAY), 502)

    async def test_target_unreachable(self) -> None:
        """The real proxy answers 502 when the target refuses the connection."""
        proxy = ConnectProxy(self)
        endpoint = HTTPConnectTunnelEndpoint(
            TCP4ClientEndpoint(reactor, "127.0.0.1", proxy.port), "127.0.0.1", await _closed_port()
        )
        with self.assertRaises(ProxyError) as caught:
            await endpoint.connect(Factory.forProtocol(Probe))
        self.assertEqual(caught.exception.status, 502)

    async def test_proxy_closes(self) -> None:
        """A proxy that closes on the request fails the connect, with no status."""
        message = await self.assert_refused(ConnectProxy(self, mode=ProxyMode.CLOSE), None)
        self.assertIn("closed the connection", message)

    async def test_proxy_silent(self) -> None:
        """A proxy that never answers fails the connect once the timeout passes."""
        proxy = ConnectProxy(self, mode=ProxyMode.SILENT)
        clock = Clock()
        connecting = self.endpoint(proxy, reactor=clock, timeout=5).connect(
            Factory.forProtocol(Probe)
        )
        await proxy.next_request()
        clock.advance(5)
        with self.assertRaises(ProxyError) as caught:
            await connecting
        self.assertIsNone(caught.exception.status)
        self.assertIn("did not answer within 5 seconds", str(caught.exception))

    async def test_proxy_down(self) -> None:
        """No proxy listening: the connection error is passed on."""
        endpoint = HTTPConnectTunnelEndpoint(
            TCP4ClientEndpoint(reactor, "127.0.0.1", await _closed_port()), "127.0.0.1", 443
        )
        with self.assertRaises(ConnectionRefusedError):
            await endpoint.connect(Factory.forProtocol(Probe))


async def _closed_port() -> int:
    """
    A loopback port nothing listens on (one that was listened on and is closed now).
    """
    port = reactor.listenTCP(0, Factory.forProtocol(Protocol), interface="127.0.0.1")
    number: int = port.getHost().port
    await port.stopListening()
    return number

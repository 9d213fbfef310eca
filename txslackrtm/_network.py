# -*- test-case-name: tests.test_network -*-
"""
How the client reaches a host: one place that turns a URL into a Twisted client endpoint.

Both connections the client makes, the HTTPS Web API call and the WSS WebSocket, get their
endpoints from a L{Network}, so the C{tls} and C{proxy} options apply to both alike. A
L{Network} puts the pieces together: TCP (within L{CONNECT_TIMEOUT}), through an HTTP
C{CONNECT} tunnel (L{HTTPConnectTunnelEndpoint}, within L{TUNNEL_TIMEOUT}) when the proxy
settings of L{txslackrtm._proxy} pick a proxy for the host, and, for C{https} and C{wss}, the
verified TLS of L{txslackrtm._tls}, running end to end inside the tunnel under the real host's
name. What to trust and which proxy to use are decided in those two modules, not here.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from twisted.internet.abstract import isIPAddress, isIPv6Address
from twisted.internet.endpoints import (
    HostnameEndpoint,
    TCP4ClientEndpoint,
    TCP6ClientEndpoint,
    wrapClientTLS,
)
from twisted.internet.interfaces import IStreamClientEndpoint
from twisted.web.client import URI, Agent, HTTPConnectionPool, _HTTP11ClientFactory
from twisted.web.iweb import IAgent, IAgentEndpointFactory
from zope.interface import implementer  # type: ignore[import-untyped, unused-ignore]

from ._proxy import Proxy, _proxy_settings
from ._tls import _ExplainingEndpoint, _parse_tls
from ._tunnel import HTTPConnectTunnelEndpoint

_SECURE_SCHEMES = {"https": True, "wss": True, "http": False, "ws": False}
_DEFAULT_PORTS = {True: 443, False: 80}

#: Seconds a TCP connection attempt (to the host, or to the proxy) may take before it fails.
CONNECT_TIMEOUT = 30.0

#: Seconds a proxy has to answer C{CONNECT} once asked.
TUNNEL_TIMEOUT = 30.0


def split_url(url: str | bytes) -> tuple[bool, str, int]:
    """
    Read the scheme, host and port of an C{http}, C{https}, C{ws} or C{wss} URL.

    @return: C{(secure, host, port)}, with the scheme's default port filled in.
    @raise ValueError: for any other scheme, a URL without a host, or a port out of range
        (0 included); the message does not repeat the URL, whose path or query may hold a
        secret (the WebSocket ticket).
    """
    text = url.decode("ascii") if isinstance(url, bytes) else url
    parts = urlsplit(text)
    secure = _SECURE_SCHEMES.get(parts.scheme.lower())
    if secure is None or not parts.hostname:
        raise ValueError(f"not an http(s) or ws(s) URL with a host (scheme {parts.scheme!r})")
    port = parts.port  # itself a ValueError when out of range
    if port == 0:
        raise ValueError("port 0 cannot be connected to")
    return secure, parts.hostname, _DEFAULT_PORTS[secure] if port is None else port


class Network:
    """
    The way out to Slack: TCP, through a proxy when one applies, and verified TLS when the
    URL asks for it.

    @ivar reactor: the reactor (L{IReactorTCP} and L{IReactorTime}) every connection uses.
    """

    def __init__(
        self,
        reactor: Any,
        tls: Mapping[str, object] | None = None,
        proxy: str | bool | None = None,
        *,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        """
        Check C{tls} and C{proxy} (and read the environment) now, so that a mistake shows
        before any connection is tried.

        @param tls: C{None}, or a mapping with any of C{ca} (PEM, one or several authorities
            to trust instead of the platform's), C{cert} and C{key} (PEM client certificate
            and private key, possibly encrypted) or C{pfx} (PKCS#12 bytes), and
            C{passphrase} (for an encrypted C{key} or C{pfx}); values are C{str} or
            C{bytes}, and a C{None} value counts as absent.
        @param proxy: C{None} to take the proxy from the environment (see below), C{False}
            for no proxy at all, or C{"http://[user:password@]host:port"} for that proxy,
            used for every host.
        @param environ: where the environment is read, once, here: C{HTTPS_PROXY} (or
            C{https_proxy}) for C{https}/C{wss} targets, C{HTTP_PROXY} (or C{http_proxy}) for
            C{http}/C{ws} targets, minus the hosts in C{NO_PROXY} (or C{no_proxy}) and
            loopback. Defaults to L{os.environ}.
        @raise TypeError: for options of the wrong type.
        @raise ValueError: naming the option, key or variable that cannot be used.
        """
        self.reactor = reactor
        self._tls = _parse_tls(tls)
        self._proxies = _proxy_settings(proxy, os.environ if environ is None else environ)

    def proxy_for(self, url: str | bytes) -> Proxy | None:
        """
        The proxy a connection to C{url} goes through, or C{None} when it goes directly.
        """
        secure, host, port = split_url(url)
        return self._proxies.choose(secure, host, port)

    def endpoint(self, url: str | bytes) -> IStreamClientEndpoint:
        """
        The endpoint that reaches the host of C{url}, wrapped in verified TLS when its scheme
        is C{https} or C{wss}.

        A certificate that fails verification reaches the connected protocol's
        C{connectionLost} as a L{CertificateVerificationError}.

        @raise ValueError: for a URL that is not C{http}, C{https}, C{ws} or C{wss}.
        """
        secure, host, port = split_url(url)
        stream = self._stream_endpoint(host, port, self._proxies.choose(secure, host, port))
        if not secure:
            return stream
        tls = wrapClientTLS(self._tls.creator_for(host), stream)
        return IStreamClientEndpoint(_ExplainingEndpoint(tls, host, self._tls))

    def agent(self) -> IAgent:
        """
        An HTTP agent for the Web API calls that connects through L{endpoint}.

        Connections are not kept alive: a call is made once per (re)connect, minutes apart.
        """
        pool = HTTPConnectionPool(self.reactor, persistent=False)  # type: ignore[no-untyped-call]
        pool._factory = _QuietHTTPClientFactory  # one per call: the client logs its calls itself
        factory = _EndpointFactory(self)
        return IAgent(Agent.usingEndpointFactory(self.reactor, factory, pool=pool))  # type: ignore[no-untyped-call]

    def _stream_endpoint(self, host: str, port: int, proxy: Proxy | None) -> IStreamClientEndpoint:
        """
        A TCP endpoint to C{host:port}, or a C{CONNECT} tunnel to it through C{proxy}.
        """
        if proxy is None:
            return self._tcp_endpoint(host, port)
        tunnel = HTTPConnectTunnelEndpoint(
            self._tcp_endpoint(proxy.host, proxy.port),
            host,
            port,
            credentials=proxy.credentials,
            timeout=TUNNEL_TIMEOUT,
            reactor=self.reactor,
            proxy_name=str(proxy),
        )
        return IStreamClientEndpoint(tunnel)

    def _tcp_endpoint(self, host: str, port: int) -> IStreamClientEndpoint:
        """
        A TCP endpoint to C{host:port}. An IP address is connected to as it is: looking it
        up, as a host name is, would cost a trip through the reactor's resolver thread.
        """
        if isIPAddress(host):
            return TCP4ClientEndpoint(self.reactor, host, port, timeout=CONNECT_TIMEOUT)
        if isIPv6Address(host):
            return TCP6ClientEndpoint(self.reactor, host, port, timeout=CONNECT_TIMEOUT)  # type: ignore[no-untyped-call]
        return IStreamClientEndpoint(
            HostnameEndpoint(self.reactor, host, port, timeout=CONNECT_TIMEOUT)
        )


class _QuietHTTPClientFactory(_HTTP11ClientFactory):
    """Twisted's HTTP client factory, without its "Starting factory" lines."""

    noisy = False


@implementer(IAgentEndpointFactory)
class _EndpointFactory:
    """Adapts L{Network.endpoint} to what L{Agent.usingEndpointFactory} asks for."""

    def __init__(self, network: Network) -> None:
        self._network = network

    def endpointForURI(self, uri: URI) -> IStreamClientEndpoint:
        location: bytes = uri.toBytes()  # type: ignore[no-untyped-call]
        return self._network.endpoint(location)

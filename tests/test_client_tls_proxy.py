# -*- test-case-name: tests.test_client_tls_proxy -*-
"""The client end to end over TLS and through an HTTP CONNECT proxy, against the fake Slack."""

from __future__ import annotations

from typing import Any

from twisted.internet.defer import inlineCallbacks
from twisted.web.client import Agent
from twisted.web.iweb import IAgent
from zope.interface import implementer

from txslackrtm import RequestError
from txslackrtm._certs import (
    make_ca,
    make_client_certificate,
    make_server_certificate,
    server_tls_options,
)
from txslackrtm.testing import clocked_reactor

from .proxyserver import ConnectProxy, ProxyMode
from .support import ClientTestCase

CA = make_ca()
SERVER = make_server_certificate(CA)
WRONG_NAME = make_server_certificate(CA, names=("slack.example",))
CLIENT = make_client_certificate(CA)


class TLSTests(ClientTestCase):
    @inlineCallbacks
    def test_trusted_ca(self) -> Any:
        """With tls={'ca': ...}, both the HTTPS call and the WSS socket verify and work."""
        rtm = yield self.make(
            tls={"ca": CA.cert_pem}, slack_config={"tls": server_tls_options(SERVER)}
        )
        self.assertTrue(self.slack.api_url.startswith("https://"))
        response = yield rtm.start()
        self.assertTrue(response["url"].startswith("wss://"))
        yield self.until("ready")
        reply = yield rtm.send_message("over tls", "C1")
        self.assertEqual(reply["text"], "over tls")

    @inlineCallbacks
    def assert_refused(self, server: Any, **options: Any) -> Any:
        rtm = yield self.make(slack_config={"tls": server}, **options)
        error = yield self.assertFailure(rtm.start(), RequestError)
        self.assertEqual(self.names(), ["connecting", "unable_to_rtm_start", "disconnected"])
        self.assertEqual(self.clock.getDelayedCalls(), [])
        return error

    @inlineCallbacks
    def test_untrusted_certificate_is_fatal(self) -> Any:
        """Without the CA, verification fails: a clear, fatal error, never retried."""
        error = yield self.assert_refused(server_tls_options(SERVER))
        self.assertIn("127.0.0.1", str(error))
        self.assertIn("certificate", str(error).lower())

    @inlineCallbacks
    def test_wrong_hostname_is_fatal(self) -> Any:
        """A certificate for another name is refused, even from a trusted CA."""
        error = yield self.assert_refused(server_tls_options(WRONG_NAME), tls={"ca": CA.cert_pem})
        self.assertIn("127.0.0.1", str(error))

    @inlineCallbacks
    def test_client_certificate(self) -> Any:
        """A server that requires a client certificate accepts key + cert."""
        options = server_tls_options(SERVER, client_ca=CA)
        rtm = yield self.make(
            tls={"ca": CA.cert_pem, "key": CLIENT.key_pem, "cert": CLIENT.cert_pem},
            slack_config={"tls": options},
        )
        yield rtm.start()
        yield self.until("ready")

    @inlineCallbacks
    def test_missing_client_certificate_is_fatal(self) -> Any:
        """Without the client certificate such a server refuses us, fatally."""
        yield self.assert_refused(
            server_tls_options(SERVER, client_ca=CA), tls={"ca": CA.cert_pem}
        )


class ProxyTests(ClientTestCase):
    @inlineCallbacks
    def test_both_connections_tunnel(self) -> Any:
        """The Web API call and the WebSocket both go through the proxy's CONNECT tunnels."""
        proxy = ConnectProxy(self)
        rtm = yield self.make(proxy=proxy.url)
        yield rtm.start()
        yield self.until("ready")
        target = self.slack.api_url.split("/")[2]
        self.assertEqual(proxy.tunnels[target], 2)
        self.assertIn(b"POST /api/rtm.connect", bytes(proxy.relayed))
        self.assertIn(b"GET /websocket/", bytes(proxy.relayed))

    @inlineCallbacks
    def test_tls_end_to_end_through_proxy(self) -> Any:
        """Through the proxy, TLS runs end to end: the proxy sees no plaintext."""
        proxy = ConnectProxy(self)
        rtm = yield self.make(
            proxy=proxy.url,
            tls={"ca": CA.cert_pem},
            slack_config={"tls": server_tls_options(SERVER)},
        )
        yield rtm.start()
        yield self.until("ready")
        yield rtm.send_message("secret words", "C1")
        self.assertEqual(sum(proxy.tunnels.values()), 2)
        self.assertNotIn(b"rtm.connect", bytes(proxy.relayed))
        self.assertNotIn(self.slack.token.encode(), bytes(proxy.relayed))

    @inlineCallbacks
    def test_proxy_credentials(self) -> Any:
        """A proxy that demands credentials gets them as Basic auth."""
        proxy = ConnectProxy(self, credentials=("bot", "s3cret"))
        rtm = yield self.make(proxy=proxy.url)
        yield rtm.start()
        yield self.until("ready")
        self.assertTrue(proxy.requests[0].headers["proxy-authorization"].startswith("Basic "))
        self.assertNotIn("s3cret", self.log.text)

    @inlineCallbacks
    def test_refusing_proxy_is_transient(self) -> Any:
        """A proxy that refuses (403) is a transient failure: retried, with a clear error."""
        proxy = ConnectProxy(self, mode=ProxyMode.FORBID)
        rtm = yield self.make(proxy=proxy.url)
        started = rtm.start()
        (error,) = yield self.until("unable_to_rtm_start")
        self.assertIn("403", str(error))
        self.assertEqual(rtm.state, "reconnecting")
        proxy.mode = ProxyMode.TUNNEL
        self.clock.advance(1)
        yield started
        yield self.until("ready")


class AgentTests(ClientTestCase):
    @inlineCallbacks
    def test_custom_agent_for_the_web_api(self) -> Any:
        """agent= carries the Web API call; the WebSocket still honours tls and proxy."""
        seen: list[bytes] = []

        @implementer(IAgent)
        class Recording:
            def __init__(self, agent: Any) -> None:
                self.agent = agent

            def request(
                self, method: bytes, uri: bytes, headers: Any = None, body: Any = None
            ) -> Any:
                seen.append(uri)
                return self.agent.request(method, uri, headers, body)

        proxy = ConnectProxy(self)
        rtm = yield self.make(proxy=proxy.url, agent=Recording(Agent(clocked_reactor(self.clock))))
        yield rtm.start()
        yield self.until("ready")
        self.assertEqual(len(seen), 1)
        self.assertTrue(seen[0].endswith(b"/api/rtm.connect"))
        self.assertEqual(sum(proxy.tunnels.values()), 1)

"""
Tests for L{txslackrtm._network}, L{txslackrtm._proxy} and L{txslackrtm._tls}: choosing a
proxy, checking the C{tls} option, recognising certificate failures, and real TLS connections
(directly and through a real CONNECT proxy) to loopback servers with certificates made for
the test.
"""

from __future__ import annotations

import os
from typing import Any

from OpenSSL import SSL
from service_identity.exceptions import VerificationError
from service_identity.hazmat import DNS_ID, DNSMismatch
from twisted.internet import reactor
from twisted.internet.defer import FirstError
from twisted.internet.error import ConnectionRefusedError, DNSLookupError
from twisted.internet.protocol import Factory
from twisted.internet.task import Clock
from twisted.internet.testing import MemoryReactorClock
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase, TestCase
from twisted.web.client import ResponseFailed, ResponseNeverReceived, readBody
from twisted.web.resource import Resource
from twisted.web.server import Request, Site

from txslackrtm import _certs
from txslackrtm._network import Network
from txslackrtm._proxy import Proxy
from txslackrtm._tls import (
    CertificateVerificationError,
    describe_failure,
    is_certificate_failure,
)
from txslackrtm._tunnel import ProxyError

from .proxyserver import ConnectProxy, Echo, Probe, TrackingReactor, listen

PROXY = "http://proxy.corp:3128"


def proxy_choice(url: str, **environ: str) -> Proxy | None:
    """
    The proxy a L{Network} reading C{environ} (and no C{proxy} option) picks for C{url}.
    """
    return Network(Clock(), environ=environ).proxy_for(url)


class NoProxyTests(SynchronousTestCase):
    """
    Which hosts C{NO_PROXY} exempts from the environment's proxy.
    """

    #: (NO_PROXY, URL, whether the URL goes directly)
    TABLE = (
        ("", "wss://slack.com/x", False),
        ("slack.com", "wss://slack.com/x", True),
        ("slack.com", "wss://wss-primary.slack.com/x", True),
        ("slack.com", "wss://notslack.com/x", False),
        ("slack.com", "wss://slack.com.evil.example/x", False),
        (".slack.com", "https://slack.com/api/", True),
        (".slack.com", "https://a.b.slack.com/api/", True),
        ("*.slack.com", "https://a.slack.com/api/", True),
        ("SLACK.COM", "https://Api.Slack.Com/api/", True),
        ("slack.com.", "https://slack.com./api/", True),
        ("*", "https://anything.example/", True),
        ("other.example, slack.com ", "https://slack.com/", True),
        ("other.example,,", "https://slack.com/", False),
        ("slack.com:443", "https://slack.com/", True),
        ("slack.com:8443", "https://slack.com/", False),
        ("slack.com:8443", "https://slack.com:8443/", True),
        ("10.0.0.0/8", "https://10.1.2.3/", True),
        ("10.0.0.0/8", "https://11.1.2.3/", False),
        ("192.0.2.1", "https://192.0.2.1:8443/", True),
        ("192.0.2.1:8443", "https://192.0.2.1:8443/", True),
        ("192.0.2.1:443", "https://192.0.2.1:8443/", False),
        ("[2001:db8::1]:443", "https://[2001:db8::1]/", True),
        ("2001:db8::1", "https://[2001:db8::1]/", True),
        ("2001:db8::/32", "https://[2001:db8::5]/", True),
        ("192.0.2.1", "https://host.example/", False),
        ("host.example", "https://192.0.2.1/", False),
        ("slack.com:http, [::1, .", "https://slack.com/", False),
        ("", "https://127.0.0.1:8443/", True),
        ("", "https://127.9.9.9/", True),
        ("", "https://localhost/", True),
        ("", "https://[::1]/", True),
    )

    def test_table(self) -> None:
        """Each NO_PROXY setting exempts exactly the hosts it names."""
        for no_proxy, url, direct in self.TABLE:
            with self.subTest(no_proxy=no_proxy, url=url):
                chosen = proxy_choice(url, HTTPS_PROXY=PROXY, NO_PROXY=no_proxy)
                self.assertEqual(chosen is None, direct)

    def test_lower_case_variable(self) -> None:
        """no_proxy works as NO_PROXY does, and wins over it."""
        self.assertIsNone(
            proxy_choice("https://slack.com/", https_proxy=PROXY, no_proxy="slack.com")
        )
        self.assertIsNone(
            proxy_choice(
                "https://slack.com/", HTTPS_PROXY=PROXY, no_proxy="slack.com", NO_PROXY="x.example"
            )
        )


class EnvironmentProxyTests(SynchronousTestCase):
    """
    The proxy taken from the environment when the C{proxy} option is not given.
    """

    def test_https_proxy(self) -> None:
        """HTTPS_PROXY applies to https and wss URLs, with its port."""
        for url in ["https://slack.com/api/", "wss://wss-primary.slack.com/link"]:
            self.assertEqual(proxy_choice(url, HTTPS_PROXY=PROXY), Proxy("proxy.corp", 3128))

    def test_http_proxy(self) -> None:
        """HTTP_PROXY applies to http and ws URLs, and HTTPS_PROXY does not."""
        self.assertIsNone(proxy_choice("ws://fake.example/", HTTPS_PROXY=PROXY))
        self.assertEqual(
            proxy_choice("ws://fake.example/", HTTP_PROXY="http://plain.corp:80"),
            Proxy("plain.corp", 80),
        )
        self.assertIsNone(proxy_choice("https://slack.com/", HTTP_PROXY=PROXY))

    def test_lower_case_wins(self) -> None:
        """https_proxy wins over HTTPS_PROXY when both are set."""
        chosen = proxy_choice(
            "https://slack.com/", https_proxy="http://lower:1", HTTPS_PROXY="http://upper:2"
        )
        self.assertEqual(chosen, Proxy("lower", 1))

    def test_blank_is_unset(self) -> None:
        """A variable set to blanks counts as unset."""
        self.assertIsNone(proxy_choice("https://slack.com/", HTTPS_PROXY="  "))

    def test_scheme_optional(self) -> None:
        """In the environment, host:port without http:// is accepted, as curl does."""
        self.assertEqual(
            proxy_choice("https://slack.com/", HTTPS_PROXY="proxy.corp:3128"),
            Proxy("proxy.corp", 3128),
        )

    def test_credentials(self) -> None:
        """User and password are percent-decoded, and left out of the proxy's repr."""
        chosen = proxy_choice(
            "https://slack.com/", HTTPS_PROXY="http://b%40t:p%3Ass@proxy.corp:8080/"
        )
        self.assertEqual(chosen, Proxy("proxy.corp", 8080, ("b@t", "p:ss")))
        self.assertNotIn("p:ss", repr(chosen))
        self.assertEqual(str(chosen), "proxy.corp:8080")

    def test_default_port(self) -> None:
        """A proxy URL without a port means port 80."""
        self.assertEqual(
            proxy_choice("https://slack.com/", HTTPS_PROXY="http://proxy.corp"),
            Proxy("proxy.corp", 80),
        )

    def test_read_once(self) -> None:
        """The environment is read when the Network is made, not later."""
        environ = {"HTTPS_PROXY": PROXY}
        network = Network(Clock(), environ=environ)
        environ["HTTPS_PROXY"] = ""
        self.assertEqual(network.proxy_for("https://slack.com/"), Proxy("proxy.corp", 3128))

    def test_os_environ(self) -> None:
        """Without environ=, os.environ is read."""
        self.patch(os, "environ", {"HTTPS_PROXY": PROXY})
        self.assertEqual(
            Network(Clock()).proxy_for("https://slack.com/"), Proxy("proxy.corp", 3128)
        )

    def test_bad_variable(self) -> None:
        """A proxy variable that cannot be used is an error naming it, without its value."""
        for value in ["socks5://proxy.corp:1080", "http://u:hunter2@proxy.corp:99999"]:
            with self.subTest(value=value):
                with self.assertRaises(ValueError) as caught:
                    Network(Clock(), environ={"HTTPS_PROXY": value})
                self.assertIn("HTTPS_PROXY", str(caught.exception))
                self.assertNotIn("hunter2", str(caught.exception))


class ProxyOptionTests(SynchronousTestCase):
    """
    The C{proxy} option: C{False}, a URL, or something wrong.
    """

    def test_false(self) -> None:
        """proxy=False ignores the environment."""
        network = Network(Clock(), proxy=False, environ={"HTTPS_PROXY": PROXY})
        self.assertIsNone(network.proxy_for("https://slack.com/"))

    def test_url(self) -> None:
        """A proxy URL applies to every host, NO_PROXY and loopback included."""
        network = Network(
            Clock(), proxy="http://bot:s%20cret@proxy.corp:8080", environ={"NO_PROXY": "*"}
        )
        for url in ["https://slack.com/", "ws://127.0.0.1:8080/", "wss://localhost/"]:
            self.assertEqual(network.proxy_for(url), Proxy("proxy.corp", 8080, ("bot", "s cret")))

    def test_bad_values(self) -> None:
        """Values that cannot be a proxy are refused, naming the option, hiding passwords."""
        for value, error in [
            ("socks5://proxy.corp:1080", ValueError),
            ("https://proxy.corp:3128", ValueError),
            ("http://:3128", ValueError),
            ("http://u:hunter2@proxy.corp:99999", ValueError),
            ("http://u:hunter2@proxy.corp:0", ValueError),
            ("http://proxy.corp:3128/some/path", ValueError),
            ("http://proxy.corp:3128/?q=1", ValueError),
            ("http://u%3Ax:hunter2@proxy.corp:3128", ValueError),
            ("u:hunter2@proxy.corp:3128", ValueError),
            ("", ValueError),
            (True, TypeError),
            (b"http://proxy.corp:3128", TypeError),
        ]:
            with self.subTest(value=value):
                with self.assertRaises(error) as caught:
                    Network(Clock(), proxy=value)
                self.assertIn("proxy", str(caught.exception))
                self.assertNotIn("hunter2", str(caught.exception))


class TLSOptionTests(SynchronousTestCase):
    """
    Checking the C{tls} option: what is accepted, and the errors for what is not.
    """

    def setUp(self) -> None:
        self.ca = _certs.make_ca()
        self.client = _certs.make_client_certificate(self.ca)

    def assert_refused(self, tls: Any, error: type[Exception], *fragments: str) -> None:
        """
        C{Network(tls=tls)} raises C{error} whose message has every fragment, and neither
        key material nor the passphrase C{hunter2}.
        """
        with self.assertRaises(error) as caught:
            Network(Clock(), tls=tls, proxy=False)
        message = str(caught.exception)
        for fragment in fragments:
            self.assertIn(fragment, message)
        self.assertNotIn("hunter2", message)
        self.assertNotIn("PRIVATE KEY", message)

    def test_accepted(self) -> None:
        """Every valid combination is accepted, as str or bytes, with None for absent."""
        pfx = _certs.make_pkcs12(self.client, b"hunter2")
        other = _certs.make_ca("another CA")
        for tls in [
            None,
            {},
            {"ca": self.ca.cert_pem},
            {"ca": self.ca.cert_pem.decode()},
            {"ca": other.cert_pem + self.ca.cert_pem},
            {"cert": self.client.cert_pem, "key": self.client.key_pem},
            {"cert": self.client.cert_pem.decode(), "key": self.client.key_pem.decode()},
            {
                "cert": self.client.cert_pem,
                "key": _certs.encrypt_key(self.client, b"hunter2"),
                "passphrase": "hunter2",
            },
            {"pfx": pfx, "passphrase": b"hunter2", "ca": self.ca.cert_pem},
            {"pfx": _certs.make_pkcs12(self.client)},
            {"ca": None, "key": None, "cert": None, "pfx": None, "passphrase": None},
        ]:
            with self.subTest(tls=tls):
                Network(Clock(), tls=tls, proxy=False)

    def test_not_a_mapping(self) -> None:
        """tls must be a mapping."""
        self.assert_refused("ca.pem", TypeError, "tls must be a dict")

    def test_unknown_key(self) -> None:
        """Unknown keys are named, with the known ones."""
        self.assert_refused({"cafile": "x"}, ValueError, "'cafile'", "ca, cert, key")

    def test_wrong_types(self) -> None:
        """Values of the wrong type are refused, naming the key."""
        self.assert_refused({"ca": 1}, TypeError, "tls['ca'] must be str or bytes")
        self.assert_refused({"pfx": "text"}, TypeError, "tls['pfx'] must be bytes")

    def test_bad_ca(self) -> None:
        """A ca that is not a PEM certificate is refused."""
        self.assert_refused({"ca": "hello"}, ValueError, "tls['ca'] is not a PEM certificate")
        self.assert_refused({"ca": self.ca.key_pem}, ValueError, "tls['ca']")

    def test_key_and_cert_together(self) -> None:
        """key and cert need each other."""
        self.assert_refused(
            {"key": self.client.key_pem}, ValueError, "tls['key'] needs tls['cert']"
        )
        self.assert_refused(
            {"cert": self.client.cert_pem}, ValueError, "tls['cert'] needs tls['key']"
        )

    def test_bad_key(self) -> None:
        """A key that is not a PEM private key is refused."""
        self.assert_refused(
            {"key": self.client.cert_pem, "cert": self.client.cert_pem},
            ValueError,
            "tls['key'] is not a PEM private key",
        )

    def test_bad_cert(self) -> None:
        """A cert that is not a PEM certificate is refused."""
        self.assert_refused(
            {"key": self.client.key_pem, "cert": "nope"}, ValueError, "tls['cert'] is not"
        )

    def test_encrypted_key_without_passphrase(self) -> None:
        """An encrypted key needs its passphrase."""
        key = _certs.encrypt_key(self.client, b"hunter2")
        self.assert_refused(
            {"key": key, "cert": self.client.cert_pem}, ValueError, "give its tls['passphrase']"
        )

    def test_wrong_passphrase(self) -> None:
        """A passphrase that does not decrypt the key is refused, and not repeated."""
        key = _certs.encrypt_key(self.client, b"right")
        self.assert_refused(
            {"key": key, "cert": self.client.cert_pem, "passphrase": "hunter2"},
            ValueError,
            "tls['passphrase'] does not decrypt tls['key']",
        )

    def test_mismatched_key(self) -> None:
        """A key that is not the certificate's is refused."""
        other = _certs.make_client_certificate(self.ca)
        self.assert_refused(
            {"key": other.key_pem, "cert": self.client.cert_pem},
            ValueError,
            "tls['key'] does not hold the private key of the client certificate",
        )

    def test_pfx_and_key(self) -> None:
        """pfx and key/cert are alternatives."""
        self.assert_refused(
            {"pfx": _certs.make_pkcs12(self.client), "key": self.client.key_pem},
            ValueError,
            "not both",
        )

    def test_bad_pfx(self) -> None:
        """pfx that is not PKCS#12, or does not open, is refused."""
        pfx = _certs.make_pkcs12(self.client, b"right")
        self.assert_refused({"pfx": b"garbage"}, ValueError, "tls['pfx'] is not PKCS#12")
        self.assert_refused({"pfx": pfx}, ValueError, "needs tls['passphrase']")
        self.assert_refused(
            {"pfx": pfx, "passphrase": "hunter2"}, ValueError, "does not open with"
        )

    def test_passphrase_alone(self) -> None:
        """A passphrase with nothing to decrypt is a mistake."""
        self.assert_refused({"passphrase": "hunter2"}, ValueError, "tls['passphrase'] is only")

    def test_endpoint_bad_url(self) -> None:
        """endpoint() refuses URLs of other schemes."""
        network = Network(Clock(), proxy=False)
        self.assertRaises(ValueError, network.endpoint, "ftp://slack.com/")


class FailureRecognitionTests(SynchronousTestCase):
    """
    L{is_certificate_failure} and L{describe_failure} on errors as Twisted and treq wrap them.
    """

    VERIFY_FAILED = SSL.Error([("SSL routines", "", "certificate verify failed")])
    MISMATCH = VerificationError(errors=[DNSMismatch(mismatched_id=DNS_ID("slack.com"))])
    REFUSED = SSL.Error([("SSL routines", "", "tlsv13 alert certificate required")])

    def wrappings(self, error: BaseException) -> list[object]:
        """C{error} on its own and in the wrappers it comes in."""
        chained = RuntimeError("call failed")
        chained.__cause__ = error
        holder = RuntimeError("slack error")
        holder.original = error  # type: ignore[attr-defined]
        return [
            error,
            Failure(error),
            ResponseNeverReceived([Failure(error)]),
            Failure(ResponseFailed([Failure(ConnectionRefusedError()), Failure(error)])),
            FirstError(Failure(error), 0),
            chained,
            holder,
        ]

    def test_certificate_failures(self) -> None:
        """Certificate failures are recognised however they are wrapped."""
        for error in [
            self.VERIFY_FAILED,
            self.MISMATCH,
            self.REFUSED,
            CertificateVerificationError("slack.com", "expired"),
        ]:
            for wrapped in self.wrappings(error):
                with self.subTest(wrapped=wrapped):
                    self.assertTrue(is_certificate_failure(wrapped))

    def test_other_failures(self) -> None:
        """Other errors are not certificate failures."""
        for error in [
            ConnectionRefusedError(),
            ProxyError("Proxy p:1 refused", 403),
            SSL.Error([("SSL routines", "", "wrong version number")]),
            ValueError("certificate verify failed"),
        ]:
            for wrapped in self.wrappings(error):
                with self.subTest(wrapped=wrapped):
                    self.assertFalse(is_certificate_failure(wrapped))
        self.assertFalse(is_certificate_failure(None))

    def test_describe_mismatch(self) -> None:
        """A host-name mismatch names the host even unexplained."""
        self.assertEqual(
            describe_failure(ResponseNeverReceived([Failure(self.MISMATCH)])),
            "TLS certificate of slack.com failed verification: hostname mismatch: "
            "the certificate is not valid for slack.com",
        )

    def test_describe_explained(self) -> None:
        """An explained failure is described by its own message."""
        error = CertificateVerificationError("slack.com", "certificate has expired")
        self.assertEqual(
            describe_failure(Failure(ResponseNeverReceived([Failure(error)]))),
            "TLS certificate of slack.com failed verification: certificate has expired",
        )

    def test_describe_unexplained(self) -> None:
        """A bare OpenSSL failure is still one sentence."""
        self.assertEqual(
            describe_failure(self.VERIFY_FAILED),
            "TLS certificate of the server failed verification: certificate verify failed",
        )
        self.assertIn("refused our TLS client certificate", describe_failure(self.REFUSED))

    def test_describe_other(self) -> None:
        """Other errors are described by the error inside the wrappers."""
        refused = ConnectionRefusedError("nobody home")
        self.assertEqual(describe_failure(ResponseNeverReceived([Failure(refused)])), str(refused))
        self.assertEqual(
            describe_failure(ProxyError("Proxy p:1 refused", 403)), "Proxy p:1 refused"
        )


class Hello(Resource):
    """A web resource that answers C{ok} to every GET."""

    isLeaf = True

    def render_GET(self, request: Request) -> bytes:
        return b"ok"


class Servers:
    """
    Certificates made for one test, and loopback servers using them.
    """

    def __init__(self, testcase: TestCase) -> None:
        self.testcase = testcase
        self.ca = _certs.make_ca()
        self.client_ca = _certs.make_ca("client CA")
        self.server = _certs.make_server_certificate(self.ca)
        self.client = _certs.make_client_certificate(self.client_ca)

    def echo(
        self, server: _certs.Identity | None = None, client_ca: _certs.Identity | None = None
    ) -> int:
        """A TLS echo server presenting C{server} (by default a valid one); its port."""
        tls = _certs.server_tls_options(server or self.server, client_ca)
        return listen(self.testcase, Factory.forProtocol(Echo), tls)

    def web(self) -> int:
        """An HTTPS web server answering C{ok}; its port."""
        return listen(self.testcase, Site(Hello()), _certs.server_tls_options(self.server))


async def echo(testcase: TestCase, network: Network, url: str) -> None:
    """Say ping to C{url} through C{network}, expect it back, and hang up."""
    probe = await network.endpoint(url).connect(Factory.forProtocol(Probe))
    testcase.assertEqual(await probe.received, b"ping")
    probe.transport.loseConnection()
    await probe.lost


async def refused(testcase: TestCase, network: Network, url: str) -> CertificateVerificationError:
    """Connect to C{url}; the connection must end with a certificate failure."""
    probe = await network.endpoint(url).connect(Factory.forProtocol(Probe))
    error = await probe.lost
    testcase.assertFalse(probe.received.called)
    testcase.assertTrue(is_certificate_failure(error))
    assert isinstance(error, CertificateVerificationError), error
    return error


async def get(network: Network, url: str, tracking: TrackingReactor) -> bytes:
    """GET C{url} with the network's agent; wait until the connection is closed."""
    try:
        response = await network.agent().request(b"GET", url.encode())
        return await readBody(response)
    finally:
        await tracking.connections.closed()


class TLSConnectionTests(TestCase):
    """
    Real TLS connections from L{Network.endpoint} and L{Network.agent} to loopback servers.
    """

    def setUp(self) -> None:
        self.servers = Servers(self)
        self.trust = {"ca": self.servers.ca.cert_pem}

    async def test_endpoint_trusting_ca(self) -> None:
        """wss to a server whose certificate tls['ca'] issued works."""
        port = self.servers.echo()
        await echo(
            self, Network(reactor, tls=self.trust, proxy=False), f"wss://127.0.0.1:{port}/x"
        )

    async def test_endpoint_trusting_several(self) -> None:
        """tls['ca'] may hold several authorities, as str."""
        port = self.servers.echo()
        bundle = (_certs.make_ca("other").cert_pem + self.servers.ca.cert_pem).decode()
        await echo(
            self, Network(reactor, tls={"ca": bundle}, proxy=False), f"wss://127.0.0.1:{port}/"
        )

    async def test_agent_trusting_ca(self) -> None:
        """The agent makes HTTPS calls to a server whose certificate tls['ca'] issued."""
        port = self.servers.web()
        tracking = TrackingReactor()
        network = Network(tracking, tls=self.trust, proxy=False)
        self.assertEqual(await get(network, f"https://127.0.0.1:{port}/api/", tracking), b"ok")

    async def test_untrusted_refused(self) -> None:
        """Without tls['ca'], the platform trust store does not trust the test CA."""
        port = self.servers.echo()
        error = await refused(self, Network(reactor, proxy=False), f"wss://127.0.0.1:{port}/")
        self.assertEqual(error.host, "127.0.0.1")
        self.assertIn("TLS certificate of 127.0.0.1 failed verification: ", str(error))
        self.assertIn("tls['ca']", str(error))

    async def test_untrusted_refused_agent(self) -> None:
        """The agent's failure holds the certificate failure, naming the host."""
        port = self.servers.web()
        tracking = TrackingReactor()
        with self.assertRaises(ResponseNeverReceived) as caught:
            await get(Network(tracking, proxy=False), f"https://127.0.0.1:{port}/", tracking)
        self.assertTrue(is_certificate_failure(caught.exception))
        self.assertIn("TLS certificate of 127.0.0.1", describe_failure(caught.exception))

    async def test_self_signed_refused(self) -> None:
        """A self-signed server certificate is refused, saying so."""
        port = self.servers.echo(_certs.make_server_certificate(None))
        network = Network(reactor, tls=self.trust, proxy=False)
        error = await refused(self, network, f"wss://127.0.0.1:{port}/")
        self.assertIn("self-signed certificate", error.reason)

    async def test_wrong_hostname_refused(self) -> None:
        """A certificate for another name is refused even from a trusted CA."""
        port = self.servers.echo(
            _certs.make_server_certificate(self.servers.ca, ["wrong.example"])
        )
        network = Network(reactor, tls=self.trust, proxy=False)
        error = await refused(self, network, f"wss://127.0.0.1:{port}/")
        self.assertEqual(
            str(error),
            "TLS certificate of 127.0.0.1 failed verification: hostname mismatch: "
            "the certificate is not valid for 127.0.0.1",
        )

    async def test_client_certificate(self) -> None:
        """A server requiring a client certificate accepts key + cert."""
        port = self.servers.echo(client_ca=self.servers.client_ca)
        tls = {
            **self.trust,
            "key": self.servers.client.key_pem,
            "cert": self.servers.client.cert_pem,
        }
        await echo(self, Network(reactor, tls=tls, proxy=False), f"wss://127.0.0.1:{port}/")

    async def test_client_certificate_encrypted_key(self) -> None:
        """An encrypted key with its passphrase works too."""
        port = self.servers.echo(client_ca=self.servers.client_ca)
        tls = {
            **self.trust,
            "key": _certs.encrypt_key(self.servers.client, b"s3cret"),
            "cert": self.servers.client.cert_pem,
            "passphrase": "s3cret",
        }
        await echo(self, Network(reactor, tls=tls, proxy=False), f"wss://127.0.0.1:{port}/")

    async def test_client_certificate_pfx(self) -> None:
        """A PKCS#12 bundle with its passphrase works too."""
        port = self.servers.echo(client_ca=self.servers.client_ca)
        pfx = _certs.make_pkcs12(self.servers.client, b"s3cret")
        tls = {**self.trust, "pfx": pfx, "passphrase": b"s3cret"}
        await echo(self, Network(reactor, tls=tls, proxy=False), f"wss://127.0.0.1:{port}/")

    async def test_client_certificate_missing(self) -> None:
        """Without a client certificate the server refuses us, and we say so."""
        port = self.servers.echo(client_ca=self.servers.client_ca)
        network = Network(reactor, tls=self.trust, proxy=False)
        error = await refused(self, network, f"wss://127.0.0.1:{port}/")
        self.assertTrue(error.client_certificate_refused)
        self.assertIn("127.0.0.1 refused our TLS client certificate", describe_failure(error))

    async def test_client_certificate_untrusted(self) -> None:
        """A client certificate from an authority the server does not trust is refused."""
        port = self.servers.echo(client_ca=self.servers.client_ca)
        stranger = _certs.make_client_certificate(_certs.make_ca("stranger"))
        tls = {**self.trust, "key": stranger.key_pem, "cert": stranger.cert_pem}
        error = await refused(
            self, Network(reactor, tls=tls, proxy=False), f"wss://127.0.0.1:{port}/"
        )
        self.assertTrue(error.client_certificate_refused)


class ProxiedConnectionTests(TestCase):
    """
    Connections through a real CONNECT proxy, TLS end to end inside the tunnel.
    """

    def setUp(self) -> None:
        self.servers = Servers(self)
        self.trust = {"ca": self.servers.ca.cert_pem}

    async def test_wss_through_proxy(self) -> None:
        """The WebSocket's endpoint tunnels through the proxy, which sees only ciphertext."""
        proxy = ConnectProxy(self)
        port = self.servers.echo()
        network = Network(reactor, tls=self.trust, proxy=proxy.url)
        await echo(self, network, f"wss://127.0.0.1:{port}/link")
        self.assertEqual(proxy.tunnels, {f"127.0.0.1:{port}": 1})
        self.assertTrue(proxy.relayed)
        self.assertNotIn(b"ping", proxy.relayed)

    async def test_both_through_proxy(self) -> None:
        """The Web API call and the WebSocket both go through an authenticating proxy."""
        proxy = ConnectProxy(self, credentials=("bot", "p@ss:wörd"))
        web_port, echo_port = self.servers.web(), self.servers.echo()
        tracking = TrackingReactor()
        url = f"http://bot:p%40ss%3Aw%C3%B6rd@127.0.0.1:{proxy.port}"
        network = Network(tracking, tls=self.trust, proxy=url)
        body = await get(network, f"https://127.0.0.1:{web_port}/api/", tracking)
        self.assertEqual(body, b"ok")
        await echo(self, network, f"wss://127.0.0.1:{echo_port}/link")
        self.assertEqual(proxy.tunnels, {f"127.0.0.1:{web_port}": 1, f"127.0.0.1:{echo_port}": 1})

    async def test_plain_through_proxy(self) -> None:
        """A ws:// target is tunnelled too."""
        proxy = ConnectProxy(self)
        port = listen(self, Factory.forProtocol(Echo))
        await echo(self, Network(reactor, proxy=proxy.url), f"ws://127.0.0.1:{port}/")
        self.assertEqual(proxy.tunnels, {f"127.0.0.1:{port}": 1})
        self.assertEqual(proxy.relayed, b"ping")

    async def test_certificate_checked_through_proxy(self) -> None:
        """Inside the tunnel the target's certificate is checked against the target's name."""
        proxy = ConnectProxy(self)
        port = self.servers.echo(
            _certs.make_server_certificate(self.servers.ca, ["wrong.example"])
        )
        network = Network(reactor, tls=self.trust, proxy=proxy.url)
        error = await refused(self, network, f"wss://127.0.0.1:{port}/")
        self.assertIn("hostname mismatch", error.reason)

    async def test_proxy_refusal(self) -> None:
        """A refusing proxy fails the connect with ProxyError, not a certificate failure."""
        proxy = ConnectProxy(self, credentials=("bot", "right"))
        network = Network(
            reactor, tls=self.trust, proxy=f"http://bot:wrong@127.0.0.1:{proxy.port}"
        )
        with self.assertRaises(ProxyError) as caught:
            await network.endpoint("wss://127.0.0.1:9/").connect(Factory.forProtocol(Probe))
        self.assertEqual(caught.exception.status, 407)
        self.assertFalse(is_certificate_failure(caught.exception))
        self.assertNotIn("wrong", describe_failure(caught.exception))


class _ResolverThatMustNotRun:
    """A name resolver that counts the names it is asked for and resolves none."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    def resolveHostName(self, receiver: Any, hostName: str, *args: Any, **kwargs: Any) -> Any:
        self.asked.append(hostName)
        receiver.resolutionBegan(None)
        receiver.resolutionComplete()
        return receiver


class AddressEndpointTests(SynchronousTestCase):
    """An IP address in a URL is connected to as it is, without asking the resolver."""

    def connect(self, url: str, proxy: str | bool = False) -> tuple[MemoryReactorClock, list[str]]:
        memory = MemoryReactorClock()
        resolver = _ResolverThatMustNotRun()
        memory.nameResolver = resolver  # type: ignore[assignment]
        connecting = Network(memory, None, proxy, environ={}).endpoint(url).connect(Factory())
        if resolver.asked:  # the name resolved to nothing: the attempt has failed already
            self.failureResultOf(connecting, DNSLookupError)
        return memory, resolver.asked

    def test_ip_addresses(self) -> None:
        """IPv4 and IPv6 addresses go straight to the reactor's TCP connect."""
        for url, host in [("ws://127.0.0.1:9/x", "127.0.0.1"), ("https://[::1]:9/x", "::1")]:
            with self.subTest(url=url):
                memory, asked = self.connect(url)
                self.assertEqual(asked, [])
                self.assertEqual([(h, p) for h, p, *_ in memory.tcpClients], [(host, 9)])

    def test_proxy_at_an_ip_address(self) -> None:
        """So does the connection to a proxy given by its address."""
        memory, asked = self.connect("wss://slack.example/x", proxy="http://10.0.0.8:3128")
        self.assertEqual(asked, [])
        self.assertEqual([(h, p) for h, p, *_ in memory.tcpClients], [("10.0.0.8", 3128)])

    def test_host_names_are_resolved(self) -> None:
        """A host name is looked up through the reactor's resolver."""
        _memory, asked = self.connect("wss://slack.example/x")
        self.assertEqual(asked, ["slack.example"])

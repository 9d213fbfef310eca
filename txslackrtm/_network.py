"""
How the client reaches a host: one place that turns a URL into a Twisted client endpoint.

Both connections the client makes, the HTTPS Web API call and the WSS WebSocket, get their
endpoints here, so the C{tls} and C{proxy} options apply to both alike:

  - C{tls} is checked and loaded once, when the L{Network} is made; every TLS connection
    then trusts exactly the given authorities (or the platform's), presents the given client
    certificate, and always verifies the host name (through service-identity).
  - C{proxy} (or C{HTTPS_PROXY}/C{HTTP_PROXY}, minus C{NO_PROXY}, from the environment)
    sends connections through an HTTP C{CONNECT} tunnel (L{HTTPConnectTunnelEndpoint}),
    with TLS running end to end inside it under the real host's name.

A certificate that fails verification comes back, in C{connectionLost} or inside the Web API
call's failure, as a L{CertificateVerificationError} naming the host and the reason;
L{is_certificate_failure} and L{describe_failure} recognise and word it wherever it is wrapped.
"""

from __future__ import annotations

import ipaddress
import os
import ssl
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, cast
from urllib.parse import unquote, urlsplit

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    PublicFormat,
    load_pem_private_key,
    pkcs12,
)
from OpenSSL import SSL, crypto
from OpenSSL.crypto import X509, PKey, X509Store, X509StoreContext, X509StoreContextError
from service_identity import CertificateError, VerificationError
from twisted.internet.defer import Deferred
from twisted.internet.endpoints import HostnameEndpoint, wrapClientTLS
from twisted.internet.interfaces import (
    IAddress,
    IHandshakeListener,
    IOpenSSLClientConnectionCreator,
    IProtocol,
    IProtocolFactory,
    IStreamClientEndpoint,
)
from twisted.internet.protocol import Factory, connectionDone
from twisted.internet.protocol import Protocol as TwistedProtocol
from twisted.internet.ssl import Certificate, optionsForClientTLS, trustRootFromCertificates
from twisted.python.failure import Failure
from twisted.web.client import URI, Agent, HTTPConnectionPool
from twisted.web.iweb import IAgent, IAgentEndpointFactory
from zope.interface import (  # type: ignore[import-untyped, unused-ignore]
    directlyProvides,
    implementer,
)

from ._tunnel import HTTPConnectTunnelEndpoint

if TYPE_CHECKING:
    from twisted.internet._sslverify import IOpenSSLTrustRoot

_SECURE_SCHEMES = {"https": True, "wss": True, "http": False, "ws": False}
_DEFAULT_PORTS = {True: 443, False: 80}

#: Seconds a TCP connection attempt (to the host, or to the proxy) may take before it fails.
CONNECT_TIMEOUT = 30.0

#: Seconds a proxy has to answer C{CONNECT} once asked.
TUNNEL_TIMEOUT = 30.0

#: The keys the C{tls} option accepts.
TLS_KEYS = ("ca", "cert", "key", "passphrase", "pfx")

#: Environment variables naming the proxy, by whether the target is C{https}/C{wss}; the
#: lower-case name wins when both are set, as in curl and Python's urllib.
_PROXY_VARIABLES = {True: ("https_proxy", "HTTPS_PROXY"), False: ("http_proxy", "HTTP_PROXY")}
_NO_PROXY_VARIABLES = ("no_proxy", "NO_PROXY")

#: Hosts a proxy from the environment is never used for: a proxy cannot reach our loopback.
_LOOPBACK = "localhost,127.0.0.0/8,::1"

#: What OpenSSL says when the peer's certificate fails the checks we asked for.
_VERIFY_FAILED = "certificate verify failed"

#: Parts of the TLS alerts a server sends when it does not accept our client certificate.
_CLIENT_CERTIFICATE_ALERTS = (
    "alert bad certificate",
    "alert certificate required",
    "alert certificate expired",
    "alert certificate revoked",
    "alert certificate unknown",
    "alert unknown ca",
    "alert unsupported certificate",
)

#: OpenSSL verification error codes meaning "not issued by an authority you trust", for
#: which the message says what to do about it.
_UNTRUSTED_ISSUER_CODES = frozenset({2, 18, 19, 20, 21})

#: Attributes through which Twisted (C{reasons}, C{subFailure}) and txslackrtm
#: (C{original}) wrap the error that caused another.
_WRAPPED_ERROR_ATTRIBUTES = ("reasons", "subFailure", "original")

#: Private key types a TLS handshake can sign with.
_SIGNING_KEYS = (
    rsa.RSAPrivateKey,
    ec.EllipticCurvePrivateKey,
    dsa.DSAPrivateKey,
    ed25519.Ed25519PrivateKey,
    ed448.Ed448PrivateKey,
)


def split_url(url: str | bytes) -> tuple[bool, str, int]:
    """
    Read the scheme, host and port of an C{http}, C{https}, C{ws} or C{wss} URL.

    @return: C{(secure, host, port)}, with the scheme's default port filled in.
    @raise ValueError: for any other scheme or a URL without a host; the message does not
        repeat the URL, whose query may hold a secret (the WebSocket ticket).
    """
    text = url.decode("ascii") if isinstance(url, bytes) else url
    parts = urlsplit(text)
    secure = _SECURE_SCHEMES.get(parts.scheme.lower())
    if secure is None or not parts.hostname:
        raise ValueError(f"not an http(s) or ws(s) URL with a host (scheme {parts.scheme!r})")
    return secure, parts.hostname, parts.port or _DEFAULT_PORTS[secure]


@dataclass(frozen=True)
class Proxy:
    """
    An HTTP proxy to tunnel through.

    @ivar credentials: C{(user, password)}, percent-decoded, or C{None}; never in C{repr}.
    """

    host: str
    port: int
    credentials: tuple[str, str] | None = field(default=None, repr=False)

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


def parse_proxy_url(url: str, source: str = "proxy", *, scheme_optional: bool = False) -> Proxy:
    """
    Read a proxy URL, C{http://[user:password@]host[:port]}.

    The port defaults to 80; a user name and password are percent-decoded.

    @param source: what the URL came from (C{"proxy"}, C{"HTTPS_PROXY"}), for messages.
    @param scheme_optional: accept C{host:port} without C{http://}, as curl does for the
        environment variables.
    @raise ValueError: naming C{source} (never repeating the URL, which may hold a password)
        for a URL of another scheme or form.
    """
    text = url.strip()
    if scheme_optional and "://" not in text:
        text = "http://" + text
    parts = urlsplit(text)
    scheme = parts.scheme.lower()
    if "://" in text and scheme != "http":
        raise ValueError(
            f"{source} must be an http:// proxy URL, not {scheme}://; TLS to the target still "
            "runs end to end inside the tunnel"
        )
    try:
        port = 80 if parts.port is None else parts.port
    except ValueError:
        port = 0
    if (
        scheme != "http"
        or not parts.hostname
        or not port > 0
        or parts.path not in ("", "/")
        or parts.query
        or parts.fragment
    ):
        raise ValueError(f"{source} must be a URL of the form http://[user:password@]host:port")
    return Proxy(parts.hostname, port, _credentials(parts.username, parts.password, source))


def _credentials(user: str | None, password: str | None, source: str) -> tuple[str, str] | None:
    """
    The percent-decoded user and password of a proxy URL, or C{None} when it has no user.

    @raise ValueError: when the user name holds C{:}, which Basic authentication cannot carry.
    """
    if user is None:
        return None
    decoded = unquote(user)
    if ":" in decoded:
        raise ValueError(f"the user name in {source} cannot contain ':'")
    return decoded, unquote(password or "")


@dataclass(frozen=True)
class _BypassRule:
    """
    One C{NO_PROXY} entry: an IP network, a domain (matching itself and its subdomains), or,
    with neither, every host. C{port}, when set, must match too.
    """

    network: ipaddress.IPv4Network | ipaddress.IPv6Network | None = None
    domain: str | None = None
    port: int | None = None

    def matches(self, host: str, port: int) -> bool:
        """
        Whether a connection to C{host} (lower-case, no trailing dot) and C{port} is exempt.
        """
        if self.port is not None and self.port != port:
            return False
        address = _ip_address(host)
        if self.network is not None:
            return address is not None and address in self.network
        if self.domain is not None:
            return address is None and (host == self.domain or host.endswith("." + self.domain))
        return True


def _parse_no_proxy(value: str) -> tuple[_BypassRule, ...]:
    """
    Read a C{NO_PROXY} list: comma-separated host names, domain suffixes (C{example.com},
    C{.example.com} and C{*.example.com} all match C{example.com} and its subdomains), IP
    addresses or networks (C{10.0.0.0/8}), each optionally with C{:port}, or C{*} for every
    host. Case does not matter; entries that cannot be read are ignored.
    """
    rules = (_parse_bypass_entry(entry.strip().lower()) for entry in value.split(","))
    return tuple(rule for rule in rules if rule is not None)


def _parse_bypass_entry(entry: str) -> _BypassRule | None:
    """
    One C{NO_PROXY} entry as a rule, or C{None} when it is empty or cannot be read.
    """
    if entry == "*":
        return _BypassRule()
    host, port_text = _split_bypass_entry(entry)
    if port_text is not None and not (port_text.isdigit() and 0 < int(port_text) < 65536):
        return None
    port = None if port_text is None else int(port_text)
    try:
        return _BypassRule(network=ipaddress.ip_network(host, strict=False), port=port)
    except ValueError:
        domain = host.removeprefix("*.").lstrip(".").rstrip(".")
        return _BypassRule(domain=domain, port=port) if domain else None


def _split_bypass_entry(entry: str) -> tuple[str, str | None]:
    """
    Split C{host:port}, C{[v6]:port}, a bare IPv6 address or network, or a bare host.
    """
    if entry.startswith("["):
        host, _, rest = entry[1:].partition("]")
        return host, rest[1:] if rest.startswith(":") else None
    if entry.count(":") == 1:
        host, _, port = entry.partition(":")
        return host, port
    return entry, None


def _ip_address(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """
    C{host} as an IP address, or C{None} for a host name.
    """
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


@dataclass(frozen=True)
class _ProxySettings:
    """
    Which proxy, if any, each connection goes through.

    @ivar secure: the proxy for C{https}/C{wss} targets.
    @ivar plain: the proxy for C{http}/C{ws} targets.
    @ivar bypass: hosts reached directly all the same.
    """

    secure: Proxy | None = None
    plain: Proxy | None = None
    bypass: tuple[_BypassRule, ...] = ()

    def choose(self, secure: bool, host: str, port: int) -> Proxy | None:
        """
        The proxy for a connection to C{host:port}, or C{None} to connect directly.
        """
        proxy = self.secure if secure else self.plain
        name = host.lower().rstrip(".")
        if proxy is None or any(rule.matches(name, port) for rule in self.bypass):
            return None
        return proxy


def _proxy_settings(proxy: object, environ: Mapping[str, str]) -> _ProxySettings:
    """
    Read the C{proxy} option: C{None} for the environment, C{False} for none, or a URL.

    @raise TypeError: for any other type.
    @raise ValueError: for a URL that cannot be used, in the option or the environment.
    """
    if proxy is None:
        return _environment_proxies(environ)
    if proxy is False:
        return _ProxySettings()
    if isinstance(proxy, str):
        chosen = parse_proxy_url(proxy)
        return _ProxySettings(chosen, chosen)
    raise TypeError(f"proxy must be None, False or a URL string, not {type(proxy).__name__}")


def _environment_proxies(environ: Mapping[str, str]) -> _ProxySettings:
    """
    The proxies C{HTTPS_PROXY} and C{HTTP_PROXY} name, minus C{NO_PROXY} and loopback.
    """
    no_proxy = _first_setting(environ, _NO_PROXY_VARIABLES)
    return _ProxySettings(
        secure=_environment_proxy(environ, _PROXY_VARIABLES[True]),
        plain=_environment_proxy(environ, _PROXY_VARIABLES[False]),
        bypass=_parse_no_proxy(_LOOPBACK) + _parse_no_proxy(no_proxy[1] if no_proxy else ""),
    )


def _environment_proxy(environ: Mapping[str, str], names: tuple[str, ...]) -> Proxy | None:
    """
    The proxy the first of C{names} set in C{environ} gives, or C{None}.
    """
    setting = _first_setting(environ, names)
    if setting is None:
        return None
    return parse_proxy_url(setting[1], setting[0], scheme_optional=True)


def _first_setting(environ: Mapping[str, str], names: tuple[str, ...]) -> tuple[str, str] | None:
    """
    C{(name, value)} of the first of C{names} set to something other than blanks.
    """
    for name in names:
        value = environ.get(name, "").strip()
        if value:
            return name, value
    return None


@dataclass(frozen=True)
class _ClientIdentity:
    """
    A client certificate (with any intermediate certificates) and its private key.
    """

    key: PKey = field(repr=False)
    chain: tuple[x509.Certificate, ...]

    def certificate_options(self) -> dict[str, object]:
        """
        The L{CertificateOptions} arguments that present this identity: what
        C{optionsForClientTLS(clientCertificate=...)} would pass, plus the intermediate
        certificates, which that argument cannot carry.
        """
        leaf, *intermediates = self.chain
        return {
            "privateKey": self.key,
            "certificate": X509.from_cryptography(leaf),
            "extraCertChain": [X509.from_cryptography(cert) for cert in intermediates],
        }


@dataclass(frozen=True)
class _TLSSettings:
    """
    The checked C{tls} option: whom to trust and what client certificate to present.

    @ivar authorities: the trusted authorities, or none for the platform's trust store.
    """

    authorities: tuple[x509.Certificate, ...] = ()
    client: _ClientIdentity | None = None

    def creator_for(self, host: str) -> IOpenSSLClientConnectionCreator:
        """
        TLS client options for a connection to C{host}, verifying that its certificate names
        C{host} and chains to a trusted authority.
        """
        extra = {} if self.client is None else self.client.certificate_options()
        return optionsForClientTLS(
            host, trustRoot=self._trust_root(), extraCertificateOptions=extra
        )

    def explain_rejection(self, connection: SSL.Connection) -> str | None:
        """
        Why the certificate chain the peer presented on C{connection} is not trusted, as
        OpenSSL words it, found by verifying it again; C{None} when that cannot tell.
        """
        chain = connection.get_peer_cert_chain()
        store = self._store()
        if not chain or store is None:
            return None
        try:
            X509StoreContext(store, chain[0], chain[1:]).verify_certificate()
        except X509StoreContextError as error:
            return _rejection_reason(error)
        return None

    def _trust_root(self) -> IOpenSSLTrustRoot | None:
        """
        Exactly the authorities of C{tls['ca']}, or C{None} for the platform's trust store.
        """
        if not self.authorities:
            return None
        certificates = [Certificate.loadPEM(_pem(cert)) for cert in self.authorities]
        root: IOpenSSLTrustRoot = trustRootFromCertificates(certificates)  # type: ignore[no-untyped-call]
        return root

    def _store(self) -> X509Store | None:
        """
        An X509 store trusting what connections trust, to explain a rejection with; C{None}
        when the platform's trust store cannot be found.
        """
        store = X509Store()
        if self.authorities:
            for certificate in self.authorities:
                store.add_cert(X509.from_cryptography(certificate))
            return store
        paths = ssl.get_default_verify_paths()
        try:
            store.load_locations(paths.cafile, paths.capath)
        except crypto.Error:
            return None
        return store


def _rejection_reason(error: X509StoreContextError) -> str:
    """
    OpenSSL's reason for rejecting a chain, with what to do when the issuer is unknown.
    """
    code = error.errors[0] if error.errors else None
    if code in _UNTRUSTED_ISSUER_CODES:
        return f"{error} (give the authority that issued it in tls['ca'])"
    return str(error)


def _pem(certificate: x509.Certificate) -> bytes:
    """
    C{certificate} as PEM.
    """
    return certificate.public_bytes(Encoding.PEM)


def _parse_tls(tls: Mapping[str, object] | None) -> _TLSSettings:
    """
    Check and load the C{tls} option once, before any connection is made.

    @raise TypeError: when C{tls} is not a mapping or a value has the wrong type.
    @raise ValueError: naming the key, for unknown keys, material that cannot be read, a key
        that does not match its certificate, or a missing or wrong passphrase. Messages
        never include the material or the passphrase.
    """
    if tls is None:
        return _TLSSettings()
    if not isinstance(tls, Mapping):
        raise TypeError(f"tls must be a dict of TLS material, not {type(tls).__name__}")
    unknown = sorted(repr(key) for key in tls if key not in TLS_KEYS)
    if unknown:
        raise ValueError(
            f"unknown tls key {', '.join(unknown)}; the keys are {', '.join(TLS_KEYS)}"
        )
    values = {key: _tls_bytes(tls, key) for key in TLS_KEYS}
    return _TLSSettings(
        authorities=_load_authorities(values["ca"]),
        client=_load_client_identity(
            values["key"], values["cert"], values["pfx"], values["passphrase"]
        ),
    )


def _tls_bytes(tls: Mapping[str, object], key: str) -> bytes | None:
    """
    C{tls[key]} as bytes (a C{str} encoded as UTF-8), or C{None} when absent or C{None}.

    @raise TypeError: for another type, or a C{str} for C{pfx}, which is binary.
    """
    value = tls.get(key)
    if value is None:
        return None
    if isinstance(value, bytes | bytearray):
        return bytes(value)
    if isinstance(value, str) and key != "pfx":
        return value.encode("utf-8")
    wanted = "bytes (PKCS#12 is binary)" if key == "pfx" else "str or bytes"
    raise TypeError(f"tls[{key!r}] must be {wanted}, not {type(value).__name__}")


def _load_authorities(pem: bytes | None) -> tuple[x509.Certificate, ...]:
    """
    The certificates in C{tls['ca']}.
    """
    if pem is None:
        return ()
    try:
        return tuple(x509.load_pem_x509_certificates(pem))
    except ValueError:
        raise ValueError("tls['ca'] is not a PEM certificate (or several)") from None


def _load_client_identity(
    key: bytes | None, cert: bytes | None, pfx: bytes | None, passphrase: bytes | None
) -> _ClientIdentity | None:
    """
    The client certificate C{tls} asks to present, from C{key} and C{cert} or from C{pfx}.
    """
    if pfx is not None:
        if key is not None or cert is not None:
            raise ValueError("give either tls['pfx'] or tls['key'] and tls['cert'], not both")
        private_key, chain = _load_pkcs12(pfx, passphrase)
        source = "tls['pfx']"
    elif key is None and cert is None:
        if passphrase is not None:
            raise ValueError("tls['passphrase'] is only used with tls['key'] or tls['pfx']")
        return None
    elif cert is None:
        raise ValueError("tls['key'] needs tls['cert'], the certificate that goes with it")
    elif key is None:
        raise ValueError("tls['cert'] needs tls['key'], its private key")
    else:
        private_key, chain = _load_private_key(key, passphrase), _load_chain(cert)
        source = "tls['key']"
    return _ClientIdentity(_signing_key(private_key, chain[0], source), chain)


def _load_private_key(pem: bytes, passphrase: bytes | None) -> object:
    """
    The private key in C{tls['key']}, decrypted with C{passphrase} when it is encrypted.
    """
    try:
        return load_pem_private_key(pem, password=None)
    except TypeError:
        pass  # Encrypted: cryptography wants the passphrase.
    except (ValueError, UnsupportedAlgorithm):
        raise ValueError("tls['key'] is not a PEM private key") from None
    if passphrase is None:
        raise ValueError("tls['key'] is encrypted: give its tls['passphrase']")
    try:
        return load_pem_private_key(pem, password=passphrase)
    except (TypeError, ValueError, UnsupportedAlgorithm):
        raise ValueError("tls['passphrase'] does not decrypt tls['key']") from None


def _load_chain(pem: bytes) -> tuple[x509.Certificate, ...]:
    """
    The client certificate in C{tls['cert']}, followed by any intermediate certificates.
    """
    try:
        return tuple(x509.load_pem_x509_certificates(pem))
    except ValueError:
        raise ValueError("tls['cert'] is not a PEM certificate") from None


def _load_pkcs12(
    data: bytes, passphrase: bytes | None
) -> tuple[object, tuple[x509.Certificate, ...]]:
    """
    The private key and certificates (client certificate first) in C{tls['pfx']}.
    """
    try:
        key, certificate, others = pkcs12.load_key_and_certificates(data, passphrase)
    except (TypeError, ValueError, UnsupportedAlgorithm):
        unlock = (
            "needs tls['passphrase']"
            if passphrase is None
            else "does not open with tls['passphrase']"
        )
        raise ValueError(f"tls['pfx'] is not PKCS#12 data, or it {unlock}") from None
    if key is None or certificate is None:
        raise ValueError("tls['pfx'] must hold a private key and its certificate")
    return key, (certificate, *others)


def _signing_key(key: object, certificate: x509.Certificate, source: str) -> PKey:
    """
    C{key} for pyOpenSSL, once it is known to sign handshakes and to match C{certificate}.
    """
    if not isinstance(key, _SIGNING_KEYS):
        raise ValueError(f"{source} is a kind of key that cannot sign a TLS handshake")
    mine = key.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    theirs = certificate.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    if mine != theirs:
        raise ValueError(f"{source} does not hold the private key of the client certificate")
    return PKey.from_cryptography_key(key)


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
        factory = _EndpointFactory(self)
        return IAgent(Agent.usingEndpointFactory(self.reactor, factory, pool=pool))  # type: ignore[no-untyped-call]

    def _stream_endpoint(self, host: str, port: int, proxy: Proxy | None) -> IStreamClientEndpoint:
        """
        A TCP endpoint to C{host:port}, or a C{CONNECT} tunnel to it through C{proxy}.
        """
        if proxy is None:
            return IStreamClientEndpoint(
                HostnameEndpoint(self.reactor, host, port, timeout=CONNECT_TIMEOUT)
            )
        to_proxy = HostnameEndpoint(self.reactor, proxy.host, proxy.port, timeout=CONNECT_TIMEOUT)
        tunnel = HTTPConnectTunnelEndpoint(
            IStreamClientEndpoint(to_proxy),
            host,
            port,
            credentials=proxy.credentials,
            timeout=TUNNEL_TIMEOUT,
            reactor=self.reactor,
            proxy_name=str(proxy),
        )
        return IStreamClientEndpoint(tunnel)


@implementer(IAgentEndpointFactory)
class _EndpointFactory:
    """Adapts L{Network.endpoint} to what L{Agent.usingEndpointFactory} asks for."""

    def __init__(self, network: Network) -> None:
        self._network = network

    def endpointForURI(self, uri: URI) -> IStreamClientEndpoint:
        location: bytes = uri.toBytes()  # type: ignore[no-untyped-call]
        return self._network.endpoint(location)


class CertificateVerificationError(Exception):
    """
    A TLS certificate failed verification: the server's (not trusted, wrong host name,
    expired...) or, when C{client_certificate_refused}, ours as the server judged it.

    Configuration, not bad luck: retrying cannot help. Comes with the original error as
    C{__cause__}.

    @ivar host: the host connected to, as the URL named it.
    @ivar reason: what was wrong, e.g. C{"hostname mismatch: ..."}.
    """

    def __init__(self, host: str, reason: str, client_certificate_refused: bool = False) -> None:
        super().__init__(host, reason, client_certificate_refused)
        self.host = host
        self.reason = reason
        self.client_certificate_refused = client_certificate_refused

    def __str__(self) -> str:
        if self.client_certificate_refused:
            return f"{self.host} refused our TLS client certificate: {self.reason}"
        return f"TLS certificate of {self.host} failed verification: {self.reason}"


def is_certificate_failure(failure_or_exception: object) -> bool:
    """
    Whether an error is, or was caused by, a TLS certificate that failed verification.

    Looks through L{Failure}s and the wrappers Twisted and treq put around connection errors
    (C{ResponseNeverReceived}, C{ResponseFailed} and other C{reasons} holders, C{FirstError}),
    C{original} attributes and exception chaining, for a L{CertificateVerificationError},
    a service-identity C{VerificationError} or C{CertificateError}, or an OpenSSL error saying
    C{certificate verify failed} or that the server refused our client certificate.
    """
    return any(
        isinstance(error, CertificateVerificationError) or _certificate_problem(error)
        for error in _errors_within(failure_or_exception)
    )


def describe_failure(failure_or_exception: object) -> str:
    """
    One sentence saying what went wrong, naming the host and the reason for a certificate
    failure (C{"TLS certificate of 127.0.0.1 failed verification: hostname mismatch: ..."});
    for any other error, the message of the error the wrappers hold.
    """
    for error in _errors_within(failure_or_exception):
        if isinstance(error, CertificateVerificationError):
            return str(error)
        problem = _certificate_problem(error)
        if problem is not None:
            return str(CertificateVerificationError(_named_host(error), *problem))
    innermost = _innermost(failure_or_exception)
    return str(innermost) or type(innermost).__name__


def _errors_within(failure_or_exception: object) -> Iterator[BaseException]:
    """
    The error, then every error it wraps or was caused by, depth first, each once.
    """
    pending = [failure_or_exception]
    seen: set[int] = set()
    while pending:
        error = _exception(pending.pop())
        if error is None or id(error) in seen:
            continue
        seen.add(id(error))
        yield error
        pending.extend(reversed(_wrapped_errors(error)))


def _wrapped_errors(error: BaseException) -> list[object]:
    """
    The errors C{error} directly wraps or was caused by.
    """
    found: list[object] = []
    for name in _WRAPPED_ERROR_ATTRIBUTES:
        inner = getattr(error, name, None)
        found.extend(inner if isinstance(inner, list | tuple) else [inner])
    return [*found, error.__cause__, error.__context__]


def _exception(item: object) -> BaseException | None:
    """
    The exception a L{Failure} holds, the exception itself, or C{None} for anything else.
    """
    value = item.value if isinstance(item, Failure) else item
    return value if isinstance(value, BaseException) else None


def _innermost(failure_or_exception: object) -> object:
    """
    The error inside Failures and Twisted's C{reasons} wrappers, following the first reason.
    """
    error = _exception(failure_or_exception) or failure_or_exception
    reasons = getattr(error, "reasons", None)
    while isinstance(reasons, list) and reasons:
        error = _exception(reasons[0]) or reasons[0]
        reasons = getattr(error, "reasons", None)
    return error


def _certificate_problem(error: BaseException) -> tuple[str, bool] | None:
    """
    C{(reason, client_certificate_refused)} when C{error} is a certificate verification
    failure, else C{None}.
    """
    if isinstance(error, VerificationError):
        return _mismatch_reason(error), False
    if isinstance(error, CertificateError):
        return f"unusable certificate: {error}", False
    if isinstance(error, SSL.Error):
        for reason in _openssl_reasons(error):
            if _VERIFY_FAILED in reason:
                return reason, False
            if any(alert in reason for alert in _CLIENT_CERTIFICATE_ALERTS):
                return reason, True
    return None


def _openssl_reasons(error: SSL.Error) -> list[str]:
    """
    The reason strings of an OpenSSL error (C{[(library, function, reason), ...]}).
    """
    details = error.args[0] if error.args else None
    if not isinstance(details, list):
        return [str(error)]
    return [str(item[-1]) for item in details if isinstance(item, tuple) and item]


def _mismatch_reason(error: VerificationError) -> str:
    """
    "hostname mismatch", with the names the certificate does not cover.
    """
    names = [_service_name(mismatch.mismatched_id) for mismatch in error.errors]
    return f"hostname mismatch: the certificate is not valid for {', '.join(names)}"


def _service_name(service_id: object) -> str:
    """
    The host name or IP address a service-identity ID stands for.
    """
    hostname = getattr(service_id, "hostname", None)
    if isinstance(hostname, bytes):
        return hostname.decode("ascii", "replace")
    return str(getattr(service_id, "ip", service_id))


def _named_host(error: BaseException) -> str:
    """
    The host an unwrapped certificate error names (a host-name mismatch does), or a stand-in.
    """
    if isinstance(error, VerificationError) and error.errors:
        return _service_name(error.errors[0].mismatched_id)
    return "the server"


class _Endpoint(Protocol):
    """What this module calls on an L{IStreamClientEndpoint}."""

    def connect(self, protocolFactory: Factory[Any]) -> Deferred[Any]: ...


class _WrappedProtocol(Protocol):
    """What this module calls on the L{IProtocol} it passes a connection to."""

    def makeConnection(self, transport: Any) -> None: ...

    def dataReceived(self, data: bytes) -> None: ...

    def connectionLost(self, reason: Failure) -> None: ...


class _HandshakeListener(Protocol):
    """What this module calls on an L{IHandshakeListener}."""

    def handshakeCompleted(self) -> None: ...


class _WrappedFactory(Protocol):
    """What this module calls on an L{IProtocolFactory}."""

    def buildProtocol(self, addr: IAddress) -> IProtocol | None: ...

    def doStart(self) -> None: ...

    def doStop(self) -> None: ...


@implementer(IStreamClientEndpoint)
class _ExplainingEndpoint:
    """
    Connects through a TLS endpoint and puts a L{CertificateVerificationError} naming the
    host in place of a bare certificate error in C{connectionLost}, so that the client (and
    the Web API call's failure) can tell what failed, where, and why.
    """

    def __init__(self, tls: IStreamClientEndpoint, host: str, settings: _TLSSettings) -> None:
        self._tls = cast(_Endpoint, tls)
        self._host = host
        self._settings = settings

    def connect(self, protocol_factory: IProtocolFactory) -> Deferred[IProtocol]:
        factory = _ExplainingFactory(cast(_WrappedFactory, protocol_factory), self)
        connecting: Deferred[_ExplainingProtocol] = self._tls.connect(factory)
        return connecting.addCallback(_user_protocol)

    def explain(self, reason: Failure, transport: object) -> Failure:
        """
        C{reason}, or a L{CertificateVerificationError} in its place when it is a
        certificate failure on C{transport}.
        """
        problem = None if reason.value is None else _certificate_problem(reason.value)
        if problem is None:
            return reason
        detail, refused = problem
        handle = getattr(transport, "getHandle", lambda: None)()
        if detail == _VERIFY_FAILED and isinstance(handle, SSL.Connection):
            detail = self._settings.explain_rejection(handle) or detail
        error = CertificateVerificationError(self._host, detail, refused)
        error.__cause__ = reason.value
        explained: Failure = Failure(error)  # type: ignore[no-untyped-call]
        return explained


class _ExplainingFactory(Factory[TwistedProtocol]):
    """
    Builds the user's protocol inside an L{_ExplainingProtocol}.
    """

    noisy = False

    def __init__(self, factory: _WrappedFactory, endpoint: _ExplainingEndpoint) -> None:
        self._factory = factory
        self._endpoint = endpoint

    def buildProtocol(self, addr: IAddress | None) -> _ExplainingProtocol | None:
        wrapped = self._factory.buildProtocol(cast(IAddress, addr))
        if wrapped is None:
            return None
        return _ExplainingProtocol(cast(_WrappedProtocol, wrapped), self._endpoint)

    def doStart(self) -> None:
        self._factory.doStart()

    def doStop(self) -> None:
        self._factory.doStop()


class _ExplainingProtocol(TwistedProtocol):
    """
    Passes everything through to the user's protocol, over the same TLS transport, except
    that a certificate failure is explained on its way to C{connectionLost}.

    @ivar wrapped: the user's protocol.
    """

    def __init__(self, wrapped: _WrappedProtocol, endpoint: _ExplainingEndpoint) -> None:
        self.wrapped = wrapped
        self._endpoint = endpoint
        if IHandshakeListener.providedBy(wrapped):
            directlyProvides(self, IHandshakeListener)

    def connectionMade(self) -> None:
        self.wrapped.makeConnection(self.transport)

    def dataReceived(self, data: bytes) -> None:
        self.wrapped.dataReceived(data)

    def handshakeCompleted(self) -> None:
        cast(_HandshakeListener, self.wrapped).handshakeCompleted()

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        self.wrapped.connectionLost(self._endpoint.explain(reason, self.transport))


def _user_protocol(protocol: _ExplainingProtocol) -> IProtocol:
    """
    The user's protocol inside an L{_ExplainingProtocol}, which C{connect} fires with.
    """
    return cast(IProtocol, protocol.wrapped)

# -*- test-case-name: tests.test_network -*-
"""
TLS material, and what goes wrong with it: the C{tls} option and certificate failures.

L{_parse_tls} checks and loads the C{tls} option once (PEM authorities to trust, a client
certificate and key in PEM or PKCS#12, their passphrase) into a L{_TLSSettings}, which makes
the TLS client options for each host: trusting exactly the given authorities (or the
platform's), presenting the given client certificate, and always verifying the host name
(through service-identity).

A certificate that fails verification is configuration, not bad luck, so it must be told
apart from other connection failures: L{_ExplainingEndpoint} wraps a TLS endpoint so that it
reaches C{connectionLost}, and so the Web API call's failure, as a
L{CertificateVerificationError} naming the host and the reason; L{is_certificate_failure} and
L{describe_failure} recognise and word it wherever Twisted or treq have wrapped it.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, cast

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
from zope.interface import (  # type: ignore[import-untyped, unused-ignore]
    directlyProvides,
    implementer,
)

if TYPE_CHECKING:
    from twisted.internet._sslverify import IOpenSSLTrustRoot

#: The keys the C{tls} option accepts.
TLS_KEYS = ("ca", "cert", "key", "passphrase", "pfx")

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

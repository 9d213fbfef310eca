"""
Throwaway certificates for tests and for the fake Slack's TLS mode, made at run time.

Nothing here is fit for production: keys are fresh, unprotected (unless asked), short-lived and
never written to disk by this module. The point is that no certificate or key is ever committed
to the repository, and that every test run gets its own certificate authority.

Keys are ECDSA P-256, which is quick to generate (a few milliseconds), so each test can make
its own.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from OpenSSL.crypto import X509, PKey
from twisted.internet.ssl import Certificate, CertificateOptions

#: How long a generated certificate stays valid once made. It is valid from an hour before,
#: too, so that a slightly slow clock on the other side still accepts it.
VALIDITY = timedelta(days=2)

#: The names a server certificate is valid for unless others are given.
LOOPBACK_NAMES = ("localhost", "127.0.0.1")


@dataclass(frozen=True)
class Identity:
    """
    A certificate and its private key, both PEM-encoded.

    @ivar cert_pem: the certificate, PEM.
    @ivar key_pem: the unencrypted private key, PEM (PKCS#8); left out of C{repr}.
    """

    cert_pem: bytes
    key_pem: bytes = field(repr=False)


def make_ca(common_name: str = "txslackrtm test CA") -> Identity:
    """
    Make a self-signed certificate authority that can sign server and client certificates.

    @param common_name: the CA's subject common name, as it shows up in error messages.
    """
    key = ec.generate_private_key(ec.SECP256R1())
    name = _name(common_name)
    builder = (
        _builder(name, name, key.public_key())
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(signs_certificates=True), critical=True)
    )
    return _identity(builder.sign(key, hashes.SHA256()), key)


def make_server_certificate(
    ca: Identity | None, names: Sequence[str] = LOOPBACK_NAMES
) -> Identity:
    """
    Make a TLS server certificate valid for C{names}.

    @param ca: the authority that signs it, or C{None} for a self-signed certificate.
    @param names: host names and IP addresses put in the subjectAltName (which is what
        clients check); by default C{localhost} and C{127.0.0.1}. Give a name the server is
        not reached by to make a wrong-hostname certificate.
    """
    if not names:
        raise ValueError("a server certificate needs at least one name")
    return _make_leaf(
        ca,
        names[0],
        ExtendedKeyUsageOID.SERVER_AUTH,
        x509.SubjectAlternativeName([_general_name(name) for name in names]),
    )


def make_client_certificate(ca: Identity, common_name: str = "txslackrtm test client") -> Identity:
    """
    Make a TLS client certificate signed by C{ca}, for servers that require one.
    """
    return _make_leaf(ca, common_name, ExtendedKeyUsageOID.CLIENT_AUTH, None)


def encrypt_key(identity: Identity, passphrase: bytes) -> bytes:
    """
    The private key of C{identity} as PEM encrypted with C{passphrase}.
    """
    return _load_ec_key(identity.key_pem).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(passphrase),
    )


def make_pkcs12(identity: Identity, passphrase: bytes | None = None) -> bytes:
    """
    Bundle C{identity} as PKCS#12 (a C{.pfx} / C{.p12} file's bytes).

    @param passphrase: encrypts the bundle; C{None} leaves it unencrypted.
    """
    key = _load_ec_key(identity.key_pem)
    encryption: serialization.KeySerializationEncryption = (
        serialization.NoEncryption()
        if passphrase is None
        else serialization.BestAvailableEncryption(passphrase)
    )
    certificate = x509.load_pem_x509_certificate(identity.cert_pem)
    return pkcs12.serialize_key_and_certificates(b"txslackrtm", key, certificate, None, encryption)


def server_tls_options(server: Identity, client_ca: Identity | None = None) -> CertificateOptions:
    """
    Server-side TLS options presenting C{server}, for C{listenSSL} or C{TLSMemoryBIOFactory}.

    @param client_ca: when given, clients must present a certificate signed by this authority;
        the handshake fails for those that do not.
    """
    key = PKey.from_cryptography_key(_load_ec_key(server.key_pem))
    certificate = X509.from_cryptography(x509.load_pem_x509_certificate(server.cert_pem))
    if client_ca is None:
        return CertificateOptions(privateKey=key, certificate=certificate)
    return CertificateOptions(
        privateKey=key,
        certificate=certificate,
        trustRoot=Certificate.loadPEM(client_ca.cert_pem),
    )


def _make_leaf(
    ca: Identity | None,
    common_name: str,
    usage: x509.ObjectIdentifier,
    names: x509.SubjectAlternativeName | None,
) -> Identity:
    """
    Make an end-entity certificate signed by C{ca} (or by its own key when C{ca} is C{None}).
    """
    key = ec.generate_private_key(ec.SECP256R1())
    subject = _name(common_name)
    if ca is None:
        issuer_name, signing_key = subject, key
    else:
        issuer = x509.load_pem_x509_certificate(ca.cert_pem)
        issuer_name = issuer.subject
        signing_key = _load_ec_key(ca.key_pem)
    builder = (
        _builder(subject, issuer_name, key.public_key())
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(signs_certificates=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(signing_key.public_key()),
            critical=False,
        )
    )
    if names is not None:
        builder = builder.add_extension(names, critical=False)
    return _identity(builder.sign(signing_key, hashes.SHA256()), key)


def _builder(
    subject: x509.Name, issuer: x509.Name, public_key: ec.EllipticCurvePublicKey
) -> x509.CertificateBuilder:
    """
    The fields every generated certificate shares: names, key, serial, validity, key id.
    """
    now = datetime.now(UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(hours=1))
        .not_valid_after(now + VALIDITY)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
    )


def _key_usage(signs_certificates: bool) -> x509.KeyUsage:
    """
    Key usage for a CA (signs certificates) or an end entity (signs handshakes).
    """
    return x509.KeyUsage(
        digital_signature=not signs_certificates,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=signs_certificates,
        crl_sign=signs_certificates,
        encipher_only=False,
        decipher_only=False,
    )


def _name(common_name: str) -> x509.Name:
    """
    A distinguished name made of just a common name.
    """
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _general_name(name: str) -> x509.GeneralName:
    """
    C{name} as a subjectAltName entry: an IP address entry when it is one, else a DNS name.
    """
    try:
        return x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        return x509.DNSName(name)


def _load_ec_key(pem: bytes) -> ec.EllipticCurvePrivateKey:
    """
    Load an unencrypted EC private key made by this module.
    """
    key = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise TypeError("expected an EC private key made by this module")
    return key


def _identity(certificate: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> Identity:
    """
    Serialise a certificate and its key as an L{Identity}.
    """
    return Identity(
        cert_pem=certificate.public_bytes(serialization.Encoding.PEM),
        key_pem=key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
    )

# -*- test-case-name: tests.test_network -*-
"""
Which proxy a connection goes through: the C{proxy} option and the environment.

L{parse_proxy_url} reads a proxy URL, C{http://[user:password@]host[:port]}. L{_proxy_settings}
turns the C{proxy} option into a L{_ProxySettings}: that URL for every host, C{False} for no
proxy, or C{None} for the environment: C{HTTPS_PROXY} for C{https}/C{wss} targets and
C{HTTP_PROXY} for C{http}/C{ws} ones (lower-case names first, as in curl and Python's urllib),
minus the hosts C{NO_PROXY} names and loopback. L{_ProxySettings.choose} then says, for each
host, which proxy to tunnel through, if any.

Only configuration lives here, with no sockets and no Twisted, and the environment is a
mapping handed in, so the rules can be read and tested alone; L{txslackrtm._network} builds
the tunnels (L{txslackrtm._tunnel}) they call for.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit

#: Environment variables naming the proxy, by whether the target is C{https}/C{wss}; the
#: lower-case name wins when both are set, as in curl and Python's urllib.
_PROXY_VARIABLES = {True: ("https_proxy", "HTTPS_PROXY"), False: ("http_proxy", "HTTP_PROXY")}
_NO_PROXY_VARIABLES = ("no_proxy", "NO_PROXY")

#: Hosts a proxy from the environment is never used for: a proxy cannot reach our loopback.
_LOOPBACK = "localhost,127.0.0.0/8,::1"


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

"""Connection URLs: checked whole when settings are built, and masked for messages and logs.

The forms aiokv reads::

    redis://[[user]:password@]host[:port][/db][?param=value&...]
    rediss://...                     the same over TLS; it also takes the ssl_* parameters
    redis+sentinel://[[user]:password@]s1[:port],s2[:port],.../service[/db][?param=value&...]
    rediss+sentinel://...            the same over TLS (to the sentinels and the servers)
    redis+cluster://[[user]:password@]host1:port1,host2:port2[?param=value&...]
    rediss+cluster://...             a Redis Cluster over TLS
    unix://[[user]:password@]/path/to/redis.sock[?db=N&...]
    memory://

In a ``+sentinel`` URL the hosts are the sentinels (port 26379 unless given), the first path
segment is the name of the monitored master, and ``user:password`` log in to the master and
its replicas (the sentinels' own password is the ``sentinel_password`` setting). A cluster URL
names some of the cluster's nodes (the others are discovered) and no database: a cluster has
database 0 only.

The ``user:password`` part ends at the LAST ``@`` of the URL, so a password may hold any character
as it is (``/``, ``@``, ``:``, ``#``, ``?``); percent-escapes (``%2F``) are decoded once. A raw
``@`` anywhere else, such as in a query value, must be written ``%40``.

Error messages built here never quote the URL or a value from it: a mistyped URL can put a
password where a port or a path belongs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import parse_qsl, quote, unquote

__all__ = [
    "SCHEME_DRIVERS",
    "SENTINEL_PORT",
    "TLS_SCHEMES",
    "ConnectionURL",
    "mask_url",
    "parse_address",
    "parse_addresses",
    "parse_nodes",
    "parse_url",
]

SCHEME_DRIVERS = {
    "memory": "memory",
    "redis": "redis",
    "rediss": "redis",
    "unix": "redis",
    "redis+sentinel": "redis",
    "rediss+sentinel": "redis",
    "redis+cluster": "cluster",
    "rediss+cluster": "cluster",
}
"""The driver each URL scheme selects when ``driver`` is not set."""

TLS_SCHEMES = frozenset({"rediss", "rediss+sentinel", "rediss+cluster"})
"""The schemes that mean TLS."""

SENTINEL_PORT = 26379
"""The port of a sentinel given without one."""

_SCHEMES = (
    "redis://, rediss://, redis+sentinel://, rediss+sentinel://, redis+cluster://, "
    "rediss+cluster://, unix:// or memory://"
)
_SCHEME_NAME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]{0,15}")
_QUERY_SECRET = re.compile(r"([?&](?:ssl_)?password=)[^&#]*")
_FALSE = {"0", "f", "false", "n", "no", "off"}
_TRUE = {"1", "t", "true", "y", "yes", "on"}

# Parameters redis-py would read from a URL that are aiokv settings: one place for each.
_SETTINGS = {
    "socket_timeout": ("socket_timeout", "REDIS_SOCKET_TIMEOUT"),
    "socket_connect_timeout": ("connect_timeout", "REDIS_CONNECT_TIMEOUT"),
    "timeout": ("socket_timeout", "REDIS_SOCKET_TIMEOUT"),
    "max_connections": ("max_connections", "REDIS_MAX_CONNECTIONS"),
    "retry_on_timeout": ("retry_attempts", "REDIS_RETRY_ATTEMPTS"),
}
_TEXT_PARAMETERS = ("username", "password")
_TLS_PARAMETERS = (
    "ssl_cert_reqs",
    "ssl_check_hostname",
    "ssl_ca_certs",
    "ssl_ca_path",
    "ssl_certfile",
    "ssl_keyfile",
    "ssl_password",
    "ssl_ciphers",
)
_CERT_REQS = ("none", "optional", "required")


@dataclass(frozen=True)
class ConnectionURL:
    """A checked URL and what it says; ``url`` is the form redis-py reads the same way."""

    url: str
    scheme: str
    username: str | None = None
    password: str | None = None
    host: str = "localhost"
    port: int = 6379
    db: int = 0
    socket_path: str | None = None
    sentinels: tuple[str, ...] = ()
    """``host:port`` of each sentinel (``+sentinel`` schemes only)."""
    service: str | None = None
    """The name of the master the sentinels monitor (``+sentinel`` schemes only)."""
    nodes: tuple[tuple[str, int], ...] = ()
    """A cluster URL's nodes (the first is also ``host``/``port``)."""

    @property
    def tls(self) -> bool:
        return self.scheme in TLS_SCHEMES

    @property
    def driver(self) -> str:
        return SCHEME_DRIVERS[self.scheme]


def mask_url(url: str) -> str:
    """Return ``url`` with its passwords (``user:pw@``, ``?password=``) shown as ``***``.

    The ``user:pw`` part ends at the last ``@``, so a password with ``/``, ``@``, ``:``, ``#``
    or ``?`` in it is hidden whole.
    """
    scheme, sep, rest = url.partition("://")
    if sep:
        userinfo, at, tail = rest.rpartition("@")
        user, colon, _ = userinfo.partition(":")
        if at and colon:
            url = f"{scheme}://{user}:***@{tail}"
    return _QUERY_SECRET.sub(r"\1***", url)


def parse_url(url: str) -> ConnectionURL:
    """Check ``url`` whole and return what it says.

    Raises:
        ValueError: naming what is wrong (scheme, port, database, an unknown parameter) without
            quoting the URL.
    """
    scheme, sep, rest = url.partition("://")
    scheme = scheme.lower()
    if not sep or scheme not in SCHEME_DRIVERS:
        named = f" {scheme!r}" if sep and _SCHEME_NAME.fullmatch(scheme) else ""
        raise ValueError(f"unsupported URL scheme{named}: use {_SCHEMES}")
    if scheme == "memory":
        if rest:
            raise ValueError("memory:// takes no host, path or parameters: write memory://")
        return ConnectionURL(url="memory://", scheme=scheme)

    userinfo, at, tail = rest.rpartition("@")
    user, colon, secret = userinfo.partition(":")
    username = unquote(user) or None
    password = unquote(secret) or None
    url = f"{scheme}://{tail}"
    if at:  # re-encoded, so that redis-py reads a raw '/', '#' or '?' as part of the password
        encoded = quote(unquote(user), safe="")
        if colon:
            encoded += ":" + quote(unquote(secret), safe="")
        url = f"{scheme}://{encoded}@{tail}"
    if "#" in tail:
        raise ValueError(
            "the URL has a '#' fragment, which a connection cannot use: remove it "
            "(in a query value, write # as %23)"
        )
    location, _, query = tail.partition("?")
    address, slash, path = location.partition("/")
    params = _parameters(scheme, query)
    username = _once("username", username, params.get("username"))
    password = _once("password", password, params.get("password"))
    if scheme.endswith("+sentinel"):
        service, _, path = path.partition("/")
        db = _database(path, params.get("db"))
        if not service:
            raise ValueError(
                "a +sentinel URL names the monitored master after the sentinels: "
                "redis+sentinel://s1:26379,s2:26379/mymaster/0"
            )
        sentinels = parse_addresses(address, SENTINEL_PORT, "sentinel")
        return ConnectionURL(
            url=url,
            scheme=scheme,
            username=username,
            password=password,
            db=0 if db is None else db,
            sentinels=sentinels,
            service=unquote(service),
        )
    if scheme.endswith("+cluster"):
        if _database(path, params.get("db")):
            raise ValueError("a cluster has database 0 only: remove the database from the URL")
        nodes = parse_nodes(address)
        return ConnectionURL(
            url=url,
            scheme=scheme,
            username=username,
            password=password,
            host=nodes[0][0],
            port=nodes[0][1],
            nodes=nodes,
        )
    db = _database("" if scheme == "unix" else path, params.get("db"))

    if scheme == "unix":
        if address:
            raise ValueError(
                "a unix:// URL has no host: give the socket path after three slashes, "
                "unix:///path/to/redis.sock"
            )
        if not path:
            raise ValueError("a unix:// URL needs the socket path: unix:///path/to/redis.sock")
        return ConnectionURL(
            url=url,
            scheme=scheme,
            username=username,
            password=password,
            db=0 if db is None else db,
            socket_path=unquote(slash + path),
        )
    host, port = parse_address(address, 6379)
    return ConnectionURL(
        url=url,
        scheme=scheme,
        username=username,
        password=password,
        host=host,
        port=port,
        db=0 if db is None else db,
    )


def _parameters(scheme: str, query: str) -> dict[str, str]:
    params: dict[str, str] = {}
    for name, value in parse_qsl(query, keep_blank_values=True):
        if name in params:
            raise ValueError(f"the URL gives {name!r} twice: give each parameter once")
        if name in _SETTINGS:
            field, variable = _SETTINGS[name]
            raise ValueError(
                f"{name!r} in the URL: aiokv takes it as a setting, not a URL parameter "
                f"(pass {field}= or set {variable})"
            )
        if name in _TLS_PARAMETERS:
            if scheme not in TLS_SCHEMES:
                raise ValueError(
                    f"{name!r} applies to TLS only: use a rediss:// (or rediss+sentinel://) URL"
                )
            _check_tls(name, value)
        elif name != "db" and name not in _TEXT_PARAMETERS:
            known = ", ".join(("db", *_TEXT_PARAMETERS))
            raise ValueError(
                f"unknown URL parameter {name!r}: aiokv reads {known}, and with rediss:// "
                f"{', '.join(_TLS_PARAMETERS)}"
            )
        params[name] = value
    return params


def _check_tls(name: str, value: str) -> None:
    if name == "ssl_cert_reqs" and value.lower() not in _CERT_REQS:
        raise ValueError(f"'ssl_cert_reqs' in the URL must be one of {', '.join(_CERT_REQS)}")
    if name == "ssl_check_hostname" and value.lower() not in _TRUE | _FALSE:
        raise ValueError("'ssl_check_hostname' in the URL must be true or false")
    if name not in {"ssl_cert_reqs", "ssl_check_hostname", "ssl_password"} and not value:
        raise ValueError(f"{name!r} in the URL is empty")


def _once(name: str, in_userinfo: str | None, in_query: str | None) -> str | None:
    if in_userinfo is not None and in_query is not None:
        raise ValueError(f"the URL gives the {name} twice, before the '@' and as ?{name}=")
    return in_userinfo if in_query is None else (in_query or None)


def _database(path: str, in_query: str | None) -> int | None:
    db = None
    if in_query is not None:
        if not (in_query.isascii() and in_query.isdigit()):
            raise ValueError("'db' in the URL must be a database number: 0, 1, ...")
        db = int(in_query)
    if path:
        if not (path.isascii() and path.isdigit()):
            raise ValueError("the path of a redis:// URL is the database number: /0, /1, ...")
        if db is not None and db != int(path):
            raise ValueError("the URL's path and its 'db' parameter name different databases")
        db = int(path)
    return db


def parse_addresses(text: str, default_port: int, what: str) -> tuple[str, ...]:
    """Check a comma-separated list of ``host[:port]`` and return it as ``host:port`` strings.

    IPv6 hosts are written in brackets (``[::1]:26379``) and stay so; duplicates are dropped.

    Raises:
        ValueError: for an empty list or entry, or a bad port, naming ``what`` the hosts are.
    """
    found: dict[str, None] = {}
    for entry in text.split(","):
        entry = entry.strip()
        if not entry:
            raise ValueError(f"the {what} list has an empty entry: write host:port,host:port")
        host, port = parse_address(entry, default_port, f"a {what} address")
        found[f"[{host}]:{port}" if ":" in host else f"{host}:{port}"] = None
    return tuple(found)


def parse_nodes(text: str) -> tuple[tuple[str, int], ...]:
    """Cluster nodes written ``host1:port1,host2:port2`` (IPv6 hosts in brackets).

    Raises:
        ValueError: for an empty list or a bad port, without quoting the text.
    """
    parts = [part.strip() for part in text.split(",")]
    if not any(parts) or not all(parts):
        raise ValueError("cluster nodes are written host1:port1,host2:port2, none empty")
    return tuple(parse_address(part, 6379, "a cluster node address") for part in parts)


def parse_address(address: str, default_port: int, where: str = "the URL") -> tuple[str, int]:
    """Split ``host[:port]`` (``[v6]:port`` for IPv6); an empty host is ``localhost``.

    Raises:
        ValueError: for a bad port or an unclosed IPv6 bracket.
    """
    if address.startswith("["):  # an IPv6 literal: [::1]:6379
        host, bracket, rest = address[1:].partition("]")
        if not bracket or (rest and not rest.startswith(":")):
            raise ValueError("an IPv6 host in a URL is written in brackets: redis://[::1]:6379/0")
        port_text = rest[1:] if rest else None
    else:
        host, colon, port_text_or_empty = address.partition(":")
        port_text = port_text_or_empty if colon else None
    if port_text is None:
        port = default_port
    elif port_text.isascii() and port_text.isdigit() and 1 <= int(port_text) <= 65535:
        port = int(port_text)
    else:
        raise ValueError(f"the port in {where} must be a number from 1 to 65535")
    return unquote(host) or "localhost", port

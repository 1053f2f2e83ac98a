"""The TLS settings as redis-py connection options, for every topology."""

from __future__ import annotations

from typing import Any

from redis.asyncio.connection import SSLConnection

from .._settings import KVSettings

__all__ = ["tls_options"]


def tls_options(settings: KVSettings) -> dict[str, Any]:
    """redis-py connection options for ``settings``' TLS fields; empty when TLS is off.

    ``connection_class`` is the plain :class:`SSLConnection`; a topology with its own connection
    class (Sentinel) takes the other options and picks its TLS class itself.
    """
    if not settings.tls:
        return {}

    def path(value: object) -> str | None:
        return None if value is None else str(value)

    return {
        "connection_class": SSLConnection,
        "ssl_ca_certs": path(settings.tls_ca_certs),
        "ssl_certfile": path(settings.tls_certfile),
        "ssl_keyfile": path(settings.tls_keyfile),
        "ssl_cert_reqs": settings.tls_cert_reqs,
        "ssl_check_hostname": settings.tls_check_hostname,
    }

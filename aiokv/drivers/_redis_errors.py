"""redis-py errors translated into the aiokv tree, for the redis driver's edge."""

from __future__ import annotations

import ssl

from redis import exceptions as rexc

from .._exceptions import (
    CommandError,
    IntegerOverflowError,
    InvalidArgumentError,
    KVConnectionError,
    KVError,
    KVTimeoutError,
    NoSuchKeyError,
    NotAnIntegerError,
    OutOfMemoryError,
    PermissionDeniedError,
    TLSError,
    WrongTypeError,
)
from .._settings import KVSettings

__all__ = ["REDIRECTS", "is_tls_error", "pool_timeout_error", "redirect_of", "translate_error"]

# Reply prefixes, most specific first; the message is kept as the server wrote it.
_REPLY_ERRORS: tuple[tuple[str, type[CommandError]], ...] = (
    ("WRONGTYPE", WrongTypeError),
    ("ERR increment or decrement would overflow", IntegerOverflowError),
    ("ERR decrement would overflow", IntegerOverflowError),
    ("ERR value is not an integer", NotAnIntegerError),
    ("ERR hash value is not an integer", NotAnIntegerError),
    ("OOM", OutOfMemoryError),
    ("NOPERM", PermissionDeniedError),
    ("ERR invalid expire time", InvalidArgumentError),
    ("ERR value is out of range", InvalidArgumentError),
    ("ERR syntax error", InvalidArgumentError),
    ("ERR wrong number of arguments", InvalidArgumentError),
    ("ERR no such key", NoSuchKeyError),
    ("ERR value is not a valid float", InvalidArgumentError),
    ("ERR min or max is not a float", InvalidArgumentError),
    ("ERR min or max not valid string range item", InvalidArgumentError),
    ("ERR weight value is not a float", InvalidArgumentError),
    ("ERR at least 1 input key is needed", InvalidArgumentError),
    ("ERR XX and NX options at the same time", InvalidArgumentError),
    ("ERR GT, LT, and/or NX options", InvalidArgumentError),
)


def _reply_text(exc: rexc.ResponseError) -> str:
    """The error reply as the server wrote it, code first (``ERR ...``, ``WRONGTYPE ...``).

    redis-py strips the codes it knows (ERR, OOM, NOPERM, ...) from the message; redis-py >= 6
    keeps the code in ``status_code``, redis-py 5 drops it.
    """
    text = str(exc)
    code = getattr(exc, "status_code", None)
    if code:
        return f"{code} {text}"
    if isinstance(exc, rexc.OutOfMemoryError):
        return f"OOM {text}"
    if isinstance(exc, rexc.NoPermissionError):
        return f"NOPERM {text}"
    word = text.partition(" ")[0]
    if type(exc) is rexc.ResponseError and not (word.isupper() and word.isalpha()):
        return f"ERR {text}"  # redis-py 5 stripped it: codes are upper-case words, texts are not
    return text


def is_tls_error(exc: BaseException) -> bool:
    """True if ``exc`` (or what it was raised from) is a TLS handshake or certificate failure."""
    seen: BaseException | None = exc
    for _ in range(5):
        if seen is None:
            return False
        if isinstance(seen, ssl.SSLError):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def translate_error(
    exc: rexc.RedisError, settings: KVSettings, attempts: int | None = None
) -> KVError:
    """Map a redis-py error to the aiokv error for the same condition.

    ``attempts`` is how many times a connection was tried, for the message.
    """
    where = settings.masked_url
    if isinstance(exc, (rexc.AuthenticationError, rexc.AuthenticationWrongNumberOfArgsError)):
        # Before ResponseError: a wrong-arity AUTH (a username sent to a server without ACLs)
        # is a ResponseError in redis-py, but to the user it is a failed login.
        return KVConnectionError(
            f"authentication to {where} failed ({exc}): check REDIS_USERNAME / REDIS_PASSWORD"
        )
    if isinstance(exc, rexc.ResponseError):
        message = _reply_text(exc)
        if isinstance(exc, rexc.OutOfMemoryError):
            return OutOfMemoryError(message)
        for prefix, error_class in _REPLY_ERRORS:
            if message.startswith(prefix):
                return error_class(message)
        return CommandError(message)
    if isinstance(exc, rexc.TimeoutError):
        if str(exc).startswith("Timeout connecting"):
            return KVTimeoutError(
                f"{where} did not accept a connection within connect_timeout="
                f"{settings.connect_timeout}s; check the address or raise REDIS_CONNECT_TIMEOUT"
            )
        return KVTimeoutError(
            f"{where} did not answer within socket_timeout={settings.socket_timeout}s ({exc}); "
            "the command may or may not have run; raise REDIS_SOCKET_TIMEOUT for slow commands"
        )
    if isinstance(exc, rexc.ConnectionError):
        if is_tls_error(exc):
            return TLSError(
                f"TLS with {where} failed ({exc}); not retried: check the server's certificate, "
                "REDIS_TLS_CA_CERTS (the CA trusted), the host name the certificate names, and "
                "REDIS_TLS_CERTFILE / REDIS_TLS_KEYFILE if the server asks for a client certificate"
            )
        tried = "" if attempts is None else f" after {attempts} attempt{'s' * (attempts != 1)}"
        return KVConnectionError(
            f"cannot reach {where}{tried} (REDIS_RETRY_ATTEMPTS={settings.retry_attempts}): {exc}"
        )
    if isinstance(exc, rexc.DataError):
        return InvalidArgumentError(f"cannot send this argument: {exc}")
    return KVError(f"{where}: {exc}")


def pool_timeout_error(settings: KVSettings) -> KVTimeoutError:
    return KVTimeoutError(
        f"no connection to {settings.masked_url} became free within pool_timeout="
        f"{settings.pool_timeout}s (all max_connections={settings.max_connections} busy); "
        "raise REDIS_MAX_CONNECTIONS or REDIS_POOL_TIMEOUT"
    )


_REDIRECT_CODES: dict[str, type[rexc.RedisError]] = {
    "MOVED": rexc.MovedError,
    "ASK": rexc.AskError,
    "TRYAGAIN": rexc.TryAgainError,
    "CLUSTERDOWN": rexc.ClusterDownError,
}


REDIRECTS = (rexc.MovedError, rexc.AskError, rexc.TryAgainError, rexc.ClusterDownError)
"""A cluster's refusals that ran nothing: the command may be sent again (elsewhere, or later)."""


def redirect_of(reply: object) -> object:
    """A cluster redirection that redis-py < 5.1 left as a plain ResponseError, as its class."""
    if type(reply) is rexc.ResponseError:
        code, _, rest = str(reply).partition(" ")
        kind = _REDIRECT_CODES.get(code)
        if kind is not None:
            return kind(rest)
    return reply

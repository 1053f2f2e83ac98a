"""Rate limiting at the edge: one hit per request, turned into a status and headers.

Allowed requests get ``RateLimit-Limit``, ``RateLimit-Remaining`` and ``RateLimit-Reset``
(delta seconds, as the IETF ``RateLimit`` header fields draft has them); denied ones are 429 with
those and ``Retry-After``.

When the store cannot answer (:class:`~aiokv.KVConnectionError`, including
:class:`~aiokv.OutcomeUnknownError` for a hit whose reply was lost, and
:class:`~aiokv.KVTimeoutError`), the hit is never re-sent, since that could count it twice.
``on_error`` decides: ``"allow"`` (fail open, the default) lets the request through without
rate-limit headers and logs a warning, so an outage of the store is not an outage of the site;
``"deny"`` (fail closed) answers 503 with ``Retry-After: 1``, for endpoints where a burst that
escapes the limit costs more than a failed request.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import Literal, TypeAlias

from .._exceptions import KVConnectionError, KVTimeoutError
from ..patterns.ratelimit import (
    MultiRateLimiter,
    MultiRateLimitResult,
    RateLimiter,
    RateLimitResult,
)

__all__ = ["EdgeDecision", "OnError", "decide"]

_logger = logging.getLogger("aiokv")

OnError: TypeAlias = Literal["allow", "deny"]
"""What to do when the store cannot answer: fail open (``"allow"``) or closed (``"deny"``)."""


@dataclass(frozen=True)
class EdgeDecision:
    """What to answer a request: ``status`` 200 (go on), 429 or 503, and headers to send.

    Attributes:
        status: 200 when the request may proceed, 429 when it is over the limit, 503 when the
            store could not answer and ``on_error="deny"``.
        headers: The rate-limit headers (and ``Retry-After`` for 429 and 503).
        result: The limiter's result; None when the store could not answer.
    """

    status: int
    headers: dict[str, str] = field(default_factory=dict)
    result: RateLimitResult | None = None


def headers_for(result: RateLimitResult, quota: int) -> dict[str, str]:
    """The ``RateLimit-*`` headers (and ``Retry-After`` when denied) for a result."""
    reset = math.ceil(result.reset_after)
    headers = {
        "RateLimit-Limit": str(quota),
        "RateLimit-Remaining": str(result.remaining),
        "RateLimit-Reset": str(reset),
    }
    if not result.allowed:
        headers["Retry-After"] = str(max(1, reset))
    return headers


async def decide(
    limiter: RateLimiter | MultiRateLimiter, key: str, cost: int = 1, on_error: OnError = "allow"
) -> EdgeDecision:
    """Record one hit of ``cost`` for ``key`` and say what to answer.

    Returns:
        The decision; see :class:`EdgeDecision`.

    Raises:
        WrongTypeError: if the limiter's key holds a value of another kind.
    """
    try:
        result = await limiter.hit(key, cost)
    except (KVConnectionError, KVTimeoutError) as exc:
        counted = "may have been" if getattr(exc, "outcome_unknown", False) else "was not"
        if on_error == "deny":
            _logger.warning(
                "aiokv: rate limit for %r not checked (%s; the hit %s counted): answering 503",
                key,
                exc,
                counted,
            )
            return EdgeDecision(503, {"Retry-After": "1"})
        _logger.warning(
            "aiokv: rate limit for %r not checked (%s; the hit %s counted): letting it through",
            key,
            exc,
            counted,
        )
        return EdgeDecision(200)
    if isinstance(result, MultiRateLimitResult):
        quota = result.quota
    else:
        assert isinstance(limiter, RateLimiter)
        quota = limiter.quota
    return EdgeDecision(200 if result.allowed else 429, headers_for(result, quota), result)

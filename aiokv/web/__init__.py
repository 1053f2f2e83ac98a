"""The framework-neutral half of aiokv's web edge: response caching and rate-limit decisions.

:mod:`aiokv.fastapi` and :mod:`aiokv.aiohttp` wrap these for their frameworks; nothing here
imports a web framework.
"""

from .cache import HTTPCache, etag_for, etag_matches, request_directives
from .ratelimit import EdgeDecision, OnError, decide

__all__ = [
    "EdgeDecision",
    "HTTPCache",
    "OnError",
    "decide",
    "etag_for",
    "etag_matches",
    "request_directives",
]

"""Patterns built on the client: typed JSON values, cache-aside, sessions, rate limiting, locks.

The public names are exported from :mod:`aiokv`. This package imports nothing itself, so that
``aiokv._client`` can import its modules without an import cycle.
"""

"""KVSettings: one settings object for both drivers, from arguments, the environment and `.env`.

Every field has a Python name (used as an ``AsyncClient(...)`` keyword) and one environment
variable. Only the listed variable names are read: a stray ``HOST`` or ``PORT`` in the environment
never leaks into the client.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any, Literal

from pydantic import (
    Field,
    SecretStr,
    SerializationInfo,
    field_serializer,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    DotEnvSettingsSource,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from ._url import SCHEME_DRIVERS, mask_url, parse_url

__all__ = ["MAX_TTL_SECONDS", "MIN_TTL_SECONDS", "EvictionPolicy", "KVSettings", "mask_url"]

EvictionPolicy = Literal[
    "noeviction",
    "allkeys-lru",
    "volatile-lru",
    "allkeys-lfu",
    "volatile-lfu",
    "allkeys-random",
    "volatile-random",
    "volatile-ttl",
]

MIN_TTL_SECONDS = 0.001
"""The shortest ``default_ttl``: 1 ms, the smallest expiry SET ... PX can hold."""

MAX_TTL_SECONDS = 9e15
"""The longest ``default_ttl``: 9e15 s (about 285 million years). Redis refuses a PX once now + PX
no longer fits a signed 64-bit count of milliseconds (9.22e18); 9e18 ms stays below that for
millions of years of wall-clock time."""

# The fields a URL spells; one of them set by a higher source sets aside a lower source's URL.
_ADDRESS_VARIABLES = frozenset(
    {"REDIS_HOST", "REDIS_PORT", "REDIS_DB", "REDIS_USERNAME", "REDIS_PASSWORD"}
)
_ADDRESS_FIELDS = frozenset({"host", "port", "db", "username", "password"})


class KVSettings(BaseSettings):
    """Configuration shared by both drivers.

    Values come, in order of precedence, from keyword arguments (by field name), environment
    variables (the names in the README's configuration table), then a ``.env`` file in the current
    directory. A ``url`` stands for the whole address (host, port, db, username, password): it
    beats those fields from its own source and the sources below it, and is set aside when a
    source above it gives any of them (its scheme still picks the driver if nothing else does).

    Every value is checked here, the URL whole (see ``aiokv._url``), so a setting that cannot be
    honoured fails at construction with ``pydantic.ValidationError`` (a ``ValueError``) naming
    the environment variable; the error never shows the input. ``password`` is a ``SecretStr``
    and ``url`` dumps like one: ``SecretStr`` in ``model_dump()``, masked in ``model_dump_json()``.
    """

    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        populate_by_name=True,
        extra="forbid",
        frozen=True,
        hide_input_in_errors=True,
        allow_inf_nan=False,
    )

    driver: Literal["memory", "redis"] = Field(
        "memory",
        validation_alias="KV_DRIVER",
        description="`memory` (in-process, the default) or `redis`.",
    )
    url: str | None = Field(
        None,
        validation_alias="REDIS_URL",
        repr=False,
        description="redis://, rediss://, unix:// or memory:// URL; stands for host/port/db/auth.",
    )
    host: str = Field("localhost", validation_alias="REDIS_HOST")
    port: int = Field(6379, ge=1, le=65535, validation_alias="REDIS_PORT")
    db: int = Field(0, ge=0, validation_alias="REDIS_DB")
    username: str | None = Field(None, validation_alias="REDIS_USERNAME")
    password: SecretStr | None = Field(None, validation_alias="REDIS_PASSWORD")
    key_prefix: str = Field(
        "",
        validation_alias="KV_KEY_PREFIX",
        description="Prepended to every key on both drivers and stripped from keys()/scan_iter().",
    )
    default_ttl: float | None = Field(
        None,
        ge=MIN_TTL_SECONDS,
        le=MAX_TTL_SECONDS,
        validation_alias="KV_DEFAULT_TTL",
        description="Seconds applied by set() when no ttl argument is passed; None = no expiry.",
    )
    socket_timeout: float | None = Field(5.0, gt=0, validation_alias="REDIS_SOCKET_TIMEOUT")
    connect_timeout: float | None = Field(5.0, gt=0, validation_alias="REDIS_CONNECT_TIMEOUT")
    max_connections: int = Field(64, ge=1, validation_alias="REDIS_MAX_CONNECTIONS")
    pool_timeout: float = Field(
        10.0,
        gt=0,
        validation_alias="REDIS_POOL_TIMEOUT",
        description="Seconds a command may wait for a free pooled connection.",
    )
    auto_pipeline: bool = Field(
        True,
        validation_alias="REDIS_AUTO_PIPELINE",
        description="Write the commands of concurrent tasks together on shared connections.",
    )
    multiplexed_connections: int = Field(
        1,
        ge=1,
        le=64,
        validation_alias="REDIS_MULTIPLEXED_CONNECTIONS",
        description="Connections shared by auto-pipelined commands (on top of the pool).",
    )
    retry_attempts: int = Field(3, ge=0, validation_alias="REDIS_RETRY_ATTEMPTS")
    retry_backoff_base: float = Field(0.05, gt=0, validation_alias="REDIS_RETRY_BACKOFF_BASE")
    retry_backoff_cap: float = Field(1.0, gt=0, validation_alias="REDIS_RETRY_BACKOFF_CAP")
    memory_max_keys: int | None = Field(None, ge=1, validation_alias="KV_MEMORY_MAX_KEYS")
    memory_eviction_policy: EvictionPolicy = Field(
        "noeviction", validation_alias="KV_MEMORY_EVICTION_POLICY"
    )
    memory_reaper_interval: float = Field(0.1, gt=0, validation_alias="KV_MEMORY_REAPER_INTERVAL")

    @field_validator("default_ttl", mode="before")
    @classmethod
    def _timedelta_seconds(cls, value: Any) -> Any:
        return value.total_seconds() if isinstance(value, timedelta) else value

    @field_validator("url", mode="before")
    @classmethod
    def _unwrap_secret(cls, value: Any) -> Any:
        # model_dump() gives the URL as a SecretStr, so a dump can be fed back in.
        return value.get_secret_value() if isinstance(value, SecretStr) else value

    @field_validator("url")
    @classmethod
    def _checked_url(cls, value: str | None) -> str | None:
        return None if value is None else parse_url(value).url

    @model_validator(mode="after")
    def _fields_from_url(self) -> KVSettings:
        # The fields show what the URL says; a URL picks its driver unless one was given.
        if self.url is None:
            return self
        parts = parse_url(self.url)
        found: dict[str, Any] = {}
        if "driver" not in self.model_fields_set:
            found["driver"] = parts.driver
        if parts.scheme != "memory":
            secret = None if parts.password is None else SecretStr(parts.password)
            found.update(db=parts.db, username=parts.username, password=secret)
        if parts.socket_path is None and parts.scheme != "memory":
            found.update(host=parts.host, port=parts.port)
        for name, value in found.items():
            object.__setattr__(self, name, value)
        return self

    @field_serializer("url")
    def _url_as_secret(self, value: str | None, info: SerializationInfo) -> str | SecretStr | None:
        if value is None:
            return None
        return mask_url(value) if info.mode_is_json() else SecretStr(value)

    @property
    def masked_url(self) -> str:
        """The connection address with the password hidden, for messages and logs."""
        if self.driver == "memory":
            return "memory://"
        if self.url is not None:
            return mask_url(self.url)
        auth = f"{self.username or ''}:***@" if self.password is not None else ""
        return f"redis://{auth}{self.host}:{self.port}/{self.db}"

    @property
    def store_description(self) -> str:
        """Which driver and store these settings use, for a startup log line (no password)."""
        if self.driver == "memory":
            return (
                "the memory driver: an in-process store, one per process (each worker process "
                "has its own data, and it is gone when the process exits)"
            )
        return f"the redis driver on {self.masked_url}"

    def with_overrides(self, **overrides: Any) -> KVSettings:
        """Return these settings with ``overrides`` (field names) applied on top.

        The overrides are the highest source: one of host, port, db, username or password
        among them sets aside this object's ``url`` (unless ``url`` is overridden too).

        Raises:
            pydantic.ValidationError: for an invalid override.
        """
        kept = self.model_dump(include=self.model_fields_set)
        if "url" not in overrides and _ADDRESS_FIELDS & overrides.keys():
            url = kept.pop("url", None)
            if url is not None and "driver" not in kept:
                kept["driver"] = self.driver
        return type(self)(**{**kept, **overrides})

    def __repr_args__(self) -> Any:
        yield from super().__repr_args__()
        if self.url is not None:
            yield "url", mask_url(self.url)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, _EnvByAlias(settings_cls), _DotEnvByAlias(settings_cls))


def _alias_names(settings_cls: type[BaseSettings]) -> set[str]:
    return {
        str(f.validation_alias).lower()
        for f in settings_cls.model_fields.values()
        if f.validation_alias is not None
    }


def _defer_url(values: dict[str, Any], above: Mapping[str, Any]) -> dict[str, Any]:
    """Set this source's URL aside if a source above it gave part of the address.

    Keyword arguments beat environment variables, which beat ``.env``: a ``REDIS_URL`` from the
    environment must not override ``AsyncClient(host=..., port=...)``. The URL's scheme still
    picks the driver, at this source's precedence.
    """
    url_key = next((key for key in values if key.upper() == "REDIS_URL"), None)
    given_above = {key.upper() for key in above}
    if url_key is None or not _ADDRESS_VARIABLES & given_above or "REDIS_URL" in given_above:
        return values
    values = dict(values)
    url = values.pop(url_key)
    driver = SCHEME_DRIVERS.get(str(url).partition("://")[0].lower())
    if driver is not None and not any(key.upper() == "KV_DRIVER" for key in values):
        values["KV_DRIVER"] = driver
    return values


class _EnvByAlias(EnvSettingsSource):
    """Reads only the documented variable names (not bare field names like ``HOST``)."""

    def __init__(self, settings_cls: type[BaseSettings]) -> None:
        super().__init__(settings_cls)
        self.config = {**self.config, "populate_by_name": False, "validate_by_name": False}

    def __call__(self) -> dict[str, Any]:
        return _defer_url(super().__call__(), self.current_state)


class _DotEnvByAlias(DotEnvSettingsSource):
    """Reads only the documented names from `.env`; an app's other variables are ignored."""

    def __init__(self, settings_cls: type[BaseSettings]) -> None:
        super().__init__(settings_cls)
        self.config = {**self.config, "populate_by_name": False, "validate_by_name": False}
        self._known = _alias_names(settings_cls)

    def __call__(self) -> dict[str, Any]:
        known = {k: v for k, v in super().__call__().items() if k.lower() in self._known}
        return _defer_url(known, self.current_state)

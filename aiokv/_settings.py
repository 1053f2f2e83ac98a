"""KVSettings: one settings object for both drivers, from arguments, the environment and `.env`.

Every field has a Python name (used as an ``AsyncClient(...)`` keyword) and one environment
variable. Only the listed variable names are read: a stray ``HOST`` or ``PORT`` in the environment
never leaks into the client.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    DotEnvSettingsSource,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

__all__ = ["EvictionPolicy", "KVSettings", "mask_url"]

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

_QUERY_PASSWORD = re.compile(r"([?&]password=)[^&#]*")
_SCHEME_DRIVERS = {"memory": "memory", "redis": "redis", "rediss": "redis", "unix": "redis"}


def mask_url(url: str) -> str:
    """Return ``url`` with any password (``user:pw@`` or ``?password=``) shown as ``***``."""
    # Edited as text: rebuilding the URL from its parts would turn unix:/// into unix:/.
    netloc = urlsplit(url).netloc
    if "@" in netloc:
        userinfo, _, host = netloc.rpartition("@")
        if ":" in userinfo:
            user = userinfo.partition(":")[0]
            url = url.replace(netloc, f"{user}:***@{host}", 1)
    return _QUERY_PASSWORD.sub(r"\1***", url)


class KVSettings(BaseSettings):
    """Configuration shared by both drivers.

    Values come, in order of precedence, from keyword arguments (by field name), environment
    variables (the names in the README's configuration table), then a ``.env`` file in the current
    directory. Invalid values raise ``pydantic.ValidationError`` (a ``ValueError``) naming the
    environment variable.
    """

    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        populate_by_name=True,
        extra="forbid",
        frozen=True,
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
        description="redis://, rediss://, unix:// or memory:// URL; overrides host/port/db/auth.",
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
        gt=0,
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

    @field_validator("url")
    @classmethod
    def _known_scheme(cls, value: str | None) -> str | None:
        if value is not None and urlsplit(value).scheme not in _SCHEME_DRIVERS:
            raise ValueError(
                f"unsupported URL scheme in {mask_url(value)!r}: use redis://, rediss://, "
                "unix:// or memory://"
            )
        return value

    @model_validator(mode="after")
    def _driver_from_url(self) -> KVSettings:
        # A URL picks its driver unless the driver was given explicitly.
        if self.url is not None and "driver" not in self.model_fields_set:
            object.__setattr__(self, "driver", _SCHEME_DRIVERS[urlsplit(self.url).scheme])
        return self

    @property
    def masked_url(self) -> str:
        """The connection address with the password hidden, for messages and logs."""
        if self.driver == "memory":
            return "memory://"
        if self.url is not None:
            return mask_url(self.url)
        auth = f"{self.username or ''}:***@" if self.password is not None else ""
        return f"redis://{auth}{self.host}:{self.port}/{self.db}"

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


class _EnvByAlias(EnvSettingsSource):
    """Reads only the documented variable names (not bare field names like ``HOST``)."""

    def __init__(self, settings_cls: type[BaseSettings]) -> None:
        super().__init__(settings_cls)
        self.config = {**self.config, "populate_by_name": False, "validate_by_name": False}


class _DotEnvByAlias(DotEnvSettingsSource):
    """Reads only the documented names from `.env`; an app's other variables are ignored."""

    def __init__(self, settings_cls: type[BaseSettings]) -> None:
        super().__init__(settings_cls)
        self.config = {**self.config, "populate_by_name": False, "validate_by_name": False}
        self._known = _alias_names(settings_cls)

    def __call__(self) -> dict[str, Any]:
        return {k: v for k, v in super().__call__().items() if k.lower() in self._known}

"""KVSettings: one settings object for both drivers, from arguments, the environment and `.env`.

Every field has a Python name (used as an ``AsyncClient(...)`` keyword) and one environment
variable. Only the listed variable names are read: a stray ``HOST`` or ``PORT`` in the environment
never leaks into the client.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import parse_qsl

from pydantic import (
    Field,
    FilePath,
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
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from ._url import (
    SCHEME_DRIVERS,
    SENTINEL_PORT,
    ConnectionURL,
    mask_url,
    parse_addresses,
    parse_nodes,
    parse_url,
)

__all__ = [
    "MAX_TTL_SECONDS",
    "MIN_TTL_SECONDS",
    "CertReqs",
    "EvictionPolicy",
    "KVSettings",
    "mask_url",
]

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

CertReqs = Literal["none", "optional", "required"]

MIN_TTL_SECONDS = 0.001
"""The shortest ``default_ttl``: 1 ms, the smallest expiry SET ... PX can hold."""

MAX_TTL_SECONDS = 9e15
"""The longest ``default_ttl``: 9e15 s (about 285 million years). Redis refuses a PX once now + PX
no longer fits a signed 64-bit count of milliseconds (9.22e18); 9e18 ms stays below that for
millions of years of wall-clock time."""

# The fields a URL spells; one of them set by a higher source sets aside a lower source's URL.
_ADDRESS_VARIABLES = frozenset(
    {
        "REDIS_HOST",
        "REDIS_PORT",
        "REDIS_DB",
        "REDIS_USERNAME",
        "REDIS_PASSWORD",
        "REDIS_SENTINELS",
        "REDIS_SENTINEL_MASTER",
    }
)
_ADDRESS_FIELDS = frozenset(
    {"host", "port", "db", "username", "password", "sentinels", "sentinel_master"}
)

# URL parameter -> (field, variable) for the TLS settings a rediss:// URL may also spell.
_TLS_URL_PARAMETERS = {
    "ssl_ca_certs": ("tls_ca_certs", "REDIS_TLS_CA_CERTS"),
    "ssl_certfile": ("tls_certfile", "REDIS_TLS_CERTFILE"),
    "ssl_keyfile": ("tls_keyfile", "REDIS_TLS_KEYFILE"),
    "ssl_cert_reqs": ("tls_cert_reqs", "REDIS_TLS_CERT_REQS"),
    "ssl_check_hostname": ("tls_check_hostname", "REDIS_TLS_CHECK_HOSTNAME"),
}
_TLS_OPTIONS = dict(_TLS_URL_PARAMETERS.values())


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

    driver: Literal["memory", "redis", "cluster"] = Field(
        "memory",
        validation_alias="KV_DRIVER",
        description="`memory` (in-process, the default), `redis` or `cluster` (Redis Cluster).",
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

    # -- the near cache (redis and cluster drivers; see aiokv.drivers._near_cache) --
    near_cache_max_keys: int | None = Field(
        None,
        ge=1,
        validation_alias="KV_NEAR_CACHE_MAX_KEYS",
        description="Keep up to this many keys' reads in process, dropped when the server says "
        "they changed (CLIENT TRACKING); None = no near cache.",
    )
    near_cache_ttl: float | None = Field(
        None,
        gt=0,
        validation_alias="KV_NEAR_CACHE_TTL",
        description="Seconds a near-cached read may be served at most; None = until the server "
        "invalidates it or its TTL ends.",
    )
    near_cache_prefixes: Annotated[tuple[str, ...] | None, NoDecode] = Field(
        None,
        validation_alias="KV_NEAR_CACHE_PREFIXES",
        description="Near-cache only keys under these prefixes (comma-separated in the "
        "variable; after key_prefix), tracked by broadcast; None = every key read.",
    )
    otel: bool = Field(
        False,
        validation_alias="KV_OTEL",
        description="Trace and measure commands with OpenTelemetry (needs the `otel` extra).",
    )
    otel_record_keys: bool = Field(
        False,
        validation_alias="KV_OTEL_RECORD_KEYS",
        description="Put keys and error messages on OpenTelemetry spans.",
    )

    # -- Redis Cluster (the cluster driver; see aiokv/drivers/cluster.py) --
    cluster_nodes: Annotated[list[str] | None, NoDecode] = Field(
        None,
        validation_alias="REDIS_CLUSTER_NODES",
        description="`host:port` of some cluster nodes (comma-separated in the variable); "
        "the others are discovered. Selects the cluster driver unless `driver` is given.",
    )
    memory_cluster_slots: bool = Field(
        False,
        validation_alias="KV_MEMORY_CLUSTER_SLOTS",
        description="The memory driver refuses atomic operations on keys of several cluster "
        "slots with CrossSlotError, as a cluster does.",
    )

    # -- Sentinel (see aiokv.drivers._redis_sentinel) --
    sentinels: Annotated[tuple[str, ...] | None, NoDecode] = Field(
        None,
        validation_alias="REDIS_SENTINELS",
        description="Sentinels as host:port,host:port (port 26379 if omitted); None = no Sentinel.",
    )
    sentinel_master: str | None = Field(
        None,
        min_length=1,
        validation_alias="REDIS_SENTINEL_MASTER",
        description="The name of the master the sentinels monitor (`sentinel monitor <name>`).",
    )
    sentinel_password: SecretStr | None = Field(
        None,
        validation_alias="REDIS_SENTINEL_PASSWORD",
        description="The sentinels' own password (their requirepass), if they have one.",
    )
    read_from_replicas: bool = Field(
        False,
        validation_alias="REDIS_READ_FROM_REPLICAS",
        description="Send reads to a replica the sentinels report (the master if none can be "
        "reached); a read may then not yet see a write just made.",
    )

    # -- TLS, for every topology --
    tls: bool = Field(
        False,
        validation_alias="REDIS_TLS",
        description="Connect over TLS (a rediss:// URL sets it).",
    )
    tls_ca_certs: FilePath | None = Field(
        None,
        validation_alias="REDIS_TLS_CA_CERTS",
        description="PEM file of the CAs to trust; None = the system's trust store.",
    )
    tls_certfile: FilePath | None = Field(
        None,
        validation_alias="REDIS_TLS_CERTFILE",
        description="PEM client certificate (mutual TLS); may also hold the key.",
    )
    tls_keyfile: FilePath | None = Field(
        None,
        validation_alias="REDIS_TLS_KEYFILE",
        description="PEM private key of the client certificate, if not in tls_certfile.",
    )
    tls_cert_reqs: CertReqs = Field(
        "required",
        validation_alias="REDIS_TLS_CERT_REQS",
        description="Check the server's certificate: required, optional or none (unsafe).",
    )
    tls_check_hostname: bool = Field(
        True,
        validation_alias="REDIS_TLS_CHECK_HOSTNAME",
        description="Check that the server's certificate names the host connected to.",
    )

    @field_validator("default_ttl", mode="before")
    @classmethod
    def _timedelta_seconds(cls, value: Any) -> Any:
        return value.total_seconds() if isinstance(value, timedelta) else value

    @field_validator("near_cache_ttl", mode="before")
    @classmethod
    def _ttl_seconds(cls, value: Any) -> Any:
        return value.total_seconds() if isinstance(value, timedelta) else value

    @field_validator("near_cache_prefixes", mode="before")
    @classmethod
    def _prefix_list(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = [part.strip() for part in value.split(",")]
        if isinstance(value, (list, tuple)):
            if not value or any(not isinstance(p, str) or not p for p in value):
                raise ValueError("near_cache_prefixes must be non-empty strings")
            return tuple(value)
        return value

    @field_validator("cluster_nodes", mode="before")
    @classmethod
    def _split_nodes(cls, value: Any) -> Any:
        return [part.strip() for part in value.split(",")] if isinstance(value, str) else value

    @field_validator("cluster_nodes")
    @classmethod
    def _checked_nodes(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return None
        return [f"{host}:{port}" for host, port in parse_nodes(",".join(value))]

    @field_validator("sentinels", mode="before")
    @classmethod
    def _sentinel_list(cls, value: Any) -> Any:
        # "s1:26379,s2" from the environment; a list of "host:port" or (host, port) in Python.
        if value is None:
            return None
        if isinstance(value, str):
            return parse_addresses(value, SENTINEL_PORT, "sentinel")
        if isinstance(value, (list, tuple)):
            entries = [
                f"{item[0]}:{item[1]}" if isinstance(item, (list, tuple)) else str(item)
                for item in value
            ]
            return parse_addresses(",".join(entries), SENTINEL_PORT, "sentinel")
        return value

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
            if self.cluster_nodes is not None and "driver" not in self.model_fields_set:
                object.__setattr__(self, "driver", "cluster")
            return self._check_combinations()
        parts = parse_url(self.url)
        found: dict[str, Any] = {}
        if "driver" not in self.model_fields_set:
            found["driver"] = parts.driver
        if parts.scheme != "memory":
            secret = None if parts.password is None else SecretStr(parts.password)
            found.update(db=parts.db, username=parts.username, password=secret)
            found.update(sentinels=parts.sentinels or None, sentinel_master=parts.service)
            found.update(self._tls_from_url(parts))
        if parts.nodes:
            found["cluster_nodes"] = [f"{host}:{port}" for host, port in parts.nodes]
        if parts.socket_path is None and parts.scheme != "memory" and not parts.sentinels:
            found.update(host=parts.host, port=parts.port)
        for name, value in found.items():
            object.__setattr__(self, name, value)
        return self._check_combinations(parts)

    def _tls_from_url(self, parts: ConnectionURL) -> dict[str, Any]:
        """The TLS settings a rediss:// URL spells; the same one given twice must agree."""
        given = self.model_fields_set
        if parts.tls and "tls" in given and not self.tls:
            raise ValueError(f"a {parts.scheme}:// URL means TLS, but REDIS_TLS is false")
        found: dict[str, Any] = {"tls": True} if parts.tls else {}
        query = dict(parse_qsl(self.url.partition("?")[2])) if self.url else {}
        for name, (field, variable) in _TLS_URL_PARAMETERS.items():
            if name not in query:
                continue
            raw = query[name]
            value: Any = raw
            if field == "tls_check_hostname":
                value = raw.lower() in {"1", "t", "true", "y", "yes", "on"}
            elif field == "tls_cert_reqs":
                value = raw.lower()
            else:
                value = Path(raw)
                if not value.is_file():
                    raise ValueError(f"'{name}' in the URL does not name a readable file")
            if field in given and getattr(self, field) != value:
                raise ValueError(
                    f"the URL's '{name}' and {variable} disagree: give it in one place"
                )
            found[field] = value
        return found

    def _check_combinations(self, parts: ConnectionURL | None = None) -> KVSettings:
        """Refuse settings that cannot all be honoured, naming their variables."""
        if self.sentinels and not self.sentinel_master:
            raise ValueError(
                "REDIS_SENTINELS is set but REDIS_SENTINEL_MASTER is not: name the master the "
                "sentinels monitor (or use redis+sentinel://s1:26379,s2:26379/mymaster/0)"
            )
        if not self.sentinels:
            for field, variable in (
                ("sentinel_master", "REDIS_SENTINEL_MASTER"),
                ("sentinel_password", "REDIS_SENTINEL_PASSWORD"),
                ("read_from_replicas", "REDIS_READ_FROM_REPLICAS"),
            ):
                if getattr(self, field):
                    raise ValueError(
                        f"{variable} applies to Sentinel only, and REDIS_SENTINELS is not set "
                        "(nor is REDIS_URL a redis+sentinel:// URL)"
                    )
        if self.near_cache_max_keys is None:
            for field, variable in (
                ("near_cache_ttl", "KV_NEAR_CACHE_TTL"),
                ("near_cache_prefixes", "KV_NEAR_CACHE_PREFIXES"),
            ):
                if getattr(self, field) is not None:
                    raise ValueError(
                        f"{variable} is set but KV_NEAR_CACHE_MAX_KEYS is not: the near cache "
                        "is off until KV_NEAR_CACHE_MAX_KEYS bounds it"
                    )
        if parts is not None and parts.socket_path is not None and self.tls:
            raise ValueError("REDIS_TLS is set, but a unix:// socket takes no TLS")
        if not self.tls:
            for field, variable in _TLS_OPTIONS.items():
                # Given with a value of its own (a default passed explicitly is no request).
                if getattr(self, field) != type(self).model_fields[field].default:
                    raise ValueError(
                        f"{variable} is set but TLS is off: set REDIS_TLS=true "
                        "(or use a rediss:// URL)"
                    )
            return self
        if self.tls_keyfile is not None and self.tls_certfile is None:
            raise ValueError(
                "REDIS_TLS_KEYFILE is set without REDIS_TLS_CERTFILE: a client key needs "
                "its certificate"
            )
        if self.tls_cert_reqs == "none" and self.tls_check_hostname:
            if "tls_check_hostname" in self.model_fields_set or (
                self.url is not None and "ssl_check_hostname=" in self.url
            ):
                raise ValueError(
                    "REDIS_TLS_CHECK_HOSTNAME is true but REDIS_TLS_CERT_REQS is none: "
                    "a hostname cannot be checked without checking the certificate"
                )
            object.__setattr__(self, "tls_check_hostname", False)
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
        scheme = "rediss" if self.tls else "redis"
        if self.sentinels:
            where = ",".join(self.sentinels)
            return f"{scheme}+sentinel://{auth}{where}/{self.sentinel_master}/{self.db}"
        if self.driver == "cluster" and self.cluster_nodes:
            return f"{scheme}+cluster://{auth}{','.join(self.cluster_nodes)}"
        return f"{scheme}://{auth}{self.host}:{self.port}/{self.db}"

    @property
    def store_description(self) -> str:
        """Which driver and store these settings use, for a startup log line (no password)."""
        if self.driver == "memory":
            return (
                "the memory driver: an in-process store, one per process (each worker process "
                "has its own data, and it is gone when the process exits)"
            )
        return f"the {self.driver} driver on {self.masked_url}"

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

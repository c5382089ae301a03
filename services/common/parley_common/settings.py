"""Settings base: every service builds one typed settings object from PARLEY_* environment variables."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Self
from urllib.parse import quote, urlsplit, urlunsplit

from pydantic import AliasChoices, Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

if TYPE_CHECKING:
    from parley_common.dispatch import Dispatch

PLACEHOLDER_SECRETS = {"dev-secret-change-me", "change-me", ""}
MIN_SECRET_CHARS = 32


def secret_problem(value: str) -> str | None:
    """Why a secret may not be used outside PARLEY_ENV=development, or None. One rule for every
    service (the SFU's checkSecret in mediasoup-node/src/settings.ts is the same)."""
    if value in PLACEHOLDER_SECRETS:
        return "is empty or a development placeholder"
    if len(value) < MIN_SECRET_CHARS:
        return f"is shorter than {MIN_SECRET_CHARS} characters"
    return None


class BaseServiceSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PARLEY_", extra="ignore")

    # Shared by every service: one variable each, whatever the service's own prefix.
    env: str = Field("development", validation_alias=AliasChoices("PARLEY_ENV"))
    redis_url: str = Field("redis://127.0.0.1:6379/0", validation_alias=AliasChoices("PARLEY_REDIS_URL"))
    log_level: str = Field("INFO", validation_alias=AliasChoices("PARLEY_LOG_LEVEL"))
    log_json: bool = Field(False, validation_alias=AliasChoices("PARLEY_LOG_JSON"))
    # Port of the service's /healthz + /metrics HTTP endpoint (0 = pick a free port).
    metrics_port: int = 0
    # Its address: loopback by default; 0.0.0.0 where Prometheus scrapes from another host
    # (the stack file sets it: Swarm scrapes tasks.<service> over the overlay network).
    metrics_host: str = Field("127.0.0.1", validation_alias=AliasChoices("PARLEY_METRICS_HOST"))
    instance: str = ""  # replica name; hostname-pid when empty
    # Redis users (stack/config/redis-users.acl): PARLEY_REDIS_URL names the user
    # (redis://stt@redis:6379/0), the password comes from PARLEY_REDIS_PASSWORD or the file
    # PARLEY_REDIS_PASSWORD_FILE (a Docker secret) and is put into the URL.
    redis_password: str = Field("", validation_alias=AliasChoices("PARLEY_REDIS_PASSWORD"), repr=False)
    redis_password_file: str = Field("", validation_alias=AliasChoices("PARLEY_REDIS_PASSWORD_FILE"))
    # How long a write that nothing would redo (a host's mute or removal) waits for a replica to
    # have it before it is answered (redisconn.write_replicated; WAIT). 0 = do not wait.
    redis_replica_wait_ms: int = Field(500, validation_alias=AliasChoices("PARLEY_REDIS_REPLICA_WAIT_MS"))

    @model_validator(mode="after")
    def _redis_credentials(self) -> Self:
        password = self.redis_password
        if not password and self.redis_password_file:
            password = Path(self.redis_password_file).read_text().strip()
        u = urlsplit(self.redis_url)
        if password and u.username and u.password is None:
            host = u.netloc.rsplit("@", 1)[1]
            self.redis_url = urlunsplit(u._replace(netloc=f"{u.username}:{quote(password, safe='')}@{host}"))
        return self

    def replica_name(self) -> str:
        import os
        import socket

        return self.instance or f"{socket.gethostname()}-{os.getpid()}"


class PoolSettings(BaseServiceSettings):
    """A replica of a worker pool (STT workers, translators), the service's prefix on each:
    parley_common.dispatch."""

    beat_ms: int = 150  # how often a replica says it is alive, how fast and how busy it is
    # A replica silent this long is gone: its pending jobs are taken over. Lower = faster
    # takeover, but a replica whose event loop stalls this long is taken over needlessly.
    dead_after_ms: int = 600
    # A peer is faster only when it takes less than (1 - margin) of this replica's time for a final.
    dispatch_margin: float = 0.2

    def dispatch(self, r: Any, service: str) -> Dispatch:
        from parley_common.dispatch import Dispatch

        return Dispatch(
            r,
            service,
            self.replica_name(),
            beat_s=self.beat_ms / 1000,
            dead_after_s=self.dead_after_ms / 1000,
            margin=self.dispatch_margin,
        )

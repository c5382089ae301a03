"""Gateway settings (PARLEY_GATEWAY_* and the shared PARLEY_* variables)."""

from __future__ import annotations

from pydantic_settings import SettingsConfigDict

from parley_common.settings import BaseServiceSettings


class GatewaySettings(BaseServiceSettings):
    model_config = SettingsConfigDict(env_prefix="PARLEY_GATEWAY_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = 8080
    redis_url: str = "redis://127.0.0.1:6379/0"
    queue_size: int = 500  # per listener; past it partials are dropped, then the listener resyncs
    max_client_message: int = 4096
    language_ttl_s: float = 30.0
    resume_limit: int = 2000  # most captions replayed to a reconnecting listener

"""Settings base: every service builds one typed settings object from PARLEY_* environment variables."""

from __future__ import annotations

from pydantic_settings import BaseSettings, SettingsConfigDict

PLACEHOLDER_SECRETS = {"dev-secret-change-me", "change-me", ""}


class BaseServiceSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PARLEY_", extra="ignore")

    env: str = "development"
    redis_url: str = "redis://127.0.0.1:6379/0"
    log_level: str = "INFO"
    log_json: bool = False
    # Port of the service's /healthz + /metrics HTTP endpoint (0 = pick a free port).
    metrics_port: int = 0
    instance: str = ""  # replica name; hostname-pid when empty

    def replica_name(self) -> str:
        import os
        import socket

        return self.instance or f"{socket.gethostname()}-{os.getpid()}"

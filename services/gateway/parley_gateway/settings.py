"""Gateway settings (PARLEY_GATEWAY_* and the shared PARLEY_* variables)."""

from __future__ import annotations

import secrets

from parley_common.settings import PLACEHOLDER_SECRETS, BaseServiceSettings, secret_problem
from pydantic import AliasChoices, Field, model_validator
from pydantic_settings import SettingsConfigDict

DEFAULT_DATABASE_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/parley"
DEV_JOIN_TOKEN_SECRET = "dev-secret-change-me"
DEV_ADMIN_PASSWORD = "change-me"
MIN_PASSWORD_CHARS = 12  # admin passwords outside development, and every password set through the API


class PlaceholderSecretError(ValueError):
    """A secret still has its development placeholder outside development."""


class GatewaySettings(BaseServiceSettings):
    model_config = SettingsConfigDict(env_prefix="PARLEY_GATEWAY_", extra="ignore", populate_by_name=True)

    env: str = Field(default="development", validation_alias=AliasChoices("PARLEY_ENV", "PARLEY_GATEWAY_ENV"))
    host: str = "127.0.0.1"
    port: int = 8080
    queue_size: int = 200  # per listener; past it partials are dropped, then the listener resyncs
    max_client_message: int = 4096
    language_ttl_s: float = 30.0
    resume_limit: int = 2000  # most stream events read to resume a reconnecting listener (`since=`)

    # Caption sockets (docs/security.md): caps, replay and queue bounds, lifetime.
    caption_sockets_per_participant: int = 5  # per room and token sub
    caption_sockets_per_address: int = 200  # per client address (offices share one behind NAT)
    caption_sockets_total: int = 5000  # on this gateway
    caption_connects_per_min: int = 120  # new caption sockets per client address
    replays_at_once: int = 4  # `since=` pages read and parsed at the same time (50 events a page)
    replay_events_per_min: int = 6000  # events replayed per client address a minute (3 full resumes)
    send_timeout_s: float = 10.0  # a socket that takes longer to accept one message is closed
    feed_linger_s: float = 60.0  # a room's reader (and finals index) outlives its last listener this long

    # HTTP: request bodies past this are refused (413); /docs, /redoc and /openapi.json are served
    # in development only unless api_docs says otherwise.
    max_body_bytes: int = 1024 * 1024
    api_docs: bool | None = None

    # Client addresses: X-Forwarded-For is believed only from these proxies (CIDRs; empty: none).
    trusted_proxies: list[str] = Field(default_factory=list)

    # Caption languages (docs/security.md): a listener may ask only for a language its room offers.
    caption_languages: list[str] = Field(
        default_factory=lambda: ["en", "es", "ca", "gl", "vi"],
        description="offered in a room that names no caption_languages of its own",
    )
    max_caption_languages: int = Field(default=8, ge=1, le=32)  # per room (the API refuses more)
    # A replica's engine report (parley_common.routes) older than this no longer counts toward the
    # offer: long enough to ride out a translate restart, short enough to drop a removed engine.
    engine_report_max_age_s: float = 300.0
    client_messages_per_s: float = 5.0  # messages a caption socket may send (pings, set_lang) sustained,
    client_message_burst: int = 20  # and at once; past it the socket is closed (1008)
    lang_switches_per_min: int = 10  # set_lang per caption socket; past it: an error, nothing done
    backfill_max_lines: int = 200  # earlier finals asked of the translators per language switch
    history_finals: int = 2000  # finals per room the gateway keeps indexed for language switches

    # Control plane (issue 6): Postgres, join tokens, admin credentials, rate limits.
    database_url: str = Field(
        default=DEFAULT_DATABASE_URL, validation_alias=AliasChoices("PARLEY_DATABASE_URL")
    )
    join_token_secret: str = Field(
        default=DEV_JOIN_TOKEN_SECRET, validation_alias=AliasChoices("PARLEY_JOIN_TOKEN_SECRET")
    )
    # Admin sessions (password logins) are signed with their own secret, which no other service
    # holds; in development an unset one is random per process.
    admin_session_secret: str = Field(
        default="", validation_alias=AliasChoices("PARLEY_ADMIN_SESSION_SECRET")
    )
    auth_required: bool = (
        True  # PARLEY_GATEWAY_AUTH_REQUIRED: caption WebSocket needs a join token (dev only: false)
    )
    join_token_ttl_s: int = 4 * 3600
    admin_token_ttl_s: int = 12 * 3600
    invite_ttl_s: int = 7 * 24 * 3600
    admin_username: str = Field(default="admin", validation_alias=AliasChoices("PARLEY_ADMIN_USERNAME"))
    admin_password: str = Field(
        default=DEV_ADMIN_PASSWORD, validation_alias=AliasChoices("PARLEY_ADMIN_PASSWORD")
    )
    public_url: str = "http://127.0.0.1:8080"  # base of invite links
    token_rate_per_min: int = 60  # token issuance per client address (and per room)
    login_rate_per_min: int = 10  # login attempts per client address (any user name)
    login_free_failures: int = 5  # per (user name, address); then 2, 4, 8 ... s between attempts
    login_max_backoff_s: int = 900
    login_user_failures_per_hour: int = 100  # failures for one user name from every address together
    logins_at_once: int = 2  # password checks (scrypt, ~50 ms of CPU each) running at once
    invite_failures_per_10min: int = 20  # unknown invite codes per client address
    stats_replica_window_s: float = 60.0  # a consumer idle longer than this is not counted as a replica

    # Browser UI (issue 5): the built frontend (frontend/dist) and the SFU's WebSocket URL for the page.
    frontend_dir: str = ""  # empty: <repo>/frontend/dist; missing: the static caption viewer is served
    # Empty: the page uses its own origin's /ws, which the TLS entry (Caddy) routes to the SFU;
    # `make run` sets it (no proxy there: ws://127.0.0.1:4443/ws).
    sfu_url: str = ""

    @model_validator(mode="after")
    def _production_rules(self) -> GatewaySettings:
        """Outside development: no weak secret (the rule the SFU applies too), an admin session
        secret of its own, a real admin password, and caption sockets that need a join token.
        In development an unset admin session secret is a random one (sessions end at restart)."""
        if self.env == "development":
            if not self.admin_session_secret:
                self.admin_session_secret = secrets.token_urlsafe(32)
            return self
        for name in ("join_token_secret", "admin_session_secret"):
            problem = secret_problem(getattr(self, name))
            if problem:
                raise PlaceholderSecretError(
                    f"{name} {problem}; set a real secret when PARLEY_ENV={self.env}"
                )
        if self.admin_session_secret == self.join_token_secret:
            raise PlaceholderSecretError(
                "admin_session_secret must differ from join_token_secret (the SFU holds that one)"
            )
        if self.admin_password in PLACEHOLDER_SECRETS or len(self.admin_password) < MIN_PASSWORD_CHARS:
            raise PlaceholderSecretError(
                f"admin_password must be a real password of at least {MIN_PASSWORD_CHARS} characters "
                f"when PARLEY_ENV={self.env}"
            )
        if not self.auth_required:
            raise PlaceholderSecretError(
                f"auth_required=false is for development only (PARLEY_ENV={self.env})"
            )
        return self

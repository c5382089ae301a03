"""The control plane's tables: rooms, participants and their sessions, final captions and their
translations, invites, host actions, admin accounts and API keys.

Change a table here, then add a migration in migrations/versions/ (tests/api/test_migrations.py
checks that the migrated schema matches these models).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Computed,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.dialects.postgresql import ARRAY, REGCONFIG, TSVECTOR
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
Slug = String(64)
Lang = String(16)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


def _now() -> Mapped[datetime]:
    return mapped_column(DateTime(timezone=True), server_default=func.now())


class Room(Base):
    __tablename__ = "rooms"
    __table_args__ = (CheckConstraint("status IN ('open', 'closed')", name="status"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    slug: Mapped[str] = mapped_column(Slug, unique=True)
    name: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16), server_default="open")
    spoken_languages: Mapped[list[str]] = mapped_column(ARRAY(Lang), server_default="{}")
    caption_languages: Mapped[list[str]] = mapped_column(ARRAY(Lang), server_default="{}")
    glossary: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default="{}")
    prompt: Mapped[str] = mapped_column(Text, server_default="")
    max_participants: Mapped[int | None] = mapped_column(Integer)
    retention_days: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = _now()
    updated_at: Mapped[datetime] = _now()
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Participant(Base):
    """One person in one room, identified by the join token's `sub`."""

    __tablename__ = "participants"
    __table_args__ = (
        UniqueConstraint("room_id", "key", name="uq_participants_room_key"),
        CheckConstraint("role IN ('host', 'guest', 'listener')", name="role"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    room_id: Mapped[int] = mapped_column(ForeignKey("rooms.id", ondelete="CASCADE"), index=True)
    key: Mapped[str] = mapped_column(Slug)
    display_name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(16))
    caption_lang: Mapped[str | None] = mapped_column(Lang)
    created_at: Mapped[datetime] = _now()
    muted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    removed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Who came through an invite link: which one, from which client address (a removed guest may
    # not open the same link again from there).
    invite_id: Mapped[int | None] = mapped_column(ForeignKey("invites.id", ondelete="SET NULL"), index=True)
    joined_from: Mapped[str | None] = mapped_column(String(64))

    sessions: Mapped[list[ParticipantSession]] = relationship(
        back_populates="participant", order_by="ParticipantSession.joined_at", lazy="selectin"
    )


class ParticipantSession(Base):
    """A span a participant was present: an SFU audio producer (from `sfu:events`) or a caption socket."""

    __tablename__ = "participant_sessions"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    participant_id: Mapped[int] = mapped_column(ForeignKey("participants.id", ondelete="CASCADE"), index=True)
    source: Mapped[str] = mapped_column(String(16))  # sfu | captions
    ref: Mapped[str] = mapped_column(String(128), unique=True)  # producer id, or a socket's id
    joined_at: Mapped[datetime] = _now()
    left_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    participant: Mapped[Participant] = relationship(back_populates="sessions")


class CaptionFinal(Base):
    """One row per caption id (room/speaker/utterance): the source-language final."""

    __tablename__ = "captions"
    __table_args__ = (
        Index("ix_captions_room_start", "room_id", "start_s"),
        Index("ix_captions_tsv", "tsv", postgresql_using="gin"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    caption_id: Mapped[str] = mapped_column(String(200), unique=True)
    room_id: Mapped[int] = mapped_column(ForeignKey("rooms.id", ondelete="CASCADE"))
    speaker: Mapped[str] = mapped_column(Slug)
    speaker_name: Mapped[str] = mapped_column(String(200), server_default="")
    utt: Mapped[int] = mapped_column(Integer)
    start_s: Mapped[float] = mapped_column(Float)  # meeting time, s since the room's t0
    end_s: Mapped[float] = mapped_column(Float)
    lang: Mapped[str] = mapped_column(Lang)
    text: Mapped[str] = mapped_column(Text)
    ts_config: Mapped[str] = mapped_column(REGCONFIG)
    tsv: Mapped[str] = mapped_column(TSVECTOR, Computed("to_tsvector(ts_config, text)", persisted=True))
    created_at: Mapped[datetime] = _now()


class CaptionTranslation(Base):
    """One row per (caption id, language): a final translation."""

    __tablename__ = "caption_translations"
    __table_args__ = (
        UniqueConstraint("caption_id", "lang", name="uq_caption_translations_caption_lang"),
        Index("ix_caption_translations_tsv", "tsv", postgresql_using="gin"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    caption_id: Mapped[str] = mapped_column(ForeignKey("captions.caption_id", ondelete="CASCADE"))
    lang: Mapped[str] = mapped_column(Lang)
    text: Mapped[str] = mapped_column(Text)
    error: Mapped[str] = mapped_column(Text, server_default="")
    ts_config: Mapped[str] = mapped_column(REGCONFIG)
    tsv: Mapped[str] = mapped_column(TSVECTOR, Computed("to_tsvector(ts_config, text)", persisted=True))
    created_at: Mapped[datetime] = _now()


class Invite(Base):
    """An invite link: opening it issues a guest token for this room only. The code is stored hashed."""

    __tablename__ = "invites"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    room_id: Mapped[int] = mapped_column(ForeignKey("rooms.id", ondelete="CASCADE"), index=True)
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = _now()
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    max_uses: Mapped[int | None] = mapped_column(Integer)
    uses: Mapped[int] = mapped_column(Integer, server_default="0")
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class HostAction(Base):
    """Audit trail of mute / unmute / remove / close, as announced to the SFU on `sfu:commands`."""

    __tablename__ = "host_actions"
    __table_args__ = (CheckConstraint("action IN ('mute', 'unmute', 'remove', 'close')", name="action"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    room_id: Mapped[int] = mapped_column(ForeignKey("rooms.id", ondelete="CASCADE"), index=True)
    action: Mapped[str] = mapped_column(String(16))
    participant_key: Mapped[str | None] = mapped_column(Slug)
    actor: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = _now()


class AdminAccount(Base):
    __tablename__ = "admin_accounts"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(Text)
    disabled: Mapped[bool] = mapped_column(Boolean, server_default="false")
    created_at: Mapped[datetime] = _now()
    # The configured admin's PARLEY_ADMIN_PASSWORD as last applied (scrypt): a different one at
    # start is a rotation and replaces the password.
    configured_password_hash: Mapped[str | None] = mapped_column(Text)
    # Sessions issued before this are refused (a password change or rotation ends them).
    password_changed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class ApiKey(Base):
    """An admin API key: only its public prefix and SHA-256 are stored; the key is shown once."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    prefix: Mapped[str] = mapped_column(String(16), unique=True)
    key_hash: Mapped[str] = mapped_column(String(64))
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = _now()
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

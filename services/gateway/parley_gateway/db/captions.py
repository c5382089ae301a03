"""Writing finals idempotently, and reading transcripts back (in order, in any language)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from parley_common.schemas import Caption
from sqlalchemy import func, literal_column, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from parley_gateway.db.models import CaptionFinal, CaptionTranslation, Participant, ParticipantSession, Room

# Postgres text-search configurations for the languages it stems; anything else is 'simple'.
TS_CONFIGS = {
    "ar": "arabic",
    "ca": "catalan",
    "da": "danish",
    "de": "german",
    "el": "greek",
    "en": "english",
    "es": "spanish",
    "eu": "basque",
    "fi": "finnish",
    "fr": "french",
    "ga": "irish",
    "hi": "hindi",
    "hu": "hungarian",
    "hy": "armenian",
    "id": "indonesian",
    "it": "italian",
    "lt": "lithuanian",
    "ne": "nepali",
    "nl": "dutch",
    "no": "norwegian",
    "nb": "norwegian",
    "pt": "portuguese",
    "ro": "romanian",
    "ru": "russian",
    "sr": "serbian",
    "sv": "swedish",
    "ta": "tamil",
    "tr": "turkish",
    "yi": "yiddish",
}
ALL_TS_CONFIGS = sorted({*TS_CONFIGS.values(), "simple"})


def ts_config(lang: str) -> str:
    return TS_CONFIGS.get(lang.replace("-", "_").split("_")[0].lower(), "simple")


async def ensure_room(session: AsyncSession, slug: str) -> int:
    """The id of room `slug`, creating a row for a room that only ever lived in Redis."""
    stmt = insert(Room).values(slug=slug, name=slug).on_conflict_do_nothing(index_elements=[Room.slug])
    await session.execute(stmt)
    room_id: int = (await session.execute(select(Room.id).where(Room.slug == slug))).scalar_one()
    return room_id


async def store_final(session: AsyncSession, caption: Caption) -> None:
    """Upsert one final (source text or a translation). Safe to repeat: same rows, same content."""
    room_id = await ensure_room(session, caption.room)
    source = {
        "caption_id": caption.id,
        "room_id": room_id,
        "speaker": caption.speaker,
        "speaker_name": caption.speaker_name,
        "utt": caption.utt,
        "start_s": caption.start,
        "end_s": caption.end,
        "lang": caption.source_lang,
        "text": caption.source_text,
        "ts_config": ts_config(caption.source_lang),
    }
    stmt = insert(CaptionFinal).values(**source)
    if caption.is_translation:
        # The source final normally came first; if not, the translation carries its text.
        await session.execute(stmt.on_conflict_do_nothing(index_elements=[CaptionFinal.caption_id]))
        tr = insert(CaptionTranslation).values(
            caption_id=caption.id,
            lang=caption.lang,
            text=caption.text,
            error=caption.error,
            ts_config=ts_config(caption.lang),
        )
        await session.execute(
            tr.on_conflict_do_update(
                constraint="uq_caption_translations_caption_lang",
                set_={
                    "text": tr.excluded.text,
                    "error": tr.excluded.error,
                    "ts_config": tr.excluded.ts_config,
                },
            )
        )
    else:
        updated = {k: getattr(stmt.excluded, k) for k in source if k != "caption_id"}
        await session.execute(
            stmt.on_conflict_do_update(index_elements=[CaptionFinal.caption_id], set_=updated)
        )


async def open_sfu_session(session: AsyncSession, room: str, peer: str, name: str, producer: str) -> None:
    room_id = await ensure_room(session, room)
    p = insert(Participant).values(room_id=room_id, key=peer, display_name=name or peer, role="guest")
    await session.execute(p.on_conflict_do_nothing(constraint="uq_participants_room_key"))
    pid = (
        await session.execute(
            select(Participant.id).where(Participant.room_id == room_id, Participant.key == peer)
        )
    ).scalar_one()
    s = insert(ParticipantSession).values(participant_id=pid, source="sfu", ref=f"sfu:{producer}")
    await session.execute(s.on_conflict_do_nothing(index_elements=[ParticipantSession.ref]))


async def close_sfu_session(session: AsyncSession, producer: str) -> None:
    await session.execute(
        update(ParticipantSession)
        .where(ParticipantSession.ref == f"sfu:{producer}", ParticipantSession.left_at.is_(None))
        .values(left_at=func.now())
    )


@dataclass(frozen=True, slots=True)
class Line:
    caption_id: str
    speaker: str
    speaker_name: str
    start: float
    end: float
    lang: str
    text: str
    translated: bool


async def transcript(session: AsyncSession, room_id: int, lang: str | None) -> list[Line]:
    """Every final of a room in meeting-time order; in `lang` where a translation exists, else the source."""
    tr = None
    if lang is not None:
        tr = (
            select(CaptionTranslation.caption_id, CaptionTranslation.text)
            .where(CaptionTranslation.lang == lang)
            .subquery()
        )
    cols = [
        CaptionFinal.caption_id,
        CaptionFinal.speaker,
        CaptionFinal.speaker_name,
        CaptionFinal.start_s,
        CaptionFinal.end_s,
        CaptionFinal.lang,
        CaptionFinal.text,
    ]
    if tr is not None:
        q = select(*cols, tr.c.text.label("tr_text")).outerjoin(
            tr, tr.c.caption_id == CaptionFinal.caption_id
        )
    else:
        q = select(*cols, literal_column("NULL").label("tr_text"))
    q = q.where(CaptionFinal.room_id == room_id).order_by(CaptionFinal.start_s, CaptionFinal.id)
    out: list[Line] = []
    for row in (await session.execute(q)).all():
        translated = row.tr_text is not None and lang != row.lang
        out.append(
            Line(
                caption_id=row.caption_id,
                speaker=row.speaker,
                speaker_name=row.speaker_name or row.speaker,
                start=row.start_s,
                end=row.end_s,
                lang=lang if translated and lang else row.lang,
                text=row.tr_text if translated else row.text,
                translated=translated,
            )
        )
    return out


async def languages(session: AsyncSession, room_id: int) -> Sequence[str]:
    """Every language a transcript of this room can be read in (spoken or translated)."""
    spoken = select(CaptionFinal.lang).where(CaptionFinal.room_id == room_id)
    translated = (
        select(CaptionTranslation.lang)
        .join(CaptionFinal, CaptionFinal.caption_id == CaptionTranslation.caption_id)
        .where(CaptionFinal.room_id == room_id)
    )
    rows = (await session.execute(spoken.union(translated))).scalars().all()
    return sorted(rows)

"""A room's transcript (JSON, .txt, .srt, .vtt, in any language produced) and full-text search."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse, PlainTextResponse
from sqlalchemy import ColumnElement, Float, cast, func, literal, select, union_all
from sqlalchemy.dialects.postgresql import REGCONFIG

from parley_gateway.api.deps import AdminDep, HostDep, SessionDep, SlugPath
from parley_gateway.api.errors import ApiError
from parley_gateway.api.export import to_srt, to_txt, to_vtt
from parley_gateway.api.rooms import Limit, Offset, get_room
from parley_gateway.api.schemas import Lang, Page, SearchHit, TranscriptLine, TranscriptOut
from parley_gateway.db import captions as store
from parley_gateway.db.models import CaptionFinal, CaptionTranslation, Room

router = APIRouter(tags=["transcripts"])
_MEDIA = {
    "txt": "text/plain; charset=utf-8",
    "srt": "application/x-subrip; charset=utf-8",
    "vtt": "text/vtt; charset=utf-8",
}
_TEXT_RESPONSES = {
    200: {"content": {m.split(";")[0]: {"schema": {"type": "string"}} for m in _MEDIA.values()}}
}


@router.get("/rooms/{slug}/transcript", response_model=TranscriptOut, responses=_TEXT_RESPONSES)  # type: ignore[arg-type]
async def get_transcript(
    slug: SlugPath,
    session: SessionDep,
    _: HostDep,
    format: Literal["json", "txt", "srt", "vtt"] = "json",
    lang: Annotated[Lang | None, Query(description="a language; omitted: each line as spoken")] = None,
) -> JSONResponse | PlainTextResponse:
    """Every final in meeting-time order, attributed to its speaker; lines never translated into
    `lang` stay in the language they were spoken in."""
    room = await get_room(session, slug)
    lines = await store.transcript(session, room.id, lang)
    if format == "json":
        body = TranscriptOut(
            room=slug,
            lang=lang,
            languages=list(await store.languages(session, room.id)),
            lines=[TranscriptLine.model_validate(x, from_attributes=True) for x in lines],
        )
        return JSONResponse(body.model_dump(mode="json"))
    text = {"txt": to_txt, "srt": to_srt, "vtt": to_vtt}[format](lines)
    filename = f"{slug}{'.' + lang if lang else ''}.{format}"
    return PlainTextResponse(
        text, media_type=_MEDIA[format], headers={"Content-Disposition": f'attachment; filename="{filename}"'}
    )


@router.get("/search", response_model=Page[SearchHit])
async def search(
    session: SessionDep,
    _: AdminDep,
    q: Annotated[str, Query(min_length=1, max_length=200, description='words, "a phrase", -excluded, or')],
    room: Annotated[str | None, Query(max_length=64)] = None,
    lang: Annotated[Lang | None, Query()] = None,
    limit: Limit = 20,
    offset: Offset = 0,
) -> Page[SearchHit]:
    """Full-text search (Postgres websearch syntax) over spoken text and translations, best first."""
    if any(ord(c) < 32 for c in q):
        raise ApiError(422, "q may not contain control characters")
    configs = [store.ts_config(lang)] if lang else store.ALL_TS_CONFIGS
    query = or_tsquery(q, configs)
    src = select(
        CaptionFinal.caption_id,
        CaptionFinal.room_id,
        CaptionFinal.lang,
        CaptionFinal.text,
        CaptionFinal.ts_config,
        CaptionFinal.tsv,
    )
    tr = select(
        CaptionTranslation.caption_id,
        CaptionFinal.room_id,
        CaptionTranslation.lang,
        CaptionTranslation.text,
        CaptionTranslation.ts_config,
        CaptionTranslation.tsv,
    ).join(CaptionFinal, CaptionFinal.caption_id == CaptionTranslation.caption_id)
    if lang:
        src, tr = src.where(CaptionFinal.lang == lang), tr.where(CaptionTranslation.lang == lang)
    texts = union_all(
        src.where(CaptionFinal.tsv.op("@@")(query)), tr.where(CaptionTranslation.tsv.op("@@")(query))
    )
    t = texts.subquery()
    base = select(t, Room.slug).join(Room, Room.id == t.c.room_id)
    if room:
        base = base.where(Room.slug == room)
    total = (await session.execute(select(func.count()).select_from(base.subquery()))).scalar_one()
    rank = cast(func.ts_rank(t.c.tsv, query), Float)
    rows = await session.execute(
        select(
            Room.slug,
            t.c.caption_id,
            t.c.lang,
            t.c.text,
            rank.label("rank"),
            func.ts_headline(
                t.c.ts_config, t.c.text, query, literal("MaxFragments=2, StartSel=«, StopSel=»")
            ).label("headline"),
            CaptionFinal.speaker,
            CaptionFinal.speaker_name,
            CaptionFinal.start_s,
            CaptionFinal.end_s,
        )
        .select_from(t)
        .join(Room, Room.id == t.c.room_id)
        .join(CaptionFinal, CaptionFinal.caption_id == t.c.caption_id)
        .where(Room.slug == room if room else literal(True))
        .order_by(rank.desc(), CaptionFinal.start_s, t.c.lang)
        .limit(limit)
        .offset(offset)
    )
    hits = [
        SearchHit(
            room=x.slug,
            caption_id=x.caption_id,
            speaker=x.speaker,
            speaker_name=x.speaker_name or x.speaker,
            start=x.start_s,
            end=x.end_s,
            lang=x.lang,
            text=x.text,
            headline=x.headline,
            rank=x.rank,
        )
        for x in rows
    ]
    return Page[SearchHit](items=hits, total=total, limit=limit, offset=offset)


def or_tsquery(q: str, configs: list[str]) -> ColumnElement[object]:
    """One tsquery matching `q` stemmed by any of the configurations (a constant: the GIN index applies)."""
    parts = [func.websearch_to_tsquery(cast(literal(c), REGCONFIG), q) for c in configs]
    expr: ColumnElement[object] = parts[0]
    for p in parts[1:]:
        expr = expr.op("||")(p)
    return expr

"""Finals reach Postgres once per caption id, whatever the redeliveries; transcripts come back in order."""

from __future__ import annotations

import redis.asyncio as aioredis
from api_helpers import REDIS_URL, assert_error, bearer, join_token
from fastapi.testclient import TestClient
from parley_common import keys
from parley_common.schemas import Caption, CaptionType
from parley_gateway.db.engine import Database
from parley_gateway.db.models import CaptionFinal, CaptionTranslation
from parley_gateway.persister import GROUP, Persister, PersisterSettings
from sqlalchemy import func, select


def final(
    room: str,
    speaker: str,
    name: str,
    utt: int,
    lang: str,
    text: str,
    start: float,
    *,
    src_lang: str | None = None,
    src_text: str | None = None,
) -> Caption:
    return Caption(
        type="final",
        id=keys.caption_id(room, speaker, utt),
        room=room,
        speaker=speaker,
        speaker_name=name,
        utt=utt,
        lang=lang,
        text=text,
        source_lang=src_lang or lang,
        source_text=src_text if src_text is not None else text,
        start=start,
        end=start + 1.5,
    )


def persister(r: aioredis.Redis, db: Database, name: str = "p1") -> Persister:
    settings = PersisterSettings(
        redis_url=REDIS_URL, database_url="unused", instance=name, claim_idle_ms=0, sfu_events=True
    )
    return Persister(r, db, settings)


async def drain(p: Persister) -> None:
    await p.ensure()
    while await p.step(block_ms=None):
        pass


async def count(db: Database, model: type[CaptionFinal] | type[CaptionTranslation]) -> int:
    async with db.session() as s:
        return int((await s.execute(select(func.count()).select_from(model))).scalar_one())


async def test_redelivered_final_stored_once(r: aioredis.Redis, db: Database) -> None:
    c = final("demo", "alice", "Alice", 0, "en", "He was not an ill-disposed young man.", 1.0)
    es = final(
        "demo",
        "alice",
        "Alice",
        0,
        "es",
        "No era un joven mal dispuesto.",
        1.0,
        src_lang="en",
        src_text=c.text,
    )
    for _ in range(3):  # the publisher retried, or the stream was replayed
        await r.xadd(keys.PERSIST_CAPTIONS, c.to_fields())
        await r.xadd(keys.PERSIST_CAPTIONS, es.to_fields())
    p1 = persister(r, db, "p1")
    await p1.ensure()
    # p1 reads everything but dies before acknowledging: p2 claims the entries and stores them ...
    assert len(await p1.captions.read(count=100)) == 6
    p2 = persister(r, db, "p2")
    await p2.ensure()
    await p2.process(p2.captions, await p2.captions.claim_stale(100))
    # ... and p1 comes back and stores its batch again.
    await p1.process(p1.captions, [(e[0], e[1]) for e in await r.xrange(keys.PERSIST_CAPTIONS)])
    await drain(p2)
    assert await count(db, CaptionFinal) == 1 and await count(db, CaptionTranslation) == 1
    groups = {g["name"]: g for g in await r.xinfo_groups(keys.PERSIST_CAPTIONS)}
    assert groups[GROUP.encode()]["pending"] == 0
    async with db.session() as s:
        row = (await s.execute(select(CaptionFinal))).scalar_one()
        assert (row.caption_id, row.text, row.lang) == ("demo/alice/0", c.text, "en")


async def test_retractions_partials_and_bad_entries_skipped(r: aioredis.Redis, db: Database) -> None:
    await r.xadd(keys.PERSIST_CAPTIONS, final("demo", "bob", "Bob", 3, "en", "", 2.0).to_fields())
    partial = final("demo", "bob", "Bob", 4, "en", "hel", 3.0).model_copy(
        update={"type": CaptionType.PARTIAL}
    )
    await r.xadd(keys.PERSIST_CAPTIONS, partial.to_fields())
    await r.xadd(keys.PERSIST_CAPTIONS, {"data": "{not json"})
    await drain(persister(r, db))
    assert await count(db, CaptionFinal) == 0
    assert await r.xlen(keys.DEAD_LETTERS) == 1


async def test_translation_before_its_source(r: aioredis.Redis, db: Database) -> None:
    es = final("demo", "ana", "Ana", 0, "en", "Good morning.", 0.5, src_lang="es", src_text="Buenos días.")
    await r.xadd(keys.PERSIST_CAPTIONS, es.to_fields())
    await drain(persister(r, db))
    await r.xadd(keys.PERSIST_CAPTIONS, final("demo", "ana", "Ana", 0, "es", "Buenos días.", 0.5).to_fields())
    await drain(persister(r, db))
    assert await count(db, CaptionFinal) == 1 and await count(db, CaptionTranslation) == 1


async def test_sfu_events_become_sessions(
    r: aioredis.Redis, db: Database, client: TestClient, admin: dict[str, str]
) -> None:
    base = {
        "v": "1",
        "room": "demo",
        "peer": "carol",
        "name": "Carol",
        "producer": "prod-1",
        "ssrc": "1",
        "pt": "100",
        "clock_rate": "48000",
        "ts": "0",
    }
    await r.xadd("sfu:events", {**base, "type": "producer.open"})
    await drain(persister(r, db))
    people = client.get("/api/v1/rooms/demo/participants?live=true", headers=admin).json()
    assert [x["participant_id"] for x in people["items"]] == ["carol"] and people["items"][0]["live"]
    await r.xadd("sfu:events", {**base, "type": "producer.close"})
    await drain(persister(r, db))
    people = client.get("/api/v1/rooms/demo/participants?live=false", headers=admin).json()
    assert people["items"][0]["sessions"][0]["left_at"] is not None


SPOKEN = [  # (speaker, name, lang, text, start); alice speaks English, bruno Spanish
    ("alice", "Alice", "en", "Good morning, everyone.", 1.0),
    ("bruno", "Bruno", "es", "Buenos días a todos.", 3.2),
    ("alice", "Alice", "en", "Let us look at the budget.", 6.0),
    ("bruno", "Bruno", "es", "El presupuesto está listo.", 9.5),
]
TRANSLATED = {
    "en": ["", "Good morning to all.", "", "The budget is ready."],
    "es": ["Buenos días, a todos.", "", "Veamos el presupuesto.", ""],
}


async def test_two_speakers_two_languages_export(
    r: aioredis.Redis, db: Database, client: TestClient, admin: dict[str, str], room: str
) -> None:
    utts = {"alice": 0, "bruno": 0}
    # Published out of order (and translations interleaved) on purpose: export orders by meeting time.
    entries = []
    for i, (speaker, name, lang, text, start) in enumerate(SPOKEN):
        entries.append(final(room, speaker, name, utts[speaker], lang, text, start))
        other = "es" if lang == "en" else "en"
        entries.append(
            final(
                room,
                speaker,
                name,
                utts[speaker],
                other,
                TRANSLATED[other][i],
                start,
                src_lang=lang,
                src_text=text,
            )
        )
        utts[speaker] += 1
    for c in reversed(entries):
        await r.xadd(keys.PERSIST_CAPTIONS, c.to_fields())
    await drain(persister(r, db))

    spoken = client.get(f"/api/v1/rooms/{room}/transcript", headers=admin).json()
    assert [(x["speaker_name"], x["lang"], x["text"]) for x in spoken["lines"]] == [
        (n, lang, t) for _, n, lang, t, _ in SPOKEN
    ]
    assert spoken["languages"] == ["en", "es"]
    for lang in ("en", "es"):
        got = client.get(f"/api/v1/rooms/{room}/transcript?lang={lang}", headers=admin).json()["lines"]
        want = [
            t if spoken_lang == lang else TRANSLATED[lang][i]
            for i, (_, _, spoken_lang, t, _) in enumerate(SPOKEN)
        ]
        assert [x["text"] for x in got] == want and all(x["lang"] == lang for x in got)
        assert [x["speaker"] for x in got] == ["alice", "bruno", "alice", "bruno"]

    txt = client.get(f"/api/v1/rooms/{room}/transcript?format=txt&lang=en", headers=admin)
    assert txt.headers["content-type"].startswith("text/plain")
    assert txt.text.splitlines() == [
        "[00:00:01] Alice: Good morning, everyone.",
        "[00:00:03] Bruno: Good morning to all.",
        "[00:00:06] Alice: Let us look at the budget.",
        "[00:00:09] Bruno: The budget is ready.",
    ]
    srt = client.get(f"/api/v1/rooms/{room}/transcript?format=srt&lang=es", headers=admin).text
    assert srt.startswith(
        "1\n00:00:01,000 --> 00:00:02,500\nAlice: Buenos días, a todos.\n\n"
        "2\n00:00:03,200 --> 00:00:04,700\nBruno: Buenos días a todos.\n"
    )
    vtt = client.get(f"/api/v1/rooms/{room}/transcript?format=vtt", headers=admin)
    assert vtt.headers["content-type"].startswith("text/vtt")
    assert vtt.text.startswith("WEBVTT\n\n00:00:01.000 --> 00:00:02.500\n<v Alice>Good morning, everyone.\n")
    assert "<v Bruno>El presupuesto está listo." in vtt.text
    # a host reads its own room's transcript; a guest may not
    assert (
        client.get(
            f"/api/v1/rooms/{room}/transcript", headers=bearer(join_token(room, role="host"))
        ).status_code
        == 200
    )
    assert_error(
        client.get(f"/api/v1/rooms/{room}/transcript", headers=bearer(join_token(room))), 403, "forbidden"
    )
    assert_error(client.get(f"/api/v1/rooms/{room}/transcript?format=pdf", headers=admin), 422, "invalid")

    # Full-text search, stemmed per language, over spoken text and translations.
    hits = client.get("/api/v1/search?q=budgets", headers=admin).json()
    assert hits["total"] == 2 and {h["lang"] for h in hits["items"]} == {"en"}
    assert {h["speaker"] for h in hits["items"]} == {"alice", "bruno"} and "«budget»" in hits["items"][0][
        "headline"
    ]
    es_hits = client.get("/api/v1/search?q=presupuesto&lang=es", headers=admin).json()
    assert es_hits["total"] == 2
    assert client.get(f"/api/v1/search?q=morning&room={room}", headers=admin).json()["total"] == 2
    assert client.get("/api/v1/search?q=morning&room=elsewhere", headers=admin).json()["total"] == 0


async def test_a_name_with_line_breaks_stays_one_cue_in_every_export(
    r: aioredis.Redis, db: Database, client: TestClient, admin: dict[str, str], room: str
) -> None:
    """Names are checked when tokens are issued; the exports flatten whatever was stored anyway."""
    evil = "Mallory\n\n2\n00:00:00,000 --> 00:59:00,000\nWEBVTT\u2028Fake"
    await r.xadd(keys.PERSIST_CAPTIONS, final(room, "mal", evil, 0, "en", "Hello there.", 1.0).to_fields())
    await drain(persister(r, db))
    for fmt, cues in (("srt", 1), ("vtt", 1), ("txt", 1)):
        text = client.get(f"/api/v1/rooms/{room}/transcript?format={fmt}", headers=admin).text
        assert text.count("-->") == (cues if fmt != "txt" else 0), text
        assert "Mallory 2 00:00:00,000 -&gt; 00:59:00,000 WEBVTT Fake" in text or fmt != "vtt", text
        assert len([x for x in text.splitlines() if x.strip()]) == {"srt": 3, "vtt": 3, "txt": 1}[fmt], text

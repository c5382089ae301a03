"""The honest offer through the API: a room offers only the caption languages the running engines
deliver from its spoken language(s); the admin API says which engine serves each pair and why any
other language is not offered; GET /api/config agrees; a join asking for an undeliverable language
is refused with the reason. The engine reports are the real apertium engine's, written the way a
translate replica writes them (parley_common.routes)."""

from __future__ import annotations

import asyncio
import shutil
import time

import pytest
import redis.asyncio as aioredis
from api_helpers import REDIS_URL, assert_error, bearer, join_token
from fastapi.testclient import TestClient
from parley_common import keys, routes
from parley_common.routes import EngineInfo, EngineReport
from parley_translate.engines.apertium import ApertiumEngine

pytestmark = pytest.mark.skipif(shutil.which("apertium") is None, reason="needs apertium-eng-spa")


def advertise(engines: list[EngineInfo], replica: str = "translate-1", at: float | None = None) -> None:
    async def write() -> None:
        r = aioredis.from_url(REDIS_URL)
        try:
            await routes.advertise(r, "translate", replica, engines)
            if at is not None:  # an old report: rewrite its time
                report = EngineReport(replica=replica, service="translate", at=at, engines=engines)
                await r.hset(keys.LANG_ENGINES, f"translate/{replica}", report.model_dump_json())
        finally:
            await r.aclose()

    asyncio.run(write())


def new_room(
    client: TestClient, admin: dict[str, str], slug: str, spoken: list[str], captions: list[str]
) -> None:
    body = {"name": slug, "slug": slug, "spoken_languages": spoken, "caption_languages": captions}
    assert client.post("/api/v1/rooms", json=body, headers=admin).status_code == 201


def codes(items: list[dict[str, str]]) -> list[str]:
    return [x["code"] for x in items]


def test_room_offers_what_the_engines_deliver(client: TestClient, admin: dict[str, str]) -> None:
    apertium = ApertiumEngine().info()
    assert {"en-es", "es-en"} <= set(apertium.pairs) and not any("vi" in p for p in apertium.pairs)
    advertise([apertium])
    new_room(client, admin, "sync", ["en"], ["es", "vi", "en"])

    got = client.get("/api/v1/rooms/sync/languages", headers=admin)
    assert got.status_code == 200, got.text
    body = got.json()
    assert body["spoken"] == ["en"]
    assert codes(body["offered"]) == ["en", "es"]
    assert body["offered"][1] == {"code": "es", "name": "Spanish"}
    [vi] = body["unavailable"]
    assert vi["code"] == "vi" and vi["why"] == "no running engine translates en->vi", vi
    assert body["routes"] == [{"source": "en", "target": "es", "engine": "apertium", "kind": "text"}]

    # The page's config (lobby and meeting menu) says the same, for the room and for an invite to it.
    page = client.get("/api/config", params={"room": "sync"}).json()
    assert page["room"] == "sync" and codes(page["languages"]) == ["en", "es"]
    assert [(u["code"], u["why"]) for u in page["unavailable"]] == [("vi", vi["why"])]
    code = client.post("/api/v1/rooms/sync/invites", json={}, headers=admin).json()["code"]
    by_invite = client.get("/api/config", params={"invite": code}).json()
    assert by_invite["room"] == "sync" and by_invite["languages"] == page["languages"]
    unknown = client.get("/api/config", params={"invite": "no-such-invite-code"}).json()
    assert unknown["room"] is None  # the deployment's offer; opening the invite fails clearly later

    # A join asking for Vietnamese is refused with the reason; Spanish and the spoken language are fine.
    refused = client.post(
        "/api/v1/rooms/sync/tokens", json={"name": "Lan", "caption_lang": "vi"}, headers=admin
    )
    assert_error(refused, 422, "invalid")
    message = refused.json()["error"]["message"]
    assert "Vietnamese" in message and "en->vi" in message and "offered: source, en, es" in message
    for lang in ("es", "en", "source"):
        ok = client.post(
            "/api/v1/rooms/sync/tokens", json={"name": "Ana", "caption_lang": lang}, headers=admin
        )
        assert ok.status_code == 201, ok.text
    joined = client.post(f"/api/v1/invites/{code}/join", json={"name": "Lan", "caption_lang": "vi"})
    assert_error(joined, 422, "invalid")
    assert "en->vi" in joined.json()["error"]["message"]

    # A host sees the same for their own room; a guest does not.
    host = join_token("sync", "hana", "host")
    assert client.get("/api/v1/rooms/sync/languages", headers=bearer(host)).json() == body
    guest = join_token("sync", "gus", "guest")
    assert client.get("/api/v1/rooms/sync/languages", headers=bearer(guest)).status_code == 403


def test_the_offer_follows_the_engines(client: TestClient, admin: dict[str, str]) -> None:
    new_room(client, admin, "eng", ["en"], ["es", "ca"])
    # No translate replica has reported: only the spoken language.
    body = client.get("/api/v1/rooms/eng/languages", headers=admin).json()
    assert codes(body["offered"]) == ["en"] and set(codes(body["unavailable"])) == {"es", "ca"}
    # A report too old (its replica is gone) does not count; a fresh one does.
    advertise([ApertiumEngine().info()], at=time.time() - 3600)
    assert codes(client.get("/api/v1/rooms/eng/languages", headers=admin).json()["offered"]) == ["en"]
    advertise([EngineInfo(name="apertium", kind="text", pairs=["en-es"])])
    body = client.get("/api/v1/rooms/eng/languages", headers=admin).json()
    assert codes(body["offered"]) == ["en", "es"] and codes(body["unavailable"]) == ["ca"]

    # Several spoken languages: a language is offered only if every one of them reaches it.
    new_room(client, admin, "mixed", ["en", "es"], ["en", "es", "ca"])
    body = client.get("/api/v1/rooms/mixed/languages", headers=admin).json()
    assert codes(body["offered"]) == ["es"], body  # es->en is not in the report above
    why = {u["code"]: u["why"] for u in body["unavailable"]}
    assert why == {
        "en": "no running engine translates es->en",
        "ca": "no running engine translates en->ca, es->ca",
    }

    engines = client.get("/api/v1/languages", headers=admin)
    assert engines.status_code == 200, engines.text
    [engine] = engines.json()["engines"]
    assert (
        engine["replica"] == "translate-1" and engine["name"] == "apertium" and engine["pairs"] == ["en-es"]
    )
    assert client.get("/api/v1/languages", headers=bearer(join_token("eng", "h", "host"))).status_code == 403


def test_a_language_the_room_does_not_list_is_refused_too(client: TestClient, admin: dict[str, str]) -> None:
    advertise([ApertiumEngine().info()])
    new_room(client, admin, "narrow", ["en"], ["es"])
    refused = client.post(
        "/api/v1/rooms/narrow/tokens", json={"name": "C", "caption_lang": "ca"}, headers=admin
    )
    assert_error(refused, 422, "invalid")
    assert "not one of this room's caption languages" in refused.json()["error"]["message"]


def test_speech_translation_reaches_english_from_any_spoken_language(
    client: TestClient, admin: dict[str, str]
) -> None:
    """A room spoken in Vietnamese and English: English is offered, Vietnamese through Whisper's
    speech translation (an STT replica reports it); Spanish is not (no engine reaches it from vi)."""
    from parley_stt.speech_translate import engine_info

    advertise([ApertiumEngine().info()])

    async def stt_report() -> None:
        r = aioredis.from_url(REDIS_URL)
        try:
            await routes.advertise(r, "stt", "stt-1", [engine_info("base")])
        finally:
            await r.aclose()

    asyncio.run(stt_report())
    new_room(client, admin, "vien", ["vi", "en"], ["en", "es", "vi"])
    body = client.get("/api/v1/rooms/vien/languages", headers=admin).json()
    assert codes(body["offered"]) == ["en"]
    assert body["routes"] == [
        {"source": "vi", "target": "en", "engine": "whisper-translate", "kind": "speech"}
    ]
    why = {u["code"]: u["why"] for u in body["unavailable"]}
    assert why == {"vi": "no running engine translates en->vi", "es": "no running engine translates vi->es"}
    engines = {
        (e["replica"], e["name"]) for e in client.get("/api/v1/languages", headers=admin).json()["engines"]
    }
    assert engines == {("translate-1", "apertium"), ("stt-1", "whisper-translate")}

"""Malformed input from every side: Redis entries, client messages, display names, and what ends
up in the logs."""

from __future__ import annotations

import asyncio

import gateway_attacks as attacks
import redis.asyncio as aioredis
from attack_kit import Deployment
from parley_common import keys
from parley_gateway.db.engine import Database
from parley_gateway.persister import Persister, PersisterSettings
from security_helpers import DATABASE_URL, REDIS_URL, assert_refused


async def test_compromised_service_ends_a_rooms_caption_feed(dep: Deployment) -> None:
    assert_refused(await attacks.malformed_caption_entry(dep))


async def test_compromised_service_crash_loops_the_persister(dep: Deployment) -> None:
    """A malformed entry on persist:captions stopped the persister (and again at every restart)."""
    r = aioredis.from_url(REDIS_URL)
    db = Database(DATABASE_URL, pool_size=2)
    room = await dep.new_room("persist-poison")
    try:
        await r.xadd(keys.PERSIST_CAPTIONS, {**attacks.caption(room, 0).to_fields(), "eos": "NaN-ish"})
        await r.xadd(keys.PERSIST_CAPTIONS, attacks.caption(room, 1).to_fields())
        settings = PersisterSettings(
            redis_url=REDIS_URL, database_url=DATABASE_URL, instance="p-sec", sfu_events=False
        )
        p = Persister(r, db, settings)
        await p.ensure()
        crashed = ""
        try:
            while await asyncio.wait_for(p.step(block_ms=None), 10):
                pass
        except Exception as exc:
            crashed = f"{type(exc).__name__}: {exc}"
        transcript = (await dep.admin("GET", f"/api/v1/rooms/{room}/transcript")).json()
        utts = [line["caption_id"] for line in transcript.get("lines", [])]
        dead = [f[b"reason"].decode() for _, f in await r.xrange(keys.DEAD_LETTERS)]
    finally:
        await db.close()
        await r.aclose()
    print(f"[attack] malformed persist entry: crashed={crashed or 'no'}; stored {utts}; dead letters {dead}")
    assert not crashed and utts == [f"{room}/alice/1"] and dead


async def test_guest_sends_deeply_nested_json_on_the_caption_socket(dep: Deployment) -> None:
    assert_refused(await attacks.nested_json(dep))


async def test_guest_injects_subtitle_cues_through_its_display_name(dep: Deployment) -> None:
    assert_refused(await attacks.name_injection(dep))


async def test_attacker_reads_join_tokens_and_invite_codes_from_the_logs(dep: Deployment) -> None:
    assert_refused(await attacks.secrets_in_logs(dep))


async def test_guest_fills_a_room_by_reopening_its_invite(dep: Deployment) -> None:
    assert_refused(await attacks.invite_room_fill(dep))


async def test_attacker_posts_a_huge_request_body(dep: Deployment) -> None:
    assert_refused(await attacks.huge_body(dep))


async def test_attacker_frames_the_meeting_page_or_injects_a_script(dep: Deployment) -> None:
    assert_refused(await attacks.page_headers(dep))


async def test_guest_floods_the_caption_socket_with_messages(dep: Deployment) -> None:
    assert_refused(await attacks.caption_message_flood(dep))


async def test_guest_resumes_from_an_impossible_event_id(dep: Deployment) -> None:
    assert_refused(await attacks.bad_since(dep))

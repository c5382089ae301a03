"""Attacks on the gateway: the caption socket, the admin API, invites and logins. Each answers
(refused, what happened); tests/security/test_gateway_*.py run them against a test deployment,
`make attack` against `make run`'s."""

from __future__ import annotations

import time

from attack_kit import Deployment, attack
from parley_common import keys
from parley_common.schemas import Caption, CaptionType, Word

SPOKEN = "and so we agreed that the budget for the second quarter goes to the translation work first"


def caption(room: str, i: int, kind: CaptionType = CaptionType.FINAL, lang: str = "en") -> Caption:
    """A caption the size the STT publishes (a dozen words with timings)."""
    words = [
        Word(w=w, start=3.0 * i + 0.2 * k, end=3.0 * i + 0.2 * k + 0.18) for k, w in enumerate(SPOKEN.split())
    ]
    return Caption(
        type=kind,
        id=keys.caption_id(room, "alice", i),
        room=room,
        speaker="alice",
        speaker_name="Alice",
        utt=i,
        rev=0,
        lang=lang,
        text=SPOKEN,
        source_lang="en",
        source_text=SPOKEN,
        start=3.0 * i,
        end=3.0 * i + 2.8,
        words=words,
    )


async def fill_captions(dep: Deployment, room: str, finals: int, partials_per_final: int = 0) -> None:
    """A meeting's history on the room's captions stream, as the STT leaves it."""
    r = dep.redis()
    try:
        async with r.pipeline(transaction=False) as pipe:
            for i in range(finals):
                for _ in range(partials_per_final):
                    pipe.xadd(keys.captions_stream(room), caption(room, i, CaptionType.PARTIAL).to_fields())
                pipe.xadd(keys.captions_stream(room), caption(room, i).to_fields())
            await pipe.execute()
    finally:
        await r.aclose()


async def guest_token(dep: Deployment, room: str, name: str = "Mallory") -> str:
    code = await dep.invite(room)
    resp = await dep.join_invite(code, name)
    resp.raise_for_status()
    return str(resp.json()["token"])


async def backfill_langs(dep: Deployment, room: str) -> dict[str, int]:
    """Backfill jobs queued for `room`, per language."""
    r = dep.redis()
    try:
        out: dict[str, int] = {}
        for _, fields in await r.xrange(keys.TRANSLATE_JOBS_BACKFILL):
            c = Caption.from_fields(fields)
            if c.room == room:
                lang = fields[b"lang"].decode()
                out[lang] = out.get(lang, 0) + 1
        return out
    finally:
        await r.aclose()


@attack("guest asks for captions in made-up languages")
async def made_up_caption_languages(dep: Deployment) -> tuple[bool, str]:
    """Each made-up language would be translated for every caption from then on, backfilled for
    every earlier final, kept in captions:{room} (pushing real history out) and stored in Postgres."""
    room = await dep.new_room("amplify")
    await fill_captions(dep, room, 20)
    fake = [f"x{chr(97 + i)}{chr(97 + j)}" for i in range(5) for j in range(6)]
    async with await dep.captions(room, await guest_token(dep, room)) as ws:
        await ws.until("hello")
        for lang in fake:
            await ws.send({"type": "set_lang", "lang": lang})
        replies = [await ws.next(5) for _ in fake]
    r = dep.redis()
    try:
        wanted = {x.decode() for x in await r.zrange(keys.room_languages(room), 0, -1)}
    finally:
        await r.aclose()
    queued = await backfill_langs(dep, room)
    accepted = sorted((set(fake) & wanted) | (set(fake) & set(queued)))
    errors = sum(1 for m in replies if m and m.get("type") == "error")
    return not accepted and errors == len(fake), (
        f"{len(accepted)} of {len(fake)} made-up languages accepted "
        f"({sum(queued.values())} backfill jobs queued); {errors} refused"
    )


@attack("guest switches caption language as fast as it can")
async def language_switch_flood(dep: Deployment) -> tuple[bool, str]:
    """Every switch to a language asks the translators for each earlier final again."""
    room = await dep.new_room("switch-flood", caption_languages=["es", "ca"])
    await fill_captions(dep, room, 50)
    async with await dep.captions(room, await guest_token(dep, room)) as ws:
        await ws.until("hello")
        for i in range(60):
            await ws.send({"type": "set_lang", "lang": ("es", "ca", "source")[i % 3]})
        replies = []
        while (m := await ws.next(3)) is not None:
            replies.append(m)
    limited = sum(1 for m in replies if m.get("type") == "error" and "too many" in str(m.get("error")))
    queued = sum((await backfill_langs(dep, room)).values())
    # Two languages x 50 earlier finals is all the translators ever need to be asked for.
    return queued <= 2 * 50 and limited > 0, (
        f"60 switches: {queued} backfill jobs queued for 50 earlier finals, {limited} switches rate-limited"
    )


@attack("guest stalls the gateway with language switches on a long meeting")
async def language_switch_stall(dep: Deployment) -> tuple[bool, str]:
    """Each switch used to read and parse the whole captions stream (~11 MB, ~1 s of CPU) on the
    gateway's one event loop: every other socket and request waited. Measured as the gateway's
    CPU time per switch once the room's history is indexed (the first switch waits for that)."""
    langs = ("es", "ca", "gl", "vi")
    room = await dep.new_room("stall", caption_languages=list(langs))
    await fill_captions(dep, room, 2000, partials_per_final=4)
    async with await dep.captions(room, await guest_token(dep, room)) as ws:
        await ws.until("hello", 20)
        await ws.send({"type": "set_lang", "lang": "source"})
        await ws.until("lang", 30)
        cpu0, _ = await dep.gateway_process()
        t0 = time.perf_counter()
        for lang in langs * 2:
            await ws.send({"type": "set_lang", "lang": lang})
        replies = 0
        while replies < 2 * len(langs) and await ws.until("lang", 30) is not None:
            replies += 1
        wall = time.perf_counter() - t0
        cpu1, _ = await dep.gateway_process()
    per_switch = (cpu1 - cpu0) / (2 * len(langs))
    return per_switch < 0.05 and replies == 2 * len(langs), (
        f"{replies} switches on a 10,000-event stream: {per_switch * 1000:.0f} ms of gateway CPU each "
        f"({wall:.1f} s wall for all)"
    )

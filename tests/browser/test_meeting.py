"""The meeting UI in real Chromium: two participants, A's camera on B's page (and off again), live
Spanish captions of A's speech on B's page from her first word, the transcript panel and its .vtt,
a language switch that turns the earlier lines too, a gateway restart and an SFU crash mid-meeting.
Everything runs in a loopback-only network namespace (root), as the media tests do.

One scenario (each step builds on the meeting the last one left), in named steps: the test reads
as their list, and each step's docstring says what it proves."""

from __future__ import annotations

import itertools
import re
import time
import wave
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis
from browser_helpers import (
    ARTIFACTS,
    CHROMIUM,
    CHROMIUM_ARGS,
    CLIPS,
    LIBRIVOX,
    MIC_OPEN_PROBE,
    BrowserWorld,
    browser_world,
    first_audio,
    last_audio_ts,
    read_references,
    skip_reason,
    source_finals,
    speech_wav,
    wait_on_page,
    wav_pcm,
    wav_position,
)
from parley_common import keys
from parley_common.schemas import Caption, CaptionType
from parley_testkit.wer import normalize, wer

pytestmark = pytest.mark.skipif(skip_reason() is not None, reason=skip_reason() or "")
SPANISH_WORDS = {
    "de",
    "la",
    "el",
    "que",
    "y",
    "en",
    "a",
    "para",
    "no",
    "un",
    "una",
    "los",
    "las",
    "su",
    "era",
    "ser",
}
LEAD_S = 6.0  # room tone before the first clip: Alice's lobby and join fit in it (took 0.57-2.39 s)
FIRST_WER = 0.05  # the first utterance, whole: 0 errors here; its first 0.74 s lost gave 2 of 22 (0.091)
VTT_TIME = re.compile(r"^(\d\d):(\d\d):(\d\d)\.(\d{3}) --> (\d\d):(\d\d):(\d\d)\.(\d{3})")


@pytest.fixture(scope="module")
def world() -> Iterator[BrowserWorld]:
    with browser_world() as w:
        yield w


def substring_errors(ref: list[str], hyp: list[str]) -> int:
    """Word edits between `hyp` and its best-matching stretch of `ref` (a final may cover part of a
    clip)."""
    prev = [0] * (len(ref) + 1)  # hyp may start anywhere in ref
    for i, hw in enumerate(hyp, 1):
        cur = [i] + [0] * len(ref)
        for j, rw in enumerate(ref, 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (hw != rw))
        prev = cur
    return min(prev)  # ...and end anywhere


def source_wer(sources: list[str]) -> float:
    refs = read_references()
    loop = normalize(" ".join(refs[c] for c in CLIPS) * 2)
    words = errors = 0
    for text in sources:
        hyp = normalize(text)
        words += len(hyp)
        errors += substring_errors(loop, hyp)
    return errors / max(1, words)


def finals(page: Any) -> list[dict[str, str]]:
    rows: list[dict[str, str]] = page.eval_on_selector_all(
        "[data-testid=transcript] li",
        """els => els.map(e => ({id: e.dataset.id, lang: e.dataset.lang, source: e.title,
            who: e.querySelector('.who').textContent, text: e.querySelector('.text').textContent}))""",
    )
    return rows


def join_listening(page: Any, name: str, lang: str) -> None:
    """From the lobby: name, caption language, no microphone (listen only), join, wait until live."""
    page.get_by_test_id("lobby-name").fill(name)
    page.get_by_test_id("lobby-lang").select_option(lang)
    wait_until(
        f"{name}'s microphones listed",
        lambda: page.get_by_test_id("lobby-mic").locator("option").count() > 1,
        15,
        page,
    )
    page.get_by_test_id("lobby-mic").select_option("")  # listen only
    page.get_by_test_id("join").click()
    wait_until(f"{name}'s status to be connected", lambda: status_is(page, "live"), 30, page)


def wait_until(what: str, check: Any, timeout: float, page: Any) -> Any:
    return wait_on_page(what, check, timeout, page, ARTIFACTS)


def parse_vtt(text: str) -> list[tuple[float, float, str]]:
    lines = text.splitlines()
    assert lines[0] == "WEBVTT", lines[:2]
    cues = []
    for i, line in enumerate(lines):
        m = VTT_TIME.match(line)
        if m:
            g = [int(x) for x in m.groups()]
            start = g[0] * 3600 + g[1] * 60 + g[2] + g[3] / 1000
            end = g[4] * 3600 + g[5] * 60 + g[6] + g[7] / 1000
            cues.append((start, end, lines[i + 1]))
    return cues


def video_state(page: Any, name: str) -> dict[str, Any] | None:
    """What `page` shows in the tile of `name`: a video element (its size, decoded frames, time) or the
    avatar."""
    state: dict[str, Any] | None = page.evaluate(
        """name => {
        const tile = [...document.querySelectorAll('[data-testid=tile]')].find(t => t.textContent.includes(name));
        if (!tile) return null;
        const v = tile.querySelector('video');
        const avatar = tile.querySelector('.avatar');
        return {video: Boolean(v), width: v ? v.videoWidth : 0, time: v ? v.currentTime : 0,
                frames: v ? v.getVideoPlaybackQuality().totalVideoFrames : 0,
                avatar: Boolean(avatar) && getComputedStyle(avatar).display !== 'none'};
        }""",
        name,
    )
    return state


def status_is(page: Any, state: str, word: str = "") -> bool:
    pill = page.get_by_test_id("status")
    return bool(pill.get_attribute("data-state") == state and word in pill.inner_text().lower())


@dataclass
class Meeting:
    """What every step of the scenario works with: the two browsers' pages, and the world."""

    world: BrowserWorld
    alice: Any
    bob: Any
    bob_browser: Any
    wav: Path

    @property
    def join_url(self) -> str:
        return f"{self.world.base_url}/join/{self.world.invite}"

    @property
    def room_link(self) -> str:
        return f"{self.world.base_url}/rooms/{self.world.room}?invite={self.world.invite}"

    @property
    def redis_url(self) -> str:
        return self.world.media.redis_url


@pytest.mark.timeout(420)
def test_two_people_meet_with_translated_captions(world: BrowserWorld, tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    wav = speech_wav(tmp_path / "alice.wav", lead_s=LEAD_S)
    with sync_playwright() as pw:
        alice_browser = pw.chromium.launch(
            executable_path=CHROMIUM, args=[*CHROMIUM_ARGS, f"--use-file-for-fake-audio-capture={wav}"]
        )
        bob_browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            alice_context = alice_browser.new_context(viewport={"width": 1280, "height": 800})
            alice_context.add_init_script(MIC_OPEN_PROBE)
            alice = alice_context.new_page()
            bob = bob_browser.new_context(
                viewport={"width": 1280, "height": 800}, accept_downloads=True
            ).new_page()
            for name, page in (("alice", alice), ("bob", bob)):
                page.on("console", lambda m, n=name: print(f"[{n} console] {m.type}: {m.text}"))
            m = Meeting(world, alice, bob, bob_browser, wav)
            bob_joins_listening_in_spanish(m)
            alice_joins_with_her_camera_on(m)
            alice_video_plays_on_bobs_page_and_turns_off(m)
            spanish = spanish_captions_of_alice_reach_bob(m)
            the_first_utterance_is_whole(m, spanish)
            the_transcript_searches_and_exports(m, spanish)
            switching_to_english_turns_the_earlier_lines(m)
            a_gateway_restart_is_ridden_out(m)
            an_sfu_crash_is_ridden_out(m)
            back_to_spanish_every_line_ends_spanish(m)
            a_late_listener_never_sees_earlier_lines(m)
            mute_and_leave(m)
        finally:
            alice_browser.close()
            bob_browser.close()


def bob_joins_listening_in_spanish(m: Meeting) -> None:
    """Bob is in the room first (Spanish captions, listen only), so he reads Alice from her first word."""
    world, bob, room_link = m.world, m.bob, m.room_link
    bob.goto(room_link)
    assert world.room in bob.get_by_test_id("lobby-room").inner_text()
    # The lobby offers what the engines deliver from English; Vietnamese is shown, disabled, with why.
    vi = bob.locator("[data-testid=lobby-lang] option[value=vi]")
    assert vi.is_disabled() and "en->vi" in (vi.get_attribute("title") or ""), vi.get_attribute("title")
    assert bob.locator("[data-testid=lobby-lang] option[value=es]").is_enabled()
    join_listening(bob, "Bob", "es")
    assert bob.url.endswith(f"/rooms/{world.room}")


def alice_joins_with_her_camera_on(m: Meeting) -> None:
    """Alice's lobby (the invite link): level meter, camera preview; she joins with her camera on."""
    alice, bob, join_url = m.alice, m.bob, m.join_url
    alice.goto(join_url)
    alice.get_by_test_id("lobby-name").fill("Alice")
    alice.get_by_test_id("lobby-lang").select_option("en")
    wait_until(
        "Alice's level meter to move",
        lambda: int(alice.get_by_test_id("meter").get_attribute("aria-valuenow") or 0) > 0,
        15,
        alice,
    )
    alice.get_by_test_id("lobby-camera").select_option(index=1)
    wait_until(
        "Alice's camera preview to play",
        lambda: alice.eval_on_selector("[data-testid=lobby-preview]", "v => v.videoWidth") > 0,
        15,
        alice,
    )
    alice.screenshot(path=str(ARTIFACTS / "lobby.png"))
    alice.get_by_test_id("join").click()
    bob.locator("[data-testid=tile]", has_text="Alice").wait_for(timeout=30_000)
    alice.locator("[data-testid=tile]", has_text="Bob").wait_for(timeout=30_000)


def alice_video_plays_on_bobs_page_and_turns_off(m: Meeting) -> None:
    """Video: B sees A's camera playing; off, B's tile shows the avatar; on again from the meeting."""
    alice, bob = m.alice, m.bob

    def playing() -> dict[str, Any] | None:
        v = video_state(bob, "Alice")
        return v if v and v["video"] and v["width"] > 0 and v["frames"] > 0 else None

    def avatar() -> bool:
        v = video_state(bob, "Alice")
        return bool(v and not v["video"] and v["avatar"])

    first = wait_until("Alice's video playing on B's page", playing, 30, bob)
    bob.wait_for_timeout(1000)
    later = playing()
    assert later and later["frames"] > first["frames"] and later["time"] > first["time"], (
        first,
        later,
    )
    assert not later["avatar"]
    bob.screenshot(path=str(ARTIFACTS / "meeting-video.png"))
    camera = alice.get_by_test_id("camera")
    assert camera.get_attribute("aria-pressed") == "true"
    camera.click()
    wait_until("B's tile of Alice back to the avatar", avatar, 15, bob)
    assert camera.get_attribute("aria-pressed") == "false"
    camera.click()
    again = wait_until("Alice's video again after turning it on", playing, 30, bob)
    camera.click()  # off for the rest: two browsers' VP8 competes with Whisper for 2 cores
    wait_until("B's tile of Alice back to the avatar", avatar, 15, bob)
    print(
        f"video on B's page: {first['width']} px wide, {later['frames'] - first['frames']} frames in 1 s; again: {again}"
    )


def spanish_captions_of_alice_reach_bob(m: Meeting) -> list[dict[str, str]]:
    """Captions: B gets Spanish finals of A's speech, named "Alice"."""
    bob = m.bob
    spanish = wait_until(
        "three Spanish finals on B's page",
        lambda: (rows := [r for r in finals(bob) if r["lang"] == "es"]) and len(rows) >= 3 and rows,
        120,
        bob,
    )
    wait_until("a tile to show speaking", lambda: bob.locator(".tile.speaking").count() > 0, 20, bob)
    bob.locator(".cap").first.wait_for(timeout=10_000)
    bob.get_by_test_id("show-original").check()
    bob.screenshot(path=str(ARTIFACTS / "meeting-spanish.png"))
    assert {r["who"] for r in spanish} == {"Alice:"}, spanish
    assert all(r["source"] and r["text"] != r["source"] for r in spanish), spanish
    es_words = {w for r in spanish for w in normalize(r["text"])}
    assert es_words & SPANISH_WORDS, spanish
    error = source_wer([r["source"] for r in spanish])
    print(f"source WER of {len(spanish)} Spanish finals: {error:.3f}", spanish)
    assert error <= 0.25, (error, spanish)
    assert bob.locator(".cap").count() <= 3
    return spanish


def the_first_utterance_is_whole(m: Meeting, spanish: list[dict[str, str]]) -> None:
    """The first words: the WAV started when Alice's lobby opened the mic; her first packet came before
    the clip's speech did, and the first utterance is whole on B's page."""
    world, alice, wav, redis_url = m.world, m.alice, m.wav, m.redis_url
    opened = alice.evaluate("window.__micOpened")
    first_ts, received = first_audio(redis_url, world.room, "Alice")
    position, corr = wav_position(received, wav_pcm(wav))
    print(
        f"Alice's mic opened -> first audio at the gateway: {first_ts - opened[-1]:.3f} s; first received "
        f"sample = WAV position {position:.3f} s (correlation {corr:.2f}); the first clip starts at {LEAD_S} s"
    )
    assert corr > 0.5, corr
    assert position < LEAD_S, f"Alice's first packet came {position:.2f} s into the WAV: raise LEAD_S"
    sources = source_finals(redis_url, world.room)
    earliest = min(sources.values(), key=lambda c: c.start)
    with wave.open(str(LIBRIVOX / f"{CLIPS[0]}.wav")) as w:
        clip_s = w.getnframes() / w.getframerate()
    first_utt = sorted(
        (r for r in spanish if sources[r["id"]].start < earliest.start + clip_s + 1.0),
        key=lambda r: sources[r["id"]].start,
    )
    assert first_utt and first_utt[0]["id"] == earliest.id, (earliest, spanish)
    heard = " ".join(r["source"] for r in first_utt)
    first_error = wer([read_references()[CLIPS[0]]], [heard])
    print(f"first utterance on B's page (WER {first_error:.3f}): {heard!r}")
    assert first_error <= FIRST_WER, (first_error, heard)


def the_transcript_searches_and_exports(m: Meeting, spanish: list[dict[str, str]]) -> None:
    """The transcript panel lists them, is searchable, and its .vtt parses with increasing timings."""
    bob = m.bob
    word = normalize(spanish[0]["text"])[-1]
    bob.get_by_test_id("search").fill(word)
    assert bob.locator("[data-testid=transcript] li mark").count() >= 1
    bob.get_by_test_id("search").fill("")
    with bob.expect_download() as dl:
        bob.get_by_test_id("download-vtt").click()
    vtt_path = ARTIFACTS / "transcript-es.vtt"
    dl.value.save_as(vtt_path)
    cues = parse_vtt(vtt_path.read_text())
    assert len(cues) >= len(spanish), cues
    assert all(start < end for start, end, _ in cues), cues
    assert all(a[0] < b[0] for a, b in itertools.pairwise(cues)), cues
    assert all(c[2].startswith("<v Alice>") for c in cues), cues


def switching_to_english_turns_the_earlier_lines(m: Meeting) -> None:
    """B switches to English: the earlier lines turn English (as spoken), the next captions are English."""
    bob = m.bob
    before = {r["id"]: r for r in finals(bob)}
    bob.get_by_test_id("lang").select_option("en")
    wait_until(
        "B's earlier lines in English",
        lambda: all(r["lang"] == "en" for r in finals(bob) if r["id"] in before),
        20,
        bob,
    )
    for r in finals(bob):
        if r["id"] in before:
            assert r["text"] == before[r["id"]]["source"] and r["source"] == "", (r, before[r["id"]])
    assert bob.locator("[data-testid=transcript] [data-pending]").count() == 0
    live_langs = bob.eval_on_selector_all(".cap.final", "els => els.map(e => [e.dataset.id, e.dataset.lang])")
    assert all(lang == "en" for cid, lang in live_langs if cid in before), live_langs
    english = wait_until(
        "a new English final",
        lambda: [r for r in finals(bob) if r["id"] not in before and r["lang"] == "en"],
        60,
        bob,
    )
    first_en = english[0]["id"]
    after_switch = [r for r in finals(bob) if r["id"] not in before]
    later_rows = after_switch[[r["id"] for r in after_switch].index(first_en) :]
    assert all(r["lang"] == "en" for r in later_rows), after_switch
    assert source_wer([r["text"] for r in english]) <= 0.35, english


def a_gateway_restart_is_ridden_out(m: Meeting) -> None:
    """The gateway restarts mid-meeting: B says so, recovers by itself, captions go on."""
    world, bob = m.world, m.bob
    seen = {r["id"] for r in finals(bob)}
    world.stop_gateway()
    wait_until("B to show reconnecting captions", lambda: status_is(bob, "reconnecting", "captions"), 15, bob)
    bob.screenshot(path=str(ARTIFACTS / "meeting-reconnecting.png"))
    world.start_gateway()
    wait_until("B to reconnect", lambda: status_is(bob, "live"), 30, bob)
    wait_until("a final after the restart", lambda: [r for r in finals(bob) if r["id"] not in seen], 60, bob)


def an_sfu_crash_is_ridden_out(m: Meeting) -> None:
    """The SFU crashes mid-meeting and comes back: B says so, both rejoin by themselves, and Alice's
    audio flows again (captions of speech after the restart)."""
    world, alice, bob, redis_url = m.world, m.alice, m.bob, m.redis_url
    seen = {r["id"] for r in finals(bob)}
    world.media.stop_sfu()
    wait_until("B to show reconnecting media", lambda: status_is(bob, "reconnecting", "media"), 15, bob)
    bob.screenshot(path=str(ARTIFACTS / "meeting-sfu-reconnecting.png"))
    world.media.start_sfu()
    back_at = time.time()
    wait_until("B to rejoin the SFU", lambda: status_is(bob, "live"), 60, bob)
    wait_until("A to rejoin the SFU", lambda: status_is(alice, "live"), 60, alice)
    bob.locator("[data-testid=tile]", has_text="Alice").wait_for(timeout=15_000)
    wait_until(
        "Alice's audio at the gateway again",
        lambda: last_audio_ts(redis_url, world.room, "Alice") > back_at,
        30,
        bob,
    )

    def spoken_after_restart() -> list[dict[str, str]]:
        src = source_finals(redis_url, world.room)
        return [
            r
            for r in finals(bob)
            if r["id"] not in seen and r["id"] in src and src[r["id"]].timing.speech_end > back_at
        ]

    wait_until("a final of speech after the SFU restart", spoken_after_restart, 60, bob)
    bob.wait_for_timeout(1500)
    rows = finals(bob)
    ids = [r["id"] for r in rows]
    assert len(ids) == len(set(ids)), ids
    live_ids = bob.eval_on_selector_all(".cap", "els => els.map(e => e.dataset.id)")
    assert len(live_ids) == len(set(live_ids)), live_ids
    texts = [(r["who"], r["text"]) for r in rows]
    print(f"B's transcript: {len(rows)} finals", texts)
    bob.screenshot(path=str(ARTIFACTS / "meeting-english.png"))


def back_to_spanish_every_line_ends_spanish(m: Meeting) -> None:
    """Back to Spanish: lines that were translated before come at once, the others (spoken while B read
    English) are translated on request; all of them end up Spanish."""
    bob = m.bob
    earlier = {r["id"]: r for r in finals(bob)}
    bob.get_by_test_id("lang").select_option("es")
    wait_until(
        "B's earlier lines in Spanish again",
        lambda: (
            all(r["lang"] == "es" for r in finals(bob) if r["id"] in earlier)
            and bob.locator("[data-testid=transcript] [data-pending]").count() == 0
        ),
        30,
        bob,
    )
    for r in finals(bob):
        if r["id"] in earlier:
            assert r["source"] == earlier[r["id"]]["text"] and r["text"] != r["source"], r
    assert len({r["id"] for r in finals(bob)}) == len(finals(bob))


def a_late_listener_never_sees_earlier_lines(m: Meeting) -> None:
    """Carol joins late; the meeting menu offers no language an engine cannot deliver. She switches to
    Galician: the earlier lines are translated for the room, but those said before she joined never
    appear on her page, neither as lines nor in her transcript."""
    world, bob_browser, room_link, redis_url = m.world, m.bob_browser, m.room_link, m.redis_url
    carol = bob_browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
    carol.goto(room_link)
    join_listening(carol, "Carol", "source")
    assert carol.locator("[data-testid=lang] option[value=vi]").is_disabled()
    before_carol = set(source_finals(redis_url, world.room))
    carol.get_by_test_id("lang").select_option("gl")

    def gl_of_earlier() -> bool:
        r = redis.Redis.from_url(redis_url)
        gl = {
            c.id
            for _, f in r.xrange(keys.captions_stream(world.room))
            if (c := Caption.from_fields(f)).type is CaptionType.FINAL and c.lang == "gl"
        }
        return before_carol <= gl

    wait_until("the earlier lines translated into gl", gl_of_earlier, 30, carol)
    # A final published after those translations reaches her after them (one stream, in order).
    after_gl = set(source_finals(redis_url, world.room))
    wait_until(
        "a final on C's page published after the gl translations",
        lambda: [r for r in finals(carol) if r["id"] not in after_gl],
        60,
        carol,
    )
    carol_ids = {r["id"] for r in finals(carol)} | set(
        carol.eval_on_selector_all(".cap", "els => els.map(e => e.dataset.id)")
    )
    assert not carol_ids & before_carol, (carol_ids, before_carol)
    carol.close()


def mute_and_leave(m: Meeting) -> None:
    """Mute and leave."""
    alice, bob = m.alice, m.bob
    alice.get_by_test_id("mute").click()
    assert alice.get_by_test_id("mute").get_attribute("aria-pressed") == "true"
    bob.locator("[data-testid=tile]", has_text="muted").wait_for(timeout=10_000)
    alice.get_by_test_id("leave").click()
    wait_until(
        "Alice's tile to go",
        lambda: bob.locator("[data-testid=tile]", has_text="Alice").count() == 0,
        15,
        bob,
    )

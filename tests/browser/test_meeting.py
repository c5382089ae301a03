"""The meeting UI in real Chromium: two participants, live Spanish captions of A's speech on B's
page, the transcript panel and its .vtt, a language switch, and a gateway restart mid-meeting.
Everything runs in a loopback-only network namespace (root), as the media tests do."""

from __future__ import annotations

import itertools
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from browser_helpers import (
    ARTIFACTS,
    CHROMIUM,
    CHROMIUM_ARGS,
    CLIPS,
    BrowserWorld,
    browser_world,
    read_references,
    skip_reason,
    speech_wav,
)
from parley_common.wer import normalize

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
VTT_TIME = re.compile(r"^(\d\d):(\d\d):(\d\d)\.(\d{3}) --> (\d\d):(\d\d):(\d\d)\.(\d{3})")


@pytest.fixture(scope="module")
def world() -> Iterator[BrowserWorld]:
    with browser_world() as w:
        yield w


def substring_errors(ref: list[str], hyp: list[str]) -> int:
    """Word edits between `hyp` and its best-matching stretch of `ref` (a final may cover part of a clip)."""
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


def wait_until(what: str, check: Any, timeout: float, page: Any) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            page.screenshot(path=str(ARTIFACTS / "failure.png"))
            raise AssertionError(f"timed out waiting for {what}")
        page.wait_for_timeout(250)


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


@pytest.mark.timeout(280)
def test_two_people_meet_with_translated_captions(world: BrowserWorld, tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    wav = speech_wav(tmp_path / "alice.wav")
    join_url = f"{world.base_url}/join/{world.invite}"
    room_link = f"{world.base_url}/rooms/{world.room}?invite={world.invite}"
    with sync_playwright() as pw:
        alice_browser = pw.chromium.launch(
            executable_path=CHROMIUM, args=[*CHROMIUM_ARGS, f"--use-file-for-fake-audio-capture={wav}"]
        )
        bob_browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            alice = alice_browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
            bob = bob_browser.new_context(
                viewport={"width": 1280, "height": 800}, accept_downloads=True
            ).new_page()
            for name, page in (("alice", alice), ("bob", bob)):
                page.on("console", lambda m, n=name: print(f"[{n} console] {m.type}: {m.text}"))

            # Lobby: the invite link and the room link both land in this room's lobby.
            alice.goto(join_url)
            alice.get_by_test_id("lobby-name").fill("Alice")
            alice.get_by_test_id("lobby-lang").select_option("en")
            wait_until(
                "Alice's level meter to move",
                lambda: int(alice.get_by_test_id("meter").get_attribute("aria-valuenow") or 0) > 0,
                15,
                alice,
            )
            alice.screenshot(path=str(ARTIFACTS / "lobby.png"))
            alice.get_by_test_id("join").click()

            bob.goto(room_link)
            assert world.room in bob.get_by_test_id("lobby-room").inner_text()
            bob.get_by_test_id("lobby-name").fill("Bob")
            bob.get_by_test_id("lobby-lang").select_option("es")
            bob.get_by_test_id("lobby-mic").select_option("")  # listen only
            bob.get_by_test_id("join").click()

            # Meeting: each sees the other's tile; B gets Spanish captions of A's speech.
            bob.locator("[data-testid=tile]", has_text="Alice").wait_for(timeout=30_000)
            alice.locator("[data-testid=tile]", has_text="Bob").wait_for(timeout=30_000)
            assert bob.url.endswith(f"/rooms/{world.room}")
            wait_until(
                "B's status to be connected",
                lambda: bob.get_by_test_id("status").get_attribute("data-state") == "live",
                20,
                bob,
            )
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

            # The transcript panel lists them, is searchable, and its .vtt parses with increasing timings.
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

            # B switches to English: the next captions are English.
            before = {r["id"] for r in finals(bob)}
            bob.get_by_test_id("lang").select_option("en")
            english = wait_until(
                "a new English final",
                lambda: [r for r in finals(bob) if r["id"] not in before and r["lang"] == "en"],
                60,
                bob,
            )
            first_en = english[0]["id"]
            after_switch = [r for r in finals(bob) if r["id"] not in before]
            later = after_switch[[r["id"] for r in after_switch].index(first_en) :]
            assert all(r["lang"] == "en" for r in later), after_switch
            assert source_wer([r["text"] for r in english]) <= 0.35, english

            # The gateway restarts mid-meeting: B says so, recovers by itself, captions go on, no duplicates.
            seen = {r["id"] for r in finals(bob)}
            world.stop_gateway()
            wait_until(
                "B to show reconnecting",
                lambda: bob.get_by_test_id("status").get_attribute("data-state") == "reconnecting",
                15,
                bob,
            )
            bob.screenshot(path=str(ARTIFACTS / "meeting-reconnecting.png"))
            assert "captions" in bob.get_by_test_id("status").inner_text().lower()
            world.start_gateway()
            wait_until(
                "B to reconnect",
                lambda: bob.get_by_test_id("status").get_attribute("data-state") == "live",
                30,
                bob,
            )
            wait_until(
                "a final after the restart", lambda: [r for r in finals(bob) if r["id"] not in seen], 60, bob
            )
            bob.wait_for_timeout(1500)
            rows = finals(bob)
            ids = [r["id"] for r in rows]
            assert len(ids) == len(set(ids)), ids
            live_ids = bob.eval_on_selector_all(".cap", "els => els.map(e => e.dataset.id)")
            assert len(live_ids) == len(set(live_ids)), live_ids
            texts = [(r["who"], r["text"]) for r in rows]
            print(f"B's transcript: {len(rows)} finals", texts)
            bob.screenshot(path=str(ARTIFACTS / "meeting-english.png"))

            # Mute and leave.
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
        finally:
            alice_browser.close()
            bob_browser.close()

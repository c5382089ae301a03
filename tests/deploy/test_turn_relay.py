"""A WebRTC call relayed by coturn (issue 7): two participants in headless Chromium, the meeting UI
from the gateway, the SFU set to hand out TURN servers and `iceTransportPolicy: relay` at join
(TURN REST credentials from the shared secret, as the stack configures coturn). A sends a 440 Hz
tone; B must hear 440 Hz, both selected candidate pairs must be relay candidates, and coturn's own
counters must show both participants' media going through it. Everything runs in a loopback-only
network namespace (root), as the media tests do."""

from __future__ import annotations

import math
import os
import struct
import sys
import time
import wave
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from parley_testkit.procs import free_port

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "browser"))
from browser_helpers import CHROMIUM, CHROMIUM_ARGS, FRONTEND_DIST, chromium_skip_reason, wait_on_page  # noqa: E402
from media_helpers import MediaWorld, media_world  # noqa: E402
from turn_helpers import PC_STATS, RECORD_PCS, Coturn, start_coturn  # noqa: E402

LOGS = ROOT / "artifacts" / "logs" / "turn"
TONE_HZ = 440.0
SECRET = "turn-test-shared-secret-0123456789"


def skip_reason() -> str | None:
    if not Path("/usr/bin/turnserver").exists():
        return "coturn is not installed (apt-get install coturn; scripts/bootstrap.sh does)"
    return chromium_skip_reason()


pytestmark = pytest.mark.skipif(skip_reason() is not None, reason=skip_reason() or "")

# The dominant frequency of the remote audio on the page (WebAudio analyser on each <audio>).
PEAK_HZ = """
async () => {
  const el = [...document.querySelectorAll('audio')].find((a) => a.srcObject && a.srcObject.getAudioTracks().length);
  if (!el) return null;
  const ctx = new AudioContext();
  const analyser = ctx.createAnalyser();
  analyser.fftSize = 8192;
  ctx.createMediaStreamSource(el.srcObject).connect(analyser);
  await new Promise((r) => setTimeout(r, 1500));
  const bins = new Float32Array(analyser.frequencyBinCount);
  analyser.getFloatFrequencyData(bins);
  let best = 0;
  for (let i = 1; i < bins.length; i++) if (bins[i] > bins[best]) best = i;
  const hz = best * ctx.sampleRate / analyser.fftSize;
  const level = bins[best];
  await ctx.close();
  return { hz, level };
}
"""


def tone_wav(path: Path, seconds: float = 4.0, rate: int = 48000) -> Path:
    """A 440 Hz sine, 16-bit PCM (Chromium's fake capture loops it)."""
    n = int(seconds * rate)
    samples = (int(12000 * math.sin(2 * math.pi * TONE_HZ * i / rate)) for i in range(n))
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(b"".join(struct.pack("<h", s) for s in samples))
    return path


@contextmanager
def relay_world() -> Iterator[tuple[MediaWorld, Coturn]]:
    """The media tests' namespace and services, with coturn in it and the SFU handing it out.
    media_world starts the SFU with this process's environment: the TURN settings go there."""
    turn_port = free_port()
    sfu_env = {
        "TURN_URLS": f"turn:127.0.0.1:{turn_port}?transport=udp",
        "TURN_SECRET": SECRET,
        "SFU_ICE_TRANSPORT_POLICY": "relay",
    }
    saved = {k: os.environ.get(k) for k in sfu_env}
    os.environ.update(sfu_env)
    try:
        with media_world(extra_env={"PARLEY_GATEWAY_FRONTEND_DIR": str(FRONTEND_DIST)}) as world:
            turn = start_coturn(LOGS, turn_port, (45000, 45099), SECRET)
            try:
                yield world, turn
            finally:
                turn.stop()
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def wait_until(what: str, check: Any, timeout: float, page: Any) -> Any:
    return wait_on_page(what, check, timeout, page, LOGS)


def join(page: Any, url: str, mic: bool) -> None:
    page.add_init_script(RECORD_PCS)
    page.goto(url)
    if mic:  # the lobby opens the microphone first; joining before that would join without it
        wait_until(
            "the lobby's level meter to move",
            lambda: int(page.get_by_test_id("meter").get_attribute("aria-valuenow") or 0) > 0,
            15,
            page,
        )
    else:
        page.get_by_test_id("lobby-mic").select_option("")
    page.get_by_test_id("join").click()
    wait_until(
        "status live", lambda: page.get_by_test_id("status").get_attribute("data-state") == "live", 30, page
    )


@pytest.mark.timeout(180)
def test_call_is_relayed_by_coturn_with_relay_only_ice(tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    LOGS.mkdir(parents=True, exist_ok=True)
    wav = tone_wav(tmp_path / "tone.wav")
    with relay_world() as (world, turn), sync_playwright() as pw:
        room = f"turn-{os.getpid()}"
        base = f"http://127.0.0.1:{world.stack.gateway_port}/rooms/{room}"
        a_browser = pw.chromium.launch(
            executable_path=CHROMIUM, args=[*CHROMIUM_ARGS, f"--use-file-for-fake-audio-capture={wav}"]
        )
        b_browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            a = a_browser.new_page()
            b = b_browser.new_page()
            for name, page in (("a", a), ("b", b)):
                page.on("console", lambda m, n=name: print(f"[{n} console] {m.type}: {m.text}"))
            join(a, f"{base}#token={world.token(room, 'ana', 'Ana', 'guest')}", mic=True)
            join(b, f"{base}#token={world.token(room, 'ben', 'Ben', 'listener')}", mic=False)

            # B receives A's audio; wait for a few seconds of it.
            def b_received() -> int:
                return int(sum(s["received"] for s in b.evaluate(PC_STATS)))

            try:
                wait_until("B to receive 150 RTP packets", lambda: b_received() >= 150, 30, b)
            except AssertionError:
                print("A:", a.evaluate(PC_STATS), "\nB:", b.evaluate(PC_STATS))
                raise
            peak = b.evaluate(PEAK_HZ)
            a_stats, b_stats = a.evaluate(PC_STATS), b.evaluate(PC_STATS)
            print("A:", a_stats, "\nB:", b_stats, "\nB hears:", peak)

            # Every transport was made relay-only by the SFU's setting (the closed ones are
            # mediasoup-client's capability probes), and the ones carrying audio connected through
            # a relay candidate of their own.
            for who, stats, key in (("A", a_stats, "sent"), ("B", b_stats, "received")):
                transports = [s for s in stats if s["state"] != "closed"]
                assert transports and all(s["policy"] == "relay" for s in transports), (who, stats)
                media = [s for s in transports if s[key] > 0]
                assert media, f"{who} {key} no audio: {stats}"
                for s in media:
                    assert s["state"] in ("connected", "completed") and s["local"] == "relay", (who, s)
                assert sum(s[key] for s in media) >= 150, (who, stats)
            assert peak is not None and abs(peak["hz"] - TONE_HZ) < 15, peak

            # Leaving releases the allocations; coturn then logs each session's relayed packets.
            for page in (a, b):
                page.evaluate("() => window.__pcs.forEach((pc) => pc.close())")
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline:
                usage = turn.peer_usage()
                if any(u.endswith(":ana") for u in usage) and any(u.endswith(":ben") for u in usage):
                    break
                time.sleep(0.25)
            print("coturn peer usage (to client, from client):", usage)
            ana = [v for u, v in usage.items() if u.endswith(":ana")]
            ben = [v for u, v in usage.items() if u.endswith(":ben")]
            assert ana and ben, f"coturn relayed no session for both participants: {usage}"
            # A's audio went out through A's relay; B's relay brought it in.
            assert max(sp for _, sp in ana) >= 150, usage
            assert max(rp for rp, _ in ben) >= 150, usage
        finally:
            a_browser.close()
            b_browser.close()

"""The browser tests' world: the media tests' loopback-only namespace (Redis, SFU, STT, translation,
gateway serving the built frontend) plus Postgres for rooms and invites, reached through its Unix
socket (a Unix socket is not bound to a network namespace), and Chromium driven by Playwright."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import urllib.request
import wave
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import redis
from parley_common import keys
from parley_common.schemas import AudioFrame, Caption, CaptionType
from parley_testkit.procs import ServiceProc

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "media"))
from media_helpers import MediaWorld, media_world  # noqa: E402
from media_helpers import skip_reason as media_skip_reason  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
PG_SOCKET_DIR = "/var/run/postgresql"
DATABASE_URL = f"postgresql+asyncpg://postgres@/parley_browser_test?host={PG_SOCKET_DIR}"
FRONTEND_DIST = ROOT / "frontend" / "dist"
ARTIFACTS = ROOT / "artifacts" / "browser"
LIBRIVOX = Path("/usr/share/pocketsphinx/test/data/librivox")
CHROMIUM_ARGS = [
    "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream",
    "--autoplay-policy=no-user-gesture-required",
    "--allow-loopback-in-peer-connection",
    "--disable-features=WebRtcHideLocalIpsWithMdns",
]


def chromium_skip_reason() -> str | None:
    """Why the meeting UI cannot be driven in Chromium on loopback here (None: it can)."""
    reason = media_skip_reason()
    if reason:
        return str(reason)
    if not Path(CHROMIUM).exists():
        return "Debian's chromium is not installed (apt-get install chromium)"
    try:
        import playwright  # noqa: F401
    except ImportError:
        return "playwright (Python) is not installed: pip install -r requirements.lock"
    if not (FRONTEND_DIST / "index.html").is_file():
        return "the frontend is not built: run `make frontend-build` first"
    return None


def wait_on_page(what: str, check: Any, timeout: float, page: Any, artifacts: Path) -> Any:
    """Poll check() until it is truthy; on timeout, a screenshot of page into artifacts."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            page.screenshot(path=str(artifacts / "failure.png"))
            raise AssertionError(f"timed out waiting for {what}")
        page.wait_for_timeout(250)


def skip_reason() -> str | None:
    reason = chromium_skip_reason()
    if reason:
        return reason
    if not Path(PG_SOCKET_DIR, ".s.PGSQL.5432").exists():
        return f"no Postgres socket in {PG_SOCKET_DIR} (run scripts/ensure-postgres.sh)"
    if not LIBRIVOX.is_dir():
        return "pocketsphinx-testdata is not installed (LibriVox clips)"
    return None


CLIPS = [
    "sense_and_sensibility_01_austen_64kb-0870",
    "sense_and_sensibility_01_austen_64kb-0890",
    "sense_and_sensibility_01_austen_64kb-0920",
    "sense_and_sensibility_01_austen_64kb-0930",
]


def read_references() -> dict[str, str]:
    refs = {}
    for line in (LIBRIVOX / "transcription").read_text().splitlines():
        m = re.match(r"<s>\s*(.*?)\s*</s>\s*\((.+)\)", line.strip())
        if m:
            refs[m.group(2)] = m.group(1)
    return refs


def speech_wav(path: Path, gap_s: float = 2.5, lead_s: float = 0.0) -> Path:
    """The LibriVox clips one after another with `gap_s` of silence after each (16-bit PCM, which
    Chromium's fake capture plays in a loop), after `lead_s` of quiet room tone.

    Chromium starts the file when the lobby opens the microphone, well before the participant
    joins and sends: the lead keeps the first words for after the send transport is up (what a
    person does: talk once in the meeting). Room tone (-50 dBFS noise), not digital silence, so
    the lobby's level meter still moves; far below what the VAD calls speech."""
    rate = 0
    chunks = []
    with wave.open(str(LIBRIVOX / f"{CLIPS[0]}.wav")) as w:
        tone = np.random.default_rng(5).normal(0, 100, int(lead_s * w.getframerate()))
        chunks.append(tone.astype("<i2").tobytes())
    for clip in CLIPS:
        with wave.open(str(LIBRIVOX / f"{clip}.wav")) as w:
            assert w.getnchannels() == 1 and w.getsampwidth() == 2
            rate = rate or w.getframerate()
            assert w.getframerate() == rate
            chunks.append(w.readframes(w.getnframes()))
            chunks.append(b"\0\0" * int(gap_s * rate))
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(b"".join(chunks))
    return path


# Records when the page's microphone opened (the moment Chromium's fake capture starts the WAV).
MIC_OPEN_PROBE = """
window.__micOpened = [];
const gum = navigator.mediaDevices.getUserMedia.bind(navigator.mediaDevices);
navigator.mediaDevices.getUserMedia = async (c) => {
  const s = await gum(c);
  if (c && c.audio) window.__micOpened.push(Date.now() / 1000);
  return s;
};
"""


def wav_pcm(path: Path) -> np.ndarray:
    with wave.open(str(path)) as w:
        return np.frombuffer(w.readframes(w.getnframes()), "<i2").astype(np.float32)


def audio_stream_of(r: redis.Redis, room: str, name: str) -> str:
    """The audio stream of the speaker shown as `name` (room:{room}:speakers names them)."""
    speakers = {v.decode(): k.decode() for k, v in r.hgetall(keys.room_speakers(room)).items()}
    assert name in speakers, speakers
    return keys.audio_stream(room, speakers[name])


def first_audio(redis_url: str, room: str, name: str, seconds: float = 8.0) -> tuple[float, np.ndarray]:
    """The first audio the gateway wrote for speaker `name`: its `ts` (epoch s) and PCM."""
    r = redis.Redis.from_url(redis_url)
    rows = r.xrange(audio_stream_of(r, room, name), count=int(seconds * 50))
    frames = [AudioFrame.from_fields(f) for _, f in rows]
    pcm = np.concatenate([np.frombuffer(f.pcm, "<i2") for f in frames]).astype(np.float32)
    return frames[0].ts, pcm


def last_audio_ts(redis_url: str, room: str, name: str) -> float:
    """`ts` of the newest audio frame of speaker `name`, 0 if none."""
    r = redis.Redis.from_url(redis_url)
    rows = r.xrevrange(audio_stream_of(r, room, name), count=1)
    return AudioFrame.from_fields(rows[0][1]).ts if rows else 0.0


def wav_position(received: np.ndarray, source: np.ndarray, rate: int = 16000) -> tuple[float, float]:
    """Where in `source` the first received sample lies (s), found by cross-correlating 3 s of
    received audio from its first voiced sample; and the normalised correlation (1 = identical)."""
    voiced = int(np.argmax(np.abs(received) > 300))
    seg = received[voiced : voiced + 3 * rate]
    n = 1 << int(np.ceil(np.log2(len(source) + len(seg))))
    corr = np.fft.irfft(np.fft.rfft(source, n) * np.conj(np.fft.rfft(seg, n)), n)[: len(source)]
    at = int(np.argmax(corr))
    match = source[at : at + len(seg)]
    norm = float(corr[at] / (np.linalg.norm(seg) * np.linalg.norm(match) + 1e-9))
    return (at - voiced) / rate, norm


def source_finals(redis_url: str, room: str) -> dict[str, Caption]:
    """The room's spoken-language finals (timings, original text) by caption id."""
    r = redis.Redis.from_url(redis_url)
    out = {}
    for _, fields in r.xrange(keys.captions_stream(room)):
        c = Caption.from_fields(fields)
        if c.type is CaptionType.FINAL and not c.is_translation and c.text:
            out[c.id] = c
    return out


@dataclass
class BrowserWorld:
    media: MediaWorld
    base_url: str
    room: str
    invite: str

    def restart_gateway(self) -> None:
        """Stops the gateway (captions socket and API) and starts it again on the same port."""
        stack = self.media.stack
        old = stack.procs["gateway"]
        old.kill()
        self.start_gateway()

    def stop_gateway(self) -> None:
        self.media.stack.procs["gateway"].kill()

    def start_gateway(self) -> None:
        stack = self.media.stack
        old = stack.procs["gateway"]
        env = {
            **os.environ,
            "PARLEY_REDIS_URL": stack.redis_url,
            "HF_HUB_OFFLINE": "1",
            "PARLEY_JOIN_TOKEN_SECRET": stack.join_token_secret,
            **stack.env,
            "PARLEY_GATEWAY_PORT": str(stack.gateway_port),
        }
        proc = subprocess.Popen(
            [sys.executable, "-m", "parley_gateway"],
            env=env,
            stdout=open(old.log_path, "ab"),
            stderr=subprocess.STDOUT,
        )
        stack.procs["gateway"] = ServiceProc("gateway", proc, stack.gateway_port, old.log_path)
        stack.wait_healthy(60)


def _post(url: str, body: dict[str, object], bearer: str = "") -> dict[str, object]:
    headers = {"content-type": "application/json"}
    if bearer:
        headers["authorization"] = f"Bearer {bearer}"
    req = urllib.request.Request(url, data=json.dumps(body).encode(), headers=headers, method="POST")
    with urllib.request.urlopen(req, timeout=10) as resp:
        data: dict[str, object] = json.loads(resp.read())
        return data


def create_room_and_invite(base: str, slug: str) -> str:
    """Admin login, a room, an invite link; returns the invite code."""
    login = _post(f"{base}/api/v1/auth/login", {"username": "admin", "password": "change-me"})
    admin = str(login["access_token"])
    _post(f"{base}/api/v1/rooms", {"name": "Browser test", "slug": slug, "spoken_languages": ["en"]}, admin)
    invite = _post(f"{base}/api/v1/rooms/{slug}/invites", {}, admin)
    return str(invite["code"])


@contextmanager
def browser_world() -> Iterator[BrowserWorld]:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    migrate = subprocess.run(
        [sys.executable, "-m", "parley_gateway.db.migrate", "--url", DATABASE_URL],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert migrate.returncode == 0, migrate.stderr[-2000:]
    extra = {"PARLEY_DATABASE_URL": DATABASE_URL, "PARLEY_GATEWAY_FRONTEND_DIR": str(FRONTEND_DIST)}
    with media_world(extra_env=extra) as media:
        base = f"http://127.0.0.1:{media.stack.gateway_port}"
        room = f"browser-{os.getpid()}"
        yield BrowserWorld(media, base, room, create_room_and_invite(base, room))

"""Three-node rehearsal without Docker (issue 7): the stack's AI, media and monitoring nodes as three
network namespaces on a bridge (tests/deploy/rehearsal.py). parley-bot speaks four LibriVox
sentences into a room through the SFU on the media node; a listener on the participants' side reads
the captions from the gateway; Prometheus on the monitoring node scrapes every service. While the bot
speaks, the AI node (Redis, Postgres, STT, translate, persister) is cut off for 7 s and then put
back: every sentence must still yield exactly one final, in order, close to the transcript, and one
row in Postgres (the room was created through the admin API), and no audio may have been dropped
on the way."""

from __future__ import annotations

import asyncio
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from parley_testkit.wer import wer
from rehearsal import NODE_IP, Rehearsal, get_json, rehearsal, skip_reason, speak_during_fault

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "browser"))
from browser_helpers import CLIPS, LIBRIVOX, _post, read_references, speech_wav  # noqa: E402


def why_skip() -> str | None:
    if not LIBRIVOX.is_dir():
        return "pocketsphinx-testdata is not installed (LibriVox clips)"
    return skip_reason()


pytestmark = pytest.mark.skipif(why_skip() is not None, reason=why_skip() or "")
ROOM = "rehearsal"
CUT_AT_S = 10.0  # into the bot's speech: the second sentence starts at ~9.9 s
CUT_FOR_S = 7.0
PROM = f"http://{NODE_IP['monitoring']}:9090"


def targets(r: Rehearsal) -> dict[str, str]:
    """Prometheus's scrape targets: job/instance -> health."""
    active = get_json(f"{PROM}/api/v1/targets")["data"]["activeTargets"]
    return {f"{t['labels']['job']}/{t['labels']['instance']}": t["health"] for t in active}


def wait_all_up(r: Rehearsal, timeout: float) -> dict[str, str]:
    deadline = time.monotonic() + timeout
    while True:
        t = targets(r)
        if t and all(h == "up" for h in t.values()):
            return t
        if time.monotonic() > deadline:
            raise AssertionError(f"not every target is up: {t}")
        time.sleep(0.5)


def prom(expr: str, at: float) -> list[dict[str, Any]]:
    import urllib.parse

    data = get_json(f"{PROM}/api/v1/query?" + urllib.parse.urlencode({"query": expr, "time": f"{at:.3f}"}))
    assert data["status"] == "success", data
    result: list[dict[str, Any]] = data["data"]["result"]
    return result


def wait_stored(r: Rehearsal, n: int, timeout: float = 20.0) -> list[str]:
    """Caption ids of the room's source-language finals in Postgres, once there are `n` (or at the timeout)."""
    sql = f"select caption_id from captions join rooms on rooms.id = captions.room_id where rooms.slug = '{ROOM}'"
    deadline = time.monotonic() + timeout
    while True:
        ids = r.psql(sql).split()
        if len(ids) >= n or time.monotonic() > deadline:
            return ids
        time.sleep(0.5)


def ingest_metric(r: Rehearsal, name: str) -> dict[str, float]:
    """Samples of one metric family from the RTP ingest's /metrics: label text -> value."""
    import urllib.request

    port = int(r.services["ingest"]["environment"]["PARLEY_INGEST_METRICS_PORT"])
    with urllib.request.urlopen(r.url("ingest", port, "/metrics"), timeout=5) as resp:
        text = resp.read().decode()
    out = {}
    for line in text.splitlines():
        if line.startswith(name) and line.split("{")[0].split(" ")[0] == name:
            head, value = line.rsplit(" ", 1)
            out[head[len(name) :]] = float(value)
    return out


async def speak_with_ai_cut(r: Rehearsal, wav: Path) -> tuple[list[dict[str, Any]], dict[str, float]]:
    return await speak_during_fault(
        r, ROOM, wav, len(CLIPS), CUT_AT_S, lambda: r.net.cut("ai"), CUT_FOR_S, lambda: r.net.restore("ai")
    )


@pytest.mark.timeout(300)
def test_three_nodes_caption_a_bot_and_survive_the_ai_node_cut_off(tmp_path: Path) -> None:
    wav = speech_wav(tmp_path / "reader.wav", gap_s=2.5)
    refs = read_references()
    with rehearsal() as r:
        up = wait_all_up(r, 30)
        print("targets:", up)
        jobs = {t.split("/")[0] for t in up}
        assert jobs >= {
            f"parley-{s}" for s in ("stt", "translate", "persister", "ingest", "gateway", "sfu")
        } | {"prometheus"}

        # A host creates the room through the admin API (gateway on the media node, Postgres on ai).
        api = r.url("gateway", 8080, "/api/v1")
        login = _post(
            f"{api}/auth/login", {"username": "admin", "password": r.secrets["parley_admin_password"]}
        )
        _post(
            f"{api}/rooms",
            {"name": "Rehearsal", "slug": ROOM, "spoken_languages": ["en"]},
            str(login["access_token"]),
        )

        finals, times = asyncio.run(speak_with_ai_cut(r, wav))
        # The cut was real: during it Prometheus (monitoring node) lost the AI node's services,
        # and only those. The window ends at the restore and starts 1 s after the cut.
        window = f"{int(CUT_FOR_S - 1)}s"
        down = {x["metric"]["job"] for x in prom(f"min_over_time(up[{window}]) == 0", times["undo"])}
        back = wait_all_up(r, 30)
        # What the pipeline published, read straight from Redis: tells a lost final from one the
        # gateway failed to fan out.
        in_redis = r.redis_cli("--raw", "xrange", f"captions:{ROOM}", "-", "+").count('"type":"final"')
        stored = wait_stored(r, len(CLIPS))
        dropped = ingest_metric(r, "parley_ingest_rtp_dropped_total")
        frames = ingest_metric(r, "parley_ingest_rtp_to_redis_seconds_count")

    texts = [str(f["text"]) for f in finals]
    t0 = times["start"]
    print(
        f"cut {times['fault'] - t0:.1f}-{times['undo'] - t0:.1f} s, bot done {times['bot_done'] - t0:.1f} s, "
        f"last final {times['last_final'] - t0:.1f} s ({times['last_final'] - times['undo']:.1f} s after the "
        f"restore); finals before the cut: {times['finals_before_fault']:.0f}; ingest drops {dropped}; "
        f"frames to Redis {frames}; final events in captions:{ROOM}: {in_redis}; rows in Postgres: {stored}"
    )
    for f in finals:
        print(f"  {f['id']}: {f['text']!r}")
    print("scrape jobs down during the cut:", sorted(down))
    assert down == {"parley-stt", "parley-translate", "parley-persister"}, down
    assert back.keys() == up.keys()
    per_id = Counter(str(f["id"]) for f in finals)
    assert all(n == 1 for n in per_id.values()), per_id
    assert len(finals) == len(CLIPS), texts
    assert {f["speaker"] for f in finals} == {"reader"}
    error = wer([refs[c] for c in CLIPS], texts)
    print(f"WER of the finals against the transcript: {error:.3f}")
    assert error <= 0.10, (error, texts)
    # The persister (AI node) wrote each final once to Postgres: the transcript is whole.
    assert sorted(stored) == sorted(str(f["id"]) for f in finals), stored
    # Nothing dropped between RTP and Redis while Redis was out of reach (the ingest waited).
    assert sum(v for k, v in dropped.items() if "redis_error" in k or "backlog" in k) == 0, dropped

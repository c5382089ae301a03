"""Kill the Redis master mid-meeting on the three-node rehearsal (issue 15). Redis runs as the stack
places it (master on ai, replica on media, a sentinel on each node); parley-bot reads four LibriVox
sentences into a room through the SFU, and 10 s in (mid the second sentence) the master is
SIGKILLed. The sentinels promote the replica; every service (and the SFU) follows it. Every
sentence must still yield exactly one final at the listener, in order, close to the transcript,
and one row in Postgres. The old master is started again 8 s later and must come back as the new
master's replica."""

from __future__ import annotations

import asyncio
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from parley_testkit.wer import wer
from rehearsal import Rehearsal, redis_cli, redis_master, rehearsal, speak_during_fault, start_redis_node
from test_rehearsal import ROOM, ingest_metric, wait_all_up, wait_stored, why_skip

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "browser"))
from browser_helpers import CLIPS, _post, read_references, speech_wav  # noqa: E402

pytestmark = pytest.mark.skipif(why_skip() is not None, reason=why_skip() or "")
KILL_AT_S = 10.0
RESTART_AFTER_S = 8.0


def create_room(r: Rehearsal) -> None:
    api = r.url("gateway", 8080, "/api/v1")
    login = _post(f"{api}/auth/login", {"username": "admin", "password": r.secrets["parley_admin_password"]})
    _post(
        f"{api}/rooms",
        {"name": "Failover", "slug": ROOM, "spoken_languages": ["en"]},
        str(login["access_token"]),
    )


@pytest.mark.timeout(300)
def test_killing_the_redis_master_mid_meeting_loses_and_doubles_no_final(tmp_path: Path) -> None:
    wav = speech_wav(tmp_path / "reader.wav", gap_s=2.5)
    refs = read_references()
    failover: dict[str, float] = {}
    with rehearsal() as r:
        wait_all_up(r, 30)
        create_room(r)
        assert redis_master(r) == "ai"

        def kill_master() -> None:
            t = time.monotonic()
            failover["killed_at"] = time.time()
            r.procs["redis"].proc.kill()
            r.procs["redis"].proc.wait()
            while redis_master(r, "media") != "media":
                assert time.monotonic() - t < 30, "no failover"
                time.sleep(0.05)
            failover["promoted_s"] = time.monotonic() - t

        def restart_old_master() -> None:
            start_redis_node(r, "redis", r.redis_dir / "redis")

        finals, times = asyncio.run(
            speak_during_fault(
                r, ROOM, wav, len(CLIPS), KILL_AT_S, kill_master, RESTART_AFTER_S, restart_old_master
            )
        )
        stored = wait_stored(r, len(CLIPS))
        deadline = time.monotonic() + 30
        while "role:slave" not in redis_cli(r, "ai", "info", "replication"):
            assert time.monotonic() < deadline, "the old master did not come back as a replica"
            time.sleep(0.5)
        rejoined = redis_cli(r, "ai", "info", "replication")
        frames = ingest_metric(r, "parley_ingest_frames_total")
        dropped = ingest_metric(r, "parley_ingest_rtp_dropped_total")

    texts = [str(f["text"]) for f in finals]
    t0 = times["start"]
    print(
        f"master killed {failover['killed_at'] - t0:.1f} s in; replica promoted after {failover['promoted_s']:.2f} s "
        f"(as seen by the media node's sentinel); last final {times['last_final'] - t0:.1f} s; "
        f"ingest frames {frames}; drops {dropped}; rows in Postgres {len(stored)}"
    )
    for f in finals:
        print(f"  {f['id']}: {f['text']!r}")
    assert failover["promoted_s"] < 10, failover
    per_id = Counter(str(f["id"]) for f in finals)
    assert all(n == 1 for n in per_id.values()), per_id  # duplicated 0
    assert len(finals) == len(CLIPS), texts  # lost 0
    error = wer([refs[c] for c in CLIPS], texts)
    print(f"WER of the finals against the transcript: {error:.3f}")
    assert error <= 0.10, (error, texts)
    assert sorted(stored) == sorted(str(f["id"]) for f in finals), stored
    assert sum(v for k, v in dropped.items() if "redis_error" in k or "backlog" in k) == 0, dropped
    assert "master_host:10.77.0.2" in rejoined, rejoined  # the old master follows the new one

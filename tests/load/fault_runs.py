"""A meeting through the real SFU and services (bench/load's local stack) with faults injected."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.load.__main__ import Session, parse_args
from bench.load.audio import encoded_clips
from bench.load.faults import Faults
from bench.load.scenario import Scenario

ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts" / "logs"


async def meeting_with_faults(
    name: str, meeting: Scenario, plan: tuple[tuple[float, str], ...], redis_ha: bool = False
) -> dict[str, Any]:
    """Runs `meeting` on a fresh local stack (one STT replica, full window; Redis with a replica and
    sentinels if `redis_ha`) while `plan` (seconds into the speech, "kill <service>" |
    "kill redis-master" | "restart redis") happens; the scenario's result."""
    args = parse_args(["--log-dir", str(ARTIFACTS / name), "--sample-s", "10"])
    clips = encoded_clips(args.audio_dir)
    async with Session(args, clips, "full", 1, redis_ha=redis_ha) as s:
        assert s.stack is not None
        return await s.run(meeting, Faults(s.stack, plan=plan))


def assert_nothing_lost(res: dict[str, Any], faults: list[str]) -> None:
    """The faults happened, no service died by itself, and no audio, final or frame was lost or
    doubled: the invariants of every fault scenario of issue 15."""
    keys = ("lost_finals", "duplicate_finals", "lost_audio_ms", "duplicate_frames", "recovery_s")
    print({k: res[k] for k in keys}, res["fault_recovery"], res["counters"], res["audio_gaps"])
    assert [f["fault"] for f in res["fault_recovery"]] == faults
    assert res["service_exits"] == [], res["service_exits"]
    assert res["audio_frames"] > 2 * 30 * 50  # the speakers' streams were audited
    assert res["lost_audio_ms"] == 0, res["audio_gaps"]
    assert res["duplicate_frames"] == 0
    assert res["counters"]["ingest_rtp_dropped_redis_error"] == 0, res["counters"]
    assert res["lost_finals"] == 0, res
    assert res["duplicate_finals"] == 0, res
    assert res["utterances"] >= 8
    # the listeners consumed every speaker over the SFU all along (plain RTP receive transports)
    assert res["listener_media_ratio"] >= 0.95, res["listener_media_ratio"]

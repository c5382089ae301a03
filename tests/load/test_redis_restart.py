"""Redis restarts (AOF, as stack/docker-stack.yml runs it) twice during a meeting through the real
SFU: no service process exits, the gateway drops no audio, and every utterance still yields
exactly one final at every listener (some later). Before parley_common.outage, every STT and
translate replica exited on the restart and the gateway dropped the frames that arrived meanwhile."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.load.__main__ import Session, parse_args
from bench.load.audio import encoded_clips
from bench.load.faults import Faults
from bench.load.scenario import Scenario
from bench.load.stack import sfu_ready

pytestmark = pytest.mark.skipif(sfu_ready() is not None, reason=sfu_ready() or "")
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts" / "logs" / "load-redis"


@pytest.mark.slow
@pytest.mark.timeout(480)
async def test_redis_restart_mid_meeting_loses_nothing() -> None:
    args = parse_args(["--log-dir", str(ARTIFACTS), "--sample-s", "10"])
    clips = encoded_clips(args.audio_dir)
    meeting = Scenario("redis-restart", 1, 4, lambda r: 2, 50.0, gap_s=(0.5, 1.5))
    async with Session(args, clips, "full", 1) as s:
        assert s.stack is not None
        faults = Faults(s.stack, plan=((15.0, "restart redis"), (32.0, "restart redis")))
        res = await s.run(meeting, faults)
    print(res["fault_recovery"], res["counters"], res["service_exits"])
    assert len(res["fault_recovery"]) == 2
    assert res["service_exits"] == [], res["service_exits"]
    assert res["counters"]["ingest_rtp_dropped_redis_error"] == 0, res["counters"]
    assert res["lost_finals"] == 0, res
    assert res["duplicate_finals"] == 0, res
    assert res["utterances"] >= 8

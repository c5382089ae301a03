"""Redis restarts (AOF, as stack/docker-stack.yml runs it; SIGTERM, back after Swarm's 5 s restart
delay) twice during a meeting through the real SFU: no service process exits, the ingest drops no audio, and every utterance still yields
exactly one final at every listener (some later). Before parley_common.outage, every STT and
translate replica exited on the restart and the RTP receiver dropped the frames that came meanwhile."""

from __future__ import annotations

import pytest
from fault_runs import meeting_with_faults

from bench.load.scenario import Scenario
from bench.load.stack import sfu_ready

pytestmark = pytest.mark.skipif(sfu_ready() is not None, reason=sfu_ready() or "")


@pytest.mark.slow
@pytest.mark.timeout(480)
async def test_redis_restart_mid_meeting_loses_nothing() -> None:
    meeting = Scenario("redis-restart", 1, 4, lambda r: 2, 50.0, gap_s=(0.5, 1.5))
    res = await meeting_with_faults("load-redis", meeting, ((15.0, "restart redis"), (32.0, "restart redis")))
    print(res["fault_recovery"], res["counters"], res["service_exits"])
    assert len(res["fault_recovery"]) == 2
    assert all(f["back_after_s"] >= 5 for f in res["fault_recovery"])  # Redis was away 5 s each time
    assert res["service_exits"] == [], res["service_exits"]
    assert res["counters"]["ingest_rtp_dropped_redis_error"] == 0, res["counters"]
    assert res["lost_finals"] == 0, res
    assert res["duplicate_finals"] == 0, res
    assert res["utterances"] >= 8

"""The Redis master SIGKILLed twice mid-meeting (issue 15), Redis run as the stack runs it (master,
replica, three sentinels, stack/config/sentinel.sh) and every service — the SFU too — finding the
master through the sentinels. The replica is promoted; the killed master comes back after Swarm's
5 s restart delay as its replica, and is promoted in turn at the second kill. Every utterance
yields exactly one final at every listener, no audio frame is lost or stored twice, no process
exits."""

from __future__ import annotations

import pytest
from fault_runs import assert_nothing_lost, meeting_with_faults

from bench.load.scenario import Scenario
from bench.load.stack import sfu_ready

pytestmark = pytest.mark.skipif(sfu_ready() is not None, reason=sfu_ready() or "")


@pytest.mark.slow
@pytest.mark.timeout(480)
async def test_redis_master_killed_twice_loses_and_doubles_nothing() -> None:
    meeting = Scenario("redis-failover", 1, 4, lambda r: 2, 50.0, gap_s=(0.5, 1.5))
    plan = ((12.0, "kill redis-master"), (32.0, "kill redis-master"))
    res = await meeting_with_faults("load-redis-failover", meeting, plan, redis_ha=True)
    assert_nothing_lost(res, ["kill redis-master"] * 2)
    assert all(f["back_after_s"] < 10 for f in res["fault_recovery"])  # writes go on within 10 s

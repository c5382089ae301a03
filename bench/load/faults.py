"""Faults under load (the 10-room scenario, two STT replicas): SIGKILL an STT replica, then the
translate replica, then the gateway, then stop Redis (SIGTERM); and (scenario ingest-restart) each RTP
ingest replica in turn. A killed or stopped process comes back the way Swarm brings it back: the
supervisor starts it again after the restart policy's delay (5 s), not at once (Redis too). Listeners are never told:
they recover by themselves."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from .analyse import finals_of, late_after, lost_between, pct
from .scenario import Run
from .stack import LoadStack

# (seconds into the speech, what)
PLAN = (
    (40.0, "kill stt-1"),
    (80.0, "kill translate-1"),
    (120.0, "kill gateway"),
    (160.0, "restart redis"),
)
# Kill the Redis master twice (the second time the one promoted by the first failover, which the
# old master, back as its replica, then replaces): scenario redis-failover, a Sentinel set.
REDIS_PLAN = (
    (25.0, "kill redis-master"),
    (60.0, "kill redis-master"),
)
# Postgres down for a minute mid-meeting: the persister holds the finals and writes them after.
POSTGRES_PLAN = ((20.0, "stop postgres 60"),)
# Kill each ingest replica in turn, mid-speech: the other carries the audio meanwhile.
INGEST_PLAN = (
    (20.0, "kill ingest-1"),
    (45.0, "kill ingest-2"),
    (70.0, "kill ingest-1"),
)


class Faults:
    def __init__(self, stack: LoadStack, plan: tuple[tuple[float, str], ...] = PLAN) -> None:
        self.stack = stack
        self.plan = plan
        self.events: list[dict[str, Any]] = []

    async def __call__(self, run: Run) -> dict[str, Any]:
        for at, what in self.plan:
            delay = run.started + at - time.time()
            if delay > 0:
                await asyncio.sleep(delay)
            if time.time() > run.speech_until:
                break
            self.events.append(await asyncio.to_thread(self._inject, what))
        return {"plan": [f"{w} at {at:.0f} s" for at, w in self.plan]}

    def _inject(self, what: str) -> dict[str, Any]:
        t = time.time()
        verb, name = what.split()[:2]
        if what.startswith("stop postgres"):
            down, caught_up = self.stack.postgres_outage(float(what.split()[2]))
            return {
                "fault": what,
                "at": t,
                "back_after_s": round(down, 2),
                "caught_up_s": round(caught_up, 2),
            }
        if what == "kill redis-master":
            return {"fault": what, "at": t, "back_after_s": round(self.stack.kill_redis_master(), 2)}
        if verb == "kill":
            return {"fault": what, "at": t, "back_after_s": round(self.stack.kill(name), 2)}
        else:  # SIGTERM (the AOF is fsync'd), back after Swarm's restart delay like a killed task
            assert self.stack.redis is not None
            self.stack.redis.restart(self.stack.restart_delay_s)
        return {"fault": what, "at": t, "back_after_s": round(time.time() - t, 2)}

    def recovery(self, run: Run) -> list[dict[str, Any]]:
        """Per fault: finals of speech that ended from 10 s before to 30 s after it that came later
        than the pre-fault p95 + 1 s, and when the last of them arrived (= recovery time); and the
        added latency: p95 of the finals of speech that ended in the 10 s after the fault minus the
        pre-fault p95."""
        if not self.events:
            return []
        first = self.events[0]["at"]
        base: list[float] = []
        for u in run.users:
            if u.lang != "source":
                continue
            for f in finals_of(u):
                end = float(f.caption["timing"]["speech_end"])
                if end < first - 2:
                    base.append(f.at - end)
        threshold = pct(base, 95) + 1.0
        out = []
        for ev in self.events:
            t = ev["at"]
            after = [
                f.at - float(f.caption["timing"]["speech_end"])
                for u in run.users
                if u.lang == "source"
                for f in finals_of(u)
                if t <= float(f.caption["timing"]["speech_end"]) <= t + 10
            ]
            last, late, worst = late_after(run.users, run.spoken, t - 10, t + 30, threshold)
            lost = lost_between(run.users, run.spoken, t - 10, t + 30)
            drops = [
                back - down
                for u in run.users
                if u.captions
                for down, back in u.captions.drops
                if t - 1 <= down <= t + 30
            ]
            out.append(
                {
                    **{k: v for k, v in ev.items() if k != "at"},
                    "late_threshold_s": round(threshold, 2),
                    "late_finals": late,
                    "worst_e2e_s": round(worst, 2),
                    "e2e_p95_before_s": round(pct(base, 95), 2),
                    "e2e_p95_after_s": round(pct(after, 95), 2),
                    "added_latency_p95_s": round(pct(after, 95) - pct(base, 95), 2),
                    "lost_finals": lost,
                    "recovery_s": round(last - t, 2) if last else 0.0,
                    "caption_reconnects": len(drops),
                    "caption_reconnect_max_s": round(max(drops), 2) if drops else 0.0,
                }
            )
        return out

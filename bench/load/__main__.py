"""Parley load, soak and capacity (issue 8).

  python -m bench.load                               # 1x6, 10x5, faults, ramp (make load)
  python -m bench.load --scenarios soak --soak-min 30   # make soak
  python -m bench.load --scenarios 10x5 --sfu-url wss://sfu.example/ws \\
      --gateway-url wss://meet.example --token-secret "$PARLEY_JOIN_TOKEN_SECRET"   # a deployment

Prints a table per scenario and ends with ONE JSON line of headline figures; everything measured
goes to --out. Locally it starts its own Redis (AOF), SFU (plain RTP producers), RTP ingest, STT,
translate and gateway on 127.0.0.1; all traffic stays on loopback. A deployment must allow plain ingest
(SFU_ALLOW_PLAIN_INGEST=1) for the speakers; faults and process figures need the local stack.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from parley_common import redisconn
from parley_testkit.machine import cpu_summary

from . import profile
from .analyse import finals_of
from .audio import EncodedClip, encoded_clips, silence_packet
from .faults import INGEST_PLAN, POSTGRES_PLAN, REDIS_PLAN, Faults
from .resources import Sampler
from .scenario import Scenario, run_scenario
from .stack import ROOT, LoadStack, Target, sfu_ready

sys.path.insert(0, str(ROOT / "bench"))
from pipeline import warm_up

P95_GOAL_S = 1.5


def scenarios(scale: float, soak_min: float, rooms: int = 10) -> dict[str, Scenario]:
    def d(s: float) -> float:
        return max(20.0, s * scale)

    return {
        # the seed's MVP: one meeting, 6 people, 2 of them talking in turns
        "1x6": Scenario("1x6", 1, 6, lambda r: 2, d(120), gap_s=(1.0, 2.5)),
        # the scale goal: 10 meetings of 5; rooms alternate 1 and 2 speakers, one voice at a time per room
        "10x5": Scenario("10x5", rooms, 5, lambda r: 1 + r % 2, d(180), gap_s=(1.5, 4.0), drain_s=150),
        "faults": Scenario(
            "faults", rooms, 5, lambda r: 1 + r % 2, max(200.0, d(200)), (1.5, 4.0), drain_s=180
        ),
        "soak": Scenario("soak", 1, 6, lambda r: 2, soak_min * 60, gap_s=(1.0, 2.5)),
        # each RTP ingest replica killed in turn mid-speech (faults.INGEST_PLAN), 3 rooms of 4
        "ingest-restart": Scenario(
            "ingest-restart", 3, 4, lambda r: 1 + r % 2, max(95.0, d(95)), (1.0, 2.5), drain_s=120
        ),
        # Postgres stopped for a minute mid-meeting (faults.POSTGRES_PLAN): every final still stored once
        "postgres-outage": Scenario(
            "postgres-outage", 3, 4, lambda r: 1 + r % 2, max(100.0, d(100)), (1.0, 2.5), drain_s=120
        ),
        # the Redis master SIGKILLed twice mid-speech (faults.REDIS_PLAN) on a Sentinel set
        "redis-failover": Scenario(
            "redis-failover", 3, 4, lambda r: 1 + r % 2, max(95.0, d(95)), (1.0, 2.5), drain_s=120
        ),
    }


def ramp_step(n: int, scale: float) -> Scenario:
    """n speakers talking at once, each in a room of its own with one more listener; 1-2 s pauses."""
    return Scenario(f"ramp{n}", n, 2, lambda r: 1, max(30.0, 100 * scale), gap_s=(1.0, 2.0), seed=n)


class Session:
    """One local stack (or a remote target) and what runs on it."""

    def __init__(
        self,
        args: argparse.Namespace,
        clips: list[EncodedClip],
        window: str,
        stt: int,
        redis_ha: bool = False,
    ) -> None:
        self.args, self.clips, self.window, self.stt = args, clips, window, stt
        self.redis_ha = redis_ha
        self.silence = silence_packet()
        self.stack: LoadStack | None = None
        self.target: Target | None = None
        self.tag = f"w{window[0]}{int(time.time()) % 100000}"

    async def __aenter__(self) -> Session:
        a = self.args
        if a.sfu_url:
            self.target = Target(a.sfu_url, a.gateway_url, a.token_secret)
            return self
        env = {"PARLEY_STT_FINAL_WINDOW": self.window, **dict(kv.split("=", 1) for kv in a.env)}
        self.stack = LoadStack(
            a.log_dir / f"{self.window}-stt{self.stt}", self.stt, env, a.redis_port, redis_ha=self.redis_ha
        )
        self.target = await asyncio.to_thread(self.stack.start)
        assert self.stack.redis is not None and self.stack.services is not None
        r = redisconn.connect(self.stack.redis.url)
        await warm_up(r, self.stack.services, self.clips[0].clip)
        await r.aclose()
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.stack is not None:
            await asyncio.to_thread(self.stack.stop)

    def sampler(self) -> Sampler | None:
        if self.stack is None:
            return None
        stack = self.stack
        assert stack.redis is not None
        return Sampler(stack.pids, stack.redis.used_memory_mb, interval=self.args.sample_s)

    async def profile(self, name: str) -> dict[str, Any]:
        """py-spy on each Python service for --profile-s seconds, from 20 s into the scenario."""
        assert self.stack is not None
        await asyncio.sleep(20)
        runs = {}
        for svc, pids in self.stack.pids().items():
            if svc.startswith(("stt", "translate", "gateway", "ingest")):
                out = self.stack.log_dir / f"profile-{name}-{svc}.txt"
                if (proc := profile.record(pids[0], self.args.profile_s, out)) is not None:
                    runs[svc] = (proc, out)
        summary: dict[str, Any] = {}
        for svc, (proc, out) in runs.items():
            await asyncio.to_thread(proc.wait)
            if out.exists():
                summary[svc] = profile.summarise(out, self.args.profile_s)
            else:
                summary[svc] = f"py-spy failed: see {out.with_suffix('.log')}"
        return summary

    def transcripts(self, run: Any) -> dict[str, Any]:
        """What the persister stored (once the persist group is drained) against what the listeners
        got: every final they read, in each language, must be in Postgres."""
        assert self.stack is not None
        self.stack.wait_persisted()
        stored = self.stack.persisted(sorted({u.room for u in run.users}))
        delivered = {(str(f.caption["id"]), str(f.caption["lang"])) for u in run.users for f in finals_of(u)}
        return {
            "persisted_rows": len(stored),
            "persisted_missing": len(delivered - set(stored)),
            "persisted_duplicates": len(stored) - len(set(stored)),
        }

    async def run(self, sc: Scenario, faults: Faults | None = None) -> dict[str, Any]:
        assert self.target is not None
        print(
            f"[load] {sc.name}: {sc.rooms} room(s) x {sc.users_per_room} users, "
            f"{sc.duration_s:.0f} s of turns, window {self.window}",
            flush=True,
        )
        exits_before = len(self.stack.restarts) if self.stack else 0
        wanted = self.args.profile_s and self.stack and sc.name in self.args.profile_in.split(",")
        prof = asyncio.create_task(self.profile(sc.name)) if wanted else None
        res = await run_scenario(
            sc, self.target, self.clips, self.silence, tag=self.tag, sampler=self.sampler(), during=faults
        )
        if prof is not None:
            res["profile"] = await prof
        # processes that died by themselves (the supervisor started them again, as Swarm would)
        res["service_exits"] = [
            {"service": n, "exit_code": rc, "at_s": round(t - res["_run"].started, 1)}
            for t, n, rc in (self.stack.restarts[exits_before:] if self.stack else [])
        ]
        run = res.pop("_run")
        if faults is not None:
            res["fault_recovery"] = faults.recovery(run)
            res["recovery_s"] = max(
                (max(f["recovery_s"], f.get("caught_up_s", 0.0)) for f in res["fault_recovery"]), default=0.0
            )
        if self.stack is not None and self.stack.pg is not None:
            res |= await asyncio.to_thread(self.transcripts, run)
            res["faults_injected"] = [
                {"service": n, "at_s": round(t - run.started, 1)}
                for t, n in (self.stack.killed if self.stack else [])
                if t >= run.started
            ]
        res["final_window"] = self.window
        res["stt_replicas"] = self.stt
        print_table(res)
        return res


async def ramp(args: argparse.Namespace, clips: list[EncodedClip], window: str) -> dict[str, Any]:
    """Add a speaker per step until final p95 passes 1.5 s (or a final is lost, or --ramp-max)."""
    steps: list[dict[str, Any]] = []
    best = args.ramp_from - 1  # --ramp-from N: steps below N held in an earlier run
    async with Session(args, clips, window, args.ramp_stt) as s:
        for n in range(args.ramp_from, args.ramp_max + 1, args.ramp_step):
            res = await s.run(ramp_step(n, args.scale))
            steps.append(res)
            p95 = res["e2e_final_p95_s"]
            if p95 is None or p95 > P95_GOAL_S or res["lost_finals"] or res["duplicate_finals"]:
                break
            best = n  # with --ramp-step > 1 the knee lies between this and the next step
    return {"scenario": "ramp", "final_window": window, "max_speakers_at_p95_1_5s": best, "steps": steps}


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    clips = encoded_clips(args.audio_dir)
    want = args.scenarios.split(",")
    known = scenarios(args.scale, args.soak_min, args.rooms)
    unknown = [w for w in want if w not in known and w != "ramp"]
    if unknown:
        raise SystemExit(f"unknown scenario(s) {unknown}; known: {[*known, 'ramp']}")
    if args.sfu_url and {"faults", "ingest-restart", "redis-failover", "postgres-outage"} & set(want):
        raise SystemExit("faults need the local stack (they kill its processes): drop --sfu-url")
    results: list[dict[str, Any]] = []
    if "ramp" in want:  # first, while the machine is freshest: the knee is the headline figure
        for window in args.ramp_windows.split(","):
            results.append(await ramp(args, clips, window))
    plain = [w for w in want if w in ("1x6", "10x5", "soak")]
    if plain:
        async with Session(args, clips, args.window, 1) as s:
            for w in plain:
                results.append(await s.run(known[w]))
    if "faults" in want:
        async with Session(args, clips, args.window, 2) as s:
            assert s.stack is not None
            results.append(await s.run(known["faults"], Faults(s.stack)))
    if "ingest-restart" in want:
        async with Session(args, clips, args.window, 1) as s:
            assert s.stack is not None
            results.append(await s.run(known["ingest-restart"], Faults(s.stack, INGEST_PLAN)))
    if "postgres-outage" in want:
        async with Session(args, clips, args.window, 1) as s:
            assert s.stack is not None
            results.append(await s.run(known["postgres-outage"], Faults(s.stack, POSTGRES_PLAN)))
    if "redis-failover" in want:
        async with Session(args, clips, args.window, 1, redis_ha=True) as s:
            assert s.stack is not None
            results.append(await s.run(known["redis-failover"], Faults(s.stack, REDIS_PLAN)))
    return headline(results, args.window)


def headline(results: list[dict[str, Any]], window: str) -> dict[str, Any]:
    flat = [st for r in results for st in r.get("steps", [r])]
    main = next((r for r in results if r["scenario"] == "10x5"), None) or flat[0]
    ramps = {r["final_window"]: r["max_speakers_at_p95_1_5s"] for r in results if r["scenario"] == "ramp"}
    head: dict[str, Any] = {
        "cpu": cpu_summary(),
        "scenario": "+".join(r["scenario"] for r in results),
        "final_window": window,
        "e2e_final_p95_s": main["e2e_final_p95_s"],
        "e2e_final_p95_scenario": main["scenario"],
        "lost_finals": sum(r["lost_finals"] for r in flat),
        "duplicate_finals": sum(r["duplicate_finals"] for r in flat),
        "disconnects": sum(
            r["caption_disconnects"] + r["signalling_disconnects"] for r in flat if r["scenario"] != "faults"
        ),
        "max_speakers_at_p95_1_5s": ramps.get(window, ramps.get(next(iter(ramps), ""), None)),
        "max_speakers_at_p95_1_5s_by_window": ramps,
        "per_scenario": {
            f"{r['scenario']}/{r['final_window']}": {
                k: r.get(k)
                for k in (
                    "e2e_final_p50_s",
                    "e2e_final_p95_s",
                    "e2e_final_max_s",
                    "lost_finals",
                    "duplicate_finals",
                    "lost_audio_ms",
                    "duplicate_frames",
                    "recovery_s",
                )
            }
            for r in flat
        },
    }
    for r in results:
        if r.get("fault_recovery"):
            head["fault_recovery_s"] = {f["fault"]: f["recovery_s"] for f in r["fault_recovery"]}
        if r["scenario"] == "soak":
            head["soak_rss_growth_mb"] = r.get("resources", {}).get("rss_growth_mb")
            head["soak_e2e_drift_s"] = r["e2e_drift_s"]
    head["_all"] = results
    return head


def print_table(res: dict[str, Any]) -> None:
    keys = (
        "utterances e2e_final_p50_s e2e_final_p95_s e2e_final_max_s e2e_by_third_p50_s e2e_drift_s "
        "e2e_translated_p50_s e2e_translated_p95_s stt_final_queued_p50_s stt_final_queued_p95_s "
        "stt_final_decode_p50_s first_partial_p50_s first_word_p50_s first_word_p95_s partial_interval_p50_s lost_finals "
        "duplicate_finals caption_disconnects signalling_disconnects join_p50_s join_p95_s room_duty_cycle "
        "drain_s sender_late_ticks lost_audio_ms duplicate_frames audio_frames recovery_s listener_media_ratio "
        "persisted_rows persisted_missing persisted_duplicates"
    ).split()
    print(f"\n  {res['scenario']} ({res['final_window']}, {res['speakers']} speakers, {res['users']} users)")
    for k in keys:
        print(f"    {k:<28} {res.get(k)}")
    for k in (
        "service_exits",
        "faults_injected",
        "audio_gaps",
        "counters",
        "sfu",
        "resources",
        "fault_recovery",
        "profile",
    ):
        if k in res:
            print(f"    {k:<28} {json.dumps(res[k])}")
    print(flush=True)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="bench.load", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "--scenarios",
        default="1x6,10x5,faults,ingest-restart,redis-failover,postgres-outage,ramp",
        help="comma-separated: 1x6,10x5,faults,ingest-restart,redis-failover,postgres-outage,ramp,soak",
    )
    p.add_argument(
        "--window", default=os.environ.get("PARLEY_STT_FINAL_WINDOW", "full"), choices=("full", "padded")
    )
    p.add_argument("--ramp-windows", default="full,padded")
    p.add_argument("--ramp-max", type=int, default=8)
    p.add_argument("--ramp-from", type=int, default=1, help="first step (continue an earlier ramp)")
    p.add_argument("--ramp-step", type=int, default=1, help="speakers added per step")
    p.add_argument(
        "--ramp-stt",
        type=int,
        default=1,
        help="STT replicas in the ramp (replicas vs threads: PARLEY_STT_CPU_THREADS)",
    )
    p.add_argument("--scale", type=float, default=1.0, help="multiplies every scenario's speaking time")
    p.add_argument("--soak-min", type=float, default=30.0)
    p.add_argument("--rooms", type=int, default=10, help="rooms of 5 in the 10x5 and faults scenarios")
    p.add_argument("--audio-dir", type=Path, default=Path("/usr/share/pocketsphinx/test/data/librivox"))
    p.add_argument("--sample-s", type=float, default=5.0, help="CPU/RSS sampling interval")
    p.add_argument("--profile-s", type=float, default=0.0, help="py-spy each service this long (0: off)")
    p.add_argument("--profile-in", default="10x5", help="the scenarios to profile, comma-separated")
    p.add_argument("--redis-port", type=int, default=0, help="our own Redis's port (0: a free one)")
    p.add_argument("--env", action="append", default=[], help="KEY=VALUE for the local services")
    p.add_argument("--log-dir", type=Path, default=ROOT / "bench" / "results" / "load-logs")
    p.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "load.json")
    remote = p.add_argument_group("a deployment instead of the local stack")
    remote.add_argument("--sfu-url", default="", help="the SFU's signalling WebSocket, e.g. wss://host/ws")
    remote.add_argument("--gateway-url", default="", help="the gateway's base WebSocket URL, e.g. wss://host")
    remote.add_argument("--token-secret", default=os.environ.get("PARLEY_JOIN_TOKEN_SECRET", ""))
    args = p.parse_args(argv)
    if args.sfu_url and not (args.gateway_url and args.token_secret):
        p.error("--sfu-url needs --gateway-url and --token-secret")
    if not args.sfu_url and (reason := sfu_ready()):
        p.error(reason)
    if not (args.audio_dir / "transcription").exists():
        p.error(f"{args.audio_dir} has no transcription file (pocketsphinx-style)")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    head = asyncio.run(main_async(args))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(head, indent=1))
    head.pop("_all")
    print(json.dumps(head), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

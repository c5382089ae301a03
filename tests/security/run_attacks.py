"""make attack: every attack in tests/security/ against a running deployment (`make run`'s by
default), while a second meeting speaks throughout; one JSON line last.

    .venv/bin/python tests/security/run_attacks.py [--gateway http://127.0.0.1:8080] [--sfu ws://...]

The operator's side (admin login, the join-token secret to mint the attack rooms' tokens, Redis,
the ingest's /metrics) defaults to what scripts/run-local.sh uses. The attacker's connections come
from 127.0.0.66 (another client than the meeting, on loopback). The JSON line:
  attacks, refused, not_refused (names), meetings_disrupted (0 or 1: the meeting lost a final,
  got one late, or a connection dropped), captions_lost, late_finals, finals, final_latency_p50_s /
  _p95_s / _max_s, rtp_dropped (the ingest's parley_ingest_rtp_dropped_total while the attacks
  ran), gateway_rss_mb_max (sampled every 0.5 s), duration_s.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import sys
import time
import urllib.request
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis

sys.path.insert(0, str(Path(__file__).resolve().parent))
import gateway_attacks
from attack_kit import ATTACK_SETUP, ATTACKS, Deployment, Outcome

ROOT = Path(__file__).resolve().parents[2]
LOGS = ROOT / "artifacts" / "logs" / "attack"


def parse_args() -> argparse.Namespace:
    env = os.environ.get
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--gateway", default=env("PARLEY_ATTACK_GATEWAY", "http://127.0.0.1:8080"))
    p.add_argument("--sfu", default=env("PARLEY_ATTACK_SFU", "ws://127.0.0.1:4443/ws"))
    p.add_argument("--redis-url", default=env("PARLEY_REDIS_URL", "redis://127.0.0.1:6379/0"))
    p.add_argument(
        "--database-url",
        default=env("PARLEY_DATABASE_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/parley"),
    )
    p.add_argument(
        "--ingest-metrics", default=env("PARLEY_ATTACK_INGEST_METRICS", "http://127.0.0.1:9105/metrics")
    )
    p.add_argument("--admin-user", default=env("PARLEY_ADMIN_USERNAME", "admin"))
    p.add_argument("--admin-password", default=env("PARLEY_ADMIN_PASSWORD", "change-me"))
    p.add_argument(
        "--join-token-secret",
        default=env("PARLEY_JOIN_TOKEN_SECRET", env("JOIN_TOKEN_SECRET", "dev-secret-change-me")),
    )
    p.add_argument("--only", action="append", default=[], help="run only attacks whose name contains this")
    p.add_argument("--late-s", type=float, default=5.0, help="a final later than this after speech is late")
    p.add_argument("--no-meeting", action="store_true", help="skip the second meeting (attacks only)")
    p.add_argument("--baseline-s", type=float, default=30.0, help="the meeting alone before the attacks")
    p.add_argument(
        "--nice",
        type=int,
        default=10,
        help="the attacker's niceness (the meeting and the deployment keep theirs)",
    )
    return p.parse_args()


def metric_sum(url: str, name: str) -> float | None:
    try:
        with urllib.request.urlopen(url, timeout=3) as resp:
            text = resp.read().decode()
    except OSError:
        return None
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith(name + "{") or line.startswith(name + " ")
    )


class RssWatch:
    def __init__(self, dep: Deployment) -> None:
        self.dep, self.peak, self._task = dep, 0.0, None

    async def run(self) -> None:
        while True:
            with contextlib.suppress(Exception):
                self.peak = max(self.peak, (await self.dep.gateway_process())[1])
            await asyncio.sleep(0.5)


def proxied_gateway(args: argparse.Namespace) -> tuple[Deployment, Callable[[], None]]:
    """One more gateway replica of this deployment (same Redis and Postgres), started here: it
    trusts PROXY_IP as its reverse proxy and writes its log where the attacks can read it."""
    from parley_testkit.procs import LocalStack

    stack = LocalStack(
        args.redis_url,
        LOGS,
        env={
            "PARLEY_ENV": "development",
            "PARLEY_DATABASE_URL": args.database_url,
            "PARLEY_JOIN_TOKEN_SECRET": args.join_token_secret,
            "PARLEY_ADMIN_USERNAME": args.admin_user,
            "PARLEY_ADMIN_PASSWORD": args.admin_password,
            "PARLEY_GATEWAY_TRUSTED_PROXIES": f'["{gateway_attacks.PROXY_IP}/32"]',
        },
    )
    proc = stack.start("gateway-replica", "parley_gateway")
    stack.wait_healthy(60)
    dep = Deployment(
        http=f"http://127.0.0.1:{stack.gateway_port}",
        sfu_ws=args.sfu,
        redis_url=args.redis_url,
        admin_user=args.admin_user,
        admin_password=args.admin_password,
        join_token_secret=args.join_token_secret,
        log_path=proc.log_path,
    )
    return dep, stack.stop


def sfu_attacks(dep: Deployment) -> list[tuple[str, Callable[[], Awaitable[Outcome]]]]:
    """The SFU's attacks (tests/security/sfu_attacks.py, helper sfu-sec), aimed at this deployment:
    rooms made through the admin API, tokens minted with the join-token secret, host actions
    through the API."""
    try:
        import sfu_attacks as sfu
    except ImportError as exc:
        print(f"[attack] SFU attacks not loaded: {exc}", file=sys.stderr)
        return []
    from parley_common.tokens import issue_join_token

    made: set[str] = set()

    async def ensure_room(room: str) -> None:
        if room not in made:
            resp = await dep.admin("POST", "/api/v1/rooms", name=room, slug=room)
            if resp.status_code not in (201, 409):
                resp.raise_for_status()
            made.add(room)

    async def token(room: str, sub: str, role: str) -> str:
        await ensure_room(room)
        return issue_join_token(dep.join_token_secret, room, sub, sub.title(), role, 3600)

    class ApiHost:
        async def _host(self, method: str, path: str) -> None:
            resp = await dep.admin(method, path)
            if resp.status_code >= 400 and resp.status_code != 404:
                resp.raise_for_status()

        async def close(self, room: str) -> None:
            await ensure_room(room)
            await self._host("POST", f"/api/v1/rooms/{room}/close")

        async def _participant(self, room: str, peer: str) -> None:
            """The API acts on participants it knows: issue one token for this id (the attack's
            own token was minted with the secret), so the participant exists."""
            await ensure_room(room)
            resp = await dep.admin(
                "POST", f"/api/v1/rooms/{room}/tokens", name=peer.title(), participant_id=peer
            )
            if resp.status_code >= 400 and resp.status_code not in (403, 409):
                resp.raise_for_status()

        async def remove(self, room: str, peer: str) -> None:
            await self._participant(room, peer)
            await self._host("DELETE", f"/api/v1/rooms/{room}/participants/{peer}")

        async def mute(self, room: str, peer: str) -> None:
            await self._participant(room, peer)
            await self._host("POST", f"/api/v1/rooms/{room}/participants/{peer}/mute")

        async def unmute(self, room: str, peer: str) -> None:
            await self._host("POST", f"/api/v1/rooms/{room}/participants/{peer}/unmute")

    target = sfu.SfuTarget(
        url=dep.sfu_ws,
        token=token,
        host=ApiHost(),
        room_prefix="atk",
        socket_options={"local_addr": (dep.attacker_ip, 0)},
    )

    def run(fn: Callable[[Any], Awaitable[Any]]) -> Callable[[], Awaitable[Outcome]]:
        async def go() -> Outcome:
            target.socket_options = {"local_addr": (dep.attacker_ip, 0)}
            result = await fn(target)
            return Outcome(result.name, result.refused, result.detail)

        return go

    return [(getattr(fn, "__name__", str(fn)), run(fn)) for fn in getattr(sfu, "ATTACKS", [])]


async def run_one(name: str, go: Callable[[], Awaitable[Outcome]]) -> Outcome:
    print(f"[attack] {time.strftime('%H:%M:%S')} {name} ...", flush=True)
    t0 = time.monotonic()
    try:
        outcome = await asyncio.wait_for(go(), 300)
    except Exception as exc:  # an attack that errors out is reported, not fatal for the run
        outcome = Outcome(name, False, f"the attack itself failed: {type(exc).__name__}: {exc}")
    verdict = "refused" if outcome.refused else "NOT REFUSED"
    print(
        f"[attack] {outcome.attack}: {verdict} ({time.monotonic() - t0:.1f} s): {outcome.detail}", flush=True
    )
    return outcome


async def main() -> int:
    args = parse_args()
    t_start = time.monotonic()
    dep = Deployment(
        http=args.gateway,
        sfu_ws=args.sfu,
        redis_url=args.redis_url,
        admin_user=args.admin_user,
        admin_password=args.admin_password,
        join_token_secret=args.join_token_secret,
    )
    try:
        await dep.admin_token()
    except Exception as exc:
        print(
            f"make attack: no deployment to attack at {args.gateway} ({exc}); start one with `make run`",
            file=sys.stderr,
        )
        return 2

    meeting = None if args.no_meeting else await Meeting.start(dep, args)
    os.nice(args.nice)  # the attacker stands in for other machines: it yields the CPU to the deployment
    if meeting is not None:
        await asyncio.sleep(args.baseline_s)
        await meeting.attacks_begin()

    rss = RssWatch(dep)
    watcher = asyncio.create_task(rss.run())
    dropped0 = metric_sum(args.ingest_metrics, "parley_ingest_rtp_dropped_total")

    plan: list[tuple[str, Callable[[], Awaitable[Outcome]]]] = []
    proxied: tuple[Deployment, Callable[[], None]] | None = None
    for name, fn in ATTACKS.items():
        if ATTACK_SETUP.get(name) == "replica":
            if proxied is None:
                proxied = proxied_gateway(args)
            plan.append((name, lambda fn=fn, d=proxied[0]: fn(d)))
        else:
            plan.append((name, lambda fn=fn: fn(dep)))
    plan += sfu_attacks(dep)
    if args.only:
        plan = [(n, go) for n, go in plan if any(o in n for o in args.only)]

    outcomes = []
    run = random.randrange(20, 250)  # each attack comes from addresses of its own, fresh each run:
    try:  # one attack's rate-limit counts (kept in Redis) never meet another's
        for i, (name, go) in enumerate(plan):
            dep.attacker_ip = f"127.{run}.{i + 1}.10"
            if proxied is not None:
                proxied[0].attacker_ip = dep.attacker_ip
            outcomes.append(await run_one(name, go))
    finally:
        if proxied is not None:
            proxied[1]()
    report = await meeting.stop() if meeting is not None else {}
    dropped1 = metric_sum(args.ingest_metrics, "parley_ingest_rtp_dropped_total")
    watcher.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await watcher
    await cleanup(dep)

    during, baseline = report.get("during", {}), report.get("baseline", {})
    summary: dict[str, object] = {
        "attacks": len(outcomes),
        "refused": sum(o.refused for o in outcomes),
        "not_refused": [o.attack for o in outcomes if not o.refused],
        "meetings_disrupted": int(report["disrupted"]) if report else None,
        "captions_lost": during.get("lost"),
        "late_finals": during.get("late"),
        "finals": during.get("finals"),
        "final_latency_p50_s": round(during["p50"], 2) if during else None,
        "final_latency_p95_s": round(during["p95"], 2) if during else None,
        "final_latency_max_s": round(max(during["latencies"], default=0.0), 2) if during else None,
        "baseline_final_latency_p50_s": round(baseline["p50"], 2) if baseline else None,
        "baseline_final_latency_p95_s": round(baseline["p95"], 2) if baseline else None,
        "late_threshold_s": round(report["late_threshold_s"], 2) if report else None,
        "late_at": [time.strftime("%H:%M:%S", time.localtime(t)) for t in during.get("late_at", [])],
        "caption_socket_drops": during.get("caption_drops"),
        "speaker_dropped": during.get("sfu_dropped"),
        "rtp_dropped": None if dropped0 is None or dropped1 is None else int(dropped1 - dropped0),
        "gateway_rss_mb_max": round(rss.peak, 1),
        "duration_s": round(time.monotonic() - t_start, 1),
    }
    print(json.dumps(summary), flush=True)
    return 0 if not summary["not_refused"] and not summary["meetings_disrupted"] else 1


class Meeting:
    """The second meeting, in a process of its own (victim.py)."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc

    @classmethod
    async def start(cls, dep: Deployment, args: argparse.Namespace) -> Meeting:
        room = await dep.new_room("meeting", spoken_languages=["en"])
        speaker = await dep.token(room, "Speaker", role="guest")
        listener = await dep.token(room, "Listener", role="listener")
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            str(Path(__file__).with_name("victim.py")),
            "--sfu", args.sfu,
            "--room", room,
            "--speaker-token", speaker["token"],
            "--captions-url", dep.caption_url(room, listener["token"]),
            "--late-s", str(args.late_s),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )  # fmt: skip
        assert proc.stdout is not None
        ready = (await asyncio.wait_for(proc.stdout.readline(), 180)).decode().strip()
        print(f"[attack] second meeting {room}: {ready}", flush=True)
        return cls(proc)

    async def attacks_begin(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(b"attacks\n")
        await self.proc.stdin.drain()

    async def stop(self) -> dict[str, Any]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(b"stop\n")
        await self.proc.stdin.drain()
        line = await asyncio.wait_for(self.proc.stdout.readline(), 120)
        await self.proc.wait()
        out: dict[str, Any] = json.loads(line)
        return out


async def cleanup(dep: Deployment) -> None:
    """The attack rooms' caption streams (some hold 10,000 events) go; the rooms stay in Postgres."""
    r: aioredis.Redis = dep.redis()
    try:
        for room in dep.rooms_made:
            await r.delete(f"captions:{room}")
    finally:
        await r.aclose()


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))

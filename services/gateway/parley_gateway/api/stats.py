"""Live stats from Redis: active rooms and speakers, each pipeline stage's lag, replicas per service."""

from __future__ import annotations

import time
from typing import Any

import redis.asyncio as aioredis
from fastapi import APIRouter
from parley_common import keys
from parley_common.streams import id_after, id_time
from redis.exceptions import ResponseError

from parley_gateway.api.deps import AdminDep, RedisDep, SettingsDep
from parley_gateway.api.participants import ACTIVE_WINDOW_S
from parley_gateway.api.schemas import RoomLive, StageStats, StatsOut

router = APIRouter(tags=["stats"])

# (stream, consumer group, service whose replicas read it)
STAGES = (
    (keys.STT_JOBS_FINAL, keys.STT_GROUP, "stt"),
    (keys.STT_JOBS_PARTIAL, keys.STT_GROUP, "stt"),
    (keys.TRANSLATE_JOBS_FINAL, keys.TRANSLATE_GROUP, "translate"),
    (keys.TRANSLATE_JOBS_PARTIAL, keys.TRANSLATE_GROUP, "translate"),
    (keys.PERSIST_CAPTIONS, "persist", "persister"),
)


def _s(v: Any) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)


async def _stage(r: aioredis.Redis, stream: str, group: str, window_ms: float) -> tuple[StageStats, set[str]]:
    try:
        length = int(await r.xlen(stream))
        groups = await r.xinfo_groups(stream)
    except ResponseError:  # no such stream yet
        return StageStats(
            stream=stream, group=group, length=0, pending=0, lag=0, lag_s=0.0, consumers=0, replicas=0
        ), set()
    info = next((g for g in groups if _s(g.get("name")) == group), None)
    if info is None:
        return StageStats(
            stream=stream,
            group=group,
            length=length,
            pending=0,
            lag=length,
            lag_s=0.0,
            consumers=0,
            replicas=0,
        ), set()
    lag = int(info.get("lag") or 0)
    lag_s = 0.0
    if lag > 0:
        nxt = await r.xrange(stream, min=id_after(_s(info["last-delivered-id"])), count=1)
        if nxt:
            lag_s = max(0.0, time.time() - id_time(_s(nxt[0][0])))
    consumers = await r.xinfo_consumers(stream, group)
    recent = {_s(c["name"]) for c in consumers if float(c.get("idle", 0)) <= window_ms}
    stats = StageStats(
        stream=stream,
        group=group,
        length=length,
        pending=int(info.get("pending") or 0),
        lag=lag,
        lag_s=round(lag_s, 3),
        consumers=len(consumers),
        replicas=len(recent),
    )
    return stats, recent


@router.get("/stats", response_model=StatsOut)
async def stats(r: RedisDep, settings: SettingsDep, _: AdminDep) -> StatsOut:
    now = time.time()
    members = await r.zrangebyscore(keys.SPEAKERS_ACTIVE, now - ACTIVE_WINDOW_S, "+inf")
    speakers: dict[str, int] = {}
    for m in members:
        room, _speaker = keys.split_speaker_member(_s(m))
        speakers[room] = speakers.get(room, 0) + 1
    # Rooms with listeners: the caption languages gateways keep alive (room:{slug}:langs).
    listening: dict[str, list[str]] = {}
    async for key in r.scan_iter(match="room:*:langs", count=500):
        room = _s(key)[len("room:") : -len(":langs")]
        langs = await r.zrangebyscore(key, now, "+inf")
        if langs:
            listening[room] = sorted(_s(x) for x in langs)
    rooms = sorted(set(speakers) | set(listening))
    stages: list[StageStats] = []
    replicas: dict[str, set[str]] = {}
    for stream, group, service in STAGES:
        stage, recent = await _stage(r, stream, group, settings.stats_replica_window_s * 1000)
        stages.append(stage)
        replicas.setdefault(service, set()).update(recent)
    return StatsOut(
        active_rooms=len(rooms),
        active_speakers=sum(speakers.values()),
        rooms=[
            RoomLive(room=x, speakers=speakers.get(x, 0), listeners_languages=listening.get(x, []))
            for x in rooms
        ],
        stages=stages,
        replicas={k: len(v) for k, v in replicas.items()},
    )

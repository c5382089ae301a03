"""One load scenario: rooms of users, speakers taking turns within each room, then every final
waited for and counted at every listener."""

from __future__ import annotations

import asyncio
import random
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from parley_common import keys
from parley_common.tasks import cancel_all

from .analyse import analyse, missing
from .audio import EncodedClip
from .audit import AudioAudit
from .resources import CounterTrack, Sampler
from .stack import Target
from .users import RtpPump, User

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from pipeline import Spoken


@dataclass
class Scenario:
    name: str
    rooms: int
    users_per_room: int
    speakers: Callable[[int], int]  # room index -> speakers in it (they take turns)
    duration_s: float  # speech is scheduled for this long; then the last turns finish
    gap_s: tuple[float, float] = (1.0, 2.0)  # silence between turns in a room (uniform)
    translated_share: float = 0.4  # listeners reading Spanish (apertium), the rest the spoken language
    drain_s: float = 90.0  # most time to wait for late finals after the last speech
    seed: int = 1

    def layout(self, tag: str) -> list[User]:
        """Per room: the first users speak; the last `translated_share` of them read Spanish."""
        users = []
        translated = round(self.translated_share * self.users_per_room)
        for r in range(self.rooms):
            room = f"{tag}-{self.name}-r{r}"
            for i in range(self.users_per_room):
                lang = "es" if i >= self.users_per_room - translated else "source"
                users.append(User(room, f"u{i}", lang, speaks=i < self.speakers(r)))
        return users


@dataclass
class Run:
    """A scenario in progress; faults read `spoken` and `users` while it runs."""

    scenario: Scenario
    users: list[User]
    spoken: list[Spoken] = field(default_factory=list)
    started: float = 0.0
    speech_until: float = 0.0


async def run_scenario(
    sc: Scenario,
    target: Target,
    clips: list[EncodedClip],
    silence: bytes,
    *,
    tag: str,
    sampler: Sampler | None = None,
    during: Callable[[Run], Awaitable[dict[str, Any]]] | None = None,
) -> dict[str, Any]:
    users = sc.layout(tag)
    run = Run(sc, users)
    track = CounterTrack(target.metrics_urls)
    await asyncio.to_thread(track.poll)
    track_task = asyncio.create_task(track.run(5.0))
    # Join in small batches: as people arrive, not 50 sockets in one instant.
    for i in range(0, len(users), 5):
        await asyncio.gather(*(u.join(target) for u in users[i : i + 5]))
    speakers = [u for u in users if u.speaks]
    audit = (
        AudioAudit(target.redis_url, [keys.audio_stream(u.room, u.sub) for u in speakers])
        if target.redis_url
        else None
    )
    pump = RtpPump(speakers, silence)
    pump_task = asyncio.create_task(pump.run())
    audit_task = asyncio.create_task(audit.run()) if audit else None
    sampler_task = asyncio.create_task(sampler.run()) if sampler else None
    await asyncio.sleep(1.0)  # the ingest has seen producer.open and the first packets
    run.started = time.time()
    own_cpu = time.process_time()
    run.speech_until = run.started + sc.duration_s
    fault_task = asyncio.create_task(during(run)) if during else None
    rooms = sorted({u.room for u in users})
    await asyncio.gather(
        *(
            _room_turns(run, [u for u in speakers if u.room == room], clips, pump, k)
            for k, room in enumerate(rooms)
        )
    )
    speech_end = time.time()
    own_cpu = time.process_time() - own_cpu
    faults = await fault_task if fault_task else {}
    # Every final at every listener, or the drain time is up; then 3 s more for a duplicate to show.
    deadline = time.monotonic() + sc.drain_s
    while time.monotonic() < deadline and sum(missing(u, run.spoken) for u in users) > 0:
        await asyncio.sleep(1.0)
    await asyncio.sleep(3.0)
    drained_s = time.time() - speech_end
    track_task.cancel()
    await asyncio.to_thread(track.poll)
    pump.stop()
    await cancel_all(t for t in (pump_task, sampler_task, track_task, audit_task) if t is not None)
    await asyncio.gather(*(u.leave() for u in users))
    speech_s = sum(s.clip.audio.shape[0] / 16000 for s in run.spoken)
    result: dict[str, Any] = {
        "scenario": sc.name,
        "rooms": sc.rooms,
        "users": len(users),
        "speakers": len(speakers),
        "listeners": len(users),
        "speech_scheduled_s": sc.duration_s,
        "turn_gap_s": list(sc.gap_s),
        "room_duty_cycle": round(speech_s / (len(rooms) * max(1e-9, speech_end - run.started)), 3),
        **analyse(users, run.spoken),
        "drain_s": round(drained_s, 1),
        "caption_disconnects": sum(len(u.captions.drops) for u in users if u.captions),
        "signalling_disconnects": sum(1 for u in users if u.sig_closed_at),
        "rtp_packets_sent": pump.sent,
        "sender_late_ticks": pump.late_ticks,
        # the load generator itself (this process: RTP pump, sockets, caption clients), cores
        "generator_cores": round(own_cpu / max(1e-9, speech_end - run.started), 3),
        "counters": counters(track),
        "recovery_s": 0.0,  # the longest fault recovery (Session.run fills it in when faults ran)
        "sfu": {k: v for k, v in track.last.get("sfu", {}).items() if k.startswith("parley_sfu_")},
    }
    if audit:
        await audit.poll()
        result |= audit.report()
    listening = [u for u in users if u.media is not None]
    if listening:  # what the SFU forwarded to the listeners, against what the speakers sent
        sent = {room: sum(s.sent for s in speakers if s.room == room) for room in rooms}
        expected = sum(sent[u.room] for u in listening)
        got = sum(u.media.packets for u in listening if u.media is not None)
        result["listener_media_packets"] = got
        result["listener_media_ratio"] = round(got / max(1, expected), 4)
    if sampler:
        result["resources"] = sampler.report()
        sampler.samples.clear()
    if faults:
        result["faults"] = faults
    result["_run"] = run  # for the caller's own analysis (fault recovery); not printed
    return result


async def _room_turns(
    run: Run, speakers: list[User], clips: list[EncodedClip], pump: RtpPump, k: int
) -> None:
    """Speakers of one room take turns: one clip each, a gap, the next speaker, until time is up."""
    if not speakers:
        return
    rng = random.Random(run.scenario.seed * 1000 + k)
    await asyncio.sleep(rng.uniform(0, run.scenario.gap_s[1]))  # rooms do not start in lockstep
    order: list[EncodedClip] = []
    turn = 0
    while time.time() < run.speech_until:
        if not order:
            order = clips[:]
            rng.shuffle(order)
        clip = order.pop()
        u = speakers[turn % len(speakers)]
        turn += 1
        u.say(clip)
        run.spoken.append(Spoken(u.room, u.sub, clip.clip, pump.now_media()))
        await u.done.wait()
        await asyncio.sleep(rng.uniform(*run.scenario.gap_s))


def counters(track: CounterTrack) -> dict[str, float]:
    """What the services counted during the run."""
    d = track.delta
    return {
        "stt_dropped_partials": d("stt", "parley_stt_dropped_partials_total"),
        "stt_finals_catch_up": d("stt", "parley_stt_finals_catch_up_total"),
        "stt_final_jobs": d("stt", "parley_stt_jobs_total", kind="final"),
        "stt_partial_jobs": d("stt", "parley_stt_jobs_total", kind="partial"),
        "stt_job_errors": d("stt", "parley_stt_jobs_total", outcome="error"),
        "translate_dropped_partials": d("translate", "parley_translate_dropped_partials_total"),
        "gateway_captions_dropped": d("gateway", "parley_gateway_captions_dropped_total"),
        "ingest_rtp_packets": d("ingest", "parley_ingest_rtp_packets_total"),
        "ingest_rtp_dropped": d("ingest", "parley_ingest_rtp_dropped_total"),
        "ingest_rtp_dropped_redis_error": d(
            "ingest", "parley_ingest_rtp_dropped_total", reason="redis_error"
        ),
        "ingest_frames_appended": d("ingest", "parley_ingest_frames_total", outcome="appended"),
        # the same frame from the other replica, refused by Redis (the stream kept one copy)
        "ingest_frames_refused_copies": d("ingest", "parley_ingest_frames_total", outcome="duplicate"),
        "sfu_request_errors": d("sfu", "parley_sfu_request_errors_total"),
    }

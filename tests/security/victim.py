"""The meeting an attack must not disturb: a participant speaking LibriVox clips in turn through the
SFU (WebRTC, as parley-bot does) and a listener on the caption socket, for as long as the attacks
run. Afterwards: which clips got their final, how late, and whether either connection dropped.

A clip is `lost` when no final ends within `MATCH_S` of its end; a final is `late` when it arrived
more than `late_s` after the clip's last sample was sent (or, when longer, 1.5x the p95 the meeting
had alone before the attacks: the deployment shares this machine's cores with everything else).

It runs as its own process (run_attacks.py starts it), so the attacker's work never delays the
meeting's own audio or captions on the client side:
    victim.py --sfu URL --room R --speaker-token T --captions-url U
prints `ready` once the first final arrived; reads `attacks` (the attacks begin: clips ending
later count as "during") and `stop` on stdin; prints the report as one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from parley_bot.bot import RATE, FileTrack, decode_file
from parley_bot.client import Signalling, join, loopback_only_ice, transport
from parley_testkit.caption_client import CaptionClient

LIBRIVOX = Path("/usr/share/pocketsphinx/test/data/librivox")
GAP_S = 2.0  # silence between clips: each clip is one utterance, one final
MATCH_S = 1.5  # a final whose speech end lies this close to a clip's end is that clip's


@dataclass
class Clip:
    start: float  # offset in the track (s)
    end: float


@dataclass
class MeetingReport:
    clips: int  # fully spoken before the meeting stopped
    finals: int  # of those, with a final on the listener's socket
    lost: int
    late: int
    latencies: list[float]  # clip end -> final on the socket (s)
    late_at: list[float]  # epoch s each late final's clip ended (to tell which attack ran then)
    caption_drops: int  # the listener's socket closed while the meeting ran
    sfu_dropped: bool  # the speaker's signalling socket closed while the meeting ran

    @property
    def disrupted(self) -> bool:
        return bool(self.lost or self.late or self.caption_drops or self.sfu_dropped)

    def percentile(self, q: float) -> float:
        xs = sorted(self.latencies)
        return xs[min(len(xs) - 1, int(q * len(xs)))] if xs else 0.0


def meeting_audio(minutes: float) -> tuple[bytes, list[Clip]]:
    """48 kHz mono s16le: the LibriVox clips in turn, GAP_S apart, for `minutes`."""
    clips = [decode_file(str(p)) for p in sorted(LIBRIVOX.glob("*.wav"))]
    gap = bytes(int(GAP_S * RATE) * 2)
    pcm, schedule, t = bytearray(gap), [], GAP_S
    i = 0
    while t < minutes * 60:
        clip = clips[i % len(clips)]
        dur = len(clip) / 2 / RATE
        schedule.append(Clip(t, t + dur))
        pcm += clip + gap
        t += dur + GAP_S
        i += 1
    return bytes(pcm), schedule


@dataclass
class VictimMeeting:
    sfu_url: str
    room: str
    speaker_token: str
    captions_url: str
    minutes: float = 15.0
    late_s: float = 5.0
    track: FileTrack | None = None
    schedule: list[Clip] = field(default_factory=list)
    listener: CaptionClient | None = None
    _sig: Signalling | None = None
    _task: asyncio.Task[None] | None = None
    _sig_closed: bool = False
    _listener_closed: bool = False

    async def start(self) -> None:
        pcm, self.schedule = await asyncio.to_thread(meeting_audio, self.minutes)
        self.listener = CaptionClient(self.captions_url)
        await self.listener.__aenter__()
        self._sig = await Signalling.connect(self.sfu_url)
        _, device = await join(self._sig, self.room, self.speaker_token)
        send = await transport(self._sig, device, "send")
        self.track = FileTrack(pcm)
        await send.produce(track=self.track, stopTracks=False)
        self._sig._reader.add_done_callback(self._on_sig_closed)
        assert self.listener._task is not None
        self.listener._task.add_done_callback(self._on_listener_closed)
        deadline = time.monotonic() + 30
        while self.track.started is None and time.monotonic() < deadline:
            await asyncio.sleep(0.1)

    def _on_sig_closed(self, _: object) -> None:
        self._sig_closed = True

    def _on_listener_closed(self, _: object) -> None:
        self._listener_closed = True

    async def wait_first_final(self, timeout: float = 60.0) -> bool:
        assert self.listener is not None
        return await self.listener.wait_for(lambda c: bool(c.finals()), timeout)

    async def stop(self, drain_s: float = 8.0, since: float = 0.0) -> MeetingReport:
        """Stop after the clip being spoken ends, wait `drain_s` for its final, and report on the
        clips that ended after `since` (epoch s)."""
        assert self.track is not None and self.track.started is not None and self.listener is not None
        now = time.time() - self.track.started
        spoken = [c for c in self.schedule if c.end <= now + 10 and self.track.started + c.end > since]
        if spoken:
            await asyncio.sleep(max(0.0, self.track.started + spoken[-1].end - time.time()))
        await asyncio.sleep(drain_s)
        sig_dropped, listener_dropped = self._sig_closed, self._listener_closed
        if self._sig is not None:
            with contextlib.suppress(Exception):
                await self._sig.request("leave", timeout=5)
            await self._sig.close()
        await self.listener.__aexit__()
        return self.report(spoken, sig_dropped, listener_dropped)

    def report(self, spoken: list[Clip], sig_dropped: bool, listener_dropped: bool) -> MeetingReport:
        assert self.track is not None and self.track.started is not None and self.listener is not None
        t0 = self.track.started
        arrivals = [
            (at, float(m["caption"]["timing"]["speech_end"]))
            for at, m in self.listener.received
            if m.get("type") == "caption" and m["caption"]["type"] == "final" and m["caption"]["text"]
        ]
        latencies, lost, late_at = [], 0, []
        for clip in spoken:
            end = t0 + clip.end
            hits = [at for at, speech_end in arrivals if abs(speech_end - end) <= MATCH_S]
            if not hits:
                lost += 1
                continue
            latency = min(hits) - end
            latencies.append(latency)
            if latency > self.late_s:
                late_at.append(round(end, 1))
        return MeetingReport(
            clips=len(spoken),
            finals=len(latencies),
            lost=lost,
            late=len(late_at),
            latencies=latencies,
            late_at=late_at,
            caption_drops=int(listener_dropped),
            sfu_dropped=sig_dropped,
        )


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description="the meeting the attacks must not disturb")
    p.add_argument("--sfu", required=True)
    p.add_argument("--room", required=True)
    p.add_argument("--speaker-token", required=True)
    p.add_argument("--captions-url", required=True)
    p.add_argument("--late-s", type=float, default=5.0)
    p.add_argument("--minutes", type=float, default=20.0)
    return p.parse_args()


async def amain() -> None:
    args = parse_args()
    meeting = VictimMeeting(
        args.sfu, args.room, args.speaker_token, args.captions_url, minutes=args.minutes, late_s=args.late_s
    )
    await meeting.start()
    first = await meeting.wait_first_final(90)
    print("ready" if first else "ready (no caption in 90 s)", flush=True)
    loop = asyncio.get_running_loop()
    attacks_from, baseline = time.time(), None
    while (line := (await loop.run_in_executor(None, sys.stdin.readline)).strip()) not in ("stop", ""):
        if line == "attacks":
            attacks_from = time.time()
            assert meeting.track is not None and meeting.track.started is not None
            done = [c for c in meeting.schedule if meeting.track.started + c.end <= attacks_from - 1]
            baseline = meeting.report(done, False, False)
            # On a machine shared with the deployment, "on time" is what the meeting managed alone.
            meeting.late_s = max(args.late_s, 1.5 * baseline.percentile(0.95))
    during = await meeting.stop(since=attacks_from)
    out = {"during": asdict(during), "disrupted": during.disrupted, "late_threshold_s": meeting.late_s}
    out["during"]["p50"], out["during"]["p95"] = during.percentile(0.5), during.percentile(0.95)
    if baseline is not None:
        out["baseline"] = {
            **asdict(baseline),
            "p50": baseline.percentile(0.5),
            "p95": baseline.percentile(0.95),
        }
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    with loopback_only_ice():
        asyncio.run(amain())

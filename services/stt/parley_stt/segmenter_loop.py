"""The segmenter's Redis loop: owns speakers through Redis leases, feeds their audio to the pure
end-of-speech state machine (segmenter_machine.py) and commits its jobs, cancels and confirmations
together with the speaker's checkpoint in one atomic script (parley_common.publish, the utterance
protocol), so a replica that dies at any instant leaves a checkpoint from which another replica
resumes without losing or repeating a job."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import dataclass, field

import redis.asyncio as aioredis
from parley_common import keys
from parley_common.log import caption_context
from parley_common.publish import MARKER_TTL_S, Commit, Publisher, Step, UtteranceOp, checkpoint_digest
from parley_common.schemas import AudioFrame, BadMessage, JobKind, SttJob

from parley_stt import metrics
from parley_stt.segmenter_machine import Action, ActionKind, SpeakerSegmenter, SpeakerState
from parley_stt.settings import SttSettings

log = logging.getLogger("parley.stt.segmenter")

# The lease, and the checkpoint with it: a checkpoint lives as long as its speaker is held (a
# speaker silent for longer than MARKER_TTL_S would otherwise find it gone, and the commit's check
# would send it back to the start).
_RENEW = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('EXPIRE', KEYS[2], ARGV[3])
return redis.call('PEXPIRE', KEYS[1], ARGV[2])
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


@dataclass
class OwnedSpeaker:
    room: str
    speaker: str
    seg: SpeakerSegmenter
    last_id: str
    last_frame_at: float = field(default_factory=time.monotonic)
    checkpointed: float = 0.0  # monotonic s of the last commit
    committed: str = ""  # checkpoint_digest of the checkpoint it last wrote or loaded ("" for none)

    @property
    def stream(self) -> str:
        return keys.audio_stream(self.room, self.speaker)

    @property
    def ctx(self) -> dict[str, object]:
        """`extra=` for its log lines (parley_common.log.caption_context)."""
        return caption_context(self.room, self.speaker)


class Segmenter:
    def __init__(self, r: aioredis.Redis, settings: SttSettings) -> None:
        self.r = r
        self.settings = settings
        self.owner = settings.replica_name()
        self.cfg = settings.segmenter_config()
        self.owned: dict[str, OwnedSpeaker] = {}
        self.publisher = Publisher(r)
        self._renew = r.register_script(_RENEW)
        self._release = r.register_script(_RELEASE)
        self.healthy = True

    async def run(self) -> None:
        last_maintenance = 0.0
        while True:
            now = time.monotonic()
            if now - last_maintenance > self.settings.lease_ms / 3000:
                await self._maintain_leases()
                last_maintenance = now
            if not self.owned:
                await asyncio.sleep(0.05)
                continue
            await self._read_once()

    async def _maintain_leases(self) -> None:
        for key, sp in list(self.owned.items()):
            ok = await self._renew(
                keys=[keys.segmenter_lease(sp.room, sp.speaker), keys.segmenter_state(sp.room, sp.speaker)],
                args=[self.owner, self.settings.lease_ms, MARKER_TTL_S],
            )
            if not ok:
                log.warning("lost speaker lease [room:%s, speaker:%s]", sp.room, sp.speaker, extra=sp.ctx)
                del self.owned[key]
        active = await self.r.zrangebyscore(keys.SPEAKERS_ACTIVE, time.time() - 60, "+inf")
        for member in active:
            m = member.decode()
            if m not in self.owned:
                await self._try_acquire(m)
        metrics.SPEAKERS.set(len(self.owned))

    async def _try_acquire(self, member: str) -> None:
        room, speaker = keys.split_speaker_member(member)
        lease = keys.segmenter_lease(room, speaker)
        if not await self.r.set(lease, self.owner, nx=True, px=self.settings.lease_ms):
            return
        if not await self.r.exists(keys.room_info(room)):
            metrics.BAD_INPUT.labels("unknown_room").inc()
            log.warning(
                "audio for an unknown room dropped [room:%s, speaker:%s]",
                room,
                speaker,
                extra=caption_context(room, speaker),
            )
            await self.r.zrem(keys.SPEAKERS_ACTIVE, member)
            await self._release(keys=[lease], args=[self.owner])
            return
        self.owned[member] = await self._from_checkpoint(room, speaker)
        log.info(
            "segmenting speaker [room:%s, speaker:%s, from:%s]",
            room,
            speaker,
            self.owned[member].last_id,
            extra=caption_context(room, speaker),
        )

    async def _from_checkpoint(self, room: str, speaker: str) -> OwnedSpeaker:
        """The speaker's segmenter as its checkpoint in Redis left it (from the start: none)."""
        raw = await self.r.get(keys.segmenter_state(room, speaker))
        state, last_id = _load_checkpoint(raw)
        seg = SpeakerSegmenter(self.cfg, state)
        return OwnedSpeaker(room, speaker, seg, last_id, committed=checkpoint_digest(raw))

    async def _read_once(self) -> None:
        streams = {sp.stream: sp.last_id for sp in self.owned.values()}
        reply = await self.r.xread(streams, count=50, block=20)
        got: set[str] = set()
        for stream_name, entries in reply or []:
            member = stream_name.decode().removeprefix("audio:").replace(":", "/", 1)
            sp = self.owned.get(member)
            if sp is None:
                continue
            got.add(member)
            await self._consume(member, sp, entries)
        now = time.monotonic()
        for member, sp in list(self.owned.items()):
            if member not in got and sp.seg.s.in_speech and now - sp.last_frame_at > self.settings.stall_s:
                log.info(
                    "speaker stalled mid-utterance, flushing [room:%s, speaker:%s]",
                    sp.room,
                    sp.speaker,
                    extra=sp.ctx,
                )
                await self._commit_actions(sp, sp.seg.flush())

    async def _consume(
        self, member: str, sp: OwnedSpeaker, entries: list[tuple[bytes, dict[bytes, bytes]]]
    ) -> None:
        actions: list[Action] = []
        ended = False
        for eid, fields in entries:
            sp.last_id = eid.decode()
            try:
                frame = AudioFrame.from_fields(fields)
            except BadMessage as exc:
                metrics.BAD_INPUT.labels(exc.reason).inc()
                log.warning(
                    "bad audio frame dropped [room:%s, speaker:%s]: %s",
                    sp.room,
                    sp.speaker,
                    exc,
                    extra=sp.ctx,
                )
                continue
            if frame.pcm:
                actions.extend(sp.seg.feed(sp.last_id, frame.ts, frame.pcm))
            if frame.eof:
                actions.extend(sp.seg.flush())
                ended = True
        sp.last_frame_at = time.monotonic()
        ok = await self._commit_actions(sp, actions, force=ended)
        if ended and ok:
            log.info("speaker stream ended [room:%s, speaker:%s]", sp.room, sp.speaker, extra=sp.ctx)
            await self.r.zrem(keys.SPEAKERS_ACTIVE, member)
            await self._release(keys=[keys.segmenter_lease(sp.room, sp.speaker)], args=[self.owner])
            del self.owned[member]

    async def _commit_actions(self, sp: OwnedSpeaker, actions: list[Action], force: bool = False) -> bool:
        if not actions and not force and time.monotonic() - sp.checkpointed < self.settings.checkpoint_s:
            # Nothing to publish: the checkpoint (~16 KB of JSON) can wait. A replica taking over
            # replays these frames from the previous one and, the VAD being deterministic, reaches
            # the same state. Committing every XREAD batch cost more CPU than the VAD itself.
            return True
        sp.checkpointed = time.monotonic()
        now = time.time()
        steps: list[Step] = []
        for a in actions:
            cid = keys.caption_id(sp.room, sp.speaker, a.utt)
            if a.kind in (ActionKind.FINAL, ActionKind.PARTIAL):
                job = SttJob(
                    kind=JobKind(a.kind.value),
                    room=sp.room,
                    speaker=sp.speaker,
                    utt=a.utt,
                    attempt=a.attempt,
                    start_id=a.start_id,
                    end_id=a.end_id,
                    start_ts=a.start_ts,
                    end_ts=a.end_ts,
                    created=now,
                )
                steps.append(Step(UtteranceOp(a.kind.value), cid, a.attempt, job.model_dump_json()))
            elif a.kind is ActionKind.CONFIRM:
                steps.append(Step(UtteranceOp.CONFIRM, cid, a.attempt, repr(now)))
                metrics.EOS_DECISION.observe(max(0.0, now - a.end_ts))
            else:
                steps.append(Step(UtteranceOp.CANCEL, cid, a.attempt))
        checkpoint = _dump_checkpoint(sp.seg.state(), sp.last_id)
        outcome = await self.publisher.commit_segmenter(
            room=sp.room,
            speaker=sp.speaker,
            owner=self.owner,
            checkpoint=checkpoint,
            previous=sp.committed,
            steps=steps,
            jobs_maxlen=self.settings.jobs_maxlen,
        )
        if outcome is Commit.DONE:
            sp.committed = checkpoint_digest(checkpoint)
            return True
        if outcome is Commit.STALE:
            # A commit of ours is not in Redis (a failover lost the old master's tail, and the
            # client went on on the new master without an error): go back to the checkpoint Redis
            # has and replay the audio from there; the VAD being deterministic, the lost jobs come
            # again, under the same caption ids. Going on from memory lost their finals for good.
            log.warning(
                "a checkpoint of this speaker's was lost in Redis: replaying from the stored one [room:%s, speaker:%s]",
                sp.room,
                sp.speaker,
                extra=sp.ctx,
            )
            metrics.CHECKPOINTS_LOST.inc()
            self.owned[f"{sp.room}/{sp.speaker}"] = await self._from_checkpoint(sp.room, sp.speaker)
            return False
        log.warning(
            "lease lost before commit; another replica owns [room:%s, speaker:%s]",
            sp.room,
            sp.speaker,
            extra=sp.ctx,
        )
        self.owned.pop(f"{sp.room}/{sp.speaker}", None)
        return False

    async def release_all(self) -> None:
        for sp in list(self.owned.values()):
            await self._release(keys=[keys.segmenter_lease(sp.room, sp.speaker)], args=[self.owner])
        self.owned.clear()


def _dump_checkpoint(state: SpeakerState, last_id: str) -> str:
    return f'{{"last_id": "{last_id}", "seg": {state.to_json()}}}'


def _load_checkpoint(raw: bytes | None) -> tuple[SpeakerState | None, str]:
    if not raw:
        return None, "0-0"
    d = json.loads(raw)
    return SpeakerState.from_json(json.dumps(d["seg"])), str(d["last_id"])

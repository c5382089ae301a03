"""Job worker: any replica takes any job. Finals never wait behind partials; stale partials dropped.

A job names a range of a speaker's audio stream, so no speaker state lives in this process: a
replica that dies leaves its jobs pending and another claims them (XAUTOCLAIM) and redoes them;
publishing is idempotent, so a final reaches listeners exactly once.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, replace

import numpy as np
import redis.asyncio as aioredis
from parley_common import keys
from parley_common.lanes import Accepted, FinalsFirst, Lane
from parley_common.log import caption_context
from parley_common.publish import Publisher, final_is_void, partial_is_moot
from parley_common.schemas import SAMPLE_RATE, Caption, CaptionType, JobKind, SttJob, Timing, Word
from parley_common.streams import ConsumerGroup

from parley_stt import gate, metrics
from parley_stt.audio import job_audio
from parley_stt.engine import DecodeOptions, Transcript, WhisperEngine, pack_fits
from parley_stt.settings import SttSettings
from parley_stt.speaker_lang import DETECT_MIN_S, LanguageChoice, SpeakerLanguages
from parley_stt.speech_translate import SpeechTranslator

log = logging.getLogger("parley.stt.worker")


class Worker:
    def __init__(self, r: aioredis.Redis, settings: SttSettings, engine: WhisperEngine) -> None:
        self.r = r
        self.settings = settings
        self.engine = engine
        consumer = settings.replica_name()

        def lane(stream: str) -> Lane[SttJob]:
            group = ConsumerGroup(r, stream, keys.STT_GROUP, consumer, min_idle_ms=settings.claim_idle_ms)
            return Lane(group, _parse_job, lambda reason: metrics.BAD_INPUT.labels(reason).inc())

        self.finals = lane(keys.STT_JOBS_FINAL)
        self.partials = lane(keys.STT_JOBS_PARTIAL)
        self.translations = lane(keys.STT_JOBS_TRANSLATE)
        self.publisher = Publisher(r)
        self.gate = settings.gate_config()
        self.languages = SpeakerLanguages(r, settings.gate_language_prob)
        self.speech = SpeechTranslator(r, settings, engine, self.publisher)
        self.lanes = FinalsFirst(
            finals=self.finals,
            handle_final=lambda eid, job: self._handle(self.finals, eid, job),
            partials=self.partials,
            handle_partial=lambda eid, job: self._handle(self.partials, eid, job),
            partial_key=lambda job: keys.caption_id(job.room, job.speaker, job.utt),
            count_dropped=metrics.DROPPED_PARTIALS.inc,
            after_claims=self._export_backlog,
            dispatch=settings.dispatch(r, "stt"),
            partials_beside_finals=settings.partials_beside_finals,
            # Speech translations: a second decode, only while no final or partial is in progress.
            background=self.translations,
            handle_background=self._translate_speech,
            background_batch=1,
            final_batch=settings.finals_pack_max,
            handle_finals=self._handle_finals,
        )
        self.dispatch = self.lanes.dispatch

    async def run(self) -> None:
        """Finals first, the newest partial of each utterance while no final decodes (the model runs
        two at once), and every second the jobs of replicas that died (parley_common.lanes)."""
        await self.lanes.run()

    async def _export_backlog(self) -> None:
        lanes = (
            (JobKind.FINAL, self.finals),
            (JobKind.PARTIAL, self.partials),
            (JobKind.TRANSLATE, self.translations),
        )
        for kind, lane in lanes:
            metrics.PENDING.labels(kind.value).set(await lane.group.backlog())

    async def _translate_speech(self, jobs: list[Accepted[SttJob]]) -> None:
        for eid, job in jobs:
            await self.speech.translate(job)
            await self.translations.group.ack(eid)

    async def _handle(self, lane: Lane[SttJob], eid: bytes, job: SttJob, ready: _Ready | None = None) -> None:
        try:
            outcome = await self._do(job, ready)
        except Exception:
            _failed(job)  # not acknowledged: after claim_idle_ms it is claimed again (up to max deliveries)
            return
        metrics.JOBS.labels(job.kind.value, outcome).inc()
        await lane.group.ack(eid)

    async def _handle_finals(self, batch: list[Accepted[SttJob]]) -> None:
        """Finals that were waiting together: those of one language and decode settings that fit
        one window are decoded in one packed pass (engine.transcribe_packed), the rest one by one."""
        ready: list[tuple[bytes, _Ready]] = []
        for eid, job in batch:
            try:
                prepared = await self._prepare(job, catch_up=False)  # packing is the catching up
            except Exception:
                _failed(job)  # left pending: the claim pass retries it
                continue
            if isinstance(prepared, str):
                metrics.JOBS.labels(job.kind.value, prepared).inc()
                await self.finals.group.ack(eid)
            else:
                ready.append((eid, prepared))
        for pack in _packs(ready):
            if len(pack) == 1:
                pack[0][1].opts = self._catch_up(pack[0][1].job, pack[0][1].opts)
            else:
                started = time.time()
                clips = [r.audio for _, r in pack]
                try:
                    results = await asyncio.to_thread(self.engine.transcribe_packed, clips, pack[0][1].opts)
                except Exception:  # each is decoded alone instead
                    log.exception("packed decode of %d finals failed", len(pack))
                    results = [None] * len(pack)
                placed = sum(1 for x in results if x is not None)
                metrics.FINALS_PACKED.inc(placed)
                log.info(
                    "packed decode of %d finals in %.2f s: %d placed, %d to decode alone",
                    len(pack),
                    time.time() - started,
                    placed,
                    len(pack) - placed,
                )
                for (_, r), result in zip(pack, results, strict=True):
                    r.packed, r.stt_start = result, started
            for eid, r in pack:
                await self._handle(self.finals, eid, r.job, r)

    async def _prepare(self, job: SttJob, catch_up: bool = True) -> _Ready | str:
        """What a decode of `job` needs, or why there is nothing to decode (the outcome). With
        `catch_up`, a final that waited too long gets the padded window (_catch_up)."""
        cid = keys.caption_id(job.room, job.speaker, job.utt)
        if not await self.r.exists(keys.room_info(job.room)):
            metrics.BAD_INPUT.labels("unknown_room").inc()
            log.warning(
                "job for an unknown room dropped [room:%s, speaker:%s]",
                job.room,
                job.speaker,
                extra=_ctx(job),
            )
            return "unknown_room"
        if job.kind is JobKind.PARTIAL:
            # Stale, or the speaker paused and the final is already on its way: not worth a decode.
            too_old = time.time() - job.created > self.settings.partial_max_age_s
            if too_old or await partial_is_moot(self.r, cid):
                metrics.DROPPED_PARTIALS.inc()
                return "stale"
        elif await final_is_void(self.r, cid, job.attempt):
            return "superseded"
        began = time.perf_counter()
        audio = await job_audio(self.r, job)
        if audio is None:
            return "no_audio"
        fields = ("t0", "language", "prompt", "hotwords", "spoken_languages")
        info = await self.r.hmget(keys.room_info(job.room), *fields)
        t0 = float(info[0] or job.start_ts)
        room_language = (info[1] or b"").decode() or self.settings.language
        spoken = tuple(x for x in (info[4] or b"").decode().split(",") if x)
        choice = await self.languages.choose(job.room, job.speaker, room_language, spoken)
        s = self.settings
        opts = DecodeOptions(
            window=s.final_window if job.kind is JobKind.FINAL else "padded",
            pad_s=s.final_pad_s if job.kind is JobKind.FINAL else s.partial_pad_s,
            language=choice.language,
            allowed=choice.allowed,
            # A partial gets the glossary but not the prompt: on half a second of speech Whisper
            # copies a long prompt's words into the caption (docs/architecture.md, "Room prompt and glossary").
            prompt=((info[2] or b"").decode() or s.initial_prompt) if job.kind is JobKind.FINAL else "",
            hotwords=(info[3] or b"").decode() or s.hotwords,
            word_timestamps=s.word_timestamps and job.kind is JobKind.FINAL,
            partial=job.kind is JobKind.PARTIAL,
        )
        return _Ready(job, audio, t0, choice, self._catch_up(job, opts) if catch_up else opts, began)

    def _catch_up(self, job: SttJob, opts: DecodeOptions) -> DecodeOptions:
        """A full-window final that has waited catch_up_after_s: the padded window instead."""
        s = self.settings
        if opts.window == "full" and s.catch_up_after_s and time.time() - job.created > s.catch_up_after_s:
            metrics.FINALS_CATCH_UP.inc()
            return replace(opts, window="padded")  # behind: a cheaper decode now beats an exact one later
        return opts

    async def _do(self, job: SttJob, ready: _Ready | None = None) -> str:
        r = ready or await self._prepare(job)
        if isinstance(r, str):
            return r
        s, opts, audio = self.settings, r.opts, r.audio
        stt_start = r.stt_start or time.time()
        result = await self._decode(job, audio, opts, r.choice, r.packed)
        verdict = gate.judge(result.evidence(), self.gate)
        redone = (
            job.kind is JobKind.FINAL
            and opts.window != s.final_window
            and (not result.text or verdict[0] is gate.Verdict.WITHHOLD)
        )
        if redone:
            # The catch-up window found no words the stock window would have: a shortcut taken to
            # catch up (after a Redis outage, a backlog) must not cost an utterance its caption.
            log.info(
                "catch-up final came out empty, decoding it in the %s window [room:%s, speaker:%s, utt:%d]",
                s.final_window,
                job.room,
                job.speaker,
                job.utt,
            )
            opts = replace(opts, window=s.final_window, pad_s=s.final_pad_s)
            again = await self._decode(job, audio, opts, r.choice)
            again.decode_s += result.decode_s
            result = again
            verdict = gate.judge(result.evidence(), self.gate)
        metrics.GATED.labels(job.kind.value, verdict[0].value).inc()  # once per caption, redone or not
        done = time.time()
        metrics.DECODE_SECONDS.labels(job.kind.value).observe(result.decode_s)
        metrics.STT_SECONDS.labels(job.kind.value).observe(done - job.created)
        timing = Timing(speech_end=job.end_ts, job=job.created, stt_start=stt_start, stt_done=done)
        caption = await self._caption(job, result, r.t0, verdict, timing)
        if job.kind is JobKind.PARTIAL:
            if not caption.text:
                return "empty"
            await self.publisher.partial(caption, translate=True)
            return "published"
        metrics.REAL_TIME_FACTOR.observe(result.decode_s / max(0.1, len(audio) / 16000))
        await self.publisher.store_final_result(caption, job.attempt)
        took = time.perf_counter() - r.began
        if opts.window == s.final_window and not r.in_pack and not redone and self.dispatch is not None:
            self.dispatch.observe(took)  # how fast a final is here, alone
        log.info(
            "final decoded [room:%s, speaker:%s, utt:%d, attempt:%d] in %.2f s (%s window%s, waited %.2f s): %d words",
            job.room,
            job.speaker,
            job.utt,
            job.attempt,
            took,
            opts.window,
            ", packed" if r.packed is not None else "",
            stt_start - job.created,
            len(caption.text.split()),
            extra=_ctx(job),
        )
        if caption.text and await self.speech.wanted(job.room, caption.lang):
            await self.speech.enqueue(job)  # after the final: never on its path
        return "published" if caption.text else "no_speech"

    async def _decode(
        self,
        job: SttJob,
        audio: np.ndarray,
        opts: DecodeOptions,
        choice: LanguageChoice,
        packed: Transcript | None = None,
    ) -> Transcript:
        """Decode in the chosen language (or take `packed`, this audio's share of a packed decode);
        learn a detected one; on a final decoded in a speaker's kept language that lost confidence,
        detect again on this audio and, if another language wins, decode again in it
        (speaker_lang.py)."""
        result = (
            packed if packed is not None else await asyncio.to_thread(self.engine.transcribe, audio, opts)
        )
        if not result.text:
            return result
        final = job.kind is JobKind.FINAL
        ok = self.gate.ok_logprob
        if result.language_prob is not None and choice.language is None:
            if len(audio) >= DETECT_MIN_S * SAMPLE_RATE:
                await self.languages.learn(
                    job.room,
                    job.speaker,
                    result.language,
                    result.language_prob,
                    result.avg_logprob,
                    final=final,
                )
        elif final and choice.dropped(result.avg_logprob, ok):
            metrics.LANGUAGE_DETECTIONS.labels("confidence_drop").inc()
            lang, prob = await asyncio.to_thread(self.engine.detect, audio, choice.allowed)
            if lang != result.language:
                again = await asyncio.to_thread(self.engine.transcribe, audio, replace(opts, language=lang))
                again.language_prob = prob
                again.decode_s += result.decode_s
                result = again
            weak = choice.weak + 1 if lang == choice.language else 0
            await self.languages.learn(
                job.room, job.speaker, lang, prob, result.avg_logprob, final=True, weak=weak
            )
        elif choice.kept:
            weak_final = result.avg_logprob < ok if final else None
            await self.languages.observe(job.room, job.speaker, choice, result.avg_logprob, weak_final)
        return result

    async def _caption(
        self, job: SttJob, result: Transcript, t0: float, judged: tuple[gate.Verdict, str], timing: Timing
    ) -> Caption:
        """The caption of a decode, as the gate judged it (a withheld one has no text)."""
        name = await self.r.hget(keys.room_speakers(job.room), job.speaker)
        start = max(0.0, job.start_ts - t0)  # pre-roll may reach back before the meeting's t0
        verdict, why = judged
        text = result.text
        if verdict is gate.Verdict.WITHHOLD:
            log.info(
                "caption withheld [room:%s, speaker:%s, utt:%d]: %s", job.room, job.speaker, job.utt, why
            )
            text, why = "", ""
        return Caption(
            type=CaptionType.FINAL if job.kind is JobKind.FINAL else CaptionType.PARTIAL,
            id=keys.caption_id(job.room, job.speaker, job.utt),
            room=job.room,
            speaker=job.speaker,
            speaker_name=(name or b"").decode() or job.speaker,
            utt=job.utt,
            rev=job.attempt,
            lang=result.language,
            text=text,
            source_lang=result.language,
            source_text=text,
            uncertain=why,
            start=round(start, 3),
            end=round(max(start, job.end_ts - t0), 3),
            words=[
                Word(w=w.w, start=round(start + w.start, 3), end=round(start + w.end, 3))
                for w in (result.words if text else [])
            ],
            timing=timing,
        )


@dataclass
class _Ready:
    """A job with its audio and decode options, ready to decode."""

    job: SttJob
    audio: np.ndarray
    t0: float  # the room's start: captions' times are relative to it
    choice: LanguageChoice
    opts: DecodeOptions
    began: float  # perf_counter when the job was taken up
    packed: Transcript | None = None  # its share of a packed decode, once done
    stt_start: float = 0.0  # when its decode began (wall clock), where it began before _do

    @property
    def in_pack(self) -> bool:
        """It went through a packed decode (placed, or sent back to be decoded alone after it)."""
        return self.stt_start > 0


def _packs(ready: list[tuple[bytes, _Ready]]) -> list[list[tuple[bytes, _Ready]]]:
    """`ready` in groups that may share a packed window: full-window finals with the same language
    (known, not to detect) and decode options, fitting the window together; others alone."""
    out: list[list[tuple[bytes, _Ready]]] = []
    for item in ready:
        opts = item[1].opts
        if opts.window == "full" and opts.language is not None:
            for pack in out:
                head = pack[0][1]
                if head.opts == opts and pack_fits([len(r.audio) / SAMPLE_RATE for _, r in [*pack, item]]):
                    pack.append(item)
                    break
            else:
                out.append([item])
        else:
            out.append([item])
    return out


def _failed(job: SttJob) -> None:
    """Count and log a job that raised (called from its except block: the traceback is logged)."""
    metrics.JOBS.labels(job.kind.value, "error").inc()
    log.exception("job failed [room:%s, speaker:%s, utt:%d]", job.room, job.speaker, job.utt, extra=_ctx(job))


def _ctx(job: SttJob) -> dict[str, object]:
    return caption_context(
        job.room, job.speaker, keys.caption_id(job.room, job.speaker, job.utt), job.attempt
    )


def _parse_job(fields: dict[bytes, bytes]) -> SttJob:
    job = SttJob.from_fields(fields)
    assert isinstance(job, SttJob)
    return job

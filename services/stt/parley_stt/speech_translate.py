"""Whisper's speech translation into English (task="translate"), where it helps: for a speaker
whose language no text engine translates into English, only while someone in the room reads
English. Whisper translates from the audio, so it needs no text engine for the pair, at the price of
a second decode of the utterance.

It never sits on the final's path: a final that needs it is published as usual, and a job goes to
stt:jobs:translate; the worker's background lane (parley_common.lanes: only while no final or
partial is in progress) waits until the final of that attempt went out, decodes the same audio with
task="translate", and publishes the English caption once (marker pub:{id}:final:en), as a
translate replica would. The decoder-evidence gate (gate.py) decides: a translation is shown only if
both it and the transcript it came from are backed by the model's evidence; otherwise the English
listeners get the original, labelled as not translated and why. A translation the model could
not back is worse than none: Whisper base turns speech it cannot read into fluent English
("Please subscribe to my channel").
"""

from __future__ import annotations

import asyncio
import logging
import time

import redis.asyncio as aioredis
from faster_whisper.tokenizer import _LANGUAGE_CODES as WHISPER_LANGUAGES
from parley_common import keys
from parley_common.publish import PUBLISHED, Publisher, result_field
from parley_common.routes import EngineInfo, Routes
from parley_common.schemas import Caption, JobKind, SttJob
from parley_common.streams import xadd_bounded
from parley_common.translation import translated, untranslated

from parley_stt import gate, metrics
from parley_stt.audio import job_audio
from parley_stt.engine import DecodeOptions, Transcript, WhisperEngine
from parley_stt.settings import SttSettings

log = logging.getLogger("parley.stt.speech_translate")
NAME = "whisper-translate"
TARGET = "en"  # Whisper translates into English only
TOKENS_PER_S = 8.0  # a translation longer than this per second of speech is a loop: stop it early


def engine_info(model: str) -> EngineInfo:
    pairs = [f"{lang}-{TARGET}" for lang in WHISPER_LANGUAGES if lang != TARGET]
    return EngineInfo(name=NAME, kind="speech", pairs=pairs, model=model)


def translate_options(language: str, window: str = "full", pad_s: float = 5.0) -> DecodeOptions:
    return DecodeOptions(
        window=window,
        pad_s=pad_s,
        language=language,
        task="translate",
        fallback=False,  # a sampled translation would be withheld anyway: do not pay for one
        max_tokens_per_s=TOKENS_PER_S,
    )


def verdict_on(result: Transcript, transcript_doubt: str, cfg: gate.GateConfig) -> tuple[gate.Verdict, str]:
    """A speech translation is shown only if its own evidence and its transcript's both back it."""
    verdict, why = gate.judge(result.evidence(), cfg, translation=True)
    if verdict is gate.Verdict.SHOW and transcript_doubt:
        return gate.Verdict.WITHHOLD, f"its transcript is uncertain ({transcript_doubt})"
    return verdict, why


class SpeechTranslator:
    def __init__(
        self, r: aioredis.Redis, settings: SttSettings, engine: WhisperEngine, publisher: Publisher
    ) -> None:
        self.r = r
        self.settings = settings
        self.engine = engine
        self.publisher = publisher
        self.gate = settings.gate_config()
        self.routes = Routes([])  # every live replica's engines, refreshed by the advertiser (__main__)
        self.enabled = settings.speech_translate and engine.model.model.is_multilingual

    def set_routes(self, routes: Routes) -> None:
        self.routes = routes

    def info(self) -> list[EngineInfo]:
        return [engine_info(self.settings.model)] if self.enabled else []

    async def wanted(self, room: str, lang: str) -> bool:
        """Whether a final spoken in `lang` is to be translated from the speech."""
        if not self.enabled or lang == TARGET or self.routes.engine(lang, TARGET, "text") is not None:
            return False
        expires = await self.r.zscore(keys.room_languages(room), TARGET)
        return expires is not None and float(expires) > time.time()

    async def enqueue(self, job: SttJob) -> None:
        out = job.model_copy(update={"kind": JobKind.TRANSLATE, "created": time.time()})
        await xadd_bounded(self.r, keys.STT_JOBS_TRANSLATE, out.to_fields(), self.settings.jobs_maxlen)

    async def translate(self, job: SttJob) -> str:
        """Translate the job's utterance (or say why not); the outcome is counted and returned."""
        outcome = await self._translate(job)
        if outcome not in ("shown", "withheld"):
            log.info(
                "no speech translation [room:%s, speaker:%s, utt:%d, attempt:%d]: %s",
                job.room,
                job.speaker,
                job.utt,
                job.attempt,
                outcome,
            )
        metrics.SPEECH_TRANSLATIONS.labels(outcome).inc()
        metrics.JOBS.labels(JobKind.TRANSLATE.value, outcome).inc()
        return outcome

    async def _translate(self, job: SttJob) -> str:
        source = await self._published_final(job)
        if source is None:
            return "superseded"
        if not source.text:
            return "no_speech"
        audio = await job_audio(self.r, job)
        if audio is None:
            return "no_audio"
        s = self.settings
        opts = translate_options(source.source_lang, s.final_window, s.final_pad_s)
        result = await asyncio.to_thread(self.engine.transcribe, audio, opts)
        metrics.DECODE_SECONDS.labels(JobKind.TRANSLATE.value).observe(result.decode_s)
        verdict, why = verdict_on(result, source.uncertain, self.gate)
        metrics.GATED.labels(JobKind.TRANSLATE.value, verdict.value).inc()
        timing = source.timing.model_copy(update={"translated": time.time()})
        if verdict is gate.Verdict.SHOW:
            out = translated(source, TARGET, result.text, NAME, timing)
        else:
            log.info("speech translation withheld [caption_id:%s]: %s", source.id, why)
            out = untranslated(source, TARGET, f"speech translation withheld: {why}", timing)
        await self.publisher.once(keys.published_marker(source.id, "final", TARGET), out)
        return "shown" if verdict is gate.Verdict.SHOW else "withheld"

    async def _published_final(self, job: SttJob) -> Caption | None:
        """The final of the job's attempt once it went out; None if another attempt did, or none did
        within speech_translate_wait_s (its end of speech is usually confirmed ~0.1 s after the decode)."""
        ukey = keys.utterance_state(keys.caption_id(job.room, job.speaker, job.utt))
        deadline = time.monotonic() + self.settings.speech_translate_wait_s
        while True:
            published, data = await self.r.hmget(ukey, PUBLISHED, result_field(job.attempt))
            if published is not None:
                if int(published) != job.attempt or data is None:
                    return None
                return Caption.model_validate_json(data)
            if time.monotonic() > deadline:
                return None
            await asyncio.sleep(0.05)

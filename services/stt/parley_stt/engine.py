"""Whisper through faster-whisper / CTranslate2: one engine, two windows.

- "full": the stock faster-whisper path (audio padded to Whisper's 30 s window, temperature
  fallback, no-speech gate). Finals use it by default: it is what the accuracy bound is set by.
- "padded": only the audio plus a little silence goes through the encoder, 4-5x cheaper on CPU.
  Partials use it (they are replaced by the final); finals may, by setting, after measuring.

Partials may use a second, smaller model (PARLEY_STT_PARTIAL_MODEL, e.g. tiny.en for rooms that
speak English): the final, from the main model, replaces them.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import time
import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import ctranslate2
import numpy as np
import tokenizers
from faster_whisper import WhisperModel
from faster_whisper.tokenizer import Tokenizer
from faster_whisper.transcribe import Segment, TranscriptionInfo
from parley_common.schemas import SAMPLE_RATE, Word

from parley_stt.gate import Evidence
from parley_stt.models import resolve_model
from parley_stt.settings import SttSettings

log = logging.getLogger("parley.stt.engine")
MAX_TOKENS_BASE = 16  # a padded decode's token budget: this many plus MAX_TOKENS_PER_S per second
MAX_TOKENS_PER_S = 12
_TEMPERATURES = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)  # faster-whisper's default fallback ladder
PACK_GAP_S = 1.0  # silence between packed finals: Whisper starts a new segment across it
PACK_STRADDLE_S = 0.5  # a segment reaching this far into a second packed clip has merged them
PACK_WINDOW_S = 29.0  # packed finals and their gaps fit Whisper's 30 s window with room to spare


@dataclass(frozen=True)
class RoomContext:
    """A room's glossary (Whisper hotwords) and prompt, cut to fit the decoder's context."""

    hotwords: str  # whole words, from the first
    hotword_tokens: int
    prompt: tuple[int, ...]  # the prompt's tokens, its end (the text nearest the speech)


@functools.lru_cache(maxsize=256)
def fit_context(tokenizer: tokenizers.Tokenizer, prompt: str, hotwords: str, max_tokens: int) -> RoomContext:
    """Whisper reads the prompt and the hotwords in the same 448-token context as the text it
    writes, and a decode's token budget counts them too: a glossary of a dozen terms used to leave
    a short partial no token to write, and a long prompt made finals repeat it. So both together
    get at most `max_tokens`: the hotwords first (the names the room listed; whole words), the
    prompt's end in what is left."""
    words = hotwords.split()
    # " a b" tokenizes as " a" + " b" (the byte-level BPE splits before each space).
    counts = [len(e.ids) for e in tokenizer.encode_batch([" " + w for w in words], add_special_tokens=False)]
    kept, used = 0, 0
    while kept < len(words) and used + counts[kept] <= max_tokens:
        used += counts[kept]
        kept += 1
    room = max_tokens - used
    ids = tokenizer.encode(" " + prompt.strip(), add_special_tokens=False).ids if prompt.strip() else []
    context = RoomContext(
        hotwords=" ".join(words[:kept]), hotword_tokens=used, prompt=tuple(ids[-room:]) if room > 0 else ()
    )
    if kept < len(words) or len(context.prompt) < len(ids):
        # The API takes a longer glossary than Whisper can use: say what was left out, once per
        # room context (this function is cached), for a host asking why a term is never spelled.
        log.warning(
            "a room's glossary and prompt exceed PARLEY_STT_PROMPT_MAX_TOKENS (%d): kept the first %d of "
            "%d glossary terms (%d tokens) and the last %d of %d prompt tokens; first term left out: %r",
            max_tokens,
            kept,
            len(words),
            used,
            len(context.prompt),
            len(ids),
            words[kept] if kept < len(words) else None,
        )
    return context


def context_tokens(context: RoomContext) -> int:
    """The most tokens a decode's prompt takes with this context: the previous-text marker, the
    hotwords and prompt, the start sequence (start, language, task) and the no-timestamps token."""
    return 1 + context.hotword_tokens + len(context.prompt) + 3 + 1


@dataclass(frozen=True)
class DecodeOptions:
    window: str  # "full" | "padded"
    pad_s: float = 2.0
    language: str | None = "en"  # None: detect (among `allowed`, when given)
    prompt: str = ""
    hotwords: str = ""
    word_timestamps: bool = False
    partial: bool = False  # a partial: the partial model may decode it
    task: str = "transcribe"  # or "translate": into English, whatever the language spoken
    allowed: tuple[str, ...] = ()  # the room's spoken languages: detection picks among these
    # Full window: retry at rising temperatures when the greedy decode fails its checks (stock
    # faster-whisper). Off for speech translation: a sampled translation is withheld anyway.
    fallback: bool = True
    # Full window: at most this many tokens per second of audio (+16): a model looping on a phrase
    # stops early. None: Whisper's own limit. Speech translation sets it (English runs ~4 a second).
    max_tokens_per_s: float | None = None


@dataclass
class Transcript:
    text: str
    language: str
    no_speech_prob: float = 0.0
    avg_logprob: float = 0.0
    words: list[Word] = field(default_factory=list)
    decode_s: float = 0.0
    compression_ratio: float = 0.0
    temperature: float = 0.0  # the highest fallback temperature used (0: the greedy decode held)
    language_prob: float | None = None  # set where the language was detected on this audio

    def evidence(self) -> Evidence:
        """What the decoder-evidence gate judges (gate.py)."""
        return Evidence(
            text=self.text,
            avg_logprob=self.avg_logprob,
            compression_ratio=self.compression_ratio,
            no_speech_prob=self.no_speech_prob,
            temperature=self.temperature,
            language_prob=self.language_prob,
        )


def compression_ratio(text: str) -> float:
    data = text.encode()
    return len(data) / max(1, len(zlib.compress(data)))


def pick_language(probs: list[tuple[str, float]], allowed: tuple[str, ...]) -> tuple[str, float]:
    """The most probable language, of `allowed` where given (a room's languages: Whisper base hears
    espeak-ng's Vietnamese as Thai or Japanese first), and its share of their probability (of all
    languages' where none are given: then the plain probability)."""
    candidates = [(lang, p) for lang, p in probs if not allowed or lang in allowed] or probs
    lang, p = max(candidates, key=lambda x: x[1])
    total = sum(q for _, q in candidates)
    return lang, p / total if total > 0 else 0.0


class WhisperEngine:
    def __init__(self, settings: SttSettings) -> None:
        self.settings = settings
        self.model = self._load(settings.model, settings.cpu_threads, 2)  # a final and a partial at once
        self.partial_model: WhisperModel | None = None
        if settings.partial_model:  # its own instance, even of the same model: its threads yield
            name = settings.model if settings.partial_model == "same" else settings.partial_model
            self.partial_model = self._load(name, settings.partial_cpu_threads, 1, settings.partial_nice)

    def _load(self, name: str, threads: int, workers: int, nice: int = 0) -> WhisperModel:
        s = self.settings
        t0 = time.perf_counter()
        before = _threads()
        model = WhisperModel(
            resolve_model(name, Path(s.cache_dir)),
            device=s.device,
            compute_type=s.compute_type,
            cpu_threads=threads,
            num_workers=workers,
        )
        if nice:
            # The model's worker threads, and the compute threads they start later (which inherit
            # it), run at a lower priority: on a busy CPU a final's threads get the cores first.
            for tid in _threads() - before:
                with contextlib.suppress(OSError):
                    os.setpriority(os.PRIO_PROCESS, tid, nice)
        log.info(
            "loaded Whisper %s (%s, %s) in %.1f s", name, s.device, s.compute_type, time.perf_counter() - t0
        )
        return model

    def _model_for(self, opts: DecodeOptions) -> WhisperModel:
        """The partial model for a partial it can decode (an English-only model: English only)."""
        pm = self.partial_model
        if opts.partial and pm is not None and (pm.model.is_multilingual or opts.language == "en"):
            return pm
        return self.model

    def _context(self, m: WhisperModel, opts: DecodeOptions) -> RoomContext:
        return fit_context(m.hf_tokenizer, opts.prompt, opts.hotwords, self.settings.prompt_max_tokens)

    def warm_up(self, window: str) -> float:
        """Decode 2 s of faint noise twice (the first decode of a model is slower than the rest);
        the seconds the second took: this replica's first estimate of its speed (dispatch.py)."""
        noise = np.random.default_rng(0).normal(0, 0.003, 2 * SAMPLE_RATE).astype(np.float32)
        self.transcribe(noise, DecodeOptions(window=window))
        return self.transcribe(noise, DecodeOptions(window=window)).decode_s

    def transcribe(self, audio: np.ndarray, opts: DecodeOptions) -> Transcript:
        t0 = time.perf_counter()
        out = self._full(audio, opts) if opts.window == "full" else self._padded(audio, opts)
        out.compression_ratio = compression_ratio(out.text)
        out.decode_s = time.perf_counter() - t0
        return out

    def detect(self, audio: np.ndarray, allowed: tuple[str, ...] = ()) -> tuple[str, float]:
        """The language spoken (of `allowed`, where given) and its probability: one encoder pass."""
        _, _, probs = self.model.detect_language(audio)
        return pick_language(probs, allowed)

    def _full(self, audio: np.ndarray, opts: DecodeOptions) -> Transcript:
        language, language_prob = opts.language, None
        if language is None:
            # As faster-whisper's own detection costs (an encoder pass), but among the room's languages.
            language, language_prob = self.detect(audio, opts.allowed)
        segments, info = self._stock(
            audio,
            opts,
            language,
            temperature=_TEMPERATURES if opts.fallback else 0.0,
            timestamps=opts.word_timestamps,
            max_new_tokens=(
                int(MAX_TOKENS_BASE + len(audio) / SAMPLE_RATE * opts.max_tokens_per_s)
                if opts.max_tokens_per_s
                else None
            ),
        )
        return _from_segments(
            list(segments), info.language, language_prob=language_prob
        )  # no-speech ones skipped

    def _stock(
        self,
        audio: np.ndarray,
        opts: DecodeOptions,
        language: str,
        *,
        temperature: float | tuple[float, ...],
        timestamps: bool,
        max_new_tokens: int | None = None,
    ) -> tuple[Iterable[Segment], TranscriptionInfo]:
        """faster-whisper's own long-form path on the stock 30 s window, with our thresholds."""
        s = self.settings
        context = self._context(self.model, opts)
        if max_new_tokens is not None:  # faster-whisper refuses a budget past the context (448)
            max_new_tokens = min(max_new_tokens, self.model.max_length - context_tokens(context))
        segments, info = self.model.transcribe(
            audio,
            language=language,
            task=opts.task,
            temperature=temperature,
            max_new_tokens=max_new_tokens,
            beam_size=s.beam_size,
            vad_filter=False,
            condition_on_previous_text=False,
            without_timestamps=not timestamps,
            word_timestamps=opts.word_timestamps,
            initial_prompt=list(context.prompt) or None,
            hotwords=context.hotwords or None,
            no_speech_threshold=s.no_speech_threshold,
            log_prob_threshold=s.logprob_threshold,
            compression_ratio_threshold=s.compression_ratio_threshold,
        )
        return segments, info

    def transcribe_packed(self, clips: list[np.ndarray], opts: DecodeOptions) -> list[Transcript | None]:
        """Several finals of one language in one stock 30 s window, PACK_GAP_S of silence apart: one
        encoder pass instead of one each (the encoder is most of a full-window decode on a CPU). The
        decode runs with timestamps and each segment goes to the clip its midpoint falls in. A clip
        comes back None, for the caller to decode alone (stock: with the temperature fallback), when
        it got no segment, when a segment also covers another clip (Whisper may skip or merge
        speech), or when the greedy decode of its window fails the stock checks (log-probability,
        compression): a pack is decoded once, never retried at higher temperatures as a whole."""
        assert opts.window == "full" and opts.language is not None
        t0 = time.perf_counter()
        parts: list[np.ndarray] = []
        spans: list[tuple[float, float]] = []
        at = 0.0
        gap = np.zeros(int(PACK_GAP_S * SAMPLE_RATE), dtype=np.float32)
        for i, clip in enumerate(clips):
            if i:
                parts.append(gap)
                at += PACK_GAP_S
            spans.append((at, at + len(clip) / SAMPLE_RATE))
            parts.append(clip)
            at += len(clip) / SAMPLE_RATE
        # Timestamps say which clip a segment belongs to; greedy once (see above).
        segments, info = self._stock(
            np.concatenate(parts), opts, opts.language, temperature=0.0, timestamps=True
        )
        s = self.settings
        owned: list[list[Segment]] = [[] for _ in clips]
        broken: set[int] = set()
        for sg in segments:
            covered = [
                i for i, (lo, hi) in enumerate(spans) if min(hi, sg.end) - max(lo, sg.start) > PACK_STRADDLE_S
            ]
            if len(covered) > 1:
                broken.update(covered)
            mid = (sg.start + sg.end) / 2
            owner = min(range(len(spans)), key=lambda i: _distance(mid, spans[i]))
            owned[owner].append(sg)
            # Its window's decode would have been retried hotter: the stock decode of the clip alone decides.
            if sg.avg_logprob < s.logprob_threshold or sg.compression_ratio > s.compression_ratio_threshold:
                broken.add(owner)
        took = time.perf_counter() - t0
        out: list[Transcript | None] = []
        for i, segs in enumerate(owned):
            if i in broken or not segs:
                out.append(None)
                continue
            packed = _from_segments(segs, info.language, offset=spans[i][0])
            packed.decode_s, packed.compression_ratio = took, compression_ratio(packed.text)
            out.append(packed)
        return out

    def _padded(self, audio: np.ndarray, opts: DecodeOptions) -> Transcript:
        s, m = self.settings, self._model_for(opts)
        duration = len(audio) / SAMPLE_RATE
        padded = np.concatenate([audio, np.zeros(int(opts.pad_s * SAMPLE_RATE), dtype=np.float32)])
        features = m.feature_extractor(padded)[:, : m.feature_extractor.nb_max_frames]
        encoder_output = m.model.encode(
            ctranslate2.StorageView.from_array(np.ascontiguousarray(features[None], dtype=np.float32)),
            to_cpu=False,
        )
        language, language_prob = opts.language, None
        if language is None:  # on this encoder output: one decoder step, no second encoder pass
            probs = [(token[2:-2], p) for token, p in m.model.detect_language(encoder_output)[0]]
            language, language_prob = pick_language(probs, opts.allowed)
        tokenizer = Tokenizer(m.hf_tokenizer, m.model.is_multilingual, task=opts.task, language=language)
        context = self._context(m, opts)
        # With timestamps on, Whisper says where each segment starts: a short window tempts it to
        # repeat itself into the padding, and those segments start after the audio ends.
        prompt = m.get_prompt(
            tokenizer, list(context.prompt), without_timestamps=False, hotwords=context.hotwords or None
        )
        result = m.model.generate(
            encoder_output,
            [prompt],
            beam_size=s.beam_size,
            # A short window tempts the decoder to repeat itself up to max_length: a token budget
            # for the audio's length (speech is ~4 tokens a second) cuts those decodes short. The
            # prompt counts in max_length: the budget comes on top of it.
            max_length=min(
                m.max_length,
                len(prompt) + min(m.max_length // 2, int(MAX_TOKENS_BASE + MAX_TOKENS_PER_S * duration)),
            ),
            return_scores=True,
            return_no_speech_prob=True,
            suppress_blank=True,
            suppress_tokens=[-1],
            max_initial_timestamp_index=50,
        )[0]
        ids = result.sequences_ids[0]
        tokens = tokens_within(ids, tokenizer.timestamp_begin, tokenizer.eot, duration)
        text = tokenizer.decode(tokens).strip()
        n = len([t for t in ids if t < tokenizer.eot])
        avg_logprob = result.scores[0] * n / (n + 1) if result.scores else 0.0  # as faster-whisper does
        no_speech = result.no_speech_prob
        if (no_speech > s.no_speech_threshold and avg_logprob < s.logprob_threshold) or (
            compression_ratio(text) > s.compression_ratio_threshold
        ):
            text = ""
        return Transcript(
            text=text,
            language=language,
            no_speech_prob=no_speech,
            avg_logprob=avg_logprob,
            language_prob=language_prob,
        )


def _from_segments(
    segs: list[Segment], language: str, offset: float = 0.0, language_prob: float | None = None
) -> Transcript:
    """The transcript of decoded segments (word times from `offset`, a clip's start in a pack)."""
    return Transcript(
        text=" ".join(sg.text.strip() for sg in segs).strip(),
        language=language,
        no_speech_prob=max((sg.no_speech_prob for sg in segs), default=1.0),
        avg_logprob=float(np.mean([sg.avg_logprob for sg in segs])) if segs else 0.0,
        words=[
            Word(w=w.word.strip(), start=max(0.0, w.start - offset), end=max(0.0, w.end - offset))
            for sg in segs
            for w in (sg.words or [])
        ],
        temperature=max((sg.temperature for sg in segs), default=0.0),
        language_prob=language_prob,
    )


def _distance(t: float, span: tuple[float, float]) -> float:
    """How far time t lies outside span (0 inside it)."""
    return max(0.0, span[0] - t, t - span[1])


def pack_fits(seconds: list[float]) -> bool:
    """Whether clips this long, PACK_GAP_S apart, fit one packed window."""
    return sum(seconds) + PACK_GAP_S * (len(seconds) - 1) <= PACK_WINDOW_S


def _threads() -> set[int]:
    try:
        return {int(t) for t in os.listdir("/proc/self/task")}
    except OSError:  # not Linux: no priorities
        return set()


def tokens_within(
    ids: list[int], timestamp_begin: int, eot: int, duration: float, slack: float = 0.1
) -> list[int]:
    """Text tokens of the segments that start inside the audio (Whisper timestamps: 20 ms steps)."""
    out: list[int] = []
    segment: list[int] = []
    start: float | None = None
    for t in ids:
        if t >= timestamp_begin:
            if start is None:
                start = (t - timestamp_begin) * 0.02
                continue
            if start < duration - slack:
                out += segment
            segment, start = [], None
        elif t < eot:
            segment.append(t)
    if start is not None and start < duration - slack:
        out += segment  # an unterminated last segment
    elif start is None and segment and not out:
        out = segment  # no timestamps at all
    return out

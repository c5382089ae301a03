"""End of speech, per speaker: a state machine over VAD windows that turns audio into jobs.

Pure logic (no Redis): frames in, actions out, and a state that serialises to JSON so the
speaker's checkpoint in Redis, not one replica's memory, is the truth. When silence begins the
final is decoded at once (speculatively) and only confirmed, or cancelled if speech resumes,
once the end-of-speech silence has really passed: the decode overlaps the wait.
"""

from __future__ import annotations

import json
from collections import deque
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import numpy as np
from parley_common.schemas import SAMPLE_RATE

from parley_stt.vad import WINDOW, StreamingVad


@dataclass(frozen=True)
class SegmenterConfig:
    threshold: float = 0.5  # speech starts at this probability ...
    neg_threshold: float = 0.35  # ... and counts as silence below this one
    speculate_ms: int = 160  # silence after which the final is decoded speculatively
    eos_ms: int = 250  # silence after which the utterance has ended
    min_speech_ms: int = 250  # less speech than this in an utterance is noise, never a caption
    # The gaps before an utterance's first partials (the first from its start, pre-roll included):
    # the first words are on screen sooner. Then a partial every partial_interval_ms.
    partial_lead_ms: tuple[int, ...] = (400, 250, 250, 250)  # SttSettings.partial_lead_ms: why
    partial_interval_ms: int = 500
    preroll_ms: int = 192  # audio kept before the detected speech start
    max_utterance_s: float = 15.0  # longer utterances are split at the quietest recent window
    split_search_s: float = 3.0
    # Silero's LSTM state, after long noise, stays deaf to speech for a second or more: between
    # utterances the state starts afresh every this many seconds.
    vad_reset_s: float = 2.0


class ActionKind(StrEnum):
    PARTIAL = "partial"
    FINAL = "final"  # decode this range as the utterance's final (attempt n)
    CONFIRM = "confirm"  # attempt n is the final: publish it
    CANCEL = "cancel"  # speech resumed: attempt n is void


@dataclass(frozen=True)
class Action:
    kind: ActionKind
    utt: int
    attempt: int
    start_id: str = ""
    end_id: str = ""
    start_ts: float = 0.0
    end_ts: float = 0.0


@dataclass
class FrameMark:
    id: str
    sample: int  # index of the frame's first sample in this speaker's sample count
    ts: float  # epoch s of the frame's first sample

    def ts_at(self, sample: int) -> float:
        return self.ts + (sample - self.sample) / SAMPLE_RATE


@dataclass
class SpeakerState:
    pos: int = 0  # samples consumed into VAD windows
    leftover: bytes = b""  # PCM not yet a whole window
    vad: str = ""  # serialised StreamingVad
    utt: int = 0
    in_speech: bool = False
    utt_start: dict[str, Any] | None = None  # FrameMark as dict
    speech_samples: int = 0
    silence_samples: int = 0
    silence_start_sample: int = 0
    last_partial_sample: int = 0
    partial_seq: int = 0
    attempt: int = 0  # next final attempt number
    pending: int = -1  # attempt decoded speculatively, awaiting confirm/cancel
    pending_end_ts: float = 0.0  # speech end (epoch s) of the pending attempt
    last_end_sample: int = 0
    idle_samples: int = 0  # samples since the last speech window, between utterances
    recent: list[dict[str, Any]] = field(default_factory=list)  # FrameMarks for pre-roll + lookups
    probs: list[tuple[int, float]] = field(default_factory=list)  # (window end sample, prob), last few s

    def to_json(self) -> str:
        d = dict(self.__dict__)
        d["leftover"] = self.leftover.hex()
        return json.dumps(d)

    @classmethod
    def from_json(cls, raw: str | bytes | None) -> SpeakerState:
        if not raw:
            return cls()
        d = json.loads(raw)
        d["leftover"] = bytes.fromhex(d["leftover"])
        d["probs"] = [tuple(p) for p in d["probs"]]
        return cls(**d)


class SpeakerSegmenter:
    def __init__(self, config: SegmenterConfig, state: SpeakerState | None = None) -> None:
        self.cfg = config
        self.s = state or SpeakerState()
        self.vad = StreamingVad.load(self.s.vad)
        self._marks: deque[FrameMark] = deque(
            (FrameMark(**m) for m in self.s.recent), maxlen=self._marks_len()
        )

    def _marks_len(self) -> int:
        # Enough frame marks to find any window of the utterance's last split_search_s + pre-roll.
        return int((self.cfg.split_search_s + 1.0) * 50) + 16

    @staticmethod
    def _ms(samples: int) -> float:
        return samples * 1000 / SAMPLE_RATE

    def state(self) -> SpeakerState:
        self.s.vad = self.vad.dump()
        self.s.recent = [m.__dict__ for m in self._marks]
        return self.s

    def _mark_at(self, sample: int) -> FrameMark:
        """The frame holding `sample` (or the nearest we still know)."""
        best = self._marks[0]
        for m in self._marks:
            if m.sample <= sample:
                best = m
            else:
                break
        return best

    def _latest_mark(self) -> FrameMark:
        return self._marks[-1]

    def feed(self, frame_id: str, ts: float, pcm: bytes) -> list[Action]:
        """Consume one audio frame; return the actions it causes."""
        start_sample = self.s.pos + len(self.s.leftover) // 2
        self._marks.append(FrameMark(frame_id, start_sample, ts))
        buf = self.s.leftover + pcm
        n = len(buf) // (2 * WINDOW)
        self.s.leftover = buf[n * 2 * WINDOW :]
        if n == 0:
            return []
        audio = np.frombuffer(buf[: n * 2 * WINDOW], dtype="<i2").astype(np.float32) / 32768.0
        actions: list[Action] = []
        for p in self.vad.probs(audio):
            self.s.pos += WINDOW
            actions.extend(self._window(float(p)))
        return actions

    def _window(self, p: float) -> list[Action]:
        cfg, s = self.cfg, self.s
        end = s.pos
        out: list[Action] = []
        if s.in_speech:
            s.probs.append((end, p))
            keep = int(cfg.split_search_s * SAMPLE_RATE / WINDOW)
            del s.probs[:-keep]
        if not s.in_speech:
            if p >= cfg.threshold:
                s.idle_samples = 0
                self._start_utterance(end - WINDOW)
            else:
                s.idle_samples += WINDOW
                if s.idle_samples >= cfg.vad_reset_s * SAMPLE_RATE:
                    s.idle_samples = 0
                    self.vad.reset()
            return out
        if p >= cfg.threshold:
            if s.silence_samples and s.pending >= 0:
                out.append(Action(ActionKind.CANCEL, s.utt, s.pending))
                s.pending = -1
            s.silence_samples = 0
            s.speech_samples += WINDOW
        elif p < cfg.neg_threshold or s.silence_samples:
            if not s.silence_samples:
                s.silence_start_sample = end - WINDOW
            s.silence_samples += WINDOW
        else:
            s.speech_samples += WINDOW

        silence_ms = self._ms(s.silence_samples)
        if s.silence_samples and silence_ms >= cfg.speculate_ms and s.pending < 0:
            out.append(self._final_attempt(s.silence_start_sample))
        if s.silence_samples and silence_ms >= cfg.eos_ms:
            out.extend(self._end_utterance())
            return out
        utt_start = int(s.utt_start["sample"]) if s.utt_start else end
        if end - utt_start >= cfg.max_utterance_s * SAMPLE_RATE:
            out.extend(self._split())
            return out
        lead = cfg.partial_lead_ms
        interval = lead[s.partial_seq] if s.partial_seq < len(lead) else cfg.partial_interval_ms
        if not s.silence_samples and self._ms(end - s.last_partial_sample) >= interval:
            out.append(self._partial(end))
        return out

    def _start_utterance(self, speech_sample: int) -> None:
        s = self.s
        start = max(speech_sample - self.cfg.preroll_ms * SAMPLE_RATE // 1000, s.last_end_sample, 0)
        mark = self._mark_at(start)
        s.in_speech = True
        s.utt_start = dict(mark.__dict__)
        s.speech_samples = WINDOW
        s.silence_samples = 0
        s.last_partial_sample = mark.sample
        s.partial_seq = 0
        s.attempt = 0
        s.pending = -1
        s.probs = []

    def _range(self, end_sample: int) -> tuple[FrameMark, FrameMark, float]:
        assert self.s.utt_start is not None
        first = FrameMark(**self.s.utt_start)
        last = self._mark_at(max(end_sample - 1, first.sample))
        return first, last, last.ts_at(end_sample)

    def _partial(self, end: int) -> Action:
        s = self.s
        first, last, end_ts = self._range(end)
        s.last_partial_sample = end
        a = Action(ActionKind.PARTIAL, s.utt, s.partial_seq, first.id, last.id, first.ts, end_ts)
        s.partial_seq += 1
        return a

    def _final_attempt(self, speech_end: int) -> Action:
        s = self.s
        # Decode a little past the last speech window: Whisper needs the word's tail.
        first, last, _ = self._range(s.pos)
        end_ts = self._mark_at(speech_end).ts_at(speech_end)
        a = Action(ActionKind.FINAL, s.utt, s.attempt, first.id, last.id, first.ts, end_ts)
        s.pending = s.attempt
        s.pending_end_ts = end_ts
        s.attempt += 1
        return a

    def _confirm(self) -> Action:
        return Action(ActionKind.CONFIRM, self.s.utt, self.s.pending, end_ts=self.s.pending_end_ts)

    def _end_utterance(self) -> list[Action]:
        s = self.s
        out: list[Action] = []
        if self._ms(s.speech_samples) < self.cfg.min_speech_ms and s.partial_seq == 0:
            # Too little speech: noise. Nothing was shown for it, so nothing is published.
            if s.pending >= 0:
                out.append(Action(ActionKind.CANCEL, s.utt, s.pending))
        else:
            if s.pending < 0:
                out.append(self._final_attempt(s.silence_start_sample))
            out.append(self._confirm())
        s.last_end_sample = s.pos
        self._close_utterance()
        return out

    def _close_utterance(self) -> None:
        s = self.s
        s.utt += 1
        s.in_speech = False
        s.utt_start = None
        s.pending = -1
        s.silence_samples = 0
        s.speech_samples = 0
        s.probs = []

    def _split(self) -> list[Action]:
        """The utterance is too long for one decode: end it at the quietest recent window."""
        s = self.s
        if s.pending >= 0:
            out = [Action(ActionKind.CANCEL, s.utt, s.pending)]
            s.pending = -1
        else:
            out = []
        split_end = min(s.probs, key=lambda e: e[1])[0] if s.probs else s.pos
        final = self._final_attempt(split_end)
        first, last, _ = self._range(split_end)
        final = Action(ActionKind.FINAL, final.utt, final.attempt, first.id, last.id, first.ts, final.end_ts)
        out += [final, self._confirm()]
        nxt = self._next_mark(last)
        self._close_utterance()
        self._start_utterance(nxt.sample + self.cfg.preroll_ms * SAMPLE_RATE // 1000)
        s.utt_start = dict(nxt.__dict__)
        s.last_partial_sample = nxt.sample
        return out

    def _next_mark(self, mark: FrameMark) -> FrameMark:
        for m in self._marks:
            if m.sample > mark.sample:
                return m
        return self._latest_mark()

    def flush(self) -> list[Action]:
        """The stream ended or stalled: whatever was being said becomes a final now."""
        s = self.s
        if not s.in_speech:
            return []
        out: list[Action] = []
        if s.pending >= 0 and not s.silence_samples:
            out.append(Action(ActionKind.CANCEL, s.utt, s.pending))
            s.pending = -1
        if self._ms(s.speech_samples) < self.cfg.min_speech_ms and s.partial_seq == 0:
            if s.pending >= 0:
                out.append(Action(ActionKind.CANCEL, s.utt, s.pending))
        else:
            if s.pending < 0:
                out.append(self._final_attempt(s.silence_start_sample if s.silence_samples else s.pos))
            out.append(self._confirm())
        s.last_end_sample = s.pos
        self._close_utterance()
        return out

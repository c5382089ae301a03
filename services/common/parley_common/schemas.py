"""Versioned message schemas for every Redis stream, validated where written and where read.

Audio frames are flat binary-safe fields (they are hot: 50 a second per speaker); every other
message is one JSON field `data` holding a pydantic model.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from parley_common import SCHEMA_VERSION

SAMPLE_RATE = 16_000
BYTES_PER_SAMPLE = 2
MAX_FRAME_BYTES = SAMPLE_RATE * BYTES_PER_SAMPLE  # one second of audio in one frame at most
MAX_MESSAGE_BYTES = 64 * 1024  # any JSON message larger than this is refused
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
Name = Annotated[str, StringConstraints(pattern=NAME_RE.pattern)]
LangCode = Annotated[str, StringConstraints(pattern=r"^[a-z]{2,3}([_-][A-Za-z]{2,4})?$")]


class BadMessage(ValueError):
    """A message that does not match its schema. `reason` is a short label for the bad-input counter."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


def check_name(value: str, what: str) -> str:
    if not NAME_RE.match(value):
        raise BadMessage(f"bad_{what}", repr(value)[:80])
    return value


@dataclass(frozen=True, slots=True)
class AudioFrame:
    """16 kHz mono signed 16-bit little-endian PCM, `ts` = epoch seconds its first sample was spoken."""

    ts: float
    pcm: bytes
    eof: bool = False

    @property
    def samples(self) -> int:
        return len(self.pcm) // BYTES_PER_SAMPLE

    def to_fields(self) -> dict[str, str | bytes]:
        fields: dict[str, str | bytes] = {"v": SCHEMA_VERSION, "ts": repr(self.ts), "pcm": self.pcm}
        if self.eof:
            fields["eof"] = "1"
        return fields

    @classmethod
    def from_fields(cls, fields: dict[bytes, bytes]) -> AudioFrame:
        if fields.get(b"v") != SCHEMA_VERSION.encode():
            raise BadMessage("bad_version", repr(fields.get(b"v")))
        try:
            ts = float(fields[b"ts"])
        except (KeyError, ValueError) as exc:
            raise BadMessage("bad_ts") from exc
        pcm = fields.get(b"pcm", b"")
        if len(pcm) % BYTES_PER_SAMPLE or len(pcm) > MAX_FRAME_BYTES:
            raise BadMessage("bad_frame_length", str(len(pcm)))
        return cls(ts=ts, pcm=pcm, eof=fields.get(b"eof") == b"1")


class Message(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    v: Literal["1"] = "1"

    def to_fields(self) -> dict[str, str]:
        return {"data": self.model_dump_json()}

    @classmethod
    def from_fields(cls, fields: dict[bytes, bytes]) -> Message:
        raw = fields.get(b"data")
        if raw is None:
            raise BadMessage("missing_data")
        if len(raw) > MAX_MESSAGE_BYTES:
            raise BadMessage("oversized", str(len(raw)))
        try:
            return cls.model_validate_json(raw)
        except ValueError as exc:
            raise BadMessage("bad_fields", str(exc).splitlines()[0]) from exc


class JobKind(StrEnum):
    PARTIAL = "partial"
    FINAL = "final"


class SttJob(Message):
    """Transcribe frames start_id..end_id (inclusive) of one speaker's audio stream."""

    kind: JobKind
    room: Name
    speaker: Name
    utt: int = Field(ge=0)
    attempt: int = Field(ge=0)  # finals: which end-of-speech guess; partials: which partial
    start_id: str
    end_id: str
    start_ts: float  # epoch s of the first sample
    end_ts: float  # epoch s after the last sample (the speech end as the VAD saw it)
    created: float  # epoch s when the segmenter emitted the job


class Word(BaseModel):
    model_config = ConfigDict(frozen=True)
    w: str
    start: float
    end: float


class Timing(BaseModel):
    """Wall-clock stamps (epoch s) of each stage, for latency histograms and the benchmark."""

    model_config = ConfigDict(frozen=True)
    speech_end: float = 0.0  # end of the audio the caption covers
    eos: float = 0.0  # end-of-speech decision
    job: float = 0.0  # the STT job was emitted
    stt_start: float = 0.0
    stt_done: float = 0.0
    translated: float = 0.0
    published: float = 0.0


class CaptionType(StrEnum):
    PARTIAL = "partial"
    FINAL = "final"


class Caption(Message):
    """One caption event on a room's captions stream, in one language."""

    type: CaptionType
    id: str  # room/speaker/utterance: stable across partials, final and retries
    room: Name
    speaker: Name
    speaker_name: str = ""
    utt: int = Field(ge=0)
    rev: int = Field(ge=0, default=0)  # partial number, or the final's end-of-speech attempt
    lang: str
    text: str
    source_lang: str
    source_text: str
    start: float  # meeting time (s since the room's t0)
    end: float
    words: list[Word] = Field(default_factory=list)
    error: str = ""  # e.g. no translation engine for the pair: text is then the original
    # Set on the original sent to listeners of `for_lang` because no engine translates source_lang
    # into it (`error` says so): `lang` is still the language the text is in, never for_lang.
    for_lang: str = ""
    via: str = ""  # the engine that made this translation (apertium, ct2-nllb, whisper-translate)
    # Why the decoder's own evidence does not support this text (low log-probability, ...):
    # listeners see it marked as uncertain. Empty: a plain caption.
    uncertain: str = ""
    timing: Timing = Field(default_factory=Timing)

    @classmethod
    def from_fields(cls, fields: dict[bytes, bytes]) -> Caption:
        caption = super().from_fields(fields)
        assert isinstance(caption, Caption)
        # A final's end-of-speech and publish stamps are added inside Redis, as stream fields.
        try:
            stamps = {
                name: float(fields[f.encode()])
                for name, f in (("eos", "eos"), ("published", "pub"))
                if f.encode() in fields
            }
        except ValueError as exc:
            raise BadMessage("bad_stamp", str(exc)[:80]) from exc
        if stamps:
            caption = caption.model_copy(update={"timing": caption.timing.model_copy(update=stamps)})
        return caption

    @property
    def is_translation(self) -> bool:
        return self.lang != self.source_lang

    @property
    def is_source(self) -> bool:
        """The STT's own caption: in the spoken language, not a copy made for another language's listeners."""
        return not self.is_translation and not self.for_lang

    @property
    def listener_lang(self) -> str:
        """The caption language of the listeners this event is for."""
        return self.for_lang or self.lang

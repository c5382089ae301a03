"""Versioned message schemas for every Redis stream, validated where written and where read.

Audio frames are flat binary-safe fields (they are hot: 50 a second per speaker); the SFU's
events and commands are flat string fields (written and read in TypeScript too: its types are
generated from these models, tools/contracts.py); every other message is one JSON field `data`
holding a pydantic model.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Any, ClassVar, Literal, Self

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    model_validator,
)

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
    TRANSLATE = "translate"  # Whisper's speech translation of a published final (stt:jobs:translate)


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


class WorkerBeat(BaseModel):
    """A pool replica's beat (parley_common.dispatch), the value of keys.worker_beat: written by
    every STT worker and translator, a remote one included, and read by its peers."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    speed_s: float = Field(gt=0, le=3600)  # seconds a final takes this replica (moving average)
    final_left_s: float | None = Field(default=None, ge=0, le=3600)  # None: no final in progress
    partial: bool = False  # a partial is in progress


@dataclass(frozen=True, slots=True)
class BackfillJob:
    """An earlier final a listener wants in another language, on `translate:jobs:backfill`: written
    by the gateway (relang.py) when a listener switches language, read by the translator
    (backfill.py). Fields: `v`, `data` (the source final, a Caption) and `lang` (the target)."""

    caption: Caption
    lang: str

    def to_fields(self) -> dict[str, str]:
        return {"v": SCHEMA_VERSION, **self.caption.to_fields(), "lang": self.lang}

    @classmethod
    def from_fields(cls, fields: dict[bytes, bytes]) -> BackfillJob:
        caption = Caption.from_fields(fields)
        lang = fields.get(b"lang", b"").decode(errors="replace")
        if not 2 <= len(lang) <= 12 or not lang.replace("-", "").replace("_", "").isalpha():
            raise BadMessage("bad_lang", lang[:20])
        if caption.type is not CaptionType.FINAL or caption.is_translation or not caption.text:
            raise BadMessage("not_a_source_final")
        return cls(caption, lang)


class FlatMessage(BaseModel):
    """A message whose stream entry is flat string fields, one per model field (`v` first).
    Readers ignore fields they do not know: a writer may add one without breaking them."""

    model_config = ConfigDict(extra="ignore", frozen=True)
    v: Literal["1"] = "1"
    bad_reason: ClassVar[str] = "bad_fields"

    def to_fields(self) -> dict[str, str]:
        return {k: _flat(v) for k, v in self.model_dump(mode="json").items()}

    @classmethod
    def from_fields(cls, fields: dict[bytes, bytes]) -> Self:
        try:
            decoded = {k.decode(): v.decode() for k, v in fields.items()}
        except UnicodeDecodeError as exc:
            raise BadMessage(cls.bad_reason, "not UTF-8") from exc
        if decoded.get("v") != SCHEMA_VERSION:
            raise BadMessage("bad_version", repr(decoded.get("v"))[:40])
        try:
            return cls.model_validate(decoded)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(x) for x in first["loc"]) or "message"
            raise BadMessage(cls.bad_reason, f"{where}: {first['msg']}"[:200]) from exc


def _flat(value: Any) -> str:
    if isinstance(value, list):
        return ",".join(str(x) for x in value)
    return str(value)


ProducerId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,100}$")]
DisplayName = Annotated[str, AfterValidator(lambda s: s[:200])]  # longer names are cut, not refused
MAX_SSRCS = 8  # ingest targets a producer may be sent to


class SfuEventType(StrEnum):
    OPEN = "producer.open"
    PAUSE = "producer.pause"
    RESUME = "producer.resume"
    CLOSE = "producer.close"


class SfuEvent(FlatMessage):
    """An audio producer's life on `sfu:events` (keys.SFU_EVENTS), written by the SFU
    (mediasoup-node/src/SfuEvents.ts): who speaks, and how its RTP reaches each ingest."""

    bad_reason: ClassVar[str] = "bad_sfu_event"
    type: SfuEventType
    room: Name
    peer: Name
    name: DisplayName = ""
    producer: ProducerId
    ssrc: int = Field(0, ge=0, lt=2**32)  # the first of `ssrcs` (0: no ingest reachable)
    ssrcs: Annotated[
        list[Annotated[int, Field(gt=0, lt=2**32)]], AfterValidator(lambda xs: list(dict.fromkeys(xs)))
    ] = Field(default_factory=list, max_length=MAX_SSRCS)  # one per ingest target, each its own SSRC
    pt: int = Field(ge=0, lt=128)
    clock_rate: int = Field(48000, gt=0)
    ts: int = 0  # ms since the epoch, when the SFU wrote it

    @model_validator(mode="before")
    @classmethod
    def _ssrcs_from_ssrc(cls, data: Any) -> Any:
        """`ssrcs` is comma-separated on the wire; an older writer gave only `ssrc`."""
        if isinstance(data, dict) and isinstance(data.get("ssrcs", ""), str):
            raw, first = data.get("ssrcs", ""), data.get("ssrc", "")
            if not raw and first not in ("", "0"):
                raw = first
            data = {**data, "ssrcs": [x.strip() for x in raw.split(",") if x.strip()]}
            if data.get("clock_rate") == "":
                data = {**data, "clock_rate": 48000}
        return data


class SfuCommandType(StrEnum):
    MUTE = "mute"
    UNMUTE = "unmute"
    REMOVE = "remove"
    CLOSE = "close"


class SfuCommand(FlatMessage):
    """A host's command on `sfu:commands` (keys.SFU_COMMANDS), written by the gateway's API after
    the state behind it (room:{slug} status, keys.room_removed / room_muted), read by every SFU
    instance (mediasoup-node/src/SfuCommands.ts) and every gateway (its caption sockets)."""

    bad_reason: ClassVar[str] = "bad_sfu_command"
    type: SfuCommandType
    room: Name
    peer: Annotated[str, StringConstraints(pattern=f"^$|{NAME_RE.pattern[1:]}")] = ""  # empty for close
    by: Annotated[str, AfterValidator(lambda s: s[:300])] = ""  # who asked (informational: cut, not refused)
    ts: int = 0  # ms since the epoch

    @model_validator(mode="after")
    def _peer_unless_close(self) -> Self:
        if not self.peer and self.type is not SfuCommandType.CLOSE:
            raise ValueError("a peer is required unless the command is close")
        return self

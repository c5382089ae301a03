"""The API's request and response bodies (DTOs), layered Base -> Create / Update -> Out."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Generic, Literal, TypeVar

from parley_common.schemas import NAME_RE, LangCode
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from parley_gateway.settings import MIN_PASSWORD_CHARS


def _printable(value: str) -> str:
    if any(ord(c) < 32 and c not in "\t\n" for c in value):
        raise ValueError("control characters are not allowed")
    return value


LINE_BREAKS = "\u0085\u2028\u2029"


def _single_line(value: str) -> str:
    """A name shown on one line everywhere (captions, transcripts, .srt/.vtt/.txt exports)."""
    if any(ord(c) < 32 or ord(c) == 127 or c in LINE_BREAKS for c in value):
        raise ValueError("line breaks and control characters are not allowed in a name")
    return value


Slug = Annotated[str, StringConstraints(pattern=NAME_RE.pattern)]
DisplayName = Annotated[
    str, StringConstraints(min_length=1, max_length=200, strip_whitespace=True), AfterValidator(_single_line)
]
Text200 = Annotated[
    str, StringConstraints(min_length=1, max_length=200, strip_whitespace=True), AfterValidator(_printable)
]
LongText = Annotated[str, StringConstraints(max_length=2000), AfterValidator(_printable)]
Lang = Annotated[str, LangCode, StringConstraints(max_length=16)]
RoleName = Literal["host", "guest", "listener"]


T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    items: list[T]
    total: int
    limit: int
    offset: int


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RoomBase(_In):
    spoken_languages: list[Lang] = Field(
        default_factory=list, max_length=8, description="first one is STT's language; several = auto-detect"
    )
    caption_languages: list[Lang] = Field(default_factory=list, max_length=32)
    glossary: list[Text200] = Field(
        default_factory=list, max_length=200, description="names and jargon (Whisper hotwords)"
    )
    prompt: LongText = ""
    max_participants: int | None = Field(None, ge=1, le=10_000)
    retention_days: int | None = Field(None, ge=1, le=36_500)


class RoomCreate(RoomBase):
    name: DisplayName
    slug: Slug | None = Field(None, description="URL name; made from the name when omitted")


class RoomUpdate(_In):
    name: DisplayName | None = None
    spoken_languages: list[Lang] | None = Field(None, max_length=8)
    caption_languages: list[Lang] | None = Field(None, max_length=32)
    glossary: list[Text200] | None = Field(None, max_length=200)
    prompt: LongText | None = None
    max_participants: int | None = Field(None, ge=1, le=10_000)
    retention_days: int | None = Field(None, ge=1, le=36_500)


class RoomOut(BaseModel):
    slug: str
    name: str
    status: Literal["open", "closed"]
    spoken_languages: list[str]
    caption_languages: list[str]
    glossary: list[str]
    prompt: str
    max_participants: int | None
    retention_days: int | None
    created_at: datetime
    updated_at: datetime
    closed_at: datetime | None


class JoinTokenRequest(_In):
    name: DisplayName
    role: RoleName = "guest"
    participant_id: Slug | None = Field(
        None, description="stable id (the token's sub); generated when omitted"
    )
    caption_lang: Lang | None = None
    ttl_s: int | None = Field(None, ge=30, le=7 * 24 * 3600)


class JoinTokenOut(BaseModel):
    token: str
    room: str
    participant_id: str
    name: str
    role: RoleName
    expires_at: datetime
    captions_url: str


class InviteCreate(_In):
    ttl_s: int | None = Field(None, ge=60, le=90 * 24 * 3600)
    max_uses: int | None = Field(None, ge=1, le=100_000)


class InviteOut(BaseModel):
    id: int
    code: str
    url: str
    room: str
    expires_at: datetime
    max_uses: int | None


class InviteInfo(BaseModel):
    """An invite as listed (its code is never shown again)."""

    id: int
    created_by: str
    created_at: datetime
    expires_at: datetime
    max_uses: int | None
    uses: int
    revoked_at: datetime | None


class InviteJoin(_In):
    name: DisplayName
    caption_lang: Lang | None = None


class SessionOut(BaseModel):
    source: str
    joined_at: datetime
    left_at: datetime | None


class ParticipantOut(BaseModel):
    participant_id: str
    name: str
    role: RoleName
    caption_lang: str | None
    live: bool
    muted: bool
    removed: bool
    created_at: datetime
    sessions: list[SessionOut]


class HostActionOut(BaseModel):
    room: str
    action: Literal["mute", "unmute", "remove", "close"]
    participant_id: str | None
    announced: bool = Field(description="the command was put on the sfu:commands stream")


class TranscriptLine(BaseModel):
    caption_id: str
    speaker: str
    speaker_name: str
    start: float
    end: float
    lang: str
    text: str
    translated: bool


class TranscriptOut(BaseModel):
    room: str
    lang: str | None
    languages: list[str] = Field(description="every language this transcript can be read in")
    lines: list[TranscriptLine]


class SearchHit(BaseModel):
    room: str
    caption_id: str
    speaker: str
    speaker_name: str
    start: float
    end: float
    lang: str
    text: str
    headline: str
    rank: float


class LoginIn(_In):
    username: Text200
    password: Annotated[str, StringConstraints(min_length=1, max_length=512)]


class LoginOut(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int


NewPassword = Annotated[
    str,
    StringConstraints(min_length=MIN_PASSWORD_CHARS, max_length=512),
    Field(description=f"at least {MIN_PASSWORD_CHARS} characters"),
]


class PasswordChange(_In):
    current_password: Annotated[str, StringConstraints(min_length=1, max_length=512)]
    new_password: NewPassword


class AdminAccountCreate(_In):
    username: Slug
    password: NewPassword


class AdminAccountUpdate(_In):
    disabled: bool | None = Field(
        None, description="true: its sessions and the API keys it made stop working"
    )
    password: NewPassword | None = None


class AdminAccountOut(BaseModel):
    username: str
    disabled: bool
    created_at: datetime
    password_changed_at: datetime | None


class ApiKeyCreate(_In):
    name: Text200


class ApiKeyOut(BaseModel):
    id: int
    name: str
    prefix: str
    created_by: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class ApiKeyCreated(ApiKeyOut):
    key: str = Field(description="shown once; only its hash is stored")


class StageStats(BaseModel):
    stream: str
    group: str
    length: int
    pending: int
    lag: int = Field(description="entries not yet delivered to the group")
    lag_s: float = Field(description="age of the oldest entry not yet delivered (s)")
    consumers: int
    replicas: int = Field(description="consumers active in the last window")


class RoomLive(BaseModel):
    room: str
    speakers: int
    listeners_languages: list[str]


class StatsOut(BaseModel):
    active_rooms: int
    active_speakers: int
    rooms: list[RoomLive]
    stages: list[StageStats]
    replicas: dict[str, int]


class LanguageOut(BaseModel):
    code: str
    name: str


class UnavailableLanguage(LanguageOut):
    why: str


class RouteOut(BaseModel):
    source: str = Field(description='a spoken language ("*": any, where the room\'s are detected)')
    target: str
    engine: str = Field(description="apertium, ct2-nllb, whisper-translate, ...")
    kind: Literal["text", "speech"] = Field(description="text: translates the caption; speech: the audio")


class RoomLanguagesOut(BaseModel):
    room: str
    spoken: list[str] = Field(description="empty: detected per speaker (several or unknown)")
    offered: list[LanguageOut] = Field(description='what a listener may pick (besides "source", as spoken)')
    unavailable: list[UnavailableLanguage] = Field(description="the room's other caption languages, and why")
    routes: list[RouteOut] = Field(description="which engine delivers each offered language")


class EngineOut(BaseModel):
    replica: str
    service: Literal["translate", "stt"]
    name: str
    kind: Literal["text", "speech"]
    pairs: list[str]
    languages: list[str]
    model: str
    reported_s_ago: float


class EnginesOut(BaseModel):
    engines: list[EngineOut] = Field(description="every engine a live replica reported")
    offered: list[LanguageOut] = Field(description="the deployment's caption languages some engine delivers")
    unavailable: list[UnavailableLanguage]

"""The caption WebSocket's messages (/ws/rooms/{room}/captions), one model each.

Server -> client: hello, caption, retract, lang, error, pong. Client -> server: set_lang, ping.
The gateway builds every message it sends from these models (caption_events.py); the meeting UI's
TypeScript types are generated from them (frontend/src/contracts.ts, `make contracts`), and
tests/unit/test_contracts.py fails when the two drift apart.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from parley_common.schemas import Caption


class _Message(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


class Hello(_Message):
    """The first message of a socket: the room, the language it listens in, the room's offer."""

    type: Literal["hello"] = "hello"
    room: str
    lang: str
    languages: list[str]


class CaptionEvent(_Message):
    """A caption (partial or final, in the listener's language). `event_id` is its stream id: a
    client that reconnects with `since=<event_id>` gets what came after. `earlier`: an earlier
    final in a language just switched to (an old id: not a resume point); sent only when true."""

    model_config = ConfigDict(json_schema_extra={"optional": ["earlier"]})  # absent when false
    type: Literal["caption"] = "caption"
    event_id: str
    caption: Caption
    earlier: bool = False

    def to_json(self) -> dict[str, Any]:
        out = self.model_dump(mode="json")
        if not self.earlier:
            del out["earlier"]
        return out


class Retract(_Message):
    """The utterance `id` turned out to be noise: remove its partial."""

    type: Literal["retract"] = "retract"
    event_id: str
    id: str


class LangSwitched(_Message):
    """A language switch took effect; the earlier lines in `pending` are being translated."""

    type: Literal["lang"] = "lang"
    lang: str
    pending: list[str]


class ErrorMessage(_Message):
    """Something was refused; with close code 1008 the socket ends (e.g. `unauthorized (...)`)."""

    type: Literal["error"] = "error"
    error: str


class Pong(_Message):
    type: Literal["pong"] = "pong"


class SetLang(_Message):
    """Client -> server: read the captions in `lang` (or `source`, the spoken language) from now."""

    type: Literal["set_lang"] = "set_lang"
    lang: str


class Ping(_Message):
    """Client -> server: keeps the socket alive; answered with a pong."""

    type: Literal["ping"] = "ping"


ServerMessage = Annotated[
    Hello | CaptionEvent | Retract | LangSwitched | ErrorMessage | Pong, Field(discriminator="type")
]
ClientMessage = Annotated[SetLang | Ping, Field(discriminator="type")]
SERVER_MESSAGE: TypeAdapter[ServerMessage] = TypeAdapter(ServerMessage)
CLIENT_MESSAGE: TypeAdapter[ClientMessage] = TypeAdapter(ClientMessage)

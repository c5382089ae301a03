"""What a listener sends on the caption socket: `set_lang` (limited to the room's languages and
`lang_switches_per_min`) and `ping`. Malformed, oversized or too deeply nested messages get an
error reply and are counted; they never end the handler with an exception."""

from __future__ import annotations

import json
import time
from collections import deque

from fastapi import WebSocket
from parley_common.caption_messages import ErrorMessage, LangSwitched, Pong
from pydantic import ValidationError

from parley_gateway import languages, metrics, relang
from parley_gateway.caption_events import event_for, send_json
from parley_gateway.fanout import SOURCE, Fanout, Listener
from parley_gateway.settings import GatewaySettings

LANG_OK = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_-")


def valid_lang(lang: str) -> bool:
    return 2 <= len(lang) <= 12 and set(lang) <= LANG_OK


async def switch_language(
    ws: WebSocket, fanout: Fanout, room: str, lang: str, settings: GatewaySettings
) -> None:
    """After a language switch: the earlier finals already in `lang` now (marked `earlier`: their
    event ids are old, the client keeps its resume position), then the reply naming the rest, then
    those are asked of the translators: their translations come as live captions, after the reply,
    so the client knows them for earlier lines and not new ones."""
    index = await fanout.finals(room)
    earlier = index.earlier(lang, settings.backfill_max_lines)
    for eid, caption in earlier.ready:
        await send_json(ws, event_for(eid, caption, earlier=True))
    pending = [c.id for c in earlier.missing]
    await send_json(ws, LangSwitched(lang=lang, pending=pending).to_json())
    if lang != SOURCE:
        await relang.request_translations(fanout.r, index.to_request(earlier.missing, lang), lang)


class SwitchBudget:
    """At most `per_min` language switches in any 60 s on one socket."""

    def __init__(self, per_min: int) -> None:
        self.per_min = per_min
        self.times: deque[float] = deque()

    def take(self) -> float:
        """0 when a switch may go ahead (and counts it); otherwise seconds until one may."""
        now = time.monotonic()
        while self.times and now - self.times[0] >= 60:
            self.times.popleft()
        if self.per_min > 0 and len(self.times) >= self.per_min:
            return 60 - (now - self.times[0])
        self.times.append(now)
        return 0.0


class MessageBudget:
    """A token bucket: `per_s` messages a second sustained, `burst` at once."""

    def __init__(self, per_s: float, burst: int) -> None:
        self.per_s, self.burst = per_s, burst
        self.tokens, self.at = float(burst), time.monotonic()

    def take(self) -> bool:
        if self.per_s <= 0:
            return True
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.at) * self.per_s)
        self.at = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True


async def receive(ws: WebSocket, listener: Listener, fanout: Fanout, settings: GatewaySettings) -> None:
    budget = SwitchBudget(settings.lang_switches_per_min)
    messages = MessageBudget(settings.client_messages_per_s, settings.client_message_burst)
    while True:
        raw = await ws.receive_text()
        if not messages.take():
            metrics.BAD_INPUT.labels("rate_limited").inc()
            await ws.close(code=1008, reason="too many messages")
            return
        if len(raw) > settings.max_client_message:
            metrics.BAD_INPUT.labels("oversized").inc()
            await ws.close(code=1009, reason="message too big")
            return
        try:
            msg = json.loads(raw)
            if not isinstance(msg, dict):
                raise ValueError("not an object")
            kind = msg.get("type")
            if kind == "set_lang":
                lang = str(msg.get("lang", ""))
                if not (lang == SOURCE or valid_lang(lang)):
                    raise ValueError("bad lang")
                offer = await languages.room_offer(fanout.r, listener.room, settings)
                if not languages.allowed(lang, offer):
                    raise ValueError(languages.refusal(lang, offer))
                wait_s = budget.take()
                if wait_s:
                    metrics.BAD_INPUT.labels("rate_limited").inc()
                    raise ValueError(f"too many language switches; retry in {wait_s:.0f} s")
                listener.lang = lang
                await fanout.want_language(listener.room, lang)
                await switch_language(ws, fanout, listener.room, lang, settings)
            elif kind == "ping":
                await send_json(ws, Pong().to_json())
            else:
                raise ValueError(f"unknown message type {kind!r}")
        except RecursionError:
            metrics.BAD_INPUT.labels("bad_message").inc()
            await send_json(ws, ErrorMessage(error="message nested too deeply").to_json())
        except (ValueError, ValidationError) as exc:
            metrics.BAD_INPUT.labels("bad_message").inc()
            await send_json(ws, ErrorMessage(error=str(exc)[:400]).to_json())

"""What the gateway sends on a caption socket, and the one way it sends: every message must be
taken by the client within PARLEY_GATEWAY_SEND_TIMEOUT_S, or the socket is closed (a client that
stops reading holds no buffers and no task for longer than that)."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from fastapi import WebSocket
from parley_common.caption_messages import CaptionEvent, Retract
from parley_common.schemas import Caption, CaptionType

from parley_gateway import metrics


class SendTimeout(Exception):
    """The client did not take a message in time."""


def event_for(event_id: str, caption: Caption, *, earlier: bool = False) -> dict[str, Any]:
    """The message for one caption event (parley_common.caption_messages)."""
    if caption.type is CaptionType.FINAL and not caption.text:
        return Retract(event_id=event_id, id=caption.id).to_json()
    return CaptionEvent(event_id=event_id, caption=caption, earlier=earlier).to_json()


async def send_json(ws: WebSocket, msg: dict[str, Any]) -> None:
    timeout: float = ws.app.state.settings.send_timeout_s
    try:
        await asyncio.wait_for(ws.send_text(json.dumps(msg, ensure_ascii=False)), timeout)
    except TimeoutError:
        raise SendTimeout(f"the client took no message for {timeout:.0f} s") from None


async def send_caption(ws: WebSocket, event_id: str, caption: Caption) -> None:
    await send_json(ws, event_for(event_id, caption))
    now = time.time()
    metrics.SENT.labels(caption.type.value).inc()
    if caption.timing.published:
        metrics.FANOUT_SECONDS.observe(max(0.0, now - caption.timing.published))
    if caption.type is CaptionType.FINAL and caption.text and caption.timing.speech_end:
        metrics.E2E_FINAL_SECONDS.labels(str(caption.is_translation).lower()).observe(
            now - caption.timing.speech_end
        )

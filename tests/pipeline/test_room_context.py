"""A room's glossary (Whisper hotwords) and prompt on the real model (Whisper base int8).

Whisper reads both in the 448-token context it writes into, and a decode's token budget counted
them: a glossary of a dozen terms left a short partial no token to write (every partial of the
room came out empty), a catch-up final of 7 s came out empty, and a long prompt with a glossary
overran the context. Now the two together are cut to PARLEY_STT_PROMPT_MAX_TOKENS (hotwords first,
the prompt's end), the budget comes on top of them, and partials take the glossary without the
prompt (on half a second of speech Whisper copies a long prompt's words)."""

from __future__ import annotations

import logging
import time

import numpy as np
import pytest
import redis.asyncio as aioredis
from faster_whisper import decode_audio
from parley_common import keys
from parley_common.schemas import JobKind
from parley_stt.engine import DecodeOptions, WhisperEngine, context_tokens, fit_context
from parley_stt.settings import SttSettings
from parley_stt.worker import Worker, _Ready
from parley_testkit.wer import normalize, wer
from pipeline_helpers import librivox, spoken_job

GLOSSARY = (
    "Dashwood Norland Elinor Marianne Ferrars Brandon Willoughby Barton Devonshire Kubernetes "
    "mediasoup CTranslate2 Prometheus Grafana Alertmanager Postgres Redis Sentinel Caddy HAProxy "
    "coturn WebRTC Opus Silero Whisper NLLB apertium Swarm Loki promtail"
)
PROMPT = (
    "Weekly planning meeting of the Parley engineering team. Attendees: Alice Moreau (chair), Bob "
    "Okafor, Chen Wei, Dana Kowalski and Eitan Levi. Agenda: the Swarm deployment behind Caddy and "
    "HAProxy; the latency of captions from speech end to the listener's screen; Redis Sentinel "
    "failover and what happens to a caption in flight; the Postgres schema migration for rooms, "
    "people and captions; the Grafana dashboards and Alertmanager routes; the offline translation "
    "with apertium and NLLB-200 through CTranslate2; guest invitations and what an invited guest may "
    "do; the TURN relay on port 443. Decisions from last week: keep Whisper base int8 on the CPU "
    "nodes, add a GPU worker when one is lent, and measure the knee of the load test on two cores."
)
ROOM, SPEAKER = "context", "alice"


@pytest.fixture(scope="module")
def engine() -> WhisperEngine:
    return WhisperEngine(SttSettings(cpu_threads=2, partial_nice=0))


def test_the_context_is_cut_hotwords_first_then_the_prompts_end(
    engine: WhisperEngine, caplog: pytest.LogCaptureFixture
) -> None:
    tok = engine.model.hf_tokenizer
    big = " ".join(f"Term{i}" for i in range(200))  # the API allows 200 glossary terms
    fit_context.cache_clear()
    with caplog.at_level(logging.WARNING, logger="parley.stt.engine"):
        ctx = fit_context(tok, PROMPT, big, 112)
    assert ctx.hotword_tokens <= 112 and not ctx.prompt  # the glossary took the whole budget
    assert big.startswith(ctx.hotwords + " ") and ctx.hotwords.split()[-1].startswith("Term")
    assert len(tok.encode(" " + ctx.hotwords, add_special_tokens=False).ids) == ctx.hotword_tokens
    kept = len(ctx.hotwords.split())
    # The host can learn from the log what Whisper never sees: how many terms, which one first.
    (warning,) = [r.getMessage() for r in caplog.records if "PROMPT_MAX_TOKENS" in r.getMessage()]
    assert f"kept the first {kept} of 200 glossary terms" in warning and f"'Term{kept}'" in warning

    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="parley.stt.engine"):
        fit_context(tok, "", GLOSSARY, 112)  # fits whole: nothing to say
    assert not caplog.records

    ctx = fit_context(tok, PROMPT, GLOSSARY, 112)
    assert ctx.hotwords == GLOSSARY  # it fits whole
    assert 0 < len(ctx.prompt) <= 112 - ctx.hotword_tokens
    assert tok.decode(list(ctx.prompt)).strip().endswith("on two cores.")  # the end: nearest the speech
    assert context_tokens(ctx) <= 112 + 5


def test_a_glossary_leaves_a_partial_its_words(engine: WhisperEngine) -> None:
    for _, path, reference in librivox()[:3]:
        audio = decode_audio(str(path))[: int(1.2 * 16000)]
        opts = DecodeOptions(window="padded", pad_s=2.0, language="en", hotwords=GLOSSARY, partial=True)
        text = engine.transcribe(audio, opts).text
        assert set(normalize(text)) & set(normalize(reference)), (text, reference)  # was ""


def test_a_long_prompt_and_a_big_glossary_leave_finals_as_they_were(engine: WhisperEngine) -> None:
    big = GLOSSARY + " " + " ".join(f"Term{i}" for i in range(170))
    refs, plain, full, catch_up = [], [], [], []
    for _, path, reference in librivox():
        audio = decode_audio(str(path))
        refs.append(reference)
        plain.append(engine.transcribe(audio, DecodeOptions(window="full", language="en")).text)
        room = {"language": "en", "prompt": PROMPT, "hotwords": big}
        full.append(engine.transcribe(audio, DecodeOptions(window="full", **room)).text)
        catch_up.append(engine.transcribe(audio, DecodeOptions(window="padded", pad_s=5.0, **room)).text)
    assert all(catch_up), catch_up  # catch-up finals used to come out empty
    assert wer(refs, full) <= wer(refs, plain) + 0.01, (full, plain)
    assert wer(refs, catch_up) <= 0.05, catch_up


async def test_partials_get_the_glossary_and_finals_the_prompt_too(
    scratch_redis: aioredis.Redis, engine: WhisperEngine
) -> None:
    r = scratch_redis
    worker = Worker(r, SttSettings(speech_translate=False), engine)
    now = time.time()
    room = {"t0": now - 5, "language": "en", "prompt": PROMPT, "hotwords": GLOSSARY}
    await r.hset(keys.room_info(ROOM), mapping=room)
    partial = await spoken_job(r, ROOM, SPEAKER, np.zeros(16000, np.float32), now - 1, JobKind.PARTIAL)
    opts = {}
    for job in (partial, partial.model_copy(update={"kind": JobKind.FINAL})):
        ready = await worker._prepare(job)
        assert isinstance(ready, _Ready), ready
        opts[job.kind] = ready.opts
    assert opts[JobKind.PARTIAL].prompt == "" and opts[JobKind.PARTIAL].hotwords == GLOSSARY
    assert opts[JobKind.FINAL].prompt == PROMPT and opts[JobKind.FINAL].hotwords == GLOSSARY

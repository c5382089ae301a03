"""Postgres down while a meeting goes on (issue 15): the persister (a real process) holds the finals
in Redis — it stops reading, stays healthy, and asks Postgres again with backoff — and when
Postgres is back writes every one of them, once. Real Postgres 15 (a cluster of our own, stopped
with `pg_ctl -m fast` as a restart or an orchestrator would), real Redis, real persister."""

from __future__ import annotations

import asyncio
import time
import urllib.request
from pathlib import Path

import pytest
from parley_common import keys
from parley_common.redisconn import connect
from parley_common.schemas import Caption
from parley_testkit.procs import LocalStack, free_port

from bench.load.postgres import PgServer, pg_ready
from bench.load.stack import RedisServer

pytestmark = pytest.mark.skipif(pg_ready() is not None, reason=pg_ready() or "")
OUTAGE_S = 20.0
ROOM = "pg-outage"


def final(utt: int, lang: str) -> Caption:
    text = f"Sentence number {utt} of the meeting."
    return Caption(
        type="final",
        id=keys.caption_id(ROOM, "ana", utt),
        room=ROOM,
        speaker="ana",
        speaker_name="Ana",
        utt=utt,
        lang=lang,
        text=text if lang == "en" else f"Frase {utt} de la reunión.",
        source_lang="en",
        source_text=text,
        start=utt * 3.0,
        end=utt * 3.0 + 2.0,
    )


def metrics_of(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
        return str(resp.read().decode())


def rows(pg: PgServer) -> tuple[int, int]:
    finals = int(pg.psql("select count(*) from captions"))
    translations = int(pg.psql("select count(*) from caption_translations"))
    return finals, translations


async def test_finals_wait_in_redis_while_postgres_is_down_and_are_written_once(tmp_path: Path) -> None:
    pg = PgServer(free_port())
    pg.start()
    pg.migrate()
    rs = RedisServer(free_port(), persist=False)
    rs.start()
    stack = LocalStack(
        rs.url, tmp_path / "logs", env={"PARLEY_DATABASE_URL": pg.url, "PARLEY_PERSISTER_DB_RETRY_MAX_S": "1"}
    )
    r = connect(rs.url)
    try:
        persister = stack.start("persister-1", "parley_gateway.persister")
        stack.wait_healthy(60)

        async def publish(utts: range) -> None:
            for utt in utts:
                for lang in ("en", "es"):
                    await r.xadd(keys.PERSIST_CAPTIONS, final(utt, lang).to_fields())

        await publish(range(10))
        deadline = time.monotonic() + 20
        while rows(pg) != (10, 10):
            assert time.monotonic() < deadline, rows(pg)
            await asyncio.sleep(0.2)

        pg.stop("fast")
        down_at = time.monotonic()
        utt = 10
        while time.monotonic() - down_at < OUTAGE_S:  # the meeting goes on: a final every 0.5 s
            await publish(range(utt, utt + 1))
            utt += 1
            await asyncio.sleep(0.5)
        await publish(range(12, 15))  # and some come twice (a publisher's retry)
        assert persister.healthy()  # waiting for Postgres is no reason to restart it
        assert "parley_persister_database_up 0.0" in await asyncio.to_thread(
            metrics_of, persister.health_port
        )

        pg.start()
        back_at = time.monotonic()
        while rows(pg) != (utt, utt):
            assert time.monotonic() - back_at < 30, rows(pg)
            await asyncio.sleep(0.2)
        recovery_s = time.monotonic() - back_at
        texts = pg.psql("select utt, text from captions order by utt").splitlines()
        dead = await r.xlen(keys.DEAD_LETTERS)
    finally:
        await r.aclose()
        stack.stop()
        rs.cleanup()
        pg.cleanup()
    print(
        f"{utt} finals (+{utt} translations), {OUTAGE_S:.0f} s outage; all stored {recovery_s:.1f} s after Postgres came back"
    )
    assert texts == [f"{u}|Sentence number {u} of the meeting." for u in range(utt)]  # each once, in order
    assert dead == 0  # nothing dead-lettered for the outage

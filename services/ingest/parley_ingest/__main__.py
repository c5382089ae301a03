"""parley-ingest: receive the SFU's RTP and append each speaker's 16 kHz frames to Redis."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal

from parley_common import redisconn
from parley_common.health import serve_health
from parley_common.log import setup_logging
from redis.asyncio.connection import Connection
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from parley_ingest.bind import resolve_bind_host
from parley_ingest.receiver import RtpReceiver
from parley_ingest.settings import IngestSettings

log = logging.getLogger("parley.ingest")


async def amain(settings: IngestSettings) -> None:
    host = resolve_bind_host(settings.rtp_host)

    async def connected(conn: Connection) -> None:
        await conn.on_connect()
        rx.writer.reconnected()  # a new connection may be to a Redis that lost our last writes

    # No silent retries: a failed write must show (the writer waits and replays, receiver.py).
    r = redisconn.connect(settings.redis_url, retry=Retry(NoBackoff(), 0), redis_connect_func=connected)
    rx = RtpReceiver(
        r,
        host,
        settings.rtp_port,
        settings.jitter_ms / 1000,
        queue_max=settings.queue_max,
        outage_s=settings.outage_s,
        anchor_ttl_s=settings.anchor_ttl_s,
        replay_s=settings.replay_s,
        replay_max_s=settings.replay_max_s,
        peer_wait_s=settings.peer_wait_ms / 1000,
        fill_wait_s=settings.fill_wait_ms / 1000,
        replicated=settings.redis_url.startswith(redisconn.SCHEME),
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await rx.start()
    await serve_health(settings.metrics_port, lambda: rx.healthy, settings.metrics_host)
    log.info("ingest replica %s running", settings.replica_name())
    try:
        failed = asyncio.create_task(rx.wait_failed(), name="rtp-watch")
        stopping = asyncio.create_task(stop.wait(), name="stop")
        await asyncio.wait({failed, stopping}, return_when=asyncio.FIRST_COMPLETED)
        for t in (failed, stopping):
            t.cancel()
        if failed.done() and not failed.cancelled():
            failed.result()  # a receiver task died: exit non-zero, to be restarted
    finally:
        await rx.stop()
        await r.aclose()


def main() -> None:
    argparse.ArgumentParser(description=__doc__).parse_args()
    settings = IngestSettings()
    setup_logging(settings.log_level, settings.log_json)
    asyncio.run(amain(settings))


if __name__ == "__main__":
    main()

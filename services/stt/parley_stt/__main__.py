"""parley-stt: run the segmenter and/or the transcription worker of one STT replica."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os

from parley_common import redisconn, routes
from parley_common.health import serve_health
from parley_common.log import setup_logging
from parley_common.outage import ride_out
from parley_common.tasks import cancel_all

from parley_stt.settings import SttSettings

log = logging.getLogger("parley.stt")


async def amain(settings: SttSettings) -> None:
    r = redisconn.connect(settings.redis_url)
    tasks: dict[str, asyncio.Task[None]] = {}
    ready: list[asyncio.Event] = []
    info: dict[str, object] = {"role": settings.role, "engines": []}
    if settings.role in ("all", "worker"):
        from parley_stt.engine import WhisperEngine
        from parley_stt.worker import Worker

        engine = await asyncio.to_thread(WhisperEngine, settings)
        worker = Worker(r, settings, engine)
        if worker.dispatch is not None:
            worker.dispatch.observe(await asyncio.to_thread(engine.warm_up, settings.final_window))
            log.info("a final takes this replica about %.2f s", worker.dispatch.speed_s)
        tasks["worker"] = asyncio.create_task(ride_out("worker", r, worker.run), name="worker")
        # What this replica translates from the speech, and every replica's routes (parley_common.routes).
        advertised = asyncio.Event()
        tasks["advertiser"] = asyncio.create_task(
            ride_out(
                "advertiser",
                r,
                lambda: routes.keep_advertising(
                    r,
                    "stt",
                    settings.replica_name(),
                    worker.speech.info(),
                    settings.engine_report_max_age_s,
                    worker.speech.set_routes,
                    advertised,
                ),
            ),
            name="advertiser",
        )
        ready.append(advertised)
        info["engines"] = [
            e.model_dump(exclude_defaults=True, exclude={"pairs"}) for e in worker.speech.info()
        ]
    if settings.role in ("all", "segmenter"):
        from parley_stt.segmenter_loop import Segmenter

        seg = Segmenter(r, settings)
        tasks["segmenter"] = asyncio.create_task(
            ride_out("segmenter", r, seg.run, on_outage=seg.release_all), name="segmenter"
        )
    await serve_health(
        settings.metrics_port,
        lambda: all(e.is_set() for e in ready) and all(not t.done() for t in tasks.values()),
        settings.metrics_host,
        info=lambda: info,
    )
    log.info("stt replica %s running (%s)", settings.replica_name(), ", ".join(tasks))
    try:
        done, _ = await asyncio.wait(tasks.values(), return_when=asyncio.FIRST_COMPLETED)
        for t in done:
            t.result()  # a loop that ended raised (or Redis stayed away): exit, to be restarted
    finally:
        await cancel_all(tasks.values(), suppress=(Exception,))  # one that failed was raised above
        await r.aclose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.parse_args()
    settings = SttSettings()
    setup_logging(settings.log_level, settings.log_json)
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    asyncio.run(amain(settings))


if __name__ == "__main__":
    main()

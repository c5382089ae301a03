"""parley-translate: one translation replica."""

from __future__ import annotations

import argparse
import asyncio
import logging
from pathlib import Path

from parley_common import redisconn, routes
from parley_common.health import serve_health
from parley_common.log import setup_logging
from parley_common.outage import ride_out

from parley_translate.engines.apertium import ApertiumEngine
from parley_translate.engines.base import Engine
from parley_translate.service import Translator
from parley_translate.settings import TranslateSettings

log = logging.getLogger("parley.translate")


def build_engines(settings: TranslateSettings) -> list[Engine]:
    engines: list[Engine] = []
    for name in (n.strip() for n in settings.engines.split(",") if n.strip()):
        if name == "apertium":
            engines.append(ApertiumEngine(Path(settings.apertium_modes)))
        elif name == "ct2":
            if not settings.ct2_model:
                raise SystemExit("PARLEY_TRANSLATE_ENGINES has ct2 but PARLEY_TRANSLATE_CT2_MODEL is empty")
            from parley_translate.engines.ct2 import CTranslate2Engine

            engines.append(
                CTranslate2Engine(
                    settings.ct2_model,
                    kind=settings.ct2_kind,
                    tokenizer=settings.ct2_tokenizer,
                    device=settings.device,
                    compute_type=settings.compute_type,
                    threads=settings.threads,
                    pair=settings.ct2_pair,
                    beam_size=settings.beam_size,
                )
            )
        else:
            raise SystemExit(f"unknown translation engine {name!r} (known: ct2, apertium)")
    return engines


def health_info(translator: Translator) -> dict[str, object]:
    return {"engines": [e.info().model_dump(exclude_defaults=True) for e in translator.engines]}


async def amain(settings: TranslateSettings) -> None:
    r = redisconn.connect(settings.redis_url)
    translator = Translator(r, settings, build_engines(settings))
    task = asyncio.create_task(ride_out("translator", r, translator.run), name="translator")
    advertised = asyncio.Event()  # healthy once the gateways can know what this replica translates
    advertiser = asyncio.create_task(
        ride_out(
            "advertiser",
            r,
            lambda: routes.keep_advertising(
                r,
                "translate",
                settings.replica_name(),
                [e.info() for e in translator.engines],
                settings.engine_report_max_age_s,
                translator.set_routes,
                advertised,
            ),
        ),
        name="advertiser",
    )
    await serve_health(
        settings.metrics_port,
        lambda: advertised.is_set() and not task.done() and not advertiser.done(),
        settings.metrics_host,
        info=lambda: health_info(translator),
    )
    log.info(
        "translate replica %s running (engines: %s)",
        settings.replica_name(),
        ", ".join(e.name for e in translator.engines),
    )
    try:
        await task
    finally:
        await r.aclose()


def main() -> None:
    argparse.ArgumentParser(description=__doc__).parse_args()
    settings = TranslateSettings()
    setup_logging(settings.log_level, settings.log_json)
    asyncio.run(amain(settings))


if __name__ == "__main__":
    main()

"""parley-gateway: the caption WebSocket and HTTP endpoints."""

from __future__ import annotations

import argparse

import uvicorn
from parley_common.log import setup_logging

from parley_gateway import logredact
from parley_gateway.app import create_app
from parley_gateway.settings import GatewaySettings


def main() -> None:
    argparse.ArgumentParser(description=__doc__).parse_args()
    settings = GatewaySettings()
    setup_logging(settings.log_level, settings.log_json)
    logredact.install()  # no join token or invite code in a log line
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_config=None,
        ws_max_size=64 * 1024,
        proxy_headers=False,  # X-Forwarded-For is read by clientaddr.py, from trusted proxies only
    )


if __name__ == "__main__":
    main()

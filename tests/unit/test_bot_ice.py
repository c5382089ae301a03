"""The bot's loopback-only ICE is undone on leaving: a later bot in the same process (a test in
another network namespace, e.g. the rehearsal after tests/media) gathers its real addresses."""

from __future__ import annotations

import aioice.ice
from parley_bot.client import loopback_only_ice


def test_loopback_only_ice_is_undone_on_leaving() -> None:
    gather = aioice.ice.get_host_addresses
    with loopback_only_ice():
        assert aioice.ice.get_host_addresses(True, False) == ["127.0.0.1"]
    assert aioice.ice.get_host_addresses is gather

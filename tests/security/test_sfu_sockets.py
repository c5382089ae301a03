"""Signalling sockets (issue 13): the SFU accepted any number of unauthenticated sockets, from one
address as from many, had no request rate limit and took 256 KiB messages. Now sockets are capped
in all and per client address (the forwarded one only behind a trusted proxy), a socket must join
within SFU_JOIN_TIMEOUT_MS, requests are rate-limited per socket and producer changes per peer.
Real SFU and Redis; distinct client addresses are distinct loopback source addresses (127.0.0.x)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sfu_attacks import (
    LocalSfu,
    joined,
    local_sfu,
    open_socket,
    oversized_message,
    producer_toggle_flood,
    request_flood,
    sfu_skip_reason,
    sockets_from_one_address,
    unjoined_socket_flood,
)

pytestmark = pytest.mark.skipif(sfu_skip_reason() is not None, reason=sfu_skip_reason() or "")

CAPS = {
    "SFU_MAX_SOCKETS_PER_ADDRESS": "6",
    "SFU_MAX_UNJOINED_PER_ADDRESS": "4",
    "SFU_MAX_UNJOINED_SOCKETS": "10",
    "SFU_JOIN_TIMEOUT_MS": "1500",
}


@pytest.fixture(scope="module")
def sfu() -> Iterator[LocalSfu]:
    with local_sfu("sockets", **CAPS) as s:
        yield s


def source(n: int) -> dict[str, object]:
    """Connect from 127.0.0.n: another client address on the same machine."""
    return {"socket_options": {"local_addr": (f"127.0.0.{n}", 0)}}


async def test_unjoined_sockets_are_capped_and_timed_out(sfu: LocalSfu) -> None:
    result = await unjoined_socket_flood(sfu.target(**source(2)), sockets=20, wait_s=5)
    assert result.refused, result.detail
    assert result.detail.startswith("4 accepted"), result.detail  # SFU_MAX_UNJOINED_PER_ADDRESS
    # Many addresses together stop at SFU_MAX_UNJOINED_SOCKETS; a joined user is still served.
    user = await joined(sfu.target(**source(50)), "busy-room", "user")
    hogs = [await open_socket(sfu.target(**source(10 + n))) for n in range(4) for _ in range(4)]
    try:
        assert sum(1 for h in hogs if h == 429) == 16 - 10, hogs
        assert await user.request("getRouterRtpCapabilities")
    finally:
        for h in hogs:
            if not isinstance(h, int):
                await h.close()
        await user.close()


async def test_one_address_cannot_open_unlimited_sockets(sfu: LocalSfu) -> None:
    result = await sockets_from_one_address(sfu.target(**source(3)), sockets=10)
    assert result.refused and result.detail == "6 accepted, 4 refused", result.detail
    # Another address is not affected.
    other = await joined(sfu.target(**source(4)), "other-room", "bystander")
    await other.close()


async def test_a_direct_client_cannot_dodge_the_cap_with_x_forwarded_for(sfu: LocalSfu) -> None:
    result = await sockets_from_one_address(sfu.target(**source(5)), sockets=10, spoof=True)
    assert result.refused and result.detail == "6 accepted, 4 refused", result.detail


async def test_behind_a_trusted_proxy_each_forwarded_client_has_its_own_cap() -> None:
    with local_sfu("proxy", SFU_TRUSTED_PROXIES="127.0.0.1", SFU_MAX_SOCKETS_PER_ADDRESS="3") as sfu:
        target = sfu.target()  # every socket comes from the "proxy", 127.0.0.1
        alice = [
            await open_socket(target, additional_headers={"X-Forwarded-For": "203.0.113.7"}) for _ in range(4)
        ]
        # The client-supplied part of the chain is ignored: the proxy appended the real address last.
        bob = [
            await open_socket(target, additional_headers={"X-Forwarded-For": f"10.9.9.{i}, 203.0.113.8"})
            for i in range(4)
        ]
        try:
            assert [isinstance(s, int) for s in alice] == [False, False, False, True]
            assert [isinstance(s, int) for s in bob] == [False, False, False, True]
        finally:
            for s in alice + bob:
                if not isinstance(s, int):
                    await s.close()


async def test_request_flood_closes_the_socket(sfu: LocalSfu) -> None:
    result = await request_flood(sfu.target(**source(6)), seconds=5)
    assert result.refused, result.detail


async def test_oversized_message_closes_the_socket(sfu: LocalSfu) -> None:
    result = await oversized_message(sfu.target(**source(7)))
    assert result.refused, result.detail


async def test_producer_toggle_flood_is_rate_limited(sfu: LocalSfu) -> None:
    since = sfu.host.r.xinfo_stream("sfu:events")["length"] if sfu.host.r.exists("sfu:events") else 0
    result = await producer_toggle_flood(sfu.target(**source(8)))
    assert result.refused, result.detail
    events = sfu.host.r.xinfo_stream("sfu:events")["length"] - since
    assert events < 40, f"{events} sfu:events entries from one guest's toggling"

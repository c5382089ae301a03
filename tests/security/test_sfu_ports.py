"""UDP port exhaustion (issue 13): any guest could open receive transports that never connect,
each holding a UDP (and a TCP) port of the SFU's published range; 25 guests used up the stack's 100
ports, and every new transport or room then failed. Now every WebRTC transport shares its worker's
WebRtcServer port, and transports that do not connect in time are closed. Real SFU and Redis."""

from __future__ import annotations

import pytest
from sfu_attacks import exhaust_rtc_ports, idle_transports_linger, joined, local_sfu, refusal, sfu_skip_reason

pytestmark = pytest.mark.skipif(sfu_skip_reason() is not None, reason=sfu_skip_reason() or "")

# The stack's old published range: 100 ports (stack/docker-stack.yml before the WebRtcServer).
HUNDRED_PORTS = {"SFU_RTC_MIN_PORT": "45000", "SFU_RTC_MAX_PORT": "45099"}


async def test_guests_cannot_exhaust_the_sfus_ports() -> None:
    with local_sfu("ports", **HUNDRED_PORTS) as sfu:
        result = await exhaust_rtc_ports(sfu.target())
        assert result.refused, result.detail
        assert "100 idle transports made" in result.detail  # the attack did run in full


async def test_transports_that_never_connect_are_closed() -> None:
    with local_sfu("idle", SFU_TRANSPORT_CONNECT_TIMEOUT_MS="1500", **HUNDRED_PORTS) as sfu:
        before = sfu.metric("parley_sfu_worker_transports")
        result = await idle_transports_linger(sfu.target(), wait_s=10)
        assert result.refused, result.detail
        assert sfu.metric("parley_sfu_worker_transports") == before + 1  # the room's gateway transport


async def test_a_peer_opens_at_most_the_transport_limit() -> None:
    with local_sfu("transport-cap", SFU_MAX_TRANSPORTS_PER_PEER="2") as sfu:
        target = sfu.target()
        sig = await joined(target, target.room("cap"), "greedy")
        try:
            codes = [
                await refusal(sig.request("createWebRtcTransport", {"direction": "recv"})) for _ in range(4)
            ]
        finally:
            await sig.close()
        assert codes == [None, None, "INVALID_STATE", "INVALID_STATE"]

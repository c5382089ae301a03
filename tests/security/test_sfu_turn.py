"""TURN (issue 13): the credentials a guest gets at join work for any relay the TURN server allows.
coturn (stack/config/turnserver.conf, real turnserver) must refuse to relay to internal addresses,
the stack's command line to anything but the SFU, and stop one user's allocations at its quota."""

from __future__ import annotations

import re
import shutil
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import yaml
from parley_testkit.procs import free_port
from sfu_attacks import (
    LOGS,
    LocalSfu,
    TurnProbe,
    guest_turn,
    local_sfu,
    sfu_skip_reason,
    turn_allocation_flood,
    turn_relay_to_internal,
)

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "deploy"))
from turn_helpers import TURN_CONF, Coturn, start_coturn  # noqa: E402

SECRET = "turn-security-secret-0123456789abcdef"
STACK = ROOT / "stack" / "docker-stack.yml"
RELAY_PORTS = (46000, 46199)  # coturn's relay ports in these tests, outside the SFU's


def skip_reason() -> str | None:
    if not shutil.which("turnserver"):
        return "coturn is not installed (apt-get install coturn; scripts/bootstrap.sh does)"
    return sfu_skip_reason()


pytestmark = pytest.mark.skipif(skip_reason() is not None, reason=skip_reason() or "")


def stack_peer_flags(sfu_ip: str) -> list[str]:
    """coturn's peer policy flags from the stack file's entrypoint, the SFU's address filled in."""
    entry = yaml.safe_load(STACK.read_text())["services"]["coturn"]["entrypoint"][-1]
    flags = re.findall(
        r"--(?:denied|allowed)-peer-ip=\S+", entry.replace("${PARLEY_MEDIA_PUBLIC_IP:-203.0.113.10}", sfu_ip)
    )
    assert flags, entry
    return [f.rstrip('"') for f in flags]


@contextmanager
def coturn_and_sfu(name: str, extra: list[str] | None = None) -> Iterator[tuple[Coturn, LocalSfu]]:
    """Real coturn on loopback (the stack's conf; 127.0.0.1, where the SFU is, allowed) and an SFU
    handing out its credentials at join."""
    port = free_port()
    turn = start_coturn(LOGS / f"coturn-{name}", port, RELAY_PORTS, SECRET, extra or [])
    try:
        env = {"TURN_URLS": f"turn:127.0.0.1:{port}?transport=udp", "TURN_SECRET": SECRET}
        with local_sfu(f"turn-{name}", **env) as sfu:
            yield turn, sfu
    finally:
        turn.stop()


async def test_turn_refuses_to_relay_to_internal_addresses() -> None:
    with coturn_and_sfu("internal") as (_, sfu):
        result = await turn_relay_to_internal(sfu.target())
        assert result.refused, result.detail
        server, user, password = await guest_turn(sfu.target())
        probe = TurnProbe(server, user, password)
        try:
            assert probe.allocate() == 0
            assert probe.permit("127.0.0.1") == 0, "the SFU's address (allowed in this test) must still work"
        finally:
            probe.close()


async def test_stack_turn_relays_to_the_sfu_only() -> None:
    """The stack's coturn flags: every peer denied but the SFU's address (here 127.0.0.1), so not
    the other nodes (a public-looking address here) either."""
    with coturn_and_sfu("stack", stack_peer_flags("127.0.0.1")) as (_, sfu):
        result = await turn_relay_to_internal(sfu.target(), extra_peers=("192.0.2.10", "8.8.8.8", "2.2.2.2"))
        assert result.refused, result.detail
        server, user, password = await guest_turn(sfu.target())
        probe = TurnProbe(server, user, password)
        try:
            assert probe.allocate() == 0
            assert probe.permit("127.0.0.1") == 0
        finally:
            probe.close()


async def test_one_users_turn_allocations_are_capped() -> None:
    with coturn_and_sfu("quota") as (_, sfu):
        result = await turn_allocation_flood(sfu.target(), allocations=20)
        assert result.refused, result.detail
        assert result.detail.startswith("12 allocations made"), result.detail  # user-quota


def test_turn_conf_denies_internal_ipv6_ranges() -> None:
    """IPv6 relays are not started on loopback here; the ranges are checked in the conf itself."""
    denied = re.findall(r"^denied-peer-ip=(\S+)$", TURN_CONF.read_text(), re.M)
    for needed in (
        "fc00::-",
        "fe80::-",
        "::-::1",
        "::ffff:0.0.0.0-",
        "64:ff9b::-",
        "169.254.0.0-",
        "100.64.0.0-",
        "0.0.0.0-",
    ):
        assert any(d.startswith(needed) for d in denied), needed

"""More of the same kind (issue 13, found while fixing the listed ones): what one guest can make the
SFU and the caption pipeline do with well-formed requests. Each attack ran unchecked before: a
producer consumed 50 times by one peer, four audio producers per guest (four speaker streams for
speech-to-text), 500-codec capabilities and 200-encoding parameters. Real SFU and Redis."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sfu_attacks import (
    LocalSfu,
    consume_storm,
    data_channels,
    local_sfu,
    many_audio_producers,
    oversized_rtp_lists,
    sfu_skip_reason,
)

pytestmark = pytest.mark.skipif(sfu_skip_reason() is not None, reason=sfu_skip_reason() or "")


@pytest.fixture(scope="module")
def sfu() -> Iterator[LocalSfu]:
    with local_sfu("limits") as s:
        yield s


async def test_one_peer_consumes_a_producer_once(sfu: LocalSfu) -> None:
    result = await consume_storm(sfu.target())
    assert result.refused, result.detail


async def test_a_guest_has_one_audio_producer(sfu: LocalSfu) -> None:
    result = await many_audio_producers(sfu.target())
    assert result.refused, result.detail


async def test_oversized_rtp_lists_are_refused(sfu: LocalSfu) -> None:
    result = await oversized_rtp_lists(sfu.target())
    assert result.refused, result.detail


async def test_no_data_channels(sfu: LocalSfu) -> None:
    """Never offered (no SCTP on transports, no produceData): kept that way."""
    result = await data_channels(sfu.target())
    assert result.refused, result.detail

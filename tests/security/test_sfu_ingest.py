"""Plain RTP ingest (issue 13): with SFU_ALLOW_PLAIN_INGEST on (the load generator, bots), any guest
could open one, and it locked onto whoever sent the first packet (comedia). Now it is for the roles
in SFU_PLAIN_INGEST_ROLES (host) only, and bound to the source address its creator names.
Real SFU and Redis; a UDP socket of the test stands in for parley-ingest."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
from parley_testkit.procs import free_port
from sfu_attacks import LocalSfu, hijack_plain_ingest, local_sfu, plain_ingest_as_guest, sfu_skip_reason

pytestmark = pytest.mark.skipif(sfu_skip_reason() is not None, reason=sfu_skip_reason() or "")


class Sink:
    """Counts the RTP packets the SFU forwards to its ingest address."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", free_port()))
        self.sock.setblocking(False)
        self.rtp = 0

    def count(self) -> int:
        while True:
            try:
                data = self.sock.recv(2048)
            except BlockingIOError:
                return self.rtp
            if len(data) >= 12 and not 200 <= data[1] <= 204:  # RTCP (sender reports) is not audio
                self.rtp += 1


@pytest.fixture(scope="module")
def sink() -> Iterator[Sink]:
    s = Sink()
    yield s
    s.sock.close()


@pytest.fixture(scope="module")
def sfu(sink: Sink) -> Iterator[LocalSfu]:
    port = str(sink.sock.getsockname()[1])
    with local_sfu("ingest", SFU_ALLOW_PLAIN_INGEST="1", GATEWAY_RTP_PORT=port) as s:
        yield s


async def test_guest_cannot_open_a_plain_ingest(sfu: LocalSfu) -> None:
    result = await plain_ingest_as_guest(sfu.target())
    assert result.refused, result.detail


async def test_first_sender_cannot_hijack_a_bots_plain_ingest(sfu: LocalSfu, sink: Sink) -> None:
    result = await hijack_plain_ingest(sfu.target(), sink.count)
    assert result.refused, result.detail

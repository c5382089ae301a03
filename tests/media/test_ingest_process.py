"""parley-ingest as its own process: it binds RTP to the address its setting names (never every
interface), serves /healthz and /metrics, turns a producer's RTP into frames in Redis, and on SIGTERM
ends the speaker's utterance and exits. Real Redis (database 7), real libopus, a real UDP socket."""

from __future__ import annotations

import os
import signal
import socket
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from parley_common import keys
from parley_common.procs import LocalStack, ServiceProc, free_port
from parley_ingest.bind import BindError, resolve_bind_host
from rtp_helpers import CLIP, opus_packets, read_pcm48k, rtp_stream

ROOT = Path(__file__).resolve().parents[2]
REDIS_DB = 7  # no other test uses it


def redis_url() -> str:
    return os.environ.get("PARLEY_REDIS_URL", "redis://127.0.0.1:6379/0").rsplit("/", 1)[0] + f"/{REDIS_DB}"


@pytest.mark.parametrize("setting", ["0.0.0.0", "::", "0.0.0.0/0", "", "no-such-host.invalid"])
def test_bind_refuses_wildcards_and_unknown_hosts(setting: str) -> None:
    with pytest.raises(BindError):
        resolve_bind_host(setting)


def test_bind_takes_an_address_or_our_address_in_a_network() -> None:
    assert resolve_bind_host("127.0.0.1") == "127.0.0.1"
    assert resolve_bind_host("localhost") == "127.0.0.1"
    assert resolve_bind_host("127.0.0.0/8") == "127.0.0.1"
    with pytest.raises(BindError):
        resolve_bind_host("192.0.2.0/24")  # TEST-NET-1: no address of ours is in it


@pytest.fixture
def r() -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url())
    try:
        client.ping()
    except redis.ConnectionError:
        pytest.skip("no Redis on PARLEY_REDIS_URL (scripts/ensure-redis.sh)")
    client.flushdb()
    yield client
    client.flushdb()
    client.close()


def _start(tmp_path: Path, env: dict[str, str]) -> tuple[LocalStack, ServiceProc]:
    stack = LocalStack(redis_url(), tmp_path / "logs")
    return stack, stack.start("ingest-1", "parley_ingest", env)


def _udp_binds(port: int) -> set[str]:
    """Local addresses (hex, as /proc/net/udp writes them) bound to UDP `port`."""
    out = set()
    for line in Path("/proc/net/udp").read_text().splitlines()[1:]:
        local = line.split()[1]
        addr, _, hexport = local.partition(":")
        if int(hexport, 16) == port:
            out.add(addr)
    return out


def test_ingest_process_receives_rtp_into_redis_and_ends_the_utterance_on_sigterm(
    r: redis.Redis, tmp_path: Path
) -> None:
    rtp_port = free_port()
    stack, ingest = _start(tmp_path, {"PARLEY_INGEST_RTP_PORT": str(rtp_port)})
    try:
        stack.wait_healthy(60)
        # Bound to the setting's address (loopback by default), not 0.0.0.0.
        assert _udp_binds(rtp_port) == {"0100007F"}, _udp_binds(rtp_port)
        r.xadd(
            "sfu:events",
            {
                "v": "1",
                "type": "producer.open",
                "room": "ingest-a",
                "peer": "ana",
                "name": "Ana",
                "producer": "p1",
                "ssrc": "4242",
                "pt": "100",
                "clock_rate": "48000",
            },
        )
        packets = rtp_stream(opus_packets(read_pcm48k(CLIP, 1.0)), 4242)
        stream = keys.audio_stream("ingest-a", "ana")
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            deadline = time.monotonic() + 10
            while r.xlen(stream) == 0:  # the ingest learns the SSRC from sfu:events first
                sock.sendto(packets[0], ("127.0.0.1", rtp_port))
                assert time.monotonic() < deadline, ingest.log_path.read_text()
                time.sleep(0.05)
            for p in packets[1:]:
                sock.sendto(p, ("127.0.0.1", rtp_port))
                time.sleep(0.002)
        deadline = time.monotonic() + 5
        while r.xlen(stream) < 50:
            assert time.monotonic() < deadline, r.xlen(stream)
            time.sleep(0.05)
        assert r.hget(keys.room_speakers("ingest-a"), "ana") == b"Ana"
        with urllib.request.urlopen(f"http://127.0.0.1:{ingest.health_port}/metrics", timeout=5) as resp:
            metrics = resp.read().decode()
        assert "parley_ingest_rtp_packets_total 50.0" in metrics, metrics
        assert "parley_ingest_producers 1.0" in metrics
        ingest.proc.send_signal(signal.SIGTERM)
        assert ingest.proc.wait(15) == 0, ingest.log_path.read_text()
        last = r.xrevrange(stream, count=1)[0][1]
        assert last.get(b"eof") == b"1", last  # the speaker's utterance ends with the process
    finally:
        stack.stop()


@pytest.mark.parametrize("host", ["0.0.0.0", "192.0.2.0/24"])
def test_ingest_refuses_to_start_on_every_interface_or_a_foreign_network(
    r: redis.Redis, tmp_path: Path, host: str
) -> None:
    stack, ingest = _start(
        tmp_path, {"PARLEY_INGEST_RTP_PORT": str(free_port()), "PARLEY_INGEST_RTP_HOST": host}
    )
    try:
        assert ingest.proc.wait(30) != 0
        assert "BindError" in ingest.log_path.read_text()
    finally:
        stack.stop()

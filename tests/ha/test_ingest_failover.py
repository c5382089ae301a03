"""parley-ingest against Redis as the stack runs it (master, replica, three sentinels): the master
is SIGKILLed while a producer's RTP streams in, started again 5 s later (as Swarm would) — here as
a master, the worst case (the stack's nodes ask the sentinels for their role first,
stack/config/redis-role.sh; one that finds no majority of them does not) — and the promoted
replica is SIGKILLed 11 s after the first kill, before the sentinels have made the old master its
replica (they take ~10 s): a double fault: the stale old master is promoted and the 11 s
in between exist only in the ingest's writer, which had no replica to confirm them. Every 20 ms
frame still ends up in the speaker's stream exactly once: the writer appends again what no replica
had (parley_ingest.writer), and Redis refuses what survived."""

from __future__ import annotations

import itertools
import shutil
import socket
import sys
import threading
import time
from pathlib import Path

import pytest
from parley_common import keys
from parley_common.redisconn import connect_sync
from parley_testkit.procs import LocalStack, free_port

from bench.load.redis_ha import RedisHA

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "media"))
from rtp_helpers import CLIP, opus_packets, read_pcm48k, rtp_stream  # noqa: E402

pytestmark = pytest.mark.skipif(shutil.which("redis-server") is None, reason="redis-server is not installed")
SECONDS = 24
KILLS_AT_S = (3.0, 14.0)
RESTART_AFTER_S = 5.0  # Swarm's restart delay


def test_every_frame_once_through_two_failovers(tmp_path: Path) -> None:
    ha = RedisHA(rejoin_by_role=False)
    ha.start()
    stack = LocalStack(ha.url, tmp_path / "logs")
    rtp_port = free_port()
    try:
        ingest = stack.start("ingest-1", "parley_ingest", {"PARLEY_INGEST_RTP_PORT": str(rtp_port)})
        stack.wait_healthy(60)
        r = connect_sync(ha.url)
        r.xadd(
            "sfu:events",
            {
                "v": "1",
                "type": "producer.open",
                "room": "ha",
                "peer": "ana",
                "name": "Ana",
                "producer": "p-ha",
                "ssrc": "77",
                "pt": "100",
                "clock_rate": "48000",
            },
        )
        payloads = opus_packets(read_pcm48k(CLIP, 7.0))
        packets = rtp_stream((payloads * (SECONDS // 7 + 1))[: SECONDS * 50], 77)
        masters = [ha.master_port()]
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            start = time.monotonic()
            for i, p in enumerate(packets):
                if i / 50 in KILLS_AT_S:
                    killed = ha.kill_master()
                    threading.Timer(RESTART_AFTER_S, killed.start).start()
                sock.sendto(p, ("127.0.0.1", rtp_port))
                time.sleep(max(0.0, start + 0.02 * (i + 1) - time.monotonic()))
        time.sleep(2.0)
        masters.append(ha.master_port())
        ids = [int(e.split(b"-")[0]) for e, _ in connect_sync(ha.url).xrange(keys.audio_stream("ha", "ana"))]
        log = ingest.log_path.read_text()
    finally:
        stack.stop()
        ha.cleanup()
    gaps = [(a - ids[0], b - a) for a, b in itertools.pairwise(ids) if b - a != 20]
    print(f"{len(ids)} of {len(packets)} frames, gaps {gaps}, masters {masters}")
    print("\n".join(line for line in log.splitlines() if "lost" in line))
    assert masters[0] == masters[1]  # two failovers: back to the first master
    assert gaps == [] and len(ids) == len(packets)

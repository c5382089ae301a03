"""parley-ingest as its own process: it binds RTP to the address its setting names (never every
interface), serves /healthz and /metrics, turns a producer's RTP into frames in Redis, and exits on
SIGTERM without ending anyone's utterance (another replica may carry on). Two replicas receiving one
producer, killed in turn mid-speech, leave every 20 ms of it in the stream exactly once.
Real processes, real Redis (database 7), real libopus, real UDP sockets."""

from __future__ import annotations

import asyncio
import ipaddress
import itertools
import json
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import redis
import redis.asyncio as aioredis
from parley_common import keys
from parley_common.schemas import AudioFrame
from parley_common.tasks import cancel_all
from parley_ingest.bind import BindError, resolve_bind_host
from parley_ingest.opus import OpusDecoder
from parley_ingest.writer import End, Frame, RedisWriter
from parley_testkit.procs import LocalStack, ServiceProc, free_port
from rtp_helpers import CLIP, opus_packets, pcm16, read_pcm48k, rtp_stream

ROOT = Path(__file__).resolve().parents[2]
REDIS_DB = 7  # flushed before and after each test, as tests/pipeline does with it


OPEN = {
    "v": "1",
    "type": "producer.open",
    "room": "ingest-a",
    "peer": "ana",
    "name": "Ana",
    "producer": "p1",
    "pt": "100",
    "clock_rate": "48000",
}


def foreign_network() -> str:
    """A documentation network this host has no address in (CI machines may sit in TEST-NET-1)."""
    out = subprocess.run(["ip", "-j", "addr"], capture_output=True, text=True, check=True).stdout
    mine = [ipaddress.ip_address(a["local"]) for link in json.loads(out) for a in link.get("addr_info", [])]
    for cidr in ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24"):
        if not any(addr in ipaddress.ip_network(cidr) for addr in mine):
            return cidr
    pytest.skip("this host has addresses in every documentation network")


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
        resolve_bind_host(foreign_network())


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


def test_ingest_process_receives_rtp_into_redis_and_stops_on_sigterm(r: redis.Redis, tmp_path: Path) -> None:
    rtp_port = free_port()
    stack, ingest = _start(tmp_path, {"PARLEY_INGEST_RTP_PORT": str(rtp_port)})
    try:
        stack.wait_healthy(60)
        # Bound to the setting's address (loopback by default), not 0.0.0.0.
        assert _udp_binds(rtp_port) == {"0100007F"}, _udp_binds(rtp_port)
        r.xadd("sfu:events", {**OPEN, "ssrc": "4242"})
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
        metrics = _metrics(ingest)
        assert "parley_ingest_rtp_packets_total 50.0" in metrics, metrics
        assert "parley_ingest_producers 1.0" in metrics
        # Frame ids come from the media timeline: 20 ms apart, from the producer's anchor.
        ids = [int(eid.split(b"-")[0]) for eid, _ in r.xrange(stream)]
        _rtp, _, wall_ms = r.get(keys.ingest_anchor("p1")).partition(b":")
        assert ids[0] == int(wall_ms) and set(ids) == set(range(ids[0], ids[-1] + 1, 20))
        ingest.proc.send_signal(signal.SIGTERM)
        assert ingest.proc.wait(15) == 0, ingest.log_path.read_text()
        assert all(b"eof" not in f for _, f in r.xrange(stream))  # a stopping replica ends no utterance
    finally:
        stack.stop()


@pytest.mark.parametrize("host", ["0.0.0.0", "foreign network"])
def test_ingest_refuses_to_start_on_every_interface_or_a_foreign_network(
    r: redis.Redis, tmp_path: Path, host: str
) -> None:
    if host == "foreign network":
        host = foreign_network()
    stack, ingest = _start(
        tmp_path, {"PARLEY_INGEST_RTP_PORT": str(free_port()), "PARLEY_INGEST_RTP_HOST": host}
    )
    try:
        assert ingest.proc.wait(30) != 0
        assert "BindError" in ingest.log_path.read_text()
    finally:
        stack.stop()


def _two_replicas(tmp_path: Path) -> tuple[LocalStack, list[int], list[ServiceProc]]:
    """Two ingest replicas on RTP ports of their own (ports[i] is procs[i]'s)."""
    ports = [free_port(), free_port()]
    stack = LocalStack(redis_url(), tmp_path / "logs")
    procs = [
        stack.start(f"ingest-{i + 1}", "parley_ingest", {"PARLEY_INGEST_RTP_PORT": str(port)})
        for i, port in enumerate(ports)
    ]
    return stack, ports, procs


def _one_producer_two_legs(
    r: redis.Redis, stack: LocalStack, seconds: float, ts0: int
) -> tuple[list[bytes], list[list[bytes]]]:
    """The test plays the SFU once the replicas are up: one producer sent to both on two SSRCs,
    with sequence numbers of their own and the producer's RTP timestamps. Opus payloads of
    `seconds` of the clip, and each leg's RTP packets."""
    stack.wait_healthy(60)
    payloads = opus_packets(read_pcm48k(CLIP, seconds))
    r.xadd("sfu:events", {**OPEN, "ssrc": "1001", "ssrcs": "1001,2002"})
    deadline = time.monotonic() + 10  # both know the producer (else its first packets are dropped)
    while any("parley_ingest_producers 1.0" not in _metrics(p) for p in stack.procs.values()):
        assert time.monotonic() < deadline, "the replicas did not see producer.open"
        time.sleep(0.01)
    return payloads, [
        rtp_stream(payloads, 1001, seq0=100, ts0=ts0),
        rtp_stream(payloads, 2002, seq0=50_000, ts0=ts0),
    ]


def _metrics(proc: ServiceProc) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{proc.health_port}/metrics", timeout=5) as resp:
        return str(resp.read().decode())


def _packets_accepted(proc: ServiceProc) -> float:
    lines = _metrics(proc).splitlines()
    return sum(float(ln.split()[-1]) for ln in lines if ln.startswith("parley_ingest_rtp_packets_total "))


def _close_and_wait_for_eof(r: redis.Redis, stream: str) -> None:
    """The producer closes: the stream must end with an end of utterance within 10 s."""
    r.xadd("sfu:events", {**OPEN, "type": "producer.close", "ssrc": "1001", "ssrcs": "1001,2002"})
    deadline = time.monotonic() + 10
    while not r.xrevrange(stream, count=1)[0][1].get(b"eof"):
        assert time.monotonic() < deadline, "no end of utterance"
        time.sleep(0.05)


def test_two_replicas_killed_in_turn_mid_speech_keep_every_frame_once(r: redis.Redis, tmp_path: Path) -> None:
    """The SFU's part is played by the test: one producer, sent to two ingest replicas on two
    SSRCs with their own sequence numbers and the producer's RTP timestamps. Replica 1 is killed
    (SIGKILL) 1.5 s in and started again; replica 2 is killed 4 s in. The stream must hold every
    20 ms frame of the 6 s once, then one end of utterance."""
    stack, ports, procs = _two_replicas(tmp_path)
    try:
        payloads, legs = _one_producer_two_legs(r, stack, 6.0, 7_000_000)
        stream = keys.audio_stream("ingest-a", "ana")
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            start = time.monotonic()
            for i in range(len(payloads)):
                if i == 75:  # 1.5 s
                    procs[0].proc.kill()
                    procs[0].proc.wait()
                    procs[0] = stack.start(
                        "ingest-1", "parley_ingest", {"PARLEY_INGEST_RTP_PORT": str(ports[0])}
                    )
                if i == 200:  # 4 s: replica 1 has been back for a while
                    assert procs[0].healthy(), procs[0].log_path.read_text()
                    procs[1].proc.kill()
                    procs[1].proc.wait()
                for leg, port in zip(legs, ports, strict=True):
                    sock.sendto(leg[i], ("127.0.0.1", port))
                time.sleep(max(0.0, start + 0.02 * (i + 1) - time.monotonic()))
        _close_and_wait_for_eof(r, stream)
        entries = r.xrange(stream)
        ids = [eid.decode() for eid, _ in entries]
        ms = [int(i.split("-")[0]) for i in ids[:-1]]
        assert ids[-1] == f"{ms[-1]}-1" and entries[-1][1][b"eof"] == b"1"
        assert len(ms) == len(payloads), (len(ms), len(payloads))  # none lost, none twice
        assert ms == list(range(ms[0], ms[0] + 20 * len(payloads), 20))
        assert all(i.endswith("-0") for i in ids[:-1])
        # Both replicas wrote (each refused some of the other's frames), and only the anchor's
        # owner's timeline was used: the restarted replica found it in Redis.
        text = _metrics(procs[0])
        assert 'parley_ingest_frames_total{outcome="duplicate"}' in text
        assert r.get(keys.ingest_anchor("p1")) is None  # forgotten at producer.close
    finally:
        stack.stop()


def test_a_restarted_replica_waits_for_one_that_lags(r: redis.Redis, tmp_path: Path) -> None:
    """Replica 2 lags — its packets held from replica 1's death until 0.6 s after replica 1 is back,
    as a starved process reads them late — so the restarted replica 1's first frame is ahead of
    the stream's newest. Appended at once, it makes Redis refuse what replica 2 has still to append
    (ids only grow): seen in `make load-meeting` at load ~25, 400 ms of every speaker lost; here
    before the fix, the ~2 s replica 1 took to come back. Replica 1 waits for the stream to reach
    its first frame (PARLEY_INGEST_PEER_WAIT_MS), so every 20 ms frame is in the stream once."""
    stack, ports, procs = _two_replicas(tmp_path)
    try:
        payloads, legs = _one_producer_two_legs(r, stack, 8.0, 9_000_000)
        stream = keys.audio_stream("ingest-a", "ana")
        held: list[bytes] = []
        hold_until = -1
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            start = time.monotonic()
            for i in range(len(payloads)):
                if i == 50:  # 1 s: replica 1 dies and is started again
                    procs[0].proc.kill()
                    procs[0].proc.wait()
                    procs[0] = stack.start(
                        "ingest-1", "parley_ingest", {"PARLEY_INGEST_RTP_PORT": str(ports[0])}
                    )
                if hold_until < 0 and i > 50 and _udp_binds(ports[0]):
                    hold_until = i + 30  # replica 1 listens again; replica 2 catches up 0.6 s later
                sock.sendto(legs[0][i], ("127.0.0.1", ports[0]))
                if i >= 50 and (hold_until < 0 or i < hold_until):
                    held.append(legs[1][i])
                else:
                    for packet in held:
                        sock.sendto(packet, ("127.0.0.1", ports[1]))
                    held.clear()
                    sock.sendto(legs[1][i], ("127.0.0.1", ports[1]))
                time.sleep(max(0.0, start + 0.02 * (i + 1) - time.monotonic()))
        assert 0 < hold_until < len(payloads) - 50, "replica 1 did not come back in time"
        _close_and_wait_for_eof(r, stream)
        ms = [int(eid.decode().split("-")[0]) for eid, _ in r.xrange(stream)[:-1]]
        gaps = [(b - a - 20) for a, b in itertools.pairwise(ms) if b - a != 20]
        assert gaps == [], f"{sum(gaps)} ms lost"
        assert len(ms) == len(payloads)
    finally:
        stack.stop()


def test_a_replica_that_lost_packets_lets_its_peer_write_the_real_audio(
    r: redis.Redis, tmp_path: Path
) -> None:
    """Replica 1 loses 1 s of packets (a network loss between the SFU and it only); replica 2
    receives everything, 200 ms later (a slower path). When replica 1 sees the loss (its next
    packet, 1 s on) it has concealment and silence for that second; appended at once, Redis would
    keep them for the part replica 2 has not appended yet and refuse the real audio (ids only
    grow). Replica 1 lets its peer write those ids first (PARLEY_INGEST_FILL_WAIT_MS): the stream
    holds the real speech for the whole second, every frame once."""
    stack, ports, procs = _two_replicas(tmp_path)
    lost = range(100, 150)  # 2 s to 3 s, replica 1 only
    lag = 10  # replica 2 receives each packet 200 ms later
    try:
        payloads, legs = _one_producer_two_legs(r, stack, 5.0, 5_000_000)
        stream = keys.audio_stream("ingest-a", "ana")
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            start = time.monotonic()
            for i in range(len(payloads) + lag):
                if i < len(payloads) and i not in lost:
                    sock.sendto(legs[0][i], ("127.0.0.1", ports[0]))
                if i >= lag:
                    sock.sendto(legs[1][i - lag], ("127.0.0.1", ports[1]))
                time.sleep(max(0.0, start + 0.02 * (i + 1) - time.monotonic()))
        time.sleep(0.5)
        _close_and_wait_for_eof(r, stream)
        entries = r.xrange(stream)[:-1]
        ms = [int(eid.decode().split("-")[0]) for eid, _ in entries]
        assert ms == list(range(ms[0], ms[0] + 20 * len(payloads), 20)), "a gap, or a frame twice"
        # Frame k is packet k (the anchor is packet 0's timestamp). Replica 2 decoded every packet
        # in order, as this reference does; concealment beyond 120 ms is zeros, PLC is a guess.
        dec = OpusDecoder(16000)
        ref = [dec.decode(p) for p in payloads]
        bad = []
        for k in lost:
            got, want = pcm16([entries[k][1][b"pcm"]]), pcm16([ref[k]])
            err = float(np.sum((got - want) ** 2))
            if err > 0.01 * float(np.sum(want**2)) + 1e-6:
                bad.append(k)
        assert bad == [], f"{len(bad)} of the {len(lost)} lost frames are not the real audio: {bad}"
        text = _metrics(procs[0])
        refused = [ln for ln in text.splitlines() if ln.startswith("parley_ingest_made_up_frames_total{")]
        assert 'parley_ingest_made_up_frames_total{outcome="refused"} 5' in text, refused  # 50 or so
    finally:
        stack.stop()


def test_an_end_of_utterance_waits_for_the_frames_a_peer_is_still_appending(
    r: redis.Redis, tmp_path: Path
) -> None:
    """Replica 1 loses 200 ms of packets near the end (its own network path); its made-up frames
    wait for a peer's real copy, and its last 200 ms wait behind them. Replica 2 receives
    everything 200 ms late, so the close overtakes its last packets: it ends the utterance after
    the frame before replica 1's made-up ones. Written at once, that end would land before replica
    1's frames (a second, short utterance after it). It waits until the stream stands still
    (longer than a made-up frame waits for its copy): one end, after every frame."""
    stack, ports, procs = _two_replicas(tmp_path)
    lag = 10
    try:
        payloads, legs = _one_producer_two_legs(r, stack, 5.0, 3_000_000)
        n = len(payloads)
        lost = range(n - 2 * lag, n - lag)  # replica 1 only
        stream = keys.audio_stream("ingest-a", "ana")
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            start = time.monotonic()
            for i in range(n):
                if i not in lost:
                    sock.sendto(legs[0][i], ("127.0.0.1", ports[0]))
                if lag <= i < n - 2:  # replica 2's last packets: still on their way at the close
                    sock.sendto(legs[1][i - lag], ("127.0.0.1", ports[1]))
                time.sleep(max(0.0, start + 0.02 * (i + 1) - time.monotonic()))
        # Replica 1 has its last packet before the close (else the close drops it: no one has it)
        deadline = time.monotonic() + 5
        while _packets_accepted(procs[0]) < n - len(lost):
            assert time.monotonic() < deadline, "replica 1 did not receive its packets"
            time.sleep(0.002)
        _close_and_wait_for_eof(r, stream)
        time.sleep(1.5)  # whatever a replica still appends
        entries = r.xrange(stream)
        ends = [eid.decode() for eid, fields in entries if fields.get(b"eof")]
        ms = [int(eid.decode().split("-")[0]) for eid, fields in entries if not fields.get(b"eof")]
        assert ms == list(range(ms[0], ms[0] + 20 * n, 20)), "a gap, or a frame twice"
        assert ends == [f"{ms[-1]}-1"], f"ends at {ends}; the last frame is {ms[-1]}"
    finally:
        stack.stop()


def test_an_end_waiting_for_peers_holds_none_of_the_other_speakers_frames(r: redis.Redis) -> None:
    """The writer is one queue for every speaker of a replica: the end's wait for a still stream
    (200 ms at least) runs beside it, so another speaker's frame queued after the end reaches
    Redis first, and the end follows. Real Redis, the ingest's writer in this process."""
    room, pcm = "ingest-a", b"\0" * 640

    async def scenario() -> tuple[bool, bool]:
        ar = aioredis.from_url(redis_url())
        writer = RedisWriter(ar)
        task = asyncio.create_task(writer.run())
        try:
            for speaker in ("ana", "bo"):
                writer.put(Frame(room, speaker, AudioFrame(ts=1.0, pcm=pcm), "1000-0", time.monotonic()))
            writer.put(End(room, "ana", 1.02, "1000-1", peers=True))
            writer.put(Frame(room, "bo", AudioFrame(ts=1.02, pcm=pcm), "1020-0", time.monotonic()))
            deadline = time.monotonic() + 5
            while not await ar.xrange(keys.audio_stream(room, "bo"), min="1020-0"):
                assert time.monotonic() < deadline, "bo's frame never came"
                await asyncio.sleep(0.005)
            ended_first = bool(await ar.xrange(keys.audio_stream(room, "ana"), min="1000-1"))
            await writer.drain(5)
            ended = bool(await ar.xrange(keys.audio_stream(room, "ana"), min="1000-1"))
            return ended_first, ended
        finally:
            await cancel_all([task])
            await ar.aclose()

    ended_first, ended = asyncio.run(scenario())
    assert not ended_first, "bo's frame waited for ana's end"
    assert ended, "ana's utterance never ended"


def _redis_server(port: int, log: Path) -> subprocess.Popen[bytes]:
    """A redis-server of our own that keeps nothing: a restart loses every stream."""
    proc = subprocess.Popen(
        ["redis-server", "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no"],
        stdout=open(log, "ab"),
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 10
    while True:
        try:
            redis.Redis(port=port).ping()
            return proc
        except redis.ConnectionError:
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.05)


@pytest.mark.skipif(shutil.which("redis-server") is None, reason="redis-server is not installed")
def test_frames_a_restarted_redis_lost_are_appended_again(tmp_path: Path) -> None:
    """Redis loses its last writes (here: all of them, a restart without persistence; in a
    Sentinel failover: what had not reached the replica). The ingest appends the frames of its
    last 2 s again before going on, so the speech just before the loss is back, in order."""
    port = free_port()
    server = _redis_server(port, tmp_path / "redis.log")
    rtp_port = free_port()
    stack = LocalStack(f"redis://127.0.0.1:{port}/0", tmp_path / "logs")
    ingest = stack.start("ingest-1", "parley_ingest", {"PARLEY_INGEST_RTP_PORT": str(rtp_port)})
    try:
        stack.wait_healthy(60)
        r = redis.Redis(port=port)
        r.xadd("sfu:events", {**OPEN, "ssrc": "4242"})
        packets = rtp_stream(opus_packets(read_pcm48k(CLIP, 4.0)), 4242)
        stream = keys.audio_stream("ingest-a", "ana")
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            start = time.monotonic()
            for i, p in enumerate(packets):
                if i == 100:  # 2 s in: Redis restarts empty
                    before = [eid for eid, _ in r.xrange(stream)]
                    server.terminate()
                    server.wait(10)
                    server = _redis_server(port, tmp_path / "redis.log")
                    assert r.xlen(stream) == 0
                sock.sendto(p, ("127.0.0.1", rtp_port))
                time.sleep(max(0.0, start + 0.02 * (i + 1) - time.monotonic()))
        time.sleep(1.0)
        after = [eid for eid, _ in r.xrange(stream)]
        ms = [int(e.split(b"-")[0]) for e in after]
        assert ms == list(range(ms[0], ms[-1] + 20, 20)), "in order, no gap, nothing twice"
        assert len(before) >= 90 and before[-1] in after  # the frames just before the loss are back
        assert ms[-1] - ms[0] >= 3500  # ~1.9 s replayed (replay_s 2.0) + the 2 s after
        text = _metrics(ingest)
        restored = [
            ln for ln in text.splitlines() if ln.startswith('parley_ingest_frames_total{outcome="restored"}')
        ]
        assert restored and float(restored[0].split()[-1]) >= 50, restored
    finally:
        stack.stop()
        server.terminate()
        server.wait(10)

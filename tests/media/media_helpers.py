"""The media tests' world: a loopback-only network namespace holding Redis, the STT/translate/ingest/
gateway processes, the SFU (real mediasoup worker) and the WebRTC bots (../shared/ENVIRONMENT.md,
last section)."""

from __future__ import annotations

import asyncio
import ctypes
import os
import shutil
import signal
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from parley_testkit.caption_client import CaptionClient
from parley_testkit.netns import netns_skip_reason
from parley_testkit.procs import LocalStack, free_port, stop_process

ROOT = Path(__file__).resolve().parents[2]
SFU_DIR = ROOT / "mediasoup-node"
ARTIFACTS = ROOT / "artifacts" / "logs" / "media"
CLONE_NEWNET = 0x40000000
REDIS_DB = 9  # no other test uses it


def skip_reason() -> str | None:
    if reason := netns_skip_reason():
        return reason
    if not shutil.which("redis-server"):
        return "redis-server is not installed"
    if not (SFU_DIR / "dist" / "src" / "main.js").exists():
        return "the SFU is not built: run `make mediasoup-build` first"
    return None


def _setns(path: str) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open(path, os.O_RDONLY)
    try:
        if libc.setns(fd, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), f"setns({path})")
    finally:
        os.close(fd)


@contextmanager
def loopback_netns() -> Iterator[str]:
    """Move this (test) thread, and every process and thread it starts, into a new namespace with only `lo`."""
    name = f"parley-media-{os.getpid()}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    original = f"/proc/{os.getpid()}/task/{os.getpid()}/ns/net"
    keep = os.open(original, os.O_RDONLY)
    try:
        subprocess.run(["ip", "-n", name, "link", "set", "lo", "up"], check=True)
        _setns(f"/var/run/netns/{name}")
        yield name
    finally:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.setns(keep, CLONE_NEWNET)
        os.close(keep)
        subprocess.run(["ip", "netns", "del", name], check=False)


@dataclass
class SfuProcess:
    """The SFU (node + its mediasoup worker) as a child process; restartable on the same port."""

    env: dict[str, str]
    proc: subprocess.Popen[bytes] | None = None
    log_path: Path = ARTIFACTS / "sfu.log"

    def start(self) -> subprocess.Popen[bytes]:
        self.proc = subprocess.Popen(
            ["scripts/with-env.sh", "node", "dist/src/main.js"],
            cwd=SFU_DIR,
            env=self.env,
            stdout=open(self.log_path, "ab"),
            stderr=subprocess.STDOUT,
        )
        return self.proc

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc is not None:
            stop_process(self.proc, sig)


@dataclass
class MediaWorld:
    stack: LocalStack
    redis_url: str
    sfu_url: str
    rtp_ports: list[int]  # one per RTP ingest replica (ingest-1, ingest-2, ...); the SFU sends to all
    secret: str
    sfu: SfuProcess | None = None

    @property
    def rtp_port(self) -> int:
        return self.rtp_ports[0]

    def restart_ingest(self, n: int) -> None:
        """Starts ingest-n again on its port (after it was killed)."""
        self.stack.start(
            f"ingest-{n}", "parley_ingest", {"PARLEY_INGEST_RTP_PORT": str(self.rtp_ports[n - 1])}
        )

    def stop_sfu(self, sig: int = signal.SIGKILL) -> None:
        """Stops the SFU (SIGKILL by default: a crash, no goodbye to the clients)."""
        assert self.sfu is not None
        self.sfu.stop(sig)

    def start_sfu(self) -> None:
        """Starts the SFU again on the same port."""
        assert self.sfu is not None
        proc = self.sfu.start()
        _wait_http(self.sfu_url.replace("ws://", "http://").replace("/ws", "/healthz"), proc, 60)

    def token(self, room: str, sub: str, name: str, role: str = "guest") -> str:
        from parley_common.tokens import issue_join_token

        return issue_join_token(self.secret, room, sub, name, role, 600)

    def metrics(self, service: str = "ingest-1") -> str:
        url = f"http://127.0.0.1:{self.stack.procs[service].health_port}/metrics"
        with urllib.request.urlopen(url, timeout=5) as resp:
            return str(resp.read().decode())

    def metric(self, name: str, service: str = "ingest-1", **labels: str) -> float:
        want = ",".join(f'{k}="{v}"' for k, v in labels.items())
        total = 0.0
        for line in self.metrics(service).splitlines():
            if line.startswith(name) and (not want or f"{{{want}}}" in line or want in line):
                head = line.split(" ")[0]
                if head.split("{")[0] == name:
                    total += float(line.rsplit(" ", 1)[1])
        return total


@contextmanager
def media_world(
    extra_env: dict[str, str] | None = None, ingest_replicas: int = 2, sfu_env: dict[str, str] | None = None
) -> Iterator[MediaWorld]:
    """`extra_env`: the Python services' environment; `sfu_env`: the SFU's, over these defaults."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with loopback_netns():
        redis_port = free_port()
        redis_proc = subprocess.Popen(
            [
                "redis-server",
                "--bind",
                "127.0.0.1",
                "--port",
                str(redis_port),
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=open(ARTIFACTS / "redis.log", "wb"),
            stderr=subprocess.STDOUT,
        )
        redis_url = f"redis://127.0.0.1:{redis_port}/{REDIS_DB}"
        rtp_ports = [free_port() for _ in range(ingest_replicas)]
        ws_port = free_port()
        stack = LocalStack(
            redis_url,
            ARTIFACTS,
            env={
                "PARLEY_STT_PARTIAL_MAX_AGE_S": "2.0",
                "PARLEY_DATABASE_URL": "postgresql+asyncpg://postgres@127.0.0.1:1/none",
                "PARLEY_GATEWAY_SFU_URL": f"ws://127.0.0.1:{ws_port}/ws",
                **(extra_env or {}),
            },
        )
        env = {
            **os.environ,
            "SFU_WS_PORT": str(ws_port),
            "SFU_WS_HOST": "127.0.0.1",
            "INGEST_RTP_TARGETS": ",".join(f"127.0.0.1:{p}" for p in rtp_ports),
            "JOIN_TOKEN_SECRET": stack.join_token_secret,
            "REDIS_URL": redis_url,
            "SFU_NUM_WORKERS": "1",
            "SFU_LISTEN_IP": "127.0.0.1",
            "SFU_RTC_MIN_PORT": "43000",
            "SFU_RTC_MAX_PORT": "43999",
            "SFU_WEBRTC_PORT": "0",  # WebRTC through a free port of that range
            "SFU_LOG_LEVEL": "warn",
            **(sfu_env or {}),
        }
        (ARTIFACTS / "sfu.log").write_bytes(b"")
        sfu = SfuProcess(env)
        sfu.start()
        try:
            _wait_redis(redis_port)
            for i, port in enumerate(rtp_ports):
                stack.start(f"ingest-{i + 1}", "parley_ingest", {"PARLEY_INGEST_RTP_PORT": str(port)})
            stack.start_default()
            assert sfu.proc is not None
            _wait_http(f"http://127.0.0.1:{ws_port}/healthz", sfu.proc, 60)
            yield MediaWorld(
                stack, redis_url, f"ws://127.0.0.1:{ws_port}/ws", rtp_ports, stack.join_token_secret, sfu
            )
        finally:
            stack.stop()
            sfu.stop()
            redis_proc.terminate()
            try:
                redis_proc.wait(10)
            except subprocess.TimeoutExpired:
                redis_proc.kill()


def _wait_redis(port: int) -> None:
    import redis

    deadline = time.monotonic() + 10
    while True:
        try:
            redis.Redis(port=port).ping()
            return
        except redis.ConnectionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def _wait_http(url: str, proc: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{url} did not come up; see {ARTIFACTS}/sfu.log") from None
            time.sleep(0.2)


def CaptionListener(world: MediaWorld, room: str) -> CaptionClient:
    """Records caption events from the gateway's caption WebSocket (source language)."""
    return CaptionClient(world.stack.caption_url(room, "source"))


async def consume_first_producer(world: MediaWorld, room: str, seconds: float) -> float:
    """A second participant (listener role) consumes the first audio producer it is told of;
    returns the seconds of non-silent audio it received."""
    import av
    import numpy as np
    from parley_bot.client import Signalling, join, transport
    from pymediasoup.rtp_parameters import RtpParameters

    sig = await Signalling.connect(world.sfu_url)
    try:
        joined, device = await join(sig, room, world.token(room, "watcher", "Watcher", "listener"))
        producers = [p for p in joined["producers"] if p["kind"] == "audio"]
        while not producers:
            ev = await asyncio.wait_for(sig.events.get(), 30)
            if ev["event"] == "newProducer" and ev["data"]["kind"] == "audio":
                producers.append(ev["data"])
        recv = await transport(sig, device, "recv")
        c = await sig.request("consume", {"transportId": recv.id, "producerId": producers[0]["producerId"]})
        consumer = await recv.consume(
            id=c["consumerId"],
            producerId=c["producerId"],
            kind=c["kind"],
            rtpParameters=RtpParameters(**c["rtpParameters"]),
        )
        await sig.request("resumeConsumer", {"consumerId": c["consumerId"]})
        to_mono = av.AudioResampler(format="s16", layout="mono", rate=48000)
        voiced = 0.0
        loop = asyncio.get_running_loop()
        end = loop.time() + seconds
        while loop.time() < end:
            try:
                frame = await asyncio.wait_for(consumer.track.recv(), 0.5)
            except TimeoutError:
                continue
            except Exception:  # the producer closed: the track ends
                break
            for mono in to_mono.resample(frame):
                a = np.frombuffer(bytes(mono.planes[0])[: mono.samples * 2], dtype="<i2").astype(np.float64)
                if a.size and np.sqrt(np.mean(a * a)) > 300:
                    voiced += mono.samples / 48000
        return voiced
    finally:
        await sig.close()

"""Start Parley services as local processes (tests, benchmark): the same entry points a deploy runs."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

# Settings prefix of each service module that serves /healthz on PREFIX_METRICS_PORT (the gateway
# serves it on its own HTTP port).
SERVICE_PREFIX = {
    "parley_stt": "PARLEY_STT_",
    "parley_translate": "PARLEY_TRANSLATE_",
    "parley_ingest": "PARLEY_INGEST_",
    "parley_gateway.persister": "PARLEY_PERSISTER_",
}


def stop_process(proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM, grace_s: float = 10.0) -> None:
    """Send sig to a running child and reap it; SIGKILL if it is still there after grace_s."""
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(grace_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class ServiceProc:
    name: str
    proc: subprocess.Popen[bytes]
    health_port: int
    log_path: Path

    def healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.health_port}/healthz", timeout=1) as resp:
                return bool(resp.status == 200)
        except OSError:
            return False

    def cpu_seconds(self) -> float:
        """User + system CPU time of the process (Linux /proc)."""
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def peak_rss_mb(self) -> float:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        return 0.0

    def kill(self, sig: int = signal.SIGTERM) -> None:
        stop_process(self.proc, sig)


@dataclass
class LocalStack:
    """STT, translation, RTP ingest and gateway processes (and the persister, when asked) against one Redis."""

    redis_url: str
    log_dir: Path
    env: dict[str, str] = field(default_factory=dict)
    procs: dict[str, ServiceProc] = field(default_factory=dict)
    extra: dict[str, dict[str, str]] = field(default_factory=dict)  # each service's own variables
    gateway_port: int = 0
    join_token_secret: str = "local-stack-join-token-secret-0123456789"

    def start(
        self, name: str, module: str, extra_env: dict[str, str] | None = None, port: int = 0
    ) -> ServiceProc:
        """Start `module` as `name`; `port` (0: a free one) is its health port, for the gateway
        also its listening port (a restart keeps it, so clients reconnect to the same URL).
        `extra_env` is remembered: starting `name` again without it reuses it (an ingest's RTP port)."""
        port = port or free_port()
        extra_env = self.extra.get(name, {}) if extra_env is None else extra_env
        self.extra[name] = extra_env
        env = {
            **os.environ,
            "PARLEY_REDIS_URL": self.redis_url,
            "HF_HUB_OFFLINE": "1",
            "PARLEY_JOIN_TOKEN_SECRET": self.join_token_secret,
            **self.env,
            **(extra_env or {}),
        }
        if module == "parley_ingest":  # a free RTP port unless one is given: several stacks side by side
            env.setdefault("PARLEY_INGEST_RTP_PORT", "0")
        prefix = SERVICE_PREFIX.get(module)
        if prefix:
            env[prefix + "METRICS_PORT"] = str(port)
            env.setdefault(prefix + "INSTANCE", name)
        else:  # the gateway serves /healthz itself
            self.gateway_port = port
            env["PARLEY_GATEWAY_PORT"] = str(port)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log_path = self.log_dir / f"{name}.log"
        proc = subprocess.Popen(
            [sys.executable, "-m", module], env=env, stdout=open(log_path, "ab"), stderr=subprocess.STDOUT
        )
        sp = ServiceProc(name, proc, port, log_path)
        self.procs[name] = sp
        return sp

    def wait_healthy(self, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        for sp in self.procs.values():
            while not sp.healthy():
                if sp.proc.poll() is not None:
                    raise RuntimeError(f"{sp.name} exited: {sp.log_path.read_text()[-2000:]}")
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{sp.name} not healthy after {timeout} s")
                time.sleep(0.1)

    def start_default(self, ingest: int = 0) -> None:
        """STT, translate and gateway; and `ingest` RTP ingest replicas `ingest-N` (for audio
        through the SFU; the feeder writes Redis itself)."""
        for i in range(ingest):
            self.start(f"ingest-{i + 1}", "parley_ingest")
        self.start("stt-1", "parley_stt")
        self.start("translate-1", "parley_translate")
        self.start("gateway", "parley_gateway")
        self.wait_healthy()

    @property
    def ws_base(self) -> str:
        return f"ws://127.0.0.1:{self.gateway_port}"

    def caption_url(self, room: str, lang: str, since: str = "", who: str = "listener") -> str:
        """The caption WebSocket URL for a listener of `room`, with a join token."""
        from parley_common.tokens import issue_join_token

        token = issue_join_token(self.join_token_secret, room, who, who, "listener", 3600)
        url = f"{self.ws_base}/ws/rooms/{room}/captions?lang={lang}&token={token}"
        return url + (f"&since={since}" if since else "")

    def stop(self) -> None:
        for sp in self.procs.values():
            sp.kill()
        self.procs.clear()

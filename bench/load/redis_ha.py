"""Redis as the stack runs it, on 127.0.0.1: a master, a replica and three sentinels (quorum 2), the
sentinels started by the stack's own script (stack/config/sentinel.sh). Clients reach it through
`url` (sentinel://), as every service does in the stack (parley_common.redisconn). A data node
started again comes back in the role the sentinels give it now (stack/config/redis-role.sh, as the
stack's nodes do), unless `rejoin_by_role` is off: then it comes back as its command says (a master
stays one until the sentinels demote it, ~10 s: the worst case, for the ingest's replay)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import redis
from parley_testkit.procs import free_port, stop_process
from parley_testkit.stack_redis import (
    MASTER_NAME,
    SENTINEL_ARGV,
    masters_named,
    sentinel_env,
    sentinel_hosts,
    sentinels_know_all,
)

from .stack import RedisServer


@dataclass
class RedisHA:
    down_after_ms: int = 1000
    rejoin_by_role: bool = True
    dir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="parley-redis-ha-")))
    servers: list[RedisServer] = field(default_factory=list)  # servers[0] starts as the master
    sentinels: dict[int, subprocess.Popen[bytes]] = field(default_factory=dict)  # port -> process

    @property
    def url(self) -> str:
        hosts = sentinel_hosts(self.sentinels)
        return f"sentinel://{hosts}/{MASTER_NAME}/0"

    def start(self) -> None:
        first = free_port()
        self.servers = [
            RedisServer(first, dir=self.dir / "redis-a"),
            RedisServer(free_port(), dir=self.dir / "redis-b", replica_of=first),
        ]
        for s in self.servers:
            s.dir.mkdir(parents=True, exist_ok=True)
            s.start()
        for _ in range(3):
            port = free_port()
            data = self.dir / f"sentinel-{port}"
            data.mkdir()
            env = sentinel_env(
                data, port, ("127.0.0.1", first), down_after_ms=self.down_after_ms, failover_timeout_ms=5000
            )
            self.sentinels[port] = subprocess.Popen(
                SENTINEL_ARGV,
                env={**os.environ, **env},
                stdout=open(data / "log", "ab"),
                stderr=subprocess.STDOUT,
            )
        if self.rejoin_by_role:
            for s in self.servers:
                s.sentinels = sentinel_hosts(self.sentinels)
        self.wait_ready()

    def master_port(self) -> int:
        """The master's port as the first sentinel that answers names it."""
        named = masters_named(self.sentinels)
        if not named:
            raise RuntimeError("no sentinel answers")
        return named[0][1]

    def master(self) -> RedisServer:
        port = self.master_port()
        return next(s for s in self.servers if s.port == port)

    @property
    def proc(self) -> subprocess.Popen[bytes] | None:
        """The master's process (for CPU and memory sampling)."""
        try:
            return self.master().proc
        except (RuntimeError, StopIteration):
            return None

    def wait_ready(self, timeout: float = 60.0) -> None:
        """Every replica has synced (the first sync waits `repl-diskless-sync-delay`, 5 s) and every
        sentinel knows the replicas and the two other sentinels."""
        deadline = time.monotonic() + timeout
        while not self._ready():
            if time.monotonic() > deadline:
                raise RuntimeError(f"Redis HA not ready; see {self.dir}")
            time.sleep(0.2)

    def _ready(self) -> bool:
        try:
            master = self.master_port()
            for s in self.servers:
                if s.port != master:
                    link = redis.Redis(port=s.port).info("replication").get("master_link_status")
                    if link != "up":
                        return False
            return sentinels_know_all(self.sentinels, len(self.servers) - 1)
        except (redis.RedisError, RuntimeError, OSError):
            return False

    def kill_master(self) -> RedisServer:
        """SIGKILL the master (no shutdown, nothing flushed); returns it (to start it again)."""
        m = self.master()
        assert m.proc is not None
        stop_process(m.proc, signal.SIGKILL)
        return m

    def restart(self, delay_s: float = 0.0) -> None:
        """Restart the master cleanly (SIGTERM: it hands over nothing; the sentinels may fail over),
        started again after `delay_s`."""
        self.master().restart(delay_s)

    def used_memory_mb(self) -> float:
        try:
            return self.master().used_memory_mb()
        except (RuntimeError, StopIteration):
            return float("nan")

    def cleanup(self) -> None:
        for p in self.sentinels.values():
            stop_process(p, grace_s=5)
        for s in self.servers:
            s.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

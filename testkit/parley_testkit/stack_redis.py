"""The stack's Redis scripts (stack/config) run outside Swarm, for the HA tests and the load bench:
the environment and command line of sentinel.sh and redis-node.sh, the ACL users' secret files,
and what the sentinels say. One copy, so a test proves what the stack runs."""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import redis

from parley_testkit.procs import free_port, stop_process

CONFIG = Path(__file__).resolve().parents[2] / "stack" / "config"
SENTINEL_ARGV = ["sh", str(CONFIG / "sentinel.sh")]
MASTER_NAME = "parley"
USERS = ("gateway", "replica", "sentinel")  # redis-users.acl's service users with a secret


def sentinel_hosts(ports: Iterable[int]) -> str:
    """host:port,... of sentinels on 127.0.0.1, as REDIS_SENTINELS and sentinel:// URLs list them."""
    return ",".join(f"127.0.0.1:{p}" for p in ports)


def write_secrets(dir: Path) -> dict[str, str]:
    """A fresh password per user, in `dir`/secrets/parley_redis_<user> as the stack mounts them."""
    (dir / "secrets").mkdir()
    passwords = {u: secrets.token_hex(16) for u in USERS}
    for user, pw in passwords.items():
        (dir / "secrets" / f"parley_redis_{user}").write_text(pw + "\n")
    return passwords


def sentinel_env(
    data: Path,
    port: int,
    master: tuple[str, int],
    *,
    down_after_ms: int | str,
    failover_timeout_ms: int | str,
    secrets_dir: Path | None = None,
) -> dict[str, str]:
    """sentinel.sh's settings for one sentinel on 127.0.0.1 watching `master` (host, port);
    logging in to the data nodes as `sentinel` when they run under the ACL (`secrets_dir`)."""
    env = {
        "SENTINEL_DIR": str(data),
        "SENTINEL_PORT": str(port),
        "SENTINEL_BIND": "127.0.0.1",
        "SENTINEL_MASTER_NAME": MASTER_NAME,
        "SENTINEL_MASTER_HOST": master[0],
        "SENTINEL_MASTER_PORT": str(master[1]),
        "SENTINEL_QUORUM": "2",
        "SENTINEL_DOWN_AFTER_MS": str(down_after_ms),
        "SENTINEL_FAILOVER_TIMEOUT_MS": str(failover_timeout_ms),
    }
    if secrets_dir is not None:
        env["SENTINEL_AUTH_USER"] = "sentinel"
        env["SENTINEL_AUTH_PASS_FILE"] = str(secrets_dir / "parley_redis_sentinel")
    return env


def node_command(
    bind: str, port: int, data: Path, announce: str, replica_of: tuple[str, int] | None, *extra: str
) -> list[str]:
    """redis-node.sh running a data node as the stack's does: AOF, announcing `announce` (its
    address or service name) to the sentinels, a replica of `replica_of` if its command says so."""
    argv = ["sh", str(CONFIG / "redis-node.sh"), "redis-server", "--bind", bind, "--port", str(port)]
    argv += ["--dir", str(data), "--appendonly", "yes", "--save", "", *extra]
    argv += ["--replica-announce-ip", announce, "--repl-diskless-sync-delay", "0"]
    if replica_of is not None:
        argv += ["--replicaof", replica_of[0], str(replica_of[1])]
    return argv


def node_env(data: Path, secrets_dir: Path, sentinels: Iterable[int]) -> dict[str, str]:
    """redis-node.sh's settings: the ACL from the stack's template, and the sentinels it asks for
    its role at start (redis-role.sh)."""
    return {
        "REDIS_ACL_TEMPLATE": str(CONFIG / "redis-users.acl"),
        "REDIS_ACL_SCRIPT": str(CONFIG / "redis-acl.sh"),
        "REDIS_ROLE_SCRIPT": str(CONFIG / "redis-role.sh"),
        "REDIS_SECRETS_DIR": str(secrets_dir),
        "REDIS_RUN_DIR": str(data),
        "REDIS_SENTINELS": sentinel_hosts(sentinels),
    }


def masters_named(sentinel_ports: Iterable[int]) -> list[tuple[str, int]]:
    """The master's (host, port) as each sentinel that answers names it."""
    named = []
    for p in sentinel_ports:
        try:
            addr = redis.Redis(port=p, socket_timeout=0.5).sentinel_get_master_addr_by_name(MASTER_NAME)
            host = addr[0].decode() if isinstance(addr[0], bytes) else str(addr[0])
            named.append((host, int(addr[1])))
        except (redis.RedisError, TypeError, IndexError):
            continue
    return named


def sentinels_know_all(sentinel_ports: Iterable[int], replicas: int) -> bool:
    """Every sentinel knows `replicas` replicas and the other sentinels (a failover needs both)."""
    ports = list(sentinel_ports)
    for p in ports:
        m = redis.Redis(port=p, socket_timeout=0.5).sentinel_master(MASTER_NAME)
        if int(m["num-slaves"]) < replicas or int(m["num-other-sentinels"]) < len(ports) - 1:
            return False
    return True


def wait_until(what: str, ok: Callable[[], object], timeout: float, where: Path) -> float:
    """Seconds until `ok()` is true (a Redis or socket error counts as not yet)."""
    t = time.monotonic()
    while True:
        try:
            if ok():
                return time.monotonic() - t
        except (redis.RedisError, OSError):
            pass
        assert time.monotonic() - t < timeout, f"timed out: {what}; see {where}"
        time.sleep(0.1)


@dataclass
class StackRedis:
    """Three sentinels and the data nodes a test starts, as processes under `dir` (logs there)."""

    dir: Path
    sentinel_ports: list[int] = field(default_factory=lambda: [free_port() for _ in range(3)])
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    passwords: dict[str, str] = field(init=False)

    def __post_init__(self) -> None:
        self.passwords = write_secrets(self.dir)

    def spawn(self, name: str, argv: list[str], env: dict[str, str]) -> None:
        log = open(self.dir / f"{name}.log", "ab")
        self.procs[name] = subprocess.Popen(
            argv, env={**os.environ, **env}, stdout=log, stderr=subprocess.STDOUT
        )

    def start_sentinels(
        self, master: tuple[str, int], down_after_ms: int | str, failover_timeout_ms: int | str
    ) -> None:
        for port in self.sentinel_ports:
            data = self.dir / f"sentinel-{port}"
            data.mkdir()
            env = sentinel_env(
                data,
                port,
                master,
                down_after_ms=down_after_ms,
                failover_timeout_ms=failover_timeout_ms,
                secrets_dir=self.dir / "secrets",
            )
            self.spawn(f"sentinel-{port}", SENTINEL_ARGV, env)

    def run_node(self, name: str, argv: list[str], ping: Callable[[], object]) -> None:
        """Data node `name` (its data in `dir`/name), up once `ping()` answers."""
        data = self.dir / name
        data.mkdir(exist_ok=True)
        self.spawn(name, argv, node_env(data, self.dir / "secrets", self.sentinel_ports))
        self.wait(f"{name} answers", ping, timeout=20)

    def wait(self, what: str, ok: Callable[[], object], timeout: float = 60.0) -> float:
        return wait_until(what, ok, timeout, self.dir)

    def kill(self, name: str) -> None:
        stop_process(self.procs.pop(name), signal.SIGKILL)

    def stop(self) -> None:
        for p in self.procs.values():
            stop_process(p, grace_s=5)

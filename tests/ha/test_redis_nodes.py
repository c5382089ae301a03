"""The stack's own Redis scripts on 127.0.0.1, under the stack's ACL: two data nodes started by
stack/config/redis-node.sh (users from redis-users.acl, the replica logging in as `replica`), three
sentinels by stack/config/sentinel.sh (logging in as `sentinel`), a service user writing through the
sentinel URL. What Swarm does to them: the master SIGKILLed and started again 5 s later with its
original command, then the promoted node SIGKILLed and started again at once.

- Under the ACL the sentinels fail over (their MULTI/SLAVEOF/CONFIG REWRITE/CLIENT KILL is
  allowed) and a replica syncs (the `replica` user may PSYNC).
- A node comes back in the role the sentinels give it now (stack/config/redis-role.sh), not the
  one its command names: the old master as the new master's replica from its first reply (before:
  a second master with stale data until the sentinels demoted it), and a promoted node restarted
  before they noticed as the master (before: a replica of its own replica, no master at all)."""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import redis
from parley_common.redisconn import connect_sync
from parley_testkit.procs import free_port, stop_process

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "stack" / "config"
USERS = ("gateway", "replica", "sentinel")
DOWN_AFTER_MS = 3000  # the stack's 2000, plus room for a restart "at once" on a busy machine

pytestmark = pytest.mark.skipif(shutil.which("redis-server") is None, reason="redis-server is not installed")


@dataclass
class Nodes:
    dir: Path
    passwords: dict[str, str] = field(default_factory=lambda: {u: secrets.token_hex(16) for u in USERS})
    ports: dict[str, int] = field(default_factory=dict)  # node name -> port
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    sentinel_ports: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        (self.dir / "secrets").mkdir()
        for user, pw in self.passwords.items():
            (self.dir / "secrets" / f"parley_redis_{user}").write_text(pw + "\n")
        self.ports = {"a": free_port(), "b": free_port()}
        self.sentinel_ports = [free_port() for _ in range(3)]

    @property
    def sentinels(self) -> str:
        return ",".join(f"127.0.0.1:{p}" for p in self.sentinel_ports)

    def url(self, user: str) -> str:
        return f"sentinel://{user}:{self.passwords[user]}@{self.sentinels}/parley/0"

    def start_sentinels(self) -> None:
        for port in self.sentinel_ports:
            data = self.dir / f"sentinel-{port}"
            data.mkdir()
            env = {
                **os.environ,
                "SENTINEL_DIR": str(data),
                "SENTINEL_PORT": str(port),
                "SENTINEL_BIND": "127.0.0.1",
                "SENTINEL_MASTER_HOST": "127.0.0.1",
                "SENTINEL_MASTER_PORT": str(self.ports["a"]),
                "SENTINEL_DOWN_AFTER_MS": str(DOWN_AFTER_MS),
                "SENTINEL_FAILOVER_TIMEOUT_MS": "10000",
                "SENTINEL_AUTH_USER": "sentinel",
                "SENTINEL_AUTH_PASS_FILE": str(self.dir / "secrets" / "parley_redis_sentinel"),
            }
            self.procs[f"sentinel-{port}"] = subprocess.Popen(
                ["sh", str(CONFIG / "sentinel.sh")],
                env=env,
                stdout=open(data / "log", "ab"),
                stderr=subprocess.STDOUT,
            )

    def start_node(self, name: str) -> None:
        """Node `name` with its stack command: `a` the first master, `b` its replica."""
        port = self.ports[name]
        data = self.dir / name
        data.mkdir(exist_ok=True)
        argv = [
            "sh",
            str(CONFIG / "redis-node.sh"),
            "redis-server",
            "--bind",
            "127.0.0.1",
            "--port",
            str(port),
        ]
        argv += ["--dir", str(data), "--appendonly", "yes", "--appendfsync", "everysec", "--save", ""]
        argv += ["--replica-announce-ip", "127.0.0.1", "--repl-diskless-sync-delay", "0"]
        if name == "b":
            argv += ["--replicaof", "127.0.0.1", str(self.ports["a"])]
        env = {
            **os.environ,
            "REDIS_ACL_TEMPLATE": str(CONFIG / "redis-users.acl"),
            "REDIS_ACL_SCRIPT": str(CONFIG / "redis-acl.sh"),
            "REDIS_ROLE_SCRIPT": str(CONFIG / "redis-role.sh"),
            "REDIS_SECRETS_DIR": str(self.dir / "secrets"),
            "REDIS_RUN_DIR": str(data),
            "REDIS_SENTINELS": self.sentinels,
        }
        self.procs[name] = subprocess.Popen(
            argv, env=env, stdout=open(data / "log", "ab"), stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + 20
        while True:
            try:
                redis.Redis(port=port, socket_timeout=1).ping()
                return
            except redis.ConnectionError:
                assert self.procs[name].poll() is None, (data / "log").read_text()[-2000:]
                assert time.monotonic() < deadline, f"node {name} did not start"
                time.sleep(0.02)

    def admin(self, name: str) -> redis.Redis:
        """The node as the sentinels' user (ROLE and INFO are theirs)."""
        return redis.Redis(
            port=self.ports[name], username="sentinel", password=self.passwords["sentinel"], socket_timeout=1
        )

    def role(self, name: str) -> str:
        return str(self.admin(name).role()[0].decode())

    def master_named(self) -> set[int]:
        """The master's port as each answering sentinel names it."""
        named = set()
        for p in self.sentinel_ports:
            try:
                addr = redis.Redis(port=p, socket_timeout=0.5).sentinel_get_master_addr_by_name("parley")
                named.add(int(addr[1]))
            except (redis.RedisError, TypeError):
                continue
        return named

    def wait(self, what: str, ok: object, timeout: float = 60.0) -> float:
        t = time.monotonic()
        while not _try(ok):
            assert time.monotonic() - t < timeout, f"timed out: {what}; see {self.dir}"
            time.sleep(0.1)
        return time.monotonic() - t

    def synced(self, replica: str) -> bool:
        return bool(self.admin(replica).info("replication").get("master_link_status") == "up")

    def sentinels_know_all(self) -> bool:
        for p in self.sentinel_ports:
            m = redis.Redis(port=p, socket_timeout=0.5).sentinel_master("parley")
            if int(m["num-slaves"]) < 1 or int(m["num-other-sentinels"]) < 2:
                return False
        return True

    def kill(self, name: str) -> None:
        stop_process(self.procs.pop(name), signal.SIGKILL)

    def stop(self) -> None:
        for p in self.procs.values():
            stop_process(p, grace_s=5)


def _try(ok: object) -> bool:
    try:
        return bool(ok() if callable(ok) else ok)
    except (redis.RedisError, OSError):
        return False


@pytest.fixture
def nodes(tmp_path: Path) -> Iterator[Nodes]:
    n = Nodes(tmp_path)
    try:
        n.start_sentinels()
        n.start_node("a")
        n.start_node("b")
        yield n
    finally:
        n.stop()


def test_stack_redis_nodes_fail_over_and_rejoin_in_their_current_role(nodes: Nodes) -> None:
    a, b = nodes.ports["a"], nodes.ports["b"]
    nodes.wait("the replica synced as `replica`", lambda: nodes.synced("b"))
    nodes.wait("the sentinels found each other and the replica", nodes.sentinels_know_all)
    gw = connect_sync(nodes.url("gateway"), socket_timeout=1)
    for i in range(50):
        gw.xadd("room:ha:log", {"i": str(i)})
    assert gw.wait(1, 2000) == 1
    with pytest.raises(redis.exceptions.NoPermissionError):
        gw.set("audio:ha:x", "1")  # the gateway user is still limited to its keys

    # The master dies; the sentinels (as `sentinel`, under the ACL) promote the replica.
    nodes.kill("a")
    failover_s = nodes.wait("failover to b", lambda: nodes.master_named() == {b})
    print(f"b named master {failover_s:.2f} s after a was killed")
    assert nodes.role("b") == "master"
    nodes.wait("writes through the sentinels", lambda: gw.xadd("room:ha:log", {"i": "50"}))

    # Swarm starts `a` again 5 s later with its command (a master's): it asks the sentinels and
    # comes back as b's replica at once, and syncs as `replica`.
    time.sleep(max(0.0, 5.0 - failover_s))
    nodes.start_node("a")
    assert nodes.role("a") == "slave", "the old master came back as a second master"
    assert nodes.admin("a").info("replication")["master_port"] == b
    nodes.wait("a synced from b", lambda: nodes.synced("a"), timeout=30)
    nodes.wait("the sentinels know a as b's replica", nodes.sentinels_know_all)
    as_gateway = redis.Redis(port=a, username="gateway", password=nodes.passwords["gateway"])
    assert as_gateway.xlen("room:ha:log") == 51  # a replica serves reads

    # b (the master now) dies and is started again at once, before the sentinels call it down: its
    # command says "replica of a", but the sentinels still name it, so it comes back the master.
    assert gw.wait(1, 2000) == 1
    nodes.kill("b")
    nodes.start_node("b")
    assert nodes.role("b") == "master", "the restarted master followed its own replica"
    nodes.wait("a synced from b again", lambda: nodes.synced("a"), timeout=30)
    assert nodes.master_named() == {b}  # no failover was needed
    gw.xadd("room:ha:log", {"i": "51"})
    assert gw.xlen("room:ha:log") == 52
    gw.close()

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

import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import redis
from parley_common.redisconn import connect_sync
from parley_testkit.procs import free_port
from parley_testkit.stack_redis import (
    StackRedis,
    masters_named,
    node_command,
    sentinel_hosts,
    sentinels_know_all,
)

DOWN_AFTER_MS = 3000  # the stack's 2000, plus room for a restart "at once" on a busy machine

pytestmark = pytest.mark.skipif(shutil.which("redis-server") is None, reason="redis-server is not installed")


@dataclass
class Nodes(StackRedis):
    ports: dict[str, int] = field(default_factory=lambda: {"a": free_port(), "b": free_port()})

    @property
    def sentinels(self) -> str:
        return sentinel_hosts(self.sentinel_ports)

    def url(self, user: str) -> str:
        return f"sentinel://{user}:{self.passwords[user]}@{self.sentinels}/parley/0"

    def start_node(self, name: str) -> None:
        """Node `name` with its stack command: `a` the first master, `b` its replica."""
        port = self.ports[name]
        replica_of = ("127.0.0.1", self.ports["a"]) if name == "b" else None
        argv = node_command(
            "127.0.0.1", port, self.dir / name, "127.0.0.1", replica_of, "--appendfsync", "everysec"
        )
        self.run_node(name, argv, lambda: redis.Redis(port=port, socket_timeout=1).ping())

    def admin(self, name: str) -> redis.Redis:
        """The node as the sentinels' user (ROLE and INFO are theirs)."""
        return redis.Redis(
            port=self.ports[name], username="sentinel", password=self.passwords["sentinel"], socket_timeout=1
        )

    def role(self, name: str) -> str:
        return str(self.admin(name).role()[0].decode())

    def master_named(self) -> set[int]:
        """The master's port as each answering sentinel names it."""
        return {port for _, port in masters_named(self.sentinel_ports)}

    def synced(self, replica: str) -> bool:
        return bool(self.admin(replica).info("replication").get("master_link_status") == "up")

    def sentinels_know_all(self) -> bool:
        return sentinels_know_all(self.sentinel_ports, 1)


@pytest.fixture
def nodes(tmp_path: Path) -> Iterator[Nodes]:
    n = Nodes(tmp_path)
    try:
        n.start_sentinels(("127.0.0.1", n.ports["a"]), DOWN_AFTER_MS, 10000)
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

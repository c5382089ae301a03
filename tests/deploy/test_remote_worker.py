"""Remote workers: an STT or translate worker outside the cluster joins through Redis over TLS as its
own Redis user (stack/config/redis-users.acl's stt-remote-* / translate-remote-*, the ACL file made
by redis-acl.sh, the certificate by redis-tls.sh), and dispatch is speed-aware (parley_common.dispatch).

Two "machines" outside the cluster, each a network namespace joined to this one by a veth pair:
`fast` runs an STT worker on 2 threads; `slow` runs one on 1 thread, capped at a quarter of a CPU (a cgroup:
a smaller machine, so that the two differ in speed whatever else this shared machine runs), and a
translator. The in-cluster side (this namespace) runs the segmenter and the gateway on Redis's
plain port. Finals go to `fast` while it is free. Then `fast`'s network is cut (iptables DROP
inside its namespace: packets vanish, nothing is refused) while it decodes a final: `slow` claims
that final within a second, the caption appears once, and when the network is mended `fast`
reconnects by itself and takes the next final again."""

from __future__ import annotations

import asyncio
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import redis
import redis.asyncio as aioredis
from parley_common import keys
from parley_common.schemas import WorkerBeat
from parley_feeder.feeder import load_audio, open_speaker
from parley_testkit.caption_client import CaptionClient
from parley_testkit.netns import netns_skip_reason
from parley_testkit.procs import LocalStack, free_port, stop_process
from parley_testkit.wer import read_transcription, wer

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "stack" / "config"
LIBRIVOX = Path("/usr/share/pocketsphinx/test/data/librivox")
ARTIFACTS = ROOT / "artifacts" / "logs" / "remote-worker"
REMOTE_USERS = ("stt-remote-fast", "stt-remote-slow", "translate-remote-slow")
SLOW_CPUS = 0.25


def _skip_reason() -> str | None:
    if reason := netns_skip_reason():
        return reason
    for tool in ("ip", "iptables", "redis-server", "openssl"):
        if not shutil.which(tool):
            return f"{tool} is not installed"
    return None


pytestmark = pytest.mark.skipif(_skip_reason() is not None, reason=str(_skip_reason()))


def run(*cmd: str) -> None:
    subprocess.run(cmd, check=True, capture_output=True)


@dataclass
class CpuCap:
    """A cgroup that gives its processes at most `cpus` CPUs: cgroup v1's cpu controller (mounted
    here if this mount namespace has none, as under `ip netns exec`), or v2's cpu.max."""

    name: str
    cpus: float
    path: Path | None = None
    mounted: Path | None = None

    def __post_init__(self) -> None:
        period = 100_000
        v1, v2 = Path("/sys/fs/cgroup/cpu"), Path("/sys/fs/cgroup")
        try:
            if not (v1 / "cpu.cfs_quota_us").exists() and not (v2 / "cgroup.controllers").exists():
                self.mounted = Path(tempfile.mkdtemp(prefix="parley-cpu-"))
                run("mount", "-t", "cgroup", "-o", "cpu", "cgroup", str(self.mounted))
                v1 = self.mounted
            if (v1 / "cpu.cfs_quota_us").exists():
                self.path = v1 / self.name
                self.path.mkdir(exist_ok=True)
                (self.path / "cpu.cfs_period_us").write_text(str(period))
                (self.path / "cpu.cfs_quota_us").write_text(str(int(self.cpus * period)))
            elif "cpu" in (v2 / "cgroup.controllers").read_text().split():
                self.path = v2 / self.name
                self.path.mkdir(exist_ok=True)
                (self.path / "cpu.max").write_text(f"{int(self.cpus * period)} {period}")
        except (OSError, subprocess.CalledProcessError):
            self.path = None

    def add(self, pid: int) -> None:
        if self.path is None:
            pytest.skip("no writable cgroup cpu controller to make the slow machine slow")
        (self.path / "cgroup.procs").write_text(str(pid))

    def remove(self) -> None:
        if self.path is not None:
            for _ in range(50):
                try:
                    self.path.rmdir()
                    break
                except OSError:
                    time.sleep(0.1)
        if self.mounted is not None:
            subprocess.run(["umount", str(self.mounted)], capture_output=True)
            self.mounted.rmdir()


@dataclass
class Node:
    """A machine outside the cluster: a network namespace with one veth link to this namespace."""

    name: str
    index: int
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def ns(self) -> str:
        return f"prl-{self.name}-{os.getpid()}"

    @property
    def host_if(self) -> str:
        return f"prl{self.index}h{os.getpid() % 100000}"

    @property
    def gateway(self) -> str:  # this namespace's end of the link: where the node dials Redis
        return f"10.251.{self.index}.1"

    @property
    def addr(self) -> str:
        return f"10.251.{self.index}.2"

    def up(self) -> None:
        run("ip", "netns", "add", self.ns)
        run("ip", "link", "add", self.host_if, "type", "veth", "peer", "name", "eth0", "netns", self.ns)
        run("ip", "addr", "add", f"{self.gateway}/24", "dev", self.host_if)
        run("ip", "link", "set", self.host_if, "up")
        run("ip", "-n", self.ns, "addr", "add", f"{self.addr}/24", "dev", "eth0")
        run("ip", "-n", self.ns, "link", "set", "eth0", "up")
        run("ip", "-n", self.ns, "link", "set", "lo", "up")

    def _drop(self, action: str) -> None:
        for chain, flag in (("INPUT", "-i"), ("OUTPUT", "-o")):
            run("ip", "netns", "exec", self.ns, "iptables", action, chain, flag, "eth0", "-j", "DROP")

    def cut(self) -> None:
        """Packets to and from the node vanish (no reset, no refusal): a pulled cable, a dead NAT."""
        self._drop("-I")

    def mend(self) -> None:
        self._drop("-D")

    def start(self, name: str, module: str, env: dict[str, str], cap: CpuCap | None = None) -> None:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        proc = subprocess.Popen(
            ["ip", "netns", "exec", self.ns, sys.executable, "-m", module],
            env={**os.environ, "HF_HUB_OFFLINE": "1", "PARLEY_METRICS_HOST": "0.0.0.0", **env},
            stdout=open(ARTIFACTS / f"{name}.log", "ab"),
            stderr=subprocess.STDOUT,
        )
        if cap is not None:
            cap.add(proc.pid)
        self.procs.append(proc)

    def down(self) -> None:
        for p in self.procs:
            stop_process(p)
        subprocess.run(["ip", "link", "del", self.host_if], capture_output=True)
        subprocess.run(["ip", "netns", "del", self.ns], capture_output=True)


@dataclass
class World:
    work: Path
    plain_port: int
    tls_port: int
    passwords: dict[str, str]
    fast: Node
    slow: Node
    stack: LocalStack
    metrics: dict[str, tuple[str, int]]  # worker -> (address, metrics port)

    def url(self, user: str) -> str:
        return f"redis://{user}:{self.passwords[user]}@127.0.0.1:{self.plain_port}/0"

    def tls_url(self, user: str, host: str = "127.0.0.1", password: bool = True) -> str:
        auth = f"{user}:{self.passwords[user]}" if password else user
        return f"rediss://{auth}@{host}:{self.tls_port}/0?ssl_ca_certs={self.work / 'tls' / 'ca.crt'}"

    def operator(self) -> redis.Redis:
        return redis.Redis.from_url(self.url("operator"))

    def finals_published(self, worker: str) -> int:
        host, port = self.metrics[worker]
        with urllib.request.urlopen(f"http://{host}:{port}/metrics", timeout=5) as resp:
            text = resp.read().decode()
        m = re.search(r'parley_stt_jobs_total\{kind="final",outcome="published"\} ([0-9.]+)', text)
        return int(float(m.group(1))) if m else 0

    def beat(self, worker: str) -> WorkerBeat | None:
        raw = self.operator().get(keys.worker_beat("stt", worker))
        return WorkerBeat.model_validate_json(raw) if raw else None


def _healthy(host: str, port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://{host}:{port}/healthz", timeout=1) as resp:
            return bool(resp.status == 200)
    except OSError:
        return False


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    work = Path(tempfile.mkdtemp(prefix="parley-remote-"))
    fast, slow = Node("fast", 1), Node("slow", 2)
    cap = CpuCap(f"parley-slow-{os.getpid()}", SLOW_CPUS)
    redis_proc: subprocess.Popen[bytes] | None = None
    stack: LocalStack | None = None
    try:
        fast.up()
        slow.up()
        run(str(CONFIG / "redis-tls.sh"), str(work / "tls"), "127.0.0.1", fast.gateway, slow.gateway)
        (work / "secrets").mkdir()
        passwords = {u: secrets.token_hex(24) for u in ("stt", "gateway", *REMOTE_USERS)}
        for user, pw in passwords.items():
            (work / "secrets" / f"parley_redis_{user}").write_text(pw + "\n")
        acl = work / "users.acl"
        run(str(CONFIG / "redis-acl.sh"), str(CONFIG / "redis-users.acl"), str(work / "secrets"), str(acl))
        passwords["operator"] = secrets.token_hex(24)  # this test's own admin (feeds audio, reads ACL LOG)
        with open(acl, "a") as f:
            f.write(f"user operator on >{passwords['operator']} ~* &* +@all\n")
        plain, tls = free_port(), free_port()
        tls_dir = work / "tls"
        redis_proc = subprocess.Popen(
            ["redis-server", "--port", str(plain), "--bind", "127.0.0.1", fast.gateway, slow.gateway,
             "--tls-port", str(tls), "--tls-cert-file", str(tls_dir / "redis.crt"),
             "--tls-key-file", str(tls_dir / "redis.key"), "--tls-ca-cert-file", str(tls_dir / "ca.crt"),
             "--tls-auth-clients", "no", "--aclfile", str(acl), "--save", "", "--appendonly", "no",
             "--dir", str(work), "--protected-mode", "no"],  # as the image's entrypoint starts it
            stdout=open(work / "redis.log", "ab"), stderr=subprocess.STDOUT,
        )  # fmt: skip
        w = World(work, plain, tls, passwords, fast, slow, LocalStack("", ARTIFACTS), {})
        for _ in range(100):
            try:
                w.operator().ping()
                break
            except redis.ConnectionError:
                time.sleep(0.05)
        stack = w.stack
        stack.redis_url = w.url("gateway")
        stack.start(
            "segmenter", "parley_stt", {"PARLEY_REDIS_URL": w.url("stt"), "PARLEY_STT_ROLE": "segmenter"}
        )
        for node, threads, node_cap in ((fast, 2, None), (slow, 1, cap)):
            port = free_port()
            w.metrics[node.name] = (node.addr, port)
            user = f"stt-remote-{node.name}"
            node.start(
                f"stt-{node.name}",
                "parley_stt",
                {
                    # As docs/deploy.md's one command: the user in the URL, the password in a file.
                    "PARLEY_REDIS_URL": w.tls_url(user, node.gateway, password=False),
                    "PARLEY_REDIS_PASSWORD_FILE": str(work / "secrets" / f"parley_redis_{user}"),
                    "PARLEY_STT_ROLE": "worker",
                    "PARLEY_STT_INSTANCE": node.name,
                    "PARLEY_STT_CPU_THREADS": str(threads),
                    "PARLEY_STT_METRICS_PORT": str(port),
                },
                node_cap,
            )
        translate_port = free_port()
        slow.start(
            "translate-slow",
            "parley_translate",
            {
                "PARLEY_REDIS_URL": w.tls_url("translate-remote-slow", slow.gateway, password=False),
                "PARLEY_REDIS_PASSWORD_FILE": str(work / "secrets" / "parley_redis_translate-remote-slow"),
                "PARLEY_TRANSLATE_INSTANCE": "slow",
                "PARLEY_TRANSLATE_METRICS_PORT": str(translate_port),
            },
        )
        stack.start("gateway", "parley_gateway")
        deadline = time.monotonic() + 300
        remote = [*w.metrics.values(), (slow.addr, translate_port)]
        while not all(_healthy(h, p) for h, p in remote):
            assert all(p.poll() is None for p in fast.procs + slow.procs), (
                f"a remote worker exited: {ARTIFACTS}"
            )
            assert time.monotonic() < deadline, f"remote workers not healthy after 300 s: {ARTIFACTS}"
            time.sleep(0.5)
        stack.wait_healthy(120)
        yield w
    finally:
        if stack is not None:
            stack.stop()
        fast.down()
        slow.down()
        cap.remove()
        if redis_proc is not None:
            stop_process(redis_proc)
        shutil.rmtree(work, ignore_errors=True)


def refused(call: object) -> bool:
    try:
        call() if callable(call) else None
    except redis.exceptions.NoPermissionError:
        return True
    except redis.exceptions.ResponseError as exc:
        return "NOPERM" in str(exc)
    return False


def test_a_remote_user_reaches_only_what_a_worker_needs(world: World) -> None:
    """A stolen remote worker password, used over TLS: no audio or room writes, no other worker's
    beat, no deletes, no key listing, nothing administrative."""
    stt = redis.Redis.from_url(world.tls_url("stt-remote-fast"))
    tr = redis.Redis.from_url(world.tls_url("translate-remote-slow"))
    assert stt.ping() and tr.ping()
    attempts = {
        "stt-remote XADD audio": lambda: stt.xadd(keys.audio_stream("demo", "alice"), {"pcm": b""}),
        "stt-remote GET a speaker checkpoint": lambda: stt.get(keys.segmenter_state("demo", "alice")),
        "stt-remote HSET room (close it)": lambda: stt.hset(keys.room_info("demo"), "status", "closed"),
        "stt-remote XADD sfu:commands": lambda: stt.xadd(keys.SFU_COMMANDS, {"type": "close"}),
        "stt-remote SET another worker's beat": lambda: stt.set(keys.worker_beat("stt", "slow"), "{}"),
        "stt-remote DEL a room's captions": lambda: stt.delete(keys.captions_stream("demo")),
        "stt-remote DEL the job stream": lambda: stt.delete(keys.STT_JOBS_FINAL),
        "stt-remote KEYS *": lambda: stt.keys("*"),
        "stt-remote FLUSHALL": lambda: stt.flushall(),
        "stt-remote CONFIG GET": lambda: stt.config_get("*"),
        "translate-remote XADD stt jobs": lambda: tr.xadd(keys.STT_JOBS_FINAL, {"data": "{}"}),
        "translate-remote XRANGE audio": lambda: tr.xrange(keys.audio_stream("demo", "alice")),
        "translate-remote GET a speaker checkpoint": lambda: tr.get(keys.segmenter_state("demo", "alice")),
        "translate-remote DEL a room's captions": lambda: tr.delete(keys.captions_stream("demo")),
    }  # fmt: skip
    got = {what: refused(call) for what, call in attempts.items()}
    print(
        f"[attack] a remote worker's user outside its job: refused {sum(got.values())} of {len(got)}: {got}"
    )
    assert all(got.values()), got
    with pytest.raises(redis.ConnectionError):  # TLS only: the certificate is checked
        redis.Redis.from_url(world.tls_url("stt-remote-fast").split("?")[0]).ping()


async def test_fastest_worker_first_takeover_on_a_cut_network_and_reconnect(world: World) -> None:
    texts = read_transcription(LIBRIVOX)
    clips = [(k, load_audio(str(LIBRIVOX / f"{k}.wav"))) for k in sorted(texts)[2:5]]  # one utterance each
    fast, slow = world.beat("fast"), world.beat("slow")
    assert fast is not None and slow is not None
    print(f"[measure] measured speed of a final: fast {fast.speed_s:.2f} s, slow {slow.speed_s:.2f} s")
    assert fast.speed_s < slow.speed_s * 0.8, "the quarter-CPU, 1-thread worker should be the slower one"
    op = world.operator()
    op.acl_log_reset()
    r = aioredis.from_url(world.url("operator"))
    stack = world.stack
    async with (
        CaptionClient(stack.caption_url("remote", "source")) as listener,
        CaptionClient(stack.caption_url("remote", "es", who="lector")) as spanish,
    ):
        sp = await open_speaker(r, "remote", "alice", "Alice", realtime=True, language="en")

        async def say(audio: object) -> None:
            await sp.play(audio)  # type: ignore[arg-type]
            await sp.silence(1.5)

        # 1. Both free: the final goes to the fast worker.
        before = {w: world.finals_published(w) for w in ("fast", "slow")}
        await say(clips[0][1])
        assert len(await listener.wait_finals(1, 60)) == 1
        after_first = {w: world.finals_published(w) for w in ("fast", "slow")}
        assert after_first["fast"] > before["fast"] and after_first["slow"] == before["slow"]

        # 2. The fast worker's network is cut while it decodes a final.
        speaking = asyncio.create_task(say(clips[1][1]))
        entry, cut_at = "", 0.0
        deadline = time.monotonic() + 60
        while not entry:
            assert time.monotonic() < deadline, "the fast worker never took the second final"
            for p in op.xpending_range(keys.STT_JOBS_FINAL, keys.STT_GROUP, "-", "+", 10):
                if p["consumer"] == b"fast":
                    world.fast.cut()
                    cut_at = time.monotonic()
                    entry = p["message_id"].decode()
                    break
            else:
                await asyncio.sleep(0.005)
        claimed_at = 0.0
        while not claimed_at and time.monotonic() - cut_at < 10:
            owner = [
                p["consumer"] for p in op.xpending_range(keys.STT_JOBS_FINAL, keys.STT_GROUP, entry, entry, 1)
            ]
            if owner != [b"fast"]:  # claimed by slow (or claimed and already done)
                claimed_at = time.monotonic()
                print(f"[measure] entry {entry}: owner after the cut {owner or 'none (done)'}")
            else:
                await asyncio.sleep(0.005)
        takeover = claimed_at - cut_at
        await speaking
        assert len(await listener.wait_finals(2, 60)) == 2
        on_screen = time.monotonic() - cut_at
        print(
            f"[measure] takeover: cut -> claimed by slow {takeover:.3f} s; cut -> final on screen {on_screen:.2f} s"
        )

        # 3. The network comes back: the fast worker reconnects by itself and takes finals again.
        world.fast.mend()
        mended = time.monotonic()
        while world.beat("fast") is None:
            assert time.monotonic() - mended < 90, "the fast worker did not reconnect within 90 s"
            await asyncio.sleep(0.1)
        print(f"[measure] reconnect: network mended -> fast beats again {time.monotonic() - mended:.2f} s")
        await asyncio.sleep(1.0)  # the slow worker sees it again
        mid = {w: world.finals_published(w) for w in ("fast", "slow")}
        await say(clips[2][1])
        await sp.silence(1.0)
        await sp.end()
        finals = await listener.wait_finals(3, 60)
        translated = await spanish.wait_finals(3, 60)
        await asyncio.sleep(3.0)  # a late duplicate from the cut-off worker would show up by now
        end = {w: world.finals_published(w) for w in ("fast", "slow")}
    await r.aclose()
    denied = [(e["username"], e["object"], e["reason"]) for e in op.acl_log(100)]
    finals, translated = listener.finals(), spanish.finals()
    print(
        f"[remote] finals: {[f['text'] for f in finals]}; es: {[f['text'] for f in translated]}; ACL LOG: {denied}"
    )
    assert 0 < takeover < 1.0, takeover
    assert end["fast"] > mid["fast"] and end["slow"] == mid["slow"]
    assert len(finals) == len({f["id"] for f in finals}) == 3  # each once, none lost
    assert len({f["id"] for f in translated}) == len(translated) == 3
    assert wer([texts[k] for k, _ in clips], [str(f["text"]) for f in finals]) <= 0.1
    assert not denied


def test_the_remote_override_keeps_the_stack_redis_and_adds_only_tls() -> None:
    """stack/docker-stack.remote.yml repeats the main file's redis command and secrets (an override
    replaces lists): it must not drift from them."""
    import yaml

    base = yaml.safe_load((ROOT / "stack" / "docker-stack.yml").read_text())["services"]["redis"]
    over = yaml.safe_load((ROOT / "stack" / "docker-stack.remote.yml").read_text())
    redis_over = over["services"]["redis"]
    command = redis_over["command"]
    assert command[: len(base["command"])] == base["command"]
    tls = dict(zip(command[len(base["command"]) :: 2], command[len(base["command"]) + 1 :: 2], strict=True))
    assert tls["--tls-port"] == "6380" and tls["--tls-auth-clients"] == "no"
    assert set(base["secrets"]) <= set(redis_over["secrets"])
    for flag in ("--tls-cert-file", "--tls-key-file", "--tls-ca-cert-file"):
        secret = tls[flag].removeprefix("/run/secrets/")
        assert secret in redis_over["secrets"] and over["secrets"][secret] == {"external": True}
    assert redis_over["ports"] == [{"target": 6380, "published": 6380, "protocol": "tcp", "mode": "host"}]

"""The system under load: a Redis of its own (AOF, as stack/docker-stack.yml runs it), the SFU with
plain-RTP producers, the RTP ingest, STT replicas, translation and the gateway, all on 127.0.0.1 (LocalStack).
Or a deployment elsewhere, reached by URL and a join-token secret (`Target`)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import redis
from parley_common import keys
from parley_common.redisconn import connect_sync
from parley_common.streams import id_order
from parley_testkit.procs import LocalStack, ServiceProc, free_port, stop_process

from .postgres import PgServer, pg_ready

if TYPE_CHECKING:
    from .redis_ha import RedisHA

ROOT = Path(__file__).resolve().parents[2]
SFU_DIR = ROOT / "mediasoup-node"


@dataclass
class Target:
    """Where the load goes: the SFU's signalling URL, the gateway's base WebSocket URL, and how to
    get join tokens (the secret mints them; a real deployment's operator passes its own)."""

    sfu_url: str
    gateway_ws: str
    token_secret: str
    metrics_urls: dict[str, str] = field(default_factory=dict)  # service -> /metrics URL
    redis_url: str = ""  # the local stack's Redis (audio streams are audited); "" for a deployment
    listen_media: bool = False  # listeners consume the speakers' audio (plain RTP recv transports)

    def token(self, room: str, sub: str, name: str, role: str) -> str:
        from parley_common.tokens import issue_join_token

        return issue_join_token(self.token_secret, room, sub, name, role, 4 * 3600)

    def caption_url(self, room: str, lang: str, token: str, since: str = "") -> str:
        url = f"{self.gateway_ws}/ws/rooms/{room}/captions?lang={lang}&token={token}"
        return url + (f"&since={since}" if since else "")


def sfu_ready() -> str | None:
    """Why the local SFU cannot start, or None."""
    if not (SFU_DIR / "dist" / "src" / "main.js").exists():
        return "the SFU is not built: run `make mediasoup-build` first"
    if not shutil.which("redis-server"):
        return "redis-server is not installed"
    return None


@dataclass
class RedisServer:
    """A redis-server of our own; `persist` = AOF every second, so a restart keeps the streams."""

    port: int
    persist: bool = True
    dir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="parley-load-redis-")))
    proc: subprocess.Popen[bytes] | None = None
    replica_of: int | None = None  # a replica of the redis-server on this port (Sentinel sets)
    # host:port,... of the sentinels: (re)start in the role they give this node now, as the stack's
    # nodes do (stack/config/redis-role.sh), not the one `replica_of` names
    sentinels: str = ""

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        aof = ["--appendonly", "yes", "--appendfsync", "everysec"] if self.persist else ["--appendonly", "no"]
        # As the stack's data nodes: each announces its address (Sentinel hands it to clients).
        replica = ["--replica-announce-ip", "127.0.0.1", "--repl-diskless-sync-delay", "0"]
        if self.replica_of:
            replica += ["--replicaof", "127.0.0.1", str(self.replica_of)]
        replica += self._role_args()
        self.proc = subprocess.Popen(
            [
                "redis-server",
                "--bind",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--dir",
                str(self.dir),
                "--save",
                "",
                *aof,
                *replica,
            ],
            stdout=open(self.dir / "redis.log", "ab"),
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 15
        while True:
            try:
                redis.Redis(port=self.port).ping()
                return
            except redis.ConnectionError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"redis-server on {self.port} did not start; see {self.dir}") from None
                time.sleep(0.05)

    def _role_args(self) -> list[str]:
        if not self.sentinels:
            return []
        env = {**os.environ, "REDIS_SENTINELS": self.sentinels, "REDIS_MASTER_NAME": "parley"}
        argv = ["sh", str(ROOT / "stack" / "config" / "redis-role.sh")]
        argv += ["--replica-announce-ip", "127.0.0.1", "--port", str(self.port)]
        out = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=30)
        with open(self.dir / "redis.log", "a") as log:
            log.write(out.stderr)
        return out.stdout.split()

    def stop(self) -> None:
        """SIGTERM: Redis fsyncs its AOF and exits (a clean restart, as an orchestrator does it).
        Redis 7.0 refuses a SIGTERM that comes while a replica writes its first AOF after a full
        sync ("Writing initial AOF, can't exit") and runs on, so the signal is sent again every
        2 s until it exits (it did not, 30 s after one SIGTERM, in a CI teardown); SIGKILL after 30 s."""
        if self.proc is None or self.proc.poll() is not None:
            return
        deadline = time.monotonic() + 30
        while True:
            self.proc.terminate()
            try:
                self.proc.wait(2)
                return
            except subprocess.TimeoutExpired:
                if time.monotonic() > deadline:
                    self.proc.kill()
                    self.proc.wait(10)
                    return

    def restart(self, delay_s: float = 0.0) -> None:
        """Stop, then start again after `delay_s` (Swarm's restart delay for a task that exited)."""
        self.stop()
        time.sleep(delay_s)
        self.start()

    def used_memory_mb(self) -> float:
        try:
            return float(redis.Redis(port=self.port).info("memory")["used_memory"]) / 2**20
        except redis.ConnectionError:
            return float("nan")

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


@dataclass
class LoadStack:
    """Everything on this machine. `stt_replicas` STT processes share the work (consumer groups);
    `ingest_replicas` RTP ingest processes each receive every producer from the SFU."""

    log_dir: Path
    stt_replicas: int = 1
    env: dict[str, str] = field(default_factory=dict)
    redis_port: int = 0
    redis_ha: bool = False  # master + replica + three sentinels instead of one Redis (redis_ha.py)
    redis: RedisServer | RedisHA | None = None
    services: LocalStack | None = None
    sfu: subprocess.Popen[bytes] | None = None
    sfu_port: int = 0
    restart_delay_s: float = 5.0  # as stack/docker-stack.yml's restart policy (condition any, 5 s)
    ingest_replicas: int = 2
    postgres: bool = True  # a Postgres of our own and the persister (transcripts), when it can run
    pg: PgServer | None = None
    restarts: list[tuple[float, str, int | None]] = field(default_factory=list)  # (when, name, exit code)
    killed: list[tuple[float, str]] = field(default_factory=list)  # killed on purpose (faults)
    lock: threading.Lock = field(default_factory=threading.Lock)
    _modules: dict[str, str] = field(default_factory=dict)
    _stopping: threading.Event = field(default_factory=threading.Event)
    _expected: set[str] = field(default_factory=set)  # killed on purpose: their exit is no finding
    _timers: list[threading.Timer] = field(default_factory=list)  # restarts still to come

    def start(self) -> Target:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        if self.redis_ha:
            from .redis_ha import RedisHA

            self.redis = RedisHA()
        else:
            self.redis = RedisServer(self.redis_port or free_port())
        self.redis.start()
        rtp_ports = [free_port() for _ in range(self.ingest_replicas)]
        self.sfu_port = free_port()
        database_url = "postgresql+asyncpg://postgres@127.0.0.1:1/none"  # no admin API, no transcripts
        if self.postgres and pg_ready() is None:
            self.pg = PgServer(free_port())
            self.pg.start()
            self.pg.migrate()
            database_url = self.pg.url
            self._modules["persister-1"] = "parley_gateway.persister"
        self.services = LocalStack(
            self.redis.url,
            self.log_dir,
            env={
                "PARLEY_DATABASE_URL": database_url,
                "PARLEY_PERSISTER_DB_RETRY_MAX_S": "2",
                "PARLEY_GATEWAY_SFU_URL": f"ws://127.0.0.1:{self.sfu_port}/ws",
                **self.env,
            },
        )
        for i, port in enumerate(rtp_ports):
            self._modules[f"ingest-{i + 1}"] = "parley_ingest"
            self.services.start(f"ingest-{i + 1}", "parley_ingest", {"PARLEY_INGEST_RTP_PORT": str(port)})
        self._modules |= {f"stt-{i + 1}": "parley_stt" for i in range(self.stt_replicas)}
        self._modules |= {"translate-1": "parley_translate", "gateway": "parley_gateway"}
        for name, module in self._modules.items():
            if not name.startswith("ingest-"):
                self.services.start(name, module)
        self.start_sfu(rtp_ports)
        self.services.wait_healthy(180)
        threading.Thread(target=self._supervise, name="supervisor", daemon=True).start()
        return Target(
            f"ws://127.0.0.1:{self.sfu_port}/ws",
            self.services.ws_base,
            self.services.join_token_secret,
            self.metrics_urls(),
            self.redis.url,
            listen_media=True,  # SFU_ALLOW_PLAIN_INGEST=1 here: plain RTP recv transports
        )

    def start_sfu(self, rtp_ports: list[int]) -> None:
        assert self.redis is not None and self.services is not None
        lo = 30000 + (os.getpid() % 300) * 100  # a port range of our own for the RTP transports
        env = {
            **os.environ,
            "SFU_WS_PORT": str(self.sfu_port),
            "SFU_WS_HOST": "127.0.0.1",
            "INGEST_RTP_TARGETS": ",".join(f"127.0.0.1:{p}" for p in rtp_ports),
            "JOIN_TOKEN_SECRET": self.services.join_token_secret,
            "REDIS_URL": self.redis.url,
            "SFU_NUM_WORKERS": "1",
            "SFU_LISTEN_IP": "127.0.0.1",
            "SFU_RTC_MIN_PORT": str(lo),
            "SFU_RTC_MAX_PORT": str(lo + 99),
            "SFU_WEBRTC_PORT": "0",  # WebRTC through a free port of that range
            # Every simulated user connects from 127.0.0.1: lift the per-address socket caps.
            "SFU_MAX_SOCKETS_PER_ADDRESS": "100000",
            "SFU_MAX_UNJOINED_PER_ADDRESS": "100000",
            "SFU_ALLOW_PLAIN_INGEST": "1",
            "SFU_LOG_LEVEL": "warn",
        }
        self.sfu = subprocess.Popen(
            ["scripts/with-env.sh", "node", "dist/src/main.js"],
            cwd=SFU_DIR,
            env=env,
            stdout=open(self.log_dir / "sfu.log", "ab"),
            stderr=subprocess.STDOUT,
        )
        url = f"http://127.0.0.1:{self.sfu_port}/healthz"
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(url, timeout=1):
                    return
            except OSError:
                if self.sfu.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"the SFU did not come up; see {self.log_dir}/sfu.log") from None
                time.sleep(0.2)

    def metrics_urls(self) -> dict[str, str]:
        assert self.services is not None
        urls = {n: f"http://127.0.0.1:{p.health_port}/metrics" for n, p in self.services.procs.items()}
        urls["sfu"] = f"http://127.0.0.1:{self.sfu_port}/metrics"
        return urls

    def pids(self) -> dict[str, list[int]]:
        """Process ids per service; the SFU is node plus its mediasoup-worker children."""
        assert self.services is not None
        out = {n: [p.proc.pid] for n, p in self.services.procs.items() if p.proc.poll() is None}
        if self.sfu is not None and self.sfu.poll() is None:
            out["sfu"] = [self.sfu.pid]
            out["sfu-worker"] = children(self.sfu.pid)
        if self.redis is not None and self.redis.proc is not None and self.redis.proc.poll() is None:
            out["redis"] = [self.redis.proc.pid]
        return out

    def proc(self, name: str) -> ServiceProc:
        assert self.services is not None
        return self.services.procs[name]

    def _supervise(self) -> None:
        """Like the orchestrator: a service process that exits is started again after a delay.
        Each such exit is recorded: a service that dies under load is a finding, not noise."""
        assert self.services is not None
        while not self._stopping.wait(0.5):
            with self.lock:
                dead = [n for n, p in self.services.procs.items() if p.proc.poll() is not None]
                for name in dead:
                    if name not in self._expected:
                        self.restarts.append((time.time(), name, self.services.procs[name].proc.returncode))
            for name in dead:
                if self._stopping.wait(self.restart_delay_s):
                    return
                with self.lock:
                    self._expected.discard(name)
                    self.services.start(name, self._modules[name], port=self.services.procs[name].health_port)

    def kill(self, name: str, timeout: float = 180.0) -> float:
        """SIGKILL `name`; the supervisor starts it again after `restart_delay_s`, as Swarm would.
        Returns the seconds until it is healthy again."""
        assert self.services is not None
        t = time.monotonic()
        with self.lock:
            self._expected.add(name)
            self.killed.append((time.time(), name))
            self.services.procs[name].kill(signal.SIGKILL)
        while True:
            time.sleep(0.1)
            with self.lock:
                sp = self.services.procs[name]
                if name not in self._expected and sp.healthy():
                    return time.monotonic() - t
            if time.monotonic() - t > timeout:
                raise RuntimeError(f"{name} did not come back; see {sp.log_path}")

    def kill_redis_master(self, timeout: float = 60.0) -> float:
        """SIGKILL the Redis master (Sentinel fails over to the replica); it is started again after
        `restart_delay_s`, as Swarm would, and comes back as the new master's replica. Returns the
        seconds until a write through the sentinels succeeds again."""
        from .redis_ha import RedisHA

        assert isinstance(self.redis, RedisHA)
        t = time.monotonic()
        old = self.redis.kill_master()
        timer = threading.Timer(self.restart_delay_s, old.start)
        self._timers.append(timer)
        timer.start()
        client = connect_sync(self.redis.url, socket_timeout=1.0)
        while True:
            try:
                client.set("parley:failover-probe", "1")
                return time.monotonic() - t
            except (redis.RedisError, OSError):
                if time.monotonic() - t > timeout:
                    raise RuntimeError("no Redis master after the failover") from None
                time.sleep(0.05)

    def postgres_outage(self, seconds: float, timeout: float = 300.0) -> tuple[float, float]:
        """Postgres stopped (`pg_ctl -m fast`, as a restart or a node drain does) for `seconds`, then
        started. Returns (seconds until it answered again, seconds from then until the persister
        had stored everything that waited: its consumer group's lag and pending both 0)."""
        assert self.pg is not None and self.redis is not None
        t = time.monotonic()
        self.pg.stop("fast")
        time.sleep(seconds)
        self.pg.start()
        self.pg.wait_ready()
        back = time.monotonic()
        self.wait_persisted(timeout)
        return back - t, time.monotonic() - back

    def wait_persisted(self, timeout: float = 300.0) -> None:
        """Until the persister has stored all it was given: nothing pending in its group, and the
        group has read up to the stream's newest entry (XINFO's `lag` is not trusted: a failover
        can leave it counting entries that are gone)."""
        assert self.redis is not None
        r = connect_sync(self.redis.url)
        deadline = time.monotonic() + timeout
        while True:
            groups = {g["name"]: g for g in r.xinfo_groups(keys.PERSIST_CAPTIONS)}
            g = groups.get(b"persist") or groups.get("persist")
            top = r.xrevrange(keys.PERSIST_CAPTIONS, count=1)
            if (
                g is not None
                and int(g["pending"]) == 0
                and (not top or id_order(g["last-delivered-id"]) >= id_order(top[0][0]))
            ):
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"the persister did not catch up: {g}")
            time.sleep(0.2)

    def persisted(self, rooms: list[str]) -> list[tuple[str, str]]:
        """(caption id, language) of every final and translation stored for `rooms`."""
        if self.pg is None:
            return []
        quoted = ",".join(f"'{r}'" for r in rooms)  # our own room names: [a-z0-9-]
        sql = (
            "select c.caption_id, c.lang from captions c join rooms r on r.id = c.room_id "
            f"where r.slug in ({quoted}) union all "
            "select t.caption_id, t.lang from caption_translations t join captions c using (caption_id) "
            f"join rooms r on r.id = c.room_id where r.slug in ({quoted})"
        )
        rows = self.pg.psql(sql).splitlines()
        return [tuple(row.split("|", 1)) for row in rows if row]  # type: ignore[misc]

    def stop(self) -> None:
        self._stopping.set()
        for timer in self._timers:
            timer.cancel()
            timer.join()
        if self.services is not None:
            self.services.stop()
        if self.sfu is not None:
            stop_process(self.sfu)
        if self.redis is not None:
            self.redis.cleanup()
        if self.pg is not None:
            self.pg.cleanup()


def children(pid: int) -> list[int]:
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            out.append(int(stat.parent.name))
    return out

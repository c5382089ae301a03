"""The three-node rehearsal's world (issue 7): three network namespaces stand in for the stack's
nodes (ai, media, monitoring), joined by veth pairs to a bridge in a fourth namespace that also
holds the test itself (the participants' side). Each node runs, as processes, the services the
stack file places on it, with the environment, secrets (through stack/images/secrets-env.sh),
commands and ports the stack file gives them; host names become the nodes' addresses."""

from __future__ import annotations

import asyncio
import ctypes
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from parley_testkit.netns import netns_skip_reason
from parley_testkit.procs import stop_process
from test_stack import STACK, render

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "media"))
from media_helpers import CLONE_NEWNET, _setns  # noqa: E402

LOGS = ROOT / "artifacts" / "logs" / "rehearsal"
VENV_BIN = ROOT / ".venv" / "bin"
PG_BIN = Path("/usr/lib/postgresql/15/bin")
AS_POSTGRES = ["setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups"]  # it refuses root
SUBNET = "10.77.0"
NODE_IP = {"ai": f"{SUBNET}.1", "media": f"{SUBNET}.2", "monitoring": f"{SUBNET}.3"}
CLIENT_IP = f"{SUBNET}.254"  # the bridge's own address: where the test (the participants) sits
CONSTRAINT = re.compile(r"^node\.labels\.parley\.role\s*==\s*(\S+)$")
# What the rehearsal runs of the stack. Not run: caddy (TLS entry; the test talks to the gateway
# and SFU directly), coturn (tests/deploy/test_turn_relay.py), Grafana and Loki/promtail (in no
# registry), Alertmanager (nothing to deliver to).
PIPELINE = ["stt", "translate", "persister", "ingest", "gateway", "sfu"]
# Swarm scrape jobs whose services the rehearsal does not run.
NOT_SCRAPED = {"alertmanager", "loki"}


def skip_reason() -> str | None:
    if reason := netns_skip_reason():
        return reason
    for tool in ("redis-server", "prometheus", "setpriv"):
        if not shutil.which(tool):
            return f"{tool} is not installed (scripts/bootstrap.sh)"
    if not (PG_BIN / "postgres").exists():
        return "PostgreSQL 15 is not installed (apt-get install postgresql)"
    if not (ROOT / "mediasoup-node" / "dist" / "src" / "main.js").exists():
        return "the SFU is not built: run `make mediasoup-build` first"
    return None


def ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True)


@dataclass
class Network:
    """Namespaces `parley-rh{pid}-{node}` for the nodes, and `parley-rh{pid}-net` with the bridge."""

    suffix: str = field(default_factory=lambda: str(os.getpid()))

    @property
    def switch(self) -> str:
        return f"parley-rh{self.suffix}-net"

    def ns(self, node: str) -> str:
        return f"parley-rh{self.suffix}-{node}"

    def create(self) -> None:
        ip("netns", "add", self.switch)
        ip("-n", self.switch, "link", "set", "lo", "up")
        ip("-n", self.switch, "link", "add", "br0", "type", "bridge")
        ip("-n", self.switch, "addr", "add", f"{CLIENT_IP}/24", "dev", "br0")
        ip("-n", self.switch, "link", "set", "br0", "up")
        for node, addr in NODE_IP.items():
            ns = self.ns(node)
            ip("netns", "add", ns)
            ip("-n", ns, "link", "set", "lo", "up")
            ip(
                "-n",
                self.switch,
                "link",
                "add",
                f"to-{node}",
                "type",
                "veth",
                "peer",
                "name",
                "eth0",
                "netns",
                ns,
            )
            ip("-n", self.switch, "link", "set", f"to-{node}", "master", "br0", "up")
            ip("-n", ns, "addr", "add", f"{addr}/24", "dev", "eth0")
            ip("-n", ns, "link", "set", "eth0", "up")

    def cut(self, node: str) -> None:
        """The node's cable out: its bridge port down (the node itself keeps its address, so its
        own services still reach each other; nobody else reaches it)."""
        ip("-n", self.switch, "link", "set", f"to-{node}", "down")

    def restore(self, node: str) -> None:
        ip("-n", self.switch, "link", "set", f"to-{node}", "up")

    def delete(self) -> None:
        for ns in [*(self.ns(n) for n in NODE_IP), self.switch]:
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)


@dataclass
class Proc:
    name: str
    node: str
    proc: subprocess.Popen[bytes]
    log_path: Path
    health: str = ""  # http://node:port/healthz, if it serves one

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> None:
        stop_process(self.proc, grace_s=15)


def http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as resp:
            return bool(resp.status == 200)
    except OSError:
        return False


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as resp:
        return json.loads(resp.read())


def stack_services() -> dict[str, Any]:
    """The stack as deployed with the media node's public address = its rehearsal address."""
    saved = os.environ.get("PARLEY_MEDIA_PUBLIC_IP")
    os.environ["PARLEY_MEDIA_PUBLIC_IP"] = NODE_IP["media"]
    try:
        services: dict[str, Any] = render(STACK)["services"]
        return services
    finally:
        if saved is None:
            os.environ.pop("PARLEY_MEDIA_PUBLIC_IP")
        else:
            os.environ["PARLEY_MEDIA_PUBLIC_IP"] = saved


def node_of(svc: dict[str, Any]) -> str:
    for c in (svc.get("deploy") or {}).get("placement", {}).get("constraints", []):
        m = CONSTRAINT.match(c)
        if m:
            return m.group(1)
    raise ValueError(f"no parley.role placement in {svc}")


def host_map(services: dict[str, Any]) -> dict[str, str]:
    """Swarm service name (and its network aliases) -> the address of the node the stack places
    it on (global services, such as promtail, have no one node)."""
    out = {}
    for name, svc in services.items():
        try:
            ip = NODE_IP[node_of(svc)]
        except ValueError:
            continue
        out[name] = ip
        nets = svc.get("networks")
        for net in nets.values() if isinstance(nets, dict) else ():
            for alias in (net or {}).get("aliases", []):
                out[alias] = ip
    return out


def localise(value: str, hosts: dict[str, str], secret_dir: Path) -> str:
    """A stack environment value as it must read on the rehearsal's processes: service host names
    -> node addresses, Docker secrets -> files in secret_dir, the task slot -> 1, an overlay
    network's subnet -> the rehearsal's one subnet (every overlay network is the one bridge here)."""
    value = value.replace("/run/secrets/", f"{secret_dir}/").replace("{{.Task.Slot}}", "1")
    if value in hosts:
        return hosts[value]
    if re.fullmatch(r"\d+\.\d+\.\d+\.\d+/\d+", value):
        return f"{SUBNET}.0/24"
    return re.sub(
        r"(^|,|//|@)([a-z][a-z0-9_-]*)(?=:\d)",
        lambda m: m.group(1) + hosts.get(m.group(2), m.group(2)),
        value,
    )


def image_command(svc: dict[str, Any]) -> list[str]:
    """The service's `command`, else its image's ENTRYPOINT + CMD (stack/images/<image>/Dockerfile)."""
    image = str(svc["image"]).rsplit("/", 1)[-1].split(":")[0]
    dockerfile = (ROOT / "stack" / "images" / image / "Dockerfile").read_text()
    entry = [json.loads(m) for m in re.findall(r"^ENTRYPOINT (\[.*\])$", dockerfile, re.M)][-1:]
    cmd = [json.loads(m) for m in re.findall(r"^CMD (\[.*\])$", dockerfile, re.M)][-1:]
    argv: list[str] = (entry[0] if entry else []) + (svc.get("command") or (cmd[0] if cmd else []))
    return argv


def local_argv(argv: list[str]) -> tuple[list[str], Path]:
    """An image's argv as a local process: the shim from stack/images, console scripts from .venv,
    the SFU through mediasoup-node/scripts/with-env.sh (Node 22 and the built worker)."""
    out: list[str] = []
    cwd = ROOT
    for a in argv:
        if a == "secrets-env.sh":
            out += ["sh", str(ROOT / "stack" / "images" / "secrets-env.sh")]
        elif a.startswith("parley-"):
            out.append(str(VENV_BIN / a))
        elif a == "node":
            cwd = ROOT / "mediasoup-node"
            out += ["scripts/with-env.sh", "node"]
        else:
            out.append(a)
    return out, cwd


@dataclass
class Rehearsal:
    net: Network
    services: dict[str, Any]
    secrets: dict[str, str]
    pg_dir: Path = Path()
    redis_dir: Path = Path()  # data directories of the Redis nodes (one folder each)
    secret_dir: Path = Path()  # the Docker secrets as files
    procs: dict[str, Proc] = field(default_factory=dict)

    @property
    def hosts(self) -> dict[str, str]:
        return host_map(self.services)

    @property
    def join_token_secret(self) -> str:
        return self.secrets["parley_join_token_secret"]

    def url(self, service: str, port: int, path: str = "", scheme: str = "http") -> str:
        return f"{scheme}://{self.hosts[service]}:{port}{path}"

    def spawn(
        self, name: str, node: str, argv: list[str], env: dict[str, str], cwd: Path, health: str = ""
    ) -> Proc:
        LOGS.mkdir(parents=True, exist_ok=True)
        log_path = LOGS / f"{name}.log"
        proc = subprocess.Popen(
            ["ip", "netns", "exec", self.net.ns(node), *argv],
            cwd=cwd,
            env=env,
            stdout=open(log_path, "wb"),
            stderr=subprocess.STDOUT,
        )
        p = Proc(name, node, proc, log_path, health)
        self.procs[name] = p
        return p

    def service_env(self, name: str, secret_dir: Path) -> dict[str, str]:
        hosts = self.hosts
        env = {
            k: localise(str(v), hosts, secret_dir)
            for k, v in (self.services[name].get("environment") or {}).items()
        }
        # This machine's environment minus what the stack sets, and minus any *_FILE variable:
        # secrets-env.sh would read those as secrets (a CA bundle, say) as it does in the image.
        base = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("PARLEY_", "SFU_", "REDIS_URL")) and not k.endswith("_FILE")
        }
        return {**base, **env}

    def start_service(self, name: str, secret_dir: Path, overrides: dict[str, str] | None = None) -> Proc:
        svc = self.services[name]
        argv, cwd = local_argv(image_command(svc))
        env = {**self.service_env(name, secret_dir), **(overrides or {})}
        port = health_port(name, env)
        node = node_of(svc)
        return self.spawn(
            name, node, argv, env, cwd, f"http://{NODE_IP[node]}:{port}/healthz" if port else ""
        )

    def psql(self, sql: str) -> str:
        """A query on the AI node's Postgres (its Unix socket), as the stack's `parley` user."""
        out = subprocess.run(
            [
                *AS_POSTGRES,
                str(PG_BIN / "psql"),
                "-h",
                str(self.pg_dir),
                "-U",
                "parley",
                "-d",
                "parley",
                "-tAc",
                sql,
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        return out.stdout.strip()

    def redis_cli(self, *args: str, timeout: float = 20.0) -> str:
        """A redis-cli command on the current Redis master (the node the sentinels name; the AI
        node's while they do not answer), as the gateway's Redis user (stack/config/redis-users.acl).
        A Redis that is loading or resyncing after a failover answers with an error for a moment:
        retried until `timeout`."""
        auth = ["--user", "gateway", "--pass", self.secrets["parley_redis_gateway"], "--no-auth-warning"]
        deadline = time.monotonic() + timeout
        while True:
            node = redis_master(self) or redis_master(self, "ai") or "ai"
            out = subprocess.run(
                ["ip", "netns", "exec", self.net.ns(node), "redis-cli", "-h", NODE_IP[node], *auth, *args],
                capture_output=True,
                text=True,
            )
            if out.returncode == 0 and not out.stdout.startswith(("LOADING", "MASTERDOWN", "ERR", "NOPERM")):
                return out.stdout
            if time.monotonic() > deadline:
                raise RuntimeError(f"redis-cli {args} on {node}: {out.stdout}{out.stderr}")
            time.sleep(0.5)

    def wait_healthy(self, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        for p in self.procs.values():
            while p.health and not http_ok(p.health):
                if not p.alive():
                    raise RuntimeError(f"{p.name} exited: {p.log_path.read_text(errors='replace')[-2000:]}")
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{p.name} not healthy after {timeout} s ({p.health})")
                time.sleep(0.2)

    def stop(self) -> None:
        for p in reversed(list(self.procs.values())):
            p.stop()


def health_port(name: str, env: dict[str, str]) -> int:
    for key in (
        "PARLEY_STT_METRICS_PORT",
        "PARLEY_TRANSLATE_METRICS_PORT",
        "PARLEY_PERSISTER_METRICS_PORT",
        "PARLEY_INGEST_METRICS_PORT",
        "PARLEY_GATEWAY_PORT",
        "SFU_WS_PORT",
    ):
        if key in env:
            return int(env[key])
    return 0


def start_postgres(r: Rehearsal, data: Path) -> None:
    """A throw-away cluster on the AI node, run as the `postgres` user (it refuses root): user and
    database `parley` as the stack's postgres service creates them; trust on the rehearsal subnet."""
    env = r.services["postgres"].get("environment") or {}
    user, db = str(env.get("POSTGRES_USER", "parley")), str(env.get("POSTGRES_DB", "parley"))
    data.mkdir(mode=0o700)
    shutil.chown(data, "postgres", "postgres")
    as_pg = AS_POSTGRES
    r.pg_dir = data
    subprocess.run(
        [*as_pg, str(PG_BIN / "initdb"), "-D", str(data), "-U", user, "--auth=trust"],
        check=True,
        capture_output=True,
    )
    with open(data / "pg_hba.conf", "a") as f:
        f.write(f"host all all {SUBNET}.0/24 trust\n")
    r.spawn(
        "postgres",
        "ai",
        [
            *as_pg,
            str(PG_BIN / "postgres"),
            "-D",
            str(data),
            "-k",
            str(data),
            "-p",
            "5432",
            "-c",
            f"listen_addresses={NODE_IP['ai']},127.0.0.1",
        ],
        dict(os.environ),
        ROOT,
    )
    deadline = time.monotonic() + 30
    while subprocess.run(
        [*as_pg, str(PG_BIN / "createdb"), "-h", str(data), "-U", user, db], capture_output=True
    ).returncode:
        if time.monotonic() > deadline or not r.procs["postgres"].alive():
            raise RuntimeError(
                f"postgres did not come up: {r.procs['postgres'].log_path.read_text()[-2000:]}"
            )
        time.sleep(0.2)


REDIS_NODES = ("redis", "redis-replica")  # the stack's data nodes; `redis` starts as the master
SENTINELS = ("sentinel-ai", "sentinel-media", "sentinel-monitoring")


def redis_cli(r: Rehearsal, node: str, *args: str, port: int = 6379) -> str:
    """redis-cli on `node`: its sentinel (port 26379), or its Redis as the sentinels' user (the
    one that may run INFO and ROLE, stack/config/redis-users.acl)."""
    auth: list[str] = []
    if port == 6379 and "parley_redis_sentinel" in r.secrets:
        auth = ["--user", "sentinel", "--pass", r.secrets["parley_redis_sentinel"], "--no-auth-warning"]
    return subprocess.run(
        [
            "ip",
            "netns",
            "exec",
            r.net.ns(node),
            "redis-cli",
            "-h",
            NODE_IP[node],
            "-p",
            str(port),
            *auth,
            *args,
        ],
        capture_output=True,
        text=True,
    ).stdout.strip()


def start_redis_node(r: Rehearsal, name: str, data: Path) -> None:
    """A Redis data node as the stack runs it: stack/config/redis-node.sh (the ACL file from the
    users template and the secrets, the replication user's credentials) with the service's
    command, host names as node addresses."""
    node = node_of(r.services[name])
    config = ROOT / "stack" / "config"
    argv = ["sh", str(config / "redis-node.sh")]
    argv += [localise(str(a), r.hosts, r.secret_dir) for a in r.services[name]["command"]]
    argv += ["--bind", NODE_IP[node], "127.0.0.1", "--port", "6379", "--dir", str(data)]
    argv += ["--protected-mode", "no"]
    data.mkdir(exist_ok=True)
    env = {
        **os.environ,
        "REDIS_ACL_TEMPLATE": str(config / "redis-users.acl"),
        "REDIS_ACL_SCRIPT": str(config / "redis-acl.sh"),
        "REDIS_SECRETS_DIR": str(r.secret_dir),
        "REDIS_RUN_DIR": str(data),
    }
    r.spawn(name, node, argv, env, ROOT)
    deadline = time.monotonic() + 10
    while redis_cli(r, node, "ping") != "PONG":
        if time.monotonic() > deadline:
            raise RuntimeError(f"{name} did not come up")
        time.sleep(0.1)


def start_redis(r: Rehearsal, data: Path, secret_dir: Path) -> None:
    """Redis as the stack places it: the master (ai), its replica (media) and a sentinel on every
    node, each with its stack command/environment; the sentinels run stack/config/sentinel.sh.
    Returns once the replica has synced and every sentinel knows it and the two others."""
    data.mkdir()
    r.redis_dir = data
    r.secret_dir = secret_dir
    for name in REDIS_NODES:
        start_redis_node(r, name, data / name)
    for name in SENTINELS:
        svc = r.services[name]
        env = {**r.service_env(name, secret_dir), "SENTINEL_DIR": str(data / name)}
        r.spawn(name, node_of(svc), ["sh", str(ROOT / "stack" / "config" / "sentinel.sh")], env, ROOT)
    deadline = time.monotonic() + 60
    while not _redis_ready(r):
        if time.monotonic() > deadline:
            raise RuntimeError("the replica did not sync or the sentinels did not find each other")
        time.sleep(0.3)


def _redis_ready(r: Rehearsal) -> bool:
    replica = node_of(r.services["redis-replica"])
    if "master_link_status:up" not in redis_cli(r, replica, "info", "replication"):
        return False
    for name in SENTINELS:
        info = redis_cli(r, node_of(r.services[name]), "sentinel", "master", "parley", port=26379).split()
        fields = dict(zip(info[::2], info[1::2], strict=False))
        if int(fields.get("num-slaves", 0)) < 1 or int(fields.get("num-other-sentinels", 0)) < 2:
            return False
    return True


def redis_master(r: Rehearsal, asking: str = "media") -> str:
    """The node the sentinel on `asking` names as the Redis master ("" if it does not answer)."""
    addr = redis_cli(r, asking, "sentinel", "get-master-addr-by-name", "parley", port=26379).split()
    return next((n for n, ip in NODE_IP.items() if addr and addr[0] == ip), "")


def run_migrations(r: Rehearsal, secret_dir: Path) -> None:
    """The one-shot `migrate` service: must exit 0 before the services start."""
    p = r.start_service("migrate", secret_dir)
    try:
        rc = p.proc.wait(120)
    finally:
        r.procs.pop("migrate")
    assert rc == 0, p.log_path.read_text(errors="replace")[-2000:]


def prometheus_config(r: Rehearsal, path: Path) -> None:
    """monitoring/prometheus/prometheus.yml with each Swarm DNS job (tasks.<service>:port) pointed
    at the node the stack places that service on; scraped every second."""
    cfg = yaml.safe_load((ROOT / "monitoring" / "prometheus" / "prometheus.yml").read_text())
    cfg["global"]["scrape_interval"] = "1s"
    cfg["global"]["evaluation_interval"] = "1s"
    cfg["rule_files"] = [str(ROOT / "monitoring" / "prometheus" / "rules" / "parley.rules.yml")]
    cfg.pop("alerting")
    jobs = []
    for job in cfg["scrape_configs"]:
        for sd in job.pop("dns_sd_configs", []):
            service = sd["names"][0].removeprefix("tasks.")
            if service in NOT_SCRAPED:
                break
            job["static_configs"] = [{"targets": [f"{r.hosts[service]}:{sd['port']}"]}]
        else:
            jobs.append(job)
    cfg["scrape_configs"] = jobs
    path.write_text(yaml.safe_dump(cfg))


def start_prometheus(r: Rehearsal, tmp: Path) -> Proc:
    prometheus_config(r, tmp / "prometheus.yml")
    paths = {
        "/etc/prometheus/prometheus.yml": str(tmp / "prometheus.yml"),
        "/prometheus": str(tmp / "prom-data"),
    }
    argv = [str(shutil.which("prometheus"))]
    for a in r.services["prometheus"]["command"]:
        flag, _, value = a.partition("=")
        argv.append(f"{flag}={paths.get(value, value)}" if value else a)
    argv.append("--web.listen-address=0.0.0.0:9090")
    return r.spawn(
        "prometheus",
        "monitoring",
        argv,
        dict(os.environ),
        ROOT,
        f"http://{NODE_IP['monitoring']}:9090/-/ready",
    )


@contextmanager
def rehearsal() -> Iterator[Rehearsal]:
    """Builds the network, moves this test thread onto the participants' side of the bridge, and
    starts every node's services (Postgres, the Redis master, migrate, STT, translate, persister on
    ai; the Redis replica, SFU, ingest and gateway on media; Prometheus on monitoring; a Redis
    sentinel on each)."""
    LOGS.mkdir(parents=True, exist_ok=True)
    net = Network()
    tmp = Path(tempfile.mkdtemp(prefix="parley-rehearsal-"))
    tmp.chmod(0o711)  # Postgres runs as `postgres` below it
    secret_dir = tmp / "secrets"
    secret_dir.mkdir()
    r = Rehearsal(net, stack_services(), {})
    for name in (
        "parley_join_token_secret",
        "parley_admin_password",
        "parley_admin_session_secret",
        "parley_db_password",
        "parley_db_app_password",
        *(
            f"parley_redis_{u}"
            for u in ("gateway", "stt", "translate", "persister", "ingest", "sfu", "replica", "sentinel")
        ),
        "parley_turn_secret",
    ):
        r.secrets[name] = secrets.token_hex(24)
        (secret_dir / name).write_text(r.secrets[name] + "\n")
    original = f"/proc/{os.getpid()}/task/{os.getpid()}/ns/net"
    keep = os.open(original, os.O_RDONLY)
    try:
        net.create()
        _setns(f"/var/run/netns/{net.switch}")
        start_postgres(r, tmp / "pg")
        start_redis(r, tmp / "redis", secret_dir)
        run_migrations(r, secret_dir)
        for name in PIPELINE:
            r.start_service(name, secret_dir)
        start_prometheus(r, tmp)
        r.wait_healthy(180)
        yield r
    finally:
        r.stop()
        libc = ctypes.CDLL(None, use_errno=True)
        libc.setns(keep, CLONE_NEWNET)
        os.close(keep)
        net.delete()
        shutil.rmtree(tmp, ignore_errors=True)


async def speak_during_fault(
    r: Rehearsal,
    room: str,
    wav: Path,
    n_finals: int,
    at_s: float,
    fault: Callable[[], object],
    hold_s: float,
    undo: Callable[[], object] | None = None,
) -> tuple[list[dict[str, Any]], dict[str, float]]:
    """A bot reads `wav` into `room` through the SFU while a listener reads the source captions;
    `fault()` happens `at_s` into the speech, `undo()` `hold_s` later. Returns the listener's finals
    (after `n_finals` arrived and nothing new came for 3 s: a duplicate would show) and the times
    (epoch s): start, fault, undo, finals_before_fault, bot_done, last_final."""
    from parley_bot.bot import decode_file, play
    from parley_common.tokens import issue_join_token
    from parley_testkit.caption_client import CaptionClient

    secret = r.join_token_secret
    listener = issue_join_token(secret, room, "listener", "Listener", "listener", 3600)
    reader = issue_join_token(secret, room, "reader", "Reader", "guest", 3600)
    url = r.url("gateway", 8080, f"/ws/rooms/{room}/captions?lang=source&token={listener}", scheme="ws")
    sfu = r.url("sfu", 4443, "/ws", scheme="ws")
    times: dict[str, float] = {}
    async with CaptionClient(url) as cap:
        times["start"] = time.time()
        bot = asyncio.create_task(play(sfu, room, reader, decode_file(str(wav)), lead_in_s=0.3))
        await asyncio.sleep(at_s)
        await asyncio.to_thread(fault)
        times["fault"] = time.time()
        times["finals_before_fault"] = len(cap.finals())
        await asyncio.sleep(hold_s)
        if undo is not None:
            await asyncio.to_thread(undo)
        times["undo"] = time.time()
        await bot
        times["bot_done"] = time.time()
        await cap.wait_finals(n_finals, 90)
        count = -1
        while count != len(cap.finals()):  # settle: a duplicate would show up now
            count = len(cap.finals())
            await asyncio.sleep(3.0)
        arrivals = [
            t for t, m in cap.received if m.get("type") == "caption" and m["caption"]["type"] == "final"
        ]
        times["last_final"] = arrivals[-1] if arrivals else 0.0
        return cap.finals(), times

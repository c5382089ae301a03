"""The stack file and images: what `docker stack config` does not check (issue 7).

Parses the stack as `docker stack config` renders it (interpolated, merged with the GPU override)
and fails on undefined secrets/configs/networks/volumes, config files that do not exist, bad
placement constraints, services without healthchecks or resource limits, and unpinned images.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
STACK = ROOT / "stack" / "docker-stack.yml"
GPU = ROOT / "stack" / "docker-stack.gpu.yml"
IMAGES = ROOT / "stack" / "images"
ROLES = {"ai", "media", "monitoring"}
# Where each service must run (issue 7: AI node, media node, monitoring node; promtail everywhere).
PLACEMENT = {
    "redis": "ai",
    "redis-replica": "media",
    "sentinel-ai": "ai",
    "sentinel-media": "media",
    "sentinel-monitoring": "monitoring",
    "backup": "monitoring",
    "postgres": "ai",
    "migrate": "ai",
    "stt": "ai",
    "translate": "ai",
    "persister": "ai",
    "ingest": "media",
    "gateway": "media",
    "sfu": "media",
    "caddy": "media",
    "edge": "media",
    "coturn": "media",
    "prometheus": "monitoring",
    "alertmanager": "monitoring",
    "loki": "monitoring",
    "grafana": "monitoring",
}
CONSTRAINT = re.compile(r"^node\.labels\.parley\.role\s*==\s*(\S+)$")


def docker_stack_config() -> str | None:
    """The docker CLI, if it has `docker stack config` (23.0 and later; Debian 12's 20.10 has not)."""
    docker = shutil.which("docker")
    if docker is None:
        return None
    commands = subprocess.run([docker, "stack", "--help"], capture_output=True, text=True).stdout
    return docker if re.search(r"^\s+config\s", commands, re.M) else None


def render(*files: Path) -> dict[str, Any]:
    """The stack as `docker stack config` renders it; with an older CLI, the same merge and
    ${VAR:-default} interpolation done here (the checks below are what docker does not do)."""
    docker = docker_stack_config()
    if docker:
        args = [docker, "stack", "config"]
        for f in files:
            args += ["-c", str(f)]
        out = subprocess.run(args, capture_output=True, text=True, check=False, env={**os.environ})
        assert out.returncode == 0, out.stderr
        doc: dict[str, Any] = yaml.safe_load(out.stdout)
        return doc
    merged: dict[str, Any] = {}
    for f in files:
        merged = _merge(merged, yaml.safe_load(_interpolate(f.read_text())))
    for svc in merged.get("services", {}).values():
        svc["volumes"] = [_long_volume(v) for v in svc.get("volumes") or []]
        if isinstance(svc.get("environment"), list):
            svc["environment"] = dict(e.partition("=")[::2] for e in svc["environment"])
    return merged


def _long_volume(v: Any) -> Any:
    """`name:/path[:ro]` as docker writes it out: {type, source, target}."""
    if not isinstance(v, str):
        return v
    source, target = v.split(":")[:2]
    kind = "bind" if source.startswith(("/", ".", "~")) else "volume"
    return {"type": kind, "source": source, "target": target}


def _interpolate(text: str) -> str:
    def sub(m: re.Match[str]) -> str:
        name, _, default = m.group(1).partition(":-")
        return os.environ.get(name) or default

    return re.sub(r"\$\{([^}]+)\}", sub, text)


def _merge(base: Any, over: Any) -> Any:
    if isinstance(base, dict) and isinstance(over, dict):
        out = dict(base)
        for k, v in over.items():
            out[k] = _merge(base.get(k), v) if k in base else v
        return out
    return over


@pytest.fixture(scope="module")
def stack() -> dict[str, Any]:
    return render(STACK)


@pytest.fixture(scope="module")
def raw() -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load(STACK.read_text())
    return doc


def refs(svc: dict[str, Any], key: str) -> list[str]:
    items = svc.get(key) or []
    if isinstance(items, dict):
        return list(items)
    return [i if isinstance(i, str) else i["source"] for i in items]


def test_every_secret_config_network_and_volume_is_defined(stack: dict[str, Any]) -> None:
    problems = []
    for name, svc in stack["services"].items():
        for key in ("secrets", "configs", "networks"):
            for ref in refs(svc, key):
                if ref not in (stack.get(key) or {}):
                    problems.append(f"{name}: {key[:-1]} {ref!r} is not defined")
        for vol in svc.get("volumes") or []:
            if vol["type"] == "volume" and vol["source"] not in (stack.get("volumes") or {}):
                problems.append(f"{name}: volume {vol['source']!r} is not defined")
    assert not problems, problems


def test_config_files_exist(raw: dict[str, Any]) -> None:
    missing = [
        f"{k}: {v['file']}" for k, v in raw["configs"].items() if not (STACK.parent / v["file"]).is_file()
    ]
    assert not missing


def test_secrets_are_external_and_secret_values_never_inline(stack: dict[str, Any]) -> None:
    assert all(s.get("external") for s in stack["secrets"].values()), (
        "create secrets with docker secret create"
    )
    for name, svc in stack["services"].items():
        for var, value in (svc.get("environment") or {}).items():
            if re.search(r"SECRET|PASSWORD|TOKEN", var) and not var.endswith("_FILE"):
                pytest.fail(f"{name}: {var}={value!r} inline; pass it as a Docker secret (*_FILE)")
            if var.endswith("_FILE") and str(value).startswith("/run/secrets/"):
                assert str(value).removeprefix("/run/secrets/") in refs(svc, "secrets"), (name, var)


def test_placement_by_node_role(stack: dict[str, Any]) -> None:
    services = stack["services"]
    assert set(PLACEMENT) <= set(services), set(PLACEMENT) - set(services)
    for name, svc in services.items():
        deploy = svc.get("deploy") or {}
        constraints = (deploy.get("placement") or {}).get("constraints") or []
        if deploy.get("mode") == "global":
            assert not constraints, f"{name}: global services (log shipping) run on every node"
            continue
        roles = []
        for c in constraints:
            m = CONSTRAINT.match(c)
            assert m, f"{name}: constraint {c!r} is not node.labels.parley.role == <role>"
            roles.append(m.group(1))
        assert len(roles) == 1 and roles[0] in ROLES, f"{name}: {constraints}"
        assert roles[0] == PLACEMENT.get(name, roles[0]), f"{name} belongs on the {PLACEMENT[name]} node"


def test_healthchecks_limits_restart_and_update_policies(stack: dict[str, Any]) -> None:
    for name, svc in stack["services"].items():
        deploy = svc.get("deploy") or {}
        job = deploy.get("mode", "").endswith("-job")
        hc = svc.get("healthcheck") or {}
        if job:
            assert deploy["restart_policy"]["condition"] == "on-failure", name
        else:
            assert hc.get("test") and not hc.get("disable"), f"{name} has no healthcheck"
            assert deploy.get("restart_policy", {}).get("condition") == "any", name
            assert deploy.get("update_config", {}).get("order") in {"start-first", "stop-first"}, name
        limits = (deploy.get("resources") or {}).get("limits") or {}
        assert limits.get("cpus") and limits.get("memory"), f"{name} has no cpu/memory limits"


def test_images_are_pinned(stack: dict[str, Any]) -> None:
    for name, svc in stack["services"].items():
        image = svc["image"]
        repo, _, tag = image.rpartition(":")
        assert repo and "/" not in tag and tag not in {"", "latest"}, f"{name}: {image} has no pinned tag"
        assert re.search(r"\d", tag), f"{name}: {image}: pin a version, not a moving tag"


def test_one_shot_migration_and_scaling_knobs(raw: dict[str, Any], stack: dict[str, Any]) -> None:
    migrate = stack["services"]["migrate"]
    assert migrate["deploy"]["mode"] == "replicated-job" and migrate["command"] == ["parley-migrate"]
    assert "${PARLEY_STT_REPLICAS" in str(raw["services"]["stt"]["deploy"]["replicas"])
    assert "${PARLEY_TRANSLATE_REPLICAS" in str(raw["services"]["translate"]["deploy"]["replicas"])
    redis = stack["services"]["redis"]
    assert (
        "--appendonly" in redis["command"]
        and redis["command"][redis["command"].index("--appendonly") + 1] == "yes"
    )


def test_networks_internal_where_possible(stack: dict[str, Any]) -> None:
    nets = stack["networks"]
    for name in ("backend", "media", "monitoring"):
        assert nets[name].get("internal") is True, name
    # Redis and Postgres are reachable only on the internal backend network.
    for name in ("redis", "postgres", "stt", "translate", "persister"):
        assert refs(stack["services"][name], "networks") == ["backend"], name


def test_sfu_publishes_its_rtc_range_in_host_mode(stack: dict[str, Any]) -> None:
    sfu = stack["services"]["sfu"]
    env = sfu["environment"]
    # One WebRtcServer per worker: UDP and TCP on SFU_WEBRTC_PORT + worker index, nothing else
    # published (a port per transport let guests exhaust the range: tests/security/test_sfu_ports.py).
    first, workers = int(env["SFU_WEBRTC_PORT"]), int(env["SFU_NUM_WORKERS"])
    webrtc = set(range(first, first + workers))
    for proto in ("udp", "tcp"):
        published = {p["published"] for p in sfu["ports"] if p["protocol"] == proto and p["mode"] == "host"}
        assert published == webrtc, proto
    assert len(sfu["ports"]) == 2 * workers
    assert all(p["target"] == p["published"] for p in sfu["ports"]), "announced ports must equal bound ports"
    plain = range(int(env["SFU_RTC_MIN_PORT"]), int(env["SFU_RTC_MAX_PORT"]) + 1)
    assert not webrtc & set(plain), "the plain RTP range must not overlap the WebRTC ports"
    # The ingest's name on the media network only: `ingest` itself resolves, from the SFU (on three
    # networks), to its address on whichever network Docker's DNS answers for (the backend,
    # where nothing listens for RTP: no audio reached Redis in the first real deploy).
    host, _, port = env["INGEST_RTP_TARGETS"].partition(":")
    assert port == "5004"
    ingest_nets = stack["services"]["ingest"]["networks"]
    assert isinstance(ingest_nets, dict) and host in (ingest_nets["media"] or {}).get("aliases", []), (
        ingest_nets
    )
    # Signalling comes through Caddy: its X-Forwarded-For names the client (per-address limits).
    assert env["SFU_TRUSTED_PROXIES"] == "tasks.caddy" and "caddy" in stack["services"]
    ingest = stack["services"]["ingest"]
    # Two replicas, each its own address (dnsrr): the SFU sends every producer to both.
    assert ingest["deploy"]["endpoint_mode"] == "dnsrr" and int(ingest["deploy"]["replicas"]) >= 2
    assert "media" in refs(sfu, "networks") and "media" in refs(ingest, "networks")
    # The ingest binds its plain RTP port to its address on the media network only.
    subnet = stack["networks"]["media"]["ipam"]["config"][0]["subnet"]
    assert ingest["environment"]["PARLEY_INGEST_RTP_HOST"] == subnet
    assert "media" not in refs(stack["services"]["gateway"], "networks")


def test_redis_is_highly_available_across_the_three_nodes(stack: dict[str, Any]) -> None:
    """A master and a replica on different nodes, a sentinel on each node (quorum 2 of 3), and
    every service (the SFU too) finding the master through all three sentinels."""
    services = stack["services"]
    replica = services["redis-replica"]["command"]
    assert replica[replica.index("--replicaof") + 1] == "redis"
    sentinels = sorted(n for n in services if n.startswith("sentinel-"))
    assert sentinels == ["sentinel-ai", "sentinel-media", "sentinel-monitoring"]
    for name in sentinels:
        env = services[name]["environment"]
        assert env["SENTINEL_MASTER_HOST"] == "redis" and env["SENTINEL_QUORUM"] == "2", env
        assert services[name]["volumes"], "a sentinel keeps what it learned across restarts"
    hosts = "sentinel-ai:26379,sentinel-media:26379,sentinel-monitoring:26379/parley/0"
    for name, svc in services.items():
        env = svc.get("environment") or {}
        for key in ("PARLEY_REDIS_URL", "REDIS_URL"):
            if key in env:  # as the service's own Redis user (stack/config/redis-users.acl), if any
                assert re.fullmatch(rf"sentinel://([a-z]+@)?{hosts}", env[key]), (name, env[key])
    assert services["sfu"]["environment"]["REDIS_URL"] == f"sentinel://sfu@{hosts}"
    # Both data nodes load the same users (either may be the master), the replication and the
    # sentinels' users included; the sentinels log in with theirs.
    for name in ("redis", "redis-replica"):
        node_secrets = set(refs(services[name], "secrets"))
        assert {"parley_redis_replica", "parley_redis_sentinel", "parley_redis_stt"} <= node_secrets, name
        assert services[name]["entrypoint"] == ["sh", "/etc/redis/redis-node.sh"]
    for name in sentinels:
        assert services[name]["environment"]["SENTINEL_AUTH_USER"] == "sentinel"


def test_postgres_is_backed_up_off_its_node(stack: dict[str, Any]) -> None:
    """The backup job dumps the database the services use into a volume of its own, on another
    node than Postgres, with the scripts `make restore-check` tests."""
    services = stack["services"]
    backup = services["backup"]
    assert node_role(backup) != node_role(services["postgres"])
    env = backup["environment"]
    assert (
        env["PGHOST"] == "postgres"
        and env["PGDATABASE"] == services["postgres"]["environment"]["POSTGRES_DB"]
    )
    assert int(env["BACKUP_INTERVAL_S"]) <= 3600 and int(env["BACKUP_KEEP"]) >= 24
    assert any(v["target"] == env["BACKUP_DIR"] for v in backup["volumes"])
    targets = {c["target"] for c in backup["configs"]}
    assert {"/usr/local/bin/parley-pg-backup.sh", "/usr/local/bin/parley-pg-restore.sh"} <= targets


def node_role(svc: dict[str, Any]) -> str:
    (constraint,) = svc["deploy"]["placement"]["constraints"]
    m = CONSTRAINT.match(constraint)
    assert m, constraint
    return m.group(1)


def test_gpu_override_runs_cuda_float16() -> None:
    merged = render(STACK, GPU)
    for name, prefix in (("stt", "PARLEY_STT_"), ("translate", "PARLEY_TRANSLATE_")):
        env = merged["services"][name]["environment"]
        assert env[prefix + "DEVICE"] == "cuda" and env[prefix + "COMPUTE_TYPE"] == "float16", env
        assert merged["services"][name]["image"].endswith("-gpu")
        assert merged["services"][name]["healthcheck"]["test"], "the override keeps the healthcheck"


@pytest.mark.parametrize("dockerfile", sorted(IMAGES.glob("*/Dockerfile")), ids=lambda p: p.parent.name)
def test_dockerfiles(dockerfile: Path) -> None:
    text = dockerfile.read_text()
    args = dict(re.findall(r"^ARG (\w+)=(\S+)$", text, re.M))
    froms = re.findall(r"^FROM (\S+)", text, re.M)
    assert len(froms) >= 2, "multi-stage"
    stages = set(re.findall(r"^FROM \S+ AS (\S+)", text, re.M))
    for f in froms:
        image = re.sub(r"\$\{(\w+)\}", lambda m: args[m.group(1)], f)
        if image in stages:
            continue
        tag = image.rpartition(":")[2]
        assert ":" in image and tag != "latest" and re.search(r"\d+\.\d+", tag), f"unpinned base {image}"
    users = re.findall(r"^USER (\S+)", text, re.M)
    assert users and users[-1] not in {"root", "0"}, "runs as root"
    assert re.search(r"^HEALTHCHECK ", text, re.M)
    assert (ROOT / ".dockerignore").is_file()


def test_secrets_env_shim(tmp_path: Path) -> None:
    (tmp_path / "jt").write_text("s3cret-join-token\n")
    (tmp_path / "pw").write_text("p@ss/word")
    env = {
        "PATH": os.environ["PATH"],
        "PARLEY_JOIN_TOKEN_SECRET_FILE": str(tmp_path / "jt"),
        "PARLEY_DATABASE_PASSWORD_FILE": str(tmp_path / "pw"),
        "PARLEY_DATABASE_URL": "postgresql+asyncpg://parley@postgres:5432/parley",
    }
    out = subprocess.run(
        ["sh", str(IMAGES / "secrets-env.sh"), "env"], env=env, capture_output=True, text=True, check=True
    ).stdout
    got = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
    assert got["PARLEY_JOIN_TOKEN_SECRET"] == "s3cret-join-token"
    assert got["PARLEY_DATABASE_URL"] == "postgresql+asyncpg://parley:p%40ss%2Fword@postgres:5432/parley"
    assert not any(k.endswith("_FILE") for k in got) and "PARLEY_DATABASE_PASSWORD" not in got


def test_the_gateway_image_serves_the_meeting_ui() -> None:
    """The deployed gateway serves frontend/ built into its image (else: the old caption viewer)."""
    text = (IMAGES / "gateway" / "Dockerfile").read_text()
    ui_dir = re.search(r"PARLEY_GATEWAY_FRONTEND_DIR=(\S+)", text)
    assert ui_dir, "the image does not tell the gateway where the UI is"
    stage = re.search(r"^FROM \S+ AS (\w+)\n(?:(?!^FROM ).*\n)*?RUN npm run[^\n]*build", text, re.M)
    assert stage, "no stage builds frontend/ (npm run build)"
    copies = re.findall(rf"^COPY --from={stage.group(1)} (\S+) (\S+)$", text, re.M)
    assert any(src.endswith("/dist") and dst.rstrip("/") == ui_dir.group(1) for src, dst in copies), copies
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert not {"frontend", "frontend/", "frontend/src"} & set(ignored), "the build context lacks frontend/"


def test_the_page_reaches_the_sfu_through_the_tls_entry(stack: dict[str, Any]) -> None:
    """The page's SFU address: the gateway's PARLEY_GATEWAY_SFU_URL, else the page's own origin +
    /ws (frontend/src/api.ts); either must be a path the Caddyfile sends to the SFU on 443, which
    the edge publishes and passes to Caddy (stack/config/haproxy.cfg)."""
    env = stack["services"]["gateway"]["environment"]
    url = env.get("PARLEY_GATEWAY_SFU_URL")
    if url:
        assert re.fullmatch(r"wss://[^/:]+/ws", url), url
    else:
        api = (ROOT / "frontend" / "src" / "api.ts").read_text()
        assert "${location.host}/ws`" in api, "the page's default SFU address is not its own origin's /ws"
    caddyfile = (ROOT / "stack" / "config" / "Caddyfile").read_text()
    sfu = r"(sfu|\{\$PARLEY_SFU_UPSTREAM:sfu):"
    assert re.search(r"handle /ws \{\s*reverse_proxy " + sfu, caddyfile), "Caddy does not send /ws to the SFU"
    assert {p["published"] for p in stack["services"]["edge"]["ports"]} >= {443}
    assert stack["services"]["edge"]["environment"]["EDGE_CADDY"] == "caddy:443"


def test_no_virtual_ips_and_no_routing_mesh(stack: dict[str, Any]) -> None:
    """Every service is found by DNS round robin (its tasks' own addresses) and publishes in host
    mode: a VIP and the ingress mesh need IPVS on every node (a kernel without it, as on the CI
    machine, deploys but nothing answers), and the mesh would NAT the SFU's UDP and hide clients'
    addresses from the TLS entry (docs/deploy.md, "Service addresses")."""
    for name, svc in stack["services"].items():
        assert (svc.get("deploy") or {}).get("endpoint_mode") == "dnsrr", f"{name} would get a VIP"
        for port in svc.get("ports") or []:
            assert port.get("mode") == "host", f"{name}: {port} goes through the routing mesh"


def test_caddy_issuer_is_a_setting(stack: dict[str, Any]) -> None:
    """The Caddyfile's issuer ({$PARLEY_TLS_ISSUER:acme}) can be chosen from the stack's
    environment: a site without public DNS (and swarm-check) uses Caddy's internal CA."""
    caddyfile = (ROOT / "stack" / "config" / "Caddyfile").read_text()
    wanted = set(re.findall(r"\{\$(PARLEY_[A-Z_]+)", caddyfile)) - {
        "PARLEY_CADDY_HTTPS_PORT",  # tests only: in the stack the edge passes 443 to Caddy's 443
        "PARLEY_SFU_UPSTREAM",  # tests only: the stack's services are named sfu, gateway
        "PARLEY_GATEWAY_UPSTREAM",
    }
    env = stack["services"]["caddy"]["environment"]
    assert wanted <= set(env), wanted - set(env)
    assert env["PARLEY_TLS_ISSUER"] == "acme"


OFFLINE = ROOT / "stack" / "docker-stack.offline.yml"
# What `make images` builds for the third-party services (the images/swarm interface).
STAND_INS = {
    "local/redis:bookworm",
    "local/postgres:bookworm",
    "local/caddy:2.9.1",
    "local/haproxy:bookworm",
    "local/coturn:bookworm",
    "local/prometheus:bookworm",
    "local/alertmanager:bookworm",
}


def test_offline_override_swaps_only_what_cannot_exist_offline(stack: dict[str, Any]) -> None:
    """stack/docker-stack.offline.yml: third-party images -> local stand-ins, Grafana/Loki/promtail
    (no image here) scaled to 0; nothing else of the stack changes."""
    over = yaml.safe_load(OFFLINE.read_text())
    assert set(over) == {"version", "services"}
    for name, svc in over["services"].items():
        assert name in stack["services"], name
        if name in {"grafana", "loki", "promtail"}:
            assert svc == {"deploy": {"replicas": 0}} or svc == {
                "deploy": {"mode": "replicated", "replicas": 0}
            }, (name, svc)
            continue
        assert set(svc) == {"image"} and svc["image"] in STAND_INS, (name, svc)
        assert "parley/" not in stack["services"][name]["image"], f"{name}: Parley's own image"
    third_party = {n for n, s in stack["services"].items() if "/parley/" not in s["image"]}
    assert third_party == set(over["services"]), third_party ^ set(over["services"])
    merged = render(STACK, OFFLINE)
    for name in ("grafana", "loki", "promtail"):
        assert merged["services"][name]["deploy"]["replicas"] == 0
    assert merged["services"]["postgres"]["healthcheck"] == stack["services"]["postgres"]["healthcheck"]


def test_edge_connection_limit_is_a_setting(raw: dict[str, Any], stack: dict[str, Any]) -> None:
    """HAProxy asks for ~2 file descriptors per allowed connection and refuses to start where the
    task's nofile limit is lower (a host whose limit cannot be raised: 20000 on the CI machine, so
    20000 connections cannot start there): EDGE_MAXCONN comes from the environment, default 20000."""
    assert "${EDGE_MAXCONN:-20000}" in str(raw["services"]["edge"]["environment"]["EDGE_MAXCONN"])
    assert str(stack["services"]["edge"]["environment"]["EDGE_MAXCONN"]) == "20000"  # docker renders a string
    assert 'maxconn "${EDGE_MAXCONN}"' in (ROOT / "stack" / "config" / "haproxy.cfg").read_text()


def test_stt_reservation_is_a_setting(raw: dict[str, Any], stack: dict[str, Any]) -> None:
    """STT updates start-first: the new replica needs its CPU reservation free on the AI node beside
    the old one, or it stays pending and `docker service update` never ends (a 2-core AI node with
    the default of 1 CPU each: swarm-check). The reservation is a setting, default 1 CPU."""
    stt = raw["services"]["stt"]["deploy"]
    assert stt["update_config"]["order"] == "start-first"
    assert "${PARLEY_STT_CPU_RESERVATION:-1}" in str(stt["resources"]["reservations"]["cpus"])
    assert float(stack["services"]["stt"]["deploy"]["resources"]["reservations"]["cpus"]) == 1.0


@pytest.mark.skipif(shutil.which("pg_dump") is None, reason="pg_dump is not installed")
def test_backup_stops_at_once_on_sigterm(tmp_path: Path) -> None:
    """The backup job is PID 1 of its task: a shell without a SIGTERM handler ignores it, and every
    stop, update or node restart then waits out the grace period for a SIGKILL."""
    env = {
        **os.environ,
        "BACKUP_DIR": str(tmp_path),
        "PGHOST": str(tmp_path / "no-server"),
        "PGCONNECT_TIMEOUT": "1",
    }
    proc = subprocess.Popen(
        ["sh", str(STACK.parent / "config" / "pg-backup.sh")],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    time.sleep(1.5)  # its pg_dump fails at once (no server): then it pauses 60 s before the next try
    sent = time.monotonic()
    proc.terminate()
    try:
        rc = proc.wait(5)
    finally:
        proc.kill()
    assert rc == 0 and time.monotonic() - sent < 2, rc


def test_gateway_updates_without_a_gap(stack: dict[str, Any]) -> None:
    """A stop-first gateway update left no gateway for ~40 s in make swarm-check: longer than the
    room languages' lease (PARLEY_GATEWAY_LANGUAGE_TTL_S, 30 s), so the finals spoken meanwhile were
    never translated for the waiting listeners (two Spanish finals lost). Start-first: none."""
    gateway = stack["services"]["gateway"]
    assert gateway["deploy"]["update_config"]["order"] == "start-first"
    assert not gateway.get("ports"), "host-mode ports could not be held by two tasks at once"

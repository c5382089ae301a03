"""Every Grafana panel's PromQL and every alert rule run against a real Prometheus that scraped the
running services (STT, translate, RTP ingest, gateway and persister started by LocalStack, the SFU
when it is built, one LibriVox clip spoken into a room with a Spanish listener, one malformed
message of each kind), and every metric they use has samples: a metric that is declared but never
set fails here (issue 7, issue 14)."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
import redis.asyncio as aioredis
import yaml
from parley_common import keys
from parley_feeder.feeder import load_audio, open_speaker
from parley_testkit.caption_client import CaptionClient
from parley_testkit.procs import LocalStack, free_port

ROOT = Path(__file__).resolve().parents[2]
MON = ROOT / "monitoring"
LOGS = ROOT / "artifacts" / "logs" / "deploy"
CLIP = Path("/usr/share/pocketsphinx/test/data/librivox/sense_and_sensibility_01_austen_64kb-0870.wav")
SFU_DIR = ROOT / "mediasoup-node"
SFU_BUILT = (SFU_DIR / "dist" / "src" / "main.js").exists()
JOB_OF = {
    "ingest-1": "parley-ingest",
    "stt-1": "parley-stt",
    "translate-1": "parley-translate",
    "gateway": "parley-gateway",
    "persister": "parley-persister",
}
# Services this test does not start: their metric names are checked against their source instead.
NOT_STARTED: dict[str, Path] = {}
if not SFU_BUILT:  # `make test` builds it first; a bare pytest run may not have
    NOT_STARTED["parley_sfu_"] = SFU_DIR / "src"
PG = os.environ.get("PARLEY_TEST_PG", "postgresql+asyncpg://postgres@127.0.0.1:5432")
DATABASE_URL = f"{PG}/parley_dashboard"
TOKEN = re.compile(r"\b(parley_[a-z0-9_]+)\b")


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as resp:
        return json.loads(resp.read())


def panel_queries() -> list[tuple[str, str]]:
    out = []
    for f in sorted((MON / "grafana" / "dashboards").glob("*.json")):
        for p in json.loads(f.read_text())["panels"]:
            for t in p.get("targets", []):
                if t["datasource"]["type"] == "prometheus":
                    out.append((f"{f.stem}: {p['title']}", t["expr"]))
    return out


def rule_queries() -> list[tuple[str, str]]:
    doc = yaml.safe_load((MON / "prometheus" / "rules" / "parley.rules.yml").read_text())
    return [(r.get("alert") or r["record"], r["expr"]) for g in doc["groups"] for r in g["rules"]]


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, LocalStack]]:
    binary = shutil.which("prometheus")
    assert binary, "Debian's prometheus is needed (scripts/bootstrap.sh)"
    base_url = os.environ.get("PARLEY_REDIS_URL", "redis://127.0.0.1:6379/0")
    url = base_url.rsplit("/", 1)[0] + "/9"
    redis.Redis.from_url(url).flushdb()
    stack = LocalStack(url, LOGS, env={"PARLEY_INGEST_RTP_PORT": str(free_udp_port())})
    subprocess.run(  # creates the database if it is missing, then `alembic upgrade head`
        [sys.executable, "-m", "parley_gateway.db.migrate", "--url", DATABASE_URL], check=True, cwd=ROOT
    )
    stack.start("persister", "parley_gateway.persister", {"PARLEY_DATABASE_URL": DATABASE_URL})
    stack.start_default(ingest=1)
    sfu, sfu_port = start_sfu(url) if SFU_BUILT else (None, 0)
    tmp = tmp_path_factory.mktemp("prom")
    # The committed config, with Swarm DNS discovery swapped for the local processes' ports.
    cfg = yaml.safe_load((MON / "prometheus" / "prometheus.yml").read_text())
    cfg["global"]["scrape_interval"] = "1s"
    cfg["global"]["evaluation_interval"] = "1s"
    cfg["rule_files"] = [str(MON / "prometheus" / "rules" / "parley.rules.yml")]
    cfg.pop("alerting")
    jobs = {j["job_name"]: j for j in cfg["scrape_configs"]}
    for name, sp in stack.procs.items():
        job = jobs[JOB_OF[name]]
        job.pop("dns_sd_configs")
        job["static_configs"] = [{"targets": [f"127.0.0.1:{sp.health_port}"]}]
    scraped = [*JOB_OF.values()]
    if sfu:
        jobs["parley-sfu"].pop("dns_sd_configs")
        jobs["parley-sfu"]["static_configs"] = [{"targets": [f"127.0.0.1:{sfu_port}"]}]
        scraped.append("parley-sfu")
    port = free_port()
    cfg["scrape_configs"] = [*(jobs[j] for j in scraped), jobs["prometheus"]]
    jobs["prometheus"]["static_configs"] = [{"targets": [f"127.0.0.1:{port}"]}]
    (tmp / "prometheus.yml").write_text(yaml.safe_dump(cfg))
    log = open(LOGS / "prometheus.log", "wb")
    proc = subprocess.Popen(
        [
            binary,
            f"--config.file={tmp / 'prometheus.yml'}",
            f"--storage.tsdb.path={tmp / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                if get(f"{base}/api/v1/targets")["data"]["activeTargets"]:
                    break
            except OSError:
                pass
            time.sleep(0.2)
        yield base, stack
    finally:
        proc.terminate()
        proc.wait(10)
        if sfu:
            sfu.terminate()
            sfu.wait(10)
        stack.stop()


def start_sfu(redis_url: str) -> tuple[subprocess.Popen[bytes], int]:
    """The SFU (real mediasoup workers, two of them) on a free port; waits for /healthz."""
    port = free_port()
    env = {
        **os.environ,
        "SFU_WS_HOST": "127.0.0.1",
        "SFU_WS_PORT": str(port),
        "SFU_NUM_WORKERS": "2",
        "SFU_WEBRTC_PORT": "0",  # free ports, not the default 40000-40001
        "REDIS_URL": redis_url,
        "JOIN_TOKEN_SECRET": "dashboard-test-secret-0123456789abcdef",
        "SFU_LOG_LEVEL": "warn",
    }
    LOGS.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen(
        ["scripts/with-env.sh", "node", "dist/src/main.js"],
        cwd=SFU_DIR,
        env=env,
        stdout=open(LOGS / "sfu.log", "wb"),
        stderr=subprocess.STDOUT,
    )
    for _ in range(300):
        try:
            get(f"http://127.0.0.1:{port}/healthz")
            return proc, port
        except OSError:
            if proc.poll() is not None:
                break
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError(f"the SFU did not come up; see {LOGS / 'sfu.log'}")


async def speak_one_clip(stack: LocalStack) -> None:
    """One clip with a Spanish listener, and one malformed message for each service's bad-input counter."""
    r = aioredis.from_url(stack.redis_url)
    try:
        async with CaptionClient(stack.caption_url("mon", "es")) as li:
            sp = await open_speaker(r, "mon", "alice", "Alice", realtime=False, language="en")
            await sp.play(load_audio(str(CLIP)))
            await sp.silence(1.0)
            await sp.end()
            assert await li.wait_for(lambda c: len(c.finals()) >= 1, 90), "no final caption"
            await li.send({"type": "no-such-message"})
            assert await li.wait_for(lambda c: any(e["type"] == "error" for e in c.events), 10)
        for stream in (keys.STT_JOBS_FINAL, keys.TRANSLATE_JOBS_FINAL, keys.PERSIST_CAPTIONS):
            await r.xadd(stream, {"v": "1", "junk": "x"})
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.sendto(b"not rtp", ("127.0.0.1", int(stack.env["PARLEY_INGEST_RTP_PORT"])))
    finally:
        await r.aclose()


def query(base: str, expr: str) -> list[dict[str, Any]]:
    expr = expr.replace("$__rate_interval", "1m").replace('"$service"', '".*"')
    data = get(f"{base}/api/v1/query?" + urllib.parse.urlencode({"query": expr}))
    assert data["status"] == "success", (expr, data)
    result: list[dict[str, Any]] = data["data"]["result"]
    return result


def test_every_panel_and_rule_query_runs_on_scraped_metrics(prometheus: tuple[str, LocalStack]) -> None:
    base, stack = prometheus
    asyncio.run(speak_one_clip(stack))
    time.sleep(3)  # two more scrapes after the last caption
    targets = get(f"{base}/api/v1/targets")["data"]["activeTargets"]
    want = set(JOB_OF.values()) | ({"parley-sfu"} if SFU_BUILT else set())
    assert {t["labels"]["job"] for t in targets if t["health"] == "up"} >= want, targets

    # Names with samples. HELP/TYPE alone (metadata) is not enough: a metric declared and never set,
    # or a labelled one that never got a label, would leave its alert and panels reading nothing.
    series = set(get(f"{base}/api/v1/label/__name__/values")["data"])
    sources = {p: "\n".join(f.read_text() for f in d.rglob("*.[tp][sy]")) for p, d in NOT_STARTED.items()}

    queries = panel_queries() + rule_queries()
    assert len(queries) > 40
    missing = []
    for where, expr in queries:
        query(base, expr)  # parses and evaluates
        for name in set(TOKEN.findall(expr)):
            if name.startswith("parley:"):
                continue
            prefix = next((p for p in NOT_STARTED if name.startswith(p)), None)
            if prefix:
                if f"'{name}'" not in sources[prefix] and f'"{name}"' not in sources[prefix]:
                    missing.append(f"{where}: {name} (not in {NOT_STARTED[prefix]})")
            elif name not in series:
                missing.append(f"{where}: {name} has no samples")
    assert not missing, missing

    # The histograms behind the latency panels have samples from the spoken clip.
    for metric in (
        "parley_gateway_e2e_final_seconds",
        "parley_stt_eos_decision_seconds",
        "parley_stt_job_seconds",
        "parley_translate_job_seconds",
        "parley_gateway_fanout_seconds",
        "parley_stt_real_time_factor",
    ):
        result = query(base, f"sum({metric}_count)")
        assert result and float(result[0]["value"][1]) > 0, metric
    if SFU_BUILT:  # per-worker series for both workers; their CPU counters have run
        for metric in (
            "parley_sfu_worker_transports",
            "parley_sfu_worker_producers",
            "parley_sfu_worker_consumers",
        ):
            result = query(base, f"count({metric})")
            assert result and float(result[0]["value"][1]) == 2, (metric, result)
        cpu = query(base, "sum(parley_sfu_worker_cpu_seconds_total)")
        assert cpu and float(cpu[0]["value"][1]) > 0, cpu
    # The recording rule exists (its value is NaN while a new series has no rate yet); the
    # cumulative histogram gives a plausible p95 for the one clip.
    for _ in range(50):
        if query(base, "parley:gateway_e2e_final_seconds:p95_5m"):
            break
        time.sleep(0.2)
    else:
        pytest.fail("recording rule parley:gateway_e2e_final_seconds:p95_5m never evaluated")
    p95 = query(base, "histogram_quantile(0.95, sum by (le) (parley_gateway_e2e_final_seconds_bucket))")
    assert p95 and 0 < float(p95[0]["value"][1]) < 10, p95

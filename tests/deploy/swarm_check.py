"""`make swarm-check`: the production form, for real (issue 12). Three Docker engines in network
namespaces (media, ai, monitoring) form a Swarm (scripts/swarm/up.sh), the images are carried to
them with docker save | load and stack/docker-stack.yml is deployed with only the offline override
(scripts/swarm/deploy.sh). Then, from a fourth namespace standing for the internet, two Chromium
pages open the invite link through the edge and Caddy (TLS from Caddy's internal CA, which the
browsers trust): Alice speaks (fake microphone, LibriVox speech), Bob reads Spanish captions; both
see each other. While Alice speaks: the STT task's container is killed, stt, translate and gateway
get a rolling update (docker service update --force), the Redis master's container is killed and
the AI node's engine restarts. Every final must reach Bob once (none lost, none doubled) and his
page must come back by itself. Prometheus must scrape every target through the overlay with its
rules loaded, Alertmanager must run, and Postgres must keep the room and its transcript across the
AI node's restart. The last line of the output is one JSON object of what was measured.

Skips (exit 0, reason printed) where namespaces or dockerd cannot run. Always tears down
(scripts/swarm/down.sh): no namespace, engine or iptables rule is left."""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "browser"))
sys.path.insert(0, str(ROOT / "tests" / "deploy"))
SWARM = ROOT / "scripts" / "swarm"
LOGS = ROOT / "artifacts" / "logs" / "swarm"
DOMAIN = "meet.parley.test"
NET = "10.79.0"
MEDIA_IP = f"{NET}.11"
INTERNET_NS = "parley-sw-internet"
STACK = "parley"
NODES = ("media", "ai", "monitoring")
# What the stack reads from the environment, for this run (docs/deploy.md, "Deploy").
ENV = {
    "PARLEY_REGISTRY": "local",
    "PARLEY_VERSION": "dev",
    "PARLEY_DOMAIN": DOMAIN,
    "PARLEY_MEDIA_PUBLIC_IP": MEDIA_IP,
    "PARLEY_TLS_ISSUER": "internal",  # no ACME offline: Caddy's own CA, trusted by the test browsers
    # One of each on a 2-core machine (the stack asks for 2 STT and 2 ingest replicas).
    "PARLEY_STT_REPLICAS": "1",
    "PARLEY_INGEST_REPLICAS": "1",
    # The nofile limit here is 20000 and cannot be raised: HAProxy needs ~2 per connection.
    "EDGE_MAXCONN": "8000",
    # 2 cores per node: a start-first update of STT needs the reservation free twice.
    "PARLEY_STT_CPU_RESERVATION": "0.5",
}
CONVERGE_S = float(os.environ.get("SWARM_CONVERGE_S", "600"))


def log(msg: str) -> None:
    print(f"[swarm-check {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def sh(*args: str, env: dict[str, str] | None = None, timeout: float = 600, check: bool = True) -> str:
    out = subprocess.run(
        args, capture_output=True, text=True, env={**os.environ, **(env or {})}, timeout=timeout
    )
    if check and out.returncode != 0:
        raise RuntimeError(
            f"{' '.join(args)}: rc {out.returncode}\n{out.stdout[-2000:]}\n{out.stderr[-3000:]}"
        )
    return out.stdout


def script(name: str, *args: str, env: dict[str, str] | None = None, timeout: float = 900) -> None:
    """One of scripts/swarm/*.sh, its progress lines (stderr) shown as they come."""
    subprocess.run(
        [str(SWARM / name), *args],
        env={**os.environ, **(env or {})},
        timeout=timeout,
        check=True,
        stdout=sys.stderr,
    )


def dk(node: str, *args: str, timeout: float = 120, check: bool = True) -> str:
    """The docker CLI against one node's engine."""
    return sh(
        "docker", "-H", f"unix:///run/parley-sw/{node}/docker.sock", *args, timeout=timeout, check=check
    )


def skip_reason() -> str | None:
    if os.geteuid() != 0:
        return "needs root (network namespaces, dockerd)"
    for tool in ("ip", "nsenter", "unshare", "iptables", "docker"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed"
    try:
        # In a chroot (not on its own mount), no mount of this process's view has "/" as its point.
        points = {line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines()}
    except OSError:
        return "no /proc: network namespaces and dockerd cannot run here"
    if "/" not in points:
        return "runs in a chroot: dockerd needs the machine's own root (mounts, cgroups, /run)"
    probe = subprocess.run(["unshare", "--net", "--mount", "true"], capture_output=True)
    if probe.returncode != 0:
        return "cannot make network/mount namespaces here (a chroot or an unprivileged container)"
    if not Path("/sys/fs/cgroup").is_dir() or not os.listdir("/sys/fs/cgroup"):
        return "no cgroups mounted: dockerd cannot run containers here"
    from browser_helpers import CHROMIUM

    if not Path(CHROMIUM).exists() or shutil.which("certutil") is None:
        return "chromium and libnss3-tools are needed for the browsers (scripts/bootstrap.sh installs them)"
    return None


# ----------------------------------------------------------------------------- the swarm
def services() -> dict[str, dict[str, Any]]:
    """Per service: desired/running tasks and the state of each task (on the manager)."""
    out: dict[str, dict[str, Any]] = {}
    for line in dk("media", "service", "ls", "--format", "{{json .}}").splitlines():
        s = json.loads(line)
        out[s["Name"].removeprefix(f"{STACK}_")] = s
    return out


def converged(skip: frozenset[str] = frozenset()) -> tuple[bool, list[str]]:
    """Every service's tasks running (jobs: completed) and healthy where a healthcheck exists."""
    waiting = []
    for name, s in services().items():
        if name in skip:
            continue
        m = re.match(r"(\d+)/(\d+)", s["Replicas"])
        assert m, s
        running, desired = int(m.group(1)), int(m.group(2))
        if "job" in s["Mode"]:
            if "1/1 completed" not in s["Replicas"] and "(1/1 completed)" not in s["Replicas"]:
                waiting.append(f"{name} {s['Replicas']}")
        elif running < desired:
            waiting.append(f"{name} {s['Replicas']}")
    if not waiting:
        for node in NODES:
            for line in dk(node, "ps", "--format", "{{.Names}} {{.Status}}").splitlines():
                if ("(health: starting)" in line or "(unhealthy)" in line) and not any(
                    f"{STACK}_{n}." in line for n in skip
                ):
                    waiting.append(f"{node}: {line}")
    return not waiting, waiting


def task_errors() -> list[str]:
    errors = []
    for name in services():
        for line in dk(
            "media",
            "service",
            "ps",
            "--no-trunc",
            "--format",
            "{{.Node}} {{.CurrentState}} {{.Error}}",
            f"{STACK}_{name}",
        ).splitlines()[:3]:
            if line.split(" ", 1)[-1].strip() and ("Rejected" in line or "Failed" in line or "err" in line):
                errors.append(f"{name}: {line}")
    return errors


def wait_converged(what: str, timeout: float = CONVERGE_S, skip: frozenset[str] = frozenset()) -> float:
    t0 = time.monotonic()
    last: list[str] = []
    while True:
        ok, waiting = converged(skip)
        if ok:
            log(f"{what}: converged in {time.monotonic() - t0:.0f} s")
            return time.monotonic() - t0
        if waiting != last:
            log(f"{what}: waiting for {', '.join(waiting)}")
            last = waiting
        if time.monotonic() - t0 > timeout:
            raise AssertionError(
                f"{what}: not converged after {timeout:.0f} s: {waiting}\n" + "\n".join(task_errors())
            )
        time.sleep(3)


def container(node: str, service: str) -> str:
    """The running container of `service`'s task on `node`."""
    ids = dk(node, "ps", "-q", "--filter", f"label=com.docker.swarm.service.name={STACK}_{service}").split()
    assert ids, f"no running {service} container on the {node} node"
    return ids[0]


def node_of(service: str) -> str:
    for line in dk(
        "media",
        "service",
        "ps",
        "--filter",
        "desired-state=running",
        "--format",
        "{{.Node}}",
        f"{STACK}_{service}",
    ).splitlines():
        return line.strip()
    raise AssertionError(f"{service} has no running task")


def running_tasks(node: str) -> set[str]:
    """The tasks the manager holds as running (their desired state) on `node`."""
    out = dk("media", "node", "ps", node, "--filter", "desired-state=running", "--format", "{{.ID}}")
    return set(out.split())


def in_service(service: str, *cmd: str, timeout: float = 60) -> str:
    node = node_of(service)
    return dk(node, "exec", container(node, service), *cmd, timeout=timeout)


# ----------------------------------------------------------------------------- checks
def prometheus_api(path: str) -> Any:
    body = in_service("prometheus", "wget", "-q", "-O", "-", f"http://127.0.0.1:9090{path}")
    doc = json.loads(body)
    assert doc["status"] == "success", doc
    return doc["data"]


def prometheus_targets(timeout: float = 120) -> tuple[int, int, list[str]]:
    """(up, total, down) over Prometheus's active targets, once every job with tasks was scraped."""
    deadline = time.monotonic() + timeout
    while True:
        targets = prometheus_api("/api/v1/targets?state=active")["activeTargets"]
        down = [
            f"{t['labels']['job']} {t['scrapeUrl']}: {t.get('lastError', '')}"
            for t in targets
            if t["health"] != "up"
        ]
        jobs = {t["labels"]["job"] for t in targets}
        want = {
            "parley-stt",
            "parley-translate",
            "parley-gateway",
            "parley-ingest",
            "parley-persister",
            "parley-sfu",
            "prometheus",
            "alertmanager",
        }
        if (not down and want <= jobs) or time.monotonic() > deadline:
            return len(targets) - len(down), len(targets), down + [f"missing job {j}" for j in want - jobs]
        time.sleep(5)


def psql(sql: str) -> str:
    return in_service("postgres", "psql", "-U", "parley", "-d", "parley", "-At", "-c", sql).strip()


def redis_master() -> str:
    """The service whose Redis the sentinels name master now (redis or redis-replica)."""
    out = in_service(
        "sentinel-monitoring", "redis-cli", "-p", "26379", "sentinel", "get-master-addr-by-name", "parley"
    )
    return out.split()[0]


# ----------------------------------------------------------------------------- browsers
# Records every caption message the page's caption socket receives (with its timing), and when
# the page's microphone opened (Chromium's fake capture starts its WAV then).
RECORD = """
window.__caps = [];
window.__micOpened = [];
const WS = window.WebSocket;
window.WebSocket = class extends WS {
  constructor(url, ...rest) {
    super(url, ...rest);
    if (String(url).includes('/captions')) {
      this.addEventListener('message', (ev) => {
        try {
          const m = JSON.parse(ev.data);
          if (m.type === 'caption') window.__caps.push({at: Date.now() / 1000, earlier: m.earlier === true, caption: m.caption});
        } catch (e) {}
      });
    }
  }
};
const gum = navigator.mediaDevices.getUserMedia.bind(navigator.mediaDevices);
navigator.mediaDevices.getUserMedia = async (c) => {
  const s = await gum(c);
  if (c && c.audio) window.__micOpened.push(Date.now() / 1000);
  return s;
};
"""


def trusting_home(path: Path, root_ca: Path) -> Path:
    """A HOME whose NSS database (Chromium's locally trusted roots) trusts Caddy's internal CA."""
    db = path / ".pki" / "nssdb"
    db.mkdir(parents=True)
    sh("certutil", "-d", f"sql:{db}", "-N", "--empty-password")
    sh("certutil", "-d", f"sql:{db}", "-A", "-t", "C,,", "-n", "parley-swarm-ca", "-i", str(root_ca))
    return path


def launch(pw: Any, tmp: Path, name: str, root_ca: Path, wav: Path | None) -> Any:
    from browser_helpers import CHROMIUM, CHROMIUM_ARGS

    wrapper = tmp / f"chromium-{name}"
    wrapper.write_text(f'#!/bin/sh\nexec nsenter --net=/run/netns/{INTERNET_NS} {CHROMIUM} "$@"\n')
    wrapper.chmod(0o755)
    args = [*CHROMIUM_ARGS, f"--host-resolver-rules=MAP {DOMAIN} {MEDIA_IP}, MAP turn.{DOMAIN} {MEDIA_IP}"]
    if wav:
        args.append(f"--use-file-for-fake-audio-capture={wav}")
    home = trusting_home(tmp / f"home-{name}", root_ca)
    return pw.chromium.launch(executable_path=str(wrapper), args=args, env={**os.environ, "HOME": str(home)})


def wait_on(what: str, check: Any, timeout: float, page: Any) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            page.screenshot(path=str(LOGS / f"failure-{re.sub(r'[^a-z]+', '-', what.lower())[:40]}.png"))
            raise AssertionError(f"timed out waiting for {what}")
        page.wait_for_timeout(500)


def status(page: Any) -> str:
    return str(page.get_by_test_id("status").get_attribute("data-state") or "")


def join(page: Any, url: str, name: str, lang: str, speak: bool) -> None:
    page.goto(url)
    page.get_by_test_id("lobby-name").fill(name)
    page.get_by_test_id("lobby-lang").select_option(lang)
    wait_on(
        f"{name}'s microphones listed",
        lambda: page.get_by_test_id("lobby-mic").locator("option").count() > 1,
        20,
        page,
    )
    if not speak:
        page.get_by_test_id("lobby-mic").select_option("")  # listen only
    page.get_by_test_id("join").click()
    wait_on(f"{name} live", lambda: status(page) == "live", 60, page)


def rows(page: Any) -> list[dict[str, str]]:
    found: list[dict[str, str]] = page.eval_on_selector_all(
        "[data-testid=transcript] li",
        "els => els.map(e => ({id: e.dataset.id, lang: e.dataset.lang, text: e.querySelector('.text').textContent}))",
    )
    return found


@dataclass
class Clip:
    name: str
    offset: float  # s from the start of the WAV
    length: float


@dataclass
class Fault:
    name: str
    at: float  # epoch s
    back_s: float = 0.0  # until Bob's page showed a final of speech after it
    extra: dict[str, Any] = field(default_factory=dict)


def speech_plan(path: Path, lead_s: float, gap_s: float) -> tuple[list[Clip], float]:
    """The speaker's WAV (tests/browser's LibriVox clips after `lead_s` of room tone, `gap_s` after
    each) and where each clip lies in it; returns (clips, the WAV's length)."""
    import wave

    from browser_helpers import CLIPS, LIBRIVOX, speech_wav

    speech_wav(path, gap_s=gap_s, lead_s=lead_s)
    clips, at = [], lead_s
    for name in CLIPS:
        with wave.open(str(LIBRIVOX / f"{name}.wav")) as w:
            length = w.getnframes() / w.getframerate()
        clips.append(Clip(name, at, length))
        at += length + gap_s
    with wave.open(str(path)) as w:
        total = w.getnframes() / w.getframerate()
    return clips, total


def spoken_between(
    clips: list[Clip], period: float, mic_open: float, since: float, until: float
) -> list[tuple[float, float]]:
    """(start, end) epoch s of every clip played (the WAV loops) that ended within [since, until]."""
    out: list[tuple[float, float]] = []
    k = 0
    while True:
        base = mic_open + k * period
        if base > until:
            return out
        for c in clips:
            start = base + c.offset
            if since <= start + c.length <= until:
                out.append((start, start + c.length))
        k += 1


def account(
    caps: list[dict[str, Any]], page_rows: list[dict[str, str]], spoken: list[tuple[float, float]], lang: str
) -> dict[str, Any]:
    """Finals at the listener against the clips spoken: a clip with no final whose audio overlaps
    it is lost; a caption id delivered (or shown) twice is doubled."""
    finals = [
        c for c in caps if c["caption"]["type"] == "final" and c["caption"]["text"] and not c["earlier"]
    ]
    mine = [c for c in finals if c["caption"]["lang"] == lang]
    delivered = Counter(c["caption"]["id"] for c in mine)
    shown = Counter(r["id"] for r in page_rows)
    doubled = sum(n - 1 for n in delivered.values() if n > 1) + sum(n - 1 for n in shown.values() if n > 1)
    by_clip: list[list[str]] = [[] for _ in spoken]
    for c in mine:
        cap = c["caption"]
        hi = float(cap["timing"].get("speech_end") or 0)
        lo = hi - (float(cap["end"]) - float(cap["start"]))
        best, overlap = None, 0.0
        for i, (s, e) in enumerate(spoken):
            ov = min(hi, e) - max(lo, s)
            if ov > overlap:
                best, overlap = i, ov
        if best is not None:
            by_clip[best].append(cap["id"])
    lost = [spoken[i] for i, got in enumerate(by_clip) if not got]
    # The speaker's utterances are numbered in order: a number missing between the first and the
    # last delivered is a final lost too, whatever the audio matching says.
    missing: list[str] = []
    for stream in {c["caption"]["id"].rsplit("/", 1)[0] for c in mine}:
        utts = {int(c["caption"]["utt"]) for c in mine if c["caption"]["id"].startswith(stream + "/")}
        missing += [f"{stream}/{u}" for u in range(min(utts), max(utts) + 1) if u not in utts]
    gaps = len(missing)
    return {
        "utt_gaps": gaps,
        "missing_ids": missing,
        "finals": len(delivered),
        "lost": max(len(lost), gaps),
        "lost_at": [round(s) for s, _ in lost],
        "doubled": doubled,
        "clips": len(spoken),
    }


# ----------------------------------------------------------------------------- the scenario
def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument(
        "--keep", action="store_true", help="leave the swarm running (tear down with scripts/swarm/down.sh)"
    )
    ap.add_argument(
        "--why-skip", action="store_true", help="print why it would skip (nothing: it runs) and exit"
    )
    args = ap.parse_args()
    reason = skip_reason()
    if args.why_skip:
        print(reason or "")
        return 0
    if reason:
        print(f"swarm-check: skipped: {reason}")
        print(json.dumps({"skipped": reason}))
        return 0
    LOGS.mkdir(parents=True, exist_ok=True)
    # One swarm per machine (fixed namespace names, bridge, /run/parley-sw): a second run, e.g. a
    # `make test` in another clone, waits here instead of tearing this one down.
    lock = open("/run/parley-swarm-check.lock", "w")  # held until the process ends
    t_lock = time.monotonic()
    fcntl.flock(lock, fcntl.LOCK_EX)
    if time.monotonic() - t_lock > 1:
        log(f"waited {time.monotonic() - t_lock:.0f} s for another swarm-check to finish")
    result: dict[str, Any] = {"nodes": 0}
    ok = False
    env = {**ENV, "PARLEY_ADMIN_PASSWORD": secrets.token_hex(16)}
    try:
        ok = scenario(result, env)
    except Exception as exc:  # the JSON line still comes, with the error
        traceback.print_exc()
        result["error"] = f"{type(exc).__name__}: {str(exc)[:500]}"
        collect_logs()
    finally:
        if not args.keep:
            t = time.monotonic()
            subprocess.run([str(SWARM / "down.sh")], timeout=300, check=False)
            log(f"torn down in {time.monotonic() - t:.0f} s")
    print(json.dumps(result))
    return 0 if ok else 1


def collect_logs() -> None:
    """Every service's log, for the artifacts (after a failure)."""
    try:
        for name in services():
            out = subprocess.run(
                [
                    "docker",
                    "-H",
                    "unix:///run/parley-sw/media/docker.sock",
                    "service",
                    "logs",
                    "--raw",
                    "--tail",
                    "200",
                    f"{STACK}_{name}",
                ],
                capture_output=True,
                text=True,
                timeout=30,
            )
            (LOGS / f"service-{name}.log").write_text(out.stdout + out.stderr)
    except Exception as exc:
        log(f"could not collect logs: {exc}")


def image_sizes() -> dict[str, float]:
    """MB of each image (artifacts/images.json, written by make images)."""
    path = ROOT / "artifacts" / "images.json"
    if path.is_file():
        sizes: dict[str, float] = json.loads(path.read_text())["images"]
        return sizes
    return {}


def scenario(result: dict[str, Any], env: dict[str, str]) -> bool:
    t_start = time.monotonic()
    script("up.sh", timeout=300)
    result["nodes"] = len(dk("media", "node", "ls", "-q").split())
    result["images"] = image_sizes()
    script("deploy.sh", env=env)
    deployed = time.time()
    # The backup job's first dump waits for Postgres, then its healthcheck for the dump (~2 min):
    # nothing in the meeting needs it, so it is awaited at the end.
    result["converge_s"] = round(wait_converged("deploy", skip=frozenset({"backup"})))
    log(
        "Grafana, Loki and promtail are not running: no image of theirs exists offline (stack/docker-stack.offline.yml)"
    )
    result["offline_scaled_to_0"] = ["grafana", "loki", "promtail"]

    # Monitoring: every target up through the overlay, the rules loaded, Alertmanager known.
    up, total, down = prometheus_targets()
    result["prometheus_targets_up"], result["prometheus_targets_total"] = up, total
    groups = prometheus_api("/api/v1/rules")["groups"]
    result["prometheus_rules"] = sum(len(g["rules"]) for g in groups)
    ams = prometheus_api("/api/v1/alertmanagers")["activeAlertmanagers"]
    ready = in_service("alertmanager", "wget", "-q", "-O", "-", "http://127.0.0.1:9093/-/ready")
    result["alertmanager_up"] = bool(ams) and "ok" in ready.lower()
    log(
        f"prometheus: {up}/{total} targets up, {result['prometheus_rules']} rules, alertmanagers {[a['url'] for a in ams]}; down: {down}"
    )

    with tempfile.TemporaryDirectory(prefix="swarm-check-") as tmp:
        ok = meeting(Path(tmp), result, env, deployed)
    result["prometheus_targets_up_end"], _, _ = prometheus_targets(timeout=60)
    result["total_s"] = round(time.monotonic() - t_start)
    checks = [
        result["nodes"] == 3,
        up == total and total >= 8,
        result["prometheus_rules"] > 0,
        result["alertmanager_up"],
        ok,
    ]
    return all(checks)


def caddy_root(tmp: Path) -> Path:
    """Caddy's internal root certificate, out of its data volume on the media node."""
    path = tmp / "root.crt"
    deadline = time.monotonic() + 60
    while True:
        pem = (
            in_service("caddy", "cat", "/data/caddy/pki/authorities/local/root.crt", timeout=20)
            if True
            else ""
        )
        if "BEGIN CERTIFICATE" in pem:
            path.write_text(pem)
            return path
        if time.monotonic() > deadline:
            raise AssertionError("Caddy has no internal CA root")
        time.sleep(2)


def api(
    tmp: Path, root: Path, method: str, path: str, body: dict[str, Any] | None = None, bearer: str = ""
) -> Any:
    """An HTTPS call from the internet namespace through the edge and Caddy (curl, trusting the CA)."""
    cmd = [
        "nsenter",
        f"--net=/run/netns/{INTERNET_NS}",
        "curl",
        "-sS",
        "--fail-with-body",
        "--max-time",
        "20",
        "--cacert",
        str(root),
        "--resolve",
        f"{DOMAIN}:443:{MEDIA_IP}",
        "-X",
        method,
        "-H",
        "content-type: application/json",
    ]
    if bearer:
        cmd += ["-H", f"authorization: Bearer {bearer}"]
    if body is not None:
        cmd += ["--data", json.dumps(body)]
    return json.loads(sh(*cmd, f"https://{DOMAIN}{path}", timeout=30) or "null")


def meeting(tmp: Path, result: dict[str, Any], env: dict[str, str], deployed: float) -> bool:
    from playwright.sync_api import sync_playwright

    root = caddy_root(tmp)
    login = api(
        tmp,
        root,
        "POST",
        "/api/v1/auth/login",
        {"username": "admin", "password": env["PARLEY_ADMIN_PASSWORD"]},
    )
    admin = login["access_token"]
    room = "swarm-check"
    api(
        tmp,
        root,
        "POST",
        "/api/v1/rooms",
        {"name": "Swarm check", "slug": room, "spoken_languages": ["en"]},
        admin,
    )
    code = api(tmp, root, "POST", f"/api/v1/rooms/{room}/invites", {}, admin)["code"]
    link = f"https://{DOMAIN}/join/{code}"
    lead_s, gap_s = 6.0, 2.5
    clips, period = speech_plan(tmp / "alice.wav", lead_s, gap_s)
    faults: list[Fault] = []
    with sync_playwright() as pw:
        alice_browser = launch(pw, tmp, "alice", root, tmp / "alice.wav")
        bob_browser = launch(pw, tmp, "bob", root, None)
        try:
            alice = alice_browser.new_context().new_page()
            bob = bob_browser.new_context().new_page()
            for name, page in (("alice", alice), ("bob", bob)):
                page.add_init_script(RECORD)
                page.on(
                    "console",
                    lambda m, n=name: m.type == "error" and print(f"[{n} console] {m.text}", flush=True),
                )
            join(bob, link, "Bob", "es", speak=False)
            join(alice, link, "Alice", "en", speak=True)
            alice_live = time.time()
            bob.locator("[data-testid=tile]", has_text="Alice").wait_for(timeout=30_000)
            alice.locator("[data-testid=tile]", has_text="Bob").wait_for(timeout=30_000)
            result["meeting_via_caddy"] = True
            log("Alice and Bob see each other (through the edge and Caddy, TLS from Caddy's CA)")

            def spanish() -> list[dict[str, str]]:
                return [r for r in rows(bob) if r["lang"] == "es" and r["text"].strip()]

            wait_on("Bob's first Spanish caption", spanish, 120, bob)
            result["deploy_to_first_caption_s"] = round(time.time() - deployed, 1)
            log(
                f"first Spanish caption on Bob's page {result['deploy_to_first_caption_s']} s after the deploy: {spanish()[0]['text']!r}"
            )

            def fault(name: str, action: Any, settle_s: float = 240) -> Fault:
                seen = {r["id"] for r in spanish()}
                f = Fault(name, time.time())
                log(f"fault: {name}")
                f.extra = action() or {}
                since = time.time()  # the action returns once its fault is complete
                wait_on(f"Bob live again after {name}", lambda: status(bob) == "live", settle_s, bob)

                # A final of speech that ended after the fault was complete: the whole path is back.
                def fresh() -> bool:
                    caps = bob.evaluate("window.__caps")
                    return any(
                        c["caption"]["type"] == "final"
                        and c["caption"]["lang"] == "es"
                        and c["caption"]["id"] not in seen
                        and float(c["caption"]["timing"].get("speech_end") or 0) > since + 1
                        for c in caps
                    )

                wait_on(f"a final of speech after {name}", fresh, settle_s, bob)
                f.back_s = round(time.time() - f.at, 1)
                log(f"{name}: a new final {f.back_s} s after it")
                faults.append(f)
                return f

            def kill_stt() -> dict[str, Any]:
                dk("ai", "kill", container("ai", "stt"))
                return {}

            def rolling() -> dict[str, Any]:
                for svc in ("stt", "translate", "gateway"):
                    t = time.monotonic()
                    dk(
                        "media",
                        "service",
                        "update",
                        "--force",
                        "--detach=false",
                        "--quiet",
                        f"{STACK}_{svc}",
                        timeout=400,
                    )
                    log(f"rolling update of {svc}: {time.monotonic() - t:.0f} s")
                return {}

            def kill_redis_master() -> dict[str, Any]:
                master = redis_master()
                node = "ai" if master == "redis" else "media"
                dk(node, "kill", container(node, master))
                deadline = time.monotonic() + 60
                while redis_master() == master and time.monotonic() < deadline:
                    time.sleep(1)
                return {"killed": master, "master_now": redis_master()}

            rooms_before = psql("select count(*) from rooms")
            fault("kill the STT container", kill_stt)
            fault("rolling update of stt, translate, gateway", rolling)
            fault("kill the Redis master", kill_redis_master)
            finals_before_restart = psql("select count(*) from captions")

            def restart_ai() -> dict[str, Any]:
                """Until the manager has seen the node's old tasks end: it goes on showing them
                running for a while after the engine is back, so a convergence check passed on
                that stale view ("converged in 0 s") and the next psql found no postgres task (CI);
                and a final the stopping STT finished in its grace period proved nothing."""
                before = running_tasks("ai")
                t0 = time.monotonic()
                script("engine.sh", "restart", "ai", timeout=200)
                while stale := running_tasks("ai") & before:
                    assert time.monotonic() - t0 < 300, f"the AI node's old tasks still running: {stale}"
                    time.sleep(1)
                log(f"the AI node's old tasks ended {time.monotonic() - t0:.0f} s after the restart began")
                return {"tasks_replaced_s": round(time.monotonic() - t0, 1)}

            restart = fault("restart the AI node's engine", restart_ai, settle_s=400)
            wait_converged("after the AI node's restart", timeout=400, skip=frozenset({"backup"}))
            # Count what was spoken until now, once its finals had time to arrive (<= 150 s).
            cutoff = time.time() - 5
            mic = alice.evaluate("window.__micOpened")
            assert mic, "Alice's microphone never opened"
            spoken = spoken_between(clips, period, float(mic[0]), alice_live + 4, cutoff)
            deadline = time.monotonic() + 150
            while True:
                acc = account(bob.evaluate("window.__caps"), rows(bob), spoken, "es")
                if acc["lost"] == 0 or time.monotonic() > deadline:
                    break
                bob.wait_for_timeout(3000)
            caps = bob.evaluate("window.__caps")
            (LOGS / "captions-bob.json").write_text(json.dumps(caps, indent=1))
            (LOGS / "captions-alice.json").write_text(json.dumps(alice.evaluate("window.__caps"), indent=1))
            if acc["missing_ids"]:
                # Where each lost final got to: persisted (the source), translated into Spanish.
                for cid in acc["missing_ids"]:
                    got = psql(
                        "select coalesce((select string_agg(lang, ',') from caption_translations t"
                        f" where t.caption_id = c.caption_id), '-') from captions c where caption_id = '{cid}'"
                    )
                    log(
                        f"lost at Bob: {cid}: {'persisted, translations: ' + got if got else 'not in Postgres'}"
                    )
            result["postgres_kept"] = (
                psql("select count(*) from rooms") == rooms_before
                and int(psql("select count(*) from captions")) >= int(finals_before_restart) > 0
            )
            result["finals"] = acc["finals"]
            result["finals_lost"] = acc["lost"]
            result["finals_duplicated"] = acc["doubled"]
            result["clips_spoken"] = acc["clips"]
            rolling_f = next(f for f in faults if f.name.startswith("rolling"))
            result["rolling_update_finals_lost"] = sum(
                1 for s in acc["lost_at"] if rolling_f.at - 5 <= s <= rolling_f.at + rolling_f.back_s
            )
            result["node_restart_finals_lost"] = sum(
                1 for s in acc["lost_at"] if restart.at - 5 <= s <= restart.at + restart.back_s
            )
            result["faults"] = {f.name: {"back_s": f.back_s, **f.extra} for f in faults}
            result["page_reconnected"] = True
            log(f"finals at Bob: {acc}")
            result["backup_s"] = round(wait_converged("the backup job", timeout=300))
            return acc["lost"] == 0 and acc["doubled"] == 0 and bool(result["postgres_kept"])
        finally:
            for b in (alice_browser, bob_browser):
                try:
                    b.close()
                except Exception:
                    pass


if __name__ == "__main__":
    sys.exit(main())

"""The built images (issue 12), run on the engine `make images` built them on: each Python image holds
only its own service's dependencies, the gateway image serves the meeting UI, and the Postgres
stand-in initialises its database from the variables and secret file the stack gives it.

The images are not built here (a cold build is many minutes): the tests use those `make images`
left on the engine (scripts/images/docker-host.sh's socket, or PARLEY_DOCKER_HOST) and skip, saying so,
when there are none. `make images-test` builds them first.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
REGISTRY = os.environ.get("PARLEY_REGISTRY", "local")
VERSION = os.environ.get("PARLEY_VERSION", "dev")
SOCKET = os.environ.get("PARLEY_DOCKER_SOCK", "/run/parley-docker/host.sock")

# What must not be in an image: the other services' heavy dependencies (issue 12).
FORBIDDEN = {
    "gateway": ["faster_whisper", "onnxruntime", "ctranslate2", "transformers", "av", "aiortc"],
    "stt": ["fastapi", "sqlalchemy", "asyncpg", "alembic", "aiortc", "transformers"],
    "translate": ["faster_whisper", "onnxruntime", "fastapi", "sqlalchemy", "asyncpg", "aiortc", "av"],
}
# What each must hold (so an empty image does not pass).
REQUIRED = {
    "gateway": ["fastapi", "sqlalchemy", "asyncpg", "alembic", "uvicorn", "parley_gateway", "parley_ingest"],
    "stt": ["faster_whisper", "onnxruntime", "ctranslate2", "parley_stt"],
    "translate": ["ctranslate2", "sentencepiece", "parley_translate"],
}


def image(name: str) -> str:
    return f"{REGISTRY}/parley/{name}:{VERSION}"


@pytest.fixture(scope="module")
def docker() -> list[str]:
    """The docker command for the engine `make images` used; skips when there is none."""
    cli = shutil.which("docker")
    if cli is None:
        pytest.skip("no docker CLI: run `make images` (installs docker.io) first")
    host = os.environ.get("PARLEY_DOCKER_HOST") or f"unix://{SOCKET}"
    cmd = [cli, "-H", host]
    if subprocess.run([*cmd, "info"], capture_output=True).returncode != 0:
        pytest.skip(f"no Docker engine answers on {host}: run `make images` first")
    return cmd


def require_image(docker: list[str], ref: str) -> None:
    if subprocess.run([*docker, "image", "inspect", ref], capture_output=True).returncode != 0:
        pytest.skip(f"{ref} is not built: run `make images` first")


def modules_in(docker: list[str], ref: str, names: list[str]) -> dict[str, bool]:
    """Which of `names` the image's Python can import (found on its path, not imported)."""
    code = "import importlib.util, json, sys; print(json.dumps({m: importlib.util.find_spec(m) is not None for m in sys.argv[1:]}))"
    out = subprocess.run(
        [*docker, "run", "--rm", "--network", "none", "--entrypoint", "python", ref, "-c", code, *names],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    found: dict[str, bool] = json.loads(out.stdout.strip().splitlines()[-1])
    return found


@pytest.mark.parametrize("name", sorted(FORBIDDEN))
def test_each_image_holds_only_its_services_dependencies(docker: list[str], name: str) -> None:
    require_image(docker, image(name))
    found = modules_in(docker, image(name), FORBIDDEN[name] + REQUIRED[name])
    carried = [m for m in FORBIDDEN[name] if found[m]]
    missing = [m for m in REQUIRED[name] if not found[m]]
    assert not carried, f"{image(name)} carries other services' dependencies: {carried}"
    assert not missing, f"{image(name)} lacks its own: {missing}"


def test_the_check_fails_on_an_image_with_every_extra(docker: list[str]) -> None:
    """The image as it was before the per-service split (`make images-before`): the check above
    finds the other services' dependencies in it."""
    ref = f"{REGISTRY}/parley/gateway-all-extras:{VERSION}"
    require_image(docker, ref)
    found = modules_in(docker, ref, FORBIDDEN["gateway"])
    assert [m for m in FORBIDDEN["gateway"] if found[m]], "the all-extras image should carry them"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture
def container(docker: list[str]) -> Iterator[list[str]]:
    """Names of the containers a test starts (removed after it)."""
    names: list[str] = []
    yield names
    for n in names:
        subprocess.run([*docker, "rm", "-f", "-v", n], capture_output=True)


def test_the_gateway_image_serves_the_meeting_ui(docker: list[str], container: list[str]) -> None:
    """GET / on a gateway container answers with the UI built into the image (frontend/index.html
    as bundled), not the old caption viewer. Host network (the engine has no bridge), a free port,
    nothing else running: Redis and Postgres are only needed once someone joins."""
    require_image(docker, image("gateway"))
    port = free_port()
    name = f"parley-imgtest-gw-{uuid.uuid4().hex[:8]}"
    container.append(name)
    subprocess.run(
        [
            *docker, "run", "-d", "--name", name, "--network", "host",
            "-e", "PARLEY_ENV=development",
            "-e", "PARLEY_GATEWAY_HOST=127.0.0.1",
            "-e", f"PARLEY_GATEWAY_PORT={port}",
            "-e", "PARLEY_REDIS_URL=redis://127.0.0.1:1/0",
            "-e", "PARLEY_DATABASE_URL=postgresql+asyncpg://parley@127.0.0.1:1/parley",
            image("gateway"),
        ],
        check=True, capture_output=True,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    body = ""
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as r:
                body = r.read().decode()
                ctype = r.headers.get("content-type", "")
                break
        except OSError:
            time.sleep(0.5)
    else:
        logs = subprocess.run([*docker, "logs", name], capture_output=True, text=True)
        pytest.fail(f"the gateway did not answer on {port}: {logs.stdout[-2000:]}{logs.stderr[-2000:]}")
    # The image's own index.html, byte for byte what the UI build wrote into /app/frontend.
    shipped = subprocess.run(
        [*docker, "exec", name, "cat", "/app/frontend/index.html"], capture_output=True, text=True, check=True
    ).stdout
    assert "text/html" in ctype
    assert body == shipped
    # The bundle the page loads is served too (the page is the UI, not the static viewer).
    script = body.split('src="', 1)[1].split('"', 1)[0] if 'src="' in body else ""
    assert script.endswith(".js"), body[:500]
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/{script.lstrip('/')}", timeout=5) as r:
        assert r.status == 200 and len(r.read()) > 10_000


def test_the_postgres_stand_in_initialises_as_the_official_image(
    docker: list[str], container: list[str], tmp_path: Path
) -> None:
    """POSTGRES_USER / POSTGRES_DB / POSTGRES_PASSWORD_FILE as the stack gives them: the database
    and its owner exist, a client on another container needs the password (scram-sha-256), and the
    server runs as postgres, not root."""
    ref = "local/postgres:bookworm"
    require_image(docker, ref)
    secret = tmp_path / "parley_db_password"
    password = uuid.uuid4().hex
    secret.write_text(password + "\n")  # a Docker secret file: the newline is not the password's
    secret.chmod(0o444)
    net = f"parley-imgtest-{uuid.uuid4().hex[:8]}"
    server = f"{net}-pg"
    subprocess.run([*docker, "network", "create", net], check=True, capture_output=True)
    container.append(server)
    try:
        subprocess.run(
            [
                *docker, "run", "-d", "--name", server, "--network", net,
                "-v", f"{secret}:/run/secrets/parley_db_password:ro",
                "-e", "POSTGRES_USER=parley", "-e", "POSTGRES_DB=parley",
                "-e", "POSTGRES_PASSWORD_FILE=/run/secrets/parley_db_password",
                ref,
            ],
            check=True, capture_output=True,
        )  # fmt: skip
        # Over TCP: during the first run's initialisation the server listens on its socket only.
        ready = [*docker, "exec", server, "pg_isready", "-h", "127.0.0.1", "-U", "parley", "-d", "parley"]
        deadline = time.monotonic() + 90
        while subprocess.run(ready, capture_output=True).returncode != 0:
            if time.monotonic() > deadline:
                logs = subprocess.run([*docker, "logs", server], capture_output=True, text=True)
                pytest.fail(f"postgres not ready: {logs.stdout[-2000:]}{logs.stderr[-2000:]}")
            time.sleep(1)

        def client(pw: str) -> subprocess.CompletedProcess[str]:
            sql = "select current_user, current_database(), (select rolsuper from pg_roles where rolname = current_user)"
            return subprocess.run(
                [
                    *docker, "run", "--rm", "--network", net, "-e", f"PGPASSWORD={pw}", "--entrypoint", "psql",
                    ref, "-h", server, "-U", "parley", "-d", "parley", "-Atc", sql,
                ],
                capture_output=True, text=True, timeout=60,
            )  # fmt: skip

        good = client(password)
        assert good.returncode == 0, good.stderr
        assert good.stdout.strip() == "parley|parley|t"
        bad = client("not-" + password)
        assert bad.returncode != 0 and "password authentication failed" in bad.stderr, bad
        ps = subprocess.run(
            [*docker, "exec", server, "sh", "-c", "stat -c %U /proc/1 && ls /var/lib/postgresql/data/PG_VERSION"],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        assert ps.stdout.split()[0] == "postgres"
    finally:
        for n in container:
            subprocess.run([*docker, "rm", "-f", "-v", n], capture_output=True)
        container.clear()
        subprocess.run([*docker, "network", "rm", net], capture_output=True)


def test_make_images_builds_every_image_the_offline_stack_runs() -> None:
    """Every image the stack runs with stack/docker-stack.offline.yml (the site without a registry)
    is one `make images` builds: a new third-party service needs its stand-in first."""
    override = ROOT / "stack" / "docker-stack.offline.yml"
    if not override.is_file():
        pytest.skip("no stack/docker-stack.offline.yml")
    services = yaml.safe_load((ROOT / "stack" / "docker-stack.yml").read_text())["services"]
    for name, svc in (yaml.safe_load(override.read_text())["services"] or {}).items():
        services.setdefault(name, {}).update({k: v for k, v in svc.items() if k != "deploy"})
        if "deploy" in svc:
            services[name]["deploy"] = {**services[name].get("deploy", {}), **svc["deploy"]}
    env = {"PARLEY_REGISTRY": "local", "PARLEY_VERSION": "dev"}

    def interpolate(s: str) -> str:
        return re.sub(r"\$\{(\w+)(?::-[^}]*)?\}", lambda m: env.get(m.group(1), m.group(0)), s)

    standins = (ROOT / "scripts" / "images" / "standins.sh").read_text()
    built = {f"local/parley/{n}:dev" for n in ("gateway", "stt", "translate", "sfu")}
    built |= set(re.findall(r"\[[a-z]+\]=(local/\S+?)(?=[\s)])", standins))
    for tag in built - {f"local/parley/{n}:dev" for n in ("gateway", "stt", "translate", "sfu")}:
        name = tag.split("/")[1].split(":")[0]
        assert (ROOT / "stack" / "local-images" / name / "Dockerfile").is_file(), tag
    running = {
        n: interpolate(s["image"])
        for n, s in services.items()
        if (s.get("deploy") or {}).get("replicas", 1) != 0
    }
    missing = {n: i for n, i in running.items() if i not in built}
    assert not missing, f"not built by make images: {missing}"
    assert len(built) == 11, built

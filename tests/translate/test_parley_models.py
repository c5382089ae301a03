"""parley-models against a local mirror: the tiny NLLB-shaped CTranslate2 model (conftest.py) served
by an HTTP server on 127.0.0.1 laid out like the hub, and from a plain directory (an air-gapped
site's copy). Fetch checks every file and installs only what checks out; verify works offline and
refuses a model changed on disk; a mirror serving other bytes is refused; a model not pinned here
is pinned from the hub's own checksums. The CLI runs as a process, as an operator runs it."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest
from parley_translate.engines.ct2 import CTranslate2Engine

REPO = "parley-test/tiny-nllb-ct2"
REVISION = "0123456789abcdef0123456789abcdef01234567"
LFS = {"model.bin"}  # served with the hub's LFS checksum header; the others with a git blob ETag


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def git_sha1(path: Path) -> str:
    data = path.read_bytes()
    return hashlib.sha1(b"blob %d\0" % len(data) + data, usedforsecurity=False).hexdigest()


class HubLike(SimpleHTTPRequestHandler):
    """/<repo>/resolve/<rev>/<path> and /api/models/<repo>/revision/main, with the hub's headers."""

    lie_about: ClassVar[set[str]] = set()  # files whose checksum header is wrong
    no_checksums: ClassVar[bool] = False

    def end_headers(self) -> None:
        local = Path(self.translate_path(self.path))
        if local.is_file() and "/resolve/" in self.path and not self.no_checksums:
            name = local.name
            digest = sha256(local) if name in LFS else git_sha1(local)
            if name in self.lie_about:
                digest = "0" * len(digest)
            self.send_header("X-Linked-Etag" if name in LFS else "ETag", f'"{digest}"')
        super().end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def mirror(nllb_dir: Path, tmp_path: Path) -> Iterator[tuple[Path, str, type[HubLike]]]:
    root = tmp_path / "mirror"
    files = root / REPO / "resolve" / REVISION
    shutil.copytree(nllb_dir, files)
    api = root / "api" / "models" / REPO / "revision"
    api.mkdir(parents=True)
    siblings = [{"rfilename": p.name} for p in files.iterdir()]
    (api / "main").write_text(json.dumps({"sha": REVISION, "siblings": siblings}))
    handler = type("Handler", (HubLike,), {"lie_about": set(), "no_checksums": False})
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(handler, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{server.server_address[1]}", handler
    server.shutdown()
    server.server_close()


def preset_file(tmp_path: Path, nllb_dir: Path, *, revision: str | None, pinned: bool) -> Path:
    files = sorted(p.name for p in nllb_dir.iterdir())
    model = {
        "name": "tiny-nllb",
        "repo": REPO,
        "revision": revision,
        "files": files,
        "licence": "test weights (random)",
        "role": "translate",
        "sha256": {f: sha256(nllb_dir / f) for f in files} if pinned else {},
    }
    preset = {
        "name": "tiny",
        "summary": "a tiny NLLB-shaped model",
        "models": ["tiny-nllb"],
        "settings": {"PARLEY_TRANSLATE_CT2_MODEL": "{models}/tiny-nllb", "PARLEY_TRANSLATE_CT2_KIND": "nllb"},
    }
    path = tmp_path / "presets.json"
    path.write_text(json.dumps({"models": [model], "presets": [preset]}))
    return path


def run(
    presets: Path, models: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "parley_models", "--presets", str(presets), "--dir", str(models), *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, env={**os.environ, **(env or {})})


def test_fetch_verify_tamper_and_repair(
    nllb_dir: Path, tmp_path: Path, mirror: tuple[Path, str, type[HubLike]]
) -> None:
    presets = preset_file(tmp_path, nllb_dir, revision=REVISION, pinned=True)
    models = tmp_path / "models"
    fetched = run(presets, models, "fetch", "tiny", "--mirror", mirror[1])
    assert fetched.returncode == 0, fetched.stderr
    assert f"PARLEY_TRANSLATE_CT2_MODEL={models}/tiny-nllb" in fetched.stdout.splitlines()
    assert "licence of tiny-nllb: test weights (random)" in fetched.stdout
    assert not list(models.glob(".fetch-*"))  # no scratch left behind
    lock = json.loads((models / "parley-models.lock.json").read_text())["models"]["tiny-nllb"]
    assert lock["revision"] == REVISION and lock["files"]["model.bin"] == sha256(nllb_dir / "model.bin")

    verified = run(presets, models, "verify", "tiny")
    assert verified.returncode == 0, verified.stderr
    # The model works where it landed: the translate service's own engine loads and runs it.
    engine = CTranslate2Engine(str(models / "tiny-nllb"), kind="nllb")
    assert len(engine.translate(["Hello everyone"], "en", "vi")) == 1

    # One byte changed on disk: verify refuses, naming the file; fetch repairs it.
    damaged = models / "tiny-nllb" / "model.bin"
    data = bytearray(damaged.read_bytes())
    data[len(data) // 2] ^= 0x01
    damaged.write_bytes(bytes(data))
    refused = run(presets, models, "verify", "tiny")
    assert refused.returncode == 1 and "model.bin does not match its checksum" in refused.stderr, (
        refused.stderr
    )
    assert run(presets, models, "fetch", "tiny", "--mirror", mirror[1]).returncode == 0
    assert run(presets, models, "verify", "tiny").returncode == 0
    # A file added to the model folder is refused too (a model is exactly what was fetched).
    (models / "tiny-nllb" / "extra.bin").write_bytes(b"x")
    extra = run(presets, models, "verify", "tiny")
    assert extra.returncode == 1 and "extra.bin is not part of the model" in extra.stderr


def test_a_mirror_serving_other_bytes_is_refused(
    nllb_dir: Path, tmp_path: Path, mirror: tuple[Path, str, type[HubLike]]
) -> None:
    root, url, _ = mirror
    presets = preset_file(tmp_path, nllb_dir, revision=REVISION, pinned=True)
    served = root / REPO / "resolve" / REVISION / "model.bin"
    data = bytearray(served.read_bytes())
    data[len(data) // 3] ^= 0x40
    served.write_bytes(bytes(data))
    models = tmp_path / "models"
    out = run(presets, models, "fetch", "tiny", "--mirror", url)
    assert out.returncode == 1, out.stdout
    assert "model.bin: sha256 (preset) is" in out.stderr and "refused, nothing installed" in out.stderr
    assert not (models / "tiny-nllb").exists() and not list(models.glob(".fetch-*"))
    assert run(presets, models, "verify", "tiny").returncode == 1  # nothing to verify: not fetched


def test_pin_uses_the_hubs_checksums_then_verifies_offline(
    nllb_dir: Path, tmp_path: Path, mirror: tuple[Path, str, type[HubLike]]
) -> None:
    _, url, handler = mirror
    presets = preset_file(tmp_path, nllb_dir, revision=None, pinned=False)
    models = tmp_path / "models"
    unpinned = run(presets, models, "fetch", "tiny", "--mirror", url)
    assert unpinned.returncode == 1 and "not pinned to a revision here" in unpinned.stderr
    # The hub's checksum of a file is wrong: refused.
    handler.lie_about = {"model.bin"}
    lying = run(presets, models, "pin", "tiny", "--mirror", url)
    assert lying.returncode == 1 and "sha256 (hub)" in lying.stderr, lying.stderr
    handler.lie_about = {"config.json"}
    lying = run(presets, models, "pin", "tiny", "--mirror", url)
    assert lying.returncode == 1 and "git blob sha1 (hub)" in lying.stderr, lying.stderr
    # No checksum at all, pinned or served: refused.
    handler.lie_about, handler.no_checksums = set(), True
    blind = run(presets, models, "pin", "tiny", "--mirror", url)
    assert blind.returncode == 1 and "no checksum to check it against" in blind.stderr, blind.stderr
    handler.no_checksums = False
    pinned = run(presets, models, "pin", "tiny", "--mirror", url)
    assert pinned.returncode == 0, pinned.stderr
    assert (
        json.loads((models / "parley-models.lock.json").read_text())["models"]["tiny-nllb"]["revision"]
        == REVISION
    )
    # From now on the lock pins it: verify needs no network, fetch no hub headers.
    assert run(presets, models, "verify", "tiny", env={"HF_HUB_OFFLINE": "1"}).returncode == 0


def test_an_air_gapped_copy_and_offline_refusal(
    nllb_dir: Path, tmp_path: Path, mirror: tuple[Path, str, type[HubLike]]
) -> None:
    """A site with no network copies a mirror folder (or another node's models folder) in."""
    root, _, _ = mirror
    presets = preset_file(tmp_path, nllb_dir, revision=REVISION, pinned=True)
    models = tmp_path / "models"
    offline = run(presets, models, "fetch", "tiny", env={"HF_HUB_OFFLINE": "1"})
    assert offline.returncode == 1 and "HF_HUB_OFFLINE=1" in offline.stderr
    from_dir = run(presets, models, "fetch", "tiny", "--mirror", str(root), env={"HF_HUB_OFFLINE": "1"})
    assert from_dir.returncode == 0, from_dir.stderr
    assert run(presets, models, "verify", "tiny").returncode == 0
    # The models folder and its lock file, copied to another node as they are, verify there too.
    copy = tmp_path / "node-2"
    shutil.copytree(models, copy)
    assert run(presets, copy, "verify", "tiny").returncode == 0

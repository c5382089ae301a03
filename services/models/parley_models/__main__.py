"""parley-models: the design's models, one command away.

  parley-models list                      the presets, their models and licences
  parley-models fetch vi-en [--mirror M]  download at the pinned revisions, check every file,
                                          convert to CTranslate2 where needed, print the settings
  parley-models verify vi-en              check the models folder against the lock file, offline
  parley-models env vi-en                 the settings that use the preset's models
  parley-models pin gpu                   for models not pinned here: resolve the current commit
                                          (network), fetch, and record commit + checksums in the lock

The models folder: --dir, else PARLEY_MODELS_DIR, else ~/.cache/parley/models (the stack mounts a
volume at /models on the AI node). The lock file: --lock, else <models folder>/parley-models.lock.json.
Exit status: 0 ok, 1 a model is missing, damaged or refused, 2 bad arguments or preset file.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from parley_models.fetch import FetchError, Source, fetch_model, problems
from parley_models.lock import LOCK_NAME, Lock
from parley_models.spec import Preset, SpecError, load


def default_dir() -> Path:
    if os.environ.get("PARLEY_MODELS_DIR"):
        return Path(os.environ["PARLEY_MODELS_DIR"])
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache")
    return Path(cache) / "parley" / "models"


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="parley-models", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--presets", type=Path, help="a preset file of your own (same shape as presets.json)")
    p.add_argument("--dir", type=Path, default=None, help="the models folder")
    p.add_argument("--lock", type=Path, default=None, help="the lock file")
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="presets, models, licences")
    for name, text in (
        ("fetch", "download and check a preset's models"),
        ("pin", "resolve unpinned revisions, then fetch"),
        ("verify", "check a preset's models offline"),
        ("env", "print the settings for a preset"),
    ):
        c = sub.add_parser(name, help=text)
        c.add_argument("preset")
        if name in ("fetch", "pin"):
            c.add_argument("--mirror", help="a hub mirror: http(s)://host[:port] or a directory")
    return p


def show(presets: dict[str, Preset]) -> None:
    for preset in presets.values():
        print(f"{preset.name}: {preset.summary}")
        for m in preset.models:
            pin = m.revision[:12] if m.revision else "not pinned here (parley-models pin)"
            how = f", converted to CTranslate2 {m.quantization}" if m.convert else ""
            print(f"  {m.name}: {m.repo} @ {pin}{how}; licence {m.licence}")


def print_env(preset: Preset, models_dir: Path) -> None:
    for key, value in preset.env(models_dir).items():
        print(f"{key}={value}")


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        presets = load(args.presets)
    except SpecError as exc:
        print(f"parley-models: {exc}", file=sys.stderr)
        return 2
    if args.command == "list":
        show(presets)
        return 0
    preset = presets.get(args.preset)
    if preset is None:
        print(f"parley-models: no preset {args.preset!r} (known: {', '.join(presets)})", file=sys.stderr)
        return 2
    models_dir = (args.dir or default_dir()).resolve()
    lock = Lock.read(args.lock or models_dir / LOCK_NAME)
    if args.command == "env":
        print_env(preset, models_dir)
        return 0
    if args.command == "verify":
        found = [p for m in preset.models for p in problems(m, models_dir, lock)]
        for line in found:
            print(f"refused: {line}", file=sys.stderr)
        if not found:
            print(f"{preset.name}: every model checks out against {lock.path}")
        return 1 if found else 0
    try:
        src = Source.of(args.mirror)
        for m in preset.models:
            print(fetch_model(m, src, models_dir, lock, resolve_unpinned=args.command == "pin"), flush=True)
    except FetchError as exc:
        print(f"refused: {exc}", file=sys.stderr)
        return 1
    for m in preset.models:
        print(f"licence of {m.name}: {m.licence}")
    print(f"# settings for {preset.name} (models in {models_dir}):")
    print_env(preset, models_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())

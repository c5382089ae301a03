"""Debian's apertium pairs: rule-based, offline, no download (apt-get install apertium-eng-spa)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from parley_translate.engines.base import TranslationError
from parley_translate.langcodes import APERTIUM

MODES_DIR = Path(os.environ.get("APERTIUM_MODES", "/usr/share/apertium/modes"))


class ApertiumEngine:
    name = "apertium"

    def __init__(self, modes_dir: Path = MODES_DIR) -> None:
        self.binary = shutil.which("apertium")
        self.modes = {p.stem for p in modes_dir.glob("*.mode")} if modes_dir.is_dir() else set()

    def _mode(self, source: str, target: str) -> str | None:
        s3, t3 = APERTIUM.get(source, source), APERTIUM.get(target, target)
        for mode in (f"{s3}-{t3}", f"{source}-{target}", f"{s3}-{target}", f"{source}-{t3}"):
            if mode in self.modes:
                return mode
        return None

    def supports(self, source: str, target: str) -> bool:
        return self.binary is not None and self._mode(source, target) is not None

    def translate(self, texts: list[str], source: str, target: str) -> list[str]:
        mode = self._mode(source, target)
        if self.binary is None or mode is None:
            raise TranslationError(f"no apertium pair for {source}->{target}")
        # One line per text, one process per batch: loading the pair dominates the cost.
        lines = [t.replace("\n", " ").strip() for t in texts]
        proc = subprocess.run(
            [self.binary, "-u", mode],
            input="\n".join(lines) + "\n",
            capture_output=True,
            text=True,
            timeout=30,
        )
        if proc.returncode != 0:
            raise TranslationError(f"apertium {mode} failed: {proc.stderr.strip()[:200]}")
        out = proc.stdout.rstrip("\n").split("\n")
        if len(out) != len(lines):
            raise TranslationError(f"apertium {mode} returned {len(out)} lines for {len(lines)}")
        return [o.strip() for o in out]

"""The lock file: for each model fetched, the commit and the SHA-256 of every file, downloaded and
(for a converted model) produced. `fetch` writes it; `verify` checks the models directory against
it with no network. Keep it with the models (the default: <models>/parley-models.lock.json) and
copy it with them to an air-gapped site; commit it where a site wants its pins reviewed."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

LOCK_NAME = "parley-models.lock.json"


@dataclass
class Locked:
    repo: str
    revision: str
    downloaded: dict[str, str]  # path -> sha256, as the hub served them
    files: dict[str, str]  # path -> sha256 of the model folder as the services load it


@dataclass
class Lock:
    path: Path
    models: dict[str, Locked] = field(default_factory=dict)

    @classmethod
    def read(cls, path: Path) -> Lock:
        if not path.exists():
            return cls(path)
        raw: dict[str, Any] = json.loads(path.read_text())
        return cls(path, {name: Locked(**m) for name, m in raw.get("models", {}).items()})

    def write(self) -> None:
        doc = {"models": {n: vars(m) for n, m in sorted(self.models.items())}}
        tmp = self.path.with_suffix(f".tmp{os.getpid()}")
        tmp.write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n")
        os.replace(tmp, self.path)

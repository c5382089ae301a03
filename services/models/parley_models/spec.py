"""Presets and the models they name (presets.json, or a site's own file with the same shape).

A model is a hub repository at a revision: a commit (40 hex characters) pins it; null means "not
pinned in this repository yet": `parley-models pin` resolves it where a network exists and records
the commit and every file's SHA-256 in the lock file, which then pins it for every fetch and verify.
`convert: "ct2"` marks a transformers checkpoint turned into a CTranslate2 model on fetch.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

COMMIT = re.compile(r"^[0-9a-f]{40}$")
SHA256 = re.compile(r"^[0-9a-f]{64}$")


class SpecError(ValueError):
    """A preset file that does not describe presets and models."""


@dataclass(frozen=True)
class Model:
    name: str  # its folder under the models directory
    repo: str  # hub repository, owner/name
    revision: str | None  # a commit; None: not pinned here (see the lock file)
    files: tuple[str, ...]  # what to download
    licence: str
    role: str  # stt | translate
    sha256: dict[str, str] = field(default_factory=dict)  # pinned checksums of downloaded files
    convert: str = ""  # "ct2": convert the downloaded checkpoint to CTranslate2
    quantization: str = "int8"
    copy_files: tuple[str, ...] = ()  # tokenizer files copied beside a converted model


@dataclass(frozen=True)
class Preset:
    name: str
    summary: str
    models: tuple[Model, ...]
    settings: dict[str, str]

    def env(self, models_dir: Path) -> dict[str, str]:
        return {k: v.replace("{models}", str(models_dir)) for k, v in self.settings.items()}


def _model(raw: dict[str, Any]) -> Model:
    try:
        revision = raw.get("revision")
        if revision is not None and not COMMIT.match(revision):
            raise SpecError(
                f"model {raw['name']}: revision must be a 40-hex commit or null, not {revision!r}"
            )
        sha = dict(raw.get("sha256", {}))
        bad = [p for p, h in sha.items() if not SHA256.match(h)]
        if bad:
            raise SpecError(f"model {raw['name']}: bad sha256 for {', '.join(bad)}")
        return Model(
            name=str(raw["name"]),
            repo=str(raw["repo"]),
            revision=revision,
            files=tuple(raw["files"]),
            licence=str(raw["licence"]),
            role=str(raw["role"]),
            sha256=sha,
            convert=str(raw.get("convert", "")),
            quantization=str(raw.get("quantization", "int8")),
            copy_files=tuple(raw.get("copy_files", ())),
        )
    except (KeyError, TypeError) as exc:
        raise SpecError(f"bad model entry {raw!r:.120}: {exc}") from None


def load(extra: Path | None = None) -> dict[str, Preset]:
    """The built-in presets, and those of `extra` (which may add models and presets, or replace them)."""
    docs = [json.loads(resources.files(__package__).joinpath("presets.json").read_text())]
    if extra is not None:
        try:
            docs.append(json.loads(extra.read_text()))
        except (OSError, json.JSONDecodeError) as exc:
            raise SpecError(f"cannot read presets from {extra}: {exc}") from None
    models: dict[str, Model] = {}
    raw_presets: dict[str, dict[str, Any]] = {}
    for doc in docs:
        models.update({m.name: m for m in map(_model, doc.get("models", []))})
        raw_presets.update({p["name"]: p for p in doc.get("presets", [])})
    presets = {}
    for name, raw in raw_presets.items():
        missing = [m for m in raw.get("models", []) if m not in models]
        if missing:
            raise SpecError(f"preset {name} names unknown models: {', '.join(missing)}")
        presets[name] = Preset(
            name=name,
            summary=str(raw.get("summary", "")),
            models=tuple(models[m] for m in raw.get("models", [])),
            settings={str(k): str(v) for k, v in raw.get("settings", {}).items()},
        )
    return presets

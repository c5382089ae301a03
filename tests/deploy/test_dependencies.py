"""Each image holds only what it runs (issue 12): every service image installs one extra of the
`parley` distribution (`pip install ".[gateway]"` in its Dockerfile). The extra must cover every
third-party module the image's programs import (else the image fails at run time), and its
dependency closure, resolved from the installed distributions' own metadata, must not carry what
other services run (the gateway no Whisper/onnxruntime, STT no web framework, database or WebRTC)."""

from __future__ import annotations

import ast
import importlib.metadata as md
import re
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
IMAGES = ROOT / "stack" / "images"
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
PACKAGE_DIRS = [ROOT / d for d in PYPROJECT["tool"]["setuptools"]["packages"]["find"]["where"]]
# What each image must not carry: the heavy parts of the other services.
FORBIDDEN = {
    "gateway": {"faster-whisper", "onnxruntime", "ctranslate2", "transformers", "tokenizers", "aiortc", "av"},
    "stt": {"fastapi", "starlette", "uvicorn", "sqlalchemy", "asyncpg", "alembic", "aiortc", "transformers"},
    "translate": {
        "fastapi",
        "uvicorn",
        "sqlalchemy",
        "asyncpg",
        "faster-whisper",
        "onnxruntime",
        "aiortc",
        "av",
    },
}
PYTHON_IMAGES = sorted(p.parent.name for p in IMAGES.glob("*/Dockerfile") if "pip install" in p.read_text())


def image_extra(image: str) -> str:
    """The extra the image's Dockerfile installs (`pip install ... ".[name]"`, or ".[${EXTRAS}]" with
    `ARG EXTRAS=name`: the build arg that builds the image with every extra, for the size comparison)."""
    text = (IMAGES / image / "Dockerfile").read_text()
    found = re.findall(r"pip install [^\n]*?\"?\.\[([a-zA-Z0-9_${}-]+)\]", text)
    found = [re.sub(r"\$\{(\w+)\}", lambda m: arg_default(text, m.group(1)), f) for f in found]
    assert len(found) == 1, (
        f"{image}: the Dockerfile must install exactly one extra of the project, got {found}"
    )
    return found[0]


def arg_default(dockerfile: str, name: str) -> str:
    m = re.search(rf"^ARG {name}=(\S+)$", dockerfile, re.M)
    assert m, f"no default for ARG {name}"
    return m.group(1)


def image_programs(image: str) -> set[str]:
    """Console scripts the image runs: its ENTRYPOINT/CMD and every stack service's `command` on it."""
    text = (IMAGES / image / "Dockerfile").read_text()
    words = set(re.findall(r"\"(parley-[a-z-]+)\"", text))
    stack = (ROOT / "stack" / "docker-stack.yml").read_text()
    for block in re.split(r"\n  (?=[a-z])", stack):
        if re.search(rf"image: .*/parley/{image}:", block):
            words |= set(re.findall(r"\"(parley-[a-z-]+)\"", block))
    return words & set(PYPROJECT["project"]["scripts"])


def top_packages(image: str) -> set[str]:
    return {PYPROJECT["project"]["scripts"][p].split(".")[0] for p in image_programs(image)}


def package_dir(name: str) -> Path:
    for d in PACKAGE_DIRS:
        if (d / name / "__init__.py").is_file():
            return d / name
    raise AssertionError(f"no first-party package {name}")


def module_file(module: str) -> Path | None:
    top, *rest = module.split(".")
    base = package_dir(top)
    for i in range(len(rest), -1, -1):
        p = base.joinpath(*rest[:i])
        if p.with_suffix(".py").is_file():
            return p.with_suffix(".py")
        if (p / "__init__.py").is_file():
            return p / "__init__.py"
    return None


def imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    out: set[str] = set()
    pkg = ".".join(
        path.relative_to(next(d for d in PACKAGE_DIRS if path.is_relative_to(d))).with_suffix("").parts
    )
    if path.name == "__init__.py":
        pkg = pkg.rsplit(".", 1)[0] + ".__init__"
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = pkg.split(".")[: -node.level]
                mod = ".".join([*base, node.module] if node.module else base)
                out |= {f"{mod}.{a.name}" for a in node.names} | {mod}
            elif node.module:
                out |= {node.module} | {f"{node.module}.{a.name}" for a in node.names}
    return out


def third_party_imports(image: str) -> dict[str, str]:
    """Third-party top-level module -> the first-party file importing it, over every module of the
    image's packages and the parley_common modules they reach."""
    first_party = {p.name for d in PACKAGE_DIRS for p in d.iterdir() if (p / "__init__.py").is_file()}
    todo = [f for top in top_packages(image) for f in package_dir(top).rglob("*.py")]
    seen: set[Path] = set()
    out: dict[str, str] = {}
    while todo:
        f = todo.pop()
        if f in seen:
            continue
        seen.add(f)
        for mod in imports_of(f):
            top = mod.split(".")[0]
            if top in first_party:
                target = module_file(mod)
                if target is not None:
                    todo.append(target)
            elif top not in sys.stdlib_module_names and top != "__future__":
                out.setdefault(top, str(f.relative_to(ROOT)))
    return out


def closure(extra: str) -> set[str]:
    """Canonical names of every distribution `pip install ".[extra]"` installs: the project's own
    requirements from pyproject.toml, then each dependency's from its installed metadata."""
    project = PYPROJECT["project"]
    todo = [Requirement(r) for r in project["dependencies"] + project["optional-dependencies"][extra]]
    out: set[str] = set()
    done: set[tuple[str, frozenset[str]]] = set()
    while todo:
        req = todo.pop()
        key = (canonicalize_name(req.name), frozenset(req.extras))
        if key in done:
            continue
        done.add(key)
        out.add(key[0])
        for line in md.requires(req.name) or []:
            dep = Requirement(line)
            if dep.marker is None or any(dep.marker.evaluate({"extra": e}) for e in req.extras or {""}):
                todo.append(dep)
    return out


@pytest.mark.parametrize("image", PYTHON_IMAGES)
def test_image_extra_covers_what_it_imports(image: str) -> None:
    extra = image_extra(image)
    assert extra in PYPROJECT["project"]["optional-dependencies"], (
        f"{image}: no extra {extra!r} in pyproject.toml"
    )
    assert image_programs(image), f"{image}: runs no parley console script"
    dists = closure(extra) | {"parley"}
    owners = md.packages_distributions()
    missing = {
        mod: where
        for mod, where in third_party_imports(image).items()
        if not {canonicalize_name(d) for d in owners.get(mod, [])} & dists
    }
    assert not missing, f"{image} ({extra}): imported but not installed: {missing}"


@pytest.mark.parametrize("image", PYTHON_IMAGES)
def test_image_extra_carries_nothing_of_the_other_services(image: str) -> None:
    carried = closure(image_extra(image)) & FORBIDDEN.get(image, set())
    assert not carried, f"{image} would install {sorted(carried)}"


def test_every_python_image_is_checked() -> None:
    assert set(PYTHON_IMAGES) >= {"gateway", "stt", "translate"}
    assert set(PYTHON_IMAGES) <= set(FORBIDDEN), "say what the new image must not carry"

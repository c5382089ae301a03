"""The import graph of services/: the services meet only in parley_common, which imports none of them,
and none imports the test tools (testkit/)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SERVICES = Path(__file__).resolve().parents[2] / "services"


def _package_of(module: str) -> str:
    return module.split(".", 1)[0]


def _imports(path: Path) -> set[str]:
    """Every absolute module name `path` imports (function-level imports too)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return names


def _cross_imports() -> list[str]:
    packages = {p.name for p in SERVICES.glob("*/parley_*") if p.is_dir()}
    found = []
    for package_dir in SERVICES.glob("*/parley_*"):
        for path in sorted(package_dir.rglob("*.py")):
            for name in sorted(_imports(path)):
                target = _package_of(name)
                if target == "parley_testkit":  # tools import the services, never the reverse
                    found.append(f"{path.relative_to(SERVICES)} imports {name}")
                elif target in packages and target not in (package_dir.name, "parley_common"):
                    found.append(f"{path.relative_to(SERVICES)} imports {name}")
                elif package_dir.name == "parley_common" and target in packages - {"parley_common"}:
                    found.append(f"{path.relative_to(SERVICES)} imports {name}")
    return found


def test_services_import_only_the_shared_library() -> None:
    assert _cross_imports() == []


def test_the_check_sees_a_cross_service_import(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The check itself can fail: a service importing another, and the shared library importing one.
    for name in ("parley_common", "parley_stt", "parley_gateway"):
        (tmp_path / name.removeprefix("parley_") / name).mkdir(parents=True)
    (tmp_path / "stt" / "parley_stt" / "worker.py").write_text("from parley_gateway.auth import tokens\n")
    (tmp_path / "common" / "parley_common" / "procs.py").write_text("import parley_stt.worker\n")
    monkeypatch.setattr(f"{__name__}.SERVICES", tmp_path)
    assert _cross_imports() == [
        "common/parley_common/procs.py imports parley_stt.worker",
        "stt/parley_stt/worker.py imports parley_gateway.auth",
    ]


def _modules() -> dict[str, Path]:
    out = {}
    for package_dir in SERVICES.glob("*/parley_*"):
        for path in package_dir.rglob("*.py"):
            parts = path.relative_to(package_dir.parent).with_suffix("").parts
            out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


def _module_graph(modules: dict[str, Path]) -> dict[str, set[str]]:
    """module -> the modules of services/ it imports (`from pkg import mod` is an edge to pkg.mod)."""

    def known(name: str) -> str | None:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = {}
    for module, path in modules.items():
        targets: set[str | None] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets.update(known(a.name) for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                targets.update(known(f"{node.module}.{a.name}") for a in node.names)
        graph[module] = {t for t in targets if t and t != module}
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle through each module that is on one (depth-first search)."""
    found: list[list[str]] = []
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                found.append([*path[path.index(nxt) :], nxt])
            elif nxt not in state:
                visit(nxt, [*path, nxt])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    return found


def test_no_module_imports_itself_through_others() -> None:
    assert _cycles(_module_graph(_modules())) == []


def test_the_cycle_check_sees_a_cycle() -> None:
    graph = {"a.service": {"a.backfill", "a.metrics"}, "a.backfill": {"a.service"}, "a.metrics": set()}
    assert _cycles(graph) == [["a.backfill", "a.service", "a.backfill"]]

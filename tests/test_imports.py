"""The project's modules, read as source (ast, function-level imports included): no import
cycle among them, nothing imports the CLI (`pipeline.cli`, `pipeline.ops_cli`) but the entry
point itself, and no module over MAX_LINES lines outside the generator (sample_scans/synth/)
except the ones named in TOO_LONG."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("pipeline", "extractors", "validators", "storage", "web", "sample_scans")
ENTRY_POINT = "pipeline.cli"  # [project.scripts] plico = "pipeline.cli:main"
CLI = ("pipeline.cli", "pipeline.ops_cli")
MAX_LINES = 600
# Over MAX_LINES and not split, each with its reason (the path relative to the checkout).
TOO_LONG: dict[str, str] = {}


def project_modules() -> dict[str, Path]:
    modules = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            modules[".".join(parts)] = path
    return modules


def _project_module(name: str, modules: dict[str, Path]) -> str | None:
    """The project module `name` names, or the package that holds it; None outside."""
    while name:
        if name in modules:
            return name
        name = name.rpartition(".")[0]
    return None


def imports_of(module: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The project modules `module` imports anywhere in its source."""
    found = set()
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package[:len(package) - node.level + 1]
                base = ".".join([*anchor, *([node.module] if node.module else [])])
            # `from pipeline import cli` imports the module pipeline.cli
            names = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base
                     for alias in node.names]
        else:
            continue
        for name in names:
            target = _project_module(name, modules)
            if target is not None and target != module:
                found.add(target)
    return found


def import_graph() -> dict[str, set[str]]:
    modules = project_modules()
    return {m: imports_of(m, p, modules) for m, p in modules.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_graph_sees_function_level_and_relative_imports(tmp_path):
    modules = {"pkg": tmp_path / "pkg" / "__init__.py", "pkg.a": tmp_path / "pkg" / "a.py",
               "pkg.b": tmp_path / "pkg" / "b.py", "pkg.c": tmp_path / "pkg" / "c.py"}
    (tmp_path / "pkg").mkdir()
    modules["pkg.a"].write_text("def f():\n    from pkg import b\n    from .c import x\n")
    assert imports_of("pkg.a", modules["pkg.a"], modules) == {"pkg.b", "pkg.c"}
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_import_cycle_among_project_modules():
    graph = import_graph()
    found = cycles(graph)
    detail = ["  ".join(f"{m} -> {sorted(graph[m] & set(c))}" for m in c) for c in found]
    assert not found, "import cycles:\n" + "\n".join(detail)


def test_nothing_imports_the_cli_but_the_entry_point():
    graph = import_graph()
    importers = {m: sorted(graph[m] & set(CLI)) for m in graph
                 if m != ENTRY_POINT and graph[m] & set(CLI)}
    assert not importers, f"modules importing the CLI: {importers}"


def test_no_module_over_the_line_limit():
    long = {}
    for path in project_modules().values():
        rel = path.relative_to(ROOT).as_posix()
        if rel.startswith("sample_scans/synth/"):
            continue
        lines = len(path.read_text().splitlines())
        if lines > MAX_LINES and rel not in TOO_LONG:
            long[rel] = lines
    assert not long, f"modules over {MAX_LINES} lines (split them by responsibility): {long}"
    for rel in TOO_LONG:  # an allowance outlives its need: drop it once the file is short
        assert len((ROOT / rel).read_text().splitlines()) > MAX_LINES, rel

"""The package's shape: no import cycle anywhere, imports inside functions included (issue 23)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

pytestmark = pytest.mark.device
PACKAGE = Path(__file__).resolve().parents[1] / "toolchain" / "spc"


def import_graph() -> dict[str, set[str]]:
    """Module -> the spc modules it names in any import statement (module level or inside a function)."""
    mods = {}
    for p in PACKAGE.rglob("*.py"):
        parts = p.relative_to(PACKAGE.parent).with_suffix("").parts
        mods[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = p
    graph: dict[str, set[str]] = {m: set() for m in mods}
    for mod, path in mods.items():
        pkg = mod if path.name == "__init__.py" else mod.rsplit(".", 1)[0]
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                base = pkg.split(".")[: len(pkg.split(".")) - node.level + 1] if node.level else []
                target = ".".join(base + ([node.module] if node.module else []))
                names = [f"{target}.{a.name}" if f"{target}.{a.name}" in mods else target for a in node.names]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            else:
                continue
            graph[mod] |= {n for n in names if n in mods and n != mod}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on, found = {}, {}, [], set(), []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_no_import_cycle_in_the_package():
    graph = import_graph()
    assert len(graph) > 50 and "spc.engines.loader" in graph["spc.runtime"]
    assert cycles(graph) == []


def test_the_cycle_finder_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def repeated_names(paths: list[Path]) -> list[str]:
    """Module and package names (``__init__`` aside) that stand more than once anywhere under the package."""
    names: dict[str, int] = {}
    for p in paths:
        name = p.parent.name if p.name == "__init__.py" else p.stem
        if p.parent != PACKAGE.parent or p.name != "__init__.py":
            names[name] = names.get(name, 0) + 1
    return sorted(n for n, k in names.items() if k > 1)


def test_no_module_name_stands_twice():
    """`recipes/prune.py` beside `prune/` (or `plots.py` in two packages) reads as one thing in two places."""
    assert repeated_names(sorted(PACKAGE.rglob("*.py"))) == []
    assert repeated_names([PACKAGE / "prune" / "__init__.py", PACKAGE / "recipes" / "prune.py",
                           PACKAGE / "recipes" / "__init__.py"]) == ["prune"]


def test_compress_reads_as_its_stages():
    """No function of the main job over 60 lines, and no recipe importing another (the demo aside)."""
    long = [f"{p.name}:{n.name}" for p in (PACKAGE / "recipes" / "compress").rglob("*.py")
            for n in ast.walk(ast.parse(p.read_text())) if isinstance(n, ast.FunctionDef) and n.end_lineno - n.lineno >= 60]
    assert long == []
    graph = import_graph()

    def recipe(m: str) -> str:  # spc.recipes.compress.choose -> spc.recipes.compress
        return ".".join(m.split(".")[:3])

    recipes = {m for m in graph if m.startswith("spc.recipes.")}
    assert {(m, d) for m in recipes if recipe(m) != "spc.recipes.demo" for d in graph[m] & recipes
            if recipe(d) != recipe(m)} == set()

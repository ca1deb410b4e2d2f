"""The package layout holds: no import cycle, no upward import, the library never
imports gixs.plot, every subpackage states its public names."""

import ast
import importlib
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1] / "gixs"

#: The one-way flow, lowest first; a part may import only parts of a lower rank
#: (or itself). plot and cli sit on top: nothing below them imports them.
RANK = {"_version": 0, "_lazy": 0, "errors": 0, "units": 0, "results": 1, "io": 2, "geometry": 3,
        "reduce": 4, "peaks": 5, "simulate": 6, "calibrate": 6, "superlattice": 6,
        "bragg": 6, "batch": 7, "plot": 8, "cli": 9}
SUBPACKAGES = ["geometry", "io", "reduce", "reduce.engine", "calibrate", "superlattice",
               "bragg", "batch", "plot", "cli"]


def _module_name(path):
    rel = path.relative_to(ROOT.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _imports():
    """Map every gixs module to the gixs modules it imports (anywhere in the file)."""
    graph = {}
    for path in ROOT.rglob("*.py"):
        name = _module_name(path)
        deps = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                if node.module.startswith("gixs"):
                    for alias in node.names:  # "from gixs.x import module" or a name
                        sub = node.module + "." + alias.name
                        path_of = ROOT.parent / sub.replace(".", "/")
                        if path_of.with_suffix(".py").exists() or path_of.is_dir():
                            deps.add(sub)
                        else:
                            deps.add(node.module)
            elif isinstance(node, ast.ImportFrom) and node.level:
                raise AssertionError(f"{path}: relative import (use gixs.<part>.<module>)")
            elif isinstance(node, ast.Import):
                deps.update(a.name for a in node.names if a.name.startswith("gixs"))
        deps.discard(name)
        graph[name] = deps
    return graph


def _part(module):
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else None


def test_no_upward_import_and_plot_only_from_cli():
    bad = []
    for mod, deps in _imports().items():
        src = _part(mod)
        if src is None:  # gixs/__init__ re-exports
            continue
        for dep in deps:
            dst = _part(dep)
            if dst is None:
                bad.append(f"{mod} imports the package root")
            elif dst != src and RANK[dst] >= RANK[src]:
                bad.append(f"{mod} -> {dep}")
    assert not bad, "upward or sideways imports:\n" + "\n".join(sorted(bad))


def test_no_import_cycle():
    graph = {m: {d for d in deps if d in _imports_keys()} for m, deps in _imports().items()}
    # a package __init__ re-exporting its own modules is not a cycle of the code
    for m in graph:
        graph[m] = {d for d in graph[m] if not m.startswith(d + ".")}
    state, stack, cycles = {}, [], []

    def visit(m):
        state[m] = 1
        stack.append(m)
        for d in graph[m]:
            if state.get(d) == 1:
                cycles.append(stack[stack.index(d):] + [d])
            elif d not in state:
                visit(d)
        stack.pop()
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m)
    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(c) for c in cycles)


def _imports_keys():
    return {_module_name(p) for p in ROOT.rglob("*.py")}


@pytest.mark.parametrize("name", SUBPACKAGES)
def test_subpackage_states_public_names(name):
    mod = importlib.import_module(f"gixs.{name}")
    assert mod.__doc__, f"gixs.{name} has no docstring"
    assert mod.__all__, f"gixs.{name} lists no public names"
    for public in mod.__all__:
        assert hasattr(mod, public), f"gixs.{name}.__all__ names {public}, which is missing"


def test_api_reference_lists_every_module():
    docs = pathlib.Path(__file__).resolve().parents[1] / "docs" / "api"
    listed = set()
    for rst in docs.glob("*.rst"):
        listed.update(line.split("::", 1)[1].strip() for line in rst.read_text().splitlines()
                      if line.startswith(".. automodule::"))
    cli = {m for m in _imports_keys() if m.startswith("gixs.cli")}
    packages = {"gixs." + p for p in SUBPACKAGES}  # their __init__ only re-export
    missing = sorted(_imports_keys() - listed - cli - packages - {"gixs", "gixs._version", "gixs._lazy"})
    assert not missing, f"run tools/make_api_docs.py; not in docs/api: {missing}"

"""The import structure of augtrain/: no cycles between files or between packages, the
packages in one order, and one owner of the run folder's file names.

Every import counts, function-local ones included (they are only a later cycle): `import
a.b` is an edge to a.b; `from a import b` to the submodule a.b where b is one, else to
a/__init__. A module importing from its own package's __init__ (or an ancestor's) is part
of a cycle: importing the package runs that __init__, which imports the module's
siblings, so the module cannot be imported on its own.

The layers, lowest first (a module may import only from its own layer's package or from
a lower layer; the foundation modules also among themselves, without cycles):

    foundation   errors, io, progress, device, download, runfolder, _version
    data         reading images: folders, CSV, .npz, arrays, the decode cache
    augment      the ops and pipelines on uint8 batches
    models       the networks, their registry, weights, heads, the checkpointed model
    report       evaluation, metrics, TTA, plots, grids, HTML, export
    training     config, loop, callbacks, run folder writing, evaluation of run folders
    keras        the Keras dialect (ImageDataGenerator, fit, layers)
    commands     the CLI's subcommands, with cli.py and __main__.py
    augtrain     the package's __init__: the public API
"""

from __future__ import annotations

import ast
import sys
from collections import defaultdict
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "augtrain"
FOUNDATION = ("errors", "io", "progress", "device", "download", "runfolder", "_version")
LAYERS = (
    FOUNDATION,
    ("data",),
    ("augment",),
    ("models",),
    ("report",),
    ("training",),
    ("keras",),
    ("commands",),
    ("augtrain",),
)


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def all_modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def is_package(modules: dict[str, Path], name: str) -> bool:
    return modules[name].name == "__init__.py"


def imports_of(name: str, modules: dict[str, Path]) -> set[str]:
    """The augtrain modules `name` imports, anywhere in its file."""
    found: set[str] = set()
    tree = ast.parse(modules[name].read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name in modules:
                    found.add(alias.name)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".") if is_package(modules, name) else name.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target not in modules:
                continue
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                found.add(sub if sub in modules else target)
    found.discard(name)
    return found


def import_graph() -> dict[str, set[str]]:
    modules = all_modules()
    return {name: imports_of(name, modules) for name in modules}


def strongly_connected(graph: dict[str, set[str]]) -> list[set[str]]:
    """The cycles of `graph`: its strongly connected components of more than one node
    (Tarjan's algorithm, iterative: no recursion limit)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[set[str]] = []
    counter = 0
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in graph:
                    continue
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(component)
    return found


def group(name: str) -> str:
    """The package (or foundation module) a module belongs to."""
    parts = name.split(".")
    if len(parts) == 1:
        return "augtrain"
    if parts[1] in ("cli", "__main__"):
        return "commands"  # the CLI's dispatcher: one layer with its subcommands
    return parts[1]


def layer_of(name: str) -> int:
    g = group(name)
    for rank, members in enumerate(LAYERS):
        if g in members:
            return rank
    raise AssertionError(f"{name}: in no layer; add its package to LAYERS in this test")


# ------------------------------------------------------------------ the checker itself
def test_the_cycle_finder_finds_cycles_and_only_cycles():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": {"e"}, "f": set()}
    assert strongly_connected(graph) == [{"a", "b", "c"}]
    assert strongly_connected({"x": {"y"}, "y": set()}) == []


def test_from_imports_resolve_to_submodules_or_the_package(tmp_path, monkeypatch):
    pkg = tmp_path / "augtrain"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("NAME = 1\n")
    (pkg / "sub" / "leaf.py").write_text("")
    (pkg / "sub" / "user.py").write_text(
        "from . import leaf\n\ndef later():\n    from . import NAME\n    import augtrain.sub.leaf\n"
    )
    monkeypatch.setattr(sys.modules[__name__], "PACKAGE", pkg)
    modules = all_modules()
    assert imports_of("augtrain.sub.user", modules) == {"augtrain.sub.leaf", "augtrain.sub"}
    graph = import_graph()
    # importing from its own package's __init__ is a cycle (the package contains it)
    assert package_containment_cycles(graph) == [("augtrain.sub.user", "augtrain.sub")]


# ------------------------------------------------------------------ augtrain/
def package_containment_cycles(graph: dict[str, set[str]]) -> list[tuple[str, str]]:
    """(module, ancestor package) where a module imports the __init__ of a package it is in."""
    return sorted(
        (name, target)
        for name, targets in graph.items()
        for target in targets
        if name.startswith(target + ".")
    )


def test_no_module_imports_its_own_package():
    assert package_containment_cycles(import_graph()) == []


def test_no_import_cycles_between_files():
    cycles = strongly_connected(import_graph())
    assert cycles == [], "import cycles: " + "; ".join(" <-> ".join(sorted(c)) for c in cycles)


def test_no_import_cycles_between_packages():
    packages: dict[str, set[str]] = defaultdict(set)
    for name, targets in import_graph().items():
        for target in targets:
            if group(name) != group(target):
                packages[group(name)].add(group(target))
        packages.setdefault(group(name), set())
    assert strongly_connected(dict(packages)) == []


def test_packages_import_only_their_own_layer_and_lower_ones():
    wrong = []
    for name, targets in import_graph().items():
        for target in targets:
            if group(target) == group(name):
                continue
            if layer_of(target) > layer_of(name) or (
                layer_of(target) == layer_of(name) and layer_of(name) != 0
            ):
                wrong.append(f"{name} -> {target}")
    assert wrong == []


@pytest.mark.parametrize("package", ["models", "report"])
def test_models_and_report_know_nothing_of_training(package):
    graph = import_graph()
    above = {"training", "keras", "commands", "augtrain"}
    if package == "models":
        above.add("report")
    wrong = [
        f"{name} -> {target}"
        for name, targets in graph.items()
        if group(name) == package
        for target in targets
        if group(target) in above
    ]
    assert wrong == []


# ------------------------------------------------------------------ one owner per artefact
RUN_FOLDER_FILES = ("config.json", "history.csv", "metrics.json", "last.pt", "best.pt")


def test_only_runfolder_names_the_run_folder_files():
    """A string that is exactly one of those names (code, not prose: docstrings, help text
    and messages say more around it) appears only in augtrain/runfolder.py."""
    offenders = []
    for name, path in all_modules().items():
        if name == "augtrain.runfolder":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and node.value in RUN_FOLDER_FILES:
                offenders.append(f"{name}:{node.lineno} {node.value!r}")
    assert offenders == []


def test_run_folder_names_are_the_ones_older_runs_have():
    from augtrain import runfolder

    names = (runfolder.CONFIG, runfolder.HISTORY, runfolder.METRICS, runfolder.LAST)
    assert names + (runfolder.BEST,) == RUN_FOLDER_FILES

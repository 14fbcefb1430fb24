"""The augmentation package's shape: no import circle between its files, nothing inside it
importing from its own __init__, and kernels chosen per backend by the registry."""

import ast
import pathlib

import torch

import augtrain
from augtrain.augment import backends, cpu_kernels, functional, geometry

PACKAGE = "augtrain.augment"
ROOT = pathlib.Path(augtrain.__file__).parent / "augment"


def import_graph() -> tuple[dict[str, set[str]], list[tuple[str, str]]]:
    """module -> the augment modules it imports (anywhere in it), and the names taken from
    the package's __init__ by modules inside it."""
    files = {}
    for f in ROOT.rglob("*.py"):
        parts = list(f.relative_to(ROOT.parent.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        files[".".join(parts)] = f
    graph: dict[str, set[str]] = {m: set() for m in files}
    from_init = []
    for module, f in files.items():
        base = module.split(".") if f.name == "__init__.py" else module.split(".")[:-1]
        for node in ast.walk(ast.parse(f.read_text())):
            if not isinstance(node, ast.ImportFrom):
                continue
            if node.level:
                up = base[: len(base) - (node.level - 1)]
                target = ".".join(up + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            for alias in node.names:
                if f"{target}.{alias.name}" in files:
                    graph[module].add(f"{target}.{alias.name}")
                elif target in files:
                    graph[module].add(target)
                    if target == PACKAGE and module != PACKAGE:
                        from_init.append((module, alias.name))
    return graph, from_init


def test_no_import_circle_and_nothing_imports_the_package_init():
    graph, from_init = import_graph()
    assert from_init == []
    # a package importing its own submodules is no circle; anything else that comes back is
    for module in graph:
        seen, todo = set(), [m for m in graph[module] if not m.startswith(module + ".")]
        while todo:
            m = todo.pop()
            assert m != module, f"{module} imports itself back through {m}"
            if m not in seen:
                seen.add(m)
                todo += [n for n in graph.get(m, ()) if not n.startswith(m + ".")]


def test_kernels_are_chosen_by_backend(monkeypatch):
    x = torch.zeros(2, 3, 4, 4, dtype=torch.uint8)
    expected = "numba" if cpu_kernels.enabled() else "torch"
    for name in ("warp", "crop"):
        assert backends.backend_for(name, x) == expected
        assert backends.backend_for(name, x.double().requires_grad_()) == "torch"
    monkeypatch.setenv("AUGTRAIN_CPU_KERNELS", "0")
    assert backends.kernel("crop", x) is functional._crop_torch
    assert backends.kernel("warp", x) is geometry._warp_torch

"""The import graph of posekit: layers only import downwards, and no two packages import each other.

Every ``import posekit.x`` / ``from posekit.x import`` / relative import in
the source counts, including imports inside functions (a lazy import is still
a dependency). A *unit* is a top-level module or subpackage of posekit.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

import posekit

ROOT = Path(posekit.__file__).parent

#: The layers, lowest first. The ground floor is pure numpy (+ OpenCV / ONNX Runtime at
#: the edges) and knows nothing of models, pipelines or commands.
LAYERS: list[set[str]] = [
    {"schema", "spec", "io", "geometry", "codec", "posenms", "evaluation", "runtime", "timing", "prefetch",
     "engine"},  # ground floor
    {"structures", "draw", "catalog", "presets"},
    {"models", "pose", "detect"},
    {"factory", "export", "quantize", "batching"},
    {"pipeline", "video", "train"},
    {"batch", "serve"},
    {"cli", "__main__"},
]
GROUND_FLOOR = LAYERS[0]


def _unit(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def import_graph() -> dict[str, dict[str, list[str]]]:
    """``{unit: {imported unit: [files that import it]}}`` over the whole package."""
    graph: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for path in sorted(ROOT.rglob("*.py")):
        parts = ("posekit", *path.relative_to(ROOT).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        module = ".".join(parts[:-1] if is_package else parts)
        package = module if is_package else module.rsplit(".", 1)[0]
        source = _unit(module)
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")[: len(package.split(".")) - node.level + 1]
                    target = ".".join(base + ([node.module] if node.module else []))
                else:
                    target = node.module or ""
                targets = [target]
                if target == "posekit":  # from posekit import catalog (a module; not a name like __version__)
                    targets += [f"posekit.{alias.name}" for alias in node.names
                                if (ROOT / alias.name).is_dir() or (ROOT / f"{alias.name}.py").is_file()]
            else:
                continue
            for target in targets:
                if target.startswith("posekit.") and _unit(target) != source:
                    graph[source][_unit(target)].append(str(path.relative_to(ROOT)))
    return graph


def _layer(unit: str) -> int:
    for i, layer in enumerate(LAYERS):
        if unit in layer:
            return i
    raise AssertionError(f"posekit unit {unit!r} is in no layer of tests/test_layering.py: place it")


def test_every_unit_has_a_layer() -> None:
    units = {_unit(".".join(("posekit", *p.relative_to(ROOT).with_suffix("").parts))) for p in ROOT.rglob("*.py")}
    for unit in units - {"__init__"}:
        _layer(unit)


def test_layers_only_import_downwards() -> None:
    wrong = [
        f"{src} (layer {_layer(src)}) imports {dst} (layer {_layer(dst)}) in {sorted(set(files))}"
        for src, deps in import_graph().items()
        if src != "__init__"
        for dst, files in deps.items()
        if _layer(dst) > _layer(src)
    ]
    assert not wrong, "\n".join(wrong)


def test_ground_floor_imports_only_the_ground_floor() -> None:
    graph = import_graph()
    wrong = [
        f"{src} imports {dst} in {sorted(set(files))}"
        for src in GROUND_FLOOR
        for dst, files in graph.get(src, {}).items()
        if dst not in GROUND_FLOOR
    ]
    assert not wrong, "\n".join(wrong)


def find_cycle(graph: dict[str, dict[str, list[str]]]) -> list[str] | None:
    """A cycle of units (first unit repeated at the end), or ``None``."""
    state: dict[str, int] = {}  # 1: on the stack, 2: done
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, {})):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_no_import_cycle_between_units() -> None:
    cycle = find_cycle(import_graph())
    assert cycle is None, " -> ".join(cycle or [])


def test_cycle_finder_finds_cycles() -> None:
    # the checker itself must be able to fail
    assert find_cycle({"a": {"b": []}, "b": {"c": []}, "c": {"a": []}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b": []}, "b": {}}) is None


@pytest.mark.parametrize("unit", sorted(GROUND_FLOOR - {"runtime", "timing", "prefetch"}))
def test_ground_floor_module_imports_alone(unit: str) -> None:
    """Importing a ground-floor unit loads no posekit unit above the ground floor."""
    import subprocess
    import sys

    code = (
        f"import sys, posekit.{unit}; "
        "loaded = {m.split('.')[1] for m in sys.modules if m.startswith('posekit.')}; "
        f"extra = loaded - set({sorted(GROUND_FLOOR)!r}); "
        "assert not extra, extra"
    )
    subprocess.run([sys.executable, "-c", code], check=True)

"""The package's module graph: every module imports, no module imports itself back through others, imports run
down the layers (the few exceptions named, with their reason at the import), and the layers that read runs reach
training only where noted."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

import aucgan

SRC = Path(aucgan.__file__).parent
#: Layers that load trained runs do so through aucgan.runs; of the training package they may use only these.
RUN_READERS = ("aucgan.inference", "aucgan.metrics", "aucgan.report", "aucgan.ui")
TRAINING_ALLOWED_FOR_READERS = {
    "aucgan.training.data",     # TrainData: the evaluation split as the tensors the generator was trained on
}
#: The layers of the package, lowest first: a module imports from its own layer and those below it. A package
#: named here holds its subpackages; ``aucgan`` itself is only the package's ``__init__``.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("aucgan", "aucgan.errors", "aucgan.au", "aucgan.fsutil", "aucgan.device", "aucgan.progress"),
    ("aucgan.config",),                     # the configuration schema and its loading (torch-free)
    ("aucgan.layout",),                     # layouts, landmarks, the region atlas
    ("aucgan.render",),                     # normals, lighting, shading, the views of maps
    ("aucgan.data", "aucgan.sources"),      # the data model, readers, the synthetic benchmark
    ("aucgan.nn",),                         # layers, conditioning
    ("aucgan.models",),                     # networks, and the configs turned into networks (models.build)
    ("aucgan.losses",),
    ("aucgan.rundir",),                     # a run directory's files
    ("aucgan.runs",),                       # trained networks loaded back
    ("aucgan.inference",),                  # the Editor
    ("aucgan.training",),                   # the orchestrators: engine, trainers
    ("aucgan.metrics",),
    ("aucgan.report",),
    ("aucgan.deca", "aucgan.photo", "aucgan.export"),
    ("aucgan.ui",),
    ("aucgan.cli", "aucgan.__main__"),
)
#: Imports that run up the layers: (importer, imported). Each import line says why with a "layer exception:"
#: comment.
UPWARD_EXCEPTIONS = {
    ("aucgan.layout.flame", "aucgan.data.errors"),
    ("aucgan.layout.flame", "aucgan.data.safe_pickle"),
    ("aucgan.training.aunet_loop", "aucgan.metrics.agreement"),
    ("aucgan.metrics.evaluate", "aucgan.report.collect"),
}


def _modules() -> dict[str, Path]:
    out = {}
    for path in sorted(SRC.rglob("*.py")):
        parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


MODULES = _modules()


def _is_type_checking(node: ast.AST) -> bool:
    return isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)


def _imports(node: ast.AST, module_level: bool) -> list[ast.AST]:
    """Import statements under ``node``, skipping ``if TYPE_CHECKING:`` blocks and, with ``module_level``,
    function and class bodies (what runs when the module is imported)."""
    found = []
    for child in ast.iter_child_nodes(node):
        if _is_type_checking(child):
            continue
        if isinstance(child, (ast.Import, ast.ImportFrom)):
            found.append(child)
        elif not (module_level and isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))):
            found.extend(_imports(child, module_level))
    return found


def _targets(node: ast.AST) -> set[str]:
    """The aucgan modules an import statement loads (the named submodule, else its package/module)."""
    names = ([a.name for a in node.names] if isinstance(node, ast.Import)
             else [f"{node.module}.{a.name}" for a in node.names] if node.module else [])
    out = set()
    for name in names:
        while name and name not in MODULES:
            name = name.rpartition(".")[0]
        if name.startswith("aucgan"):
            out.add(name)
    return out


def _import_lines(module: str, dep: str) -> list[str]:
    """The source lines of the import statements in ``module`` that load ``dep``."""
    text = MODULES[module].read_text()
    lines = text.splitlines()
    return ["\n".join(lines[node.lineno - 1:node.end_lineno])
            for node in _imports(ast.parse(text), module_level=False) if dep in _targets(node)]


def _graph(module_level: bool) -> dict[str, set[str]]:
    graph = {}
    for name, path in MODULES.items():
        deps: set[str] = set()
        for node in _imports(ast.parse(path.read_text()), module_level):
            deps |= _targets(node)
        graph[name] = deps - {name}
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle per strongly connected component with more than one module (Tarjan)."""
    index, low, stack, on_stack, comps = {}, {}, [], set(), []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                comps.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return comps


@pytest.mark.parametrize("name", [m for m in MODULES if not m.endswith("__main__")])
def test_every_module_imports(name):
    try:
        importlib.import_module(name)
    except ModuleNotFoundError as exc:  # an optional extra (gradio, mediapipe, onnx) that is not installed
        if exc.name is None or exc.name.split(".")[0] == "aucgan":
            raise
        pytest.skip(f"{name} needs {exc.name}, an optional extra that is not installed")


def test_no_import_cycles_at_module_level():
    assert _cycles(_graph(module_level=True)) == []


def test_no_import_cycles_through_imports_inside_functions():
    assert _cycles(_graph(module_level=False)) == []


def test_the_cycle_finder_finds_cycles():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_run_readers_load_runs_through_aucgan_runs():
    graph = _graph(module_level=False)
    bad = {f"{m} -> {d}" for m, deps in graph.items() if m.startswith(RUN_READERS)
           for d in deps if d.startswith("aucgan.training") and d not in TRAINING_ALLOWED_FOR_READERS}
    assert sorted(bad) == []


def _layer(module: str) -> int:
    """The index in :data:`LAYERS` of the most specific entry holding ``module`` (an error for a new module that
    no layer holds yet)."""
    found = [(len(entry), i) for i, layer in enumerate(LAYERS) for entry in layer
             if module == entry or (entry != "aucgan" and module.startswith(entry + "."))]
    if not found:
        raise AssertionError(f"{module} is in no layer of tests/test_imports.py LAYERS: place it there")
    return max(found)[1]


def _upward(graph: dict[str, set[str]]) -> set[tuple[str, str]]:
    return {(m, d) for m, deps in graph.items() for d in deps if _layer(d) > _layer(m)}


def test_every_module_has_a_layer():
    for name in MODULES:
        _layer(name)


def test_imports_run_down_the_layers_except_the_named_ones():
    upward = _upward(_graph(module_level=False))
    assert sorted(upward - UPWARD_EXCEPTIONS) == []
    assert sorted(UPWARD_EXCEPTIONS - upward) == []          # an exception that no longer happens is dropped


def test_each_upward_import_says_why_where_it_is_made():
    for module, dep in sorted(UPWARD_EXCEPTIONS):
        lines = _import_lines(module, dep)
        assert lines and all("# layer exception:" in line for line in lines), (module, dep, lines)


def test_the_layer_check_finds_an_upward_import():
    assert _layer("aucgan.data.synth.writer") == _layer("aucgan.data") > _layer("aucgan.render.views")
    assert _layer("aucgan") < _layer("aucgan.config")
    graph = {"aucgan.render.shaded": {"aucgan.data.codec", "aucgan.render.sh"}, "aucgan.data.codec": {"aucgan.au"}}
    assert _upward(graph) == {("aucgan.render.shaded", "aucgan.data.codec")}

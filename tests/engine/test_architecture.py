"""The engine's shape, checked: layers import one way, no cycles, one public surface for everyone outside."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import engine
from tests.helpers import ROOT

ENGINE = ROOT / "engine"

# Rank of each top-level piece of engine/: a module may import what has a lower rank, or its own package.
LAYERS = {
    "errors": 0,
    "atomic": 0,
    "progress": 0,
    "options": 0,
    "json_values": 0,
    "model": 1,
    "image": 2,
    "precision": 3,
    "runtime": 4,
    "inference": 5,
    "advice": 5,
    "batch": 6,
    "gpu": 7,
    "__init__": 8,
    "cli": 9,
    "__main__": 10,
}
"""The facade (__init__) names everything below it lazily; the command line sits on top of the facade."""


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    """ids of nodes inside `if TYPE_CHECKING:` blocks: annotations only, not dependencies."""
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            skipped.update(id(child) for stmt in node.body for child in ast.walk(stmt))
    return skipped


def imports_of(path: Path, modules: set[str]) -> set[str]:
    """Engine modules `path` imports (module-level or inside functions), resolved to module names."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    tree = ast.parse(path.read_text())
    skipped = _type_checking_nodes(tree)
    found = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.ImportFrom) and node.level:
            base = package
            for _ in range(node.level - 1):
                base = base.rpartition(".")[0]
            target = f"{base}.{node.module}" if node.module else base
            submodules = [f"{target}.{alias.name}" for alias in node.names if f"{target}.{alias.name}" in modules]
            # `from .. import atomic` depends on the submodule; the package itself, which Python has already
            # imported to reach this module, counts only when a name comes from its own body.
            own_names = len(submodules) < len(node.names) or node.module is not None
            for candidate in submodules + ([target] if own_names else []):
                if candidate in modules and candidate != name:
                    found.add(candidate)
        elif isinstance(node, ast.Import | ast.ImportFrom) and not getattr(node, "level", 0):
            for alias in getattr(node, "names", []):
                full = getattr(node, "module", None) or alias.name
                if full.split(".")[0] == "engine":
                    found.add(full)
    return found


def engine_graph() -> dict[str, set[str]]:
    paths = sorted(ENGINE.rglob("*.py"))
    modules = {module_name(p) for p in paths}
    return {module_name(p): imports_of(p, modules) for p in paths}


def layer(module: str) -> tuple[str, int]:
    parts = module.split(".")
    top = parts[1] if len(parts) > 1 else "__init__"
    rank = LAYERS[top]
    return ("foundation" if rank == 0 else top), rank


def test_every_engine_folder_is_a_known_layer_with_a_one_line_docstring():
    for path in ENGINE.rglob("__init__.py"):
        name = module_name(path)
        parts = name.split(".")
        assert (parts[1] if len(parts) > 1 else "__init__") in LAYERS, f"{name} is not in the layer table"
        doc = ast.get_docstring(ast.parse(path.read_text()))
        assert doc, f"{path.relative_to(ROOT)} says nothing about what lives there"


def test_engine_imports_run_one_way():
    graph = engine_graph()
    upward = []
    for module, targets in graph.items():
        top, rank = layer(module)
        for target in targets:
            target_top, target_rank = layer(target)
            if target_rank > rank or (target_rank == rank and target_top != top):
                upward.append(f"{module} -> {target}")
    assert upward == []


def test_engine_has_no_import_cycle():
    graph = engine_graph()
    state: dict[str, int] = {}
    cycles = []

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        stack.append(node)
        for target in sorted(graph.get(node, ())):
            if state.get(target) == 1:
                cycles.append(" -> ".join(stack[stack.index(target) :] + [target]))
            elif target not in state:
                visit(target, stack)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [])
    assert cycles == []


def test_the_checks_catch_an_upward_import_and_a_cycle(tmp_path, monkeypatch):
    """The walker itself: an invented model -> inference import is upward, and a <-> b is a cycle."""
    fake = {"engine.model.a": {"engine.inference.b"}, "engine.inference.b": {"engine.model.a"}}
    monkeypatch.setattr(sys.modules[__name__], "engine_graph", lambda: fake)
    with pytest.raises(AssertionError):
        test_engine_imports_run_one_way()
    with pytest.raises(AssertionError):
        test_engine_has_no_import_cycle()


OUTSIDE = ["__init__.py", "handlers.py", "preferences.py", "properties.py", "operators", "panels"]


def boundary_leaks(source: str, where: str, cli: bool = False) -> list[str]:
    """Imports in `source` that reach past the engine's public surface: a module below it (`from ..engine.runtime
    import x`), or a name that is not exported (`from ..engine import runtime`, `from ..engine import _EXPORTS`);
    in cli.py, which sits inside the package, `from .x import y` or `from . import runtime`."""
    public = set(engine.__all__)
    leaks = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):  # `import engine.runtime.prepare`: a module below the surface
            leaks += [f"{where}: import {a.name}" for a in node.names if a.name.startswith("engine.")]
            continue
        if not isinstance(node, ast.ImportFrom):
            continue
        module = node.module or ""
        into_engine = module == "engine" or module.startswith("engine.") or (cli and node.level == 1)
        if not into_engine:
            continue
        below = module.startswith("engine.") or (cli and bool(module))
        hidden = [a.name for a in node.names if a.name not in public]
        if below or hidden:
            leaks.append(f"{where}: from {'.' * node.level}{module} import {', '.join(a.name for a in node.names)}")
    return leaks


def test_the_blender_layer_and_the_cli_import_only_the_public_surface():
    offenders = []
    files = [
        p for entry in OUTSIDE for p in ((ROOT / entry).rglob("*.py") if (ROOT / entry).is_dir() else [ROOT / entry])
    ]
    for path in files:
        offenders += boundary_leaks(path.read_text(), str(path.relative_to(ROOT)))
    offenders += boundary_leaks((ENGINE / "cli.py").read_text(), "engine/cli.py", cli=True)
    assert offenders == []


SCRIPTS = ["bench", "scripts", "samples"]
"""Code outside the extension that uses the engine as a pipeline TD's script would: through the facade only."""


def script_leaks(root: Path) -> list[str]:
    """Every import in `root`'s bench/, scripts/ and samples/ (module level or inside functions) of an engine module
    below the facade, or of a name it does not export."""
    return [
        leak
        for folder in SCRIPTS
        for path in sorted((root / folder).rglob("*.py"))
        for leak in boundary_leaks(path.read_text(), str(path.relative_to(root)))
    ]


def test_bench_scripts_and_samples_import_only_the_public_surface():
    assert script_leaks(ROOT) == []


def test_the_boundary_check_catches_a_leak_in_bench_scripts_or_samples(tmp_path):
    """The walk reaches every folder and a lazy import inside a function; a public import passes."""
    sources = {
        "bench/suite.py": "def row():\n    from engine.runtime.prepare import SESSIONS\n",
        "scripts/demo.py": "import engine.image.files\n",
        "samples/evaluate.py": "from engine import _EXPORTS, read_image\n",
        "samples/clean.py": "import engine\nfrom engine import prepare_model, gpu\n",
    }
    for name, source in sources.items():
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_text(source)
    leaks = script_leaks(tmp_path)
    assert [leak.split(":")[0] for leak in leaks] == ["bench/suite.py", "scripts/demo.py", "samples/evaluate.py"]
    assert "import engine.image.files" in leaks[1] and "_EXPORTS" in leaks[2]


def test_the_boundary_check_catches_each_known_leak():
    """The three leaks the design review found passed the old check; each is caught now, and public names pass."""
    assert boundary_leaks("from ..engine import runtime\n", "op.py")
    assert boundary_leaks("from ..engine import _EXPORTS\n", "op.py")
    assert boundary_leaks("from . import runtime\n", "engine/cli.py", cli=True)
    assert boundary_leaks("from ..engine.runtime.prepare import prepare_model\n", "op.py")
    assert boundary_leaks("from .runtime import prepare\n", "engine/cli.py", cli=True)
    assert boundary_leaks("from ..engine import prepare_model, gpu, Precision\n", "op.py") == []
    assert boundary_leaks("from . import prepare_model\n", "engine/cli.py", cli=True) == []


def test_every_public_name_resolves_and_nothing_private_is_exported():
    for name in engine.__all__:
        assert not name.startswith("_")
        assert getattr(engine, name) is not None
    with pytest.raises(AttributeError):
        engine.prepare_model_typo  # noqa: B018 - the lookup itself is the test


def test_importing_the_engine_and_light_names_loads_no_onnx():
    code = (
        "import sys, engine\n"
        "from engine import RunSettings, Precision, Progress, Cancelled, EngineError, parse_mapping, gpu\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('onnx', 'onnxruntime', 'onnxconverter_common')))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert done.stdout.strip() == "[]"
    heavy = subprocess.run(
        [sys.executable, "-c", "import sys, engine; engine.inspect_model; print('onnx' in sys.modules)"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
    )
    # The check above could fail: using a heavy name does load onnx (prepare_model no longer does: a cache hit
    # needs no ONNX library, tests/engine/runtime/test_prepare.py).
    assert heavy.stdout.strip() == "True"


def test_the_export_map_is_the_one_list_and_the_type_checking_block_matches_it():
    """Issue 23: the public names were kept three times by hand ('Fit' listed twice). __all__ is the map's keys;
    the TYPE_CHECKING imports (for type checkers) name exactly those, from the module the map says."""
    tree = ast.parse((ENGINE / "__init__.py").read_text())
    block = next(n for n in tree.body if isinstance(n, ast.If) and getattr(n.test, "id", "") == "TYPE_CHECKING")
    imported: dict[str, str] = {}
    for node in block.body:
        if isinstance(node, ast.ImportFrom):
            for alias in node.names:
                imported[alias.asname or alias.name] = "." * node.level + (node.module or "")
                if node.module is None:  # `from . import gpu`: the module itself
                    imported[alias.asname or alias.name] = "." + alias.name
    assert engine.__all__ == sorted(engine._EXPORTS) and len(set(engine.__all__)) == len(engine.__all__)
    assert imported == engine._EXPORTS

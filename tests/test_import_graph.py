"""The package's import graph, read statically with ``ast``: one circle only (registry <-> encoder families), the
encoders and the checkpoint layer import nothing above them, and the commands do not call each other for set-up."""
from __future__ import annotations

import ast
from pathlib import Path

import mmlookup

ROOT = Path(mmlookup.__file__).parent

# The one circle allowed: the registry imports the families (lazily, to register them) and each family registers
# itself through the registry's decorator (timm's _registry has the same shape).
REGISTRY_CIRCLE = "mmlookup.registry"
ABOVE_ENCODERS = ("viz", "bench", "engine", "models", "heads", "folders", "captioning", "data", "config", "cli",
                  "metrics")


def module_name(path: Path, root: Path = ROOT) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph(root: Path = ROOT) -> dict[str, set[str]]:
    """Module → the project modules it imports anywhere in its text (top level, functions, TYPE_CHECKING blocks)."""
    files = {module_name(p, root): p for p in root.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in files.items():
        package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
        found: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    base = ".".join(package[: len(package) - node.level + 1] + ([base] if base else []))
                targets = [base] + [f"{base}.{a.name}" for a in node.names]
            else:
                continue
            found |= {t for t in targets if t in files and t != name}
        graph[name] = found
    return graph


def cycles(graph: dict[str, set[str]]) -> list[set[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    out: list[set[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = set()
            while True:
                w = stack.pop()
                comp.add(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(comp)

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def _under(module: str, *packages: str) -> bool:
    return any(module == f"mmlookup.{p}" or module.startswith(f"mmlookup.{p}.") for p in packages)


GRAPH = import_graph()


def test_the_graph_sees_function_level_and_relative_imports(tmp_path):
    pkg = tmp_path / "mmlookup"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("from . import b\n")
    (pkg / "sub" / "b.py").write_text("def f():\n    from mmlookup.sub import c\n")
    (pkg / "sub" / "c.py").write_text("from mmlookup.sub.b import f\n")
    g = import_graph(pkg)
    assert g["mmlookup.sub"] == {"mmlookup.sub.b"}
    assert g["mmlookup.sub.b"] == {"mmlookup.sub", "mmlookup.sub.c"}      # a function-level import counts too
    assert cycles(g) == [{"mmlookup.sub", "mmlookup.sub.b", "mmlookup.sub.c"}]


def test_only_the_registry_circle_remains():
    found = cycles(GRAPH)
    allowed = [c for c in found if REGISTRY_CIRCLE in c and all(m == REGISTRY_CIRCLE or _under(m, "encoders")
                                                                   for m in c)]
    assert [sorted(c) for c in found if c not in allowed] == []
    assert len(allowed) <= 1


def test_encoders_import_nothing_above_them():
    bad = {m: sorted(t for t in ts if _under(t, *ABOVE_ENCODERS)) for m, ts in GRAPH.items() if _under(m, "encoders")}
    assert {m: ts for m, ts in bad.items() if ts} == {}


def test_the_folder_mixin_below_the_encoders_imports_no_model_code():
    assert GRAPH["mmlookup.hub"] == set()


def test_checkpoint_layer_sits_below_models_engine_viz_and_bench():
    bad = {m: sorted(t for t in ts if not _under(t, "checkpoints", "encoders", "layers"))
           for m, ts in GRAPH.items() if _under(m, "checkpoints")}
    assert {m: ts for m, ts in bad.items() if ts} == {}


def test_commands_share_set_up_instead_of_calling_each_other():
    assert "mmlookup.engine.cli" not in GRAPH["mmlookup.engine.demo"]
    for module, targets in GRAPH.items():
        if _under(module, "captioning") or module == "mmlookup.engine.robustness":
            assert "mmlookup.engine.fit" not in targets, module


def test_only_the_checkpoint_layer_reads_weight_files():
    """Reading weights (``torch.load``, safetensors) happens in ``checkpoints/``; the engine keeps only resuming its
    own training state (Accelerate's files, the EMA) and the captioner its cache of encoder outputs."""
    readers = {"load_file", "safe_open", "load_model"}
    allowed = {"mmlookup.engine.checkpoint": {"load_file"}, "mmlookup.captioning.cache": {"torch.load"}}
    found: dict[str, set[str]] = {}
    for path in ROOT.rglob("*.py"):
        name = module_name(path)
        if _under(name, "checkpoints"):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call):
                f = node.func
                called = f.id if isinstance(f, ast.Name) else ast.unparse(f) if isinstance(f, ast.Attribute) else ""
                if called in readers or called == "torch.load":
                    found.setdefault(name, set()).add(called)
    assert {m: c for m, c in found.items() if c - allowed.get(m, set())} == {}

"""The shape of the code: imports only go downward through the layers below, no cycles, the README maps every module.

The layers are written here, not derived: a new module must be placed, and an import that climbs (a domain module
importing the command line, the evaluation harness importing a script) fails with the offending edge.
"""

from __future__ import annotations

import ast
import fnmatch
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

# Lowest first. A module may import modules of its own layer or of a lower one, never of a higher one.
LAYERS: list[list[str]] = [
    ["assistant", "assistant.errors", "assistant.models", "assistant.text", "assistant.prompts"],
    ["assistant.config", "assistant.references", "assistant.generations", "assistant.database"],
    ["assistant.manifest", "assistant.loaders", "assistant.glossary", "assistant.settings_doc", "assistant.figures"],
    ["assistant.legal", "assistant.legal.*"],
    ["assistant.embeddings", "assistant.store", "assistant.catalog"],
    [
        "assistant.index",
        "assistant.ingest",
        "assistant.shared",
        "assistant.spelling",
        "assistant.conversation",
        "assistant.bank",
    ],
    ["assistant.retrieve", "assistant.citations", "assistant.brief", "assistant.amendments"],
    ["assistant.writers", "assistant.writers.*"],
    ["assistant.answer", "assistant.auth", "assistant.auth_store", "assistant.requirements", "assistant.evidence"],
    [
        "assistant.curated",
        "assistant.curated.*",
        "assistant.corpus_check",
        "assistant.call_text",
        "assistant.call_check",
        "assistant.drafting",
        "assistant.prontuario",
        "assistant.uploads",
    ],
    ["assistant.cli", "assistant.cli.*", "assistant.ui", "assistant.ui.*"],
    ["app"],
    ["evals", "evals.metrics", "evals.appserver", "evals.answers"],
    ["evals.harness"],
    ["evals.*"],
]


def module_files() -> dict[str, Path]:
    files = sorted((REPO / "assistant").rglob("*.py")) + [REPO / "app.py"] + sorted((REPO / "evals").glob("*.py"))
    out = {}
    for path in files:
        parts = list(path.relative_to(REPO).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def layer_of(module: str) -> int:
    for index, patterns in enumerate(LAYERS):
        if any(module == p for p in patterns):
            return index
    for index, patterns in enumerate(LAYERS):
        if any(fnmatch.fnmatchcase(module, p) for p in patterns):
            return index
    raise AssertionError(f"{module} is in no layer: add it to LAYERS in tests/test_architecture.py")


def imports(module: str, path: Path, known: set[str]) -> set[str]:
    """Project modules imported anywhere in the file (functions included), resolved to the module itself."""
    is_package = path.name == "__init__.py"
    package = module if is_package else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)] if node.level > 1 else base
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            names = [target] + [f"{target}.{alias.name}" for alias in node.names]
        else:
            continue
        for name in names:
            # "from . import calls" imports the module assistant.cli.calls; "from .x import f" imports assistant.x
            while name and name not in known:
                name = name.rpartition(".")[0]
            if name and name != module:
                found.add(name)
    return found


def graph() -> dict[str, set[str]]:
    files = module_files()
    known = set(files)
    edges = {module: imports(module, path, known) for module, path in files.items()}
    # A package imported by one of its own modules is Python's doing (it runs __init__ first), not a dependency.
    return {source: {t for t in targets if not source.startswith(t + ".")} for source, targets in edges.items()}


def climbing(edges: dict[str, set[str]]) -> list[str]:
    """Imports from a lower layer to a higher one."""
    return [
        f"{source} (layer {layer_of(source)}) imports {target} (layer {layer_of(target)})"
        for source, targets in sorted(edges.items())
        for target in sorted(targets)
        if layer_of(target) > layer_of(source)
    ]


def cycles(edges: dict[str, set[str]]) -> list[str]:
    """Every import cycle found by a depth-first walk, as "a -> b -> a"."""
    found: list[str] = []
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for target in sorted(edges.get(node, ())):
            if state.get(target) == 1:
                found.append(" -> ".join([*stack[stack.index(target) :], target]))
            elif target not in state:
                visit(target)
        stack.pop()
        state[node] = 2

    for module in sorted(edges):
        if module not in state:
            visit(module)
    return found


def test_every_module_has_a_layer() -> None:
    for module in module_files():
        layer_of(module)


def test_imports_only_go_downward() -> None:
    assert climbing(graph()) == []


def test_no_import_cycles() -> None:
    assert cycles(graph()) == []


def test_the_checks_can_fail(tmp_path: Path) -> None:
    """A domain module importing the command line inside a function is found, climbs, and closes a cycle."""
    bad = tmp_path / "ingest.py"
    bad.write_text("def f():\n    from .cli.support import print_json\n", encoding="utf-8")
    known = {"assistant.ingest", "assistant.cli", "assistant.cli.support"}
    edges = {"assistant.ingest": imports("assistant.ingest", bad, known), "assistant.cli.support": {"assistant.ingest"}}
    assert edges["assistant.ingest"] == {"assistant.cli.support"}
    assert climbing(edges) == ["assistant.ingest (layer 5) imports assistant.cli.support (layer 10)"]
    assert cycles(edges) == ["assistant.cli.support -> assistant.ingest -> assistant.cli.support"]


def test_readme_module_map_matches_the_tree() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    block = readme.split("<!-- module-map:start -->")[1].split("<!-- module-map:end -->")[0]
    mapped = set(re.findall(r"`((?:assistant/[\w/]+|app|evals/\w+)\.py)`", block))
    actual = {p.relative_to(REPO).as_posix() for p in module_files().values()}
    assert sorted(actual - mapped) == [], "modules missing from the README's module map"
    assert sorted(mapped - actual) == [], "the README's module map names modules that do not exist"


def test_no_module_over_the_house_limit_without_saying_why() -> None:
    for module, path in module_files().items():
        lines = path.read_text(encoding="utf-8").count("\n")
        if lines > 450:
            docstring = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
            assert "longer" in docstring.lower() or "long " in docstring.lower(), (
                f"{module} has {lines} lines: split it, or say in its first docstring why it stays long"
            )

"""The package's layers: no module imports a layer above its own, and module-level imports form no cycle.

Layers, lowest first: ``tensor, runtime, cache, hub, batching`` (and the package root, ``course_files``,
``progress`` and ``install_assets``, which import nothing above them) -> ``text`` -> ``toyworld`` -> ``models``
-> ``adapter`` -> ``objective`` -> ``optim`` -> ``captioning`` -> ``metrics, widgets, figures, report,
assignments`` -> ``cli`` -> ``__main__``.
A new top-level module fails ``test_every_module_has_a_layer`` until it is given a layer here.
Every ``fuse_edu`` import counts, at module level or inside a function; only module-level ones can make an
import cycle. Each module is read with ``ast``; nothing is imported.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "fuse_edu"

LAYERS: list[set[str]] = [
    {"", "tensor", "runtime", "cache", "hub", "batching", "install_assets", "course_files", "progress"},  # "": the package root
    {"text"},
    {"toyworld"},
    {"models"},
    {"adapter"},
    {"objective"},
    {"optim"},
    {"captioning"},
    {"metrics", "widgets", "figures", "report", "assignments"},  # figures: the notebooks' diagrams, as widgets
    {"cli"},
    {"__main__"},
]


def module_name(path: Path, root: Path = PACKAGE) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def layer_of(module: str) -> int:
    """The layer of ``fuse_edu.<top>...``, by its first component below the package."""
    parts = module.split(".")
    top = parts[1] if len(parts) > 1 else ""
    for level, names in enumerate(LAYERS):
        if top in names:
            return level
    raise KeyError(f"{module} is in no layer; add {top!r} to LAYERS in {Path(__file__).name}")


def imports_of(source: str, module: str, is_package: bool, known: set[str]) -> list[tuple[str, int, bool]]:
    """(imported fuse_edu module, line, at module level) for every import in ``source``. ``from a import b``
    counts as an import of ``a.b`` when that is a module (in ``known``), else of ``a``; relative imports are
    resolved against ``module``."""
    tree = ast.parse(source)
    top_level = {id(node) for node in _module_level(tree.body)}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                package = module if is_package else module.rpartition(".")[0]
                for _ in range(node.level - 1):
                    package = package.rpartition(".")[0]
                base = f"{package}.{base}" if base else package
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names]
        else:
            continue
        for target in targets:
            if target == "fuse_edu" or target.startswith("fuse_edu."):
                found.append((target, node.lineno, id(node) in top_level))
    return found


def _module_level(body: list[ast.stmt]):
    """Statements that run when the module is imported: the body, and inside if/try/with at that level."""
    for node in body:
        yield node
        if isinstance(node, (ast.If, ast.Try, ast.With)):
            for field in ("body", "orelse", "finalbody"):
                yield from _module_level(getattr(node, field, []))
            for handler in getattr(node, "handlers", []):
                yield from _module_level(handler.body)


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle of ``graph`` as [a, b, ..., a], or None."""
    state: dict[str, int] = {}  # 1 on the current path, 2 done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node], _ = 1, path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        state[node], _ = 2, path.pop()
        return None

    for start in sorted(graph):
        if start not in state and (cycle := visit(start)):
            return cycle
    return None


def package_imports(root: Path = PACKAGE) -> dict[str, list[tuple[str, int, bool]]]:
    files = {module_name(p, root): p for p in sorted(root.rglob("*.py"))}
    known = set(files)
    return {name: [(t, line, top) for t, line, top in
                   imports_of(path.read_text(encoding="utf-8"), name, path.name == "__init__.py", known)]
            for name, path in files.items()}


@pytest.fixture(scope="module")
def imports():
    return package_imports()


# ----------------------------------------------------------------------------------------- the package

def test_every_module_has_a_layer(imports):
    assert len(imports) > 50 and "fuse_edu.cli.caption" in imports and "fuse_edu.__main__" in imports
    for module in imports:
        layer_of(module)


def test_no_module_imports_a_layer_above_its_own(imports):
    upward = [f"{module}:{line} imports {target} (layer {layer_of(target)} > {layer_of(module)})"
              for module, found in imports.items() for target, line, _ in found
              if layer_of(target) > layer_of(module)]
    assert not upward, "\n".join(upward)


def test_module_level_imports_form_no_cycle(imports):
    known = set(imports)
    graph = {module: {t for t, _, top in found if top and t in known and t != module}
             for module, found in imports.items()}
    cycle = find_cycle(graph)
    assert cycle is None, " -> ".join(cycle)


# ----------------------------------------------------------------------------------------- the checker itself

KNOWN = {"fuse_edu", "fuse_edu.cli", "fuse_edu.tensor", "fuse_edu.toyworld", "fuse_edu.toyworld.policy",
         "fuse_edu.models", "fuse_edu.models.presets", "fuse_edu.models.base"}


def test_the_checker_sees_imports_in_functions_and_resolves_relative_ones():
    source = ("import os\nfrom fuse_edu.toyworld import policy, COLORS\nfrom . import base\nfrom .base import x\n"
              "try:\n    import fuse_edu.tensor\nexcept ImportError:\n    pass\n"
              "def later():\n    from fuse_edu.cli import main\n")
    found = imports_of(source, "fuse_edu.models.presets", is_package=False, known=KNOWN)
    assert found == [("fuse_edu.toyworld.policy", 2, True), ("fuse_edu.toyworld", 2, True),
                     ("fuse_edu.models.base", 3, True), ("fuse_edu.models.base", 4, True),
                     ("fuse_edu.tensor", 6, True), ("fuse_edu.cli", 10, False)]
    upward = [t for t, _, _ in found if layer_of(t) > layer_of("fuse_edu.models.presets")]
    assert upward == ["fuse_edu.cli"]  # an import inside a function counts for layering


def test_the_checker_finds_a_cycle_and_places_every_layer():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set(), "c": {"a", "b"}}) is None
    assert layer_of("fuse_edu") == layer_of("fuse_edu.tensor") < layer_of("fuse_edu.text.offline")
    assert layer_of("fuse_edu.report.html") == layer_of("fuse_edu.metrics") < layer_of("fuse_edu.cli.demo")
    assert layer_of("fuse_edu.cli") < layer_of("fuse_edu.__main__")
    with pytest.raises(KeyError, match="'brand_new' to LAYERS"):
        layer_of("fuse_edu.brand_new.thing")

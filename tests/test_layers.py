"""The layering of DESIGN.md, checked on every import in the code (top level and inside
functions, since a lazy import is still a dependency):

    ground (io, errors, config, memo, settings, locations, cli) < {data, sim} < model < train
        < index < {report, evaluate, explain} < app

A part may import its own modules and parts below it; parts on one level may import each
other only one way (no cycle). ``eclip`` never imports ``app``; nothing outside ``app``
imports Streamlit. ``sim`` (the demo simulator) is a source of dataset folders, like an
importer: no other part imports it; they read the files build-demo writes (lung fields,
each reader's gaze map) the way they read any dataset's.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# cli: the one runner every main uses; it names the mains as strings and imports them on demand
GROUND = ("eclip.io", "eclip.errors", "eclip.config", "eclip.memo", "eclip.settings", "eclip.locations",
          "eclip.cli", "eclip.__main__")
LEVELS = {"ground": 0, "data": 1, "sim": 1, "model": 2, "train": 3, "index": 4,
          "report": 5, "evaluate": 5, "explain": 5, "app": 6}
# Parts only CLIs name (as strings): explain never re-runs the simulator to recover lung
# fields or a second reader, it reads lungs/<id>.npz and gaze/<id>/readings/.
SOURCES = ("sim",)


def part_of(module: str) -> str | None:
    """The part a dotted module name belongs to (None: not ours, or the package root)."""
    if module == "app" or module.startswith("app."):
        return "app"
    if module in GROUND or any(module.startswith(g + ".") for g in GROUND):
        return "ground"
    bits = module.split(".")
    if bits[0] == "eclip" and len(bits) > 1 and bits[1] in LEVELS:
        return bits[1]
    return None


def module_name(path: Path, root: Path) -> str:
    rel = path.relative_to(root).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def imports_of(path: Path, module: str) -> list[tuple[str, int]]:
    """(imported module, line) for every import statement anywhere in the file."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(node, package)
            # `from eclip import explain` imports the submodule eclip.explain
            found += [(f"{base}.{alias.name}" if part_of(base) is None else base, node.lineno)
                      for alias in node.names]
    return found


def _absolute(node: ast.ImportFrom, package: str) -> str:
    """The module a `from ... import` reads from, relative imports resolved against package."""
    base = node.module or ""
    if node.level:
        anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
        base = ".".join(anchor + ([base] if base else []))
    return base


def dependencies(root: Path = ROOT) -> list[tuple[str, str, str, int]]:
    """(importer part, imported part, file, line) across eclip/ and app/."""
    edges = []
    for folder in ("eclip", "app"):
        for path in sorted((root / folder).rglob("*.py")):
            module = module_name(path, root)
            src = part_of(module)
            for target, line in imports_of(path, module):
                dst = part_of(target)
                if src and dst and src != dst:
                    edges.append((src, dst, str(path.relative_to(root)), line))
    return edges


def layering_problems(edges: list[tuple[str, str, str, int]]) -> list[str]:
    problems = [f"{f}:{line}: {src} imports {dst}, which sits above it"
                for src, dst, f, line in edges if LEVELS[dst] > LEVELS[src]]
    problems += [f"{f}:{line}: {src} imports {dst}, a source of dataset folders: read what it writes"
                 for src, dst, f, line in edges if dst in SOURCES]
    graph: dict[str, set[str]] = {}
    for src, dst, _, _ in edges:
        graph.setdefault(src, set()).add(dst)
    problems += [f"import cycle between parts: {' -> '.join(c)}" for c in _cycles(graph)]
    return problems


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    found, seen = [], set()

    def visit(node: str, path: list[str]) -> None:
        for nxt in sorted(graph.get(node, ())):
            if nxt in path:
                cycle = path[path.index(nxt):] + [nxt]
                key = frozenset(cycle)
                if key not in seen:
                    seen.add(key)
                    found.append(cycle)
            else:
                visit(nxt, path + [nxt])

    for start in sorted(graph):
        visit(start, [start])
    return found


def test_the_code_keeps_the_layering():
    problems = layering_problems(dependencies())
    assert not problems, "\n".join(problems)


def test_every_library_module_belongs_to_a_part():
    orphans = [str(p.relative_to(ROOT)) for p in (ROOT / "eclip").rglob("*.py")
               if p.name != "__init__.py" or p.parent != ROOT / "eclip"
               if part_of(module_name(p, ROOT)) is None]
    assert not orphans, f"add these to a part in tests/test_layers.py and DESIGN.md: {orphans}"


def test_streamlit_only_in_the_app():
    offenders = [f"{p.relative_to(ROOT)}:{line}"
                 for p in (ROOT / "eclip").rglob("*.py")
                 for target, line in imports_of(p, module_name(p, ROOT))
                 if target.split(".")[0] == "streamlit"]
    assert not offenders, offenders


@pytest.mark.parametrize("source, message", [
    # a lazy import inside a function is still a dependency
    ("def f():\n    from eclip.evaluate import metrics\n", "model imports evaluate"),
    ("from eclip import explain\n", "model imports explain"),
    ("import app.state\n", "model imports app"),
    # below explain, yet off limits: explain reads what build-demo stored, never re-draws it
    ("def f():\n    from eclip.sim.render import render_case\n", "model imports sim"),
])
def test_the_check_catches_an_upward_import(tmp_path, source, message):
    """Plant an upward import into a copy of the tree: the check must name it."""
    copy = _copy_tree(tmp_path)
    (copy / "eclip" / "model" / "planted.py").write_text(source)
    assert any(message in p for p in layering_problems(dependencies(copy)))


def test_the_check_catches_explain_re_running_the_simulator(tmp_path):
    """The lung fields and second reader come from the dataset folder, not a re-drawn phantom."""
    copy = _copy_tree(tmp_path)
    (copy / "eclip" / "explain" / "planted.py").write_text(
        "def f():\n    from eclip.sim.build import plan_tasks\n")
    assert any("explain imports sim" in p for p in layering_problems(dependencies(copy)))


def test_the_check_catches_a_cycle_between_siblings(tmp_path):
    """explain imports evaluate (saliency metrics); an import back closes a cycle."""
    copy = _copy_tree(tmp_path)
    (copy / "eclip" / "evaluate" / "planted.py").write_text(
        "def f():\n    from eclip.explain import attribution_map\n")
    problems = layering_problems(dependencies(copy))
    assert any("cycle" in p and "evaluate" in p and "explain" in p for p in problems), problems


# Cycles between modules inside eclip/, counting imports inside functions: a function-level
# import that only dodges a cycle hides the cycle, it does not remove it. Imports under
# `if TYPE_CHECKING:` never run, so they are left out. Importing a submodule runs its parent
# packages' __init__ first; that counts, except for the importer's own parents (already running).

def module_graph(root: Path = ROOT, folder: str = "eclip") -> dict[str, dict[str, int]]:
    """importer -> {imported module: line} for every module under ``folder`` (eclip/ or app/)."""
    files = {module_name(p, root): p for p in sorted((root / folder).rglob("*.py"))}
    graph: dict[str, dict[str, int]] = {}
    for module, path in files.items():
        own = {".".join(module.split(".")[:i]) for i in range(1, module.count(".") + 1)}
        edges = graph.setdefault(module, {})

        def add(target: str, line: int, _module=module, _own=own, _edges=edges) -> None:
            bits = target.split(".")
            for i in range(1, len(bits) + 1):
                name = ".".join(bits[:i])
                if name in files and name != _module and (name not in _own or i == len(bits)):
                    _edges.setdefault(name, line)

        for target, line in _runtime_imports(path, module):
            # `from P import name`: the submodule P.name if there is one, else the package P
            add(target if target in files else target.rpartition(".")[0], line)
    return graph


def _runtime_imports(path: Path, module: str) -> list[tuple[str, int]]:
    """(module or module.name, line) for every import outside `if TYPE_CHECKING:` blocks."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    skipped = {id(n) for node in ast.walk(tree)
               if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
               for stmt in node.body for n in ast.walk(stmt)}
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = []
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(node, package)
            # `from eclip.model import hub` imports the submodule; `from eclip.model import
            # load_model` imports the package itself (resolved by module_graph)
            found += [(f"{base}.{alias.name}", node.lineno) for alias in node.names]
    return found


def module_cycles(graph: dict[str, dict[str, int]]) -> list[str]:
    """One line per import cycle (strongly connected set of modules), with file:line steps."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found = []

    def visit(node: str) -> None:  # Tarjan's strongly connected components
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in graph.get(node, {}):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            members = []
            while True:
                member = stack.pop()
                members.append(member)
                if member == node:
                    break
            if len(members) > 1 or node in graph.get(node, {}):
                steps = [f"{a} (line {graph[a][b]}) -> {b}" for a in sorted(members)
                         for b in sorted(graph.get(a, {})) if b in members]
                found.append("import cycle: " + "; ".join(steps))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_import_cycle_inside_the_library():
    problems = module_cycles(module_graph())
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("planted, source", [
    # a backend importing the registry that imports it, inside a function
    ("report/base.py", "def f():\n    from eclip.report.backends import make_backend\n"),
    # back through a package __init__ that imports the module itself
    ("model/hub.py", "def f():\n    from eclip.model import load_model\n"),
])
def test_the_check_catches_a_module_cycle(tmp_path, planted, source):
    copy = _copy_tree(tmp_path)
    target = copy / "eclip" / planted
    target.write_text(target.read_text() + "\n\n" + source)
    problems = module_cycles(module_graph(copy))
    assert any("eclip." + planted.removesuffix(".py").replace("/", ".") in p for p in problems), problems


def test_the_module_check_skips_type_checking_imports(tmp_path):
    copy = _copy_tree(tmp_path)
    target = copy / "eclip" / "report" / "base.py"
    target.write_text(target.read_text() + "\n\nfrom typing import TYPE_CHECKING\n\nif TYPE_CHECKING:\n"
                      "    from eclip.report.backends import make_backend\n")
    assert not module_cycles(module_graph(copy))


def _copy_tree(tmp_path: Path) -> Path:
    import shutil

    for folder in ("eclip", "app"):
        shutil.copytree(ROOT / folder, tmp_path / folder,
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "configs"))
    return tmp_path


# --------------------------------------------------------------------------- inside app/
# app/ by role: core (settings, folders, the case table, the tour), render (figures and
# documents), jobs (separate processes, the heavy-job slot), components (the Streamlit pieces
# pages share), views (the pages: scripts Streamlit runs by path), server (warm start, a
# server for tools, screenshots); main.py and __main__.py start it all. A part imports its
# own modules and parts below it; render and jobs never import Streamlit; a page never
# imports another page; no import cycle inside app/, counting imports inside functions.
APP_LEVELS = {"core": 0, "render": 1, "jobs": 1, "components": 2, "views": 3, "server": 3, "entry": 4}
NO_STREAMLIT = ("render", "jobs")


def app_part(module: str) -> str | None:
    """The part of app/ a module belongs to (None: the package app itself, or not in app/)."""
    bits = module.split(".")
    if bits[0] != "app" or len(bits) == 1:
        return None
    return bits[1] if bits[1] in APP_LEVELS else ("entry" if bits[1] in ("main", "__main__") else "?")


def app_problems(root: Path = ROOT) -> list[str]:
    problems = []
    for path in sorted((root / "app").rglob("*.py")):
        module, where = module_name(path, root), path.relative_to(root)
        part = app_part(module)
        if part == "?":
            problems.append(f"{where}: not in a part of app/ (add it to APP_LEVELS and docs/architecture.md)")
            continue
        for target, line in imports_of(path, module):
            if part in NO_STREAMLIT and target.split(".")[0] == "streamlit":
                problems.append(f"{where}:{line}: {part} imports streamlit")
    graph = module_graph(root, "app")
    packages = {module_name(p, root) for p in (root / "app").rglob("__init__.py")}
    for module, edges in graph.items():
        part = app_part(module)
        for target, line in edges.items():
            dst = app_part(target)
            if part in (None, "?") or dst in (None, "?") or dst == part and part != "views":
                continue
            if target in packages:  # a package's own imports are checked as its module
                continue
            if part == dst == "views":
                problems.append(f"{module}:{line}: a page imports another page ({target})")
            elif APP_LEVELS[dst] >= APP_LEVELS[part]:
                problems.append(f"{module}:{line}: {part} imports {dst} ({target}), which is not below it")
    return problems + module_cycles(graph)


def test_app_keeps_its_parts():
    problems = app_problems()
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("planted, source, message", [
    ("render/planted.py", "import streamlit as st\n", "render imports streamlit"),
    ("jobs/planted.py", "def f():\n    import streamlit\n", "jobs imports streamlit"),
    ("render/planted.py", "from app.components import state\n", "render imports components"),
    ("jobs/planted.py", "from app.render import overlay\n", "jobs imports render"),
    ("components/planted.py", "def f():\n    from app.server import warm\n", "components imports server"),
    ("views/planted.py", "import app.views.explore\n", "a page imports another page"),
    ("planted.py", "", "not in a part of app/"),
    # paths is imported by settings_table: an import back, inside a function, closes a cycle
    ("core/paths.py", "def f():\n    from app.core import settings_table\n", "import cycle"),
])
def test_the_app_check_catches(tmp_path, planted, source, message):
    """Plant a bad import into a copy of app/: the check must name it."""
    copy = _copy_tree(tmp_path)
    target = copy / "app" / planted
    target.write_text((target.read_text() + "\n\n" if target.exists() else "") + source)
    problems = app_problems(copy)
    assert any(message in p for p in problems), problems



# --------------------------------------------------------------------------- lazy imports
# An import of our own code inside a function is either hoisted to the top of its module or
# kept there on purpose, for start-up speed (torch, open_clip, an optional package such as
# ollama, out of a CLI's --help or the app's first paint), said in a `# lazy: <reason>`
# comment on the import's line or in the comment right above the run of imports it opens.
LAZY = "# lazy:"


def unexplained_lazy_imports(root: Path = ROOT) -> list[str]:
    problems = []
    for folder in ("eclip", "app"):
        for path in sorted((root / folder).rglob("*.py")):
            module = module_name(path, root)
            lines = path.read_text(encoding="utf-8").splitlines()
            tree = ast.parse("\n".join(lines), filename=str(path))
            package = module if path.name == "__init__.py" else module.rpartition(".")[0]
            seen: set[int] = set()
            for fn in ast.walk(tree):
                if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    continue
                for body in _bodies(fn):
                    for i, node in enumerate(body):
                        if id(node) in seen or not _imports_ours(node, package):
                            continue
                        seen.add(id(node))
                        first = i
                        while first and isinstance(body[first - 1], (ast.Import, ast.ImportFrom)):
                            first -= 1
                        if not _explained(lines, node, body[first]):
                            problems.append(f"{path.relative_to(root)}:{node.lineno}: `{ast.unparse(node)}` "
                                            f"inside a function: hoist it, or say why in `{LAZY} <reason>`")
    return problems


def _bodies(fn: ast.AST):
    """Every statement list under ``fn`` (the function's body, an if's branches, a try's ...)."""
    for node in ast.walk(fn):
        for name in ("body", "orelse", "finalbody"):
            stmts = getattr(node, name, None)
            if isinstance(stmts, list) and stmts and isinstance(stmts[0], ast.stmt):
                yield stmts
        for handler in getattr(node, "handlers", ()):
            yield handler.body


def _imports_ours(node: ast.AST, package: str) -> bool:
    if isinstance(node, ast.Import):
        names = [alias.name for alias in node.names]
    elif isinstance(node, ast.ImportFrom):
        names = [_absolute(node, package)]
    else:
        return False
    return any(n.split(".")[0] in ("eclip", "app") for n in names)


def _explained(lines: list[str], node: ast.stmt, first: ast.stmt) -> bool:
    if any(LAZY in line for line in lines[node.lineno - 1: node.end_lineno]):
        return True
    above = first.lineno - 2
    while above >= 0 and lines[above].strip().startswith("#"):
        if LAZY in lines[above]:
            return True
        above -= 1
    return False


def test_every_lazy_import_of_our_code_says_why():
    problems = unexplained_lazy_imports()
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("source, flagged", [
    ("def f():\n    from eclip.errors import EclipError\n", True),
    ("def f():\n    if True:\n        import app.core.paths\n", True),
    ("def f():\n    from .mesh import plan_from_mesh\n", True),  # relative: eclip.sim.mesh
    ("def f():\n    from eclip.errors import EclipError  # lazy: a planted reason\n", False),
    ("def f():\n    # lazy: a planted reason\n    from eclip.errors import EclipError\n"
     "    from eclip.io import write_json\n", False),
    ("def f():\n    import numpy\n", False),  # not our code
    ("from eclip.errors import EclipError\n", False),  # top level
])
def test_the_lazy_check_catches(tmp_path, source, flagged):
    copy = _copy_tree(tmp_path)
    (copy / "eclip" / "sim" / "planted.py").write_text(source)
    problems = [p for p in unexplained_lazy_imports(copy) if "planted.py" in p]
    assert bool(problems) == flagged, problems

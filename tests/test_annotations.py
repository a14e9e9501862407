"""The two objects most functions pass along are typed where they are taken: a parameter named
``lm`` (an ``eclip.model.checkpoint.LoadedModel``) or ``index`` (an
``eclip.index.store.EmbeddingIndex``, or another index such as an importer's file table)
always carries an annotation, its type imported at the top or under ``if TYPE_CHECKING:``
where a top-level import would load torch or close a cycle. Checked on the source with
``ast`` across the library, the app, the benchmarks and the scripts."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FOLDERS = ("eclip", "app", "benchmarks", "scripts")
TYPED = {"lm": "LoadedModel", "index": "EmbeddingIndex"}


def unannotated(root: Path = ROOT) -> list[str]:
    """``file:line: function(name)`` for every ``lm`` or ``index`` parameter without a type."""
    found = []
    for folder in FOLDERS:
        for path in sorted((root / folder).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
            for fn in ast.walk(tree):
                if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                    continue
                a = fn.args
                for arg in a.posonlyargs + a.args + a.kwonlyargs:
                    if arg.arg in TYPED and arg.annotation is None:
                        found.append(f"{path.relative_to(root)}:{fn.lineno}: "
                                     f"{getattr(fn, 'name', 'lambda')}({arg.arg}) has no type "
                                     f"(e.g. {TYPED[arg.arg]})")
    return found


def test_every_lm_and_index_parameter_is_typed():
    assert unannotated() == []


UNTYPED_CASES = {
    "def f(lm, x: int):\n    pass\n": ["f(lm)"],
    "def f(x, *, index=None):\n    pass\n": ["f(index)"],
    "class C:\n    def m(self, lm):\n        pass\n": ["m(lm)"],
    "def f(lm: LoadedModel, index: EmbeddingIndex | None = None):\n    pass\n": [],
    "def f(index: dict[str, str]):\n    pass\n": [],  # another kind of index, typed
    "def f(idx, model):\n    pass\n": [],  # other names are not checked
}


@pytest.mark.parametrize("source", list(UNTYPED_CASES))
def test_the_check_names_each_untyped_parameter(tmp_path, source):
    (tmp_path / "eclip").mkdir()
    (tmp_path / "eclip" / "planted.py").write_text(source)
    named = [line.split(": ", 1)[1].split(" has no type")[0] for line in unannotated(tmp_path)]
    assert named == UNTYPED_CASES[source]

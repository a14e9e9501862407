"""docs/architecture.md's module maps (eclip/ and app/) are the ones scripts/module_map.py writes
from the code."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _generator():
    spec = importlib.util.spec_from_file_location("module_map", ROOT / "scripts" / "module_map.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_committed_module_maps_are_the_generated_ones():
    gen = _generator()
    text = gen.DOC.read_text(encoding="utf-8")
    for package in gen.PACKAGES:
        assert gen.markers(package)[0] in text, f"the {package}/ map's markers are missing"
    assert gen.rewritten(text) == text, "run: python scripts/module_map.py"


def test_the_map_follows_a_new_module_and_its_docstring(tmp_path):
    gen = _generator()
    (tmp_path / "eclip" / "part").mkdir(parents=True)
    (tmp_path / "eclip" / "part" / "new.py").write_text('"""Does one thing: well. More."""\n')
    (tmp_path / "eclip" / "part" / "bare.py").write_text("x = 1\n")
    assert gen.modules(tmp_path) == [("eclip.part.bare", "(no docstring)"), ("eclip.part.new", "Does one thing")]
    assert gen.first_sentence("A (see: b.c) thing. Then more.") == "A (see: b.c) thing."


def test_the_app_map_follows_the_app_modules(tmp_path):
    gen = _generator()
    for package in gen.PACKAGES:
        (tmp_path / package).mkdir()
    (tmp_path / "app" / "render").mkdir()
    (tmp_path / "app" / "render" / "film.py").write_text('"""The film as a figure. No Streamlit."""\n')
    doc = "\n\n".join("\n".join(gen.markers(p)) for p in gen.PACKAGES)
    new = gen.rewritten(doc, tmp_path)
    assert "| `app.render.film` | The film as a figure. |" in new
    app_map = new[new.index(gen.markers("app")[0]):]
    assert "eclip." not in app_map

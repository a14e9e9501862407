"""How results and cards name folders (eclip.locations.shown_path): relative inside the
working directory, so a committed result never names the measuring machine's folders."""

from __future__ import annotations

from pathlib import Path

from eclip.locations import shown_path


def test_a_folder_inside_the_working_directory_is_named_relative(tmp_path, monkeypatch):
    (tmp_path / "data" / "demo").mkdir(parents=True)
    monkeypatch.chdir(tmp_path)
    assert shown_path(tmp_path / "data" / "demo") == "data/demo"
    assert shown_path("data/demo") == "data/demo"
    assert shown_path(Path("data") / ".." / "data" / "demo") == "data/demo"
    assert Path(shown_path(tmp_path / "data" / "demo")).resolve() == (tmp_path / "data" / "demo").resolve()


def test_a_folder_outside_it_is_named_absolute(tmp_path, monkeypatch):
    (tmp_path / "work").mkdir()
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "work")
    assert shown_path("../elsewhere") == str((tmp_path / "elsewhere").resolve())

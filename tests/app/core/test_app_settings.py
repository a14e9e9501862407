"""app.core.settings: the app's variables, `python -m app --print-settings`, docs/settings.md."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.core import settings_table as A
from app.core.settings import AppSettings
from eclip import settings as S

DOC = Path(__file__).resolve().parents[3] / "docs" / "settings.md"


def test_app_defaults_and_values():
    s = AppSettings.from_env({})
    assert (s.data, s.checkpoint, s.runs, s.admin_password) == ("data/demo", None, "runs", None)
    assert s.tour.name == "tour.toml" and s.tour.is_file()
    s = AppSettings.from_env({"ECLIP_DATA": "/mnt/d", "ECLIP_CHECKPOINT": "none", "ECLIP_TOUR": "t.toml"})
    assert (s.data, s.checkpoint, s.tour) == ("/mnt/d", "none", Path("t.toml"))


def test_the_app_reads_its_settings(app_env, monkeypatch, tmp_path):
    from app.core import paths, tour

    monkeypatch.setenv("ECLIP_TOUR", str(tmp_path / "t.toml"))
    assert paths.default_dataset() == str(app_env["data"]) and paths.default_checkpoint() == "none"
    assert paths.runs_root() == app_env["runs"] and tour.tour_file() == tmp_path / "t.toml"


def test_one_index_cache_for_the_app_and_the_library(monkeypatch, tmp_path):
    from app.components import loaders
    from eclip.index.keys import default_cache_root

    monkeypatch.delenv("ECLIP_INDEX_DIR", raising=False)
    monkeypatch.chdir(tmp_path)  # the working directory no longer matters
    assert loaders.index_cache_root() == default_cache_root() == S.REPO / ".cache" / "index"


def _printed(capsys) -> dict[str, tuple[str, str]]:
    from app.__main__ import main

    assert main(["--print-settings"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["layer", "variable", "value", "from"]
    return {parts[1]: (" ".join(parts[2:-1]), parts[-1]) for parts in map(str.split, lines[1:])}


def test_print_settings_lists_both_layers_with_their_sources(app_env, monkeypatch, capsys, tmp_path):
    monkeypatch.setenv("ECLIP_PRECISION", "fp32")
    monkeypatch.setenv("ECLIP_ADMIN_PASSWORD", "correct horse")
    rows = _printed(capsys)
    every = [f.metadata["env"] for cls in (S.Settings, AppSettings) for f in S.env_fields(cls)]
    assert list(rows) == every
    assert rows["ECLIP_PRECISION"] == ("fp32", "env") and rows["ECLIP_MAX_PIXELS"][1] == "default"
    assert rows["ECLIP_DATA"] == (str(app_env["data"]), "env")
    assert rows["ECLIP_ADMIN_PASSWORD"] == ("set", "env")
    assert "correct horse" not in str(rows)


def test_print_settings_names_the_secrets_file_and_never_shows_the_password(app_env, monkeypatch, capsys):
    monkeypatch.setattr(A, "secret_password", lambda: "from-secrets")
    rows = _printed(capsys)
    assert rows["ECLIP_ADMIN_PASSWORD"] == ("set", "secrets") and "from-secrets" not in str(rows)
    monkeypatch.setattr(A, "secret_password", lambda: None)
    assert _printed(capsys)["ECLIP_ADMIN_PASSWORD"] == ("not set", "default")


def test_print_settings_shows_what_the_report_file_sets(app_env, monkeypatch, capsys, tmp_path):
    f = tmp_path / "report.toml"
    f.write_text('[report]\nbackend = "retrieval"\nwarm_up = false\n')
    monkeypatch.setenv("ECLIP_REPORT_CONFIG", str(f))
    rows = _printed(capsys)
    assert rows["ECLIP_REPORT_BACKEND"] == ("retrieval", "file")
    assert rows["ECLIP_REPORT_WARMUP"][0] == "0" and rows["ECLIP_OLLAMA_MODEL"][1] == "default"


def test_print_settings_with_a_wrong_value_exits_2_naming_it(app_env, monkeypatch, capsys):
    from app.__main__ import main

    monkeypatch.setenv("ECLIP_MAX_PIXELS", "lots")
    assert main(["--print-settings"]) == 2
    assert "ECLIP_MAX_PIXELS='lots' is not accepted" in capsys.readouterr().err


def test_help_mentions_print_settings(capsys):
    from app.__main__ import main

    assert main(["--help"]) == 0
    assert "--print-settings" in capsys.readouterr().out


@pytest.mark.parametrize("cls", [S.Settings, AppSettings])
def test_every_setting_is_documented_in_its_fields(cls):
    for f in S.env_fields(cls):
        assert f.metadata["what"].endswith(".") and f.metadata["kind"] and f.metadata["shown"], f.name


def test_the_doc_is_the_generated_table():
    """docs/settings.md carries `python -m app.core.settings_table --markdown`: regenerate it when a
    setting changes."""
    assert A.markdown_table() in DOC.read_text(encoding="utf-8")

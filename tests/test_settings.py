"""eclip.settings: every library variable parsed, checked and read once per process."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from eclip import settings as S
from eclip.settings import Settings, SettingsError, settings


def test_defaults_without_any_variable():
    s = Settings.from_env({})
    assert s.index_dir == S.REPO / ".cache" / "index"
    assert (s.precision, s.max_pixels) == ("auto", S.DEFAULT_MAX_PIXELS)
    assert s.llm_dir == Path.home() / ".cache" / "eclip" / "llm"
    # report variables unset: the report file or the report defaults decide
    assert (s.report_config, s.report_backend, s.ollama_host, s.ollama_model, s.embedded_model,
            s.report_warmup) == (None,) * 6
    assert s.origins == {}


def test_values_are_parsed_to_their_types_and_marked_as_from_the_environment(tmp_path):
    s = Settings.from_env({"ECLIP_INDEX_DIR": str(tmp_path), "ECLIP_PRECISION": " BF16 ",
                           "ECLIP_MAX_PIXELS": "1e6", "ECLIP_REPORT_WARMUP": "off",
                           "ECLIP_REPORT_CONFIG": "r.toml", "OLLAMA_HOST": "http://h:1"})
    assert (s.index_dir, s.precision, s.max_pixels, s.report_warmup) == (tmp_path, "bf16", 1_000_000, False)
    assert s.report_config == Path("r.toml") and s.ollama_host == "http://h:1"
    assert s.origins["precision"] == "env" and "llm_dir" not in s.origins
    assert Settings.from_env({"ECLIP_REPORT_WARMUP": "Yes"}).report_warmup is True


def test_an_empty_variable_is_unset():
    assert Settings.from_env({"ECLIP_INDEX_DIR": "", "ECLIP_PRECISION": "  "}) == Settings.from_env({})


@pytest.mark.parametrize("var, raw, accepted", [
    ("ECLIP_PRECISION", "fp16", "auto, fp32, bf16"),
    ("ECLIP_MAX_PIXELS", "lots", "pixel count of at least 1"),
    ("ECLIP_MAX_PIXELS", "0", "pixel count of at least 1"),
    ("ECLIP_MAX_PIXELS", "inf", "pixel count of at least 1"),
    ("ECLIP_REPORT_BACKEND", "gpt", "auto, ollama, embedded, retrieval"),
    ("ECLIP_EMBEDDED_MODEL", "gpt-2", "smollm2-135m, gemma3-270m"),
    ("ECLIP_REPORT_WARMUP", "maybe", "1, true, yes, on"),
])
def test_a_wrong_value_names_the_variable_and_what_it_accepts(var, raw, accepted):
    with pytest.raises(SettingsError, match=f"{var}='{raw}' is not accepted") as err:
        Settings.from_env({var: raw})
    assert accepted in str(err.value) and f"unset {var} for the default" in str(err.value)


def test_the_choices_are_the_libraries_own():
    from eclip.report.backends import CHOICES
    from eclip.report.embedded import MODELS

    assert S.REPORT_BACKENDS == CHOICES and S.EMBEDDED_MODELS == tuple(MODELS)


def test_read_once_per_process(monkeypatch):
    first = settings()
    # os.environ changed behind the settings' back (not monkeypatch.setenv, which the tests'
    # conftest follows): the process keeps what it read
    monkeypatch.setitem(os.environ, "ECLIP_PRECISION", "bf16")
    assert settings() is first and settings().precision == first.precision
    settings.cache_clear()
    assert settings().precision == "bf16"


def test_override_for_a_block(tmp_path):
    before = settings()
    with settings.override(index_dir=tmp_path) as changed:
        assert settings() is changed and settings().index_dir == tmp_path
        from eclip.index.keys import default_cache_root

        assert default_cache_root() == tmp_path
    assert settings() is before


def test_the_index_cache_does_not_depend_on_the_working_directory(tmp_path, monkeypatch):
    from eclip.index.keys import default_cache_root

    monkeypatch.delenv("ECLIP_INDEX_DIR", raising=False)
    monkeypatch.chdir(tmp_path)
    assert default_cache_root() == S.REPO / ".cache" / "index"


def test_report_settings_take_the_environment_layer(tmp_path, monkeypatch):
    from eclip.report.settings import load_settings

    f = tmp_path / "report.toml"
    f.write_text('[report]\nbackend = "retrieval"\nmodel = "llama3"\nwarm_up = true\n')
    monkeypatch.setenv("ECLIP_REPORT_CONFIG", str(f))
    monkeypatch.setenv("ECLIP_OLLAMA_MODEL", "mistral")
    monkeypatch.setenv("ECLIP_REPORT_WARMUP", "0")
    s = load_settings()
    assert (s.backend, s.model, s.warm_up) == ("retrieval", "mistral", False)


def test_evaluate_passes_the_cache_folder_down_not_through_the_environment(tmp_path, monkeypatch):
    import eclip.evaluate.__main__ as cli

    seen = {}

    def fake_evaluate_reports(checkpoint, data, split, **kwargs):
        seen.update(kwargs, environ=dict(os.environ))
        return {"n": 0}, None

    monkeypatch.setattr(cli, "evaluate_reports", fake_evaluate_reports)
    before = dict(os.environ)
    args = cli._parser().parse_args(["--checkpoint", "ck", "--data", "d", "--out", "o.json",
                                     "--cache", str(tmp_path), "--reports", "retrieval"])
    assert cli._reports("ck", args) == {"n": 0}
    assert seen["cache_root"] == str(tmp_path)
    assert seen["environ"] == before == dict(os.environ)

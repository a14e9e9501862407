"""The package as pip installs it: the `eclip` command and its runner, the files the code reads
through importlib.resources, and a built wheel holding every one of them."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import eclip
from eclip import cli
from eclip.errors import ConfigError
from eclip.locations import package_file

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("eclip", "app")


def test_help_lists_every_command_on_one_line(capsys):
    assert cli.main(["--help"]) == 0
    out = capsys.readouterr().out
    for cmd in cli.COMMANDS:
        assert f"  {cmd.name} " in out and cmd.summary in out
    assert cli.main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"eclip {eclip.__version__}"


def test_unknown_or_missing_command_is_a_usage_error(capsys):
    assert cli.main(["frobnicate"]) == cli.USAGE
    assert "error: unknown command 'frobnicate'" in capsys.readouterr().err
    assert cli.main([]) == cli.USAGE


def test_the_longest_command_wins():
    assert cli.find(["evaluate", "experiment", "--data", "x"])[0].target == "eclip.evaluate.experiment:main"
    cmd, rest = cli.find(["evaluate", "--checkpoint", "experiment"])
    assert cmd.target == "eclip.evaluate.__main__:main" and rest == ["--checkpoint", "experiment"]


def test_every_command_reaches_a_main():
    for cmd in cli.COMMANDS:
        assert callable(cli.load(cmd)), cmd.name


def test_subcommand_help_comes_from_the_python_m_main(capsys):
    with pytest.raises(SystemExit) as done:
        cli.main(["evaluate", "experiment", "--help"])
    assert done.value.code == 0 and "--group" in capsys.readouterr().out
    assert cli.main(["app", "--help"]) == 0
    assert "python -m app" in capsys.readouterr().out


def test_runner_exit_codes_and_error_line(capsys):
    def bad_input():
        raise ConfigError("train.stepz is not a setting")

    def interrupted():
        raise KeyboardInterrupt

    assert cli.run_command(lambda: None) == cli.OK
    assert cli.run_command(bad_input) == cli.USAGE
    err = capsys.readouterr().err
    assert err == "error: train.stepz is not a setting\n"  # one line, no traceback
    assert cli.run_command(interrupted, interrupted="rerun to resume") == cli.INTERRUPTED
    assert "rerun to resume" in capsys.readouterr().err
    with pytest.raises(ZeroDivisionError):  # a bug keeps its traceback (exit 1)
        cli.run_command(lambda: 1 / 0)


def test_a_library_error_from_a_python_m_main_is_one_line(tmp_path, capsys):
    from eclip.index.cli import main

    assert main(["info", "--checkpoint", str(tmp_path / "none"), "--data", str(tmp_path)]) == cli.USAGE
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "Traceback" not in err


def test_console_script_installed():
    script = shutil.which("eclip", path=str(Path(sys.executable).parent))
    assert script, "no `eclip` beside this Python: pip install -e . (make setup)"
    done = subprocess.run([script, "--version"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout.strip() == f"eclip {eclip.__version__}"


def test_shipped_files_are_found_through_the_packages():
    from app.core import tour
    from eclip.model import prompts
    from eclip.report import prompt

    assert {p.stem for p in prompts.list_prompt_sets()} >= {"binary", "chexpert5", "findings"}
    assert prompts.load_prompt_set("paper-rsna").classes  # the paper's sets, by name
    assert prompt.load_template().system
    assert tour.load(package_file("app", "assets", "tour.toml"))
    assert package_file("app", "views", "explore.py").is_file()


def _package_files() -> set[str]:
    """Every file of the two packages in this checkout (what the wheel must hold)."""
    found = set()
    for name in PACKAGES:
        for path in (REPO / name).rglob("*"):
            if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
                found.add(path.relative_to(REPO).as_posix())
    return found


def _build_wheel(tmp_path: Path) -> Path:
    """The wheel of a copy of the sources (a build leaves build/ and *.egg-info beside them)."""
    src = tmp_path / "src"
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in PACKAGES:
        shutil.copytree(REPO / name, src / name, ignore=ignore)
    for name in ("pyproject.toml", "README.md", "LICENSE", "NOTICE"):
        if (REPO / name).is_file():
            shutil.copy2(REPO / name, src / name)
    out = tmp_path / "dist"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                    "-w", str(out), str(src)], check=True, timeout=600, capture_output=True)
    [wheel] = out.glob("eclip_explorer-*.whl")
    return wheel


@pytest.mark.slow
def test_wheel_holds_both_packages_with_their_data_files(tmp_path):
    wheel = _build_wheel(tmp_path)
    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())
        dist_info = next(n.split("/")[0] for n in names if n.endswith(".dist-info/METADATA"))
        metadata = z.read(f"{dist_info}/METADATA").decode()
        entry_points = z.read(f"{dist_info}/entry_points.txt").decode()
    missing = sorted(_package_files() - names)
    assert not missing, f"not in the wheel (add them to package-data in pyproject.toml): {missing}"
    for shipped in ("eclip/assets/report_prompt.toml", "eclip/assets/prompts/paper/paper-rsna.json",
                    "eclip/model/configs/eclip-vit-tiny.json", "app/assets/tour.toml",
                    "app/static/favicon.png", "app/views/explore.py", "app/main.py"):
        assert shipped in names
    assert f"Version: {eclip.__version__}\n" in metadata
    assert "License-Expression: Apache-2.0" in metadata
    assert "eclip = eclip.cli:main" in entry_points

"""`python -m eclip.data`: subcommands, --help everywhere, clean errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from eclip.data.__main__ import build_parser, main

REPO = Path(__file__).resolve().parents[2]
COMMANDS = ["import-mimic", "import-openi", "import-folder", "build-demo", "info"]


def test_top_level_help_lists_every_subcommand():
    res = subprocess.run([sys.executable, "-m", "eclip.data", "--help"], cwd=REPO,
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 0
    for cmd in COMMANDS:
        assert cmd in res.stdout


@pytest.mark.parametrize("cmd", COMMANDS)
def test_each_subcommand_has_help(cmd, capsys):
    with pytest.raises(SystemExit) as exc:
        main([cmd, "--help"])
    assert exc.value.code == 0
    assert f"usage: python -m eclip.data {cmd}" in capsys.readouterr().out


def test_build_demo_is_registered_from_the_simulator_package():
    sub = next(a for a in build_parser()._actions if a.dest == "command")
    assert "build-demo" in sub.choices


def test_library_errors_print_one_line_and_exit_2(tmp_path):
    res = subprocess.run([sys.executable, "-m", "eclip.data", "import-mimic", "--root",
                          str(tmp_path / "absent"), "--out", str(tmp_path / "out")],
                         cwd=REPO, capture_output=True, text=True, timeout=60)
    assert res.returncode == 2
    assert res.stderr.startswith("error: ") and "files/" in res.stderr
    assert "Traceback" not in res.stderr
    assert not (tmp_path / "out").exists()


def test_missing_required_option_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["import-folder", "--images", "x"])
    assert exc.value.code == 2
    assert "--csv" in capsys.readouterr().err


def test_openi_csv_reports_needs_projections(tmp_path, capsys):
    rc = main(["import-openi", "--images", str(tmp_path), "--csv-reports", str(tmp_path / "r.csv"),
               "--out", str(tmp_path / "o")])
    assert rc == 2 and "--csv-projections" in capsys.readouterr().err

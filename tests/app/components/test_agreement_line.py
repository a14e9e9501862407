"""The Model vs gaze page's floor-and-ceiling line (app/components/agreement_line.py) on the tiny
dataset with the micro checkpoint."""

from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

MAIN = Path(__file__).resolve().parents[3] / "app" / "main.py"


def _explain_page() -> AppTest:
    at = AppTest.from_file(str(MAIN), default_timeout=120)
    at.run()
    at.switch_page("views/explain.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _lines(at, start: str) -> list[str]:
    return [m.value for m in at.markdown if m.value.startswith(start)]


def test_the_case_line_puts_the_model_beside_its_centre_bias_floor(model_env):
    at = _explain_page()
    name = model_env["checkpoint"].name
    line = _lines(at, "**This case:**")
    assert len(line) == 1
    assert line[0].startswith(f"**This case:** {name} CC ") and " · floor (centre bias) " in line[0]
    assert "ceiling" not in line[0]  # the tiny fixture has one reading per image


def test_scoring_the_gaze_subset_shows_intervals_for_model_and_floor(model_env):
    at = _explain_page()
    assert not _lines(at, "- ")
    at.button(key="xp_split_run").click().run()
    assert not at.exception and not at.error
    name = model_env["checkpoint"].name
    bullets = _lines(at, f"- {name} ")
    assert [b.split(" [")[0].split()[-2] for b in bullets] == ["CC", "AUC-Judd", "sAUC"]
    assert all(" · floor (centre bias) " in b and b.count("[") == 2 for b in bullets)
    assert any("bootstrap intervals" in c.value for c in at.caption)
    at.run()  # the result stays for this checkpoint, dataset and method
    assert len(_lines(at, f"- {name} ")) == 3

"""A return visit to a model page is a warm one: it shows what the visitor left (same case,
prompt and method), so every map comes from the cache. benchmarks/app_scale.py measured
Model vs gaze at 15-17 s "warm" in the browser because a return visit was neither."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

MAIN = Path(__file__).resolve().parents[3] / "app" / "main.py"
pytestmark = pytest.mark.slow


def test_model_vs_gaze_keeps_its_prompt_and_method_across_pages(model_env):
    at = AppTest.from_file(str(MAIN), default_timeout=60).run()
    at.switch_page("views/explain.py").run()
    at.text_input(key="xp_prompt").set_value("Heart is enlarged.").run()
    at.selectbox(key="xp_method").select("grad_rollout").run()
    at.switch_page("views/explore.py").run()
    at.switch_page("views/explain.py").run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.text_input(key="xp_prompt").value == "Heart is enlarged."
    assert at.selectbox(key="xp_method").value == "grad_rollout"
    assert not [i for i in at.info if "prompt box is empty" in i.value]


def test_a_new_case_still_gets_its_own_default_prompt(model_env):
    at = AppTest.from_file(str(MAIN), default_timeout=60).run()
    at.switch_page("views/explain.py").run()
    at.toggle(key="xp_gaze_only").set_value(False).run()
    at.text_input(key="xp_prompt").set_value("Heart is enlarged.").run()
    at.selectbox(key="xp_case").select("case005").run()
    assert at.text_input(key="xp_prompt").value != "Heart is enlarged."

"""Model vs gaze's split-wide localisation (app/components/localisation_line.py): the table it
draws from eclip.explain.localisation's summary, and the page's button on a dataset without
finding masks."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from streamlit.testing.v1 import AppTest

from app.components import localisation_line as line
from eclip.explain import localisation as L

MAIN = Path(__file__).resolve().parents[3] / "app" / "main.py"


def _summary() -> list[dict]:
    rows = [{"case_id": f"c{i}", "finding": f, "cluster": f"r{i}", "who": w, "pointing": p, "miou": 0.3}
            for i, f in enumerate(["Cardiomegaly", "Cardiomegaly", "Pleural Effusion"])
            for w, p in (("model", 1.0 if i else 0.0), ("centre", 0.0), ("grid ceiling", 1.0))]
    rows.append({"case_id": "c0", "finding": "Cardiomegaly", "cluster": "r0", "who": "gaze at grid",
                 "pointing": 1.0, "miou": 0.2})
    return L.summarise(pd.DataFrame(rows), n_boot=50)


def test_headline_puts_the_model_beside_floor_ceiling_and_gaze():
    text = line.headline(_summary())
    assert text.startswith("Pointing game over 3 findings in 3 reports: this model 0.67, ")
    assert "centre-bias map (floor) 0.00" in text and "(ceiling) 1.00" in text
    assert "gaze at the model's grid 1.00" in text


def test_table_has_a_row_per_finding_and_says_n_a_where_no_case_has_gaze():
    frame = line.summary_frame(_summary())
    assert list(frame["finding"]) == ["all findings", "Cardiomegaly", "Pleural Effusion"]
    effusion = frame.set_index("finding").loc["Pleural Effusion"]
    assert effusion["findings (reports)"] == "1 (1)" and effusion["gaze at the model's grid"] == "n/a"
    assert frame.set_index("finding").loc["Cardiomegaly", "this model"].startswith("0.50 [")


def test_headline_without_abnormal_cases():
    assert line.headline([]) == "No abnormal case with a finding mask in this split."


def test_page_button_on_a_dataset_without_masks_says_what_is_needed(model_env):
    at = AppTest.from_file(str(MAIN), default_timeout=120)
    at.run()
    at.switch_page("views/explain.py").run()
    assert not at.exception, [e.value for e in at.exception]
    at.button(key="xp_localise_run").click().run()
    assert not at.exception
    assert any("finding masks" in e.value for e in at.error), [e.value for e in at.error]
    assert not [m for m in at.markdown if m.value.startswith("**Does the map find the finding?**")]

"""The Zero-shot page shows a pair's AUROC only where its label has enough positives and
negatives (eclip.evaluate's --min-positives, 10 by default; the page's floor is adjustable),
always beside the counts, and says "too few positives (n)" instead of an empty None."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

MAIN = str(Path(__file__).resolve().parents[2] / "app" / "main.py")
pytestmark = pytest.mark.slow


def _results(at: AppTest):
    return next(d.value for d in at.dataframe if "AUROC" in d.value.columns)


def test_auroc_needs_the_minimum_positives_and_shows_counts(model_env):
    at = AppTest.from_file(MAIN, default_timeout=120)
    at.session_state["zs_set"] = "binary"
    at.session_state["zs_split"] = "all"
    at.switch_page("views/zero_shot.py").run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.number_input(key="zs_min_pos").value == 10
    table = _results(at).set_index("name")
    # the tiny data: 8 effusions, 8 enlarged hearts, 8 normal films of 24; no edema
    assert table.loc["Pleural Effusion", ["positives", "negatives", "AUROC"]].tolist() == [
        "8", "16", "too few positives (8)"]
    assert table.loc["Edema", ["positives", "negatives", "AUROC"]].tolist() == [
        "0", "24", "too few positives (0)"]
    assert not table["AUROC"].isin(["None", "nan", ""]).any()
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["macro AUROC (pairs with at least 10 positives and negatives)"] == "–"

    at.number_input(key="zs_min_pos").set_value(8).run()
    assert not at.exception, [e.value for e in at.exception]
    table = _results(at).set_index("name")
    scored = table.loc[["Cardiomegaly", "Pleural Effusion", "No Finding"], "AUROC"]
    assert all(0.0 <= float(v) <= 1.0 for v in scored)
    assert table.loc["Edema", "AUROC"] == "too few positives (0)"
    macro = float({m.label: m.value for m in at.metric}[
        "macro AUROC (pairs with at least 8 positives and negatives)"])
    assert macro == pytest.approx(np.mean([float(v) for v in scored]), abs=2e-3)

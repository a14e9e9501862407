"""The Zero-shot page and the Draft report give the same P(positive) for a film: both read a
prompt pair's softmax at the model's learned temperature (the page once used raw cosines,
which put every pair near 0.5 while the draft said 0.8 for the same film)."""

from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest
from floats import assert_close

MAIN = str(Path(__file__).resolve().parents[3] / "app" / "main.py")


def test_pair_probabilities_on_the_page_are_the_draft_reports(model_env):
    from eclip.index import load_index
    from eclip.model.checkpoint import load_model
    from eclip.report.context import zero_shot_evidence

    at = AppTest.from_file(MAIN, default_timeout=120)
    at.session_state["zs_set"] = "binary"
    at.switch_page("views/zero_shot.py").run()
    assert not at.exception, [e.value for e in at.exception]
    per_image = next(d.value for d in at.dataframe if "id" in d.value.columns and len(d.value.columns) > 3)
    first = per_image.iloc[0]
    lm = load_model(model_env["checkpoint"])
    index = load_index(model_env["checkpoint"], model_env["data"], cache_root=model_env["index_root"])
    evidence = {z.name: z.probability for z in zero_shot_evidence(lm, index.image_emb[index.row_of(first["id"])])}
    shown = {name: float(first[name]) for name in per_image.columns if name != "id"}
    assert shown.keys() == evidence.keys()
    assert_close(list(shown.values()), [evidence[k] for k in shown], atol=1e-3)

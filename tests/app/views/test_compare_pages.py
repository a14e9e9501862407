"""CLIP vs eCLIP side by side: the sidebar's 'compare with' model on Model vs gaze,
Zero-shot, Retrieval and Embeddings, against two real (random-init, micro) checkpoints with
real embedding indexes of the tiny dataset, and every page with the comparison off."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from eclip.data.manifest import read_manifest
from eclip.evaluate.targets import multiclass_targets
from eclip.model.prompts import load_prompt_set

MAIN = Path(__file__).resolve().parents[3] / "app" / "main.py"

TIMEOUT = 90
pytestmark = pytest.mark.slow


@pytest.fixture
def compare_env(model_env, compare_model, monkeypatch):
    """The micro model active and a second one offered as the run 'micro-b' (runs/*/final)."""
    final = model_env["runs"] / "micro-b" / "final"
    shutil.copytree(compare_model["checkpoint"], final)
    monkeypatch.setenv("ECLIP_INDEX_DIR", str(compare_model["index_root"]))
    return {**model_env, "compare": final}


def _page(page: str, compare: Path | None = None, **session) -> AppTest:
    """Open ``page``; with ``compare``, first choose it under 'Compare with' in the sidebar."""
    at = AppTest.from_file(str(MAIN), default_timeout=TIMEOUT)
    for k, v in session.items():
        at.session_state[k] = v
    at.run()
    if compare is not None:
        from app.components.state import compare_key

        active = at.sidebar.selectbox(key="model_choice").value
        at.sidebar.selectbox(key=compare_key(active)).set_value(str(compare)).run()
    at.switch_page(f"views/{page}").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _specs(at: AppTest) -> list[dict]:
    return [json.loads(c.proto.spec) for c in at.get("plotly_chart")]


def _headers(at: AppTest) -> list[str]:
    return [m.value for m in at.markdown if m.value.startswith("#### ")]


# --------------------------------------------------------------------------- sidebar
def test_sidebar_offers_compare_with_and_defaults_to_the_natural_partner(compare_env):
    from app.components import state

    at = _page("explore.py")
    active = at.sidebar.selectbox(key="model_choice").value
    box = at.sidebar.selectbox(key=state.compare_key(active))
    assert box.label == "Compare with"
    assert box.value == "none"  # the micro model has no partner: compare off
    assert str(compare_env["compare"]) in box.options and active not in box.options
    # the shipped pair are each other's partner (the paper's eCLIP vs CLIP)
    assert state.default_compare("checkpoints/demo-eclip") == "checkpoints/demo-clip"
    assert state.default_compare("checkpoints/demo-clip") == "checkpoints/demo-eclip"
    assert state.default_compare(str(compare_env["checkpoint"])) == "none"


# --------------------------------------------------------------------------- Model vs gaze
def test_model_vs_gaze_shows_both_maps_each_with_its_agreement(compare_env):
    at = _page("explain.py", compare=compare_env["compare"], xp_gaze_only=True)
    bars = [t["colorbar"]["title"]["text"] for s in _specs(at) for t in s["data"] if "colorbar" in t]
    assert bars == ["gaze", "micro: Grad-CAM", "micro-b: Grad-CAM"]
    _films_fit_their_columns(at, 3)
    table = at.dataframe[0].value
    assert list(table.index) == ["micro", "micro-b", "difference (active − compare)"]
    assert {"CC", "NSS", "KL", "AUC-JUDD"} <= set(table.columns)
    assert table.loc["difference (active − compare)", "CC"] == pytest.approx(
        table.loc["micro", "CC"] - table.loc["micro-b", "CC"])
    assert table.loc["micro", "CC"] != table.loc["micro-b", "CC"]  # two models, two maps


def test_model_vs_gaze_without_compare_is_as_before(model_env):
    at = _page("explain.py", xp_gaze_only=True)
    bars = [t["colorbar"]["title"]["text"] for s in _specs(at) for t in s["data"] if "colorbar" in t]
    assert bars == ["gaze", "Grad-CAM"]
    _films_fit_their_columns(at, 2)
    assert [m.label for m in at.metric] == ["CC", "NSS", "KL", "AUC-JUDD"]


def _films_fit_their_columns(at: AppTest, n: int) -> None:
    """Each film's colour bar under it and the row's style sizing every chart to its column
    (app.render.overlay.film_row_css): no blank room under the films however wide the window."""
    from app.render.overlay import FILM_MIN

    films = [s for s in _specs(at) if any(t.get("type") == "image" for t in s["data"])]
    assert len(films) == n and all(s["layout"]["height"] == FILM_MIN for s in films)
    assert all(t["colorbar"]["orientation"] == "h" for s in films for t in s["data"] if "colorbar" in t)
    assert any(".st-key-xp_films" in h.proto.body for h in at.get("html"))


# --------------------------------------------------------------------------- Zero-shot
def _paired(at: AppTest) -> pd.DataFrame:
    paired = [d.value for d in at.dataframe if "95% CI low" in d.value.columns]
    assert len(paired) == 1
    return paired[0]


def test_zero_shot_pairs_both_models_with_an_interval(compare_env):
    at = _page("zero_shot.py", compare=compare_env["compare"], zs_split="all")
    assert "micro vs micro-b" in [h.value for h in at.subheader]
    table = _paired(at)
    assert {"positives", "negatives", "micro", "micro-b", "Δ (micro − micro-b)"} <= set(table.columns)
    # 24 tiny films, 8 of each class: below the default minimum no pair gets an AUROC, and says why
    labelled = table["positives"] != "–"
    assert labelled.any() and table.loc[labelled, "micro"].str.startswith("too few positives (").all()
    assert (table.loc[labelled, "95% CI low"] == "–").all()  # a dash, not the grid's "None"
    at.number_input(key="zs_min_pos").set_value(1).run()  # the page's box lowers the pane's minimum too
    table = _paired(at)
    scored = ~table["micro"].str.startswith("too few") & (table["positives"] != "–")
    low, diff = (pd.to_numeric(table.loc[scored, c], errors="coerce") for c in ("95% CI low", "Δ (micro − micro-b)"))
    assert scored.any() and low.notna().all()
    assert (low <= diff).all()
    labels = {m.label for m in at.metric}
    assert {"same prediction", "mean |Δ probability|"} <= labels


def test_zero_shot_compare_pane_scores_both_models_calibrated(compare_env):
    """The split-level scores were the active model's alone, and the pane's probabilities raw."""
    at = _page("zero_shot.py", compare=compare_env["compare"], zs_split="all")
    both = next(d.value for d in at.dataframe if "model" in d.value.columns)
    assert both["model"].tolist() == ["micro", "micro-b", "any constant score"]  # the baseline beside them
    assert {"mean P(positive)", "calibrated on the validate split"} <= set(both.columns)
    macro = next(c for c in both.columns if c.startswith("macro AUROC"))
    assert both[macro].iloc[2] == "0.500"
    assert both["mean P(positive)"].iloc[:2].nunique() == 2  # two models, two scores
    captions = " ".join(c.value for c in at.caption)
    assert "micro: Probabilities calibrated on the validate split" in captions
    assert "micro-b: Probabilities calibrated on the validate split" in captions
    at.selectbox(key="zs_set").select("findings").run()
    assert not at.exception, [e.value for e in at.exception]
    both = next(d.value for d in at.dataframe if "model" in d.value.columns)
    assert both.columns.tolist() == ["model", "balanced accuracy", "macro-F1", "accuracy"]
    assert both["model"].tolist()[:2] == ["micro", "micro-b"]
    # a constant answer scores 1/K balanced accuracy over the K classes present
    constant = both.iloc[2]
    assert constant["model"].startswith("constant answer: ") and len(both) == 3
    target = multiclass_targets(read_manifest(compare_env["data"]), load_prompt_set("findings"))
    assert constant["balanced accuracy"] == f"{1 / len(np.unique(target[target >= 0])):.3f}"


def test_zero_shot_compares_classes_by_balanced_accuracy_first(compare_env):
    at = _page("zero_shot.py", compare=compare_env["compare"], zs_split="all", zs_set="findings")
    table = next(d.value for d in at.dataframe if "95% CI low" in d.value.columns)
    assert table["name"].tolist() == ["balanced accuracy", "macro-F1", "accuracy"]
    assert (table["95% CI low"] <= table["Δ (micro − micro-b)"]).all()
    assert (table["Δ (micro − micro-b)"] <= table["95% CI high"]).all()


def test_zero_shot_without_compare_has_no_paired_table(model_env):
    at = _page("zero_shot.py", zs_split="all")
    assert not [d for d in at.dataframe if "95% CI low" in d.value.columns]
    assert not any(" vs " in h.value for h in at.subheader)


# --------------------------------------------------------------------------- Retrieval
@pytest.mark.parametrize("mode", ["Text → images", "Image → reports"])
def test_retrieval_shows_both_models_hits(compare_env, mode):
    at = _page("retrieval.py", compare=compare_env["compare"], ret_mode=mode)
    assert [h.split("\n")[0] for h in _headers(at)] == ["#### micro  ", "#### micro-b  "]
    if mode == "Image → reports":
        tables = [d.value for d in at.dataframe if "report text" in d.value.columns]
        assert len(tables) == 2
        own = [m.value for m in at.metric if m.label == "rank of this image's own report"]
        assert len(own) == 2
    else:
        hits = [c.value for c in at.caption if c.value.startswith("Top ")]
        assert len(hits) == 2


def test_retrieval_without_compare_is_one_column(model_env):
    at = _page("retrieval.py", ret_mode="Image → reports")
    assert not _headers(at)
    assert len([d for d in at.dataframe if "report text" in d.value.columns]) == 1


# --------------------------------------------------------------------------- Embeddings
def test_embeddings_align_both_maps_and_ring_the_most_changed_cases(compare_env):
    at = _page("embeddings.py", compare=compare_env["compare"])
    specs = _specs(at)
    titles = [s["layout"]["title"]["text"] for s in specs]
    assert titles == ["micro: UMAP of images and reports", "micro-b: UMAP of images and reports"]
    rings = [t for s in specs for t in s["data"] if t["name"].startswith("most changed")]
    assert len(rings) == 2 and rings[0]["customdata"] == rings[1]["customdata"]
    table = at.dataframe[0].value
    assert list(table.columns) == ["id", "finding", "neighbourhood change"]
    assert table["neighbourhood change"].is_monotonic_decreasing
    assert table["id"].tolist()[:5] == rings[0]["customdata"][:5]
    assert any("Procrustes" in c.value for c in at.caption)


def test_a_case_picked_in_the_most_changed_list_shows_its_neighbours_under_each_model(compare_env):
    at = _page("embeddings.py", compare=compare_env["compare"],
               emb_changed={"selection": {"rows": [0], "columns": [], "cells": []}})
    first = at.dataframe[0].value["id"].iloc[0]
    assert any(m.value.startswith(f"**{first}: its 8 nearest cases under each model**")
               for m in at.markdown)
    marks = [c.value.split("  \n")[-1] for c in at.caption if c.value.endswith(("in both", "only here"))]
    assert len(marks) == 16  # 8 neighbours under each model
    assert marks[:8].count("in both") == marks[8:].count("in both")
    assert "1 selected case(s)" in [h.value for h in at.subheader]


def test_embeddings_without_compare_is_one_map(model_env):
    at = _page("embeddings.py")
    specs = _specs(at)
    assert len(specs) == 1
    assert not [t for t in specs[0]["data"] if t["name"].startswith("most changed")]


# --------------------------------------------------------------------------- missing index
def test_a_compare_model_without_index_says_so_and_only_an_admin_may_build_it(
        compare_env, micro_model, monkeypatch):
    from app.components.state import ADMIN_KEY

    monkeypatch.setenv("ECLIP_INDEX_DIR", str(micro_model["index_root"]))  # only the active one
    at = _page("embeddings.py", compare=compare_env["compare"])
    assert any("needs its own embedding index" in w.value for w in at.warning)
    assert len(_specs(at)) == 1  # the active model's map is still there
    assert not [b for b in at.button if b.label == "Build the index now"]
    assert any("signing in on the **Admin**" in c.value for c in at.caption)
    assert not at.code and not any(str(micro_model["index_root"]) in w.value for w in at.warning)
    at = _page("embeddings.py", compare=compare_env["compare"], **{ADMIN_KEY: True})
    assert [b for b in at.button if b.label == "Build the index now"]
    assert any(str(micro_model["index_root"]) in w.value for w in at.warning)  # the admin's detail


def test_zero_shot_upload_is_scored_by_both_models_with_numbers_on_the_bars(compare_env):
    """The upload's bars had no numbers, and the compare model never scored the upload."""
    from app_helpers import png_bytes

    at = _page("explore.py", compare=compare_env["compare"])
    at.file_uploader[0].set_value(("film.png", png_bytes(), "image/png")).run()
    at.switch_page("views/zero_shot.py").run()
    assert not at.exception, [e.value for e in at.exception]
    charts = [json.loads(c.proto.spec) for c in at.get("plotly_chart") if "zs_upload_bar" in (c.proto.id or "")]
    assert [c["layout"]["title"]["text"] for c in charts] == ["micro (active)", "micro-b (compare with)"]
    texts = [c["data"][0]["text"] for c in charts]
    for chart, text in zip(charts, texts):  # each probability written on its bar
        assert len(text) == len(chart["data"][0]["y"]) and all(0 <= float(t) <= 1 for t in text)
    assert texts[0] != texts[1]  # two models, two readings


def _shown_scores(at: AppTest) -> tuple[dict, dict]:
    """(the page's balanced accuracy, accuracy and macro-F1, the compare pane's row for the active model)."""
    shown = ["balanced accuracy", "accuracy", "macro-F1"]
    page = {m.label: m.value for m in at.metric if m.label in shown}
    both = next(d.value for d in at.dataframe if "model" in d.value.columns)
    return page, both.set_index("model").loc["micro", shown].to_dict()


def test_typed_classes_are_scored_once_for_the_page_and_the_compare_pane(compare_env):
    """The page and the pane read one scoring of the active model; an edit rescores both."""
    from eclip.evaluate.metrics import accuracy
    from eclip.evaluate.typed_prompts import parse_classes
    from eclip.evaluate.zeroshot import multiclass_scores
    from eclip.index import load_index
    from eclip.model.checkpoint import load_model
    from eclip.model.encode import encode_prompt_sets

    at = _page("zero_shot.py", compare=compare_env["compare"], zs_split="all")
    at.selectbox(key="zs_set").select("custom (type prompts)").run()
    lm = load_model(compare_env["checkpoint"])
    emb = np.array(load_index(compare_env["checkpoint"], compare_env["data"],
                              cache_root=compare_env["index_root"]).image_emb)
    manifest = read_manifest(compare_env["data"])
    for text in ("cardiomegaly\npleural effusion\nNo Finding",
                 "No Finding: The lungs are clear.\ncardiomegaly: The heart is enlarged."):
        at.text_area(key="zs_custom").set_value(text).run()
        assert not at.exception, [e.value for e in at.exception]
        page, pane = _shown_scores(at)
        assert page == pane
        ps = parse_classes(text).prompt_set
        pred, _ = multiclass_scores(emb, encode_prompt_sets(lm, [ps])[ps.name])  # argmax: any temperature
        target = multiclass_targets(manifest, ps)
        ok = target >= 0
        assert page["accuracy"] == f"{accuracy(target[ok], pred[ok]):.3f}"

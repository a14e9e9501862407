"""The model-based pages against a real (random-init, micro) checkpoint and a real
embedding index of the tiny dataset."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

MAIN = Path(__file__).resolve().parents[2] / "app" / "main.py"
TIMEOUT = 60
pytestmark = pytest.mark.slow


def _page(page: str, **session) -> AppTest:
    at = AppTest.from_file(str(MAIN), default_timeout=TIMEOUT)
    for k, v in session.items():
        at.session_state[k] = v
    at.run()
    at.switch_page(f"views/{page}").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_embeddings_map_and_geometry(model_env):
    at = _page("embeddings.py")
    assert at.title[0].value == "Embeddings"
    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    names = [t["name"] for t in spec["data"]]
    assert "reports (text)" in names
    ids = [i for t in spec["data"] if "customdata" in t for i in t["customdata"]]
    assert sorted(ids) == [f"case{i:03d}" for i in range(24)]
    assert {"Cardiomegaly (8)", "Pleural Effusion (8)", "No Finding (8)"} <= set(names)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["images / unique reports"] == "24 / 3"
    at.radio(key="emb_colour").set_value("gaze").run()
    names = [t["name"] for t in json.loads(at.get("plotly_chart")[0].proto.spec)["data"]]
    assert names[:2] == ["with gaze (12)", "without gaze (12)"]


def test_embeddings_offer_to_compute_a_missing_map(model_env, tmp_path, monkeypatch):
    cache = Path(shutil.copytree(model_env["index_root"], tmp_path / "cache"))
    for f in cache.glob("*/umap_*.npy"):
        f.unlink()
    monkeypatch.setenv("ECLIP_INDEX_DIR", str(cache))
    at = _page("embeddings.py", admin_ok=True)
    assert any("no 2-D map" in i.value for i in at.info)
    assert "--no-umap" not in at.code[0].value and "--cache" in at.code[0].value
    assert "Build the index now" in [b.label for b in at.button]


def test_model_pages_ask_for_a_model(app_env):
    at = _page("embeddings.py")
    assert any("needs a model" in i.value for i in at.info)


def test_missing_index_offers_the_build_command(model_env, tmp_path, monkeypatch):
    monkeypatch.setenv("ECLIP_INDEX_DIR", str(tmp_path / "empty-cache"))
    at = _page("embeddings.py", admin_ok=True)
    assert any("no complete index" in w.value for w in at.warning)
    assert "eclip.index build" in at.code[0].value
    assert "Build the index now" in [b.label for b in at.button]


def test_visitors_get_the_command_but_no_build_button_or_folder_box(model_env, tmp_path, monkeypatch):
    """A long job on the shared server, and reading any server folder, need the admin sign-in."""
    monkeypatch.setenv("ECLIP_INDEX_DIR", str(tmp_path / "empty-cache"))
    at = _page("embeddings.py", dataset_other=str(tmp_path / "elsewhere"))
    assert "eclip.index build" in at.code[0].value
    assert "Build the index now" not in [b.label for b in at.button]
    assert any("sign in on the **Admin**" in c.value for c in at.caption)
    assert "…or another folder" not in [t.label for t in at.text_input]
    assert "elsewhere" not in at.code[0].value  # a stale folder box value is ignored
    at.session_state["admin_ok"] = True
    at.run()
    assert "…or another folder" in [t.label for t in at.text_input]


def test_retrieval_both_directions(model_env):
    at = _page("retrieval.py")
    assert at.title[0].value == "Retrieval"
    at.selectbox(key="ret_split").select("all").run()
    at.slider(key="ret_k").set_value(5).run()
    captions = [c.value for c in at.caption]
    assert any("Top 5 of 24 images" in c for c in captions)
    sims = [float(c.split("similarity ")[1]) for c in captions if "similarity " in c]
    assert len(sims) == 5 and sims == sorted(sims, reverse=True)
    at.radio(key="ret_mode").set_value("Image → reports").run()
    assert not at.exception
    table = at.dataframe[0].value
    assert len(table) == 3 and table["own report"].sum() == 1  # 3 unique reports in all
    assert table["similarity"].is_monotonic_decreasing


def test_zero_shot_file_and_custom_prompts(model_env):
    at = _page("zero_shot.py")
    assert at.title[0].value == "Zero-shot"
    at.selectbox(key="zs_split").select("all").run()
    at.selectbox(key="zs_set").select("custom (type prompts)").run()
    assert not at.exception
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["cases with one target class"] == "24 of 24"
    acc = float(metrics["accuracy"])
    assert 0.0 <= acc <= 1.0
    cm = json.loads(at.get("plotly_chart")[0].proto.spec)["data"][0]["z"]
    assert sum(map(sum, cm)) == 24  # every case lands in the confusion matrix once
    at.text_area(key="zs_custom").input("only one line: prompt").run()
    assert any("at least two classes" in e.value for e in at.error)
    at.selectbox(key="zs_set").select("binary").run()
    assert not at.exception
    assert "AUROC" in at.dataframe[0].value.columns


def test_report_draft_with_retrieval_backend(model_env):
    at = _page("report.py")
    assert at.title[0].value == "Draft report"
    at.radio(key="rep_backend").set_value("retrieval").run()
    at.button(key="rep_go").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    assert any("draft — not a diagnosis" in m.value for m in at.markdown)
    terms = at.dataframe[0].value
    assert len(terms) >= 1 and terms["representative finding"].str.len().min() > 0
    prov = at.session_state["rep_last"]["provenance"]
    assert prov["backend"] == "retrieval" and prov["retrieved_ids"]
    train_ids = {f"case{i:03d}" for i in range(24) if ["train", "train", "train", "validate",
                                                       "test"][i % 5] == "train"}
    assert set(prov["retrieved_ids"]) <= train_ids  # never the test case's own report
    at.run()  # a later rerun keeps the draft on screen
    assert any("NOT A DIAGNOSIS" in t.value for t in at.text)


def test_explain_page_maps_and_gaze_agreement(model_env):
    at = _page("explain.py")
    assert at.title[0].value == "Model vs gaze"
    assert at.selectbox(key="xp_case").options[:2] == ["case000", "case002"]  # gaze cases
    assert at.text_input(key="xp_prompt").value == "Cardiomegaly."
    charts = at.get("plotly_chart")
    assert len(charts) == 2
    for chart in charts:
        assert [t["type"] for t in json.loads(chart.proto.spec)["data"]] == ["image", "heatmap"]
    labels = {m.label for m in at.metric}
    assert labels == {"CC", "NSS", "KL", "AUC-JUDD"}
    at.selectbox(key="xp_case").select("case002").run()
    assert at.text_input(key="xp_prompt").value.startswith("The lungs are clear")


def test_case_chosen_in_the_browser_follows_to_other_pages(model_env):
    at = AppTest.from_file(str(MAIN), default_timeout=TIMEOUT).run()
    at.selectbox(key="case_id").select("case002").run()
    at.switch_page("views/explain.py").run()
    assert at.selectbox(key="xp_case").value == "case002"
    at.switch_page("views/explore.py").run()
    assert at.selectbox(key="case_id").value == "case002"


def test_build_index_button_runs_the_cli_and_the_page_picks_it_up(model_env, tmp_path,
                                                                  monkeypatch):
    import psutil

    from app import runs

    monkeypatch.setenv("ECLIP_INDEX_DIR", str(tmp_path / "fresh-cache"))
    at = _page("retrieval.py", admin_ok=True)
    at.button(key="build_index").click().run()
    jobs = [p for p in (model_env["runs"] / ".app").glob("index-*.json")]
    assert len(jobs) == 1
    rec = runs.load_launch(model_env["runs"], jobs[0].stem)
    assert rec.argv[1:4] == ["-m", "eclip.index", "build"]
    assert "--no-umap" in rec.argv  # retrieval needs no 2-D map
    try:
        assert psutil.Process(rec.pid).wait(timeout=180) == 0, runs.tail(rec.log)
    except psutil.NoSuchProcess:
        pass
    finally:
        runs.stop(rec)
    at.run()
    assert not at.exception and not at.warning
    assert at.title[0].value == "Retrieval"
    assert any("Top 10 of" in c.value for c in at.caption)

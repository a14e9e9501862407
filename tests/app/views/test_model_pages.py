"""The model-based pages against a real (random-init, micro) checkpoint and a real
embedding index of the tiny dataset."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from app.core.index_words import INDEX_NOT_READY

MAIN = Path(__file__).resolve().parents[3] / "app" / "main.py"
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
    assert "reports (text) (3)" in names
    assert not spec["layout"].get("images")  # 27 points: every one a marker, no density picture
    ids = [i for t in spec["data"] if "customdata" in t for i in t["customdata"]]
    assert sorted(ids) == [f"case{i:03d}" for i in range(24)]
    assert {"Cardiomegaly (8)", "Pleural Effusion (8)", "No Finding (8)"} <= set(names)
    metrics = {m.label: m.value for m in at.metric}
    assert (metrics["images"], metrics["unique reports"]) == ("24", "3")
    at.radio(key="emb_colour").set_value("gaze").run()
    names = [t["name"] for t in json.loads(at.get("plotly_chart")[0].proto.spec)["data"]]
    assert names[:2] == ["with gaze (12)", "without gaze (12)"]


def test_embeddings_map_colours_every_finding_apart_and_keeps_the_legend_clear(
        model_env, tmp_path, monkeypatch):
    """All 14 findings and 'unlabelled' on one map: 15 colours (the default sequence has 10,
    so Atelectasis and Pneumothorax were the same), and the legend clear of the toolbar."""
    from eclip.data.manifest import LABELS, read_manifest, write_manifest
    from eclip.index import build_index

    data = Path(shutil.copytree(model_env["data"], tmp_path / "data"))
    df = read_manifest(data)
    df[list(LABELS)] = np.nan
    for i in range(len(df)):
        if i % 15 < len(LABELS):
            df.loc[i, LABELS[i % 15]] = 1.0
    write_manifest(df, data)
    idx = build_index(model_env["checkpoint"], data, cache_root=tmp_path / "cache",
                      with_umap=False, progress=False, device="cpu")
    rng = np.random.default_rng(0)  # any 2-D coordinates will do for the colours
    np.save(idx.path / "umap_image.npy", rng.normal(size=(len(df), 2)).astype(np.float32))
    np.save(idx.path / "umap_text.npy", rng.normal(size=(len(idx.texts), 2)).astype(np.float32))
    monkeypatch.setenv("ECLIP_DATA", str(data))
    monkeypatch.setenv("ECLIP_INDEX_DIR", str(tmp_path / "cache"))
    at = _page("embeddings.py")
    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    groups = [t for t in spec["data"] if "customdata" in t]
    assert len(groups) == 15
    cycle = spec["layout"].get("template", {}).get("layout", {}).get("colorway") or ["?"]
    shown = {t["marker"].get("color") or cycle[i % len(cycle)] for i, t in enumerate(groups)}
    assert len(shown) == 15  # a trace without a colour takes the template's next one
    # The modebar sits on the figure's top edge (plotly pins it there): a horizontal legend
    # hung below the plotting area cannot run under it.
    legend = spec["layout"]["legend"]
    assert (legend.get("orientation"), legend.get("yanchor")) == ("h", "top")
    assert legend["y"] <= 0
    assert spec["layout"].get("modebar", {}).get("orientation", "h") == "h"


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


def test_visitors_get_no_build_button_command_or_server_folder(model_env, tmp_path, monkeypatch):
    """A long job on the shared server, and reading any server folder, need the admin sign-in."""
    monkeypatch.setenv("ECLIP_INDEX_DIR", str(tmp_path / "empty-cache"))
    at = _page("embeddings.py", dataset_other=str(tmp_path / "elsewhere"))
    assert any("has not been built yet" in w.value for w in at.warning)
    assert "Build the index now" not in [b.label for b in at.button]
    # no server folder for a visitor: not the index cache, the dataset or the checkpoint
    shown = " ".join(str(e.value) for kind in ("warning", "code", "caption", "markdown", "info")
                     for e in getattr(at, kind))
    assert str(tmp_path) not in shown and "/checkpoints/" not in shown and not at.code
    assert any("signing in on the **Admin**" in c.value for c in at.caption)
    assert "…or another folder" not in [t.label for t in at.text_input]
    assert "elsewhere" not in shown  # a stale folder box value is ignored
    at.session_state["admin_ok"] = True
    at.run()
    assert "…or another folder" in [t.label for t in at.text_input]


def test_a_stale_index_opens_with_the_same_words_for_visitor_and_admin(model_env, tmp_path, monkeypatch):
    """Tools that drive the pages (the screenshot tool) recognise the stop by its opening words,
    whichever way the index is unusable and whoever reads it; only the admin reads the details."""
    cache = Path(shutil.copytree(model_env["index_root"], tmp_path / "cache"))
    for meta in cache.glob("*/meta.json"):
        meta.write_text(json.dumps({**json.loads(meta.read_text()), "version": -1}))
    monkeypatch.setenv("ECLIP_INDEX_DIR", str(cache))
    visitor = [w.value for w in _page("embeddings.py").warning]
    assert f"{INDEX_NOT_READY} is out of date." in visitor
    admin = [w.value for w in _page("embeddings.py", admin_ok=True).warning]
    assert any(w.startswith(f"{INDEX_NOT_READY} is out of date. ") and "format version -1" in w for w in admin)


def test_retrieval_both_directions(model_env):
    at = _page("retrieval.py")
    assert at.title[0].value == "Retrieval"
    at.selectbox(key="ret_split").select("all").run()
    at.slider(key="ret_k").set_value(5).run()
    captions = [c.value for c in at.caption]
    assert any("Top 5 of 24 images" in c for c in captions)
    sims = [float(c.split("similarity ")[1].split()[0]) for c in captions if "· percentile" in c]
    assert len(sims) == 5 and sims == sorted(sims, reverse=True)
    pcts = _percentiles(at)
    assert len(pcts) == 5 and pcts == sorted(pcts, reverse=True) and 0 <= min(pcts) <= max(pcts) <= 100
    assert any("among the 24 true image-report pairs" in c for c in captions)
    at.radio(key="ret_mode").set_value("Image → reports").run()
    assert not at.exception
    table = at.dataframe[0].value
    assert len(table) == 3 and table["own report"].sum() == 1  # 3 unique reports in all
    assert table["similarity"].is_monotonic_decreasing
    assert table["percentile"].is_monotonic_decreasing and table["percentile"].between(0, 100).all()


def _percentiles(at) -> list[int]:
    return [int(c.value.split("· percentile ")[1]) for c in at.caption if "· percentile" in c.value]


def _no_close_match(at) -> bool:
    return any("No close match" in w.value for w in at.warning)


def _hand_made_index(model_env, tmp_path, monkeypatch, far_case: int) -> list[str]:
    """A copy of the micro index whose images lie ~9 degrees from their own report (true
    pairs score ~0.99), except ``far_case``, a random direction far from every report."""
    cache = Path(shutil.copytree(model_env["index_root"], tmp_path / "cache"))
    folder = next(cache.glob("*/meta.json")).parent
    text, text_index = np.load(folder / "text_emb.npy"), np.load(folder / "text_index.npy")
    rng = np.random.default_rng(0)
    img = text[text_index] + 0.02 * rng.normal(size=(len(text_index), text.shape[1]))
    img[far_case] = rng.normal(size=text.shape[1])
    img /= np.linalg.norm(img, axis=1, keepdims=True)
    np.save(folder / "image_emb.npy", img.astype(np.float32))
    monkeypatch.setenv("ECLIP_INDEX_DIR", str(cache))
    return json.loads((folder / "texts.json").read_text())


def test_retrieval_says_no_close_match_when_nothing_is_as_close_as_a_true_pair(
        model_env, tmp_path, monkeypatch):
    from eclip.model import load_model
    from eclip.model.encode import encode_texts

    texts = _hand_made_index(model_env, tmp_path, monkeypatch, far_case=5)
    nonsense = "zebra piano quantum"
    emb = encode_texts(load_model(model_env["checkpoint"], device="cpu"), [nonsense, *texts])
    assert (emb[1:] @ emb[0]).max() < 0.9  # precondition: far from every report and image
    at = _page("retrieval.py")
    at.selectbox(key="ret_split").select("all").run()
    at.text_input(key="ret_query").input(texts[0]).run()  # a real report of the index
    assert not _no_close_match(at) and _percentiles(at)[0] >= 50
    at.text_input(key="ret_query").input(nonsense).run()
    assert _no_close_match(at) and max(_percentiles(at)) < 5
    assert any("unlike every report of this index" in w.value for w in at.warning)
    assert any("Below percentile 5 (similarity < 0.9" in c.value and "(this one: 0." in c.value
               for c in at.caption)
    at.radio(key="ret_mode").set_value("Image → reports").run()
    at.selectbox(key="ret_case").select("case000").run()
    assert not _no_close_match(at) and at.dataframe[0].value["percentile"].iloc[0] >= 5
    at.selectbox(key="ret_case").select("case005").run()  # no report is near this image
    assert _no_close_match(at) and at.dataframe[0].value["percentile"].max() < 5


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
    # balanced accuracy leads, beside a constant answer's 1/K over the K classes present
    assert [m.label for m in at.metric][1:4] == ["balanced accuracy", "macro-F1", "accuracy"]
    balanced = next(m for m in at.metric if m.label == "balanced accuracy")
    present = sum(1 for row in cm if sum(row))
    delta = float(balanced.delta.split()[0].replace("−", "-"))
    assert abs(delta - (float(balanced.value) - 1 / present)) < 2e-3  # both shown to 3 decimals
    assert any("against a constant answer" in c.value for c in at.caption)
    at.text_area(key="zs_custom").input("only one line: prompt").run()
    assert any("at least two classes" in e.value for e in at.error)
    at.selectbox(key="zs_set").select("binary").run()
    assert not at.exception
    assert "AUROC" in at.dataframe[0].value.columns
    at.number_input(key="zs_min_pos").set_value(1).run()  # the tiny set's labels all get an AUROC
    macro = next(m for m in at.metric if m.label.startswith("macro AUROC"))
    assert macro.delta == f"{float(macro.value) - 0.5:+.3f} vs constant"


def test_zero_shot_pairs_show_their_calibration_and_base_rate(model_env):
    at = _page("zero_shot.py")
    at.selectbox(key="zs_set").select("binary").run()
    results = at.dataframe[0].value
    assert {"validate base rate", "calibrated"} <= set(results.columns)
    # the tiny dataset's validate split is too small: every pair says why it is raw
    assert all(c.startswith("no: ") and ("positives" in c or "negatives" in c) for c in results["calibrated"])
    assert any("not calibrated" in c.value or "raw (no fit to pool from or no labelled validate films)" in c.value
               for c in at.caption)
    assert any("no display window is applied" in c.value for c in at.caption)


def test_zero_shot_typed_classes_are_scored_at_the_models_temperature(model_env):
    from eclip.model import load_model
    from eclip.model.encode import probability_scale

    at = _page("zero_shot.py")
    at.selectbox(key="zs_set").select("custom (type prompts)").run()
    scale = probability_scale(load_model(model_env["checkpoint"]))
    axis = json.loads(at.get("plotly_chart")[-1].proto.spec)["layout"]["xaxis"]["title"]["text"]
    assert axis == f"probability (softmax at the model's learned temperature, T = 1/{scale:.1f})"


def _typed(mode: str, text: str) -> AppTest:
    at = _page("zero_shot.py")
    at.selectbox(key="zs_split").select("all").run()
    at.selectbox(key="zs_set").select("custom (type prompts)").run()
    if mode == "pairs":
        at.radio(key="zs_custom_mode").set_value(
            next(o for o in at.radio(key="zs_custom_mode").options if o.startswith("pairs"))).run()
    at.text_area(key="zs_pairs" if mode == "pairs" else "zs_custom").input(text).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_zero_shot_typed_classes_one_per_line_match_labels(model_env):
    """HEAD's page answered these two lines with a format error (and, written as
    'Class: prompt', scored 0 cases: no column is named 'no pleural effusion')."""
    at = _typed("classes", "pleural effusion\nno pleural effusion")
    assert not at.error, [e.value for e in at.error]
    mapping = at.dataframe[0].value
    assert mapping["class"].tolist() == ["pleural effusion", "no pleural effusion"]
    assert mapping["label column"].tolist() == ["Pleural Effusion", "not Pleural Effusion"]
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["cases with one target class"] == "24 of 24"  # 8 effusions, 16 without
    cm = json.loads(at.get("plotly_chart")[0].proto.spec)["data"][0]["z"]
    assert [sum(row) for row in cm] == [8, 16]
    at.text_area(key="zs_custom").input("pleural effusion\ndog").run()
    assert at.dataframe[0].value["label column"].tolist() == ["Pleural Effusion",
                                                              "no label: probabilities only"]
    at.text_area(key="zs_custom").input("").run()
    assert any("box is empty" in e.value for e in at.error)
    at.text_area(key="zs_custom").input("edema:\ncardiomegaly").run()
    assert any("'edema' has no prompt" in e.value for e in at.error)


def test_zero_shot_typed_pairs_give_auroc_per_pair(model_env):
    at = _typed("pairs", "pleural effusion | no pleural effusion\ndog | cat")
    at.number_input(key="zs_min_pos").set_value(8).run()  # the tiny data has 8 effusions
    assert not at.error, [e.value for e in at.error]
    mapping, results = at.dataframe[0].value, at.dataframe[1].value
    assert mapping["label column"].tolist() == ["Pleural Effusion", "no label: probabilities only"]
    effusion, dog = results.iloc[0], results.iloc[1]
    assert (effusion["positives"], effusion["negatives"]) == ("8", "16")
    assert 0.0 <= float(effusion["AUROC"]) <= 1.0
    assert dog["AUROC"] == "no label: probabilities only" and 0.0 <= dog["mean probability"] <= 1.0
    assert {m.label: m.value for m in at.metric}[
        "macro AUROC (pairs with at least 8 positives and negatives)"] == effusion["AUROC"]
    per_image = at.dataframe[2].value
    assert list(per_image.columns) == ["id", "pleural effusion", "dog"] and len(per_image) == 24
    at.text_area(key="zs_pairs").input("pleural effusion").run()
    assert any("no '|'" in e.value for e in at.error)


@pytest.fixture
def report_env(model_env, monkeypatch):
    """The model pages' environment, without the embedded model's background warm-up (a
    ~30 s load nobody here waits for) and with no Ollama configured."""
    monkeypatch.setenv("ECLIP_REPORT_WARMUP", "0")
    for var in ("OLLAMA_HOST", "ECLIP_OLLAMA_MODEL", "ECLIP_REPORT_BACKEND", "ECLIP_REPORT_CONFIG"):
        monkeypatch.delenv(var, raising=False)
    return model_env


def _drafted(at: AppTest, backend: str, case: str | None = None) -> AppTest:
    if case:
        at.selectbox(key="rep_case").select(case).run()
    at.radio(key="rep_backend").set_value(backend).run()
    at.button(key="rep_go").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    return at


def test_report_draft_with_retrieval_backend(report_env):
    at = _page("report.py")
    assert at.title[0].value == "Draft report"
    _drafted(at, "retrieval")
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


def _conflicts_shown(at: AppTest) -> list[str]:
    return [w.value for w in at.warning if "zero-shot p =" in w.value]


def test_report_draft_disagreements_with_zero_shot_are_marked(report_env):
    at = _page("report.py")
    seen = set()
    for case in at.selectbox(key="rep_case").options:  # the 4 test cases
        evidence = _drafted(at, "retrieval", case).session_state["rep_last"]["evidence"]
        shown = _conflicts_shown(at)
        assert len(shown) == len(evidence["conflicts"])
        for conflict, text in zip(evidence["conflicts"], shown):
            assert conflict["finding"] in text and f"{conflict['probability']:.2f}" in text
            assert {"denies": "says absent", "asserts": "says present",
                    "ignores": "does not mention it"}[conflict["kind"]] in text
        if not shown:
            assert any("No disagreement" in s.value for s in at.success)
        at.run()  # the marks stay beside the draft on a rerun
        assert len(_conflicts_shown(at)) == len(shown)
        seen.add(bool(shown))
    assert True in seen  # the random-init micro model disagrees with its retrieved reports


def test_report_counts_likely_findings_the_draft_ignores_as_disagreements(report_env, monkeypatch):
    """The page said "No disagreement" beside a draft that ignored five findings above 0.8."""
    import eclip.report.context as context
    from eclip.report.evidence import ZeroShot

    likely = [ZeroShot(n, (n,), p, "calibrated on the validate split; base rate 4 % of validate films (9 of 211)")
              for n, p in [("Edema", 0.93), ("Pneumothorax", 0.91), ("Lung Lesion", 0.90),
                           ("Atelectasis", 0.86), ("Pneumonia", 0.83)]]
    monkeypatch.setattr(context, "zero_shot_evidence", lambda *a, **k: likely)
    at = _drafted(_page("report.py"), "retrieval")
    ignored = [w.value for w in at.warning if "does not mention it" in w.value]
    evidence = at.session_state["rep_last"]["evidence"]["conflicts"]
    # the tiny dataset's reports say "no ... pneumothorax": the other four go unmentioned
    assert len(ignored) == sum(c["kind"] == "ignores" for c in evidence) == 4
    assert "**Edema** (zero-shot p = 0.93)" in ignored[0]
    assert not any("No disagreement" in s.value for s in at.success)
    assert any("base rate 4 % of validate films" in c.value for c in at.caption)


def test_report_shows_repetition_and_laterality_beside_the_draft(report_env):
    from eclip.report.evidence import check_draft

    text = "Small left pleural effusion. Small left pleural effusion. No left pleural effusion."
    at = _page("report.py")
    case = at.selectbox(key="rep_case").value
    at.session_state["rep_last"] = {"case": case, "text": text, "hosts": (), "provenance": {},
                                    "evidence": check_draft(text, ()).as_dict()}
    at.run()
    shown = [w.value for w in at.warning]
    assert any("“Small left pleural effusion” is said 2 times" in w for w in shown)
    assert any("said present and absent on the same side" in w and "Pleural Effusion" in w for w in shown)


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_report_ollama_host_and_model_are_admin_only(report_env, monkeypatch):
    configured = f"http://127.0.0.1:{_free_port()}"  # nothing listens: the draft falls back
    monkeypatch.setenv("OLLAMA_HOST", configured)
    at = _page("report.py")
    assert not [t for t in at.text_input if t.key in ("rep_host", "rep_model")]  # a visitor types nothing
    assert any("mistral" in c.value and "admin" in c.value for c in at.caption)
    assert not any(configured in c.value for c in at.caption)  # the host is the admin's to see
    prov = _drafted(at, "ollama").session_state["rep_last"]["provenance"]
    assert prov["backend"] == "retrieval" and configured in prov["fallback_reason"]

    chosen = f"http://127.0.0.1:{_free_port()}"
    at = _page("report.py", admin_ok=True)
    at.text_input(key="rep_host").input(chosen).run()
    assert at.text_input(key="rep_model").value == "mistral:7b-instruct"
    prov = _drafted(at, "ollama").session_state["rep_last"]["provenance"]
    assert chosen in prov["fallback_reason"]


def test_report_says_the_embedded_model_is_loading(report_env, tmp_path, monkeypatch):
    from eclip.report.embedded import is_loaded, unload_all

    config = tmp_path / "report.toml"
    config.write_text("[report]\nmax_new_tokens = 3\n")
    monkeypatch.setenv("ECLIP_REPORT_CONFIG", str(config))
    unload_all()  # as on a fresh server
    at = _page("report.py")
    at.radio(key="rep_backend").set_value("embedded").run()
    at.button(key="rep_go").click().run(timeout=600)
    assert not at.exception and not at.error, [e.value for e in [*at.exception, *at.error]]
    status = at.status[0]
    assert status.label.startswith("Embedded language model loaded")  # it said "Loading…" meanwhile
    assert is_loaded() and at.session_state["rep_last"]["provenance"]["backend"] == "embedded"
    at.button(key="rep_go").click().run(timeout=120)
    assert not at.status  # loaded once per server: the next draft starts at once


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


def _colour_bar_titles(at) -> list[str]:
    return [t["colorbar"]["title"]["text"] for chart in at.get("plotly_chart")
            for t in json.loads(chart.proto.spec)["data"] if t["type"] == "heatmap"]


def test_explain_page_names_each_map_by_what_drew_it(model_env):
    at = _page("explain.py")
    assert _colour_bar_titles(at) == ["gaze", "Grad-CAM"]
    at.selectbox(key="xp_method").select("grad_rollout").run()
    assert _colour_bar_titles(at) == ["gaze", "Gradient-weighted rollout"]


def test_explain_page_rollout_disables_the_prompt_and_says_why(model_env):
    at = _page("explain.py")
    assert not at.text_input(key="xp_prompt").disabled
    at.selectbox(key="xp_method").select("rollout").run()
    assert not at.exception
    assert at.text_input(key="xp_prompt").disabled
    assert any("same for every prompt" in c.value for c in at.caption)
    at.selectbox(key="xp_method").select("grad_rollout").run()
    assert not at.text_input(key="xp_prompt").disabled


def test_explain_page_says_what_an_empty_prompt_was_replaced_by(model_env):
    at = _page("explain.py")
    assert not any("prompt box is empty" in i.value for i in at.info)
    at.text_input(key="xp_prompt").input("   ").run()
    assert not at.exception and not at.error
    said = [i.value for i in at.info if "prompt box is empty" in i.value]
    assert len(said) == 1 and "the case's own report" in said[0] and "heart is enlarged" in said[0].lower()
    assert len(at.get("plotly_chart")) == 2  # and the map was drawn for it


def test_explain_page_tells_where_the_map_mass_sits(model_env):
    at = _page("explain.py")
    at.selectbox(key="xp_method").select("grad_rollout").run()  # never flat
    notes = [c.value for c in at.caption if "outside the lung fields" in c.value]
    notes += [w.value for w in at.warning if "outside the lung fields" in w.value]
    assert len(notes) == 1 and "central-region heuristic (not real lung fields)" in notes[0]


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

    from app.jobs import launcher

    monkeypatch.setenv("ECLIP_INDEX_DIR", str(tmp_path / "fresh-cache"))
    at = _page("retrieval.py", admin_ok=True)
    at.button(key="build_index").click().run()
    jobs = [p for p in (model_env["runs"] / ".app").glob("index-*.json")]
    assert len(jobs) == 1
    rec = launcher.load_launch(model_env["runs"], jobs[0].stem)
    assert rec.kind == launcher.JobKind.INDEX_BUILD and rec.argv[1:4] == ["-m", "eclip.index", "build"]
    assert "--no-umap" in rec.argv  # retrieval needs no 2-D map
    try:
        assert psutil.Process(rec.pid).wait(timeout=180) == 0, launcher.tail(rec.log)
    except psutil.NoSuchProcess:
        pass
    finally:
        launcher.stop(rec)
    at.run()
    assert not at.exception and not [w for w in at.warning if "No close match" not in w.value]
    assert at.title[0].value == "Retrieval"
    assert any("Top 10 of" in c.value for c in at.caption)


def test_zero_shot_pairs_table_fits_a_1280_window(model_env):
    """At 1280 x 720 the table's last columns (base rate, calibrated) were cut off."""
    at = _page("zero_shot.py")
    at.selectbox(key="zs_set").select("binary").run()
    table = at.dataframe[0]
    widths = {name: c.get("width") for name, c in json.loads(table.proto.columns).items()}
    assert all(isinstance(widths.get(c), int) for c in table.value.columns)
    assert sum(widths[c] for c in table.value.columns) <= 820  # the page's width beside the sidebar

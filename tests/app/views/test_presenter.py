"""The Presenter page (a tour from a TOML file, next/previous, overlay toggles, upload, links
to the full pages) and the "Export case report" control on every case page, with AppTest
against the tiny dataset and a real (random-init, micro) checkpoint with its index."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from data.test_images import IDENTIFIERS
from eclip.errors import ConfigError
from app_helpers import SECRETS, dicom_bytes, page_text

MAIN = Path(__file__).resolve().parents[3] / "app" / "main.py"
TIMEOUT = 90
TOUR = """
[[stop]]
case = "case000"
title = "Where the reader looked"
point = "The map & the gaze <b>agree</b> here."

[[stop]]
case = "case002"
title = "A second film"
point = "Another case with gaze."
prompt = "Cardiomegaly."

[[stop]]
case = "case001"
title = "No gaze here"
point = "A case without eye-tracking."

[[stop]]
case = "nosuchcase"
title = "Not in this dataset"
point = "Left out."
"""


@pytest.fixture
def tour_env(model_env, tmp_path, monkeypatch):
    path = tmp_path / "tour.toml"
    path.write_text(TOUR)
    monkeypatch.setenv("ECLIP_TOUR", str(path))
    return {**model_env, "tour": path}


def _ok(at: AppTest) -> AppTest:
    assert not at.exception, [e.value for e in at.exception]
    return at


def _presenter() -> AppTest:
    at = AppTest.from_file(str(MAIN), default_timeout=TIMEOUT)
    at.run()
    at.switch_page("views/presenter.py").run()
    return _ok(at)


def _stop_line(at: AppTest) -> str:
    return next(m.value for m in at.markdown if m.value.startswith("**Stop ") or m.value.startswith("**Your image"))


def _heatmap_titles(at: AppTest) -> list[str]:
    """The colour-bar title of each chart's heatmap (None for a bare film)."""
    out = []
    for chart in at.get("plotly_chart"):
        traces = json.loads(chart.proto.spec)["data"]
        heat = [t for t in traces if t["type"] == "heatmap"]
        out.append(heat[0]["colorbar"]["title"]["text"] if heat else None)
    return out


def _contours(at: AppTest) -> list[list[str]]:
    """The mask outlines (contour traces) of each chart."""
    return [[t["name"] for t in json.loads(chart.proto.spec)["data"] if t["type"] == "contour"]
            for chart in at.get("plotly_chart")]


def _exported(at: AppTest, key: str) -> str:
    at.button(key=f"{key}_export").click().run()
    _ok(at)
    return at.session_state[f"_case_report:{key}"]["html"]


# --------------------------------------------------------------------------- the tour
def test_tour_file_is_checked(tmp_path):
    from app.core import tour

    bad = tmp_path / "t.toml"
    bad.write_text('[[stop]]\ncase = "a"\ntitle = "t"\n')
    with pytest.raises(ConfigError, match="stop 1: missing point"):
        tour.load(bad)
    bad.write_text("title = 'no stops'\n")
    with pytest.raises(ConfigError, match=r"no \[\[stop\]\]"):
        tour.load(bad)


def test_shipped_tour_names_demo_cases():
    from app.core import tour

    stops = tour.load(tour.DEFAULT)
    assert len(stops) >= 4 and all(s.case.startswith("demo") and s.point for s in stops)
    assert all(s.chosen and s.typical for s in stops)  # each stop beside its split
    head = tour.DEFAULT.read_text(encoding="utf-8").splitlines()[1]  # written by the command
    assert head.startswith("#   python -m eclip.explain.tour ") and "--out app/assets/tour.toml" in head


def test_presenter_walks_the_tour_with_next_and_previous(tour_env):
    at = _presenter()
    assert _stop_line(at).startswith("**Stop 1 of 3: Where the reader looked")
    assert any("agree" in m.value and "<b>" not in m.value for m in at.markdown)  # escaped talking point
    assert at.query_params["case"] == "case000"
    at.button(key="pr_next").click().run()
    _ok(at)
    assert _stop_line(at).startswith("**Stop 2 of 3")
    assert at.query_params["case"] == "case002"
    assert any("Cardiomegaly" in c.value for c in at.caption if "prompt" in c.value)  # the stop's own prompt
    at.button(key="pr_prev").click().run()
    at.button(key="pr_prev").click().run()
    _ok(at)
    assert _stop_line(at).startswith("**Stop 3 of 3: No gaze here")  # wraps round
    at.button(key="pr_next").click().run()
    assert _stop_line(_ok(at)).startswith("**Stop 1 of 3")


def test_a_rerun_with_the_stop_just_left_in_the_address_bar_stays_on_the_next(tour_env):
    """F, then PageDown within 200 ms: the size report's rerun carries ?case= as the browser had
    it before Next's run changed it. The Presenter stays on the next stop; a new link moves it."""
    at = _presenter()
    at.button(key="pr_next").click().run()
    assert _stop_line(_ok(at)).startswith("**Stop 2 of 3") and at.query_params["case"] == "case002"
    at.query_params["case"] = "case000"  # the stop Next left: the address bar catching up
    at.run()
    assert _stop_line(_ok(at)).startswith("**Stop 2 of 3") and at.query_params["case"] == "case002"
    at.query_params["case"] = "case001"  # a link the session never had
    at.run()
    assert _stop_line(_ok(at)).startswith("**Stop 3 of 3") and at.query_params["case"] == "case001"


def test_presenter_follows_a_link_and_offers_the_full_pages(tour_env):
    at = AppTest.from_file(str(MAIN), default_timeout=TIMEOUT)
    at.query_params["case"] = "case002"
    at.switch_page("views/presenter.py").run()
    _ok(at)
    assert _stop_line(at).startswith("**Stop 2 of 3")
    links = [el.proto.label for el in at.get("page_link")]
    assert {"Case browser", "Model vs gaze", "Draft report"} <= set(links)
    at.switch_page("views/explain.py").run()  # the full page opens on the same case...
    assert _ok(at).selectbox(key="xp_case").value == "case002"
    at.switch_page("views/presenter.py").run()  # ...and the presenter comes back to its stop
    assert _stop_line(_ok(at)).startswith("**Stop 2 of 3")


def test_presenter_shows_how_a_stop_was_chosen(model_env, tmp_path, monkeypatch):
    """A stop's ``chosen`` and ``typical`` stand under its talking point (a caption, not folded
    away), its ``outline`` draws the finding's ground-truth mask on every map; a stop without
    them shows none of it."""
    import shutil

    import numpy as np

    from app.core.cases import md_escape
    from eclip.data.manifest import read_manifest, save_array_npz, write_manifest

    data = Path(shutil.copytree(model_env["data"], tmp_path / "ds"))
    df = read_manifest(data)
    save_array_npz(data / "case000.npz", **{"Cardiomegaly": np.mgrid[0:64, 0:64][0] >= 32})
    df["mask_path"] = np.where(df["id"] == "case000", "case000.npz", "")
    write_manifest(df, data)
    monkeypatch.setenv("ECLIP_DATA", str(data))
    chosen = "Chosen as the largest gap in CC among 27 test cases."
    typical = "CC, this case: a 0.63, b 0.10 · mean over the 27: a 0.11, b 0.10."
    path = tmp_path / "tour.toml"
    path.write_text(f'[[stop]]\ncase = "case000"\ntitle = "Chosen"\npoint = "A point."\nchosen = "{chosen}"\n'
                    f'typical = "{typical}"\noutline = "Cardiomegaly"\n\n'
                    '[[stop]]\ncase = "case004"\ntitle = "Plain"\npoint = "Another."\n', encoding="utf-8")
    monkeypatch.setenv("ECLIP_TOUR", str(path))
    at = _presenter()
    under = [c.value for c in at.caption if md_escape(chosen) in c.value]
    assert len(under) == 1 and md_escape(typical) in under[0]
    assert not [c for e in at.expander for c in e.caption if md_escape(chosen) in c.value]
    assert _contours(at) == [["Cardiomegaly"], ["Cardiomegaly"]]  # on the gaze and on the model's map
    assert any("outline is where the Cardiomegaly is" in c.value for c in at.caption)
    at.button(key="pr_next").click().run()
    assert _stop_line(_ok(at)).startswith("**Stop 2 of 2: Plain")
    assert not [c for c in at.caption if "Chosen as" in c.value or "outline" in c.value]
    assert _contours(at) == [[], []]


def test_it_says_when_the_films_show_other_models_than_the_talking_points_name(tour_env):
    from app.components.compare.side_by_side import label

    shown = label(tour_env["checkpoint"])
    note = f"the talking points are about demo-eclip and demo-clip; the films show {shown}"
    tour_env["tour"].write_text('models = ["demo-eclip", "demo-clip"]\n' + TOUR)
    assert any(note in c.value for c in _presenter().caption)
    tour_env["tour"].write_text(f'models = ["{shown}"]\n' + TOUR)
    assert not any("talking points are about" in c.value for c in _presenter().caption)
    tour_env["tour"].write_text(TOUR)  # a tour that does not name its models: nothing to say
    assert not any("talking points are about" in c.value for c in _presenter().caption)


def test_overlay_toggles(tour_env):
    at = _presenter()
    model = next(t for t in at.toggle if t.key.startswith("pr_show_") and t.key != "pr_show_gaze")
    assert _heatmap_titles(at) == ["gaze", model.label]  # gaze and the model's map, side by side
    at.toggle(key="pr_show_gaze").set_value(False).run()
    assert _heatmap_titles(_ok(at)) == [model.label]
    at.toggle(key=model.key).set_value(False).run()
    assert _heatmap_titles(_ok(at)) == [None]  # the bare film
    at.button(key="pr_next").click().run()
    at.button(key="pr_next").click().run()  # case001 has no gaze: its toggle is off and disabled
    gaze = at.toggle(key="pr_show_gaze_na")
    assert gaze.disabled and not gaze.value


def test_projector_type_and_folded_panels(tour_env):
    at = _presenter()
    assert any("font-size: 1.3rem" in m.value for m in at.markdown)
    labels = [e.label for e in at.expander]
    assert "Typicality and model card" in labels and "Agreement with the gaze (every metric)" in labels
    assert any("not a diagnosis" in m.value for m in at.markdown)  # the retrieval draft's badge


def test_presenter_export_holds_the_stop(tour_env):
    at = _presenter()
    doc = _exported(at, "pr")
    assert "case000" in doc and "SIMULATED" in doc and "draft — not a diagnosis" in doc
    assert "Zero-shot findings" in doc and "Model card" in doc and "weights SHA-256" in doc
    assert doc.count("data:image/png;base64,") == 2  # gaze and the model's map
    labels = [b.proto.label for b in at.get("download_button")]
    assert "Download report (HTML)" in labels
    at.button(key="pr_next").click().run()  # another case: the old report is not offered
    assert "Download report (HTML)" not in [b.proto.label for b in _ok(at).get("download_button")]


def test_an_export_press_outlives_the_run_it_started(tour_env):
    """A press is noted in the session, so the run after a cut-short one (another rerun came in
    while it ran: the window reporting its size) still builds the report; a press for what the
    page no longer shows builds nothing."""
    at = _presenter()
    _exported(at, "pr")
    token = at.session_state["_case_report:pr"]["token"]
    del at.session_state["_case_report:pr"]  # as after a press whose run was cut short
    at.session_state["_case_report_wanted:pr"] = token
    at.run()  # the next run: no press in it
    assert "case000" in _ok(at).session_state["_case_report:pr"]["html"]
    assert "_case_report_wanted:pr" not in at.session_state  # served once
    assert "Download report (HTML)" in [b.proto.label for b in at.get("download_button")]
    del at.session_state["_case_report:pr"]
    at.session_state["_case_report_wanted:pr"] = token + "|another overlay"
    at.run()
    assert "_case_report:pr" not in _ok(at).session_state and "_case_report_wanted:pr" not in at.session_state


def test_presenter_draft_shows_its_check_and_the_calibrated_probabilities(tour_env, monkeypatch):
    """The draft stood alone: no evidence check, no probabilities, no word on calibration."""
    import eclip.report.context as context
    from eclip.report.evidence import ZeroShot

    note = "calibrated on the validate split; base rate 4 % of validate films (9 of 211)"
    likely = [ZeroShot(n, (n,), p, note) for n, p in [("Edema", 0.93), ("Atelectasis", 0.86)]]
    monkeypatch.setattr(context, "zero_shot_evidence", lambda *a, **k: likely)
    at = _presenter()
    shown = [m.value for m in at.markdown]
    headings = {"**Draft vs zero-shot findings**", "**Repetition and contradictions**", "**Zero-shot findings**"}
    assert headings <= set(shown)
    assert any(":blue-badge[Edema 0.93]" in m for m in shown)
    ignored = [w.value for w in at.warning if "does not mention it" in w.value]
    assert any("**Edema** (zero-shot p = 0.93)" in w for w in ignored)  # a likely finding left out
    captions = " ".join(c.value for c in at.caption)
    assert "Edema: calibrated on the validate split; base rate 4 % of validate films" in captions
    assert "Probabilities calibrated on the validate split" in captions or "not calibrated" in captions


def test_exported_zero_shot_table_says_how_each_probability_was_made(tour_env):
    doc = _exported(_presenter(), "pr")
    assert "<th>calibration and validate base rate</th>" in doc
    # the tiny dataset's validate split is too small to fit: each finding says so, with its base rate
    assert "not calibrated (" in doc and "validate films" in doc
    assert "Probabilities calibrated on the validate split" in doc or "not calibrated:" in doc


def test_upload_on_the_presenter_exports_no_identifier(tour_env, tmp_path):
    at = _presenter()
    at.file_uploader[0].set_value(("Mortimer_Zqxwy.dcm", dicom_bytes(tmp_path), "application/dicom")).run()
    _ok(at)
    assert _stop_line(at).startswith("**Your image")
    doc = _exported(at, "pr")
    assert "uploaded image" in doc and "SIMULATED" not in doc.split("</h1>")[1].split("<h2>")[0]
    for secret in SECRETS:
        assert secret not in doc, secret
        assert secret not in page_text(at), secret
    assert IDENTIFIERS  # the DICOM carried them
    at.button(key="pr_next").click().run()
    assert _stop_line(_ok(at)).startswith("**Stop 1 of 3")


def test_no_tour_case_in_the_dataset(model_env, tmp_path, monkeypatch):
    path = tmp_path / "tour.toml"
    path.write_text('[[stop]]\ncase = "demo00001"\ntitle = "t"\npoint = "p"\n')
    monkeypatch.setenv("ECLIP_TOUR", str(path))
    at = _presenter()
    assert any("None of the tour's cases" in i.value for i in at.info)


# --------------------------------------------------------------------------- the other pages
def _page(page: str) -> AppTest:
    at = AppTest.from_file(str(MAIN), default_timeout=TIMEOUT)
    at.query_params["case"] = "case000"
    at.switch_page(f"views/{page}").run()
    return _ok(at)


def test_case_browser_export(model_env):
    at = _page("explore.py")
    doc = _exported(at, "cb")
    assert "case000" in doc and "SIMULATED" in doc and "The radiologist's report" in doc
    assert "gaze: Inferno colours" in doc  # the overlay shown, with its legend
    assert "Zero-shot findings" in doc  # the sidebar's model


def test_model_vs_gaze_export(model_env):
    at = _page("explain.py")
    doc = _exported(at, "xp")
    assert "case000" in doc and "Radiologist gaze" in doc and "agreement with the gaze: CC" in doc
    assert doc.count("data:image/png;base64,") == 2


def test_draft_report_export_carries_the_draft(model_env):
    at = AppTest.from_file(str(MAIN), default_timeout=TIMEOUT)
    at.query_params["case"] = "case004"  # a test-split case
    at.switch_page("views/report.py").run()
    _ok(at)
    at.radio(key="rep_backend").set_value("retrieval").run()
    at.button(key="rep_go").click().run()
    doc = _exported(_ok(at), "rep")
    assert "case004" in doc and "Draft report" in doc and "provenance" in doc and "retrieval" in doc

"""What keeps the app fast at MIMIC scale (benchmarks/app_scale.py measures it): the manifest
read once and shared by all sessions, hashed once per version, index rows checked once, a
region on a thinned map, the report search, the current case and a long case list. No
timings here: each test checks the result the fast path must give."""

from __future__ import annotations

import numpy as np
import pytest


# --------------------------------------------------------------------------- the app's loaders
def _counting(monkeypatch, module, name: str) -> list:
    """Count the calls of ``module.name`` (the real function still runs)."""
    real, calls = getattr(module, name), []
    monkeypatch.setattr(module, name, lambda *a, **kw: calls.append(a) or real(*a, **kw))
    return calls


def test_manifest_is_read_once_and_shared_by_every_caller(tiny_dataset, monkeypatch):
    from app.components import loaders

    reads = _counting(monkeypatch, loaders, "read_manifest")
    loaders._manifest.clear()
    first, again = loaders.load_manifest(tiny_dataset), loaders.load_manifest(tiny_dataset)
    assert first is again and len(reads) == 1  # one object, not a copy per call


def _fake_index(tmp_path, data):
    """A checkpoint folder (the files an index's identity hashes) and a complete index of
    it over ``data`` in the on-disk format; no model is needed to open an index."""
    from safetensors.numpy import save_file

    from eclip.data.manifest import read_manifest
    from eclip.index.keys import expected_identity, index_dir
    from eclip.index.store import INDEX_VERSION, save_npy, write_list, write_meta

    ckpt = tmp_path / "ckpt"
    ckpt.mkdir()
    save_file({"visual.w": np.zeros((2, 2), np.float32)}, str(ckpt / "model.safetensors"))
    (ckpt / "config.json").write_text("{}")
    ids = list(read_manifest(data)["id"])
    path = index_dir(ckpt, data, tmp_path / "index")
    path.mkdir(parents=True)
    emb = np.eye(len(ids), 4, dtype=np.float32)
    save_npy(path / "image_emb.npy", emb)
    save_npy(path / "text_emb.npy", emb[:1])
    save_npy(path / "text_index.npy", np.zeros(len(ids), np.int64))
    write_list(path / "ids.json", ids)
    write_list(path / "texts.json", ["t"])
    write_meta(path, {**expected_identity(ckpt, data), "version": INDEX_VERSION})
    return ckpt


def test_manifest_hashed_once_per_version_not_per_page_run(tiny_dataset, tmp_path, monkeypatch):
    """The sidebar's counts and the index's folder both hash the manifest: at 200,000 cases
    that was ~0.3 s each, several times per page run."""
    import streamlit as st

    from app.components import loaders
    from eclip.index import keys

    ckpt = _fake_index(tmp_path, tiny_dataset)
    monkeypatch.setenv("ECLIP_INDEX_DIR", str(tmp_path / "index"))
    st.cache_data.clear(), st.cache_resource.clear()
    in_keys, in_loaders = (_counting(monkeypatch, keys, "fingerprint"),
                           _counting(monkeypatch, loaders, "fingerprint"))
    idx, info = loaders.load_index(ckpt, tiny_dataset), loaders.dataset_info(tiny_dataset)
    assert len(idx) == info.rows and in_keys and in_loaders  # the first run hashes
    in_keys.clear(), in_loaders.clear()
    assert loaders.load_index(ckpt, tiny_dataset) is idx
    assert loaders.dataset_info(tiny_dataset) == info
    assert in_keys == in_loaders == []  # later runs do not


def _selection(points=(), box=(), lasso=()):
    """A selection event exactly as Streamlit hands it to a page (its own deserialiser)."""
    import json

    from streamlit.elements.plotly_chart import PlotlyChartSelectionSerde

    return PlotlyChartSelectionSerde().deserialize(json.dumps({"selection": {
        "points": list(points), "point_indices": [], "box": list(box), "lasso": list(lasso)}}))


def test_a_region_on_a_thinned_map_selects_every_case_inside():
    import pandas as pd

    from app.render import map_view

    rng = np.random.default_rng(0)
    xy = rng.uniform(0, 10, (50_000, 2)).astype(np.float32)
    ids = np.array([f"c{i}" for i in range(len(xy))])
    drawn = map_view.drawn_images(np.zeros(len(xy), np.int8))
    assert len(drawn) == map_view.SAMPLE_IMAGES < len(xy)  # the map is thinned
    region = {"xref": "x", "yref": "y", "x": [2.0, 4.0], "y": [1.0, 6.0]}
    inside = (xy[:, 0] >= 2) & (xy[:, 0] <= 4) & (xy[:, 1] >= 1) & (xy[:, 1] <= 6)
    shown_inside = [{"customdata": ids[r]} for r in drawn if inside[r]]  # what plotly reports
    picked = map_view.picked_ids(_selection(shown_inside, box=[region]), ids, xy)
    assert sorted(picked) == sorted(ids[inside]) and len(picked) > len(shown_inside)
    lasso = dict(region, x=[2.0, 4.0, 4.0, 2.0], y=[1.0, 1.0, 6.0, 6.0])
    as_column = pd.Series(ids, index=np.arange(len(ids)) + 7)  # the page passes manifest["id"]
    assert sorted(map_view.picked_ids(_selection(lasso=[lasso]), as_column, xy)) == sorted(ids[inside])
    click = [{"customdata": "c7"}, {"x": 1.0}]  # a report point carries no id
    assert map_view.picked_ids(_selection(click), ids, xy) == ["c7"]
    assert map_view.picked_ids(None, ids, xy) == []


def test_report_search_joins_the_text_once_per_manifest():
    import pandas as pd

    from app.core import cases

    df = pd.DataFrame({"id": ["a", "b", "c"], "split": "train", "gaze_path": "",
                       "findings": ["Small left pleural Effusion.", "Clear lungs.", ""],
                       "impression": ["", "No effusion.", "Normal."]})
    body = cases.report_body(df)
    assert cases.report_body(df) is body  # joined once, reused by every later search
    hits = cases.filter_cases(df, cases.CaseFilter(text="EFFUSION"))
    assert hits["id"].tolist() == ["a", "b"]
    other = df.assign(findings=["Pneumothorax.", "", ""])  # another frame: its own text
    assert cases.filter_cases(other, cases.CaseFilter(text="effusion"))["id"].tolist() == ["b"]


def test_index_rows_are_checked_against_the_manifest(tiny_dataset, tmp_path, monkeypatch):
    import dataclasses

    import streamlit as st

    from app.components import loaders

    ckpt = _fake_index(tmp_path, tiny_dataset)
    monkeypatch.setenv("ECLIP_INDEX_DIR", str(tmp_path / "index"))
    st.cache_data.clear(), st.cache_resource.clear()
    idx = loaders.load_index(ckpt, tiny_dataset)
    assert loaders.index_matches(idx, tiny_dataset)
    other = dataclasses.replace(idx, ids=idx.ids[::-1], path=tmp_path / "other")
    assert not loaders.index_matches(other, tiny_dataset)
    short = dataclasses.replace(idx, ids=idx.ids[:-1], path=tmp_path / "short")
    assert not loaders.index_matches(short, tiny_dataset)


# --------------------------------------------------------------------------- the current case
def _case_page():
    """A page's case selectbox: ``_ids`` its list, ``_key`` its widget key (a page's widget
    keys are dropped when the visitor leaves it, so each visit gets a new one here)."""
    import streamlit as st

    from app.components.case import picker

    st.text(picker.select(st, st.session_state["_ids"], st.session_state["_key"]))


def _visit(at, ids, key):
    at.session_state["_ids"], at.session_state["_key"] = ids, key
    return at.run()


def test_a_page_without_the_current_case_does_not_replace_it():
    """The Draft report lists only the `test` split: opening it used to make its first case
    the current one, so Model vs gaze opened next on another case and computed two models'
    maps again (15-17 s in the browser under load) instead of showing the cached ones."""
    from streamlit.testing.v1 import AppTest

    from app.components.case import current_case

    every, test_split = [f"c{i}" for i in range(8)], ["c6", "c7"]
    at = AppTest.from_function(_case_page)
    _visit(at, every, "explain")
    at.selectbox(key="explain").set_value("c3").run()
    assert _visit(at, test_split, "report").text[0].value == "c6"  # its own stand-in
    assert at.session_state[current_case.CURRENT] == "c3"
    assert _visit(at, every, "explain again").text[0].value == "c3"
    _visit(at, test_split, "report again")
    at.selectbox(key="report again").set_value("c7").run()  # a pick there is the visitor's
    assert _visit(at, every, "explain once more").text[0].value == "c7"


def test_the_first_page_still_makes_its_first_case_the_current_one():
    from streamlit.testing.v1 import AppTest

    from app.components.case import current_case

    at = AppTest.from_function(_case_page)
    _visit(at, ["c4", "c5"], "browser")
    assert at.session_state[current_case.CURRENT] == "c4"
    assert _visit(at, ["c0", "c4", "c5"], "explain").text[0].value == "c4"


def _listed_page():
    import streamlit as st

    from app.components.case import picker

    st.text(picker.select(st, picker.listed(st.session_state["_ids"]), "xp_case"))


def test_a_long_case_list_is_cut_but_keeps_the_current_case():
    """50,000 gaze cases at 200,000 were a 2.4 MB selectbox the browser took ~3.7 s to draw."""
    from streamlit.testing.v1 import AppTest

    from app.core import cases
    from app.components.case import current_case

    ids = [f"c{i}" for i in range(cases.LIST_LIMIT * 3)]
    at = AppTest.from_function(_listed_page)
    at.session_state["_ids"], at.session_state[current_case.CURRENT] = ids, ids[-1]
    at.run()
    options = at.selectbox(key="xp_case").options
    assert len(options) == cases.LIST_LIMIT + 1 and options[-1] == ids[-1]
    assert at.text[0].value == ids[-1] and options[:-1] == ids[:cases.LIST_LIMIT]
    at.session_state["_ids"] = ids[:5]
    assert at.run().selectbox(key="xp_case").options == ids[:5]  # a short list is whole


def test_a_dense_map_is_a_density_picture_of_every_point_under_a_sample_of_markers():
    """Beyond DRAW_ALL_MAX points the markers are a per-colour sample (rare colours kept) and
    a PNG under them shows every point, in its colour, where it lies on the axes."""
    import base64
    import io

    import plotly.graph_objects as go
    from PIL import Image

    from app.render import map_view

    assert not map_view.dense(2000, 1900) and map_view.dense(5000, 1500)
    assert len(map_view.drawn_images(np.zeros(2000, np.int8), 1900)) == 2000  # demo size: all
    groups = np.array(["a"] * 19_900 + ["rare"] * 100)
    drawn = map_view.drawn_images(groups, 0)
    assert len(drawn) < 3_500 and (groups[drawn] == "rare").sum() == 100

    rng = np.random.default_rng(0)
    left = rng.normal((0, 0), 0.3, (20_000, 2))  # a red cloud on the left, blue on the right
    right = rng.normal((10, 0), 0.05, (500, 2))
    fig = go.Figure(go.Scatter(x=[0, 10], y=[0, 0], mode="markers"))
    map_view.add_density(fig, [(left, "#ff0000"), (right, "rgba(0, 0, 255, 0.5)")])
    image = fig.layout.images[0]
    x0, x1 = fig.layout.xaxis.range
    y0, y1 = fig.layout.yaxis.range
    assert (image.x, image.y, image.sizex, image.sizey) == pytest.approx((x0, y1, x1 - x0, y1 - y0))
    assert x0 < left[:, 0].min() and x1 > right[:, 0].max()  # every point inside the picture
    png = Image.open(io.BytesIO(base64.b64decode(image.source.split(",", 1)[1])))
    rgba = np.asarray(png, dtype=np.float32)
    h, w = rgba.shape[:2]
    col = lambda x: int(round((x - x0) / (x1 - x0) * (w - 1)))  # noqa: E731
    mid = int(round((y1 - 0) / (y1 - y0) * (h - 1)))
    red, blue, empty = rgba[mid, col(0)], rgba[mid, col(10)], rgba[mid, col(5)]
    assert red[0] > 200 and red[2] < 30 and blue[2] > 200 and blue[0] < 30
    assert empty[3] == 0 and red[3] > blue[3] > 0  # denser is more opaque; nothing is clear
    assert fig.layout.legend.itemclick is False  # a colour key: hiding would not hide the picture

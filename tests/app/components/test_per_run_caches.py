"""What every page run redraws the same way is computed once and kept, and shows what it showed
when computed afresh: the sidebar's folder labels and its dataset read once per run, the
Zero-shot split's targets (shared by the page, its comparison and the paired bootstrap), and
the case gallery's captions read from the manifest's columns instead of row by row. Each kept
value is another entry when what it depends on changes."""

from __future__ import annotations

import dataclasses
import gc
import json
import weakref
from pathlib import Path

import numpy as np
import pandas as pd
from streamlit.testing.v1 import AppTest

from app.components.compare import zero_shot_paired as Z
from app.core import cases, paths
from eclip.data.manifest import fingerprint, read_manifest
from eclip.evaluate.paired import multiclass_comparison
from eclip.evaluate.targets import multiclass_targets
from eclip.model.prompts import load_prompt_set


# ----------------------------------------------------------------------------- the sidebar
def test_kept_folder_labels_are_the_computed_ones_and_follow_the_repository_root(monkeypatch, tmp_path):
    for path in ("data/demo", paths.ROOT / "checkpoints" / "demo-eclip", "/mnt/hospital/mimic-cxr",
                 "/srv/runs/paper-vitb16/final", "none"):
        assert paths.visitor_label(path) == paths._visitor_label(path)
        assert paths.visitor_label(path) == paths.visitor_label(path)  # kept: the same answer
    inside = str(tmp_path / "elsewhere" / "sub" / "data")
    assert paths.visitor_label(inside) == "data"  # outside the repository: its name only
    monkeypatch.setattr(paths, "ROOT", tmp_path / "elsewhere")  # another repository root
    assert paths.visitor_label(inside) == "sub/data"  # inside it now: the kept label is not reused


def _sidebar_script():
    from app.components import state

    state.render_sidebar()


def _fake_checkpoint(folder: Path, data_fp: str) -> Path:
    """A folder the sidebar lists as a checkpoint: the sidebar reads only its card."""
    folder.mkdir(parents=True)
    (folder / "config.json").write_text("{}")
    (folder / "card.json").write_text(json.dumps({"arch": "eclip-vit-micro", "data_fingerprint": data_fp}))
    return folder


def test_the_sidebar_says_when_the_model_was_trained_on_other_data(app_env, tmp_path, monkeypatch):
    data_fp = fingerprint(app_env["data"])
    for card_fp, warned in ((data_fp, False), ("0123456789ab", True)):
        ck = _fake_checkpoint(tmp_path / f"ck-{card_fp}", card_fp)
        monkeypatch.setenv("ECLIP_CHECKPOINT", str(ck))
        at = AppTest.from_function(_sidebar_script, default_timeout=60).run()
        assert not at.exception, [e.value for e in at.exception]
        captions = [c.value for c in at.sidebar.caption]
        assert any(f"fingerprint `{data_fp}`" in c for c in captions)  # the dataset's provenance
        assert any(f"trained on data `{card_fp}`" in c for c in captions)
        assert any("trained on other data" in c for c in captions) is warned


def test_a_new_checkpoint_folder_joins_the_sidebar_with_its_label(app_env, tmp_path, monkeypatch):
    monkeypatch.setattr(paths, "ROOT", tmp_path)  # a repository of its own, so checkpoints/ is empty
    paths.forget_checkpoints()
    at = AppTest.from_function(_sidebar_script, default_timeout=60).run()
    assert at.sidebar.selectbox(key="model_choice").options == [paths.NO_MODEL]
    _fake_checkpoint(tmp_path / "checkpoints" / "new-model", "x")
    at.run()
    assert at.sidebar.selectbox(key="model_choice").options == [paths.NO_MODEL, "checkpoints/new-model"]
    paths.forget_checkpoints()


# ------------------------------------------------------------------- the Zero-shot targets
def test_split_targets_are_the_fresh_ones_kept_per_manifest_rows_and_prompts(tiny_dataset):
    ps = load_prompt_set("chexpert5")
    manifest = read_manifest(tiny_dataset)
    rows = np.arange(0, len(manifest), 2)
    got = Z.split_targets(manifest, rows, ps)
    np.testing.assert_array_equal(got, multiclass_targets(manifest.iloc[rows].reset_index(drop=True), ps))
    assert not got.flags.writeable  # shared between sessions
    assert Z.split_targets(manifest, rows.copy(), ps) is got  # equal rows: kept
    fewer = rows[:-1]
    np.testing.assert_array_equal(Z.split_targets(manifest, fewer, ps), multiclass_targets(manifest.iloc[fewer], ps))
    negated = dataclasses.replace(ps, classes=(dataclasses.replace(ps.classes[0], negated=True), *ps.classes[1:]))
    other = Z.split_targets(manifest, rows, negated)
    assert other is not got
    np.testing.assert_array_equal(other, multiclass_targets(manifest.iloc[rows], negated))


def test_a_relabelled_manifest_gets_its_own_targets_and_none_is_kept_alive(tiny_dataset):
    ps = load_prompt_set("chexpert5")
    manifest = read_manifest(tiny_dataset)
    rows = np.arange(len(manifest))
    first = Z.split_targets(manifest, rows, ps)
    relabelled = manifest.copy()
    column = ps.classes[0].labels[0]
    relabelled[column] = 1.0  # every film now positive for the first class
    got = Z.split_targets(relabelled, rows, ps)
    np.testing.assert_array_equal(got, multiclass_targets(relabelled, ps))
    assert not np.array_equal(got, first)
    refs = weakref.ref(manifest), weakref.ref(relabelled)
    del manifest, relabelled
    gc.collect()
    assert all(r() is None for r in refs)  # the cache holds no manifest alive


def test_the_paired_comparison_with_given_targets_is_the_one_that_reads_them(tiny_dataset):
    ps = load_prompt_set("chexpert5")
    df = read_manifest(tiny_dataset)
    rng = np.random.default_rng(0)
    a, b = rng.integers(0, len(ps.class_names), (2, len(df)))
    target = multiclass_targets(df, ps)
    if not (target >= 0).any():  # the tiny dataset's labels: make some rows one-class
        df = df.copy()
        df[ps.classes[0].labels[0]] = 1.0
        target = multiclass_targets(df, ps)
    pd.testing.assert_frame_equal(multiclass_comparison(df, ps, a, b, n_boot=50, target=target),
                                  multiclass_comparison(df, ps, a, b, n_boot=50))


# ------------------------------------------------------------------------ the case gallery
def _gallery_script():
    import os

    from app.components import widgets
    from eclip.data.manifest import read_manifest

    root = os.environ["ECLIP_DATA"]
    widgets.case_gallery(root, read_manifest(root), columns=3, limit=5, captions=[f"c{i}" for i in range(5)])


def test_the_case_gallery_captions_each_case_with_its_positive_findings(app_env):
    at = AppTest.from_function(_gallery_script, default_timeout=60).run()
    assert not at.exception, [e.value for e in at.exception]
    manifest = read_manifest(app_env["data"])
    expected = []  # the rule as written row by row
    for i, (_, row) in enumerate(manifest.head(5).iterrows()):
        found = ", ".join(cases.positive_labels(row)) or "no positive finding"
        expected.append(f"**{cases.md_escape(row['id'])}** · {cases.md_escape(found)}  \nc{i}")
    expected.append(f"…and {len(manifest) - 5} more.")
    assert sorted(c.value for c in at.caption) == sorted(expected)  # the tree lists them column by column
    assert len(at.get("image")) == 5
    assert any("no positive finding" not in e for e in expected[:-1])  # some case has a finding


def test_the_sidebar_says_how_gaze_entered_training_even_for_an_older_card(app_env, tmp_path, monkeypatch):
    ck = _fake_checkpoint(tmp_path / "ck-prior", "x")  # its card predates the "gaze" fact
    (ck / "config.json").write_text(json.dumps({"method": {"expert": False, "gaze_prior_weight": 5.0}}))
    monkeypatch.setenv("ECLIP_CHECKPOINT", str(ck))
    at = AppTest.from_function(_sidebar_script, default_timeout=60).run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("gaze in training: a prior on where it looks" in c.value for c in at.sidebar.caption)

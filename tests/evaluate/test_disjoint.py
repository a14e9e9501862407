"""Report-disjoint fresh evaluation: a fresh case counts only when neither its report uid
nor its normalised report text is in a corpus the model was trained or selected on, and
its interval resamples report clusters."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from eclip.data.manifest import read_manifest, write_manifest
from eclip.evaluate import disjoint
from eclip.evaluate import metrics as M
from tiny_data import make_tiny_dataset


def _corpus(root, reports: list[tuple[str, str, str, str]]):
    """A tiny corpus whose rows get (split, patient_key, findings, impression)."""
    make_tiny_dataset(root, n=len(reports))
    df = read_manifest(root)
    for i, (split, uid, findings, impression) in enumerate(reports):
        df.loc[i, ["split", "patient_key", "findings", "impression"]] = [split, uid, findings, impression]
    write_manifest(df, root)
    return root


def test_normalised_text_and_uid_both_exclude(tmp_path):
    data = _corpus(tmp_path / "data", [
        ("train", "u1", "Heart size is normal.", "No acute disease."),
        ("validate", "u2", "Small left effusion.", ""),
        ("test", "u3", "A test-only report.", ""),  # test split of --data: not seen
    ])
    fresh = _corpus(tmp_path / "fresh", [
        ("test", "f1", "HEART SIZE IS NORMAL", "no acute disease"),  # same text, other uid
        ("test", "u2", "Entirely new words.", ""),  # same uid, other text
        ("test", "u1", "heart size is normal.", "No acute disease."),  # both
        ("test", "f4", "A test-only report.", ""),  # only in --data's test split: kept
        ("test", "f5", "New report.", ""),
        ("test", "f6", "new  report", ""),  # same text as f5: one cluster
        ("train", "u1", "Heart size is normal.", "No acute disease."),  # not the evaluated split
    ])
    seen = disjoint.seen_reports(data)
    keep, clusters, counts = disjoint.disjoint_selection(fresh, "test", seen)
    np.testing.assert_array_equal(keep, [False, False, False, True, True, True, True])
    assert counts == {"cases": 6, "kept": 3, "dropped": 3, "uid_and_text_seen": 1,
                      "text_seen_under_another_uid": 1, "uid_seen_with_other_text": 1, "clusters_kept": 2}
    assert clusters[4] == clusters[5] != clusters[3]
    text = disjoint.describe(counts, seen, "test")
    assert text.startswith("fresh test cases: kept 3 of 6, dropped 3") and "(train, validate): 2 rows" in text


def test_blank_reports_never_match_and_are_their_own_clusters():
    df = pd.DataFrame({"findings": ["", "", "Same.", "same"], "impression": ["", "", "", ""],
                       "patient_key": ["", "", "a", "b"], "split": ["test"] * 4})
    seen = disjoint.SeenReports()
    seen.add(pd.DataFrame({"findings": [""], "impression": [""], "patient_key": [""], "split": ["train"]}), "x")
    assert seen.uids == set() and seen.texts == set()
    keep, _ = disjoint.disjoint_rows(df, np.arange(4), seen)
    assert keep.all()
    clusters = disjoint.report_clusters(df)
    assert len({clusters[0], clusters[1], clusters[2]}) == 3 and clusters[2] == clusters[3]


def test_the_checkpoints_training_corpus_counts_its_test_split_when_chosen_on_it(tmp_path):
    """The corpus in a checkpoint's config.json (data.root) is seen in its train and validate
    splits, and in its test split too when the card says a choice was made on a test split."""
    data = _corpus(tmp_path / "data", [("train", "u1", "One.", ""), ("test", "u9", "Nine.", "")])
    trained = _corpus(tmp_path / "trained", [("train", "t1", "Other.", ""), ("test", "t2", "Its test.", "")])
    ckpt = tmp_path / "ckpt"
    ckpt.mkdir()
    (ckpt / "config.json").write_text(json.dumps({"data": {"root": str(trained)}}))
    assert disjoint.training_corpus(ckpt) == trained.resolve()
    (ckpt / "card.json").write_text(json.dumps({"arch": "x"}))  # no choice recorded
    seen = disjoint.seen_reports(data, [ckpt])
    assert seen.texts == {"one", "other"} and seen.uids == {"u1", "t1"}
    (ckpt / "card.json").write_text(json.dumps({"selected_on": "data/demo test split: best accuracy"}))
    seen = disjoint.seen_reports(data, [ckpt])
    assert seen.texts == {"one", "other", "its test"} and seen.uids == {"u1", "t1", "t2"}
    # no config, no root, or a root that is not here: nothing more is seen
    (tmp_path / "bare").mkdir()
    assert disjoint.training_corpus(tmp_path / "bare") is None
    (ckpt / "config.json").write_text(json.dumps({"data": {"root": str(tmp_path / "gone")}}))
    assert disjoint.training_corpus(ckpt) is None
    (ckpt / "config.json").write_text(json.dumps({"data": {"root": ""}}))
    assert disjoint.training_corpus(ckpt) is None


def test_cluster_bootstrap_moves_whole_clusters():
    clusters = np.array(["a", "a", "a", "b", "c", "c"])
    resamples = M.cluster_bootstrap_indices(clusters, 200, seed=0)
    for idx in resamples:
        picked = clusters[idx]
        for c, size in (("a", 3), ("b", 1), ("c", 2)):
            assert np.sum(picked == c) % size == 0  # a cluster comes with all its items
        # as many cluster draws as clusters
        assert np.sum(picked == "a") // 3 + np.sum(picked == "b") + np.sum(picked == "c") // 2 == 3
    # items sharing a report move together: an interval over clusters is wider than over items
    v = np.array([1.0, 1.0, 1.0, 0.0, 0.0, 0.0, 1.0, 0.0])
    cl = np.array([0, 0, 0, 1, 1, 1, 2, 3])
    by_item = M.bootstrap_ci(lambda i: float(v[i].mean()), len(v), 500, 0)
    by_cluster = M.bootstrap_ci(lambda i: float(v[i].mean()), len(v), 500, 0, clusters=cl)
    assert by_cluster["value"] == pytest.approx(by_item["value"], abs=1e-5)
    assert by_cluster["ci_high"] - by_cluster["ci_low"] > by_item["ci_high"] - by_item["ci_low"]
    with pytest.raises(Exception, match="cluster ids"):
        M.bootstrap_ci(lambda i: 0.0, 3, 10, 0, clusters=cl)

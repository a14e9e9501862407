"""Zero-shot pair probabilities calibrated on the validate split (Platt scaling per finding),
on hand-made embeddings whose pair logits are known by construction, and kept beside a
built index."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import eclip.index as ix
from eclip.index import zero_shot_calibration as Z
from eclip.index.store import EmbeddingIndex
from eclip.model.prompts import BinaryLabel, PromptSet
from floats import assert_close

EFFUSION = BinaryLabel("Pleural Effusion", ("Pleural Effusion",), ("effusion",), ("no effusion",))
HEART = BinaryLabel("Cardiomegaly", ("Cardiomegaly",), ("big heart",), ("normal heart",))
# pair side vectors in 2-D: s_pos - s_neg = cos(a) - sin(a) for an image at angle a
PAIRS = np.array([[[1, 0], [0, 1]], [[1, 0], [0, 1]]], dtype=np.float32)


def _set(*labels) -> PromptSet:
    return PromptSet(name="pairs", task="binary", binary=tuple(labels or (EFFUSION, HEART)))


def _index(path: Path, angles) -> EmbeddingIndex:
    a = np.radians(np.asarray(angles, dtype=np.float64))
    emb = np.stack([np.cos(a), np.sin(a)], axis=1).astype(np.float32)
    meta = {"weights_sha256": "w", "config_sha256": "c", "data_fingerprint": "d"}
    return EmbeddingIndex(path=path, meta=meta, ids=[f"c{i}" for i in range(len(a))], texts=["t"],
                          image_emb=emb, text_emb=emb[:1], text_index=np.zeros(len(a), np.int64))


def _manifest(n: int, split: str = "validate", **labels) -> pd.DataFrame:
    return pd.DataFrame({"id": [f"c{i}" for i in range(n)], "split": [split] * n,
                         **{k: np.asarray(v, dtype=float) for k, v in labels.items()}})


def _on_disk(path: Path) -> None:
    """Embedding files in the folder, so the index counts as kept on disk."""
    for name in ("image_emb.npy", "text_emb.npy", "text_index.npy"):
        np.save(path / name, np.zeros(1))


def test_platt_recovers_a_known_slope_and_intercept():
    rng = np.random.default_rng(0)
    x = rng.normal(0, 2, 20_000)
    y = (rng.random(x.size) < Z.sigmoid(0.5 * x - 1.0)).astype(float)
    slope, intercept = Z.fit_platt(x, y)
    assert abs(slope - 0.5) < 0.03 and abs(intercept + 1.0) < 0.05


def test_platt_keeps_a_separable_finding_finite():
    x = np.array([-3.0, -2, -1, 1, 2, 3] * 5)
    slope, intercept = Z.fit_platt(x, (x > 0).astype(float))
    assert 0 < slope < 50 and np.isfinite(intercept)


def test_scores_against_the_labels_get_the_base_rate_not_a_flipped_ranking():
    x = np.linspace(-3, 3, 40)
    slope, intercept = Z.fit_platt(x, (x < -1.5).astype(float))  # positives score lowest
    assert slope == 0.0
    assert_close(Z.sigmoid(intercept), (10 + 1) / (10 + 2) * 10 / 40 + 1 / (30 + 2) * 30 / 40)


def test_raw_probabilities_too_high_are_brought_to_the_base_rate(tmp_path):
    # 40 validate films, every one scored at angle 0 or 10 deg (raw p ~ 1 at scale 10) while
    # only 10 are positive: calibrated probabilities average the base rate, raw ones ~0.99
    rng = np.random.default_rng(1)
    angles = rng.uniform(-10, 10, 40)
    y = (np.arange(40) < 10).astype(float)
    idx = _index(tmp_path, angles)
    cal = Z.calibration_for(idx, _manifest(40, **{"Pleural Effusion": y, "Cardiomegaly": 1 - y}),
                            _set(), PAIRS, scale=10.0, keep=False)
    f = cal.finding("Pleural Effusion")
    assert f.calibrated and f.positives == 10 and f.negatives == 30 and f.base_rate == 0.25
    logits = Z.pair_logits(idx.image_emb, PAIRS[:, 0], PAIRS[:, 1], 10.0)
    assert Z.sigmoid(logits[:, 0]).mean() > 0.9
    assert abs(cal.probabilities(logits)[:, 0].mean() - 0.25) < 0.03
    assert f.base_rate_text() == "base rate 25 % of validate films (10 of 40)"
    assert f.line().startswith("calibrated on the validate split; base rate 25 %")


def test_missing_labels_are_missing_not_negatives(tmp_path):
    # 12 positives, 12 negatives, 16 films with the finding blank and no other label: the
    # blanks are left out (a row without any label is not evidence of absence)
    n = 40
    eff = np.r_[np.ones(12), np.zeros(12), np.full(16, np.nan)]
    heart = np.r_[np.zeros(24), np.full(16, np.nan)]
    cal = Z.calibration_for(_index(tmp_path, np.linspace(-40, 40, n)),
                            _manifest(n, **{"Pleural Effusion": eff, "Cardiomegaly": heart}),
                            _set(), PAIRS, scale=10.0, keep=False)
    f = cal.finding("Pleural Effusion")
    assert (f.positives, f.negatives, f.base_rate) == (12, 12, 0.5)


def test_too_few_validate_positives_stay_raw_and_say_why(tmp_path):
    n = 40
    eff = np.r_[np.ones(9), np.zeros(31)]
    idx = _index(tmp_path, np.linspace(-40, 40, n))
    cal = Z.calibration_for(idx, _manifest(n, **{"Pleural Effusion": eff, "Cardiomegaly": 1 - eff}),
                            _set(), PAIRS, scale=10.0, keep=False)
    f = cal.finding("Pleural Effusion")
    assert not f.calibrated and f.why == "9 validate positives, fewer than 10"
    assert "not calibrated (9 validate positives" in f.line()
    assert cal.finding("Cardiomegaly").why == "9 validate negatives, fewer than 10"
    logits = Z.pair_logits(idx.image_emb, PAIRS[:, 0], PAIRS[:, 1], 10.0)
    assert_close(cal.probabilities(logits), Z.sigmoid(logits))  # shown raw
    # neither has a fit of its own, so there is no slope to pool: both raw, and the line says why
    assert "raw (no fit to pool from or no labelled validate films): Pleural Effusion, Cardiomegaly" in cal.summary()


def test_a_rare_finding_gets_the_pooled_slope_levelled_at_its_base_rate(tmp_path):
    # Cardiomegaly has 20 positives (fitted); effusion only 3, every film scored near raw 1:
    # it takes Cardiomegaly's slope and the intercept whose mean probability is (3 + 1) / (40 + 2)
    n = 40
    angles = np.random.default_rng(2).uniform(-30, 10, n)
    idx = _index(tmp_path, angles)
    eff = (np.arange(n) < 3).astype(float)
    heart = (angles + np.random.default_rng(3).normal(0, 8, n) < np.median(angles)).astype(float)
    cal = Z.calibration_for(idx, _manifest(n, **{"Pleural Effusion": eff, "Cardiomegaly": heart}),
                            _set(), PAIRS, scale=10.0, keep=False)
    f, fitted = cal.finding("Pleural Effusion"), cal.finding("Cardiomegaly")
    assert fitted.calibrated and not fitted.pooled
    assert f.pooled and not f.calibrated and f.pooled_from == 1 and f.why == "3 validate positives, fewer than 10"
    assert f.slope == fitted.slope
    logits = Z.pair_logits(idx.image_emb, PAIRS[:, 0], PAIRS[:, 1], 10.0)
    p = cal.probabilities(logits)[:, 0]
    assert_close(p.mean(), 4 / 42, atol=1e-6)
    assert Z.sigmoid(logits[:, 0]).mean() > 0.5  # raw: far above the 7.5 % base rate
    order = np.argsort(logits[:, 0])
    assert np.all(np.diff(p[order]) >= -1e-12)  # the model's ranking is kept
    assert f.line().startswith("pooled calibration (3 validate positives, fewer than 10): the slope of 1 ")
    assert "pooled (too few labelled validate films" in cal.summary() and "raw" not in cal.summary()
    assert Z.ZeroShotCalibration.from_dict(cal.as_dict()) == cal


def test_a_table_cell_says_which_fit_in_a_few_words():
    why = "3 validate positives, fewer than 10"
    assert Z.FindingCalibration("Edema", ("Edema",), 30, 90, 1.0, 0.0).short() == "yes"
    assert Z.FindingCalibration("Edema", ("Edema",), 3, 90, 1.0, -2.0, why, 6).short() == "pooled: 3 positives"
    assert Z.FindingCalibration("Edema", ("Edema",), 3, 90, why=why).short() == "no: 3 positives"


def test_the_level_intercept_meets_the_rate():
    x = np.array([-2.0, 0.0, 5.0, 9.0])
    for rate in (0.02, 0.3, 0.97):
        assert_close(Z.sigmoid(x + Z.level_intercept(x, rate)).mean(), rate, atol=1e-9)


def test_a_kept_fit_of_an_older_version_is_fitted_afresh(tmp_path, monkeypatch):
    n = 40
    idx = _index(tmp_path, np.linspace(-40, 40, n))
    _on_disk(tmp_path)
    eff = (np.arange(n) % 3 == 0).astype(float)
    df = _manifest(n, **{"Pleural Effusion": eff, "Cardiomegaly": 1 - eff})
    monkeypatch.setattr(Z, "FIT_VERSION", 1)
    old = Z.calibration_for(idx, df, _set(), PAIRS, scale=10.0)
    monkeypatch.undo()
    Z._CACHE.clear()
    assert Z.calibration_for(idx, df, _set(), PAIRS, scale=10.0).key != old.key


def test_a_dataset_without_a_validate_split_is_not_calibrated_and_says_so(tmp_path):
    cal = Z.calibration_for(_index(tmp_path, [0, 10]), _manifest(2, split="train", **{"Pleural Effusion": [1, 0]}),
                            _set(EFFUSION), PAIRS[:1], scale=10.0, keep=False)
    assert cal.n_calibrated == 0 and "no 'validate' split" in cal.summary()


def test_the_fit_is_kept_beside_the_index_and_refitted_for_other_prompts(tmp_path):
    n = 40
    eff = (np.arange(n) % 3 == 0).astype(float)
    idx = _index(tmp_path, np.linspace(-40, 40, n))
    _on_disk(tmp_path)
    df = _manifest(n, **{"Pleural Effusion": eff, "Cardiomegaly": 1 - eff})
    first = Z.calibration_for(idx, df, _set(), PAIRS, scale=10.0)
    kept = json.loads((tmp_path / "zero_shot_calibration-pairs.json").read_text())
    assert kept["split"] == "validate" and kept["findings"][0]["positives"] == 14
    assert_close(kept["findings"][0]["base_rate"], 14 / 40)
    assert_close(kept["findings"][0]["slope"], first.findings[0].slope)
    Z._CACHE.clear()  # a new process: read from the folder, not fitted again
    assert Z.calibration_for(idx, df, _set(), PAIRS, scale=10.0) == first
    edited = PromptSet(name="pairs", task="binary", binary=(
        BinaryLabel("Pleural Effusion", ("Pleural Effusion",), ("fluid",), ("no fluid",)), HEART))
    Z.calibration_for(idx, df, edited, PAIRS, scale=10.0)
    assert json.loads((tmp_path / "zero_shot_calibration-pairs.json").read_text())["key"] != kept["key"]


def test_rows_of_another_manifest_are_refused(tmp_path):
    with pytest.raises(ValueError, match="not the index's"):
        Z.calibration_for(_index(tmp_path, [0, 10]), _manifest(3), _set(), PAIRS, scale=10.0)


def test_rows_in_another_order_or_with_another_id_are_refused_after_a_match_too(tmp_path):
    idx, df = _index(tmp_path, [0, 10, 20]), _manifest(3)
    first = Z.calibration_for(idx, df, _set(), PAIRS, scale=10.0, keep=False)
    for ids in (["c1", "c0", "c2"], ["c0", "c1", "x2"]):  # the calibration is cached by now
        other = df.assign(id=ids)
        with pytest.raises(ValueError, match="not the index's"):
            Z.calibration_for(idx, other, _set(), PAIRS, scale=10.0, keep=False)
        with pytest.raises(ValueError, match="not the index's"):  # refused again, not remembered
            Z.calibration_for(idx, other, _set(), PAIRS, scale=10.0, keep=False)
    assert Z.calibration_for(idx, df.copy(), _set(), PAIRS, scale=10.0, keep=False) == first  # equal rows, new object


class _CountedIds(list):
    """An id list that counts how often it is read through."""

    reads = 0

    def __iter__(self):
        self.reads += 1
        return super().__iter__()


def test_a_manifest_and_index_that_line_up_are_compared_once(tmp_path):
    idx, df = _index(tmp_path, [0, 10, 20]), _manifest(3)
    idx.ids = _CountedIds(idx.ids)
    first = Z.calibration_for(idx, df, _set(), PAIRS, scale=10.0, keep=False)
    reads = idx.ids.reads
    assert reads >= 1
    for _ in range(3):
        assert Z.calibration_for(idx, df, _set(), PAIRS, scale=10.0, keep=False) == first
    assert idx.ids.reads == reads


def test_relabelled_validate_films_are_fitted_afresh_and_the_same_labels_are_served_from_the_cache(tmp_path):
    n = 40
    idx = _index(tmp_path, np.linspace(-40, 40, n))
    _on_disk(tmp_path)
    eff = (np.arange(n) % 3 == 0).astype(float)
    df = _manifest(n, **{"Pleural Effusion": eff, "Cardiomegaly": 1 - eff})
    first = Z.calibration_for(idx, df, _set(), PAIRS, scale=10.0)
    assert first.finding("Pleural Effusion").positives == 14
    assert Z.calibration_for(idx, df.copy(), _set(), PAIRS, scale=10.0) is first  # same labels: cached
    relabelled = df.assign(**{"Pleural Effusion": (np.arange(n) % 2 == 0).astype(float)})
    again = Z.calibration_for(idx, relabelled, _set(), PAIRS, scale=10.0)  # same index object
    assert again.finding("Pleural Effusion").positives == 20 and again.key != first.key
    Z._CACHE.clear()  # a new process: the file kept for the old labels is not served either
    assert Z.calibration_for(idx, relabelled, _set(), PAIRS, scale=10.0).finding("Pleural Effusion").positives == 20


def test_the_label_key_is_worked_out_once_per_manifest_and_keeps_no_manifest_alive(tmp_path, monkeypatch):
    import gc
    import weakref

    idx, df = _index(tmp_path, [0, 10, 20]), _manifest(3, **{"Pleural Effusion": [1, 0, 1]})
    Z.calibration_for(idx, df, _set(EFFUSION), PAIRS[:1], scale=10.0, keep=False)
    worked, columns = [], Z.label_columns
    monkeypatch.setattr(Z, "label_columns", lambda m: worked.append(m) or columns(m))
    for _ in range(3):
        Z.calibration_for(idx, df, _set(EFFUSION), PAIRS[:1], scale=10.0, keep=False)
    assert not worked  # the manifest's label key is remembered, not worked out again
    gone = weakref.ref(df)
    del df
    gc.collect()
    assert gone() is None


def test_building_an_index_keeps_the_shipped_sets_calibration(micro_checkpoint, tiny_dataset, tmp_path):
    idx = ix.build_index(micro_checkpoint, tiny_dataset, cache_root=tmp_path, with_umap=False,
                         progress=False, device="cpu")
    kept = json.loads((Path(idx.path) / "zero_shot_calibration-binary.json").read_text())
    assert kept["prompt_set"] == "binary" and kept["split"] == "validate"
    # the tiny dataset has a handful of validate films: every finding says why it is raw
    assert all(f["why"] for f in kept["findings"])

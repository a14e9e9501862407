"""The suite's wiring on hand-made embeddings: a perfect model must score perfectly."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from eclip.data.manifest import LABELS
from eclip.evaluate import suite
from eclip.model.prompts import parse_prompt_set

CLASSES = ["Cardiomegaly", "Edema", "Pneumothorax"]


def _dataset(n_per_class: int = 6) -> pd.DataFrame:
    rows = []
    for i in range(3 * n_per_class):
        cls = CLASSES[i % 3]
        rows.append({"id": f"r{i}", "findings": f"report {i}", "impression": "",
                     "split": "test" if i % 2 else "train", "gaze_path": "g.npz" if i % 4 == 1 else "",
                     **{lab: (1.0 if lab == cls else 0.0 if lab in CLASSES else np.nan) for lab in LABELS}})
    return pd.DataFrame(rows)


def _perfect_embeddings(df: pd.DataFrame) -> suite.ModelEmbeddings:
    """Each image = its class axis + a small private direction; its text = the same vector."""
    n, d = len(df), 3 + len(df)
    emb = np.zeros((n, d), np.float32)
    for i, cls in enumerate(df["findings"].index.map(lambda r: CLASSES[r % 3])):
        emb[i, CLASSES.index(cls)] = 1.0
        emb[i, 3 + i] = 0.3
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    class_emb = np.eye(3, d, dtype=np.float32)
    pairs = np.stack([np.stack([class_emb[c], -class_emb[c]]) for c in range(3)])
    return suite.ModelEmbeddings(image_emb=emb, text_emb=emb.copy(), text_index=np.arange(n),
                                 prompt_emb={"mc": class_emb, "bin": pairs})


@pytest.fixture()
def setup():
    df = _dataset()
    mc = parse_prompt_set({"name": "mc", "task": "multiclass",
                           "classes": [{"name": c, "prompts": [c]} for c in CLASSES]})
    binary = parse_prompt_set({"name": "bin", "task": "binary", "labels": [
        {"name": c, "positive": [c], "negative": ["no " + c]} for c in CLASSES]})
    items = suite.EvalItems(df, suite.select_rows(df, "test"), suite.select_rows(df, "train"),
                            [mc, binary], probe_seeds=(0, 1), seed=0, min_positives=3)
    return df, items, _perfect_embeddings(df)


def test_perfect_model_scores_perfectly(setup):
    _, items, emb = setup
    stats, details = suite.statistics(emb, items)
    point = {name: s.fn(np.arange(s.n)) for name, s in stats.items()}
    assert point["zs/mc/accuracy"] == 1.0 and point["zs/mc/macro_f1"] == 1.0
    assert point["zs/bin/macro_auroc"] == 1.0 and point["zs/bin/Edema/auroc"] == 1.0
    assert point["retrieval/i2t/R@1"] == 1.0 and point["retrieval/t2i/R@1"] == 1.0
    assert point["geometry/alignment"] == pytest.approx(0.0, abs=1e-9)
    assert point["geometry/modality_gap"] == pytest.approx(0.0, abs=1e-6)
    assert point["probe/100%/macro_auroc"] == 1.0
    np.testing.assert_array_equal(details["zs/mc"]["confusion"], np.diag([3, 3, 3]))
    note = details["retrieval"].pop("note")  # 9 items: R@10 is 1 by construction, and said so
    assert details["retrieval"] == {"n_images": 9, "n_unique_texts": 9}
    assert "small gallery" in note and "R@10 1.000" in note


def test_gaze_subset_and_select_rows(setup):
    df, _, _ = setup
    np.testing.assert_array_equal(suite.select_rows(df, "test", "gaze"), [1, 5, 9, 13, 17])
    assert len(suite.select_rows(df, "validate")) == 0


def test_probe_is_skipped_when_it_would_score_its_own_training_rows(setup):
    df, items, emb = setup
    on_train = suite.EvalItems(df, items.train_rows, items.train_rows, items.prompt_sets)
    stats, details = suite.statistics(emb, on_train)
    assert not any(n.startswith("probe/") for n in stats)
    assert any("probe" in s for s in details["skipped"])


def test_summarise_and_compare_shapes(setup):
    _, items, emb = setup
    stats, _ = suite.statistics(emb, items)
    summary = suite.summarise(stats, n_boot=20, seed=0)
    assert summary["zs/mc/accuracy"]["value"] == 1.0 and summary["zs/mc/accuracy"]["n"] == 9
    diff = suite.compare(stats, stats, n_boot=20, seed=0)
    assert all(d["diff"] == 0.0 for d in diff.values())


def test_probe_macro_auroc_leaves_out_labels_below_min_positives_and_keeps_their_counts(setup):
    df, items, emb = setup
    df = df.copy()
    df.loc[items.rows[0], "Atelectasis"] = 1.0  # one test positive, none in train: a constant score
    one_positive = suite.EvalItems(df, items.rows, items.train_rows, items.prompt_sets,
                                   probe_seeds=(0,), min_positives=3)
    stats, details = suite.statistics(emb, one_positive)
    assert stats["probe/100%/macro_auroc"].fn(np.arange(9)) == 1.0  # Atelectasis' 0.5 not averaged in
    counts = {c["name"]: c for c in details["probe"]["counts"]}
    assert (counts["Edema"]["n_pos"], counts["Edema"]["n_neg"], counts["Edema"]["scored"]) == (3, 6, True)
    assert counts["Atelectasis"]["why"] == "n/a (1 positive)" and not counts["Atelectasis"]["scored"]
    assert details["probe"]["n_scored"] == 3 and details["probe"]["min_positives"] == 3
    from eclip.evaluate.tables import probe_block

    block = probe_block(details["probe"], "all")
    assert "at least 3 positives and 3 negatives among the evaluated rows: 3 of " in block
    assert "| Edema | 3 | 6 | yes |" in block and "| Atelectasis | 1 | 8 | n/a (1 positive) |" in block


def test_probe_without_a_label_that_qualifies_is_not_computed_and_says_why(setup):
    df, items, emb = setup
    strict = suite.EvalItems(df, items.rows, items.train_rows, items.prompt_sets, min_positives=4)
    stats, details = suite.statistics(emb, strict)  # 3 positives per class among 9 test rows
    assert not any(n.startswith("probe/") for n in stats)
    assert "probe: no label with 4 positives and 4 negatives among the evaluated rows" in details["skipped"]
    assert details["probe"]["n_scored"] == 0


def test_uniformity_on_too_few_items_is_not_computed_and_says_why(setup):
    df, items, emb = setup
    stats, details = suite.statistics(emb, items)  # 9 test rows
    assert "geometry/alignment" in stats and "geometry/uniformity_image" not in stats
    assert any(s.startswith("geometry/uniformity: 9 items, fewer than 10") for s in details["skipped"])
    everything = suite.EvalItems(df, np.arange(len(df)), np.array([], int), items.prompt_sets)
    assert "geometry/uniformity_image" in suite.statistics(emb, everything)[0]  # 18 rows

"""The Zero-shot page's split-level tables are kept between visits (they do not depend on the
case shown) and are another entry whenever what they depend on changes: the probabilities
(another model, another calibration), the prompt set, the floor, the rows, the manifest."""

from __future__ import annotations

import dataclasses
import shutil

import numpy as np
import pandas as pd

from app.components.compare import zero_shot_paired as Z
from eclip.data.manifest import read_manifest
from eclip.evaluate.zeroshot import binary_results
from eclip.model.prompts import load_prompt_set


def _table(root, rows, ps, probs, floor=1):
    df = read_manifest(root).iloc[rows].reset_index(drop=True)
    return Z.split_results(str(root), rows, df, ps, probs, floor), df


def test_a_split_table_is_kept_and_equals_the_fresh_one(tiny_dataset):
    ps = load_prompt_set("binary")
    rows = np.arange(len(read_manifest(tiny_dataset)))
    probs = np.random.default_rng(0).random((len(rows), len(ps.binary)))
    first, df = _table(tiny_dataset, rows, ps, probs)
    pd.testing.assert_frame_equal(first, binary_results(df, ps, probs, min_positives=1))
    assert _table(tiny_dataset, rows, ps, probs.copy())[0] is first  # equal numbers: kept


def test_other_probabilities_prompts_floor_or_rows_are_other_tables(tiny_dataset):
    ps = load_prompt_set("binary")
    rows = np.arange(len(read_manifest(tiny_dataset)))
    probs = np.random.default_rng(1).random((len(rows), len(ps.binary)))
    first, _ = _table(tiny_dataset, rows, ps, probs)
    other = probs[::-1].copy()  # another model's ranking of the same images
    renamed = dataclasses.replace(ps, binary=(dataclasses.replace(ps.binary[0], negated=True), *ps.binary[1:]))
    for args in [(rows, ps, other, 1), (rows, renamed, probs, 1), (rows, ps, probs, 3),
                 (rows[:-4], ps, probs[:-4], 1)]:
        got, df = _table(tiny_dataset, *args)
        assert got is not first
        pd.testing.assert_frame_equal(got, binary_results(df, args[1], args[2], min_positives=args[3]))


def test_a_rewritten_manifest_is_read_again(tiny_dataset, tmp_path):
    root = shutil.copytree(tiny_dataset, tmp_path / "ds")
    ps = load_prompt_set("binary")
    manifest = read_manifest(root)
    rows = np.arange(len(manifest))
    probs = np.random.default_rng(2).random((len(rows), len(ps.binary)))
    first, _ = _table(root, rows, ps, probs)
    column = ps.binary[0].labels[0]
    raw = pd.read_csv(root / "manifest.csv", dtype=str, keep_default_na=False)
    raw[column] = "1"  # every film now positive for the first pair's label
    raw.to_csv(root / "manifest.csv", index=False)
    got, df = _table(root, rows, ps, probs)
    assert first.loc[0, "negatives"] > 0 and got.loc[0, "negatives"] == 0
    pd.testing.assert_frame_equal(got, binary_results(df, ps, probs, min_positives=1))

"""Honest headline numbers (issue 14): ``python -m eclip.evaluate.experiment --fresh-data``
scores every group again on a corpus no choice saw, and ``--update-card`` makes those the
card's headline and records what the model was selected on."""

from __future__ import annotations

import json

import pytest

from evaluate.conftest import save_micro_checkpoint
from tiny_data import make_tiny_dataset
from eclip.evaluate.experiment import main as experiment_main

FAST = ["--n-boot", "20", "--prompts", "findings", "--probe-seeds", "0", "--quiet"]


def make_fresh_corpus(root):
    """A tiny corpus of other reports than ``tiny_dataset``'s, except that among its six
    test cases (rows 4, 9, ..., 29) row 4 keeps a report text the training corpus has, row 9
    a report uid it has, and rows 14 and 19 share one new text (one report cluster)."""
    from eclip.data.manifest import read_manifest, write_manifest

    root = make_tiny_dataset(root, n=30, seed=1)
    df = read_manifest(root)
    for i in range(len(df)):
        if i != 4:
            df.loc[i, ["findings", "impression"]] = [f"Fresh finding number {i}.", ""]
        df.loc[i, "patient_key"] = f"fresh{i:03d}"
    df.loc[9, "patient_key"] = "p000"  # tiny_dataset's first report uid (a train row)
    df.loc[[14, 19], "findings"] = "A shared fresh report."
    write_manifest(df, root)
    return root


@pytest.fixture(scope="module")
def fresh_corpus(tmp_path_factory):
    return make_fresh_corpus(tmp_path_factory.mktemp("fresh"))


def _run(tmp_path, tiny_dataset, fresh, *groups, extra=()):
    out = tmp_path / "exp.json"
    args = ["--data", str(tiny_dataset), "--fresh-data", str(fresh), "--out", str(out),
            "--cache", str(tmp_path / "c"), *FAST, *extra]
    for name, *ckpts in groups:
        args += ["--group", name, *map(str, ckpts)]
    return experiment_main(args), out


def test_fresh_corpus_scored_and_card_headline(tiny_dataset, fresh_corpus, tmp_path, capsys):
    a = save_micro_checkpoint(tmp_path / "a", seed=0)
    b = save_micro_checkpoint(tmp_path / "b", seed=1)
    rc, out = _run(tmp_path, tiny_dataset, fresh_corpus, ("clip", a), ("eclip", b),
                   extra=["--update-card", "--selected-on", "validate split, 9-finding accuracy"])
    assert rc == 0
    result = json.loads(out.read_text())
    fresh = result["fresh"]
    assert fresh["data"]["path"] == str(fresh_corpus.resolve())
    assert fresh["data"]["fingerprint"] != result["data"]["fingerprint"]
    # of the fresh corpus's 6 test rows, the one with a seen report text and the one with
    # a seen report uid are left out; the other 4 form 3 report clusters
    assert fresh["groups"]["clip"]["subsets"]["all"]["n_images"] == 4
    assert fresh["groups"]["clip"]["subsets"]["all"]["n_clusters"] == 3
    assert {k: fresh["disjoint"][k] for k in ("cases", "kept", "dropped", "text_seen_under_another_uid",
                                              "uid_seen_with_other_text")} == {
        "cases": 6, "kept": 4, "dropped": 2, "text_seen_under_another_uid": 1, "uid_seen_with_other_text": 1}
    assert "fresh test cases: kept 4 of 6, dropped 2" in capsys.readouterr().err  # said even with --quiet
    assert "eclip" in fresh["diff"]
    md = out.with_suffix(".md").read_text()
    assert "no choice saw it" in md and "choices may have seen it" in md
    assert "kept 4 of 6" in md and "resample report clusters" in md

    card = json.loads((b / "card.json").read_text())
    assert card["headline"]["metrics"] == "eval/fresh-test"
    assert card["selected_on"] == "validate split, 9-finding accuracy"
    assert card["metrics"]["eval/test"]["data"] == str(tiny_dataset.resolve())
    got = card["metrics"]["eval/fresh-test"]["values"]["geometry/alignment"][0]
    want = fresh["groups"]["eclip"]["subsets"]["all"]["metrics"]["geometry/alignment"]["value"]
    assert got == pytest.approx(round(want, 4))


def test_card_update_needs_one_checkpoint_per_group(tiny_dataset, fresh_corpus, tmp_path, capsys):
    a = save_micro_checkpoint(tmp_path / "a", seed=0)
    rc, _ = _run(tmp_path, tiny_dataset, fresh_corpus, ("clip", a, a),
                 extra=["--update-card", "--selected-on", "validate"])
    assert rc == 2 and "one checkpoint per group" in capsys.readouterr().err
    assert "headline" not in json.loads((a / "card.json").read_text())


def test_fresh_must_be_another_corpus(tiny_dataset, tmp_path, capsys):
    a = save_micro_checkpoint(tmp_path / "a", seed=0)
    rc, _ = _run(tmp_path, tiny_dataset, tiny_dataset, ("clip", a))
    assert rc == 2 and "another seed" in capsys.readouterr().err


def test_card_update_asks_what_the_model_was_selected_on(tiny_dataset, fresh_corpus, tmp_path, capsys):
    a = save_micro_checkpoint(tmp_path / "a", seed=0)
    with pytest.raises(SystemExit):
        _run(tmp_path, tiny_dataset, fresh_corpus, ("clip", a), extra=["--update-card"])
    assert "--update-card needs --selected-on" in capsys.readouterr().err


@pytest.mark.parametrize("name", ["demo-eclip", "demo-clip"])
def test_shipped_cards_headline_comes_from_a_corpus_no_choice_saw(name):
    from pathlib import Path

    card = json.loads((Path(__file__).resolve().parents[2] / "checkpoints" / name / "card.json").read_text())
    head = card["metrics"][card["headline"]["metrics"]]
    assert card["headline"]["metrics"] == "eval/fresh-test"
    assert head["data_fingerprint"] not in (card["data_fingerprint"], card["metrics"]["eval/test"]["data_fingerprint"])
    assert head["data"] == "data/demo-fresh" and head["n_images"] >= 150
    assert {"zs/findings/accuracy", "zs/binary/macro_auroc"} <= set(head["values"])
    assert card["selected_on"]  # what the pair was chosen on (a test split makes eval/test optimistic)

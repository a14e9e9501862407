"""The tour's gaze stop with the seeds experiment's answer (``--gaze-seeds``): the room hears
what the training seeds say beside the one case; without the option the file is as before."""

from __future__ import annotations

import json
import tomllib

import numpy as np
import pytest
from gaze_report import report

from eclip.errors import EvaluationError
from eclip.evaluate.gaze_effect import load_effect, signed
from eclip.explain import tour as T

from .test_tour import NAMES, _fake_cc, _rows


@pytest.fixture
def picked(monkeypatch):
    """A tour of a gaze stop (picked from faked CCs, as the tour's template tests do) and a
    normal stop; the command picks it without models."""
    _fake_cc(monkeypatch, {"A": np.linspace(0.2, 0.6, 8), "B": np.full(8, 0.2)})
    gaze = T.gaze_pick("A", "B", None, _rows(8, Cardiomegaly=[1] * 8), NAMES, "test", set())
    normal = T.Pick("normal", "c99", "The lungs are clear.", "A normal film", "No finding.", "Chosen so.",
                    "Typical so.", "the numbers")
    tour = T.Tour([gaze, normal], {}, "test", "data/x", (("eclip-m", "ab" * 32), ("clip-m", "cd" * 32)))
    monkeypatch.setattr(T, "load_model", lambda path: path)
    monkeypatch.setattr(T, "pick_tour", lambda lm, other, data, split: tour)
    return tour


def test_the_gaze_stop_carries_the_seeds_answer(picked, tmp_path):
    path = tmp_path / "gaze-seeds.json"
    path.write_text(json.dumps(report(seeds=4)))
    effect = load_effect(path)
    gaze, normal = T.with_gaze_effect(picked, effect).picks
    before = picked.picks[0]
    assert gaze.title == "The map and the radiologist's gaze" and gaze.case == before.case
    assert gaze.point == (f"{before.point} Does gaze help? Across 4 paired training seeds (provisional: 4 "
                          "of the 6 planned), eCLIP against CLIP and against random heatmaps: no detectable "
                          "difference at this number of seeds on either primary measure.")
    primary = [m for m in effect.metrics.values() if m["primary"]]
    assert len(primary) == 2 and gaze.typical.startswith(
        f"{before.typical.removesuffix('.')} · eCLIP minus CLIP / minus random heatmaps over the seeds")
    for m in primary:  # each primary measure's two differences, as the card holds them
        (mean, lo, hi), (rmean, rlo, rhi) = m["vs_clip"], m["vs_random"]
        both = f"{signed(mean)} [{signed(lo)}, {signed(hi)}] / {signed(rmean)} [{signed(rlo)}, {signed(rhi)}]"
        assert f"{m['name']} {both}" in gaze.typical
    assert "[" not in gaze.point.removeprefix(before.point)  # spoken in a room: the intervals are in typical
    assert normal == picked.picks[1]  # only the gaze stop speaks of the seeds


def test_command_puts_it_in_the_file_and_leaves_it_out_without_the_option(picked, tmp_path):
    from app.core import tour as app_tour

    path = tmp_path / "gaze-seeds.json"
    path.write_text(json.dumps(report()))
    plain, with_seeds = tmp_path / "plain.toml", tmp_path / "seeds.toml"
    assert T.main(["--checkpoint", "A", "--compare", "B", "--data", "data/x", "--out", str(plain)]) == 0
    assert plain.read_text(encoding="utf-8") == T.render(picked, f"python -m eclip.explain.tour --checkpoint A "
                                                                 f"--compare B --data data/x --out {plain}")
    assert T.main(["--checkpoint", "A", "--compare", "B", "--data", "data/x", "--gaze-seeds", str(path),
                   "--out", str(with_seeds)]) == 0
    text = with_seeds.read_text(encoding="utf-8")
    assert f"--gaze-seeds {path} --out {with_seeds}" in text.splitlines()[1]
    gaze, normal = app_tour.load(with_seeds)
    effect = load_effect(path)
    assert gaze.point.endswith(f"Does gaze help? Across 6 paired training seeds, eCLIP against CLIP and against "
                               f"random heatmaps: {effect.answer}.")
    assert "eCLIP minus CLIP / minus random heatmaps over the seeds (95 % t-interval): " in gaze.typical
    assert tomllib.loads(text)["stop"][1] == tomllib.loads(plain.read_text(encoding="utf-8"))["stop"][1]
    comments = " ".join(line[2:] for line in text.splitlines() if line.startswith("# "))
    assert "seeds experiment (gaze-seeds.json): no detectable difference" in comments  # the stop's numbers


def test_a_broken_report_stops_the_command_before_any_picking(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(T, "pick_tour", lambda *a: pytest.fail("picked a tour from a broken report"))
    assert T.main(["--checkpoint", "A", "--data", "data/x", "--gaze-seeds", str(tmp_path / "none.json")]) == 2
    assert "no such file" in capsys.readouterr().err
    with pytest.raises(EvaluationError):
        load_effect(tmp_path / "none.json")

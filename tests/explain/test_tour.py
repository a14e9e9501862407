"""The presenter's tour command (eclip.explain.tour): each stop's pick, the same number over the
split beside it, the talking points filled in from those numbers, and the whole file it writes."""

from __future__ import annotations

import re
import shutil
import tomllib
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from eclip.explain import tour as T
from eclip.explain.localisation import REPORT_ROW, label_prompts, localisation

from .conftest import make_lm

NAMES = T.Names("eclip-m", "clip-m")


def _rows(n: int, **labels) -> pd.DataFrame:
    """``n`` cases, each with its own report; ``gaze`` (bools) and label columns (0/1 lists)."""
    gaze = labels.pop("gaze", [True] * n)
    return pd.DataFrame({"id": [f"c{i:02d}" for i in range(n)], "image_path": [f"i{i}.png" for i in range(n)],
                         "findings": [f"Report number {i}." for i in range(n)], "impression": [""] * n,
                         "gaze_path": ["g.npz" if g else "" for g in gaze],
                         **{k: [float(v) for v in vs] for k, vs in labels.items()}})


def _pair(name: str, *labels: str):
    return SimpleNamespace(name=name, labels=labels or (name,))


# --------------------------------------------------------------------------- the prompt
def test_default_prompt_is_the_prompt_pairs_words():
    row = pd.Series({"findings": "Opacity at the right base. Heart normal.", "impression": "",
                     "No Finding": 0.0, "Lung Opacity": 1.0})
    assert T.default_prompt(row) == label_prompts()["Lung Opacity"] == "There is focal consolidation."
    normal = pd.Series({"findings": "The lungs are clear. No effusion.", "impression": "", "No Finding": 1.0})
    assert T.default_prompt(normal) == "The lungs are clear."
    for negation in ("No pneumothorax. ", "Pneumothorax is not seen. ", "Effusion cannot be excluded. "):
        normal["findings"] = negation + "The lungs are clear. No effusion."
        assert T.default_prompt(normal) == "The lungs are clear.", negation  # what is there, not what is not
    normal["findings"] = "No pneumothorax. No effusion."
    assert T.default_prompt(normal) == label_prompts()["No Finding"]


# --------------------------------------------------------------------------- the templates
def _fake_cc(monkeypatch, cc: dict) -> None:
    monkeypatch.setattr(T, "gaze_cc", lambda lm, root, rows, method=T.METHOD: cc[lm][: len(rows)])


def test_gaze_stop_shows_the_best_case_beside_the_split(monkeypatch):
    """The reviewer's case: one film at 0.63 against 0.10, the split at about 0.11 against 0.10.
    The stop must say it is the extreme and give the split's means, and not call one ahead."""
    rng = np.random.default_rng(0)
    clip, gap = 0.10 + 0.05 * rng.standard_normal(27), 0.1 * rng.standard_normal(27)
    clip[5], gap[5] = 0.10, 0.53
    others = np.arange(27) != 5
    gap[others] += (0.01 * 27 - gap.sum()) / 26  # the mean gap 0.01, as measured on the demo pair
    eclip = clip + gap
    _fake_cc(monkeypatch, {"A": eclip, "B": clip})
    rows = _rows(27, **{"No Finding": [0] * 27, "Cardiomegaly": [1] * 27})
    pick = T.gaze_pick("A", "B", None, rows, NAMES, "test", set())
    ma, mb = f"{eclip.mean():.2f}", f"{clip.mean():.2f}"
    assert pick.case == "c05" and pick.prompt == "Cardiomegaly."
    assert "largest eclip-m − clip-m gap" in pick.chosen and "27 test cases with gaze and a finding" in pick.chosen
    assert pick.typical == (f"CC with the gaze, this case: eclip-m 0.63, clip-m 0.10 · "
                            f"mean over the 27: eclip-m {ma}, clip-m {mb}.")
    assert "most beyond clip-m's (CC 0.63 against 0.10)" in pick.point
    assert f"there is no clear difference (mean CC {ma} against {mb})" in pick.point and "ahead" not in pick.point


def test_gaze_stop_says_who_is_ahead_only_when_the_split_does(monkeypatch):
    clip = np.linspace(0.0, 0.2, 20)
    _fake_cc(monkeypatch, {"A": clip + 0.3, "B": clip})
    rows = _rows(20, Cardiomegaly=[1] * 20)
    pick = T.gaze_pick("A", "B", None, rows, NAMES, "test", set())
    assert "eclip-m is ahead on average (mean CC 0.40 against 0.10)" in pick.point
    _fake_cc(monkeypatch, {"A": clip, "B": clip + 0.3})
    assert "clip-m is ahead" in T.gaze_pick("A", "B", None, rows, NAMES, "test", set()).point


def test_gaze_stop_without_a_compare_model_and_a_taken_case(monkeypatch):
    _fake_cc(monkeypatch, {"A": np.array([0.1, 0.9, 0.5, 0.3])})
    rows = _rows(4, Cardiomegaly=[1, 1, 1, 1])
    pick = T.gaze_pick("A", None, None, rows, T.Names("m", None), "test", {"c01"})
    assert pick.case == "c02" and "not already on the tour" in pick.chosen
    assert pick.typical == "CC with the gaze, this case: 0.50 · mean over the 4: 0.45."


def test_normal_stop_chooses_among_films_with_gaze_and_gives_every_normal_film():
    rows = _rows(6, gaze=[True, True, False, True, False, False], **{"No Finding": [1, 1, 1, 1, 1, 0]})
    labels = [_pair("No Finding"), _pair("Cardiomegaly")]
    probs = np.array([[0.7, 0.1], [0.2, 0.1], [0.95, 0.1], [0.6, 0.1], [0.3, 0.1], [0.99, 0.1]])
    pick = T.surest_pick("normal", rows, labels, probs, NAMES, "test", set())
    assert pick.case == "c00"  # c02 scores higher, but has no gaze; c05 is not normal
    mean = f"{np.mean([0.7, 0.2, 0.95, 0.6, 0.3]):.2f}"
    assert pick.chosen == "Chosen as eclip-m's highest P(No Finding) among the 3 normal test films with gaze."
    assert pick.typical == ("P(No Finding), this film: 0.70 · over all 5 normal test films: "
                            f"mean {mean}, 3 of 5 at 0.5 or more.")
    assert "calls 3 of 5 normal" in pick.point and f"mean {mean}" in pick.point and "(P = 0.70)" in pick.point
    again = T.surest_pick("normal", rows, labels, probs, NAMES, "test", {"c00"})
    assert again.case == "c03" and "not already on the tour" in again.chosen


def test_a_role_without_a_pool_is_left_out():
    rows = _rows(3, gaze=[False, True, True], **{"No Finding": [0, 1, 1]})
    with pytest.raises(T.EmptyPool, match="no test film labelled Support Devices has gaze"):
        T.surest_pick("device", rows, [_pair("No Finding")], np.zeros((3, 1)), NAMES, "test", set())
    with pytest.raises(T.EmptyPool, match="no test case has a positive finding"):
        T.miss_pick(rows, [_pair("No Finding")], np.zeros((3, 1)), NAMES, "test", set())


def test_miss_stop_counts_the_positive_findings_below_half():
    rows = _rows(4, **{"No Finding": [0, 0, 0, 1], "Cardiomegaly": [1, 1, 0, 0], "Lung Opacity": [0, 1, 1, 0]})
    labels = [_pair("Cardiomegaly"), _pair("Consolidation/Opacity", "Consolidation", "Lung Opacity"),
              _pair("No Finding")]
    probs = np.array([[0.40, 0.9, 0.2], [0.80, 0.05, 0.1], [0.3, 0.45, 0.1], [0.1, 0.1, 0.01]])
    pick = T.miss_pick(rows, labels, probs, NAMES, "test", set())
    assert pick.case == "c01" and pick.prompt == label_prompts()["Lung Opacity"]
    assert pick.chosen == "Chosen as the lowest-scored of the 4 positive findings in the 4 test cases."
    assert pick.typical == ("P(Consolidation/Opacity), this film: 0.05 · over the test split: "
                            "3 of 4 positive findings below 0.5.")
    assert "Labelled Lung Opacity, yet eclip-m gives it P = 0.05" in pick.point
    assert "3 of 4 positive findings score below 0.5" in pick.point


def test_miss_stop_measures_calibrated_probabilities_against_the_base_rate():
    # calibrated probabilities sit near the base rate: a positive at 0.30 of a 10 % finding is
    # scored well, so the bar is each finding's base rate, not 0.5
    rows = _rows(4, **{"No Finding": [0, 0, 0, 1], "Cardiomegaly": [1, 1, 0, 0], "Lung Opacity": [0, 1, 1, 0]})
    labels = [_pair("Cardiomegaly"), _pair("Consolidation/Opacity", "Consolidation", "Lung Opacity"),
              _pair("No Finding")]
    probs = np.array([[0.30, 0.9, 0.2], [0.08, 0.05, 0.1], [0.3, 0.45, 0.1], [0.1, 0.1, 0.01]])
    rates = {"Cardiomegaly": 0.10, "Consolidation/Opacity": 0.20, "No Finding": 0.4}
    pick = T.miss_pick(rows, labels, probs, NAMES, "test", set(), rates)
    assert pick.case == "c01" and pick.title == "A miss"
    assert pick.typical == ("P(Consolidation/Opacity), this film: 0.05 (base rate 20%) · over the test split: "
                            "2 of 4 positive findings below their finding's base rate.")
    assert "2 of 4 positive findings score below their finding's base rate" in pick.point
    # without a base rate for every finding (raw probabilities), the bar stays 0.5
    assert "4 of 4 positive findings below 0.5" in T.miss_pick(
        rows, labels, probs, NAMES, "test", set(), {"Cardiomegaly": 0.1}).typical


def test_base_rates_come_only_from_fitted_or_pooled_findings():
    from eclip.index.zero_shot_calibration import FindingCalibration, ZeroShotCalibration

    cal = ZeroShotCalibration("binary", 10.0, 40, (
        FindingCalibration("Cardiomegaly", ("Cardiomegaly",), 10, 30, 1.0, 0.0),
        FindingCalibration("Edema", ("Edema",), 2, 38, 1.0, -3.0, "2 validate positives, fewer than 10", 1),
        FindingCalibration("Pneumonia", ("Pneumonia",), 0, 0, why="no labelled films")))
    assert T.base_rates_of(cal) == {"Cardiomegaly": 0.25, "Edema": 0.05}
    assert T.base_rates_of(None) == {}


def test_a_lowest_call_above_half_is_no_miss():
    rows = _rows(2, Cardiomegaly=[1, 1])
    pick = T.miss_pick(rows, [_pair("Cardiomegaly")], np.array([[0.9], [0.7]]), NAMES, "test", set())
    assert pick.case == "c01" and pick.title == "The weakest call"
    assert "none of the 2 positive findings scores below 0.5" in pick.point and "misses" not in pick.point


# --------------------------------------------------------------------------- the file
def test_render_writes_a_tour_the_app_reads(tmp_path):
    from app.core import tour as app_tour

    pick = T.Pick("localise", "c01", "Pleural effusion.", 'A "quoted" title', "Line one\nand − two.",
                  "Chosen so.", "Typical so.", "the numbers", outline="Pleural Effusion")
    text = T.render(T.Tour([pick], {"device": "no test film labelled Support Devices has gaze"}, "test",
                           "data/x", (("m", "ab" * 32),)), "python -m eclip.explain.tour --data data/x")
    assert text.startswith("# The Presenter page's tour")
    assert "#   python -m eclip.explain.tour --data data/x\n" in text
    assert "# No device stop: no test film labelled Support Devices has gaze." in text
    assert "# localise: the numbers.\n[[stop]]" in text
    path = tmp_path / "tour.toml"
    path.write_text(text, encoding="utf-8")
    (stop,) = app_tour.load(path)
    assert (stop.title, stop.point, stop.chosen, stop.typical, stop.outline) == (
        pick.title, pick.point, "Chosen so.", "Typical so.", "Pleural Effusion")
    assert app_tour.written_for(path) == ("m",)  # the models its talking points are about


def test_a_hand_written_tour_needs_none_of_the_new_keys(tmp_path):
    from app.core import tour as app_tour

    path = tmp_path / "t.toml"
    path.write_text('[[stop]]\ncase = "a"\ntitle = "t"\npoint = "p"\ntypical = "  over 3: 0.1  "\n')
    (stop,) = app_tour.load(path)
    assert (stop.chosen, stop.typical, stop.outline, stop.prompt) == ("", "over 3: 0.1", "", "")
    assert app_tour.written_for(path) == ()


# --------------------------------------------------------------------------- the command
@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    base = tmp_path_factory.mktemp("tour_pair")
    return make_lm(base / "model-a", "eclip-vit-micro", seed=0), make_lm(base / "model-b", "eclip-vit-micro", seed=1)


@pytest.fixture(scope="module")
def wide_masks(masked_dataset, tmp_path_factory):
    """The masked tiny dataset with wide masks of three sizes (the lower 90, 70 and 50 % of the
    film), so that a random model's map peaks inside some of them: a pool for ``localise``."""
    from eclip.data.manifest import read_manifest, save_array_npz

    root = tmp_path_factory.mktemp("wide") / "ds"
    shutil.copytree(masked_dataset, root)
    yy = np.mgrid[0:64, 0:64][0] / 64
    masked = read_manifest(root).query("mask_path != ''")
    for k, (_, row) in enumerate(masked.iterrows()):
        with np.load(root / row["mask_path"]) as z:
            (label,) = z.files
        save_array_npz(root / row["mask_path"], **{label: yy > (0.1, 0.3, 0.5)[k % 3]})
    return root


@pytest.mark.slow
def test_command_writes_the_tour_with_the_splits_numbers(pair, wide_masks, tmp_path, capsys):
    """On the tiny dataset with masks: no device film (left out, and said so), every other role
    filled, each stop's numbers recomputed here from the same library parts."""
    from app.core import tour as app_tour
    from eclip.data.images import load_working
    from eclip.data.manifest import read_manifest
    from eclip.explain.maps import attribution_map

    lm, other, masked_dataset = *pair, wide_masks
    out = tmp_path / "tour.toml"
    rc = T.main(["--checkpoint", str(lm.path), "--compare", str(other.path), "--data", str(masked_dataset),
                 "--out", str(out)])
    said = capsys.readouterr()
    assert rc == 0 and "left out device: no test film labelled Support Devices has gaze" in said.err
    text = out.read_text(encoding="utf-8")
    assert f"--compare {other.path} --data {masked_dataset} --out {out}" in text.splitlines()[1]
    assert "# No device stop" in text
    stops = {s.case: s for s in app_tour.load(out)}
    roles = re.findall(r"\n\n# (\w+): ", text)  # each stop's comment opens with its role
    assert roles == ["gaze", "normal", "localise", "miss"] and len(tomllib.loads(text)["stop"]) == 4
    assert len(stops) == 4 and all(s.chosen and s.typical for s in stops.values())  # no case twice
    by_role = dict(zip(roles, stops.values()))

    df = read_manifest(masked_dataset)
    test = df[df["split"] == "test"].reset_index(drop=True)
    gaze = test[(test["gaze_path"] != "") & (test["No Finding"] != 1.0)]
    a, b = T.gaze_cc(lm, masked_dataset, gaze), T.gaze_cc(other, masked_dataset, gaze)
    assert by_role["gaze"].case == gaze["id"].iloc[int(np.nanargmax(a - b))]
    means = f"mean over the {len(gaze)}: model-a {np.nanmean(a):.2f}, model-b {np.nanmean(b):.2f}"
    assert means in by_role["gaze"].typical

    labels, probs = T.probabilities(lm, masked_dataset, test)
    normal = test["No Finding"].to_numpy() == 1.0
    p = T._prob_of(labels, probs, "No Finding")[normal]
    assert f"mean {p.mean():.2f}, {(p >= 0.5).sum()} of {normal.sum()} at 0.5" in by_role["normal"].typical

    per = {name: localisation(m, masked_dataset, "test") for name, m in (("a", lm), ("b", other))}
    findings = {k: v[(v["finding"] != REPORT_ROW)] for k, v in per.items()}
    pm, po = (findings[k][findings[k]["who"] == "model"]["pointing"].mean() for k in "ab")
    pc = findings["a"][findings["a"]["who"] == "centre"]["pointing"].mean()
    stop = by_role["localise"]
    assert f"model-a {pm:.2f}, model-b {po:.2f}, a centre-only map {pc:.2f}" in stop.typical
    assert f"inside {pm:.0%} of the time" in stop.point and f"model-b's {po:.0%}" in stop.point
    hits = findings["a"][(findings["a"]["who"] == "model") & (findings["a"]["pointing"] == 1.0)]
    inside = {}
    for hit in hits.itertuples():  # the share of the map inside the mask, computed again here
        row = df.set_index("id").loc[hit.case_id]
        pixels = load_working(masked_dataset / row["image_path"])
        sal = attribution_map(lm, pixels, label_prompts()[hit.finding], "gradcam", use_cache=False)
        with np.load(masked_dataset / row["mask_path"]) as z:
            inside[hit.case_id, hit.finding] = sal[z[hit.finding]].sum() / sal.sum()
    median = np.median(list(inside.values()))
    free = sorted((abs(v - median), k) for k, v in inside.items() if k[0] != by_role["gaze"].case)
    assert (stop.case, stop.outline) == free[0][1] and stop.prompt == label_prompts()[stop.outline]
    assert f"({inside[free[0][1]]:.0%}; median {median:.0%})" in stop.chosen

    positives = [(probs[i, j], i) for j, lab in enumerate(labels) if lab.name != "No Finding"
                 for i in range(len(test)) if any(test[c].iloc[i] == 1.0 for c in lab.labels if c in test)]
    below = sum(q < 0.5 for q, _ in positives)
    assert f"{below} of {len(positives)} positive findings below 0.5" in by_role["miss"].typical


def test_command_left_out_localise_without_masks(pair, tiny_dataset, capsys):
    lm, _ = pair
    assert T.main(["--checkpoint", str(lm.path), "--data", str(tiny_dataset)]) == 0
    said = capsys.readouterr()
    assert "left out localise: no 'test' rows with finding masks" in said.err
    assert re.findall(r"\n\n# (\w+): ", said.out) == ["gaze", "normal", "miss"]
    assert len(tomllib.loads(said.out)["stop"]) == 3 and "# No localise stop: no 'test' rows" in said.out


def test_tour_probabilities_go_through_the_kept_calibration(pair, tiny_dataset, tmp_path, monkeypatch):
    """A talking point's P is the P the app shows beside it: the validate-split calibration
    kept with the model's index; raw (None) when no index is built."""
    from eclip.data.manifest import read_manifest
    from eclip.index import build_index
    from eclip.index.store import load_index

    lm = pair[0]
    df = read_manifest(tiny_dataset)
    monkeypatch.setattr(T, "load_index", lambda ck, data: load_index(ck, data, cache_root=tmp_path))
    assert T.kept_calibration(lm, tiny_dataset, df) is None  # nothing built yet
    build_index(lm.path, tiny_dataset, cache_root=tmp_path, with_umap=False, progress=False, device="cpu")
    kept = T.kept_calibration(lm, tiny_dataset, df)
    assert kept is not None and kept.findings
    seen = []
    real = T.zero_shot_evidence
    monkeypatch.setattr(T, "zero_shot_evidence", lambda *a, **k: seen.append(k.get("calibration")) or real(*a, **k))
    rows = df[df["split"] == "test"].head(2).reset_index(drop=True)
    T.probabilities(lm, tiny_dataset, rows, kept)
    assert seen and all(c is kept for c in seen)

"""Does gaze help on this corpus? CLIP, eCLIP and eCLIP with random heatmaps, paired by seed.

The design is fixed before any run (results/gaze-seeds-plan.md): three arms trained from one
config pair (the shipped demo pair's), identical but for the gaze: ``clip`` (no expert pairs),
``eclip`` (gaze heatmaps) and ``random`` (eCLIP fed random smooth heatmaps: what the expert
pairs do without any expert). Each arm at the same seeds; every metric on the report-disjoint
fresh corpus (cases whose report text the training never saw).

    python benchmarks/gaze_seeds.py train --seed 0 [--lane 0/2]   # resumable; finished runs skip
    python benchmarks/gaze_seeds.py train --seeds 0 1 2 3 4 5 --workers 2   # the whole queue
    python benchmarks/gaze_seeds.py status                          # what is scored / training
    python benchmarks/gaze_seeds.py evaluate                        # per-run scores, cached
    python benchmarks/gaze_seeds.py report                          # results/gaze-seeds.{json,md}

``--steps N`` trains a cheaper version of every arm (state it with the result). Runs go to
``runs/gs-s<seed>-<arm>`` (ignored: a fresh checkout has none); each finished run's scores are
kept, compressed, in ``results/gaze-seeds[-<pair>]/scores/s<seed>-<arm>.npz`` (committed, a few
hundred KiB each), so the experiment goes on across checkouts and the report needs no run. ``--pair
local-w3`` (every subcommand) runs the same design on the demo pair's configs with the gaze
prior and the label-local loss, into ``runs/gs-local-w3-s<seed>-<arm>`` and
``results/gaze-seeds-local-w3``; ``--pair rn-local`` on the shipped ResNet pair's configs.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from eclip.model.checkpoint import LoadedModel

ROOT = Path(__file__).resolve().parents[1]
# The config pair each experiment trains its arms from: ``paper`` (the plan's: the method as
# published), ``local-w3`` (the demo pair with the every-step gaze prior and the label-local
# loss at weight 3; its random arm feeds random heatmaps to the expert images and the prior alike),
# ``rn-local`` (the shipped ResNet pair: the plan's addendum; seed 0 of clip and eclip are its runs).
PAIRS = {"paper": ("configs/demo20k-clip.toml", "configs/demo20k-eclip.toml"),
         "local-w3": ("configs/demo20k-clip-local-w3.toml", "configs/demo20k-eclip-local-w3.toml"),
         "rn-local": ("configs/demo20k-clip-rn-local.toml", "configs/demo20k-eclip-rn-local.toml")}


# Pairs whose eCLIP config carries the gaze prior have a fourth arm, ``prior`` (the plan's second
# addendum): gaze only as a prior on the tower's patch map, no expert images, i.e. the eCLIP
# config less its expert pairs. It is scored beside the three, on the same seeds.
PRIOR_PAIRS = ("local-w3", "rn-local")


def arms(pair: str = "paper") -> dict[str, list[str]]:
    """Arm -> the training command's config arguments, for one config pair."""
    clip, eclip = PAIRS[pair]
    out = {"clip": ["--config", clip], "eclip": ["--config", eclip],
           "random": ["--config", eclip, "--set", "method.random_heatmaps=true"]}
    if pair in PRIOR_PAIRS:
        out["prior"] = ["--config", eclip, "--set", "method.expert=false"]
    return out


ARMS = arms()  # the three arms of the planned experiment; every report needs all three
CONTRASTS = (("eclip", "clip"), ("eclip", "random"))
# The prior arm's question, with the same claim rule (better than CLIP and the random-heatmap
# control on both intervals), and what the expert images add beyond the prior (described only).
PRIOR_CONTRASTS = (("prior", "clip"), ("prior", "random"), ("eclip", "prior"))
MIN_POSITIVES = 20  # a label joins the macro AUROC only with this many positives (and negatives)
PROBE_FRACTION = 0.10
PROBE_SEEDS = (0, 1, 2)
PRIMARY = ("probe_auroc", "pointing")
SECONDARY = ("zeroshot_auroc", "pointing_report", "miou")


# --------------------------------------------------------------------------- training
# Runs that are shipped checkpoints: seed 0 of the shipped pair's clip and eclip arms (the
# checkpoints are those runs' fp16 final models, scripts/ship_demo_pair.py, later slimmed: they
# load bit for bit as the runs' files).
SHIPPED = {("rn-local", 0, "clip"): "checkpoints/demo-clip", ("rn-local", 0, "eclip"): "checkpoints/demo-eclip"}


def run_dir(runs: Path, seed: int, arm: str, pair: str = "paper") -> Path:
    return runs / (f"gs-s{seed}-{arm}" if pair == "paper" else f"gs-{pair}-s{seed}-{arm}")


def final_model(runs: Path, seed: int, arm: str, pair: str = "paper") -> Path:
    """The folder holding one run's final model (a shipped checkpoint where the run is one)."""
    shipped = SHIPPED.get((pair, seed, arm))
    return ROOT / shipped if shipped else run_dir(runs, seed, arm, pair) / "final"


def scores_dir(pair: str = "paper") -> Path:
    return ROOT / "results" / ("gaze-seeds" if pair == "paper" else f"gaze-seeds-{pair}") / "scores"


def scores_file(seed: int, arm: str, pair: str = "paper", root: Path | None = None) -> Path:
    return (root or scores_dir(pair)) / f"s{seed}-{arm}.npz"


def train_command(folder: Path, arm: str, seed: int, steps: int | None, threads: int,
                  pair: str = "paper") -> list[str]:
    """Resume a run from its last checkpoint, else start it (a run stopped before its first
    checkpoint has nothing to resume: ``clear_unstarted`` empties its folder first)."""
    from eclip.train.checkpoints import latest_checkpoint

    cmd = [sys.executable, "-m", "eclip.train"]
    if latest_checkpoint(folder) is not None:
        return cmd + ["--resume", str(folder)]
    extra = ["--set", f"train.steps={steps}"] if steps else []
    return cmd + arms(pair)[arm] + extra + ["--set", f"train.seed={seed}", "--set", f"train.threads={threads}",
                                      "--out", str(folder)]


def train_jobs(runs: Path, seeds: list[int], lane: str, pair: str = "paper",
               scores: Path | None = None) -> list[tuple[int, str]]:
    """(seed, arm) left to train, seed by seed: every ``n``-th arm from the ``i``-th (``lane``
    "i/n"); finished runs (a final model or kept scores) are left out, started ones resumed."""
    i, n = (int(x) for x in lane.split("/"))
    extra = [arm for arm in arms(pair) if arm not in ARMS]  # after every seed of the planned arms
    order = [(seed, arm) for seed in seeds for arm in list(ARMS)[i::n]]
    order += [(seed, arm) for arm in extra for seed in seeds[i::n]]
    return [(seed, arm) for seed, arm in order
            if not (final_model(runs, seed, arm, pair) / "model.safetensors").is_file()
            and not scores_file(seed, arm, pair, scores).is_file()]


def train(a) -> None:
    """Train the jobs ``train_jobs`` lists, ``--workers`` at a time (each run on ``--threads``
    threads: on a small CPU two one-thread runs side by side finish sooner than one after the
    other on two)."""
    from concurrent.futures import ThreadPoolExecutor

    seeds = a.seeds or [a.seed]
    jobs = train_jobs(a.runs, seeds, a.lane, a.pair, a.scores)
    print(f"{len(jobs)} run(s) to train: {', '.join(f's{s}-{arm}' for s, arm in jobs) or 'none'}", flush=True)

    def one(job: tuple[int, str]) -> None:
        seed, arm = job
        folder = run_dir(a.runs, seed, arm, a.pair)
        wait_for_live_trainer(folder, f"s{seed}-{arm}")
        if (final_model(a.runs, seed, arm, a.pair) / "model.safetensors").is_file():
            print(f"s{seed} {arm}: finished by the process it waited for", flush=True)
            return
        clear_unstarted(folder)
        print(f"s{seed} {arm}: training into {folder}", flush=True)
        subprocess.run(train_command(folder, arm, seed, a.steps, a.threads, a.pair), cwd=ROOT, check=True)

    with ThreadPoolExecutor(max_workers=max(1, a.workers)) as pool:
        list(pool.map(one, jobs))  # list(): a failed run raises here


def wait_for_live_trainer(folder: Path, name: str, poll_s: float = 30.0) -> None:
    """Wait while another process trains this run (a queue restarted while its runs go on), so
    that no two trainers write one folder."""
    import time

    from eclip.train import runfolder as RF

    pid = RF.live_trainer(folder)
    if pid is not None:
        print(f"{name}: process {pid} is training it; waiting for it to end", flush=True)
    while RF.live_trainer(folder) is not None:
        time.sleep(poll_s)


def clear_unstarted(folder: Path) -> None:
    """Empty the folder of a run that stopped before its first checkpoint (its config, progress
    and exit records describe steps that can no longer be resumed), so it starts afresh."""
    from eclip.train.checkpoints import latest_checkpoint
    from eclip.train.runfolder import CONFIG, EXIT, PROGRESS, TRAINER

    if not folder.is_dir() or latest_checkpoint(folder) is not None:
        return
    for name in (CONFIG, PROGRESS, TRAINER, EXIT):
        (folder / name).unlink(missing_ok=True)


# --------------------------------------------------------------------------- scoring one run
def label_targets(df, labels: list[str]) -> np.ndarray:
    """1 positive, 0 negative; uncertain left out (NaN); a blank is a negative on a labelled
    row and left out on a row without any label (``eclip.evaluate.metrics.binarize_labels``)."""
    from eclip.evaluate.metrics import binarize_labels

    return binarize_labels(df[labels].to_numpy(dtype=np.float64))


def qualifying(y: np.ndarray, min_count: int = MIN_POSITIVES) -> np.ndarray:
    """Label columns with at least ``min_count`` positives and as many negatives."""
    pos, neg = np.nansum(y == 1, axis=0), np.nansum(y == 0, axis=0)
    return (pos >= min_count) & (neg >= min_count)


def probe_scores(emb: np.ndarray, y: np.ndarray, train_rows: np.ndarray, test_rows: np.ndarray) -> np.ndarray:
    """P(positive) per test row and label: logistic probes fitted on ``PROBE_FRACTION`` of the
    train rows, averaged over ``PROBE_SEEDS`` subsamples."""
    from eclip.evaluate.metrics import linear_probe_scores, probe_subsample

    runs = []
    for seed in PROBE_SEEDS:
        sel = train_rows[probe_subsample(len(train_rows), PROBE_FRACTION, seed)]
        runs.append(linear_probe_scores(emb[sel], y[sel], emb[test_rows], seed=seed))
    return np.mean(runs, axis=0)


def zeroshot_scores(lm: LoadedModel, emb: np.ndarray, labels: list[str]) -> np.ndarray:
    """s(positive) - s(negative) of the binary prompt pairs, per row and label column (NaN
    for a label no pair names)."""
    from eclip.model.encode import encode_prompt_sets
    from eclip.model.prompts import load_prompt_set

    ps = load_prompt_set("binary")
    pairs = encode_prompt_sets(lm, [ps])[ps.name]  # [L, 2, D]
    out = np.full((len(emb), len(labels)), np.nan)
    for pair, vec in zip(ps.binary, pairs):
        for lab in pair.labels:
            if lab in labels and np.isnan(out[0, labels.index(lab)]):
                out[:, labels.index(lab)] = emb @ vec[0] - emb @ vec[1]
    return out


def score_run(final: Path, data: Path) -> dict[str, np.ndarray]:
    """Everything the report needs from one run, per item, so intervals can resample."""
    from eclip.data.manifest import label_columns, read_manifest
    from eclip.data.reports import normalized_report
    from eclip.explain.localisation import REPORT_ROW, localisation
    from eclip.index import build_index
    from eclip.model.checkpoint import load_model

    lm = load_model(final)
    df = read_manifest(data)
    idx = build_index(final, data, with_umap=False, lm=lm, progress=False)
    emb = np.asarray(idx.image_emb)[[idx.row_of(str(i)) for i in df["id"]]]
    labels = label_columns(df)
    y = label_targets(df, labels)
    split = df["split"].astype(str).to_numpy()
    train_rows, test_rows = np.flatnonzero(split == "train"), np.flatnonzero(split == "test")
    loc = localisation(lm, data, "test")
    model = loc[loc["who"] == "model"]
    finding, report = model[model["finding"] != REPORT_ROW], model[model["finding"] == REPORT_ROW]
    clusters = [normalized_report(f, i) for f, i in zip(df["findings"].astype(str), df["impression"].astype(str))]
    return {"labels": np.array(labels), "y": y[test_rows], "clusters": np.array(clusters)[test_rows],
            "probe": probe_scores(emb, y, train_rows, test_rows),
            "zeroshot": zeroshot_scores(lm, emb, labels)[test_rows],
            "loc_pointing": finding["pointing"].to_numpy(float), "loc_miou": finding["miou"].to_numpy(float),
            "loc_clusters": finding["cluster"].to_numpy(str),
            "report_pointing": report["pointing"].to_numpy(float), "report_clusters": report["cluster"].to_numpy(str)}


def evaluate(a) -> None:
    for seed in a.seeds:
        for arm in arms(a.pair):
            out, final = scores_file(seed, arm, a.pair, a.scores), final_model(a.runs, seed, arm, a.pair)
            if out.is_file() or not (final / "model.safetensors").is_file():
                continue
            print(f"scoring s{seed}-{arm}", flush=True)
            out.parent.mkdir(parents=True, exist_ok=True)
            tmp = out.with_name(out.stem + ".partial.npz")  # a stopped scoring leaves no half file
            np.savez_compressed(tmp, **score_run(final, Path(a.data)))
            tmp.replace(out)


# --------------------------------------------------------------------------- statistics
def macro_auroc(y: np.ndarray, s: np.ndarray, keep: np.ndarray) -> float:
    from eclip.evaluate.metrics import auroc

    values = []
    for j in np.flatnonzero(keep):
        known = ~np.isnan(y[:, j]) & ~np.isnan(s[:, j])
        values.append(auroc(y[known, j], s[known, j]))
    return float(np.nanmean(values)) if values else float("nan")


def metric(run: dict, name: str, rows: np.ndarray | None = None) -> float:
    """One run's metric over all its items, or over ``rows`` (a resample: indices into the
    metric's own items)."""
    if name in ("probe_auroc", "zeroshot_auroc"):
        y, s = run["y"], run["probe" if name == "probe_auroc" else "zeroshot"]
        keep = qualifying(run["y"])
        return macro_auroc(y if rows is None else y[rows], s if rows is None else s[rows], keep)
    values = {"pointing": run["loc_pointing"], "miou": run["loc_miou"], "pointing_report": run["report_pointing"]}[name]
    return float(np.nanmean(values if rows is None else values[rows]))


def cluster_ids(run: dict, name: str) -> np.ndarray:
    keys = {"pointing": "loc_clusters", "miou": "loc_clusters", "pointing_report": "report_clusters"}
    return run[keys.get(name, "clusters")]


def t_interval(diffs: list[float]) -> tuple[float, float]:
    from scipy import stats

    d = np.asarray(diffs, float)
    if d.size < 2:
        return float("nan"), float("nan")
    half = stats.t.ppf(0.975, d.size - 1) * d.std(ddof=1) / np.sqrt(d.size)
    return float(d.mean() - half), float(d.mean() + half)


def two_level_bootstrap(runs_a: list[dict], runs_b: list[dict], name: str, n_boot: int, seed: int = 0):
    """95 % interval of mean(a - b) resampling seeds, then report clusters within the
    resampled data (the same clusters for both arms of a seed: the items are shared)."""
    rng = np.random.default_rng(seed)
    groups = _cluster_rows(cluster_ids(runs_a[0], name))
    out = []
    for _ in range(n_boot):
        seeds = rng.integers(0, len(runs_a), len(runs_a))
        picked = rng.integers(0, len(groups), len(groups))
        rows = np.concatenate([groups[g] for g in picked])
        out.append(np.mean([metric(runs_a[s], name, rows) - metric(runs_b[s], name, rows) for s in seeds]))
    lo, hi = np.nanpercentile(out, [2.5, 97.5])
    return float(lo), float(hi)


def _cluster_rows(clusters: np.ndarray) -> list[np.ndarray]:
    _, ids = np.unique(clusters, return_inverse=True)
    return [np.flatnonzero(ids == k) for k in range(ids.max() + 1)]


def verdict(t_ci, boot_ci) -> str:
    """Benefit / harm only when both intervals sit on one side of 0."""
    lows, highs = (t_ci[0], boot_ci[0]), (t_ci[1], boot_ci[1])
    if min(lows) > 0:
        return "better"
    if max(highs) < 0:
        return "worse"
    return "no detectable difference"


# --------------------------------------------------------------------------- the report
def load_scores(root: Path, seeds: list[int], which=tuple(ARMS)) -> tuple[dict[str, list[dict]], list[int]]:
    """Arm -> per-seed scores, for the seeds every arm of ``which`` has scored (so all is paired)."""
    paired = [s for s in seeds if all(scores_file(s, arm, root=root).is_file() for arm in which)]
    out: dict[str, list[dict]] = {arm: [] for arm in which}
    for s in paired:
        for arm in which:
            with np.load(scores_file(s, arm, root=root), allow_pickle=False) as z:
                out[arm].append({k: z[k] for k in z.files})
    return out, paired


def contrast(scores: dict[str, list[dict]], a: str, b: str, name: str, n_boot: int) -> dict:
    per_seed = [metric(x, name) - metric(y, name) for x, y in zip(scores[a], scores[b])]
    t_ci = t_interval(per_seed)
    boot = two_level_bootstrap(scores[a], scores[b], name, n_boot)
    return {"per_seed": per_seed, "mean": float(np.mean(per_seed)), "t_ci": t_ci, "bootstrap_ci": boot,
            "verdict": verdict(t_ci, boot)}


def build_report(scores: dict[str, list[dict]], seeds: list[int], n_boot: int,
                 contrasts_of=CONTRASTS, claims: int = 2) -> dict:
    """Arms' means and the paired contrasts; a benefit is claimed on a metric where the first
    ``claims`` contrasts (the arm against CLIP and against random heatmaps) are all "better"."""
    metrics = PRIMARY + SECONDARY
    arms = {arm: {m: [metric(r, m) for r in runs] for m in metrics} for arm, runs in scores.items()}
    contrasts = {f"{a} - {b}": {m: contrast(scores, a, b, m, n_boot) for m in metrics} for a, b in contrasts_of}
    helps = {m: all(contrasts[f"{a} - {b}"][m]["verdict"] == "better" for a, b in contrasts_of[:claims])
             for m in metrics}
    return {"seeds": seeds, "arms": arms, "contrasts": contrasts, "gaze_helps": helps,
            "primary": list(PRIMARY), "secondary": list(SECONDARY)}


def markdown(report: dict) -> str:
    lines = [f"Seeds (paired): {', '.join(map(str, report['seeds']))}\n",
             "| metric | " + " | ".join(f"{arm} (mean over seeds)" for arm in report["arms"]) + " |",
             "|---|" + "---|" * len(report["arms"])]
    for m in (*report["primary"], *report["secondary"]):
        cells = [f"{np.nanmean(v[m]):.3f}" for v in report["arms"].values()]
        lines.append(f"| {m}{' (primary)' if m in report['primary'] else ''} | " + " | ".join(cells) + " |")
    lines += ["", "| contrast | metric | per seed | mean | t 95 % CI | two-level bootstrap 95 % CI | verdict |",
              "|---|---|---|---|---|---|---|"]
    for name, by_metric in report["contrasts"].items():
        for m, c in by_metric.items():
            seeds = " / ".join(f"{d:+.3f}" for d in c["per_seed"])
            lines.append(f"| {name} | {m} | {seeds} | {c['mean']:+.3f} | [{c['t_ci'][0]:+.3f}, {c['t_ci'][1]:+.3f}] "
                         f"| [{c['bootstrap_ci'][0]:+.3f}, {c['bootstrap_ci'][1]:+.3f}] | {c['verdict']} |")
    helps = [m for m, v in report["gaze_helps"].items() if v]
    who = "the gaze prior alone" if "prior" in report["arms"] else "eCLIP"
    lines += ["", f"Gaze helps ({who} better than both CLIP and the random-heatmap control): "
              + (", ".join(helps) if helps else "on no metric")]
    return "\n".join(lines) + "\n"


def heading(pair: str, seeds: list[int]) -> str:
    """What the result file is, where its design was written down, and whether it is complete."""
    from eclip.evaluate.gaze_effect import PLANNED_SEEDS

    which = "the plan's config pair" if pair == "paper" else f"the `{pair}` config pair"
    short = (f" **Provisional: {len(seeds)} of the {PLANNED_SEEDS} planned seeds.**"
             if len(seeds) < PLANNED_SEEDS else "")
    return (f"# Does gaze help on this corpus? The seeds experiment on {which}\n\n"
            "Arms, seeds, metrics and the claim rule were written down before the runs: "
            "[gaze-seeds-plan.md](gaze-seeds-plan.md). Every metric is measured on the report-disjoint "
            "fresh corpus (test cases whose report text no training or choice saw). Written by "
            f"`python benchmarks/gaze_seeds.py report --pair {pair}`.{short}\n\n")


def report(a) -> None:
    scores, seeds = load_scores(a.scores, a.seeds)
    if len(seeds) < 2:
        raise SystemExit(f"report: need at least 2 seeds scored for every arm in {a.scores} "
                         f"(scored: {seeds}); run `train` and `evaluate` first")
    result = build_report(scores, seeds, a.n_boot)
    text = heading(a.pair, seeds) + markdown(result)
    if "prior" in arms(a.pair):  # the fourth arm, on the seeds all four have scored
        scores4, seeds4 = load_scores(a.scores, a.seeds, (*ARMS, "prior"))
        if len(seeds4) >= 2:
            result["prior"] = build_report(scores4, seeds4, a.n_boot, PRIOR_CONTRASTS)
            text += "\n## Gaze as a prior only (no expert images)\n\n" + markdown(result["prior"])
        else:
            text += f"\nThe prior-only arm: {len(seeds4)} seed(s) scored beside the other three; not reported.\n"
    out = Path(a.out or ROOT / "results" / ("gaze-seeds" if a.pair == "paper" else f"gaze-seeds-{a.pair}"))
    out.with_suffix(".json").write_text(json.dumps(result, indent=1))
    out.with_suffix(".md").write_text(text)
    print(text)


# --------------------------------------------------------------------------- where it stands
def run_state(runs: Path, seed: int, arm: str, pair: str, scores: Path) -> str:
    """"scored", "finished" (not scored yet), "step N" (training now), "stopped N" (stopped at
    step N; `train` resumes it from its last checkpoint, or restarts it if it has none), "failed"
    (its trainer ended with an error: the run's exit.json says which) or "-" (not started)."""
    from eclip.train import runfolder as RF

    if scores_file(seed, arm, root=scores).is_file():
        return "scored"
    if (final_model(runs, seed, arm, pair) / "model.safetensors").is_file():
        return "finished"
    folder = run_dir(runs, seed, arm, pair)
    last = last_progress(runs, seed, arm, pair)
    if RF.live_trainer(folder) is not None:
        return f"step {last['step']}" if last else "step 0"
    ended = RF.read_exit(folder)
    if ended is not None and ended.status == RF.RunStatus.FAILED:
        return "failed"
    return f"stopped {last['step']}" if last else "-"


def last_progress(runs: Path, seed: int, arm: str, pair: str) -> dict | None:
    """A run's last progress row (step, eta_s, ...), or None before its first."""
    progress = run_dir(runs, seed, arm, pair) / "progress.jsonl"
    lines = progress.read_text().splitlines() if progress.is_file() else []
    return json.loads(lines[-1]) if lines else None


def time_left(runs: Path, seed: int, arm: str, pair: str) -> str:
    """A training run's own estimate of the time it has left ("~40 min"), or ""."""
    eta = (last_progress(runs, seed, arm, pair) or {}).get("eta_s")
    return f"~{max(1, round(eta / 60))} min" if isinstance(eta, (int, float)) else ""


def state_line(runs: Path, seed: int, arm: str, pair: str, state: str) -> str:
    """What ``status`` adds under its table for one run: a live run's time left, a failed
    run's error, or "" for nothing."""
    from eclip.train import runfolder as RF

    name = f"s{seed}-{arm}"
    if state.startswith("step"):
        left = time_left(runs, seed, arm, pair)
        return f"{name}: {state}, {left} left by its own estimate" if left else ""
    if state == "failed":
        ended = RF.read_exit(run_dir(runs, seed, arm, pair))
        return f"{name}: failed: {ended.message if ended else '?'} (`train` runs it again)"
    return ""


def status(a) -> None:
    """A table of every run of the design, without reading any score."""
    names = list(arms(a.pair))
    table = {arm: [run_state(a.runs, s, arm, a.pair, a.scores) for s in a.seeds] for arm in names}
    print("arm      " + "".join(f"{'s' + str(s):>13}" for s in a.seeds))
    for arm, states in table.items():
        print(f"{arm:<9}" + "".join(f"{x:>13}" for x in states))
    for arm, states in table.items():
        for seed, state in zip(a.seeds, states):
            line = state_line(a.runs, seed, arm, a.pair, state)
            if line:
                print(line)
    done = sum(x == "scored" for v in table.values() for x in v)
    print(f"{done} of {len(names) * len(a.seeds)} runs scored (kept in {a.scores}); "
          "training state lives in runs/, which a fresh working copy does not have")


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    sub = p.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("train", help="train the three arms at one seed (resumable)")
    which = t.add_mutually_exclusive_group(required=True)
    which.add_argument("--seed", type=int)
    which.add_argument("--seeds", type=int, nargs="+", help="these seeds' runs, as one queue")
    t.add_argument("--workers", type=int, default=1, help="runs trained side by side")
    t.add_argument("--lane", default="0/1", help="i/n: train every n-th arm from the i-th (parallel lanes)")
    t.add_argument("--steps", type=int, help="train every arm for this many steps instead of the config's")
    t.add_argument("--threads", type=int, default=1)
    for name, hlp in (("status", "which runs are scored, finished or training (reads no score)"),
                      ("evaluate", "score every finished run on the fresh corpus (cached)"),
                      ("report", "paired contrasts over seeds -> results/gaze-seeds.{json,md}")):
        s = sub.add_parser(name, help=hlp)
        s.add_argument("--seeds", type=int, nargs="+", default=list(range(6)))
        s.add_argument("--data", default="data/demo-fresh", help="the report-disjoint evaluation corpus")
        s.add_argument("--n-boot", type=int, default=1000)
        s.add_argument("--out", help="results/gaze-seeds (paper pair) or results/gaze-seeds-<pair>")
        s.add_argument("--scores", type=Path, help="where per-run scores are kept "
                       "(default results/gaze-seeds[-<pair>]/scores)")
    for s in sub.choices.values():
        s.add_argument("--runs", type=Path, default=ROOT / "runs")
        s.add_argument("--pair", choices=sorted(PAIRS), default="paper",
                       help="the config pair the arms come from (paper: the plan's; runs of "
                            "another pair go to runs/gs-<pair>-s<seed>-<arm>)")
    a = p.parse_args(argv)
    if getattr(a, "scores", None) is None:
        a.scores = scores_dir(a.pair)
    {"train": train, "status": status, "evaluate": evaluate, "report": report}[a.cmd](a)


if __name__ == "__main__":
    main()

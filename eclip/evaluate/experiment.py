"""``python -m eclip.evaluate.experiment``: groups of checkpoints (e.g. CLIP and eCLIP, one
checkpoint per training seed) evaluated on identical items, in one table.

    python -m eclip.evaluate.experiment --data data/demo --out results/experiment.json \\
        --group clip runs/clip-s0 runs/clip-s1 runs/clip-s2 \\
        --group eclip runs/eclip-s0 runs/eclip-s1 runs/eclip-s2

A group's number for a metric is the mean over its checkpoints (training seeds); its 95 %
interval resamples the evaluation items (the same resample scores every checkpoint), and
``sd`` is the spread over seeds. Every other group is compared with the first (or
``--baseline``) by a paired bootstrap of the seed-averaged metric. A run folder may be given
for a checkpoint: its ``final/`` model is used.

Honest headline numbers: choices (model, budget, prompt set) are made on ``validate`` or, for
the shipped pair, were made on ``--data``'s test split, so that split's numbers are
optimistic. ``--fresh-data`` scores every group again on the test split of a corpus built with
another seed (``python -m eclip.data build-demo --n 2000 --seed 1 --out data/demo-fresh``:
reports drawn the same way, new renderings and gaze), which no choice has seen, and
``--update-card`` (one checkpoint per group) writes both into each card, marks the fresh
numbers as the headline and records what the model was selected on (``--selected-on``).
Drawn from the same report pool, a fresh corpus repeats many training reports, so only its
cases whose report uid and normalised text no model saw are scored, and the bootstrap
resamples report clusters (``eclip.evaluate.disjoint``); how many were kept is printed.

Every zero-shot table shows what the data alone scores beside the groups: the majority
class and the train-split label prior (balanced accuracy is the headline: 1/K for a
constant answer), and for prompt pairs the positives' prevalence and counts; a pair's
AUROC needs ``--min-positives`` positives and negatives.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import numpy as np

from eclip.cli import run_command
from eclip.errors import EvaluationError
from eclip.evaluate import disjoint, suite
from eclip.evaluate.card import FRESH_WHY, update_card
from eclip.evaluate.run import Options, result_header, eval_items, load_prompt_sets, model_embeddings
from eclip.evaluate.tables import (fmt, md_row, diff_cell, zero_shot_blocks, zero_shot_metrics,
                                   metric_cells, metric_label, diff_text, write_outputs)

log = logging.getLogger(__name__)


def resolve_checkpoint(path: str | Path) -> Path:
    """A checkpoint folder, or a training run folder holding ``final/``."""
    path = Path(path)
    if (path / "model.safetensors").is_file():
        return path
    if (path / "final" / "model.safetensors").is_file():
        return path / "final"
    raise EvaluationError(f"{path}: neither a checkpoint (model.safetensors) nor a run folder "
                          "with final/model.safetensors; train it to the end or pass the checkpoint")


def _mean_stat(stats: list[suite.Stat]) -> suite.Stat:
    def fn(idx: np.ndarray) -> float:
        vals = [s.fn(idx) for s in stats]
        ok = [v for v in vals if not np.isnan(v)]
        return float(np.mean(ok)) if ok else float("nan")
    return suite.Stat(fn, stats[0].n, stats[0].on)


def run_experiment(groups: dict[str, list[str]], data: str | Path, opts: Options,
                   baseline: str | None = None, keep: np.ndarray | None = None,
                   clusters: np.ndarray | None = None) -> dict:
    """Every group on ``data``'s split; ``keep`` and ``clusters`` (over the manifest's rows,
    see ``run.eval_items``) restrict the evaluated rows and resample clusters of them."""
    if not groups:
        raise EvaluationError("give at least one --group NAME CHECKPOINT [CHECKPOINT ...]")
    baseline = baseline or next(iter(groups))
    if baseline not in groups:
        raise EvaluationError(f"--baseline {baseline!r} is not one of the groups {list(groups)}")
    prompt_sets = load_prompt_sets(opts.prompt_sets)
    items = eval_items(data, prompt_sets, opts, keep, clusters)
    result = {**result_header(data, prompt_sets, opts), "baseline": baseline, "groups": {}, "diff": {},
              "zero_shot": {s: suite.zero_shot_reference(it) for s, it in items.items()}}
    group_stats: dict[str, dict[str, dict[str, suite.Stat]]] = {}
    for gname, ckpts in groups.items():
        members, per_subset = [], {s: [] for s in items}
        for ckpt in ckpts:
            emb, info = model_embeddings(resolve_checkpoint(ckpt), data, prompt_sets, opts)
            members.append(info)
            for sname, it in items.items():
                per_subset[sname].append(suite.statistics(emb, it)[0])
        group_stats[gname] = {}
        result["groups"][gname] = {"checkpoints": members, "subsets": {}}
        for sname, stat_list in per_subset.items():
            names = [n for n in stat_list[0] if all(n in st for st in stat_list)]
            mean_stats = {n: _mean_stat([st[n] for st in stat_list]) for n in names}
            group_stats[gname][sname] = mean_stats
            summary = suite.summarise(mean_stats, opts.n_boot, opts.seed, items[sname].clusters)
            for n in names:
                seeds = [st[n].fn(np.arange(st[n].n)) for st in stat_list]
                summary[n].update(per_seed=seeds, sd=float(np.std(seeds, ddof=1)) if len(seeds) > 1 else 0.0)
            result["groups"][gname]["subsets"][sname] = {"n_images": int(len(items[sname].rows)),
                                                         "metrics": summary}
            if items[sname].clusters is not None:
                result["groups"][gname]["subsets"][sname]["n_clusters"] = int(len(set(items[sname].clusters)))
    for gname in groups:
        if gname != baseline:
            result["diff"][gname] = {s: suite.compare(group_stats[baseline][s], group_stats[gname][s],
                                                      opts.n_boot, opts.seed, items[s].clusters)
                                     for s in items}
    return result


def run_with_fresh(groups: dict[str, list[str]], data: str | Path, opts: Options,
                   baseline: str | None = None, fresh: str | Path | None = None) -> dict:
    """``run_experiment`` on ``data``, and under ``"fresh"`` the same on the fresh corpus's
    report-disjoint cases (``fresh_selection``), bootstrapped by report cluster."""
    if fresh is not None and Path(fresh).resolve() == Path(data).resolve():
        raise EvaluationError(f"--fresh-data {fresh} is the --data corpus itself; build another "
                              "seed: python -m eclip.data build-demo --n 2000 --seed 1 --out data/demo-fresh")
    result = run_experiment(groups, data, opts, baseline)
    if fresh is not None:
        keep, clusters, info = fresh_selection(groups, data, fresh, opts.split)
        result["fresh"] = run_experiment(groups, fresh, opts, baseline, keep, clusters)
        result["fresh"]["disjoint"] = info
    return result


def fresh_selection(groups: dict[str, list[str]], data: str | Path, fresh: str | Path,
                    split: str) -> tuple[np.ndarray, np.ndarray, dict]:
    """The fresh corpus's ``split`` cases whose report (uid or normalised text) is in no
    corpus any group's model was trained or selected on (``data``'s train and validate
    splits, each checkpoint's training corpus found here); their report clusters; and the
    counts, also printed (to stderr, so a quiet run still says it)."""
    ckpts = [resolve_checkpoint(c) for members in groups.values() for c in members]
    seen = disjoint.seen_reports(data, ckpts)
    keep, clusters, counts = disjoint.disjoint_selection(fresh, split, seen)
    text = disjoint.describe(counts, seen, split)
    print(text, file=sys.stderr)
    if counts["kept"] == 0:
        raise EvaluationError(f"--fresh-data {fresh}: {text}; nothing is left to score. Build the "
                              "fresh corpus from reports the models never met")
    return keep, clusters, {**counts, "seen": seen.sources, "summary": text,
                            "bootstrap": "report clusters (cases sharing a normalised report text)"}


def check_one_per_group(groups: dict[str, list[str]]) -> None:
    """A card takes one model's numbers: checked before anything is evaluated."""
    many = [g for g, ckpts in groups.items() if len(ckpts) != 1]
    if many:
        raise EvaluationError(f"--update-card: group(s) {many} have several checkpoints; a card takes "
                              "one model's numbers, so give one checkpoint per group")


def member_result(result: dict, group: str) -> dict:
    """A one-checkpoint group's numbers shaped like ``evaluate()``'s result (for its card)."""
    g = result["groups"][group]
    zero_shot = result.get("zero_shot", {})
    subsets = {s: {**sub, "zero_shot": zero_shot.get(s, {})} for s, sub in g["subsets"].items()}
    return {**{k: result[k] for k in ("data", "split", "created_at")}, "subsets": subsets}


def update_cards(result: dict, selected_on: str, why: str = FRESH_WHY) -> list[Path]:
    """Write each group's numbers (and the fresh corpus's, as the headline) into its card."""

    written = []
    for gname, g in result["groups"].items():
        ckpt = g["checkpoints"][0]["path"]
        update_card(ckpt, member_result(result, gname), selected_on=selected_on)
        if "fresh" in result:
            written.append(update_card(ckpt, member_result(result["fresh"], gname), fresh=True,
                                       selected_on=selected_on, why=why))
        else:
            written.append(Path(ckpt) / "card.json")
    return written


HEADLINE = ("zs/findings/balanced_accuracy", "zs/findings/macro_f1", "zs/chexpert5/balanced_accuracy",
            "zs/chexpert5/macro_f1", "zs/binary/macro_auroc", "retrieval/i2t/R@10",
            "geometry/uniformity_image", "probe/10%/macro_auroc", "probe/100%/macro_auroc")
BASELINE_ROWS = (("majority", "majority class (train split)"), ("prior", "train label prior"))


def headline_table(result: dict, subset: str = "all") -> str:
    """One row per group, a few headline metrics as columns: the group's mean, then its
    paired difference to the baseline with the 95 % interval. Readable with many groups
    (e.g. ablation rows), where the full table gets too wide."""
    base = result["baseline"]
    metrics = [m for m in HEADLINE if m in result["groups"][base]["subsets"][subset]["metrics"]]
    reference = result.get("zero_shot", {}).get(subset, {})
    lines = [md_row(["group", "seeds"] + [metric_label(m, reference) for m in metrics]),
             md_row(["---"] * (len(metrics) + 2))]
    for g, data in result["groups"].items():
        cells = []
        for m in metrics:
            value = fmt(data["subsets"][subset]["metrics"][m]["value"])
            d = result["diff"].get(g, {}).get(subset, {}).get(m)
            cells.append(value if g == base or d is None else f"{value} ({diff_cell(d)})")
        lines.append(md_row([g if g != base else f"{g} (baseline)", str(len(data["checkpoints"]))] + cells))
    values = suite.baseline_values(result.get("zero_shot", {}).get(subset, {}))
    for key, label in BASELINE_ROWS:
        lines.append(md_row([f"*{label}*", "-"] + [fmt(values[m][key]) if m in values else "" for m in metrics]))
    n = result["groups"][base]["subsets"][subset]["n_images"]
    return (f"**headline** ({subset}, n={n} images; mean over seeds, and in brackets the paired difference "
            f"to {base} [95% CI]; the last rows: what the data alone scores, from the labels)\n\n"
            + "\n".join(lines) + "\n")


def experiment_table(result: dict) -> str:
    """The tables of ``--data``, then (with ``--fresh-data``) the same for the fresh corpus."""
    text = corpus_table(result)
    if "fresh" in result:
        fresh = result["fresh"]
        why = fresh.get("disjoint", {})
        kept = (f"{why['summary']}. Intervals resample report clusters.\n\n" if why else "")
        text = (f"## {result['data']['path']} ({result['split']} split; choices may have seen it)\n\n{text}\n"
                f"## fresh corpus {fresh['data']['path']} ({fresh['split']} split; no choice saw it)\n\n"
                + kept + corpus_table(fresh))
    return text


def corpus_table(result: dict) -> str:
    """A headline table, then per subset: the zero-shot blocks with their baselines
    (``tables.zero_shot_blocks``) and the other metrics: each group's mean [95% CI] (sd over
    seeds), and the difference to the baseline."""
    base = result["baseline"]
    others = [g for g in result["groups"] if g != base]
    blocks = [headline_table(result)]
    for sname, sub in result["groups"][base]["subsets"].items():
        k = {g: len(result["groups"][g]["checkpoints"]) for g in result["groups"]}
        reference = result.get("zero_shot", {}).get(sname, {})
        columns = [(f"{g} (seeds={k[g]})", metric_cells(result["groups"][g]["subsets"][sname]["metrics"],
                                                  lambda m: f" ({fmt(m['sd'])})")) for g in result["groups"]]
        columns += [(f"{g} - {base}", lambda m, d=result["diff"][g][sname]: diff_text(d.get(m))) for g in others]
        zs = zero_shot_blocks(reference, columns, sname)
        if zs:
            blocks.append(zs)
        covered = zero_shot_metrics(reference)
        head = ["metric"] + [h for h, _ in columns]
        lines = [f"**{sname}** (n={sub['n_images']} images; mean over seeds [95% CI] (sd))\n",
                 md_row(head), md_row(["---"] * len(head))]
        for metric in sub["metrics"]:
            if metric not in covered:
                lines.append(md_row([metric] + [fn(metric) for _, fn in columns]))
        blocks.append("\n".join(lines) + "\n")
    return "\n".join(blocks)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m eclip.evaluate.experiment", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--group", nargs="+", action="append", required=True, metavar="NAME CKPT",
                   help="a group name followed by its checkpoints or run folders (one per seed)")
    p.add_argument("--baseline", default=None, help="group the others are compared with (default: first)")
    p.add_argument("--data", required=True)
    p.add_argument("--split", default="test")
    p.add_argument("--out", required=True, help="result JSON; the Markdown table goes next to it (.md)")
    p.add_argument("--prompts", nargs="*", default=[])
    p.add_argument("--n-boot", type=int, default=1000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--probe-seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--device", default="cpu")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--cache", default=None)
    p.add_argument("--min-positives", type=int, default=suite.MIN_POSITIVES, metavar="N",
                   help="a prompt pair's AUROC is shown only with N positives and N negatives (default %(default)s)")
    p.add_argument("--missing-labels", choices=("labelled", "exclude", "negative"), default="labelled",
                   help="a blank (not mentioned) label: a negative on a row with any label, left out on a "
                        "row without labels (labelled, default); always left out (exclude); always a "
                        "negative (negative). See eclip.evaluate.targets")
    p.add_argument("--fresh-data", default=None, metavar="DIR",
                   help="also score every group on this corpus (another build seed), which no choice saw: "
                        "only its cases whose report no model met, bootstrapped by report cluster")
    p.add_argument("--update-card", action="store_true",
                   help="write the numbers into each checkpoint's card.json (one checkpoint per group); "
                        "with --fresh-data the fresh corpus's numbers become the card's headline")
    p.add_argument("--selected-on", default="",
                   help="with --update-card: what the model was chosen on, recorded in its card")
    p.add_argument("--headline-why", default=FRESH_WHY,
                   help="with --update-card and --fresh-data: why the fresh numbers are the headline "
                        "(say so when a decision read that corpus)")
    p.add_argument("--quiet", action="store_true")
    args = p.parse_args(argv)
    if args.update_card and not args.selected_on:
        p.error("--update-card needs --selected-on TEXT (what the model was chosen on, e.g. "
                "'validate split, zero-shot 9-finding accuracy')")
    logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO,
                        format="%(levelname)s %(name)s: %(message)s")
    groups = {}
    for g in args.group:
        if len(g) < 2:
            p.error(f"--group {g[0]} needs at least one checkpoint")
        groups[g[0]] = g[1:]
    opts = Options(split=args.split, prompt_sets=tuple(args.prompts), n_boot=args.n_boot,
                   seed=args.seed, probe_seeds=tuple(args.probe_seeds), batch_size=args.batch_size,
                   device=args.device, cache=args.cache, progress=not args.quiet,
                   min_positives=args.min_positives, missing=args.missing_labels)
    return run_command(lambda: _run(args, groups, opts))


def _run(args: argparse.Namespace, groups: dict[str, list[str]], opts: Options) -> int:
    if args.update_card:
        check_one_per_group(groups)
    result = run_with_fresh(groups, args.data, opts, args.baseline, args.fresh_data)
    if args.update_card:
        update_cards(result, args.selected_on, args.headline_why)
    write_outputs(Path(args.out), result, experiment_table(result), args.quiet)
    return 0


if __name__ == "__main__":
    sys.exit(main())

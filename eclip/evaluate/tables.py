"""Markdown tables for evaluation results (one model, or a paired comparison).

Every zero-shot prompt set gets its own block with what the data alone scores beside the
model: the majority class and the train-split label prior for multiclass sets (balanced
accuracy first), and for prompt pairs each label's positives, negatives and prevalence,
the constant score's AUROC 0.5 and the majority answer's accuracy; an AUROC is shown only
where the label has enough positives and negatives (``--min-positives``). The linear probe
gets a block of its labels' counts too: its macro AUROC follows the same rule.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path

from eclip.io import atomic_write_text

Column = tuple[str, Callable[[str], str]]  # header, metric name -> cell text


def fmt(x: float) -> str:
    return "n/a" if _nan(x) else f"{x:.3f}"


def cell(m: dict) -> str:
    """``0.512 [0.470, 0.551]`` from a bootstrap summary."""
    return f"{fmt(m['value'])} [{fmt(m['ci_low'])}, {fmt(m['ci_high'])}]"


def diff_cell(d: dict) -> str:
    sign = "+" if d["diff"] >= 0 else ""
    return f"{sign}{d['diff']:.3f} [{fmt(d['ci_low'])}, {fmt(d['ci_high'])}]"


def _metric_names(subsets: dict) -> list[str]:
    names: list[str] = []
    for sub in subsets.values():
        names += [n for n in sub["metrics"] if n not in names]
    return names


def caveat_lines(*results: dict) -> str:
    """A header line per model trained on simulated films (its card's caveat), so that no
    table of its numbers travels without it; "" when no model is."""
    lines = [f"> **Model caveat ({r['checkpoint']['name']}):** {r['checkpoint']['model_caveat']}\n"
             for r in results if r.get("checkpoint", {}).get("model_caveat")]
    return "\n".join(lines) + "\n" if lines else ""


def single_table(result: dict) -> str:
    """The zero-shot blocks of each subset with their baselines, then the other metrics:
    rows = metrics, one column per subset (all, gaze) with n in the header."""
    subsets = result["subsets"]
    blocks = [zero_shot_blocks(sub.get("zero_shot", {}), [("model", metric_cells(sub["metrics"]))], name)
              for name, sub in subsets.items()]
    blocks += [probe_block(sub.get("details", {}).get("probe", {}), name) for name, sub in subsets.items()]
    covered = {m for sub in subsets.values() for m in zero_shot_metrics(sub.get("zero_shot", {}))}
    head = ["metric"] + [f"{name} (n={sub['n_images']})" for name, sub in subsets.items()]
    lines = [md_row(head), md_row(["---"] * len(head))]
    for metric in _metric_names(subsets):
        if metric in covered:
            continue
        cells = [cell(sub["metrics"][metric]) if metric in sub["metrics"] else "" for sub in subsets.values()]
        lines.append(md_row([metric] + cells))
    lines += notes_below(subsets)
    return caveat_lines(result) + "\n".join([b for b in blocks if b] + ["\n".join(lines) + "\n"])


def metric_cells(metrics: dict, extra: Callable[[dict], str] | None = None) -> Callable[[str], str]:
    def fn(metric: str) -> str:
        m = metrics.get(metric)
        return "" if m is None else cell(m) + (extra(m) if extra else "")
    return fn


def compare_table(result: dict) -> str:
    """One block per subset: A, B, B - A with its paired interval and p-value (the
    zero-shot metrics in their blocks with the baselines)."""
    caveats = caveat_lines(result["a"], result["b"])
    out = [caveats] if caveats else []
    a_name, b_name = result["a"]["checkpoint"]["name"], result["b"]["checkpoint"]["name"]
    for subset, diffs in result["diff"].items():
        n = result["a"]["subsets"][subset]["n_images"]
        reference = result["a"]["subsets"][subset].get("zero_shot", {})
        out.append(f"**{subset}** (n={n} images)\n")
        columns = [(f"A: {a_name}", metric_cells(result["a"]["subsets"][subset]["metrics"])),
                   (f"B: {b_name}", metric_cells(result["b"]["subsets"][subset]["metrics"])),
                   ("B - A [95% CI]", lambda m, d=diffs: diff_text(d.get(m)))]
        zs = zero_shot_blocks(reference, columns, subset)
        if zs:
            out.append(zs)
        probe = probe_block(result["a"]["subsets"][subset].get("details", {}).get("probe", {}), subset)
        if probe:
            out.append(probe)
        covered = zero_shot_metrics(reference)
        head = ["metric", f"A: {a_name}", f"B: {b_name}", "B - A [95% CI]", "p"]
        lines = [md_row(head), md_row(["---"] * len(head))]
        for metric, d in diffs.items():
            if metric in covered:
                continue
            a = result["a"]["subsets"][subset]["metrics"][metric]
            b = result["b"]["subsets"][subset]["metrics"][metric]
            lines.append(md_row([metric, cell(a), cell(b), diff_cell(d), f"{d['p_value']:.3f}"]))
        lines += notes_below({subset: result["a"]["subsets"][subset]})
        out.append("\n".join(lines) + "\n")
    return "\n".join(out)


def notes_below(subsets: dict) -> list[str]:
    """Lines to put under a table: each subset's notes on its numbers (a small retrieval
    gallery, ``suite.small_gallery_note``) and what was not computed and why (no retrieval
    with one distinct report, no probe without train rows; a zero-shot set's own block says
    why it has no AUROC), after a blank line that ends the table."""
    notes = [f"Note ({name}): {sub['details']['retrieval']['note']}." for name, sub in subsets.items()
             if sub.get("details", {}).get("retrieval", {}).get("note")]
    notes += [f"Not computed ({name}): {why}." for name, sub in subsets.items()
              for why in sub.get("details", {}).get("skipped", []) if not why.startswith("zs/")]
    return ["", *notes] if notes else []


def diff_text(d: dict | None) -> str:
    return f"{diff_cell(d)} p={d['p_value']:.3f}" if d else ""


# --------------------------------------------------------------------------- zero-shot blocks
def zero_shot_metrics(reference: dict) -> set[str]:
    """The metric names the zero-shot blocks of ``reference`` show."""
    names = set()
    for ps_name, ref in reference.items():
        base = f"zs/{ps_name}"
        if ref["task"] == "multiclass":
            names |= {f"{base}/{m}" for m in MULTICLASS_ROWS}
        else:
            names |= {f"{base}/macro_auroc"} | {f"{base}/{_key(lab['name'])}/auroc" for lab in ref["labels"]}
    return names


MULTICLASS_ROWS = ("balanced_accuracy", "macro_f1", "accuracy")  # headline first


def zero_shot_blocks(reference: dict, columns: list[Column], subset: str) -> str:
    """One Markdown block per prompt set of a subset's ``zero_shot`` reference
    (``suite.zero_shot_reference``), with ``columns`` of model numbers beside the baselines."""
    blocks = []
    multiclass_first = sorted(reference.items(), key=lambda kv: kv[1]["task"] != "multiclass")
    for ps_name, ref in multiclass_first:
        block = _multiclass_block if ref["task"] == "multiclass" else _binary_block
        blocks.append(block(f"zs/{ps_name}", ref, columns, subset))
    return "\n".join(blocks)


def _multiclass_block(name: str, ref: dict, columns: list[Column], subset: str) -> str:
    base = ref["baselines"]
    prior_from = "train split" if ref.get("prior_from") == "train" else ref.get("prior_from", "")
    title = (f"**{name}** ({subset}: {ref['n']} images with exactly one of its {len(ref['classes'])} classes, "
             f"{ref['classes_present']} present; baselines from the {prior_from}'s label prior "
             f"(n={ref['n_prior']}): the majority class answers {ref['majority_class']!r} for every image, "
             "the prior baseline draws each class with its prior probability (expected value); "
             "balanced accuracy = mean recall per class, so a constant answer scores 1/K)\n")
    head = ["metric"] + [h for h, _ in columns] + [f"majority: {ref['majority_class']}", "train label prior"]
    lines = [md_row(head), md_row(["---"] * len(head))]
    for m in MULTICLASS_ROWS:
        metric = f"{name}/{m}"
        b = base.get(metric, {})
        lines.append(md_row([metric] + [fn(metric) for _, fn in columns]
                            + [fmt(b.get("majority")), fmt(b.get("prior"))]))
    return title + "\n" + "\n".join(lines) + "\n"


# what a blank (not mentioned) label was, per --missing-labels (eclip.evaluate.targets)
BLANKS = {"labelled": "blank labels negative on films with any label, films without labels left out",
          "exclude": "blank labels left out",
          "negative": "blank labels counted as negatives"}


def _binary_block(name: str, ref: dict, columns: list[Column], subset: str) -> str:
    title = (f"**{name}** ({subset}: AUROC only for labels with at least {ref['min_positives']} positives "
             f"and {ref['min_positives']} negatives: {ref['n_scored']} of {ref['n_labels']}; "
             f"{BLANKS.get(ref.get('missing', 'exclude'), BLANKS['labelled'])}, "
             "uncertain left out; a constant score has AUROC 0.500; majority answer from the train "
             "prevalence)\n")
    head = ["label", "n_pos", "n_neg", "prevalence"] + [h for h, _ in columns] \
        + ["constant score", "majority answer (accuracy)"]
    lines = [md_row(head), md_row(["---"] * len(head))]
    for lab in ref["labels"]:
        metric = f"{name}/{_key(lab['name'])}/auroc"
        cells = [fn(metric) for _, fn in columns] if lab["scored"] else [lab["why"]] * len(columns)
        answer = "n/a" if _nan(lab["majority_accuracy"]) else \
            f"{lab['majority_answer']} ({fmt(lab['majority_accuracy'])})"
        lines.append(md_row([lab["name"], str(lab["n_pos"]), str(lab["n_neg"]), fmt(lab["prevalence"])]
                            + cells + ["0.500" if lab["scored"] else "", answer]))
    metric = f"{name}/macro_auroc"
    scored = ref["n_scored"]
    cells = [fn(metric) for _, fn in columns] if scored else ["n/a (no label qualifies)"] * len(columns)
    lines.append(md_row([f"macro AUROC ({scored} of {ref['n_labels']} labels)", "", "", ""] + cells
                        + ["0.500" if scored else "", ""]))
    return title + "\n" + "\n".join(lines) + "\n"


def probe_block(probe: dict, subset: str) -> str:
    """The linear probe's labels with their positives and negatives among the evaluated rows
    and whether each enters the probe's macro AUROC (``details["probe"]``, ``suite._probe``);
    "" for a result without counts (written before they were kept, or no probe)."""
    counts = probe.get("counts")
    if not counts:
        return ""
    k = probe["min_positives"]
    title = (f"**probe** ({subset}: a logistic regression per label on the train split's image "
             f"embeddings; its macro AUROC averages the labels with at least {k} positives and {k} "
             f"negatives among the evaluated rows: {probe['n_scored']} of {probe['n_labels']})\n")
    lines = [md_row(["label", "n_pos", "n_neg", "in the macro AUROC"]), md_row(["---"] * 4)]
    lines += [md_row([c["name"], str(c["n_pos"]), str(c["n_neg"]), "yes" if c["scored"] else c["why"]])
              for c in counts]
    return title + "\n" + "\n".join(lines) + "\n"


def metric_label(metric: str, reference: dict) -> str:
    """A metric's name for a column header; a prompt set's macro AUROC says over how many of
    its labels it averages ("zs/binary/macro_auroc (7 of 9 labels)")."""
    parts = metric.split("/")
    ref = reference.get(parts[1]) if len(parts) == 3 and parts[0] == "zs" else None
    if ref and ref["task"] == "binary" and parts[2] == "macro_auroc":
        return f"{metric} ({ref['n_scored']} of {ref['n_labels']} labels)"
    return metric


def _nan(x) -> bool:
    return x is None or (isinstance(x, float) and math.isnan(x))


def _key(label_name: str) -> str:
    """A label's name as it appears in metric names (``zs/binary/Consolidation-Opacity/auroc``)."""
    return label_name.replace("/", "-")


def md_row(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def report_table(metrics: dict, label: str = "") -> str:
    """Generated-report metrics as a two-column table."""
    title = f"\n**report generation{' ' + label if label else ''}** ({metrics.get('backend')}, " \
            f"n={metrics.get('n')})\n\n"
    lines = [md_row(["metric", "value"]), md_row(["---", "---"])]
    for k, v in metrics.items():
        if isinstance(v, float):
            lines.append(md_row([k, fmt(v)]))
    return title + "\n".join(lines) + "\n"


def to_json(obj) -> str:
    """Strict JSON: NaN/inf (undefined metrics) become null."""
    def clean(x):
        if isinstance(x, float) and not math.isfinite(x):
            return None
        if isinstance(x, dict):
            return {k: clean(v) for k, v in x.items()}
        if isinstance(x, (list, tuple)):
            return [clean(v) for v in x]
        return x
    return json.dumps(clean(obj), indent=1, allow_nan=False)


def write_outputs(out: Path, result: dict, table: str, quiet: bool) -> None:
    """The JSON result and its Markdown table next to it (``.md``), both atomically."""
    atomic_write_text(out, to_json(result) + "\n")
    atomic_write_text(out.with_suffix(".md"), table)
    if not quiet:
        print(table)
    print(f"wrote {out} and {out.with_suffix('.md')}")

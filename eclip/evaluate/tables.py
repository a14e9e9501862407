"""Markdown tables for evaluation results (one model, or a paired comparison)."""

from __future__ import annotations

import math


def fmt(x: float) -> str:
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.3f}"


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


def single_table(result: dict) -> str:
    """Rows = metrics; one column per subset (all, gaze) with n in the header."""
    subsets = result["subsets"]
    head = ["metric"] + [f"{name} (n={sub['n_images']})" for name, sub in subsets.items()]
    lines = [md_row(head), md_row(["---"] * len(head))]
    for metric in _metric_names(subsets):
        cells = [cell(sub["metrics"][metric]) if metric in sub["metrics"] else "" for sub in subsets.values()]
        lines.append(md_row([metric] + cells))
    return "\n".join(lines) + "\n"


def compare_table(result: dict) -> str:
    """One block per subset: A, B, B - A with its paired interval and p-value."""
    out = []
    a_name, b_name = result["a"]["checkpoint"]["name"], result["b"]["checkpoint"]["name"]
    for subset, diffs in result["diff"].items():
        n = result["a"]["subsets"][subset]["n_images"]
        out.append(f"**{subset}** (n={n} images)\n")
        head = ["metric", f"A: {a_name}", f"B: {b_name}", "B - A [95% CI]", "p"]
        lines = [md_row(head), md_row(["---"] * len(head))]
        for metric, d in diffs.items():
            a = result["a"]["subsets"][subset]["metrics"][metric]
            b = result["b"]["subsets"][subset]["metrics"][metric]
            lines.append(md_row([metric, cell(a), cell(b), diff_cell(d), f"{d['p_value']:.3f}"]))
        out.append("\n".join(lines) + "\n")
    return "\n".join(out)


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

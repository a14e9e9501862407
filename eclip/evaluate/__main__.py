"""``python -m eclip.evaluate``: every metric of a checkpoint (or a pair) with 95 % intervals.

Writes FILE.json (every number) and FILE.md (the Markdown table, also printed)."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from eclip.cli import run_command
from eclip.evaluate import tables
from eclip.evaluate.card import update_card
from eclip.evaluate.run import Options, evaluate, evaluate_pair
from eclip.evaluate.suite import MIN_POSITIVES
from eclip.evaluate.tables import write_outputs
from eclip.report.metrics.runner import evaluate_reports


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m eclip.evaluate",
        description="Zero-shot, retrieval, geometry and linear-probe metrics with bootstrap 95%% "
                    "intervals, evaluated through the embedding index (built when missing).")
    who = p.add_mutually_exclusive_group(required=True)
    who.add_argument("--checkpoint", help="checkpoint folder to evaluate")
    who.add_argument("--compare", nargs=2, metavar=("A", "B"),
                     help="two checkpoint folders: evaluated on identical items, B - A with paired bootstrap")
    p.add_argument("--data", required=True, help="dataset folder with manifest.csv")
    p.add_argument("--split", default="test", help="split evaluated (default test); the probe trains on 'train'")
    p.add_argument("--out", required=True, help="result JSON file; the Markdown table goes next to it (.md)")
    p.add_argument("--prompts", nargs="*", default=[],
                   help="prompt sets (names in eclip/assets/prompts or JSON paths); default: all of them")
    p.add_argument("--n-boot", type=int, default=1000, help="bootstrap resamples (default 1000)")
    p.add_argument("--seed", type=int, default=0, help="bootstrap seed")
    p.add_argument("--probe-seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--probe-fractions", type=float, nargs="+", default=[0.01, 0.1, 1.0])
    p.add_argument("--min-positives", type=int, default=MIN_POSITIVES, metavar="N",
                   help="a prompt pair's AUROC is shown only with N positives and N negatives; the "
                        "macro AUROC averages those labels (default %(default)s)")
    p.add_argument("--missing-labels", choices=("labelled", "exclude", "negative"), default="labelled",
                   help="a blank (not mentioned) label: a negative on a row with any label, left out on a "
                        "row without labels (labelled, default); always left out (exclude); always a "
                        "negative (negative). See eclip.evaluate.targets")
    p.add_argument("--batch-size", type=int, default=32, help="batch size when the index must be built")
    p.add_argument("--device", default="cpu", help="cpu | cuda | cuda:N")
    p.add_argument("--precision", choices=("auto", "fp32", "bf16"), default=None,
                   help="arithmetic of the index embeddings (default auto or $ECLIP_PRECISION; "
                        "eclip.model.precision)")
    p.add_argument("--cache", default=None,
                   help="index cache root (default $ECLIP_INDEX_DIR or .cache/index in the repository)")
    p.add_argument("--reports", metavar="BACKEND", default=None,
                   choices=["retrieval", "embedded", "ollama", "auto"],
                   help="also draft a report per image with this backend and score it (BLEU-2, "
                        "ROUGE-L, MiniLM cosine, finding F1; eclip.report.metrics)")
    p.add_argument("--update-card", action="store_true",
                   help="also write the headline numbers (with 95%% CIs) into each checkpoint's card.json")
    p.add_argument("--reports-limit", type=int, default=None, help="draft only the first N images")
    p.add_argument("--quiet", action="store_true", help="no progress bars or table on stdout")
    return p


def _reports(checkpoint: str, args) -> dict:
    """Report-generation metrics (no intervals: one draft per image, scored as a corpus)."""
    metrics, _ = evaluate_reports(checkpoint, args.data, args.split, backend=args.reports,
                                  limit=args.reports_limit, progress=not args.quiet,
                                  cache_root=args.cache)
    return metrics


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO,
                        format="%(levelname)s %(name)s: %(message)s")
    return run_command(lambda: _run(args))


def _run(args: argparse.Namespace) -> int:
    opts = Options(split=args.split, prompt_sets=tuple(args.prompts), n_boot=args.n_boot,
                   seed=args.seed, probe_seeds=tuple(args.probe_seeds),
                   probe_fractions=tuple(args.probe_fractions), batch_size=args.batch_size,
                   device=args.device, cache=args.cache, progress=not args.quiet,
                   precision=args.precision, min_positives=args.min_positives,
                   missing=args.missing_labels)
    if args.compare:
        result = evaluate_pair(args.compare[0], args.compare[1], args.data, opts)
        table = tables.compare_table(result)
        if args.reports:
            for key, ckpt in zip("ab", args.compare):
                result[key]["report_generation"] = _reports(ckpt, args)
                table += tables.report_table(result[key]["report_generation"], key.upper())
    else:
        result = evaluate(args.checkpoint, args.data, opts)
        table = tables.single_table(result)
        if args.reports:
            result["report_generation"] = _reports(args.checkpoint, args)
            table += tables.report_table(result["report_generation"])
    if args.update_card:
        pairs = zip(args.compare, (result["a"], result["b"])) if args.compare else \
            [(args.checkpoint, result)]
        for ckpt, res in pairs:
            update_card(ckpt, res)
    write_outputs(Path(args.out), result, table, args.quiet)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""``python -m eclip.report.metrics --checkpoint DIR --data DIR --backend retrieval embedded``
drafts every test image with each backend from one shared retrieval context and scores
them (a column per backend with ``--markdown``); ``add_arguments``/``run`` let the main
evaluate CLI offer the same as ``--reports``.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from eclip.cli import run_command
from eclip.errors import EvaluationError
from eclip.report.backends import CHOICES
from eclip.report.metrics.runner import evaluate_backends, parse_backend
from eclip.report.metrics.table import markdown_table


def add_arguments(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The options of the report evaluation (for this module's CLI and `eclip.evaluate`)."""
    p.add_argument("--checkpoint", required=True, help="checkpoint folder")
    p.add_argument("--data", required=True, help="dataset folder with manifest.csv")
    p.add_argument("--split", default="test")
    p.add_argument("--backend", nargs="+", default=["retrieval"], metavar="BACKEND[:MODEL]",
                   help="one or more of auto, ollama, embedded, retrieval; 'embedded:gemma3-270m' or "
                        "'ollama:llama3.2:1b' pick a model. Several are compared on the same "
                        "retrieval context per image.")
    p.add_argument("--ollama-host")
    p.add_argument("--model", dest="llm_model", help="Ollama model name")
    p.add_argument("--max-new-tokens", type=int, default=200)
    p.add_argument("--limit", type=int, help="first N images of the split")
    p.add_argument("--no-embeddings", action="store_true", help="skip the MiniLM cosine")
    p.add_argument("--out", help="write metrics + per-report drafts to this JSON file")
    p.add_argument("--markdown", help="also write the metrics table (a column per backend) to this file")
    return p


def _check_specs(specs: list[str]) -> None:
    unknown = [s for s in specs if parse_backend(s)[0] not in CHOICES]
    if unknown:
        raise EvaluationError(f"Unknown backend(s) {unknown}: use {', '.join(CHOICES)}, optionally "
                              "with ':MODEL' (e.g. embedded:gemma3-270m).")


def run(args: argparse.Namespace) -> int:
    """Run the report evaluation for parsed ``args``; prints JSON metrics (one object for
    one backend, else one per backend) and a Markdown table. Exit code."""
    specs = list(dict.fromkeys(args.backend if isinstance(args.backend, list) else [args.backend]))
    _check_specs(specs)
    options = {"host": args.ollama_host, "model": args.llm_model, "max_new_tokens": args.max_new_tokens}
    results, table = evaluate_backends(args.checkpoint, args.data, args.split, backends=specs,
                                       limit=args.limit, options=options,
                                       embeddings=not args.no_embeddings)
    metrics = results[specs[0]] if len(specs) == 1 else results
    print(json.dumps(metrics, indent=1))
    print(markdown_table(results), file=sys.stderr)
    if args.markdown:
        Path(args.markdown).write_text(markdown_table(results) + "\n", encoding="utf-8")
    if args.out:
        Path(args.out).write_text(json.dumps({"metrics": metrics, "reports": table.to_dict("records")},
                                             indent=1), encoding="utf-8")
    return 0


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    p = argparse.ArgumentParser(prog="python -m eclip.report.metrics",
                                description="Draft reports for a split and score them: BLEU-1..4, ROUGE-L, "
                                            "MiniLM cosine, finding-level F1, agreement with the zero-shot "
                                            "evidence, and speed, per backend.")
    args = add_arguments(p).parse_args(argv)
    return run_command(lambda: run(args))


if __name__ == "__main__":
    sys.exit(main())

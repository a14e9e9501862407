"""Command line: stream a draft report for one image to stdout.

    python -m eclip.report --checkpoint DIR --image FILE [--data DIR] [--backend auto]
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from eclip.cli import run_command
from eclip.data.images import load_image, to_working
from eclip.data.manifest import read_manifest
from eclip.errors import EclipError, ReportGenerationError
from eclip.model.checkpoint import LoadedModel, load_model
from eclip.report.api import draft_for_pixels, open_index
from eclip.report.backends import CHOICES
from eclip.report.context import build_context
from eclip.report.evidence import check_draft
from eclip.report.settings import load_settings


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m eclip.report",
        description="Draft the FINDINGS of a chest X-ray from retrieved similar reports and a "
                    "frozen LLM. Output is a draft — not a diagnosis.")
    p.add_argument("--checkpoint", required=True, help="checkpoint folder (model.safetensors, config.json)")
    p.add_argument("--image", required=True, help="DICOM, PNG or JPEG file")
    p.add_argument("--data", help="dataset folder whose training reports are retrieved "
                                  "(default: the dataset the checkpoint was trained on)")
    p.add_argument("--config", help="TOML file with a [report] table (see eclip/report/settings.py)")
    p.add_argument("--backend", choices=CHOICES,
                   help="auto (default) = Ollama if its server answers with the model pulled, else embedded; "
                        "or set ECLIP_REPORT_BACKEND")
    p.add_argument("--fallback", choices=[c for c in CHOICES if c != "auto"],
                   help="backend to use when the chosen one fails before its first token")
    p.add_argument("--ollama-host", help="Ollama server URL (default $OLLAMA_HOST or http://127.0.0.1:11434)")
    p.add_argument("--model", help="Ollama model name (default mistral:7b-instruct, or $ECLIP_OLLAMA_MODEL)")
    p.add_argument("--ollama-api", choices=["chat", "generate"], help="Ollama endpoint (default chat)")
    p.add_argument("--read-timeout", type=float, help="seconds to wait for Ollama tokens (default 300)")
    p.add_argument("--max-new-tokens", type=int, help="default 200")
    p.add_argument("--k", type=int, help="report texts retrieved, capped by the training split (default 100)")
    p.add_argument("--clusters", type=int, help="KMeans groups = terms in the prompt (default 5)")
    p.add_argument("--seed", type=int, help="default 0")
    p.add_argument("--show-prompt", action="store_true", help="print the prompt to stderr first")
    p.add_argument("--json", dest="json_out", help="also write text + provenance, and the draft's checks (evidence: "
                   "disagreements with the zero-shot findings, repetition, laterality), to this JSON file")
    p.add_argument("-v", "--verbose", action="store_true")
    return p


def _default_data(lm: LoadedModel, checkpoint: str) -> str:
    root = (lm.config.get("data") or {}).get("root", "")
    if not root or not (Path(root) / "manifest.csv").is_file():
        raise ReportGenerationError(
            f"No --data given and the dataset the checkpoint {checkpoint} was trained on "
            f"('{root or 'unknown'}') is not available: pass --data DIR (a dataset folder with "
            "manifest.csv whose training split provides the reports to retrieve).")
    return root


def run(args: argparse.Namespace) -> int:
    settings = load_settings(args.config).updated(
        backend=args.backend, fallback=args.fallback, host=args.ollama_host, model=args.model,
        api=args.ollama_api, read_timeout=args.read_timeout, max_new_tokens=args.max_new_tokens,
        k=args.k, n_clusters=args.clusters, seed=args.seed)
    lm = load_model(args.checkpoint)
    data = args.data or _default_data(lm, args.checkpoint)
    pixels = to_working(load_image(args.image).pixels)
    index = open_index(args.checkpoint, data, lm=lm)
    manifest = read_manifest(data)
    context = build_context(lm, index, manifest, pixels, k=settings.k, n_clusters=settings.n_clusters,
                            seed=settings.seed)
    stream = draft_for_pixels(lm, index, manifest, pixels, backend=settings.backend,
                              fallback=settings.fallback, k=settings.k, n_clusters=settings.n_clusters,
                              seed=settings.seed, options=settings.options(), context=context)
    if settings.backend == "auto":
        print(f"note: {stream.selection.reason}", file=sys.stderr)
    if args.show_prompt:
        print(json.dumps(stream.prompt.messages(), indent=1), file=sys.stderr)
    print(header_lines(stream.provenance), flush=True)
    try:
        for piece in stream:
            sys.stdout.write(piece)
            sys.stdout.flush()
    except EclipError:
        print()  # end the half-written draft's line: the error goes on a line of its own
        raise
    if args.json_out:
        out = {"text": stream.text, "provenance": stream.provenance.as_dict(),
               "model_caveat": stream.provenance.model_caveat, "typicality": stream.provenance.typicality,
               "terms": list(stream.prompt.terms), "findings": [list(f) for f in stream.prompt.findings],
               "calibration": context.calibration,
               "evidence": check_draft(stream.text, context.zero_shot).as_dict()}
        Path(args.json_out).write_text(json.dumps(out, indent=1), encoding="utf-8")
    return 0


def header_lines(provenance) -> str:
    """Before the draft, what it must be read with: the model's caveat (trained on simulated
    films) and how typical the image is of the model's training images."""
    lines = [f"MODEL CAVEAT: {provenance.model_caveat}"] if provenance.model_caveat else []
    return "\n".join(lines + [f"typicality of this image: {provenance.typicality or 'unavailable'}"])


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    return run_command(lambda: run(args))


if __name__ == "__main__":
    sys.exit(main())

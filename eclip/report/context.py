"""Retrieval context for a draft, following the eCLIP paper's recipe.

The image embedding fetches the ``k`` (default 100) nearest report texts among the
training split's unique reports; KMeans (K = 5, seeded) groups those texts' embeddings and
the text nearest each centre becomes one numbered term of the prompt, largest group first.
Zero-shot finding probabilities (CheXzero-style positive/negative prompt pairs) are added,
calibrated on the dataset's validate split where the index has a fit for them
(``eclip.index.zero_shot_calibration``; each finding says how its probability was made).
Training reports only, so a draft for a test image never sees its own report. A term never
holds a de-identification token ("XXXX"): its sentences that do are dropped, and a cluster
whose nearest text is left empty is represented by its next nearest
(``eclip.report.redaction``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from eclip.errors import ReportGenerationError
from eclip.errors import EclipError
from eclip.index.store import EmbeddingIndex, top_k
from eclip.index.zero_shot_calibration import ZeroShotCalibration, default_calibration, pair_logits
from eclip.model.checkpoint import LoadedModel
from eclip.model.encode import encode_pixels, encode_prompt_sets, probability_scale
from eclip.model.prompts import load_prompt_set
from eclip.report.evidence import ZeroShot
from eclip.report.redaction import clean_evidence


@dataclass(frozen=True)
class Term:
    text: str
    case_id: str  # first training case whose report is this text
    cluster_size: int
    similarity: float  # cosine similarity to the image


@dataclass(frozen=True)
class ReportContext:
    terms: tuple[Term, ...]
    neighbour_ids: tuple[str, ...]  # a case id for each of the k retrieved texts
    findings: tuple[tuple[str, float], ...]  # zero-shot (name, probability), most likely first
    k: int
    zero_shot: tuple[ZeroShot, ...] = ()  # every finding of the prompt set: the draft is checked against these
    image_emb: np.ndarray | None = field(default=None, compare=False)  # the image's embedding (typicality)
    calibration: str = ""  # how the zero-shot probabilities were made (ZeroShotCalibration.summary)

    @property
    def texts(self) -> list[str]:
        return [t.text for t in self.terms]

    @property
    def case_ids(self) -> list[str]:
        return [t.case_id for t in self.terms]


@dataclass(frozen=True)
class TextPool:
    """The unique report texts of one split: rows of ``index.text_emb`` + a case id each."""

    text_rows: np.ndarray
    case_ids: tuple[str, ...]


def text_pool(index: EmbeddingIndex, manifest: pd.DataFrame, split: str = "train") -> TextPool:
    """Unique report texts of ``split`` (the index itself does not know splits)."""
    if len(manifest) != len(index.ids) or list(manifest["id"]) != list(index.ids):
        raise ReportGenerationError(
            f"The index at {index.path} does not match the dataset manifest (rows differ); rebuild "
            "it with `python -m eclip.index build --checkpoint DIR --data DIR --force`.")
    rows = np.flatnonzero(manifest["split"].astype(str).to_numpy() == split)
    if rows.size == 0:
        raise ReportGenerationError(
            f"The dataset has no '{split}' rows to retrieve reports from; drafts retrieve from "
            "the training split (manifest column 'split').")
    # each unique text once, with its first case (a Python loop over 200,000 rows took ~0.1 s)
    text_rows, first = np.unique(np.asarray(index.text_index)[rows], return_index=True)
    return TextPool(text_rows.astype(np.int64), tuple(str(index.ids[r]) for r in rows[first]))


def retrieve_terms(image_emb: np.ndarray, index: EmbeddingIndex, pool: TextPool, k: int = 100,
                   n_clusters: int = 5, seed: int = 0) -> tuple[list[Term], list[str]]:
    """The representative terms and the case ids of all ``k`` retrieved texts."""
    from sklearn.cluster import KMeans

    query = np.asarray(image_emb, dtype=np.float32).reshape(-1)
    # every report against the stored matrix in place, then the pool's rows: copying the pool's
    # embeddings first was a ~200 MB copy per draft at 200,000 reports
    sims = (np.asarray(index.text_emb, dtype=np.float32) @ query)[pool.text_rows]
    k = max(1, min(k, len(sims)))
    top = top_k(sims, k)  # ties resolve by pool order, so results are reproducible
    emb = np.asarray(index.text_emb[pool.text_rows[top]], dtype=np.float32)  # the k retrieved
    n_clusters = max(1, min(n_clusters, k))
    if n_clusters == k:
        labels, centres = np.arange(k), emb
    else:
        km = KMeans(n_clusters=n_clusters, n_init=10, random_state=seed).fit(emb)
        labels, centres = km.labels_, km.cluster_centers_
    terms = []
    for c in range(n_clusters):
        members = np.flatnonzero(labels == c)
        if members.size == 0:
            continue
        by_distance = members[np.argsort(((emb[members] - centres[c]) ** 2).sum(1), kind="stable")]
        for member in by_distance:  # the nearest text that is more than redaction tokens
            nearest = top[member]
            text = clean_evidence(index.texts[pool.text_rows[nearest]])
            if text:
                terms.append(Term(text, pool.case_ids[nearest], int(members.size), float(sims[nearest])))
                break
    terms.sort(key=lambda t: (-t.cluster_size, -t.similarity))
    return terms, [pool.case_ids[i] for i in top]


def _binary_prompt_embeddings(lm: LoadedModel, prompt_set: str):
    """(entries, positive [L,D], negative [L,D]) ensemble vectors (prompts cached per
    weights in ``eclip.model.encode``)."""
    ps = load_prompt_set(prompt_set)
    if ps.task != "binary":
        raise ReportGenerationError(f"Prompt set '{prompt_set}' must be a binary (positive/negative) set.")
    pairs = encode_prompt_sets(lm, [ps])[ps.name]
    return ps.binary, pairs[:, 0], pairs[:, 1]


def zero_shot_evidence(lm: LoadedModel, image_emb: np.ndarray, prompt_set: str = "binary",
                       calibration: ZeroShotCalibration | None = None) -> list[ZeroShot]:
    """Every finding of the set, most probable first. p = sigmoid(scale * (s_pos - s_neg)),
    i.e. the CheXzero pair softmax at the model's learned temperature (raw cosines alone
    would put every probability near 0.5), then the validate split's Platt fit per finding
    when ``calibration`` (of this prompt set) is given; each finding's ``note`` says which."""
    entries, pos, neg = _binary_prompt_embeddings(lm, prompt_set)
    logits = pair_logits(np.asarray(image_emb, dtype=np.float32).reshape(-1), pos, neg, probability_scale(lm))
    if calibration is None:
        probs = 1.0 / (1.0 + np.exp(-np.clip(logits, -50, 50)))
        notes = [""] * len(entries)
    else:
        probs = calibration.probabilities(logits)
        notes = [f.line() for f in calibration.findings]
    order = np.argsort(-probs, kind="stable")
    return [ZeroShot(entries[i].name, tuple(entries[i].labels), float(probs[i]), notes[i]) for i in order]


def calibration_of(lm: LoadedModel, index: EmbeddingIndex, manifest: pd.DataFrame,
                   prompt_set: str = "binary") -> ZeroShotCalibration | None:
    """The validate-split calibration of ``prompt_set`` over ``index`` (kept beside it), or
    None when it cannot be fitted (then the raw probabilities are shown, as before)."""
    try:
        return default_calibration(index, manifest, lm, prompt_set)
    except (EclipError, ValueError, OSError):
        return None


def build_context(lm: LoadedModel, index: EmbeddingIndex, manifest: pd.DataFrame, pixels: np.ndarray, *, k: int = 100,
                  n_clusters: int = 5, seed: int = 0, split: str = "train",
                  prompt_set: str | None = "binary", top_findings: int = 5) -> ReportContext:
    emb = encode_pixels(lm, pixels)
    pool = text_pool(index, manifest, split)
    terms, neighbours = retrieve_terms(emb, index, pool, k=k, n_clusters=n_clusters, seed=seed)
    calibration = calibration_of(lm, index, manifest, prompt_set) if prompt_set else None
    evidence = zero_shot_evidence(lm, emb, prompt_set, calibration) if prompt_set else []
    findings = [(z.name, z.probability) for z in evidence[:top_findings]]
    summary = calibration.summary() if calibration else ("" if not prompt_set else
                                                         "Probabilities are the model's raw pair probabilities.")
    return ReportContext(tuple(terms), tuple(neighbours), tuple(findings), len(neighbours), tuple(evidence),
                         image_emb=emb, calibration=summary)

"""Zero-shot pair probabilities calibrated on the dataset's validate split (Platt scaling).

A prompt pair's probability is the softmax over its (positive, negative) prompt
similarities at the model's learned logit scale: ``sigmoid(x)`` with the pair logit
``x = scale * (s_pos - s_neg)``. Contrastive training makes ranks, not frequencies: under the
demo model most findings score above 0.8 on most films, whatever their base rate. Platt
scaling refits, per finding, ``p = sigmoid(slope * x + intercept)`` by logistic regression on
the validate films that carry that finding's label:

* targets are ``eclip.model.targets.binary_targets`` (default policy): a missing label is
  missing, never a negative; uncertain labels are left out;
* a finding with fewer than ``MIN_EACH`` (10) validate positives or negatives gets no fit of
  its own, but a *pooled* one: the median slope of the findings that were fitted, and the
  intercept that makes its mean probability over its labelled validate films its smoothed
  base rate ((N+ + 1) / (N + 2)). Its ranking stays the model's, its level is the finding's
  frequency. Raw contrastive probabilities of rare findings are extreme (0.995 for a 3 % finding
  under a ResNet tower), which a reader takes as a finding. Only a finding with no labelled
  validate film, or a prompt set with no fitted finding to pool from, shows its raw
  probability; each says which it got and why;
* Platt's smoothed targets ((N+ + 1) / (N+ + 2) and 1 / (N- + 2)) keep a separable finding
  from a fit at infinite slope; the slope is kept at or above 0, so a finding whose scores run
  against its labels on validate gets its base rate rather than a flipped ranking;
* the finding's validate base rate (positives / labelled films) is kept beside the fit, so a
  page can say "base rate 12 % of validate films".

The fit is kept in the index folder as ``zero_shot_calibration-<prompt set>.json`` (the
parameters, counts, base rates and the build, prompt and label key it was fitted for), written
when the index is built for the shipped ``binary`` set and otherwise on first use; a rebuilt
index, an edited prompt file or relabelled validate films make it stale and it is fitted
afresh. Typed prompt sets are fitted in memory only.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from eclip.data.manifest import label_columns
from eclip.index import kept
from eclip.index.store import EmbeddingIndex
from eclip.io import write_json
from eclip.memo import BoundedCache, IdentityCache
from eclip.model.checkpoint import LoadedModel
from eclip.model.encode import encode_prompt_sets, probability_scale
from eclip.model.prompts import PromptSet, load_prompt_set
from eclip.model.targets import binary_targets

log = logging.getLogger(__name__)

SPLIT = "validate"
# Bumped when the fit changes what it writes: a kept fit of an older version is fitted afresh.
FIT_VERSION = 2  # 2: pooled fits for findings with too few validate films
MIN_EACH = 10  # validate positives and negatives a finding needs to be calibrated
DEFAULT_SET = "binary"  # fitted when an index is built
FILE = "zero_shot_calibration-{name}.json"
_CACHE = BoundedCache(32, "zero-shot calibrations")
# Pairs of (index, manifest) whose rows were found to line up, and each manifest's label key:
# the app's manifest and index are shared read-only objects, the same on every run, and
# comparing every id again on each call (3 a Zero-shot run) cost 5 ms at 2,000 rows and grows
# with the dataset. A pair that does not line up is never kept, so it is refused every time.
_ALIGNED = IdentityCache(32, "aligned manifests")
_LABEL_KEYS = IdentityCache(32, "validate label keys")


def sigmoid(x) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(np.asarray(x, dtype=np.float64), -50, 50)))


def pair_logits(image_emb: np.ndarray, pos_emb: np.ndarray, neg_emb: np.ndarray,
                scale: float) -> np.ndarray:
    """``scale * (s_pos - s_neg)``: [N, L] for images [N, D] and pair sides [L, D] (a single
    image [D] gives [L]); ``sigmoid`` of it is the pair's uncalibrated probability."""
    img = np.asarray(image_emb, dtype=np.float32)
    diff = img @ np.asarray(pos_emb, dtype=np.float32).T - img @ np.asarray(neg_emb, dtype=np.float32).T
    return float(scale) * diff.astype(np.float64)


def fit_platt(logits: np.ndarray, y: np.ndarray, iterations: int = 100) -> tuple[float, float]:
    """(slope, intercept) of ``p = sigmoid(slope * logit + intercept)`` by Newton's method on
    the log loss with Platt's smoothed targets; the slope is kept at or above 0."""
    x, y = np.asarray(logits, dtype=np.float64), np.asarray(y, dtype=np.float64)
    n_pos, n_neg = float(y.sum()), float(len(y) - y.sum())
    t = np.where(y == 1, (n_pos + 1) / (n_pos + 2), 1 / (n_neg + 2))
    prior = math.log((n_pos + 1) / (n_neg + 1))
    w = np.array([0.0, prior])
    X = np.stack([x, np.ones_like(x)], axis=1)

    def loss(w):
        z = X @ w
        return float(np.sum(np.logaddexp(0, z) - t * z))

    current = loss(w)
    for _ in range(iterations):
        p = sigmoid(X @ w)
        grad = X.T @ (p - t)
        hess = (X * (p * (1 - p))[:, None]).T @ X + 1e-9 * np.eye(2)
        step = np.linalg.solve(hess, grad)
        for _ in range(30):  # backtracking: Newton can overshoot on near-separable data
            trial = w - step
            if (value := loss(trial)) <= current + 1e-12:
                break
            step = step / 2
        else:
            break
        converged = abs(current - value) < 1e-10
        w, current = trial, value
        if converged:
            break
    if w[0] < 0:  # against the labels: the base rate for every film, not a flipped ranking
        return 0.0, math.log(float(t.mean()) / (1 - float(t.mean())))
    return float(w[0]), float(w[1])


@dataclass(frozen=True)
class FindingCalibration:
    """One pair's fit on the validate split (slope/intercept None when not calibrated)."""

    name: str
    labels: tuple[str, ...]
    positives: int
    negatives: int
    slope: float | None = None
    intercept: float | None = None
    why: str = ""  # why it has no fit of its own ("" when it has)
    pooled_from: int = 0  # > 0: a pooled fit, its slope the median of this many findings' fits

    @property
    def fitted(self) -> bool:
        """Has a fit, its own or a pooled one (else its probability is the raw one)."""
        return self.slope is not None

    @property
    def calibrated(self) -> bool:
        """Fitted on its own validate films (Platt)."""
        return self.fitted and not self.pooled

    @property
    def pooled(self) -> bool:
        return self.pooled_from > 0

    @property
    def base_rate(self) -> float | None:
        """Share of the labelled validate films positive for this finding (None: none labelled)."""
        n = self.positives + self.negatives
        return self.positives / n if n else None

    def probability(self, logits) -> np.ndarray:
        """The calibrated (or pooled) probability for pair logits; the raw one without a fit."""
        if not self.fitted:
            return sigmoid(logits)
        return sigmoid(self.slope * np.asarray(logits, dtype=np.float64) + self.intercept)

    def base_rate_text(self) -> str:
        """'base rate 12 % of validate films', or that none is known."""
        rate = self.base_rate
        if rate is None:
            return f"no labelled {SPLIT} films: base rate unknown"
        return f"base rate {100 * rate:.0f} % of {SPLIT} films ({self.positives} of {self.positives + self.negatives})"

    def short(self) -> str:
        """A table cell: 'yes', or 'pooled'/'no' with the reason in a few words ('9 validate
        positives, fewer than 10' -> '9 positives'; ``line`` has it whole)."""
        if self.calibrated:
            return "yes"
        why = self.why.split(",")[0].replace(f" {SPLIT}", "")
        return f"{'pooled' if self.pooled else 'no'}: {why}"

    def line(self) -> str:
        """How a page states this finding's probability."""
        if self.calibrated:
            return f"calibrated on the {SPLIT} split; {self.base_rate_text()}"
        if self.pooled:
            return (f"pooled calibration ({self.why}): the slope of {self.pooled_from} calibrated findings, "
                    f"levelled at its base rate; {self.base_rate_text()}")
        return f"not calibrated ({self.why}): the model's raw probability; {self.base_rate_text()}"


@dataclass(frozen=True)
class ZeroShotCalibration:
    """The fits of one binary prompt set over one index (see the module doc)."""

    prompt_set: str
    scale: float
    split_images: int  # films of the validate split
    findings: tuple[FindingCalibration, ...]
    why: str = ""  # why nothing is calibrated (no validate split...); "" otherwise
    key: str = field(default="", compare=False)

    def finding(self, name: str) -> FindingCalibration | None:
        return next((f for f in self.findings if f.name == name), None)

    @property
    def n_calibrated(self) -> int:
        return sum(f.calibrated for f in self.findings)

    def probabilities(self, logits: np.ndarray) -> np.ndarray:
        """Calibrated probabilities for pair logits [..., L] in the prompt set's order."""
        logits = np.asarray(logits, dtype=np.float64)
        out = np.empty_like(logits)
        for j, f in enumerate(self.findings):
            out[..., j] = f.probability(logits[..., j])
        return out

    def summary(self) -> str:
        """One line for a page: what is calibrated, on what, or why not."""
        if self.why:
            return f"Probabilities are the model's raw pair probabilities, not calibrated: {self.why}."
        n, total = self.n_calibrated, len(self.findings)
        pooled = [f.name for f in self.findings if f.pooled]
        raw = [f.name for f in self.findings if not f.fitted]
        text = (f"Probabilities calibrated on the {SPLIT} split ({self.split_images:,} films; Platt "
                f"scaling per finding, {n} of {total} findings)")
        if pooled:
            text += (f"; pooled (too few labelled {SPLIT} films for a fit of their own: the median slope, "
                     f"levelled at the finding's base rate): {', '.join(pooled)}")
        if raw:
            text += f"; raw (no fit to pool from or no labelled {SPLIT} films): {', '.join(raw)}"
        return text + "."

    def as_dict(self) -> dict:
        return {"prompt_set": self.prompt_set, "scale": self.scale, "split": SPLIT,
                "split_images": self.split_images, "min_each": MIN_EACH, "why": self.why,
                "key": self.key,
                "findings": [{**asdict(f), "labels": list(f.labels), "base_rate": f.base_rate}
                             for f in self.findings]}

    @classmethod
    def from_dict(cls, raw: dict) -> ZeroShotCalibration:
        findings = tuple(FindingCalibration(
            f["name"], tuple(f["labels"]), int(f["positives"]), int(f["negatives"]),
            f.get("slope"), f.get("intercept"), f.get("why", ""), int(f.get("pooled_from", 0)))
            for f in raw["findings"])
        return cls(raw["prompt_set"], float(raw["scale"]), int(raw["split_images"]), findings,
                   raw.get("why", ""), raw.get("key", ""))


def fit_calibration(prompt_set: PromptSet, pair_emb: np.ndarray, image_emb: np.ndarray,
                    manifest: pd.DataFrame, scale: float, min_each: int = MIN_EACH) -> ZeroShotCalibration:
    """Fit every pair of ``prompt_set`` ([L, 2, D] ``pair_emb``) on the validate rows of
    ``manifest``, whose rows are those of ``image_emb`` [N, D] in order."""
    split = manifest["split"].astype(str).to_numpy() if "split" in manifest.columns else np.array([])
    rows = np.flatnonzero(split == SPLIT)
    if rows.size == 0:
        none = tuple(FindingCalibration(b.name, tuple(b.labels), 0, 0, why=f"no {SPLIT} split")
                     for b in prompt_set.binary)
        return ZeroShotCalibration(prompt_set.name, float(scale), 0, none,
                                   why=f"the dataset has no '{SPLIT}' split to calibrate on")
    df = manifest.iloc[rows].reset_index(drop=True)
    pair_emb = np.asarray(pair_emb, dtype=np.float32)
    logits = pair_logits(np.asarray(image_emb[rows]), pair_emb[:, 0], pair_emb[:, 1], scale)
    found = [_fit_one(b, df, logits[:, j], min_each) for j, b in enumerate(prompt_set.binary)]
    slopes = [f.slope for f in found if f.calibrated and f.slope > 0]
    if slopes:
        slope = float(np.median(slopes))
        found = [_pooled(f, b, df, logits[:, j], slope, len(slopes)) if not f.fitted else f
                 for j, (f, b) in enumerate(zip(found, prompt_set.binary))]
    return ZeroShotCalibration(prompt_set.name, float(scale), len(rows), tuple(found))


def _pooled(f: FindingCalibration, label, df: pd.DataFrame, logits: np.ndarray, slope: float,
            n_fits: int) -> FindingCalibration:
    """``f`` with the pooled ``slope`` and the intercept that levels its mean probability over
    its labelled validate films at its smoothed base rate (unchanged without such films)."""
    if not label.labels or f.positives + f.negatives == 0:
        return f
    y = binary_targets(df, label)
    x = slope * np.asarray(logits, dtype=np.float64)[~np.isnan(y)]
    return replace(f, slope=slope, intercept=level_intercept(x, (f.positives + 1) / (f.positives + f.negatives + 2)),
                   pooled_from=n_fits)


def level_intercept(x: np.ndarray, rate: float) -> float:
    """The ``b`` with ``mean(sigmoid(x + b)) == rate`` (bisection: the mean rises with b)."""
    lo, hi = -60.0, 60.0
    for _ in range(100):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if float(sigmoid(x + mid).mean()) < rate else (lo, mid)
    return (lo + hi) / 2


def _fit_one(label, df: pd.DataFrame, logits: np.ndarray, min_each: int) -> FindingCalibration:
    if not label.labels:
        return FindingCalibration(label.name, (), 0, 0, why="no label column to calibrate against")
    y = binary_targets(df, label)
    keep = ~np.isnan(y)
    n_pos, n_neg = int(y[keep].sum()), int((y[keep] == 0).sum())
    base = FindingCalibration(label.name, tuple(label.labels), n_pos, n_neg)
    if n_pos < min_each:
        return replace(base, why=f"{n_pos} {SPLIT} positives, fewer than {min_each}")
    if n_neg < min_each:
        return replace(base, why=f"{n_neg} {SPLIT} negatives, fewer than {min_each}")
    slope, intercept = fit_platt(logits[keep], y[keep])
    return replace(base, slope=slope, intercept=intercept)


def prompt_key(prompt_set: PromptSet) -> str:
    """What a fit depends on in a prompt set: its pairs' prompts and labels (sha256, 16 hex)."""
    text = json.dumps([[b.name, list(b.labels), list(b.positive), list(b.negative), b.negated]
                       for b in prompt_set.binary])
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def calibration_for(index: EmbeddingIndex, manifest: pd.DataFrame, prompt_set: PromptSet, pair_emb: np.ndarray,
                    scale: float, keep: bool = True) -> ZeroShotCalibration:
    """The calibration of ``prompt_set`` over ``index``: read from the index folder when it
    was fitted for this build, these prompts and this scale, else fitted now (and kept there
    with ``keep``, for the named sets a page or the index build scores)."""
    _check_rows(index, manifest)
    key = kept.identity(index, prompt_set.name, prompt_key(prompt_set), round(float(scale), 6),
                        label_key(manifest, prompt_set), FIT_VERSION).text()

    def compute() -> ZeroShotCalibration:
        path = Path(index.path) / FILE.format(name=_safe(prompt_set.name))
        if keep and (got := _read(path, key)) is not None:
            return got
        fitted = fit_calibration(prompt_set, pair_emb, index.image_emb, manifest, scale)
        fitted = replace(fitted, key=key)
        if keep and kept.identity(index).on_disk:
            try:
                write_json(path, fitted.as_dict(), indent=1)
            except OSError as exc:  # a read-only index folder: the memory cache still serves
                log.warning("could not keep %s (%s)", path, exc)
        return fitted

    return _CACHE.get_or_compute(key, compute)


def _check_rows(index: EmbeddingIndex, manifest: pd.DataFrame) -> None:
    """Raise unless ``manifest``'s rows are ``index``'s, in order (compared once per pair of objects)."""

    def compare() -> bool:
        if len(manifest) != len(index.ids) or list(manifest["id"]) != list(index.ids):
            raise ValueError(f"the manifest's rows are not the index's ({len(manifest)} vs {len(index.ids)} rows)")
        return True

    _ALIGNED.get_or_compute((index, manifest), (len(manifest), len(index.ids)), compare)


def label_key(manifest: pd.DataFrame, prompt_set: PromptSet) -> str:
    """What a fit depends on in a manifest besides its rows' order: which rows are validate and
    their values in the label columns (the ones ``prompt_set`` reads, and the others: whether a
    row carries any label decides what its blanks mean) (sha256, 16 hex). Relabelled films
    under an unchanged index are fitted afresh. Worked out once per manifest object and set of
    columns (the app's manifests are shared read-only objects, the same on every run; see
    ``eclip.memo.IdentityCache``)."""
    read = tuple(sorted({c for b in prompt_set.binary for c in b.labels if c in manifest.columns}))
    return _LABEL_KEYS.get_or_compute((manifest,), read, lambda: _label_digest(manifest, read))


def _label_digest(manifest: pd.DataFrame, read: tuple[str, ...]) -> str:
    columns = sorted(set(read) | set(label_columns(manifest)))
    split = manifest["split"].astype(str).to_numpy() if "split" in manifest.columns else np.array([], dtype=str)
    rows = np.flatnonzero(split == SPLIT)
    values = manifest.iloc[rows][columns].to_numpy(dtype=np.float64)
    digest = hashlib.sha256(json.dumps(columns).encode("utf-8"))
    digest.update(rows.astype(np.int64).tobytes())
    digest.update(np.ascontiguousarray(values).tobytes())
    return digest.hexdigest()[:16]


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in name) or "set"


def _read(path: Path, key: str) -> ZeroShotCalibration | None:
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        return ZeroShotCalibration.from_dict(raw) if raw.get("key") == key else None
    except (OSError, ValueError, KeyError, TypeError):
        return None  # absent, from another build, or unreadable: fitted afresh


def default_calibration(index: EmbeddingIndex, manifest: pd.DataFrame, lm: LoadedModel,
                        prompt_set: str = DEFAULT_SET) -> ZeroShotCalibration:
    """The kept calibration of a named binary prompt set (the shipped ``binary`` set by
    default) under a loaded model: its prompts encoded, fitted if not yet kept."""
    ps = load_prompt_set(prompt_set)
    pairs = encode_prompt_sets(lm, [ps])[ps.name]
    return calibration_for(index, manifest, ps, pairs, probability_scale(lm))

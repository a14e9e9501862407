"""Choose which real Open-I reports the demo corpus draws.

Reports come from torchxrayvision's bundled NLMCXR tarball, read at run time. A report
qualifies when it has an image (so a frontal film exists), findings or impression text and
at least one informative MeSH term. The draw keeps a sensible label balance: normals are
capped (they are a third of Open-I), reports whose findings we can draw are favoured, and
rarer drawable findings (pneumothorax, edema, effusion, nodules...) are up-weighted so they
appear often enough to learn from.
"""

from __future__ import annotations

import functools
import hashlib
from collections import Counter
from dataclasses import dataclass

import numpy as np

from eclip.data.reports import iter_nlmcxr_tgz, mesh_to_labels, normalized_report
from eclip.errors import DataError

from .mesh import plan_from_mesh

SHARE = {"normal": 0.32, "drawable": 0.63, "other": 0.05}  # "other": abnormal, nothing drawable
SPLIT_FRACTIONS = (("train", 0.8), ("validate", 0.1), ("test", 0.1))


@dataclass(frozen=True)
class PoolReport:
    uid: str
    findings: str
    impression: str
    mesh: tuple[str, ...]
    category: str  # normal | drawable | other
    kinds: tuple[str, ...]


def load_pool(path=None) -> list[PoolReport]:
    """Every qualifying report, in tarball order (parsed once per process)."""
    return list(_load_pool_cached(str(path) if path is not None else None))


@functools.lru_cache(maxsize=2)
def _load_pool_cached(path: str | None) -> tuple[PoolReport, ...]:
    pool = []
    for rep in iter_nlmcxr_tgz(path):
        if not rep.image_ids or not (rep.findings.strip() or rep.impression.strip()):
            continue
        labels = mesh_to_labels(rep.mesh_major)
        if all(np.isnan(v) for v in labels.values()):
            continue  # only "No Indexing"-type terms: nothing to learn from
        plan = plan_from_mesh(rep.mesh_major, np.random.default_rng(0))
        kinds = tuple(sorted({f.kind for f in plan.findings}))
        if labels["No Finding"] == 1.0:
            cat = "normal"
        elif kinds:
            cat = "drawable"
        else:
            cat = "other"
        pool.append(PoolReport(rep.uid, rep.findings, rep.impression, tuple(rep.mesh_major), cat, kinds))
    if not pool:
        raise DataError("no usable reports in the NLMCXR tarball (need an image, text and MeSH terms).")
    return tuple(pool)


def draw_reports(pool: list[PoolReport], n: int, seed: int) -> list[PoolReport]:
    """n reports (with replacement only when n exceeds the pool), label-balanced."""
    kind_counts = Counter(k for r in pool for k in r.kinds)
    top = max(kind_counts.values(), default=1)
    # Within a category, rarer drawable findings get more weight (1/sqrt of frequency);
    # across categories the shares in SHARE hold (categories absent from the pool drop out).
    rarity = np.array([max((np.sqrt(top / kind_counts[k]) for k in r.kinds), default=1.0)
                       for r in pool])
    cats = np.array([r.category for r in pool])
    w = np.zeros(len(pool))
    for cat, share in SHARE.items():
        sel = cats == cat
        if sel.any():
            w[sel] = share * rarity[sel] / rarity[sel].sum()
    w /= w.sum()
    rng = np.random.default_rng([int(seed), 7919])
    idx = rng.choice(len(pool), size=n, replace=n > len(pool), p=w)
    return [pool[i] for i in idx]


def split_of(report: PoolReport) -> str:
    """The split of a report, from a hash of its normalised text: stable across seeds and
    sizes, and report-disjoint: every copy of the same words (Open-I reuses one normal report
    under hundreds of uids) lands in the same split, so no test text was ever trained on."""
    key = normalized_report(report.findings, report.impression)
    h = int(hashlib.sha256(key.encode("utf-8")).hexdigest()[:8], 16) / 0xFFFFFFFF
    acc = 0.0
    for name, frac in SPLIT_FRACTIONS:
        acc += frac
        if h < acc:
            return name
    return SPLIT_FRACTIONS[-1][0]

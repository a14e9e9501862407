"""Agreement of a model's attribution map with a radiologist's gaze heatmap.

The saliency benchmark metrics (MIT/Tuebingen; Bylinskii et al. 2019): Pearson CC, NSS,
KL divergence and AUC-Judd, between two HxW maps (resized to the gaze map's shape when
they differ), and the shuffled AUC, whose negatives are other images' fixations, so that
a map earns nothing for the readers' centre bias alone. Localisation against a
ground-truth region as CheXlocalize scores it: the pointing game and the IoU of the
thresholded map. A flat model map points nowhere and scores chance, never NaN, so it is
counted rather than silently dropped from a mean.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from eclip.errors import EvaluationError
from eclip.evaluate.metrics import auroc

_EPS = float(np.finfo(np.float64).eps)  # as in the MIT saliency benchmark


def _as_pair(saliency: np.ndarray, gaze: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    s = np.asarray(saliency, dtype=np.float64)
    g = np.asarray(gaze, dtype=np.float64)
    if s.shape != g.shape:
        st = torch.as_tensor(s, dtype=torch.float32)[None, None]
        s = F.interpolate(st, size=g.shape, mode="bilinear", align_corners=False)[0, 0].double().numpy()
    return np.nan_to_num(s), np.maximum(np.nan_to_num(g), 0.0)


def pearson_cc(saliency: np.ndarray, gaze: np.ndarray) -> float:
    """Linear correlation of the two maps over pixels (1 = identical up to scale/offset)."""
    s, g = _as_pair(saliency, gaze)
    if is_flat(g):
        return float("nan")
    if is_flat(s):  # a flat map carries no information: chance level, as saliency benchmarks score it
        return 0.0
    s, g = s - s.mean(), g - g.mean()
    return float((s * g).sum() / math.sqrt(float((s * s).sum()) * float((g * g).sum())))


def nss(saliency: np.ndarray, gaze: np.ndarray) -> float:
    """Normalised scanpath saliency: the z-scored model map averaged under the gaze
    density (a gaze heatmap stands in for the fixation points; weights sum to 1)."""
    s, g = _as_pair(saliency, gaze)
    std = s.std()
    if g.sum() == 0:
        return float("nan")
    if std == 0:  # flat map: chance level
        return 0.0
    return float((((s - s.mean()) / std) * g).sum() / g.sum())


def kl_divergence(saliency: np.ndarray, gaze: np.ndarray) -> float:
    """KL(gaze || model), both normalised to sum 1 (0 = identical; lower is better)."""
    s, g = _as_pair(saliency, gaze)
    s = np.maximum(s, 0.0)
    if g.sum() == 0:
        return float("nan")
    if s.max() == 0:  # no positive evidence anywhere (e.g. Grad-CAM's ReLU): a uniform map
        s = np.ones_like(s)
    p, q = g / g.sum(), s / max(s.sum(), _EPS)
    return float((p * np.log(_EPS + p / (q + _EPS))).sum())


def fixated_pixels(gaze: np.ndarray, fixation_quantile: float = 0.95) -> np.ndarray:
    """Bool HxW: the "fixated" pixels of a gaze heatmap, its top 5 % of density (stored
    datasets keep heatmaps, not fixation points; AUC-Judd and shuffled AUC share this)."""
    g = np.maximum(np.nan_to_num(np.asarray(gaze, dtype=np.float64)), 0.0)
    if g.max() <= 0:
        return np.zeros(g.shape, bool)
    return g >= max(np.quantile(g, fixation_quantile), np.finfo(float).tiny)


def auc_judd(saliency: np.ndarray, gaze: np.ndarray, fixation_quantile: float = 0.95) -> float:
    """ROC AUC of the model map separating "fixated" pixels (the top 5 % of gaze
    density) from all others; ties in the model map count half (0.5 = chance)."""
    s, g = _as_pair(saliency, gaze)
    fixated = fixated_pixels(g, fixation_quantile)
    if not fixated.any() or fixated.all():
        return float("nan")
    return float(auroc(fixated.ravel().astype(int), s.ravel()))


def shuffled_auc(saliency: np.ndarray, gaze: np.ndarray, other_fixations: np.ndarray) -> float:
    """Shuffled AUC (Tatler et al. 2005; Borji et al. 2013): the model map at this image's
    fixated pixels against the same map at the pixels *other* images' readers fixated.
    ``other_fixations`` is an HxW count of other images fixating each pixel (on the gaze
    grid), so the negatives carry the readers' own centre bias and a centre-bias map scores
    ~0.5 here while its AUC-Judd is high. NaN without positives or negatives."""
    s, g = _as_pair(saliency, gaze)
    counts = np.asarray(other_fixations)
    if counts.shape != g.shape:
        raise EvaluationError(f"other_fixations has shape {counts.shape}, the gaze map {g.shape}: "
                         "build it on the gaze grid (FixationPool.others).")
    pos = s[fixated_pixels(g)]
    neg = np.repeat(s.ravel(), np.maximum(counts, 0).astype(np.int64).ravel())
    if pos.size == 0 or neg.size == 0:
        return float("nan")
    labels = np.r_[np.ones(pos.size, int), np.zeros(neg.size, int)]
    return float(auroc(labels, np.r_[pos, neg]))


class FixationPool:
    """The fixated pixels of every gaze map of a split: the shuffled AUC's negatives for
    image ``key`` are the other images' fixated pixels, counted on ``key``'s grid (maps of
    another shape are matched by relative position, nearest pixel)."""

    def __init__(self, gaze_maps: dict):
        self.masks = {k: fixated_pixels(g) for k, g in gaze_maps.items()}
        self.totals: dict[tuple, np.ndarray] = {}
        for m in self.masks.values():
            self.totals[m.shape] = self.totals.get(m.shape, 0) + m.astype(np.int64)

    def others(self, key) -> np.ndarray:
        own = self.masks[key]
        return sum(_nearest(t, own.shape) for t in self.totals.values()) - own


def _nearest(a: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    rows = ((np.arange(shape[0]) + 0.5) * a.shape[0] / shape[0]).astype(int)
    cols = ((np.arange(shape[1]) + 0.5) * a.shape[1] / shape[1]).astype(int)
    return a[np.ix_(rows, cols)]


AGREEMENT_METRICS = {"cc": pearson_cc, "nss": nss, "kl": kl_divergence, "auc_judd": auc_judd}


def is_flat(saliency: np.ndarray) -> bool:
    """A map with one value everywhere: it points nowhere, and agreement is at chance."""
    return float(np.ptp(np.nan_to_num(np.asarray(saliency, dtype=np.float64)))) == 0.0


def agreement_metrics(saliency: np.ndarray, gaze: np.ndarray) -> dict[str, float]:
    """CC, NSS, KL, AUC-Judd; a flat map scores chance (0, 0, KL to uniform, 0.5)."""
    return {name: fn(saliency, gaze) for name, fn in AGREEMENT_METRICS.items()}


# --------------------------------------------------------------------------- localisation
def pointing_game(saliency: np.ndarray, region: np.ndarray) -> float:
    """Hit (1) when the map's peak lies inside the ground-truth ``region`` (Zhang et al.
    2018; CheXlocalize's hit rate), else 0. Tied peaks count as a random pick among them,
    so a flat map scores the region's area fraction (chance), never NaN; NaN for an
    empty region."""
    s, r = _as_map_region(saliency, region)
    if not r.any():
        return float("nan")
    return float(r[s == s.max()].mean())


def threshold_iou(saliency: np.ndarray, region: np.ndarray, threshold: float = 0.5) -> float:
    """IoU of the map binarised at ``threshold`` x its peak with the ground-truth region
    (CheXlocalize's mIoU, with one fixed threshold instead of a per-pathology one tuned on a
    validation set). A map without positive mass counts as flat: all pixels selected."""
    s, r = _as_map_region(saliency, region)
    if not r.any():
        return float("nan")
    s = np.maximum(s, 0.0)
    chosen = s >= threshold * s.max() if s.max() > 0 else np.ones_like(r)
    return float((chosen & r).sum() / (chosen | r).sum())


def _as_map_region(saliency: np.ndarray, region: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    r = np.asarray(region, bool)
    s, _ = _as_pair(saliency, np.zeros(r.shape))
    return s, r


# --------------------------------------------------------------------------- where the mass sits
def border_band(shape: tuple[int, int], frac: float = 0.125) -> np.ndarray:
    """Bool HxW: the outer ``frac`` of the height and of the width on every side (0.125 =
    one patch of an 8 x 8 ViT grid; the band then covers 43.75 % of the image)."""
    h, w = shape
    bh, bw = max(1, round(frac * h)), max(1, round(frac * w))
    band = np.ones((h, w), bool)
    band[bh:h - bh, bw:w - bw] = False
    return band


def mass_fraction(saliency: np.ndarray, region: np.ndarray) -> float:
    """Share of the map's (non-negative) mass inside the bool ``region``; NaN for a map with
    no mass. A uniform map scores the region's area fraction."""
    s = np.maximum(np.nan_to_num(np.asarray(saliency, dtype=np.float64)), 0.0)
    total = s.sum()
    return float(s[np.asarray(region, bool)].sum() / total) if total > 0 else float("nan")


# --------------------------------------------------------------------------- map vs map
def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman rank correlation of two maps over pixels (the sanity-check statistic of
    Adebayo et al. 2018); NaN when either map is flat (no ranking to compare)."""
    from scipy.stats import spearmanr

    a, b = np.asarray(a, dtype=np.float64).ravel(), np.asarray(b, dtype=np.float64).ravel()
    if is_flat(a) or is_flat(b):
        return float("nan")
    return float(spearmanr(a, b).statistic)


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    """Mean structural similarity of two maps in [0, 1] (Wang et al. 2004 settings:
    Gaussian window sigma 1.5, as Adebayo et al. compare saliency maps); 1 = identical."""
    from skimage.metrics import structural_similarity

    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(structural_similarity(a, b, data_range=1.0, gaussian_weights=True, sigma=1.5,
                                       use_sample_covariance=False))

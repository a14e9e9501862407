"""Label-grounded local alignment (beyond the paper): ``method.label_local_weight`` asks each
finding's prompt to be found *somewhere* on the films whose report names the finding, and
nowhere on the films whose report does not.

A global InfoNCE only needs the pooled embedding to rank reports; nothing asks the per-patch
terms of a *finding's* prompt to sit on the finding, so its Grad-CAM map (the patch shares at
the average-pooled tokens) can peak anywhere. Here each label's prompt embedding is compared
with every projected patch token (the same shares the gaze prior and Grad-CAM read), pooled by a
soft maximum over the grid (log-mean-exp: multiple-instance learning, as in weakly supervised
localisation), and ranked: every film carrying the label must score above every film in the
batch without it. Raising a positive film's soft maximum means raising its most telling patches;
lowering a negative's means lowering all of them. The labels are the report's own (the manifest's
CheXpert columns, extracted from report text): no mask or box is used.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from eclip.data.manifest import LABELS
from eclip.errors import ManifestError
from eclip.model.gaze_prior import patch_shares
from eclip.model.prompts import load_prompt_set

LOCAL_LABELS = tuple(label for label in LABELS if label != "No Finding")


def label_prompt_texts() -> dict[str, list[str]]:
    """Label -> its positive prompts in the shipped binary prompt set ("<label>." for a label
    the set has no pair for, as ``eclip explain localise`` scores it)."""
    out: dict[str, list[str]] = {}
    for pair in load_prompt_set("binary").binary:
        for label in pair.labels:
            out.setdefault(label, list(pair.positive))
    return {label: out.get(label, [f"{label}."]) for label in LOCAL_LABELS}


def prompt_groups() -> tuple[list[str], list[int]]:
    """(every prompt, the index of its label in LOCAL_LABELS), flattened for one text batch."""
    texts, groups = [], []
    for k, prompts in enumerate(label_prompt_texts().values()):
        texts += prompts
        groups += [k] * len(prompts)
    return texts, groups


def label_targets(df: pd.DataFrame) -> np.ndarray:
    """[N, K] float32: 1 where the report names the label, 0 where it does not, NaN where the row
    says nothing (uncertain -1, or a row without any label: left out, never a negative)."""
    present = [c for c in LOCAL_LABELS if c in df.columns]
    if not present:
        raise ManifestError("method.label_local_weight needs the manifest's CheXpert label columns "
                            f"({', '.join(LOCAL_LABELS[:3])}, ...); set it to 0 for this dataset")
    raw = np.full((len(df), len(LOCAL_LABELS)), np.nan, dtype=np.float32)
    for k, label in enumerate(LOCAL_LABELS):
        if label in df.columns:
            raw[:, k] = pd.to_numeric(df[label], errors="coerce").to_numpy(dtype=np.float32)
    all_cols = [c for c in LABELS if c in df.columns]
    labelled = df[all_cols].apply(pd.to_numeric, errors="coerce").notna().any(axis=1).to_numpy()
    out = np.where(raw == 1, 1.0, np.where(np.isnan(raw) | (raw == 0), 0.0, np.nan)).astype(np.float32)
    out[~labelled] = np.nan
    return out


def label_embeddings(prompt_emb: torch.Tensor, groups: torch.Tensor, k: int) -> torch.Tensor:
    """[M, D] normalised prompt embeddings -> [K, D]: each label's mean prompt, normalised."""
    summed = torch.zeros(k, prompt_emb.shape[1], dtype=prompt_emb.dtype, device=prompt_emb.device)
    summed = summed.index_add(0, groups, prompt_emb)
    return F.normalize(summed, dim=-1)


def local_scores(tokens: torch.Tensor, label_text: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """[B, P, D] projected patch tokens x [K, D] label embeddings -> [B, K] soft maxima over the
    grid of each patch's share (token . text / |mean token|, times the logit scale: the terms
    that average to the scaled image-prompt cosine and that Grad-CAM reads)."""
    shares = patch_shares(tokens, label_text.expand(tokens.shape[0], -1, -1), scale)
    return torch.logsumexp(shares, dim=-1) - float(np.log(tokens.shape[1]))


def ranking_loss(scores: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean over labels (with a positive and a negative in the batch) of the mean over
    (positive, negative) film pairs of softplus(negative's score - positive's score)."""
    losses = []
    for k in range(scores.shape[1]):
        t = targets[:, k]
        pos, neg = scores[t == 1, k], scores[t == 0, k]
        if len(pos) and len(neg):
            losses.append(F.softplus(neg[None, :] - pos[:, None]).mean())
    if not losses:
        return scores.sum() * 0.0  # keeps the graph (DDP wants every rank to backprop alike)
    return torch.stack(losses).mean()

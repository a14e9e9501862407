"""Zero-shot scoring through an index: encode prompt sets once, score every image.

This is the path the app's zero-shot page takes: a new prompt set costs one batched pass
of its *new* prompts through the text tower (prompt embeddings are memoised per model, so
editing one prompt of a set re-encodes only that prompt) plus one matrix product over the
cached image embeddings (see benchmarks/index_eval.py for the time per 10k images).
"""

from __future__ import annotations

import numpy as np

from eclip.evaluate.metrics import binary_pair_probability, ensemble_embedding, l2_normalize
from eclip.evaluate.prompts import PromptSet
from eclip.index import encode_texts


_CACHE: dict[tuple[str, str], np.ndarray] = {}
_CACHE_MAX = 50_000  # prompts; ~50 MB at 256 dims


def encode_prompts(lm, prompts: list[str], device: str = "cpu") -> np.ndarray:
    """[len(prompts), D] embeddings; prompts seen before under the same weights come from
    an in-process cache keyed by (weights sha256, prompt text)."""
    key = getattr(lm, "weights_sha256", None) or str(id(lm))
    missing = list(dict.fromkeys(p for p in prompts if (key, p) not in _CACHE))
    if missing:
        if len(_CACHE) + len(missing) > _CACHE_MAX:
            _CACHE.clear()
        # templated prompts share prefixes: each is computed once; other towers fall back to
        # small length-sorted batches, which carry less padding than one big batch
        for p, v in zip(missing, encode_texts(lm, missing, batch_size=32, device=device,
                                              share_prefixes=True)):
            _CACHE[(key, p)] = v
    if not prompts:
        return encode_texts(lm, [], device=device)
    return np.stack([_CACHE[(key, p)] for p in prompts])


def clear_prompt_cache() -> None:
    _CACHE.clear()


def encode_prompt_sets(lm, prompt_sets: list[PromptSet], device: str = "cpu") -> dict[str, np.ndarray]:
    """Multiclass -> [C, D] class ensembles; binary -> [L, 2, D] (positive, negative).

    All prompts of all sets go through the text tower in one batched pass."""
    groups: list[tuple[str, ...]] = []
    for ps in prompt_sets:
        if ps.task == "multiclass":
            groups += [c.prompts for c in ps.classes]
        else:
            groups += [g for b in ps.binary for g in (b.positive, b.negative)]
    flat = [p for g in groups for p in g]
    emb = encode_prompts(lm, flat, device=device)
    bounds = np.cumsum([0] + [len(g) for g in groups])
    vectors = [ensemble_embedding(emb[a:b]) for a, b in zip(bounds[:-1], bounds[1:])]
    out, k = {}, 0
    for ps in prompt_sets:
        if ps.task == "multiclass":
            n = len(ps.classes)
            out[ps.name] = np.stack(vectors[k:k + n])
        else:
            n = 2 * len(ps.binary)
            out[ps.name] = np.stack(vectors[k:k + n]).reshape(len(ps.binary), 2, -1)
        k += n
    return out


def encode_class_prompts(lm, classes: dict[str, list[str]], device: str = "cpu") -> np.ndarray:
    """[C, D] ensembles for ad-hoc prompts ``{class name: [prompt, ...]}`` (e.g. typed in the app)."""
    names = list(classes)
    flat = [p for n in names for p in classes[n]]
    emb = encode_prompts(lm, flat, device=device)
    bounds = np.cumsum([0] + [len(classes[n]) for n in names])
    return np.stack([ensemble_embedding(emb[a:b]) for a, b in zip(bounds[:-1], bounds[1:])])


def multiclass_scores(image_emb: np.ndarray, class_emb: np.ndarray,
                      temperature: float = 0.01) -> tuple[np.ndarray, np.ndarray]:
    """(predicted class index [N], softmax probabilities [N, C]) from cosine similarities.

    ``temperature`` only shapes the displayed probabilities; the argmax does not depend on it.
    """
    sims = _matmul(image_emb, l2_normalize(class_emb).T)
    z = (sims - sims.max(axis=1, keepdims=True)) / temperature
    probs = np.exp(z)
    probs /= probs.sum(axis=1, keepdims=True)
    return sims.argmax(axis=1), probs


def binary_scores(image_emb: np.ndarray, pair_emb: np.ndarray) -> np.ndarray:
    """[N, L] CheXzero probabilities from [L, 2, D] (positive, negative) ensembles."""
    return binary_pair_probability(_matmul(image_emb, pair_emb[:, 0].T), _matmul(image_emb, pair_emb[:, 1].T))


def _matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """float32 a @ b through torch. The text tower runs on torch's thread pool; a numpy
    product here wakes OpenBLAS's own pool, whose spinning threads then slow the next prompt
    encoding by ~50 % on a 2-core machine (measured in benchmarks/index_eval.py)."""
    import torch

    a32 = torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32))
    b32 = torch.from_numpy(np.ascontiguousarray(b, dtype=np.float32))
    return (a32 @ b32).numpy()

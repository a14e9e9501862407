"""Text features from open_clip towers without the work spent on padding.

These reach into open_clip's text tower internals (token embedding, causal mask, pooling),
so they live with the model: callers above it only ever ask ``text_features(clip, tokens)``.
Both trims are exact: they drop only positions that cannot influence the pooled output.
A Hugging Face tower can also be run in two halves (pooled trunk, then projection), so that
models sharing one frozen trunk share its passes (``trunk_digest``).
"""

from __future__ import annotations

import weakref

import torch
import torch.nn.functional as F

from eclip.memo import BoundedCache
from eclip.model.prefix_text import supports_prefix_sharing


def text_features(clip, tokens: torch.Tensor) -> torch.Tensor:
    """L2-normalised ``clip.encode_text(tokens)`` with the padding columns trimmed."""
    emb = trimmed_causal_features(clip, tokens)
    if emb is None:
        emb = clip.encode_text(trim_masked_padding(clip, tokens), normalize=True)
    return emb


def trimmed_causal_features(clip, tokens: torch.Tensor) -> torch.Tensor | None:
    """open_clip ``CLIP.encode_text`` on tokens cut after the batch's last non-pad token.

    Valid because that text tower is causal (a position attends only to earlier ones) and
    pools at the end-of-text token: trailing padding cannot change the result. With a
    77-token context and ~10-token prompts this saves most of the work. Returns None for
    any other text tower (e.g. Hugging Face ones; see ``trim_masked_padding``).
    """
    from open_clip.transformer import text_global_pool

    if not supports_prefix_sharing(clip):  # the same condition: causal, pooled at end-of-text
        return None
    n = used_length(tokens, pad=0)
    t = tokens[:, :n]
    cast = clip.transformer.get_cast_dtype()
    x = clip.token_embedding(t).to(cast) + clip.positional_embedding[:n].to(cast)
    x = clip.ln_final(clip.transformer(x, attn_mask=clip.attn_mask[:n, :n]))
    x = text_global_pool(x, t, clip.text_pool_type, eos_token_id=getattr(clip, "text_eos_id", None))
    if clip.text_projection is not None:
        proj = clip.text_projection
        x = proj(x) if hasattr(proj, "weight") else x @ proj
    return F.normalize(x, dim=-1)


def trim_masked_padding(clip, tokens: torch.Tensor) -> torch.Tensor:
    """Drop the trailing columns that are padding in every row, for Hugging Face text towers.

    Those build their attention mask from the pad id and mean-pool under it, so padded
    positions never reach a real token or the pooled output; MiniLM would otherwise run all
    64 positions for a 10-token prompt (~5x the work)."""
    text = hf_text_tower(clip)
    return tokens if text is None else tokens[:, :used_length(tokens, text.config.pad_token_id)]


def used_length(tokens: torch.Tensor, pad: int) -> int:
    """Columns up to the last one holding a non-pad token in any row (at least 1)."""
    used = (tokens != pad).any(0).nonzero()
    return int(used.max()) + 1 if len(used) else 1


# --------------------------------------------------------------------------- shared trunks
def hf_text_tower(clip):
    """The Hugging Face text tower of an open_clip ``CustomTextCLIP``, else None."""
    from open_clip.hf_model import HFTextEncoder

    text = getattr(clip, "text", None)
    return text if isinstance(text, HFTextEncoder) and text.config.pad_token_id is not None else None


def hf_pooled(text, tokens: torch.Tensor) -> torch.Tensor:
    """The tower's pooled trunk output [B, H] before its projection (its ``forward`` split at
    the projection), on tokens with the all-padding columns trimmed."""
    tokens = tokens[:, :used_length(tokens, text.config.pad_token_id)]
    mask = (tokens != text.config.pad_token_id).long()
    return text.pooler(text.transformer(input_ids=tokens, attention_mask=mask), mask)


def hf_project(text, pooled: torch.Tensor) -> torch.Tensor:
    """L2-normalised text embeddings from pooled trunk outputs: the rest of ``forward``."""
    return F.normalize(text.proj(pooled), dim=-1)


def trunk_digest(text) -> str:
    """A digest of everything before the projection: the trunk's weights and the pooler.

    Two models whose text trunk was frozen from the same pretrained weights (a LiT-style
    pair, e.g. the demo's eCLIP and CLIP) share it, so a prompt's pooled trunk output
    computed for one is exact for the other; only the projections differ. Computed once per
    tower object (~0.1 s for MiniLM): loaded models are never changed in place, and a
    copy (e.g. a randomised one for the sanity checks) is a new object with its own."""
    digest = _DIGESTS.get(text)
    if digest is None:
        digest = _DIGESTS[text] = _hash_trunk(text)
    return digest


_DIGESTS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _hash_trunk(text) -> str:
    import hashlib

    h = hashlib.blake2b(digest_size=16)
    h.update(type(text.pooler).__name__.encode())
    for name, t in text.transformer.state_dict().items():
        t = t.detach().cpu().contiguous()
        h.update(f"{name}:{t.dtype}:{tuple(t.shape)}".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def frozen_trunk(text) -> bool:
    """Whether ``text`` (an HF tower) is a constant function of its tokens up to the projection:
    no trunk or pooler weight trains (``model.lock_text``) and the trunk is in eval mode (no
    dropout; Hugging Face loads it so, and the training loop never switches it)."""
    parts = [text.transformer, text.pooler]
    return not text.transformer.training and not any(p.requires_grad for m in parts for p in m.parameters())


class PooledTrunkCache:
    """Training with a frozen HF trunk: each distinct token row's pooled trunk output, computed
    once and kept (the MiniLM trunk was ~40 % of a ResNet-pair step, over the same 16,000
    reports and 27 label prompts every epoch); each step then runs only the projection. Equal to
    ``encode_text`` up to float summation order (a row is computed beside other rows)."""

    def __init__(self, max_items: int = 200_000):
        self._cache = BoundedCache(max_items, "pooled trunk outputs")

    def __getstate__(self) -> dict:
        return {}

    def __setstate__(self, state: dict) -> None:
        self.__init__()

    def encode(self, text, tokens: torch.Tensor) -> torch.Tensor:
        """L2-normalised text embeddings [B, D] of ``tokens``, gradients through the projection."""
        keys = [row.tobytes() for row in tokens.detach().cpu().numpy()]
        where = {k: i for i, k in enumerate(keys)}

        def compute(missing: list) -> list:
            with torch.no_grad():
                pooled = hf_pooled(text, tokens[[where[k] for k in missing]])
            return list(pooled)

        pooled = torch.stack(self._cache.get_many(keys, compute))
        return hf_project(text, pooled)

    def warm(self, text, tokens: torch.Tensor, batch: int = 256, progress: bool = False) -> int:
        """Compute and keep the pooled output of every row of ``tokens`` not kept yet, in
        batches of rows of similar length (little padding), so that no step waits on the trunk
        (demo20k: 2,170 distinct report texts, 41 s on one thread beside other work). Returns
        the number of rows computed."""
        from tqdm.auto import tqdm

        rows = tokens.detach().cpu()
        keys = [row.tobytes() for row in rows.numpy()]
        first = list({k: i for i, k in reversed(list(enumerate(keys)))}.values())  # one row per text
        lengths = (rows[first] != text.config.pad_token_id).sum(1)
        order = [first[i] for i in torch.argsort(lengths, stable=True).tolist()]
        computed = 0
        for start in tqdm(range(0, len(order), batch), desc="text trunk", unit="batch", disable=not progress):
            chunk = order[start:start + batch]
            where = {keys[i]: i for i in chunk}

            def compute(missing: list, where: dict = where) -> list:
                with torch.no_grad():
                    return list(hf_pooled(text, rows[[where[k] for k in missing]]))

            before = len(self._cache)
            self._cache.get_many([keys[i] for i in chunk], compute)
            computed += len(self._cache) - before
        return computed

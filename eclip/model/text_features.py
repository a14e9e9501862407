"""Text features from open_clip towers without the work spent on padding.

These reach into open_clip's text tower internals (token embedding, causal mask, pooling),
so they live with the model: callers above it only ever ask ``text_features(clip, tokens)``.
Both trims are exact: they drop only positions that cannot influence the pooled output.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

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
    from open_clip.hf_model import HFTextEncoder

    text = getattr(clip, "text", None)
    if not isinstance(text, HFTextEncoder) or text.config.pad_token_id is None:
        return tokens
    return tokens[:, :used_length(tokens, text.config.pad_token_id)]


def used_length(tokens: torch.Tensor, pad: int) -> int:
    """Columns up to the last one holding a non-pad token in any row (at least 1)."""
    used = (tokens != pad).any(0).nonzero()
    return int(used.max()) + 1 if len(used) else 1

"""Encode many short prompts through a causal text tower, computing each shared prefix once.

Prompt sets are templates x phrases ("There is {}.", "Findings consistent with {}.", ...), so
their token sequences share long prefixes. In open_clip's causal text transformer a position
sees only itself and earlier positions, so the hidden states of a shared prefix are identical in
every prompt that starts with it. We build the prefix trie of the token sequences, pack its
nodes into one sequence per chunk, and let each node attend to exactly its ancestors (a
"tree attention" mask) with the position embedding of its depth. Each prompt's end-of-text node
then carries the same features as a normal forward pass, up to float rounding, for about
two thirds of the work on the shipped prompt sets.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

MAX_CHUNK_NODES = 512  # attention is quadratic in a chunk's nodes; 512 measured fastest here


def supports_prefix_sharing(clip) -> bool:
    """open_clip's built-in causal text tower, pooled at the end-of-text token."""
    from open_clip.model import CLIP

    return type(clip) is CLIP and clip.attn_mask is not None and clip.text_pool_type in ("argmax", "eos")


class _Trie:
    def __init__(self):
        self.token: list[int] = []
        self.parent: list[int] = []
        self.depth: list[int] = []
        self.root_child: list[int] = []  # which child of the start token a node descends from
        self._children: dict[tuple[int, int], int] = {}

    def add(self, seq: list[int]) -> int:
        """Insert one token sequence; returns the node of its last token."""
        node = -1
        for d, tok in enumerate(seq):
            key = (node, tok)
            nxt = self._children.get(key)
            if nxt is None:
                nxt = len(self.token)
                self._children[key] = nxt
                self.token.append(tok)
                self.parent.append(node)
                self.depth.append(d)
                self.root_child.append(nxt if d == 1 else (self.root_child[node] if d > 1 else -1))
            node = nxt
        return node


def _pool_position(clip, seq: torch.Tensor) -> int:
    """Index of the token open_clip pools at (argmax of ids = end-of-text, or the eos id)."""
    if clip.text_pool_type == "argmax":
        return int(seq.argmax())
    eos = getattr(clip, "text_eos_id", None)
    return int((seq == eos).nonzero()[0]) if eos is not None else int(seq.argmax())


def _chunks(trie: _Trie) -> list[list[int]]:
    """Groups of start-token subtrees, each group <= MAX_CHUNK_NODES nodes (a bigger
    subtree forms a group on its own); node ids in insertion order, so parents come first."""
    sizes: dict[int, int] = {}
    for rc in trie.root_child:
        if rc >= 0:
            sizes[rc] = sizes.get(rc, 0) + 1
    groups, current, used = [], [], 0
    for rc, size in sizes.items():
        if current and used + size > MAX_CHUNK_NODES:
            groups.append(current)
            current, used = [], 0
        current.append(rc)
        used += size
    if current:
        groups.append(current)
    members = []
    for group in groups:
        keep = set(group)
        members.append([i for i, rc in enumerate(trie.root_child) if rc in keep or trie.depth[i] == 0])
    return members or [[i for i in range(len(trie.token))]]


def _forward_chunk(clip, trie: _Trie, nodes: list[int], device) -> torch.Tensor:
    local = {n: i for i, n in enumerate(nodes)}
    n = len(nodes)
    allowed = torch.zeros((n, n), dtype=torch.bool)
    for i, node in enumerate(nodes):  # parents precede children: copy the parent's row
        parent = trie.parent[node]
        if parent >= 0:
            allowed[i] = allowed[local[parent]]
        allowed[i, i] = True
    cast = clip.transformer.get_cast_dtype()
    mask = torch.zeros((n, n), dtype=cast).masked_fill_(~allowed, float("-inf")).to(device)
    tokens = torch.tensor([trie.token[i] for i in nodes], device=device)
    depth = torch.tensor([trie.depth[i] for i in nodes], device=device)
    x = clip.token_embedding(tokens).to(cast) + clip.positional_embedding[depth].to(cast)
    return clip.ln_final(clip.transformer(x[None], attn_mask=mask))[0]


def encode_shared_prefixes(clip, tokens: torch.Tensor) -> torch.Tensor:
    """L2-normalised text features [N, D] for token rows [N, ctx] (padding = 0)."""
    trie, ends = _Trie(), []
    for row in tokens:
        used = int((row != 0).nonzero().max()) + 1 if bool((row != 0).any()) else 1
        seq = row[:used]
        ends.append(trie.add(seq[:_pool_position(clip, seq) + 1].tolist()))
    pooled = torch.empty((len(trie.token), clip.ln_final.weight.shape[0]),
                         dtype=clip.transformer.get_cast_dtype(), device=tokens.device)
    for nodes in _chunks(trie):
        out = _forward_chunk(clip, trie, nodes, tokens.device)
        pooled[torch.tensor(nodes, device=tokens.device)] = out
    x = pooled[torch.tensor(ends, device=tokens.device)]
    if clip.text_projection is not None:
        proj = clip.text_projection
        x = proj(x) if hasattr(proj, "weight") else x @ proj
    return F.normalize(x, dim=-1)

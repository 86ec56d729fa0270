"""Pack scoring requests into prefix trees, so that every distinct prefix is computed once.

A sequence is the token ids a causal LM reads for one request (start token, context,
continuation); a token at position j >= `first` is scored by the model's output at position
j - 1. Sorted, sequences that start alike sit next to each other: all BLiMP sentences begin
with `<s>` and many with "The", EWoK's two targets share their context and the five
entity-tracking options share their prefix. Each distinct prefix becomes one node of a tree
(on BLiMP's first four paradigms ~45% of the positions a padded batch would compute).

The tree is cut into chunks, each run as one row of the model: a node attends to itself and
its ancestors only (`tree_mask`) and has its depth as its position id, which is exactly the
computation of its sequence on its own. A chunk holds at most `budget` nodes, or its longest
sequence plus `budget // 2` when that is more (so the options of a context longer than
`budget` still share it). A sequence that does not fit starts a new chunk, repeating the
prefix it shares with the previous one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np


@dataclass
class Chunk:
    tokens: list[int] = field(default_factory=list)  # node -> its token
    parents: list[int] = field(default_factory=list)  # node -> parent node, -1 for a root
    depths: list[int] = field(default_factory=list)  # node -> position in its sequence
    # (node, target token, sequence, position of the target in the sequence): one per score
    edges: list[tuple[int, int, int, int]] = field(default_factory=list)


def pack(sequences: Sequence[Sequence[int]], first: Sequence[int], budget: int) -> list[Chunk]:
    """Chunks holding every sequence's positions 0 .. len - 2 as tree nodes, and an edge for
    each scored position j in [first[i], len): node of position j - 1 -> token j. A sequence
    with no scored position is left out."""
    order = sorted(range(len(sequences)), key=lambda i: list(sequences[i]))
    chunks: list[Chunk] = []
    chunk, path, prev = Chunk(), [], []  # path[p]: node of position p of the previous sequence
    longest = 0  # most positions of one sequence in the chunk
    for i in order:
        seq = list(sequences[i])
        n = len(seq) - 1  # positions that feed a prediction
        if max(first[i], 1) > n:  # nothing to score
            continue
        shared = 0
        limit = min(len(path), n)
        while shared < limit and seq[shared] == prev[shared]:
            shared += 1
        longest = max(longest, n)
        if chunk.tokens and len(chunk.tokens) + n - shared > max(budget, longest + budget // 2):
            chunks.append(chunk)
            chunk, shared, longest = Chunk(), 0, n
        path = path[:shared]
        for p in range(shared, n):
            path.append(len(chunk.tokens))
            chunk.tokens.append(seq[p])
            chunk.parents.append(path[p - 1] if p else -1)
            chunk.depths.append(p)
        prev = seq
        for j in range(max(first[i], 1), len(seq)):
            chunk.edges.append((path[j - 1], seq[j], i, j))
    if chunk.tokens:
        chunks.append(chunk)
    return chunks


def tree_mask(parents: Sequence[int], length: int) -> np.ndarray:
    """(length, length) bool: node q may attend to node k iff k is q or an ancestor of q.
    Slots past the last node attend to themselves only (so no softmax row is empty)."""
    mask = np.eye(length, dtype=bool)
    for q, parent in enumerate(parents):
        if parent >= 0:
            mask[q, :q] = mask[parent, :q]
    return mask


def model_inputs(chunks: Sequence[Chunk], length: int, pad_id: int):
    """Rows of `length` for the model: token ids, position ids (depths) and the (rows, 1,
    length, length) bool attention mask, True where a node may attend."""
    ids = np.full((len(chunks), length), pad_id, dtype=np.int64)
    positions = np.zeros((len(chunks), length), dtype=np.int64)
    mask = np.zeros((len(chunks), 1, length, length), dtype=bool)
    for r, c in enumerate(chunks):
        ids[r, : len(c.tokens)] = c.tokens
        positions[r, : len(c.depths)] = c.depths
        mask[r, 0] = tree_mask(c.parents, length)
    return ids, positions, mask

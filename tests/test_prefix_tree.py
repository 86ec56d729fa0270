"""Prefix-tree packing of scoring requests, on hand-made token sequences."""

import numpy as np

from cdsynth.evaluate.prefix_tree import pack, tree_mask


def test_shared_prefixes_become_one_node_each():
    seqs = [[1, 5, 6, 7], [1, 5, 8], [1, 5, 6, 9], [2]]
    (chunk,) = pack(seqs, [1, 1, 1, 1], budget=100)
    # sorted: [1,5,6,7], [1,5,6,9], [1,5,8], [2]: nodes 1, 1>5, 1>5>6; [2] has no position
    # that predicts anything
    assert chunk.tokens == [1, 5, 6]
    assert chunk.parents == [-1, 0, 1]
    assert chunk.depths == [0, 1, 2]
    assert sorted(chunk.edges, key=lambda e: (e[2], e[3])) == [
        (0, 5, 0, 1), (1, 6, 0, 2), (2, 7, 0, 3),
        (0, 5, 1, 1), (1, 8, 1, 2),
        (0, 5, 2, 1), (1, 6, 2, 2), (2, 9, 2, 3),
    ]  # fmt: skip


def test_first_scored_position_and_branching():
    seqs = [[1, 2, 3, 4], [1, 3, 4]]
    (chunk,) = pack(seqs, [3, 1], budget=100)
    assert chunk.tokens == [1, 2, 3, 3]  # 1, 1>2, 1>2>3, 1>3
    assert chunk.parents == [-1, 0, 1, 0]
    assert chunk.depths == [0, 1, 2, 1]
    assert sorted(chunk.edges) == [(0, 3, 1, 1), (2, 4, 0, 3), (3, 4, 1, 2)]
    mask = tree_mask(chunk.parents, 6)
    expected = np.zeros((6, 6), dtype=bool)
    for q, keys in enumerate([[0], [0, 1], [0, 1, 2], [0, 3], [4], [5]]):
        expected[q, keys] = True
    assert (mask == expected).all()


def test_budget_cuts_chunks_and_repeats_the_shared_prefix():
    seqs = [
        [1, 2, 3, 4, 5],
        [1, 2, 3, 9, 9],
        [1, 2, 6, 6, 6],
        [1, 7, 7, 7, 7, 7, 7, 7],
        [1, 7, 7, 7, 7, 7, 7, 8],
    ]
    chunks = pack(seqs, [1] * len(seqs), budget=4)
    # a chunk holds max(budget, longest sequence + budget // 2) nodes: the second sequence
    # joins the first (5 <= 6), the third repeats the shared [1, 2] in a new chunk, and the
    # long last two share one chunk of 7 > budget nodes
    assert [c.tokens for c in chunks] == [[1, 2, 3, 4, 9], [1, 2, 6, 6], [1, 7, 7, 7, 7, 7, 7]]
    # every scored position is in exactly one chunk
    edges = sorted((s, j) for c in chunks for _, _, s, j in c.edges)
    assert edges == [(i, j) for i, s in enumerate(seqs) for j in range(1, len(s))]

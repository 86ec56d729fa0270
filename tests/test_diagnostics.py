"""Corpus diagnostics on hand-made corpora with known distinct-n, repetition and self-BLEU."""

import math

import pytest

from cdsynth.analysis import bleu, corpus_diagnostics, diagnostic_rows, distinct_n, self_bleu


def test_distinct_n_and_repetition_on_hand_made_text():
    d = corpus_diagnostics(["a b a b", "c d"], None)
    # unigrams a b a b c d: 4 distinct of 6; bigrams ab ba ab cd: 3 of 4
    assert d["distinct_1"] == pytest.approx(4 / 6)
    assert d["distinct_2"] == pytest.approx(3 / 4)
    assert d["documents"] == 2 and d["mean_words"] == 3.0
    assert d["overlap_8gram_train"] is None  # the real split is not scored against itself
    assert distinct_n([["x"] * 5], 1) == pytest.approx(1 / 5)


def test_self_bleu_is_one_for_copies_and_low_for_disjoint_text():
    same = [["the", "cat", "sat", "on", "the", "mat"]] * 3
    assert self_bleu(same, k=3) == pytest.approx(1.0)
    disjoint = [[f"w{i}{j}" for j in range(6)] for i in range(3)]
    # no n-gram matches: each order contributes (0 + 1) / (count + 1) with +1 smoothing
    expected = math.exp(sum(math.log(1 / (6 - n + 2)) for n in range(1, 5)) / 4)
    assert self_bleu(disjoint, k=3) == pytest.approx(expected)
    assert bleu(same[0], [same[1]]) == pytest.approx(1.0)
    assert math.isnan(self_bleu([["one"]], k=5))


def test_overlap_with_training_text():
    train = "a b c d e f g h i j".split()
    grams = {tuple(train[i : i + 8]) for i in range(len(train) - 7)}
    d = corpus_diagnostics(["a b c d e f g h z z", "q r s t u v w x y"], grams)
    # 3 + 2 eight-grams; one of the first document's is in the training text
    assert d["overlap_8gram_train"] == pytest.approx(1 / 5)


def test_diagnostic_rows_take_one_completion_per_prefix():
    rows = [{"prefix_id": p, "completion_id": c} for p in range(5) for c in (2, 0, 1)]
    idx = diagnostic_rows(rows, n=10)
    assert [rows[i]["prefix_id"] for i in idx] == [0, 1, 2, 3, 4]
    assert all(rows[i]["completion_id"] == 0 for i in idx)
    some = diagnostic_rows(rows, n=3, seed=1)
    assert len(some) == 3 and len({rows[i]["prefix_id"] for i in some}) == 3
    assert some == diagnostic_rows(rows, n=3, seed=1)

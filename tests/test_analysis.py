import math

import numpy as np
import pytest

from cdsynth.analysis import (
    accuracy_statistic,
    mean_max,
    mu_delta_rel,
    paired_bootstrap,
    perplexity_statistic,
    relative_improvement,
)


def test_mean_max_on_a_hand_made_table():
    scores = {0: {100: 0.50, 200: 0.62, 300: 0.60}, 1: {100: 0.55, 200: 0.58, 300: 0.64}}
    mm = mean_max(scores)
    assert mm.per_seed == {0: 0.62, 1: 0.64} and mm.steps == {0: 200, 1: 300}
    assert mm.value == pytest.approx(0.63)
    ppl = mean_max(
        {0: {100: 30.0, 200: 25.0, 300: 26.0}, 1: {100: 28.0, 200: 27.0, 300: 24.0}},
        lower_is_better=True,
    )
    assert ppl.value == pytest.approx(24.5) and ppl.steps == {0: 200, 1: 300}
    # ties go to the earliest checkpoint
    assert mean_max({0: {100: 0.5, 200: 0.5}}).steps == {0: 100}


def test_relative_improvement_and_mu_delta_rel():
    assert relative_improvement(0.66, 0.60) == pytest.approx(0.1)
    assert relative_improvement(23.0, 25.0, lower_is_better=True) == pytest.approx(0.08)
    rel = {"perplexity": 0.08, "blimp": 0.02, "ewok": 0.05, "entity_tracking": -0.01}
    assert mu_delta_rel(rel) == pytest.approx((0.02 + 0.05 - 0.01) / 3)


def items_from(correct, subtasks=None):
    return [
        {"id": str(i), "subtask": (subtasks[i] if subtasks else "all"), "correct": bool(c)}
        for i, c in enumerate(correct)
    ]


def test_bootstrap_finds_a_known_effect():
    rng = np.random.default_rng(1)
    n = 600
    base = rng.random(n) < 0.60
    better = base | (rng.random(n) < 0.25)  # ~ +10 points, paired with the baseline
    cmp = paired_bootstrap([items_from(better)], [items_from(base)], accuracy_statistic, B=500)
    assert cmp.diff == pytest.approx(better.mean() - base.mean())
    assert cmp.p < 0.01 and cmp.ci[0] > 0
    assert cmp.p == pytest.approx(1 / 501)  # no resample reverses the sign


def test_bootstrap_p_is_roughly_uniform_without_an_effect():
    ps = []
    for rep in range(40):
        rng = np.random.default_rng(100 + rep)
        a = rng.random(300) < 0.6
        b = rng.random(300) < 0.6
        ps.append(
            paired_bootstrap(
                [items_from(a)], [items_from(b)], accuracy_statistic, B=200, seed=rep
            ).p
        )
    ps = np.array(ps)
    # one-sided p in the observed direction lies in (0, ~0.5]: under no effect it is uniform
    # there, so about 10% of p fall below 0.05 and the median is near 0.25
    assert 0.12 < np.median(ps) < 0.4
    assert (ps < 0.05).mean() < 0.25


def test_bootstrap_pairs_items_by_id_and_handles_seeds_and_strata():
    sub = ["x"] * 50 + ["y"] * 50
    a1 = items_from([1] * 100, sub)
    a2 = items_from([1] * 50 + [0] * 50, sub)
    b = items_from([0] * 100, sub)
    cmp = paired_bootstrap([a1, a2], [b, b[::-1]], accuracy_statistic, B=100)
    assert cmp.method == pytest.approx(0.75) and cmp.baseline == 0 and cmp.n_items == 100
    # stratified resampling keeps both subtasks: every resample has x and y
    assert cmp.ci[0] > 0.5


def test_perplexity_statistic():
    items = [
        [
            {"id": "a", "subtask": "e", "nll": 10.0, "tokens": 5},
            {"id": "b", "subtask": "e", "nll": 2.0, "tokens": 5},
        ]
    ]
    assert perplexity_statistic(items, np.arange(2)) == pytest.approx(math.exp(1.2))

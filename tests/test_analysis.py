import math

import numpy as np
import pytest

from cdsynth.analysis import (
    bootstrap_scores,
    compare,
    effect_direction,
    held_out_mean_max,
    improvement,
    mean_max,
    mu_delta_rel,
    mu_delta_rel_samples,
    paired_bootstrap,
    relative_improvement,
    sample_rows,
    significance_mark,
)
from cdsynth.item_statistics import accuracy_statistic, perplexity_statistic, spearman_statistic


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
    assert cmp.p == pytest.approx(2 / 501)  # two-sided; no resample reverses the sign


def test_two_sided_p_is_calibrated_under_no_difference():
    # 500 null comparisons (one seed, 200 paired items, B = 200): a two-sided p < 0.05 in
    # about 5% of them (a one-sided p in the observed direction gives about 10%)
    ps = []
    for rep in range(500):
        rng = np.random.default_rng(1000 + rep)
        a, b = rng.random(200) < 0.6, rng.random(200) < 0.6
        c = paired_bootstrap([items_from(a)], [items_from(b)], accuracy_statistic, B=200, seed=rep)
        ps.append(c.p)
        # a star never stands beside an interval that includes 0
        assert (c.mark != "") == (c.ci[0] > 0 or c.ci[1] < 0)
    ps = np.array(ps)
    assert 0.03 <= (ps < 0.05).mean() <= 0.07
    assert 0.4 < np.median(ps) < 0.6


def null_sides(rng, n_seeds, n_items=100, seed_sd=0.08):
    """Two methods with no true difference: per seed a shift of every item's accuracy."""
    q = rng.random(n_items) * 0.6 + 0.2

    def side():
        return {
            s: items_from(rng.random(n_items) < np.clip(q + rng.normal(0, seed_sd), 0, 1))
            for s in range(n_seeds)
        }

    return side(), side()


def test_hierarchical_bootstrap_is_calibrated_with_seed_variance():
    # 500 null comparisons of 5 seeds each, where seeds differ: resampling seeds too keeps
    # p < 0.05 near 5%; resampling items only ignores seed variance and rejects far too often
    hier, items = [], []
    for rep in range(500):
        m, b = null_sides(np.random.default_rng(5000 + rep), 5)
        for resample, out in (("hierarchical", hier), ("items", items)):
            if resample == "items" and rep >= 100:
                continue
            boot = bootstrap_scores({"m": m, "b": b}, accuracy_statistic, 200, rep, resample)
            out.append(compare(boot["m"], boot["b"]).p)
    assert 0.03 <= (np.array(hier) < 0.05).mean() <= 0.07
    assert (np.array(items) < 0.05).mean() > 0.2


def null_study(rng, n_seeds, seed_sd, n_items=200, effect=0.0):
    """A method and a baseline of `n_seeds` seeds on `n_items` shared items: every model
    answers item i correctly with probability q_i + its seed's shift (sd `seed_sd`), the
    method's `effect` higher."""
    q = rng.random(n_items) * 0.6 + 0.2

    def side(e):
        return {
            s: items_from(rng.random(n_items) < np.clip(q + e + rng.normal(0, seed_sd), 0, 1))
            for s in range(n_seeds)
        }

    return side(effect), side(0.0)


def rejection_rate(resample, n_seeds, seed_sd, studies, effect=0.0, B=400):
    """The share of simulated studies with p < 0.05 (fixed RNG seeds: deterministic)."""
    ps = []
    for rep in range(studies):
        rng = np.random.default_rng([n_seeds, round(seed_sd * 1000), round(effect * 1000), rep])
        m, b = null_study(rng, n_seeds, seed_sd, effect=effect)
        boot = bootstrap_scores({"m": m, "b": b}, accuracy_statistic, B, rep, resample)
        ps.append(compare(boot["m"], boot["b"]).p)
    return float((np.array(ps) < 0.05).mean())


def test_seed_weights_give_the_t_interval_of_the_seed_mean():
    from scipy import stats

    from cdsynth.analysis import seed_weights

    v = np.array([0.61, 0.58, 0.66, 0.60, 0.63])
    W = seed_weights(5, 20000, 0)
    assert np.allclose(W.sum(1), 1) and W.shape == (20000, 5)
    x = W @ v
    half = stats.t.ppf(0.975, 4) * v.std(ddof=1) / np.sqrt(5)
    lo, hi = np.percentile(x, [2.5, 97.5])
    assert lo == pytest.approx(v.mean() - half, abs=0.003)
    assert hi == pytest.approx(v.mean() + half, abs=0.003)
    assert np.array_equal(W, seed_weights(5, 20000, 0))  # a function of (seed, S, B)


def test_seeds_scheme_is_calibrated_with_and_without_seed_variance():
    """Under no difference (200 items), the seeds scheme marks p < 0.05 in 3-7% of studies
    at 3 and 10 seeds, with seed-level sd 0.05 and 0; the full grid is the slow test below."""
    for n_seeds in (3, 10):
        for sd in (0.05, 0.0):
            assert 0.03 <= rejection_rate("seeds", n_seeds, sd, 300) <= 0.07, (n_seeds, sd)


@pytest.mark.slow
def test_seeds_scheme_calibration_grid_and_power_against_hierarchical():
    """600 null studies of 200 items per cell: the seeds scheme (a paired t over seeds; items
    with one seed) stays within 3-7% for 1 to 10 seeds with and without seed variance (one
    seed with seed variance is untestable: one model per side cannot show seed variance).
    The hierarchical scheme counts item noise twice and is too conservative at 10 seeds,
    so at the paper's 10 seeds the seeds scheme finds a true effect more often (measured
    2026-12-04: +5 points 0.395 against 0.335, +2 points 0.13 against 0.075; docs/method.md)."""
    for n_seeds, sd in [(1, 0.0), (2, 0.0), (2, 0.05), (3, 0.0), (3, 0.05), (5, 0.0),
                        (5, 0.05), (10, 0.0), (10, 0.05)]:  # fmt: skip
        assert 0.03 <= rejection_rate("seeds", n_seeds, sd, 600) <= 0.07, (n_seeds, sd)
    assert rejection_rate("hierarchical", 10, 0.05, 600) < 0.03
    for effect in (0.02, 0.05):
        seeds = rejection_rate("seeds", 10, 0.05, 200, effect)
        hier = rejection_rate("hierarchical", 10, 0.05, 200, effect)
        assert seeds > hier + 0.04, (effect, seeds, hier)


def test_seed_variance_widens_the_hierarchical_ci():
    m, b = null_sides(np.random.default_rng(3), 4, n_items=300, seed_sd=0.1)
    width = {}
    for resample in ("hierarchical", "items"):
        c = paired_bootstrap(m, b, accuracy_statistic, B=300, resample=resample)
        width[resample] = c.ci[1] - c.ci[0]
    assert width["hierarchical"] > 1.5 * width["items"]
    # without seed variance both agree roughly
    m, b = null_sides(np.random.default_rng(3), 4, n_items=300, seed_sd=0.0)
    w = [
        np.diff(paired_bootstrap(m, b, accuracy_statistic, B=300, resample=r).ci)[0]
        for r in ("hierarchical", "items")
    ]
    assert w[0] < 1.6 * w[1]


def test_hierarchical_pairs_by_seed():
    # the method is the baseline plus a constant per item: seeds paired, so the seed effect
    # cancels and the interval is tight around the true +0.1
    rng = np.random.default_rng(0)
    base, meth = {}, {}
    for s in range(4):
        shift = rng.normal(0, 0.1)
        x = rng.random(400) < np.clip(0.5 + shift, 0, 1)
        y = x | (rng.random(400) < 0.2)
        base[10 + s], meth[10 + s] = items_from(x), items_from(y)
    c = paired_bootstrap(meth, base, accuracy_statistic, B=300, resample="hierarchical")
    assert c.ci[0] > 0 and c.p < 0.01 and c.mark == "**"


def test_vectorized_statistics_match_the_plain_formulas():
    from scipy.stats import spearmanr

    rng = np.random.default_rng(2)
    items = [
        {"id": str(i), "subtask": "ab"[i % 2], "correct": bool(c), "p_first": p, "ratio": r}
        for i, (c, p, r) in enumerate(
            zip(rng.random(50) < 0.5, rng.random(50), rng.integers(0, 5, 50), strict=True)
        )
    ]
    idx = rng.integers(0, 50, (3, 50))
    for b in range(3):
        sel = [items[i] for i in idx[b]]
        acc = np.mean([np.mean([it["correct"] for it in sel if it["subtask"] == s]) for s in "ab"])
        assert accuracy_statistic(items, idx)[b] == pytest.approx(acc)
        rho = spearmanr([it["p_first"] for it in sel], [it["ratio"] for it in sel]).statistic
        assert spearman_statistic(items, idx)[b] == pytest.approx(rho)


def test_a_method_without_items_is_left_out_not_an_error():
    a = items_from([1, 0, 1])
    boot = bootstrap_scores({"m": {}, "b": [a]}, accuracy_statistic, B=10)
    assert list(boot) == ["b"]
    with pytest.raises(ValueError):
        paired_bootstrap([], [a], accuracy_statistic, B=10)


def test_significance_and_direction_follow_the_interval():
    assert significance_mark((0.01, 0.2), (-0.01, 0.3)) == "*"
    assert significance_mark((0.01, 0.2), (0.001, 0.3)) == "**"
    assert significance_mark((-0.01, 0.2), (0.001, 0.3)) == ""
    # lower perplexity is a gain
    assert effect_direction(-1.0, (-2.0, -0.5), lower_is_better=True) == "gain"
    assert effect_direction(1.0, (0.5, 2.0), lower_is_better=True) == "loss"
    assert effect_direction(0.02, (0.01, 0.03)) == "gain"
    assert effect_direction(0.02, (-0.01, 0.03)) is None


def test_relative_improvement_on_a_signed_baseline():
    # a WUG rho of -0.05 that improves to +0.10: not -300%, but undefined; the absolute
    # difference says +0.15
    assert math.isnan(relative_improvement(0.10, -0.05))
    assert math.isnan(relative_improvement(0.10, 0.0))
    assert improvement(0.10, -0.05) == pytest.approx(0.15)
    assert improvement(23.0, 25.0, lower_is_better=True) == pytest.approx(2.0)
    rel = {"blimp": 0.02, "wug": relative_improvement(0.10, -0.05)}
    assert mu_delta_rel(rel) == pytest.approx(0.02)
    # resampled: per resample the mean over the tasks given
    m = {"blimp": np.array([0.66, 0.72]), "perplexity": np.array([20.0, 30.0])}
    b = {"blimp": np.array([0.60, 0.60]), "perplexity": np.array([25.0, 25.0])}
    got = mu_delta_rel_samples(m, b, {"blimp": False, "perplexity": True})
    assert got == pytest.approx([(0.1 + 0.2) / 2, (0.2 - 0.2) / 2])


def test_held_out_selection_reports_on_the_other_half():
    from cdsynth.analysis import split_half

    ids = [str(i) for i in range(40)]
    half_b = {i for i in ids if split_half(i) == 1}

    def items(good_on_b):  # all correct on half A; on half B correct iff good_on_b
        return [{"id": i, "subtask": "x", "correct": (i not in half_b) or good_on_b} for i in ids]

    # step 100 looks best on half A only by a tie-break (earliest); step 200 is the same on A
    by_step = {0: {100: items(False), 200: items(True)}}
    mm = held_out_mean_max(by_step, accuracy_statistic)
    assert mm.steps == {0: 100} and mm.value == 0.0  # chosen on A, scored on B
    assert mean_max({0: {100: 0.5, 200: 1.0}}).value == 1.0


def test_sample_rows_cover_sources_and_prefixes():
    sources = ["a"] * 50 + ["b"] * 5 + ["c"] * 5
    prefixes = [i // 8 for i in range(50)] + [100 + i for i in range(10)]
    picked = sample_rows(sources, prefixes, 6, seed=1)
    assert len(picked) == 6
    assert {sources[i] for i in picked} == {"a", "b", "c"}
    assert len({prefixes[i] for i in picked}) == 6
    assert picked != list(range(6))


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
    assert perplexity_statistic(items[0], np.arange(2)[None])[0] == pytest.approx(math.exp(1.2))

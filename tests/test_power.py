"""The seeds-needed estimate against the textbook paired-t power and against simulation."""

import numpy as np
import pytest
from scipy import stats

from cdsynth.power import paired_t_power, seeds_for_power


def test_power_matches_simulated_paired_t():
    """Simulated: 4000 studies of 6 seeds with per-seed differences N(0.5, 1)."""
    rng = np.random.default_rng(0)
    d = rng.normal(0.5, 1.0, (4000, 6))
    p = stats.ttest_1samp(d, 0.0, axis=1).pvalue
    assert paired_t_power(0.5, 1.0, 6) == pytest.approx((p < 0.05).mean(), abs=0.02)
    assert paired_t_power(0.0, 1.0, 6) == pytest.approx(0.05)


def test_seeds_for_power_by_hand():
    # one standard deviation: 10 pairs give 80.3% (the textbook paired-t table), 9 give 75%
    assert seeds_for_power(1.0, 1.0) == 10
    assert paired_t_power(1.0, 1.0, 9) < 0.8 <= paired_t_power(1.0, 1.0, 10)
    assert seeds_for_power(-1.0, 1.0) == 10  # the sign does not matter
    assert seeds_for_power(0.5, 1.0) == 34
    assert seeds_for_power(0.01, 1.0) is None  # more than 1000
    assert seeds_for_power(0.0, 1.0) is None
    with pytest.raises(ValueError):
        paired_t_power(1.0, 1.0, 1)


def test_seeds_needed_from_a_studys_per_seed_scores():
    from cdsynth.analysis import bootstrap_scores, seeds_needed

    def side(acc):  # one item per seed, scored as its accuracy
        return {s: [{"id": "0", "subtask": "all", "value": a}] for s, a in enumerate(acc)}

    def mean_value(items, idx):
        return np.array([[it["value"] for it in items]])[0][idx].mean(axis=1)

    m, b = side([0.62, 0.60, 0.65]), side([0.60, 0.61, 0.60])
    boot = bootstrap_scores({"m": m, "b": b}, mean_value, B=50)
    assert boot["m"].per_seed == (0.62, 0.60, 0.65)
    d = np.array([0.02, -0.01, 0.05])
    assert seeds_needed(boot["m"], boot["b"]) == seeds_for_power(d.mean(), d.std(ddof=1))
    one = bootstrap_scores({"m": side([0.6]), "b": side([0.5])}, mean_value, B=50)
    assert seeds_needed(one["m"], one["b"]) is None  # one seed: no spread to measure

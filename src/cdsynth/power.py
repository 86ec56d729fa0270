"""How many seeds a paired comparison needs: the power of the `seeds` test (a paired t over
seeds, `analysis.seed_weights`) from a measured seed-to-seed spread. Pure functions.

    paired_t_power(effect=0.01, sd=0.02, n_seeds=10)        # P(p < 0.05) if the effect is real
    seeds_for_power(effect=0.01, sd=0.02)                   # seeds for 80% power (None: > 1000)

`effect` is a true mean difference between two methods, `sd` the standard deviation across
seeds of one seed's difference (method seed s minus baseline seed s: model noise and item
noise together, as the paired t sees it).
"""

from __future__ import annotations

import math

from scipy import stats


def paired_t_power(effect: float, sd: float, n_seeds: int, alpha: float = 0.05) -> float:
    """Two-sided power of a paired t-test over `n_seeds` seeds (noncentral t)."""
    if n_seeds < 2:
        raise ValueError("a paired t over seeds needs at least two seeds")
    if not (math.isfinite(effect) and math.isfinite(sd)) or sd < 0:
        raise ValueError(f"effect and sd must be finite, sd >= 0 (got {effect}, {sd})")
    if sd == 0:
        return 1.0 if effect != 0 else alpha
    df = n_seeds - 1
    crit = stats.t.ppf(1 - alpha / 2, df)
    ncp = abs(effect) / sd * math.sqrt(n_seeds)
    return float(stats.nct.sf(crit, df, ncp) + stats.nct.cdf(-crit, df, ncp))


def seeds_for_power(
    effect: float, sd: float, power: float = 0.8, alpha: float = 0.05, most: int = 1000
) -> int | None:
    """The fewest seeds (>= 2) at which the paired t finds `effect` with probability
    `power`; None if more than `most` are needed (or the effect is 0)."""
    if effect == 0:
        return None
    for n in range(2, most + 1):
        if paired_t_power(effect, sd, n, alpha) >= power:
            return n
    return None

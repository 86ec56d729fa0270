"""The Figure 2 and Figure 3 analogues of RESULTS.md, as tables, from summary.json alone.

For each sweep of the study (top-k, top-p, mixing ratio) and each point of it: the mean-max
score of every task (each seed's best checkpoint, then the mean over seeds, as in Table 2),
mu-Delta-REL against the baseline (of the means, as Table 2), and the point's difference from
the sweep's own default (no truncation; ratio 0.3) with a paired t over seeds (for
mu-Delta-REL: each seed's, divided by the baseline's score as in the report): its 95% CI, the
seed-to-seed sd of that difference and the seeds a paired t would need to find the observed
difference with 80% power (`cdsynth.power`). Run from the repository root:

    .venv/bin/python results/reference-cpu/sweeps.py [results/reference-cpu/summary.json]
"""

from __future__ import annotations

import json
import math
import sys

import numpy as np
from scipy import stats

from cdsynth import analysis
from cdsynth.power import seeds_for_power

LOWER = {"perplexity"}
SHOWN = ["perplexity", "blimp_filtered", "blimp_supplement", "ewok", "entity_tracking"]


def per_seed_best(curve_seeds: dict, task: str) -> np.ndarray:
    """Each seed's best checkpoint score of one task (min for perplexity)."""
    steps = curve_seeds[task]
    by_seed = np.array([steps[s] for s in sorted(steps, key=int)], dtype=float).T  # seeds x steps
    return np.nanmin(by_seed, axis=1) if task in LOWER else np.nanmax(by_seed, axis=1)


def seed_mu_delta_rel(method: dict, baseline: dict, tasks: list[str]) -> np.ndarray:
    """Each seed's mu-Delta-REL over `tasks` as the report computes it
    (`analysis.mu_delta_rel_samples` with the baseline's fixed score): the seed's improvement
    over the same seed's baseline divided by the baseline's score (its mean over seeds),
    averaged over the tasks. Its mean over seeds is the report's mu-Delta-REL."""
    return analysis.mu_delta_rel_samples(
        {t: method[t] for t in tasks},
        {t: baseline[t] for t in tasks},
        {t: t in LOWER for t in tasks},
        {t: float(baseline[t].mean()) for t in tasks},
    )


def paired(a: np.ndarray, b: np.ndarray) -> tuple[float, float, float, int | None]:
    """mean(a - b), its 95% half-width (paired t over seeds), the sd, seeds for 80% power."""
    d = a - b
    n, sd = len(d), float(np.std(d, ddof=1))
    half = stats.t.ppf(0.975, n - 1) * sd / math.sqrt(n)
    return float(d.mean()), float(half), sd, seeds_for_power(float(d.mean()), sd)


def sweep_points(summary: dict) -> list[tuple[str, str, list[tuple[str, str]]]]:
    """(key, default, [(x, method)]) per sweep as the report groups them, the default first."""
    out = []
    for sw in summary["summary"].get("sweeps") or []:
        points = [(str(p["x"]), p["method"]) for p in sw["points"]]
        # the sweep's base condition: the one not named after the swept setting
        default = next(m for _, m in points if f"-{sw['key']}-" not in m)
        out.append((sw["key"], default, points))
    return out


def main(path: str = "results/reference-cpu/summary.json") -> None:
    data = json.load(open(path))
    s = data["summary"]
    tasks = s["relative_tasks"]
    best = {
        m: {t: per_seed_best(s["curve_seeds"][m], t) for t in SHOWN}
        for m in s["curve_seeds"]
        if all(t in s["curve_seeds"][m] for t in SHOWN)
    }
    base = best["baseline"]
    for key, default, points in sweep_points(data):
        print(f"\n### {key} (default: {default})\n")
        print(
            "| point | " + " | ".join(SHOWN) + " | mu-Delta-REL | Δ mu-Delta-REL vs default "
            "[95% CI] (sd; seeds for 80% power) | Δ perplexity vs default |"
        )
        print("|---" * (len(SHOWN) + 4) + "|")
        ref = best.get(default)
        for label, method in points:
            if method not in best:
                print(f"| {label} | not run |")
                continue
            b = best[method]
            cells = [
                f"{b[t].mean():.1f}" if t in LOWER else f"{100 * b[t].mean():.1f}" for t in SHOWN
            ]
            mdr = seed_mu_delta_rel(b, base, tasks)
            table_mdr = mdr.mean()  # = the mean over tasks of (b - baseline) / baseline
            vs, ppl = "", ""
            if ref is not None and method != default:
                d, h, sd, n = paired(mdr, seed_mu_delta_rel(ref, base, tasks))
                ci = f"[{100 * (d - h):+.2f}, {100 * (d + h):+.2f}]"
                vs = f"{100 * d:+.2f} {ci} ({100 * sd:.2f}; {n or '>1000'})"
                d, h, sd, n = paired(b["perplexity"], ref["perplexity"])
                ppl = f"{d:+.2f} [{d - h:+.2f}, {d + h:+.2f}] ({sd:.2f}; {n or '>1000'})"
            print(
                f"| {label} | " + " | ".join(cells) + f" | {100 * table_mdr:+.2f}% | {vs} | {ppl} |"
            )


if __name__ == "__main__":
    main(*sys.argv[1:])

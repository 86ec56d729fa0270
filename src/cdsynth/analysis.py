"""Statistics of a study: mean-max selection, the bootstrap, mu-Delta-REL and the corpus
diagnostics. Pure functions on plain data; no I/O, no evaluation module (the task scores as
statistics of items: `item_statistics`; the paper's claims: `claims`).

    best = mean_max({seed: {step: score}}, lower_is_better=False)      # -> MeanMax
    check = held_out_mean_max({seed: {step: items}}, statistic)       # select on half A, report B
    boot = bootstrap_scores({method: {seed: items}}, statistic, B=1000, seed=0,
                            resample="seeds")                         # {method: BootstrapScore}
    cmp = compare(boot["cd"], boot["baseline"])                        # -> Comparison
    cmp = paired_bootstrap(method_items, baseline_items, statistic)    # the two in one call
    relative_improvement(m, b, lower_is_better)    # (m - b) / b; NaN where b <= 0 (undefined)
    mu_delta_rel({task: rel}, exclude=("perplexity",))

Resampling. Items are matched by id: every method and seed is restricted to the ids they all
share. `seeds` (the default) scores each seed on every item and resamples the seed mean with
`seed_weights`, whose weighted means follow the seed mean's t distribution, so two methods with
the same seeds are compared by a paired t over seeds (item noise counted once, inside each
seed's score); with one seed it resamples items within strata (the subtasks). `hierarchical`
draws seeds with replacement and items within strata in every resample (item noise counted
twice: too conservative with many seeds); `items` keeps every seed and resamples items only.
One draw of item indices serves every method, and sides with the same number of seeds share
their seed draws or weights, so any two methods' resampled scores are paired. Draws and
weights are functions of (bootstrap seed, number of seeds or strata sizes, B) only, so every
task of a study shares them and mu-Delta-REL can be resampled across tasks. Calibration and
power under simulated nulls: docs/method.md.

A statistic is `statistic(items, idx) -> scores`: one seed's items (dicts) and an int array
idx (B, n) of item indices, giving the task score of each resample, shape (B,).
"""

from __future__ import annotations

import math
import zlib
from collections import Counter
from dataclasses import dataclass, field
from typing import Callable, Mapping, Sequence

import numpy as np

from .tasks import LOWER_IS_BETTER

# metrics on a positive ratio scale, where a relative change (m - b) / b means something;
# correlations and R^2 gains can be near zero or negative: they get absolute differences only
RATIO_METRICS = {"accuracy", "perplexity"}
RESAMPLING = {
    "seeds": "seeds, each scored on every item (a paired t over seeds); items with one seed",
    "hierarchical": "seeds, then items within subtasks (paired by seed and by item)",
    "items": "items within subtasks (paired by item); every seed kept",
}


class NoSharedItems(ValueError):
    """The methods given to the bootstrap share no item ids: nothing to pair them on."""


@dataclass(frozen=True)
class MeanMax:
    value: float  # mean over seeds of each seed's best checkpoint score
    per_seed: dict  # seed -> best score
    steps: dict  # seed -> step of the best checkpoint


def _best_step(finite: dict, lower_is_better: bool):
    """The best step of {step: score} (ties: the earliest step)."""
    if lower_is_better:
        return max(finite, key=lambda s: (-finite[s], -s))
    return max(finite, key=lambda s: (finite[s], -s))


def mean_max(scores: dict, lower_is_better: bool = False) -> MeanMax:
    """scores: {seed: {step: score}}. Per seed the best checkpoint (ties: the earliest step)."""
    per_seed, steps = {}, {}
    for seed, by_step in scores.items():
        finite = {s: v for s, v in by_step.items() if v is not None and math.isfinite(v)}
        if not finite:
            continue
        best = _best_step(finite, lower_is_better)
        per_seed[seed], steps[seed] = finite[best], best
    value = float(np.mean(list(per_seed.values()))) if per_seed else float("nan")
    return MeanMax(value, per_seed, steps)


def split_half(item_id, seed: int = 0) -> int:
    """0 or 1: which half an item belongs to, a function of (seed, id) only."""
    return zlib.crc32(f"{seed}:{item_id}".encode()) % 2


def held_out_mean_max(
    items: dict, statistic: Callable, lower_is_better: bool = False, seed: int = 0
) -> MeanMax:
    """A check of mean-max's selection bias: each seed's checkpoint is picked on half A of
    the items and its score reported on half B (halves by `split_half`, the same for every
    run). items: {seed: {step: [item dicts]}}."""
    scores, selected = {}, {}
    for s, by_step in items.items():
        if not by_step:
            continue
        ids = set.intersection(*({it["id"] for it in v} for v in by_step.values()))
        halves = [sorted(i for i in ids if split_half(i, seed) == h) for h in (0, 1)]
        if not halves[0] or not halves[1]:
            continue
        on = {}
        for h, half in enumerate(halves):
            on[h] = {}
            for step, its in by_step.items():
                by_id = {it["id"]: it for it in its}
                picked = [by_id[i] for i in half]
                on[h][step] = float(statistic(picked, np.arange(len(picked))[None])[0])
        finite = {k: v for k, v in on[0].items() if math.isfinite(v)}
        if not finite:
            continue
        best = _best_step(finite, lower_is_better)
        scores[s], selected[s] = on[1][best], best
    value = float(np.mean(list(scores.values()))) if scores else float("nan")
    return MeanMax(value, scores, selected)


def improvement(method: float, baseline: float, lower_is_better: bool = False) -> float:
    """The signed gain: m - b, or b - m when lower is better (perplexity)."""
    return baseline - method if lower_is_better else method - baseline


def relative_improvement(method: float, baseline: float, lower_is_better: bool = False) -> float:
    """improvement / b; NaN where the baseline is not positive (a relative change of a signed
    score, e.g. a correlation of -0.05, is not defined)."""
    if not (math.isfinite(baseline) and baseline > 0 and math.isfinite(method)):
        return float("nan")
    return improvement(method, baseline, lower_is_better) / baseline


def relative_defined(metric: str, task: str = "") -> bool:
    """Whether a task's relative improvement is well defined (a positive ratio-scale metric)."""
    return metric in RATIO_METRICS


def mu_delta_rel(relative: dict, exclude: Sequence[str] = tuple(LOWER_IS_BETTER)) -> float:
    """Mean relative improvement over the tasks not in `exclude` where it is finite."""
    vals = [v for t, v in relative.items() if t not in exclude and math.isfinite(v)]
    return float(np.mean(vals)) if vals else float("nan")


# --- the bootstrap --------------------------------------------------------------------------


@dataclass(frozen=True)
class BootstrapScore:
    value: float  # the statistic on all shared items, averaged over the side's seeds
    samples: np.ndarray = field(repr=False)  # (B,) resampled values
    seeds: tuple  # the seed keys used
    n_items: int
    per_seed: tuple = ()  # the statistic on all shared items, one value per seed (in `seeds` order)

    def ci(self, level: float = 0.95) -> tuple[float, float]:
        return percentile_ci(self.samples, level)


def percentile_ci(samples: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    s = samples[np.isfinite(samples)]
    if len(s) == 0:
        return (float("nan"), float("nan"))
    a = 100 * (1 - level) / 2
    lo, hi = np.percentile(s, [a, 100 - a])
    return (float(lo), float(hi))


def _as_seeds(side) -> dict:
    """{seed: items}; a list of per-seed item lists is keyed by position."""
    side = dict(enumerate(side)) if isinstance(side, (list, tuple)) else dict(side)
    return {k: v for k, v in side.items() if v}


CHUNK_ELEMENTS = 4_000_000  # item indices drawn and scored at a time (memory, not results)


def item_draws(strata: Sequence, B: int, seed: int):
    """Yields blocks (b, n) of item indices, B rows in all, resampled with replacement within
    each stratum (its size kept). The draws are a function of (seed, strata, B) only."""
    groups: dict = {}
    for i, s in enumerate(strata):
        groups.setdefault(s, []).append(i)
    arrays = [np.array(g) for g in groups.values()]
    rows = max(1, CHUNK_ELEMENTS // max(len(strata), 1))
    for c, start in enumerate(range(0, B, rows)):
        rng = np.random.default_rng([seed, 1, c])
        b = min(rows, B - start)
        cols = [g[rng.integers(0, len(g), (b, len(g)))] for g in arrays]
        yield np.concatenate(cols, axis=1) if cols else np.zeros((b, 0), dtype=np.int64)


def seed_draws(n_seeds: int, B: int, seed: int) -> np.ndarray:
    """(B, n_seeds) positions into a sorted seed list, drawn with replacement."""
    return np.random.default_rng([seed, 0, n_seeds]).integers(0, n_seeds, (B, n_seeds))


def seed_weights(n_seeds: int, B: int, seed: int) -> np.ndarray:
    """(B, n_seeds) weights, each row summing to 1, for the `seeds` scheme: for any per-seed
    values v, `weights @ v` is distributed as mean(v) + t_(S-1) x sd(v) / sqrt(S), the
    one-sample t distribution of a mean over S seeds. Row b is 1/S + r_b (z_b - mean z_b) /
    sqrt(S (S - 1)) with z_b standard normal and r_b = sqrt(nu / chi2_nu), nu = S - 1 (a normal
    over an independent chi / sqrt(nu) is a t). A function of (seed, S, B) only, so sides and
    tasks with the same number of seeds share it: their differences are paired by seed."""
    S = n_seeds
    if S < 2:
        raise ValueError("seed weights need at least two seeds")
    rng = np.random.default_rng([seed, 2, S])
    z = rng.standard_normal((B, S))
    z -= z.mean(axis=1, keepdims=True)
    r = np.sqrt((S - 1) / rng.chisquare(S - 1, B))
    return 1 / S + r[:, None] * z / math.sqrt(S * (S - 1))


def bootstrap_scores(
    sides: Mapping[str, object],
    statistic: Callable,
    B: int = 1000,
    seed: int = 0,
    resample: str = "seeds",
    strata: Sequence | None = None,
) -> dict[str, BootstrapScore]:
    """Resampled task scores of several methods, paired by item (and by seed where the seed
    numbers agree). sides: {name: {seed: [item dicts]}} (or a list of per-seed lists).
    Methods without items are left out of the answer; raises NoSharedItems (a ValueError)
    if the methods share no items."""
    if resample not in RESAMPLING:
        raise ValueError(f"resample must be one of {', '.join(RESAMPLING)}, got {resample!r}")
    sides = {k: s for k, s in ((k, _as_seeds(v)) for k, v in sides.items()) if s}
    if not sides:
        return {}
    ids = set.intersection(*({it["id"] for it in v} for s in sides.values() for v in s.values()))
    if not ids:
        raise NoSharedItems("the methods share no items")
    first = next(iter(next(iter(sides.values())).values()))
    order = [it["id"] for it in first if it["id"] in ids]  # the first side's order
    if strata is None:
        by_id = {it["id"]: it for it in first}
        strata = [by_id[i].get("subtask", "") for i in order]
    full = np.arange(len(order))[None]
    aligned = {}
    for name, per_seed in sides.items():
        keys = sorted(per_seed, key=lambda k: (str(type(k)), k))
        by_ids = [{it["id"]: it for it in per_seed[k]} for k in keys]
        aligned[name] = (keys, [[by_id[i] for i in order] for by_id in by_ids])

    def by_seeds(keys) -> bool:  # the seeds scheme: per-seed scores, no item draws
        return resample == "seeds" and len(keys) > 1

    chunks: dict = {name: [[] for _ in keys] for name, (keys, _) in aligned.items()}
    if not all(by_seeds(keys) for keys, _ in aligned.values()):
        for idx in item_draws(strata, B, seed):
            for name, (keys, per_seed_items) in aligned.items():
                for s, items in enumerate(per_seed_items):
                    if not by_seeds(keys):
                        chunks[name][s].append(np.asarray(statistic(items, idx), dtype=float))
    out = {}
    for name, (keys, per_seed_items) in aligned.items():
        values = [float(statistic(items, full)[0]) for items in per_seed_items]
        if by_seeds(keys):
            res = seed_weights(len(keys), B, seed) @ np.array(values)
        else:
            S = np.stack([np.concatenate(c) for c in chunks[name]])  # (seeds, B)
            if resample == "hierarchical" and len(keys) > 1:
                J = seed_draws(len(keys), B, seed)  # same number of seeds -> same draws: paired
                res = S[J, np.arange(B)[:, None]].mean(1)
            else:
                res = S.mean(0)
        out[name] = BootstrapScore(
            float(np.mean(values)), res, tuple(keys), len(order), tuple(values)
        )
    return out


@dataclass(frozen=True)
class Comparison:
    method: float  # the statistic on all shared items
    baseline: float
    diff: float  # method - baseline
    ci: tuple[float, float]  # 95% percentile interval of the bootstrap differences
    p: float  # two-sided: 2 * (min(#d < 0, #d > 0) + #(d = 0) / 2 + 1) / (B + 1), <= 1
    n_items: int
    ci99: tuple[float, float] = (float("nan"), float("nan"))

    @property
    def mark(self) -> str:
        return significance_mark(self.ci, self.ci99)


def seed_differences(method: BootstrapScore, baseline: BootstrapScore) -> np.ndarray:
    """Per-seed differences method - baseline, paired by position in the sorted seed lists
    (as the `seeds` scheme pairs them); empty unless both sides have the same >= 2 seeds."""
    if len(method.per_seed) < 2 or len(method.per_seed) != len(baseline.per_seed):
        return np.array([])
    return np.array(method.per_seed) - np.array(baseline.per_seed)


def seeds_needed(method: BootstrapScore, baseline: BootstrapScore, power: float = 0.8):
    """The seeds a paired t would need to find the observed difference with `power`, from
    the measured seed-to-seed spread of the differences (None: not estimable, or > 1000)."""
    from .power import seeds_for_power

    d = seed_differences(method, baseline)
    d = d[np.isfinite(d)]
    if len(d) < 2 or not np.std(d) > 0:
        return None
    return seeds_for_power(float(d.mean()), float(d.std(ddof=1)), power)


def two_sided_p(d: np.ndarray) -> float:
    """Two-sided bootstrap p of the differences d: p < a exactly when the (1 - a) percentile
    interval (about) excludes 0."""
    d = d[np.isfinite(d)]
    if len(d) == 0:
        return float("nan")
    ties = 0.5 * int((d == 0).sum())  # a resample with no difference counts half to each side
    tail = min(int((d < 0).sum()), int((d > 0).sum())) + ties
    return min(1.0, 2 * (tail + 1) / (len(d) + 1))


def compare(method: BootstrapScore, baseline: BootstrapScore) -> Comparison:
    """Method minus baseline; both from one `bootstrap_scores` call (paired resamples)."""
    d = method.samples - baseline.samples
    return Comparison(
        method.value,
        baseline.value,
        method.value - baseline.value,
        percentile_ci(d, 0.95),
        two_sided_p(d),
        method.n_items,
        percentile_ci(d, 0.99),
    )


def paired_bootstrap(
    method,
    baseline,
    statistic: Callable,
    B: int = 1000,
    seed: int = 0,
    strata: Sequence | None = None,
    resample: str = "items",
) -> Comparison:
    """Paired bootstrap of method - baseline: {seed: items} (or per-seed lists) per side.

    With `strata` (one label per shared item, default the subtask), items are resampled
    within each stratum so that every subtask keeps its size. `resample="hierarchical"`
    resamples the seeds as well."""
    boot = bootstrap_scores(
        {"method": method, "baseline": baseline}, statistic, B, seed, resample, strata
    )
    if len(boot) < 2:
        raise ValueError("a side has no items")
    return compare(boot["method"], boot["baseline"])


def excludes_zero(ci) -> bool:
    return ci is not None and all(math.isfinite(x) for x in ci) and (ci[0] > 0 or ci[1] < 0)


def significance_mark(ci, ci99=None) -> str:
    """'**' where the 99% interval excludes 0, '*' where the 95% one does, else '': a star
    never stands beside an interval that includes 0."""
    if not excludes_zero(ci):
        return ""
    return "**" if ci99 is not None and excludes_zero(ci99) else "*"


def effect_direction(diff, ci, lower_is_better: bool = False) -> str | None:
    """'gain', 'loss' or None (not significant): the sign of the improvement where the 95%
    interval of the difference excludes 0. Lower perplexity is a gain."""
    if diff is None or not excludes_zero(ci):
        return None
    better = diff < 0 if lower_is_better else diff > 0
    return "gain" if better else "loss"


def mu_delta_rel_samples(
    method: Mapping[str, np.ndarray],
    baseline: Mapping[str, np.ndarray],
    lower: Mapping[str, bool],
    baseline_value: Mapping[str, float] | None = None,
) -> np.ndarray:
    """Resampled mu-Delta-REL: per resample the mean over the given tasks of the relative
    improvement; tasks: those in both and in `lower` ({task: lower_is_better}).

    With `baseline_value` ({task: the baseline's score}) each resampled improvement is divided
    by that fixed score, not by the resampled baseline: mu-Delta-REL is then linear in the
    resampled scores, so under the `seeds` scheme its interval is exactly the paired t over
    seeds of each seed's mean relative difference (the `seed_weights` are not a resample of
    the scores: some are negative, and a weighted baseline can come out near 0, which blows a
    ratio up). Its centre is the point value, (m - b) / b averaged over the tasks."""
    rels = []
    for t, low in lower.items():
        if t in method and t in baseline:
            b = baseline[t]
            den = b if baseline_value is None else np.full_like(b, baseline_value[t])
            with np.errstate(divide="ignore", invalid="ignore"):
                g = (b - method[t]) if low else (method[t] - b)
                rels.append(np.where(den > 0, g / den, np.nan))
    if not rels:
        return np.array([])
    with np.errstate(all="ignore"):
        return np.nanmean(np.stack(rels), axis=0)


def samples_comparison(a: np.ndarray, b: np.ndarray, diff: float) -> dict:
    """{diff, ci, ci99, p} of two paired arrays of resampled values (a - b)."""
    d = a - b
    return {
        "diff": diff,
        "ci": list(percentile_ci(d, 0.95)),
        "ci99": list(percentile_ci(d, 0.99)),
        "p": two_sided_p(d),
    }


# --- corpus diagnostics ----------------------------------------------------------------------


def ngrams(words: list[str], n: int):
    return [tuple(words[i : i + n]) for i in range(len(words) - n + 1)]


def distinct_n(docs: list[list[str]], n: int) -> float:
    grams = [g for d in docs for g in ngrams(d, n)]
    return len(set(grams)) / max(len(grams), 1)


def repetition_rate(docs: list[list[str]], n: int = 4) -> float:
    """Share of n-grams that repeat an earlier n-gram of the same document."""
    rep = total = 0
    for d in docs:
        seen = set()
        for g in ngrams(d, n):
            total += 1
            rep += g in seen
            seen.add(g)
    return rep / max(total, 1)


def bleu(hyp: list[str], refs: list[list[str]], max_n: int = 4) -> float:
    """Sentence BLEU-4 (uniform weights, +1 smoothing) of one text against references."""
    if not hyp:
        return 0.0
    logp = 0.0
    for n in range(1, max_n + 1):
        h = Counter(ngrams(hyp, n))
        best: Counter = Counter()
        for r in refs:
            for g, c in Counter(ngrams(r, n)).items():
                best[g] = max(best[g], c)
        match = sum(min(c, best[g]) for g, c in h.items())
        logp += math.log((match + 1) / (sum(h.values()) + 1)) / max_n
    ref_len = min((abs(len(r) - len(hyp)), len(r)) for r in refs)[1] if refs else 0
    bp = 1.0 if len(hyp) > ref_len else math.exp(1 - ref_len / max(len(hyp), 1))
    return bp * math.exp(logp)


def self_bleu(docs: list[list[str]], k: int = 30) -> float:
    """Mean BLEU of each of the first k documents against the other k - 1."""
    docs = docs[:k]
    if len(docs) < 2:
        return float("nan")
    return float(np.mean([bleu(d, docs[:i] + docs[i + 1 :]) for i, d in enumerate(docs)]))


def overlap_8gram(docs: list[list[str]], train_grams: set) -> float:
    grams = [g for d in docs for g in ngrams(d, 8)]
    return sum(g in train_grams for g in grams) / max(len(grams), 1)


def corpus_diagnostics(
    texts: list[str], train_grams: set | None, ended_with_eos: list[bool] | None = None
) -> dict:
    """Length, diversity and training-text overlap of a sample of documents. Compare corpora
    on samples of one size (`diagnostic_rows`): distinct-n and self-BLEU depend on it. With
    `train_grams` None (the real train split itself) the overlap is not scored."""
    docs = [t.split() for t in texts]
    lengths = [len(d) for d in docs]
    return {
        "documents": len(docs),
        "mean_words": float(np.mean(lengths)) if lengths else 0.0,
        "median_words": float(np.median(lengths)) if lengths else 0.0,
        "eos_share": float(np.mean(ended_with_eos)) if ended_with_eos else None,
        "distinct_1": distinct_n(docs, 1),
        "distinct_2": distinct_n(docs, 2),
        "distinct_3": distinct_n(docs, 3),
        "repetition_4gram": repetition_rate(docs),
        "self_bleu": self_bleu(docs, k=len(docs)),
        "overlap_8gram_train": None if train_grams is None else overlap_8gram(docs, train_grams),
    }


def diagnostic_rows(rows: Sequence[dict], n: int, seed: int = 0) -> list[int]:
    """Indices of the rows a synthetic corpus is diagnosed on: one completion per prefix (the
    lowest completion id, so completions of one prefix never inflate self-BLEU), `n` prefixes
    drawn at random (all if fewer), in prefix order."""
    first: dict = {}
    for i, r in enumerate(rows):
        p = r["prefix_id"]
        if p not in first or r["completion_id"] < rows[first[p]]["completion_id"]:
            first[p] = i
    prefixes = sorted(first)
    rng = np.random.default_rng(seed)
    chosen = (
        sorted(rng.permutation(len(prefixes))[:n]) if len(prefixes) > n else range(len(prefixes))
    )
    return [first[prefixes[k]] for k in chosen]


def sample_rows(sources: Sequence, prefixes: Sequence, n: int, seed: int = 0) -> list[int]:
    """Indices of n rows drawn at random across sources and prefixes: the sources in turn (in
    a random order), within each a random row, rows of prefixes not yet shown first."""
    rng = np.random.default_rng(seed)
    by_source: dict = {}
    for i in rng.permutation(len(sources)):
        by_source.setdefault(sources[i], []).append(int(i))
    queues = []
    for k in sorted(by_source, key=str):
        seen: Counter = Counter()
        rank = []
        for i in by_source[k]:
            rank.append(seen[prefixes[i]])
            seen[prefixes[i]] += 1
        order = np.argsort(rank, kind="stable")
        queues.append([by_source[k][j] for j in order])
    queues = [queues[i] for i in rng.permutation(len(queues))]
    picked: list[int] = []
    for r in range(max((len(q) for q in queues), default=0)):
        for q in queues:
            if r < len(q) and len(picked) < n:
                picked.append(q[r])
    return picked

"""Task scores as statistics of item rows, for the bootstrap, and the reading task's
regressions (shared by the reading task's scoring and its resamples). Pure functions.

A statistic is `statistic(items, idx) -> scores`: one seed's items (dicts) and an int array
idx (B, n) of item indices, giving the task score of each resample, shape (B,).

    accuracy_statistic(items, idx)        # macro mean over subtasks of mean correctness
    reading_scores(items)                 # {"eye_tracking", "self_paced_reading"}: R² gains

Reading, as the BabyLM 2025 pipeline scores it (evaluation_pipeline/reading/run.py; the
formulas and their sources: `evaluate.reading`): for a measure y, two OLS fits with an
intercept, each on the rows where its own columns are present, baseline y ~ x1 + ... + xk +
every pairwise product and model = the same + pred; gain = (R2_model - R2_baseline) /
(1 - R2_baseline) x 100. Eye tracking: the mean gain over the four RT measures with x =
Subtlex_log10, length, context_length; self-paced reading: x = those + prev_length,
prev_pred (spill-over).
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np
from scipy.stats import rankdata

BASELINE = ("Subtlex_log10", "length", "context_length")
SPILLOVER = ("prev_length", "prev_pred")
EYE_TRACKING = ("RTfirstfix", "RTfirstpass", "RTgopast", "RTrightbound")
SELF_PACED = "self_paced_reading_time"


def as_float(x) -> float:
    """float(x); NaN where x is missing or not a number."""
    try:
        return float(x)
    except (TypeError, ValueError):
        return math.nan


def r2(X: np.ndarray, y: np.ndarray) -> float:
    """R^2 of the OLS fit of y on the columns of X plus an intercept (statsmodels' rsquared)."""
    X = np.column_stack([np.ones(len(y)), X])
    if len(y) <= X.shape[1]:
        return math.nan
    beta, *_ = np.linalg.lstsq(X, y, rcond=None)
    resid = y - X @ beta
    tss = float(((y - y.mean()) ** 2).sum())
    return 1.0 - float(resid @ resid) / tss if tss > 0 else math.nan


def with_interactions(X: np.ndarray) -> np.ndarray:
    """The main effects, then every pairwise product (the formula's xi:xj terms)."""
    k = X.shape[1]
    pairs = [X[:, i] * X[:, j] for i in range(k) for j in range(i + 1, k)]
    return np.column_stack([X, *pairs]) if pairs else X


def gain(items: list[dict], measure: str, predictors: tuple[str, ...]) -> float:
    """(R2_model - R2_baseline) / (1 - R2_baseline) x 100 for one measure."""

    def col(name):
        return np.array([as_float(it.get(name)) for it in items], dtype=float)

    y, X, pred = col(measure), np.column_stack([col(c) for c in predictors]), col("pred")
    base_ok = ~np.isnan(y) & ~np.isnan(X).any(1)
    model_ok = base_ok & ~np.isnan(pred)
    r2_base = r2(with_interactions(X[base_ok]), y[base_ok])
    full = np.column_stack([with_interactions(X[model_ok]), pred[model_ok]])
    r2_model = r2(full, y[model_ok])
    if not r2_base < 1:  # a perfect (or undefined) baseline leaves nothing to explain
        return math.nan
    return (r2_model - r2_base) / (1 - r2_base) * 100


def measure_gains(items: list[dict]) -> dict[str, float]:
    """The gain of every measure the scores use: the RT measures without spill-over,
    self-paced reading with it."""
    out = {m: gain(items, m, BASELINE) for m in EYE_TRACKING}
    out[SELF_PACED] = gain(items, SELF_PACED, BASELINE + SPILLOVER)
    return out


def reading_scores(items: list[dict]) -> dict[str, float]:
    """{"eye_tracking", "self_paced_reading"} from item rows (each with pred, prev_pred and
    the predictors and measures; None or NaN where missing). Refits on whatever rows it is
    given, so a bootstrap can pass a resample."""
    g = measure_gains(items)
    return {
        "eye_tracking": float(np.mean([g[m] for m in EYE_TRACKING])),
        "self_paced_reading": float(g[SELF_PACED]),
    }


# --- statistics on items --------------------------------------------------------------------


def _codes(labels) -> tuple[np.ndarray, int]:
    index: dict = {}
    codes = np.array([index.setdefault(x, len(index)) for x in labels], dtype=np.int64)
    return codes, len(index)


def accuracy_statistic(items: list[dict], idx: np.ndarray) -> np.ndarray:
    """Macro mean over subtasks of mean correctness, per resample. idx (B, n) -> (B,)."""
    idx = np.atleast_2d(idx)
    x = np.array([float(it["correct"]) for it in items])
    sub, G = _codes(it["subtask"] for it in items)
    B = idx.shape[0]
    key = (np.arange(B)[:, None] * G + sub[idx]).ravel()
    sums = np.bincount(key, weights=x[idx].ravel(), minlength=B * G).reshape(B, G)
    counts = np.bincount(key, minlength=B * G).reshape(B, G)
    present = counts > 0
    means = np.where(present, sums / np.maximum(counts, 1), 0.0)
    return means.sum(1) / np.maximum(present.sum(1), 1)


def perplexity_statistic(items: list[dict], idx: np.ndarray) -> np.ndarray:
    """exp(total NLL / total tokens) per resample."""
    idx = np.atleast_2d(idx)
    nll = np.array([float(it["nll"]) for it in items])
    tokens = np.array([float(it["tokens"]) for it in items])
    return np.exp(nll[idx].sum(1) / np.maximum(tokens[idx].sum(1), 1))


def spearman_statistic(items: list[dict], idx: np.ndarray) -> np.ndarray:
    """Spearman's rho between p_first and the human ratio per resample (0 where one side is
    constant). Ranks with ties averaged, as scipy.stats.spearmanr."""
    idx = np.atleast_2d(idx)
    p = np.array([float(it["p_first"]) for it in items])[idx]
    r = np.array([float(it["ratio"]) for it in items])[idx]
    rp, rr = rankdata(p, axis=1), rankdata(r, axis=1)
    rp -= rp.mean(1, keepdims=True)
    rr -= rr.mean(1, keepdims=True)
    den = np.sqrt((rp * rp).sum(1) * (rr * rr).sum(1))
    num = (rp * rr).sum(1)
    return np.where(den > 0, num / np.where(den > 0, den, 1.0), 0.0)


def reading_statistic(items: list[dict], idx: np.ndarray) -> np.ndarray:
    """The reading score refitted on each resample of words: the mean of
    `reading_scores` (eye tracking, self-paced reading)."""
    idx = np.atleast_2d(idx)
    out = np.empty(idx.shape[0])
    for b, row in enumerate(idx):
        vals = [v for v in reading_scores([items[i] for i in row]).values() if math.isfinite(v)]
        out[b] = float(np.mean(vals)) if vals else float("nan")
    return out


def reading_part_statistic(part: str) -> Callable:
    """One of `reading_scores` (`part`), refitted on each resample of words."""

    def statistic(items: list[dict], idx: np.ndarray) -> np.ndarray:
        idx = np.atleast_2d(idx)
        return np.array([reading_scores([items[i] for i in row])[part] for row in idx])

    return statistic


def first_form_statistic(items: list[dict], idx: np.ndarray) -> np.ndarray:
    """WUG as the paper's code scored it: the share of items whose first form scores at least
    as high as the second (P(first) >= 0.5), per resample."""
    first = np.array([it["p_first"] >= 0.5 for it in items], dtype=float)
    return first[np.atleast_2d(idx)].mean(axis=1)

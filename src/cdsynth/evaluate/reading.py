"""Reading: does the model's surprisal explain reading times and ERPs beyond word frequency
and length?

Surprisal of each word = -log2 p(" " + word | item), where `item` is the left context. For
every measure column present (eye-tracking, self-paced reading, ERP components), two OLS fits
on the rows with a value: baseline predictors (log frequency, length, context length) and
baseline + surprisal; the R^2 gain is the difference. Task score = mean gain over measures
(in R^2 points x 100).
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np

from ..errors import UserError
from .result import TaskResult

BASELINE = ("Subtlex_log10", "length", "context_length")
MEASURES = (
    "RTfirstfix",
    "RTfirstpass",
    "RTgopast",
    "RTrightbound",
    "self_paced_reading_time",
    "ELAN",
    "LAN",
    "N400",
    "P600",
    "EPNP",
    "PNP",
)


def load(folder: Path) -> list[dict]:
    files = sorted(folder.glob("*.csv")) if folder.is_dir() else []
    if not files:
        raise UserError(f"no .csv file in task folder {folder}")
    rows = []
    for f in files:
        with open(f, newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            missing = [c for c in ("item", "word", *BASELINE) if c not in (reader.fieldnames or [])]
            if missing:
                raise UserError(f"{f}: missing column '{missing[0]}'")
            for n, row in enumerate(reader, 2):
                row["_where"] = f"{f}:{n}"
                rows.append(row)
    return rows


def _float(x) -> float:
    try:
        return float(x)
    except (TypeError, ValueError):
        return math.nan


def r2(X: np.ndarray, y: np.ndarray) -> float:
    X = np.column_stack([np.ones(len(y)), X])
    beta, *_ = np.linalg.lstsq(X, y, rcond=None)
    resid = y - X @ beta
    return 1.0 - float(resid @ resid) / float(((y - y.mean()) ** 2).sum())


def score(scorer, rows: list[dict]) -> TaskResult:
    lp = scorer.continuation_logprobs([(r["item"], " " + r["word"]) for r in rows])
    surprisal = -lp / math.log(2)
    base = np.array([[_float(r[c]) for c in BASELINE] for r in rows])
    gains = {}
    for m in MEASURES:
        if m not in rows[0]:
            continue
        y = np.array([_float(r[m]) for r in rows])
        ok = np.isfinite(y) & np.isfinite(base).all(1)
        if ok.sum() < len(BASELINE) + 3:
            continue
        gains[m] = 100 * (
            r2(np.column_stack([base[ok], surprisal[ok]]), y[ok]) - r2(base[ok], y[ok])
        )
    items = [
        {"id": str(i), "subtask": "words", "surprisal": float(s)} for i, s in enumerate(surprisal)
    ]
    score = float(np.mean(list(gains.values()))) if gains else float("nan")
    return TaskResult("reading", "r2_gain", score, gains, items)

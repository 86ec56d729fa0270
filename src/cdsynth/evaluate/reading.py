"""Reading: does the model's surprisal explain human reading times beyond word frequency and
length? Scored as the BabyLM 2025 pipeline does (babylm/evaluation-pipeline-2025,
evaluation_pipeline/reading/run.py; the same formulas in calculate_results_from_pred.py).

Per word (one CSV row): pred = -ln p(" " + word | item), and for the spill-over regressor
prev_pred = -ln p(" " + prev_word | prev_item), missing where prev_item is (the pipeline:
`isinstance(row["prev_item"], str)` after pandas read the CSV, so a cell pandas reads as NaN,
such as "None", counts as missing; an item pandas reads as NaN becomes the text "None").

For a measure y, two OLS fits with an intercept, each on the rows where its own columns are
present (pandas `dropna` on exactly those columns):
  baseline  y ~ x1 + ... + xk + every pairwise product xi:xj,
  model     the same + pred,
and gain = (R2_model - R2_baseline) / (1 - R2_baseline) x 100.
- eye tracking: x = Subtlex_log10, length, context_length; the score is the mean gain over
  RTfirstfix, RTfirstpass, RTgopast, RTrightbound;
- self-paced reading: x = those + prev_length, prev_pred (spill-over); the gain for
  self_paced_reading_time.
The task score is the mean of the two (our choice; the pipeline reports them separately).
R^2 does not depend on the unit of pred/prev_pred (nats here, as in the pipeline). The fits
(`reading_scores`) live in `cdsynth.item_statistics`, which the bootstrap refits per resample.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np

from ..errors import UserError
from ..item_statistics import (  # noqa: F401
    BASELINE,
    EYE_TRACKING,
    SELF_PACED,
    SPILLOVER,
    as_float,
    measure_gains,
    reading_scores,
)
from .result import TaskResult

NUMERIC = (*BASELINE, "prev_length", *EYE_TRACKING, SELF_PACED)
COLUMNS = ("item", "word", "prev_item", "prev_word", *NUMERIC)

# Cells pandas.read_csv reads as NaN by default (pandas' STR_NA_VALUES).
PANDAS_NA = {
    "", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN",
    "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null",
}  # fmt: skip


def load(folder: Path) -> list[dict]:
    files = sorted(folder.glob("*.csv")) if folder.is_dir() else []
    if not files:
        raise UserError(f"no .csv file in task folder {folder}")
    rows = []
    for f in files:
        with open(f, newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
            if missing:
                raise UserError(f"{f}: missing column '{missing[0]}'")
            for n, row in enumerate(reader, 2):
                row["_where"] = f"{f}:{n}"
                rows.append(row)
    return rows


def _context(row: dict) -> str:
    return "None" if row["item"] in PANDAS_NA else row["item"]  # df["item"].fillna("None")


def _value(x: float):
    return None if math.isnan(x) else x


def score(scorer, rows: list[dict]) -> TaskResult:
    prev = [r["prev_item"] not in PANDAS_NA for r in rows]
    requests = [(_context(r), " " + r["word"]) for r in rows]
    requests += [
        (r["prev_item"], " " + r["prev_word"]) for r, p in zip(rows, prev, strict=True) if p
    ]
    unique = sorted(set(requests))
    lp = dict(zip(unique, scorer.continuation_logprobs(unique), strict=True))
    items = []
    for i, (r, p) in enumerate(zip(rows, prev, strict=True)):
        item = {
            "id": str(i),
            "subtask": "words",
            "pred": -float(lp[(_context(r), " " + r["word"])]),
            "prev_pred": -float(lp[(r["prev_item"], " " + r["prev_word"])]) if p else None,
        }
        item.update({c: _value(as_float(r[c])) for c in NUMERIC})
        items.append(item)
    scores = reading_scores(items)
    return TaskResult(
        "reading",
        "reading_gain",
        float(np.mean(list(scores.values()))),
        scores,
        items,
        extra={"measures": measure_gains(items)},
    )
